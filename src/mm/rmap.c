/*
 * Page reclaim of anonymous folios to swap: what ptsim_swapout() does to the
 * page tables.  Models mm/rmap.c try_to_unmap_one() for an anonymous folio
 * and the steps of mm/vmscan.c shrink_folio_list() around it (add_to_swap(),
 * pageout(), __remove_mapping(), the final folio_put()) at v6.18.
 *
 * Per folio mapped by one PTE of a VMA that is not VM_LOCKED:
 *   1. ptep_clear_flush(): clear the PTE and flush it (flush_tlb_page(): on
 *      x86 the CPUs that run the mm non-lazily, freed_tables = 0);
 *   2. a clean MADV_FREE'd folio is discarded (the PTE stays none,
 *      RssAnon -1); otherwise the PTE becomes a swap entry (RssAnon -1,
 *      VmSwap +1) — a swap entry is a non-present entry that
 *      zap_pte_range() zaps under MADV_DONTNEED (free_swap_and_cache()), so
 *      it does not keep a PTE table from being reclaimed;
 *   3. the rmap and the PTE's reference go; the page is freed once written
 *      out (the oracle checks no TLB still reaches it).
 *
 * ptsim departures:
 *   - always the non-deferred flush of step 1.  shrink_folio_list() passes
 *     TTU_BATCH_FLUSH, and when mm_cpumask holds other CPUs the kernel
 *     clears the PTEs without flushing and does one batched full flush
 *     (arch_tlbbatch_flush()) before freeing; for a single-threaded mm both
 *     are the same local single-page flush;
 *   - folios mapped by more than one PTE (shared after fork) or pinned are
 *     skipped: there is no anonymous rmap walk over other mms;
 *   - the swap offset is the old frame number: nothing looks swap slots up
 *     (swap-in reads "the data" into a fresh page).
 */
#include "mm/internal.h"

#include "arch/arch.h"

/* folio_referenced()/folio_mapped_once() stand-in: can reclaim take it from this PTE alone? */
static bool folio_reclaimable(struct ptsim_machine *m, pte_t pte)
{
	if (!pgent_present(pte) || (pte & _PAGE_SPECIAL))
		return false;
	const struct sim_frame *f = frame(m, pgent_pfn(pte));
	return f->kind == FRAME_ANON && f->mapcount == 1 && f->refcount == 1;
}

/**
 * try_to_unmap_one - unmap one anonymous folio from @vma at @address.
 * Return: true if the folio was unmapped (and can be freed).
 */
static bool try_to_unmap_one(struct vm_area_struct *vma, uint64_t address, pte_t *ptep)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pte_t pteval = *ptep;
	uint32_t pfn = pgent_pfn(pteval);
	struct sim_frame *f = frame(m, pfn);

	/* An mlock()ed VMA keeps its pages (they are moved to the unevictable list). */
	if (vma->vm_flags & VM_LOCKED)
		return false;

	ptep_clear_flush(vma, address, ptep);
	update_hiwater_rss(mm);   /* before we lower rss */
	if (pteval & _PAGE_DIRTY)
		f->flags &= (uint16_t)~FRAME_F_LAZYFREE;   /* redirtied: swap-backed again */

	if (f->flags & FRAME_F_LAZYFREE) {
		/* A clean MADV_FREE'd folio: discard it, the PTE stays empty. */
		mm_counter_add(mm, MM_ANONPAGES, -1);
		STAT_INC(m, RECLAIM_LAZYFREE);
	} else {
		pt_write(m, ptep, PT_PTE, address, mk_swp_pgent(SWP_SWAP, pfn));
		mm_counter_add(mm, MM_ANONPAGES, -1);
		mm_counter_add(mm, MM_SWAPENTS, 1);
		STAT_INC(m, RECLAIM_SWAPOUT);
	}
	folio_remove_rmap(m, pfn, 1);
	return true;
}

/**
 * swapout_range - reclaim the anonymous folios mapped in [@start, @end).
 * Return: 0, or -ENOMEM if part of the range is not mapped (the mapped parts
 * are done).
 */
int swapout_range(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct ptsim_machine *m = mm->machine;
	int unmapped_error = 0;
	struct vm_area_struct *vma = find_vma(mm, start);

	while (vma && vma->vm_start < end) {
		if (start < vma->vm_start) {
			unmapped_error = -ENOMEM;
			start = vma->vm_start;
		}
		uint64_t vend = vma->vm_end < end ? vma->vm_end : end;
		if (is_vm_hugetlb_page(vma))
			goto next_vma;   /* hugetlb folios are not reclaimed to swap */
		for (uint64_t addr = start; addr < vend;) {
			uint64_t next = pte_table_end(m, addr, vend);
			pmd_t *pmd = mm_find_pmd(mm, addr);
			if (pmd && !pmd_none(mm, *pmd) && !pgent_huge(*pmd)) {
				pte_t *pte = pte_offset_map(mm, pmd, addr);
				for (uint64_t a = addr; a != next; a += PAGE_SIZE(m), pte++) {
					if (!folio_reclaimable(m, *pte))
						continue;
					uint32_t pfn = pgent_pfn(*pte);
					if (try_to_unmap_one(vma, a, pte))
						put_page(m, pfn);   /* written out, off the swap cache: freed */
				}
			}
			addr = next;
		}
next_vma:
		start = vend;
		if (start >= end)
			break;
		vma = find_vma(mm, start);
	}
	if (start < end)
		unmapped_error = -ENOMEM;
	return unmapped_error;
}
