/*
 * x86-64 geometry: index extraction at every level for 4- and 5-level paging,
 * folding of the P4D level, and the sizes the rest of the simulator uses.
 */
#include "support/helpers.h"

#include "mm/internal.h"

static struct ptsim_machine *x86(unsigned int levels)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	ptsim_config_init(&cfg);
	cfg.paging_levels = levels;
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	return m;
}

static void test_geometry__four_level_indices(void **state)
{
	(void)state;
	struct ptsim_machine *m = x86(4);
	const struct pt_geometry *g = &m->geo;
	/* bits 47..39 = 0x1a5, 38..30 = 0x0f3, 29..21 = 0x1ff, 20..12 = 0x001 */
	uint64_t va = (0x1a5ull << 39) | (0x0f3ull << 30) | (0x1ffull << 21) | (0x001ull << 12) | 0x123;

	assert_true(g->folded[PT_P4D]);
	assert_false(g->folded[PT_PUD] || g->folded[PT_PMD]);
	assert_int_equal(g->levels, 4);
	assert_int_equal(pt_index(g, PT_PGD, va), 0x1a5);
	assert_int_equal(pt_index(g, PT_P4D, va), 0);   /* folded: one entry, the PGD's */
	assert_int_equal(pt_index(g, PT_PUD, va), 0x0f3);
	assert_int_equal(pt_index(g, PT_PMD, va), 0x1ff);
	assert_int_equal(pt_index(g, PT_PTE, va), 0x001);
	assert_int_equal(g->task_size, (1ull << 47) - 4096);
	assert_int_equal(PMD_SIZE(m), 2ull << 20);
	assert_int_equal(PUD_SIZE(m), 1ull << 30);
	assert_int_equal(PGDIR_SIZE(m), 512ull << 30);
	assert_int_equal(g->pmd_leaf_size, 2ull << 20);
	assert_int_equal(g->pud_leaf_size, 1ull << 30);
	ptsim_machine_destroy(m);
}

static void test_geometry__five_level_indices(void **state)
{
	(void)state;
	struct ptsim_machine *m = x86(5);
	const struct pt_geometry *g = &m->geo;
	uint64_t va = (0x0abull << 48) | (0x1a5ull << 39) | (0x0f3ull << 30) | (0x1ffull << 21) | (0x100ull << 12);

	assert_false(g->folded[PT_P4D]);
	assert_int_equal(g->levels, 5);
	assert_int_equal(pt_index(g, PT_PGD, va), 0x0ab);
	assert_int_equal(pt_index(g, PT_P4D, va), 0x1a5);
	assert_int_equal(pt_index(g, PT_PUD, va), 0x0f3);
	assert_int_equal(pt_index(g, PT_PMD, va), 0x1ff);
	assert_int_equal(pt_index(g, PT_PTE, va), 0x100);
	assert_int_equal(g->task_size, (1ull << 56) - 4096);
	ptsim_machine_destroy(m);
}

/* A mapping above 2^47 needs 5-level paging: a P4D table appears, not counted in VmPTE. */
static void test_geometry__five_level_tables_and_vmpte(void **state)
{
	(void)state;
	struct ptsim_machine *m = x86(5);
	struct ptsim_mmap_args a = { .addr = 1ull << 52, .len = 4096, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, 4096, 0, true));
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.pgtables[0], 1);   /* pte */
	assert_int_equal(mi.pgtables[1], 1);   /* pmd */
	assert_int_equal(mi.pgtables[2], 1);   /* pud */
	assert_int_equal(mi.pgtables[3], 1);   /* p4d: allocated, not in VmPTE */
	assert_int_equal(mi.vmpte_kb, 12);
	T_OK(m, ptsim_munmap(m, 1, a.addr, 4096));
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.vmpte_kb, 0);
	assert_int_equal(mi.pgtables[3], 0);
	T_OK(m, ptsim_exit(m, 1));
	t_destroy(m);
}

/* The same address on 4-level paging is rejected as beyond user space. */
static void test_geometry__four_level_rejects_57bit(void **state)
{
	(void)state;
	struct ptsim_machine *m = x86(4);
	struct ptsim_mmap_args a = { .addr = 1ull << 52, .len = 4096, .prot = PTSIM_PROT_READ };

	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_int_equal(ptsim_mmap(m, 1, &a), -ERANGE);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "field 'addr'"));
	assert_non_null(strstr(ptsim_machine_errmsg(m), "paging_levels 5 raises it"));
	ptsim_machine_destroy(m);
}

static void test_geometry__bad_levels(void **state)
{
	(void)state;
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	ptsim_config_init(&cfg);
	cfg.paging_levels = 3;
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_null(m);
	assert_non_null(strstr(err, "paging_levels"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry__four_level_indices),
		cmocka_unit_test(test_geometry__five_level_indices),
		cmocka_unit_test(test_geometry__five_level_tables_and_vmpte),
		cmocka_unit_test(test_geometry__four_level_rejects_57bit),
		cmocka_unit_test(test_geometry__bad_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
