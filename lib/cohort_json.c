/* cohort_json.c: the proto3 JSON mapping for cohort.v1 messages, walking
 * the protobuf-c descriptors (jansson for JSON, libsodium for base64).
 *
 * About 1,000 lines on purpose: the mapping both ways (to and from JSON)
 * shares the descriptor walk and the rules below, read together.
 *
 * Contract: see cohort_json.h. The details settled here:
 * - Names: output is lowerCamelCase (protoc's json_name); input matches the
 *   camel or the snake form. Unknown keys, a field given twice (in either
 *   form) and two members of one oneof are errors. null means "not set".
 * - Integers: JSON numbers (integral values such as 1e3 too) or decimal
 *   strings; values out of range for the field type are errors. Output is
 *   numbers, except uint64 above INT64_MAX, written as a decimal string.
 * - Enums: by name, or by any int32 number (unknown numbers pass through
 *   for the daemon to judge). Output: the name, or the number if unknown.
 * - bytes: base64, standard or URL-safe, padding optional; output standard
 *   with padding. A bytes field named event_id also takes UUID text and is
 *   written as UUID text when it is 16 bytes long.
 * - An int64 field named occurred_at (microseconds) also takes RFC 3339
 *   ("2009-04-01T09:00:00Z", "...T10:00:00.5+01:00"; digits past the 6th
 *   are dropped) and is written as RFC 3339 UTC with 6 fraction digits.
 * - float/double: numbers, or "NaN", "Infinity", "-Infinity".
 * - Output skips fields at their default value, except an Event's eventId,
 *   agency and occurredAt; set message fields and oneof members always show.
 * - Errors are one line: "<key path>: <problem>", e.g.
 *   "participantRegistered.ethnicity: unknown enum value 'X9'".
 * Messages built here are malloc'd throughout, so
 * protobuf_c_message_free_unpacked(m, NULL) frees them, also half-built. */
#include "cohort_json.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "civil.h"
#include "uuid7.h"

/* ------------------------------------------------------------ helpers --- */

/* Parse context: the JSON key path so far and where errors go. */
struct pctx {
    char path[256];
    size_t plen;
    char *err;
    size_t errlen;
};

/* Calls sodium_init once. Returns 0 or -EIO. */
static int sodium_ready(void)
{
    static atomic_int done;

    if (atomic_load(&done))
        return 0;
    if (sodium_init() < 0)
        return -EIO;
    atomic_store(&done, 1);
    return 0;
}

/* Copies at most 64 bytes of s into out, control characters as '?', so
 * an error message stays on one line. */
static void clip(char out[68], const char *s)
{
    size_t i;

    for (i = 0; i < 64 && s[i]; i++)
        out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = 0;
}

/* Writes "path: message" into the error buffer. Returns rc. */
static int fail_rc(struct pctx *c, int rc, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    if (!c->err || c->errlen == 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->plen > 0)
        snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
    else
        snprintf(c->err, c->errlen, "%s", msg);
    return rc;
}

#define fail(c, ...) fail_rc((c), -EINVAL, __VA_ARGS__)

/* Appends ".key" (or "key" at the top) to the path. Returns the old length. */
static size_t push_key(struct pctx *c, const char *key)
{
    size_t old = c->plen;
    char k[68];

    clip(k, key);
    if (old < sizeof c->path - 1)
        snprintf(c->path + old, sizeof c->path - old, "%s%s", old ? "." : "", k);
    c->plen = strlen(c->path);
    return old;
}

/* Appends "[i]" to the path. Returns the old length. */
static size_t push_idx(struct pctx *c, size_t i)
{
    size_t old = c->plen;

    if (old < sizeof c->path - 1)
        snprintf(c->path + old, sizeof c->path - old, "[%zu]", i);
    c->plen = strlen(c->path);
    return old;
}

/* Cuts the path back to length old. */
static void pop(struct pctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = 0;
}

static char upper(char ch)
{
    return (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
}

/* True if key is the lowerCamelCase json_name of the snake_case name. */
static int camel_eq(const char *name, const char *key)
{
    int up = 0;

    for (; *name; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        if (*key++ != (up ? upper(*name) : *name))
            return 0;
        up = 0;
    }
    return *key == 0;
}

/* Writes the json_name of name into out (at least strlen(name) + 1 bytes). */
static void camel(const char *name, char *out)
{
    int up = 0;

    for (; *name; name++) {
        if (*name == '_') {
            up = 1;
            continue;
        }
        *out++ = up ? upper(*name) : *name;
        up = 0;
    }
    *out = 0;
}

/* Finds the field called key (snake or camel). Returns its index or -1. */
static int find_field(const ProtobufCMessageDescriptor *d, const char *key)
{
    for (unsigned i = 0; i < d->n_fields; i++) {
        const char *n = d->fields[i].name;
        if (strcmp(n, key) == 0 || camel_eq(n, key))
            return (int)i;
    }
    return -1;
}

static const char *type_name(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    case PROTOBUF_C_TYPE_FLOAT:
        return "float";
    case PROTOBUF_C_TYPE_DOUBLE:
        return "double";
    case PROTOBUF_C_TYPE_BOOL:
        return "bool";
    case PROTOBUF_C_TYPE_ENUM:
        return "enum";
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "bytes";
    case PROTOBUF_C_TYPE_MESSAGE:
        return "message";
    }
    return "?";
}

/* The size of one element of a repeated field of type t. */
static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return sizeof(uint32_t);
    }
}

/* True if f is a singular field with a has_ flag (proto2 / proto3 optional). */
static int has_flag(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* ------------------------------------------------------------- time ---- */

/* Reads exactly n decimal digits at *s. Returns 0 or -EINVAL. */
static int digits(const char **s, int n, unsigned *out)
{
    unsigned v = 0;

    for (int i = 0; i < n; i++) {
        char ch = (*s)[i];
        if (ch < '0' || ch > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(ch - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/* Parses RFC 3339 date-time text into Unix microseconds. Returns 0 or -EINVAL. */
static int parse_rfc3339(const char *s, int64_t *us)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, se, oh = 0, om = 0, frac = 0;
    int sign = 0, nfrac = 0;

    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' '))
        return -EINVAL;
    s++;
    if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' || digits(&s, 2, &se))
        return -EINVAL;
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (nfrac < 6)
                frac = frac * 10 + (unsigned)(*s - '0');
            nfrac++;
            s++;
        }
        if (nfrac == 0 || nfrac > 9)
            return -EINVAL;
        for (int i = nfrac; i < 6; i++)
            frac *= 10;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '-' ? -1 : 1;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*s != 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
        return -EINVAL;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -EINVAL;
    int64_t secs = civil_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    secs -= sign * (int64_t)(oh * 3600 + om * 60);
    *us = secs * 1000000 + frac;
    return 0;
}

/* Formats Unix microseconds as RFC 3339 UTC. Returns 0, or -ERANGE when the
 * year does not fit in four digits. */
static int format_rfc3339(int64_t us, char out[48])
{
    int64_t secs = us / 1000000, sub = us % 1000000, days, y, sod;
    unsigned m, d;

    if (sub < 0) {
        sub += 1000000;
        secs--;
    }
    days = secs / 86400;
    sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return -ERANGE;
    snprintf(out, 48, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", (int)y, m, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60), (int)sub);
    return 0;
}

/* The current time in Unix microseconds. */
static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ----------------------------------------------------------- parsing --- */

/* True if s is an optional '-' and one or more decimal digits. */
static int is_decimal(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == 0)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Reads a signed integer in [lo, hi] from a number or a decimal string. */
static int get_int(struct pctx *c, const ProtobufCFieldDescriptor *f, json_t *v, int64_t lo,
                   int64_t hi, int64_t *out)
{
    int64_t x;

    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0))
            return fail(c, "value '%g' out of range for %s", r, type_name(f->type));
        x = (int64_t)r;
        if ((double)x != r)
            return fail(c, "value '%g' is not an integer", r);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char shown[68];
        clip(shown, s);
        if (!is_decimal(s))
            return fail(c, "'%s' is not an integer", shown);
        errno = 0;
        long long ll = strtoll(s, NULL, 10);
        if (errno == ERANGE)
            return fail(c, "value '%s' out of range for %s", shown, type_name(f->type));
        x = ll;
    } else {
        return fail(c, "expected an integer");
    }
    if (x < lo || x > hi)
        return fail(c, "value '%" PRId64 "' out of range for %s", x, type_name(f->type));
    *out = x;
    return 0;
}

/* Reads an unsigned integer in [0, hi] from a number or a decimal string. */
static int get_uint(struct pctx *c, const ProtobufCFieldDescriptor *f, json_t *v, uint64_t hi,
                    uint64_t *out)
{
    uint64_t x;

    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return fail(c, "value '%" JSON_INTEGER_FORMAT "' out of range for %s", i,
                        type_name(f->type));
        x = (uint64_t)i;
    } else if (json_is_real(v)) {
        double r = json_real_value(v);
        if (!(r >= 0 && r < 18446744073709551616.0))
            return fail(c, "value '%g' out of range for %s", r, type_name(f->type));
        x = (uint64_t)r;
        if ((double)x != r)
            return fail(c, "value '%g' is not an integer", r);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char shown[68];
        clip(shown, s);
        if (!is_decimal(s))
            return fail(c, "'%s' is not an integer", shown);
        if (s[0] == '-')
            return fail(c, "value '%s' out of range for %s", shown, type_name(f->type));
        errno = 0;
        unsigned long long ull = strtoull(s, NULL, 10);
        if (errno == ERANGE)
            return fail(c, "value '%s' out of range for %s", shown, type_name(f->type));
        x = ull;
    } else {
        return fail(c, "expected an integer");
    }
    if (x > hi)
        return fail(c, "value '%" PRIu64 "' out of range for %s", x, type_name(f->type));
    *out = x;
    return 0;
}

/* Reads a float or double from a number or "NaN"/"Infinity"/"-Infinity". */
static int get_real(struct pctx *c, const ProtobufCFieldDescriptor *f, json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        if (f->type == PROTOBUF_C_TYPE_FLOAT && (*out > FLT_MAX || *out < -FLT_MAX))
            return fail(c, "value '%g' out of range for float", *out);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "NaN") == 0)
            *out = NAN;
        else if (strcmp(s, "Infinity") == 0)
            *out = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            *out = -INFINITY;
        else
            return fail(c, "expected a number");
        return 0;
    }
    return fail(c, "expected a number");
}

/* Decodes base64 (standard or URL-safe, padding optional) into a malloc'd
 * buffer (NULL when empty). Returns 0, -EINVAL or -ENOMEM. */
static int b64_decode(const char *s, size_t n, ProtobufCBinaryData *out)
{
    int variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    size_t len = 0;
    uint8_t *buf;

    for (int i = 0; i < 2 && n > 0 && s[n - 1] == '='; i++)
        n--;
    if (n == 0) {
        out->data = NULL;
        out->len = 0;
        return 0;
    }
    if (memchr(s, '-', n) || memchr(s, '_', n))
        variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    buf = malloc(n / 4 * 3 + 3);
    if (!buf)
        return -ENOMEM;
    if (sodium_base642bin(buf, n / 4 * 3 + 3, s, n, NULL, &len, NULL, variant) != 0) {
        free(buf);
        return -EINVAL;
    }
    out->data = buf;
    out->len = len;
    return 0;
}

static int parse_msg(struct pctx *c, const ProtobufCMessageDescriptor *d, json_t *obj,
                     ProtobufCMessage *m);

/* Parses one value of field f into slot (the field, or one array element). */
static int parse_value(struct pctx *c, const ProtobufCFieldDescriptor *f, json_t *v, void *slot)
{
    int64_t i = 0;
    uint64_t u = 0;
    double r = 0;
    int rc;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        rc = get_int(c, f, v, INT32_MIN, INT32_MAX, &i);
        if (rc == 0)
            *(int32_t *)slot = (int32_t)i;
        return rc;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (json_is_string(v) && strcmp(f->name, "occurred_at") == 0 &&
            !is_decimal(json_string_value(v))) {
            char shown[68];
            clip(shown, json_string_value(v));
            if (parse_rfc3339(json_string_value(v), &i) != 0)
                return fail(c, "'%s' is not an RFC 3339 time", shown);
            *(int64_t *)slot = i;
            return 0;
        }
        rc = get_int(c, f, v, INT64_MIN, INT64_MAX, &i);
        if (rc == 0)
            *(int64_t *)slot = i;
        return rc;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        rc = get_uint(c, f, v, UINT32_MAX, &u);
        if (rc == 0)
            *(uint32_t *)slot = (uint32_t)u;
        return rc;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        rc = get_uint(c, f, v, UINT64_MAX, &u);
        if (rc == 0)
            *(uint64_t *)slot = u;
        return rc;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        rc = get_real(c, f, v, &r);
        if (rc != 0)
            return rc;
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)slot = (float)r;
        else
            *(double *)slot = r;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return fail(c, "expected true or false");
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        if (json_is_string(v)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(v));
            char shown[68];
            if (!ev) {
                clip(shown, json_string_value(v));
                return fail(c, "unknown enum value '%s'", shown);
            }
            *(int *)slot = ev->value;
            return 0;
        }
        if (!json_is_number(v))
            return fail(c, "expected an enum name or number");
        rc = get_int(c, f, v, INT32_MIN, INT32_MAX, &i);
        if (rc == 0)
            *(int *)slot = (int)i;
        return rc;
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return fail(c, "expected a string");
        size_t n = json_string_length(v);
        char *s = malloc(n + 1);
        if (!s)
            return fail_rc(c, -ENOMEM, "out of memory");
        memcpy(s, json_string_value(v), n + 1);
        *(char **)slot = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = slot;
        if (!json_is_string(v))
            return fail(c, "expected a base64 string");
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        int is_id = strcmp(f->name, "event_id") == 0;
        if (is_id && n == 36) {
            uint8_t id[16];
            if (uuid7_parse(s, id) == 0) {
                bd->data = malloc(16);
                if (!bd->data)
                    return fail_rc(c, -ENOMEM, "out of memory");
                memcpy(bd->data, id, 16);
                bd->len = 16;
                return 0;
            }
        }
        rc = b64_decode(s, n, bd);
        if (rc == -ENOMEM)
            return fail_rc(c, rc, "out of memory");
        if (rc != 0)
            return fail(c, is_id ? "not a UUID or base64" : "invalid base64");
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *sd = f->descriptor;
        if (!json_is_object(v))
            return fail(c, "expected a JSON object");
        ProtobufCMessage *sub = malloc(sd->sizeof_message);
        if (!sub)
            return fail_rc(c, -ENOMEM, "out of memory");
        protobuf_c_message_init(sd, sub);
        *(ProtobufCMessage **)slot = sub;
        return parse_msg(c, sd, v, sub);
    }
    }
    return fail(c, "unsupported field type");
}

/* Parses the JSON value v of field f into message m. */
static int parse_field(struct pctx *c, const ProtobufCFieldDescriptor *f, json_t *v,
                       ProtobufCMessage *m)
{
    char *base = (char *)m;
    void *slot = base + f->offset;

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *np = (size_t *)(base + f->quantifier_offset);
        size_t n, es = elem_size(f->type);
        char *arr;

        if (!json_is_array(v))
            return fail(c, "expected an array");
        n = json_array_size(v);
        if (n == 0)
            return 0;
        arr = calloc(n, es);
        if (!arr)
            return fail_rc(c, -ENOMEM, "out of memory");
        *(void **)slot = arr;
        *np = 0;
        for (size_t i = 0; i < n; i++) {
            size_t old = push_idx(c, i);
            int rc = parse_value(c, f, json_array_get(v, i), arr + i * es);
            if (rc != 0) {
                /* a message element may be half built: keep it so it is freed */
                if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(void **)(arr + i * es))
                    (*np)++;
                return rc;
            }
            (*np)++;
            pop(c, old);
        }
        return 0;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
        if (*which != 0)
            return fail(c, "another member of the same oneof is already set");
        *which = f->id; /* before the value, so a half-built one is freed */
    } else if (has_flag(f)) {
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return parse_value(c, f, v, slot);
}

/* Parses the JSON object obj into message m of type d. */
static int parse_msg(struct pctx *c, const ProtobufCMessageDescriptor *d, json_t *obj,
                     ProtobufCMessage *m)
{
    unsigned char small[64], *seen = small;
    const char *key;
    json_t *v;
    int rc = 0;

    if (d->n_fields > sizeof small) {
        seen = calloc(d->n_fields, 1);
        if (!seen)
            return fail_rc(c, -ENOMEM, "out of memory");
    } else {
        memset(small, 0, sizeof small);
    }
    json_object_foreach(obj, key, v)
    {
        size_t old = push_key(c, key);
        int idx = find_field(d, key);
        if (idx < 0) {
            rc = fail(c, "unknown field");
            goto cleanup;
        }
        if (seen[idx]) {
            rc = fail(c, "field given twice");
            goto cleanup;
        }
        seen[idx] = 1;
        if (!json_is_null(v)) {
            rc = parse_field(c, &d->fields[idx], v, m);
            if (rc != 0)
                goto cleanup;
        }
        pop(c, old);
    }
cleanup:
    if (seen != small)
        free(seen);
    return rc;
}

/* True if obj has a non-null member for the field called name (snake). */
static int given(json_t *obj, const char *name)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        if ((strcmp(key, name) == 0 || camel_eq(name, key)) && !json_is_null(v))
            return 1;
    }
    return 0;
}

/* Parses one JSON object text (one JSON Lines line) into a new Event. */
Cohort__V1__Event *cohort_json_to_event(const char *text, size_t len, char *err, size_t errlen)
{
    struct pctx c = {.plen = 0, .err = err, .errlen = errlen};
    Cohort__V1__Event *ev = NULL;
    json_error_t je;
    json_t *root = NULL;
    int rc;

    if (err && errlen > 0)
        err[0] = 0;
    c.path[0] = 0;
    if (sodium_ready() != 0) {
        fail_rc(&c, -EIO, "libsodium failed to initialise");
        return NULL;
    }
    if (!text) {
        fail(&c, "no input");
        return NULL;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        char shown[68];
        clip(shown, je.text);
        fail(&c, "invalid JSON at column %d: %s", je.column, shown);
        return NULL;
    }
    if (!json_is_object(root)) {
        fail(&c, "expected a JSON object");
        goto cleanup;
    }
    ev = malloc(sizeof *ev);
    if (!ev) {
        fail_rc(&c, -ENOMEM, "out of memory");
        goto cleanup;
    }
    cohort__v1__event__init(ev);
    rc = parse_msg(&c, &cohort__v1__event__descriptor, root, &ev->base);
    if (rc == 0 && !given(root, "event_id")) {
        ev->event_id.data = malloc(16);
        if (!ev->event_id.data) {
            rc = fail_rc(&c, -ENOMEM, "out of memory");
        } else {
            ev->event_id.len = 16;
            rc = uuid7_generate(ev->event_id.data);
            if (rc != 0)
                fail_rc(&c, rc, "eventId: cannot generate: %s", strerror(-rc));
        }
    }
    if (rc == 0 && !given(root, "occurred_at"))
        ev->occurred_at = now_us();
    if (rc != 0) {
        protobuf_c_message_free_unpacked(&ev->base, NULL);
        ev = NULL;
    }
cleanup:
    json_decref(root);
    return ev;
}

/* ---------------------------------------------------------- rendering --- */

/* A JSON string of s; invalid UTF-8 bytes become '?' rather than failing. */
static json_t *jstr(const char *s)
{
    json_t *v = json_string(s);
    char *copy;

    if (v)
        return v;
    copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

/* True if the singular field at slot holds its proto3 default value. */
static int is_default(const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)slot == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)slot == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)slot == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)slot == 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)slot == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return s == NULL || s[0] == 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)slot)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)slot == NULL;
    default:
        return *(const uint32_t *)slot == 0;
    }
}

static json_t *emit_msg(const ProtobufCMessage *m);

/* The JSON form of one value of field f at slot. NULL on allocation failure. */
static json_t *emit_value(const ProtobufCFieldDescriptor *f, const void *slot)
{
    char buf[48];

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: {
        int64_t x = *(const int64_t *)slot;
        if (strcmp(f->name, "occurred_at") == 0 && format_rfc3339(x, buf) == 0)
            return json_string(buf);
        return json_integer(x);
    }
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t x = *(const uint64_t *)slot;
        if (x <= INT64_MAX)
            return json_integer((json_int_t)x);
        snprintf(buf, sizeof buf, "%" PRIu64, x);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double x = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)slot : *(const double *)slot;
        if (isnan(x))
            return json_string("NaN");
        if (isinf(x))
            return json_string(x > 0 ? "Infinity" : "-Infinity");
        return json_real(x);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)slot);
        return ev ? json_string(ev->name) : json_integer(*(const int *)slot);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return jstr(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = slot;
        if (bd->len == 16 && strcmp(f->name, "event_id") == 0) {
            uuid7_format(bd->data, buf);
            return json_string(buf);
        }
        size_t n = sodium_base64_ENCODED_LEN(bd->len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(n);
        if (!b64)
            return NULL;
        if (bd->len == 0)
            b64[0] = 0;
        else
            sodium_bin2base64(b64, n, bd->data, bd->len, sodium_base64_VARIANT_ORIGINAL);
        json_t *v = json_string(b64);
        free(b64);
        return v;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
        return sub ? emit_msg(sub) : json_object();
    }
    }
    return json_null();
}

/* Adds value v (owned) under the json_name of f. Returns 0 or -ENOMEM. */
static int put(json_t *obj, const ProtobufCFieldDescriptor *f, json_t *v)
{
    char small[64], *name = small;
    size_t len = strlen(f->name);
    int rc;

    if (!v)
        return -ENOMEM;
    if (len >= sizeof small) {
        name = malloc(len + 1);
        if (!name) {
            json_decref(v);
            return -ENOMEM;
        }
    }
    camel(f->name, name);
    rc = json_object_set_new(obj, name, v) == 0 ? 0 : -ENOMEM;
    if (name != small)
        free(name);
    return rc;
}

/* The JSON object for message m. NULL on allocation failure. */
static json_t *emit_msg(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    int is_event = d == &cohort__v1__event__descriptor;
    json_t *obj = json_object();

    if (!obj)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *slot = base + f->offset;
        json_t *v;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)slot;
            size_t es = elem_size(f->type);
            if (n == 0)
                continue;
            v = json_array();
            for (size_t k = 0; v && k < n; k++) {
                if (json_array_append_new(v, emit_value(f, arr + k * es)) != 0) {
                    json_decref(v);
                    v = NULL;
                }
            }
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                    continue;
            } else if (has_flag(f)) {
                if (!*(const protobuf_c_boolean *)(base + f->quantifier_offset))
                    continue;
            } else if (!(is_event && f->id <= 3) && is_default(f, slot)) {
                continue; /* an Event's fields 1-3 (eventId, agency, occurredAt) always show */
            }
            v = emit_value(f, slot);
        }
        if (put(obj, f, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* Renders any message as compact one-line JSON. */
char *cohort_json_from_message(const ProtobufCMessage *msg)
{
    json_t *obj;
    char *out;

    if (!msg || sodium_ready() != 0)
        return NULL;
    obj = emit_msg(msg);
    if (!obj)
        return NULL;
    out = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return out;
}
