/* cohortctl: the operator's tool. This version reads the event store
 * directly, opening RocksDB read-only (safe beside a running daemon):
 *
 *   cohortctl status --data-dir DIR         head sequence
 *   cohortctl tail   --data-dir DIR [--from SEQ] [--limit N] [--json]
 *   cohortctl verify --data-dir DIR         log gap-free, dedupe agrees
 *
 * Output of tail carries event bodies, which hold pseudonymous refs and
 * protected characteristics: it is for audits, not for logs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort.pb-c.h"
#include "cohort_json.h"
#include "store.h"
#include "uuid7.h"

/* Parsed command line. */
typedef struct {
    const char *cmd;      /* status, tail or verify */
    const char *data_dir; /* store directory */
    uint64_t from;        /* tail: first sequence */
    uint64_t limit;       /* tail: at most this many (0 = all) */
    int json;             /* tail: JSON Lines */
} args_t;

/* State of a verify pass. */
typedef struct {
    store_t *store;
    uint64_t expect;   /* next sequence expected */
    uint64_t gaps;     /* sequences missing or out of order */
    uint64_t undecodable;
    uint64_t dedupe_bad; /* entries whose dedupe record is not their own seq */
    uint64_t count;
} verify_t;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: cohortctl COMMAND --data-dir DIR [OPTION]...\n"
            "Operator tool for the cohortd event store (opened read-only).\n"
            "\n"
            "Commands:\n"
            "  status               print the log's head sequence\n"
            "  tail                 print log entries (plain, or JSON Lines with --json)\n"
            "  verify               check the log is gap-free and the dedupe index agrees\n"
            "\n"
            "Options:\n"
            "  -d, --data-dir DIR   the daemon's data directory (default: ./cohort-data)\n"
            "  -f, --from SEQ       tail: start at this sequence (default: 1)\n"
            "  -n, --limit N        tail: print at most N entries (default: all)\n"
            "  -j, --json           tail: one JSON object per line: {\"seq\":N,\"event\":{...}}\n"
            "  -h, --help           show this help and exit\n"
            "  -V, --version        show the version and exit\n"
            "\n"
            "Exit status: 0 on success, 1 if verify finds a problem or the store cannot be\n"
            "read, 2 on a usage error.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *s == '-' || !*s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse(args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, 0, 'd'}, {"from", required_argument, 0, 'f'},
        {"limit", required_argument, 0, 'n'},    {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},           {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "d:f:n:jhV", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->data_dir = optarg;
            break;
        case 'f':
            if (parse_u64(optarg, &a->from) < 0) {
                fprintf(stderr, "cohortctl: --from: '%s' is not a sequence number\n", optarg);
                return -EINVAL;
            }
            break;
        case 'n':
            if (parse_u64(optarg, &a->limit) < 0) {
                fprintf(stderr, "cohortctl: --limit: '%s' is not a number\n", optarg);
                return -EINVAL;
            }
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("cohortctl %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try 'cohortctl --help' for more information.\n");
            return -EINVAL;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "cohortctl: no command given\nTry 'cohortctl --help'.\n");
        return -EINVAL;
    }
    a->cmd = argv[optind];
    if (optind + 1 < argc) {
        fprintf(stderr, "cohortctl: unexpected argument '%s'\n", argv[optind + 1]);
        return -EINVAL;
    }
    return 0;
}

static const char *body_name(const Cohort__V1__Event *ev)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&cohort__v1__event__descriptor, ev->body_case);
    return f ? f->name : "unknown";
}

static int print_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    const args_t *a = arg;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev) {
        printf(a->json ? "{\"seq\":%llu,\"error\":\"undecodable\"}\n" : "%llu undecodable\n",
               (unsigned long long)seq);
        return 0;
    }
    if (a->json) {
        char *j = cohort_json_from_message(&ev->base);
        printf("{\"seq\":%llu,\"event\":%s}\n", (unsigned long long)seq, j ? j : "null");
        free(j);
    } else {
        char id[37] = "(bad id)";
        if (ev->event_id.len == 16)
            uuid7_format(ev->event_id.data, id);
        printf("%llu %s %s %s\n", (unsigned long long)seq, ev->agency, id, body_name(ev));
    }
    cohort__v1__event__free_unpacked(ev, NULL);
    return ferror(stdout) ? -EIO : 0;
}

static int verify_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    verify_t *v = arg;
    uint64_t got;
    v->count++;
    if (seq != v->expect)
        v->gaps++;
    v->expect = seq + 1;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev || ev->event_id.len != 16 || !ev->agency) {
        v->undecodable++;
    } else if (store_lookup(v->store, ev->agency, ev->event_id.data, &got) != 0 || got != seq) {
        v->dedupe_bad++;
    }
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    args_t a = {NULL, "cohort-data", 1, 0, 0};
    store_t *s = NULL;
    char err[512];
    int rc = parse(&a, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (strcmp(a.cmd, "status") && strcmp(a.cmd, "tail") && strcmp(a.cmd, "verify")) {
        fprintf(stderr, "cohortctl: unknown command '%s'\nTry 'cohortctl --help'.\n", a.cmd);
        return 2;
    }
    if (store_open(&s, a.data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a.data_dir, err);
        return 1;
    }
    if (strcmp(a.cmd, "status") == 0) {
        printf("head_seq %llu\n", (unsigned long long)store_head(s));
    } else if (strcmp(a.cmd, "tail") == 0) {
        if ((rc = store_scan(s, a.from, a.limit, print_entry, &a)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        }
    } else {
        verify_t v = {s, 1, 0, 0, 0, 0};
        if ((rc = store_scan(s, 1, 0, verify_entry, &v)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        } else {
            int bad = v.gaps || v.undecodable || v.dedupe_bad || v.count != store_head(s);
            printf("entries %llu head_seq %llu gaps %llu undecodable %llu dedupe_mismatch %llu\n"
                   "%s\n",
                   (unsigned long long)v.count, (unsigned long long)store_head(s),
                   (unsigned long long)v.gaps, (unsigned long long)v.undecodable,
                   (unsigned long long)v.dedupe_bad, bad ? "FAILED" : "OK");
            rc = bad;
        }
    }
    store_close(&s);
    return rc;
}
