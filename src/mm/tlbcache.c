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
		a->shift = s == TLB_PAGE ? g->page_shift : ilog2_u64(s == TLB_PMD ? g->pmd_leaf_size : g->pud_leaf_size);
		a->base = base;
		base += a->sets * a->ways;
	}
	t->nr_leaf = base;   /* the leaf arrays come first */
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
		a->shift = g->shift[lvl] + ilog2_u64(g->ptrs[lvl]);
		a->base = base;
		base += a->sets * a->ways;
	}
	t->nr_entries = base;
}

int tlbcache_init_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_tlb *t = &cpu->tlb;

	tlb_layout(m, t);
	/* Host memory that can run out (8,192 CPUs with large TLBs): injectable, and the caller fails cleanly. */
	t->key = sim_calloc(&m->alloc, t->nr_entries, sizeof(uint64_t));
	t->fp = sim_calloc(&m->alloc, t->nr_entries + 8, 1);   /* +8: word loads may run past the end */
	t->lru = sim_calloc(&m->alloc, t->nr_entries, sizeof(uint32_t));
	t->e = sim_calloc(&m->alloc, t->nr_entries, sizeof(struct tlb_entry));
	if (!t->key || !t->fp || !t->lru || !t->e) {
		tlbcache_release_cpu(m, cpu);
		return SIM_ENOMEM;
	}
	t->valid_head = TLB_NIL;
	t->nr_valid = 0;
	t->lru_clock = 0;
	t->last_pwc = TLB_NIL;
	return 0;
}

void tlbcache_release_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_tlb *t = &cpu->tlb;

	sim_free(&m->alloc, t->key, (size_t)t->nr_entries * sizeof(uint64_t));
	sim_free(&m->alloc, t->fp, (size_t)t->nr_entries + 8);
	sim_free(&m->alloc, t->lru, (size_t)t->nr_entries * sizeof(uint32_t));
	sim_free(&m->alloc, t->e, (size_t)t->nr_entries * sizeof(struct tlb_entry));
	t->key = NULL;
	t->fp = NULL;
	t->lru = NULL;
	t->e = NULL;
}

static inline uint32_t set_of(const struct tlb_array *a, uint64_t tag, uint16_t asid)
{
	return (uint32_t)((tag ^ ((uint64_t)asid << 4)) & (a->sets - 1));
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
	if (i < t->nr_leaf)
		valid_unlink(t, i);
	t->a[e->array].nr_valid--;
	t->key[i] = 0;
	t->fp[i] = 0;
}

static inline uint8_t key_fp(uint64_t key)
{
	return (uint8_t)(((key * 0x9e3779b97f4a7c15ull) >> 57) | 1);   /* never 0 */
}

#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull

/*
 * Candidate ways of a set whose fingerprint equals @fp (fp 0: free ways), as
 * a bit mask, eight ways per word (SWAR zero-byte test; a false candidate is
 * possible and the caller verifies the key).
 */
static inline uint64_t fp_match8(const uint8_t *p, uint8_t fp)
{
	uint64_t w;
	memcpy(&w, p, 8);
	uint64_t x = w ^ (BYTES_01 * fp);
	uint64_t z = (x - BYTES_01) & ~x & BYTES_80;
	/* Gather the high bit of each byte into 8 mask bits. */
	return (z >> 7) * 0x0102040810204080ull >> 56;
}

/* Index of the entry for (tag, asid) in @array, or TLB_NIL. */
static inline uint32_t lookup(const struct sim_tlb *t, unsigned int array, uint64_t tag, uint16_t asid)
{
	const struct tlb_array *a = &t->a[array];
	uint64_t key = tlb_key(tag, asid);
	uint8_t fp = key_fp(key);
	uint32_t first = a->base + set_of(a, tag, asid) * a->ways;

	if (!a->nr_valid)
		return TLB_NIL;
	for (uint32_t w0 = 0; w0 < a->ways; w0 += 8) {
		uint64_t mask = fp_match8(&t->fp[first + w0], fp);
		if (a->ways - w0 < 8)
			mask &= (1ull << (a->ways - w0)) - 1;
		while (mask) {
			uint32_t i = first + w0 + (uint32_t)__builtin_ctzll(mask);
			if (t->key[i] == key)
				return i;
			mask &= mask - 1;
		}
	}
	return TLB_NIL;
}

static uint32_t fill(struct ptsim_machine *m, struct sim_tlb *t, unsigned int array, uint64_t tag, uint16_t asid,
		     uint32_t pfn, uint8_t flags, bool may_exist)
{
	struct tlb_array *a = &t->a[array];
	uint64_t key = tlb_key(tag, asid);
	uint8_t fp = key_fp(key);
	uint32_t first = a->base + set_of(a, tag, asid) * a->ways;
	uint32_t victim = TLB_NIL;

	/* The same translation again, else a free way, else the least recently used. */
	if (may_exist && a->nr_valid && (victim = lookup(t, array, tag, asid)) != TLB_NIL)
		goto found;
	for (uint32_t w0 = 0; w0 < a->ways; w0 += 8) {
		uint64_t mask = fp_match8(&t->fp[first + w0], 0);
		if (a->ways - w0 < 8)
			mask &= (1ull << (a->ways - w0)) - 1;
		while (mask) {
			uint32_t i = first + w0 + (uint32_t)__builtin_ctzll(mask);
			if (!t->key[i]) {
				victim = i;
				goto found;
			}
			mask &= mask - 1;
		}
	}
	uint32_t oldest = UINT32_MAX;
	for (uint32_t w = 0; w < a->ways; w++) {
		if (t->lru[first + w] < oldest) {
			oldest = t->lru[first + w];
			victim = first + w;
		}
	}
found:
	if (t->key[victim])
		tlb_kill(m, t, victim);
	struct tlb_entry *e = &t->e[victim];
	struct sim_frame *f = frame(m, pfn);
	t->key[victim] = key;
	t->fp[victim] = fp;
	t->lru[victim] = ++t->lru_clock;
	e->array = (uint8_t)array;
	e->asid = asid;
	e->pfn = pfn;
	e->gen = f->gen;
	e->flags = flags;
	f->cache_refs++;
	a->nr_valid++;
	if (victim < t->nr_leaf)
		valid_link(t, victim);
	return victim;
}

static void stale_access(struct ptsim_machine *m, struct sim_cpu *cpu, uint32_t i, uint64_t va)
{
	struct tlb_entry *e = &cpu->tlb.e[i];

	oracle_report(m, PTSIM_VIOL_STALE_ACCESS, (int)cpu->id, va, e->pfn,
		      "cpu %u used a %s entry for va %#llx that still points at frame %u, freed since it was cached",
		      cpu->id, i < cpu->tlb.nr_leaf ? "TLB" : "paging-structure-cache", (unsigned long long)va, e->pfn);
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

	/* Fast path: the PTE table of the last walk (what the PDE cache lookup would find). */
	uint32_t last = t->last_pwc;
	if (PTSIM_LIKELY(last != TLB_NIL) &&
	    t->key[last] == tlb_key(va >> t->a[NR_TLB_PSIZES + PWC_PTE].shift, cpu->asid)) {
		struct tlb_entry *e = &t->e[last];
		if (PTSIM_UNLIKELY(frame(m, e->pfn)->gen != e->gen))
			stale_access(m, cpu, last, va);
		t->lru[last] = ++t->lru_clock;
		CPU_STAT_INC(cpu, TLB_PWC_HITS);
		*leaf_shift = g->page_shift;
		return &pt_entries(m, e->pfn)[pt_index(g, PT_PTE, va)];
	}

	for (int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int array = NR_TLB_PSIZES + (unsigned int)l;
		if (!t->a[array].present)
			continue;
		uint32_t i = lookup(t, array, va >> t->a[array].shift, cpu->asid);   /* last_pwc missed above */
		if (i != TLB_NIL) {
			if (l == 0)
				t->last_pwc = i;
			struct tlb_entry *e = &t->e[i];
			if (PTSIM_UNLIKELY(frame(m, e->pfn)->gen != e->gen))
				stale_access(m, cpu, i, va);
			t->lru[i] = ++t->lru_clock;
			table = e->pfn;
			level = pointed[l];
			CPU_STAT_INC(cpu, TLB_PWC_HITS);
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
		/* Every level below the hit was looked up above and missed: no lookup before the fill. */
		fill(m, t, array, va >> t->a[array].shift, cpu->asid, table, 0, false);
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

bool hw_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
	       bool *tlb_may_hold)
{
	struct sim_tlb *t = &cpu->tlb;
	uint16_t asid = cpu->asid;
	bool held = false;   /* an entry for va stays in the TLB (clean, writable) */

	assert(t->key);   /* the caller allocated the arrays (tlbcache_init_cpu()) */

	for (unsigned int s = 0; s < NR_TLB_PSIZES; s++) {
		if (!t->a[s].present)
			continue;
		uint32_t i = lookup(t, s, va >> t->a[s].shift, asid);
		if (i == TLB_NIL)
			continue;
		struct tlb_entry *e = &t->e[i];
		if (PTSIM_UNLIKELY(frame(m, e->pfn)->gen != e->gen))
			stale_access(m, cpu, i, va);
		if (write && (e->flags & (TLBF_WRITE | TLBF_DIRTY)) != (TLBF_WRITE | TLBF_DIRTY)) {
			/*
			 * Read-only (even if dirty, as a COW page after fork is): a
			 * protection fault drops the entry.  Clean: walk to set dirty.
			 */
			if (!(e->flags & TLBF_WRITE))
				tlb_kill(m, t, i);
			else
				held = true;
			break;
		}
		t->lru[i] = ++t->lru_clock;
		CPU_STAT_INC(cpu, TLB_HITS);
		return true;
	}
	*tlb_may_hold = held;
	return hw_access_walk(m, cpu, mm, va, write, held);
}

/*
 * hw_access_walk - a TLB miss: walk (through the PWC) and fill the TLB.
 * Also the retry after a page fault, which cannot hit: a fault never fills
 * the TLB.
 */
bool hw_access_walk(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
		    bool tlb_may_hold)
{
	struct sim_tlb *t = &cpu->tlb;

	CPU_STAT_INC(cpu, TLB_MISSES);
	CPU_STAT_INC(cpu, TLB_WALKS);
	if (!cpumask_test_cpu(cpu->id, &mm->tlb_cached))
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
				  ((ent & _PAGE_CONT) ? TLBF_CONT : 0));
	fill(m, t, psize, va >> t->a[psize].shift, cpu->asid, pgent_pfn(ent), flags, tlb_may_hold);
	return true;
}

/* ---- invalidation ---- */

unsigned int tlb_inv_va(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!t->key)
		return 0;
	if (what & TLBINV_LEAF) {
		for (unsigned int s = 0; s < NR_TLB_PSIZES; s++) {
			if (!t->a[s].present)
				continue;
			uint32_t i = lookup(t, s, va >> t->a[s].shift, asid);
			if (i != TLB_NIL) {
				tlb_kill(m, t, i);
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

	if (!t->key)
		return 0;
	for (unsigned int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int array = NR_TLB_PSIZES + l;
		if (!t->a[array].present)
			continue;
		uint32_t i = lookup(t, array, va >> t->a[array].shift, asid);
		if (i != TLB_NIL) {
			tlb_kill(m, t, i);
			n++;
		}
	}
	return n;
}

unsigned int tlb_inv_va_arrays(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va,
			       uint32_t arrays)
{
	return tlb_inv_range_arrays(m, cpu, asid, va, va + 1, arrays);
}

/* Entries per contiguous-hint block in leaf array @a (1: no contiguous ranges there). */
static uint64_t cont_per(const struct ptsim_machine *m, const struct sim_tlb *t, unsigned int a)
{
	uint64_t block = a == TLB_PAGE ? m->geo.cont_pte_size : a == TLB_PMD ? m->geo.cont_pmd_size : 0;
	uint64_t per = block >> t->a[a].shift;
	return per > 1 ? per : 1;
}

/*
 * Does entry @i (tag @tag) of leaf array @a fall to an invalidation of tags
 * [@lo, @hi]?  A contiguous-hint entry (TLBF_CONT) stands for its whole
 * aligned block, as the hardware may cache the block as one entry: it goes
 * if its block meets the range.
 */
static bool leaf_hit(const struct sim_tlb *t, uint32_t i, uint64_t tag, uint64_t lo, uint64_t hi, uint64_t per)
{
	if (tag >= lo && tag <= hi)
		return true;
	return (t->e[i].flags & TLBF_CONT) && (tag | (per - 1)) >= lo && (tag & ~(per - 1)) <= hi;
}

/*
 * Range form: per address for short ranges, else one pass over what the
 * arrays hold (the valid list for leaf entries, the small PWC arrays whole),
 * so an 8 GiB range TLBI costs what the TLB holds, not 2^21 lookups.
 */
unsigned int tlb_inv_range_arrays(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t start,
				  uint64_t end, uint32_t arrays)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;
	uint32_t scan = 0;

	if (!t->key || end <= start)
		return 0;
	for (unsigned int a = 0; a < NR_TLB_ARRAYS; a++) {
		const struct tlb_array *ar = &t->a[a];
		if (!(arrays & (1u << a)) || !ar->present || !ar->nr_valid)
			continue;
		uint64_t lo = start >> ar->shift, hi = (end - 1) >> ar->shift;
		uint64_t per = a < NR_TLB_PSIZES ? cont_per(m, t, a) : 1;
		uint64_t elo = lo & ~(per - 1), ehi = hi | (per - 1);
		if (ehi - elo < 64) {
			for (uint64_t tag = elo; tag <= ehi; tag++) {
				uint32_t i = lookup(t, a, tag, asid);
				if (i != TLB_NIL && (a >= NR_TLB_PSIZES || leaf_hit(t, i, tag, lo, hi, per))) {
					tlb_kill(m, t, i);
					n++;
				}
			}
		} else {
			scan |= 1u << a;
		}
	}
	if (scan & TLBARR_ALL_LEAF) {
		uint32_t i = t->valid_head;
		while (i != TLB_NIL) {
			uint32_t next = t->e[i].next;
			const struct tlb_entry *e = &t->e[i];
			unsigned int sh = t->a[e->array].shift;
			if ((scan & (1u << e->array)) && e->asid == asid &&
			    leaf_hit(t, i, tlb_key_tag(t->key[i]), start >> sh, (end - 1) >> sh, cont_per(m, t, e->array))) {
				tlb_kill(m, t, i);
				n++;
			}
			i = next;
		}
	}
	for (unsigned int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int a = NR_TLB_PSIZES + l;
		const struct tlb_array *ar = &t->a[a];
		if (!(scan & (1u << a)))
			continue;
		for (uint32_t i = ar->base; i < ar->base + ar->sets * ar->ways; i++) {
			uint64_t tag;
			if (!t->key[i] || t->e[i].asid != asid)
				continue;
			tag = tlb_key_tag(t->key[i]);
			if (tag >= (start >> ar->shift) && tag <= ((end - 1) >> ar->shift)) {
				tlb_kill(m, t, i);
				n++;
			}
		}
	}
	return n;
}

unsigned int tlb_inv_asid_except(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t keep)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!t->key)
		return 0;
	for (uint32_t i = 0; i < t->nr_entries; i++) {
		if (t->key[i] && t->e[i].asid != keep) {
			tlb_kill(m, t, i);
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
		if (!a->present || !a->nr_valid)
			continue;
		for (uint32_t i = a->base; i < a->base + a->sets * a->ways; i++) {
			if (t->key[i] && (all || t->e[i].asid == asid)) {
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

	if (!t->key)
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

	if (!t->key)
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
		if (!t->key)
			continue;
		for (uint32_t i = 0; i < t->nr_entries; i++) {
			const struct tlb_entry *e = &t->e[i];
			if (!t->key[i] || e->pfn != pfn)
				continue;
			fn(ctx, cpu, e, tlb_key_tag(t->key[i]) << t->a[e->array].shift);
		}
	}
}

/* tlb_consistent - recount what the caches hold against the cached counts. */
bool tlb_consistent(struct ptsim_machine *m, struct sim_cpu *cpu, char *why, size_t len)
{
	const struct sim_tlb *t = &cpu->tlb;
	uint32_t valid = 0, listed = 0;
	uint32_t per_array[NR_TLB_ARRAYS] = { 0 };

	(void)m;
	if (!t->key)
		return true;
	for (uint32_t i = 0; i < t->nr_entries; i++) {
		if (!t->key[i])
			continue;
		per_array[t->e[i].array]++;
		if (i < t->nr_leaf)
			valid++;
	}
	for (uint32_t i = t->valid_head; i != TLB_NIL; i = t->e[i].next)
		if (++listed > t->nr_entries)
			break;
	if (valid != t->nr_valid || listed != t->nr_valid) {
		snprintf(why, len, "cpu %u TLB: %u valid leaf entries, %u listed, %u cached count", cpu->id, valid,
			 listed, t->nr_valid);
		return false;
	}
	for (unsigned int a = 0; a < NR_TLB_ARRAYS; a++) {
		if (per_array[a] != t->a[a].nr_valid) {
			snprintf(why, len, "cpu %u TLB array %u: %u valid entries, count says %u", cpu->id, a,
				 per_array[a], t->a[a].nr_valid);
			return false;
		}
	}
	return true;
}
