/*
 * The simulator's allocator: one jemalloc arena per machine (or the C
 * allocator in sanitizer builds), with a fault-injection hook.
 *
 * Why an arena: a machine owns millions of small objects; destroying it drops
 * the arena in one call.  The host program's malloc is never replaced: the
 * explicit API (mallocx/dallocx) is used, and libptsim links jemalloc as a
 * private dependency.
 */
#ifndef PTSIM_UTIL_ALLOC_H
#define PTSIM_UTIL_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptsim/errors.h"

/*
 * What every path returns when one of the simulator's own allocations fails:
 * never -ENOMEM, which is the simulated system calls' answer (a hole in the
 * range), so that the two can never be confused (a trace's "expect":
 * "ENOMEM" never matches a host allocation failure).
 */
#define SIM_ENOMEM PTSIM_ENOMEM_HOST

struct sim_alloc {
	unsigned int arena;       /* jemalloc arena index */
	bool have_arena;
	uint64_t nr_injectable;   /* allocations that fault injection counts (not sim_i*()) */
	uint64_t fail_at;         /* fault injection: fail injectable allocation number N (1-based; 0 = never) */
	bool internal;            /* inside sim_i*(): not injectable */
	uint64_t live_bytes;      /* bytes currently allocated through this allocator */
};

int sim_alloc_init(struct sim_alloc *a);
/* Free every allocation at once when that is possible (arena); return true if done. */
bool sim_alloc_destroy(struct sim_alloc *a);
/* True when sim_alloc_destroy() releases everything (objects need not be freed one by one). */
bool sim_alloc_bulk_free(const struct sim_alloc *a);

void *sim_malloc(struct sim_alloc *a, size_t size);
void *sim_calloc(struct sim_alloc *a, size_t nmemb, size_t size);
/* Zeroed, aligned to @align (a power of two); freed with sim_free(). */
void *sim_zalloc_aligned(struct sim_alloc *a, size_t align, size_t size);
void *sim_realloc(struct sim_alloc *a, void *p, size_t old_size, size_t new_size);
void sim_free(struct sim_alloc *a, void *p, size_t size);
char *sim_strdup(struct sim_alloc *a, const char *s);

/*
 * Internal bookkeeping (IPI queues, indexes, violation records): never subject
 * to injected failures, because the kernel has no failure path there.  Freed
 * with sim_free().  (The TLB model's per-CPU arrays are large host memory and
 * use the injectable calls: the access that needs them fails with SIM_ENOMEM.)
 */
void *sim_imalloc(struct sim_alloc *a, size_t size);
void *sim_icalloc(struct sim_alloc *a, size_t nmemb, size_t size);
void *sim_irealloc(struct sim_alloc *a, void *p, size_t old_size, size_t new_size);
char *sim_istrdup(struct sim_alloc *a, const char *s);

#endif
