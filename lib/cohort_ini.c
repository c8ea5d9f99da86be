/* cohort_ini.c: INI files through inih, with file:line in every error (see
 * cohort_ini.h). Debian's inih is built without line numbers for the
 * handler, so lines are fed to it by our own reader (ini_parse_stream),
 * which counts them and checks each line's shape first: inih is then only
 * given well-formed lines, and its own error return is a safety net. */
#include "cohort_ini.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An option taken, to find it given twice. */
typedef struct {
    char *section; /* its section */
    char *key;     /* its name */
    int line;      /* where it was */
} seen_t;

/* One parse. */
typedef struct {
    const cohort_ini_t *ini; /* what to read, whom to tell */
    FILE *f;                 /* the open file */
    char *buf;               /* getline's buffer */
    size_t cap;              /* its size */
    int line;                /* physical lines read so far */
    int errors;              /* errors reported */
    int skip;                /* the current section is unknown or broken: ignore its options */
    int io_error;            /* errno of a failed read, or 0 */
    seen_t *seen;            /* options taken */
    size_t nseen, capseen;   /* used and allocated entries of seen */
} parse_t;

/* Reports "PATH:LINE: <fmt>" (line 0: "PATH: <fmt>") and counts it. */
__attribute__((format(printf, 3, 4))) static void report(parse_t *p, int line, const char *fmt, ...)
{
    char *why = NULL, *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&why, fmt, ap);
    va_end(ap);
    if (rc >= 0)
        rc = line > 0 ? asprintf(&msg, "%s:%d: %s", p->ini->path, line, why)
                      : asprintf(&msg, "%s: %s", p->ini->path, why);
    p->ini->on_error(p->ini->arg, rc >= 0 ? msg : "out of memory while reporting an error");
    free(why);
    if (rc >= 0)
        free(msg);
    p->errors++;
}

/* inih's find_chars_or_comment: the first character of s that is in chars,
 * or a ';' after a space (an inline comment), or the end of s. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;
    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* The known sections as "[a], [b], [c]", in out (len bytes). */
static const char *known_sections(const parse_t *p, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *const *s = p->ini->sections; *s; s++) {
        int n = snprintf(out + used, len - used, "%s[%s]", used ? ", " : "", *s);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return out;
}

/* Checks a "[name]" line (start points at the '['). Returns 0 if inih
 * may have it, -1 after reporting why not. Sets p->skip. */
static int section_line(parse_t *p, const char *start)
{
    char known[512];
    const char *end = find_chars_or_comment(start + 1, "]");
    if (*end != ']') {
        report(p, p->line, "'[' without a closing ']'");
        p->skip = 1;
        return -1;
    }
    const char *rest = end + 1;
    rest += strspn(rest, " \t\v\f");
    if (*rest && *rest != ';' && *rest != '#') {
        report(p, p->line, "text after the section's ']'");
        p->skip = 1;
        return -1;
    }
    size_t n = (size_t)(end - start - 1);
    for (const char *const *s = p->ini->sections; *s; s++)
        if (strlen(*s) == n && strncmp(*s, start + 1, n) == 0) {
            p->skip = 0;
            return 0;
        }
    report(p, p->line, "unknown section [%.*s] (known: %s)", (int)n, start + 1,
           known_sections(p, known, sizeof known));
    p->skip = 1;
    return 0; /* inih may still have it: its options are skipped */
}

/* inih's reader: returns the next physical line (in str, num bytes), or an
 * empty line in its place when it is reported as bad here; NULL at the end
 * or on a read error. */
static char *reader(char *str, int num, void *stream)
{
    parse_t *p = stream;
    errno = 0;
    ssize_t n = getline(&p->buf, &p->cap, p->f);
    if (n < 0) {
        if (ferror(p->f))
            p->io_error = errno ? errno : EIO;
        return NULL;
    }
    p->line++;
    char *s = p->buf;
    size_t len = (size_t)n;
    str[0] = '\0';
    if (len > 0 && s[len - 1] == '\n')
        s[--len] = '\0';
    if (len > 0 && s[len - 1] == '\r')
        s[--len] = '\0';
    if (memchr(s, '\0', len)) {
        report(p, p->line, "NUL byte in the line");
        return str;
    }
    if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        len -= 3;
    }
    if (num < 4 || len > (size_t)num - 3) {
        report(p, p->line, "line longer than %d characters", num < 4 ? 0 : num - 3);
        return str;
    }
    while (isspace((unsigned char)*s))
        s++; /* never a continuation line */
    if (*s == '\0' || *s == '#' || *s == ';')
        return str; /* blank or comment */
    if (*s == '[') {
        if (section_line(p, s) < 0)
            return str;
    } else {
        const char *end = find_chars_or_comment(s, "=:");
        if ((*end != '=' && *end != ':') || end == s) {
            report(p, p->line, "expected 'option = value', '[section]' or a comment");
            return str;
        }
    }
    memcpy(str, s, strlen(s) + 1);
    return str;
}

/* inih's handler: one option of the line just read. Always returns 1 (go
 * on): errors are reported here, with the line. */
static int handler(void *user, const char *section, const char *key, const char *value)
{
    parse_t *p = user;
    char why[512] = "", known[512];
    if (p->skip)
        return 1;
    if (*section == '\0') {
        report(p, p->line, "option '%s': outside any section (sections: %s)", key,
               known_sections(p, known, sizeof known));
        return 1;
    }
    for (size_t i = 0; i < p->nseen; i++)
        if (strcmp(p->seen[i].key, key) == 0 && strcmp(p->seen[i].section, section) == 0) {
            report(p, p->line, "option '%s': given twice in [%s] (first on line %d)", key, section,
                   p->seen[i].line);
            return 1;
        }
    if (p->ini->on_value(p->ini->arg, section, key, value, p->line, why, sizeof why) < 0) {
        report(p, p->line, "option '%s': %s", key, why[0] ? why : "refused");
        return 1;
    }
    if (p->nseen == p->capseen) {
        size_t cap = p->capseen ? 2 * p->capseen : 16;
        seen_t *v = realloc(p->seen, cap * sizeof *v);
        if (!v) {
            report(p, p->line, "out of memory");
            return 1;
        }
        p->seen = v;
        p->capseen = cap;
    }
    seen_t *e = &p->seen[p->nseen];
    e->section = strdup(section);
    e->key = strdup(key);
    e->line = p->line;
    if (!e->section || !e->key) {
        free(e->section);
        free(e->key);
        report(p, p->line, "out of memory");
        return 1;
    }
    p->nseen++;
    return 1;
}

int cohort_ini_parse(const cohort_ini_t *ini)
{
    parse_t p = {.ini = ini};
    int rc;
    if (!(p.f = fopen(ini->path, "r"))) {
        rc = -errno;
        report(&p, 0, "cannot read: %s", strerror(-rc));
        return rc;
    }
    rc = ini_parse_stream(reader, &p, handler, &p);
    if (p.io_error) {
        report(&p, 0, "cannot read: %s", strerror(p.io_error));
        rc = -p.io_error;
    } else if (rc == -2) {
        report(&p, 0, "out of memory");
        rc = -ENOMEM;
    } else {
        if (rc > 0) /* a line inih refused that the checks above let through */
            report(&p, rc, "syntax error");
        rc = p.errors;
    }
    fclose(p.f);
    free(p.buf);
    for (size_t i = 0; i < p.nseen; i++) {
        free(p.seen[i].section);
        free(p.seen[i].key);
    }
    free(p.seen);
    return rc;
}

int cohort_ini_bool(const char *value, int *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}
