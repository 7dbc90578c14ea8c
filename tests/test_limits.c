/*
 * Simulated-memory limits (docs/reliability.md): max_frames and max_pgtables
 * end a workload that would eat the host with PTSIM_ELIMIT and the figures,
 * quickly, and leave the machine consistent and usable.  The simulated
 * kernel takes its own out-of-memory path (VM_FAULT_OOM, -ENOMEM) at the
 * limit; ptsim has no OOM killer, so the call (and a trace) stops there.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"

#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)
#define BASE 0x100000000000ull
#define TiB (1ull << 40)

static void assert_limit(struct ptsim_machine *m, int rc, const char *limit)
{
	if (rc != PTSIM_ELIMIT)
		fail_msg("expected ELIMIT, got %s: %s", ptsim_errname(rc), ptsim_machine_errmsg(m));
	assert_non_null(strstr(ptsim_machine_errmsg(m), "simulated memory limit"));
	assert_non_null(strstr(ptsim_machine_errmsg(m), limit));
	T_OK(m, ptsim_machine_check(m));
}

/* 128 TiB of guard markers needs 64 Mi PTE tables: the default max_pgtables stops it. */
static void test_limits__guard_install_128t(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine_cfg(PTSIM_ARCH_X86_64, 0, 0, 2, NULL, (const char *const[]){ "max_pgtables=4096", NULL });
	struct ptsim_mmap_args a = { .addr = BASE, .len = 32 * TiB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	assert_limit(m, ptsim_madvise(m, 1, BASE, a.len, PTSIM_MADV_GUARD_INSTALL), "max_pgtables=4096");
	assert_non_null(strstr(ptsim_machine_errmsg(m), "4096 of them page tables"));
	assert_non_null(strstr(ptsim_machine_errmsg(m), "madvise: "));
	assert_int_equal(t_stat(m, "pgtables_allocated.pte") + t_stat(m, "pgtables_allocated.pmd") +
				 t_stat(m, "pgtables_allocated.pud") + t_stat(m, "pgtables_allocated.p4d") + 1,
			 4096);
	/* Usable afterwards: unmapping frees the tables, then it fits. */
	T_OK(m, ptsim_munmap(m, 1, BASE, a.len));
	T_OK(m, ptsim_mmap(m, 1, &(struct ptsim_mmap_args){ .addr = BASE, .len = 1ull << 30, .prot = RW }));
	T_OK(m, ptsim_madvise(m, 1, BASE, 1ull << 30, PTSIM_MADV_GUARD_INSTALL));
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/* MAP_POPULATE and mlock of 128 TiB stop at max_frames, with the frame count in the message. */
static void test_limits__populate_and_mlock_128t(void **s)
{
	(void)s;
	const char *const set[] = { "max_frames=65536", NULL };
	struct ptsim_machine *m = t_machine_cfg(PTSIM_ARCH_X86_64, 0, 0, 2, NULL, set);
	struct ptsim_mmap_args a = { .addr = BASE, .len = 0x7ffffffff000ull - BASE, .prot = RW, .populate = true };

	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_limit(m, ptsim_mmap(m, 1, &a), "max_frames=65536");
	assert_non_null(strstr(ptsim_machine_errmsg(m), "(65535 frames in use"));
	/* The mapping is there (the kernel's mmap succeeded before populating). */
	a.populate = false;
	assert_int_equal(ptsim_mmap(m, 1, &a), PTSIM_EOVERLAP);
	T_OK(m, ptsim_munmap(m, 1, a.addr, a.len));
	/* The PGD, and the pages still in CPU 0's LRU add batch (munmap does not drain it). */
	assert_int_equal(ptsim_frames_in_lru_batches(m), 25);
	assert_int_equal(ptsim_frames_in_use(m), 1 + 25);
	T_OK(m, ptsim_mmap(m, 1, &a));
	assert_limit(m, ptsim_mlock(m, 1, a.addr, a.len), "max_frames=65536");
	T_OK(m, ptsim_exit(m, 1));
	/* mlock drained the batch; the pages it faulted in a VM_LOCKED VMA skip it (the mlock batch is not modelled). */
	assert_int_equal(ptsim_frames_in_lru_batches(m), 0);
	assert_int_equal(ptsim_frames_in_use(m), 0);
	t_destroy(m);
}

/* The limit counts every frame: a fork copies page tables and anonymous pages stay shared (COW). */
static void test_limits__exact_count(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine_cfg(PTSIM_ARCH_X86_64, 0, 0, 2, NULL, (const char *const[]){ "max_frames=100", NULL });
	struct ptsim_mmap_args a = { .addr = BASE, .len = 1ull << 20, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	/* pgd + p4d-less x86 4-level: pgd, pud, pmd, pte = 4 tables, then 256 pages: the 96th page fails. */
	assert_limit(m, ptsim_touch(m, 1, BASE, a.len, 0, true), "max_frames=100");
	assert_int_equal(t_stat(m, "faults.total") - t_stat(m, "faults.oom"), 95);
	assert_int_equal(ptsim_frames_in_use(m), 99);
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/* A trace stops at the limit: ELIMIT, never "expect": "ENOMEM", and ptsim run exits 2. */
static void test_limits__trace(void **s)
{
	(void)s;
	static const char json[] =
		"{\"ptsim_trace\":1,\"machine\":{\"set\":{\"max_frames\":64}},\"events\":["
		"{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
		"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"1M\",\"prot\":\"rw\"},"
		"{\"op\":\"mlock\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"1M\",\"expect\":\"ENOMEM\"}]}";
	struct ptsim_machine *m = NULL;
	char err[512];

	assert_int_equal(t_run_json(json, &m, err, sizeof(err)), PTSIM_ELIMIT);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "event 2 (mlock)"));
	assert_non_null(strstr(ptsim_machine_errmsg(m), "max_frames=64"));
	t_destroy(m);
}

/* The same limits through ptsim_machine_set_limit(): the config value is the start, 0 is none. */
static void test_limits__set_limit(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine_cfg(PTSIM_ARCH_X86_64, 0, 0, 2, NULL, (const char *const[]){ "max_frames=100", NULL });
	struct ptsim_mmap_args a = { .addr = BASE, .len = 1ull << 20, .prot = RW };

	assert_int_equal(ptsim_machine_limit(m, PTSIM_LIMIT_FRAMES), 100);
	assert_int_equal(ptsim_machine_limit(m, PTSIM_LIMIT_PGTABLES), 262144);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_FRAMES, 50));
	assert_limit(m, ptsim_touch(m, 1, BASE, a.len, 0, true), "max_frames=50");
	assert_non_null(strstr(ptsim_machine_errmsg(m), "PTSIM_LIMIT_FRAMES"));
	assert_int_equal(ptsim_frames_in_use(m), 49);
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_FRAMES, 0));
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_PGTABLES, 3));
	/* pgd, pud, pmd, pte are in use: the PMD table of a second 1 GiB region is refused. */
	a.addr = BASE + (1ull << 30);
	T_OK(m, ptsim_mmap(m, 1, &a));
	assert_limit(m, ptsim_touch(m, 1, a.addr, 4096, 0, true), "max_pgtables=3");
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_PGTABLES, 0));
	T_OK(m, ptsim_touch(m, 1, BASE, 2ull << 20, 0, true));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/*
 * 100,000 threads of one mm (issue 15's "unbounded work from short traces":
 * they took 20 s when each thread was inserted into a sorted list; the mm's
 * tasks are a heap now).  Created on CPU 1 in turn (each replaces the one
 * before there), then each runs and exits: the mm lives until the last.
 */
static void test_limits__100k_threads_of_one_mm(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	const int n = 100000;

	T_OK(m, ptsim_spawn(m, 1, 0));
	for (int i = 0; i < n; i++)
		T_OK(m, ptsim_thread(m, 1, 2 + i, 1));
	assert_int_equal(t_mm_info(m, 1).users, n + 1);
	for (int i = n - 1; i >= 0; i -= 2) {   /* from both ends of the heap's order */
		T_OK(m, ptsim_run(m, 2 + i, 1));
		T_OK(m, ptsim_exit(m, 2 + i));
	}
	for (int i = 0; i < n; i += 2) {
		T_OK(m, ptsim_run(m, 2 + i, 1));
		T_OK(m, ptsim_exit(m, 2 + i));
	}
	assert_int_equal(t_mm_info(m, 1).users, 1);
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

static void test_limits__bad_values(void **s)
{
	(void)s;
	struct ptsim_config cfg;
	struct ptsim_machine *m;
	char err[256];
	const char *const bad[][2] = { { "max_frames=0", NULL }, { "max_pgtables=-1", NULL }, { "max_frames=1T", NULL } };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ptsim_config_init(&cfg);
		cfg.set = bad[i];
		assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
		assert_non_null(strstr(err, "is not an integer in"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits__guard_install_128t),
		cmocka_unit_test(test_limits__populate_and_mlock_128t),
		cmocka_unit_test(test_limits__exact_count),
		cmocka_unit_test(test_limits__trace),
		cmocka_unit_test(test_limits__set_limit),
		cmocka_unit_test(test_limits__100k_threads_of_one_mm),
		cmocka_unit_test(test_limits__bad_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
