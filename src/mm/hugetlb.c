/*
 * hugetlb: faults, zapping, fork copy, and PMD-table sharing and unsharing.
 *
 * Models mm/hugetlb.c at v6.19 (after 8ce720d5bd91, "mm/hugetlb: fix
 * excessive IPI broadcasts when unsharing PMD tables using mmu_gather"), with
 * the earlier forms of huge_pmd_unshare() selectable (hugetlb_unshare=...):
 *   none           <= v6.15: pud_clear(), drop the share, caller flushes; no
 *                  synchronisation with other sharers' GUP-fast (the CVE);
 *   ipi_per_table  1013af4f585f (v6.16 - v6.18, stable 2025):
 *                  tlb_remove_table_sync_one() in every successful unshare;
 *   mmu_gather     8ce720d5bd91 (v6.19, 6.18.y): tlb_unshare_pmd_ptdesc()
 *                  records; huge_pmd_unshare_flush() flushes once and
 *                  broadcasts once, only if some table became exclusive;
 *   no_broadcast   not a kernel: the mmu_gather form without the broadcast
 *                  (deliberately unsafe, for the oracle's tests).
 *
 * Sharing (kernel-model 11.2-11.3): a PMD_SIZE hugetlb fault in a VM_MAYSHARE
 * VMA that covers the whole PUD_SIZE range looks through the file's i_mmap for
 * another VMA mapping the same offset at the same PMD index and reuses its PMD
 * table (pt_share_count + 1, +pmds in the new sharer's VmPTE).
 *
 * Locks (hugetlb VMA lock, i_mmap_rwsem, PT lock) are implicit: the simulation
 * is sequential.
 */
#include "mm/internal.h"

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

/* hugetlb_mask_last_page(): skip to the last huge page of the table's range. */
static uint64_t hugetlb_mask_last_page(const struct vm_area_struct *vma)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t sz = huge_page_size(vma);

	if (sz == PUD_SIZE(m) && !m->geo.folded[PT_PUD])
		return P4D_SIZE(m) - PUD_SIZE(m);
	if (sz == PMD_SIZE(m))
		return PUD_SIZE(m) - PMD_SIZE(m);
	return 0;
}

/* ---- sharing ---- */

static bool range_in_vma(const struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	return vma->vm_start <= start && end <= vma->vm_end;
}

/* want_pmd_share() / __vma_aligned_range_pmd_shareable() */
static bool want_pmd_share(struct vm_area_struct *vma, uint64_t addr)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t base = addr & ~(PUD_SIZE(m) - 1);

	if (!m->geo.pmd_share || huge_page_size(vma) != PMD_SIZE(m))
		return false;
	if (vma->vm_flags & VM_UFFD_WP)   /* uffd_disable_huge_pmd_share() */
		return false;
	if (!(vma->vm_flags & VM_MAYSHARE) || !vma->hugetlb_vma_lock)
		return false;
	return range_in_vma(vma, base, base + PUD_SIZE(m));
}

bool hugetlb_vma_shareable(struct vm_area_struct *vma)
{
	return want_pmd_share(vma, vma->vm_start);
}

/* huge_pte_offset(): the entry for a huge page of size @sz, or NULL if the table is missing. */
static pgent_t *huge_pte_offset(struct mm_struct *mm, uint64_t addr, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	pgd_t *pgd = pgd_offset(mm, addr);

	if (pgd_none(mm, *pgd))
		return NULL;
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	if (p4d_none(mm, *p4d))
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
 * table serve @vma at @addr?  Return: that address, or 0.
 */
static uint64_t page_table_shareable(struct vm_area_struct *svma, struct vm_area_struct *vma, uint64_t addr,
				     uint64_t idx)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t saddr = ((idx - svma->vm_pgoff) << m->geo.page_shift) + svma->vm_start;
	uint64_t sbase = saddr & ~(PUD_SIZE(m) - 1);
	uint64_t s_end = sbase + PUD_SIZE(m);
	uint64_t ignore = VM_LOCKED | VM_LOCKONFAULT;

	if (pt_index(&m->geo, PT_PMD, addr) != pt_index(&m->geo, PT_PMD, saddr) ||
	    (vma->vm_flags & ~ignore) != (svma->vm_flags & ~ignore) || !range_in_vma(svma, sbase, s_end) ||
	    !svma->hugetlb_vma_lock)
		return 0;
	return saddr;
}

/*
 * huge_pmd_share - find a PMD table another VMA of the same file already has
 * for this PUD range and point our PUD at it; else allocate our own.
 */
static pgent_t *huge_pmd_share(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, pud_t *pud)
{
	struct ptsim_machine *m = mm->machine;
	struct sim_file *f = vma->vm_file;
	uint64_t idx = ((addr - vma->vm_start) >> m->geo.page_shift) + vma->vm_pgoff;
	pgent_t *spte = NULL;
	struct ptdesc *shared = NULL;

	/* i_mmap_lock_read(); vma_interval_tree_foreach(svma, &mapping->i_mmap, idx, idx) */
	for (unsigned int i = 0; i < f->nr_mmap; i++) {
		struct vm_area_struct *svma = f->i_mmap[i];
		uint64_t npages = (svma->vm_end - svma->vm_start) >> m->geo.page_shift;

		if (svma == vma || idx < svma->vm_pgoff || idx >= svma->vm_pgoff + npages)
			continue;
		uint64_t saddr = page_table_shareable(svma, vma, addr, idx);
		if (!saddr)
			continue;
		spte = huge_pte_offset(svma->vm_mm, saddr, huge_page_size(svma));
		if (spte) {
			shared = virt_to_ptdesc(m, spte);
			shared->pt_share_count++;   /* ptdesc_pmd_pts_inc() */
			break;
		}
	}
	if (shared) {
		/* spin_lock(&mm->page_table_lock) */
		if (pud_none(mm, *pud)) {
			pt_write(m, pud, PT_PUD, addr, mk_table_pgent(shared->pfn));   /* pud_populate() */
			mm_inc_nr_pmds(mm);
			STAT_INC(m, HUGETLB_SHARE);
		} else {
			shared->pt_share_count--;
		}
	}
	return pmd_alloc(mm, pud, addr);
}

/* huge_pte_alloc(): allocate down to the huge entry, sharing the PMD table if possible. */
static pgent_t *huge_pte_alloc(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d = p4d_alloc(mm, pgd, addr);

	if (!p4d)
		return NULL;
	pud_t *pud = pud_alloc(mm, p4d, addr);
	if (!pud)
		return NULL;
	if (sz == PUD_SIZE(m))
		return pud;
	if (want_pmd_share(vma, addr) && pud_none(mm, *pud))
		return huge_pmd_share(mm, vma, addr, pud);
	return pmd_alloc(mm, pud, addr);
}

/**
 * huge_pmd_unshare - if the PMD table holding @ptep is shared, detach it from
 * this mm.  Return: 1 if a shared table was unmapped (the caller skips the rest
 * of the PUD range), 0 if the caller must zap the entries itself.
 */
static int huge_pmd_unshare(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr, pgent_t *ptep)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	if (huge_page_size(vma) != PMD_SIZE(m))
		return 0;
	struct ptdesc *pt = virt_to_ptdesc(m, ptep);
	if (!pt || pt->level != PT_PMD || pt->pt_share_count == 0)
		return 0;

	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	pud_t *pud = pud_offset(mm, p4d, addr);
	pt_write(m, pud, PT_PUD, addr, 0);   /* pud_clear() */
	STAT_INC(m, HUGETLB_UNSHARE);

	switch (m->v.hugetlb_unshare) {
	case HUGETLB_UNSHARE_MMU_GATHER:
	case HUGETLB_UNSHARE_NO_BROADCAST:
		if (pt->pt_share_count == 1)
			STAT_INC(m, HUGETLB_FULL_UNSHARE);
		tlb_unshare_pmd_ptdesc(tlb, pt, addr);
		break;
	case HUGETLB_UNSHARE_IPI_PER_TABLE:
		/* Wait for GUP-fast of other sharers before the table can be reused. */
		tlb_remove_table_sync_one(m);
		/* fallthrough */
	default:
		if (pt->pt_share_count == 1)
			STAT_INC(m, HUGETLB_FULL_UNSHARE);
		pt->pt_share_count--;   /* ptdesc_pmd_pts_dec() */
		break;
	}
	mm_dec_nr_pmds(mm);
	return 1;
}

/* huge_pmd_unshare_flush(): complete the unsharing before i_mmap_rwsem drops. */
static void huge_pmd_unshare_flush(struct mmu_gather *tlb, struct vm_area_struct *vma)
{
	(void)vma;
	tlb_flush_unshared_tables(tlb);
}

static bool unshare_via_gather(const struct ptsim_machine *m)
{
	return m->v.hugetlb_unshare == HUGETLB_UNSHARE_MMU_GATHER ||
	       m->v.hugetlb_unshare == HUGETLB_UNSHARE_NO_BROADCAST;
}

/* ---- faults ---- */

static pgent_t make_huge_pte(struct vm_area_struct *vma, uint32_t pfn, bool writable)
{
	pgent_t e = mk_pgent(pfn, _PAGE_PRESENT | _PAGE_HUGE | _PAGE_ACCESSED | vma_prot_bits(vma));

	if (writable)
		e |= _PAGE_RW | _PAGE_DIRTY;
	return e;
}

static void hugetlb_count_add(struct mm_struct *mm, long pages)
{
	mm->hugetlb_usage += pages;
}

static uint64_t vma_hugecache_offset(struct vm_area_struct *vma, uint64_t addr)
{
	return linear_page_index(vma, addr);
}

/* hugetlb_no_page(): the first fault of a huge page in this mm. */
static unsigned int hugetlb_no_page(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t haddr,
				    pgent_t *ptep, unsigned int flags)
{
	struct ptsim_machine *m = mm->machine;
	bool write = flags & FAULT_FLAG_WRITE;
	bool shared = vma->vm_flags & VM_MAYSHARE;
	bool oom;
	uint32_t pfn;
	pgent_t e;

	if (!shared && write) {
		/* A private write: the page is this mm's own (anonymous) copy. */
		if (anon_vma_prepare(vma))
			return VM_FAULT_OOM;
		pfn = phys_alloc(m, FRAME_HUGETLB, vma->hpage_shift - m->geo.page_shift);
		if (!pfn)
			return VM_FAULT_OOM;
		frame(m, pfn)->flags |= FRAME_F_ANON_EXCL;
		frame(m, pfn)->mapcount = 1;
		e = make_huge_pte(vma, pfn, true);
	} else {
		pfn = filemap_get_page(m, vma->vm_file, vma_hugecache_offset(vma, haddr), &oom);
		if (oom)
			return VM_FAULT_OOM;
		get_page(m, pfn);
		frame(m, pfn)->mapcount++;
		e = make_huge_pte(vma, pfn, shared && (vma->vm_flags & VM_WRITE));
		if (!(shared && write))
			e &= ~_PAGE_DIRTY;
	}
	pt_write(m, ptep, huge_page_size(vma) == PUD_SIZE(m) ? PT_PUD : PT_PMD, haddr, e);   /* set_huge_pte_at() */
	hugetlb_count_add(mm, (long)pages_per_huge_page(vma));
	STAT_INC(m, FAULTS_HUGETLB);
	return 0;
}

/* hugetlb_wp(): write to a write-protected huge page of a private mapping: copy it. */
static unsigned int hugetlb_wp(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t haddr, pgent_t *ptep)
{
	struct ptsim_machine *m = mm->machine;
	pgent_t old = *ptep;
	uint32_t old_pfn = pgent_pfn(old);
	enum pt_level level = huge_page_size(vma) == PUD_SIZE(m) ? PT_PUD : PT_PMD;

	if (vma->vm_flags & VM_MAYSHARE) {
		pt_write(m, ptep, level, haddr, old | _PAGE_RW | _PAGE_DIRTY);
		return 0;
	}
	if ((frame(m, old_pfn)->flags & FRAME_F_ANON_EXCL) && frame(m, old_pfn)->mapcount == 1) {
		pt_write(m, ptep, level, haddr, old | _PAGE_RW | _PAGE_DIRTY);   /* reuse */
		STAT_INC(m, FAULTS_WP_REUSE);
		return 0;
	}
	if (anon_vma_prepare(vma))
		return VM_FAULT_OOM;
	uint32_t pfn = phys_alloc(m, FRAME_HUGETLB, vma->hpage_shift - m->geo.page_shift);
	if (!pfn)
		return VM_FAULT_OOM;
	frame(m, pfn)->flags |= FRAME_F_ANON_EXCL;
	frame(m, pfn)->mapcount = 1;
	/* huge_ptep_clear_flush(): clear, flush the huge page's range, then install. */
	pt_write(m, ptep, level, haddr, 0);
	flush_tlb_range(vma, haddr, haddr + huge_page_size(vma));
	pt_write(m, ptep, level, haddr, make_huge_pte(vma, pfn, true));
	frame(m, old_pfn)->mapcount--;
	put_page(m, old_pfn);
	STAT_INC(m, FAULTS_COW);
	return 0;
}

unsigned int hugetlb_fault(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t address, unsigned int flags)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t haddr = address & ~(sz - 1);
	pgent_t *ptep = huge_pte_alloc(mm, vma, haddr, sz);

	if (!ptep)
		return VM_FAULT_OOM;
	pgent_t e = *ptep;
	if (pgent_none(e))
		return hugetlb_no_page(mm, vma, haddr, ptep, flags);
	if (!pgent_present(e))
		return VM_FAULT_SIGBUS;
	if ((flags & FAULT_FLAG_WRITE) && !(e & _PAGE_RW))
		return hugetlb_wp(mm, vma, haddr, ptep);
	pt_write(m, ptep, sz == PUD_SIZE(m) ? PT_PUD : PT_PMD, haddr,
		 e | _PAGE_ACCESSED | ((flags & FAULT_FLAG_WRITE) ? _PAGE_DIRTY : 0));
	return 0;
}

/* ---- zap ---- */

/**
 * __unmap_hugepage_range - zap the huge pages of [@start, @end) in @vma.
 * Shared PMD tables are unshared instead (the rest of their PUD range is
 * skipped); unsharing is completed before returning (the caller still holds
 * i_mmap_rwsem in the kernel).
 */
void __unmap_hugepage_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
			    uint32_t folio, unsigned int zap_flags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	enum pt_level level = sz == PUD_SIZE(m) ? PT_PUD : PT_PMD;
	bool force_flush = false;

	(void)zap_flags;
	tlb_start_vma(tlb, vma);
	for (uint64_t address = start; address < end; address += sz) {
		pgent_t *ptep = huge_pte_offset(mm, address, sz);
		if (!ptep) {
			address |= last_addr_mask;
			continue;
		}
		if (huge_pmd_unshare(tlb, vma, address, ptep)) {
			if (!unshare_via_gather(m)) {
				/* Before 8ce720d5bd91 the caller recorded the flush itself. */
				tlb_flush_pmd_range(tlb, address & ~(PUD_SIZE(m) - 1), PUD_SIZE(m));
				force_flush = true;
			}
			address |= last_addr_mask;
			continue;
		}
		pgent_t pte = *ptep;
		if (pgent_none(pte))
			continue;
		if (!pgent_present(pte)) {
			/* Migration/hwpoison entries and markers: just clear. */
			pt_write(m, ptep, level, address, 0);
			continue;
		}
		uint32_t pfn = pgent_pfn(pte);
		if (folio && pfn != folio)
			continue;
		pt_write(m, ptep, level, address, 0);   /* huge_ptep_get_and_clear() */
		tlb_remove_huge_tlb_entry(tlb, sz, address);
		if (pte & _PAGE_DIRTY)
			frame(m, pfn)->flags |= FRAME_F_DIRTY;
		mm->hugetlb_usage -= (long)pages_per_huge_page(vma);   /* hugetlb_count_sub() */
		frame(m, pfn)->mapcount--;                              /* hugetlb_remove_rmap() */
		tlb_remove_page_size(tlb, pfn, sz);
		if (folio)
			break;
	}
	tlb_end_vma(tlb, vma);
	if (unshare_via_gather(m))
		huge_pmd_unshare_flush(tlb, vma);
	else if (force_flush)
		tlb_flush_mmu_tlbonly(tlb);
}

/* hugetlb_zap_begin(): widen to the PUD range where sharing is possible (notifier range only). */
void hugetlb_zap_begin(struct vm_area_struct *vma, uint64_t *start, uint64_t *end)
{
	(void)vma;
	(void)start;
	(void)end;
}

/* hugetlb_zap_end(): on the final unmap the VMA lock goes: the VMA can no longer share. */
void hugetlb_zap_end(struct vm_area_struct *vma, struct zap_details *details)
{
	if (is_vm_hugetlb_page(vma) && details && (details->zap_flags & ZAP_FLAG_UNMAP))
		vma->hugetlb_vma_lock = false;
}

/* ---- fork ---- */

/**
 * copy_hugetlb_page_range - fork of a hugetlb VMA that needs copying (a private
 * mapping with anonymous huge pages).  A destination table that is shared
 * already shows the entries: skip its PUD range.
 */
int copy_hugetlb_page_range(struct mm_struct *dst, struct mm_struct *src, struct vm_area_struct *dst_vma,
			    struct vm_area_struct *src_vma)
{
	struct ptsim_machine *m = src->machine;
	uint64_t sz = huge_page_size(src_vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(src_vma);
	enum pt_level level = sz == PUD_SIZE(m) ? PT_PUD : PT_PMD;
	bool cow = is_cow_mapping(src_vma->vm_flags);

	if (cow)
		src->write_protect_seq++;
	for (uint64_t addr = src_vma->vm_start; addr < src_vma->vm_end; addr += sz) {
		pgent_t *src_pte = huge_pte_offset(src, addr, sz);
		if (!src_pte) {
			addr |= last_addr_mask;
			continue;
		}
		pgent_t *dst_pte = huge_pte_alloc(dst, dst_vma, addr, sz);
		if (!dst_pte)
			return -ENOMEM;
		struct ptdesc *dpt = virt_to_ptdesc(m, dst_pte);
		if (level == PT_PMD && dpt && dpt->pt_share_count) {
			addr |= last_addr_mask;
			continue;
		}
		pgent_t e = *src_pte;
		if (pgent_none(e))
			continue;
		if (pgent_present(e)) {
			uint32_t pfn = pgent_pfn(e);
			get_page(m, pfn);
			frame(m, pfn)->mapcount++;
			frame(m, pfn)->flags &= (uint16_t)~FRAME_F_ANON_EXCL;
			if (cow && (e & _PAGE_RW)) {
				pt_write(m, src_pte, level, addr, e & ~_PAGE_RW);
				e &= ~_PAGE_RW;
			}
			dst->hugetlb_usage += (long)pages_per_huge_page(src_vma);
		}
		pt_write(m, dst_pte, level, addr, e);
	}
	if (cow)
		src->write_protect_seq++;
	return 0;
}

/* ---- callers that unshare without unmapping ---- */

/**
 * hugetlb_unshare_pmds - unshare every shared PMD table in [@start, @end)
 * (PUD-aligned steps) of a VM_MAYSHARE VMA, with its own gather.
 */
static void hugetlb_unshare_pmds(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	struct mmu_gather tlb;
	bool flush = false;

	if (!(vma->vm_flags & VM_MAYSHARE) || start >= end)
		return;
	tlb_gather_mmu_vma(&tlb, vma);
	for (uint64_t address = start; address < end; address += PUD_SIZE(m)) {
		pgent_t *ptep = huge_pte_offset(mm, address, huge_page_size(vma));
		if (!ptep)
			continue;
		if (huge_pmd_unshare(&tlb, vma, address, ptep))
			flush = true;
	}
	if (unshare_via_gather(m)) {
		huge_pmd_unshare_flush(&tlb, vma);
	} else if (flush) {
		/* flush_hugetlb_tlb_range() over the PUD-widened range. */
		flush_tlb_range(vma, start, end);
	}
	tlb_finish_mmu(&tlb);
}

/**
 * hugetlb_split - before a VMA split at an address that is not PUD-aligned,
 * unshare the PUD range around it (it can no longer be shared whole).
 */
void hugetlb_split(struct vm_area_struct *vma, uint64_t addr)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t floor = addr & ~(PUD_SIZE(m) - 1);
	uint64_t ceil = floor + PUD_SIZE(m);

	if (!(addr & (PUD_SIZE(m) - 1)))
		return;
	if (floor >= vma->vm_start && ceil <= vma->vm_end)
		hugetlb_unshare_pmds(vma, floor, ceil);
}

/**
 * hugetlb_change_protection - mprotect of a hugetlb range: shared PMD tables
 * are unshared (counted as changed), other entries get the new permissions.
 * Return: number of huge pages changed.
 */
long hugetlb_change_protection(struct vm_area_struct *vma, uint64_t address, uint64_t end, uint64_t newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	enum pt_level level = sz == PUD_SIZE(m) ? PT_PUD : PT_PMD;
	uint64_t start = address;
	struct mmu_gather tlb;
	long pages = 0;
	bool shared_pmd = false;

	tlb_gather_mmu_vma(&tlb, vma);
	for (; address < end; address += sz) {
		pgent_t *ptep = huge_pte_offset(mm, address, sz);
		if (!ptep) {
			address |= last_addr_mask;
			continue;
		}
		if (huge_pmd_unshare(&tlb, vma, address, ptep)) {
			pages++;
			shared_pmd = true;
			address |= last_addr_mask;
			continue;
		}
		pgent_t e = *ptep;
		if (!pgent_present(e))
			continue;
		pgent_t n = e & ~(_PAGE_RW | _PAGE_NX | _PAGE_PROTNONE);
		if ((newflags & VM_WRITE) && (vma->vm_flags & VM_SHARED))
			n |= _PAGE_RW;
		if (!(newflags & VM_EXEC))
			n |= _PAGE_NX;
		if (!(newflags & (VM_READ | VM_WRITE | VM_EXEC)))
			n |= _PAGE_PROTNONE;
		if (n == e)
			continue;
		pt_write(m, ptep, level, address, n);
		tlb_remove_huge_tlb_entry(&tlb, sz, address);
		pages++;
	}
	if (unshare_via_gather(m)) {
		tlb_flush_mmu_tlbonly(&tlb);
		huge_pmd_unshare_flush(&tlb, vma);
	} else if (shared_pmd || pages) {
		/* flush_hugetlb_tlb_range(), PUD-widened when tables were unshared. */
		uint64_t fs = start, fe = end;
		if (shared_pmd) {
			fs &= ~(PUD_SIZE(m) - 1);
			fe = (fe + PUD_SIZE(m) - 1) & ~(PUD_SIZE(m) - 1);
		}
		__tlb_reset_range(&tlb);
		flush_tlb_range(vma, fs, fe);
	}
	tlb_finish_mmu(&tlb);
	return pages;
}

/**
 * move_hugetlb_page_tables - mremap of a hugetlb range: unshare shared PMD
 * tables, move the other entries.  Return: bytes moved.
 */
int move_hugetlb_page_tables(struct vm_area_struct *vma, struct vm_area_struct *new_vma, uint64_t old_addr,
			     uint64_t new_addr, uint64_t len)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t sz = huge_page_size(vma);
	uint64_t last_addr_mask = hugetlb_mask_last_page(vma);
	enum pt_level level = sz == PUD_SIZE(m) ? PT_PUD : PT_PMD;
	uint64_t old_end = old_addr + len;
	struct mmu_gather tlb;
	bool shared_pmd = false;

	tlb_gather_mmu_vma(&tlb, vma);
	for (; old_addr < old_end; old_addr += sz, new_addr += sz) {
		pgent_t *src_pte = huge_pte_offset(mm, old_addr, sz);
		if (!src_pte) {
			old_addr |= last_addr_mask;
			new_addr |= last_addr_mask;
			continue;
		}
		if (pgent_none(*src_pte))
			continue;
		if (huge_pmd_unshare(&tlb, vma, old_addr, src_pte)) {
			shared_pmd = true;
			old_addr |= last_addr_mask;
			new_addr |= last_addr_mask;
			continue;
		}
		pgent_t *dst_pte = huge_pte_alloc(mm, new_vma, new_addr, sz);
		if (!dst_pte)
			break;
		pgent_t e = *src_pte;
		pt_write(m, src_pte, level, old_addr, 0);
		tlb_remove_huge_tlb_entry(&tlb, sz, old_addr);
		pt_write(m, dst_pte, level, new_addr, e);
	}
	if (unshare_via_gather(m)) {
		tlb_flush_mmu_tlbonly(&tlb);
		huge_pmd_unshare_flush(&tlb, vma);
	} else {
		uint64_t start = old_end - len;
		if (shared_pmd) {
			start &= ~(PUD_SIZE(m) - 1);
			old_end = (old_end + PUD_SIZE(m) - 1) & ~(PUD_SIZE(m) - 1);
		}
		__tlb_reset_range(&tlb);
		flush_tlb_range(vma, start, old_end);
	}
	tlb_finish_mmu(&tlb);
	return 0;
}
