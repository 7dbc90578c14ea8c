/*
 * Test hooks.  Not for simulations: they exist so that test suites can prove
 * that the checks catch what they should (a corrupted counter makes
 * check_mm() complain; an allocation failure is handled cleanly).
 */
#ifndef PTSIM_DEBUG_H
#define PTSIM_DEBUG_H

#include <stdbool.h>
#include <stdint.h>
#include "ptsim/export.h"

struct ptsim_machine;

enum ptsim_rss_counter {
	PTSIM_RSS_FILE = 0,
	PTSIM_RSS_ANON = 1,
	PTSIM_RSS_SWAP = 2,
	PTSIM_RSS_SHMEM = 3,
};

/** ptsim_debug_rss_add - corrupt @task's mm's RSS counter by @delta pages. */
PTSIM_API int ptsim_debug_rss_add(struct ptsim_machine *m, int task, enum ptsim_rss_counter counter, long delta);

/**
 * ptsim_debug_fail_alloc - make the @n-th simulator allocation from now fail
 * (1 = the next one); 0 cancels.  Each call arms one failure.
 */
PTSIM_API void ptsim_debug_fail_alloc(struct ptsim_machine *m, uint64_t n);

/**
 * ptsim_debug_batching - with @on false, every access of a touch and every
 * zapped page takes the simulator's general per-page path instead of the
 * batched one (on by default).  Results are the same either way: tests
 * compare the two.
 */
PTSIM_API void ptsim_debug_batching(struct ptsim_machine *m, bool on);

/**
 * ptsim_debug_ipi_fastpath - with @on false, every IPI of a broadcast is
 * delivered and counted target by target (the general path) instead of in
 * bulk where no target's state changes (on by default).  Results are the same
 * either way: tests compare the two.
 */
PTSIM_API void ptsim_debug_ipi_fastpath(struct ptsim_machine *m, bool on);

/** ptsim_debug_allocated_bytes - bytes the machine's allocator holds now. */
PTSIM_API uint64_t ptsim_debug_allocated_bytes(const struct ptsim_machine *m);

#endif
