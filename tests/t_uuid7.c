/* t_uuid7.c: unit tests of lib/uuid7.c (TAP).
 * Contract: checks the RFC 9562 version and variant bits, the timestamp,
 * ordering of ids made in a row, and the text form both ways. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "uuid7.h"

/* The 48-bit millisecond timestamp of id. */
static uint64_t ms_of(const uint8_t id[16])
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms;
}

int main(void)
{
    uint8_t a[16], b[16], c[16];
    char text[37], text2[37];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

    is_int(uuid7_generate(a), 0, "generate succeeds");
    is_int(a[6] >> 4, 7, "version nibble is 7");
    is_int(a[8] >> 6, 2, "variant bits are 10");
    ok(ms_of(a) >= now && ms_of(a) < now + 5000, "timestamp is the current time in ms");

    is_int(uuid7_generate(b), 0, "second generate succeeds");
    ok(memcmp(a, b, 16) < 0, "ids made in a row sort in order");
    ok(memcmp(a, b, 16) != 0, "ids differ");

    int sorted = 1;
    memcpy(c, b, 16);
    for (int i = 0; i < 10000; i++) {
        uint8_t d[16];
        if (uuid7_generate(d) != 0 || memcmp(c, d, 16) >= 0 || (d[6] >> 4) != 7 || (d[8] >> 6) != 2)
            sorted = 0;
        memcpy(c, d, 16);
    }
    ok(sorted, "10000 ids in a row are strictly increasing and well formed");

    uuid7_format(a, text);
    is_int(strlen(text), 36, "text is 36 characters");
    ok(text[8] == '-' && text[13] == '-' && text[18] == '-' && text[23] == '-',
       "hyphens in canonical places");
    is_int(text[14], '7', "version digit shows in text");
    is_int(uuid7_parse(text, c), 0, "parse own text");
    ok(memcmp(a, c, 16) == 0, "parse/format round trip");

    is_int(uuid7_parse("0191E4B2-7C3A-7D12-8F00-0123456789AB", c), 0, "upper case accepted");
    uuid7_format(c, text2);
    is_str(text2, "0191e4b2-7c3a-7d12-8f00-0123456789ab", "format is lower case");
    is_int(uuid7_parse("550e8400-e29b-41d4-a716-446655440000", c), 0,
           "other UUID versions parse too");

    is_int(uuid7_parse("", c), -EINVAL, "empty text rejected");
    is_int(uuid7_parse(NULL, c), -EINVAL, "NULL rejected");
    is_int(uuid7_parse("0191e4b2-7c3a-7d12-8f00-0123456789a", c), -EINVAL, "short text rejected");
    is_int(uuid7_parse("0191e4b2-7c3a-7d12-8f00-0123456789abc", c), -EINVAL, "long text rejected");
    is_int(uuid7_parse("0191e4b2x7c3a-7d12-8f00-0123456789ab", c), -EINVAL,
           "misplaced hyphen rejected");
    is_int(uuid7_parse("0191e4b2-7c3a-7d12-8f00-0123456789ag", c), -EINVAL,
           "non-hex digit rejected");
    is_int(uuid7_parse("0191e4b27c3a7d128f000123456789ab", c), -EINVAL,
           "unhyphenated form rejected");
    return tap_done();
}
