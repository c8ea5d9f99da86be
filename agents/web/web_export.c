/* web_export.c: cohort-web's CSV and XLSX exports (see web_export.h). */
#include "web_export.h"

#include <csv.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "web_page.h"

#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#define CSV_TYPE "text/csv; charset=utf-8"
#define MAX_XLSX (64u << 20) /* largest workbook read back */

void web_export_href(const char *topic, const char *table, char *buf, size_t len)
{
    if (table)
        snprintf(buf, len, "/export/%s/%s.csv", topic, table);
    else
        snprintf(buf, len, "/export/%s.xlsx", topic);
}

json_t *web_export_context(web_feed_t *feed, const web_user_t *u, const char *topic)
{
    char p[300], ctx[320];
    const char *rest = NULL;
    if (strncmp(topic, "release/programme/", 18) == 0)
        rest = topic + 18;
    else if (strncmp(topic, "cohort/", 7) == 0)
        rest = topic + 7;
    if (!rest)
        return NULL;
    size_t n = strcspn(rest, "/");
    if (n == 0 || n >= sizeof p)
        return NULL;
    memcpy(p, rest, n);
    p[n] = '\0';
    snprintf(ctx, sizeof ctx, "programme/%s", p);
    if (!cohort_scope_may_read(u->role, u->agency, ctx))
        return NULL;
    return web_feed_get(feed, ctx, NULL);
}

/* The CSV text of cell c: counts as integers, shares as percentages with
 * the document's precision, days as a number, hidden as "hidden". */
static void csv_cell(const web_cell_t *c, char *b, size_t len)
{
    switch (c->kind) {
    case WEB_CELL_COUNT:
        snprintf(b, len, "%.0f", c->number);
        break;
    case WEB_CELL_PERCENT:
        snprintf(b, len, "%.10g%%", c->number * 100.0);
        break;
    case WEB_CELL_PERCENT_INT:
        snprintf(b, len, "%.10g%%", c->number);
        break;
    case WEB_CELL_DAYS:
        snprintf(b, len, "%.10g", c->number / 480.0);
        break;
    case WEB_CELL_HIDDEN:
        snprintf(b, len, "hidden");
        break;
    default:
        snprintf(b, len, "%s", c->shown ? c->shown : "");
    }
}

static int csv_field(FILE *f, const char *s, int last)
{
    if (csv_fwrite(f, s, strlen(s)) != 0)
        return -EIO;
    return fputs(last ? "\r\n" : ",", f) < 0 ? -EIO : 0;
}

int web_export_csv(FILE *f, const web_table_t *t)
{
    char b[512];
    int rc = csv_field(f, t->row_heading, 0);
    for (size_t c = 0; rc == 0 && c < t->ncols; c++) {
        const char *h = t->cols[c];
        int days = 0; /* a column of days says so in its heading */
        for (size_t r = 0; r < t->nrows; r++)
            days |= t->rows[r].cells[c].kind == WEB_CELL_DAYS;
        if (days) {
            snprintf(b, sizeof b, "%s (days)", h);
            h = b;
        }
        rc = csv_field(f, h, c + 1 == t->ncols);
    }
    for (size_t r = 0; rc == 0 && r < t->nrows; r++) {
        rc = csv_field(f, t->rows[r].label, 0);
        for (size_t c = 0; rc == 0 && c < t->ncols; c++) {
            csv_cell(&t->rows[r].cells[c], b, sizeof b);
            rc = csv_field(f, b, c + 1 == t->ncols);
        }
    }
    return rc;
}

/* A worksheet name from a table id: at most 31 characters. */
static void sheet_name(const char *id, char *b, size_t len)
{
    snprintf(b, len < 32 ? len : 32, "%s", id);
}

int web_export_xlsx(const web_tables_t *ts, const char *title, time_t asat, char **out, size_t *len)
{
    char path[] = "/tmp/cohort-web-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -errno;
    close(fd);
    int rc = 0;
    lxw_workbook *wb = workbook_new(path);
    if (!wb) {
        unlink(path);
        return -ENOMEM;
    }
    lxw_format *bold = workbook_add_format(wb);
    format_set_bold(bold);
    lxw_format *count = workbook_add_format(wb);
    format_set_num_format(count, "0");
    lxw_format *share = workbook_add_format(wb);
    format_set_num_format(share, "0%");
    lxw_format *pint = workbook_add_format(wb);
    format_set_num_format(pint, "0\"%\"");
    lxw_format *days = workbook_add_format(wb);
    format_set_num_format(days, "General\" days\"");
    lxw_format *italic = workbook_add_format(wb);
    format_set_italic(italic);

    char when[64];
    struct tm tm;
    gmtime_r(&asat, &tm);
    strftime(when, sizeof when, "%d %B %Y, %H:%M UTC", &tm);
    lxw_worksheet *about = workbook_add_worksheet(wb, "About");
    worksheet_set_column(about, 0, 0, 90, NULL);
    worksheet_write_string(about, 0, 0, title, bold);
    char line[160];
    snprintf(line, sizeof line, "Figures as at %s", when);
    worksheet_write_string(about, 1, 0, line, NULL);
    worksheet_write_string(about, 2, 0,
                           "Each table is on a sheet of its own. \"hidden\": a count of fewer than "
                           "the threshold, or one beside it, withheld so that no one can be "
                           "recognised. A day is 8 hours.",
                           NULL);
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        char name[32];
        sheet_name(t->id, name, sizeof name);
        snprintf(line, sizeof line, "%s: %s", name, t->title);
        worksheet_write_string(about, (lxw_row_t)(4 + i), 0, line, NULL);
        lxw_worksheet *ws = workbook_add_worksheet(wb, name);
        if (!ws) {
            rc = -ENOMEM;
            break;
        }
        worksheet_set_column(ws, 0, 0, 45, NULL);
        worksheet_set_column(ws, 1, (lxw_col_t)t->ncols, 18, NULL);
        worksheet_write_string(ws, 0, 0, t->caption, bold);
        worksheet_write_string(ws, 1, 0, t->row_heading, bold);
        for (size_t c = 0; c < t->ncols; c++)
            worksheet_write_string(ws, 1, (lxw_col_t)(c + 1), t->cols[c], bold);
        for (size_t r = 0; r < t->nrows; r++) {
            lxw_row_t y = (lxw_row_t)(r + 2);
            worksheet_write_string(ws, y, 0, t->rows[r].label, NULL);
            for (size_t c = 0; c < t->ncols; c++) {
                const web_cell_t *cl = &t->rows[r].cells[c];
                lxw_col_t x = (lxw_col_t)(c + 1);
                switch (cl->kind) {
                case WEB_CELL_COUNT:
                    worksheet_write_number(ws, y, x, cl->number, count);
                    break;
                case WEB_CELL_PERCENT:
                    worksheet_write_number(ws, y, x, cl->number, share);
                    break;
                case WEB_CELL_PERCENT_INT:
                    worksheet_write_number(ws, y, x, cl->number, pint);
                    break;
                case WEB_CELL_DAYS:
                    worksheet_write_number(ws, y, x, cl->number / 480.0, days);
                    break;
                case WEB_CELL_HIDDEN:
                    worksheet_write_string(ws, y, x, "hidden", italic);
                    break;
                default:
                    if (cl->shown && *cl->shown)
                        worksheet_write_string(ws, y, x, cl->shown, NULL);
                }
            }
        }
        if (t->note)
            worksheet_write_string(ws, (lxw_row_t)(t->nrows + 3), 0, t->note, italic);
    }
    if (workbook_close(wb) != LXW_NO_ERROR && rc == 0)
        rc = -EIO;
    if (rc == 0) {
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        long n = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && (size_t)n <= MAX_XLSX &&
            fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
            fread(buf, 1, (size_t)n, f) == (size_t)n) {
            *out = buf;
            *len = (size_t)n;
        } else {
            free(buf);
            rc = -EIO;
        }
        if (f)
            fclose(f);
    }
    unlink(path);
    return rc;
}

/* 1 if s is a table id: [a-z0-9-], 1..63 characters. */
static int table_id(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* 1 if topic is a document topic of cohort-web's pages. */
static int doc_topic(const char *t)
{
    if (strncmp(t, "programme/", 10) && strncmp(t, "cohort/", 7) && strncmp(t, "agency/", 7) &&
        strncmp(t, "release/", 8))
        return 0;
    for (const char *p = t; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '-' || *p == '_' || (*p == '/' && p[1] != '/' && p[1]);
        if (!ok)
            return 0;
    }
    return 1;
}

int web_export_make(web_feed_t *feed, const web_user_t *u, const char *url, web_export_t *out)
{
    char topic[512], id[64] = "";
    size_t n = strlen(url);
    int xlsx;
    memset(out, 0, sizeof *out);
    if (strncmp(url, "/export/", 8) != 0 || n - 8 >= sizeof topic)
        return -ENOENT;
    const char *rest = url + 8;
    size_t rn = n - 8;
    if (rn > 5 && strcmp(rest + rn - 5, ".xlsx") == 0) {
        xlsx = 1;
        memcpy(topic, rest, rn - 5);
        topic[rn - 5] = '\0';
    } else if (rn > 4 && strcmp(rest + rn - 4, ".csv") == 0) {
        xlsx = 0;
        const char *slash = memrchr(rest, '/', rn);
        if (!slash || !table_id(slash + 1, (size_t)(rest + rn - 4 - (slash + 1))))
            return -ENOENT;
        memcpy(topic, rest, (size_t)(slash - rest));
        topic[slash - rest] = '\0';
        memcpy(id, slash + 1, (size_t)(rest + rn - 4 - (slash + 1)));
        id[rest + rn - 4 - (slash + 1)] = '\0';
    } else
        return -ENOENT;
    if (!doc_topic(topic) || !cohort_scope_may_read(u->role, u->agency, topic))
        return -ENOENT;
    time_t at = 0;
    json_t *doc = web_feed_get(feed, topic, &at);
    if (!doc)
        return -ENOENT;
    json_t *ctx = web_export_context(feed, u, topic);
    web_tables_t *ts = web_tables_new(topic, doc, ctx);
    int rc = ts ? 0 : -ENOMEM;
    char date[16], base[512];
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    snprintf(base, sizeof base, "%s", topic);
    for (char *p = base; *p; p++)
        if (*p == '/')
            *p = '-';
    if (rc == 0 && xlsx) {
        char title[512];
        web_page_title(topic, doc, title, sizeof title);
        rc = web_export_xlsx(ts, title, at, &out->body, &out->len);
        out->ctype = XLSX_TYPE;
        snprintf(out->filename, sizeof out->filename, "%.200s_%s.xlsx", base, date);
    } else if (rc == 0) {
        const web_table_t *t = web_tables_find(ts, id);
        if (!t)
            rc = -ENOENT;
        else {
            FILE *f = open_memstream(&out->body, &out->len);
            if (!f)
                rc = -ENOMEM;
            else {
                rc = web_export_csv(f, t);
                if (fclose(f) != 0 && rc == 0)
                    rc = -ENOMEM;
            }
            out->ctype = CSV_TYPE;
            snprintf(out->filename, sizeof out->filename, "%.150s_%s_%s.csv", base, id, date);
        }
    }
    web_tables_destroy(&ts);
    json_decref(ctx);
    json_decref(doc);
    if (rc < 0) {
        free(out->body);
        out->body = NULL;
        out->len = 0;
    }
    return rc;
}
