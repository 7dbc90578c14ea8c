/*
 * Reading results: per-mm memory figures, counters, violations, reports.
 *
 * Counters are named by dotted paths, the same names the JSON report uses
 * ("ipi.calls.tlb_flush", "tlb.nr_tlb_remote_flush", "faults.total",
 * "pgtables_freed.pte", ...); per-CPU counters are "cpu.N.<name>".  See
 * docs/counters.md for the list and what each one means in kernel terms.
 */
#ifndef PTSIM_STATS_H
#define PTSIM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ptsim/export.h"

struct ptsim_machine;

struct ptsim_mm_info {
	int task;                /* lowest live task id using this mm */
	unsigned int mm;         /* the mm's id: creation order from 1, never reused */
	unsigned int users;      /* mm_users */
	uint64_t vmpte_kb;       /* VmPTE: page-table bytes (PTE+PMD+PUD tables) >> 10 */
	uint64_t vmpte_peak_kb;  /* the highest VmPTE this mm has had (no /proc field: ptsim's own) */
	uint64_t rss_file_kb;    /* RssFile */
	uint64_t rss_anon_kb;    /* RssAnon */
	uint64_t rss_shmem_kb;   /* RssShmem */
	uint64_t rss_hwm_kb;     /* VmHWM: the larger of RSS now and RSS where the kernel last sampled it (update_hiwater_rss()) */
	uint64_t swap_kb;        /* VmSwap */
	uint64_t hugetlb_kb;     /* HugetlbPages */
	uint64_t pgtables[4];    /* tables by level: [0] pte, [1] pmd, [2] pud, [3] p4d */
	unsigned int nr_vmas;
};

/** ptsim_mm_info_get - figures of the mm of live @task (as /proc/PID/status shows them). */
PTSIM_API int ptsim_mm_info_get(struct ptsim_machine *m, int task, struct ptsim_mm_info *out);
/**
 * ptsim_mshare_info - figures of the host mm of mshare region @name: the page
 * tables and pages of the region, which no process's /proc/PID/status shows
 * (the host mm has no task; task is -1, users the host's own reference).
 * Return: 0, -ENOENT (no such region).
 */
PTSIM_API int ptsim_mshare_info(struct ptsim_machine *m, const char *name, struct ptsim_mm_info *out);

/**
 * ptsim_stat - current value of the counter named @name (see above).
 * Return: 0, or -ENOENT (and errmsg) if there is no such counter.
 */
PTSIM_API int ptsim_stat(struct ptsim_machine *m, const char *name, uint64_t *out);

/** ptsim_stat_count / ptsim_stat_name - enumerate the machine-wide counter names. */
PTSIM_API size_t ptsim_stat_count(void);
PTSIM_API const char *ptsim_stat_name(size_t i);

/**
 * ptsim_mark_stat / ptsim_mark_mm_info - a counter, or the mm of @task, as
 * recorded by the mark named @mark (the first mark with that name).
 * Return: 0, -ENOENT if there is no such mark, counter or task at that mark.
 */
PTSIM_API int ptsim_mark_stat(struct ptsim_machine *m, const char *mark, const char *name, uint64_t *out);
PTSIM_API int ptsim_mark_mm_info(struct ptsim_machine *m, const char *mark, int task, struct ptsim_mm_info *out);

/*
 * Marks by index.  Every mark has an index, 0 for the first one taken, unique
 * even when the same name is taken in every iteration of a repeat: there the
 * iteration numbers tell the marks apart too.
 */
#define PTSIM_MARK_MAX_DEPTH 16

struct ptsim_mark_info {
	size_t index;            /* 0, 1, ...: the order the marks were taken in */
	const char *name;        /* borrowed; valid until the machine is destroyed */
	uint64_t event;          /* index of the mark's event */
	uint64_t clock_ns;       /* the simulated clock at the mark */
	unsigned int depth;      /* repeats around the mark (0: none) */
	uint64_t iteration[PTSIM_MARK_MAX_DEPTH]; /* iteration of each, outermost first, from 0 */
	unsigned int nr_mms;     /* mms live at the mark (ptsim_mark_mm_at() reads them) */
};

/** ptsim_mark_count - number of marks taken so far. */
PTSIM_API size_t ptsim_mark_count(const struct ptsim_machine *m);
/** ptsim_mark_get - mark @index.  Return: 0, or -ERANGE if there is no such mark. */
PTSIM_API int ptsim_mark_get(const struct ptsim_machine *m, size_t index, struct ptsim_mark_info *out);
/**
 * ptsim_mark_find - the index of the mark named @name taken at @iteration[0..@depth)
 * (@depth 0: outside any repeat; the first such mark).  Return: 0 or -ENOENT.
 */
PTSIM_API int ptsim_mark_find(const struct ptsim_machine *m, const char *name, const uint64_t *iteration,
			      unsigned int depth, size_t *index);
/** ptsim_mark_stat_at - counter @name (as ptsim_stat() names it) at mark @index. */
PTSIM_API int ptsim_mark_stat_at(struct ptsim_machine *m, size_t index, const char *name, uint64_t *out);
/** ptsim_mark_mm_at - the @k-th mm live at mark @index (0 .. nr_mms - 1, creation order). */
PTSIM_API int ptsim_mark_mm_at(struct ptsim_machine *m, size_t index, unsigned int k, struct ptsim_mm_info *out);

/*
 * Exits: the figures of every mm whose last user went, taken right before
 * exit_mmap() tears it down, i.e. what /proc/PID/status shows at
 * PTRACE_EVENT_EXIT of the last task (or, for an exec, of the old mm just
 * before exec_mmap() drops it).  In the order the mms went.
 */
enum ptsim_exit_cause {
	PTSIM_EXIT_EXIT = 0,     /* the last task using the mm exited */
	PTSIM_EXIT_EXEC = 1,     /* the last task using the mm exec'ed another program */
};

struct ptsim_exit_info {
	size_t index;            /* 0, 1, ...: the order the mms went in */
	int task;                /* the task whose exit (or exec) dropped the mm's last user */
	enum ptsim_exit_cause cause;
	uint64_t event;          /* index of that exit/exec event */
	uint64_t clock_ns;       /* the simulated clock then */
	struct ptsim_mm_info mm; /* the mm's figures then (mm.users is 1; mm.mm its id) */
};

/** ptsim_exit_count - number of exit records. */
PTSIM_API size_t ptsim_exit_count(const struct ptsim_machine *m);
/** ptsim_exit_get - exit record @index.  Return: 0, -ERANGE if there is none, -EINVAL for NULL arguments. */
PTSIM_API int ptsim_exit_get(const struct ptsim_machine *m, size_t index, struct ptsim_exit_info *out);
/** ptsim_exit_cause_name - "exit" or "exec". */
PTSIM_API const char *ptsim_exit_cause_name(enum ptsim_exit_cause cause);

/*
 * Event results (`ptsim run --events`): when switched on, a trace replay
 * records each event that produced an address (mmap, mremap, brk: the
 * address the kernel chose, what an "as" name binds) and each event whose
 * "expect" the call met (the errno it returned).
 */
struct ptsim_event_result {
	size_t index;            /* 0, 1, ...: the order they were recorded in */
	uint64_t event;          /* index of the event (repeats expanded) */
	uint64_t line;           /* its line in a version 2 trace (0: a version 1 trace) */
	const char *op;          /* the trace op ("mmap", "mremap", "brk", ...); static */
	int task;                /* the event's task, -1 if the op has none */
	const char *as;          /* the event's "as" name, NULL if none; valid until the machine is destroyed */
	bool has_addr;           /* the call returned an address: */
	uint64_t addr;           /* the mapping's start (mmap, mremap) or the new break (brk) */
	int result;              /* 0, or the negative errno the call returned (as the event expected) */
};

/**
 * ptsim_event_results_enable - record event results from now on (@on) or stop.
 * Recording more than the PTSIM_LIMIT_EVENT_RESULTS limit fails the event with
 * PTSIM_ELIMIT.  Return: 0 or -EINVAL.
 */
PTSIM_API int ptsim_event_results_enable(struct ptsim_machine *m, bool on);
/** ptsim_event_result_count - number of event results recorded. */
PTSIM_API size_t ptsim_event_result_count(const struct ptsim_machine *m);
/** ptsim_event_result_get - event result @index.  Return: 0, -ERANGE if there is none, -EINVAL for NULL arguments. */
PTSIM_API int ptsim_event_result_get(const struct ptsim_machine *m, size_t index, struct ptsim_event_result *out);

enum ptsim_violation_kind {
	PTSIM_VIOL_TLB = 0,        /* freed frame still translated by a CPU's TLB */
	PTSIM_VIOL_PWC = 1,        /* freed page table still pointed at by a paging-structure cache */
	PTSIM_VIOL_WALKER = 2,     /* freed page table still held by a GUP-fast walker */
	PTSIM_VIOL_RCU_READER = 3, /* freed page table still held by an RCU reader (pte_offset_map) */
	PTSIM_VIOL_NONEMPTY_TABLE = 4, /* page table freed while it still maps pages */
	PTSIM_VIOL_STALE_ACCESS = 5,   /* an access went through a TLB entry for a freed frame */
	PTSIM_VIOL_BBM = 6,        /* arm64 break-before-make broken */
	PTSIM_VIOL_CHECK_MM = 7,   /* check_mm(): bad rss-counter state / leaked page tables */
	PTSIM_VIOL_INTERNAL = 8,   /* the simulator caught an inconsistency in itself (a bug) */
	PTSIM_VIOL_LINKED_TABLE = 9, /* page table freed while another mm's page table still links it (mshare) */
};

struct ptsim_violation {
	enum ptsim_violation_kind kind;
	uint64_t event;          /* index of the event (trace order, counting repeats) */
	int cpu;                 /* CPU that can still reach the frame (-1: none / not CPU-specific) */
	uint64_t addr;           /* virtual address concerned */
	uint64_t pfn;            /* simulated frame number */
	const char *message;     /* borrowed; valid until the machine is destroyed */
};

PTSIM_API size_t ptsim_violation_count(const struct ptsim_machine *m);
PTSIM_API int ptsim_violation_get(const struct ptsim_machine *m, size_t i, struct ptsim_violation *out);
PTSIM_API const char *ptsim_violation_kind_name(enum ptsim_violation_kind kind);

/**
 * ptsim_report_json - the whole result as one JSON text (the format of
 * `ptsim run --json`: machine, events, marks, final, violations).
 * Return: a string the caller frees with ptsim_free(), or NULL on ENOMEM.
 */
PTSIM_API char *ptsim_report_json(struct ptsim_machine *m);
/** ptsim_report_text - the readable summary table `ptsim run` prints (free with ptsim_free()). */
PTSIM_API char *ptsim_report_text(struct ptsim_machine *m);
/**
 * ptsim_report_timeline_csv - the marks as a CSV timeline for plots: a header
 * line "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb,COUNTER...,
 * mmN.vmpte_kb,mmN.rss_kb..." (every machine-wide counter, in the order of
 * docs/counters.md; then per mm live at some row, by id), one line per mark,
 * and a last line "end" with the values now.  vmpte_kb and rss_kb (VmRSS) sum
 * the mms live at that point; per-mm cells are empty where the mm was not
 * live.  Counters are cumulative.  Free with ptsim_free(); NULL if out of memory.
 */
PTSIM_API char *ptsim_report_timeline_csv(struct ptsim_machine *m);
PTSIM_API void ptsim_free(void *p);

/**
 * ptsim_machine_quiesce - let RCU finish: run every callback whose grace period
 * can end (no reader holds it back).  Return: number of callbacks still pending.
 */
PTSIM_API size_t ptsim_machine_quiesce(struct ptsim_machine *m);

/**
 * ptsim_machine_check - run every *_consistent() checker (TLB counts, frame
 * reference counts, VmPTE against the tables).  Return: 0 or PTSIM_EINTERNAL
 * with the first inconsistency in errmsg.
 */
PTSIM_API int ptsim_machine_check(struct ptsim_machine *m);

/** ptsim_frames_in_use - simulated frames currently allocated (all kinds, incl. page tables). */
PTSIM_API uint64_t ptsim_frames_in_use(const struct ptsim_machine *m);

/**
 * ptsim_frames_in_lru_batches - frames the CPUs' LRU add batches hold a
 * reference to (at most 30 per CPU).  A page unmapped or its task gone while
 * its folio waits there stays allocated (in ptsim_frames_in_use()) until that
 * CPU drains its batch, as in the kernel.
 */
PTSIM_API uint64_t ptsim_frames_in_lru_batches(const struct ptsim_machine *m);

#endif
