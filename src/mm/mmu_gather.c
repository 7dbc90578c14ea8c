/*
 * mmu_gather: batching of TLB invalidation and of page / page-table frees.
 *
 * Models mm/mmu_gather.c and include/asm-generic/tlb.h at v6.19 (which has
 * 8ce720d5bd91's unshared_tables / fully_unshared_tables), for x86-64 and
 * arm64.  Function names, argument order and step order are the kernel's;
 * see mmu_gather.h for the ordering every user keeps.
 *
 * Table freeing follows the table_free variant (kernel-model 4.1, 13.3):
 *   rcu_4_18    HAVE_RCU_TABLE_FREE before v4.19 (x86 PARAVIRT 4.14 - 4.18):
 *               a single-user mm frees the table at once, before its flush
 *               (a6f572084fbe removed that), and nothing invalidates the TLB
 *               before a table leaves the gather (d86564a2f085 added it);
 *   rcu         MMU_GATHER_RCU_TABLE_FREE; a batch is freed by call_rcu(); the
 *               single-table fallback (no batch page) is PT_RECLAIM's call_rcu()
 *               on the table: x86-64 with PT_RECLAIM (v6.14+), arm64 only from
 *               7.0 (PT_RECLAIM on for every RCU-table-free arch; before it
 *               arm64 uses semi_rcu, as its presets say);
 *   semi_rcu    batches by RCU; the fallback does tlb_remove_table_sync_one()
 *               then frees at once (before PT_RECLAIM);
 *   after_flush tables are queued like pages and freed right after the flush
 *               (x86 bare metal before v6.15, also under CONFIG_PARAVIRT whose
 *               native hook does the same);
 *   immediate   not a kernel: tables are freed when removed, before any flush
 *               (deliberately unsafe; the oracle must catch it).
 * The batch-page allocation (GFP_NOWAIT) fails when table_batch_alloc=fail,
 * to exercise the single-table fallback.  Whether tlb_remove_table_sync_one()
 * sends IPIs is the separate mmu_gather_rcu_table_free setting (the Kconfig
 * symbol), on in every preset.
 *
 * Left out: MMU_GATHER_NO_GATHER/NO_RANGE/PAGE_SIZE architectures, s390, and
 * the cond_resched() points (the simulation has no preemption).
 */
#include "mm/mmu_gather.h"

#include <stdlib.h>

#include "arch/arch.h"

unsigned int max_gather_batch(const struct ptsim_machine *m)
{
	/* (PAGE_SIZE - sizeof(struct mmu_gather_batch header)) / sizeof(void *) */
	return (unsigned int)((PAGE_SIZE(m) - 16) / 8);
}

unsigned int max_gather_batch_count(const struct ptsim_machine *m)
{
	return MAX_GATHER_BATCH_PAGES_TOTAL / max_gather_batch(m);
}

unsigned int max_table_batch(const struct ptsim_machine *m)
{
	/* (PAGE_SIZE - sizeof(rcu_head + nr)) / sizeof(void *) */
	return (unsigned int)((PAGE_SIZE(m) - 24) / 8);
}

/* GFP_NOWAIT page for a batch; fails under table_batch_alloc=fail or fault injection. */
static void *get_free_page_nowait(struct ptsim_machine *m, size_t size, bool table_batch)
{
	if (table_batch && m->v.table_batch_alloc)
		return NULL;
	return sim_malloc(&m->alloc, size);
}

static bool tlb_next_batch(struct mmu_gather *tlb)
{
	struct ptsim_machine *m = tlb->mm->machine;
	struct mmu_gather_batch *batch;
	unsigned int max = max_gather_batch(m);

	/* Limit batching if we have delayed rmaps pending. */
	if (tlb->delayed_rmap && tlb->active != &tlb->local)
		return false;

	batch = tlb->active;
	if (batch->next) {
		tlb->active = batch->next;
		return true;
	}

	if (tlb->batch_count == max_gather_batch_count(m))
		return false;

	batch = get_free_page_nowait(m, sizeof(*batch) + max * sizeof(uint64_t), false);
	if (!batch)
		return false;

	tlb->batch_count++;
	batch->next = NULL;
	batch->nr = 0;
	batch->max = max;
	batch->encoded_pages = (uint64_t *)(batch + 1);

	tlb->active->next = batch;
	tlb->active = batch;
	return true;
}

static void tlb_flush_rmap_batch(struct mmu_gather *tlb, struct mmu_gather_batch *batch)
{
	struct ptsim_machine *m = tlb->mm->machine;
	uint64_t *pages = batch->encoded_pages;

	for (unsigned int i = 0; i < batch->nr; i++) {
		uint64_t enc = pages[i];

		if (enc & ENCODED_PAGE_BIT_DELAY_RMAP) {
			unsigned int nr_pages = 1;

			if (enc & ENCODED_PAGE_BIT_NR_PAGES_NEXT)
				nr_pages = (unsigned int)pages[++i];
			folio_remove_rmap(m, (uint32_t)enc, (int)nr_pages);
		} else if (enc & ENCODED_PAGE_BIT_NR_PAGES_NEXT) {
			i++;
		}
	}
}

/**
 * tlb_flush_rmaps - drop the rmaps delayed until after the TLB flush.
 * Only the local and the active batch can hold delayed rmaps
 * (tlb_next_batch() refuses to open a second batch while some are pending).
 */
void tlb_flush_rmaps(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	(void)vma;
	if (!tlb->delayed_rmap)
		return;

	tlb_flush_rmap_batch(tlb, &tlb->local);
	if (tlb->active != &tlb->local)
		tlb_flush_rmap_batch(tlb, tlb->active);
	tlb->delayed_rmap = 0;
}

/*
 * The common case of put_page() on a queued page, decided before it is taken:
 * the gather holds the last reference on an anonymous page that no TLB entry
 * and no walker references (and the CPU waits for no IPI: the caller's test):
 * phys_free()'s steps with nothing for the oracle to see.
 */
static inline bool put_page_frees_anon_now(const struct sim_frame *f)
{
	return f->kind == FRAME_ANON && f->refcount == 1 && !(f->cache_refs | f->holders);
}

static inline bool cpu_waits_for_acks(const struct ptsim_machine *m)
{
	return m->cur && m->cur->pending_acks;
}

/*
 * The pages from @i on that put_page_frees_anon_now() frees here, up to the
 * first it does not: each is linked onto the free list in queue order (the
 * list's head kept in a local meanwhile) and the counters are summed
 * (simulator bookkeeping, applied before anything else can look at them).
 * Returns the index of the first page not taken.
 */
static unsigned int free_anon_pages_now(struct ptsim_machine *m, const uint64_t *pages, unsigned int i,
					unsigned int nr)
{
	struct sim_phys *p = &m->phys;
	struct sim_frame *frames = p->frames;
	uint32_t head = p->free_head;
	unsigned int start = i;

	if (cpu_waits_for_acks(m))
		return i;
	for (; i < nr; i++) {
		uint64_t enc = pages[i];
		uint32_t pfn = (uint32_t)enc;

		if ((enc & ENCODED_PAGE_BIT_NR_PAGES_NEXT) || !put_page_frees_anon_now(&frames[pfn]))
			break;
		head = frame_link_free(&frames[pfn], pfn, head);
	}
	p->free_head = head;
	p->in_use[FRAME_ANON] -= i - start;
	p->in_use_total -= i - start;
	m->stats[ST_PAGES_FREED] += i - start;
	return i;
}

/*
 * free_pages_and_swap_cache(): drop the gather's reference on each folio, in
 * queue order (the free list's order is the per-page order).  The common case
 * is taken by free_anon_pages_now(); every other page takes put_page().
 */
static void free_pages_and_swap_cache(struct ptsim_machine *m, const uint64_t *pages, unsigned int nr)
{
	for (unsigned int i = free_anon_pages_now(m, pages, 0, nr); i < nr; i = free_anon_pages_now(m, pages, i, nr)) {
		uint32_t pfn = (uint32_t)pages[i];
		unsigned int nr_pages = 1;

		if (pages[i] & ENCODED_PAGE_BIT_NR_PAGES_NEXT)
			nr_pages = (unsigned int)pages[++i];
		/* One reference per PTE that mapped a page of the folio. */
		for (unsigned int k = 0; k < nr_pages; k++)
			put_page(m, pfn);
		i++;
	}
}

static void __tlb_batch_free_encoded_pages(struct mmu_gather *tlb, struct mmu_gather_batch *batch)
{
	free_pages_and_swap_cache(tlb->mm->machine, batch->encoded_pages, batch->nr);
	batch->nr = 0;
}

static void tlb_batch_pages_flush(struct mmu_gather *tlb)
{
	struct mmu_gather_batch *batch;

	for (batch = &tlb->local; batch && batch->nr; batch = batch->next)
		__tlb_batch_free_encoded_pages(tlb, batch);
	tlb->active = &tlb->local;
}

static void tlb_batch_list_free(struct mmu_gather *tlb)
{
	struct ptsim_machine *m = tlb->mm->machine;
	struct mmu_gather_batch *batch, *next;

	for (batch = tlb->local.next; batch; batch = next) {
		next = batch->next;
		sim_free(&m->alloc, batch, sizeof(*batch) + batch->max * sizeof(uint64_t));
	}
	tlb->local.next = NULL;
}

static bool __tlb_remove_folio_pages_size(struct mmu_gather *tlb, uint32_t pfn, unsigned int nr_pages,
					  bool delay_rmap)
{
	struct mmu_gather_batch *batch;
	uint64_t flags = delay_rmap ? ENCODED_PAGE_BIT_DELAY_RMAP : 0;

	assert(tlb->end != 0);   /* a range must be recorded before pages are queued */

	batch = tlb->active;
	if (PTSIM_LIKELY(nr_pages == 1)) {
		batch->encoded_pages[batch->nr++] = pfn | flags;
	} else {
		flags |= ENCODED_PAGE_BIT_NR_PAGES_NEXT;
		batch->encoded_pages[batch->nr++] = pfn | flags;
		batch->encoded_pages[batch->nr++] = nr_pages;
	}
	/* Keep room for another page + count pair. */
	if (batch->nr >= batch->max - 1) {
		if (!tlb_next_batch(tlb))
			return true;
		batch = tlb->active;
	}
	assert(batch->nr <= batch->max - 1);
	return false;
}

/**
 * __tlb_remove_folio_pages - queue @nr_pages PTE mappings of one folio.
 * The gather holds one folio reference per mapping until it frees the batch.
 * Return: true if the gather is full and the caller must flush.
 */
bool __tlb_remove_folio_pages(struct mmu_gather *tlb, uint32_t pfn, unsigned int nr_pages, bool delay_rmap)
{
	return __tlb_remove_folio_pages_size(tlb, pfn, nr_pages, delay_rmap);
}

/*
 * tlb_batch_queued - account @nr single pages the caller wrote at the active
 * batch's end (at most tlb_batch_room() of them: the per-page calls would not
 * have found the batch full before the last one), then take the batch-full
 * step of __tlb_remove_folio_pages_size() that the last of those calls takes.
 * Simulator bookkeeping for zap_present_anon_run() (memory.c).
 * Return: true if the gather is full and the caller must flush.
 */
bool tlb_batch_queued(struct mmu_gather *tlb, unsigned int nr)
{
	struct mmu_gather_batch *batch = tlb->active;

	assert(tlb->end != 0);   /* a range must be recorded before pages are queued */
	assert(nr && nr <= tlb_batch_room(tlb));
	batch->nr += nr;
	if (batch->nr >= batch->max - 1) {
		if (!tlb_next_batch(tlb))
			return true;
	}
	return false;
}

bool __tlb_remove_page_size(struct mmu_gather *tlb, uint32_t pfn, uint64_t page_size)
{
	(void)page_size;
	return __tlb_remove_folio_pages_size(tlb, pfn, 1, false);
}

void tlb_remove_page_size(struct mmu_gather *tlb, uint32_t pfn, uint64_t page_size)
{
	if (__tlb_remove_page_size(tlb, pfn, page_size))
		tlb_flush_mmu(tlb);
}

/* ---- page-table freeing ---- */

/* __tlb_remove_table(): the destructor, then the page goes back to the allocator. */
static void __tlb_remove_table(struct ptsim_machine *m, struct ptdesc *pt)
{
	pt_dtor(m, pt);
	/* Back to the allocator (after the CPU's outstanding IPI waits, if it is blocked). */
	free_frame_after_waits(m, pt->pfn);
}

static void __tlb_remove_table_free(struct ptsim_machine *m, struct mmu_table_batch *batch)
{
	for (unsigned int i = 0; i < batch->nr; i++)
		__tlb_remove_table(m, batch->tables[i]);
	sim_free(&m->alloc, batch, sizeof(*batch) + max_table_batch(m) * sizeof(batch->tables[0]));
}

static void tlb_remove_table_rcu(struct ptsim_machine *m, struct rcu_head *head)
{
	struct mmu_table_batch *batch = container_of(head, struct mmu_table_batch, rcu);

	STAT_ADD(m, TABLES_RCU_FREED, batch->nr);
	__tlb_remove_table_free(m, batch);
}

void mmu_gather_rcu_release(struct ptsim_machine *m, struct rcu_head *head)
{
	if (head->func == tlb_remove_table_rcu) {
		struct mmu_table_batch *batch = container_of(head, struct mmu_table_batch, rcu);
		sim_free(&m->alloc, batch, sizeof(*batch) + max_table_batch(m) * sizeof(batch->tables[0]));
	}
	/* A single table's head lives in its ptdesc, freed with the table. */
}

/*
 * The table-freeing configurations (Kconfig in the kernel, the table_free and
 * mmu_gather_rcu_table_free variants here), each as the functions the kernel
 * builds for it, chosen once by mmu_gather_select_era():
 *
 *   tlb_remove_table   generic batching (MMU_GATHER_TABLE_FREE, v4.19+);
 *                      its v4.18 form; no table batch at all (the page
 *                      gather frees tables after the flush); ptsim's unsafe
 *                      "immediate";
 *   tlb_remove_table_one   the single-table fallback: PT_RECLAIM's call_rcu()
 *                      or the semi-RCU sync IPI then free;
 *   tlb_table_invalidate   flush before tables leave the gather (v4.19+,
 *                      d86564a2f085), or nothing (v4.18);
 *   tlb_remove_table_sync_one   an empty stub without
 *                      MMU_GATHER_RCU_TABLE_FREE; returns at once where the
 *                      flush already was an IPI broadcast (the 2026 queued
 *                      series' boot-time key); else the IPI broadcast;
 *   tlb_flush_unshared_tables   8ce720d5bd91's, or ptsim's unsafe form
 *                      without the broadcast.
 */

/* tlb_remove_table_free(): the batch goes to RCU (every configuration with table batches). */
static void tlb_remove_table_free(struct ptsim_machine *m, struct mmu_table_batch *batch)
{
	call_rcu(m, &batch->rcu, tlb_remove_table_rcu);
}

/*
 * tlb_table_invalidate(): hardware walkers first.  x86 and arm64 both answer
 * yes to tlb_needs_table_invalidate().
 */
static void tlb_table_invalidate_4_19(struct mmu_gather *tlb)
{
	tlb_flush_mmu_tlbonly(tlb);
}

/* Before d86564a2f085 (v4.19) tables left the gather with no invalidation of their own. */
static void tlb_table_invalidate_4_18(struct mmu_gather *tlb)
{
	(void)tlb;
}

static void __tlb_remove_table_one_rcu(struct ptsim_machine *m, struct rcu_head *head)
{
	struct ptdesc *pt = container_of(head, struct ptdesc, pt_rcu_head);

	STAT_INC(m, TABLES_RCU_FREED);
	__tlb_remove_table(m, pt);
}

/* tlb_remove_table_one() with PT_RECLAIM: the table waits for a grace period of its own. */
static void tlb_remove_table_one_rcu(struct mmu_gather *tlb, struct ptdesc *pt)
{
	struct ptsim_machine *m = tlb->mm->machine;

	STAT_INC(m, GATHER_TABLE_FALLBACK);
	call_rcu(m, &pt->pt_rcu_head, __tlb_remove_table_one_rcu);
}

/* tlb_remove_table_one() without PT_RECLAIM ("semi-RCU"): wait for IRQs-off walkers, free now. */
static void tlb_remove_table_one_semi(struct mmu_gather *tlb, struct ptdesc *pt)
{
	struct ptsim_machine *m = tlb->mm->machine;

	STAT_INC(m, GATHER_TABLE_FALLBACK);
	tlb_remove_table_sync_one(m);
	__tlb_remove_table(m, pt);
}

/**
 * tlb_table_flush - hand the table batch to RCU (step 1 of tlb_flush_mmu_free(),
 * and what a full batch forces).  Invalidates first (v4.19+); when reached from
 * tlb_flush_mmu() the range was just reset, so that finds nothing to flush.
 */
void tlb_table_flush(struct mmu_gather *tlb)
{
	struct mmu_table_batch **batch = &tlb->batch;

	if (*batch) {
		tlb->mm->machine->eras.tlb_table_invalidate(tlb);
		tlb_remove_table_free(tlb->mm->machine, *batch);
		*batch = NULL;
	}
}

/* Append to the batch (allocated with GFP_NOWAIT); false if there is no batch page to be had. */
static bool tlb_table_batch_add(struct mmu_gather *tlb, struct ptdesc *table)
{
	struct ptsim_machine *m = tlb->mm->machine;
	struct mmu_table_batch **batch = &tlb->batch;

	if (*batch == NULL) {
		*batch = get_free_page_nowait(m, sizeof(**batch) + max_table_batch(m) * sizeof((*batch)->tables[0]),
					      true);
		if (*batch == NULL)
			return false;
		(*batch)->nr = 0;
	}
	(*batch)->tables[(*batch)->nr++] = table;
	if ((*batch)->nr == max_table_batch(m)) {
		STAT_INC(m, GATHER_BATCH_FULL);
		tlb_table_flush(tlb);
	}
	return true;
}

/*
 * tlb_remove_table() with MMU_GATHER_TABLE_FREE (v4.19+): queue the table in
 * the batch; with no batch page, invalidate and free it alone.
 */
static void tlb_remove_table_batched(struct mmu_gather *tlb, struct ptdesc *table)
{
	struct ptsim_machine *m = tlb->mm->machine;

	if (tlb_table_batch_add(tlb, table))
		return;
	m->eras.tlb_table_invalidate(tlb);
	m->eras.tlb_remove_table_one(tlb, table);
}

/*
 * tlb_remove_table() up to v4.18 (HAVE_RCU_TABLE_FREE): with fewer than two
 * users of the mm "there cannot be a concurrent page-table walk", so the
 * table is freed at once — before the TLB flush that drops the walk-cache
 * pointers to it (removed by a6f572084fbe, v4.19); otherwise as batched, with
 * no invalidation of its own (tlb_table_invalidate_4_18()).
 */
static void tlb_remove_table_4_18(struct mmu_gather *tlb, struct ptdesc *table)
{
	struct ptsim_machine *m = tlb->mm->machine;

	if (tlb->mm->mm_users < 2) {
		__tlb_remove_table(m, table);
		return;
	}
	if (tlb_table_batch_add(tlb, table))
		return;
	m->eras.tlb_remove_table_one(tlb, table);
}

/* No MMU_GATHER_TABLE_FREE: the destructor now, the page like any other (freed after the flush). */
static void tlb_remove_table_as_page(struct mmu_gather *tlb, struct ptdesc *table)
{
	struct ptsim_machine *m = tlb->mm->machine;

	pt_dtor(m, table);
	tlb_remove_page_size(tlb, table->pfn, PAGE_SIZE(m));
}

/* ptsim: the deliberately unsafe variant; no flush, no grace period. */
static void tlb_remove_table_immediate(struct mmu_gather *tlb, struct ptdesc *table)
{
	__tlb_remove_table(tlb->mm->machine, table);
}

/**
 * tlb_remove_table - queue a page-table page for freeing after the flush
 * (and, with RCU table freeing, after a grace period).  The caller has cleared
 * the entry that pointed at it and recorded that entry's range.
 */
void tlb_remove_table(struct mmu_gather *tlb, struct ptdesc *table)
{
	tlb->mm->machine->eras.tlb_remove_table(tlb, table);
}

/*
 * tlb_remove_table_sync_one - IPI every other online CPU and wait.  Not an RCU
 * grace period, but enough for walkers that run with IRQs disabled (GUP-fast).
 */
static void tlb_remove_table_sync_one_ipi(struct ptsim_machine *m)
{
	if (m->ops->tlb_remove_table_sync_one)
		m->ops->tlb_remove_table_sync_one(m);
	else
		smp_call_function(m, NULL, IPI_TABLE_SYNC, true);
}

/*
 * An empty stub when MMU_GATHER_RCU_TABLE_FREE is not built
 * (mmu_gather_rcu_table_free=off: x86 without CONFIG_PARAVIRT before v6.15).
 * Distribution kernels before v6.15 build it (PARAVIRT selects it) even though
 * their bare-metal table freeing is table_free=after_flush.
 */
static void tlb_remove_table_sync_one_stub(struct ptsim_machine *m)
{
	(void)m;
}

/* The queued 2026 series: the flush that preceded this already interrupted every CPU a walker could be on. */
static void tlb_remove_table_sync_one_implied(struct ptsim_machine *m)
{
	STAT_INC(m, TABLE_SYNC_SKIPPED);
}

void tlb_remove_table_sync_one(struct ptsim_machine *m)
{
	m->eras.tlb_remove_table_sync_one(m);
}

static void tlb_flush_mmu_free(struct mmu_gather *tlb)
{
	tlb_table_flush(tlb);
	tlb_batch_pages_flush(tlb);
}

/**
 * __tlb_reset_range - forget the recorded range and what was cleared.
 * Not reset: vma_*, fully_unshared_tables, delayed_rmap.
 */
void __tlb_reset_range(struct mmu_gather *tlb)
{
	if (tlb->fullmm) {
		tlb->start = tlb->end = ~0ull;
	} else {
		tlb->start = tlb->mm->machine->geo.task_size;
		tlb->end = 0;
	}
	tlb->freed_tables = 0;
	tlb->cleared_ptes = 0;
	tlb->cleared_pmds = 0;
	tlb->cleared_puds = 0;
	tlb->cleared_p4ds = 0;
	tlb->unshared_tables = 0;
}

/**
 * tlb_flush_mmu_tlbonly - invalidate what the gather recorded, if anything.
 * No entry cleared and no table freed or unshared: nothing to do, no IPI.
 */
void tlb_flush_mmu_tlbonly(struct mmu_gather *tlb)
{
	if (!(tlb->freed_tables || tlb->cleared_ptes || tlb->cleared_pmds || tlb->cleared_puds ||
	      tlb->cleared_p4ds || tlb->unshared_tables))
		return;

	STAT_INC(tlb->mm->machine, GATHER_FLUSHES);
	tlb_flush(tlb);
	__tlb_reset_range(tlb);
}

void tlb_flush_mmu(struct mmu_gather *tlb)
{
	tlb_flush_mmu_tlbonly(tlb);
	tlb_flush_mmu_free(tlb);
}

static void __tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm, bool fullmm)
{
	tlb->mm = mm;
	tlb->fullmm = fullmm;

	tlb->need_flush_all = 0;
	tlb->local.next = NULL;
	tlb->local.nr = 0;
	tlb->local.max = MMU_GATHER_BUNDLE;
	tlb->local.encoded_pages = tlb->__pages;
	tlb->active = &tlb->local;
	tlb->batch_count = 0;
	tlb->delayed_rmap = 0;
	tlb->batch = NULL;
	tlb->page_size = 0;
	tlb->vma_pfn = 0;
	tlb->vma_exec = 0;
	tlb->vma_huge = 0;

	tlb->fully_unshared_tables = 0;
	__tlb_reset_range(tlb);
	mm->tlb_flush_pending++;   /* inc_tlb_flush_pending() */
}

/** tlb_gather_mmu - gather for a partial teardown of @mm (munmap, madvise, mprotect). */
void tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm)
{
	__tlb_gather_mmu(tlb, mm, false);
}

/** tlb_gather_mmu_fullmm - gather for tearing down all of @mm, which has no users. */
void tlb_gather_mmu_fullmm(struct mmu_gather *tlb, struct mm_struct *mm)
{
	__tlb_gather_mmu(tlb, mm, true);
}

static void tlb_update_vma_flags(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	tlb->vma_huge = is_vm_hugetlb_page(vma);
	tlb->vma_exec = !!(vma->vm_flags & VM_EXEC);
	tlb->vma_pfn |= !!(vma->vm_flags & (VM_PFNMAP | VM_MIXEDMAP));
}

/**
 * tlb_gather_mmu_vma - gather for an operation on one VMA: tlb_start_vma()'s
 * flags without its cache flush; hugetlb VMAs set the page size.
 */
void tlb_gather_mmu_vma(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	tlb_gather_mmu(tlb, vma->vm_mm);
	tlb_update_vma_flags(tlb, vma);
	if (is_vm_hugetlb_page(vma))
		tlb->page_size = huge_page_size(vma);
}

/**
 * tlb_finish_mmu - final flush and free, then close the gather.
 * Nested-flush rule: if another gather on the same mm is open (possible because
 * madvise, mprotect and others run with the mmap lock held for reading), the
 * other thread may have cleared entries it has not flushed yet, so flush the
 * whole mm with freed_tables set.
 */
void tlb_finish_mmu(struct mmu_gather *tlb)
{
	struct ptsim_machine *m = tlb->mm->machine;

	/* huge_pmd_unshare_flush() must have completed any unsharing earlier. */
	if (tlb->fully_unshared_tables)
		ptsim__internal_error(m, __FILE__, __LINE__,
				      "tlb_finish_mmu: fully_unshared_tables still set (missing huge_pmd_unshare_flush)");

	if (mm_tlb_flush_nested(tlb->mm)) {
		STAT_INC(m, GATHER_NESTED);
		tlb->fullmm = 1;
		__tlb_reset_range(tlb);
		tlb->freed_tables = 1;
	}

	tlb_flush_mmu(tlb);

	tlb_batch_list_free(tlb);
	tlb->mm->tlb_flush_pending--;   /* dec_tlb_flush_pending() */
}

/*
 * tlb_remove_huge_tlb_entry(): by size against P4D_SIZE, PUD_SIZE, PMD_SIZE.
 * A folded level has the size of the level above it (as the kernel's folding
 * headers define it), so on a 3-level arm64 a 1 GiB page is recorded as a P4D
 * range with a 1 GiB stride.
 */
void tlb_remove_huge_tlb_entry(struct mmu_gather *tlb, uint64_t huge_size, uint64_t address)
{
	const struct pt_geometry *g = &tlb->mm->machine->geo;

	if (huge_size >= pt_level_size(g, PT_P4D))
		tlb_flush_p4d_range(tlb, address, huge_size);
	else if (huge_size >= pt_level_size(g, PT_PUD))
		tlb_flush_pud_range(tlb, address, huge_size);
	else if (huge_size >= pt_level_size(g, PT_PMD))
		tlb_flush_pmd_range(tlb, address, huge_size);
	else
		tlb_flush_pte_range(tlb, address, huge_size);
}

unsigned int tlb_get_unmap_shift(const struct mmu_gather *tlb)
{
	const struct pt_geometry *g = &tlb->mm->machine->geo;

	if (tlb->cleared_ptes)
		return g->page_shift;
	if (tlb->cleared_pmds)
		return g->shift[PT_PMD];
	if (tlb->cleared_puds)
		return g->shift[PT_PUD];
	if (tlb->cleared_p4ds)
		return g->shift[PT_P4D];
	return g->page_shift;
}

void tlb_start_vma(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	if (tlb->fullmm)
		return;
	tlb_update_vma_flags(tlb, vma);
	/* flush_cache_range(): a no-op on x86 and arm64. */
}

/*
 * tlb_end_vma - one flush per VMA unless the arch merges VMAs (x86 does,
 * arm64 does not).  Nothing under fullmm: the whole mm goes at the end.
 */
void tlb_end_vma(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	(void)vma;
	if (tlb->fullmm || tlb->mm->machine->ops->mmu_gather_merge_vmas)
		return;
	tlb_flush_mmu_tlbonly(tlb);
}

/*
 * tlb_free_vmas - before free_pgtables() unlinks VMAs: PFN maps have no page to
 * hold back, so flush now if one was seen.
 */
void tlb_free_vmas(struct mmu_gather *tlb)
{
	if (tlb->fullmm)
		return;
	if (tlb->vma_pfn)
		tlb_flush_mmu_tlbonly(tlb);
}

void pte_free_tlb(struct mmu_gather *tlb, struct ptdesc *pte, uint64_t address)
{
	tlb_flush_pmd_range(tlb, address, PAGE_SIZE(tlb->mm->machine));
	tlb->freed_tables = 1;
	tlb_remove_table(tlb, pte);       /* __pte_free_tlb() on x86 and arm64 */
}

void pmd_free_tlb(struct mmu_gather *tlb, struct ptdesc *pmd, uint64_t address)
{
	tlb_flush_pud_range(tlb, address, PAGE_SIZE(tlb->mm->machine));
	tlb->freed_tables = 1;
	tlb_remove_table(tlb, pmd);
}

void pud_free_tlb(struct mmu_gather *tlb, struct ptdesc *pud, uint64_t address)
{
	tlb_flush_p4d_range(tlb, address, PAGE_SIZE(tlb->mm->machine));
	tlb->freed_tables = 1;
	tlb_remove_table(tlb, pud);
}

void p4d_free_tlb(struct mmu_gather *tlb, struct ptdesc *p4d, uint64_t address)
{
	__tlb_adjust_range(tlb, address, PAGE_SIZE(tlb->mm->machine));
	tlb->freed_tables = 1;
	tlb_remove_table(tlb, p4d);
}

/**
 * tlb_unshare_pmd_ptdesc - record that this mm's PUD entry no longer points at
 * the shared hugetlb PMD table @pt (8ce720d5bd91).  The unsharer flushes the
 * whole PUD range; if no other sharer is left besides the owner, the table is
 * now exclusive and a broadcast will be needed before the lock drops.
 */
void tlb_unshare_pmd_ptdesc(struct mmu_gather *tlb, struct ptdesc *pt, uint64_t addr)
{
	struct ptsim_machine *m = tlb->mm->machine;
	uint64_t pud_mask = ~(PUD_SIZE(m) - 1);

	/* The caller keeps concurrent unsharing + exclusive reuse impossible until tlb_flush_unshared_tables(). */
	if (NEVER(m, pt->pt_share_count <= 0))   /* VM_WARN_ON_ONCE(!ptdesc_pmd_is_shared(pt)) */
		return;
	pt->pt_share_count--;
	tlb_flush_pmd_range(tlb, addr & pud_mask, PUD_SIZE(m));
	if (pt->pt_share_count == 0)
		tlb->fully_unshared_tables = 1;
	tlb->unshared_tables = 1;
}

/**
 * tlb_flush_unshared_tables - complete unsharing: flush this mm over the
 * recorded range, and broadcast once if some table became exclusive, so that a
 * GUP-fast walker of a former sharer can no longer be inside it when the last
 * owner modifies or frees it.
 */
static void tlb_flush_unshared_tables_8ce720d5bd91(struct mmu_gather *tlb)
{
	if (tlb->unshared_tables)
		tlb_flush_mmu_tlbonly(tlb);
	if (tlb->fully_unshared_tables) {
		count_unshare_broadcast(tlb->mm->machine);
		tlb_remove_table_sync_one(tlb->mm->machine);
		tlb->fully_unshared_tables = 0;
	}
}

/* ptsim: hugetlb_unshare=no_broadcast, the deliberately unsafe form without the broadcast. */
static void tlb_flush_unshared_tables_no_broadcast(struct mmu_gather *tlb)
{
	if (tlb->unshared_tables)
		tlb_flush_mmu_tlbonly(tlb);
	tlb->fully_unshared_tables = 0;
}

void tlb_flush_unshared_tables(struct mmu_gather *tlb)
{
	tlb->mm->machine->eras.tlb_flush_unshared_tables(tlb);
}

/* Choose the functions of the configured table freeing and unsharing (machine creation, after the arch). */
void mmu_gather_select_era(struct ptsim_machine *m)
{
	struct kernel_eras *e = &m->eras;

	e->tlb_table_invalidate = tlb_table_invalidate_4_19;
	e->tlb_remove_table_one = tlb_remove_table_one_semi;
	switch (m->v.table_free) {
	case TABLE_FREE_RCU:
		e->tlb_remove_table = tlb_remove_table_batched;
		e->tlb_remove_table_one = tlb_remove_table_one_rcu;
		break;
	case TABLE_FREE_SEMI_RCU:
		e->tlb_remove_table = tlb_remove_table_batched;
		break;
	case TABLE_FREE_RCU_4_18:
		e->tlb_remove_table = tlb_remove_table_4_18;
		e->tlb_table_invalidate = tlb_table_invalidate_4_18;
		break;
	case TABLE_FREE_AFTER_FLUSH:
		e->tlb_remove_table = tlb_remove_table_as_page;
		break;
	default:
		e->tlb_remove_table = tlb_remove_table_immediate;
		break;
	}
	if (!m->v.rcu_table_free_config)
		e->tlb_remove_table_sync_one = tlb_remove_table_sync_one_stub;
	else if (tlb_table_flush_implies_ipi_broadcast(m))
		e->tlb_remove_table_sync_one = tlb_remove_table_sync_one_implied;
	else
		e->tlb_remove_table_sync_one = tlb_remove_table_sync_one_ipi;
	e->tlb_flush_unshared_tables = m->v.hugetlb_unshare == HUGETLB_UNSHARE_NO_BROADCAST
					       ? tlb_flush_unshared_tables_no_broadcast
					       : tlb_flush_unshared_tables_8ce720d5bd91;
}
