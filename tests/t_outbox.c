/* t_outbox: unit tests for outbox.c: append and hand out in order, ack
 * removal, release, reopen, duplicate ids, a torn tail after a simulated
 * crash (cut off, batch all-or-nothing), damage in the middle (refused),
 * compaction (smaller log, same pending events), the dead-letter file
 * (content, once per entry across a crash), taken sources, the lock. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cohort.pb-c.h"
#include "outbox.h"
#include "tap.h"

/* A packed attendance Event with id n (first 12 bytes zero, then n). */
static uint8_t *make_event(unsigned n, size_t *len, uint8_t id[16])
{
    Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
    Cohort__V1__AttendanceRecorded at = COHORT__V1__ATTENDANCE_RECORDED__INIT;
    char ref[32];
    uint8_t *buf;

    memset(id, 0, 16);
    id[6] = 0x70;
    id[8] = 0x80;
    id[12] = (uint8_t)(n >> 24), id[13] = (uint8_t)(n >> 16), id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
    snprintf(ref, sizeof ref, "p%06u", n);
    at.participant_ref = ref;
    at.programme_id = "prog";
    at.cohort_id = "c1";
    at.component = COHORT__V1__COMPONENT_KIND__COACHING;
    at.session_id = "coaching-1";
    at.session_date = "2009-05-01";
    at.status = COHORT__V1__ATTENDANCE_STATUS__PRESENT;
    at.minutes = 120;
    ev.event_id.data = id;
    ev.event_id.len = 16;
    ev.agency = "wm-police";
    ev.occurred_at = 1241168400000000LL;
    ev.body_case = COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED;
    ev.attendance_recorded = &at;
    *len = cohort__v1__event__get_packed_size(&ev);
    buf = malloc(*len);
    cohort__v1__event__pack(&ev, buf);
    return buf;
}

/* Adds events first..first+n-1 as one batch. Returns outbox_add's result. */
static int add_range(outbox_t *ob, const char *src, unsigned first, unsigned n)
{
    outbox_item_t *items = calloc(n, sizeof *items);
    uint8_t **bufs = calloc(n, sizeof *bufs);
    int rc;
    for (unsigned i = 0; i < n; i++) {
        bufs[i] = make_event(first + i, &items[i].len, items[i].id);
        items[i].data = bufs[i];
        items[i].line = first + i;
    }
    rc = outbox_add(ob, src, NULL, items, n);
    for (unsigned i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(items);
    return rc;
}

/* The event number in a handed-out event's id. */
static unsigned id_num(const uint8_t id[16])
{
    return (unsigned)id[12] << 24 | (unsigned)id[13] << 16 | (unsigned)id[14] << 8 | id[15];
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* 1 if the file at path holds the bytes of needle. */
static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    char buf[1 << 16];
    size_t n;
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    char dir[] = "/tmp/cohort-t-outbox-XXXXXX", err[512], logp[300], dlp[300], cmd[800];
    outbox_t *ob = NULL, *ob2 = NULL;
    outbox_info_t info;
    outbox_event_t ev;
    int rc, in_order;

    if (!mkdtemp(dir))
        return 1;
    snprintf(logp, sizeof logp, "%s/ob/outbox.log", dir);
    snprintf(dlp, sizeof dlp, "%s/ob/dead-letter.jsonl", dir);
    char obdir[300];
    snprintf(obdir, sizeof obdir, "%s/ob", dir);

    /* ---- a new outbox; append; hand out in order ---- */
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "opens (creates) an outbox");
    is_int(info.pending, 0, "a new outbox is empty");
    is_int(outbox_open(&ob2, obdir, NULL, NULL, err, sizeof err), -EBUSY,
           "a second open of the same outbox is refused (locked)");
    ok(strstr(err, "in use") != NULL, "and says it is in use: %s", err);
    is_int(add_range(ob, "a.jsonl", 1, 100), 100, "100 events added in one batch");
    is_int(outbox_pending(ob), 100, "100 pending");
    in_order = 1;
    for (unsigned i = 1; i <= 60; i++) {
        if (outbox_next(ob, &ev) != 1 || id_num(ev.id) != i || ev.line != i ||
            strcmp(ev.source, "a.jsonl") != 0)
            in_order = 0;
        if (i == 1) {
            Cohort__V1__Event *e = cohort__v1__event__unpack(NULL, ev.len, ev.data);
            ok(e && strcmp(e->agency, "wm-police") == 0 &&
                   strcmp(e->attendance_recorded->participant_ref, "p000001") == 0,
               "a handed-out event is the packed event that was added");
            cohort__v1__event__free_unpacked(e, NULL);
        }
    }
    ok(in_order, "handed out in add order, with source and line");
    is_int(outbox_unclaimed(ob), 40, "40 not handed out yet");

    /* ---- duplicate ids ---- */
    {
        outbox_item_t it[3];
        uint8_t *b0 = make_event(5, &it[0].len, it[0].id);    /* pending */
        uint8_t *b1 = make_event(1000, &it[1].len, it[1].id); /* new */
        uint8_t *b2 = make_event(1000, &it[2].len, it[2].id); /* twice in the batch */
        it[0].data = b0, it[1].data = b1, it[2].data = b2;
        it[0].line = it[1].line = it[2].line = 1;
        is_int(outbox_add(ob, "b.jsonl", NULL, it, 3), 1,
               "a batch with a pending id and a repeat adds one");
        ok(it[0].skipped && !it[1].skipped && it[2].skipped, "the skipped items are flagged");
        free(b0), free(b1), free(b2);
    }
    is_int(outbox_pending(ob), 101, "101 pending");

    /* ---- ack, release ---- */
    for (uint64_t t = 1; t <= 50; t++)
        outbox_ack(ob, t);
    is_int(outbox_ack(ob, 1), -EALREADY, "a second ack of an entry is -EALREADY");
    is_int(outbox_ack(ob, 99999), -ENOENT, "an ack of an unknown entry is -ENOENT");
    is_int(outbox_pending(ob), 51, "50 acked: 51 pending");
    is_int(outbox_release(ob, 55), 0, "entry 55 released (undelivered)");
    is_int(outbox_next(ob, &ev), 1, "next hands out again");
    is_int(id_num(ev.id), 55, "the released entry first, before later ones");
    is_int(outbox_commit(ob), 0, "commit writes the leave marks");
    outbox_close(&ob);
    ok(ob == NULL, "close nulls the pointer");
    outbox_close(&ob); /* idempotent */

    /* ---- reopen ---- */
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens");
    is_int(info.pending, 51, "51 pending after reopen");
    is_int(info.torn_bytes, 0, "no torn tail after a clean close");
    in_order = 1;
    for (unsigned i = 51; i <= 100; i++)
        if (outbox_next(ob, &ev) != 1 || id_num(ev.id) != i)
            in_order = 0;
    ok(in_order, "after reopen, what was claimed is handed out again, in order (51..100)");
    is_int(outbox_next(ob, &ev), 1, "then the event of the second batch");
    is_int(id_num(ev.id), 1000, "which is event 1000");
    is_int(outbox_next(ob, &ev), 0, "then nothing");
    outbox_close(&ob);

    /* ---- crash: a torn tail ---- */
    outbox_open(&ob, obdir, NULL, NULL, err, sizeof err);
    off_t before = file_size(logp);
    is_int(add_range(ob, "c.jsonl", 2000, 10), 10, "a batch of 10 more");
    off_t after = file_size(logp);
    outbox_close(&ob);
    ok(truncate(logp, after - 7) == 0, "simulated crash: the batch's record is cut short");
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens after the crash");
    ok(info.torn_bytes > 0, "reports a torn tail (%llu bytes)",
       (unsigned long long)info.torn_bytes);
    is_int(info.pending, 51, "the torn batch is gone entirely (all or nothing): 51 pending");
    is_int(file_size(logp), before, "the log is cut back to the last whole record");
    is_int(add_range(ob, "c.jsonl", 2000, 10), 10, "the same batch can be added again");
    outbox_close(&ob);
    {
        int fd = open(logp, O_WRONLY | O_APPEND);
        ok(fd >= 0 && write(fd, "COBX\x02\0\0\0\x10\0\0\0garbage", 19) == 19,
           "simulated crash: a torn header at the end");
        close(fd);
    }
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens");
    is_int(info.torn_bytes, 19, "19 torn bytes cut off");
    is_int(info.pending, 61, "61 pending (nothing lost)");
    outbox_close(&ob);

    /* ---- damage in the middle is refused ---- */
    {
        char copy[300];
        snprintf(copy, sizeof copy, "%s/outbox.log.bak", dir);
        snprintf(cmd, sizeof cmd, "cp %s %s", logp, copy);
        ok(system(cmd) == 0, "saved a copy of the log");
        int fd = open(logp, O_RDWR);
        uint8_t b;
        ok(pread(fd, &b, 1, 100) == 1, "read a byte in the first batch");
        b ^= 0xff;
        ok(pwrite(fd, &b, 1, 100) == 1, "flipped it");
        close(fd);
        rc = outbox_open(&ob, obdir, NULL, &info, err, sizeof err);
        is_int(rc, -EBADMSG, "damage followed by valid records: open refuses (-EBADMSG)");
        ok(strstr(err, "damaged") != NULL, "with a message: %s", err);
        is_int(file_size(logp), file_size(copy), "and cuts nothing off");
        snprintf(cmd, sizeof cmd, "cp %s %s", copy, logp);
        ok(system(cmd) == 0, "restored the log");
    }

    /* ---- dead letter, once per entry across a crash ---- */
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens the restored log");
    is_int(info.pending, 61, "61 pending");
    outbox_next(ob, &ev);
    uint64_t dead = ev.ticket;
    unsigned dead_num = id_num(ev.id);
    is_int(outbox_reject(ob, dead, "REJECT_UNKNOWN_PARTICIPANT", "participant is not registered"),
           0, "a rejected event goes to the dead-letter file");
    is_int(outbox_pending(ob), 60, "and leaves the outbox");
    is_int(outbox_dead_letters(ob), 1, "one dead letter written");
    is_int(count_lines(dlp), 1, "the dead-letter file has one line");
    {
        json_t *o = json_load_file(dlp, 0, NULL);
        json_t *e = o ? json_object_get(o, "event") : NULL;
        ok(o &&
               strcmp(json_string_value(json_object_get(o, "code")),
                      "REJECT_UNKNOWN_PARTICIPANT") == 0 &&
               strcmp(json_string_value(json_object_get(o, "reason")),
                      "participant is not registered") == 0 &&
               json_integer_value(json_object_get(o, "entry")) == (json_int_t)dead &&
               json_string_value(json_object_get(o, "source")) &&
               json_integer_value(json_object_get(o, "line")) == (json_int_t)dead_num,
           "the line has code, reason, entry, source and line");
        ok(e && strcmp(json_string_value(json_object_get(e, "agency")), "wm-police") == 0 &&
               json_object_get(e, "attendanceRecorded") != NULL,
           "and the event itself as JSON");
        struct stat st;
        ok(stat(dlp, &st) == 0 && (st.st_mode & 077) == 0,
           "the dead-letter file is private (0600)");
        json_decref(o);
    }
    /* A crash after the dead-letter write, before the mark is written:
     * the child rejects and dies without commit. */
    outbox_next(ob, &ev);
    uint64_t dead2 = ev.ticket;
    outbox_commit(ob);
    outbox_close(&ob);
    pid_t pid = fork();
    if (pid == 0) {
        outbox_t *c = NULL;
        if (outbox_open(&c, obdir, NULL, NULL, NULL, 0) != 0)
            _exit(2);
        for (int i = 0; i < 2; i++)
            outbox_next(c, &ev);
        outbox_reject(c, dead2, "REJECT_NOT_ENROLLED", "not enrolled");
        _exit(0); /* kill -9 alike: no commit, no close */
    }
    int st;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child rejected an event and died without commit");
    is_int(count_lines(dlp), 2, "its dead letter is in the file");
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens after that crash");
    is_int(info.pending, 60, "the entry is still pending (its leave mark was lost)");
    is_int(outbox_reject(ob, dead2, "REJECT_NOT_ENROLLED", "not enrolled"), 0,
           "rejected again after the restart");
    is_int(count_lines(dlp), 2, "but written to the dead-letter file only once");
    is_int(outbox_pending(ob), 59, "and it has left the outbox");

    /* ---- taken sources ---- */
    {
        uint8_t h[OUTBOX_HASH_LEN], h2[OUTBOX_HASH_LEN];
        outbox_item_t it;
        uint8_t *b = make_event(3000, &it.len, it.id);
        it.data = b;
        it.line = 1;
        memset(h, 0xab, sizeof h);
        memset(h2, 0xcd, sizeof h2);
        is_int(outbox_add(ob, "x.csv", h, &it, 1), 1, "a file taken in with its hash");
        ok(outbox_taken(ob, "x.csv", h), "it is marked taken");
        ok(!outbox_taken(ob, "x.csv", h2), "the same name with other content is not");
        ok(!outbox_taken(ob, "y.csv", h), "another name with that content is not");
        outbox_close(&ob);
        outbox_open(&ob, obdir, NULL, NULL, err, sizeof err);
        ok(outbox_taken(ob, "x.csv", h), "still taken after a reopen");
        is_int(outbox_clear_taken(ob, "x.csv", h), 0, "cleared (moved out of the spool)");
        ok(!outbox_taken(ob, "x.csv", h), "no longer taken");
        outbox_close(&ob);
        outbox_open(&ob, obdir, NULL, NULL, err, sizeof err);
        ok(!outbox_taken(ob, "x.csv", h), "not taken after a reopen either");
        free(b);
    }
    is_int(outbox_pending(ob), 60, "60 pending");

    /* ---- compaction ---- */
    outbox_close(&ob);
    outbox_opts_t small = {.compact_min = 64 << 10};
    is_int(outbox_open(&ob, obdir, &small, &info, err, sizeof err), 0,
           "reopens with a small compaction threshold");
    for (unsigned b = 0; b < 20; b++)
        add_range(ob, "big.jsonl", 10000 + b * 500, 500);
    is_int(outbox_pending(ob), 10060, "10060 pending");
    off_t big = file_size(logp);
    ok(big > 600000, "the log is big (%lld bytes)", (long long)big);
    /* ack all but the first 60 and every 100th of the new ones */
    unsigned kept = 0;
    uint64_t keep_ticket = 0;
    while (outbox_next(ob, &ev) == 1) {
        unsigned num = id_num(ev.id);
        if (num >= 10000 && num % 100 != 7) {
            outbox_ack(ob, ev.ticket);
        } else {
            kept++;
            if (num == 10007)
                keep_ticket = ev.ticket;
        }
    }
    is_int(kept, 160, "160 kept pending");
    is_int(outbox_commit(ob), 0, "commit (compacts: over half of the log is done)");
    off_t small_sz = file_size(logp);
    ok(small_sz < big / 10, "the log shrank: %lld -> %lld bytes", (long long)big,
       (long long)small_sz);
    is_int(outbox_log_bytes(ob), small_sz, "outbox_log_bytes agrees");
    is_int(outbox_pending(ob), 160, "still 160 pending");
    {
        const char *src;
        uint32_t line;
        ok(outbox_where(ob, keep_ticket, &src, &line) == 0 && strcmp(src, "big.jsonl") == 0 &&
               line == 10007,
           "an entry keeps its ticket, source and line across compaction");
    }
    outbox_release_all(ob);
    in_order = 1;
    unsigned n = 0, prev = 0;
    while (outbox_next(ob, &ev) == 1) {
        Cohort__V1__Event *e = cohort__v1__event__unpack(NULL, ev.len, ev.data);
        char want[32];
        snprintf(want, sizeof want, "p%06u", id_num(ev.id));
        if (!e || strcmp(e->attendance_recorded->participant_ref, want) != 0 ||
            id_num(ev.id) <= prev)
            in_order = 0;
        prev = id_num(ev.id);
        cohort__v1__event__free_unpacked(e, NULL);
        n++;
    }
    ok(in_order && n == 160, "after compaction: the same 160 events, intact and in order");
    outbox_close(&ob);
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens the compacted log");
    is_int(info.pending, 160, "160 pending");
    n = 0;
    while (outbox_next(ob, &ev) == 1) {
        outbox_ack(ob, ev.ticket);
        n++;
    }
    is_int(n, 160, "all 160 handed out and acked");
    outbox_close(&ob); /* empty: compacts to a header */
    ok(file_size(logp) < 100, "an empty outbox closes to a tiny log (%lld bytes)",
       (long long)file_size(logp));
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "reopens");
    is_int(info.pending, 0, "nothing pending");
    is_int(add_range(ob, "d.jsonl", 1, 1), 1,
           "an event with an old, delivered id can be added again");
    outbox_next(ob, &ev);
    ok(ev.ticket > dead2, "entry numbers keep increasing after compaction (%llu)",
       (unsigned long long)ev.ticket);
    outbox_close(&ob);

    /* ---- a new log in a dir with an old dead-letter file ---- */
    ok(unlink(logp) == 0, "log removed (dead-letter file kept)");
    is_int(outbox_open(&ob, obdir, NULL, &info, err, sizeof err), 0, "opens a fresh log");
    add_range(ob, "e.jsonl", 1, 1);
    outbox_next(ob, &ev);
    ok(ev.ticket > dead2, "entry numbers start after those in the dead-letter file");
    outbox_close(&ob);

    /* ---- retention (issue 13): outbox_expire ---- */
    {
        char rdir[320], rlog[360], rdl[360], lines[1024];
        uint64_t dropped = 99;
        time_t now = time(NULL);
        char old_at[32], young_at[32];
        struct tm tm;
        snprintf(rdir, sizeof rdir, "%s/ret", dir);
        snprintf(rlog, sizeof rlog, "%s/outbox.log", rdir);
        snprintf(rdl, sizeof rdl, "%s/dead-letter.jsonl", rdir);
        is_int(outbox_open(&ob, rdir, NULL, NULL, err, sizeof err), 0, "retention: opens");
        add_range(ob, "r.jsonl", 1, 2);
        outbox_next(ob, &ev);
        outbox_ack(ob, ev.ticket); /* event 1 acked; event 2 still waits */
        outbox_next(ob, &ev);
        outbox_commit(ob);
        outbox_close(&ob);
        ok(file_has(rlog, "p000001") && file_has(rlog, "p000002"),
           "an acked event stays in outbox.log while another waits (the old behaviour)");
        gmtime_r(&(time_t){now - 40 * 86400}, &tm);
        strftime(old_at, sizeof old_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        gmtime_r(&(time_t){now - 60}, &tm);
        strftime(young_at, sizeof young_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(lines, sizeof lines,
                 "{\"eventId\":\"a\",\"entry\":901,\"deadLetteredAt\":\"%s\",\"event\":\"OLD\"}\n"
                 "{\"eventId\":\"b\",\"entry\":902,\"deadLetteredAt\":\"%s\",\"event\":\"YOUNG\"}\n"
                 "{\"eventId\":\"c\",\"note\":\"no time: kept\"}\n",
                 old_at, young_at);
        write_text(rdl, lines);
        is_int(outbox_open(&ob, rdir, NULL, &info, err, sizeof err), 0, "retention: reopens");
        is_int(info.pending, 1, "one event waiting");
        is_int(outbox_expire(ob, (int64_t)now - 30 * 86400, &dropped), 1,
               "outbox_expire compacts the log");
        is_int(dropped, 1, "... and drops one dead-letter line");
        ok(!file_has(rlog, "p000001"), "the acked event is gone from outbox.log");
        ok(file_has(rlog, "p000002"), "the waiting one is still there");
        ok(!file_has(rdl, "OLD") && file_has(rdl, "YOUNG") && file_has(rdl, "no time"),
           "the old dead letter is gone; the young one and one without a time stay");
        is_int(count_lines(rdl), 2, "two dead-letter lines left");
        is_int(outbox_expire(ob, (int64_t)now - 30 * 86400, &dropped), 0,
               "a second sweep has nothing to do");
        is_int(dropped, 0, "... and drops nothing");
        outbox_next(ob, &ev);
        is_int(id_num(ev.id), 2, "the waiting event is handed out after the sweeps");
        is_int(outbox_reject(ob, ev.ticket, "REJECT_BAD_VALUE", "test"), 0,
               "a dead letter is written after the rewrite");
        is_int(count_lines(rdl), 3, "... appended to the rewritten file");
        is_int(outbox_expire(ob, (int64_t)now + 60, &dropped), 1,
               "a cutoff in the future: the rejected entry's record goes too");
        ok(access(rdl, F_OK) != 0 || !file_has(rdl, "YOUNG"),
           "every dead letter with a time before the cutoff is gone");
        ok(file_has(rdl, "no time"), "... the line without a time stays");
        ok(!file_has(rlog, "p000002"), "outbox.log holds no answered event");
        outbox_close(&ob);
    }

    /* ---- errors ---- */
    rc = outbox_open(&ob, "/nonexistent-parent/x", NULL, NULL, err, sizeof err);
    ok(rc == -ENOENT && strstr(err, "cannot create") != NULL, "a missing parent fails: %s", err);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
