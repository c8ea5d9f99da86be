/* t_config: unit tests for config.c and cohort_ini.c: the defaults, a file
 * with every option, each kind of error with its file:line and option,
 * flags over the file, the derived defaults ($RUNTIME_DIRECTORY), the
 * merged checks, config_diff (what SIGHUP reports) and config_print (its
 * output reads back to the same settings). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "validate.h"
#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/cohort-t-config-XXXXXX";

/* Messages reported by config_load. */
typedef struct {
    char msg[32][1200];
    int n;
} msgs_t;

static void collect(void *arg, const char *msg)
{
    msgs_t *m = arg;
    if (m->n < 32)
        snprintf(m->msg[m->n], sizeof m->msg[0], "%s", msg);
    m->n++;
}

/* Writes text to dir/name; returns the path (static, one at a time). */
static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return path;
    fputs(text, f);
    fclose(f);
    return path;
}

/* Parses argv (NULL-terminated) into cli. */
static int parse(config_cli_t *cli, const char **args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "cohortd";
    for (; *args && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return config_parse_args(cli, argc, argv);
}

/* Loads the file path with flags (NULL-terminated, may be empty) on top. */
static int load(cohortd_config_t *cfg, msgs_t *m, const char *path, const char **flags)
{
    const char *args[32];
    int n = 0;
    config_cli_t cli;
    if (path) {
        args[n++] = "--config";
        args[n++] = path;
    }
    for (; flags && *flags && n < 30; flags++)
        args[n++] = *flags;
    args[n] = NULL;
    memset(m, 0, sizeof *m);
    if (parse(&cli, args) != 0)
        return -100;
    int rc = config_load(cfg, &cli, collect, m);
    config_cli_free(&cli);
    return rc;
}

/* The one message of a load that must fail with exactly it. */
static void one_error(const char *name, const char *text, const char *want, const char *what)
{
    cohortd_config_t cfg;
    msgs_t m;
    const char *path = write_file(name, text);
    char full[1400];
    snprintf(full, sizeof full, "%s:%s", path, want);
    int rc = load(&cfg, &m, path, NULL);
    ok(rc == -1 && m.n == 1, "%s: refused with one message", what);
    is_str(m.n >= 1 ? m.msg[0] : "", full, "%s: the message names file, line and option", what);
    ok(cfg.data_dir == NULL, "%s: the settings are freed", what);
}

static void changed(void *arg, const char *key)
{
    char *s = arg;
    strcat(s, key);
    strcat(s, " ");
}

int main(void)
{
    cohortd_config_t cfg, cfg2;
    config_cli_t cli;
    msgs_t m;
    char buf[4096];
    const char *path;

    if (!mkdtemp(dir))
        return 1;
    unsetenv("RUNTIME_DIRECTORY");
    unsetenv(CONFIG_ENV);

    /* Defaults: an empty file. */
    is_int(load(&cfg, &m, "/dev/null", NULL), 0, "an empty file loads");
    is_int(m.n, 0, "with no messages");
    is_str(cfg.path, "/dev/null", "the file read is recorded");
    is_str(cfg.data_dir, "cohort-data", "default data_dir");
    is_int(cfg.log_level, LOG_INFO, "default log_level info");
    is_str(cfg.ingest, "tcp://127.0.0.1:7400", "default ingest");
    is_str(cfg.publish, "tcp://127.0.0.1:7401", "default publish");
    is_str(cfg.snapshot, "tcp://127.0.0.1:7402", "default snapshot");
    is_str(cfg.control, "ipc://cohort-data/control.sock", "default control: in the data dir");
    ok(cfg.metrics == NULL, "default metrics: off");
    is_str(cfg.key, "cohort-data/server.key", "default server_key");
    is_int(cfg.key_default, 1, "which is made on first run");
    is_str(cfg.access, "cohort-data/access", "default access_file");
    is_int(cfg.plaintext, 0, "default plaintext off");
    is_int(cfg.proj.k, 5, "default suppress_k");
    ok(cfg.proj.at_risk_ratio == 0.75, "default at_risk_ratio 0.75");
    is_int(cfg.proj.release_days, 28, "default release_days 28");
    is_int(cfg.max_conns, 64, "default max_agent_connections 64");
    is_int(cfg.max_conns_per_addr, 16, "default max_agent_connections_per_address 16");
    is_int(cfg.coalesce_ms, 2, "default coalesce_ms");
    is_int(cfg.checkpoint_every, 100000, "default checkpoint_every");
    is_int(cfg.ref_form, VALIDATE_REF_PSEUDONYM, "default ref_form: pseudonyms only");
    config_free(&cfg);
    config_free(&cfg); /* idempotent */
    ok(cfg.data_dir == NULL, "config_free zeroes");

    /* $RUNTIME_DIRECTORY (systemd) moves the control socket; the data dir
     * moves the key, the access file and (without it) the socket. */
    setenv("RUNTIME_DIRECTORY", "/run/cohortd:/run/other", 1);
    load(&cfg, &m, "/dev/null", (const char *[]){"--data-dir", "/var/lib/x", NULL});
    is_str(cfg.control, "ipc:///run/cohortd/control.sock", "RUNTIME_DIRECTORY: its first dir");
    is_str(cfg.key, "/var/lib/x/server.key", "server_key follows data_dir");
    is_str(cfg.access, "/var/lib/x/access", "access_file follows data_dir");
    config_free(&cfg);
    unsetenv("RUNTIME_DIRECTORY");
    load(&cfg, &m, "/dev/null", (const char *[]){"--data-dir", "/var/lib/x", NULL});
    is_str(cfg.control, "ipc:///var/lib/x/control.sock", "no RUNTIME_DIRECTORY: in the data dir");
    config_free(&cfg);

    /* Every option from a file, with comments, blank lines, spaces, an
     * inline comment, CRLF line ends and "key: value". */
    path = write_file("full.conf", "# cohortd\r\n"
                                   "; another comment\n"
                                   "\n"
                                   "[daemon]\n"
                                   "data_dir = /var/lib/cohortd ; inline comment\n"
                                   "  log_level=debug\r\n"
                                   "ref_form = any\n"
                                   "[endpoints]\n"
                                   "ingest = tcp://0.0.0.0:7400\n"
                                   "publish: ipc:///run/c/pub\n"
                                   "snapshot = ipc:///run/c/snap\n"
                                   "control = none\n"
                                   "metrics = 127.0.0.1:9474\n"
                                   "max_agent_connections = 200\n"
                                   "max_agent_connections_per_address = 3\n"
                                   "[keys]\n"
                                   "server_key = /etc/cohortd/server.key\n"
                                   "access_file = /etc/cohortd/access\n"
                                   "plaintext = no\n"
                                   "[status]\n"
                                   "suppress_k = 10\n"
                                   "at_risk_ratio = 0.5\n"
                                   "release_days = 7\n"
                                   "coalesce_ms = 250\n"
                                   "checkpoint_every = 0\n"
                                   "[daemon]\n");
    is_int(load(&cfg, &m, path, NULL), 0, "a file with every option loads");
    if (m.n)
        diag("%s", m.msg[0]);
    is_str(cfg.data_dir, "/var/lib/cohortd", "data_dir (inline comment dropped)");
    is_int(cfg.log_level, LOG_DEBUG, "log_level (leading spaces, no spaces at '=')");
    is_str(cfg.ingest, "tcp://0.0.0.0:7400", "ingest");
    is_str(cfg.publish, "ipc:///run/c/pub", "publish ('key: value')");
    is_str(cfg.snapshot, "ipc:///run/c/snap", "snapshot");
    ok(cfg.control == NULL, "control = none: off");
    is_str(cfg.metrics, "127.0.0.1:9474", "metrics");
    is_int(cfg.max_conns, 200, "max_agent_connections");
    is_int(cfg.max_conns_per_addr, 3, "max_agent_connections_per_address");
    is_str(cfg.key, "/etc/cohortd/server.key", "server_key");
    is_int(cfg.key_default, 0, "a given server_key is never made");
    is_str(cfg.access, "/etc/cohortd/access", "access_file");
    is_int(cfg.plaintext, 0, "plaintext = no");
    is_int(cfg.proj.k, 10, "suppress_k");
    ok(cfg.proj.at_risk_ratio == 0.5, "at_risk_ratio");
    is_int(cfg.proj.release_days, 7, "release_days");
    is_int(cfg.coalesce_ms, 250, "coalesce_ms");
    is_int(cfg.checkpoint_every, 0, "checkpoint_every 0 (no periodic checkpoint)");
    is_int(cfg.ref_form, VALIDATE_REF_ANY, "ref_form = any");

    /* config_print writes a file that reads back to the same settings. */
    FILE *f = fopen(write_file("printed.conf", ""), "w");
    config_print(&cfg, f);
    fclose(f);
    snprintf(buf, sizeof buf, "%s/printed.conf", dir);
    is_int(load(&cfg2, &m, buf, NULL), 0, "config_print's output loads");
    buf[0] = '\0';
    is_int(config_diff(&cfg, &cfg2, changed, buf), 0, "to the same settings");
    is_int(cfg2.log_level, cfg.log_level, "log_level too");
    config_free(&cfg2);

    /* Flags win over the file, whatever their order around --config. */
    {
        const char *args[] = {"--suppress-k", "3",          "--config",    path, "-i",
                              "ipc:///x/in",  "--metrics",  "none",        "-l", "warning",
                              "--control",    "ipc:///x/c", "--plaintext", NULL};
        memset(&m, 0, sizeof m);
        is_int(parse(&cli, args), 0, "flags parse");
        is_int(config_load(&cfg2, &cli, collect, &m), 0, "file + flags load");
        config_cli_free(&cli);
        is_int(cfg2.proj.k, 3, "--suppress-k before --config wins over the file");
        is_str(cfg2.ingest, "ipc:///x/in", "-i wins over the file");
        ok(cfg2.metrics == NULL, "--metrics none turns the file's metrics off");
        is_int(cfg2.log_level, LOG_WARNING, "-l wins");
        is_str(cfg2.control, "ipc:///x/c", "--control wins");
        is_int(cfg2.plaintext, 1, "--plaintext wins over plaintext = no");
        is_str(cfg2.data_dir, "/var/lib/cohortd", "options without a flag keep the file's value");
        ok(cfg2.proj.at_risk_ratio == 0.5, "and so does at_risk_ratio");
        buf[0] = '\0';
        config_diff(&cfg, &cfg2, changed, buf);
        is_str(buf, "ingest control metrics plaintext suppress_k ",
               "config_diff names every changed option but log_level, in file order");
        config_free(&cfg2);
    }
    config_free(&cfg);

    /* Without --config: $COHORTD_CONFIG, which must exist. */
    setenv(CONFIG_ENV, path, 1);
    is_int(load(&cfg, &m, NULL, NULL), 0, "$" CONFIG_ENV " is read without --config");
    is_str(cfg.data_dir, "/var/lib/cohortd", "its values are used");
    config_free(&cfg);
    setenv(CONFIG_ENV, "/nonexistent/cohortd.conf", 1);
    is_int(load(&cfg, &m, NULL, NULL), -1, "a missing $" CONFIG_ENV " file is an error");
    is_str(m.msg[0], "/nonexistent/cohortd.conf: cannot read: No such file or directory",
           "naming the file and why");
    is_int(load(&cfg, &m, "/dev/null", NULL), 0, "--config wins over $" CONFIG_ENV);
    config_free(&cfg);
    unsetenv(CONFIG_ENV);
    is_int(load(&cfg, &m, "/nonexistent/x.conf", NULL), -1, "a missing --config file: error");
    is_str(m.msg[0], "/nonexistent/x.conf: cannot read: No such file or directory",
           "naming the file and why");
    is_int(load(&cfg, &m, dir, NULL), -1, "a directory as the file: error");
    snprintf(buf, sizeof buf, "%s: cannot read: Is a directory", dir);
    is_str(m.msg[0], buf, "naming it and why");

    /* Each kind of error, alone, with its exact message. */
    one_error("sec.conf", "[daemon]\nlog_level = info\n\n[deamon]\ndata_dir = x\n",
              "4: unknown section [deamon] (known: [daemon], [endpoints], [keys], [status])",
              "unknown section (its options not reported again)");
    one_error("key.conf", "[status]\nsupress_k = 3\n",
              "2: option 'supress_k': unknown in [status] (options there: suppress_k "
              "at_risk_ratio release_days coalesce_ms checkpoint_every)",
              "unknown key");
    one_error(
        "wrongsec.conf", "[daemon]\ningest = ipc:///x\n",
        "2: option 'ingest': unknown in [daemon] (options there: data_dir log_level ref_form)",
        "a key in the wrong section");
    one_error("k.conf", "[status]\n\nsuppress_k = 0\n",
              "3: option 'suppress_k': '0' is not a number from 1 to 1000", "bad suppress_k");
    one_error("r.conf", "[status]\nat_risk_ratio = 1.5\n",
              "2: option 'at_risk_ratio': '1.5' is not a number from 0 to 1", "bad at_risk_ratio");
    one_error("rd.conf", "[status]\nrelease_days = 400\n",
              "2: option 'release_days': '400' is not a number of days from 0 to 366",
              "bad release_days");
    one_error("mc.conf", "[endpoints]\nmax_agent_connections = 0\n",
              "2: option 'max_agent_connections': '0' is not a number of connections from 1 to "
              "65536",
              "bad max_agent_connections");
    one_error("c.conf", "[status]\ncoalesce_ms = -1\n",
              "2: option 'coalesce_ms': '-1' is not a number from 0 to 60000", "bad coalesce_ms");
    one_error("cp.conf", "[status]\ncheckpoint_every = 1e6\n",
              "2: option 'checkpoint_every': '1e6' is not a number (0: no periodic checkpoint)",
              "bad checkpoint_every");
    one_error("rf.conf", "[daemon]\nref_form = raw\n",
              "2: option 'ref_form': 'raw' is not pseudonym or any", "bad ref_form");
    one_error("l.conf", "[daemon]\nlog_level = verbose\n",
              "2: option 'log_level': unknown level 'verbose' (error, warning, notice, info or "
              "debug)",
              "bad log_level");
    one_error("p.conf", "[keys]\nplaintext = maybe\n",
              "2: option 'plaintext': 'maybe' is not true or false", "bad plaintext");
    one_error("e.conf", "[endpoints]\ningest = 127.0.0.1:7400\n",
              "2: option 'ingest': '127.0.0.1:7400' is not an endpoint such as "
              "tcp://127.0.0.1:7400 or ipc:///run/cohortd/ingest.sock",
              "bad endpoint");
    one_error("ctl.conf", "[endpoints]\ncontrol = tcp://127.0.0.1:7403\n",
              "2: option 'control': 'tcp://127.0.0.1:7403' is not ipc://PATH (the socket file's "
              "permissions guard it) or none",
              "control not ipc://");
    one_error("m.conf", "[endpoints]\nmetrics = 0.0.0.0:9474\n",
              "2: option 'metrics': '0.0.0.0' is not a loopback address: metrics are served "
              "only on 127.0.0.1, [::1] or localhost",
              "metrics not on loopback");
    one_error("m2.conf", "[endpoints]\nmetrics = localhost:0\n",
              "2: option 'metrics': '0' is not a port from 1 to 65535", "metrics port 0");
    one_error("d.conf", "[daemon]\ndata_dir =\n", "2: option 'data_dir': empty path",
              "empty data_dir");
    one_error("dup.conf", "[status]\nsuppress_k = 5\n[daemon]\n[status]\nsuppress_k = 6\n",
              "5: option 'suppress_k': given twice in [status] (first on line 2)",
              "duplicate key (across repeated sections)");
    one_error("syn.conf", "[daemon]\ndata_dir /var/lib/cohortd\n",
              "2: expected 'option = value', '[section]' or a comment", "a line without '='");
    one_error("br.conf", "[daemon\ndata_dir = x\n", "1: '[' without a closing ']'",
              "a section without ']' (its options not reported)");
    one_error("out.conf", "log_level = info\n[daemon]\n",
              "1: option 'log_level': outside any section (sections: [daemon], [endpoints], "
              "[keys], [status])",
              "an option before any section");
    one_error("cont.conf", "[daemon]\ndata_dir = a\n  data_dir = b\n",
              "3: option 'data_dir': given twice in [daemon] (first on line 2)",
              "an indented line is no continuation");
    snprintf(buf, sizeof buf, "[daemon]\ndata_dir = /%0200d\n", 0);
    one_error("long.conf", buf, "2: line longer than 197 characters", "an overlong line");

    /* Endpoints are checked as libzmq checks them when binding, so that
     * --check-config finds what would stop the daemon at start. */
    {
        char p107[108], p108[109], want[4600], ep[4200];
        memset(p107, 'a', 107);
        p107[0] = '/';
        p107[107] = '\0';
        memcpy(p108, p107, 107);
        p108[107] = 'b';
        p108[108] = '\0';
        snprintf(buf, sizeof buf, "[endpoints]\ningest = ipc://%s\n", p107);
        path = write_file("ipc107.conf", buf);
        is_int(load(&cfg, &m, path, NULL), 0, "an ipc:// path of 107 bytes (the most) loads");
        config_free(&cfg);
        snprintf(buf, sizeof buf, "[endpoints]\ningest = ipc://%s\n", p108);
        snprintf(want, sizeof want,
                 "2: option 'ingest': 'ipc://%s': the socket path is 108 bytes long, and a "
                 "Unix socket path holds at most 107",
                 p108);
        one_error("ipc108.conf", buf, want, "an ipc:// path too long for a Unix socket");
        snprintf(buf, sizeof buf, "[endpoints]\ncontrol = ipc://%s\n", p108);
        snprintf(want, sizeof want,
                 "2: option 'control': 'ipc://%s': the socket path is 108 bytes long, and a "
                 "Unix socket path holds at most 107",
                 p108);
        one_error("ctl108.conf", buf, want, "a control path too long for a Unix socket");
        /* the default control socket, made from a long data directory */
        snprintf(buf, sizeof buf, "/tmp/%0100d", 0);
        is_int(load(&cfg, &m, "/dev/null", (const char *[]){"--data-dir", buf, NULL}), -1,
               "a data_dir too long for the default control socket is refused");
        snprintf(ep, sizeof ep, "ipc://%s/control.sock", buf);
        snprintf(want, sizeof want,
                 "cohortd: option 'control' (default): '%s': the socket path is %zu bytes "
                 "long, and a Unix socket path holds at most 107; set option 'control' to a "
                 "shorter path",
                 ep, strlen(ep) - 6);
        ok(m.n == 1, "with one message");
        is_str(m.msg[0], want, "saying the derived control path is too long and what to do");
        is_int(load(&cfg, &m, "/dev/null",
                    (const char *[]){"--data-dir", buf, "--control", "none", NULL}),
               0, "with control = none it loads");
        config_free(&cfg);
    }
    one_error("tcpnoport.conf", "[endpoints]\npublish = tcp://127.0.0.1\n",
              "2: option 'publish': 'tcp://127.0.0.1' is not tcp://HOST:PORT such as "
              "tcp://127.0.0.1:7400 (PORT a number from 0 to 65535, or *)",
              "a tcp:// endpoint without a port");
    one_error("tcpport.conf", "[endpoints]\npublish = tcp://[::1]:70000\n",
              "2: option 'publish': 'tcp://[::1]:70000' is not tcp://HOST:PORT such as "
              "tcp://127.0.0.1:7400 (PORT a number from 0 to 65535, or *)",
              "a tcp:// port above 65535");
    one_error("tcplocalhost.conf", "[endpoints]\ningest = tcp://localhost:7400\n",
              "2: option 'ingest': 'tcp://localhost:7400': the daemon binds tcp:// only on an "
              "IPv4 address, * or a network interface's name (no host names such as "
              "localhost, no IPv6), e.g. tcp://127.0.0.1:7400",
              "tcp://localhost (libzmq resolves no host name to bind)");
    one_error("tcp6.conf", "[endpoints]\nsnapshot = tcp://[::1]:7402\n",
              "2: option 'snapshot': 'tcp://[::1]:7402': the daemon binds tcp:// only on an "
              "IPv4 address, * or a network interface's name (no host names such as "
              "localhost, no IPv6), e.g. tcp://127.0.0.1:7402",
              "tcp://[::1] (IPv6 is off on the daemon's sockets)");
    is_int(load(&cfg, &m, "/dev/null",
                (const char *[]){"-i", "tcp://*:7400", "-p", "tcp://0.0.0.0:7401", "-s",
                                 "tcp://lo:0", NULL}),
           0, "tcp://*:PORT, an IPv4 address and an interface with port 0 load");
    if (m.n)
        diag("%s", m.msg[0]);
    config_free(&cfg);

    /* Issue 13 item 3: libzmq's tcp://SOURCE;DESTINATION form binds
     * DESTINATION, so it is refused everywhere; so are host names. */
    one_error("semi.conf", "[endpoints]\ningest = tcp://127.0.0.1:0;0.0.0.0:7570\n",
              "2: option 'ingest': 'tcp://127.0.0.1:0;0.0.0.0:7570' has a ';': libzmq reads "
              "tcp://SOURCE;DESTINATION and binds DESTINATION, so no endpoint may have one",
              "the tcp://SOURCE;DESTINATION form");
    one_error("semictl.conf", "[endpoints]\ncontrol = ipc:///tmp/c;x\n",
              "2: option 'control': 'ipc:///tmp/c;x' has a ';': libzmq reads "
              "tcp://SOURCE;DESTINATION and binds DESTINATION, so no endpoint may have one",
              "a ';' in the control endpoint");
    one_error("host.conf", "[endpoints]\npublish = tcp://cohortd.example.org:7537\n",
              "2: option 'publish': 'tcp://cohortd.example.org:7537': the daemon binds tcp:// "
              "only on an IPv4 address, * or a network interface's name (no host names such as "
              "localhost, no IPv6), e.g. tcp://127.0.0.1:7537",
              "a host name (issue 15 item 5)");
    one_error("ws.conf", "[endpoints]\nsnapshot = ws://127.0.0.1:7402\n",
              "2: option 'snapshot': 'ws://127.0.0.1:7402': the daemon binds only tcp:// and "
              "ipc:// endpoints, such as tcp://127.0.0.1:7400 or ipc:///run/cohortd/ingest.sock",
              "a transport other than tcp:// and ipc://");
    ok(load(&cfg, &m, "/dev/null",
            (const char *[]){"--plaintext", "-i", "tcp://127.0.0.1:0;0.0.0.0:7570", NULL}) < 0,
       "--plaintext -i tcp://127.0.0.1:0;0.0.0.0:7570 is refused (when the flags are read)");
    is_int(load(&cfg, &m, "/dev/null",
                (const char *[]){"--plaintext", "-i", "tcp://127.0.0.2:0", "-p", "ipc:///tmp/p",
                                 "-s", "tcp://127.0.0.1:0", NULL}),
           0, "plaintext with 127.0.0.0/8 and ipc:// loads");
    config_free(&cfg);
    is_int(load(&cfg, &m, "/dev/null", (const char *[]){"--plaintext", "-i", "tcp://lo:0", NULL}),
           -1, "plaintext refuses an interface name (not plainly loopback)");
    ok(m.n >= 1 && strstr(m.msg[0], "tcp://lo:0 is not local"), "and says why: %s", m.msg[0]);
    config_free(&cfg);
    is_int(load(&cfg, &m, "/dev/null", (const char *[]){"--plaintext", "-s", "tcp://*:0", NULL}),
           -1, "plaintext refuses tcp://*");
    config_free(&cfg);

    /* The metrics port is not one a tcp:// endpoint binds. */
    path = write_file("mport.conf", "[endpoints]\nmetrics = localhost:7400\n");
    is_int(load(&cfg, &m, path, NULL), -1, "metrics on the default ingest port is refused");
    snprintf(buf, sizeof buf,
             "%s:2: option 'metrics': port 7400 is also taken by option 'ingest' "
             "(tcp://127.0.0.1:7400, the default)",
             path);
    is_str(m.msg[0], buf, "naming both options and where each was set");
    load(&cfg, &m, "/dev/null",
         (const char *[]){"--ingest", "tcp://*:9474", "--metrics", "127.0.0.1:9474", NULL});
    is_str(m.msg[0],
           "cohortd: --metrics: port 9474 is also taken by option 'ingest' (tcp://*:9474, "
           "--ingest)",
           "an ingest on every address takes the port from 127.0.0.1 too");
    is_int(load(&cfg, &m, "/dev/null", (const char *[]){"--metrics", "[::1]:7400", NULL}), 0,
           "metrics on [::1] beside an IPv4 ingest on the same port load");
    config_free(&cfg);
    /* Merged checks: the message names where each value came from. */
    path = write_file("plain2.conf", "[keys]\nplaintext = true\n[endpoints]\npublish = "
                                     "tcp://0.0.0.0:7401\n");
    load(&cfg, &m, path, NULL);
    snprintf(buf, sizeof buf,
             "%s:4: option 'publish': tcp://0.0.0.0:7401 is not local, and plaintext is on "
             "(%s:2): plain text is for local development only (ipc://, or tcp:// on "
             "127.0.0.1)",
             path, path);
    is_str(m.msg[0], buf, "plaintext: names both lines");
    load(&cfg, &m, "/dev/null", (const char *[]){"--plaintext", "-i", "tcp://10.0.0.1:7400", NULL});
    is_str(m.msg[0],
           "cohortd: --ingest: tcp://10.0.0.1:7400 is not local, and plaintext is on "
           "(--plaintext): plain text is for local development only (ipc://, or tcp:// on "
           "127.0.0.1)",
           "plaintext from flags: names the flags");
    path = write_file("same.conf", "[endpoints]\ningest = ipc:///x\npublish = ipc:///x\n");
    load(&cfg, &m, path, NULL);
    snprintf(buf, sizeof buf, "%s:3: option 'publish': ipc:///x is also option 'ingest' (%s:2)",
             path, path);
    is_str(m.msg[0], buf, "merged: one endpoint used twice");

    /* Several errors: each is reported, in file order. */
    path = write_file("many.conf", "[daemon]\nlog_level = loud\n[x]\ny = 1\n[status]\n"
                                   "suppress_k = 1\nsuppress_k = 2\nnot an option\n");
    is_int(load(&cfg, &m, path, NULL), -1, "a file with four errors is refused");
    is_int(m.n, 4, "all four are reported");
    snprintf(buf, sizeof buf, "%s:2: ", path);
    ok(strncmp(m.msg[0], buf, strlen(buf)) == 0, "first: line 2");
    snprintf(buf, sizeof buf, "%s:3: ", path);
    ok(strncmp(m.msg[1], buf, strlen(buf)) == 0, "then line 3 (the section, not its option)");
    snprintf(buf, sizeof buf, "%s:7: ", path);
    ok(strncmp(m.msg[2], buf, strlen(buf)) == 0, "then line 7");
    snprintf(buf, sizeof buf, "%s:8: ", path);
    ok(strncmp(m.msg[3], buf, strlen(buf)) == 0, "then line 8");

    /* A UTF-8 byte-order mark is skipped. */
    path = write_file("bom.conf", "\xEF\xBB\xBF[status]\nsuppress_k = 7\n");
    is_int(load(&cfg, &m, path, NULL), 0, "a file starting with a BOM loads");
    is_int(cfg.proj.k, 7, "and is read");
    config_free(&cfg);

    /* Bad flag values are usage errors; the same checks as the file. */
    is_int(parse(&cli, (const char *[]){"--suppress-k", "0", NULL}), -EINVAL,
           "--suppress-k 0 is refused");
    is_int(parse(&cli, (const char *[]){"--metrics", "192.168.1.1:9474", NULL}), -EINVAL,
           "--metrics off loopback is refused");
    is_int(parse(&cli, (const char *[]){"--config", "", NULL}), -EINVAL, "--config '' too");
    is_int(parse(&cli, (const char *[]){"stray", NULL}), -EINVAL, "an argument too");
    is_int(parse(&cli, (const char *[]){"--check-config", "-c", "/x", NULL}), 0,
           "--check-config -c FILE parses");
    ok(cli.check == 1 && strcmp(cli.config, "/x") == 0, "into check and config");
    config_cli_free(&cli);

    /* Metrics addresses. */
    char host[64];
    unsigned port = 0;
    is_int(config_metrics_split("127.0.0.1:9474", host, sizeof host, &port, NULL, 0), 0,
           "127.0.0.1:9474");
    ok(strcmp(host, "127.0.0.1") == 0 && port == 9474, "splits into host and port");
    is_int(config_metrics_split("[::1]:80", host, sizeof host, &port, NULL, 0), 0, "[::1]:80");
    ok(strcmp(host, "::1") == 0 && port == 80, "host without brackets");
    is_int(config_metrics_split("localhost:65535", host, sizeof host, &port, NULL, 0), 0,
           "localhost:65535");
    is_int(config_metrics_split("::1:80", host, sizeof host, &port, NULL, 0), -EINVAL,
           "IPv6 without brackets is refused");
    is_int(config_metrics_split("[127.0.0.1]:80", host, sizeof host, &port, NULL, 0), -EINVAL,
           "IPv4 in brackets is refused");
    is_int(config_metrics_split("127.0.0.2:80", host, sizeof host, &port, NULL, 0), -EINVAL,
           "another 127/8 address is refused");
    is_int(config_metrics_split("localhost:65536", host, sizeof host, &port, NULL, 0), -EINVAL,
           "port 65536 is refused");
    is_int(config_metrics_split("localhost", host, sizeof host, &port, NULL, 0), -EINVAL,
           "no port is refused");

    snprintf(buf, sizeof buf, "rm -rf %s", dir);
    if (system(buf) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
