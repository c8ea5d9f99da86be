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
    intake_file_t *f;      /* the result */
    intake_batch_t bt;     /* the events packed so far (f->items at the end) */
    size_t problems_len;   /* bytes in f->problems */
    int oom;               /* an allocation failed */
    const pseudonym_t *ps; /* the agency's pseudonym key, or NULL */
    int raw_refs;          /* refs need not be in the pseudonym form */
} build_t;

/* The keys of a staff number and of the ref it stands for (intake.h). */
static const struct {
    const char *camel, *snake;         /* the staff number's JSON keys */
    const char *ref_camel, *ref_snake; /* the ref's */
} STAFF_KEYS[] = {
    {"staffNumber", "staff_number", "participantRef", "participant_ref"},
    {"mentorStaffNumber", "mentor_staff_number", "mentorRef", "mentor_ref"},
};

void intake_redact(char *dst, size_t n, const char *src)
{
    size_t o = 0;

    if (n == 0)
        return;
    for (const char *p = src; *p && o + 6 < n; p++) {
        const char *q;
        if (*p == '\'' && (q = strchr(p + 1, '\''))) {
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
    if (buf)
        protobuf_c_message_pack(&ev->base, buf);
    ev->event_id = saved;
    ev->occurred_at = occurred;
    if (!buf)
        return -ENOMEM;
    crypto_generichash(h, sizeof h, buf, n, (const unsigned char *)ID_KEY, sizeof ID_KEY - 1);
    free(buf);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x80); /* version 8: custom */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    if (ev->event_id.len != 16) {
        uint8_t *d = realloc(ev->event_id.data, 16);
        if (!d)
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
    if (!v || json_is_null(v))
        v = json_object_get(obj, snake);
    return v != NULL && !json_is_null(v);
}

/* A JSON key fit for a message: at most 64 printable ASCII characters. */
static void key_shown(const char *s, char out[68])
{
    size_t o = 0;

    for (; *s && o < 64; s++)
        out[o++] = (*s >= 0x20 && *s < 0x7f && *s != '\'') ? *s : '?';
    if (*s) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = 0;
}

/* 1 if the body names a mentorAgency (mentor_agency) other than the
 * Event's agency: that mentor's ref is the other agency's pseudonym, which
 * this agency's key cannot make. */
static int other_agency(json_t *ev, json_t *body)
{
    json_t *m = json_object_get(body, "mentorAgency"), *a = json_object_get(ev, "agency");
    if (!m)
        m = json_object_get(body, "mentor_agency");
    if (!json_is_string(m) || json_string_length(m) == 0)
        return 0;
    return !json_is_string(a) || strcmp(json_string_value(a), json_string_value(m)) != 0;
}

/* Replaces the staff numbers in the bodies (object members) of the Event
 * JSON object ev by their refs under ps (intake.h). Returns 1 if anything
 * was replaced or removed, 0 if there was nothing to do, or -EINVAL or
 * -ENOMEM with a message in err (never a value from the record). */
static int pseudonymise(json_t *ev, const pseudonym_t *ps, char *err, size_t errlen)
{
    const char *bkey;
    json_t *body;
    int changed = 0;

    json_object_foreach(ev, bkey, body)
    {
        char b[68];
        if (!json_is_object(body))
            continue;
        key_shown(bkey, b);
        for (size_t k = 0; k < sizeof STAFF_KEYS / sizeof STAFF_KEYS[0]; k++) {
            json_t *c = json_object_get(body, STAFF_KEYS[k].camel);
            json_t *s = json_object_get(body, STAFF_KEYS[k].snake);
            const char *key = c ? STAFF_KEYS[k].camel : STAFF_KEYS[k].snake;
            json_t *v = c ? c : s, *r;
            char ref[PSEUDONYM_REF_LEN + 1];
            if (c && s) {
                snprintf(err, errlen, "%s.%s: field given twice", b, STAFF_KEYS[k].camel);
                return -EINVAL;
            }
            if (!v)
                continue;
            if (!json_is_null(v)) {
                if (has_member(body, STAFF_KEYS[k].ref_camel, STAFF_KEYS[k].ref_snake)) {
                    snprintf(err, errlen, "%s: both %s and %s given; give one of them", b, key,
                             STAFF_KEYS[k].ref_camel);
                    return -EINVAL;
                }
                if (!json_is_string(v)) {
                    snprintf(err, errlen, "%s.%s: expected a string", b, key);
                    return -EINVAL;
                }
                if (k == 1 && other_agency(ev, body)) {
                    snprintf(err, errlen,
                             "%s: %s is made a ref under this agency's pseudonym key, but "
                             "mentorAgency names another agency: give the mentorRef that agency "
                             "registered its mentor under",
                             b, key);
                    return -EINVAL;
                }
                if (!ps) {
                    snprintf(err, errlen,
                             "%s.%s: a staff number needs the agency's pseudonym key "
                             "(--pseudonym-key FILE); it is never sent as it is",
                             b, key);
                    return -EINVAL;
                }
                if (strlen(json_string_value(v)) != json_string_length(v) ||
                    pseudonym_ref(ps, json_string_value(v), ref, sizeof ref) != 0) {
                    snprintf(err, errlen,
                             "%s.%s: not a valid staff number (1-%d printable ASCII characters, "
                             "no spaces inside)",
                             b, key, PSEUDONYM_STAFF_MAX);
                    return -EINVAL;
                }
                /* a null ref under either name would clash with the new one */
                json_object_del(body, STAFF_KEYS[k].ref_snake);
                if (!(r = json_string(ref)) ||
                    json_object_set_new(body, STAFF_KEYS[k].ref_camel, r) != 0) {
                    snprintf(err, errlen, "out of memory");
                    return -ENOMEM;
                }
            }
            json_object_del(body, key);
            changed = 1;
        }
    }
    return changed;
}

/* The JSON name of a proto field name ("participant_ref": "participantRef")
 * in out (64 bytes). */
static const char *camel(const char *name, char out[64])
{
    size_t o = 0;

    for (int up = 0; *name && o < 63; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        out[o++] = up && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
        up = 0;
    }
    out[o] = 0;
    return out;
}

/* Checks that every non-empty *_ref string of ev's body is in the pseudonym
 * form (intake.h). Returns 0, or -EINVAL with a message in err that names the
 * field, never its value. */
static int refs_pseudonymous(const Cohort__V1__Event *ev, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *d = ev->base.descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const ProtobufCMessage *body;
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE ||
            *(const uint32_t *)((const char *)ev + f->quantifier_offset) != f->id)
            continue;
        if (!(body = *(ProtobufCMessage *const *)((const char *)ev + f->offset)))
            continue;
        for (unsigned k = 0; k < body->descriptor->n_fields; k++) {
            const ProtobufCFieldDescriptor *g = &body->descriptor->fields[k];
            size_t n = strlen(g->name);
            const char *v;
            if (g->type != PROTOBUF_C_TYPE_STRING || g->label == PROTOBUF_C_LABEL_REPEATED ||
                n < 4 || strcmp(g->name + n - 4, "_ref") != 0)
                continue;
            char fb[64], gb[64];
            v = *(const char *const *)((const char *)body + g->offset);
            if (v && *v && !pseudonym_is_ref(v)) {
                snprintf(err, errlen,
                         "%s.%s: not a pseudonym (p1: and 32 characters of a-z 2-7); give the "
                         "staff number as %s with --pseudonym-key FILE, or pass --raw-refs if "
                         "the agency makes its own pseudonyms",
                         camel(f->name, fb), camel(g->name, gb),
                         strcmp(g->name, "mentor_ref") == 0 ? "mentorStaffNumber" : "staffNumber");
                return -EINVAL;
            }
        }
    }
    return 0;
}

Cohort__V1__Event *intake_jsonl_with(const char *text, size_t len, int derive,
                                     const pseudonym_t *ps, int raw_refs, char *err, size_t errlen)
{
    char raw[256];
    Cohort__V1__Event *ev;
    json_t *o = NULL;
    char *rewritten = NULL;
    int rc = 0;

    /* Every staff-number key contains "taff"; a record that spells one with
     * JSON escapes is refused below as having an unknown field. */
    if (derive || memmem(text, len, "taff", 4))
        o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (o && json_is_object(o))
        rc = pseudonymise(o, ps, raw, sizeof raw);
    if (rc > 0 && !(rewritten = json_dumps(o, JSON_COMPACT))) {
        rc = -ENOMEM;
        snprintf(raw, sizeof raw, "out of memory");
    }
    if (rc < 0) {
        intake_redact(err, errlen, raw);
        json_decref(o);
        return NULL;
    }
    ev = rewritten ? cohort_json_to_event(rewritten, strlen(rewritten), raw, sizeof raw)
                   : cohort_json_to_event(text, len, raw, sizeof raw);
    free(rewritten);
    if (!ev) {
        intake_redact(err, errlen, raw[0] ? raw : "cannot parse");
        json_decref(o);
        return NULL;
    }
    if (!raw_refs && refs_pseudonymous(ev, err, errlen) < 0) {
        cohort__v1__event__free_unpacked(ev, NULL);
        json_decref(o);
        return NULL;
    }
    if (derive) {
        int has_id = o && has_member(o, "eventId", "event_id");
        int has_at = o && has_member(o, "occurredAt", "occurred_at");
        if (!has_id && intake_derive_id(ev, has_at) < 0) {
            snprintf(err, errlen, "out of memory");
            cohort__v1__event__free_unpacked(ev, NULL);
            ev = NULL;
        }
    }
    json_decref(o);
    return ev;
}

Cohort__V1__Event *intake_jsonl(const char *text, size_t len, int derive, char *err, size_t errlen)
{
    return intake_jsonl_with(text, len, derive, NULL, 0, err, errlen);
}

/* Notes a problem ("what N: msg") on the file. */
static void problem(build_t *b, const char *what, uint32_t n, const char *msg)
{
    char line[400];
    int len;

    b->f->nproblems++;
    if (b->f->nproblems > INTAKE_MAX_PROBLEMS)
        return;
    if (what)
        len = snprintf(line, sizeof line, "%s %u: %s\n", what, n, msg);
    else
        len = snprintf(line, sizeof line, "%s\n", msg);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof line)
        len = sizeof line - 1;
    char *np = realloc(b->f->problems, b->problems_len + (size_t)len + 1);
    if (!np) {
        b->oom = 1;
        return;
    }
    memcpy(np + b->problems_len, line, (size_t)len + 1);
    b->f->problems = np;
    b->problems_len += (size_t)len;
}

int intake_skip(const char *text, size_t len)
{
    const char *s = text, *end = text + len;

    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v'))
        s++;
    return s == end || *s == '#';
}

int intake_line(const char *text, size_t len, const pseudonym_t *ps, int raw_refs,
                Cohort__V1__Event **out, char *err, size_t errlen)
{
    *out = NULL;
    if (intake_skip(text, len))
        return 0;
    *out = intake_jsonl_with(text, len, 1, ps, raw_refs, err, errlen);
    if (!*out && errlen > 0 && err[0] == '\0')
        snprintf(err, errlen, "cannot parse");
    return *out != NULL ? 1 : -EINVAL;
}

int intake_batch_push(intake_batch_t *b, const Cohort__V1__Event *ev, uint64_t line)
{
    size_t len = protobuf_c_message_get_packed_size(&ev->base);

    if (ev->event_id.len != 16 || !ev->event_id.data)
        return -EINVAL; /* an eventId of another length: it has no outbox id */
    if (len + 64 > COHORT_CLIENT_MAX_FRAME)
        return -EMSGSIZE;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        outbox_item_t *ni = realloc(b->items, nc * sizeof *ni);
        if (!ni)
            return -ENOMEM;
        b->items = ni;
        b->cap = nc;
    }
    if (b->mem_len + len > b->mem_cap) {
        size_t nc = b->mem_cap ? b->mem_cap : 65536;
        while (nc < b->mem_len + len)
            nc *= 2;
        uint8_t *nm = realloc(b->mem, nc);
        if (!nm)
            return -ENOMEM;
        b->mem = nm;
        b->mem_cap = nc;
    }
    protobuf_c_message_pack(&ev->base, b->mem + b->mem_len);
    outbox_item_t *it = &b->items[b->n++];
    memset(it, 0, sizeof *it);
    memcpy(it->id, ev->event_id.data, 16);
    it->data = (const void *)(uintptr_t)b->mem_len; /* an offset until intake_batch_seal */
    it->len = len;
    it->line = line > UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    b->mem_len += len;
    return 0;
}

void intake_batch_seal(intake_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->items[i].data = b->mem + (uintptr_t)b->items[i].data;
}

const char *intake_push_error(int rc)
{
    return rc == -EMSGSIZE ? "event too large for one frame (4 MiB)" : "eventId is not 16 bytes";
}

/* Packs ev as the next item (line n), or notes a problem if it cannot be
 * sent. Returns 0 or -ENOMEM. */
static int add_event(build_t *b, const Cohort__V1__Event *ev, uint32_t n, const char *what)
{
    int rc = intake_batch_push(&b->bt, ev, n);

    if (rc != -EMSGSIZE && rc != -EINVAL)
        return rc;
    problem(b, what, n, intake_push_error(rc));
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
        /* from the first other character: parse errors give columns so */
        while (s < le && (*s == ' ' || *s == '\t' || *s == '\f' || *s == '\v'))
            s++;
        Cohort__V1__Event *ev;
        int rc = intake_line(s, (size_t)(le - s), b->ps, b->raw_refs, &ev, err, sizeof err);
        if (rc == 0)
            continue;
        if (rc < 0) {
            problem(b, "line", lineno, err);
            continue;
        }
        rc = add_event(b, ev, lineno, "line");
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
    char *text;
    Cohort__V1__Event *ev;
    int rc;

    rc = pseudonymise(obj, b->ps, raw, sizeof raw);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        intake_redact(err, sizeof err, raw);
        problem(b, "row", row, err);
        return 0;
    }
    rc = 0;
    text = json_dumps(obj, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    ev = cohort_json_to_event(text, strlen(text), raw, sizeof raw);
    free(text);
    if (!ev) {
        intake_redact(err, sizeof err, raw[0] ? raw : "cannot parse");
        problem(b, "row", row, err);
        return 0;
    }
    if (!b->raw_refs && refs_pseudonymous(ev, err, sizeof err) < 0) {
        problem(b, "row", row, err);
        cohort__v1__event__free_unpacked(ev, NULL);
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
    return intake_file_with(path, name, NULL, 0, out, err, errlen);
}

int intake_file_with(const char *path, const char *name, const pseudonym_t *ps, int raw_refs,
                     intake_file_t *out, char *err, size_t errlen)
{
    build_t b = {.f = out, .ps = ps, .raw_refs = raw_refs};
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
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0 ||
        fstat(fd, &st) != 0) {
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
    if (st.st_size == 0) {
        rc = -ENODATA; /* never taken in: most likely a writer that has not written yet */
        snprintf(err, errlen, "%s is empty", name);
        goto out;
    }
    if (!(text = malloc((size_t)st.st_size + 1)))
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
            break; /* shrank under us: reported as changed below */
        len += (size_t)r;
    }
    text[len] = 0;
    /* Still being written? More bytes than fstat said, fewer, or another
     * size or mtime now: the file changed while it was read. */
    {
        struct stat st2;
        char extra;
        ssize_t r;
        while ((r = read(fd, &extra, 1)) < 0 && errno == EINTR)
            ;
        if (r != 0 || len != (size_t)st.st_size || fstat(fd, &st2) != 0 ||
            st2.st_size != st.st_size || st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
            st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
            rc = -EAGAIN;
            snprintf(err, errlen, "%s changed while it was read (still being written?)", name);
            goto out;
        }
    }
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
    intake_batch_seal(&b.bt);
    out->items = b.bt.items;
    out->n = b.bt.n;
    out->mem_ = b.bt.mem;
    b.bt.items = NULL;
    b.bt.mem = NULL;
    goto out;

nomem:
    rc = -ENOMEM;
    snprintf(err, errlen, "out of memory reading %s", name);
out:
    if (rc < 0) {
        free(b.bt.mem);
        free(b.bt.items);
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
    if (!f)
        return;
    free(f->items);
    free(f->problems);
    free(f->mem_);
    memset(f, 0, sizeof *f);
}
