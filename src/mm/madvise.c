/*
 * madvise(MADV_DONTNEED / MADV_DONTNEED_LOCKED / MADV_FREE /
 * MADV_GUARD_INSTALL / MADV_GUARD_REMOVE / MADV_COLD / MADV_PAGEOUT): port of
 * mm/madvise.c at v6.18.
 *
 * MADV_COLD and MADV_PAGEOUT (madvise_cold(), madvise_pageout(): one gather
 * per VMA) walk the existing PTE tables (madvise_cold_or_pageout_pte_range()):
 * COLD clears young bits into the gather's range, PAGEOUT hands each table's
 * folios to reclaim_pages() (rmap.c).  Both drain this CPU's LRU add batch
 * first (lru_add_drain()); a folio still in another CPU's batch cannot be
 * isolated and stays (swap.c).  ptsim: the caller may page out any file
 * (can_do_file_pageout()), no large folios or THP.
 *
 * The walk over the VMAs of the range (madvise_walk_vmas()) stops at the first
 * VMA that rejects the advice (-EINVAL, earlier VMAs already done) and reports
 * a hole as -ENOMEM after doing the rest.  Since v6.16 one mmu_gather spans
 * all VMAs of a DONTNEED / DONTNEED_LOCKED / FREE call
 * (madvise_batch_tlb_flush(); variant madvise_one_gather=on, one final flush);
 * before, each VMA had its own.  MADV_DONTNEED asks zap_pte_range() for
 * PTE-table reclaim (details.reclaim_pt, docs/pt-reclaim.md); MADV_FREE only
 * marks exclusive anonymous pages lazily free, clearing young/dirty (and
 * recording a flush) where set.  MADV_FREE drains this CPU's LRU add batch
 * first (madvise_free_single_vma()); a folio still in another CPU's batch is
 * not marked (folio_mark_lazyfree(), swap.c).
 *
 * Guard regions (6.13+): MADV_GUARD_INSTALL walks the range installing a
 * guard PTE marker in every empty entry (allocating page tables as it goes);
 * if it meets a populated entry it zaps the range with
 * zap_page_range_single() (its own gather: one flush; existing markers stay)
 * and walks again.  MADV_GUARD_REMOVE clears the markers (no flush: they were
 * never present).  A guard marker is an entry zap_pte_range() keeps, so a
 * table holding one is never reclaimed by MADV_DONTNEED.
 *
 * Left out: the per-VMA-lock fast path (no effect on what is flushed),
 * userfaultfd_remove(), MADV_GUARD_* on VMAs with VM_MAYBE_GUARD semantics of
 * later trees (the flag only affects fork and khugepaged).
 */
#include "mm/internal.h"

#include "arch/arch.h"
#include "mm/mmu_gather.h"

static bool madvise_dontneed_free_valid_vma(struct vm_area_struct *vma, uint64_t start, uint64_t *end,
					    enum ptsim_advice advice)
{
	if (!is_vm_hugetlb_page(vma)) {
		uint64_t forbidden = VM_PFNMAP;
		if (advice != PTSIM_MADV_DONTNEED_LOCKED)
			forbidden |= VM_LOCKED;
		return !(vma->vm_flags & forbidden);
	}
	if (advice != PTSIM_MADV_DONTNEED && advice != PTSIM_MADV_DONTNEED_LOCKED)
		return false;
	if (start & (huge_page_size(vma) - 1))
		return false;
	*end &= ~(huge_page_size(vma) - 1);   /* rounded down to a huge page */
	return true;
}

static void madvise_dontneed_single_vma(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start,
					uint64_t end)
{
	struct zap_details details = {
		.reclaim_pt = true,
		.even_cows = true,
	};

	zap_page_range_single_batched(tlb, vma, start, end - start, &details);
}

static void madvise_free_pte_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pmd_t *pmd, uint64_t addr,
				   uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	int nr_swap = 0;

	flush_tlb_batched_pending(mm);
	for (pte_t *pte = pte_offset_map(mm, pmd, addr); addr != end; pte++, addr += PAGE_SIZE(m)) {
		pte_t ptent = *pte;

		if (pgent_none(ptent))
			continue;
		if (!pgent_present(ptent)) {
			if (pgent_swp_kind(ptent) == SWP_SWAP) {
				nr_swap--;   /* free_swap_and_cache() */
				pt_write(m, pte, PT_PTE, addr, 0);
			}
			continue;
		}
		if (ptent & _PAGE_SPECIAL)
			continue;   /* zero page */
		uint32_t pfn = pgent_pfn(ptent);
		if (frame(m, pfn)->kind != FRAME_ANON || frame(m, pfn)->mapcount != 1)
			continue;   /* maybe mapped shared: leave it */
		if (ptent & (_PAGE_ACCESSED | _PAGE_DIRTY)) {
			pt_write(m, pte, PT_PTE, addr, ptent & ~(_PAGE_ACCESSED | _PAGE_DIRTY));
			tlb_remove_tlb_entries(tlb, addr, 1);
		}
		folio_mark_lazyfree(m, pfn);
	}
	if (nr_swap)
		mm_counter_add(mm, MM_SWAPENTS, nr_swap);
}

static int madvise_free_single_vma(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	if (!vma_is_anonymous(vma))
		return -EINVAL;
	lru_add_drain(m);
	update_hiwater_rss(mm);
	tlb_start_vma(tlb, vma);
	for (uint64_t addr = start; addr < end;) {
		uint64_t next = pte_table_end(m, addr, end);
		pmd_t *pmd = mm_find_pmd(mm, addr);
		if (pmd && !pmd_none(mm, *pmd))
			madvise_free_pte_range(tlb, vma, pmd, addr, next);
		addr = next;
	}
	tlb_end_vma(tlb, vma);
	return 0;
}

/* ---- guard regions ---- */

#define MAX_MADVISE_GUARD_RETRIES 3

static bool is_valid_guard_vma(struct vm_area_struct *vma, bool allow_locked)
{
	uint64_t disallowed = VM_SPECIAL | VM_HUGETLB;

	/* Zapping a locked VMA's pages to make room for markers is refused. */
	if (!allow_locked)
		disallowed |= VM_LOCKED;
	return !(vma->vm_flags & disallowed);
}

static bool is_guard_pte_marker(pte_t ptent)
{
	return !pgent_none(ptent) && pgent_swp_kind(ptent) == SWP_GUARD_MARKER;
}

/*
 * walk_page_range_mm() with guard_install_walk_ops: every empty entry gets a
 * marker (install_pte, tables allocated on the way), an existing marker is
 * counted, a populated entry stops the walk.
 * Return: 0 (all markers in place), 1 (zap needed), SIM_ENOMEM.
 */
static int guard_install_walk(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	for (uint64_t addr = start; addr < end;) {
		uint64_t next = pte_table_end(m, addr, end);
		pmd_t *pmd = alloc_new_pmd(mm, addr);
		if (!pmd || pte_alloc(mm, pmd, addr))
			return SIM_ENOMEM;
		if (pgent_huge(*pmd))
			return 1;   /* guard_install_pmd_entry(): a huge PMD is zapped first */
		pte_t *pte = pte_offset_map(mm, pmd, addr);
		for (; addr != next; addr += PAGE_SIZE(m), pte++) {
			if (pgent_none(*pte))
				pt_write(m, pte, PT_PTE, addr, mk_swp_pgent(SWP_GUARD_MARKER, 0));   /* guard_install_set_pte() */
			else if (!is_guard_pte_marker(*pte))
				return 1;   /* guard_install_pte_entry(): populated */
		}
	}
	return 0;
}

static int madvise_guard_install(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	int err;

	if (!is_valid_guard_vma(vma, false))
		return -EINVAL;
	/* Page tables with entries: the VMA gets an anon_vma (so fork copies them). */
	if (anon_vma_prepare(vma))
		return SIM_ENOMEM;
	for (int i = 0; i < MAX_MADVISE_GUARD_RETRIES; i++) {
		err = guard_install_walk(vma, start, end);
		if (err <= 0)
			return err;
		/* Some entries are populated: zap them (markers stay) and walk again. */
		zap_page_range_single(vma, start, end - start, NULL);
	}
	/* Only racing faults could get here; the simulation has none. */
	NEVER(vma->vm_mm->machine, true);
	return -EAGAIN;
}

static int madvise_guard_remove(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	/* Removing markers from an mlock()ed range is harmless, so allowed. */
	if (!is_valid_guard_vma(vma, true))
		return -EINVAL;
	for (uint64_t addr = start; addr < end;) {
		uint64_t next = pte_table_end(m, addr, end);
		pmd_t *pmd = mm_find_pmd(mm, addr);
		if (pmd && !pmd_none(mm, *pmd) && !pgent_huge(*pmd)) {
			pte_t *pte = pte_offset_map(mm, pmd, addr);
			for (uint64_t a = addr; a != next; a += PAGE_SIZE(m), pte++)
				if (is_guard_pte_marker(*pte))
					pt_write(m, pte, PT_PTE, a, 0);   /* pte_clear_not_present_full() */
		}
		addr = next;
	}
	return 0;
}

/* ---- COLD / PAGEOUT ---- */

/*
 * madvise_cold_or_pageout_pte_range - one PTE table's part of [@addr, @end):
 * each present PTE mapping a folio no other PTE maps is deactivated; MADV_COLD
 * clears its young bit (recording the page in @tlb, flushed at
 * tlb_finish_mmu()), MADV_PAGEOUT isolates it and reclaims the table's
 * folios at the end (reclaim_pages()).
 */
static void madvise_cold_or_pageout_pte_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pmd_t *pmd,
					      uint64_t addr, uint64_t end, bool pageout, uint64_t *folios,
					      struct tlbflush_unmap_batch *ubc)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	unsigned int nr_folios = 0;

	flush_tlb_batched_pending(mm);
	for (pte_t *pte = pte_offset_map(mm, pmd, addr); addr != end; pte++, addr += PAGE_SIZE(m)) {
		pte_t ptent = *pte;

		if (pgent_none(ptent) || !pgent_present(ptent))
			continue;
		if (ptent & _PAGE_SPECIAL)
			continue;   /* vm_normal_folio(): the zero page */
		/* Another mapping of the folio (after fork, a file page mapped elsewhere): left alone. */
		if (frame(m, pgent_pfn(ptent))->mapcount != 1)
			continue;
		if (!pageout && (ptent & _PAGE_ACCESSED)) {
			pt_write(m, pte, PT_PTE, addr, ptent & ~_PAGE_ACCESSED);   /* clear_young_dirty_ptes(CYDP_CLEAR_YOUNG) */
			tlb_remove_tlb_entries(tlb, addr, 1);
		}
		if (pageout && folio_test_lru(frame(m, pgent_pfn(ptent))))
			folios[nr_folios++] = addr;   /* folio_isolate_lru(): fails while in an LRU add batch */
	}
	if (pageout && nr_folios)
		reclaim_pages(vma, folios, nr_folios, ubc);
}

/* can_madv_lru_vma(): mlock()ed, PFN-map and hugetlb VMAs refuse both advices. */
static bool can_madv_lru_vma(const struct vm_area_struct *vma)
{
	return !(vma->vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB));
}

/*
 * madvise_cold() / madvise_pageout(): the walk of one VMA with its own
 * mmu_gather (neither advice is batched over the call).  The walk visits
 * the PTE tables that exist; a huge PMD cannot occur outside hugetlb VMAs.
 */
static int madvise_cold_or_pageout(struct vm_area_struct *vma, uint64_t start, uint64_t end, bool pageout)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	struct tlbflush_unmap_batch ubc;
	uint64_t *folios = NULL;
	struct mmu_gather tlb;

	if (!can_madv_lru_vma(vma))
		return -EINVAL;
	lru_add_drain(m);
	if (pageout) {
		folios = sim_icalloc(&m->alloc, PTRS_PER_PTE(m), sizeof(*folios));
		if (!folios || tlbbatch_init(m, &ubc)) {
			sim_free(&m->alloc, folios, PTRS_PER_PTE(m) * sizeof(*folios));
			return SIM_ENOMEM;
		}
	}
	tlb_gather_mmu(&tlb, mm);
	tlb_start_vma(&tlb, vma);
	for (uint64_t addr = start; addr < end;) {
		uint64_t next = pte_table_end(m, addr, end);
		pmd_t *pmd = mm_find_pmd(mm, addr);
		if (pmd && !pmd_none(mm, *pmd) && !pgent_huge(*pmd))
			madvise_cold_or_pageout_pte_range(&tlb, vma, pmd, addr, next, pageout, folios, &ubc);
		addr = next;
	}
	tlb_end_vma(&tlb, vma);
	tlb_finish_mmu(&tlb);
	if (pageout) {
		tlbbatch_release(m, &ubc);
		sim_free(&m->alloc, folios, PTRS_PER_PTE(m) * sizeof(*folios));
	}
	return 0;
}

/* ---- DONTNEED / FREE ---- */

static int madvise_dontneed_free(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
				 enum ptsim_advice advice)
{
	struct mmu_gather own;
	bool own_gather = !tlb;   /* before v6.16 (or unbatched): one gather per VMA */
	int err = 0;

	if (!madvise_dontneed_free_valid_vma(vma, start, &end, advice))
		return -EINVAL;
	if (start >= end)
		return 0;
	if (own_gather) {
		tlb = &own;
		tlb_gather_mmu(tlb, vma->vm_mm);
	}
	if (advice == PTSIM_MADV_FREE)
		err = madvise_free_single_vma(tlb, vma, start, end);
	else
		madvise_dontneed_single_vma(tlb, vma, start, end);
	if (own_gather)
		tlb_finish_mmu(tlb);
	return err;
}

/* Behaviours whose flush is batched over the whole call (v6.16+). */
static bool madvise_batch_tlb_flush(enum ptsim_advice advice)
{
	return advice == PTSIM_MADV_DONTNEED || advice == PTSIM_MADV_DONTNEED_LOCKED || advice == PTSIM_MADV_FREE;
}

static int madvise_vma_behavior(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
				enum ptsim_advice advice)
{
	switch (advice) {
	case PTSIM_MADV_GUARD_INSTALL:
		return madvise_guard_install(vma, start, end);
	case PTSIM_MADV_GUARD_REMOVE:
		return madvise_guard_remove(vma, start, end);
	case PTSIM_MADV_COLD:
		return madvise_cold_or_pageout(vma, start, end, false);
	case PTSIM_MADV_PAGEOUT:
		return madvise_cold_or_pageout(vma, start, end, true);
	default:
		return madvise_dontneed_free(tlb, vma, start, end, advice);
	}
}

/**
 * do_madvise - apply @advice to [start, start+len).
 * Return: 0, -EINVAL (a VMA rejects it; earlier VMAs were done), or -ENOMEM (a
 * hole in the range; the mapped parts were done).
 */
int do_madvise(struct mm_struct *mm, uint64_t start, uint64_t len, enum ptsim_advice advice)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t end = start + len;
	int unmapped_error = 0, err = 0;
	struct mmu_gather tlb;
	bool batched = m->v.madvise_one_gather && madvise_batch_tlb_flush(advice);

	if (batched)
		tlb_gather_mmu(&tlb, mm);
	struct vm_area_struct *vma = find_vma(mm, start);
	while (vma && vma->vm_start < end) {
		if (start < vma->vm_start) {
			unmapped_error = -ENOMEM;
			start = vma->vm_start;
		}
		uint64_t tmp = vma->vm_end < end ? vma->vm_end : end;
		err = madvise_vma_behavior(batched ? &tlb : NULL, vma, start, tmp, advice);
		if (err)
			break;
		start = tmp;
		if (start >= end)
			break;
		vma = find_vma(mm, start);
	}
	if (!err && start < end)
		unmapped_error = -ENOMEM;
	if (batched)
		tlb_finish_mmu(&tlb);
	return err ? err : unmapped_error;
}
