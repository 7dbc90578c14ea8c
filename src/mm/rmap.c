/*
 * Page reclaim: what ptsim_swapout() and madvise(MADV_PAGEOUT) do to the
 * page tables.  The first part (ptsim_swapout(), anonymous folios to swap)
 * is described here; the second (reclaim_pages() with the deferred flush of
 * TTU_BATCH_FLUSH, at the end of the file) models mm/vmscan.c
 * reclaim_pages()/shrink_folio_list() and mm/rmap.c try_to_unmap_one(),
 * set_tlb_ubc_flush_pending(), try_to_unmap_flush() and
 * flush_tlb_batched_pending() at v6.18.
 *
 * swapout:  Models mm/rmap.c try_to_unmap_one() for an anonymous folio
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

	/*
	 * ptsim: a swapout event stands for reclaim long after the pages were
	 * faulted, when no CPU's LRU add batch holds them any more (reclaim
	 * cannot isolate a folio that waits there): drain them all first.
	 */
	lru_add_drain_all(m);

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

/* ------------------------------------------------------------------------ */
/* Reclaim of isolated folios with the deferred flush (MADV_PAGEOUT)         */
/* ------------------------------------------------------------------------ */

/*
 * The kernel's mm->tlb_flush_batched packs "pending" into the low 15 bits and
 * "flushed" above; when pending grows past half its range both restart at
 * 1 / 0 (set_tlb_ubc_flush_pending()), so the two never meet by wrapping.
 */
#define TLB_FLUSH_BATCH_PENDING_MASK ((1u << 15) - 1)
#define TLB_FLUSH_BATCH_PENDING_LARGE (TLB_FLUSH_BATCH_PENDING_MASK / 2)

/* The folio_batch of freed folios in shrink_folio_list(): FOLIO_BATCH_SIZE (internal.h). */

int tlbbatch_init(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc)
{
	memset(ubc, 0, sizeof(*ubc));
	return cpumask_alloc(m, &ubc->arch.cpumask);
}

void tlbbatch_release(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc)
{
	NEVER(m, ubc->flush_required);
	cpumask_release(m, &ubc->arch.cpumask);
}

/* flush_tlb_batched_pending()'s slow half: flush the mm, then flushed = pending. */
void flush_tlb_batched_pending_now(struct mm_struct *mm)
{
	flush_tlb_mm(mm);
	mm->tlb_flush_batched_flushed = mm->tlb_flush_batched_pending;
}

/* should_defer_flush() with TTU_BATCH_FLUSH (reclaim always passes it). */
static bool should_defer_flush(struct mm_struct *mm)
{
	const struct ptsim_arch_ops *ops = mm->machine->ops;

	return ops->tlbbatch_should_defer && ops->tlbbatch_should_defer(mm);
}

/* set_tlb_ubc_flush_pending(): queue the cleared PTE's flush and mark the mm. */
static void set_tlb_ubc_flush_pending(struct mm_struct *mm, struct tlbflush_unmap_batch *ubc, pte_t pteval,
				      uint64_t start, uint64_t end)
{
	if (!pgent_present(pteval))
		return;   /* !pte_accessible(): nothing can cache it */
	mm->machine->ops->tlbbatch_add_pending(&ubc->arch, mm, start, end);
	ubc->flush_required = true;
	if (mm->tlb_flush_batched_pending > TLB_FLUSH_BATCH_PENDING_LARGE) {
		mm->tlb_flush_batched_pending = 1;
		mm->tlb_flush_batched_flushed = 0;
	} else {
		mm->tlb_flush_batched_pending++;
	}
	if (pteval & _PAGE_DIRTY)
		ubc->writable = true;
}

/* try_to_unmap_flush_dirty(): before writing a folio out, if a deferred PTE was dirty. */
static void try_to_unmap_flush_dirty(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc)
{
	if (ubc->writable)
		try_to_unmap_flush(m, ubc);
}

/* try_to_unmap_flush(): complete every deferred flush of the batch. */
void try_to_unmap_flush(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc)
{
	if (!ubc->flush_required)
		return;
	m->ops->tlbbatch_flush(m, &ubc->arch);
	ubc->flush_required = false;
	ubc->writable = false;
}

/**
 * try_to_unmap_one_batched - try_to_unmap_one() of a small file folio or a
 * lazily freed anonymous folio mapped by one PTE of @vma, as reclaim_pages()
 * calls it (TTU_BATCH_FLUSH): the PTE is cleared, its flush deferred when the
 * arch says so (else flush_tlb_range() of the page at once), its dirty bit
 * moves to the folio.  A lazily freed folio that was written again (or has
 * other references) gets its PTE back and stays.
 * Return: true if the folio is no longer mapped (the mapping's reference and
 * rmap are dropped, RSS lowered).
 */
static bool try_to_unmap_one_batched(struct vm_area_struct *vma, uint64_t address, pte_t *ptep,
				     struct tlbflush_unmap_batch *ubc)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pte_t pteval = *ptep;
	uint32_t pfn = pgent_pfn(pteval);
	struct sim_frame *f = frame(m, pfn);
	uint64_t end = address + PAGE_SIZE(m);

	pt_write(m, ptep, PT_PTE, address, 0);   /* get_and_clear_ptes() */
	if (should_defer_flush(mm))
		set_tlb_ubc_flush_pending(mm, ubc, pteval, address, end);
	else
		flush_tlb_range(vma, address, end);
	update_hiwater_rss(mm);

	if (f->kind == FRAME_ANON) {
		/* MADV_FREE check: redirtied or referenced elsewhere: put the PTE back. */
		if ((pteval & _PAGE_DIRTY) || f->refcount != (uint32_t)f->mapcount) {
			if (pteval & _PAGE_DIRTY)
				f->flags &= (uint16_t)~FRAME_F_LAZYFREE;   /* folio_set_swapbacked() */
			pt_write(m, ptep, PT_PTE, address, pteval);   /* set_ptes() */
			return false;
		}
		mm_counter_add(mm, MM_ANONPAGES, -1);
		folio_remove_rmap(m, pfn, 1);
		return true;   /* the mapping's reference is the last: freed with the batch */
	}
	if (pteval & _PAGE_DIRTY)
		f->flags |= FRAME_F_DIRTY;   /* folio_mark_dirty() */
	mm_counter_add(mm, mm_counter_of(m, pfn), -1);
	folio_remove_rmap(m, pfn, 1);
	put_page(m, pfn);   /* the mapping's reference; the page cache still holds the folio */
	return true;
}

/* __remove_mapping() of a clean page-cache folio: only the page cache may still hold it. */
static bool remove_mapping(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	if (f->refcount != 1 || f->mapcount)
		return false;   /* folio_ref_freeze() fails: someone else holds it */
	return hmap_del(&f->u.page.file->pages, f->u.page.index);
}

/* The freed-folio batch: flush what reclaim deferred, then drop the last references. */
static void free_folio_batch(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc, uint32_t *batch,
			     unsigned int *nr)
{
	try_to_unmap_flush(m, ubc);
	for (unsigned int i = 0; i < *nr; i++)
		put_page(m, batch[i]);   /* free_unref_folios() */
	*nr = 0;
}

/**
 * reclaim_pages - shrink_folio_list() over the folios madvise(MADV_PAGEOUT)
 * isolated from one PTE table of @vma (@addrs: where each is mapped, in
 * address order), with references ignored.  Per folio:
 *   - anonymous and swap-backed: add_to_swap() fails (the simulated machine
 *     has no swap device): it stays, nothing is flushed;
 *   - otherwise try_to_unmap() (try_to_unmap_one_batched());
 *   - then a clean lazily freed anonymous folio is freed, a clean file or
 *     shmem folio leaves the page cache and is freed (__remove_mapping(): a
 *     shmem folio never written holds only zeros); a dirty file or shmem
 *     folio stays in the page cache, unmapped (direct reclaim writes no file
 *     pages; shmem has no swap to go to).  A dirty shmem folio goes to
 *     pageout() first, which completes the deferred flush if a PTE it
 *     cleared was dirty (try_to_unmap_flush_dirty()): one flush per such
 *     folio.
 * Freed folios go to a batch of 31; when it fills, and at the end, the
 * deferred flush is completed (try_to_unmap_flush()) before they are freed.
 */
void reclaim_pages(struct vm_area_struct *vma, const uint64_t *addrs, unsigned int nr,
		   struct tlbflush_unmap_batch *ubc)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint32_t batch[FOLIO_BATCH_SIZE];
	unsigned int nr_free = 0;

	for (unsigned int i = 0; i < nr; i++) {
		pmd_t *pmd = mm_find_pmd(mm, addrs[i]);
		if (NEVER(m, !pmd || pmd_none(mm, *pmd) || pgent_huge(*pmd)))
			continue;
		pte_t *pte = pte_offset_map(mm, pmd, addrs[i]);
		if (NEVER(m, !pgent_present(*pte)))
			continue;
		uint32_t pfn = pgent_pfn(*pte);
		struct sim_frame *f = frame(m, pfn);

		if (f->kind == FRAME_ANON && !(f->flags & FRAME_F_LAZYFREE))
			continue;   /* add_to_swap() fails: activate_locked */
		if (!try_to_unmap_one_batched(vma, addrs[i], pte, ubc))
			continue;
		if (f->kind == FRAME_SHMEM && (f->flags & FRAME_F_DIRTY)) {
			/* pageout() -> shmem_writeout(): flushed first, then no swap to go to. */
			try_to_unmap_flush_dirty(m, ubc);
			continue;
		}
		if (f->kind == FRAME_ANON)
			STAT_INC(m, RECLAIM_LAZYFREE);
		else if ((f->kind != FRAME_FILE && f->kind != FRAME_SHMEM) || (f->flags & FRAME_F_DIRTY) ||
			 !remove_mapping(m, pfn))
			continue;   /* stays in the page cache */
		batch[nr_free++] = pfn;
		if (nr_free == FOLIO_BATCH_SIZE)
			free_folio_batch(m, ubc, batch, &nr_free);
	}
	free_folio_batch(m, ubc, batch, &nr_free);
}
