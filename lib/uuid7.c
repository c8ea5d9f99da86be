/* uuid7.c: UUIDv7 event ids (RFC 9562, section 5.7).
 *
 * Contract: see uuid7.h. Layout: 48-bit big-endian Unix milliseconds, the
 * version nibble 7, 12 bits rand_a, the variant bits 10, 62 bits rand_b.
 * Randomness comes from getrandom(2). Ids made by one process are strictly
 * increasing (RFC 9562 section 6.2, method 1): within one millisecond, or
 * when the clock steps back, rand_a is a counter on top of the last id; on
 * counter overflow the timestamp is advanced by one millisecond. A fresh
 * millisecond starts the counter at a random value below 2048, leaving
 * at least 2048 ids per millisecond before the timestamp moves on.
 * Text uses libuuid: uuid_parse accepts any canonical UUID (any version,
 * either case); uuid_unparse_lower writes it. */
#include "uuid7.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;  /* timestamp of the last id made here */
static uint16_t last_ctr; /* its 12-bit rand_a */

/* Fills buf with n random bytes. Returns 0 or -errno. */
static int rnd(uint8_t *buf, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(buf, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Fills out with a new UUIDv7. Returns 0, or -errno if no randomness. */
int uuid7_generate(uint8_t out[16])
{
    uint8_t r[10];
    struct timespec ts;
    uint64_t ms;
    uint16_t ctr;
    int rc;

    rc = rnd(r, sizeof r);
    if (rc < 0)
        return rc;
    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;

    pthread_mutex_lock(&lock);
    if (ms > last_ms) {
        ctr = (uint16_t)(((r[0] << 8) | r[1]) & 0x07ff);
    } else {
        ms = last_ms;
        ctr = (uint16_t)(last_ctr + 1);
        if (ctr > 0x0fff) {
            ms++;
            ctr = (uint16_t)(((r[0] << 8) | r[1]) & 0x07ff);
        }
    }
    last_ms = ms;
    last_ctr = ctr;
    pthread_mutex_unlock(&lock);

    ms &= 0xffffffffffffull;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (ctr >> 8));
    out[7] = (uint8_t)(ctr & 0xff);
    memcpy(out + 8, r + 2, 8);
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
    return 0;
}

/* Parses canonical text ("0191e4b2-...") into out. Returns 0 or -EINVAL. */
int uuid7_parse(const char *text, uint8_t out[16])
{
    uuid_t u;

    if (!text || uuid_parse(text, u) != 0)
        return -EINVAL;
    memcpy(out, u, 16);
    return 0;
}

/* Writes the canonical lower-case text of id into out (37 bytes, NUL-ended). */
void uuid7_format(const uint8_t id[16], char out[37])
{
    uuid_unparse_lower(id, out);
}
