/* csv_import.c: CSV exports to Event JSON (contract in csv_import.h).
 *
 * libcsv does the tokenising (strict RFC 4180 quoting); each completed row
 * is either the header (mapped once to protobuf field descriptors, which
 * also fixes the kind) or a data row, turned into a JSON object by those
 * descriptors. */
#include "csv_import.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cohort.pb-c.h"

#define MAX_COLS 64

/* What a column feeds. */
typedef struct {
    const ProtobufCFieldDescriptor *f; /* the field */
    int top;                           /* 1: a field of Event, 0: of the body */
    int staff;                         /* 1: staffNumber, standing for participant_ref */
    char key[64];                      /* its JSON name */
} col_t;

/* One kind of file. */
typedef struct {
    csv_kind_t kind;
    const char *name;                       /* "participants" */
    const char *marker;                     /* normalised column that tells the kind */
    const char *body;                       /* Event field of the body (snake) */
    const ProtobufCMessageDescriptor *desc; /* the body message */
    const char *required[8];                /* body fields that must have a column */
} kind_info_t;

static const kind_info_t KINDS[] = {
    {CSV_KIND_PARTICIPANTS,
     "participants",
     "ethnicity",
     "participant_registered",
     &cohort__v1__participant_registered__descriptor,
     {"participant_ref", "role", "ethnicity", "gender", "disability"}},
    {CSV_KIND_ENROLMENTS,
     "enrolments",
     "stage",
     "enrolment_changed",
     &cohort__v1__enrolment_changed__descriptor,
     {"participant_ref", "programme_id", "cohort_id", "stage"}},
    {CSV_KIND_ATTENDANCE,
     "attendance",
     "sessionid",
     "attendance_recorded",
     &cohort__v1__attendance_recorded__descriptor,
     {"participant_ref", "programme_id", "cohort_id", "component", "session_id", "session_date",
      "status", "minutes"}},
    {CSV_KIND_PROMOTIONS,
     "promotions",
     "effectiveon",
     "promotion_recorded",
     &cohort__v1__promotion_recorded__descriptor,
     {"participant_ref", "kind", "effective_on"}},
    {CSV_KIND_ASSESSMENTS,
     "assessments",
     "outcome",
     "assessment_recorded",
     &cohort__v1__assessment_recorded__descriptor,
     {"participant_ref", "programme_id", "cohort_id", "component", "piece_id", "outcome",
      "assessed_on"}},
    {CSV_KIND_AWARDS,
     "awards",
     "awardedon",
     "award_made",
     &cohort__v1__award_made__descriptor,
     {"participant_ref", "programme_id", "cohort_id", "award", "awarded_on"}},
    {CSV_KIND_LEAVERS,
     "leavers",
     "lefton",
     "leaver_recorded",
     &cohort__v1__leaver_recorded__descriptor,
     {"participant_ref", "left_on", "reason"}},
    {CSV_KIND_TARGETS,
     "targets",
     "basispoints",
     "workforce_target",
     &cohort__v1__workforce_target__descriptor,
     {"group", "basis_points"}},
    {CSV_KIND_PLANS,
     "plans",
     "reviewon",
     "plan_agreed",
     &cohort__v1__plan_agreed__descriptor,
     {"participant_ref", "programme_id", "cohort_id", "agreed_on", "review_on"}},
    {CSV_KIND_REVIEWS,
     "reviews",
     "reviewedon",
     "review_recorded",
     &cohort__v1__review_recorded__descriptor,
     {"participant_ref", "programme_id", "cohort_id", "reviewed_on", "outcome"}},
    {CSV_KIND_DECISIONS,
     "decisions",
     "decidedon",
     "board_decision",
     &cohort__v1__board_decision__descriptor,
     {"participant_agency", "participant_ref", "programme_id", "cohort_id", "decided_on",
      "decision", "reason"}},
};
#define NKINDS (sizeof KINDS / sizeof KINDS[0])

/* Parse state shared with the libcsv callbacks. */
typedef struct {
    const char *name;      /* file name */
    csv_row_fn fn;         /* row callback */
    void *arg;             /* its argument */
    csv_kind_t *kind_out;  /* caller's kind, or NULL */
    char *err;             /* message buffer */
    size_t errlen;         /* its size */
    int rc;                /* non-zero: stopped */
    int have_header;       /* header row seen */
    uint32_t row;          /* number of the last row (the header is 1) */
    char **cells;          /* current row's cells (NUL-ended copies) */
    size_t *lens;          /* their lengths */
    size_t ncells, cap;    /* count, room */
    const kind_info_t *ki; /* the file's kind */
    char body_key[64];     /* JSON name of the body field */
    col_t cols[MAX_COLS];  /* header mapping */
    size_t ncols;          /* columns */
} ctx_t;

const char *csv_kind_name(csv_kind_t kind)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (KINDS[i].kind == kind)
            return KINDS[i].name;
    return "unknown";
}

/* lowerCamelCase of a snake_case name into out (n bytes). */
static void camel(const char *name, char *out, size_t n)
{
    size_t o = 0;
    int up = 0;
    for (; *name && o + 1 < n; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        out[o++] = up ? (char)toupper((unsigned char)*name) : *name;
        up = 0;
    }
    out[o] = 0;
}

/* Lower-cases s without '_', '-', spaces and tabs into out (n bytes). */
static void norm(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++)
        if (*s != '_' && *s != '-' && *s != ' ' && *s != '\t')
            out[o++] = (char)tolower((unsigned char)*s);
    out[o] = 0;
}

/* A column title fit for an error message: at most 40 printable ASCII
 * characters (column titles are names of fields, not data). */
static void shown(const char *s, char out[48])
{
    size_t o = 0;
    for (; *s && o < 40; s++)
        out[o++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
    if (*s)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = 0;
}

static int fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    if (c->rc)
        return c->rc;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    c->rc = -EINVAL;
    return c->rc;
}

/* The kind the file name names, or NONE (no kind word, or two kinds). */
static const kind_info_t *kind_from_name(const char *name)
{
    static const struct {
        const char *word;
        csv_kind_t kind;
    } words[] = {{"participant", CSV_KIND_PARTICIPANTS},
                 {"participants", CSV_KIND_PARTICIPANTS},
                 {"enrolment", CSV_KIND_ENROLMENTS},
                 {"enrolments", CSV_KIND_ENROLMENTS},
                 {"enrollment", CSV_KIND_ENROLMENTS},
                 {"enrollments", CSV_KIND_ENROLMENTS},
                 {"attendance", CSV_KIND_ATTENDANCE},
                 {"attendances", CSV_KIND_ATTENDANCE},
                 {"promotion", CSV_KIND_PROMOTIONS},
                 {"promotions", CSV_KIND_PROMOTIONS},
                 {"assessment", CSV_KIND_ASSESSMENTS},
                 {"assessments", CSV_KIND_ASSESSMENTS},
                 {"award", CSV_KIND_AWARDS},
                 {"awards", CSV_KIND_AWARDS},
                 {"leaver", CSV_KIND_LEAVERS},
                 {"leavers", CSV_KIND_LEAVERS},
                 {"target", CSV_KIND_TARGETS},
                 {"targets", CSV_KIND_TARGETS},
                 {"plan", CSV_KIND_PLANS},
                 {"plans", CSV_KIND_PLANS},
                 {"review", CSV_KIND_REVIEWS},
                 {"reviews", CSV_KIND_REVIEWS},
                 {"decision", CSV_KIND_DECISIONS},
                 {"decisions", CSV_KIND_DECISIONS}};
    csv_kind_t found = CSV_KIND_NONE;
    const char *p = name;

    while (*p) {
        char w[32];
        size_t n = 0;
        while (*p && !isalpha((unsigned char)*p))
            p++;
        while (isalpha((unsigned char)*p)) {
            if (n + 1 < sizeof w)
                w[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        w[n] = 0;
        for (size_t i = 0; n > 0 && i < sizeof words / sizeof words[0]; i++) {
            if (strcmp(w, words[i].word) != 0)
                continue;
            if (found != CSV_KIND_NONE && found != words[i].kind)
                return NULL; /* two kinds named: say nothing */
            found = words[i].kind;
        }
    }
    for (size_t i = 0; i < NKINDS; i++)
        if (KINDS[i].kind == found)
            return &KINDS[i];
    return NULL;
}

static const ProtobufCFieldDescriptor *field_by_norm(const ProtobufCMessageDescriptor *d,
                                                     const char *n)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        char fn[64];
        norm(d->fields[i].name, fn, sizeof fn);
        if (strcmp(fn, n) == 0)
            return &d->fields[i];
    }
    return NULL;
}

static void header(ctx_t *c)
{
    const kind_info_t *by_head = NULL, *by_name = kind_from_name(c->name);
    char n[64], s[48];

    if (c->ncells > MAX_COLS) {
        fail(c, "header: more than %d columns", MAX_COLS);
        return;
    }
    for (size_t k = 0; k < c->ncells; k++) {
        norm(c->cells[k], n, sizeof n);
        for (size_t i = 0; i < NKINDS; i++) {
            if (strcmp(n, KINDS[i].marker) != 0)
                continue;
            /* a reviews file has an outcome column too (the assessments
             * marker): reviewedOn says reviews */
            if (by_head && by_head->kind == CSV_KIND_REVIEWS &&
                KINDS[i].kind == CSV_KIND_ASSESSMENTS)
                continue;
            if (by_head && by_head->kind == CSV_KIND_ASSESSMENTS &&
                KINDS[i].kind == CSV_KIND_REVIEWS)
                by_head = NULL;
            if (by_head && by_head != &KINDS[i]) {
                fail(c, "header: has columns of both a %s and a %s file", by_head->name,
                     KINDS[i].name);
                return;
            }
            by_head = &KINDS[i];
        }
    }
    if (by_head && by_name && by_head != by_name) {
        fail(c, "header: the file name says %s, the columns say %s", by_name->name, by_head->name);
        return;
    }
    c->ki = by_head ? by_head : by_name;
    if (!c->ki) {
        fail(c, "header: cannot tell the kind of file (no column ethnicity, stage, sessionId or "
                "effectiveOn, and no kind word in the file name)");
        return;
    }
    if (c->kind_out)
        *c->kind_out = c->ki->kind;
    camel(c->ki->body, c->body_key, sizeof c->body_key);
    c->ncols = c->ncells;
    for (size_t k = 0; k < c->ncells; k++) {
        col_t *col = &c->cols[k];
        norm(c->cells[k], n, sizeof n);
        shown(c->cells[k], s);
        col->top = 1;
        col->f = NULL;
        if (strcmp(n, "eventid") == 0 || strcmp(n, "agency") == 0 || strcmp(n, "occurredat") == 0)
            col->f = field_by_norm(&cohort__v1__event__descriptor, n);
        col->staff = 0;
        if (!col->f) {
            col->top = 0;
            col->f = field_by_norm(c->ki->desc, n);
            /* a board's decisions name another agency's person: by
             * participantRef only (the board holds no agency's secret) */
            if (!col->f && strcmp(n, "staffnumber") == 0 && c->ki->kind != CSV_KIND_DECISIONS) {
                /* the agent replaces it by the ref (intake.h, pseudonym.h) */
                col->f = field_by_norm(c->ki->desc, "participantref");
                col->staff = 1;
            }
        }
        /* a repeated string or enum is one cell, its values separated by ';' */
        if (!col->f ||
            (col->f->label == PROTOBUF_C_LABEL_REPEATED &&
             (col->top ||
              (col->f->type != PROTOBUF_C_TYPE_STRING && col->f->type != PROTOBUF_C_TYPE_ENUM))) ||
            col->f->type == PROTOBUF_C_TYPE_MESSAGE ||
            (col->f->type == PROTOBUF_C_TYPE_BYTES && !col->top)) {
            fail(c, "header: column %zu ('%s') is not a field of a %s file", k + 1,
                 n[0] ? s : "(empty)", c->ki->name);
            return;
        }
        camel(col->f->name, col->key, sizeof col->key);
        if (col->staff)
            snprintf(col->key, sizeof col->key, "staffNumber");
        for (size_t j = 0; j < k; j++)
            if (c->cols[j].f == col->f && c->cols[j].staff != col->staff) {
                fail(c, "header: columns %zu and %zu are staffNumber and participantRef; give one",
                     j + 1, k + 1);
                return;
            } else if (c->cols[j].f == col->f) {
                fail(c, "header: column %zu ('%s') repeats column %zu", k + 1, s, j + 1);
                return;
            }
    }
    /* Required columns. */
    const char *need[10] = {"agency"};
    size_t nneed = 1;
    for (size_t i = 0; i < 8 && c->ki->required[i]; i++)
        need[nneed++] = c->ki->required[i];
    for (size_t i = 0; i < nneed; i++) {
        int have = 0;
        for (size_t k = 0; k < c->ncols && !have; k++)
            have = strcmp(c->cols[k].f->name, need[i]) == 0;
        if (!have) {
            char key[64];
            camel(need[i], key, sizeof key);
            fail(c, "header: a %s file needs a column %s", c->ki->name, key);
            return;
        }
    }
    c->have_header = 1;
    c->row = 1; /* the header is row 1, as a spreadsheet shows it */
}

/* A bool cell: 1 true, 0 false, -1 not a bool word. */
static int bool_word(const char *s)
{
    static const char *t[] = {"true", "yes", "y", "1"}, *f[] = {"false", "no", "n", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0)
            return 1;
        if (strcasecmp(s, f[i]) == 0)
            return 0;
    }
    return -1;
}

/* A repeated field's cell: the values between ';', trimmed, empty ones
 * skipped, as a JSON array of strings; NULL if one is not UTF-8 (or no
 * memory). */
static json_t *list_cell(const char *v)
{
    json_t *a = json_array();
    while (a && *v) {
        const char *e = strchr(v, ';'), *b = v;
        size_t n = e ? (size_t)(e - v) : strlen(v);
        v += n + (e ? 1 : 0);
        while (n > 0 && (*b == ' ' || *b == '\t'))
            b++, n--;
        while (n > 0 && (b[n - 1] == ' ' || b[n - 1] == '\t'))
            n--;
        if (n && json_array_append_new(a, json_stringn(b, n)) != 0)
            return json_decref(a), NULL;
    }
    return a;
}

static void data_row(ctx_t *c)
{
    json_t *top = NULL, *body = NULL;
    int rc;

    c->row++;
    if (c->ncells != c->ncols) {
        fail(c, "row %u: has %zu fields, the header has %zu", c->row, c->ncells, c->ncols);
        return;
    }
    if (!(top = json_object()) || !(body = json_object()))
        goto nomem;
    for (size_t k = 0; k < c->ncols; k++) {
        const col_t *col = &c->cols[k];
        char *v = c->cells[k];
        json_t *j;
        if (c->lens[k] == 0)
            continue;
        if (col->f->type == PROTOBUF_C_TYPE_ENUM) {
            for (char *p = v; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        }
        if (col->f->label == PROTOBUF_C_LABEL_REPEATED)
            j = list_cell(v);
        else if (col->f->type == PROTOBUF_C_TYPE_BOOL && bool_word(v) >= 0)
            j = json_boolean(bool_word(v));
        else
            j = json_stringn(v, c->lens[k]);
        if (!j) {
            fail(c, "row %u: column %s is not valid UTF-8", c->row, col->key);
            goto out;
        }
        if (json_object_set_new(col->top ? top : body, col->key, j) != 0)
            goto nomem;
    }
    if (json_object_set_new(top, c->body_key, body) != 0) {
        body = NULL;
        goto nomem;
    }
    body = NULL;
    if ((rc = c->fn(c->arg, top, c->row)) != 0)
        c->rc = rc;
    goto out;
nomem:
    c->rc = -ENOMEM;
    snprintf(c->err, c->errlen, "out of memory");
out:
    json_decref(body);
    json_decref(top);
}

/* libcsv: one field of the current row. */
static void on_field(void *s, size_t len, void *data)
{
    ctx_t *c = data;
    char *cell;

    if (c->rc)
        return;
    if (c->ncells == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        char **ncl = realloc(c->cells, nc * sizeof *ncl);
        size_t *nl = ncl ? realloc(c->lens, nc * sizeof *nl) : NULL;
        if (ncl)
            c->cells = ncl;
        if (!nl) {
            c->rc = -ENOMEM;
            snprintf(c->err, c->errlen, "out of memory");
            return;
        }
        c->lens = nl;
        c->cap = nc;
    }
    /* trim spaces and tabs (libcsv keeps them inside quotes only) */
    const char *p = s ? s : "";
    while (len > 0 && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (!(cell = malloc(len + 1))) {
        c->rc = -ENOMEM;
        snprintf(c->err, c->errlen, "out of memory");
        return;
    }
    memcpy(cell, p, len);
    cell[len] = 0;
    c->cells[c->ncells] = cell;
    c->lens[c->ncells] = len;
    c->ncells++;
}

static void clear_row(ctx_t *c)
{
    for (size_t k = 0; k < c->ncells; k++)
        free(c->cells[k]);
    c->ncells = 0;
}

/* libcsv: end of a row. */
static void on_row(int ch, void *data)
{
    ctx_t *c = data;
    (void)ch;
    if (!c->rc) {
        if (!c->have_header)
            header(c);
        else
            data_row(c);
    }
    clear_row(c);
}

int csv_import(const void *data, size_t len, const char *name, csv_row_fn fn, void *arg,
               csv_kind_t *kind, char *err, size_t errlen)
{
    struct csv_parser p;
    ctx_t c = {.name = name ? name : "",
               .fn = fn,
               .arg = arg,
               .kind_out = kind,
               .err = err,
               .errlen = errlen};
    const unsigned char *d = data;
    int rc;

    if (err && errlen)
        err[0] = 0;
    if (kind)
        *kind = CSV_KIND_NONE;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (len >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf)
        d += 3, len -= 3;
    if (csv_parse(&p, d, len, on_field, on_row, &c) != len && !c.rc)
        fail(&c, "CSV syntax error after row %u: %s", c.row, csv_strerror(csv_error(&p)));
    if (!c.rc && csv_fini(&p, on_field, on_row, &c) != 0)
        fail(&c, "CSV syntax error at the end (after row %u): %s", c.row,
             csv_strerror(csv_error(&p)));
    if (!c.rc && !c.have_header)
        fail(&c, "no header row");
    csv_free(&p);
    clear_row(&c);
    free(c.cells);
    free(c.lens);
    rc = c.rc;
    return rc;
}
