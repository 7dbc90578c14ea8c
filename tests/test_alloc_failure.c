/*
 * Allocation failure: fail the Nth simulator allocation of a workload, for
 * N = 1, 2, ... until the workload no longer hits the failure.  Every failing
 * call must return PTSIM_ENOMEM_HOST (never -ENOMEM, the system calls' answer)
 * with an "out of memory" message, leave the machine consistent
 * (ptsim_machine_check()), and the machine must tear down without leaks
 * (LeakSanitizer checks that in the sanitizer build).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "support/helpers.h"

#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)
#define BASE 0x100000000000ull
#define MB (1ull << 20)

/* Returns 0 if the workload ran to the end, PTSIM_ENOMEM_HOST if a call failed (checked). */
static int workload(struct ptsim_machine *m)
{
	struct ptsim_mmap_args a = { .addr = BASE, .len = 8 * MB, .prot = RW };
	struct ptsim_mmap_args f = { .addr = BASE + 64 * MB, .len = 4 * MB, .prot = RW, .kind = PTSIM_MAP_FILE,
				     .shared = true, .file = "f" };
	struct ptsim_mmap_args h = { .addr = BASE + (1ull << 30), .len = 1ull << 30, .prot = RW,
				     .kind = PTSIM_MAP_HUGETLB, .shared = true };
	int rc;

#define STEP(call)                                                                                         \
	do {                                                                                               \
		rc = (call);                                                                               \
		if (rc) {                                                                                  \
			if (rc != PTSIM_ENOMEM_HOST)                                                       \
				fail_msg("%s: %s (%s)", #call, ptsim_errname(rc), ptsim_machine_errmsg(m)); \
			assert_non_null(strstr(ptsim_machine_errmsg(m), "out of memory"));                 \
			return rc;                                                                         \
		}                                                                                          \
	} while (0)
	STEP(ptsim_spawn(m, 1, 0));
	STEP(ptsim_mmap(m, 1, &a));
	STEP(ptsim_mmap(m, 1, &f));
	STEP(ptsim_mmap(m, 1, &h));
	STEP(ptsim_touch(m, 1, BASE, 8 * MB, 0, true));
	STEP(ptsim_touch(m, 1, f.addr, 4 * MB, 0, true));
	STEP(ptsim_touch(m, 1, h.addr, 8 * MB, 2 * MB, false));
	STEP(ptsim_thread(m, 1, 2, 1));
	STEP(ptsim_fork(m, 1, 3, 1));
	STEP(ptsim_touch(m, 3, BASE, 2 * MB, 0, true));
	STEP(ptsim_touch(m, 3, h.addr, 8 * MB, 2 * MB, false));
	STEP(ptsim_mlock(m, 1, BASE + 4096, 4096));
	STEP(ptsim_mprotect(m, 1, BASE + MB, MB, PTSIM_PROT_READ));
	STEP(ptsim_madvise(m, 1, BASE + 2 * MB, 2 * MB, PTSIM_MADV_DONTNEED));
	STEP(ptsim_munmap(m, 1, BASE + 4 * MB, 2 * MB + 4096));
	STEP(ptsim_exit(m, 3));
	STEP(ptsim_mark(m, "done"));
	STEP(ptsim_run(m, 2, 1));
	STEP(ptsim_exit(m, 2));
	/* exec with the stack's move (new tables at its place, after the point of no return). */
	struct ptsim_exec_args e = { .stack_addr = 0x7fff8af52000, .stack_len = 132 * 1024, .arg_pages = 1 };
	STEP(ptsim_exec(m, 1, &e));
	STEP(ptsim_touch(m, 1, e.stack_addr, e.stack_len, 0, true));
	STEP(ptsim_exit(m, 1));
#undef STEP
	return 0;
}

static void test_alloc_failure__every_allocation(void **s)
{
	(void)s;
	unsigned int failures = 0;

	for (uint64_t n = 1;; n++) {
		struct ptsim_machine *m = t_machine(2, NULL, NULL);
		ptsim_debug_fail_alloc(m, n);
		int rc = workload(m);
		if (ptsim_machine_check(m))
			fail_msg("allocation %llu failed: machine inconsistent: %s", (unsigned long long)n,
				 ptsim_machine_errmsg(m));
		ptsim_machine_destroy(m);
		if (rc == 0)
			break;   /* the failure point is past the end of the workload */
		failures++;
		assert_true(n < 100000);
	}
	print_message("%u allocation failures exercised\n", failures);
	/* The workload allocates: some failures must have been exercised. */
	assert_true(failures > 20);
}

/* After a failed call the same machine goes on working. */
static void test_alloc_failure__machine_usable_after(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = BASE, .len = 8 * MB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	ptsim_debug_fail_alloc(m, 1);
	assert_int_equal(ptsim_touch(m, 1, BASE, 8 * MB, 0, true), PTSIM_ENOMEM_HOST);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "touch"));
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * MB, 0, true));
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.rss_anon_kb, 8 * 1024);
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/*
 * A CPU's TLB and paging-structure caches are allocated on its first access.
 * When that allocation fails, the access fails with PTSIM_ENOMEM_HOST before any walk or
 * fault (it used to be taken for a TLB miss, and the walk then read the
 * missing arrays), and the next access allocates them and goes on.
 */
static void test_alloc_failure__tlb_arrays(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = BASE, .len = 2 * MB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	ptsim_debug_fail_alloc(m, 1);   /* the first allocation of the touch: CPU 0's TLB arrays */
	assert_int_equal(ptsim_touch(m, 1, BASE, 2 * MB, 0, true), PTSIM_ENOMEM_HOST);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "out of memory"));
	assert_int_equal(t_stat(m, "tlb.misses"), 0);
	assert_int_equal(t_stat(m, "faults.total"), 0);
	T_OK(m, ptsim_machine_check(m));
	T_OK(m, ptsim_touch(m, 1, BASE, 2 * MB, 0, true));
	assert_int_equal(t_stat(m, "faults.total"), 512);
	assert_int_equal(t_stat(m, "tlb.misses"), 512 * 2);   /* each fault: the access and its retry */
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/*
 * Replay @json with the Nth allocation failing, for every N until the run no
 * longer meets the failure.  Every run must end in PTSIM_ENOMEM_HOST with
 * "out of memory" (never -ENOMEM or a bad event: an allocation failure is not
 * the system call's ENOMEM), or as the undisturbed run ends (@clean_rc).
 * Return: how many runs failed in an event of op @op.
 */
static unsigned int sweep_trace(const char *json, int clean_rc, const char *op)
{
	char err[512], needle[64];
	struct ptsim_trace *t;
	unsigned int in_op = 0;

	snprintf(needle, sizeof(needle), "(%s)", op);
	if (ptsim_trace_load(&t, json, strlen(json), err, sizeof(err)))
		fail_msg("trace: %s", err);
	for (uint64_t n = 1;; n++) {
		struct ptsim_config cfg;
		struct ptsim_machine *m;
		ptsim_trace_config(t, &cfg);
		if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
			fail_msg("machine: %s", err);
		ptsim_debug_fail_alloc(m, n);
		int rc = ptsim_trace_run(t, m);
		const char *msg = ptsim_machine_errmsg(m);
		if (rc != PTSIM_ENOMEM_HOST && rc != clean_rc)
			fail_msg("allocation %llu: %s: %s", (unsigned long long)n, ptsim_errname(rc), msg);
		if (rc == PTSIM_ENOMEM_HOST) {
			assert_non_null(strstr(msg, "out of memory"));
			in_op += strstr(msg, needle) != NULL;
		}
		if (ptsim_machine_check(m))
			fail_msg("allocation %llu: machine inconsistent: %s", (unsigned long long)n, ptsim_machine_errmsg(m));
		bool hit = rc == PTSIM_ENOMEM_HOST;
		ptsim_machine_destroy(m);
		if (!hit)
			break;
		assert_true(n < 100000);
	}
	ptsim_trace_free(t);
	return in_op;
}

#define PRE "{\"ptsim_trace\":1,\"events\":[{\"op\":\"spawn\",\"task\":1,\"cpu\":0}," \
	    "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"prot\":\"rw\"},"

/*
 * An allocation failure inside mlock (its populate), mprotect or munlock (a
 * VMA split) or madvise (guard markers' page tables) used to come back as
 * -ENOMEM, which the replay took for the kernel's "part of the range is not
 * mapped" (a bad event, exit 2), and which "expect": "ENOMEM" accepted.
 */
static void test_alloc_failure__never_the_syscall_enomem(void **s)
{
	(void)s;
	static const struct {
		const char *op, *event;
	} cases[] = {
		{ "mlock", "{\"op\":\"mlock\",\"task\":1,\"addr\":\"0x104000\",\"len\":\"8K\"" },
		{ "mprotect", "{\"op\":\"mprotect\",\"task\":1,\"addr\":\"0x104000\",\"len\":\"8K\",\"prot\":\"r\"" },
		{ "madvise", "{\"op\":\"madvise\",\"task\":1,\"addr\":\"0x104000\",\"len\":\"8K\","
			     "\"advice\":\"guard_install\"" },
		{ "munlock", "{\"op\":\"mlock\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\"},"
			     "{\"op\":\"munlock\",\"task\":1,\"addr\":\"0x104000\",\"len\":\"8K\"" },
	};
	char json[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* As the trace means it: the range is mapped, the call succeeds. */
		snprintf(json, sizeof(json), PRE "%s}]}", cases[i].event);
		assert_true(sweep_trace(json, 0, cases[i].op) > 0);
		/* "expect": "ENOMEM" on a mapped range: only the undisturbed run's answer, never a pass. */
		snprintf(json, sizeof(json), PRE "%s,\"expect\":\"ENOMEM\"}]}", cases[i].event);
		assert_true(sweep_trace(json, PTSIM_EBADEVENT, cases[i].op) > 0);
	}
}

/*
 * Every bundled trace of a representative set, on its own architecture and
 * (x86-64 traces) on arm64 too: fail the Nth allocation for N = 1..24, then
 * for N growing by half each step up to the run's last allocation (a full
 * sweep of every trace and every N takes minutes in a sanitizer build:
 * PTSIM_ALLOC_SWEEP=all runs that, outside CI).  Each run ends with
 * PTSIM_ENOMEM_HOST saying "out of memory" and naming the event, or as the
 * undisturbed run ends; the machine passes the consistency checkers; no
 * violation appears that the undisturbed run does not report (an internal
 * error never); and the machine tears down without leaks (LeakSanitizer).
 */
static const char *const sweep_traces[] = {
	/* one of each area: bugs (x86, arm64), hugetlb sharing, arm64 and x86 flush fidelity, fork/exit,
	 * PT reclaim (guard markers, mlock, RCU reader, swap, a contended PMD lock), the three W3 shootdown
	 * patterns, W2 unshare.  Not studies/hugetlb_pool_fork_96.json: 96 forks of a hugetlb pool made this
	 * test take a minute under PTSIM_DEBUG (PTSIM_ALLOC_SWEEP=all adds it) */
	"bugs/CVE-2026-74674.json", "bugs/CVE-2026-74674_arm64.json", "examples/hugetlb_unshare_lazy_cpu.json",
	"fidelity/arm64_range_limit_1g.json", "fidelity/arm64_ttl_level0_39bit.json",
	"fidelity/x86_invlpgb_walk_cache.json", "fidelity/x86_series_unshare_flush_invlpgb.json",
	"oracle/forkexit_stale_bit.json", "oracle/w1_e_guard.json", "oracle/w1_e_munlock.json",
	"oracle/w2_split_g2_k0.json", "oracle/w3_dontneed_spin.json", "oracle/w3_mprotect_sleep.json",
	"oracle/w3_munmap_none.json", "seeds/pt_reclaim_rcu_reader.json", "seeds/pt_reclaim_swap.json",
	"seeds/pt_reclaim_pmd_contended.json", NULL,   /* the rest only with PTSIM_ALLOC_SWEEP=all: */
	"studies/hugetlb_pool_fork_96.json",
};

struct sweep_result {
	int rc;
	size_t violations;
	bool internal;
};

/* One run of @t on @arch with allocation @n failing (0: none). */
static struct sweep_result sweep_run(const char *name, struct ptsim_trace *t, enum ptsim_arch arch, uint64_t n)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m;
	struct sweep_result r = { 0, 0, false };
	char err[512];

	ptsim_trace_config(t, &cfg);
	cfg.arch = arch;
	r.rc = ptsim_machine_create(&m, &cfg, err, sizeof(err));
	if (r.rc)
		return r;   /* a configuration the other architecture does not have */
	if (n)
		ptsim_debug_fail_alloc(m, n);
	r.rc = ptsim_trace_run(t, m);
	if (r.rc == PTSIM_ENOMEM_HOST) {
		const char *msg = ptsim_machine_errmsg(m);
		if (!strstr(msg, "out of memory") || !strstr(msg, "event "))
			fail_msg("%s, %s, allocation %llu: the message should say out of memory and name the event: %s", name,
				 arch == PTSIM_ARCH_ARM64 ? "arm64" : "x86-64", (unsigned long long)n, msg);
	}
	r.violations = ptsim_violation_count(m);
	for (size_t i = 0; i < r.violations; i++) {
		struct ptsim_violation v;
		if (!ptsim_violation_get(m, i, &v) && v.kind == PTSIM_VIOL_INTERNAL) {
			r.internal = true;
			fail_msg("%s, allocation %llu: internal error: %s", name, (unsigned long long)n, v.message);
		}
	}
	ptsim_machine_quiesce(m);
	if (ptsim_machine_check(m))
		fail_msg("%s, %s, allocation %llu: machine inconsistent: %s", name,
			 arch == PTSIM_ARCH_ARM64 ? "arm64" : "x86-64", (unsigned long long)n, ptsim_machine_errmsg(m));
	ptsim_machine_destroy(m);
	return r;
}

static unsigned int sweep_one(const char *name, struct ptsim_trace *t, enum ptsim_arch arch, bool every)
{
	struct sweep_result clean = sweep_run(name, t, arch, 0);
	unsigned int runs = 0;

	if (clean.rc)
		return 0;   /* the trace does not run on this architecture (x86-only settings, addresses) */
	for (uint64_t n = 1;; n = every || n < 24 ? n + 1 : n + n / 2) {
		struct sweep_result r = sweep_run(name, t, arch, n);
		runs++;
		if (r.rc != PTSIM_ENOMEM_HOST) {
			if (r.rc != clean.rc)
				fail_msg("%s, %s, allocation %llu: %s, the undisturbed run gives %s", name,
					 arch == PTSIM_ARCH_ARM64 ? "arm64" : "x86-64", (unsigned long long)n,
					 ptsim_errname(r.rc), ptsim_errname(clean.rc));
			break;   /* past the last allocation */
		}
		if (!clean.violations && r.violations)
			fail_msg("%s, %s, allocation %llu: %zu violations, the undisturbed run has none", name,
				 arch == PTSIM_ARCH_ARM64 ? "arm64" : "x86-64", (unsigned long long)n, r.violations);
		assert_true(n < 10000000);
	}
	return runs;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	assert_true(n >= 0);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	*len = (size_t)n;
	return buf;
}

static void test_alloc_failure__bundled_traces_both_archs(void **s)
{
	(void)s;
	const char *all = getenv("PTSIM_ALLOC_SWEEP");
	bool every = all && !strcmp(all, "all");
	unsigned int runs = 0, pairs = 0;

	for (size_t i = 0; i < sizeof(sweep_traces) / sizeof(sweep_traces[0]); i++) {
		if (!sweep_traces[i]) {
			if (!every)
				break;
			continue;
		}
		char path[512], err[512];
		struct ptsim_trace *t;
		snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, sweep_traces[i]);
		if (ptsim_trace_load_file(&t, path, err, sizeof(err)))
			fail_msg("%s: %s", path, err);
		struct ptsim_config cfg;
		ptsim_trace_config(t, &cfg);
		unsigned int r = sweep_one(sweep_traces[i], t, cfg.arch, every);
		assert_true(r > 1);   /* the trace's own architecture must run, and allocate */
		runs += r;
		pairs++;
		if (cfg.arch == PTSIM_ARCH_X86_64) {
			r = sweep_one(sweep_traces[i], t, PTSIM_ARCH_ARM64, every);
			runs += r;
			pairs += r > 0;
		}
		ptsim_trace_free(t);
	}
	print_message("%u runs over %u trace/architecture pairs\n", runs, pairs);
	assert_true(pairs > 24);
}

/*
 * The trace loader under allocation failure: cJSON's allocations (through
 * its hooks, set here by the test) fail at the Nth for every N.  A load must
 * end in PTSIM_ENOMEM_HOST saying "out of memory" -- never "malformed JSON":
 * cJSON answers NULL for both, and the loader tells them apart -- or load.
 * No leak (LeakSanitizer).
 */
struct cjson_fail {
	uint64_t count, fail_at;
};
static struct cjson_fail cjson_fail;   /* the hooks take no context: test-only state */

static void *failing_malloc(size_t n)
{
	if (++cjson_fail.count == cjson_fail.fail_at)
		return NULL;
	return malloc(n);
}

static unsigned int sweep_load(const char *name, const char *text, size_t len)
{
	cJSON_Hooks hooks = { failing_malloc, free };
	unsigned int oom = 0;
	char err[512];

	struct ptsim_trace *t = NULL;
	cJSON_InitHooks(&hooks);
	cjson_fail = (struct cjson_fail){ 0, 0 };
	if (ptsim_trace_load(&t, text, len, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	ptsim_trace_free(t);
	/* Every allocation of the load fails once (a failed parse that was not going to succeed may absorb it). */
	for (uint64_t n = 1, total = cjson_fail.count; n <= total; n++) {
		cjson_fail = (struct cjson_fail){ 0, n };
		int rc = ptsim_trace_load(&t, text, len, err, sizeof(err));
		if (rc == 0) {
			ptsim_trace_free(t);
			continue;
		}
		if (rc != PTSIM_ENOMEM_HOST || !strstr(err, "out of memory") || strstr(err, "malformed")) {
			cJSON_InitHooks(NULL);
			fail_msg("%s: cJSON allocation %llu failing: %s: %s", name, (unsigned long long)n, ptsim_errname(rc), err);
		}
		oom++;
		assert_true(n < 10000000);
	}
	cjson_fail = (struct cjson_fail){ 0, 0 };
	cJSON_InitHooks(NULL);
	return oom;
}

static void test_alloc_failure__trace_loader(void **s)
{
	(void)s;
	static const char v2[] = "{\"ptsim_trace\":2,\"machine\":{\"cpus\":2}}\n"
				 "{\"op\":\"spawn\",\"task\":1,\"cpu\":0}\n"
				 "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"prot\":\"rw\"}\n"
				 "{\"op\":\"repeat\",\"count\":2,\"events\":[{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000\","
				 "\"len\":\"4K\"}]}\n";
	static const char *const files[] = { "oracle/w3_munmap_spin.json", "studies/munmap_loop_64.json",
					     "bugs/CVE-2026-74674_arm64.json" };
	unsigned int oom = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, files[i]);
		char *text = slurp(path, &len);
		oom += sweep_load(files[i], text, len);
		free(text);
	}
	oom += sweep_load("v2", v2, strlen(v2));
	print_message("%u loads failed cleanly with out of memory\n", oom);
	assert_true(oom > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_failure__every_allocation),
		cmocka_unit_test(test_alloc_failure__machine_usable_after),
		cmocka_unit_test(test_alloc_failure__tlb_arrays),
		cmocka_unit_test(test_alloc_failure__never_the_syscall_enomem),
		cmocka_unit_test(test_alloc_failure__bundled_traces_both_archs),
		cmocka_unit_test(test_alloc_failure__trace_loader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
