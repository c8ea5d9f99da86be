/* civil.h: proleptic Gregorian dates as day counts since 1970-01-01 (H.
 * Hinnant's algorithms), for the JSON mapping of events (cohort_json.c)
 * and the projections' dates (daemon/proj.c). Pure functions; any year an
 * int64_t day count can hold. */
#ifndef COHORT_CIVIL_H
#define COHORT_CIVIL_H
#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31); the
 * caller has checked the date (an out-of-range m or d gives a day count,
 * not an error). */
int64_t civil_days(int64_t y, unsigned m, unsigned d);

/* The date of day count z since 1970-01-01 (the inverse of civil_days). */
void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
