/*
 * Real kernel bugs in TLB flushing, page-table freeing and lockless walks
 * (issue 14), each a trace under traces/bugs/ that sets the buggy kernel in
 * its machine section (docs/bugs.md).  For each: the oracle reports exactly
 * the expected violations, of the expected kind, on the buggy configuration;
 * nothing on the fixed one; and `ptsim run` exits 3 and 0 respectively.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support/helpers.h"

struct bug_case {
	const char *trace;                 /* below traces/bugs/ */
	enum ptsim_violation_kind kind;    /* what the buggy run reports */
	size_t count;                      /* how many of them */
	const char *fixed_preset;          /* NULL: keep the trace's */
	const char *fixed_set;             /* NULL: none */
};

static const struct bug_case cases[] = {
	{ "CVE-2026-74674.json", PTSIM_VIOL_PWC, 1, "7.1.9", NULL },
	{ "CVE-2026-74674.json", PTSIM_VIOL_PWC, 1, NULL, "x86_pwc_invlpg=global" },
	{ "CVE-2026-74674.json", PTSIM_VIOL_PWC, 1, "6.18.44", NULL },
	{ "CVE-2026-74674_arm64.json", PTSIM_VIOL_PWC, 2, "7.1.9", NULL },
	{ "CVE-2026-74674_arm64.json", PTSIM_VIOL_PWC, 2, "6.18.44", NULL },
};

static void set_preset(struct ptsim_config *cfg, const void *ctx)
{
	if (ctx)
		cfg->preset = ctx;
}

/* The fixed configuration must be clean, keeping any override the trace makes unless replaced. */
static void check_case(const struct bug_case *c)
{
	char rel[256];
	struct ptsim_machine *m = NULL;

	snprintf(rel, sizeof(rel), "bugs/%s", c->trace);
	m = t_run_trace(rel, NULL);
	if (t_violations(m, c->kind) != c->count || ptsim_violation_count(m) != c->count)
		fail_msg("%s: %zu violations (%zu of the expected kind), expected %zu", rel, ptsim_violation_count(m),
			 t_violations(m, c->kind), c->count);
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

	snprintf(cmd, sizeof(cmd), "'%s' run '%s/bugs/%s'%s%s%s%s >/dev/null 2>&1", PTSIM_CLI, PTSIM_TRACES_DIR, trace,
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bugs__corpus),
		cmocka_unit_test(test_bugs__cve_2026_74674_x86),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
