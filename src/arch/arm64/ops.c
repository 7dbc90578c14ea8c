/*
 * arm64 back-end.  Not built out yet: creating an arm64 machine fails with a
 * clear error until the arm64 issue lands (granules, levels, ASIDs, broadcast
 * TLBI, break-before-make).
 */
#include <stdio.h>

#include "arch/arch.h"

static int arm64_setup(struct ptsim_machine *m, const struct ptsim_config *cfg, char *err, size_t errlen)
{
	(void)m;
	(void)cfg;
	snprintf(err, errlen, "arch arm64 is not available in this build yet (x86_64 only)");
	return PTSIM_EBADCONFIG;
}

static void arm64_teardown(struct ptsim_machine *m) { (void)m; }
static int arm64_init_new_context(struct mm_struct *mm) { (void)mm; return -EINVAL; }
static void arm64_destroy_context(struct mm_struct *mm) { (void)mm; }
static void arm64_switch_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next)
{
	(void)m; (void)cpu; (void)next;
}
static void arm64_enter_lazy_tlb(struct ptsim_machine *m, struct sim_cpu *cpu) { (void)m; (void)cpu; }
static void arm64_tlb_flush(struct mmu_gather *tlb) { (void)tlb; }
static void arm64_flush_tlb_mm(struct mm_struct *mm) { (void)mm; }
static void arm64_flush_tlb_range(struct vm_area_struct *vma, uint64_t s, uint64_t e) { (void)vma; (void)s; (void)e; }
static void arm64_flush_tlb_page(struct vm_area_struct *vma, uint64_t a) { (void)vma; (void)a; }
static void arm64_flush_tlb_all(struct ptsim_machine *m) { (void)m; }

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
	.mmu_gather_merge_vmas = false,
};
