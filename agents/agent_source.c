/* agent_source.c: the two sources of cohort-agent's send driver
 * (agent_drive.h): the file reader (plain send) and the outbox (send
 * --outbox, flush, watch), with send's input reader and the outbox's
 * opening and retention. Lines become events through intake_line
 * (intake.h), as watch's .jsonl files do. */
#include "agent_drive.h"

/* ---------------------------------------------------------------- input --- */

/* Reads what is available into the buffer (one read). Returns 0 or -errno. */
static int r_fill(agent_reader_t *r)
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
        if (!nb)
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

void agent_reader_fill(agent_drive_t *d)
{
    int rc = r_fill(&d->in);

    if (rc < 0) {
        fprintf(stderr, PROG ": cannot read %s: %s\n",
                strcmp(d->a->file, "-") == 0 ? "standard input" : d->a->file, strerror(-rc));
        d->in.eof = 1; /* send what was read, then fail */
        d->io_error = 1;
    }
}

int agent_reader_done(const agent_reader_t *r)
{
    return r->fd < 0 || (r->eof && r->start >= r->len);
}

/* Returns the next complete line (NUL-ended, without "\n" or "\r\n") and
 * its length in *n, or NULL when none is buffered. Sets *too_long when the
 * line returned is a placeholder for an overlong line (reported INVALID). */
static char *r_line(agent_reader_t *r, size_t *n, int *too_long)
{
    for (;;) {
        char *base = r->buf + r->start;
        size_t have = r->len - r->start;
        char *nl = have > r->scanned ? memchr(base + r->scanned, '\n', have - r->scanned) : NULL;
        size_t ll;

        *too_long = 0;
        if (!nl) {
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

/* The next event of the buffered input, in *ev (the caller frees it) with
 * its line in *line; lines that are not events are reported INVALID on the
 * way. Returns 1, or 0 when no complete line is buffered. */
static int read_event(agent_drive_t *d, Cohort__V1__Event **ev, uint64_t *line)
{
    for (;;) {
        size_t n;
        int too_long;
        char *text = r_line(&d->in, &n, &too_long), err[256];
        if (!text)
            return 0;
        if (too_long) {
            d->c.invalid++;
            agent_emit(d, "INVALID", d->in.lineno, NULL, 0, 0, NULL, "line longer than 8 MiB",
                       d->in_name);
            continue;
        }
        int rc = intake_line(text, n, d->a->ps, d->a->raw_refs, ev, err, sizeof err);
        if (rc == 0)
            continue;
        if (rc < 0) {
            d->c.invalid++;
            agent_emit(d, "INVALID", d->in.lineno, NULL, 0, 0, NULL, err, d->in_name);
            continue;
        }
        *line = d->in.lineno;
        return 1;
    }
}

/* ---------------------------------------------------------- file reader --- */

static int file_next(agent_drive_t *d, agent_item_t *it)
{
    if (!d->held) { /* else the one handed out last, again */
        if (d->cur)
            cohort__v1__event__free_unpacked(d->cur, NULL);
        d->cur = NULL;
        if (read_event(d, &d->cur, &d->cur_line) == 0)
            return 0;
    }
    *it = (agent_item_t){.ev = d->cur,
                         .id = d->cur->event_id.len == 16 ? d->cur->event_id.data : NULL,
                         .tag = d->cur_line,
                         .line = d->cur_line};
    return 1;
}

static void file_unget(agent_drive_t *d, const agent_item_t *it)
{
    (void)d; /* d->held: file_next hands d->cur out again */
    (void)it;
}

static int file_refused(agent_drive_t *d, const agent_item_t *it, int rc)
{
    if (rc == -ENOMEM) {
        fprintf(stderr, PROG ": out of memory\n");
        d->fatal = 1;
        return -1;
    }
    d->c.invalid++;
    agent_emit(d, "INVALID", it->line, NULL, 0, 0, NULL, intake_push_error(rc), NULL);
    return 0;
}

static void file_where(agent_drive_t *d, uint64_t tag, uint64_t *line, const char **name)
{
    (void)d;
    *line = tag; /* the tag is the line */
    *name = NULL;
}

static int file_settle(agent_drive_t *d, uint64_t tag, agent_settle_t how,
                       const cohort_client_report_t *r, const char *code)
{
    (void)d, (void)tag, (void)how, (void)r, (void)code;
    return 0; /* kept nowhere */
}

static int file_empty(agent_drive_t *d)
{
    return !d->held && agent_reader_done(&d->in);
}

const agent_source_ops_t agent_source_file = {.durable = 0,
                                              .next = file_next,
                                              .unget = file_unget,
                                              .refused = file_refused,
                                              .where = file_where,
                                              .settle = file_settle,
                                              .empty = file_empty};

/* --------------------------------------------------------------- outbox --- */

/* send --outbox: takes the lines buffered into the outbox, as one synced
 * record per BATCH_EVENTS events or BATCH_BYTES bytes, before any of them
 * is sent. */
static int outbox_take_in(agent_drive_t *d)
{
    intake_batch_t *b = &d->batch;
    Cohort__V1__Event *ev;
    uint64_t line;
    int rc;

    if (d->in.fd < 0)
        return 0;
    while (b->n < BATCH_EVENTS && b->mem_len < BATCH_BYTES && read_event(d, &ev, &line) == 1) {
        rc = intake_batch_push(b, ev, line);
        cohort__v1__event__free_unpacked(ev, NULL);
        if (rc == -EMSGSIZE || rc == -EINVAL) {
            d->c.invalid++;
            agent_emit(d, "INVALID", line, NULL, 0, 0, NULL, intake_push_error(rc), d->in_name);
        } else if (rc < 0) {
            fprintf(stderr, PROG ": out of memory\n");
            d->fatal = 1;
            return -1;
        }
    }
    if (b->n == 0)
        return 0;
    intake_batch_seal(b);
    rc = outbox_add(d->ob, d->in_name, NULL, b->items, b->n);
    b->n = 0;
    b->mem_len = 0;
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", d->a->outbox, strerror(-rc));
        d->fatal = 1;
        return -1;
    }
    return 0;
}

static int outbox_src_next(agent_drive_t *d, agent_item_t *it)
{
    outbox_event_t *ev = &d->cur_packed;
    int rc = outbox_next(d->ob, ev);

    if (rc < 0) {
        fprintf(stderr, PROG ": cannot read the outbox: %s\n", strerror(-rc));
        d->fatal = 1;
        return -1;
    }
    if (rc == 0)
        return 0;
    *it = (agent_item_t){.data = ev->data,
                         .len = ev->len,
                         .id = ev->id,
                         .tag = ev->ticket,
                         .line = ev->line,
                         .name = ev->source};
    return 1;
}

static void outbox_unget(agent_drive_t *d, const agent_item_t *it)
{
    outbox_release(d->ob, it->tag);
}

static int outbox_refused(agent_drive_t *d, const agent_item_t *it, int rc)
{
    if (rc != -EMSGSIZE) {
        fprintf(stderr, PROG ": cannot queue an event: %s\n", strerror(-rc));
        outbox_release(d->ob, it->tag);
        d->fatal = 1;
        return -1;
    }
    /* cannot ever be sent: dead-letter it */
    rc = outbox_reject(d->ob, it->tag, "TOO_LARGE_FOR_A_FRAME",
                       "the event does not fit a 4 MiB frame");
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot write the dead letter: %s\n", strerror(-rc));
        d->fatal = 1;
        return -1;
    }
    d->c.rejected++;
    agent_emit(d, "REJECTED", it->line, it->id, !d->a->json, 0, "TOO_LARGE_FOR_A_FRAME",
               "the event does not fit a 4 MiB frame", it->name);
    return 0;
}

static void outbox_src_where(agent_drive_t *d, uint64_t tag, uint64_t *line, const char **name)
{
    uint32_t l = 0;

    *name = "?";
    outbox_where(d->ob, tag, name, &l);
    *line = l;
}

static int outbox_settle(agent_drive_t *d, uint64_t tag, agent_settle_t how,
                         const cohort_client_report_t *r, const char *code)
{
    char uuid[37];
    int rc;

    if (how == AGENT_ACK) {
        outbox_ack(d->ob, tag);
        return 0;
    }
    if (how == AGENT_RELEASE) {
        outbox_release(d->ob, tag);
        return 0;
    }
    rc = outbox_reject(d->ob, tag, code, r->reason);
    if (rc < 0 && rc != -EALREADY && rc != -ENOENT) {
        uuid7_format(r->event_id, uuid);
        fprintf(stderr, PROG ": cannot write the dead letter for event %s to %s: %s\n", uuid,
                outbox_dead_letter_path(d->ob), strerror(-rc));
        d->fatal = 1;
        return -1;
    }
    return 0;
}

static int outbox_src_empty(agent_drive_t *d)
{
    return agent_reader_done(&d->in) && d->batch.n == 0 && outbox_unclaimed(d->ob) == 0;
}

const agent_source_ops_t agent_source_outbox = {.durable = 1,
                                                .take_in = outbox_take_in,
                                                .next = outbox_src_next,
                                                .unget = outbox_unget,
                                                .refused = outbox_refused,
                                                .where = outbox_src_where,
                                                .settle = outbox_settle,
                                                .empty = outbox_src_empty};

int agent_drive_open_outbox(agent_drive_t *d, const char *dir)
{
    outbox_info_t info;
    char err[512];
    int rc = outbox_open(&d->ob, dir, NULL, &info, err, sizeof err);

    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (info.torn_bytes > 0)
        fprintf(stderr,
                PROG ": outbox %s: cut off %" PRIu64
                     " bytes of an interrupted write (events in it were never sent)\n",
                dir, info.torn_bytes);
    if (info.pending > 0 && !d->a->quiet)
        fprintf(stderr, PROG ": outbox %s: resuming %" PRIu64 " events left by an earlier run\n",
                dir, info.pending);
    return 0;
}

void agent_expire(agent_drive_t *d, spool_t *sp)
{
    const args_t *a = d->a;
    int64_t cutoff = (int64_t)time(NULL) - (int64_t)a->retention_days * 86400;
    uint64_t dl = 0;
    unsigned files = 0;
    int rc;

    if (a->retention_days == 0)
        return;
    if (sp && (rc = spool_expire(sp, cutoff, &files)) < 0)
        fprintf(stderr, PROG ": retention: cannot clear old files in %s/done and failed: %s\n",
                spool_dir(sp), strerror(-rc));
    if ((rc = outbox_expire(d->ob, cutoff, &dl)) < 0)
        fprintf(stderr, PROG ": retention: cannot clear the outbox %s: %s\n", a->outbox,
                strerror(-rc));
    if (sp && (files > 0 || dl > 0) && !a->quiet)
        fprintf(stderr,
                PROG ": retention %u days: removed %u files from done/ and failed/, %" PRIu64
                     " dead letters\n",
                a->retention_days, files, dl);
    else if (dl > 0 && !a->quiet)
        fprintf(stderr, PROG ": retention %u days: removed %" PRIu64 " dead letters\n",
                a->retention_days, dl);
}
