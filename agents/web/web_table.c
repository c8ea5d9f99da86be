/* web_table.c: the tables of a status document (see web_table.h): one
 * builder per section of docs/status.md, in page order. */
#include "web_table.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "web_page.h"

struct web_tables_t {
    web_table_t *t;      /* the tables */
    size_t n, cap;       /* how many, room for */
    const json_t *doc;   /* the document (borrowed) */
    const json_t *ctx;   /* the context document, or NULL (borrowed) */
    char ctx_topic[256]; /* its topic ("programme/sf"), or "" */
    int release;         /* the document is a release: null is hidden */
    int oom;             /* an allocation failed */
};

/* Labels beyond web_label's (component kinds, plans, leavers, stages of the
 * chained tables). */
static const struct {
    const char *name, *label;
} more_labels[] = {
    {"TRAINING_COURSE", "Training course"},
    {"CALL_BACK", "Call-back sessions"},
    {"COACHING", "Coaching"},
    {"MENTORING", "Mentoring"},
    {"ASSESSED_MODULE", "Assessed modules"},
    {"ACTION_LEARNING_SET", "Action learning sets"},
    {"WORKSHOP", "Workshops"},
    {"SHADOWING", "Work shadowing"},
    {"ATTACHMENT", "Attachments"},
    {"SECONDMENT_PLACEMENT", "Secondment placements"},
    {"DISSERTATION", "Dissertation"},
    {"CONSULTANCY_PROJECT", "Consultancy project"},
    {"OTHER_COMPONENT", "Other requirement"},
    {"BOARD_CONTINUE", "Continue on the programme"},
    {"BOARD_EXTENSION", "More time given"},
    {"BOARD_REMOVAL", "Removed from the programme"},
    {"BOARD_WARNING", "Warning"},
    {"BOARD_REASON_ASSESSMENT", "Assessed work"},
    {"BOARD_REASON_ATTENDANCE", "Attendance"},
    {"BOARD_REASON_CIRCUMSTANCES", "Personal circumstances"},
    {"BOARD_REASON_CONDUCT", "Conduct"},
    {"BOARD_REASON_OTHER", "Another reason"},
    {"BOARD_REASON_PLAN_NOT_MET", "Development plan not met"},
    {"RETAINED_AT_END", "Still with their agency at the end"},
    {"RETAINED_6_MONTHS_AFTER", "Still with their agency 6 months after"},
    {"RETAINED_12_MONTHS_AFTER", "Still with their agency 12 months after"},
    {"RETAINED_24_MONTHS_AFTER", "Still with their agency 24 months after"},
    {"PROMOTED_DURING", "Permanently promoted during the programme"},
    {"PROMOTED_WITHIN_6_MONTHS", "Permanently promoted within 6 months after"},
    {"PROMOTED_WITHIN_12_MONTHS", "Permanently promoted within 12 months after"},
    {"PROMOTED_WITHIN_24_MONTHS", "Permanently promoted within 24 months after"},
    {"LEAVER_RESIGNED", "Resigned"},
    {"LEAVER_RETIRED", "Retired"},
    {"LEAVER_TRANSFERRED", "Moved to another public body"},
    {"LEAVER_END_OF_CONTRACT", "End of contract"},
    {"LEAVER_DISMISSED", "Dismissed"},
    {"LEAVER_OTHER", "Another reason"},
    {"LEAVER_NOT_STATED", "Not stated"},
};

static const char *label(const char *name)
{
    for (size_t i = 0; name && i < sizeof more_labels / sizeof more_labels[0]; i++)
        if (strcmp(more_labels[i].name, name) == 0)
            return more_labels[i].label;
    return web_label(name);
}

static const char *const reached_stages[] = {
    "APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED", "OFFERED", "ENROLLED"};
#define NREACHED 6
static const char *const all_stages[] = {
    "APPLIED",      "SHORTLISTED", "INTERVIEWED",     "LINE_MANAGER_SUPPORTED",
    "OFFERED",      "ENROLLED",    "COMPLETED",       "DECLINED",
    "NOT_SELECTED", "WITHDRAWN",   "REMOVED_BY_BOARD"};
#define NSTAGES 11
static const char *const kinds[] = {
    "SUBSTANTIVE_PROMOTION", "TEMPORARY_PROMOTION", "ACTING_UP",
    "LATERAL_MOVE",          "SECONDMENT",          "ATTACHMENT_MOVE"};
#define NKINDS 6
static const char *const groups[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                     "NOT_STATED"};
#define NGROUPS 6

/* ---- paths and formats ------------------------------------------------ */

const json_t *web_table_path(const json_t *doc, const char *path)
{
    const json_t *v = doc;
    const char *p = path;
    char key[256];
    if (!path || !*path)
        return NULL;
    while (v && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(key, &end, 10);
            v = (*end || end == key) ? NULL : json_array_get(v, i);
        } else
            v = json_object_get(v, key);
        p += n;
        if (*p == '.')
            p++;
    }
    return v;
}

void web_table_days(long long minutes, char *buf, size_t len)
{
    int neg = minutes < 0;
    long long m = neg ? -minutes : minutes;
    long long h = (m * 100 + 240) / 480; /* hundredths of a day, half up */
    long long whole = h / 100, frac = h % 100;
    if (frac == 0)
        snprintf(buf, len, "%s%lld day%s", neg ? "-" : "", whole, whole == 1 && !neg ? "" : "s");
    else if (frac % 10 == 0)
        snprintf(buf, len, "%s%lld.%lld days", neg ? "-" : "", whole, frac / 10);
    else
        snprintf(buf, len, "%s%lld.%02lld days", neg ? "-" : "", whole, frac);
}

/* A fraction as a whole percentage, half up ("52%"); below 1% but above 0,
 * one decimal ("0.4%"). */
static void pct(double x, char *buf, size_t len)
{
    double p = x * 100.0;
    if (p > 0 && p < 1)
        snprintf(buf, len, "%.1f%%", floor(p * 10 + 0.5) / 10);
    else
        snprintf(buf, len, "%.0f%%", floor(p + 0.5));
}

/* ---- building --------------------------------------------------------- */

static char *dup(web_tables_t *ts, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        ts->oom = 1;
    return d;
}

static char *dupf(web_tables_t *ts, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *dupf(web_tables_t *ts, const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        ts->oom = 1;
    }
    va_end(ap);
    return s;
}

/* A new table; cols is ncols headings. NULL when out of memory. */
static web_table_t *tab(web_tables_t *ts, const char *id, const char *title, const char *caption,
                        const char *row_heading, size_t ncols, const char *const *cols)
{
    if (ts->oom || ncols == 0 || ncols > WEB_TABLE_COLS)
        return NULL;
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 16;
        web_table_t *t = realloc(ts->t, cap * sizeof *t);
        if (!t) {
            ts->oom = 1;
            return NULL;
        }
        ts->t = t;
        ts->cap = cap;
    }
    web_table_t *t = &ts->t[ts->n++];
    memset(t, 0, sizeof *t);
    t->id = dup(ts, id);
    t->title = dup(ts, title);
    t->caption = dup(ts, caption);
    t->row_heading = dup(ts, row_heading);
    t->ncols = ncols;
    for (size_t i = 0; i < ncols; i++)
        t->cols[i] = dup(ts, cols[i]);
    return t;
}

static void note(web_tables_t *ts, web_table_t *t, const char *text)
{
    if (!t)
        return;
    free(t->note);
    t->note = dup(ts, text);
}

/* A new row (its cells blank text); NULL when out of memory. */
static web_row_t *row(web_tables_t *ts, web_table_t *t, const char *lab, const char *key)
{
    if (!t || ts->oom)
        return NULL;
    web_row_t *r = realloc(t->rows, (t->nrows + 1) * sizeof *r);
    if (!r) {
        ts->oom = 1;
        return NULL;
    }
    t->rows = r;
    r = &t->rows[t->nrows];
    memset(r, 0, sizeof *r);
    r->cells = calloc(t->ncols, sizeof *r->cells);
    if (!r->cells) {
        ts->oom = 1;
        return NULL;
    }
    t->nrows++;
    r->label = dup(ts, lab);
    r->key = key;
    for (size_t i = 0; i < t->ncols; i++)
        r->cells[i].shown = dup(ts, "");
    return r;
}

static void set_shown(web_tables_t *ts, web_cell_t *c, const char *s)
{
    free(c->shown);
    c->shown = dup(ts, s);
}

/* Fills cell c with the value at path in d (the document, or the context
 * when source is its topic), shown as kind. */
static void fill(web_tables_t *ts, web_cell_t *c, const json_t *d, const char *source,
                 web_cell_kind_t kind, char *path)
{
    char b[64];
    if (!c || !path) {
        free(path);
        return;
    }
    free(c->path);
    c->path = path;
    c->source = source;
    const json_t *v = web_table_path(d, path);
    c->value = v;
    c->number = 0;
    if (!v || json_is_null(v)) {
        if (ts->release && !source) {
            c->kind = WEB_CELL_HIDDEN;
            set_shown(ts, c, "hidden");
        } else {
            c->kind = WEB_CELL_TEXT;
            set_shown(ts, c, v ? "none" : source ? "not published" : "not given");
        }
        return;
    }
    c->kind = kind;
    switch (kind) {
    case WEB_CELL_COUNT:
        if (json_is_integer(v)) {
            c->number = (double)json_integer_value(v);
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            set_shown(ts, c, b);
            return;
        }
        break;
    case WEB_CELL_PERCENT:
        if (json_is_number(v)) {
            c->number = json_number_value(v);
            pct(c->number, b, sizeof b);
            set_shown(ts, c, b);
            return;
        }
        break;
    case WEB_CELL_PERCENT_INT:
        if (json_is_number(v)) {
            c->number = json_number_value(v);
            snprintf(b, sizeof b, "%.0f%%", c->number);
            set_shown(ts, c, b);
            return;
        }
        break;
    case WEB_CELL_DAYS:
        if (json_is_integer(v)) {
            c->number = (double)json_integer_value(v);
            web_table_days(json_integer_value(v), b, sizeof b);
            set_shown(ts, c, b);
            return;
        }
        break;
    case WEB_CELL_YESNO:
        if (json_is_boolean(v)) {
            c->number = json_is_true(v);
            set_shown(ts, c, json_is_true(v) ? "Yes" : "No");
            return;
        }
        break;
    default:
        break;
    }
    /* text, or a value not of the kind asked for: as text */
    c->kind = WEB_CELL_TEXT;
    if (json_is_string(v))
        set_shown(ts, c, label(json_string_value(v)));
    else if (json_is_boolean(v))
        set_shown(ts, c, json_is_true(v) ? "Yes" : "No");
    else if (json_is_number(v)) {
        snprintf(b, sizeof b, "%g", json_number_value(v));
        set_shown(ts, c, b);
    } else
        set_shown(ts, c, "");
}

/* The cell col of r from the document at the path of fmt. */
static void fig(web_tables_t *ts, web_row_t *r, size_t col, web_cell_kind_t kind, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static void fig(web_tables_t *ts, web_row_t *r, size_t col, web_cell_kind_t kind, const char *fmt,
                ...)
{
    char *path = NULL;
    va_list ap;
    if (!r)
        return;
    va_start(ap, fmt);
    if (vasprintf(&path, fmt, ap) < 0) {
        path = NULL;
        ts->oom = 1;
    }
    va_end(ap);
    fill(ts, &r->cells[col], ts->doc, NULL, kind, path);
}

/* The same from the context document. */
static void fig_ctx(web_tables_t *ts, web_row_t *r, size_t col, web_cell_kind_t kind,
                    const char *path)
{
    if (!r)
        return;
    fill(ts, &r->cells[col], ts->ctx, ts->ctx_topic, kind, dup(ts, path));
}

/* A computed cell (from published cells only): number, shown. */
static void computed(web_tables_t *ts, web_row_t *r, size_t col, web_cell_kind_t kind,
                     double number, const char *shown)
{
    if (!r)
        return;
    web_cell_t *c = &r->cells[col];
    c->kind = kind;
    c->number = kind == WEB_CELL_TEXT ? 0 : number;
    set_shown(ts, c, shown);
}

static const json_t *at(const json_t *d, const char *path)
{
    return web_table_path(d, path);
}

/* ---- cohort and programme: the live documents -------------------------- */

static void t_funnel(web_tables_t *ts)
{
    const json_t *reached = at(ts->doc, "funnel_reached.participants.reached");
    if (!json_is_object(reached))
        return;
    static const char *const cols[] = {"People", "Share of the step before"};
    web_table_t *t =
        tab(ts, "funnel", "Selection: how many people reached each step",
            "Participants who reached each selection step (everyone counts at every step up to "
            "the furthest they reached)",
            "Step", 2, cols);
    for (size_t i = 0; i < NREACHED; i++) {
        web_row_t *r = row(ts, t, label(reached_stages[i]), reached_stages[i]);
        fig(ts, r, 0, WEB_CELL_COUNT, "funnel_reached.participants.reached.%s", reached_stages[i]);
        if (i > 0)
            fig(ts, r, 1, WEB_CELL_PERCENT, "funnel_reached.participants.conversion.%s",
                reached_stages[i]);
    }
    if (at(ts->doc, "funnel_reached.participants.overall_conversion")) {
        web_row_t *r = row(ts, t, "Share of applicants who took part", NULL);
        fig(ts, r, 1, WEB_CELL_PERCENT, "funnel_reached.participants.overall_conversion");
    }
}

static void t_funnel_agency(web_tables_t *ts)
{
    const json_t *ba = at(ts->doc, "funnel_reached.participants.by_agency");
    if (!json_is_object(ba) || json_object_size(ba) == 0)
        return;
    const char *cols[NREACHED];
    for (size_t i = 0; i < NREACHED; i++)
        cols[i] = label(reached_stages[i]);
    web_table_t *t =
        tab(ts, "funnel-agency", "Selection by agency",
            "Participants who reached each selection step, by agency", "Agency", NREACHED, cols);
    const char *ag;
    const json_t *v;
    json_object_foreach((json_t *)ba, ag, v)
    {
        web_row_t *r = row(ts, t, ag, ag);
        for (size_t i = 0; i < NREACHED; i++)
            fig(ts, r, i, WEB_CELL_COUNT, "funnel_reached.participants.by_agency.%s.%s", ag,
                reached_stages[i]);
    }
}

static void t_places(web_tables_t *ts)
{
    if (!json_is_object(at(ts->doc, "filled")) || !json_is_integer(at(ts->doc, "filled.vacant")))
        return;
    static const char *const cols[] = {"Number"};
    web_table_t *t = tab(ts, "places", "Places", "Places on the programme and how they are filled",
                         "Places", 1, cols);
    fig(ts, row(ts, t, "Places", "places"), 0, WEB_CELL_COUNT, "filled.places");
    fig(ts, row(ts, t, "Filled by participants", "participants"), 0, WEB_CELL_COUNT,
        "filled.participants");
    fig(ts, row(ts, t, "Mentors and coaches taking part", "mentors"), 0, WEB_CELL_COUNT,
        "filled.mentors");
    fig(ts, row(ts, t, "Places still free", "vacant"), 0, WEB_CELL_COUNT, "filled.vacant");
}

static void t_stage(web_tables_t *ts)
{
    if (!json_is_object(at(ts->doc, "funnel.participants.by_stage")))
        return;
    int m = json_is_object(at(ts->doc, "funnel.mentors.by_stage"));
    static const char *const cols[] = {"Participants", "Mentors and coaches"};
    web_table_t *t = tab(ts, "stage", "Where participants are now",
                         "People by the step they are at now", "Step", m ? 2 : 1, cols);
    for (size_t i = 0; i < NSTAGES; i++) {
        web_row_t *r = row(ts, t, label(all_stages[i]), all_stages[i]);
        fig(ts, r, 0, WEB_CELL_COUNT, "funnel.participants.by_stage.%s", all_stages[i]);
        if (m)
            fig(ts, r, 1, WEB_CELL_COUNT, "funnel.mentors.by_stage.%s", all_stages[i]);
    }
    web_row_t *r = row(ts, t, "Everyone", "total");
    fig(ts, r, 0, WEB_CELL_COUNT, "funnel.participants.total");
    if (m)
        fig(ts, r, 1, WEB_CELL_COUNT, "funnel.mentors.total");
}

static void t_completion(web_tables_t *ts)
{
    static const char *const grp[] = {"participants", "mentors"};
    static const char *const cols[] = {"Participants", "Mentors and coaches"};
    if (!json_is_object(at(ts->doc, "completion.participants")))
        return;
    size_t n = json_is_object(at(ts->doc, "completion.mentors")) ? 2 : 1;
    web_table_t *t =
        tab(ts, "completion", "Completion of the requirements",
            "People taking part or finished, and how much of the required time they have done",
            "Figure", n, cols);
    web_row_t *r[6];
    r[0] = row(ts, t, "Taking part or finished", "enrolled");
    r[1] = row(ts, t, "Met every requirement", "complete");
    r[2] = row(ts, t, "In progress, not at risk", "in_progress");
    r[3] = row(ts, t, "At risk", "at_risk");
    r[4] = row(ts, t, "Average share of the required time done", "mean_completion");
    r[5] = row(ts, t, "Required time for each person", "required_minutes");
    if (!t || ts->oom || t->nrows != 6)
        return;
    for (size_t i = 0; i < 6; i++) /* row() moves the rows: take them now */
        r[i] = &t->rows[i];
    for (size_t g = 0; g < n; g++) {
        char p[64];
        fig(ts, r[0], g, WEB_CELL_COUNT, "completion.%s.enrolled", grp[g]);
        fig(ts, r[1], g, WEB_CELL_COUNT, "completion.%s.complete", grp[g]);
        fig(ts, r[3], g, WEB_CELL_COUNT, "completion.%s.at_risk", grp[g]);
        fig(ts, r[4], g, WEB_CELL_PERCENT, "completion.%s.mean_completion", grp[g]);
        fig(ts, r[5], g, WEB_CELL_DAYS, "completion.%s.required_minutes", grp[g]);
        snprintf(p, sizeof p, "completion.%s", grp[g]);
        const json_t *c = at(ts->doc, p);
        json_t *e = json_object_get(c, "enrolled"), *k = json_object_get(c, "complete"),
               *a = json_object_get(c, "at_risk");
        if (json_is_integer(e) && json_is_integer(k) && json_is_integer(a)) {
            json_int_t v = json_integer_value(e) - json_integer_value(k) - json_integer_value(a);
            if (v < 0)
                v = 0;
            char b[32];
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, v);
            computed(ts, r[2], g, WEB_CELL_COUNT, (double)v, b);
        }
    }
    note(ts, t,
         "In progress, not at risk: taking part or finished, less those who met every "
         "requirement and those at risk. A day is 8 hours.");
}

/* The requirements of one group, from the programme document d (the
 * document or the context). */
static void t_requirements(web_tables_t *ts, const json_t *d, const char *source, const char *grp,
                           const char *id, const char *title)
{
    char p[96];
    snprintf(p, sizeof p, "requirements.%s", grp);
    const json_t *rq = at(d, p);
    if (!json_is_array(rq) || json_array_size(rq) == 0)
        return;
    static const char *const cols[] = {"Required", "Assessed"};
    web_table_t *t = tab(ts, id, title, title, "Requirement", 2, cols);
    size_t i;
    const json_t *c;
    json_array_foreach(rq, i, c)
    {
        const char *lab = json_string_value(json_object_get(c, "label"));
        const char *unit = json_string_value(json_object_get(c, "unit"));
        json_int_t count = json_integer_value(json_object_get(c, "count"));
        json_int_t each = json_integer_value(json_object_get(c, "minutes_each"));
        web_row_t *r = row(
            ts, t, lab && *lab ? lab : label(json_string_value(json_object_get(c, "kind"))), NULL);
        if (!r)
            return;
        char b[96], path[128];
        if (unit && strcmp(unit, "UNIT_SESSIONS") == 0) {
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT " session%s", count,
                     count == 1 ? "" : "s");
        } else if (unit && strcmp(unit, "UNIT_SUBMISSIONS") == 0) {
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT " submission%s", count,
                     count == 1 ? "" : "s");
        } else {
            char d1[32], d2[32];
            web_table_days((long long)(count * each), d1, sizeof d1);
            web_table_days((long long)each, d2, sizeof d2);
            if (count == 1)
                snprintf(b, sizeof b, "%s", d1);
            else
                snprintf(b, sizeof b, "%s (%" JSON_INTEGER_FORMAT " of %s)", d1, count, d2);
        }
        snprintf(path, sizeof path, "requirements.%s.%zu.count", grp, i);
        fill(ts, &r->cells[0], d, source, WEB_CELL_TEXT, dup(ts, path));
        set_shown(ts, &r->cells[0], b); /* the count in its unit, as text */
        snprintf(path, sizeof path, "requirements.%s.%zu.assessed", grp, i);
        if (json_object_get(c, "assessed"))
            fill(ts, &r->cells[1], d, source, WEB_CELL_YESNO, dup(ts, path));
        else
            computed(ts, r, 1, WEB_CELL_TEXT, 0, "No");
    }
    snprintf(p, sizeof p, "requirements.%s_minutes",
             strcmp(grp, "mentors") ? "participant" : "mentor");
    if (json_is_integer(at(d, p))) {
        web_row_t *r = row(ts, t, "Required time in all", NULL);
        if (r)
            fill(ts, &r->cells[0], d, source, WEB_CELL_DAYS, dup(ts, p));
    }
    note(ts, t, "A day is 8 hours. Sessions and submissions are counted, whatever their length.");
}

static void t_requirements_all(web_tables_t *ts)
{
    const json_t *d = ts->doc;
    const char *src = NULL;
    if (!json_is_object(at(d, "requirements"))) {
        d = ts->ctx;
        src = ts->ctx_topic;
        if (!json_is_object(at(d, "requirements")))
            return;
    }
    t_requirements(ts, d, src, "participants", "requirements", "What each participant must do");
    t_requirements(ts, d, src, "mentors", "requirements-mentors",
                   "What each mentor or coach must do");
}

static void t_award(web_tables_t *ts)
{
    if (!json_is_object(at(ts->doc, "award")))
        return;
    static const char *const cols[] = {"Participants"};
    static const char *const rows[][2] = {
        {"enrolled", "Taking part or finished"},
        {"on_track", "On track (no award yet, nothing failed, not at risk)"},
        {"passed_all", "Passed every assessed requirement"},
        {"referred", "Waiting to pass a piece of work sent back"},
        {"failed", "Failed a piece of assessed work"},
        {"awarded", "Given the award"},
    };
    web_table_t *t = tab(ts, "award", "The award", "Participants' progress towards the award",
                         "Figure", 1, cols);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        fig(ts, row(ts, t, rows[i][1], rows[i][0]), 0, WEB_CELL_COUNT, "award.%s", rows[i][0]);
    fig(ts, row(ts, t, "Assessed requirements", "assessed_components"), 0, WEB_CELL_COUNT,
        "award.assessed_components");
}

static void t_mentoring(web_tables_t *ts)
{
    if (!json_is_object(at(ts->doc, "mentoring")))
        return;
    static const char *const cols[] = {"Number"};
    web_table_t *t =
        tab(ts, "mentoring", "Mentoring", "Mentors and the people they support", "Figure", 1, cols);
    fig(ts, row(ts, t, "Mentor and participant pairs", "assignments"), 0, WEB_CELL_COUNT,
        "mentoring.assignments");
    fig(ts, row(ts, t, "Participants with a mentor", "mentored"), 0, WEB_CELL_COUNT,
        "mentoring.mentored");
}

static void t_progression(web_tables_t *ts)
{
    if (!json_is_object(at(ts->doc, "progression.during")))
        return;
    int after = json_is_object(at(ts->doc, "progression.after"));
    static const char *const cols[] = {"During the programme", "After it"};
    web_table_t *t = tab(ts, "progression", "Progression",
                         "Promotions and moves of participants, during the programme and in the "
                         "12 months after it",
                         "Kind", after ? 2 : 1, cols);
    for (size_t i = 0; i < NKINDS; i++) {
        web_row_t *r = row(ts, t, label(kinds[i]), kinds[i]);
        fig(ts, r, 0, WEB_CELL_COUNT, "progression.during.%s", kinds[i]);
        if (after)
            fig(ts, r, 1, WEB_CELL_COUNT, "progression.after.%s", kinds[i]);
    }
    if (json_is_integer(at(ts->doc, "progression.promoted_substantively"))) {
        web_row_t *r = row(ts, t, "Participants permanently promoted since they started",
                           "promoted_substantively");
        fig(ts, r, 0, WEB_CELL_COUNT, "progression.promoted_substantively");
    }
    const json_t *md = at(ts->doc, "progression.median_days_to_substantive_promotion");
    if (md) {
        web_row_t *r = row(ts, t, "Typical calendar days from starting to a permanent promotion",
                           "median_days_to_substantive_promotion");
        fig(ts, r, 0, WEB_CELL_COUNT, "progression.median_days_to_substantive_promotion");
    }
    note(ts, t, "Typical: the median, the middle value.");
}

static void t_after_completion(web_tables_t *ts)
{
    const char *b = "progression.after_completion";
    if (!json_is_object(at(ts->doc, b)) ||
        !json_is_integer(at(ts->doc, "progression.after_completion.completed")))
        return;
    static const char *const cols[] = {"People", "Share of those who finished"};
    static const char *const rows[][3] = {
        {"completed", NULL, "Finished the programme"},
        {"promoted_during", "promotion_rate_during", "Permanently promoted during the programme"},
        {"promoted_within_6_months", "promotion_rate_6_months",
         "Permanently promoted within 6 months after"},
        {"promoted_within_12_months", "promotion_rate_12_months",
         "Permanently promoted within 12 months after"},
        {"promoted_within_24_months", "promotion_rate_24_months",
         "Permanently promoted within 24 months after"},
    };
    web_table_t *t = tab(ts, "after-completion", "Promotion of those who finished",
                         "Participants who finished the programme and their permanent promotions",
                         "Figure", 2, cols);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        web_row_t *r = row(ts, t, rows[i][2], rows[i][0]);
        fig(ts, r, 0, WEB_CELL_COUNT, "%s.%s", b, rows[i][0]);
        if (rows[i][1])
            fig(ts, r, 1, WEB_CELL_PERCENT, "%s.%s", b, rows[i][1]);
    }
    if (at(ts->doc,
           "progression.after_completion.median_days_after_end_to_substantive_promotion")) {
        web_row_t *r = row(ts, t, "Typical calendar days from the end to a permanent promotion",
                           "median_days_after_end_to_substantive_promotion");
        fig(ts, r, 0, WEB_CELL_COUNT, "%s.median_days_after_end_to_substantive_promotion", b);
    }
}

static void t_retention(web_tables_t *ts)
{
    if (!json_is_integer(at(ts->doc, "retention.enrolled")))
        return;
    static const char *const cols[] = {"People", "Share still with their agency"};
    static const char *const rows[][3] = {
        {"enrolled", NULL, "Took part"},
        {"left_before_start", NULL, "Left their agency before the start"},
        {"left_during", NULL, "Left their agency during the programme"},
        {"retained_at_end", "retention_at_end", "Still with their agency at the end"},
        {"left_within_6_months_after", "retention_6_months_after",
         "Left within 6 months after the end"},
        {"left_within_12_months_after", "retention_12_months_after",
         "Left within 12 months after the end"},
        {"left_within_24_months_after", "retention_24_months_after",
         "Left within 24 months after the end"},
    };
    web_table_t *t =
        tab(ts, "retention", "Retention", "Participants who stayed with their agency, and who left",
            "Figure", 2, cols);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        web_row_t *r = row(ts, t, rows[i][2], rows[i][0]);
        fig(ts, r, 0, WEB_CELL_COUNT, "retention.%s", rows[i][0]);
        if (rows[i][1])
            fig(ts, r, 1, WEB_CELL_PERCENT, "retention.%s", rows[i][1]);
    }
}

static void t_plans(web_tables_t *ts)
{
    if (!json_is_object(at(ts->doc, "plans")))
        return;
    static const char *const cols[] = {"Number"};
    web_table_t *t = tab(ts, "plans", "Development plans and reviews",
                         "Participants' development plans and their reviews", "Figure", 1, cols);
    fig(ts, row(ts, t, "Participants with an agreed plan", "with_plan"), 0, WEB_CELL_COUNT,
        "plans.with_plan");
    fig(ts, row(ts, t, "Reviews held", "reviews"), 0, WEB_CELL_COUNT, "plans.reviews");
    fig(ts, row(ts, t, "Participants whose last review raised concerns", "concerns"), 0,
        WEB_CELL_COUNT, "plans.concerns");
    fig(ts, row(ts, t, "Participants with a review overdue", "overdue_reviews"), 0, WEB_CELL_COUNT,
        "plans.overdue_reviews");
    const json_t *bd = at(ts->doc, "plans.board_decisions.by_decision");
    const json_t *br = at(ts->doc, "plans.board_decisions.by_reason");
    if (!json_is_object(bd))
        return;
    static const char *const c2[] = {"Decisions"};
    t = tab(ts, "board-decisions", "The board's decisions",
            "Decisions the board recorded about participants, by decision and by reason",
            "Decision or reason", 1, c2);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)bd, k, v) fig(ts, row(ts, t, label(k), k), 0, WEB_CELL_COUNT,
                                                "plans.board_decisions.by_decision.%s", k);
    if (json_is_object(br))
        json_object_foreach((json_t *)br, k, v)
        {
            char *l = dupf(ts, "Reason: %s", label(k));
            fig(ts, row(ts, t, l ? l : k, k), 0, WEB_CELL_COUNT,
                "plans.board_decisions.by_reason.%s", k);
            free(l);
        }
}

/* ---- history ---------------------------------------------------------- */

/* "2009-04" as a person reads it, "Apr 2009" (the text itself if it is
 * not a month). */
static const char *month_label(const char *ym, char *out, size_t len)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    unsigned y, m;
    char end;
    if (!ym || sscanf(ym, "%4u-%2u%c", &y, &m, &end) != 2 || m < 1 || m > 12)
        return ym ? ym : "";
    snprintf(out, len, "%s %u", mon[m - 1], y);
    return out;
}

static void t_history(web_tables_t *ts)
{
    char ml[32];
    const json_t *m = at(ts->doc, "history.monthly");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return;
    size_t i;
    const json_t *e;
    const char *cols[NREACHED];
    for (size_t k = 0; k < NREACHED; k++)
        cols[k] = label(reached_stages[k]);
    web_table_t *t = tab(ts, "history-funnel", "Selection month by month",
                         "People who reached each selection step, at the end of each month",
                         "Month", NREACHED, cols);
    json_array_foreach(m, i, e)
    {
        const char *ym = json_string_value(json_object_get(e, "month"));
        web_row_t *r = row(ts, t, month_label(ym, ml, sizeof ml), ym);
        for (size_t k = 0; k < NREACHED; k++)
            fig(ts, r, k, WEB_CELL_COUNT, "history.monthly.%zu.funnel_reached.%s", i,
                reached_stages[k]);
    }
    static const char *const cc[] = {"Taking part or finished", "Met every requirement",
                                     "Average share of the required time done", "At risk"};
    t = tab(ts, "history-completion", "Completion month by month",
            "Participants' completion at the end of each month", "Month", 4, cc);
    json_array_foreach(m, i, e)
    {
        const char *ym = json_string_value(json_object_get(e, "month"));
        web_row_t *r = row(ts, t, month_label(ym, ml, sizeof ml), ym);
        fig(ts, r, 0, WEB_CELL_COUNT, "history.monthly.%zu.completion.enrolled", i);
        fig(ts, r, 1, WEB_CELL_COUNT, "history.monthly.%zu.completion.complete", i);
        fig(ts, r, 2, WEB_CELL_PERCENT, "history.monthly.%zu.completion.mean_completion", i);
        fig(ts, r, 3, WEB_CELL_COUNT, "history.monthly.%zu.completion.at_risk", i);
    }
    static const char *const pc[] = {"Promotions and moves during the programme",
                                     "Promotions and moves after it",
                                     "Participants permanently promoted"};
    t = tab(ts, "history-progression", "Progression month by month",
            "Promotions and moves recorded by the end of each month", "Month", 3, pc);
    static const char *const pk[] = {"during", "after", "promoted_substantively"};
    json_array_foreach(m, i, e)
    {
        const char *ym = json_string_value(json_object_get(e, "month"));
        web_row_t *r = row(ts, t, month_label(ym, ml, sizeof ml), ym);
        for (size_t k = 0; k < 3 && r; k++) {
            const json_t *v = json_object_get(json_object_get(e, "progression"), pk[k]);
            if (json_is_object(v)) { /* by kind: their sum */
                json_int_t sum = 0;
                const char *kk;
                const json_t *x;
                json_object_foreach((json_t *)v, kk, x) sum += json_integer_value(x);
                char b[32];
                snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, sum);
                computed(ts, r, k, WEB_CELL_COUNT, (double)sum, b);
            } else
                fig(ts, r, k, WEB_CELL_COUNT, "history.monthly.%zu.progression.%s", i, pk[k]);
        }
    }
}

/* ---- agency ----------------------------------------------------------- */

/* Why person p is at risk, in words, from the document's figures
 * (docs/status.md "At risk"): a failed piece, a session or submission
 * requirement not met, the required time attended against the time held so
 * far; "" when not at risk. */
static char *risk_reason(web_tables_t *ts, const json_t *p)
{
    if (!json_is_true(json_object_get(p, "at_risk")))
        return dup(ts, "");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        ts->oom = 1;
        return NULL;
    }
    int n = 0;
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(p, "assessments"), i, a)
    {
        const char *o = json_string_value(json_object_get(a, "outcome"));
        if (o && strcmp(o, "ASSESSMENT_FAIL") == 0) {
            fprintf(f, "%sFailed assessed work: %s", n++ ? "; " : "",
                    label(json_string_value(json_object_get(a, "component"))));
            const char *piece = json_string_value(json_object_get(a, "piece"));
            if (piece)
                fprintf(f, " (%s)", piece);
        }
    }
    const char *k;
    const json_t *c;
    json_object_foreach(json_object_get(p, "components"), k, c)
    {
        const char *unit = json_string_value(json_object_get(c, "unit"));
        if (!unit || strcmp(unit, "UNIT_MINUTES") == 0 || json_is_true(json_object_get(c, "met")))
            continue;
        int sub = strcmp(unit, "UNIT_SUBMISSIONS") == 0;
        fprintf(f, "%s%s: %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " %s", n++ ? "; " : "",
                label(k), json_integer_value(json_object_get(c, "credited")),
                json_integer_value(json_object_get(c, "required")),
                sub ? "submissions done" : "sessions attended");
    }
    /* The minutes rule: below the default ratio (0.75) of what the sessions
     * held so far call for, or the only rule left when no other applies
     * (the document does not carry the daemon's configured ratio). */
    json_t *cr = json_object_get(p, "credited_minutes"),
           *ex = json_object_get(p, "expected_minutes");
    if (json_is_integer(cr) && json_is_integer(ex) && json_integer_value(ex) > 0 &&
        json_integer_value(cr) < json_integer_value(ex) &&
        (n == 0 || (double)json_integer_value(cr) < 0.75 * (double)json_integer_value(ex))) {
        char d1[32], d2[32];
        web_table_days(json_integer_value(cr), d1, sizeof d1);
        web_table_days(json_integer_value(ex), d2, sizeof d2);
        fprintf(f, "%sAttended %s of the %s held so far", n++ ? "; " : "", d1, d2);
    }
    if (n == 0)
        fputs("Behind with the sessions held so far", f);
    if (fclose(f) != 0) {
        free(out);
        ts->oom = 1;
        return NULL;
    }
    return out;
}

static void t_people(web_tables_t *ts)
{
    const json_t *pp = at(ts->doc, "people");
    if (!json_is_array(pp))
        return;
    static const char *const cols[] = {
        "Role",      "Step",          "Share of the required time done",
        "Time done", "Time required", "Met every requirement",
        "At risk",   "Why at risk"};
    web_table_t *t = tab(ts, "people", "Your agency's people in this cohort",
                         "One row a person, by pseudonym", "Pseudonym", 8, cols);
    size_t i;
    const json_t *p;
    json_array_foreach(pp, i, p)
    {
        const char *ref = json_string_value(json_object_get(p, "ref"));
        web_row_t *r = row(ts, t, ref, ref);
        fig(ts, r, 0, WEB_CELL_TEXT, "people.%zu.role", i);
        fig(ts, r, 1, WEB_CELL_TEXT, "people.%zu.stage", i);
        fig(ts, r, 2, WEB_CELL_PERCENT, "people.%zu.completion", i);
        fig(ts, r, 3, WEB_CELL_DAYS, "people.%zu.credited_minutes", i);
        fig(ts, r, 4, WEB_CELL_DAYS, "people.%zu.required_minutes", i);
        fig(ts, r, 5, WEB_CELL_YESNO, "people.%zu.requirements_met", i);
        fig(ts, r, 6, WEB_CELL_YESNO, "people.%zu.at_risk", i);
        char *why = risk_reason(ts, p);
        if (why)
            computed(ts, r, 7, WEB_CELL_TEXT, 0, why);
        free(why);
    }
    if (t && json_array_size(pp) == 0)
        note(ts, t, "Nobody from your agency yet.");
    else
        note(ts, t,
             "At risk: taking part and behind with the sessions held so far, or failed a "
             "piece of assessed work. A day is 8 hours.");
}

/* ---- releases --------------------------------------------------------- */

static void hidden_note(web_tables_t *ts, web_table_t *t, const char *block)
{
    char p[128];
    snprintf(p, sizeof p, "%s.threshold", block);
    const json_t *k = at(ts->doc, p);
    if (!json_is_integer(k))
        k = at(ts->doc, "representation.threshold");
    char *s = dupf(ts,
                   "\"hidden\": a count of fewer than %" JSON_INTEGER_FORMAT
                   " people, or a count beside one, withheld so that no one can be "
                   "recognised (a hidden count may be 0).",
                   json_is_integer(k) ? json_integer_value(k) : (json_int_t)5);
    note(ts, t, s);
    free(s);
}

/* A table of one breakdown block: rows are the keys, one column. */
static void t_breakdown(web_tables_t *ts, const char *id, const char *title, const char *caption,
                        const char *path, const char *const *keys, size_t n, const char *total_path,
                        const char *total_label)
{
    if (!json_is_object(at(ts->doc, path)))
        return;
    static const char *const cols[] = {"People"};
    web_table_t *t = tab(ts, id, title, caption, "Group", 1, cols);
    for (size_t i = 0; i < n; i++)
        fig(ts, row(ts, t, label(keys[i]), keys[i]), 0, WEB_CELL_COUNT, "%s.%s", path, keys[i]);
    if (total_path)
        fig(ts, row(ts, t, total_label, "total"), 0, WEB_CELL_COUNT, "%s", total_path);
    hidden_note(ts, t, "representation");
}

/* A block that may be below the threshold or withheld: a table with only a
 * note saying so. Returns 1 if it was. */
static int not_published(web_tables_t *ts, const char *block, const char *id, const char *title)
{
    char p[128];
    const json_t *b = at(ts->doc, block);
    if (!json_is_object(b))
        return 0;
    int below = json_is_true(json_object_get(b, "below_threshold"));
    int wh = json_is_true(json_object_get(b, "withheld"));
    if (!below && !wh)
        return 0;
    static const char *const cols[] = {"People"};
    web_table_t *t = tab(ts, id, title, title, "Group", 1, cols);
    snprintf(p, sizeof p, "%s.threshold", block);
    const json_t *k = at(ts->doc, p);
    if (!json_is_integer(k))
        k = at(ts->doc, "representation.threshold");
    char *s = below ? dupf(ts,
                           "Not published: fewer than %" JSON_INTEGER_FORMAT
                           " people are counted, so there is no breakdown.",
                           json_is_integer(k) ? json_integer_value(k) : (json_int_t)5)
                    : dupf(ts, "Not published in this release: it could not be shown without "
                               "risking that someone is recognised.");
    note(ts, t, s);
    free(s);
    return 1;
}

static void t_representation(web_tables_t *ts)
{
    const json_t *rep = at(ts->doc, "representation");
    if (!json_is_object(rep))
        return;
    static const char *const cols[] = {"People"};
    web_table_t *t = tab(ts, "representation", "Who is on the programme",
                         "Participants taking part or finished", "Group", 1, cols);
    fig(ts, row(ts, t, "All participants taking part or finished", "total"), 0, WEB_CELL_COUNT,
        "representation.total");
    if (json_object_get(rep, "bme"))
        fig(ts, row(ts, t, label("AIM_BME"), "bme"), 0, WEB_CELL_COUNT, "representation.bme");
    if (json_is_true(json_object_get(rep, "below_threshold"))) {
        const json_t *k = json_object_get(rep, "threshold");
        char *s = dupf(
            ts, "Fewer than %" JSON_INTEGER_FORMAT " people are counted, so there is no breakdown.",
            json_is_integer(k) ? json_integer_value(k) : (json_int_t)5);
        note(ts, t, s);
        free(s);
        return;
    }
    hidden_note(ts, t, "representation");
    static const char *const genders[] = {"FEMALE", "MALE", "GENDER_OTHER", "GENDER_NOT_STATED"};
    static const char *const dis[] = {"DISABLED", "NOT_DISABLED", "DISABILITY_NOT_STATED"};
    t_breakdown(ts, "ethnic-group", "By ethnic group", "Participants by ethnic group",
                "representation.ethnic_group", groups, NGROUPS, NULL, NULL);
    t_breakdown(ts, "gender", "By gender", "Participants by gender", "representation.gender",
                genders, 4, NULL, NULL);
    t_breakdown(ts, "disability", "By disability", "Participants by disability",
                "representation.disability", dis, 3, NULL, NULL);
}

static void t_aims(web_tables_t *ts)
{
    const json_t *aims = at(ts->doc, "representation.aims");
    if (!json_is_array(aims) || json_array_size(aims) == 0)
        return;
    int wf = ts->ctx && json_is_object(at(ts->ctx, "workforce"));
    static const char *const cols[] = {"At least", "Now", "Met", "Workforce"};
    web_table_t *t = tab(ts, "aims", "Against the programme's aims",
                         wf ? "Positive-action aims: the share of participants, and of the "
                              "agencies' workforce"
                            : "Positive-action aims: the share of participants",
                         "Aim", wf ? 4 : 3, cols);
    size_t i;
    const json_t *a;
    json_array_foreach(aims, i, a)
    {
        const char *g = json_string_value(json_object_get(a, "group"));
        web_row_t *r = row(ts, t, label(g), g);
        fig(ts, r, 0, WEB_CELL_PERCENT_INT, "representation.aims.%zu.min_percent", i);
        fig(ts, r, 1, WEB_CELL_PERCENT_INT, "representation.aims.%zu.actual_percent", i);
        fig(ts, r, 2, WEB_CELL_YESNO, "representation.aims.%zu.met", i);
        if (wf && g && r) {
            char p[128];
            snprintf(p, sizeof p, "workforce.overall.all.%s.percent", g);
            fig_ctx(ts, r, 3, WEB_CELL_PERCENT, p);
        }
    }
    note(ts, t,
         wf ? "\"hidden\": the share could give a small count away, so it is withheld. "
              "Workforce: the share of that group in the workforce of the agencies that "
              "published a baseline."
            : "\"hidden\": the share could give a small count away, so it is withheld.");
}

/* The funnel by ethnic group (a release's funnel_reached). */
static void t_funnel_groups(web_tables_t *ts)
{
    const char *b = "funnel_reached";
    if (not_published(ts, b, "funnel-ethnic-group", "Selection by ethnic group"))
        return;
    if (!json_is_object(at(ts->doc, "funnel_reached.by_ethnic_group")))
        return;
    const char *cols[1 + NGROUPS] = {"Everyone"};
    for (size_t g = 0; g < NGROUPS; g++)
        cols[1 + g] = label(groups[g]);
    web_table_t *t = tab(ts, "funnel-ethnic-group", "Selection by ethnic group",
                         "Participants who reached each selection step, by ethnic group", "Step",
                         1 + NGROUPS, cols);
    for (size_t s = 0; s < NREACHED; s++) {
        web_row_t *r = row(ts, t, label(reached_stages[s]), reached_stages[s]);
        fig(ts, r, 0, WEB_CELL_COUNT, "%s.by_ethnic_group.%s.total", b, reached_stages[s]);
        for (size_t g = 0; g < NGROUPS; g++)
            fig(ts, r, 1 + g, WEB_CELL_COUNT, "%s.by_ethnic_group.%s.ethnic_group.%s", b,
                reached_stages[s], groups[g]);
    }
    hidden_note(ts, t, b);
}

/* A group block with total and ethnic_group (progressed, leavers). */
static void t_group_block(web_tables_t *ts, const char *block, const char *id, const char *title,
                          const char *caption)
{
    if (not_published(ts, block, id, title))
        return;
    char p[128];
    snprintf(p, sizeof p, "%s.ethnic_group", block);
    if (!json_is_object(at(ts->doc, p)))
        return;
    static const char *const cols[] = {"People"};
    web_table_t *t = tab(ts, id, title, caption, "Group", 1, cols);
    fig(ts, row(ts, t, "Everyone", "total"), 0, WEB_CELL_COUNT, "%s.total", block);
    for (size_t g = 0; g < NGROUPS; g++)
        fig(ts, row(ts, t, label(groups[g]), groups[g]), 0, WEB_CELL_COUNT, "%s.%s", p, groups[g]);
    hidden_note(ts, t, block);
}

/* A chained table (retention.retained, progression.after_completion in a
 * release): counts and rates by stage and group. */
static void t_chain(web_tables_t *ts, const char *block, const char *id, const char *title,
                    const char *caption, const char *const *stages, size_t nst)
{
    char idr[64], p[160];
    if (not_published(ts, block, id, title))
        return;
    snprintf(p, sizeof p, "%s.by_ethnic_group", block);
    const json_t *by = at(ts->doc, p);
    if (!json_is_object(by))
        return;
    const char *cols[1 + NGROUPS] = {"Everyone"};
    for (size_t g = 0; g < NGROUPS; g++)
        cols[1 + g] = label(groups[g]);
    web_table_t *t = tab(ts, id, title, caption, "Stage", 1 + NGROUPS, cols);
    for (size_t s = 0; s < nst; s++) {
        if (!json_object_get(by, stages[s]))
            continue;
        web_row_t *r = row(ts, t, label(stages[s]), stages[s]);
        fig(ts, r, 0, WEB_CELL_COUNT, "%s.%s.total", p, stages[s]);
        for (size_t g = 0; g < NGROUPS; g++)
            fig(ts, r, 1 + g, WEB_CELL_COUNT, "%s.%s.ethnic_group.%s", p, stages[s], groups[g]);
    }
    hidden_note(ts, t, block);
    snprintf(idr, sizeof idr, "%s-rates", id);
    char *tt = dupf(ts, "%s: shares", title);
    t = tab(ts, idr, tt ? tt : title, caption, "Stage", 1 + NGROUPS, cols);
    free(tt);
    for (size_t s = 1; s < nst; s++) {
        if (!json_object_get(by, stages[s]))
            continue;
        web_row_t *r = row(ts, t, label(stages[s]), stages[s]);
        fig(ts, r, 0, WEB_CELL_PERCENT, "%s.%s.rate", p, stages[s]);
        for (size_t g = 0; g < NGROUPS; g++)
            fig(ts, r, 1 + g, WEB_CELL_PERCENT, "%s.%s.rate_by_ethnic_group.%s", p, stages[s],
                groups[g]);
    }
    note(ts, t,
         "Each share is of the first stage's people of the same group; \"hidden\" where either "
         "count is hidden.");
}

static void t_release_counts(web_tables_t *ts)
{
    if (!json_is_integer(at(ts->doc, "filled.participants")))
        return;
    static const char *const cols[] = {"People"};
    web_table_t *t = tab(ts, "release-counts", "Participants in this release",
                         "Participants counted in this release", "Figure", 1, cols);
    fig(ts, row(ts, t, "Taking part or finished", "participants"), 0, WEB_CELL_COUNT,
        "filled.participants");
    if (at(ts->doc, "funnel.participants.total"))
        fig(ts, row(ts, t, "Everyone who applied", "total"), 0, WEB_CELL_COUNT,
            "funnel.participants.total");
    if (at(ts->doc, "funnel.participants.by_stage.WITHDRAWN"))
        fig(ts, row(ts, t, label("WITHDRAWN"), "WITHDRAWN"), 0, WEB_CELL_COUNT,
            "funnel.participants.by_stage.WITHDRAWN");
    if (at(ts->doc, "funnel.participants.by_stage.REMOVED_BY_BOARD"))
        fig(ts, row(ts, t, label("REMOVED_BY_BOARD"), "REMOVED_BY_BOARD"), 0, WEB_CELL_COUNT,
            "funnel.participants.by_stage.REMOVED_BY_BOARD");
}

static void release_tables(web_tables_t *ts)
{
    static const char *const ret[] = {"ENROLLED", "RETAINED_AT_END", "RETAINED_6_MONTHS_AFTER",
                                      "RETAINED_12_MONTHS_AFTER", "RETAINED_24_MONTHS_AFTER"};
    static const char *const prom[] = {"COMPLETED", "PROMOTED_DURING", "PROMOTED_WITHIN_6_MONTHS",
                                       "PROMOTED_WITHIN_12_MONTHS", "PROMOTED_WITHIN_24_MONTHS"};
    t_release_counts(ts);
    t_representation(ts);
    t_aims(ts);
    t_funnel_groups(ts);
    t_group_block(ts, "progression.progressed", "progressed", "Progression by ethnic group",
                  "Participants with at least one promotion or move, by ethnic group");
    t_group_block(ts, "retention.left_by_ethnic_group", "leavers", "Leavers by ethnic group",
                  "Participants who left their agency by 12 months after the end, by ethnic "
                  "group");
    t_chain(ts, "retention.retained", "retained", "Retention by ethnic group",
            "Participants still with their agency, by ethnic group", ret, 5);
    t_chain(ts, "progression.after_completion", "promoted", "Promotion by ethnic group",
            "Participants who finished and were permanently promoted, by ethnic group", prom, 5);
}

/* ---- the set ---------------------------------------------------------- */

web_tables_t *web_tables_new(const char *topic, const json_t *doc, const json_t *context)
{
    web_tables_t *ts = calloc(1, sizeof *ts);
    if (!ts)
        return NULL;
    ts->doc = doc;
    ts->ctx = context;
    ts->release = topic && strncmp(topic, "release/", 8) == 0;
    if (context) {
        const char *p = json_string_value(json_object_get(context, "programme"));
        snprintf(ts->ctx_topic, sizeof ts->ctx_topic, "programme/%s", p ? p : "");
    }
    if (!topic || !json_is_object(doc))
        return ts;
    if (strncmp(topic, "agency/", 7) == 0)
        t_people(ts);
    else if (ts->release)
        release_tables(ts);
    else if (strncmp(topic, "programme/", 10) == 0 || strncmp(topic, "cohort/", 7) == 0) {
        t_funnel(ts);
        t_places(ts);
        t_stage(ts);
        t_completion(ts);
        t_requirements_all(ts);
        t_award(ts);
        t_progression(ts);
        t_after_completion(ts);
        t_retention(ts);
        t_mentoring(ts);
        t_plans(ts);
        t_funnel_agency(ts);
    }
    t_history(ts);
    if (ts->oom)
        web_tables_destroy(&ts);
    return ts;
}

void web_tables_destroy(web_tables_t **self_p)
{
    web_tables_t *ts = self_p ? *self_p : NULL;
    if (!ts)
        return;
    *self_p = NULL;
    for (size_t i = 0; i < ts->n; i++) {
        web_table_t *t = &ts->t[i];
        for (size_t r = 0; r < t->nrows; r++) {
            for (size_t c = 0; t->rows[r].cells && c < t->ncols; c++) {
                free(t->rows[r].cells[c].path);
                free(t->rows[r].cells[c].shown);
            }
            free(t->rows[r].cells);
            free(t->rows[r].label);
        }
        free(t->rows);
        for (size_t c = 0; c < t->ncols; c++)
            free(t->cols[c]);
        free(t->id);
        free(t->title);
        free(t->caption);
        free(t->row_heading);
        free(t->note);
    }
    free(ts->t);
    free(ts);
}

size_t web_tables_count(const web_tables_t *self)
{
    return self ? self->n : 0;
}

const web_table_t *web_tables_get(const web_tables_t *self, size_t i)
{
    return self && i < self->n ? &self->t[i] : NULL;
}

const web_table_t *web_tables_find(const web_tables_t *self, const char *id)
{
    for (size_t i = 0; self && id && i < self->n; i++)
        if (strcmp(self->t[i].id, id) == 0)
            return &self->t[i];
    return NULL;
}

/* ---- HTML ------------------------------------------------------------- */

void web_table_html(FILE *f, const web_table_t *t)
{
    if (!t)
        return;
    if (t->nrows) {
        fputs("<table", f);
        if (!strcmp(t->id, "people"))
            fputs(" class=\"people\"", f);
        fputs(">\n<caption>", f);
        web_html_esc(f, t->caption);
        fputs("</caption>\n<thead><tr><th scope=\"col\">", f);
        web_html_esc(f, t->row_heading);
        fputs("</th>", f);
        for (size_t c = 0; c < t->ncols; c++) {
            fputs("<th scope=\"col\">", f);
            web_html_esc(f, t->cols[c]);
            fputs("</th>", f);
        }
        fputs("</tr></thead>\n<tbody>\n", f);
        for (size_t r = 0; r < t->nrows; r++) {
            const web_row_t *row_ = &t->rows[r];
            if (!strcmp(t->id, "people")) {
                fputs("<tr data-ref=\"", f);
                web_html_esc(f, row_->key);
                fputs("\"><th scope=\"row\" class=\"ref\">", f);
            } else
                fputs("<tr><th scope=\"row\">", f);
            web_html_esc(f, row_->label);
            fputs("</th>", f);
            for (size_t c = 0; c < t->ncols; c++) {
                const web_cell_t *cl = &row_->cells[c];
                int num = cl->kind != WEB_CELL_TEXT && cl->kind != WEB_CELL_YESNO &&
                          cl->kind != WEB_CELL_HIDDEN;
                fputs("<td", f);
                if (num)
                    fputs(" class=\"num\"", f);
                else if (cl->kind == WEB_CELL_HIDDEN)
                    fputs(" class=\"hidden-cell\"", f);
                if (cl->path) {
                    char *raw =
                        cl->value ? json_dumps(cl->value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                    fputs(cl->source ? " data-source=\"" : "", f);
                    if (cl->source) {
                        web_html_esc(f, cl->source);
                        fputs("\"", f);
                    }
                    fputs(" data-figure=\"", f);
                    web_html_esc(f, cl->path);
                    fputs("\" data-value=\"", f);
                    web_html_esc(f, raw ? raw : "null");
                    fputs("\"", f);
                    free(raw);
                }
                fputs(">", f);
                web_html_esc(f, cl->shown);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</tbody>\n</table>\n", f);
    }
    if (t->note) {
        fputs("<p class=\"note\">", f);
        web_html_esc(f, t->note);
        fputs("</p>\n", f);
    }
}
