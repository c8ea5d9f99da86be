/* cohort_agent.h: private to cohort-agent: the command line (args_t, read
 * by cohort_agent.c) and the two ways to run: send and flush (agent_send.c)
 * and watch (agent_watch.c), both through the one send driver
 * (agent_drive.h). Not a library interface: the contract of the program is
 * at the top of cohort_agent.c. */
#ifndef COHORT_AGENT_H
#define COHORT_AGENT_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "agent_config.h"
#include "cohort_cli.h"
#include "cohort_client.h"
#include "cohort_json.h"
#include "intake.h"
#include "outbox.h"
#include "progress.h"
#include "pseudonym.h"
#include "spool.h"
#include "uuid7.h"

#define PROG "cohort-agent"
#define MAX_LINE (8u << 20) /* longest input line accepted */
#define READ_CHUNK (64u << 10)
#define BATCH_EVENTS 4096          /* events per outbox record while reading input */
#define BATCH_BYTES (4u << 20)     /* bytes per outbox record while reading input */
#define RETRY_MIN_MS 1000u         /* watch: first hold-off after a give-up */
#define RETRY_MAX_MS 30000u        /* watch: hold-off ceiling */
#define RETENTION_DEFAULT_DAYS 30u /* --retention-days */
#define RETENTION_SWEEP_S 3600     /* watch: apply the retention this often */
#define SETTLE_DEFAULT_MS 2000u    /* watch: --settle-ms */
/* watch's default --defer-s, below the default deadline: exports from
 * several agencies may arrive in any order. */
#define DEFER_WATCH_S 50

#define MAX_TRACKED 4096 /* watch: files taken in whose results are counted */

typedef enum { CMD_SEND, CMD_FLUSH, CMD_WATCH, CMD_KEYGEN } cmd_t;

/* What the command line asked for. */
typedef struct {
    cmd_t cmd;               /* send, flush or watch */
    const char *endpoint;    /* daemon endpoint */
    const char *file;        /* send: input path, "-" for stdin */
    const char *spool;       /* watch: the spool directory */
    const char *outbox;      /* outbox directory, or NULL */
    char *outbox_buf;        /* watch: the default outbox path (malloc'd) */
    unsigned window;         /* unacked events */
    unsigned timeout_ms;     /* per attempt */
    unsigned deadline_s;     /* per event: from when it was read (plain) or submitted */
    unsigned rescan_ms;      /* watch: rescan period */
    unsigned settle_ms;      /* watch: a file is taken once unchanged this long */
    unsigned defer_s;        /* retry order-dependent rejections this long (libcohort defer_ms) */
    int defer_set;           /* --defer-s was given (else watch uses DEFER_WATCH_S) */
    int json;                /* JSON Lines output */
    int quiet;               /* summary only */
    int progress;            /* send, flush: PROGRESS_* (progress.h), --[no-]progress */
    const char *key_path;    /* --pseudonym-key FILE, or keygen-pseudonym's FILE; or NULL */
    pseudonym_t *ps;         /* the loaded --pseudonym-key (main), or NULL */
    const char *curve_key;   /* --key FILE: this agent's CURVE key, or NULL */
    const char *server_key;  /* --server-key FILE: the daemon's public key, or NULL */
    int plaintext;           /* --plaintext */
    int raw_refs;            /* --raw-refs: refs need not be pseudonyms */
    unsigned retention_days; /* --retention-days: keep agency-side copies this long, 0 ever */
    const cohort_curve_t *curve; /* the keys chosen (main's); on = 0: plain text */
    const char *config;          /* --config FILE, or NULL */
    agent_config_t *conf;        /* FILE, read (values above may point into it), or NULL */
} args_t;

/* send FILE, send --outbox DIR FILE and flush --outbox DIR (agent_send.c):
 * opens the input and the outbox, then drives (agent_drive.h). Returns the
 * exit status. */
int agent_send_run(const args_t *a);

/* watch SPOOL (agent_watch.c). Returns the exit status. */
int agent_watch_run(const args_t *a);

#endif
