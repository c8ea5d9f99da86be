/* vault.c: per-participant keys and sealed characteristics (see vault.h).
 * libsodium's crypto_aead_xchacha20poly1305_ietf: a random 24-byte nonce
 * per seal is safe (no counter to keep), and the tag authenticates the
 * associated data that binds a sealed value to its event and person. */
#include "vault.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#define AD_TAG "cohortd-vault-1"
#define NAME_MAX_LEN 512                 /* agency (<= 255) NUL ref (<= 255) */
#define RECORD_LEN (8 + VAULT_KEY_BYTES) /* pkeys value */
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define PT_MAX 64 /* a packed Characteristics: at most 6 x (1 + 5) bytes */

/* A key known to the current batch: made or deleted in it, or read from
 * the store during it. */
typedef struct {
    uint8_t name[NAME_MAX_LEN]; /* pkeys key, the hash key */
    size_t len;                 /* its length */
    int present;                /* 0 = deleted in this batch */
    vault_key_t k;              /* the key, when present */
    UT_hash_handle hh;          /* in vault_t.known */
} known_t;

struct vault_t {
    store_t *store; /* borrowed */
    known_t *known; /* this batch's keys, by name */
};

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t rd64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

int vault_key_name(uint8_t *out, size_t cap, const char *agency, const char *ref)
{
    size_t a = agency ? strlen(agency) : 0, r = ref ? strlen(ref) : 0;
    if (!a || !r || a + 1 + r > cap)
        return -EINVAL;
    memcpy(out, agency, a);
    out[a] = 0;
    memcpy(out + a + 1, ref, r);
    return (int)(a + 1 + r);
}

/* The associated data of a sealed value into ad; returns its length, or 0
 * if it does not fit. */
static size_t make_ad(uint8_t *ad, size_t cap, const Cohort__V1__Event *ev, const char *ref,
                      uint64_t gen)
{
    size_t t = sizeof AD_TAG, a = strlen(ev->agency ? ev->agency : ""), r = strlen(ref);
    size_t n = t + a + 1 + r + 1 + 16 + 8;
    if (n > cap || ev->event_id.len != 16)
        return 0;
    memcpy(ad, AD_TAG, t); /* with its NUL */
    memcpy(ad + t, ev->agency ? ev->agency : "", a);
    ad[t + a] = 0;
    memcpy(ad + t + a + 1, ref, r);
    ad[t + a + 1 + r] = 0;
    memcpy(ad + t + a + r + 2, ev->event_id.data, 16);
    be64(ad + t + a + r + 18, gen);
    return n;
}

static int is_registration(const Cohort__V1__Event *ev)
{
    return ev && ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
           ev->participant_registered && ev->participant_registered->participant_ref;
}

int vault_seal(const vault_key_t *k, const Cohort__V1__Event *ev, uint8_t **out, size_t *outlen)
{
    uint8_t pt[PT_MAX], ad[64 + NAME_MAX_LEN], *sealed = NULL, *packed = NULL;
    Cohort__V1__Characteristics ch = COHORT__V1__CHARACTERISTICS__INIT;
    unsigned long long clen = 0;
    size_t plen, adlen, slen;
    *out = NULL;
    *outlen = 0;
    if (!is_registration(ev))
        return -EINVAL;
    const Cohort__V1__ParticipantRegistered *b = ev->participant_registered;
    if (!(adlen = make_ad(ad, sizeof ad, ev, b->participant_ref, k->gen)))
        return -EINVAL;
    ch.ethnicity = b->ethnicity;
    ch.gender = b->gender;
    ch.disability = b->disability;
    ch.age_band = b->age_band;
    ch.sexual_orientation = b->sexual_orientation;
    ch.religion = b->religion;
    if ((plen = cohort__v1__characteristics__get_packed_size(&ch)) > sizeof pt)
        return -EINVAL; /* enum values beyond 32 bits: cannot happen */
    cohort__v1__characteristics__pack(&ch, pt);
    slen = 1 + 8 + NONCE_LEN + plen + TAG_LEN;
    if (!(sealed = malloc(slen)))
        return -ENOMEM;
    sealed[0] = VAULT_VERSION;
    be64(sealed + 1, k->gen);
    randombytes_buf(sealed + 9, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed + 9 + NONCE_LEN, &clen, pt, plen, ad, adlen,
                                               NULL, sealed + 9, k->key);
    sodium_memzero(pt, sizeof pt);
    /* The stored event: ev with the six fields unset and sealed set; the
     * copies are shallow, so everything else (unknown fields too) packs as
     * it came. */
    Cohort__V1__Event e2 = *ev;
    Cohort__V1__ParticipantRegistered r2 = *b;
    r2.ethnicity = 0;
    r2.gender = 0;
    r2.disability = 0;
    r2.age_band = 0;
    r2.sexual_orientation = 0;
    r2.religion = 0;
    r2.sealed.data = sealed;
    r2.sealed.len = slen;
    e2.participant_registered = &r2;
    size_t n = cohort__v1__event__get_packed_size(&e2);
    if (!(packed = malloc(n ? n : 1))) {
        free(sealed);
        return -ENOMEM;
    }
    cohort__v1__event__pack(&e2, packed);
    free(sealed);
    *out = packed;
    *outlen = n;
    return 0;
}

int vault_unseal(const vault_key_t *k, Cohort__V1__Event *ev)
{
    uint8_t pt[PT_MAX], ad[64 + NAME_MAX_LEN];
    unsigned long long plen = 0;
    size_t adlen;
    if (!is_registration(ev) || ev->participant_registered->sealed.len == 0)
        return -EINVAL;
    Cohort__V1__ParticipantRegistered *b = ev->participant_registered;
    const uint8_t *s = b->sealed.data;
    size_t slen = b->sealed.len;
    if (slen < VAULT_SEALED_OVERHEAD || slen > VAULT_SEALED_OVERHEAD + PT_MAX ||
        s[0] != VAULT_VERSION)
        return -EBADMSG;
    if (rd64(s + 1) != k->gen)
        return -ESTALE;
    if (!(adlen = make_ad(ad, sizeof ad, ev, b->participant_ref, k->gen)))
        return -EBADMSG;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &plen, NULL, s + 9 + NONCE_LEN,
                                                   slen - 9 - NONCE_LEN, ad, adlen, s + 9,
                                                   k->key) != 0)
        return -EBADMSG;
    Cohort__V1__Characteristics *ch = cohort__v1__characteristics__unpack(NULL, (size_t)plen, pt);
    sodium_memzero(pt, sizeof pt);
    if (!ch)
        return -EBADMSG;
    b->ethnicity = ch->ethnicity;
    b->gender = ch->gender;
    b->disability = ch->disability;
    b->age_band = ch->age_band;
    b->sexual_orientation = ch->sexual_orientation;
    b->religion = ch->religion;
    b->sealed.len = 0; /* the data stays allocated for free_unpacked */
    cohort__v1__characteristics__free_unpacked(ch, NULL);
    return 0;
}

/* Parses a pkeys record. Returns 0 or -EIO (malformed). */
static int parse_record(const void *val, size_t len, vault_key_t *k)
{
    if (len != RECORD_LEN)
        return -EIO;
    k->gen = rd64(val);
    memcpy(k->key, (const uint8_t *)val + 8, VAULT_KEY_BYTES);
    return 0;
}

int vault_get_key(store_t *store, const char *agency, const char *ref, vault_key_t *k)
{
    uint8_t name[NAME_MAX_LEN];
    void *val = NULL;
    size_t len = 0;
    int n = vault_key_name(name, sizeof name, agency, ref), rc;
    if (n < 0)
        return -ENOENT; /* no such name can have been written */
    if ((rc = store_get_pkey(store, name, (size_t)n, &val, &len)) < 0)
        return rc;
    rc = parse_record(val, len, k);
    sodium_memzero(val, len);
    free(val);
    return rc;
}

int vault_open_event(store_t *store, Cohort__V1__Event *ev)
{
    vault_key_t k;
    int rc;
    if (!is_registration(ev) || ev->participant_registered->sealed.len == 0)
        return 0;
    if (sodium_init() < 0)
        return -EIO;
    rc = vault_get_key(store, ev->agency, ev->participant_registered->participant_ref, &k);
    if (rc == -ENOENT)
        return VAULT_ERASED;
    if (rc < 0)
        return rc;
    rc = vault_unseal(&k, ev);
    sodium_memzero(&k, sizeof k);
    return rc == -ESTALE ? VAULT_ERASED : rc;
}

int vault_new(vault_t **out, store_t *store)
{
    vault_t *self;
    *out = NULL;
    if (sodium_init() < 0)
        return -EIO;
    if (!(self = calloc(1, sizeof *self)))
        return -ENOMEM;
    self->store = store;
    *out = self;
    return 0;
}

void vault_forget(vault_t *self)
{
    known_t *x, *tmp;
    HASH_ITER(hh, self->known, x, tmp)
    {
        HASH_DEL(self->known, x);
        sodium_memzero(x, sizeof *x);
        free(x);
    }
}

void vault_destroy(vault_t **self_p)
{
    vault_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    vault_forget(self);
    free(self);
    *self_p = NULL;
}

/* The batch's entry for name, read from the store if new to the batch.
 * Returns it, or NULL with *rc (-ENOMEM, -EIO). */
static known_t *known_get(vault_t *self, const uint8_t *name, size_t len, int *rc)
{
    known_t *x = NULL;
    void *val = NULL;
    size_t vlen = 0;
    HASH_FIND(hh, self->known, name, len, x);
    if (x)
        return x;
    if (!(x = calloc(1, sizeof *x))) {
        *rc = -ENOMEM;
        return NULL;
    }
    memcpy(x->name, name, len);
    x->len = len;
    *rc = store_get_pkey(self->store, name, len, &val, &vlen);
    if (*rc == 0) {
        *rc = parse_record(val, vlen, &x->k);
        x->present = *rc == 0;
        sodium_memzero(val, vlen);
        free(val);
    } else if (*rc == -ENOENT) {
        *rc = 0;
    }
    if (*rc < 0) {
        free(x);
        return NULL;
    }
    HASH_ADD(hh, self->known, name, len, x);
    if (!x->hh.tbl) {
        free(x);
        *rc = -ENOMEM;
        return NULL;
    }
    return x;
}

int vault_commit_event(vault_t *self, store_batch_t *sb, size_t item, uint64_t seq,
                       const Cohort__V1__Event *ev, int *erased)
{
    uint8_t name[NAME_MAX_LEN], rec[RECORD_LEN], *packed = NULL;
    size_t plen = 0;
    const char *ref;
    known_t *x;
    int n, rc = 0;
    switch (ev->body_case) {
    case COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED:
        ref = ev->participant_registered ? ev->participant_registered->participant_ref : NULL;
        break;
    case COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED:
        ref = ev->participant_erased ? ev->participant_erased->participant_ref : NULL;
        break;
    default:
        return 0;
    }
    if ((n = vault_key_name(name, sizeof name, ev->agency, ref)) < 0)
        return -EINVAL; /* validation makes both non-empty and short */
    if (!(x = known_get(self, name, (size_t)n, &rc)))
        return rc;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED) {
        if ((rc = store_batch_side(sb, STORE_CF_PKEYS, name, (size_t)n, NULL, 0)) < 0 ||
            (rc = store_batch_side(sb, STORE_CF_META, VAULT_PURGE_META, strlen(VAULT_PURGE_META),
                                   "1", 1)) < 0)
            return rc;
        sodium_memzero(&x->k, sizeof x->k);
        x->present = 0;
        *erased = 1;
        return 0;
    }
    if (!x->present) { /* a new person: a new key, written with this entry */
        x->k.gen = seq;
        randombytes_buf(x->k.key, sizeof x->k.key);
        be64(rec, x->k.gen);
        memcpy(rec + 8, x->k.key, VAULT_KEY_BYTES);
        rc = store_batch_side(sb, STORE_CF_PKEYS, name, (size_t)n, rec, sizeof rec);
        sodium_memzero(rec, sizeof rec);
        if (rc < 0)
            return rc;
        x->present = 1;
    }
    if ((rc = vault_seal(&x->k, ev, &packed, &plen)) < 0)
        return rc;
    rc = store_batch_set_value(sb, item, packed, plen);
    free(packed);
    return rc;
}
