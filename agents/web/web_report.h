/* web_report.h: the dated board reports (issue 19 §3). A report is of one
 * programme (topic programme/P) or one cohort (cohort/P/C): a standalone
 * HTML page titled "Board report: <programme name>" with "Figures as at",
 * a contents list, the live document's tables and the latest release's
 * breakdowns (release/programme/P or release/cohort/P/C), each table with
 * its chart, all rendered by web_table.h and web_chart.h (so a report shows
 * exactly the figures and the suppression of the published documents), and
 * a print stylesheet (static/cohort-report.css: page breaks between the
 * parts, page numbers). No script, nothing fetched from elsewhere.
 *
 * The archive (`cohort-web report`, served at /reports):
 *   DIR/<programme>/<YYYY-MM-DD>/programme.html, programme.pdf,
 *                                cohort-<cohort>.html, cohort-<cohort>.pdf,
 *                                report.css (the stylesheet the HTML links)
 * Ids are 1-64 characters of A-Z a-z 0-9 _ - . not starting with a dot, so
 * that an id is always one path component; a path into the archive is only
 * ever made from parsed parts (web_report_parse_file), never from a request.
 *
 * The PDF is Chromium's headless print of the HTML (web_report_pdf), run as
 * a child process with a timeout, a fresh HOME and profile, and no network. */
#ifndef WEB_REPORT_H
#define WEB_REPORT_H
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "cohort_scope.h"
#include "web_feed.h"
#include "web_session.h"

#define WEB_REPORT_ID_MAX 64 /* longest programme or cohort id in a report's name */

/* 1 if the len bytes at s are an id that may name a file: 1-64 of
 * A-Z a-z 0-9 _ - . and not starting with '.', else 0. */
int web_report_id_ok(const char *s, size_t len);

/* What a report is of. */
typedef struct {
    char programme[WEB_REPORT_ID_MAX + 1]; /* the programme id */
    char cohort[WEB_REPORT_ID_MAX + 1];    /* the cohort id, "" for a programme's report */
} web_report_of_t;

/* Parses topic "programme/P" or "cohort/P/C" (ids as web_report_id_ok).
 * Returns 0, or -EINVAL for anything else. */
int web_report_parse_topic(const char *topic, web_report_of_t *out);

/* How a report links what is beside it. */
typedef struct {
    const char *const *css; /* stylesheet hrefs, NULL-ended */
    int archive;            /* 1: links to the cohorts' reports are the archive's
                               files beside it (cohort-C.html); 0: /report/cohort/P/C */
} web_report_style_t;

/* Writes the report of topic (programme/P or cohort/P/C) from the feed's
 * documents as they are now, figures as at now. Returns 0, -EINVAL for a
 * topic that is not a report's, -ENOENT when the feed does not hold its
 * document. */
int web_report_html(FILE *f, web_feed_t *feed, const char *topic, const web_report_style_t *st,
                    time_t now);

/* Writes the archive's stylesheet (the dashboard's, then the report's print
 * rules) to path (via a temporary file and rename). Returns 0 or -errno. */
int web_report_write_css(const char *path);

/* What a path under /reports/ names. */
typedef struct {
    web_report_of_t of;                     /* whose report */
    char date[11];                          /* YYYY-MM-DD */
    char file[WEB_REPORT_ID_MAX + 16];      /* programme.html, cohort-C.pdf, report.css, ... */
    char topic[2 * WEB_REPORT_ID_MAX + 16]; /* the topic the reader must be able to read */
    const char *ctype;                      /* its Content-Type (static) */
} web_report_file_t;

/* Parses rest, the part of a URL after "/reports/": PROGRAMME/DATE/FILE,
 * DATE a real YYYY-MM-DD, FILE one of programme.html, programme.pdf,
 * cohort-C.html, cohort-C.pdf, report.css (report.css's topic is the
 * programme's). Nothing else: no "..", no percent signs, no extra slash.
 * Returns 0 or -EINVAL. */
int web_report_parse_file(const char *rest, web_report_file_t *out);

/* Opens the archive's file that out names under dir (O_NOFOLLOW, a regular
 * file only). Returns the fd and its size in *size, or -errno. */
int web_report_open(const char *dir, const web_report_file_t *file, size_t *size);

/* Writes the page of the archive (GET /reports): every dated report under
 * dir whose topic role (with agency) may read, newest date first, with
 * links to its HTML and PDF; programmes by the name in feed's document
 * (feed may be NULL: ids). s is the reader's session: its user's role
 * and agency decide what is listed; the page has the site's header, with
 * the logout form (web_page_begin). */
void web_report_index(FILE *f, const char *dir, web_feed_t *feed, const web_session_t *s);

/* Writes the report of topic into dir/<programme>/<date>/ (made if
 * missing): its HTML, report.css, and the PDF printed by chromium with at
 * most timeout_s seconds. On success *html_out and *pdf_out (may be NULL)
 * are set to the malloc'd paths. Returns 0, or -errno with a message in err. */
int web_report_make(web_feed_t *feed, const char *topic, const char *dir, const char *date,
                    time_t now, const char *chromium, unsigned timeout_s, char **html_out,
                    char **pdf_out, char *err, size_t errlen);

/* Prints html (a file) to pdf with chromium (headless, no sandbox, no
 * network, a temporary HOME and profile), killing it after timeout_s
 * seconds. Checks its exit status and that pdf starts with "%PDF-".
 * Returns 0, or -errno with a message (and Chromium's last words) in err. */
int web_report_pdf(const char *chromium, const char *html, const char *pdf, unsigned timeout_s,
                   char *err, size_t errlen);

/* 0 if path is an executable file, else -errno with a message in err saying
 * what is missing and how to get it. */
int web_report_chromium_ok(const char *path, char *err, size_t errlen);

#endif
