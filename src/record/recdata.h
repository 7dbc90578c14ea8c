/*
 * What the ptrace side learns and the event side needs (tracer.c fills it,
 * convert.c reads it): files by identity, fork kinds, exec snapshots, the
 * figures of each task at its exit stop, and the files each task is about to
 * mmap (its seccomp stops).  Everything is keyed by the kernel's task id.
 */
#ifndef PTSIM_RECORD_RECDATA_H
#define PTSIM_RECORD_RECDATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- a small hash map: int key -> pointer ---- */

struct pidmap {
	int32_t *keys;
	void **vals;
	size_t cap, nr;     /* cap: power of two or 0 */
};

void *pidmap_get(const struct pidmap *m, int32_t key);
int pidmap_put(struct pidmap *m, int32_t key, void *val);   /* 0 or -ENOMEM */
void *pidmap_del(struct pidmap *m, int32_t key);             /* the old value */
void pidmap_free(struct pidmap *m, void (*free_val)(void *));

/* ---- files ---- */

enum rec_file_kind {
	RF_FILE,       /* regular file with a page cache */
	RF_SHMEM,      /* tmpfs / memfd / SysV shm */
	RF_HUGETLB,    /* hugetlbfs */
	RF_ZERO,       /* /dev/zero: private = anonymous, shared = shared anonymous */
	RF_DEVICE,     /* a device or special file: not modelled */
};

struct rec_file {
	uint64_t dev, ino;
	enum rec_file_kind kind;
	uint64_t size;
	uint64_t page_size;     /* hugetlb */
	char *name;             /* unique within the recording */
	char *path;             /* as the kernel showed it */
	/*
	 * The page cache: each time the file is about to be mapped, mincore()
	 * says which pages are cached; those not declared to the replay yet are
	 * @fresh ([start, end) page pairs) until the "cache" ops are written.
	 */
	uint8_t *declared;      /* bitmap of pages declared cached */
	uint64_t declared_pages;
	uint64_t *fresh;
	size_t nr_fresh;
};

struct rec_files {
	struct rec_file **v;
	size_t nr, cap;
};

/* Find or add the file @dev:@ino (name derived from @path).  NULL if out of memory. */
struct rec_file *rec_file_get(struct rec_files *fs, uint64_t dev, uint64_t ino, const char *path,
			      enum rec_file_kind kind, uint64_t size, uint64_t page_size);
void rec_files_free(struct rec_files *fs);

/* ---- fork kinds (from the parent's PTRACE_EVENT_FORK/VFORK/CLONE stop) ---- */

enum rec_fork_kind {
	RK_PROCESS,    /* its own copy of the address space (fork) */
	RK_THREAD,     /* CLONE_VM | CLONE_THREAD */
	RK_VFORK,      /* CLONE_VM without CLONE_THREAD (vfork, posix_spawn) */
};

struct rec_fork {
	enum rec_fork_kind kind;
	pid_t parent;
};

/* ---- an address space as /proc/PID/maps showed it at an exec stop ---- */

enum rec_vma_kind { RV_ANON, RV_FILE, RV_STACK, RV_HEAP, RV_VDSO, RV_VVAR };

struct rec_run {             /* a run of present pages */
	uint64_t addr, len;
	bool anon;           /* an anonymous (private, written) page, else a page-cache page */
};

struct rec_vma {
	uint64_t start, end, offset;
	unsigned int prot;   /* PTSIM_PROT_* bits: 1 r, 2 w, 4 x */
	bool shared;
	enum rec_vma_kind kind;
	struct rec_file *file;
	struct rec_run *runs;
	size_t nr_runs;
};

struct rec_exec {
	struct rec_exec *next;   /* queue per pid */
	pid_t old_pid;
	bool elf32;
	uint64_t start_brk;
	uint64_t arg_start;      /* the lowest argument string: setup_arg_pages() moved the pages from it up */
	struct rec_vma *vmas;
	size_t nr_vmas;
	char comm[64];
};

void rec_exec_free(struct rec_exec *e);

/* ---- figures of a task at its exit stop (/proc/TID/status) ---- */

struct rec_exit_figs {
	bool valid;
	uint64_t vmpte_kb, rss_anon_kb, rss_file_kb, rss_shmem_kb, swap_kb, hugetlb_kb;
	uint64_t vmhwm_kb, vmpeak_kb;
	uint64_t anon_huge_kb;     /* AnonHugePages of smaps_rollup: THP in use */
	uint64_t file_pmd_kb;      /* FilePmdMapped + ShmemPmdMapped */
	uint64_t ksm_pages;        /* ksm_merging_pages */
};

/* ---- a file about to be mapped (a seccomp stop at mmap/shmat entry) ---- */

struct rec_pending_map {
	struct rec_pending_map *next;
	int nr;                    /* the system call */
	struct rec_file *file;     /* NULL: the fd was not a file (EBADF) */
	uint64_t shm_size;         /* shmat: the segment size */
	int shmid;
};

/* Everything keyed by task id. */
struct rec_pidinfo {
	struct rec_fork *fork;          /* when it was forked by a recorded task */
	struct rec_exec *exec;          /* exec snapshots not yet consumed */
	struct rec_exit_figs exit;      /* figures at its exit stop */
	struct rec_exit_figs pre_exec;  /* figures at its last execve entry (the old mm) */
	struct rec_pending_map *maps;   /* files of its pending mmaps, oldest first */
	bool dead;                      /* waitpid() reported its end */
	bool exit_stop;                 /* it stopped at PTRACE_EVENT_EXIT */
	int wait_status;
};

struct rec_data {
	struct pidmap pids;             /* -> struct rec_pidinfo */
	struct rec_files files;
};

/* The info of @pid, created on first use; NULL if out of memory. */
struct rec_pidinfo *rec_pidinfo(struct rec_data *d, pid_t pid);
void rec_data_free(struct rec_data *d);

#endif
