/*
 * The simulated machine and everything a trace can do to it.
 *
 * A trace is a list of these calls: every trace op has a function here, so a
 * unit test can drive a machine directly.  All calls return 0 or a negative
 * error code (errors.h); ptsim_machine_errmsg() then says what was wrong,
 * naming the parameter ("field") and, when the call came from a trace, the
 * event.  A simulated program error (an access outside any mapping, i.e. a
 * SIGSEGV) is not a library error: it is counted in the statistics.
 *
 * Task ids are non-negative integers chosen by the caller.  Addresses and
 * lengths are in bytes and must be page-aligned unless said otherwise.
 *
 * Out of memory has two codes that never mix: -ENOMEM is only the simulated
 * kernel's answer (mprotect, madvise, mlock, munlock and swapout of a range
 * with a hole return it as the system call does; the message says "part of
 * the range is not mapped"); PTSIM_ENOMEM_HOST is the simulator itself failing
 * to allocate host memory (any call; the message says "out of memory").
 *
 * Memory: every simulated page costs host memory (about 90 bytes per 4 KiB
 * page touched, plus 4 KiB per page table), so touching 1 TiB needs about
 * 24 GB.  Two limits keep a workload from eating the host: max_frames
 * (frames in use, default 16 Mi = 64 GiB of base pages; a huge page is one
 * frame) and max_pgtables (page-table pages, default 256 Ki = 1 GiB of
 * tables), set like variants ("set" / --set / ptsim_config.set).  At a limit
 * the simulated kernel takes its out-of-memory path and the call returns
 * PTSIM_ELIMIT naming the limit and the figures (ptsim has no OOM killer: a
 * trace stops there).  docs/reliability.md lists every limit.
 *
 * Misuse: every function checks its handles and pointers.  A NULL, destroyed
 * or foreign machine handle gets -EINVAL (functions that return a value: 0 or
 * NULL) and ptsim_machine_errmsg() then says so; a NULL pointer argument gets
 * -EINVAL with a message naming it.  A destroyed handle is recognised as long
 * as its memory was not reused (destroy clears a magic number); ASan builds
 * report the use after free itself.
 *
 * Threading: a machine is not thread-safe, but different machines are fully
 * independent and may run in parallel threads.
 */
#ifndef PTSIM_MACHINE_H
#define PTSIM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ptsim/config.h"
#include "ptsim/export.h"

struct ptsim_machine;

/**
 * ptsim_machine_create - build a machine from @cfg.
 * @out: receives the machine; the caller owns it until ptsim_machine_destroy().
 * @errbuf/@errlen: on failure, receives the reason (may be NULL).
 * Return: 0, -EINVAL / PTSIM_EBADCONFIG for a bad configuration, PTSIM_ENOMEM_HOST.
 */
PTSIM_API int ptsim_machine_create(struct ptsim_machine **out, const struct ptsim_config *cfg,
				   char *errbuf, size_t errlen);
/** ptsim_machine_destroy - free the machine and everything it owns (NULL is allowed). */
PTSIM_API void ptsim_machine_destroy(struct ptsim_machine *m);
/**
 * ptsim_machine_errmsg - detail of the last failed call on @m, e.g.
 * "event 1832 (munmap): field 'addr': 0x7f0000001001 is not page-aligned".
 * Borrowed; valid until the next call on @m.
 */
PTSIM_API const char *ptsim_machine_errmsg(const struct ptsim_machine *m);

/* ---- tasks, CPUs and time ---- */

/** ptsim_spawn - new process @task (fresh mm) running on @cpu. */
PTSIM_API int ptsim_spawn(struct ptsim_machine *m, int task, unsigned int cpu);
/* As the @cpu of ptsim_fork() and ptsim_thread(): the new task exists but runs nowhere until a ptsim_run(). */
#define PTSIM_CPU_NONE (~0u)
/** ptsim_fork - @task (running) forks @child, which then runs on @cpu (PTSIM_CPU_NONE: not yet). */
PTSIM_API int ptsim_fork(struct ptsim_machine *m, int task, int child, unsigned int cpu);
/** ptsim_thread - new thread @thread in @task's mm, running on @cpu (PTSIM_CPU_NONE: not yet). */
PTSIM_API int ptsim_thread(struct ptsim_machine *m, int task, int thread, unsigned int cpu);
/**
 * ptsim_clone_vm - new task @child sharing @task's mm but in a thread group of
 * its own (clone(CLONE_VM) without CLONE_THREAD: vfork(), posix_spawn()):
 * like ptsim_thread(), except that its exec replaces only its own mm use and
 * kills no thread of @task (de_thread() works within a thread group).
 */
PTSIM_API int ptsim_clone_vm(struct ptsim_machine *m, int task, int child, unsigned int cpu);
/** ptsim_exit - running @task exits (exit_mm; exit_mmap if it was the last user). */
PTSIM_API int ptsim_exit(struct ptsim_machine *m, int task);
/** ptsim_run - @task now runs on @cpu (context switch; migrates it if it ran elsewhere). */
PTSIM_API int ptsim_run(struct ptsim_machine *m, int task, unsigned int cpu);
/**
 * ptsim_run_other - @cpu runs a task of a process outside the simulation (the
 * trace's `run {cpu, other: true}`): a real switch to another mm, so the CPU
 * stops being lazy on the mm it had, and leaves it as the kernel does (x86:
 * its mm_cpumask bit stays until a later flush finds the CPU elsewhere and
 * skips it).  The task that ran there stops running.  That other process does
 * nothing the statistics or reports show.
 */
PTSIM_API int ptsim_run_other(struct ptsim_machine *m, unsigned int cpu);
/** ptsim_sleep - running @task blocks; its CPU goes idle (lazy TLB). */
PTSIM_API int ptsim_sleep(struct ptsim_machine *m, int task);
/** ptsim_advance - advance the simulated clock by @ns nanoseconds. */
PTSIM_API int ptsim_advance(struct ptsim_machine *m, uint64_t ns);

/* ---- address space operations (the task must be running; it runs them on its CPU) ---- */

#define PTSIM_PROT_NONE 0u
#define PTSIM_PROT_READ 1u
#define PTSIM_PROT_WRITE 2u
#define PTSIM_PROT_EXEC 4u

enum ptsim_map_kind {
	PTSIM_MAP_ANON = 0,    /* anonymous (MAP_SHARED anon is shmem-backed, like the kernel) */
	PTSIM_MAP_FILE = 1,    /* regular file (page cache, RSS counted as file pages) */
	PTSIM_MAP_SHMEM = 2,   /* tmpfs/memfd file (RSS counted as shmem) */
	PTSIM_MAP_HUGETLB = 3, /* hugetlbfs file or MAP_HUGETLB memory */
	PTSIM_MAP_MSHARE = 4,  /* an mshare region (file: its name; MAP_SHARED): page tables shared, see below */
};

/*
 * How ptsim_mmap() treats ptsim_mmap_args.addr.  The default (0) keeps the
 * original meaning: a non-zero address is fixed and an overlap with an
 * existing mapping is an input error (PTSIM_EOVERLAP); address 0 lets the
 * kernel choose.
 */
enum ptsim_map_fixed {
	PTSIM_MAP_FIXED_DEFAULT = 0,   /* addr != 0: fixed, overlap = PTSIM_EOVERLAP; addr 0: kernel's choice */
	PTSIM_MAP_HINT = 1,            /* no MAP_FIXED: addr is a hint (0: none); the kernel chooses */
	PTSIM_MAP_NOREPLACE = 2,       /* MAP_FIXED_NOREPLACE: overlap = -EEXIST, as the system call */
	PTSIM_MAP_REPLACE = 3,         /* MAP_FIXED: whatever was mapped there is unmapped first */
};

struct ptsim_mmap_args {
	uint64_t addr;          /* address (see fixed; page-aligned unless a hint) */
	uint64_t len;           /* bytes, page-aligned (huge-page-aligned for hugetlb) */
	unsigned int prot;      /* PTSIM_PROT_* */
	enum ptsim_map_kind kind;
	bool shared;            /* MAP_SHARED (else MAP_PRIVATE) */
	const char *file;       /* file name for file/shmem/hugetlb; NULL: anonymous object */
	uint64_t offset;        /* file offset in bytes */
	uint64_t page_size;     /* hugetlb page size: 2 MiB (default) or 1 GiB; 0 = default */
	bool populate;          /* MAP_POPULATE: fault every page in now */
	enum ptsim_map_fixed fixed;   /* how addr is used (0: the original meaning) */
};

/**
 * ptsim_mmap_addr - mmap(2) by the running @task; the address the mapping got
 * goes to *@out_addr (may be NULL).
 *
 * Without a fixed address the kernel's allocator chooses, as 6.18 does
 * (get_unmapped_area(): top-down below the mm's mmap_base, PMD-aligned for
 * anonymous lengths that are multiples of PMD_SIZE and for regular files,
 * huge-page-aligned for hugetlb; a free hint is taken as given).  The layout
 * is not randomized (docs/architecture.md, "Address-space layout").
 * Return: 0; -EEXIST for PTSIM_MAP_NOREPLACE over a mapping; -ENOMEM when no
 * free range fits; -EINVAL for a PTSIM_MAP_REPLACE range that splits a hugetlb
 * page; PTSIM_EOVERLAP for the default mode's fixed address over a mapping.
 */
PTSIM_API int ptsim_mmap_addr(struct ptsim_machine *m, uint64_t *out_addr, int task,
			      const struct ptsim_mmap_args *args);
/** ptsim_mmap - ptsim_mmap_addr() without the address. */
PTSIM_API int ptsim_mmap(struct ptsim_machine *m, int task, const struct ptsim_mmap_args *args);

/**
 * ptsim_file_cache - pages [@offset, @offset + @len) of file @file are in its
 * page cache (read earlier, by another process or the kernel): a later read
 * fault of a mapping of it maps them by fault-around, as the kernel does for
 * pages already cached.  @kind is PTSIM_MAP_FILE or PTSIM_MAP_SHMEM; the file
 * is created if it does not exist (a name used with another kind: -EEXIST).
 * @offset and @len are page-aligned, @len not 0.  Nothing is mapped; the
 * pages count in no RSS until they are.
 */
PTSIM_API int ptsim_file_cache(struct ptsim_machine *m, const char *file, enum ptsim_map_kind kind, uint64_t offset,
			       uint64_t len);

/* One mapping exec makes: an ELF segment (MAP_FIXED|MAP_PRIVATE unless @shared), or vdso-like text. */
struct ptsim_exec_segment {
	uint64_t addr, len;         /* page-aligned */
	unsigned int prot;          /* PTSIM_PROT_* */
	enum ptsim_map_kind kind;   /* PTSIM_MAP_ANON or PTSIM_MAP_FILE */
	const char *file;           /* file name (PTSIM_MAP_FILE) */
	uint64_t offset;            /* file offset in bytes, page-aligned */
	bool shared;
};

/* The new program's image for ptsim_exec(); all zero: a stack and nothing else. */
struct ptsim_exec_args {
	const struct ptsim_exec_segment *segments;
	size_t nr_segments;
	uint64_t brk;               /* start of the heap; 0: the page-aligned end of the highest segment */
	uint64_t stack_addr;        /* the stack VMA; 0: ending at the layout's stack top */
	uint64_t stack_len;         /* 0: 128 KiB below the pages of arguments */
	/*
	 * Pages the arguments and environment filled at the top of the temporary
	 * stack.  0: the stack is built where it ends, with one page of
	 * arguments, and nothing moves.  N: built at STACK_TOP_MAX with N pages
	 * and moved down to its place by setup_arg_pages() (relocate_vma_down():
	 * a ranged flush of the moved pages, a flush of the freed tables) with
	 * the new mm already loaded, as the kernel does when the stack's top lies
	 * below STACK_TOP_MAX (randomized, or a 47-bit window with 5-level paging).
	 * At most what execve() accepts: 6 MiB of strings, one page more.
	 */
	uint64_t arg_pages;
};

/**
 * ptsim_exec - the running @task execs a new program (execve(2) as 6.18's
 * begin_new_exec() does it): the other threads of its thread group exit
 * (de_thread(); processes sharing the mm by CLONE_VM alone stay), the task
 * gets a fresh mm, its CPU switches to it (activate_mm()) and the old mm is
 * put (torn down as at exit if that was its last user).  The new mm has the
 * default layout (mmap_base, docs/architecture.md), a VM_GROWSDOWN stack
 * whose top pages (the arguments) are written -- built at STACK_TOP_MAX and
 * moved down after the switch when @args->arg_pages says so (the move's
 * flushes are the exec'ing CPU's) --, the segments mapped in order
 * (MAP_FIXED: a later one replaces what an earlier one mapped), and its heap
 * at @args->brk.  @args may be NULL.
 * Return: 0, or an input error naming the field ("segments[2]", "stack.len",
 * "stack.arg_pages", "brk").
 */
PTSIM_API int ptsim_exec(struct ptsim_machine *m, int task, const struct ptsim_exec_args *args);

/**
 * ptsim_brk - brk(2) by the running @task: the break moves to @brk (the
 * heap VMA grows as do_brk_flags() does it, or shrinks with munmap's page-table
 * freeing and flushes).  As the system call, a request the kernel refuses
 * (below the heap's start, into the next mapping or within a page of it, or
 * within the stack guard gap below a stack) leaves the break unchanged and is
 * not an error: *@out_brk (may be NULL) receives the break afterwards, so
 * @brk 0 reads it.  Return: 0; -EINVAL if the mm has no heap (a spawned,
 * never exec'd process).
 */
PTSIM_API int ptsim_brk(struct ptsim_machine *m, uint64_t *out_brk, int task, uint64_t brk);
/** ptsim_sbrk - ptsim_brk() to the current break plus @increment (the trace's "+N" / "-N"). */
PTSIM_API int ptsim_sbrk(struct ptsim_machine *m, uint64_t *out_brk, int task, int64_t increment);
PTSIM_API int ptsim_munmap(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len);
PTSIM_API int ptsim_mprotect(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len,
			     unsigned int prot);

enum ptsim_advice {
	PTSIM_MADV_DONTNEED = 0,
	PTSIM_MADV_FREE = 1,
	PTSIM_MADV_DONTNEED_LOCKED = 2,
	PTSIM_MADV_GUARD_INSTALL = 3,   /* guard markers: an access is a SIGSEGV (6.13+) */
	PTSIM_MADV_GUARD_REMOVE = 4,
	PTSIM_MADV_COLD = 5,      /* deactivate: clear the young bits (one gathered flush per VMA) */
	PTSIM_MADV_PAGEOUT = 6,   /* reclaim now: file pages unmapped and dropped; no swap for anon */
};
PTSIM_API int ptsim_madvise(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len,
			    enum ptsim_advice advice);
PTSIM_API int ptsim_mlock(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len);
PTSIM_API int ptsim_munlock(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len);

/**
 * ptsim_swapout - reclaim the anonymous pages of [@addr, @addr + @len) in the
 * running @task's mm to swap, as page reclaim does (try_to_unmap_one() on each
 * folio, then the page is freed): each present PTE mapping an anonymous page
 * that no other PTE maps and nobody pins is cleared and flushed and becomes a
 * swap entry (RssAnon -1, VmSwap +1).  Other entries are left alone.  The
 * range must be mapped (else -ENOMEM after doing the mapped parts).
 */
PTSIM_API int ptsim_swapout(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len);

/**
 * ptsim_touch - the running @task accesses every @stride bytes of
 * [@addr, @addr + @len) on its CPU (through the TLB, then the page walk, then
 * the fault handler).  @stride 0 means one base page.  Addresses need not be
 * aligned.  Accesses outside any VMA count as simulated SIGSEGVs.
 */
PTSIM_API int ptsim_touch(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len,
			  uint64_t stride, bool write);

/**
 * ptsim_touch_random - like ptsim_touch(), but @count accesses, each at a
 * random @stride-aligned offset of [@addr, @addr + @len) drawn from the
 * machine's own seeded generator (ptsim_config.seed): the same seed and the
 * same calls give the same addresses.  @stride 0 means one base page.
 */
PTSIM_API int ptsim_touch_random(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len,
				 uint64_t stride, uint64_t count, bool write);

/**
 * ptsim_mremap - mremap(@old_addr, @len, @len, MREMAP_MAYMOVE | MREMAP_FIXED,
 * @new_addr) by the running @task: move the range (inside one mapping) to
 * @new_addr, keeping its length.  The destination must be free (as for
 * ptsim_mmap(): PTSIM_EOVERLAP otherwise).  The kernel's own failures are
 * returned as it returns them: -EFAULT (the range is not inside one mapping),
 * -EINVAL (the ranges overlap; a hugetlb address not huge-page-aligned).
 */
PTSIM_API int ptsim_mremap(struct ptsim_machine *m, int task, uint64_t old_addr, uint64_t len,
			   uint64_t new_addr);

#define PTSIM_MREMAP_MAYMOVE 1u     /* MREMAP_MAYMOVE */
#define PTSIM_MREMAP_FIXED 2u       /* MREMAP_FIXED: at new_addr, whatever is there unmapped first */
#define PTSIM_MREMAP_DONTUNMAP 4u   /* MREMAP_DONTUNMAP: the source stays mapped, empty */

/**
 * ptsim_mremap_flags - mremap(2) by the running @task in full: shrink in
 * place (the tail unmapped), grow in place when the range ends its mapping
 * and the gap above allows, else move (with PTSIM_MREMAP_MAYMOVE: where the
 * kernel's allocator puts it; with PTSIM_MREMAP_FIXED: to @new_addr, the
 * destination unmapped first) with move_page_tables() — whole page tables
 * where aligned, PTE by PTE otherwise, each with the kernel's flush — then
 * the source unmapped unless PTSIM_MREMAP_DONTUNMAP.  The resulting address
 * goes to *@out_addr (may be NULL).  Return: 0, or the system call's
 * -EINVAL, -EFAULT, -ENOMEM (messages say which rule).
 */
PTSIM_API int ptsim_mremap_flags(struct ptsim_machine *m, uint64_t *out_addr, int task, uint64_t old_addr,
				 uint64_t old_len, uint64_t new_len, unsigned int flags, uint64_t new_addr);

/**
 * ptsim_move_pages - move_pages(2) of one page by the running @task: migrate
 * the file-backed hugetlb folio its mm maps at @addr to a new folio.  Every
 * mapping of it, in every mm, is found through the file's mappings (rmap) and
 * unmapped — a shared PMD table is unshared instead — then the new folio is
 * mapped where the old one was.  Return: 0; -EFAULT (no mapping at @addr),
 * -ENOENT (no page there), -EINVAL (not a file-backed hugetlb page),
 * -EBUSY (the page has extra references, e.g. a GUP-fast walker's).
 */
PTSIM_API int ptsim_move_pages(struct ptsim_machine *m, int task, uint64_t addr);

/* ---- mshare: page tables shared across processes (docs/mshare.md) ---- */

/*
 * An mshare region (the mshare RFC v3, "Add support for shared PTEs across
 * processes", and its 2025 postings as variants): an msharefs file named
 * @name with a host mm of its own (no task) that holds the VMAs and every
 * page table of [@addr, @addr + @len).  A process maps it with ptsim_mmap()
 * (kind PTSIM_MAP_MSHARE, file @name, MAP_SHARED, at an aligned address inside
 * the region): its first fault there links its top-level entry to the host's
 * table, and every fault is handled in the host mm, whose tables all
 * processes then walk.  @task may be PTSIM_NO_TASK for the calls that flush
 * nothing (create, map); the others run on @task's CPU (the process that
 * makes the call), and flush the sharers as the variant mshare_flush says.
 */
#define PTSIM_NO_TASK (-1)

/**
 * ptsim_mshare_create - create the msharefs file @name and set its region
 * (MSHAREFS_SET_SIZE).  Return: 0; -EINVAL (the ioctl's answer) unless @addr
 * and @addr + @len are multiples of ptsim_mshare_align(); -EEXIST if a file
 * of that name exists.
 */
PTSIM_API int ptsim_mshare_create(struct ptsim_machine *m, int task, const char *name, uint64_t addr,
				  uint64_t len);
/**
 * ptsim_mshare_map - map an object into region @name (MSHAREFS_CREATE_MAPPING):
 * @args->addr/len (inside the region, fixed, nothing replaced), prot, kind
 * (anonymous shared memory; files, shmem and anonymous hugetlb too with
 * mshare=v3_2025), file, offset, page_size; @args->shared must be true and
 * populate false.  Return: 0; -EINVAL (outside the region, a kind the posting
 * refuses, not shared); -EEXIST (over a mapping); -ENOENT (no such region).
 */
PTSIM_API int ptsim_mshare_map(struct ptsim_machine *m, int task, const char *name,
			       const struct ptsim_mmap_args *args);
/**
 * ptsim_mshare_munmap / _madvise / _mprotect - munmap(2), madvise(2),
 * mprotect(2) of [@addr, @addr + @len) (host addresses, inside the region)
 * run on the host mm by running @task (the 2025 v3's MSHAREFS_UNMAP; the
 * others are what such ioctls would do).  Their flushes go to every sharer
 * as mshare_flush says.  Return: as ptsim_munmap() etc.; -EINVAL outside the
 * region; -ENOENT (no such region).
 */
PTSIM_API int ptsim_mshare_munmap(struct ptsim_machine *m, int task, const char *name, uint64_t addr,
				  uint64_t len);
PTSIM_API int ptsim_mshare_madvise(struct ptsim_machine *m, int task, const char *name, uint64_t addr,
				   uint64_t len, enum ptsim_advice advice);
PTSIM_API int ptsim_mshare_mprotect(struct ptsim_machine *m, int task, const char *name, uint64_t addr,
				    uint64_t len, unsigned int prot);
/**
 * ptsim_mshare_unlink - unlink(2) of the msharefs file by running @task: the
 * name goes; the host mm (its pages and tables) when no process maps the
 * region any more, on the CPU of the call that drops the last mapping.
 */
PTSIM_API int ptsim_mshare_unlink(struct ptsim_machine *m, int task, const char *name);
/**
 * ptsim_mshare_align - the sharing granularity mshare_info reads (RFC v3:
 * PGDIR_SIZE; the 2025 postings: P4D_SIZE): 512 GiB with 4-level x86-64.
 */
PTSIM_API uint64_t ptsim_mshare_align(const struct ptsim_machine *m);

/* ---- concurrency: lockless walkers, RCU readers, lock holders ---- */

/**
 * ptsim_gup_fast_begin - a GUP-fast walk by the task running on @cpu starts at
 * @addr: IRQs go off on @cpu (IPIs to it wait), the tables walked are held, and
 * the page found (if any) is referenced.  ptsim_gup_fast_end() finishes it.
 */
PTSIM_API int ptsim_gup_fast_begin(struct ptsim_machine *m, unsigned int cpu, int task, uint64_t addr);
PTSIM_API int ptsim_gup_fast_end(struct ptsim_machine *m, unsigned int cpu);

/**
 * ptsim_schedule_begin - @cpu enters the scheduler (__schedule()) with IRQs
 * off: IPIs sent to it from now on wait, and their senders with them.  Until
 * ptsim_schedule_end() the CPU can only switch (ptsim_run() onto it,
 * ptsim_run_other(), ptsim_sleep() of its task).
 * ptsim_schedule_end - finish_task_switch() turns IRQs back on: the IPIs that
 * arrived during the switch run now, in the context it switched to (the
 * kernel's flush_tlb_func() then finds another mm loaded, or a lazy CPU),
 * and their senders resume.
 */
PTSIM_API int ptsim_schedule_begin(struct ptsim_machine *m, unsigned int cpu);
PTSIM_API int ptsim_schedule_end(struct ptsim_machine *m, unsigned int cpu);

/**
 * ptsim_lru_add_drain_cpu - @cpu's per-CPU LRU add batch moves to the LRU
 * (mm/swap.c lru_add_drain_cpu()): each folio waiting there gets PG_lru and
 * loses the batch's reference (a folio nothing else holds is freed).  For a
 * recording: the kernel's batch on that CPU, shared with every process that
 * ran there, filled or was drained (pagemap:mm_lru_insertion).  Any CPU, in
 * any state; an empty batch is left as it is.
 */
PTSIM_API int ptsim_lru_add_drain_cpu(struct ptsim_machine *m, unsigned int cpu);

/**
 * ptsim_rcu_read_begin / _end - an RCU reader (a pte_offset_map() user, IRQs
 * on) on @cpu holding the PTE table that maps @addr in @task's mm.  It holds
 * that mm's mmap_lock for read: until _end, calls that take it for write in
 * that mm (mmap, munmap, mprotect, mremap, mlock, munlock, brk, exec, fork,
 * the last exit) return PTSIM_ECPUBUSY.
 */
PTSIM_API int ptsim_rcu_read_begin(struct ptsim_machine *m, unsigned int cpu, int task, uint64_t addr);
PTSIM_API int ptsim_rcu_read_end(struct ptsim_machine *m, unsigned int cpu);

/**
 * ptsim_pmd_lock / _unlock - @cpu holds the PMD page-table lock that covers
 * @addr in @task's mm (lock contention for algorithms that try-lock it).
 */
PTSIM_API int ptsim_pmd_lock(struct ptsim_machine *m, unsigned int cpu, int task, uint64_t addr);
PTSIM_API int ptsim_pmd_unlock(struct ptsim_machine *m, unsigned int cpu);

/*
 * Names given to the simulator that can appear in its reports (mark names,
 * file names) must be 1..PTSIM_NAME_MAX bytes of valid UTF-8 without control
 * characters (U+0000-U+001F, U+007F-U+009F); anything else is -EINVAL with a
 * message saying what and where (the JSON and CSV reports stay valid).
 */
#define PTSIM_NAME_MAX 255

/**
 * ptsim_mark - record a snapshot of the statistics under @name: the event
 * index, the simulated clock, every counter (per CPU too) and the figures of
 * every live mm (ptsim/stats.h reads them back).  Return: 0, -EINVAL for a bad
 * name, PTSIM_ELIMIT beyond PTSIM_LIMIT_MARKS marks.
 */
PTSIM_API int ptsim_mark(struct ptsim_machine *m, const char *name);
/**
 * ptsim_mark_iteration - ptsim_mark() inside @depth nested loops (at most
 * PTSIM_MARK_MAX_DEPTH), at iteration @iteration[i] of each, outermost first:
 * what a trace's `mark` inside a `repeat` records, so that the mark taken in
 * every iteration can be told apart by more than its index.
 */
PTSIM_API int ptsim_mark_iteration(struct ptsim_machine *m, const char *name, const uint64_t *iteration,
				   unsigned int depth);

/* ---- limits ---- */

/*
 * Limits on what a run may accumulate, so that a short trace cannot make a
 * report of gigabytes: reaching one is PTSIM_ELIMIT with a message naming
 * the limit, its value and how to raise it.
 */
enum ptsim_limit {
	PTSIM_LIMIT_MARKS = 0,   /* marks kept (default 100,000; `ptsim run --max-marks`) */
	/* Simulated memory: the simulated kernel's allocation fails at the limit (set "max_frames" sets it too). */
	PTSIM_LIMIT_FRAMES = 1,  /* frames in use, page tables and huge pages included (default 16 Mi) */
	PTSIM_LIMIT_PGTABLES = 2, /* page-table pages in use (default 256 Ki; set "max_pgtables") */
	PTSIM_LIMIT_EXITS = 3,   /* exit records kept (default 1,000,000; `ptsim run --max-exits`) */
	PTSIM_LIMIT_EVENT_RESULTS = 4, /* event results kept when recorded (default 1,000,000; `ptsim run --max-results`) */
	PTSIM_NR_LIMITS
};

/** ptsim_machine_set_limit - set limit @which to @value (0: no limit).  Return: 0 or -EINVAL. */
PTSIM_API int ptsim_machine_set_limit(struct ptsim_machine *m, enum ptsim_limit which, uint64_t value);
/** ptsim_machine_limit - the value of limit @which (0: none, or an unknown limit). */
PTSIM_API uint64_t ptsim_machine_limit(const struct ptsim_machine *m, enum ptsim_limit which);

#endif
