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
	struct t_random_gen *gen;
};

/* Make trace @seed into @t (zero-initialise @t before the first call, set its inputs). */
void t_random_trace(struct t_random_trace *t, uint64_t seed);
void t_random_trace_free(struct t_random_trace *t);

#endif
