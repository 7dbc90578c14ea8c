/*
 * Page-table pages and the generic walking helpers (pgd_offset() ...
 * pte_offset_map(), the *_none() tests, p4d/pud/pmd/pte_alloc()), with levels
 * folded the way include/asm-generic/pgtable-nop4d.h, -nopud.h and -nopmd.h
 * fold them: a folded level's "table" is the entry of the level above, whose
 * *_none() test then always says "present" so that the real test is made on
 * the aliased entry one level down.
 *
 * Accounting (kernel-model 2.1): __pud_alloc() +puds, __pmd_alloc() +pmds,
 * pmd_install() +ptes, __p4d_alloc() nothing; VmPTE = PTE + PMD + PUD tables.
 *
 * Models mm/memory.c (__p4d_alloc, __pud_alloc, __pmd_alloc, __pte_alloc,
 * pmd_install) and include/linux/mm.h (mm_inc_nr_*) at v6.18.
 */
#include "mm/internal.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "arch/arch.h"

static const int pgt_alloc_stat[NR_PT_LEVELS] = {
	[PT_PGD] = -1, [PT_P4D] = ST_PGT_ALLOC_P4D, [PT_PUD] = ST_PGT_ALLOC_PUD,
	[PT_PMD] = ST_PGT_ALLOC_PMD, [PT_PTE] = ST_PGT_ALLOC_PTE,
};
static const int pgt_free_stat[NR_PT_LEVELS] = {
	[PT_PGD] = -1, [PT_P4D] = ST_PGT_FREE_P4D, [PT_PUD] = ST_PGT_FREE_PUD,
	[PT_PMD] = ST_PGT_FREE_PMD, [PT_PTE] = ST_PGT_FREE_PTE,
};

/* Tables are aligned to their size so that an entry pointer finds its table. */
static size_t table_align(unsigned int nr)
{
	size_t a = 8;
	while (a < (size_t)nr * sizeof(pgent_t))
		a <<= 1;
	return a;
}

struct ptdesc *virt_to_ptdesc(struct ptsim_machine *m, const pgent_t *ep)
{
	/* Try each table size the geometry uses (the top level may be smaller). */
	for (int l = PT_PGD; l <= PT_PTE; l++) {
		size_t align = table_align(m->geo.ptrs[l]);
		uint64_t v;
		if (hmap_get(&m->pt_by_addr, (uintptr_t)ep & ~(uintptr_t)(align - 1), &v))
			return pt_desc(m, (uint32_t)v);
	}
	return NULL;
}

/**
 * pt_alloc_table - a zeroed page-table page for @level in @mm, covering @addr.
 * Return: its descriptor, or NULL when the allocator fails.
 */
/*
 * Are the @nr entries at @e all none?  Eight at a time (every table has a
 * multiple of eight entries but the smallest PGDs), with SSE2 where the host
 * has it: a freed table is checked twice (the oracle, then pt_entries_free()).
 */
static bool entries_all_none(const pgent_t *e, unsigned int nr)
{
	unsigned int i = 0;
#ifdef __SSE2__
	__m128i any = _mm_setzero_si128();

	for (; i + 8 <= nr; i += 8) {
		const __m128i *p = (const __m128i *)(const void *)&e[i];
		any = _mm_or_si128(any, _mm_or_si128(_mm_or_si128(_mm_loadu_si128(p), _mm_loadu_si128(p + 1)),
						     _mm_or_si128(_mm_loadu_si128(p + 2), _mm_loadu_si128(p + 3))));
	}
	if (_mm_movemask_epi8(_mm_cmpeq_epi8(any, _mm_setzero_si128())) != 0xffff)
		return false;
#else
	uint64_t any8 = 0;

	for (; i + 8 <= nr; i += 8)
		any8 |= e[i] | e[i + 1] | e[i + 2] | e[i + 3] | e[i + 4] | e[i + 5] | e[i + 6] | e[i + 7];
	if (any8)
		return false;
#endif
	for (; i < nr; i++)
		if (e[i])
			return false;
	return true;
}

/*
 * A table's entry array, all none: a kept one (pt_entries_free()) when the
 * size fits, else a new zeroed allocation.  Simulator memory only: which one
 * is used changes nothing the simulation reports.
 */
static pgent_t *pt_entries_alloc(struct ptsim_machine *m, unsigned int nr)
{
	if (nr == m->geo.ptrs[PT_PTE] && m->nr_zero_tables)
		return m->zero_tables[--m->nr_zero_tables];
	return sim_zalloc_aligned(&m->alloc, table_align(nr), (size_t)nr * sizeof(pgent_t));
}

/* Keep a freed table's entry array for the next table if it is all none and there is room; else free it. */
static void pt_entries_free(struct ptsim_machine *m, pgent_t *entries, unsigned int nr)
{
	if (nr == m->geo.ptrs[PT_PTE] && m->nr_zero_tables < PT_ZERO_CACHE && entries_all_none(entries, nr)) {
		m->zero_tables[m->nr_zero_tables++] = entries;
		return;
	}
	sim_free(&m->alloc, entries, (size_t)nr * sizeof(pgent_t));
}

void pt_zero_tables_release(struct ptsim_machine *m)
{
	while (m->nr_zero_tables)
		sim_free(&m->alloc, m->zero_tables[--m->nr_zero_tables], (size_t)m->geo.ptrs[PT_PTE] * sizeof(pgent_t));
}

struct ptdesc *pt_alloc_table(struct ptsim_machine *m, struct mm_struct *mm, enum pt_level level, uint64_t addr)
{
	unsigned int nr = m->geo.ptrs[level];
	struct ptdesc *pt = sim_malloc(&m->alloc, sizeof(*pt));
	pgent_t *entries;
	uint32_t pfn;

	if (!pt)
		return NULL;
	entries = pt_entries_alloc(m, nr);
	if (!entries)
		goto err_free_pt;
	pfn = phys_alloc(m, FRAME_PGTABLE, 0);
	if (!pfn)
		goto err_free_entries;
	if (hmap_put(&m->alloc, &m->pt_by_addr, (uintptr_t)entries, pfn))
		goto err_free_frame;

	memset(pt, 0, sizeof(*pt));
	pt->pfn = pfn;
	pt->level = (uint8_t)level;
	pt->pt_share_count = 0;       /* ptdesc_pmd_pts_init() */
	pt->lock_cpu = -1;
	pt->pt_mm = mm;
	if (level != PT_PGD) {
		uint64_t span = (uint64_t)nr << m->geo.shift[level];
		pt->addr = addr & ~(span - 1);
	}
	frame(m, pfn)->u.table.entries = entries;
	frame(m, pfn)->u.table.pt = pt;
	if (pgt_alloc_stat[level] >= 0)
		m->stats[pgt_alloc_stat[level]]++;
	return pt;

err_free_frame:
	phys_free(m, pfn);
err_free_entries:
	pt_entries_free(m, entries, nr);
err_free_pt:
	sim_free(&m->alloc, pt, sizeof(*pt));
	return NULL;
}

/* pagetable_dtor(): nothing left to undo in the simulation but the checks. */
void pt_dtor(struct ptsim_machine *m, struct ptdesc *pt)
{
	assert(frame(m, pt->pfn)->kind == FRAME_PGTABLE);
	(void)m;
	(void)pt;
}

/**
 * pt_free_table - return a page-table page to the pool.  The oracle checks it
 * first (no walker, reader or PWC entry may still reach it; it must be empty).
 */
void pt_free_table(struct ptsim_machine *m, struct ptdesc *pt)
{
	uint32_t pfn = pt->pfn;
	enum pt_level level = (enum pt_level)pt->level;
	pgent_t *entries = frame(m, pfn)->u.table.entries;

	oracle_check_free(m, pfn);
	hmap_del(&m->pt_by_addr, (uintptr_t)entries);
	/* A locked table is never freed: whatever could free it waits for the holder (api.c). */
	NEVER(m, pt->lock_cpu >= 0);
	if (pgt_free_stat[level] >= 0)
		m->stats[pgt_free_stat[level]]++;
	/* The frame goes back; the oracle already looked at it. */
	struct sim_frame *f = frame(m, pfn);
	f->u.table.entries = NULL;
	f->u.table.pt = NULL;
	phys_put_free(m, pfn);
	pt_entries_free(m, entries, m->geo.ptrs[level]);
	sim_free(&m->alloc, pt, sizeof(*pt));
}

bool pt_table_empty(struct ptsim_machine *m, uint32_t pfn)
{
	const struct ptdesc *pt = pt_desc(m, pfn);

	return entries_all_none(pt_entries(m, pfn), m->geo.ptrs[pt->level]);
}

/* pt_write() with the arch's set_entry hook (arm64 checks break-before-make). */
void pt_write_hooked(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr, pgent_t val)
{
	pgent_t old = *ep;

	*ep = val;
	arch_set_entry(m, ep, level, addr, old, val);
	/* A walker inside a table its mm unshared: is the table being reused under it? */
	if (PTSIM_UNLIKELY(m->nr_stale_walkers))
		oracle_check_table_write(m, ep, old, val);
}

/* ---- accounting ---- */

static void mm_nr_tables_add(struct mm_struct *mm, enum pt_level level, long delta, bool counted)
{
	mm->nr_tables[level] += delta;
	if (counted) {
		mm->pgtables_bytes += delta * (long)mm->machine->geo.table_bytes;
		if (mm->pgtables_bytes > mm->pgtables_bytes_peak)
			mm->pgtables_bytes_peak = mm->pgtables_bytes;
	}
}

void mm_inc_nr_ptes(struct mm_struct *mm) { mm_nr_tables_add(mm, PT_PTE, 1, true); }
void mm_dec_nr_ptes(struct mm_struct *mm) { mm_nr_tables_add(mm, PT_PTE, -1, true); }
void mm_inc_nr_pmds(struct mm_struct *mm)
{
	if (!mm->machine->geo.folded[PT_PMD])
		mm_nr_tables_add(mm, PT_PMD, 1, true);
}
void mm_dec_nr_pmds(struct mm_struct *mm)
{
	if (!mm->machine->geo.folded[PT_PMD])
		mm_nr_tables_add(mm, PT_PMD, -1, true);
}
void mm_inc_nr_puds(struct mm_struct *mm)
{
	if (!mm->machine->geo.folded[PT_PUD])
		mm_nr_tables_add(mm, PT_PUD, 1, true);
}
void mm_dec_nr_puds(struct mm_struct *mm)
{
	if (!mm->machine->geo.folded[PT_PUD])
		mm_nr_tables_add(mm, PT_PUD, -1, true);
}
/* P4D tables are not part of pgtables_bytes; ptsim counts them for its own report. */
void mm_inc_nr_p4ds(struct mm_struct *mm) { mm_nr_tables_add(mm, PT_P4D, 1, false); }
void mm_dec_nr_p4ds(struct mm_struct *mm) { mm_nr_tables_add(mm, PT_P4D, -1, false); }

/* ---- allocation on the fault path ---- */

int __p4d_alloc(struct mm_struct *mm, pgd_t *pgd, uint64_t address)
{
	struct ptdesc *new = pt_alloc_table(mm->machine, mm, PT_P4D, address);

	if (!new)
		return SIM_ENOMEM;
	mm_inc_nr_p4ds(mm);
	pt_write(mm->machine, pgd, PT_PGD, address, mk_table_pgent(new->pfn));   /* pgd_populate() */
	return 0;
}

int __pud_alloc(struct mm_struct *mm, p4d_t *p4d, uint64_t address)
{
	struct ptdesc *new = pt_alloc_table(mm->machine, mm, PT_PUD, address);

	if (!new)
		return SIM_ENOMEM;
	mm_inc_nr_puds(mm);
	pt_write(mm->machine, p4d, PT_P4D, address, mk_table_pgent(new->pfn));   /* p4d_populate() */
	return 0;
}

int __pmd_alloc(struct mm_struct *mm, pud_t *pud, uint64_t address)
{
	struct ptdesc *new = pt_alloc_table(mm->machine, mm, PT_PMD, address);

	if (!new)
		return SIM_ENOMEM;
	mm_inc_nr_pmds(mm);
	pt_write(mm->machine, pud, PT_PUD, address, mk_table_pgent(new->pfn));   /* pud_populate() */
	return 0;
}

/* pmd_install(): link a new PTE table under the PMD lock; count it. */
static void pmd_install(struct mm_struct *mm, pmd_t *pmd, struct ptdesc *pte, uint64_t address)
{
	mm_inc_nr_ptes(mm);
	pt_write(mm->machine, pmd, PT_PMD, address, mk_table_pgent(pte->pfn));   /* pmd_populate() */
}

int __pte_alloc(struct mm_struct *mm, pmd_t *pmd, uint64_t address)
{
	struct ptdesc *new = pt_alloc_table(mm->machine, mm, PT_PTE, address);
	if (!new)
		return SIM_ENOMEM;
	pmd_install(mm, pmd, new, address);
	return 0;
}

pmd_t *mm_find_pmd(struct mm_struct *mm, uint64_t addr)
{
	pud_t *pud = pud_lookup(mm, addr);
	if (!pud)
		return NULL;
	if (!mm->machine->geo.folded[PT_PMD] && (pgent_huge(*pud) || !pgent_present(*pud)))
		return NULL;
	return pmd_offset(mm, pud, addr);
}

/**
 * pt_walk - walk @mm's tables for @addr without allocating.  Returns the entry
 * at the deepest level reached: a none entry where the walk stopped, a leaf
 * (huge) entry, or the PTE.  *level_out says which level that entry is at.
 */
pgent_t *pt_walk(struct mm_struct *mm, uint64_t addr, enum pt_level *level_out)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	if (pgd_none(mm, *pgd)) {
		*level_out = PT_PGD;
		return pgd;
	}
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	if (p4d_none(mm, *p4d)) {
		*level_out = PT_P4D;
		return p4d;
	}
	pud_t *pud = pud_offset(mm, p4d, addr);
	/* With the PMD level folded, this entry is the PMD entry: test it below. */
	if (pud_none(mm, *pud) ||
	    (!mm->machine->geo.folded[PT_PMD] && (pgent_huge(*pud) || !pgent_present(*pud)))) {
		*level_out = PT_PUD;
		return pud;
	}
	pmd_t *pmd = pmd_offset(mm, pud, addr);
	if (pmd_none(mm, *pmd) || pgent_huge(*pmd) || !pgent_present(*pmd)) {
		*level_out = PT_PMD;
		return pmd;
	}
	*level_out = PT_PTE;
	return pte_offset_map(mm, pmd, addr);
}
