/* sandbox: runs a command under the seccomp and privilege restrictions that
 * systemd/cohortd.service asks systemd for, applied the way systemd 252
 * applies them, so a test can show the daemon (RocksDB, libuv, libzmq,
 * libsodium) works under them without a running systemd (61-systemd.t):
 *
 *   sandbox --allow FILE [--families "AF_UNIX AF_INET ..."] [--on-deny eperm|kill]
 *           -- COMMAND [ARG]...
 *
 * - SystemCallFilter= / SystemCallErrorNumber=EPERM: only the system calls
 *   named in FILE (one per line; the test expands @system-service minus
 *   @privileged and @resources with `systemd-analyze syscall-filter`) are
 *   allowed; any other fails with EPERM, or (--on-deny kill) kills the
 *   process with SIGSYS, which a test sees in the wait status. Names this
 *   architecture does not have are skipped, as systemd does.
 * - SystemCallArchitectures=native: a call from another ABI kills.
 * - RestrictAddressFamilies=: with --families (names as in the unit:
 *   AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET), socket() of any
 *   other family fails with EAFNOSUPPORT.
 * - MemoryDenyWriteExecute=yes: mmap() with PROT_WRITE|PROT_EXEC,
 *   mprotect()/pkey_mprotect() with PROT_EXEC and shmat() with SHM_EXEC
 *   fail with EPERM.
 * - RestrictNamespaces=yes: clone()/unshare() with a namespace flag and
 *   setns() fail with EPERM; clone3() fails with ENOSYS (its flags cannot
 *   be inspected; glibc then falls back to clone()).
 * - NoNewPrivileges=yes: PR_SET_NO_NEW_PRIVS.
 * Each restriction is its own seccomp filter, as systemd loads them: the
 * kernel applies the strictest result. The file system and user
 * namespaces (ProtectSystem=, PrivateUsers=, ...) are not reproduced.
 * Exit: COMMAND's (exec), or 2 on a usage or setup error. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <unistd.h>

#define NS_FLAGS                                                                                   \
    (CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUSER |  \
     CLONE_NEWUTS)

static int fail(const char *what, int rc)
{
    fprintf(stderr, "sandbox: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    return 2;
}

/* Filter 1: the allow list from path; everything else gets deny. */
static int allow_list(const char *path, uint32_t deny)
{
    char line[128];
    int n = 0, rc;
    FILE *f = fopen(path, "r");
    scmp_filter_ctx ctx;
    if (!f)
        return fail(path, errno);
    if (!(ctx = seccomp_init(deny))) {
        fclose(f);
        return fail("seccomp_init", ENOMEM);
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, " \t\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        int nr = seccomp_syscall_resolve_name(line);
        if (nr == __NR_SCMP_ERROR || nr < 0)
            continue; /* not a call of this architecture */
        if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0) {
            fprintf(stderr, "sandbox: allowing %s: %s\n", line, strerror(-rc));
            fclose(f);
            seccomp_release(ctx);
            return 2;
        }
        n++;
    }
    fclose(f);
    if (n == 0) {
        seccomp_release(ctx);
        fprintf(stderr, "sandbox: %s names no system call\n", path);
        return 2;
    }
    rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc < 0 ? fail("loading the allow list", rc) : 0;
}

/* Parses the --families list into allowed[AF_MAX]. Returns 0, or 2. */
static int families(const char *list, int allowed[AF_MAX])
{
    static const struct {
        const char *name;
        int af;
    } known[] = {{"AF_UNIX", AF_UNIX},
                 {"AF_INET", AF_INET},
                 {"AF_INET6", AF_INET6},
                 {"AF_NETLINK", AF_NETLINK},
                 {"AF_PACKET", AF_PACKET}};
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *w = strtok_r(buf, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i].name, w) != 0)
            i++;
        if (i == sizeof known / sizeof known[0]) {
            fprintf(stderr, "sandbox: unknown address family %s\n", w);
            return 2;
        }
        allowed[known[i].af] = 1;
    }
    return 0;
}

/* Filter 2: address families (when allowed is given), W^X memory and
 * namespaces. */
static int restrictions(const int *allowed)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    int rc = 0;
    if (!ctx)
        return fail("seccomp_init", ENOMEM);
    /* RestrictAddressFamilies=: every other family, and any beyond AF_MAX */
    for (int af = 0; allowed && af < AF_MAX; af++)
        if (!allowed[af])
            rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af));
    if (allowed)
        rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                               SCMP_A0(SCMP_CMP_GE, AF_MAX));
    /* MemoryDenyWriteExecute=yes */
    rc |= seccomp_rule_add(
        ctx, eperm, SCMP_SYS(mmap), 1,
        SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC));
    rc |= seccomp_rule_add(ctx, eperm, SCMP_SYS(mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
    rc |= seccomp_rule_add(ctx, eperm, SCMP_SYS(pkey_mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
    rc |= seccomp_rule_add(ctx, eperm, SCMP_SYS(shmat), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC));
    /* RestrictNamespaces=yes */
    for (unsigned long f = 1; f; f <<= 1)
        if (NS_FLAGS & f) {
            rc |=
                seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
            rc |= seccomp_rule_add(ctx, eperm, SCMP_SYS(unshare), 1,
                                   SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
        }
    rc |= seccomp_rule_add(ctx, eperm, SCMP_SYS(setns), 0);
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc) {
        seccomp_release(ctx);
        return fail("building the restrictions", EINVAL);
    }
    rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc < 0 ? fail("loading the restrictions", rc) : 0;
}

int main(int argc, char **argv)
{
    const char *allow = NULL;
    uint32_t deny = SCMP_ACT_ERRNO(EPERM);
    int i = 1, rc, allowed[AF_MAX] = {0}, restrict_af = 0;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--allow") == 0 && i + 1 < argc) {
            allow = argv[++i];
        } else if (strcmp(argv[i], "--families") == 0 && i + 1 < argc) {
            if (families(argv[++i], allowed) != 0)
                return 2;
            restrict_af = 1;
        } else if (strcmp(argv[i], "--on-deny") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "kill") == 0)
                deny = SCMP_ACT_KILL_PROCESS;
            else if (strcmp(v, "eperm") != 0)
                break;
        } else {
            break;
        }
    }
    if (!allow || i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "usage: sandbox --allow FILE [--families \"AF_UNIX AF_INET ...\"] "
                        "[--on-deny eperm|kill] -- COMMAND [ARG]...\n");
        return 2;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail("PR_SET_NO_NEW_PRIVS", errno);
    if ((rc = restrictions(restrict_af ? allowed : NULL)) != 0 ||
        (rc = allow_list(allow, deny)) != 0)
        return rc;
    execvp(argv[i + 1], argv + i + 1);
    return fail(argv[i + 1], errno);
}
