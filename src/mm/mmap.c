/*
 * Address spaces and VMAs: mm_alloc()/mmput()/mmdrop(), the VMA list, split
 * and merge, mmap (fixed address), munmap and exit_mmap, simulated files with
 * their page cache and i_mmap.
 *
 * Models mm/mmap.c, mm/vma.c (do_vmi_munmap() -> vms_clear_ptes(),
 * __split_vma(), vma_merge_new_range()/vma_modify_flags() merging),
 * kernel/fork.c (mmput(), __mmdrop()) at v6.18.
 *
 * Simplifications: the VMA tree is an augmented AVL tree (vma_tree.c); the file's
 * i_mmap interval tree is an array ordered by (vm_pgoff, creation), which is
 * the order the kernel's tree iterates VMAs with equal start offsets; mmap is
 * MAP_FIXED_NOREPLACE only (an overlap is an input error); anon_vma is an
 * identity (enough for merging and for fork's copy decision).
 */
#include "mm/internal.h"

#include <stdlib.h>

#include "arch/arch.h"
#include "mm/mmu_gather.h"

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

struct sim_file *file_find(struct ptsim_machine *m, const char *name)
{
	for (struct sim_file *f = m->files; f; f = f->next)
		if (f->name && !strcmp(f->name, name))
			return f;
	return NULL;
}

struct sim_file *file_get(struct ptsim_machine *m, const char *name, enum file_kind kind, unsigned int page_shift)
{
	struct sim_file *f;

	if (name && (f = file_find(m, name)))
		return f->kind == kind && f->page_shift == page_shift ? f : NULL;
	f = sim_calloc(&m->alloc, 1, sizeof(*f));
	if (!f)
		return NULL;
	if (name && !(f->name = sim_strdup(&m->alloc, name))) {
		sim_free(&m->alloc, f, sizeof(*f));
		return NULL;
	}
	f->id = ++m->next_file_id;
	f->kind = kind;
	f->page_shift = page_shift;
	f->refs = name ? 1 : 0;   /* a named file stays until the machine goes */
	*m->files_tail = f;
	m->files_tail = &f->next;
	return f;
}

static void file_free(struct ptsim_machine *m, struct sim_file *f)
{
	/* An msharefs file takes its host mm along (mshare_evict_inode()). */
	if (PTSIM_UNLIKELY(f->kind == FILE_MSHARE))
		mshare_evict_inode(m, f);
	/*
	 * Drop the page cache (the inode's truncation: shmem_undo_range(),
	 * remove_inode_hugepages()): every page goes once nothing maps it.  The
	 * truncation's folio_batch_release() of the pages it found drains this
	 * CPU's LRU add batch (swap.c; measured on 6.18.44: the last munmap of a
	 * shared anonymous or shared hugetlb mapping with pages drains it, one
	 * without pages does not).
	 */
	bool found = false;
	for (size_t i = 0; i < f->pages.cap; i++)
		if (f->pages.slots[i].used) {
			put_page(m, (uint32_t)f->pages.slots[i].val);
			found = true;
		}
	if (found)
		lru_add_drain(m);   /* __folio_batch_release() */
	hmap_release(&m->alloc, &f->pages);
	sim_free(&m->alloc, f->i_mmap, f->cap_mmap * sizeof(f->i_mmap[0]));
	if (f->name)
		sim_free(&m->alloc, f->name, strlen(f->name) + 1);
	for (struct sim_file **pp = &m->files; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			if (m->files_tail == &f->next)
				m->files_tail = pp;
			break;
		}
	}
	sim_free(&m->alloc, f, sizeof(*f));
}

void file_put(struct ptsim_machine *m, struct sim_file *f)
{
	if (NEVER(m, f->refs == 0))
		return;
	if (--f->refs == 0)
		file_free(m, f);
}

uint64_t linear_page_index(const struct vm_area_struct *vma, uint64_t addr)
{
	unsigned int page_shift = vma->vm_mm->machine->geo.page_shift;

	if (is_vm_hugetlb_page(vma))
		return ((addr - vma->vm_start) >> vma->hpage_shift) + (vma->vm_pgoff >> (vma->hpage_shift - page_shift));
	return ((addr - vma->vm_start) >> page_shift) + vma->vm_pgoff;
}

/*
 * i_mmap order: by vm_pgoff; a VMA with the same start offset goes after the
 * ones already there (equal keys go right in the kernel's interval tree),
 * except fork's copy, which goes right after the parent's VMA
 * (vma_interval_tree_insert_after()).
 */
static void i_mmap_insert_at(struct vm_area_struct *vma, unsigned int pos)
{
	struct sim_file *f = vma->vm_file;
	struct ptsim_machine *m = vma->vm_mm->machine;

	if (f->nr_mmap == f->cap_mmap) {
		unsigned int ncap = f->cap_mmap ? f->cap_mmap * 2 : 4;
		struct vm_area_struct **n = sim_irealloc(&m->alloc, f->i_mmap, f->cap_mmap * sizeof(*n), ncap * sizeof(*n));
		if (NEVER(m, !n))
			return;
		f->i_mmap = n;
		f->cap_mmap = ncap;
	}
	memmove(&f->i_mmap[pos + 1], &f->i_mmap[pos], (f->nr_mmap - pos) * sizeof(f->i_mmap[0]));
	f->i_mmap[pos] = vma;
	f->nr_mmap++;
	vma->i_mmap_linked = true;
}

void vma_link_file(struct vm_area_struct *vma)
{
	struct sim_file *f = vma->vm_file;

	if (!f || vma->i_mmap_linked)
		return;
	unsigned int pos = f->nr_mmap;
	while (pos > 0 && f->i_mmap[pos - 1]->vm_pgoff > vma->vm_pgoff)
		pos--;
	i_mmap_insert_at(vma, pos);
}

void vma_link_file_after(struct vm_area_struct *vma, struct vm_area_struct *prev)
{
	struct sim_file *f = vma->vm_file;

	if (!f || vma->i_mmap_linked)
		return;
	for (unsigned int i = 0; i < f->nr_mmap; i++) {
		if (f->i_mmap[i] == prev) {
			i_mmap_insert_at(vma, i + 1);
			return;
		}
	}
	vma_link_file(vma);
}

void vma_unlink_file(struct vm_area_struct *vma)
{
	struct sim_file *f = vma->vm_file;

	if (!f || !vma->i_mmap_linked)
		return;
	for (unsigned int i = 0; i < f->nr_mmap; i++) {
		if (f->i_mmap[i] == vma) {
			memmove(&f->i_mmap[i], &f->i_mmap[i + 1], (f->nr_mmap - i - 1) * sizeof(f->i_mmap[0]));
			f->nr_mmap--;
			break;
		}
	}
	vma->i_mmap_linked = false;
}

/* ------------------------------------------------------------------------ */
/* The VMA tree                                                              */
/* ------------------------------------------------------------------------ */

struct vm_area_struct *vma_lookup(struct mm_struct *mm, uint64_t addr)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	if (vma && vma->vm_start <= addr) {
		mm->vma_cache = vma;
		return vma;
	}
	return NULL;
}

void mm_insert_vma(struct mm_struct *mm, struct vm_area_struct *vma)
{
	vma_tree_insert(mm, vma);
}

void mm_remove_vma(struct mm_struct *mm, struct vm_area_struct *vma)
{
	vma_tree_remove(mm, vma);
}

struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig)
{
	struct ptsim_machine *m = orig->vm_mm->machine;
	struct vm_area_struct *new = sim_malloc(&m->alloc, sizeof(*new));

	if (!new)
		return NULL;
	*new = *orig;
	new->id = ++m->next_vma_id;
	new->i_mmap_linked = false;
	new->vt_left = new->vt_right = new->vt_parent = NULL;
	new->vm_detached_next = NULL;
	if (new->vm_file)
		new->vm_file->refs++;
	return new;
}

void vm_area_free(struct ptsim_machine *m, struct vm_area_struct *vma)
{
	vma_unlink_file(vma);
	if (vma->vm_file)
		file_put(m, vma->vm_file);
	sim_free(&m->alloc, vma, sizeof(*vma));
}

int anon_vma_prepare(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;

	if (vma->anon_vma)
		return 0;
	/* find_mergeable_anon_vma(): reuse an adjacent compatible VMA's anon_vma. */
	struct vm_area_struct *near[2] = { vma_prev(mm, vma), vma_next(mm, vma) };
	for (int i = 0; i < 2; i++) {
		struct vm_area_struct *n = near[i];
		if (n && n->anon_vma && (n->vm_end == vma->vm_start || n->vm_start == vma->vm_end) &&
		    n->vm_file == vma->vm_file && ((n->vm_flags ^ vma->vm_flags) & ~(VM_LOCKED | VM_LOCKONFAULT)) == 0) {
			vma->anon_vma = n->anon_vma;
			return 0;
		}
	}
	vma->anon_vma = ++mm->machine->next_anon_vma;
	return 0;
}

/**
 * __split_vma - split @vma at @addr; the new VMA is the part below @addr if
 * @new_below, else the part above.  hugetlb VMAs split only at huge-page
 * boundaries, and unshare the PUD range around @addr first (hugetlb_split()).
 */
int __split_vma(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, int new_below)
{
	struct ptsim_machine *m = mm->machine;

	if (is_vm_hugetlb_page(vma) && (addr & (huge_page_size(vma) - 1)))
		return -EINVAL;   /* hugetlb_vm_op_split() */
	if (PTSIM_UNLIKELY(vma->vm_flags & VM_SHARED_PT))
		return -EINVAL;   /* mshare_vm_op_split(): an mshare VMA is mapped and unmapped whole */
	struct vm_area_struct *new = vm_area_dup(vma);
	if (!new)
		return SIM_ENOMEM;
	if (is_vm_hugetlb_page(vma))
		hugetlb_split(vma, addr);

	uint64_t delta = (addr - vma->vm_start) >> m->geo.page_shift;
	if (new_below) {
		new->vm_end = addr;
		vma->vm_start = addr;
		vma->vm_pgoff += delta;
	} else {
		new->vm_start = addr;
		new->vm_pgoff += delta;
		vma->vm_end = addr;
	}
	vma_tree_update(mm, vma);
	mm_insert_vma(mm, new);
	/* The i_mmap position of the moved part follows its new vm_pgoff. */
	if (vma->i_mmap_linked) {
		vma_unlink_file(vma);
		vma_link_file(vma);
	}
	vma_link_file(new);
	return 0;
}

static bool is_mergeable_anon_vma(uint32_t a, uint32_t b)
{
	return !a || !b || a == b;
}

/* Can @a (below) and @b (above, adjacent) become one VMA? */
static bool can_merge(const struct vm_area_struct *a, const struct vm_area_struct *b)
{
	uint64_t page_shift = a->vm_mm->machine->geo.page_shift;

	if (a->vm_end != b->vm_start || a->vm_flags != b->vm_flags || a->vm_file != b->vm_file)
		return false;
	if (a->vm_flags & VM_SPECIAL)
		return false;
	if (!is_mergeable_anon_vma(a->anon_vma, b->anon_vma))
		return false;
	if (a->vm_file && a->vm_pgoff + ((a->vm_end - a->vm_start) >> page_shift) != b->vm_pgoff)
		return false;
	if (!a->vm_file && a->anon_vma && b->anon_vma &&
	    a->vm_pgoff + ((a->vm_end - a->vm_start) >> page_shift) != b->vm_pgoff)
		return false;
	return true;
}

/* Merge @b into @a (adjacent, mergeable); @b goes. */
static void vma_merge_pair(struct mm_struct *mm, struct vm_area_struct *a, struct vm_area_struct *b)
{
	mm_remove_vma(mm, b);
	a->vm_end = b->vm_end;
	vma_tree_update(mm, a);
	if (!a->anon_vma)
		a->anon_vma = b->anon_vma;
	vm_area_free(mm->machine, b);
}

/**
 * vma_merge_around - merge @vma with its neighbours where the kernel would
 * (after a flags change, or a new mapping).  Return: the surviving VMA.
 */
struct vm_area_struct *vma_merge_around(struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct vm_area_struct *next = vma_next(mm, vma);
	struct vm_area_struct *prev = vma_prev(mm, vma);
	bool can_merge_left = prev && can_merge(prev, vma);
	bool can_merge_right = next && can_merge(vma, next);

	/*
	 * can_vma_merge_right(): @vma may be compatible with both neighbours
	 * while their anon_vmas are not compatible with each other; then the
	 * kernel merges with prev only.
	 */
	if (can_merge_left && can_merge_right && !is_mergeable_anon_vma(prev->anon_vma, next->anon_vma))
		can_merge_right = false;
	if (can_merge_right)
		vma_merge_pair(mm, vma, next);
	if (prev && can_merge(prev, vma)) {
		vma_merge_pair(mm, prev, vma);
		vma = prev;
	}
	mm->vma_cache = NULL;
	return vma;
}

/* ------------------------------------------------------------------------ */
/* mm lifetime                                                               */
/* ------------------------------------------------------------------------ */

static struct mm_struct *__mm_alloc(struct ptsim_machine *m, bool listed)
{
	struct mm_struct *mm = sim_calloc(&m->alloc, 1, sizeof(*mm));
	struct ptdesc *pgd;

	if (!mm)
		return NULL;
	mm->machine = m;
	if (cpumask_alloc(m, &mm->cpumask))
		goto err_free_mm;
	if (cpumask_alloc(m, &mm->tlb_cached))
		goto err_free_cpumask;
	pgd = pt_alloc_table(m, mm, PT_PGD, 0);   /* pgd_alloc() */
	if (!pgd)
		goto err_free_cached;
	mm->pgd = pgd->pfn;
	if (init_new_context(mm))
		goto err_free_pgd;
	mm->mm_users = 1;
	mm->mm_count = 1;
	if (listed) {   /* else id 0: outside the trace */
		mm->id = ++m->next_mm_id;
		mm->prev = m->mms_last;
		if (m->mms_last)
			m->mms_last->next = mm;
		else
			m->mms = mm;
		m->mms_last = mm;
	}
	/* ptsim: at exec in the kernel; every new mm here (fork then copies the parent's). */
	mm_random_init(mm);
	arch_pick_mmap_layout(mm);
	return mm;

err_free_pgd:
	pt_free_table(m, pgd);
err_free_cached:
	cpumask_release(m, &mm->tlb_cached);
err_free_cpumask:
	cpumask_release(m, &mm->cpumask);
err_free_mm:
	sim_free(&m->alloc, mm, sizeof(*mm));
	return NULL;
}

struct mm_struct *mm_alloc(struct ptsim_machine *m)
{
	return __mm_alloc(m, true);
}

/* ptsim: the mm of the processes outside the trace (run {other}): not listed, no id. */
struct mm_struct *mm_alloc_outside(struct ptsim_machine *m)
{
	return __mm_alloc(m, false);
}

void mmgrab(struct mm_struct *mm)
{
	mm->mm_count++;
}

/* __mmdrop(): the last reference — free the PGD, tear down the context, check_mm(). */
static void __mmdrop(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	for (unsigned int c = 0; c < m->nr_cpus; c++)
		NEVER(m, m->cpus[c].loaded_mm == mm);
	/* mshare: links this mm's PGD still holds go with it (mshare.c). */
	if (PTSIM_UNLIKELY(mm->mshare_linked))
		mshare_forget_mm(mm);
	pt_free_table(m, pt_desc(m, mm->pgd));   /* pgd_free() */
	destroy_context(mm);
	check_mm(mm);
	if (mm->prev)
		mm->prev->next = mm->next;
	else if (m->mms == mm)
		m->mms = mm->next;
	if (mm->next)
		mm->next->prev = mm->prev;
	else if (m->mms_last == mm)
		m->mms_last = mm->prev;
	cpumask_release(m, &mm->cpumask);
	cpumask_release(m, &mm->tlb_cached);
	sim_free(&m->alloc, mm->task_heap, mm->cap_tasks * sizeof(mm->task_heap[0]));
	sim_free(&m->alloc, mm, sizeof(*mm));
}

void mmdrop(struct mm_struct *mm)
{
	if (NEVER(mm->machine, mm->mm_count <= 0))
		return;
	if (--mm->mm_count == 0)
		__mmdrop(mm);
}

void mmput(struct mm_struct *mm)
{
	if (NEVER(mm->machine, mm->mm_users <= 0))
		return;
	if (--mm->mm_users == 0) {
		exit_mmap(mm);
		mmdrop(mm);
	}
}

/**
 * exit_mmap - tear down an address space with no users: one fullmm gather,
 * unmap every VMA, free every user page table, one final flush.
 */
void exit_mmap(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	struct mmu_gather tlb;

	struct vma_walk w = { .mm = mm };

	tlb_gather_mmu_fullmm(&tlb, mm);
	unmap_vmas(&tlb, &w, vma_first(mm), 0, UINT64_MAX);
	free_pgtables(&tlb, &w, vma_first(mm), 0 /* FIRST_USER_ADDRESS */, 0 /* USER_PGTABLES_CEILING */, true);
	tlb_finish_mmu(&tlb);

	/* remove_vma() of each, in address order: take the whole tree apart first. */
	struct vm_area_struct *list = NULL, **tail = &list, *vma;
	for_each_vma(mm, vma) {
		*tail = vma;
		tail = &vma->vm_detached_next;
	}
	*tail = NULL;
	mm->vma_root = NULL;
	mm->map_count = 0;
	mm->vma_cache = NULL;
	while (list) {
		vma = list;
		list = vma->vm_detached_next;
		vm_area_free(m, vma);
	}
	mm->exited = true;
}

/* ------------------------------------------------------------------------ */
/* mmap / munmap                                                             */
/* ------------------------------------------------------------------------ */

static uint64_t calc_vm_flags(const struct ptsim_mmap_args *a)
{
	uint64_t f = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;

	if (a->prot & PTSIM_PROT_READ)
		f |= VM_READ;
	if (a->prot & PTSIM_PROT_WRITE)
		f |= VM_WRITE;
	if (a->prot & PTSIM_PROT_EXEC)
		f |= VM_EXEC;
	if (a->shared)
		f |= VM_SHARED | VM_MAYSHARE;
	if (a->kind == PTSIM_MAP_HUGETLB)
		f |= VM_HUGETLB | VM_DONTEXPAND;
	return f;
}

/**
 * do_mmap - map [addr, addr+len) in @mm (validated by the caller).  Shared
 * anonymous memory is backed by an unnamed shmem object, MAP_HUGETLB memory by
 * an unnamed hugetlbfs file, like the kernel.  Merges with compatible
 * neighbours; MAP_POPULATE faults everything in.
 */
int do_mmap(struct mm_struct *mm, const struct ptsim_mmap_args *a, bool populate)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_area_struct *vma = sim_calloc(&m->alloc, 1, sizeof(*vma));
	struct sim_file *f = NULL;

	if (!vma)
		return SIM_ENOMEM;
	vma->vm_mm = mm;
	vma->vm_start = a->addr;
	vma->vm_end = a->addr + a->len;
	vma->vm_flags = calc_vm_flags(a);
	vma->id = ++m->next_vma_id;

	if (a->kind == PTSIM_MAP_HUGETLB) {
		vma->hpage_shift = ilog2_u64(a->page_size);   /* a valid hugetlb size: a power of two */
		f = file_get(m, a->file, FILE_HUGETLB, vma->hpage_shift);
	} else if (a->kind == PTSIM_MAP_FILE) {
		f = file_get(m, a->file, FILE_REGULAR, m->geo.page_shift);
	} else if (a->kind == PTSIM_MAP_SHMEM || (a->kind == PTSIM_MAP_ANON && a->shared)) {
		f = file_get(m, a->kind == PTSIM_MAP_SHMEM ? a->file : NULL, FILE_SHMEM, m->geo.page_shift);
	} else if (a->kind == PTSIM_MAP_MSHARE) {
		/* An msharefs file that exists (the caller checked it): mmap never creates one. */
		f = file_find(m, a->file);
		if (NEVER(m, !f || f->kind != FILE_MSHARE || !f->mshare)) {
			sim_free(&m->alloc, vma, sizeof(*vma));
			return -ENOENT;
		}
	}
	if (a->kind != PTSIM_MAP_ANON || a->shared) {
		if (!f) {
			/* The name is taken by another kind of file, or there was no memory. */
			bool taken = false;
			for (struct sim_file *g = m->files; g && a->file; g = g->next)
				taken |= g->name && !strcmp(g->name, a->file);
			sim_free(&m->alloc, vma, sizeof(*vma));
			return taken ? -EEXIST : SIM_ENOMEM;
		}
		vma->vm_file = f;
		vma->vm_pgoff = a->offset >> m->geo.page_shift;
		/* f_op->mmap(): an msharefs file checks the VMA (mshare.c). */
		int err = PTSIM_UNLIKELY(f->kind == FILE_MSHARE) ? msharefs_mmap(vma) : 0;
		if (err) {
			sim_free(&m->alloc, vma, sizeof(*vma));
			return err;
		}
		f->refs++;
	} else {
		vma->vm_pgoff = a->addr >> m->geo.page_shift;
	}
	/* A shareable hugetlb VMA gets its VMA lock (hugetlb_vma_lock_alloc()). */
	if (is_vm_hugetlb_page(vma) && (vma->vm_flags & VM_MAYSHARE))
		vma->hugetlb_vma_lock = true;

	mm_insert_vma(mm, vma);
	vma_link_file(vma);
	vma = vma_merge_around(mm, vma);
	if (populate)
		return mm_populate(mm, a->addr, a->len);
	return 0;
}

/*
 * mm_populate(): fault in every page of the range as GUP does (a write fault
 * for private writable mappings, to break COW; a read fault otherwise).  No
 * TLB is filled: GUP walks in software.
 */
int mm_populate(struct mm_struct *mm, uint64_t start, uint64_t len)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t end = start + len;

	for (uint64_t addr = start; addr < end;) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		if (!vma) {
			addr += PAGE_SIZE(m);
			continue;
		}
		uint64_t step = is_vm_hugetlb_page(vma) ? huge_page_size(vma) : PAGE_SIZE(m);
		bool write = (vma->vm_flags & VM_WRITE) && !(vma->vm_flags & VM_SHARED);
		enum pt_level level;
		pgent_t *ep = pt_walk(mm, addr, &level);
		bool present = pgent_present(*ep) && (level == PT_PTE || pgent_huge(*ep));
		if (!present || (write && !(*ep & _PAGE_RW))) {
			unsigned int ret = handle_mm_fault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
			/* faultin_page() retries what installed nothing (an mshare link): at most once more. */
			if (PTSIM_UNLIKELY(ret & VM_FAULT_NOPAGE))
				ret = handle_mm_fault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
			if (ret & VM_FAULT_OOM)
				return SIM_ENOMEM;
		}
		addr += step;
	}
	return 0;
}

/**
 * do_munmap - unmap [start, start+len): split the boundary VMAs, detach the
 * ones inside, then vms_clear_ptes(): one gather, unmap_vmas(), free_pgtables()
 * bounded by the surviving neighbours, tlb_finish_mmu().
 */
int do_munmap(struct mm_struct *mm, uint64_t start, uint64_t len)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t end = start + len;
	struct vm_area_struct *vma = find_vma(mm, start), *v;
	int err;

	if (!vma || vma->vm_start >= end)
		return 0;
	/* hugetlb boundaries must fall on huge pages (checked before anything changes). */
	for (v = vma; v && v->vm_start < end; v = vma_next(mm, v)) {
		if (!is_vm_hugetlb_page(v))
			continue;
		uint64_t mask = huge_page_size(v) - 1;
		if ((start > v->vm_start && (start & mask)) || (end < v->vm_end && (end & mask)))
			return -EINVAL;
	}
	if (start > vma->vm_start) {
		err = __split_vma(mm, vma, start, 1);
		if (err)
			return err;
	}
	struct vm_area_struct *first = find_vma(mm, start), *lastv = first;
	while ((v = vma_next(mm, lastv)) && v->vm_start < end)
		lastv = v;
	if (lastv->vm_end > end) {
		err = __split_vma(mm, lastv, end, 1);
		if (err)
			return err;
	}

	/* Detach [start, end) into a side list (the kernel's mt_detach tree), in address order. */
	first = find_vma(mm, start);   /* the split below @end may have put a new VMA there */
	struct vm_area_struct *prev = vma_prev(mm, first), *next;
	struct vm_area_struct *detached = NULL, **tail = &detached;
	for (v = first; v && v->vm_start < end; v = next) {
		next = vma_next(mm, v);
		mm_remove_vma(mm, v);
		*tail = v;
		tail = &v->vm_detached_next;
	}
	*tail = NULL;
	uint64_t floor = prev ? prev->vm_end : 0;
	uint64_t ceiling = v ? v->vm_start : 0;

	/* vms_clear_ptes() */
	struct mmu_gather tlb;
	struct vma_walk w = { .mm = mm, .detached = true };
	tlb_gather_mmu(&tlb, mm);
	update_hiwater_rss(mm);
	unmap_vmas(&tlb, &w, detached, start, end);
	free_pgtables(&tlb, &w, detached, floor, ceiling, true);
	tlb_finish_mmu(&tlb);

	while (detached) {
		v = detached;
		detached = v->vm_detached_next;
		vm_area_free(m, v);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Where a mapping goes: get_unmapped_area()                                 */
/* ------------------------------------------------------------------------ */

/*
 * Models mm/vma.c (unmapped_area(), unmapped_area_topdown()), mm/mmap.c
 * (vm_unmapped_area(), generic_get_unmapped_area{,_topdown}(),
 * __get_unmapped_area(), mm_get_unmapped_area_vmflags()), mm/huge_memory.c
 * (__thp_get_unmapped_area(), thp_get_unmapped_area_vmflags()) and
 * fs/hugetlbfs/inode.c (hugetlb_get_unmapped_area()) at v6.18.  Checked
 * against 6.18.44 here with bench/real_mmap_layout.c.
 *
 * The arch's own allocators (x86: arch/x86/kernel/sys_x86_64.c) come through
 * arch_get_unmapped_area{,_topdown}() (arch.h); the generic ones serve the
 * others (arm64).  Not modelled: VM_SHADOW_STACK start gaps, VM_GROWSUP, the
 * x86 AMD F15h I-cache alignment (va_align), MAP_32BIT, compat tasks, and
 * shmem's THP alignment (off by default: shmem_enabled=never).
 */

/* stack_guard_placement(): only shadow stacks (not modelled) ask for a start gap. */
static uint64_t stack_guard_placement(uint64_t vm_flags)
{
	(void)vm_flags;
	return 0;
}

/* huge_page_mask_align(): the huge page's offset bits above the base page. */
static uint64_t huge_page_mask_align(const struct sim_file *file, unsigned int page_shift)
{
	return ((1ull << file->page_shift) - 1) & ~((1ull << page_shift) - 1);
}

/* unmapped_area - the lowest fitting range (bottom-up allocation). */
static uint64_t unmapped_area(struct mm_struct *mm, const struct vm_unmapped_area_info *info)
{
	uint64_t length, low_limit, gap, start, end;
	struct vm_area_struct *tmp;

	/* Adjust the search length for the worst-case alignment overhead. */
	length = info->length + info->align_mask + info->start_gap;
	if (length < info->length)
		return (uint64_t)-ENOMEM;
	low_limit = info->low_limit;
	if (low_limit < mm->machine->mmap_min_addr)
		low_limit = mm->machine->mmap_min_addr;
retry:
	if (!vma_iter_area_lowest(mm, low_limit, info->high_limit, length, &start, &end))
		return (uint64_t)-ENOMEM;
	/* The start gap first, so it does not disturb the alignment. */
	gap = start + info->start_gap;
	gap += (info->align_offset - gap) & info->align_mask;
	tmp = find_vma(mm, start);   /* vma_next(): the VMA above the gap */
	if (tmp && (tmp->vm_flags & VM_GROWSDOWN)) {
		if (vm_start_gap(tmp) < gap + length - 1) {
			low_limit = tmp->vm_end;
			goto retry;
		}
	} else {
		tmp = tmp ? vma_prev(mm, tmp) : vma_last(mm);
		if (tmp && vm_end_gap(tmp) > gap) {
			low_limit = vm_end_gap(tmp);
			goto retry;
		}
	}
	return gap;
}

/* unmapped_area_topdown - the highest fitting range (top-down allocation). */
static uint64_t unmapped_area_topdown(struct mm_struct *mm, const struct vm_unmapped_area_info *info)
{
	uint64_t length, low_limit, high_limit, gap, gap_end, start;
	struct vm_area_struct *tmp;

	length = info->length + info->align_mask + info->start_gap;
	if (length < info->length)
		return (uint64_t)-ENOMEM;
	low_limit = info->low_limit;
	if (low_limit < mm->machine->mmap_min_addr)
		low_limit = mm->machine->mmap_min_addr;
	high_limit = info->high_limit;
retry:
	if (!vma_iter_area_highest(mm, low_limit, high_limit, length, &start, &gap_end))
		return (uint64_t)-ENOMEM;
	gap = gap_end - info->length;
	gap -= (gap - info->align_offset) & info->align_mask;
	tmp = find_vma(mm, start);   /* vma_next() */
	if (tmp && (tmp->vm_flags & VM_GROWSDOWN)) {   /* skip the prev check if possible */
		if (vm_start_gap(tmp) < gap_end) {
			high_limit = vm_start_gap(tmp);
			goto retry;
		}
	} else {
		tmp = tmp ? vma_prev(mm, tmp) : vma_last(mm);
		if (tmp && vm_end_gap(tmp) > gap) {
			high_limit = tmp->vm_start;
			goto retry;
		}
	}
	return gap;
}

/**
 * vm_unmapped_area - a range of @info->length inside [low_limit, high_limit)
 * that overlaps no VMA and satisfies the alignment (start & align_mask ==
 * align_offset & align_mask), the highest one for VM_UNMAPPED_AREA_TOPDOWN,
 * else the lowest.  Return: the address, or -ENOMEM.
 */
uint64_t vm_unmapped_area(struct mm_struct *mm, const struct vm_unmapped_area_info *info)
{
	if (info->flags & VM_UNMAPPED_AREA_TOPDOWN)
		return unmapped_area_topdown(mm, info);
	return unmapped_area(mm, info);
}

/* arch_get_mmap_end()/arch_get_mmap_base(): above the default window only on request (a hint there). */
static uint64_t arch_get_mmap_end(struct ptsim_machine *m, uint64_t addr)
{
	return addr > m->geo.map_window ? m->geo.task_size : m->geo.map_window;
}

static uint64_t arch_get_mmap_base(struct ptsim_machine *m, uint64_t addr, uint64_t base)
{
	return addr > m->geo.map_window ? base + m->geo.task_size - m->geo.map_window : base;
}

/* The generic allocators' hint test: the page-aligned hint is free, with the neighbours' guard gaps. */
static bool generic_hint_fits(struct mm_struct *mm, uint64_t *addr, uint64_t len, uint64_t mmap_end)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_area_struct *vma, *prev;

	*addr = (*addr + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1);
	vma = find_vma_prev(mm, *addr, &prev);
	return mmap_end - len >= *addr && *addr >= m->mmap_min_addr && (!vma || *addr + len <= vm_start_gap(vma)) &&
	       (!prev || *addr >= vm_end_gap(prev));
}

/** generic_get_unmapped_area - the legacy bottom-up allocator from mm->mmap_base. */
uint64_t generic_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
				   uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_unmapped_area_info info = { 0 };
	const uint64_t mmap_end = arch_get_mmap_end(m, addr);

	(void)pgoff;
	if (len > mmap_end - m->mmap_min_addr)
		return (uint64_t)-ENOMEM;
	if (flags & MAP_FIXED)
		return addr;
	if (addr && generic_hint_fits(mm, &addr, len, mmap_end))
		return addr;
	info.length = len;
	info.low_limit = mm->mmap_base;
	info.high_limit = mmap_end;
	info.start_gap = stack_guard_placement(vm_flags);
	if (is_file_hugepages(file))
		info.align_mask = huge_page_mask_align(file, m->geo.page_shift);
	return vm_unmapped_area(mm, &info);
}

/**
 * generic_get_unmapped_area_topdown - the default allocator: top-down from
 * below mm->mmap_base; if nothing fits, bottom-up from TASK_UNMAPPED_BASE.
 */
uint64_t generic_get_unmapped_area_topdown(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					   uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	struct ptsim_machine *m = mm->machine;
	struct vm_unmapped_area_info info = { 0 };
	const uint64_t mmap_end = arch_get_mmap_end(m, addr);

	(void)pgoff;
	if (len > mmap_end - m->mmap_min_addr)
		return (uint64_t)-ENOMEM;
	if (flags & MAP_FIXED)
		return addr;
	if (addr && generic_hint_fits(mm, &addr, len, mmap_end))
		return addr;
	info.flags = VM_UNMAPPED_AREA_TOPDOWN;
	info.length = len;
	info.low_limit = PAGE_SIZE(m);
	info.high_limit = arch_get_mmap_base(m, addr, mm->mmap_base);
	if (is_file_hugepages(file))
		info.align_mask = huge_page_mask_align(file, m->geo.page_shift);
	info.start_gap = stack_guard_placement(vm_flags);
	addr = vm_unmapped_area(mm, &info);
	/* A failed mmap() very likely kills the program: fall back to bottom-up. */
	if (addr & (PAGE_SIZE(m) - 1)) {
		info.flags = 0;
		info.low_limit = m->geo.unmapped_base;
		info.high_limit = mmap_end;
		addr = vm_unmapped_area(mm, &info);
	}
	return addr;
}

/* mm_get_unmapped_area_vmflags(): the mm's allocator (MMF_TOPDOWN or legacy). */
static uint64_t mm_get_unmapped_area_vmflags(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					     uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	if (mm->mmf_topdown)
		return arch_get_unmapped_area_topdown(mm, file, addr, len, pgoff, flags, vm_flags);
	return arch_get_unmapped_area(mm, file, addr, len, pgoff, flags, vm_flags);
}

/*
 * __thp_get_unmapped_area(): search for @len plus one PMD and place the
 * mapping so that its address and file offset agree modulo PMD_SIZE (PMD
 * mappings possible).  Return: 0 to let the caller search without padding.
 */
static uint64_t __thp_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
					uint64_t off, unsigned long flags, uint64_t size, uint64_t vm_flags)
{
	uint64_t off_end = off + len;
	uint64_t off_align = (off + size - 1) & ~(size - 1);
	uint64_t len_pad, ret, off_sub;

	if (off_end <= off_align || off_end - off_align < size)
		return 0;
	len_pad = len + size;
	if (len_pad < len || off + len_pad < off)
		return 0;
	ret = mm_get_unmapped_area_vmflags(mm, file, addr, len_pad, off >> mm->machine->geo.page_shift, flags,
					   vm_flags);
	/* The failure may be the padding's: the caller retries without it. */
	if (IS_ERR_VALUE(ret))
		return 0;
	/* The hint was free: no realignment. */
	if (ret == addr)
		return addr;
	off_sub = (off - ret) & (size - 1);
	if (mm->mmf_topdown && !off_sub)
		return ret + size;
	return ret + off_sub;
}

static uint64_t thp_get_unmapped_area_vmflags(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					      uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	uint64_t off = pgoff << mm->machine->geo.page_shift;
	uint64_t ret = __thp_get_unmapped_area(mm, file, addr, len, off, flags, PMD_SIZE(mm->machine), vm_flags);

	if (ret)
		return ret;
	return mm_get_unmapped_area_vmflags(mm, file, addr, len, pgoff, flags, vm_flags);
}

/* hugetlb_get_unmapped_area(): huge-page-sized lengths; a hint rounds up to a huge page. */
static uint64_t hugetlb_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					  uint64_t len, uint64_t pgoff, unsigned long flags)
{
	uint64_t hmask = (1ull << file->page_shift) - 1;
	uint64_t addr0 = 0;

	if (len & hmask)
		return (uint64_t)-EINVAL;
	if ((flags & MAP_FIXED) && (addr & hmask))
		return (uint64_t)-EINVAL;
	if (addr)
		addr0 = (addr + hmask) & ~hmask;
	return mm_get_unmapped_area_vmflags(mm, file, addr0, len, pgoff, flags, 0);
}

/**
 * __get_unmapped_area - where mmap puts [addr, addr + len): the file's own
 * allocator (hugetlbfs; regular files: thp_get_unmapped_area(), as ext4 and
 * xfs have it), anonymous mappings whose length is a multiple of PMD_SIZE
 * without a hint PMD-aligned (thp_get_unmapped_area_vmflags(), since
 * v6.13), everything else the mm's allocator.  MAP_SHARED anonymous memory
 * and shmem files go through shmem_get_unmapped_area(), which with huge
 * shmem off (the default) is the mm's allocator.
 * Return: the address, or a negated errno (IS_ERR_VALUE()).
 */
uint64_t __get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
			     uint64_t pgoff, unsigned long flags, uint64_t vm_flags)
{
	struct ptsim_machine *m = mm->machine;

	if (len > m->geo.task_size)
		return (uint64_t)-ENOMEM;
	/* Anonymous memory: pgoff is 0. */
	if (!file)
		pgoff = 0;
	if (is_file_hugepages(file))
		addr = hugetlb_get_unmapped_area(mm, file, addr, len, pgoff, flags);
	else if (file && file->kind == FILE_REGULAR)
		addr = thp_get_unmapped_area_vmflags(mm, file, addr, len, pgoff, flags, 0);
	else if (!file && !(flags & MAP_SHARED) && !addr && !(len & (PMD_SIZE(m) - 1)))
		addr = thp_get_unmapped_area_vmflags(mm, file, addr, len, pgoff, flags, vm_flags);
	else
		addr = mm_get_unmapped_area_vmflags(mm, file, addr, len, pgoff, flags, vm_flags);
	if (IS_ERR_VALUE(addr))
		return addr;
	if (addr > m->geo.task_size - len)
		return (uint64_t)-ENOMEM;
	if (addr & (PAGE_SIZE(m) - 1))
		return (uint64_t)-EINVAL;
	return addr;
}

/* ------------------------------------------------------------------------ */
/* The heap and the stack: do_brk_flags(), expand_downwards()                */
/* ------------------------------------------------------------------------ */

/* VM_DATA_DEFAULT_FLAGS (x86-64, arm64): read, write, and all the MAY* bits. */
#define VM_DATA_DEFAULT_FLAGS (VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC)

/**
 * do_brk_flags - the heap grows by [@addr, @addr + @len) (mm/vma.c, v6.18):
 * the heap VMA that ends at @addr (one at or above start_brk:
 * vma_prev_limit()) is expanded if it is compatible (vma_merge_new_range()
 * with just_expand), else a new anonymous VMA is made; no merge with the VMA
 * above (brk left a page and the guard gap free there).
 */
int do_brk_flags(struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	struct ptsim_machine *m = mm->machine;
	uint64_t flags = VM_DATA_DEFAULT_FLAGS;
	struct vm_area_struct *vma = find_vma(mm, addr);

	vma = vma ? vma_prev(mm, vma) : vma_last(mm);
	if (vma && vma->vm_end > mm->start_brk && vma->vm_end == addr && vma->vm_flags == flags && !vma->vm_file &&
	    vma->vm_pgoff + ((vma->vm_end - vma->vm_start) >> m->geo.page_shift) == addr >> m->geo.page_shift) {
		vma->vm_end = addr + len;
		vma_tree_update(mm, vma);
		return 0;
	}
	vma = sim_calloc(&m->alloc, 1, sizeof(*vma));
	if (!vma)
		return SIM_ENOMEM;
	vma->vm_mm = mm;
	vma->vm_start = addr;
	vma->vm_end = addr + len;
	vma->vm_pgoff = addr >> m->geo.page_shift;
	vma->vm_flags = flags;
	vma->id = ++m->next_vma_id;
	mm_insert_vma(mm, vma);
	return 0;
}

/*
 * acct_stack_growth(): the whole stack must stay within RLIMIT_STACK.
 * (No address-space, mlock or overcommit limits are modelled.)
 */
static int acct_stack_growth(struct vm_area_struct *vma, uint64_t size, uint64_t grow)
{
	(void)grow;
	if (size > vma->vm_mm->machine->rlimit_stack)
		return -ENOMEM;
	return 0;
}

/**
 * expand_downwards - grow the VM_GROWSDOWN @vma down to @address (mm/mmap.c,
 * v6.18): refused below mmap_min_addr, within stack_guard_gap of an
 * accessible VMA below that is not itself a stack, and beyond the stack rlimit.
 * Return: 0 or a negated errno.
 */
int expand_downwards(struct vm_area_struct *vma, uint64_t address)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	struct vm_area_struct *prev;
	int error;

	if (!(vma->vm_flags & VM_GROWSDOWN))
		return -EFAULT;
	address &= ~(PAGE_SIZE(m) - 1);
	if (address < m->mmap_min_addr)
		return -EPERM;
	/* Enforce stack_guard_gap. */
	prev = vma_prev(mm, vma);
	if (prev && !(prev->vm_flags & VM_GROWSDOWN) && (prev->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) &&
	    address - prev->vm_end < m->stack_guard_gap)
		return -ENOMEM;
	if (anon_vma_prepare(vma))
		return SIM_ENOMEM;
	if (address < vma->vm_start) {
		uint64_t size = vma->vm_end - address;
		uint64_t grow = (vma->vm_start - address) >> m->geo.page_shift;

		error = -ENOMEM;
		if (grow <= vma->vm_pgoff) {
			error = acct_stack_growth(vma, size, grow);
			if (!error) {
				vma->vm_start = address;
				vma->vm_pgoff -= grow;
				vma_tree_update(mm, vma);
			}
		}
		return error;
	}
	return 0;
}

/**
 * lock_mm_and_find_vma - the VMA a user fault at @addr belongs to
 * (mm/memory.c, v6.18): the VMA containing it, or a stack VMA above it that
 * expand_stack_locked() grows down to it.  Return: NULL for a SIGSEGV.
 */
struct vm_area_struct *lock_mm_and_find_vma(struct mm_struct *mm, uint64_t addr)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	if (PTSIM_LIKELY(vma && vma->vm_start <= addr)) {
		mm->vma_cache = vma;
		return vma;
	}
	if (!vma || !(vma->vm_flags & VM_GROWSDOWN))
		return NULL;
	if (expand_downwards(vma, addr))
		return NULL;
	return vma;
}
