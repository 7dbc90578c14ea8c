/*
 * The process layout: where the mmap area starts (arch_pick_mmap_layout()).
 *
 * Models mm/util.c (mmap_base(), arch_pick_mmap_layout(), mmap_is_legacy())
 * and arch/x86/mm/mmap.c (the same with x86's task size) at v6.18, without
 * randomization (what a process gets under personality(ADDR_NO_RANDOMIZE) or
 * randomize_va_space=0): the arch's rnd is 0 and no stack randomization pad
 * is added.
 *
 * Top-down (the default): mmap_base = PAGE_ALIGN(window - gap), where the
 * window is DEFAULT_MAP_WINDOW (x86-64: 2^47 - 4 KiB, also with 5-level
 * paging; arm64: 2^min(48, va_bits)) and gap = RLIMIT_STACK + stack_guard_gap
 * (8 MiB + 256 pages), clamped to [128 MiB, window / 6 * 5]: x86-64 gives
 * 0x7ffff7fff000 (measured here), arm64 4K/48-bit 0xfffff8000000.
 * Legacy (vm.legacy_va_layout or ADDR_COMPAT_LAYOUT; the machine setting
 * legacy_va_layout): bottom-up from TASK_UNMAPPED_BASE (x86-64:
 * PAGE_ALIGN(window / 3), arm64: window / 4).  Measured here: x86-64 6.18
 * takes the legacy layout only from those two (an unlimited RLIMIT_STACK
 * gives the top-down layout with the largest gap); the generic
 * mmap_is_legacy() also takes it from an unlimited stack, which ptsim's
 * fixed 8 MiB limit never is.
 */
#include "mm/internal.h"

/* mmap_base(): the top of the mmap area, a stack-sized gap below the window's top. */
static uint64_t mmap_base(struct ptsim_machine *m, uint64_t rnd)
{
	uint64_t window = m->geo.map_window;
	uint64_t gap = m->rlimit_stack;
	uint64_t pad = m->stack_guard_gap;   /* + the stack's random range when randomizing */
	uint64_t gap_min = 128ull << 20, gap_max = window / 6 * 5;

	/* Values close to RLIM_INFINITY can overflow. */
	if (gap + pad > gap)
		gap += pad;
	if (gap < gap_min)
		gap = gap_min;
	else if (gap > gap_max)
		gap = gap_max;
	return (window - gap - rnd + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1);
}

/**
 * arch_pick_mmap_layout - set @mm's mmap_base, mmap_legacy_base and
 * MMF_TOPDOWN, as exec does for a new program (setup_new_exec()).
 */
void arch_pick_mmap_layout(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	mm->mmap_legacy_base = m->geo.unmapped_base;
	if (m->legacy_va_layout) {
		mm->mmap_base = mm->mmap_legacy_base;
		mm->mmf_topdown = false;
	} else {
		mm->mmap_base = mmap_base(m, 0);
		mm->mmf_topdown = true;
	}
}
