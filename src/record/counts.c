/*
 * The real kernel's counts of a recording, attributed to the recorded tasks.
 *
 * The attribution follows the kernel's own sequence of trace events:
 *
 *  - A cross-CPU call is queued with csd:csd_queue_cpu (target CPU, function,
 *    csd pointer) in the context of the task that asked for it: the call is
 *    ours when that task is recorded.  Its function tells a TLB shootdown
 *    (flush_tlb_func) from a table sync (tlb_remove_table_smp_sync) from
 *    anything else.  One call per target CPU: ptsim's ipi.received.*.
 *  - The interrupt itself (ipi:ipi_send_cpu/_cpumask) is only sent when the
 *    target's queue was empty, so it may carry several calls; counted apart,
 *    with reschedule IPIs (no callback), which ptsim has no counterpart for.
 *  - On the target, csd:csd_function_entry/exit bracket the call; the csd
 *    pointer matches it to the queueing.  A tlb:tlb_flush inside says what a
 *    flush_tlb_func() did: reason "remote wrong CPU" (the CPU had switched to
 *    another mm and left the mask), "flush on task switch" (a lazy CPU
 *    switched to init_mm, with a flush or without: all pages or 0), pages
 *    = all (full) or a count (ranged); reason "remote shootdown" with 0
 *    pages, or none at all: nothing to do (already up to date).
 *  - Outside a call, tlb:tlb_flush in a recorded task's context is its local
 *    flush (reason "local shootdown"/"local MM shootdown") or the start of a
 *    remote one ("remote IPI send": vmstat's nr_tlb_remote_flush).  Reason
 *    "flush on task switch" is traced inside the context switch, still in
 *    the previous task's context: it belongs to the task being switched to,
 *    which the sched_switch just before on that CPU names.
 *
 * This is what the oracle programs of the project measured with, in code of
 * its own: raw events instead of text.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "record/counts.h"
#include "record/grow.h"

struct pending_csd {
	uint64_t csd;
	bool flush;
};

struct cpu_state {
	bool in_call, call_ours, call_flush, call_saw_flush;
	uint64_t call_csd;
	pid_t switching_to;             /* next_pid of the last sched_switch here */
	uint64_t last_switch_ts;
	int last_queued;                /* func class of the last call queued here: for ipi_send */
	struct pending_csd *pend;       /* our calls queued to this CPU, not yet run */
	size_t nr_pend, cap_pend;
};

struct rec_counts {
	unsigned int nr_cpus;
	uint64_t flush_fn, sync_fn;
	struct rec_cpu_counts *c;
	struct cpu_state *s;
};

enum { FN_FLUSH, FN_SYNC, FN_OTHER };

struct rec_counts *rec_counts_new(unsigned int cpus, uint64_t flush_fn, uint64_t sync_fn)
{
	struct rec_counts *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->nr_cpus = cpus;
	k->flush_fn = flush_fn;
	k->sync_fn = sync_fn;
	k->c = calloc(cpus, sizeof(*k->c));
	k->s = calloc(cpus, sizeof(*k->s));
	if (!k->c || !k->s) {
		rec_counts_free(k);
		return NULL;
	}
	for (unsigned int i = 0; i < cpus; i++)
		k->s[i].last_queued = FN_OTHER;
	return k;
}

static int fn_class(const struct rec_counts *k, uint64_t fn)
{
	return fn == k->flush_fn ? FN_FLUSH : fn == k->sync_fn ? FN_SYNC : FN_OTHER;
}

static void pend_add(struct cpu_state *s, uint64_t csd, bool flush)
{
	if (rec_reserve(s->pend, s->cap_pend, s->nr_pend + 1, 16))
		return;   /* the outcome of this call will count as not ours */
	s->pend[s->nr_pend].csd = csd;
	s->pend[s->nr_pend].flush = flush;
	s->nr_pend++;
}

/* Remove the oldest pending call with @csd; return 1 flush, 0 other, -1 not ours. */
static int pend_take(struct cpu_state *s, uint64_t csd)
{
	for (size_t i = 0; i < s->nr_pend; i++)
		if (s->pend[i].csd == csd) {
			int f = s->pend[i].flush;
			memmove(&s->pend[i], &s->pend[i + 1], (s->nr_pend - i - 1) * sizeof(*s->pend));
			s->nr_pend--;
			return f;
		}
	return -1;
}

void rec_counts_event(struct rec_counts *k, const struct rec_ev *e, bool (*ours)(void *, pid_t), void *ctx)
{
	if (e->cpu >= k->nr_cpus)
		return;
	struct rec_cpu_counts *c = &k->c[e->cpu];
	struct cpu_state *s = &k->s[e->cpu];

	switch (e->kind) {
	case REV_SWITCH:
		s->switching_to = e->u.sw.next;
		s->last_switch_ts = e->ts;
		break;
	case REV_CSD_QUEUE: {
		int cls = fn_class(k, e->u.csdq.func);
		s->last_queued = cls;
		if (!ours(ctx, e->pid) || e->u.csdq.target >= k->nr_cpus)
			break;
		struct rec_cpu_counts *t = &k->c[e->u.csdq.target];
		if (cls == FN_FLUSH) {
			c->sent_tlb_flush++;
			t->recv_tlb_flush++;
		} else if (cls == FN_SYNC) {
			c->sent_table_sync++;
			t->recv_table_sync++;
		} else {
			c->sent_other++;
			t->recv_other++;
		}
		pend_add(&k->s[e->u.csdq.target], e->u.csdq.csd, cls == FN_FLUSH);
		break;
	}
	case REV_IPI:
		if (e->u.ipi.callback)
			c->all_sent_interrupts += e->u.ipi.targets;
		if (!ours(ctx, e->pid))
			break;
		if (!e->u.ipi.callback)
			c->sent_resched += e->u.ipi.targets;
		else
			c->sent_interrupts += e->u.ipi.targets;
		break;
	case REV_CSD_ENTRY:
		if (!e->u.csdf.csd)
			break;   /* a call run locally, not through an interrupt */
		if (fn_class(k, e->u.csdf.func) == FN_FLUSH)
			c->all_recv_tlb_flush++;
		s->in_call = true;
		s->call_csd = e->u.csdf.csd;
		s->call_saw_flush = false;
		int f = pend_take(s, e->u.csdf.csd);
		s->call_ours = f >= 0;
		s->call_flush = f == 1;
		break;
	case REV_CSD_EXIT:
		if (!e->u.csdf.csd || !s->in_call)
			break;
		if (s->call_ours && s->call_flush && !s->call_saw_flush)
			c->remote_noop++;
		s->in_call = false;
		break;
	case REV_TLB_FLUSH: {
		int reason = e->u.tlb.reason;
		bool full = e->u.tlb.pages == REC_TLB_FLUSH_ALL;
		if (s->in_call) {
			if (!s->call_ours || !s->call_flush || s->call_saw_flush)
				break;
			if (reason == REC_TLB_REMOTE_SHOOTDOWN && !e->u.tlb.pages)
				break;   /* caught up already (local tlb_gen == the mm's): a no-op, counted at its exit */
			s->call_saw_flush = true;
			if (reason == REC_TLB_REMOTE_WRONG_CPU)
				c->remote_wrong_cpu++;
			else if (reason == REC_TLB_FLUSH_ON_TASK_SWITCH)
				c->remote_lazy++;
			else if (full)
				c->remote_full++;
			else
				c->remote_partial++;
			break;
		}
		if (reason == REC_TLB_FLUSH_ON_TASK_SWITCH) {
			if (full && ours(ctx, s->switching_to))
				c->switch_flush++;
			break;
		}
		if (!ours(ctx, e->pid))
			break;
		if (reason == REC_TLB_LOCAL_SHOOTDOWN || reason == REC_TLB_LOCAL_MM_SHOOTDOWN) {
			if (full) {
				c->local_full++;
			} else {
				c->local_partial++;
				c->local_pages += e->u.tlb.pages;
			}
		} else if (reason == REC_TLB_REMOTE_SEND_IPI) {
			c->remote_send++;
			for (unsigned int x = 0; x < k->nr_cpus; x++)
				if (x != e->cpu && k->s[x].last_switch_ts && e->ts - k->s[x].last_switch_ts < REC_SWITCH_RACE_NS)
					c->switch_races++;
		}
		break;
	}
	default:
		break;
	}
}

const struct rec_cpu_counts *rec_counts_cpu(const struct rec_counts *k, unsigned int cpu)
{
	return cpu < k->nr_cpus ? &k->c[cpu] : NULL;
}

unsigned int rec_counts_nr_cpus(const struct rec_counts *k)
{
	return k->nr_cpus;
}

#define N(o, name, v) cJSON_AddNumberToObject(o, name, (double)(v))

static void cpu_json(cJSON *o, const struct rec_cpu_counts *c)
{
	cJSON *ipi = cJSON_AddObjectToObject(o, "ipi");
	cJSON *sent = cJSON_AddObjectToObject(ipi, "sent");
	N(sent, "tlb_flush", c->sent_tlb_flush);
	N(sent, "table_sync", c->sent_table_sync);
	N(sent, "other", c->sent_other);
	N(sent, "interrupts", c->sent_interrupts);
	N(sent, "resched", c->sent_resched);
	cJSON *recv = cJSON_AddObjectToObject(ipi, "received");
	N(recv, "tlb_flush", c->recv_tlb_flush);
	N(recv, "table_sync", c->recv_table_sync);
	N(recv, "other", c->recv_other);
	cJSON *tlb = cJSON_AddObjectToObject(o, "tlb");
	cJSON *local = cJSON_AddObjectToObject(tlb, "local");
	N(local, "full", c->local_full);
	N(local, "partial", c->local_partial);
	N(local, "partial_pages", c->local_pages);
	cJSON *remote = cJSON_AddObjectToObject(tlb, "remote");
	N(remote, "full", c->remote_full);
	N(remote, "partial", c->remote_partial);
	N(remote, "wrong_cpu", c->remote_wrong_cpu);
	N(remote, "lazy_to_init_mm", c->remote_lazy);
	N(remote, "noop", c->remote_noop);
	N(tlb, "nr_tlb_remote_flush", c->remote_send);
	N(tlb, "switch_flush", c->switch_flush);
	N(o, "switch_races", c->switch_races);
	cJSON *all = cJSON_AddObjectToObject(o, "machine_wide");
	N(all, "tlb_flush_calls_received", c->all_recv_tlb_flush);
	N(all, "interrupts_sent", c->all_sent_interrupts);
}

void rec_counts_json(const struct rec_counts *k, cJSON *obj)
{
	cJSON *cpus = cJSON_AddArrayToObject(obj, "cpus");
	struct rec_cpu_counts tot;
	memset(&tot, 0, sizeof(tot));
	for (unsigned int i = 0; i < k->nr_cpus; i++) {
		cJSON *o = cJSON_CreateObject();
		N(o, "cpu", i);
		cpu_json(o, &k->c[i]);
		cJSON_AddItemToArray(cpus, o);
		const uint64_t *src = (const uint64_t *)&k->c[i];
		uint64_t *dst = (uint64_t *)&tot;
		for (size_t f = 0; f < sizeof(tot) / sizeof(uint64_t); f++)
			dst[f] += src[f];
	}
	cpu_json(cJSON_AddObjectToObject(obj, "totals"), &tot);
}

void rec_counts_free(struct rec_counts *k)
{
	if (!k)
		return;
	for (unsigned int i = 0; k->s && i < k->nr_cpus; i++)
		free(k->s[i].pend);
	free(k->s);
	free(k->c);
	free(k);
}
