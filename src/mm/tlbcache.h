/*
 * The hardware caches of one simulated CPU: a TLB (one set-associative array
 * per leaf size) and paging-structure caches (PWC: cached upper-level entries
 * that point at page-table pages), all tagged with an address-space id.
 *
 * Every valid entry holds a reference on the frame it points at
 * (sim_frame.cache_refs), so the safety oracle can tell in O(1) whether a
 * freed frame is still reachable.  Valid entries are also chained in one
 * per-CPU list so a full flush costs what the TLB holds, not its capacity.
 *
 * The arrays are allocated on the CPU's first fill: a 4096-CPU machine pays
 * only for the CPUs that run something.
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

#define TLBF_WRITE 0x1u
#define TLBF_DIRTY 0x2u
#define TLBF_CONT 0x8u    /* from a contiguous-hint entry: stands for its whole block (arm64) */

/*
 * Storage is struct-of-arrays: a set scan reads only the compact key array
 * (16 ways = two cache lines), the victim choice only the LRU array.
 * key = ((va >> shift) << 16 | asid) + 1; 0 means invalid.
 */
struct tlb_entry {
	uint32_t pfn;         /* data frame (TLB) or table frame (PWC) */
	uint32_t gen;         /* the frame's generation when filled */
	uint32_t next, prev;  /* per-CPU valid list (leaf entries only) */
	uint16_t asid;
	uint8_t array;        /* index of the array */
	uint8_t flags;        /* TLBF_* */
};

struct tlb_array {
	uint32_t base;        /* first entry */
	uint32_t sets;        /* power of two */
	uint32_t ways;
	uint32_t shift;       /* va shift of the tag */
	uint32_t nr_valid;    /* valid entries in this array */
	bool present;
};

struct sim_tlb {
	uint64_t *key;        /* NULL until first fill */
	uint8_t *fp;          /* 1-byte fingerprint of each key (0: invalid), scanned 8 ways at a time */
	uint32_t *lru;
	struct tlb_entry *e;
	uint32_t nr_entries;
	uint32_t nr_leaf;     /* entries [0, nr_leaf) are leaf (TLB) entries */
	uint32_t valid_head;
	uint32_t nr_valid;    /* valid leaf entries */
	uint32_t lru_clock;
	uint32_t last_pwc;    /* PWC entry of the last walk (a lookup shortcut, checked against key[]) */
	struct tlb_array a[NR_TLB_ARRAYS];
};

static inline uint64_t tlb_key(uint64_t tag, uint16_t asid)
{
	return ((tag << 16) | asid) + 1;
}

static inline uint64_t tlb_key_tag(uint64_t key)
{
	return (key - 1) >> 16;
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
bool hw_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
	       bool *tlb_may_hold);
/*
 * hw_access_walk - the miss path: walk and fill.  @tlb_may_hold: the TLB may
 * still hold an entry for @va (a clean entry being written, or a retry after a
 * fault that followed a hit); false after a plain miss, which lets the fill skip
 * looking for it.
 */
bool hw_access_walk(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t va, bool write,
		    bool tlb_may_hold);

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

/* Oracle support: call fn for every valid entry of any CPU that references pfn. */
void tlb_find_refs(struct ptsim_machine *m, uint32_t pfn,
		   void (*fn)(void *ctx, const struct sim_cpu *cpu, const struct tlb_entry *e, uint64_t va),
		   void *ctx);
bool tlb_consistent(struct ptsim_machine *m, struct sim_cpu *cpu, char *why, size_t len);

#endif
