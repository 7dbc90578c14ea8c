/*
 * Batched touches (ptsim_debug_batching()): the accesses of a page-by-page
 * touch inside one PTE table are done together, with the faults of empty
 * anonymous PTEs summed.  The general per-page path is the reference: every
 * bundled trace and random sequences of operations must give the same JSON
 * report, byte for byte, with batching on and off.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/helpers.h"

/* The JSON report of @rel (below traces/) run with batching @on; the run's status in *rc. */
static char *trace_report(const char *rel, bool on, int *rc)
{
	char path[1024], err[512];
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;

	snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rel);
	if (ptsim_trace_load_file(&t, path, err, sizeof(err)))
		fail_msg("%s: %s", rel, err);
	ptsim_trace_config(t, &cfg);
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("%s: machine: %s", rel, err);
	ptsim_debug_batching(m, on);
	*rc = ptsim_trace_run(t, m);
	char *json = ptsim_report_json(m);
	if (!json)
		fail_msg("%s: no report", rel);
	char *copy = strdup(json);
	ptsim_free(json);
	ptsim_machine_destroy(m);
	ptsim_trace_free(t);
	return copy;
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

static void compare_trace(const char *rel)
{
	int rc_on, rc_off;
	char *on = trace_report(rel, true, &rc_on);
	char *off = trace_report(rel, false, &rc_off);

	if (rc_on != rc_off || strcmp(on, off)) {
		size_t i = first_difference(on, off);
		size_t from = i > 80 ? i - 80 : 0;
		fail_msg("%s: batching on (rc %d) and off (rc %d) differ at byte %zu:\n on: %.160s\noff: %.160s", rel,
			 rc_on, rc_off, i, on + from, off + from);
	}
	free(on);
	free(off);
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
static size_t compare_dir(const char *rel)
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
			n += compare_dir(sub);
		} else if (is_trace(de->d_name, len) && !too_long(sub)) {
			compare_trace(sub);
			n++;
		}
	}
	closedir(d);
	return n;
}

static void test_batching__bundled_traces_same_report(void **state)
{
	(void)state;
	assert_true(compare_dir("") >= 40);
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

#define NR_TASKS 3
#define REGION_PAGES 1536   /* three PTE tables of 4 KiB pages */

/*
 * One random run: three threads/processes on four CPUs doing mmap (anonymous
 * private, shared, file, read-only), touches (page by page and strided, read
 * and write, from any page), madvise, mprotect, swapout, fork and munmap over
 * a few regions.  Errors are part of the output: both runs must agree.
 */
static char *random_report(uint64_t seed, enum ptsim_arch arch, unsigned int granule, bool on)
{
	static const char *const set[] = { "pt_reclaim=on", NULL };
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

static void compare_random(enum ptsim_arch arch, unsigned int granule, uint64_t seeds)
{
	for (uint64_t seed = 1; seed <= seeds; seed++) {
		char *on = random_report(seed, arch, granule, true);
		char *off = random_report(seed, arch, granule, false);
		if (strcmp(on, off)) {
			size_t i = first_difference(on, off);
			size_t from = i > 80 ? i - 80 : 0;
			fail_msg("seed %llu arch %d granule %u: batching on and off differ at byte %zu:\n on: %.160s\noff: %.160s",
				 (unsigned long long)seed, (int)arch, granule, i, on + from, off + from);
		}
		free(on);
		free(off);
	}
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
	char *json = ptsim_report_json(m);
	char *out = malloc(strlen(head) + strlen(json) + 1);
	assert_non_null(out);
	strcpy(out, head);
	strcat(out, json);
	ptsim_free(json);
	t_destroy(m);
	return out;
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
		cmocka_unit_test(test_batching__random_x86_same_report),
		cmocka_unit_test(test_batching__random_arm64_same_report),
		cmocka_unit_test(test_batching__touch_counts_every_fault),
		cmocka_unit_test(test_batching__frame_limit_same_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
