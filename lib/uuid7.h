/* uuid7.h: event ids. An event_id is 16 bytes; agents make UUIDv7 ids
 * (RFC 9562: 48-bit Unix milliseconds, then random bits), so ids sort by
 * creation time. Text form is the canonical 36-character UUID. */
#ifndef COHORT_UUID7_H
#define COHORT_UUID7_H
#include <stdint.h>

/* Fills out with a new UUIDv7. Returns 0, or -errno if no randomness. */
int uuid7_generate(uint8_t out[16]);

/* Parses canonical text ("0191e4b2-...") into out. Returns 0 or -EINVAL. */
int uuid7_parse(const char *text, uint8_t out[16]);

/* Writes the canonical lower-case text of id into out (37 bytes, NUL-ended). */
void uuid7_format(const uint8_t id[16], char out[37]);

#endif
