/* cohort_grow.h: the one growable-array helper (header only). */
#ifndef COHORT_GROW_H
#define COHORT_GROW_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* Makes the array *p of *cap elements of elem bytes hold at least need
 * elements: capacity doubles from 64. *p and *cap change only on success.
 * Returns 0, or -ENOMEM (out of memory, or a size that would overflow). */
static inline int cohort_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t n;
    void *q;
    if (need <= *cap)
        return 0;
    n = *cap ? *cap : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -ENOMEM;
        n *= 2;
    }
    if (elem && n > SIZE_MAX / elem)
        return -ENOMEM;
    if (!(q = realloc(*p, n * elem)))
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

#endif
