/*
 * fork (dup_mmap/copy_page_range) and teardown (exit_mmap, check_mm):
 * private anonymous memory is copied, shared mappings are not (the child
 * faults them in later), COW faults are counted, exit returns every frame,
 * and a corrupted counter is reported by check_mm with a backtrace.
 */
#include <errno.h>
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
	/*
	 * The two new PGDs, and the pages the CPUs' LRU add batches still hold:
	 * cpu 1's last 2 copies (2048 mod 31); cpu 0's were drained when task
	 * 1's exit truncated the shared region's shmem file.
	 */
	assert_int_equal(ptsim_frames_in_lru_batches(m), 2);
	assert_int_equal(ptsim_frames_in_use(m), 2 + 2);
	assert_int_equal(t_stat(m, "pages.allocated"), t_stat(m, "pages.freed") + 2);
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
	/* 1024 mod 31 = 1: the last page faulted still waits in CPU 1's LRU add batch. */
	assert_int_equal(ptsim_frames_in_lru_batches(m), 1);
	assert_int_equal(t_stat(m, "pages.freed"), 1023);
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

/*
 * The per-CPU LRU add batch after fork (swap.c), as measured on Linux 6.18.44
 * (a C program pinned to CPU 0 faults N anonymous pages, forks, the child
 * exits on CPU 1, the parent moves to CPU 1 and writes the pages; copies told
 * by the pages' PFNs in /proc/self/pagemap).  Task 1 writes @n pages on CPU 0,
 * forks task 2 onto CPU 1, task 2 exits; with @child_lives it stays.  Then
 * task 1 writes them again on @write_cpu, after @before (an operation on an
 * unrelated page, on CPU 0).  Returns the copies (faults.cow).
 */
enum lru_before { LRU_NOTHING, LRU_MUNMAP, LRU_DONTNEED, LRU_MPROTECT, LRU_MLOCK, LRU_FREE, LRU_DRAIN_CPU0, LRU_DRAIN_CPU1 };

static uint64_t lru_batch_copies(unsigned int n, unsigned int write_cpu, bool child_lives, enum lru_before before)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	const uint64_t other = BASE + 64 * MB;
	const uint64_t pg = 4096;

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, n * pg, PTSIM_MAP_ANON, false, NULL);
	map(m, 1, other, pg, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, n * pg, 0, true));
	assert_int_equal(ptsim_frames_in_lru_batches(m), n % 31);   /* the 31st add moves the whole batch */
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	if (!child_lives)
		T_OK(m, ptsim_exit(m, 2));   /* exit drains nothing */
	switch (before) {
	case LRU_NOTHING:
		break;
	case LRU_MUNMAP:
		T_OK(m, ptsim_munmap(m, 1, other, pg));
		break;
	case LRU_DONTNEED:
		T_OK(m, ptsim_madvise(m, 1, other, pg, PTSIM_MADV_DONTNEED));
		break;
	case LRU_MPROTECT:
		T_OK(m, ptsim_mprotect(m, 1, other, pg, PTSIM_PROT_READ));
		break;
	case LRU_MLOCK:
		T_OK(m, ptsim_mlock(m, 1, other, pg));   /* mlock_fixup(): lru_add_drain() */
		break;
	case LRU_FREE:
		T_OK(m, ptsim_madvise(m, 1, other, pg, PTSIM_MADV_FREE));   /* madvise_free_single_vma(): lru_add_drain() */
		break;
	case LRU_DRAIN_CPU0:   /* a recording's lru_add_drain_cpu: CPU 0's batch moved under another process */
		T_OK(m, ptsim_lru_add_drain_cpu(m, 0));
		break;
	case LRU_DRAIN_CPU1:
		T_OK(m, ptsim_lru_add_drain_cpu(m, 1));
		break;
	}
	if (write_cpu != 0) {
		T_OK(m, ptsim_sleep(m, 1));
		T_OK(m, ptsim_run(m, 1, write_cpu));
	}
	uint64_t cow = t_stat(m, "faults.cow");
	T_OK(m, ptsim_touch(m, 1, BASE, n * pg, 0, true));
	uint64_t copies = t_stat(m, "faults.cow") - cow;
	assert_int_equal(t_stat(m, "faults.wp_reuse"), n - copies);
	if (child_lives) {
		T_OK(m, ptsim_run(m, 2, 0));   /* task 1 took its CPU */
		T_OK(m, ptsim_exit(m, 2));
	}
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
	return copies;
}

/*
 * Written on the other CPU, the pages still in CPU 0's batch (N mod 31 of
 * them) are copied: each has the batch's reference besides the mapping's, and
 * do_wp_page() drains only the local batch.  Measured: N = 1, 10, 20, 21 gave
 * 1, 10, 20, 21 copies; N = 32, 40, 50, 52 gave 1, 9, 19, 21 (most runs of 10;
 * the others fewer, when a process running on CPU 0 meanwhile filled or
 * drained the batch).  N = 31 gave none.  (N mod 31 from 25 on also gave none
 * there: the program's own post-fork copy-on-write faults, about 7-9 pages on
 * CPU 0, filled the batch; this scene has none.)
 */
static void test_fork__lru_batch_remote_write_copies(void **s)
{
	(void)s;
	static const unsigned int n[] = { 1, 10, 20, 21, 31, 32, 40, 50, 52 };
	static const uint64_t want[] = { 1, 10, 20, 21, 0, 1, 9, 19, 21 };

	for (unsigned int i = 0; i < sizeof(n) / sizeof(n[0]); i++)
		assert_int_equal(lru_batch_copies(n[i], 1, false, LRU_NOTHING), want[i]);
}

/* Written on the CPU whose batch holds them: do_wp_page() drains it first, every page is reused (measured: 0 of 10, 0 of 40). */
static void test_fork__lru_batch_local_write_reuses(void **s)
{
	(void)s;
	assert_int_equal(lru_batch_copies(10, 0, false, LRU_NOTHING), 0);
	assert_int_equal(lru_batch_copies(40, 0, false, LRU_NOTHING), 0);
	/* With the child alive every page is copied anyway (measured: 10 of 10, 40 of 40). */
	assert_int_equal(lru_batch_copies(10, 1, true, LRU_NOTHING), 10);
	assert_int_equal(lru_batch_copies(40, 1, true, LRU_NOTHING), 40);
}

/*
 * munmap, MADV_DONTNEED and mprotect on CPU 0 leave its batch alone (measured:
 * 10 of 10 copied after each, most runs); mlock and MADV_FREE drain it (stack
 * traces of pagemap:mm_lru_insertion: mlock_fixup() -> lru_add_drain(),
 * madvise_free_single_vma() -> lru_add_drain(), the latter even for a range
 * whose pages are all on the LRU), so the pages are reused.
 */
static void test_fork__lru_batch_drain_points(void **s)
{
	(void)s;
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_MUNMAP), 10);
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_DONTNEED), 10);
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_MPROTECT), 10);
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_MLOCK), 0);
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_FREE), 0);
}

/*
 * ptsim_lru_add_drain_cpu() (a recording's lru_add_drain_cpu op) of the CPU
 * whose batch holds the pages: the write on the other CPU reuses them all; of
 * another CPU (an empty batch): all copied, as without it.  A CPU that does
 * not exist is refused.
 */
static void test_fork__lru_add_drain_cpu_from_outside(void **s)
{
	(void)s;
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_DRAIN_CPU0), 0);
	assert_int_equal(lru_batch_copies(40, 1, false, LRU_DRAIN_CPU0), 0);
	assert_int_equal(lru_batch_copies(10, 1, false, LRU_DRAIN_CPU1), 10);

	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 8 * 4096, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * 4096, 0, true));
	assert_int_equal(ptsim_frames_in_lru_batches(m), 8);
	assert_int_equal(ptsim_lru_add_drain_cpu(m, 2), -ERANGE);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "cpu 2 does not exist"));
	assert_int_equal(ptsim_frames_in_lru_batches(m), 8);
	T_OK(m, ptsim_exit(m, 1));
	T_OK(m, ptsim_lru_add_drain_cpu(m, 1));
	assert_int_equal(ptsim_frames_in_lru_batches(m), 8);   /* held by CPU 0's batch after the exit */
	T_OK(m, ptsim_lru_add_drain_cpu(m, 0));
	assert_int_equal(ptsim_frames_in_lru_batches(m), 0);
	assert_int_equal(t_stat(m, "pages.freed"), 8);
	t_destroy(m);
}

/*
 * The last munmap of a shared anonymous region (shmem) or of a shared hugetlb
 * mapping truncates its file, and the truncation's folio_batch_release()
 * drains this CPU's batch, if the file had pages; without pages nothing
 * drains.  Measured on 6.18.44 (pagemap:mm_lru_insertion with stack traces, a
 * program on CPU 0 with 5 new pages in its batch): munmap of a 2-page
 * MAP_SHARED|MAP_ANONYMOUS region with pages moved them (shmem_undo_range()),
 * without pages it did not; a 2 MiB shared hugetlb mapping with its page
 * (remove_inode_hugepages()) moved them, a private one did not.
 */
static void test_fork__lru_batch_drained_by_shared_file_truncation(void **s)
{
	(void)s;
	static const struct {
		enum ptsim_map_kind kind;
		bool shared, touched;
		uint64_t left;
	} c[] = {
		{ PTSIM_MAP_SHMEM, true, true, 0 },
		{ PTSIM_MAP_SHMEM, true, false, 5 },
		{ PTSIM_MAP_HUGETLB, true, true, 0 },
		{ PTSIM_MAP_HUGETLB, false, true, 5 },
	};
	const uint64_t pg = 4096, scratch = BASE + 64 * MB, region = BASE + 1024 * MB;

	for (unsigned int i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct ptsim_machine *m = t_machine(2, NULL, NULL);
		const uint64_t len = c[i].kind == PTSIM_MAP_HUGETLB ? 2 * MB : 2 * pg;

		T_OK(m, ptsim_spawn(m, 1, 0));
		map(m, 1, scratch, pg, PTSIM_MAP_ANON, false, NULL);
		map(m, 1, region, len, c[i].kind, c[i].shared, NULL);
		map(m, 1, BASE, 5 * pg, PTSIM_MAP_ANON, false, NULL);
		if (c[i].touched)
			T_OK(m, ptsim_touch(m, 1, region, len, 0, true));
		T_OK(m, ptsim_mlock(m, 1, scratch, pg));   /* an empty batch to begin with */
		T_OK(m, ptsim_munlock(m, 1, scratch, pg));
		T_OK(m, ptsim_touch(m, 1, BASE, 5 * pg, 0, true));
		assert_int_equal(ptsim_frames_in_lru_batches(m), 5);
		T_OK(m, ptsim_munmap(m, 1, region, len));
		assert_int_equal(ptsim_frames_in_lru_batches(m), c[i].left);
		T_OK(m, ptsim_exit(m, 1));
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
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
		cmocka_unit_test(test_fork__lru_batch_remote_write_copies),
		cmocka_unit_test(test_fork__lru_batch_local_write_reuses),
		cmocka_unit_test(test_fork__lru_batch_drain_points),
		cmocka_unit_test(test_fork__lru_add_drain_cpu_from_outside),
		cmocka_unit_test(test_fork__lru_batch_drained_by_shared_file_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
