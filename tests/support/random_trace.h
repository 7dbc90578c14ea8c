/*
 * Random valid traces (the generator of tests/test_random_traces.c): trace
 * number SEED is always the same text, valid by construction under a safe
 * preset (docs/reliability.md).
 */
#ifndef PTSIM_TEST_RANDOM_TRACE_H
#define PTSIM_TEST_RANDOM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct t_random_gen;

struct t_random_trace {
	/* Inputs. */
	bool move_pages;     /* generate move_pages */
	unsigned int cpus;   /* 0: the machine has the CPUs the events use (2..6); more: that many, the rest idle */
	/* The last trace made. */
	char *buf;
	size_t len;
	unsigned int nr_events;
	bool arm64, v2;
	/*
	 * The trace up to a PMD-lock holder or RCU reader plus a munmap of the
	 * same mm beside it (NULL: none in this trace): impossible in the kernel
	 * (munmap takes mmap_lock for write, the holder has it for read), so a
	 * replay must refuse that event, number probe_event, with PTSIM_ECPUBUSY,
	 * saying probe_hint ("rcu_read_end first", "pmd_unlock first"), and
	 * report nothing.
	 */
	char *probe;
	size_t probe_len;
	unsigned int probe_event;
	const char *probe_hint;
	struct t_random_gen *gen;
};

/* Make trace @seed into @t (zero-initialise @t before the first call, set its inputs). */
void t_random_trace(struct t_random_trace *t, uint64_t seed);
void t_random_trace_free(struct t_random_trace *t);

/* Does @preset set @pair, exactly as ptsim_preset_pairs() lists it? */
bool t_preset_sets(const char *preset, const char *pair);

#endif
