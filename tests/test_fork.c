/*
 * fork (dup_mmap/copy_page_range) and teardown (exit_mmap, check_mm):
 * private anonymous memory is copied, shared mappings are not (the child
 * faults them in later), COW faults are counted, exit returns every frame,
 * and a corrupted counter is reported by check_mm with a backtrace.
 */
#include <string.h>

#include "support/helpers.h"

#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)
#define BASE 0x100000000000ull
#define MB (1ull << 20)

static void map(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, enum ptsim_map_kind kind,
		bool shared, const char *file)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = RW, .kind = kind, .shared = shared, .file = file };
	T_OK(m, ptsim_mmap(m, task, &a));
}

/* Private anonymous memory with pages: copied at fork, tables and RSS alike. */
static void test_fork__private_anon_copied(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 8 * MB, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * MB, 0, true));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	struct ptsim_mm_info p = t_mm_info(m, 1), c = t_mm_info(m, 2);
	assert_int_equal(c.vmpte_kb, p.vmpte_kb);
	assert_int_equal(c.vmpte_kb, (4 + 1 + 1) * 4);   /* 4 PTE + 1 PMD + 1 PUD tables */
	assert_int_equal(c.rss_anon_kb, 8 * 1024);
	assert_int_equal(c.pgtables[0], 4);
	/* fork's flush_tlb_mm(parent): the parent ran only on CPU0, so no IPI. */
	assert_int_equal(t_stat(m, "ipi.calls.tlb_flush"), 0);
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* Shared mappings (file, shmem, hugetlb) and untouched private file mappings: not copied. */
static void test_fork__shared_not_copied_until_fault(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args h = { .addr = BASE + (1ull << 30), .len = 1ull << 30, .prot = RW,
				     .kind = PTSIM_MAP_HUGETLB, .shared = true, .file = "huge", .populate = true };

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 4 * MB, PTSIM_MAP_FILE, true, "data");
	map(m, 1, BASE + 64 * MB, 4 * MB, PTSIM_MAP_SHMEM, true, "shm");
	map(m, 1, BASE + 128 * MB, 4 * MB, PTSIM_MAP_FILE, false, "lib");
	T_OK(m, ptsim_mmap(m, 1, &h));
	T_OK(m, ptsim_touch(m, 1, BASE, 4 * MB, 0, true));
	T_OK(m, ptsim_touch(m, 1, BASE + 64 * MB, 4 * MB, 0, true));
	T_OK(m, ptsim_touch(m, 1, BASE + 128 * MB, 4 * MB, 0, false));
	struct ptsim_mm_info p = t_mm_info(m, 1);
	assert_int_equal(p.rss_file_kb, 8 * 1024);
	assert_int_equal(p.rss_shmem_kb, 4 * 1024);
	assert_int_equal(p.hugetlb_kb, 1024 * 1024);

	T_OK(m, ptsim_fork(m, 1, 2, 1));
	struct ptsim_mm_info c = t_mm_info(m, 2);
	assert_int_equal(c.vmpte_kb, 0);
	assert_int_equal(c.rss_file_kb + c.rss_shmem_kb + c.rss_anon_kb + c.hugetlb_kb, 0);
	assert_int_equal(c.nr_vmas, 4);

	/* The child faults the shared file in: the parent's page-cache pages, no copies. */
	uint64_t pages_before = t_stat(m, "pages.allocated");
	T_OK(m, ptsim_touch(m, 2, BASE, 4 * MB, 0, false));
	c = t_mm_info(m, 2);
	assert_int_equal(c.rss_file_kb, 4 * 1024);
	assert_int_equal(t_stat(m, "pages.allocated"), pages_before);
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* COW: after fork every write to a shared anonymous page copies it, in either process. */
static void test_fork__cow_fault_counts(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 4 * MB, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 4 * MB, 0, true));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	assert_int_equal(t_stat(m, "faults.cow"), 0);
	T_OK(m, ptsim_touch(m, 2, BASE, 10 * 4096, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 10);
	T_OK(m, ptsim_touch(m, 1, BASE + MB, 20 * 4096, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 30);
	/* Reads never copy. */
	T_OK(m, ptsim_touch(m, 2, BASE + 2 * MB, MB, 0, false));
	assert_int_equal(t_stat(m, "faults.cow"), 30);
	/* Once the child is gone the parent's pages are its own again: reuse, no copy. */
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_touch(m, 1, BASE + 3 * MB, 5 * 4096, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 30);
	assert_int_equal(t_stat(m, "faults.wp_reuse"), 5);
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/* Exit gives back every frame and table; check_mm finds nothing wrong. */
static void test_fork__exit_returns_everything(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 16 * MB, PTSIM_MAP_ANON, false, NULL);
	map(m, 1, BASE + 64 * MB, 4 * MB, PTSIM_MAP_ANON, true, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * MB, 0, true));
	T_OK(m, ptsim_touch(m, 1, BASE + 64 * MB, 4 * MB, 0, true));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_touch(m, 2, BASE, 8 * MB, 0, true));
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_exit(m, 1));
	/* Idle CPUs drop their lazy references when they run something else. */
	T_OK(m, ptsim_spawn(m, 10, 0));
	T_OK(m, ptsim_spawn(m, 11, 1));
	assert_int_equal(ptsim_frames_in_use(m), 2);   /* the two new PGDs */
	assert_int_equal(t_stat(m, "pages.allocated"), t_stat(m, "pages.freed"));
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* The test hook corrupts one counter: check_mm says "Bad rss-counter state", with a backtrace. */
static void test_fork__check_mm_reports_corruption(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_violation v;

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 4 * MB, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 4 * MB, 0, true));
	T_OK(m, ptsim_debug_rss_add(m, 1, PTSIM_RSS_ANON, 3));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 1);
	T_OK(m, ptsim_violation_get(m, 0, &v));
	assert_int_equal(v.kind, PTSIM_VIOL_CHECK_MM);
	assert_non_null(strstr(v.message, "BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:3"));
	assert_int_equal(t_stat(m, "check_mm.errors"), 1);
	/* The backtrace names where it was detected (inlining may hide the frames in between). */
	char *json = ptsim_report_json(m);
	const char *bt = strstr(json, "\"backtrace\":\"");
	assert_non_null(bt);
	assert_non_null(strstr(bt, "check_mm"));
	assert_non_null(strstr(bt, "ptsim_exit"));
	ptsim_free(json);
	ptsim_machine_destroy(m);
}

/* Threads share the mm: only the last one's exit tears it down. */
static void test_fork__threads_share_mm(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 4 * MB, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_touch(m, 2, BASE, 4 * MB, 0, true));
	assert_int_equal(t_mm_info(m, 1).users, 2);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 4096);
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(t_mm_info(m, 2).users, 1);
	assert_int_equal(t_mm_info(m, 2).rss_anon_kb, 4096);   /* still mapped */
	assert_int_equal(t_mm_info(m, 2).task, 2);
	T_OK(m, ptsim_exit(m, 2));
	assert_int_equal(t_stat(m, "pages.freed"), 1024);
	t_destroy(m);
}

/* Every switch counts (nr_switches): spawn, fork's child, run, sleep, and exit's switch to idle. */
static void test_fork__context_switches(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));                 /* cpu 0: idle -> 1 */
	T_OK(m, ptsim_fork(m, 1, 2, 1));               /* cpu 1: idle -> 2 */
	T_OK(m, ptsim_exit(m, 2));                     /* cpu 1: 2 -> idle */
	T_OK(m, ptsim_sleep(m, 1));                    /* cpu 0: 1 -> idle */
	T_OK(m, ptsim_run(m, 1, 1));                   /* cpu 1: idle -> 1 */
	T_OK(m, ptsim_exit(m, 1));                     /* cpu 1: 1 -> idle */
	assert_int_equal(t_stat(m, "cpu.0.context_switches"), 2);
	assert_int_equal(t_stat(m, "cpu.1.context_switches"), 4);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork__private_anon_copied),
		cmocka_unit_test(test_fork__shared_not_copied_until_fault),
		cmocka_unit_test(test_fork__cow_fault_counts),
		cmocka_unit_test(test_fork__exit_returns_everything),
		cmocka_unit_test(test_fork__check_mm_reports_corruption),
		cmocka_unit_test(test_fork__threads_share_mm),
		cmocka_unit_test(test_fork__context_switches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
