/*
 * Empty PTE-table reclaim on madvise(MADV_DONTNEED): port of mm/pt_reclaim.c
 * (v6.14 - v6.19, checked against the torvalds/linux copy with
 * reclaim_pt_is_enabled() and the pmd_lock()-first try_to_free_pte(); folded
 * into mm/memory.c as zap_empty_pte_table() / zap_pte_table_if_empty() in the
 * 7.0 cycle), and its first posting.  The caller is zap_pte_range() in
 * memory.c; docs/pt-reclaim.md walks through the whole algorithm.
 *
 * Variants (pt_reclaim=...):
 *   off          before v6.14 (and v6.14 - v6.19 on arm64): empty PTE tables
 *                stay until munmap/exit frees them in free_pgtables();
 *   on           the merged algorithm: 6375e95f381e, plus the v6.14-rc fix
 *                ("fix incorrect reclaim of non-empty PTE pages") that sends
 *                the cases where the PTE lock was dropped midway
 *                (force_break; need_resched() is not modelled) to the slow
 *                path;
 *   v1_2024_10   "[PATCH v1 0/7] synchronously scan and reclaim empty user PTE
 *                pages" (17 Oct 2024) as posted: the range check
 *                ALIGN_DOWN(end, PMD_SIZE) - ALIGN(start, PMD_SIZE) < PMD_SIZE
 *                computed in unsigned arithmetic, so a range strictly inside
 *                one table wraps to a huge value and passes; the fast path then
 *                clears the PMD of a table that still maps pages (no re-check:
 *                the bug the review and the kernel test robot found); and the
 *                retry label below the force flags (memory.c).
 *
 * Ordering kept: the PMD entry is cleared under the PMD lock (fast path: also
 * under the PTE lock), then pte_free_tlb() records the PMD-level range and
 * freed_tables, so the final flush of the madvise call reaches every CPU in
 * mm_cpumask (lazy ones too on x86) and the table is freed only after that
 * flush and an RCU grace period (tlb_remove_table(); the single-table fallback
 * is call_rcu() with PT_RECLAIM).  VmPTE drops at once (mm_dec_nr_ptes()).
 *
 * Locks: the PMD lock is the split PMD lock of the PMD table (pmd_lockptr();
 * x86-64 and arm64 split it, so it is never the PTE lock).  A trace can make
 * another CPU hold it (ptsim_pmd_lock()): the fast path's spin_trylock() then
 * fails.  The slow path's pmd_lock() models waiting for that short critical
 * section to end: the holder cannot change the table in the meantime (the
 * simulation has no concurrent page-table writer), so the re-check sees what
 * the zap left.  A concurrent fault that refills the table between the two
 * lock sections cannot happen in a sequential simulation, so
 * pt_reclaim.slow_path_failed only counts tables the zap itself left
 * non-empty (v1 under contention).
 *
 * Counters: pt_reclaim.fast_path, .slow_path, .slow_path_failed,
 * .tables_freed (tables detached and queued; pgtables_freed.pte counts them
 * when RCU finally frees them).
 *
 * Eras of the end of zap_pte_range() (m->eras.pt_reclaim_free, chosen by
 * pt_reclaim_select_era()):
 *   v6.14 - v6.19 (on, v1_2024_10)  free_pte() with the fast path's value,
 *       else try_to_free_pte(); both record the table at @start, the first
 *       address of the zap, which covers the whole table;
 *   7.0 - 7.1.8 (fold_7_0)  the code folded into mm/memory.c (read from
 *       the 7.0-cycle tree): zap_pte_table_if_empty() for the slow path, then
 *       pte_free_tlb() with @addr — by then one past the table's range, so
 *       the flush that should drop paging-structure-cache references to the
 *       table targets the next table's address (CVE-2026-74674);
 *   7.1.9 (fold_7_1_9)  the same with the table's own address.  The fix
 *       itself was not available to read; ptsim uses @start, the address the
 *       earlier form used and the advisory's reasoning asks for.
 * The 7.0 fast path zap_empty_pte_table() differs from try_get_and_clear_pmd()
 * only for non-split PMD locks, which x86-64 and arm64 do not use: ptsim
 * keeps one function for both.
 */
#include "mm/internal.h"

#include "mm/mmu_gather.h"

/**
 * reclaim_pt_is_enabled - may this zap_pte_range() call reclaim its table?
 * Only for MADV_DONTNEED(_LOCKED) (details->reclaim_pt), and only when the
 * zap covers the table's whole PMD_SIZE span.
 */
bool reclaim_pt_is_enabled(struct ptsim_machine *m, uint64_t start, uint64_t end, struct zap_details *details)
{
	if (m->v.pt_reclaim == PT_RECLAIM_OFF || !details || !details->reclaim_pt)
		return false;
	if (m->v.pt_reclaim == PT_RECLAIM_V1_2024_10) {
		uint64_t pmd_size = PMD_SIZE(m);
		uint64_t align_down_end = end & ~(pmd_size - 1);
		uint64_t align_start = (start + pmd_size - 1) & ~(pmd_size - 1);
		/* Unsigned, as posted: a range inside one table wraps and passes. */
		return !(align_down_end - align_start < pmd_size);
	}
	return end - start >= PMD_SIZE(m);
}

/* The split PMD lock of the table containing @pmd is held by a trace CPU. */
static bool pmd_lock_contended(struct mm_struct *mm, pmd_t *pmd)
{
	struct ptdesc *pt = virt_to_ptdesc(mm->machine, pmd);

	return pt && pt->lock_cpu >= 0;
}

/* The first VA the PMD entry @pmd maps (for the arch's entry-write hook). */
static uint64_t pmd_entry_addr(struct ptsim_machine *m, pmd_t *pmd)
{
	struct ptdesc *pt = virt_to_ptdesc(m, pmd);
	uint64_t idx;

	assert(pt);   /* a PMD entry always lies in a table */
	idx = (uint64_t)(pmd - pt_entries(m, pt->pfn));

	return pt->addr + (idx << PMD_SHIFT(m));
}

/**
 * try_get_and_clear_pmd - fast path, under the PTE lock with every entry
 * empty: trylock the PMD lock and detach the table.  Return: false if the
 * lock was contended (the slow path will re-check).
 */
bool try_get_and_clear_pmd(struct mm_struct *mm, pmd_t *pmd, pmd_t *pmdval)
{
	struct ptsim_machine *m = mm->machine;

	if (pmd_lock_contended(mm, pmd))
		return false;   /* spin_trylock() failed */
	*pmdval = *pmd;
	pt_write(m, pmd, PT_PMD, pmd_entry_addr(m, pmd), 0);   /* pmd_clear() */
	STAT_INC(m, PTRECLAIM_FAST);
	return true;
}

/**
 * free_pte - queue the detached table: pte_free_tlb() records the PMD-level
 * range and freed_tables, so the final flush reaches lazy CPUs too and the
 * table is freed after it (and after a grace period).
 */
void free_pte(struct mm_struct *mm, uint64_t addr, struct mmu_gather *tlb, pmd_t pmdval)
{
	struct ptsim_machine *m = mm->machine;

	pte_free_tlb(tlb, pt_desc(m, pgent_pfn(pmdval)), addr);
	mm_dec_nr_ptes(mm);
	STAT_INC(m, PTRECLAIM_FREED);
}

static bool zap_pte_table_if_empty(struct mm_struct *mm, pmd_t *pmd, pmd_t *pmdval);

/**
 * try_to_free_pte - slow path: take the PMD lock and the PTE lock, re-check
 * that the PMD still points at the table and that all PTRS_PER_PTE entries are
 * none, then detach and free it; otherwise leave it.  (The re-check is the
 * one 7.0 split out as zap_pte_table_if_empty(); ptsim shares it.)
 */
void try_to_free_pte(struct mm_struct *mm, pmd_t *pmd, uint64_t addr, struct mmu_gather *tlb)
{
	pmd_t pmdval;

	if (zap_pte_table_if_empty(mm, pmd, &pmdval))
		free_pte(mm, addr, tlb, pmdval);
}

/* ---- the end of zap_pte_range(), by era ---- */

/* v6.14 - v6.19: free_pte() after the fast path, else the slow re-check. */
static void pt_reclaim_free_6_14(struct mm_struct *mm, pmd_t *pmd, uint64_t start, uint64_t addr,
				 struct mmu_gather *tlb, pmd_t pmdval, bool direct_reclaim)
{
	(void)addr;
	if (direct_reclaim)
		free_pte(mm, start, tlb, pmdval);
	else
		try_to_free_pte(mm, pmd, start, tlb);
}

/**
 * zap_pte_table_if_empty - the 7.0 slow path (try_to_free_pte() before):
 * re-check under the PMD and PTE locks that the table is still there and
 * empty, and if so clear the PMD entry.  Return: true if it was detached
 * (*@pmdval is the old entry).  pte_offset_map_rw_nolock() may find the
 * table gone already; pmd_lock() stands for waiting until a trace CPU's
 * critical section ends, and the pmd_same() re-check holds trivially here.
 */
static bool zap_pte_table_if_empty(struct mm_struct *mm, pmd_t *pmd, pmd_t *pmdval)
{
	struct ptsim_machine *m = mm->machine;

	STAT_INC(m, PTRECLAIM_SLOW);
	*pmdval = *pmd;
	if (pgent_none(*pmdval) || !pgent_present(*pmdval) || pgent_huge(*pmdval) ||
	    !pt_table_empty(m, pgent_pfn(*pmdval))) {
		STAT_INC(m, PTRECLAIM_SLOW_FAIL);
		return false;
	}
	pt_write(m, pmd, PT_PMD, pmd_entry_addr(m, pmd), 0);   /* pmd_clear() */
	return true;
}

/* 7.x: the table goes through pte_free_tlb() at @flush_addr. */
static void pt_reclaim_free_7(struct mm_struct *mm, pmd_t *pmd, uint64_t flush_addr, struct mmu_gather *tlb,
			      pmd_t pmdval, bool direct_reclaim)
{
	if (direct_reclaim || zap_pte_table_if_empty(mm, pmd, &pmdval))
		free_pte(mm, flush_addr, tlb, pmdval);   /* pte_free_tlb() + mm_dec_nr_ptes() */
}

/* 7.0 - 7.1.8: @addr has run to the end of the range: one past the table (CVE-2026-74674). */
static void pt_reclaim_free_7_0(struct mm_struct *mm, pmd_t *pmd, uint64_t start, uint64_t addr,
				struct mmu_gather *tlb, pmd_t pmdval, bool direct_reclaim)
{
	(void)start;
	pt_reclaim_free_7(mm, pmd, addr, tlb, pmdval, direct_reclaim);
}

/* 7.1.9: the table's own address. */
static void pt_reclaim_free_7_1_9(struct mm_struct *mm, pmd_t *pmd, uint64_t start, uint64_t addr,
				  struct mmu_gather *tlb, pmd_t pmdval, bool direct_reclaim)
{
	(void)addr;
	pt_reclaim_free_7(mm, pmd, start, tlb, pmdval, direct_reclaim);
}

/* Choose the era of the pt_reclaim variant (machine creation). */
void pt_reclaim_select_era(struct ptsim_machine *m)
{
	switch (m->v.pt_reclaim) {
	case PT_RECLAIM_FOLD_7_0:
		m->eras.pt_reclaim_free = pt_reclaim_free_7_0;
		break;
	case PT_RECLAIM_FOLD_7_1_9:
		m->eras.pt_reclaim_free = pt_reclaim_free_7_1_9;
		break;
	default:   /* off never reclaims (reclaim_pt_is_enabled()) */
		m->eras.pt_reclaim_free = pt_reclaim_free_6_14;
		break;
	}
}
