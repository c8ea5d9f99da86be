/* t_progress: unit tests for the progress reports (lib/progress.c):
 * number, size, duration and rate formatting; the bar line with and
 * without a total or share, fitted to the width; the plain lines; and,
 * with a fake clock, the throttling: bars at most every 200 ms, plain
 * lines every interval, the final line only after a periodic one (AUTO)
 * or always (ALWAYS), nothing in NEVER mode, and clear/destroy erasing a
 * drawn bar. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "tap.h"

static uint64_t fake_now;
static uint64_t fake_clock(void)
{
    return fake_now;
}

/* Everything written to f so far, as a string (static buffer). */
static const char *contents(FILE *f)
{
    static char buf[8192];
    long n;
    fflush(f);
    n = ftell(f);
    rewind(f);
    n = (long)fread(buf, 1, n > 0 && n < (long)sizeof buf - 1 ? (size_t)n : 0, f);
    buf[n > 0 ? n : 0] = '\0';
    fseek(f, 0, SEEK_END);
    return buf;
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

int main(void)
{
    char b[512];
    progress_view_t v;

    /* ---- numbers ---- */
    is_str(progress_fmt_count(b, sizeof b, 0), "0", "count 0");
    is_str(progress_fmt_count(b, sizeof b, 999), "999", "count 999");
    is_str(progress_fmt_count(b, sizeof b, 1000), "1,000", "count 1,000");
    is_str(progress_fmt_count(b, sizeof b, 1234567), "1,234,567", "count 1,234,567");
    is_str(progress_fmt_count(b, sizeof b, UINT64_MAX), "18,446,744,073,709,551,615",
           "count 2^64-1");
    is_str(progress_fmt_bytes(b, sizeof b, 512), "512 B", "bytes 512");
    is_str(progress_fmt_bytes(b, sizeof b, 1536), "1.50 KiB", "bytes 1.5 KiB");
    is_str(progress_fmt_bytes(b, sizeof b, 12900000), "12.3 MiB", "bytes 12.3 MiB");
    is_str(progress_fmt_bytes(b, sizeof b, 999 * 1024), "999 KiB", "bytes 999 KiB");
    is_str(progress_fmt_bytes(b, sizeof b, 1000 * 1024), "0.98 MiB",
           "bytes 1000 KiB: three digits at most");
    is_str(progress_fmt_bytes(b, sizeof b, 1048575), "1.00 MiB", "bytes just under 1 MiB round up");
    is_str(progress_fmt_bytes(b, sizeof b, 1097000000ull), "1.02 GiB", "bytes 1.02 GiB");

    /* ---- durations ---- */
    is_str(progress_fmt_duration(b, sizeof b, 0), "0:00", "0 s");
    is_str(progress_fmt_duration(b, sizeof b, 7.9), "0:07", "7.9 s rounds down");
    is_str(progress_fmt_duration(b, sizeof b, 754), "12:34", "12:34");
    is_str(progress_fmt_duration(b, sizeof b, 3723), "1:02:03", "1:02:03");
    is_str(progress_fmt_duration(b, sizeof b, 100 * 3600.0 + 5 * 3600), "4d 09h", "105 h");
    is_str(progress_fmt_duration(b, sizeof b, -1), "--:--", "unknown");
    is_str(progress_fmt_duration(b, sizeof b, 1.0 / 0.0), "--:--", "infinite");

    /* ---- rates ---- */
    is_str(progress_fmt_rate(b, sizeof b, 1234.4, 0), "1,234/s", "rate 1,234/s");
    is_str(progress_fmt_rate(b, sizeof b, 2.54, 0), "2.5/s", "slow rate with a decimal");
    is_str(progress_fmt_rate(b, sizeof b, 0, 0), "0.0/s", "rate 0");
    is_str(progress_fmt_rate(b, sizeof b, -1, 0), "-", "unknown rate");
    is_str(progress_fmt_rate(b, sizeof b, 10.5 * 1048576, 1), "10.5 MiB/s", "byte rate");

    /* ---- lines ---- */
    v = (progress_view_t){"send", "events", 0, 0, 12345, 27000, -1, 10.0, 1234, 0};
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "send: 12,345/27,000 events (45%), 1,234/s, ETA 0:11", "plain line with a total");
    progress_format(b, sizeof b, &v, 1, 80);
    is_str(b, "send [###########...............]  45%  12,345/27,000 events  1,234/s  ETA 0:11",
           "bar with a total, 80 columns: 11 of 26 filled");
    ok(strlen(b) <= 79, "fits 80 columns (%zu)", strlen(b));
    progress_format(b, sizeof b, &v, 1, 60);
    is_str(b, "send  45%  12,345/27,000 events  1,234/s  ETA 0:11",
           "60 columns: no room for a bar, the percentage stays");
    progress_format(b, sizeof b, &v, 1, 30);
    is_int(strlen(b), 29, "30 columns: cut to 29");

    v = (progress_view_t){"send", "events", 0, 0, 500, 0, 0.25, 20.0, 25, 0};
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "send: 500 events (25%), 25/s, ETA 1:00",
           "plain line with a share: ETA from the time so far");
    v.frac = -1;
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "send: 500 events, 25/s, 0:20 elapsed", "plain line without total or share");
    progress_format(b, sizeof b, &v, 1, 80);
    is_str(b, "send  500 events  25/s  0:20 elapsed", "bar line without total: no bar");

    v = (progress_view_t){"rebuild", "events", 0, 0, 30000, 30000, -1, 22.5, 99, 1};
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "rebuild: 30,000 events in 0:22 (1,333/s)", "plain final line: the average rate");
    progress_format(b, sizeof b, &v, 1, 80);
    ok(strncmp(b, "rebuild [###", 12) == 0 && strstr(b, "] 100%  30,000 events in 0:22 (1,333/s)"),
       "final bar: full, 100%%, the average: %s", b);
    v = (progress_view_t){"restore", NULL, 1, 0, 3 << 20, 6 << 20, -1, 2, 1 << 20, 0};
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "restore: 3.00 MiB/6.00 MiB (50%), 1.00 MiB/s, ETA 0:03", "bytes");
    v = (progress_view_t){"tail", "events", 0, 0, 0, 0, -1, 3.2, -1, 0};
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "tail: 0 events, -, 0:03 elapsed", "nothing known yet");
    v = (progress_view_t){"backup", "events", 0, 1, 0, 0, -1, 3.2, -1, 0};
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "backup: running, 0:03 elapsed", "no count: the time so far (plain)");
    progress_format(b, sizeof b, &v, 1, 80);
    is_str(b, "backup  running, 0:03 elapsed", "no count: the time so far (bar)");
    v.final = 1;
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "backup: done in 0:03", "no count, final, nothing counted");
    v.done = 30000;
    v.elapsed_s = 2;
    progress_format(b, sizeof b, &v, 0, 0);
    is_str(b, "backup: 30,000 events in 0:02 (15,000/s)", "no count, final with a count set");

    /* ---- throttling, with a fake clock ---- */
    {
        FILE *f = tmpfile();
        progress_t *p = NULL;
        fake_now = 1000;
        progress_new(&p, &(progress_opts_t){.out = f,
                                            .label = "send",
                                            .unit = "events",
                                            .tty = -1,
                                            .interval_ms = 5000,
                                            .now_ms = fake_clock});
        ok(p && !progress_is_tty(p), "plain mode when told it is not a terminal");
        progress_set_total(p, 1000);
        for (int i = 1; i <= 100; i++) { /* 10 s, 10 events each 100 ms */
            fake_now += 100;
            progress_update(p, (uint64_t)i * 10);
        }
        const char *s = contents(f);
        is_int(count_of(s, "\n"), 2, "10 s at a 5 s interval: 2 plain lines");
        ok(strstr(s, "send: 500/1,000 events (50%), 100/s, ETA 0:05\n") != NULL,
           "the first after 5 s: count, total, share, rate, ETA");
        ok(!strchr(s, '\r') && !strchr(s, '\x1b'), "no terminal control characters");
        progress_done(p);
        s = contents(f);
        ok(strstr(s, "send: 1,000 events in 0:10 (100/s)\n") != NULL,
           "a final line since periodic lines were printed");
        progress_update(p, 2000);
        is_int(count_of(contents(f), "\n"), 3, "no update after done");
        progress_destroy(&p);
        ok(p == NULL, "destroy nulls the pointer");
        progress_destroy(&p);
        fclose(f);
    }
    {
        FILE *f = tmpfile();
        progress_t *p = NULL;
        fake_now = 0;
        progress_new(
            &p, &(progress_opts_t){
                    .out = f, .label = "x", .tty = -1, .interval_ms = 5000, .now_ms = fake_clock});
        fake_now = 4000;
        progress_update(p, 10);
        progress_done(p);
        is_str(contents(f), "", "AUTO, a run shorter than the interval: silent");
        progress_destroy(&p);
        fclose(f);

        /* $COHORT_PROGRESS_INTERVAL_S: seconds, decimals allowed, 0.1-3600;
         * anything else leaves the 10 s default. */
        static const struct {
            const char *env;
            uint64_t period_ms;
        } envs[] = {{"0.5", 500},    {"2", 2000},   {"0.1", 100}, {"0.05", 10000},
                    {"3601", 10000}, {"1s", 10000}, {"", 10000}};
        for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
            setenv("COHORT_PROGRESS_INTERVAL_S", envs[i].env, 1);
            f = tmpfile();
            fake_now = 0;
            progress_new(
                &p, &(progress_opts_t){.out = f, .label = "x", .tty = -1, .now_ms = fake_clock});
            fake_now = envs[i].period_ms - 1;
            progress_update(p, 1);
            int before = count_of(contents(f), "\n");
            fake_now = envs[i].period_ms;
            progress_update(p, 2);
            int at = count_of(contents(f), "\n");
            ok(before == 0 && at == 1, "COHORT_PROGRESS_INTERVAL_S=\"%s\": first line at %llu ms",
               envs[i].env, (unsigned long long)envs[i].period_ms);
            progress_destroy(&p);
            fclose(f);
        }
        unsetenv("COHORT_PROGRESS_INTERVAL_S");

        f = tmpfile();
        progress_new(&p, &(progress_opts_t){.out = f,
                                            .label = "x",
                                            .unit = "events",
                                            .mode = PROGRESS_ALWAYS,
                                            .tty = -1,
                                            .interval_ms = 5000,
                                            .now_ms = fake_clock});
        progress_update(p, 10);
        progress_done(p);
        is_str(contents(f), "x: 10 events in 0:00 (-)\n", "ALWAYS: the final line regardless");
        progress_destroy(&p);
        fclose(f);

        f = tmpfile();
        progress_new(
            &p,
            &(progress_opts_t){
                .out = f, .label = "x", .mode = PROGRESS_NEVER, .tty = 1, .now_ms = fake_clock});
        for (int i = 0; i < 50; i++) {
            fake_now += 1000;
            progress_update(p, (uint64_t)i);
        }
        progress_done(p);
        ok(!progress_is_tty(p), "NEVER: no bar");
        is_str(contents(f), "", "NEVER: nothing at all");
        progress_destroy(&p);
        fclose(f);
    }
    {
        FILE *f = tmpfile();
        progress_t *p = NULL;
        fake_now = 0;
        progress_new(&p, &(progress_opts_t){.out = f,
                                            .label = "rebuild",
                                            .unit = "events",
                                            .tty = 1,
                                            .width = 80,
                                            .now_ms = fake_clock});
        ok(progress_is_tty(p), "bar mode when told it is a terminal");
        progress_set_total(p, 1000);
        for (int i = 1; i <= 100; i++) { /* 1 s, updates every 10 ms */
            fake_now += 10;
            progress_update(p, (uint64_t)i * 10);
        }
        const char *s = contents(f);
        is_int(count_of(s, "\r"), 5, "1 s of updates every 10 ms: 5 redraws (200 ms apart)");
        is_int(count_of(s, "\x1b[K"), 5, "each clears the rest of the line");
        ok(!strchr(s, '\n'), "no newline while running");
        ok(strstr(s, "\rrebuild [") && strstr(s, "/1,000 events"), "a bar with the total");
        progress_clear(p);
        s = contents(f);
        ok(strlen(s) >= 4 && strcmp(s + strlen(s) - 4, "\r\x1b[K") == 0, "clear erases the line");
        fake_now += 1;
        progress_update(p, 1000);
        is_int(count_of(contents(f), "\r"), 7, "the next update draws again at once");
        progress_done(p);
        s = contents(f);
        ok(strstr(s, "] 100%  1,000 events in 0:01 (") && s[strlen(s) - 1] == '\n',
           "done: the final state, ended by a newline");
        progress_destroy(&p);
        fclose(f);

        f = tmpfile();
        progress_new(&p,
                     &(progress_opts_t){
                         .out = f, .label = "send", .tty = 1, .width = 80, .now_ms = fake_clock});
        fake_now += 300;
        progress_update(p, 5);
        progress_destroy(&p);
        s = contents(f);
        ok(strlen(s) >= 4 && strcmp(s + strlen(s) - 4, "\r\x1b[K") == 0,
           "destroy without done erases the bar");
        fclose(f);
    }
    {
        /* NULL is accepted everywhere */
        progress_set_total(NULL, 1);
        progress_set_fraction(NULL, 0.5);
        progress_update(NULL, 1);
        progress_clear(NULL);
        progress_done(NULL);
        progress_destroy(NULL);
        ok(!progress_is_tty(NULL), "a NULL report does nothing");
    }
    return tap_done();
}
