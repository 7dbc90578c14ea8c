/*
 * How the recorder's arrays grow: the capacity doubles (from a first size
 * the caller picks) until the count it needs fits, with the element count
 * and the byte count checked for overflow.  A failure changes nothing: the
 * array and its capacity stay as they were, still the caller's to free, and
 * the caller says what the failure means (most give up with -ENOMEM).
 */
#ifndef PTSIM_RECORD_GROW_H
#define PTSIM_RECORD_GROW_H

#include <stdbool.h>
#include <stddef.h>

/*
 * rec_grow_cap - the capacity for @need elements of @elem bytes: *@cap
 * doubled (@first when 0) until it holds @need.  0 with *@cap set, or
 * -ENOMEM (nothing changed) when the count or its bytes overflow size_t.
 */
int rec_grow_cap(size_t *cap, size_t need, size_t elem, size_t first);

/*
 * rec_reserve - room for @need elements in the array @v (an lvalue: a
 * pointer, NULL when empty) of @cap elements (an lvalue size_t), by
 * realloc() at the capacity rec_grow_cap() gives.  0, or -ENOMEM with @v
 * and @cap unchanged.
 */
#define rec_reserve(v, cap, need, first) rec_reserve_(&(v), &(cap), (need), sizeof(*(v)), (first), false)

/* The same for an array indexed by id, whose slots past the old capacity read as zero (NULL). */
#define rec_reserve_zeroed(v, cap, need, first) rec_reserve_(&(v), &(cap), (need), sizeof(*(v)), (first), true)

/* Behind the macros: @vp points to the array pointer; @zero: clear the new slots. */
int rec_reserve_(void *vp, size_t *cap, size_t need, size_t elem, size_t first, bool zero);

#endif
