/* vaultkeys: test tool that prints the participant keys (daemon/vault.h) a
 * cohortd store holds, so that an erasure test can learn a person's key
 * before erasing them and then look for its bytes in every file. It opens
 * the store read-only (store.h: may run beside a live daemon) and prints
 * one line per pkeys entry:
 *
 *   AGENCY REF GEN HEX      (HEX: the 32 key bytes, 64 lower-case digits)
 *
 *   vaultkeys DIR
 *
 * Test use only: the keys are the secret that crypto-shredding destroys.
 * Exit status: 0 done, 1 failed (message on stderr), 2 usage. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "vault.h"

/* store_scan_pkeys callback: prints one entry; a malformed one fails. */
static int print_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    const char *k = key, *nul = memchr(key, '\0', klen);
    const uint8_t *v = val;
    uint64_t gen = 0;
    (void)arg;
    if (!nul || vlen != 8 + VAULT_KEY_BYTES) {
        fprintf(stderr, "vaultkeys: malformed pkeys entry\n");
        return 1;
    }
    for (int i = 0; i < 8; i++)
        gen = (gen << 8) | v[i];
    printf("%.*s %.*s %llu ", (int)(nul - k), k, (int)(klen - (size_t)(nul - k) - 1), nul + 1,
           (unsigned long long)gen);
    for (int i = 0; i < VAULT_KEY_BYTES; i++)
        printf("%02x", v[8 + i]);
    putchar('\n');
    return 0;
}

int main(int argc, char **argv)
{
    store_t *st;
    char err[512];
    int rc;
    if (argc != 2) {
        fprintf(stderr, "usage: vaultkeys DIR\n");
        return 2;
    }
    if (store_open(&st, argv[1], STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "vaultkeys: %s: %s\n", argv[1], err);
        return 1;
    }
    rc = store_scan_pkeys(st, print_key, NULL);
    store_close(&st);
    if (rc < 0)
        fprintf(stderr, "vaultkeys: reading the keys failed\n");
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}
