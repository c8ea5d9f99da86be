/* vault.h: crypto-shredding of protected characteristics.
 *
 * The log is append-only, yet a participant may be erased. The daemon
 * therefore never stores a person's protected characteristics (the six
 * monitoring fields of ParticipantRegistered) in clear: at commit time it
 * seals them under a key of that person's own, kept in the store's pkeys
 * column family, and erasure deletes the key. The log entry stays, but
 * what it sealed can no longer be read by anyone.
 *
 * Layouts (all integers big-endian):
 *   pkeys key     agency NUL participant_ref
 *   pkeys value   gen (8) | key (32 random bytes, libsodium)
 *                 gen is the log sequence of the registration that created
 *                 the key: a person erased and registered again is a new
 *                 person with a new key and a new gen.
 *   sealed        version 1 (1) | gen (8) | nonce (24, random) |
 *                 XChaCha20-Poly1305 (IETF) of the packed Characteristics,
 *                 with its 16-byte tag
 *   assoc. data   "cohortd-vault-1" NUL agency NUL ref NUL event_id (16) |
 *                 gen (8): a sealed value moved to another event, agency or
 *                 person does not open.
 *
 * Contracts:
 *  - Atomic with the log: the key a first registration creates, and the
 *    delete an erasure makes, are side writes of the same WriteBatch as the
 *    log entry (store_batch_side), so there is never a sealed entry whose
 *    key was not written, nor a key deleted without its erasure.
 *  - A registration whose key is gone (or was replaced by a later person's)
 *    opens with the six fields unset and `sealed` still set: the person was
 *    erased. A failed tag with the right key is damage, never "erased".
 *  - Entries written before this module (unsealed) read as they are.
 *  - Keys, plaintext characteristics and refs are never logged.
 *  - Threading: vault_t is used by one thread at a time (the commit path);
 *    the other functions are pure or read the store (store_lookup's
 *    threading). */
#ifndef COHORT_VAULT_H
#define COHORT_VAULT_H
#include <stddef.h>
#include <stdint.h>
#include "cohort.pb-c.h"
#include "store.h"

#define VAULT_KEY_BYTES 32
#define VAULT_VERSION 1
#define VAULT_SEALED_OVERHEAD (1 + 8 + 24 + 16) /* sealed bytes beyond the plaintext */
#define VAULT_PURGE_META STORE_PURGE_META       /* meta: "1" while a purge is owed */
#define VAULT_ERASED 1                          /* vault_open_event: key destroyed */

/* A participant's sealing key. */
typedef struct {
    uint64_t gen;                 /* log sequence of the registration that made it */
    uint8_t key[VAULT_KEY_BYTES]; /* the secret */
} vault_key_t;

/* The pkeys key of (agency, ref) into out (cap bytes): agency NUL ref.
 * Returns its length, or -EINVAL if it does not fit or an argument is
 * empty. */
int vault_key_name(uint8_t *out, size_t cap, const char *agency, const char *ref);

/* Seals the characteristics of ev (a ParticipantRegistered with them in
 * clear) under k: *out is a malloc'd packed Event equal to ev but with the
 * six fields unset and `sealed` set, *outlen its length. Returns 0,
 * -EINVAL (not a registration, no id), or -ENOMEM. */
int vault_seal(const vault_key_t *k, const Cohort__V1__Event *ev, uint8_t **out, size_t *outlen);

/* Opens ev's `sealed` with k: sets the six fields and clears `sealed`
 * (length 0). Returns 0; -ESTALE if it was sealed under another gen (that
 * key is gone: erased); -EBADMSG if it does not open (tampered or damaged,
 * or a malformed value); -EINVAL if ev is not a sealed registration. On
 * failure ev is unchanged. */
int vault_unseal(const vault_key_t *k, Cohort__V1__Event *ev);

/* For an event read back from the log: a sealed registration is opened
 * with its key from store (0); one whose key is gone stays sealed with the
 * fields unset (VAULT_ERASED); anything else is left as it is (0). Returns
 * -EBADMSG when the key is there but does not open it (damage), -EIO when
 * the store cannot be read or holds a malformed key record. */
int vault_open_event(store_t *store, Cohort__V1__Event *ev);

/* Reads the key of (agency, ref) from store. Returns 0 and *k, -ENOENT, or
 * -EIO (also for a malformed record). */
int vault_get_key(store_t *store, const char *agency, const char *ref, vault_key_t *k);

typedef struct vault_t vault_t;

/* A vault for the commit path of store. Returns 0 and *out, -ENOMEM, or
 * -EIO when libsodium cannot initialise. */
int vault_new(vault_t **out, store_t *store);

/* Frees it (wiping the keys it held); nulls *self_p. Idempotent. */
void vault_destroy(vault_t **self_p);

/* Forgets (wipes) every key held: call before the first
 * vault_commit_event of every batch, and after its last, so that no key is
 * kept beyond its batch. */
void vault_forget(vault_t *self);

/* Called for each accepted event of a batch, in sequence order, after the
 * domain rules accepted it and before the batch is written. ParticipantRegistered:
 * finds the person's key (made earlier in this batch, or in the store) or
 * makes one (a side put of sb) with gen = seq, and replaces item's value
 * with the sealed event. ParticipantErased: a side delete of the key, and
 * a side put of VAULT_PURGE_META = "1"; *erased is set to 1. Other events:
 * nothing. Returns 0, -ENOMEM, or -EIO (the store could not be read);
 * on failure the batch must not be written. */
int vault_commit_event(vault_t *self, store_batch_t *sb, size_t item, uint64_t seq,
                       const Cohort__V1__Event *ev, int *erased);

#endif
