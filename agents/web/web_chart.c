/* web_chart.c: cohort-web's server-drawn SVG charts (see web_chart.h): a
 * chart is chosen by the table's id; bars (grouped when several columns)
 * for counts and shares, lines over months for the history. Colours are the
 * classes .s0 ... .s5, .ok, .mid, .risk of static/cohort-web.css, each of
 * at least 3:1 contrast with the white background (WCAG 2.2 1.4.11), the
 * text at least 4.5:1. */
#include "web_chart.h"

#include <string.h>

#include "web_page.h"

#define MAXR 64 /* most categories drawn */
#define MAXS 6  /* most series */
#define LABEL_W 340
#define BAR_W 300
#define BAR_H 22
#define WIDTH (LABEL_W + BAR_W + 130)

typedef enum { BARS, LINES } shape_t;

/* What to draw of a table. */
typedef struct {
    const web_table_t *t;
    size_t rows[MAXR], nrows; /* categories: row indexes */
    size_t cols[MAXS], ncols; /* series: column indexes */
    int percent;              /* values are shares: the scale is 0-100% */
    int by_row;               /* colour the bars by the row (completion, people) */
    shape_t shape;
    const char *what; /* the figcaption's words */
} spec_t;

static int is_fig(const web_cell_t *c)
{
    return c->kind == WEB_CELL_COUNT || c->kind == WEB_CELL_PERCENT ||
           c->kind == WEB_CELL_PERCENT_INT || c->kind == WEB_CELL_DAYS;
}

/* The value drawn for cell c (shares in percent). */
static double val(const web_cell_t *c)
{
    return c->kind == WEB_CELL_PERCENT ? c->number * 100.0 : c->number;
}

static void add_row(spec_t *s, size_t r)
{
    if (s->nrows < MAXR)
        s->rows[s->nrows++] = r;
}

static int key_is(const web_row_t *r, const char *k)
{
    return r->key && strcmp(r->key, k) == 0;
}

/* Which chart table t has; 0 if none. */
static int choose(const web_table_t *t, spec_t *s)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->shape = BARS;
    s->ncols = 1;
    const char *id = t->id;
    if (t->nrows == 0)
        return 0;
    if (!strcmp(id, "funnel") || !strcmp(id, "stage")) {
        for (size_t r = 0; r < t->nrows; r++)
            if (t->rows[r].key && strcmp(t->rows[r].key, "total"))
                add_row(s, r);
        s->what =
            !strcmp(id, "funnel") ? "People who reached each step" : "People by their step now";
    } else if (!strcmp(id, "places")) {
        for (size_t r = 0; r < t->nrows; r++)
            add_row(s, r);
        s->what = "Places and how they are filled";
    } else if (!strcmp(id, "completion")) {
        for (size_t r = 0; r < t->nrows; r++)
            if (key_is(&t->rows[r], "complete") || key_is(&t->rows[r], "in_progress") ||
                key_is(&t->rows[r], "at_risk"))
                add_row(s, r);
        s->by_row = 1;
        s->what = "Participants: met every requirement, in progress, at risk";
    } else if (!strcmp(id, "progression") || !strcmp(id, "history-progression")) {
        int kinds = !strcmp(id, "progression"); /* the six kinds, not the summary rows */
        for (size_t r = 0; r < t->nrows; r++)
            if (!kinds || (t->rows[r].key && strncmp(t->rows[r].key, "promoted", 8) &&
                           strncmp(t->rows[r].key, "median", 6)))
                add_row(s, r);
        s->ncols = t->ncols < MAXS ? t->ncols : MAXS;
        s->what = !strcmp(id, "progression") ? "Promotions and moves by kind"
                                             : "Promotions and moves by month";
    } else if (!strcmp(id, "ethnic-group") || !strcmp(id, "gender") || !strcmp(id, "disability") ||
               !strcmp(id, "progressed") || !strcmp(id, "leavers")) {
        for (size_t r = 0; r < t->nrows; r++)
            if (!key_is(&t->rows[r], "total"))
                add_row(s, r);
        s->what = "Participants by group";
    } else if (!strcmp(id, "aims")) {
        for (size_t r = 0; r < t->nrows; r++)
            add_row(s, r);
        s->cols[0] = 0, s->cols[1] = 1, s->ncols = 2;
        if (t->ncols >= 4)
            s->cols[2] = 3, s->ncols = 3;
        s->percent = 1;
        s->what = t->ncols >= 4 ? "Each aim, the share now and the workforce's share"
                                : "Each aim and the share now";
        return 1;
    } else if (!strcmp(id, "people")) {
        for (size_t r = 0; r < t->nrows; r++)
            add_row(s, r);
        s->cols[0] = 2;
        s->percent = 1;
        s->by_row = 1;
        s->what = "Share of the required time each person has done";
        return 1;
    } else if (!strcmp(id, "history-funnel")) {
        for (size_t r = 0; r < t->nrows; r++)
            add_row(s, r);
        s->ncols = t->ncols < MAXS ? t->ncols : MAXS;
        s->shape = LINES;
        s->what = "People who reached each step, month by month";
    } else if (!strcmp(id, "history-completion")) {
        for (size_t r = 0; r < t->nrows; r++)
            add_row(s, r);
        s->cols[0] = 0, s->cols[1] = 1, s->cols[2] = 3, s->ncols = 3;
        s->shape = LINES;
        s->what = "Taking part, met every requirement and at risk, month by month";
        return t->ncols >= 4;
    } else
        return 0;
    for (size_t i = 0; i < s->ncols; i++)
        if (!s->cols[i])
            s->cols[i] = i;
    return s->nrows > 0;
}

static const char *row_class(const spec_t *s, size_t r)
{
    const web_row_t *row = &s->t->rows[r];
    if (!strcmp(s->t->id, "completion"))
        return key_is(row, "complete") ? "ok" : key_is(row, "at_risk") ? "risk" : "mid";
    if (!strcmp(s->t->id, "people") && s->t->ncols > 6)
        return row->cells[6].kind == WEB_CELL_YESNO && row->cells[6].number ? "risk" : "ok";
    return "s0";
}

/* 1 if row r of an agency's people is a person at risk. */
static int at_risk(const spec_t *s, size_t r)
{
    return s->by_row && !strcmp(s->t->id, "people") && !strcmp(row_class(s, r), "risk");
}

/* The text alternative: every figure drawn. */
static void desc(FILE *f, const spec_t *s)
{
    for (size_t i = 0; i < s->nrows; i++) {
        const web_row_t *row = &s->t->rows[s->rows[i]];
        web_html_esc(f, row->label);
        fputs(": ", f);
        for (size_t j = 0; j < s->ncols; j++) {
            if (s->ncols > 1) {
                web_html_esc(f, s->t->cols[s->cols[j]]);
                fputs(" ", f);
            }
            web_html_esc(f, row->cells[s->cols[j]].shown);
            if (at_risk(s, s->rows[i]))
                fputs(", at risk", f);
            if (j + 1 < s->ncols)
                fputs(", ", f);
        }
        fputs(i + 1 < s->nrows ? "; " : ".", f);
    }
}

/* The legend, wrapped to the chart's width: its entries from y (the first
 * line's baseline), LEGEND_H apart. With f NULL it only counts. Returns the
 * number of lines. */
#define LEGEND_H 20
static int legend(FILE *f, const spec_t *s, int y)
{
    int x = 0, lines = 1;
    for (size_t j = 0; j < s->ncols; j++) {
        int w = 30 + 8 * (int)strlen(s->t->cols[s->cols[j]]);
        if (x > 0 && x + w > WIDTH) {
            x = 0;
            y += LEGEND_H;
            lines++;
        }
        if (f) {
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" class=\"s%zu\"/>", x,
                    y - 12, j);
            fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"legend\">", x + 20, y);
            web_html_esc(f, s->t->cols[s->cols[j]]);
            fputs("</text>\n", f);
        }
        x += w;
    }
    return lines;
}

/* Where the drawing starts below the legend (bars draw none for one series). */
static int top_of(const spec_t *s, int base)
{
    return s->ncols > 1 || s->shape == LINES ? base + LEGEND_H * (legend(NULL, s, 0) - 1) : 4;
}

static double scale_max(const spec_t *s)
{
    double max = s->percent ? 100.0 : 1.0;
    for (size_t i = 0; i < s->nrows; i++)
        for (size_t j = 0; j < s->ncols; j++) {
            const web_cell_t *c = &s->t->rows[s->rows[i]].cells[s->cols[j]];
            if (is_fig(c) && val(c) > max)
                max = val(c);
        }
    return max;
}

static void bars(FILE *f, const spec_t *s)
{
    double max = scale_max(s);
    int top = top_of(s, 26);
    int band = (int)s->ncols * BAR_H + 10;
    if (s->ncols > 1)
        legend(f, s, 16);
    for (size_t i = 0; i < s->nrows; i++) {
        const web_row_t *row = &s->t->rows[s->rows[i]];
        int y0 = top + (int)i * band;
        fprintf(f, "<text x=\"0\" y=\"%d\" class=\"label\">", y0 + band / 2 + 2);
        web_html_esc(f, row->label);
        fputs("</text>\n", f);
        for (size_t j = 0; j < s->ncols; j++) {
            const web_cell_t *c = &row->cells[s->cols[j]];
            int y = y0 + (int)j * BAR_H;
            if (c->kind == WEB_CELL_HIDDEN || !is_fig(c)) {
                fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"gap\">", LABEL_W, y + 16);
                web_html_esc(f, c->kind == WEB_CELL_HIDDEN ? "hidden" : c->shown);
                fputs("</text>\n", f);
                continue;
            }
            double v = val(c);
            int w = v > 0 ? (int)(v * BAR_W / max + 0.5) : 0;
            if (v > 0 && w < 2)
                w = 2;
            char cls[32];
            if (s->by_row)
                snprintf(cls, sizeof cls, "%s", row_class(s, s->rows[i]));
            else
                snprintf(cls, sizeof cls, "s%zu", j);
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"%s\"/>"
                    "<text x=\"%d\" y=\"%d\" class=\"value\">",
                    LABEL_W, y, w, BAR_H - 4, cls, LABEL_W + w + 6, y + 14);
            web_html_esc(f, c->shown);
            if (at_risk(s, s->rows[i]))
                fputs(", at risk", f); /* not by colour alone */
            fputs("</text>\n", f);
        }
    }
}

static void lines(FILE *f, const spec_t *s)
{
    double max = scale_max(s);
    int top = top_of(s, 30), h = 200, left = 60, w = WIDTH - left - 20;
    legend(f, s, 16);
    /* axes: the scale's top and zero, the first and last month */
    fprintf(f,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>"
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n",
            left, top, left, top + h, left, top + h, left + w, top + h);
    fprintf(f, "<text x=\"0\" y=\"%d\" class=\"value\">%.0f</text>", top + 5, max);
    fprintf(f, "<text x=\"0\" y=\"%d\" class=\"value\">0</text>\n", top + h);
    const web_row_t *first = &s->t->rows[s->rows[0]], *last = &s->t->rows[s->rows[s->nrows - 1]];
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"label\">", left, top + h + 20);
    web_html_esc(f, first->label);
    fputs("</text>", f);
    if (s->nrows > 1) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"label end\">", left + w, top + h + 20);
        web_html_esc(f, last->label);
        fputs("</text>", f);
    }
    fputs("\n", f);
    for (size_t j = 0; j < s->ncols; j++) {
        int open = 0;
        for (size_t i = 0; i < s->nrows; i++) {
            const web_cell_t *c = &s->t->rows[s->rows[i]].cells[s->cols[j]];
            int x = left + (s->nrows > 1 ? (int)(i * (size_t)w / (s->nrows - 1)) : w / 2);
            if (!is_fig(c)) { /* a gap: the line breaks */
                if (open)
                    fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            int y = top + h - (int)(val(c) * h / max + 0.5);
            if (!open)
                fprintf(f, "<polyline class=\"line s%zu\" points=\"", j);
            fprintf(f, "%s%d,%d", open ? " " : "", x, y);
            open = 1;
        }
        if (open)
            fputs("\"/>\n", f);
        for (size_t i = 0; i < s->nrows; i++) {
            const web_cell_t *c = &s->t->rows[s->rows[i]].cells[s->cols[j]];
            if (!is_fig(c))
                continue;
            int x = left + (s->nrows > 1 ? (int)(i * (size_t)w / (s->nrows - 1)) : w / 2);
            int y = top + h - (int)(val(c) * h / max + 0.5);
            fprintf(f, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" class=\"s%zu\"/>", x, y, j);
        }
        fputs("\n", f);
    }
}

int web_chart_svg(FILE *f, const web_table_t *t)
{
    spec_t s;
    if (!t || !choose(t, &s))
        return 0;
    int height = s.shape == LINES ? top_of(&s, 30) + 230
                                  : top_of(&s, 26) + (int)s.nrows * ((int)s.ncols * BAR_H + 10) + 4;
    fputs("<figure class=\"chart\">\n<svg class=\"chart\" role=\"img\" aria-labelledby=\"", f);
    web_html_esc(f, t->id);
    fputs("-t ", f);
    web_html_esc(f, t->id);
    fprintf(f, "-d\" viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"",
            WIDTH, height);
    web_html_esc(f, t->id);
    fputs("-t\">", f);
    web_html_esc(f, t->title);
    fputs("</title>\n<desc id=\"", f);
    web_html_esc(f, t->id);
    fputs("-d\">", f);
    desc(f, &s);
    fputs("</desc>\n", f);
    if (s.shape == LINES)
        lines(f, &s);
    else
        bars(f, &s);
    fputs("</svg>\n<figcaption>", f);
    web_html_esc(f, s.what);
    fputs(": the same figures as the table below.</figcaption>\n</figure>\n", f);
    return 1;
}
