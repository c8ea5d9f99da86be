/* progress.c: progress reports for long runs (see progress.h).
 *
 * State: the counts and times of the run, the smoothed rate, and whether a
 * bar is on the terminal now (drawn) so that clear/destroy can erase it.
 * Redraws are throttled by time alone: progress_update reads the clock and
 * returns unless the next report is due. */
#include "progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TTY_PERIOD_MS 200     /* bar: at most 5 redraws a second */
#define PLAIN_PERIOD_MS 10000 /* plain lines: one every 10 s by default */
#define RATE_TAU_S 5.0        /* smoothing time constant of the shown rate */
#define DEFAULT_WIDTH 80      /* columns when the terminal does not say */
#define BAR_MIN 10            /* narrowest bar worth drawing */
#define BAR_MAX 30            /* widest bar */
#define LINE_MAX 512          /* longest report line */

struct progress_t {
    FILE *out;                /* stream drawn on (borrowed) */
    const char *label;        /* first word (borrowed) */
    const char *unit;         /* plural noun for counts (borrowed) */
    int bytes;                /* counts are bytes */
    int no_count;             /* no count while running */
    progress_mode_t mode;     /* when to report */
    int tty;                  /* 1: bar; 0: plain lines */
    unsigned width;           /* fixed width, or 0 = ask the terminal */
    unsigned period_ms;       /* time between reports */
    uint64_t (*now_ms)(void); /* the clock */
    uint64_t t0;              /* start time (ms) */
    uint64_t next_ms;         /* next report due at */
    uint64_t last_ms;         /* time of the last rate sample */
    uint64_t last_done;       /* count at the last rate sample */
    uint64_t done;            /* count so far */
    uint64_t total;           /* expected, 0 = unknown */
    double frac;              /* share done when total is unknown; < 0 unknown */
    double rate;              /* smoothed rate; < 0 until the first sample */
    int drawn;                /* a bar is on the terminal's current line */
    int printed;              /* at least one report was shown */
    int finished;             /* progress_done was called */
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The plain-line period: $COHORT_PROGRESS_INTERVAL_S (seconds, 0.1-3600,
 * decimals allowed) or 10 s; anything else is ignored. */
static unsigned plain_period(void)
{
    const char *s = getenv("COHORT_PROGRESS_INTERVAL_S");
    char *end;
    double v;
    if (!s || !*s)
        return PLAIN_PERIOD_MS;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !(v >= 0.1 && v <= 3600))
        return PLAIN_PERIOD_MS;
    return (unsigned)(v * 1000.0 + 0.5);
}

/* A terminal that understands "\r" and "\x1b[K". */
static int is_terminal(FILE *f)
{
    const char *term = getenv("TERM");
    return isatty(fileno(f)) && !(term && strcmp(term, "dumb") == 0);
}

int progress_new(progress_t **out, const progress_opts_t *o)
{
    progress_t *self = calloc(1, sizeof *self);
    *out = NULL;
    if (!self)
        return -ENOMEM;
    self->out = o->out ? o->out : stderr;
    self->label = o->label ? o->label : "progress";
    self->unit = o->unit ? o->unit : "items";
    self->bytes = o->bytes;
    self->no_count = o->no_count;
    self->mode = o->mode;
    self->tty = o->tty > 0 ? 1 : o->tty < 0 ? 0 : is_terminal(self->out);
    self->width = o->width;
    self->period_ms = self->tty ? TTY_PERIOD_MS : o->interval_ms ? o->interval_ms : plain_period();
    self->now_ms = o->now_ms ? o->now_ms : mono_ms;
    self->t0 = self->now_ms();
    self->last_ms = self->t0;
    /* The first bar after one period (a quick run never flickers); the
     * first plain line after one interval. */
    self->next_ms = self->t0 + self->period_ms;
    self->frac = -1;
    self->rate = -1;
    *out = self;
    return 0;
}

void progress_set_total(progress_t *self, uint64_t total)
{
    if (self)
        self->total = total;
}

void progress_set_fraction(progress_t *self, double frac)
{
    if (!self)
        return;
    if (frac != frac || frac < 0)
        self->frac = -1;
    else
        self->frac = frac > 1 ? 1 : frac;
}

int progress_is_tty(const progress_t *self)
{
    return self && self->mode != PROGRESS_NEVER && self->tty;
}

/* ------------------------------------------------------------ formatting --- */

char *progress_fmt_count(char *buf, size_t len, uint64_t n)
{
    char digits[32], out[48];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n), j = 0;
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            out[j++] = ',';
        out[j++] = digits[i];
    }
    out[j] = '\0';
    snprintf(buf, len, "%s", out);
    return buf;
}

char *progress_fmt_bytes(char *buf, size_t len, uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = -1;
    if (n < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)n);
        return buf;
    }
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    /* Three significant digits; rounding may carry to the next unit. */
    if (v >= 999.5 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

char *progress_fmt_duration(char *buf, size_t len, double seconds)
{
    if (seconds != seconds || seconds < 0 || seconds > 1e12) {
        snprintf(buf, len, "--:--");
        return buf;
    }
    uint64_t s = (uint64_t)seconds; /* down */
    uint64_t h = s / 3600, m = s / 60 % 60, sec = s % 60;
    if (h >= 100)
        snprintf(buf, len, "%llud %02lluh", (unsigned long long)(h / 24),
                 (unsigned long long)(h % 24));
    else if (h > 0)
        snprintf(buf, len, "%llu:%02llu:%02llu", (unsigned long long)h, (unsigned long long)m,
                 (unsigned long long)sec);
    else
        snprintf(buf, len, "%llu:%02llu", (unsigned long long)m, (unsigned long long)sec);
    return buf;
}

char *progress_fmt_rate(char *buf, size_t len, double rate, int bytes)
{
    char n[48];
    if (rate != rate || rate < 0 || rate > 1e18) {
        snprintf(buf, len, "-");
    } else if (bytes) {
        snprintf(buf, len, "%s/s", progress_fmt_bytes(n, sizeof n, (uint64_t)(rate + 0.5)));
    } else if (rate < 9.95) {
        snprintf(buf, len, "%.1f/s", rate);
    } else {
        snprintf(buf, len, "%s/s", progress_fmt_count(n, sizeof n, (uint64_t)(rate + 0.5)));
    }
    return buf;
}

/* The share done, or a negative number when unknown. */
static double share(const progress_view_t *v)
{
    if (v->total)
        return v->done >= v->total ? 1.0 : (double)v->done / (double)v->total;
    return v->frac;
}

/* Seconds left, or negative when unknown. */
static double eta(const progress_view_t *v)
{
    double f = share(v);
    if (v->total && v->rate > 0)
        return v->done >= v->total ? 0 : (double)(v->total - v->done) / v->rate;
    if (!v->total && f > 0 && v->elapsed_s > 0)
        return v->elapsed_s * (1 - f) / f;
    return -1;
}

/* "12,345/27,000 events", "12,345 events", "1.5 MiB/3.0 MiB". */
static void amount(char *buf, size_t len, const progress_view_t *v)
{
    char a[48], b[48];
    if (v->bytes) {
        progress_fmt_bytes(a, sizeof a, v->done);
        if (v->total && !v->final)
            snprintf(buf, len, "%s/%s", a, progress_fmt_bytes(b, sizeof b, v->total));
        else
            snprintf(buf, len, "%s", a);
    } else {
        progress_fmt_count(a, sizeof a, v->done);
        if (v->total && !v->final)
            snprintf(buf, len, "%s/%s %s", a, progress_fmt_count(b, sizeof b, v->total),
                     v->unit ? v->unit : "");
        else
            snprintf(buf, len, "%s %s", a, v->unit ? v->unit : "");
    }
}

size_t progress_format(char *buf, size_t len, const progress_view_t *v, int tty, unsigned width)
{
    char amt[128], rate[48], dur[32], when[48], text[LINE_MAX], bar[BAR_MAX + 3];
    const char *label = v->label ? v->label : "progress";
    double f = share(v);
    int pct = f >= 0 ? (int)(f * 100) : -1; /* down: 100% only when done */
    int n;
    if (!buf || !len)
        return 0;
    amount(amt, sizeof amt, v);
    if (v->no_count && (!v->final || !v->done)) {
        progress_fmt_duration(dur, sizeof dur, v->elapsed_s);
        n = v->final
                ? snprintf(buf, len, "%s: done in %s", label, dur)
                : snprintf(buf, len, tty ? "%s  running, %s elapsed" : "%s: running, %s elapsed",
                           label, dur);
        if (n < 0)
            return 0;
        size_t out = (size_t)n < len ? (size_t)n : len - 1;
        if (tty && width > 1 && out > width - 1)
            buf[out = width - 1] = '\0';
        return out;
    }
    if (v->final) {
        /* The whole run's average rate. */
        double avg = v->elapsed_s > 0 ? (double)v->done / v->elapsed_s : -1;
        progress_fmt_rate(rate, sizeof rate, avg, v->bytes);
        progress_fmt_duration(when, sizeof when, v->elapsed_s);
        snprintf(text, sizeof text, "%s in %s (%s)", amt, when, rate);
    } else {
        double left = eta(v);
        progress_fmt_rate(rate, sizeof rate, v->rate, v->bytes);
        if (left >= 0 || pct >= 0)
            snprintf(when, sizeof when, "ETA %s", progress_fmt_duration(dur, sizeof dur, left));
        else
            snprintf(when, sizeof when, "%s elapsed",
                     progress_fmt_duration(dur, sizeof dur, v->elapsed_s));
        if (tty)
            snprintf(text, sizeof text, "%s  %s  %s", amt, rate, when);
        else if (pct >= 0)
            snprintf(text, sizeof text, "%s (%d%%), %s, %s", amt, pct, rate, when);
        else
            snprintf(text, sizeof text, "%s, %s, %s", amt, rate, when);
    }
    if (!tty) {
        n = snprintf(buf, len, "%s: %s", label, text);
        return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
    }
    if (!width)
        width = DEFAULT_WIDTH;
    if (pct >= 0) {
        /* "LABEL [bar] PPP%  TEXT": the bar takes what room is left. */
        size_t fixed = strlen(label) + 1 + 2 + 1 + 4 + 2 + strlen(text);
        int room = (int)width - 1 - (int)fixed;
        if (room > BAR_MAX)
            room = BAR_MAX;
        if (room >= BAR_MIN) {
            int fill = (int)(f * room + 1e-9);
            bar[0] = '[';
            for (int i = 0; i < room; i++)
                bar[1 + i] = i < fill ? '#' : '.';
            bar[1 + room] = ']';
            bar[2 + room] = '\0';
            n = snprintf(buf, len, "%s %s %3d%%  %s", label, bar, pct, text);
        } else {
            n = snprintf(buf, len, "%s %3d%%  %s", label, pct, text);
        }
    } else {
        n = snprintf(buf, len, "%s  %s", label, text);
    }
    if (n < 0)
        return 0;
    size_t out = (size_t)n < len ? (size_t)n : len - 1;
    if (out > width - 1 && width > 1) { /* never wrap: cut */
        out = width - 1;
        buf[out] = '\0';
    }
    return out;
}

/* ---------------------------------------------------------------- drawing --- */

/* The terminal's width now (fixed one, TIOCGWINSZ, or 80). */
static unsigned columns(const progress_t *self)
{
    struct winsize ws;
    if (self->width)
        return self->width;
    if (ioctl(fileno(self->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return DEFAULT_WIDTH;
}

/* Draws the current state (final or not). */
static void draw(progress_t *self, uint64_t now, int final)
{
    char line[LINE_MAX];
    progress_view_t v = {self->label, self->unit,  self->bytes, self->no_count,
                         self->done,  self->total, self->frac,  (double)(now - self->t0) / 1000.0,
                         self->rate,  final};
    progress_format(line, sizeof line, &v, self->tty, self->tty ? columns(self) : 0);
    if (self->tty) {
        fprintf(self->out, "\r%s\x1b[K%s", line, final ? "\n" : "");
        self->drawn = !final;
    } else {
        fprintf(self->out, "%s\n", line);
    }
    fflush(self->out);
    self->printed = 1;
}

/* Folds the count since the last sample into the smoothed rate. */
static void sample(progress_t *self, uint64_t now)
{
    double dt = (double)(now - self->last_ms) / 1000.0;
    if (dt <= 0)
        return;
    double inst = (double)(self->done - self->last_done) / dt;
    if (self->rate < 0) {
        self->rate = inst;
    } else {
        double a = dt / (RATE_TAU_S + dt); /* ~1 - exp(-dt/tau), without libm */
        self->rate += a * (inst - self->rate);
    }
    self->last_ms = now;
    self->last_done = self->done;
}

void progress_update(progress_t *self, uint64_t done)
{
    if (!self || self->finished || self->mode == PROGRESS_NEVER)
        return;
    self->done = done;
    uint64_t now = self->now_ms();
    if (now < self->next_ms)
        return;
    sample(self, now);
    draw(self, now, 0);
    self->next_ms = now + self->period_ms;
}

void progress_clear(progress_t *self)
{
    if (!self || !self->drawn)
        return;
    fputs("\r\x1b[K", self->out);
    fflush(self->out);
    self->drawn = 0;
    self->next_ms = 0; /* redraw at the next update */
}

void progress_done(progress_t *self)
{
    if (!self || self->finished)
        return;
    self->finished = 1;
    if (self->mode == PROGRESS_NEVER)
        return;
    if (self->tty || self->printed || self->mode == PROGRESS_ALWAYS)
        draw(self, self->now_ms(), 1);
}

void progress_destroy(progress_t **self_p)
{
    progress_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    progress_clear(self);
    free(self);
}
