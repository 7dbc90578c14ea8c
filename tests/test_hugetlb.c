/*
 * hugetlb PMD-table sharing and unsharing (issue 4).
 *
 * W2 of reference/oracle.md (traces/oracle/w2_*.json, gen_w2.py) with the
 * 6.18.44 preset: table-sync IPIs per fork+exit 1 (aligned, keep=0), 0 with a
 * sibling, misaligned 0/1/1/1, split 0; no flush IPI; every sharer counts a
 * shared PMD table in its VmPTE.  The same traces with the 1013af4f585f form
 * (one broadcast per unshared table) and on 64 CPUs (63 IPIs a broadcast).
 * Then: who sends the broadcast (the 2 -> 1 sharer step), mprotect, mremap,
 * move_pages and VMA splits of shared ranges, and GUP-fast inside a shared
 * table while it is unshared (the reason for the broadcast).
 */
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"

#define KB 1024ull
#define MB (1024ull * KB)
#define GB (1024ull * MB)
#define HBASE 0x4000000000ull
#define W2_ITERS 10

/* ------------------------------------------------------------------------ */
/* helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Run traces/<rel> with its machine section, @cpus CPUs (0: as the trace says) and extra overrides. */
static struct ptsim_machine *run_trace_cpus(const char *rel, unsigned int cpus, const char *const *set)
{
	char path[1024], err[512];
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;

	snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rel);
	if (ptsim_trace_load_file(&t, path, err, sizeof(err)))
		fail_msg("%s: %s", rel, err);
	for (size_t i = 0; set && set[i]; i++)
		assert_int_equal(ptsim_trace_config_add(t, set[i]), 0);
	ptsim_trace_config(t, &cfg);
	if (cpus)
		cfg.cpus = cpus;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("%s: machine: %s", rel, err);
	if (ptsim_trace_run(t, m))
		fail_msg("%s: %s", rel, ptsim_machine_errmsg(m));
	ptsim_trace_free(t);
	return m;
}

static struct ptsim_mmap_args hugetlb_args(uint64_t addr, uint64_t len, const char *file)
{
	struct ptsim_mmap_args a = { 0 };

	a.addr = addr;
	a.len = len;
	a.prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE;
	a.kind = PTSIM_MAP_HUGETLB;
	a.shared = true;
	a.file = file;
	a.populate = true;
	return a;
}

static uint64_t vmpte_kb(struct ptsim_machine *m, int task)
{
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_mm_info_get(m, task, &mi));
	return mi.vmpte_kb;
}

static uint64_t cpu_stat(struct ptsim_machine *m, unsigned int cpu, const char *name)
{
	char full[96];

	snprintf(full, sizeof(full), "cpu.%u.%s", cpu, name);
	return t_stat(m, full);
}

/* Parent 1 on CPU0 maps @g GiB at HBASE (populated); children @first.. on CPUs 1.. touch every GiB. */
static struct ptsim_machine *sharing_setup(unsigned int cpus, const char *variant, uint64_t g, int nchildren)
{
	const char *set[] = { variant, NULL };
	struct ptsim_machine *m = t_machine(cpus, "6.18.44", variant ? set : NULL);
	struct ptsim_mmap_args a = hugetlb_args(HBASE, g * GB, "memfd:share");

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	for (int c = 0; c < nchildren; c++) {
		T_OK(m, ptsim_fork(m, 1, 10 + c, (unsigned int)(1 + c)));
		T_OK(m, ptsim_touch(m, 10 + c, HBASE, g * GB, GB, true));
	}
	return m;
}

/* ------------------------------------------------------------------------ */
/* W2                                                                        */
/* ------------------------------------------------------------------------ */

struct w2_row {
	const char *map;
	int keep;
	unsigned int g;
};

static const struct w2_row w2_rows[] = {
	{ "aligned", 0, 1 }, { "aligned", 0, 2 }, { "aligned", 0, 4 }, { "aligned", 0, 8 },
	{ "aligned", 1, 1 }, { "aligned", 1, 2 }, { "aligned", 1, 4 }, { "aligned", 1, 8 },
	{ "misaligned", 0, 1 }, { "misaligned", 0, 2 }, { "misaligned", 0, 4 }, { "misaligned", 0, 8 },
	{ "split", 0, 1 }, { "split", 0, 2 }, { "split", 0, 4 }, { "split", 0, 8 },
};

/* PMD tables a child shares with the parent (and unshares at exit). */
static unsigned int w2_shared_tables(const struct w2_row *r)
{
	if (!strcmp(r->map, "aligned"))
		return r->g;
	if (!strcmp(r->map, "misaligned"))
		return r->g - 1;
	return 0;
}

/* The oracle's table-sync IPIs per fork+exit (reference/oracle.md W2, 6.18.44). */
static unsigned int w2_expected_sync_fixed(const struct w2_row *r)
{
	return w2_shared_tables(r) && !r->keep ? 1 : 0;
}

static void w2_trace_name(const struct w2_row *r, char *buf, size_t len)
{
	snprintf(buf, len, "oracle/w2_%s_g%u_k%d.json", r->map, r->g, r->keep);
}

/* Broadcast counts over the measured loop for @variant (NULL: the preset). */
static void check_w2_row(const struct w2_row *r, unsigned int cpus, const char *variant, unsigned int per_exit)
{
	const char *set[] = { variant, NULL };
	char name[96];

	w2_trace_name(r, name, sizeof(name));
	struct ptsim_machine *m = run_trace_cpus(name, cpus, variant ? set : NULL);
	uint64_t calls = t_delta(m, "loop_start", "loop_end", "ipi.calls.table_sync");
	uint64_t recv = t_delta(m, "loop_start", "loop_end", "ipi.received.table_sync");

	if (calls != (uint64_t)per_exit * W2_ITERS)
		fail_msg("%s (%s, %u cpus): %llu broadcasts over %d fork+exit, expected %u each", name,
			 variant ? variant : "6.18.44", cpus, (unsigned long long)calls, W2_ITERS, per_exit);
	assert_int_equal(recv, calls * (cpus - 1));
	assert_int_equal(t_delta(m, "loop_start", "loop_end", "hugetlb.pmd_unshare"),
			 (uint64_t)w2_shared_tables(r) * W2_ITERS);
	/* The child's own CPU does its flushes: no flush IPI. */
	assert_int_equal(t_delta(m, "loop_start", "loop_end", "ipi.received.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void test_hugetlb__w2_rows_6_18_44(void **s)
{
	(void)s;
	for (size_t i = 0; i < sizeof(w2_rows) / sizeof(w2_rows[0]); i++)
		check_w2_row(&w2_rows[i], 2, NULL, w2_expected_sync_fixed(&w2_rows[i]));
}

/* Every sharer counts a shared PMD table in its own VmPTE (PUD table + G PMD tables here). */
static void test_hugetlb__w2_vmpte(void **s)
{
	(void)s;
	for (size_t i = 0; i < sizeof(w2_rows) / sizeof(w2_rows[0]); i++) {
		const struct w2_row *r = &w2_rows[i];
		char name[96];
		struct ptsim_mm_info child, parent;

		w2_trace_name(r, name, sizeof(name));
		struct ptsim_machine *m = run_trace_cpus(name, 0, NULL);
		T_OK(m, ptsim_mark_mm_info(m, "child_touched", 10, &child));
		T_OK(m, ptsim_mark_mm_info(m, "mapped", 1, &parent));
		assert_int_equal(child.vmpte_kb, 4 * (1 + r->g));
		assert_int_equal(child.pgtables[1], r->g);
		if (!strcmp(r->map, "aligned"))
			assert_int_equal(parent.vmpte_kb, 4 * (1 + r->g));
		else if (!strcmp(r->map, "misaligned"))
			assert_int_equal(parent.vmpte_kb, 4 * (2 + r->g));   /* the partial last GiB has a table too */
		else
			assert_int_equal(parent.vmpte_kb, 4 * (1 + 2 * r->g));   /* each VMA spans two PUD ranges */
		t_destroy(m);
	}
}

/* 1013af4f585f: one broadcast per unshared table, whether or not other sharers remain. */
static void test_hugetlb__w2_rows_ipi_per_table(void **s)
{
	(void)s;
	for (size_t i = 0; i < sizeof(w2_rows) / sizeof(w2_rows[0]); i++)
		check_w2_row(&w2_rows[i], 2, "hugetlb_unshare=ipi_per_table", w2_shared_tables(&w2_rows[i]));
}

/* Before 1013af4f585f: no broadcast at all. */
static void test_hugetlb__w2_rows_none(void **s)
{
	(void)s;
	for (size_t i = 0; i < sizeof(w2_rows) / sizeof(w2_rows[0]); i++)
		check_w2_row(&w2_rows[i], 2, "hugetlb_unshare=none", 0);
}

/* On 64 CPUs a broadcast is 63 IPIs: G x 63 per exit before the fix, 63 after. */
static void test_hugetlb__w2_64_cpus(void **s)
{
	(void)s;
	for (size_t i = 0; i < 4; i++) {   /* aligned, keep=0, G = 1, 2, 4, 8 */
		const struct w2_row *r = &w2_rows[i];
		check_w2_row(r, 64, "hugetlb_unshare=ipi_per_table", r->g);
		check_w2_row(r, 64, NULL, 1);
	}
	check_w2_row(&w2_rows[7], 64, NULL, 0);   /* aligned, keep=1, G=8 */
	check_w2_row(&w2_rows[7], 64, "hugetlb_unshare=ipi_per_table", 8);
}

/* The presets of each form. */
static void test_hugetlb__presets(void **s)
{
	(void)s;
	static const struct {
		const char *preset;
		unsigned int per_exit;
	} p[] = { { "6.19", 1 }, { "6.18.44", 1 }, { "7.0", 1 }, { "6.18", 8 }, { "6.16", 8 }, { "6.15", 0 }, { "6.14", 0 } };
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		char set[64];
		snprintf(set, sizeof(set), "hugetlb_unshare=%s", p[i].per_exit == 1 ? "mmu_gather" : p[i].per_exit ? "ipi_per_table" : "none");
		const char *const *pairs = ptsim_preset_pairs(p[i].preset);
		assert_non_null(pairs);
		bool found = false;
		for (size_t k = 0; pairs[k]; k++)
			found |= !strcmp(pairs[k], set);
		if (!found)
			fail_msg("preset %s does not set %s", p[i].preset, set);
	}
}

/* ------------------------------------------------------------------------ */
/* Who sends the broadcast                                                   */
/* ------------------------------------------------------------------------ */

/* The parent's munmap makes the 2 -> 1 step: the parent broadcasts; the child's exit then does not. */
static void test_hugetlb__parent_munmap_broadcasts(void **s)
{
	(void)s;
	struct ptsim_machine *m = sharing_setup(2, NULL, 2, 1);

	assert_int_equal(vmpte_kb(m, 10), 4 * 3);
	T_OK(m, ptsim_mark(m, "a"));
	T_OK(m, ptsim_munmap(m, 1, HBASE, 2 * GB));
	T_OK(m, ptsim_mark(m, "b"));
	T_OK(m, ptsim_exit(m, 10));
	T_OK(m, ptsim_mark(m, "c"));
	assert_int_equal(t_delta(m, "a", "b", "ipi.calls.table_sync"), 1);
	assert_int_equal(t_delta(m, "a", "b", "hugetlb.pmd_unshare"), 2);
	assert_int_equal(t_delta(m, "a", "b", "hugetlb.pmd_unshare_last"), 2);
	assert_int_equal(cpu_stat(m, 1, "ipi_received.table_sync"), 1);   /* from CPU0 */
	assert_int_equal(cpu_stat(m, 0, "ipi_received.table_sync"), 0);
	assert_int_equal(t_delta(m, "b", "c", "ipi.calls.table_sync"), 0);
	assert_int_equal(t_delta(m, "b", "c", "hugetlb.pmd_unshare"), 0);   /* the tables are the child's now */
	assert_int_equal(t_delta(m, "b", "c", "pgtables_freed.pmd"), 2);
	assert_int_equal(vmpte_kb(m, 1), 0);   /* nothing else mapped: the PUD table went too */
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* The child's exit makes the step: the child broadcasts; the parent's munmap then does not. */
static void test_hugetlb__child_exit_broadcasts(void **s)
{
	(void)s;
	struct ptsim_machine *m = sharing_setup(2, NULL, 2, 1);

	T_OK(m, ptsim_mark(m, "a"));
	T_OK(m, ptsim_exit(m, 10));
	T_OK(m, ptsim_mark(m, "b"));
	T_OK(m, ptsim_munmap(m, 1, HBASE, 2 * GB));
	T_OK(m, ptsim_mark(m, "c"));
	assert_int_equal(t_delta(m, "a", "b", "ipi.calls.table_sync"), 1);
	assert_int_equal(cpu_stat(m, 0, "ipi_received.table_sync"), 1);   /* from CPU1 */
	assert_int_equal(t_delta(m, "b", "c", "ipi.calls.table_sync"), 0);
	assert_int_equal(t_delta(m, "b", "c", "pgtables_freed.pmd"), 2);
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * Three sharers (count 2): the first to leave sends nothing, the second (2 -> 1)
 * sends the one broadcast, the last owner zaps.  Before the fix everybody who
 * unshares broadcasts.
 */
static void test_hugetlb__only_the_last_unsharer_broadcasts(void **s)
{
	(void)s;
	static const char *const variants[] = { NULL, "hugetlb_unshare=ipi_per_table" };
	for (int v = 0; v < 2; v++) {
		struct ptsim_machine *m = sharing_setup(3, variants[v], 1, 2);
		T_OK(m, ptsim_mark(m, "a"));
		T_OK(m, ptsim_exit(m, 11));   /* CPU2, 3 sharers -> 2 */
		T_OK(m, ptsim_mark(m, "b"));
		T_OK(m, ptsim_exit(m, 10));   /* CPU1, 2 -> 1 */
		T_OK(m, ptsim_mark(m, "c"));
		T_OK(m, ptsim_munmap(m, 1, HBASE, GB));
		T_OK(m, ptsim_mark(m, "d"));
		assert_int_equal(t_delta(m, "a", "b", "ipi.calls.table_sync"), v ? 1 : 0);
		assert_int_equal(t_delta(m, "b", "c", "ipi.calls.table_sync"), 1);
		assert_int_equal(t_delta(m, "b", "c", "ipi.received.table_sync"), 2);
		assert_int_equal(t_delta(m, "c", "d", "ipi.calls.table_sync"), 0);
		assert_int_equal(t_delta(m, "a", "d", "hugetlb.pmd_unshare"), 2);
		assert_int_equal(t_delta(m, "a", "d", "hugetlb.pmd_unshare_last"), 1);
		T_OK(m, ptsim_exit(m, 1));
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hugetlb__w2_rows_6_18_44),
		cmocka_unit_test(test_hugetlb__w2_vmpte),
		cmocka_unit_test(test_hugetlb__w2_rows_ipi_per_table),
		cmocka_unit_test(test_hugetlb__w2_rows_none),
		cmocka_unit_test(test_hugetlb__w2_64_cpus),
		cmocka_unit_test(test_hugetlb__presets),
		cmocka_unit_test(test_hugetlb__parent_munmap_broadcasts),
		cmocka_unit_test(test_hugetlb__child_exit_broadcasts),
		cmocka_unit_test(test_hugetlb__only_the_last_unsharer_broadcasts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
