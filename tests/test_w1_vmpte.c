/*
 * W1 of reference/oracle.md as VmPTE figures (issue 2): the simulated VmPTE of
 * the region equals the real page tables.  PT reclaim's own figures are in
 * test_pt_reclaim.c; here reclaim is off or the advice keeps the tables.
 */
#include <string.h>

#include "support/helpers.h"

static void check_region(struct ptsim_machine *m, const char *mark, uint64_t vmpte_kb, uint64_t pte, uint64_t pmd,
			 uint64_t pud)
{
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_mark_mm_info(m, mark, 1, &mi));
	assert_int_equal(mi.vmpte_kb, vmpte_kb);
	assert_int_equal(mi.pgtables[0], pte);
	assert_int_equal(mi.pgtables[1], pmd);
	assert_int_equal(mi.pgtables[2], pud);
}

/* Case a, 50 GiB, MADV_DONTNEED per 2 MiB with reclaim off: 25600 PTE + 50 PMD + 1 PUD tables. */
static void test_w1__case_a_reclaim_off(void **state)
{
	(void)state;
	static const char *const set[] = { "pt_reclaim=off", NULL };
	struct ptsim_machine *m = t_run_trace("oracle/w1_a.json", set);

	check_region(m, "first_chunk", 12, 1, 1, 1);
	check_region(m, "after", 102604, 25600, 50, 1);
	check_region(m, "unmapped", 0, 0, 0, 0);
	/* The high-water mark stays after the munmap. */
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mark_mm_info(m, "unmapped", 1, &mi));
	assert_int_equal(mi.vmpte_peak_kb, 102604);
	/* The same figures as a CSV timeline: one row per mark, then "end". */
	char *csv = ptsim_report_timeline_csv(m);
	assert_non_null(csv);
	assert_non_null(strstr(csv, "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb,faults.total,"));
	assert_non_null(strstr(csv, "\nfirst_chunk,1,,4,0,12,2048,512,"));
	assert_non_null(strstr(csv, "\nafter,2,,51204,0,102604,0,13107200,"));
	assert_non_null(strstr(csv, "\nunmapped,3,,51206,0,0,0,13107200,"));
	assert_non_null(strstr(csv, "\nend,,,51208,0,0,0,13107200,"));
	ptsim_free(csv);
	assert_int_equal(t_mark_stat(m, "after", "faults.total"), 25600 * 512);
	/* Each chunk's madvise does one local full flush (512 pages > 33); no IPI. */
	assert_int_equal(t_delta(m, "mapped", "after", "tlb.nr_tlb_local_flush_all"), 25600);
	assert_int_equal(t_mark_stat(m, "after", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	/*
	 * After exit only the PGD is left: the region was already unmapped, so the
	 * exit flush had nothing to flush and CPU0 still holds the dead mm lazily
	 * (its idle task borrows it), as the kernel does until CPU0 runs a task.
	 */
	/* And the last 13107200 mod 31 pages faulted, which CPU 0's LRU add batch holds. */
	assert_int_equal(ptsim_frames_in_lru_batches(m), 28);
	assert_int_equal(ptsim_frames_in_use(m), 1 + 28);
	T_OK(m, ptsim_spawn(m, 2, 0));   /* switch_mm away: __mmdrop(), check_mm() */
	assert_int_equal(ptsim_frames_in_use(m), 1 + 28);   /* the new process's PGD */
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* Case b: 4 GiB, MADV_FREE keeps every table (and every page). */
static void test_w1__case_b_madv_free(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_run_trace("oracle/w1_b.json", NULL);

	check_region(m, "after", 8212, 2048, 4, 1);
	check_region(m, "unmapped", 0, 0, 0, 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* Case c: 4 GiB at +1 MiB: no 2 MiB chunk covers a whole table: all 2049 stay. */
static void test_w1__case_c_misaligned(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_run_trace("oracle/w1_c.json", NULL);

	check_region(m, "after", 8220, 2049, 5, 1);
	/* As measured here: 2048 local full flushes, no IPI. */
	assert_int_equal(t_delta(m, "mapped", "after", "tlb.nr_tlb_local_flush_all"), 2048);
	check_region(m, "unmapped", 0, 0, 0, 0);
	t_destroy(m);
}

/* Case d: 256 MiB populated, one page dropped per table: 128 of 128 stay. */
static void test_w1__case_d_one_page(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_run_trace("oracle/w1_d.json", NULL);

	check_region(m, "populated", 520, 128, 1, 1);
	check_region(m, "after", 520, 128, 1, 1);
	/* One page per madvise: a ranged local flush each (the real kernel: 128 partial). */
	assert_int_equal(t_delta(m, "populated", "after", "tlb.local.partial"), 128);
	assert_int_equal(t_delta(m, "populated", "after", "tlb.nr_tlb_local_flush_one"), 128);
	check_region(m, "unmapped", 0, 0, 0, 0);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_w1__case_a_reclaim_off),
		cmocka_unit_test(test_w1__case_b_madv_free),
		cmocka_unit_test(test_w1__case_c_misaligned),
		cmocka_unit_test(test_w1__case_d_one_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
