/*
 * arm64 hugetlb entries: port of arch/arm64/mm/hugetlbpage.c (2026).
 *
 * Support matrix (the kernel's own, kernel-model 1.2):
 *
 *   granule  CONT PTE         PMD      CONT PMD        PUD
 *   4 KiB    64 KiB (16)      2 MiB    32 MiB (16)     1 GiB
 *   16 KiB   2 MiB (128)      32 MiB   1 GiB (32)      -
 *   64 KiB   2 MiB (32)       512 MiB  16 GiB (32)     -
 *
 * A contiguous huge page is CONT_PTES entries in a PTE table (or CONT_PMDS
 * PMD entries), each with the contiguous bit, so that a CPU may cache the
 * range as one TLB entry.  Changing such a range follows break-before-make for
 * the whole group ("Misprogramming of the Contiguous bit"): clear every entry,
 * flush them (get_clear_contig_flush() / clear_flush()), then write the new
 * ones.  In ptsim every entry of the range holds the folio's head frame: the
 * simulated encoding names folios, not byte addresses.
 *
 * Only the contiguous sizes come here for huge_pte_alloc()/huge_pte_offset()
 * (the generic code handles PMD and PUD blocks, PMD sharing included); the
 * entry accessors handle every size (one entry for PMD/PUD blocks).
 */
#include "arch/arm64/arm64.h"

/* num_contig_ptes(): entries per huge page of @size, their size and level. */
static unsigned int num_contig_ptes(const struct ptsim_machine *m, uint64_t size, uint64_t *pgsize,
				    enum pt_level *level)
{
	const struct pt_geometry *g = &m->geo;

	if (g->cont_pmd_size && size == g->cont_pmd_size) {
		*pgsize = PMD_SIZE(m);
		*level = PT_PMD;
		return (unsigned int)(size / PMD_SIZE(m));
	}
	if (g->cont_pte_size && size == g->cont_pte_size) {
		*pgsize = PAGE_SIZE(m);
		*level = PT_PTE;
		return (unsigned int)(size / PAGE_SIZE(m));
	}
	*pgsize = size;
	*level = size == PUD_SIZE(m) ? PT_PUD : PT_PMD;
	return 1;
}

bool arm64_hugetlb_valid_size(const struct ptsim_machine *m, uint64_t size)
{
	const struct pt_geometry *g = &m->geo;

	if (!size)
		return false;
	/* PUD_SIZE only where pud_sect_supported() (4 KiB pages). */
	return size == g->pmd_leaf_size || size == g->pud_leaf_size || size == g->cont_pte_size ||
	       size == g->cont_pmd_size;
}

/* arch_make_huge_pte(): the contiguous bit; PTE-level ranges are pages, not blocks. */
pgent_t arm64_make_huge_pte(const struct ptsim_machine *m, pgent_t entry, uint64_t sz)
{
	if (m->geo.cont_pmd_size && sz == m->geo.cont_pmd_size)
		return entry | _PAGE_CONT;
	if (m->geo.cont_pte_size && sz == m->geo.cont_pte_size)
		return (entry & ~_PAGE_HUGE) | _PAGE_CONT;
	return entry;
}

/* huge_pte_alloc() for CONT_PTE_SIZE (a PTE table, counted) and CONT_PMD_SIZE. */
pgent_t *arm64_huge_pte_alloc(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	pgd_t *pgdp = pgd_offset(mm, addr);
	p4d_t *p4dp;
	pud_t *pudp;
	pmd_t *pmdp;

	(void)vma;
	p4dp = p4d_alloc(mm, pgdp, addr);
	if (!p4dp)
		return NULL;
	pudp = pud_alloc(mm, p4dp, addr);
	if (!pudp)
		return NULL;
	pmdp = pmd_alloc(mm, pudp, addr);
	if (!pmdp)
		return NULL;
	if (sz == m->geo.cont_pte_size) {
		NEVER(m, addr & (sz - 1));
		if (pte_alloc(mm, pmdp, addr))   /* pte_alloc_huge() */
			return NULL;
		return pte_offset_map(mm, pmdp, addr);
	}
	NEVER(m, sz != m->geo.cont_pmd_size || (addr & (sz - 1)));
	return pmdp;
}

/* huge_pte_offset() for the contiguous sizes: the first entry of the range, or NULL. */
pgent_t *arm64_huge_pte_offset(struct mm_struct *mm, uint64_t addr, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	pud_t *pudp = pud_lookup(mm, addr);
	pmd_t *pmdp;

	if (!pudp)
		return NULL;
	if (!m->geo.folded[PT_PMD] && (pgent_huge(*pudp) || !pgent_present(*pudp)))
		return pudp;
	if (sz == m->geo.cont_pmd_size)
		addr &= ~(sz - 1);   /* CONT_PMD_MASK */
	pmdp = pmd_offset(mm, pudp, addr);
	if (sz != m->geo.cont_pmd_size && pmd_none(mm, *pmdp))
		return NULL;
	if (pgent_huge(*pmdp) || !pgent_present(*pmdp) || sz == m->geo.cont_pmd_size)
		return pmdp;
	return pte_offset_map(mm, pmdp, addr & ~(sz - 1));   /* pte_offset_huge(pmdp, addr & CONT_PTE_MASK) */
}

/*
 * get_clear_contig - the break step: clear every entry of the range, keeping
 * the dirty and young bits the hardware set on any of them.
 */
static pgent_t get_clear_contig(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t pgsize,
				unsigned int ncontig, enum pt_level level)
{
	struct ptsim_machine *m = mm->machine;
	pgent_t pte = *ptep;
	bool present = pgent_present(pte);

	pt_write(m, ptep, level, addr, 0);
	while (--ncontig) {
		ptep++;
		addr += pgsize;
		pgent_t tmp = *ptep;
		pt_write(m, ptep, level, addr, 0);
		if (present)
			pte |= tmp & (_PAGE_DIRTY | _PAGE_ACCESSED);
	}
	return pte;
}

/* __flush_hugetlb_tlb_range() on an mm (TLB_FLUSH_VMA). */
static void flush_contig(struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t pgsize)
{
	struct vm_area_struct vma = { .vm_mm = mm };

	__flush_hugetlb_tlb_range(&vma, start, end, pgsize, true);
}

static pgent_t get_clear_contig_flush(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t pgsize,
				      unsigned int ncontig, enum pt_level level)
{
	pgent_t orig = get_clear_contig(mm, addr, ptep, pgsize, ncontig, level);

	flush_contig(mm, addr, addr + pgsize * ncontig, pgsize);
	return orig;
}

/* clear_flush(): the break step when the old value is not needed. */
static void clear_flush(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t pgsize, unsigned int ncontig,
			enum pt_level level)
{
	(void)get_clear_contig(mm, addr, ptep, pgsize, ncontig, level);
	flush_contig(mm, addr, addr + pgsize * ncontig, pgsize);
}

/* Write @pte to the @ncontig entries of a range (each names the same folio). */
static void set_contig(struct ptsim_machine *m, uint64_t addr, pgent_t *ptep, pgent_t pte, uint64_t pgsize,
		       unsigned int ncontig, enum pt_level level)
{
	for (unsigned int i = 0; i < ncontig; i++, ptep++, addr += pgsize)
		pt_write(m, ptep, level, addr, pte);
}

/* set_huge_pte_at(): a valid -> valid change of a contiguous range breaks it first. */
void arm64_set_huge_pte_at(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, pgent_t pte, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	enum pt_level level;
	uint64_t pgsize;
	unsigned int ncontig = num_contig_ptes(m, sz, &pgsize, &level);

	if (!pgent_present(pte)) {
		set_contig(m, addr, ptep, pte, pgsize, ncontig, level);
		return;
	}
	if (!(pte & _PAGE_CONT)) {
		pt_write(m, ptep, level, addr, pte);
		return;
	}
	/* Only need to break if transitioning valid -> valid. */
	if (pgent_hw_present(*ptep))
		clear_flush(mm, addr, ptep, pgsize, ncontig, level);
	set_contig(m, addr, ptep, pte, pgsize, ncontig, level);
}

pgent_t arm64_huge_ptep_get_and_clear(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz)
{
	enum pt_level level;
	uint64_t pgsize;
	unsigned int ncontig = num_contig_ptes(mm->machine, sz, &pgsize, &level);

	return get_clear_contig(mm, addr, ptep, pgsize, ncontig, level);
}

/* huge_ptep_clear_flush(): a block is ptep_clear_flush(); a range, the whole group. */
pgent_t arm64_huge_ptep_clear_flush(struct vm_area_struct *vma, uint64_t addr, pgent_t *ptep)
{
	struct mm_struct *mm = vma->vm_mm;
	enum pt_level level;
	uint64_t pgsize;
	unsigned int ncontig = num_contig_ptes(mm->machine, huge_page_size(vma), &pgsize, &level);
	pgent_t pte = *ptep;

	if (!(pte & _PAGE_CONT) || !pgent_present(pte)) {
		/* ptep_clear_flush(): clear, flush_tlb_page() if it was accessible. */
		pt_write(mm->machine, ptep, level, addr, 0);
		if (pgent_present(pte))
			flush_tlb_page(vma, addr);
		return pte;
	}
	return get_clear_contig_flush(mm, addr, ptep, pgsize, ncontig, level);
}

/* huge_ptep_set_wrprotect(): a range is broken, flushed and rewritten read-only. */
void arm64_huge_ptep_set_wrprotect(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz)
{
	struct ptsim_machine *m = mm->machine;
	enum pt_level level;
	uint64_t pgsize;
	unsigned int ncontig = num_contig_ptes(m, sz, &pgsize, &level);
	pgent_t pte = *ptep;

	if (!(pte & _PAGE_CONT)) {
		pt_write(m, ptep, level, addr, pte & ~_PAGE_RW);   /* __ptep_set_wrprotect() */
		return;
	}
	pte = get_clear_contig_flush(mm, addr, ptep, pgsize, ncontig, level) & ~_PAGE_RW;
	set_contig(m, addr, ptep, pte, pgsize, ncontig, level);
}
