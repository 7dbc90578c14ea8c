/*
 * mshare: page tables shared across processes through an msharefs host mm
 * (the mshare RFC v3 of September 2024, docs/mshare.md).
 *
 * - the region: MSHAREFS_SET_SIZE's alignment (PGDIR_SIZE), names, the
 *   mapping ioctl's checks;
 * - attaching: a fault in a VM_SHARED_PT VMA links the process's top-level
 *   entry to the host mm's table once, then every fault is handled in the
 *   host mm: tables allocated and counted once, in the host mm;
 * - VmPTE of N processes mapping the same shmem plainly vs through mshare;
 * - teardown: the fixed variant unlinks at munmap, the RFC as posted leaves
 *   the link (the process still translates; the oracle catches the freed
 *   table it still links).
 *
 * - the flush strategies of the review (mshare_flush) on the seed trace
 *   traces/seeds/004_0a3a0e7ddc0a762e_flush.json, 64 and 1,024 CPUs;
 * - the RFC's munmap-without-unlink on traces/seeds/..._munmap_no_unlink.json.
 *
 * Every count below is exact.
 */
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"
#include "mm/internal.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define REGION 0x8000000000ull   /* 512 GiB: the first PGDIR_SIZE-aligned address above 0 */

static const char *const set_rfc_v3[] = { "mshare=rfc_v3", NULL };

/* Region "r" at REGION, 512 GiB, with @len bytes of anonymous shared memory mapped at its start. */
static void make_region(struct ptsim_machine *m, uint64_t len)
{
	T_OK(m, ptsim_mshare_create(m, PTSIM_NO_TASK, "r", REGION, 512 * GiB));
	T_OK(m, ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
				 &(struct ptsim_mmap_args){ .addr = REGION, .len = len, .prot = 3, .shared = true }));
}

/* Task @task maps the whole region at its own REGION (kind mshare). */
static int attach(struct ptsim_machine *m, int task)
{
	return ptsim_mmap(m, task,
			  &(struct ptsim_mmap_args){ .addr = REGION, .len = 512 * GiB, .prot = 3,
						     .kind = PTSIM_MAP_MSHARE, .file = "r", .shared = true });
}

static struct ptsim_mm_info host_info(struct ptsim_machine *m)
{
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_mshare_info(m, "r", &mi));
	return mi;
}

/* The top-level entry of @task's mm that maps @addr. */
static pgent_t task_pgd_entry(struct ptsim_machine *m, int task, uint64_t addr)
{
	struct sim_task *t = task_lookup(m, task);

	assert_non_null(t);
	return *pgd_offset(t->mm, addr);
}

/*
 * MSHAREFS_SET_SIZE: start and end multiples of PGDIR_SIZE (512 GiB with
 * 4-level x86-64), else EINVAL; a name is taken once; the mapping ioctl
 * stays inside the region and maps anonymous shared memory only (RFC v3).
 */
static void test_mshare__region_checks(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	assert_int_equal(ptsim_mshare_align(m), 512 * GiB);
	assert_int_equal(ptsim_mshare_create(m, PTSIM_NO_TASK, "r", REGION + 2 * MiB, 512 * GiB), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "MSHAREFS_SET_SIZE"));
	assert_int_equal(ptsim_mshare_create(m, PTSIM_NO_TASK, "r", REGION, GiB), -EINVAL);
	T_OK(m, ptsim_mshare_create(m, PTSIM_NO_TASK, "r", REGION, 512 * GiB));
	assert_int_equal(ptsim_mshare_create(m, PTSIM_NO_TASK, "r", 2 * REGION, 512 * GiB), -EEXIST);
	/* Outside the region; not shared; a file (RFC v3: "fd != -1" is EINVAL). */
	assert_int_equal(ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
					  &(struct ptsim_mmap_args){ .addr = 2 * REGION, .len = MiB * 2, .prot = 3,
								     .shared = true }),
			 -EINVAL);
	assert_int_equal(ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
					  &(struct ptsim_mmap_args){ .addr = REGION, .len = MiB * 2, .prot = 3 }),
			 -EINVAL);
	assert_int_equal(ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
					  &(struct ptsim_mmap_args){ .addr = REGION, .len = MiB * 2, .prot = 3,
								     .kind = PTSIM_MAP_SHMEM, .file = "f",
								     .shared = true }),
			 -EINVAL);
	assert_int_equal(ptsim_mshare_map(m, PTSIM_NO_TASK, "nope",
					  &(struct ptsim_mmap_args){ .addr = REGION, .len = MiB * 2, .prot = 3,
								     .shared = true }),
			 -ENOENT);
	T_OK(m, ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
				 &(struct ptsim_mmap_args){ .addr = REGION, .len = 2 * MiB, .prot = 3, .shared = true }));
	assert_int_equal(ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
					  &(struct ptsim_mmap_args){ .addr = REGION + 4096, .len = 4096, .prot = 3,
								     .shared = true }),
			 -EEXIST);
	/* A process maps the region at a granule-aligned address inside it, MAP_SHARED. */
	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_int_equal(ptsim_mmap(m, 1,
				    &(struct ptsim_mmap_args){ .addr = REGION, .len = 2 * MiB, .prot = 3,
							       .kind = PTSIM_MAP_MSHARE, .file = "r",
							       .shared = true }),
			 -EINVAL);
	assert_int_equal(ptsim_mmap(m, 1,
				    &(struct ptsim_mmap_args){ .addr = REGION, .len = 512 * GiB, .prot = 3,
							       .kind = PTSIM_MAP_MSHARE, .file = "r" }),
			 -EINVAL);
	assert_int_equal(ptsim_mmap(m, 1,
				    &(struct ptsim_mmap_args){ .addr = REGION, .len = 512 * GiB, .prot = 3,
							       .kind = PTSIM_MAP_MSHARE, .file = "x",
							       .shared = true }),
			 -ENOENT);
	T_OK(m, attach(m, 1));
	/* The VMA is mapped and unmapped whole (may_split refuses). */
	assert_int_equal(ptsim_munmap(m, 1, REGION, 2 * MiB), -EINVAL);
	t_destroy(m);
}

/*
 * Two processes attach.  Task 1's first write links its PGD entry to the
 * host's PUD table (1 fault, VM_FAULT_NOPAGE), then its 16,384 faults run in
 * the host mm: 32 PTE + 1 PMD + 1 PUD tables, all in the host mm (136 kB),
 * none in either process.  Task 2's read of the same 64 MiB: one fault (its
 * link), every page then found through the host's tables.
 */
static void test_mshare__faults_populate_host_tables(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(4, NULL, NULL);
	struct ptsim_mm_info mi;

	make_region(m, 64 * MiB);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_spawn(m, 2, 1));
	T_OK(m, attach(m, 1));
	T_OK(m, attach(m, 2));
	assert_int_equal(task_pgd_entry(m, 1, REGION), 0);
	uint64_t f0 = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, REGION, 64 * MiB, 0, true));
	assert_int_equal(t_stat(m, "faults.total") - f0, 16384 + 1);
	assert_int_equal(t_stat(m, "mshare.links"), 1);
	assert_int_equal(t_stat(m, "mshare.host_faults"), 16384);
	T_OK(m, ptsim_touch(m, 2, REGION, 64 * MiB, 0, false));
	assert_int_equal(t_stat(m, "faults.total") - f0, 16384 + 2);
	assert_int_equal(t_stat(m, "mshare.links"), 2);
	assert_int_equal(t_stat(m, "mshare.host_faults"), 16384);
	/* Both processes' top-level entries point at the host's PUD table. */
	pgent_t e1 = task_pgd_entry(m, 1, REGION), e2 = task_pgd_entry(m, 2, REGION);
	assert_true(pgent_present(e1));
	assert_int_equal(e1, e2);
	assert_int_equal(pt_desc(m, pgent_pfn(e1))->pt_mm->mshare != NULL, 1);
	/* The tables are counted once, in the host mm. */
	mi = host_info(m);
	assert_int_equal(mi.pgtables[0], 32);
	assert_int_equal(mi.pgtables[1], 1);
	assert_int_equal(mi.pgtables[2], 1);
	assert_int_equal(mi.vmpte_kb, 136);
	assert_int_equal(mi.rss_shmem_kb, 64 * 1024);
	assert_int_equal(t_stat(m, "pgtables_allocated.pte"), 32);
	assert_int_equal(t_stat(m, "pgtables_allocated.pmd"), 1);
	assert_int_equal(t_stat(m, "pgtables_allocated.pud"), 1);
	for (int t = 1; t <= 2; t++) {
		mi = t_mm_info(m, t);
		assert_int_equal(mi.vmpte_kb, 0);
		assert_int_equal(mi.rss_shmem_kb, 0);
		assert_int_equal(mi.pgtables[0] + mi.pgtables[1] + mi.pgtables[2], 0);
	}
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * VmPTE of @n processes each touching all of a @len shmem object, plainly
 * (MAP_SHARED of one shmem file: each process has its own tables) and
 * through mshare (one set, in the host mm).  Return the sum over processes
 * (+ host for mshare) in kB.
 */
static uint64_t vmpte_sum(unsigned int n, uint64_t len, bool mshare)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	uint64_t kb = 0;

	if (mshare)
		make_region(m, len);
	for (unsigned int i = 1; i <= n; i++) {
		int t = (int)i;
		T_OK(m, ptsim_spawn(m, t, i == 1 ? 0 : 1));
		if (mshare)
			T_OK(m, attach(m, t));
		else
			T_OK(m, ptsim_mmap(m, t,
					   &(struct ptsim_mmap_args){ .addr = REGION, .len = len, .prot = 3,
								      .kind = PTSIM_MAP_SHMEM, .file = "shm",
								      .shared = true }));
		T_OK(m, ptsim_touch(m, t, REGION, len, 0, false));
	}
	for (unsigned int i = 1; i <= n; i++)
		kb += t_mm_info(m, (int)i).vmpte_kb;
	if (mshare)
		kb += host_info(m).vmpte_kb;
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
	return kb;
}

/*
 * 16 MiB touched by 1 and 10 processes: plainly 8 PTE + 1 PMD + 1 PUD
 * tables = 40 kB per process; through mshare 40 kB once, whatever N.
 */
static void test_mshare__vmpte_counted_once(void **s)
{
	(void)s;
	assert_int_equal(vmpte_sum(1, 16 * MiB, false), 40);
	assert_int_equal(vmpte_sum(10, 16 * MiB, false), 400);
	assert_int_equal(vmpte_sum(1, 16 * MiB, true), 40);
	assert_int_equal(vmpte_sum(10, 16 * MiB, true), 40);
}

/*
 * munmap of the region's VMA.  fixed: unlinks the PGD entry (with a flush);
 * a later access faults outside any VMA (a SIGSEGV), and the host freeing its
 * tables reports nothing.  rfc_v3 as posted: the entry stays, the process
 * still reads the region through it without any VMA; when the host frees
 * the table both processes link (uncounted), the oracle reports
 * linked_table for each.
 */
static void munmap_case(const char *const *set, bool posted)
{
	struct ptsim_machine *m = t_machine(4, NULL, set);

	make_region(m, 4 * MiB);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_spawn(m, 2, 1));
	T_OK(m, attach(m, 1));
	T_OK(m, attach(m, 2));
	T_OK(m, ptsim_touch(m, 1, REGION, 4 * MiB, 0, true));
	T_OK(m, ptsim_touch(m, 2, REGION, 4 * MiB, 0, false));
	T_OK(m, ptsim_munmap(m, 1, REGION, 512 * GiB));
	assert_int_equal(t_stat(m, "mshare.unlinks"), posted ? 0 : 1);
	assert_int_equal(task_pgd_entry(m, 1, REGION) != 0, posted);
	uint64_t f0 = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, REGION + 2 * MiB, 4096, 0, false));
	assert_int_equal(t_stat(m, "faults.sigsegv"), posted ? 0 : 1);
	assert_int_equal(t_stat(m, "faults.total") - f0, 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	/* The host unmaps its object: its PTE, PMD and PUD tables go. */
	T_OK(m, ptsim_mshare_munmap(m, 2, "r", REGION, 4 * MiB));
	assert_int_equal(t_violations(m, PTSIM_VIOL_LINKED_TABLE), posted ? 2 : 0);
	assert_int_equal(t_violations_with(m, PTSIM_VIOL_LINKED_TABLE, "mm 1 (task 1)"), posted ? 1 : 0);
	if (!posted)
		assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void test_mshare__fixed_unlinks_at_munmap(void **s)
{
	(void)s;
	munmap_case(NULL, false);
}

static void test_mshare__rfc_v3_munmap_leaves_link(void **s)
{
	(void)s;
	munmap_case(set_rfc_v3, true);
}

/* The region outlives its processes; unlink frees the host mm once nothing maps it. */
static void test_mshare__unlink_and_exit(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	make_region(m, 4 * MiB);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_spawn(m, 2, 1));
	T_OK(m, attach(m, 1));
	T_OK(m, ptsim_touch(m, 1, REGION, 4 * MiB, 0, true));
	T_OK(m, ptsim_exit(m, 1));
	/* The host keeps its tables after the last process exits. */
	assert_int_equal(host_info(m).vmpte_kb, 16);
	T_OK(m, ptsim_mshare_unlink(m, 2, "r"));
	struct ptsim_mm_info mi;
	assert_int_equal(ptsim_mshare_info(m, "r", &mi), -ENOENT);
	assert_int_equal(t_stat(m, "pgtables_freed.pte"), 2);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* Flush strategies (the review of RFC v3, 2024-10-02)                       */
/* ------------------------------------------------------------------------ */

#define FLUSH_TRACE "seeds/004_0a3a0e7ddc0a762e_flush.json"

static void set_cpus(struct ptsim_config *cfg, const void *ctx)
{
	cfg->cpus = *(const unsigned int *)ctx;
}

/* IPIs and flushes of one operation (between two marks of the trace). */
struct op_cost {
	uint64_t calls, received;            /* ipi.calls/received: tlb_flush, or flush_all for flush_all */
	uint64_t local_full, local_partial;  /* tlb.local.* */
	uint64_t remote_full, remote_partial, lazy_to_init_mm;
};

static void check_op(struct ptsim_machine *m, const char *before, const char *after, bool all, const struct op_cost *c)
{
	const char *calls = all ? "ipi.calls.flush_all" : "ipi.calls.tlb_flush";
	const char *recv = all ? "ipi.received.flush_all" : "ipi.received.tlb_flush";

	assert_int_equal(t_delta(m, before, after, calls), c->calls);
	assert_int_equal(t_delta(m, before, after, recv), c->received);
	assert_int_equal(t_delta(m, before, after, all ? "ipi.calls.tlb_flush" : "ipi.calls.flush_all"), 0);
	assert_int_equal(t_delta(m, before, after, "tlb.local.full"), c->local_full);
	assert_int_equal(t_delta(m, before, after, "tlb.local.partial"), c->local_partial);
	assert_int_equal(t_delta(m, before, after, "tlb.remote.full"), c->remote_full);
	assert_int_equal(t_delta(m, before, after, "tlb.remote.partial"), c->remote_partial);
	assert_int_equal(t_delta(m, before, after, "tlb.remote.lazy_to_init_mm"), c->lazy_to_init_mm);
}

/* The three acceptance operations of @set's strategy on @cpus CPUs: munmap, DONTNEED, mprotect. */
static struct ptsim_machine *flush_case(const char *strategy, unsigned int cpus, const struct op_cost *ops)
{
	char kv[64];
	snprintf(kv, sizeof(kv), "mshare_flush=%s", strategy);
	const char *const set[] = { kv, NULL };
	struct ptsim_machine *m = NULL;
	int rc = t_try_trace_adjusted(FLUSH_TRACE, set, set_cpus, &cpus, &m);
	bool all = !strcmp(strategy, "flush_all");

	assert_non_null(m);
	if (rc)
		fail_msg("%s: %d: %s", FLUSH_TRACE, rc, ptsim_machine_errmsg(m));
	/* The DONTNEED empties a PTE table of the host mm; PT reclaim frees it. */
	assert_int_equal(t_delta(m, "after_munmap", "after_dontneed", "pt_reclaim.tables_freed"), 1);
	check_op(m, "before_munmap", "after_munmap", all, &ops[0]);
	check_op(m, "after_munmap", "after_dontneed", all, &ops[1]);
	check_op(m, "after_dontneed", "after_mprotect", all, &ops[2]);
	return m;
}

/*
 * flush_all: flush_tlb_all() per operation: one IPI to each other online
 * CPU (63, 1,023), whoever they run.  No violation.
 */
static void test_mshare__flush_all_counts(void **s)
{
	(void)s;
	static const unsigned int cpus[] = { 64, 1024 };
	for (size_t i = 0; i < 2; i++) {
		const uint64_t n = cpus[i] - 1;
		const struct op_cost ops[3] = { { 1, n, 0, 0, 0, 0, 0 }, { 1, n, 0, 0, 0, 0, 0 }, { 1, n, 0, 0, 0, 0, 0 } };
		struct ptsim_machine *m = flush_case("flush_all", cpus[i], ops);
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/*
 * per_mm: flush_tlb_mm_range() of each of the 16 sharers.  munmap of a page:
 * 15 IPIs (the sharers running elsewhere; lazy CPUs skipped), the local CPU
 * flushes the page; DONTNEED frees a table (freed_tables): 16 flushes, 63
 * IPIs (15 running + 48 lazy CPUs, which switch to init_mm); mprotect of
 * 1 GiB: 15 IPIs, full flushes.  The same on 1,024 CPUs: the cost follows the
 * sharers' CPUs, not the machine.
 */
static void test_mshare__per_mm_counts(void **s)
{
	(void)s;
	static const unsigned int cpus[] = { 64, 1024 };
	const struct op_cost ops[3] = { { 15, 15, 0, 1, 0, 15, 0 }, { 16, 63, 1, 0, 15, 0, 48 }, { 15, 15, 1, 0, 15, 0, 0 } };
	for (size_t i = 0; i < 2; i++) {
		struct ptsim_machine *m = flush_case("per_mm", cpus[i], ops);
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/*
 * cpumask_union: one flush_tlb_multi() per operation over the union of the
 * 16 mm_cpumasks, a full flush (info->mm is NULL).  munmap: 15 IPIs (lazy
 * CPUs skipped); DONTNEED: 63 (lazy CPUs included, to init_mm); mprotect:
 * 63 — the 48 CPUs now on init_mm are still in the sharers' mm_cpumasks and,
 * with no mm in the flush, cannot be told apart (they flush nothing).
 */
static void test_mshare__cpumask_union_counts(void **s)
{
	(void)s;
	static const unsigned int cpus[] = { 64, 1024 };
	const struct op_cost ops[3] = { { 1, 15, 1, 0, 15, 0, 0 }, { 1, 63, 1, 0, 15, 0, 48 }, { 1, 63, 1, 0, 15, 0, 0 } };
	for (size_t i = 0; i < 2; i++) {
		struct ptsim_machine *m = flush_case("cpumask_union", cpus[i], ops);
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/*
 * host_mm: the host mm's flush reaches no CPU (it runs nowhere): no IPI, no
 * flush; the oracle reports the sharers' CPUs whose paging-structure caches
 * still point at the PTE table the DONTNEED freed (nothing else).
 */
static void test_mshare__host_mm_is_caught(void **s)
{
	(void)s;
	static const unsigned int cpus[] = { 64, 1024 };
	const struct op_cost none[3] = { { 0 }, { 0 }, { 0 } };
	for (size_t i = 0; i < 2; i++) {
		struct ptsim_machine *m = flush_case("host_mm", cpus[i], none);
		size_t n = ptsim_violation_count(m);
		assert_true(n > 0);
		assert_int_equal(t_violations(m, PTSIM_VIOL_PWC), n);
		assert_int_equal(t_violations_with(m, PTSIM_VIOL_PWC, "cpu 1's paging-structure cache"), 1);
		t_destroy(m);
	}
}

static void arm64_cpus(struct ptsim_config *cfg, const void *ctx)
{
	cfg->arch = PTSIM_ARCH_ARM64;
	cfg->cpus = *(const unsigned int *)ctx;
}

/* TLBIs of one operation on arm64: VALE1IS, ASIDE1IS, VMALLE1IS, DSB ISH. */
static void check_tlbi(struct ptsim_machine *m, const char *before, const char *after, const uint64_t want[4])
{
	assert_int_equal(t_delta(m, before, after, "tlbi.vale1is"), want[0]);
	assert_int_equal(t_delta(m, before, after, "tlbi.aside1is"), want[1]);
	assert_int_equal(t_delta(m, before, after, "tlbi.vmalle1is"), want[2]);
	assert_int_equal(t_delta(m, before, after, "tlbi.dsb_ish"), want[3]);
	assert_int_equal(t_delta(m, before, after, "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(m, before, after, "ipi.calls.flush_all"), 0);
}

/*
 * arm64 (6.18.44 preset: no PT reclaim there, the DONTNEED frees no table):
 * every strategy is broadcast TLBIs, no IPI, the same on 64 and 1,024 CPUs.
 * The host mm's own flush comes first (one VALE1IS for the page, one
 * ASIDE1IS for the larger ranges, each with its DSB); then flush_all: one
 * VMALLE1IS; per_mm: the same instruction for each of the 16 sharers' ASIDs,
 * each with its DSB; cpumask_union: ASIDE1IS per sharer and one DSB.
 */
static void test_mshare__arm64_broadcast_counts(void **s)
{
	(void)s;
	static const struct {
		const char *strategy;
		uint64_t munmap[4], range[4];
	} cases[] = {
		{ "flush_all", { 1, 0, 1, 2 }, { 0, 1, 1, 2 } },
		{ "per_mm", { 17, 0, 0, 17 }, { 0, 17, 0, 17 } },
		{ "cpumask_union", { 1, 16, 0, 2 }, { 0, 17, 0, 2 } },
		{ "host_mm", { 1, 0, 0, 1 }, { 0, 1, 0, 1 } },
	};
	static const unsigned int cpus[] = { 64, 1024 };
	for (size_t c = 0; c < 2; c++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char kv[64];
			snprintf(kv, sizeof(kv), "mshare_flush=%s", cases[i].strategy);
			const char *const set[] = { kv, NULL };
			struct ptsim_machine *m = t_run_trace_adjusted(FLUSH_TRACE, set, arm64_cpus, &cpus[c]);
			check_tlbi(m, "before_munmap", "after_munmap", cases[i].munmap);
			check_tlbi(m, "after_munmap", "after_dontneed", cases[i].range);
			check_tlbi(m, "after_dontneed", "after_mprotect", cases[i].range);
			assert_int_equal(ptsim_violation_count(m), 0);
			t_destroy(m);
		}
	}
}

/*
 * A GUP-fast walker of a sharer (task 2, CPU 1, irqs off) inside the host's
 * PTE table that task 1's DONTNEED frees through the host mm: with RCU table
 * freeing the free waits for the walker whatever the strategy (the grace
 * period needs every CPU, not only the host mm's); only host_mm leaves the
 * two sharers' CPUs' walk caches pointing at the freed table.
 */
static void test_mshare__gup_fast_walker_of_a_sharer(void **s)
{
	(void)s;
	static const char *const strategies[] = { "flush_all", "per_mm", "cpumask_union", "host_mm" };
	for (size_t i = 0; i < 4; i++) {
		char kv[64];
		snprintf(kv, sizeof(kv), "mshare_flush=%s", strategies[i]);
		const char *const set[] = { kv, NULL };
		struct ptsim_machine *m = t_machine(4, NULL, set);

		make_region(m, 4 * MiB);
		T_OK(m, ptsim_spawn(m, 1, 0));
		T_OK(m, ptsim_spawn(m, 2, 1));
		T_OK(m, attach(m, 1));
		T_OK(m, attach(m, 2));
		T_OK(m, ptsim_touch(m, 1, REGION, 4 * MiB, 0, true));
		T_OK(m, ptsim_touch(m, 2, REGION, 4 * MiB, 0, false));
		T_OK(m, ptsim_gup_fast_begin(m, 1, 2, REGION + 2 * MiB));
		T_OK(m, ptsim_mshare_madvise(m, 1, "r", REGION + 2 * MiB, 2 * MiB, PTSIM_MADV_DONTNEED));
		assert_int_equal(t_stat(m, "pt_reclaim.tables_freed"), 1);
		assert_int_equal(t_stat(m, "rcu.tables_freed"), 0);   /* deferred past the walker */
		T_OK(m, ptsim_gup_fast_end(m, 1));
		assert_int_equal(ptsim_machine_quiesce(m), 0);
		assert_int_equal(t_stat(m, "rcu.tables_freed"), 1);
		assert_int_equal(t_violations(m, PTSIM_VIOL_WALKER), 0);
		assert_int_equal(ptsim_violation_count(m), i == 3 ? 2 : 0);
		assert_int_equal(t_violations(m, PTSIM_VIOL_PWC), i == 3 ? 2 : 0);
		t_destroy(m);
	}
}

/* The bundled trace of the RFC's munmap-without-unlink: caught as posted, clean when fixed. */
static void test_mshare__seed_munmap_no_unlink(void **s)
{
	(void)s;
	static const char *const fixed[] = { "mshare=fixed", NULL };
	struct ptsim_machine *m = t_run_trace("seeds/004_0a3a0e7ddc0a762e_munmap_no_unlink.json", NULL);

	assert_int_equal(t_delta(m, "unmapped", "read_after_munmap", "faults.total"), 0);
	assert_int_equal(t_delta(m, "unmapped", "read_after_munmap", "faults.sigsegv"), 0);
	assert_int_equal(t_violations(m, PTSIM_VIOL_LINKED_TABLE), 2);
	assert_int_equal(ptsim_violation_count(m), 2);
	t_destroy(m);
	m = t_run_trace("seeds/004_0a3a0e7ddc0a762e_munmap_no_unlink.json", fixed);
	assert_int_equal(t_delta(m, "attached", "unmapped", "mshare.unlinks"), 1);
	assert_int_equal(t_delta(m, "unmapped", "read_after_munmap", "faults.sigsegv"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * The 2025 postings on the same trace.  v2_2025 clears the link in
 * free_pgtables() without recording a flush: the read after munmap still
 * hits the TLB (no fault, no SIGSEGV), and the host frees the PUD table that
 * task 2 still links (nothing counts it): one linked_table.  v3_2025 unlinks
 * with a P4D-stride flush without freed_tables: one INVLPG at the region's
 * start, so task 1's entry for a page 2 MiB further on survives and the read
 * still translates (the oracle sees no freed frame: not reported); the PUD
 * table is counted and kept while task 2 links it: nothing reported.
 */
static void test_mshare__posting_2025_munmap(void **s)
{
	(void)s;
	static const char *const v2[] = { "mshare=v2_2025", NULL }, *const v3[] = { "mshare=v3_2025", NULL };
	const char *const *sets[] = { v2, v3 };
	for (int i = 0; i < 2; i++) {
		struct ptsim_machine *m = t_run_trace("seeds/004_0a3a0e7ddc0a762e_munmap_no_unlink.json", sets[i]);
		assert_int_equal(t_delta(m, "attached", "unmapped", "mshare.unlinks"), 1);
		assert_int_equal(t_delta(m, "unmapped", "read_after_munmap", "faults.total"), 0);
		assert_int_equal(t_delta(m, "unmapped", "read_after_munmap", "faults.sigsegv"), 0);
		assert_int_equal(t_violations(m, PTSIM_VIOL_LINKED_TABLE), i == 0 ? 1 : 0);
		assert_int_equal(t_violations_with(m, PTSIM_VIOL_LINKED_TABLE, "mm 2 (task 2)"), i == 0 ? 1 : 0);
		assert_int_equal(ptsim_violation_count(m), i == 0 ? 1 : 0);
		t_destroy(m);
	}
}

/*
 * The table of docs/mshare.md at its real size: 64 GiB of shared memory
 * (tables as if touched fully: one access per 2 MiB allocates every table a
 * full touch would).  Plainly each process has 32,768 PTE + 64 PMD + 1 PUD
 * tables, 131,332 kB (1 and 2 processes; 1,000 would need 125 GiB of
 * simulated tables).  Through mshare, 1,000 processes: the same 131,332 kB
 * once, in the host mm; each process's VmPTE 0 (the others touch one page:
 * their link).
 */
static void test_mshare__vmpte_64g(void **s)
{
	(void)s;
	const uint64_t len = 64 * GiB;

	for (unsigned int n = 1; n <= 2; n++) {
		struct ptsim_machine *m = t_machine(2, NULL, NULL);
		uint64_t kb = 0;
		for (unsigned int i = 1; i <= n; i++) {
			T_OK(m, ptsim_spawn(m, (int)i, i - 1));
			T_OK(m, ptsim_mmap(m, (int)i,
					   &(struct ptsim_mmap_args){ .addr = REGION, .len = len, .prot = 3,
								      .kind = PTSIM_MAP_SHMEM, .file = "shm",
								      .shared = true }));
			T_OK(m, ptsim_touch(m, (int)i, REGION, len, 2 * MiB, false));
			kb += t_mm_info(m, (int)i).vmpte_kb;
		}
		assert_int_equal(kb, 131332 * n);
		t_destroy(m);
	}
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	make_region(m, len);
	for (int t = 1; t <= 1000; t++) {
		T_OK(m, ptsim_spawn(m, t, 0));
		T_OK(m, attach(m, t));
		T_OK(m, ptsim_touch(m, t, REGION, t == 1 ? len : 4096, 2 * MiB, false));
		T_OK(m, ptsim_sleep(m, t));
	}
	uint64_t kb = 0;
	for (int t = 1; t <= 1000; t++)
		kb += t_mm_info(m, t).vmpte_kb;
	assert_int_equal(kb, 0);
	struct ptsim_mm_info mi = host_info(m);
	assert_int_equal(mi.vmpte_kb, 131332);
	assert_int_equal(mi.pgtables[0], 32768);
	assert_int_equal(mi.pgtables[1], 64);
	assert_int_equal(mi.pgtables[2], 1);
	assert_int_equal(t_stat(m, "mshare.links"), 1000);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mshare__region_checks),
		cmocka_unit_test(test_mshare__faults_populate_host_tables),
		cmocka_unit_test(test_mshare__vmpte_counted_once),
		cmocka_unit_test(test_mshare__vmpte_64g),
		cmocka_unit_test(test_mshare__fixed_unlinks_at_munmap),
		cmocka_unit_test(test_mshare__rfc_v3_munmap_leaves_link),
		cmocka_unit_test(test_mshare__unlink_and_exit),
		cmocka_unit_test(test_mshare__flush_all_counts),
		cmocka_unit_test(test_mshare__per_mm_counts),
		cmocka_unit_test(test_mshare__cpumask_union_counts),
		cmocka_unit_test(test_mshare__host_mm_is_caught),
		cmocka_unit_test(test_mshare__arm64_broadcast_counts),
		cmocka_unit_test(test_mshare__gup_fast_walker_of_a_sharer),
		cmocka_unit_test(test_mshare__seed_munmap_no_unlink),
		cmocka_unit_test(test_mshare__posting_2025_munmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
