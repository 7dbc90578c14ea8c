/*
 * Batched touches (ptsim_debug_batching()): the accesses of a page-by-page
 * touch inside one PTE table are done together, with the faults of empty
 * anonymous PTEs summed.  The general per-page path is the reference: every
 * bundled trace and random sequences of operations must give the same JSON
 * report, byte for byte, with batching on and off.
 *
 * Batched IPI delivery (ptsim_debug_ipi_fastpath()): a broadcast whose
 * targets' state does not change is counted in bulk.  The per-target path is
 * the reference: every bundled trace and random valid traces
 * (tests/support/random_trace.c) on machines of up to 6 CPUs and of 65, 130
 * and 200 CPUs (more than one cpumask word, not a multiple of 64) must give
 * the same JSON report with it on and off.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/helpers.h"
#include "support/random_trace.h"

#include "mm/internal.h"

/* The debug switch of a batched path: ptsim_debug_batching() or ptsim_debug_ipi_fastpath(). */
typedef void (*batch_switch)(struct ptsim_machine *m, bool on);

/* The JSON report of loaded trace @t (named @what) run with @sw @on; the run's status in *rc. */
static char *run_report(struct ptsim_trace *t, const char *what, batch_switch sw, bool on, int *rc)
{
	char err[512];
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;

	ptsim_trace_config(t, &cfg);
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("%s: machine: %s", what, err);
	sw(m, on);
	*rc = ptsim_trace_run(t, m);
	char *json = ptsim_report_json(m);
	if (!json)
		fail_msg("%s: no report", what);
	char *copy = strdup(json);
	ptsim_free(json);
	ptsim_machine_destroy(m);
	return copy;
}

/* The JSON report of @rel (below traces/) run with @sw @on; the run's status in *rc. */
static char *trace_report(const char *rel, batch_switch sw, bool on, int *rc)
{
	char path[1024], err[512];
	struct ptsim_trace *t = NULL;

	snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rel);
	if (ptsim_trace_load_file(&t, path, err, sizeof(err)))
		fail_msg("%s: %s", rel, err);
	char *json = run_report(t, rel, sw, on, rc);
	ptsim_trace_free(t);
	return json;
}

/* Where two reports first differ, for the failure message. */
static size_t first_difference(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] && a[i] == b[i])
		i++;
	return i;
}

/*
 * W1 case a at full size (oracle/w1_a*.json, 13 M accesses) takes seconds per
 * run; the smaller W1 traces and the random runs cover the same paths.
 */
static bool too_long(const char *rel)
{
	const char *why = t_trace_slow_when_checked(rel);

	if (why)
		printf("skipped: %s: %s\n", rel, why);
	return !strcmp(rel, "oracle/w1_a.json") || !strcmp(rel, "oracle/w1_a_free.json") || why;
}

/* The two reports of @what, with the batched path on and off, must be the same: both are freed. */
static void same_reports(const char *what, char *on, int rc_on, char *off, int rc_off)
{
	if (rc_on != rc_off || strcmp(on, off)) {
		size_t i = first_difference(on, off);
		size_t from = i > 80 ? i - 80 : 0;
		fail_msg("%s: batching on (rc %d) and off (rc %d) differ at byte %zu:\n on: %.160s\noff: %.160s", what,
			 rc_on, rc_off, i, on + from, off + from);
	}
	free(on);
	free(off);
}

static void compare_trace(const char *rel, batch_switch sw)
{
	int rc_on, rc_off;
	char *on = trace_report(rel, sw, true, &rc_on);
	char *off = trace_report(rel, sw, false, &rc_off);

	same_reports(rel, on, rc_on, off, rc_off);
}

static bool is_trace(const char *name, size_t n)
{
	static const char *const ext[] = { ".json", ".jsonl", ".jsonl.gz", ".jsonl.zst" };

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t e = strlen(ext[i]);
		if (n > e && !strcmp(name + n - e, ext[i]))
			return true;
	}
	return false;
}

/* Every trace below traces/@rel (plain, JSON Lines, compressed), recursively. */
static size_t compare_dir(const char *rel, batch_switch sw)
{
	char path[1024];
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rel);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char sub[1024], full[2048];
		struct stat st;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		snprintf(full, sizeof(full), "%s/%s", PTSIM_TRACES_DIR, sub);
		if (stat(full, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			n += compare_dir(sub, sw);
		} else if (is_trace(de->d_name, len) && !too_long(sub)) {
			compare_trace(sub, sw);
			n++;
		}
	}
	closedir(d);
	return n;
}

static void test_batching__bundled_traces_same_report(void **state)
{
	(void)state;
	assert_true(compare_dir("", ptsim_debug_batching) >= 40);
}

static void test_batching__ipi_bundled_traces_same_report(void **state)
{
	(void)state;
	assert_true(compare_dir("", ptsim_debug_ipi_fastpath) >= 40);
}

/*
 * Random valid traces on machines of the generator's size (2..6 CPUs) and
 * larger ones whose extra CPUs stay idle but take every broadcast.
 */
static void test_batching__ipi_random_traces_same_report(void **state)
{
	static const unsigned int cpus[] = { 0, 65, 130, 200 };
	struct t_random_trace g = { .move_pages = true };
	char what[64], err[512];
	(void)state;

	for (size_t k = 0; k < sizeof(cpus) / sizeof(cpus[0]); k++) {
		g.cpus = cpus[k];
		for (uint64_t seed = 1; seed <= 24; seed++) {
			char *json[2];
			int rc[2];

			t_random_trace(&g, seed);
			snprintf(what, sizeof(what), "random trace %llu on %u CPUs", (unsigned long long)seed, cpus[k]);
			for (int off = 0; off < 2; off++) {   /* a trace runs once: loaded for each run */
				struct ptsim_trace *t = NULL;
				if (ptsim_trace_load(&t, g.buf, g.len, err, sizeof(err)))
					fail_msg("%s: %s", what, err);
				json[off] = run_report(t, what, ptsim_debug_ipi_fastpath, !off, &rc[off]);
				ptsim_trace_free(t);
			}
			same_reports(what, json[0], rc[0], json[1], rc[1]);
		}
	}
	t_random_trace_free(&g);
}

/* ---- random sequences ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r, uint64_t n)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return (r->s >> 33) % n;
}

/* The run's log (each step's result) followed by its JSON report; destroys @m. */
static char *log_and_report(struct ptsim_machine *m, const char *log, size_t used)
{
	char *json = ptsim_report_json(m);
	size_t n = strlen(json);
	char *out = malloc(n + used + 1);
	assert_non_null(out);
	memcpy(out, log, used);
	memcpy(out + used, json, n + 1);
	ptsim_free(json);
	t_destroy(m);
	return out;
}

/* Fail with where @on and @off (the same run with batching on and off) first differ; @what names the run. */
static void same_or_fail(const char *what, const char *on, const char *off)
{
	if (strcmp(on, off)) {
		size_t i = first_difference(on, off);
		size_t from = i > 80 ? i - 80 : 0;
		fail_msg("%s: batching on and off differ at byte %zu:\n on: %.160s\noff: %.160s", what, i, on + from,
			 off + from);
	}
}

#define NR_TASKS 3
#define REGION_PAGES 1536   /* three PTE tables of 4 KiB pages */

/*
 * One random run: three threads/processes on four CPUs doing mmap (anonymous
 * private, shared, file, read-only), touches (page by page and strided, read
 * and write, from any page), madvise, mprotect, swapout, fork and munmap over
 * a few regions.  Errors are part of the output: both runs must agree.
 */
static char *random_report(uint64_t seed, enum ptsim_arch arch, unsigned int granule, const char *const *tlb, bool on)
{
	const char *set[] = { "pt_reclaim=on", tlb ? tlb[0] : NULL, tlb ? tlb[1] : NULL, NULL };
	struct ptsim_machine *m = t_machine_cfg(arch, granule, 0, 4, NULL, set);
	struct rng r = { seed };
	char log[64 * 1024];
	size_t used = 0;
	uint64_t page = granule ? granule : 4096;
	uint64_t base = 0x10000000ull, region = REGION_PAGES * page;
	int tasks = 1;

	ptsim_debug_batching(m, on);
	T_OK(m, ptsim_spawn(m, 1, 0));
	for (int step = 0; step < 120; step++) {
		int task = 1 + (int)rnd(&r, (uint64_t)tasks);
		unsigned int cpu = (unsigned int)(task - 1);
		uint64_t reg = base + rnd(&r, 4) * (region + 64 * page);
		uint64_t off = rnd(&r, REGION_PAGES) * page;
		uint64_t len = (1 + rnd(&r, REGION_PAGES)) * page;
		int rc = 0;

		if (off + len > region)
			len = region - off;
		ptsim_run(m, task, cpu);
		switch (rnd(&r, 16)) {
		case 0:
		case 1: {
			struct ptsim_mmap_args a = { .addr = reg, .len = region, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
			unsigned int k = (unsigned int)rnd(&r, 5);
			if (k == 1) {
				a.shared = true;
			} else if (k == 2) {
				a.kind = PTSIM_MAP_FILE;
				a.file = "f";
			} else if (k == 3) {
				a.prot = PTSIM_PROT_READ;
			}
			a.fixed = PTSIM_MAP_REPLACE;
			rc = ptsim_mmap(m, task, &a);
			break;
		}
		case 2:
		case 3:
		case 4:
		case 5:
		case 6:
			rc = ptsim_touch(m, task, reg + off, len, 0, rnd(&r, 3) != 0);
			break;
		case 7:
			rc = ptsim_touch(m, task, reg + off, len, page * (1 + rnd(&r, 3)), rnd(&r, 2));
			break;
		case 8:
		case 9:
			rc = ptsim_madvise(m, task, reg + off, len, PTSIM_MADV_DONTNEED);
			break;
		case 10:
			rc = ptsim_mprotect(m, task, reg + off, len,
					    rnd(&r, 2) ? PTSIM_PROT_READ : PTSIM_PROT_READ | PTSIM_PROT_WRITE);
			break;
		case 11:
			rc = ptsim_swapout(m, task, reg + off, len);
			break;
		case 12:
			if (tasks < NR_TASKS) {
				rc = rnd(&r, 2) ? ptsim_fork(m, task, tasks + 1, (unsigned int)tasks)
						: ptsim_thread(m, task, tasks + 1, (unsigned int)tasks);
				if (!rc)
					tasks++;
			}
			break;
		case 13:
			rc = ptsim_munmap(m, task, reg + off, len);
			break;
		case 14:
			rc = ptsim_madvise(m, task, reg + off, len, PTSIM_MADV_FREE);
			break;
		default:
			rc = ptsim_touch(m, task, reg + off + page / 2, len - page / 2, 0, true);
			break;
		}
		used += (size_t)snprintf(log + used, sizeof(log) - used, "%d:%d ", step, rc);
		if (used >= sizeof(log) - 16)
			break;
	}
	return log_and_report(m, log, used);
}

/* @tlb: NULL, or the base-page TLB's shape as two settings (entries, ways). */
static void compare_random_tlb(enum ptsim_arch arch, unsigned int granule, const char *const *tlb, uint64_t seeds)
{
	for (uint64_t seed = 1; seed <= seeds; seed++) {
		char *on = random_report(seed, arch, granule, tlb, true);
		char *off = random_report(seed, arch, granule, tlb, false);
		char what[160];
		snprintf(what, sizeof(what), "seed %llu arch %d granule %u %s %s", (unsigned long long)seed, (int)arch,
			 granule, tlb ? tlb[0] : "", tlb ? tlb[1] : "");
		same_or_fail(what, on, off);
		free(on);
		free(off);
	}
}

static void compare_random(enum ptsim_arch arch, unsigned int granule, uint64_t seeds)
{
	compare_random_tlb(arch, granule, NULL, seeds);
}

static void test_batching__random_x86_same_report(void **state)
{
	(void)state;
	compare_random(PTSIM_ARCH_X86_64, 0, 8);
}

static void test_batching__random_arm64_same_report(void **state)
{
	(void)state;
	compare_random(PTSIM_ARCH_ARM64, 4096, 4);
	compare_random(PTSIM_ARCH_ARM64, 16384, 2);
}

/*
 * Small base-page TLBs, so that the touch runs evict (LRU) and the sweeps
 * meet sets left partly full: 4 sets of 16 ways (one fingerprint group per
 * set, fewer sets than a run has pages), 16 sets of 4 ways (part of a group)
 * and 8 sets of 32 ways (two groups).
 */
static void test_batching__random_small_tlb_same_report(void **state)
{
	static const char *const shapes[][2] = {
		{ "tlb_page_entries=64", "tlb_page_ways=16" },
		{ "tlb_page_entries=64", "tlb_page_ways=4" },
		{ "tlb_page_entries=256", "tlb_page_ways=32" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		compare_random_tlb(PTSIM_ARCH_X86_64, 0, shapes[i], PTSIM_TEST_CHECKED ? 1 : 3);
}

/*
 * Random zaps of mixed runs (the batched zap, zap_present_anon_run()): one
 * big region whose zap fills the mmu_gather to its page limit, and small
 * regions where runs of exclusive anonymous pages meet pages shared after a
 * fork, private file pages (some COWed into anonymous ones), dirty shared
 * file pages (delayed rmaps), the zero page, swap entries, empty entries,
 * mlocked ranges and hugetlb mappings (4 KiB granule), zapped by
 * MADV_DONTNEED (PTE tables reclaimed with pt_reclaim=on) and munmap.  Task 2,
 * a thread of task 1 on CPU 3, pins a page with a GUP-fast walk (IRQs off) while
 * task 1 zaps, so frees wait for its IPI and the pinned page outlives the
 * zap.  Both runs (batching on and off) must give the same report.
 */
#define ZAP_BIG_PAGES 12288   /* 24 PTE tables of 4 KiB pages: more than a gather holds */
#define ZAP_SMALL_PAGES 1536

/* The v1 posting keeps a forced break set across its retry: every later entry breaks out alone. */
static const char *const zap_reclaim[] = { "pt_reclaim=off", "pt_reclaim=on", "pt_reclaim=v1_2024_10" };

/* What the random zaps reached (summed over the runs with batching on), so that the test sees them happen. */
struct zap_coverage {
	uint64_t forced_flushes, tables_reclaimed, hugetlb_faults, swapins, pins, cows;
};

static char *random_zap_report(uint64_t seed, enum ptsim_arch arch, unsigned int granule, unsigned int reclaim,
			       bool on, struct zap_coverage *cov)
{
	const char *set[] = { zap_reclaim[reclaim], NULL };
	struct ptsim_machine *m = t_machine_cfg(arch, granule, 0, 4, NULL, set);
	struct rng r = { seed * 7919 + reclaim };
	char log[64 * 1024];
	size_t used = 0;
	uint64_t page = granule ? granule : 4096, huge = 2ull << 20;
	uint64_t base = 0x10000000ull, big = ZAP_BIG_PAGES * page, small = ZAP_SMALL_PAGES * page;
	int tasks = 2;

	ptsim_debug_batching(m, on);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 3));
	for (int step = 0; step < 90; step++) {
		int task = rnd(&r, 4) ? 1 : 1 + (int)rnd(&r, (uint64_t)tasks);
		unsigned int cpu = task == 2 ? 3 : (unsigned int)(task - 1) % 3;
		unsigned int which = (unsigned int)rnd(&r, 4);
		uint64_t reg = which ? base + big + 64 * page + (which - 1) * (small + 64 * page) : base;
		uint64_t size = which ? small : big;
		uint64_t off = rnd(&r, 4) ? rnd(&r, size / page) * page : 0;
		uint64_t len = rnd(&r, 3) ? (1 + rnd(&r, size / page)) * page : size;
		int rc = 0;

		if (off + len > size)
			len = size - off;
		ptsim_run(m, task, cpu);
		switch (rnd(&r, 16)) {
		case 0:
		case 1: {
			struct ptsim_mmap_args a = { .addr = reg, .len = size, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
						     .fixed = PTSIM_MAP_REPLACE };
			unsigned int k = (unsigned int)rnd(&r, 8);
			if (k == 1) {
				a.shared = true;
			} else if (k == 2 || k == 3) {
				a.kind = PTSIM_MAP_FILE;
				a.file = k == 2 ? "f" : "g";
				a.shared = k == 3;
			} else if (k == 4 && which && page == 4096) {
				a.kind = PTSIM_MAP_HUGETLB;
				a.shared = true;
				a.file = "h";
				a.addr = (reg + off + huge - 1) & ~(huge - 1);
				a.len = huge * (1 + rnd(&r, 2));
			}
			rc = ptsim_mmap(m, task, &a);
			break;
		}
		case 2:
		case 3:
		case 4:
			rc = ptsim_touch(m, task, reg + off, len, 0, rnd(&r, 4) != 0);
			break;
		case 5:
			rc = ptsim_touch(m, task, reg + off, len, page * (2 + rnd(&r, 3)), rnd(&r, 2));
			break;
		case 6:
		case 7:
		case 8:
			rc = ptsim_madvise(m, task, reg + off, len, PTSIM_MADV_DONTNEED);
			break;
		case 9:
			rc = ptsim_munmap(m, task, reg + off, len);
			break;
		case 10:
			rc = ptsim_swapout(m, task, reg + off, len);
			break;
		case 11:
			if (tasks < NR_TASKS + 1) {
				rc = ptsim_fork(m, task, tasks + 1, 2);
				if (!rc)
					tasks++;
			}
			break;
		case 12:
			rc = rnd(&r, 3) ? ptsim_mlock(m, task, reg + off, len) : ptsim_munlock(m, task, reg + off, len);
			break;
		case 13: {
			/* A GUP-fast walk of task 2 (CPU 3, IRQs off) pins a page while task 1 zaps around it. */
			ptsim_run(m, 1, 0);
			ptsim_run(m, 2, 3);
			rc = ptsim_gup_fast_begin(m, 3, 2, reg + off);
			cov->pins += rc == 0;
			int zrc = rnd(&r, 2) ? ptsim_madvise(m, 1, reg + off, len, PTSIM_MADV_DONTNEED)
					     : ptsim_munmap(m, 1, reg + off, len);
			int erc = ptsim_gup_fast_end(m, 3);
			used += (size_t)snprintf(log + used, sizeof(log) - used, "[%d %d] ", zrc, erc);
			break;
		}
		case 14:
			/*
			 * Whole regions: every PTE table emptied (reclaimed with
			 * pt_reclaim=on); the big one filled first, so that its zap
			 * fills the gather (a forced flush and break midway).
			 */
			if (!which)
				rc = ptsim_touch(m, task, reg, size, 0, true);
			used += (size_t)snprintf(log + used, sizeof(log) - used, "(%d) ", rc);
			rc = ptsim_madvise(m, task, reg, size, PTSIM_MADV_DONTNEED);
			break;
		default:
			rc = ptsim_madvise(m, task, reg + off, len, PTSIM_MADV_FREE);
			break;
		}
		used += (size_t)snprintf(log + used, sizeof(log) - used, "%d:%d ", step, rc);
		if (used >= sizeof(log) - 32)
			break;
	}
	cov->forced_flushes += t_stat(m, "mmu_gather.forced_flush");
	cov->tables_reclaimed += t_stat(m, "pt_reclaim.fast_path") + t_stat(m, "pt_reclaim.slow_path");
	cov->hugetlb_faults += t_stat(m, "faults.hugetlb");
	cov->swapins += t_stat(m, "faults.swapin");
	cov->cows += t_stat(m, "faults.cow");
	return log_and_report(m, log, used);
}

static void compare_random_zaps(enum ptsim_arch arch, unsigned int granule, uint64_t seeds)
{
	struct zap_coverage cov = { 0 }, ignored = { 0 };

	for (uint64_t seed = 1; seed <= seeds; seed++) {
		for (unsigned int reclaim = 0; reclaim < 3; reclaim++) {
			char *on = random_zap_report(seed, arch, granule, reclaim, true, &cov);
			char *off = random_zap_report(seed, arch, granule, reclaim, false, &ignored);
			char what[128];
			snprintf(what, sizeof(what), "zaps: seed %llu arch %d granule %u %s", (unsigned long long)seed,
				 (int)arch, granule, zap_reclaim[reclaim]);
			same_or_fail(what, on, off);
			free(on);
			free(off);
		}
	}
	printf("arch %d granule %u: %llu forced flushes, %llu tables reclaimed, %llu hugetlb faults, %llu swapins, "
	       "%llu pins, %llu COW faults\n",
	       (int)arch, granule, (unsigned long long)cov.forced_flushes, (unsigned long long)cov.tables_reclaimed,
	       (unsigned long long)cov.hugetlb_faults, (unsigned long long)cov.swapins, (unsigned long long)cov.pins,
	       (unsigned long long)cov.cows);
	/* PTSIM_DEBUG builds run fewer seeds (the checkers after every operation): the other builds check the reach. */
	if (!PTSIM_TEST_CHECKED && (!cov.forced_flushes || !cov.tables_reclaimed || !cov.swapins || !cov.pins ||
				    !cov.cows || (granule <= 4096 && !cov.hugetlb_faults)))
		fail_msg("the random zaps missed a case they are there for (see the line above)");
}

static void test_batching__random_zaps_x86_same_report(void **state)
{
	(void)state;
	compare_random_zaps(PTSIM_ARCH_X86_64, 0, PTSIM_TEST_CHECKED ? 1 : 5);
}

static void test_batching__random_zaps_arm64_same_report(void **state)
{
	(void)state;
	compare_random_zaps(PTSIM_ARCH_ARM64, 4096, PTSIM_TEST_CHECKED ? 1 : 3);
	compare_random_zaps(PTSIM_ARCH_ARM64, 16384, PTSIM_TEST_CHECKED ? 1 : 3);
}

/* @head followed by @m's JSON report, in one malloc'ed string; @m is destroyed. */
static char *head_and_report(struct ptsim_machine *m, const char *head)
{
	char *json = ptsim_report_json(m);
	assert_non_null(json);
	char *out = malloc(strlen(head) + strlen(json) + 1);
	assert_non_null(out);
	strcpy(out, head);
	strcat(out, json);
	ptsim_free(json);
	t_destroy(m);
	return out;
}

/*
 * Table-sync broadcasts (hugetlb_unshare=ipi_per_table: one per unshared PMD
 * table at a child's exit) while CPU 5 is in the scheduler with IRQs off, or
 * in a GUP-fast walk, and after: the call must wait on that CPU either way.
 * The report and the counters read in between must be the same with the bulk
 * count on and off.
 */
static char *irqs_off_report(bool on, bool gup)
{
	static const char *const set[] = { "hugetlb_unshare=ipi_per_table", NULL };
	struct ptsim_machine *m = t_machine(70, NULL, set);
	struct ptsim_mmap_args a = { .addr = 0x100000000000ull, .len = 4ull << 30,
				     .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE, .kind = PTSIM_MAP_HUGETLB, .shared = true };
	char head[256];

	ptsim_debug_ipi_fastpath(m, on);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 2ull << 20, false));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_touch(m, 2, a.addr, a.len, 2ull << 20, false));
	T_OK(m, ptsim_spawn(m, 3, 5));
	T_OK(m, gup ? ptsim_gup_fast_begin(m, 5, 3, 0x10000000ull) : ptsim_schedule_begin(m, 5));
	T_OK(m, ptsim_exit(m, 2));
	snprintf(head, sizeof(head), "during: %llu %llu %llu\n", (unsigned long long)t_stat(m, "cpu.5.ipi_received.table_sync"),
		 (unsigned long long)t_stat(m, "ipi.received.table_sync"), (unsigned long long)t_stat(m, "ipi.delayed_by_irqs_off"));
	T_OK(m, gup ? ptsim_gup_fast_end(m, 5) : ptsim_schedule_end(m, 5));
	T_OK(m, ptsim_exit(m, 1));
	return head_and_report(m, head);
}

static void test_batching__ipi_broadcast_waits_for_irqs_off(void **state)
{
	(void)state;
	for (int gup = 0; gup < 2; gup++) {
		char *on = irqs_off_report(true, gup), *off = irqs_off_report(false, gup);
		if (strcmp(on, off))
			fail_msg("%s: bulk count on and off differ:\n on: %.400s\noff: %.400s", gup ? "gup_fast" : "schedule",
				 on, off);
		if (!strstr(on, "ipi_per_table") || strncmp(on, "during: 4 276 4\n", 16))
			fail_msg("%s: expected 4 table-sync broadcasts, each delayed on CPU 5, got %.60s",
				 gup ? "gup_fast" : "schedule", on);
		free(on);
		free(off);
	}
}

/* The steps of on_each_cpu_cond_mask() written down in order: "c<cpu>" a test, "f<cpu>" a call. */
struct cond_order_log {
	char s[128];
	size_t n;
};

static void cond_order_note(struct cond_order_log *l, char what, unsigned int cpu)
{
	l->n += (size_t)snprintf(l->s + l->n, sizeof(l->s) - l->n, "%c%u ", what, cpu);
}

static bool cond_order_cond(struct ptsim_machine *m, unsigned int cpu, const void *info)
{
	(void)m;
	cond_order_note(*(struct cond_order_log *const *)info, 'c', cpu);
	return cpu != 1;
}

static void cond_order_func(struct ptsim_machine *m, struct sim_cpu *cpu, void *info)
{
	(void)m;
	cond_order_note(*(struct cond_order_log **)info, 'f', cpu->id);
}

/*
 * on_each_cpu_cond_mask() from CPU 2 to CPUs 0-3, CPU 1 not picked: as the
 * kernel's smp_call_function_many_cond(), the calling CPU is tested first,
 * then each other CPU (the one-pass form calls each as it is picked; the
 * reference picks every one first), and the calling CPU's own call comes last.
 */
static void test_batching__ipi_cond_mask_tests_self_first(void **state)
{
	static const char *const want[2] = { "c2 c0 c1 c3 f0 f3 f2 ", "c2 c0 f0 c1 c3 f3 f2 " };
	(void)state;

	for (int on = 0; on < 2; on++) {
		struct ptsim_machine *m = t_machine(4, NULL, NULL);
		struct cond_order_log log = { .n = 0 };
		struct cond_order_log *info = &log;
		struct cpumask mask;
		struct sim_cpu *cur = m->cur;

		ptsim_debug_ipi_fastpath(m, on);
		assert_int_equal(cpumask_alloc(m, &mask), 0);
		for (unsigned int c = 0; c < 4; c++)
			cpumask_set_cpu(c, &mask);
		m->cur = &m->cpus[2];
		on_each_cpu_cond_mask(m, cond_order_cond, cond_order_func, &info, sizeof(info), NULL, IPI_TLB_FLUSH, false,
				      &mask);
		m->cur = cur;
		cpumask_release(m, &mask);
		t_destroy(m);
		if (strcmp(log.s, want[on]))
			fail_msg("fast path %s: steps '%s', expected '%s'", on ? "on" : "off", log.s, want[on]);
	}
}

/*
 * The gather's frees wait for the flush's acknowledgements: task 1 on CPU 0
 * munmaps 31 pages only it touched while its thread on CPU 1 is in a
 * GUP-fast walk (IRQs off, the flush IPI queued).  The 31st fault filled CPU
 * 0's LRU add batch, which then let go of them all, so the gather holds their
 * last references; no TLB holds the pages after the local flush, so each is a
 * candidate for free_anon_pages_now(); still none is freed before CPU 1 takes
 * the IPI.
 */
static void test_batching__zap_frees_wait_for_irqs_off_ack(void **state)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x10000000ull, .len = 31 * 4096,
				     .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mmap_args b = a;
	(void)state;

	b.addr = 0x20000000ull;
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	assert_int_equal(ptsim_frames_in_lru_batches(m), 0);
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_gup_fast_begin(m, 1, 2, b.addr));
	uint64_t before = t_stat(m, "pages.freed");
	T_OK(m, ptsim_munmap(m, 1, a.addr, a.len));
	uint64_t during = t_stat(m, "pages.freed") - before;
	T_OK(m, ptsim_gup_fast_end(m, 1));
	uint64_t after = t_stat(m, "pages.freed") - before;
	t_destroy(m);
	if (during != 0 || after != 31)
		fail_msg("pages freed while CPU 1 had IRQs off: %llu (expected 0), after: %llu (expected 31)",
			 (unsigned long long)during, (unsigned long long)after);
}

/* The batched path really is taken: a first touch of a fresh mapping counts every page's fault. */
static void test_batching__touch_counts_every_fault(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(1, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x10000000ull, .len = 4ull << 20, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	assert_int_equal(t_stat(m, "faults.total"), 1024);
	assert_int_equal(t_stat(m, "faults.anon"), 1024);
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, false));
	assert_int_equal(t_stat(m, "faults.total"), 1024);
	assert_int_equal(t_stat(m, "accesses"), 2048);
	t_destroy(m);
}

/* A run stopped by the simulated-memory limit: the same error, message and figures either way. */
static char *limit_report(bool on)
{
	static const char *const set[] = { "max_frames=300", NULL };
	struct ptsim_machine *m = t_machine(1, NULL, set);
	struct ptsim_mmap_args a = { .addr = 0x10000000ull, .len = 4ull << 20, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	char head[640];

	ptsim_debug_batching(m, on);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	int rc = ptsim_touch(m, 1, a.addr, a.len, 0, true);
	assert_int_equal(rc, PTSIM_ELIMIT);
	snprintf(head, sizeof(head), "%d %s\n", rc, ptsim_machine_errmsg(m));
	return head_and_report(m, head);
}

static void test_batching__frame_limit_same_error(void **state)
{
	(void)state;
	char *on = limit_report(true), *off = limit_report(false);

	if (strcmp(on, off))
		fail_msg("batching on and off differ:\n on: %.400s\noff: %.400s", on, off);
	free(on);
	free(off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batching__bundled_traces_same_report),
		cmocka_unit_test(test_batching__ipi_bundled_traces_same_report),
		cmocka_unit_test(test_batching__ipi_random_traces_same_report),
		cmocka_unit_test(test_batching__ipi_broadcast_waits_for_irqs_off),
		cmocka_unit_test(test_batching__ipi_cond_mask_tests_self_first),
		cmocka_unit_test(test_batching__zap_frees_wait_for_irqs_off_ack),
		cmocka_unit_test(test_batching__random_x86_same_report),
		cmocka_unit_test(test_batching__random_arm64_same_report),
		cmocka_unit_test(test_batching__random_small_tlb_same_report),
		cmocka_unit_test(test_batching__random_zaps_x86_same_report),
		cmocka_unit_test(test_batching__random_zaps_arm64_same_report),
		cmocka_unit_test(test_batching__touch_counts_every_fault),
		cmocka_unit_test(test_batching__frame_limit_same_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
