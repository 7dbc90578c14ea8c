/*
 * mshare: page tables shared across processes through a host mm.
 *
 * Models "[RFC PATCH v3 00/10] Add support for shared PTEs across processes"
 * (Khalid Aziz, Anthony Yznaga; 3 September 2024, on 6.11-rc5):
 *   02  mshare_info reads the sharing granularity: PGDIR_SIZE (512 GiB with
 *       4-level x86-64 and arm64 4K/48-bit; the configured geometry's
 *       top-level span elsewhere);
 *   04  an mm_struct per msharefs file, with no task (mm_alloc());
 *   05  MSHAREFS_SET_SIZE: start and start + size multiples of PGDIR_SIZE,
 *       else EINVAL; a start of 0 reads as "not set up" later;
 *   06  VM_SHARED_PT;
 *   07  msharefs_mmap(): the region set up, the VMA aligned to PGDIR_SIZE and
 *       inside the region; VMAs of it never split (may_split: EINVAL);
 *   08  find_shared_vma(): a fault in a VM_SHARED_PT VMA takes the host mm's
 *       lock, links the process's PGD entry to the host's table the first
 *       time (set_pgd(), then VM_FAULT_NOPAGE: the access is retried) and
 *       otherwise hands the fault to the host mm's VMA; unmap_page_range()
 *       and free_pgtables() skip VM_SHARED_PT VMAs;
 *   10  MSHAREFS_CREATE_MAPPING: MAP_SHARED|MAP_ANONYMOUS at a fixed address
 *       (MAP_FIXED_NOREPLACE) in the host mm.
 *
 * Variants (mshare=...; the posting's steps as functions, m->eras.mshare,
 * chosen once by mshare_select_era()):
 *   fixed    (default) RFC v3 with the unlink the review asked for (Jann Horn
 *            on the 2025 v2: in unmap_page_range(), as hugetlb unmaps), done
 *            with the flush an unlinked table needs — the whole range at
 *            base-page stride with freed_tables (x86: a full flush that also
 *            reaches lazy CPUs; arm64: walk caches too) — and a count on the
 *            linked table (the 2025 v3's) so that the host keeps it while any
 *            process links it; guest mprotect refused as the 2025 postings do;
 *   rfc_v3   as posted.  Patch 08 admits that an explicit munmap leaves the
 *            PGD entry linked: the process still translates through the
 *            region after munmap, and when the host frees the linked table
 *            the oracle reports linked_table (plus pwc/tlb for what the CPUs
 *            still cache);
 *   v2_2025  "[PATCH v2 00/20]" (3 April 2025; the v1 of 24 January 2025 is
 *            the same for what ptsim models): the link is the P4D entry (the
 *            granularity P4D_SIZE, walk_to_p4d() allocating a P4D table where
 *            that level is real), the unmap_page_range vm_ops hook does
 *            nothing and free_pgtables() clears the linked entry (p4d_clear)
 *            without recording any flush range: the process's TLB and walk
 *            caches keep the region until something else flushes them;
 *   v3_2025  "[PATCH v3 00/22]" (19 August 2025): unlinked in the hook
 *            (p4d_clear, then tlb_flush_p4d_range(): a P4D-stride flush
 *            without freed_tables — on x86 one INVLPG per 512 GiB, so 4 KiB
 *            leaf entries and lazy CPUs' walk caches survive it), the linked
 *            PUD table counted (ptdesc_pud_pts_*()) and kept by
 *            free_pgtables() while counted, files and anonymous hugetlb in
 *            MSHAREFS_CREATE_MAPPING.
 *
 * Flush strategies (mshare_flush=...; m->eras.mshare_flush).  The RFC sends
 * nothing to the sharers: its flushes of the host mm reach no CPU (the host
 * runs nowhere, its mm_cpumask stays empty).  Every flush of a host mm — its
 * mmu_gather's tlb_flush(), flush_tlb_mm/range/page() — comes here after the
 * arch's own flush of the host mm, where the 2025 postings hang their mmu
 * notifier (arch_invalidate_secondary_tlbs, called at the end of
 * flush_tlb_mm_range()), and goes to the sharers as the review proposed
 * (Dave Hansen, 2 October 2024):
 *   flush_all      (default) flush_tlb_all(): "quick and dirty", the RFC's
 *                  "for now" and what the 2025 notifier does
 *                  (mshare_invalidate_tlbs());
 *   host_mm        nothing more: what a plain port does.  Deliberately
 *                  unsafe: the oracle reports the stale TLB/PWC entries when
 *                  the host frees pages or tables;
 *   per_mm         for each VMA in the msharefs file's i_mmap,
 *                  flush_tlb_mm_range(vma->vm_mm, <that VMA's range>): a CPU
 *                  in several sharers' mm_cpumasks may get one IPI per sharer;
 *   cpumask_union  one flush_tlb_multi() to the union of the sharers'
 *                  mm_cpumasks with a flush type that ignores info->mm (the
 *                  arch_tlbbatch_flush() idea of the thread; arch op
 *                  flush_tlb_mms).
 * ptsim passes the flush's freed_tables on, which a notifier does not get and
 * the review's per-mm flush needs (lazy CPUs must drop walk caches that point
 * at a freed table).  On arm64 every strategy is broadcast TLBIs (per sharer
 * ASID, or VMALLE1IS), no flush IPI.  Freeing tables needs no more: with RCU
 * table freeing a GUP-fast walker of any sharer is an RCU reader, and the
 * single-table fallback's tlb_remove_table_sync_one() is a broadcast.
 *
 * Accounting (checked against the patches): the host mm allocates every table
 * of the region (the fault runs on the host's VMA) and counts it in its own
 * pgtables_bytes; a process that links counts nothing (set_pgd() moves no
 * counter; a P4D table walk_to_p4d() allocates is not in VmPTE either).  The
 * host mm has no task, so /proc/PID/status shows the region's tables nowhere:
 * ptsim reports them per region (ptsim_mshare_info(), "mshare" in the report).
 * The faults map the pages in the host mm: RssShmem of the processes does not
 * grow.
 *
 * ptsim departures (marked "ptsim:"): mshare_access_error() checks the access
 * against the host VMA in every era (RFC v3 checked only the process's VMA and
 * would re-fault forever on a write to a read-only host mapping; v1 2025 moved
 * find_shared_vma() into do_user_addr_fault() for that reason); mshare
 * mappings must be MAP_SHARED, at a given address, never merge (VM_DONTEXPAND,
 * as in 2025) and cannot be mremap()ed; ptsim keeps its own record of every
 * link (struct mshare_link) for the oracle, and when a linked table is freed
 * (reported) it cuts the links, since the simulation cannot walk a freed
 * frame; when a process that linked goes away, what its CPUs cached under its
 * address-space id is dropped (never usable again).  The 2025 postings'
 * msharefs_get_unmapped_area(), ownership, memcg charging and the mshare of
 * 1 GiB hugetlb pages are not modelled.
 */
#include "mm/internal.h"

#include <inttypes.h>
#include <stdio.h>

#include "arch/arch.h"
#include "mm/mmu_gather.h"

/* ptsim: one entry of a process's table that links a host table. */
struct mshare_link {
	struct mm_struct *mm;   /* the process whose table holds the entry */
	uint64_t addr;          /* the address the entry maps, aligned to the granularity */
	uint32_t pfn;           /* the host table it points at */
	bool counted;           /* the era counted it on the table (mshare_pts) */
};

/* The msharefs file's data (struct mshare_data of the patches: inode->i_private). */
struct mshare_data {
	struct mshare_data *next;       /* machine->mshares */
	struct mm_struct *mm;           /* the host mm: no task, never loaded on a CPU */
	struct sim_file *file;          /* the msharefs file (FILE_MSHARE); its i_mmap holds the processes' VMAs */
	char *name;                     /* ptsim: kept after unlink, for messages */
	uint64_t start, size;           /* minfo (= host mm->mmap_base and task_size) */
	struct mshare_link *links;
	unsigned int nr_links, cap_links;
};

/*
 * The steps of one posting (m->eras.mshare).  @walk_to_link returns the
 * process's (or the host's) entry that a link sets, allocating the levels
 * above it where the posting does, and its table's level.
 */
struct mshare_era {
	const char *name;
	uint64_t (*mshare_align)(const struct ptsim_machine *m);
	pgent_t *(*walk_to_link)(struct mm_struct *mm, uint64_t addr, bool alloc, enum pt_level *level);
	void (*link)(struct mshare_data *md, struct mm_struct *mm, pgent_t *ep, enum pt_level level, uint64_t addr,
		     pgent_t val);
	void (*unmap_page_range)(struct mshare_data *md, struct mmu_gather *tlb, struct vm_area_struct *vma,
				 uint64_t addr, uint64_t end);
	/* free_pgtables() of a VM_SHARED_PT VMA; NULL: as any other VMA. */
	void (*free_pgtables)(struct mshare_data *md, struct mmu_gather *tlb, struct vm_area_struct *vma,
			      uint64_t floor, uint64_t ceiling);
	/* vm_ops->mprotect; NULL: none (the generic mprotect runs on the process's tables). */
	int (*mprotect)(struct vm_area_struct *vma, uint64_t start, uint64_t end, uint64_t newflags);
	/* MSHAREFS_CREATE_MAPPING: the kinds of mapping the posting accepts. */
	bool (*mapping_ok)(const struct ptsim_mmap_args *a);
};

/* ------------------------------------------------------------------------ */
/* ptsim's record of the links                                               */
/* ------------------------------------------------------------------------ */

static void link_add(struct mshare_data *md, struct mm_struct *mm, uint64_t addr, uint32_t pfn, bool counted)
{
	struct ptsim_machine *m = mm->machine;
	struct ptdesc *pt = pt_desc(m, pfn);

	if (md->nr_links == md->cap_links) {
		unsigned int ncap = md->cap_links ? md->cap_links * 2 : 8;
		struct mshare_link *n =
			sim_irealloc(&m->alloc, md->links, md->cap_links * sizeof(*n), ncap * sizeof(*n));
		if (NEVER(m, !n))
			return;
		md->links = n;
		md->cap_links = ncap;
	}
	md->links[md->nr_links++] = (struct mshare_link){ mm, addr, pfn, counted };
	pt->mshare_links++;
	if (counted)
		pt->mshare_pts++;   /* ptdesc_pud_pts_inc() */
	mm->nr_mshare_links++;
	mm->mshare_linked = true;
}

/* Drop link @i: the counts it holds go, the entry itself is the caller's. */
static void link_drop(struct mshare_data *md, unsigned int i)
{
	struct mshare_link *l = &md->links[i];
	struct ptsim_machine *m = l->mm->machine;
	struct ptdesc *pt = pt_desc(m, l->pfn);

	NEVER(m, !pt || !pt->mshare_links || !l->mm->nr_mshare_links);
	if (pt && pt->mshare_links)
		pt->mshare_links--;
	if (pt && l->counted && pt->mshare_pts)
		pt->mshare_pts--;   /* ptdesc_pud_pts_dec() */
	if (l->mm->nr_mshare_links)
		l->mm->nr_mshare_links--;
	md->links[i] = md->links[--md->nr_links];
}

static void link_del(struct mshare_data *md, struct mm_struct *mm, uint64_t addr)
{
	for (unsigned int i = 0; i < md->nr_links; i++) {
		if (md->links[i].mm == mm && md->links[i].addr == addr) {
			link_drop(md, i);
			return;
		}
	}
	NEVER(mm->machine, true);
}

/* The entry at @addr of @mm changes from @old to @val: keep the record. */
static void note_link(struct mshare_data *md, struct mm_struct *mm, uint64_t addr, pgent_t old, pgent_t val,
		      bool counted)
{
	uint64_t aligned = addr & ~(md->mm->machine->eras.mshare->mshare_align(mm->machine) - 1);

	if (pgent_present(old))
		link_del(md, mm, aligned);
	if (pgent_present(val)) {
		link_add(md, mm, aligned, pgent_pfn(val), counted);
		STAT_INC(mm->machine, MSHARE_LINKS);
	}
}

/* ------------------------------------------------------------------------ */
/* The eras' steps                                                           */
/* ------------------------------------------------------------------------ */

/* mshare_info of RFC v3 (patch 02): PGDIR_SIZE. */
static uint64_t mshare_align_pgdir(const struct ptsim_machine *m)
{
	return PGDIR_SIZE(m);
}

/* mshare_align of the 2025 postings: P4D_SIZE (the PGD's span where the P4D level is folded). */
static uint64_t mshare_align_p4d(const struct ptsim_machine *m)
{
	return P4D_SIZE(m);
}

/* RFC v3: pgd_offset(), nothing allocated. */
static pgent_t *walk_to_pgd(struct mm_struct *mm, uint64_t addr, bool alloc, enum pt_level *level)
{
	(void)alloc;
	*level = PT_PGD;
	return pgd_offset(mm, addr);
}

/*
 * walk_to_p4d() of the 2025 postings: pgd_offset(), then p4d_alloc() (a real
 * P4D level gets its table; folded, the P4D entry is the PGD entry).  Without
 * @alloc (the unmap paths), NULL where there is no P4D table.
 */
static pgent_t *walk_to_p4d(struct mm_struct *mm, uint64_t addr, bool alloc, enum pt_level *level)
{
	struct ptsim_machine *m = mm->machine;
	pgd_t *pgd = pgd_offset(mm, addr);

	*level = m->geo.folded[PT_P4D] ? PT_PGD : PT_P4D;
	if (alloc)
		return p4d_alloc(mm, pgd, addr);
	if (pgd_none(mm, *pgd))
		return NULL;
	return p4d_offset(mm, pgd, addr);
}

/* RFC v3 08/10 (and the 2025 v1/v2): set_pgd() / set_p4d() of the host's entry. */
static void mshare_set_link(struct mshare_data *md, struct mm_struct *mm, pgent_t *ep, enum pt_level level,
			    uint64_t addr, pgent_t val)
{
	pgent_t old = *ep;

	pt_write(mm->machine, ep, level, addr, val);
	note_link(md, mm, addr, old, val, false);
}

/* The 2025 v3 (and ptsim's fix): ptdesc_pud_pts_inc() on the linked table, then set_p4d(). */
static void mshare_set_link_counted(struct mshare_data *md, struct mm_struct *mm, pgent_t *ep, enum pt_level level,
				    uint64_t addr, pgent_t val)
{
	pgent_t old = *ep;

	pt_write(mm->machine, ep, level, addr, val);
	note_link(md, mm, addr, old, val, true);
}

/* Clear one linked entry of @mm (the pts count goes with the record). */
static void mshare_clear_link(struct mshare_data *md, struct mm_struct *mm, pgent_t *ep, enum pt_level level,
			      uint64_t addr)
{
	pgent_t old = *ep;

	pt_write(mm->machine, ep, level, addr, 0);
	note_link(md, mm, addr, old, 0, false);
	STAT_INC(mm->machine, MSHARE_UNLINKS);
}

/* RFC v3 08/10, unmap_page_range(): "no need to unmap vmas that share page table through mshare region". */
static void mshare_unmap_skip(struct mshare_data *md, struct mmu_gather *tlb, struct vm_area_struct *vma,
			      uint64_t addr, uint64_t end)
{
	(void)md;
	(void)tlb;
	(void)vma;
	(void)addr;
	(void)end;
}

/*
 * The 2025 v3's mshare_vm_op_unshare_page_range(): for each granule of the
 * range, clear the linked P4D entry (the share count goes down) and record it
 * with tlb_flush_p4d_range(): the flush stride is P4D_SIZE and freed_tables
 * stays clear.
 */
static void mshare_vm_op_unshare_page_range(struct mshare_data *md, struct mmu_gather *tlb,
					    struct vm_area_struct *vma, uint64_t addr, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	uint64_t sz = mshare_align_p4d(mm->machine);
	enum pt_level level;

	tlb_start_vma(tlb, vma);
	for (; addr < end; addr += sz) {
		pgent_t *p4d = walk_to_p4d(mm, addr, false, &level);
		if (!p4d || !pgent_present(*p4d))
			continue;
		mshare_clear_link(md, mm, p4d, level, addr);
		tlb_flush_p4d_range(tlb, addr, sz);
		if (addr + sz < addr)
			break;
	}
	tlb_end_vma(tlb, vma);
}

/*
 * ptsim's fix of RFC v3 (mshare=fixed): unlink in unmap_page_range(), and
 * flush as for a freed table, since the unlinked table may still be in this
 * mm's CPUs' TLBs (leaf entries of any size) and walk caches (lazy CPUs too):
 * the granule at base-page stride (the arch widens it to a full flush) with
 * freed_tables.
 */
static void mshare_unlink_page_range(struct mshare_data *md, struct mmu_gather *tlb, struct vm_area_struct *vma,
				     uint64_t addr, uint64_t end)
{
	struct mm_struct *mm = vma->vm_mm;
	uint64_t sz = mshare_align_pgdir(mm->machine);
	enum pt_level level;

	tlb_start_vma(tlb, vma);
	for (addr &= ~(sz - 1); addr < end; addr += sz) {
		pgent_t *pgd = walk_to_pgd(mm, addr, false, &level);
		if (pgent_present(*pgd)) {
			mshare_clear_link(md, mm, pgd, level, addr);
			tlb_flush_pte_range(tlb, addr, sz);
			tlb->freed_tables = 1;
		}
		if (addr + sz < addr)
			break;
	}
	tlb_end_vma(tlb, vma);
}

/* RFC v3 08/10, free_pgtables(): "there is no page table to be freed": unlink_file_vma() only. */
static void mshare_free_pgtables_skip(struct mshare_data *md, struct mmu_gather *tlb, struct vm_area_struct *vma,
				      uint64_t floor, uint64_t ceiling)
{
	(void)md;
	(void)tlb;
	(void)floor;
	(void)ceiling;
	vma_unlink_file(vma);
}

/*
 * The 2025 v1/v2 free_pgtables(): __free_pgd_range(..., shared_pud) — in
 * free_p4d_range() the linked P4D entries are cleared (p4d_clear(), nothing
 * recorded in the gather), then the P4D table itself goes as free_p4d_range()
 * would free it (a real P4D level only).  The region is P4D-aligned, so
 * __free_pgd_range()'s PMD trimming leaves the range as it is.
 */
static void mshare_free_pgtables_shared_pud(struct mshare_data *md, struct mmu_gather *tlb,
					    struct vm_area_struct *vma, uint64_t floor, uint64_t ceiling)
{
	struct mm_struct *mm = vma->vm_mm;
	struct ptsim_machine *m = mm->machine;
	uint64_t addr = vma->vm_start, end = vma->vm_end, next;
	enum pt_level level = m->geo.folded[PT_P4D] ? PT_PGD : PT_P4D;

	vma_unlink_file(vma);
	pgd_t *pgd = pgd_offset(mm, addr);
	do {
		next = (addr + PGDIR_SIZE(m)) & ~(PGDIR_SIZE(m) - 1);
		if (next - 1 >= end - 1)
			next = end;
		if (pgd_none(mm, *pgd))
			continue;
		uint64_t a = addr, start = addr;
		p4d_t *p4d = p4d_offset(mm, pgd, a);
		do {
			if (pgent_present(*p4d)) {
				pgent_t old = *p4d;
				pt_write(m, p4d, level, a, 0);   /* p4d_clear() */
				note_link(md, mm, a, old, 0, false);
				STAT_INC(m, MSHARE_UNLINKS);
			}
			a += P4D_SIZE(m);
		} while (!m->geo.folded[PT_P4D] && (p4d++, a < next && a != 0));
		if (m->geo.folded[PT_P4D])
			continue;
		/* free_p4d_range()'s tail: the P4D table goes if no surviving VMA can use it. */
		start &= ~(PGDIR_SIZE(m) - 1);
		if (start < floor)
			continue;
		uint64_t ceil = ceiling;
		if (ceil) {
			ceil &= ~(PGDIR_SIZE(m) - 1);
			if (!ceil)
				continue;
		}
		if (next - 1 > ceil - 1)
			continue;
		struct ptdesc *p4dt = pt_desc(m, pgent_pfn(*pgd));
		pt_write(m, pgd, PT_PGD, start, 0);   /* pgd_clear() */
		p4d_free_tlb(tlb, p4dt, start);
		mm_dec_nr_p4ds(mm);
	} while (pgd++, addr = next, addr != end);
}

/* The 2025 postings' mshare_vm_op_mprotect(): refused. */
static int mshare_mprotect_einval(struct vm_area_struct *vma, uint64_t start, uint64_t end, uint64_t newflags)
{
	(void)vma;
	(void)start;
	(void)end;
	(void)newflags;
	return -EINVAL;
}

/* RFC v3 10/10 (and the 2025 v1/v2): only anonymous shared memory ("fd != -1": EINVAL). */
static bool mapping_anon_only(const struct ptsim_mmap_args *a)
{
	return a->kind == PTSIM_MAP_ANON;
}

/* The 2025 v3: files, and anonymous hugetlb memory, too. */
static bool mapping_files_hugetlb(const struct ptsim_mmap_args *a)
{
	if (a->kind == PTSIM_MAP_HUGETLB)
		return !a->file;
	return a->kind == PTSIM_MAP_ANON || a->kind == PTSIM_MAP_FILE || a->kind == PTSIM_MAP_SHMEM;
}

static const struct mshare_era mshare_fixed = {
	.name = "fixed",
	.mshare_align = mshare_align_pgdir,
	.walk_to_link = walk_to_pgd,
	.link = mshare_set_link_counted,
	.unmap_page_range = mshare_unlink_page_range,
	.free_pgtables = NULL,
	.mprotect = mshare_mprotect_einval,
	.mapping_ok = mapping_anon_only,
};

static const struct mshare_era mshare_rfc_v3 = {
	.name = "rfc_v3",
	.mshare_align = mshare_align_pgdir,
	.walk_to_link = walk_to_pgd,
	.link = mshare_set_link,
	.unmap_page_range = mshare_unmap_skip,
	.free_pgtables = mshare_free_pgtables_skip,
	.mprotect = NULL,
	.mapping_ok = mapping_anon_only,
};

static const struct mshare_era mshare_v2_2025 = {
	.name = "v2_2025",
	.mshare_align = mshare_align_p4d,
	.walk_to_link = walk_to_p4d,
	.link = mshare_set_link,
	.unmap_page_range = mshare_unmap_skip,
	.free_pgtables = mshare_free_pgtables_shared_pud,
	.mprotect = mshare_mprotect_einval,
	.mapping_ok = mapping_anon_only,
};

static const struct mshare_era mshare_v3_2025 = {
	.name = "v3_2025",
	.mshare_align = mshare_align_p4d,
	.walk_to_link = walk_to_p4d,
	.link = mshare_set_link_counted,
	.unmap_page_range = mshare_vm_op_unshare_page_range,
	.free_pgtables = NULL,
	.mprotect = mshare_mprotect_einval,
	.mapping_ok = mapping_files_hugetlb,
};

/* ------------------------------------------------------------------------ */
/* The flush strategies                                                      */
/* ------------------------------------------------------------------------ */

/* host_mm: the arch's flush of the host mm was all (it reaches no CPU). */
static void mshare_flush_host_mm(struct mshare_data *md, const struct mmu_gather *tlb)
{
	(void)md;
	(void)tlb;
}

/* flush_all: the 2025 postings' mmu notifier callback, mshare_invalidate_tlbs(): flush_tlb_all(). */
static void mshare_invalidate_tlbs(struct mshare_data *md, const struct mmu_gather *tlb)
{
	(void)tlb;
	flush_tlb_all(md->mm->machine);
}

/*
 * The gather a sharer's flush would have had: @tlb's flush state, on @mm, for
 * [@start, @end) of @mm's addresses.
 */
static void sharer_gather(struct mmu_gather *g, const struct mmu_gather *tlb, struct mm_struct *mm, uint64_t start,
			  uint64_t end)
{
	memset(g, 0, sizeof(*g));
	g->mm = mm;
	g->start = start;
	g->end = end;
	g->fullmm = tlb->fullmm;
	g->need_flush_all = tlb->need_flush_all;
	g->freed_tables = tlb->freed_tables;
	g->cleared_ptes = tlb->cleared_ptes;
	g->cleared_pmds = tlb->cleared_pmds;
	g->cleared_puds = tlb->cleared_puds;
	g->cleared_p4ds = tlb->cleared_p4ds;
	g->unshared_tables = tlb->unshared_tables;
	g->vma_exec = tlb->vma_exec;
	g->vma_huge = tlb->vma_huge;
	g->page_size = tlb->page_size;
}

/*
 * The host range [@start, @end) as @vma maps it (host_addr = addr - vm_start
 * + mmap_base), clipped to the VMA.  Return: false if the VMA maps none of it.
 */
static bool host_range_in_vma(const struct mshare_data *md, const struct vm_area_struct *vma, uint64_t start,
			      uint64_t end, uint64_t *gstart, uint64_t *gend)
{
	uint64_t len = vma->vm_end - vma->vm_start;
	uint64_t lo = start > md->start ? start - md->start : 0;
	uint64_t hi = end > md->start ? end - md->start : 0;

	if (hi > len)
		hi = len;
	if (lo >= hi)
		return false;
	*gstart = vma->vm_start + lo;
	*gend = vma->vm_start + hi;
	return true;
}

/*
 * per_mm: "for each vma in inode->i_mmap: flush_tlb_mm_range(vma->vm_mm,
 * <vma range>)" — the arch's tlb_flush() of each sharer with the host
 * flush's state (stride, freed_tables), for the range as that VMA maps it.
 */
static void mshare_flush_per_mm(struct mshare_data *md, const struct mmu_gather *tlb)
{
	struct ptsim_machine *m = md->mm->machine;
	struct sim_file *f = md->file;

	for (unsigned int i = 0; i < f->nr_mmap; i++) {
		struct vm_area_struct *vma = f->i_mmap[i];
		struct mmu_gather g;
		uint64_t start = vma->vm_start, end = vma->vm_end;

		if (!tlb->fullmm && !host_range_in_vma(md, vma, tlb->start, tlb->end, &start, &end))
			continue;
		sharer_gather(&g, tlb, vma->vm_mm, start, end);
		m->ops->tlb_flush(&g);
	}
}

/*
 * cpumask_union: the sharers of the file's i_mmap (each once, in i_mmap
 * order), flushed by one flush_tlb_multi() over the union of their
 * mm_cpumasks (arch_flush_tlb_mms()).
 */
static void mshare_flush_cpumask_union(struct mshare_data *md, const struct mmu_gather *tlb)
{
	struct ptsim_machine *m = md->mm->machine;
	struct sim_file *f = md->file;
	unsigned int nr = 0;

	if (!f->nr_mmap)
		return;
	struct mm_struct **mms = sim_imalloc(&m->alloc, f->nr_mmap * sizeof(*mms));
	if (NEVER(m, !mms))
		return;
	for (unsigned int i = 0; i < f->nr_mmap; i++) {
		struct mm_struct *mm = f->i_mmap[i]->vm_mm;
		bool seen = false;
		for (unsigned int j = 0; j < nr && !seen; j++)
			seen = mms[j] == mm;
		if (!seen)
			mms[nr++] = mm;
	}
	arch_flush_tlb_mms(m, mms, nr, tlb->freed_tables);
	sim_free(&m->alloc, mms, f->nr_mmap * sizeof(*mms));
}

/**
 * mshare_flush_sharers - a flush of a host mm, after the arch flushed the host
 * mm itself: the sharers, as the mshare_flush strategy says.
 */
void mshare_flush_sharers(const struct mmu_gather *tlb)
{
	struct mshare_data *md = tlb->mm->mshare;

	md->mm->machine->eras.mshare_flush(md, tlb);
}

/* flush_tlb_mm/range/page() of a host mm: the same, described as a gather. */
void mshare_flush_sharers_range(struct mm_struct *mm, uint64_t start, uint64_t end, unsigned int stride_shift,
				bool freed_tables)
{
	struct ptsim_machine *m = mm->machine;
	struct mmu_gather g;

	memset(&g, 0, sizeof(g));
	g.mm = mm;
	g.start = start;
	g.end = end;
	g.freed_tables = freed_tables;
	if (stride_shift >= PUD_SHIFT(m) && !m->geo.folded[PT_PUD])
		g.cleared_puds = 1;
	else if (stride_shift >= PMD_SHIFT(m))
		g.cleared_pmds = 1;
	else
		g.cleared_ptes = 1;
	if (!stride_shift)
		g.fullmm = 1;   /* flush_tlb_mm(): the whole mm */
	mshare_flush_sharers(&g);
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* The posting and the flush strategy, chosen once when the machine is created. */
void mshare_select_era(struct ptsim_machine *m)
{
	switch (m->v.mshare) {
	case MSHARE_RFC_V3:
		m->eras.mshare = &mshare_rfc_v3;
		break;
	case MSHARE_V2_2025:
		m->eras.mshare = &mshare_v2_2025;
		break;
	case MSHARE_V3_2025:
		m->eras.mshare = &mshare_v3_2025;
		break;
	default:
		m->eras.mshare = &mshare_fixed;
		break;
	}
	switch (m->v.mshare_flush) {
	case MSHARE_FLUSH_HOST_MM:
		m->eras.mshare_flush = mshare_flush_host_mm;
		break;
	case MSHARE_FLUSH_PER_MM:
		m->eras.mshare_flush = mshare_flush_per_mm;
		break;
	case MSHARE_FLUSH_CPUMASK_UNION:
		m->eras.mshare_flush = mshare_flush_cpumask_union;
		break;
	default:
		m->eras.mshare_flush = mshare_invalidate_tlbs;
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* The region: msharefs file, host mm, mapping and unmapping objects         */
/* ------------------------------------------------------------------------ */

struct mshare_data *mshare_find(struct ptsim_machine *m, const char *name)
{
	for (struct mshare_data *md = m->mshares; md; md = md->next)
		if (md->file->name && !strcmp(md->file->name, name))
			return md;
	return NULL;
}

uint64_t mshare_info(const struct ptsim_machine *m)
{
	return m->eras.mshare->mshare_align(m);
}

/*
 * msharefs_set_size - MSHAREFS_SET_SIZE: the region's start and end must be
 * multiples of the sharing granularity.  Return: 0 or -EINVAL (the ioctl's
 * answer).
 */
int msharefs_set_size(const struct ptsim_machine *m, uint64_t start, uint64_t size)
{
	uint64_t end = start + size;

	if ((start | end) & (mshare_info(m) - 1))
		return -EINVAL;
	return 0;
}

/**
 * mshare_create - open(O_CREAT|O_EXCL) of an msharefs file and
 * MSHAREFS_SET_SIZE (checked by the caller): the file and its host mm
 * (msharefs_fill_mm(): mm_alloc(), no task; mmap_base = start).
 * Return: 0, SIM_ENOMEM, or -EEXIST if the name is taken.
 */
int mshare_create(struct ptsim_machine *m, const char *name, uint64_t start, uint64_t size)
{
	struct mshare_data *md;
	struct sim_file *f;

	if (file_find(m, name))
		return -EEXIST;
	md = sim_calloc(&m->alloc, 1, sizeof(*md));
	if (!md)
		return SIM_ENOMEM;
	md->name = sim_strdup(&m->alloc, name);
	if (!md->name)
		goto err_free_md;
	md->mm = mm_alloc_outside(m);   /* ptsim: not listed with the processes' mms */
	if (!md->mm)
		goto err_free_name;
	f = file_get(m, name, FILE_MSHARE, m->geo.page_shift);
	if (!f)
		goto err_put_mm;
	md->mm->mshare = md;
	md->mm->mmap_base = start;
	md->start = start;
	md->size = size;
	md->file = f;
	f->mshare = md;
	*m->mshares_tail = md;
	m->mshares_tail = &md->next;
	return 0;

err_put_mm:
	mmput(md->mm);
err_free_name:
	sim_free(&m->alloc, md->name, strlen(md->name) + 1);
err_free_md:
	sim_free(&m->alloc, md, sizeof(*md));
	return SIM_ENOMEM;
}

/**
 * msharefs_create_mapping - MSHAREFS_CREATE_MAPPING: map @a (its addr, len,
 * prot, kind) into the host mm at its fixed address without replacing
 * anything.  Return: 0; -EINVAL (outside the region, not MAP_SHARED, a kind
 * the posting refuses); -EEXIST (MAP_FIXED_NOREPLACE over a mapping); what
 * do_mmap() returns.
 */
int msharefs_create_mapping(struct mshare_data *md, const struct ptsim_mmap_args *a)
{
	struct ptsim_machine *m = md->mm->machine;
	uint64_t mshare_end = md->start + md->size;

	if (!md->start)
		return -EINVAL;   /* "validate mshare region": start 0 reads as not set up */
	if (a->addr < md->start || a->addr >= mshare_end || a->addr + a->len > mshare_end)
		return -EINVAL;
	if (!a->shared || !m->eras.mshare->mapping_ok(a))
		return -EINVAL;
	if (find_vma_intersection(md->mm, a->addr, a->addr + a->len))
		return -EEXIST;   /* flags |= MAP_FIXED_NOREPLACE */
	struct ptsim_mmap_args args = *a;
	args.populate = false;   /* msharefs_create_mapping() drops __do_mmap()'s populate */
	return do_mmap(md->mm, &args, false);
}

/* The region's range [@start, +@len) of the host mm, for the host operations. */
bool mshare_range_ok(const struct mshare_data *md, uint64_t start, uint64_t len)
{
	return start >= md->start && start < md->start + md->size && len <= md->start + md->size - start;
}

struct mm_struct *mshare_host_mm(const struct mshare_data *md)
{
	return md->mm;
}

/**
 * msharefs_unlink - unlink(2) of the msharefs file: the name goes; the file
 * (and with it the host mm) when nothing maps it any more.
 */
void msharefs_unlink(struct mshare_data *md)
{
	struct ptsim_machine *m = md->mm->machine;
	struct sim_file *f = md->file;

	sim_free(&m->alloc, f->name, strlen(f->name) + 1);
	f->name = NULL;
	file_put(m, f);   /* may evict the inode: md is gone then */
}

/*
 * mshare_evict_inode - the msharefs file goes (the last reference after
 * unlink): msharefs_delmm() puts the host mm (exit_mmap() frees its pages and
 * tables, flushed as mshare_flush says).
 */
void mshare_evict_inode(struct ptsim_machine *m, struct sim_file *f)
{
	struct mshare_data *md = f->mshare;

	if (!md)
		return;
	/* ptsim: the teardown flushes run on the CPU of the operation that dropped the last reference. */
	if (NEVER(m, !this_cpu(m)))
		return;
	mmput(md->mm);   /* msharefs_delmm() */
	/* The host's tables are freed: any link left was reported and cut there. */
	NEVER(m, md->nr_links != 0);
	for (struct mshare_data **pp = &m->mshares; *pp; pp = &(*pp)->next) {
		if (*pp == md) {
			*pp = md->next;
			if (m->mshares_tail == &md->next)
				m->mshares_tail = pp;
			break;
		}
	}
	f->mshare = NULL;
	sim_free(&m->alloc, md->links, md->cap_links * sizeof(md->links[0]));
	sim_free(&m->alloc, md->name, strlen(md->name) + 1);
	sim_free(&m->alloc, md, sizeof(*md));
}

/* ------------------------------------------------------------------------ */
/* The hooks in the rest of mm                                               */
/* ------------------------------------------------------------------------ */

/**
 * find_shared_vma - the fault path's redirect (RFC v3 08/10), with the host
 * mm's mmap lock: compare the faulting mm's linking entry with the host's; if
 * they differ, set it to the host's and retry the access (VM_FAULT_NOPAGE);
 * else translate the address into the host mm (addr - vm_start + mmap_base)
 * and find the host VMA there (NULL: none, a SIGSEGV).
 * Return: 0, VM_FAULT_NOPAGE, or VM_FAULT_OOM (a 2025 walk_to_p4d() that could
 * not allocate).
 */
unsigned int find_shared_vma(struct vm_area_struct **vmap, uint64_t *addrp)
{
	struct vm_area_struct *vma, *guest = *vmap;
	struct mshare_data *md = guest->vm_file->mshare;
	struct mm_struct *host_mm = md->mm;
	const struct mshare_era *era = host_mm->machine->eras.mshare;
	uint64_t host_addr = *addrp - guest->vm_start + host_mm->mmap_base;
	enum pt_level level;
	pgent_t *pgd, *guest_pgd;

	pgd = era->walk_to_link(host_mm, host_addr, true, &level);
	guest_pgd = era->walk_to_link(guest->vm_mm, *addrp, true, &level);
	if (!pgd || !guest_pgd)
		return VM_FAULT_OOM;
	if (*guest_pgd != *pgd) {   /* !pgd_same() */
		era->link(md, guest->vm_mm, guest_pgd, level, *addrp, *pgd);
		return VM_FAULT_NOPAGE;
	}
	*addrp = host_addr;
	vma = find_vma(host_mm, host_addr);
	if (vma && vma->vm_start > host_addr)
		vma = NULL;
	*vmap = vma;
	if (vma)
		STAT_INC(host_mm->machine, MSHARE_HOST_FAULTS);
	return 0;
}

/*
 * ptsim: access_error() against the host VMA (the 2025 placement of the
 * lookup in do_user_addr_fault(); see the file head).
 */
bool mshare_access_error(const struct vm_area_struct *host_vma, unsigned int flags)
{
	if ((flags & FAULT_FLAG_WRITE) && !(host_vma->vm_flags & VM_WRITE))
		return true;
	return !(host_vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC));
}

/*
 * msharefs_mmap - file->f_op->mmap of an msharefs file (RFC v3 07/10): the
 * region must be set up, and the VMA aligned to the granularity and inside
 * it; the VMA becomes VM_SHARED_PT.  Return: 0 or -EINVAL.
 */
int msharefs_mmap(struct vm_area_struct *vma)
{
	struct mshare_data *md = vma->vm_file->mshare;
	uint64_t mshare_start = md->start, mshare_end = md->start + md->size;
	uint64_t align = mshare_info(vma->vm_mm->machine);

	if (mshare_start == 0)
		return -EINVAL;
	if ((vma->vm_start | vma->vm_end) & (align - 1))
		return -EINVAL;
	if (vma->vm_start < mshare_start || vma->vm_end > mshare_end)
		return -EINVAL;
	/* ptsim: VM_DONTEXPAND (2025): an mshare VMA never merges (its vm_start is the translation's base). */
	vma->vm_flags |= VM_SHARED_PT | VM_DONTEXPAND;
	return 0;
}

/* unmap_page_range() of a VM_SHARED_PT VMA: the posting's step. */
void mshare_unmap_page_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr, uint64_t end)
{
	struct mshare_data *md = vma->vm_file->mshare;

	vma->vm_mm->machine->eras.mshare->unmap_page_range(md, tlb, vma, addr, end);
}

/* free_pgtables() of a VM_SHARED_PT VMA.  Return: true if the posting handled it (else: as any VMA). */
bool mshare_free_pgtables(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t floor, uint64_t ceiling)
{
	const struct mshare_era *era = vma->vm_mm->machine->eras.mshare;

	if (!era->free_pgtables)
		return false;
	era->free_pgtables(vma->vm_file->mshare, tlb, vma, floor, ceiling);
	return true;
}

/* vm_ops->mprotect of an msharefs VMA: 0 (none) or the posting's refusal. */
int mshare_vm_op_mprotect(struct vm_area_struct *vma, uint64_t start, uint64_t end, uint64_t newflags)
{
	const struct mshare_era *era = vma->vm_mm->machine->eras.mshare;

	return era->mprotect ? era->mprotect(vma, start, end, newflags) : 0;
}

/*
 * mshare_forget_mm - ptsim: @mm goes (__mmdrop(), before pgd_free()).  The
 * links its tables still hold (RFC v3 leaves them after munmap and exit) go
 * with the PGD page; what its CPUs cached under its address-space id can
 * never be used again and is dropped (arch_retire_mm()).
 */
void mshare_forget_mm(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	for (struct mshare_data *md = m->mshares; md && mm->nr_mshare_links; md = md->next) {
		for (unsigned int i = 0; i < md->nr_links;) {
			struct mshare_link *l = &md->links[i];
			if (l->mm != mm) {
				i++;
				continue;
			}
			enum pt_level level;
			pgent_t *ep = m->eras.mshare->walk_to_link(mm, l->addr, false, &level);
			if (ep)
				*ep = 0;   /* the entry dies with its table: no write the hardware sees */
			link_drop(md, i);
		}
	}
	NEVER(m, mm->nr_mshare_links != 0);
	arch_retire_mm(mm);
}

/*
 * mshare_report_linked_table - the oracle: host table @pfn is freed while
 * processes' entries still link it (RFC v3 after munmap: nothing counts the
 * links).  Each link is a pointer to a freed page table that the process's
 * page walks still follow: reported (linked_table), then cut, since the
 * simulation cannot walk a freed frame.
 */
void mshare_report_linked_table(struct ptsim_machine *m, uint32_t pfn)
{
	for (struct mshare_data *md = m->mshares; md; md = md->next) {
		for (unsigned int i = 0; i < md->nr_links;) {
			struct mshare_link *l = &md->links[i];
			if (l->pfn != pfn) {
				i++;
				continue;
			}
			struct mm_struct *mm = l->mm;
			oracle_report(m, PTSIM_VIOL_LINKED_TABLE, -1, l->addr, pfn,
				      "page table %u of mshare region '%s' freed while mm %u (task %d) still links it at "
				      "va %#" PRIx64 ": that process's page walks now go through a freed page table",
				      pfn, md->name, mm->id, mm_lowest_task(mm), l->addr);
			enum pt_level level;
			pgent_t *ep = m->eras.mshare->walk_to_link(mm, l->addr, false, &level);
			if (ep)
				pt_write(m, ep, level, l->addr, 0);   /* ptsim: cut, see the file head */
			link_drop(md, i);
		}
	}
}

/* Machine teardown without the kernel paths: the regions' memory; their host mms join m->mms for the caller. */
void mshare_free_everything(struct ptsim_machine *m)
{
	while (m->mshares) {
		struct mshare_data *md = m->mshares;
		m->mshares = md->next;
		md->mm->next = m->mms;
		m->mms = md->mm;
		sim_free(&m->alloc, md->links, md->cap_links * sizeof(md->links[0]));
		sim_free(&m->alloc, md->name, strlen(md->name) + 1);
		sim_free(&m->alloc, md, sizeof(*md));
	}
	m->mshares_tail = &m->mshares;
}

/* The host mm of the region after @prev's (NULL: the first region's); NULL after the last. */
struct mm_struct *mshare_next_host(struct ptsim_machine *m, const struct mm_struct *prev)
{
	struct mshare_data *md = prev ? prev->mshare->next : m->mshares;

	return md ? md->mm : NULL;
}
