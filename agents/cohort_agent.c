/* cohort_agent.c: cohort-agent, sends JSON Lines events to cohortd.
 *
 * Contract:
 * - `cohort-agent send FILE|-` reads one Event per line (cohort_json.h
 *   mapping; blank lines and lines whose first non-blank is '#' skipped),
 *   sends them through libcohort with a bounded window, and prints one
 *   result line per event on stdout, in the order results arrive:
 *     ACCEPTED line=N id=UUID seq=S           (also DUPLICATE)
 *     REJECTED line=N id=UUID seq=0 code=NAME reason="..."
 *     UNDELIVERED line=N id=UUID reason="..."
 *     INVALID line=N reason="..."             (the line did not parse)
 *   or, with --json, the same as one JSON object per line. A summary of
 *   counts goes to stderr.
 * - Input is read without blocking the socket (poll on both), so a slow
 *   stream (e.g. a pipe) is sent as it comes and a fast file is batched.
 * - Every resend carries the same event_id (the daemon dedupes), so no
 *   event is stored twice. Note: a line without eventId gets a fresh id
 *   each run; give ids in the input to make re-running a file safe.
 * - Once an event is given up (UNDELIVERED), lines not yet sent are not
 *   sent: they are reported UNDELIVERED "not sent" (fail fast when the
 *   daemon is gone, rather than waiting out a deadline per window).
 * - Exit 0 when every event was ACCEPTED or DUPLICATE, 1 when anything was
 *   rejected, invalid or undelivered (or a runtime failure), 2 for usage
 *   errors (bad flags, unreadable FILE, bad endpoint).
 * - Logs carry no event contents: parse errors have quoted values redacted. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cohort_cli.h"
#include "cohort_client.h"
#include "cohort_json.h"
#include "uuid7.h"

#define PROG "cohort-agent"
#define MAX_LINE (8u << 20) /* longest input line accepted */
#define READ_CHUNK (64u << 10)

/* What the command line asked for. */
typedef struct {
    const char *endpoint; /* daemon endpoint */
    const char *file;     /* input path, "-" for stdin */
    unsigned window;      /* unacked events */
    unsigned timeout_ms;  /* per attempt */
    unsigned deadline_s;  /* per event, from when it was read */
    int json;             /* JSON Lines output */
    int quiet;            /* summary only */
} args_t;

/* Counts for the summary and the exit code. */
typedef struct {
    uint64_t accepted, duplicate, rejected, undelivered, invalid;
} counts_t;

/* The run's state, shared with the result callback. */
typedef struct {
    const args_t *a;
    counts_t c;
    int stop_sending; /* an event was given up: send no more */
    int io_error;     /* reading the input failed */
} agent_t;

/* Buffered non-blocking-friendly line reader over a file descriptor. */
typedef struct {
    int fd;
    char *buf;
    size_t start, len, cap; /* unconsumed bytes are buf[start, len) */
    size_t scanned;         /* bytes from start known to hold no '\n' */
    int eof;                /* read returned 0 */
    int skipping;           /* discarding the rest of an overlong line */
    uint64_t lineno;        /* number of the last line returned */
} reader_t;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROG " [OPTION]... send FILE|-\n"
            "Sends events (JSON Lines, one Event per line; blank and '#' lines skipped) to\n"
            "cohortd and prints one result per event on stdout:\n"
            "  ACCEPTED|DUPLICATE line=N id=UUID seq=S\n"
            "  REJECTED line=N id=UUID seq=0 code=CODE reason=\"...\"\n"
            "  UNDELIVERED line=N id=UUID reason=\"...\"\n"
            "  INVALID line=N reason=\"...\"\n"
            "\n"
            "  -e, --endpoint ENDPOINT  daemon endpoint (default: $COHORT_ENDPOINT or %s)\n"
            "  -w, --window N           unacked events in flight (default 256)\n"
            "  -t, --timeout-ms MS      wait for an ack this long before resending (default 2000)\n"
            "  -d, --deadline-s S       give an event up this long after it is read (default 60);\n"
            "                           after that, lines not yet sent are not sent\n"
            "  -j, --json               print results as JSON Lines\n"
            "  -q, --quiet              print only the summary (on stderr)\n"
            "  -h, --help               show this help and exit\n"
            "  -V, --version            show the version and exit\n"
            "\n"
            "Resends reuse the event's eventId, so the daemon stores each event once.\n"
            "Exit status: 0 all ACCEPTED or DUPLICATE, 1 anything else, 2 usage error.\n",
            COHORT_CLIENT_DEFAULT_ENDPOINT);
}

/* Fills a from argv. Returns 0 to run, 1 to exit 0 (help, version), or 2
 * after printing a usage error. */
static int parse_args(args_t *a, int argc, char **argv)
{
    static const struct option lo[] = {{"endpoint", required_argument, 0, 'e'},
                                       {"window", required_argument, 0, 'w'},
                                       {"timeout-ms", required_argument, 0, 't'},
                                       {"deadline-s", required_argument, 0, 'd'},
                                       {"json", no_argument, 0, 'j'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    const char *env = getenv("COHORT_ENDPOINT");
    int c;

    *a = (args_t){.endpoint = (env && *env) ? env : COHORT_CLIENT_DEFAULT_ENDPOINT,
                  .window = 256,
                  .timeout_ms = 2000,
                  .deadline_s = 60};
    while ((c = getopt_long(argc, argv, "e:w:t:d:jqhV", lo, NULL)) != -1) {
        switch (c) {
        case 'e':
            a->endpoint = optarg;
            break;
        case 'w':
            if (cohort_cli_uint(optarg, 1, 65536, &a->window) < 0) {
                fprintf(stderr, PROG ": --window: expected a number from 1 to 65536\n");
                return 2;
            }
            break;
        case 't':
            if (cohort_cli_uint(optarg, 1, 3600000, &a->timeout_ms) < 0) {
                fprintf(stderr, PROG ": --timeout-ms: expected a number from 1 to 3600000\n");
                return 2;
            }
            break;
        case 'd':
            if (cohort_cli_uint(optarg, 1, 604800, &a->deadline_s) < 0) {
                fprintf(stderr, PROG ": --deadline-s: expected a number from 1 to 604800\n");
                return 2;
            }
            break;
        case 'j':
            a->json = 1;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf(PROG " %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try '" PROG " --help' for more information.\n");
            return 2;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "send") != 0) {
        fprintf(stderr, PROG ": expected 'send FILE' (or 'send -' for standard input)\n"
                             "Try '" PROG " --help' for more information.\n");
        return 2;
    }
    if (*a->endpoint == '\0') {
        fprintf(stderr, PROG ": --endpoint: empty endpoint\n");
        return 2;
    }
    a->file = argv[optind + 1];
    return 0;
}

/* ---------------------------------------------------------------- output --- */

/* Copies src to dst (n bytes), replacing each '...'-quoted part longer than
 * one character with '...', so that parse errors never echo input values. */
static void redact(char *dst, size_t n, const char *src)
{
    size_t o = 0;

    for (const char *p = src; *p && o + 6 < n; p++) {
        const char *q;
        if (*p == '\'' && (q = strchr(p + 1, '\'')) != NULL) {
            /* Single-character tokens ('{', ',') are syntax, not data. */
            size_t len = q - p > 2 ? 5 : (size_t)(q - p) + 1;
            if (o + len + 1 >= n)
                break;
            memcpy(dst + o, q - p > 2 ? "'...'" : p, len);
            o += len;
            p = q;
            continue;
        }
        dst[o++] = *p;
    }
    dst[o] = '\0';
}

/* Prints s as a double-quoted string with \", \\ and control bytes escaped. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t n)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    if (ev != NULL)
        return ev->name;
    snprintf(buf, n, "%s_%d", d->short_name, v);
    return buf;
}

/* Prints one result. id may be NULL (INVALID); code may be NULL. */
static void emit(agent_t *ag, const char *result, uint64_t line, const uint8_t *id, int has_seq,
                 uint64_t seq, const char *code, const char *reason)
{
    char uuid[37];

    if (ag->a->quiet)
        return;
    if (id != NULL)
        uuid7_format(id, uuid);
    if (ag->a->json) {
        json_t *o = json_object();
        char *s;
        if (o == NULL)
            return;
        json_object_set_new(o, "line", json_integer((json_int_t)line));
        if (id != NULL)
            json_object_set_new(o, "eventId", json_string(uuid));
        json_object_set_new(o, "result", json_string(result));
        if (has_seq)
            json_object_set_new(o, "seq", json_integer((json_int_t)seq));
        if (code != NULL)
            json_object_set_new(o, "code", json_string(code));
        if (reason != NULL) {
            json_t *r = json_string(reason);
            json_object_set_new(o, "reason", r ? r : json_string("(reason not valid UTF-8)"));
        }
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s != NULL) {
            fputs(s, stdout);
            fputc('\n', stdout);
            free(s);
        }
        json_decref(o);
        return;
    }
    printf("%s line=%" PRIu64, result, line);
    if (id != NULL)
        printf(" id=%s", uuid);
    if (has_seq)
        printf(" seq=%" PRIu64, seq);
    if (code != NULL)
        printf(" code=%s", code);
    if (reason != NULL) {
        fputs(" reason=", stdout);
        put_quoted(stdout, reason);
    }
    fputc('\n', stdout);
}

/* libcohort result callback; tag is the line number. */
static void on_result(void *arg, const cohort_client_report_t *r)
{
    agent_t *ag = arg;
    uint64_t line = (uint64_t)(uintptr_t)r->tag;
    char buf[48];

    switch (r->result) {
    case COHORT_ACCEPTED:
        ag->c.accepted++;
        emit(ag, "ACCEPTED", line, r->event_id, 1, r->seq, NULL, NULL);
        break;
    case COHORT_DUPLICATE:
        ag->c.duplicate++;
        emit(ag, "DUPLICATE", line, r->event_id, 1, r->seq, NULL, NULL);
        break;
    case COHORT_REJECTED: {
        const char *code =
            r->frame_error
                ? enum_name(&cohort__v1__frame_error__descriptor, r->frame_error, buf, sizeof buf)
                : enum_name(&cohort__v1__reject_code__descriptor, r->code, buf, sizeof buf);
        ag->c.rejected++;
        emit(ag, "REJECTED", line, r->event_id, !ag->a->json, 0, code, r->reason);
        break;
    }
    default:
        ag->c.undelivered++;
        ag->stop_sending = 1;
        emit(ag, "UNDELIVERED", line, r->event_id, 0, 0, NULL, r->reason);
        break;
    }
}

/* ---------------------------------------------------------------- input --- */

/* Reads what is available into the buffer (one read). Returns 0 or -errno. */
static int r_fill(reader_t *r)
{
    ssize_t got;

    if (r->start > 0 && (r->start >= r->cap / 2 || r->len == r->start)) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->cap - r->len < READ_CHUNK) {
        size_t nc = r->cap ? r->cap * 2 : 4 * READ_CHUNK;
        char *nb = realloc(r->buf, nc);
        if (nb == NULL)
            return -ENOMEM;
        r->buf = nb;
        r->cap = nc;
    }
    do
        got = read(r->fd, r->buf + r->len, r->cap - r->len - 1); /* keep a byte for a NUL */
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return errno == EAGAIN ? 0 : -errno;
    if (got == 0)
        r->eof = 1;
    r->len += (size_t)got;
    return 0;
}

/* Returns the next complete line (NUL-ended, without "\n" or "\r\n") and
 * its length in *n, or NULL when none is buffered. Sets *too_long when the
 * line returned is a placeholder for an overlong line (reported INVALID). */
static char *r_line(reader_t *r, size_t *n, int *too_long)
{
    for (;;) {
        char *base = r->buf + r->start;
        size_t have = r->len - r->start;
        char *nl = have > r->scanned ? memchr(base + r->scanned, '\n', have - r->scanned) : NULL;
        size_t ll;

        *too_long = 0;
        if (nl == NULL) {
            r->scanned = have;
            if (have > MAX_LINE) { /* too long: drop what we have, skip to '\n' */
                int first = !r->skipping;
                r->start = r->len;
                r->scanned = 0;
                r->skipping = 1;
                if (first) {
                    r->lineno++;
                    *too_long = 1;
                    *n = 0;
                    return r->buf + r->start;
                }
                continue;
            }
            if (!r->eof || have == 0)
                return NULL;
            nl = base + have; /* last line without '\n' */
        }
        ll = (size_t)(nl - base);
        r->start += ll + (r->start + ll < r->len ? 1 : 0);
        r->scanned = 0;
        if (r->skipping) {
            r->skipping = 0;
            continue;
        }
        r->lineno++;
        base[ll] = '\0';
        if (ll > 0 && base[ll - 1] == '\r')
            base[--ll] = '\0';
        *n = ll;
        return base;
    }
}

/* 1 if the line is to be skipped (blank or a '#' comment). */
static int skip_line(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v')
        s++;
    return *s == '\0' || *s == '#';
}

/* ---------------------------------------------------------------- main --- */

int main(int argc, char **argv)
{
    args_t a;
    agent_t ag = {0};
    reader_t rd = {.fd = -1};
    cohort_client_t *cl = NULL;
    Cohort__V1__Event *held = NULL; /* parsed, waiting to be submitted */
    uint64_t held_line = 0;
    int rc, ret = 1;

    rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    ag.a = &a;
    if (strcmp(a.file, "-") == 0) {
        rd.fd = STDIN_FILENO;
    } else if ((rd.fd = open(a.file, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", a.file, strerror(errno));
        return 2;
    }
    cl = cohort_client_new(&(cohort_client_opts_t){.endpoint = a.endpoint,
                                                   .window = a.window,
                                                   .queue_max = a.window,
                                                   .timeout_ms = a.timeout_ms,
                                                   .deadline_ms = a.deadline_s * 1000u,
                                                   .on_result = on_result,
                                                   .arg = &ag});
    if (cl == NULL) {
        int e = errno;
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", a.endpoint, zmq_strerror(e));
        ret = (e == EINVAL || e == EPROTONOSUPPORT || e == ENODEV || e == ENOENT) ? 2 : 1;
        goto cleanup;
    }

    for (;;) {
        zmq_pollitem_t it[2];
        int nit = 1, want_input = 0;
        long tmo;

        /* Feed: submit held/parsed lines while the client takes them. */
        for (;;) {
            if (held != NULL) {
                if (ag.stop_sending) {
                    ag.c.undelivered++;
                    emit(&ag, "UNDELIVERED", held_line,
                         held->event_id.len == 16 ? held->event_id.data : NULL, 0, 0, NULL,
                         "not sent: an earlier event could not be delivered");
                } else if ((rc = cohort_client_submit(cl, held, (void *)(uintptr_t)held_line)) ==
                               -EAGAIN ||
                           rc == -EEXIST) {
                    break; /* full, or its id is still pending: pump first */
                } else if (rc == -ENOMEM) {
                    fprintf(stderr, PROG ": out of memory\n");
                    goto cleanup;
                } else if (rc < 0) {
                    ag.c.invalid++;
                    emit(&ag, "INVALID", held_line, NULL, 0, 0, NULL,
                         rc == -EMSGSIZE ? "event too large for one frame (4 MiB)"
                                         : "eventId is not 16 bytes");
                }
                cohort__v1__event__free_unpacked(held, NULL);
                held = NULL;
            }
            size_t n;
            int too_long;
            char *line = r_line(&rd, &n, &too_long);
            if (line == NULL)
                break;
            if (too_long) {
                ag.c.invalid++;
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL, "line longer than 8 MiB");
                continue;
            }
            if (skip_line(line))
                continue;
            char err[256], safe[256];
            held = cohort_json_to_event(line, n, err, sizeof err);
            held_line = rd.lineno;
            if (held == NULL) {
                redact(safe, sizeof safe, err[0] ? err : "cannot parse");
                ag.c.invalid++;
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL, safe);
            }
        }
        /* Send what was just queued, take in acks. */
        if ((rc = cohort_client_pump(cl)) < 0)
            goto zfail;
        if (rd.eof && held == NULL && rd.start >= rd.len && cohort_client_pending(cl) == 0)
            break;

        /* Wait for the socket, timers, and (with room to take lines) input. */
        cohort_client_pollitem(cl, &it[0]);
        if (!rd.eof && held == NULL && cohort_client_room(cl) > 0) {
            it[1] = (zmq_pollitem_t){.socket = NULL, .fd = rd.fd, .events = ZMQ_POLLIN};
            nit = 2;
            want_input = 1;
        }
        tmo = cohort_client_timeout(cl);
        if (held != NULL && (tmo < 0 || tmo > 10))
            tmo = 10; /* its id may be pending: check again soon */
        if (tmo != 0)
            fflush(stdout); /* results of a slow stream show before we sleep */
        if (zmq_poll(it, nit, tmo) < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto zfail;
        }
        if (want_input && (it[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            if ((rc = r_fill(&rd)) < 0) {
                fprintf(stderr, PROG ": cannot read %s: %s\n",
                        strcmp(a.file, "-") == 0 ? "standard input" : a.file, strerror(-rc));
                rd.eof = 1; /* send what was read, then fail */
                ag.io_error = 1;
            }
        }
    }
    ret = 0;
    goto cleanup;

zfail:
    fprintf(stderr, PROG ": ZeroMQ failure: %s\n", zmq_strerror(-rc));
    ret = 1;
cleanup:
    if (held != NULL)
        cohort__v1__event__free_unpacked(held, NULL);
    cohort_client_destroy(&cl); /* anything still pending is reported UNDELIVERED */
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write results: %s\n", strerror(errno));
        ret = 1;
    }
    if (rd.fd > STDIN_FILENO)
        close(rd.fd);
    free(rd.buf);
    if (ret != 2) {
        fprintf(stderr,
                PROG ": %" PRIu64 " events: %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
                     " rejected, %" PRIu64 " undelivered, %" PRIu64 " invalid\n",
                ag.c.accepted + ag.c.duplicate + ag.c.rejected + ag.c.undelivered + ag.c.invalid,
                ag.c.accepted, ag.c.duplicate, ag.c.rejected, ag.c.undelivered, ag.c.invalid);
        if (ret == 0 && (ag.io_error || ag.c.rejected + ag.c.undelivered + ag.c.invalid > 0))
            ret = 1;
    }
    return ret;
}
