/*
 * A simulated RCU, just enough for page-table freeing.
 *
 * Readers are the explicit interleaving points of the simulation: a GUP-fast
 * walk (an IRQs-off region is a read-side critical section), an RCU reader
 * (pte_offset_map() users), and an operation blocked waiting for an IPI (it has
 * not reached a quiescent state).  Every other CPU is quiescent between
 * events: it is idle, in user mode, or has just ended an operation.
 *
 * Epochs: every reader start and every call_rcu() takes the next value of one
 * counter.  A callback queued at epoch E may run once no reader that started
 * before E is still active, i.e. when E < min(start epoch of active readers).
 * Callbacks are checked at event boundaries and whenever a reader ends, and
 * run in queue order.  rcu.grace_periods counts the boundaries at which
 * callbacks ran (one grace period ending with work to do); rcu.callbacks
 * counts callbacks.
 *
 * Models the semantics of kernel/rcu (call_rcu, grace periods), not its
 * implementation.
 */
#include "mm/internal.h"

void call_rcu(struct ptsim_machine *m, struct rcu_head *head, void (*func)(struct ptsim_machine *, struct rcu_head *))
{
	head->func = func;
	head->epoch = ++m->rcu.epoch;
	head->next = NULL;
	*m->rcu.tail = head;
	m->rcu.tail = &head->next;
	m->rcu.nr_pending++;
}

void rcu_reader_start(struct ptsim_machine *m, uint64_t *epoch)
{
	*epoch = ++m->rcu.epoch;
	m->rcu.nr_readers++;
}

void rcu_reader_end(struct ptsim_machine *m, uint64_t *epoch)
{
	if (NEVER(m, !*epoch || !m->rcu.nr_readers))
		return;
	*epoch = 0;
	m->rcu.nr_readers--;
	rcu_process_callbacks(m);
}

static uint64_t oldest_reader(const struct ptsim_machine *m)
{
	uint64_t min = UINT64_MAX;

	if (!m->rcu.nr_readers)
		return min;
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const struct sim_cpu *cpu = &m->cpus[c];
		if (cpu->walker_epoch && cpu->walker_epoch < min)
			min = cpu->walker_epoch;
		if (cpu->reader_epoch && cpu->reader_epoch < min)
			min = cpu->reader_epoch;
		if (cpu->op_epoch && cpu->op_epoch < min)
			min = cpu->op_epoch;
	}
	return min;
}

void rcu_process_callbacks(struct ptsim_machine *m)
{
	struct sim_rcu *r = &m->rcu;

	if (!r->head)
		return;
	uint64_t limit = oldest_reader(m);
	struct rcu_head *done = NULL, **done_tail = &done;
	size_t n = 0;

	while (r->head && r->head->epoch < limit) {
		struct rcu_head *h = r->head;
		r->head = h->next;
		h->next = NULL;
		*done_tail = h;
		done_tail = &h->next;
		n++;
	}
	if (!r->head)
		r->tail = &r->head;
	if (!n)
		return;
	r->nr_pending -= n;
	STAT_INC(m, RCU_GP);
	STAT_ADD(m, RCU_CALLBACKS, n);

	/* Callbacks run in softirq context: no CPU's operation owns their frees. */
	struct sim_cpu *saved = m->cur;
	m->cur = NULL;
	while (done) {
		struct rcu_head *h = done;
		done = h->next;
		h->func(m, h);
	}
	m->cur = saved;
}

size_t rcu_pending(const struct ptsim_machine *m)
{
	return m->rcu.nr_pending;
}
