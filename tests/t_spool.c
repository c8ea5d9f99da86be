/* t_spool: unit tests for spool.c, the watched spool directory: which
 * files are ready (suffixes in any case, no dotfiles, no .tmp, no
 * subdirectories) and in what order; other files reported once; the
 * settle rule (first sight, a change, the settle time, empty files once);
 * moves into done/ and failed/ never overwrite (NAME.1, ...), with a
 * reason file; refail from done/; retention by the time of the move. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "tap.h"

static char dir[] = "/tmp/t_spool.XXXXXX";

static void put(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int exists(const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &st) == 0;
}

static char *slurp(const char *rel)
{
    char path[512];
    static char buf[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

int main(void)
{
    char err[512], moved[256], sub[600];
    spool_t *sp = NULL;
    char **names = NULL, **ign = NULL;
    size_t n = 0, ni = 0;
    unsigned wait = 0, removed = 0;
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    ok(spool_open(&sp, "/nonexistent/spool", err, sizeof err) < 0 && sp == NULL,
       "a missing spool directory is refused (%s)", err);
    ok(spool_open(&sp, dir, err, sizeof err) == 0, "spool opened");
    ok(exists("done") && exists("failed"), "done/ and failed/ made");
    is_str(spool_dir(sp), dir, "spool_dir");

    /* which files are ready, in byte order */
    put("b.jsonl", "{}\n");
    put("a.CSV", "x\n");
    put("c.JsonL", "{}\n");
    put(".hidden.jsonl", "{}\n");
    put("d.jsonl.tmp", "{}\n");
    put("notes.txt", "hello\n");
    snprintf(sub, sizeof sub, "%s/sub.jsonl", dir);
    mkdir(sub, 0700);
    ok(spool_list(sp, &names, &n, &ign, &ni) == 0, "listed");
    ok(n == 3 && !strcmp(names[0], "a.CSV") && !strcmp(names[1], "b.jsonl") &&
           !strcmp(names[2], "c.JsonL"),
       "ready: a.CSV, b.jsonl, c.JsonL in byte order (no dotfile, .tmp, directory)");
    ok(ni == 1 && !strcmp(ign[0], "notes.txt"), "notes.txt reported as ignored");
    spool_free_names(names, n);
    spool_free_names(ign, ni);
    ok(spool_list(sp, &names, &n, &ign, &ni) == 0 && ni == 0, "... once only");
    spool_free_names(names, n);
    spool_free_names(ign, ni);

    /* settling */
    is_int(spool_settle(sp, "b.jsonl", 1000, 10000, &wait), SPOOL_CHANGING,
           "first sight: changing");
    ok(wait == 1000, "wait the whole settle time (%u ms)", wait);
    is_int(spool_settle(sp, "b.jsonl", 1000, 10500, &wait), SPOOL_CHANGING,
           "after 500 ms: changing");
    ok(wait == 500, "500 ms more (%u)", wait);
    is_int(spool_settle(sp, "b.jsonl", 1000, 11000, &wait), SPOOL_SETTLED,
           "after 1000 ms: settled");
    put("b.jsonl", "{}\n{}\n"); /* it grew */
    is_int(spool_settle(sp, "b.jsonl", 1000, 11100, &wait), SPOOL_CHANGING, "grew: changing again");
    is_int(spool_settle(sp, "b.jsonl", 1000, 12100, &wait), SPOOL_SETTLED, "then settled again");
    spool_unsettle(sp, "b.jsonl", 12100);
    is_int(spool_settle(sp, "b.jsonl", 1000, 12200, &wait), SPOOL_CHANGING,
           "unsettle starts the time again");
    put("e.jsonl", "");
    is_int(spool_settle(sp, "e.jsonl", 1000, 20000, &wait), SPOOL_CHANGING,
           "an empty file: changing");
    is_int(spool_settle(sp, "e.jsonl", 1000, 21000, &wait), SPOOL_EMPTY_NEW,
           "empty and still: EMPTY_NEW (never taken)");
    is_int(spool_settle(sp, "e.jsonl", 1000, 22000, &wait), SPOOL_EMPTY, "then EMPTY");
    is_int(spool_settle(sp, "gone.jsonl", 1000, 22000, &wait), -ENOENT, "a missing file: -ENOENT");

    /* moves never overwrite */
    ok(spool_done(sp, "b.jsonl", moved, sizeof moved) == 0 && !strcmp(moved, "b.jsonl"),
       "b.jsonl into done/");
    put("b.jsonl", "{}\n");
    ok(spool_done(sp, "b.jsonl", moved, sizeof moved) == 0 && !strcmp(moved, "b.jsonl.1"),
       "a second b.jsonl into done/ as b.jsonl.1");
    ok(exists("done/b.jsonl") && exists("done/b.jsonl.1") && !exists("b.jsonl"), "both there");
    ok(spool_fail(sp, "a.CSV", "bad header", moved, sizeof moved) == 0 && !strcmp(moved, "a.CSV"),
       "a.CSV into failed/");
    is_str(slurp("failed/a.CSV.reason"), "bad header\n", "with its reason (newline added)");
    ok(!exists("failed/.a.CSV.reason.tmp"), "written under a temporary name, renamed into place");
    ok(spool_refail(sp, "b.jsonl.1", "every event rejected", moved, sizeof moved) == 0 &&
           exists("failed/b.jsonl.1") && !exists("done/b.jsonl.1"),
       "refail moves done/b.jsonl.1 into failed/");
    is_int(spool_refail(sp, "nothere", "x", moved, sizeof moved), -ENOENT,
           "refail of a missing one");

    /* retention: by the time of the move */
    ok(spool_expire(sp, (int64_t)time(NULL) - 3600, &removed) == 0 && removed == 0,
       "nothing moved over an hour ago: nothing removed");
    int erc = spool_expire(sp, (int64_t)time(NULL) + 5, &removed);
    ok(erc == 0 && removed == 5,
       "a later cutoff removes the 5 files in done/ and failed/ (reasons included): %u", removed);
    ok(exists("done") && exists("failed") && exists("c.JsonL"),
       "the directories and the spool stay");

    spool_close(&sp);
    ok(sp == NULL, "close nulls the pointer");
    spool_close(&sp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
