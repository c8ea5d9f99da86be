/* agent_drive.c: cohort-agent's one send driver (agent_drive.h): feeding
 * the client from a source, the result lines, the counts, the progress and
 * the end of a run. The sources are in agent_source.c; the contract of the
 * program is at the top of cohort_agent.c. */
#include "agent_drive.h"

/* ---------------------------------------------------------------- output --- */

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

/* The name of value v of enum d, or "SHORTNAME_v" (in buf) if it has none. */
static const char *enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf, size_t n)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
    if (ev)
        return ev->name;
    snprintf(buf, n, "%s_%d", d->short_name, v);
    return buf;
}

void agent_emit(const agent_drive_t *d, const char *result, uint64_t line, const uint8_t *id,
                int has_seq, uint64_t seq, const char *code, const char *reason, const char *name)
{
    char uuid[37];

    if (d->a->quiet)
        return;
    if (id)
        uuid7_format(id, uuid);
    if (d->a->json) {
        json_t *o = json_object();
        char *s;
        if (!o)
            return;
        json_object_set_new(o, "line", json_integer((json_int_t)line));
        if (id)
            json_object_set_new(o, "eventId", json_string(uuid));
        json_object_set_new(o, "result", json_string(result));
        if (has_seq)
            json_object_set_new(o, "seq", json_integer((json_int_t)seq));
        if (code)
            json_object_set_new(o, "code", json_string(code));
        if (reason) {
            json_t *r = json_string(reason);
            json_object_set_new(o, "reason", r ? r : json_string("(reason not valid UTF-8)"));
        }
        if (name) {
            json_t *r = json_string(name);
            json_object_set_new(o, "source", r ? r : json_string("(name not valid UTF-8)"));
        }
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) {
            fputs(s, stdout);
            fputc('\n', stdout);
            free(s);
        }
        json_decref(o);
        return;
    }
    printf("%s line=%" PRIu64, result, line);
    if (id)
        printf(" id=%s", uuid);
    if (has_seq)
        printf(" seq=%" PRIu64, seq);
    if (code)
        printf(" code=%s", code);
    if (reason) {
        fputs(" reason=", stdout);
        put_quoted(stdout, reason);
    }
    if (name) {
        fputs(" source=", stdout);
        put_quoted(stdout, name);
    }
    fputc('\n', stdout);
}

/* --------------------------------------------------------------- results --- */

/* The code name of a REJECTED report. */
static const char *reject_code(const cohort_client_report_t *r, char *buf, size_t n)
{
    return r->frame_error ? enum_name(&cohort__v1__frame_error__descriptor, r->frame_error, buf, n)
                          : enum_name(&cohort__v1__reject_code__descriptor, r->code, buf, n);
}

/* The client's result callback (arg: the driver): settles the event in its
 * source, counts the result and reports it (agent_drive.h: the policies). */
static void on_result(void *arg, const cohort_client_report_t *r)
{
    agent_drive_t *d = arg;
    uint64_t tag = (uint64_t)(uintptr_t)r->tag, line = 0;
    const char *name = NULL, *code;
    int durable = d->src->durable;
    char buf[48], why[256];

    d->src->where(d, tag, &line, &name);
    if (r->result == COHORT_REJECTED &&
        r->frame_error == COHORT__V1__FRAME_ERROR__FRAME_UNAUTHORISED) {
        if (!d->unauthorised)
            d->unauthorised = 1;
        if (durable) {
            /* Our key is refused, not the event: it stays in the outbox
             * (never dead-lettered), and the run stops sending. */
            d->undelivered_now = 1;
            if (d->retry) {
                d->src->settle(d, tag, AGENT_RELEASE, r, NULL);
            } else {
                d->c.undelivered++;
                agent_emit(d, "UNDELIVERED", line, r->event_id, 0, 0, NULL,
                           "the daemon no longer accepts this agent's key (FRAME_UNAUTHORISED); "
                           "kept in the outbox",
                           name);
            }
            return;
        }
    }
    switch (r->result) {
    case COHORT_ACCEPTED:
    case COHORT_DUPLICATE:
        if (r->result == COHORT_ACCEPTED)
            d->c.accepted++;
        else
            d->c.duplicate++;
        agent_emit(d, r->result == COHORT_ACCEPTED ? "ACCEPTED" : "DUPLICATE", line, r->event_id, 1,
                   r->seq, NULL, NULL, name);
        if (d->on_final)
            d->on_final(d, name, line, r->event_id, NULL, NULL);
        d->src->settle(d, tag, AGENT_ACK, r, NULL);
        break;
    case COHORT_REJECTED:
        code = reject_code(r, buf, sizeof buf);
        if (d->src->settle(d, tag, AGENT_REJECT, r, code) < 0)
            break; /* not dead-lettered: fatal, and it stays in the outbox */
        d->c.rejected++;
        agent_emit(d, "REJECTED", line, r->event_id, !d->a->json, 0, code, r->reason, name);
        if (d->on_final)
            d->on_final(d, name, line, r->event_id, code, r->reason);
        break;
    default:
        /* With retry: hand it out again later. Else done for this run; an
         * outbox keeps it (pending, not reported twice). */
        if (d->retry)
            d->src->settle(d, tag, AGENT_RELEASE, r, NULL);
        if (durable)
            d->undelivered_now = 1;
        else
            d->stop_sending = 1;
        if (!d->retry) {
            d->c.undelivered++;
            if (durable)
                snprintf(why, sizeof why, "%s; kept in the outbox", r->reason);
            agent_emit(d, "UNDELIVERED", line, r->event_id, 0, 0, NULL, durable ? why : r->reason,
                       name);
        }
        break;
    }
}

void agent_check_auth(agent_drive_t *d)
{
    char why[200];
    int hs = cohort_client_handshake(d->cl, why, sizeof why);

    if (hs > 0) {
        d->hs_said = 0;
    } else if (hs < 0 && !d->hs_said) {
        d->hs_said = 1;
        progress_clear(d->pr);
        fprintf(stderr, PROG ": handshake refused by the server: check --key/--server-key (%s)\n",
                why);
    }
    if (d->unauthorised == 1) {
        d->unauthorised = 2;
        progress_clear(d->pr);
        if (d->src->durable)
            fprintf(stderr,
                    PROG ": the daemon no longer accepts this agent's key (FRAME_UNAUTHORISED: "
                         "revoked or changed): nothing more is sent; the events stay in the "
                         "outbox %s; fix --key or the daemon's access file, then run '" PROG
                         " flush --outbox %s'\n",
                    d->a->outbox, d->a->outbox);
        else
            fprintf(stderr,
                    PROG ": the daemon no longer accepts this agent's key (FRAME_UNAUTHORISED: "
                         "revoked or changed): check --key and the daemon's access file\n");
    }
}

const char *agent_silence_hint(const agent_drive_t *d)
{
    return d->a->curve->on ? " (no answer: the daemon is down or unreachable, or it refuses the "
                             "CURVE keys: check --key/--server-key)"
                           : "";
}

void agent_summary(const agent_drive_t *d)
{
    fprintf(stderr,
            PROG ": %" PRIu64 " events: %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
                 " rejected, %" PRIu64 " undelivered, %" PRIu64 " invalid\n",
            d->c.accepted + d->c.duplicate + d->c.rejected + d->c.undelivered + d->c.invalid,
            d->c.accepted, d->c.duplicate, d->c.rejected, d->c.undelivered, d->c.invalid);
}

/* ------------------------------------------------------------- progress --- */

void agent_progress_begin(agent_drive_t *d)
{
    const args_t *a = d->a;
    progress_mode_t mode = a->progress;
    if (mode == PROGRESS_AUTO && !a->quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO))
        mode = PROGRESS_NEVER;
    progress_new(&d->pr, &(progress_opts_t){.label = a->cmd == CMD_FLUSH ? "flush" : "send",
                                            .unit = "events",
                                            .mode = mode});
    /* NULL (out of memory): no report */
}

/* Reports the results so far and, if share and the input is a regular
 * file, the share done: the share of the file read, times the share of the
 * lines read so far that have their result. */
static void progress_tick(agent_drive_t *d, int share)
{
    uint64_t done =
                 d->c.accepted + d->c.duplicate + d->c.rejected + d->c.undelivered + d->c.invalid,
             lines = d->in.lineno;
    off_t off;
    if (!d->pr)
        return;
    if (share && d->in.size > 0 && lines > 0 && (off = lseek(d->in.fd, 0, SEEK_CUR)) >= 0)
        progress_set_fraction(d->pr, (double)off / (double)d->in.size *
                                         (done < lines ? (double)done / (double)lines : 1.0));
    progress_update(d->pr, done);
}

/* ------------------------------------------------------------------ loop --- */

int agent_drive_connect(agent_drive_t *d, unsigned defer_s)
{
    const args_t *a = d->a;

    d->cl = cohort_client_new(&(cohort_client_opts_t){.endpoint = a->endpoint,
                                                      .window = a->window,
                                                      .queue_max = a->window,
                                                      .timeout_ms = a->timeout_ms,
                                                      .deadline_ms = a->deadline_s * 1000u,
                                                      .defer_ms = defer_s * 1000u,
                                                      .curve = a->curve,
                                                      .on_result = on_result,
                                                      .arg = d});
    if (!d->cl) {
        int e = errno;
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", a->endpoint, zmq_strerror(e));
        return (e == EINVAL || e == EPROTONOSUPPORT || e == ENODEV || e == ENOENT) ? 2 : 1;
    }
    return 0;
}

/* Reports every event the source still hands out as UNDELIVERED "not
 * sent": the file reader's lines after a give-up (as they are read), an
 * outbox's events at the end of a run (they stay in it). */
static void report_not_sent(agent_drive_t *d)
{
    agent_item_t it;

    while (d->src->next(d, &it) == 1) {
        d->held = 0;
        d->c.undelivered++;
        agent_emit(d, "UNDELIVERED", it.line, it.id, 0, 0, NULL,
                   d->src->durable ? "not sent: an earlier event could not be delivered; kept in "
                                     "the outbox"
                                   : "not sent: an earlier event could not be delivered",
                   it.name);
    }
}

/* Hands the source's events to the client while it has room. Returns the
 * number handed over, or -1 after a fatal failure (reported). */
static int feed(agent_drive_t *d)
{
    agent_item_t it;
    int n = 0, rc;

    if (d->stop_sending) {
        if (!d->src->durable)
            report_not_sent(d);
        return 0;
    }
    while (!d->fatal && cohort_client_room(d->cl) > 0) {
        if ((rc = d->src->next(d, &it)) <= 0)
            return rc < 0 ? -1 : n;
        d->held = 0;
        rc = it.ev != NULL ? cohort_client_submit(d->cl, it.ev, (void *)(uintptr_t)it.tag)
                           : cohort_client_submit_packed(d->cl, it.data, it.len, it.id,
                                                         (void *)(uintptr_t)it.tag);
        if (rc == 0) {
            n++;
        } else if (rc == -EAGAIN || rc == -EEXIST) {
            d->src->unget(d, &it); /* full, or its id is still pending: pump first */
            d->held = 1;
            break;
        } else if (d->src->refused(d, &it, rc) < 0) {
            return -1;
        }
    }
    return d->fatal ? -1 : n;
}

/* send's and flush's policy after a pump (watch has its own, on_pumped):
 * say what the handshake and the key came to, show the progress, and fail
 * fast at the first undelivered event of an outbox, keeping its order: give
 * up what is in flight, it all stays in the outbox for the next run. */
static int after_pump(agent_drive_t *d)
{
    if (d->on_pumped)
        return d->on_pumped(d);
    agent_check_auth(d);
    progress_tick(d, 1);
    if (d->undelivered_now) {
        d->undelivered_now = 0;
        d->stop_sending = 1;
        cohort_client_give_up(d->cl, d->unauthorised
                                         ? "given up: the daemon refused this agent's key"
                                         : "given up after an earlier event could not be "
                                           "delivered");
    }
    return 0;
}

int agent_drive_service(agent_drive_t *d)
{
    int rc, n;

    if (d->src->take_in && d->src->take_in(d) < 0)
        return -1;
    if ((rc = cohort_client_pump(d->cl)) < 0)
        goto zfail;
    if (after_pump(d))
        return 0;
    if (cohort_client_now_us() >= d->holdoff_us) {
        if ((n = feed(d)) < 0)
            return -1;
        if (n > 0) {
            if ((rc = cohort_client_pump(d->cl)) < 0)
                goto zfail;
            if (after_pump(d))
                return 0;
        }
    }
    if (d->ob && (rc = outbox_commit(d->ob)) < 0) {
        fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", d->a->outbox, strerror(-rc));
        d->fatal = 1;
    }
    return d->fatal ? -1 : 0;
zfail:
    fprintf(stderr, PROG ": ZeroMQ failure: %s\n", zmq_strerror(-rc));
    d->fatal = 1;
    return -1;
}

int agent_drive_run(agent_drive_t *d)
{
    for (;;) {
        zmq_pollitem_t it[2];
        int nit = 1, want_input, durable = d->src->durable;
        long tmo;

        if (agent_drive_service(d) < 0)
            return agent_drive_finish(d, 1);
        if (agent_reader_done(&d->in) && cohort_client_pending(d->cl) == 0 &&
            (d->stop_sending || d->src->empty(d)))
            return agent_drive_finish(d, 0);

        /* Wait for the socket, timers, and input: with an outbox, input is
         * taken in even when the daemon is away; plain, only while the
         * client has room for its events. */
        cohort_client_pollitem(d->cl, &it[0]);
        want_input =
            d->in.fd >= 0 && !d->in.eof && (durable || (!d->held && cohort_client_room(d->cl) > 0));
        if (want_input) {
            it[1] = (zmq_pollitem_t){.socket = NULL, .fd = d->in.fd, .events = ZMQ_POLLIN};
            nit = 2;
        }
        tmo = cohort_client_timeout(d->cl);
        /* An event waits (its id may be pending), or lines are buffered to
         * take into the outbox: come back soon. */
        if ((durable ? d->in.start < d->in.len : d->held) && (tmo < 0 || tmo > 10))
            tmo = 10;
        if (tmo != 0)
            fflush(stdout); /* results of a slow stream show before we sleep */
        if (zmq_poll(it, nit, tmo) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG ": ZeroMQ failure: %s\n", zmq_strerror(errno));
            return agent_drive_finish(d, 1);
        }
        if (want_input && (it[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
            agent_reader_fill(d);
    }
}

int agent_drive_finish(agent_drive_t *d, int ret)
{
    const args_t *a = d->a;
    int rc, durable = d->src->durable;
    uint64_t left = 0;

    if (ret == 0 && (d->fatal || d->io_error))
        ret = 1;
    cohort_client_destroy(&d->cl); /* what is pending is reported; an outbox keeps it */
    progress_clear(d->pr);         /* the results below start on a clean line */
    if (d->cur)
        cohort__v1__event__free_unpacked(d->cur, NULL);
    d->cur = NULL;
    if (d->ob)
        report_not_sent(d); /* one result per event in the outbox: those never sent, too */
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write results: %s\n", strerror(errno));
        ret = 1;
    }
    if (d->ob && (rc = outbox_commit(d->ob)) < 0) {
        fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", a->outbox, strerror(-rc));
        ret = 1;
    }
    if (ret == 0) {
        if (agent_reader_done(&d->in))
            progress_set_fraction(d->pr, 1);
        progress_tick(d, 0);
        progress_done(d->pr);
    }
    progress_destroy(&d->pr);
    if (d->in.fd > STDIN_FILENO)
        close(d->in.fd);
    d->in.fd = -1;
    free(d->in.buf);
    free(d->batch.items);
    free(d->batch.mem);
    if (d->ob)
        left = outbox_pending(d->ob);
    if (ret == 2 && !durable)
        return ret; /* nothing was read: no counts */
    agent_summary(d);
    if (durable) {
        if (d->c.rejected > 0)
            fprintf(stderr, PROG ": %" PRIu64 " rejected events written to %s\n", d->c.rejected,
                    outbox_dead_letter_path(d->ob));
        if (left > 0 && !d->unauthorised)
            fprintf(stderr,
                    PROG ": %" PRIu64 " events waiting in the outbox %s: run '" PROG
                         " flush --outbox %s' when the daemon is reachable%s\n",
                    left, a->outbox, a->outbox, d->hs_said ? "" : agent_silence_hint(d));
        else if (left > 0)
            fprintf(stderr,
                    PROG ": %" PRIu64 " events waiting in the outbox %s: the daemon refuses this "
                         "agent's key\n",
                    left, a->outbox);
        if (ret == 0 && left > 0)
            ret = 3;
        else if (ret == 0 && d->c.rejected + d->c.invalid > 0)
            ret = 1;
        outbox_close(&d->ob);
    } else {
        if (d->c.undelivered > 0 && !d->hs_said && *agent_silence_hint(d))
            fprintf(stderr, PROG ": %" PRIu64 " events undelivered%s\n", d->c.undelivered,
                    agent_silence_hint(d));
        if (ret == 0 && d->c.rejected + d->c.undelivered + d->c.invalid > 0)
            ret = 1;
    }
    return ret;
}
