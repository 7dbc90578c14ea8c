/*
 * madvise(MADV_COLD) and madvise(MADV_PAGEOUT) against the counts the real
 * kernel (6.18.44, x86-64, 2 CPUs, no swap) gave for the same steps, measured
 * with tracefs (tlb:tlb_flush by reason, ipi:ipi_send_cpu*) around each call
 * (docs/kernel-map.md, "MADV_COLD / MADV_PAGEOUT"):
 *   - COLD of 16 young anonymous pages: one ranged local flush of 16 pages;
 *     again: nothing (the young bits are clear); 64 pages: one full flush;
 *     with a thread of the mm running on CPU 1: one IPI, a 16-page flush there;
 *   - PAGEOUT of anonymous pages without swap: no flush, RSS unchanged;
 *   - PAGEOUT of 16 clean file pages, the mm on one CPU: 16 single-page local
 *     flushes, RssFile -64 kB, the pages leave the page cache (touching them
 *     again reads them: 16 faults);
 *   - the same with a thread running on CPU 1: the flush is deferred, one
 *     batched full flush (IPI; the remote CPU stays in the mm's mask), and the
 *     next walk of a PTE table of the mm (the second PAGEOUT) flushes the whole
 *     mm first (flush_tlb_batched_pending());
 *   - 600 file pages from a 2 MiB boundary, thread on CPU 1: 21 flush IPIs
 *     (17 + 3 batched flushes, one every 31 freed folios and one at the end
 *     of each PTE table, + 1 flush_tlb_mm() at the second table), then 1 at
 *     the second PAGEOUT;
 *   - MADV_FREE'd anonymous pages are discarded by PAGEOUT (one single-page
 *     flush each on one CPU), except one written since.
 */
#include <errno.h>
#include <string.h>

#include "support/helpers.h"

#define BASE 0x7f0000000000ull   /* 2 MiB-aligned */
#define PG 4096ull

static struct ptsim_machine *x86_machine(void)
{
	return t_machine(2, "6.18.44", NULL);
}

static void map(struct ptsim_machine *m, uint64_t addr, uint64_t len, enum ptsim_map_kind kind, bool shared)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = kind, .shared = shared, .file = kind == PTSIM_MAP_FILE ? "data" : NULL,
				     .fixed = PTSIM_MAP_FIXED_DEFAULT };
	T_OK(m, ptsim_mmap(m, 1, &a));
}

/*
 * Task 1 on cpu 0 maps @pages at BASE and touches them (@write: written); with
 * @thread, its thread 2 runs on cpu 1 and touches the first page (cpu 1 in the
 * mm's mask, running the mm).
 */
static struct ptsim_machine *setup(enum ptsim_map_kind kind, uint64_t pages, bool write, bool thread)
{
	struct ptsim_machine *m = x86_machine();

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, BASE, pages * PG, kind, false);
	T_OK(m, ptsim_touch(m, 1, BASE, pages * PG, 0, write));
	if (thread) {
		T_OK(m, ptsim_thread(m, 1, 2, 1));
		T_OK(m, ptsim_touch(m, 2, BASE, 1, 0, false));
	}
	return m;
}

/* The flush counters that the kernel's tlb:tlb_flush reasons and IPIs give. */
struct flushes {
	uint64_t ipis, local_full, local_partial, remote_full, remote_partial, remote_noop, wrong_cpu;
};

static struct flushes flushes_now(struct ptsim_machine *m)
{
	struct flushes f = {
		t_stat(m, "ipi.calls.tlb_flush"), t_stat(m, "tlb.local.full"),  t_stat(m, "tlb.local.partial"),
		t_stat(m, "tlb.remote.full"),     t_stat(m, "tlb.remote.partial"), t_stat(m, "tlb.remote.noop"),
		t_stat(m, "tlb.remote.wrong_cpu"),
	};
	return f;
}

/* Assert the counts since @before, and print them all if one differs. */
static void expect_flushes(struct ptsim_machine *m, const struct flushes *before, const char *what,
			   struct flushes want)
{
	struct flushes now = flushes_now(m), d = {
		now.ipis - before->ipis,
		now.local_full - before->local_full,
		now.local_partial - before->local_partial,
		now.remote_full - before->remote_full,
		now.remote_partial - before->remote_partial,
		now.remote_noop - before->remote_noop,
		now.wrong_cpu - before->wrong_cpu,
	};
	if (memcmp(&d, &want, sizeof(d)))
		fail_msg("%s: ipis %lu local full/partial %lu/%lu remote full/partial/noop %lu/%lu/%lu wrong cpu %lu; "
			 "want %lu %lu/%lu %lu/%lu/%lu %lu",
			 what, (unsigned long)d.ipis, (unsigned long)d.local_full, (unsigned long)d.local_partial,
			 (unsigned long)d.remote_full, (unsigned long)d.remote_partial, (unsigned long)d.remote_noop,
			 (unsigned long)d.wrong_cpu, (unsigned long)want.ipis, (unsigned long)want.local_full,
			 (unsigned long)want.local_partial, (unsigned long)want.remote_full,
			 (unsigned long)want.remote_partial, (unsigned long)want.remote_noop,
			 (unsigned long)want.wrong_cpu);
}

#define EXPECT(m, before, what, ...) expect_flushes((m), (before), (what), (struct flushes){ __VA_ARGS__ })

static void test_madvise__cold_clears_young_bits_in_one_ranged_flush(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_ANON, 16, true, false);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	EXPECT(m, &f, "cold of 16 young pages", .local_partial = 1);
	f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	EXPECT(m, &f, "cold again", 0);
	/* A read walks the table again and sets the accessed bits: cold has work again. */
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, false));
	f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 4 * PG, PTSIM_MADV_COLD));
	EXPECT(m, &f, "cold after a read", .local_partial = 1);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 64);
	t_destroy(m);
}

static void test_madvise__cold_of_64_pages_flushes_all(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_ANON, 64, true, false);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 64 * PG, PTSIM_MADV_COLD));
	EXPECT(m, &f, "cold of 64 pages", .local_full = 1);
	t_destroy(m);
}

static void test_madvise__cold_reaches_a_thread_on_the_other_cpu(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_FILE, 16, false, true);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	EXPECT(m, &f, "cold, thread on cpu 1", .ipis = 1, .local_partial = 1, .remote_partial = 1);
	t_destroy(m);
}

/* No swap device: anonymous folios stay where they are, nothing is flushed. */
static void test_madvise__pageout_keeps_anon_pages_without_swap(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_ANON, 16, true, true);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout of anon pages", 0);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 64);
	assert_int_equal(t_mm_info(m, 1).swap_kb, 0);
	t_destroy(m);
}

static void test_madvise__pageout_drops_file_pages_one_flush_each(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_FILE, 16, false, false);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 64);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout of 16 file pages, one cpu", .local_partial = 16);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 0);
	f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout again", 0);
	/* Out of the page cache: each page is read again (no neighbours to map around it). */
	uint64_t faults = t_stat(m, "faults.file");
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, false));
	assert_int_equal(t_stat(m, "faults.file") - faults, 16);
	t_destroy(m);
}

static void test_madvise__pageout_defers_the_flush_with_a_second_cpu(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_FILE, 16, false, true);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout, thread on cpu 1", .ipis = 1, .local_full = 1, .remote_full = 1);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 0);
	f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "flush_tlb_batched_pending() at the next walk", .ipis = 1, .local_full = 1, .remote_full = 1);
	f = flushes_now(m);
	T_OK(m, ptsim_munmap(m, 1, BASE, 16 * PG));
	/* No PTE left, but the freed PTE table is flushed (the thread keeps cpu 1 in the mask). */
	EXPECT(m, &f, "munmap", .ipis = 1, .local_partial = 1, .remote_partial = 1);
	t_destroy(m);
}

static void test_madvise__pageout_600_file_pages_batches_of_31(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_FILE, 600, false, true);
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 600 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout of 600 file pages", .ipis = 21, .local_full = 21, .remote_full = 21);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 0);
	f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 600 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout again", .ipis = 1, .local_full = 1, .remote_full = 1);
	t_destroy(m);
}

static void test_madvise__pageout_discards_lazyfree_pages(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_ANON, 16, true, false);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_FREE));
	T_OK(m, ptsim_touch(m, 1, BASE, 1, 0, true));   /* written again: swap-backed again */
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	/* 16 unmapped (one flush each), the rewritten one put back. */
	EXPECT(m, &f, "pageout of MADV_FREE'd pages", .local_partial = 16);
	assert_int_equal(t_stat(m, "reclaim.lazyfree_discarded"), 15);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 4);
	f = flushes_now(m);
	T_OK(m, ptsim_mprotect(m, 1, BASE, PG, PTSIM_PROT_READ));
	EXPECT(m, &f, "mprotect of the page that stayed", .local_partial = 1);
	t_destroy(m);
}

/*
 * MADV_FREE + MADV_PAGEOUT from the other CPU: pageout drains its own CPU's
 * LRU add batch only, and cannot isolate the folios still in cpu 0's, so they
 * stay (swap.c).  Measured on 6.18.44 (pinned to CPU 0, write N pages, move
 * to CPU 1, MADV_FREE and MADV_PAGEOUT; RssAnon before and after): 16 pages,
 * none freed; 40 pages, 31 freed (the first 31 left the batch when it
 * filled); from CPU 0 itself, 16 of 16.
 */
static void test_madvise__pageout_skips_folios_in_another_cpus_lru_batch(void **s)
{
	(void)s;
	static const uint64_t pages[] = { 16, 40, 16 };
	static const unsigned int cpu[] = { 1, 1, 0 };
	static const uint64_t want_freed[] = { 0, 31, 16 };

	for (unsigned int i = 0; i < 3; i++) {
		struct ptsim_machine *m = setup(PTSIM_MAP_ANON, pages[i], true, false);
		if (cpu[i] != 0) {
			T_OK(m, ptsim_sleep(m, 1));
			T_OK(m, ptsim_run(m, 1, cpu[i]));
		}
		T_OK(m, ptsim_madvise(m, 1, BASE, pages[i] * PG, PTSIM_MADV_FREE));
		T_OK(m, ptsim_madvise(m, 1, BASE, pages[i] * PG, PTSIM_MADV_PAGEOUT));
		assert_int_equal(t_stat(m, "reclaim.lazyfree_discarded"), want_freed[i]);
		assert_int_equal(t_mm_info(m, 1).rss_anon_kb, (pages[i] - want_freed[i]) * 4);
		t_destroy(m);
	}
}

/*
 * The isolation failure alone, with shmem (MADV_FREE plays no part): 16
 * shared anonymous pages read on cpu 0 wait in its LRU add batch; MADV_PAGEOUT
 * from cpu 1 cannot isolate them, so the clean pages stay cached and mapped;
 * from cpu 0 (its batch drained first) they all go.  Measured on 6.18.44
 * (pinned to CPU 0, MAP_SHARED|MAP_ANONYMOUS, read each page, move, PAGEOUT;
 * RssShmem and mincore() after, 3 runs each): from CPU 1, 64 -> 64 kB and 16
 * resident; from CPU 0, 64 -> 0 kB, none; 40 pages from CPU 1: 160 -> 36 kB,
 * 9 resident (the first 31 left the batch when it filled).
 */
static void test_madvise__pageout_skips_shmem_in_another_cpus_lru_batch(void **s)
{
	(void)s;
	static const uint64_t pages[] = { 16, 16, 40 };
	static const unsigned int cpu[] = { 1, 0, 1 };
	static const uint64_t want_kept[] = { 16, 0, 9 };

	for (unsigned int i = 0; i < 3; i++) {
		struct ptsim_machine *m = x86_machine();

		T_OK(m, ptsim_spawn(m, 1, 0));
		map(m, BASE, pages[i] * PG, PTSIM_MAP_SHMEM, true);
		T_OK(m, ptsim_touch(m, 1, BASE, pages[i] * PG, 0, false));
		assert_int_equal(ptsim_frames_in_lru_batches(m), pages[i] % 31);
		if (cpu[i] != 0) {
			T_OK(m, ptsim_sleep(m, 1));
			T_OK(m, ptsim_run(m, 1, cpu[i]));
		}
		T_OK(m, ptsim_madvise(m, 1, BASE, pages[i] * PG, PTSIM_MADV_PAGEOUT));
		assert_int_equal(t_mm_info(m, 1).rss_shmem_kb, want_kept[i] * 4);
		t_destroy(m);
	}
}

/*
 * MADV_FREE marks only folios on the LRU: one still in another CPU's LRU add
 * batch stays swap-backed (folio_mark_lazyfree(), swap.c), so a later
 * MADV_PAGEOUT, once that batch has moved, keeps it (no swap here, nor on the
 * machine measured).  Measured on 6.18.44 (16 pages written pinned to CPU 0,
 * MADV_FREE from CPU 1, then mlock+munlock of a scratch page on CPU 0 to
 * drain its batch, MADV_PAGEOUT from CPU 1; RssAnon before and after, 3 runs
 * each): 0 kB freed; with CPU 0's batch drained before MADV_FREE instead:
 * 64 kB (all 16).
 */
static void test_madvise__free_skips_folios_in_another_cpus_lru_batch(void **s)
{
	(void)s;
	for (unsigned int drained_first = 0; drained_first < 2; drained_first++) {
		struct ptsim_machine *m = setup(PTSIM_MAP_ANON, 16, true, false);
		const uint64_t scratch = BASE + (1ull << 30);

		T_OK(m, ptsim_sleep(m, 1));
		T_OK(m, ptsim_spawn(m, 2, 0));   /* drains cpu 0 with mlock+munlock */
		struct ptsim_mmap_args a = { .addr = scratch, .len = PG, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
					     .kind = PTSIM_MAP_ANON, .fixed = PTSIM_MAP_FIXED_DEFAULT };
		T_OK(m, ptsim_mmap(m, 2, &a));
		assert_int_equal(ptsim_frames_in_lru_batches(m), 16);
		if (drained_first) {
			T_OK(m, ptsim_mlock(m, 2, scratch, PG));
			T_OK(m, ptsim_munlock(m, 2, scratch, PG));
			assert_int_equal(ptsim_frames_in_lru_batches(m), 0);
		}
		T_OK(m, ptsim_run(m, 1, 1));
		T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_FREE));
		T_OK(m, ptsim_mlock(m, 2, scratch, PG));
		T_OK(m, ptsim_munlock(m, 2, scratch, PG));
		assert_int_equal(ptsim_frames_in_lru_batches(m), 0);
		T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
		assert_int_equal(t_stat(m, "reclaim.lazyfree_discarded"), drained_first ? 16 : 0);
		assert_int_equal(t_mm_info(m, 1).rss_anon_kb, drained_first ? 0 : 64);
		t_destroy(m);
	}
}

/*
 * shmem: unmapped; written pages kept (no swap), pages never written dropped.
 * Measured with cpu 1 in the mask: 16 written pages, 16 flush IPIs
 * (pageout() flushes before each dirty folio's write); 16 read-only pages,
 * one (+ one flush_tlb_batched_pending() at the next walk).  (There cpu 1
 * ran another process: its flushes did nothing; here the thread runs the
 * mm, and each flush is a full one there.)  What stays cached (mincore()
 * after the PAGEOUT, faults to read the 16 pages again): the written pages
 * all, 1 fault (fault-around maps the other 15); the read-only pages none,
 * 16 faults: a clean shmem folio leaves the page cache like a clean file
 * folio (it holds only zeros).
 */
static void test_madvise__pageout_shmem_dirty_flushes_each(void **s)
{
	(void)s;
	struct ptsim_machine *m = x86_machine();
	struct ptsim_mmap_args a = { .addr = BASE, .len = 16 * PG, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = PTSIM_MAP_SHMEM, .shared = true, .file = "shm" };
	struct ptsim_mmap_args b = a;

	b.addr = BASE + (1ull << 30);
	b.prot = PTSIM_PROT_READ;
	b.file = "shm2";
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, true));
	T_OK(m, ptsim_touch(m, 1, b.addr, 16 * PG, 0, false));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_touch(m, 2, BASE, 1, 0, false));
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	EXPECT(m, &f, "pageout of 16 written shmem pages", .ipis = 16, .local_full = 16, .remote_full = 16);
	f = flushes_now(m);
	uint64_t freed = t_stat(m, "pages.freed");
	T_OK(m, ptsim_madvise(m, 1, b.addr, 16 * PG, PTSIM_MADV_PAGEOUT));
	/* flush_tlb_batched_pending() of the first walk, then one batched flush. */
	EXPECT(m, &f, "pageout of 16 read shmem pages", .ipis = 2, .local_full = 2, .remote_full = 2);
	assert_int_equal(t_stat(m, "pages.freed") - freed, 16);
	assert_int_equal(t_mm_info(m, 1).rss_shmem_kb, 0);
	/* The written pages are still cached: touching them again maps them (fault-around maps the neighbours). */
	uint64_t faults = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, false));
	assert_int_equal(t_stat(m, "faults.total") - faults, 1);
	assert_int_equal(t_mm_info(m, 1).rss_shmem_kb, 64);
	/* The read-only ones are gone: one fault (a new page) each. */
	faults = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, b.addr, 16 * PG, 0, false));
	assert_int_equal(t_stat(m, "faults.total") - faults, 16);
	assert_int_equal(t_mm_info(m, 1).rss_shmem_kb, 128);
	t_destroy(m);
}

/*
 * fork() copies mm->tlb_flush_batched (dup_mm() copies the whole mm_struct):
 * a flush reclaim deferred in the parent and not yet caught up by
 * flush_tlb_batched_pending() is pending in the child too.  Measured (the
 * thread spinning on cpu 1 until the end; an mprotect(PROT_READ) of 4 pages
 * already write-protected by fork, which changes no PTE): after a PAGEOUT,
 * the child's first mprotect flushes its whole mm (a local full flush), its
 * second nothing; the parent's first then flushes its mm (full, and an IPI
 * to the thread's cpu).  Without the PAGEOUT: no flush at all.
 */
static void test_madvise__fork_inherits_the_pending_batched_flush(void **s)
{
	(void)s;
	for (int pageout = 1; pageout >= 0; pageout--) {
		struct ptsim_machine *m = setup(PTSIM_MAP_FILE, 16, false, true);
		const uint64_t r = BASE + (1ull << 30);
		map(m, r, 4 * PG, PTSIM_MAP_ANON, false);
		T_OK(m, ptsim_touch(m, 1, r, 4 * PG, 0, true));
		if (pageout)
			T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
		T_OK(m, ptsim_fork(m, 1, 3, PTSIM_CPU_NONE));
		T_OK(m, ptsim_run(m, 3, 0));   /* the parent waits: the child on cpu 0 */
		struct flushes f = flushes_now(m);
		T_OK(m, ptsim_mprotect(m, 3, r, 4 * PG, PTSIM_PROT_READ));
		if (pageout)
			EXPECT(m, &f, "the child's first mprotect", .local_full = 1);
		else
			EXPECT(m, &f, "the child's first mprotect, no pageout", 0);
		f = flushes_now(m);
		T_OK(m, ptsim_mprotect(m, 3, r, 4 * PG, PTSIM_PROT_READ | PTSIM_PROT_WRITE));
		EXPECT(m, &f, "the child's second mprotect", 0);
		T_OK(m, ptsim_exit(m, 3));
		T_OK(m, ptsim_run(m, 1, 0));
		f = flushes_now(m);
		T_OK(m, ptsim_mprotect(m, 1, r + PG, PG, PTSIM_PROT_READ));
		if (pageout)
			EXPECT(m, &f, "the parent's mprotect", .ipis = 1, .local_full = 1, .remote_full = 1);
		else
			EXPECT(m, &f, "the parent's mprotect, no pageout", 0);
		t_destroy(m);
	}
}

/* Folios mapped by another mm (after fork) are left alone; VMAs that refuse; holes. */
static void test_madvise__skips_shared_refuses_locked(void **s)
{
	(void)s;
	struct ptsim_machine *m = setup(PTSIM_MAP_ANON, 16, true, false);
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_run(m, 1, 0));
	struct flushes f = flushes_now(m);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	EXPECT(m, &f, "cold of pages shared with the child", 0);
	T_OK(m, ptsim_mlock(m, 1, BASE, 4 * PG));
	assert_int_equal(ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT), -EINVAL);
	assert_int_equal(ptsim_madvise(m, 1, BASE + 4 * PG, 16 * PG, PTSIM_MADV_COLD), -ENOMEM);
	assert_int_equal(ptsim_madvise(m, 1, BASE, PG, (enum ptsim_advice)7), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "advice"));
	t_destroy(m);
}

/* arm64: the TLBIs go out at once per page (no DSB), one DSB completes the batch. */
static void test_madvise__pageout_arm64_tlbi_per_page_one_dsb(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine_cfg(PTSIM_ARCH_ARM64, 0, 0, 2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, BASE, 16 * PG, PTSIM_MAP_FILE, false);
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, false));
	uint64_t vale1 = t_stat(m, "tlbi.vale1is"), dsb = t_stat(m, "tlbi.dsb_ish"), asid = t_stat(m, "tlbi.aside1is");
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_PAGEOUT));
	assert_int_equal(t_stat(m, "tlbi.vale1is") - vale1, 16);
	assert_int_equal(t_stat(m, "tlbi.dsb_ish") - dsb, 1);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 0);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	assert_int_equal(t_stat(m, "tlbi.aside1is") - asid, 1);   /* flush_tlb_batched_pending() */
	t_destroy(m);
}

/*
 * Fault-around: the kernel maps the neighbours of the faulting page old on
 * arm64 (hardware access flag) and young on x86, so MADV_COLD right after one
 * read fault over a cached 64 KiB window flushes 1 page on arm64, 16 on x86.
 */
static void test_madvise__cold_after_fault_around_arm64_one_page(void **s)
{
	(void)s;
	struct ptsim_machine *arm = t_machine_cfg(PTSIM_ARCH_ARM64, 0, 0, 2, NULL, NULL);
	struct ptsim_machine *x86 = x86_machine();
	struct ptsim_machine *ms[2] = { arm, x86 };

	for (int i = 0; i < 2; i++) {
		struct ptsim_machine *m = ms[i];
		T_OK(m, ptsim_spawn(m, 1, 0));
		T_OK(m, ptsim_file_cache(m, "data", PTSIM_MAP_FILE, 0, 16 * PG));
		map(m, BASE, 16 * PG, PTSIM_MAP_FILE, false);
		T_OK(m, ptsim_touch(m, 1, BASE + 5 * PG, 1, 0, false));
		assert_int_equal(t_mm_info(m, 1).rss_file_kb, 64);
	}
	uint64_t tlbi = t_stat(arm, "tlbi.vale1is") + t_stat(arm, "tlbi.vae1is");
	T_OK(arm, ptsim_madvise(arm, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	assert_int_equal(t_stat(arm, "tlbi.vale1is") + t_stat(arm, "tlbi.vae1is") - tlbi, 1);
	uint64_t one = t_stat(x86, "tlb.nr_tlb_local_flush_one");
	T_OK(x86, ptsim_madvise(x86, 1, BASE, 16 * PG, PTSIM_MADV_COLD));
	assert_int_equal(t_stat(x86, "tlb.nr_tlb_local_flush_one") - one, 16);
	t_destroy(arm);
	t_destroy(x86);
}

/* The trace names: "cold" and "pageout"; an unknown one names the field. */
static void test_madvise__trace_advice_names(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char err[512];
	const char *ok = "{\"ptsim_trace\":1,\"machine\":{\"arch\":\"x86_64\",\"cpus\":2,\"preset\":\"6.18.44\"},\"events\":["
			 "{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
			 "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"prot\":\"rw\",\"kind\":\"file\",\"file\":\"f\"},"
			 "{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\"},"
			 "{\"op\":\"madvise\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"advice\":\"cold\"},"
			 "{\"op\":\"madvise\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"advice\":\"pageout\"}]}";

	assert_int_equal(t_run_json(ok, &m, err, sizeof(err)), 0);
	assert_int_equal(t_mm_info(m, 1).rss_file_kb, 0);
	assert_int_equal(t_stat(m, "tlb.local.partial"), 17);
	t_destroy(m);
	const char *bad = "{\"ptsim_trace\":1,\"machine\":{\"arch\":\"x86_64\",\"cpus\":2},\"events\":["
			  "{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
			  "{\"op\":\"madvise\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"advice\":\"colder\"}]}";
	m = NULL;
	assert_int_not_equal(t_run_json(bad, &m, err, sizeof(err)), 0);
	if (!strstr(err, "field 'advice'"))
		fail_msg("error does not name the field: %s", err);
	ptsim_machine_destroy(m);
}

/*
 * An mshare mapping's pages are the region's host mm's: pageout through an
 * attached process is refused as not modelled (ptsim's reclaim has no rmap
 * walk to the host's VMA; it once charged the process's RssShmem, -16 pages,
 * a false check_mm violation at exit).  cold still runs.
 */
static void test_madvise__pageout_of_mshare_mapping_refused(void **s)
{
	(void)s;
	struct ptsim_machine *m = x86_machine();
	const uint64_t region = 0x8000000000ull;

	T_OK(m, ptsim_mshare_create(m, PTSIM_NO_TASK, "r", region, 512ull << 30));
	T_OK(m, ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
				 &(struct ptsim_mmap_args){ .addr = region, .len = 64 * PG, .prot = 3, .shared = true }));
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1,
			   &(struct ptsim_mmap_args){ .addr = region, .len = 512ull << 30, .prot = 3,
						      .kind = PTSIM_MAP_MSHARE, .file = "r", .shared = true }));
	T_OK(m, ptsim_touch(m, 1, region, 16 * PG, 0, true));
	int rc = ptsim_madvise(m, 1, region, 16 * PG, PTSIM_MADV_PAGEOUT);
	if (rc != PTSIM_EBADEVENT || !strstr(ptsim_machine_errmsg(m), "field 'advice'"))
		fail_msg("pageout of an mshare mapping: %d (%s), want EBADEVENT naming 'advice'", rc,
			 ptsim_machine_errmsg(m));
	T_OK(m, ptsim_madvise(m, 1, region, 16 * PG, PTSIM_MADV_COLD));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_madvise__cold_clears_young_bits_in_one_ranged_flush),
		cmocka_unit_test(test_madvise__cold_of_64_pages_flushes_all),
		cmocka_unit_test(test_madvise__cold_reaches_a_thread_on_the_other_cpu),
		cmocka_unit_test(test_madvise__pageout_keeps_anon_pages_without_swap),
		cmocka_unit_test(test_madvise__pageout_drops_file_pages_one_flush_each),
		cmocka_unit_test(test_madvise__pageout_defers_the_flush_with_a_second_cpu),
		cmocka_unit_test(test_madvise__pageout_600_file_pages_batches_of_31),
		cmocka_unit_test(test_madvise__pageout_discards_lazyfree_pages),
		cmocka_unit_test(test_madvise__pageout_skips_folios_in_another_cpus_lru_batch),
		cmocka_unit_test(test_madvise__free_skips_folios_in_another_cpus_lru_batch),
		cmocka_unit_test(test_madvise__pageout_skips_shmem_in_another_cpus_lru_batch),
		cmocka_unit_test(test_madvise__pageout_shmem_dirty_flushes_each),
		cmocka_unit_test(test_madvise__fork_inherits_the_pending_batched_flush),
		cmocka_unit_test(test_madvise__skips_shared_refuses_locked),
		cmocka_unit_test(test_madvise__pageout_arm64_tlbi_per_page_one_dsb),
		cmocka_unit_test(test_madvise__cold_after_fault_around_arm64_one_page),
		cmocka_unit_test(test_madvise__trace_advice_names),
		cmocka_unit_test(test_madvise__pageout_of_mshare_mapping_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
