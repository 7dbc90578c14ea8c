/*
 * W3 of reference/oracle.md: TLB-shootdown IPIs per munmap / madvise(DONTNEED)
 * / mprotect of 1, 32, 33, 34 and 512 pages in a two-thread process, with the
 * second thread spinning on CPU1, asleep (CPU1 idle and lazy), or absent; the
 * fork+exit stale mm_cpumask bit of W2; and the once-a-second mm_cpumask trim.
 * Every number here is what the real 6.18.44 kernel of these machines did.
 */
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"

#include "arch/x86/x86.h"
#include "mm/internal.h"

#define NOPS 31

struct w3_expect {
	unsigned int npages;
	uint64_t ipis;          /* over the 31 operations */
	uint64_t remote_partial;
	uint64_t remote_full;
	uint64_t wrong_cpu;
	uint64_t lazy;
};

static void check_w3(const char *op, const char *peer, const struct w3_expect *exp, size_t n)
{
	char trace[128], before[64], after[64];
	struct ptsim_machine *m;

	snprintf(trace, sizeof(trace), "oracle/w3_%s_%s.json", op, peer);
	m = t_run_trace(trace, NULL);
	for (size_t i = 0; i < n; i++) {
		const struct w3_expect *e = &exp[i];
		snprintf(before, sizeof(before), "%s_%u_before", op, e->npages);
		snprintf(after, sizeof(after), "%s_%u_after", op, e->npages);
		uint64_t ipis = t_delta(m, before, after, "ipi.calls.tlb_flush");
		uint64_t recv = t_delta(m, before, after, "cpu.1.ipi_received.tlb_flush");
		if (ipis != e->ipis || recv != e->ipis)
			fail_msg("%s %s %u pages: %llu IPIs (%llu received by CPU1), expected %llu", op, peer, e->npages,
				 (unsigned long long)ipis, (unsigned long long)recv, (unsigned long long)e->ipis);
		assert_int_equal(t_delta(m, before, after, "tlb.remote.partial"), e->remote_partial);
		assert_int_equal(t_delta(m, before, after, "tlb.remote.full"), e->remote_full);
		assert_int_equal(t_delta(m, before, after, "tlb.remote.wrong_cpu"), e->wrong_cpu);
		assert_int_equal(t_delta(m, before, after, "tlb.remote.lazy_to_init_mm"), e->lazy);
		/* The initiator flushes itself every time: ranged up to 33 strides, else full. */
		uint64_t local = t_delta(m, before, after, "tlb.local.partial") +
				 t_delta(m, before, after, "tlb.local.full");
		assert_int_equal(local, NOPS);
		assert_int_equal(t_delta(m, before, after, "tlb.local.full"), e->npages > 33 ? NOPS : 0);
	}
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* B spins on CPU1: one IPI per op; CPU1 flushes ranged for <= 33 pages, fully for 34+. */
static const struct w3_expect spin[] = {
	{ 1, NOPS, NOPS, 0, 0, 0 },   { 32, NOPS, NOPS, 0, 0, 0 }, { 33, NOPS, NOPS, 0, 0, 0 },
	{ 34, NOPS, 0, NOPS, 0, 0 }, { 512, NOPS, 0, NOPS, 0, 0 },
};
/* B asleep: CPU1 lazy: no IPI, except when a PTE table is freed (512 pages): the first op
 * sends CPU1 to init_mm, the second finds it elsewhere and clears its bit; then none. */
static const struct w3_expect sleep_table_freed[] = {
	{ 1, 0, 0, 0, 0, 0 }, { 32, 0, 0, 0, 0, 0 }, { 33, 0, 0, 0, 0, 0 }, { 34, 0, 0, 0, 0, 0 }, { 512, 2, 0, 0, 1, 1 },
};
static const struct w3_expect sleep_no_table[] = {
	{ 1, 0, 0, 0, 0, 0 }, { 32, 0, 0, 0, 0, 0 }, { 33, 0, 0, 0, 0, 0 }, { 34, 0, 0, 0, 0, 0 }, { 512, 0, 0, 0, 0, 0 },
};
static const struct w3_expect none[] = {
	{ 1, 0, 0, 0, 0, 0 }, { 32, 0, 0, 0, 0, 0 }, { 33, 0, 0, 0, 0, 0 }, { 34, 0, 0, 0, 0, 0 }, { 512, 0, 0, 0, 0, 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_w3__munmap_spin(void **s) { (void)s; check_w3("munmap", "spin", spin, N(spin)); }
static void test_w3__dontneed_spin(void **s) { (void)s; check_w3("dontneed", "spin", spin, N(spin)); }
static void test_w3__mprotect_spin(void **s) { (void)s; check_w3("mprotect", "spin", spin, N(spin)); }
static void test_w3__munmap_sleep(void **s) { (void)s; check_w3("munmap", "sleep", sleep_table_freed, N(sleep_table_freed)); }
static void test_w3__dontneed_sleep(void **s) { (void)s; check_w3("dontneed", "sleep", sleep_table_freed, N(sleep_table_freed)); }
static void test_w3__mprotect_sleep(void **s) { (void)s; check_w3("mprotect", "sleep", sleep_no_table, N(sleep_no_table)); }
static void test_w3__munmap_none(void **s) { (void)s; check_w3("munmap", "none", none, N(none)); }
static void test_w3__dontneed_none(void **s) { (void)s; check_w3("dontneed", "none", none, N(none)); }
static void test_w3__mprotect_none(void **s) { (void)s; check_w3("mprotect", "none", none, N(none)); }

/* W2's stale bit: child first on CPU0, then moved: one IPI to CPU0 per fork+exit; pinned: none. */
static void test_w3__forkexit_stale_bit(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_run_trace("oracle/forkexit_stale_bit.json", NULL);

	assert_int_equal(t_delta(m, "first_on_cpu0_before", "first_on_cpu0_after", "ipi.calls.tlb_flush"), 100);
	assert_int_equal(t_delta(m, "first_on_cpu0_before", "first_on_cpu0_after", "cpu.0.ipi_received.tlb_flush"),
			 100);
	assert_int_equal(t_delta(m, "first_on_cpu0_before", "first_on_cpu0_after", "tlb.remote.lazy_to_init_mm"), 100);
	assert_int_equal(t_delta(m, "pinned_before", "pinned_after", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(m, "first_on_cpu0_before", "pinned_after", "ipi.calls.table_sync"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * The trim tick: CPU1 ran the mm, then runs another process (stale: bit set,
 * not lazy).  A non-table flush reaches it only once the mm is older than a
 * second and a second passed since the last trim; it then clears its bit.
 */
static const char *trim_trace(bool old_mm)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf),
		 "{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 2}, \"events\": ["
		 "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
		 "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"16M\", \"prot\": \"rw\"},"
		 "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"16M\", \"write\": true},"
		 "{\"op\": \"thread\", \"task\": 1, \"thread\": 2, \"cpu\": 1},"
		 "{\"op\": \"touch\", \"task\": 2, \"addr\": \"0x100000000000\", \"len\": \"4M\"},"
		 "{\"op\": \"spawn\", \"task\": 3, \"cpu\": 1, \"comment\": \"CPU1 now runs another mm\"},"
		 "%s"
		 "{\"op\": \"mark\", \"name\": \"before\"},"
		 "{\"op\": \"repeat\", \"count\": 5, \"step\": {\"addr\": \"2M\"}, \"events\": ["
		 "  {\"op\": \"mprotect\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4K\", \"prot\": \"r\"}]},"
		 "{\"op\": \"mark\", \"name\": \"after\"}]}",
		 old_mm ? "{\"op\": \"advance\", \"ms\": 1500}," : "");
	return buf;
}

static void test_w3__trim_tick(void **state)
{
	(void)state;
	struct ptsim_machine *m;
	char err[512];

	/* Young mm: no trim tick yet, CPU1 is never interrupted and keeps its bit. */
	assert_int_equal(t_run_json(trim_trace(false), &m, err, sizeof(err)), 0);
	assert_int_equal(t_delta(m, "before", "after", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(m, "before", "after", "tlb.nr_tlb_remote_flush"), 5);
	t_destroy(m);

	/* Older than a second: the first flush trims (one wrong-CPU IPI), then only self is left. */
	assert_int_equal(t_run_json(trim_trace(true), &m, err, sizeof(err)), 0);
	assert_int_equal(t_delta(m, "before", "after", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "before", "after", "tlb.remote.wrong_cpu"), 1);
	assert_int_equal(t_delta(m, "before", "after", "tlb.nr_tlb_remote_flush"), 1);
	t_destroy(m);
}

/* Before v6.14 (mm_cpumask=eager) a CPU leaves the mask when it switches away: no stale bit. */
static void test_w3__eager_cpumask_no_stale_bit(void **state)
{
	(void)state;
	static const char *const set[] = { "mm_cpumask=eager", NULL };
	struct ptsim_machine *m = t_run_trace("oracle/forkexit_stale_bit.json", set);

	/* The child's exit flush finds CPU0 still lazy on its mm: lazy CPUs keep their bit. */
	assert_int_equal(t_delta(m, "first_on_cpu0_before", "first_on_cpu0_after", "ipi.calls.tlb_flush"), 100);
	t_destroy(m);
}

/*
 * Thread B (task 2) on CPU 1 touches the region, then CPU 1 leaves the mm
 * (@leave), A unmaps a page on CPU 0 (no IPI: CPU 1 does not run the mm) or
 * not (@flush), and B runs again on CPU 1 and touches a page it held before.
 * With the missed flush, the switch back must flush (switch_flush +1) and the
 * access miss; without it, the old entry is still good and hits.
 */
static void check_catch_up_at_switch(const char *leave, bool flush)
{
	struct ptsim_machine *m;
	char err[512], json[2048];

	snprintf(json, sizeof(json),
		 "{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 2}, \"events\": ["
		 "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
		 "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4M\", \"prot\": \"rw\"},"
		 "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000000000\", \"len\": \"4M\", \"write\": true},"
		 "{\"op\": \"thread\", \"task\": 1, \"thread\": 2, \"cpu\": 1},"
		 "{\"op\": \"touch\", \"task\": 2, \"addr\": \"0x100000000000\", \"len\": \"1M\"},"
		 "%s,%s"
		 "{\"op\": \"mark\", \"name\": \"before\"},"
		 "{\"op\": \"run\", \"task\": 2, \"cpu\": 1},"
		 "{\"op\": \"touch\", \"task\": 2, \"addr\": \"0x100000080000\", \"len\": \"4K\"},"
		 "{\"op\": \"mark\", \"name\": \"after\"}]}",
		 leave, flush ? "{\"op\": \"munmap\", \"task\": 1, \"addr\": \"0x100000300000\", \"len\": \"4K\"}," : "");
	assert_int_equal(t_run_json(json, &m, err, sizeof(err)), 0);
	assert_int_equal(t_mark_stat(m, "before", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(m, "before", "after", "cpu.1.switch_flush"), flush);
	assert_int_equal(t_delta(m, "before", "after", "cpu.1.tlb.misses"), flush);
	assert_int_equal(t_delta(m, "before", "after", "cpu.1.tlb.hits"), !flush);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * A lazy CPU: B sleeps, CPU 1 keeps the mm loaded; switch_mm_irqs_off() back
 * to the same mm finds its generation behind and flushes the ASID.
 */
static void test_w3__lazy_cpu_catches_up_at_switch(void **state)
{
	(void)state;
	check_catch_up_at_switch("{\"op\": \"sleep\", \"task\": 2}", true);
	check_catch_up_at_switch("{\"op\": \"sleep\", \"task\": 2}", false);
}

/*
 * A CPU that runs another process meanwhile: its PCID slot keeps the old
 * ASID; choose_new_asid() finds the slot behind the mm's tlb_gen and flushes.
 */
static void test_w3__other_mm_cpu_catches_up_at_switch(void **state)
{
	(void)state;
	check_catch_up_at_switch("{\"op\": \"spawn\", \"task\": 3, \"cpu\": 1}", true);
	check_catch_up_at_switch("{\"op\": \"spawn\", \"task\": 3, \"cpu\": 1}", false);
}

/*
 * INVLPGB global ASIDs (traces/fidelity/x86_invlpgb_global_asid.json):
 * allocate_global_asid() flushes only through reset_global_asid_space() —
 * the first allocation (the search starts at the top) and each wrap — with
 * one INVLPGB of every non-global translation and a TLBSYNC;
 * mm_assign_global_asid() never flushes; freed ASIDs wait for the wrap.
 */
/* Process @t (threads @t+1..@t+3) active on CPUs 0-3; a 4 KiB munmap's IPI flush samples it. */
static uint16_t global_asid_proc(struct ptsim_machine *m, int t, bool keep)
{
	struct ptsim_mmap_args a = { .addr = 0x100000000ull, .len = 64 * 1024, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, t, 0));
	T_OK(m, ptsim_mmap(m, t, &a));
	T_OK(m, ptsim_touch(m, t, a.addr, a.len, 0, true));
	for (int i = 1; i <= 3; i++)
		T_OK(m, ptsim_thread(m, t, t + i, (unsigned int)i));
	T_OK(m, ptsim_munmap(m, t, a.addr, 4096));
	uint16_t asid = x86_ctx(task_lookup(m, t)->mm)->global_asid;
	if (!keep)
		for (int i = 3; i >= 0; i--)
			T_OK(m, ptsim_exit(m, t + i));
	return asid;
}

static void test_w3__invlpgb_global_asid_space(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_run_trace("fidelity/x86_invlpgb_global_asid.json", NULL);
	assert_int_equal(t_delta(m, "a_running", "a_global", "tlb.invlpgb"), 1);
	assert_int_equal(t_delta(m, "a_running", "a_global", "tlb.tlbsync"), 1);
	assert_int_equal(t_delta(m, "a_running", "a_global", "tlb.invlpgb_full"), 0);
	assert_int_equal(t_delta(m, "a_running", "a_global", "tlb.invlpgb_all"), 1);
	assert_int_equal(t_delta(m, "a_running", "a_global", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(t_delta(m, "b_running", "b_global", "tlb.invlpgb"), 0);
	assert_int_equal(t_delta(m, "b_running", "b_global", "tlb.tlbsync"), 0);
	assert_int_equal(t_stat(m, "tlb.invlpgb_all"), 1);
	assert_int_equal(t_delta(m, "b_running", "b_global", "ipi.calls.tlb_flush"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);

	/* Freed ASIDs are reused only after the wrap, whose reset flushes once more. */
	const char *set[] = { "x86_flush=invlpgb", NULL };
	m = t_machine(4, "6.18.44", set);
	assert_int_equal(global_asid_proc(m, 32, false), TLB_NR_DYN_ASIDS);
	assert_int_equal(global_asid_proc(m, 32, false), TLB_NR_DYN_ASIDS + 1);
	assert_int_equal(t_stat(m, "tlb.invlpgb_all"), 1);
	unsigned int n = 2;
	uint16_t asid;
	while ((asid = global_asid_proc(m, 32, false)) != TLB_NR_DYN_ASIDS)
		n++;
	assert_int_equal(n, MAX_ASID_AVAILABLE - 1 - TLB_NR_DYN_ASIDS + 1);   /* 6 .. 4093, then 6 again */
	assert_int_equal(t_stat(m, "tlb.invlpgb_all"), 2);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * INVLPGB without FINAL_ONLY (traces/fidelity/x86_invlpgb_walk_cache.json):
 * the ranged INVLPGB of a munmap that frees no table drops the walk-cache
 * entries of its address on every CPU, so CPU 1's next miss in that range
 * walks from the top (no paging-structure-cache hit).
 */
static void test_w3__invlpgb_drops_walk_cache(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_run_trace("fidelity/x86_invlpgb_walk_cache.json", NULL);

	assert_int_equal(t_delta(m, "cached", "unmapped", "tlb.invlpgb"), 1);
	assert_int_equal(t_delta(m, "cached", "unmapped", "tlb.invlpgb_full"), 0);
	assert_int_equal(t_delta(m, "cached", "unmapped", "tlb.tlbsync"), 1);
	assert_int_equal(t_delta(m, "cached", "unmapped", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(m, "cached", "unmapped", "pgtables_freed.pte"), 0);
	assert_int_equal(t_delta(m, "unmapped", "walked", "tlb.walks"), 1);
	assert_int_equal(t_delta(m, "unmapped", "walked", "tlb.pwc_hits"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_w3__munmap_spin),       cmocka_unit_test(test_w3__dontneed_spin),
		cmocka_unit_test(test_w3__mprotect_spin),     cmocka_unit_test(test_w3__munmap_sleep),
		cmocka_unit_test(test_w3__dontneed_sleep),    cmocka_unit_test(test_w3__mprotect_sleep),
		cmocka_unit_test(test_w3__munmap_none),       cmocka_unit_test(test_w3__dontneed_none),
		cmocka_unit_test(test_w3__mprotect_none),     cmocka_unit_test(test_w3__forkexit_stale_bit),
		cmocka_unit_test(test_w3__trim_tick),         cmocka_unit_test(test_w3__eager_cpumask_no_stale_bit),
		cmocka_unit_test(test_w3__lazy_cpu_catches_up_at_switch),
		cmocka_unit_test(test_w3__other_mm_cpu_catches_up_at_switch),
		cmocka_unit_test(test_w3__invlpgb_global_asid_space),
		cmocka_unit_test(test_w3__invlpgb_drops_walk_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
