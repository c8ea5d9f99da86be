/* config.c: cohortd's settings from defaults, the configuration file and
 * the flags (see config.h). One table names every option (section, key,
 * flag); one setter checks and stores a value wherever it comes from, so
 * the file and the flags accept exactly the same values. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cohort_ini.h"
#include "endpoint.h"
#include "ingest.h"
#include "log.h"
#include "validate.h"

/* The options, in the order of the file's sections. */
enum {
    O_DATA_DIR,
    O_LOG_LEVEL,
    O_REF_FORM,
    O_INGEST,
    O_PUBLISH,
    O_SNAPSHOT,
    O_CONTROL,
    O_METRICS,
    O_MAX_CONNS,
    O_MAX_PER_ADDR,
    O_SERVER_KEY,
    O_ACCESS_FILE,
    O_PLAINTEXT,
    O_SUPPRESS_K,
    O_AT_RISK_RATIO,
    O_RELEASE_DAYS,
    O_COALESCE_MS,
    O_CHECKPOINT_EVERY,
    O_COUNT
};

/* Where an option lives in the file and on the command line. */
typedef struct {
    const char *section; /* its [section] */
    const char *key;     /* its name there */
    const char *flag;    /* its long flag, without "--" */
} opt_t;

static const opt_t OPTS[O_COUNT] = {
    [O_DATA_DIR] = {"daemon", "data_dir", "data-dir"},
    [O_LOG_LEVEL] = {"daemon", "log_level", "log-level"},
    [O_REF_FORM] = {"daemon", "ref_form", "ref-form"},
    [O_INGEST] = {"endpoints", "ingest", "ingest"},
    [O_PUBLISH] = {"endpoints", "publish", "publish"},
    [O_SNAPSHOT] = {"endpoints", "snapshot", "snapshot"},
    [O_CONTROL] = {"endpoints", "control", "control"},
    [O_METRICS] = {"endpoints", "metrics", "metrics"},
    [O_MAX_CONNS] = {"endpoints", "max_agent_connections", "max-agent-connections"},
    [O_MAX_PER_ADDR] = {"endpoints", "max_agent_connections_per_address",
                        "max-agent-connections-per-address"},
    [O_SERVER_KEY] = {"keys", "server_key", "key"},
    [O_ACCESS_FILE] = {"keys", "access_file", "access-file"},
    [O_PLAINTEXT] = {"keys", "plaintext", "plaintext"},
    [O_SUPPRESS_K] = {"status", "suppress_k", "suppress-k"},
    [O_AT_RISK_RATIO] = {"status", "at_risk_ratio", "at-risk-ratio"},
    [O_RELEASE_DAYS] = {"status", "release_days", "release-days"},
    [O_COALESCE_MS] = {"status", "coalesce_ms", "coalesce-ms"},
    [O_CHECKPOINT_EVERY] = {"status", "checkpoint_every", "checkpoint-every"},
};

static const char *const SECTIONS[] = {"daemon", "endpoints", "keys", "status", NULL};

/* One config_load in progress. */
typedef struct {
    cohortd_config_t *cfg;   /* being built */
    int line[O_COUNT];       /* where each option was set: 0 default, > 0 file line, -1 flag */
    config_report_fn report; /* whom to tell */
    void *arg;               /* report's argument */
    int errors;              /* problems reported */
} load_t;

/* ------------------------------------------------------------ values --- */

/* Reads s as a plain decimal (digits only) from lo to hi. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Replaces the owned string *slot by a copy of v. */
static int set_str(char **slot, const char *v, char *why, size_t len)
{
    char *copy = strdup(v);
    if (!copy) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

/* Longest ipc:// path libzmq binds: a Unix socket address's sun_path less
 * its NUL (a longer one fails only at bind time, with ENAMETOOLONG). */
#define IPC_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Checks that the ipc:// endpoint v's path fits in a Unix socket address.
 * Returns 0, or -1 with why (len bytes). */
static int check_ipc_path(const char *v, char *why, size_t len)
{
    size_t n = strlen(v + 6);
    if (n > IPC_PATH_MAX) {
        snprintf(why, len,
                 "'%s': the socket path is %zu bytes long, and a Unix socket path holds at "
                 "most %zu",
                 v, n, IPC_PATH_MAX);
        return -1;
    }
    return 0;
}

/* Checks an endpoint of ingest, publish, snapshot or control as the daemon
 * binds it (endpoint_check, endpoint.h: tcp://IPV4|*|INTERFACE:PORT or
 * ipc://PATH, no ';' form, no host names), so --check-config finds what
 * would stop the daemon or bind more than was meant. Whether it is local
 * is checked once the whole configuration is known (finish). Returns 0, or
 * -1 with why (len bytes). */
static int check_endpoint(const char *v, char *why, size_t len)
{
    return endpoint_check(v, 0, why, len) < 0 ? -1 : 0;
}

int config_metrics_split(const char *addr, char *host, size_t len, unsigned *port, char *why,
                         size_t whylen)
{
    static const char *loopback[] = {"127.0.0.1", "::1", "localhost"};
    const char *h, *p;
    size_t hl;
    uint64_t v;
    char scratch[8];
    if (!why) {
        why = scratch;
        whylen = sizeof scratch;
    }
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') {
            snprintf(why, whylen,
                     "'%s' is not HOST:PORT (an IPv6 address goes in brackets: "
                     "[::1]:9474)",
                     addr);
            return -EINVAL;
        }
        h = addr + 1;
        hl = (size_t)(close - h);
        p = close + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr))) {
            snprintf(why, whylen,
                     "'%s' is not HOST:PORT such as 127.0.0.1:9474 (an IPv6 "
                     "address goes in brackets: [::1]:9474), or none",
                     addr);
            return -EINVAL;
        }
        h = addr;
        hl = (size_t)(colon - addr);
        p = colon + 1;
    }
    int known = 0;
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (strlen(loopback[i]) == hl && strncmp(h, loopback[i], hl) == 0 &&
            (addr[0] == '[') == (i == 1))
            known = 1;
    if (!known) {
        snprintf(why, whylen,
                 "'%.*s' is not a loopback address: metrics are served only on "
                 "127.0.0.1, [::1] or localhost",
                 (int)hl, h);
        return -EINVAL;
    }
    if (parse_u64(p, 1, 65535, &v) < 0) {
        snprintf(why, whylen, "'%s' is not a port from 1 to 65535", p);
        return -EINVAL;
    }
    if (hl >= len) {
        snprintf(why, whylen, "host too long");
        return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* Checks v for option opt and stores it in c. Returns 0, or -1 with why
 * (len bytes) saying what is wrong with it. */
static int set_value(cohortd_config_t *c, int opt, const char *v, char *why, size_t len)
{
    uint64_t u;
    switch (opt) {
    case O_DATA_DIR:
    case O_SERVER_KEY:
    case O_ACCESS_FILE: {
        char **slot = opt == O_DATA_DIR ? &c->data_dir : opt == O_SERVER_KEY ? &c->key : &c->access;
        if (*v == '\0') {
            snprintf(why, len, "empty path");
            return -1;
        }
        return set_str(slot, v, why, len);
    }
    case O_LOG_LEVEL: {
        int prio = cohort_log_parse_level(v);
        if (prio < 0) {
            snprintf(why, len, "unknown level '%s' (error, warning, notice, info or debug)", v);
            return -1;
        }
        c->log_level = prio;
        return 0;
    }
    case O_INGEST:
    case O_PUBLISH:
    case O_SNAPSHOT: {
        char **slot = opt == O_INGEST ? &c->ingest : opt == O_PUBLISH ? &c->publish : &c->snapshot;
        if (check_endpoint(v, why, len) < 0)
            return -1;
        return set_str(slot, v, why, len);
    }
    case O_CONTROL:
        if (strcmp(v, "none") != 0 &&
            (strncmp(v, "ipc://", 6) != 0 || v[6] == '\0' || v[6] == '@')) {
            snprintf(why, len,
                     "'%s' is not ipc://PATH (the socket file's permissions guard it) "
                     "or none",
                     v);
            return -1;
        }
        if (strcmp(v, "none") != 0 && check_endpoint(v, why, len) < 0)
            return -1;
        return set_str(&c->control, v, why, len);
    case O_METRICS: {
        char host[64];
        unsigned port;
        if (strcmp(v, "none") != 0 && config_metrics_split(v, host, sizeof host, &port, why, len))
            return -1;
        return set_str(&c->metrics, v, why, len);
    }
    case O_REF_FORM:
        if (strcmp(v, "pseudonym") == 0)
            c->ref_form = VALIDATE_REF_PSEUDONYM;
        else if (strcmp(v, "any") == 0)
            c->ref_form = VALIDATE_REF_ANY;
        else {
            snprintf(why, len, "'%s' is not pseudonym or any", v);
            return -1;
        }
        return 0;
    case O_PLAINTEXT:
        if (cohort_ini_bool(v, &c->plaintext) < 0) {
            snprintf(why, len, "'%s' is not true or false", v);
            return -1;
        }
        return 0;
    case O_SUPPRESS_K:
        if (parse_u64(v, 1, 1000, &u) < 0) {
            snprintf(why, len, "'%s' is not a number from 1 to 1000", v);
            return -1;
        }
        c->proj.k = (int)u;
        return 0;
    case O_AT_RISK_RATIO: {
        char *end;
        errno = 0;
        double r = strtod(v, &end);
        if (errno || *end || !*v || !(r >= 0 && r <= 1) || strpbrk(v, " \t")) {
            snprintf(why, len, "'%s' is not a number from 0 to 1", v);
            return -1;
        }
        c->proj.at_risk_ratio = r;
        return 0;
    }
    case O_RELEASE_DAYS:
        if (parse_u64(v, 0, 366, &u) < 0) {
            snprintf(why, len, "'%s' is not a number of days from 0 to 366", v);
            return -1;
        }
        c->proj.release_days = (int)u;
        return 0;
    case O_MAX_CONNS:
    case O_MAX_PER_ADDR:
        if (parse_u64(v, 1, CONFIG_MAX_CONNS_LIMIT, &u) < 0) {
            snprintf(why, len, "'%s' is not a number of connections from 1 to %u", v,
                     CONFIG_MAX_CONNS_LIMIT);
            return -1;
        }
        if (opt == O_MAX_CONNS)
            c->max_conns = (unsigned)u;
        else
            c->max_conns_per_addr = (unsigned)u;
        return 0;
    case O_COALESCE_MS:
        if (parse_u64(v, 0, 60000, &u) < 0) {
            snprintf(why, len, "'%s' is not a number from 0 to 60000", v);
            return -1;
        }
        c->coalesce_ms = (unsigned)u;
        return 0;
    case O_CHECKPOINT_EVERY:
        if (parse_u64(v, 0, UINT64_MAX, &u) < 0) {
            snprintf(why, len, "'%s' is not a number (0: no periodic checkpoint)", v);
            return -1;
        }
        c->checkpoint_every = u;
        return 0;
    }
    snprintf(why, len, "unknown option");
    return -1;
}

const char *config_level_name(int prio)
{
    switch (prio) {
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_NOTICE:
        return "notice";
    case LOG_INFO:
        return "info";
    case LOG_DEBUG:
        return "debug";
    }
    return "?";
}

/* Option opt's value in c as the file would give it. */
static void value_text(const cohortd_config_t *c, int opt, char *out, size_t len)
{
    const char *s = NULL;
    switch (opt) {
    case O_DATA_DIR:
        s = c->data_dir;
        break;
    case O_LOG_LEVEL:
        s = config_level_name(c->log_level);
        break;
    case O_REF_FORM:
        s = c->ref_form == VALIDATE_REF_ANY ? "any" : "pseudonym";
        break;
    case O_INGEST:
        s = c->ingest;
        break;
    case O_PUBLISH:
        s = c->publish;
        break;
    case O_SNAPSHOT:
        s = c->snapshot;
        break;
    case O_CONTROL:
        s = c->control ? c->control : "none";
        break;
    case O_METRICS:
        s = c->metrics ? c->metrics : "none";
        break;
    case O_SERVER_KEY:
        s = c->key;
        break;
    case O_ACCESS_FILE:
        s = c->access;
        break;
    case O_PLAINTEXT:
        s = c->plaintext ? "true" : "false";
        break;
    case O_SUPPRESS_K:
        snprintf(out, len, "%d", c->proj.k);
        return;
    case O_AT_RISK_RATIO:
        snprintf(out, len, "%.15g", c->proj.at_risk_ratio);
        return;
    case O_RELEASE_DAYS:
        snprintf(out, len, "%d", c->proj.release_days);
        return;
    case O_MAX_CONNS:
        snprintf(out, len, "%u", c->max_conns);
        return;
    case O_MAX_PER_ADDR:
        snprintf(out, len, "%u", c->max_conns_per_addr);
        return;
    case O_COALESCE_MS:
        snprintf(out, len, "%u", c->coalesce_ms);
        return;
    case O_CHECKPOINT_EVERY:
        snprintf(out, len, "%llu", (unsigned long long)c->checkpoint_every);
        return;
    }
    snprintf(out, len, "%s", s ? s : "");
}

/* ------------------------------------------------------------ loading --- */

/* Reports a problem with option opt, naming where its value came from. */
__attribute__((format(printf, 4, 5))) static void opt_error(load_t *l, int opt, const char *path,
                                                            const char *fmt, ...)
{
    char why[1024], msg[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (l->line[opt] > 0)
        snprintf(msg, sizeof msg, "%s:%d: option '%s': %s", path, l->line[opt], OPTS[opt].key, why);
    else if (l->line[opt] < 0)
        snprintf(msg, sizeof msg, "cohortd: --%s: %s", OPTS[opt].flag, why);
    else
        snprintf(msg, sizeof msg, "cohortd: option '%s' (default): %s", OPTS[opt].key, why);
    l->report(l->arg, msg);
    l->errors++;
}

/* Where option opt was set, for a message: "FILE:LINE", "--flag" or
 * "the default". */
static void origin(const load_t *l, int opt, char *out, size_t len)
{
    if (l->line[opt] > 0)
        snprintf(out, len, "%s:%d", l->cfg->path, l->line[opt]);
    else if (l->line[opt] < 0)
        snprintf(out, len, "--%s", OPTS[opt].flag);
    else
        snprintf(out, len, "the default");
}

static void on_ini_error(void *arg, const char *msg)
{
    load_t *l = arg;
    l->report(l->arg, msg);
    l->errors++;
}

static int on_ini_value(void *arg, const char *section, const char *key, const char *value,
                        int line, char *why, size_t len)
{
    load_t *l = arg;
    for (int i = 0; i < O_COUNT; i++)
        if (strcmp(OPTS[i].section, section) == 0 && strcmp(OPTS[i].key, key) == 0) {
            if (set_value(l->cfg, i, value, why, len) < 0)
                return -1;
            l->line[i] = line;
            return 0;
        }
    size_t used = (size_t)snprintf(why, len, "unknown in [%s] (options there:", section);
    for (int i = 0; i < O_COUNT && used < len; i++)
        if (strcmp(OPTS[i].section, section) == 0)
            used += (size_t)snprintf(why + used, len - used, " %s", OPTS[i].key);
    if (used < len)
        snprintf(why + used, len - used, ")");
    return -1;
}

/* Replaces the owned string *slot by a formatted one. Returns 0, or -1 on
 * OOM (*slot is then NULL). */
__attribute__((format(printf, 2, 3))) static int set_fmt(char **slot, const char *fmt, ...)
{
    va_list ap;
    free(*slot);
    va_start(ap, fmt);
    int rc = vasprintf(slot, fmt, ap);
    va_end(ap);
    if (rc < 0)
        *slot = NULL;
    return rc < 0 ? -1 : 0;
}

/* 1 if binding the tcp:// endpoint ep (as check_endpoint takes it) takes
 * the port of an IPv4 metrics address (mport on 127.0.0.1): ep is on that
 * port and on 127.0.0.1 or on every IPv4 address. */
static int takes_metrics_port(const char *ep, unsigned mport)
{
    static const char *v4[] = {"*", "0.0.0.0", "127.0.0.1"};
    const char *colon = strncmp(ep, "tcp://", 6) == 0 ? strrchr(ep + 6, ':') : NULL;
    uint64_t port;
    if (!colon || parse_u64(colon + 1, 1, 65535, &port) < 0 || port != mport)
        return 0;
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++)
        if (strlen(v4[i]) == (size_t)(colon - (ep + 6)) &&
            strncmp(ep + 6, v4[i], strlen(v4[i])) == 0)
            return 1;
    return 0;
}

/* Fills in the derived defaults and checks the settings as a whole. */
static void finish(load_t *l)
{
    cohortd_config_t *c = l->cfg;
    char where[4200], why[4400];
    int oom = 0;
    if (!l->line[O_SERVER_KEY]) {
        c->key_default = 1;
        oom |= set_fmt(&c->key, "%s/server.key", c->data_dir);
    }
    if (!l->line[O_ACCESS_FILE])
        oom |= set_fmt(&c->access, "%s/access", c->data_dir);
    if (!l->line[O_CONTROL]) {
        const char *rd = getenv("RUNTIME_DIRECTORY"); /* systemd's; several are ':'-separated */
        if (rd && *rd != '\0' && *rd != ':')
            oom |= set_fmt(&c->control, "ipc://%.*s/control.sock", (int)strcspn(rd, ":"), rd);
        else
            oom |= set_fmt(&c->control, "ipc://%s/control.sock", c->data_dir);
    } else if (strcmp(c->control, "none") == 0) {
        free(c->control);
        c->control = NULL;
    }
    if (c->metrics && strcmp(c->metrics, "none") == 0) {
        free(c->metrics);
        c->metrics = NULL;
    }
    if (oom) {
        l->report(l->arg, "cohortd: out of memory");
        l->errors++;
        return;
    }
    if (!l->line[O_CONTROL] && check_ipc_path(c->control, why, sizeof why) < 0)
        opt_error(l, O_CONTROL, c->path, "%s; set option 'control' to a shorter path", why);
    const int eps[] = {O_INGEST, O_PUBLISH, O_SNAPSHOT, O_CONTROL};
    const char *val[] = {c->ingest, c->publish, c->snapshot, c->control};
    if (c->plaintext)
        for (int i = 0; i < 4; i++)
            if (val[i] && endpoint_check(val[i], 1, why, sizeof why) < 0) {
                origin(l, O_PLAINTEXT, where, sizeof where);
                opt_error(l, eps[i], c->path,
                          "%s is not local, and plaintext is on (%s): plain text is for local "
                          "development only (ipc://, or tcp:// on 127.0.0.1)",
                          val[i], where);
            }
    for (int i = 1; i < 4; i++)
        for (int j = 0; j < i; j++)
            if (val[i] && val[j] && strcmp(val[i], val[j]) == 0) {
                origin(l, eps[j], where, sizeof where);
                opt_error(l, eps[i], c->path, "%s is also option '%s' (%s)", val[i],
                          OPTS[eps[j]].key, where);
            }
    char mhost[64];
    unsigned mport;
    if (c->metrics && config_metrics_split(c->metrics, mhost, sizeof mhost, &mport, NULL, 0) == 0 &&
        strcmp(mhost, "::1") != 0) /* no tcp:// endpoint binds IPv6 */
        for (int i = 0; i < 3; i++)
            if (takes_metrics_port(val[i], mport)) {
                origin(l, eps[i], where, sizeof where);
                opt_error(l, O_METRICS, c->path, "port %u is also taken by option '%s' (%s, %s)",
                          mport, OPTS[eps[i]].key, val[i], where);
            }
}

void config_free(cohortd_config_t *cfg)
{
    if (!cfg)
        return;
    char **strs[] = {&cfg->path,    &cfg->data_dir, &cfg->ingest, &cfg->publish, &cfg->snapshot,
                     &cfg->control, &cfg->metrics,  &cfg->key,    &cfg->access};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    memset(cfg, 0, sizeof *cfg);
}

int config_load(cohortd_config_t *cfg, const config_cli_t *cli, config_report_fn report, void *arg)
{
    load_t l = {.cfg = cfg, .report = report, .arg = arg};
    const char *path = cli->config, *env = getenv(CONFIG_ENV);
    char why[1024];

    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = LOG_INFO;
    cfg->proj =
        (proj_config_t){PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO, PROJ_DEFAULT_RELEASE_DAYS};
    cfg->coalesce_ms = CONFIG_DEFAULT_COALESCE_MS;
    cfg->max_conns = INGEST_DEFAULT_MAX_CONNS;
    cfg->max_conns_per_addr = INGEST_DEFAULT_MAX_CONNS_PER_ADDR;
    cfg->checkpoint_every = CONFIG_DEFAULT_CHECKPOINT_EVERY;
    if (!(cfg->data_dir = strdup(CONFIG_DEFAULT_DATA_DIR)) ||
        !(cfg->ingest = strdup(CONFIG_DEFAULT_INGEST)) ||
        !(cfg->publish = strdup(CONFIG_DEFAULT_PUBLISH)) ||
        !(cfg->snapshot = strdup(CONFIG_DEFAULT_SNAPSHOT))) {
        report(arg, "cohortd: out of memory");
        config_free(cfg);
        return -1;
    }
    if (!path && env && *env != '\0')
        path = env;
    if (!path && (access(CONFIG_DEFAULT_PATH, F_OK) == 0 || errno != ENOENT))
        path = CONFIG_DEFAULT_PATH; /* exists (or cannot tell: then reading it says why) */
    if (path) {
        if (!(cfg->path = strdup(path))) {
            report(arg, "cohortd: out of memory");
            config_free(cfg);
            return -1;
        }
        cohort_ini_t ini = {cfg->path, SECTIONS, on_ini_value, on_ini_error, &l};
        cohort_ini_parse(&ini); /* counts its errors in l */
    }
    for (size_t i = 0; i < cli->nsets; i++) {
        int opt = cli->sets[i].opt;
        l.line[opt] = -1;
        if (set_value(cfg, opt, cli->sets[i].value, why, sizeof why) < 0)
            opt_error(&l, opt, cfg->path, "%s", why);
    }
    finish(&l);
    if (l.errors) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

void config_print(const cohortd_config_t *cfg, FILE *out)
{
    char v[4200];
    const char *section = "";
    fprintf(out, "# cohortd settings in force (defaults, then %s, then flags)\n",
            cfg->path ? cfg->path : "no configuration file");
    for (int i = 0; i < O_COUNT; i++) {
        if (strcmp(section, OPTS[i].section) != 0) {
            section = OPTS[i].section;
            fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
        }
        value_text(cfg, i, v, sizeof v);
        fprintf(out, "%s = %s\n", OPTS[i].key, v);
    }
}

size_t config_diff(const cohortd_config_t *a, const cohortd_config_t *b,
                   void (*changed)(void *arg, const char *key), void *arg)
{
    char va[4200], vb[4200];
    size_t n = 0;
    for (int i = 0; i < O_COUNT; i++) {
        if (i == O_LOG_LEVEL)
            continue;
        value_text(a, i, va, sizeof va);
        value_text(b, i, vb, sizeof vb);
        if (strcmp(va, vb) != 0 ||
            (i == O_AT_RISK_RATIO && a->proj.at_risk_ratio != b->proj.at_risk_ratio)) {
            changed(arg, OPTS[i].key);
            n++;
        }
    }
    return n;
}

static void to_stderr(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "%s\n", msg);
}

int config_check(const config_cli_t *cli)
{
    cohortd_config_t cfg;
    if (config_load(&cfg, cli, to_stderr, NULL) < 0) {
        fprintf(stderr, "cohortd: the configuration has errors\n");
        return 1;
    }
    config_print(&cfg, stdout);
    fflush(stdout);
    if (cfg.path)
        fprintf(stderr, "cohortd: %s: OK\n", cfg.path);
    else
        fprintf(stderr,
                "cohortd: no configuration file (%s does not exist): defaults and flags "
                "OK\n",
                CONFIG_DEFAULT_PATH);
    config_free(&cfg);
    return 0;
}

/* ---------------------------------------------------------- the flags --- */

void config_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: cohortd [OPTION]...\n"
        "The cohortd daemon: receives agencies' programme events over ZeroMQ, stores\n"
        "them durably in RocksDB and acknowledges each once it is on disk.\n"
        "\n"
        "Settings come from the defaults, then the configuration file, then the flags\n"
        "below (a flag wins over the file). The file's options are in cohortd.conf(5).\n"
        "\n"
        "  -c, --config FILE         the configuration file (default: $" CONFIG_ENV " if\n"
        "                            set, else " CONFIG_DEFAULT_PATH " if it exists)\n"
        "      --check-config        check the configuration file and the flags, print the\n"
        "                            settings in force and exit: 0 good, 1 bad\n"
        "  -d, --data-dir DIR        event store directory (default: ./%s)\n"
        "  -i, --ingest ENDPOINT     ZeroMQ endpoint for agents (default: %s)\n"
        "  -p, --publish ENDPOINT    status updates, PUB (default: %s)\n"
        "  -s, --snapshot ENDPOINT   status snapshots, ROUTER (default: %s)\n"
        "      --control ENDPOINT    operator requests (cohortctl); ipc:// only, or 'none'\n"
        "                            (default: ipc://$RUNTIME_DIRECTORY/control.sock if\n"
        "                            RUNTIME_DIRECTORY is set, else ipc://DATA-DIR/control.sock)\n"
        "      --metrics ADDR        Prometheus metrics over HTTP on HOST:PORT, HOST one of\n"
        "                            127.0.0.1, [::1] or localhost; or 'none' (default: none)\n"
        "      --max-agent-connections N\n"
        "                            agent connections kept at most; a newer one is closed at\n"
        "                            once: bounds the memory held for input (default: %d)\n"
        "      --max-agent-connections-per-address N\n"
        "                            of those, at most N from one network address\n"
        "                            (default: %d)\n"
        "      --coalesce-ms MS      at most one update per topic per MS, 0-60000 (default: %d)\n"
        "      --suppress-k K        hide breakdown counts 1..K-1, K 1-1000 (default: %d)\n"
        "      --at-risk-ratio R     at risk below R of the expected minutes, 0-1\n"
        "                            (default: %.2f)\n"
        "      --release-days D      release the breakdowns every D days of the log clock,\n"
        "                            and at cohort milestones; 0: milestones only, 0-366\n"
        "                            (default: %d)\n"
        "      --checkpoint-every N  checkpoint the projections every N accepted events;\n"
        "                            0: only at a clean stop and after an erasure\n"
        "                            (default: %d)\n"
        "  -k, --key FILE            the server's CURVE keypair, as written by cohortctl keygen\n"
        "                            (default: DATA-DIR/server.key, made with server.pub on\n"
        "                            first run)\n"
        "  -a, --access-file FILE    the client keys and their roles (default: DATA-DIR/access;\n"
        "                            see docs/security.md); reloaded on SIGHUP\n"
        "      --ref-form FORM       participant and mentor refs accepted: pseudonym (only\n"
        "                            the p1: form cohort-agent makes; the default) or any\n"
        "                            (the deployment makes its own pseudonyms)\n"
        "      --plaintext           development only: no encryption, no authentication,\n"
        "                            every client may do anything; local endpoints only\n"
        "  -l, --log-level LEVEL     error, warning, notice, info or debug (default: info)\n"
        "  -h, --help                show this help and exit\n"
        "  -V, --version             show the version and exit\n"
        "\n"
        "Stops cleanly on SIGTERM or SIGINT: what was received is committed and acked.\n"
        "SIGHUP reloads the access file (revoked keys lose their connections at once)\n"
        "and the configuration file: log_level takes effect, any other changed option\n"
        "is logged as needing a restart; a bad file is logged and changes nothing.\n"
        "Exit status: 0 stopped cleanly, 1 cannot start (the log says why; also a bad\n"
        "configuration file), 2 bad flags.\n"
        "See cohortd(8), docs/protocol.md for the wire protocol and docs/operations.md\n"
        "to run it.\n",
        CONFIG_DEFAULT_DATA_DIR, CONFIG_DEFAULT_INGEST, CONFIG_DEFAULT_PUBLISH,
        CONFIG_DEFAULT_SNAPSHOT, INGEST_DEFAULT_MAX_CONNS, INGEST_DEFAULT_MAX_CONNS_PER_ADDR,
        CONFIG_DEFAULT_COALESCE_MS, PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO,
        PROJ_DEFAULT_RELEASE_DAYS, CONFIG_DEFAULT_CHECKPOINT_EVERY);
}

void config_cli_free(config_cli_t *cli)
{
    if (!cli)
        return;
    free(cli->sets);
    memset(cli, 0, sizeof *cli);
}

#define FLAG_OPT 0x100   /* getopt val of option i: FLAG_OPT + i */
#define FLAG_CHECK 0x200 /* --check-config */
#define FLAG_CONFIG 'c'  /* --config */

int config_parse_args(config_cli_t *cli, int argc, char **argv)
{
    static const char shorts[] = "d:i:p:s:l:k:a:c:hV";
    static const struct {
        char c;
        int opt;
    } short_opt[] = {{'d', O_DATA_DIR},   {'i', O_INGEST},    {'p', O_PUBLISH},
                     {'s', O_SNAPSHOT},   {'l', O_LOG_LEVEL}, {'k', O_SERVER_KEY},
                     {'a', O_ACCESS_FILE}};
    struct option opts[O_COUNT + 5];
    cohortd_config_t scratch = {0};
    char why[1024];
    int c, n = 0;

    memset(cli, 0, sizeof *cli);
    for (int i = 0; i < O_COUNT; i++)
        opts[n++] = (struct option){
            OPTS[i].flag, i == O_PLAINTEXT ? no_argument : required_argument, 0, FLAG_OPT + i};
    opts[n++] = (struct option){"config", required_argument, 0, FLAG_CONFIG};
    opts[n++] = (struct option){"check-config", no_argument, 0, FLAG_CHECK};
    opts[n++] = (struct option){"help", no_argument, 0, 'h'};
    opts[n++] = (struct option){"version", no_argument, 0, 'V'};
    opts[n] = (struct option){0, 0, 0, 0};
    if (!(cli->sets = calloc((size_t)argc + 1, sizeof *cli->sets))) {
        fprintf(stderr, "cohortd: out of memory\n");
        return -EINVAL;
    }
    optind = 0; /* glibc: start a fresh scan (config_parse_args may run more than once) */
    while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        int opt = -1;
        for (size_t i = 0; i < sizeof short_opt / sizeof short_opt[0]; i++)
            if (c == short_opt[i].c)
                opt = short_opt[i].opt;
        if (c >= FLAG_OPT && c < FLAG_OPT + O_COUNT)
            opt = c - FLAG_OPT;
        if (opt >= 0) {
            const char *v = opt == O_PLAINTEXT ? "true" : optarg;
            if (set_value(&scratch, opt, v, why, sizeof why) < 0) {
                fprintf(stderr, "cohortd: --%s: %s\n", OPTS[opt].flag, why);
                goto usage;
            }
            cli->sets[cli->nsets++] = (config_flag_t){opt, v};
            continue;
        }
        switch (c) {
        case FLAG_CONFIG:
            if (*optarg == '\0') {
                fprintf(stderr, "cohortd: --config: empty path\n");
                goto usage;
            }
            cli->config = optarg;
            break;
        case FLAG_CHECK:
            cli->check = 1;
            break;
        case 'h':
            config_usage(stdout);
            config_free(&scratch);
            config_cli_free(cli);
            return 1;
        case 'V':
            printf("cohortd %s\n", COHORT_VERSION);
            config_free(&scratch);
            config_cli_free(cli);
            return 1;
        default:
            fprintf(stderr, "Try 'cohortd --help' for more information.\n");
            goto usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cohortd: unexpected argument '%s'\nTry 'cohortd --help'.\n", argv[optind]);
        goto usage;
    }
    config_free(&scratch);
    return 0;
usage:
    config_free(&scratch);
    config_cli_free(cli);
    return -EINVAL;
}
