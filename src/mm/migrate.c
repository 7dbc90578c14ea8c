/*
 * Migration of one file-backed hugetlb folio, the rmap caller of
 * huge_pmd_unshare() (kernel-model 11.6): what move_pages(2) of one page does.
 *
 * Models, at v6.19 (after 8ce720d5bd91):
 *   mm/migrate.c  do_pages_move() -> add_page_for_migration() (the folio the
 *                 task maps at the address) -> migrate_pages() ->
 *                 unmap_and_move_huge_page(): take the file's i_mmap_rwsem
 *                 for write, try_to_migrate(TTU_RMAP_LOCKED), drop it; if
 *                 the folio is no longer mapped, move_to_new_folio()
 *                 (hugetlbfs_migrate_folio(): the page cache now holds the
 *                 new folio); remove_migration_ptes() maps the new folio (or
 *                 the old one again on failure) where migration entries are.
 *   mm/rmap.c     try_to_migrate() -> rmap_walk_file() over every VMA of the
 *                 file's i_mmap that maps the folio's offset, in i_mmap
 *                 order, stopping once the folio is not mapped any more ->
 *                 try_to_migrate_one() (its hugetlb part is in hugetlb.c:
 *                 hugetlb_try_to_migrate_one()).
 *
 * How sharing shows: a folio in a shared PMD table is mapped once (one
 * entry, one mapcount) however many mms share the table.  The walk visits
 * each sharer's VMA; a sharer whose table is still shared unshares it
 * (huge_pmd_unshare(): its PUD entry goes, which unmaps the folio from that
 * mm) until the table is exclusive; the last VMA's entry becomes a migration
 * entry.  Only the unshare that makes a table exclusive broadcasts (6.19).
 *
 * Left out: anonymous hugetlb folios (their rmap walk goes through the
 * anon_vma, which the simulation does not keep), non-hugetlb pages, NUMA
 * nodes (the new folio is just another frame), the retry passes of
 * migrate_pages() (a folio with extra references fails at once, -EBUSY).
 */
#include "mm/internal.h"

#include "arch/arch.h"

/* The folio's offset in the file in base pages (folio_pgoff()) and its size. */
static uint64_t folio_pgoff(struct ptsim_machine *m, uint32_t pfn)
{
	const struct sim_frame *f = frame(m, pfn);

	return f->u.page.index << (f->u.page.file->page_shift - m->geo.page_shift);
}

/*
 * rmap_walk_file() with try_to_migrate_one() or remove_migration_pte() as
 * rmap_one: every VMA of the file mapping the folio's offset, in i_mmap order.
 * @dst 0: unmap @src (stop once it is not mapped); else map @dst where @src's
 * migration entries are.
 */
static void rmap_walk_file(struct ptsim_machine *m, struct sim_file *mapping, uint32_t src, uint32_t dst)
{
	uint64_t pgoff = folio_pgoff(m, src);

	for (unsigned int i = 0; i < mapping->nr_mmap; i++) {
		struct vm_area_struct *vma = mapping->i_mmap[i];
		uint64_t npages = (vma->vm_end - vma->vm_start) >> m->geo.page_shift;

		if (pgoff < vma->vm_pgoff || pgoff >= vma->vm_pgoff + npages || !is_vm_hugetlb_page(vma))
			continue;
		/* vma_address() */
		uint64_t address = vma->vm_start + ((pgoff - vma->vm_pgoff) << m->geo.page_shift);
		if (dst) {
			hugetlb_remove_migration_pte(vma, address, src, dst);
			continue;
		}
		if (!hugetlb_try_to_migrate_one(vma, address, src))
			break;
		if (frame(m, src)->mapcount == 0)   /* rwc->done: folio_not_mapped() */
			break;
	}
}

/*
 * move_to_new_folio() for hugetlbfs (hugetlbfs_migrate_folio() ->
 * migrate_huge_page_move_mapping()): fails if anyone but the page cache
 * still holds a reference (a GUP pin, a walker's page); else the page cache
 * entry now points at @dst, which takes over the page-cache reference, and
 * the folio's dirty state moves with it.
 */
static int move_to_new_folio(struct ptsim_machine *m, uint32_t dst, uint32_t src)
{
	struct sim_frame *s = frame(m, src);
	struct sim_file *mapping = s->u.page.file;
	uint64_t index = s->u.page.index;

	if (s->refcount != 1)   /* expected_count: the page cache's reference only */
		return -EAGAIN;
	if (hmap_put(&m->alloc, &mapping->pages, index, dst))
		return SIM_ENOMEM;
	frame(m, dst)->u.page.file = mapping;
	frame(m, dst)->u.page.index = index;
	frame(m, dst)->flags = (uint16_t)(s->flags & FRAME_F_DIRTY);   /* folio_migrate_flags() */
	return 0;
}

/*
 * unmap_and_move_huge_page(): unmap every mapping of @src under the file's
 * i_mmap_rwsem, move the page cache to a new folio, map the new folio where
 * the old one was.  Return: 0, SIM_ENOMEM, or -EBUSY if the folio could not be
 * moved (it is mapped again where it was).
 */
static int unmap_and_move_huge_page(struct ptsim_machine *m, uint32_t src)
{
	struct sim_file *mapping = frame(m, src)->u.page.file;
	bool page_was_mapped = false;
	int rc = -EAGAIN;

	uint32_t dst = phys_alloc(m, FRAME_HUGETLB, frame(m, src)->order);   /* get_new_folio() */
	if (!dst)
		return SIM_ENOMEM;
	if (frame(m, src)->mapcount) {
		/* In shared mappings try_to_unmap could call huge_pmd_unshare(). */
		i_mmap_lock_write(m, mapping);   /* hugetlb_folio_mapping_lock_write() */
		rmap_walk_file(m, mapping, src, 0);   /* try_to_migrate(src, TTU_RMAP_LOCKED) */
		page_was_mapped = true;
		i_mmap_unlock_write(m, mapping);
	}
	if (!frame(m, src)->mapcount)
		rc = move_to_new_folio(m, dst, src);
	if (page_was_mapped)
		rmap_walk_file(m, mapping, src, rc ? src : dst);   /* remove_migration_ptes() */
	if (rc) {
		phys_free(m, dst);   /* put_new_folio() */
		return rc == -EAGAIN ? -EBUSY : rc;
	}
	STAT_ADD(m, PGMIGRATE_SUCCESS, 1ull << frame(m, src)->order);
	put_page(m, src);   /* the page cache's reference went to @dst: the old folio is freed */
	return 0;
}

/**
 * do_move_hugetlb_page - move_pages(2) of the one page @mm maps at @addr, for
 * a file-backed hugetlb folio.
 * Return: 0, -EFAULT (no VMA at @addr), -ENOENT (nothing mapped there),
 * -EINVAL (not a file-backed hugetlb folio), -EBUSY (it has extra references:
 * a GUP-fast walker holds it, for example), SIM_ENOMEM.
 */
int do_move_hugetlb_page(struct mm_struct *mm, uint64_t addr)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_area_struct *vma = vma_lookup(mm, addr);
	enum pt_level level;

	lru_cache_disable(m);   /* do_pages_move(): every CPU's LRU add batch drained */
	if (!vma)
		return -EFAULT;
	if (!is_vm_hugetlb_page(vma))
		return -EINVAL;
	/* add_page_for_migration(): folio_walk_start() */
	pgent_t *ep = pt_walk(mm, addr & ~(huge_page_size(vma) - 1), &level);
	if (!pgent_present(*ep) || !pgent_huge(*ep))
		return -ENOENT;
	uint32_t src = pgent_pfn(*ep);
	const struct sim_frame *f = frame(m, src);
	if (f->kind != FRAME_HUGETLB || !f->u.page.file)
		return -EINVAL;
	return unmap_and_move_huge_page(m, src);
}
