/* web_export.h: cohort-web's spreadsheet exports of the tables of
 * web_table.h: GET /export/<topic>.xlsx (every table of the document, a
 * worksheet each, libxlsxwriter) and GET /export/<topic>/<table-id>.csv (one
 * table, libcsv's quoting). The scope is the page's: a topic the user may
 * not read, a document not held or an unknown table is "not found". A
 * hidden cell is the text "hidden" in both, never a number; shares and
 * days keep the document's figure (XLSX: the fraction with a percent
 * format, minutes / 480 with a days format; CSV: "52.27%", "5.5"). */
#ifndef WEB_EXPORT_H
#define WEB_EXPORT_H
#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "web_feed.h"
#include "web_session.h"
#include "web_table.h"

/* One export, ready to send. */
typedef struct {
    char *body;         /* the file (malloc'd; the caller frees it) */
    size_t len;         /* its length */
    const char *ctype;  /* its Content-Type (static) */
    char filename[256]; /* the attachment's dated name ("cohort-sf-2009-1_funnel_2009-06-30.csv") */
} web_export_t;

/* Makes the export that url (/export/...) names for user u from the
 * documents of feed. Returns 0 and fills *out; -ENOENT when there is no
 * such export for this user (answer 404); -ENOMEM or -EIO otherwise. */
int web_export_make(web_feed_t *feed, const web_user_t *u, const char *url, web_export_t *out);

/* The context document of topic for user u (see web_tables_new): the live
 * programme/<P> for release/programme/<P> and cohort/<P>/..., if u may read
 * it and the feed holds it; a new reference (json_decref it), or NULL. */
json_t *web_export_context(web_feed_t *feed, const web_user_t *u, const char *topic);

/* Writes table t as CSV (a heading row, then a row per table row). Returns
 * 0 or -errno. */
int web_export_csv(FILE *f, const web_table_t *t);

/* Writes every table of ts as an XLSX workbook into a malloc'd buffer
 * (*out, *len): an "About" sheet (title, figures as at, what "hidden"
 * means), then a sheet per table named by its id (row 1 the caption, row 2
 * the headings, the rows from row 3, the note after them). Returns 0 or
 * -errno. */
int web_export_xlsx(const web_tables_t *ts, const char *title, time_t asat, char **out,
                    size_t *len);

/* The path of the export links: /export/<topic>.xlsx, or
 * /export/<topic>/<table>.csv when table is not NULL. */
void web_export_href(const char *topic, const char *table, char *buf, size_t len);

#endif
