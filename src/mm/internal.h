/*
 * Internal types of the simulator: the machine, simulated physical frames,
 * page-table pages, mm_struct, VMAs, files, tasks and CPUs.
 *
 * Naming: structures and functions that port a kernel structure or function
 * keep the kernel's name (struct mm_struct, struct vm_area_struct,
 * tlb_gather_mmu(), zap_pte_range(), ...).  Helpers with no kernel twin are
 * named sim_* (types) or ptsim__* / module_* (functions).  Implicit kernel
 * state (current, smp_processor_id(), per-CPU variables, jiffies) is explicit:
 * every function reaches the machine through an argument the kernel already
 * passes (tlb->mm->machine, vma->vm_mm->machine) or an explicit one.
 *
 * Nothing in here is global or static and mutable: several machines run in
 * parallel threads of one process.
 */
#ifndef PTSIM_MM_INTERNAL_H
#define PTSIM_MM_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ptsim/ptsim.h"
#include "util/alloc.h"
#include "util/hmap.h"

struct ptsim_machine;
struct ptsim_arch_ops;
struct mm_struct;
struct vm_area_struct;
struct mmu_gather;
struct sim_cpu;
struct sim_task;

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define PTSIM_LIKELY(x) __builtin_expect(!!(x), 1)
#define PTSIM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Debug checks compile in every build and are optimised away when off. */
#ifndef PTSIM_DEBUG
#define PTSIM_DEBUG 0
#endif
static const bool ptsim_debug = PTSIM_DEBUG;

/*
 * NEVER(x): believed impossible.  Debug builds assert; release builds record an
 * internal error on the machine and take the handling path.
 */
void ptsim__internal_error(struct ptsim_machine *m, const char *file, int line, const char *what);
static inline bool ptsim__never(struct ptsim_machine *m, bool x, const char *file, int line, const char *what)
{
	if (PTSIM_UNLIKELY(x))
		ptsim__internal_error(m, file, line, what);
	return x;
}
#define NEVER(m, x) ptsim__never((m), !!(x), __FILE__, __LINE__, #x)

/* ------------------------------------------------------------------------ */
/* Page-table geometry (the arch back-end fills it in)                        */
/* ------------------------------------------------------------------------ */

enum pt_level { PT_PGD = 0, PT_P4D = 1, PT_PUD = 2, PT_PMD = 3, PT_PTE = 4, NR_PT_LEVELS = 5 };

struct pt_geometry {
	unsigned int page_shift;            /* base page: 12 (4K), 14 (16K), 16 (64K) */
	unsigned int shift[NR_PT_LEVELS];   /* VA shift of one entry of a table at this level */
	unsigned int ptrs[NR_PT_LEVELS];    /* entries per table (1 when folded) */
	bool folded[NR_PT_LEVELS];          /* level folded into the one above */
	unsigned int levels;                /* real levels: 2..5 */
	unsigned int va_bits;               /* user VA bits */
	uint64_t task_size;                 /* top of user VA (exclusive) */
	uint64_t map_window;                /* DEFAULT_MAP_WINDOW: top of the default mmap/stack layout */
	uint64_t stack_top_max;             /* STACK_TOP_MAX: where exec builds the temporary stack */
	uint64_t unmapped_base;             /* TASK_UNMAPPED_BASE: start of the legacy (bottom-up) layout */
	/* Randomization (randomize_va_space): the arch's ranges. */
	unsigned int mmap_rnd_bits;         /* vm.mmap_rnd_bits: CONFIG_ARCH_MMAP_RND_BITS's default, or the setting */
	unsigned int mmap_rnd_bits_min, mmap_rnd_bits_max;   /* ARCH_MMAP_RND_BITS_MIN / _MAX: the sysctl's range */
	uint64_t stack_rnd_mask;            /* STACK_RND_MASK: pages randomize_stack_top() may move the stack down */
	uint64_t align_stack_rnd;           /* arch_align_stack(): bytes it may take off the stack top */
	uint64_t table_bytes;               /* bytes of one (non-top) table page = PAGE_SIZE */
	/* Huge page sizes a leaf entry can have at PMD / PUD level (0: none). */
	uint64_t pmd_leaf_size, pud_leaf_size;
	/* arm64 contiguous-bit sizes (CONT_PTES base pages, CONT_PMDS PMD blocks; 0: none). */
	uint64_t cont_pte_size, cont_pmd_size;
	bool pmd_share;                     /* CONFIG_HUGETLB_PMD_PAGE_TABLE_SHARING applies */
};

#define PAGE_SHIFT(m) ((m)->geo.page_shift)
#define PAGE_SIZE(m) (1ull << (m)->geo.page_shift)
#define PMD_SHIFT(m) ((m)->geo.shift[PT_PMD])
#define PMD_SIZE(m) (1ull << (m)->geo.shift[PT_PMD])
#define PUD_SHIFT(m) ((m)->geo.shift[PT_PUD])
#define PUD_SIZE(m) (1ull << (m)->geo.shift[PT_PUD])
#define P4D_SHIFT(m) ((m)->geo.shift[PT_P4D])
#define P4D_SIZE(m) (1ull << (m)->geo.shift[PT_P4D])
#define PGDIR_SHIFT(m) ((m)->geo.shift[PT_PGD])
#define PGDIR_SIZE(m) (1ull << (m)->geo.shift[PT_PGD])
#define PTRS_PER_PTE(m) ((m)->geo.ptrs[PT_PTE])

/* log2 of a power of two (the sizes here always are); 0 for 0 and 1. */
static inline unsigned int ilog2_u64(uint64_t v)
{
	return v > 1 ? 63u - (unsigned int)__builtin_clzll(v) : 0;
}

static inline uint64_t pt_level_size(const struct pt_geometry *g, enum pt_level l)
{
	return 1ull << g->shift[l];
}

static inline unsigned int pt_index(const struct pt_geometry *g, enum pt_level l, uint64_t addr)
{
	return (unsigned int)((addr >> g->shift[l]) & (g->ptrs[l] - 1));
}

/* ------------------------------------------------------------------------ */
/* Page-table entries: a simulated encoding (geometry is the arch's business,  */
/* bit layouts are not)                                                       */
/* ------------------------------------------------------------------------ */

typedef uint64_t pgent_t;
typedef pgent_t pte_t;
typedef pgent_t pmd_t;
typedef pgent_t pud_t;
typedef pgent_t p4d_t;
typedef pgent_t pgd_t;

#define _PAGE_PRESENT (1ull << 0)   /* present for software (pte_present()) */
#define _PAGE_RW (1ull << 1)
#define _PAGE_DIRTY (1ull << 2)
#define _PAGE_ACCESSED (1ull << 3)
#define _PAGE_HUGE (1ull << 4)      /* leaf entry at PMD or PUD level */
#define _PAGE_SPECIAL (1ull << 5)   /* no struct page behind it (zero page, PFN map) */
#define _PAGE_UFFD_WP (1ull << 6)
#define _PAGE_PROTNONE (1ull << 7)  /* present for software, not for the hardware */
#define _PAGE_NX (1ull << 8)
#define _PAGE_CONT (1ull << 9)    /* arm64 contiguous hint; present entries only (bits 9..11 are the swap kind otherwise) */
#define _PAGE_SWP_TYPE_SHIFT 9      /* non-present entries: kind in bits 9..11 */
#define _PAGE_SWP_TYPE_MASK (7ull << _PAGE_SWP_TYPE_SHIFT)
#define _PAGE_PFN_SHIFT 12

enum swp_kind {
	SWP_NONE = 0,
	SWP_SWAP = 1,            /* swap entry: offset in the pfn field */
	SWP_MIGRATION = 2,       /* migration entry: the folio's pfn */
	SWP_UFFD_WP_MARKER = 3,  /* PTE marker left by uffd-wp */
	SWP_GUARD_MARKER = 4,    /* MADV_GUARD_INSTALL marker */
};

static inline bool pgent_none(pgent_t e) { return e == 0; }
static inline bool pgent_present(pgent_t e) { return e & _PAGE_PRESENT; }
static inline bool pgent_hw_present(pgent_t e) { return (e & (_PAGE_PRESENT | _PAGE_PROTNONE)) == _PAGE_PRESENT; }
static inline bool pgent_huge(pgent_t e) { return (e & (_PAGE_PRESENT | _PAGE_HUGE)) == (_PAGE_PRESENT | _PAGE_HUGE); }
static inline uint32_t pgent_pfn(pgent_t e) { return (uint32_t)(e >> _PAGE_PFN_SHIFT); }
static inline enum swp_kind pgent_swp_kind(pgent_t e)
{
	return pgent_present(e) ? SWP_NONE : (enum swp_kind)((e & _PAGE_SWP_TYPE_MASK) >> _PAGE_SWP_TYPE_SHIFT);
}
static inline pgent_t mk_pgent(uint32_t pfn, uint64_t flags) { return ((uint64_t)pfn << _PAGE_PFN_SHIFT) | flags; }
static inline pgent_t mk_swp_pgent(enum swp_kind k, uint64_t payload)
{
	return (payload << _PAGE_PFN_SHIFT) | ((uint64_t)k << _PAGE_SWP_TYPE_SHIFT);
}
/* An entry that points at a lower-level table. */
static inline pgent_t mk_table_pgent(uint32_t pfn) { return mk_pgent(pfn, _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED); }

/* ------------------------------------------------------------------------ */
/* Simulated physical memory                                                   */
/* ------------------------------------------------------------------------ */

enum frame_kind {
	FRAME_FREE = 0,
	FRAME_ZERO,       /* the shared zero page */
	FRAME_ANON,
	FRAME_FILE,       /* page cache of a regular file */
	FRAME_SHMEM,      /* page cache of a tmpfs/shmem file */
	FRAME_HUGETLB,    /* a hugetlb page (order > 0) */
	FRAME_PGTABLE,    /* a page-table page */
	NR_FRAME_KINDS
};

#define FRAME_F_DIRTY (1u << 0)     /* folio dirty (file/shmem) */
#define FRAME_F_LAZYFREE (1u << 1)  /* MADV_FREE'd anonymous folio */
#define FRAME_F_ANON_EXCL (1u << 2) /* PageAnonExclusive */
/*
 * In a CPU's per-CPU LRU add batch (swap.c): PG_lru still clear, and the
 * batch holds a reference.  Every other frame is taken as on the LRU.
 */
#define FRAME_F_LRU_ADD (1u << 3)

struct ptdesc;
struct sim_file;

struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct ptsim_machine *m, struct rcu_head *head);
	uint64_t epoch;
};

/*
 * One simulated frame.  A frame number (pfn) indexes machine->phys.frames; the
 * array may move when it grows, so never keep a pointer to a frame across an
 * allocation.  `gen` changes on every free, so an entry that remembers the
 * generation it saw can tell a stale reference from a live one.
 */
struct sim_frame {
	uint8_t kind;          /* enum frame_kind */
	uint8_t order;         /* log2 of base pages (hugetlb: 9 or 18 on x86) */
	uint16_t flags;        /* FRAME_F_* */
	uint32_t gen;
	uint32_t refcount;
	int32_t mapcount;
	uint32_t cache_refs;   /* TLB + paging-structure-cache entries that reference this frame */
	uint32_t holders;      /* lockless walkers / RCU readers inside this page table */
	union {
		struct {       /* FRAME_PGTABLE */
			pgent_t *entries;
			struct ptdesc *pt;
		} table;
		struct {       /* FILE/SHMEM/HUGETLB page cache, ANON */
			struct sim_file *file;
			uint64_t index;
		} page;
		uint32_t next_free;  /* FRAME_FREE: free list link */
	} u;
};

/* How many empty PTE-table entry arrays a machine keeps for reuse (pgtable.c). */
#define PT_ZERO_CACHE 8

struct sim_phys {
	struct sim_frame *frames;
	uint32_t nr;             /* frames[0 .. nr) exist */
	uint32_t cap;
	uint32_t free_head;      /* LIFO free list (0 = empty; pfn 0 is never used) */
	uint64_t in_use[NR_FRAME_KINDS];
	uint64_t in_use_total;   /* frames of every kind but FREE (the max_frames limit) */
	uint32_t zero_pfn;
};

/*
 * A page-table page's descriptor (the kernel's struct ptdesc).
 * pt_share_count: hugetlb PMD sharing, number of mms sharing the table in
 * addition to the first (0 = exclusive), as since v6.13 (59d9094df3d7).
 */
struct ptdesc {
	uint32_t pfn;
	uint8_t level;             /* enum pt_level of the table */
	int pt_share_count;
	int lock_cpu;              /* CPU holding this table's split lock from a trace (-1: none) */
	uint64_t addr;             /* first VA the table maps (in the mm that allocated it) */
	/*
	 * The mm whose page tables hold this table: the one that allocated it.
	 * NULL once that mm has unshared it (a hugetlb PMD table reached only
	 * through other sharers now).  Read by the arm64 break-before-make
	 * tracker, to file a record under the table's mm (not the running one).
	 */
	struct mm_struct *pt_mm;
	struct rcu_head pt_rcu_head;  /* single-table RCU free (PT_RECLAIM) */
	/*
	 * mshare (mshare.c): mshare_pts is the kernel's count of sharers whose
	 * top-level entry links this table (ptdesc_pud_pts_*() of the 2025 v3
	 * posting; ptsim keeps it apart from pt_share_count, which hugetlb uses
	 * for PMD tables); only the eras that have it raise it, and free_pgtables()
	 * then keeps the table.  mshare_links is ptsim's own count of such links,
	 * kept in every era: the oracle reports a table freed while it is not 0.
	 */
	uint32_t mshare_pts;
	uint32_t mshare_links;
};

static inline struct sim_frame *frame(struct ptsim_machine *m, uint32_t pfn);

/* ------------------------------------------------------------------------ */
/* Files, VMAs, mm_struct                                                     */
/* ------------------------------------------------------------------------ */

enum file_kind { FILE_REGULAR = 0, FILE_SHMEM = 1, FILE_HUGETLB = 2, FILE_MSHARE = 3 /* an msharefs file */ };

struct mshare_data;

struct sim_file {
	struct sim_file *next;       /* machine->files, creation order */
	uint32_t id;
	char *name;                  /* NULL: anonymous object (shared anon memory, MAP_HUGETLB) */
	enum file_kind kind;
	unsigned int page_shift;     /* the file's page size (hugetlb: huge page size) */
	struct hmap pages;           /* page index (file pages) -> pfn */
	struct vm_area_struct **i_mmap;  /* VMAs mapping the file, by (vm_pgoff, id) */
	unsigned int nr_mmap, cap_mmap;
	unsigned int refs;           /* VMAs mapping it + 1 while named */
	/*
	 * i_mmap_rwsem held for write by an operation that is blocked waiting
	 * for an IPI (CPU id + 1; 0: not held across a wait).  Only such a hold
	 * is visible: operations are atomic otherwise.  See i_mmap_unlock_write().
	 */
	unsigned int i_mmap_held_by;
	struct sim_file *held_next;  /* in that CPU's held_i_mmap list */
	struct mshare_data *mshare;  /* FILE_MSHARE: the region (inode->i_private) */
};

#define VM_READ 0x00000001ull
#define VM_WRITE 0x00000002ull
#define VM_EXEC 0x00000004ull
#define VM_SHARED 0x00000008ull
#define VM_MAYREAD 0x00000010ull
#define VM_MAYWRITE 0x00000020ull
#define VM_MAYEXEC 0x00000040ull
#define VM_MAYSHARE 0x00000080ull
#define VM_GROWSDOWN 0x00000100ull
#define VM_UFFD_WP 0x00000200ull
#define VM_PFNMAP 0x00000400ull
#define VM_LOCKED 0x00002000ull
#define VM_DONTCOPY 0x00020000ull
#define VM_DONTEXPAND 0x00040000ull
#define VM_LOCKONFAULT 0x00080000ull
#define VM_HUGETLB 0x00400000ull
#define VM_WIPEONFORK 0x02000000ull
#define VM_MIXEDMAP 0x10000000ull
#define VM_SHARED_PT (1ull << 41)   /* mshare RFC v3 06/10: the VMA maps an mshare region (VM_MSHARE in 2025) */
#define VM_SPECIAL (VM_PFNMAP | VM_MIXEDMAP | VM_DONTEXPAND)
#define VM_COPY_ON_FORK (VM_PFNMAP | VM_MIXEDMAP | VM_UFFD_WP)

struct vm_area_struct {
	uint64_t vm_start, vm_end;
	uint64_t vm_pgoff;           /* offset in the file, in base pages */
	uint64_t vm_flags;
	struct mm_struct *vm_mm;
	struct sim_file *vm_file;
	uint32_t anon_vma;           /* identity of the anon_vma (0: none) */
	bool hugetlb_vma_lock;       /* vm_private_data of a shareable hugetlb VMA */
	unsigned int hpage_shift;    /* hugetlb: huge page shift (hstate) */
	uint64_t id;                 /* creation sequence: orders i_mmap like the kernel's tree */
	bool i_mmap_linked;          /* in vm_file->i_mmap (rmap can find it) */
	/* ptsim: the mm's VMA tree (vma_tree.c): links and the subtree's cached values. */
	struct vm_area_struct *vt_left, *vt_right, *vt_parent;
	uint64_t vt_lo, vt_hi;       /* lowest vm_start, highest vm_end of the subtree */
	uint64_t vt_gap;             /* largest empty range between two VMAs of the subtree */
	int vt_height;
	struct vm_area_struct *vm_detached_next;   /* munmap's detached list (mt_detach), address order */
};

static inline bool is_vm_hugetlb_page(const struct vm_area_struct *vma) { return vma->vm_flags & VM_HUGETLB; }
static inline bool vma_is_anonymous(const struct vm_area_struct *vma) { return !vma->vm_file; }
static inline bool is_cow_mapping(uint64_t flags) { return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE; }

enum { MM_FILEPAGES = 0, MM_ANONPAGES = 1, MM_SWAPENTS = 2, MM_SHMEMPAGES = 3, NR_MM_COUNTERS = 4 };

struct cpumask {
	uint64_t *bits;
	unsigned int nwords;
};

/*
 * What page reclaim has unmapped but not yet flushed (CONFIG_ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH).
 * arch: struct arch_tlbflush_unmap_batch (x86: the union of the mm_cpumasks;
 * arm64 needs only the final DSB); the rest is mm/rmap.c's struct
 * tlbflush_unmap_batch.  The kernel keeps one per task; ptsim one per reclaim
 * call (tlbbatch_init()).
 */
struct arch_tlbflush_unmap_batch {
	struct cpumask cpumask;
	/* ptsim: the mm queued since the last flush (reclaim here unmaps folios of one mm only) */
	struct mm_struct *mm;
};

struct tlbflush_unmap_batch {
	struct arch_tlbflush_unmap_batch arch;
	bool flush_required;   /* a PTE was cleared and its flush deferred */
	bool writable;         /* one of them was dirty (try_to_unmap_flush_dirty()) */
};

struct mm_struct {
	struct ptsim_machine *machine;
	struct mm_struct *next, *prev;   /* machine->mms, creation order */
	uint32_t id;                     /* creation order, from 1 */
	uint32_t pgd;                    /* pfn of the top-level table */
	struct vm_area_struct *vma_root; /* mm_mt: the VMA tree (vma_tree.c), by address */
	uint64_t mmap_base;              /* arch_pick_mmap_layout() (util.c) */
	uint64_t mmap_legacy_base;
	bool mmf_topdown;                /* MMF_TOPDOWN: top-down allocation from mmap_base */
	uint64_t rnd_state;              /* ptsim: the mm's own random stream (util.c, mm_random_init()) */
	uint64_t start_brk, brk;         /* the heap (exec sets them; a spawned mm has none) */
	bool has_brk;
	uint64_t start_stack;            /* top of the stack VMA exec made (0: none) */
	unsigned long map_count;         /* number of VMAs */
	struct vm_area_struct *vma_cache;
	struct sim_task **task_heap;     /* live tasks using it: a min-heap by id (the lowest names the mm) */
	unsigned int nr_tasks, cap_tasks;
	int mm_users;                    /* threads using it */
	int mm_count;                    /* mm_users != 0, plus CPUs that have it loaded */
	bool exited;                     /* exit_mmap() ran */
	long rss[NR_MM_COUNTERS];        /* in base pages */
	long hugetlb_usage;              /* base pages */
	long nr_tables[NR_PT_LEVELS];    /* tables allocated by level (P4D..PTE; PGD not counted) */
	long pgtables_bytes;             /* mm_pgtables_bytes(): PTE + PMD + PUD tables */
	long pgtables_bytes_peak;        /* ptsim: its high-water mark (no kernel counter) */
	long hiwater_rss;                /* RSS pages seen by update_hiwater_rss() (VmHWM is the larger of it and RSS) */
	struct mshare_data *mshare;      /* an mshare host mm: its region (NULL for a process's mm) */
	unsigned int nr_mshare_links;    /* ptsim: entries of this mm's tables that link an mshare host's table */
	bool mshare_linked;              /* ptsim: it has linked one at some time (mshare_forget_mm() at the end) */
	int tlb_flush_pending;           /* open mmu_gathers */
	/*
	 * mm->tlb_flush_batched: PTEs of this mm were cleared by reclaim with
	 * the flush deferred (pending) / flush_tlb_batched_pending() has
	 * flushed up to (flushed).  The kernel packs both into one atomic.
	 */
	uint16_t tlb_flush_batched_pending, tlb_flush_batched_flushed;
	struct cpumask cpumask;          /* mm_cpumask(mm) */
	struct cpumask tlb_cached;       /* ptsim: CPUs whose TLB/PWC may hold entries of this mm */
	void *arch;                      /* arch context (x86: ctx_id, tlb_gen, ...; arm64: ASID) */
	/*
	 * ptsim: the fault path's last upper-level walk (PMD entry for one
	 * PMD_SIZE range), valid while no upper-level entry anywhere changed.
	 */
	pmd_t *fault_pmd;
	uint64_t fault_pmd_index;
	uint64_t fault_pmd_gen;
};

/* ------------------------------------------------------------------------ */
/* Tasks and CPUs                                                             */
/* ------------------------------------------------------------------------ */

struct sim_task {
	int id;
	struct mm_struct *mm;
	int cpu;                 /* CPU it runs on, -1 when not running */
	unsigned int heap_idx;   /* position in mm->task_heap */
	uint64_t tgid;           /* thread group: an identity per process (spawn, fork, clone_vm), never reused */
};

enum ipi_reason { IPI_TLB_FLUSH = 0, IPI_TABLE_SYNC = 1, IPI_FLUSH_ALL = 2, NR_IPI_REASONS = 3 };

typedef void (*smp_call_func_t)(struct ptsim_machine *m, struct sim_cpu *cpu, void *info);

#define SMP_INFO_MAX 64
struct pending_call {
	struct pending_call *next;
	smp_call_func_t func;
	int sender;              /* CPU waiting for this call (-1: nobody) */
	struct mm_struct *mm;    /* the mm info refers to, held (mmgrab) while queued */
	_Alignas(8) uint8_t info[SMP_INFO_MAX];   /* holds a struct (x86 flush_tlb_info): keep it aligned */
};

#include "mm/tlbcache.h"
#include "mm/stats.h"

#define SIM_CACHE_LINE 64

/*
 * ptsim layout: what a flush IPI reads and writes on most targets lies in
 * two cache lines.  The first line answers should_flush_tlb()
 * (cpu_in_schedule() below) and an invalidation that finds nothing (the
 * loaded mm, the flags, tlb's counts and base-page hints); the other holds
 * the four counters a flush IPI adds to on most targets (the last slots of
 * stats[]) and the first bytes of the arch's per-CPU state, arch[] (x86:
 * its cpu_tlbstate, whose loaded ASID and the generations of its ASID slots
 * 0 and 1 lie there).  tlb's block pointers are read only where an array is
 * searched.  The array of CPUs is allocated aligned (machine.c).  On 8,192
 * CPUs a broadcast costs what it touches per target (docs/performance.md).
 */
/*
 * The kernel's struct folio_batch as the per-CPU LRU batches use it
 * (include/linux/pagevec.h, v6.18: PAGEVEC_SIZE 31, called FOLIO_BATCH_SIZE
 * from 2026 on): frame numbers, filled from 0.
 */
#define FOLIO_BATCH_SIZE 31
struct folio_batch {
	uint32_t nr;
	uint32_t folios[FOLIO_BATCH_SIZE];
};

#define SIM_CPU_ARCH_BYTES 112   /* arch[]: x86's struct x86_tlbstate */
#define SIM_CPU_ARCH_HOT 32      /* arch[]'s bytes in the flush IPI's counter line */
struct sim_cpu {
	_Alignas(2 * SIM_CACHE_LINE) unsigned int id;
	bool is_lazy;                    /* running idle/kthread with a user mm still loaded */
	bool irqs_off;                   /* inside a GUP-fast walk, or in_schedule (a concurrency point) */
	uint16_t asid;                   /* tag of the loaded address space in the TLB model */
	struct mm_struct *loaded_mm;     /* page tables the CPU has loaded (NULL: init_mm) */
	struct sim_tlb tlb;              /* the hardware caches (allocated on first use) */
	struct sim_task *curr;           /* NULL: idle */

	/* Concurrency points. */
	struct pending_call *pending;    /* IPIs waiting for IRQs to come back on */
	struct pending_call **pending_tail;
	bool in_schedule;                /* inside __schedule() with IRQs off (schedule_begin) */
	unsigned int pending_acks;       /* IPIs this CPU is waiting for (its operation is blocked) */
	uint32_t *deferred;              /* frames whose free waits for those acks */
	size_t nr_deferred, cap_deferred;
	uint64_t op_epoch;               /* RCU epoch at which the blocked operation started */
	/* GUP-fast walker state. */
	uint32_t walker_tables[NR_PT_LEVELS];
	uint32_t walker_gens[NR_PT_LEVELS];   /* frame generations when entered */
	unsigned int nr_walker_tables;
	uint32_t walker_page;            /* page referenced by the walk (0: none) */
	uint64_t walker_addr;
	uint64_t walker_epoch;

	uint64_t stats[NR_CPU_STATS];
	/* The arch back-end's per-CPU state (x86: cpu_tlbstate; arm64 keeps its own array). */
	_Alignas(8) unsigned char arch[SIM_CPU_ARCH_BYTES];

	struct mm_struct *walker_mm;     /* current->mm of the GUP-fast walk */
	/* A held hugetlb PMD table that the walker's mm has since unshared (0: none). */
	uint32_t walker_stale_table;
	uint32_t walker_stale_gen;
	bool walker_stale_reported;
	/* i_mmap_rwsem of these files stays held until this CPU's IPI waits end. */
	struct sim_file *held_i_mmap;
	/*
	 * RCU reader (pte_offset_map) state.  The reader is a kernel path of
	 * reader_mm holding its mmap_lock for read (a GUP walk, madvise, a
	 * khugepaged scan) or an rmap lock its unmapping takes before freeing
	 * tables: what takes mmap_lock for write in reader_mm waits for it.
	 */
	uint32_t reader_table;
	uint32_t reader_gen;
	uint64_t reader_addr;
	uint64_t reader_epoch;
	struct mm_struct *reader_mm;
	/*
	 * PMD lock held from a trace: the table, its frame generation, and the mm
	 * whose tables hold it.  The holder is a kernel path inside that mm (a
	 * fault, a GUP walk): it holds the mm's mmap_lock for read, so nothing that
	 * takes it for write (and could free the table) runs until pmd_unlock.
	 */
	uint32_t held_lock_table;
	uint32_t held_lock_gen;
	struct mm_struct *held_lock_mm;

	/*
	 * cpu_fbatches.lru_add (swap.c): folios added to the LRU on this CPU and
	 * not yet moved there.
	 */
	struct folio_batch lru_add;
};

/* ptsim layout: a flush IPI's counters and the start of arch[] share one cache line of its target. */
_Static_assert(SIM_CPU_IPI_SLOT0 + 4 == NR_CPU_STATS, "the flush IPI's slots are the last four");
_Static_assert((offsetof(struct sim_cpu, stats) + SIM_CPU_IPI_SLOT0 * sizeof(uint64_t)) % SIM_CACHE_LINE == 0,
	       "sim_cpu's flush IPI counters not line-aligned");
_Static_assert(offsetof(struct sim_cpu, arch) == offsetof(struct sim_cpu, stats) + sizeof(uint64_t) * NR_CPU_STATS &&
		       offsetof(struct sim_cpu, arch) % SIM_CACHE_LINE + SIM_CPU_ARCH_HOT == SIM_CACHE_LINE,
	       "sim_cpu's arch[] does not start in the flush IPI's counter line");
/*
 * ptsim layout: the size is an odd multiple of 128 bytes (896), so that the
 * CPUs' hot lines spread over every set of the host's caches (at 512 or 768
 * bytes apart they would fall into a quarter or a half of them).  A field
 * added must keep it so (or pad to the next odd multiple).
 */
_Static_assert(sizeof(struct sim_cpu) % (4 * SIM_CACHE_LINE) == 2 * SIM_CACHE_LINE,
	       "sim_cpu's size is not an odd multiple of 128 bytes");
/* ... and its two hot lines are an odd number of lines apart (else they would share half the sets). */
_Static_assert((offsetof(struct sim_cpu, stats) + SIM_CPU_IPI_SLOT0 * sizeof(uint64_t)) / SIM_CACHE_LINE % 2 == 1,
	       "sim_cpu's hot lines an even number of lines apart");

/*
 * ptsim: is @cpu inside __schedule() (schedule_begin)?  Such a CPU always has
 * IRQs off, and a CPU with IRQs off cannot enter the scheduler, so testing
 * irqs_off first answers most CPUs from their first cache line.
 */
static inline bool cpu_in_schedule(const struct sim_cpu *cpu)
{
	return cpu->irqs_off && cpu->in_schedule;
}

/* ------------------------------------------------------------------------ */
/* Variants                                                                    */
/* ------------------------------------------------------------------------ */

enum pt_reclaim_variant {
	PT_RECLAIM_OFF = 0,
	PT_RECLAIM_ON = 1,           /* mm/pt_reclaim.c, v6.14 - v6.19 */
	PT_RECLAIM_V1_2024_10 = 2,   /* the first posting, with its bugs */
	PT_RECLAIM_FOLD_7_0 = 3,     /* folded into mm/memory.c: frees with the address past the table (CVE-2026-74674) */
	PT_RECLAIM_FOLD_7_1_9 = 4,   /* the same with the table's own address (the 7.1.9 fix) */
};
enum x86_lazy_freed_tables_variant {
	X86_LAZY_FREED_TABLES_IPI = 0,   /* v4.20+: a flush that freed tables reaches lazy CPUs too */
	X86_LAZY_FREED_TABLES_SKIP = 1,  /* 2018 ac0315896970 without 2ff6ddf19c0e: lazy CPUs never flushed */
};
enum x86_pwc_invlpg_variant {
	X86_PWC_INVLPG_GLOBAL = 0,    /* INVLPG drops every walk-cache entry of the PCID (Intel, no PTI) */
	X86_PWC_INVLPG_TARGETED = 1,  /* only those on the address's path (INVPCID single, AMD EFER.TCE) */
};
enum hugetlb_unshare_variant {
	HUGETLB_UNSHARE_NONE = 0,          /* before 1013af4f585f: no sync IPI */
	HUGETLB_UNSHARE_IPI_PER_TABLE = 1, /* 1013af4f585f (6.16 - 6.18) */
	HUGETLB_UNSHARE_MMU_GATHER = 2,    /* 8ce720d5bd91 (6.19, 6.18.y) */
	HUGETLB_UNSHARE_NO_BROADCAST = 3,  /* deliberately unsafe: mmu_gather form without the broadcast */
};
enum table_free_variant {
	TABLE_FREE_RCU = 0,          /* MMU_GATHER_RCU_TABLE_FREE + PT_RECLAIM single-table call_rcu */
	TABLE_FREE_SEMI_RCU = 1,     /* RCU batches; single table: sync IPI then free */
	TABLE_FREE_AFTER_FLUSH = 2,  /* no RCU table free: freed right after the flush IPI */
	TABLE_FREE_IMMEDIATE = 3,    /* deliberately unsafe: freed before any flush */
	TABLE_FREE_RCU_4_18 = 4,     /* before v4.19: single-user mms free at once; no table invalidation */
};
enum x86_flush_variant { X86_FLUSH_IPI = 0, X86_FLUSH_INVLPGB = 1 };
enum mm_cpumask_variant { MM_CPUMASK_LAZY = 0, MM_CPUMASK_EAGER = 1 };
enum arm64_lpa2_variant {
	ARM64_LPA2_AUTO = 0,   /* present exactly when the kernel runs 52-bit VA on 4K/16K pages (it needs it) */
	ARM64_LPA2_ON = 1,
	ARM64_LPA2_OFF = 2,
};
enum arm64_range_limit_variant {
	ARM64_RANGE_LIMIT_LEGACY = 0,       /* <= 6.19: the 2^21-page cap applies without FEAT_TLBIRANGE too */
	ARM64_RANGE_LIMIT_PER_FEATURE = 1,  /* 2026: the cap with FEAT_TLBIRANGE, MAX_DVM_OPS without */
};
/* mshare (mshare.c): which posting's steps; docs/mshare.md "Variants". */
enum mshare_variant {
	MSHARE_FIXED = 0,     /* RFC v3, plus the unlink at unmap with the flush it needs and a kept linked table */
	MSHARE_RFC_V3 = 1,    /* RFC v3 as posted (Sep 2024): munmap leaves the process's top-level entry linked */
	MSHARE_V2_2025 = 2,   /* v1/v2 (Jan/Apr 2025): P4D-level link, cleared in free_pgtables() without a flush */
	MSHARE_V3_2025 = 3,   /* v3 (Aug 2025): unlinked in unmap_page_range() at P4D stride, PUD share count */
};
enum mshare_flush_variant {
	MSHARE_FLUSH_ALL = 0,       /* flush_tlb_all() (the RFC's "for now", the 2025 mmu notifier) */
	MSHARE_FLUSH_HOST_MM = 1,   /* flush_tlb_mm_range(host mm) only: deliberately unsafe */
	MSHARE_FLUSH_PER_MM = 2,    /* flush_tlb_mm_range(vma->vm_mm) for each VMA in the file's i_mmap */
	MSHARE_FLUSH_CPUMASK_UNION = 3,  /* one flush_tlb_multi() over the union of the sharers' mm_cpumasks */
};

struct sim_variants {
	int pt_reclaim;
	int x86_pwc_invlpg;          /* enum x86_pwc_invlpg_variant */
	int x86_lazy_freed_tables;   /* enum x86_lazy_freed_tables_variant */
	int hugetlb_unshare;
	int table_free;
	int table_batch_alloc;       /* 0 ok, 1 fail (force the single-table fallback) */
	int x86_flush;
	int mm_cpumask;
	int flush_tlb_range_freed_tables;
	int tlb_single_page_flush_ceiling;
	int pcid;
	int idle_leave_mm;
	int madvise_one_gather;      /* one mmu_gather across the VMAs of a madvise call (v6.16+) */
	int rcu_table_free_config;   /* CONFIG_MMU_GATHER_RCU_TABLE_FREE: tlb_remove_table_sync_one() is real */
	int x86_table_flush_implies_ipi; /* 2026 queued: flush IPIs stand in for the sync IPI (x86, native) */
	int hz;
	int tlb_entries[NR_TLB_PSIZES];
	int tlb_ways[NR_TLB_PSIZES];
	int pwc_entries;             /* per cached level */
	/* Simulated-memory limits (docs/reliability.md): not algorithm variants, set the same way. */
	int max_frames;              /* frames in use, every kind (a huge page is one frame) */
	int max_pgtables;            /* page-table pages in use */
	int pwc_ways;
	/* arm64 */
	int arm64_tlbi_range;
	int arm64_ttl;
	int arm64_walkcache_fix;     /* c2ff4764e03e: unshared tables invalidate walk caches */
	int arm64_asid_bits;
	int arm64_kpti;
	int arm64_range_limit;       /* enum arm64_range_limit_variant */
	int arm64_lpa2;              /* enum arm64_lpa2_variant: the CPU implements FEAT_LPA2 */
	/* mshare (mshare.c) */
	int mshare;                  /* enum mshare_variant: which posting's teardown */
	int mshare_flush;            /* enum mshare_flush_variant: how a host mm's flush reaches the sharers */
	/* Process layout (sysctls; described only when not their default). */
	int legacy_va_layout;        /* vm.legacy_va_layout: bottom-up mmap layout */
	int randomize_va_space;      /* kernel.randomize_va_space: 0 none, 1 mmap/stack, 2 also brk */
	int mmap_rnd_bits;           /* vm.mmap_rnd_bits; 0: the arch's default */
};

/* Default simulated-memory limits: 64 GiB of 4 KiB frames, 1 GiB of page tables (docs/reliability.md). */
#define SIM_DEFAULT_MAX_FRAMES (1 << 24)
#define SIM_DEFAULT_MAX_PGTABLES (1 << 18)

/* ------------------------------------------------------------------------ */
/* Violations, marks, RCU                                                      */
/* ------------------------------------------------------------------------ */

struct sim_violation {
	enum ptsim_violation_kind kind;
	uint64_t event;
	int cpu;
	uint64_t addr;
	uint64_t pfn;
	char *message;
	char *backtrace;
};

#define PTSIM_DEFAULT_MAX_MARKS 100000
#define PTSIM_DEFAULT_MAX_EXITS 1000000
#define PTSIM_DEFAULT_MAX_EVENT_RESULTS 1000000

/* The figures of an mm whose last user went (ptsim_exit_get()). */
struct sim_exit {
	int task;
	enum ptsim_exit_cause cause;
	uint64_t event;
	uint64_t clock_ns;
	struct ptsim_mm_info mi;
};

/* An event result (ptsim_event_result_get()). */
struct sim_event_result {
	uint64_t event, line, addr;
	const char *op;                      /* static: the trace's op table */
	char *as;                            /* owned copy, or NULL */
	int task, result;
	bool has_addr;
};

struct sim_mark {
	char *name;
	uint64_t event;
	uint64_t clock_ns;
	unsigned int depth;          /* enclosing repeats */
	uint64_t *iteration;         /* depth entries, outermost first (NULL when depth is 0) */
	struct ptsim_mm_info *mms;
	unsigned int nr_mms;
	uint64_t stats[NR_STATS];
	uint64_t *cpu_stats;         /* nr_cpus * NR_CPU_STATS */
};

struct sim_rcu {
	struct rcu_head *head, **tail;   /* callbacks in queue order */
	uint64_t epoch;                  /* advances on every reader start and callback queued */
	unsigned int nr_readers;         /* CPUs in a read-side section or a blocked operation */
	size_t nr_pending;
};

/* ------------------------------------------------------------------------ */
/* The machine                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The kernel era of each algorithm the variants select, as functions chosen
 * once when the machine is created (the *_select_era() functions): ported
 * code calls through these instead of testing a variant inside its steps.
 */
struct kernel_eras {
	/*
	 * The end of zap_pte_range() with PT reclaim: free the PTE table that
	 * was (fast path) or may now be (slow path) detached.  @start is where
	 * the zap began (the table's first address), @addr where it stopped.
	 */
	/* mshare (mshare.c): the posting's steps, and the flush strategy a host mm's flushes go through. */
	const struct mshare_era *mshare;
	void (*mshare_flush)(struct mshare_data *md, const struct mmu_gather *tlb);
	void (*pt_reclaim_free)(struct mm_struct *mm, pmd_t *pmd, uint64_t start, uint64_t addr, struct mmu_gather *tlb,
				pmd_t pmdval, bool direct_reclaim);
	/* Table freeing and unsharing in mm/mmu_gather.c (mmu_gather_select_era()). */
	void (*tlb_remove_table)(struct mmu_gather *tlb, struct ptdesc *table);
	void (*tlb_remove_table_one)(struct mmu_gather *tlb, struct ptdesc *table);
	void (*tlb_table_invalidate)(struct mmu_gather *tlb);
	void (*tlb_remove_table_sync_one)(struct ptsim_machine *m);
	void (*tlb_flush_unshared_tables)(struct mmu_gather *tlb);
	/* hugetlb PMD unsharing in mm/hugetlb.c and its callers (hugetlb_select_era()). */
	void (*huge_pmd_unshare_drop)(struct mmu_gather *tlb, struct ptsim_machine *m, struct ptdesc *pt,
				      uint64_t addr);
	void (*unmap_hugepage_range)(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start,
				     uint64_t end, uint32_t folio);
	void (*hugetlb_unshare_pmds)(struct vm_area_struct *vma, uint64_t start, uint64_t end, bool take_locks);
	long (*hugetlb_change_protection)(struct vm_area_struct *vma, uint64_t address, uint64_t end,
					  uint64_t newflags);
	uint64_t (*move_hugetlb_page_tables)(struct vm_area_struct *vma, struct vm_area_struct *new_vma,
					     uint64_t old_addr, uint64_t new_addr, uint64_t len);
	bool (*hugetlb_unshare_for_migration)(struct vm_area_struct *vma, uint64_t address, pgent_t *ptep);
};

struct ptsim_machine {
	struct sim_alloc alloc;
	uint64_t magic;                      /* PTSIM_MACHINE_MAGIC while live; cleared by destroy */
	struct ptsim_config cfg;             /* as given (strings not kept) */
	char preset[32];
	struct sim_variants v;
	struct kernel_eras eras;             /* chosen from v at creation */
	const struct ptsim_arch_ops *ops;
	bool entry_hook;                     /* ops->set_entry is set (cached for pt_write()) */
	void *arch;                          /* arch machine-wide state */
	struct pt_geometry geo;
	unsigned int nr_cpus;
	struct sim_cpu *cpus;
	struct tlb_layout tlb_layout;        /* the shape of every CPU's TLB and PWC arrays */
	struct sim_cpu *cur;                 /* CPU running the current operation */
	unsigned int *cpu_scratch[2];        /* nr_cpus-sized target lists (IPI senders) */
	unsigned int nr_blocked;             /* CPUs whose operation waits for an IPI */
	uint64_t upper_gen;                  /* bumped by every write of an upper-level (non-PTE) entry */
	struct sim_phys phys;
	/*
	 * Entry arrays of freed page tables that were empty (all zero), kept
	 * for the next table of the same size (geo.ptrs[PT_PTE] entries) so that
	 * it needs no allocation and no clearing (pgtable.c).
	 */
	pgent_t *zero_tables[PT_ZERO_CACHE];
	unsigned int nr_zero_tables;
	struct hmap tasks;                   /* task id -> struct sim_task * */
	struct hmap pt_by_addr;              /* host address of a table's entries -> its pfn */
	struct mm_struct *mms, *mms_last;    /* every mm not yet freed, creation order (doubly linked) */
	/*
	 * ptsim: the processes outside the trace (run {other}): one mm, not in
	 * mms (no report, no id), and one task per CPU, not in tasks; created
	 * on first use, freed with the machine.
	 */
	struct mm_struct *other_mm;
	struct sim_task *other_tasks;
	uint32_t next_mm_id;
	struct sim_file *files, **files_tail;
	struct mshare_data *mshares, **mshares_tail;   /* mshare regions (msharefs files not yet evicted), creation order */
	uint32_t next_file_id;
	uint64_t next_vma_id;
	uint32_t next_anon_vma;
	uint64_t next_tgid;                  /* thread groups: a new identity per process, never reused */
	struct sim_rcu rcu;
	unsigned int nr_stale_walkers;       /* CPUs with walker_stale_table set: page-table writes get checked */
	unsigned int nr_i_mmap_held;         /* files whose i_mmap lock a blocked operation holds */
	unsigned int nr_pmd_locks;           /* CPUs holding a PMD lock (pmd_lock) */
	uint64_t clock_ns;
	uint64_t rng;
	/* The process layout parameters (docs/architecture.md, "Address-space layout"). */
	uint64_t mmap_min_addr;              /* vm.mmap_min_addr */
	uint64_t stack_guard_gap;            /* stack_guard_gap: 256 pages */
	uint64_t rlimit_stack;               /* RLIMIT_STACK soft limit: 8 MiB */
	bool legacy_va_layout;               /* vm.legacy_va_layout / ADDR_COMPAT_LAYOUT: bottom-up */
	uint64_t stats[NR_STATS];
	struct sim_violation *viol;
	size_t nr_viol, cap_viol;
	struct sim_mark *marks;
	size_t nr_marks, cap_marks;
	struct sim_exit *exits;
	size_t nr_exits, cap_exits;
	bool record_results;                 /* ptsim_event_results_enable() */
	struct sim_event_result *results;
	size_t nr_results, cap_results;
	uint64_t limits[PTSIM_NR_LIMITS];    /* 0: none */
	/* Event context for error messages and violation records. */
	uint64_t event;                      /* events executed so far (index of the current one) */
	const char *ev_op;                   /* op of the current call */
	uintptr_t api_frame;                 /* frame address of the public call running (backtraces stop there) */
	/*
	 * The trace position of the current event ("events[3].events[1][i=7]"),
	 * formatted by the replay only when an error message needs it (NULL: none).
	 */
	void (*ev_where)(const void *ctx, char *buf, size_t len);
	const void *ev_where_ctx;
	uint64_t ev_line;                    /* v2 trace: line of the current event (0: not a v2 trace) */
	bool in_trace;
	char errmsg[512];
	bool internal_error;
	/* The simulated-memory limit that refused an allocation in this call (NULL: none). */
	const char *limit_hit;
	/*
	 * ptsim: handle runs of sequential accesses of a touch, and runs
	 * of anonymous pages of a zap, together (ptsim_debug_batching(); on by
	 * default).  Off, every page takes the general path: the reference the
	 * batched paths are tested against.
	 */
	bool no_batching;
	/*
	 * ptsim: broadcasts of the empty function to every other CPU, none of
	 * them with IRQs off, count each target's interrupt later
	 * (ipi_broadcast_pending, folded into the per-CPU counters by
	 * sim_stats_fold() before anyone reads them); with no_ipi_fastpath
	 * (ptsim_debug_ipi_fastpath()) every target is counted one by one: the
	 * reference the fast path is tested against.  It also selects the
	 * two-pass form of on_each_cpu_cond_mask() and x86's retire_skipped()
	 * over every CPU that cached the mm.
	 */
	bool no_ipi_fastpath;
	unsigned int nr_irqs_off;                        /* CPUs inside a GUP-fast walk (irqs_off) */
	uint64_t ipi_broadcast_pending[NR_IPI_REASONS];  /* IPIs each CPU took and its counter lacks */
};

/*
 * Every public function checks its machine handle first: NULL, a destroyed
 * machine (destroy clears the magic; found as long as the memory was not
 * reused, and ASan builds report the use after free itself) or a pointer that
 * is not a machine gets -EINVAL (or the function's "nothing" value) instead of
 * a crash.
 */
#define PTSIM_MACHINE_MAGIC 0x707473696d4d4348ull   /* "ptsimMCH" */
static inline bool ptsim__machine_ok(const struct ptsim_machine *m)
{
	return PTSIM_LIKELY(m && m->magic == PTSIM_MACHINE_MAGIC);
}
#define PTSIM_CHECK_MACHINE(m, ret)              \
	do {                                     \
		if (!ptsim__machine_ok(m))       \
			return ret;              \
	} while (0)
/* A NULL pointer argument @field of a checked machine: -EINVAL naming it. */
#define PTSIM_CHECK_ARG(m, p, field)                                                              \
	do {                                                                                      \
		if (PTSIM_UNLIKELY(!(p)))                                                         \
			return ptsim__err((m), -EINVAL, (field), "must not be NULL");              \
	} while (0)

static inline struct sim_frame *frame(struct ptsim_machine *m, uint32_t pfn)
{
	return &m->phys.frames[pfn];
}

static inline struct ptsim_machine *mm_machine(const struct mm_struct *mm)
{
	return mm->machine;
}

static inline uint64_t jiffies(const struct ptsim_machine *m)
{
	return m->clock_ns / (1000000000ull / (uint64_t)m->v.hz);
}

/* ------------------------------------------------------------------------ */
/* Cross-module functions                                                      */
/* ------------------------------------------------------------------------ */

/* errors.c: error reporting with event context. */
int ptsim__err(struct ptsim_machine *m, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* A name that reports will show (util/name.h): 0, or -EINVAL naming @field and the problem. */
int ptsim__check_name(struct ptsim_machine *m, const char *field, const char *name);

/* config.c: variants and presets. */
int ptsim__variants_resolve(struct sim_variants *v, char preset_out[32], const struct ptsim_config *cfg,
			    char *err, size_t errlen);
int ptsim__variant_set(struct sim_variants *v, const char *key, const char *value, char *err, size_t errlen);
/*
 * Reports list the resolved configuration as (key, type, text) entries: the
 * text is what the summary table prints ("4", "on"); the type says what the
 * JSON report makes of it (a number, a boolean, or the text as a string).
 */
enum sim_desc_type { DESC_STRING = 0, DESC_NUMBER = 1, DESC_BOOL = 2 };
typedef void (*sim_desc_emit_fn)(void *ctx, const char *key, enum sim_desc_type type, const char *text);
void ptsim__variants_describe(const struct sim_variants *v, sim_desc_emit_fn emit, void *ctx);
void ptsim__variants_describe_arch(const struct sim_variants *v, enum ptsim_arch arch, sim_desc_emit_fn emit,
				   void *ctx);

/* phys.c: frames. */
uint32_t phys_alloc_new(struct ptsim_machine *m);
uint32_t phys_refuse(struct ptsim_machine *m);
void get_page(struct ptsim_machine *m, uint32_t pfn);
/* oracle.c: called for every frame about to go back to the pool. */
void oracle_check_free(struct ptsim_machine *m, uint32_t pfn);
/* pgtable.c: a page-table page back to the pool, oracle-checked. */
void pt_free_table(struct ptsim_machine *m, struct ptdesc *pt);

/*
 * Frames are handed out LIFO from one free list (phys.c says why).  The
 * allocation and free fast paths are inline: every fault and every zapped
 * page takes them.
 */

/**
 * phys_alloc - a free frame of @kind (refcount 1, mapcount 0), or 0 when the
 * allocator fails (SIM_ENOMEM for the caller).
 */
static inline uint32_t phys_alloc(struct ptsim_machine *m, enum frame_kind kind, unsigned int order)
{
	struct sim_phys *p = &m->phys;
	uint64_t max_frames = m->limits[PTSIM_LIMIT_FRAMES], max_pgtables = m->limits[PTSIM_LIMIT_PGTABLES];
	uint32_t pfn = p->free_head;

	/* The simulated-memory limits (phys_refuse() names the one hit). */
	if (PTSIM_UNLIKELY((max_frames && p->in_use_total >= max_frames) ||
			   (kind == FRAME_PGTABLE && max_pgtables && p->in_use[FRAME_PGTABLE] >= max_pgtables)))
		return phys_refuse(m);
	if (PTSIM_LIKELY(pfn))
		p->free_head = p->frames[pfn].u.next_free;
	else if (!(pfn = phys_alloc_new(m)))
		return 0;
	struct sim_frame *f = &p->frames[pfn];
	f->kind = (uint8_t)kind;
	f->order = (uint8_t)order;
	f->flags = 0;
	f->refcount = 1;
	f->mapcount = 0;
	f->holders = 0;
	memset(&f->u, 0, sizeof(f->u));
	p->in_use[kind]++;
	p->in_use_total++;
	if (kind != FRAME_PGTABLE && kind != FRAME_ZERO)
		m->stats[ST_PAGES_ALLOC]++;
	return pfn;
}

/* frame_link_free - frame @pfn (@f) goes on top of the free list whose head is @head; returns the new head. */
static inline uint32_t frame_link_free(struct sim_frame *f, uint32_t pfn, uint32_t head)
{
	f->kind = FRAME_FREE;
	f->gen++;
	f->refcount = 0;
	f->mapcount = 0;
	f->u.next_free = head;
	return pfn;
}

/* phys_link_free - the frame's own steps of phys_put_free() (the caller keeps in_use[] right). */
static inline void phys_link_free(struct sim_phys *p, uint32_t pfn)
{
	p->free_head = frame_link_free(&p->frames[pfn], pfn, p->free_head);
}

/* phys_put_free - put a frame the caller has finished with (and checked) on the free list. */
static inline void phys_put_free(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_phys *p = &m->phys;

	p->in_use[p->frames[pfn].kind]--;
	p->in_use_total--;
	phys_link_free(p, pfn);
}

/* phys_free - back to the pool; the oracle looks at it first. */
static inline void phys_free(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	if (NEVER(m, f->kind == FRAME_FREE || f->kind == FRAME_ZERO || pfn == 0))
		return;
	if (PTSIM_UNLIKELY(f->cache_refs || f->holders)) {
		oracle_check_free(m, pfn);   /* data pages: only a cached entry or a holder can be wrong */
		f = frame(m, pfn);
	}
	if (f->kind != FRAME_PGTABLE)
		m->stats[ST_PAGES_FREED]++;
	phys_put_free(m, pfn);
}

/* release_frame_now - the last reference went: free the frame by kind. */
static inline void release_frame_now(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	switch (f->kind) {
	case FRAME_PGTABLE:
		pt_free_table(m, f->u.table.pt);
		break;
	case FRAME_ZERO:
	case FRAME_FREE:
		NEVER(m, true);
		break;
	default:
		phys_free(m, pfn);
		break;
	}
}
int phys_init(struct ptsim_machine *m);
void phys_release(struct ptsim_machine *m);

/* pgtable.c: page-table pages and walking helpers. */
struct ptdesc *pt_alloc_table(struct ptsim_machine *m, struct mm_struct *mm, enum pt_level level, uint64_t addr);
void pt_dtor(struct ptsim_machine *m, struct ptdesc *pt);         /* page-table destructor (statistics) */
static inline pgent_t *pt_entries(struct ptsim_machine *m, uint32_t pfn) { return frame(m, pfn)->u.table.entries; }
static inline struct ptdesc *pt_desc(struct ptsim_machine *m, uint32_t pfn) { return frame(m, pfn)->u.table.pt; }
/* Every page-table write goes through pt_write() (arm64 checks break-before-make there). */
void pt_write_hooked(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr, pgent_t val);
static inline void pt_write(struct ptsim_machine *m, pgent_t *ep, enum pt_level level, uint64_t addr, pgent_t val)
{
	if (level != PT_PTE)
		m->upper_gen++;   /* invalidates the fault path's PMD lookup cache */
	if (PTSIM_UNLIKELY(m->entry_hook || m->nr_stale_walkers))
		pt_write_hooked(m, ep, level, addr, val);
	else
		*ep = val;
}
bool pt_table_empty(struct ptsim_machine *m, uint32_t pfn);
/* Machine teardown: the kept entry arrays of freed tables go back to the allocator. */
void pt_zero_tables_release(struct ptsim_machine *m);
/* virt_to_ptdesc(): the table that contains entry @ep. */
struct ptdesc *virt_to_ptdesc(struct ptsim_machine *m, const pgent_t *ep);

/*
 * Offsets and none tests with folding, as include/asm-generic/pgtable-nop4d.h,
 * -nopud.h and -nopmd.h fold them: a folded level's "table" is the entry of
 * the level above, whose *_none() test then always says "present", so that the
 * real test is made on the aliased entry one level down.  Inline: every fault
 * and every walk goes through them.
 */
static inline struct ptsim_machine *mm_machine(const struct mm_struct *mm);
static inline pgd_t *pgd_offset(struct mm_struct *mm, uint64_t addr)
{
	struct ptsim_machine *m = mm_machine(mm);
	return &pt_entries(m, mm->pgd)[pt_index(&m->geo, PT_PGD, addr)];
}
static inline pgent_t *pt_next_offset(struct mm_struct *mm, pgent_t *upper, enum pt_level level, uint64_t addr)
{
	struct ptsim_machine *m = mm_machine(mm);
	if (m->geo.folded[level])
		return upper;
	return &pt_entries(m, pgent_pfn(*upper))[pt_index(&m->geo, level, addr)];
}
static inline p4d_t *p4d_offset(struct mm_struct *mm, pgd_t *pgd, uint64_t addr) { return pt_next_offset(mm, pgd, PT_P4D, addr); }
static inline pud_t *pud_offset(struct mm_struct *mm, p4d_t *p4d, uint64_t addr) { return pt_next_offset(mm, p4d, PT_PUD, addr); }
static inline pmd_t *pmd_offset(struct mm_struct *mm, pud_t *pud, uint64_t addr) { return pt_next_offset(mm, pud, PT_PMD, addr); }
static inline pte_t *pte_offset_map(struct mm_struct *mm, pmd_t *pmd, uint64_t addr)
{
	struct ptsim_machine *m = mm_machine(mm);
	return &pt_entries(m, pgent_pfn(*pmd))[pt_index(&m->geo, PT_PTE, addr)];
}
/* An entry of level L is "none" only if level L+1 is real (else it is folded away). */
static inline bool pt_upper_none(struct mm_struct *mm, enum pt_level below, pgent_t e)
{
	if (mm_machine(mm)->geo.folded[below])
		return false;
	return pgent_none(e);
}
static inline bool pgd_none(struct mm_struct *mm, pgd_t e) { return pt_upper_none(mm, PT_P4D, e); }
static inline bool p4d_none(struct mm_struct *mm, p4d_t e) { return pt_upper_none(mm, PT_PUD, e); }
static inline bool pud_none(struct mm_struct *mm, pud_t e) { return pt_upper_none(mm, PT_PMD, e); }
/* The P4D entry for @addr, or NULL where the PGD or P4D entry is none (no allocation). */
static inline p4d_t *p4d_lookup(struct mm_struct *mm, uint64_t addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	if (pgd_none(mm, *pgd))
		return NULL;
	p4d_t *p4d = p4d_offset(mm, pgd, addr);
	return p4d_none(mm, *p4d) ? NULL : p4d;
}

/* The PUD entry for @addr, or NULL where an entry on the way or the PUD entry is none. */
static inline pud_t *pud_lookup(struct mm_struct *mm, uint64_t addr)
{
	p4d_t *p4d = p4d_lookup(mm, addr);
	if (!p4d)
		return NULL;
	pud_t *pud = pud_offset(mm, p4d, addr);
	return pud_none(mm, *pud) ? NULL : pud;
}

/* The end of the PTE table's span that holds @addr, clipped to @end (a PMD-by-PMD walk's step). */
static inline uint64_t pte_table_end(const struct ptsim_machine *m, uint64_t addr, uint64_t end)
{
	uint64_t next = (addr + PMD_SIZE(m)) & ~(PMD_SIZE(m) - 1);
	return next > end || next == 0 ? end : next;
}
static inline bool pmd_none(struct mm_struct *mm, pmd_t e) { (void)mm; return pgent_none(e); }
/* Table allocation on the fault path: the slow halves live in pgtable.c. */
int __p4d_alloc(struct mm_struct *mm, pgd_t *pgd, uint64_t address);
int __pud_alloc(struct mm_struct *mm, p4d_t *p4d, uint64_t address);
int __pmd_alloc(struct mm_struct *mm, pud_t *pud, uint64_t address);
int __pte_alloc(struct mm_struct *mm, pmd_t *pmd, uint64_t address);
static inline p4d_t *p4d_alloc(struct mm_struct *mm, pgd_t *pgd, uint64_t addr)
{
	if (PTSIM_UNLIKELY(pgd_none(mm, *pgd)) && __p4d_alloc(mm, pgd, addr))
		return NULL;
	return p4d_offset(mm, pgd, addr);
}
static inline pud_t *pud_alloc(struct mm_struct *mm, p4d_t *p4d, uint64_t addr)
{
	if (PTSIM_UNLIKELY(p4d_none(mm, *p4d)) && __pud_alloc(mm, p4d, addr))
		return NULL;
	return pud_offset(mm, p4d, addr);
}
static inline pmd_t *pmd_alloc(struct mm_struct *mm, pud_t *pud, uint64_t addr)
{
	if (PTSIM_UNLIKELY(pud_none(mm, *pud)) && __pmd_alloc(mm, pud, addr))
		return NULL;
	return pmd_offset(mm, pud, addr);
}
static inline int pte_alloc(struct mm_struct *mm, pmd_t *pmd, uint64_t addr)
{
	return PTSIM_UNLIKELY(pmd_none(mm, *pmd)) ? __pte_alloc(mm, pmd, addr) : 0;
}

/* Allocate down to the PUD / PMD entry for @addr (mremap's alloc_new_pud()/alloc_new_pmd()); NULL: out of memory. */
static inline pud_t *alloc_new_pud(struct mm_struct *mm, uint64_t addr)
{
	p4d_t *p4d = p4d_alloc(mm, pgd_offset(mm, addr), addr);
	return p4d ? pud_alloc(mm, p4d, addr) : NULL;
}

static inline pmd_t *alloc_new_pmd(struct mm_struct *mm, uint64_t addr)
{
	pud_t *pud = alloc_new_pud(mm, addr);
	return pud ? pmd_alloc(mm, pud, addr) : NULL;
}
void mm_inc_nr_ptes(struct mm_struct *mm);
void mm_dec_nr_ptes(struct mm_struct *mm);
void mm_inc_nr_pmds(struct mm_struct *mm);
void mm_dec_nr_pmds(struct mm_struct *mm);
void mm_inc_nr_puds(struct mm_struct *mm);
void mm_dec_nr_puds(struct mm_struct *mm);
void mm_inc_nr_p4ds(struct mm_struct *mm);
void mm_dec_nr_p4ds(struct mm_struct *mm);
/* mm_find_pmd(): the PMD entry for @addr if the upper tables exist, else NULL. */
pmd_t *mm_find_pmd(struct mm_struct *mm, uint64_t addr);
/* Walk without allocating: the entry for addr at the lowest level present, and its level. */
pgent_t *pt_walk(struct mm_struct *mm, uint64_t addr, enum pt_level *level_out);

/* mmap.c: VMAs and address-space operations. */
/* vma_tree.c: the VMA tree and its lookups. */
void vma_tree_insert(struct mm_struct *mm, struct vm_area_struct *vma);
void vma_tree_remove(struct mm_struct *mm, struct vm_area_struct *vma);
void vma_tree_update(struct mm_struct *mm, struct vm_area_struct *vma);
bool vma_tree_consistent(struct mm_struct *mm);
struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr);       /* first vma with vm_end > addr */
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, uint64_t addr, struct vm_area_struct **pprev);
struct vm_area_struct *vma_first(struct mm_struct *mm);
struct vm_area_struct *vma_last(struct mm_struct *mm);
bool vma_iter_area_highest(struct mm_struct *mm, uint64_t low, uint64_t high, uint64_t size, uint64_t *start,
			   uint64_t *end);
bool vma_iter_area_lowest(struct mm_struct *mm, uint64_t low, uint64_t high, uint64_t size, uint64_t *start,
			  uint64_t *end);
/* for_each_vma(): every VMA of @mm in address order (@vma must not be freed inside). */
#define for_each_vma(mm, vma) for ((vma) = vma_first(mm); (vma); (vma) = vma_next((mm), (vma)))

/* find_vma_intersection(): the first VMA overlapping [start, end), or NULL. */
static inline struct vm_area_struct *find_vma_intersection(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct vm_area_struct *vma = find_vma(mm, start);
	return vma && vma->vm_start < end ? vma : NULL;
}
struct vm_area_struct *vma_lookup(struct mm_struct *mm, uint64_t addr);     /* vma containing addr */
struct vm_area_struct *vma_prev(struct mm_struct *mm, const struct vm_area_struct *vma);
struct vm_area_struct *vma_next(struct mm_struct *mm, const struct vm_area_struct *vma);
int __split_vma(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr, int new_below);
struct vm_area_struct *vma_merge_around(struct mm_struct *mm, struct vm_area_struct *vma);
int anon_vma_prepare(struct vm_area_struct *vma);
int do_mmap(struct mm_struct *mm, const struct ptsim_mmap_args *a, bool populate);
int do_brk_flags(struct mm_struct *mm, uint64_t addr, uint64_t len);
int expand_downwards(struct vm_area_struct *vma, uint64_t address);
struct vm_area_struct *lock_mm_and_find_vma(struct mm_struct *mm, uint64_t addr);

/* mmap.c, util.c: where a mapping goes (get_unmapped_area()). */
#define MAP_SHARED 0x01ul
#define MAP_FIXED 0x10ul
#define MAP_FIXED_NOREPLACE 0x100000ul
#define VM_UNMAPPED_AREA_TOPDOWN 1ul
/* An address or a negated errno in one value, as the kernel returns them. */
static inline bool IS_ERR_VALUE(uint64_t x)
{
	return x >= (uint64_t)-4095;
}
struct vm_unmapped_area_info {
	unsigned long flags;
	uint64_t length, low_limit, high_limit, align_mask, align_offset, start_gap;
};
/* vm_start_gap(): a stack VMA's guard gap below it counts as taken. */
static inline uint64_t vm_start_gap(const struct vm_area_struct *vma)
{
	uint64_t gap = vma->vm_mm->machine->stack_guard_gap;

	if (!(vma->vm_flags & VM_GROWSDOWN))
		return vma->vm_start;
	return vma->vm_start > gap ? vma->vm_start - gap : 0;
}
/* vm_end_gap(): only VM_GROWSUP stacks (no such arch here) have a gap above. */
static inline uint64_t vm_end_gap(const struct vm_area_struct *vma)
{
	return vma->vm_end;
}
/* is_file_hugepages(): @file stands for the struct file of the mapping (NULL: anonymous). */
static inline bool is_file_hugepages(const struct sim_file *file)
{
	return file && file->kind == FILE_HUGETLB;
}
uint64_t vm_unmapped_area(struct mm_struct *mm, const struct vm_unmapped_area_info *info);
uint64_t generic_get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
				   uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
uint64_t generic_get_unmapped_area_topdown(struct mm_struct *mm, const struct sim_file *file, uint64_t addr,
					   uint64_t len, uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
uint64_t __get_unmapped_area(struct mm_struct *mm, const struct sim_file *file, uint64_t addr, uint64_t len,
			     uint64_t pgoff, unsigned long flags, uint64_t vm_flags);
void arch_pick_mmap_layout(struct mm_struct *mm);
void generic_arch_pick_mmap_layout(struct mm_struct *mm);
uint64_t mmap_base(struct ptsim_machine *m, uint64_t rnd);
bool mmap_is_legacy(const struct ptsim_machine *m);
uint64_t mmap_legacy_base(const struct ptsim_machine *m, uint64_t rnd);
bool mm_pf_randomize(const struct ptsim_machine *m);
void mm_random_init(struct mm_struct *mm);
uint64_t mm_get_random_long(struct mm_struct *mm);
uint64_t arch_mmap_rnd(struct mm_struct *mm);
uint64_t randomize_stack_top(struct mm_struct *mm, uint64_t stack_top);
uint64_t arch_align_stack(struct mm_struct *mm, uint64_t sp);
uint64_t randomize_page(struct mm_struct *mm, uint64_t start, uint64_t range);
uint64_t arch_randomize_brk(struct mm_struct *mm);
int mm_populate(struct mm_struct *mm, uint64_t start, uint64_t len);
int do_munmap(struct mm_struct *mm, uint64_t start, uint64_t len);
int do_mprotect_pkey(struct mm_struct *mm, uint64_t start, uint64_t len, unsigned int prot);
int do_madvise(struct mm_struct *mm, uint64_t start, uint64_t len, enum ptsim_advice advice);
int do_mlock(struct mm_struct *mm, uint64_t start, uint64_t len, bool lock);
void exit_mmap(struct mm_struct *mm);
struct mm_struct *mm_alloc(struct ptsim_machine *m);
void mmput(struct mm_struct *mm);
void mmgrab(struct mm_struct *mm);
void mmdrop(struct mm_struct *mm);
void vma_link_file(struct vm_area_struct *vma);
void vma_link_file_after(struct vm_area_struct *vma, struct vm_area_struct *prev);
void vma_unlink_file(struct vm_area_struct *vma);
struct vm_area_struct *vm_area_dup(struct vm_area_struct *orig);
void vm_area_free(struct ptsim_machine *m, struct vm_area_struct *vma);
void mm_insert_vma(struct mm_struct *mm, struct vm_area_struct *vma);
void mm_remove_vma(struct mm_struct *mm, struct vm_area_struct *vma);
struct sim_file *file_find(struct ptsim_machine *m, const char *name);   /* the named file, or NULL */
struct sim_file *file_get(struct ptsim_machine *m, const char *name, enum file_kind kind, unsigned int page_shift);
void file_put(struct ptsim_machine *m, struct sim_file *f);
uint64_t linear_page_index(const struct vm_area_struct *vma, uint64_t addr);  /* in the file's pages */

/* swap.c: the per-CPU LRU add batches (cpu_fbatches.lru_add); the adds are inline, after put_page(). */
void folio_batch_move_lru(struct ptsim_machine *m, struct folio_batch *fbatch);
void lru_add_drain_cpu(struct ptsim_machine *m, struct sim_cpu *cpu);
void lru_add_drain(struct ptsim_machine *m);
void lru_add_drain_all(struct ptsim_machine *m);
void lru_cache_disable(struct ptsim_machine *m);
void folio_mark_lazyfree(struct ptsim_machine *m, uint32_t pfn);
/* folio_test_lru(): PG_lru, clear only while the folio waits in a CPU's lru_add batch. */
static inline bool folio_test_lru(const struct sim_frame *f)
{
	return !(f->flags & FRAME_F_LRU_ADD);
}

/* memory.c: faults, zap, free_pgtables, copy. */
#define FAULT_FLAG_WRITE 0x1u
#define VM_FAULT_OOM 0x1u
#define VM_FAULT_SIGSEGV 0x2u
#define VM_FAULT_SIGBUS 0x4u
#define VM_FAULT_NOPAGE 0x100u   /* the fault installed nothing; retry the access (mshare's link) */
unsigned int handle_mm_fault(struct vm_area_struct *vma, uint64_t address, unsigned int flags);
/*
 * ptsim: the anonymous faults of a run of accesses in order inside one PTE
 * table (hw_access_run()).  do_anonymous_page_run() is its fault callback:
 * for a none PTE of an anonymous VMA whose PTE table and anon_vma exist it
 * takes the steps handle_mm_fault() would take and returns 0 (or SIM_ENOMEM
 * when the page allocation fails, after counting the fault); it returns 1,
 * having changed nothing, for a page the general path must take.
 * anon_fault_run_end() adds the run's summed counters.
 */
struct anon_fault_run {
	struct mm_struct *mm;
	struct ptsim_machine *m;      /* mm's */
	struct vm_area_struct *vma;   /* checked at the first none PTE (NULL before) */
	pgent_t pte_flags;            /* with vma: the flags of the entries do_anonymous_page() installs there */
	bool write;
	bool hooked;                  /* pt_write()'s hook test, the same for the whole run */
	bool oom;                     /* the last fault failed its page allocation */
	long anon, zero;              /* faults that installed a new page, the zero page */
	struct folio_batch *lru;      /* with vma: the batch folio_add_lru_vma() fills (NULL: none) */
};

/* The faults of the run: each installed a page, or failed (the last one). */
static inline long anon_fault_run_faults(const struct anon_fault_run *r)
{
	return r->anon + r->zero + r->oom;
}
void anon_fault_run_start(struct anon_fault_run *r, struct mm_struct *mm, bool write);
int do_anonymous_page_run(struct anon_fault_run *r, uint64_t address, pte_t *ptep);
void anon_fault_run_end(struct anon_fault_run *r, struct sim_cpu *cpu);

struct zap_details {
	bool even_cows;
	bool reclaim_pt;
	unsigned int zap_flags;
};
#define ZAP_FLAG_DROP_MARKER 0x1u
#define ZAP_FLAG_UNMAP 0x2u

void unmap_page_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr, uint64_t end,
		      struct zap_details *details);
void unmap_single_vma(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
		      struct zap_details *details, bool mm_wr_locked);
/*
 * ptsim: the ma_state that unmap_vmas() and free_pgtables() walk: the VMAs of
 * the mm's tree from a given one on (exit_mmap), or munmap's detached list
 * (the kernel's mt_detach tree), both in address order.
 */
struct vma_walk {
	struct mm_struct *mm;
	bool detached;
};
static inline struct vm_area_struct *vma_walk_next(const struct vma_walk *w, struct vm_area_struct *vma)
{
	return w->detached ? vma->vm_detached_next : vma_next(w->mm, vma);
}
void unmap_vmas(struct mmu_gather *tlb, const struct vma_walk *w, struct vm_area_struct *vma, uint64_t start,
		uint64_t end);
void zap_page_range_single_batched(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr,
				   uint64_t size, struct zap_details *details);
void zap_page_range_single(struct vm_area_struct *vma, uint64_t address, uint64_t size,
			   struct zap_details *details);
void free_pgtables(struct mmu_gather *tlb, const struct vma_walk *w, struct vm_area_struct *vma, uint64_t floor,
		   uint64_t ceiling, bool mm_wr_locked);
void free_pgd_range(struct mmu_gather *tlb, uint64_t addr, uint64_t end, uint64_t floor, uint64_t ceiling);
int copy_page_range(struct vm_area_struct *dst_vma, struct vm_area_struct *src_vma);
uint32_t filemap_get_page(struct ptsim_machine *m, struct sim_file *f, uint64_t index, bool *oom);
void ptep_clear_flush(struct vm_area_struct *vma, uint64_t address, pte_t *ptep);
static inline pgent_t vma_prot_bits(const struct vm_area_struct *vma)
{
	return (vma->vm_flags & VM_EXEC) ? 0 : _PAGE_NX;
}
void mm_counter_add(struct mm_struct *mm, int member, long value);
/* get_mm_rss(): resident pages (file + anon + shmem; not swap entries, not hugetlb). */
static inline long get_mm_rss(const struct mm_struct *mm)
{
	return mm->rss[MM_FILEPAGES] + mm->rss[MM_ANONPAGES] + mm->rss[MM_SHMEMPAGES];
}
/*
 * update_hiwater_rss(): called where the kernel calls it, before RSS goes down
 * (munmap's vms_clear_ptes(), zap_page_range_single_batched(),
 * madvise_free_single_vma(), try_to_unmap_one(), try_to_migrate_one()).  The
 * kernel reads the approximate per-CPU counter (get_mm_counter()) here; ptsim
 * has only the exact one (docs/counters.md).
 */
static inline void update_hiwater_rss(struct mm_struct *mm)
{
	long rss = get_mm_rss(mm);

	if (mm->hiwater_rss < rss)
		mm->hiwater_rss = rss;
}
int mm_counter_of(struct ptsim_machine *m, uint32_t pfn);
void folio_remove_rmap(struct ptsim_machine *m, uint32_t pfn, int nr);

/* rmap.c: page reclaim's deferred flush (mm/rmap.c, mm/vmscan.c) */
int tlbbatch_init(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc);
void tlbbatch_release(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc);
void try_to_unmap_flush(struct ptsim_machine *m, struct tlbflush_unmap_batch *ubc);
void reclaim_pages(struct vm_area_struct *vma, const uint64_t *addrs, unsigned int nr,
		   struct tlbflush_unmap_batch *ubc);
void flush_tlb_batched_pending_now(struct mm_struct *mm);
/*
 * flush_tlb_batched_pending - before changing PTEs of @mm under the PTE lock:
 * if reclaim cleared PTEs of @mm whose flush it deferred and nobody flushed
 * since, flush the whole mm now (flush_tlb_mm()).
 */
static inline void flush_tlb_batched_pending(struct mm_struct *mm)
{
	if (PTSIM_UNLIKELY(mm->tlb_flush_batched_pending != mm->tlb_flush_batched_flushed))
		flush_tlb_batched_pending_now(mm);
}

/* hugetlb.c */
unsigned int hugetlb_fault(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t address, unsigned int flags);
void __unmap_hugepage_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t start, uint64_t end,
			    uint32_t folio, unsigned int zap_flags);
void hugetlb_zap_begin(struct vm_area_struct *vma, uint64_t *start, uint64_t *end);
void hugetlb_zap_end(struct vm_area_struct *vma, struct zap_details *details);
int copy_hugetlb_page_range(struct mm_struct *dst, struct mm_struct *src, struct vm_area_struct *dst_vma,
			    struct vm_area_struct *src_vma);
long hugetlb_change_protection(struct vm_area_struct *vma, uint64_t address, uint64_t end, uint64_t newprot_flags);
void hugetlb_split(struct vm_area_struct *vma, uint64_t addr);
uint64_t move_hugetlb_page_tables(struct vm_area_struct *vma, struct vm_area_struct *new_vma,
				  uint64_t old_addr, uint64_t new_addr, uint64_t len);
uint64_t huge_page_size(const struct vm_area_struct *vma);
bool hugetlb_try_to_migrate_one(struct vm_area_struct *vma, uint64_t address, uint32_t pfn);
void hugetlb_remove_migration_pte(struct vm_area_struct *vma, uint64_t address, uint32_t src, uint32_t dst);
bool hugetlb_fault_needs_i_mmap(struct vm_area_struct *vma, uint64_t address);
/* i_mmap_rwsem held across an IPI wait (hugetlb.c): only blocked operations leave it held. */
void i_mmap_lock_write(struct ptsim_machine *m, struct sim_file *mapping);
void i_mmap_unlock_write(struct ptsim_machine *m, struct sim_file *mapping);
void i_mmap_release_held(struct ptsim_machine *m, struct sim_cpu *cpu);

/* mremap.c: mremap(old, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, new). */
#define MREMAP_MAYMOVE 1u
#define MREMAP_FIXED 2u
#define MREMAP_DONTUNMAP 4u
int do_mremap(struct mm_struct *mm, uint64_t addr, uint64_t old_len, uint64_t new_len, unsigned int flags,
	      uint64_t new_addr, uint64_t *out);

/* move_page_tables()'s request (mm/mremap.c): from [old_addr, old_end) of @old to new_addr in @new. */
struct pagetable_move_control {
	struct vm_area_struct *old;   /* source VMA */
	struct vm_area_struct *new;   /* destination VMA */
	uint64_t old_addr;            /* may be realigned down */
	uint64_t old_end;
	uint64_t new_addr;            /* may be realigned down */
	uint64_t len_in;              /* bytes requested, from the original old_addr */
	bool for_stack;               /* exec's stack move: source and destination in one VMA */
};
uint64_t move_page_tables(struct pagetable_move_control *pmc);

/* exec.c: the new program's stack (fs/exec.c, mm/vma_exec.c). */
int create_init_stack_vma(struct mm_struct *mm, uint64_t top, uint64_t nr_pages, struct vm_area_struct **vmap);
int setup_arg_pages(struct mm_struct *mm, struct vm_area_struct *vma, uint64_t stack_top, uint64_t stack_len);
int relocate_vma_down(struct vm_area_struct *vma, uint64_t shift);

/* migrate.c: move_pages(2) of the hugetlb folio mapped at @addr (try_to_migrate()). */
int do_move_hugetlb_page(struct mm_struct *mm, uint64_t addr);

/*
 * mshare.c: page tables shared through an msharefs host mm (mshare RFC v3
 * and its 2025 postings).  The hooks the rest of mm calls; each is reached
 * only for VM_SHARED_PT VMAs, host mms (mm->mshare) or FILE_MSHARE files.
 */
void mshare_select_era(struct ptsim_machine *m);
struct mshare_data *mshare_find(struct ptsim_machine *m, const char *name);
uint64_t mshare_info(const struct ptsim_machine *m);   /* the sharing granularity (mshare_info file) */
int msharefs_set_size(const struct ptsim_machine *m, uint64_t start, uint64_t size);
int mshare_create(struct ptsim_machine *m, const char *name, uint64_t start, uint64_t size);
int msharefs_create_mapping(struct mshare_data *md, const struct ptsim_mmap_args *a);
bool mshare_range_ok(const struct mshare_data *md, uint64_t start, uint64_t len);
struct mm_struct *mshare_host_mm(const struct mshare_data *md);
void msharefs_unlink(struct mshare_data *md);
unsigned int find_shared_vma(struct vm_area_struct **vmap, uint64_t *addrp);
bool mshare_access_error(const struct vm_area_struct *host_vma, unsigned int flags);
int msharefs_mmap(struct vm_area_struct *vma);
void mshare_unmap_page_range(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t addr, uint64_t end);
bool mshare_free_pgtables(struct mmu_gather *tlb, struct vm_area_struct *vma, uint64_t floor, uint64_t ceiling);
int mshare_vm_op_mprotect(struct vm_area_struct *vma, uint64_t start, uint64_t end, uint64_t newflags);
/* A host mm's flush (its mmu_gather's, or flush_tlb_*()) goes to the sharers as mshare_flush says. */
void mshare_flush_sharers(const struct mmu_gather *tlb);
void mshare_flush_sharers_range(struct mm_struct *mm, uint64_t start, uint64_t end, unsigned int stride_shift,
				bool freed_tables);
/* @mm is going (__mmdrop()): the links its page tables still hold go with its PGD page. */
void mshare_forget_mm(struct mm_struct *mm);
/* The oracle: table @pfn is freed while other mms' tables still link it (reported, then cut). */
void mshare_report_linked_table(struct ptsim_machine *m, uint32_t pfn);
/* The msharefs file is evicted: its host mm goes (mshare_evict_inode()). */
void mshare_evict_inode(struct ptsim_machine *m, struct sim_file *f);
/* Machine teardown without the kernel paths: the regions' memory; their host mms join m->mms for the caller. */
void mshare_free_everything(struct ptsim_machine *m);
/* The host mm of the region after @prev's (NULL: the first); NULL at the end. */
struct mm_struct *mshare_next_host(struct ptsim_machine *m, const struct mm_struct *prev);

/* pt_reclaim.c (mm/pt_reclaim.c, v6.14 - v6.19; its 7.0 fold into mm/memory.c) */
void pt_reclaim_select_era(struct ptsim_machine *m);
/* mmu_gather.c: the table-freeing configuration's functions (after the arch is set up). */
void mmu_gather_select_era(struct ptsim_machine *m);
void hugetlb_select_era(struct ptsim_machine *m);
void count_unshare_broadcast(struct ptsim_machine *m);
bool reclaim_pt_is_enabled(struct ptsim_machine *m, uint64_t start, uint64_t end, struct zap_details *details);
bool try_get_and_clear_pmd(struct mm_struct *mm, pmd_t *pmd, pmd_t *pmdval);
void free_pte(struct mm_struct *mm, uint64_t addr, struct mmu_gather *tlb, pmd_t pmdval);
void try_to_free_pte(struct mm_struct *mm, pmd_t *pmd, uint64_t addr, struct mmu_gather *tlb);

/* rmap.c: page reclaim of anonymous folios to swap (ptsim_swapout()). */
int swapout_range(struct mm_struct *mm, uint64_t start, uint64_t end);

/* fork.c */
int dup_mmap(struct mm_struct *mm, struct mm_struct *oldmm);
void check_mm(struct mm_struct *mm);

/* sched.c: tasks, context switches. */
struct sim_task *task_lookup(struct ptsim_machine *m, int id);
void sched_switch_to(struct ptsim_machine *m, struct sim_cpu *cpu, struct sim_task *next);
void sched_cpu_idle(struct ptsim_machine *m, struct sim_cpu *cpu);
int mm_task_add(struct mm_struct *mm, struct sim_task *t);
void mm_task_del(struct mm_struct *mm, struct sim_task *t);
int sched_run_other(struct ptsim_machine *m, struct sim_cpu *cpu);
struct mm_struct *mm_alloc_outside(struct ptsim_machine *m);
int mm_lowest_task(struct mm_struct *mm);

/* smp.c: cross-CPU calls, waiting, deferred frees. */
int cpumask_alloc(struct ptsim_machine *m, struct cpumask *mask);
void cpumask_release(struct ptsim_machine *m, struct cpumask *mask);
static inline bool cpumask_test_cpu(unsigned int cpu, const struct cpumask *mask)
{
	return mask->bits[cpu >> 6] & (1ull << (cpu & 63));
}
static inline void cpumask_set_cpu(unsigned int cpu, struct cpumask *mask)
{
	mask->bits[cpu >> 6] |= 1ull << (cpu & 63);
}
static inline void cpumask_clear_cpu(unsigned int cpu, struct cpumask *mask)
{
	mask->bits[cpu >> 6] &= ~(1ull << (cpu & 63));
}
/* Next set CPU >= from, or nr_cpus (a word at a time; inline: every IPI target loop runs it). */
static inline unsigned int cpumask_next(const struct cpumask *mask, unsigned int from, unsigned int nr_cpus)
{
	if (from >= nr_cpus)
		return nr_cpus;
	unsigned int w = from >> 6;
	uint64_t word = mask->bits[w] & (~0ull << (from & 63));

	for (;;) {
		if (word) {
			unsigned int c = (w << 6) + (unsigned int)__builtin_ctzll(word);
			return c < nr_cpus ? c : nr_cpus;
		}
		if (++w >= mask->nwords)
			return nr_cpus;
		word = mask->bits[w];
	}
}
unsigned int cpumask_weight(const struct cpumask *mask);
#define for_each_cpu(c, mask, n) for ((c) = cpumask_next((mask), 0, (n)); (c) < (n); (c) = cpumask_next((mask), (c) + 1, (n)))
/* Run func on each CPU of targets (self excluded by the caller) by IPI; wait if asked. */
/* @mm: the mm @info refers to (NULL if none), kept alive while a call waits in a queue. */
void smp_call_function_many(struct ptsim_machine *m, const unsigned int *targets, unsigned int nr,
			    smp_call_func_t func, const void *info, size_t info_size, struct mm_struct *mm,
			    enum ipi_reason reason, bool wait);
void smp_call_function(struct ptsim_machine *m, smp_call_func_t func, enum ipi_reason reason, bool wait);
/* Does CPU @cpu get the call?  (The kernel's smp_cond_func_t.) */
typedef bool (*smp_cond_func_t)(struct ptsim_machine *m, unsigned int cpu, const void *info);
/* Run func on each CPU of mask for which cond (NULL: each) says yes, self included, others by IPI. */
void on_each_cpu_cond_mask(struct ptsim_machine *m, smp_cond_func_t cond, smp_call_func_t func, const void *info,
			   size_t info_size, struct mm_struct *mm, enum ipi_reason reason, bool wait,
			   const struct cpumask *mask);
/* Release the IPIs queued on cpu (IRQs back on), completing waits. */
void smp_irqs_on(struct ptsim_machine *m, struct sim_cpu *cpu);
/* A CPU disables IRQs (starts a GUP-fast walk). */
void smp_irqs_off(struct ptsim_machine *m, struct sim_cpu *cpu);
/* Add the deferred per-CPU interrupt counts of broadcasts (sim_stats_fold() calls it). */
void smp_fold_broadcasts(struct ptsim_machine *m);
bool cpu_blocked(const struct sim_cpu *cpu);
/* Is @sender's operation waiting for a call queued at @target (IRQs off there)? */
bool cpu_waits_for(const struct sim_cpu *sender, const struct sim_cpu *target);
void tlb_remove_table_sync_one(struct ptsim_machine *m);
/* Free a frame now, or after the current CPU's outstanding IPI waits complete. */
void free_frame_deferred(struct ptsim_machine *m, uint32_t pfn);
static inline void free_frame_after_waits(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_cpu *cpu = m->cur;

	if (PTSIM_UNLIKELY(cpu && cpu->pending_acks))
		free_frame_deferred(m, pfn);
	else
		release_frame_now(m, pfn);
}

/*
 * put_page - drop a reference; the last one frees the frame (after the
 * current CPU's outstanding IPI waits, if any).
 */
static inline void put_page(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	if (f->kind == FRAME_ZERO)
		return;
	if (NEVER(m, f->refcount == 0))
		return;
	if (--f->refcount == 0)
		free_frame_after_waits(m, pfn);
}

/*
 * swap.c's adds, inline: every anonymous fault takes this path.
 * folio_batch_add_and_move() - __folio_batch_add_and_move(): the batch takes a
 * reference; the add that fills it moves the whole batch (folio_batch_add()
 * returned no space left).  Every ptsim folio is small
 * (folio_may_be_lru_cached()) and the cache is never disabled across an event
 * (lru_cache_disabled()).
 */
static inline void folio_batch_add_and_move(struct ptsim_machine *m, struct folio_batch *fbatch, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	f->refcount++;   /* folio_get() */
	f->flags |= FRAME_F_LRU_ADD;
	fbatch->folios[fbatch->nr++] = pfn;
	if (PTSIM_UNLIKELY(fbatch->nr == FOLIO_BATCH_SIZE))
		folio_batch_move_lru(m, fbatch);
}

/*
 * folio_add_lru - queue a new folio for the LRU on the current CPU.
 * ptsim: without a current CPU (setting up, outside any task) the folio is
 * taken as on the LRU at once.
 */
static inline void folio_add_lru(struct ptsim_machine *m, uint32_t pfn)
{
	if (m->cur)
		folio_batch_add_and_move(m, &m->cur->lru_add, pfn);
}

/* folio_add_lru_vma(): a VM_LOCKED VMA's folio goes to the mlock batch (mlock_new_folio(), not modelled). */
static inline void folio_add_lru_vma(struct vm_area_struct *vma, uint32_t pfn)
{
	if ((vma->vm_flags & (VM_LOCKED | VM_SPECIAL)) == VM_LOCKED)
		return;
	folio_add_lru(vma->vm_mm->machine, pfn);
}

/* rcu.c */
void call_rcu(struct ptsim_machine *m, struct rcu_head *head, void (*func)(struct ptsim_machine *, struct rcu_head *));
void rcu_reader_start(struct ptsim_machine *m, uint64_t *epoch);
void rcu_reader_end(struct ptsim_machine *m, uint64_t *epoch);
void rcu_process_callbacks(struct ptsim_machine *m);   /* at event boundaries */
size_t rcu_pending(const struct ptsim_machine *m);

/* oracle.c (oracle_check_free() is declared with phys_free()) */
/* A write into a page table while some GUP-fast walker is stale (m->nr_stale_walkers). */
void oracle_check_table_write(struct ptsim_machine *m, const pgent_t *ep, pgent_t old, pgent_t val);
void oracle_report(struct ptsim_machine *m, enum ptsim_violation_kind kind, int cpu, uint64_t addr, uint64_t pfn,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* gup.c */
int gup_fast_begin(struct ptsim_machine *m, struct sim_cpu *cpu, uint64_t addr);
void gup_fast_end(struct ptsim_machine *m, struct sim_cpu *cpu);
/* Drop a hold taken on a table at generation @gen (no-op if it was freed since). */
void table_unhold(struct ptsim_machine *m, uint32_t pfn, uint32_t gen);
/* @mm no longer maps the shared PMD table @pt: its walkers inside @pt are now stale. */
void gup_fast_table_unshared(struct ptsim_machine *m, struct mm_struct *mm, const struct ptdesc *pt);

/* stats.c */
int sim_mark_take(struct ptsim_machine *m, const char *name, const uint64_t *iteration, unsigned int depth);
void sim_marks_release(struct ptsim_machine *m);
/*
 * The last user of @mm is leaving (exit, or exec replacing it): record its
 * figures as /proc/PID/status shows them then.  sim_exit_reserve() first,
 * before the operation changes anything (the limit, the room); then
 * sim_exit_record() cannot fail.
 */
int sim_exit_reserve(struct ptsim_machine *m);
void sim_exit_record(struct ptsim_machine *m, int task, struct mm_struct *mm, enum ptsim_exit_cause cause);
void sim_exits_release(struct ptsim_machine *m);
int sim_event_result_add(struct ptsim_machine *m, const struct ptsim_event_result *r);
void sim_event_results_release(struct ptsim_machine *m);
/* The figures of every live mm, creation order, in *@out (sim_free: *@nr entries).  false: out of memory. */
bool sim_live_mms(struct ptsim_machine *m, struct ptsim_mm_info **out, unsigned int *nr);
void sim_stats_fold(struct ptsim_machine *m);

/* machine.c */
void mmu_gather_rcu_release(struct ptsim_machine *m, struct rcu_head *head);
void machine_free_everything(struct ptsim_machine *m);
/* The output step of splitmix64 (the machine's generator and each mm's layout stream). */
static inline uint64_t splitmix64_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t sim_rand(struct ptsim_machine *m);

/* The CPU running the current operation (the kernel's smp_processor_id()). */
static inline struct sim_cpu *this_cpu(struct ptsim_machine *m) { return m->cur; }

#endif
