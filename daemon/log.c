/* log.c: stderr logging with syslog priority prefixes, escaped so that one
 * call is one line, and a per-key rate limit (see log.h). A mutex makes
 * each line one fprintf and guards the rate limit's table, so lines from
 * the worker thread and the loop thread never interleave. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

/* Most verbose priority that is written: set on the loop thread (start,
 * SIGHUP), read by every thread that logs. */
static _Atomic int level = LOG_INFO;

/* One key of the rate limit. */
typedef struct {
    char key[COHORT_LOG_KEY_MAX + 1]; /* the key; "" = a free slot */
    uint64_t start_ms;                /* when its current window began */
    uint64_t last_ms;                 /* its last call (for eviction) */
    unsigned lines;                   /* lines written in the current window */
    uint64_t suppressed;              /* calls counted, not written, since its last line */
    int prio;                         /* priority of the last suppressed line */
    char last[COHORT_LOG_MAX];        /* the last suppressed message (formatted) */
} limit_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* guards all below */
static limit_t table[COHORT_LOG_KEYS];                 /* the keys, open addressing */
static uint64_t (*clock_fn)(void);                     /* test clock, or NULL */
static FILE *out;                                      /* test output, or NULL (stderr) */

/* Slots probed for one key (from its hash): a key lives in one of them. */
#define PROBES 8

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

void cohort_log_set_clock(uint64_t (*now_ms)(void))
{
    pthread_mutex_lock(&mu);
    clock_fn = now_ms;
    pthread_mutex_unlock(&mu);
}

void cohort_log_set_output(FILE *f)
{
    pthread_mutex_lock(&mu);
    out = f;
    pthread_mutex_unlock(&mu);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    if (clock_fn)
        return clock_fn();
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Length of the valid UTF-8 sequence at s (n bytes left) that is not a C1
 * control, or 0 if its first byte must be escaped. */
static size_t utf8_ok(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return (c >= 0x20 && c != 0x7f) ? 1 : 0;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return len;
}

/* Writes msg (n bytes) escaped into dst (at least 4 * n + 1 bytes). */
static void escape(char *dst, const char *msg, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)msg;
    size_t i = 0, j = 0;
    while (i < n) {
        size_t k = utf8_ok(s + i, n - i);
        if (k) {
            memcpy(dst + j, s + i, k);
            i += k;
            j += k;
        } else {
            dst[j++] = '\\';
            dst[j++] = 'x';
            dst[j++] = hex[s[i] >> 4];
            dst[j++] = hex[s[i] & 15];
            i++;
        }
    }
    dst[j] = '\0';
}

/* Writes the formatted message msg at prio, escaped, with suffix (trusted,
 * may be ""). Called with mu held. */
static void emit(int prio, const char *msg, const char *suffix)
{
    char esc[4 * COHORT_LOG_MAX + 1];
    escape(esc, msg, strlen(msg));
    fprintf(out ? out : stderr, "<%d>%s%s\n", prio, esc, suffix);
    if (out)
        fflush(out);
}

/* Formats into line (COHORT_LOG_MAX bytes), marking a cut with "...". */
static void format(char *line, const char *fmt, va_list ap)
{
    int n = vsnprintf(line, COHORT_LOG_MAX, fmt, ap);
    if (n >= COHORT_LOG_MAX)
        memcpy(line + COHORT_LOG_MAX - 4, "...", 4);
}

void cohort_log(int prio, const char *fmt, ...)
{
    char line[COHORT_LOG_MAX];
    va_list ap;
    if (prio > level)
        return;
    va_start(ap, fmt);
    format(line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&mu);
    emit(prio, line, "");
    pthread_mutex_unlock(&mu);
}

/* Writes l's pending count (its last suppressed line, and how many others)
 * and clears it. Called with mu held. */
static void flush_one(limit_t *l)
{
    char suffix[64] = "";
    if (l->suppressed == 0)
        return;
    if (l->suppressed > 1)
        snprintf(suffix, sizeof suffix, " (%llu similar lines suppressed)",
                 (unsigned long long)(l->suppressed - 1));
    emit(l->prio, l->last, suffix);
    l->suppressed = 0;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void cohort_log_limited(int prio, const char *key, const char *fmt, ...)
{
    char line[COHORT_LOG_MAX], k[COHORT_LOG_KEY_MAX + 1], suffix[64] = "";
    va_list ap;
    if (prio > level)
        return;
    va_start(ap, fmt);
    format(line, fmt, ap);
    va_end(ap);
    snprintf(k, sizeof k, "%s", key);
    pthread_mutex_lock(&mu);
    uint64_t now = now_ms(), h = hash(k);
    limit_t *l = NULL, *victim = NULL;
    for (int i = 0; i < PROBES && !l; i++) {
        limit_t *s = &table[(h + (uint64_t)i) % COHORT_LOG_KEYS];
        if (strcmp(s->key, k) == 0 && s->key[0])
            l = s;
        else if (!victim || (victim->key[0] && (!s->key[0] || s->last_ms < victim->last_ms)))
            victim = s;
    }
    if (!l) { /* a new key: a free slot, or the least recently used of those probed */
        l = victim;
        flush_one(l);
        memset(l, 0, sizeof *l);
        snprintf(l->key, sizeof l->key, "%s", k);
        l->start_ms = now;
    } else if (now - l->start_ms >= COHORT_LOG_WINDOW_MS) {
        if (l->suppressed)
            snprintf(suffix, sizeof suffix, " (%llu similar lines suppressed)",
                     (unsigned long long)l->suppressed);
        l->suppressed = 0;
        l->start_ms = now;
        l->lines = 0;
    }
    l->last_ms = now;
    if (l->lines < COHORT_LOG_BURST) {
        l->lines++;
        emit(prio, line, suffix);
    } else {
        l->suppressed++;
        l->prio = prio;
        memcpy(l->last, line, sizeof line);
    }
    pthread_mutex_unlock(&mu);
}

void cohort_log_limited_flush(int all)
{
    pthread_mutex_lock(&mu);
    uint64_t now = now_ms();
    for (size_t i = 0; i < COHORT_LOG_KEYS; i++) {
        limit_t *l = &table[i];
        if (l->key[0] && l->suppressed && (all || now - l->start_ms >= COHORT_LOG_WINDOW_MS)) {
            flush_one(l);
            /* a new window begins with the line just written */
            l->start_ms = now;
            l->lines = 1;
        }
    }
    pthread_mutex_unlock(&mu);
}
