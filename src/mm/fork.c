/*
 * fork's address-space copy and the teardown check.
 *
 * dup_mmap(): port of mm/mmap.c (moved from kernel/fork.c in 2025) at v6.18:
 * every VMA not VM_DONTCOPY is duplicated (the copy goes right after its
 * parent in the file's i_mmap), private mappings with anonymous pages get a
 * new anon_vma, copy_page_range() copies what vma_needs_copy() says must be
 * copied, and at the end flush_tlb_mm(oldmm) flushes the parent's now
 * write-protected entries (on x86 a freed_tables flush to every other CPU in
 * the parent's mm_cpumask).
 *
 * check_mm(): kernel/fork.c at v6.19, run from __mmdrop(): a non-zero RSS
 * counter is "Bad rss-counter state", non-zero pgtables_bytes is reported
 * too; both are recorded as violations (kind check_mm) with a backtrace.
 */
#include "mm/internal.h"

#include "arch/arch.h"

int dup_mmap(struct mm_struct *mm, struct mm_struct *oldmm)
{
	struct ptsim_machine *m = mm->machine;
	int retval = 0;

	/* dup_mm() copies the mm_struct: the layout and the heap come along. */
	mm->mmap_base = oldmm->mmap_base;
	mm->mmap_legacy_base = oldmm->mmap_legacy_base;
	mm->mmf_topdown = oldmm->mmf_topdown;
	mm->start_brk = oldmm->start_brk;
	mm->brk = oldmm->brk;
	mm->has_brk = oldmm->has_brk;
	/*
	 * ... and mm->tlb_flush_batched (mm_init() leaves it): a flush that
	 * reclaim deferred in the parent and flush_tlb_batched_pending() has not
	 * caught up with is pending in the child too, whose first PTE walk
	 * flushes its whole mm (measured on 6.18.44 after MADV_PAGEOUT).
	 */
	mm->tlb_flush_batched_pending = oldmm->tlb_flush_batched_pending;
	mm->tlb_flush_batched_flushed = oldmm->tlb_flush_batched_flushed;

	struct vm_area_struct *mpnt;

	for_each_vma(oldmm, mpnt) {
		if (mpnt->vm_flags & VM_DONTCOPY)
			continue;
		struct vm_area_struct *tmp = vm_area_dup(mpnt);
		if (!tmp) {
			retval = SIM_ENOMEM;
			break;
		}
		tmp->vm_mm = mm;
		if (mpnt->vm_flags & VM_WIPEONFORK)
			tmp->anon_vma = 0;
		else if (mpnt->anon_vma)
			tmp->anon_vma = ++m->next_anon_vma;   /* anon_vma_fork() */
		/* mlock is not inherited: vm_flags_clear(tmp, VM_LOCKED_MASK). */
		tmp->vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT);
		mm_insert_vma(mm, tmp);
		vma_link_file_after(tmp, mpnt);
		if (!(tmp->vm_flags & VM_WIPEONFORK) && copy_page_range(tmp, mpnt)) {
			retval = SIM_ENOMEM;
			break;
		}
	}
	flush_tlb_mm(oldmm);
	return retval;
}

static const char *const rss_names[NR_MM_COUNTERS] = { "MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS",
						       "MM_SHMEMPAGES" };

/* Never inlined: its reports' backtraces name it, as the kernel's do. */
__attribute__((noinline)) void check_mm(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	for (int i = 0; i < NR_MM_COUNTERS; i++) {
		long x = mm->rss[i];
		if (PTSIM_UNLIKELY(x)) {
			STAT_INC(m, CHECK_MM_ERRORS);
			oracle_report(m, PTSIM_VIOL_CHECK_MM, -1, 0, 0,
				      "BUG: Bad rss-counter state mm:%u type:%s val:%ld", mm->id, rss_names[i], x);
		}
	}
	if (mm->pgtables_bytes) {
		STAT_INC(m, CHECK_MM_ERRORS);
		oracle_report(m, PTSIM_VIOL_CHECK_MM, -1, 0, 0, "BUG: non-zero pgtables_bytes on freeing mm: %ld",
			      mm->pgtables_bytes);
	}
}
