/* cohort_zmon.h: reading one libzmq socket-monitor event (header only),
 * for the client library's sockets (cohort_client.c, cohort_sub.c). */
#ifndef COHORT_ZMON_H
#define COHORT_ZMON_H
#include <stdint.h>
#include <string.h>
#include <zmq.h>

/* Reads one event from the monitor PAIR socket mon without blocking: frame
 * 1 holds the event (16 bits) and its value (32 bits), frame 2 the
 * endpoint (read and dropped). Returns 1 with *ev and *val set (0 if frame
 * 1 was short), or 0 when no whole event could be read. */
static inline int cohort_zmon_read(void *mon, uint16_t *ev, uint32_t *val)
{
    zmq_msg_t m;
    int more;
    *ev = 0;
    *val = 0;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    if (zmq_msg_size(&m) >= 6) {
        memcpy(ev, zmq_msg_data(&m), 2);
        memcpy(val, (const uint8_t *)zmq_msg_data(&m) + 2, 4);
    }
    more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    while (more) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return 0;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return 1;
}

#endif
