/* web_report.c: the dated board reports, their archive and their printing
 * (see web_report.h). The tables and charts are web_table.h's and
 * web_chart.h's; this file lays them out as a report, writes the archive
 * and runs Chromium. */
#include "web_report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "web_chart.h"
#include "web_page.h"
#include "web_static.h"
#include "web_table.h"

#define INDEX_MAX 20000 /* most reports listed on /reports */

int web_report_id_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > WEB_REPORT_ID_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

int web_report_parse_topic(const char *topic, web_report_of_t *out)
{
    memset(out, 0, sizeof *out);
    const char *p;
    int cohort;
    if (strncmp(topic, "programme/", 10) == 0)
        p = topic + 10, cohort = 0;
    else if (strncmp(topic, "cohort/", 7) == 0)
        p = topic + 7, cohort = 1;
    else
        return -EINVAL;
    size_t n = strcspn(p, "/");
    if (!web_report_id_ok(p, n))
        return -EINVAL;
    memcpy(out->programme, p, n);
    if (!cohort)
        return p[n] ? -EINVAL : 0;
    if (p[n] != '/')
        return -EINVAL;
    const char *c = p + n + 1;
    size_t m = strlen(c);
    if (!web_report_id_ok(c, m))
        return -EINVAL;
    memcpy(out->cohort, c, m);
    return 0;
}

/* ---- the report's HTML ---------------------------------------------------- */

static const char *str_of(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

/* The tables of one part of a report (live or released). */
typedef struct {
    const char *id;      /* the part's anchor: "live" or "release" */
    const char *heading; /* its heading */
    web_tables_t *tables;
} part_t;

static void contents(FILE *f, const part_t *parts, size_t n, int cohorts)
{
    fputs("<nav class=\"contents\" aria-labelledby=\"contents-h\">\n<h2 id=\"contents-h\">Contents"
          "</h2>\n<ol>\n",
          f);
    if (cohorts)
        fputs("<li><a href=\"#cohorts\">The programme's cohorts</a></li>\n", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "<li><a href=\"#%s\">", parts[i].id);
        web_html_esc(f, parts[i].heading);
        fputs("</a>", f);
        size_t k = web_tables_count(parts[i].tables);
        if (k) {
            fputs("\n<ol>\n", f);
            for (size_t j = 0; j < k; j++) {
                const web_table_t *t = web_tables_get(parts[i].tables, j);
                fprintf(f, "<li><a href=\"#%s-", parts[i].id);
                web_html_esc(f, t->id);
                fputs("\">", f);
                web_html_esc(f, t->title);
                fputs("</a></li>\n", f);
            }
            fputs("</ol>\n", f);
        }
        fputs("</li>\n", f);
    }
    fputs("<li><a href=\"#about\">About these figures</a></li>\n</ol>\n</nav>\n", f);
}

static void part(FILE *f, const part_t *p, const char *intro)
{
    fprintf(f, "<section class=\"part\" id=\"%s\" aria-labelledby=\"%s-h\">\n<h2 id=\"%s-h\">",
            p->id, p->id, p->id);
    web_html_esc(f, p->heading);
    fputs("</h2>\n<p>", f);
    web_html_esc(f, intro);
    fputs("</p>\n", f);
    size_t k = web_tables_count(p->tables);
    if (k == 0)
        fputs("<p>There are no figures in this part yet.</p>\n", f);
    for (size_t j = 0; j < k; j++) {
        const web_table_t *t = web_tables_get(p->tables, j);
        fprintf(f, "<section class=\"figures\" id=\"%s-", p->id);
        web_html_esc(f, t->id);
        fputs("\">\n<h3>", f);
        web_html_esc(f, t->title);
        fputs("</h3>\n", f);
        web_chart_svg(f, t);
        web_table_html(f, t);
        fputs("</section>\n", f);
    }
    fputs("</section>\n", f);
}

typedef struct {
    FILE *f;
    int archive;
    size_t n;
} cohorts_t;

static void cohort_link(void *arg, const char *topic)
{
    cohorts_t *c = arg;
    web_report_of_t of;
    if (web_report_parse_topic(topic, &of) < 0 || !of.cohort[0])
        return;
    fputs("<li><a href=\"", c->f);
    if (c->archive)
        fprintf(c->f, "cohort-%s.html", of.cohort); /* ids need no escaping */
    else
        fprintf(c->f, "/report/cohort/%s/%s", of.programme, of.cohort);
    fprintf(c->f, "\">Cohort %s</a></li>\n", of.cohort);
    c->n++;
}

int web_report_html(FILE *f, web_feed_t *feed, const char *topic, const web_report_style_t *st,
                    time_t now)
{
    web_report_of_t of;
    char rtopic[2 * WEB_REPORT_ID_MAX + 32], ptopic[WEB_REPORT_ID_MAX + 16], iso[32], shown[64];
    if (web_report_parse_topic(topic, &of) < 0)
        return -EINVAL;
    json_t *doc = web_feed_get(feed, topic, NULL);
    if (!doc)
        return -ENOENT;
    snprintf(rtopic, sizeof rtopic, "release/%s", topic);
    snprintf(ptopic, sizeof ptopic, "programme/%s", of.programme);
    json_t *rel = web_feed_get(feed, rtopic, NULL);
    json_t *prog = of.cohort[0] ? web_feed_get(feed, ptopic, NULL) : json_incref(doc);
    const char *name = of.cohort[0] ? str_of(doc, "programme_name") : str_of(doc, "name");
    if (!name)
        name = of.programme;

    /* a cohort's live tables draw its requirements from the programme's
     * document, a programme's release its workforce baselines
     * (web_table.h) */
    part_t parts[2] = {
        {"live", "Live figures", web_tables_new(topic, doc, of.cohort[0] ? prog : NULL)},
        {"release", "Released breakdowns", NULL}};
    size_t nparts = 1;
    if (rel) {
        parts[1].tables = web_tables_new(rtopic, rel, of.cohort[0] ? NULL : prog);
        nparts = 2;
    }

    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(shown, sizeof shown, "%d %B %Y, %H:%M UTC", &tm);

    fputs("<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>Board report: ",
          f);
    web_html_esc(f, name);
    if (of.cohort[0])
        fprintf(f, ", cohort %s", of.cohort);
    fputs("</title>\n", f);
    for (const char *const *c = st->css; c && *c; c++) {
        fputs("<link rel=\"stylesheet\" href=\"", f);
        web_html_esc(f, *c);
        fputs("\">\n", f);
    }
    fputs("</head>\n<body class=\"report\">\n<main id=\"main\">\n<header class=\"report-title\">\n"
          "<h1>Board report: ",
          f);
    web_html_esc(f, name);
    fputs("</h1>\n", f);
    if (of.cohort[0])
        fprintf(f, "<p class=\"subtitle\">Cohort %s</p>\n", of.cohort);
    fprintf(f, "<p class=\"asat\">Figures as at <time datetime=\"%s\">%s</time></p>\n", iso, shown);
    const char *sd = str_of(doc, "starts_on"), *ed = str_of(doc, "ends_on");
    if (sd && ed) {
        fputs("<p>The cohort runs from <time>", f);
        web_html_esc(f, sd);
        fputs("</time> to <time>", f);
        web_html_esc(f, ed);
        fputs("</time>.</p>\n", f);
    }
    const json_t *rinfo = rel ? json_object_get(rel, "release") : NULL;
    const char *ron = rel ? str_of(rel, "released_on") : NULL;
    if (!ron && rinfo)
        ron = str_of(rinfo, "released_on");
    if (rel) {
        json_int_t num = json_integer_value(json_object_get(rinfo, "number"));
        fputs("<p>The breakdowns by ethnic group, gender and disability are those of the latest "
              "release",
              f);
        if (num > 0)
            fprintf(f, " (number %lld", (long long)num);
        if (ron) {
            fputs(num > 0 ? ", " : " (", f);
            fputs("released on <time>", f);
            web_html_esc(f, ron);
            fputs("</time>", f);
        }
        if (num > 0 || ron)
            fputs(")", f);
        fputs(".</p>\n", f);
    } else
        fputs("<p>No breakdowns by ethnic group, gender or disability have been released "
              "yet.</p>\n",
              f);
    fputs("</header>\n", f);

    contents(f, parts, nparts, !of.cohort[0]);
    if (!of.cohort[0]) {
        char prefix[WEB_REPORT_ID_MAX + 16];
        snprintf(prefix, sizeof prefix, "cohort/%s/", of.programme);
        fputs("<section class=\"cohorts\" id=\"cohorts\" aria-labelledby=\"cohorts-h\">\n"
              "<h2 id=\"cohorts-h\">The programme's cohorts</h2>\n<ul>\n",
              f);
        cohorts_t cl = {f, st->archive, 0};
        web_feed_each(feed, prefix, COHORT_ROLE_WEB, NULL, cohort_link, &cl);
        if (cl.n == 0)
            fputs("<li>No cohorts yet.</li>\n", f);
        fputs("</ul>\n</section>\n", f);
    }
    part(f, &parts[0], "The figures as they stand, updated with every change the agencies send.");
    if (nparts == 2)
        part(f, &parts[1],
             "Breakdowns by a protected characteristic are published only in dated releases, "
             "after small numbers are suppressed.");
    fputs("<footer class=\"about\" id=\"about\">\n<h2>About these figures</h2>\n"
          "<p>A figure shown as \"hidden\" is withheld in the published figures: it is too small "
          "to show without risk of identifying someone, or it would let a small number be worked "
          "out. This report shows exactly what the published status documents show, nothing "
          "more. Times are in days of 8 hours. Every term is defined once in the dashboard's "
          "glossary.</p>\n<p>Made by cohort-web on <time datetime=\"",
          f);
    fprintf(f, "%s\">%s</time>.</p>\n</footer>\n</main>\n</body>\n</html>\n", iso, shown);

    web_tables_destroy(&parts[0].tables);
    web_tables_destroy(&parts[1].tables);
    json_decref(prog);
    json_decref(rel);
    json_decref(doc);
    return 0;
}

/* ---- files ------------------------------------------------------------- */

/* Writes len bytes of data (then len2 of data2) to path via path.tmp. */
static int write_file(const char *path, const void *data, size_t len, const void *data2,
                      size_t len2)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "we");
    if (!f)
        return -errno;
    fwrite(data, 1, len, f);
    if (data2)
        fwrite(data2, 1, len2, f);
    if (ferror(f) | (fclose(f) != 0)) {
        int e = errno ? -errno : -EIO;
        unlink(tmp);
        return e;
    }
    if (rename(tmp, path) < 0) {
        int e = -errno;
        unlink(tmp);
        return e;
    }
    return 0;
}

int web_report_write_css(const char *path)
{
    /* the dashboard's stylesheet (the charts' and tables' classes), then
     * the report's own rules */
    char *both = malloc(web_static_css_len + web_static_report_css_len + 2);
    if (!both)
        return -ENOMEM;
    memcpy(both, web_static_css, web_static_css_len);
    both[web_static_css_len] = '\n';
    memcpy(both + web_static_css_len + 1, web_static_report_css, web_static_report_css_len);
    int rc = write_file(path, both, web_static_css_len + 1 + web_static_report_css_len, NULL, 0);
    free(both);
    return rc;
}

/* 1 if the len bytes at s are a real date YYYY-MM-DD. */
static int date_ok(const char *s, size_t len)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = atoi(s), m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

/* Parses a report's file name: programme.html|pdf, cohort-C.html|pdf or
 * report.css. Sets out's file, cohort, topic and ctype. */
static int parse_name(const char *name, size_t len, web_report_file_t *out)
{
    if (len >= sizeof out->file)
        return -EINVAL;
    memcpy(out->file, name, len);
    out->file[len] = '\0';
    out->of.cohort[0] = '\0';
    const char *ext = NULL;
    if (len > 5 && memcmp(name + len - 5, ".html", 5) == 0)
        ext = name + len - 5, out->ctype = "text/html; charset=utf-8";
    else if (len > 4 && memcmp(name + len - 4, ".pdf", 4) == 0)
        ext = name + len - 4, out->ctype = "application/pdf";
    if (len == 10 && memcmp(name, "report.css", 10) == 0) {
        out->ctype = "text/css; charset=utf-8";
    } else if (!ext) {
        return -EINVAL;
    } else if ((size_t)(ext - name) == 9 && memcmp(name, "programme", 9) == 0) {
        /* programme.html, programme.pdf */
    } else if (ext - name > 7 && memcmp(name, "cohort-", 7) == 0 &&
               web_report_id_ok(name + 7, (size_t)(ext - name - 7))) {
        memcpy(out->of.cohort, name + 7, (size_t)(ext - name - 7));
        out->of.cohort[ext - name - 7] = '\0';
    } else
        return -EINVAL;
    if (out->of.cohort[0])
        snprintf(out->topic, sizeof out->topic, "cohort/%s/%s", out->of.programme, out->of.cohort);
    else
        snprintf(out->topic, sizeof out->topic, "programme/%s", out->of.programme);
    return 0;
}

int web_report_parse_file(const char *rest, web_report_file_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n1 = strcspn(rest, "/");
    if (!web_report_id_ok(rest, n1) || rest[n1] != '/')
        return -EINVAL;
    memcpy(out->of.programme, rest, n1);
    const char *d = rest + n1 + 1;
    size_t n2 = strcspn(d, "/");
    if (!date_ok(d, n2) || d[n2] != '/')
        return -EINVAL;
    memcpy(out->date, d, 10);
    const char *name = d + n2 + 1;
    size_t n3 = strlen(name);
    if (n3 == 0 || strchr(name, '/'))
        return -EINVAL;
    return parse_name(name, n3, out);
}

int web_report_open(const char *dir, const web_report_file_t *rf, size_t *size)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s/%s/%s", dir, rf->of.programme, rf->date, rf->file) >=
        (int)sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -ENOENT;
    }
    *size = (size_t)st.st_size;
    return fd;
}

/* ---- the archive's index ------------------------------------------------- */

typedef struct {
    char programme[WEB_REPORT_ID_MAX + 1];
    char cohort[WEB_REPORT_ID_MAX + 1];
    char date[11];
    int pdf; /* the PDF is there too */
} entry_t;

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    int c = strcmp(y->date, x->date); /* newest first */
    if (c)
        return c;
    if ((c = strcmp(x->programme, y->programme)))
        return c;
    return strcmp(x->cohort, y->cohort); /* the programme's ("") first */
}

/* Adds the reports of dir/P/D (HTML files named as in the archive). */
static void scan_date(const char *path, const char *prog, const char *date, cohort_role_t role,
                      const char *agency, entry_t **v, size_t *n, size_t *cap)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < INDEX_MAX) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".html") != 0)
            continue;
        web_report_file_t rf;
        memset(&rf, 0, sizeof rf);
        snprintf(rf.of.programme, sizeof rf.of.programme, "%s", prog);
        if (parse_name(e->d_name, len, &rf) < 0 || !cohort_scope_may_read(role, agency, rf.topic))
            continue;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            entry_t *nv = realloc(*v, nc * sizeof *nv);
            if (!nv)
                break;
            *v = nv, *cap = nc;
        }
        entry_t *en = &(*v)[(*n)++];
        memset(en, 0, sizeof *en);
        snprintf(en->programme, sizeof en->programme, "%s", prog);
        snprintf(en->cohort, sizeof en->cohort, "%s", rf.of.cohort);
        memcpy(en->date, date, 11);
        char pdf[4096];
        struct stat st;
        en->pdf = snprintf(pdf, sizeof pdf, "%s/%.*s.pdf", path, (int)(len - 5), e->d_name) <
                      (int)sizeof pdf &&
                  lstat(pdf, &st) == 0 && S_ISREG(st.st_mode);
    }
    closedir(d);
}

void web_report_index(FILE *f, const char *dir, web_feed_t *feed, const web_session_t *s)
{
    cohort_role_t role = s->user.role;
    const char *agency = s->user.agency;
    entry_t *v = NULL;
    size_t n = 0, cap = 0;
    DIR *top = dir ? opendir(dir) : NULL;
    struct dirent *pe;
    while (top && (pe = readdir(top))) {
        if (!web_report_id_ok(pe->d_name, strlen(pe->d_name)))
            continue;
        char ppath[4096];
        if (snprintf(ppath, sizeof ppath, "%s/%s", dir, pe->d_name) >= (int)sizeof ppath)
            continue;
        DIR *pd = opendir(ppath);
        struct dirent *de;
        while (pd && (de = readdir(pd))) {
            if (!date_ok(de->d_name, strlen(de->d_name)))
                continue;
            char dpath[4096];
            if (snprintf(dpath, sizeof dpath, "%s/%s", ppath, de->d_name) >= (int)sizeof dpath)
                continue;
            scan_date(dpath, pe->d_name, de->d_name, role, agency, &v, &n, &cap);
        }
        if (pd)
            closedir(pd);
    }
    if (top)
        closedir(top);
    if (n)
        qsort(v, n, sizeof *v, entry_cmp);

    web_page_begin(f, s, "Board reports");
    fputs("<h1>Board reports</h1>\n"
          "<p>The dated board reports you may read, newest first. Each is a web page to read "
          "or print, and a PDF of the same page.</p>\n",
          f);
    if (n == 0)
        fputs("<p>There are no reports for you yet.</p>\n", f);
    else
        fputs("<table class=\"reports\">\n<caption>Board reports</caption>\n<thead><tr>"
              "<th scope=\"col\">Date</th><th scope=\"col\">Programme</th>"
              "<th scope=\"col\">Report</th><th scope=\"col\">Files</th></tr></thead>\n<tbody>\n",
              f);
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = &v[i];
        char base[WEB_REPORT_ID_MAX + 16];
        if (e->cohort[0])
            snprintf(base, sizeof base, "cohort-%s", e->cohort);
        else
            snprintf(base, sizeof base, "programme");
        /* ids are [A-Za-z0-9_.-]: safe in HTML and in a URL path */
        fprintf(f, "<tr data-report=\"%s/%s/%s\"><td><time>%s</time></td><td>", e->programme,
                e->date, base, e->date);
        /* the programme's name while cohortd publishes it, else its id */
        char ptopic[WEB_REPORT_ID_MAX + 16];
        snprintf(ptopic, sizeof ptopic, "programme/%s", e->programme);
        json_t *pd = feed ? web_feed_get(feed, ptopic, NULL) : NULL;
        const char *pname = pd ? str_of(pd, "name") : NULL;
        web_html_esc(f, pname ? pname : e->programme);
        json_decref(pd);
        fprintf(f, "</td><td>%s%s</td><td><a href=\"/reports/%s/%s/%s.html\">Web page</a>",
                e->cohort[0] ? "Cohort " : "The whole programme", e->cohort, e->programme, e->date,
                base);
        if (e->pdf)
            fprintf(f, " <a href=\"/reports/%s/%s/%s.pdf\">PDF</a>", e->programme, e->date, base);
        fputs("</td></tr>\n", f);
    }
    if (n)
        fputs("</tbody>\n</table>\n", f);
    fputs("<p>For a report of the figures as they are now, open a programme or cohort from the "
          "<a href=\"/\">overview</a> and follow its link to the board report.</p>\n",
          f);
    web_page_end(f);
    free(v);
}

/* ---- printing with Chromium ---------------------------------------------- */

int web_report_chromium_ok(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
        snprintf(err, errlen,
                 "Chromium is missing: %s is not an executable file; the PDFs are printed with "
                 "headless Chromium (Debian: apt-get install chromium), or set its path in the "
                 "configuration's [report] chromium",
                 path ? path : "(none)");
        return -ENOENT;
    }
    return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

/* Appends s to out as a file: URL path (percent-encoding all but
 * unreserved characters and '/'). */
static int file_url(char *out, size_t len, const char *s)
{
    size_t o = (size_t)snprintf(out, len, "file://");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || strchr("-._~/", ch);
        if (o + 4 >= len)
            return -ENAMETOOLONG;
        o += (size_t)(keep ? snprintf(out + o, len - o, "%c", ch)
                           : snprintf(out + o, len - o, "%%%02X", ch));
    }
    return 0;
}

/* The last words of Chromium's log (at most 600 bytes, one line). */
static void log_tail(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char buf[601];
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    fseek(f, end > 600 ? end - 600 : 0, SEEK_SET);
    size_t n = fread(buf, 1, 600, f);
    fclose(f);
    buf[n] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    snprintf(out, len, "%s", buf);
}

int web_report_pdf(const char *chromium, const char *html, const char *pdf, unsigned timeout_s,
                   char *err, size_t errlen)
{
    int rc = web_report_chromium_ok(chromium, err, errlen);
    if (rc < 0)
        return rc;
    char abs_html[4096], url[8192], tmpl[4096], home[4200], prof[4200], logp[4200];
    char a_prof[4300], a_pdf[4300];
    if (!realpath(html, abs_html) || file_url(url, sizeof url, abs_html) < 0) {
        snprintf(err, errlen, "%s: %s", html, strerror(errno ? errno : ENAMETOOLONG));
        return -ENOENT;
    }
    const char *tmpdir = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/cohort-web-print-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmpl)) {
        rc = -errno;
        snprintf(err, errlen, "cannot make a temporary directory in %s: %s",
                 tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
        return rc;
    }
    snprintf(home, sizeof home, "%s/home", tmpl);
    snprintf(prof, sizeof prof, "%s/profile", tmpl);
    snprintf(logp, sizeof logp, "%s/chromium.log", tmpl);
    mkdir(home, 0700);
    snprintf(a_prof, sizeof a_prof, "--user-data-dir=%s", prof);
    snprintf(a_pdf, sizeof a_pdf, "--print-to-pdf=%s", pdf);
    char e_home[4300], e_cfg[4300], e_cache[4300], e_path[] = "PATH=/usr/bin:/bin",
                                                   e_lang[] = "LANG=C.UTF-8";
    snprintf(e_home, sizeof e_home, "HOME=%s", home);
    snprintf(e_cfg, sizeof e_cfg, "XDG_CONFIG_HOME=%s", home);
    snprintf(e_cache, sizeof e_cache, "XDG_CACHE_HOME=%s", home);
    char *envp[] = {e_home, e_cfg, e_cache, e_path, e_lang, NULL};
    /* --no-sandbox: Chromium's own sandbox needs user namespaces (or a
     * setuid helper), which the hardened unit forbids and root may not use;
     * the page is our own HTML without script, read from a file, with the
     * network cut off below (docs/operations.md, "Board reports").
     * --no-zygote and --js-flags=--jitless let it run under the unit's
     * seccomp filter and MemoryDenyWriteExecute= (84-web-report.t runs it
     * under tests/tools/sandbox with the unit's rules). */
    char *argv[] = {(char *)chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-zygote",          /* a zygote cannot fork under the unit's seccomp */
                    "--js-flags=--jitless", /* no writable+executable memory: the unit keeps
                                               MemoryDenyWriteExecute=yes */
                    "--disable-dev-shm-usage",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-default-apps",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--host-resolver-rules=MAP * ~NOTFOUND",
                    "--proxy-server=127.0.0.1:9",
                    a_prof,
                    "--no-pdf-header-footer",
                    a_pdf,
                    url,
                    NULL};
    unlink(pdf);
    int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = logfd >= 0 && nullfd >= 0 ? fork() : -1;
    if (pid == 0) {
        setpgid(0, 0);
        dup2(nullfd, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execve(chromium, argv, envp);
        _exit(127);
    }
    if (logfd >= 0)
        close(logfd);
    if (nullfd >= 0)
        close(nullfd);
    if (pid < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot start %s: %s", chromium, strerror(errno));
        nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return rc;
    }
    setpgid(pid, pid); /* both sides, whoever runs first */
    int status = 0, done = 0;
    struct timespec step = {0, 50 * 1000 * 1000};
    for (unsigned long i = 0; i < (unsigned long)timeout_s * 20 && !done; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            done = 1;
        else if (w < 0 && errno != EINTR)
            break;
        else
            nanosleep(&step, NULL);
    }
    kill(-pid, SIGKILL); /* it, on a timeout, or what it left behind */
    if (!done)
        waitpid(pid, &status, 0);
    char tail[700];
    log_tail(logp, tail, sizeof tail);
    nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (!done) {
        snprintf(err, errlen,
                 "Chromium (%s) did not print %s within %u s; killed. Its last words: %s", chromium,
                 html, timeout_s, tail);
        unlink(pdf);
        return -ETIMEDOUT;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "Chromium (%s) failed printing %s (%s %d). Its last words: %s",
                 chromium, html, WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
        unlink(pdf);
        return -EIO;
    }
    char magic[5] = {0};
    FILE *pf = fopen(pdf, "re");
    size_t got = pf ? fread(magic, 1, 5, pf) : 0;
    if (pf)
        fclose(pf);
    if (got != 5 || memcmp(magic, "%PDF-", 5) != 0) {
        snprintf(err, errlen, "Chromium (%s) exited 0 but wrote no PDF at %s. Its last words: %s",
                 chromium, pdf, tail);
        unlink(pdf);
        return -EIO;
    }
    return 0;
}

/* ---- one report into the archive ----------------------------------------- */

static int mkdir_one(const char *p)
{
    if (mkdir(p, 0750) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int web_report_make(web_feed_t *feed, const char *topic, const char *dir, const char *date,
                    time_t now, const char *chromium, unsigned timeout_s, char **html_out,
                    char **pdf_out, char *err, size_t errlen)
{
    web_report_of_t of;
    char pdir[4096], ddir[4096], base[WEB_REPORT_ID_MAX + 16], html[4200], pdf[4200], part[4300],
        css[4200];
    if (web_report_parse_topic(topic, &of) < 0) {
        snprintf(err, errlen, "'%s' is not programme/PROGRAMME or cohort/PROGRAMME/COHORT", topic);
        return -EINVAL;
    }
    if (!date_ok(date, strlen(date))) {
        snprintf(err, errlen, "'%s' is not a date YYYY-MM-DD", date);
        return -EINVAL;
    }
    if (snprintf(pdir, sizeof pdir, "%s/%s", dir, of.programme) >= (int)sizeof pdir ||
        snprintf(ddir, sizeof ddir, "%s/%s", pdir, date) >= (int)sizeof ddir) {
        snprintf(err, errlen, "the report directory's name is too long");
        return -ENAMETOOLONG;
    }
    if (of.cohort[0])
        snprintf(base, sizeof base, "cohort-%s", of.cohort);
    else
        snprintf(base, sizeof base, "programme");
    snprintf(html, sizeof html, "%s/%s.html", ddir, base);
    snprintf(pdf, sizeof pdf, "%s/%s.pdf", ddir, base);
    snprintf(css, sizeof css, "%s/report.css", ddir);
    int rc;
    if ((rc = mkdir_one(dir)) < 0 || (rc = mkdir_one(pdir)) < 0 || (rc = mkdir_one(ddir)) < 0) {
        snprintf(err, errlen, "cannot make %s: %s", ddir, strerror(-rc));
        return rc;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    static const char *const links[] = {"report.css", NULL};
    web_report_style_t st = {links, 1};
    rc = web_report_html(m, feed, topic, &st, now);
    if (fclose(m) != 0 && rc == 0)
        rc = -ENOMEM;
    if (rc == 0 && (rc = write_file(html, buf, len, NULL, 0)) < 0)
        snprintf(err, errlen, "cannot write %s: %s", html, strerror(-rc));
    else if (rc == -ENOENT)
        snprintf(err, errlen, "cohortd publishes no %s", topic);
    else if (rc < 0)
        snprintf(err, errlen, "cannot render %s: %s", topic, strerror(-rc));
    free(buf);
    if (rc < 0)
        return rc;
    if ((rc = web_report_write_css(css)) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", css, strerror(-rc));
        return rc;
    }
    /* printed to a name the archive does not list, then renamed */
    snprintf(part, sizeof part, "%s.part", pdf);
    if ((rc = web_report_pdf(chromium, html, part, timeout_s, err, errlen)) < 0)
        return rc;
    if (rename(part, pdf) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot rename %s: %s", part, strerror(errno));
        unlink(part);
        return rc;
    }
    if (html_out)
        *html_out = strdup(html);
    if (pdf_out)
        *pdf_out = strdup(pdf);
    return 0;
}
