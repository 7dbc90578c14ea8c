/*
 * The hardware caches of one simulated CPU: a TLB (one set-associative array
 * per leaf size) and paging-structure caches (PWC: cached upper-level entries
 * that point at page-table pages), all tagged with an address-space id.
 *
 * Every valid entry holds a reference on the frame it points at
 * (sim_frame.cache_refs), so the safety oracle can tell in O(1) whether a
 * freed frame is still reachable.  Each array keeps one "busy" bit per set
 * that holds something, so a full flush costs what the TLB holds, not its
 * capacity.
 *
 * Entries are 16 bytes plus a fingerprint byte, and a CPU's arrays are
 * allocated on its first access (huge-leaf arrays on its first huge-page
 * fill): an 8,192-CPU machine pays only for the CPUs that run something, and
 * each pays about 36 KiB with the default sizes.
 */
#ifndef PTSIM_MM_TLBCACHE_H
#define PTSIM_MM_TLBCACHE_H

#include <stdbool.h>
#include <stdint.h>

struct ptsim_machine;
struct sim_cpu;
struct mm_struct;

/* TLB leaf sizes: base page, PMD leaf (2M on x86), PUD leaf (1G on x86). */
enum tlb_psize { TLB_PAGE = 0, TLB_PMD = 1, TLB_PUD = 2, NR_TLB_PSIZES = 3 };

/*
 * PWC levels, named by the table the cached entry points at: PWC_PTE caches
 * entries pointing at PTE tables (PMD entries, Intel's "PDE cache"), PWC_PMD
 * entries pointing at PMD tables, and so on.  Folded levels have no array.
 */
enum pwc_level { PWC_PTE = 0, PWC_PMD = 1, PWC_PUD = 2, PWC_P4D = 3, NR_PWC_LEVELS = 4 };

#define NR_TLB_ARRAYS (NR_TLB_PSIZES + NR_PWC_LEVELS)
#define TLB_NIL UINT32_MAX

/* Entry flags, kept in the top four bits of the key. */
#define TLBF_WRITE 0x1u
#define TLBF_DIRTY 0x2u
#define TLBF_STALE 0x4u   /* the frame was freed since the fill: the next use is a stale access */
#define TLBF_CONT 0x8u    /* from a contiguous-hint entry: stands for its whole block (arm64) */
#define TLB_FLAGS_SHIFT 60
#define TLB_KEY_MASK ((1ull << TLB_FLAGS_SHIFT) - 1)
#define TLB_KEY_INVALID UINT64_MAX   /* the key of a dropped entry: no lookup key equals it */

/*
 * One cached translation (TLB) or table pointer (PWC), 16 bytes.
 * key = tag << 16 | asid, with TLBF_* in bits 60..63: a tag has at most 44
 * bits (a 56-bit user address space of 4 KiB pages).  An entry is valid when
 * its fingerprint byte (tlb_array's fp[]) is not 0.
 */
struct tlb_entry {
	uint64_t key;
	uint32_t pfn;         /* data frame (TLB) or table frame (PWC) */
	uint32_t lru;         /* the CPU's lru_clock at the last use */
};

/*
 * The shape of one array, the same on every CPU (m->tlb_layout): where its
 * entries, fingerprints and busy-set bits lie in the CPU's storage block.
 */
struct tlb_geo {
	uint32_t sets;        /* power of two */
	uint32_t ways;
	uint32_t shift;       /* va shift of the tag */
	uint32_t e_off, fp_off, busy_off;   /* byte offsets in the block */
	uint8_t block;        /* TLB_BLOCK_* */
	uint8_t hint_shift;   /* sets per bit of struct tlb_hint's sets, log2 (0 up to 64 sets) */
	bool present;
};

/*
 * A CPU's arrays live in two blocks allocated on first use: the base-page and
 * PWC arrays on the CPU's first access, the huge-leaf arrays on its first
 * huge-page fill (a CPU that never maps a huge page never pays for them).
 */
enum { TLB_BLOCK_BASE = 0, TLB_BLOCK_HUGE = 1, NR_TLB_BLOCKS = 2 };

struct tlb_layout {
	struct tlb_geo a[NR_TLB_ARRAYS];
	uint32_t block_bytes[NR_TLB_BLOCKS];
};

/*
 * ptsim: per array, two filters of what it may hold, each a superset, which
 * an invalidation tests before it touches the CPU's storage block: a flush
 * IPI to a CPU that cannot hold the address costs no access to the CPU's
 * arrays.  @sets: bit s >> hint_shift for set s, 64 runs of adjacent sets
 * (set by tlb_store(), recomputed by each sweep).  @tags: bit
 * (tag >> log2(sets)) % 64, the tag bits above the set index (set by
 * tlb_store(), cleared only when the array empties): CPUs whose entries
 * share the flushed address's set but lie in other parts of the address
 * space (threads each in their own range) are answered without a search.
 */
struct tlb_hint {
	uint64_t sets;
	uint64_t tags;
};

/*
 * ptsim layout: a flush IPI to a CPU reads the counts and the base-page
 * array's hints; they come first, so that with the CPU's own fields they
 * share struct sim_cpu's first cache line.  The block pointers, read only
 * where an array is searched, follow.
 */
struct sim_tlb {
	uint32_t nr_valid[NR_TLB_ARRAYS];  /* valid entries per array (all 0 while the blocks are NULL) */
	uint32_t lru_clock;
	struct tlb_hint hint[NR_TLB_ARRAYS];
	char *block[NR_TLB_BLOCKS];        /* NULL until first use */
	uint32_t last_pwc;    /* PWC_PTE entry of the last walk (a lookup shortcut, checked against its key) */
};

static inline uint64_t tlb_key(uint64_t tag, uint16_t asid)
{
	return (tag << 16) | asid;
}

static inline uint64_t tlb_key_tag(uint64_t key)
{
	return (key & TLB_KEY_MASK) >> 16;
}

static inline uint16_t tlb_key_asid(uint64_t key)
{
	return (uint16_t)key;
}

static inline unsigned int tlb_key_flags(uint64_t key)
{
	return (unsigned int)(key >> TLB_FLAGS_SHIFT);
}

/* Lay the arrays out from the variants and the geometry (once, at machine creation). */
void tlbcache_layout(struct ptsim_machine *m);
/* Does @cpu have its base arrays?  (tlbcache_init_cpu() allocates them.) */
static inline bool tlbcache_cpu_ready(const struct sim_tlb *t)
{
	return t->block[TLB_BLOCK_BASE] != NULL;
}
int tlbcache_init_cpu(struct ptsim_machine *m, struct sim_cpu *cpu);
void tlbcache_release_cpu(struct ptsim_machine *m, struct sim_cpu *cpu);

/*
 * hw_access - one memory access by @cpu (whose loaded mm is @mm, tag
 * cpu->asid): TLB lookup, then the page walk through the PWC (filling the TLB
 * and PWC and setting accessed/dirty bits).  Returns true if the access
 * translated; false means the CPU takes a page fault.  The CPU's arrays must
 * exist: the caller runs tlbcache_init_cpu() on the CPU's first access and
 * fails the access with SIM_ENOMEM if that fails.
 */
int hw_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
	      bool *tlb_may_hold);
/*
 * hw_access_walk - the miss path: walk and fill.  @tlb_may_hold: the TLB may
 * still hold an entry for @va (a clean entry being written, or a retry after a
 * fault that followed a hit); false after a plain miss, which lets the fill skip
 * looking for it.
 */
int hw_access_walk(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
		   bool tlb_may_hold);

/*
 * ptsim: hw_access_run - the accesses of a touch that goes through [@va,
 * @end) page by page inside one PTE table, with the general path's steps for
 * each page and the counters summed (tlbcache.c says which pages qualify);
 * none PTEs go to do_anonymous_page_run(@fr).  Returns 0 or its error;
 * *done: pages completed.
 */
struct anon_fault_run;
int hw_access_run(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, uint64_t end,
		  bool write, struct anon_fault_run *fr, uint64_t *done);

/* Invalidation primitives used by the arch back-ends (return entries dropped). */
#define TLBINV_LEAF 0x1u      /* TLB entries */
#define TLBINV_PWC 0x2u       /* paging-structure-cache entries */
unsigned int tlb_inv_va(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va, unsigned int what);
unsigned int tlb_inv_asid(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, unsigned int what);
unsigned int tlb_inv_all(struct ptsim_machine *m, struct sim_cpu *cpu, unsigned int what);
/* Drop every PWC entry of @asid that covers @va (arm64 VAE1IS walk-cache part). */
unsigned int tlb_inv_pwc_va(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va);
/*
 * Array-selective forms (arm64 TLBI with a level hint): @arrays has bit i set
 * for array i (TLBARR_LEAF(enum tlb_psize), TLBARR_PWC(enum pwc_level)).
 * tlb_inv_va_arrays() drops the entries of @asid that translate @va;
 * tlb_inv_range_arrays() those whose span meets [@start, @end);
 * tlb_inv_asid_except() every entry not tagged @keep.
 */
#define TLBARR_LEAF(psize) (1u << (psize))
#define TLBARR_PWC(l) (1u << (NR_TLB_PSIZES + (l)))
#define TLBARR_ALL_LEAF ((1u << NR_TLB_PSIZES) - 1)
#define TLBARR_ALL_PWC (((1u << NR_PWC_LEVELS) - 1) << NR_TLB_PSIZES)
unsigned int tlb_inv_va_arrays(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t va,
			       uint32_t arrays);
unsigned int tlb_inv_range_arrays(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t start,
				  uint64_t end, uint32_t arrays);
unsigned int tlb_inv_asid_except(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t keep);

/*
 * Oracle support: frame @pfn is being freed while cached entries still
 * reference it.  Mark every such entry stale (its next use is reported as a
 * stale access) and call @fn for each (@leaf: a TLB entry, else a PWC entry).
 */
void tlb_mark_stale_refs(struct ptsim_machine *m, uint32_t pfn,
			 void (*fn)(void *ctx, const struct sim_cpu *cpu, bool leaf, uint64_t key, uint64_t va),
			 void *ctx);
/* Call @fn for every valid entry of @cpu in index order, array by array (enum tlb_psize, then PWC levels). */
void tlb_for_each_entry(const struct ptsim_machine *m, const struct sim_cpu *cpu,
			void (*fn)(void *ctx, unsigned int array, struct tlb_entry *e), void *ctx);
/* Add 1 to count[pfn] for every valid entry of @cpu (the cache_refs check). */
void tlb_count_refs(const struct ptsim_machine *m, const struct sim_cpu *cpu, uint32_t *count);
bool tlb_consistent(struct ptsim_machine *m, struct sim_cpu *cpu, char *why, size_t len);

#endif
