/* intake.c: agency exports to packed events (contract in intake.h). */
#include "intake.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cohort_client.h"
#include "cohort_json.h"
#include "csv_import.h"

/* Key of the derived-id hash: changing it changes every derived id. */
static const char ID_KEY[] = "cohort-agent derived event id v1";

/* What is built while reading one file. */
typedef struct {
    intake_file_t *f;    /* the result */
    size_t cap;          /* room in f->items */
    uint8_t *mem;        /* packed events back to back */
    size_t mem_len;      /* bytes used */
    size_t mem_cap;      /* room */
    size_t problems_len; /* bytes in f->problems */
    int oom;             /* an allocation failed */
} build_t;

void intake_redact(char *dst, size_t n, const char *src)
{
    size_t o = 0;

    if (n == 0)
        return;
    for (const char *p = src; *p && o + 6 < n; p++) {
        const char *q;
        if (*p == '\'' && (q = strchr(p + 1, '\'')) != NULL) {
            /* Single-character tokens ('{', ',') are syntax, not data. */
            size_t len = q - p > 2 ? 5 : (size_t)(q - p) + 1;
            if (o + len + 1 >= n)
                break;
            memcpy(dst + o, q - p > 2 ? "'...'" : p, len);
            o += len;
            p = q;
            continue;
        }
        dst[o++] = *p;
    }
    dst[o] = '\0';
}

int intake_derive_id(Cohort__V1__Event *ev, int occurred_given)
{
    ProtobufCBinaryData saved = ev->event_id;
    int64_t occurred = ev->occurred_at;
    uint8_t h[16], *buf;
    size_t n;

    if (sodium_init() < 0)
        return -EIO;
    ev->event_id.data = NULL;
    ev->event_id.len = 0;
    if (!occurred_given)
        ev->occurred_at = 0;
    n = protobuf_c_message_get_packed_size(&ev->base);
    buf = malloc(n ? n : 1);
    if (buf != NULL)
        protobuf_c_message_pack(&ev->base, buf);
    ev->event_id = saved;
    ev->occurred_at = occurred;
    if (buf == NULL)
        return -ENOMEM;
    crypto_generichash(h, sizeof h, buf, n, (const unsigned char *)ID_KEY, sizeof ID_KEY - 1);
    free(buf);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80); /* version 8: custom */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    if (ev->event_id.len != 16) {
        uint8_t *d = realloc(ev->event_id.data, 16);
        if (d == NULL)
            return -ENOMEM;
        ev->event_id.data = d;
        ev->event_id.len = 16;
    }
    memcpy(ev->event_id.data, h, 16);
    return 0;
}

/* True if obj has a non-null member key (camel) or snake. */
static int has_member(json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (v == NULL || json_is_null(v))
        v = json_object_get(obj, snake);
    return v != NULL && !json_is_null(v);
}

Cohort__V1__Event *intake_jsonl(const char *text, size_t len, int derive, char *err, size_t errlen)
{
    char raw[256];
    Cohort__V1__Event *ev = cohort_json_to_event(text, len, raw, sizeof raw);

    if (ev == NULL) {
        intake_redact(err, errlen, raw[0] ? raw : "cannot parse");
        return NULL;
    }
    if (derive) {
        json_t *o = json_loadb(text, len, 0, NULL);
        int has_id = o && has_member(o, "eventId", "event_id");
        int has_at = o && has_member(o, "occurredAt", "occurred_at");
        json_decref(o);
        if (!has_id && intake_derive_id(ev, has_at) < 0) {
            snprintf(err, errlen, "out of memory");
            cohort__v1__event__free_unpacked(ev, NULL);
            return NULL;
        }
    }
    return ev;
}

/* Notes a problem ("what N: msg") on the file. */
static void problem(build_t *b, const char *what, uint32_t n, const char *msg)
{
    char line[400];
    int len;

    b->f->nproblems++;
    if (b->f->nproblems > INTAKE_MAX_PROBLEMS)
        return;
    if (what != NULL)
        len = snprintf(line, sizeof line, "%s %u: %s\n", what, n, msg);
    else
        len = snprintf(line, sizeof line, "%s\n", msg);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line)
        len = sizeof line - 1;
    char *np = realloc(b->f->problems, b->problems_len + (size_t)len + 1);
    if (np == NULL) {
        b->oom = 1;
        return;
    }
    memcpy(np + b->problems_len, line, (size_t)len + 1);
    b->f->problems = np;
    b->problems_len += (size_t)len;
}

/* Packs ev as the next item (line n). Returns 0 or -ENOMEM. */
static int add_event(build_t *b, const Cohort__V1__Event *ev, uint32_t n, const char *what)
{
    size_t len = protobuf_c_message_get_packed_size(&ev->base);

    if (len + 64 > COHORT_CLIENT_MAX_FRAME) {
        problem(b, what, n, "event too large for one frame (4 MiB)");
        return 0;
    }
    if (b->f->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        outbox_item_t *ni = realloc(b->f->items, nc * sizeof *ni);
        if (ni == NULL)
            return -ENOMEM;
        b->f->items = ni;
        b->cap = nc;
    }
    if (b->mem_len + len > b->mem_cap) {
        size_t nc = b->mem_cap ? b->mem_cap : 65536;
        while (nc < b->mem_len + len)
            nc *= 2;
        uint8_t *nm = realloc(b->mem, nc);
        if (nm == NULL)
            return -ENOMEM;
        b->mem = nm;
        b->mem_cap = nc;
    }
    protobuf_c_message_pack(&ev->base, b->mem + b->mem_len);
    outbox_item_t *it = &b->f->items[b->f->n++];
    memset(it, 0, sizeof *it);
    memcpy(it->id, ev->event_id.data, 16);
    it->data = (const void *)(uintptr_t)b->mem_len; /* an offset until the end */
    it->len = len;
    it->line = n;
    b->mem_len += len;
    return 0;
}

static int jsonl_lines(build_t *b, char *text, size_t len)
{
    uint32_t lineno = 0;
    char *p = text, *end = text + len;

    if (len >= 3 && (uint8_t)p[0] == 0xef && (uint8_t)p[1] == 0xbb && (uint8_t)p[2] == 0xbf)
        p += 3;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end, *s = p;
        char err[256];
        lineno++;
        p = nl ? nl + 1 : end;
        if (le > s && le[-1] == '\r')
            le--;
        while (s < le && (*s == ' ' || *s == '\t' || *s == '\f' || *s == '\v'))
            s++;
        if (s == le || *s == '#')
            continue;
        Cohort__V1__Event *ev = intake_jsonl(s, (size_t)(le - s), 1, err, sizeof err);
        if (ev == NULL) {
            problem(b, "line", lineno, err);
            continue;
        }
        int rc = add_event(b, ev, lineno, "line");
        cohort__v1__event__free_unpacked(ev, NULL);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* csv_import callback: one row as Event JSON. */
static int csv_row(void *arg, json_t *obj, uint32_t row)
{
    build_t *b = arg;
    char raw[256], err[256];
    char *text = json_dumps(obj, JSON_COMPACT);
    Cohort__V1__Event *ev;
    int rc = 0;

    if (text == NULL)
        return -ENOMEM;
    ev = cohort_json_to_event(text, strlen(text), raw, sizeof raw);
    free(text);
    if (ev == NULL) {
        intake_redact(err, sizeof err, raw[0] ? raw : "cannot parse");
        problem(b, "row", row, err);
        return 0;
    }
    if (!has_member(obj, "eventId", "event_id"))
        rc = intake_derive_id(ev, has_member(obj, "occurredAt", "occurred_at"));
    if (rc == 0)
        rc = add_event(b, ev, row, "row");
    cohort__v1__event__free_unpacked(ev, NULL);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

int intake_file(const char *path, const char *name, intake_file_t *out, char *err, size_t errlen)
{
    build_t b = {.f = out};
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int fd = -1, rc = 0, csv;

    memset(out, 0, sizeof *out);
    if (ends_with(name, ".csv"))
        csv = 1;
    else if (ends_with(name, ".jsonl"))
        csv = 0;
    else {
        snprintf(err, errlen, "%s: not a .jsonl or .csv file", name);
        return -EINVAL;
    }
    out->kind = csv ? "csv" : "jsonl";
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot read %s: %s", name, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s is not a regular file", name);
        goto out;
    }
    if ((uint64_t)st.st_size > INTAKE_MAX_FILE) {
        rc = -EFBIG;
        snprintf(err, errlen, "%s is larger than %u MiB", name, INTAKE_MAX_FILE >> 20);
        goto out;
    }
    if ((text = malloc((size_t)st.st_size + 1)) == NULL)
        goto nomem;
    while (len < (size_t)st.st_size) {
        ssize_t r = read(fd, text + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot read %s: %s", name, strerror(-rc));
            goto out;
        }
        if (r == 0)
            break; /* shrank under us: hash and read what is there */
        len += (size_t)r;
    }
    text[len] = 0;
    if (sodium_init() < 0) {
        rc = -EIO;
        snprintf(err, errlen, "libsodium failed to initialise");
        goto out;
    }
    crypto_generichash(out->hash, sizeof out->hash, (const unsigned char *)text, len, NULL, 0);
    if (csv) {
        csv_kind_t kind = CSV_KIND_NONE;
        char msg[256];
        rc = csv_import(text, len, name, csv_row, &b, &kind, msg, sizeof msg);
        out->kind = csv_kind_name(kind);
        if (rc == -EINVAL) {
            problem(&b, NULL, 0, msg);
            rc = 0;
        }
    } else {
        rc = jsonl_lines(&b, text, len);
    }
    if (rc == 0 && b.oom)
        rc = -ENOMEM;
    if (rc == -ENOMEM)
        goto nomem;
    if (rc < 0) {
        snprintf(err, errlen, "cannot read %s: %s", name, strerror(-rc));
        goto out;
    }
    for (size_t i = 0; i < out->n; i++)
        out->items[i].data = b.mem + (uintptr_t)out->items[i].data;
    out->mem_ = b.mem;
    b.mem = NULL;
    goto out;

nomem:
    rc = -ENOMEM;
    snprintf(err, errlen, "out of memory reading %s", name);
out:
    if (rc < 0) {
        free(b.mem);
        free(out->items);
        free(out->problems);
        memset(out, 0, sizeof *out);
    }
    free(text);
    if (fd >= 0)
        close(fd);
    return rc;
}

void intake_file_free(intake_file_t *f)
{
    if (f == NULL)
        return;
    free(f->items);
    free(f->problems);
    free(f->mem_);
    memset(f, 0, sizeof *f);
}
