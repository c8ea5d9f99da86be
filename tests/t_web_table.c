/* t_web_table.c: unit tests of agents/web/web_table.c on the documents the
 * daemon publishes for the examples (tests/integration/data/web-documents.jsonl, made
 * by tests/tools/record-web-documents): every topic's tables in page order,
 * every cell's path resolves to its value in the document (or the context
 * document it names), a hidden cell shows "hidden" and no figure, counts
 * and shares show the document's figure, days of 480 minutes and their
 * rounding, the reason a person is at risk, the aims beside the workforce,
 * the monthly history, and the HTML (data-figure, data-value). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "web_chart.h"
#include "web_export.h"
#include "web_table.h"

static json_t *docs; /* topic -> document */

static void load(void)
{
    FILE *f = fopen(COHORT_SOURCE_DIR "/tests/integration/data/web-documents.jsonl", "r");
    char *line = NULL;
    size_t cap = 0;
    docs = json_object();
    while (f && getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "topic"));
        if (t)
            json_object_set(docs, t, json_object_get(j, "doc"));
        json_decref(j);
    }
    free(line);
    if (f)
        fclose(f);
}

static int has_digit(const char *s)
{
    for (; s && *s; s++)
        if (isdigit((unsigned char)*s))
            return 1;
    return 0;
}

/* Checks every cell of every table of ts (doc, ctx): paths resolve to the
 * cell's value, hidden cells show no figure, shown text agrees with the
 * value. Returns the number of figure cells; *hidden counts hidden ones. */
static size_t check_cells(const char *topic, const web_tables_t *ts, const json_t *doc,
                          const json_t *ctx, size_t *hidden)
{
    size_t n = 0, bad_path = 0, bad_hidden = 0, bad_shown = 0, bad_shape = 0;
    *hidden = 0;
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        if (!t->id || !t->title || !t->caption || !t->row_heading || t->ncols == 0 ||
            t->ncols > WEB_TABLE_COLS ||
            strspn(t->id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(t->id))
            bad_shape++;
        for (size_t r = 0; r < t->nrows; r++) {
            if (!t->rows[r].label)
                bad_shape++;
            for (size_t c = 0; c < t->ncols; c++) {
                const web_cell_t *cl = &t->rows[r].cells[c];
                if (!cl->shown)
                    bad_shape++;
                if (cl->kind == WEB_CELL_HIDDEN) {
                    ++*hidden;
                    if (strcmp(cl->shown, "hidden") != 0 || has_digit(cl->shown) ||
                        cl->number != 0 || (cl->value && !json_is_null(cl->value))) {
                        bad_hidden++;
                        diag("%s %s: hidden cell %s shows '%s'", topic, t->id, cl->path, cl->shown);
                    }
                }
                if (!cl->path) {
                    if (cl->value)
                        bad_path++;
                    continue;
                }
                n++;
                const json_t *d = cl->source ? ctx : doc;
                if (web_table_path(d, cl->path) != cl->value) {
                    bad_path++;
                    diag("%s %s: %s does not resolve to its value", topic, t->id, cl->path);
                }
                char b[64];
                if (cl->kind == WEB_CELL_COUNT && json_is_integer(cl->value) &&
                    strcmp(t->id, "requirements") && strcmp(t->id, "requirements-mentors")) {
                    snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(cl->value));
                    if (strcmp(b, cl->shown) || cl->number != (double)json_integer_value(cl->value))
                        bad_shown++, diag("%s %s: %s shows '%s', the document %s", topic, t->id,
                                          cl->path, cl->shown, b);
                }
                if (cl->kind == WEB_CELL_PERCENT &&
                    (!json_is_number(cl->value) || !strchr(cl->shown, '%') ||
                     cl->number != json_number_value(cl->value)))
                    bad_shown++, diag("%s %s: %s share '%s'", topic, t->id, cl->path, cl->shown);
                if (cl->kind == WEB_CELL_DAYS && !strstr(cl->shown, "day"))
                    bad_shown++, diag("%s %s: %s days '%s'", topic, t->id, cl->path, cl->shown);
                if (cl->kind == WEB_CELL_YESNO &&
                    strcmp(cl->shown, json_is_true(cl->value) ? "Yes" : "No"))
                    bad_shown++;
                if (ctx == NULL && cl->source)
                    bad_path++;
            }
        }
    }
    ok(bad_shape == 0, "%s: every table and row has an id, title, caption, headings", topic);
    ok(bad_path == 0, "%s: every path resolves to its value (%zu figures)", topic, n);
    ok(bad_hidden == 0, "%s: no hidden cell shows a figure (%zu hidden)", topic, *hidden);
    ok(bad_shown == 0, "%s: counts, shares, days and yes/no show the document's value", topic);
    return n;
}

/* The ids of ts, joined with spaces. */
static void ids(const web_tables_t *ts, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        if (i)
            strncat(out, " ", len - strlen(out) - 1);
        strncat(out, web_tables_get(ts, i)->id, len - strlen(out) - 1);
    }
}

static const web_cell_t *cell(const web_tables_t *ts, const char *id, const char *row_key,
                              size_t col)
{
    const web_table_t *t = web_tables_find(ts, id);
    for (size_t r = 0; t && r < t->nrows; r++)
        if (t->rows[r].key && strcmp(t->rows[r].key, row_key) == 0)
            return col < t->ncols ? &t->rows[r].cells[col] : NULL;
    return NULL;
}

static void test_days(void)
{
    static const struct {
        long long m;
        const char *want;
    } c[] = {{2640, "5.5 days"}, {2160, "4.5 days"},  {480, "1 day"},     {1440, "3 days"},
             {120, "0.25 days"}, {1320, "2.75 days"}, {100, "0.21 days"}, {0, "0 days"},
             {240, "0.5 days"},  {959, "2 days"},     {956, "1.99 days"}, {12300, "25.63 days"}};
    char b[32];
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        web_table_days(c[i].m, b, sizeof b);
        is_str(b, c[i].want, "%lld minutes are %s", c[i].m, c[i].want);
    }
}

static void test_live(const char *topic, const char *want_ids, const json_t *ctx)
{
    const json_t *doc = json_object_get(docs, topic);
    ok(doc != NULL, "%s is in the fixture", topic);
    if (!doc)
        return;
    web_tables_t *ts = web_tables_new(topic, doc, ctx);
    char got[1024];
    ids(ts, got, sizeof got);
    is_str(got, want_ids, "%s: the tables in page order", topic);
    size_t hidden;
    check_cells(topic, ts, doc, ctx, &hidden);
    is_int(hidden, 0, "%s: a live document hides nothing", topic);
    web_tables_destroy(&ts);
    ok(ts == NULL, "destroy nulls the pointer");
}

static void test_cohort(void)
{
    const char *topic = "cohort/step-forward/2009-1";
    const json_t *doc = json_object_get(docs, topic);
    const json_t *prog = json_object_get(docs, "programme/step-forward");
    web_tables_t *ts = web_tables_new(topic, doc, prog);
    const web_cell_t *c = cell(ts, "funnel", "APPLIED", 0);
    ok(c && c->value == web_table_path(doc, "funnel_reached.participants.reached.APPLIED"),
       "funnel: Applied is the document's reached.APPLIED");
    c = cell(ts, "completion", "required_minutes", 0);
    is_str(c ? c->shown : NULL, "5.5 days", "completion: participants need 5.5 days");
    c = cell(ts, "completion", "required_minutes", 1);
    is_str(c ? c->shown : NULL, "4.5 days", "  mentors 4.5 days");
    const web_cell_t *e = cell(ts, "completion", "enrolled", 0),
                     *k = cell(ts, "completion", "complete", 0),
                     *a = cell(ts, "completion", "at_risk", 0),
                     *p = cell(ts, "completion", "in_progress", 0);
    ok(e && k && a && p && p->path == NULL && p->value == NULL &&
           p->number == e->number - k->number - a->number,
       "completion: in progress = taking part - met every requirement - at risk (computed, no "
       "path)");
    const web_table_t *rq = web_tables_find(ts, "requirements");
    ok(rq && rq->nrows >= 3, "requirements from the programme (the context)");
    ok(rq && rq->rows[0].cells[0].source &&
           strcmp(rq->rows[0].cells[0].source, "programme/step-forward") == 0,
       "  their cells name the programme document as their source");
    is_str(rq ? rq->rows[0].cells[0].shown : NULL, "3 days", "  the 3-day course is 3 days");
    is_str(rq ? rq->rows[2].cells[0].shown : NULL, "1.5 days (6 of 0.25 days)",
           "  six coaching sessions of 2 hours");
    is_str(rq ? rq->rows[rq->nrows - 1].cells[0].shown : NULL, "5.5 days", "  5.5 days in all");
    web_tables_destroy(&ts);

    /* Sessions and submissions (Leadership in Partnership's dissertation). */
    const json_t *lip = json_object_get(docs, "programme/leadership-in-partnership");
    ts = web_tables_new("programme/leadership-in-partnership", lip, NULL);
    rq = web_tables_find(ts, "requirements");
    int sub = 0;
    for (size_t r = 0; rq && r < rq->nrows; r++)
        sub |= strstr(rq->rows[r].cells[0].shown, "submission") != NULL;
    ok(sub, "a submission requirement is counted in submissions, not days");
    ok(web_tables_find(ts, "award") && web_tables_find(ts, "plans") &&
           web_tables_find(ts, "retention") && web_tables_find(ts, "after-completion"),
       "award, plans, retention and promotion after the end where present");
    web_tables_destroy(&ts);
}

static void test_history(void)
{
    json_t *doc = json_deep_copy(json_object_get(docs, "cohort/step-forward/2009-1"));
    json_t *months = json_array();
    for (int i = 0; i < 3; i++) {
        json_t *fr = json_object();
        static const char *const st[] = {"APPLIED",     "SHORTLISTED",
                                         "INTERVIEWED", "LINE_MANAGER_SUPPORTED",
                                         "OFFERED",     "ENROLLED"};
        for (int s = 0; s < 6; s++)
            json_object_set_new(fr, st[s], json_integer(20 - s - i));
        json_array_append_new(
            months, json_pack("{s:s, s:o, s:{s:i,s:i,s:f,s:i}, s:{s:i,s:i,s:i}}", "month",
                              i == 0   ? "2009-04"
                              : i == 1 ? "2009-05"
                                       : "2009-06",
                              "funnel_reached", fr, "completion", "enrolled", 10 + i, "complete", i,
                              "mean_completion", 0.25 * i, "at_risk", 1, "progression", "during", i,
                              "after", 0, "promoted_substantively", i));
    }
    json_object_set_new(doc, "history", json_pack("{s:o}", "monthly", months));
    web_tables_t *ts = web_tables_new("cohort/step-forward/2009-1", doc, NULL);
    const web_table_t *h = web_tables_find(ts, "history-funnel");
    ok(h && h->nrows == 3 && h->ncols == 6 && strcmp(h->rows[1].label, "May 2009") == 0 &&
           strcmp(h->rows[1].key, "2009-05") == 0,
       "history-funnel: a row per month, the six steps");
    const web_table_t *c = web_tables_find(ts, "history-completion");
    ok(c && c->nrows == 3 && strcmp(c->rows[2].cells[2].shown, "50%") == 0 &&
           c->rows[2].cells[0].number == 12,
       "history-completion: counts and the mean share by month");
    const web_table_t *p = web_tables_find(ts, "history-progression");
    ok(p && p->nrows == 3 && p->rows[2].cells[0].number == 2, "history-progression by month");
    size_t hidden;
    check_cells("cohort with history", ts, doc, NULL, &hidden);
    web_tables_destroy(&ts);
    json_decref(doc);
}

static void test_agency(void)
{
    const char *topic = "agency/wm-police/step-forward/2009-1";
    const json_t *doc0 = json_object_get(docs, topic);
    ok(doc0 && json_array_size(json_object_get(doc0, "people")) > 0, "%s has people", topic);
    if (!doc0)
        return;
    json_t *doc = json_deep_copy(doc0);
    /* one person at risk, behind on the minutes and with a failed piece */
    json_t *p = json_array_get(json_object_get(doc, "people"), 0);
    json_object_set_new(p, "at_risk", json_true());
    json_object_set_new(p, "credited_minutes", json_integer(1320));
    json_object_set_new(p, "expected_minutes", json_integer(1920));
    json_object_set_new(p, "assessments",
                        json_pack("[{s:s,s:s,s:s}]", "component", "DISSERTATION", "piece",
                                  "dissertation", "outcome", "ASSESSMENT_FAIL"));
    web_tables_t *ts = web_tables_new(topic, doc, NULL);
    char got[256];
    ids(ts, got, sizeof got);
    is_str(got, "people", "agency: the people table");
    const web_table_t *t = web_tables_find(ts, "people");
    ok(t && t->nrows == json_array_size(json_object_get(doc, "people")), "  one row a person");
    ok(t && strcmp(t->rows[0].label, json_string_value(json_object_get(p, "ref"))) == 0 &&
           strcmp(t->rows[0].key, t->rows[0].label) == 0,
       "  by pseudonym");
    const char *why = t ? t->rows[0].cells[7].shown : "";
    ok(strstr(why, "Failed assessed work: Dissertation (dissertation)") &&
           strstr(why, "Attended 2.75 days of the 4 days held so far"),
       "  the reason for being at risk, in words: %s", why);
    is_str(t ? t->rows[0].cells[6].shown : NULL, "Yes", "  at risk: Yes");
    int quiet = 1;
    for (size_t r = 1; t && r < t->nrows; r++)
        if (!json_is_true(
                json_object_get(json_array_get(json_object_get(doc, "people"), r), "at_risk")) &&
            *t->rows[r].cells[7].shown)
            quiet = 0;
    ok(quiet, "  no reason for those not at risk");
    ok(t && strcmp(t->rows[0].cells[1].shown, "ENROLLED") != 0,
       "  steps are labels, not enum names");
    size_t hidden;
    check_cells(topic, ts, doc, NULL, &hidden);
    web_tables_destroy(&ts);
    json_decref(doc);
}

static void test_release(const char *topic, const char *ctx_topic)
{
    const json_t *doc = json_object_get(docs, topic);
    const json_t *ctx = ctx_topic ? json_object_get(docs, ctx_topic) : NULL;
    ok(doc != NULL, "%s is in the fixture", topic);
    if (!doc)
        return;
    web_tables_t *ts = web_tables_new(topic, doc, ctx);
    char got[1024];
    ids(ts, got, sizeof got);
    diag("%s: %s", topic, got);
    ok(web_tables_find(ts, "representation") && web_tables_find(ts, "aims") &&
           web_tables_find(ts, "funnel-ethnic-group"),
       "%s: representation, aims, funnel by ethnic group", topic);
    size_t hidden, nulls = 0;
    check_cells(topic, ts, doc, ctx, &hidden);
    /* every null of the document's suppressed cells that a table shows is hidden */
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        for (size_t r = 0; r < t->nrows; r++)
            for (size_t c = 0; c < t->ncols; c++) {
                const web_cell_t *cl = &t->rows[r].cells[c];
                if (cl->path && !cl->source && (!cl->value || json_is_null(cl->value))) {
                    nulls++;
                    if (cl->kind != WEB_CELL_HIDDEN)
                        diag("%s: %s is null but not hidden", topic, cl->path);
                    else
                        nulls--;
                }
            }
    }
    is_int(nulls, 0, "%s: every null (suppressed) cell is hidden", topic);
    const web_table_t *aims = web_tables_find(ts, "aims");
    if (ctx) {
        ok(aims && aims->ncols == 4 && strcmp(aims->cols[3], "Workforce") == 0,
           "%s: the workforce share beside each aim", topic);
        const web_cell_t *w = aims ? &aims->rows[0].cells[3] : NULL;
        int sf = strcmp(ctx_topic, "programme/step-forward") == 0;
        ok(w && w->source && strcmp(w->source, ctx_topic) == 0 &&
               w->value == web_table_path(ctx, w->path) &&
               (sf ? w->value && strcmp(w->shown, "9%") == 0
                   : w->value != NULL || strcmp(w->shown, "not published") == 0),
           "  from the live programme document (%s: %s)", w ? w->path : "", w ? w->shown : "");
    } else
        ok(aims && aims->ncols == 3, "%s: no workforce column without the programme", topic);
    /* the HTML: every figure cell has data-figure and data-value, hidden says so */
    char *html = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&html, &len);
    for (size_t i = 0; i < web_tables_count(ts); i++)
        web_table_html(f, web_tables_get(ts, i));
    fclose(f);
    size_t nfig = 0, nhid = 0;
    for (const char *s = html; (s = strstr(s, "data-figure=\"")); s++)
        nfig++;
    for (const char *s = html; (s = strstr(s, "\">hidden</td>")); s++)
        nhid++;
    size_t total = 0;
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        for (size_t r = 0; r < t->nrows; r++)
            for (size_t c = 0; c < t->ncols; c++)
                total += t->rows[r].cells[c].path != NULL;
    }
    is_int(nfig, total, "%s: the HTML has a data-figure per figure cell", topic);
    is_int(nhid, hidden, "%s: and shows \"hidden\" for each hidden cell", topic);
    ok(!strstr(html, "class=\"hidden-cell\" data-figure=\"representation.total\" data-value=\"1"),
       "  no number behind a hidden cell");
    free(html);
    web_tables_destroy(&ts);
}

/* A made-up release with suppressed cells everywhere a block has them. */
static void test_release_hidden(void)
{
    json_t *doc = json_loads(
        "{\"programme\":\"p\",\"cohort\":\"c\",\"filled\":{\"participants\":9},"
        "\"representation\":{\"total\":9,\"bme\":null,\"threshold\":5,"
        "\"ethnic_group\":{\"WHITE\":5,\"MIXED\":null,\"ASIAN\":null,\"BLACK\":0,"
        "\"CHINESE_OR_OTHER\":null,\"NOT_STATED\":null},"
        "\"gender\":{\"FEMALE\":null,\"MALE\":null,\"GENDER_OTHER\":0,\"GENDER_NOT_STATED\":0},"
        "\"aims\":[{\"group\":\"AIM_BME\",\"min_percent\":30,\"withheld\":true}]},"
        "\"progression\":{\"progressed\":{\"below_threshold\":true,\"threshold\":5}},"
        "\"retention\":{\"retained\":{\"withheld\":true}}}",
        0, NULL);
    web_tables_t *ts = web_tables_new("release/cohort/p/c", doc, NULL);
    size_t hidden;
    check_cells("made-up release", ts, doc, NULL, &hidden);
    ok(hidden >= 8, "the made-up release's nulls and the withheld aim are hidden (%zu)", hidden);
    const web_cell_t *c = cell(ts, "aims", "AIM_BME", 1);
    ok(c && c->kind == WEB_CELL_HIDDEN && c->value == NULL, "a withheld aim's share is hidden");
    const web_table_t *pg = web_tables_find(ts, "progressed");
    ok(pg && pg->nrows == 0 && pg->note && strstr(pg->note, "fewer than 5"),
       "a block below the threshold: no cells, a note says why");
    const web_table_t *rt = web_tables_find(ts, "retained");
    ok(rt && rt->nrows == 0 && rt->note && strstr(rt->note, "Not published"),
       "a withheld block: a note");
    web_tables_destroy(&ts);
    json_decref(doc);
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;
    for (; s && (s = strstr(s, what)); s++)
        n++;
    return n;
}

/* The charts (web_chart.c) drawn over the tables of topic: role img, a
 * title and a description naming every figure drawn, classes only, a
 * hidden cell a gap marked "hidden" and never a bar. */
static void test_charts(const char *topic, const json_t *ctx, size_t want_min)
{
    const json_t *doc = json_object_get(docs, topic);
    web_tables_t *ts = web_tables_new(topic, doc, ctx);
    size_t charts = 0, bad = 0, gaps = 0;
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        char *svg = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&svg, &len);
        int drew = web_chart_svg(f, t);
        fclose(f);
        if (!drew) {
            if (len)
                bad++, diag("%s %s: no chart but %zu bytes", topic, t->id, len);
            free(svg);
            continue;
        }
        charts++;
        char want[160];
        snprintf(want, sizeof want, "role=\"img\" aria-labelledby=\"%s-t %s-d\"", t->id, t->id);
        const char *desc = strstr(svg, "<desc id=");
        if (!strstr(svg, want) || !strstr(svg, "<title id=") || !desc || strstr(svg, "style=") ||
            !strstr(svg, "<figcaption>"))
            bad++, diag("%s %s: chart without its text alternative", topic, t->id);
        /* every row label drawn is in the description with its figure */
        for (size_t r = 0; desc && r < t->nrows; r++) {
            const web_cell_t *c = &t->rows[r].cells[0];
            char item[256];
            snprintf(item, sizeof item, "%s: %s", t->rows[r].label, c->shown);
            if (t->ncols == 1 && strstr(svg, t->rows[r].label) && !strstr(desc, item))
                bad++, diag("%s %s: the description lacks '%s'", topic, t->id, item);
        }
        size_t hidden = 0;
        for (size_t r = 0; r < t->nrows; r++)
            for (size_t c = 0; c < t->ncols; c++)
                hidden += t->rows[r].cells[c].kind == WEB_CELL_HIDDEN;
        if (hidden && count_of(svg, "class=\"gap\">hidden<") == 0)
            bad++, diag("%s %s: hidden cells not marked", topic, t->id);
        gaps += count_of(svg, "class=\"gap\">hidden<");
        free(svg);
    }
    ok(charts >= want_min && bad == 0,
       "%s: %zu charts, each with role img, title, a description of its figures, no inline "
       "style; %zu hidden cells drawn as gaps",
       topic, charts, gaps);
    web_tables_destroy(&ts);
}

/* The exports of a release: CSV (every field quoted by csv_fwrite) with a
 * heading row and a line a row, the hidden cells "hidden" and the counts
 * the document's;
 * the XLSX a zip (what libxlsxwriter writes). */
static void test_exports(void)
{
    const char *topic = "release/cohort/step-forward/2009-1";
    const json_t *doc = json_object_get(docs, topic);
    web_tables_t *ts = web_tables_new(topic, doc, NULL);
    size_t bad = 0, hidden = 0, cells = 0;
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        char *csv = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&csv, &len);
        int rc = web_export_csv(f, t);
        fclose(f);
        size_t lines = 0;
        for (size_t k = 0; k < len; k++)
            lines += csv[k] == '\n';
        if (rc != 0 || lines != t->nrows + 1)
            bad++, diag("%s.csv: rc %d, %zu lines for %zu rows", t->id, rc, lines, t->nrows);
        /* each data line: the label, then the cells in order */
        char *line = csv, *save = NULL;
        strtok_r(line, "\n", &save); /* the headings */
        for (size_t r = 0; r < t->nrows; r++) {
            char *l = strtok_r(NULL, "\n", &save);
            for (size_t c = 0; l && c < t->ncols; c++) {
                const web_cell_t *cl = &t->rows[r].cells[c];
                cells++;
                if (cl->kind == WEB_CELL_HIDDEN) {
                    hidden++;
                    char want[16];
                    snprintf(want, sizeof want, ",\"%s\"", "hidden");
                    if (!strstr(l, want))
                        bad++, diag("%s.csv row %zu: no hidden", t->id, r);
                } else if (cl->kind == WEB_CELL_COUNT) {
                    char want[40];
                    snprintf(want, sizeof want, ",\"%.0f\"", cl->number);
                    if (!strstr(l, want))
                        bad++, diag("%s.csv row %zu: no %s", t->id, r, want + 1);
                }
            }
        }
        free(csv);
    }
    ok(bad == 0 && hidden > 0,
       "%s: the CSV of every table, %zu cells, the %zu hidden ones \"hidden\"", topic, cells,
       hidden);
    char *x = NULL;
    size_t xl = 0;
    int rc = web_export_xlsx(ts, "Released breakdowns: Step Forward, cohort 2009-1", 1246406400, &x,
                             &xl);
    ok(rc == 0 && xl > 1000 && memcmp(x, "PK", 2) == 0, "the XLSX of every table (%zu bytes)", xl);
    free(x);
    char href[256];
    web_export_href("cohort/sf/2009-1", "funnel", href, sizeof href);
    is_str(href, "/export/cohort/sf/2009-1/funnel.csv", "a table's CSV link");
    web_export_href("cohort/sf/2009-1", NULL, href, sizeof href);
    is_str(href, "/export/cohort/sf/2009-1.xlsx", "the page's XLSX link");
    web_tables_destroy(&ts);
}

int main(void)
{
    load();
    ok(json_object_size(docs) >= 10, "the fixture's documents (%zu)", json_object_size(docs));
    test_days();
    test_live("programme/step-forward",
              "funnel places stage requirements requirements-mentors award "
              "progression after-completion retention plans board-decisions funnel-agency",
              NULL);
    test_live("cohort/step-forward/2009-1",
              "funnel places stage completion requirements requirements-mentors award "
              "progression after-completion retention mentoring plans board-decisions "
              "funnel-agency",
              json_object_get(docs, "programme/step-forward"));
    test_cohort();
    test_history();
    test_agency();
    test_release("release/cohort/step-forward/2009-1", NULL);
    test_release("release/programme/step-forward", "programme/step-forward");
    test_release("release/programme/leadership-in-partnership",
                 "programme/leadership-in-partnership");
    test_release_hidden();
    test_exports();
    test_charts("cohort/step-forward/2009-1", NULL, 4);
    test_charts("programme/leadership-in-partnership", NULL, 3);
    test_charts("agency/wm-police/step-forward/2009-1", NULL, 1);
    test_charts("release/cohort/step-forward/2009-1", NULL, 4);
    test_charts("release/programme/step-forward", json_object_get(docs, "programme/step-forward"),
                3);
    web_tables_t *none = web_tables_new("cohort/x/y", NULL, NULL);
    ok(none && web_tables_count(none) == 0 && web_tables_get(none, 0) == NULL &&
           web_tables_find(none, "funnel") == NULL,
       "no document: no tables");
    web_tables_destroy(&none);
    web_tables_destroy(&none);
    json_decref(docs);
    return tap_done();
}
