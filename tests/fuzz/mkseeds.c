/* mkseeds.c: writes the fuzz seed corpus, built from the example JSON Lines
 * through the agents' JSON mapping (lib/cohort_json.h), so the seeds are
 * the frames a real agent sends and follow the proto without committed
 * binaries. Usage: mkseeds OUTDIR FILE.jsonl...
 * Writes into OUTDIR (which must exist): one ping frame; for each input
 * file, every event alone in a batch frame, and windows of 8 and of 64
 * consecutive events as batch frames. File names are stable
 * (<file>-single-NNNN, <file>-batch8-NNNN, <file>-batch64-NNNN), so a
 * rebuild overwrites the same seeds. Exits non-zero, saying why, on any
 * failure. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort.pb-c.h"
#include "cohort_json.h"

/* Packs a request whose body is batch events[0..n) (or a ping when n is 0
 * and events is NULL) and writes it to dir/name. Returns 0 or -1. */
static int write_frame(const char *dir, const char *name, uint64_t request_id,
                       Cohort__V1__Event **events, size_t n)
{
    Cohort__V1__IngestRequest req = COHORT__V1__INGEST_REQUEST__INIT;
    Cohort__V1__Batch batch = COHORT__V1__BATCH__INIT;
    Cohort__V1__Ping ping = COHORT__V1__PING__INIT;
    char path[4096];
    uint8_t *buf = NULL;
    FILE *f = NULL;
    int rc = -1;
    req.request_id = request_id;
    if (events) {
        batch.n_events = n;
        batch.events = events;
        req.body_case = COHORT__V1__INGEST_REQUEST__BODY_BATCH;
        req.batch = &batch;
    } else {
        req.body_case = COHORT__V1__INGEST_REQUEST__BODY_PING;
        req.ping = &ping;
    }
    size_t len = cohort__v1__ingest_request__get_packed_size(&req);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(buf = malloc(len ? len : 1))) {
        fprintf(stderr, "mkseeds: %s: out of memory\n", path);
        goto done;
    }
    cohort__v1__ingest_request__pack(&req, buf);
    if (!(f = fopen(path, "wb")) || fwrite(buf, 1, len, f) != len) {
        fprintf(stderr, "mkseeds: cannot write %s: %s\n", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (f && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "mkseeds: cannot write %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(buf);
    return rc;
}

/* Reads the events of one JSON Lines file into *out (*n of them). Returns 0,
 * or -1 after saying why. */
static int read_events(const char *path, Cohort__V1__Event ***out, size_t *n)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, err[256];
    size_t cap = 0, lineno = 0, have = 0, room = 0;
    Cohort__V1__Event **evs = NULL;
    ssize_t got;
    int rc = -1;
    if (!f) {
        fprintf(stderr, "mkseeds: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (got <= 1)
            continue; /* blank line */
        if (have == room) {
            Cohort__V1__Event **ne = realloc(evs, (room = room ? room * 2 : 256) * sizeof *evs);
            if (!ne) {
                fprintf(stderr, "mkseeds: %s: out of memory\n", path);
                goto done;
            }
            evs = ne;
        }
        if (!(evs[have] = cohort_json_to_event(line, (size_t)got, err, sizeof err))) {
            fprintf(stderr, "mkseeds: %s:%zu: %s\n", path, lineno, err);
            goto done;
        }
        have++;
    }
    if (ferror(f)) {
        fprintf(stderr, "mkseeds: cannot read %s: %s\n", path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (rc < 0) {
        for (size_t i = 0; i < have; i++)
            cohort__v1__event__free_unpacked(evs[i], NULL);
        free(evs);
        evs = NULL;
        have = 0;
    }
    free(line);
    fclose(f);
    *out = evs;
    *n = have;
    return rc;
}

/* Writes the seeds of one examples file. Returns 0 or -1. */
static int seeds_of(const char *dir, const char *path)
{
    Cohort__V1__Event **evs;
    size_t n;
    char copy[4096], stem[1024], name[1200];
    int rc = -1;
    if (read_events(path, &evs, &n) < 0)
        return -1;
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(stem, sizeof stem, "%s", basename(copy));
    char *dot = strrchr(stem, '.');
    if (dot)
        *dot = '\0';
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s-single-%04zu", stem, i);
        if (write_frame(dir, name, i + 1, &evs[i], 1) < 0)
            goto done;
    }
    for (size_t i = 0; i + 8 <= n; i += 8) {
        snprintf(name, sizeof name, "%s-batch8-%04zu", stem, i);
        if (write_frame(dir, name, i + 1, &evs[i], 8) < 0)
            goto done;
    }
    for (size_t i = 0; i + 64 <= n; i += 64) {
        snprintf(name, sizeof name, "%s-batch64-%04zu", stem, i);
        if (write_frame(dir, name, i + 1, &evs[i], 64) < 0)
            goto done;
    }
    printf("mkseeds: %s: %zu events\n", path, n);
    rc = 0;
done:
    for (size_t i = 0; i < n; i++)
        cohort__v1__event__free_unpacked(evs[i], NULL);
    free(evs);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mkseeds OUTDIR FILE.jsonl...\n");
        return 2;
    }
    if (write_frame(argv[1], "ping", 1, NULL, 0) < 0)
        return 1;
    for (int i = 2; i < argc; i++)
        if (seeds_of(argv[1], argv[i]) < 0)
            return 1;
    return 0;
}
