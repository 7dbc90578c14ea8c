/*
 * mprotect: port of mm/mprotect.c at v6.18 (do_mprotect_pkey(),
 * mprotect_fixup(), change_protection() -> change_pte_range()).
 *
 * One non-fullmm gather for the whole call.  A present PTE whose new value
 * needs a flush (the arch's pte_needs_flush(); generic: every change) records
 * tlb_flush_pte_range().
 * Nothing recorded, nothing flushed.  Writable upgrade only where the kernel
 * allows it without a fault (exclusive anonymous pages; dirty shared pages).
 */
#include "mm/internal.h"

#include "arch/arch.h"
#include "mm/mmu_gather.h"

static pte_t change_pte(struct ptsim_machine *m, struct vm_area_struct *vma, pte_t pte, uint64_t newflags)
{
	pte_t n = pte & ~(_PAGE_RW | _PAGE_NX | _PAGE_PROTNONE);
	uint32_t pfn = pgent_pfn(pte);

	if (!(newflags & VM_EXEC))
		n |= _PAGE_NX;
	if (!(newflags & (VM_READ | VM_WRITE | VM_EXEC)))
		n |= _PAGE_PROTNONE;
	if (newflags & VM_WRITE) {
		bool keep = pte & _PAGE_RW;
		bool upgrade = false;
		if (!(pte & _PAGE_SPECIAL)) {
			if (newflags & VM_SHARED)
				upgrade = pte & _PAGE_DIRTY;   /* can_change_pte_writable(): dirty shared */
			else
				upgrade = frame(m, pfn)->kind == FRAME_ANON && (frame(m, pfn)->flags & FRAME_F_ANON_EXCL);
		}
		if (keep || upgrade)
			n |= _PAGE_RW;
	}
	return n;
}

static long change_pte_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pmd_t *pmd, uint64_t addr,
			     uint64_t end, uint64_t newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	long pages = 0;

	flush_tlb_batched_pending(mm);
	for (pte_t *pte = pte_offset_map(mm, pmd, addr); addr != end; pte++, addr += PAGE_SIZE(m)) {
		pte_t old = *pte;
		if (!pgent_present(old))
			continue;
		pte_t n = change_pte(m, vma, old, newflags);
		if (n == old)
			continue;
		pt_write(m, pte, PT_PTE, addr, n);
		if (arch_pte_needs_flush(m, old, n))
			tlb_flush_pte_range(tlb, addr, PAGE_SIZE(m));
		pages++;
	}
	return pages;
}

/* change_protection(): the page-table walk of change_{p4d,pud,pmd}_range(). */
static long change_protection(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
			      uint64_t newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	long pages = 0;

	if (is_vm_hugetlb_page(vma))
		return hugetlb_change_protection(vma, start, end, newflags);
	for (uint64_t addr = start; addr < end;) {
		uint64_t next = pte_table_end(m, addr, end);
		pmd_t *pmd = mm_find_pmd(mm, addr);
		if (pmd && !pmd_none(mm, *pmd))
			pages += change_pte_range(tlb, vma, pmd, addr, next, newflags);
		addr = next;
	}
	return pages;
}

static uint64_t prot_to_vm_flags(unsigned int prot)
{
	return ((prot & PTSIM_PROT_READ) ? VM_READ : 0) | ((prot & PTSIM_PROT_WRITE) ? VM_WRITE : 0) |
	       ((prot & PTSIM_PROT_EXEC) ? VM_EXEC : 0);
}

/*
 * mprotect_fixup(): split the VMA to the range, change the flags and the
 * entries, merge with the neighbours when they match again.
 */
static int mprotect_fixup(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
			  uint64_t newflags)
{
	struct mm_struct *mm = vma->vm_mm;
	int err;

	if (newflags == vma->vm_flags)
		return 0;
	if (start > vma->vm_start) {
		err = __split_vma(mm, vma, start, 1);
		if (err)
			return err;
	}
	if (end < vma->vm_end) {
		err = __split_vma(mm, vma, end, 0);
		if (err)
			return err;
	}
	vma->vm_flags = newflags;
	change_protection(tlb, vma, start, end, newflags);
	vma_merge_around(mm, vma);
	return 0;
}

/**
 * do_mprotect_pkey - change the protection of [start, start+len).
 * Return: 0, -ENOMEM if part of the range is not mapped (the syscall's answer;
 * the VMAs before the hole were already changed, as in the kernel).
 */
int do_mprotect_pkey(struct mm_struct *mm, uint64_t start, uint64_t len, unsigned int prot)
{
	uint64_t end = start + len;
	uint64_t bits = prot_to_vm_flags(prot);
	struct mmu_gather tlb;
	int err = 0;

	tlb_gather_mmu(&tlb, mm);
	uint64_t nstart = start;
	struct vm_area_struct *vma = find_vma(mm, start);
	if (!vma || vma->vm_start > start) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		uint64_t tmp = vma->vm_end < end ? vma->vm_end : end;
		uint64_t newflags = (vma->vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | bits;
		if ((newflags & VM_WRITE) && !(newflags & VM_MAYWRITE)) {
			err = -EACCES;
			break;
		}
		/* vm_ops->mprotect(): an mshare VMA refuses it in the later postings (mshare.c). */
		if (PTSIM_UNLIKELY(vma->vm_flags & VM_SHARED_PT) &&
		    (err = mshare_vm_op_mprotect(vma, nstart, tmp, newflags)))
			break;
		err = mprotect_fixup(&tlb, vma, nstart, tmp, newflags);
		if (err)
			break;
		/* vma_iter_end(): the fixed-up VMA may have merged with the next one. */
		nstart = vma_lookup(mm, tmp - 1)->vm_end;
		if (nstart >= end)
			break;
		vma = find_vma(mm, nstart);
		if (!vma || vma->vm_start != nstart) {
			err = -ENOMEM;
			break;
		}
	}
out:
	tlb_finish_mmu(&tlb);
	return err;
}
