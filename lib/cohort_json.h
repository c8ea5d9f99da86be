/* cohort_json.h: the proto3 JSON mapping for cohort.v1 messages, driven by
 * the protobuf-c descriptors, so new proto fields need no code here.
 *
 * Input accepts lowerCamelCase (proto3 JSON) and the original snake_case
 * names; enums by name (or number); int64 as number or string; bytes as
 * base64. Two conveniences for agents: an Event's eventId may also be a
 * canonical UUID string, and when absent a fresh UUIDv7 is generated;
 * occurredAt may also be an RFC 3339 UTC string ("2009-04-01T09:00:00Z"),
 * and when absent it is set to now. Unknown JSON keys are an error (a typo
 * must not silently drop data). Output uses lowerCamelCase, enum names,
 * eventId as a UUID string and occurredAt as RFC 3339 with microseconds. */
#ifndef COHORT_JSON_H
#define COHORT_JSON_H
#include <stddef.h>
#include "cohort.pb-c.h"

/* Parses one JSON object text (one JSON Lines line) into a new Event.
 * Returns the event (caller frees with cohort__v1__event__free_unpacked(ev,
 * NULL)), or NULL with a one-line message in err (errlen bytes). */
Cohort__V1__Event *cohort_json_to_event(const char *text, size_t len, char *err, size_t errlen);

/* Renders any message as compact one-line JSON. Returns a malloc'd string
 * the caller frees, or NULL on allocation failure. */
char *cohort_json_from_message(const ProtobufCMessage *msg);

#endif
