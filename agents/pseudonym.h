/* pseudonym.h: an agency's staff numbers turned into participant refs that
 * the daemon can store but not reverse.
 *
 * Contract:
 * - The agency secret is 32 random bytes kept in a key file that never
 *   leaves the agency. The file holds exactly 64 hex digits (either case),
 *   optionally followed by whitespace (a newline); anything else is refused.
 *   The file must be a regular file that neither group nor others may
 *   read, write or execute (mode 0600 or stricter), else it is refused.
 *   pseudonym_keygen makes one (O_EXCL, mode 0600, from libsodium's
 *   randombytes).
 * - Normalisation of a staff number: leading and trailing ASCII whitespace
 *   is removed; what remains must be 1-64 printable ASCII characters
 *   without spaces (0x21-0x7e), and ASCII letters are upper-cased ("wm 1" is
 *   refused; " wm-0042\n" and "WM-0042" are the same person). Leading zeros
 *   are kept: "0042" and "42" are different staff numbers.
 * - The ref: "p1:" followed by the lowercase RFC 4648 base32 (no padding)
 *   of the first 20 bytes of HMAC-SHA256(secret, normalised staff number)
 *   (libsodium crypto_auth_hmacsha256): 35 characters of [a-z2-7:], within
 *   the protocol's participant ref syntax (1-128 of [A-Za-z0-9._:-]). The
 *   same staff number and secret always give the same ref; another secret
 *   gives an unrelated one; without the secret the ref cannot be computed
 *   or reversed (not even by trying every staff number). 160 bits keep
 *   accidental collisions out of reach (about 2^-121 for a million staff
 *   numbers) and are well above the 128-bit security of the truncated
 *   HMAC; "p1" names the scheme so that it can change later.
 * - A pseudonym_t is read-only after pseudonym_new: one may be used from
 *   several threads. Its key lives in sodium_malloc'd memory (guard pages,
 *   locked where the system allows) and is wiped by pseudonym_destroy. */
#ifndef COHORT_PSEUDONYM_H
#define COHORT_PSEUDONYM_H
#include <stddef.h>
#include <stdint.h>

#define PSEUDONYM_KEY_BYTES 32 /* the secret's size */
#define PSEUDONYM_STAFF_MAX 64 /* longest normalised staff number */
#define PSEUDONYM_REF_LEN 35   /* strlen of every ref: "p1:" + 32 */
#define PSEUDONYM_REF_PREFIX "p1:"

typedef struct pseudonym pseudonym_t;

/* Loads the key file at path into a new pseudonym_t (*out). Returns 0, or a
 * negative errno with a one-line message in err: -EPERM for a file group or
 * others may access, -EINVAL for a file that is not 64 hex digits (or not
 * a regular file), another errno when it cannot be read. */
int pseudonym_new(pseudonym_t **out, const char *path, char *err, size_t errlen);

/* A new pseudonym_t for the secret key (PSEUDONYM_KEY_BYTES bytes), for
 * tests and tools. Returns 0, -ENOMEM or -EIO (libsodium unusable). */
int pseudonym_from_key(pseudonym_t **out, const uint8_t *key);

/* Wipes and frees *self and sets it to NULL; idempotent. */
void pseudonym_destroy(pseudonym_t **self);

/* Writes the normalised form of staff (len bytes) into out (outlen bytes,
 * at least PSEUDONYM_STAFF_MAX + 1). Returns its length, or -EINVAL when
 * staff is not a valid staff number (see above), -ENOSPC when out is too
 * small. */
int pseudonym_normalise(const char *staff, size_t len, char *out, size_t outlen);

/* Writes the ref of staff_number (a C string, normalised here) into out
 * (outlen bytes, at least PSEUDONYM_REF_LEN + 1), NUL-terminated. Returns
 * 0, -EINVAL for an invalid staff number, -ENOSPC when out is too small. */
int pseudonym_ref(const pseudonym_t *self, const char *staff_number, char *out, size_t outlen);

/* Returns 1 if s is a ref in the form pseudonym_ref writes ("p1:" and 32
 * characters of [a-z2-7]), else 0. The daemon requires this form by default
 * (daemon/validate.h, docs/protocol.md). */
int pseudonym_is_ref(const char *s);

/* Creates a new key file at path: 32 random bytes as 64 hex digits and a
 * newline, mode 0600, never replacing an existing file (O_EXCL, and no
 * symlink followed); the file and its directory are synced. Returns 0, or a
 * negative errno (-EEXIST: path exists) with a one-line message in err; on
 * failure no partial file is left behind. */
int pseudonym_keygen(const char *path, char *err, size_t errlen);

#endif
