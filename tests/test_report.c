/*
 * Reports: exact integers and typed configuration in the JSON report, names
 * that cannot break the JSON or the CSV timeline, marks by index, per-exit
 * figures, per-event results and the per-architecture summary table.
 */
#include <errno.h>
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

/* ------------------------------------------------------------------------ */
/* names                                                                     */
/* ------------------------------------------------------------------------ */

/* ptsim_mark(@name) fails with -EINVAL and a message containing @why. */
static void assert_mark_refused(struct ptsim_machine *m, const char *name, const char *why)
{
	assert_int_equal(ptsim_mark(m, name), -EINVAL);
	const char *msg = ptsim_machine_errmsg(m);
	if (!strstr(msg, why) || !strstr(msg, "field 'name'"))
		fail_msg("mark refused with '%s', expected '%s'", msg, why);
}

static void test_report__names_refused_at_api(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(1, NULL, NULL);
	char longname[PTSIM_NAME_MAX + 2];

	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_mark_refused(m, "ok\xff\xfe", "invalid UTF-8 at byte 2 (0xff)");
	assert_mark_refused(m, "a\nb", "control character U+000A at byte 1");
	assert_mark_refused(m, "tab\there", "control character U+0009 at byte 3");
	assert_mark_refused(m, "del\x7f", "control character U+007F at byte 3");
	assert_mark_refused(m, "nel\xc2\x85", "control character U+0085 at byte 3");
	assert_mark_refused(m, "\xc0\xaf", "invalid UTF-8 at byte 0 (0xc0)");          /* overlong '/' */
	assert_mark_refused(m, "x\xed\xa0\x80", "invalid UTF-8 at byte 1 (0xed)");    /* a surrogate */
	assert_mark_refused(m, "\xf4\x90\x80\x80", "invalid UTF-8 at byte 0 (0xf4)"); /* above U+10FFFF */
	assert_mark_refused(m, "cut\xe2\x82", "invalid UTF-8 at byte 3 (0xe2)");       /* truncated */
	assert_mark_refused(m, "", "empty");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_mark_refused(m, longname, "256 bytes long (at most 255)");
	longname[PTSIM_NAME_MAX] = 0;
	T_OK(m, ptsim_mark(m, longname));
	T_OK(m, ptsim_mark(m, "phase \xce\xbcs \xe2\x86\x92 2 \xf0\x9f\x93\x88"));   /* "phase µs → 2 📈" */

	struct ptsim_mmap_args a = { 0 };
	a.addr = 0x200000;
	a.len = 0x1000;
	a.prot = PTSIM_PROT_READ;
	a.kind = PTSIM_MAP_FILE;
	a.file = "lib\x01.so";
	assert_int_equal(ptsim_mmap(m, 1, &a), -EINVAL);
	assert_has(ptsim_machine_errmsg(m), "field 'file': control character U+0001 at byte 3");
	a.file = "libc.so.6";
	T_OK(m, ptsim_mmap(m, 1, &a));

	/* Only the two good marks were taken; the JSON carries the UTF-8 as it is. */
	char *json = ptsim_report_json(m);
	assert_non_null(json);
	assert_has(json, "\"name\":\"phase \xce\xbcs \xe2\x86\x92 2 \xf0\x9f\x93\x88\"");
	assert_lacks(json, "\xff");
	ptsim_free(json);
	char *csv = ptsim_report_timeline_csv(m);
	assert_non_null(csv);
	size_t lines = 0;
	for (const char *p = csv; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 4);   /* header, two marks, end */
	ptsim_free(csv);
	t_destroy(m);
}

/* A name with commas and quotes is one CSV field, quoted as RFC 4180 says. */
static void test_report__csv_quotes_names(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(1, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mark(m, "plain"));
	T_OK(m, ptsim_mark(m, "a,b"));
	T_OK(m, ptsim_mark(m, "say \"hi\", twice \"\""));
	char *csv = ptsim_report_timeline_csv(m);
	assert_non_null(csv);
	assert_has(csv, "\nplain,");
	assert_has(csv, "\n\"a,b\",");
	assert_has(csv, "\n\"say \"\"hi\"\", twice \"\"\"\"\",");
	ptsim_free(csv);
	t_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* marks                                                                     */
/* ------------------------------------------------------------------------ */

/* Two nested repeats around a mark, a fork in between, the clock advancing. */
static const char marks_trace[] =
	"{\"ptsim_trace\":1,\"machine\":{\"cpus\":2},\"events\":["
	"{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
	"{\"op\":\"mark\",\"name\":\"start\"},"
	"{\"op\":\"repeat\",\"count\":2,\"events\":["
	" {\"op\":\"repeat\",\"count\":3,\"step\":{\"addr\":\"4K\"},\"events\":["
	"  {\"op\":\"mmap\",\"task\":1,\"addr\":\"0x200000\",\"len\":\"4K\",\"prot\":\"rw\"},"
	"  {\"op\":\"touch\",\"task\":1,\"addr\":\"0x200000\",\"len\":\"4K\",\"write\":true},"
	"  {\"op\":\"advance\",\"us\":5},"
	"  {\"op\":\"mark\",\"name\":\"loop\"}]},"
	" {\"op\":\"fork\",\"task\":1,\"child\":2,\"cpu\":1},"
	" {\"op\":\"mark\",\"name\":\"forked\"},"
	" {\"op\":\"exit\",\"task\":2},"
	" {\"op\":\"munmap\",\"task\":1,\"addr\":\"0x200000\",\"len\":\"12K\"}"
	"]}]}";

static void test_report__marks_indexed_in_repeat(void **state)
{
	(void)state;
	struct ptsim_machine *m;
	char err[512];
	struct ptsim_mark_info mi;
	struct ptsim_mm_info mm;
	uint64_t v;
	size_t idx;

	assert_int_equal(t_run_json(marks_trace, &m, err, sizeof(err)), 0);
	assert_int_equal(ptsim_mark_count(m), 1 + 2 * (3 + 1));
	/* Every loop mark has its own index and its iterations, outermost first. */
	for (size_t i = 0; i < ptsim_mark_count(m); i++) {
		T_OK(m, ptsim_mark_get(m, i, &mi));
		assert_int_equal(mi.index, i);
	}
	T_OK(m, ptsim_mark_get(m, 6, &mi));   /* start, loop[0/0..2], forked[0], loop[1/0], loop[1/1] */
	assert_string_equal(mi.name, "loop");
	assert_int_equal(mi.depth, 2);
	assert_int_equal(mi.iteration[0], 1);
	assert_int_equal(mi.iteration[1], 1);
	/* spawn, start, an outer iteration of 3 x 4 + 4 events, then 4 + 3 into the second */
	assert_int_equal(mi.event, 2 + 16 + 4 + 3);
	assert_int_equal(mi.clock_ns, 5 * 5000);
	assert_int_equal(mi.nr_mms, 1);
	T_OK(m, ptsim_mark_stat_at(m, 6, "faults.anon", &v));
	assert_int_equal(v, 5);
	T_OK(m, ptsim_mark_mm_at(m, 6, 0, &mm));
	assert_int_equal(mm.task, 1);
	assert_int_equal(mm.mm, 1);
	assert_int_equal(mm.rss_anon_kb, 2 * 4);

	T_OK(m, ptsim_mark_get(m, 4, &mi));
	assert_string_equal(mi.name, "forked");
	assert_int_equal(mi.depth, 1);
	assert_int_equal(mi.iteration[0], 0);
	assert_int_equal(mi.nr_mms, 2);
	T_OK(m, ptsim_mark_mm_at(m, 4, 1, &mm));
	assert_int_equal(mm.task, 2);
	assert_int_equal(mm.mm, 2);
	assert_int_equal(ptsim_mark_mm_at(m, 4, 2, &mm), -ERANGE);
	assert_int_equal(ptsim_mark_get(m, 9, &mi), -ERANGE);
	assert_int_equal(ptsim_mark_stat_at(m, 9, "faults.anon", &v), -ERANGE);

	/* Found by name and iterations. */
	const uint64_t it12[] = { 1, 2 }, it1[] = { 1 };
	T_OK(m, ptsim_mark_find(m, "loop", it12, 2, &idx));
	assert_int_equal(idx, 7);
	T_OK(m, ptsim_mark_find(m, "forked", it1, 1, &idx));
	assert_int_equal(idx, 8);
	T_OK(m, ptsim_mark_find(m, "start", NULL, 0, &idx));
	assert_int_equal(idx, 0);
	assert_int_equal(ptsim_mark_find(m, "loop", it1, 1, &idx), -ENOENT);

	char *json = ptsim_report_json(m);
	assert_non_null(json);
	assert_has(json, "{\"index\":0,\"name\":\"start\",\"iteration\":[],\"event\":1,\"clock_ns\":0,\"mms\":[{\"task\":1,"
			 "\"mm\":1,");
	assert_has(json, "{\"index\":7,\"name\":\"loop\",\"iteration\":[1,2],\"event\":");
	assert_has(json, "\"events\":34,\"clock_ns\":30000,\"marks\":");
	ptsim_free(json);

	/* The timeline: time and RSS next to VmPTE, per mm at the end. */
	char *csv = ptsim_report_timeline_csv(m);
	assert_non_null(csv);
	assert_has(csv, "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb,faults.total,");
	assert_has(csv, ",violations,mm1.vmpte_kb,mm1.rss_kb,mm2.vmpte_kb,mm2.rss_kb,mm3.vmpte_kb,mm3.rss_kb\n");
	assert_has(csv, "\nloop,7,1/2,");
	assert_has(csv, "\nforked,4,0,");
	/* At forked[0]: mm1 has 3 tables (12 kB) and 3 pages; fork copied both into mm2. */
	const char *row = strstr(csv, "\nforked,4,0,");
	assert_non_null(row);
	const char *nl = strchr(row + 1, '\n');
	assert_non_null(nl);
	assert_memory_equal(nl - 14, ",12,12,12,12,,", 14);   /* mm1, mm2 (12 kB each), no mm3 yet */
	ptsim_free(csv);
	t_destroy(m);
}

static void test_report__marks_limit(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(1, NULL, NULL);

	assert_int_equal(ptsim_machine_limit(m, PTSIM_LIMIT_MARKS), 100000);
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_MARKS, 2));
	T_OK(m, ptsim_mark(m, "a"));
	T_OK(m, ptsim_mark(m, "b"));
	assert_int_equal(ptsim_mark(m, "c"), PTSIM_ELIMIT);
	assert_has(ptsim_machine_errmsg(m), "mark 'c' would be mark 3, beyond the limit of 2 marks");
	assert_has(ptsim_machine_errmsg(m), "--max-marks N");
	assert_int_equal(ptsim_mark_count(m), 2);
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_MARKS, 0));
	T_OK(m, ptsim_mark(m, "c"));
	assert_int_equal(ptsim_machine_set_limit(m, PTSIM_NR_LIMITS, 1), -EINVAL);
	const uint64_t deep[PTSIM_MARK_MAX_DEPTH + 1] = { 0 };
	assert_int_equal(ptsim_mark_iteration(m, "d", deep, PTSIM_MARK_MAX_DEPTH + 1), -EINVAL);
	assert_int_equal(ptsim_mark_iteration(m, "d", NULL, 1), -EINVAL);
	T_OK(m, ptsim_mark_iteration(m, "d", deep, PTSIM_MARK_MAX_DEPTH));
	/* Misuse: NULL handles and pointers are -EINVAL (or 0), not a crash. */
	struct ptsim_mark_info mi;
	size_t idx;
	uint64_t v;
	assert_int_equal(ptsim_mark_count(NULL), 0);
	assert_int_equal(ptsim_mark_get(NULL, 0, &mi), -EINVAL);
	assert_int_equal(ptsim_mark_get(m, 0, NULL), -EINVAL);
	assert_int_equal(ptsim_mark_find(m, NULL, NULL, 0, &idx), -EINVAL);
	assert_int_equal(ptsim_mark_find(m, "d", NULL, 1, &idx), -EINVAL);
	assert_int_equal(ptsim_mark_stat_at(m, 0, NULL, &v), -EINVAL);
	assert_int_equal(ptsim_mark_mm_at(m, 0, 0, NULL), -EINVAL);
	assert_int_equal(ptsim_machine_set_limit(NULL, PTSIM_LIMIT_MARKS, 1), -EINVAL);
	assert_int_equal(ptsim_machine_limit(NULL, PTSIM_LIMIT_MARKS), 0);
	assert_int_equal(ptsim_mark_iteration(NULL, "x", NULL, 0), -EINVAL);
	t_destroy(m);
}

/* A mark's explicit "iteration" (what ptsim convert --expand-repeats writes) follows the repeats' own. */
static void test_report__mark_iteration_field(void **state)
{
	(void)state;
	struct ptsim_machine *m;
	struct ptsim_trace *t;
	struct ptsim_mark_info mi;
	char err[512];
	const char *ok = "{\"ptsim_trace\":1,\"events\":[{\"op\":\"mark\",\"name\":\"flat\",\"iteration\":[3,1]},"
			 "{\"op\":\"repeat\",\"count\":2,\"events\":[{\"op\":\"mark\",\"name\":\"in\",\"iteration\":[5]}]}]}";

	assert_int_equal(t_run_json(ok, &m, err, sizeof(err)), 0);
	assert_int_equal(ptsim_mark_count(m), 3);
	T_OK(m, ptsim_mark_get(m, 0, &mi));
	assert_int_equal(mi.depth, 2);
	assert_int_equal(mi.iteration[0], 3);
	assert_int_equal(mi.iteration[1], 1);
	T_OK(m, ptsim_mark_get(m, 2, &mi));
	assert_int_equal(mi.depth, 2);
	assert_int_equal(mi.iteration[0], 1);
	assert_int_equal(mi.iteration[1], 5);
	t_destroy(m);

	const char *bad[][2] = {
		{ "{\"ptsim_trace\":1,\"events\":[{\"op\":\"mark\",\"name\":\"m\",\"iteration\":[2,\"x\"]}]}",
		  "field 'iteration': element 1 is not a non-negative integer below 2^53" },
		{ "{\"ptsim_trace\":1,\"events\":[{\"op\":\"mark\",\"name\":\"m\",\"iteration\":[-1]}]}",
		  "element 0 is not a non-negative integer" },
		{ "{\"ptsim_trace\":1,\"events\":[{\"op\":\"mark\",\"name\":\"m\",\"iteration\":7}]}",
		  "field 'iteration': expected an array of at most 16 iteration numbers" },
		{ "{\"ptsim_trace\":1,\"events\":[{\"op\":\"spawn\",\"task\":1,\"cpu\":0,\"iteration\":[1]}]}",
		  "iteration" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(ptsim_trace_load(&t, bad[i][0], strlen(bad[i][0]), err, sizeof(err)), PTSIM_EBADTRACE);
		assert_has(err, bad[i][1]);
	}
}

/* ------------------------------------------------------------------------ */
/* exits                                                                     */
/* ------------------------------------------------------------------------ */

static struct ptsim_mmap_args rw_args(uint64_t addr, uint64_t len, enum ptsim_map_kind kind, const char *file)
{
	struct ptsim_mmap_args a = { 0 };

	a.addr = addr;
	a.len = len;
	a.prot = kind == PTSIM_MAP_FILE ? PTSIM_PROT_READ : PTSIM_PROT_READ | PTSIM_PROT_WRITE;
	a.kind = kind;
	a.file = file;
	return a;
}

#define KB 1024ull
#define A_BASE 0x10000000ull   /* 256 MiB: one PMD table covers A, B and C */
#define B_BASE 0x20000000ull
#define C_BASE 0x30000000ull

/*
 * Per-mm figures at the exit of the last task, VmHWM as the kernel keeps it:
 * hiwater_rss is sampled before RSS goes down (munmap, MADV_DONTNEED) and
 * set to the child's RSS at fork; VmHWM is the larger of it and RSS now.
 */
static void test_report__exits_figures(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = rw_args(A_BASE, 1024 * KB, PTSIM_MAP_ANON, NULL);
	struct ptsim_mmap_args b = rw_args(B_BASE, 256 * KB, PTSIM_MAP_FILE, "lib.so");
	struct ptsim_mmap_args c = rw_args(C_BASE, 128 * KB, PTSIM_MAP_ANON, NULL);
	struct ptsim_exit_info e;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, A_BASE, 1024 * KB, 0, true));            /* RSS 256 pages */
	T_OK(m, ptsim_munmap(m, 1, A_BASE + 256 * KB, 768 * KB));         /* hiwater 256 pages, RSS 64 */
	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_touch(m, 1, B_BASE, 256 * KB, 0, false));           /* RssFile 64 pages */
	assert_int_equal(t_mm_info(m, 1).rss_hwm_kb, 1024);
	/* A thread's exit leaves the mm alive: no record. */
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_exit(m, 2));
	assert_int_equal(ptsim_exit_count(m), 0);
	/* The child starts with what fork copied: the anonymous pages, not the file VMA's (no anon_vma). */
	T_OK(m, ptsim_fork(m, 1, 3, 1));
	assert_int_equal(t_mm_info(m, 3).rss_hwm_kb, 256);
	T_OK(m, ptsim_mmap(m, 3, &c));
	T_OK(m, ptsim_touch(m, 3, C_BASE, 128 * KB, 0, true));            /* RSS 96 pages */
	T_OK(m, ptsim_madvise(m, 3, C_BASE, 128 * KB, PTSIM_MADV_DONTNEED)); /* hiwater 96, RSS 64 */
	T_OK(m, ptsim_touch(m, 3, C_BASE, 64 * KB, 0, true));             /* RSS 80 pages, below the mark */
	T_OK(m, ptsim_exit(m, 3));
	T_OK(m, ptsim_exit(m, 1));

	assert_int_equal(ptsim_exit_count(m), 2);
	T_OK(m, ptsim_exit_get(m, 0, &e));
	assert_int_equal(e.index, 0);
	assert_int_equal(e.task, 3);
	assert_int_equal(e.cause, PTSIM_EXIT_EXIT);
	assert_int_equal(e.event, 13);
	assert_int_equal(e.mm.mm, 2);
	assert_int_equal(e.mm.users, 1);
	assert_int_equal(e.mm.rss_anon_kb, 256 + 64);
	assert_int_equal(e.mm.rss_file_kb, 0);
	assert_int_equal(e.mm.rss_hwm_kb, 384);
	/* A's PTE table and C's (PT reclaim freed C's empty table at the DONTNEED; the touch made a new one), PMD, PUD. */
	assert_int_equal(e.mm.vmpte_kb, 16);
	assert_int_equal(e.mm.vmpte_peak_kb, 16);
	assert_int_equal(e.mm.nr_vmas, 3);   /* A, B (its pages were not copied) and C */
	T_OK(m, ptsim_exit_get(m, 1, &e));
	assert_int_equal(e.task, 1);
	assert_int_equal(e.event, 14);
	assert_int_equal(e.mm.mm, 1);
	assert_int_equal(e.mm.rss_anon_kb, 256);
	assert_int_equal(e.mm.rss_file_kb, 256);
	assert_int_equal(e.mm.rss_hwm_kb, 1024);
	assert_int_equal(e.mm.vmpte_kb, 16);   /* A's and B's PTE tables, PMD, PUD */
	assert_int_equal(ptsim_exit_get(m, 2, &e), -ERANGE);

	char *json = ptsim_report_json(m);
	assert_non_null(json);
	assert_has(json, "\"exits\":[{\"index\":0,\"task\":3,\"cause\":\"exit\",\"event\":13,\"clock_ns\":0,\"mm\":2,"
			 "\"vmpte_kb\":16,\"vmpte_peak_kb\":16,\"rss_kb\":{\"file\":0,\"anon\":320,\"swap\":0,\"shmem\":0},"
			 "\"rss_hwm_kb\":384,\"hugetlb_kb\":0,");
	assert_has(json, "{\"index\":1,\"task\":1,\"cause\":\"exit\",\"event\":14,");
	ptsim_free(json);
	char *text = ptsim_report_text(m);
	assert_has(text, "\nexits (each mm's figures right before exit_mmap()");
	ptsim_free(text);
	t_destroy(m);
}

/* exec: the old mm's figures, cause "exec"; the limit refuses the exit before anything changes. */
static void test_report__exits_exec_and_limit(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = rw_args(A_BASE, 64 * KB, PTSIM_MAP_ANON, NULL);
	struct ptsim_exit_info e;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, A_BASE, 64 * KB, 0, true));
	T_OK(m, ptsim_exec(m, 1, NULL));
	assert_int_equal(ptsim_exit_count(m), 1);
	T_OK(m, ptsim_exit_get(m, 0, &e));
	assert_int_equal(e.task, 1);
	assert_int_equal(e.cause, PTSIM_EXIT_EXEC);
	assert_string_equal(ptsim_exit_cause_name(e.cause), "exec");
	assert_int_equal(e.mm.mm, 1);
	assert_int_equal(e.mm.rss_anon_kb, 64);
	assert_int_equal(e.mm.rss_hwm_kb, 64);
	/* The new mm: the stack's argument page. */
	assert_int_equal(t_mm_info(m, 1).mm, 2);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 4);

	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_EXITS, 1));
	assert_int_equal(ptsim_exit(m, 1), PTSIM_ELIMIT);
	assert_has(ptsim_machine_errmsg(m), "beyond the limit of 1 (each keeps the figures of the mm that went; "
					    "raise it with ptsim run --max-exits N");
	assert_int_equal(t_mm_info(m, 1).users, 1);   /* nothing happened */
	assert_int_equal(ptsim_exit_count(m), 1);
	T_OK(m, ptsim_machine_set_limit(m, PTSIM_LIMIT_EXITS, 0));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_exit_count(m), 2);
	assert_int_equal(ptsim_exit_get(NULL, 0, &e), -EINVAL);
	assert_int_equal(ptsim_exit_get(m, 0, NULL), -EINVAL);
	assert_int_equal(ptsim_exit_count(NULL), 0);
	t_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* the text report per architecture                                         */
/* ------------------------------------------------------------------------ */

/* A 1 MiB anonymous mapping of task 1 at 1 GiB, touched on its CPU. */
static void map_and_touch(struct ptsim_machine *m)
{
	struct ptsim_mmap_args a = { 0 };

	a.addr = GB;
	a.len = MB;
	a.prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE;
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, GB, MB, 4096, true));
}

/*
 * arm64's text report lists only the variants that mean something there and
 * its marks show TLBI instructions and DSBs where x86's show flush requests
 * and remote flushes; x86's lists no arm64 variant.
 */
static void test_report__text_per_architecture(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine_cfg(PTSIM_ARCH_ARM64, 4096, 48, 2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map_and_touch(m);
	T_OK(m, ptsim_munmap(m, 1, GB, 4096));
	T_OK(m, ptsim_mark(m, "after"));
	char *text = ptsim_report_text(m);
	assert_non_null(text);
	assert_has(text, "arm64_tlbi_range=off");
	assert_has(text, " pt_reclaim=");
	assert_lacks(text, "x86_flush=");
	assert_lacks(text, "pcid=");
	assert_lacks(text, "mm_cpumask=");
	assert_has(text, "event   sgi.calls  sgi.recv  tlbi_ops       dsb_ish  faults");
	/* One page unmapped: one TLBI VALE1IS and its DSB; 256 faults, 3 tables. */
	assert_has(text, "      0  after                         4           0         0          1             1"
			 "     256          3          0        12\n");
	assert_has(text, "per CPU: SGIs (IPIs) received");
	assert_has(text, "  (1 idle CPU: nothing to show)\n");
	ptsim_free(text);
	t_destroy(m);

	m = t_machine(2, NULL, NULL);
	T_OK(m, ptsim_spawn(m, 1, 0));
	map_and_touch(m);
	T_OK(m, ptsim_mark(m, "x"));
	text = ptsim_report_text(m);
	assert_non_null(text);
	assert_has(text, "x86_flush=ipi");
	assert_lacks(text, "arm64_");
	assert_has(text, "event   ipi.calls  ipi.recv  flush_req  remote_flush  faults");
	ptsim_free(text);
	t_destroy(m);
}

/*
 * On 64 CPUs, the 39 CPUs that each received the same one flush IPI share a
 * line, and the 24 that did nothing are counted, not listed.
 */
static void test_report__text_folds_cpus(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(64, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map_and_touch(m);
	for (int t = 2; t <= 40; t++)
		T_OK(m, ptsim_thread(m, 1, t, (unsigned int)(t - 1)));
	T_OK(m, ptsim_munmap(m, 1, GB, 4096));
	assert_int_equal(t_stat(m, "ipi.received.tlb_flush"), 39);
	char *text = ptsim_report_text(m);
	assert_non_null(text);
	assert_has(text, "\n  cpu 1-39               1        0        0              0          0\n");
	assert_has(text, "  (24 idle CPUs: nothing to show)\n");
	assert_lacks(text, "cpu 2 ");
	ptsim_free(text);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report__u64_beyond_2p53_exact),
		cmocka_unit_test(test_report__hugetlb_usage_below_zero_exact),
		cmocka_unit_test(test_report__machine_config_typed),
		cmocka_unit_test(test_report__names_refused_at_api),
		cmocka_unit_test(test_report__csv_quotes_names),
		cmocka_unit_test(test_report__marks_indexed_in_repeat),
		cmocka_unit_test(test_report__marks_limit),
		cmocka_unit_test(test_report__mark_iteration_field),
		cmocka_unit_test(test_report__exits_figures),
		cmocka_unit_test(test_report__exits_exec_and_limit),
		cmocka_unit_test(test_report__text_per_architecture),
		cmocka_unit_test(test_report__text_folds_cpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
