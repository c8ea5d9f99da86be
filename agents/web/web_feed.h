/* web_feed.h: cohort-web's copy of the status documents. A thread of its
 * own runs a cohort_sub subscriber with cohort-web's CURVE key (role web:
 * every status topic) and copies each applied document into a store that
 * the HTTP threads read: per topic the document, the time it arrived and a
 * generation number (the store's counter when it last changed), so that a
 * Server-Sent Events stream can ask which topics changed since it last
 * looked. Documents are never modified once stored (readers hold a
 * reference; jansson's reference counts are atomic). Thread-safe. */
#ifndef WEB_FEED_H
#define WEB_FEED_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cohort_keys.h"
#include "cohort_scope.h"

/* Where to subscribe and how. */
typedef struct {
    const char *publish;         /* cohortd's publish endpoint (copied) */
    const char *snapshot;        /* its snapshot endpoint (copied) */
    const cohort_curve_t *curve; /* CURVE keys (copied), or NULL / !on for plain text */
} web_feed_opts_t;

typedef struct web_feed_t web_feed_t;

/* Starts the subscriber thread. Returns the feed, or NULL with a message
 * in err. */
web_feed_t *web_feed_new(const web_feed_opts_t *opts, char *err, size_t errlen);

/* Wakes every waiter for good (web_feed_wait returns -ECANCELED) and stops
 * the thread; the store stays readable. Idempotent. */
void web_feed_shutdown(web_feed_t *self);

/* Shuts down, frees everything and nulls *self_p. NULL is fine. */
void web_feed_destroy(web_feed_t **self_p);

/* The document of topic, with a new reference (json_decref it), and when it
 * arrived (*at, may be NULL); NULL if not held. */
json_t *web_feed_get(web_feed_t *self, const char *topic, time_t *at);

/* Calls fn(arg, topic) for every held topic that starts with prefix and
 * that role (with agency) may read (lib/cohort_scope.h), in sorted order.
 * fn must not call back into the feed. Returns how many calls. */
size_t web_feed_each(web_feed_t *self, const char *prefix, cohort_role_t role, const char *agency,
                     void (*fn)(void *arg, const char *topic), void *arg);

/* The store's current generation (0 before any document). */
uint64_t web_feed_generation(web_feed_t *self);

/* Waits up to timeout_ms for the generation to pass since. Returns the
 * generation (== since on a timeout), or -ECANCELED after shutdown. */
int64_t web_feed_wait(web_feed_t *self, uint64_t since, int timeout_ms);

/* Like web_feed_each, over the topics that changed (or went) after
 * generation since. */
size_t web_feed_changed(web_feed_t *self, uint64_t since, cohort_role_t role, const char *agency,
                        void (*fn)(void *arg, const char *topic), void *arg);

/* 1 when the subscriber holds a complete, current state. */
int web_feed_synced(web_feed_t *self);

/* The store's figures for the metrics. */
typedef struct {
    size_t documents;    /* documents held */
    uint64_t generation; /* changes applied so far */
    int synced;          /* as web_feed_synced */
    time_t last_change;  /* when a document last changed; 0: never */
} web_feed_stats_t;

/* Fills *out. */
void web_feed_stats(web_feed_t *self, web_feed_stats_t *out);

#endif
