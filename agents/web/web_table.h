/* web_table.h: the tables of a status document, as cohort-web shows them.
 *
 * One model for every output: the pages, the charts drawn over them, the
 * board reports, and the CSV and XLSX exports all render the tables that
 * web_tables_new makes, so they cannot disagree. Every figure cell holds
 * the document's own value at a JSON path (a borrowed reference into the
 * document) and the text a person sees; a value the document hides (null
 * in a release: suppressed, withheld or below the threshold) is shown as
 * "hidden" and never as a number, and no cell holds a figure that is not
 * in the document or computed only from figures that are (a sum, a
 * difference, a share of two published cells). So an export carries exactly
 * the document's suppression.
 *
 * Labels are plain language (web_label), times are in days of 480 minutes
 * (docs/status.md "Day length") or sessions, shares are percentages.
 * Pure: no I/O, no globals; the tables borrow from the document, which must
 * outlive them. */
#ifndef WEB_TABLE_H
#define WEB_TABLE_H
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define WEB_TABLE_COLS 16 /* most figure columns in one table */

/* What kind of figure a cell holds (how it was shown; for XLSX number
 * formats and for charts). */
typedef enum {
    WEB_CELL_TEXT = 0, /* text (a label, a date, a pseudonym) */
    WEB_CELL_COUNT,    /* a count of people or events (an integer) */
    WEB_CELL_PERCENT,  /* a share, the document's fraction (0.25 shows "25%") */
    WEB_CELL_PERCENT_INT, /* a whole percentage as in the document (25 shows "25%") */
    WEB_CELL_DAYS,     /* minutes in the document, shown in days of 480 minutes */
    WEB_CELL_YESNO,    /* a true/false */
    WEB_CELL_HIDDEN    /* the document hides it (null): shown as "hidden" */
} web_cell_kind_t;

/* One cell of a row. */
typedef struct {
    web_cell_kind_t kind; /* what it holds */
    char *path;           /* its JSON path in the document, dotted ("filled.places"),
                             array indexes as numbers; NULL for a cell computed from
                             other cells (then value is NULL too) */
    const json_t *value;  /* the document's value (borrowed), or NULL */
    double number;        /* the figure as a number (counts, fractions, minutes);
                             0 for TEXT and HIDDEN */
    char *shown;          /* what a person sees ("25%", "5.5 days", "hidden"); never
                             NULL ("" for a blank cell) */
    const char *source;   /* NULL: path and value are in the document; else the topic
                             of the context document they are in ("programme/sf") */
} web_cell_t;

/* One row: a heading (a stage, a group, a pseudonym) and its cells. */
typedef struct {
    char *label;        /* the row's heading, plain language */
    const char *key;    /* the document's key of the row (an enum name, a ref), or NULL */
    web_cell_t *cells;  /* ncols cells */
} web_row_t;

/* One table. */
typedef struct {
    char *id;           /* stable and unique in its document, [a-z0-9-]
                           ("funnel", "places", "completion", "people", "aims", ...):
                           the CSV export's name and the page's anchor */
    char *title;        /* the section heading ("Selection: how many people reached
                           each step") */
    char *caption;      /* the table's caption */
    char *row_heading;  /* the heading of the row-label column ("Step") */
    size_t ncols;       /* figure columns (1 .. WEB_TABLE_COLS) */
    char *cols[WEB_TABLE_COLS]; /* their headings */
    web_row_t *rows;    /* nrows rows, in the order shown */
    size_t nrows;
    char *note;         /* a sentence under the table (what "hidden" means), or NULL */
} web_table_t;

typedef struct web_tables_t web_tables_t;

/* The tables of document doc of topic (programme/, cohort/, agency/ or
 * release/...), in page order. context, may be NULL: a second document the
 * tables may draw on (for release/programme/P, the live programme/P, whose
 * workforce baselines are set beside the aims). Returns NULL only when out
 * of memory; a document with nothing to show gives zero tables. The result
 * borrows from doc and context. */
web_tables_t *web_tables_new(const char *topic, const json_t *doc, const json_t *context);

/* Frees the tables and nulls *self_p. NULL is fine. */
void web_tables_destroy(web_tables_t **self_p);

/* How many tables; the i-th (borrowed; NULL past the end); the one with
 * this id, or NULL. */
size_t web_tables_count(const web_tables_t *self);
const web_table_t *web_tables_get(const web_tables_t *self, size_t i);
const web_table_t *web_tables_find(const web_tables_t *self, const char *id);

/* Writes table t as an HTML <table> (caption, thead, a <th scope="row">
 * per row, cells with data-figure = path and data-value = the document's
 * value as JSON, as the tests compare them with the documents), then its
 * note. */
void web_table_html(FILE *f, const web_table_t *t);

/* The value at a dotted path (as web_cell_t.path) in doc: NULL when the
 * path does not resolve. */
const json_t *web_table_path(const json_t *doc, const char *path);

/* Writes minutes as days of 480 minutes, rounded half up to hundredths with
 * trailing zeros dropped: 2640 gives "5.5 days", 480 "1 day", 120
 * "0.25 days". */
void web_table_days(long long minutes, char *buf, size_t len);

#endif
