/* t_agent_config: unit tests for agent_config.c, cohort-agent --config:
 * entries in file order with their lines, booleans normalised, spool, and
 * each kind of error with its FILE:LINE message (unknown section or key, a
 * denied option, a key given twice, an empty value, a bad boolean, a
 * missing file). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "tap.h"

static const struct option OPTS[] = {{"endpoint", required_argument, NULL, 'e'},
                                     {"window", required_argument, NULL, 'w'},
                                     {"plaintext", no_argument, NULL, 'P'},
                                     {"quiet", no_argument, NULL, 'q'},
                                     {"help", no_argument, NULL, 'h'},
                                     {"config", required_argument, NULL, 'c'},
                                     {NULL, 0, NULL, 0}};
static const char *const DENY[] = {"help", "config", NULL};
static char dir[] = "/tmp/t_agent_config.XXXXXX";
static char msgs[8][600];
static int nmsgs;

static void on_error(void *arg, const char *msg)
{
    (void)arg;
    if (nmsgs < 8)
        snprintf(msgs[nmsgs], sizeof msgs[0], "%s", msg);
    nmsgs++;
}

/* Writes text to dir/name and loads it; returns load's result. */
static int load(const char *name, const char *text, agent_config_t **out)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    nmsgs = 0;
    return agent_config_load(out, path, OPTS, DENY, on_error, NULL);
}

/* One file with one error: load fails with exactly that message. */
static void one_error(const char *name, const char *text, const char *want, const char *what)
{
    agent_config_t *c = NULL;
    char full[700];
    snprintf(full, sizeof full, "%s/%s:%s", dir, name, want);
    ok(load(name, text, &c) < 0 && c == NULL, "%s: refused", what);
    ok(nmsgs >= 1 && strcmp(msgs[0], full) == 0, "%s: '%s'", what, nmsgs ? msgs[0] : "(none)");
    if (nmsgs >= 1 && strcmp(msgs[0], full) != 0)
        diag("want '%s'", full);
}

int main(void)
{
    agent_config_t *c = NULL;
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    ok(load("good.conf",
            "# an agent\n[agent]\nendpoint = tcp://192.0.2.1:7400\nwindow = 64\n\nplaintext = yes\n"
            "quiet = false\nspool = /var/spool/cohort\n",
            &c) == 0 &&
           c,
       "a good file loads");
    if (nmsgs)
        diag("%s", msgs[0]);
    ok(c && c->n == 4, "four options (spool is kept apart)");
    ok(c && !strcmp(c->items[0].name, "endpoint") && c->items[0].val == 'e' &&
           !strcmp(c->items[0].value, "tcp://192.0.2.1:7400") && c->items[0].line == 3,
       "endpoint, its value and line 3");
    ok(c && !strcmp(c->items[1].name, "window") && !strcmp(c->items[1].value, "64") &&
           c->items[1].has_arg == required_argument,
       "window 64, with an argument");
    ok(c && !strcmp(c->items[2].value, "true") && c->items[2].line == 6 &&
           c->items[2].has_arg == no_argument,
       "plaintext = yes normalised to true, line 6");
    ok(c && !strcmp(c->items[3].value, "false"), "quiet = false");
    ok(c && c->spool && !strcmp(c->spool, "/var/spool/cohort") && c->spool_line == 8,
       "spool and its line");
    ok(c && c->path && strstr(c->path, "good.conf"), "the path kept");
    agent_config_destroy(&c);
    ok(c == NULL, "destroy nulls the pointer");
    agent_config_destroy(&c);

    one_error("sec.conf", "[agnet]\nendpoint = x\n", "1: unknown section [agnet] (known: [agent])",
              "unknown section");
    one_error("key.conf", "[agent]\nendpiont = x\n",
              "2: option 'endpiont': unknown (options: endpoint window plaintext quiet spool)",
              "unknown key");
    one_error("deny.conf", "[agent]\nhelp = true\n",
              "2: option 'help': not allowed in a configuration file", "a denied option");
    one_error("twice.conf", "[agent]\nwindow = 1\nwindow = 2\n",
              "3: option 'window': given twice in [agent] (first on line 2)", "a key given twice");
    one_error("empty.conf", "[agent]\nendpoint =\n", "2: option 'endpoint': empty value",
              "an empty value");
    one_error("bool.conf", "[agent]\nquiet = maybe\n",
              "2: option 'quiet': 'maybe' is not true or false", "a bad boolean");
    nmsgs = 0;
    ok(agent_config_load(&c, "/nonexistent/agent.conf", OPTS, DENY, on_error, NULL) < 0 &&
           nmsgs == 1 && strstr(msgs[0], "/nonexistent/agent.conf"),
       "a missing file is refused, named (%s)", nmsgs ? msgs[0] : "");

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
