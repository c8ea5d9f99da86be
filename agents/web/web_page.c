/* web_page.c: cohort-web's HTML pages (see web_page.h). */
#include "web_page.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *label;
} labels[] = {
    /* enrolment stages */
    {"APPLIED", "Applied"},
    {"SHORTLISTED", "Shortlisted"},
    {"INTERVIEWED", "Interviewed"},
    {"LINE_MANAGER_SUPPORTED", "Supported by their line manager"},
    {"OFFERED", "Offered a place"},
    {"ENROLLED", "Taking part"},
    {"COMPLETED", "Finished the programme"},
    {"DECLINED", "Declined the place"},
    {"NOT_SELECTED", "Not selected"},
    {"WITHDRAWN", "Withdrew"},
    {"REMOVED_BY_BOARD", "Removed by the board"},
    /* roles on the programme */
    {"PARTICIPANT", "Participant"},
    {"MENTOR", "Mentor"},
    {"COACH", "Coach"},
    /* promotions and moves */
    {"SUBSTANTIVE_PROMOTION", "Permanent promotion"},
    {"TEMPORARY_PROMOTION", "Temporary promotion"},
    {"ACTING_UP", "Acting up"},
    {"LATERAL_MOVE", "Sideways move"},
    {"SECONDMENT", "Secondment"},
    {"ATTACHMENT_MOVE", "Attachment"},
    /* ethnic groups, gender, disability, aims */
    {"WHITE", "White"},
    {"MIXED", "Mixed or multiple ethnic groups"},
    {"ASIAN", "Asian or Asian British"},
    {"BLACK", "Black or Black British"},
    {"CHINESE_OR_OTHER", "Chinese or another ethnic group"},
    {"NOT_STATED", "Not stated"},
    {"FEMALE", "Women"},
    {"MALE", "Men"},
    {"GENDER_OTHER", "Another gender"},
    {"GENDER_NOT_STATED", "Gender not stated"},
    {"DISABLED", "Disabled"},
    {"NOT_DISABLED", "Not disabled"},
    {"DISABILITY_NOT_STATED", "Disability not stated"},
    {"AIM_BME", "Black and minority ethnic people"},
    {"AIM_FEMALE", "Women"},
    {"AIM_DISABLED", "Disabled people"},
    {"AIM_LGB", "Lesbian, gay and bisexual people"},
    /* why a release was made */
    {"schedule", "the regular release"},
    {"starts_on", "the cohort's start"},
    {"ends_on", "the cohort's end"},
    {"progression_window_ends", "the end of the progression window"},
    {"erasure", "a participant's erasure"},
};

static const char *const stages[] = {
    "APPLIED",      "SHORTLISTED", "INTERVIEWED",     "LINE_MANAGER_SUPPORTED",
    "OFFERED",      "ENROLLED",    "COMPLETED",       "DECLINED",
    "NOT_SELECTED", "WITHDRAWN",   "REMOVED_BY_BOARD"};
#define NSTAGES (sizeof stages / sizeof stages[0])
#define NREACHED 6 /* APPLIED .. ENROLLED: the selection funnel */

const char *web_label(const char *name)
{
    for (size_t i = 0; name && i < sizeof labels / sizeof labels[0]; i++)
        if (strcmp(labels[i].name, name) == 0)
            return labels[i].label;
    return name;
}

void web_html_esc(FILE *f, const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
}

static void head(FILE *f, const char *title, const char *topic)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    web_html_esc(f, title);
    fputs(" - cohort-web</title>\n<link rel=\"stylesheet\" href=\"/static/cohort-web.css\">\n"
          "<script src=\"/static/cohort-web.js\" defer></script>\n</head>\n<body",
          f);
    if (topic) {
        fputs(" data-topic=\"", f);
        web_html_esc(f, topic);
        fputs("\"", f);
    }
    fputs(">\n<a class=\"skip\" href=\"#main\">Skip to the content</a>\n", f);
}

static const char *role_label(cohort_role_t r)
{
    switch (r) {
    case COHORT_ROLE_BOARD:
        return "programme board";
    case COHORT_ROLE_COORDINATOR:
        return "programme coordinator";
    case COHORT_ROLE_AGENCY_HR:
        return "HR team";
    case COHORT_ROLE_OPERATOR:
        return "operator";
    default:
        return cohort_role_name(r);
    }
}

static void banner(FILE *f, const web_session_t *s)
{
    fputs("<header class=\"site\">\n<nav aria-label=\"Main\"><ul>"
          "<li><a href=\"/\">Overview</a></li><li><a href=\"/glossary\">Glossary</a></li></ul>"
          "</nav>\n<p class=\"who\">Logged in as <strong>",
          f);
    web_html_esc(f, s->user.name);
    fprintf(f, "</strong> (%s", role_label(s->user.role));
    if (*s->user.agency) {
        fputs(", ", f);
        web_html_esc(f, s->user.agency);
    }
    fputs(")</p>\n<form method=\"post\" action=\"/logout\" class=\"logout\">"
          "<input type=\"hidden\" name=\"csrf\" value=\"",
          f);
    web_html_esc(f, s->csrf);
    fputs("\"><button type=\"submit\">Log out</button></form>\n</header>\n", f);
}

static void foot(FILE *f)
{
    fputs("<footer class=\"site\"><p>cohort-web: the programme's status as cohortd publishes "
          "it. Small numbers in breakdowns are suppressed as in the published "
          "documents.</p></footer>\n</body>\n</html>\n",
          f);
}

void web_page_login(FILE *f, const char *csrf, const char *msg)
{
    head(f, "Log in", NULL);
    fputs("<main id=\"main\" class=\"login\">\n<h1>Log in to the programme dashboard</h1>\n", f);
    if (msg) {
        fputs("<p class=\"error\" role=\"alert\">", f);
        web_html_esc(f, msg);
        fputs("</p>\n", f);
    }
    fputs("<form method=\"post\" action=\"/login\">\n<input type=\"hidden\" name=\"csrf\" "
          "value=\"",
          f);
    web_html_esc(f, csrf);
    fputs("\">\n<p><label for=\"user\">User name</label>\n"
          "<input id=\"user\" name=\"user\" type=\"text\" autocomplete=\"username\" required "
          "autofocus></p>\n<p><label for=\"password\">Password</label>\n"
          "<input id=\"password\" name=\"password\" type=\"password\" "
          "autocomplete=\"current-password\" required></p>\n"
          "<p><button type=\"submit\">Log in</button></p>\n</form>\n</main>\n",
          f);
    foot(f);
}

void web_page_home_begin(FILE *f, const web_session_t *s)
{
    head(f, "Overview", NULL);
    banner(f, s);
    fputs("<main id=\"main\">\n<h1>Overview</h1>\n<p class=\"state\">Live updates: "
          "<span id=\"live-state\">not connected</span></p>\n",
          f);
}

void web_page_home_group(FILE *f, const char *heading)
{
    fputs("<section>\n<h2>", f);
    web_html_esc(f, heading);
    fputs("</h2>\n<ul class=\"topics\">\n", f);
}

void web_page_home_topic(FILE *f, const char *topic, const json_t *doc)
{
    const char *name = json_string_value(json_object_get(doc, "programme_name"));
    if (!name)
        name = json_string_value(json_object_get(doc, "name"));
    fputs("<li><a href=\"/", f);
    web_html_esc(f, topic);
    fputs("\">", f);
    if (strncmp(topic, "programme/", 10) == 0) {
        web_html_esc(f, name ? name : topic + 10);
    } else if (strncmp(topic, "release/", 8) == 0) {
        const char *coh = json_string_value(json_object_get(doc, "cohort"));
        const char *on =
            json_string_value(json_object_get(json_object_get(doc, "release"), "released_on"));
        web_html_esc(f, name ? name : json_string_value(json_object_get(doc, "programme")));
        if (coh) {
            fputs(", cohort ", f);
            web_html_esc(f, coh);
        }
        if (on) {
            fputs(" (released on ", f);
            web_html_esc(f, on);
            fputs(")", f);
        }
    } else if (strncmp(topic, "cohort/", 7) == 0) {
        web_html_esc(f, name ? name : "");
        fputs(", cohort ", f);
        web_html_esc(f, json_string_value(json_object_get(doc, "cohort")));
    } else {
        web_html_esc(f, json_string_value(json_object_get(doc, "agency")));
        fputs(": ", f);
        web_html_esc(f, json_string_value(json_object_get(doc, "programme")));
        fputs(", cohort ", f);
        web_html_esc(f, json_string_value(json_object_get(doc, "cohort")));
    }
    fputs("</a></li>\n", f);
}

void web_page_home_group_end(FILE *f, size_t n)
{
    if (n == 0)
        fputs("<li>None yet.</li>\n", f);
    fputs("</ul>\n</section>\n", f);
}

void web_page_home_end(FILE *f, size_t total)
{
    if (total == 0)
        fputs("<p>There is nothing to show yet: no figures have arrived from the status "
              "service for your access.</p>\n",
              f);
    fputs("</main>\n", f);
    foot(f);
}

/* A cell with its figure: path and the document's value (JSON text). */
static void cell(FILE *f, const char *path, const json_t *v, const char *shown)
{
    char *raw = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    fputs(json_is_number(v) ? "<td class=\"num\" data-figure=\"" : "<td data-figure=\"", f);
    web_html_esc(f, path);
    fputs("\" data-value=\"", f);
    web_html_esc(f, raw ? raw : "null");
    fputs("\">", f);
    web_html_esc(f, shown ? shown : (raw && json_is_integer(v) ? raw : "not known"));
    fputs("</td>", f);
    free(raw);
}

static void cell_int(FILE *f, const char *path, const json_t *v)
{
    cell(f, path, v, json_is_integer(v) ? NULL : "not known");
}

static void cell_pct(FILE *f, const char *path, const json_t *v)
{
    char b[32];
    if (json_is_number(v)) {
        snprintf(b, sizeof b, "%.0f%%", json_number_value(v) * 100);
        cell(f, path, v, b);
    } else
        cell(f, path, v, "not known");
}

static void cell_hours(FILE *f, const char *path, const json_t *v)
{
    char b[48];
    if (json_is_integer(v)) {
        json_int_t m = json_integer_value(v);
        if (m % 60)
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT " hours %" JSON_INTEGER_FORMAT " min",
                     m / 60, m % 60);
        else
            snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT " hours", m / 60);
        cell(f, path, v, b);
    } else
        cell(f, path, v, "not known");
}

/* One row: a label and a figure at path (relative to root, dotted). */
static void row(FILE *f, const char *label, const char *path, const json_t *v,
                void (*cellfn)(FILE *, const char *, const json_t *))
{
    fputs("<tr><th scope=\"row\">", f);
    web_html_esc(f, label);
    fputs("</th>", f);
    cellfn(f, path, v);
    fputs("</tr>\n", f);
}

static const json_t *at(const json_t *doc, const char *a, const char *b, const char *c)
{
    const json_t *v = json_object_get(doc, a);
    if (b)
        v = json_object_get(v, b);
    if (c)
        v = json_object_get(v, c);
    return v;
}

/* The funnel: how many reached each selection stage (cumulative), as an SVG
 * bar chart with a text alternative, and the table behind it. */
static void funnel(FILE *f, const json_t *doc)
{
    const json_t *reached = at(doc, "funnel_reached", "participants", "reached");
    if (!json_is_object(reached))
        return;
    json_int_t max = 1;
    for (size_t i = 0; i < NREACHED; i++) {
        json_int_t v = json_integer_value(json_object_get(reached, stages[i]));
        if (v > max)
            max = v;
    }
    fputs("<section>\n<h2 id=\"funnel-h\">Selection: how many people reached each step</h2>\n", f);
    fputs("<figure>\n<svg class=\"chart\" role=\"img\" aria-labelledby=\"funnel-t funnel-d\" "
          "viewBox=\"0 0 640 ",
          f);
    fprintf(f,
            "%d\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"funnel-t\">Selection "
            "funnel</title>\n<desc id=\"funnel-d\">",
            (int)(NREACHED * 36 + 8));
    for (size_t i = 0; i < NREACHED; i++)
        fprintf(f, "%s: %" JSON_INTEGER_FORMAT "%s", web_label(stages[i]),
                json_integer_value(json_object_get(reached, stages[i])),
                i + 1 < NREACHED ? "; " : ".");
    fputs("</desc>\n", f);
    for (size_t i = 0; i < NREACHED; i++) {
        json_int_t v = json_integer_value(json_object_get(reached, stages[i]));
        int w = (int)(v * 360 / max);
        int y = (int)(i * 36 + 4);
        fprintf(f,
                "<text x=\"0\" y=\"%d\" class=\"label\">%s</text>"
                "<rect x=\"250\" y=\"%d\" width=\"%d\" height=\"26\" class=\"bar\"/>"
                "<text x=\"%d\" y=\"%d\" class=\"value\">%" JSON_INTEGER_FORMAT "</text>\n",
                y + 19, web_label(stages[i]), y, w, 256 + w, y + 19, v);
    }
    fputs("</svg>\n<figcaption>The same figures as the table below.</figcaption>\n</figure>\n", f);
    fputs("<table>\n<caption>People who reached each selection step (participants)</caption>\n"
          "<thead><tr><th scope=\"col\">Step</th><th scope=\"col\">People</th></tr></thead>\n"
          "<tbody>\n",
          f);
    for (size_t i = 0; i < NREACHED; i++) {
        char p[96];
        snprintf(p, sizeof p, "funnel_reached.participants.reached.%s", stages[i]);
        row(f, web_label(stages[i]), p, json_object_get(reached, stages[i]), cell_int);
    }
    const json_t *oc = at(doc, "funnel_reached", "participants", "overall_conversion");
    row(f, "Share of applicants who started", "funnel_reached.participants.overall_conversion", oc,
        cell_pct);
    fputs("</tbody>\n</table>\n</section>\n", f);
}

/* Where everyone is now: people by current stage. */
static void now_stage(FILE *f, const json_t *doc)
{
    const json_t *bs = at(doc, "funnel", "participants", "by_stage");
    if (!json_is_object(bs))
        return;
    fputs("<section>\n<h2>Where participants are now</h2>\n<table>\n<caption>Participants by "
          "their current step</caption>\n<thead><tr><th scope=\"col\">Step</th>"
          "<th scope=\"col\">People</th></tr></thead>\n<tbody>\n",
          f);
    for (size_t i = 0; i < NSTAGES; i++) {
        char p[96];
        snprintf(p, sizeof p, "funnel.participants.by_stage.%s", stages[i]);
        row(f, web_label(stages[i]), p, json_object_get(bs, stages[i]), cell_int);
    }
    row(f, "All participants", "funnel.participants.total",
        at(doc, "funnel", "participants", "total"), cell_int);
    fputs("</tbody>\n</table>\n</section>\n", f);
}

static void places(FILE *f, const json_t *doc)
{
    const json_t *fl = json_object_get(doc, "filled");
    if (!json_is_object(fl))
        return;
    fputs("<section>\n<h2>Places</h2>\n<table>\n<caption>Places on the programme</caption>\n"
          "<tbody>\n",
          f);
    row(f, "Places", "filled.places", json_object_get(fl, "places"), cell_int);
    row(f, "Filled by participants", "filled.participants", json_object_get(fl, "participants"),
        cell_int);
    row(f, "Mentors and coaches taking part", "filled.mentors", json_object_get(fl, "mentors"),
        cell_int);
    row(f, "Places still free", "filled.vacant", json_object_get(fl, "vacant"), cell_int);
    fputs("</tbody>\n</table>\n</section>\n", f);
}

static void completion(FILE *f, const json_t *doc)
{
    const json_t *c = at(doc, "completion", "participants", NULL);
    if (!json_is_object(c))
        return;
    fputs("<section>\n<h2>Completion of the requirements</h2>\n<table>\n<caption>Participants "
          "taking part or finished</caption>\n<tbody>\n",
          f);
    row(f, "Participants taking part or finished", "completion.participants.enrolled",
        json_object_get(c, "enrolled"), cell_int);
    row(f, "Have met every requirement", "completion.participants.complete",
        json_object_get(c, "complete"), cell_int);
    row(f, "Average share of the required time done", "completion.participants.mean_completion",
        json_object_get(c, "mean_completion"), cell_pct);
    row(f, "Time each participant must do", "completion.participants.required_minutes",
        json_object_get(c, "required_minutes"), cell_hours);
    row(f, "At risk of not completing", "completion.participants.at_risk",
        json_object_get(c, "at_risk"), cell_int);
    fputs("</tbody>\n</table>\n</section>\n", f);
}

static void progression(FILE *f, const json_t *doc)
{
    const json_t *d = at(doc, "progression", "during", NULL);
    if (!json_is_object(d))
        return;
    static const char *const kinds[] = {
        "SUBSTANTIVE_PROMOTION", "TEMPORARY_PROMOTION", "ACTING_UP",
        "LATERAL_MOVE",          "SECONDMENT",          "ATTACHMENT_MOVE"};
    fputs("<section>\n<h2>Progression</h2>\n<table>\n<caption>Promotions and moves of people "
          "on the programme</caption>\n<thead><tr><th scope=\"col\">Kind</th>"
          "<th scope=\"col\">During the programme</th><th scope=\"col\">After it</th></tr>"
          "</thead>\n<tbody>\n",
          f);
    const json_t *a = at(doc, "progression", "after", NULL);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char p[96];
        fputs("<tr><th scope=\"row\">", f);
        web_html_esc(f, web_label(kinds[i]));
        fputs("</th>", f);
        snprintf(p, sizeof p, "progression.during.%s", kinds[i]);
        cell_int(f, p, json_object_get(d, kinds[i]));
        snprintf(p, sizeof p, "progression.after.%s", kinds[i]);
        cell_int(f, p, json_object_get(a, kinds[i]));
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n</section>\n", f);
}

/* An agency's own people, one a row (pseudonyms only). */
static void people(FILE *f, const json_t *doc)
{
    const json_t *pp = json_object_get(doc, "people");
    if (!json_is_array(pp))
        return;
    fputs("<section>\n<h2>Your agency's people in this cohort</h2>\n<table class=\"people\">\n"
          "<caption>One row a person, by pseudonym</caption>\n<thead><tr>"
          "<th scope=\"col\">Pseudonym</th><th scope=\"col\">Role</th><th scope=\"col\">Step</th>"
          "<th scope=\"col\">Required time done</th><th scope=\"col\">Met every requirement</th>"
          "<th scope=\"col\">At risk</th></tr></thead>\n<tbody>\n",
          f);
    size_t i;
    const json_t *p;
    json_array_foreach(pp, i, p)
    {
        char path[64];
        const char *ref = json_string_value(json_object_get(p, "ref"));
        fputs("<tr data-ref=\"", f);
        web_html_esc(f, ref);
        fputs("\"><th scope=\"row\" class=\"ref\">", f);
        web_html_esc(f, ref);
        fputs("</th><td>", f);
        web_html_esc(f, web_label(json_string_value(json_object_get(p, "role"))));
        fputs("</td>", f);
        const char *st = json_string_value(json_object_get(p, "stage"));
        snprintf(path, sizeof path, "people.%zu.stage", i);
        cell(f, path, json_object_get(p, "stage"), web_label(st));
        snprintf(path, sizeof path, "people.%zu.completion", i);
        cell_pct(f, path, json_object_get(p, "completion"));
        snprintf(path, sizeof path, "people.%zu.requirements_met", i);
        cell(f, path, json_object_get(p, "requirements_met"),
             json_is_true(json_object_get(p, "requirements_met")) ? "Yes" : "No");
        snprintf(path, sizeof path, "people.%zu.at_risk", i);
        const json_t *ar = json_object_get(p, "at_risk");
        cell(f, path, ar,
             json_is_true(ar) || (json_is_object(ar) && json_object_size(ar)) ? "Yes" : "No");
        fputs("</tr>\n", f);
    }
    if (json_array_size(pp) == 0)
        fputs("<tr><td colspan=\"6\">Nobody from your agency yet.</td></tr>\n", f);
    fputs("</tbody>\n</table>\n</section>\n", f);
}

/* A count cell of a release: a suppressed count (null) says so. */
static void cell_count(FILE *f, const char *path, const json_t *v, json_int_t k)
{
    char b[64];
    if (json_is_integer(v))
        cell(f, path, v, NULL);
    else {
        snprintf(b, sizeof b, "hidden (fewer than %" JSON_INTEGER_FORMAT ")", k);
        cell(f, path, v, b);
    }
}

/* One breakdown of the representation as a table. */
static void breakdown(FILE *f, const json_t *rep, const char *field, const char *caption,
                      const char *const *keys, size_t n, json_int_t k)
{
    const json_t *t = json_object_get(rep, field);
    if (!json_is_object(t))
        return;
    fputs("<table>\n<caption>", f);
    web_html_esc(f, caption);
    fputs("</caption>\n<thead><tr><th scope=\"col\">Group</th><th scope=\"col\">People</th>"
          "</tr></thead>\n<tbody>\n",
          f);
    for (size_t i = 0; i < n; i++) {
        char p[96];
        snprintf(p, sizeof p, "representation.%s.%s", field, keys[i]);
        fputs("<tr><th scope=\"row\">", f);
        web_html_esc(f, web_label(keys[i]));
        fputs("</th>", f);
        cell_count(f, p, json_object_get(t, keys[i]), k);
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n", f);
}

/* A release: representation against the aims, by group, suppressed as
 * published. */
static void release(FILE *f, const json_t *doc)
{
    static const char *const groups[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                         "NOT_STATED"};
    static const char *const genders[] = {"FEMALE", "MALE", "GENDER_OTHER", "GENDER_NOT_STATED"};
    static const char *const dis[] = {"DISABLED", "NOT_DISABLED", "DISABILITY_NOT_STATED"};
    const json_t *r = json_object_get(doc, "release");
    const json_t *rep = json_object_get(doc, "representation");
    json_int_t k = json_integer_value(json_object_get(rep, "threshold"));
    fputs("<section>\n<h2>This release</h2>\n<p>Released on <time>", f);
    web_html_esc(f, json_string_value(json_object_get(r, "released_on")));
    fputs("</time>", f);
    const char *why = json_string_value(json_object_get(r, "reason"));
    if (why) {
        fputs(", at ", f);
        web_html_esc(f, web_label(why));
    }
    fprintf(f,
            " (release %" JSON_INTEGER_FORMAT "). Counts of fewer than %" JSON_INTEGER_FORMAT
            " people are hidden, and so are some counts beside them, so that no one can be "
            "recognised.</p>\n</section>\n",
            json_integer_value(json_object_get(r, "number")), k);
    if (!json_is_object(rep))
        return;
    fputs("<section>\n<h2>Who is on the programme</h2>\n<table>\n<caption>Participants taking "
          "part or finished</caption>\n<tbody>\n",
          f);
    fputs("<tr><th scope=\"row\">All participants taking part or finished</th>", f);
    cell_count(f, "representation.total", json_object_get(rep, "total"), k);
    fputs("</tr>\n", f);
    if (json_object_get(rep, "bme")) {
        fputs("<tr><th scope=\"row\">Black and minority ethnic people</th>", f);
        cell_count(f, "representation.bme", json_object_get(rep, "bme"), k);
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n", f);
    if (json_is_true(json_object_get(rep, "below_threshold")))
        fprintf(f,
                "<p>Fewer than %" JSON_INTEGER_FORMAT " people are counted, so there is no "
                "breakdown.</p>\n",
                k);
    breakdown(f, rep, "ethnic_group", "By ethnic group", groups, 6, k);
    breakdown(f, rep, "gender", "By gender", genders, 4, k);
    breakdown(f, rep, "disability", "By disability", dis, 3, k);
    fputs("</section>\n", f);
    const json_t *aims = json_object_get(rep, "aims");
    if (!json_is_array(aims) || json_array_size(aims) == 0)
        return;
    fputs("<section>\n<h2>Against the programme's aims</h2>\n<table>\n<caption>Positive-action "
          "aims</caption>\n<thead><tr><th scope=\"col\">Aim</th><th scope=\"col\">At least</th>"
          "<th scope=\"col\">Now</th><th scope=\"col\">Met</th></tr></thead>\n<tbody>\n",
          f);
    size_t i;
    const json_t *a;
    json_array_foreach(aims, i, a)
    {
        char p[96], b[32];
        int withheld = json_is_true(json_object_get(a, "withheld"));
        fputs("<tr><th scope=\"row\">", f);
        web_html_esc(f, web_label(json_string_value(json_object_get(a, "group"))));
        fputs("</th>", f);
        snprintf(p, sizeof p, "representation.aims.%zu.min_percent", i);
        snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT "%%",
                 json_integer_value(json_object_get(a, "min_percent")));
        cell(f, p, json_object_get(a, "min_percent"), b);
        snprintf(p, sizeof p, "representation.aims.%zu.actual_percent", i);
        snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT "%%",
                 json_integer_value(json_object_get(a, "actual_percent")));
        cell(f, p, json_object_get(a, "actual_percent"), withheld ? "hidden" : b);
        snprintf(p, sizeof p, "representation.aims.%zu.met", i);
        const json_t *met = json_object_get(a, "met");
        cell(f, p, met, withheld ? "hidden" : json_is_true(met) ? "Yes" : "No");
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table>\n</section>\n", f);
}

void web_page_topic(FILE *f, const web_session_t *s, const char *topic, const json_t *doc,
                    time_t when)
{
    char title[512], iso[32], shown[64];
    struct tm tm;
    const char *prog = json_string_value(json_object_get(doc, "programme"));
    const char *pname = json_string_value(json_object_get(doc, "programme_name"));
    const char *coh = json_string_value(json_object_get(doc, "cohort"));
    const char *ag = json_string_value(json_object_get(doc, "agency"));
    if (strncmp(topic, "release/", 8) == 0)
        snprintf(title, sizeof title, "Released breakdowns: %s%s%s",
                 pname ? pname
                       : (json_string_value(json_object_get(doc, "name"))
                              ? json_string_value(json_object_get(doc, "name"))
                              : (prog ? prog : "")),
                 coh ? ", cohort " : "", coh ? coh : "");
    else if (strncmp(topic, "programme/", 10) == 0)
        snprintf(title, sizeof title, "Programme: %s",
                 json_string_value(json_object_get(doc, "name"))
                     ? json_string_value(json_object_get(doc, "name"))
                     : (prog ? prog : topic));
    else if (strncmp(topic, "cohort/", 7) == 0)
        snprintf(title, sizeof title, "%s, cohort %s", pname ? pname : (prog ? prog : ""),
                 coh ? coh : "");
    else
        snprintf(title, sizeof title, "%s: %s, cohort %s", ag ? ag : "", prog ? prog : "",
                 coh ? coh : "");
    gmtime_r(&when, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(shown, sizeof shown, "%d %B %Y, %H:%M:%S UTC", &tm);
    head(f, title, topic);
    banner(f, s);
    fputs("<main id=\"main\">\n<h1>", f);
    web_html_esc(f, title);
    fputs("</h1>\n<p class=\"state\">Live updates: <span id=\"live-state\">not connected</span>"
          "</p>\n<div id=\"figures\">\n<p class=\"asat\">Figures as at <time datetime=\"",
          f);
    fputs(iso, f);
    fputs("\">", f);
    fputs(shown, f);
    fputs("</time></p>\n", f);
    const char *sd = json_string_value(json_object_get(doc, "starts_on"));
    const char *ed = json_string_value(json_object_get(doc, "ends_on"));
    if (sd && ed) {
        fputs("<p>Runs from <time>", f);
        web_html_esc(f, sd);
        fputs("</time> to <time>", f);
        web_html_esc(f, ed);
        fputs("</time>.</p>\n", f);
    }
    if (strncmp(topic, "agency/", 7) == 0)
        people(f, doc);
    else if (strncmp(topic, "release/", 8) == 0)
        release(f, doc);
    else {
        funnel(f, doc);
        places(f, doc);
        now_stage(f, doc);
        completion(f, doc);
        progression(f, doc);
    }
    fputs("</div>\n</main>\n", f);
    foot(f);
}

void web_page_glossary(FILE *f, const web_session_t *s)
{
    static const char *const terms[][2] = {
        {"Applied", "Put in an application to join a cohort of the programme."},
        {"Shortlisted", "Chosen from the applicants for interview."},
        {"Interviewed", "Has had the selection interview."},
        {"Supported by their line manager",
         "Their line manager has agreed to give them the time the programme needs."},
        {"Offered a place", "Has been offered a place on the cohort."},
        {"Taking part",
         "Accepted the place and is on the programme now (the selection's last step)."},
        {"Finished the programme", "Reached the end of the programme."},
        {"Cohort", "One intake of a programme: the people who start together and their dates."},
        {"Places", "How many people a cohort can take; places still free are places not yet "
                   "filled by participants."},
        {"Participant", "Someone on the programme to develop (not a mentor or coach)."},
        {"Mentor", "Someone from a partner agency who supports a participant."},
        {"Required time", "The training, coaching and other sessions a participant must attend, "
                          "shown in hours."},
        {"Met every requirement", "Has done all the required time and passed every assessed "
                                  "piece of work."},
        {"At risk", "Has done less of the sessions held so far than expected, so may not "
                    "complete on time."},
        {"Pseudonym", "The code an agency uses for one of its people instead of their name; "
                      "only that agency can tell who it is."},
        {"Permanent promotion", "A promotion to a higher grade that is not temporary."},
        {"Figures as at", "When cohort-web received the figures shown from the status service."},
        {"Live updates", "Whether this page is connected to receive new figures as they arrive."},
    };
    head(f, "Glossary", NULL);
    banner(f, s);
    fputs("<main id=\"main\">\n<h1>Glossary</h1>\n<dl class=\"glossary\">\n", f);
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        fputs("<dt>", f);
        web_html_esc(f, terms[i][0]);
        fputs("</dt><dd>", f);
        web_html_esc(f, terms[i][1]);
        fputs("</dd>\n", f);
    }
    fputs("</dl>\n</main>\n", f);
    foot(f);
}

void web_page_not_found(FILE *f)
{
    head(f, "Not found", NULL);
    fputs("<main id=\"main\">\n<h1>Page not found</h1>\n<p>There is no such page, or it is "
          "not one you can see. <a href=\"/\">Back to the overview</a>.</p>\n</main>\n",
          f);
    foot(f);
}

void web_page_releases(FILE *f, const web_session_t *s, const char *topic, const json_t *versions)
{
    size_t n = json_array_size(versions);
    const char *rest = strncmp(topic, "release/", 8) == 0 ? topic + 8 : topic;
    head(f, "Dated releases", NULL);
    banner(f, s);
    fputs("<main id=\"main\">\n<h1>Dated releases: ", f);
    web_html_esc(f, rest);
    fputs("</h1>\n", f);
    if (!n) {
        fputs("<p>Nothing has been released for this yet.</p>\n</main>\n", f);
        foot(f);
        return;
    }
    fputs("<table class=\"releases\">\n<caption>Every release, newest first</caption>\n"
          "<thead><tr><th scope=\"col\">Released on</th><th scope=\"col\">Why</th>"
          "<th scope=\"col\">Release</th></tr></thead>\n<tbody>\n",
          f);
    for (size_t i = n; i-- > 0;) {
        const json_t *r = json_object_get(json_array_get(versions, i), "release");
        const char *on = json_string_value(json_object_get(r, "released_on"));
        const char *why = json_string_value(json_object_get(r, "reason"));
        json_int_t num = json_integer_value(json_object_get(r, "number"));
        fputs("<tr><td><time>", f);
        web_html_esc(f, on ? on : "");
        fputs("</time></td><td>", f);
        web_html_esc(f, why ? web_label(why) : "");
        fprintf(f,
                "</td><td data-figure=\"release.number\" data-value=\"%" JSON_INTEGER_FORMAT
                "\"><a href=\"/releases/",
                num);
        web_html_esc(f, rest);
        fprintf(f,
                "?number=%" JSON_INTEGER_FORMAT "\">Release %" JSON_INTEGER_FORMAT
                "</a></td></tr>\n",
                num, num);
    }
    fputs("</tbody>\n</table>\n</main>\n", f);
    foot(f);
}
