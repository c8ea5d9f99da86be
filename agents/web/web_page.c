/* web_page.c: cohort-web's HTML pages (see web_page.h). */
#include "web_page.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "web_chart.h"
#include "web_export.h"
#include "web_table.h"

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
          "<li><a href=\"/\">Overview</a></li>",
          f);
    if (cohort_scope_may_read(s->user.role, s->user.agency, "programme/")) /* web_report.h */
        fputs("<li><a href=\"/reports\">Board reports</a></li>", f);
    fputs("<li><a href=\"/glossary\">Glossary</a></li></ul>"
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

void web_page_begin(FILE *f, const web_session_t *s, const char *title)
{
    head(f, title, NULL);
    banner(f, s);
    fputs("<main id=\"main\">\n", f);
}

void web_page_end(FILE *f)
{
    fputs("</main>\n", f);
    foot(f);
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
        web_html_esc(f, name ? name : json_string_value(json_object_get(doc, "programme")));
        fputs(", cohort ", f);
        web_html_esc(f, json_string_value(json_object_get(doc, "cohort")));
        fputs(" (", f);
        web_html_esc(f, json_string_value(json_object_get(doc, "agency")));
        fputs(")", f);
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

void web_page_title(const char *topic, const json_t *doc, char *title, size_t len)
{
    const char *prog = json_string_value(json_object_get(doc, "programme"));
    const char *pname = json_string_value(json_object_get(doc, "programme_name"));
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *coh = json_string_value(json_object_get(doc, "cohort"));
    const char *ag = json_string_value(json_object_get(doc, "agency"));
    if (strncmp(topic, "release/", 8) == 0)
        snprintf(title, len, "Released breakdowns: %s%s%s",
                 pname ? pname : (name ? name : (prog ? prog : "")), coh ? ", cohort " : "",
                 coh ? coh : "");
    else if (strncmp(topic, "programme/", 10) == 0)
        snprintf(title, len, "Programme: %s", name ? name : (prog ? prog : topic));
    else if (strncmp(topic, "cohort/", 7) == 0)
        snprintf(title, len, "%s, cohort %s", pname ? pname : (prog ? prog : ""), coh ? coh : "");
    else
        snprintf(title, len, "%s, cohort %s: %s's people", pname ? pname : (prog ? prog : ""),
                 coh ? coh : "", ag ? ag : "");
}

/* A release's dates and why it was made, and what "hidden" means. */
static void release_intro(FILE *f, const json_t *doc)
{
    const json_t *r = json_object_get(doc, "release");
    const json_t *k = json_object_get(json_object_get(doc, "representation"), "threshold");
    fputs("<section id=\"release\">\n<h2>This release</h2>\n<p>Released on <time>", f);
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
            json_integer_value(json_object_get(r, "number")),
            json_is_integer(k) ? json_integer_value(k) : (json_int_t)5);
}

/* The list of the page's sections, and the workbook's link. */
static void contents(FILE *f, const char *topic, const web_tables_t *ts)
{
    char href[700];
    web_export_href(topic, NULL, href, sizeof href);
    fputs("<ul class=\"exports\"><li><a href=\"", f);
    web_html_esc(f, href);
    fputs("\" download>Download every table as a spreadsheet (Excel)</a></li>", f);
    if (strncmp(topic, "programme/", 10) == 0 || strncmp(topic, "cohort/", 7) == 0) {
        fputs("<li><a href=\"/report/", f); /* the board report, to print (web_report.h) */
        web_html_esc(f, topic);
        fputs("\">The board report of these figures, to read or print</a></li>", f);
    }
    fputs("</ul>\n", f);
    if (web_tables_count(ts) < 2)
        return;
    fputs("<nav class=\"contents\" aria-label=\"On this page\"><h2>On this page</h2><ul>\n", f);
    for (size_t i = 0; i < web_tables_count(ts); i++) {
        const web_table_t *t = web_tables_get(ts, i);
        fputs("<li><a href=\"#", f);
        web_html_esc(f, t->id);
        fputs("\">", f);
        web_html_esc(f, t->title);
        fputs("</a></li>\n", f);
    }
    fputs("</ul></nav>\n", f);
}

/* One table's section: heading, chart, table, export link. */
static void section(FILE *f, const char *topic, const web_table_t *t)
{
    char href[700];
    fputs("<section id=\"", f);
    web_html_esc(f, t->id);
    fputs("\" aria-labelledby=\"", f);
    web_html_esc(f, t->id);
    fputs("-h\">\n<h2 id=\"", f);
    web_html_esc(f, t->id);
    fputs("-h\">", f);
    web_html_esc(f, t->title);
    fputs("</h2>\n", f);
    web_chart_svg(f, t);
    if (t->nrows) { /* a wide table scrolls in its own region, by keyboard too */
        fputs("<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"", f);
        web_html_esc(f, t->id);
        fputs("-h\">\n", f);
    }
    web_table_html(f, t);
    if (t->nrows)
        fputs("</div>\n", f);
    if (t->nrows) {
        web_export_href(topic, t->id, href, sizeof href);
        fputs("<ul class=\"exports\"><li><a href=\"", f);
        web_html_esc(f, href);
        fputs("\" download>Download this table (CSV)</a></li></ul>\n", f);
    }
    fputs("</section>\n", f);
}

void web_page_topic_ctx(FILE *f, const web_session_t *s, const char *topic, const json_t *doc,
                        const json_t *ctx, time_t when)
{
    char title[512], iso[32], shown[64];
    struct tm tm;
    web_page_title(topic, doc, title, sizeof title);
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
    if (strncmp(topic, "release/", 8) == 0) {
        release_intro(f, doc);
        fputs("<p><a href=\"/releases/", f);
        web_html_esc(f, topic + 8);
        fputs("\">Every dated release of these breakdowns</a></p>\n", f);
    }
    web_tables_t *ts = web_tables_new(topic, doc, ctx);
    if (!ts)
        fputs("<p class=\"error\">The figures could not be shown (out of memory).</p>\n", f);
    else if (web_tables_count(ts) == 0)
        fputs("<p>There are no figures to show yet.</p>\n", f);
    else {
        contents(f, topic, ts);
        for (size_t i = 0; i < web_tables_count(ts); i++)
            section(f, topic, web_tables_get(ts, i));
    }
    web_tables_destroy(&ts);
    fputs("</div>\n</main>\n", f);
    foot(f);
}

void web_page_topic(FILE *f, const web_session_t *s, const char *topic, const json_t *doc,
                    time_t when)
{
    web_page_topic_ctx(f, s, topic, doc, NULL, when);
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
        {"Share of the step before",
         "Of the people who reached the step before, the share who reached this one."},
        {"Cohort", "One intake of a programme: the people who start together and their dates."},
        {"Places", "How many people a cohort can take; places still free are places not yet "
                   "filled by participants."},
        {"Participant", "Someone on the programme to develop (not a mentor or coach)."},
        {"Mentor", "Someone from a partner agency who supports a participant."},
        {"Required time", "The training, coaching and other sessions each person must attend, "
                          "in days of 8 hours; some requirements are counted in sessions or "
                          "pieces of work submitted instead."},
        {"Met every requirement", "Has done all the required time and passed every assessed "
                                  "piece of work."},
        {"In progress", "Taking part or finished, has not yet met every requirement, and is "
                        "not at risk."},
        {"At risk", "Taking part, and has done less of the sessions held so far than expected "
                    "or failed a piece of assessed work, so may not complete on time. The "
                    "agency's view gives the reason for each person."},
        {"Award", "The qualification some programmes lead to, given once every assessed "
                  "piece of work is passed."},
        {"Development plan", "The objectives a participant agreed with their line manager, "
                             "reviewed during the programme."},
        {"Pseudonym", "The code an agency uses for one of its people instead of their name; "
                      "only that agency can tell who it is."},
        {"Permanent promotion", "A promotion to a higher grade that is not temporary."},
        {"Typical", "The median: half the people took less time, half more."},
        {"Still with their agency",
         "Had not left the agency they worked for when they joined the programme."},
        {"Released breakdowns",
         "Figures by ethnic group, gender and disability, published on set dates only."},
        {"Hidden", "A count of fewer than the threshold (usually 5 people), or a count beside "
                   "one, withheld so that no one can be recognised; a hidden count may be 0."},
        {"Aim", "The share of participants from a group that the programme sets out to reach."},
        {"Workforce", "The share of that group among the staff of the agencies that published "
                      "their workforce figures."},
        {"Figures as at", "When cohort-web received the figures shown from the status service."},
        {"Live updates", "Whether this page is connected to receive new figures as they arrive."},
        {"Download", "Every table can be saved as a spreadsheet: one table as CSV, or all the "
                     "tables of a page as an Excel workbook, with the same hidden counts."},
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
    const json_t *latest = n ? json_array_get(versions, n - 1) : NULL;
    const char *name = json_string_value(json_object_get(latest, "programme_name"));
    const char *coh = json_string_value(json_object_get(latest, "cohort"));
    if (!name)
        name = json_string_value(json_object_get(latest, "name"));
    head(f, "Dated releases", NULL);
    banner(f, s);
    fputs("<main id=\"main\">\n<h1>Dated releases: ", f);
    web_html_esc(f, name ? name : rest);
    if (name && coh) {
        fputs(", cohort ", f);
        web_html_esc(f, coh);
    }
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
