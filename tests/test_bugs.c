/*
 * Real kernel bugs in TLB flushing, page-table freeing and lockless walks
 * (issue 14), each a trace (under traces/bugs/, or the seed/example trace
 * that already showed it) that sets the buggy kernel in its machine section
 * (docs/bugs.md).  For each: the oracle reports exactly
 * the expected violations, of the expected kind, on the buggy configuration;
 * nothing on the fixed one; and `ptsim run` exits 3 and 0 respectively.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support/helpers.h"

struct bug_case {
	const char *trace;                 /* below traces/ */
	enum ptsim_violation_kind kind;    /* what the buggy run reports */
	size_t count;                      /* how many of that kind */
	size_t total;                      /* how many violations in all */
	const char *fixed_preset;          /* NULL: keep the trace's */
	const char *fixed_set;             /* NULL: none */
};

static const struct bug_case cases[] = {
	{ "bugs/CVE-2026-74674.json", PTSIM_VIOL_PWC, 1, 1, "7.1.9", NULL },
	{ "bugs/CVE-2026-74674.json", PTSIM_VIOL_PWC, 1, 1, NULL, "x86_pwc_invlpg=global" },
	{ "bugs/CVE-2026-74674.json", PTSIM_VIOL_PWC, 1, 1, "6.18.44", NULL },
	{ "bugs/CVE-2026-74674_arm64.json", PTSIM_VIOL_PWC, 2, 2, "7.1.9", NULL },
	{ "bugs/CVE-2026-74674_arm64.json", PTSIM_VIOL_PWC, 2, 2, "6.18.44", NULL },
	{ "bugs/a6f572084fbe.json", PTSIM_VIOL_PWC, 6, 6, NULL, "table_free=semi_rcu" },
	{ "bugs/d86564a2f085.json", PTSIM_VIOL_PWC, 2, 2, NULL, "table_free=semi_rcu" },
	{ "bugs/2ff6ddf19c0e.json", PTSIM_VIOL_PWC, 1, 1, NULL, "x86_lazy_freed_tables=ipi" },
	{ "bugs/3ef938c35035.json", PTSIM_VIOL_PWC, 1, 1, NULL, "flush_tlb_range_freed_tables=on" },
	{ "bugs/3ef938c35035.json", PTSIM_VIOL_PWC, 1, 1, "6.12.35", NULL },   /* 6.12.23 has the fix */
	{ "bugs/CVE-2026-63875.json", PTSIM_VIOL_PWC, 2, 2, "7.0", NULL },
	{ "bugs/CVE-2026-63875.json", PTSIM_VIOL_PWC, 2, 2, NULL, "arm64_walkcache_fix=on" },
	{ "bugs/CVE-2026-63875.json", PTSIM_VIOL_PWC, 2, 2, "6.18.44", NULL },   /* 6.18.35 has the fix */
	{ "seeds/pt_reclaim_v1_lost_mappings.json", PTSIM_VIOL_NONEMPTY_TABLE, 1, 3, NULL, "pt_reclaim=on" },
	{ "examples/hugetlb_unshare_lazy_cpu.json", PTSIM_VIOL_PWC, 1, 1, NULL, "x86_table_flush_implies_ipi=on" },
	{ "bugs/hugetlb_move_pages_lazy_cpu.json", PTSIM_VIOL_PWC, 1, 1, NULL, "x86_table_flush_implies_ipi=on" },
	{ "bugs/hugetlb_move_pages_lazy_cpu.json", PTSIM_VIOL_PWC, 1, 1, "6.18", NULL },   /* before 8ce720d5bd91 */
};

static void set_preset(struct ptsim_config *cfg, const void *ctx)
{
	if (ctx)
		cfg->preset = ctx;
}

/* The fixed configuration must be clean, keeping any override the trace makes unless replaced. */
static void check_case(const struct bug_case *c)
{
	const char *rel = c->trace;
	struct ptsim_machine *m = t_run_trace(rel, NULL);

	if (t_violations(m, c->kind) != c->count || ptsim_violation_count(m) != c->total)
		fail_msg("%s: %zu violations (%zu of the expected kind), expected %zu (%zu)", rel,
			 ptsim_violation_count(m), t_violations(m, c->kind), c->total, c->count);
	t_destroy(m);

	const char *set[] = { c->fixed_set, NULL };
	m = t_run_trace_adjusted(rel, c->fixed_set ? set : NULL, set_preset, c->fixed_preset);
	if (ptsim_violation_count(m) != 0)
		fail_msg("%s fixed (%s %s): %zu violations", rel, c->fixed_preset ? c->fixed_preset : "",
			 c->fixed_set ? c->fixed_set : "", ptsim_violation_count(m));
	t_destroy(m);
}

/* `ptsim run` exit status: 3 buggy, 0 fixed. */
static int cli_status(const char *trace, const char *preset, const char *set)
{
	char cmd[1024];
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' run '%s/%s'%s%s%s%s >/dev/null 2>&1", PTSIM_CLI, PTSIM_TRACES_DIR, trace,
		 preset ? " --preset " : "", preset ? preset : "", set ? " --set " : "", set ? set : "");
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_bugs__corpus(void **s)
{
	(void)s;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		check_case(&cases[i]);
		assert_int_equal(cli_status(cases[i].trace, NULL, NULL), 3);
		assert_int_equal(cli_status(cases[i].trace, cases[i].fixed_preset, cases[i].fixed_set), 0);
	}
}

/*
 * CVE-2026-74674 in detail: the reclaiming MADV_DONTNEED finds nothing to
 * zap, detaches the empty table (fast path) and frees it through
 * pte_free_tlb(); the one flush is a partial flush of one 2 MiB stride at the
 * address recorded — one past the table in 7.0 — on both CPUs.
 */
static void test_bugs__cve_2026_74674_x86(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_run_trace("bugs/CVE-2026-74674.json", NULL);
	struct ptsim_violation v;

	assert_int_equal(t_delta(m, "cached", "reclaimed", "pt_reclaim.fast_path"), 1);
	assert_int_equal(t_delta(m, "cached", "reclaimed", "pt_reclaim.tables_freed"), 1);
	assert_int_equal(t_delta(m, "cached", "reclaimed", "pgtables_freed.pte"), 1);
	assert_int_equal(t_delta(m, "cached", "reclaimed", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "cached", "reclaimed", "tlb.local.partial"), 1);
	assert_int_equal(t_delta(m, "cached", "reclaimed", "tlb.remote.partial"), 1);
	assert_int_equal(ptsim_violation_count(m), 1);
	T_OK(m, ptsim_violation_get(m, 0, &v));
	assert_int_equal(v.kind, PTSIM_VIOL_PWC);
	assert_int_equal(v.cpu, 1);
	assert_int_equal(v.addr, 0x40000000);
	t_destroy(m);
}

/*
 * The 2018 lazy-TLB hazard (2ff6ddf19c0e) and the 4.18 RCU table-free
 * fallback (d86564a2f085) in figures: the lazy CPU gets no IPI from the
 * table-freeing munmap until the fix; the fallback sends its sync IPI and
 * frees the table before the one flush IPI.
 */
static void test_bugs__lazy_cpu_and_fallback_counts(void **s)
{
	(void)s;
	const char *const ipi[] = { "x86_lazy_freed_tables=ipi", NULL };
	struct ptsim_machine *m = t_run_trace("bugs/2ff6ddf19c0e.json", NULL);

	assert_int_equal(t_delta(m, "lazy", "unmapped", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(m, "lazy", "unmapped", "pgtables_freed.pte"), 1);
	t_destroy(m);
	m = t_run_trace("bugs/2ff6ddf19c0e.json", ipi);
	assert_int_equal(t_delta(m, "lazy", "unmapped", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "lazy", "unmapped", "ipi.received.tlb_flush"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);

	m = t_run_trace("bugs/d86564a2f085.json", NULL);
	assert_int_equal(t_delta(m, "cached", "unmapped", "mmu_gather.single_table_fallback"), 1);
	assert_int_equal(t_delta(m, "cached", "unmapped", "ipi.calls.table_sync"), 1);
	assert_int_equal(t_delta(m, "cached", "unmapped", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "cached", "unmapped", "pgtables_freed.pte"), 1);
	t_destroy(m);
}

/*
 * The move_pages path of the open x86 unsharing gap in figures: the flush of
 * the unsharing mm goes to the CPU running it (1 IPI received), not to its
 * lazy CPU 2; with the queued series (unshared_tables passed as
 * freed_tables) and before 8ce720d5bd91 (flush_tlb_range()) CPU 2 gets it
 * too.  One table unshared, the last sharer's step: one broadcast (none
 * before 1013af4f585f).
 */
static void move_pages_lazy_case(const char *preset, const char *set, long received, long broadcasts, size_t violations)
{
	const char *const sets[] = { set, NULL };
	struct ptsim_machine *m = t_run_trace_adjusted("bugs/hugetlb_move_pages_lazy_cpu.json", set ? sets : NULL,
						       set_preset, preset);
	struct ptsim_violation v;

	assert_int_equal(t_delta(m, "shared", "unshared", "hugetlb.pmd_unshare"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "hugetlb.pmd_unshare_last"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "hugetlb.unshare_broadcasts"), broadcasts);
	assert_int_equal(t_delta(m, "shared", "unshared", "migrate.pgmigrate_success"), 512);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "shared", "unshared", "ipi.received.tlb_flush"), received);
	assert_int_equal(t_delta(m, "unshared", "owner_freed", "pgtables_freed.pmd"), 1);
	assert_int_equal(ptsim_violation_count(m), violations);
	if (violations) {
		T_OK(m, ptsim_violation_get(m, 0, &v));
		assert_int_equal(v.kind, PTSIM_VIOL_PWC);
		assert_int_equal(v.cpu, 2);
		assert_int_equal(v.addr, 0x40000000);
	}
	t_destroy(m);
}

static void test_bugs__move_pages_unshare_skips_lazy_cpu(void **s)
{
	(void)s;
	move_pages_lazy_case(NULL, NULL, 1, 1, 1);
	move_pages_lazy_case("6.19", NULL, 1, 1, 1);
	move_pages_lazy_case("7.1.9", NULL, 1, 1, 1);
	move_pages_lazy_case(NULL, "x86_table_flush_implies_ipi=on", 2, 1, 0);
	move_pages_lazy_case("6.18", NULL, 2, 1, 0);
	move_pages_lazy_case("6.12.35", NULL, 2, 1, 0);
	move_pages_lazy_case("6.12", NULL, 1, 0, 1);   /* flush_tlb_range() without 3ef938c35035 */
}

/*
 * CVE-2026-63875's leaf-only flush after an unshare is older than the
 * mmu_gather unsharing it was fixed for: before 8ce720d5bd91,
 * __unmap_hugepage_range()'s force_flush (tlb_flush_pmd_range() + a flush
 * without freed_tables) is leaf-only too, and under the exit's fullmm gather
 * it issues nothing, so the older presets report the same two [pwc]; 6.18.44
 * (8ce720d5bd91 + c2ff4764e03e) and 7.0 do not.
 */
static void test_bugs__cve_2026_63875_before_mmu_gather(void **s)
{
	(void)s;
	static const struct {
		const char *preset;
		size_t pwc;
	} runs[] = { { "6.18", 2 }, { "6.16", 2 }, { "6.12.35", 2 }, { "6.12", 2 }, { "6.18.44", 0 }, { "7.0", 0 } };

	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		struct ptsim_machine *m = t_run_trace_adjusted("bugs/CVE-2026-63875.json", NULL, set_preset, runs[i].preset);
		if (t_violations(m, PTSIM_VIOL_PWC) != runs[i].pwc || ptsim_violation_count(m) != runs[i].pwc)
			fail_msg("%s: %zu violations (%zu [pwc]), expected %zu [pwc]", runs[i].preset,
				 ptsim_violation_count(m), t_violations(m, PTSIM_VIOL_PWC), runs[i].pwc);
		assert_int_equal(t_delta(m, "shared", "unshared", "hugetlb.pmd_unshare"), 2);
		t_destroy(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bugs__corpus),
		cmocka_unit_test(test_bugs__cve_2026_74674_x86),
		cmocka_unit_test(test_bugs__lazy_cpu_and_fallback_counts),
		cmocka_unit_test(test_bugs__move_pages_unshare_skips_lazy_cpu),
		cmocka_unit_test(test_bugs__cve_2026_63875_before_mmu_gather),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
