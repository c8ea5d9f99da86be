/* agent_config.c: cohort-agent's configuration file (see agent_config.h),
 * read with cohort_ini: the option table decides which keys exist. */
#include "agent_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort_ini.h"

/* One load in progress. */
typedef struct {
    agent_config_t *cfg;                          /* being filled */
    const struct option *opts;                    /* the tool's options */
    const char *const *deny;                      /* options a file may not set */
    void (*on_error)(void *arg, const char *msg); /* the caller's */
    void *arg;                                    /* its argument */
} load_t;

static const char *const SECTIONS[] = {"agent", NULL};

/* Lists the keys a file may set into why (after "unknown"). */
static void known_keys(const load_t *l, char *why, size_t len)
{
    size_t used = (size_t)snprintf(why, len, "unknown (options:");
    for (const struct option *o = l->opts; o->name && used < len; o++) {
        int denied = 0;
        for (const char *const *d = l->deny; d && *d; d++)
            denied |= strcmp(*d, o->name) == 0;
        if (!denied)
            used += (size_t)snprintf(why + used, len - used, " %s", o->name);
    }
    if (used < len)
        snprintf(why + used, len - used, " spool)");
}

/* cohort_ini's on_value: stores one [agent] option (or spool), or says why
 * not. */
static int on_value(void *arg, const char *section, const char *key, const char *value, int line,
                    char *why, size_t len)
{
    load_t *l = arg;
    agent_config_t *c = l->cfg;
    (void)section; /* only [agent] is known */
    if (*value == '\0') {
        snprintf(why, len, "empty value");
        return -1;
    }
    if (strcmp(key, "spool") == 0) {
        if (!(c->spool = strdup(value))) {
            snprintf(why, len, "out of memory");
            return -1;
        }
        c->spool_line = line;
        return 0;
    }
    for (const char *const *d = l->deny; d && *d; d++)
        if (strcmp(*d, key) == 0) {
            snprintf(why, len, "not allowed in a configuration file");
            return -1;
        }
    const struct option *o = l->opts;
    while (o->name && strcmp(o->name, key) != 0)
        o++;
    if (!o->name) {
        known_keys(l, why, len);
        return -1;
    }
    const char *v = value;
    if (o->has_arg == no_argument) {
        int b;
        if (cohort_ini_bool(value, &b) < 0) {
            snprintf(why, len, "'%s' is not true or false", value);
            return -1;
        }
        v = b ? "true" : "false";
    }
    agent_config_entry_t *items = realloc(c->items, (c->n + 1) * sizeof *items);
    if (!items) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    c->items = items;
    agent_config_entry_t *e = &c->items[c->n];
    *e = (agent_config_entry_t){o->name, o->val, o->has_arg, strdup(v), line};
    if (!e->value) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    c->n++;
    return 0;
}

/* cohort_ini's on_error: hands the message on to the caller's. */
static void relay(void *arg, const char *msg)
{
    load_t *l = arg;
    l->on_error(l->arg, msg);
}

void agent_config_destroy(agent_config_t **self_p)
{
    agent_config_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        free(self->items[i].value);
    free(self->items);
    free(self->spool);
    free(self->path);
    free(self);
    *self_p = NULL;
}

int agent_config_load(agent_config_t **out, const char *path, const struct option *opts,
                      const char *const *deny, void (*on_error)(void *arg, const char *msg),
                      void *arg)
{
    agent_config_t *c = calloc(1, sizeof *c);
    load_t l = {c, opts, deny, on_error, arg};
    *out = NULL;
    if (!c || !(c->path = strdup(path))) {
        on_error(arg, "out of memory");
        free(c);
        return -1;
    }
    cohort_ini_t ini = {c->path, SECTIONS, on_value, relay, &l};
    if (cohort_ini_parse(&ini) != 0) {
        agent_config_destroy(&c);
        return -1;
    }
    *out = c;
    return 0;
}
