/*
 * x86-64 back-end: geometry and the ops table.
 *
 * Geometry (kernel-model 1.1): 4-level paging (48-bit VA, P4D folded at run
 * time as pgtable_l5_enabled() does) or 5-level (57-bit); 512 eight-byte
 * entries per 4 KiB table; leaves of 4 KiB, 2 MiB (PMD) and 1 GiB (PUD);
 * hugetlb PMD sharing always available (ARCH_WANT_HUGE_PMD_SHARE).
 *
 * The flush rules live in tlb.c (port of arch/x86/mm/tlb.c, v6.18).
 */
#include <stdio.h>
#include <stdlib.h>

#include "arch/x86/x86.h"
#include "mm/mmu_gather.h"

static int x86_setup(struct ptsim_machine *m, const struct ptsim_config *cfg, char *err, size_t errlen)
{
	struct pt_geometry *g = &m->geo;
	unsigned int levels = cfg->paging_levels ? cfg->paging_levels : 4;

	if (levels != 4 && levels != 5) {
		snprintf(err, errlen, "x86_64: paging_levels must be 4 or 5 (got %u)", levels);
		return PTSIM_EBADCONFIG;
	}
	if (cfg->granule && cfg->granule != 4096) {
		snprintf(err, errlen, "x86_64: granule must be 4096 (got %u)", cfg->granule);
		return PTSIM_EBADCONFIG;
	}
	if (cfg->va_bits) {
		snprintf(err, errlen, "x86_64: va_bits is an arm64 setting (paging_levels decides it on x86)");
		return PTSIM_EBADCONFIG;
	}
	memset(g, 0, sizeof(*g));
	g->page_shift = 12;
	g->shift[PT_PTE] = 12;
	g->shift[PT_PMD] = 21;
	g->shift[PT_PUD] = 30;
	g->shift[PT_P4D] = 39;
	g->shift[PT_PGD] = levels == 5 ? 48 : 39;
	for (int l = 0; l < NR_PT_LEVELS; l++)
		g->ptrs[l] = 512;
	if (levels == 4) {
		g->folded[PT_P4D] = true;
		g->ptrs[PT_P4D] = 1;
	}
	g->levels = levels;
	g->va_bits = levels == 5 ? 56 : 47;
	g->task_size = (1ull << g->va_bits) - 4096;   /* TASK_SIZE_MAX */
	/* DEFAULT_MAP_WINDOW: the 47-bit window, also with 5-level paging; TASK_UNMAPPED_BASE = window / 3. */
	g->map_window = (1ull << 47) - 4096;
	g->stack_top_max = g->task_size;              /* STACK_TOP_MAX = TASK_SIZE_MAX */
	g->unmapped_base = (g->map_window / 3 + 4095) & ~4095ull;
	g->mmap_rnd_bits = 28;              /* ARCH_MMAP_RND_BITS_MIN for 64BIT (vm.mmap_rnd_bits here: 28) */
	g->mmap_rnd_bits_min = 28;
	g->mmap_rnd_bits_max = 32;          /* ARCH_MMAP_RND_BITS_MAX for 64BIT */
	g->stack_rnd_mask = 0x3fffff;       /* __STACK_RND_MASK(64-bit): 16 GiB */
	g->align_stack_rnd = 8192;          /* arch_align_stack(): get_random_u32_below(8192) */
	g->table_bytes = 4096;
	g->pmd_leaf_size = 1ull << 21;
	g->pud_leaf_size = 1ull << 30;
	g->pmd_share = true;

	struct x86_machine *xm = sim_calloc(&m->alloc, 1, sizeof(*xm));
	if (!xm)
		return SIM_ENOMEM;
	xm->global_asid_used = sim_calloc(&m->alloc, MAX_ASID_AVAILABLE + 1, 1);
	if (!xm->global_asid_used) {
		sim_free(&m->alloc, xm, sizeof(*xm));
		return SIM_ENOMEM;
	}
	xm->last_mm_ctx_id = INIT_MM_CTX_ID;
	x86_global_asid_init(xm);
	xm->invlpg_drops_all_pwc = m->v.x86_pwc_invlpg == X86_PWC_INVLPG_GLOBAL;
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		struct x86_tlbstate *ts = x86_ts(m, &m->cpus[c]);
		/* Boot: every CPU runs init_mm in ASID 0 (initialize_tlbstate_and_flush()). */
		ts->loaded_mm_asid = 0;
		ts->next_asid = 1;
		ts->ctxs[0].ctx_id = INIT_MM_CTX_ID;
		ts->ctxs[0].tlb_gen = 0;
		m->cpus[c].asid = 0;
	}
	m->arch = xm;
	x86_tlb_select_era(m);
	return 0;
}

static void x86_teardown(struct ptsim_machine *m)
{
	struct x86_machine *xm = m->arch;

	if (!xm)
		return;
	sim_free(&m->alloc, xm->global_asid_used, MAX_ASID_AVAILABLE + 1);
	sim_free(&m->alloc, xm, sizeof(*xm));
	m->arch = NULL;
}

/*
 * pte_needs_flush() (arch/x86/include/asm/tlbflush.h): no flush from a
 * non-present entry; a flush if the PFN, the present bit, RW or NX changed,
 * or the dirty bit was cleared; the accessed bit is ignored.
 */
static bool x86_pte_needs_flush(pgent_t oldpte, pgent_t newpte)
{
	if (!pgent_hw_present(oldpte))
		return false;
	if (pgent_pfn(oldpte) != pgent_pfn(newpte))
		return true;
	pgent_t diff = oldpte ^ newpte;
	if (diff & (_PAGE_RW | _PAGE_NX | _PAGE_PROTNONE | _PAGE_PRESENT))
		return true;
	if ((oldpte & ~newpte) & _PAGE_DIRTY)
		return true;
	return false;
}

static void x86_describe(const struct ptsim_machine *m, sim_desc_emit_fn emit, void *ctx)
{
	char buf[32];

	emit(ctx, "arch", DESC_STRING, "x86_64");
	snprintf(buf, sizeof(buf), "%u", m->geo.levels);
	emit(ctx, "paging_levels", DESC_NUMBER, buf);
	emit(ctx, "granule", DESC_NUMBER, "4096");
}

const struct ptsim_arch_ops ptsim_x86_64_ops = {
	.name = "x86_64",
	.version = PTSIM_ARCH_OPS_VERSION,
	.setup = x86_setup,
	.teardown = x86_teardown,
	.init_new_context = x86_init_new_context,
	.destroy_context = x86_destroy_context,
	.switch_mm = x86_switch_mm,
	.enter_lazy_tlb = x86_enter_lazy_tlb,
	.tlb_flush = x86_tlb_flush,
	.flush_tlb_mm = x86_flush_tlb_mm,
	.flush_tlb_range = x86_flush_tlb_range,
	.flush_tlb_page = x86_flush_tlb_page,
	.flush_tlb_all = x86_flush_tlb_all,
	.mmu_gather_merge_vmas = true,
	.tlb_remove_table_sync_one = NULL,   /* generic: IPI every other online CPU */
	.tlb_table_flush_implies_ipi_broadcast = x86_tlb_table_flush_implies_ipi_broadcast,
	.pte_needs_flush = x86_pte_needs_flush,
	.set_entry = NULL,
	.cpu_idle = x86_cpu_idle,
	.describe = x86_describe,
	.get_unmapped_area = x86_get_unmapped_area,
	.get_unmapped_area_topdown = x86_get_unmapped_area_topdown,
	.pick_mmap_layout = x86_arch_pick_mmap_layout,
	.flush_tlb_mms = x86_flush_tlb_mms,
	.tlbbatch_should_defer = x86_tlbbatch_should_defer,
	.tlbbatch_add_pending = x86_tlbbatch_add_pending,
	.tlbbatch_flush = x86_tlbbatch_flush,
	.retire_mm = x86_retire_mm,
	.retire_skipped = x86_retire_skipped,
};
