/*
 * x86-64's mmap allocators: arch_get_unmapped_area() (legacy, bottom-up) and
 * arch_get_unmapped_area_topdown() (the default), and the layout they start
 * from, arch_pick_mmap_layout() (arch/x86/mm/mmap.c at v6.18; its
 * mmap_is_legacy() and mmap_legacy_base() are shared with the generic layout
 * in src/mm/util.c, where they say the same).
 *
 * Models arch/x86/kernel/sys_x86_64.c and mmap_address_hint_valid() of
 * arch/x86/mm/mmap.c at v6.18.  With 5-level paging the default window stays
 * 47 bits (DEFAULT_MAP_WINDOW); only a hint above it searches the whole
 * 56-bit space.  A hint is taken if the range is free up to the next VMA's
 * guard gap (no check of the VMA below, unlike the generic allocator).
 * Not modelled: MAP_32BIT, MAP_ABOVE4G, 32-bit syscalls, and the AMD F15h
 * I-cache alignment (va_align, off unless booted with align_va_addr).
 */
#include "arch/x86/x86.h"

/* mmap_address_hint_valid(): inside TASK_SIZE and on one side of the 47-bit window. */
static bool mmap_address_hint_valid(struct ptsim_machine *m, uint64_t addr, uint64_t len)
{
	if (m->geo.task_size - len < addr)
		return false;
	return (addr > m->geo.map_window) == (addr + len > m->geo.map_window);
}

/* get_align_mask(): hugetlbfs files align to their huge page. */
static uint64_t get_align_mask(struct ptsim_machine *m, const struct sim_file *file)
{
	if (is_file_hugepages(file))
		return ((1ull << file->page_shift) - 1) & ~(PAGE_SIZE(m) - 1);
	return 0;
}

uint64_t x86_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
				      uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_unmapped_area_info info = { 0 };
	struct vm_area_struct *vma;
	uint64_t begin, end;

	(void)vm_flags;
	if (flags & MAP_FIXED)
		return addr;
	/* find_start_end() */
	begin = mm->mmap_legacy_base;
	end = addr > m->geo.map_window ? m->geo.task_size : m->geo.map_window;
	if (len > end)
		return (uint64_t)-ENOMEM;
	if (addr) {
		addr = (addr + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1);
		vma = find_vma(mm, addr);
		if (end - len >= addr && (!vma || addr + len <= vm_start_gap(vma)))
			return addr;
	}
	info.length = len;
	info.low_limit = begin;
	info.high_limit = end;
	info.align_offset = pgoff << m->geo.page_shift;
	if (file)
		info.align_mask = get_align_mask(m, file);
	return vm_unmapped_area(mm, &info);
}

uint64_t x86_get_unmapped_area_topdown(struct mm_struct *mm, const struct sim_file *file, uint64_t addr0,
					      uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_unmapped_area_info info = { 0 };
	struct vm_area_struct *vma;
	uint64_t addr = addr0;

	if (len > m->geo.task_size)
		return (uint64_t)-ENOMEM;
	if (flags & MAP_FIXED)
		return addr;
	if (addr) {
		addr &= ~(PAGE_SIZE(m) - 1);
		if (mmap_address_hint_valid(m, addr, len)) {
			vma = find_vma(mm, addr);
			if (!vma || addr + len <= vm_start_gap(vma))
				return addr;
		}
	}
	info.flags = VM_UNMAPPED_AREA_TOPDOWN;
	info.length = len;
	info.low_limit = PAGE_SIZE(m);
	info.high_limit = mm->mmap_base;
	info.start_gap = 0;   /* stack_guard_placement(): no shadow stacks */
	/* A hint above the 47-bit window: search the whole address space. */
	if (addr > m->geo.map_window)
		info.high_limit += m->geo.task_size - m->geo.map_window;
	info.align_offset = pgoff << m->geo.page_shift;
	if (file)
		info.align_mask = get_align_mask(m, file);
	addr = vm_unmapped_area(mm, &info);
	if (!(addr & (PAGE_SIZE(m) - 1)))
		return addr;
	/* Nothing fits top-down: fall back to the bottom-up allocator. */
	return x86_get_unmapped_area(mm, file, addr0, len, pgoff, flags, vm_flags);
}

/* arch_pick_mmap_base(): both bases; mmap_base is the legacy one under the legacy layout. */
static void arch_pick_mmap_base(struct mm_struct *mm, uint64_t random_factor)
{
	struct ptsim_machine *m = mm->machine;

	mm->mmap_legacy_base = mmap_legacy_base(m, random_factor);
	if (mmap_is_legacy(m))
		mm->mmap_base = mm->mmap_legacy_base;
	else
		mm->mmap_base = mmap_base(m, random_factor);
}

/*
 * x86_arch_pick_mmap_layout - arch_pick_mmap_layout(): MMF_TOPDOWN unless
 * legacy, and the 64-bit bases from one arch_rnd(mmap64_rnd_bits) draw.  The
 * 32-bit compat bases (HAVE_ARCH_COMPAT_MMAP_BASES, a second draw) are not
 * modelled: ptsim has no 32-bit syscalls.
 */
void x86_arch_pick_mmap_layout(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	mm->mmf_topdown = !mmap_is_legacy(m);
	arch_pick_mmap_base(mm, mm_pf_randomize(m) ? arch_mmap_rnd(mm) : 0);
}
