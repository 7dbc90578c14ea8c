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
#include <errno.h>
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

static void set_cpus(struct ptsim_config *cfg, const void *ctx)
{
	unsigned int cpus = *(const unsigned int *)ctx;

	if (cpus)
		cfg->cpus = cpus;
}

/* Run traces/<rel> with its machine section, @cpus CPUs (0: as the trace says) and extra overrides. */
static struct ptsim_machine *run_trace_cpus(const char *rel, unsigned int cpus, const char *const *set)
{
	return t_run_trace_adjusted(rel, set, set_cpus, &cpus);
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

/*
 * The queued 2026 x86 series: the sync broadcast is skipped (the flush IPIs
 * already interrupted every CPU a walker of the mm could be on), and no flush
 * IPI is added here: the child's mm is loaded only on its own CPU.
 */
static void test_hugetlb__w2_x86_table_flush_implies_ipi(void **s)
{
	(void)s;
	for (size_t i = 0; i < sizeof(w2_rows) / sizeof(w2_rows[0]); i++) {
		const struct w2_row *r = &w2_rows[i];
		check_w2_row(r, 2, "x86_table_flush_implies_ipi=on", 0);
		char name[96];
		const char *const set[] = { "x86_table_flush_implies_ipi=on", NULL };
		w2_trace_name(r, name, sizeof(name));
		struct ptsim_machine *m = run_trace_cpus(name, 2, set);
		assert_int_equal(t_delta(m, "loop_start", "loop_end", "ipi.table_sync_skipped"),
				 (uint64_t)w2_expected_sync_fixed(r) * W2_ITERS);
		t_destroy(m);
	}
	/* Only with IPI flushes: INVLPGB does not interrupt the walker's CPU. */
	const char *const invlpgb[] = { "x86_table_flush_implies_ipi=on", "x86_flush=invlpgb", NULL };
	struct ptsim_machine *m = run_trace_cpus("oracle/w2_aligned_g1_k0.json", 2, invlpgb);
	assert_int_equal(t_delta(m, "loop_start", "loop_end", "ipi.calls.table_sync"), W2_ITERS);
	assert_int_equal(t_stat(m, "ipi.table_sync_skipped"), 0);
	t_destroy(m);
}

/*
 * The walk-cache gap of x86 unsharing (kernel-model 5.6, 13.5): process 2
 * unshares a table while its other thread's CPU 2 is lazy on its mm with a
 * cached pointer to the table.  x86 tlb_flush() does not pass unshared_tables,
 * the flush frees no table, so lazy CPU 2 is skipped; when process 1 frees the
 * table, CPU 2's paging-structure cache still points at it.  The queued 2026
 * series passes freed_tables || unshared_tables: CPU 2 gets the IPI.
 */
static void test_hugetlb__x86_unshare_skips_lazy_walk_cache(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_run_trace("examples/hugetlb_unshare_lazy_cpu.json", NULL);
	struct ptsim_violation v;

	assert_int_equal(t_delta(m, "shared", "unshared", "hugetlb.pmd_unshare"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 1);
	T_OK(m, ptsim_violation_get(m, 0, &v));
	assert_int_equal(v.kind, PTSIM_VIOL_PWC);
	assert_int_equal(v.cpu, 2);
	assert_int_equal(v.addr, 0x40000000);
	t_destroy(m);

	const char *const fixed[] = { "x86_table_flush_implies_ipi=on", NULL };
	m = t_run_trace("examples/hugetlb_unshare_lazy_cpu.json", fixed);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "cpu.2.ipi_received.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.table_sync"), 0);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.table_sync_skipped"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * The same with x86_flush=invlpgb (traces/fidelity/x86_series_unshare_flush_invlpgb.json):
 * the series changes tlb_flush() whatever the transport, so process 2's
 * unshare flush (IPIs: its mm has no global ASID) still reaches lazy CPU 2;
 * the sync skip needs the boot-time key, which INVLPGB keeps off, so the
 * broadcast is sent.  Before the fix ptsim tied both to x86_flush=ipi: a pwc
 * violation.
 */
static void test_hugetlb__x86_series_flush_with_invlpgb(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_run_trace("fidelity/x86_series_unshare_flush_invlpgb.json", NULL);

	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "cpu.2.ipi_received.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.table_sync"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.received.table_sync"), 2);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.table_sync_skipped"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);

	const char *const off[] = { "x86_table_flush_implies_ipi=off", NULL };
	m = t_run_trace("fidelity/x86_series_unshare_flush_invlpgb.json", off);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_violations(m, PTSIM_VIOL_PWC), 1);
	t_destroy(m);
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

	assert_int_equal(t_mm_info(m, 10).vmpte_kb, 4 * 3);
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
	assert_int_equal(t_mm_info(m, 1).vmpte_kb, 0);   /* nothing else mapped: the PUD table went too */
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


/* ------------------------------------------------------------------------ */
/* mprotect, mremap, munmap of a shared range (measured on 6.18.44: w2x)     */
/* ------------------------------------------------------------------------ */

enum peer { PEER_SPIN, PEER_SLEEP };

/*
 * Parent 1 (CPU0) maps 1 GiB and sleeps; child 10 (CPU1) shares the table;
 * the child's thread 11 runs on CPU0 (spin) or has gone to sleep there
 * (CPU0 lazy on the child's mm).  Marks "op" and "done" around @op by the child.
 */
static struct ptsim_machine *shared_op(const char *variant, enum peer peer, const char *op)
{
	const char *set[] = { variant, NULL };
	struct ptsim_machine *m = t_machine(2, "6.18.44", variant ? set : NULL);
	struct ptsim_mmap_args a = hugetlb_args(HBASE, GB, "memfd:w2x");

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_fork(m, 1, 10, 1));
	T_OK(m, ptsim_touch(m, 10, HBASE, GB, GB, true));
	T_OK(m, ptsim_sleep(m, 1));   /* waitpid() */
	T_OK(m, ptsim_thread(m, 10, 11, 0));
	if (peer == PEER_SLEEP)
		T_OK(m, ptsim_sleep(m, 11));
	T_OK(m, ptsim_mark(m, "op"));
	if (!strcmp(op, "mprotect"))
		T_OK(m, ptsim_mprotect(m, 10, HBASE, GB, PTSIM_PROT_READ));
	else if (!strcmp(op, "mremap"))
		T_OK(m, ptsim_mremap(m, 10, HBASE, GB, HBASE + 16 * GB));
	else
		T_OK(m, ptsim_munmap(m, 10, HBASE, GB));
	T_OK(m, ptsim_mark(m, "done"));
	assert_int_equal(t_delta(m, "op", "done", "hugetlb.pmd_unshare"), 1);
	assert_int_equal(t_delta(m, "op", "done", "hugetlb.pmd_unshare_last"), 1);
	assert_int_equal(t_delta(m, "op", "done", "ipi.calls.table_sync"), 1);
	return m;
}

static uint64_t op_flush_ipis(struct ptsim_machine *m)
{
	return t_delta(m, "op", "done", "ipi.received.tlb_flush");
}

static void finish_shared_op(struct ptsim_machine *m)
{
	if (ptsim_violation_count(m)) {
		struct ptsim_violation v;
		ptsim_violation_get(m, 0, &v);
		fail_msg("violation: %s", v.message);
	}
	t_destroy(m);
}

/*
 * mprotect, 6.19 form: the unshare flush (full, no freed_tables: reaches the
 * running thread only), the broadcast, then hugetlb_change_protection()'s own
 * gather finishes nested inside mprotect's (tlb_flush_pending 2): a full
 * flush with freed_tables, which also reaches a lazy CPU.  The kernel here:
 * 1.9 flush IPIs (spin; one in twenty found CPU0 between runs), 1 (sleep);
 * 2 local full flushes; 1 sync IPI.
 */
static void test_hugetlb__mprotect_shared(void **s)
{
	(void)s;
	struct ptsim_machine *m = shared_op(NULL, PEER_SPIN, "mprotect");
	assert_int_equal(op_flush_ipis(m), 2);
	assert_int_equal(t_delta(m, "op", "done", "tlb.nr_tlb_local_flush_all"), 2);
	assert_int_equal(t_delta(m, "op", "done", "mmu_gather.nested_flush"), 1);
	/* The child's next access faults: its flags differ from the parent's now, no sharing. */
	T_OK(m, ptsim_touch(m, 10, HBASE, GB, GB, false));
	assert_int_equal(t_stat(m, "hugetlb.pmd_share"), 1);
	finish_shared_op(m);

	m = shared_op(NULL, PEER_SLEEP, "mprotect");
	assert_int_equal(op_flush_ipis(m), 1);
	assert_int_equal(t_delta(m, "op", "done", "tlb.remote.lazy_to_init_mm"), 1);
	finish_shared_op(m);

	/* 1013af4f585f form: no gather; one flush_hugetlb_tlb_range() (freed_tables: lazy CPUs too). */
	m = shared_op("hugetlb_unshare=ipi_per_table", PEER_SPIN, "mprotect");
	assert_int_equal(op_flush_ipis(m), 1);
	finish_shared_op(m);
	m = shared_op("hugetlb_unshare=ipi_per_table", PEER_SLEEP, "mprotect");
	assert_int_equal(op_flush_ipis(m), 1);
	finish_shared_op(m);
}

/*
 * mremap of the shared GiB: the table is unshared (nothing is moved), one
 * unshare flush (full, no freed_tables) and one broadcast; unmapping the old
 * range frees no table.  The kernel here: 0.9 flush IPIs (spin), 0 (sleep);
 * 1 sync IPI; 1 local full flush.  The new range shares the parent's table
 * again on the next access.
 */
static void test_hugetlb__mremap_shared(void **s)
{
	(void)s;
	struct ptsim_machine *m = shared_op(NULL, PEER_SPIN, "mremap");
	assert_int_equal(op_flush_ipis(m), 1);
	assert_int_equal(t_delta(m, "op", "done", "tlb.nr_tlb_local_flush_all"), 1);
	assert_int_equal(t_mm_info(m, 10).vmpte_kb, 4);   /* the PUD table only */
	T_OK(m, ptsim_touch(m, 10, HBASE + 16 * GB, GB, GB, false));
	assert_int_equal(t_stat(m, "hugetlb.pmd_share"), 2);
	assert_int_equal(t_mm_info(m, 10).vmpte_kb, 8);
	finish_shared_op(m);

	m = shared_op(NULL, PEER_SLEEP, "mremap");
	assert_int_equal(op_flush_ipis(m), 0);
	finish_shared_op(m);

	/* Before 8ce720d5bd91: flush_hugetlb_tlb_range() of the PUD-widened range, freed_tables on x86. */
	m = shared_op("hugetlb_unshare=ipi_per_table", PEER_SLEEP, "mremap");
	assert_int_equal(op_flush_ipis(m), 1);
	finish_shared_op(m);
}

/*
 * munmap of the shared GiB by the child: the unshare flush at the end of the
 * VMA, then the final flush has freed_tables (the PUD table goes).  The
 * kernel here: 1.6 flush IPIs (spin), 1 (sleep); 1 local full and 1 local
 * partial flush; 1 sync IPI.
 */
static void test_hugetlb__munmap_shared(void **s)
{
	(void)s;
	struct ptsim_machine *m = shared_op(NULL, PEER_SPIN, "munmap");
	assert_int_equal(op_flush_ipis(m), 2);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.full"), 1);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.partial"), 1);   /* one P4D-stride INVLPG */
	finish_shared_op(m);

	m = shared_op(NULL, PEER_SLEEP, "munmap");
	assert_int_equal(op_flush_ipis(m), 1);
	finish_shared_op(m);
}

/* ------------------------------------------------------------------------ */
/* GUP-fast inside a shared table while it is unshared                      */
/* ------------------------------------------------------------------------ */

#define ANON 0x100000000000ull

/*
 * Process A (tasks 32..35 on CPUs 0-3) and B (task 40, forked from A, CPU4)
 * share the PMD table of the GiB at HBASE.  With x86_flush=invlpgb A gets a
 * global ASID (a flush while it runs on more than 3 CPUs, sampled by task 32
 * at jiffies 0): from then on its flushes are broadcast instructions, not
 * IPIs, so only the unshare broadcast can wait for a GUP-fast walker.  The
 * walker is thread 34 on CPU2, inside the shared table; thread 33 (CPU1)
 * unmaps the GiB, which unshares the table from A (count 1 -> 0): B owns it
 * alone and may change or free it once nobody waits any more.
 */
static struct ptsim_machine *gup_setup3(const char *unshare, const char *flush, bool third)
{
	char v1[64], v2[64];
	snprintf(v1, sizeof(v1), "hugetlb_unshare=%s", unshare);
	snprintf(v2, sizeof(v2), "x86_flush=%s", flush);
	const char *set[] = { v1, v2, NULL };
	struct ptsim_machine *m = t_machine(6, "6.18.44", set);
	struct ptsim_mmap_args a = hugetlb_args(HBASE, GB, "memfd:gup");
	struct ptsim_mmap_args anon = { .addr = ANON, .len = 8 * MB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, 32, 0));
	T_OK(m, ptsim_mmap(m, 32, &a));
	T_OK(m, ptsim_mmap(m, 32, &anon));
	T_OK(m, ptsim_touch(m, 32, ANON, 8 * MB, 0, true));
	T_OK(m, ptsim_fork(m, 32, 40, 4));
	T_OK(m, ptsim_touch(m, 40, HBASE, GB, GB, false));   /* B shares A's table */
	if (third) {
		T_OK(m, ptsim_fork(m, 32, 41, 5));
		T_OK(m, ptsim_touch(m, 41, HBASE, GB, GB, false));   /* and C */
	}
	T_OK(m, ptsim_thread(m, 32, 33, 1));
	T_OK(m, ptsim_thread(m, 32, 34, 2));
	T_OK(m, ptsim_thread(m, 32, 35, 3));
	T_OK(m, ptsim_touch(m, 34, HBASE, 4 * MB, 0, false));
	T_OK(m, ptsim_munmap(m, 32, ANON + 6 * MB, 4 * KB));   /* IPI flush; invlpgb: A gets a global ASID */
	for (int t = 33; t <= 35; t++) {
		T_OK(m, ptsim_sleep(m, t));
		T_OK(m, ptsim_run(m, t, (unsigned int)(t - 32)));
	}
	T_OK(m, ptsim_sleep(m, 32));
	T_OK(m, ptsim_run(m, 32, 0));
	T_OK(m, ptsim_munmap(m, 32, ANON + 6 * MB + 4 * KB, 4 * KB));   /* transition over */
	T_OK(m, ptsim_mark(m, "start"));
	T_OK(m, ptsim_gup_fast_begin(m, 2, 34, HBASE + 4 * KB));
	T_OK(m, ptsim_munmap(m, 33, HBASE, GB));
	T_OK(m, ptsim_mark(m, "unshared"));
	return m;
}

static struct ptsim_machine *gup_setup(const char *unshare, const char *flush)
{
	return gup_setup3(unshare, flush, false);
}

/*
 * 6.19: the broadcast waits for CPU2; thread 33's munmap is blocked with the
 * file's i_mmap lock held, so B cannot unmap (or otherwise touch under that
 * lock) the table until the walker ends; then B frees it, safely.
 */
static void test_hugetlb__gup_fast_mmu_gather_waits(void **s)
{
	(void)s;
	struct ptsim_machine *m = gup_setup("mmu_gather", "invlpgb");

	assert_int_equal(t_delta(m, "start", "unshared", "ipi.calls.tlb_flush"), 0);   /* INVLPGB */
	assert_true(t_delta(m, "start", "unshared", "tlb.invlpgb") >= 1);
	assert_int_equal(t_delta(m, "start", "unshared", "ipi.calls.table_sync"), 1);
	assert_int_equal(t_delta(m, "start", "unshared", "ipi.delayed_by_irqs_off"), 1);
	/* B needs the file's i_mmap lock to unmap: refused, naming the blocked CPU. */
	assert_int_equal(ptsim_munmap(m, 40, HBASE, GB), PTSIM_ECPUBUSY);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "i_mmap lock of hugetlb file 'memfd:gup' is held by cpu 1"));
	assert_int_equal(ptsim_mprotect(m, 40, HBASE, GB, PTSIM_PROT_READ), PTSIM_ECPUBUSY);
	assert_int_equal(ptsim_mremap(m, 40, HBASE, GB, HBASE + 4 * GB), PTSIM_ECPUBUSY);
	assert_int_equal(ptsim_move_pages(m, 40, HBASE), PTSIM_ECPUBUSY);
	assert_int_equal(ptsim_fork(m, 40, 41, 5), PTSIM_ECPUBUSY);
	assert_int_equal(ptsim_exit(m, 40), PTSIM_ECPUBUSY);
	/* A fault that finds its PUD populated needs no i_mmap lock (and writes nothing here). */
	T_OK(m, ptsim_touch(m, 40, HBASE + 2 * MB, 2 * MB, 0, false));
	/* The blocked CPU itself cannot start anything. */
	assert_int_equal(ptsim_touch(m, 33, ANON, 4 * KB, 0, false), PTSIM_ECPUBUSY);
	assert_int_equal(ptsim_violation_count(m), 0);

	T_OK(m, ptsim_gup_fast_end(m, 2));
	T_OK(m, ptsim_mark(m, "walker_done"));
	T_OK(m, ptsim_munmap(m, 40, HBASE, GB));   /* the remaining owner zaps and frees the table */
	ptsim_machine_quiesce(m);
	T_OK(m, ptsim_mark(m, "freed"));
	assert_int_equal(t_delta(m, "walker_done", "freed", "pgtables_freed.pmd"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void expect_reuse_violation(struct ptsim_machine *m)
{
	/* Nothing waited: B's munmap zaps the table the walker is still inside. */
	T_OK(m, ptsim_munmap(m, 40, HBASE, GB));
	assert_int_equal(t_violations(m, PTSIM_VIOL_WALKER), 1);
	struct ptsim_violation v;
	for (size_t i = 0; i < ptsim_violation_count(m); i++) {
		T_OK(m, ptsim_violation_get(m, i, &v));
		if (v.kind == PTSIM_VIOL_WALKER)
			break;
	}
	assert_int_equal(v.cpu, 2);
	assert_non_null(strstr(v.message, "shared hugetlb PMD table"));
	assert_non_null(strstr(v.message, "GUP-fast walker on cpu 2"));
	char table[32];
	snprintf(table, sizeof(table), "page table %llu ", (unsigned long long)v.pfn);
	assert_non_null(strstr(v.message, table));
	T_OK(m, ptsim_gup_fast_end(m, 2));
	t_destroy(m);
}

/* The deliberately broken form (mmu_gather without the broadcast) is caught. */
static void test_hugetlb__gup_fast_no_broadcast_violation(void **s)
{
	(void)s;
	struct ptsim_machine *m = gup_setup("no_broadcast", "invlpgb");
	assert_int_equal(t_delta(m, "start", "unshared", "ipi.calls.table_sync"), 0);
	expect_reuse_violation(m);
}

/* Before 1013af4f585f (CVE-2025-38085): the same. */
static void test_hugetlb__gup_fast_none_violation(void **s)
{
	(void)s;
	expect_reuse_violation(gup_setup("none", "invlpgb"));
}

/* 1013af4f585f: the broadcast in huge_pmd_unshare() waits as well. */
static void test_hugetlb__gup_fast_ipi_per_table_waits(void **s)
{
	(void)s;
	struct ptsim_machine *m = gup_setup("ipi_per_table", "invlpgb");
	assert_int_equal(ptsim_munmap(m, 40, HBASE, GB), PTSIM_ECPUBUSY);
	T_OK(m, ptsim_gup_fast_end(m, 2));
	T_OK(m, ptsim_munmap(m, 40, HBASE, GB));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * x86 flush IPIs: the unsharer's own flush IPIs CPU2, which runs A, so even
 * without the broadcast the unsharer waits for the walker (why the 2026
 * "skip redundant sync IPIs" patch can skip the broadcast on native x86).
 */
static void test_hugetlb__gup_fast_x86_ipi_flush_waits(void **s)
{
	(void)s;
	struct ptsim_machine *m = gup_setup("no_broadcast", "ipi");
	assert_int_equal(t_delta(m, "start", "unshared", "ipi.calls.table_sync"), 0);
	assert_true(t_delta(m, "start", "unshared", "ipi.delayed_by_irqs_off") >= 1);
	assert_int_equal(ptsim_munmap(m, 40, HBASE, GB), PTSIM_ECPUBUSY);
	T_OK(m, ptsim_gup_fast_end(m, 2));
	T_OK(m, ptsim_munmap(m, 40, HBASE, GB));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * Three sharers: the walker's mm unshares first (3 -> 2: no broadcast after
 * the fix, its munmap does not wait); the next unsharer (2 -> 1) broadcasts
 * and that broadcast waits for the walker, so the last owner still cannot
 * touch the table under the file lock.  "GUP-fast will never walk into page
 * tables that are no-longer shared, because the last sharer will issue an IPI
 * broadcast" (8ce720d5bd91).
 */
static void test_hugetlb__gup_fast_last_sharer_covers(void **s)
{
	(void)s;
	struct ptsim_machine *m = gup_setup3("mmu_gather", "invlpgb", true);

	assert_int_equal(t_delta(m, "start", "unshared", "ipi.calls.table_sync"), 0);
	assert_int_equal(t_delta(m, "start", "unshared", "hugetlb.pmd_unshare_last"), 0);
	T_OK(m, ptsim_munmap(m, 40, HBASE, GB));   /* B: 2 -> 1, broadcasts, waits for CPU2 */
	T_OK(m, ptsim_mark(m, "b"));
	assert_int_equal(t_delta(m, "unshared", "b", "ipi.calls.table_sync"), 1);
	assert_int_equal(ptsim_munmap(m, 41, HBASE, GB), PTSIM_ECPUBUSY);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "held by cpu 4"));
	T_OK(m, ptsim_gup_fast_end(m, 2));
	T_OK(m, ptsim_munmap(m, 41, HBASE, GB));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);

	m = gup_setup3("no_broadcast", "invlpgb", true);
	T_OK(m, ptsim_munmap(m, 40, HBASE, GB));
	T_OK(m, ptsim_munmap(m, 41, HBASE, GB));
	assert_int_equal(t_violations(m, PTSIM_VIOL_WALKER), 1);
	T_OK(m, ptsim_gup_fast_end(m, 2));
	t_destroy(m);
}

/*
 * An operation blocked in the unshare broadcast (a CPU inside GUP-fast) that
 * later, in the same operation, takes the same file's i_mmap lock again: in
 * the kernel those later steps run after the wait, so the lock is free again;
 * here they run before it ends, with the lock still marked as the CPU's own.
 * Process 1 maps two VMAs of one file at HBASE and HBASE + 1 GiB (file
 * offsets 0 and 2 GiB: they cannot merge) and forks 2, which shares both
 * tables; an unrelated process 5 on CPU2 is inside a GUP-fast walk of its own
 * memory, so every broadcast waits for it.  Each operation must end blocked,
 * with no violation (before the fix: an [internal] violation at the second
 * i_mmap_lock_write()), and release the lock when the walk ends.
 */
enum retake_op { RETAKE_MREMAP, RETAKE_MPROTECT, RETAKE_MUNMAP, RETAKE_MADVISE, RETAKE_EXIT };

static void retake_case(enum retake_op op, const char *arch)
{
	struct ptsim_machine *m = t_machine_cfg(!strcmp(arch, "arm64") ? PTSIM_ARCH_ARM64 : PTSIM_ARCH_X86_64, 0, 0, 3,
						"6.18.44", NULL);
	struct ptsim_mmap_args a = hugetlb_args(HBASE, GB, "memfd:retake");
	struct ptsim_mmap_args b = hugetlb_args(HBASE + GB, GB, "memfd:retake");
	struct ptsim_mmap_args w = { .addr = ANON, .len = 2 * MB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	int rc = 0;

	b.offset = 2 * GB;
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_touch(m, 2, HBASE, 2 * GB, GB, false));   /* 2 shares both tables */
	T_OK(m, ptsim_spawn(m, 5, 2));
	T_OK(m, ptsim_mmap(m, 5, &w));
	T_OK(m, ptsim_touch(m, 5, ANON, 2 * MB, 0, true));
	T_OK(m, ptsim_gup_fast_begin(m, 2, 5, ANON));
	T_OK(m, ptsim_mark(m, "start"));
	switch (op) {
	case RETAKE_MREMAP:
		rc = ptsim_mremap(m, 1, HBASE, GB, HBASE + 4 * GB);
		break;
	case RETAKE_MPROTECT:
		rc = ptsim_mprotect(m, 1, HBASE, 2 * GB, PTSIM_PROT_READ);
		break;
	case RETAKE_MUNMAP:
		rc = ptsim_munmap(m, 1, HBASE, 2 * GB);
		break;
	case RETAKE_MADVISE:
		rc = ptsim_madvise(m, 1, HBASE, 2 * GB, PTSIM_MADV_DONTNEED);
		break;
	case RETAKE_EXIT:
		rc = ptsim_exit(m, 2);
		break;
	}
	T_OK(m, rc);
	T_OK(m, ptsim_mark(m, "blocked"));
	assert_int_equal(ptsim_violation_count(m), 0);
	assert_true(t_delta(m, "start", "blocked", "ipi.delayed_by_irqs_off") >= 1);
	/* Still held by the blocked CPU: another process's unmap of the file waits. */
	if (op != RETAKE_EXIT)
		assert_int_equal(ptsim_exit(m, 2), PTSIM_ECPUBUSY);
	T_OK(m, ptsim_gup_fast_end(m, 2));
	if (op != RETAKE_EXIT)
		T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_exit(m, 1));
	T_OK(m, ptsim_exit(m, 5));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void test_hugetlb__blocked_op_retakes_i_mmap_lock(void **s)
{
	(void)s;
	static const char *const arches[] = { "x86_64", "arm64" };

	for (int a = 0; a < 2; a++)
		for (int op = RETAKE_MREMAP; op <= RETAKE_EXIT; op++)
			retake_case((enum retake_op)op, arches[a]);
}

/*
 * move_pages() of a page in a PMD table that processes 1 and 2 share, while
 * thread 3 of process 1 (CPU2) is inside the table in GUP-fast (issue 15
 * item 12).  try_to_migrate() reaches process 1's VMA first: the table is
 * unshared from 1 (1 -> 0 sharers), and the kernel waits there — the
 * broadcast of huge_pmd_unshare_flush() (6.19) or of huge_pmd_unshare()
 * (1013af4f585f), or on x86 before that the flush IPI to CPU2, which runs
 * process 1 — before the rmap walk goes on to process 2's VMA and writes the
 * migration entry into the now exclusive table.  That write comes after the
 * walk ended: no violation.  Where nothing waits (arm64 broadcast TLBI before
 * 1013af4f585f, or the unsafe no_broadcast form), the write races with the
 * walker: [walker].
 */
static void move_pages_walker_case(enum ptsim_arch arch, const char *preset, const char *unshare, size_t expect)
{
	char v[64];
	snprintf(v, sizeof(v), "hugetlb_unshare=%s", unshare ? unshare : "mmu_gather");
	const char *set[] = { v, NULL };
	struct ptsim_machine *m = t_machine_cfg(arch, 0, 0, 3, preset, unshare ? set : NULL);
	struct ptsim_mmap_args a = hugetlb_args(HBASE, GB, "memfd:mp");

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_spawn(m, 2, 1));
	T_OK(m, ptsim_mmap(m, 2, &a));
	T_OK(m, ptsim_touch(m, 2, HBASE, GB, GB, false));
	assert_int_equal(t_stat(m, "hugetlb.pmd_share"), 1);
	T_OK(m, ptsim_thread(m, 1, 3, 2));
	T_OK(m, ptsim_gup_fast_begin(m, 2, 3, HBASE + 4 * MB));
	T_OK(m, ptsim_move_pages(m, 1, HBASE));
	assert_int_equal(t_stat(m, "migrate.pgmigrate_success"), 512);
	assert_int_equal(t_violations(m, PTSIM_VIOL_WALKER), expect);
	T_OK(m, ptsim_gup_fast_end(m, 2));
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_exit(m, 3));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), expect);
	t_destroy(m);
}

static void test_hugetlb__move_pages_shared_table_walker(void **s)
{
	(void)s;
	static const char *const presets[] = { "6.18.44", "7.0", "6.18", "6.15", "6.12.35", "6.12" };

	for (size_t p = 0; p < sizeof(presets) / sizeof(presets[0]); p++)
		move_pages_walker_case(PTSIM_ARCH_X86_64, presets[p], NULL, 0);
	move_pages_walker_case(PTSIM_ARCH_X86_64, "6.18.44", "no_broadcast", 0);   /* the flush IPI waits */
	move_pages_walker_case(PTSIM_ARCH_ARM64, "6.18.44", NULL, 0);
	move_pages_walker_case(PTSIM_ARCH_ARM64, "6.18", NULL, 0);
	move_pages_walker_case(PTSIM_ARCH_ARM64, "6.15", NULL, 1);
	move_pages_walker_case(PTSIM_ARCH_ARM64, "6.18.44", "no_broadcast", 1);
}

/* ------------------------------------------------------------------------ */
/* mremap of normal VMAs (mm/mremap.c)                                       */
/* ------------------------------------------------------------------------ */

#define MBASE 0x200000000000ull

/*
 * Thread 1 (CPU0) mremaps [MBASE + @so, +@len) (populated) to MBASE + 1 GiB
 * + @dof while thread 2 runs on CPU1; a page at MBASE + 64 MiB keeps the PMD
 * table.  Marks "op"/"done".
 */
static struct ptsim_machine *mremap_anon(uint64_t len, uint64_t so, uint64_t dof)
{
	struct ptsim_machine *m = t_machine(2, "6.18.44", NULL);
	struct ptsim_mmap_args keep = { .addr = MBASE + 64 * MB, .len = 4 * KB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mmap_args a = { .addr = MBASE + so, .len = len, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &keep));
	T_OK(m, ptsim_touch(m, 1, keep.addr, 4 * KB, 0, true));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, len, 0, true));
	T_OK(m, ptsim_mark(m, "op"));
	T_OK(m, ptsim_mremap(m, 1, a.addr, len, MBASE + GB + dof));
	T_OK(m, ptsim_mark(m, "done"));
	/* Every page moved, none lost: the new range reads without faulting. */
	T_OK(m, ptsim_touch(m, 1, MBASE + GB + dof, len, 0, false));
	T_OK(m, ptsim_mark(m, "read"));
	assert_int_equal(t_delta(m, "done", "read", "faults.total"), 0);
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.rss_anon_kb, len / KB + 4);
	assert_int_equal(mi.nr_vmas, 2);
	return m;
}

/*
 * Local flushes as measured on 6.18.44 (the flush IPIs to the other thread's
 * CPU were blurred there by other load on CPU1; here it always runs the mm):
 *   4 MiB, PMD-aligned: two PTE tables move whole (move_normal_pmd()), one
 *     flush_tlb_range() each: 2 full local flushes (kernel: 2);
 *   64 KiB: move_ptes() flushes the 16 pages, then the emptied PTE table is
 *     freed by the unmap of the old range: 2 partial (kernel: 2);
 *   4 MiB at +1 MiB on both sides: realigned down to the PMD boundary, two
 *     tables move, the last 1 MiB by move_ptes() (256 pages: full), the old
 *     PTE table is freed: 3 full + 1 partial (kernel: 3 + 1).
 */
static void test_hugetlb__mremap_anon(void **s)
{
	(void)s;
	struct ptsim_machine *m = mremap_anon(4 * MB, 0, 0);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.full"), 2);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.partial"), 0);
	assert_int_equal(t_delta(m, "op", "done", "ipi.received.tlb_flush"), 2);
	assert_int_equal(t_delta(m, "op", "done", "pgtables_allocated.pte"), 0);   /* moved, not copied */
	t_destroy(m);

	m = mremap_anon(64 * KB, 0, 0);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.full"), 0);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.partial"), 2);
	assert_int_equal(t_delta(m, "op", "done", "pgtables_freed.pte"), 1);
	assert_int_equal(t_delta(m, "op", "done", "ipi.received.tlb_flush"), 2);
	t_destroy(m);

	m = mremap_anon(4 * MB, MB, MB);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.full"), 3);
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.partial"), 1);
	assert_int_equal(t_delta(m, "op", "done", "ipi.received.tlb_flush"), 4);
	t_destroy(m);

	m = mremap_anon(64 * KB, 4 * KB, 8 * KB);   /* unaligned both sides, different offsets */
	assert_int_equal(t_delta(m, "op", "done", "tlb.local.partial"), 2);
	t_destroy(m);
}

/* A whole PMD table moves with a PUD-sized, PUD-aligned extent (move_normal_pud()). */
static void test_hugetlb__mremap_anon_pud(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, "6.18.44", NULL);
	struct ptsim_mmap_args a = { .addr = MBASE, .len = GB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, MBASE, GB, 2 * MB, true));   /* one page per PTE table */
	T_OK(m, ptsim_mark(m, "op"));
	T_OK(m, ptsim_mremap(m, 1, MBASE, GB, MBASE + 4 * GB));
	T_OK(m, ptsim_mark(m, "done"));
	assert_int_equal(t_delta(m, "op", "done", "tlb.flush_requests"), 1);   /* one flush_tlb_range() */
	assert_int_equal(t_delta(m, "op", "done", "pgtables_allocated.pmd"), 0);
	assert_int_equal(t_delta(m, "op", "done", "pgtables_allocated.pte"), 0);
	T_OK(m, ptsim_touch(m, 1, MBASE + 4 * GB, GB, 2 * MB, false));
	T_OK(m, ptsim_mark(m, "read"));
	assert_int_equal(t_delta(m, "done", "read", "faults.total"), 0);
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* Bad input and the kernel's own failures. */
/*
 * mremap of a private hugetlb mapping to a destination whose offset inside
 * its 1 GiB (PUD) range differs from the source's: every page keeps its
 * offset, none is lost.  6.18.44 measured with
 * bench/real/hugetlb_mremap_offset.c (defaults, and "0x400000000 0xac9000000
 * 0x480000000 4 0xc0000000"): the written pages are present at their new
 * addresses right after mremap and read back their values; HugetlbPages
 * 12288 kB (8192 kB) before and after the move, 0 kB after munmap, and
 * HugePages_Free back to its value before the mmap.
 */
static void mremap_offset_case(enum ptsim_arch arch, uint64_t src, uint64_t len, uint64_t dst, uint64_t first,
			       unsigned int n)
{
	struct ptsim_machine *m = t_machine_cfg(arch, 0, 0, 1, "6.18.44", NULL);
	struct ptsim_mmap_args a = hugetlb_args(src, len, NULL);

	a.shared = false;
	a.populate = false;
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, first, n * 2 * MB, 2 * MB, true));
	assert_int_equal(t_mm_info(m, 1).hugetlb_kb, n * 2048);
	T_OK(m, ptsim_mremap(m, 1, src, len, dst));
	T_OK(m, ptsim_mark(m, "moved"));
	assert_int_equal(t_mm_info(m, 1).hugetlb_kb, n * 2048);
	/* Every page is where its offset says: the reads hit present entries (no fault). */
	T_OK(m, ptsim_touch(m, 1, dst + (first - src), n * 2 * MB, 2 * MB, false));
	T_OK(m, ptsim_mark(m, "read"));
	assert_int_equal(t_delta(m, "moved", "read", "faults.total"), 0);
	assert_int_equal(t_delta(m, "moved", "read", "faults.hugetlb"), 0);
	T_OK(m, ptsim_munmap(m, 1, dst, len));
	ptsim_machine_quiesce(m);
	assert_int_equal(t_mm_info(m, 1).hugetlb_kb, 0);
	assert_int_equal(t_stat(m, "pages.allocated"), n);
	assert_int_equal(t_stat(m, "pages.freed"), n);
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void test_hugetlb__mremap_pud_offsets_differ(void **s)
{
	(void)s;
	for (int a = 0; a < 2; a++) {
		enum ptsim_arch arch = a ? PTSIM_ARCH_ARM64 : PTSIM_ARCH_X86_64;
		mremap_offset_case(arch, 0x3d0000000ull, GB, 0xac9000000ull, 0x40d000000ull, 6);
		mremap_offset_case(arch, 0x400000000ull, 3 * GB, 0xac9000000ull, 0x480000000ull, 4);
		mremap_offset_case(arch, 0x3c9000000ull, GB, 0xad0000000ull, 0x3f0000000ull, 3);
	}
}

static void test_hugetlb__mremap_errors(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, "6.18.44", NULL);
	struct ptsim_mmap_args a = { .addr = MBASE, .len = 8 * MB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mmap_args b = { .addr = MBASE + GB, .len = 4 * MB, .prot = PTSIM_PROT_READ };
	struct ptsim_mmap_args h = hugetlb_args(HBASE, 4 * MB, "memfd:err");

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_mmap(m, 1, &h));
	assert_int_equal(ptsim_mremap(m, 1, MBASE + 1, 4 * KB, MBASE + 2 * GB), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'addr'"));
	assert_int_equal(ptsim_mremap(m, 1, MBASE, 4 * KB, MBASE + 2 * GB + 1), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "'new_addr'"));
	assert_int_equal(ptsim_mremap(m, 1, MBASE, 0, MBASE + 2 * GB), -EINVAL);
	assert_int_equal(ptsim_mremap(m, 1, MBASE, 4 * KB, 0x7ffffffff000ull), -ERANGE);
	/* The destination must be free. */
	assert_int_equal(ptsim_mremap(m, 1, MBASE, 4 * MB, MBASE + GB - 2 * MB), PTSIM_EOVERLAP);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "overlaps the mapping"));
	/* The kernel's answers. */
	assert_int_equal(ptsim_mremap(m, 1, MBASE + 512 * MB, 4 * KB, MBASE + 2 * GB), -EFAULT);
	assert_int_equal(ptsim_mremap(m, 1, MBASE + 4 * MB, 8 * MB, MBASE + 2 * GB), -EFAULT);   /* past the VMA */
	assert_int_equal(ptsim_mremap(m, 1, MBASE, 4 * MB, MBASE + 2 * MB), -EINVAL);   /* overlapping ranges */
	assert_int_equal(ptsim_mremap(m, 1, HBASE, 2 * MB, HBASE + GB + 4 * KB), -EINVAL);   /* hugetlb alignment */
	assert_int_equal(ptsim_mremap(m, 1, HBASE + 4 * KB, 2 * MB, HBASE + GB), -EINVAL);
	assert_int_equal(ptsim_mremap(m, 9, MBASE, 4 * KB, MBASE + 2 * GB), PTSIM_ENOTASK);
	/* Nothing changed. */
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.nr_vmas, 3);
	/* A trace names the event and the field. */
	char err[512];
	struct ptsim_machine *t = NULL;
	assert_int_equal(t_run_json("{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
				    "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x200000000000\", \"len\": \"4K\"}]}",
				    &t, err, sizeof(err)),
			 PTSIM_EBADTRACE);
	assert_non_null(strstr(err, "missing field 'new_addr'"));
	ptsim_machine_destroy(t);
	assert_int_equal(t_run_json("{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
				    "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x200000000000\", \"len\": \"4K\","
				    " \"new_addr\": \"0x300000000000\", \"expect\": \"EFAULT\"}]}",
				    &t, err, sizeof(err)),
			 0);
	t_destroy(t);
	t_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* VMA split, move_pages, touch_random                                       */
/* ------------------------------------------------------------------------ */

/* munmap of 2 MiB inside a shared GiB splits the VMA there: hugetlb_split() unshares that PUD range. */
static void test_hugetlb__split_unshares(void **s)
{
	(void)s;
	struct ptsim_machine *m = sharing_setup(2, NULL, 2, 1);

	T_OK(m, ptsim_mark(m, "a"));
	T_OK(m, ptsim_munmap(m, 10, HBASE + GB + 2 * MB, 2 * MB));
	T_OK(m, ptsim_mark(m, "b"));
	assert_int_equal(t_delta(m, "a", "b", "hugetlb.pmd_unshare"), 1);   /* the second GiB only */
	assert_int_equal(t_delta(m, "a", "b", "ipi.calls.table_sync"), 1);
	/* The child faults its pages back into a table of its own; the first GiB stays shared. */
	T_OK(m, ptsim_touch(m, 10, HBASE + GB, 2 * MB, 0, false));
	assert_int_equal(t_stat(m, "hugetlb.pmd_share"), 2);
	assert_int_equal(t_mm_info(m, 10).vmpte_kb, 4 * 3);
	T_OK(m, ptsim_exit(m, 10));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * move_pages() of a page in a table shared by parent and two children: the
 * rmap walk goes in i_mmap order, where fork puts a child right after its
 * parent (parent, child 11, child 10): the parent unshares (3 -> 2, no
 * broadcast), child 11 unshares (2 -> 1: the broadcast), and the entry of
 * the last owner, child 10, becomes a migration entry and then maps the new
 * page.  Who asked (child 11) does not matter.
 */
static void test_hugetlb__move_pages_unshares(void **s)
{
	(void)s;
	static const char *const variants[] = { NULL, "hugetlb_unshare=ipi_per_table" };
	for (int v = 0; v < 2; v++) {
		struct ptsim_machine *m = sharing_setup(3, variants[v], 1, 2);
		T_OK(m, ptsim_mark(m, "a"));
		T_OK(m, ptsim_move_pages(m, 11, HBASE + 4 * MB));
		T_OK(m, ptsim_mark(m, "b"));
		assert_int_equal(t_delta(m, "a", "b", "hugetlb.pmd_unshare"), 2);
		assert_int_equal(t_delta(m, "a", "b", "ipi.calls.table_sync"), v ? 2 : 1);
		assert_int_equal(t_delta(m, "a", "b", "migrate.pgmigrate_success"), 512);
		assert_int_equal(t_delta(m, "a", "b", "pages.freed"), 1);   /* the old huge page */
		assert_int_equal(t_mm_info(m, 1).vmpte_kb, 4);
		assert_int_equal(t_mm_info(m, 11).vmpte_kb, 4);
		assert_int_equal(t_mm_info(m, 10).vmpte_kb, 8);
		/* Everybody still reads the file: the parent and child 11 share child 10's table now. */
		T_OK(m, ptsim_touch(m, 11, HBASE, GB, 2 * MB, false));
		T_OK(m, ptsim_touch(m, 1, HBASE, GB, 2 * MB, false));
		assert_int_equal(t_mm_info(m, 1).vmpte_kb, 8);
		T_OK(m, ptsim_exit(m, 10));
		T_OK(m, ptsim_exit(m, 11));
		T_OK(m, ptsim_exit(m, 1));
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

static void test_hugetlb__move_pages_errors(void **s)
{
	(void)s;
	struct ptsim_machine *m = sharing_setup(2, NULL, 1, 1);
	struct ptsim_mmap_args anon = { .addr = MBASE, .len = 4 * MB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mmap_args lazy = hugetlb_args(HBASE + 4 * GB, 4 * MB, "memfd:lazy");

	lazy.populate = false;
	T_OK(m, ptsim_mmap(m, 1, &anon));
	T_OK(m, ptsim_mmap(m, 1, &lazy));
	T_OK(m, ptsim_touch(m, 1, MBASE, 4 * KB, 0, true));
	assert_int_equal(ptsim_move_pages(m, 1, MBASE), -EINVAL);
	assert_int_equal(ptsim_move_pages(m, 1, MBASE + 512 * MB), -EFAULT);
	assert_int_equal(ptsim_move_pages(m, 1, HBASE + 4 * GB), -ENOENT);
	assert_int_equal(ptsim_move_pages(m, 1, 1ull << 62), -ERANGE);
	/* A GUP-fast walker holds the page: the migration fails and the page is mapped again. */
	T_OK(m, ptsim_gup_fast_begin(m, 1, 10, HBASE));
	assert_int_equal(ptsim_move_pages(m, 1, HBASE), -EBUSY);
	T_OK(m, ptsim_gup_fast_end(m, 1));
	T_OK(m, ptsim_mark(m, "a"));
	T_OK(m, ptsim_touch(m, 1, HBASE, 2 * MB, 0, false));
	T_OK(m, ptsim_mark(m, "b"));
	assert_int_equal(t_delta(m, "a", "b", "faults.total"), 1);   /* its PUD entry went with the unshare */
	T_OK(m, ptsim_move_pages(m, 1, HBASE));
	T_OK(m, ptsim_exit(m, 10));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* touch_random draws from the machine's seeded generator: same seed, same pages. */
static void test_hugetlb__touch_random(void **s)
{
	(void)s;
	uint64_t faults[3];
	for (int i = 0; i < 3; i++) {
		struct ptsim_config cfg;
		struct ptsim_machine *m = NULL;
		char err[256];
		struct ptsim_mmap_args a = hugetlb_args(HBASE, 64 * GB, NULL);

		ptsim_config_init(&cfg);
		cfg.seed = i < 2 ? 7 : 8;
		if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
			fail_msg("%s", err);
		a.populate = false;
		T_OK(m, ptsim_spawn(m, 1, 0));
		T_OK(m, ptsim_mmap(m, 1, &a));
		T_OK(m, ptsim_touch_random(m, 1, HBASE, 64 * GB, 2 * MB, 100, false));
		faults[i] = t_stat(m, "pgtables_allocated.pmd");
		assert_true(faults[i] > 40 && faults[i] <= 64);
		assert_int_equal(t_stat(m, "accesses"), 100);
		assert_int_equal(ptsim_touch_random(m, 1, HBASE, 64 * GB, 2 * MB, 0, false), -EINVAL);
		assert_non_null(strstr(ptsim_machine_errmsg(m), "'count'"));
		assert_int_equal(ptsim_touch_random(m, 1, HBASE, 0, 2 * MB, 1, false), -EINVAL);
		t_destroy(m);
	}
	assert_int_equal(faults[0], faults[1]);
}

/* The trace ops: run as written, bad input named by event and field. */
static void test_hugetlb__trace_ops(void **s)
{
	(void)s;
	char err[512];
	struct ptsim_machine *m = NULL;

	assert_int_equal(t_run_json("{\"ptsim_trace\": 1, \"machine\": {\"seed\": 5}, \"events\": ["
				    "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
				    "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x4000000000\", \"len\": \"2G\", \"prot\": \"rw\","
				    " \"kind\": \"hugetlb\", \"shared\": true, \"file\": \"f\"},"
				    "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x200000000000\", \"len\": \"2M\", \"prot\": \"rw\"},"
				    "{\"op\": \"touch_random\", \"task\": 1, \"addr\": \"0x4000000000\", \"len\": \"2G\","
				    " \"stride\": \"2M\", \"count\": 10, \"write\": true},"
				    "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x200000000000\", \"len\": \"4K\", \"write\": true},"
				    "{\"op\": \"move_pages\", \"task\": 1, \"addr\": \"0x200000000000\", \"expect\": \"EINVAL\"},"
				    "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x4000000000\", \"len\": \"1G\","
				    " \"new_addr\": \"0x4020000000\", \"expect\": \"EINVAL\"},"
				    "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x4000000000\", \"len\": \"1G\","
				    " \"new_addr\": \"0x5000000000\"},"
				    "{\"op\": \"exit\", \"task\": 1}]}",
				    &m, err, sizeof(err)),
			 0);
	assert_int_equal(t_stat(m, "accesses"), 11);
	t_destroy(m);

	assert_int_equal(t_run_json("{\"ptsim_trace\": 1, \"events\": [{\"op\": \"touch_random\", \"task\": 1,"
				    " \"addr\": \"0x4000000000\", \"len\": \"2G\"}]}",
				    &m, err, sizeof(err)),
			 PTSIM_EBADTRACE);
	assert_non_null(strstr(err, "events[0] (touch_random): missing field 'count'"));
	ptsim_machine_destroy(m);
	assert_int_equal(t_run_json("{\"ptsim_trace\": 1, \"events\": [{\"op\": \"move_pages\", \"task\": 1,"
				    " \"addr\": \"0x4000000000\", \"len\": \"2M\"}]}",
				    &m, err, sizeof(err)),
			 PTSIM_EBADTRACE);
	assert_non_null(strstr(err, "unknown field 'len' for op move_pages"));
	ptsim_machine_destroy(m);
	/* The kernel's failure without expect stops the run, naming the event. */
	assert_int_equal(t_run_json("{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
				    "{\"op\": \"move_pages\", \"task\": 1, \"addr\": \"0x4000000000\"}]}",
				    &m, err, sizeof(err)),
			 -EFAULT);
	assert_non_null(strstr(err, "event 1 (move_pages)"));
	ptsim_machine_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* The seed at full scale (traces/seeds, bench/bench_hugetlb_seed.c)        */
/* ------------------------------------------------------------------------ */

/*
 * 196 CPUs, 1000 children x 100 random huge pages of a 1.2 TB mapping, up to
 * 195 children alive: 94,794 tables unshared, each of the 1,200 PUD ranges'
 * tables made exclusive once.  Before the fix one broadcast per unshared
 * table (195 IPIs each); after, one per exit that made some table exclusive
 * (82 exits), never more than one.
 */
static void test_hugetlb__seed_full_scale(void **s)
{
	(void)s;
	const char *trace = "seeds/000_9d4a9cd44a7ae822_forkexit.json";
	struct ptsim_machine *m = run_trace_cpus(trace, 0, NULL);

	assert_int_equal(t_delta(m, "start", "end", "hugetlb.pmd_unshare"), 94794);
	assert_int_equal(t_delta(m, "start", "end", "hugetlb.pmd_unshare_last"), 1200);
	assert_int_equal(t_delta(m, "start", "end", "ipi.calls.table_sync"), 82);
	assert_int_equal(t_delta(m, "start", "end", "ipi.received.table_sync"), 82 * 195);
	assert_int_equal(t_delta(m, "start", "end", "ipi.received.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);

	const char *set[] = { "hugetlb_unshare=ipi_per_table", NULL };
	m = run_trace_cpus(trace, 0, set);
	assert_int_equal(t_delta(m, "start", "end", "ipi.calls.table_sync"), 94794);
	assert_int_equal(t_delta(m, "start", "end", "ipi.received.table_sync"), 94794ull * 195);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hugetlb__w2_rows_6_18_44),
		cmocka_unit_test(test_hugetlb__w2_vmpte),
		cmocka_unit_test(test_hugetlb__w2_rows_ipi_per_table),
		cmocka_unit_test(test_hugetlb__w2_rows_none),
		cmocka_unit_test(test_hugetlb__w2_64_cpus),
		cmocka_unit_test(test_hugetlb__w2_x86_table_flush_implies_ipi),
		cmocka_unit_test(test_hugetlb__x86_unshare_skips_lazy_walk_cache),
		cmocka_unit_test(test_hugetlb__x86_series_flush_with_invlpgb),
		cmocka_unit_test(test_hugetlb__presets),
		cmocka_unit_test(test_hugetlb__parent_munmap_broadcasts),
		cmocka_unit_test(test_hugetlb__child_exit_broadcasts),
		cmocka_unit_test(test_hugetlb__only_the_last_unsharer_broadcasts),
		cmocka_unit_test(test_hugetlb__mprotect_shared),
		cmocka_unit_test(test_hugetlb__mremap_shared),
		cmocka_unit_test(test_hugetlb__munmap_shared),
		cmocka_unit_test(test_hugetlb__gup_fast_mmu_gather_waits),
		cmocka_unit_test(test_hugetlb__gup_fast_no_broadcast_violation),
		cmocka_unit_test(test_hugetlb__gup_fast_none_violation),
		cmocka_unit_test(test_hugetlb__gup_fast_ipi_per_table_waits),
		cmocka_unit_test(test_hugetlb__gup_fast_x86_ipi_flush_waits),
		cmocka_unit_test(test_hugetlb__gup_fast_last_sharer_covers),
		cmocka_unit_test(test_hugetlb__blocked_op_retakes_i_mmap_lock),
		cmocka_unit_test(test_hugetlb__move_pages_shared_table_walker),
		cmocka_unit_test(test_hugetlb__mremap_anon),
		cmocka_unit_test(test_hugetlb__mremap_anon_pud),
		cmocka_unit_test(test_hugetlb__mremap_errors),
		cmocka_unit_test(test_hugetlb__mremap_pud_offsets_differ),
		cmocka_unit_test(test_hugetlb__split_unshares),
		cmocka_unit_test(test_hugetlb__move_pages_unshares),
		cmocka_unit_test(test_hugetlb__move_pages_errors),
		cmocka_unit_test(test_hugetlb__touch_random),
		cmocka_unit_test(test_hugetlb__trace_ops),
		cmocka_unit_test(test_hugetlb__seed_full_scale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
