/* log.c: stderr logging with syslog priority prefixes (see log.h). One
 * fprintf per line, so concurrent lines from the worker thread and the loop
 * thread do not interleave within a line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Most verbose priority that is written: set on the loop thread (start,
 * SIGHUP), read by every thread that logs. */
static _Atomic int level = LOG_INFO;

void cohort_log_set_level(int prio)
{
    level = prio;
}

int cohort_log_parse_level(const char *name)
{
    static const struct {
        const char *name;
        int prio;
    } names[] = {{"error", LOG_ERR},
                 {"warning", LOG_WARNING},
                 {"notice", LOG_NOTICE},
                 {"info", LOG_INFO},
                 {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].prio;
    return -EINVAL;
}

void cohort_log(int prio, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (prio > level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "<%d>%s\n", prio, line);
}

/* TEMPORARY (replaced by the sec-limits branch): at most 5 lines a minute
 * per key, over a small table. */
#include <time.h>
void cohort_log_limited(int prio, const char *key, const char *fmt, ...)
{
    static struct {
        char key[64];
        time_t start;
        unsigned n;
    } t[64];
    char line[1024];
    va_list ap;
    time_t now = time(NULL);
    unsigned h = 5381;
    for (const char *p = key; *p; p++)
        h = h * 33 + (unsigned char)*p;
    h %= 64;
    if (strcmp(t[h].key, key) != 0 || now - t[h].start >= 60) {
        snprintf(t[h].key, sizeof t[h].key, "%s", key);
        t[h].start = now;
        t[h].n = 0;
    }
    if (++t[h].n > 5)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cohort_log(prio, "%s", line);
}
