/* config.h: cohortd's settings. Each option is taken, later wins, from:
 *   1. its default;
 *   2. the configuration file: --config FILE (which must exist), else
 *      $COHORTD_CONFIG if set and not empty (the same; the tests use it),
 *      else /etc/cohortd/cohortd.conf if it exists (a missing default file
 *      is no error, an unreadable one is);
 *   3. the command-line flags, in order.
 * The file is INI (cohort_ini.h): sections [daemon], [endpoints], [keys],
 * [status]; docs/man/cohortd.conf.5.md lists every option with its default
 * and examples/cohortd.conf is the commented example. Every error names
 * where the value came from: "FILE:LINE: option 'KEY': why" for the file,
 * "cohortd: --FLAG: why" for a flag.
 *
 * Contracts:
 *  - A cohortd_config_t from config_load holds final values: paths and
 *    endpoints that default to places in the data directory (server_key,
 *    access_file, control) or in $RUNTIME_DIRECTORY (control) are filled in;
 *    "none" (control, metrics) is NULL.
 *  - config_load checks each value as binding it would (endpoints are
 *    tcp://HOST:PORT or ipc://PATH, the path short enough for a Unix
 *    socket), then the merged whole (plaintext only with local endpoints; no
 *    endpoint used twice; the derived control path fits; the metrics port is
 *    not one a tcp:// endpoint binds on the same address); it never touches
 *    the data directory, the keys or the network, so --check-config may run
 *    anywhere.
 *  - Nothing here logs: messages go to a config_report_fn. */
#ifndef COHORT_CONFIG_H
#define COHORT_CONFIG_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proj.h"

#define CONFIG_DEFAULT_PATH "/etc/cohortd/cohortd.conf"
#define CONFIG_ENV "COHORTD_CONFIG" /* the file to read when --config is not given */
#define CONFIG_DEFAULT_DATA_DIR "cohort-data"
#define CONFIG_DEFAULT_INGEST "tcp://127.0.0.1:7400"
#define CONFIG_DEFAULT_PUBLISH "tcp://127.0.0.1:7401"
#define CONFIG_DEFAULT_SNAPSHOT "tcp://127.0.0.1:7402"
#define CONFIG_DEFAULT_COALESCE_MS 2
#define CONFIG_DEFAULT_CHECKPOINT_EVERY 100000
#define CONFIG_MAX_CONNS_LIMIT 65536 /* largest max_agent_connections(_per_address) */

/* What the daemon runs with. Strings are owned (config_free frees them). */
typedef struct {
    char *path;                  /* the configuration file read, or NULL (none) */
    char *data_dir;              /* [daemon] data_dir: the RocksDB directory */
    int log_level;               /* [daemon] log_level: most verbose syslog priority logged */
    int ref_form;                /* [daemon] ref_form: a validate_ref_form_t (validate.h) */
    char *ingest;                /* [endpoints] ingest: ROUTER endpoint for agents */
    char *publish;               /* [endpoints] publish: PUB endpoint for status updates */
    char *snapshot;              /* [endpoints] snapshot: ROUTER endpoint for status snapshots */
    char *control;               /* [endpoints] control: operator endpoint (ipc://), NULL = off */
    char *metrics;               /* [endpoints] metrics: HTTP HOST:PORT on loopback, NULL = off */
    unsigned max_conns;          /* [endpoints] max_agent_connections: kept at most (admit.h) */
    unsigned max_conns_per_addr; /* [endpoints] max_agent_connections_per_address */
    char *key;                   /* [keys] server_key: the server's CURVE keypair file */
    int key_default;             /* server_key was not set: DATA_DIR/server.key, made if missing */
    char *access;                /* [keys] access_file: client keys and roles */
    int plaintext;               /* [keys] plaintext: development mode, no CURVE */
    proj_config_t proj;          /* [status] suppress_k, at_risk_ratio, release_days */
    unsigned coalesce_ms;        /* [status] coalesce_ms: min time between updates of a topic */
    uint64_t checkpoint_every; /* [status] checkpoint_every: events between checkpoints, 0 never */
} cohortd_config_t;

/* One flag that sets an option, as given. */
typedef struct {
    int opt;           /* the option (an index private to config.c) */
    const char *value; /* its value (in argv), "true" for --plaintext */
} config_flag_t;

/* The command line, parsed. Values point into argv. */
typedef struct {
    const char *config;  /* --config FILE, or NULL */
    int check;           /* --check-config: validate and exit */
    config_flag_t *sets; /* flags that set options, in order (malloc'd) */
    size_t nsets;        /* how many */
} config_cli_t;

/* Receives one message (no newline) about a bad setting. */
typedef void (*config_report_fn)(void *arg, const char *msg);

/* Parses argv into *cli and checks every flag's value. Returns 0 to go on
 * (free *cli with config_cli_free), 1 when --help or --version was answered
 * (exit 0), or -EINVAL after printing the usage error on stderr (exit 2);
 * on 1 and -EINVAL *cli holds nothing to free. */
int config_parse_args(config_cli_t *cli, int argc, char **argv);

/* Frees what config_parse_args allocated and zeroes *cli. Idempotent. */
void config_cli_free(config_cli_t *cli);

/* Builds *cfg: defaults, the configuration file chosen as above, then
 * cli's flags; fills in the derived defaults and checks the whole. Each
 * problem is reported through report. Returns 0, or -1 if anything was
 * reported (then *cfg is freed and zeroed). */
int config_load(cohortd_config_t *cfg, const config_cli_t *cli, config_report_fn report, void *arg);

/* Frees cfg's strings and zeroes it. Idempotent. */
void config_free(cohortd_config_t *cfg);

/* --check-config: config_load with messages on stderr, then on success the
 * settings in force (config_print) on stdout and "cohortd: FILE: OK" on
 * stderr. Returns the exit status: 0 good, 1 bad. */
int config_check(const config_cli_t *cli);

/* Writes cfg as a configuration file (every option, final values). */
void config_print(const cohortd_config_t *cfg, FILE *out);

/* Calls changed(arg, key) for each option other than log_level whose value
 * differs between a and b (by section order); returns how many. */
size_t config_diff(const cohortd_config_t *a, const cohortd_config_t *b,
                   void (*changed)(void *arg, const char *key), void *arg);

/* The name of a syslog priority as log_level takes it ("info"). */
const char *config_level_name(int prio);

/* Splits a metrics address (HOST:PORT, HOST 127.0.0.1, [::1] or localhost;
 * as checked by config_load) into host (without brackets; len bytes) and
 * port. Returns 0, or -EINVAL (why, if not NULL, gets a phrase; whylen
 * bytes) if it is not such an address. */
int config_metrics_split(const char *addr, char *host, size_t len, unsigned *port, char *why,
                         size_t whylen);

/* Writes cohortd --help. */
void config_usage(FILE *out);

#endif
