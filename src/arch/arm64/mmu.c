/*
 * arm64 break-before-make checking (kernel-model 6.5).
 *
 * The architecture lets a valid translation-table entry be replaced by another
 * valid entry only if the change cannot make CPUs hold conflicting
 * translations: changing the output address or the block size (block <->
 * table, a different block) needs "break before make": write an invalid
 * entry, DSB, a broadcast TLBI that covers it, DSB, and only then the new
 * entry.  The kernel's own check of this rule for kernel mappings is
 * pgattr_change_is_safe() in arch/arm64/mm/mmu.c; ptsim checks every user
 * page-table write (the set_entry op, called by pt_write()).
 *
 * Two ways to break the rule, both recorded as a violation of kind bbm:
 *   1. valid -> valid with a different output address, size or contiguous
 *      hint (no invalid entry in between);
 *   2. valid -> invalid -> valid with a different output address or size, with
 *      no broadcast TLBI covering the entry between the two writes — the
 *      hazard raised in the PT-reclaim review: a PMD cleared and then
 *      repopulated by a concurrent fault before the deferred flush.
 * Permission and accessed/dirty changes of the same output need no BBM, and
 * neither do invalid -> valid (fault) or valid -> invalid (zap) on their own.
 *
 * How case 2 is tracked: a valid -> invalid write leaves a record (the entry,
 * its old value, the VA it maps, the mm whose tables hold it); a completed
 * broadcast TLBI that reaches the entry (same mm, a VA operation inside the
 * entry's span, of the right kind — a leaf-only TLBI does not cover a table
 * entry, a level hint must match) removes it; an invalid -> valid write to a
 * recorded entry compares the new value with the recorded one.  Records live
 * only between a clear and its flush, so there are few; an mm being torn down
 * (mm_users == 0) is not tracked, nothing can repopulate its tables.
 */
#include <inttypes.h>

#include "arch/arm64/arm64.h"

static bool pte_valid(pgent_t e)
{
	return pgent_hw_present(e);
}

/*
 * Output address, block size (a table entry has no _PAGE_HUGE, a block has)
 * or contiguous hint differ.
 */
static bool output_changed(pgent_t old, pgent_t val)
{
	return pgent_pfn(old) != pgent_pfn(val) || ((old ^ val) & (_PAGE_HUGE | _PAGE_CONT));
}

static bool rec_is_leaf(const struct bbm_rec *r)
{
	return r->level == PT_PTE || (r->old & _PAGE_HUGE);
}

/* Find the live record of @ep (newest first), or -1. */
static long bbm_lookup(struct ptsim_machine *m, const pgent_t *ep)
{
	struct arm64_machine *am = arm64_m(m);
	uint64_t at;

	if (am->nr_bbm <= 16) {
		for (size_t i = am->nr_bbm; i-- > 0;)
			if (am->bbm[i].ep == ep)
				return (long)i;
		return -1;
	}
	/* Index what was recorded since the last lookup; a later record of the same entry wins. */
	for (; am->bbm_indexed < am->nr_bbm; am->bbm_indexed++) {
		const pgent_t *e = am->bbm[am->bbm_indexed].ep;
		if (e && NEVER(m, hmap_put(&m->alloc, &am->bbm_idx, (uint64_t)(uintptr_t)e, am->bbm_indexed)))
			return -1;
	}
	return hmap_get(&am->bbm_idx, (uint64_t)(uintptr_t)ep, &at) ? (long)at : -1;
}

/* Take record @i out: a tombstone until the next compaction. */
static void bbm_remove(struct ptsim_machine *m, size_t i)
{
	struct arm64_machine *am = arm64_m(m);

	if (i < am->bbm_indexed)
		hmap_del(&am->bbm_idx, (uint64_t)(uintptr_t)am->bbm[i].ep);
	am->bbm[i].ep = NULL;
}

static bool rec_stale(struct ptsim_machine *m, const struct bbm_rec *r)
{
	const struct sim_frame *f = frame(m, r->table_pfn);
	return f->kind != FRAME_PGTABLE || f->gen != r->table_gen;
}

static void report(struct ptsim_machine *m, uint64_t va, int level, pgent_t old, pgent_t val, const char *how)
{
	struct sim_cpu *cpu = this_cpu(m);

	oracle_report(m, PTSIM_VIOL_BBM, cpu ? (int)cpu->id : -1, va, pgent_pfn(val),
		      "break-before-make: level-%d entry for va %#" PRIx64 " changed from %s %u to %s %u %s", level, va,
		      (old & _PAGE_HUGE) || level == 3 ? "page/block" : "table", pgent_pfn(old),
		      (val & _PAGE_HUGE) || level == 3 ? "page/block" : "table", pgent_pfn(val), how);
}

/* The records moved or went: drop the lookup index (it is rebuilt on the next lookup). */
static void bbm_index_reset(struct arm64_machine *am)
{
	if (am->bbm_indexed) {
		hmap_clear(&am->bbm_idx);
		am->bbm_indexed = 0;
	}
}

/*
 * bbm_record - @ep (mapping @addr) went from valid @old to invalid: remember
 * it until a broadcast TLBI covers it.  The record is filed under the mm
 * whose page tables hold the entry (ptdesc pt_mm), whatever the CPU doing the
 * write runs: move_pages() of another process's page, or reclaim, writes into
 * tables of an mm that is not loaded there, and that mm's flush is the one
 * that covers the entry.  A table its allocator has unshared (pt_mm NULL, a
 * hugetlb PMD table) is covered by a flush of any mm that still maps it at
 * that address.
 */
static void bbm_record(struct ptsim_machine *m, pgent_t *ep, uint64_t addr, pgent_t old)
{
	struct arm64_machine *am = arm64_m(m);
	struct mm_struct *mm;
	struct ptdesc *pt;
	uint64_t idx, span, va;

	/* The last table's entries (none before the first record: no pointer arithmetic on NULL). */
	if (am->tc_entries && ep >= am->tc_entries && ep < am->tc_entries + am->tc_nr &&
	    frame(m, am->tc_pfn)->kind == FRAME_PGTABLE && frame(m, am->tc_pfn)->gen == am->tc_gen && frame(m, am->tc_pfn)->u.table.entries == am->tc_entries) {
		pt = pt_desc(m, am->tc_pfn);
	} else {
		pt = virt_to_ptdesc(m, ep);
		if (NEVER(m, !pt))
			return;
		am->tc_entries = pt_entries(m, pt->pfn);
		am->tc_nr = m->geo.ptrs[pt->level];
		am->tc_pfn = pt->pfn;
		am->tc_gen = frame(m, pt->pfn)->gen;
	}
	mm = pt->pt_mm;
	if (mm && mm->mm_users == 0)
		return;   /* being torn down: nothing can repopulate its tables */
	idx = (uint64_t)(ep - pt_entries(m, pt->pfn));
	span = pt_level_size(&m->geo, (enum pt_level)pt->level);
	/* The caller's VA (right for shared tables too) unless it does not index this entry. */
	va = addr & ~(span - 1);
	if (pt_index(&m->geo, (enum pt_level)pt->level, va) != idx)
		va = pt->addr + idx * span;
	if (am->nr_bbm == am->cap_bbm) {
		size_t ncap = am->cap_bbm ? am->cap_bbm * 2 : 64;
		struct bbm_rec *n = sim_irealloc(&m->alloc, am->bbm, am->cap_bbm * sizeof(*n), ncap * sizeof(*n));
		if (NEVER(m, !n))
			return;
		am->bbm = n;
		am->cap_bbm = ncap;
	}
	/*
	 * A record left over for this entry (its table was freed and the memory
	 * reused without a covering flush) is shadowed: lookups find the newest,
	 * the old one goes at the next flush of its mm.
	 */
	am->bbm[am->nr_bbm++] = (struct bbm_rec){
		.ep = ep, .old = old, .va = va, .mm = mm, .table_pfn = pt->pfn,
		.table_gen = frame(m, pt->pfn)->gen, .level = pt->level,
	};
}

/**
 * arm64_set_entry - the set_entry op: every page-table write, after the
 * write.  Records and checks break-before-make as described above.
 */
void arm64_set_entry(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr, pgent_t old,
		     pgent_t val)
{
	struct arm64_machine *am = arm64_m(m);
	bool ov = pte_valid(old), nv = pte_valid(val);
	long slot;

	if (ov && nv) {
		if (output_changed(old, val))
			report(m, addr, arm64_arch_level(&m->geo, level), old, val,
			       "with no invalid entry in between");
		return;
	}
	if (ov) {
		bbm_record(m, ep, addr, old);
		return;
	}
	if (!nv || !am->nr_bbm || (slot = bbm_lookup(m, ep)) < 0)
		return;
	struct bbm_rec r = am->bbm[slot];
	bbm_remove(m, (size_t)slot);
	if (rec_stale(m, &r) || !output_changed(r.old, val))
		return;
	report(m, r.va, arm64_arch_level(&m->geo, (enum pt_level)r.level), r.old, val,
	       "with no broadcast TLBI after the invalid entry");
}

/* Does a TLBI sequence over [start, end) at @stride reach record @r? */
static bool rec_covered(const struct ptsim_machine *m, const struct bbm_rec *r, uint64_t start, uint64_t end,
			uint64_t stride, bool leaf_only, int level)
{
	bool leaf = rec_is_leaf(r);
	int rl = arm64_arch_level(&m->geo, (enum pt_level)r->level);
	uint64_t span = pt_level_size(&m->geo, (enum pt_level)r->level);
	uint64_t lo = r->va > start ? r->va : start;
	uint64_t hi = r->va + span < end ? r->va + span : end;
	uint64_t opva;

	if (leaf_only && !leaf)
		return false;   /* VALE1IS keeps walk-cache entries */
	if (level >= 0 && level <= 3 && (leaf ? rl != level : rl >= level))
		return false;   /* a wrong level hint invalidates nothing */
	if (lo >= hi)
		return false;
	opva = start + ((lo - start + stride - 1) / stride) * stride;
	return opva < hi;
}

/*
 * Keep the records @keep() says stay, in order; the rest go.  One pass that
 * rebuilds the index only for what moved (usually nothing is left: a flush
 * covers what its operation cleared).
 */
static void bbm_filter(struct ptsim_machine *m, bool (*keep)(struct ptsim_machine *m, const struct bbm_rec *r,
							      const void *arg),
		       const void *arg)
{
	struct arm64_machine *am = arm64_m(m);
	size_t n = 0;

	for (size_t i = 0; i < am->nr_bbm; i++) {
		if (am->bbm[i].ep && keep(m, &am->bbm[i], arg)) {
			am->bbm[n] = am->bbm[i];
			n++;
		}
	}
	if (n == am->nr_bbm)
		return;
	am->nr_bbm = n;
	bbm_index_reset(am);
}

struct range_arg {
	struct mm_struct *mm;
	uint64_t start, end, stride;
	bool leaf_only;
	int level;
};

/* Does the flushed @mm reach record @r's table: its own, or (an unshared hugetlb PMD table) mapped at r->va? */
static bool rec_in_mm(struct ptsim_machine *m, const struct bbm_rec *r, struct mm_struct *mm)
{
	pud_t *pud;

	if (r->mm)
		return r->mm == mm;
	if (rec_stale(m, r) || r->level != PT_PMD || !(pud = pud_lookup(mm, r->va)))
		return false;
	return pgent_present(*pud) && !pgent_huge(*pud) && pgent_pfn(*pud) == r->table_pfn;
}

static bool keep_uncovered(struct ptsim_machine *m, const struct bbm_rec *r, const void *arg)
{
	const struct range_arg *a = arg;

	if (!rec_in_mm(m, r, a->mm))
		return true;
	return !rec_stale(m, r) && !rec_covered(m, r, a->start, a->end, a->stride, a->leaf_only, a->level);
}

static bool keep_other_mm(struct ptsim_machine *m, const struct bbm_rec *r, const void *arg)
{
	return !rec_in_mm(m, r, (struct mm_struct *)(uintptr_t)arg);
}

static bool keep_not_of_mm(struct ptsim_machine *m, const struct bbm_rec *r, const void *arg)
{
	(void)m;
	return r->mm != arg;
}

void bbm_tlbi_range(struct ptsim_machine *m, struct mm_struct *mm, uint64_t start, uint64_t end, uint64_t stride,
		    bool leaf_only, int level)
{
	struct range_arg a = { mm, start, end, stride, leaf_only, level };

	if (arm64_m(m)->nr_bbm)
		bbm_filter(m, keep_uncovered, &a);
}

void bbm_tlbi_mm(struct ptsim_machine *m, struct mm_struct *mm)
{
	if (arm64_m(m)->nr_bbm)
		bbm_filter(m, keep_other_mm, mm);
}

/* @mm is destroyed (its page tables are gone already): its records go with it. */
void bbm_forget_mm(struct ptsim_machine *m, struct mm_struct *mm)
{
	if (arm64_m(m)->nr_bbm)
		bbm_filter(m, keep_not_of_mm, mm);
}

void bbm_tlbi_all(struct ptsim_machine *m)
{
	struct arm64_machine *am = arm64_m(m);

	am->nr_bbm = 0;
	bbm_index_reset(am);
}

void bbm_release(struct ptsim_machine *m)
{
	struct arm64_machine *am = arm64_m(m);

	sim_free(&m->alloc, am->bbm, am->cap_bbm * sizeof(*am->bbm));
	hmap_release(&m->alloc, &am->bbm_idx);
	am->bbm = NULL;
	am->nr_bbm = am->cap_bbm = 0;
	am->bbm_indexed = 0;
}
