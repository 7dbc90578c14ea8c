/*
 * mmu_gather: defer page and page-table frees behind one TLB invalidation.
 *
 * The order every user keeps (anything else is a recorded violation):
 *   1. clear the entry (the page or table is no longer reachable by a new walk),
 *   2. invalidate every TLB and paging-structure cache that may still hold it
 *      (tlb_flush_mmu_tlbonly() -> the arch's tlb_flush()),
 *   2b. for page tables, also wait until no lockless walker can be inside
 *      (RCU grace period, or an IPI the walker must take),
 *   3. only then free the frame (tlb_flush_mmu_free()).
 *
 * API, in start/finish pairs:
 *   tlb_gather_mmu(tlb, mm) / tlb_gather_mmu_fullmm(tlb, mm) / tlb_gather_mmu_vma(tlb, vma)
 *   ... tlb_start_vma(), tlb_remove_tlb_entry(), tlb_flush_{pte,pmd,pud,p4d}_range(),
 *       __tlb_remove_folio_pages(), tlb_remove_page_size(), pte/pmd/pud/p4d_free_tlb(),
 *       tlb_unshare_pmd_ptdesc(), tlb_end_vma() ...
 *   tlb_finish_mmu(tlb)
 * Fields the arch's tlb_flush() may read: mm, start, end, fullmm, need_flush_all,
 * freed_tables, cleared_{ptes,pmds,puds,p4ds}, unshared_tables, vma_exec, vma_huge.
 *
 * Models include/asm-generic/tlb.h and mm/mmu_gather.c at v6.19 (with
 * unshared_tables / fully_unshared_tables of 8ce720d5bd91), configured as x86
 * and arm64 are: MMU_GATHER_TABLE_FREE + MMU_GATHER_RCU_TABLE_FREE (or not,
 * per the table_free variant), no MMU_GATHER_NO_RANGE, no page-size tracking.
 */
#ifndef PTSIM_MM_MMU_GATHER_H
#define PTSIM_MM_MMU_GATHER_H

#include "mm/internal.h"
#include "arch/arch.h"

/* Slots in the batch embedded in the gather. */
#define MMU_GATHER_BUNDLE 8
/* Extra page batches are capped so that at most ~10000 pages are pinned. */
#define MAX_GATHER_BATCH_PAGES_TOTAL 10000
/* A queued page range of more than one page takes two slots (page + count). */
#define ENCODED_PAGE_BIT_DELAY_RMAP (1ull << 62)
#define ENCODED_PAGE_BIT_NR_PAGES_NEXT (1ull << 63)

struct mmu_gather_batch {
	struct mmu_gather_batch *next;
	unsigned int nr;
	unsigned int max;
	uint64_t *encoded_pages;     /* pfn | flags, or a page count after NR_PAGES_NEXT */
};

struct mmu_table_batch {
	struct rcu_head rcu;
	unsigned int nr;
	struct ptdesc *tables[];     /* MAX_TABLE_BATCH of them */
};

struct mmu_gather {
	struct mm_struct *mm;
	struct mmu_table_batch *batch;
	uint64_t start, end;
	unsigned int fullmm : 1;
	unsigned int need_flush_all : 1;
	unsigned int freed_tables : 1;
	unsigned int delayed_rmap : 1;
	unsigned int cleared_ptes : 1;
	unsigned int cleared_pmds : 1;
	unsigned int cleared_puds : 1;
	unsigned int cleared_p4ds : 1;
	unsigned int vma_exec : 1;
	unsigned int vma_huge : 1;
	unsigned int vma_pfn : 1;
	unsigned int unshared_tables : 1;
	unsigned int fully_unshared_tables : 1;
	unsigned int batch_count;
	struct mmu_gather_batch *active;
	struct mmu_gather_batch local;
	uint64_t __pages[MMU_GATHER_BUNDLE];
	uint64_t page_size;          /* hugetlb gathers (tlb_gather_mmu_vma) */
};

/* Batch capacities derived from the base page size (kernel-model 3.1). */
unsigned int max_gather_batch(const struct ptsim_machine *m);
unsigned int max_gather_batch_count(const struct ptsim_machine *m);
unsigned int max_table_batch(const struct ptsim_machine *m);

void tlb_gather_mmu(struct mmu_gather *tlb, struct mm_struct *mm);
void tlb_gather_mmu_fullmm(struct mmu_gather *tlb, struct mm_struct *mm);
void tlb_gather_mmu_vma(struct mmu_gather *tlb, struct vm_area_struct *vma);
void tlb_finish_mmu(struct mmu_gather *tlb);
void tlb_flush_mmu(struct mmu_gather *tlb);
void tlb_flush_mmu_tlbonly(struct mmu_gather *tlb);
void tlb_flush_rmaps(struct mmu_gather *tlb, struct vm_area_struct *vma);
bool __tlb_remove_folio_pages(struct mmu_gather *tlb, uint32_t pfn, unsigned int nr_pages, bool delay_rmap);
bool __tlb_remove_page_size(struct mmu_gather *tlb, uint32_t pfn, uint64_t page_size);
/*
 * Runs of single pages written straight into the active batch (the batched
 * zap): tlb_batch_room() pages fit before __tlb_remove_folio_pages() would
 * report the batch full; tlb_batch_queued() accounts them and takes that step.
 */
static inline unsigned int tlb_batch_room(const struct mmu_gather *tlb)
{
	return tlb->active->max - 1 - tlb->active->nr;
}
static inline uint64_t *tlb_batch_slots(const struct mmu_gather *tlb)
{
	return tlb->active->encoded_pages + tlb->active->nr;
}
bool tlb_batch_queued(struct mmu_gather *tlb, unsigned int nr);
void tlb_remove_page_size(struct mmu_gather *tlb, uint32_t pfn, uint64_t page_size);
void tlb_remove_table(struct mmu_gather *tlb, struct ptdesc *table);
void tlb_table_flush(struct mmu_gather *tlb);
void tlb_remove_table_sync_one(struct ptsim_machine *m);
void __tlb_reset_range(struct mmu_gather *tlb);
/* Machine teardown: release the memory behind an RCU callback that will never run. */
void mmu_gather_rcu_release(struct ptsim_machine *m, struct rcu_head *head);

static inline void tlb_flush(struct mmu_gather *tlb)
{
	tlb->mm->machine->ops->tlb_flush(tlb);
	/* mshare: a host mm's flush goes to the processes that share its tables too (mshare.c). */
	if (PTSIM_UNLIKELY(tlb->mm->mshare))
		mshare_flush_sharers(tlb);
}

static inline void __tlb_adjust_range(struct mmu_gather *tlb, uint64_t address, uint64_t range_size)
{
	if (address < tlb->start)
		tlb->start = address;
	if (address + range_size > tlb->end)
		tlb->end = address + range_size;
}

static inline void tlb_flush_pte_range(struct mmu_gather *tlb, uint64_t address, uint64_t size)
{
	__tlb_adjust_range(tlb, address, size);
	tlb->cleared_ptes = 1;
}

static inline void tlb_flush_pmd_range(struct mmu_gather *tlb, uint64_t address, uint64_t size)
{
	__tlb_adjust_range(tlb, address, size);
	tlb->cleared_pmds = 1;
}

static inline void tlb_flush_pud_range(struct mmu_gather *tlb, uint64_t address, uint64_t size)
{
	__tlb_adjust_range(tlb, address, size);
	tlb->cleared_puds = 1;
}

static inline void tlb_flush_p4d_range(struct mmu_gather *tlb, uint64_t address, uint64_t size)
{
	__tlb_adjust_range(tlb, address, size);
	tlb->cleared_p4ds = 1;
}

/* tlb_remove_tlb_entries(): record the range of @nr PTEs just cleared. */
static inline void tlb_remove_tlb_entries(struct mmu_gather *tlb, uint64_t address, unsigned int nr)
{
	tlb_flush_pte_range(tlb, address, (uint64_t)nr << tlb->mm->machine->geo.page_shift);
}

static inline void tlb_remove_tlb_entry(struct mmu_gather *tlb, uint64_t address)
{
	tlb_remove_tlb_entries(tlb, address, 1);
}

/* tlb_remove_huge_tlb_entry(): the level follows the huge page size. */
void tlb_remove_huge_tlb_entry(struct mmu_gather *tlb, uint64_t huge_size, uint64_t address);

/* tlb_get_unmap_shift() / tlb_get_unmap_size(): the flush stride. */
unsigned int tlb_get_unmap_shift(const struct mmu_gather *tlb);
static inline uint64_t tlb_get_unmap_size(const struct mmu_gather *tlb)
{
	return 1ull << tlb_get_unmap_shift(tlb);
}

void tlb_start_vma(struct mmu_gather *tlb, struct vm_area_struct *vma);
void tlb_end_vma(struct mmu_gather *tlb, struct vm_area_struct *vma);
void tlb_free_vmas(struct mmu_gather *tlb);

/* Freeing a table records the entry one level up that pointed at it. */
void pte_free_tlb(struct mmu_gather *tlb, struct ptdesc *pte, uint64_t address);
void pmd_free_tlb(struct mmu_gather *tlb, struct ptdesc *pmd, uint64_t address);
void pud_free_tlb(struct mmu_gather *tlb, struct ptdesc *pud, uint64_t address);
void p4d_free_tlb(struct mmu_gather *tlb, struct ptdesc *p4d, uint64_t address);

/* hugetlb PMD unsharing through the gather (8ce720d5bd91). */
void tlb_unshare_pmd_ptdesc(struct mmu_gather *tlb, struct ptdesc *pt, uint64_t addr);
void tlb_flush_unshared_tables(struct mmu_gather *tlb);

/*
 * tlb_delay_rmap - on SMP, a dirty file folio's rmap is dropped only after the
 * TLB flush (no CPU may still write through a stale entry).  Sets delayed_rmap.
 */
static inline bool tlb_delay_rmap(struct mmu_gather *tlb)
{
	tlb->delayed_rmap = 1;
	return true;
}

/* The nested-flush test of tlb_finish_mmu(). */
static inline bool mm_tlb_flush_nested(const struct mm_struct *mm)
{
	return mm->tlb_flush_pending > 1;
}

#endif
