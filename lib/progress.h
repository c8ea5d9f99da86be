/* progress.h: progress reports for long runs (cohort-agent send, cohortctl
 * rebuild, backup and restore), drawn on a stream that is not the
 * program's results (stderr), so stdout stays clean for them.
 *
 * What is drawn depends on the stream and the mode:
 * - A terminal (isatty, and TERM is not "dumb"): a one-line bar redrawn in
 *   place ("\r...\x1b[K") at most 5 times a second: the count so far, the
 *   total and a bar with the percentage when known, the rate and the ETA;
 *   fitted to the terminal's width. progress_done leaves the final state
 *   on its line ("... in 0:42 (1,234/s)") and ends it with a newline.
 * - Not a terminal (a log, a pipe): plain lines, one every interval (10 s;
 *   $COHORT_PROGRESS_INTERVAL_S, 0.1-3600 s, changes it) while the run lasts,
 *   and a final line at progress_done if any line was printed before, or
 *   always in PROGRESS_ALWAYS mode. A run shorter than the interval is
 *   therefore silent in PROGRESS_AUTO mode (logs stay as they were).
 * - PROGRESS_NEVER: nothing at all.
 * The rate shown while running is smoothed (exponential, time constant
 * 5 s); the final line's rate is the whole run's average. The ETA comes
 * from the total (remaining / rate) or, when only the share of work done
 * is known (progress_set_fraction, e.g. bytes of an input file read), from
 * that share and the time so far.
 *
 * Contracts: single-threaded (the thread that calls progress_update); a
 * NULL progress_t is accepted by every function and does nothing, so
 * callers need no checks; nothing is printed on stdout; no personal data
 * is ever shown (only counts, sizes and times). */
#ifndef COHORT_PROGRESS_H
#define COHORT_PROGRESS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress_t progress_t;

/* When to report (the --progress / --no-progress overrides). */
typedef enum {
    PROGRESS_AUTO = 0,   /* bar on a terminal; else lines, final only after a periodic one */
    PROGRESS_ALWAYS = 1, /* as AUTO, but the final line is always printed (--progress) */
    PROGRESS_NEVER = 2,  /* nothing (--no-progress) */
} progress_mode_t;

/* How to report. Zeroed fields take the defaults. */
typedef struct {
    FILE *out;                /* the stream drawn on (borrowed); NULL = stderr */
    const char *label;        /* first word of every line, e.g. "rebuild" (borrowed, kept) */
    const char *unit;         /* plural noun after counts, e.g. "events"; ignored when bytes */
    int bytes;                /* counts are bytes: shown as B, KiB, MiB, GiB */
    int no_count;             /* no count while running (one opaque step, e.g. a backup): only
                                 the time so far; the final line shows the count if set */
    progress_mode_t mode;     /* when to report */
    int tty;                  /* 0 = detect from out; 1 = a terminal; -1 = not a terminal */
    unsigned width;           /* terminal columns; 0 = ask the terminal (else 80) */
    unsigned interval_ms;     /* plain lines: period; 0 = $COHORT_PROGRESS_INTERVAL_S or 10 s */
    uint64_t (*now_ms)(void); /* clock (monotonic ms), for tests; NULL = CLOCK_MONOTONIC */
} progress_opts_t;

/* Starts a report; the clock starts now. Returns 0 and *out, or -ENOMEM
 * (*out NULL: callers may go on, every call then does nothing). */
int progress_new(progress_t **out, const progress_opts_t *o);

/* Sets the total expected (0 = unknown). */
void progress_set_total(progress_t *self, uint64_t total);

/* When no total is known: the share of the work done, 0..1 (values
 * outside are clamped; negative = unknown), for the percentage and ETA. */
void progress_set_fraction(progress_t *self, double frac);

/* Records the count so far (never decreasing is expected) and redraws if
 * one is due. Cheap enough to call per item (one clock read). */
void progress_update(progress_t *self, uint64_t done);

/* Erases the bar from the terminal (no-op otherwise), so another message
 * can be printed on a clean line; the next due update draws it again. */
void progress_clear(progress_t *self);

/* The run is over: draws the final state as described above. Later
 * updates do nothing. */
void progress_done(progress_t *self);

/* Erases a bar still drawn (progress_done not called, e.g. on an error)
 * and frees. Nulls *self_p. Idempotent. */
void progress_destroy(progress_t **self_p);

/* Whether this report draws a bar (a terminal, not NEVER). */
int progress_is_tty(const progress_t *self);

/* ---- formatting, exposed for the unit tests ---- */

/* n with thousands separators: "999", "12,345". Returns buf. */
char *progress_fmt_count(char *buf, size_t len, uint64_t n);

/* A byte count: "512 B", "1.5 KiB", "12.3 MiB", "1.02 GiB" (binary units,
 * three significant digits from KiB on). Returns buf. */
char *progress_fmt_bytes(char *buf, size_t len, uint64_t n);

/* A duration: "0:07", "12:34", "1:02:03"; 100 hours or more "4d 05h";
 * negative, NaN or infinite (unknown) "--:--". Rounded to whole seconds
 * (down, so an ETA of 0.4 s shows 0:00). Returns buf. */
char *progress_fmt_duration(char *buf, size_t len, double seconds);

/* A rate per second: "1,234/s" (counts; one decimal below 10, e.g.
 * "2.5/s"), "12.3 MiB/s" (bytes); "-" when unknown (negative). */
char *progress_fmt_rate(char *buf, size_t len, double rate, int bytes);

/* One state to format. */
typedef struct {
    const char *label; /* first word */
    const char *unit;  /* plural noun (counts) */
    int bytes;         /* counts are bytes */
    int no_count;      /* running: show only the time so far */
    uint64_t done;     /* so far */
    uint64_t total;    /* expected, 0 = unknown */
    double frac;       /* share done when total is 0; negative = unknown */
    double elapsed_s;  /* since the start */
    double rate;       /* per second; negative = unknown */
    int final;         /* the run is over */
} progress_view_t;

/* Formats one report into buf (NUL-terminated, no "\r" or newline):
 * - tty, running:  "LABEL [#####.....]  45%  12,345/27,000 events  1,234/s  ETA 0:12"
 *   (no bar or percentage without a total or share; "0:10 elapsed" in place
 *   of the ETA without them), fitted to width columns (the bar shrinks, then
 *   goes; at worst the text is cut);
 * - tty, final:    "LABEL [##########] 100%  27,000 events in 0:22 (1,227/s)";
 * - plain, running: "LABEL: 12,345/27,000 events (45%), 1,234/s, ETA 0:12";
 * - plain, final:   "LABEL: 27,000 events in 0:22 (1,227/s)";
 * - no_count, running: "LABEL  running, 0:03 elapsed" (plain: "LABEL: running, ...");
 *   final with a count of 0: "LABEL: done in 0:03".
 * Returns the length written. */
size_t progress_format(char *buf, size_t len, const progress_view_t *v, int tty, unsigned width);

#endif
