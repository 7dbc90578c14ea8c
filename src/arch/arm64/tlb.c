/*
 * arm64 TLB maintenance: port of arch/arm64/include/asm/tlbflush.h (the 2026
 * flag-based __flush_tlb_range(vma, start, end, stride, level, flags)), of
 * tlb_flush() from arch/arm64/include/asm/tlb.h (with the walk-cache fix
 * c2ff4764e03e as the arm64_walkcache_fix variant) and of
 * flush_hugetlb_tlb_range() from arch/arm64/include/asm/hugetlb.h.
 *
 * Mechanism (kernel-model 6): TLBI instructions with the inner-shareable
 * suffix are broadcast by the interconnect to every CPU; DSB ISH waits for
 * them.  No IPI is ever sent for a flush and mm_cpumask plays no part.  Every
 * invalidation is DSB ISHST, TLBI..., DSB ISH:
 *   flush_tlb_all()        TLBI VMALLE1IS
 *   flush_tlb_mm()         TLBI ASIDE1IS (twice with KPTI: kernel and user ASID)
 *   range, walk caches     TLBI VAE1IS per stride (leaf + walk-cache entries)
 *   range, leaf only       TLBI VALE1IS per stride
 *   range, FEAT_TLBIRANGE  TLBI RVAE1IS / RVALE1IS, each (num+1) << (5*scale+1) pages
 * A range becomes flush_tlb_mm() when it would take MAX_DVM_OPS (PTRS_PER_PTE:
 * 512 / 2048 / 8192) stride-sized operations without range TLBI, or exceeds
 * MAX_TLBI_RANGE_PAGES (2^21 pages) with it.
 *
 * Counters (counters.tlbi.*): one per TLBI instruction issued, by kind (a KPTI
 * user-ASID copy counts as an instruction), and one dsb_ish per completed
 * broadcast sequence.  The local TLBI VMALLE1 of an ASID rollover counts as
 * tlbi.vmalle1.
 *
 * The TLB model: a broadcast TLBI acts on every CPU that may cache the mm
 * (mm->tlb_cached: it walked the mm's tables once).  With FEAT_TTL
 * (arm64_ttl=on) a level hint restricts the leaf invalidation to entries at
 * that level and the walk-cache invalidation to the levels above it, as the
 * architecture does ("if the level is wrong, no invalidation may take
 * place").  Every completed broadcast also tells the break-before-make
 * tracker (mmu.c) which broken entries it covered.
 *
 * ptsim departures (marked "ptsim:"): flush_tlb_page() is unhinted (the 6.18
 * form); a fullmm tlb_flush() without freed tables issues nothing, as the
 * kernel does, but ptsim then drops the dying mm's leaf entries without
 * counting anything (its ASID is flushed before reuse and nothing accesses a
 * dead mm, so the oracle must not see those entries when the pages are
 * freed).  TLBF_NOBROADCAST (local-only flushes) is not modelled.
 */
#include "arch/arm64/arm64.h"
#include "mm/mmu_gather.h"

enum tlbi_op { OP_VALE1IS, OP_VAE1IS, OP_RVALE1IS, OP_RVAE1IS };

static void count_tlbi(struct ptsim_machine *m, enum sim_stat st)
{
	/* __tlbi() then __tlbi_user(): the user-ASID copy is a second instruction. */
	m->stats[st] += arm64_m(m)->kpti ? 2 : 1;
}

/* Leaf arrays a VA invalidation with @level reaches (no level-0 blocks for user mappings). */
static uint32_t leaf_arrays(int level)
{
	switch (level) {
	case 3:
		return TLBARR_LEAF(TLB_PAGE);
	case 2:
		return TLBARR_LEAF(TLB_PMD);
	case 1:
		return TLBARR_LEAF(TLB_PUD);
	case 0:
		return 0;
	default:
		return TLBARR_ALL_LEAF;
	}
}

/* Walk-cache arrays: non-leaf entries at levels above the hinted leaf level. */
static uint32_t walk_arrays(int level)
{
	static const int entry_level[NR_PWC_LEVELS] = { [PWC_PTE] = 2, [PWC_PMD] = 1, [PWC_PUD] = 0, [PWC_P4D] = -1 };
	uint32_t mask = 0;

	if (level > 3)
		return TLBARR_ALL_PWC;
	for (int l = 0; l < NR_PWC_LEVELS; l++)
		if (entry_level[l] < level)
			mask |= TLBARR_PWC(l);
	return mask;
}

/*
 * The level the hardware sees: hints only with FEAT_TTL, and only 0..3.  A
 * level-0 hint in a single-VA operation is the TTL value granule:0b00, which
 * the architecture reserves — and treats as no hint — unless the CPU
 * implements FEAT_LPA2 (4 KiB and 16 KiB granules; never with 64 KiB).  The
 * kernel passes level 0 for a huge entry recorded at a folded P4D
 * (tlb_get_level() after cleared_p4ds): 1 GiB blocks with 4 KiB / 39-bit, 32
 * MiB with 16 KiB / 36-bit, 512 MiB with 64 KiB / 42-bit, all at a higher
 * architectural level.  Without FEAT_LPA2 those are invalidated unhinted;
 * with it the hint names level 0 and the block is missed, as on hardware.
 */
static int effective_level(const struct ptsim_machine *m, int level, bool range_op)
{
	if (level < 0 || level > 3)
		return TLBI_TTL_UNKNOWN;
	if (range_op)
		return level == 0 ? TLBI_TTL_UNKNOWN : level;   /* TTL 0b00 in a range op: no hint */
	if (!m->v.arm64_ttl)
		return TLBI_TTL_UNKNOWN;
	if (level == 0 && (!arm64_m(m)->feat_lpa2 || m->geo.page_shift == 16))
		return TLBI_TTL_UNKNOWN;   /* reserved TTL encoding: no hint */
	return level;
}

static uint32_t op_arrays(enum tlbi_op op, int level)
{
	bool walk = op == OP_VAE1IS || op == OP_RVAE1IS;
	uint32_t arrays = leaf_arrays(level);

	if (walk)
		arrays |= walk_arrays(level);
	return arrays;
}

/* Drop @mm's whole-ASID entries (@what: TLBINV_*) on every CPU that may cache it, both ASIDs of a KPTI pair. */
static void inv_mm_asids(struct ptsim_machine *m, struct mm_struct *mm, unsigned int what)
{
	uint16_t asid = ASID(mm);
	uint16_t utag = arm64_user_tag(m, asid);
	unsigned int c;

	for_each_cpu(c, &mm->tlb_cached, m->nr_cpus) {
		tlb_inv_asid(m, &m->cpus[c], utag, what);
		if (utag != asid)
			tlb_inv_asid(m, &m->cpus[c], asid, what);
	}
}

/* Apply one TLBI to every CPU that may cache @mm, for both ASIDs of a KPTI pair. */
static void tlbi_va_all_cpus(struct ptsim_machine *m, struct mm_struct *mm, uint64_t start, uint64_t end,
			     uint32_t arrays)
{
	uint16_t asid = ASID(mm);
	uint16_t utag = arm64_user_tag(m, asid);
	unsigned int c;

	for_each_cpu(c, &mm->tlb_cached, m->nr_cpus) {
		tlb_inv_range_arrays(m, &m->cpus[c], utag, start, end, arrays);
		if (utag != asid)
			tlb_inv_range_arrays(m, &m->cpus[c], asid, start, end, arrays);
	}
}

/* __tlbi_level_asid(): one VA operation at @addr. */
static void __tlbi_level_asid(struct ptsim_machine *m, struct mm_struct *mm, enum tlbi_op op, uint64_t addr,
			      int level)
{
	int lvl = effective_level(m, level, false);

	count_tlbi(m, op == OP_VAE1IS ? ST_TLBI_VAE1IS : ST_TLBI_VALE1IS);
	tlbi_va_all_cpus(m, mm, addr, addr + 1, op_arrays(op, lvl));
}

/* __tlbi_range(): one range operation covering @pages pages from @addr. */
static void __tlbi_range(struct ptsim_machine *m, struct mm_struct *mm, enum tlbi_op op, uint64_t addr,
			 uint64_t pages, int level)
{
	int lvl = effective_level(m, level, true);

	count_tlbi(m, op == OP_RVAE1IS ? ST_TLBI_RVAE1IS : ST_TLBI_RVALE1IS);
	tlbi_va_all_cpus(m, mm, addr, addr + (pages << PAGE_SHIFT(m)), op_arrays(op, lvl));
}

/* __TLBI_RANGE_PAGES(num, scale) */
static uint64_t tlbi_range_pages(int num, int scale)
{
	return (uint64_t)(num + 1) << (5 * scale + 1);
}

/* __TLBI_RANGE_NUM(pages, scale): -1 when not even (0 + 1) units fit. */
static int tlbi_range_num(uint64_t pages, int scale)
{
	uint64_t p = pages < tlbi_range_pages(31, scale) ? pages : tlbi_range_pages(31, scale);
	return (int)(p >> (5 * scale + 1)) - 1;
}

/*
 * __flush_tlb_range_op - the operations for [@start, +@pages).  Without
 * FEAT_TLBIRANGE one VA operation per stride.  With it: leading pages one by
 * one until 64 KiB alignment (LPA2 only), then range operations from the
 * largest scale down, and a single page left over by a single operation.
 */
static void __flush_tlb_range_op(struct ptsim_machine *m, struct mm_struct *mm, bool walk, uint64_t start,
				 uint64_t pages, uint64_t stride, int level)
{
	uint64_t addr = start, end = start + (pages << PAGE_SHIFT(m));
	bool range = m->v.arm64_tlbi_range;
	bool lpa2 = arm64_m(m)->lpa2;
	int scale = 3;

	while (addr != end) {
		int num;

		pages = (end - addr) >> PAGE_SHIFT(m);
		if (!range || pages == 1)
			goto invalidate_one;
		if (lpa2 && (addr & ((64ull << 10) - 1)))
			goto invalidate_one;
		num = tlbi_range_num(pages, scale);
		if (num >= 0) {
			__tlbi_range(m, mm, walk ? OP_RVAE1IS : OP_RVALE1IS, addr, tlbi_range_pages(num, scale), level);
			addr += tlbi_range_pages(num, scale) << PAGE_SHIFT(m);
		}
		scale--;
		continue;
invalidate_one:
		__tlbi_level_asid(m, mm, walk ? OP_VAE1IS : OP_VALE1IS, addr, level);
		addr += stride;
	}
}

/* __tlbi_sync_s1ish(): DSB ISH, the broadcast completes. */
static void tlbi_sync(struct ptsim_machine *m)
{
	STAT_INC(m, TLBI_DSB);
}

/**
 * arm64_flush_tlb_mm - flush_tlb_mm(): TLBI ASIDE1IS for the mm's ASID (and
 * its user twin with KPTI) on every CPU; walk caches included.
 */
void arm64_flush_tlb_mm(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	count_tlbi(m, ST_TLBI_ASIDE1IS);
	inv_mm_asids(m, mm, TLBINV_LEAF | TLBINV_PWC);
	tlbi_sync(m);
	bbm_tlbi_mm(m, mm);
}

/* MAX_DVM_OPS = PTRS_PER_PTE: what one walk of a last-level table would touch. */
static uint64_t max_dvm_ops(const struct ptsim_machine *m)
{
	return PTRS_PER_PTE(m);
}

/*
 * __flush_tlb_range_limit_excess() up to 6.19: too many stride operations
 * without FEAT_TLBIRANGE, or more than MAX_TLBI_RANGE_PAGES pages — the
 * second test applying with or without the feature, so a few large strides
 * (1 GiB blocks over more than 8 GiB at 4 KiB) become one ASIDE1IS.
 */
static bool __flush_tlb_range_limit_excess_6_x(const struct ptsim_machine *m, uint64_t pages, uint64_t stride)
{
	if (!m->v.arm64_tlbi_range && pages >= (max_dvm_ops(m) * stride) >> PAGE_SHIFT(m))
		return true;
	return pages > MAX_TLBI_RANGE_PAGES;
}

/*
 * __flush_tlb_range_limit_excess() of 2026 (Will Deacon's simplification,
 * posted July 2025, in the form its review settled on): with
 * FEAT_TLBIRANGE at most four range operations cover up to
 * MAX_TLBI_RANGE_PAGES pages; without it only the number of stride
 * operations counts.
 */
static bool __flush_tlb_range_limit_excess_7_0(const struct ptsim_machine *m, uint64_t pages, uint64_t stride)
{
	if (m->v.arm64_tlbi_range)
		return pages > MAX_TLBI_RANGE_PAGES;
	return pages >= (max_dvm_ops(m) * stride) >> PAGE_SHIFT(m);
}

/* tlb_flush() before c2ff4764e03e: walk caches only for freed tables (unsharing: leaf-only, CVE-2026-63875). */
static bool tlb_flush_last_level_8ce720d5bd91(const struct mmu_gather *tlb)
{
	return !tlb->freed_tables;
}

/* tlb_flush() since c2ff4764e03e (7.1; stable 6.18.35, 6.12.93, 7.0.12): unshared tables count as freed. */
static bool tlb_flush_last_level_c2ff4764e03e(const struct mmu_gather *tlb)
{
	return !(tlb->freed_tables || tlb->unshared_tables);
}

/* The kernel era's functions, chosen once when the machine is configured. */
void arm64_tlb_setup(struct ptsim_machine *m)
{
	arm64_m(m)->range_limit_excess = m->v.arm64_range_limit == ARM64_RANGE_LIMIT_PER_FEATURE
						 ? __flush_tlb_range_limit_excess_7_0
						 : __flush_tlb_range_limit_excess_6_x;
	arm64_m(m)->tlb_flush_last_level =
		m->v.arm64_walkcache_fix ? tlb_flush_last_level_c2ff4764e03e : tlb_flush_last_level_8ce720d5bd91;
}

static void __do_flush_tlb_range(struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t stride, int tlb_level,
				 unsigned int flags)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t pages = (end - start) >> PAGE_SHIFT(m);
	bool walk = !(flags & TLBF_NOWALKCACHE);

	if (arm64_m(m)->range_limit_excess(m, pages, stride)) {
		arm64_flush_tlb_mm(mm);
		return;
	}
	/* dsb(ishst) */
	__flush_tlb_range_op(m, mm, walk, start, pages, stride, tlb_level);
	if (!(flags & TLBF_NOSYNC)) {
		tlbi_sync(m);
		bool range = m->v.arm64_tlbi_range;
		bbm_tlbi_range(m, mm, start, end, range ? PAGE_SIZE(m) : stride, !walk,
			       effective_level(m, tlb_level, range));
	}
}

/**
 * __flush_tlb_range - invalidate [@start, @end) of @mm at @stride granularity,
 * leaf entries only with TLBF_NOWALKCACHE, level hint @tlb_level (3 = last
 * level, TLBI_TTL_UNKNOWN = none).
 */
void __flush_tlb_range(struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t stride, int tlb_level,
		       unsigned int flags)
{
	start &= ~(stride - 1);                   /* round_down() */
	end = (end + stride - 1) & ~(stride - 1); /* round_up() */
	__do_flush_tlb_range(mm, start, end, stride, tlb_level, flags);
}

/* flush_tlb_range(): may be invalidating table entries too, level unknown. */
void arm64_flush_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	__flush_tlb_range(vma->vm_mm, start, end, PAGE_SIZE(vma->vm_mm->machine), TLBI_TTL_UNKNOWN, TLBF_NONE);
}

/* flush_tlb_page(): one last-level entry, walk caches untouched. */
void arm64_flush_tlb_page(struct vm_area_struct *vma, uint64_t addr)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	uint64_t start = addr & ~(PAGE_SIZE(m) - 1);

	__do_flush_tlb_range(vma->vm_mm, start, start + PAGE_SIZE(m), PAGE_SIZE(m), TLBI_TTL_UNKNOWN,
			     TLBF_NOWALKCACHE);
}

/* flush_tlb_all(): TLBI VMALLE1IS. */
void arm64_flush_tlb_all(struct ptsim_machine *m)
{
	m->stats[ST_TLBI_VMALLE1IS]++;
	for (unsigned int c = 0; c < m->nr_cpus; c++)
		tlb_inv_all(m, &m->cpus[c], TLBINV_LEAF | TLBINV_PWC);
	tlbi_sync(m);
	bbm_tlbi_all(m);
}

/* local_flush_tlb_all(): TLBI VMALLE1 on @cpu only (dsb nsh; no broadcast). */
void local_flush_tlb_all(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	STAT_INC(m, TLBI_VMALLE1);
	tlb_inv_all(m, cpu, TLBINV_LEAF | TLBINV_PWC);
}

/**
 * __flush_hugetlb_tlb_range - a hugetlb range at the huge page's own stride,
 * with the level its size implies (contiguous sizes at the level of their
 * entries).
 */
void __flush_hugetlb_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end, uint64_t stride,
			       bool last_level)
{
	struct ptsim_machine *m = vma->vm_mm->machine;
	const struct pt_geometry *g = &m->geo;
	int level = TLBI_TTL_UNKNOWN;

	if (g->pud_leaf_size && stride == g->pud_leaf_size)
		level = 1;
	else if (stride == g->pmd_leaf_size || (g->cont_pmd_size && stride == g->cont_pmd_size))
		level = 2;
	else if (stride == PAGE_SIZE(m) || (g->cont_pte_size && stride == g->cont_pte_size))
		level = 3;
	__flush_tlb_range(vma->vm_mm, start, end, stride, level, last_level ? TLBF_NOWALKCACHE : TLBF_NONE);
}

/* flush_hugetlb_tlb_range(): the VMA's huge page size as the stride, walk caches too. */
void arm64_flush_hugetlb_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	__flush_hugetlb_tlb_range(vma, start, end, huge_page_size(vma), false);
}

/*
 * tlb_get_level - the TTL hint for an mmu_gather flush: unknown if tables
 * were freed or more than one kind of entry was cleared.
 */
static int tlb_get_level(const struct mmu_gather *tlb)
{
	if (tlb->freed_tables)
		return TLBI_TTL_UNKNOWN;
	if (tlb->cleared_ptes && !(tlb->cleared_pmds || tlb->cleared_puds || tlb->cleared_p4ds))
		return 3;
	if (tlb->cleared_pmds && !(tlb->cleared_ptes || tlb->cleared_puds || tlb->cleared_p4ds))
		return 2;
	if (tlb->cleared_puds && !(tlb->cleared_ptes || tlb->cleared_pmds || tlb->cleared_p4ds))
		return 1;
	if (tlb->cleared_p4ds && !(tlb->cleared_ptes || tlb->cleared_pmds || tlb->cleared_puds))
		return 0;
	return TLBI_TTL_UNKNOWN;
}

/**
 * arm64_tlb_flush - tlb_flush() of an mmu_gather.  Walk caches are
 * invalidated when tables were freed (and, with c2ff4764e03e, unshared);
 * otherwise leaf entries only.  A fullmm teardown flushes the ASID only when
 * walk caches must go: the allocator will not hand the ASID out again without
 * invalidating every TLB.
 */
void arm64_tlb_flush(struct mmu_gather *tlb)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	bool last_level = arm64_m(m)->tlb_flush_last_level(tlb);
	uint64_t stride = tlb_get_unmap_size(tlb);
	int tlb_level = tlb_get_level(tlb);

	if (tlb->fullmm) {
		if (!last_level) {
			arm64_flush_tlb_mm(mm);
		} else {
			/* ptsim: see the file head; no instruction is issued. */
			inv_mm_asids(m, mm, TLBINV_LEAF);
		}
		return;
	}
	__flush_tlb_range(mm, tlb->start, tlb->end, stride, tlb_level, last_level ? TLBF_NOWALKCACHE : TLBF_NONE);
}

/*
 * arm64_flush_tlb_mms - mshare's cpumask_union on arm64: there is no mask to
 * union (broadcast TLBIs reach every CPU); the batch is one TLBI ASIDE1IS per
 * mm and a single DSB at the end, as arch_tlbbatch_flush() completes the
 * TLBIs arch_tlbbatch_add_pending() issued.  No IPI.
 */
void arm64_flush_tlb_mms(struct ptsim_machine *m, struct mm_struct *const *mms, unsigned int nr, bool freed_tables)
{
	(void)freed_tables;   /* ASIDE1IS takes the walk caches too */
	for (unsigned int i = 0; i < nr; i++) {
		count_tlbi(m, ST_TLBI_ASIDE1IS);
		inv_mm_asids(m, mms[i], TLBINV_LEAF | TLBINV_PWC);
	}
	tlbi_sync(m);
	for (unsigned int i = 0; i < nr; i++)
		bbm_tlbi_mm(m, mms[i]);
}

/*
 * The reclaim batch on arm64: defer whenever possible (no
 * ARM64_WORKAROUND_REPEAT_TLBI here); arch_tlbbatch_add_pending() issues the
 * last-level TLBIs of the range at once without a DSB
 * (__flush_tlb_range_nosync()), arch_tlbbatch_flush() is the one DSB that
 * completes them.  No IPI.  ptsim: the break-before-make bookkeeping is
 * settled at the TLBIs (nothing runs in between in the simulation).
 */
bool arm64_tlbbatch_should_defer(struct mm_struct *mm)
{
	(void)mm;
	return true;
}

void arm64_tlbbatch_add_pending(struct arch_tlbflush_unmap_batch *batch, struct mm_struct *mm, uint64_t start,
				uint64_t end)
{
	struct ptsim_machine *m = mm->machine;

	__flush_tlb_range(mm, start, end, PAGE_SIZE(m), 3, TLBF_NOWALKCACHE | TLBF_NOSYNC);
	bbm_tlbi_range(m, mm, start, end, PAGE_SIZE(m), true, effective_level(m, 3, m->v.arm64_tlbi_range));
	batch->mm = mm;
}

void arm64_tlbbatch_flush(struct ptsim_machine *m, struct arch_tlbflush_unmap_batch *batch)
{
	tlbi_sync(m);
	batch->mm = NULL;
}

/* arm64_retire_mm - ptsim: @mm is freed: its ASID's entries can never be used again (rollover flushes before reuse). */
void arm64_retire_mm(struct mm_struct *mm)
{
	inv_mm_asids(mm->machine, mm, TLBINV_LEAF | TLBINV_PWC);
}
