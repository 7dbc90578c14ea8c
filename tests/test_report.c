/*
 * Reports: exact integers and typed configuration in the JSON report, names
 * that cannot break the JSON or the CSV timeline, marks by index, per-exit
 * figures, per-event results and the per-architecture summary table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/helpers.h"
#include "ptsim/debug.h"

#define MB (1024ull * 1024)
#define GB (1024ull * MB)
#define HBASE 0x4000000000ull

/* @needle occurs in @hay (printing both on failure). */
static void assert_has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not found in:\n%.3000s", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("'%s' unexpectedly found in:\n%.3000s", needle, hay);
}

/* ------------------------------------------------------------------------ */
/* exact numbers                                                             */
/* ------------------------------------------------------------------------ */

/*
 * A figure beyond 2^53 (where a double stops holding every integer) keeps
 * every digit: 2^53 + 1 pages of RssAnon are 2^55 + 4 kB, which the nearest
 * double would turn into 2^55 (36028797018963968).
 */
static void test_report__u64_beyond_2p53_exact(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(1, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_debug_rss_add(m, 1, PTSIM_RSS_ANON, (long)((1ull << 53) + 1)));
	T_OK(m, ptsim_mark(m, "big"));
	char *json = ptsim_report_json(m);
	assert_non_null(json);
	assert_has(json, "\"anon\":36028797018963972,");
	assert_lacks(json, "e+");
	/* Below the limit, numbers stay ordinary numbers: the file, swap and shmem zeros. */
	assert_has(json, "\"rss_kb\":{\"file\":0,\"anon\":36028797018963972,\"swap\":0,\"shmem\":0}");
	ptsim_free(json);
	char *text = ptsim_report_text(m);
	assert_has(text, "36028797018963972");
	ptsim_free(text);
	/* Undo the corruption so that teardown's check_mm() stays quiet. */
	T_OK(m, ptsim_debug_rss_add(m, 1, PTSIM_RSS_ANON, -(long)((1ull << 53) + 1)));
	t_destroy(m);
}

/*
 * HugetlbPages below zero, as the real kernel shows it: hugetlb_usage is
 * charged to the mm that faults a page in, but a shared PMD table lets
 * another mm zap pages it never faulted.  Measured on 6.18.44 (bench/real/
 * hugetlb_usage_negative.c): A faults 2 huge pages, its child B faults a
 * third through A's shared table, A unmaps (unshares: A keeps 4096 kB), B
 * unmaps all three: B's /proc/PID/status says "HugetlbPages:
 * 18446744073709547520 kB" (-4096 kB printed with %lu).  The JSON report
 * carries the same exact integer, not 1.8446744073709548e+19.
 */
static void test_report__hugetlb_usage_below_zero_exact(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { 0 };

	a.addr = HBASE;
	a.len = GB;
	a.prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE;
	a.kind = PTSIM_MAP_HUGETLB;
	a.shared = true;
	a.file = "memfd:h";
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, HBASE, 4 * MB, 2 * MB, true));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_touch(m, 2, HBASE + 4 * MB, 1, 0, true));
	assert_int_equal(t_stat(m, "hugetlb.pmd_share"), 1);
	assert_int_equal(t_mm_info(m, 2).hugetlb_kb, 2048);
	T_OK(m, ptsim_munmap(m, 1, HBASE, GB));
	assert_int_equal(t_mm_info(m, 1).hugetlb_kb, 4096);
	T_OK(m, ptsim_munmap(m, 2, HBASE, GB));
	assert_true(t_mm_info(m, 2).hugetlb_kb == 18446744073709547520ull);

	char *json = ptsim_report_json(m);
	assert_non_null(json);
	assert_has(json, "\"hugetlb_kb\":18446744073709547520,");
	assert_lacks(json, "e+19");
	ptsim_free(json);
	char *text = ptsim_report_text(m);
	assert_has(text, " 18446744073709547520 ");
	ptsim_free(text);
	t_destroy(m);
}

/* Configuration values keep their types: numbers, booleans, strings. */
static void test_report__machine_config_typed(void **state)
{
	(void)state;
	const char *set[] = { "pcid=off", "tlb_single_page_flush_ceiling=40", NULL };
	struct ptsim_machine *m = t_machine(4, "6.12", set);
	char *json = ptsim_report_json(m);

	assert_non_null(json);
	assert_has(json, "\"machine\":{\"arch\":\"x86_64\",\"paging_levels\":4,\"granule\":4096,\"cpus\":4,"
			 "\"preset\":\"6.12\",\"seed\":1,\"variants\":{\"pt_reclaim\":\"off\",");
	assert_has(json, "\"pcid\":false,");
	assert_has(json, "\"madvise_one_gather\":false,");
	assert_has(json, "\"arm64_ttl\":true,");
	assert_has(json, "\"tlb_single_page_flush_ceiling\":40,");
	assert_has(json, "\"x86_flush\":\"ipi\",");
	ptsim_free(json);
	t_destroy(m);

	m = t_machine_cfg(PTSIM_ARCH_ARM64, 16384, 47, 2, NULL, NULL);
	json = ptsim_report_json(m);
	assert_non_null(json);
	assert_has(json, "\"machine\":{\"arch\":\"arm64\",\"granule\":16384,\"va_bits\":47,\"paging_levels\":3,"
			 "\"asid_bits\":16,\"cpus\":2,");
	ptsim_free(json);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report__u64_beyond_2p53_exact),
		cmocka_unit_test(test_report__hugetlb_usage_below_zero_exact),
		cmocka_unit_test(test_report__machine_config_typed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
