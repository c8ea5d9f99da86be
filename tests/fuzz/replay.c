/* replay.c: a main for the fuzz harness (fuzz_frame.c) that replays files
 * through it and speaks TAP: one test per file, each run in a child process
 * (bounded to 60 s) so a file that crashes, trips a sanitizer or breaks a
 * contract is "not ok" and the rest still run. Built as
 * tests/unit/fuzz-regress.t; with no arguments it replays every file in
 * FUZZ_REGRESS_DIR (tests/fuzz/regress); arguments name files or
 * directories to replay instead (e.g. a crash file libFuzzer saved). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

#define REPLAY_TIMEOUT_S 60 /* per file; a hang is a finding too */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads path whole into a malloc'd buffer. Returns it (size in *len), or
 * NULL with errno set. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    int err;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!nb)
                goto fail;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto fail;
    fclose(f);
    *len = n;
    return buf;
fail:
    err = errno ? errno : EIO;
    free(buf);
    fclose(f);
    errno = err;
    return NULL;
}

/* Replays one file in a child process; one TAP line. */
static void replay(const char *path)
{
    size_t len = 0;
    uint8_t *buf = slurp(path, &len);
    if (!buf) {
        ok(0, "%s: cannot read: %s", path, strerror(errno));
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        ok(0, "%s: fork: %s", path, strerror(errno));
        free(buf);
        return;
    }
    if (pid == 0) {
        alarm(REPLAY_TIMEOUT_S);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        exit(0); /* not _exit: LeakSanitizer runs at exit */
    }
    free(buf);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        ok(1, "%s (%zu bytes)", path, len);
    else if (WIFSIGNALED(st))
        ok(0, "%s (%zu bytes): killed by signal %d%s", path, len, WTERMSIG(st),
           WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    else
        ok(0, "%s (%zu bytes): exit status %d", path, len, WEXITSTATUS(st));
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Replays every file of dir in name order. Returns the number replayed. */
static int replay_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0) {
        ok(0, "%s: cannot list: %s", dir, strerror(errno));
        return 0;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        replay(path);
        free(names[i]);
    }
    free(names);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        int n = replay_dir(FUZZ_REGRESS_DIR);
        ok(n >= 10, "the regression corpus holds %d files (at least 10)", n);
        return tap_done();
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            replay_dir(argv[i]);
        else
            replay(argv[i]);
    }
    return tap_done();
}
