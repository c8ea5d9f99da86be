/* agent_send.c: cohort-agent send and flush: plain send (a file or a pipe
 * straight to the daemon) and the outbox modes (send --outbox, flush).
 * The contract is at the top of cohort_agent.c. */
#include "cohort_agent.h"

/* send without an outbox. Returns the exit status. */
int run_plain(const args_t *ap)
{
    const args_t a = *ap;
    agent_t ag = {0};
    reader_t rd = {.fd = -1};
    cohort_client_t *cl = NULL;
    Cohort__V1__Event *held = NULL; /* parsed, waiting to be submitted */
    uint64_t held_line = 0, in_size = 0;
    int rc, ret = 1;

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
                                                   .defer_ms = a.defer_s * 1000u,
                                                   .curve = a.curve,
                                                   .on_result = on_result,
                                                   .arg = &ag});
    ag.cl = cl;
    if (cl == NULL) {
        int e = errno;
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", a.endpoint, zmq_strerror(e));
        ret = (e == EINVAL || e == EPROTONOSUPPORT || e == ENODEV || e == ENOENT) ? 2 : 1;
        goto cleanup;
    }
    ag.pr = progress_begin(&a);
    in_size = input_size(rd.fd);

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
                         "not sent: an earlier event could not be delivered", NULL);
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
                                         : "eventId is not 16 bytes",
                         NULL);
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
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL, "line longer than 8 MiB", NULL);
                continue;
            }
            if (skip_line(line))
                continue;
            char err[256], safe[256];
            /* derived ids as in every mode (intake.h): a resend is a DUPLICATE */
            held = intake_jsonl_with(line, n, 1, a.ps, a.raw_refs, err, sizeof err);
            held_line = rd.lineno;
            if (held == NULL) {
                intake_redact(safe, sizeof safe, err[0] ? err : "cannot parse");
                ag.c.invalid++;
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL, safe, NULL);
            }
        }
        /* Send what was just queued, take in acks. */
        if ((rc = cohort_client_pump(cl)) < 0)
            goto zfail;
        check_auth(&ag);
        progress_tick(&ag, rd.fd, in_size, rd.lineno);
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
    ag.cl = NULL;
    progress_end(&ag, ret == 0, rd.eof);
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
        if (ag.c.undelivered > 0 && !ag.hs_said && *silence_hint(&ag))
            fprintf(stderr, PROG ": %" PRIu64 " events undelivered%s\n", ag.c.undelivered,
                    silence_hint(&ag));
        if (ret == 0 && (ag.io_error || ag.c.rejected + ag.c.undelivered + ag.c.invalid > 0))
            ret = 1;
    }
    return ret;
}

/* ------------------------------------------------------- outbox modes --- */

/* Writes the batch to the outbox as one synced record. Returns 0 or -errno. */
static int batch_write(intake_batch_t *b, outbox_t *ob, const char *source)
{
    int rc;

    if (b->n == 0)
        return 0;
    intake_batch_seal(b);
    rc = outbox_add(ob, source, NULL, b->items, b->n);
    b->n = 0;
    b->mem_len = 0;
    return rc < 0 ? rc : 0;
}

/* Opens the outbox for a run and says what it found. Returns 0, or 2
 * (reported). */
int open_outbox(agent_t *ag, const char *dir)
{
    outbox_info_t info;
    char err[512];
    int rc = outbox_open(&ag->ob, dir, NULL, &info, err, sizeof err);

    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (info.torn_bytes > 0)
        fprintf(stderr,
                PROG ": outbox %s: cut off %" PRIu64
                     " bytes of an interrupted write (events in it were never sent)\n",
                dir, info.torn_bytes);
    if (info.pending > 0 && !ag->a->quiet)
        fprintf(stderr, PROG ": outbox %s: resuming %" PRIu64 " events left by an earlier run\n",
                dir, info.pending);
    return 0;
}

/* Applies --retention-days to the outbox (and sp's done/ and failed/, if
 * sp is not NULL): see the contract at the top. Says on stderr what it
 * removed (counts, never names) and what failed. */
void expire(agent_t *ag, spool_t *sp)
{
    const args_t *a = ag->a;
    int64_t cutoff = (int64_t)time(NULL) - (int64_t)a->retention_days * 86400;
    uint64_t dl = 0;
    unsigned files = 0;
    int rc;

    if (a->retention_days > 0) {
        if (sp != NULL && (rc = spool_expire(sp, cutoff, &files)) < 0)
            fprintf(stderr, PROG ": retention: cannot clear old files in %s/done and failed: %s\n",
                    spool_dir(sp), strerror(-rc));
        if ((rc = outbox_expire(ag->ob, cutoff, &dl)) < 0)
            fprintf(stderr, PROG ": retention: cannot clear the outbox %s: %s\n", a->outbox,
                    strerror(-rc));
        if (sp != NULL && (files > 0 || dl > 0) && !a->quiet)
            fprintf(stderr,
                    PROG ": retention %u days: removed %u files from done/ and failed/, %" PRIu64
                         " dead letters\n",
                    a->retention_days, files, dl);
        else if (dl > 0 && !a->quiet)
            fprintf(stderr, PROG ": retention %u days: removed %" PRIu64 " dead letters\n",
                    a->retention_days, dl);
    }
}

/* Prints the counts of the run on stderr. */
void summary(const agent_t *ag)
{
    fprintf(stderr,
            PROG ": %" PRIu64 " events: %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
                 " rejected, %" PRIu64 " undelivered, %" PRIu64 " invalid\n",
            ag->c.accepted + ag->c.duplicate + ag->c.rejected + ag->c.undelivered + ag->c.invalid,
            ag->c.accepted, ag->c.duplicate, ag->c.rejected, ag->c.undelivered, ag->c.invalid);
}

/* send --outbox and flush. Returns the exit status. */
int run_outbox(const args_t *a)
{
    agent_t ag = {.a = a};
    reader_t rd = {.fd = -1};
    intake_batch_t bt = {0};
    const char *source = NULL;
    int rc, ret = 1, have_input = a->cmd == CMD_SEND;
    uint64_t in_size = 0;

    if (have_input) {
        source = strcmp(a->file, "-") == 0 ? "-" : a->file;
        if (strcmp(a->file, "-") == 0) {
            rd.fd = STDIN_FILENO;
        } else if ((rd.fd = open(a->file, O_RDONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, PROG ": cannot open %s: %s\n", a->file, strerror(errno));
            return 2;
        }
    }
    if (open_outbox(&ag, a->outbox) != 0) {
        if (rd.fd > STDIN_FILENO)
            close(rd.fd);
        return 2;
    }
    expire(&ag, NULL);
    ag.cl = cohort_client_new(&(cohort_client_opts_t){.endpoint = a->endpoint,
                                                      .window = a->window,
                                                      .queue_max = a->window,
                                                      .timeout_ms = a->timeout_ms,
                                                      .deadline_ms = a->deadline_s * 1000u,
                                                      .defer_ms = a->defer_s * 1000u,
                                                      .curve = a->curve,
                                                      .on_result = on_result,
                                                      .arg = &ag});
    if (ag.cl == NULL) {
        int e = errno;
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", a->endpoint, zmq_strerror(e));
        ret = (e == EINVAL || e == EPROTONOSUPPORT || e == ENODEV || e == ENOENT) ? 2 : 1;
        goto cleanup;
    }
    ag.pr = progress_begin(a);
    in_size = have_input ? input_size(rd.fd) : 0;
    if (!have_input)
        progress_set_total(ag.pr, outbox_pending(ag.ob)); /* flush: what is waiting */

    for (;;) {
        zmq_pollitem_t it[2];
        int nit = 1, want_input = 0;
        long tmo;

        /* Take what input is buffered into the outbox (synced) first. */
        while (have_input && bt.n < BATCH_EVENTS && bt.mem_len < BATCH_BYTES) {
            size_t n;
            int too_long;
            char *line = r_line(&rd, &n, &too_long), err[256];
            Cohort__V1__Event *ev;
            if (line == NULL)
                break;
            if (too_long) {
                ag.c.invalid++;
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL, "line longer than 8 MiB", source);
                continue;
            }
            if (skip_line(line))
                continue;
            if ((ev = intake_jsonl_with(line, n, 1, a->ps, a->raw_refs, err, sizeof err)) == NULL) {
                ag.c.invalid++;
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL, err, source);
                continue;
            }
            if (protobuf_c_message_get_packed_size(&ev->base) + 64 > COHORT_CLIENT_MAX_FRAME) {
                ag.c.invalid++;
                emit(&ag, "INVALID", rd.lineno, NULL, 0, 0, NULL,
                     "event too large for one frame (4 MiB)", source);
            } else if (intake_batch_push(&bt, ev, rd.lineno) < 0) {
                cohort__v1__event__free_unpacked(ev, NULL);
                fprintf(stderr, PROG ": out of memory\n");
                goto cleanup;
            }
            cohort__v1__event__free_unpacked(ev, NULL);
        }
        if ((rc = batch_write(&bt, ag.ob, source)) < 0) {
            fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", a->outbox, strerror(-rc));
            goto cleanup;
        }
        /* Send from the outbox, take in acks. */
        if (feed(&ag) < 0)
            goto cleanup;
        if ((rc = cohort_client_pump(ag.cl)) < 0)
            goto zfail;
        check_auth(&ag);
        progress_tick(&ag, rd.fd, in_size, rd.lineno);
        if (ag.undelivered_now) {
            /* Fail fast, and keep the outbox order: give up what is in
             * flight; it all stays in the outbox for the next run. */
            ag.undelivered_now = 0;
            ag.stop_sending = 1;
            cohort_client_give_up(ag.cl, ag.unauthorised
                                             ? "given up: the daemon refused this agent's key"
                                             : "given up after an earlier event could not be "
                                               "delivered");
        }
        if ((rc = outbox_commit(ag.ob)) < 0) {
            fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", a->outbox, strerror(-rc));
            goto cleanup;
        }
        if (ag.fatal)
            goto cleanup;
        if ((!have_input || (rd.eof && rd.start >= rd.len)) && bt.n == 0 &&
            cohort_client_pending(ag.cl) == 0 && (ag.stop_sending || outbox_unclaimed(ag.ob) == 0))
            break;

        /* Wait for the socket, timers, and input. */
        cohort_client_pollitem(ag.cl, &it[0]);
        if (have_input && !rd.eof) {
            it[1] = (zmq_pollitem_t){.socket = NULL, .fd = rd.fd, .events = ZMQ_POLLIN};
            nit = 2;
            want_input = 1;
        }
        tmo = cohort_client_timeout(ag.cl);
        if (have_input && rd.start < rd.len && (tmo < 0 || tmo > 10))
            tmo = 10; /* lines still buffered: take them in soon */
        if (tmo != 0)
            fflush(stdout);
        if (zmq_poll(it, nit, tmo) < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto zfail;
        }
        if (want_input && (it[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            if ((rc = r_fill(&rd)) < 0) {
                fprintf(stderr, PROG ": cannot read %s: %s\n",
                        strcmp(a->file, "-") == 0 ? "standard input" : a->file, strerror(-rc));
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
    if (ret == 0 && (ag.fatal || ag.io_error))
        ret = 1;
    cohort_client_destroy(&ag.cl); /* what is still pending stays in the outbox */
    progress_clear(ag.pr);         /* the results below start on a clean line */
    if (rd.fd > STDIN_FILENO)
        close(rd.fd);
    free(rd.buf);
    free(bt.items);
    free(bt.mem);
    if (ag.ob != NULL) {
        outbox_event_t ev;
        uint64_t left;
        /* One result per event in the outbox: those never sent, too. */
        while (outbox_next(ag.ob, &ev) == 1) {
            ag.c.undelivered++;
            emit(&ag, "UNDELIVERED", ev.line, ev.id, 0, 0, NULL,
                 "not sent: an earlier event could not be delivered; kept in the outbox",
                 ev.source);
        }
        if (fflush(stdout) != 0) {
            fprintf(stderr, PROG ": cannot write results: %s\n", strerror(errno));
            ret = 1;
        }
        if ((rc = outbox_commit(ag.ob)) < 0) {
            fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", a->outbox, strerror(-rc));
            ret = 1;
        }
        left = outbox_pending(ag.ob);
        progress_end(&ag, ret == 0, !have_input || rd.eof);
        summary(&ag);
        if (ag.c.rejected > 0)
            fprintf(stderr, PROG ": %" PRIu64 " rejected events written to %s\n", ag.c.rejected,
                    outbox_dead_letter_path(ag.ob));
        if (left > 0 && !ag.unauthorised)
            fprintf(stderr,
                    PROG ": %" PRIu64 " events waiting in the outbox %s: run '" PROG
                         " flush --outbox %s' when the daemon is reachable%s\n",
                    left, a->outbox, a->outbox, ag.hs_said ? "" : silence_hint(&ag));
        else if (left > 0)
            fprintf(stderr,
                    PROG ": %" PRIu64 " events waiting in the outbox %s: the daemon refuses this "
                         "agent's key\n",
                    left, a->outbox);
        if (ret == 0 && left > 0)
            ret = 3;
        else if (ret == 0 && ag.c.rejected + ag.c.invalid > 0)
            ret = 1;
        outbox_close(&ag.ob);
    }
    return ret;
}
