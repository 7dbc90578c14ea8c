/*
 * arm64 back-end: geometry and the ops table.
 *
 * Geometry (kernel-model 1.2; arch/arm64/include/asm/pgtable-hwdef.h,
 * arch/arm64/Kconfig): each level resolves PAGE_SHIFT - 3 bits, and
 * CONFIG_PGTABLE_LEVELS = (VA_BITS - 4) / (PAGE_SHIFT - 3):
 *
 *   granule  VA bits -> levels            PMD block  PUD block  contiguous
 *   4 KiB    39 -> 3, 48 -> 4, 52 -> 5    2 MiB      1 GiB      64 KiB, 32 MiB
 *   16 KiB   36 -> 2, 47 -> 3, 48/52 -> 4 32 MiB     -          2 MiB, 1 GiB
 *   64 KiB   42 -> 2, 48/52 -> 3          512 MiB    -          2 MiB, 16 GiB
 *
 * Kernel levels map to architectural ones from the bottom: PTE = L3, PMD =
 * L2, PUD = L1, P4D = L0, and the PGD is the top real level (L-1 with 52-bit
 * LPA2 on 4 KiB pages).  Folded levels take the PGD's shift and one entry,
 * as asm-generic/pgtable-nop4d.h / -nopud.h / -nopmd.h fold them; every
 * table but the PGD is one page (PTRS_PER_* = PAGE_SIZE / 8), the PGD holds
 * 2^(VA_BITS - PGDIR_SHIFT) entries.  TASK_SIZE = 2^VA_BITS.
 *
 * hugetlb (arch/arm64/mm/hugetlbpage.c): PMD blocks always, PUD blocks only
 * with 4 KiB pages (pud_sect_supported()), contiguous PTE and PMD ranges;
 * PMD-table sharing with ARCH_WANT_HUGE_PMD_SHARE: 4 KiB pages, or 16 KiB
 * pages unless VA_BITS = 36.
 *
 * The defaults: 4 KiB pages, 48-bit VA (4 levels); a granule alone gives
 * 48-bit VA too (16 KiB: 4 levels, 64 KiB: 3).  The 52-bit fall-back of CPUs
 * without LPA2/LVA is not modelled: ask for the 48-bit (or 47-bit) geometry.
 */
#include <stdio.h>

#include "arch/arm64/arm64.h"
#include "mm/mmu_gather.h"

struct va_choice {
	unsigned int page_shift;
	unsigned int va_bits;
	unsigned int levels;
	bool by_levels;   /* the one paging_levels alone selects */
};

/* Every VA_BITS choice arch/arm64/Kconfig offers, per granule. */
static const struct va_choice va_choices[] = {
	{ 12, 39, 3, true }, { 12, 48, 4, true }, { 12, 52, 5, true },
	{ 14, 36, 2, true }, { 14, 47, 3, true }, { 14, 48, 4, true }, { 14, 52, 4, false },
	{ 16, 42, 2, true }, { 16, 48, 3, true }, { 16, 52, 3, false },
};

/* CONT_PTES / CONT_PMDS (arch/arm64/include/asm/pgtable-hwdef.h). */
static unsigned int cont_ptes(unsigned int page_shift)
{
	return page_shift == 12 ? 16 : page_shift == 14 ? 128 : 32;
}

static unsigned int cont_pmds(unsigned int page_shift)
{
	return page_shift == 12 ? 16 : 32;
}

static int pick_geometry(const struct ptsim_config *cfg, unsigned int *page_shift, unsigned int *va_bits,
			 unsigned int *levels, char *err, size_t errlen)
{
	unsigned int granule = cfg->granule ? cfg->granule : 4096;
	unsigned int want_va = cfg->va_bits, want_levels = cfg->paging_levels;
	const struct va_choice *pick = NULL;

	switch (granule) {
	case 4096:
		*page_shift = 12;
		break;
	case 16384:
		*page_shift = 14;
		break;
	case 65536:
		*page_shift = 16;
		break;
	default:
		snprintf(err, errlen, "arm64: granule must be 4096, 16384 or 65536 (got %u)", granule);
		return PTSIM_EBADCONFIG;
	}
	if (!want_va && !want_levels)
		want_va = 48;
	for (size_t i = 0; i < sizeof(va_choices) / sizeof(va_choices[0]); i++) {
		const struct va_choice *c = &va_choices[i];
		if (c->page_shift != *page_shift)
			continue;
		if (want_va ? c->va_bits == want_va : (c->levels == want_levels && c->by_levels)) {
			pick = c;
			break;
		}
	}
	if (!pick) {
		if (want_va)
			snprintf(err, errlen,
				 "arm64: va_bits %u is not a choice for the %u KiB granule (4K: 39/48/52, 16K: 36/47/48/52, "
				 "64K: 42/48/52)",
				 want_va, granule >> 10);
		else
			snprintf(err, errlen,
				 "arm64: paging_levels %u is not possible with the %u KiB granule (4K: 3-5, 16K: 2-4, "
				 "64K: 2-3)",
				 want_levels, granule >> 10);
		return PTSIM_EBADCONFIG;
	}
	if (want_levels && pick->levels != want_levels) {
		snprintf(err, errlen, "arm64: va_bits %u with the %u KiB granule gives %u levels, not paging_levels %u",
			 pick->va_bits, granule >> 10, pick->levels, want_levels);
		return PTSIM_EBADCONFIG;
	}
	*va_bits = pick->va_bits;
	*levels = pick->levels;
	return 0;
}

static void fill_geometry(struct pt_geometry *g, unsigned int page_shift, unsigned int va_bits, unsigned int levels)
{
	unsigned int bits = page_shift - 3;
	/* Enum levels below the PGD that are real: the bottom levels - 1 of P4D..PTE. */
	enum pt_level first_real = (enum pt_level)(NR_PT_LEVELS - (levels - 1));
	unsigned int pgdir_shift = bits * levels + 3;   /* ARM64_HW_PGTABLE_LEVEL_SHIFT(4 - levels) */

	memset(g, 0, sizeof(*g));
	g->page_shift = page_shift;
	g->shift[PT_PGD] = pgdir_shift;
	g->ptrs[PT_PGD] = 1u << (va_bits - pgdir_shift);
	for (int l = PT_P4D; l <= PT_PTE; l++) {
		if (l >= (int)first_real) {
			g->shift[l] = page_shift + bits * (unsigned int)(PT_PTE - l);
			g->ptrs[l] = 1u << bits;
		} else {
			g->folded[l] = true;
			g->shift[l] = pgdir_shift;
			g->ptrs[l] = 1;
		}
	}
	g->levels = levels;
	g->va_bits = va_bits;
	g->task_size = 1ull << va_bits;
	/* DEFAULT_MAP_WINDOW_64 = 1 << VA_BITS_MIN (48 at most); TASK_UNMAPPED_BASE = window / 4. */
	g->map_window = 1ull << (va_bits < 48 ? va_bits : 48);
	g->stack_top_max = g->map_window;   /* STACK_TOP_MAX = DEFAULT_MAP_WINDOW_64 (not ARM64_FORCE_52BIT) */
	g->unmapped_base = (g->map_window / 4 + (1ull << page_shift) - 1) & ~((1ull << page_shift) - 1);
	/* ARCH_MMAP_RND_BITS_MIN (the Kconfig default): 18, 16, 14 for 4K, 16K, 64K pages. */
	g->mmap_rnd_bits = page_shift == 12 ? 18 : page_shift == 14 ? 16 : 14;
	g->mmap_rnd_bits_min = g->mmap_rnd_bits;
	/* ARCH_MMAP_RND_BITS_MAX (about VA_BITS - PAGE_SHIFT - 3), per VA size; 52-bit as 48-bit. */
	g->mmap_rnd_bits_max = va_bits == 36 ? 19 : va_bits == 39 ? 24 : va_bits == 42 ? 27 : va_bits == 47 ? 30 :
			       page_shift == 12 ? 33 : page_shift == 14 ? 31 : 29;
	g->stack_rnd_mask = 0x3ffffull >> (page_shift - 12);   /* STACK_RND_MASK: 1 GiB */
	g->align_stack_rnd = 1ull << page_shift;                /* arch_align_stack(): below PAGE_SIZE */
	g->table_bytes = 1ull << page_shift;
	g->pmd_leaf_size = 1ull << g->shift[PT_PMD];
	g->pud_leaf_size = page_shift == 12 ? 1ull << g->shift[PT_PUD] : 0;   /* pud_sect_supported() */
	g->cont_pte_size = (uint64_t)cont_ptes(page_shift) << page_shift;
	g->cont_pmd_size = (uint64_t)cont_pmds(page_shift) << g->shift[PT_PMD];
	/* ARCH_WANT_HUGE_PMD_SHARE if ARM64_4K_PAGES || (ARM64_16K_PAGES && !ARM64_VA_BITS_36) */
	g->pmd_share = page_shift == 12 || (page_shift == 14 && va_bits != 36);
}

static int arm64_setup(struct ptsim_machine *m, const struct ptsim_config *cfg, char *err, size_t errlen)
{
	unsigned int page_shift, va_bits, levels;
	struct arm64_machine *am;
	int rc;

	rc = pick_geometry(cfg, &page_shift, &va_bits, &levels, err, errlen);
	if (rc)
		return rc;
	fill_geometry(&m->geo, page_shift, va_bits, levels);

	am = sim_calloc(&m->alloc, 1, sizeof(*am));
	if (!am)
		return SIM_ENOMEM;
	m->arch = am;
	/* lpa2_is_enabled(): 52-bit VA on 4K/16K pages (64K pages use LVA). */
	am->lpa2 = va_bits == 52 && page_shift != 16;
	/* The CPU feature: the kernel enables 52-bit VA on 4K/16K pages only if it is there. */
	am->feat_lpa2 = m->v.arm64_lpa2 == ARM64_LPA2_AUTO ? am->lpa2 : m->v.arm64_lpa2 == ARM64_LPA2_ON;
	if (am->lpa2 && !am->feat_lpa2) {
		snprintf(err, errlen,
			 "arm64: va_bits 52 with the %u KiB granule needs FEAT_LPA2 (arm64_lpa2=off): without it the "
			 "kernel falls back to %u bits at boot; ask for that geometry",
			 1u << (page_shift - 10), page_shift == 12 ? 48 : 47);
		sim_free(&m->alloc, am, sizeof(*am));
		m->arch = NULL;
		return PTSIM_EBADCONFIG;
	}
	arm64_tlb_setup(m);
	rc = arm64_asids_init(m, err, errlen);
	if (rc) {
		arm64_asids_release(m);
		sim_free(&m->alloc, am, sizeof(*am));
		m->arch = NULL;
		if (rc == SIM_ENOMEM)
			snprintf(err, errlen, "out of memory");
		return rc;
	}
	return 0;
}

static void arm64_teardown(struct ptsim_machine *m)
{
	struct arm64_machine *am = m->arch;

	if (!am)
		return;
	bbm_release(m);
	arm64_asids_release(m);
	sim_free(&m->alloc, am, sizeof(*am));
	m->arch = NULL;
}

/*
 * The hardware descriptor bits behind a simulated entry: output address,
 * block/page type, the contiguous hint, AF, UXN, DBM (= writable) and AP[2] (read-only unless
 * writable and dirty: hardware dirty-bit management).  Everything else (the
 * software dirty bit of a read-only entry, special, uffd-wp) is a software bit.
 */
static pgent_t hw_bits(pgent_t e)
{
	bool w = e & _PAGE_RW, rdonly = !(w && (e & _PAGE_DIRTY));

	return ((pgent_t)pgent_pfn(e) << _PAGE_PFN_SHIFT) | (e & (_PAGE_HUGE | _PAGE_CONT | _PAGE_ACCESSED | _PAGE_NX)) |
	       (pgent_hw_present(e) ? _PAGE_PRESENT : 0) | (w ? _PAGE_RW : 0) | (rdonly ? _PAGE_DIRTY : 0);
}

/*
 * pte_needs_flush() (arch/arm64/include/asm/tlbflush.h,
 * __pte_flags_need_flush()): no flush from an invalid entry; otherwise any
 * change outside the software bits.
 */
static bool arm64_pte_needs_flush(pgent_t oldpte, pgent_t newpte)
{
	if (!pgent_hw_present(oldpte))
		return false;
	return hw_bits(oldpte) != hw_bits(newpte);
}

static void arm64_describe(const struct ptsim_machine *m, sim_desc_emit_fn emit, void *ctx)
{
	char buf[32];

	emit(ctx, "arch", DESC_STRING, "arm64");
	snprintf(buf, sizeof(buf), "%llu", 1ull << m->geo.page_shift);
	emit(ctx, "granule", DESC_NUMBER, buf);
	snprintf(buf, sizeof(buf), "%u", m->geo.va_bits);
	emit(ctx, "va_bits", DESC_NUMBER, buf);
	snprintf(buf, sizeof(buf), "%u", m->geo.levels);
	emit(ctx, "paging_levels", DESC_NUMBER, buf);
	snprintf(buf, sizeof(buf), "%u", arm64_m(m)->asid_bits);
	emit(ctx, "asid_bits", DESC_NUMBER, buf);
}

const struct ptsim_arch_ops ptsim_arm64_ops = {
	.name = "arm64",
	.version = PTSIM_ARCH_OPS_VERSION,
	.setup = arm64_setup,
	.teardown = arm64_teardown,
	.init_new_context = arm64_init_new_context,
	.destroy_context = arm64_destroy_context,
	.switch_mm = arm64_switch_mm,
	.enter_lazy_tlb = arm64_enter_lazy_tlb,
	.tlb_flush = arm64_tlb_flush,
	.flush_tlb_mm = arm64_flush_tlb_mm,
	.flush_tlb_range = arm64_flush_tlb_range,
	.flush_tlb_page = arm64_flush_tlb_page,
	.flush_tlb_all = arm64_flush_tlb_all,
	.mmu_gather_merge_vmas = false,            /* one flush per VMA */
	.wants_old_prefaulted_pte = true,          /* cpu_has_hw_af(): FEAT_HAFDBS assumed */
	.tlb_remove_table_sync_one = NULL,         /* generic: SGIs to every other CPU, waiting */
	.pte_needs_flush = arm64_pte_needs_flush,
	.set_entry = arm64_set_entry,
	.cpu_idle = NULL,
	.describe = arm64_describe,
	.flush_hugetlb_tlb_range = arm64_flush_hugetlb_tlb_range,
	.hugetlb_valid_size = arm64_hugetlb_valid_size,
	.huge_pte_alloc = arm64_huge_pte_alloc,
	.huge_pte_offset = arm64_huge_pte_offset,
	.arch_make_huge_pte = arm64_make_huge_pte,
	.set_huge_pte_at = arm64_set_huge_pte_at,
	.huge_ptep_get_and_clear = arm64_huge_ptep_get_and_clear,
	.huge_ptep_clear_flush = arm64_huge_ptep_clear_flush,
	.huge_ptep_set_wrprotect = arm64_huge_ptep_set_wrprotect,
	.flush_tlb_mms = arm64_flush_tlb_mms,
	.tlbbatch_should_defer = arm64_tlbbatch_should_defer,
	.tlbbatch_add_pending = arm64_tlbbatch_add_pending,
	.tlbbatch_flush = arm64_tlbbatch_flush,
	.retire_mm = arm64_retire_mm,
};
