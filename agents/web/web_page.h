/* web_page.h: cohort-web's pages, rendered on the server as HTML from the
 * status documents (docs/status.md): plain-language labels for the stage,
 * role and promotion enum names, days rather than minutes, percentages
 * rather than fractions, the tables of web_table.h each with its
 * server-drawn SVG chart (web_chart.h) and export links (web_export.h), "figures as at" and the
 * live connection's state (#live-state, kept by /static/cohort-web.js). Every figure taken from a
 * document is in a cell with data-figure (its JSON path in the document) and data-value (the value
 * as in the document), so that tests can compare pages with documents. No inline script or style.
 * Writes into a FILE (an open_memstream); pure functions of their inputs. */
#ifndef WEB_PAGE_H
#define WEB_PAGE_H
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "web_session.h"

/* Writes s with &, <, >, " and ' escaped. NULL writes nothing. */
void web_html_esc(FILE *f, const char *s);

/* A page of other modules (the reports' archive): the head with title, the
 * site's header (menu, who is logged in, the logout form with s's CSRF
 * token) and <main> opened; web_page_end closes <main> and adds the
 * footer. The body between is the caller's. */
void web_page_begin(FILE *f, const web_session_t *s, const char *title);
void web_page_end(FILE *f);

/* The login page: the form (user, password, the login CSRF token) and an
 * optional message (NULL: none). */
void web_page_login(FILE *f, const char *csrf, const char *msg);

/* The overview: web_page_home_begin, then per kind of document a group
 * (web_page_home_group with its heading, web_page_home_topic for each topic
 * in scope, web_page_home_group_end with how many), then web_page_home_end
 * with the total. */
void web_page_home_begin(FILE *f, const web_session_t *s);
void web_page_home_group(FILE *f, const char *heading);
void web_page_home_topic(FILE *f, const char *topic, const json_t *doc);
void web_page_home_group_end(FILE *f, size_t n);
void web_page_home_end(FILE *f, size_t total);

/* The page of topic (programme/, cohort/ or agency/ document doc, which
 * arrived at at). */
void web_page_topic(FILE *f, const web_session_t *s, const char *topic, const json_t *doc,
                    time_t at);

/* The same with ctx, the context document of web_tables_new (the live
 * programme/<P> of a release/programme/<P> or cohort/<P>/<C>), or NULL:
 * per table of web_table.h a <section> with the table's id, its heading,
 * chart (web_chart.h), table and a CSV export link, and a link to the
 * page's XLSX export. */
void web_page_topic_ctx(FILE *f, const web_session_t *s, const char *topic, const json_t *doc,
                        const json_t *ctx, time_t at);

/* The title of topic's page (names, not ids) into title (len bytes). */
void web_page_title(const char *topic, const json_t *doc, char *title, size_t len);

/* The glossary: each term defined once. */
void web_page_glossary(FILE *f, const web_session_t *s);

/* The "not found" page (also what an out-of-scope page answers). */
void web_page_not_found(FILE *f);

/* The plain-language label of an enum name (stage, role, promotion kind);
 * name itself (static or the argument) when it has none. */
const char *web_label(const char *name);

/* The dated releases of release topic ("release/..."): versions (a JSON
 * array of its published documents, oldest first, as web_feed_releases
 * gives them) listed newest first with their date, reason and number, each
 * linking to /releases/<topic without "release/">?number=N. */
void web_page_releases(FILE *f, const web_session_t *s, const char *topic, const json_t *versions);

#endif
