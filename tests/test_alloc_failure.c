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
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_failure__every_allocation),
		cmocka_unit_test(test_alloc_failure__machine_usable_after),
		cmocka_unit_test(test_alloc_failure__tlb_arrays),
		cmocka_unit_test(test_alloc_failure__never_the_syscall_enomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
