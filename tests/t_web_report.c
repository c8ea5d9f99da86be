/* t_web_report.c: unit tests of the parts of agents/web/web_report.c that
 * stand between a request and the file system: ids, report topics, and the
 * strict parsing of /reports/PROGRAMME/DATE/FILE (every trick is refused),
 * the file opened only as a regular file without following a symlink, the
 * archive's index filtered by scope, and the report stylesheet. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "web_report.h"

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("x", f);
        fclose(f);
    }
}

int main(void)
{
    web_report_of_t of;
    web_report_file_t rf;

    /* ids */
    ok(web_report_id_ok("step-forward", 12), "an id");
    ok(web_report_id_ok("2009-1", 6) && web_report_id_ok("a.b_C", 5), "digits, dots, underscores");
    ok(!web_report_id_ok(".", 1) && !web_report_id_ok("..", 2) && !web_report_id_ok(".x", 2),
       "never starting with a dot");
    ok(!web_report_id_ok("", 0) && !web_report_id_ok("a/b", 3) && !web_report_id_ok("a%2e", 4) &&
           !web_report_id_ok("a b", 3) && !web_report_id_ok("a\\b", 3),
       "no empty id, slash, percent, space or backslash");
    char longid[WEB_REPORT_ID_MAX + 2];
    memset(longid, 'a', sizeof longid);
    ok(web_report_id_ok(longid, WEB_REPORT_ID_MAX) &&
           !web_report_id_ok(longid, WEB_REPORT_ID_MAX + 1),
       "at most %d characters", WEB_REPORT_ID_MAX);

    /* topics */
    ok(web_report_parse_topic("programme/sf", &of) == 0 && strcmp(of.programme, "sf") == 0 &&
           of.cohort[0] == '\0',
       "programme/sf");
    ok(web_report_parse_topic("cohort/sf/2009-1", &of) == 0 && strcmp(of.programme, "sf") == 0 &&
           strcmp(of.cohort, "2009-1") == 0,
       "cohort/sf/2009-1");
    const char *bad_topics[] = {"programme/",
                                "programme/sf/x",
                                "cohort/sf",
                                "cohort/sf/",
                                "cohort/sf/a/b",
                                "release/programme/sf",
                                "agency/a/sf/c1",
                                "programme/..",
                                "cohort/../x",
                                "programme",
                                ""};
    for (size_t i = 0; i < sizeof bad_topics / sizeof *bad_topics; i++)
        is_int(web_report_parse_topic(bad_topics[i], &of), -EINVAL, "not a report's topic: '%s'",
               bad_topics[i]);

    /* files */
    ok(web_report_parse_file("sf/2026-12-06/programme.html", &rf) == 0 &&
           strcmp(rf.topic, "programme/sf") == 0 && strcmp(rf.file, "programme.html") == 0 &&
           strcmp(rf.date, "2026-12-06") == 0 && strncmp(rf.ctype, "text/html", 9) == 0,
       "programme.html: topic programme/sf, text/html");
    ok(web_report_parse_file("sf/2026-12-06/programme.pdf", &rf) == 0 &&
           strcmp(rf.ctype, "application/pdf") == 0,
       "programme.pdf: application/pdf");
    ok(web_report_parse_file("sf/2024-02-29/cohort-2009-1.pdf", &rf) == 0 &&
           strcmp(rf.topic, "cohort/sf/2009-1") == 0 && strcmp(rf.of.cohort, "2009-1") == 0,
       "cohort-2009-1.pdf (a leap day): topic cohort/sf/2009-1");
    ok(web_report_parse_file("sf/2026-12-06/cohort-a.b.html", &rf) == 0 &&
           strcmp(rf.of.cohort, "a.b") == 0,
       "a cohort id with a dot");
    ok(web_report_parse_file("sf/2026-12-06/report.css", &rf) == 0 &&
           strcmp(rf.topic, "programme/sf") == 0 && strncmp(rf.ctype, "text/css", 8) == 0,
       "report.css: the programme's topic");
    const char *bad_files[] = {"sf/2026-12-06/../2026-12-06/programme.html",
                               "../sf/2026-12-06/programme.html",
                               "sf/../2026-12-06/programme.html",
                               "sf/2026-12-06/..",
                               "sf/2026-12-06/.",
                               "sf/%2e%2e/programme.html",
                               "sf/2026-12-06/%2e%2e",
                               "..%2f..%2fetc/passwd",
                               "sf/2026-12-06//programme.html",
                               "sf//2026-12-06/programme.html",
                               "sf/2026-12-06/",
                               "sf/2026-12-06",
                               "sf",
                               "",
                               "/sf/2026-12-06/programme.html",
                               "sf/2026-12-06/programme.html/",
                               "sf/2026-12-06/programme.htm",
                               "sf/2026-12-06/programme.txt",
                               "sf/2026-12-06/programme.html.tmp",
                               "sf/2026-12-06/programme.pdf.part",
                               "sf/2026-12-06/cohort-.html",
                               "sf/2026-12-06/cohort-.x.html",
                               "sf/2026-12-06/cohort.html",
                               "sf/2026-12-06/cohort-a/b.html",
                               "sf/2026-12-06/.html",
                               "sf/2026-12-06/programmeX.html",
                               "sf/2026-12-6/programme.html",
                               "sf/2026-13-01/programme.html",
                               "sf/2026-02-30/programme.html",
                               "sf/2025-02-29/programme.html",
                               "sf/1900-01-01/programme.html",
                               "sf/2026-12-06x/programme.html",
                               "sf/2026/12/06/programme.html",
                               ".sf/2026-12-06/programme.html",
                               "s f/2026-12-06/programme.html",
                               "sf/2026-12-06/report.css.tmp",
                               "sf/2026-12-06/Programme.html"};
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++)
        is_int(web_report_parse_file(bad_files[i], &rf), -EINVAL, "refused: '%s'", bad_files[i]);

    /* opening: a regular file only, no symlink followed */
    char dir[] = "/tmp/t_web_report-XXXXXX";
    ok(mkdtemp(dir) != NULL, "a temporary archive");
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/sf", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/sf/2026-12-06", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/sf/2026-12-06/programme.html", dir);
    touch(p);
    snprintf(p, sizeof p, "%s/sf/2026-12-06/programme.pdf", dir);
    touch(p);
    snprintf(p, sizeof p, "%s/sf/2026-12-06/cohort-c1.html", dir);
    touch(p);
    snprintf(p, sizeof p, "%s/sf/2026-12-06/programme.html", dir);
    snprintf(q, sizeof q, "%s/sf/2026-12-06/cohort-c2.html", dir);
    ok(symlink(p, q) == 0, "a symlink cohort-c2.html");
    snprintf(q, sizeof q, "%s/sf/2026-12-06/cohort-c3.html", dir);
    mkdir(q, 0700);
    size_t size = 0;
    web_report_parse_file("sf/2026-12-06/programme.html", &rf);
    int fd = web_report_open(dir, &rf, &size);
    ok(fd >= 0 && size == 1, "programme.html opens (1 byte)");
    if (fd >= 0)
        close(fd);
    web_report_parse_file("sf/2026-12-06/cohort-c2.html", &rf);
    ok(web_report_open(dir, &rf, &size) < 0, "a symlink does not open");
    web_report_parse_file("sf/2026-12-06/cohort-c3.html", &rf);
    ok(web_report_open(dir, &rf, &size) < 0, "a directory does not open");
    web_report_parse_file("sf/2026-12-07/programme.html", &rf);
    is_int(web_report_open(dir, &rf, &size), -ENOENT, "another date: no such file");

    /* the index, by scope */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    web_session_t sb = {.user = {.name = "board1", .role = COHORT_ROLE_BOARD}, .csrf = "c"};
    web_report_index(f, dir, NULL, &sb);
    fclose(f);
    ok(strstr(buf, "data-report=\"sf/2026-12-06/programme\"") &&
           strstr(buf, "href=\"/reports/sf/2026-12-06/programme.pdf\"") &&
           strstr(buf, "data-report=\"sf/2026-12-06/cohort-c1\""),
       "the board's index lists the programme's report with its PDF, and the cohort's");
    ok(!strstr(buf, "cohort-c1.pdf"), "  no PDF link where there is no PDF");
    ok(strstr(buf, "programme\"") < strstr(buf, "cohort-c1\""), "  the programme's first");
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    web_session_t sh = {
        .user = {.name = "hr-a", .role = COHORT_ROLE_AGENCY_HR, .agency = "wm-police"},
        .csrf = "c"};
    web_report_index(f, dir, NULL, &sh);
    fclose(f);
    ok(!strstr(buf, "data-report=") && strstr(buf, "There are no reports for you yet"),
       "an agency's HR team's index lists nothing");
    free(buf);

    /* the stylesheet written beside a report */
    snprintf(p, sizeof p, "%s/report.css", dir);
    is_int(web_report_write_css(p), 0, "report.css written");
    buf = NULL;
    f = fopen(p, "r");
    char css[65536];
    size_t n = f ? fread(css, 1, sizeof css - 1, f) : 0;
    if (f)
        fclose(f);
    css[n] = '\0';
    ok(strstr(css, "svg.chart") && strstr(css, "@page") && strstr(css, "counter(page)"),
       "  the dashboard's rules and the report's page numbers");

    /* Chromium missing */
    char err[512];
    ok(web_report_chromium_ok("/nonexistent/chromium", err, sizeof err) < 0 &&
           strstr(err, "Chromium is missing") && strstr(err, "apt-get install chromium"),
       "no Chromium: says what is missing and how to get it");
    ok(web_report_chromium_ok(dir, err, sizeof err) < 0, "a directory is not Chromium");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
