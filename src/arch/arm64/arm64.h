/*
 * arm64 back-end private state: the ASID allocator (arch/arm64/mm/context.c),
 * the TLBI vocabulary of arch/arm64/include/asm/tlbflush.h, and the
 * break-before-make tracker.  Only src/arch/arm64/ includes this.
 */
#ifndef PTSIM_ARCH_ARM64_H
#define PTSIM_ARCH_ARM64_H

#include "arch/arch.h"

/*
 * mm->context.id = generation | ASID.  The generation counts in units of
 * ASID_FIRST_VERSION (bit 16, whatever the ASID width), so with 8-bit ASIDs
 * bits 8..15 stay zero in both halves.
 */
#define ASID_FIRST_VERSION (1ull << 16)
#define ctxid2asid(m, id) ((id) & (((uint64_t)1 << arm64_m(m)->asid_bits) - 1))

/* TLBI level hints: 0..3 are architectural levels (3 = last level). */
#define TLBI_TTL_UNKNOWN 127

/* Flags of __flush_tlb_range() (the 2026 flag-based form). */
#define TLBF_NONE 0u
#define TLBF_NOWALKCACHE (1u << 0)   /* leaf entries only: VALE1IS, walk caches kept */
#define TLBF_NOSYNC (1u << 1)        /* no trailing DSB ISH */

/* MAX_TLBI_RANGE_PAGES = __TLBI_RANGE_PAGES(31, 3): 32 << 16 pages. */
#define MAX_TLBI_RANGE_PAGES (32ull << 16)

/* One valid entry made invalid and not yet covered by a broadcast TLBI. */
struct bbm_rec {
	pgent_t *ep;
	pgent_t old;
	uint64_t va;              /* first VA the entry maps */
	struct mm_struct *mm;     /* mm of the table (records go when it is destroyed); NULL: an unshared hugetlb PMD table */
	uint32_t table_pfn;       /* the table holding ep, and its generation: a freed */
	uint32_t table_gen;       /* and reused table never matches a stale record */
	uint8_t level;            /* enum pt_level the entry was written at */
};

struct arm64_cpu {
	uint64_t active_asid;     /* per_cpu(active_asids) */
	uint64_t reserved_asid;   /* per_cpu(reserved_asids) */
	bool tlb_flush_pending;   /* cpumask tlb_flush_pending: TLBI VMALLE1 at the next slow switch */
};

struct arm64_machine {
	unsigned int asid_bits;   /* 8 or 16 (ID_AA64MMFR0_EL1.ASIDBits) */
	bool kpti;                /* arm64_kernel_unmapped_at_el0(): ASIDs in pairs */
	bool lpa2;                /* lpa2_is_enabled(): 52-bit VA with 4K/16K pages; range ops need 64K-aligned starts */
	bool feat_lpa2;           /* the CPU implements FEAT_LPA2 (arm64_lpa2): TTL level 0 is a real hint */
	/* __flush_tlb_range_limit_excess() of the kernel era configured (tlb.c). */
	bool (*range_limit_excess)(const struct ptsim_machine *m, uint64_t pages, uint64_t stride);
	/* tlb_flush()'s leaf-only decision of the era configured: before or with c2ff4764e03e (tlb.c). */
	bool (*tlb_flush_last_level)(const struct mmu_gather *tlb);
	uint64_t asid_generation;
	uint64_t *asid_map;       /* NUM_USER_ASIDS bits */
	uint64_t cur_idx;         /* new_context()'s static cursor */
	struct arm64_cpu *cpu;    /* per CPU */
	/* Break-before-make tracker (mmu.c). */
	struct bbm_rec *bbm;
	size_t nr_bbm, cap_bbm;
	/*
	 * ep -> index in bbm[], built lazily: only an invalid -> valid write while
	 * records exist looks one up, and most flushes drop every record first.
	 * It covers bbm[0, bbm_indexed); a record taken out leaves a tombstone
	 * (ep NULL) until the next flush compacts the array.
	 */
	struct hmap bbm_idx;
	size_t bbm_indexed;
	/* The table of the last record (zaps clear runs of entries of one table). */
	const pgent_t *tc_entries;
	uint32_t tc_nr, tc_pfn, tc_gen;
};

struct arm64_mm_context {
	uint64_t id;              /* generation | ASID; 0 until first scheduled */
};

static inline struct arm64_machine *arm64_m(const struct ptsim_machine *m) { return m->arch; }
static inline struct arm64_mm_context *arm64_ctx(const struct mm_struct *mm) { return mm->arch; }

static inline uint64_t num_user_asids(const struct ptsim_machine *m)
{
	return 1ull << arm64_m(m)->asid_bits;
}

/* ASID(mm): the hardware ASID of @mm (kernel half under KPTI). */
static inline uint16_t ASID(const struct mm_struct *mm)
{
	return (uint16_t)(arm64_ctx(mm)->id & 0xffff);
}

/* TLB-model tag of user translations made with hardware ASID @asid. */
static inline uint16_t arm64_user_tag(const struct ptsim_machine *m, uint16_t asid)
{
	return arm64_m(m)->kpti && asid ? (uint16_t)(asid | 1) : asid;
}

/* Architectural level (3 = last) of an entry written at enum level @l. */
static inline int arm64_arch_level(const struct pt_geometry *g, enum pt_level l)
{
	while (l > PT_PGD && g->folded[l])
		l = (enum pt_level)(l - 1);
	if (l == PT_PGD)
		return 4 - (int)g->levels;
	return (int)l - 1;
}

/* context.c */
int arm64_asids_init(struct ptsim_machine *m, char *err, size_t errlen);
void arm64_asids_release(struct ptsim_machine *m);
int arm64_init_new_context(struct mm_struct *mm);
void arm64_destroy_context(struct mm_struct *mm);
void arm64_switch_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next);
void arm64_enter_lazy_tlb(struct ptsim_machine *m, struct sim_cpu *cpu);

/* tlb.c */
void arm64_tlb_setup(struct ptsim_machine *m);
void arm64_tlb_flush(struct mmu_gather *tlb);
void arm64_flush_tlb_mm(struct mm_struct *mm);
void arm64_flush_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end);
void arm64_flush_tlb_page(struct vm_area_struct *vma, uint64_t addr);
void arm64_flush_tlb_all(struct ptsim_machine *m);
bool arm64_tlbbatch_should_defer(struct mm_struct *mm);
void arm64_tlbbatch_add_pending(struct arch_tlbflush_unmap_batch *batch, struct mm_struct *mm, uint64_t start,
				uint64_t end);
void arm64_tlbbatch_flush(struct ptsim_machine *m, struct arch_tlbflush_unmap_batch *batch);
void arm64_flush_tlb_mms(struct ptsim_machine *m, struct mm_struct *const *mms, unsigned int nr, bool freed_tables);
void arm64_retire_mm(struct mm_struct *mm);
void arm64_flush_hugetlb_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end);
void local_flush_tlb_all(struct ptsim_machine *m, struct sim_cpu *cpu);
void __flush_tlb_range(struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t stride, int tlb_level,
		       unsigned int flags);
void __flush_hugetlb_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end, uint64_t stride,
			       bool last_level);

/* hugetlbpage.c */
bool arm64_hugetlb_valid_size(const struct ptsim_machine *m, uint64_t size);
pgent_t arm64_make_huge_pte(const struct ptsim_machine *m, pgent_t entry, uint64_t sz);
pgent_t *arm64_huge_pte_alloc(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, uint64_t sz);
pgent_t *arm64_huge_pte_offset(struct mm_struct *mm, uint64_t addr, uint64_t sz);
void arm64_set_huge_pte_at(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, pgent_t pte, uint64_t sz);
pgent_t arm64_huge_ptep_get_and_clear(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz);
pgent_t arm64_huge_ptep_clear_flush(struct vm_area_struct *vma, uint64_t addr, pgent_t *ptep);
void arm64_huge_ptep_set_wrprotect(struct mm_struct *mm, uint64_t addr, pgent_t *ptep, uint64_t sz);

/* mmu.c: break-before-make */
void arm64_set_entry(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr, pgent_t old,
		     pgent_t val);
/* A broadcast TLBI completed: drop the records it covers. */
void bbm_tlbi_range(struct ptsim_machine *m, struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t stride,
		    bool leaf_only, int level);
void bbm_tlbi_mm(struct ptsim_machine *m, struct mm_struct *mm);
void bbm_tlbi_all(struct ptsim_machine *m);
void bbm_forget_mm(struct ptsim_machine *m, struct mm_struct *mm);
void bbm_release(struct ptsim_machine *m);

#endif
