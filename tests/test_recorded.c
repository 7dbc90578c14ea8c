/*
 * The recorded corpus (traces/recorded/, docs/recorded.md): real programs
 * recorded by `ptsim record` on a 2-CPU x86-64 machine running Linux 6.18,
 * each with the kernel's own counts in its trailer.  For every bundled
 * recording, `ptsim compare-real --json` must give what docs/recorded.md
 * claims: exact figures where it says exact, figures within its bounds
 * elsewhere.  No root, no tracefs: the files are replayed, not recorded.
 *
 * The claims (docs/recorded.md, "What the test asserts"):
 *  - VmPTE, RssAnon, RssShmem, HugetlbPages of every process at its end:
 *    exact;
 *  - RssFile: within half the real figure + 1024 kB (the kernel's fault-around
 *    maps whole large page-cache folios, ptsim a 16-page window; the page
 *    cache's state changes while the program runs);
 *  - VmHWM (peak RSS): its difference is the process's RssFile difference
 *    within 3 x 31 pages per CPU (the kernel samples its peak with
 *    get_mm_rss(), which reads the three per-CPU RSS counters without
 *    folding in what each CPU still holds, up to batch - 1 = 31 pages each;
 *    ptsim's peak is exact);
 *  - cross-CPU figures (flush and table-sync IPIs sent and received per CPU,
 *    what the received flushes did): exact, except in recordings whose
 *    program used what ptsim does not replay (transparent huge pages; the
 *    table below says which);
 *  - local full flushes: exact (exec's stack move, relocate_vma_down(), is
 *    replayed: the recorder writes each exec's stack.arg_pages);
 *  - remote flushes started: the kernel's figure minus ptsim's between 0 and
 *    the number of execs after the command's first (an exec whose task moved
 *    to the other CPU after exec_mmap() leaves that CPU in the new mm's CPU
 *    mask: the move's flushes also count as remote flushes started, without
 *    an IPI; the recording does not say where the exec ran in between) + the
 *    ranged local flushes the kernel made more than ptsim (copy-on-write of
 *    a page fault-around had mapped: in the kernel a flush, in ptsim none;
 *    in an mm whose task changed CPUs that flush also counts as started
 *    remotely);
 *  - local ranged flushes and single-page invalidations: within the
 *    recording's tolerance (percent of the real figure) + the number of
 *    processes;
 *  - flushing context switches (counted as the recorder counts them: with a
 *    recorded task on the CPU, after the command's first exec): ptsim's at
 *    most the kernel's (ptsim cannot see the other processes whose ASIDs
 *    evicted the recorded ones) + the switches the trace did not show
 *    (unseen_switches: the kernel's flush there was not traced either) + 1
 *    per CPU (the kernel picks the ASID slot to evict round robin: other
 *    processes move it on, so it evicts other slots than ptsim, not only
 *    more);
 *  - page faults: within 2% + 8, or, where the program populated memory
 *    (MAP_POPULATE, MADV_POPULATE_*, mlock: ptsim counts those pages as
 *    handle_mm_fault calls, the kernel's user-fault tracepoint does not),
 *    ptsim's at least the kernel's minus 2%.
 */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "support/helpers.h"
#include "support/cli.h"
#include "support/figures.h"

#ifndef PTSIM_CLI
#error "PTSIM_CLI must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

enum {
	UNMODELLED_FLUSHES = 1, /* THP (stress-ng-madvise): no claim on flush figures */
	POPULATES = 2,          /* ptsim counts populated pages as faults */
};

/* Each bundled recording and what docs/recorded.md claims for it. */
static const struct expect {
	const char *name;        /* traces/recorded/NAME.jsonl.zst */
	int processes;           /* address spaces in the trailer */
	double local_tolerance;  /* local ranged flushes: percent of the real figure */
	unsigned int flags;
} expects[] = {
	{ "gcc", 3, 15, 0 },
	{ "git", 26, 15, 0 },
	{ "make", 19, 15, 0 },
	{ "python3", 1, 15, 0 },
	{ "sqlite3", 2, 35, 0 },
	{ "stress-ng-fork", 43, 0, 0 },   /* with the LRU drain ops: within 4 ranged, 11 pages in 20 recordings */
	{ "stress-ng-madvise", 3, 0, UNMODELLED_FLUSHES | POPULATES },
	{ "stress-ng-mmap", 5, 15, POPULATES },
	{ "stress-ng-vm", 5, 15, POPULATES },
	{ "xz", 1, 15, 0 },
};

#define NR_EXPECTS (sizeof(expects) / sizeof(expects[0]))

struct judge {
	const struct expect *e;
	int nprocs;
	int execs;   /* exec ops in the trace */
	double ranged_short;   /* the machine's local ranged flushes the kernel made more than ptsim (>= 0) */
	double unseen;   /* switches the kernel's trace did not show (compare-real's unseen_switches) */
	int checked;
	int nr_cpus;
	double rss_file_diff;   /* the current process's RssFile difference (it comes before VmHWM) */
	char why[4096];
	size_t why_len;
};

static void bad(struct judge *j, const char *path, double real, double sim, const char *rule)
{
	if (j->why_len < sizeof(j->why) - 200)
		j->why_len += (size_t)snprintf(j->why + j->why_len, sizeof(j->why) - j->why_len,
					       "\n  %s: %s real %.0f, ptsim %.0f (%s)", j->e->name, path, real, sim, rule);
}

static bool has(const char *path, const char *part)
{
	return strstr(path, part) != NULL;
}

/* One compared figure {"real", "ptsim", "diff"} at @path (a t_each_figure() callback). */
static void judge_figure(const char *path, const cJSON *f, void *ctx)
{
	struct judge *j = ctx;
	const cJSON *r = cJSON_GetObjectItem(f, "real"), *p = cJSON_GetObjectItem(f, "ptsim");
	if (!cJSON_IsNumber(r) || !cJSON_IsNumber(p))
		return;   /* a row ptsim has no counterpart for */
	double real = r->valuedouble, sim = p->valuedouble, diff = sim - real, ad = fabs(diff);
	int n = j->nprocs;
	const struct expect *e = j->e;

	j->checked++;
	if (has(path, "rss_file")) {
		j->rss_file_diff = diff;
		if (ad > real / 2 + 1024)
			bad(j, path, real, sim, "RssFile: beyond half + 1024 kB");
	} else if (has(path, "vmhwm")) {
		if (fabs(diff - j->rss_file_diff) > 3.0 * 31 * 4 * j->nr_cpus)
			bad(j, path, real, sim, "VmHWM: the RssFile difference +- 3 x 31 pages per CPU");
	} else if (has(path, "_kb_")) {
		if (ad)
			bad(j, path, real, sim, "memory figures are exact");
	} else if (has(path, "switch_flush")) {
		if (!has(path, "totals"))
			return;
		if (sim > real + j->unseen + j->nr_cpus)
			bad(j, path, real, sim, "ptsim's flushing switches at most the kernel's + unseen switches + 1 per CPU");
	} else if (has(path, "faults")) {
		if (e->flags & POPULATES ? sim < real * 0.98 : ad > real * 0.02 + 8)
			bad(j, path, real, sim, "faults");
	} else if (e->flags & UNMODELLED_FLUSHES) {
		return;   /* no claim: the program used advice whose flushes ptsim does not model */
	} else if (has(path, "nr_tlb_remote_flush")) {
		if (-diff < 0 || -diff > j->execs - 1 + j->ranged_short)
			bad(j, path, real, sim, "0 <= real - ptsim <= execs after the first + the kernel's extra ranged flushes");
	} else if (has(path, "tlb.local.partial")) {
		if (ad > real * e->local_tolerance / 100 + n)
			bad(j, path, real, sim, "local ranged flushes: beyond the tolerance");
	} else if (ad) {
		bad(j, path, real, sim, "cross-CPU figures are exact");
	}
}

/* The exec ops of @file (`ptsim convert FILE -` writes it as plain JSON Lines). */
static int count_execs(const char *file)
{
	struct t_cli r = t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, NULL, NULL,
				   (const char *const[]){ "convert", file, "-", NULL });
	if (r.status != 0)
		fail_msg("convert %s: status %d: %s", file, r.status, r.err);
	int n = 0;
	for (const char *p = r.out; (p = strstr(p, "{\"op\":\"exec\",")); p++)
		n++;
	t_cli_free(&r);
	return n;
}

static const struct expect *find_expect(const char *file)
{
	for (size_t i = 0; i < NR_EXPECTS; i++) {
		size_t n = strlen(expects[i].name);
		if (!strncmp(file, expects[i].name, n) && !strcmp(file + n, ".jsonl.zst"))
			return &expects[i];
	}
	return NULL;
}

/* Every file of traces/recorded/ is a recording the table knows, and every entry has its file. */
static void test_recorded__corpus_is_complete(void **s)
{
	(void)s;
	char dir[4096];
	bool seen[NR_EXPECTS] = { false };
	snprintf(dir, sizeof(dir), "%s/recorded", PTSIM_TRACES_DIR);
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		const struct expect *e = find_expect(de->d_name);
		if (!e)
			fail_msg("traces/recorded/%s: not in test_recorded.c's table (and docs/recorded.md)", de->d_name);
		seen[e - expects] = true;
	}
	closedir(d);
	for (size_t i = 0; i < NR_EXPECTS; i++)
		if (!seen[i])
			fail_msg("traces/recorded/%s.jsonl.zst is missing", expects[i].name);
}

static void test_recorded__replay_within_documented_bounds(void **s)
{
	(void)s;
	char failures[16384] = "";
	size_t flen = 0;

	for (size_t i = 0; i < NR_EXPECTS; i++) {
		char file[4096];
		snprintf(file, sizeof(file), "%s/recorded/%s.jsonl.zst", PTSIM_TRACES_DIR, expects[i].name);
		struct t_cli r = t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, NULL, NULL,
					   (const char *const[]){ "compare-real", file, "--json", NULL });
		if (r.status != 0)
			fail_msg("compare-real %s: status %d: %s", expects[i].name, r.status, r.err);
		cJSON *o = cJSON_Parse(r.out);
		if (!o)
			fail_msg("compare-real %s printed no JSON: %.200s", expects[i].name, r.out);
		t_cli_free(&r);

		struct judge j = { .e = &expects[i] };
		j.execs = count_execs(file);
		const cJSON *ranged = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
			cJSON_GetObjectItem(o, "totals"), "tlb"), "local"), "partial");
		if (!cJSON_IsNumber(cJSON_GetObjectItem(ranged, "real")) || !cJSON_IsNumber(cJSON_GetObjectItem(ranged, "ptsim")))
			fail_msg("%s: no totals.tlb.local.partial in compare-real's JSON", expects[i].name);
		j.ranged_short = cJSON_GetObjectItem(ranged, "real")->valuedouble - cJSON_GetObjectItem(ranged, "ptsim")->valuedouble;
		if (j.ranged_short < 0)
			j.ranged_short = 0;
		const cJSON *unseen = cJSON_GetObjectItem(o, "unseen_switches");
		j.unseen = cJSON_IsNumber(unseen) ? unseen->valuedouble : 0;
		if (j.execs < 1)
			fail_msg("%s: no exec in the trace", expects[i].name);
		const cJSON *procs = cJSON_GetObjectItem(o, "processes");
		j.nr_cpus = cJSON_GetObjectItem(o, "nr_cpus") ? cJSON_GetObjectItem(o, "nr_cpus")->valueint : 0;
		if (j.nr_cpus < 1)
			fail_msg("%s: no nr_cpus in compare-real's JSON", expects[i].name);
		j.nprocs = cJSON_GetArraySize(procs);
		if (j.nprocs != expects[i].processes)
			fail_msg("%s: %d processes, the table says %d", expects[i].name, j.nprocs, expects[i].processes);
		if (!cJSON_IsTrue(cJSON_GetObjectItem(o, "complete")))
			fail_msg("%s: the recording is not complete", expects[i].name);
		char path[256] = "";
		t_each_figure(o, path, sizeof(path), judge_figure, &j);
		cJSON_Delete(o);
		/* Every process's VmPTE, RSS and VmHWM, the CPUs' and the machine's figures were compared. */
		if (j.checked < 6 * j.nprocs + 30)
			fail_msg("%s: only %d figures compared", expects[i].name, j.checked);
		if (j.why_len && flen < sizeof(failures) - 1)
			flen += (size_t)snprintf(failures + flen, sizeof(failures) - flen, "%s", j.why);
	}
	if (flen)
		fail_msg("figures outside docs/recorded.md's claims:%s", failures);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recorded__corpus_is_complete),
		cmocka_unit_test(test_recorded__replay_within_documented_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
