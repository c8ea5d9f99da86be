/* codec.c: ingest frame decoding with an arena allocator (see codec.h).
 * The arena is a list of chunks; reset keeps the first chunk and frees the
 * rest, so steady state does no malloc per frame and a rare huge frame does
 * not pin its memory. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK (256u << 10) /* default chunk size */

typedef struct chunk {
    struct chunk *next; /* older chunk, or NULL */
    size_t size;        /* usable bytes in data */
    size_t used;        /* bytes handed out */
    max_align_t data[]; /* the memory */
} chunk_t;

struct codec_t {
    chunk_t *head;            /* newest chunk; allocation happens here */
    ProtobufCAllocator alloc; /* protobuf-c view of the arena */
    size_t bytes;             /* total chunk bytes held */
    uint64_t req_id;          /* request_id of the last refused frame */
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
    if (!c || c->size - c->used < need) {
        size_t sz = need > CHUNK ? need : CHUNK;
        chunk_t *n = chunk_new(sz);
        if (!n)
            return NULL;
        n->next = c;
        self->head = n;
        self->bytes += sz;
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

/* Keeps only the oldest chunk, emptied. */
static void reset(codec_t *self)
{
    chunk_t *c = self->head;
    while (c && c->next) {
        chunk_t *next = c->next;
        self->bytes -= c->size;
        free(c);
        c = next;
    }
    self->head = c;
    if (c)
        c->used = 0;
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
    self->alloc.alloc = arena_alloc;
    self->alloc.free = arena_free;
    self->alloc.allocator_data = self;
    cohort__v1__ingest_request__init(&self->refused);
    self->head = chunk_new(CHUNK);
    if (!self->head) {
        free(self);
        return NULL;
    }
    self->bytes = CHUNK;
    return self;
}

void codec_destroy(codec_t **self_p)
{
    codec_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    reset(self);
    free(self->head);
    free(self);
    *self_p = NULL;
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
    req = cohort__v1__ingest_request__unpack(&self->alloc, len, data);
    if (!req) {
        rewind_to(self, mark, used);
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
    *out = req;
    *reason = NULL;
    return COHORT__V1__FRAME_ERROR__FRAME_OK;
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
