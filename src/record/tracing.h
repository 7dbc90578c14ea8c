/*
 * Kernel events of a recording (tracing.c): two private tracefs instances
 * read raw, decoded into struct rec_ev, and merged across CPUs and instances
 * in timestamp order.
 */
#ifndef PTSIM_RECORD_TRACING_H
#define PTSIM_RECORD_TRACING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum rec_ev_kind {
	REV_SYS_ENTER,     /* syscalls:sys_enter_*   (task instance) */
	REV_SYS_EXIT,      /* syscalls:sys_exit_*    (task instance) */
	REV_FAULT,         /* exceptions:page_fault_user / _kernel at a user address */
	REV_FORK,          /* sched:sched_process_fork */
	REV_EXEC,          /* sched:sched_process_exec */
	REV_EXIT,          /* sched:sched_process_exit */
	REV_SWITCH,        /* sched:sched_switch     (machine instance, every CPU) */
	REV_TLB_FLUSH,     /* tlb:tlb_flush */
	REV_IPI,           /* ipi:ipi_send_cpu, ipi:ipi_send_cpumask */
	REV_CSD_QUEUE,     /* csd:csd_queue_cpu */
	REV_CSD_ENTRY,     /* csd:csd_function_entry */
	REV_CSD_EXIT,      /* csd:csd_function_exit */
	REV_LRU_ADD,       /* pagemap:mm_lru_insertion (machine instance): a folio of this CPU's LRU add batch went on the LRU */
	REV_NR_KINDS
};

/* x86 page-fault error code bits (arch/x86/include/asm/trap_pf.h). */
#define REC_PF_PROT 0x1
#define REC_PF_WRITE 0x2
#define REC_PF_USER 0x4
#define REC_PF_INSTR 0x10

/* tlb:tlb_flush reasons (include/linux/mm_types.h, enum tlb_flush_reason). */
enum {
	REC_TLB_FLUSH_ON_TASK_SWITCH = 0,
	REC_TLB_REMOTE_SHOOTDOWN = 1,
	REC_TLB_LOCAL_SHOOTDOWN = 2,
	REC_TLB_LOCAL_MM_SHOOTDOWN = 3,
	REC_TLB_REMOTE_SEND_IPI = 4,
	REC_TLB_REMOTE_WRONG_CPU = 5,
};
#define REC_TLB_FLUSH_ALL UINT64_MAX   /* "pages" of a full flush */

struct rec_ev {
	uint64_t ts;          /* trace clock "mono", ns */
	int32_t pid;          /* common_pid: the task current on @cpu */
	uint16_t cpu;
	uint8_t kind;         /* enum rec_ev_kind */
	uint8_t kernel;       /* REV_FAULT: taken in kernel mode (copy_to/from_user) */
	union {
		struct { int nr; uint64_t a[6]; } enter;
		struct { int nr; int64_t ret; } exit_;
		struct { uint64_t addr, error; } fault;
		struct { int32_t parent, child; } fork;
		struct { int32_t pid, old_pid; } exec;
		struct { int32_t pid; } exit;
		struct { int32_t prev, next; int64_t prev_state; char next_comm[16], prev_comm[16]; } sw;
		struct { int32_t reason; uint64_t pages; } tlb;
		struct { uint64_t callback; uint32_t targets; uint32_t first; } ipi;
		struct { uint32_t target; uint64_t func, csd; } csdq;
		struct { uint64_t func, csd; } csdf;
	} u;
};

struct rec_tracing_opts {
	const char *tracefs_dir;   /* NULL: find or mount */
	const char *name;          /* instance name prefix */
	unsigned int task_kb, cpu_kb;
	unsigned int cpus;
	uint64_t user_top;         /* faults at or above this are kernel addresses */
};

struct rec_tracing;

int rec_tracing_open(struct rec_tracing **out, const struct rec_tracing_opts *o, char *err, size_t errlen);
/* Follow @pid (and, through the event-fork option, its descendants). */
int rec_tracing_add_pid(struct rec_tracing *t, pid_t pid, char *err, size_t errlen);
int rec_tracing_start(struct rec_tracing *t, char *err, size_t errlen);
void rec_tracing_stop(struct rec_tracing *t);
/*
 * Read what the ring buffers hold now (at most @max_pages pages per buffer).
 * Return: pages read (0: nothing new), or -errno.
 */
int rec_tracing_poll(struct rec_tracing *t, unsigned int max_pages);
/*
 * The next event in timestamp order, if it is certain that no earlier one
 * can still arrive (every buffer was read past its time); with @final (after
 * rec_tracing_stop() and a last poll) every remaining event.
 * Return: the event (valid until the next call) or NULL.
 */
const struct rec_ev *rec_tracing_peek(struct rec_tracing *t, bool final);
void rec_tracing_pop(struct rec_tracing *t);
uint64_t rec_tracing_lost(const struct rec_tracing *t);
uint64_t rec_tracing_out_of_order(const struct rec_tracing *t);
/* Address of kernel symbol @name (from /proc/kallsyms), 0 if unknown. */
uint64_t rec_tracing_ksym(const struct rec_tracing *t, const char *name);
/* Remove the instances (also on every error path). */
void rec_tracing_close(struct rec_tracing *t);
/* The trace clock now (CLOCK_MONOTONIC, the "mono" trace clock). */
uint64_t rec_now_ns(void);

/* The syscalls the recorder follows (numbers are x86-64's). */
const char *rec_syscall_name(int nr);

#endif
