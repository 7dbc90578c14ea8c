/*
 * arm64 back-end (issue 6): geometry of every granule / VA size, VmPTE on
 * 2- to 5-level tables, broadcast TLBI instead of flush IPIs (the W3 traces
 * of the x86 oracle replayed as arm64), the range-flush threshold per
 * granule, range TLBI, KPTI, hugetlb fork+exit (W2) on both architectures,
 * W1 case a on the 64 KiB granule, ASID rollover, break-before-make, and the
 * walk-cache fix c2ff4764e03e.
 *
 * Expected numbers follow kernel-model 1.2, 6 and 12.2; each test says how
 * they were derived.
 */
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"

#include "mm/internal.h"
#include "mm/mmu_gather.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define TiB (1ull << 40)
#define NOPS 31

static struct ptsim_machine *arm64(unsigned int granule, unsigned int va_bits, unsigned int cpus, const char *preset,
				   const char *const *set)
{
	return t_machine_cfg(PTSIM_ARCH_ARM64, granule, va_bits, cpus, preset, set);
}

static int try_config(enum ptsim_arch arch, unsigned int granule, unsigned int va_bits, unsigned int levels,
		      unsigned int cpus, const char *const *set, char *err, size_t errlen)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	int rc;

	ptsim_config_init(&cfg);
	cfg.arch = arch;
	cfg.granule = granule;
	cfg.va_bits = va_bits;
	cfg.paging_levels = levels;
	cfg.cpus = cpus;
	cfg.set = set;
	rc = ptsim_machine_create(&m, &cfg, err, errlen);
	ptsim_machine_destroy(m);
	return rc;
}

struct run_as_ctx {
	enum ptsim_arch arch;
	unsigned int granule;
	const char *preset;
};

static void run_as_adjust(struct ptsim_config *cfg, const void *ctx)
{
	const struct run_as_ctx *c = ctx;

	cfg->arch = c->arch;
	cfg->granule = c->granule;
	cfg->paging_levels = 0;
	cfg->va_bits = 0;
	if (c->preset)
		cfg->preset = c->preset;
}

/* Run traces/<rel> (written for x86) on another architecture: only the machine changes. */
static struct ptsim_machine *run_as(const char *rel, enum ptsim_arch arch, unsigned int granule, const char *preset,
				    const char *const *extra_set)
{
	const struct run_as_ctx ctx = { arch, granule, preset };

	return t_run_trace_adjusted(rel, extra_set, run_as_adjust, &ctx);
}

/* ------------------------------------------------------------------------ */
/* Geometry                                                                  */
/* ------------------------------------------------------------------------ */

struct geo_expect {
	unsigned int granule, va_bits, levels;
	unsigned int pgdir_shift, pgd_ptrs;
	bool p4d, pud, pmd;             /* real (not folded) */
	uint64_t pmd_size, pud_size;    /* PMD_SIZE, PUD_SIZE (folded: the level above's) */
	uint64_t pud_block;             /* PUD hugetlb size (0: none) */
	uint64_t cont_pte, cont_pmd;
	bool pmd_share;
};

/* kernel-model 1.2 and 1.3, arch/arm64/mm/hugetlbpage.c's support matrix. */
static const struct geo_expect geos[] = {
	{ 4096, 39, 3, 30, 512, false, false, true, 2 * MiB, 1 * GiB, 1 * GiB, 64 * KiB, 32 * MiB, true },
	{ 4096, 48, 4, 39, 512, false, true, true, 2 * MiB, 1 * GiB, 1 * GiB, 64 * KiB, 32 * MiB, true },
	{ 4096, 52, 5, 48, 16, true, true, true, 2 * MiB, 1 * GiB, 1 * GiB, 64 * KiB, 32 * MiB, true },
	{ 16384, 36, 2, 25, 2048, false, false, false, 32 * MiB, 32 * MiB, 0, 2 * MiB, 1 * GiB, false },
	{ 16384, 47, 3, 36, 2048, false, false, true, 32 * MiB, 64 * GiB, 0, 2 * MiB, 1 * GiB, true },
	{ 16384, 48, 4, 47, 2, false, true, true, 32 * MiB, 64 * GiB, 0, 2 * MiB, 1 * GiB, true },
	{ 16384, 52, 4, 47, 32, false, true, true, 32 * MiB, 64 * GiB, 0, 2 * MiB, 1 * GiB, true },
	{ 65536, 42, 2, 29, 8192, false, false, false, 512 * MiB, 512 * MiB, 0, 2 * MiB, 16 * GiB, false },
	{ 65536, 48, 3, 42, 64, false, false, true, 512 * MiB, 4 * TiB, 0, 2 * MiB, 16 * GiB, false },
	{ 65536, 52, 3, 42, 1024, false, false, true, 512 * MiB, 4 * TiB, 0, 2 * MiB, 16 * GiB, false },
};

static void test_arm64__geometry_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(geos) / sizeof(geos[0]); i++) {
		const struct geo_expect *e = &geos[i];
		struct ptsim_machine *m = arm64(e->granule, e->va_bits, 2, NULL, NULL);
		const struct pt_geometry *g = &m->geo;
		unsigned int bits = g->page_shift - 3;

		assert_int_equal(1u << g->page_shift, e->granule);
		assert_int_equal(g->levels, e->levels);
		assert_int_equal(g->va_bits, e->va_bits);
		assert_int_equal(g->task_size, 1ull << e->va_bits);
		assert_int_equal(g->shift[PT_PGD], e->pgdir_shift);
		assert_int_equal(g->ptrs[PT_PGD], e->pgd_ptrs);
		assert_int_equal(!g->folded[PT_P4D], e->p4d);
		assert_int_equal(!g->folded[PT_PUD], e->pud);
		assert_int_equal(!g->folded[PT_PMD], e->pmd);
		assert_false(g->folded[PT_PTE]);
		/* Every real level below the PGD resolves PAGE_SHIFT - 3 bits. */
		assert_int_equal(g->ptrs[PT_PTE], 1u << bits);
		assert_int_equal(PMD_SIZE(m), e->pmd_size);
		assert_int_equal(PUD_SIZE(m), e->pud_size);
		assert_int_equal(g->pmd_leaf_size, e->pmd_size);
		assert_int_equal(g->pud_leaf_size, e->pud_block);
		assert_int_equal(g->cont_pte_size, e->cont_pte);
		assert_int_equal(g->cont_pmd_size, e->cont_pmd);
		assert_int_equal(g->pmd_share, e->pmd_share);
		assert_int_equal(g->table_bytes, e->granule);
		/* The PTE table spans PMD_SIZE: 2 MiB / 32 MiB / 512 MiB. */
		assert_int_equal((uint64_t)g->ptrs[PT_PTE] << g->page_shift, e->pmd_size);
		ptsim_machine_destroy(m);
	}
}

/* The index of each level of a 64 KiB / 48-bit address: L1 47:42, L2 41:29, L3 28:16. */
static void test_arm64__indices_64k(void **state)
{
	(void)state;
	struct ptsim_machine *m = arm64(65536, 48, 2, NULL, NULL);
	uint64_t va = (0x2aull << 42) | (0x1abcull << 29) | (0x0123ull << 16) | 0x4567;

	assert_int_equal(pt_index(&m->geo, PT_PGD, va), 0x2a);
	assert_int_equal(pt_index(&m->geo, PT_PMD, va), 0x1abc);
	assert_int_equal(pt_index(&m->geo, PT_PTE, va), 0x0123);
	assert_int_equal(pt_index(&m->geo, PT_PUD, va), 0);   /* folded */
	ptsim_machine_destroy(m);
}

static void test_arm64__config_choices_and_errors(void **state)
{
	(void)state;
	char err[256];
	static const char *const asid8[] = { "arm64_asid_bits=8", NULL };
	static const char *const asid8_kpti[] = { "arm64_asid_bits=8", "arm64_kpti=on", NULL };
	struct ptsim_machine *m;

	/* paging_levels alone picks the VA size; nothing at all is 4K / 48-bit. */
	m = arm64(16384, 0, 1, NULL, NULL);
	assert_int_equal(m->geo.va_bits, 48);
	ptsim_machine_destroy(m);
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 65536, 0, 2, 1, NULL, err, sizeof(err)), 0);
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 0, 0, 0, 1, NULL, err, sizeof(err)), 0);

	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 8192, 0, 0, 1, NULL, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "granule"));
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 4096, 40, 0, 1, NULL, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "va_bits 40"));
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 16384, 0, 5, 1, NULL, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "paging_levels 5"));
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 4096, 48, 3, 1, NULL, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "gives 4 levels"));
	assert_int_equal(try_config(PTSIM_ARCH_X86_64, 16384, 0, 0, 1, NULL, err, sizeof(err)), PTSIM_EBADCONFIG);
	/*
	 * asids_update_limit(): a rollover must find a free ASID after every CPU
	 * reserved one, so NUM_USER_ASIDS - 1 (256 - 1 with 8 bits; 128 - 1 in
	 * KPTI pairs) must exceed the CPU count: 254 CPUs at most, 126 with KPTI.
	 */
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 0, 0, 0, 254, asid8, err, sizeof(err)), 0);
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 0, 0, 0, 255, asid8, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "ASIDs"));
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 0, 0, 0, 126, asid8_kpti, err, sizeof(err)), 0);
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 0, 0, 0, 127, asid8_kpti, err, sizeof(err)), PTSIM_EBADCONFIG);

	/* The trace's machine section names the bad field. */
	struct ptsim_machine *tm = NULL;
	int rc = t_run_json("{\"ptsim_trace\":1,\"machine\":{\"arch\":\"arm64\",\"granule\":32768},\"events\":[]}", &tm,
			    err, sizeof(err));
	assert_int_equal(rc, PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "granule"));
	ptsim_machine_destroy(tm);
}

/* ------------------------------------------------------------------------ */
/* Page tables on every geometry                                              */
/* ------------------------------------------------------------------------ */

static void touch(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, uint64_t stride, bool write)
{
	T_OK(m, ptsim_touch(m, task, addr, len, stride, write));
}

static void map_anon(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	T_OK(m, ptsim_mmap(m, task, &a));
}

/*
 * One workload on every geometry: 256 MiB at 4 GiB and 64 pages at 12 GiB,
 * touched; a fork with COW writes; mprotect there and back; MADV_DONTNEED; a
 * hole punched and half the region unmapped; everything torn down.  The
 * debug checkers (tables reachable vs counted, TLB counts) run after each
 * step through ptsim_machine_check().
 *
 * VmPTE when populated, by hand: PTE tables span PMD_SIZE, so 256 MiB takes
 * 256 MiB / PMD_SIZE of them (at least 1) plus one for the 64 pages; a PMD
 * table spans PUD_SIZE (1 GiB, 64 GiB, 4 TiB): 4 GiB and 12 GiB share one
 * only when PUD_SIZE >= 16 GiB; a PUD table (4 levels and up) spans P4D_SIZE:
 * one.  Each counted table is one page.
 */
static void test_arm64__tables_every_geometry(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(geos) / sizeof(geos[0]); i++) {
		const struct geo_expect *e = &geos[i];
		struct ptsim_machine *m = arm64(e->granule, e->va_bits, 2, NULL, NULL);
		uint64_t P = e->granule, A = 4 * GiB, B = 12 * GiB;
		uint64_t ptes = (256 * MiB + e->pmd_size - 1) / e->pmd_size + 1;
		uint64_t pmds = e->pmd ? (e->pud_size >= 16 * GiB ? 1 : 2) : 0;
		uint64_t puds = e->pud ? 1 : 0;

		T_OK(m, ptsim_spawn(m, 1, 0));
		map_anon(m, 1, A, 256 * MiB);
		touch(m, 1, A, 256 * MiB, 7 * P, true);
		map_anon(m, 1, B, 64 * P);
		touch(m, 1, B, 64 * P, 0, true);
		struct ptsim_mm_info mi = t_mm_info(m, 1);
		if (mi.pgtables[0] != ptes || mi.pgtables[1] != pmds || mi.pgtables[2] != puds ||
		    mi.vmpte_kb != (ptes + pmds + puds) * e->granule / KiB)
			fail_msg("%u KiB / %u-bit: tables %llu/%llu/%llu VmPTE %llu kB, expected %llu/%llu/%llu", e->granule >> 10,
				 e->va_bits, (unsigned long long)mi.pgtables[0], (unsigned long long)mi.pgtables[1],
				 (unsigned long long)mi.pgtables[2], (unsigned long long)mi.vmpte_kb,
				 (unsigned long long)ptes, (unsigned long long)pmds, (unsigned long long)puds);
		T_OK(m, ptsim_machine_check(m));

		T_OK(m, ptsim_fork(m, 1, 2, 1));
		touch(m, 2, A, 64 * MiB, 3 * P, true);
		touch(m, 1, A, 16 * MiB, 5 * P, true);
		T_OK(m, ptsim_mprotect(m, 1, A + 16 * P, 40 * P, PTSIM_PROT_READ));
		T_OK(m, ptsim_mprotect(m, 1, A + 16 * P, 40 * P, PTSIM_PROT_READ | PTSIM_PROT_WRITE));
		T_OK(m, ptsim_madvise(m, 2, A, 32 * MiB, PTSIM_MADV_DONTNEED));
		touch(m, 2, A, 32 * MiB, 11 * P, false);
		T_OK(m, ptsim_munmap(m, 1, A + 3 * P, 100 * P));
		T_OK(m, ptsim_munmap(m, 1, A + 128 * MiB, 128 * MiB));
		T_OK(m, ptsim_machine_check(m));
		T_OK(m, ptsim_munmap(m, 2, A, 256 * MiB));
		T_OK(m, ptsim_exit(m, 2));
		T_OK(m, ptsim_run(m, 1, 1));
		touch(m, 1, B, 64 * P, 0, true);
		T_OK(m, ptsim_munmap(m, 1, B, 64 * P));
		mi = t_mm_info(m, 1);
		/* Task 1 keeps [A, A + 128 MiB) but the hole: the PTE tables over it stay. */
		assert_int_equal(mi.pgtables[0], (128 * MiB + e->pmd_size - 1) / e->pmd_size);
		T_OK(m, ptsim_exit(m, 1));
		assert_int_equal(ptsim_violation_count(m), 0);
		assert_int_equal(t_stat(m, "pgtables_allocated.pte"), t_stat(m, "pgtables_freed.pte"));
		assert_int_equal(t_stat(m, "pgtables_allocated.pmd"), t_stat(m, "pgtables_freed.pmd"));
		assert_int_equal(t_stat(m, "pgtables_allocated.pud"), t_stat(m, "pgtables_freed.pud"));
		assert_int_equal(t_stat(m, "pgtables_allocated.p4d"), t_stat(m, "pgtables_freed.p4d"));
		/* No IPI: every flush is a broadcast TLBI. */
		assert_int_equal(t_stat(m, "ipi.calls.tlb_flush"), 0);
		ptsim_machine_quiesce(m);
		/* CPU1 still has the dead mm as its lazy active mm: its PGD is left, and the pages the LRU add batch holds. */
		assert_int_equal(ptsim_frames_in_use(m), 1 + ptsim_frames_in_lru_batches(m));
		t_destroy(m);
	}
}

/* ------------------------------------------------------------------------ */
/* W3 on arm64                                                               */
/* ------------------------------------------------------------------------ */

struct tlbi_expect {
	unsigned int npages;
	uint64_t vale1is, vae1is, rvale1is, rvae1is, aside1is, dsb;   /* over the 31 operations */
};

static void check_w3_arm64(const char *op, const char *peer, const char *preset, const char *const *set,
			   const struct tlbi_expect *exp, size_t n)
{
	char trace[128], before[64], after[64];
	struct ptsim_machine *m;

	snprintf(trace, sizeof(trace), "oracle/w3_%s_%s.json", op, peer);
	m = run_as(trace, PTSIM_ARCH_ARM64, 0, preset, set);
	for (size_t i = 0; i < n; i++) {
		const struct tlbi_expect *e = &exp[i];
		snprintf(before, sizeof(before), "%s_%u_before", op, e->npages);
		snprintf(after, sizeof(after), "%s_%u_after", op, e->npages);
		/* Broadcast TLBI: never an IPI, whatever the peer does. */
		assert_int_equal(t_delta(m, before, after, "ipi.calls.tlb_flush"), 0);
		assert_int_equal(t_delta(m, before, after, "ipi.received.tlb_flush"), 0);
		assert_int_equal(t_delta(m, before, after, "ipi.calls.table_sync"), 0);
		uint64_t got[6] = {
			t_delta(m, before, after, "tlbi.vale1is"),  t_delta(m, before, after, "tlbi.vae1is"),
			t_delta(m, before, after, "tlbi.rvale1is"), t_delta(m, before, after, "tlbi.rvae1is"),
			t_delta(m, before, after, "tlbi.aside1is"), t_delta(m, before, after, "tlbi.dsb_ish"),
		};
		uint64_t want[6] = { e->vale1is, e->vae1is, e->rvale1is, e->rvae1is, e->aside1is, e->dsb };
		if (memcmp(got, want, sizeof(got)))
			fail_msg("%s %s %u pages: VALE1IS %llu VAE1IS %llu RVALE1IS %llu RVAE1IS %llu ASIDE1IS %llu DSB %llu; "
				 "expected %llu %llu %llu %llu %llu %llu",
				 op, peer, e->npages, (unsigned long long)got[0], (unsigned long long)got[1],
				 (unsigned long long)got[2], (unsigned long long)got[3], (unsigned long long)got[4],
				 (unsigned long long)got[5], (unsigned long long)want[0], (unsigned long long)want[1],
				 (unsigned long long)want[2], (unsigned long long)want[3], (unsigned long long)want[4],
				 (unsigned long long)want[5]);
		assert_int_equal(t_delta(m, before, after, "tlbi.vmalle1is"), 0);
	}
	assert_int_equal(t_stat(m, "ipi.calls.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * Per operation (kernel-model 6.2, 6.3, 12.2), 4 KiB pages, no FEAT_TLBIRANGE:
 * n <= 511 pages cleared: one range flush of n VALE1IS (level 3) and a DSB;
 * 512 pages reach MAX_DVM_OPS (512): one ASIDE1IS instead.  munmap of a whole
 * 2 MiB-aligned PTE-table span also frees the table: free_pgtables() records
 * its PMD entry (cleared_pmds, freed_tables), and the final flush invalidates
 * walk caches over [addr, addr + 2 MiB) at a 2 MiB stride: one VAE1IS.
 * arm64 does not merge VMAs: the zap's flush comes at tlb_end_vma(), the
 * table's at tlb_finish_mmu().  PT reclaim is off on arm64 before 7.0, so
 * MADV_DONTNEED of 512 pages frees nothing; mprotect never does.
 */
static const struct tlbi_expect w3_munmap[] = {
	{ 1, 1 * NOPS, 0, 0, 0, 0, NOPS },     { 32, 32 * NOPS, 0, 0, 0, 0, NOPS },
	{ 33, 33 * NOPS, 0, 0, 0, 0, NOPS },   { 34, 34 * NOPS, 0, 0, 0, 0, NOPS },
	{ 512, 0, NOPS, 0, 0, NOPS, 2 * NOPS },
};
static const struct tlbi_expect w3_leaf_only[] = {
	{ 1, 1 * NOPS, 0, 0, 0, 0, NOPS },   { 32, 32 * NOPS, 0, 0, 0, 0, NOPS }, { 33, 33 * NOPS, 0, 0, 0, 0, NOPS },
	{ 34, 34 * NOPS, 0, 0, 0, 0, NOPS }, { 512, 0, 0, 0, 0, NOPS, NOPS },
};

static void test_arm64__w3_munmap(void **state)
{
	(void)state;
	check_w3_arm64("munmap", "spin", NULL, NULL, w3_munmap, 5);
	check_w3_arm64("munmap", "sleep", NULL, NULL, w3_munmap, 5);
	check_w3_arm64("munmap", "none", NULL, NULL, w3_munmap, 5);
}

static void test_arm64__w3_dontneed(void **state)
{
	(void)state;
	check_w3_arm64("dontneed", "spin", NULL, NULL, w3_leaf_only, 5);
	check_w3_arm64("dontneed", "sleep", NULL, NULL, w3_leaf_only, 5);
	check_w3_arm64("dontneed", "none", NULL, NULL, w3_leaf_only, 5);
}

static void test_arm64__w3_mprotect(void **state)
{
	(void)state;
	check_w3_arm64("mprotect", "spin", NULL, NULL, w3_leaf_only, 5);
	check_w3_arm64("mprotect", "sleep", NULL, NULL, w3_leaf_only, 5);
	check_w3_arm64("mprotect", "none", NULL, NULL, w3_leaf_only, 5);
}

/*
 * 7.0: PT reclaim on arm64 too.  MADV_DONTNEED of a whole 2 MiB-aligned table
 * span detaches the table inside the zap, before tlb_end_vma(): that one
 * flush has cleared_ptes, so stride 4 KiB over 512 pages: ASIDE1IS, and
 * nothing is left for the final one.  Smaller ranges are unchanged.
 */
static void test_arm64__w3_dontneed_reclaim_7_0(void **state)
{
	(void)state;
	check_w3_arm64("dontneed", "spin", "7.0", NULL, w3_leaf_only, 5);
	struct ptsim_machine *m = run_as("oracle/w3_dontneed_sleep.json", PTSIM_ARCH_ARM64, 0, "7.0", NULL);
	assert_int_equal(t_delta(m, "dontneed_512_before", "dontneed_512_after", "pt_reclaim.tables_freed"), NOPS);
	assert_int_equal(t_delta(m, "dontneed_512_before", "dontneed_512_after", "pgtables_freed.pte"), NOPS);
	assert_int_equal(t_delta(m, "dontneed_512_before", "dontneed_512_after", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
	/* 6.18.44: no reclaim on arm64. */
	m = run_as("oracle/w3_dontneed_sleep.json", PTSIM_ARCH_ARM64, 0, NULL, NULL);
	assert_int_equal(t_delta(m, "dontneed_512_before", "dontneed_512_after", "pt_reclaim.tables_freed"), 0);
	t_destroy(m);
}

/*
 * FEAT_TLBIRANGE: MAX_DVM_OPS no longer applies (the limit is 2^21 pages).
 * 1 page: a single VALE1IS (a range operation covers an even number of
 * pages); 32 pages: (15 + 1) << 1 = 32 at scale 0, one RVALE1IS; 33: 32 by
 * one range operation, the last page by VALE1IS; 34: (16 + 1) << 1 = 34, one
 * RVALE1IS; 512: (7 + 1) << 6 at scale 1, one RVALE1IS, and the freed table's
 * 2 MiB range (512 pages) one RVAE1IS.
 */
static void test_arm64__w3_range_tlbi(void **state)
{
	(void)state;
	static const char *const set[] = { "arm64_tlbi_range=on", NULL };
	static const struct tlbi_expect exp[] = {
		{ 1, NOPS, 0, 0, 0, 0, NOPS },        { 32, 0, 0, NOPS, 0, 0, NOPS },
		{ 33, NOPS, 0, NOPS, 0, 0, NOPS },    { 34, 0, 0, NOPS, 0, 0, NOPS },
		{ 512, 0, 0, NOPS, NOPS, 0, 2 * NOPS },
	};
	check_w3_arm64("munmap", "spin", NULL, set, exp, 5);
}

/* KPTI: every user TLBI is issued for the kernel ASID and again for the user one. */
static void test_arm64__w3_kpti(void **state)
{
	(void)state;
	static const char *const set[] = { "arm64_kpti=on", NULL };
	static const struct tlbi_expect exp[] = {
		{ 1, 2 * NOPS, 0, 0, 0, 0, NOPS }, { 34, 68 * NOPS, 0, 0, 0, 0, NOPS }, { 512, 0, 2 * NOPS, 0, 0, 2 * NOPS, 2 * NOPS },
	};
	check_w3_arm64("munmap", "spin", NULL, set, exp, 3);
}

/* The x86 run of the same trace, for contrast: one IPI per operation with B spinning. */
static void test_arm64__w3_same_trace_on_x86(void **state)
{
	(void)state;
	struct ptsim_machine *m = run_as("oracle/w3_munmap_spin.json", PTSIM_ARCH_X86_64, 0, NULL, NULL);
	assert_int_equal(t_delta(m, "munmap_1_before", "munmap_1_after", "ipi.calls.tlb_flush"), NOPS);
	assert_int_equal(t_delta(m, "munmap_512_before", "munmap_512_after", "ipi.calls.tlb_flush"), NOPS);
	assert_int_equal(t_stat(m, "tlbi.vale1is") + t_stat(m, "tlbi.aside1is") + t_stat(m, "tlbi.dsb_ish"), 0);
	t_destroy(m);
}

/*
 * MAX_DVM_OPS per granule: 2048 (16 KiB) and 8192 (64 KiB) page-stride
 * operations turn into one ASIDE1IS; one fewer stays a range of VALE1IS.  The
 * unmapped range starts one page into a larger VMA, so no table is freed.
 */
static void check_threshold(unsigned int granule, uint64_t max_ops)
{
	struct ptsim_machine *m = arm64(granule, 48, 2, NULL, NULL);
	uint64_t P = granule, A = 16 * GiB, len = (2 * max_ops + 8) * P;
	uint64_t v0, a0;

	T_OK(m, ptsim_spawn(m, 1, 0));
	map_anon(m, 1, A, len);
	touch(m, 1, A, len, 0, true);
	v0 = t_stat(m, "tlbi.vale1is");
	a0 = t_stat(m, "tlbi.aside1is");
	T_OK(m, ptsim_munmap(m, 1, A + P, (max_ops - 1) * P));
	assert_int_equal(t_stat(m, "tlbi.vale1is") - v0, max_ops - 1);
	assert_int_equal(t_stat(m, "tlbi.aside1is") - a0, 0);
	v0 = t_stat(m, "tlbi.vale1is");
	T_OK(m, ptsim_munmap(m, 1, A + (max_ops + 1) * P, max_ops * P));
	assert_int_equal(t_stat(m, "tlbi.vale1is") - v0, 0);
	assert_int_equal(t_stat(m, "tlbi.aside1is") - a0, 1);
	assert_int_equal(t_stat(m, "tlbi.vae1is"), 0);
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void test_arm64__threshold_per_granule(void **state)
{
	(void)state;
	check_threshold(4096, 512);
	check_threshold(16384, 2048);
	check_threshold(65536, 8192);
}

/*
 * One flush per VMA (no MMU_GATHER_MERGE_VMAS on arm64): munmap of three
 * adjacent 16-page VMAs (different protections, so not merged) issues three
 * range flushes of 16 VALE1IS each; x86 merges them into one request.  A
 * fourth VMA above keeps the PTE table, so nothing else is flushed.
 */
static void test_arm64__one_flush_per_vma(void **state)
{
	(void)state;
	const uint64_t A = 1 * GiB, L = 64 * KiB;
	static const unsigned int prot[3] = { PTSIM_PROT_READ | PTSIM_PROT_WRITE, PTSIM_PROT_READ,
					      PTSIM_PROT_READ | PTSIM_PROT_WRITE | PTSIM_PROT_EXEC };

	for (int arch = 0; arch < 2; arch++) {
		struct ptsim_machine *m = arch ? arm64(4096, 48, 2, NULL, NULL) : t_machine(2, NULL, NULL);
		T_OK(m, ptsim_spawn(m, 1, 0));
		for (int v = 0; v < 3; v++) {
			struct ptsim_mmap_args a = { .addr = A + v * L, .len = L, .prot = prot[v] };
			T_OK(m, ptsim_mmap(m, 1, &a));
			touch(m, 1, A + v * L, L, 0, false);
		}
		map_anon(m, 1, A + 1 * MiB, L);
		touch(m, 1, A + 1 * MiB, L, 0, true);
		uint64_t dsb = t_stat(m, "tlbi.dsb_ish"), vale = t_stat(m, "tlbi.vale1is");
		uint64_t req = t_stat(m, "tlb.flush_requests"), gf = t_stat(m, "mmu_gather.tlb_flush");
		T_OK(m, ptsim_munmap(m, 1, A, 3 * L));
		if (arch) {
			assert_int_equal(t_stat(m, "mmu_gather.tlb_flush") - gf, 3);
			assert_int_equal(t_stat(m, "tlbi.dsb_ish") - dsb, 3);
			assert_int_equal(t_stat(m, "tlbi.vale1is") - vale, 3 * 16);
		} else {
			assert_int_equal(t_stat(m, "mmu_gather.tlb_flush") - gf, 1);
			assert_int_equal(t_stat(m, "tlb.flush_requests") - req, 1);
		}
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/* fork: flush_tlb_mm(parent) at the end of dup_mmap(): one ASIDE1IS, no IPI. */
static void test_arm64__fork_flushes_parent_asid(void **state)
{
	(void)state;
	struct ptsim_machine *m = arm64(4096, 48, 4, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	map_anon(m, 1, 1 * GiB, 4 * MiB);
	touch(m, 1, 1 * GiB, 4 * MiB, 0, true);
	touch(m, 2, 1 * GiB, 4 * MiB, 0, false);
	T_OK(m, ptsim_fork(m, 1, 3, 2));
	assert_int_equal(t_stat(m, "tlbi.aside1is"), 1);
	assert_int_equal(t_stat(m, "ipi.calls.tlb_flush"), 0);
	/* The COW write then faults (write-protected entry) instead of using a stale writable one. */
	touch(m, 2, 1 * GiB, 4 * MiB, 0, true);
	assert_int_equal(t_stat(m, "faults.cow"), 4 * MiB / 4096);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* W2 and W1 on arm64                                                        */
/* ------------------------------------------------------------------------ */

/*
 * W2 (aligned, keep = 0, G = 2) as a small trace: the parent maps 2 GiB of
 * shared hugetlb at a 1 GiB-aligned address and populates it; 3 times a child
 * on CPU1 reads one byte per GiB (sharing both PMD tables) and exits.  Each
 * exit unshares 2 tables that become exclusive again, and the fixed
 * algorithm (8ce720d5bd91) broadcasts once per hugetlb VMA: 1 table-sync IPI
 * per exit on 2 CPUs, on either architecture.  No flush IPI on either: the
 * child's mm_cpumask holds only CPU1 on x86, and arm64 flushes by TLBI.
 */
static const char w2_trace[] =
	"{\"ptsim_trace\":1,\"machine\":{\"arch\":\"%s\",\"cpus\":2,\"preset\":\"%s\"},\"events\":["
	"{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
	"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x40000000\",\"len\":\"2G\",\"prot\":\"rw\",\"kind\":\"hugetlb\","
	"\"shared\":true,\"populate\":true},"
	"{\"op\":\"mark\",\"name\":\"before\"},"
	"{\"op\":\"repeat\",\"count\":3,\"events\":["
	"{\"op\":\"fork\",\"task\":1,\"child\":2,\"cpu\":1},"
	"{\"op\":\"touch\",\"task\":2,\"addr\":\"0x40000000\",\"len\":\"2G\",\"stride\":\"1G\"},"
	"{\"op\":\"exit\",\"task\":2}]},"
	"{\"op\":\"mark\",\"name\":\"after\"},"
	"{\"op\":\"exit\",\"task\":1}]}";

static struct ptsim_machine *run_w2(const char *arch, const char *preset)
{
	char json[2048], err[512];
	struct ptsim_machine *m = NULL;

	snprintf(json, sizeof(json), w2_trace, arch, preset);
	if (t_run_json(json, &m, err, sizeof(err)))
		fail_msg("w2 on %s: %s", arch, err);
	return m;
}

/*
 * arm64 TLBIs per iteration: fork's flush_tlb_mm(parent) (ASIDE1IS); the
 * exit's unshare flush is fullmm: with c2ff4764e03e (6.18.44 has it since
 * 6.18.35) not leaf-only, so flush_tlb_mm() (ASIDE1IS), before it (6.19 as
 * released) leaf-only, which under fullmm issues nothing; the final flush has
 * the child's PUD table freed: ASIDE1IS.
 */
static void w2_hugetlb_fork_exit(const char *preset, uint64_t aside1is_per_iteration)
{
	struct ptsim_machine *x = run_w2("x86_64", preset);
	struct ptsim_machine *a = run_w2("arm64", preset);

	assert_int_equal(t_delta(x, "before", "after", "ipi.calls.table_sync"), 3);
	assert_int_equal(t_delta(a, "before", "after", "ipi.calls.table_sync"), 3);
	assert_int_equal(t_delta(a, "before", "after", "ipi.received.table_sync"), 3);
	assert_int_equal(t_delta(x, "before", "after", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(a, "before", "after", "ipi.calls.tlb_flush"), 0);
	assert_int_equal(t_delta(a, "before", "after", "hugetlb.pmd_share"), 6);
	assert_int_equal(t_delta(a, "before", "after", "hugetlb.pmd_unshare"), 6);
	assert_int_equal(t_delta(a, "before", "after", "tlbi.aside1is"), aside1is_per_iteration * 3);
	assert_int_equal(t_delta(a, "before", "after", "tlbi.vale1is") + t_delta(a, "before", "after", "tlbi.vae1is"), 0);
	assert_int_equal(ptsim_violation_count(x), 0);
	assert_int_equal(ptsim_violation_count(a), 0);
	t_destroy(x);
	t_destroy(a);
}

static void test_arm64__w2_hugetlb_fork_exit(void **state)
{
	(void)state;
	w2_hugetlb_fork_exit("6.18.44", 3);
	w2_hugetlb_fork_exit("6.19", 2);
}

/*
 * The hugetlb helper's W2 traces (traces/oracle/w2_*.json, 10 measured
 * fork+exit iterations between "loop_start" and "loop_end"), run unchanged on
 * both architectures: the table-sync IPIs are the oracle's (reference/
 * oracle.md W2: 1 per exit when the child was the last other sharer of a table,
 * 0 while a sibling keeps sharing, 0 when nothing can share) and identical on
 * arm64, where tlb_remove_table_sync_one() still sends SGIs; flush IPIs are 0
 * on both.  arm64 issues 3 ASIDE1IS per iteration under 6.18.44 (fork's
 * flush_tlb_mm, the exit's unshare flush -- fullmm, not leaf-only with
 * c2ff4764e03e -- and its final flush of freed tables), 2 under 6.19 as
 * released (the unshare flush, leaf-only under fullmm, issues nothing).
 */
static void test_arm64__w2_traces_both_arches(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		uint64_t sync;
	} w2[] = {
		{ "aligned_g1_k0", 10 },   { "aligned_g2_k0", 10 },   { "aligned_g4_k0", 10 },   { "aligned_g8_k0", 10 },
		{ "aligned_g1_k1", 0 },    { "aligned_g2_k1", 0 },    { "aligned_g4_k1", 0 },    { "aligned_g8_k1", 0 },
		{ "misaligned_g1_k0", 0 }, { "misaligned_g2_k0", 10 }, { "misaligned_g4_k0", 10 }, { "misaligned_g8_k0", 10 },
		{ "split_g1_k0", 0 },      { "split_g2_k0", 0 },      { "split_g4_k0", 0 },      { "split_g8_k0", 0 },
	};

	for (size_t i = 0; i < sizeof(w2) / sizeof(w2[0]); i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "oracle/w2_%s.json", w2[i].name);
		struct ptsim_machine *x = run_as(rel, PTSIM_ARCH_X86_64, 0, NULL, NULL);
		struct ptsim_machine *a = run_as(rel, PTSIM_ARCH_ARM64, 0, NULL, NULL);
		struct ptsim_machine *a619 = run_as(rel, PTSIM_ARCH_ARM64, 0, "6.19", NULL);
		uint64_t xs = t_delta(x, "loop_start", "loop_end", "ipi.calls.table_sync");
		uint64_t as = t_delta(a, "loop_start", "loop_end", "ipi.calls.table_sync");
		if (xs != w2[i].sync || as != w2[i].sync)
			fail_msg("%s: table-sync IPIs x86 %llu arm64 %llu, expected %llu", w2[i].name, (unsigned long long)xs,
				 (unsigned long long)as, (unsigned long long)w2[i].sync);
		assert_int_equal(t_delta(x, "loop_start", "loop_end", "ipi.calls.tlb_flush"), 0);
		assert_int_equal(t_delta(a, "loop_start", "loop_end", "ipi.calls.tlb_flush"), 0);
		/* An exit that unshares tables (not the split ones, nor misaligned_g1): its unshare flush is an ASIDE1IS. */
		uint64_t unshare_flushes = t_delta(a, "loop_start", "loop_end", "hugetlb.pmd_unshare") ? 10 : 0;
		assert_int_equal(t_delta(a, "loop_start", "loop_end", "tlbi.aside1is"), 20 + unshare_flushes);
		assert_int_equal(t_delta(a619, "loop_start", "loop_end", "tlbi.aside1is"), 20);
		assert_int_equal(ptsim_violation_count(x), 0);
		assert_int_equal(ptsim_violation_count(a), 0);
		assert_int_equal(ptsim_violation_count(a619), 0);
		t_destroy(x);
		t_destroy(a);
		t_destroy(a619);
	}
}

/*
 * W1 case a on the 64 KiB granule (48-bit VA, 3 levels): 50 GiB at
 * 0x200000000000 (32 TiB), each 2 MiB chunk written (32 pages of 64 KiB) and
 * MADV_DONTNEED'd.  By hand: a PTE table holds 8192 entries of 64 KiB, so it
 * spans 512 MiB and is 64 KiB big; 50 GiB needs 51200 / 512 = 100 of them; a
 * PMD table spans 8192 x 512 MiB = 4 TiB, and [32 TiB, 32 TiB + 50 GiB) lies
 * in one; the PUD level is folded and the PGD is not counted.  VmPTE =
 * (100 + 1) x 64 KiB = 6464 kB; after the first chunk (1 + 1) x 64 = 128 kB.
 * No chunk covers a whole 512 MiB table, so PT reclaim (on in 7.0) changes
 * nothing.  Each madvise clears 32 PTEs: 32 VALE1IS, one DSB.
 */
static void test_arm64__w1_case_a_64k(void **state)
{
	(void)state;
	const uint64_t region = 50 * GiB, span = 8192 * 64 * KiB, table = 64 * KiB;
	const uint64_t nptes = region / span, npmds = 1;
	const uint64_t chunks = region / (2 * MiB), pages_per_chunk = 2 * MiB / (64 * KiB);
	static const char *const presets[] = { "6.18.44", "7.0" };

	assert_int_equal(span, 512 * MiB);
	assert_int_equal(nptes, 100);
	for (int p = 0; p < 2; p++) {
		struct ptsim_machine *m = run_as("oracle/w1_a.json", PTSIM_ARCH_ARM64, 65536, presets[p], NULL);
		struct ptsim_mm_info mi;

		T_OK(m, ptsim_mark_mm_info(m, "first_chunk", 1, &mi));
		assert_int_equal(mi.vmpte_kb, (1 + npmds) * table / KiB);
		T_OK(m, ptsim_mark_mm_info(m, "after", 1, &mi));
		assert_int_equal(mi.vmpte_kb, (nptes + npmds) * table / KiB);
		assert_int_equal(mi.vmpte_kb, 6464);
		assert_int_equal(mi.pgtables[0], nptes);
		assert_int_equal(mi.pgtables[1], npmds);
		assert_int_equal(mi.pgtables[2], 0);
		T_OK(m, ptsim_mark_mm_info(m, "unmapped", 1, &mi));
		assert_int_equal(mi.vmpte_kb, 0);
		assert_int_equal(t_mark_stat(m, "after", "faults.total"), chunks * pages_per_chunk);
		assert_int_equal(t_delta(m, "mapped", "after", "tlbi.vale1is"), chunks * pages_per_chunk);
		assert_int_equal(t_delta(m, "mapped", "after", "tlbi.dsb_ish"), chunks);
		assert_int_equal(t_delta(m, "mapped", "after", "pt_reclaim.tables_freed"), 0);
		assert_int_equal(t_stat(m, "ipi.calls.tlb_flush"), 0);
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/* ------------------------------------------------------------------------ */
/* ASIDs                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * 8-bit ASIDs, 2 CPUs.  Task 1 lives on CPU1 all along with memory mapped;
 * short-lived tasks spawn and exit on CPU0.  Every new mm takes a new ASID
 * (exited ones are abandoned).  ASIDs 1..255: task 1 takes #1, the first 254
 * short tasks #2..#255; the 255th short task finds the bitmap full: rollover
 * 1.  Reserved are the ASIDs the CPUs last ran: #255 (CPU0, lazy on the last
 * dead mm) and #1 (task 1 on CPU1); 253 are free again (#2..#254) for short
 * tasks 255..507; the 508th rolls over again (reserved then: #254 and, for
 * CPU1 which has not switched since, its reserved #1).  600 short tasks: 2
 * rollovers.  CPU0 flushes itself (TLBI VMALLE1) at each
 * rollover (it switches on the slow path right away); CPU1 keeps running
 * task 1 without switching, then one switch owes one flush.  Task 1 keeps
 * ASID #1 through both rollovers (reserved), its TLB entries stay valid, and
 * its munmap afterwards is an ordinary TLBI on #1 with no violation.
 */
static void test_arm64__asid_rollover(void **state)
{
	(void)state;
	static const char *const set[] = { "arm64_asid_bits=8", NULL };
	struct ptsim_machine *m = arm64(4096, 48, 2, NULL, set);
	const uint64_t A = 1 * GiB;

	T_OK(m, ptsim_spawn(m, 1, 1));
	map_anon(m, 1, A, 1 * MiB);
	touch(m, 1, A, 1 * MiB, 0, true);
	for (int i = 0; i < 600; i++) {
		T_OK(m, ptsim_spawn(m, 100 + i, 0));
		map_anon(m, 100 + i, A, 64 * KiB);
		touch(m, 100 + i, A, 64 * KiB, 0, true);
		T_OK(m, ptsim_exit(m, 100 + i));
		if (i == 253)
			assert_int_equal(t_stat(m, "asid.rollovers"), 0);
		if (i == 254)
			assert_int_equal(t_stat(m, "asid.rollovers"), 1);
		if (i == 506)
			assert_int_equal(t_stat(m, "asid.rollovers"), 1);
		if (i == 507)
			assert_int_equal(t_stat(m, "asid.rollovers"), 2);
	}
	assert_int_equal(t_stat(m, "asid.rollovers"), 2);
	assert_int_equal(t_stat(m, "tlbi.vmalle1"), 2);
	assert_int_equal(t_stat(m, "ipi.calls.tlb_flush") + t_stat(m, "ipi.calls.flush_all"), 0);
	/* Task 1 still hits its TLB entries (ASID #1 reserved through both rollovers). */
	uint64_t hits = t_stat(m, "cpu.1.tlb.hits");
	touch(m, 1, A, 1 * MiB, 0, false);
	assert_int_equal(t_stat(m, "cpu.1.tlb.hits") - hits, 1 * MiB / 4096);
	T_OK(m, ptsim_munmap(m, 1, A, 1 * MiB));
	/* CPU1 switches to a new mm: its rollover flush is due now. */
	T_OK(m, ptsim_spawn(m, 2, 1));
	assert_int_equal(t_stat(m, "tlbi.vmalle1"), 3);
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_run(m, 1, 1));
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* With 16-bit ASIDs the same 600 processes never roll over; with KPTI and 8 bits, 127 per generation. */
static void test_arm64__asid_width_and_kpti(void **state)
{
	(void)state;
	static const char *const wide[] = { NULL };
	static const char *const kpti8[] = { "arm64_asid_bits=8", "arm64_kpti=on", NULL };
	const char *const *sets[] = { wide, kpti8 };
	const uint64_t expect[] = { 0, 1 };
	const int ntasks[] = { 600, 128 };

	for (int s = 0; s < 2; s++) {
		struct ptsim_machine *m = arm64(4096, 48, 2, NULL, sets[s]);
		/* KPTI: even ASIDs 2..254 only: 127 mms; the 128th rolls over. */
		for (int i = 0; i < ntasks[s]; i++) {
			T_OK(m, ptsim_spawn(m, 100 + i, 0));
			T_OK(m, ptsim_exit(m, 100 + i));
			if (s == 1 && i == 126)
				assert_int_equal(t_stat(m, "asid.rollovers"), 0);
		}
		assert_int_equal(t_stat(m, "asid.rollovers"), expect[s]);
		t_destroy(m);
	}
}

/* ------------------------------------------------------------------------ */
/* Break-before-make                                                         */
/* ------------------------------------------------------------------------ */

/* A machine with task 1 on CPU0 and 4 MiB written at 1 GiB; the PTE of @va returned. */
static pte_t *bbm_setup(struct ptsim_machine **out, const char *preset, uint64_t va)
{
	struct ptsim_machine *m = arm64(4096, 48, 2, preset, NULL);
	enum pt_level level;
	pte_t *pte;

	T_OK(m, ptsim_spawn(m, 1, 0));
	map_anon(m, 1, 1 * GiB, 4 * MiB);
	touch(m, 1, 1 * GiB, 4 * MiB, 0, true);
	m->cur = &m->cpus[0];   /* the operations below run on CPU0, as the task does */
	pte = pt_walk(task_lookup(m, 1)->mm, va, &level);
	assert_int_equal(level, PT_PTE);
	assert_true(pgent_present(*pte));
	*out = m;
	return pte;
}

/* valid -> valid with another output address: a violation; permission changes are not. */
static void test_arm64__bbm_valid_to_valid(void **state)
{
	(void)state;
	struct ptsim_machine *m;
	uint64_t va = 1 * GiB + 5 * 4096;
	pte_t *pte = bbm_setup(&m, NULL, va);
	pte_t old = *pte;
	uint32_t other = pgent_pfn(*(pte + 1));

	pt_write(m, pte, PT_PTE, va, old & ~_PAGE_RW);   /* write-protect: fine */
	pt_write(m, pte, PT_PTE, va, old);               /* and back */
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 0);
	pt_write(m, pte, PT_PTE, va, mk_pgent(other, old & ((1ull << _PAGE_PFN_SHIFT) - 1)));
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 1);
	pt_write(m, pte, PT_PTE, va, old);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 2);
	ptsim_machine_destroy(m);
}

/*
 * valid -> invalid -> valid (other page) with no TLBI in between: a
 * violation.  The kernel's sequence, ptep_clear_flush() (clear, then
 * flush_tlb_page(): VALE1IS + DSB) before the new entry, is not.
 */
static void test_arm64__bbm_clear_write_needs_tlbi(void **state)
{
	(void)state;
	struct ptsim_machine *m;
	uint64_t va = 1 * GiB + 9 * 4096;
	pte_t *pte = bbm_setup(&m, NULL, va);
	pte_t old = *pte;
	pte_t other = mk_pgent(pgent_pfn(*(pte + 1)), old & ((1ull << _PAGE_PFN_SHIFT) - 1));
	struct vm_area_struct *vma = find_vma(task_lookup(m, 1)->mm, va);

	/* Broken: clear, then write another page straight away. */
	pt_write(m, pte, PT_PTE, va, 0);
	pt_write(m, pte, PT_PTE, va, other);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 1);
	/* Clear and re-install the same page: no conflict possible, no violation. */
	pt_write(m, pte, PT_PTE, va, 0);
	pt_write(m, pte, PT_PTE, va, other);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 1);
	/* The kernel's clear-flush-write. */
	uint64_t vale = t_stat(m, "tlbi.vale1is");
	ptep_clear_flush(vma, va, pte);
	assert_int_equal(t_stat(m, "tlbi.vale1is") - vale, 1);
	pt_write(m, pte, PT_PTE, va, old);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 1);
	/* A flush of another address does not count. */
	pt_write(m, pte, PT_PTE, va, 0);
	flush_tlb_page(vma, va + 4096);
	pt_write(m, pte, PT_PTE, va, other);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 2);
	/* Many entries broken at once (the tracker indexes them): only the changed one counts. */
	pte_t *base = pte - 9, saved[64];
	uint64_t va0 = va - 9 * 4096;
	for (int k = 0; k < 64; k++) {
		saved[k] = base[k];
		pt_write(m, &base[k], PT_PTE, va0 + (uint64_t)k * 4096, 0);
	}
	pt_write(m, &base[41], PT_PTE, va0 + 41 * 4096, saved[41]);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 2);
	pt_write(m, &base[40], PT_PTE, va0 + 40 * 4096, saved[42]);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 3);
	/* After a flush of the range, new pages anywhere in it are fine. */
	flush_tlb_range(vma, va0, va0 + 64 * 4096);
	for (int k = 0; k < 64; k++)
		if (k != 40 && k != 41)
			pt_write(m, &base[k], PT_PTE, va0 + (uint64_t)k * 4096, saved[(k + 1) % 64]);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 3);
	ptsim_machine_destroy(m);
}

/*
 * The hazard of the PT-reclaim review (v1, Oct 2024): try_to_free_pte()
 * clears the PMD entry of an empty PTE table and drops the locks; the flush
 * is deferred to the end of the madvise call.  If another thread faults in
 * that window, the PMD is repopulated with a new table: a table -> table
 * change of a PMD entry with no TLBI in between, a violation.  The kernel's
 * order (the gather's flush - VAE1IS over the PMD entry, walk caches
 * included - then the fault) is not.  The simulation has no interleaving
 * point inside madvise, so the test drives the slow path itself: empty the
 * table (MADV_DONTNEED, no reclaim before 7.0 on arm64), then
 * try_to_free_pte() inside a gather.
 */
static void test_arm64__bbm_pt_reclaim_refault_race(void **state)
{
	(void)state;
	for (int racy = 1; racy >= 0; racy--) {
		struct ptsim_machine *m;
		uint64_t va = 1 * GiB;
		(void)bbm_setup(&m, NULL, va);
		struct mm_struct *mm = task_lookup(m, 1)->mm;
		struct vm_area_struct *vma = find_vma(mm, va);
		struct mmu_gather tlb;

		T_OK(m, ptsim_madvise(m, 1, va, 2 * MiB, PTSIM_MADV_DONTNEED));
		m->cur = &m->cpus[0];
		pmd_t *pmd = mm_find_pmd(mm, va);
		assert_non_null(pmd);
		assert_false(pmd_none(mm, *pmd));
		uint64_t vae = t_stat(m, "tlbi.vae1is");

		tlb_gather_mmu(&tlb, mm);
		try_to_free_pte(mm, pmd, va, &tlb);
		assert_true(pmd_none(mm, *pmd));
		if (racy)
			assert_int_equal(handle_mm_fault(vma, va, FAULT_FLAG_WRITE), 0);
		tlb_finish_mmu(&tlb);
		/* The deferred flush: walk caches too (freed_tables), one VAE1IS at PMD stride. */
		assert_int_equal(t_stat(m, "tlbi.vae1is") - vae, 1);
		if (!racy)
			assert_int_equal(handle_mm_fault(vma, va, FAULT_FLAG_WRITE), 0);
		assert_false(pmd_none(mm, *pmd));
		assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), racy ? 1 : 0);
		m->cur = NULL;
		ptsim_machine_quiesce(m);
		ptsim_machine_destroy(m);
	}
}

static void map_hugetlb_file(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = PTSIM_MAP_HUGETLB, .shared = true, .file = "bbm" };
	T_OK(m, ptsim_mmap(m, task, &a));
}

/*
 * A break-before-make record belongs to the mm whose page tables hold the
 * entry, not to the mm loaded on the CPU that wrote it (issue 15 item 4).
 * 1. move_pages() by process 1 of a file page that process 2 maps too (own
 *    tables, 2 MiB each: no sharing): the rmap walk clears 2's entry on CPU0
 *    (running 1), 2's own flush covers it, the new page goes in; then 2
 *    faults again.  Before: the record was filed under 1, 2's flush left it,
 *    and the new page was a [bbm] violation.
 * 2. The same after 1 unshared a PMD table it had allocated and 2 shares
 *    (the table now reached only through 2): the record is covered by 2's
 *    flush.
 * 3. A real missing flush in 2's table, written while CPU0 runs 1, is still
 *    caught after a flush of 1 (before: 1's flush cleared the record).
 */
static void test_arm64__bbm_record_under_table_mm(void **state)
{
	(void)state;
	for (int c = 0; c < 3; c++) {
		struct ptsim_machine *m = arm64(4096, 48, 2, "6.18.44", NULL);
		uint64_t len = c == 1 ? 1 * GiB : 2 * MiB;

		T_OK(m, ptsim_spawn(m, 1, 0));
		T_OK(m, ptsim_spawn(m, 2, 1));
		map_hugetlb_file(m, 1, 1 * GiB, len);
		touch(m, 1, 1 * GiB, len, 2 * MiB, true);
		map_hugetlb_file(m, 2, (c == 1 ? 1 : 3) * GiB, len);
		touch(m, 2, (c == 1 ? 1 : 3) * GiB, len, 2 * MiB, false);
		if (c == 1) {
			assert_int_equal(t_stat(m, "hugetlb.pmd_share"), 1);
			map_anon(m, 1, 8 * GiB, 4096);   /* keeps 1's PUD table: only the PMD table is unshared */
			T_OK(m, ptsim_munmap(m, 1, 1 * GiB, len));
			assert_int_equal(t_stat(m, "hugetlb.pmd_unshare"), 1);
			T_OK(m, ptsim_move_pages(m, 2, 1 * GiB));
		} else if (c == 0) {
			T_OK(m, ptsim_move_pages(m, 1, 1 * GiB));
		} else {
			struct mm_struct *mm1 = task_lookup(m, 1)->mm, *mm2 = task_lookup(m, 2)->mm;
			enum pt_level level;
			pte_t *e2 = pt_walk(mm2, 3 * GiB, &level);
			pte_t old = *e2;

			assert_int_equal(level, PT_PMD);
			m->cur = &m->cpus[0];   /* CPU0 runs process 1 */
			pt_write(m, e2, PT_PMD, 3 * GiB, 0);
			flush_tlb_range(find_vma(mm1, 1 * GiB), 3 * GiB, 3 * GiB + 2 * MiB);   /* the wrong mm */
			pt_write(m, e2, PT_PMD, 3 * GiB, mk_pgent(pgent_pfn(old) + 1, old & ((1ull << _PAGE_PFN_SHIFT) - 1)));
			assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 1);
			pt_write(m, e2, PT_PMD, 3 * GiB, old);
			m->cur = NULL;
			ptsim_machine_destroy(m);
			continue;
		}
		assert_int_equal(t_stat(m, "migrate.pgmigrate_success"), 512);
		touch(m, 2, (c == 1 ? 1 : 3) * GiB, len, 2 * MiB, true);
		if (c == 0)
			touch(m, 1, 1 * GiB, 2 * MiB, 0, false);
		assert_int_equal(ptsim_violation_count(m), 0);
		T_OK(m, ptsim_exit(m, 1));
		T_OK(m, ptsim_exit(m, 2));
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/*
 * __flush_tlb_range_limit_excess() by era (traces/fidelity/arm64_range_limit_1g.json):
 * the munmap flush of 16 GiB of 1 GiB hugetlb pages is 16 stride operations
 * over 2^22 pages.  7.0 without FEAT_TLBIRANGE: 16 VALE1IS (TTL 1); 6.18.44:
 * more than MAX_TLBI_RANGE_PAGES, one ASIDE1IS.  With FEAT_TLBIRANGE both
 * eras flush the ASID (2^22 > 2^21 pages).
 */
static void test_arm64__range_limit_by_era(void **state)
{
	(void)state;
	static const struct {
		const char *preset, *set;
		uint64_t vale1is, aside1is;
	} rows[] = {
		{ "7.0", NULL, 16, 0 },
		{ "6.18.44", NULL, 0, 1 },
		{ "6.18.44", "arm64_range_limit=per_feature", 16, 0 },
		{ "7.0", "arm64_range_limit=legacy", 0, 1 },
		{ "7.0", "arm64_tlbi_range=on", 0, 1 },
		{ "6.18.44", "arm64_tlbi_range=on", 0, 1 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *set[] = { rows[i].set, NULL };
		struct ptsim_machine *m =
			run_as("fidelity/arm64_range_limit_1g.json", PTSIM_ARCH_ARM64, 4096, rows[i].preset, set);
		assert_int_equal(t_delta(m, "mapped", "unmapped", "tlbi.vale1is"), rows[i].vale1is);
		assert_int_equal(t_delta(m, "mapped", "unmapped", "tlbi.aside1is"), rows[i].aside1is);
		assert_int_equal(t_delta(m, "mapped", "unmapped", "tlbi.vae1is"), 0);
		assert_int_equal(t_delta(m, "mapped", "unmapped", "tlbi.dsb_ish"), 1);
		assert_int_equal(ptsim_violation_count(m), 0);
		t_destroy(m);
	}
}

/*
 * FEAT_TTL level 0 (traces/fidelity/arm64_ttl_level0_39bit.json): a huge
 * block that is an entry of the top table on a folded configuration is
 * recorded at the folded P4D level, so the TLBI carries level 0.  Without
 * FEAT_LPA2 that TTL is reserved (no hint) and the block goes; with it the
 * hint names level 0 and the block stays: [tlb] when its page is freed.  The
 * 64 KiB granule has no level-0 encoding at all: no hint either way.
 * @granule/@va_bits/@huge: the geometry and its top-level block.
 */
static void level0_case(unsigned int granule, unsigned int va_bits, uint64_t huge, const char *lpa2,
			size_t expect_viol)
{
	const char *set[] = { lpa2, NULL };
	struct ptsim_machine *m = arm64(granule, va_bits, 2, "6.18.44", lpa2 ? set : NULL);
	struct ptsim_mmap_args a = { .addr = 4 * huge, .len = 3 * huge, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = PTSIM_MAP_HUGETLB, .page_size = huge };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	touch(m, 1, a.addr, a.len, huge, true);
	T_OK(m, ptsim_mark(m, "mapped"));
	T_OK(m, ptsim_madvise(m, 1, a.addr, huge, PTSIM_MADV_DONTNEED));
	T_OK(m, ptsim_munmap(m, 1, a.addr + huge, huge));
	T_OK(m, ptsim_mark(m, "done"));
	assert_int_equal(t_delta(m, "mapped", "done", "tlbi.vale1is"), 2);
	assert_int_equal(t_delta(m, "mapped", "done", "tlbi.aside1is"), 0);
	assert_int_equal(t_violations(m, PTSIM_VIOL_TLB), expect_viol);
	assert_int_equal(ptsim_violation_count(m), expect_viol);
	ptsim_machine_destroy(m);
}

static void test_arm64__ttl_level0_needs_lpa2(void **state)
{
	(void)state;
	char err[256];

	level0_case(4096, 39, 1 * GiB, NULL, 0);
	level0_case(4096, 39, 1 * GiB, "arm64_lpa2=off", 0);
	level0_case(4096, 39, 1 * GiB, "arm64_lpa2=on", 2);
	level0_case(16384, 36, 32 * MiB, NULL, 0);
	level0_case(16384, 36, 32 * MiB, "arm64_lpa2=on", 2);
	level0_case(65536, 42, 512 * MiB, NULL, 0);
	level0_case(65536, 42, 512 * MiB, "arm64_lpa2=on", 0);   /* no level-0 TTL with 64 KiB pages */

	/* The bundled trace: no violation without FEAT_LPA2, two with it. */
	struct ptsim_machine *m = t_run_trace("fidelity/arm64_ttl_level0_39bit.json", NULL);
	assert_int_equal(t_delta(m, "mapped", "dontneed", "tlbi.vale1is"), 1);
	assert_int_equal(t_delta(m, "dontneed", "unmapped", "tlbi.vale1is"), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
	const char *on[] = { "arm64_lpa2=on", NULL };
	assert_int_equal(t_try_trace("fidelity/arm64_ttl_level0_39bit.json", on, &m), 0);
	assert_int_equal(t_violations(m, PTSIM_VIOL_TLB), 2);
	ptsim_machine_destroy(m);

	/* 52-bit VA on 4K/16K pages is LPA2: auto turns it on, off is refused. */
	const char *off[] = { "arm64_lpa2=off", NULL };
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 4096, 52, 0, 2, off, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "needs FEAT_LPA2"));
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 4096, 52, 0, 2, NULL, err, sizeof(err)), 0);
	assert_int_equal(try_config(PTSIM_ARCH_ARM64, 65536, 52, 0, 2, off, err, sizeof(err)), 0);
}

/* The unsafe table-free variant is caught on arm64 too (a freed table still in a walk cache). */
static void test_arm64__unsafe_table_free_caught(void **state)
{
	(void)state;
	static const char *const unsafe[] = { "table_free=immediate", NULL };
	struct ptsim_machine *m = arm64(4096, 48, 2, NULL, unsafe);

	/*
	 * One page written in the second 2 MiB: the zap's flush is a single
	 * VALE1IS (leaf only), so the walk cache still points at the PTE table
	 * when free_pgtables() frees it at once.
	 */
	T_OK(m, ptsim_spawn(m, 1, 0));
	map_anon(m, 1, 1 * GiB, 4 * MiB);
	touch(m, 1, 1 * GiB + 2 * MiB, 4096, 0, true);
	T_OK(m, ptsim_munmap(m, 1, 1 * GiB + 2 * MiB, 2 * MiB));
	assert_int_equal(t_violations(m, PTSIM_VIOL_PWC), 1);
	ptsim_machine_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* Contiguous-bit hugetlb                                                    */
/* ------------------------------------------------------------------------ */

static void map_huge(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, uint64_t psize, bool shared)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = PTSIM_MAP_HUGETLB, .shared = shared, .page_size = psize };
	T_OK(m, ptsim_mmap(m, task, &a));
}

/*
 * arch/arm64/mm/hugetlbpage.c's sizes: a contiguous huge page is CONT_PTES
 * PTEs (16 / 128 / 32 for 4 / 16 / 64 KiB pages) or CONT_PMDS PMD entries
 * (16 / 32 / 32), each with the contiguous bit.  Four private huge pages are
 * written (one fault each), a child forks and writes the first (COW: the
 * range is broken and flushed as a group, N VALE1IS at the entry stride,
 * then written), and unmaps the third (N entries cleared: N VALE1IS).
 * VmPTE counts the tables that hold the entries: a PTE table for CONT_PTE
 * sizes, none below the PMD for CONT_PMD ones.
 */
static void test_arm64__contiguous_hugetlb(void **state)
{
	(void)state;
	static const struct {
		unsigned int granule, va_bits;
		uint64_t size, base;
		unsigned int n;          /* entries per huge page */
		enum pt_level level;
		uint64_t vmpte_kb;       /* parent, after the writes */
	} c[] = {
		{ 4096, 48, 64 * KiB, 1 * GiB, 16, PT_PTE, 3 * 4 },
		{ 4096, 48, 32 * MiB, 1 * GiB, 16, PT_PMD, 2 * 4 },
		{ 4096, 39, 64 * KiB, 1 * GiB, 16, PT_PTE, 2 * 4 },
		{ 16384, 48, 2 * MiB, 64 * GiB, 128, PT_PTE, 3 * 16 },
		{ 16384, 47, 1 * GiB, 64 * GiB, 32, PT_PMD, 1 * 16 },
		{ 16384, 36, 2 * MiB, 1 * GiB, 128, PT_PTE, 1 * 16 },
		{ 65536, 48, 2 * MiB, 4 * GiB, 32, PT_PTE, 2 * 64 },
		{ 65536, 42, 2 * MiB, 4 * GiB, 32, PT_PTE, 1 * 64 },
		{ 65536, 48, 16 * GiB, 1 * TiB, 32, PT_PMD, 1 * 64 },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct ptsim_machine *m = arm64(c[i].granule, c[i].va_bits, 2, NULL, NULL);
		uint64_t sz = c[i].size, A = c[i].base, P = c[i].granule;

		T_OK(m, ptsim_spawn(m, 1, 0));
		map_huge(m, 1, A, 4 * sz, sz, false);
		touch(m, 1, A, 4 * sz, P, true);
		assert_int_equal(t_stat(m, "faults.hugetlb"), 4);
		assert_int_equal(t_mm_info(m, 1).vmpte_kb, c[i].vmpte_kb);
		assert_int_equal(t_mm_info(m, 1).hugetlb_kb, 4 * sz / KiB);

		/* The N entries of the first huge page: same folio, contiguous hint, at the expected level. */
		struct mm_struct *mm = task_lookup(m, 1)->mm;
		uint64_t step = sz / c[i].n;
		uint32_t pfn = 0;
		for (unsigned int k = 0; k < c[i].n; k++) {
			enum pt_level level;
			pgent_t *ep = pt_walk(mm, A + k * step, &level);
			assert_int_equal(level, c[i].level);
			assert_true(pgent_present(*ep) && (*ep & _PAGE_CONT));
			if (!k)
				pfn = pgent_pfn(*ep);
			assert_int_equal(pgent_pfn(*ep), pfn);
		}
		enum pt_level level;
		pgent_t *after = pt_walk(mm, A + sz, &level);
		assert_int_not_equal(pgent_pfn(*after), pfn);

		T_OK(m, ptsim_fork(m, 1, 2, 1));
		uint64_t v0 = t_stat(m, "tlbi.vale1is");
		touch(m, 2, A, P, 0, true);
		assert_int_equal(t_stat(m, "faults.cow"), 1);
		assert_int_equal(t_stat(m, "tlbi.vale1is") - v0, c[i].n);
		v0 = t_stat(m, "tlbi.vale1is");
		T_OK(m, ptsim_munmap(m, 2, A + 2 * sz, sz));
		assert_int_equal(t_stat(m, "tlbi.vale1is") - v0, c[i].n);
		T_OK(m, ptsim_exit(m, 2));
		T_OK(m, ptsim_exit(m, 1));
		if (ptsim_violation_count(m)) {
			struct ptsim_violation v;
			ptsim_violation_get(m, 0, &v);
			fail_msg("%u KiB / %u-bit, %llu KiB pages: %s", c[i].granule >> 10, c[i].va_bits,
				 (unsigned long long)(sz >> 10), v.message);
		}
		t_destroy(m);
	}
}

/*
 * A contiguous range may sit in a TLB as one entry, so one TLBI by VA anywhere
 * in it drops all of it.  flush_hugetlb_tlb_range() relies on that: its
 * stride is the huge page size.  Before the mmu_gather unshare form (6.12),
 * mprotect of 4 shared 64 KiB pages ends with that flush: 4 VAE1IS (level 3);
 * the other thread, which had written all 64 base pages, then faults on each
 * (no stale writable entry survives).
 */
static void test_arm64__contiguous_block_invalidation(void **state)
{
	(void)state;
	struct ptsim_machine *m = arm64(4096, 48, 2, "6.12", NULL);
	const uint64_t A = 1 * GiB, sz = 64 * KiB;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	map_huge(m, 1, A, 4 * sz, sz, true);
	touch(m, 1, A, 4 * sz, 4096, true);
	touch(m, 2, A, 4 * sz, 4096, true);
	uint64_t vae = t_stat(m, "tlbi.vae1is"), vale = t_stat(m, "tlbi.vale1is");
	T_OK(m, ptsim_mprotect(m, 1, A, 4 * sz, PTSIM_PROT_READ));
	assert_int_equal(t_stat(m, "tlbi.vae1is") - vae, 4);
	assert_int_equal(t_stat(m, "tlbi.vale1is") - vale, 0);
	touch(m, 2, A, 4 * sz, 4096, true);
	assert_int_equal(t_stat(m, "faults.sigsegv"), 64);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* Sizes: what the arch supports, per granule; x86 knows no contiguous ranges. */
static void test_arm64__contiguous_sizes(void **state)
{
	(void)state;
	struct ptsim_machine *m = arm64(16384, 48, 2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 64 * GiB, .len = 64 * MiB, .prot = PTSIM_PROT_READ,
				     .kind = PTSIM_MAP_HUGETLB, .shared = true, .page_size = 64 * KiB };

	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_int_equal(ptsim_mmap(m, 1, &a), -EINVAL);   /* 64 KiB is a 4 KiB-granule size */
	assert_non_null(strstr(ptsim_machine_errmsg(m), "page_size"));
	a.page_size = 1 * GiB;   /* CONT_PMD with 16 KiB pages */
	a.len = 2 * GiB;
	T_OK(m, ptsim_mmap(m, 1, &a));
	ptsim_machine_destroy(m);

	m = t_machine(2, NULL, NULL);
	T_OK(m, ptsim_spawn(m, 1, 0));
	a.addr = 1 * GiB;
	a.len = 2 * MiB;
	a.page_size = 64 * KiB;
	assert_int_equal(ptsim_mmap(m, 1, &a), -EINVAL);
	ptsim_machine_destroy(m);
}

/* Setting or clearing the contiguous hint of a live entry is a BBM violation. */
static void test_arm64__bbm_contiguous_hint(void **state)
{
	(void)state;
	struct ptsim_machine *m;
	uint64_t va = 1 * GiB + 3 * 4096;
	pte_t *pte = bbm_setup(&m, NULL, va);

	pt_write(m, pte, PT_PTE, va, *pte | _PAGE_CONT);
	assert_int_equal(t_violations(m, PTSIM_VIOL_BBM), 1);
	ptsim_machine_destroy(m);
}

/* ------------------------------------------------------------------------ */
/* The walk-cache fix c2ff4764e03e                                           */
/* ------------------------------------------------------------------------ */

/*
 * 4 KiB pages, 39-bit VA (3 levels: the PGD entries are the PUD entries).  A
 * child shares the parent's hugetlb PMD tables and exits: unsharing clears
 * its PGD entries, and the exit's flush is fullmm.  Before c2ff4764e03e that
 * flush is leaf-only, so under fullmm nothing is issued; with 3 levels the
 * child has no table of its own to free, so nothing flushes its ASID at all
 * and CPU1's walk cache still points at the shared tables.  When the parent
 * unmaps them, they are freed under that walk-cache entry: one PWC violation
 * per table.  With the fix the unshare flush invalidates walk caches
 * (ASIDE1IS under fullmm): none.  With 4 levels the child frees its own PUD
 * table, whose flush hides the bug.
 */
static const char walkcache_trace[] =
	"{\"ptsim_trace\":1,\"machine\":{\"arch\":\"arm64\",\"cpus\":2,\"va_bits\":%u,"
	"\"set\":{\"arm64_walkcache_fix\":\"%s\"}},\"events\":["
	"{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
	"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x80000000\",\"len\":\"2G\",\"prot\":\"rw\",\"kind\":\"hugetlb\","
	"\"shared\":true},"
	"{\"op\":\"touch\",\"task\":1,\"addr\":\"0x80000000\",\"len\":\"2G\",\"stride\":\"256M\",\"write\":true},"
	"{\"op\":\"fork\",\"task\":1,\"child\":2,\"cpu\":1},"
	"{\"op\":\"touch\",\"task\":2,\"addr\":\"0x80000000\",\"len\":\"2G\",\"stride\":\"1G\"},"
	"{\"op\":\"exit\",\"task\":2},"
	"{\"op\":\"munmap\",\"task\":1,\"addr\":\"0x80000000\",\"len\":\"2G\"},"
	"{\"op\":\"exit\",\"task\":1}]}";

static void test_arm64__walkcache_fix(void **state)
{
	(void)state;
	struct {
		unsigned int va_bits;
		const char *fix;
		size_t pwc;
	} cases[] = { { 39, "off", 2 }, { 39, "on", 0 }, { 48, "off", 0 }, { 48, "on", 0 } };

	for (size_t i = 0; i < 4; i++) {
		char json[2048], err[512];
		struct ptsim_machine *m = NULL;
		snprintf(json, sizeof(json), walkcache_trace, cases[i].va_bits, cases[i].fix);
		if (t_run_json(json, &m, err, sizeof(err)))
			fail_msg("%s", err);
		if (t_violations(m, PTSIM_VIOL_PWC) != cases[i].pwc)
			fail_msg("va_bits %u fix %s: %zu PWC violations, expected %zu", cases[i].va_bits, cases[i].fix,
				 t_violations(m, PTSIM_VIOL_PWC), cases[i].pwc);
		assert_int_equal(t_stat(m, "hugetlb.pmd_unshare"), 2);
		ptsim_machine_destroy(m);
	}
}

/*
 * tlb_remove_huge_tlb_entry() sizes a huge page against P4D_SIZE first; with
 * 3 levels (4K, 39-bit) the PUD and P4D levels fold into the PGD (1 GiB), so a
 * 1 GiB page is a P4D range with a 1 GiB stride: one TLBI, not 512 strides of
 * 2 MiB (which would exceed MAX_DVM_OPS and flush the whole ASID).
 */
static void test_arm64__huge_entry_on_folded_levels(void **s)
{
	(void)s;
	struct ptsim_machine *m = arm64(4096, 39, 2, NULL, NULL);
	struct ptsim_mmap_args h = { .addr = 1 * GiB, .len = 1 * GiB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
				     .kind = PTSIM_MAP_HUGETLB, .shared = true, .file = "g", .page_size = 1 * GiB };
	struct ptsim_mmap_args a = { .addr = 4 * GiB, .len = 4 * KiB, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &h));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, 1 * GiB, 4 * KiB, 0, true));
	uint64_t v0 = t_stat(m, "tlbi.vale1is"), a0 = t_stat(m, "tlbi.aside1is");
	T_OK(m, ptsim_madvise(m, 1, 1 * GiB, 1 * GiB, PTSIM_MADV_DONTNEED));
	assert_int_equal(t_stat(m, "tlbi.vale1is") - v0, 1);
	assert_int_equal(t_stat(m, "tlbi.aside1is") - a0, 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arm64__geometry_table),
		cmocka_unit_test(test_arm64__indices_64k),
		cmocka_unit_test(test_arm64__config_choices_and_errors),
		cmocka_unit_test(test_arm64__tables_every_geometry),
		cmocka_unit_test(test_arm64__w3_munmap),
		cmocka_unit_test(test_arm64__w3_dontneed),
		cmocka_unit_test(test_arm64__w3_mprotect),
		cmocka_unit_test(test_arm64__w3_dontneed_reclaim_7_0),
		cmocka_unit_test(test_arm64__w3_range_tlbi),
		cmocka_unit_test(test_arm64__w3_kpti),
		cmocka_unit_test(test_arm64__w3_same_trace_on_x86),
		cmocka_unit_test(test_arm64__threshold_per_granule),
		cmocka_unit_test(test_arm64__one_flush_per_vma),
		cmocka_unit_test(test_arm64__fork_flushes_parent_asid),
		cmocka_unit_test(test_arm64__w2_hugetlb_fork_exit),
		cmocka_unit_test(test_arm64__w2_traces_both_arches),
		cmocka_unit_test(test_arm64__w1_case_a_64k),
		cmocka_unit_test(test_arm64__asid_rollover),
		cmocka_unit_test(test_arm64__asid_width_and_kpti),
		cmocka_unit_test(test_arm64__bbm_valid_to_valid),
		cmocka_unit_test(test_arm64__bbm_clear_write_needs_tlbi),
		cmocka_unit_test(test_arm64__bbm_pt_reclaim_refault_race),
		cmocka_unit_test(test_arm64__bbm_record_under_table_mm),
		cmocka_unit_test(test_arm64__range_limit_by_era),
		cmocka_unit_test(test_arm64__ttl_level0_needs_lpa2),
		cmocka_unit_test(test_arm64__unsafe_table_free_caught),
		cmocka_unit_test(test_arm64__contiguous_hugetlb),
		cmocka_unit_test(test_arm64__contiguous_block_invalidation),
		cmocka_unit_test(test_arm64__contiguous_sizes),
		cmocka_unit_test(test_arm64__bbm_contiguous_hint),
		cmocka_unit_test(test_arm64__walkcache_fix),
		cmocka_unit_test(test_arm64__huge_entry_on_folded_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
