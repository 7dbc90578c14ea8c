/*
 * The new program's stack at exec, in the kernel's order (v6.18):
 *
 *   bprm_execve() -> bprm_mm_init() -> create_init_stack_vma(): a one-page
 *     VM_GROWSDOWN VMA ending at STACK_TOP_MAX in the new mm, not loaded
 *     anywhere; copy_strings() writes the file name, the environment and the
 *     arguments into it from the top down (get_arg_page() grows the VMA and
 *     faults each page in through GUP: no flush, the mm runs nowhere);
 *   load_elf_binary() -> begin_new_exec() -> exec_mmap(): the task's CPU
 *     switches to the new mm (ptsim_exec() in api.c);
 *   setup_arg_pages(bprm, randomize_stack_top(STACK_TOP), ...): the stack's
 *     top, aligned; if it lies below STACK_TOP_MAX, relocate_vma_down() moves
 *     the argument pages there (mm/vma_exec.c: the VMA spans both places,
 *     move_page_tables() with for_stack, free_pgd_range() of what the old
 *     place no longer needs under an mmu_gather, the VMA shrunk to the new
 *     place); then the VMA grows 128 KiB below the arguments
 *     (expand_stack_locked()).
 *
 * The moves' flushes are the real ones: move_ptes() flushes the old range of
 * each extent that held a present page (a ranged flush), and the gather's
 * tlb_finish_mmu() flushes what freeing the old place's tables covered (a
 * PMD or PUD range: a full flush on x86).  The new mm is loaded on the
 * exec'ing CPU by then, so they are that CPU's local flushes.
 *
 * Left out: the in-page randomization of the arguments' start (the stack
 * pointer, not the pages), mprotect_fixup() of the stack's flags (no PTE
 * changes its protection), executable stacks, CONFIG_STACK_GROWSUP.
 */
#include "mm/internal.h"

#include "mm/mmu_gather.h"

/**
 * create_init_stack_vma - the temporary stack of bprm_mm_init() ending at
 * @top, as copy_strings() leaves it after writing @nr_pages pages of
 * arguments and environment (each page faulted in, written).  The mm is not
 * loaded anywhere: nothing is flushed.
 * Return: 0 or SIM_ENOMEM; *@vmap the stack VMA.
 */
int create_init_stack_vma(struct mm_struct *mm, uint64_t top, uint64_t nr_pages, struct vm_area_struct **vmap)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t len = nr_pages << m->geo.page_shift;
	struct ptsim_mmap_args st = { .addr = top - len, .len = len, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	int rc;

	if ((rc = do_mmap(mm, &st, false)))
		return rc;
	struct vm_area_struct *vma = vma_lookup(mm, st.addr);
	vma->vm_flags |= VM_GROWSDOWN;   /* VM_STACK_FLAGS */
	/* copy_strings(): the file name first (the top page), then the strings below it. */
	for (uint64_t addr = top; addr > top - len; addr -= PAGE_SIZE(m))
		if (handle_mm_fault(vma, addr - PAGE_SIZE(m), FAULT_FLAG_WRITE) & VM_FAULT_OOM)
			return SIM_ENOMEM;
	*vmap = vma;
	return 0;
}

/**
 * relocate_vma_down - move the stack @vma down by @shift bytes (mm/vma_exec.c,
 * v6.18): the VMA first spans the old and the new place (vma_expand()), the
 * page tables move (move_page_tables() for the stack), the tables only the
 * old place used are freed under an mmu_gather, and the VMA shrinks to the
 * new place (vma_shrink()).  The VMA's vm_pgoff stays as it was, as in the
 * kernel (the moved pages keep their index).
 * Return: 0, -EFAULT (a VMA between the two places) or SIM_ENOMEM.
 */
int relocate_vma_down(struct vm_area_struct *vma, uint64_t shift)
{
	struct mm_struct *mm = vma->vm_mm;
	uint64_t old_start = vma->vm_start, old_end = vma->vm_end, length = old_end - old_start;
	uint64_t new_start = old_start - shift, new_end = old_end - shift;
	struct mmu_gather tlb;

	if (find_vma(mm, new_start) != vma)
		return -EFAULT;
	/* vma_expand(): cover [new_start, old_end) */
	vma->vm_start = new_start;
	vma_tree_update(mm, vma);
	struct pagetable_move_control pmc = {
		.old = vma, .new = vma, .old_addr = old_start, .old_end = old_end, .new_addr = new_start,
		.len_in = length, .for_stack = true,
	};
	if (move_page_tables(&pmc) != length)
		return SIM_ENOMEM;

	tlb_gather_mmu(&tlb, mm);
	struct vm_area_struct *next = vma_next(mm, vma);
	uint64_t ceiling = next ? next->vm_start : 0 /* USER_PGTABLES_CEILING */;
	if (new_end > old_start)   /* the two places overlap: free from new_end */
		free_pgd_range(&tlb, new_end, old_end, new_end, ceiling);
	else
		free_pgd_range(&tlb, old_start, old_end, new_end, ceiling);
	tlb_finish_mmu(&tlb);

	/* vma_shrink(): just the new place */
	vma->vm_end = new_end;
	vma_tree_update(mm, vma);
	return 0;
}

/**
 * setup_arg_pages - put the stack @vma (the temporary one) where it belongs:
 * ending at @stack_top (page-aligned, already randomized), @stack_len long
 * (fs/exec.c, v6.18: the arguments plus stack_expand, 128 KiB, within the
 * stack rlimit; a caller that knows the real length passes it).  Runs in the
 * loaded mm.
 * Return: 0, -ENOMEM (the stack does not fit), -EFAULT or SIM_ENOMEM.
 */
int setup_arg_pages(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t stack_top, uint64_t stack_len)
{
	struct ptsim_machine *m = mm->machine;
	int rc;

	if (stack_top < m->mmap_min_addr || vma->vm_end - vma->vm_start >= stack_top - m->mmap_min_addr ||
	    stack_top > vma->vm_end)
		return -ENOMEM;
	uint64_t stack_shift = vma->vm_end - stack_top;
	/* Below STACK_TOP_MAX: relocate the argument pages to the chosen top. */
	if (stack_shift && (rc = relocate_vma_down(vma, stack_shift)))
		return rc;
	/* expand_stack_locked(vma, stack_base): the room below the arguments. */
	uint64_t stack_base = vma->vm_end - stack_len;
	if (stack_base < vma->vm_start) {
		uint64_t grow = (vma->vm_start - stack_base) >> m->geo.page_shift;
		if (grow > vma->vm_pgoff)
			return -EFAULT;
		vma->vm_start = stack_base;
		vma->vm_pgoff -= grow;
		vma_tree_update(mm, vma);
	}
	mm->start_stack = stack_top;
	return 0;
}
