/* cohort_bench.h: private to cohort-bench (cohort_bench.c, bench_args.c,
 * bench_status.c): its limits, the run state, and the functions the files
 * share. The contract of the program is at the top of cohort_bench.c. */
#ifndef COHORT_BENCH_H
#define COHORT_BENCH_H

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cohort_cli.h"
#include "cohort_client.h"

#define PROG "cohort-bench"
#define MAX_AGENTS 1024
#define REF_LEN 35           /* a participant ref: the pseudonym form, "p1:" + 32 */
#define PAD_MIN 0            /* least padding (an unknown field) in the measured event */
#define PAD_MAX 4096         /* most padding */
#define PAD_FIELD 99         /* the padding's field number: unknown to every reader */
#define SETUP_WAIT_MS 30000  /* the setup phase must be acked within this */
#define TICK_MIN_US 100      /* finest send-schedule tick with --rate */
#define CONNECT_WAIT_MS 5000 /* all connections must be up within this */
#define SERVICE_ROUNDS 4     /* pumps per agent per loop pass */
#define HIST_SUB 2048        /* exact below this many microseconds */
#define HIST_HALF 1024
#define HIST_SHIFTS 40 /* up to 2^51 us */
#define HIST_N (HIST_SUB + HIST_SHIFTS * HIST_HALF)
#define STATUS_WAIT_MS 3000 /* --status: first update or heartbeat within this */
#define STATUS_TAIL_MS 1000 /* --status: final updates within this after the last ack */
#define STATUS_DRAIN 1024   /* --status: messages per drain, then the next pass */

/* What the command line asked for. */
typedef struct {
    const char *endpoint;
    const char *status;  /* --status: the daemon's publish endpoint, or NULL */
    unsigned agents;     /* connections */
    unsigned window;     /* unacked events per connection */
    uint64_t events;     /* total events */
    unsigned size;       /* target packed Event size */
    double rate;         /* offered events/s, 0 = unlimited */
    unsigned duration_s; /* cap on the run */
    unsigned timeout_ms; /* per-attempt ack timeout */
    int json;
    const char *keys;       /* --keys DIR: per-connection CURVE keys, or NULL */
    const char *make_keys;  /* --make-keys DIR: write the keys and exit, or NULL */
    const char *key;        /* --key FILE: the coordinator key (setup, --status), or NULL */
    const char *server_key; /* --server-key FILE, or NULL */
    int plaintext;          /* --plaintext */
} args_t;

/* A latency histogram in microseconds. */
typedef struct {
    uint64_t count[HIST_N];
    uint64_t total;
    uint64_t max;
} hist_t;

/* A local UUIDv7 source: the layout of uuid7.c, with a xorshift generator
 * seeded from getrandom instead of a system call per id. */
typedef struct {
    uint64_t s[2];    /* xorshift128+ state */
    uint64_t last_ms; /* timestamp of the last id */
    uint16_t ctr;     /* its 12-bit rand_a counter */
} idgen_t;

struct bench;

/* One connection. */
typedef struct {
    struct bench *b;
    cohort_client_t *cl;
    uint8_t *tmpl; /* packed Event; id at tmpl + 2 */
    size_t tmpl_len;
    size_t ref_len;    /* bytes of padding in its measured event (for --size); also
                          part of its ref and setup ids, so each size has its people */
    uint64_t total;    /* events this agent sends */
    uint64_t next;     /* events submitted so far */
    uint64_t timer_at; /* when its client has timer work (UINT64_MAX: none) */
    uint64_t due;      /* when it next may submit (next_due) */
    int ready;         /* its ZMQ_FD fired, or work was left: service it */
    unsigned index;    /* agent number, 0-based */
} agent_t;

/* The run. */
typedef struct bench {
    const args_t *a;
    agent_t *ag;
    idgen_t ids;
    hist_t *hist;
    uint64_t start_us, last_ack_us;
    uint64_t accepted, duplicate, rejected, undelivered;
    int stop;              /* stop submitting (failure or cap) */
    int reported_reject;   /* first rejection described on stderr */
    int setup;             /* in the (unmeasured) setup phase */
    uint64_t setup_failed; /* setup events rejected or undelivered */
    uint64_t setup_stored; /* setup events ACCEPTED (new to the log) */
    /* --status: ack -> status update latency */
    void *sub;      /* SUB socket, or NULL without --status */
    char topic[32]; /* cohort/bench/load-<agents> */
    size_t topic_len;
    hist_t *shist;       /* ack -> update latencies */
    uint64_t *st_ack;    /* by seq - st_base: ack arrival (0: not acked) */
    uint64_t *st_upd;    /* by seq - st_base: first covering update's arrival */
    uint64_t st_n;       /* slots in each */
    uint64_t st_base;    /* seq of slot 0; 0 until the measured phase */
    uint64_t st_next;    /* slots below this have their update time */
    uint64_t st_seen;    /* highest seq seen before the measured phase */
    uint64_t st_msgs;    /* messages received */
    uint64_t st_acked;   /* measured acks that fell within the slots */
    uint64_t st_matched; /* of those, with their update seen */
    int sub_ready;       /* the SUB's ZMQ_FD fired or a drain was cut short */
    agent_t coord;       /* with CURVE: the coordinator's connection for the setup's
                            definitions (index 0 like agent 1); cl NULL in plain text */
} bench_t;

/* Returns 0 to run, 1 to exit 0, 2 after a usage error. */
int parse_args(args_t *a, int argc, char **argv);

/* --make-keys DIR: the server's, the coordinator's and one agent keypair
 * per connection, and the daemon's access file. Returns the exit status. */
int make_keys(const args_t *a);

/* Loads the CURVE keys of connection index (0-based; -1: the coordinator)
 * into out, or leaves out->on 0 in plain text. Returns 0, or -1 after the
 * message. */
int load_keys(const args_t *a, const char *server_key, int index, cohort_curve_t *out);

/* Chooses the server key path (NULL: plain text) into *out. Returns 0, or
 * -1 after a usage message. */
int choose_server_key(const args_t *a, char *buf, size_t len, const char **out);

/* Counts one sample of v microseconds. */
void h_record(hist_t *h, uint64_t v);

/* The value at quantile q (0..1): the least value with at least q of the
 * samples at or below it (reported as its bucket's highest value, capped at
 * the maximum seen). */
uint64_t h_quantile(const hist_t *h, double q);

/* The measured event at seq was acked at t: its slot gets the ack time, and
 * if its update came first, latency 0. Seqs outside the slots are ignored. */
void st_ack(bench_t *b, uint64_t seq, uint64_t t);

/* Receives what the status DEALER holds, at most max messages, until EAGAIN
 * and ZMQ_EVENTS shows no input (which re-arms its edge-triggered ZMQ_FD);
 * cut short at max, it leaves b->sub_ready set for the next pass. Before the
 * measured phase it only notes the highest seq seen. Returns 0 or -errno. */
int st_drain(bench_t *b, unsigned max);

/* --status: room for the sequence numbers of acks and updates, and the
 * topic to subscribe to. Returns 0, or 1 (reported). */
int status_alloc(bench_t *b);

/* The status probe (--status): subscribes to the bench's topic, before the
 * setup, with curve. Returns 0, or the exit status (reported). */
int status_open(bench_t *b, void *zctx, cohort_curve_t *curve);

/* The status probe, after the setup: waits until the subscription is live,
 * and counts only what comes after. Returns 0, or 1 (reported). */
int status_ready(bench_t *b);

/* The status probe, at the end: collects the last updates and says how many
 * acked events saw none. Returns 0, or 1 (reported). */
int status_finish(bench_t *b);

#endif
