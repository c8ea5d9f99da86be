/* codec.c: ingest frame decoding with an arena allocator (see codec.h).
 * The arena is a list of chunks; reset keeps the first chunk and frees the
 * rest, so steady state does no malloc per frame and a rare huge frame does
 * not pin its memory. */
#include "codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (256u << 10) /* default chunk size */
#define KEEP (8u << 20)    /* chunk bytes kept across resets, so steady batches do no malloc */

typedef struct chunk {
    struct chunk *next; /* older chunk, or NULL */
    size_t size;        /* usable bytes in data */
    size_t used;        /* bytes handed out */
    max_align_t data[]; /* the memory */
} chunk_t;

struct codec_t {
    chunk_t *head;                     /* newest chunk; allocation happens here */
    ProtobufCAllocator alloc;          /* protobuf-c view of the arena */
    size_t bytes;                      /* total chunk bytes held (in use and spare) */
    chunk_t *spare;                    /* emptied chunks kept by reset, for reuse */
    uint64_t req_id;                   /* request_id of the last refused frame */
    size_t budget;                     /* bytes the frame being decoded may still take */
    int over;                          /* that frame ran out of budget */
    Cohort__V1__IngestRequest refused; /* stands for a refused frame (only request_id set) */
};

static chunk_t *chunk_new(size_t size)
{
    chunk_t *c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static void *arena_alloc(void *data, size_t size)
{
    codec_t *self = data;
    size_t need = (size + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    chunk_t *c = self->head;
    if (need > self->budget) {
        self->over = 1; /* protobuf-c sees out-of-memory and fails the unpack */
        return NULL;
    }
    self->budget -= need;
    if (!c || c->size - c->used < need) {
        size_t sz = need > CHUNK ? need : CHUNK;
        chunk_t *n;
        if (sz == CHUNK && self->spare) {
            n = self->spare;
            self->spare = n->next;
        } else {
            if (!(n = chunk_new(sz)))
                return NULL;
            self->bytes += sz;
        }
        n->next = c;
        self->head = n;
        c = n;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    return p;
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* freed all at once by reset */
}

/* Frees the chunks added after mark and restores its fill level. */
static void rewind_to(codec_t *self, chunk_t *mark, size_t used)
{
    while (self->head && self->head != mark) {
        chunk_t *next = self->head->next;
        self->bytes -= self->head->size;
        free(self->head);
        self->head = next;
    }
    if (self->head)
        self->head->used = used;
}

/* Empties the arena. Chunks of the default size are kept for reuse up to
 * KEEP bytes (on a free list); larger ones, and any beyond that, are freed,
 * so a rare huge frame does not pin its memory. */
static void reset(codec_t *self)
{
    chunk_t *c = self->head, *keep = self->spare;
    size_t kept = 0;
    for (chunk_t *k = keep; k; k = k->next)
        kept += k->size;
    while (c) {
        chunk_t *next = c->next;
        if (c->size == CHUNK && kept + CHUNK <= KEEP) {
            c->used = 0;
            c->next = keep;
            keep = c;
            kept += CHUNK;
        } else {
            self->bytes -= c->size;
            free(c);
        }
        c = next;
    }
    self->head = NULL;
    self->spare = keep;
}

void codec_reset(codec_t *self)
{
    reset(self);
}

codec_t *codec_new(void)
{
    codec_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->budget = SIZE_MAX;
    self->alloc.alloc = arena_alloc;
    self->alloc.free = arena_free;
    self->alloc.allocator_data = self;
    cohort__v1__ingest_request__init(&self->refused);
    return self;
}

void codec_destroy(codec_t **self_p)
{
    codec_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    reset(self);
    while (self->spare) {
        chunk_t *next = self->spare->next;
        free(self->spare);
        self->spare = next;
    }
    free(self);
    *self_p = NULL;
}

static int nul_free(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end);
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
static int fields(const uint8_t *p, const uint8_t *end, uint64_t want,
                  int (*fn)(void *arg, const uint8_t *d, size_t n), void *arg);

/* Counter for prescan: one more Batch.events field. */
static int count_cb(void *arg, const uint8_t *d, size_t n)
{
    (void)d;
    (void)n;
    ++*(size_t *)arg;
    return 0;
}

/* Reads request_id and counts the events of every batch field of a frame
 * without decoding them, so an over-long batch is refused before protobuf-c
 * allocates a struct per event (4 MiB of empty events would take ~250 MB).
 * Returns the count, or 0 when the layout is malformed (unpack says so). */
static size_t prescan(const uint8_t *p, const uint8_t *end, uint64_t *rid)
{
    size_t n = 0;
    while (p < end) {
        uint64_t key, v;
        if (varint(&p, end, &key) < 0)
            return 0;
        if ((key & 7) == 0) {
            if (varint(&p, end, &v) < 0)
                return 0;
            if ((key >> 3) == 1) /* IngestRequest.request_id */
                *rid = v;
        } else if ((key & 7) == 2) {
            if (varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return 0;
            if ((key >> 3) == 2 && fields(p, p + v, 1, count_cb, &n) < 0) /* batch.events */
                return 0;
            p += v;
        } else if ((key & 7) == 1 || (key & 7) == 5) {
            if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
                return 0;
            p += (key & 7) == 1 ? 8 : 4;
        } else {
            return 0;
        }
    }
    return n;
}

int codec_decode(codec_t *self, const void *data, size_t len, Cohort__V1__IngestRequest **out,
                 const char **reason)
{
    Cohort__V1__IngestRequest *req;
    chunk_t *mark = self->head;
    size_t used = mark ? mark->used : 0;
    *out = NULL;
    if (len > CODEC_MAX_FRAME) {
        *reason = "frame exceeds 4194304 bytes";
        return COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE;
    }
    uint64_t rid = 0;
    if (prescan(data, (const uint8_t *)data + len, &rid) > CODEC_MAX_EVENTS) {
        *out = &self->refused;
        self->refused.request_id = self->req_id = rid;
        *reason = "batch holds more than 4096 events";
        return COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS;
    }
    self->budget = CODEC_MAX_DECODED;
    self->over = 0;
    req = cohort__v1__ingest_request__unpack(&self->alloc, len, data);
    self->budget = SIZE_MAX; /* codec_pack and others are not limited */
    if (!req) {
        rewind_to(self, mark, used);
        if (self->over) {
            *reason = "frame decodes to more than 33554432 bytes";
            return COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE;
        }
        *reason = "frame is not a valid cohort.v1.IngestRequest";
        return COHORT__V1__FRAME_ERROR__FRAME_MALFORMED;
    }
    if (req->body_case != COHORT__V1__INGEST_REQUEST__BODY_BATCH &&
        req->body_case != COHORT__V1__INGEST_REQUEST__BODY_PING) {
        self->req_id = req->request_id; /* still useful for the reply */
        rewind_to(self, mark, used);
        *out = &self->refused;
        self->refused.request_id = self->req_id;
        *reason = "request has no body, or a body type this daemon does not know";
        return COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE;
    }
    if (req->body_case == COHORT__V1__INGEST_REQUEST__BODY_BATCH &&
        req->batch->n_events > CODEC_MAX_EVENTS) {
        self->req_id = req->request_id;
        rewind_to(self, mark, used);
        *out = &self->refused;
        self->refused.request_id = self->req_id;
        *reason = "batch holds more than 4096 events";
        return COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS;
    }
    /* protobuf-c's C strings end at a NUL byte, so validation would check
     * less than the log stores (found by tests/fuzz). A frame without any 0
     * byte needs no walk. */
    if (memchr(data, 0, len) &&
        !nul_free(req->base.descriptor, data, (const uint8_t *)data + len)) {
        self->req_id = req->request_id;
        rewind_to(self, mark, used);
        *out = &self->refused;
        self->refused.request_id = self->req_id;
        *reason = "a string field holds a NUL byte";
        return COHORT__V1__FRAME_ERROR__FRAME_MALFORMED;
    }
    *out = req;
    *reason = NULL;
    return COHORT__V1__FRAME_ERROR__FRAME_OK;
}

/* Reads a base-128 varint at *p. Returns 0, or -1 past end or overlong. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Walks the fields in [p, end). For each length-delimited field number
 * want, calls back with its content. Returns 0, or -1 on a malformed
 * layout (groups included: cohort.v1 has none). */
static int fields(const uint8_t *p, const uint8_t *end, uint64_t want,
                  int (*fn)(void *arg, const uint8_t *d, size_t n), void *arg)
{
    while (p < end) {
        uint64_t key, v;
        if (varint(&p, end, &key) < 0)
            return -1;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &v) < 0)
                return -1;
            break;
        case 1:
        case 5:
            if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
                return -1;
            p += (key & 7) == 1 ? 8 : 4;
            break;
        case 2:
            if (varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            if ((key >> 3) == want && fn(arg, p, (size_t)v) < 0)
                return -1;
            p += v;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* Returns 0 if a known string field of message d, anywhere in [p, end) or
 * in its known sub-messages (cohort.v1 has no recursive types), holds a NUL
 * byte; 1 otherwise. Only called on bytes protobuf-c has decoded, so a
 * layout surprise is not a NUL and returns 1. */
static int nul_free(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        uint64_t key, v;
        if (varint(&p, end, &key) < 0)
            return 1;
        const ProtobufCFieldDescriptor *f;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &v) < 0)
                return 1;
            break;
        case 1:
        case 5:
            if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
                return 1;
            p += (key & 7) == 1 ? 8 : 4;
            break;
        case 2:
            if (varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return 1;
            f = (key >> 3) <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v))
                return 0;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && !nul_free(f->descriptor, p, p + v))
                return 0;
            p += v;
            break;
        default:
            return 1;
        }
    }
    return 1;
}

/* Collector for codec_event_spans. */
typedef struct {
    codec_span_t *out;
    size_t n, found;
} spans_t;

static int event_cb(void *arg, const uint8_t *d, size_t n)
{
    spans_t *s = arg;
    if (s->found < s->n)
        s->out[s->found] = (codec_span_t){d, n};
    s->found++;
    return 0;
}

static int batch_cb(void *arg, const uint8_t *d, size_t n)
{
    return fields(d, d + n, 1, event_cb, arg); /* Batch.events = 1 */
}

int codec_event_spans(const void *frame, size_t len, codec_span_t *out, size_t n)
{
    spans_t s = {out, n, 0};
    const uint8_t *p = frame;
    if (fields(p, p + len, 2, batch_cb, &s) < 0 || s.found != n) /* IngestRequest.batch = 2 */
        return -EINVAL;
    return 0;
}

uint8_t *codec_pack(const ProtobufCMessage *msg, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return NULL;
    *len = protobuf_c_message_pack(msg, buf);
    return buf;
}

size_t codec_arena_bytes(const codec_t *self)
{
    return self->bytes;
}
