/*
 * x86-64 back-end private state: cpu_tlbstate, mm->context, INVLPGB global
 * ASIDs.  Only src/arch/x86/ includes this.
 */
#ifndef PTSIM_ARCH_X86_H
#define PTSIM_ARCH_X86_H

#include "arch/arch.h"

/* Per-CPU dynamic ASIDs (PCIDs), round-robin (arch/x86/mm/tlb.c). */
#define TLB_NR_DYN_ASIDS 6
/*
 * Global ASIDs for INVLPGB live above the dynamic ones, below
 * MAX_ASID_AVAILABLE = (1 << CR3_AVAIL_PCID_BITS) - 2: 12 PCID bits without
 * page-table isolation (not modelled), so 4094.
 */
#define MAX_ASID_AVAILABLE 4094
#define TLB_FLUSH_ALL (~0ull)
#define TLB_GENERATION_INVALID 0
/* init_mm's context id (INIT_MM_CONTEXT); user mms count from 2. */
#define INIT_MM_CTX_ID 1

struct x86_mm_context {
	uint64_t ctx_id;              /* unique, never reused */
	uint64_t tlb_gen;             /* flush generation */
	uint64_t next_trim_cpumask;   /* jiffies of the next allowed mask trim */
	uint16_t global_asid;         /* 0: none (INVLPGB) */
	bool asid_transition;
	/* ptsim: CPUs running the mm (loaded, not lazy) on a per-CPU ASID: retire_skipped() passes them by. */
	struct cpumask running;
};

/*
 * ptsim layout: tlb_gen first, so that slots 0's and 1's lie in the line of
 * struct sim_cpu a flush IPI writes its counters to (slot 0 holds init_mm
 * from boot, so a CPU's first user mm takes slot 1).
 */
struct x86_tlb_ctx {
	uint64_t tlb_gen;
	uint64_t ctx_id;
};

/* Lives in each CPU's arch[] (struct sim_cpu), right after the counters a flush IPI adds to. */
struct x86_tlbstate {
	uint16_t loaded_mm_asid;
	uint16_t next_asid;
	struct x86_tlb_ctx ctxs[TLB_NR_DYN_ASIDS];
};
_Static_assert(sizeof(struct x86_tlbstate) <= SIM_CPU_ARCH_BYTES, "x86_tlbstate does not fit sim_cpu's arch[]");
_Static_assert(offsetof(struct x86_tlbstate, ctxs[1].tlb_gen) + sizeof(uint64_t) <= SIM_CPU_ARCH_HOT,
	       "x86_tlbstate: slot 1's generation outside the flush IPI's line");

struct flush_tlb_info;

/* The kernel era of each rule the variants select (x86_tlb_select_era()). */
struct x86_eras {
	void (*cpumask_leave_prev)(struct mm_struct *prev, struct sim_cpu *cpu);
	bool (*should_trim_cpumask)(struct ptsim_machine *m, struct mm_struct *mm);
	bool (*flush_reaches_all)(const struct flush_tlb_info *info);
	void (*consider_global_asid)(struct ptsim_machine *m, struct mm_struct *mm);
	void (*tlb_flush)(struct mmu_gather *tlb);
	void (*flush_tlb_range)(struct vm_area_struct *vma, uint64_t start, uint64_t end);
};

struct x86_machine {
	uint64_t last_mm_ctx_id;
	uint64_t init_mm_tlb_gen;
	/*
	 * The global ASID space (arch/x86/mm/tlb.c): per ASID GLOBAL_ASID_USED
	 * (global_asid_used) and GLOBAL_ASID_FREED (global_asid_freed: freed,
	 * reusable after the next reset_global_asid_space()).
	 */
	uint8_t *global_asid_used;    /* [MAX_ASID_AVAILABLE + 1] */
	uint16_t last_global_asid;
	int global_asid_available;
	/*
	 * What INVLPG of one address does to the paging-structure caches on this
	 * CPU model (x86_pwc_invlpg): every entry of the PCID (Intel without
	 * PTI), or only the entries on that address's path (INVPCID
	 * single-address, AMD with EFER.TCE).
	 */
	bool invlpg_drops_all_pwc;
	struct x86_eras eras;
};

struct flush_tlb_info {
	struct mm_struct *mm;
	uint64_t start, end;
	uint64_t new_tlb_gen;
	unsigned int initiating_cpu;
	uint8_t stride_shift;
	uint8_t freed_tables;
	uint8_t trim_cpumask;
};

#define GLOBAL_ASID_USED 0x1
#define GLOBAL_ASID_FREED 0x2

static inline struct x86_machine *x86_m(const struct ptsim_machine *m) { return m->arch; }
static inline struct x86_mm_context *x86_ctx(const struct mm_struct *mm) { return mm->arch; }
static inline struct x86_tlbstate *x86_ts(const struct ptsim_machine *m, const struct sim_cpu *cpu)
{
	(void)m;
	return (struct x86_tlbstate *)(void *)cpu->arch;
}

/* tlb.c */
void x86_switch_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next);
void x86_tlb_select_era(struct ptsim_machine *m);
void x86_enter_lazy_tlb(struct ptsim_machine *m, struct sim_cpu *cpu);
void x86_cpu_idle(struct ptsim_machine *m, struct sim_cpu *cpu);
void x86_tlb_flush(struct mmu_gather *tlb);
bool x86_tlb_table_flush_implies_ipi_broadcast(const struct ptsim_machine *m);
void x86_flush_tlb_mm(struct mm_struct *mm);
void x86_flush_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end);
void x86_flush_tlb_page(struct vm_area_struct *vma, uint64_t addr);
void x86_flush_tlb_all(struct ptsim_machine *m);
void x86_flush_tlb_mms(struct ptsim_machine *m, struct mm_struct *const *mms, unsigned int nr, bool freed_tables);
bool x86_tlbbatch_should_defer(struct mm_struct *mm);
void x86_tlbbatch_add_pending(struct arch_tlbflush_unmap_batch *batch, struct mm_struct *mm, uint64_t start,
			      uint64_t end);
void x86_tlbbatch_flush(struct ptsim_machine *m, struct arch_tlbflush_unmap_batch *batch);
void x86_retire_mm(struct mm_struct *mm);
void x86_retire_skipped(struct mm_struct *mm);
int x86_init_new_context(struct mm_struct *mm);
void x86_destroy_context(struct mm_struct *mm);
void x86_global_asid_init(struct x86_machine *xm);

/* mmap.c: arch_get_unmapped_area{,_topdown}() of arch/x86/kernel/sys_x86_64.c. */
uint64_t x86_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
			       uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
uint64_t x86_get_unmapped_area_topdown(struct mm_struct *mm, const struct sim_file *file, uint64_t addr0,
				       uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
/* mmap.c: arch_pick_mmap_layout() of arch/x86/mm/mmap.c. */
void x86_arch_pick_mmap_layout(struct mm_struct *mm);

#endif
