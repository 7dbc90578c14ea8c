/*
 * The safety oracle: a GUP-fast walker inside a PTE table on CPU2 while CPU0
 * frees that table.  Every safe variant frees it only after the walker ends
 * (the flush IPI to CPU2 waits for IRQs, RCU waits for the IRQs-off section);
 * the unsafe variants are caught and the violation names the table.
 */
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"

/* Threads 1 (CPU0) and 2 (CPU2) of one process; 2 walks into the first PTE table, 1 unmaps it. */
static const char walker_trace[] =
	"{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 3}, \"events\": ["
	"{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
	"{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4M\", \"prot\": \"rw\"},"
	"{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4M\", \"write\": true},"
	"{\"op\": \"thread\", \"task\": 1, \"thread\": 2, \"cpu\": 2},"
	"{\"op\": \"touch\", \"task\": 2, \"addr\": \"0x100000000000\", \"len\": \"4M\"},"
	"{\"op\": \"mark\", \"name\": \"start\"},"
	"{\"op\": \"gup_fast_begin\", \"cpu\": 2, \"task\": 2, \"addr\": \"0x100000001000\"},"
	"{\"op\": \"munmap\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"2M\"},"
	"{\"op\": \"mark\", \"name\": \"during\"},"
	"{\"op\": \"gup_fast_end\", \"cpu\": 2},"
	"{\"op\": \"mark\", \"name\": \"after\"},"
	"{\"op\": \"exit\", \"task\": 2},"
	"{\"op\": \"exit\", \"task\": 1}]}";

static struct ptsim_machine *run_walker(const char *const *set)
{
	char json[4096], err[512];
	struct ptsim_machine *m = NULL;
	size_t n = (size_t)snprintf(json, sizeof(json), "%s", walker_trace);

	/* Splice the overrides into the machine section. */
	if (set && set[0]) {
		char sets[512] = "";
		for (size_t i = 0; set[i]; i++) {
			const char *eq = strchr(set[i], '=');
			size_t l = strlen(sets);
			snprintf(sets + l, sizeof(sets) - l, "%s\"%.*s\": \"%s\"", i ? ", " : "", (int)(eq - set[i]), set[i],
				 eq + 1);
		}
		char *mach = strstr(json, "\"cpus\": 3}");
		char tail[4096];
		snprintf(tail, sizeof(tail), "%s", mach + strlen("\"cpus\": 3}"));
		snprintf(mach, sizeof(json) - (size_t)(mach - json), "\"cpus\": 3, \"set\": {%s}}%s", sets, tail);
	}
	(void)n;
	if (t_run_json(json, &m, err, sizeof(err)))
		fail_msg("walker trace: %s", err);
	return m;
}

static void expect_safe(const char *const *set)
{
	struct ptsim_machine *m = run_walker(set);

	if (ptsim_violation_count(m)) {
		struct ptsim_violation v;
		ptsim_violation_get(m, 0, &v);
		fail_msg("%s: unexpected violation: %s", set[0], v.message);
	}
	/* The PTE table under the walker is not freed while it walks... */
	assert_int_equal(t_delta(m, "start", "during", "pgtables_freed.pte"), 0);
	/* ...and is freed once it is done. */
	assert_int_equal(t_delta(m, "start", "after", "pgtables_freed.pte"), 1);
	t_destroy(m);
}

static void test_oracle__walker_rcu_safe(void **s)
{
	(void)s;
	static const char *const set[] = { "table_free=rcu", NULL };
	expect_safe(set);
}

static void test_oracle__walker_rcu_single_table_safe(void **s)
{
	(void)s;
	static const char *const set[] = { "table_free=rcu", "table_batch_alloc=fail", NULL };
	expect_safe(set);
}

static void test_oracle__walker_semi_rcu_safe(void **s)
{
	(void)s;
	static const char *const set[] = { "table_free=semi_rcu", "table_batch_alloc=fail", NULL };
	struct ptsim_machine *m = run_walker(set);

	assert_int_equal(ptsim_violation_count(m), 0);
	assert_int_equal(t_delta(m, "start", "during", "pgtables_freed.pte"), 0);
	assert_int_equal(t_delta(m, "start", "after", "pgtables_freed.pte"), 1);
	/* The single-table fallback broadcasts a sync IPI, which the walker's CPU takes late. */
	assert_int_equal(t_delta(m, "start", "after", "ipi.calls.table_sync"), 1);
	assert_true(t_delta(m, "start", "after", "ipi.delayed_by_irqs_off") >= 2);
	t_destroy(m);
}

static void test_oracle__walker_after_flush_safe(void **s)
{
	(void)s;
	static const char *const set[] = { "table_free=after_flush", NULL };
	expect_safe(set);
}

/* The deliberately unsafe variant: the table goes before any flush or wait. */
static void test_oracle__walker_immediate_violation(void **s)
{
	(void)s;
	static const char *const set[] = { "table_free=immediate", NULL };
	struct ptsim_machine *m = run_walker(set);
	struct ptsim_violation v;
	bool found = false;

	assert_int_equal(t_violations(m, PTSIM_VIOL_WALKER), 1);
	for (size_t i = 0; i < ptsim_violation_count(m); i++) {
		ptsim_violation_get(m, i, &v);
		if (v.kind != PTSIM_VIOL_WALKER)
			continue;
		found = true;
		assert_int_equal(v.cpu, 2);
		char name[64];
		snprintf(name, sizeof(name), "page table %llu", (unsigned long long)v.pfn);
		assert_non_null(strstr(v.message, name));
		assert_int_equal(v.addr, 0x100000001000ull);
	}
	assert_true(found);
	/* Both CPUs' paging-structure caches still pointed at it, too. */
	assert_true(t_violations(m, PTSIM_VIOL_PWC) >= 1);
	assert_int_equal(t_delta(m, "start", "during", "pgtables_freed.pte"), 1);
	t_destroy(m);
}

/* Without the walker every variant is clean (the oracle does not cry wolf). */
static void test_oracle__no_walker_all_clean(void **s)
{
	(void)s;
	static const char *const variants[] = { "table_free=rcu", "table_free=semi_rcu", "table_free=after_flush" };
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const char *set[] = { variants[i], NULL };
		struct ptsim_machine *m = t_run_trace("oracle/w3_munmap_spin.json", set);
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/*
 * INVLPGB: once the mm has a global ASID, flushes are broadcast instructions,
 * no IPIs: a walker with IRQs off is not waited for.  Freed right after the
 * flush (no RCU table freeing) that is unsafe; with RCU it is safe.
 * Tasks 32.. so that the global-ASID sampling (pid & 31 == jiffies & 31) fires.
 */
static const char invlpgb_trace_fmt[] =
	"{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 5, \"set\": {\"x86_flush\": \"invlpgb\", \"table_free\": \"%s\"}},"
	" \"events\": ["
	"{\"op\": \"spawn\", \"task\": 32, \"cpu\": 0},"
	"{\"op\": \"mmap\", \"task\": 32, \"addr\": \"0x100000000000\", \"len\": \"8M\", \"prot\": \"rw\"},"
	"{\"op\": \"touch\", \"task\": 32, \"addr\": \"0x100000000000\", \"len\": \"8M\", \"write\": true},"
	"{\"op\": \"thread\", \"task\": 32, \"thread\": 33, \"cpu\": 1},"
	"{\"op\": \"thread\", \"task\": 32, \"thread\": 34, \"cpu\": 2},"
	"{\"op\": \"thread\", \"task\": 32, \"thread\": 35, \"cpu\": 3},"
	"{\"op\": \"touch\", \"task\": 34, \"addr\": \"0x100000000000\", \"len\": \"8M\"},"
	"{\"op\": \"munmap\", \"task\": 32, \"addr\": \"0x100000600000\", \"len\": \"4K\", \"comment\": \"IPI flush; the mm gets a global ASID\"},"
	"{\"op\": \"sleep\", \"task\": 33}, {\"op\": \"run\", \"task\": 33, \"cpu\": 1},"
	"{\"op\": \"sleep\", \"task\": 34}, {\"op\": \"run\", \"task\": 34, \"cpu\": 2},"
	"{\"op\": \"sleep\", \"task\": 35}, {\"op\": \"run\", \"task\": 35, \"cpu\": 3},"
	"{\"op\": \"sleep\", \"task\": 32}, {\"op\": \"run\", \"task\": 32, \"cpu\": 0},"
	"{\"op\": \"munmap\", \"task\": 32, \"addr\": \"0x100000601000\", \"len\": \"4K\", \"comment\": \"broadcast; transition over\"},"
	"{\"op\": \"touch\", \"task\": 34, \"addr\": \"0x100000000000\", \"len\": \"2M\"},"
	"{\"op\": \"mark\", \"name\": \"start\"},"
	"{\"op\": \"gup_fast_begin\", \"cpu\": 2, \"task\": 34, \"addr\": \"0x100000001000\"},"
	"{\"op\": \"munmap\", \"task\": 32, \"addr\": \"0x100000000000\", \"len\": \"2M\"},"
	"{\"op\": \"mark\", \"name\": \"during\"},"
	"{\"op\": \"gup_fast_end\", \"cpu\": 2},"
	"{\"op\": \"mark\", \"name\": \"after\"}]}";

static struct ptsim_machine *run_invlpgb(const char *table_free)
{
	char json[4096], err[512];
	struct ptsim_machine *m = NULL;

	snprintf(json, sizeof(json), invlpgb_trace_fmt, table_free);
	if (t_run_json(json, &m, err, sizeof(err)))
		fail_msg("invlpgb trace: %s", err);
	return m;
}

static void test_oracle__invlpgb_after_flush_unsafe(void **s)
{
	(void)s;
	struct ptsim_machine *m = run_invlpgb("after_flush");

	/* Broadcast invalidation, no flush IPI during the table free. */
	assert_int_equal(t_delta(m, "start", "during", "ipi.calls.tlb_flush"), 0);
	assert_true(t_delta(m, "start", "during", "tlb.invlpgb") >= 1);
	assert_int_equal(t_violations(m, PTSIM_VIOL_WALKER), 1);
	t_destroy(m);
}

static void test_oracle__invlpgb_rcu_safe(void **s)
{
	(void)s;
	struct ptsim_machine *m = run_invlpgb("rcu");

	assert_int_equal(t_delta(m, "start", "during", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	assert_int_equal(t_delta(m, "start", "during", "pgtables_freed.pte"), 0);
	assert_int_equal(t_delta(m, "start", "after", "pgtables_freed.pte"), 1);
	t_destroy(m);
}

/*
 * use_global_asid() needs more than 3 CPUs really running the mm
 * (mm_active_cpus_exceeds() skips lazy ones).  Five threads on five CPUs,
 * @asleep of them asleep (lazy); the munmap at 2.017 s is sampled
 * ((pid & 31) == (jiffies & 31)).  PT reclaim off: the last munmap frees
 * the PTE table that MADV_DONTNEED emptied.
 */
static struct ptsim_machine *run_global_asid(int asleep)
{
	char json[2048], err[512], sleeps[256] = "";

	for (int t = 0; t < asleep; t++)
		snprintf(sleeps + strlen(sleeps), sizeof(sleeps) - strlen(sleeps),
			 "{\"op\": \"sleep\", \"task\": %d},", 5 - t);
	snprintf(json, sizeof(json),
		 "{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 5, \"set\": {\"x86_flush\": \"invlpgb\", \"pt_reclaim\": \"off\"}}, \"events\": ["
		 "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
		 "{\"op\": \"thread\", \"task\": 1, \"thread\": 2, \"cpu\": 1},"
		 "{\"op\": \"thread\", \"task\": 1, \"thread\": 3, \"cpu\": 2},"
		 "{\"op\": \"thread\", \"task\": 1, \"thread\": 4, \"cpu\": 3},"
		 "{\"op\": \"thread\", \"task\": 1, \"thread\": 5, \"cpu\": 4},"
		 "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4M\", \"prot\": \"rw\"},"
		 "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4M\", \"write\": true},"
		 "%s"
		 "{\"op\": \"advance\", \"ms\": 2017},"
		 "{\"op\": \"munmap\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4K\"},"
		 "{\"op\": \"mark\", \"name\": \"first\"},"
		 "{\"op\": \"munmap\", \"task\": 1, \"addr\": \"0x100000100000\", \"len\": \"4K\"},"
		 "{\"op\": \"mark\", \"name\": \"second\"},"
		 "{\"op\": \"madvise\", \"task\": 1, \"addr\": \"0x100000200000\", \"len\": \"2M\", \"advice\": \"dontneed\"},"
		 "{\"op\": \"mark\", \"name\": \"emptied\"},"
		 "{\"op\": \"munmap\", \"task\": 1, \"addr\": \"0x100000200000\", \"len\": \"2M\"},"
		 "{\"op\": \"mark\", \"name\": \"table_freed\"}]}",
		 sleeps);
	struct ptsim_machine *m = NULL;
	if (t_run_json(json, &m, err, sizeof(err)))
		fail_msg("global ASID trace: %s", err);
	return m;
}

static void test_oracle__invlpgb_global_asid_counts_running_cpus(void **s)
{
	(void)s;
	/* 4 running CPUs: the first munmap (IPIs) moves the mm to a global ASID, the second is an INVLPGB. */
	struct ptsim_machine *m = run_global_asid(1);
	assert_int_equal(t_mark_stat(m, "first", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "first", "second", "tlb.invlpgb"), 1);
	/* 512 pages: widened to a full flush, one INVLPGB of the ASID. */
	assert_int_equal(t_delta(m, "second", "emptied", "tlb.invlpgb_full"), 1);
	/* Only the empty PTE table goes: a range shorter than its stride is still one INVLPGB. */
	assert_int_equal(t_delta(m, "emptied", "table_freed", "pgtables_freed.pte"), 1);
	assert_int_equal(t_delta(m, "emptied", "table_freed", "tlb.invlpgb"), 1);
	assert_int_equal(t_delta(m, "emptied", "table_freed", "tlb.tlbsync"), 1);
	assert_int_equal(t_delta(m, "second", "table_freed", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
	/* 3 running, 2 lazy: not more than 3 active CPUs, IPIs stay (to the 2 other running CPUs). */
	m = run_global_asid(2);
	assert_int_equal(t_mark_stat(m, "second", "ipi.calls.tlb_flush"), 2);
	assert_int_equal(t_mark_stat(m, "second", "ipi.received.tlb_flush"), 4);
	assert_int_equal(t_mark_stat(m, "second", "tlb.invlpgb"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* While CPU0's munmap waits for the walker's CPU, CPU0 cannot start anything else. */
static void test_oracle__blocked_cpu_rejects_work(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char json[4096], err[512];
	const char *cut = strstr(walker_trace, "{\"op\": \"mark\", \"name\": \"during\"}");

	snprintf(json, sizeof(json), "%.*s{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000200000\", \"len\": \"4K\"}]}",
		 (int)(cut - walker_trace), walker_trace);
	assert_int_equal(t_run_json(json, &m, err, sizeof(err)), PTSIM_ECPUBUSY);
	assert_non_null(strstr(err, "event 8 (touch)"));
	assert_non_null(strstr(err, "GUP-fast"));
	ptsim_machine_destroy(m);
}

/*
 * An exiting mm's flush IPI waits for a CPU inside a GUP-fast walk (the CPU
 * was left in mm_cpumask): the exit runs to its end, but the mm must outlive
 * the queued call, which runs when the walk ends.
 */
static void test_oracle__queued_flush_outlives_exited_mm(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char err[512];
	const char *json =
		"{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 2}, \"events\": ["
		"{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
		"{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000\", \"len\": \"2M\", \"prot\": \"rw\"},"
		"{\"op\": \"spawn\", \"task\": 2, \"cpu\": 0},"
		"{\"op\": \"run\", \"task\": 1, \"cpu\": 1},"
		"{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000000\", \"len\": \"4K\", \"write\": true},"
		"{\"op\": \"gup_fast_begin\", \"cpu\": 0, \"task\": 2, \"addr\": \"0x200000\"},"
		"{\"op\": \"exit\", \"task\": 1},"
		"{\"op\": \"mark\", \"name\": \"exited\"},"
		"{\"op\": \"gup_fast_end\", \"cpu\": 0},"
		"{\"op\": \"mark\", \"name\": \"end\"}]}";

	assert_int_equal(t_run_json(json, &m, err, sizeof(err)), 0);
	/* The freed tables' flush reached the stale CPU 0 only when its walk ended. */
	assert_int_equal(t_mark_stat(m, "exited", "ipi.received.tlb_flush"), 1);
	assert_int_equal(t_mark_stat(m, "exited", "ipi.delayed_by_irqs_off"), 1);
	assert_int_equal(t_mark_stat(m, "exited", "cpu.0.remote.wrong_cpu"), 0);
	/* CPU 0 runs another mm: flush_tlb_func() takes it out of the exited mm's cpumask. */
	assert_int_equal(t_mark_stat(m, "end", "cpu.0.remote.wrong_cpu"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oracle__walker_rcu_safe),
		cmocka_unit_test(test_oracle__walker_rcu_single_table_safe),
		cmocka_unit_test(test_oracle__walker_semi_rcu_safe),
		cmocka_unit_test(test_oracle__walker_after_flush_safe),
		cmocka_unit_test(test_oracle__walker_immediate_violation),
		cmocka_unit_test(test_oracle__no_walker_all_clean),
		cmocka_unit_test(test_oracle__invlpgb_after_flush_unsafe),
		cmocka_unit_test(test_oracle__invlpgb_rcu_safe),
		cmocka_unit_test(test_oracle__blocked_cpu_rejects_work),
		cmocka_unit_test(test_oracle__invlpgb_global_asid_counts_running_cpus),
		cmocka_unit_test(test_oracle__queued_flush_outlives_exited_mm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
