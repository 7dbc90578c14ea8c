/*
 * Allocation failure: fail the Nth simulator allocation of a workload, for
 * N = 1, 2, ... until the workload no longer hits the failure.  Every failing
 * call must return -ENOMEM with a message, leave the machine consistent
 * (ptsim_machine_check()), and the machine must tear down without leaks
 * (LeakSanitizer checks that in the sanitizer build).
 */
#include <errno.h>
#include <string.h>

#include "support/helpers.h"

#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)
#define BASE 0x100000000000ull
#define MB (1ull << 20)

/* Returns 0 if the workload ran to the end, -ENOMEM if a call failed (checked). */
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
			if (rc != -ENOMEM)                                                                 \
				fail_msg("%s: %s (%s)", #call, ptsim_errname(rc), ptsim_machine_errmsg(m)); \
			assert_true(strlen(ptsim_machine_errmsg(m)) > 0);                                  \
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
	assert_int_equal(ptsim_touch(m, 1, BASE, 8 * MB, 0, true), -ENOMEM);
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
 * When that allocation fails, the access fails with -ENOMEM before any walk or
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
	assert_int_equal(ptsim_touch(m, 1, BASE, 2 * MB, 0, true), -ENOMEM);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_failure__every_allocation),
		cmocka_unit_test(test_alloc_failure__machine_usable_after),
		cmocka_unit_test(test_alloc_failure__tlb_arrays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
