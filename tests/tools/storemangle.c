/* storemangle: test tool that damages a stopped cohortd store on purpose, so
 * tests can check that `cohortctl verify` finds each kind of damage. It
 * writes RocksDB directly, bypassing store.c, and so repeats the layout of
 * store.h (keep them in step):
 *   log    [8-byte big-endian seq] -> packed Event
 *   dedupe [16-byte event_id][agency] -> 8-byte big-endian seq
 *   meta   key -> value ("proj" = the projection checkpoint)
 *
 *   storemangle DIR dedupe-del SEQ         drop the dedupe entry of log entry SEQ
 *   storemangle DIR dedupe-set SEQ TO      point the dedupe entry of SEQ at TO
 *   storemangle DIR dedupe-add AGENCY TO   add an entry (id ff..ff, AGENCY) -> TO
 *   storemangle DIR log-del SEQ            drop log entry SEQ (a gap)
 *   storemangle DIR log-copy FROM TO       overwrite log entry TO with entry FROM
 *   storemangle DIR meta-get KEY           print a metadata value
 *   storemangle DIR meta-set KEY FILE      set a metadata value from FILE
 *
 * Exit status: 0 done, 1 failed (message on stderr), 2 usage. */
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort.pb-c.h"

/* pkeys (daemon/vault.h) is opened too: RocksDB refuses an open that leaves
 * out a family the store has, and creates it in a store made before it. */
enum { CF_DEFAULT, CF_LOG, CF_DEDUPE, CF_META, CF_PKEYS, CF_COUNT };
static const char *cf_names[CF_COUNT] = {"default", "log", "dedupe", "meta", "pkeys"};

static rocksdb_t *db;
static rocksdb_column_family_handle_t *cf[CF_COUNT];
static rocksdb_writeoptions_t *wo;
static rocksdb_readoptions_t *ro;

static void die(const char *what, char *e)
{
    fprintf(stderr, "storemangle: %s%s%s\n", what, e ? ": " : "", e ? e : "");
    exit(1);
}

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end) {
        fprintf(stderr, "storemangle: '%s' is not a number\n", s);
        exit(2);
    }
    return v;
}

/* The dedupe key of log entry seq, into key (>= 272 bytes). Returns its
 * length; exits if the entry is missing or does not decode. */
static size_t key_of(uint64_t seq, uint8_t *key)
{
    uint8_t k[8];
    size_t len;
    char *e = NULL;
    be64(k, seq);
    char *v = rocksdb_get_cf(db, ro, cf[CF_LOG], (const char *)k, 8, &len, &e);
    if (e || !v)
        die("no such log entry", e);
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, (const uint8_t *)v);
    free(v);
    if (!ev || ev->event_id.len != 16 || !ev->agency || strlen(ev->agency) > 255)
        die("log entry does not decode", NULL);
    memcpy(key, ev->event_id.data, 16);
    size_t n = strlen(ev->agency);
    memcpy(key + 16, ev->agency, n);
    cohort__v1__event__free_unpacked(ev, NULL);
    return 16 + n;
}

static void put(int c, const void *k, size_t kl, const void *v, size_t vl)
{
    char *e = NULL;
    rocksdb_put_cf(db, wo, cf[c], k, kl, v, vl, &e);
    if (e)
        die("write failed", e);
}

static void del(int c, const void *k, size_t kl)
{
    char *e = NULL;
    rocksdb_delete_cf(db, wo, cf[c], k, kl, &e);
    if (e)
        die("delete failed", e);
}

int main(int argc, char **argv)
{
    rocksdb_options_t *o = rocksdb_options_create();
    const rocksdb_options_t *cfo[CF_COUNT] = {o, o, o, o, o};
    uint8_t key[272], k[8];
    char *e = NULL;
    if (argc < 4) {
        fprintf(stderr, "Usage: storemangle DIR COMMAND ARG... (see the source)\n");
        return 2;
    }
    const char *cmd = argv[2];
    rocksdb_options_set_create_missing_column_families(o, 1);
    db = rocksdb_open_column_families(o, argv[1], CF_COUNT, cf_names, cfo, cf, &e);
    if (e)
        die("cannot open the store", e);
    wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    ro = rocksdb_readoptions_create();
    if (strcmp(cmd, "dedupe-del") == 0 && argc == 4) {
        del(CF_DEDUPE, key, key_of(num(argv[3]), key));
    } else if (strcmp(cmd, "dedupe-set") == 0 && argc == 5) {
        size_t kl = key_of(num(argv[3]), key);
        be64(k, num(argv[4]));
        put(CF_DEDUPE, key, kl, k, 8);
    } else if (strcmp(cmd, "dedupe-add") == 0 && argc == 5) {
        size_t n = strlen(argv[3]);
        if (n == 0 || n > 255)
            die("bad agency", NULL);
        memset(key, 0xff, 16);
        memcpy(key + 16, argv[3], n);
        be64(k, num(argv[4]));
        put(CF_DEDUPE, key, 16 + n, k, 8);
    } else if (strcmp(cmd, "log-del") == 0 && argc == 4) {
        be64(k, num(argv[3]));
        del(CF_LOG, k, 8);
    } else if (strcmp(cmd, "log-copy") == 0 && argc == 5) {
        size_t len;
        be64(k, num(argv[3]));
        char *v = rocksdb_get_cf(db, ro, cf[CF_LOG], (const char *)k, 8, &len, &e);
        if (e || !v)
            die("no such log entry", e);
        be64(k, num(argv[4]));
        put(CF_LOG, k, 8, v, len);
        free(v);
    } else if (strcmp(cmd, "meta-get") == 0 && argc == 4) {
        size_t len;
        char *v = rocksdb_get_cf(db, ro, cf[CF_META], argv[3], strlen(argv[3]), &len, &e);
        if (e || !v)
            die("no such metadata", e);
        fwrite(v, 1, len, stdout);
        free(v);
    } else if (strcmp(cmd, "meta-set") == 0 && argc == 5) {
        FILE *f = fopen(argv[4], "rb");
        static char buf[64 << 20];
        size_t len;
        if (!f)
            die("cannot open the value file", NULL);
        len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        put(CF_META, argv[3], strlen(argv[3]), buf, len);
    } else {
        fprintf(stderr, "storemangle: unknown command or wrong arguments: %s\n", cmd);
        return 2;
    }
    for (int i = 0; i < CF_COUNT; i++)
        rocksdb_column_family_handle_destroy(cf[i]);
    rocksdb_close(db);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_readoptions_destroy(ro);
    rocksdb_options_destroy(o);
    return 0;
}
