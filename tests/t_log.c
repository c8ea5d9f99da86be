/* t_log: unit tests for log.c (issue 13 item 8): every control byte and
 * invalid UTF-8 is escaped so one call is one line (a forged
 * "\n<2>auth: accepted key ..." stays inside its line); the per-key rate
 * limit writes a burst, counts the rest and reports the count, with an
 * injected clock; the table stays bounded when many keys are used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static uint64_t fake_ms = 1000000;
static uint64_t fake_now(void)
{
    return fake_ms;
}

static FILE *f;

/* Everything written since the last call, NUL-terminated (static). */
static const char *take(void)
{
    static char buf[1 << 20];
    long end = ftell(f);
    size_t n;
    rewind(f);
    n = fread(buf, 1, end < (long)sizeof buf - 1 ? (size_t)end : sizeof buf - 1, f);
    buf[n] = '\0';
    rewind(f);
    if (ftruncate(fileno(f), 0) != 0)
        buf[0] = '\0';
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Sum of N over " (N similar lines suppressed)" in s. */
static unsigned long long suppressed(const char *s)
{
    unsigned long long sum = 0;
    const char *p = s;
    while ((p = strstr(p, " similar lines suppressed)"))) {
        const char *q = p;
        while (q > s && q[-1] >= '0' && q[-1] <= '9')
            q--;
        sum += strtoull(q, NULL, 10);
        p++;
    }
    return sum;
}

int main(void)
{
    f = tmpfile();
    if (!f)
        return 1;
    cohort_log_set_output(f);
    cohort_log_set_clock(fake_now);
    cohort_log_set_level(LOG_DEBUG);

    /* Escaping. */
    cohort_log(LOG_NOTICE, "publish: may not read '%s'",
               "x\n<2>auth: accepted key AAAAAAAA as operator from 10.0.0.1");
    is_str(take(),
           "<5>publish: may not read 'x\\x0a<2>auth: accepted key AAAAAAAA as operator from "
           "10.0.0.1'\n",
           "a newline is escaped: one call, one line");
    cohort_log(LOG_INFO, "%s", "a\rb\tc\x01\x1f\x7f d\x1b[31m");
    is_str(take(), "<6>a\\x0db\\x09c\\x01\\x1f\\x7f d\\x1b[31m\n", "CR, tab, C0, DEL, ESC escaped");
    cohort_log(LOG_INFO, "%s", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    is_str(take(), "<6>caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", "valid UTF-8 is kept");
    cohort_log(LOG_INFO, "%s", "\xff\xc3(\xc0\xaf\xed\xa0\x80\xc2\x85\xf4\x90\x80\x80\xe2\x82");
    is_str(take(),
           "<6>\\xff\\xc3(\\xc0\\xaf\\xed\\xa0\\x80\\xc2\\x85\\xf4\\x90\\x80\\x80\\xe2\\x82\n",
           "invalid UTF-8, overlong, surrogate, C1 (U+0085 NEL), > U+10FFFF, cut sequence");
    {
        char big[3000];
        memset(big, '\n', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        cohort_log(LOG_INFO, "%s", big);
        const char *s = take();
        is_int(count_lines(s), 1, "a long message of newlines is still one line");
        ok(strlen(s) < 4 * COHORT_LOG_MAX + 8 && strstr(s, "...\n"), "cut, ending with ...");
    }
    cohort_log(LOG_DEBUG + 1, "below the level");
    is_str(take(), "", "below the level: nothing");

    /* Rate limit: a burst, then counted. */
    for (int i = 0; i < 1000; i++)
        cohort_log_limited(LOG_WARNING, "k1", "refused %d\n<2>forged", i);
    const char *s = take();
    is_int(count_lines(s), COHORT_LOG_BURST, "1000 calls in one window: %d lines",
           COHORT_LOG_BURST);
    ok(strstr(s, "<4>refused 0\\x0a<2>forged\n") != NULL, "the limited lines are escaped too");
    cohort_log_limited(LOG_WARNING, "k2", "other key");
    is_int(count_lines(take()), 1, "another key is not held back");
    fake_ms += COHORT_LOG_WINDOW_MS - 1;
    cohort_log_limited(LOG_WARNING, "k1", "still in the window");
    is_str(take(), "", "still within the window: counted");
    fake_ms += 1;
    cohort_log_limited(LOG_WARNING, "k1", "after the window");
    is_str(take(), "<4>after the window (996 similar lines suppressed)\n",
           "the next line after the window carries the count");
    for (int i = 0; i < 10; i++)
        cohort_log_limited(LOG_WARNING, "k1", "again %d", i);
    is_int(count_lines(take()), COHORT_LOG_BURST - 1, "a new burst (the first line counted)");
    cohort_log_limited_flush(0);
    is_str(take(), "", "flush: nothing while the window runs");
    fake_ms += COHORT_LOG_WINDOW_MS;
    cohort_log_limited_flush(0);
    is_str(take(), "<4>again 9 (5 similar lines suppressed)\n",
           "flush after the window: the last suppressed line and the count of the others");
    cohort_log_limited_flush(0);
    is_str(take(), "", "written once");
    for (int i = 0; i < 7; i++)
        cohort_log_limited(LOG_ERR, "k3", "x%d", i);
    take();
    cohort_log_limited_flush(1);
    is_str(take(), "<3>x6 (1 similar lines suppressed)\n", "flush(1): every key, at once");

    /* Accounting holds over many keys and windows; the table stays bounded. */
    unsigned long long calls = 0;
    int lines = 0;
    for (int w = 0; w < 3; w++) {
        for (int i = 0; i < 20000; i++) {
            char key[32];
            snprintf(key, sizeof key, "key-%d", i % (3 * COHORT_LOG_KEYS));
            cohort_log_limited(LOG_WARNING, key, "refusal %d", i);
            calls++;
        }
        fake_ms += COHORT_LOG_WINDOW_MS;
        s = take();
        lines += count_lines(s);
        calls -= suppressed(s);
    }
    cohort_log_limited_flush(1);
    s = take();
    lines += count_lines(s);
    calls -= suppressed(s);
    is_int((long long)calls, (long long)lines,
           "lines written + suppressed counts = calls, with 3x more keys than the table holds");

    cohort_log_set_output(NULL);
    cohort_log_set_clock(NULL);
    fclose(f);
    return tap_done();
}
