/*
 * A user's own cmocka test of an mm workload, built against the installed
 * libptsim (see CMakeLists.txt and run.sh next to this file).
 *
 * The workload: a process with two threads, A on CPU0 and B on CPU1, maps
 * 64 MiB of anonymous memory, writes all of it, then unmaps pieces of it while
 * B runs, then while B sleeps.  The tests check what the kernel (6.18) does:
 * the page-table bytes /proc/PID/status would show as VmPTE, and how many
 * TLB-shootdown IPIs each munmap costs (docs/real-kernel.md, W3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <ptsim/ptsim.h>

#define KB 1024ull
#define MB (1024 * KB)
#define REGION 0x100000000000ull   /* 1 GiB-aligned, like the oracle programs' regions */

enum { A = 1, B = 2 };   /* task ids: we choose them */

/* Fail the test with the machine's own explanation if a call fails. */
#define OK(m, call)                                                                                        \
	do {                                                                                               \
		int rc_ = (call);                                                                          \
		if (rc_)                                                                                   \
			fail_msg("%s: %s (%s)", #call, ptsim_machine_errmsg(m), ptsim_errname(rc_));       \
	} while (0)

static uint64_t counter(struct ptsim_machine *m, const char *name)
{
	uint64_t v = 0;
	OK(m, ptsim_stat(m, name, &v));
	return v;
}

static uint64_t vmpte_kb(struct ptsim_machine *m, int task)
{
	struct ptsim_mm_info mi;
	OK(m, ptsim_mm_info_get(m, task, &mi));
	return mi.vmpte_kb;
}

/* A 2-CPU machine of the default preset (the 6.18.44 kernel) running the workload's setup. */
static int setup(void **state)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	ptsim_config_init(&cfg);
	cfg.cpus = 2;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("ptsim_machine_create: %s", err);

	struct ptsim_mmap_args map = {
		.addr = REGION, .len = 64 * MB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE, .kind = PTSIM_MAP_ANON,
	};
	OK(m, ptsim_spawn(m, A, 0));                          /* process A on CPU0 */
	OK(m, ptsim_advance(m, 2000000000ull));               /* the mm is 2 s old, as in the measurement */
	OK(m, ptsim_thread(m, A, B, 1));                      /* thread B on CPU1 */
	OK(m, ptsim_mmap(m, A, &map));
	OK(m, ptsim_touch(m, A, REGION, 64 * MB, 0, true));   /* A writes every page */
	OK(m, ptsim_touch(m, B, REGION, 64 * MB, 0, false));  /* B reads them (its TLB fills) */
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	struct ptsim_machine *m = *state;

	OK(m, ptsim_exit(m, B));
	OK(m, ptsim_exit(m, A));
	/* The safety oracle found nothing: no page or table freed while reachable. */
	assert_int_equal(ptsim_violation_count(m), 0);
	ptsim_machine_destroy(m);
	return 0;
}

/* VmPTE counts PTE + PMD + PUD tables: 64 MiB needs 32 PTE tables, 1 PMD, 1 PUD. */
static void test_vmpte_follows_the_tables(void **state)
{
	struct ptsim_machine *m = *state;
	struct ptsim_mm_info mi;

	OK(m, ptsim_mm_info_get(m, A, &mi));
	assert_int_equal(mi.vmpte_kb, (32 + 1 + 1) * 4);
	assert_int_equal(mi.rss_anon_kb, 64 * 1024);
	assert_int_equal(mi.users, 2);                 /* A and B share the mm */
	assert_int_equal(vmpte_kb(m, B), mi.vmpte_kb);

	/* Unmapping a whole, aligned 2 MiB frees its PTE table: -4 kB. */
	OK(m, ptsim_munmap(m, A, REGION + 2 * MB, 2 * MB));
	assert_int_equal(vmpte_kb(m, A), (31 + 1 + 1) * 4);
	/* 2 MiB that straddles two tables frees neither: both still map pages. */
	OK(m, ptsim_munmap(m, A, REGION + 5 * MB, 2 * MB));
	assert_int_equal(vmpte_kb(m, A), (31 + 1 + 1) * 4);
	/* MADV_DONTNEED of a whole table: PT reclaim (6.14+, on in 6.18) frees it too. */
	OK(m, ptsim_madvise(m, A, REGION + 8 * MB, 2 * MB, PTSIM_MADV_DONTNEED));
	assert_int_equal(vmpte_kb(m, A), (30 + 1 + 1) * 4);
	/* Everything gone: every table goes, VmPTE is 0. */
	OK(m, ptsim_munmap(m, A, REGION, 64 * MB));
	assert_int_equal(vmpte_kb(m, A), 0);
}

/* With B running on CPU1 every munmap costs one IPI; with B asleep (CPU1 lazy), none. */
static void test_ipis_per_munmap(void **state)
{
	struct ptsim_machine *m = *state;
	uint64_t calls = counter(m, "ipi.calls.tlb_flush");

	/* B runs: CPU1 has the mm loaded, so the flush must reach it. */
	OK(m, ptsim_munmap(m, A, REGION, 4 * KB));
	assert_int_equal(counter(m, "ipi.calls.tlb_flush") - calls, 1);
	assert_int_equal(counter(m, "cpu.1.ipi_received.tlb_flush"), 1);
	assert_int_equal(counter(m, "tlb.remote.partial"), 1);   /* one page: a ranged flush (INVLPG) */

	/* 34 pages > tlb_single_page_flush_ceiling (33): a full flush instead. */
	OK(m, ptsim_munmap(m, A, REGION + 64 * KB, 34 * 4 * KB));
	assert_int_equal(counter(m, "ipi.calls.tlb_flush") - calls, 2);
	assert_int_equal(counter(m, "tlb.remote.full"), 1);

	/* B sleeps: CPU1 is idle, lazy on the mm; a flush that frees no table skips it. */
	OK(m, ptsim_sleep(m, B));
	OK(m, ptsim_munmap(m, A, REGION + 1 * MB, 4 * KB));
	assert_int_equal(counter(m, "ipi.calls.tlb_flush") - calls, 2);

	/*
	 * Freeing page tables must reach lazy CPUs too (their walk caches may
	 * point at the table): one IPI, CPU1 switches to init_mm; the next one
	 * finds CPU1 no longer using the mm and CPU1 leaves mm_cpumask; after
	 * that, no IPI at all.
	 */
	OK(m, ptsim_mark(m, "asleep"));
	for (int i = 0; i < 4; i++)
		OK(m, ptsim_munmap(m, A, REGION + (uint64_t)(16 + 2 * i) * MB, 2 * MB));
	uint64_t at_mark = 0;
	OK(m, ptsim_mark_stat(m, "asleep", "ipi.calls.tlb_flush", &at_mark));
	assert_int_equal(counter(m, "ipi.calls.tlb_flush") - at_mark, 2);
	assert_int_equal(counter(m, "tlb.remote.lazy_to_init_mm"), 1);
	assert_int_equal(counter(m, "tlb.remote.wrong_cpu"), 1);
	OK(m, ptsim_run(m, B, 1));   /* B wakes up for the teardown */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vmpte_follows_the_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipis_per_munmap, setup, teardown),
	};
	printf("ptsim %s\n", PTSIM_VERSION_STRING);   /* from the installed, generated version.h */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
