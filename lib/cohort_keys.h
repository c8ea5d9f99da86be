/* cohort_keys.h: CURVE key files, shared by the daemon (daemon/auth.c),
 * cohortctl and the agents. All key handling is libzmq's (zmq_curve_keypair,
 * zmq_curve_public, zmq_z85_encode/decode); this module only reads and
 * writes the files.
 *
 * Files written by `cohortctl keygen NAME` (Z85 text, 40 characters a key):
 *
 *   NAME.pub  mode 0644 (less if the umask says so)
 *     # cohortd CURVE public key (Z85)
 *     public-key = <40 characters>
 *
 *   NAME.key  mode 0600, created with O_EXCL
 *     # cohortd CURVE secret key (Z85): keep it private
 *     public-key = <40 characters>
 *     secret-key = <40 characters>
 *
 * Format read by cohort_keys_load: lines "name = value" with name
 * public-key or secret-key (each at most once); blank lines and lines
 * whose first non-blank character is '#' are ignored; spaces and tabs
 * around names and values are ignored; anything else is an error naming
 * PATH:LINE. A file with a secret key must not be readable or writable by
 * group or others (like ssh's private keys), and its public key, if given,
 * must be the one the secret key makes.
 *
 * Client side (cohort_curve_*): the keys a client of the daemon (agent,
 * subscriber, cohortctl) puts on its sockets, chosen from command-line
 * arguments with the environment as fallback:
 *   COHORT_KEY         path of the client's own .key file (public + secret)
 *   COHORT_SERVER_KEY  path of the daemon's public key (a .pub or .key file;
 *                      only the public key is read)
 *   COHORT_PLAINTEXT   "1": no CURVE (a development daemon run with
 *                      --plaintext); "0" or empty: unset
 *
 * Contract: no function here logs; secrets are wiped from stack buffers
 * (explicit_bzero) before returning. */
#ifndef COHORT_KEYS_H
#define COHORT_KEYS_H
#include <stddef.h>
#include <stdint.h>

#define COHORT_KEY_Z85_LEN 40 /* Z85 text of a 32-byte CURVE key */
#define COHORT_KEY_FP_LEN 8   /* fingerprint: the first 8 Z85 characters of a public key */

/* Decodes a CURVE key in Z85 (exactly 40 characters of the Z85 alphabet,
 * len = its length) into raw. Returns 0, or -EINVAL if it is not one.
 * Round-trips through zmq_z85_decode/encode, so only canonical text passes. */
int cohort_keys_decode(const char *z85, size_t len, uint8_t raw[32]);

/* Writes the fingerprint of a public key given in Z85 (its first
 * COHORT_KEY_FP_LEN characters) into out, NUL-ended. Public keys are not
 * secret, and a fingerprint is greppable in the access file. */
void cohort_keys_fingerprint(const char *z85, char out[COHORT_KEY_FP_LEN + 1]);

/* Makes a new keypair and writes NAME.key (mode 0600) and NAME.pub. Refuses
 * (-EEXIST) if either exists; never overwrites; on failure leaves neither
 * file behind. If pub_out is not NULL, the public key (Z85, NUL-ended) is
 * copied there. Returns 0, or a negative errno with a message in err. */
int cohort_keys_generate(const char *name, char pub_out[COHORT_KEY_Z85_LEN + 1], char *err,
                         size_t errlen);

/* Reads a key file (format above) into pub and, if sec is not NULL, sec
 * (Z85, NUL-ended). With sec NULL only a public key is needed (a .pub or a
 * .key file). With sec given the file must hold a secret key, have mode
 * 0600 or stricter, and pub is derived from the secret key (checked
 * against a public-key line if present). Returns 0, or a negative errno
 * with "PATH[:LINE]: why" in err; on failure pub and sec are zeroed. */
int cohort_keys_load(const char *path, char pub[COHORT_KEY_Z85_LEN + 1],
                     char sec[COHORT_KEY_Z85_LEN + 1], char *err, size_t errlen);

/* A client's CURVE settings: on = 0 means plain text (no keys held). */
typedef struct {
    int on;                                  /* 1: CURVE with the keys below; 0: plain text */
    char server_pub[COHORT_KEY_Z85_LEN + 1]; /* the daemon's public key (Z85) */
    char pub[COHORT_KEY_Z85_LEN + 1];        /* the client's public key (Z85) */
    char sec[COHORT_KEY_Z85_LEN + 1];        /* the client's secret key (Z85): wipe with clear */
} cohort_curve_t;

/* What tools print (once, on stderr, after their name) when running plain. */
#define COHORT_PLAINTEXT_WARNING                                                                   \
    "warning: plain text: no encryption or authentication (development only)"

/* Chooses a client's keys. Precedence:
 * 1. plaintext != 0 (the --plaintext flag): plain text; giving key_path or
 *    server_key_path as well is an error (-EINVAL).
 * 2. Neither key_path nor server_key_path given (NULL or "") and
 *    COHORT_PLAINTEXT=1: plain text.
 * 3. Otherwise CURVE: the client key is key_path, else $COHORT_KEY; the
 *    server key is server_key_path, else $COHORT_SERVER_KEY. Both are
 *    required (-ENOKEY with "no client key: give --key FILE (or
 *    COHORT_KEY); --plaintext only for a development daemon", or the same
 *    for the server key). The client key file is read with
 *    cohort_keys_load's secret-key rules (mode 0600 or stricter, public key
 *    matching); the server key file for its public key only.
 * COHORT_PLAINTEXT other than "", "0" or "1" is an error (-EINVAL).
 * Returns 0 with *out filled (out->on = 0 for plain text: the caller warns
 * with COHORT_PLAINTEXT_WARNING), or a negative errno with a message in err
 * and *out zeroed. Wipe *out with cohort_curve_clear when done. */
int cohort_curve_from(cohort_curve_t *out, const char *key_path, const char *server_key_path,
                      int plaintext, char *err, size_t errlen);

/* Sets ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY and ZMQ_CURVE_SECRETKEY
 * (Z85) on zsock, which must not be connected yet. A no-op returning 0 when
 * c is NULL or c->on is 0. Returns 0, or a negative errno with a message in
 * err (e.g. libzmq built without CURVE). */
int cohort_curve_apply(void *zsock, const cohort_curve_t *c, char *err, size_t errlen);

/* Wipes c (secret included; explicit_bzero); c->on becomes 0. NULL is fine. */
void cohort_curve_clear(cohort_curve_t *c);

#endif
