/*
 * The regression of seed 000_9d4a9cd44a7ae822 at full scale (issue 4): a
 * 196-CPU machine, a parent that maps 1.2 TB (1200 GiB of 2 MiB pages)
 * MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB and never touches it, 1,000 children
 * that each read 100 random huge pages and exit (at most 195 alive at once,
 * one per CPU; traces/seeds/gen_000_9d4a9cd44a7ae822.py says why).  Reported
 * against 1013af4f585f: 11.3 s instead of 2.5 s, from one IPI broadcast per
 * unshared PMD table at every exit; 8ce720d5bd91 sends at most one per exit,
 * and none when a sibling still shares every table the child unshares.
 *
 * For each hugetlb_unshare variant: the bundled trace
 * (traces/seeds/000_9d4a9cd44a7ae822_forkexit.json) through ptsim_trace_run(),
 * timed, then the same schedule driven call by call to read the counters
 * around every exit.  The two runs must agree (same seed, same calls).
 * Printed: PMD tables unshared, tables made exclusive (the 2 -> 1 steps),
 * broadcasts (tlb_remove_table_sync_one()) and IPIs received, in total and
 * per child exit, exits that broadcast, the most broadcasts one exit sent,
 * and host time.  Then the checks of the seed's reasoning.
 *
 * --scale 10 (issue 11): the same schedule ten times larger, 1,960 CPUs and
 * 10,000 children (up to 1,959 alive), call by call only (the bundled trace
 * is the 196-CPU one): per variant the counts (unshared tables, broadcasts,
 * IPIs received, mmu_gather flushes, flush IPIs) and the CPU seconds it took
 * (goal: each variant under 5 s of CPU).  --per-target delivers every IPI
 * target by target (ptsim_debug_ipi_fastpath(false), the reference path), for
 * a side-by-side ratio.
 *
 *   bench_hugetlb_seed [trace]
 *   bench_hugetlb_seed --scale 10 [--variant NAME] [--per-target]
 */
#include <stdint.h>
#include <string.h>

#include "bench_common.h"

#ifndef PTSIM_TRACES_DIR
#define PTSIM_TRACES_DIR "traces"
#endif

/* The schedule of gen_000_9d4a9cd44a7ae822.py (--scale multiplies CPUs and children). */
#define CPUS_1X 196u
#define CHILDREN_1X 1000
#define PAGES 100
#define SIZE (1200ull << 30)
#define BASE 0x100000000000ull
#define SEED 20251223ull

struct schedule {
	unsigned int cpus;
	int children, window;
	bool per_target;   /* every IPI delivered target by target (the reference path) */
};

struct totals {
	uint64_t unshares, exclusive, broadcasts, ipis, flush_ipis, flushes, exits_broadcasting, max_per_exit,
		violations;
	double host_s;
};

static struct ptsim_machine *machine(const struct schedule *sc, const char *variant)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char set[64], err[256];
	const char *sets[] = { set, NULL };

	snprintf(set, sizeof(set), "hugetlb_unshare=%s", variant);
	ptsim_config_init(&cfg);
	cfg.cpus = sc->cpus;
	cfg.seed = SEED;
	cfg.set = sets;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err))) {
		fprintf(stderr, "machine: %s\n", err);
		exit(1);
	}
	ptsim_debug_ipi_fastpath(m, !sc->per_target);
	return m;
}

static void read_totals(struct ptsim_machine *m, struct totals *t)
{
	t->unshares = bench_stat(m, "hugetlb.pmd_unshare");
	t->exclusive = bench_stat(m, "hugetlb.pmd_unshare_last");
	t->broadcasts = bench_stat(m, "ipi.calls.table_sync");
	t->ipis = bench_stat(m, "ipi.received.table_sync");
	t->flush_ipis = bench_stat(m, "ipi.received.tlb_flush");
	t->flushes = bench_stat(m, "mmu_gather.tlb_flush");
	t->violations = ptsim_violation_count(m);
}

/* The bundled trace, timed. */
static void run_trace(const char *path, const char *variant, struct totals *t)
{
	struct ptsim_trace *tr = NULL;
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char set[64], err[512];

	if (ptsim_trace_load_file(&tr, path, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	snprintf(set, sizeof(set), "hugetlb_unshare=%s", variant);
	ptsim_trace_config_add(tr, set);
	ptsim_trace_config(tr, &cfg);
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err))) {
		fprintf(stderr, "machine: %s\n", err);
		exit(1);
	}
	double t0 = bench_now();
	BENCH_OK(m, ptsim_trace_run(tr, m));
	t->host_s = bench_now() - t0;
	read_totals(m, t);
	ptsim_trace_free(tr);
	ptsim_machine_destroy(m);
}

/* One child's exit, with the counters around it. */
static void child_exit(struct ptsim_machine *m, int task, struct totals *t, uint64_t *bad_exits)
{
	uint64_t b0 = bench_stat(m, "ipi.calls.table_sync");
	uint64_t u0 = bench_stat(m, "hugetlb.pmd_unshare");
	uint64_t e0 = bench_stat(m, "hugetlb.pmd_unshare_last");

	BENCH_OK(m, ptsim_exit(m, task));
	uint64_t b = bench_stat(m, "ipi.calls.table_sync") - b0;
	uint64_t u = bench_stat(m, "hugetlb.pmd_unshare") - u0;
	uint64_t e = bench_stat(m, "hugetlb.pmd_unshare_last") - e0;
	if (b)
		t->exits_broadcasting++;
	if (b > t->max_per_exit)
		t->max_per_exit = b;
	/* The seed's reasoning, per exit: checked by the caller's variant. */
	bad_exits[0] += b != u;                    /* ipi_per_table: one per unshared table */
	bad_exits[1] += b != (e ? 1u : 0u);        /* mmu_gather: one iff a table became exclusive */
	bad_exits[2] += b != 0;                    /* none */
}

/* The same schedule, call by call. */
static void run_calls(const struct schedule *sc, const char *variant, struct totals *t, uint64_t *bad_exits)
{
	struct ptsim_machine *m = machine(sc, variant);
	struct ptsim_mmap_args a = { .addr = BASE, .len = SIZE, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = PTSIM_MAP_HUGETLB, .shared = true };

	BENCH_OK(m, ptsim_spawn(m, 1, 0));
	BENCH_OK(m, ptsim_mmap(m, 1, &a));
	for (int k = 0; k < sc->children; k++) {
		if (k >= sc->window)
			child_exit(m, 100 + k - sc->window, t, bad_exits);
		BENCH_OK(m, ptsim_fork(m, 1, 100 + k, 1u + (unsigned int)(k % sc->window)));
		BENCH_OK(m, ptsim_touch_random(m, 100 + k, BASE, SIZE, 2ull << 20, PAGES, false));
	}
	for (int k = sc->children > sc->window ? sc->children - sc->window : 0; k < sc->children; k++)
		child_exit(m, 100 + k, t, bad_exits);
	read_totals(m, t);
	BENCH_OK(m, ptsim_munmap(m, 1, BASE, SIZE));
	BENCH_OK(m, ptsim_exit(m, 1));
	ptsim_machine_destroy(m);
}

static const char *const variants[] = { "ipi_per_table", "mmu_gather", "none" };
enum { NR_VARIANTS = sizeof(variants) / sizeof(variants[0]) };

/* The seed's reasoning for @variant, checked per exit by child_exit(). */
static uint64_t rule_breaks(const char *variant, const uint64_t *bad)
{
	return !strcmp(variant, "ipi_per_table") ? bad[0] : !strcmp(variant, "mmu_gather") ? bad[1] : bad[2];
}

/* --scale N: call by call only, CPU seconds per variant. */
static int run_scaled(unsigned int scale, const char *only, bool per_target)
{
	struct schedule sc = { CPUS_1X * scale, CHILDREN_1X * (int)scale, (int)(CPUS_1X * scale) - 1, per_target };
	int failures = 0;

	printf("seed 000_9d4a9cd44a7ae822 at %ux: %u CPUs, %llu GiB MAP_SHARED hugetlb, %d children x %d random\n"
	       "2 MiB pages, fork+exit, up to %d alive; call by call; CPU seconds of this process%s\n\n",
	       scale, sc.cpus, (unsigned long long)(SIZE >> 30), sc.children, PAGES, sc.window,
	       sc.per_target ? "; IPIs delivered target by target (--per-target)" : "");
	printf("%-14s %9s %9s %10s %14s %10s %10s %8s %7s %8s\n", "hugetlb_unshare", "unshared", "to_excl",
	       "broadcasts", "IPIs", "flushes", "flush_IPIs", "exits_bc", "max/ex", "cpu_s");
	for (size_t i = 0; i < NR_VARIANTS; i++) {
		struct totals t = { 0 };
		uint64_t bad[3] = { 0 };

		if (only && strcmp(only, variants[i]))
			continue;
		double t0 = bench_cpu_now();
		run_calls(&sc, variants[i], &t, bad);
		t.host_s = bench_cpu_now() - t0;
		printf("%-14s %9llu %9llu %10llu %14llu %10llu %10llu %8llu %7llu %8.2f\n", variants[i],
		       (unsigned long long)t.unshares, (unsigned long long)t.exclusive, (unsigned long long)t.broadcasts,
		       (unsigned long long)t.ipis, (unsigned long long)t.flushes, (unsigned long long)t.flush_ipis,
		       (unsigned long long)t.exits_broadcasting, (unsigned long long)t.max_per_exit, t.host_s);
		uint64_t bad_here = rule_breaks(variants[i], bad);
		if (bad_here || t.ipis != t.broadcasts * (sc.cpus - 1) || t.flush_ipis || t.violations) {
			printf("  MISMATCH: %llu exits broke the variant's rule; %llu IPIs for %llu broadcasts, %llu flush IPIs,"
			       " %llu violations\n", (unsigned long long)bad_here, (unsigned long long)t.ipis,
			       (unsigned long long)t.broadcasts, (unsigned long long)t.flush_ipis,
			       (unsigned long long)t.violations);
			failures++;
		}
		printf("  %.2f s of CPU (goal: under 5 s): %s\n", t.host_s, t.host_s < 5.0 ? "met" : "missed");
	}
	printf("\npeak RSS %.1f MiB; %s\n", bench_peak_rss_mib(), failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	const struct schedule sc = { CPUS_1X, CHILDREN_1X, (int)CPUS_1X - 1, false };
	const char *trace = NULL, *only = NULL;
	bool per_target = false;
	unsigned int scale = 0;
	char path[1024];
	int failures = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--scale") && i + 1 < argc)
			scale = (unsigned int)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--per-target"))
			per_target = true;
		else if (argv[i][0] != '-' && !trace)
			trace = argv[i];
		else {
			fprintf(stderr, "usage: %s [trace] | --scale N [--variant NAME] [--per-target]\n", argv[0]);
			return 2;
		}
	}
	if (scale)
		return scale > 100 ? 2 : run_scaled(scale, only, per_target);
	if (trace)
		snprintf(path, sizeof(path), "%s", trace);
	else
		snprintf(path, sizeof(path), "%s/seeds/000_9d4a9cd44a7ae822_forkexit.json", PTSIM_TRACES_DIR);
	printf("seed 000_9d4a9cd44a7ae822: %u CPUs, %llu GiB MAP_SHARED hugetlb (parent never touches it),\n"
	       "%d children x %d random 2 MiB pages, fork+exit, up to %d alive (trace %s)\n\n",
	       sc.cpus, (unsigned long long)(SIZE >> 30), sc.children, PAGES, sc.window, path);
	printf("%-14s %9s %9s %10s %12s %9s %9s %8s %7s %8s %8s\n", "hugetlb_unshare", "unshared", "to_excl",
	       "broadcasts", "IPIs", "bc/exit", "IPIs/exit", "exits_bc", "max/ex", "trace_s", "calls_s");
	for (size_t i = 0; i < NR_VARIANTS; i++) {
		struct totals tr = { 0 }, calls = { 0 };
		uint64_t bad[3] = { 0 };

		run_trace(path, variants[i], &tr);
		double t0 = bench_now();
		run_calls(&sc, variants[i], &calls, bad);
		calls.host_s = bench_now() - t0;
		printf("%-14s %9llu %9llu %10llu %12llu %9.2f %9.1f %8llu %7llu %8.2f %8.2f\n", variants[i],
		       (unsigned long long)tr.unshares, (unsigned long long)tr.exclusive,
		       (unsigned long long)tr.broadcasts, (unsigned long long)tr.ipis,
		       (double)tr.broadcasts / sc.children, (double)tr.ipis / sc.children,
		       (unsigned long long)calls.exits_broadcasting, (unsigned long long)calls.max_per_exit, tr.host_s,
		       calls.host_s);

		/* The trace and the call-by-call run are the same workload. */
		if (tr.unshares != calls.unshares || tr.broadcasts != calls.broadcasts || tr.ipis != calls.ipis) {
			printf("  MISMATCH: the trace and the call-by-call run disagree\n");
			failures++;
		}
		/* The seed's reasoning. */
		uint64_t bad_here = rule_breaks(variants[i], bad);
		if (bad_here) {
			printf("  MISMATCH: %llu exits broke the rule of this variant\n", (unsigned long long)bad_here);
			failures++;
		}
		if (tr.ipis != tr.broadcasts * (sc.cpus - 1) || tr.flush_ipis || tr.violations) {
			printf("  MISMATCH: %llu IPIs for %llu broadcasts, %llu flush IPIs, %llu violations\n",
			       (unsigned long long)tr.ipis, (unsigned long long)tr.broadcasts,
			       (unsigned long long)tr.flush_ipis, (unsigned long long)tr.violations);
			failures++;
		}
		if (tr.host_s >= 10.0) {
			printf("  SLOW: %.2f s of host time (goal: under 10 s)\n", tr.host_s);
			failures++;
		}
	}
	printf("\nrules checked per exit: ipi_per_table one broadcast per unshared table; mmu_gather one broadcast\n"
	       "iff some table went from 2 sharers to 1 (none while a sibling still shares), at most one; none: 0.\n"
	       "peak RSS %.1f MiB; %s\n", bench_peak_rss_mib(), failures ? "FAILED" : "all checks passed");
	return failures ? 1 : 0;
}
