/*
 * The architecture back-end contract, and the wrappers src/mm/ calls.
 *
 * One const ops table per architecture (x86/ops.c, arm64/ops.c); each machine
 * keeps a pointer to its table: there is no "current arch".  The ops speak the
 * kernel's vocabulary — what generic mm asks of an arch (tlb_flush() from an
 * mmu_gather, flush_tlb_mm(), switch_mm_irqs_off(), tlb_remove_table_sync_one())
 * — and how a flush reaches other CPUs (IPIs, broadcast TLBI, INVLPGB) stays
 * inside the op and is counted in the statistics.
 *
 * src/mm/ never calls an op directly: it calls the arch_*() wrappers below,
 * which check required ops, supply generic defaults for optional ones and are
 * the one place to count or inject faults.  Nothing outside src/arch/ asks
 * which architecture it runs on.
 */
#ifndef PTSIM_ARCH_ARCH_H
#define PTSIM_ARCH_ARCH_H

#include "mm/internal.h"

#define PTSIM_ARCH_OPS_VERSION 1


struct ptsim_arch_ops {
	const char *name;
	unsigned int version;

	/* ---- required ---- */
	/* Geometry (m->geo) and arch state from the configuration. */
	int (*setup)(struct ptsim_machine *m, const struct ptsim_config *cfg, char *err, size_t errlen);
	void (*teardown)(struct ptsim_machine *m);
	/* init_new_context() / destroy_context(): the mm's arch context (ASIDs, tlb_gen). */
	int (*init_new_context)(struct mm_struct *mm);
	void (*destroy_context)(struct mm_struct *mm);
	/* switch_mm_irqs_off(): @cpu switches to @next (NULL: init_mm). */
	void (*switch_mm)(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next);
	/* enter_lazy_tlb(): @cpu stops running user code but keeps its mm loaded. */
	void (*enter_lazy_tlb)(struct ptsim_machine *m, struct sim_cpu *cpu);
	/* tlb_flush() of an mmu_gather (asm/tlb.h). */
	void (*tlb_flush)(struct mmu_gather *tlb);
	void (*flush_tlb_mm)(struct mm_struct *mm);
	void (*flush_tlb_range)(struct vm_area_struct *vma, uint64_t start, uint64_t end);
	void (*flush_tlb_page)(struct vm_area_struct *vma, uint64_t addr);
	void (*flush_tlb_all)(struct ptsim_machine *m);

	/* MMU_GATHER_MERGE_VMAS: one flush per unmap call instead of one per VMA. */
	bool mmu_gather_merge_vmas;
	/*
	 * arch_wants_old_prefaulted_pte(): pages mapped around a fault
	 * (fault-around) start old, the CPU sets the access flag on use.
	 */
	bool wants_old_prefaulted_pte;

	/* ---- optional (NULL: generic default) ---- */
	/* NULL: IPI every other online CPU and wait (mm/mmu_gather.c). */
	void (*tlb_remove_table_sync_one)(struct ptsim_machine *m);
	/* tlb_table_flush_implies_ipi_broadcast(): NULL = false (generic). */
	bool (*tlb_table_flush_implies_ipi_broadcast)(const struct ptsim_machine *m);
	/* pte_needs_flush(): NULL = every change of a present entry needs a flush (generic). */
	bool (*pte_needs_flush)(pgent_t oldpte, pgent_t newpte);
	/* Called on every page-table entry write (arm64 break-before-make check). */
	void (*set_entry)(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr,
			  pgent_t old, pgent_t val);
	/* The CPU goes idle (after enter_lazy_tlb); x86 may leave_mm() in deep C-states. */
	void (*cpu_idle)(struct ptsim_machine *m, struct sim_cpu *cpu);
	/* Per-arch resolved-config entries for reports (key/value pairs). */
	void (*describe)(const struct ptsim_machine *m, sim_desc_emit_fn emit, void *ctx);
	/* flush_hugetlb_tlb_range(): NULL = flush_tlb_range() (asm-generic/hugetlb.h). */
	void (*flush_hugetlb_tlb_range)(struct vm_area_struct *vma, uint64_t start, uint64_t end);

	/*
	 * hugetlb entries (arm64: arch/arm64/mm/hugetlbpage.c).  NULL: the
	 * asm-generic/hugetlb.h forms in mm/hugetlb.c, one entry per huge page
	 * at PMD or PUD level.
	 */
	/* arch_hugetlb_valid_size(): NULL = the PMD and PUD leaf sizes. */
	bool (*hugetlb_valid_size)(const struct ptsim_machine *m, uint64_t size);
	/* huge_pte_alloc() / huge_pte_offset() for the sizes other than PMD_SIZE and PUD_SIZE. */
	pgent_t *(*huge_pte_alloc)(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, uint64_t sz);
	pgent_t *(*huge_pte_offset)(struct mm_struct *mm, uint64_t addr, uint64_t sz);
	pgent_t (*arch_make_huge_pte)(const struct ptsim_machine *m, pgent_t entry, uint64_t sz);
	void (*set_huge_pte_at)(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, pgent_t pte, uint64_t sz);
	pgent_t (*huge_ptep_get_and_clear)(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz);
	pgent_t (*huge_ptep_clear_flush)(struct vm_area_struct *vma, uint64_t addr, pgent_t *ptep);
	void (*huge_ptep_set_wrprotect)(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz);

	/*
	 * HAVE_ARCH_UNMAPPED_AREA / HAVE_ARCH_UNMAPPED_AREA_TOPDOWN: the arch's
	 * own mmap allocators.  NULL: generic_get_unmapped_area{,_topdown}()
	 * (mm/mmap.c).  @file stands for the mapping's struct file (NULL: anonymous).
	 */
	uint64_t (*get_unmapped_area)(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
				      uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
	uint64_t (*get_unmapped_area_topdown)(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					      uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
	/*
	 * The arch's own arch_pick_mmap_layout() (x86: arch/x86/mm/mmap.c).
	 * NULL: generic_arch_pick_mmap_layout() (mm/util.c,
	 * CONFIG_ARCH_WANT_DEFAULT_TOPDOWN_MMAP_LAYOUT).
	 */
	void (*pick_mmap_layout)(struct mm_struct *mm);

	/*
	 * One flush of every CPU that may cache any of @mms, whatever it runs:
	 * the arch_tlbbatch_add_pending()/arch_tlbbatch_flush() pair with a flush
	 * that ignores info->mm (mshare's cpumask_union).  NULL: flush_tlb_mm()
	 * of each.
	 */
	void (*flush_tlb_mms)(struct ptsim_machine *m, struct mm_struct *const *mms, unsigned int nr,
			      bool freed_tables);
	/*
	 * The deferred flush of page reclaim (CONFIG_ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH,
	 * mm/rmap.c try_to_unmap_one() with TTU_BATCH_FLUSH): should_defer
	 * (arch_tlbbatch_should_defer()) says whether to defer a PTE's flush for
	 * @mm; add_pending (arch_tlbbatch_add_pending()) queues [@start, @end) of
	 * @mm in @batch; flush (arch_tlbbatch_flush()) completes everything
	 * queued and empties @batch.  NULL should_defer: never deferred (each PTE
	 * is flushed with flush_tlb_page()).
	 */
	bool (*tlbbatch_should_defer)(struct mm_struct *mm);
	void (*tlbbatch_add_pending)(struct arch_tlbflush_unmap_batch *batch, struct mm_struct *mm, uint64_t start,
				     uint64_t end);
	void (*tlbbatch_flush)(struct ptsim_machine *m, struct arch_tlbflush_unmap_batch *batch);
	/*
	 * ptsim: @mm is being freed and no CPU has it loaded: drop what the CPUs
	 * still cache under its address-space id (never usable again; no count
	 * moves).  NULL: nothing.
	 */
	void (*retire_mm)(struct mm_struct *mm);
	/*
	 * ptsim: a flush call for @mm that waited for IRQs ran late (its CPU
	 * may have switched meanwhile): drop what the CPUs cache for @mm that
	 * the kernel relies on a generation check to flush (no count moves).
	 * NULL: nothing.
	 */
	void (*retire_skipped)(struct mm_struct *mm);
};

extern const struct ptsim_arch_ops ptsim_x86_64_ops;
extern const struct ptsim_arch_ops ptsim_arm64_ops;

/* Validates a table: every required op present and the version known. */
int arch_ops_validate(const struct ptsim_arch_ops *ops, char *err, size_t errlen);

static inline int init_new_context(struct mm_struct *mm)
{
	return mm->machine->ops->init_new_context(mm);
}

static inline void destroy_context(struct mm_struct *mm)
{
	mm->machine->ops->destroy_context(mm);
}

/* tlb_table_flush_implies_ipi_broadcast(): the generic answer is no. */
static inline bool tlb_table_flush_implies_ipi_broadcast(const struct ptsim_machine *m)
{
	return m->ops->tlb_table_flush_implies_ipi_broadcast && m->ops->tlb_table_flush_implies_ipi_broadcast(m);
}

static inline uint64_t arch_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					      uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	const struct ptsim_arch_ops *ops = mm->machine->ops;

	if (ops->get_unmapped_area)
		return ops->get_unmapped_area(mm, file, addr, len, pgoff, flags, vm_flags);
	return generic_get_unmapped_area(mm, file, addr, len, pgoff, flags, vm_flags);
}

static inline uint64_t arch_get_unmapped_area_topdown(struct mm_struct *mm, const struct sim_file *file,
						      uint64_t addr, uint64_t len, uint64_t pgoff, unsigned long flags,
						      uint64_t vm_flags)
{
	const struct ptsim_arch_ops *ops = mm->machine->ops;

	if (ops->get_unmapped_area_topdown)
		return ops->get_unmapped_area_topdown(mm, file, addr, len, pgoff, flags, vm_flags);
	return generic_get_unmapped_area_topdown(mm, file, addr, len, pgoff, flags, vm_flags);
}

static inline void arch_switch_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next)
{
	m->ops->switch_mm(m, cpu, next);
}

static inline void arch_enter_lazy_tlb(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	m->ops->enter_lazy_tlb(m, cpu);
}

static inline void arch_cpu_idle(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (m->ops->cpu_idle)
		m->ops->cpu_idle(m, cpu);
}

/* An mshare host mm's flushes go to its sharers too (mshare.c): the host mm runs on no CPU. */
static inline void flush_tlb_mm(struct mm_struct *mm)
{
	mm->machine->ops->flush_tlb_mm(mm);
	if (PTSIM_UNLIKELY(mm->mshare))
		mshare_flush_sharers_range(mm, 0, UINT64_MAX, 0, true);
}

static inline void flush_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;

	mm->machine->ops->flush_tlb_range(vma, start, end);
	if (PTSIM_UNLIKELY(mm->mshare))
		mshare_flush_sharers_range(mm, start, end,
					   is_vm_hugetlb_page(vma) ? vma->hpage_shift : PAGE_SHIFT(mm->machine),
					   mm->machine->v.flush_tlb_range_freed_tables);
}

static inline void flush_tlb_page(struct vm_area_struct *vma, uint64_t addr)
{
	struct mm_struct *mm = vma->vm_mm;

	mm->machine->ops->flush_tlb_page(vma, addr);
	if (PTSIM_UNLIKELY(mm->mshare))
		mshare_flush_sharers_range(mm, addr, addr + PAGE_SIZE(mm->machine), PAGE_SHIFT(mm->machine), false);
}

static inline void flush_tlb_all(struct ptsim_machine *m)
{
	m->ops->flush_tlb_all(m);
}

/* flush_hugetlb_tlb_range(): what the kernel's hugetlb code calls after changing huge entries. */
static inline void flush_hugetlb_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	const struct ptsim_arch_ops *ops = vma->vm_mm->machine->ops;

	if (ops->flush_hugetlb_tlb_range)
		ops->flush_hugetlb_tlb_range(vma, start, end);
	else
		ops->flush_tlb_range(vma, start, end);
	if (PTSIM_UNLIKELY(vma->vm_mm->mshare))
		mshare_flush_sharers_range(vma->vm_mm, start, end, vma->hpage_shift,
					   vma->vm_mm->machine->v.flush_tlb_range_freed_tables);
}

/* mshare's cpumask_union: one flush of every CPU that may cache any of @mms (NULL op: each flushed alone). */
static inline void arch_flush_tlb_mms(struct ptsim_machine *m, struct mm_struct *const *mms, unsigned int nr,
				      bool freed_tables)
{
	if (m->ops->flush_tlb_mms) {
		m->ops->flush_tlb_mms(m, mms, nr, freed_tables);
		return;
	}
	for (unsigned int i = 0; i < nr; i++)
		m->ops->flush_tlb_mm(mms[i]);
}

/* ptsim: drop what the CPUs cache for @mm, which is being freed (arch op retire_mm). */
static inline void arch_retire_mm(struct mm_struct *mm)
{
	if (mm->machine->ops->retire_mm)
		mm->machine->ops->retire_mm(mm);
}

/* ptsim: after a queued call for @mm ran (arch op retire_skipped). */
static inline void arch_retire_skipped(struct mm_struct *mm)
{
	if (mm->machine->ops->retire_skipped)
		mm->machine->ops->retire_skipped(mm);
}

static inline void arch_set_entry(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr,
				  pgent_t old, pgent_t val)
{
	if (m->ops->set_entry)
		m->ops->set_entry(m, ep, level, addr, old, val);
}

static inline bool arch_pte_needs_flush(struct ptsim_machine *m, pgent_t oldpte, pgent_t newpte)
{
	if (m->ops->pte_needs_flush)
		return m->ops->pte_needs_flush(oldpte, newpte);
	return true;
}

/* arch_hugetlb_valid_size(): may a hugetlb mapping use pages of @size? */
static inline bool arch_hugetlb_valid_size(const struct ptsim_machine *m, uint64_t size)
{
	if (m->ops->hugetlb_valid_size)
		return m->ops->hugetlb_valid_size(m, size);
	return size && (size == m->geo.pmd_leaf_size || size == m->geo.pud_leaf_size);
}

/* Make @cpu's loaded mm @mm (NULL: init_mm), keeping mm_count references right. */
void cpu_set_loaded_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm);

#endif
