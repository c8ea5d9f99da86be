/* t_vault: unit tests for vault.c and its store.c parts: sealing round
 * trip; wrong associated data, another key, another gen and tampering are
 * detected; the key is written with the first registration and deleted
 * with the erasure, in the same write as the log entry; an erased person's
 * entry no longer opens; register and erase in one batch; entries from
 * before sealing; a store from before the pkeys family; store_purge (also
 * of the ack journal: commits go through it, as in the daemon). */
#include <errno.h>
#include <rocksdb/c.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"
#include "vault.h"

#define E(x) COHORT__V1__ETHNICITY__##x

static unsigned next_id = 1;

/* A packed ParticipantRegistered (agency, ref) with the given ethnicity,
 * and a fresh id, into *out (malloc'd). */
static size_t mk_reg(uint8_t **out, const char *agency, const char *ref, int eth, uint8_t id[16])
{
    Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
    Cohort__V1__ParticipantRegistered r = COHORT__V1__PARTICIPANT_REGISTERED__INIT;
    memset(id, 0, 16);
    id[6] = 0x70;
    id[15] = (uint8_t)next_id, id[14] = (uint8_t)(next_id >> 8);
    next_id++;
    ev.event_id.data = id;
    ev.event_id.len = 16;
    ev.agency = (char *)agency;
    ev.occurred_at = 1238572800000000LL;
    ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED;
    ev.participant_registered = &r;
    r.participant_ref = (char *)ref;
    r.role = COHORT__V1__ROLE__PARTICIPANT;
    r.ethnicity = eth;
    r.gender = COHORT__V1__GENDER__FEMALE;
    r.disability = COHORT__V1__DISABILITY__DISABLED;
    r.age_band = COHORT__V1__AGE_BAND__AGE_35_44;
    r.sexual_orientation = COHORT__V1__SEXUAL_ORIENTATION__LGB;
    r.religion = COHORT__V1__RELIGION__SIKH;
    r.grade = "sergeant";
    r.officer = 1;
    size_t n = cohort__v1__event__get_packed_size(&ev);
    *out = malloc(n);
    cohort__v1__event__pack(&ev, *out);
    return n;
}

static size_t mk_erase(uint8_t **out, const char *agency, const char *ref, uint8_t id[16])
{
    Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
    Cohort__V1__ParticipantErased e = COHORT__V1__PARTICIPANT_ERASED__INIT;
    memset(id, 0, 16);
    id[6] = 0x70;
    id[15] = (uint8_t)next_id, id[14] = (uint8_t)(next_id >> 8);
    next_id++;
    ev.event_id.data = id;
    ev.event_id.len = 16;
    ev.agency = (char *)agency;
    ev.occurred_at = 1238572800000000LL;
    ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED;
    ev.participant_erased = &e;
    e.participant_ref = (char *)ref;
    size_t n = cohort__v1__event__get_packed_size(&ev);
    *out = malloc(n);
    cohort__v1__event__pack(&ev, *out);
    return n;
}

/* Commits the packed events vals[0..n) as one batch the way ingest does:
 * dedupe, accept each, vault_commit_event, write. Returns store_write's
 * result; *erased says whether the batch erased anyone. */
static int commit(store_t *s, vault_t *v, uint8_t **vals, const size_t *lens, size_t n, int *erased)
{
    store_batch_t *b = store_batch_new();
    char err[256];
    uint64_t next = store_head(s);
    int rc = 0;
    *erased = 0;
    for (size_t i = 0; i < n; i++) {
        Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, lens[i], vals[i]);
        store_batch_add(b, ev->agency, ev->event_id.data, vals[i], lens[i]);
        cohort__v1__event__free_unpacked(ev, NULL);
    }
    if ((rc = store_dedupe(s, b, err, sizeof err)) == 0) {
        vault_forget(v);
        for (size_t i = 0; i < n && rc == 0; i++) {
            Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, lens[i], vals[i]);
            store_batch_accept(b, i, ++next);
            rc = vault_commit_event(v, b, i, next, ev, erased);
            cohort__v1__event__free_unpacked(ev, NULL);
        }
        /* As the daemon commits: unsynced, then a sync through the ack
         * journal, so the key's put is in a journal record too. */
        if (rc == 0 && (rc = store_append(s, b, err, sizeof err)) == 0)
            rc = store_sync(s, err, sizeof err);
    }
    if (rc)
        diag("commit: %d %s", rc, err);
    store_batch_destroy(&b);
    return rc;
}

/* The log entry at seq, decoded (caller frees). */
typedef struct {
    Cohort__V1__Event *ev;
} got_t;

static int grab(void *arg, uint64_t seq, const void *val, size_t len)
{
    (void)seq;
    ((got_t *)arg)->ev = cohort__v1__event__unpack(NULL, len, val);
    return 1;
}

static Cohort__V1__Event *entry(store_t *s, uint64_t seq)
{
    got_t g = {NULL};
    store_scan(s, seq, 1, grab, &g);
    return g.ev;
}

static int count_key(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(int *)arg)++;
    return 0;
}

static int nkeys(store_t *s)
{
    int n = 0;
    store_scan_pkeys(s, count_key, &n);
    return n;
}

/* Opens entry seq with the store's key; returns vault_open_event's result
 * and the ethnicity it then has in *eth. */
static int open_entry(store_t *s, uint64_t seq, int *eth, int *still_sealed)
{
    Cohort__V1__Event *ev = entry(s, seq);
    if (!ev)
        return -99;
    int rc = vault_open_event(s, ev);
    *eth = ev->participant_registered ? (int)ev->participant_registered->ethnicity : -1;
    *still_sealed = ev->participant_registered && ev->participant_registered->sealed.len > 0;
    cohort__v1__event__free_unpacked(ev, NULL);
    return rc;
}

/* How many regular files under dir hold the 32 bytes of key. */
static int files_hold(const char *dir, const uint8_t *key)
{
    char cmd[512];
    int n = 0;
    snprintf(cmd, sizeof cmd, "find '%s' -type f", dir);
    FILE *f = popen(cmd, "r");
    char path[1024];
    while (f && fgets(path, sizeof path, f)) {
        path[strcspn(path, "\n")] = 0;
        FILE *g = fopen(path, "rb");
        if (!g)
            continue;
        fseek(g, 0, SEEK_END);
        long sz = ftell(g);
        rewind(g);
        uint8_t *buf = malloc(sz > 0 ? (size_t)sz : 1);
        if (buf && fread(buf, 1, (size_t)sz, g) == (size_t)sz && memmem(buf, (size_t)sz, key, 32)) {
            diag("  in %s", path);
            n++;
        }
        free(buf);
        fclose(g);
    }
    if (f)
        pclose(f);
    return n;
}

static void test_pure(void)
{
    vault_key_t k = {7, {0}}, other;
    uint8_t id[16], *plain, *sealed;
    size_t sl;
    randombytes_buf(k.key, sizeof k.key);
    size_t pl = mk_reg(&plain, "wm-police", "p1:abc", E(B1), id);
    Cohort__V1__Event *in = cohort__v1__event__unpack(NULL, pl, plain);
    is_int(vault_seal(&k, in, &sealed, &sl), 0, "seal a registration");
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, sl, sealed);
    Cohort__V1__ParticipantRegistered *r = ev->participant_registered;
    ok(r->ethnicity == 0 && r->gender == 0 && r->disability == 0 && r->age_band == 0 &&
           r->sexual_orientation == 0 && r->religion == 0,
       "the sealed event has none of the six characteristics in clear");
    ok(r->sealed.len == VAULT_SEALED_OVERHEAD + 12 && r->sealed.data[0] == VAULT_VERSION,
       "sealed = version, gen, nonce, ciphertext and tag (%zu bytes)", r->sealed.len);
    ok(r->role == COHORT__V1__ROLE__PARTICIPANT && strcmp(r->grade, "sergeant") == 0 &&
           r->officer && strcmp(r->participant_ref, "p1:abc") == 0 &&
           strcmp(ev->agency, "wm-police") == 0 && memcmp(ev->event_id.data, id, 16) == 0,
       "role, grade, officer, ref, agency and id stay in clear");
    is_int(vault_unseal(&k, ev), 0, "unseal with the right key");
    ok(r->ethnicity == E(B1) && r->gender == COHORT__V1__GENDER__FEMALE &&
           r->disability == COHORT__V1__DISABILITY__DISABLED &&
           r->age_band == COHORT__V1__AGE_BAND__AGE_35_44 &&
           r->sexual_orientation == COHORT__V1__SEXUAL_ORIENTATION__LGB &&
           r->religion == COHORT__V1__RELIGION__SIKH && r->sealed.len == 0,
       "round trip: all six characteristics back, sealed cleared");
    cohort__v1__event__free_unpacked(ev, NULL);

    /* Two seals of the same event differ (random nonce). */
    uint8_t *sealed2;
    size_t sl2;
    vault_seal(&k, in, &sealed2, &sl2);
    ok(sl2 == sl && memcmp(sealed, sealed2, sl) != 0, "a fresh nonce per seal");
    free(sealed2);

#define TRY(what, mutate, want)                                                                    \
    do {                                                                                           \
        Cohort__V1__Event *e_ = cohort__v1__event__unpack(NULL, sl, sealed);                       \
        vault_key_t kk_ = k;                                                                       \
        vault_key_t *key_ = &kk_;                                                                  \
        (void)key_;                                                                                \
        mutate;                                                                                    \
        int rc_ = vault_unseal(key_, e_);                                                          \
        is_int(rc_, want, what);                                                                   \
        ok(e_->participant_registered->ethnicity == 0 &&                                           \
               e_->participant_registered->sealed.len > 0,                                         \
           what ": event left unchanged");                                                         \
        cohort__v1__event__free_unpacked(e_, NULL);                                                \
    } while (0)

    TRY("another event id does not open", e_->event_id.data[15] ^= 1, -EBADMSG);
    TRY("another agency does not open", e_->agency[0] = 'x', -EBADMSG);
    TRY("another ref does not open", e_->participant_registered->participant_ref[3] = 'X',
        -EBADMSG);
    TRY("a changed ciphertext byte does not open",
        e_->participant_registered->sealed.data[40] ^= 0x01, -EBADMSG);
    TRY("a changed tag byte does not open",
        e_->participant_registered->sealed.data[e_->participant_registered->sealed.len - 1] ^= 0x80,
        -EBADMSG);
    TRY("a changed nonce does not open", e_->participant_registered->sealed.data[12] ^= 0x01,
        -EBADMSG);
    TRY("a truncated value does not open", e_->participant_registered->sealed.len -= 1, -EBADMSG);
    TRY("an unknown version does not open", e_->participant_registered->sealed.data[0] = 2,
        -EBADMSG);
    other = k;
    other.key[0] ^= 1;
    TRY("another key of the same gen does not open", key_ = &other, -EBADMSG);
    other = k;
    other.gen = 8;
    TRY("the key of another gen (a later person) says ESTALE", key_ = &other, -ESTALE);
    /* A changed gen in the value: the stored key's gen then differs. */
    TRY("a changed gen in the value does not open", e_->participant_registered->sealed.data[8] ^= 1,
        -ESTALE);
    other = k;
    other.gen = 7 ^ 1;
    TRY(
        "... nor with a key of that gen",
        {
            e_->participant_registered->sealed.data[8] ^= 1;
            key_ = &other;
        },
        -EBADMSG);

    /* Not a registration, or not sealed. */
    is_int(vault_unseal(&k, in), -EINVAL, "an unsealed registration is not unsealed");
    cohort__v1__event__free_unpacked(in, NULL);
    free(plain);
    free(sealed);
}

/* A store as written before the pkeys family existed: default, log,
 * dedupe, meta and the format record. */
static int make_old_store(const char *dir)
{
    const char *names[4] = {"default", "log", "dedupe", "meta"};
    rocksdb_options_t *o = rocksdb_options_create(), *co[4];
    rocksdb_column_family_handle_t *h[4];
    char *e = NULL;
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    for (int i = 0; i < 4; i++)
        co[i] = o;
    rocksdb_t *db =
        rocksdb_open_column_families(o, dir, 4, names, (const rocksdb_options_t *const *)co, h, &e);
    if (e) {
        diag("old store: %s", e);
        free(e);
        return -1;
    }
    rocksdb_writeoptions_t *w = rocksdb_writeoptions_create();
    rocksdb_put_cf(db, w, h[3], "format", 6, "cohortd-store-2", 15, &e);
    rocksdb_writeoptions_destroy(w);
    for (int i = 0; i < 4; i++)
        rocksdb_column_family_handle_destroy(h[i]);
    rocksdb_close(db);
    rocksdb_options_destroy(o);
    free(e);
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/cohort-t-vault-XXXXXX", old[] = "/tmp/cohort-t-vault-old-XXXXXX", err[256],
         cmd[400];
    store_t *s = NULL;
    vault_t *v = NULL;
    uint8_t id[16], *val[4];
    size_t len[4];
    vault_key_t k;
    int erased, eth, sealed;
    if (sodium_init() < 0 || !mkdtemp(dir) || !mkdtemp(old))
        return 1;

    test_pure();

    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "open a store");
    is_int(vault_new(&v, s), 0, "vault_new");

    /* seq 1: X registers: a key with gen 1, written with the entry. */
    len[0] = mk_reg(&val[0], "wm-police", "X", E(B1), id);
    is_int(commit(s, v, val, len, 1, &erased), 0, "commit X's registration");
    free(val[0]);
    ok(!erased, "a registration erases nobody");
    is_int(vault_get_key(s, "wm-police", "X", &k), 0, "X's key was written");
    is_int(k.gen, 1, "its gen is the registration's sequence");
    is_int(open_entry(s, 1, &eth, &sealed), 0, "the stored registration opens with X's key");
    is_int(eth, E(B1), "... to X's ethnicity");
    Cohort__V1__Event *raw = entry(s, 1);
    ok(raw && raw->participant_registered->sealed.len > 0 &&
           raw->participant_registered->ethnicity == 0,
       "the log holds the registration sealed, not in clear");
    cohort__v1__event__free_unpacked(raw, NULL);

    /* seq 2: X registers again (a correction): same key, new values. */
    len[0] = mk_reg(&val[0], "wm-police", "X", E(A2), id);
    is_int(commit(s, v, val, len, 1, &erased), 0, "commit X's second registration");
    free(val[0]);
    is_int(vault_get_key(s, "wm-police", "X", &k), 0, "X still has a key");
    is_int(k.gen, 1, "the same key (gen 1)");
    is_int(nkeys(s), 1, "one key in the store");
    is_int(open_entry(s, 2, &eth, &sealed), 0, "the correction opens");
    is_int(eth, E(A2), "... to the corrected value");

    /* seq 3: another person Y, other agency, same ref: a key of their own. */
    len[0] = mk_reg(&val[0], "cps", "X", E(W1), id);
    is_int(commit(s, v, val, len, 1, &erased), 0, "commit (cps, X)");
    free(val[0]);
    is_int(nkeys(s), 2, "(cps, X) has a key of its own");

    /* seq 4: X is erased: the key goes with the entry. */
    vault_key_t kx;
    vault_get_key(s, "wm-police", "X", &kx);
    ok(files_hold(dir, kx.key) >= 1, "before the erasure X's key is in the store's files (WAL)");
    len[0] = mk_erase(&val[0], "wm-police", "X", id);
    is_int(commit(s, v, val, len, 1, &erased), 0, "commit X's erasure");
    free(val[0]);
    ok(erased, "the batch erased someone");
    is_int(vault_get_key(s, "wm-police", "X", &k), -ENOENT, "X's key is gone");
    is_int(open_entry(s, 1, &eth, &sealed), VAULT_ERASED, "X's first registration: erased");
    ok(eth == 0 && sealed, "... no ethnicity, still sealed");
    is_int(open_entry(s, 2, &eth, &sealed), VAULT_ERASED, "X's second registration: erased");
    is_int(open_entry(s, 3, &eth, &sealed), 0, "(cps, X) still opens");
    is_int(eth, E(W1), "... to their own value");
    char *flag = NULL;
    size_t flen = 0;
    ok(store_get_meta(s, VAULT_PURGE_META, &flag, &flen) == 0 && flen == 1 && flag[0] == '1',
       "the erasure wrote the purge flag in the same batch");
    free(flag);

    /* seq 5..8 in one batch: Z registers, is erased, registers again (a new
     * person), and registers once more (a correction of the new one). */
    len[0] = mk_reg(&val[0], "wm-police", "Z", E(M1), id);
    len[1] = mk_erase(&val[1], "wm-police", "Z", id);
    len[2] = mk_reg(&val[2], "wm-police", "Z", E(O1), id);
    len[3] = mk_reg(&val[3], "wm-police", "Z", E(O9), id);
    is_int(commit(s, v, val, len, 4, &erased), 0, "commit register, erase, register, register");
    for (int i = 0; i < 4; i++)
        free(val[i]);
    is_int(vault_get_key(s, "wm-police", "Z", &k), 0, "Z has a key afterwards");
    is_int(k.gen, 7, "the key of the second person (gen 7)");
    is_int(open_entry(s, 5, &eth, &sealed), VAULT_ERASED, "the first Z's registration: erased");
    is_int(open_entry(s, 7, &eth, &sealed), 0, "the second Z's registration opens");
    is_int(eth, E(O1), "... to the second Z's value");
    is_int(open_entry(s, 8, &eth, &sealed), 0, "and their correction too");
    is_int(eth, E(O9), "... to the corrected value");

    /* Atomicity: side writes go only with accepted events. */
    {
        store_batch_t *b = store_batch_new();
        uint64_t head = store_head(s);
        len[0] = mk_reg(&val[0], "wm-police", "W", E(B2), id);
        Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len[0], val[0]);
        store_batch_add(b, "wm-police", id, val[0], len[0]);
        store_dedupe(s, b, err, sizeof err);
        store_batch_accept(b, 0, head + 1);
        vault_forget(v);
        is_int(vault_commit_event(v, b, 0, head + 1, ev, &erased), 0, "seal W's registration");
        store_batch_reject(b, 0); /* then refused: nothing may be written */
        is_int(store_write(s, b, err, sizeof err), 0, "write a batch with nothing accepted");
        is_int(vault_get_key(s, "wm-police", "W", &k), -ENOENT, "no key without its entry");
        is_int(store_head(s), head, "no entry either");
        /* A reset batch forgets its side writes. */
        store_batch_reset(b);
        uint8_t *v2;
        size_t l2 = mk_reg(&v2, "cps", "V", E(B2), id);
        store_batch_add(b, "cps", id, v2, l2);
        store_dedupe(s, b, err, sizeof err);
        store_batch_accept(b, 0, head + 1);
        is_int(store_write(s, b, err, sizeof err), 0, "write an unsealed entry after a reset");
        is_int(vault_get_key(s, "wm-police", "W", &k), -ENOENT,
               "the reset batch did not carry W's key along");
        is_int(open_entry(s, head + 1, &eth, &sealed), 0,
               "an unsealed registration (as before sealing) reads as it is");
        is_int(eth, E(B2), "... with its value");
        free(v2);
        cohort__v1__event__free_unpacked(ev, NULL);
        free(val[0]);
        store_batch_destroy(&b);
    }

    /* Damage: a key whose bytes changed no longer opens its entries. */
    {
        store_batch_t *b = store_batch_new();
        uint8_t name[600], rec[40];
        int n = vault_key_name(name, sizeof name, "cps", "X");
        vault_get_key(s, "cps", "X", &k);
        rec[0] = 0, rec[1] = 0, rec[2] = 0, rec[3] = 0, rec[4] = 0, rec[5] = 0, rec[6] = 0;
        rec[7] = (uint8_t)k.gen;
        memcpy(rec + 8, k.key, 32);
        rec[8] ^= 1;
        uint64_t head = store_head(s);
        len[0] = mk_erase(&val[0], "cps", "nobody", id);
        store_batch_add(b, "cps", id, val[0], len[0]);
        store_dedupe(s, b, err, sizeof err);
        store_batch_accept(b, 0, head + 1);
        store_batch_side(b, STORE_CF_PKEYS, name, (size_t)n, rec, sizeof rec);
        is_int(store_write(s, b, err, sizeof err), 0, "overwrite (cps, X)'s key (damage)");
        is_int(open_entry(s, 3, &eth, &sealed), -EBADMSG,
               "a damaged key is damage (EBADMSG), never 'erased'");
        ok(eth == 0, "... and invents no value");
        free(val[0]);
        store_batch_destroy(&b);
    }

    is_int(store_purge(s, err, sizeof err), 0, "store_purge");
    /* RocksDB unlinks obsolete files right after the flush or compaction
     * that made them so, possibly on its own thread: wait up to 5 s. */
    int held = 1;
    for (int i = 0; i < 50 && (held = files_hold(dir, kx.key)) > 0; i++)
        usleep(100 * 1000);
    is_int(held, 0,
           "after store_purge no file of the live store (WAL, SST, ack journal) holds X's "
           "erased key");
    is_int(vault_get_key(s, "wm-police", "X", &k), -ENOENT, "X's key is still gone after it");
    is_int(nkeys(s), 2, "the other keys are kept (cps X, wm-police Z)");
    vault_destroy(&v);
    vault_destroy(&v);
    ok(v == NULL, "vault_destroy is idempotent");
    store_close(&s);

    /* Reopened read-only: the same answers. */
    is_int(store_open(&s, dir, STORE_READONLY, err, sizeof err), 0, "reopen read-only");
    is_int(vault_get_key(s, "wm-police", "Z", &k), 0, "Z's key is durable");
    is_int(open_entry(s, 1, &eth, &sealed), VAULT_ERASED, "X stays erased");
    store_close(&s);

    /* A store from before the pkeys family. */
    ok(make_old_store(old) == 0, "make a store without the pkeys family");
    is_int(store_open(&s, old, STORE_READONLY, err, sizeof err), 0, "it opens read-only (%s)", err);
    is_int(vault_get_key(s, "a", "b", &k), -ENOENT, "with no keys");
    is_int(nkeys(s), 0, "and an empty key scan");
    store_close(&s);
    is_int(store_open(&s, old, 0, err, sizeof err), 0, "it opens for writing");
    is_int(vault_new(&v, s), 0, "vault_new on it");
    len[0] = mk_reg(&val[0], "wm-police", "Q", E(B9), id);
    is_int(commit(s, v, val, len, 1, &erased), 0, "and takes a sealed registration");
    free(val[0]);
    is_int(open_entry(s, 1, &eth, &sealed), 0, "which opens");
    vault_destroy(&v);
    store_close(&s);

    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, old);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
