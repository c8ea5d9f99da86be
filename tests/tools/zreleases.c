/* zreleases: a test tool for the snapshot socket's release history
 * request (docs/protocol.md, "Release history"), through the client call
 * cohort_sub_releases. Usage:
 *   zreleases SNAPSHOT_ENDPOINT KEY_FILE SERVER_KEY_FILE TOPIC
 * Prints {"omitted":k,"versions":[...]} (compact, keys sorted) and exits 0;
 * on a refusal prints the reason on stderr and exits 3; any other failure
 * exits 1. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cohort_keys.h"
#include "cohort_sub.h"

int main(int argc, char **argv)
{
    cohort_curve_t curve;
    char err[512];
    size_t omitted = 0;
    int code = 0;
    json_t *v, *o;
    char *text;
    if (argc != 5) {
        fprintf(stderr, "usage: zreleases SNAPSHOT_ENDPOINT KEY_FILE SERVER_KEY_FILE TOPIC\n");
        return 2;
    }
    if (cohort_curve_from(&curve, argv[2], argv[3], 0, err, sizeof err) < 0) {
        fprintf(stderr, "zreleases: %s\n", err);
        return 2;
    }
    v = cohort_sub_releases(NULL, argv[1], &curve, argv[4], 10000, &omitted, &code, err,
                            sizeof err);
    cohort_curve_clear(&curve);
    if (!v) {
        fprintf(stderr, "zreleases: %s\n", err);
        return code == -EACCES ? 3 : 1;
    }
    o = json_pack("{s:I, s:o}", "omitted", (json_int_t)omitted, "versions", v);
    text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!text)
        return 1;
    puts(text);
    free(text);
    return 0;
}
