/* cohortctl's private header: the parsed command line (args_t), the
 * constants and the functions shared by its files (cohortctl.c: arguments,
 * the command table, settings and main; ctl_client.c: requests to the
 * running daemon; ctl_offline.c: snapshot, rebuild and verify;
 * ctl_restore.c: restore). See cohortctl.c for the tool as a whole. */
#ifndef COHORTCTL_H
#define COHORTCTL_H

#include <limits.h>
#include <stdint.h>

#include "cohort_keys.h"
#include "config.h"
#include "progress.h"
#include "store.h"

#define SNAPSHOT_TIMEOUT_MS 10000
#define REBUILD_TRIES 5
#define DEFAULT_BACKUP_TIMEOUT_S 3600
#define DEFAULT_TIMEOUT_S 30 /* status, stats, each tail page */
#define POLL_MS 200          /* waiting for an answer: progress redraws */
#define PROBE_MS 2000        /* connecting: how long to wait to tell a stale ipc socket */
#define PROBE_REFUSALS 3     /* connecting: refusals in a row that mean nobody listens */
#define MAX_SHOWN 20         /* verify: problem lines listed */
#define SYSTEMD_CONTROL "ipc:///run/cohortd/control.sock" /* the packaged unit's */

/* Options, as bits: which were given, and which each command takes. */
enum {
    O_DATA_DIR = 1u << 0,
    O_CONFIG = 1u << 1,
    O_CONTROL = 1u << 2,
    O_KEYS = 1u << 3, /* --key, --server-key, --plaintext */
    O_SNAPSHOT = 1u << 4,
    O_FROM = 1u << 5,
    O_LIMIT = 1u << 6,
    O_JSON = 1u << 7,
    O_UNSEAL = 1u << 8,
    O_OFFLINE = 1u << 9,
    O_PAGE = 1u << 10,
    O_TIMEOUT = 1u << 11,
    O_PROJ = 1u << 12,     /* --suppress-k, --at-risk-ratio */
    O_PROGRESS = 1u << 13, /* --progress, --no-progress */
    O_K = 1u << 14,        /* audit-disclosure --k */
    O_HISTORY = 1u << 15,  /* audit-disclosure --history */
};
#define O_CONN (O_DATA_DIR | O_CONFIG | O_CONTROL | O_KEYS | O_TIMEOUT)

/* Parsed command line, then the settings resolved from it and the
 * configuration file. */
typedef struct {
    const char *cmd;            /* the command's name */
    unsigned given;             /* O_* bits of the options given */
    const char *given_name[16]; /* per bit: the option as typed (for messages) */
    const char *prefix;         /* snapshot: topic prefix */
    const char *data_dir;       /* store directory */
    int data_dir_known;         /* data_dir came from --data-dir or a configuration file */
    const char *snapshot;       /* rebuild, snapshot: the daemon's snapshot endpoint */
    proj_config_t proj;         /* rebuild, verify: must match the daemon's settings */
    uint64_t from;              /* tail: first sequence */
    uint64_t limit;             /* tail: at most this many (0 = all) */
    unsigned page;              /* tail: entries asked for per request */
    int json;                   /* tail, status, stats, audit-disclosure: JSON */
    int k;                      /* audit-disclosure: the threshold */
    const char *history;        /* audit-disclosure --history FILE */
    int unseal;                 /* tail: open sealed characteristics (re-sendable events) */
    int offline;                /* status, tail: read the store, never the daemon */
    store_t *store;             /* tail: the open store, for --unseal (NULL over control) */
    const char *control;        /* the control endpoint, or NULL (none) */
    const char *control_alt;    /* a second endpoint to try (SYSTEMD_CONTROL), or NULL */
    unsigned timeout_s;         /* how long to wait for each answer (0 = the command's default) */
    char **pos;                 /* the command's arguments (backup: 1, restore: 2) */
    int npos;                   /* their count */
    const char *key;            /* --key FILE: this client's CURVE key, or NULL */
    const char *server_key;     /* --server-key FILE: the daemon's public key, or NULL */
    const char *cfg_server_key; /* the configuration's server key file, or NULL */
    int plaintext;              /* --plaintext */
    int cfg_plaintext;          /* the configuration says plaintext = true */
    progress_mode_t progress;   /* --progress / --no-progress */
    const char *config;         /* --config FILE */
    cohortd_config_t cfg;       /* the configuration read (owns strings used above) */
    char control_buf[PATH_MAX + 16]; /* a derived control endpoint */
    char pub_buf[PATH_MAX];          /* the configuration's server key, as NAME.pub */
} args_t;

/* The CURVE keys of the commands that talk to the daemon, set once in main
 * before them; on = 0: plain text. */
extern cohort_curve_t g_curve;

/* cohortctl.c */
/* Sets g_curve for a command that talks to the daemon. Returns 0 or -1 (a
 * usage error, message printed). */
int choose_keys(const args_t *a);
/* The progress report of a long run, on stderr (NULL: every call does nothing). */
progress_t *progress_start(const args_t *a, const char *label, const char *unit, int bytes,
                           int no_count);

/* ctl_client.c: the commands that ask the daemon over its control endpoint
 * (status and tail may fall back to the store). Each returns the exit status. */
int cmd_status(const args_t *a);
int cmd_stats(const args_t *a);
int cmd_tail(args_t *a);
int cmd_backup(const args_t *a);
/* Makes path absolute (against the working directory) into out. Returns 0
 * or -1 with a message printed. */
int absolute(const char *path, char *out, size_t len);

/* ctl_offline.c: the snapshot socket, the full replay and the store check.
 * Each returns the exit status. */
int cmd_snapshot(const args_t *a);
int cmd_rebuild(const args_t *a);
int cmd_verify(const args_t *a);

/* ctl_restore.c: puts a backup in place, offline. Returns the exit status. */
int cmd_restore(const args_t *a);

#endif
