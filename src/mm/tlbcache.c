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
 *     the table it points at (PWC): the oracle's O(1) check at free time.  A
 *     frame freed while entries still reference it (a violation) has those
 *     entries marked stale, and their next use is reported as a stale access.
 *
 * Storage (tlbcache.h): per array, 16-byte entries, one fingerprint byte per
 * entry (0: invalid; a lookup compares eight ways' fingerprints with one
 * 64-bit operation and reads a key only on a match) and one busy bit per set
 * (scans for full and ASID flushes visit only sets that may hold something).
 *
 * Arch back-ends call the tlb_inv_*() primitives; what a flush instruction
 * invalidates (INVLPG drops every PWC entry of the PCID; VAE1IS the walk-cache
 * entries for one VA) is their decision.
 */
#include "mm/internal.h"

#include <stdio.h>

#include "arch/arch.h"

/* Ways whose fingerprints one compare checks (fp_match(), fp_valid()). */
#ifdef __SSE2__
#include <emmintrin.h>
#define FP_GROUP 16u
#else
#define FP_GROUP 8u
#endif


/*
 * Lay out the arrays from the variants and the geometry: per block, the
 * entries (16-byte aligned), then the busy bits, then the fingerprints (with 8
 * bytes of slack: fingerprint words are read 8 ways at a time).
 */
void tlbcache_layout(struct ptsim_machine *m)
{
	const struct pt_geometry *g = &m->geo;
	struct tlb_layout *L = &m->tlb_layout;

	memset(L, 0, sizeof(*L));
	for (int s = 0; s < NR_TLB_PSIZES; s++) {
		struct tlb_geo *a = &L->a[s];
		bool present = s == TLB_PAGE || (s == TLB_PMD && g->pmd_leaf_size) ||
			       (s == TLB_PUD && g->pud_leaf_size);
		if (!present)
			continue;
		a->present = true;
		a->block = s == TLB_PAGE ? TLB_BLOCK_BASE : TLB_BLOCK_HUGE;
		a->ways = (uint32_t)m->v.tlb_ways[s];
		a->sets = (uint32_t)m->v.tlb_entries[s] / a->ways;
		a->shift = s == TLB_PAGE ? g->page_shift : ilog2_u64(s == TLB_PMD ? g->pmd_leaf_size : g->pud_leaf_size);
	}
	static const enum pt_level pointed[NR_PWC_LEVELS] = { PT_PTE, PT_PMD, PT_PUD, PT_P4D };
	for (int l = 0; l < NR_PWC_LEVELS; l++) {
		struct tlb_geo *a = &L->a[NR_TLB_PSIZES + l];
		enum pt_level lvl = pointed[l];
		if (g->folded[lvl])
			continue;
		a->present = true;
		a->block = TLB_BLOCK_BASE;
		a->ways = (uint32_t)m->v.pwc_ways;
		a->sets = (uint32_t)m->v.pwc_entries / a->ways;
		/* The key is the VA span of the table pointed at. */
		a->shift = g->shift[lvl] + ilog2_u64(g->ptrs[lvl]);
	}
	for (unsigned int i = 0; i < NR_TLB_ARRAYS; i++)
		L->a[i].hint_shift = L->a[i].sets > 64 ? (uint8_t)(ilog2_u64(L->a[i].sets) - 6) : 0;
	for (unsigned int b = 0; b < NR_TLB_BLOCKS; b++) {
		uint32_t off = 0;
		for (unsigned int i = 0; i < NR_TLB_ARRAYS; i++) {
			struct tlb_geo *a = &L->a[i];
			if (a->present && a->block == b) {
				a->e_off = off;
				off += a->sets * a->ways * (uint32_t)sizeof(struct tlb_entry);
			}
		}
		for (unsigned int i = 0; i < NR_TLB_ARRAYS; i++) {
			struct tlb_geo *a = &L->a[i];
			if (a->present && a->block == b) {
				a->busy_off = off;
				off += (a->sets + 63) / 64 * 8;
			}
		}
		for (unsigned int i = 0; i < NR_TLB_ARRAYS; i++) {
			struct tlb_geo *a = &L->a[i];
			if (a->present && a->block == b) {
				a->fp_off = off;
				off += a->sets * a->ways + FP_GROUP;   /* a group read may pass the last set */
			}
		}
		L->block_bytes[b] = off;
	}
}

/* Allocate storage block @b of @cpu (zeroed: every entry invalid, no set busy). */
static int tlb_block_alloc(struct ptsim_machine *m, struct sim_tlb *t, unsigned int b)
{
	/* Host memory that can run out (8,192 CPUs with large TLBs): injectable, and the caller fails cleanly. */
	t->block[b] = sim_calloc(&m->alloc, m->tlb_layout.block_bytes[b], 1);
	return t->block[b] ? 0 : SIM_ENOMEM;
}

int tlbcache_init_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_tlb *t = &cpu->tlb;

	if (tlb_block_alloc(m, t, TLB_BLOCK_BASE))
		return SIM_ENOMEM;
	memset(t->nr_valid, 0, sizeof(t->nr_valid));
	memset(t->hint, 0, sizeof(t->hint));
	t->lru_clock = 0;
	t->last_pwc = TLB_NIL;
	return 0;
}

void tlbcache_release_cpu(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	struct sim_tlb *t = &cpu->tlb;

	for (unsigned int b = 0; b < NR_TLB_BLOCKS; b++) {
		sim_free(&m->alloc, t->block[b], m->tlb_layout.block_bytes[b]);
		t->block[b] = NULL;
	}
	memset(t->nr_valid, 0, sizeof(t->nr_valid));   /* the invalidations test the counts, not the blocks */
	memset(t->hint, 0, sizeof(t->hint));
}

/* One array of one CPU: its shape and its storage (only for an allocated block). */
struct tlb_view {
	const struct tlb_geo *g;
	struct tlb_entry *e;
	uint8_t *fp;
	uint64_t *busy;
	uint32_t ways, set_mask;   /* g->ways, g->sets - 1: local copies the compiler need not reload after stores */
};

static inline struct tlb_view tview(const struct ptsim_machine *m, const struct sim_tlb *t, unsigned int a)
{
	const struct tlb_geo *g = &m->tlb_layout.a[a];
	char *b = t->block[g->block];
	struct tlb_view v = { g, (struct tlb_entry *)(void *)(b + g->e_off), (uint8_t *)(b + g->fp_off),
			      (uint64_t *)(void *)(b + g->busy_off), g->ways, g->sets - 1 };

	assert(b);
	return v;
}

static inline uint32_t set_in(uint32_t set_mask, uint64_t tag, uint16_t asid)
{
	return (uint32_t)((tag ^ ((uint64_t)asid << 4)) & set_mask);
}

static inline uint32_t set_of(const struct tlb_geo *g, uint64_t tag, uint16_t asid)
{
	return set_in(g->sets - 1, tag, asid);
}

/* The bit of struct tlb_hint's sets that stands for set @set. */
static inline uint64_t hint_bit(const struct tlb_geo *g, uint32_t set)
{
	return 1ull << (set >> g->hint_shift);
}

/* The bit of struct tlb_hint's tags that stands for @tag: its bits above the set index, modulo 64. */
static inline uint64_t tag_bit(const struct tlb_geo *g, uint64_t tag)
{
	return 1ull << ((tag >> __builtin_ctz(g->sets)) & 63);
}

/* The tags filter's bits of the consecutive tags [@tag, @tag + @n). */
static inline void tlb_mark_tags(struct tlb_hint *h, const struct tlb_geo *g, uint64_t tag, uint64_t n)
{
	unsigned int sb = (unsigned int)__builtin_ctz(g->sets);
	uint64_t first = tag >> sb, last = (tag + n - 1) >> sb;

	if (!n)
		return;
	if (last - first >= 63) {
		h->tags = ~0ull;
		return;
	}
	for (uint64_t x = first; x <= last; x++)
		h->tags |= 1ull << (x & 63);
}

/* Invalidate entry i of array a (drops the frame reference; the set's busy bit may stay). */
static inline void tlb_kill(struct ptsim_machine *m, struct sim_tlb *t, unsigned int a, const struct tlb_view *v,
			    uint32_t i)
{
	frame(m, v->e[i].pfn)->cache_refs--;
	t->nr_valid[a]--;
	v->fp[i] = 0;
	v->e[i].key = TLB_KEY_INVALID;
}

static inline uint8_t key_fp(uint64_t key)
{
	return (uint8_t)(((key * 0x9e3779b97f4a7c15ull) >> 57) | 1);   /* never 0 */
}

#ifdef __SSE2__
/*
 * Fingerprints are compared sixteen ways at a time (one SSE2 compare): the
 * mask has exactly the ways whose fingerprint equals @fp.  The result does
 * not depend on the group size (the SWAR version below, eight ways at a time,
 * gives the same ways in the same order once the keys are checked): only the
 * host instructions differ.  A group is loaded once (fp_load()) and may be
 * matched against several fingerprints (fp_group_match()).
 */
typedef __m128i fp_group;

static inline fp_group fp_load(const uint8_t *p)
{
	return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline uint64_t fp_group_match(fp_group g, uint8_t fp)
{
	return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_set1_epi8((char)fp)));
}

/* Exactly the valid ways (fingerprint not 0) of the group. */
static inline uint64_t fp_valid(const uint8_t *p)
{
	return fp_group_match(fp_load(p), 0) ^ 0xffffu;
}
#else
#define BYTES_01 0x0101010101010101ull
#define BYTES_7F 0x7f7f7f7f7f7f7f7full
#define BYTES_80 0x8080808080808080ull

typedef uint64_t fp_group;

static inline fp_group fp_load(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* Bit k of the result: the high bit of byte k of @z (the other bits of z are 0). */
static inline uint64_t gather8(uint64_t z)
{
	return (z >> 7) * 0x0102040810204080ull >> 56;
}

/*
 * Candidate ways of a set whose fingerprint equals @fp, as a bit mask, eight
 * ways per word (SWAR zero-byte test).  A false candidate is possible above a
 * true one, so callers verify the key; the lowest candidate is always true
 * (which is what the free-way search, fp 0, relies on).
 */
static inline uint64_t fp_group_match(fp_group w, uint8_t fp)
{
	uint64_t x = w ^ (BYTES_01 * fp);
	return gather8((x - BYTES_01) & ~x & BYTES_80);
}

/* Exactly the valid ways (fingerprint not 0) among eight. */
static inline uint64_t fp_valid(const uint8_t *p)
{
	uint64_t w = fp_load(p);
	return gather8((((w & BYTES_7F) + BYTES_7F) | w) & BYTES_80);
}
#endif

static inline uint64_t fp_match(const uint8_t *p, uint8_t fp)
{
	return fp_group_match(fp_load(p), fp);
}

/* Keep the bits of ways [w0, ways) of a group's mask. */
static inline uint64_t ways_trim(uint64_t mask, uint32_t ways, uint32_t w0)
{
	return ways - w0 < FP_GROUP ? mask & ((1ull << (ways - w0)) - 1) : mask;
}

/* Index of the entry with @key (fingerprint @fp) among the FP_GROUP ways from @first (fingerprints @g), or TLB_NIL. */
static inline uint32_t lookup_group(const struct tlb_view *v, uint32_t first, fp_group g, uint64_t key, uint8_t fp)
{
	for (uint64_t mask = fp_group_match(g, fp); mask; mask &= mask - 1) {
		uint32_t i = first + (uint32_t)__builtin_ctzll(mask);
		if ((v->e[i].key & TLB_KEY_MASK) == key)
			return i;
	}
	return TLB_NIL;
}

/* Index of the entry with @key (fingerprint @fp) in set @set of a non-empty array, or TLB_NIL. */
static inline uint32_t lookup_set(const struct tlb_view *v, uint32_t set, uint64_t key, uint8_t fp)
{
	uint32_t ways = v->ways;
	uint32_t first = set * ways;

	if (PTSIM_LIKELY(ways == FP_GROUP))   /* the default shapes: one group per set */
		return lookup_group(v, first, fp_load(&v->fp[first]), key, fp);
	for (uint32_t w0 = 0; w0 < ways; w0 += FP_GROUP) {
		uint64_t mask = ways_trim(fp_match(&v->fp[first + w0], fp), ways, w0);
		while (mask) {
			uint32_t i = first + w0 + (uint32_t)__builtin_ctzll(mask);
			if ((v->e[i].key & TLB_KEY_MASK) == key)
				return i;
			mask &= mask - 1;
		}
	}
	return TLB_NIL;
}

/* Index of the entry for (tag, asid) in array @a, or TLB_NIL. */
static inline uint32_t lookup(const struct ptsim_machine *m, const struct sim_tlb *t, unsigned int a, uint64_t tag,
			      uint16_t asid)
{
	if (!t->nr_valid[a])
		return TLB_NIL;

	struct tlb_view v = tview(m, t, a);
	uint64_t key = tlb_key(tag, asid);
	return lookup_set(&v, set_of(v.g, tag, asid), key, key_fp(key));
}

/*
 * lookup() for an invalidation, which may run on any CPU: the set's hint bit
 * (in struct sim_tlb, beside the counts) is tested first, so that a CPU that
 * cannot hold the entry is answered without touching its storage block.
 */
static inline uint32_t lookup_inv(const struct ptsim_machine *m, const struct sim_tlb *t, unsigned int a,
				  uint64_t tag, uint16_t asid)
{
	const struct tlb_geo *g = &m->tlb_layout.a[a];

	if (!t->nr_valid[a] || !(t->hint[a].sets & hint_bit(g, set_of(g, tag, asid))) ||
	    !(t->hint[a].tags & tag_bit(g, tag)))
		return TLB_NIL;
	return lookup(m, t, a, tag, asid);
}

/* The way a new translation goes to in set @set: the first free way, else the least recently used. */
static inline uint32_t tlb_victim(const struct tlb_view *v, uint32_t set)
{
	uint32_t ways = v->ways;
	uint32_t first = set * ways;
	uint32_t victim = first, oldest = UINT32_MAX;

	if (PTSIM_LIKELY(ways == FP_GROUP)) {
		uint64_t mask = fp_match(&v->fp[first], 0);
		if (mask)
			return first + (uint32_t)__builtin_ctzll(mask);
	} else {
		for (uint32_t w0 = 0; w0 < ways; w0 += FP_GROUP) {
			uint64_t mask = ways_trim(fp_match(&v->fp[first + w0], 0), ways, w0);
			if (mask)
				return first + w0 + (uint32_t)__builtin_ctzll(mask);
		}
	}
	for (uint32_t w = 0; w < ways; w++) {
		if (v->e[first + w].lru < oldest) {
			oldest = v->e[first + w].lru;
			victim = first + w;
		}
	}
	return victim;
}

/* tlb_store()'s entry: way @i (free) takes the translation, used at @lru, and its frame reference. */
static inline void tlb_put(struct ptsim_machine *m, const struct tlb_view *v, uint32_t i, uint64_t key, uint8_t fp,
			   uint32_t pfn, unsigned int flags, uint32_t lru)
{
	struct tlb_entry *e = &v->e[i];

	assert(tlb_key_tag(key) >> 44 == 0);   /* the flags' bits stay free */
	e->key = key | (uint64_t)flags << TLB_FLAGS_SHIFT;
	e->pfn = pfn;
	e->lru = lru;
	v->fp[i] = fp;
	frame(m, pfn)->cache_refs++;
}

/* Put the translation (@key, fingerprint @fp, @pfn, @flags) into way @i of set @set, dropping what was there. */
static inline uint32_t tlb_store(struct ptsim_machine *m, struct sim_tlb *t, unsigned int a, const struct tlb_view *v,
				 uint32_t set, uint32_t i, uint64_t key, uint8_t fp, uint32_t pfn, unsigned int flags)
{
	if (v->fp[i])
		tlb_kill(m, t, a, v, i);
	tlb_put(m, v, i, key, fp, pfn, flags, ++t->lru_clock);
	v->busy[set >> 6] |= 1ull << (set & 63);
	t->hint[a].sets |= hint_bit(v->g, set);
	t->hint[a].tags |= tag_bit(v->g, tlb_key_tag(key));
	t->nr_valid[a]++;
	return i;
}

/*
 * ptsim: what tlb_store() does to array @a's busy bits and set hint, for a
 * run of entries stored with the consecutive tags [@tag, @tag + @n) of @asid
 * (those of the tags not stored by the run, hits, already sit in busy sets),
 * done once: @n tags or more than the array has sets reach every set.
 */
static void tlb_mark_run(struct sim_tlb *t, unsigned int a, const struct tlb_view *v, uint64_t tag, uint16_t asid,
			 uint64_t n)
{
	const struct tlb_geo *g = v->g;

	if (n >= g->sets) {
		if (g->sets < 64) {
			v->busy[0] |= (1ull << g->sets) - 1;
			t->hint[a].sets |= (1ull << g->sets) - 1;   /* hint_shift 0: a bit per set */
		} else {
			memset(v->busy, 0xff, g->sets / 64 * sizeof(uint64_t));
			t->hint[a].sets = ~0ull;   /* 64 runs of sets */
		}
	} else {
		for (uint64_t k = 0; k < n; k++) {
			uint32_t set = set_of(g, tag + k, asid);
			v->busy[set >> 6] |= 1ull << (set & 63);
			t->hint[a].sets |= hint_bit(g, set);
		}
	}
	tlb_mark_tags(&t->hint[a], g, tag, n);
}

/* Cache a translation: over the same one if @may_exist and it is there, else in tlb_victim()'s way. */
static uint32_t fill(struct ptsim_machine *m, struct sim_tlb *t, unsigned int a, uint64_t tag, uint16_t asid,
		     uint32_t pfn, unsigned int flags, bool may_exist)
{
	struct tlb_view v = tview(m, t, a);
	uint64_t key = tlb_key(tag, asid);
	uint8_t fp = key_fp(key);
	uint32_t set = set_of(v.g, tag, asid);
	uint32_t i = may_exist && t->nr_valid[a] ? lookup_set(&v, set, key, fp) : TLB_NIL;

	return tlb_store(m, t, a, &v, set, i != TLB_NIL ? i : tlb_victim(&v, set), key, fp, pfn, flags);
}

/* tlb_kill() of a swept entry but its fingerprint and the array's count (the sweep's own steps). */
static inline void sweep_kill(struct sim_frame *frames, struct tlb_entry *e)
{
	frames[e->pfn].cache_refs--;
	e->key = TLB_KEY_INVALID;
}

/*
 * kill_where()'s step for one fingerprint group of a set (@span ways from
 * @e, @fp; @valid: its valid ways): kill the entries @pred accepts, in index
 * order, and return how many; *left is set if some stay.  While every entry
 * so far goes, the fingerprints wait for one clear of the whole group (a byte
 * store in the loop would make the compiler reload what the predicate reads).
 */
static inline __attribute__((always_inline)) unsigned int
kill_group(struct sim_frame *frames, struct tlb_entry *e, uint8_t *fp, uint64_t valid, uint32_t span,
	   bool (*pred)(const struct tlb_entry *e, const void *ctx), const void *ctx, bool *left)
{
	uint64_t mask = valid;
	unsigned int n = 0;

	for (; mask; mask &= mask - 1) {
		unsigned int w = (unsigned int)__builtin_ctzll(mask);
		if (!pred(&e[w], ctx))
			break;
		sweep_kill(frames, &e[w]);
		n++;
	}
	if (!mask && span == FP_GROUP) {
		memset(fp, 0, FP_GROUP);   /* every way of the group is free now */
		return n;
	}
	for (uint64_t gone = valid & ~mask; gone; gone &= gone - 1)
		fp[__builtin_ctzll(gone)] = 0;
	for (; mask; mask &= mask - 1) {   /* from the first entry that stays */
		unsigned int w = (unsigned int)__builtin_ctzll(mask);
		if (!pred(&e[w], ctx)) {
			*left = true;
			continue;
		}
		sweep_kill(frames, &e[w]);
		fp[w] = 0;
		n++;
	}
	return n;
}

/*
 * Visit the valid entries of array @a in index order: kill those @pred
 * accepts (returns how many), clear the busy bits of the sets it empties and
 * recompute the set hint from the sets where entries are left.  Inline so
 * that each caller's predicate is inlined into its own loop.  Every zap ends
 * in such a sweep (tlb_inv_asid()) on the CPU that zaps.
 */
static inline unsigned int kill_where(struct ptsim_machine *m, struct sim_tlb *t, unsigned int a,
				      bool (*pred)(const struct tlb_entry *e, const void *ctx), const void *ctx)
{
	if (!t->nr_valid[a])
		return 0;
	struct tlb_view v = tview(m, t, a);
	struct sim_frame *frames = m->phys.frames;   /* not reallocated while entries die */
	const unsigned int valid = t->nr_valid[a];
	const uint32_t ways = v.ways, words = (v.g->sets + 63) / 64;
	unsigned int n = 0;
	uint64_t hint = 0;

	/* Once every valid entry is gone, the sets not visited yet hold nothing either. */
	for (uint32_t wd = 0; wd < words && n < valid; wd++) {
		uint64_t kept = 0;   /* the word's busy sets where entries stay: its new busy bits */
		for (uint64_t bits = v.busy[wd]; bits; bits &= bits - 1) {
			uint32_t set = wd * 64 + (uint32_t)__builtin_ctzll(bits);
			uint32_t first = set * ways;
			bool left = false;
			if (PTSIM_LIKELY(ways == FP_GROUP)) {   /* the default shapes: one group per set */
				n += kill_group(frames, &v.e[first], &v.fp[first], fp_valid(&v.fp[first]), FP_GROUP, pred,
						ctx, &left);
			} else {
				for (uint32_t w0 = 0; w0 < ways; w0 += FP_GROUP)
					n += kill_group(frames, &v.e[first + w0], &v.fp[first + w0],
							ways_trim(fp_valid(&v.fp[first + w0]), ways, w0),
							ways - w0 < FP_GROUP ? ways - w0 : FP_GROUP, pred, ctx, &left);
			}
			if (left) {
				kept |= bits & -bits;
				hint |= hint_bit(v.g, set);
			}
		}
		v.busy[wd] = kept;
	}
	t->nr_valid[a] -= n;
	if (!t->nr_valid[a]) {
		memset(v.busy, 0, words * sizeof(uint64_t));   /* bits left on sets emptied before */
		hint = 0;
	}
	t->hint[a].sets = hint;
	if (!t->nr_valid[a])
		t->hint[a].tags = 0;
	return n;
}

static void stale_access(struct ptsim_machine *m, struct sim_cpu *cpu, unsigned int a, struct tlb_entry *e,
			 uint64_t va)
{
	oracle_report(m, PTSIM_VIOL_STALE_ACCESS, (int)cpu->id, va, e->pfn,
		      "cpu %u used a %s entry for va %#llx that still points at frame %u, freed since it was cached",
		      cpu->id, a < NR_TLB_PSIZES ? "TLB" : "paging-structure-cache", (unsigned long long)va, e->pfn);
	/* Record it once: the same entry is not reported again. */
	e->key &= ~((uint64_t)TLBF_STALE << TLB_FLAGS_SHIFT);
}

/* A use of entry @e of array @a: report it if stale, then mark it most recently used. */
static inline void tlb_use(struct ptsim_machine *m, struct sim_cpu *cpu, unsigned int a, struct tlb_entry *e,
			   uint64_t va)
{
	if (PTSIM_UNLIKELY(tlb_key_flags(e->key) & TLBF_STALE))
		stale_access(m, cpu, a, e, va);
	e->lru = ++cpu->tlb.lru_clock;
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

	/*
	 * Fast path: the PTE table of the last walk (what the PDE cache lookup
	 * would find).  The key compare includes the flags: a stale entry takes
	 * the lookup below, which reports it.
	 */
	struct tlb_view pde = tview(m, t, NR_TLB_PSIZES + PWC_PTE);
	uint32_t last = t->last_pwc;
	if (PTSIM_LIKELY(last != TLB_NIL) && pde.e[last].key == tlb_key(va >> pde.g->shift, cpu->asid)) {
		pde.e[last].lru = ++t->lru_clock;
		CPU_STAT_INC(cpu, TLB_PWC_HITS);
		*leaf_shift = g->page_shift;
		return &pt_entries(m, pde.e[last].pfn)[pt_index(g, PT_PTE, va)];
	}

	for (int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int array = NR_TLB_PSIZES + (unsigned int)l;
		const struct tlb_geo *ag = &m->tlb_layout.a[array];
		if (!ag->present)
			continue;
		uint32_t i = lookup(m, t, array, va >> ag->shift, cpu->asid);
		if (i != TLB_NIL) {
			if (l == 0)
				t->last_pwc = i;
			struct tlb_entry *e = &tview(m, t, array).e[i];
			tlb_use(m, cpu, array, e, va);
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
		fill(m, t, array, va >> m->tlb_layout.a[array].shift, cpu->asid, table, 0, false);
		level = next;
	}
}

/* The TLB flags of a leaf entry filled from @ent. */
static inline unsigned int leaf_flags(pgent_t ent)
{
	return ((ent & _PAGE_RW) ? TLBF_WRITE : 0) | ((ent & _PAGE_DIRTY) ? TLBF_DIRTY : 0) |
	       ((ent & _PAGE_CONT) ? TLBF_CONT : 0);
}

static unsigned int psize_of_shift(const struct tlb_layout *L, unsigned int shift)
{
	if (shift == L->a[TLB_PAGE].shift)
		return TLB_PAGE;
	if (L->a[TLB_PMD].present && shift == L->a[TLB_PMD].shift)
		return TLB_PMD;
	return TLB_PUD;
}

int hw_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
	      bool *tlb_may_hold)
{
	struct sim_tlb *t = &cpu->tlb;
	uint16_t asid = cpu->asid;
	bool held = false;   /* an entry for va stays in the TLB (clean, writable) */

	assert(tlbcache_cpu_ready(t));   /* the caller allocated the arrays (tlbcache_init_cpu()) */
	for (unsigned int s = 0; s < NR_TLB_PSIZES; s++) {
		const struct tlb_geo *ag = &m->tlb_layout.a[s];
		if (!ag->present)
			continue;
		uint32_t i = lookup(m, t, s, va >> ag->shift, asid);
		if (i == TLB_NIL)
			continue;
		struct tlb_view v = tview(m, t, s);
		struct tlb_entry *e = &v.e[i];
		unsigned int flags = tlb_key_flags(e->key);
		if (PTSIM_UNLIKELY(flags & TLBF_STALE))
			stale_access(m, cpu, s, e, va);
		if (write && (flags & (TLBF_WRITE | TLBF_DIRTY)) != (TLBF_WRITE | TLBF_DIRTY)) {
			/*
			 * Read-only (even if dirty, as a COW page after fork is): a
			 * protection fault drops the entry.  Clean: walk to set dirty.
			 */
			if (!(flags & TLBF_WRITE))
				tlb_kill(m, t, s, &v, i);
			else
				held = true;
			break;
		}
		e->lru = ++t->lru_clock;
		CPU_STAT_INC(cpu, TLB_HITS);
		return 1;
	}
	*tlb_may_hold = held;
	return hw_access_walk(m, cpu, mm, va, write, held);
}

/*
 * hw_access_walk - a TLB miss: walk (through the PWC) and fill the TLB.
 * Also the retry after a page fault, which cannot hit: a fault never fills
 * the TLB.
 */
int hw_access_walk(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
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
		return 0;
	pgent_t ent = *ep;
	if (!pgent_hw_present(ent))
		return 0;
	if (write && !(ent & _PAGE_RW))
		return 0;
	unsigned int psize = psize_of_shift(&m->tlb_layout, leaf_shift);
	unsigned int flags;
	/* The CPU's first huge-page translation brings its huge-leaf arrays. */
	if (PTSIM_UNLIKELY(!t->block[m->tlb_layout.a[psize].block]) &&
	    tlb_block_alloc(m, t, m->tlb_layout.a[psize].block))
		return SIM_ENOMEM;
	/* Hardware A/D update. */
	ent |= _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
	*ep = ent;

	flags = leaf_flags(ent);
	fill(m, t, psize, va >> m->tlb_layout.a[psize].shift, cpu->asid, pgent_pfn(ent), flags, tlb_may_hold);
	return 1;
}

/*
 * ptsim: hw_access_run - the accesses of a touch that goes through [@va,
 * @end) page by page inside one PTE table, done together.  Each page takes
 * exactly the steps hw_access() and hw_access_walk() take for it, in the same
 * order, as long as it is one of:
 *   - a TLB hit that needs no walk (not stale; for a write, writable and dirty);
 *   - a miss whose walk, through the PDE-cache entry of the last walk, ends at
 *     a PTE the access can use: the walk, the A/D update, the fill;
 *   - a miss at a none PTE that do_anonymous_page_run() installs: the walk
 *     that finds it none, the fault, the retry walk, the A/D update, the fill.
 * The counters are summed and added once.  The run stops at the first page
 * that needs anything else (another kind of fault, a PDE-cache miss, a stale
 * entry, a page the fault run refuses), having done nothing for it: the
 * caller's general path takes that page.  Returns 0, or the fault's error
 * (that page's first walk is counted; the page is not done); *done: pages
 * completed.
 */
int hw_access_run(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, uint64_t end,
		  bool write, struct anon_fault_run *fr, uint64_t *done)
{
	struct sim_tlb *t = &cpu->tlb;
	const struct tlb_layout *L = &m->tlb_layout;
	const unsigned int page_shift = L->a[TLB_PAGE].shift;
	const uint64_t page_size = 1ull << page_shift;
	const uint16_t asid = cpu->asid;
	const unsigned int need = write ? TLBF_WRITE | TLBF_DIRTY : 0;
	const pgent_t ad = _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0);
	const struct tlb_view pv = tview(m, t, TLB_PAGE);
	const bool one_group = pv.ways == FP_GROUP;
	/* The run stores base-page entries only: whether a huge-leaf array holds something stays as it is. */
	const bool huge = t->nr_valid[TLB_PMD] || t->nr_valid[TLB_PUD];
	const uint64_t tag0 = va >> page_shift;
	/*
	 * Simulator bookkeeping kept in locals and written back at the end (the
	 * run's steps never read them in memory): the LRU clock, the entries
	 * stored (the count), and the busy bits and set hint of the sets stored
	 * to (tlb_mark_run()).
	 */
	uint32_t clock = t->lru_clock;
	struct tlb_entry *pde = NULL;   /* the PDE-cache entry the walks go through (checked at the first miss) */
	pgent_t *ptes = NULL;           /* with pde: the PTE of the run's first page; page n's is ptes[n] */
	uint64_t n = 0, hits = 0;
	int rc = 0;

	for (; va < end; va += page_size, n++) {
		/* hw_access(): the leaf arrays in order (base pages first); the first hit is the one used. */
		uint64_t tag = va >> page_shift;
		uint64_t key = tlb_key(tag, asid);
		uint8_t fp = key_fp(key);
		uint32_t set = set_in(pv.set_mask, tag, asid);
		uint32_t first = set * pv.ways;
		fp_group grp = fp_load(&pv.fp[first]);   /* the set's fingerprints: the lookup's, then the fill's */
		struct tlb_entry *e = NULL;
		uint32_t i = one_group ? lookup_group(&pv, first, grp, key, fp) : lookup_set(&pv, set, key, fp);
		if (i != TLB_NIL) {
			e = &pv.e[i];
		} else if (PTSIM_UNLIKELY(huge)) {
			for (unsigned int s = TLB_PMD; s < NR_TLB_PSIZES && !e; s++)
				if (L->a[s].present && (i = lookup(m, t, s, va >> L->a[s].shift, asid)) != TLB_NIL)
					e = &tview(m, t, s).e[i];
		}
		if (e) {
			unsigned int flags = tlb_key_flags(e->key);
			if ((flags & TLBF_STALE) || (flags & need) != need)
				break;
			e->lru = ++clock;
			hits++;
			continue;
		}
		/* hw_access_walk() -> hw_walk()'s fast path: the PTE table of the last walk. */
		if (!pde) {
			struct tlb_view v = tview(m, t, NR_TLB_PSIZES + PWC_PTE);
			uint32_t last = t->last_pwc;
			if (last == TLB_NIL || v.e[last].key != tlb_key(va >> v.g->shift, asid))
				break;
			pde = &v.e[last];
			ptes = &pt_entries(m, pde->pfn)[pt_index(&m->geo, PT_PTE, va)] - n;   /* the run stays in the table */
		}
		pgent_t *ep = &ptes[n];
		pgent_t ent = *ep;
		if (pgent_none(ent)) {
			/* The walk finds the PTE none: the fault (user_access()), then the retry walk. */
			if ((rc = do_anonymous_page_run(fr, va, ep)) > 0) {
				rc = 0;
				break;
			}
			pde->lru = ++clock;
			if (rc < 0)
				break;
			ent = *ep;
			assert(pgent_hw_present(ent) && (!write || (ent & _PAGE_RW)));
		} else if (!pgent_hw_present(ent) || (write && !(ent & _PAGE_RW))) {
			break;   /* a fault of another kind */
		}
		pde->lru = ++clock;
		/* Hardware A/D update, then the fill: the page just missed, so no lookup. */
		ent |= ad;
		*ep = ent;
		uint64_t free_ways = one_group ? fp_group_match(grp, 0) : 0;
		i = free_ways ? first + (uint32_t)__builtin_ctzll(free_ways) : tlb_victim(&pv, set);
		if (pv.fp[i])
			tlb_kill(m, t, TLB_PAGE, &pv, i);   /* may take the count below the run's stored entries: added back below */
		tlb_put(m, &pv, i, key, fp, pgent_pfn(ent), leaf_flags(ent), ++clock);
	}
	/*
	 * Each page done is a hit or a fill; each fill took one walk, and each
	 * fault one more before it (also the fault that failed, whose page is not
	 * done).
	 */
	uint64_t stored = n - hits, walks = stored + (uint64_t)anon_fault_run_faults(fr);
	t->lru_clock = clock;
	if (stored) {
		t->nr_valid[TLB_PAGE] += (uint32_t)stored;
		tlb_mark_run(t, TLB_PAGE, &pv, tag0, asid, n);
	}
	cpu->stats[CST_TLB_HITS] += hits;
	if (walks) {
		cpu->stats[CST_TLB_MISSES] += walks;
		cpu->stats[CST_TLB_WALKS] += walks;
		cpu->stats[CST_TLB_PWC_HITS] += walks;
		if (!cpumask_test_cpu(cpu->id, &mm->tlb_cached))
			cpumask_set_cpu(cpu->id, &mm->tlb_cached);
	}
	*done = n;
	return rc;
}

/* ---- invalidation ---- */

unsigned int tlb_inv_va(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	/* No storage yet: every count is 0, and each array is tested by its count first. */
	if (what & TLBINV_LEAF) {
		for (unsigned int s = 0; s < NR_TLB_PSIZES; s++) {
			const struct tlb_geo *ag = &m->tlb_layout.a[s];
			if (!ag->present)
				continue;
			uint32_t i = lookup_inv(m, t, s, va >> ag->shift, asid);
			if (i != TLB_NIL) {
				struct tlb_view v = tview(m, t, s);
				tlb_kill(m, t, s, &v, i);
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

	/* No storage yet: every count is 0, and each array is tested by its count first. */
	for (unsigned int l = 0; l < NR_PWC_LEVELS; l++) {
		unsigned int array = NR_TLB_PSIZES + l;
		const struct tlb_geo *ag = &m->tlb_layout.a[array];
		if (!ag->present)
			continue;
		uint32_t i = lookup_inv(m, t, array, va >> ag->shift, asid);
		if (i != TLB_NIL) {
			struct tlb_view v = tview(m, t, array);
			tlb_kill(m, t, array, &v, i);
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
static uint64_t cont_per(const struct ptsim_machine *m, unsigned int a)
{
	uint64_t block = a == TLB_PAGE ? m->geo.cont_pte_size : a == TLB_PMD ? m->geo.cont_pmd_size : 0;
	uint64_t per = block >> m->tlb_layout.a[a].shift;
	return per > 1 ? per : 1;
}

/*
 * Does a leaf entry (@key, tag @tag) fall to an invalidation of tags
 * [@lo, @hi]?  A contiguous-hint entry (TLBF_CONT) stands for its whole
 * aligned block, as the hardware may cache the block as one entry: it goes
 * if its block meets the range.
 */
static bool leaf_hit(uint64_t key, uint64_t tag, uint64_t lo, uint64_t hi, uint64_t per)
{
	if (tag >= lo && tag <= hi)
		return true;
	return (tlb_key_flags(key) & TLBF_CONT) && (tag | (per - 1)) >= lo && (tag & ~(per - 1)) <= hi;
}

struct range_ctx {
	uint16_t asid;
	bool leaf;
	uint64_t lo, hi, per;   /* tags of the range; entries per contiguous block */
};

static bool in_range(const struct tlb_entry *e, const void *arg)
{
	const struct range_ctx *c = arg;
	uint64_t tag = tlb_key_tag(e->key);

	if (tlb_key_asid(e->key) != c->asid)
		return false;
	return c->leaf ? leaf_hit(e->key, tag, c->lo, c->hi, c->per) : tag >= c->lo && tag <= c->hi;
}

/*
 * Range form: per address for short ranges, else one pass over what the
 * arrays hold (their busy sets), so an 8 GiB range TLBI costs what the TLB
 * holds, not 2^21 lookups.
 */
unsigned int tlb_inv_range_arrays(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t start,
				  uint64_t end, uint32_t arrays)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!tlbcache_cpu_ready(t) || end <= start)
		return 0;
	for (unsigned int a = 0; a < NR_TLB_ARRAYS; a++) {
		const struct tlb_geo *ag = &m->tlb_layout.a[a];
		if (!(arrays & (1u << a)) || !ag->present || !t->nr_valid[a])
			continue;
		bool leaf = a < NR_TLB_PSIZES;
		struct range_ctx c = { asid, leaf, start >> ag->shift, (end - 1) >> ag->shift, leaf ? cont_per(m, a) : 1 };
		uint64_t elo = c.lo & ~(c.per - 1), ehi = c.hi | (c.per - 1);
		if (ehi - elo < 64) {
			for (uint64_t tag = elo; tag <= ehi; tag++) {
				uint32_t i = lookup_inv(m, t, a, tag, asid);
				if (i == TLB_NIL)
					continue;
				struct tlb_view v = tview(m, t, a);
				if (!leaf || leaf_hit(v.e[i].key, tag, c.lo, c.hi, c.per)) {
					tlb_kill(m, t, a, &v, i);
					n++;
				}
			}
		} else {
			n += kill_where(m, t, a, in_range, &c);
		}
	}
	return n;
}

static bool asid_other(const struct tlb_entry *e, const void *arg)
{
	return tlb_key_asid(e->key) != *(const uint16_t *)arg;
}

unsigned int tlb_inv_asid_except(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t keep)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!tlbcache_cpu_ready(t))
		return 0;
	for (unsigned int a = 0; a < NR_TLB_ARRAYS; a++)
		n += kill_where(m, t, a, asid_other, &keep);
	return n;
}

static bool asid_is(const struct tlb_entry *e, const void *arg)
{
	return tlb_key_asid(e->key) == *(const uint16_t *)arg;
}

static bool any_entry(const struct tlb_entry *e, const void *arg)
{
	(void)e;
	(void)arg;
	return true;
}

/*
 * The sweep of an ASID flush, out of line: every zap ends in one on the CPU
 * that zaps, and its own small function keeps the loop's values in registers.
 */
static __attribute__((noinline)) unsigned int kill_asid(struct ptsim_machine *m, struct sim_tlb *t, unsigned int a,
							uint16_t asid)
{
	return kill_where(m, t, a, asid_is, &asid);
}

/* Kill every entry (@all) or every entry of @asid in the arrays [@from, @to). */
static unsigned int inv_arrays(struct ptsim_machine *m, struct sim_tlb *t, unsigned int from, unsigned int to,
			       bool all, uint16_t asid)
{
	unsigned int n = 0;

	/* An empty array costs no call: every flush IPI to a CPU asks for its walk caches. */
	for (unsigned int a = from; a < to; a++)
		if (t->nr_valid[a])
			n += all ? kill_where(m, t, a, any_entry, NULL) : kill_asid(m, t, a, asid);
	return n;
}

unsigned int tlb_inv_asid(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	/* No storage yet: every count is 0, and each array is tested by its count first. */
	if (what & TLBINV_LEAF)
		n += inv_arrays(m, t, 0, NR_TLB_PSIZES, false, asid);
	if (what & TLBINV_PWC)
		n += inv_arrays(m, t, NR_TLB_PSIZES, NR_TLB_ARRAYS, false, asid);
	return n;
}

unsigned int tlb_inv_all(struct ptsim_machine *m, struct sim_cpu *cpu, unsigned int what)
{
	struct sim_tlb *t = &cpu->tlb;
	unsigned int n = 0;

	if (!tlbcache_cpu_ready(t))
		return 0;
	if (what & TLBINV_LEAF)
		n += inv_arrays(m, t, 0, NR_TLB_PSIZES, true, 0);
	if (what & TLBINV_PWC)
		n += inv_arrays(m, t, NR_TLB_PSIZES, NR_TLB_ARRAYS, true, 0);
	return n;
}

/* ---- oracle support ---- */

/* Inlined into its callers, so that oracle backtraces never show it (tlb_mark_stale_refs() is skipped by name). */
static inline __attribute__((always_inline)) void for_each_valid(const struct ptsim_machine *m,
								 const struct sim_cpu *cpu,
								 void (*fn)(void *ctx, unsigned int a,
									    struct tlb_entry *e),
								 void *ctx)
{
	const struct sim_tlb *t = &cpu->tlb;

	if (!tlbcache_cpu_ready(t))
		return;
	for (unsigned int a = 0; a < NR_TLB_ARRAYS; a++) {
		if (!t->nr_valid[a])
			continue;
		struct tlb_view v = tview(m, t, a);
		uint32_t ways = v.g->ways, words = (v.g->sets + 63) / 64;
		for (uint32_t wd = 0; wd < words; wd++) {
			for (uint64_t bits = v.busy[wd]; bits; bits &= bits - 1) {
				uint32_t first = (wd * 64 + (uint32_t)__builtin_ctzll(bits)) * ways;
				for (uint32_t w0 = 0; w0 < ways; w0 += FP_GROUP)
					for (uint64_t mask = ways_trim(fp_valid(&v.fp[first + w0]), ways, w0); mask;
					     mask &= mask - 1)
						fn(ctx, a, &v.e[first + w0 + (uint32_t)__builtin_ctzll(mask)]);
			}
		}
	}
}

struct stale_ctx {
	const struct ptsim_machine *m;
	const struct sim_cpu *cpu;
	uint32_t pfn;
	void (*fn)(void *ctx, const struct sim_cpu *cpu, bool leaf, uint64_t key, uint64_t va);
	void *ctx;
};

static void mark_stale(void *arg, unsigned int a, struct tlb_entry *e)
{
	struct stale_ctx *c = arg;

	if (e->pfn != c->pfn)
		return;
	e->key |= (uint64_t)TLBF_STALE << TLB_FLAGS_SHIFT;
	c->fn(c->ctx, c->cpu, a < NR_TLB_PSIZES, e->key, tlb_key_tag(e->key) << c->m->tlb_layout.a[a].shift);
}

void tlb_mark_stale_refs(struct ptsim_machine *m, uint32_t pfn,
			 void (*fn)(void *ctx, const struct sim_cpu *cpu, bool leaf, uint64_t key, uint64_t va),
			 void *ctx)
{
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		struct stale_ctx sc = { m, &m->cpus[c], pfn, fn, ctx };
		for_each_valid(m, &m->cpus[c], mark_stale, &sc);
	}
}

void tlb_for_each_entry(const struct ptsim_machine *m, const struct sim_cpu *cpu,
			void (*fn)(void *ctx, unsigned int a, struct tlb_entry *e), void *ctx)
{
	for_each_valid(m, cpu, fn, ctx);
}

static void count_ref(void *arg, unsigned int a, struct tlb_entry *e)
{
	(void)a;
	((uint32_t *)arg)[e->pfn]++;
}

void tlb_count_refs(const struct ptsim_machine *m, const struct sim_cpu *cpu, uint32_t *count)
{
	for_each_valid(m, cpu, count_ref, count);
}

/*
 * tlb_consistent - recount what the caches hold against the cached counts:
 * valid entries per array, a busy bit on every set that holds one, flags
 * only in the flag bits, no entries in storage that does not exist.
 */
bool tlb_consistent(struct ptsim_machine *m, struct sim_cpu *cpu, char *why, size_t len)
{
	const struct sim_tlb *t = &cpu->tlb;

	for (unsigned int a = 0; a < NR_TLB_ARRAYS; a++) {
		const struct tlb_geo *ag = &m->tlb_layout.a[a];
		if (!ag->present || !t->block[ag->block]) {
			if (t->nr_valid[a]) {
				snprintf(why, len, "cpu %u TLB array %u: %u valid entries without storage", cpu->id, a,
					 t->nr_valid[a]);
				return false;
			}
			continue;
		}
		struct tlb_view v = tview(m, t, a);
		uint32_t valid = 0;
		for (uint32_t set = 0; set < ag->sets; set++) {
			uint32_t in_set = 0;
			for (uint32_t w = 0; w < ag->ways; w++) {
				uint32_t i = set * ag->ways + w;
				if (!v.fp[i])
					continue;
				in_set++;
				if (v.fp[i] != key_fp(v.e[i].key & TLB_KEY_MASK) || tlb_key_tag(v.e[i].key) >> 44) {
					snprintf(why, len, "cpu %u TLB array %u entry %u: fingerprint or key corrupt", cpu->id,
						 a, i);
					return false;
				}
				if (!(t->hint[a].tags & tag_bit(ag, tlb_key_tag(v.e[i].key)))) {
					snprintf(why, len, "cpu %u TLB array %u entry %u: tags hint bit clear", cpu->id, a, i);
					return false;
				}
			}
			if (in_set && !(v.busy[set >> 6] & (1ull << (set & 63)))) {
				snprintf(why, len, "cpu %u TLB array %u set %u: %u valid entries, busy bit clear", cpu->id,
					 a, set, in_set);
				return false;
			}
			if (in_set && !(t->hint[a].sets & hint_bit(ag, set))) {
				snprintf(why, len, "cpu %u TLB array %u set %u: %u valid entries, hint bit clear", cpu->id,
					 a, set, in_set);
				return false;
			}
			valid += in_set;
		}
		if (valid != t->nr_valid[a]) {
			snprintf(why, len, "cpu %u TLB array %u: %u valid entries, count says %u", cpu->id, a, valid,
				 t->nr_valid[a]);
			return false;
		}
	}
	return true;
}
