/*
 * The MMU of a simulated CPU: TLB, paging-structure caches and the hardware
 * page walk.  Not a kernel port: this is the hardware the kernel's flushes act
 * on, modelled closely enough that a stale entry after a missing or late flush
 * is visible to the oracle.
 *
 * Model (docs/tlb-model.md has the defaults and their sources):
 *   - One set-associative array per leaf size (base page, PMD leaf, PUD leaf),
 *     LRU replacement within a set; tags are (va >> size shift, asid).
 *   - PWC: one small set-associative array per level of table pointed at
 *     (entries pointing at PTE tables, at PMD tables, ...).  A walk starts at
 *     the deepest PWC hit and fills the PWC on the way down, like Intel's
 *     PDE/PDPTE/PML4E caches.  Entries are cached only for present, non-leaf
 *     upper entries.
 *   - A walk sets the accessed bit, and the dirty bit on a write, in the leaf
 *     entry (x86 and arm64 with hardware A/D).  A write through a clean TLB
 *     entry walks again to set the dirty bit.  A permission failure drops the
 *     entry and faults (x86 invalidates the faulting address on #PF).
 *   - Every valid entry holds frame->cache_refs on the frame it maps (TLB) or
 *     the table it points at (PWC): the oracle's O(1) check at free time.
 *
 * Arch back-ends call the tlb_inv_*() primitives; what a flush instruction
 * invalidates (INVLPG drops every PWC entry of the PCID; VAE1IS the walk-cache
 * entries for one VA) is their decision.
 */
#include "mm/internal.h"

#include <stdio.h>

#include "arch/arch.h"

#define ARRAY_INVALID 0xffu

static uint32_t ilog2_u32(uint32_t v)
{
	uint32_t r = 0;
	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

/* Lay out the arrays from the variants and the geometry; entries come later. */
static void tlb_layout(struct ptsim_machine *m, struct sim_tlb *t)
{
	const struct pt_geometry *g = &m->geo;
	uint32_t base = 0;

	memset(t->a, 0, sizeof(t->a));
	for (int s = 0; s < NR_TLB_PSIZES; s++) {
		struct tlb_array *a = &t->a[s];
		bool present = s == TLB_PAGE || (s == TLB_PMD && g->pmd_leaf_size) ||
			       (s == TLB_PUD && g->pud_leaf_size);
		if (!present)
			continue;
		a->present = true;
		a->ways = (uint32_t)m->v.tlb_ways[s];
		a->sets = (uint32_t)m->v.tlb_entries[s] / a->ways;
		a->shift = s == TLB_PAGE ? g->page_shift : s == TLB_PMD ? g->shift[PT_PMD] : g->shift[PT_PUD];
		if (s == TLB_PMD && g->pmd_leaf_size)
			a->shift = ilog2_u32((uint32_t)(g->pmd_leaf_size >> g->page_shift)) + g->page_shift;
		if (s == TLB_PUD && g->pud_leaf_size) {
			uint64_t sz = g->pud_leaf_size >> g->page_shift;
			a->shift = g->page_shift;
			while (sz > 1) {
				sz >>= 1;
				a->shift++;
			}
		}
		a->base = base;
		base += a->sets * a->ways;
	}
	static const enum pt_level pointed[NR_PWC_LEVELS] = { PT_PTE, PT_PMD, PT_PUD, PT_P4D };
	for (int l = 0; l < NR_PWC_LEVELS; l++) {
		struct tlb_array *a = &t->a[NR_TLB_PSIZES + l];
		enum pt_level lvl = pointed[l];
		if (g->folded[lvl])
			continue;
		a->present = true;
		a->ways = (uint32_t)m->v.pwc_ways;
		a->sets = (uint32_t)m->v.pwc_entries / a->ways;
		/* The key is the VA span of the table pointed at. */
		a->shift = g->shift[lvl] + ilog2_u32(g->ptrs[lvl]);
		a->base = base;
		base += a->sets * a->ways;
	}
	t->nr_entries = base;
}

int tlbcache_init_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_tlb *t = &cpu->tlb;

	tlb_layout(m, t);
	t->e = sim_malloc(&m->alloc, (size_t)t->nr_entries * sizeof(struct tlb_entry));
	if (!t->e)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nr_entries; i++)
		t->e[i].array = ARRAY_INVALID;
	t->valid_head = TLB_NIL;
	t->nr_valid = 0;
	t->lru_clock = 0;
	return 0;
}

void tlbcache_release_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_tlb *t = &cpu->tlb;

	if (t->e)
		sim_free(&m->alloc, t->e, (size_t)t->nr_entries * sizeof(struct tlb_entry));
	t->e = NULL;
}

static inline uint32_t set_of(const struct tlb_array *a, uint64_t tag, uint16_t asid)
{
	return (uint32_t)((tag ^ ((uint64_t)asid << 4)) & (a->sets - 1));
}

static inline bool is_leaf_array(unsigned int array)
{
	return array < NR_TLB_PSIZES;
}

static void valid_link(struct sim_tlb *t, uint32_t i)
{
	struct tlb_entry *e = &t->e[i];
	e->prev = TLB_NIL;
	e->next = t->valid_head;
	if (t->valid_head != TLB_NIL)
		t->e[t->valid_head].prev = i;
	t->valid_head = i;
	t->nr_valid++;
}

static void valid_unlink(struct sim_tlb *t, uint32_t i)
{
	struct tlb_entry *e = &t->e[i];
	if (e->prev != TLB_NIL)
		t->e[e->prev].next = e->next;
	else
		t->valid_head = e->next;
	if (e->next != TLB_NIL)
		t->e[e->next].prev = e->prev;
	t->nr_valid--;
}

/* Invalidate entry i (drops the frame reference). */
static void tlb_kill(struct ptsim_machine *m, struct sim_tlb *t, uint32_t i)
{
	struct tlb_entry *e = &t->e[i];

	frame(m, e->pfn)->cache_refs--;
	if (is_leaf_array(e->array))
		valid_unlink(t, i);
	e->array = ARRAY_INVALID;
}

static struct tlb_entry *lookup(struct sim_tlb *t, unsigned int array, uint64_t tag, uint16_t asid)
{
	const struct tlb_array *a = &t->a[array];
	struct tlb_entry *e = &t->e[a->base + set_of(a, tag, asid) * a->ways];

	for (uint32_t w = 0; w < a->ways; w++, e++)
		if (e->array == array && e->tag == tag && e->asid == asid)
			return e;
	return NULL;
}

static struct tlb_entry *fill(struct ptsim_machine *m, struct sim_tlb *t, unsigned int array, uint64_t tag,
			      uint16_t asid, uint32_t pfn, uint8_t flags)
{
	const struct tlb_array *a = &t->a[array];
	uint32_t first = a->base + set_of(a, tag, asid) * a->ways;
	uint32_t victim = TLB_NIL, oldest = UINT32_MAX;

	for (uint32_t w = 0; w < a->ways; w++) {
		struct tlb_entry *e = &t->e[first + w];
		if (e->array == ARRAY_INVALID) {
			if (victim == TLB_NIL || t->e[victim].array != ARRAY_INVALID)
				victim = first + w;
			oldest = 0;
			continue;
		}
		if (e->tag == tag && e->asid == asid) {
			victim = first + w;
			break;
		}
		if (e->lru < oldest) {
			oldest = e->lru;
			victim = first + w;
		}
	}
	if (t->e[victim].array != ARRAY_INVALID)
		tlb_kill(m, t, victim);
	struct tlb_entry *e = &t->e[victim];
	e->array = (uint8_t)array;
	e->tag = tag;
	e->asid = asid;
	e->pfn = pfn;
	e->gen = frame(m, pfn)->gen;
	e->flags = flags;
	e->lru = ++t->lru_clock;
	frame(m, pfn)->cache_refs++;
	if (is_leaf_array(array))
		valid_link(t, victim);
	return e;
}

static void stale_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct tlb_entry *e, uint64_t va)
{
	oracle_report(m, PTSIM_VIOL_STALE_ACCESS, (int)cpu->id, va, e->pfn,
		      "cpu %u used a %s entry for va %#llx that still points at frame %u, freed since it was cached",
		      cpu->id, is_leaf_array(e->array) ? "TLB" : "paging-structure-cache", (unsigned long long)va,
		      e->pfn);
	/* Record it once: refresh the generation so the same entry is not reported again. */
	e->gen = frame(m, e->pfn)->gen;
}

/*
 * The hardware walk through the PWC.  Returns the leaf entry pointer and its
 * leaf size shift, or NULL when the walk ends at a none/non-present entry.
 */
static pgent_t *hw_walk(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va,
			unsigned int *leaf_shift)
{
	const struct pt_geometry *g = &m->geo;
	struct sim_tlb *t = &cpu->tlb;
	static const enum pt_level pointed[NR_PWC_LEVELS] = { PT_PTE, PT_PMD, PT_PUD, PT_P4D };
	enum pt_level level = PT_PGD;
	uint32_t table = mm->pgd;

	for (int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int array = NR_TLB_PSIZES + (unsigned int)l;
		if (!t->a[array].present)
			continue;
		struct tlb_entry *e = lookup(t, array, va >> t->a[array].shift, cpu->asid);
		if (e) {
			if (PTSIM_UNLIKELY(frame(m, e->pfn)->gen != e->gen))
				stale_access(m, cpu, e, va);
			e->lru = ++t->lru_clock;
			table = e->pfn;
			level = pointed[l];
			STAT_INC(m, TLB_PWC_HITS);
			break;
		}
	}

	for (;;) {
		pgent_t *ep = &pt_entries(m, table)[pt_index(g, level, va)];
		pgent_t ent = *ep;

		if (level == PT_PTE) {
			*leaf_shift = g->page_shift;
			return ep;
		}
		enum pt_level next = (enum pt_level)(level + 1);
		while (g->folded[next])
			next = (enum pt_level)(next + 1);
		if (!pgent_present(ent))
			return NULL;
		if (pgent_huge(ent)) {
			*leaf_shift = g->shift[level];
			return ep;
		}
		table = pgent_pfn(ent);
		unsigned int array = NR_TLB_PSIZES + (unsigned int)(PT_PTE - next);
		fill(m, t, array, va >> t->a[array].shift, cpu->asid, table, 0);
		level = next;
	}
}

static unsigned int psize_of_shift(const struct sim_tlb *t, unsigned int shift)
{
	if (shift == t->a[TLB_PAGE].shift)
		return TLB_PAGE;
	if (t->a[TLB_PMD].present && shift == t->a[TLB_PMD].shift)
		return TLB_PMD;
	return TLB_PUD;
}

bool hw_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write)
{
	struct sim_tlb *t = &cpu->tlb;
	uint16_t asid = cpu->asid;

	if (PTSIM_UNLIKELY(!t->e) && tlbcache_init_cpu(m, cpu))
		return false;

	for (unsigned int s = 0; s < NR_TLB_PSIZES; s++) {
		const struct tlb_array *a = &t->a[s];
		if (!a->present)
			continue;
		uint64_t tag = va >> a->shift;
		struct tlb_entry *e = &t->e[a->base + set_of(a, tag, asid) * a->ways];
		for (uint32_t w = 0; w < a->ways; w++, e++) {
			if (e->array != s || e->tag != tag || e->asid != asid)
				continue;
			if (PTSIM_UNLIKELY(frame(m, e->pfn)->gen != e->gen))
				stale_access(m, cpu, e, va);
			if (write && !(e->flags & TLBF_DIRTY)) {
				if (!(e->flags & TLBF_WRITE)) {
					/* Protection fault: the entry goes, the kernel handles it. */
					tlb_kill(m, t, (uint32_t)(e - t->e));
					goto miss;
				}
				/* Clean writable entry: the CPU walks to set the dirty bit. */
				goto miss;
			}
			e->lru = ++t->lru_clock;
			STAT_INC(m, TLB_HITS);
			CPU_STAT_INC(cpu, TLB_HITS);
			return true;
		}
	}
miss:
	STAT_INC(m, TLB_MISSES);
	CPU_STAT_INC(cpu, TLB_MISSES);
	STAT_INC(m, TLB_WALKS);
	CPU_STAT_INC(cpu, TLB_WALKS);
	cpumask_set_cpu(cpu->id, &mm->tlb_cached);

	unsigned int leaf_shift;
	pgent_t *ep = hw_walk(m, cpu, mm, va, &leaf_shift);
	if (!ep)
		return false;
	pgent_t ent = *ep;
	if (!pgent_hw_present(ent))
		return false;
	if (write && !(ent & _PAGE_RW))
		return false;
	/* Hardware A/D update. */
	ent |= _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
	*ep = ent;

	unsigned int psize = psize_of_shift(t, leaf_shift);
	uint8_t flags = (uint8_t)(((ent & _PAGE_RW) ? TLBF_WRITE : 0) | ((ent & _PAGE_DIRTY) ? TLBF_DIRTY : 0) |
				  ((ent & _PAGE_NX) ? 0 : TLBF_EXEC));
	fill(m, t, psize, va >> t->a[psize].shift, asid, pgent_pfn(ent), flags);
	return true;
}

/* ---- invalidation ---- */

unsigned int tlb_inv_va(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!t->e)
		return 0;
	if (what & TLBINV_LEAF) {
		for (unsigned int s = 0; s < NR_TLB_PSIZES; s++) {
			if (!t->a[s].present)
				continue;
			struct tlb_entry *e = lookup(t, s, va >> t->a[s].shift, asid);
			if (e) {
				tlb_kill(m, t, (uint32_t)(e - t->e));
				n++;
			}
		}
	}
	if (what & TLBINV_PWC)
		n += tlb_inv_pwc_va(m, cpu, asid, va);
	return n;
}

unsigned int tlb_inv_pwc_va(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!t->e)
		return 0;
	for (unsigned int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int array = NR_TLB_PSIZES + l;
		if (!t->a[array].present)
			continue;
		struct tlb_entry *e = lookup(t, array, va >> t->a[array].shift, asid);
		if (e) {
			tlb_kill(m, t, (uint32_t)(e - t->e));
			n++;
		}
	}
	return n;
}

static unsigned int inv_pwc_asid(struct ptsim_machine *m, struct sim_tlb *t, bool all, uint16_t asid)
{
	unsigned int n = 0;

	for (unsigned int l = 0; l < NR_PWC_LEVELS; l++) {
		const struct tlb_array *a = &t->a[NR_TLB_PSIZES + l];
		if (!a->present)
			continue;
		for (uint32_t i = a->base; i < a->base + a->sets * a->ways; i++) {
			struct tlb_entry *e = &t->e[i];
			if (e->array != ARRAY_INVALID && (all || e->asid == asid)) {
				tlb_kill(m, t, i);
				n++;
			}
		}
	}
	return n;
}

static unsigned int inv_leaf_asid(struct ptsim_machine *m, struct sim_tlb *t, bool all, uint16_t asid)
{
	unsigned int n = 0;
	uint32_t i = t->valid_head;

	while (i != TLB_NIL) {
		uint32_t next = t->e[i].next;
		if (all || t->e[i].asid == asid) {
			tlb_kill(m, t, i);
			n++;
		}
		i = next;
	}
	return n;
}

unsigned int tlb_inv_asid(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!t->e)
		return 0;
	if (what & TLBINV_LEAF)
		n += inv_leaf_asid(m, t, false, asid);
	if (what & TLBINV_PWC)
		n += inv_pwc_asid(m, t, false, asid);
	return n;
}

unsigned int tlb_inv_all(struct ptsim_machine *m, struct sim_cpu *cpu, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!t->e)
		return 0;
	if (what & TLBINV_LEAF)
		n += inv_leaf_asid(m, t, true, 0);
	if (what & TLBINV_PWC)
		n += inv_pwc_asid(m, t, true, 0);
	return n;
}

/* ---- oracle support ---- */

void tlb_find_refs(struct ptsim_machine *m, uint32_t pfn,
		   void (*fn)(void *ctx, const struct sim_cpu *cpu, const struct tlb_entry *e, uint64_t va), void *ctx)
{
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const struct sim_cpu *cpu = &m->cpus[c];
		const struct sim_tlb *t = &cpu->tlb;
		if (!t->e)
			continue;
		for (uint32_t i = 0; i < t->nr_entries; i++) {
			const struct tlb_entry *e = &t->e[i];
			if (e->array == ARRAY_INVALID || e->pfn != pfn)
				continue;
			fn(ctx, cpu, e, e->tag << t->a[e->array].shift);
		}
	}
}

/* tlb_consistent - recount what the caches hold against the cached counts. */
bool tlb_consistent(struct ptsim_machine *m, struct sim_cpu *cpu, char *why, size_t len)
{
	const struct sim_tlb *t = &cpu->tlb;
	uint32_t valid = 0, listed = 0;

	if (!t->e)
		return true;
	for (uint32_t i = 0; i < t->nr_entries; i++)
		if (t->e[i].array != ARRAY_INVALID && is_leaf_array(t->e[i].array))
			valid++;
	for (uint32_t i = t->valid_head; i != TLB_NIL; i = t->e[i].next) {
		if (++listed > t->nr_entries)
			break;
	}
	if (valid != t->nr_valid || listed != t->nr_valid) {
		snprintf(why, len, "cpu %u TLB: %u valid leaf entries, %u listed, %u cached count", cpu->id, valid,
			 listed, t->nr_valid);
		return false;
	}
	(void)m;
	return true;
}
