/* web_config.c: reading cohort-web's configuration file (see
 * web_config.h) with lib/cohort_ini. */
#include "web_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort_addr.h"
#include "cohort_cli.h"
#include "cohort_ini.h"

void web_config_defaults(web_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = strdup("127.0.0.1:8443");
    c->publish = strdup("tcp://127.0.0.1:7401");
    c->snapshot = strdup("tcp://127.0.0.1:7402");
    c->session_idle_s = 1800;
    c->max_sessions = 1024;
    c->max_connections = 64;
    c->report_dir = strdup(WEB_REPORT_DIR_DEFAULT);
    c->chromium = strdup("/usr/bin/chromium");
    c->sync_timeout_s = 60;
    c->print_timeout_s = 120;
}

static int set_str(char **dst, const char *v, char *why, size_t len)
{
    if (!*v) {
        snprintf(why, len, "empty value");
        return -1;
    }
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

static int set_uint(unsigned *dst, const char *v, unsigned lo, unsigned hi, char *why, size_t len)
{
    if (cohort_cli_uint(v, lo, hi, dst) < 0) {
        snprintf(why, len, "'%.40s' is not a number from %u to %u", v, lo, hi);
        return -1;
    }
    return 0;
}

static int on_value(void *arg, const char *section, const char *key, const char *v, int line,
                    char *why, size_t len)
{
    web_config_t *c = arg;
    (void)line;
    if (strcmp(section, "web") == 0) {
        if (strcmp(key, "listen") == 0) {
            if (cohort_addr_parse(v, COHORT_ADDR_ANY, "listen address", NULL, NULL, why, len) < 0)
                return -1;
            return set_str(&c->listen, v, why, len);
        }
        if (strcmp(key, "metrics") == 0) {
            if (strcmp(v, "none") == 0) {
                free(c->metrics);
                c->metrics = NULL;
                return 0;
            }
            if (cohort_addr_parse(v, COHORT_ADDR_LOOPBACK, "metrics address", NULL, NULL, why,
                                  len) < 0)
                return -1;
            return set_str(&c->metrics, v, why, len);
        }
        if (strcmp(key, "tls-cert") == 0)
            return set_str(&c->tls_cert, v, why, len);
        if (strcmp(key, "tls-key") == 0)
            return set_str(&c->tls_key, v, why, len);
        if (strcmp(key, "users") == 0)
            return set_str(&c->users, v, why, len);
        if (strcmp(key, "session-idle-s") == 0)
            return set_uint(&c->session_idle_s, v, 60, 86400, why, len);
        if (strcmp(key, "max-sessions") == 0)
            return set_uint(&c->max_sessions, v, 1, 100000, why, len);
        if (strcmp(key, "max-connections") == 0)
            return set_uint(&c->max_connections, v, 4, 1024, why, len);
    } else if (strcmp(section, "report") == 0) {
        if (strcmp(key, "dir") == 0)
            return set_str(&c->report_dir, v, why, len);
        if (strcmp(key, "chromium") == 0)
            return set_str(&c->chromium, v, why, len);
        if (strcmp(key, "sync-timeout-s") == 0)
            return set_uint(&c->sync_timeout_s, v, 1, 3600, why, len);
        if (strcmp(key, "print-timeout-s") == 0)
            return set_uint(&c->print_timeout_s, v, 5, 3600, why, len);
    } else {
        if (strcmp(key, "publish") == 0)
            return set_str(&c->publish, v, why, len);
        if (strcmp(key, "snapshot") == 0)
            return set_str(&c->snapshot, v, why, len);
        if (strcmp(key, "server-key") == 0)
            return set_str(&c->server_key, v, why, len);
        if (strcmp(key, "key") == 0)
            return set_str(&c->key, v, why, len);
        if (strcmp(key, "plaintext") == 0) {
            if (cohort_ini_bool(v, &c->plaintext) < 0) {
                snprintf(why, len, "'%.40s' is not true or false", v);
                return -1;
            }
            return 0;
        }
    }
    snprintf(why, len, "unknown option");
    return -1;
}

static void on_error(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "cohort-web: %s\n", msg);
}

int web_config_load(web_config_t *c, const char *path)
{
    static const char *const sections[] = {"web", "cohortd", "report", NULL};
    cohort_ini_t ini = {
        .path = path, .sections = sections, .on_value = on_value, .on_error = on_error, .arg = c};
    int rc = cohort_ini_parse(&ini);
    if (rc != 0)
        return -1;
    int bad = 0;
    const struct {
        const char *v, *name;
    } req[] = {{c->tls_cert, "[web] tls-cert"},
               {c->tls_key, "[web] tls-key"},
               {c->users, "[web] users"},
               {c->plaintext ? "" : c->server_key, "[cohortd] server-key"},
               {c->plaintext ? "" : c->key, "[cohortd] key"}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (!req[i].v) {
            fprintf(stderr, "cohort-web: %s: %s is required\n", path, req[i].name);
            bad = 1;
        }
    return bad ? -1 : 0;
}

void web_config_clear(web_config_t *c)
{
    free(c->listen);
    free(c->metrics);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->users);
    free(c->publish);
    free(c->snapshot);
    free(c->server_key);
    free(c->key);
    free(c->report_dir);
    free(c->chromium);
    memset(c, 0, sizeof *c);
}
