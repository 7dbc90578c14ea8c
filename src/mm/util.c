/*
 * The process layout: where the mmap area starts (arch_pick_mmap_layout()),
 * and the randomization of a new program's layout.
 *
 * Models mm/util.c at v6.18: mmap_base(), arch_pick_mmap_layout() and
 * mmap_is_legacy() (CONFIG_ARCH_WANT_DEFAULT_TOPDOWN_MMAP_LAYOUT: arm64;
 * shared with x86's layout with mmap_legacy_base(), see there),
 * arch_mmap_rnd(), randomize_stack_top(), randomize_page() and
 * arch_randomize_brk(); arch_align_stack() of arch/x86/kernel/process.c and
 * arch/arm64/kernel/process.c.  x86's arch_pick_mmap_layout() is in
 * src/arch/x86/mmap.c (chosen through the arch ops).
 *
 * Top-down (the default): mmap_base = PAGE_ALIGN(window - gap - rnd), where
 * the window is DEFAULT_MAP_WINDOW (x86-64: 2^47 - 4 KiB, also with 5-level
 * paging; arm64: 2^min(48, va_bits)) and gap = RLIMIT_STACK + stack_guard_gap
 * (8 MiB + 256 pages), plus the stack's random range when randomizing,
 * clamped to [128 MiB, window / 6 * 5]: without randomization x86-64 gives
 * 0x7ffff7fff000 (measured here), arm64 4K/48-bit 0xfffff8000000.
 * Legacy (vm.legacy_va_layout or ADDR_COMPAT_LAYOUT; the machine setting
 * legacy_va_layout): bottom-up from TASK_UNMAPPED_BASE (x86-64:
 * PAGE_ALIGN(window / 3), arm64: window / 4), plus rnd.  Measured here:
 * x86-64 6.18 takes the legacy layout only from those two (an unlimited
 * RLIMIT_STACK gives the top-down layout with the largest gap); the generic
 * mmap_is_legacy() also takes it from an unlimited stack, which ptsim's
 * fixed 8 MiB limit never is.
 *
 * Randomization (the machine setting randomize_va_space, as the sysctl;
 * ptsim's default is 0): PF_RANDOMIZE is set for every new mm when it is not
 * 0.  Then rnd = arch_mmap_rnd() = mmap_rnd_bits random pages (x86-64 28,
 * arm64 18/16/14 for 4K/16K/64K pages, or the mmap_rnd_bits setting within
 * ARCH_MMAP_RND_BITS_MIN .. _MAX, checked at machine creation), the stack top moves down by up to
 * STACK_RND_MASK pages (x86-64 0x3fffff, arm64 0x3ffff for 4K) and then
 * arch_align_stack() (x86-64: below 8 KiB, arm64: below a page, then
 * page-aligned up), and with 2 the heap starts a page past the image and
 * then up to 1 GiB - 1 page higher (arch_randomize_brk(), both 64-bit
 * arches).  Not modelled: the 32-bit compat bases (x86's
 * mmap_compat_base), the vDSO, and the ELF_ET_DYN_BASE load bias of a PIE
 * (exec segments are where the trace puts them).
 *
 * ptsim: the kernel's get_random_long() reads the CPU's CRNG; here every mm
 * has its own stream (splitmix64) seeded by the machine's seed and the mm's
 * number (its creation order, the "mm" of the report), so an mm's layout
 * depends on those two only: not on what other mms or events did.  Draws in
 * the kernel's order: arch_pick_mmap_layout(), randomize_stack_top(),
 * arch_align_stack(), arch_randomize_brk().
 */
#include "mm/internal.h"

#include "arch/arch.h"

/* ptsim: PF_RANDOMIZE of the exec (randomize_va_space != 0, no ADDR_NO_RANDOMIZE). */
bool mm_pf_randomize(const struct ptsim_machine *m)
{
	return m->v.randomize_va_space != 0;
}

/* ptsim: the mm's stream starts from the machine's seed and the mm's number. */
void mm_random_init(struct mm_struct *mm)
{
	/* A salt keeps it apart from the machine's own generator with the same seed. */
	uint64_t z = mm->machine->cfg.seed ^ 0x6a09e667f3bcc909ull;

	mm->rnd_state = splitmix64_mix(z + (uint64_t)mm->id * 0x9e3779b97f4a7c15ull);
}

/* ptsim: get_random_long() for @mm's exec, from the mm's stream. */
uint64_t mm_get_random_long(struct mm_struct *mm)
{
	return splitmix64_mix(mm->rnd_state += 0x9e3779b97f4a7c15ull);
}

/* get_random_u32_below(): uniform in [0, ceil) by multiply-shift. */
static uint32_t get_random_u32_below(struct mm_struct *mm, uint32_t ceil)
{
	return (uint32_t)(((mm_get_random_long(mm) & 0xffffffffull) * ceil) >> 32);
}

/* arch_mmap_rnd(): mmap_rnd_bits random pages (x86's arch_rnd(mmap64_rnd_bits) is the same). */
uint64_t arch_mmap_rnd(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	return (mm_get_random_long(mm) & ((1ull << m->geo.mmap_rnd_bits) - 1)) << PAGE_SHIFT(m);
}

/*
 * mmap_base(): the top of the mmap area, a stack-sized gap below the
 * window's top (x86's mmap_base() computes the same with task_size = the
 * window and stack_maxrandom_size() for the pad).
 */
uint64_t mmap_base(struct ptsim_machine *m, uint64_t rnd)
{
	uint64_t window = m->geo.map_window;
	uint64_t gap = m->rlimit_stack;
	uint64_t pad = m->stack_guard_gap;
	uint64_t gap_min = 128ull << 20, gap_max = window / 6 * 5;

	/* The stack's random range, when randomizing. */
	if (mm_pf_randomize(m))
		pad += m->geo.stack_rnd_mask << PAGE_SHIFT(m);
	/* Values close to RLIM_INFINITY can overflow. */
	if (gap + pad > gap)
		gap += pad;
	if (gap < gap_min && gap_min < gap_max)
		gap = gap_min;
	else if (gap > gap_max)
		gap = gap_max;
	return (window - gap - rnd + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1);
}

/*
 * mmap_is_legacy(): ADDR_COMPAT_LAYOUT or vm.legacy_va_layout.  x86's and
 * the generic one agree in ptsim: the generic one's other trigger, an
 * unlimited RLIMIT_STACK, never holds (the simulated limit is 8 MiB), and x86
 * has none (measured).
 */
bool mmap_is_legacy(const struct ptsim_machine *m)
{
	return m->legacy_va_layout;
}

/* The bottom-up start: TASK_UNMAPPED_BASE + @rnd (x86's mmap_legacy_base(), the generic layout's legacy base). */
uint64_t mmap_legacy_base(const struct ptsim_machine *m, uint64_t rnd)
{
	return m->geo.unmapped_base + rnd;
}

/**
 * generic_arch_pick_mmap_layout - mm/util.c's arch_pick_mmap_layout(): set
 * @mm's mmap_base and MMF_TOPDOWN, as exec does for a new program
 * (setup_new_exec()).
 */
void generic_arch_pick_mmap_layout(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t random_factor = 0;

	if (mm_pf_randomize(m))
		random_factor = arch_mmap_rnd(mm);
	mm->mmap_legacy_base = m->geo.unmapped_base;   /* ptsim: x86's field; unused by the generic allocators */
	if (mmap_is_legacy(m)) {
		mm->mmap_base = mmap_legacy_base(m, random_factor);
		mm->mmf_topdown = false;
	} else {
		mm->mmap_base = mmap_base(m, random_factor);
		mm->mmf_topdown = true;
	}
}

/* arch_pick_mmap_layout(): the arch's (x86) or the generic one. */
void arch_pick_mmap_layout(struct mm_struct *mm)
{
	const struct ptsim_arch_ops *ops = mm->machine->ops;

	if (ops->pick_mmap_layout)
		ops->pick_mmap_layout(mm);
	else
		generic_arch_pick_mmap_layout(mm);
}

/* randomize_stack_top(): up to STACK_RND_MASK pages below the page-aligned @stack_top (stacks grow down). */
uint64_t randomize_stack_top(struct mm_struct *mm, uint64_t stack_top)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t random_variable = 0;

	if (mm_pf_randomize(m)) {
		random_variable = mm_get_random_long(mm);
		random_variable &= m->geo.stack_rnd_mask;
		random_variable <<= PAGE_SHIFT(m);
	}
	return ((stack_top + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1)) - random_variable;
}

/*
 * arch_align_stack(): a random few bytes off @sp (x86: below 8 KiB, arm64: below a page), 16-byte aligned.
 * The kernel tests randomize_va_space here, not the task's PF_RANDOMIZE.
 */
uint64_t arch_align_stack(struct mm_struct *mm, uint64_t sp)
{
	struct ptsim_machine *m = mm->machine;

	if (m->v.randomize_va_space)
		sp -= get_random_u32_below(mm, (uint32_t)m->geo.align_stack_rnd);
	return sp & ~0xfull;
}

/* randomize_page(): a random page-aligned address in [start, start + range). */
uint64_t randomize_page(struct mm_struct *mm, uint64_t start, uint64_t range)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t mask = PAGE_SIZE(m) - 1;

	if (start & mask) {
		range -= ((start + mask) & ~mask) - start;
		start = (start + mask) & ~mask;
	}
	if (start > UINT64_MAX - range)
		range = UINT64_MAX - start;
	range >>= PAGE_SHIFT(m);
	if (range == 0)
		return start;
	return start + ((mm_get_random_long(mm) % range) << PAGE_SHIFT(m));
}

/* arch_randomize_brk(): up to 1 GiB above mm->brk for a 64-bit task (x86-64 and the generic one alike). */
uint64_t arch_randomize_brk(struct mm_struct *mm)
{
	return randomize_page(mm, mm->brk, 1ull << 30);
}
