/*
 * hugetlb: faults, zapping, fork copy, and PMD-table sharing and unsharing.
 *
 * Models mm/hugetlb.c at v6.19 (after 8ce720d5bd91, "mm/hugetlb: fix
 * excessive IPI broadcasts when unsharing PMD tables using mmu_gather"), with
 * the earlier forms of huge_pmd_unshare() and of its callers' flushes
 * selectable (hugetlb_unshare=..., kernel-model 11.7 and 13.1):
 *   none           <= v6.15: pud_clear(), drop the share; the callers flush
 *                  (flush_hugetlb_tlb_range(), or tlb_flush_pmd_range() +
 *                  force_flush in __unmap_hugepage_range()); nothing waits for
 *                  GUP-fast of other sharers (CVE-2025-38085);
 *   ipi_per_table  1013af4f585f (v6.16 - v6.18, stable 2025): as above plus
 *                  tlb_remove_table_sync_one() in every successful unshare;
 *   mmu_gather     8ce720d5bd91 (v6.19, 6.18.y): tlb_unshare_pmd_ptdesc()
 *                  records into the gather; huge_pmd_unshare_flush() flushes
 *                  the unsharer once and broadcasts once, only if some table
 *                  became exclusive (the 2 -> 1 sharer step);
 *   no_broadcast   not a kernel: the mmu_gather form without the broadcast
 *                  (deliberately unsafe, for the oracle's tests).
 * Each era's huge_pmd_unshare() ending and each caller whose flushing
 * differs (__unmap_hugepage_range, hugetlb_unshare_pmds,
 * hugetlb_change_protection, move_hugetlb_page_tables, the unsharing step of
 * try_to_migrate_one) is a function of its own, named after the commit or
 * version, chosen once by hugetlb_select_era() when the machine is created;
 * the entry steps both eras share are zap_huge_pte() and
 * change_huge_pte_prot().  hugetlb.unshare_broadcasts is counted by
 * count_unshare_broadcast() where each era sends its broadcast.
 *
 * Sharing (kernel-model 11.2 - 11.3): a PMD_SIZE hugetlb fault in a
 * VM_MAYSHARE VMA that covers the whole PUD_SIZE range (want_pmd_share())
 * looks through the file's i_mmap for another VMA that maps the same file
 * offset at the same PMD index (page_table_shareable()) and has a PMD table
 * there, and points its own PUD at that table: pt_share_count + 1 (extra
 * sharers; 0 = exclusive), +pmds in the new sharer's VmPTE.  No entry, rmap,
 * RSS or hugetlb_usage changes: a sharer sees the table's entries at once.
 *
 * Locks.  The simulation is sequential, so the hugetlb VMA lock, the PT lock
 * and mm->page_table_lock are implicit.  i_mmap_rwsem is not: an operation
 * blocked in an IPI wait (the broadcast of huge_pmd_unshare_flush() to a CPU
 * inside GUP-fast) still holds it in the kernel, since the flush runs before
 * the lock drops.  i_mmap_lock_write()/i_mmap_unlock_write() below record the
 * files an operation leaves locked when it ends blocked; the API refuses other
 * operations that need those locks (ECPUBUSY) until the wait is over.
 *
 * The oracle: huge_pmd_unshare() tells the GUP-fast model that walkers of the
 * unsharing mm inside the table are now "stale" (gup_fast_table_unshared());
 * any later write into that table other than a fault installing the same
 * file's pages is reported as the table being reused under the walker.
 *
 * Left out: reservations and subpools, hugetlb cgroups, userfaultfd (no
 * markers, no uffd-wp), hwpoison, mmu notifiers, huge page pools (a fault
 * never runs out of huge pages unless the simulator's allocator fails), and
 * the arm64 contiguous-bit sizes (only PMD_SIZE and PUD_SIZE pages).
 */
#include "mm/internal.h"

#include <inttypes.h>

#include "arch/arch.h"
#include "mm/mmu_gather.h"

uint64_t huge_page_size(const struct vm_area_struct *vma)
{
	return 1ull << vma->hpage_shift;
}

static uint64_t pages_per_huge_page(const struct vm_area_struct *vma)
{
	return 1ull << (vma->hpage_shift - vma->vm_mm->machine->geo.page_shift);
}

/* The level of a huge page's entries (contiguous PTE ranges: the PTE level). */
static enum pt_level huge_level_sz(const struct ptsim_machine *m, uint64_t sz)
{
	if (sz == PUD_SIZE(m))
		return PT_PUD;
	return sz < PMD_SIZE(m) ? PT_PTE : PT_PMD;
}

static enum pt_level huge_level(const struct vm_area_struct *vma)
{
	return huge_level_sz(vma->vm_mm->machine, huge_page_size(vma));
}

/* hugetlb_mask_last_page(): skip to the last huge page of the table's range. */
static uint64_t hugetlb_mask_last_page(const struct vm_area_struct *vma)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t sz = huge_page_size(vma);

	if (sz == PUD_SIZE(m) && !m->geo.folded[PT_PUD])
		return P4D_SIZE(m) - PUD_SIZE(m);
	if (sz == PMD_SIZE(m))
		return PUD_SIZE(m) - PMD_SIZE(m);
	/* arm64 contiguous ranges: the rest of the PUD / PMD range. */
	if (m->geo.cont_pmd_size && sz == m->geo.cont_pmd_size)
		return PUD_SIZE(m) - sz;
	if (m->geo.cont_pte_size && sz == m->geo.cont_pte_size)
		return PMD_SIZE(m) - sz;
	return 0;
}

/* ptsim: hugetlb.unshare_broadcasts counts the GUP-fast broadcasts unsharing sends, whatever the era. */
void count_unshare_broadcast(struct ptsim_machine *m)
{
	STAT_INC(m, HUGETLB_UNSHARE_BROADCASTS);
}

/* ---- i_mmap_rwsem held across an IPI wait ---- */

/**
 * i_mmap_lock_write - take @mapping's i_mmap_rwsem for write.  Nothing to do
 * in a sequential simulation, except that no other CPU may still hold it: the
 * API refuses operations that would need a lock another blocked operation
 * holds.  The CPU itself may: an operation that blocked in an IPI wait and
 * then, further on, takes the same file's lock again (mremap unmapping the
 * old range, mprotect of a second VMA, ...) does so, in the kernel, after the
 * wait ended and the lock dropped; the simulation runs those later steps
 * before the wait ends, so the lock simply stays marked as this CPU's.
 */
void i_mmap_lock_write(struct ptsim_machine *m, struct sim_file *mapping)
{
	struct sim_cpu *cpu = this_cpu(m);

	if (NEVER(m, mapping->i_mmap_held_by && (!cpu || mapping->i_mmap_held_by != cpu->id + 1)))
		return;
}

/**
 * i_mmap_unlock_write - drop it.  If the operation is blocked in an IPI wait
 * (this CPU has unacknowledged calls), the kernel is still inside that wait
 * with the lock held: keep it held by this CPU until the wait ends
 * (i_mmap_release_held() from smp.c).  The held file keeps a reference.
 */
void i_mmap_unlock_write(struct ptsim_machine *m, struct sim_file *mapping)
{
	struct sim_cpu *cpu = this_cpu(m);

	if (!cpu || !cpu->pending_acks || mapping->i_mmap_held_by)
		return;
	mapping->i_mmap_held_by = cpu->id + 1;
	m->nr_i_mmap_held++;
	mapping->refs++;
	mapping->held_next = cpu->held_i_mmap;
	cpu->held_i_mmap = mapping;
}

/* i_mmap_release_held - @cpu's IPI waits are over: its held i_mmap locks drop. */
void i_mmap_release_held(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_cpu *saved = m->cur;

	m->cur = cpu;
	while (cpu->held_i_mmap) {
		struct sim_file *f = cpu->held_i_mmap;

		cpu->held_i_mmap = f->held_next;
		f->held_next = NULL;
		f->i_mmap_held_by = 0;
		m->nr_i_mmap_held--;
		file_put(m, f);
	}
	m->cur = saved;
}

/* ---- sharing ---- */

static bool range_in_vma(const struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	return vma->vm_start <= start && end <= vma->vm_end;
}

/* want_pmd_share(): may a fault at @addr share a PMD table? */
static bool want_pmd_share(struct vm_area_struct *vma, uint64_t addr)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t start = addr & ~(PUD_SIZE(m) - 1);
	uint64_t end = start + PUD_SIZE(m);

	/* CONFIG_HUGETLB_PMD_PAGE_TABLE_SHARING; huge_pte_alloc() calls it for PMD_SIZE only. */
	if (!m->geo.pmd_share || huge_page_size(vma) != PMD_SIZE(m))
		return false;
	if (vma->vm_flags & VM_UFFD_WP)   /* uffd_disable_huge_pmd_share() */
		return false;
	if (!(vma->vm_flags & VM_MAYSHARE))
		return false;
	if (!vma->hugetlb_vma_lock)       /* vma lock required for sharing */
		return false;
	return range_in_vma(vma, start, end);
}

/*
 * adjust_range_if_pmd_sharing_possible(): widen [*start, *end) to the PUD
 * ranges that shared tables of @vma could cover.
 */
static void adjust_range_if_pmd_sharing_possible(struct vm_area_struct *vma, uint64_t *start, uint64_t *end)
{
	uint64_t pud = PUD_SIZE(vma->vm_mm->machine);
	uint64_t v_start = (vma->vm_start + pud - 1) & ~(pud - 1);
	uint64_t v_end = vma->vm_end & ~(pud - 1);

	if (!(vma->vm_flags & VM_MAYSHARE) || !(v_end > v_start) || *end <= v_start || *start >= v_end)
		return;
	if (*start > v_start)
		*start &= ~(pud - 1);
	if (*end < v_end)
		*end = (*end + pud - 1) & ~(pud - 1);
}

/*
 * flush_hugetlb_tlb_range() is the arch wrapper in arch/arch.h: x86's
 * flush_tlb_range() (huge-page stride), arm64's own (stride and level hint of
 * the huge page size).
 */

/*
 * huge_pte_offset() (hugetlb_walk()): the entry for a huge page of size @sz,
 * or NULL if a table on the way is missing.
 */
static pgent_t *huge_pte_offset(struct mm_struct *mm, uint64_t addr, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	if (sz != PMD_SIZE(m) && sz != PUD_SIZE(m) && m->ops->huge_pte_offset)
		return m->ops->huge_pte_offset(mm, addr, sz);   /* arm64 contiguous ranges */
	p4d_t *p4d = p4d_lookup(mm, addr);

	if (!p4d)
		return NULL;
	pud_t *pud = pud_offset(mm, p4d, addr);
	if (sz == PUD_SIZE(m))
		return pud;
	if (pud_none(mm, *pud) || !pgent_present(*pud))
		return NULL;
	if (pgent_huge(*pud))
		return pud;
	return pmd_offset(mm, pud, addr);
}

/*
 * page_table_shareable(): where does @svma map file page @idx, and can its PMD
 * table serve @vma at @addr (same PMD index, same flags ignoring VM_LOCKED,
 * the whole PUD range inside @svma, @svma has its VMA lock)?  Return: that
 * address, or 0.
 */
static uint64_t page_table_shareable(struct vm_area_struct *svma, struct vm_area_struct *vma, uint64_t addr,
				     uint64_t idx)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t saddr = ((idx - svma->vm_pgoff) << m->geo.page_shift) + svma->vm_start;
	uint64_t sbase = saddr & ~(PUD_SIZE(m) - 1);
	uint64_t s_end = sbase + PUD_SIZE(m);
	uint64_t locked = VM_LOCKED | VM_LOCKONFAULT;   /* VM_LOCKED_MASK */

	if (pt_index(&m->geo, PT_PMD, addr) != pt_index(&m->geo, PT_PMD, saddr) ||
	    (vma->vm_flags & ~locked) != (svma->vm_flags & ~locked) || !range_in_vma(svma, sbase, s_end) ||
	    !svma->hugetlb_vma_lock)
		return 0;
	return saddr;
}

/**
 * huge_pmd_share - find a PMD table that another VMA of the same file already
 * has for this PUD range and point our PUD at it (pt_share_count + 1, +pmds);
 * in any case return pmd_alloc()'s entry for @addr (our own new table if
 * nothing was found).  Runs under i_mmap_rwsem for read.
 */
static pgent_t *huge_pmd_share(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, pud_t *pud)
{
	struct ptsim_machine *m = mm->machine;
	struct sim_file *mapping = vma->vm_file;
	uint64_t idx = ((addr - vma->vm_start) >> m->geo.page_shift) + vma->vm_pgoff;
	struct ptdesc *spt = NULL;

	/* i_mmap_lock_read(); vma_interval_tree_foreach(svma, &mapping->i_mmap, idx, idx) */
	for (unsigned int i = 0; i < mapping->nr_mmap; i++) {
		struct vm_area_struct *svma = mapping->i_mmap[i];
		uint64_t npages = (svma->vm_end - svma->vm_start) >> m->geo.page_shift;

		if (svma == vma || idx < svma->vm_pgoff || idx >= svma->vm_pgoff + npages)
			continue;
		uint64_t saddr = page_table_shareable(svma, vma, addr, idx);
		if (!saddr)
			continue;
		pgent_t *spte = huge_pte_offset(svma->vm_mm, saddr, huge_page_size(svma));
		if (spte) {
			spt = virt_to_ptdesc(m, spte);
			spt->pt_share_count++;   /* ptdesc_pmd_pts_inc() */
			break;
		}
	}
	if (spt) {
		/* spin_lock(&mm->page_table_lock) */
		if (pud_none(mm, *pud)) {
			pt_write(m, pud, PT_PUD, addr, mk_table_pgent(spt->pfn));   /* pud_populate() */
			mm_inc_nr_pmds(mm);
			STAT_INC(m, HUGETLB_SHARE);
		} else {
			spt->pt_share_count--;   /* ptdesc_pmd_pts_dec() */
		}
	}
	return pmd_alloc(mm, pud, addr);
}

/* huge_pte_alloc(): allocate down to the huge entry, sharing the PMD table if possible. */
static pgent_t *huge_pte_alloc(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	if (sz != PMD_SIZE(m) && sz != PUD_SIZE(m) && m->ops->huge_pte_alloc)
		return m->ops->huge_pte_alloc(mm, vma, addr, sz);   /* arm64 contiguous ranges */
	pud_t *pud = alloc_new_pud(mm, addr);

	if (!pud)
		return NULL;
	if (sz == PUD_SIZE(m))
		return pud;
	if (want_pmd_share(vma, addr) && pud_none(mm, *pud))
		return huge_pmd_share(mm, vma, addr, pud);
	return pmd_alloc(mm, pud, addr);
}

/**
 * hugetlb_fault_needs_i_mmap - would a fault at @address take the file's
 * i_mmap_rwsem (huge_pmd_share())?  The API asks before faulting, so that a
 * lock still held by a blocked operation stops the fault (ECPUBUSY).
 */
bool hugetlb_fault_needs_i_mmap(struct vm_area_struct *vma, uint64_t address)
{
	if (!is_vm_hugetlb_page(vma) || !want_pmd_share(vma, address))
		return false;
	return !pud_lookup(vma->vm_mm, address);   /* no PMD table yet: the fault would share or allocate one */
}

/* ---- unsharing ---- */

/**
 * huge_pmd_unshare - unmap the PMD table holding @ptep from this mm if it is
 * shared.  Called with the PT lock, i_mmap_rwsem (write) and the hugetlb VMA
 * lock (write) held.  The mmu_gather forms record into @tlb and leave the
 * flush and the broadcast to huge_pmd_unshare_flush(); the older forms do not
 * use @tlb (NULL allowed): their callers flush.
 * Return: 1 if a shared table was unmapped (the caller skips the rest of the
 * PUD range), 0 if it was not shared (the caller handles the entries itself).
 */
static int huge_pmd_unshare(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr, pgent_t *ptep)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	/* Without CONFIG_HUGETLB_PMD_PAGE_TABLE_SHARING (arm64 64K, 16K/36-bit) a stub. */
	if (!m->geo.pmd_share || huge_page_size(vma) != PMD_SIZE(m))
		return 0;
	struct ptdesc *pt = virt_to_ptdesc(m, ptep);
	if (NEVER(m, !pt || pt->level != PT_PMD) || pt->pt_share_count == 0)   /* !ptdesc_pmd_is_shared() */
		return 0;

	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	pud_t *pud = pud_offset(mm, p4d, addr);
	pt_write(m, pud, PT_PUD, addr, 0);   /* pud_clear() */
	if (pt->pt_mm == mm)
		pt->pt_mm = NULL;   /* ptsim: only other sharers hold it now */
	STAT_INC(m, HUGETLB_UNSHARE);
	if (pt->pt_share_count == 1)
		STAT_INC(m, HUGETLB_FULL_UNSHARE);
	/* ptsim: GUP-fast walkers of this mm inside the table now hold a table their mm does not map. */
	if (m->rcu.nr_readers)
		gup_fast_table_unshared(m, mm, pt);

	m->eras.huge_pmd_unshare_drop(tlb, m, pt, addr);
	mm_dec_nr_pmds(mm);
	return 1;
}

/* The end of huge_pmd_unshare() in 6.19 (8ce720d5bd91): record the unsharing into the gather. */
static void huge_pmd_unshare_drop_8ce720d5bd91(struct mmu_gather *tlb, struct ptsim_machine *m, struct ptdesc *pt,
					       uint64_t addr)
{
	(void)m;
	tlb_unshare_pmd_ptdesc(tlb, pt, addr);
}

/*
 * 6.16 - 6.18 (1013af4f585f): once the caller drops the rmap lock, the table
 * may be used as a normal table by another process: wait for pending GUP-fast
 * in other threads first, then drop the share.
 */
static void huge_pmd_unshare_drop_1013af4f585f(struct mmu_gather *tlb, struct ptsim_machine *m, struct ptdesc *pt,
					       uint64_t addr)
{
	(void)tlb;
	(void)addr;
	count_unshare_broadcast(m);
	tlb_remove_table_sync_one(m);
	pt->pt_share_count--;   /* ptdesc_pmd_pts_dec() */
}

/* Up to 6.15: drop the share; nothing waits for GUP-fast (CVE-2025-38085). */
static void huge_pmd_unshare_drop_6_15(struct mmu_gather *tlb, struct ptsim_machine *m, struct ptdesc *pt,
				       uint64_t addr)
{
	(void)tlb;
	(void)m;
	(void)addr;
	pt->pt_share_count--;   /* ptdesc_pmd_pts_dec() */
}

/**
 * huge_pmd_unshare_flush - complete a sequence of huge_pmd_unshare() calls
 * while i_mmap_rwsem is still held: flush the unsharer and, if some table
 * became exclusive, broadcast once (tlb_flush_unshared_tables()).  Only the
 * mmu_gather forms have it.
 */
static void huge_pmd_unshare_flush(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	(void)vma;
	tlb_flush_unshared_tables(tlb);
}

/* ---- faults ---- */

/* make_huge_pte(): writable (and dirty) only if asked and the VMA is writable. */
static pgent_t make_huge_pte(struct vm_area_struct *vma, uint32_t pfn, bool try_mkwrite)
{
	pgent_t e = mk_pgent(pfn, _PAGE_PRESENT | _PAGE_HUGE | _PAGE_ACCESSED | vma_prot_bits(vma));

	if (try_mkwrite && (vma->vm_flags & VM_WRITE))
		e |= _PAGE_RW | _PAGE_DIRTY;
	if (!(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)))
		e |= _PAGE_PROTNONE;
	if (vma->vm_mm->machine->ops->arch_make_huge_pte)
		e = vma->vm_mm->machine->ops->arch_make_huge_pte(vma->vm_mm->machine, e, huge_page_size(vma));
	return e;
}

/*
 * Writing huge entries: the arch's forms (arm64: a contiguous range is N
 * entries, changed through break-before-make), else asm-generic/hugetlb.h's
 * one entry at the huge page's level.
 */
static void set_huge_pte_at(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, pgent_t pte, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;

	if (m->ops->set_huge_pte_at)
		m->ops->set_huge_pte_at(mm, addr, ptep, pte, sz);
	else
		pt_write(m, ptep, huge_level_sz(m, sz), addr, pte);
}

/* huge_ptep_get_and_clear() (also huge_pte_clear()): the old value, dirty/young of a whole range. */
static pgent_t huge_ptep_get_and_clear(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	pgent_t old = *ptep;

	if (m->ops->huge_ptep_get_and_clear)
		return m->ops->huge_ptep_get_and_clear(mm, addr, ptep, sz);
	pt_write(m, ptep, huge_level_sz(m, sz), addr, 0);
	return old;
}

static void huge_ptep_set_wrprotect(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;

	if (m->ops->huge_ptep_set_wrprotect)
		m->ops->huge_ptep_set_wrprotect(mm, addr, ptep, sz);
	else
		pt_write(m, ptep, huge_level_sz(m, sz), addr, *ptep & ~_PAGE_RW);
}

/*
 * huge_ptep_modify_prot_start() + _commit(): with arch entry forms, clear
 * (keeping the range's dirty/young) then set; the generic form is one write.
 */
static void huge_ptep_modify_prot(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, pgent_t pte, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;

	if (!m->ops->set_huge_pte_at) {
		pt_write(m, ptep, huge_level_sz(m, sz), addr, pte);
		return;
	}
	pgent_t old = huge_ptep_get_and_clear(mm, addr, ptep, sz);
	set_huge_pte_at(mm, addr, ptep, pte | (old & (_PAGE_DIRTY | _PAGE_ACCESSED)), sz);
}

static void hugetlb_count_add(struct mm_struct *mm, long pages)
{
	mm->hugetlb_usage += pages;
}

static void hugetlb_count_sub(struct mm_struct *mm, long pages)
{
	mm->hugetlb_usage -= pages;
}

static bool hugetlb_folio_anon(struct ptsim_machine *m, uint32_t pfn)
{
	return frame(m, pfn)->u.page.file == NULL;
}

/*
 * huge_ptep_clear_flush(): the generic ptep_clear_flush(): clear, and flush
 * the one address if the entry was accessible (x86 flush_tlb_page()).
 */
static pgent_t huge_ptep_clear_flush(struct vm_area_struct *vma, uint64_t addr, pgent_t *ptep)
{
	pgent_t old = *ptep;

	if (vma->vm_mm->machine->ops->huge_ptep_clear_flush)
		return vma->vm_mm->machine->ops->huge_ptep_clear_flush(vma, addr, ptep);

	pt_write(vma->vm_mm->machine, ptep, huge_level(vma), addr, 0);
	if (pgent_present(old))
		flush_tlb_page(vma, addr);
	return old;
}

/*
 * hugetlb_no_page(): the first fault of a huge page in this table.  A shared
 * mapping takes the page-cache page (allocated and added on a miss); a
 * private one maps the page-cache page read-only if there is one, else a new
 * anonymous page; a private write then copies or reuses it (hugetlb_wp()).
 */
static unsigned int hugetlb_wp(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t haddr, pgent_t *ptep);

static unsigned int hugetlb_no_page(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t haddr,
				    pgent_t *ptep, unsigned int flags)
{
	struct ptsim_machine *m = mm->machine;
	bool shared = vma->vm_flags & VM_MAYSHARE;
	uint64_t idx = linear_page_index(vma, haddr);   /* vma_hugecache_offset() */
	uint32_t pfn;
	uint64_t v;
	bool oom;

	if (shared) {
		pfn = filemap_get_page(m, vma->vm_file, idx, &oom);
		if (oom)
			return VM_FAULT_OOM;
	} else if (hmap_get(&vma->vm_file->pages, idx, &v)) {
		pfn = (uint32_t)v;
	} else {
		/* A new anonymous folio, not added to the page cache. */
		if (anon_vma_prepare(vma))
			return VM_FAULT_OOM;
		pfn = phys_alloc(m, FRAME_HUGETLB, vma->hpage_shift - m->geo.page_shift);
		if (!pfn)
			return VM_FAULT_OOM;
		frame(m, pfn)->flags |= FRAME_F_ANON_EXCL;   /* hugetlb_add_new_anon_rmap() */
		frame(m, pfn)->mapcount = 1;
		goto install;
	}
	get_page(m, pfn);
	frame(m, pfn)->mapcount++;   /* hugetlb_add_file_rmap() */
install:
	set_huge_pte_at(mm, haddr, ptep, make_huge_pte(vma, pfn, vma->vm_flags & VM_SHARED), huge_page_size(vma));
	hugetlb_count_add(mm, (long)pages_per_huge_page(vma));
	STAT_INC(m, FAULTS_HUGETLB);
	/* Optimization: do the COW without a second fault. */
	if ((flags & FAULT_FLAG_WRITE) && !(vma->vm_flags & VM_SHARED))
		return hugetlb_wp(mm, vma, haddr, ptep);
	return 0;
}

/* hugetlb_wp(): a write to a write-protected huge page: make it writable, reuse or copy it. */
static unsigned int hugetlb_wp(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t haddr, pgent_t *ptep)
{
	struct ptsim_machine *m = mm->machine;
	pgent_t old = *ptep;
	uint32_t old_pfn = pgent_pfn(old);

	/* MAP_SHARED: set_huge_ptep_writable(). */
	if (vma->vm_flags & VM_MAYSHARE) {
		set_huge_pte_at(mm, haddr, ptep, old | _PAGE_RW | _PAGE_DIRTY, huge_page_size(vma));
		return 0;
	}
	/* The only mapping of an anonymous folio: reuse it. */
	if (hugetlb_folio_anon(m, old_pfn) && frame(m, old_pfn)->mapcount == 1) {
		frame(m, old_pfn)->flags |= FRAME_F_ANON_EXCL;
		if (vma->vm_flags & VM_WRITE)   /* set_huge_ptep_maybe_writable() */
			set_huge_pte_at(mm, haddr, ptep, old | _PAGE_RW | _PAGE_DIRTY, huge_page_size(vma));
		STAT_INC(m, FAULTS_WP_REUSE);
		return 0;
	}
	if (anon_vma_prepare(vma))
		return VM_FAULT_OOM;
	uint32_t pfn = phys_alloc(m, FRAME_HUGETLB, vma->hpage_shift - m->geo.page_shift);
	if (!pfn)
		return VM_FAULT_OOM;
	frame(m, pfn)->flags |= FRAME_F_ANON_EXCL;
	frame(m, pfn)->mapcount = 1;   /* hugetlb_add_new_anon_rmap() */
	/* Break COW: clear and flush, then install the copy. */
	huge_ptep_clear_flush(vma, haddr, ptep);
	frame(m, old_pfn)->mapcount--;   /* hugetlb_remove_rmap() */
	set_huge_pte_at(mm, haddr, ptep, make_huge_pte(vma, pfn, true), huge_page_size(vma));
	put_page(m, old_pfn);
	STAT_INC(m, FAULTS_COW);
	return 0;
}

unsigned int hugetlb_fault(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t address, unsigned int flags)
{
	uint64_t sz = huge_page_size(vma);
	uint64_t haddr = address & ~(sz - 1);
	pgent_t *ptep = huge_pte_alloc(mm, vma, haddr, sz);

	if (!ptep)
		return VM_FAULT_OOM;
	pgent_t e = *ptep;
	if (pgent_none(e))
		return hugetlb_no_page(mm, vma, haddr, ptep, flags);
	if (!pgent_present(e))
		return VM_FAULT_SIGBUS;   /* migration entries exist only inside one operation here */
	if ((flags & FAULT_FLAG_WRITE) && !(e & _PAGE_RW))
		return hugetlb_wp(mm, vma, haddr, ptep);
	/* huge_ptep_set_access_flags() */
	pgent_t n = e | _PAGE_ACCESSED | ((flags & FAULT_FLAG_WRITE) ? _PAGE_DIRTY : 0);
	if (n != e)
		set_huge_pte_at(mm, haddr, ptep, n, sz);   /* huge_ptep_set_access_flags() */
	return 0;
}

/* ---- zap ---- */

/*
 * The entry step of __unmap_hugepage_range() once the entry is known not to
 * be in a shared table: clear it and queue the folio.  With @folio, only the
 * entry mapping that folio goes.  Return: true when that entry went (stop).
 */
static bool zap_huge_pte(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t address, pgent_t *ptep,
			 uint32_t folio)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	pgent_t pte = *ptep;

	if (pgent_none(pte))
		return false;
	if (!pgent_present(pte)) {
		/* Migration and hwpoison entries hold no reference: just clear. */
		huge_ptep_get_and_clear(mm, address, ptep, sz);   /* huge_pte_clear() */
		return false;
	}
	uint32_t pfn = pgent_pfn(pte);
	if (folio && pfn != folio)
		return false;
	pte = huge_ptep_get_and_clear(mm, address, ptep, sz);
	tlb_remove_huge_tlb_entry(tlb, sz, address);
	if (pte & _PAGE_DIRTY)
		frame(m, pfn)->flags |= FRAME_F_DIRTY;   /* folio_mark_dirty() */
	hugetlb_count_sub(mm, (long)pages_per_huge_page(vma));
	frame(m, pfn)->mapcount--;   /* hugetlb_remove_rmap() */
	tlb_remove_page_size(tlb, pfn, sz);
	return folio != 0;
}

/*
 * __unmap_hugepage_range() of 6.19 (8ce720d5bd91): a shared PMD table is
 * unshared into the gather and the rest of its PUD range skipped; the
 * unsharing is completed (flush, broadcast) before returning.
 */
static void __unmap_hugepage_range_8ce720d5bd91(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start,
						uint64_t end, uint32_t folio)
{
	struct mm_struct *mm = vma->vm_mm;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);

	tlb_start_vma(tlb, vma);
	for (uint64_t address = start; address < end; address += sz) {
		pgent_t *ptep = huge_pte_offset(mm, address, sz);
		if (!ptep) {
			address |= last_addr_mask;
			continue;
		}
		if (huge_pmd_unshare(tlb, vma, address, ptep)) {
			address |= last_addr_mask;
			continue;
		}
		if (zap_huge_pte(tlb, vma, address, ptep, folio))
			break;
	}
	tlb_end_vma(tlb, vma);
	huge_pmd_unshare_flush(tlb, vma);
}

/*
 * __unmap_hugepage_range() up to 6.18: after an unshare the caller records
 * the PUD range itself and forces a TLB flush before returning.
 */
static void __unmap_hugepage_range_6_18(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start,
					uint64_t end, uint32_t folio)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	bool force_flush = false;

	tlb_start_vma(tlb, vma);
	for (uint64_t address = start; address < end; address += sz) {
		pgent_t *ptep = huge_pte_offset(mm, address, sz);
		if (!ptep) {
			address |= last_addr_mask;
			continue;
		}
		if (huge_pmd_unshare(NULL, vma, address, ptep)) {
			tlb_flush_pmd_range(tlb, address & ~(PUD_SIZE(m) - 1), PUD_SIZE(m));
			force_flush = true;
			address |= last_addr_mask;
			continue;
		}
		if (zap_huge_pte(tlb, vma, address, ptep, folio))
			break;
	}
	tlb_end_vma(tlb, vma);
	if (force_flush)
		tlb_flush_mmu_tlbonly(tlb);
}

/**
 * __unmap_hugepage_range - zap the huge pages of [@start, @end) in @vma (the
 * caller holds i_mmap_rwsem: hugetlb_zap_begin()), in the configured era.
 * A shared PMD table is unshared instead of zapped.  With @folio, only the
 * entry mapping that folio goes.
 */
void __unmap_hugepage_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
			    uint32_t folio, unsigned int zap_flags)
{
	(void)zap_flags;   /* no uffd-wp markers to keep */
	vma->vm_mm->machine->eras.unmap_hugepage_range(tlb, vma, start, end, folio);
}

/*
 * hugetlb_zap_begin(): take the hugetlb VMA lock and i_mmap_rwsem for write
 * (the notifier range widening to shared PUD ranges has no effect here).
 */
void hugetlb_zap_begin(struct vm_area_struct *vma, uint64_t *start, uint64_t *end)
{
	(void)start;
	(void)end;
	if (!is_vm_hugetlb_page(vma) || !vma->vm_file)
		return;
	i_mmap_lock_write(vma->vm_mm->machine, vma->vm_file);
}

/*
 * hugetlb_zap_end(): on the final unmap the VMA lock is freed first (the VMA
 * can no longer share), then i_mmap_rwsem drops.
 */
void hugetlb_zap_end(struct vm_area_struct *vma, struct zap_details *details)
{
	if (!is_vm_hugetlb_page(vma) || !vma->vm_file)
		return;
	if (details && (details->zap_flags & ZAP_FLAG_UNMAP))
		vma->hugetlb_vma_lock = false;   /* __hugetlb_vma_unlock_write_free() */
	i_mmap_unlock_write(vma->vm_mm->machine, vma->vm_file);
}

/* ---- fork ---- */

/**
 * copy_hugetlb_page_range - fork of a hugetlb VMA that needs copying (a
 * private mapping with anonymous huge pages; shared ones are not copied at
 * all).  A destination table that is shared already shows the entries: skip
 * its PUD range.
 */
int copy_hugetlb_page_range(struct mm_struct *dst, struct mm_struct *src, struct vm_area_struct *dst_vma,
			    struct vm_area_struct *src_vma)
{
	struct ptsim_machine *m = src->machine;
	uint64_t sz = huge_page_size(src_vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(src_vma);
	enum pt_level level = huge_level(src_vma);
	bool cow = is_cow_mapping(src_vma->vm_flags);
	int ret = 0;

	for (uint64_t addr = src_vma->vm_start; addr < src_vma->vm_end; addr += sz) {
		pgent_t *src_pte = huge_pte_offset(src, addr, sz);
		if (!src_pte) {
			addr |= last_addr_mask;
			continue;
		}
		pgent_t *dst_pte = huge_pte_alloc(dst, dst_vma, addr, sz);
		if (!dst_pte) {
			ret = SIM_ENOMEM;
			break;
		}
		struct ptdesc *dpt = virt_to_ptdesc(m, dst_pte);
		if (level == PT_PMD && dpt && dpt->pt_share_count) {   /* ptdesc_pmd_is_shared() */
			addr |= last_addr_mask;
			continue;
		}
		pgent_t e = *src_pte;
		if (pgent_none(e))
			continue;
		if (pgent_present(e)) {
			uint32_t pfn = pgent_pfn(e);
			get_page(m, pfn);
			/* hugetlb_add_file_rmap() / hugetlb_try_dup_anon_rmap() */
			frame(m, pfn)->flags &= (uint16_t)~FRAME_F_ANON_EXCL;
			frame(m, pfn)->mapcount++;
			if (cow) {
				huge_ptep_set_wrprotect(src, addr, src_pte, sz);
				e &= ~_PAGE_RW;
			}
			hugetlb_count_add(dst, (long)pages_per_huge_page(src_vma));
		}
		set_huge_pte_at(dst, addr, dst_pte, e, sz);
	}
	return ret;
}

/* ---- callers that unshare without unmapping ---- */

/*
 * hugetlb_unshare_pmds() of 6.19 (8ce720d5bd91): unshare every shared PMD
 * table in [@start, @end) (PUD-aligned steps) of a VM_MAYSHARE VMA into a
 * gather of its own, completed before i_mmap_rwsem drops.  With @take_locks
 * false the caller already holds i_mmap_rwsem (VMA split).
 */
static void hugetlb_unshare_pmds_8ce720d5bd91(struct vm_area_struct *vma, uint64_t start, uint64_t end,
					      bool take_locks)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	struct mmu_gather tlb;

	if (!(vma->vm_flags & VM_MAYSHARE) || start >= end)
		return;
	tlb_gather_mmu_vma(&tlb, vma);
	if (take_locks)
		i_mmap_lock_write(m, vma->vm_file);
	for (uint64_t address = start; address < end; address += PUD_SIZE(m)) {
		pgent_t *ptep = huge_pte_offset(mm, address, huge_page_size(vma));
		if (!ptep)
			continue;
		huge_pmd_unshare(&tlb, vma, address, ptep);
	}
	huge_pmd_unshare_flush(&tlb, vma);
	if (take_locks)
		i_mmap_unlock_write(m, vma->vm_file);
	tlb_finish_mmu(&tlb);
}

/* hugetlb_unshare_pmds() up to 6.18: the same, then one flush_hugetlb_tlb_range() of the range. */
static void hugetlb_unshare_pmds_6_18(struct vm_area_struct *vma, uint64_t start, uint64_t end, bool take_locks)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	if (!(vma->vm_flags & VM_MAYSHARE) || start >= end)
		return;
	if (take_locks)
		i_mmap_lock_write(m, vma->vm_file);
	for (uint64_t address = start; address < end; address += PUD_SIZE(m)) {
		pgent_t *ptep = huge_pte_offset(mm, address, huge_page_size(vma));
		if (!ptep)
			continue;
		huge_pmd_unshare(NULL, vma, address, ptep);
	}
	flush_hugetlb_tlb_range(vma, start, end);
	if (take_locks)
		i_mmap_unlock_write(m, vma->vm_file);
}

/**
 * hugetlb_split - a VMA split at @addr (081056dc00a2: during the split, with
 * the mmap, VMA and file rmap locks held).  If @addr is not PUD-aligned and
 * its PUD range lies inside the VMA, that range can no longer be shared
 * whole: unshare it now.
 */
void hugetlb_split(struct vm_area_struct *vma, uint64_t addr)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t floor = addr & ~(PUD_SIZE(m) - 1);
	uint64_t ceil = floor + PUD_SIZE(m);

	if (!(addr & (PUD_SIZE(m) - 1)) || !vma->vm_file)
		return;
	if (floor >= vma->vm_start && ceil <= vma->vm_end) {
		/* ptsim: the i_mmap_lock_write() of the split's vma_prepare(), taken here. */
		i_mmap_lock_write(m, vma->vm_file);
		m->eras.hugetlb_unshare_pmds(vma, floor, ceil, false);
		i_mmap_unlock_write(m, vma->vm_file);
	}
}

/*
 * The entry step of hugetlb_change_protection() once the entry is known not
 * to be in a shared table: give a present entry the new permissions
 * (huge_pte_modify(): the protection bits come from the new vm_page_prot).
 * Return: whether it changed.
 */
static bool change_huge_pte_prot(struct mm_struct *mm, uint64_t address, pgent_t *ptep, uint64_t newflags,
				 uint64_t sz)
{
	pgent_t e = *ptep;

	if (pgent_none(e))
		return false;
	if (!pgent_present(e)) {
		/* A writable migration entry would become readable; none outlive an operation here. */
		return false;
	}
	pgent_t n = e & ~(_PAGE_RW | _PAGE_NX | _PAGE_PROTNONE);
	if ((newflags & VM_WRITE) && (newflags & VM_SHARED))
		n |= _PAGE_RW;
	if (!(newflags & VM_EXEC))
		n |= _PAGE_NX;
	if (!(newflags & (VM_READ | VM_WRITE | VM_EXEC)))
		n |= _PAGE_PROTNONE;
	huge_ptep_modify_prot(mm, address, ptep, n, sz);
	return true;
}

/*
 * hugetlb_change_protection() of 6.19 (8ce720d5bd91): mprotect of
 * [@address, @end) of a hugetlb VMA with one gather of its own: shared PMD
 * tables are unshared (and counted as changed), the other present entries get
 * the new permissions; the gather's flush and the unsharing's completion come
 * before i_mmap_rwsem drops.
 * Return: number of base pages changed.
 */
static long hugetlb_change_protection_8ce720d5bd91(struct vm_area_struct *vma, uint64_t address, uint64_t end,
						   uint64_t newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	struct mmu_gather tlb;
	long pages = 0;

	tlb_gather_mmu_vma(&tlb, vma);
	i_mmap_lock_write(m, vma->vm_file);
	for (; address < end; address += sz) {
		pgent_t *ptep = huge_pte_offset(mm, address, sz);
		if (!ptep) {
			address |= last_addr_mask;
			continue;
		}
		if (huge_pmd_unshare(&tlb, vma, address, ptep)) {
			pages++;
			address |= last_addr_mask;
			continue;
		}
		if (change_huge_pte_prot(mm, address, ptep, newflags, sz)) {
			pages++;
			tlb_remove_huge_tlb_entry(&tlb, sz, address);
		}
	}
	tlb_flush_mmu_tlbonly(&tlb);
	huge_pmd_unshare_flush(&tlb, vma);
	i_mmap_unlock_write(m, vma->vm_file);
	tlb_finish_mmu(&tlb);
	return pages > 0 ? pages * (long)pages_per_huge_page(vma) : pages;
}

/*
 * hugetlb_change_protection() up to 6.18: the same walk, then one
 * flush_hugetlb_tlb_range() before i_mmap_rwsem drops, widened to the PUD
 * ranges when a table was unshared.
 */
static long hugetlb_change_protection_6_18(struct vm_area_struct *vma, uint64_t address, uint64_t end,
					   uint64_t newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	uint64_t start = address, range_start = address, range_end = end;
	long pages = 0;
	bool shared_pmd = false;

	adjust_range_if_pmd_sharing_possible(vma, &range_start, &range_end);
	i_mmap_lock_write(m, vma->vm_file);
	for (; address < end; address += sz) {
		pgent_t *ptep = huge_pte_offset(mm, address, sz);
		if (!ptep) {
			address |= last_addr_mask;
			continue;
		}
		if (huge_pmd_unshare(NULL, vma, address, ptep)) {
			pages++;
			shared_pmd = true;
			address |= last_addr_mask;
			continue;
		}
		if (change_huge_pte_prot(mm, address, ptep, newflags, sz))
			pages++;
	}
	if (shared_pmd)
		flush_hugetlb_tlb_range(vma, range_start, range_end);
	else
		flush_hugetlb_tlb_range(vma, start, end);
	i_mmap_unlock_write(m, vma->vm_file);
	return pages > 0 ? pages * (long)pages_per_huge_page(vma) : pages;
}

/* hugetlb_change_protection - mprotect of a hugetlb VMA range, in the configured era. */
long hugetlb_change_protection(struct vm_area_struct *vma, uint64_t address, uint64_t end, uint64_t newflags)
{
	return vma->vm_mm->machine->eras.hugetlb_change_protection(vma, address, end, newflags);
}

/* move_huge_pte(): move one entry (the PT locks are implicit). */
static void move_huge_pte(struct vm_area_struct *vma, uint64_t old_addr, uint64_t new_addr, pgent_t *src_pte,
			  pgent_t *dst_pte)
{
	pgent_t pte = huge_ptep_get_and_clear(vma->vm_mm, old_addr, src_pte, huge_page_size(vma));

	set_huge_pte_at(vma->vm_mm, new_addr, dst_pte, pte, huge_page_size(vma));
}

/*
 * The skip of move_hugetlb_page_tables() past a PUD range with nothing to
 * move: to the last huge page of the source's table, the destination by the
 * same distance.  ptsim: read on its own, the kernel source sets the
 * last-page bits in both addresses, which moves the two by different
 * distances when their offsets inside a PUD range differ, so later pages
 * would land at wrong destination addresses (some outside the new VMA) and
 * leak.  6.18.44 measured on the development machines does not do that:
 * every page keeps its offset (bench/real/hugetlb_mremap_offset.c,
 * docs/hugetlb.md), so the model keeps the offset, as the measurement says.
 */
static void skip_to_last_page(uint64_t *old_addr, uint64_t *new_addr, uint64_t last_addr_mask)
{
	uint64_t skip = (*old_addr | last_addr_mask) - *old_addr;

	*old_addr += skip;
	*new_addr += skip;
}

/*
 * move_hugetlb_page_tables() of 6.19 (8ce720d5bd91): mremap of [@old_addr,
 * +@len) of hugetlb @vma to @new_addr in @new_vma.  A shared PMD table is
 * unshared (its pages are no longer mapped here; the new range faults them in
 * again), the other entries are moved; one gather (moved entries, unshared
 * PUD ranges) completed before i_mmap_rwsem drops.
 * Return: bytes handled (less than @len if a table allocation failed).
 */
static uint64_t move_hugetlb_page_tables_8ce720d5bd91(struct vm_area_struct *vma, struct vm_area_struct *new_vma,
						      uint64_t old_addr, uint64_t new_addr, uint64_t len)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	uint64_t old_end = old_addr + len;
	struct mmu_gather tlb;

	tlb_gather_mmu_vma(&tlb, vma);
	i_mmap_lock_write(m, vma->vm_file);
	for (; old_addr < old_end; old_addr += sz, new_addr += sz) {
		pgent_t *src_pte = huge_pte_offset(mm, old_addr, sz);
		if (!src_pte) {
			skip_to_last_page(&old_addr, &new_addr, last_addr_mask);
			continue;
		}
		if (pgent_none(*src_pte))
			continue;
		if (huge_pmd_unshare(&tlb, vma, old_addr, src_pte)) {
			skip_to_last_page(&old_addr, &new_addr, last_addr_mask);
			continue;
		}
		pgent_t *dst_pte = huge_pte_alloc(mm, new_vma, new_addr, sz);
		if (!dst_pte)
			break;
		move_huge_pte(vma, old_addr, new_addr, src_pte, dst_pte);
		tlb_remove_huge_tlb_entry(&tlb, sz, old_addr);
	}
	tlb_flush_mmu_tlbonly(&tlb);
	huge_pmd_unshare_flush(&tlb, vma);
	i_mmap_unlock_write(m, vma->vm_file);
	tlb_finish_mmu(&tlb);
	return len + old_addr - old_end;
}

/*
 * move_hugetlb_page_tables() up to 6.18: the same walk, then one
 * flush_hugetlb_tlb_range() of the old range, PUD-widened if a table was
 * unshared.
 */
static uint64_t move_hugetlb_page_tables_6_18(struct vm_area_struct *vma, struct vm_area_struct *new_vma,
					      uint64_t old_addr, uint64_t new_addr, uint64_t len)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	uint64_t old_end = old_addr + len;
	uint64_t range_start = old_addr, range_end = old_end;
	bool shared_pmd = false;

	adjust_range_if_pmd_sharing_possible(vma, &range_start, &range_end);
	i_mmap_lock_write(m, vma->vm_file);
	for (; old_addr < old_end; old_addr += sz, new_addr += sz) {
		pgent_t *src_pte = huge_pte_offset(mm, old_addr, sz);
		if (!src_pte) {
			skip_to_last_page(&old_addr, &new_addr, last_addr_mask);
			continue;
		}
		if (pgent_none(*src_pte))
			continue;
		if (huge_pmd_unshare(NULL, vma, old_addr, src_pte)) {
			shared_pmd = true;
			skip_to_last_page(&old_addr, &new_addr, last_addr_mask);
			continue;
		}
		pgent_t *dst_pte = huge_pte_alloc(mm, new_vma, new_addr, sz);
		if (!dst_pte)
			break;
		move_huge_pte(vma, old_addr, new_addr, src_pte, dst_pte);
	}
	if (shared_pmd)
		flush_hugetlb_tlb_range(vma, range_start, range_end);
	else
		flush_hugetlb_tlb_range(vma, old_end - len, old_end);
	i_mmap_unlock_write(m, vma->vm_file);
	return len + old_addr - old_end;
}

/* move_hugetlb_page_tables - mremap's move of a hugetlb range, in the configured era. */
uint64_t move_hugetlb_page_tables(struct vm_area_struct *vma, struct vm_area_struct *new_vma, uint64_t old_addr,
				  uint64_t new_addr, uint64_t len)
{
	return vma->vm_mm->machine->eras.move_hugetlb_page_tables(vma, new_vma, old_addr, new_addr, len);
}

/* ---- rmap: one VMA of a file-backed hugetlb folio (try_to_migrate_one()) ---- */

/*
 * The unsharing step of try_to_migrate_one() for a hugetlb entry, 6.19
 * (8ce720d5bd91): a gather of its own, completed before the rmap lock drops.
 * Return: true if the entry's PMD table was shared and is now unmapped here.
 */
static bool hugetlb_unshare_for_migration_8ce720d5bd91(struct vm_area_struct *vma, uint64_t address, pgent_t *ptep)
{
	struct mmu_gather tlb;
	bool unshared;

	tlb_gather_mmu_vma(&tlb, vma);
	unshared = huge_pmd_unshare(&tlb, vma, address, ptep);
	if (unshared)
		huge_pmd_unshare_flush(&tlb, vma);
	tlb_finish_mmu(&tlb);
	return unshared;
}

/* Up to 6.18: unshare, then flush_tlb_range() of the PUD range. */
static bool hugetlb_unshare_for_migration_6_18(struct vm_area_struct *vma, uint64_t address, pgent_t *ptep)
{
	if (!huge_pmd_unshare(NULL, vma, address, ptep))
		return false;
	uint64_t start = address, end = address + huge_page_size(vma);
	adjust_range_if_pmd_sharing_possible(vma, &start, &end);
	flush_tlb_range(vma, start, end);
	return true;
}

/**
 * hugetlb_try_to_migrate_one - the hugetlb part of try_to_migrate_one() for
 * the file-backed folio @pfn mapped by @vma at @address (i_mmap_rwsem held
 * for write by the caller, TTU_RMAP_LOCKED).  If the PMD table holding the
 * entry is shared, unmapping the table from this mm unmaps the folio here:
 * one huge_pmd_unshare() with a gather of its own, completed before the
 * lock drops.  Otherwise the entry becomes a migration entry
 * (huge_ptep_clear_flush(), hugetlb_remove_rmap(), folio_put()).
 * Return: true if the folio is no longer mapped through this VMA's tables.
 */
bool hugetlb_try_to_migrate_one(struct vm_area_struct *vma, uint64_t address, uint32_t pfn)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pgent_t *ptep = huge_pte_offset(mm, address, huge_page_size(vma));

	/* page_vma_mapped_walk(): a present entry mapping this folio? */
	if (!ptep || !pgent_present(*ptep) || pgent_pfn(*ptep) != pfn)
		return true;
	if (m->eras.hugetlb_unshare_for_migration(vma, address, ptep)) {
		/* The PMD table was unmapped, consequently unmapping the folio. */
		return true;
	}
	pgent_t pteval = huge_ptep_clear_flush(vma, address, ptep);
	update_hiwater_rss(mm);   /* before the rss would go down (hugetlb pages are not in it) */
	if (pteval & _PAGE_DIRTY)
		frame(m, pfn)->flags |= FRAME_F_DIRTY;
	/* The migration entry remembers whether the mapping was writable. */
	pgent_t swp = mk_swp_pgent(SWP_MIGRATION, pfn) | (pteval & _PAGE_RW);
	set_huge_pte_at(mm, address, ptep, swp, huge_page_size(vma));
	frame(m, pfn)->mapcount--;   /* hugetlb_remove_rmap() */
	put_page(m, pfn);            /* folio_put() */
	return true;
}

/**
 * hugetlb_remove_migration_pte - remove_migration_pte() for one VMA: a
 * migration entry for @src at @address becomes a mapping of @dst.
 */
void hugetlb_remove_migration_pte(struct vm_area_struct *vma, uint64_t address, uint32_t src, uint32_t dst)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pgent_t *ptep = huge_pte_offset(mm, address, huge_page_size(vma));

	if (!ptep || pgent_present(*ptep) || pgent_swp_kind(*ptep) != SWP_MIGRATION || pgent_pfn(*ptep) != src)
		return;
	bool writable = *ptep & _PAGE_RW;
	get_page(m, dst);              /* folio_get() */
	frame(m, dst)->mapcount++;     /* hugetlb_add_file_rmap() */
	set_huge_pte_at(mm, address, ptep, make_huge_pte(vma, dst, writable), huge_page_size(vma));
}

/*
 * Choose the functions of the configured hugetlb unsharing era (machine
 * creation): 6.19's mmu_gather forms (also for the unsafe no_broadcast
 * variant, whose difference lies in tlb_flush_unshared_tables()), or the
 * older forms whose callers flush, with or without 1013af4f585f's sync IPI.
 */
void hugetlb_select_era(struct ptsim_machine *m)
{
	struct kernel_eras *e = &m->eras;
	bool gather = m->v.hugetlb_unshare == HUGETLB_UNSHARE_MMU_GATHER ||
		      m->v.hugetlb_unshare == HUGETLB_UNSHARE_NO_BROADCAST;

	if (gather)
		e->huge_pmd_unshare_drop = huge_pmd_unshare_drop_8ce720d5bd91;
	else if (m->v.hugetlb_unshare == HUGETLB_UNSHARE_IPI_PER_TABLE)
		e->huge_pmd_unshare_drop = huge_pmd_unshare_drop_1013af4f585f;
	else
		e->huge_pmd_unshare_drop = huge_pmd_unshare_drop_6_15;
	e->unmap_hugepage_range = gather ? __unmap_hugepage_range_8ce720d5bd91 : __unmap_hugepage_range_6_18;
	e->hugetlb_unshare_pmds = gather ? hugetlb_unshare_pmds_8ce720d5bd91 : hugetlb_unshare_pmds_6_18;
	e->hugetlb_change_protection =
		gather ? hugetlb_change_protection_8ce720d5bd91 : hugetlb_change_protection_6_18;
	e->move_hugetlb_page_tables = gather ? move_hugetlb_page_tables_8ce720d5bd91 : move_hugetlb_page_tables_6_18;
	e->hugetlb_unshare_for_migration =
		gather ? hugetlb_unshare_for_migration_8ce720d5bd91 : hugetlb_unshare_for_migration_6_18;
}
