/*
 * Cross-CPU function calls (kernel/smp.c at v6.18), as the simulation needs them: a
 * call to a CPU with IRQs enabled runs at once; a call to a CPU with IRQs
 * disabled (inside a GUP-fast walk) is queued until that CPU enables IRQs,
 * and a sender that waits (wait = 1, every call here) is blocked until then.
 *
 * A blocked sender's operation has already run to its end in the simulation,
 * but nothing it frees after the wait began may reach the free pool before
 * the wait ends: such frees are deferred (free_frame_after_waits()) and
 * released in order when the last acknowledgement arrives.  The blocked
 * operation also counts as an RCU reader (it has not reached a quiescent
 * state), so callbacks it queued wait too.  Observable results — which CPU is
 * interrupted, what is freed when, what a walker can still see — are those of
 * the kernel's synchronous smp_call_function_many().
 *
 * IPI accounting: counters.ipi.calls.REASON counts call operations (one
 * multicast = 1); ipi.received.REASON and the per-CPU counts count interrupts
 * taken, as /proc/interrupts does.
 *
 * ptsim: smp_call_function() of the empty function (the table-sync
 * broadcast, tlb_remove_table_sync_one()) while no CPU has IRQs off changes
 * nothing on any target but its interrupt count: that count is added to every
 * CPU at once, later (ipi_broadcast_counted(), smp_fold_broadcasts()), so a
 * broadcast costs O(1) instead of O(CPUs).  ptsim_debug_ipi_fastpath(false)
 * keeps the per-target path, which tests compare it with.
 */
#include "mm/internal.h"

#include <stdlib.h>

#include "arch/arch.h"

static const int ipi_call_stat[NR_IPI_REASONS] = { ST_IPI_CALLS_TLB_FLUSH, ST_IPI_CALLS_TABLE_SYNC,
						   ST_IPI_CALLS_FLUSH_ALL };
static const int ipi_recv_stat[NR_IPI_REASONS] = { ST_IPI_RECV_TLB_FLUSH, ST_IPI_RECV_TABLE_SYNC,
						   ST_IPI_RECV_FLUSH_ALL };
static const int ipi_recv_cpu_stat[NR_IPI_REASONS] = { CST_IPI_RECV_TLB_FLUSH, CST_IPI_RECV_TABLE_SYNC,
						       CST_IPI_RECV_FLUSH_ALL };
static const int ipi_sent_cpu_stat[NR_IPI_REASONS] = { CST_IPI_SENT_TLB_FLUSH, CST_IPI_SENT_TABLE_SYNC,
						       CST_IPI_SENT_FLUSH_ALL };

int cpumask_alloc(struct ptsim_machine *m, struct cpumask *mask)
{
	mask->nwords = (m->nr_cpus + 63) / 64;
	mask->bits = sim_calloc(&m->alloc, mask->nwords, sizeof(uint64_t));
	return mask->bits ? 0 : SIM_ENOMEM;
}

void cpumask_release(struct ptsim_machine *m, struct cpumask *mask)
{
	sim_free(&m->alloc, mask->bits, (size_t)mask->nwords * sizeof(uint64_t));
	mask->bits = NULL;
}

unsigned int cpumask_weight(const struct cpumask *mask)
{
	unsigned int n = 0;
	for (unsigned int w = 0; w < mask->nwords; w++)
		n += (unsigned int)__builtin_popcountll(mask->bits[w]);
	return n;
}

bool cpu_blocked(const struct sim_cpu *cpu)
{
	return cpu->pending_acks > 0;
}

/*
 * cpu_waits_for - @sender is blocked in a synchronous call that @target has
 * not taken yet.  In the kernel the sender is still inside that wait: every
 * step its operation takes afterwards in the simulation happens, in kernel
 * time, after @target enabled IRQs again (after its GUP-fast walk ended).
 */
bool cpu_waits_for(const struct sim_cpu *sender, const struct sim_cpu *target)
{
	if (!sender || !sender->pending_acks)
		return false;
	for (const struct pending_call *pc = target->pending; pc; pc = pc->next)
		if (pc->sender == (int)sender->id)
			return true;
	return false;
}

static void queue_call(struct ptsim_machine *m, struct sim_cpu *target, smp_call_func_t func, const void *info,
		       size_t info_size, struct mm_struct *mm, struct sim_cpu *sender, bool wait)
{
	struct pending_call *pc = sim_icalloc(&m->alloc, 1, sizeof(*pc));

	if (NEVER(m, !pc || info_size > SMP_INFO_MAX)) {
		/* Out of memory for the queue: deliver now rather than lose the call. */
		sim_free(&m->alloc, pc, sizeof(*pc));
		if (func)
			func(m, target, (void *)info);
		return;
	}
	pc->func = func;
	pc->sender = -1;
	/*
	 * ptsim: the kernel's sender waits, so whatever it was tearing down (an
	 * exiting mm) outlives the call; here the sender's operation has run to
	 * its end, so the queued call holds its own reference to the mm.
	 */
	pc->mm = mm;
	if (mm)
		mmgrab(mm);
	if (info_size)
		memcpy(pc->info, info, info_size);
	if (wait && sender) {
		pc->sender = (int)sender->id;
		if (sender->pending_acks++ == 0) {
			m->nr_blocked++;
			rcu_reader_start(m, &sender->op_epoch);
		}
	}
	pc->next = NULL;
	*target->pending_tail = pc;
	target->pending_tail = &pc->next;
	STAT_INC(m, IPI_DELAYED);
}

/* One target of a call: its interrupt counted, then the call taken, or queued while it has IRQs off. */
static inline void call_one(struct ptsim_machine *m, struct sim_cpu *t, smp_call_func_t func, const void *info,
			    size_t info_size, struct mm_struct *mm, struct sim_cpu *sender, enum ipi_reason reason,
			    bool wait)
{
	t->stats[ipi_recv_cpu_stat[reason]]++;
	if (t->irqs_off)
		queue_call(m, t, func, info, info_size, mm, sender, wait);
	else if (func)
		func(m, t, (void *)info);
}

/**
 * smp_call_function_many - run @func(@info) on every CPU of @targets (the
 * caller has left itself out) by IPI.  @func NULL is the empty function
 * (tlb_remove_table_smp_sync()).
 */
void smp_call_function_many(struct ptsim_machine *m, const unsigned int *targets, unsigned int nr,
			    smp_call_func_t func, const void *info, size_t info_size, struct mm_struct *mm,
			    enum ipi_reason reason, bool wait)
{
	struct sim_cpu *sender = this_cpu(m);

	if (!nr)
		return;
	m->stats[ipi_call_stat[reason]]++;
	if (sender)   /* one per target, as the kernel's csd_queue_cpu events on the sending CPU */
		sender->stats[ipi_sent_cpu_stat[reason]] += nr;
	m->stats[ipi_recv_stat[reason]] += nr;
	for (unsigned int i = 0; i < nr; i++)
		call_one(m, &m->cpus[targets[i]], func, info, info_size, mm, sender, reason, wait);
}

/*
 * ptsim: a flush IPI's next target is fetched into the host's caches while
 * the current one runs (its first line, and the line of the counter the call
 * adds to, which also holds the start of the arch's per-CPU state).  Only a
 * hint: no result depends on it.  With thousands of targets their lines no
 * longer stay in the host's L1 between calls, and each one fetched late
 * stalls the call.
 * Always inlined: GCC finds a function of nothing but prefetches free of
 * effects and drops the calls before it would inline them.
 */
static inline __attribute__((always_inline)) void prefetch_target(const struct ptsim_machine *m, unsigned int c, enum ipi_reason reason)
{
	const struct sim_cpu *t = &m->cpus[c];

	__builtin_prefetch(t, 1);
	__builtin_prefetch(&t->stats[ipi_recv_cpu_stat[reason]], 1);
}

/*
 * The same call, in two passes over the mask (every @cond first, then the
 * calls): ptsim_debug_ipi_fastpath(m, false), which tests compare with the
 * one-pass form.  Each target's state is only read by @cond and changed by
 * @func on that target, so the two give the same results.
 */
static unsigned int call_many_two_pass(struct ptsim_machine *m, const struct cpumask *mask, unsigned int self,
				       smp_cond_func_t cond, smp_call_func_t func, const void *info, size_t info_size,
				       struct mm_struct *mm, enum ipi_reason reason, bool wait)
{
	unsigned int *targets = m->cpu_scratch[1];
	unsigned int nr = 0, c;

	for_each_cpu(c, mask, m->nr_cpus)
		if (c != self && (!cond || cond(m, c, info)))
			targets[nr++] = c;
	smp_call_function_many(m, targets, nr, func, info, info_size, mm, reason, wait);
	return nr;
}

/**
 * on_each_cpu_cond_mask - run @func(@info) on every CPU of @mask for which
 * @cond (NULL: every one) says yes, the calling CPU included
 * (smp_call_function_many_cond() with SCF_RUN_LOCAL).  As the kernel does,
 * the calling CPU is tested first; then each other CPU is tested and its
 * call queued in one pass over the mask (here the call is also taken, or
 * queued while the target has IRQs off); then the calling CPU, if picked,
 * runs @func itself.
 */
void on_each_cpu_cond_mask(struct ptsim_machine *m, smp_cond_func_t cond, smp_call_func_t func, const void *info,
			   size_t info_size, struct mm_struct *mm, enum ipi_reason reason, bool wait,
			   const struct cpumask *mask)
{
	struct sim_cpu *self = this_cpu(m);
	unsigned int me = self ? self->id : m->nr_cpus;
	unsigned int nr = 0, c;
	bool run_local = self && cpumask_test_cpu(me, mask) && (!cond || cond(m, me, info));

	if (m->no_ipi_fastpath) {
		nr = call_many_two_pass(m, mask, me, cond, func, info, info_size, mm, reason, wait);
	} else {
		/*
		 * A word of the mask at a time, as it was when read (the kernel
		 * walks its own copy); a call changes only its own CPU's bit.
		 */
		for (unsigned int w = 0; w < mask->nwords; w++) {
			for (uint64_t bits = mask->bits[w]; bits;) {
				c = w * 64 + (unsigned int)__builtin_ctzll(bits);
				bits &= bits - 1;
				if (c >= m->nr_cpus)
					break;
				if (bits)
					prefetch_target(m, w * 64 + (unsigned int)__builtin_ctzll(bits), reason);
				if (c == me || (cond && !cond(m, c, info)))
					continue;
				call_one(m, &m->cpus[c], func, info, info_size, mm, self, reason, wait);
				nr++;
			}
		}
		if (nr) {
			m->stats[ipi_call_stat[reason]]++;
			m->stats[ipi_recv_stat[reason]] += nr;
			if (self)
				self->stats[ipi_sent_cpu_stat[reason]] += nr;
		}
	}
	if (run_local && func)
		func(m, self, (void *)info);
}

/*
 * ptsim: the empty function to every CPU but @self (NULL: none), with no CPU
 * holding IRQs off: nothing is queued and nothing runs, so the counters
 * smp_call_function_many() would add are added here, the targets' own
 * counts deferred: one more pending interrupt for every CPU, one less for
 * @self.  Returns false where the general path must run.
 */
static bool ipi_broadcast_counted(struct ptsim_machine *m, struct sim_cpu *self, smp_call_func_t func,
				  enum ipi_reason reason)
{
	unsigned int nr = m->nr_cpus - (self ? 1 : 0);

	if (func || m->nr_irqs_off || m->no_ipi_fastpath)
		return false;
	if (!nr)
		return true;
	m->stats[ipi_call_stat[reason]]++;
	m->stats[ipi_recv_stat[reason]] += nr;
	m->ipi_broadcast_pending[reason]++;
	if (self) {
		self->stats[ipi_sent_cpu_stat[reason]] += nr;
		self->stats[ipi_recv_cpu_stat[reason]]--;   /* the pending count gives it back (unsigned) */
	}
	return true;
}

void smp_fold_broadcasts(struct ptsim_machine *m)
{
	for (unsigned int r = 0; r < NR_IPI_REASONS; r++) {
		uint64_t n = m->ipi_broadcast_pending[r];

		if (!n)
			continue;
		for (unsigned int c = 0; c < m->nr_cpus; c++)
			m->cpus[c].stats[ipi_recv_cpu_stat[r]] += n;
		m->ipi_broadcast_pending[r] = 0;
	}
}

/* smp_call_function(): every online CPU but self. */
void smp_call_function(struct ptsim_machine *m, smp_call_func_t func, enum ipi_reason reason, bool wait)
{
	struct sim_cpu *self = this_cpu(m);
	unsigned int *targets = m->cpu_scratch[0];
	unsigned int nr = 0;

	if (ipi_broadcast_counted(m, self, func, reason))
		return;

	for (unsigned int c = 0; c < m->nr_cpus; c++)
		if (!self || c != self->id)
			targets[nr++] = c;
	smp_call_function_many(m, targets, nr, func, NULL, 0, NULL, reason, wait);
}

static void release_deferred(struct ptsim_machine *m, struct sim_cpu *sender)
{
	struct sim_cpu *saved = m->cur;
	size_t n = sender->nr_deferred;
	uint32_t *list = sender->deferred;

	sender->deferred = NULL;
	sender->nr_deferred = sender->cap_deferred = 0;
	m->cur = sender;
	for (size_t i = 0; i < n; i++)
		release_frame_now(m, list[i]);
	m->cur = saved;
	sim_free(&m->alloc, list, n * sizeof(uint32_t));
}

void smp_irqs_off(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (!cpu->irqs_off)
		m->nr_irqs_off++;
	cpu->irqs_off = true;
}

/* smp_irqs_on - @cpu enables IRQs: take the queued IPIs, in order. */
void smp_irqs_on(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (cpu->irqs_off)
		m->nr_irqs_off--;
	cpu->irqs_off = false;
	while (cpu->pending) {
		struct pending_call *pc = cpu->pending;

		cpu->pending = pc->next;
		if (!cpu->pending)
			cpu->pending_tail = &cpu->pending;
		if (pc->func) {
			pc->func(m, cpu, pc->info);
			if (pc->mm)
				arch_retire_skipped(pc->mm);   /* ptsim bookkeeping: the CPU may have switched meanwhile */
		}
		if (pc->sender >= 0) {
			struct sim_cpu *s = &m->cpus[pc->sender];
			if (--s->pending_acks == 0) {
				m->nr_blocked--;
				release_deferred(m, s);
				i_mmap_release_held(m, s);
				rcu_reader_end(m, &s->op_epoch);
			}
		}
		if (pc->mm)
			mmdrop(pc->mm);
		sim_free(&m->alloc, pc, sizeof(*pc));
	}
}

/*
 * free_frame_deferred - the CPU running the operation still waits for an IPI:
 * the frame goes back to the pool when the wait ends (free_frame_after_waits()
 * in internal.h decides).
 */
void free_frame_deferred(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_cpu *cpu = this_cpu(m);

	if (cpu->nr_deferred == cpu->cap_deferred) {
		size_t ncap = cpu->cap_deferred ? cpu->cap_deferred * 2 : 64;
		uint32_t *n = sim_irealloc(&m->alloc, cpu->deferred, cpu->cap_deferred * sizeof(uint32_t),
					   ncap * sizeof(uint32_t));
		if (NEVER(m, !n)) {
			release_frame_now(m, pfn);
			return;
		}
		cpu->deferred = n;
		cpu->cap_deferred = ncap;
	}
	cpu->deferred[cpu->nr_deferred++] = pfn;
}
