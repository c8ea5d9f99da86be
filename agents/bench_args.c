/* bench_args.c: cohort-bench's command line (usage, parse_args) and its
 * CURVE keys (--make-keys, --keys, --server-key). */
#include "cohort_bench.h"

/* ---------------------------------------------------------------- args --- */

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROG " [OPTION]...\n"
        "Load generator for cohortd: sends events over many connections and reports\n"
        "throughput and durable-ack latency (p50, p99, p99.9).\n"
        "\n"
        "  -e, --endpoint ENDPOINT  daemon endpoint (default: $COHORT_ENDPOINT or %s)\n"
        "  -a, --agents N           concurrent connections, one agency each (default 16)\n"
        "  -w, --window W           unacked events per connection (default 64)\n"
        "  -n, --events E           events in total (default 1000000)\n"
        "  -s, --size B             approximate packed event size in bytes (default 200)\n"
        "  -r, --rate R             offered events/s in total, open loop (default: unlimited)\n"
        "  -D, --duration-s S       stop after at most S seconds (default 300)\n"
        "  -t, --timeout-ms MS      per-attempt ack timeout before a resend (default 5000)\n"
        "      --status ENDPOINT    also subscribe to the daemon's status PUB endpoint and\n"
        "                           report ack -> status update latency (p50, p99, p99.9)\n"
        "      --keys DIR           CURVE keys: DIR/bench-NN.key for connection NN (agency\n"
        "                           bench-NN), DIR/coordinator.key for the setup and\n"
        "                           --status, DIR/server.pub the daemon's key\n"
        "      --key FILE           the coordinator key instead of DIR/coordinator.key\n"
        "      --server-key FILE    the daemon's public key (default: DIR/server.pub, else\n"
        "                           $COHORT_SERVER_KEY)\n"
        "      --plaintext          no CURVE: only for a development daemon run with\n"
        "                           --plaintext (default: on if $COHORT_PLAINTEXT is 1 and\n"
        "                           no key is given)\n"
        "      --make-keys DIR      write keys for --agents N connections (bench-01 ...),\n"
        "                           coordinator and the server (server.key, server.pub),\n"
        "                           and DIR/access for 'cohortd --key DIR/server.key\n"
        "                           --access-file DIR/access', then exit\n"
        "  -j, --json               print one JSON object (events, seconds, events_per_sec,\n"
        "                           ack_p50_us, ack_p99_us, ack_p999_us, ..., and with\n"
        "                           --status status_p50_us, status_p99_us, status_p999_us,\n"
        "                           status_matched)\n"
        "  -h, --help               show this help and exit\n"
        "  -V, --version            show the version and exit\n"
        "\n"
        "Latency is from the first send (or, with --rate, from the intended send time)\n"
        "to the ACCEPTED ack, which the daemon sends only once the event is durable.\n"
        "Exit status: 0 none rejected or undelivered, 1 otherwise or on failure, 2 usage error.\n",
        COHORT_CLIENT_DEFAULT_ENDPOINT);
}

/* Returns 0 to run, 1 to exit 0, 2 after a usage error. */
int parse_args(args_t *a, int argc, char **argv)
{
    static const struct option lo[] = {{"endpoint", required_argument, 0, 'e'},
                                       {"agents", required_argument, 0, 'a'},
                                       {"window", required_argument, 0, 'w'},
                                       {"events", required_argument, 0, 'n'},
                                       {"size", required_argument, 0, 's'},
                                       {"rate", required_argument, 0, 'r'},
                                       {"duration-s", required_argument, 0, 'D'},
                                       {"timeout-ms", required_argument, 0, 't'},
                                       {"status", required_argument, 0, 'S'},
                                       {"keys", required_argument, 0, 0x100},
                                       {"make-keys", required_argument, 0, 0x101},
                                       {"key", required_argument, 0, 0x102},
                                       {"server-key", required_argument, 0, 0x103},
                                       {"plaintext", no_argument, 0, 0x104},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    const char *env = getenv("COHORT_ENDPOINT");
    uint64_t v;
    int c;

    *a = (args_t){.endpoint = (env && *env) ? env : COHORT_CLIENT_DEFAULT_ENDPOINT,
                  .agents = 16,
                  .window = 64,
                  .events = 1000000,
                  .size = 200,
                  .duration_s = 300,
                  .timeout_ms = 5000};
    while ((c = getopt_long(argc, argv, "e:a:w:n:s:r:D:t:jhV", lo, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'e':
            a->endpoint = optarg;
            break;
        case 'a':
            if (cohort_cli_u64(optarg, 1, MAX_AGENTS, &v) < 0)
                bad = "--agents: expected a number from 1 to 1024";
            a->agents = (unsigned)v;
            break;
        case 'w':
            if (cohort_cli_u64(optarg, 1, 65536, &v) < 0)
                bad = "--window: expected a number from 1 to 65536";
            a->window = (unsigned)v;
            break;
        case 'n':
            if (cohort_cli_u64(optarg, 1, 1000000000000ull, &v) < 0)
                bad = "--events: expected a number from 1 to 10^12";
            a->events = v;
            break;
        case 's':
            if (cohort_cli_u64(optarg, 1, 1u << 20, &v) < 0)
                bad = "--size: expected a number of bytes";
            a->size = (unsigned)v;
            break;
        case 'r': {
            char *end;
            errno = 0;
            a->rate = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || end == optarg || !(a->rate >= 1.0) || a->rate > 1e9)
                bad = "--rate: expected events per second from 1 to 10^9";
            break;
        }
        case 'D':
            if (cohort_cli_u64(optarg, 1, 86400, &v) < 0)
                bad = "--duration-s: expected a number from 1 to 86400";
            a->duration_s = (unsigned)v;
            break;
        case 't':
            if (cohort_cli_u64(optarg, 1, 600000, &v) < 0)
                bad = "--timeout-ms: expected a number from 1 to 600000";
            a->timeout_ms = (unsigned)v;
            break;
        case 'S': /* long option only */
            if (*optarg == '\0')
                bad = "--status: empty endpoint";
            a->status = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 0x100:
        case 0x101:
        case 0x102:
        case 0x103:
            if (*optarg == '\0')
                bad = "empty path for a key option";
            *(c == 0x100   ? &a->keys
              : c == 0x101 ? &a->make_keys
              : c == 0x102 ? &a->key
                           : &a->server_key) = optarg;
            break;
        case 0x104:
            a->plaintext = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf(PROG " %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try '" PROG " --help' for more information.\n");
            return 2;
        }
        if (bad) {
            fprintf(stderr, PROG ": %s\n", bad);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr,
                PROG ": unexpected argument '%s'\nTry '" PROG " --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    if (*a->endpoint == '\0') {
        fprintf(stderr, PROG ": --endpoint: empty endpoint\n");
        return 2;
    }
    if (a->plaintext && (a->keys || a->key || a->server_key)) {
        fprintf(stderr, PROG ": --plaintext cannot be combined with --keys, --key or "
                             "--server-key\n");
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- keys --- */

/* --make-keys DIR: the server's, the coordinator's and one agent keypair
 * per connection, and the daemon's access file. Returns the exit status. */
int make_keys(const args_t *a)
{
    const char *dir = a->make_keys;
    char path[4096], pub[COHORT_KEY_Z85_LEN + 1], err[512], *text = NULL;
    size_t cap = 128 + (size_t)(a->agents + 1) * 80, len = 0;
    struct stat st;
    int fd = -1, rc = 1;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": --make-keys: cannot make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* Refuse before writing anything if any file is there already. */
    for (unsigned i = 0; i < a->agents + 3; i++) {
        const char *ext[2] = {".key", ".pub"};
        for (int k = 0; k < 2; k++) {
            if (i == 0)
                snprintf(path, sizeof path, "%s/server%s", dir, ext[k]);
            else if (i == 1)
                snprintf(path, sizeof path, "%s/coordinator%s", dir, ext[k]);
            else if (i == 2)
                snprintf(path, sizeof path, "%s/access", dir);
            else
                snprintf(path, sizeof path, "%s/bench-%02u%s", dir, i - 2, ext[k]);
            if (lstat(path, &st) == 0) {
                fprintf(stderr, PROG ": --make-keys: %s exists; refusing to overwrite keys\n",
                        path);
                return 1;
            }
        }
    }
    if (!(text = malloc(cap))) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    len = (size_t)snprintf(
        text, cap, "# cohortd access file for cohort-bench --agents %u (--make-keys)\n", a->agents);
    for (unsigned i = 0; i < a->agents + 2; i++) {
        if (i == 0)
            snprintf(path, sizeof path, "%s/server", dir);
        else if (i == 1)
            snprintf(path, sizeof path, "%s/coordinator", dir);
        else
            snprintf(path, sizeof path, "%s/bench-%02u", dir, i - 1);
        if (cohort_keys_generate(path, pub, err, sizeof err) < 0) {
            fprintf(stderr, PROG ": --make-keys: %s\n", err);
            goto out;
        }
        if (i == 1)
            len +=
                (size_t)snprintf(text + len, cap - len, "%s coordinator programmes=bench\n", pub);
        else if (i > 1)
            len += (size_t)snprintf(text + len, cap - len, "%s agent bench-%02u\n", pub, i - 1);
    }
    snprintf(path, sizeof path, "%s/access", dir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640)) < 0 ||
        write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        fprintf(stderr, PROG ": --make-keys: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    /* all the bench's connections come from one address: the daemon's
     * default limit per address (16) would close the setup connection */
    printf("wrote %u keypairs and the access file to %s; run:\n"
           "  cohortd --key %s/server.key --access-file %s/access "
           "--max-agent-connections-per-address %u ...\n"
           "  " PROG " --keys %s --agents %u ...\n",
           a->agents + 2, dir, dir, dir, a->agents + 2, dir, a->agents);
    rc = 0;
out:
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        fprintf(stderr, PROG ": --make-keys: cannot write %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    free(text);
    return rc;
}

/* Loads the CURVE keys of connection index (0-based; -1: the coordinator)
 * into out, or leaves out->on 0 in plain text. Returns 0, or -1 after the
 * message. */
int load_keys(const args_t *a, const char *server_key, int index, cohort_curve_t *out)
{
    char path[4096], err[640];

    memset(out, 0, sizeof *out);
    if (!server_key)
        return 0; /* plain text */
    if (index < 0 && a->key)
        snprintf(path, sizeof path, "%s", a->key);
    else if (index < 0)
        snprintf(path, sizeof path, "%s/coordinator.key", a->keys);
    else
        snprintf(path, sizeof path, "%s/bench-%02u.key", a->keys, (unsigned)index + 1);
    if (cohort_curve_from(out, path, server_key, 0, err, sizeof err) < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    return 0;
}

/* Chooses the server key path (NULL: plain text) into *out. Returns 0, or
 * -1 after a usage message. */
int choose_server_key(const args_t *a, char *buf, size_t len, const char **out)
{
    const char *env = getenv("COHORT_PLAINTEXT"), *env_server = getenv("COHORT_SERVER_KEY");
    struct stat st;

    *out = NULL;
    if (a->plaintext || (!a->keys && !a->key && !a->server_key && env && strcmp(env, "1") == 0)) {
        fprintf(stderr, PROG ": " COHORT_PLAINTEXT_WARNING "\n");
        return 0;
    }
    if (!a->keys) {
        fprintf(stderr, PROG ": CURVE needs one key per connection: give --keys DIR (make them "
                             "with --make-keys DIR); --plaintext only for a development daemon\n");
        return -1;
    }
    if (a->server_key) {
        *out = a->server_key;
    } else if (snprintf(buf, len, "%s/server.pub", a->keys) < (int)len && stat(buf, &st) == 0) {
        *out = buf;
    } else if (env_server && *env_server) {
        *out = env_server;
    } else {
        fprintf(stderr,
                PROG ": no server key: give --server-key FILE (or put server.pub in %s, or set "
                     "COHORT_SERVER_KEY)\n",
                a->keys);
        return -1;
    }
    return 0;
}
