/* codec.h: decoding of ingest frames and packing of replies.
 *
 * Decoding uses an arena allocator: protobuf-c's default allocator (one
 * malloc per message, string and repeated field) dominates small-message
 * decode time. Everything a successful
 * decode returns lives in the codec's arena until codec_reset() or
 * codec_destroy(), so a batch can keep its decoded events until it has been
 * committed; a refused frame's memory is given back at once. */
#ifndef COHORT_CODEC_H
#define COHORT_CODEC_H
#include <stddef.h>
#include <stdint.h>
#include "cohort.pb-c.h"

#define CODEC_MAX_FRAME (4u << 20) /* bytes in one ingest frame */
#define CODEC_MAX_EVENTS 4096      /* events in one ingest frame */
#define CODEC_MAX_DECODED                                                                          \
    (32u << 20) /* bytes one frame may take decoded (a 4 MiB                                       \
                   frame of tiny fields could take ~200 MB) */

typedef struct codec_t codec_t;

/* Returns a new codec, or NULL when out of memory. */
codec_t *codec_new(void);

/* Frees the codec and its arena; nulls *self_p. Idempotent. */
void codec_destroy(codec_t **self_p);

/* Frees everything decoded so far (keeps one chunk for reuse). */
void codec_reset(codec_t *self);

/* Decodes one ingest frame into *out (arena-owned, see above). Returns
 * COHORT__V1__FRAME_ERROR__FRAME_OK (0), or a FrameError with a static
 * human-readable *reason; *out is then NULL, or a stand-in holding only the
 * request_id when one was read. A frame whose events (counted before
 * decoding) exceed CODEC_MAX_EVENTS is FRAME_TOO_MANY_EVENTS, and one that
 * would take more than CODEC_MAX_DECODED bytes decoded is FRAME_TOO_LARGE.
 * A known string field holding a NUL byte
 * makes the frame FRAME_MALFORMED (C strings would cut it short). Never
 * crashes on any input (tests/fuzz). */
int codec_decode(codec_t *self, const void *data, size_t len, Cohort__V1__IngestRequest **out,
                 const char **reason);

/* Where one event's bytes lie in a frame. */
typedef struct {
    const uint8_t *data; /* inside the frame */
    size_t len;
} codec_span_t;

/* Finds the bytes of each event of a batch frame exactly as sent (so the
 * log stores what the agent sent, unknown fields included, without a
 * re-encode). Only locates length-delimited fields; protobuf-c still does
 * the decoding. Returns 0 when exactly n events were found (out[0..n)), or
 * -EINVAL if the frame's layout disagrees (the caller then re-encodes). */
int codec_event_spans(const void *frame, size_t len, codec_span_t *out, size_t n);

/* Packs msg into a new malloc'd buffer. Returns the buffer (caller frees)
 * and its size in *len, or NULL when out of memory. */
uint8_t *codec_pack(const ProtobufCMessage *msg, size_t *len);

/* Bytes the arena holds now (for memory accounting and tests). */
size_t codec_arena_bytes(const codec_t *self);

#endif
