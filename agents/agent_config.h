/* agent_config.h: cohort-agent --config FILE. The file is INI (cohort_ini.h)
 * with one section, [agent], whose keys are the tool's long option names
 * (endpoint, outbox, key, server-key, pseudonym-key, window, ...) with the
 * values the flags take, plus `spool` (watch's SPOOL when the command line
 * gives none). An option without an argument (plaintext, json, quiet) takes
 * true or false. Example: examples/cohort-agent.conf.
 *
 * Contracts:
 *  - The entries are kept in file order; the caller applies them before the
 *    command line's flags, so a flag always wins over the file.
 *  - Every error names the file, the line and the option: unknown section
 *    or key, an option that cannot be in a file (help, version, config), a
 *    key given twice, an empty value, a bad boolean. Values of options
 *    with an argument are checked by the caller (as for the flag), which
 *    should name the entry's line too.
 *  - Nothing here prints: messages go to the caller's on_error. */
#ifndef COHORT_AGENT_CONFIG_H
#define COHORT_AGENT_CONFIG_H
#include <getopt.h>
#include <stddef.h>

/* One option from the file. */
typedef struct {
    const char *name; /* the option's long name (in the caller's table) */
    int val;          /* its getopt_long val */
    int has_arg;      /* required_argument, or no_argument (then value is "true"/"false") */
    char *value;      /* its value as written (a boolean normalised to "true"/"false") */
    int line;         /* its line in the file */
} agent_config_entry_t;

/* A configuration file, read. */
typedef struct {
    char *path;                  /* the file */
    agent_config_entry_t *items; /* the options, in file order */
    size_t n;                    /* how many */
    char *spool;                 /* spool = DIR, or NULL */
    int spool_line;              /* its line, or 0 */
} agent_config_t;

/* Reads path. opts is the tool's getopt_long table (ending with a zero
 * entry); an option whose name is in deny (NULL-terminated; may be NULL)
 * is refused. Each error goes to on_error(arg, "PATH:LINE: ...").
 * Returns 0 and *out, or -1 if anything was wrong (*out NULL). */
int agent_config_load(agent_config_t **out, const char *path, const struct option *opts,
                      const char *const *deny, void (*on_error)(void *arg, const char *msg),
                      void *arg);

/* Frees and nulls *self_p. Idempotent. */
void agent_config_destroy(agent_config_t **self_p);

#endif
