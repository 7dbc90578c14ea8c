/*
 * The per-CPU LRU add batches: port of the cpu_fbatches.lru_add part of
 * mm/swap.c at v6.18 (folio_add_lru(), folio_add_lru_vma(),
 * __folio_batch_add_and_move(), folio_batch_move_lru(), lru_add_drain(),
 * lru_add_drain_cpu(), lru_add_drain_all(), lru_cache_disable()).
 *
 * A new folio (an anonymous page of a fault or a copy-on-write, a shmem page)
 * is not put on an LRU list at once: it goes into the batch of the CPU that
 * allocated it, which holds a reference, and moves to the LRU when that batch
 * fills (FOLIO_BATCH_SIZE, 31, the adding folio included) or when that CPU
 * drains it.  What ptsim counts through this: while it sits in the batch the
 * folio has PG_lru clear and one more reference, so do_wp_page() on it
 * (wp_can_reuse_anon_folio(), memory.c) drains the local batch and, if the
 * folio sits in another CPU's batch, sees the extra reference and copies the
 * page (a flush) where it would otherwise reuse it; MADV_PAGEOUT cannot
 * isolate it from another CPU's batch (measured: 16 pages faulted on CPU 0,
 * MADV_FREE + MADV_PAGEOUT on CPU 1 frees none of them; 40 pages: 31).
 *
 * Drain points of the paths ptsim models, measured on Linux 6.18.44
 * (pagemap:mm_lru_insertion with stack traces, docs/kernel-map.md): the
 * local batch by do_wp_page(), madvise_free_single_vma() (MADV_FREE),
 * madvise_cold(), madvise_pageout(), mlock_fixup() (mlock, munlock) and the
 * truncation of a shmem or hugetlb file with pages when its last mapping goes
 * (file_free(), mmap.c); every CPU's by move_pages(2) (lru_cache_disable():
 * read in the source, not measured).  Otherwise munmap, exit, MADV_DONTNEED,
 * mprotect, mremap, brk and fork drain nothing: a folio they unmap stays
 * allocated, held by the batch, until its CPU drains it.  MADV_FREE does not mark a folio still in another CPU's
 * batch (folio_mark_lazyfree()).
 *
 * Left out: the other per-CPU batches (lru_move_tail, lru_deactivate_file,
 * lru_deactivate, lru_lazyfree, lru_activate: their folios keep PG_lru, and
 * the reference they hold, which a write to a page MADV_FREE or MADV_COLD
 * has just queued would meet, is not modelled; ptsim has no LRU order for
 * them to change) and the mlock batch (a folio of a VM_LOCKED VMA is taken as
 * on the LRU at once); drains the kernel does in
 * the background (lru_add_drain_all() from compaction, khugepaged, memory
 * hotplug) and the kworkers lru_add_drain_all() runs on the other CPUs (no
 * context switch is simulated for them); folios added by page-cache reads
 * (ptsim's page cache of regular files has no readahead and is taken as read
 * long before: docs/kernel-map.md).
 */
#include "mm/internal.h"

/*
 * folio_batch_move_lru(): each folio goes on the LRU (lru_add(): PG_lru set)
 * and the batch's reference goes (folios_put()): one pass, as nothing looks
 * at the folios in between.  The adds (folio_add_lru(), folio_add_lru_vma(),
 * __folio_batch_add_and_move()) are inline in internal.h.
 */
void folio_batch_move_lru(struct ptsim_machine *m, struct folio_batch *fbatch)
{
	unsigned int nr = fbatch->nr;

	fbatch->nr = 0;
	for (unsigned int i = 0; i < nr; i++) {
		uint32_t pfn = fbatch->folios[i];
		struct sim_frame *f = frame(m, pfn);

		f->flags &= (uint16_t)~FRAME_F_LRU_ADD;   /* lru_add(), folio_set_lru() */
		/* folios_put(): put_page() of a batch that never holds the zero page */
		if (!NEVER(m, f->refcount == 0) && --f->refcount == 0)
			free_frame_after_waits(m, pfn);
	}
}

/* lru_add_drain_cpu(): @cpu's lru_add batch to the LRU (the only per-CPU batch ptsim keeps). */
void lru_add_drain_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (cpu->lru_add.nr)
		folio_batch_move_lru(m, &cpu->lru_add);
}

/* lru_add_drain(): the current CPU's batches (and mlock_drain_local(), not modelled). */
void lru_add_drain(struct ptsim_machine *m)
{
	if (m->cur)
		lru_add_drain_cpu(m, m->cur);
}

/*
 * lru_add_drain_all(): the local batch first, then each CPU whose batch holds
 * folios (cpu_needs_drain(); the kernel's per-CPU work item, run here at
 * once).  As lru_cache_disable() forces it (__lru_add_drain_all(true)): no
 * generation check.
 */
void lru_add_drain_all(struct ptsim_machine *m)
{
	lru_add_drain(m);
	for (unsigned int c = 0; c < m->nr_cpus; c++)
		lru_add_drain_cpu(m, &m->cpus[c]);
}

/*
 * folio_mark_lazyfree(): MADV_FREE's mark on an anonymous folio, which must
 * be on the LRU: a folio still in a CPU's lru_add batch (PG_lru clear) is left
 * swap-backed, and reclaim will not discard it later either (measured on
 * 6.18.44: 16 pages faulted on CPU 0, MADV_FREE on CPU 1, CPU 0's batch then
 * drained, MADV_PAGEOUT on CPU 1: none freed; with the batch drained before
 * MADV_FREE: 16).  ptsim: the lru_lazyfree batch is not modelled, the folio is
 * marked at once (lru_lazyfree() clears PG_swapbacked when the batch moves).
 */
void folio_mark_lazyfree(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	if (!folio_test_lru(f))
		return;
	f->flags |= FRAME_F_LAZYFREE;
}

/* lru_cache_disable(): drains every CPU; ptsim's events never run while it is disabled. */
void lru_cache_disable(struct ptsim_machine *m)
{
	lru_add_drain_all(m);
}
