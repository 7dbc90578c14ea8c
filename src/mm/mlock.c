/*
 * mlock/munlock: port of mm/mlock.c at v6.18 (apply_vma_lock_flags(),
 * mlock_fixup() with the vma_modify_flags() split/merge, __mm_populate()).
 *
 * Locking one page of a VMA splits it in three; unlocking merges them back.
 * hugetlb and VM_SPECIAL VMAs never get VM_LOCKED (mlock_fixup() skips them).
 * mlock() then populates the range as GUP does.  Each VMA whose VM_LOCKED
 * changes drains the calling CPU's LRU add batch (swap.c).
 */
#include "mm/internal.h"

/*
 * mlock_vma_pages_range(): the walk that (un)mlocks the mapped folios, then
 * lru_add_drain() (measured on 6.18.44: mlock and munlock drain the calling
 * CPU's LRU add batch).  The folios' mlock state is not modelled: only the
 * drain is.
 */
static void mlock_vma_pages_range(struct mm_struct *mm)
{
	lru_add_drain(mm->machine);
}

static int mlock_fixup(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t start, uint64_t end,
		       uint64_t newflags)
{
	uint64_t oldflags = vma->vm_flags;
	int err;

	if (newflags == vma->vm_flags || (vma->vm_flags & VM_SPECIAL) || is_vm_hugetlb_page(vma))
		return 0;
	if (start > vma->vm_start) {
		err = __split_vma(mm, vma, start, 1);
		if (err)
			return err;
	}
	if (end < vma->vm_end) {
		err = __split_vma(mm, vma, end, 0);
		if (err)
			return err;
	}
	vma->vm_flags = newflags;
	vma_merge_around(mm, vma);
	/* Locked before and after (a VM_LOCKONFAULT change): no work to do. */
	if (!((newflags & VM_LOCKED) && (oldflags & VM_LOCKED)))
		mlock_vma_pages_range(mm);
	return 0;
}

/**
 * do_mlock - mlock (@lock) or munlock [start, start+len).
 * Return: 0, or -ENOMEM if part of the range is not mapped.
 */
int do_mlock(struct mm_struct *mm, uint64_t start, uint64_t len, bool lock)
{
	uint64_t end = start + len, nstart = start;
	struct vm_area_struct *vma = find_vma(mm, start);
	int err = 0;

	if (!vma || vma->vm_start > start)
		return -ENOMEM;
	for (;;) {
		uint64_t tmp = vma->vm_end < end ? vma->vm_end : end;
		uint64_t newflags = vma->vm_flags & ~(VM_LOCKED | VM_LOCKONFAULT);
		if (lock)
			newflags |= VM_LOCKED;
		err = mlock_fixup(mm, vma, nstart, tmp, newflags);
		if (err)
			return err;
		/*
		 * vma_iter_end(): go on from the end of the VMA that now holds
		 * the range; it may have merged with the next one (whose flags
		 * are then already the new ones).
		 */
		nstart = vma_lookup(mm, tmp - 1)->vm_end;
		if (nstart >= end)
			break;
		vma = find_vma(mm, nstart);
		if (!vma || vma->vm_start != nstart)
			return -ENOMEM;
	}
	if (lock)
		return mm_populate(mm, start, len);
	return 0;
}
