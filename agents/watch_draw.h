/* watch_draw.h: cohort-watch's tables of status documents (watch_draw.c). */
#ifndef WATCH_DRAW_H
#define WATCH_DRAW_H
#include <stdio.h>

#include "cohort_sub.h"

/* Writes topic d's table (a header line with topic, rev and seq, then the
 * table, then a blank line) to o. Output errors are left in o's error flag. */
void watch_draw_topic(FILE *o, const cohort_sub_doc_t *d);

/* cohort_sub_each callback: watch_draw_topic to arg (a FILE *). Returns 0. */
int watch_draw_each(void *arg, const cohort_sub_doc_t *d);

#endif
