/*
 * Helpers shared by the cmocka tests: fresh machines, trace replay from
 * traces/, counter deltas between marks, and teardown checks.
 */
#ifndef PTSIM_TEST_HELPERS_H
#define PTSIM_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ptsim/ptsim.h"

/* A machine with the given arch defaults, @cpus CPUs, preset and NULL-terminated overrides. */
struct ptsim_machine *t_machine(unsigned int cpus, const char *preset, const char *const *set);
/* Any architecture and geometry (0 = the default granule / VA size). */
struct ptsim_machine *t_machine_cfg(enum ptsim_arch arch, unsigned int granule, unsigned int va_bits, unsigned int cpus,
				   const char *preset, const char *const *set);
/* Load traces/<rel>, build its machine (extra overrides appended), run it; fails the test on error. */
struct ptsim_machine *t_run_trace(const char *rel, const char *const *extra_set);
/* Same, but return the run's error code and keep the machine for inspection. */
int t_try_trace(const char *rel, const char *const *extra_set, struct ptsim_machine **out);
/* Both, with @adjust(cfg, ctx) changing the trace's resolved config before the machine is built. */
int t_try_trace_adjusted(const char *rel, const char *const *extra_set,
			 void (*adjust)(struct ptsim_config *cfg, const void *ctx), const void *ctx,
			 struct ptsim_machine **out);
struct ptsim_machine *t_run_trace_adjusted(const char *rel, const char *const *extra_set,
					   void (*adjust)(struct ptsim_config *cfg, const void *ctx), const void *ctx);
/* Run a trace given as a JSON string. */
int t_run_json(const char *json, struct ptsim_machine **out, char *err, size_t errlen);
/* counter(after) - counter(before) between two marks. */
uint64_t t_delta(struct ptsim_machine *m, const char *before, const char *after, const char *counter);
uint64_t t_stat(struct ptsim_machine *m, const char *counter);
uint64_t t_mark_stat(struct ptsim_machine *m, const char *mark, const char *counter);
/* Violations of one kind (whose message contains @needle). */
size_t t_violations(struct ptsim_machine *m, enum ptsim_violation_kind kind);
size_t t_violations_with(struct ptsim_machine *m, enum ptsim_violation_kind kind, const char *needle);
/* The figures of live @task's mm now, or at @mark (fails the test if there are none). */
struct ptsim_mm_info t_mm_info(struct ptsim_machine *m, int task);
struct ptsim_mm_info t_mark_mm_info(struct ptsim_machine *m, const char *mark, int task);
/* Let RCU finish, assert the simulator's own consistency, destroy. */
void t_destroy(struct ptsim_machine *m);

/* Assert helpers that print the machine's message on failure. */
#define T_OK(m, call)                                                                                      \
	do {                                                                                               \
		int t_rc_ = (call);                                                                        \
		if (t_rc_)                                                                                 \
			fail_msg("%s failed: %d (%s): %s", #call, t_rc_, ptsim_errname(t_rc_),             \
				 ptsim_machine_errmsg(m));                                                 \
	} while (0)

/*
 * In a PTSIM_DEBUG build, the reason the bundled trace @rel (a path below
 * traces/) is left out of the tests that replay every bundled trace, or NULL
 * when it is run.  The checkers run after every operation walk the whole
 * machine, and a few traces hold tens of thousands of operations on
 * gigabytes of mappings: each would take several minutes of CPU alone.  Every
 * other build (the README's, ASan) replays them all.
 */
const char *t_trace_slow_when_checked(const char *rel);

#endif
