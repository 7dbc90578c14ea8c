/*
 * A differential check of the TLB model against a naive reference: after
 * every completed operation of a random (seeded) workload, each CPU that runs
 * a task must translate exactly as its page tables say — every valid leaf
 * entry of its current address space maps the same frame as a plain table
 * walk, and a writable entry sits on a writable PTE.  Stale entries are only
 * allowed where the kernel allows them (lazy CPUs, inactive ASIDs), and those
 * must never reach a freed frame (no violation for the safe variants).
 *
 * One test corrupts the model behind its back and expects the comparison to
 * fail, to prove the comparison can fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/helpers.h"

#include "mm/internal.h"

#define BASE 0x100000000000ull
#define SPAN (64ull << 20)   /* the workload lives in [BASE, BASE + SPAN) */
#define PAGE 4096ull
#define NTASKS 6

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t pick(struct rng *r, uint64_t n)
{
	return rnd(r) % n;
}

/* The reference: what a plain walk of @mm's tables says about @va. */
static bool ref_translate(struct mm_struct *mm, uint64_t va, uint32_t *pfn, bool *writable)
{
	enum pt_level level;
	pgent_t *ep = pt_walk(mm, va, &level);

	if (!pgent_present(*ep) || !pgent_hw_present(*ep))
		return false;
	if (level != PT_PTE && !pgent_huge(*ep))
		return false;
	*pfn = pgent_pfn(*ep);
	*writable = *ep & _PAGE_RW;
	return true;
}

struct coherent_ctx {
	struct ptsim_machine *m;
	struct sim_cpu *cpu;
	unsigned int bad;
	char *why;
	size_t len;
};

/* One TLB entry of the CPU against the CPU's loaded tables. */
static void check_entry(void *arg, unsigned int array, struct tlb_entry *e)
{
	struct coherent_ctx *c = arg;
	unsigned int flags = tlb_key_flags(e->key);

	if (array >= NR_TLB_PSIZES || tlb_key_asid(e->key) != c->cpu->asid)
		return;
	uint64_t va = tlb_key_tag(e->key) << c->m->tlb_layout.a[array].shift;
	uint32_t pfn = 0;
	bool w = false;
	bool ok = ref_translate(c->cpu->loaded_mm, va, &pfn, &w);
	if (ok && pfn == e->pfn && (!(flags & TLBF_WRITE) || w))
		return;
	if (!c->bad++)
		snprintf(c->why, c->len, "cpu %u va %#llx: TLB says frame %u%s, tables say %s %u%s", c->cpu->id,
			 (unsigned long long)va, e->pfn, (flags & TLBF_WRITE) ? " writable" : "", ok ? "frame" : "nothing",
			 pfn, w ? " writable" : "");
}

/* Returns the number of incoherent entries (and describes the first). */
static unsigned int check_coherent(struct ptsim_machine *m, char *why, size_t len)
{
	struct coherent_ctx c = { m, NULL, 0, why, len };

	for (unsigned int i = 0; i < m->nr_cpus; i++) {
		c.cpu = &m->cpus[i];
		if (!c.cpu->curr || c.cpu->is_lazy || !c.cpu->loaded_mm)
			continue;
		tlb_for_each_entry(m, c.cpu, check_entry, &c);
	}
	return c.bad;
}

static struct ptsim_machine *machine_for(enum ptsim_arch arch, unsigned int granule, unsigned int cpus,
					 const char *const *set)
{
	return t_machine_cfg(arch, granule, 0, cpus, NULL, set);
}

static void random_workload_on(struct ptsim_machine *m, uint64_t seed, unsigned int steps, unsigned int cpus);

static void random_workload(const char *const *set, uint64_t seed, unsigned int steps, unsigned int cpus)
{
	random_workload_on(t_machine(cpus, NULL, set), seed, steps, cpus);
}

static void random_workload_on(struct ptsim_machine *m, uint64_t seed, unsigned int steps, unsigned int cpus)
{
	struct rng r = { seed };
	bool alive[NTASKS] = { false };
	int next_child = 100;
	char why[256];

	/* Task 0 and two threads of it, task 3 another process; all map the same span. */
	T_OK(m, ptsim_spawn(m, 0, 0));
	struct ptsim_mmap_args a = { .addr = BASE, .len = SPAN, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	T_OK(m, ptsim_mmap(m, 0, &a));
	T_OK(m, ptsim_thread(m, 0, 1, 1 % cpus));
	T_OK(m, ptsim_thread(m, 0, 2, 2 % cpus));
	T_OK(m, ptsim_spawn(m, 3, 3 % cpus));
	T_OK(m, ptsim_mmap(m, 3, &a));
	alive[0] = alive[1] = alive[2] = alive[3] = true;

	for (unsigned int step = 0; step < steps; step++) {
		int task = (int)pick(&r, 4);
		uint64_t addr = BASE + pick(&r, SPAN / PAGE) * PAGE;
		uint64_t len = (1 + pick(&r, 600)) * PAGE;
		if (addr + len > BASE + SPAN)
			len = BASE + SPAN - addr;
		struct sim_task *t = task_lookup(m, task);
		if (!alive[task] || !t)
			continue;
		if (t->cpu < 0) {
			T_OK(m, ptsim_run(m, task, (unsigned int)pick(&r, cpus)));
			continue;
		}
		int rc = 0;
		switch (pick(&r, 13)) {
		case 0: case 1: case 2:
			rc = ptsim_touch(m, task, addr, len, 0, pick(&r, 2));
			break;
		case 3:
			rc = ptsim_munmap(m, task, addr, len);
			if (!rc) {
				struct ptsim_mmap_args b = { .addr = addr, .len = len,
							     .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
				rc = ptsim_mmap(m, task, &b);
			}
			break;
		case 4:
			rc = ptsim_mprotect(m, task, addr, len, pick(&r, 2) ? PTSIM_PROT_READ :
							 PTSIM_PROT_READ | PTSIM_PROT_WRITE);
			break;
		case 5:
			rc = ptsim_madvise(m, task, addr, len, pick(&r, 2) ? PTSIM_MADV_DONTNEED : PTSIM_MADV_FREE);
			break;
		case 6:
			rc = ptsim_sleep(m, task);
			break;
		case 7:
			rc = ptsim_run(m, task, (unsigned int)pick(&r, cpus));
			break;
		case 8: {
			/* fork a child that writes a little and exits, on some CPU */
			int child = next_child++;
			unsigned int ccpu = (unsigned int)pick(&r, cpus);
			if (ptsim_fork(m, task, child, ccpu))
				fail_msg("fork: %s", ptsim_machine_errmsg(m));
			T_OK(m, ptsim_touch(m, child, addr, len < 64 * PAGE ? len : 64 * PAGE, 0, true));
			T_OK(m, ptsim_exit(m, child));
			break;
		}
		case 9:
			rc = ptsim_advance(m, pick(&r, 2000000000));
			break;
		case 10:
			/* page reclaim: PTEs become swap entries, each flushed */
			rc = ptsim_swapout(m, task, addr, len);
			break;
		default:
			rc = ptsim_touch(m, task, BASE, SPAN, 64 * PAGE, false);
			break;
		}
		/* A system call the kernel fails (mprotect of a hole...) is fine here; nothing else. */
		if (rc && rc != -ENOMEM && rc != -EINVAL)
			fail_msg("step %u: %s", step, ptsim_machine_errmsg(m));
		unsigned int bad = check_coherent(m, why, sizeof(why));
		if (bad)
			fail_msg("step %u: %u incoherent TLB entries: %s", step, bad, why);
		if (ptsim_violation_count(m)) {
			struct ptsim_violation v;
			ptsim_violation_get(m, 0, &v);
			fail_msg("step %u: violation: %s", step, v.message);
		}
		if (step % 64 == 0 && ptsim_machine_check(m))
			fail_msg("step %u: %s", step, ptsim_machine_errmsg(m));
	}
	t_destroy(m);
}

static void test_tlb_coherence__default(void **s)
{
	(void)s;
	/* PTSIM_COHERENCE_SEEDS=N explores N more seeds (not in the default run). */
	const char *env = getenv("PTSIM_COHERENCE_SEEDS");
	unsigned int extra = env ? (unsigned int)strtoul(env, NULL, 10) : 0;
	random_workload(NULL, 1, 3000, 4);
	for (unsigned int i = 0; i < extra; i++) {
		static const char *const sets[][3] = {
			{ NULL }, { "pcid=off", NULL }, { "x86_flush=invlpgb", NULL },
			{ "mm_cpumask=eager", "table_free=after_flush", NULL },
			{ "tlb_page_entries=16", "tlb_page_ways=2", NULL },
		};
		random_workload(sets[i % 5][0] ? sets[i % 5] : NULL, 1000 + i, 3000, 2 + i % 5);
		if (i % 4 == 0)
			random_workload_on(machine_for(PTSIM_ARCH_ARM64, i % 8 ? 4096 : 16384, 2 + i % 5, NULL),
					   5000 + i, 3000, 2 + i % 5);
	}
}

static void test_tlb_coherence__no_pcid(void **s)
{
	(void)s;
	static const char *const set[] = { "pcid=off", NULL };
	random_workload(set, 2, 2000, 4);
}

static void test_tlb_coherence__eager_mask_after_flush(void **s)
{
	(void)s;
	static const char *const set[] = { "mm_cpumask=eager", "table_free=after_flush", NULL };
	random_workload(set, 3, 2000, 3);
}

static void test_tlb_coherence__invlpgb(void **s)
{
	(void)s;
	static const char *const set[] = { "x86_flush=invlpgb", NULL };
	random_workload(set, 4, 2000, 4);
}

static void test_tlb_coherence__tiny_tlb_evictions(void **s)
{
	(void)s;
	static const char *const set[] = { "tlb_page_entries=16", "tlb_page_ways=2", "pwc_entries=4", "pwc_ways=2",
					   "tlb_single_page_flush_ceiling=4", NULL };
	random_workload(set, 5, 2000, 4);
}

/* Associativities that are not multiples of 8 (the fingerprint scan's word) and a fully associative array. */
static void test_tlb_coherence__odd_ways(void **s)
{
	(void)s;
	static const char *const set[] = { "tlb_page_entries=96", "tlb_page_ways=12", "pwc_entries=6", "pwc_ways=3",
					   "tlb_pmd_entries=24", "tlb_pmd_ways=24", NULL };
	random_workload(set, 9, 2000, 4);
}

/* arm64: broadcast TLBI instead of IPIs, ASIDs from context.c, no lazy flushes. */
static void test_tlb_coherence__arm64(void **s)
{
	(void)s;
	random_workload_on(machine_for(PTSIM_ARCH_ARM64, 4096, 4, NULL), 6, 2000, 4);
	random_workload_on(machine_for(PTSIM_ARCH_ARM64, 16384, 3, NULL), 7, 1000, 3);
	static const char *const set[] = { "arm64_asid_bits=8", "arm64_tlbi_range=on", NULL };
	random_workload_on(machine_for(PTSIM_ARCH_ARM64, 4096, 4, set), 8, 2000, 4);
}

/*
 * A page freed while CPU 0's TLB still translates to it (what a variant that
 * skips a flush does): the free is a [tlb] violation, and CPU 0's next access
 * through the entry a [stale_access] violation, reported once per entry.
 */
static void test_tlb_coherence__stale_entry_reported_once(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = BASE, .len = 1ull << 20, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, 0, 0));
	T_OK(m, ptsim_mmap(m, 0, &a));
	T_OK(m, ptsim_touch(m, 0, BASE, 2 * PAGE, 0, true));
	lru_add_drain_all(m);   /* the CPU's LRU add batch lets go of the pages */
	/* Unmap the second page without any flush, then free it. */
	struct mm_struct *mm = m->cpus[0].loaded_mm;
	pgent_t *ep = pt_walk(mm, BASE + PAGE, &(enum pt_level){ PT_PTE });
	uint32_t pfn = pgent_pfn(*ep);
	*ep = 0;
	mm_counter_add(mm, MM_ANONPAGES, -1);
	folio_remove_rmap(m, pfn, 1);
	put_page(m, pfn);
	assert_int_equal(t_violations(m, PTSIM_VIOL_TLB), 1);
	assert_int_equal(t_violations(m, PTSIM_VIOL_STALE_ACCESS), 0);
	/* The first page's entry is not stale; the second one's is, once. */
	T_OK(m, ptsim_touch(m, 0, BASE, PAGE, 0, false));
	assert_int_equal(t_violations(m, PTSIM_VIOL_STALE_ACCESS), 0);
	T_OK(m, ptsim_touch(m, 0, BASE + PAGE, PAGE, 0, false));
	assert_int_equal(t_violations_with(m, PTSIM_VIOL_STALE_ACCESS, "freed since it was cached"), 1);
	T_OK(m, ptsim_touch(m, 0, BASE + PAGE, PAGE, 0, false));
	assert_int_equal(t_violations(m, PTSIM_VIOL_STALE_ACCESS), 1);
	assert_int_equal(t_stat(m, "cpu.0.tlb.hits"), 3);
	assert_int_equal(ptsim_machine_check(m), 0);
	ptsim_machine_destroy(m);
}

/* The comparison must be able to fail: change a PTE behind the TLB's back. */
static void corrupt_and_detect(struct ptsim_machine *m)
{
	struct ptsim_mmap_args a = { .addr = BASE, .len = 1ull << 20, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	uint64_t pg = PAGE_SIZE(m);
	char why[256];

	T_OK(m, ptsim_spawn(m, 0, 0));
	T_OK(m, ptsim_mmap(m, 0, &a));
	T_OK(m, ptsim_touch(m, 0, BASE, a.len, 0, true));
	assert_int_equal(check_coherent(m, why, sizeof(why)), 0);
	/* Point one PTE elsewhere without a flush (what a buggy variant would do). */
	pgent_t *ep = pt_walk(m->cpus[0].loaded_mm, BASE + 5 * pg, &(enum pt_level){ PT_PTE });
	*ep = mk_pgent(pgent_pfn(*ep) + 1, *ep & ((1ull << _PAGE_PFN_SHIFT) - 1));
	assert_int_equal(check_coherent(m, why, sizeof(why)), 1);
	char va[32];
	snprintf(va, sizeof(va), "va %#llx", (unsigned long long)(BASE + 5 * pg));
	assert_non_null(strstr(why, va));
	*ep = mk_pgent(pgent_pfn(*ep) - 1, *ep & ((1ull << _PAGE_PFN_SHIFT) - 1));
	ptsim_machine_destroy(m);
}

static void test_tlb_coherence__detects_corruption(void **s)
{
	(void)s;
	corrupt_and_detect(t_machine(2, NULL, NULL));
	corrupt_and_detect(machine_for(PTSIM_ARCH_ARM64, 4096, 2, NULL));
	corrupt_and_detect(machine_for(PTSIM_ARCH_ARM64, 65536, 2, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tlb_coherence__default),
		cmocka_unit_test(test_tlb_coherence__no_pcid),
		cmocka_unit_test(test_tlb_coherence__eager_mask_after_flush),
		cmocka_unit_test(test_tlb_coherence__invlpgb),
		cmocka_unit_test(test_tlb_coherence__tiny_tlb_evictions),
		cmocka_unit_test(test_tlb_coherence__odd_ways),
		cmocka_unit_test(test_tlb_coherence__stale_entry_reported_once),
		cmocka_unit_test(test_tlb_coherence__arm64),
		cmocka_unit_test(test_tlb_coherence__detects_corruption),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
