/* request.c: the request envelope of the ROUTER sockets (see request.h).
 * No allocation anywhere: a checked request points into its frames, and a
 * saved peer is a fixed-size copy. */
#include "request.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "zbridge.h"

int request_check(request_t *rq, zmq_msg_t *parts, int n, const auth_t *auth, int flags)
{
    int nf = n > ZBRIDGE_MAX_PARTS ? ZBRIDGE_MAX_PARTS : n; /* frames held in parts */
    assert(nf >= 1);
    rq->peer.rid = zmq_msg_data(&parts[0]);
    rq->peer.rid_len = zmq_msg_size(&parts[0]);
    rq->peer.delim = 0;
    rq->body = NULL;
    rq->envelope_rc = -EPROTO;
    if (rq->peer.rid_len >= 1 && rq->peer.rid_len <= REQUEST_RID_MAX) {
        if (n == 2) {
            rq->body = &parts[1];
            rq->envelope_rc = 0;
        } else if (n == 3 && !(flags & REQUEST_NO_DELIM) && zmq_msg_size(&parts[1]) == 0) {
            rq->body = &parts[2];
            rq->peer.delim = 1;
            rq->envelope_rc = 0;
        }
    }
    rq->auth_rc = 0;
    if (auth) {
        /* every frame of a message carries its connection's User-Id */
        rq->user_id = zmq_msg_gets(&parts[nf - 1], "User-Id");
        if (auth_check(auth, rq->user_id, &rq->who) < 0)
            rq->auth_rc = -EACCES;
    } else {
        /* plaintext: no identity; the few fields a log line may show are set
         * (not the whole 1 KiB struct: this runs for every frame) */
        rq->user_id = NULL;
        rq->who.role = 0;
        rq->who.agency[0] = rq->who.key[0] = rq->who.programmes[0] = '\0';
        memcpy(rq->who.fingerprint, "-", 2);
    }
    return rq->envelope_rc < 0 ? rq->envelope_rc : rq->auth_rc;
}

void request_fingerprint(const request_t *rq, char out[COHORT_KEY_FP_LEN + 1])
{
    const char *k = rq->user_id ? strchr(rq->user_id, ':') : NULL;
    k = k ? strchr(k + 1, ':') : NULL;
    if (!k || !k[1]) {
        memcpy(out, "-", 2);
        return;
    }
    size_t n = strnlen(k + 1, COHORT_KEY_FP_LEN);
    memcpy(out, k + 1, n);
    out[n] = '\0';
}

/* Sends the envelope's head: [rid] and, for a REQ peer, [""]. */
static int send_head(void *sock, const request_peer_t *to)
{
    if (zmq_send(sock, to->rid, to->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        (to->delim && zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0))
        return -errno;
    return 0;
}

int request_send(void *sock, const request_peer_t *to, const void *const *data, const size_t *len,
                 size_t n)
{
    int rc = send_head(sock, to);
    assert(n >= 1);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (zmq_send(sock, data[i], len[i], (i + 1 < n ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            rc = -errno;
    return rc;
}

int request_reply(void *sock, const request_peer_t *to, const void *data, size_t len)
{
    return request_send(sock, to, &data, &len, 1);
}

int request_reply_msg(void *sock, const request_peer_t *to, zmq_msg_t *msg)
{
    int rc = send_head(sock, to);
    if (rc == 0 && zmq_msg_send(msg, sock, ZMQ_DONTWAIT) < 0)
        rc = -errno;
    if (rc < 0)
        zmq_msg_close(msg);
    return rc;
}

void request_save(request_saved_t *to, const request_peer_t *from)
{
    assert(from->rid_len <= REQUEST_RID_MAX);
    memcpy(to->rid, from->rid, from->rid_len);
    to->rid_len = from->rid_len;
    to->delim = from->delim;
}

request_peer_t request_saved_peer(const request_saved_t *saved)
{
    return (request_peer_t){saved->rid, saved->rid_len, saved->delim};
}
