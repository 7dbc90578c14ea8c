/*
 * Page faults, zapping, page-table freeing and fork's page-table copy: port of
 * mm/memory.c at v6.18 (handle_mm_fault() and the do_*_page() handlers,
 * unmap_page_range()/zap_pte_range() with the PT_RECLAIM hooks of v6.14,
 * unmap_vmas(), free_pgtables()/free_pgd_range() with the floor/ceiling rules,
 * copy_page_range()).
 *
 * Invariants kept here: an entry is cleared before its page or table is
 * queued on the mmu_gather; rss[] is accumulated per PTE-table visit and
 * applied once (add_mm_rss_vec()); VmPTE moves with pmd_install() and
 * free_pte_range() (kernel-model 2.1).
 *
 * Arch ops used: through the mmu_gather (tlb_flush) and flush_tlb_page() for
 * COW (ptep_clear_flush()).
 *
 * Left out: anonymous THP (no PMD-mapped anonymous folios; the PTE table is
 * always used), large folios (every anonymous/file folio is one page, so the
 * folio_pte_batch() paths are not taken), KSM, device-private memory, NUMA
 * hinting, userfaultfd beyond the uffd-wp marker, mmu notifiers.
 */
#include "mm/internal.h"

#include "arch/arch.h"
#include "mm/mmu_gather.h"

/* ------------------------------------------------------------------------ */
/* Counters and small helpers                                                */
/* ------------------------------------------------------------------------ */

void mm_counter_add(struct mm_struct *mm, int member, long value)
{
	mm->rss[member] += value;
}

int mm_counter_of(struct ptsim_machine *m, uint32_t pfn)
{
	switch (frame(m, pfn)->kind) {
	case FRAME_ANON:
		return MM_ANONPAGES;
	case FRAME_SHMEM:
		return MM_SHMEMPAGES;
	default:
		return MM_FILEPAGES;
	}
}

static void add_mm_rss_vec(struct mm_struct *mm, const long *rss)
{
	for (int i = 0; i < NR_MM_COUNTERS; i++)
		if (rss[i])
			mm_counter_add(mm, i, rss[i]);
}

void folio_remove_rmap(struct ptsim_machine *m, uint32_t pfn, int nr)
{
	struct sim_frame *f = frame(m, pfn);

	if (f->kind == FRAME_ZERO)
		return;
	f->mapcount -= nr;
	NEVER(m, f->mapcount < 0);
}

static void folio_add_rmap(struct ptsim_machine *m, uint32_t pfn, int nr)
{
	struct sim_frame *f = frame(m, pfn);

	if (f->kind != FRAME_ZERO)
		f->mapcount += nr;
}

/* vm_normal_page(): NULL for special mappings (the zero page). */
static uint32_t vm_normal_page(pte_t pte)
{
	if (pte & _PAGE_SPECIAL)
		return 0;
	return pgent_pfn(pte);
}

static uint64_t pmd_addr_end(struct ptsim_machine *m, enum pt_level level, uint64_t addr, uint64_t end)
{
	if (m->geo.folded[level])
		return end;
	uint64_t size = 1ull << m->geo.shift[level];
	uint64_t boundary = (addr + size) & ~(size - 1);
	return (boundary - 1 < end - 1) ? boundary : end;
}

/* A new anonymous page, exclusive to the faulting mm, with its one mapping counted; 0: out of memory. */
static inline uint32_t alloc_anon_page(struct ptsim_machine *m)
{
	uint32_t pfn = phys_alloc(m, FRAME_ANON, 0);

	if (pfn) {
		struct sim_frame *f = frame(m, pfn);
		f->flags |= FRAME_F_ANON_EXCL;
		f->mapcount++;   /* folio_add_rmap(m, pfn, 1) of a page just allocated as anonymous */
	}
	return pfn;
}

/* Page cache lookup, allocating the page on a miss (a read from the backing store). */
uint32_t filemap_get_page(struct ptsim_machine *m, struct sim_file *f, uint64_t index, bool *oom)
{
	uint64_t v;

	*oom = false;
	if (hmap_get(&f->pages, index, &v))
		return (uint32_t)v;
	enum frame_kind kind = f->kind == FILE_SHMEM ? FRAME_SHMEM : f->kind == FILE_HUGETLB ? FRAME_HUGETLB : FRAME_FILE;
	uint32_t pfn = phys_alloc(m, kind, f->page_shift - m->geo.page_shift);
	if (!pfn) {
		*oom = true;
		return 0;
	}
	if (hmap_put(&m->alloc, &f->pages, index, pfn)) {
		phys_free(m, pfn);
		*oom = true;
		return 0;
	}
	frame(m, pfn)->u.page.file = f;
	frame(m, pfn)->u.page.index = index;
	/*
	 * shmem_alloc_and_add_folio() queues the new page for the LRU; a regular
	 * file's page cache is taken as read long before (swap.c).
	 */
	if (kind == FRAME_SHMEM)
		folio_add_lru(m, pfn);
	return pfn;   /* the page cache holds the allocation reference */
}

/* ------------------------------------------------------------------------ */
/* Faults                                                                    */
/* ------------------------------------------------------------------------ */

struct vm_fault {
	struct vm_area_struct *vma;
	uint64_t address;       /* page-aligned */
	unsigned int flags;
	pmd_t *pmd;
	pte_t *pte;
	pte_t orig_pte;
	uint64_t pgoff;         /* file page index */
};

static pgent_t vma_page_flags(const struct vm_area_struct *vma)
{
	return _PAGE_PRESENT | _PAGE_ACCESSED | vma_prot_bits(vma);
}

static void set_pte_at(struct mm_struct *mm, uint64_t addr, pte_t *ptep, pte_t pte)
{
	pt_write(mm->machine, ptep, PT_PTE, addr, pte);
}

/* The entries do_anonymous_page() installs: the zero page for a read, a new page for a write. */
static pgent_t anon_zero_flags(const struct vm_area_struct *vma)
{
	return vma_page_flags(vma) | _PAGE_SPECIAL;
}

static pte_t anon_zero_pte(const struct vm_area_struct *vma)
{
	return mk_pgent(vma->vm_mm->machine->phys.zero_pfn, anon_zero_flags(vma));
}

static pgent_t anon_page_flags(const struct vm_area_struct *vma)
{
	return vma_page_flags(vma) | _PAGE_DIRTY | ((vma->vm_flags & VM_WRITE) ? _PAGE_RW : 0);
}

static pte_t anon_page_pte(const struct vm_area_struct *vma, uint32_t pfn)
{
	return mk_pgent(pfn, anon_page_flags(vma));
}

/* do_anonymous_page(): zero page for a read, a fresh anonymous page for a write. */
static unsigned int do_anonymous_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	if (pte_alloc(mm, vmf->pmd, vmf->address))
		return VM_FAULT_OOM;
	vmf->pte = pte_offset_map(mm, vmf->pmd, vmf->address);

	if (!(vmf->flags & FAULT_FLAG_WRITE)) {
		set_pte_at(mm, vmf->address, vmf->pte, anon_zero_pte(vma));
		STAT_INC(m, FAULTS_ZERO);
		return 0;
	}

	if (anon_vma_prepare(vma))
		return VM_FAULT_OOM;
	uint32_t pfn = alloc_anon_page(m);
	if (!pfn)
		return VM_FAULT_OOM;
	mm_counter_add(mm, MM_ANONPAGES, 1);
	folio_add_lru_vma(vma, pfn);
	set_pte_at(mm, vmf->address, vmf->pte, anon_page_pte(vma, pfn));
	STAT_INC(m, FAULTS_ANON);
	return 0;
}

/*
 * fault_around_bytes: do_read_fault() maps the pages of the surrounding
 * 64 KiB window that are already in the page cache (filemap_map_pages()),
 * within the VMA and the same PTE table.
 */
#define FAULT_AROUND_BYTES 65536ull

static void do_fault_around(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t psz = PAGE_SIZE(m);
	uint64_t start = vmf->address & ~(FAULT_AROUND_BYTES - 1);
	uint64_t end = start + FAULT_AROUND_BYTES;
	uint64_t tbl = vmf->address & ~(PMD_SIZE(m) - 1);
	int rss = 0;

	if (start < vma->vm_start)
		start = vma->vm_start;
	if (start < tbl)
		start = tbl;
	if (end > vma->vm_end)
		end = vma->vm_end;
	if (end > tbl + PMD_SIZE(m))
		end = tbl + PMD_SIZE(m);
	for (uint64_t a = start; a < end; a += psz) {
		uint64_t v;
		if (a == vmf->address)
			continue;
		pte_t *ptep = pte_offset_map(mm, vmf->pmd, a);
		if (!pgent_none(*ptep))
			continue;
		if (!hmap_get(&vma->vm_file->pages, linear_page_index(vma, a), &v))
			continue;
		uint32_t pfn = (uint32_t)v;
		get_page(m, pfn);
		folio_add_rmap(m, pfn, 1);
		pte_t entry = mk_pgent(pfn, vma_page_flags(vma));
		if ((vma->vm_flags & VM_SHARED) && (vma->vm_flags & VM_WRITE) && vma->vm_file->kind == FILE_SHMEM)
			entry |= _PAGE_RW;
		if (m->ops->wants_old_prefaulted_pte)
			entry &= ~_PAGE_ACCESSED;   /* set_pte_range(): a prefaulted page starts old */
		set_pte_at(mm, a, ptep, entry);
		rss++;
	}
	if (rss)
		mm_counter_add(mm, vma->vm_file->kind == FILE_SHMEM ? MM_SHMEMPAGES : MM_FILEPAGES, rss);
}

/* finish_fault()/set_pte_range() for a page-cache page. */
static unsigned int map_file_page(struct vm_fault *vmf, uint32_t pfn, bool write)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	pte_t entry = mk_pgent(pfn, vma_page_flags(vma));

	if (write) {
		entry |= _PAGE_DIRTY | ((vma->vm_flags & VM_WRITE) ? _PAGE_RW : 0);
		frame(m, pfn)->flags |= FRAME_F_DIRTY;
	} else if ((vma->vm_flags & VM_SHARED) && (vma->vm_flags & VM_WRITE) && vma->vm_file->kind == FILE_SHMEM) {
		/* shmem needs no write notification: mapped writable (and clean) at once. */
		entry |= _PAGE_RW;
	}
	get_page(m, pfn);
	folio_add_rmap(m, pfn, 1);
	mm_counter_add(mm, mm_counter_of(m, pfn), 1);
	set_pte_at(mm, vmf->address, vmf->pte, entry);
	m->stats[vma->vm_file->kind == FILE_SHMEM ? ST_FAULTS_SHMEM : ST_FAULTS_FILE]++;
	return 0;
}

static unsigned int do_read_fault(struct vm_fault *vmf)
{
	struct ptsim_machine *m = vmf->vma->vm_mm->machine;
	bool oom;
	uint32_t pfn = filemap_get_page(m, vmf->vma->vm_file, vmf->pgoff, &oom);

	if (oom)
		return VM_FAULT_OOM;
	map_file_page(vmf, pfn, false);
	do_fault_around(vmf);
	return 0;
}

/* do_cow_fault(): write fault on a private file mapping: a private anonymous copy. */
static unsigned int do_cow_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	bool oom;

	if (anon_vma_prepare(vma))
		return VM_FAULT_OOM;
	/* The file page is read into the page cache to copy from. */
	filemap_get_page(m, vma->vm_file, vmf->pgoff, &oom);
	if (oom)
		return VM_FAULT_OOM;
	uint32_t pfn = alloc_anon_page(m);
	if (!pfn)
		return VM_FAULT_OOM;
	pte_t entry = mk_pgent(pfn, vma_page_flags(vma) | _PAGE_DIRTY | ((vma->vm_flags & VM_WRITE) ? _PAGE_RW : 0));
	mm_counter_add(mm, MM_ANONPAGES, 1);
	folio_add_lru_vma(vma, pfn);   /* set_pte_range() */
	set_pte_at(mm, vmf->address, vmf->pte, entry);
	STAT_INC(m, FAULTS_COW);
	return 0;
}

static unsigned int do_shared_fault(struct vm_fault *vmf)
{
	struct ptsim_machine *m = vmf->vma->vm_mm->machine;
	bool oom;
	uint32_t pfn = filemap_get_page(m, vmf->vma->vm_file, vmf->pgoff, &oom);

	if (oom)
		return VM_FAULT_OOM;
	return map_file_page(vmf, pfn, true);
}

static unsigned int do_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;

	if (pte_alloc(vma->vm_mm, vmf->pmd, vmf->address))
		return VM_FAULT_OOM;
	vmf->pte = pte_offset_map(vma->vm_mm, vmf->pmd, vmf->address);
	vmf->pgoff = linear_page_index(vma, vmf->address);
	if (!(vmf->flags & FAULT_FLAG_WRITE))
		return do_read_fault(vmf);
	if (!(vma->vm_flags & VM_SHARED))
		return do_cow_fault(vmf);
	return do_shared_fault(vmf);
}

static unsigned int do_pte_missing(struct vm_fault *vmf)
{
	if (vma_is_anonymous(vmf->vma))
		return do_anonymous_page(vmf);
	return do_fault(vmf);
}

/**
 * ptep_clear_flush - clear a PTE and flush it from every TLB that may hold it
 * (x86: the PTE is accessible whenever it was present).
 */
void ptep_clear_flush(struct vm_area_struct *vma, uint64_t address, pte_t *ptep)
{
	pte_t pte = *ptep;

	pt_write(vma->vm_mm->machine, ptep, PT_PTE, address, 0);
	if (pgent_present(pte))
		flush_tlb_page(vma, address);
}

/* wp_page_copy(): break COW — new private page, old mapping cleared and flushed. */
static unsigned int wp_page_copy(struct vm_fault *vmf, uint32_t old_pfn)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	if (anon_vma_prepare(vma))
		return VM_FAULT_OOM;
	uint32_t pfn = alloc_anon_page(m);
	if (!pfn)
		return VM_FAULT_OOM;

	if (old_pfn) {
		int counter = mm_counter_of(m, old_pfn);
		if (counter != MM_ANONPAGES) {
			mm_counter_add(mm, counter, -1);
			mm_counter_add(mm, MM_ANONPAGES, 1);
		}
	} else {
		mm_counter_add(mm, MM_ANONPAGES, 1);   /* was the zero page */
	}
	pte_t entry = mk_pgent(pfn, vma_page_flags(vma) | _PAGE_DIRTY | _PAGE_RW);
	/* Clear the old entry and flush it before the new one becomes visible. */
	ptep_clear_flush(vma, vmf->address, vmf->pte);
	folio_add_lru_vma(vma, pfn);
	set_pte_at(mm, vmf->address, vmf->pte, entry);
	if (old_pfn) {
		folio_remove_rmap(m, old_pfn, 1);
		put_page(m, old_pfn);
	}
	STAT_INC(m, FAULTS_COW);
	return 0;
}

/*
 * wp_can_reuse_anon_folio(): may the write reuse a small anonymous folio that
 * is not marked exclusive?  Only if the mapping's reference is its only one.
 * A folio still in a per-CPU LRU batch (not on the LRU) makes this CPU drain
 * its own batch first; a reference another CPU's batch holds stays, and the
 * page is copied (swap.c).  No KSM, no swap cache, no contended folio lock in
 * ptsim; folio_move_anon_rmap() has no anon_vma to move to.
 */
static bool wp_can_reuse_anon_folio(struct ptsim_machine *m, uint32_t pfn)
{
	if (frame(m, pfn)->refcount > 3)
		return false;
	if (!folio_test_lru(frame(m, pfn)))
		lru_add_drain(m);
	if (frame(m, pfn)->refcount > 1)   /* + folio_test_swapcache() */
		return false;
	/* folio_trylock() succeeds; folio_free_swap() has nothing to free */
	return frame(m, pfn)->refcount == 1;
}

/* do_wp_page(): write to a present, write-protected PTE. */
static unsigned int do_wp_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct ptsim_machine *m = vma->vm_mm->machine;
	pte_t pte = vmf->orig_pte;
	uint32_t pfn = vm_normal_page(pte);

	if (vma->vm_flags & VM_SHARED) {
		/* wp_page_shared(): the file page becomes writable and dirty. */
		if (pfn)
			frame(m, pfn)->flags |= FRAME_F_DIRTY;
		pt_write(m, vmf->pte, PT_PTE, vmf->address, pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
		STAT_INC(m, FAULTS_WP_REUSE);
		return 0;
	}
	if (pfn && frame(m, pfn)->kind == FRAME_ANON &&
	    (frame(m, pfn)->flags & FRAME_F_ANON_EXCL || wp_can_reuse_anon_folio(m, pfn))) {
		/* wp_page_reuse(): ours alone; upgrading needs no flush. */
		frame(m, pfn)->flags |= FRAME_F_ANON_EXCL;
		pt_write(m, vmf->pte, PT_PTE, vmf->address, pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
		STAT_INC(m, FAULTS_WP_REUSE);
		return 0;
	}
	return wp_page_copy(vmf, pfn);
}

/* do_swap_page(): bring an anonymous page back from swap. */
static unsigned int do_swap_page(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint32_t pfn = alloc_anon_page(m);

	if (!pfn)
		return VM_FAULT_OOM;
	folio_add_lru(m, pfn);   /* the swapin's new folio */
	pte_t entry = mk_pgent(pfn, vma_page_flags(vma));
	if ((vmf->flags & FAULT_FLAG_WRITE) && (vma->vm_flags & VM_WRITE))
		entry |= _PAGE_RW | _PAGE_DIRTY;
	mm_counter_add(mm, MM_ANONPAGES, 1);
	mm_counter_add(mm, MM_SWAPENTS, -1);
	set_pte_at(mm, vmf->address, vmf->pte, entry);
	STAT_INC(m, FAULTS_SWAPIN);
	return 0;
}

static unsigned int handle_pte_fault(struct vm_fault *vmf)
{
	struct mm_struct *mm = vmf->vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	if (pmd_none(mm, *vmf->pmd)) {
		vmf->pte = NULL;
		return do_pte_missing(vmf);
	}
	vmf->pte = pte_offset_map(mm, vmf->pmd, vmf->address);
	vmf->orig_pte = *vmf->pte;
	pte_t entry = vmf->orig_pte;

	if (pgent_none(entry))
		return do_pte_missing(vmf);
	if (!pgent_present(entry)) {
		switch (pgent_swp_kind(entry)) {
		case SWP_SWAP:
			return do_swap_page(vmf);
		case SWP_UFFD_WP_MARKER:
			/* A marker only: fault the page in as if none. */
			pt_write(m, vmf->pte, PT_PTE, vmf->address, 0);
			return do_pte_missing(vmf);
		case SWP_GUARD_MARKER:
			return VM_FAULT_SIGSEGV;
		default:
			return VM_FAULT_SIGBUS;   /* migration: waits for it in the kernel */
		}
	}
	if (vmf->flags & FAULT_FLAG_WRITE) {
		if (!(entry & _PAGE_RW))
			return do_wp_page(vmf);
		entry |= _PAGE_DIRTY;
	}
	/* Spurious fault: just update the accessed/dirty bits. */
	pt_write(m, vmf->pte, PT_PTE, vmf->address, entry | _PAGE_ACCESSED);
	return 0;
}

/**
 * handle_mm_fault - the fault path: allocate the upper tables, then the PTE
 * handlers (hugetlb VMAs go to hugetlb_fault()).
 * Return: 0, or VM_FAULT_* bits.
 */
unsigned int handle_mm_fault(struct vm_area_struct *vma, uint64_t address, unsigned int flags)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;

	STAT_INC(m, FAULTS_TOTAL);
	if (this_cpu(m))
		CPU_STAT_INC(this_cpu(m), FAULTS);
	if (PTSIM_UNLIKELY(vma->vm_flags & (VM_HUGETLB | VM_SHARED_PT))) {
		if (vma->vm_flags & VM_SHARED_PT) {
			/* mshare RFC v3 08/10: link the shared table, or handle the fault in the host mm (mshare.c). */
			unsigned int ret = find_shared_vma(&vma, &address);
			if (ret)
				return ret;
			if (!vma || mshare_access_error(vma, flags))
				return VM_FAULT_SIGSEGV;
			mm = vma->vm_mm;
		}
		if (is_vm_hugetlb_page(vma))
			return hugetlb_fault(mm, vma, address, flags);
	}
	struct vm_fault vmf = { .vma = vma, .address = address & ~(PAGE_SIZE(m) - 1), .flags = flags };

	/*
	 * ptsim: the walk below ends at the PMD entry it ended at last time when
	 * no upper-level entry changed since (m->upper_gen): skip it then.  The
	 * result is the same; only the cost of re-walking differs.
	 */
	uint64_t pmd_index = address >> PMD_SHIFT(m);
	if (mm->fault_pmd && mm->fault_pmd_gen == m->upper_gen && mm->fault_pmd_index == pmd_index) {
		vmf.pmd = mm->fault_pmd;
		return handle_pte_fault(&vmf);
	}
	vmf.pmd = alloc_new_pmd(mm, address);
	if (!vmf.pmd)
		return VM_FAULT_OOM;
	mm->fault_pmd = vmf.pmd;
	mm->fault_pmd_index = pmd_index;
	mm->fault_pmd_gen = m->upper_gen;
	return handle_pte_fault(&vmf);
}

/*
 * ptsim: a run of anonymous faults (struct anon_fault_run in internal.h).
 * The VMA, the PMD entry and the anon_vma are checked once, at the first none
 * PTE; from then on each none PTE takes the steps handle_mm_fault() ->
 * handle_pte_fault() -> do_pte_missing() -> do_anonymous_page() take for it
 * when those checks hold, in the same order, with the counters summed.
 */
static bool anon_fault_run_begin(struct anon_fault_run *r, uint64_t address, const pte_t *ptep)
{
	struct mm_struct *mm = r->mm;
	struct vm_area_struct *vma = find_vma(mm, address);

	/* What user_access() turns into a SIGSEGV, stack growth or a file/hugetlb/mshare fault: the general path. */
	if (!vma || vma->vm_start > address || (r->write && !(vma->vm_flags & VM_WRITE)) ||
	    !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) || !vma_is_anonymous(vma) ||
	    (vma->vm_flags & (VM_HUGETLB | VM_SHARED_PT)))
		return false;
	/* anon_vma_prepare() would allocate one. */
	if (r->write && !vma->anon_vma)
		return false;
	/* The PTE table exists (pte_alloc() has nothing to do) and is the one the hardware walk reached. */
	pmd_t *pmd = mm_find_pmd(mm, address);
	if (!pmd || pmd_none(mm, *pmd) || pgent_huge(*pmd) || pte_offset_map(mm, pmd, address) != ptep)
		return false;
	r->vma = vma;
	r->pte_flags = r->write ? anon_page_flags(vma) : anon_zero_flags(vma);
	/* folio_add_lru_vma()'s choice, the same for every page of the run */
	r->lru = (vma->vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED || !r->m->cur ? NULL : &r->m->cur->lru_add;
	return true;
}

void anon_fault_run_start(struct anon_fault_run *r, struct mm_struct *mm, bool write)
{
	struct ptsim_machine *m = mm->machine;

	memset(r, 0, sizeof(*r));
	r->mm = mm;
	r->m = m;
	r->write = write;
	/* Nothing a run does sets a hook or makes a GUP-fast walker stale. */
	r->hooked = m->entry_hook || m->nr_stale_walkers;
}

/* set_pte_at() in a run: pt_write() with its hook test made once per run. */
static inline void set_pte_run(struct anon_fault_run *r, uint64_t address, pte_t *ptep, pte_t pte)
{
	struct ptsim_machine *m = r->m;

	if (PTSIM_UNLIKELY(r->hooked))
		pt_write_hooked(m, ptep, PT_PTE, address & ~(PAGE_SIZE(m) - 1), pte);
	else
		*ptep = pte;
}

int do_anonymous_page_run(struct anon_fault_run *r, uint64_t address, pte_t *ptep)
{
	struct ptsim_machine *m = r->m;

	if (PTSIM_UNLIKELY(!r->vma) && !anon_fault_run_begin(r, address, ptep))
		return 1;
	if (address >= r->vma->vm_end)
		return 1;
	/* handle_mm_fault(): counted by what the fault did (anon_fault_run_faults()) */
	/* do_anonymous_page(): anon_zero_pte() or anon_page_pte() with the run's flags */
	if (!r->write) {
		set_pte_run(r, address, ptep, mk_pgent(m->phys.zero_pfn, r->pte_flags));
		r->zero++;
		return 0;
	}
	uint32_t pfn = alloc_anon_page(m);
	if (!pfn) {
		r->oom = true;
		return SIM_ENOMEM;   /* VM_FAULT_OOM */
	}
	r->anon++;
	if (r->lru)
		folio_batch_add_and_move(m, r->lru, pfn);   /* folio_add_lru_vma() */
	set_pte_run(r, address, ptep, mk_pgent(pfn, r->pte_flags));
	return 0;
}

void anon_fault_run_end(struct anon_fault_run *r, struct sim_cpu *cpu)
{
	struct ptsim_machine *m = r->mm->machine;

	m->stats[ST_FAULTS_TOTAL] += (uint64_t)anon_fault_run_faults(r);
	if (cpu)
		cpu->stats[CST_FAULTS] += (uint64_t)anon_fault_run_faults(r);
	m->stats[ST_FAULTS_ANON] += (uint64_t)r->anon;
	m->stats[ST_FAULTS_ZERO] += (uint64_t)r->zero;
	if (r->anon)
		mm_counter_add(r->mm, MM_ANONPAGES, r->anon);
}

/* ------------------------------------------------------------------------ */
/* Zapping                                                                   */
/* ------------------------------------------------------------------------ */

static bool should_zap_cows(const struct zap_details *details)
{
	/* By default, zap all pages. */
	if (!details || details->reclaim_pt)
		return true;
	/* Or, zap COWed pages only if the caller wants to. */
	return details->even_cows;
}

static bool should_zap_folio(struct ptsim_machine *m, const struct zap_details *details, uint32_t pfn)
{
	if (should_zap_cows(details))
		return true;
	return frame(m, pfn)->kind != FRAME_ANON;
}

static bool zap_drop_markers(const struct zap_details *details)
{
	return details && (details->zap_flags & ZAP_FLAG_DROP_MARKER);
}

/*
 * zap_install_uffd_wp_if_needed(): a file VMA registered for uffd-wp keeps a
 * marker where a write-protected entry was zapped (unless the caller drops
 * markers).  Return: true if a marker was installed (the entry is "skipped").
 */
static bool zap_install_uffd_wp_if_needed(struct vm_area_struct *vma, uint64_t addr, pte_t *pte,
					  const struct zap_details *details, pte_t pteval)
{
	if (vma_is_anonymous(vma) || !(vma->vm_flags & VM_UFFD_WP) || zap_drop_markers(details))
		return false;
	if (!(pteval & _PAGE_UFFD_WP))
		return false;
	pt_write(vma->vm_mm->machine, pte, PT_PTE, addr, mk_swp_pgent(SWP_UFFD_WP_MARKER, 0));
	return true;
}

static void zap_present_folio_pte(struct mmu_gather *tlb, struct vm_area_struct *vma, uint32_t pfn, pte_t *pte,
				  pte_t ptent, uint64_t addr, const struct zap_details *details, long *rss,
				  bool *force_flush, bool *force_break, bool *any_skipped)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	bool delay_rmap = false;

	pt_write(m, pte, PT_PTE, addr, 0);   /* get_and_clear_full_ptes() */
	if (frame(m, pfn)->kind != FRAME_ANON) {
		if (ptent & _PAGE_DIRTY) {
			frame(m, pfn)->flags |= FRAME_F_DIRTY;   /* folio_mark_dirty() */
			if (tlb_delay_rmap(tlb)) {
				delay_rmap = true;
				*force_flush = true;
			}
		}
		rss[mm_counter_of(m, pfn)]--;
	} else {
		rss[MM_ANONPAGES]--;
	}
	tlb_remove_tlb_entry(tlb, addr);
	if (PTSIM_UNLIKELY(vma->vm_flags & VM_UFFD_WP))
		*any_skipped = zap_install_uffd_wp_if_needed(vma, addr, pte, details, ptent);

	if (!delay_rmap)
		folio_remove_rmap(m, pfn, 1);
	if (PTSIM_UNLIKELY(__tlb_remove_folio_pages(tlb, pfn, 1, delay_rmap))) {
		*force_flush = true;
		*force_break = true;
	}
}

static int zap_present_ptes(struct mmu_gather *tlb, struct vm_area_struct *vma, pte_t *pte, pte_t ptent,
			    uint64_t addr, const struct zap_details *details, long *rss, bool *force_flush,
			    bool *force_break, bool *any_skipped)
{
	struct ptsim_machine *m = tlb->mm->machine;
	uint32_t pfn = vm_normal_page(ptent);

	if (!pfn) {
		/* Special mapping (zero page): no page to free or count. */
		pt_write(m, pte, PT_PTE, addr, 0);
		tlb_remove_tlb_entry(tlb, addr);
		if (PTSIM_UNLIKELY(vma->vm_flags & VM_UFFD_WP))
			*any_skipped = zap_install_uffd_wp_if_needed(vma, addr, pte, details, ptent);
		return 1;
	}
	if (PTSIM_UNLIKELY(!should_zap_folio(m, details, pfn))) {
		*any_skipped = true;
		return 1;
	}
	zap_present_folio_pte(tlb, vma, pfn, pte, ptent, addr, details, rss, force_flush, force_break, any_skipped);
	return 1;
}

static int zap_nonpresent_ptes(struct mmu_gather *tlb, struct vm_area_struct *vma, pte_t *pte, pte_t ptent,
			       uint64_t addr, const struct zap_details *details, long *rss, bool *any_skipped)
{
	struct ptsim_machine *m = tlb->mm->machine;

	/* An entry left in place keeps the table from being reclaimed. */
	*any_skipped = true;
	switch (pgent_swp_kind(ptent)) {
	case SWP_SWAP:
		if (!should_zap_cows(details))
			return 1;
		rss[MM_SWAPENTS]--;   /* free_swap_and_cache() */
		break;
	case SWP_MIGRATION: {
		uint32_t pfn = pgent_pfn(ptent);
		if (!should_zap_folio(m, details, pfn))
			return 1;
		rss[mm_counter_of(m, pfn)]--;
		break;
	}
	case SWP_UFFD_WP_MARKER:
		/* Only drop the marker for anonymous VMAs or when asked to. */
		if (!vma_is_anonymous(vma) && !zap_drop_markers(details))
			return 1;
		break;
	case SWP_GUARD_MARKER:
		if (!zap_drop_markers(details))
			return 1;
		break;
	default:
		NEVER(m, true);
		return 1;
	}
	pt_write(m, pte, PT_PTE, addr, 0);
	*any_skipped = zap_install_uffd_wp_if_needed(vma, addr, pte, details, ptent);
	return 1;
}

/*
 * Batched zap (simulator, ptsim_debug_batching()): a run of present entries
 * mapping small anonymous folios (exclusive, or shared after fork: their zap
 * takes the same steps) goes through zap_present_anon_run() instead of one
 * zap_present_ptes() call per entry.  The run is taken only where the
 * general path would take, for each of its pages, exactly these steps:
 * the folio is zapped (should_zap_cows()), no uffd-wp marker can be left
 * (no VM_UFFD_WP), no entry write is watched (no set_entry hook, no stale
 * GUP-fast walker), and no earlier entry forced a break (pt_reclaim v1 keeps
 * force_break set across the retry: every entry then breaks out alone).
 */
static bool zap_anon_runs_allowed(struct ptsim_machine *m, const struct vm_area_struct *vma,
				  const struct zap_details *details)
{
	return !m->no_batching && should_zap_cows(details) && !(vma->vm_flags & VM_UFFD_WP);
}

/* Present, not special (vm_normal_page() finds a page), and a small anonymous folio. */
static inline bool zap_anon_run_entry(struct ptsim_machine *m, pte_t ptent)
{
	return (ptent & (_PAGE_PRESENT | _PAGE_SPECIAL)) == _PAGE_PRESENT && frame(m, pgent_pfn(ptent))->kind == FRAME_ANON;
}

/*
 * zap_present_anon_run - zap_present_ptes() -> zap_present_folio_pte() for
 * each entry of a run from @pte (at most @max_nr entries), in the general
 * path's order: per page, get_and_clear_full_ptes(), folio_remove_rmap() and
 * __tlb_remove_folio_pages() (written into the active batch, as many pages
 * at a time as it takes before it is full); per chunk of pages,
 * tlb_remove_tlb_entries() records their range before they are counted in the
 * batch, and rss[MM_ANONPAGES] is summed.  The page that fills the gather
 * ends the run with *force_flush and *force_break set, as in the general path.
 * Return: entries zapped; 0 if the first is not one of a run.
 */
static int zap_present_anon_run(struct mmu_gather *tlb, pte_t *pte, uint64_t addr, int max_nr, long *rss,
				bool *force_flush, bool *force_break)
{
	struct ptsim_machine *m = tlb->mm->machine;
	unsigned int page_shift = PAGE_SHIFT(m);
	int nr = 0;

	if (PTSIM_UNLIKELY(m->entry_hook || m->nr_stale_walkers))
		return 0;
	while (nr < max_nr) {
		unsigned int room = tlb_batch_room(tlb);
		uint64_t *slot = tlb_batch_slots(tlb);
		int n = 0, max = max_nr - nr < (int)room ? max_nr - nr : (int)room;

		for (; n < max; n++) {
			pte_t ptent = pte[nr + n];
			uint32_t pfn = pgent_pfn(ptent);

			if (!zap_anon_run_entry(m, ptent))
				break;
			pte[nr + n] = 0;   /* get_and_clear_full_ptes() (no hook: pt_write() stores) */
			folio_remove_rmap(m, pfn, 1);
			slot[n] = pfn;   /* __tlb_remove_folio_pages(tlb, pfn, 1, false) */
		}
		if (!n)
			break;
		tlb_remove_tlb_entries(tlb, addr + ((uint64_t)nr << page_shift), (unsigned int)n);
		rss[MM_ANONPAGES] -= n;
		nr += n;
		if (PTSIM_UNLIKELY(tlb_batch_queued(tlb, (unsigned int)n))) {
			*force_flush = true;
			*force_break = true;
			break;
		}
		if (n < max)
			break;
	}
	return nr;
}

/* How many of the @max_nr entries from @pte are none before the first that is not (four tested at a time). */
static inline int pte_none_run(const pte_t *pte, int max_nr)
{
	int nr = 0;

	while (nr + 4 <= max_nr && !(pte[nr] | pte[nr + 1] | pte[nr + 2] | pte[nr + 3]))
		nr += 4;
	while (nr < max_nr && pgent_none(pte[nr]))
		nr++;
	return nr;
}

/*
 * do_zap_pte_range(): skip a run of none entries, then zap one entry
 * (present or not), or a run of anonymous pages (@anon_runs).  Entries start
 * as "skipped" only where the handlers say.
 */
static int do_zap_pte_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pte_t *pte, uint64_t addr,
			    uint64_t end, const struct zap_details *details, long *rss, bool *force_flush,
			    bool *force_break, bool *any_skipped, bool anon_runs)
{
	struct ptsim_machine *m = tlb->mm->machine;
	unsigned int page_shift = PAGE_SHIFT(m);
	int max_nr = (int)((end - addr) >> page_shift);
	int nr = 0;
	pte_t ptent = *pte;

	if (pgent_none(ptent)) {
		nr = pte_none_run(pte, max_nr);
		max_nr -= nr;
		if (!max_nr)
			return nr;
		ptent = pte[nr];
		pte += nr;
		addr += (uint64_t)nr << page_shift;
	}
	if (anon_runs && !*force_break) {
		int run = zap_present_anon_run(tlb, pte, addr, max_nr, rss, force_flush, force_break);
		if (run)
			return nr + run;
	}
	if (pgent_present(ptent))
		nr += zap_present_ptes(tlb, vma, pte, ptent, addr, details, rss, force_flush, force_break,
				       any_skipped);
	else
		nr += zap_nonpresent_ptes(tlb, vma, pte, ptent, addr, details, rss, any_skipped);
	return nr;
}

/**
 * zap_pte_range - zap the entries of one PTE table in [@addr, @end).
 * With PT_RECLAIM (details->reclaim_pt, MADV_DONTNEED only) an emptied table
 * whose whole span was zapped is detached and freed: fast path under the PTE
 * lock (try_get_and_clear_pmd()), else the slow re-check (try_to_free_pte()).
 * Return: the address it stopped at (== @end when done).
 */
static uint64_t zap_pte_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pmd_t *pmd, uint64_t addr,
			      uint64_t end, struct zap_details *details)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	bool force_flush = false, force_break = false;
	uint64_t start = addr;
	bool can_reclaim_pt = reclaim_pt_is_enabled(m, start, end, details);
	bool direct_reclaim = true;
	bool anon_runs = zap_anon_runs_allowed(m, vma, details);
	pmd_t pmdval = 0;
	long rss[NR_MM_COUNTERS];
	int nr;

retry:
	memset(rss, 0, sizeof(rss));
	if (pmd_none(mm, *pmd))
		return addr;   /* pte_offset_map_lock() failed: the table is gone */
	pte_t *pte = pte_offset_map(mm, pmd, addr);
	flush_tlb_batched_pending(mm);
	do {
		bool any_skipped = false;

		nr = do_zap_pte_range(tlb, vma, pte, addr, end, details, rss, &force_flush, &force_break,
				      &any_skipped, anon_runs);
		if (any_skipped)
			can_reclaim_pt = false;
		if (PTSIM_UNLIKELY(force_break)) {
			addr += (uint64_t)nr << PAGE_SHIFT(m);
			/* The v6.14-rc fix: the PTE lock drops, so re-check on the slow path (not in v1). */
			if (m->v.pt_reclaim != PT_RECLAIM_V1_2024_10)
				direct_reclaim = false;
			break;
		}
	} while (pte += nr, addr += (uint64_t)nr << PAGE_SHIFT(m), addr != end);

	/*
	 * Fast path: take the PMD lock and detach the PTE page.  If the PTE lock
	 * was dropped midway, or the PMD lock is contended, the slow path below
	 * re-checks every entry.
	 */
	if (can_reclaim_pt && direct_reclaim && addr == end)
		direct_reclaim = try_get_and_clear_pmd(mm, pmd, &pmdval);

	add_mm_rss_vec(mm, rss);

	/* The actual TLB flush before the PTE lock drops. */
	if (force_flush) {
		STAT_INC(m, GATHER_FORCED);
		tlb_flush_mmu_tlbonly(tlb);
		tlb_flush_rmaps(tlb, vma);
	}
	/* pte_unmap_unlock() */
	if (force_flush)
		tlb_flush_mmu(tlb);

	if (addr != end) {
		/*
		 * v1 put the retry label below the flags' initialisation, so a
		 * forced flush stayed forced: every later present entry broke
		 * out again (Jann Horn's review of patch 2/7).
		 */
		if (m->v.pt_reclaim != PT_RECLAIM_V1_2024_10) {
			force_flush = false;
			force_break = false;
		}
		goto retry;
	}

	if (can_reclaim_pt)
		m->eras.pt_reclaim_free(mm, pmd, start, addr, tlb, pmdval, direct_reclaim);
	return addr;
}

static void zap_pmd_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pud_t *pud, uint64_t addr,
			  uint64_t end, struct zap_details *details)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	pmd_t *pmd = pmd_offset(mm, pud, addr);
	uint64_t next;

	do {
		next = pmd_addr_end(m, PT_PMD, addr, end);
		if (pmd_none(mm, *pmd) || NEVER(m, pgent_huge(*pmd))) {   /* no anonymous THP in the model */
			addr = next;
			continue;
		}
		addr = zap_pte_range(tlb, vma, pmd, addr, next, details);
		if (addr != next)
			pmd--;   /* retry the same PMD */
	} while (pmd++, addr != end);
}

static void zap_pud_range(struct mmu_gather *tlb, struct vm_area_struct *vma, p4d_t *p4d, uint64_t addr,
			  uint64_t end, struct zap_details *details)
{
	struct mm_struct *mm = tlb->mm;
	pud_t *pud = pud_offset(mm, p4d, addr);
	uint64_t next;

	do {
		next = pmd_addr_end(mm->machine, PT_PUD, addr, end);
		if (pud_none(mm, *pud))
			continue;
		zap_pmd_range(tlb, vma, pud, addr, next, details);
	} while (pud++, addr = next, addr != end);
}

static void zap_p4d_range(struct mmu_gather *tlb, struct vm_area_struct *vma, pgd_t *pgd, uint64_t addr,
			  uint64_t end, struct zap_details *details)
{
	struct mm_struct *mm = tlb->mm;
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	uint64_t next;

	do {
		next = pmd_addr_end(mm->machine, PT_P4D, addr, end);
		if (p4d_none(mm, *p4d))
			continue;
		zap_pud_range(tlb, vma, p4d, addr, next, details);
	} while (p4d++, addr = next, addr != end);
}

void unmap_page_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr, uint64_t end,
		      struct zap_details *details)
{
	struct mm_struct *mm = tlb->mm;
	uint64_t next;

	assert(addr < end);
	if (PTSIM_UNLIKELY(vma->vm_flags & VM_SHARED_PT)) {
		/* mshare: the posting's step (RFC v3: skipped; the fixes unlink the shared table). */
		mshare_unmap_page_range(tlb, vma, addr, end);
		return;
	}
	tlb_start_vma(tlb, vma);
	pgd_t *pgd = pgd_offset(mm, addr);
	do {
		next = pmd_addr_end(mm->machine, PT_PGD, addr, end);
		if (pgd_none(mm, *pgd))
			continue;
		zap_p4d_range(tlb, vma, pgd, addr, next, details);
	} while (pgd++, addr = next, addr != end);
	tlb_end_vma(tlb, vma);
}

void unmap_single_vma(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start_addr, uint64_t end_addr,
		      struct zap_details *details, bool mm_wr_locked)
{
	uint64_t start = start_addr > vma->vm_start ? start_addr : vma->vm_start;
	uint64_t end;

	(void)mm_wr_locked;
	if (start >= vma->vm_end)
		return;
	end = end_addr < vma->vm_end ? end_addr : vma->vm_end;
	if (end <= vma->vm_start)
		return;
	if (start != end) {
		if (PTSIM_UNLIKELY(is_vm_hugetlb_page(vma))) {
			if (vma->vm_file)
				__unmap_hugepage_range(tlb, vma, start, end, 0, details ? details->zap_flags : 0);
		} else {
			unmap_page_range(tlb, vma, start, end, details);
		}
	}
}

/**
 * unmap_vmas - zap the pages of the VMAs from @vma on (@w's order) in
 * [@start, @end): the final unmap (markers dropped, private COW pages too).
 * No flush here beyond what the zap forces; the caller's tlb_finish_mmu()
 * does the final one.
 */
void unmap_vmas(struct mmu_gather *tlb, const struct vma_walk *w, struct vm_area_struct *vma, uint64_t start,
		uint64_t end)
{
	struct zap_details details = {
		.zap_flags = ZAP_FLAG_DROP_MARKER | ZAP_FLAG_UNMAP,
		.even_cows = true,   /* private pages too */
	};

	for (; vma; vma = vma_walk_next(w, vma)) {
		uint64_t s = start, e = end;

		hugetlb_zap_begin(vma, &s, &e);
		unmap_single_vma(tlb, vma, s, e, &details, false);
		hugetlb_zap_end(vma, &details);
	}
}

/**
 * zap_page_range_single_batched - zap [@address, +@size) of one VMA with the
 * caller's gather (madvise(MADV_DONTNEED)).  hugetlb: the gather is finished
 * and reopened so the flush happens before the hugetlb locks drop.
 */
void zap_page_range_single_batched(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t address,
				   uint64_t size, struct zap_details *details)
{
	uint64_t end = address + size;

	hugetlb_zap_begin(vma, &address, &end);
	update_hiwater_rss(vma->vm_mm);
	unmap_single_vma(tlb, vma, address, end, details, false);
	if (is_vm_hugetlb_page(vma)) {
		/* Flush before the hugetlb locks drop, then go on with a fresh gather. */
		tlb_finish_mmu(tlb);
		hugetlb_zap_end(vma, details);
		tlb_gather_mmu(tlb, vma->vm_mm);
	}
}

/**
 * zap_page_range_single - zap [@address, +@size) of one VMA with a gather of
 * its own (one flush at the end).  @details may be NULL (no PT reclaim,
 * markers kept).
 */
void zap_page_range_single(struct vm_area_struct *vma, uint64_t address, uint64_t size,
			   struct zap_details *details)
{
	struct mmu_gather tlb;

	tlb_gather_mmu(&tlb, vma->vm_mm);
	zap_page_range_single_batched(&tlb, vma, address, size, details);
	tlb_finish_mmu(&tlb);
}

/* ------------------------------------------------------------------------ */
/* free_pgtables                                                             */
/* ------------------------------------------------------------------------ */

/*
 * mshare (the 2025 v3's pud_range_is_shared(), for whatever level the linked
 * table is): a host table that processes still link stays, and so does the
 * entry that points at it.
 */
static inline bool mshare_table_linked(const struct ptdesc *pt)
{
	return PTSIM_UNLIKELY(pt->mshare_pts != 0);
}

static void free_pte_range(struct mmu_gather *tlb, pmd_t *pmd, uint64_t addr)
{
	struct mm_struct *mm = tlb->mm;
	struct ptdesc *token = pt_desc(mm->machine, pgent_pfn(*pmd));

	if (mshare_table_linked(token))
		return;
	pt_write(mm->machine, pmd, PT_PMD, addr, 0);   /* pmd_clear() */
	pte_free_tlb(tlb, token, addr);
	mm_dec_nr_ptes(mm);
}

static void free_pmd_range(struct mmu_gather *tlb, pud_t *pud, uint64_t addr, uint64_t end, uint64_t floor,
			   uint64_t ceiling)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t next, start = addr;
	pmd_t *pmd = pmd_offset(mm, pud, addr);

	do {
		next = pmd_addr_end(m, PT_PMD, addr, end);
		if (pmd_none(mm, *pmd))
			continue;
		if (NEVER(m, pgent_huge(*pmd) || !pgent_present(*pmd))) {
			pt_write(m, pmd, PT_PMD, addr, 0);   /* pmd_clear_bad() */
			continue;
		}
		free_pte_range(tlb, pmd, addr);
	} while (pmd++, addr = next, addr != end);

	if (m->geo.folded[PT_PMD])
		return;   /* pud_clear()/pmd_free_tlb() are no-ops */
	uint64_t mask = ~(PUD_SIZE(m) - 1);
	start &= mask;
	if (start < floor)
		return;
	if (ceiling) {
		ceiling &= mask;
		if (!ceiling)
			return;
	}
	if (end - 1 > ceiling - 1)
		return;

	struct ptdesc *pmdt = pt_desc(m, pgent_pfn(*pud));
	if (mshare_table_linked(pmdt))
		return;
	pt_write(m, pud, PT_PUD, start, 0);   /* pud_clear() */
	pmd_free_tlb(tlb, pmdt, start);
	mm_dec_nr_pmds(mm);
}

static void free_pud_range(struct mmu_gather *tlb, p4d_t *p4d, uint64_t addr, uint64_t end, uint64_t floor,
			   uint64_t ceiling, bool *pud_is_shared)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t next, start = addr;
	pud_t *pud = pud_offset(mm, p4d, addr);

	do {
		next = pmd_addr_end(m, PT_PUD, addr, end);
		if (pud_none(mm, *pud))
			continue;
		if (!m->geo.folded[PT_PMD] && NEVER(m, pgent_huge(*pud) || !pgent_present(*pud))) {
			pt_write(m, pud, PT_PUD, addr, 0);   /* pud_clear_bad() */
			continue;
		}
		free_pmd_range(tlb, pud, addr, next, floor, ceiling);
	} while (pud++, addr = next, addr != end);

	if (m->geo.folded[PT_PUD])
		return;
	uint64_t mask = ~(P4D_SIZE(m) - 1);
	start &= mask;
	if (start < floor)
		return;
	if (ceiling) {
		ceiling &= mask;
		if (!ceiling)
			return;
	}
	if (end - 1 > ceiling - 1)
		return;

	struct ptdesc *pudt = pt_desc(m, pgent_pfn(*p4d));
	if (mshare_table_linked(pudt)) {
		*pud_is_shared = true;
		return;
	}
	pt_write(m, p4d, PT_P4D, start, 0);   /* p4d_clear() */
	pud_free_tlb(tlb, pudt, start);
	mm_dec_nr_puds(mm);
}

static void free_p4d_range(struct mmu_gather *tlb, pgd_t *pgd, uint64_t addr, uint64_t end, uint64_t floor,
			   uint64_t ceiling)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t next, start = addr;
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	bool pud_is_shared = false;

	do {
		next = pmd_addr_end(m, PT_P4D, addr, end);
		if (p4d_none(mm, *p4d))
			continue;
		free_pud_range(tlb, p4d, addr, next, floor, ceiling, &pud_is_shared);
	} while (p4d++, addr = next, addr != end);

	if (m->geo.folded[PT_P4D])
		return;
	uint64_t mask = ~(PGDIR_SIZE(m) - 1);
	start &= mask;
	if (start < floor)
		return;
	if (ceiling) {
		ceiling &= mask;
		if (!ceiling)
			return;
	}
	if (end - 1 > ceiling - 1)
		return;

	struct ptdesc *p4dt = pt_desc(m, pgent_pfn(*pgd));
	if (PTSIM_UNLIKELY(pud_is_shared) || mshare_table_linked(p4dt))
		return;
	pt_write(m, pgd, PT_PGD, start, 0);   /* pgd_clear() */
	p4d_free_tlb(tlb, p4dt, start);
	mm_dec_nr_p4ds(mm);
}

/**
 * free_pgd_range - free the page tables of [@addr, @end) whose whole span lies
 * in [@floor, @ceiling) (0 as end/ceiling means the top).  PTE tables inside the
 * PMD-trimmed range always go; an upper table goes only if no surviving VMA
 * can use it.
 */
void free_pgd_range(struct mmu_gather *tlb, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling)
{
	struct mm_struct *mm = tlb->mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t pmd_mask = ~(PMD_SIZE(m) - 1);
	uint64_t next;

	addr &= pmd_mask;
	if (addr < floor) {
		addr += PMD_SIZE(m);
		if (!addr)
			return;
	}
	if (ceiling) {
		ceiling &= pmd_mask;
		if (!ceiling)
			return;
	}
	if (end - 1 > ceiling - 1)
		end -= PMD_SIZE(m);
	if (addr > end - 1)
		return;

	pgd_t *pgd = pgd_offset(mm, addr);
	do {
		next = pmd_addr_end(m, PT_PGD, addr, end);
		if (pgd_none(mm, *pgd))
			continue;
		free_p4d_range(tlb, pgd, addr, next, floor, ceiling);
	} while (pgd++, addr = next, addr != end);
}

/**
 * free_pgtables - free the page tables of the removed VMAs from @vma on (@w's
 * order, all already zapped), batching VMAs that start within PMD_SIZE of the
 * previous end; @floor/@ceiling bound what may go (surviving neighbours).
 */
void free_pgtables(struct mmu_gather *tlb, const struct vma_walk *w, struct vm_area_struct *vma, uint64_t floor,
		   uint64_t ceiling, bool mm_wr_locked)
{
	struct ptsim_machine *m = tlb->mm->machine;

	(void)mm_wr_locked;
	tlb_free_vmas(tlb);
	while (vma) {
		struct vm_area_struct *next = vma_walk_next(w, vma);
		uint64_t addr = vma->vm_start;

		/* mshare: the posting's own step for a VM_SHARED_PT VMA, if it has one (RFC v3: nothing to free). */
		if (PTSIM_UNLIKELY(vma->vm_flags & VM_SHARED_PT) &&
		    mshare_free_pgtables(tlb, vma, floor, next ? next->vm_start : ceiling)) {
			vma = next;
			continue;
		}
		/* Hide the VMA from rmap (and from huge_pmd_share()'s search). */
		vma_unlink_file(vma);
		while (next && next->vm_start <= vma->vm_end + PMD_SIZE(m) && !(next->vm_flags & VM_SHARED_PT)) {
			vma = next;
			next = vma_walk_next(w, vma);
			vma_unlink_file(vma);
		}
		free_pgd_range(tlb, addr, vma->vm_end, floor, next ? next->vm_start : ceiling);
		vma = next;
	}
}

/* ------------------------------------------------------------------------ */
/* fork: copy_page_range                                                     */
/* ------------------------------------------------------------------------ */

static bool vma_needs_copy(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma)
{
	/* Flags that must be copied (PFN maps, uffd-wp, guard markers), tested on the child. */
	if (dst_vma->vm_flags & VM_COPY_ON_FORK)
		return true;
	/* Anonymous pages exist: they cannot be refaulted. */
	if (src_vma->anon_vma)
		return true;
	/* Shared mappings and untouched private file mappings fault in later. */
	return false;
}

static int copy_pte_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma, pmd_t *dst_pmd,
			  pmd_t *src_pmd, uint64_t addr, uint64_t end)
{
	struct mm_struct *dst_mm = dst_vma->vm_mm, *src_mm = src_vma->vm_mm;
	struct ptsim_machine *m = src_mm->machine;
	bool cow = is_cow_mapping(src_vma->vm_flags);
	long rss[NR_MM_COUNTERS] = { 0 };

	if (pte_alloc(dst_mm, dst_pmd, addr))
		return SIM_ENOMEM;
	pte_t *src = pte_offset_map(src_mm, src_pmd, addr);
	pte_t *dst = pte_offset_map(dst_mm, dst_pmd, addr);

	for (; addr != end; addr += PAGE_SIZE(m), src++, dst++) {
		pte_t pte = *src;

		if (pgent_none(pte))
			continue;
		if (!pgent_present(pte)) {
			/* copy_nonpresent_pte() */
			switch (pgent_swp_kind(pte)) {
			case SWP_SWAP:
				rss[MM_SWAPENTS]++;
				break;
			case SWP_MIGRATION:
				rss[mm_counter_of(m, pgent_pfn(pte))]++;
				break;
			case SWP_UFFD_WP_MARKER:
				if (!(dst_vma->vm_flags & VM_UFFD_WP))
					continue;
				break;
			default:
				break;
			}
			pt_write(m, dst, PT_PTE, addr, pte);
			continue;
		}
		/* copy_present_ptes() */
		uint32_t pfn = vm_normal_page(pte);
		if (pfn) {
			get_page(m, pfn);
			folio_add_rmap(m, pfn, 1);
			frame(m, pfn)->flags &= (uint16_t)~FRAME_F_ANON_EXCL;
			rss[mm_counter_of(m, pfn)]++;
		}
		if (cow && (pte & _PAGE_RW)) {
			/* Write-protect in both: the parent's stale writable TLB entries are flushed by dup_mmap(). */
			pt_write(m, src, PT_PTE, addr, pte & ~_PAGE_RW);
			pte &= ~_PAGE_RW;
		}
		if (src_vma->vm_flags & VM_SHARED)
			pte &= ~_PAGE_DIRTY;
		pte &= ~_PAGE_ACCESSED;
		pt_write(m, dst, PT_PTE, addr, pte);
	}
	add_mm_rss_vec(dst_mm, rss);
	return 0;
}

static int copy_pmd_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma, pud_t *dst_pud,
			  pud_t *src_pud, uint64_t addr, uint64_t end)
{
	struct mm_struct *dst_mm = dst_vma->vm_mm, *src_mm = src_vma->vm_mm;
	pmd_t *dst_pmd = pmd_alloc(dst_mm, dst_pud, addr);
	uint64_t next;

	if (!dst_pmd)
		return SIM_ENOMEM;
	pmd_t *src_pmd = pmd_offset(src_mm, src_pud, addr);
	do {
		next = pmd_addr_end(src_mm->machine, PT_PMD, addr, end);
		if (pmd_none(src_mm, *src_pmd))
			continue;
		if (copy_pte_range(dst_vma, src_vma, dst_pmd, src_pmd, addr, next))
			return SIM_ENOMEM;
	} while (dst_pmd++, src_pmd++, addr = next, addr != end);
	return 0;
}

static int copy_pud_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma, p4d_t *dst_p4d,
			  p4d_t *src_p4d, uint64_t addr, uint64_t end)
{
	struct mm_struct *dst_mm = dst_vma->vm_mm, *src_mm = src_vma->vm_mm;
	pud_t *dst_pud = pud_alloc(dst_mm, dst_p4d, addr);
	uint64_t next;

	if (!dst_pud)
		return SIM_ENOMEM;
	pud_t *src_pud = pud_offset(src_mm, src_p4d, addr);
	do {
		next = pmd_addr_end(src_mm->machine, PT_PUD, addr, end);
		if (pud_none(src_mm, *src_pud))
			continue;
		if (copy_pmd_range(dst_vma, src_vma, dst_pud, src_pud, addr, next))
			return SIM_ENOMEM;
	} while (dst_pud++, src_pud++, addr = next, addr != end);
	return 0;
}

static int copy_p4d_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma, pgd_t *dst_pgd,
			  pgd_t *src_pgd, uint64_t addr, uint64_t end)
{
	struct mm_struct *dst_mm = dst_vma->vm_mm, *src_mm = src_vma->vm_mm;
	p4d_t *dst_p4d = p4d_alloc(dst_mm, dst_pgd, addr);
	uint64_t next;

	if (!dst_p4d)
		return SIM_ENOMEM;
	p4d_t *src_p4d = p4d_offset(src_mm, src_pgd, addr);
	do {
		next = pmd_addr_end(src_mm->machine, PT_P4D, addr, end);
		if (p4d_none(src_mm, *src_p4d))
			continue;
		if (copy_pud_range(dst_vma, src_vma, dst_p4d, src_p4d, addr, next))
			return SIM_ENOMEM;
	} while (dst_p4d++, src_p4d++, addr = next, addr != end);
	return 0;
}

/**
 * copy_page_range - fork: copy the parent's entries of @src_vma into the
 * child, or nothing when the child can fault them in (vma_needs_copy()).
 */
int copy_page_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma)
{
	struct mm_struct *dst_mm = dst_vma->vm_mm, *src_mm = src_vma->vm_mm;
	struct ptsim_machine *m = src_mm->machine;
	uint64_t addr = src_vma->vm_start, end = src_vma->vm_end, next;
	int ret = 0;

	if (!vma_needs_copy(dst_vma, src_vma))
		return 0;
	if (is_vm_hugetlb_page(src_vma))
		return copy_hugetlb_page_range(dst_mm, src_mm, dst_vma, src_vma);

	pgd_t *src_pgd = pgd_offset(src_mm, addr);
	pgd_t *dst_pgd = pgd_offset(dst_mm, addr);
	do {
		next = pmd_addr_end(m, PT_PGD, addr, end);
		if (pgd_none(src_mm, *src_pgd))
			continue;
		if (copy_p4d_range(dst_vma, src_vma, dst_pgd, src_pgd, addr, next)) {
			ret = SIM_ENOMEM;
			break;
		}
	} while (dst_pgd++, src_pgd++, addr = next, addr != end);
	return ret;
}
