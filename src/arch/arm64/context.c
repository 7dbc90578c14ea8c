/*
 * arm64 ASIDs: port of arch/arm64/mm/context.c (2026 form; the same allocator
 * since v5.x apart from pinned ASIDs) and of switch_mm() from
 * arch/arm64/include/asm/mmu_context.h.
 *
 * How it works.  mm->context.id holds a generation (bits 16 and up) and an
 * ASID.  A context switch to an mm whose generation is current keeps its ASID
 * (fast path, no lock).  Otherwise new_context() tries to keep the old ASID
 * number (if it was running on some CPU at the last rollover it is
 * "reserved" and stays valid; if its bit in asid_map is still free it is
 * taken again), else takes the next free bit after the last one handed out.
 * When the bitmap is full: rollover.  The generation moves on by one, the
 * bitmap is cleared except for the ASID each CPU is running now (reserved),
 * and every CPU is marked to invalidate its whole local TLB (TLBI VMALLE1) the
 * next time it switches through the slow path.  No IPI is sent: each CPU
 * flushes itself when it next switches.  Example with 8-bit ASIDs: ASIDs
 * 1..255 are handed out to the first 255 mms; the 256th switch to a new mm
 * finds no free bit, bumps the generation (rollover 1), reserves the ASIDs the
 * CPUs are running, and hands out ASID 1 again; the CPU doing that switch
 * flushes its TLB right away, every other CPU at its next slow-path switch.
 * An exited mm's ASID is simply abandoned until a rollover frees it.
 *
 * With KPTI (arm64_kpti=on) ASIDs come in pairs: the even one for the kernel
 * mapping, the odd one (ASID | 1) for user space; odd bits are pre-set in the
 * bitmap so only even ASIDs are allocated, halving the usable number.
 *
 * ptsim departures (marked "ptsim:"): at a rollover every CPU drops now the TLB
 * entries of ASIDs other than the one it is running (it flushes everything
 * before it can use another ASID anyway, and a reused ASID number must not
 * keep the oracle's references of a previous owner alive).  Pinned ASIDs
 * (SVA), CnP, mm->context.active_cpu and the SW PAN TTBR0 handling are not
 * modelled.  The lazy-TLB mm stays loaded on an idle CPU, as arm64 keeps
 * TTBR0 pointing at it (enter_lazy_tlb() is empty).
 */
#include <stdio.h>

#include "arch/arm64/arm64.h"

static bool asid_test_and_set(uint64_t *map, uint64_t bit)
{
	bool was = map[bit >> 6] & (1ull << (bit & 63));
	map[bit >> 6] |= 1ull << (bit & 63);
	return was;
}

static uint64_t find_next_zero_bit(const uint64_t *map, uint64_t size, uint64_t from)
{
	for (uint64_t b = from; b < size; b++)
		if (!(map[b >> 6] & (1ull << (b & 63))))
			return b;
	return size;
}

static size_t asid_map_words(const struct ptsim_machine *m)
{
	return (size_t)((num_user_asids(m) + 63) / 64);
}

/* set_kpti_asid_bits() / set_reserved_asid_bits(): odd ASIDs belong to user space under KPTI. */
static void set_reserved_asid_bits(struct ptsim_machine *m)
{
	struct arm64_machine *am = arm64_m(m);
	size_t words = asid_map_words(m);

	for (size_t w = 0; w < words; w++)
		am->asid_map[w] = am->kpti ? 0xaaaaaaaaaaaaaaaaull : 0;
	if (num_user_asids(m) < 64)
		am->asid_map[0] &= (1ull << num_user_asids(m)) - 1;
}

static bool asid_gen_match(const struct ptsim_machine *m, uint64_t asid)
{
	return !((asid ^ arm64_m(m)->asid_generation) >> arm64_m(m)->asid_bits);
}

/**
 * arm64_asids_init - asids_init() + asids_update_limit(): the allocator's
 * state, refusing configurations where a rollover could find no free ASID
 * (the kernel warns; ptsim would hand out an ASID that does not exist).
 */
int arm64_asids_init(struct ptsim_machine *m, char *err, size_t errlen)
{
	struct arm64_machine *am = arm64_m(m);
	uint64_t available;

	am->asid_bits = (unsigned int)m->v.arm64_asid_bits;
	am->kpti = m->v.arm64_kpti;
	available = num_user_asids(m) / (am->kpti ? 2 : 1);
	if (available - 1 <= m->nr_cpus) {
		snprintf(err, errlen,
			 "arm64: %llu usable ASIDs (arm64_asid_bits=%u%s) must exceed the number of CPUs (%u) by more "
			 "than one",
			 (unsigned long long)available, am->asid_bits, am->kpti ? ", KPTI pairs" : "", m->nr_cpus);
		return PTSIM_EBADCONFIG;
	}
	am->asid_generation = ASID_FIRST_VERSION;
	am->asid_map = sim_calloc(&m->alloc, asid_map_words(m), sizeof(uint64_t));
	am->cpu = sim_calloc(&m->alloc, m->nr_cpus, sizeof(struct arm64_cpu));
	if (!am->asid_map || !am->cpu)
		return SIM_ENOMEM;
	set_reserved_asid_bits(m);
	am->cur_idx = 1;
	for (unsigned int c = 0; c < m->nr_cpus; c++)
		m->cpus[c].asid = 0;   /* reserved TTBR0, ASID #0: init_mm */
	return 0;
}

void arm64_asids_release(struct ptsim_machine *m)
{
	struct arm64_machine *am = arm64_m(m);

	sim_free(&m->alloc, am->asid_map, asid_map_words(m) * sizeof(uint64_t));
	sim_free(&m->alloc, am->cpu, m->nr_cpus * sizeof(struct arm64_cpu));
	am->asid_map = NULL;
	am->cpu = NULL;
}

/* init_new_context(): no ASID until the mm is first scheduled. */
int arm64_init_new_context(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;
	struct arm64_mm_context *ctx = sim_calloc(&m->alloc, 1, sizeof(*ctx));

	if (!ctx)
		return SIM_ENOMEM;
	ctx->id = 0;
	mm->arch = ctx;
	return 0;
}

/* destroy_context(): the ASID is abandoned (reclaimed at the next rollover). */
void arm64_destroy_context(struct mm_struct *mm)
{
	struct ptsim_machine *m = mm->machine;

	if (!mm->arch)
		return;
	if (m->arch)
		bbm_forget_mm(m, mm);   /* the mm's records go with it: nothing can repopulate its tables */
	sim_free(&m->alloc, mm->arch, sizeof(struct arm64_mm_context));
	mm->arch = NULL;
}

/*
 * flush_context - rollover: reserve what each CPU runs, clear the rest of the
 * bitmap, and queue a local TLB invalidation on every CPU.
 */
static void flush_context(struct ptsim_machine *m)
{
	struct arm64_machine *am = arm64_m(m);

	set_reserved_asid_bits(m);
	for (unsigned int i = 0; i < m->nr_cpus; i++) {
		uint64_t asid = am->cpu[i].active_asid;

		am->cpu[i].active_asid = 0;
		/*
		 * A CPU that went through a rollover already and has not run
		 * another task since keeps its reserved ASID: it is the only
		 * trace of the process it still runs.
		 */
		if (asid == 0)
			asid = am->cpu[i].reserved_asid;
		asid_test_and_set(am->asid_map, ctxid2asid(m, asid));
		am->cpu[i].reserved_asid = asid;
	}
	for (unsigned int i = 0; i < m->nr_cpus; i++) {
		am->cpu[i].tlb_flush_pending = true;
		/*
		 * ptsim: entries of any other ASID are unusable until this CPU's
		 * TLBI VMALLE1; drop them now so that a previous owner of a reused
		 * ASID number holds no frame references (nothing is counted).
		 */
		tlb_inv_asid_except(m, &m->cpus[i],
				    arm64_user_tag(m, (uint16_t)ctxid2asid(m, am->cpu[i].reserved_asid)));
	}
	STAT_INC(m, ASID_ROLLOVERS);
}

/*
 * check_update_reserved_asid - if @asid was running somewhere at the last
 * rollover, every copy of it moves to @newasid (same number, new generation).
 */
static bool check_update_reserved_asid(struct ptsim_machine *m, uint64_t asid, uint64_t newasid)
{
	struct arm64_machine *am = arm64_m(m);
	bool hit = false;

	for (unsigned int cpu = 0; cpu < m->nr_cpus; cpu++) {
		if (am->cpu[cpu].reserved_asid == asid) {
			hit = true;
			am->cpu[cpu].reserved_asid = newasid;
		}
	}
	return hit;
}

static uint64_t new_context(struct ptsim_machine *m, struct mm_struct *mm)
{
	struct arm64_machine *am = arm64_m(m);
	uint64_t asid = arm64_ctx(mm)->id;
	uint64_t generation = am->asid_generation;

	if (asid != 0) {
		uint64_t newasid = ctxid2asid(m, asid) | generation;

		/* Active during a rollover: keep it, a false alarm. */
		if (check_update_reserved_asid(m, asid, newasid))
			return newasid;
		/* A valid ASID in a previous life: re-use it if still free. */
		if (!asid_test_and_set(am->asid_map, ctxid2asid(m, asid)))
			return newasid;
	}

	/* Count from ASID #1: #0 is the reserved TTBR0 of init_mm. */
	asid = find_next_zero_bit(am->asid_map, num_user_asids(m), am->cur_idx);
	if (asid != num_user_asids(m))
		goto set_asid;

	/* Out of ASIDs: a new generation. */
	am->asid_generation += ASID_FIRST_VERSION;
	generation = am->asid_generation;
	flush_context(m);
	/* More ASIDs than CPUs (checked at setup): this always succeeds. */
	asid = find_next_zero_bit(am->asid_map, num_user_asids(m), 1);

set_asid:
	asid_test_and_set(am->asid_map, asid);
	am->cur_idx = asid;
	return asid | generation;
}

/*
 * check_and_switch_context - give @mm a current-generation ASID on @cpu and
 * run the rollover's pending local invalidation if this CPU owes one.
 */
static void check_and_switch_context(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm)
{
	struct arm64_machine *am = arm64_m(m);
	struct arm64_cpu *pc = &am->cpu[cpu->id];
	uint64_t asid = arm64_ctx(mm)->id;
	uint64_t old_active_asid = pc->active_asid;

	/* Fast path: current generation, and no rollover has reset this CPU. */
	if (old_active_asid && asid_gen_match(m, asid)) {
		pc->active_asid = asid;
		goto switch_mm_fastpath;
	}

	/* raw_spin_lock_irqsave(&cpu_asid_lock) */
	asid = arm64_ctx(mm)->id;
	if (!asid_gen_match(m, asid)) {
		asid = new_context(m, mm);
		arm64_ctx(mm)->id = asid;
	}
	if (pc->tlb_flush_pending) {
		pc->tlb_flush_pending = false;
		local_flush_tlb_all(m, cpu);
	}
	pc->active_asid = asid;

switch_mm_fastpath:
	/* cpu_switch_mm(): TTBR0 = mm->pgd, ASID in TTBR1. */
	cpu->asid = arm64_user_tag(m, ASID(mm));
}

/**
 * arm64_switch_mm - switch_mm(): nothing if @next is already the active mm
 * (the lazy mm of an idle CPU included); init_mm: the reserved TTBR0;
 * otherwise check_and_switch_context().
 */
void arm64_switch_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *next)
{
	cpu->is_lazy = false;
	if (cpu->loaded_mm == next)
		return;
	if (!next) {
		/* cpu_set_reserved_ttbr0(): no user translations, ASID #0. */
		cpu_set_loaded_mm(m, cpu, NULL);
		cpu->asid = 0;
		return;
	}
	check_and_switch_context(m, cpu, next);
	cpu_set_loaded_mm(m, cpu, next);
}

/*
 * enter_lazy_tlb(): empty on arm64.  ptsim keeps is_lazy as bookkeeping (the
 * CPU runs no user code; TTBR0 still points at the old mm).
 */
void arm64_enter_lazy_tlb(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	(void)m;
	if (cpu->loaded_mm)
		cpu->is_lazy = true;
}
