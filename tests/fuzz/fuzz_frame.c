/* fuzz_frame.c: the libFuzzer harness over one ingest frame. Each input is
 * one ZeroMQ payload frame, and the harness does with it exactly what the
 * daemon does (daemon/ingest.c: handle, take, add_event, reply_now): decode
 * it into the codec's arena, find the events' bytes as sent, validate each
 * event, re-encode the ones without bytes, and pack the reply. It then
 * decodes a ping and the frame again into the non-empty arena (as when
 * several frames share one batch) and resets the arena, so nothing outlives
 * the input.
 *
 * On top of "no crash, no sanitizer report, no leak" it checks the contracts
 * of codec.h and validate.h and abort()s when one is broken:
 * - a refusal has a FrameError code, a reason, and gives its memory back;
 * - an accepted frame is a ping, or a batch of at most CODEC_MAX_EVENTS;
 * - the bytes codec_event_spans finds for an event decode to that event
 *   (the log stores those bytes; validation saw the decoded event);
 * - validate_event returns a shape RejectCode with a non-empty one-line
 *   UTF-8 reason, or 0 with the reason empty;
 * - an accepted event's string fields hold no NUL byte on the wire, so the
 *   strings validation checked are the whole strings that are stored;
 * - the same frame decodes to the same result twice;
 * - after a reset the arena keeps at most 8 MiB (codec.c's KEEP).
 *
 * The same file is built with gcc into tests/unit/fuzz-regress.t (with
 * replay.c), which replays tests/fuzz/regress/ in the normal test suite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "validate.h"

#define FUZZ_NOW_US 1735689600000000LL /* validation clock: 2025-01-01T00:00:00Z */
#define ARENA_KEEP (8u << 20)          /* codec.c's KEEP: bytes a reset may keep */
#define ID_MAX 64                      /* ingest.c: event_id bytes echoed in an ack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports a broken contract and crashes, so libFuzzer saves the input. */
#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_frame: contract broken: %s (%s:%d)\n", what, __FILE__,           \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Reads a base-128 varint at *p (at most 10 bytes). Returns 0, or -1. */
static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t c = *(*p)++;
        if (shift < 64)
            *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Returns 1 if no known string field of message d, in the wire bytes
 * [p, end) and in its known sub-messages, holds a NUL byte. Written apart
 * from codec.c on purpose: it is the oracle. Malformed layout returns 1
 * (protobuf-c has already accepted these bytes; the span check covers it). */
static int strings_nul_free(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                            const uint8_t *end)
{
    while (p < end) {
        uint64_t key, v;
        if (varint(&p, end, &key) < 0)
            return 1;
        switch (key & 7) {
        case 0:
            if (varint(&p, end, &v) < 0)
                return 1;
            break;
        case 1:
        case 5: {
            size_t w = (key & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < w)
                return 1;
            p += w;
            break;
        }
        case 2: {
            if (varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return 1;
            const ProtobufCFieldDescriptor *f =
                (key >> 3) <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v))
                return 0;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !strings_nul_free(f->descriptor, p, p + v))
                return 0;
            p += v;
            break;
        }
        default:
            return 1;
        }
    }
    return 1;
}

/* Checks that the bytes span decode to an event equal to ev. */
static void check_span(const Cohort__V1__Event *ev, const codec_span_t *span, const uint8_t *frame,
                       size_t frame_len)
{
    CHECK(span->data >= frame && span->len <= frame_len &&
              (size_t)(span->data - frame) <= frame_len - span->len,
          "an event span lies inside the frame");
    Cohort__V1__Event *again = cohort__v1__event__unpack(NULL, span->len, span->data);
    CHECK(again, "an event span decodes on its own");
    size_t n1 = cohort__v1__event__get_packed_size(ev);
    size_t n2 = cohort__v1__event__get_packed_size(again);
    CHECK(n1 == n2, "an event span decodes to the same event (size)");
    uint8_t *b1 = malloc(n1 ? n1 : 1), *b2 = malloc(n2 ? n2 : 1);
    CHECK(b1 && b2, "out of memory in the harness");
    CHECK(cohort__v1__event__pack(ev, b1) == n1, "pack writes its size");
    CHECK(cohort__v1__event__pack(again, b2) == n2, "pack writes its size");
    CHECK(memcmp(b1, b2, n1) == 0, "an event span decodes to the same event (bytes)");
    free(b1);
    free(b2);
    cohort__v1__event__free_unpacked(again, NULL);
}

/* Packs a reply the way ingest.c does and checks it decodes. */
static void check_reply(Cohort__V1__IngestReply *r)
{
    size_t len = 0;
    uint8_t *buf = codec_pack(&r->base, &len);
    CHECK(buf, "out of memory in the harness");
    Cohort__V1__IngestReply *back = cohort__v1__ingest_reply__unpack(NULL, len, buf);
    CHECK(back && back->n_acks == r->n_acks && back->error == r->error,
          "the reply decodes to what was packed");
    cohort__v1__ingest_reply__free_unpacked(back, NULL);
    free(buf);
}

/* One frame through decode, spans, validation and the reply. Returns the
 * codec_decode result and, for a batch, the number of events in *nev. */
static int one_frame(codec_t *codec, const uint8_t *data, size_t size, size_t *nev)
{
    static codec_span_t spans[CODEC_MAX_EVENTS];
    static Cohort__V1__Ack acks[CODEC_MAX_EVENTS], *ackp[CODEC_MAX_EVENTS];
    static char why[CODEC_MAX_EVENTS][256];
    Cohort__V1__IngestRequest *req = NULL;
    Cohort__V1__IngestReply reply = COHORT__V1__INGEST_REPLY__INIT;
    const char *reason = NULL;
    size_t before = codec_arena_bytes(codec);
    int rc = codec_decode(codec, data, size, &req, &reason);

    *nev = 0;
    if (rc != COHORT__V1__FRAME_ERROR__FRAME_OK) {
        CHECK(rc == COHORT__V1__FRAME_ERROR__FRAME_MALFORMED ||
                  rc == COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE ||
                  rc == COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE ||
                  rc == COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS,
              "a refusal is a FrameError the codec gives");
        CHECK(reason && *reason && validate_utf8(reason, strlen(reason)),
              "a refusal has a UTF-8 reason");
        CHECK(rc == COHORT__V1__FRAME_ERROR__FRAME_MALFORMED ||
                  (req != NULL) == (rc == COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE ||
                                    rc == COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS),
              "a refusal returns the request_id stand-in when it read one");
        CHECK(codec_arena_bytes(codec) <= before, "a refused frame gives its memory back");
        CHECK(size <= CODEC_MAX_FRAME || rc == COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE,
              "a frame over the limit is refused as too large");
        reply.request_id = req ? req->request_id : 0;
        reply.error = rc;
        reply.error_reason = (char *)reason;
        check_reply(&reply);
        return rc;
    }
    CHECK(size <= CODEC_MAX_FRAME, "a frame over the limit is refused");
    CHECK(req && !reason, "an accepted frame has a request and no reason");
    reply.request_id = req->request_id;
    if (req->body_case == COHORT__V1__INGEST_REQUEST__BODY_PING) {
        CHECK(req->ping, "a ping has its body");
        check_reply(&reply);
        return rc;
    }
    CHECK(req->body_case == COHORT__V1__INGEST_REQUEST__BODY_BATCH && req->batch,
          "an accepted frame is a ping or a batch");
    const Cohort__V1__Batch *b = req->batch;
    CHECK(b->n_events <= CODEC_MAX_EVENTS, "a batch holds at most CODEC_MAX_EVENTS");
    CHECK(b->n_events == 0 || b->events, "a batch's events are there");
    *nev = b->n_events;

    int have_spans = codec_event_spans(data, size, spans, b->n_events) == 0;
    for (size_t i = 0; i < b->n_events; i++) {
        const Cohort__V1__Event *ev = b->events[i];
        CHECK(ev, "no event is NULL");
        if (have_spans)
            check_span(ev, &spans[i], data, size);
        memset(why[i], 0x5a, sizeof why[i]);
        int code = validate_event(ev, FUZZ_NOW_US, why[i], sizeof why[i]);
        CHECK(code >= COHORT__V1__REJECT_CODE__REJECT_NONE &&
                  code <= COHORT__V1__REJECT_CODE__REJECT_BAD_UTF8,
              "validate_event returns a shape RejectCode");
        CHECK(memchr(why[i], 0, sizeof why[i]), "the reason is NUL-terminated");
        size_t wl = strlen(why[i]);
        CHECK(code == 0 ? wl == 0 : wl > 0, "a rejection has a reason, an acceptance none");
        CHECK(validate_utf8(why[i], wl) && !memchr(why[i], '\n', wl),
              "the reason is one line of UTF-8");
        cohort__v1__ack__init(&acks[i]);
        acks[i].event_id.data = ev->event_id.data;
        acks[i].event_id.len = ev->event_id.len < ID_MAX ? ev->event_id.len : ID_MAX;
        acks[i].reason = why[i];
        ackp[i] = &acks[i];
        if (code != 0) {
            acks[i].result = COHORT__V1__RESULT__REJECTED;
            acks[i].code = code;
            continue;
        }
        acks[i].result = COHORT__V1__RESULT__ACCEPTED;
        acks[i].seq = i + 1;
        CHECK(ev->agency && ev->event_id.len == 16 && ev->occurred_at > 0 &&
                  ev->occurred_at <= FUZZ_NOW_US + VALIDATE_FUTURE_US,
              "an accepted event has its envelope");
        if (have_spans) {
            CHECK(
                strings_nul_free(ev->base.descriptor, spans[i].data, spans[i].data + spans[i].len),
                "an accepted event's strings hold no NUL byte on the wire");
        } else { /* ingest.c re-encodes the event */
            size_t n = cohort__v1__event__get_packed_size(ev);
            uint8_t *buf = malloc(n ? n : 1);
            CHECK(buf, "out of memory in the harness");
            CHECK(cohort__v1__event__pack(ev, buf) == n, "re-encoding writes its size");
            free(buf);
        }
    }
    reply.n_acks = b->n_events;
    reply.acks = ackp;
    check_reply(&reply);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static codec_t *codec; /* one arena across inputs, as in the daemon */
    static const uint8_t ping[] = {0x08, 0x01, 0x1a, 0x00}; /* request_id 1, ping */
    size_t n1, n2, n3;
    if (!codec)
        CHECK((codec = codec_new()) != NULL, "codec_new");
    int rc1 = one_frame(codec, data, size, &n1);
    /* Again after another frame, so a refusal rewinds to a mark inside a
     * chunk rather than to an empty arena. */
    CHECK(one_frame(codec, ping, sizeof ping, &n3) == 0, "a ping decodes after any frame");
    int rc2 = one_frame(codec, data, size, &n2);
    CHECK(rc1 == rc2 && n1 == n2, "a frame decodes the same way twice");
    codec_reset(codec);
    CHECK(codec_arena_bytes(codec) <= ARENA_KEEP, "a reset keeps at most KEEP bytes");
    return 0;
}
