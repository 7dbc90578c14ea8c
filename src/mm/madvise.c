/*
 * madvise(MADV_DONTNEED / MADV_DONTNEED_LOCKED / MADV_FREE): port of
 * mm/madvise.c at v6.18.
 *
 * The walk over the VMAs of the range (madvise_walk_vmas()) stops at the first
 * VMA that rejects the advice (-EINVAL, earlier VMAs already done) and reports
 * a hole as -ENOMEM after doing the rest.  Since v6.16 one mmu_gather spans
 * all VMAs of the call (madvise_one_gather=on, one final flush); before, each
 * VMA had its own.  MADV_DONTNEED asks zap_pte_range() for PTE-table reclaim
 * (details.reclaim_pt); MADV_FREE only marks exclusive anonymous pages lazily
 * free, clearing young/dirty (and recording a flush) where set.
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
		frame(m, pfn)->flags |= FRAME_F_LAZYFREE;   /* folio_mark_lazyfree() */
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
	tlb_start_vma(tlb, vma);
	for (uint64_t addr = start; addr < end;) {
		uint64_t next = (addr + PMD_SIZE(m)) & ~(PMD_SIZE(m) - 1);
		if (next > end || next == 0)
			next = end;
		pmd_t *pmd = mm_find_pmd(mm, addr);
		if (pmd && !pmd_none(mm, *pmd))
			madvise_free_pte_range(tlb, vma, pmd, addr, next);
		addr = next;
	}
	tlb_end_vma(tlb, vma);
	return 0;
}

static int madvise_dontneed_free(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
				 enum ptsim_advice advice)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	struct mmu_gather own;
	int err = 0;

	if (!madvise_dontneed_free_valid_vma(vma, start, &end, advice))
		return -EINVAL;
	if (start >= end)
		return 0;
	if (!m->v.madvise_one_gather) {
		tlb = &own;
		tlb_gather_mmu(tlb, vma->vm_mm);
	}
	if (advice == PTSIM_MADV_FREE)
		err = madvise_free_single_vma(tlb, vma, start, end);
	else
		madvise_dontneed_single_vma(tlb, vma, start, end);
	if (!m->v.madvise_one_gather)
		tlb_finish_mmu(tlb);
	return err;
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

	if (m->v.madvise_one_gather)
		tlb_gather_mmu(&tlb, mm);
	struct vm_area_struct *vma = find_vma(mm, start);
	while (vma && vma->vm_start < end) {
		if (start < vma->vm_start) {
			unmapped_error = -ENOMEM;
			start = vma->vm_start;
		}
		uint64_t tmp = vma->vm_end < end ? vma->vm_end : end;
		err = madvise_dontneed_free(&tlb, vma, start, tmp, advice);
		if (err)
			break;
		start = tmp;
		if (start >= end)
			break;
		vma = find_vma(mm, start);
	}
	if (!err && start < end)
		unmapped_error = -ENOMEM;
	if (m->v.madvise_one_gather)
		tlb_finish_mmu(&tlb);
	return err ? err : unmapped_error;
}
