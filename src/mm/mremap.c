/*
 * mremap(old_addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, new_addr): move
 * a range of one VMA to a free destination, keeping its length.
 *
 * Models mm/mremap.c of the v6.16 - v6.19 era (struct vma_remap_struct,
 * struct pagetable_move_control): do_mremap() -> mremap_to() -> move_vma()
 * -> copy_vma_and_data() (copy_vma(), move_page_tables()) ->
 * unmap_source_vma() (do_munmap() of the old range).
 *
 * move_page_tables() on x86-64 (HAVE_MOVE_PUD, HAVE_MOVE_PMD), per extent:
 *   - a PUD_SIZE extent moves the PUD entry (the whole PMD table) when the
 *     destination entry is empty: move_normal_pud(), then
 *     flush_tlb_range(old, old + PUD_SIZE);
 *   - a PMD_SIZE extent moves the PMD entry (the whole PTE table):
 *     move_normal_pmd(), then flush_tlb_range(old, old + PMD_SIZE);
 *   - otherwise move_ptes() moves each PTE and, if one was present, flushes
 *     the extent's old range once (flush_tlb_range()) before the PT lock
 *     drops.
 * On x86 flush_tlb_range() passes freed_tables (3ef938c35035), so each of
 * these flushes reaches every CPU in mm_cpumask, lazy ones included.  The
 * source and destination addresses are first realigned down to a PMD
 * boundary when both are equally misaligned and nothing is mapped below
 * (try_realign_addr()), so that whole PTE tables can move.
 * hugetlb VMAs go to move_hugetlb_page_tables() (hugetlb.c): shared PMD
 * tables are unshared there, with the unshare flush of the variant.
 *
 * do_mremap() also shrinks in place, grows in place when the gap above
 * allows (vma_expandable()), moves where get_unmapped_area() puts the new
 * length (MREMAP_MAYMOVE without MREMAP_FIXED), unmaps a MREMAP_FIXED
 * destination first, and keeps the source VMA for MREMAP_DONTUNMAP.
 *
 * What is left out: VMA merging at the destination (the moved range is
 * always a VMA of its own), anonymous THP (there is none), uffd, KSM, mlock
 * accounting and populate, mmu notifiers.
 */
#include "mm/internal.h"

#include "arch/arch.h"

static uint64_t mask_of(uint64_t size)
{
	return ~(size - 1);
}

/* get_old_pud() / get_old_pmd(): the source entries, or NULL where a table is missing. */
static pud_t *get_old_pud(struct mm_struct *mm, uint64_t addr)
{
	return pud_lookup(mm, addr);
}

static pmd_t *get_old_pmd(struct mm_struct *mm, uint64_t addr)
{
	pud_t *pud = get_old_pud(mm, addr);

	if (!pud)
		return NULL;
	pmd_t *pmd = pmd_offset(mm, pud, addr);
	if (pmd_none(mm, *pmd))
		return NULL;
	return pmd;
}

/*
 * ptsim: a table that moved maps other addresses now; keep the first address
 * its descriptor records (messages, the arm64 checks) right, below it too.
 */
static void table_moved(struct ptsim_machine *m, uint32_t pfn, uint64_t new_base)
{
	struct ptdesc *pt = pt_desc(m, pfn);
	uint64_t delta = new_base - pt->addr;
	const pgent_t *e = pt_entries(m, pfn);

	pt->addr = new_base;
	if (pt->level != PT_PMD)
		return;
	for (unsigned int i = 0; i < m->geo.ptrs[PT_PMD]; i++)
		if (pgent_present(e[i]) && !pgent_huge(e[i]))
			pt_desc(m, pgent_pfn(e[i]))->addr += delta;
}

/*
 * move_ptes(): move the PTEs of [@old_addr, @old_end) one by one; if any was
 * present, flush the old range before the PT lock drops (the page must stay
 * valid until no TLB maps it at the old address).
 */
static void move_ptes(struct pagetable_move_control *pmc, pmd_t *old_pmd, uint64_t old_addr, uint64_t old_end,
		      pmd_t *new_pmd, uint64_t new_addr)
{
	struct vm_area_struct *vma = pmc->old;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t len = old_end - old_addr;
	bool force_flush = false;
	pte_t *old_pte = pte_offset_map(mm, old_pmd, old_addr);
	pte_t *new_pte = pte_offset_map(mm, new_pmd, new_addr);

	flush_tlb_batched_pending(mm);

	for (; old_addr < old_end; old_pte++, old_addr += PAGE_SIZE(m), new_pte++, new_addr += PAGE_SIZE(m)) {
		pte_t pte = *old_pte;

		if (pgent_none(pte))
			continue;
		pt_write(m, old_pte, PT_PTE, old_addr, 0);   /* ptep_get_and_clear() */
		if (pgent_present(pte))
			force_flush = true;
		pt_write(m, new_pte, PT_PTE, new_addr, pte);   /* set_pte_at() */
	}
	if (force_flush)
		flush_tlb_range(vma, old_end - len, old_end);
}

/*
 * move_normal_pmd(): move a whole PTE table by moving the PMD entry.  The
 * destination entry must be empty (free_pgtables() released it).
 */
static bool move_normal_pmd(struct vm_area_struct *vma, uint64_t old_addr, uint64_t new_addr, pmd_t *old_pmd,
			    pmd_t *new_pmd)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pmd_t pmd = *old_pmd;

	if (!pmd_none(mm, *new_pmd))
		return false;
	/* Racing with collapse? (a leaf or a non-present entry is not a table) */
	if (!pgent_present(pmd) || pgent_huge(pmd))
		return false;
	pt_write(m, old_pmd, PT_PMD, old_addr, 0);       /* pmd_clear() */
	pt_write(m, new_pmd, PT_PMD, new_addr, pmd);     /* pmd_populate() */
	table_moved(m, pgent_pfn(pmd), new_addr & mask_of(PMD_SIZE(m)));
	flush_tlb_range(vma, old_addr, old_addr + PMD_SIZE(m));
	return true;
}

/* move_normal_pud(): move a whole PMD table by moving the PUD entry. */
static bool move_normal_pud(struct vm_area_struct *vma, uint64_t old_addr, uint64_t new_addr, pud_t *old_pud,
			    pud_t *new_pud)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pud_t pud = *old_pud;

	if (!pud_none(mm, *new_pud))
		return false;
	pt_write(m, old_pud, PT_PUD, old_addr, 0);       /* pud_clear() */
	pt_write(m, new_pud, PT_PUD, new_addr, pud);     /* pud_populate() */
	table_moved(m, pgent_pfn(pud), new_addr & mask_of(PUD_SIZE(m)));
	flush_tlb_range(vma, old_addr, old_addr + PUD_SIZE(m));
	return true;
}

/*
 * get_extent(): the extent up to the next boundary of @size on both sides,
 * bounded by the end of the source.
 */
static uint64_t get_extent(uint64_t size, uint64_t old_addr, uint64_t old_end, uint64_t new_addr)
{
	uint64_t next = (old_addr + size) & mask_of(size);
	uint64_t extent = next - old_addr;   /* fine even if next overflowed */

	if (extent > old_end - old_addr)
		extent = old_end - old_addr;
	next = (new_addr + size) & mask_of(size);
	if (extent > next - new_addr)
		extent = next - new_addr;
	return extent;
}

/*
 * can_align_down(): aligning @addr down to @mask must not reach into another
 * mapping; exec's stack move may align down inside its own (spanning) VMA.
 */
static bool can_align_down(struct pagetable_move_control *pmc, struct vm_area_struct *vma, uint64_t addr_to_align,
			   uint64_t mask)
{
	uint64_t addr_masked = addr_to_align & mask;

	if (!pmc->for_stack && vma->vm_start != addr_to_align)
		return false;
	if (pmc->for_stack && addr_masked >= vma->vm_start)
		return true;
	return find_vma_intersection(vma->vm_mm, addr_masked, vma->vm_start) == NULL;
}

/* can_realign_addr() + try_realign_addr(): move whole tables when both sides are equally misaligned. */
static void try_realign_addr(struct pagetable_move_control *pmc, uint64_t pagetable_mask)
{
	uint64_t align_mask = ~pagetable_mask;
	uint64_t old_align = pmc->old_addr & align_mask;
	uint64_t new_align = pmc->new_addr & align_mask;
	uint64_t old_align_next = align_mask + 1 - old_align;

	if (pmc->len_in < old_align_next || old_align == 0 || old_align != new_align)
		return;
	if (!can_align_down(pmc, pmc->old, pmc->old_addr, pagetable_mask) ||
	    !can_align_down(pmc, pmc->new, pmc->new_addr, pagetable_mask))
		return;
	pmc->old_addr &= pagetable_mask;
	pmc->new_addr &= pagetable_mask;
}

/**
 * move_page_tables - move the entries of [pmc->old_addr, pmc->old_end) to
 * pmc->new_addr, a whole table at a time where the extent allows.
 * Return: bytes moved, counted from the requested start (less than
 * pmc->len_in if a table allocation failed).
 */
uint64_t move_page_tables(struct pagetable_move_control *pmc)
{
	struct vm_area_struct *vma = pmc->old;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t extent, old_addr, new_addr, old_end;

	if (!pmc->len_in)
		return 0;
	if (is_vm_hugetlb_page(vma))
		return move_hugetlb_page_tables(pmc->old, pmc->new, pmc->old_addr, pmc->new_addr, pmc->len_in);

	try_realign_addr(pmc, mask_of(PMD_SIZE(m)));
	old_addr = pmc->old_addr;
	new_addr = pmc->new_addr;
	old_end = pmc->old_end;

	for (; old_addr < old_end; old_addr += extent, new_addr += extent) {
		extent = get_extent(PUD_SIZE(m), old_addr, old_end, new_addr);
		pud_t *old_pud = get_old_pud(mm, old_addr);
		if (!old_pud)
			continue;
		pud_t *new_pud = alloc_new_pud(mm, new_addr);
		if (!new_pud)
			break;
		if (!m->geo.folded[PT_PMD] && !m->geo.folded[PT_PUD] && extent == PUD_SIZE(m) &&
		    move_normal_pud(vma, old_addr, new_addr, old_pud, new_pud))
			continue;

		extent = get_extent(PMD_SIZE(m), old_addr, old_end, new_addr);
		pmd_t *old_pmd = get_old_pmd(mm, old_addr);
		if (!old_pmd)
			continue;
		pmd_t *new_pmd = alloc_new_pmd(mm, new_addr);
		if (!new_pmd)
			break;
		if (extent == PMD_SIZE(m) && move_normal_pmd(vma, old_addr, new_addr, old_pmd, new_pmd))
			continue;
		if (pmd_none(mm, *old_pmd))
			continue;
		if (pte_alloc(pmc->new->vm_mm, new_pmd, new_addr))
			break;
		move_ptes(pmc, old_pmd, old_addr, old_addr + extent, new_pmd, new_addr);
	}

	/* Realigned, but stopped in the first PMD: nothing of the request was moved. */
	if (old_addr < old_end - pmc->len_in)
		return 0;
	return pmc->len_in + old_addr - old_end;
}

/*
 * copy_vma(): the destination VMA: the source's flags and file, the file
 * offset of the moved range (an anonymous VMA never faulted gets the offset
 * of its new address), linked into the file's i_mmap.  A shareable hugetlb
 * VMA gets a VMA lock of its own (hugetlb_vm_op_open()).
 */
static struct vm_area_struct *copy_vma(struct vm_area_struct *vma, uint64_t addr, uint64_t len, uint64_t pgoff)
{
	struct mm_struct *mm = vma->vm_mm;
	struct vm_area_struct *new_vma = vm_area_dup(vma);

	if (!new_vma)
		return NULL;
	if (vma_is_anonymous(vma) && !vma->anon_vma)
		pgoff = addr >> mm->machine->geo.page_shift;
	new_vma->vm_start = addr;
	new_vma->vm_end = addr + len;
	new_vma->vm_pgoff = pgoff;
	mm_insert_vma(mm, new_vma);
	vma_link_file(new_vma);
	return new_vma;
}

/*
 * move_vma(): copy_vma_and_data() (the destination VMA of @new_len, the
 * page tables of @old_len moved), then unmap_source_vma() unless
 * MREMAP_DONTUNMAP (the source VMA stays, its range now empty).  A failed
 * table allocation moves everything back and unmaps the destination instead.
 */
static int move_vma(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, uint64_t old_len,
		    uint64_t new_addr, uint64_t new_len, bool dontunmap)
{
	struct ptsim_machine *m = mm->machine;
	int err = 0;

	/* prep_move_vma(): hugetlb_vm_op_split() on both ends. */
	if (is_vm_hugetlb_page(vma)) {
		uint64_t hmask = huge_page_size(vma) - 1;
		if ((vma->vm_start != addr && (addr & hmask)) || (vma->vm_end != addr + old_len && ((addr + old_len) & hmask)))
			return -EINVAL;
	}
	uint64_t new_pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> m->geo.page_shift);
	struct vm_area_struct *new_vma = copy_vma(vma, new_addr, new_len, new_pgoff);
	if (!new_vma)
		return SIM_ENOMEM;
	struct pagetable_move_control pmc = {
		.old = vma, .new = new_vma, .old_addr = addr, .old_end = addr + old_len, .new_addr = new_addr,
		.len_in = old_len,
	};
	uint64_t moved_len = move_page_tables(&pmc);
	uint64_t unmap_addr = addr, unmap_len = old_len;
	if (moved_len < old_len) {
		/* Move what was moved back, then unmap the new area instead of the old. */
		struct pagetable_move_control revert = {
			.old = new_vma, .new = vma, .old_addr = new_addr, .old_end = new_addr + moved_len,
			.new_addr = addr, .len_in = moved_len,
		};
		move_page_tables(&revert);
		unmap_addr = new_addr;
		unmap_len = new_len;
		err = SIM_ENOMEM;
	} else if (dontunmap) {
		/* dontunmap_complete(): the source VMA stays, unlocked. */
		vma->vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT);
		return 0;
	}
	/* unmap_source_vma() */
	int rc = do_munmap(mm, unmap_addr, unmap_len);
	return err ? err : rc;
}

/* resize_is_valid(): the old range inside one VMA; no growth of VM_DONTEXPAND / VM_PFNMAP. */
static int resize_is_valid(struct vm_area_struct *vma, uint64_t addr, uint64_t old_len, uint64_t new_len)
{
	if (!vma || old_len > vma->vm_end - addr)
		return -EFAULT;
	if (new_len > old_len && (vma->vm_flags & (VM_DONTEXPAND | VM_PFNMAP)))
		return -EFAULT;
	return 0;
}

/* vma_expandable(): room above the VMA for @delta more bytes. */
static bool vma_expandable(struct vm_area_struct *vma, uint64_t delta)
{
	struct mm_struct *mm = vma->vm_mm;
	uint64_t end = vma->vm_end + delta;

	if (end < vma->vm_end || end > mm->machine->geo.task_size)
		return false;
	if (find_vma_intersection(mm, vma->vm_end, end))
		return false;
	return !IS_ERR_VALUE(__get_unmapped_area(mm, NULL, vma->vm_end, delta, 0, MAP_FIXED, 0));
}

/**
 * do_mremap - mremap(@addr, @old_len, @new_len, @flags, @new_addr) in @mm
 * (mm/mremap.c, v6.18): with MREMAP_FIXED the destination is unmapped, the
 * source shrunk to @new_len if larger, and the range moved; without it a
 * shrink unmaps the tail in place, a growth extends the VMA in place when the
 * range ends the VMA and the gap above allows (vma_expandable()), else with
 * MREMAP_MAYMOVE moves to an address get_unmapped_area() picks;
 * MREMAP_DONTUNMAP leaves the source VMA mapped (empty).  The caller checked
 * @flags' combinations and page alignment.  The result address goes to *@out.
 * Return: 0; -EFAULT (the range is not inside one VMA, or growing a
 * VM_DONTEXPAND/VM_PFNMAP one); -EINVAL (the ranges overlap, hugetlb
 * misalignment or growth); -ENOMEM (cannot grow in place and may not move,
 * or no room); SIM_ENOMEM (host memory; the move is undone).
 */
int do_mremap(struct mm_struct *mm, uint64_t addr, uint64_t old_len, uint64_t new_len, unsigned int flags,
	      uint64_t new_addr, uint64_t *out)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_area_struct *vma = vma_lookup(mm, addr);
	int err;

	*out = addr;
	if (!vma)
		return -EFAULT;
	/* ptsim: an mshare VMA is not moved (the postings never say what moving its links would do). */
	if (PTSIM_UNLIKELY(vma->vm_flags & VM_SHARED_PT))
		return -EINVAL;
	/* align_hugetlb(): lengths round up to the huge page, addresses must be aligned, no growth. */
	if (is_vm_hugetlb_page(vma)) {
		uint64_t hmask = huge_page_size(vma) - 1;
		old_len = (old_len + hmask) & ~hmask;
		new_len = (new_len + hmask) & ~hmask;
		if ((addr & hmask) || ((flags & MREMAP_FIXED) && (new_addr & hmask)) || new_len > old_len)
			return -EINVAL;
	}
	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) {
		/* mremap_to() */
		if (flags & MREMAP_FIXED) {
			/* vrm_overlaps() */
			if (addr + old_len > new_addr && new_addr + new_len > addr)
				return -EINVAL;
			/* MREMAP_FIXED unmaps the destination. */
			if ((err = do_munmap(mm, new_addr, new_len)))
				return err;
		}
		if (old_len > new_len) {
			if ((err = do_munmap(mm, addr + new_len, old_len - new_len)))
				return err;
			old_len = new_len;
		}
		vma = vma_lookup(mm, addr);
		if ((err = resize_is_valid(vma, addr, old_len, new_len)))
			return err;
		if (!(flags & MREMAP_FIXED)) {
			/* vrm_set_new_addr(): anywhere, as mmap would place it. */
			uint64_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> m->geo.page_shift);
			new_addr = __get_unmapped_area(mm, vma->vm_file, 0, new_len, pgoff,
						       (vma->vm_flags & VM_MAYSHARE) ? MAP_SHARED : 0, 0);
			if (IS_ERR_VALUE(new_addr))
				return (int)(int64_t)new_addr;
		}
		*out = new_addr;
		return move_vma(mm, vma, addr, old_len, new_addr, new_len, flags & MREMAP_DONTUNMAP);
	}
	/* Shrinking in place always succeeds. */
	if (new_len <= old_len) {
		if (new_len < old_len)
			return do_munmap(mm, addr + new_len, old_len - new_len);
		return 0;
	}
	if ((err = resize_is_valid(vma, addr, old_len, new_len)))
		return err;
	/* Growing in place: the range ends the VMA and the gap above is free. */
	if (addr + old_len == vma->vm_end && vma_expandable(vma, new_len - old_len)) {
		vma->vm_end += new_len - old_len;   /* vma_merge_extend() */
		vma_tree_update(mm, vma);
		vma_merge_around(mm, vma);
		return 0;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uint64_t pgoff = vma->vm_pgoff + ((addr - vma->vm_start) >> m->geo.page_shift);
	new_addr = __get_unmapped_area(mm, vma->vm_file, 0, new_len, pgoff, (vma->vm_flags & VM_MAYSHARE) ? MAP_SHARED : 0,
				       0);
	if (IS_ERR_VALUE(new_addr))
		return (int)(int64_t)new_addr;
	*out = new_addr;
	return move_vma(mm, vma, addr, old_len, new_addr, new_len, false);
}
