/* t_codec: unit tests for codec.c — round trips, and each frame-level
 * refusal (malformed, too large, unknown type, too many events). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "tap.h"

static uint8_t *pack_req(Cohort__V1__IngestRequest *r, size_t *len)
{
    return codec_pack(&r->base, len);
}

int main(void)
{
    codec_t *c = codec_new();
    Cohort__V1__IngestRequest *out;
    const char *why;
    size_t len;
    uint8_t id[16] = {0x01, 0x91};

    /* a batch of two events round-trips, including unknown fields */
    Cohort__V1__Event e1 = COHORT__V1__EVENT__INIT, e2 = COHORT__V1__EVENT__INIT;
    Cohort__V1__EnrolmentChanged en = COHORT__V1__ENROLMENT_CHANGED__INIT;
    en.participant_ref = "ref-1";
    en.programme_id = "step-forward";
    en.cohort_id = "2009-1";
    en.stage = COHORT__V1__ENROLMENT_STAGE__OFFERED;
    e1.event_id.data = id;
    e1.event_id.len = 16;
    e1.agency = "wm-police";
    e1.occurred_at = 1238572800000000LL;
    e1.body_case = COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED;
    e1.enrolment_changed = &en;
    e2 = e1;
    e2.agency = "cps-wm";
    Cohort__V1__Event *evs[2] = {&e1, &e2};
    Cohort__V1__Batch b = COHORT__V1__BATCH__INIT;
    b.n_events = 2;
    b.events = evs;
    Cohort__V1__IngestRequest r = COHORT__V1__INGEST_REQUEST__INIT;
    r.request_id = 42;
    r.body_case = COHORT__V1__INGEST_REQUEST__BODY_BATCH;
    r.batch = &b;
    uint8_t *buf = pack_req(&r, &len);
    is_int(codec_decode(c, buf, len, &out, &why), 0, "batch decodes");
    is_int(out->request_id, 42, "request_id survives");
    is_int(out->batch->n_events, 2, "two events");
    is_str(out->batch->events[1]->agency, "cps-wm", "agency of event 2");
    is_int(out->batch->events[0]->enrolment_changed->stage, COHORT__V1__ENROLMENT_STAGE__OFFERED,
           "enum survives");
    ok(memcmp(out->batch->events[0]->event_id.data, id, 16) == 0, "event_id survives");

    /* unknown field (number 99, varint) appended to an event is kept on re-pack */
    size_t elen;
    uint8_t *ebuf = codec_pack(&e1.base, &elen);
    uint8_t *ext = malloc(elen + 3);
    memcpy(ext, ebuf, elen);
    ext[elen] = 0x98, ext[elen + 1] = 0x06, ext[elen + 2] = 0x01; /* field 99 = 1 */
    Cohort__V1__Event *fut = cohort__v1__event__unpack(NULL, elen + 3, ext);
    ok(fut != NULL, "an event with an unknown field decodes (forward compatible)");
    size_t rl = fut ? cohort__v1__event__get_packed_size(fut) : 0;
    is_int(rl, elen + 3, "the unknown field is kept when the event is re-packed");
    cohort__v1__event__free_unpacked(fut, NULL);
    free(ext);
    free(ebuf);
    free(buf);

    /* ping */
    Cohort__V1__Ping ping = COHORT__V1__PING__INIT;
    Cohort__V1__IngestRequest pr = COHORT__V1__INGEST_REQUEST__INIT;
    pr.request_id = 7;
    pr.body_case = COHORT__V1__INGEST_REQUEST__BODY_PING;
    pr.ping = &ping;
    buf = pack_req(&pr, &len);
    is_int(codec_decode(c, buf, len, &out, &why), 0, "ping decodes");
    is_int(out->body_case, COHORT__V1__INGEST_REQUEST__BODY_PING, "as a ping");
    free(buf);

    /* refusals */
    uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    is_int(codec_decode(c, junk, sizeof junk, &out, &why), COHORT__V1__FRAME_ERROR__FRAME_MALFORMED,
           "garbage is FRAME_MALFORMED");
    ok(why && *why, "with a reason: %s", why);
    uint8_t trunc[] = {0x12, 0x10, 0x0a}; /* batch claims 16 bytes, has 1 */
    is_int(codec_decode(c, trunc, sizeof trunc, &out, &why),
           COHORT__V1__FRAME_ERROR__FRAME_MALFORMED, "truncated frame is FRAME_MALFORMED");
    uint8_t only_id[] = {0x08, 0x05};
    is_int(codec_decode(c, only_id, sizeof only_id, &out, &why),
           COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE, "no body is FRAME_UNKNOWN_TYPE");
    is_int(out ? out->request_id : 0, 5, "request_id still reported for the reply");
    uint8_t future[] = {0x08, 0x05, 0xa2, 0x06, 0x00}; /* body field 100: unknown */
    is_int(codec_decode(c, future, sizeof future, &out, &why),
           COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE, "unknown body type is FRAME_UNKNOWN_TYPE");
    is_int(codec_decode(c, junk, CODEC_MAX_FRAME + 1, &out, &why),
           COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE, "over 4 MiB is FRAME_TOO_LARGE");
    is_int(codec_decode(c, "", 0, &out, &why), COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE,
           "empty frame has no body");

    /* too many events */
    size_t n = CODEC_MAX_EVENTS + 1;
    Cohort__V1__Event **lots = malloc(n * sizeof *lots);
    for (size_t i = 0; i < n; i++)
        lots[i] = &e1;
    b.n_events = n;
    b.events = lots;
    buf = pack_req(&r, &len);
    size_t before = codec_arena_bytes(c);
    is_int(codec_decode(c, buf, len, &out, &why), COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS,
           "4097 events is FRAME_TOO_MANY_EVENTS");
    is_int(out ? out->request_id : 0, 42, "with its request_id for the reply");
    is_int(codec_arena_bytes(c), before, "a refused frame's memory is given back at once");
    free(buf);
    b.n_events = 4096;
    buf = pack_req(&r, &len);
    is_int(codec_decode(c, buf, len, &out, &why), 0, "4096 events decode");
    size_t big = codec_arena_bytes(c);
    is_int(codec_decode(c, only_id, sizeof only_id, &out, &why),
           COHORT__V1__FRAME_ERROR__FRAME_UNKNOWN_TYPE, "next frame decodes after a big one");
    ok(codec_arena_bytes(c) == big, "decoded events stay until reset (%zu)", big);
    codec_reset(c);
    is_int(codec_decode(c, buf, len, &out, &why), 0, "the same big frame again after a reset");
    is_int(codec_arena_bytes(c), big, "reuses the kept chunks: no growth (%zu)", big);
    codec_reset(c);
    ok(codec_arena_bytes(c) <= (8u << 20), "a reset keeps at most 8 MiB (%zu)",
       codec_arena_bytes(c));
    free(buf);
    free(lots);

    /* event spans: the bytes of each event exactly as sent */
    b.n_events = 3;
    Cohort__V1__Event *three[3] = {&e1, &e2, &e1};
    b.events = three;
    buf = pack_req(&r, &len);
    codec_span_t spans[3];
    is_int(codec_event_spans(buf, len, spans, 3), 0, "finds the three events' bytes");
    size_t l1, l2;
    uint8_t *p1 = codec_pack(&e1.base, &l1), *p2 = codec_pack(&e2.base, &l2);
    ok(spans[0].len == l1 && memcmp(spans[0].data, p1, l1) == 0 && spans[1].len == l2 &&
           memcmp(spans[1].data, p2, l2) == 0 && spans[2].len == l1,
       "each span is exactly the packed event");
    is_int(codec_event_spans(buf, len, spans, 2), -EINVAL, "a count that disagrees is refused");
    is_int(codec_event_spans(trunc, sizeof trunc, spans, 1), -EINVAL, "truncated input refused");
    free(p1);
    free(p2);
    free(buf);

    /* reply packing */
    Cohort__V1__Ack a = COHORT__V1__ACK__INIT, *ap[1] = {&a};
    a.event_id.data = id;
    a.event_id.len = 16;
    a.result = COHORT__V1__RESULT__DUPLICATE;
    a.seq = 12345;
    Cohort__V1__IngestReply rep = COHORT__V1__INGEST_REPLY__INIT;
    rep.request_id = 9;
    rep.n_acks = 1;
    rep.acks = ap;
    rep.head_seq = 20000;
    buf = codec_pack(&rep.base, &len);
    Cohort__V1__IngestReply *back = cohort__v1__ingest_reply__unpack(NULL, len, buf);
    ok(back && back->n_acks == 1 && back->acks[0]->seq == 12345 &&
           back->acks[0]->result == COHORT__V1__RESULT__DUPLICATE && back->head_seq == 20000,
       "reply round-trips with its ack");
    cohort__v1__ingest_reply__free_unpacked(back, NULL);
    free(buf);

    codec_destroy(&c);
    ok(c == NULL, "destroy nulls the pointer");
    codec_destroy(&c);
    codec_destroy(NULL);
    ok(c == NULL, "destroy is idempotent, and takes NULL");
    return tap_done();
}
