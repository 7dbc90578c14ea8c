/*
 * The real kernel's counts of a recording (counts.c): TLB-flush and
 * table-sync cross-CPU calls sent and received per CPU, the outcome of each
 * remote flush, local flushes by reason, attributed to the recorded tasks.
 */
#ifndef PTSIM_RECORD_COUNTS_H
#define PTSIM_RECORD_COUNTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "record/tracing.h"

struct cJSON;

/* Per CPU; every figure counts what the recorded tasks caused. */
struct rec_cpu_counts {
	/* cross-CPU calls queued by recorded tasks running on this CPU, one per target */
	uint64_t sent_tlb_flush, sent_table_sync, sent_other;
	/* interrupts sent (ipi_send_*): calls to a CPU whose queue was empty, and reschedule IPIs */
	uint64_t sent_interrupts, sent_resched;
	/* cross-CPU calls of recorded tasks that this CPU ran */
	uint64_t recv_tlb_flush, recv_table_sync, recv_other;
	/* what each received flush_tlb_func() did here (tlb:tlb_flush inside it) */
	uint64_t remote_full, remote_partial, remote_wrong_cpu, remote_lazy, remote_noop;
	/* flushes by recorded tasks on this CPU, outside cross-CPU calls */
	uint64_t local_full, local_partial, local_pages;  /* pages: INVLPGs of the partial ones */
	uint64_t remote_send;                            /* TLB_REMOTE_SEND_IPI: nr_tlb_remote_flush */
	uint64_t switch_flush;                           /* a switch flushed with a recorded task on this CPU */
	/* the whole machine, recorded tasks or not: context for the noise */
	uint64_t all_recv_tlb_flush, all_sent_interrupts;
	/*
	 * Remote flushes started here while another CPU was within
	 * REC_SWITCH_RACE_NS of a context switch: the kernel may have caught it
	 * in the middle (loaded_mm LOADED_MM_SWITCHING: flushed anyway), which
	 * the order of a trace cannot say.
	 */
	uint64_t switch_races;
};

#define REC_SWITCH_RACE_NS 2000u

/*
 * The counts begin with the command's first exec event (its tasks are
 * recorded from there on): the mark the recording has right after that exec,
 * named in the trailer's counts_start_mark.  compare-real counts ptsim's
 * flushing switches from it (its spawn and first exec switched and flushed
 * before).
 */
#define REC_COUNTS_START_MARK "the kernel's counts start"

struct rec_counts;

struct rec_counts *rec_counts_new(unsigned int cpus, uint64_t flush_fn, uint64_t sync_fn);
/* Account @e; @ours says whether a task id is a recorded task. */
void rec_counts_event(struct rec_counts *k, const struct rec_ev *e, bool (*ours)(void *, pid_t), void *ctx);
const struct rec_cpu_counts *rec_counts_cpu(const struct rec_counts *k, unsigned int cpu);
unsigned int rec_counts_nr_cpus(const struct rec_counts *k);
/* {"cpus": [...], "totals": {...}} members added to @obj. */
void rec_counts_json(const struct rec_counts *k, struct cJSON *obj);
void rec_counts_free(struct rec_counts *k);

#endif
