/*
 * x86-64 TLB maintenance: port of arch/x86/mm/tlb.c and the tlb_flush() of
 * arch/x86/include/asm/tlb.h at v6.18 (lazy mm_cpumask of 209954cbc7d0 +
 * 6db2526c1d69, the once-a-second trim, INVLPGB global ASIDs of v6.15).
 *
 * How it works, with the three tlb_gen values of one flush: every flush
 * request bumps mm->context.tlb_gen (say 7 -> 8) and carries new_tlb_gen = 8;
 * each CPU remembers, per ASID slot, the generation its TLB is clean for
 * (local_tlb_gen, say 7).  flush_tlb_func() on a CPU with local 7 and mm 8
 * does the requested partial flush (new == local + 1 == mm); with local 6 it
 * does a full flush (it missed one); with local 8 it does nothing.  A CPU that
 * is skipped (lazy, or no longer running the mm) compares generations at its
 * next switch to the mm and flushes then.
 *
 * Who gets an IPI (native_flush_tlb_multi()): with freed_tables, every CPU in
 * mm_cpumask but self; otherwise only CPUs for which should_flush_tlb() says
 * yes: not lazy, and running the mm (or stale, on a trim tick).  A CPU leaves
 * mm_cpumask only when a flush finds it running another mm (wrong-CPU path).
 * mm_cpumask=eager selects the pre-6.14 rule (bit cleared at switch-away, no
 * trim).
 *
 * Kernel eras: where the kernel changed a rule, each form is its own function
 * (mm_cpumask kept or cleared at switch-away, the once-a-second trim, lazy
 * CPUs and freed tables, tlb_flush() with or without the 2026 series,
 * flush_tlb_range()'s freed_tables, INVLPGB's global ASIDs), picked once by
 * x86_tlb_select_era() into struct x86_eras.
 *
 * ptsim departures (marked "ptsim:"), kept outside the ported functions:
 * retire_skipped(), run after every flush_tlb_mm_range() by
 * flush_tlb_mm_range_and_retire(), drops the cached entries of CPUs the
 * kernel relies on to catch up by generation (inactive ASID slots, and the
 * leaf entries of lazy CPUs): they are flushed before any use anyway, so only
 * the oracle's reference counts change, not any observable count;
 * x86_switch_mm() runs retire_dynamic_asids_of_global() after the port.  A switch is atomic in the
 * simulation; LOADED_MM_SWITCHING shows only between schedule_begin and schedule_end (a CPU inside
 * __schedule(), ptsim_schedule_begin()), where should_flush_tlb() picks the CPU.  Paravirt flush (KVM preempted vCPUs)
 * and PTI are not modelled.
 */
#include <stdlib.h>

#include "arch/x86/x86.h"
#include "mm/mmu_gather.h"

int x86_init_new_context(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	struct x86_mm_context *ctx = sim_calloc(&m->alloc, 1, sizeof(*ctx));

	if (!ctx)
		return SIM_ENOMEM;
	if (cpumask_alloc(m, &ctx->running)) {
		sim_free(&m->alloc, ctx, sizeof(*ctx));
		return SIM_ENOMEM;
	}
	ctx->ctx_id = ++x86_m(m)->last_mm_ctx_id;
	ctx->tlb_gen = 0;
	ctx->next_trim_cpumask = jiffies(m) + (uint64_t)m->v.hz;
	mm->arch = ctx;
	return 0;
}

static void mm_free_global_asid(struct ptsim_machine *m, struct mm_struct *mm);
static void note_running(struct sim_cpu *cpu);

void x86_destroy_context(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	struct x86_mm_context *ctx = mm->arch;

	if (!ctx)
		return;
	mm_free_global_asid(m, mm);
	cpumask_release(m, &ctx->running);
	sim_free(&m->alloc, ctx, sizeof(*ctx));
	mm->arch = NULL;
}

static uint64_t mm_ctx_id(const struct ptsim_machine *m, const struct mm_struct *mm)
{
	(void)m;
	return mm ? x86_ctx(mm)->ctx_id : INIT_MM_CTX_ID;
}

static uint64_t mm_tlb_gen(const struct ptsim_machine *m, const struct mm_struct *mm)
{
	return mm ? x86_ctx(mm)->tlb_gen : x86_m(m)->init_mm_tlb_gen;
}

static bool is_global_asid(uint16_t asid)
{
	return asid >= TLB_NR_DYN_ASIDS;
}

static uint16_t mm_global_asid(const struct mm_struct *mm)
{
	return mm ? x86_ctx(mm)->global_asid : 0;
}

static bool mm_needs_global_asid(const struct mm_struct *mm, uint16_t asid)
{
	uint16_t g = mm_global_asid(mm);
	return g && asid != g;
}

static void choose_new_asid(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next,
			    uint64_t next_tlb_gen, uint16_t *new_asid, bool *need_flush)
{
	struct x86_tlbstate *ts = x86_ts(m, cpu);

	if (!m->v.pcid) {
		*new_asid = 0;
		*need_flush = true;
		return;
	}
	/* A global ASID is kept coherent by INVLPGB: never flushed here. */
	if (mm_global_asid(next)) {
		*new_asid = mm_global_asid(next);
		*need_flush = false;
		return;
	}
	for (uint16_t asid = 0; asid < TLB_NR_DYN_ASIDS; asid++) {
		if (ts->ctxs[asid].ctx_id != mm_ctx_id(m, next))
			continue;
		*new_asid = asid;
		*need_flush = ts->ctxs[asid].tlb_gen < next_tlb_gen;
		return;
	}
	/* No slot for this mm: take the next one round-robin and flush it. */
	*new_asid = ts->next_asid++;
	if (*new_asid >= TLB_NR_DYN_ASIDS) {
		*new_asid = 0;
		ts->next_asid = 1;
	}
	*need_flush = true;
}

/*
 * mm_cpumask at switch-away: since 209954cbc7d0 (v6.14) a CPU stays in the
 * mask of the mm it leaves (flushes trim it); before, it left at once.
 */
static void cpumask_leave_prev_6_14(struct mm_struct *prev, struct sim_cpu *cpu)
{
	(void)prev;
	(void)cpu;
}

static void cpumask_leave_prev_eager(struct mm_struct *prev, struct sim_cpu *cpu)
{
	if (prev)
		cpumask_clear_cpu(cpu->id, &prev->cpumask);
}

/*
 * ptsim bookkeeping: a switch that flushed (tlb.switch_flush).  It also counts
 * in tlb.switch_flush_task when a task of the trace is current on @cpu: a
 * switch to it (run, spawn, a new thread or child, exec's new mm) or one it
 * makes itself (the lazy switch to init_mm of its exit's last flush).  Not the
 * switches into the stand-in of other processes (`run other`), nor those of
 * an idle CPU (leave_mm(), a flush call that finds the CPU lazy): what
 * `ptsim record` counts as the recorded tasks' flushing switches.
 */
static void count_switch_flush(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	STAT_INC(m, TLB_SWITCH_FLUSH);
	CPU_STAT_INC(cpu, SWITCH_FLUSH);
	if (cpu->curr && cpu->curr->id >= 0) {
		STAT_INC(m, TLB_SWITCH_FLUSH_TASK);
		CPU_STAT_INC(cpu, SWITCH_FLUSH_TASK);
	}
}

/**
 * switch_mm_irqs_off - load @next (NULL: init_mm).
 * Same mm: nothing unless the CPU was lazy and missed a flush.  Different mm:
 * set self in next's mask (keep it in prev's, v6.14+), pick an ASID, flush it
 * if its generation is behind.
 */
static void switch_mm_irqs_off(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next)
{
	struct x86_tlbstate *ts = x86_ts(m, cpu);
	struct mm_struct *prev = cpu->loaded_mm;
	uint16_t prev_asid = ts->loaded_mm_asid;
	bool was_lazy = cpu->is_lazy;
	uint64_t next_tlb_gen;
	uint16_t new_asid;
	bool need_flush;

	if (was_lazy)
		cpu->is_lazy = false;

	if (prev == next) {
		bool need_global = mm_needs_global_asid(next, prev_asid);

		if (!was_lazy && !need_global)
			return;
		if (need_global) {
			/* The mm moved to a global ASID: reload without a flush. */
			new_asid = mm_global_asid(next);
			need_flush = false;
			next_tlb_gen = mm_tlb_gen(m, next);
		} else {
			if (is_global_asid(prev_asid))
				return;
			next_tlb_gen = mm_tlb_gen(m, next);
			if (ts->ctxs[prev_asid].tlb_gen == next_tlb_gen)
				return;
			/* The TLB went out of date while this CPU was lazy. */
			new_asid = prev_asid;
			need_flush = true;
		}
	} else {
		x86_m(m)->eras.cpumask_leave_prev(prev, cpu);
		/* Start receiving flush IPIs, then read tlb_gen. */
		if (next && !cpumask_test_cpu(cpu->id, &next->cpumask))
			cpumask_set_cpu(cpu->id, &next->cpumask);
		next_tlb_gen = mm_tlb_gen(m, next);
		choose_new_asid(m, cpu, next, next_tlb_gen, &new_asid, &need_flush);
	}

	if (need_flush) {
		if (!is_global_asid(new_asid)) {
			ts->ctxs[new_asid].ctx_id = mm_ctx_id(m, next);
			ts->ctxs[new_asid].tlb_gen = next_tlb_gen;
		}
		/* CR3 load without the no-flush bit: this PCID's entries go. */
		if (m->v.pcid)
			tlb_inv_asid(m, cpu, new_asid, TLBINV_LEAF | TLBINV_PWC);
		else
			tlb_inv_all(m, cpu, TLBINV_LEAF | TLBINV_PWC);
		count_switch_flush(m, cpu);
	}
	cpu_set_loaded_mm(m, cpu, next);
	ts->loaded_mm_asid = new_asid;
	cpu->asid = new_asid;
}

/*
 * ptsim bookkeeping: once @next runs on its global ASID on @cpu, what the CPU
 * cached under the mm's old dynamic ASID can never be used again: retire it
 * (only the oracle's reference counts change).
 */
static void retire_dynamic_asids_of_global(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next,
					   uint16_t prev_asid)
{
	struct x86_tlbstate *ts = x86_ts(m, cpu);

	if (!is_global_asid(ts->loaded_mm_asid) || is_global_asid(prev_asid) || !m->v.pcid)
		return;
	for (uint16_t s = 0; s < TLB_NR_DYN_ASIDS; s++)
		if (ts->ctxs[s].ctx_id == mm_ctx_id(m, next))
			tlb_inv_asid(m, cpu, s, TLBINV_LEAF | TLBINV_PWC);
}

/* The switch_mm op and every internal switch: the port, then the bookkeeping. */
void x86_switch_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next)
{
	uint16_t prev_asid = x86_ts(m, cpu)->loaded_mm_asid;

	if (cpu->loaded_mm)   /* before the switch, which may drop the last reference to it */
		cpumask_clear_cpu(cpu->id, &x86_ctx(cpu->loaded_mm)->running);
	switch_mm_irqs_off(m, cpu, next);
	note_running(cpu);
	retire_dynamic_asids_of_global(m, cpu, next, prev_asid);
}

/* enter_lazy_tlb(): keep the mm loaded, stop taking non-table flushes. */
void x86_enter_lazy_tlb(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	(void)m;
	if (!cpu->loaded_mm)
		return;
	cpu->is_lazy = true;
	note_running(cpu);
}

/*
 * Idle: on bare metal a "TLB flushed" C-state makes the cpuidle core call
 * leave_mm(), which switches to init_mm without an IPI (idle_leave_mm=on).
 * Guests idling with HLT stay lazy (the default, as measured on 6.18.44).
 */
void x86_cpu_idle(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (m->v.idle_leave_mm && cpu->loaded_mm)
		x86_switch_mm(m, cpu, NULL);
}

static void flush_local_all(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	/* flush_tlb_local(): the current PCID, TLB and paging-structure caches. */
	tlb_inv_asid(m, cpu, x86_ts(m, cpu)->loaded_mm_asid, TLBINV_LEAF | TLBINV_PWC);
}

/*
 * flush_tlb_one_user() for each stride of [@start, @end): INVLPG (no PTI).
 * Its leaf part drops the address's TLB entries; its paging-structure-cache
 * part depends on the CPU (x86_pwc_invlpg): Intel drops every entry of the
 * PCID whatever the address, INVPCID single-address and AMD with EFER.TCE
 * only the entries on the address's own path.
 */
static void invlpg_range(struct ptsim_machine *m, struct sim_cpu *cpu, uint16_t asid, uint64_t start, uint64_t end,
			 unsigned int stride_shift)
{
	bool all_pwc = x86_m(m)->invlpg_drops_all_pwc;

	for (uint64_t addr = start; addr < end; addr += 1ull << stride_shift)
		tlb_inv_va(m, cpu, asid, addr, all_pwc ? TLBINV_LEAF : TLBINV_LEAF | TLBINV_PWC);
	if (all_pwc)
		tlb_inv_asid(m, cpu, asid, TLBINV_PWC);
}

/*
 * flush_tlb_func - the flush on one CPU (IPI handler, or local call).
 */
static void flush_tlb_func(struct ptsim_machine *m, struct sim_cpu *cpu, void *info)
{
	const struct flush_tlb_info *f = info;
	struct x86_tlbstate *ts = x86_ts(m, cpu);
	struct mm_struct *loaded_mm = cpu->loaded_mm;
	uint16_t loaded_mm_asid = ts->loaded_mm_asid;
	bool local = cpu->id == f->initiating_cpu;
	uint64_t local_tlb_gen, cur_tlb_gen;

	if (!local) {
		STAT_INC(m, NR_TLB_REMOTE_FLUSH_RECEIVED);
		CPU_STAT_INC(cpu, TLB_FLUSH_RECEIVED);
	}

	/* The CPU was left in the mm_cpumask of the target mm: clear it. */
	if (f->mm && f->mm != loaded_mm) {
		cpumask_clear_cpu(cpu->id, &f->mm->cpumask);
		if (!local) {
			STAT_INC(m, TLB_REMOTE_WRONG_CPU);
			CPU_STAT_INC(cpu, REMOTE_WRONG_CPU);
		}
		return;
	}

	if (!loaded_mm)
		goto noop;   /* init_mm */

	if (mm_needs_global_asid(loaded_mm, loaded_mm_asid)) {
		x86_switch_mm(m, cpu, loaded_mm);
		return;
	}
	if (is_global_asid(loaded_mm_asid))
		goto noop;   /* INVLPGB keeps it coherent */

	if (cpu->is_lazy) {
		/*
		 * Lazy: at least the paging-structure caches must go; switching
		 * to init_mm is barely slower than that.
		 */
		x86_switch_mm(m, cpu, NULL);
		if (!local) {
			STAT_INC(m, TLB_REMOTE_LAZY);
			CPU_STAT_INC(cpu, REMOTE_LAZY);
		}
		return;
	}

	local_tlb_gen = ts->ctxs[loaded_mm_asid].tlb_gen;
	if (f->new_tlb_gen != TLB_GENERATION_INVALID && f->new_tlb_gen <= local_tlb_gen)
		goto noop;   /* already up to date for this request */

	cur_tlb_gen = x86_ctx(loaded_mm)->tlb_gen;
	if (local_tlb_gen == cur_tlb_gen)
		goto noop;

	if (f->end != TLB_FLUSH_ALL && f->new_tlb_gen == local_tlb_gen + 1 && f->new_tlb_gen == cur_tlb_gen) {
		/* Partial flush: INVLPG per stride. */
		uint64_t nr_invalidate = (f->end - f->start) >> f->stride_shift;

		invlpg_range(m, cpu, loaded_mm_asid, f->start, f->end, f->stride_shift);
		if (local) {
			STAT_ADD(m, NR_TLB_LOCAL_FLUSH_ONE, nr_invalidate);
			CPU_STAT_ADD(cpu, LOCAL_FLUSH_ONE, nr_invalidate);
			STAT_INC(m, TLB_LOCAL_PARTIAL);
		} else {
			STAT_INC(m, TLB_REMOTE_PARTIAL);
			CPU_STAT_INC(cpu, REMOTE_PARTIAL);
		}
	} else {
		flush_local_all(m, cpu);
		if (local) {
			STAT_INC(m, NR_TLB_LOCAL_FLUSH_ALL);
			CPU_STAT_INC(cpu, LOCAL_FLUSH_ALL);
			STAT_INC(m, TLB_LOCAL_FULL);
		} else {
			STAT_INC(m, TLB_REMOTE_FULL);
			CPU_STAT_INC(cpu, REMOTE_FULL);
		}
	}
	/* Both paths bring this CPU up to the mm's current generation. */
	ts->ctxs[loaded_mm_asid].tlb_gen = cur_tlb_gen;
	return;

noop:
	if (!local)
		STAT_INC(m, TLB_REMOTE_NOOP);
}

static bool should_flush_tlb(struct ptsim_machine *m, unsigned int c, const void *data)
{
	const struct flush_tlb_info *info = data;

	const struct sim_cpu *cpu = &m->cpus[c];

	/*
	 * Inside switch_mm_irqs_off() (schedule_begin): is_lazy already
	 * cleared, loaded_mm == LOADED_MM_SWITCHING: state of either mm, flush.
	 */
	if (cpu_in_schedule(cpu))
		return true;
	/* Lazy TLB will get flushed at the next context switch. */
	if (cpu->is_lazy)
		return false;
	/* No mm means kernel memory flush. */
	if (!info->mm)
		return true;
	/* The target mm is loaded, and the CPU is not lazy. */
	if (cpu->loaded_mm == info->mm)
		return true;
	/* In the mask but running something else: trimmed about once a second. */
	if (info->trim_cpumask)
		return true;
	return false;
}

/* should_trim_cpumask() (6db2526c1d69, v6.14): once a second per mm. */
static bool should_trim_cpumask_6_14(struct ptsim_machine *m, struct mm_struct *mm)
{
	struct x86_mm_context *ctx = x86_ctx(mm);

	if (jiffies(m) > ctx->next_trim_cpumask) {   /* time_after() */
		ctx->next_trim_cpumask = jiffies(m) + (uint64_t)m->v.hz;
		return true;
	}
	return false;
}

/* Before v6.14 CPUs left the mask at switch-away: nothing to trim. */
static bool should_trim_cpumask_eager(struct ptsim_machine *m, struct mm_struct *mm)
{
	(void)m;
	(void)mm;
	return false;
}

/*
 * Does the flush go to every CPU of the mask, lazy and stale ones included?
 * Since v4.20 (016c4d92cd16 and its series) when tables were freed (or the mm
 * is in an ASID transition): a lazy CPU's paging-structure caches may point
 * at them, and a speculative walk could use them.
 */
static bool flush_reaches_all_4_20(const struct flush_tlb_info *info)
{
	return info->freed_tables || (info->mm && x86_ctx(info->mm)->asid_transition);
}

/*
 * The 2018 "make lazy TLB mode lazier" patch (ac0315896970) without its
 * follow-up "leave lazy TLB mode at page table free time" (2ff6ddf19c0e):
 * lazy CPUs never get a flush, not even when page tables are freed.
 */
static bool flush_reaches_all_lazier_2018(const struct flush_tlb_info *info)
{
	return info->mm && x86_ctx(info->mm)->asid_transition;
}

/*
 * native_flush_tlb_multi - flush the CPUs of @mask, self included if it is
 * there.  Tables freed (or the mm in an ASID transition): all of them, lazy
 * and stale included (on_each_cpu_mask()).  Otherwise only those
 * should_flush_tlb() picks (on_each_cpu_cond_mask()).
 */
static void native_flush_tlb_multi(struct ptsim_machine *m, const struct cpumask *mask,
				   const struct flush_tlb_info *info)
{
	STAT_INC(m, NR_TLB_REMOTE_FLUSH);
	if (x86_m(m)->eras.flush_reaches_all(info))
		on_each_cpu_cond_mask(m, NULL, flush_tlb_func, info, sizeof(*info), info->mm, IPI_TLB_FLUSH, true, mask);
	else
		on_each_cpu_cond_mask(m, should_flush_tlb, flush_tlb_func, info, sizeof(*info), info->mm, IPI_TLB_FLUSH,
				      true, mask);
}

/* ---- INVLPGB (AMD, v6.15+): global ASIDs and broadcast invalidation ---- */

/* invlpgb_count_max: strides one INVLPGB may cover (CPUID 0x80000008 EDX; 8 on Zen 4). */
#define INVLPGB_COUNT_MAX 8

static void invlpgb_all_cpus(struct ptsim_machine *m, struct mm_struct *mm, uint16_t asid, uint64_t start,
			     uint64_t end, unsigned int stride_shift)
{
	unsigned int c;

	for_each_cpu(c, &mm->tlb_cached, m->nr_cpus) {
		struct sim_cpu *cpu = &m->cpus[c];
		if (end == TLB_FLUSH_ALL) {
			tlb_inv_asid(m, cpu, asid, TLBINV_LEAF | TLBINV_PWC);
			continue;
		}
		for (uint64_t a = start; a < end; a += 1ull << stride_shift)
			tlb_inv_va(m, cpu, asid, a, TLBINV_LEAF | TLBINV_PWC);
	}
}

/*
 * The global ASID space (v6.15).  Global ASIDs are handed out upwards from
 * TLB_NR_DYN_ASIDS; a freed one is not reused at once but marked, and only
 * when the search reaches the top of the space does one invalidation of every
 * non-global translation on every CPU make all the freed ones safe again.  So
 * neither an allocation nor an assignment flushes anything by itself: the
 * first allocation (the cursor starts at the top) and each wrap do.
 */
void x86_global_asid_init(struct x86_machine *xm)
{
	xm->last_global_asid = MAX_ASID_AVAILABLE;
	xm->global_asid_available = MAX_ASID_AVAILABLE - TLB_NR_DYN_ASIDS - 1;
}

/* invlpgb_flush_all_nonglobals(): INVLPGB of every non-global translation, then TLBSYNC. */
static void invlpgb_flush_all_nonglobals(struct ptsim_machine *m)
{
	for (unsigned int c = 0; c < m->nr_cpus; c++)
		tlb_inv_all(m, &m->cpus[c], TLBINV_LEAF | TLBINV_PWC);
	STAT_INC(m, TLB_INVLPGB);
	STAT_INC(m, TLB_INVLPGB_ALL);
	STAT_INC(m, TLB_TLBSYNC);
}

static void reset_global_asid_space(struct ptsim_machine *m)
{
	struct x86_machine *xm = x86_m(m);

	invlpgb_flush_all_nonglobals(m);
	/* The flush makes the freed global ASIDs safe to reuse. */
	for (unsigned int a = 0; a <= MAX_ASID_AVAILABLE; a++)
		if (xm->global_asid_used[a] & GLOBAL_ASID_FREED)
			xm->global_asid_used[a] = 0;
	xm->last_global_asid = TLB_NR_DYN_ASIDS;
}

static uint16_t allocate_global_asid(struct ptsim_machine *m)
{
	struct x86_machine *xm = x86_m(m);
	unsigned int asid;

	/* The previous allocation reached the top of the space. */
	if (xm->last_global_asid >= MAX_ASID_AVAILABLE - 1)
		reset_global_asid_space(m);
	for (asid = xm->last_global_asid; asid < MAX_ASID_AVAILABLE; asid++)   /* find_next_zero_bit() */
		if (!xm->global_asid_used[asid])
			break;
	if (asid >= MAX_ASID_AVAILABLE)
		return 0;   /* VM_WARN_ONCE in the kernel when nothing is available */
	xm->global_asid_used[asid] = GLOBAL_ASID_USED;
	xm->last_global_asid = (uint16_t)asid;
	xm->global_asid_available--;
	return (uint16_t)asid;
}

/* mm_assign_global_asid(): the transition flag before the ASID, no flush. */
static void mm_assign_global_asid(struct mm_struct *mm, uint16_t asid)
{
	x86_ctx(mm)->asid_transition = true;
	x86_ctx(mm)->global_asid = asid;
}

static void use_global_asid(struct ptsim_machine *m, struct mm_struct *mm)
{
	uint16_t asid;

	if (mm_global_asid(mm))
		return;
	if (!x86_m(m)->global_asid_available)
		return;   /* out of global ASIDs: stay on IPIs */
	asid = allocate_global_asid(m);
	if (!asid)
		return;
	mm_assign_global_asid(mm, asid);
}

/* mm_free_global_asid(): the ASID waits for the next reset before it is reused. */
static void mm_free_global_asid(struct ptsim_machine *m, struct mm_struct *mm)
{
	struct x86_mm_context *ctx = x86_ctx(mm);

	if (!ctx->global_asid)
		return;
	x86_m(m)->global_asid_used[ctx->global_asid] |= GLOBAL_ASID_FREED;
	ctx->global_asid = 0;
	x86_m(m)->global_asid_available++;
}

/* CPUs that really run @mm (loaded and not lazy), more than @threshold? */
static bool mm_active_cpus_exceeds(struct ptsim_machine *m, struct mm_struct *mm, unsigned int threshold)
{
	unsigned int c, n = 0;

	if (cpumask_weight(&mm->cpumask) <= threshold)
		return false;
	for_each_cpu(c, &mm->cpumask, m->nr_cpus) {
		if (m->cpus[c].loaded_mm != mm || m->cpus[c].is_lazy)
			continue;
		if (++n > threshold)
			return true;
	}
	return false;
}

/*
 * consider_global_asid - sample an mm flushed by IPIs; if it is active on more
 * than 3 CPUs, move it to a global ASID.  Sampling as the kernel does:
 * (current->pid & 31) == (jiffies & 31), with the task id as the pid.
 */
static void consider_global_asid(struct ptsim_machine *m, struct mm_struct *mm)
{
	struct sim_cpu *self = this_cpu(m);

	if (x86_ctx(mm)->global_asid)
		return;
	if (!self->curr || ((unsigned int)self->curr->id & 31) != (jiffies(m) & 31))
		return;
	if (mm_active_cpus_exceeds(m, mm, 3))
		use_global_asid(m, mm);
}

/* Without INVLPGB (X86_FEATURE_INVLPGB clear) there is nothing to consider. */
static void consider_global_asid_none(struct ptsim_machine *m, struct mm_struct *mm)
{
	(void)m;
	(void)mm;
}

static void finish_asid_transition(struct ptsim_machine *m, const struct flush_tlb_info *info)
{
	struct mm_struct *mm = info->mm;
	uint16_t asid = x86_ctx(mm)->global_asid;
	unsigned int c;

	if (!x86_ctx(mm)->asid_transition)
		return;
	for_each_cpu(c, &mm->cpumask, m->nr_cpus) {
		if (m->cpus[c].loaded_mm != mm)
			continue;
		if (x86_ts(m, &m->cpus[c])->loaded_mm_asid != asid) {
			/* Some CPU still runs it on a per-CPU ASID: IPIs for this one. */
			native_flush_tlb_multi(m, &mm->cpumask, info);
			return;
		}
	}
	x86_ctx(mm)->asid_transition = false;
}

static void broadcast_tlb_flush(struct ptsim_machine *m, const struct flush_tlb_info *info)
{
	struct mm_struct *mm = info->mm;
	uint16_t asid = x86_ctx(mm)->global_asid;

	if (info->end == TLB_FLUSH_ALL) {
		invlpgb_all_cpus(m, mm, asid, 0, TLB_FLUSH_ALL, 0);
		STAT_INC(m, TLB_INVLPGB_FULL);
		STAT_INC(m, TLB_INVLPGB);
	} else {
		/*
		 * invlpgb_flush_user_nr_nosync() sets no FINAL_ONLY flag: each
		 * INVLPGB drops the walk-cache entries of its addresses too,
		 * whether or not tables were freed.
		 */
		invlpgb_all_cpus(m, mm, asid, info->start, info->end, info->stride_shift);
		/* One INVLPGB per up to invlpgb_count_max strides (at least one); one per stride above PMD size. */
		uint64_t addr = info->start;
		do {
			uint64_t nr = 1;
			if (info->stride_shift <= PMD_SHIFT(m)) {
				nr = (info->end - addr) >> info->stride_shift;
				nr = nr < 1 ? 1 : nr > INVLPGB_COUNT_MAX ? INVLPGB_COUNT_MAX : nr;
			}
			STAT_INC(m, TLB_INVLPGB);
			addr += nr << info->stride_shift;
		} while (addr < info->end);
	}
	finish_asid_transition(m, info);
	STAT_INC(m, TLB_TLBSYNC);
}

/*
 * ptsim: drop now the entries the kernel relies on a later generation check
 * to flush: CPUs with this mm in an inactive ASID slot (all entries), and lazy
 * CPUs (leaf entries; their paging-structure caches stay, speculative walks
 * can use them until a freed_tables flush reaches them).  CPUs running the mm
 * keep theirs: only a flush may remove them.
 */
static void retire_skipped_cpu(struct ptsim_machine *m, struct mm_struct *mm, unsigned int c)
{
	struct x86_mm_context *ctx = x86_ctx(mm);
	struct sim_cpu *cpu = &m->cpus[c];
	bool loaded_here = cpu->loaded_mm == mm;
	bool stale_slot_left = false;

	/*
	 * Running it on a per-CPU ASID: its one slot is the active one, and
	 * that one stays.  (cpu->asid is the loaded ASID: read here from the
	 * CPU's first cache line, the tlbstate only where there is work.)
	 */
	if (loaded_here && !cpu->is_lazy && !is_global_asid(cpu->asid))
		return;
	struct x86_tlbstate *ts = x86_ts(m, cpu);
	for (int s = 0; s < TLB_NR_DYN_ASIDS; s++) {   /* without PCID only slot 0 is used */
		if (ts->ctxs[s].ctx_id != ctx->ctx_id)
			continue;
		bool active = loaded_here && ts->loaded_mm_asid == s;
		if (ts->ctxs[s].tlb_gen >= ctx->tlb_gen) {
			stale_slot_left |= !active;
			continue;
		}
		if (active && !cpu->is_lazy)
			continue;   /* running it: only a flush may remove its entries */
		tlb_inv_asid(m, cpu, (uint16_t)s, active ? TLBINV_LEAF : (TLBINV_LEAF | TLBINV_PWC));
	}
	/* A global ASID's entries are reached by INVLPGB through this mask: keep the bit. */
	if (!loaded_here && !stale_slot_left && !ctx->global_asid)
		cpumask_clear_cpu(c, &mm->tlb_cached);
}

/*
 * Every CPU that cached the mm, but those in ctx->running (which
 * retire_skipped_cpu() would leave as they are) are skipped a word of the
 * masks at a time: with every CPU running the mm, a flush costs no visit to
 * each of them here.  ptsim_debug_ipi_fastpath(m, false) visits each one.
 */
static void retire_skipped(struct ptsim_machine *m, struct mm_struct *mm)
{
	const struct cpumask *cached = &mm->tlb_cached, *running = &x86_ctx(mm)->running;
	unsigned int c;

	if (m->no_ipi_fastpath) {
		for_each_cpu(c, cached, m->nr_cpus)
			retire_skipped_cpu(m, mm, c);
		return;
	}
	if (ptsim_debug)
		for_each_cpu(c, running, m->nr_cpus)
			NEVER(m, m->cpus[c].loaded_mm != mm || m->cpus[c].is_lazy || is_global_asid(m->cpus[c].asid));
	for (unsigned int w = 0; w < cached->nwords; w++)
		for (uint64_t bits = cached->bits[w] & ~running->bits[w]; bits; bits &= bits - 1)
			retire_skipped_cpu(m, mm, w * 64 + (unsigned int)__builtin_ctzll(bits));
}

/*
 * ptsim bookkeeping after @cpu changed its loaded mm, is_lazy or its loaded
 * ASID: its bit in the running mask of the mm it has loaded (x86_switch_mm()
 * clears it in the mm it leaves).  Set exactly where retire_skipped_cpu()
 * has nothing to do: the mm loaded, not lazy, on a per-CPU ASID.
 */
static void note_running(struct sim_cpu *cpu)
{
	struct mm_struct *mm = cpu->loaded_mm;

	if (!mm)
		return;
	if (!cpu->is_lazy && !is_global_asid(cpu->asid))
		cpumask_set_cpu(cpu->id, &x86_ctx(mm)->running);
	else
		cpumask_clear_cpu(cpu->id, &x86_ctx(mm)->running);
}

/* The arch op: a flush call that waited for IRQs (smp_irqs_on()) has run. */
void x86_retire_skipped(struct mm_struct *mm)
{
	retire_skipped(mm->machine, mm);
}

/* cpumask_any_but(mask, cpu) < nr_cpu_ids */
static bool cpumask_any_but(const struct cpumask *mask, unsigned int cpu, unsigned int nr_cpus)
{
	unsigned int c = cpumask_next(mask, 0, nr_cpus);

	if (c == cpu)
		c = cpumask_next(mask, cpu + 1, nr_cpus);
	return c < nr_cpus;
}

/**
 * flush_tlb_mm_range - flush [@start, @end) of @mm with the given stride on
 * every CPU that may cache it.  More than tlb_single_page_flush_ceiling (33)
 * strides becomes a full flush.
 */
static void flush_tlb_mm_range(struct mm_struct *mm, uint64_t start, uint64_t end, unsigned int stride_shift,
			bool freed_tables)
{
	struct ptsim_machine *m = mm->machine;
	struct sim_cpu *self = this_cpu(m);
	struct flush_tlb_info info;

	if (end == TLB_FLUSH_ALL ||
	    ((end - start) >> stride_shift) > (uint64_t)m->v.tlb_single_page_flush_ceiling) {
		start = 0;
		end = TLB_FLUSH_ALL;
	}

	/* Also the barrier that pairs with switch_mm()'s read of tlb_gen. */
	uint64_t new_tlb_gen = ++x86_ctx(mm)->tlb_gen;

	memset(&info, 0, sizeof(info));
	info.mm = mm;
	info.start = start;
	info.end = end;
	info.stride_shift = (uint8_t)stride_shift;
	info.freed_tables = freed_tables;
	info.new_tlb_gen = new_tlb_gen;
	info.initiating_cpu = self->id;
	info.trim_cpumask = 0;
	STAT_INC(m, TLB_FLUSH_REQUESTS);

	if (x86_ctx(mm)->global_asid) {
		broadcast_tlb_flush(m, &info);
	} else if (cpumask_any_but(&mm->cpumask, self->id, m->nr_cpus)) {
		info.trim_cpumask = x86_m(m)->eras.should_trim_cpumask(m, mm);
		native_flush_tlb_multi(m, &mm->cpumask, &info);
		x86_m(m)->eras.consider_global_asid(m, mm);
	} else if (mm == self->loaded_mm) {
		flush_tlb_func(m, self, &info);
	}
}

/* Every flush_tlb_mm_range() of the simulation: the port, then retire_skipped() (ptsim bookkeeping). */
static void flush_tlb_mm_range_and_retire(struct mm_struct *mm, uint64_t start, uint64_t end,
					  unsigned int stride_shift, bool freed_tables)
{
	flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables);
	retire_skipped(mm->machine, mm);
}

/*
 * tlb_table_flush_implies_ipi_broadcast(): the 2026 queued "skip redundant
 * sync IPIs" series enables it at boot when flushes go out as IPIs
 * (native flush_tlb_multi(), no INVLPGB): a GUP-fast walker runs with IRQs
 * off on a CPU in the mm's cpumask, so the flush IPI already waits for it.
 */
bool x86_tlb_table_flush_implies_ipi_broadcast(const struct ptsim_machine *m)
{
	return m->v.x86_table_flush_implies_ipi && m->v.x86_flush == X86_FLUSH_IPI;
}

/* tlb_flush() from arch/x86/include/asm/tlb.h, v6.18: unshared_tables is not passed. */
static void tlb_flush_6_18(struct mmu_gather *tlb)
{
	uint64_t start = 0, end = TLB_FLUSH_ALL;
	unsigned int stride_shift = tlb_get_unmap_shift(tlb);

	if (!tlb->fullmm && !tlb->need_flush_all) {
		start = tlb->start;
		end = tlb->end;
	}
	flush_tlb_mm_range_and_retire(tlb->mm, start, end, stride_shift, tlb->freed_tables);
}

/*
 * tlb_flush() with the queued 2026 "skip redundant sync IPIs" series:
 * unsharing counts as freeing tables, so lazy CPUs get the IPI too.  The
 * series changes tlb_flush() itself, whatever the transport: only the skip
 * of the sync IPI depends on the boot-time key (IPI flushes, no INVLPGB).
 */
static void tlb_flush_sync_skip_2026(struct mmu_gather *tlb)
{
	uint64_t start = 0, end = TLB_FLUSH_ALL;
	unsigned int stride_shift = tlb_get_unmap_shift(tlb);

	if (!tlb->fullmm && !tlb->need_flush_all) {
		start = tlb->start;
		end = tlb->end;
	}
	flush_tlb_mm_range_and_retire(tlb->mm, start, end, stride_shift, tlb->freed_tables || tlb->unshared_tables);
}

void x86_tlb_flush(struct mmu_gather *tlb)
{
	x86_m(tlb->mm->machine)->eras.tlb_flush(tlb);
}

void x86_flush_tlb_mm(struct mm_struct *mm)
{
	flush_tlb_mm_range_and_retire(mm, 0, TLB_FLUSH_ALL, 0, true);
}

static unsigned int flush_tlb_range_stride(const struct vm_area_struct *vma)
{
	return is_vm_hugetlb_page(vma) ? vma->hpage_shift : PAGE_SHIFT(vma->vm_mm->machine);
}

/* flush_tlb_range() since 3ef938c35035 (2025): it may be clearing PMDs that point at tables. */
static void flush_tlb_range_3ef938c35035(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	flush_tlb_mm_range_and_retire(vma->vm_mm, start, end, flush_tlb_range_stride(vma), true);
}

/* flush_tlb_range() before 3ef938c35035: freed_tables = false. */
static void flush_tlb_range_leaf(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	flush_tlb_mm_range_and_retire(vma->vm_mm, start, end, flush_tlb_range_stride(vma), false);
}

void x86_flush_tlb_range(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	x86_m(vma->vm_mm->machine)->eras.flush_tlb_range(vma, start, end);
}

void x86_flush_tlb_page(struct vm_area_struct *vma, uint64_t addr)
{
	struct ptsim_machine *m = vma->vm_mm->machine;

	flush_tlb_mm_range_and_retire(vma->vm_mm, addr, addr + PAGE_SIZE(m), PAGE_SHIFT(m), false);
}

static void do_flush_tlb_all(struct ptsim_machine *m, struct sim_cpu *cpu, void *info)
{
	(void)info;
	STAT_INC(m, NR_TLB_REMOTE_FLUSH_RECEIVED);
	CPU_STAT_INC(cpu, TLB_FLUSH_RECEIVED);
	tlb_inv_all(m, cpu, TLBINV_LEAF | TLBINV_PWC);
}

/* flush_tlb_all(): every online CPU, self locally. */
void x86_flush_tlb_all(struct ptsim_machine *m)
{
	STAT_INC(m, NR_TLB_REMOTE_FLUSH);
	smp_call_function(m, do_flush_tlb_all, IPI_FLUSH_ALL, true);
	if (this_cpu(m))
		do_flush_tlb_all(m, this_cpu(m), NULL);
}

/* The kernel era of each x86 rule the variants select, chosen once at setup. */
void x86_tlb_select_era(struct ptsim_machine *m)
{
	struct x86_eras *e = &x86_m(m)->eras;
	bool eager = m->v.mm_cpumask == MM_CPUMASK_EAGER;

	e->cpumask_leave_prev = eager ? cpumask_leave_prev_eager : cpumask_leave_prev_6_14;
	e->should_trim_cpumask = eager ? should_trim_cpumask_eager : should_trim_cpumask_6_14;
	e->flush_reaches_all = m->v.x86_lazy_freed_tables == X86_LAZY_FREED_TABLES_SKIP ? flush_reaches_all_lazier_2018
											   : flush_reaches_all_4_20;
	e->consider_global_asid = m->v.x86_flush == X86_FLUSH_INVLPGB ? consider_global_asid : consider_global_asid_none;
	e->tlb_flush = m->v.x86_table_flush_implies_ipi ? tlb_flush_sync_skip_2026 : tlb_flush_6_18;
	e->flush_tlb_range = m->v.flush_tlb_range_freed_tables ? flush_tlb_range_3ef938c35035 : flush_tlb_range_leaf;
}

/*
 * arch_tlbbatch_add_pending() (asm/tlbflush.h) for one mm: bump its tlb_gen
 * and OR its mm_cpumask into @mask.  An mm on a global ASID (INVLPGB) is
 * flushed by broadcast at once instead and left out of the mask (ptsim:
 * 6.18 flushes every non-global ASID by broadcast at the batch's end; the
 * per-mm broadcast stands for it).
 */
static void tlbbatch_add_mm(struct ptsim_machine *m, struct cpumask *mask, struct mm_struct *mm, bool freed_tables)
{
	uint64_t gen = ++x86_ctx(mm)->tlb_gen;   /* inc_mm_tlb_gen() */

	STAT_INC(m, TLB_FLUSH_REQUESTS);
	if (x86_ctx(mm)->global_asid) {
		struct flush_tlb_info g;
		memset(&g, 0, sizeof(g));
		g.mm = mm;
		g.end = TLB_FLUSH_ALL;
		g.freed_tables = freed_tables;
		g.new_tlb_gen = gen;
		g.initiating_cpu = this_cpu(m)->id;
		broadcast_tlb_flush(m, &g);
		return;
	}
	for (unsigned int w = 0; w < mask->nwords; w++)
		mask->bits[w] |= mm->cpumask.bits[w];
}

/*
 * arch_tlbbatch_flush(): one flush_tlb_multi() of @mask whose info has no
 * mm (a target flushes fully whatever it has loaded if that fell behind, and
 * is never "the wrong CPU": it stays in the mm_cpumasks), or the local
 * flush_tlb_func() alone when @mask holds only this CPU.  With
 * @freed_tables lazy CPUs are included (mshare's sketch only).
 */
static void tlbbatch_flush_mask(struct ptsim_machine *m, const struct cpumask *mask, bool freed_tables)
{
	struct sim_cpu *self = this_cpu(m);
	struct flush_tlb_info info;

	memset(&info, 0, sizeof(info));
	info.end = TLB_FLUSH_ALL;
	info.freed_tables = freed_tables;
	info.new_tlb_gen = TLB_GENERATION_INVALID;
	info.initiating_cpu = self->id;
	if (cpumask_any_but(mask, self->id, m->nr_cpus))
		native_flush_tlb_multi(m, mask, &info);
	else if (cpumask_test_cpu(self->id, mask))
		flush_tlb_func(m, self, &info);
}

/*
 * x86_flush_tlb_mms - mshare's cpumask_union: one flush of every CPU that may
 * cache any of @mms, as the review sketched it on top of the reclaim batch
 * (arch_tlbbatch_add_pending() per mm, then arch_tlbbatch_flush()); with
 * @freed_tables lazy CPUs are included and go to init_mm (the "new
 * flush_tlb_func() flush type" of the review).
 */
void x86_flush_tlb_mms(struct ptsim_machine *m, struct mm_struct *const *mms, unsigned int nr, bool freed_tables)
{
	struct cpumask batch;

	batch.nwords = (m->nr_cpus + 63) / 64;
	batch.bits = sim_icalloc(&m->alloc, batch.nwords, sizeof(uint64_t));
	if (NEVER(m, !batch.bits)) {
		for (unsigned int i = 0; i < nr; i++)
			x86_flush_tlb_mm(mms[i]);
		return;
	}
	for (unsigned int i = 0; i < nr; i++)
		tlbbatch_add_mm(m, &batch, mms[i], freed_tables);
	tlbbatch_flush_mask(m, &batch, freed_tables);
	for (unsigned int i = 0; i < nr; i++)
		retire_skipped(m, mms[i]);
	sim_free(&m->alloc, batch.bits, batch.nwords * sizeof(uint64_t));
}

/* arch_tlbbatch_should_defer(): defer when another CPU is in the mm's mask (it needs an IPI anyway). */
bool x86_tlbbatch_should_defer(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	return cpumask_any_but(&mm->cpumask, this_cpu(m)->id, m->nr_cpus);
}

/* arch_tlbbatch_add_pending(): the range is not used, the batch ends in a full flush. */
void x86_tlbbatch_add_pending(struct arch_tlbflush_unmap_batch *batch, struct mm_struct *mm, uint64_t start,
			      uint64_t end)
{
	(void)start;
	(void)end;
	tlbbatch_add_mm(mm->machine, &batch->cpumask, mm, false);
	batch->mm = mm;
}

/* arch_tlbbatch_flush(): flush the union of the masks, then clear it. */
void x86_tlbbatch_flush(struct ptsim_machine *m, struct arch_tlbflush_unmap_batch *batch)
{
	tlbbatch_flush_mask(m, &batch->cpumask, false);
	memset(batch->cpumask.bits, 0, batch->cpumask.nwords * sizeof(uint64_t));
	if (batch->mm)
		retire_skipped(m, batch->mm);
	batch->mm = NULL;
}

/*
 * x86_retire_mm - ptsim: @mm is freed and loaded nowhere: every ASID slot a
 * CPU still keeps for it (its ctx_id is never reused) is dead; drop its
 * entries.
 */
void x86_retire_mm(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	struct x86_mm_context *ctx = x86_ctx(mm);
	unsigned int c;

	if (!ctx)
		return;
	for_each_cpu(c, &mm->tlb_cached, m->nr_cpus) {
		struct x86_tlbstate *ts = x86_ts(m, &m->cpus[c]);
		for (int s = 0; s < TLB_NR_DYN_ASIDS; s++)
			if (ts->ctxs[s].ctx_id == ctx->ctx_id)
				tlb_inv_asid(m, &m->cpus[c], (uint16_t)s, TLBINV_LEAF | TLBINV_PWC);
		if (ctx->global_asid)
			tlb_inv_asid(m, &m->cpus[c], ctx->global_asid, TLBINV_LEAF | TLBINV_PWC);
	}
}
