/* t_web_users.c: unit tests of agents/web/web_users.c, cohort-web's users
 * file: adduser (fields checked, argon2id hash, mode 0600, duplicates
 * refused), load (mode and syntax errors with PATH:LINE), verify (right
 * and wrong passwords, unknown names alike). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "web_users.h"

static char tmp[] = "/tmp/cohort-t-web-users-XXXXXX";

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            perror("write");
        fchmod(fd, mode);
        close(fd);
    }
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

int main(void)
{
    char path[PATH_MAX], other[PATH_MAX], err[1024];
    web_users_t *u = NULL;
    web_user_t who;
    struct stat st;
    if (!mkdtemp(tmp))
        return 1;
    snprintf(path, sizeof path, "%s/users", tmp);
    snprintf(other, sizeof other, "%s/other", tmp);

    is_int(web_users_add(path, "board1", "board", "", "correct horse battery", err, sizeof err), 0,
           "adduser makes the file with a board user");
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the new file is mode 0600");
    ok(strstr(slurp(path), "board1 board $argon2id$") != NULL, "the line is NAME ROLE HASH");
    ok(!strstr(slurp(path), "correct horse"), "the password is not in the file");
    is_int(
        web_users_add(path, "hr-a", "agency-hr", "wm-police", "another password", err, sizeof err),
        0, "adduser an agency-hr user of wm-police");
    ok(strstr(slurp(path), "hr-a agency-hr wm-police $argon2id$") != NULL, "  with its agency");
    is_int(web_users_add(path, "board1", "board", "", "correct horse battery", err, sizeof err),
           -EEXIST, "a name already there is refused: %s", err);
    is_int(web_users_add(path, "x", "agency-hr", "", "long enough pw", err, sizeof err), -EINVAL,
           "agency-hr without an agency is refused: %s", err);
    is_int(web_users_add(path, "x", "board", "wm-police", "long enough pw", err, sizeof err),
           -EINVAL, "board with an agency is refused: %s", err);
    is_int(web_users_add(path, "x", "agent", "wm-police", "long enough pw", err, sizeof err),
           -EINVAL, "role agent is refused (it reads nothing): %s", err);
    is_int(web_users_add(path, "x", "web", "", "long enough pw", err, sizeof err), -EINVAL,
           "role web is refused (cohort-web's own key only): %s", err);
    is_int(web_users_add(path, "Bad Name", "board", "", "long enough pw", err, sizeof err), -EINVAL,
           "a name with capitals or spaces is refused");
    is_int(web_users_add(path, "y", "board", "", "short", err, sizeof err), -EINVAL,
           "a password under 10 characters is refused: %s", err);

    is_int(web_users_load(&u, path, err, sizeof err), 0, "the file loads");
    is_int(u ? web_users_count(u) : 0, 2, "  with 2 users");
    if (u) {
        ok(web_users_verify(u, "board1", "correct horse battery", &who) == 0 &&
               who.role == COHORT_ROLE_BOARD && strcmp(who.name, "board1") == 0 && !*who.agency,
           "the right password verifies, as board");
        ok(web_users_verify(u, "hr-a", "another password", &who) == 0 &&
               who.role == COHORT_ROLE_AGENCY_HR && strcmp(who.agency, "wm-police") == 0,
           "agency-hr verifies with its agency");
        is_int(web_users_verify(u, "board1", "correct horse batterY", &who), -EACCES,
               "a wrong password is refused");
        is_int(web_users_verify(u, "nobody", "correct horse battery", &who), -EACCES,
               "an unknown name is refused the same way");
        is_int(web_users_verify(u, "board1", "", &who), -EACCES, "an empty password is refused");
        web_users_destroy(&u);
    }
    ok(u == NULL, "destroy nulls the pointer");

    chmod(path, 0640);
    is_int(web_users_load(&u, path, err, sizeof err), -EPERM,
           "a group-readable file is refused: %s", err);
    chmod(path, 0604);
    is_int(web_users_load(&u, path, err, sizeof err), -EPERM, "so is a world-readable one");
    is_int(web_users_add(path, "z", "board", "", "long enough pw", err, sizeof err), -EPERM,
           "adduser refuses to add to such a file");
    chmod(path, 0600);

    struct {
        const char *text, *want;
    } bad[] = {
        {"# c\nboard1 board\n", ":2: expected NAME ROLE [AGENCY] HASH"},
        {"board1 boss $argon2id$x\n", ":1: the role must be board"},
        {"board1 board $2y$10$abc\n", ":1: the last field is not an argon2id hash"},
        {"a board $argon2id$x\na board $argon2id$y\n", ":2: user 'a' listed twice"},
        {"hr agency-hr $argon2id$x\n", ":1: role agency-hr needs an agency"},
        {"a b c d e\n", ":1: too many fields"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[PATH_MAX + 128];
        write_file(other, bad[i].text, 0600);
        snprintf(want, sizeof want, "%s%s", other, bad[i].want);
        int rc = web_users_load(&u, other, err, sizeof err);
        ok(rc == -EINVAL && strncmp(err, want, strlen(want)) == 0 && !u, "bad file %zu: %s", i,
           err);
    }
    write_file(other, "# only comments\n\n", 0600);
    ok(web_users_load(&u, other, err, sizeof err) == 0 && web_users_count(u) == 0,
       "a file of comments is an empty table");
    if (u)
        is_int(web_users_verify(u, "anyone", "long enough pw", &who), -EACCES,
               "  where nobody logs in");
    web_users_destroy(&u);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        diag("could not remove %s", tmp);
    return tap_done();
}
