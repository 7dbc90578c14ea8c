/*
 * The basics of a machine and an mm (issue 2): machine creation errors, task
 * lifecycle errors, simulated SIGSEGVs, RSS by type as /proc/PID/status
 * shows it, zero-page read faults, VmPTE with 4 and 5 levels, COW after fork.
 *
 * Checked on the real kernel of these machines (6.18.44, /proc/self/status
 * around the same calls): 64 pages of private anonymous memory read first ->
 * RSS unchanged, VmPTE +12 kB (a fresh PTE, PMD and PUD table), then written
 * -> RssAnon +256 kB; MAP_SHARED|MAP_ANONYMOUS written -> RssShmem +256 kB;
 * a MAP_PRIVATE memfd read -> RssShmem +256 kB.
 */
#include <errno.h>
#include <string.h>

#include "support/helpers.h"

#define PG 4096ull
#define MB (1ull << 20)
#define BASE 0x100000000000ull
#define R PTSIM_PROT_READ
#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)

static void map(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, unsigned int prot,
		enum ptsim_map_kind kind, bool shared, const char *file)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = prot, .kind = kind, .shared = shared,
				     .file = file };
	T_OK(m, ptsim_mmap(m, task, &a));
}

/* ---------------- machine creation ---------------- */

static int create(struct ptsim_config *cfg, char *err, size_t errlen)
{
	struct ptsim_machine *m = NULL;
	int rc = ptsim_machine_create(&m, cfg, err, errlen);

	if (rc)
		assert_null(m);
	ptsim_machine_destroy(m);
	return rc;
}

static void test_mm_basic__machine_creation_errors(void **s)
{
	(void)s;
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	/* The config must come from ptsim_config_init() (its version). */
	ptsim_config_init(&cfg);
	cfg.version = 99;
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "config version 99"));
	cfg.version = 0;
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);

	ptsim_config_init(&cfg);
	cfg.cpus = 0;
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "cpus must be in [1, 8192] (got 0)"));
	cfg.cpus = PTSIM_MAX_CPUS + 1;
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "(got 8193)"));

	ptsim_config_init(&cfg);
	cfg.preset = "2.6.32";
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "unknown preset '2.6.32'"));

	ptsim_config_init(&cfg);
	cfg.paging_levels = 3;
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_non_null(strstr(err, "paging_levels"));

	ptsim_config_init(&cfg);
	cfg.arch = (enum ptsim_arch)7;
	assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);

	/* --set / "set" overrides. */
	static const char *const no_eq[] = { "pt_reclaim", NULL };
	static const char *const no_key[] = { "=on", NULL };
	static const char *const bad_key[] = { "pt_reclaim=on", "no_such_variant=1", NULL };
	static const char *const bad_enum[] = { "table_free=sometimes", NULL };
	static const char *const bad_int[] = { "tlb_single_page_flush_ceiling=lots", NULL };
	static const char *const bad_bool[] = { "pcid=maybe", NULL };
	static const char *const spaced_int[] = { "hz= 100", NULL };
	static const char *const bare_hex[] = { "hz=0x", NULL };
	static const struct { const char *const *set; const char *msg; } bad[] = {
		{ spaced_int, "variant hz: ' 100' is not an integer" },
		{ bare_hex, "variant hz: '0x' is not an integer" },
		{ no_eq, "not KEY=VALUE" },
		{ no_key, "not KEY=VALUE" },
		{ bad_key, "unknown variant key 'no_such_variant' (`ptsim variants` lists them)" },
		{ bad_enum, "variant table_free: unknown value 'sometimes' (one of: rcu semi_rcu after_flush immediate rcu_4_18)" },
		{ bad_int, "variant tlb_single_page_flush_ceiling" },
		{ bad_bool, "variant pcid: 'maybe' is not on/off" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ptsim_config_init(&cfg);
		cfg.set = bad[i].set;
		assert_int_equal(create(&cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
		if (!strstr(err, bad[i].msg))
			fail_msg("\"%s\" lacks \"%s\"", err, bad[i].msg);
	}

	/* Integers: leading zeros are decimal (as in traces), 0x is hex. */
	static const struct { const char *set; const char *shown; } ints[] = { { "hz=0100", " hz=100 " },
									      { "hz=0x10", " hz=16 " } };
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		const char *const set[] = { ints[i].set, NULL };
		ptsim_config_init(&cfg);
		cfg.set = set;
		struct ptsim_machine *im = NULL;
		assert_int_equal(ptsim_machine_create(&im, &cfg, err, sizeof(err)), 0);
		char *text = ptsim_report_text(im);
		assert_non_null(strstr(text, ints[i].shown));
		ptsim_free(text);
		ptsim_machine_destroy(im);
	}

	/* NULL arguments; a NULL error buffer is allowed. */
	ptsim_config_init(&cfg);
	assert_int_equal(ptsim_machine_create(NULL, &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(ptsim_machine_create(&m, NULL, err, sizeof(err)), -EINVAL);
	cfg.cpus = 0;
	assert_int_equal(ptsim_machine_create(&m, &cfg, NULL, 0), PTSIM_EBADCONFIG);
	assert_null(m);
	ptsim_machine_destroy(NULL);

	/* The limits themselves are fine: 1 CPU, 8192 CPUs, 5 levels, every preset. */
	ptsim_config_init(&cfg);
	cfg.cpus = 1;
	assert_int_equal(create(&cfg, err, sizeof(err)), 0);
	cfg.cpus = PTSIM_MAX_CPUS;
	cfg.paging_levels = 5;
	assert_int_equal(create(&cfg, err, sizeof(err)), 0);
	for (size_t i = 0; i < ptsim_preset_count(); i++) {
		ptsim_config_init(&cfg);
		cfg.preset = ptsim_preset_name(i);
		assert_int_equal(create(&cfg, err, sizeof(err)), 0);
	}
}

/* ---------------- tasks ---------------- */

static void test_mm_basic__task_lifecycle_errors(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	assert_int_equal(ptsim_spawn(m, -1, 0), -EINVAL);
	assert_int_equal(ptsim_spawn(m, 1, 2), -ERANGE);
	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_int_equal(ptsim_spawn(m, 1, 1), -EEXIST);
	assert_int_equal(ptsim_thread(m, 1, 1, 1), -EEXIST);
	assert_int_equal(ptsim_fork(m, 1, 1, 1), -EEXIST);
	assert_int_equal(ptsim_fork(m, 1, 2, 2), -ERANGE);
	assert_int_equal(ptsim_thread(m, 5, 6, 1), PTSIM_ENOTASK);
	assert_int_equal(ptsim_run(m, 5, 0), PTSIM_ENOTASK);
	assert_int_equal(ptsim_exit(m, 5), PTSIM_ENOTASK);
	assert_int_equal(ptsim_sleep(m, 5), PTSIM_ENOTASK);

	/* A sleeping task can do nothing until it runs again. */
	T_OK(m, ptsim_sleep(m, 1));
	assert_int_equal(ptsim_sleep(m, 1), PTSIM_ETASKSTATE);
	assert_int_equal(ptsim_exit(m, 1), PTSIM_ETASKSTATE);
	assert_int_equal(ptsim_fork(m, 1, 2, 1), PTSIM_ETASKSTATE);
	assert_int_equal(ptsim_thread(m, 1, 2, 1), PTSIM_ETASKSTATE);
	assert_int_equal(ptsim_touch(m, 1, BASE, PG, 0, false), PTSIM_ETASKSTATE);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "touch: field 'task': task 1 is not running"));
	T_OK(m, ptsim_run(m, 1, 1));
	T_OK(m, ptsim_run(m, 1, 1));   /* already there: nothing to do */

	/* Running a task on a busy CPU preempts the task there. */
	T_OK(m, ptsim_thread(m, 1, 2, 0));
	T_OK(m, ptsim_run(m, 2, 1));
	assert_int_equal(ptsim_munmap(m, 1, BASE, PG), PTSIM_ETASKSTATE);
	T_OK(m, ptsim_munmap(m, 2, BASE, PG));

	/* Exit frees the id; the last thread's exit tears the mm down. */
	struct ptsim_mm_info mi = t_mm_info(m, 2);
	assert_int_equal(mi.users, 2);
	assert_int_equal(mi.task, 1);
	T_OK(m, ptsim_exit(m, 2));
	assert_int_equal(ptsim_exit(m, 2), PTSIM_ENOTASK);
	assert_int_equal(ptsim_mm_info_get(m, 2, &mi), PTSIM_ENOTASK);
	T_OK(m, ptsim_run(m, 1, 0));
	assert_int_equal(t_mm_info(m, 1).users, 1);
	T_OK(m, ptsim_exit(m, 1));
	T_OK(m, ptsim_spawn(m, 1, 0));   /* ids can be reused */
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* ---------------- SIGSEGV ---------------- */

/* A bad access is a simulated SIGSEGV in the statistics, not a library error. */
static void test_mm_basic__sigsegv_is_counted_not_an_error(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 16 * PG, R, PTSIM_MAP_ANON, false, NULL);
	map(m, 1, BASE + 32 * PG, 16 * PG, PTSIM_PROT_NONE, PTSIM_MAP_ANON, false, NULL);

	T_OK(m, ptsim_touch(m, 1, BASE + 16 * PG, 16 * PG, 0, false));   /* the hole: 16 */
	assert_int_equal(t_stat(m, "faults.sigsegv"), 16);
	T_OK(m, ptsim_touch(m, 1, BASE, 4 * PG, 0, true));               /* write to read-only: 4 */
	assert_int_equal(t_stat(m, "faults.sigsegv"), 20);
	T_OK(m, ptsim_touch(m, 1, BASE + 32 * PG, 2 * PG, 0, false));    /* PROT_NONE: 2 */
	assert_int_equal(t_stat(m, "faults.sigsegv"), 22);
	T_OK(m, ptsim_touch(m, 1, 0, PG, 0, false));                      /* NULL */
	assert_int_equal(t_stat(m, "faults.sigsegv"), 23);
	/* None of them reached handle_mm_fault() (vmstat's pgfault counts there). */
	assert_int_equal(t_stat(m, "faults.total"), 0);
	assert_int_equal(t_stat(m, "accesses"), 23);

	/* A stride over a partly mapped range: the mapped part faults, the rest is SIGSEGV. */
	T_OK(m, ptsim_touch(m, 1, BASE + 8 * PG, 16 * PG, 2 * PG, false));
	assert_int_equal(t_stat(m, "faults.sigsegv"), 27);
	assert_int_equal(t_stat(m, "faults.zero_page"), 4);
	/* Unaligned addresses are fine for touch. */
	T_OK(m, ptsim_touch(m, 1, BASE + 123, 1, 0, false));
	assert_int_equal(t_stat(m, "faults.zero_page"), 5);

	/*
	 * A dirty page made read-only: a read refills the TLB with a read-only
	 * (still dirty) entry, and a write through it must still fault.
	 */
	map(m, 1, BASE + 64 * PG, PG, RW, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE + 64 * PG, PG, 0, true));
	T_OK(m, ptsim_mprotect(m, 1, BASE + 64 * PG, PG, R));
	T_OK(m, ptsim_touch(m, 1, BASE + 64 * PG, PG, 0, false));
	T_OK(m, ptsim_touch(m, 1, BASE + 64 * PG, PG, 0, true));
	assert_int_equal(t_stat(m, "faults.sigsegv"), 28);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* ---------------- RSS by type ---------------- */

static void test_mm_basic__rss_by_type(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	/* Private anonymous, written: RssAnon. */
	map(m, 1, BASE, MB, RW, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, MB, 0, true));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_anon_kb, 1024);
	assert_int_equal(mi.rss_file_kb + mi.rss_shmem_kb + mi.swap_kb + mi.hugetlb_kb, 0);

	/* Private file mapping, read: RssFile (page cache pages). */
	map(m, 1, BASE + 2 * MB, MB, RW, PTSIM_MAP_FILE, false, "data.bin");
	T_OK(m, ptsim_touch(m, 1, BASE + 2 * MB, MB, 0, false));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_file_kb, 1024);
	assert_int_equal(t_stat(m, "faults.file"), 256);
	/* ...written: each page becomes a private anonymous copy (file -> anon). */
	T_OK(m, ptsim_touch(m, 1, BASE + 2 * MB, 16 * PG, 0, true));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_file_kb, 1024 - 64);
	assert_int_equal(mi.rss_anon_kb, 1024 + 64);
	assert_int_equal(t_stat(m, "faults.cow"), 16);

	/* Shared file mapping, written: still file pages. */
	map(m, 1, BASE + 4 * MB, MB, RW, PTSIM_MAP_FILE, true, "shared.bin");
	T_OK(m, ptsim_touch(m, 1, BASE + 4 * MB, MB, 0, true));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_file_kb, 1024 - 64 + 1024);

	/* tmpfs/memfd shared, written: RssShmem. */
	map(m, 1, BASE + 6 * MB, MB, RW, PTSIM_MAP_SHMEM, true, "memfd");
	T_OK(m, ptsim_touch(m, 1, BASE + 6 * MB, MB, 0, true));
	assert_int_equal(t_mm_info(m, 1).rss_shmem_kb, 1024);

	/* MAP_SHARED|MAP_ANONYMOUS is shmem too. */
	map(m, 1, BASE + 8 * MB, MB, RW, PTSIM_MAP_ANON, true, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE + 8 * MB, MB, 0, true));
	assert_int_equal(t_mm_info(m, 1).rss_shmem_kb, 2048);

	/* A private mapping of a tmpfs file, read: shmem pages. */
	map(m, 1, BASE + 10 * MB, MB, RW, PTSIM_MAP_SHMEM, false, "memfd2");
	T_OK(m, ptsim_touch(m, 1, BASE + 10 * MB, MB, 0, false));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_shmem_kb, 3072);
	assert_int_equal(mi.rss_anon_kb, 1024 + 64);
	assert_int_equal(mi.rss_file_kb, 1024 - 64 + 1024);
	assert_int_equal(mi.swap_kb, 0);
	assert_int_equal(mi.hugetlb_kb, 0);

	/* munmap gives it all back, type by type. */
	T_OK(m, ptsim_munmap(m, 1, BASE + 6 * MB, 6 * MB));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_shmem_kb, 0);
	T_OK(m, ptsim_munmap(m, 1, BASE, 6 * MB));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_anon_kb + mi.rss_file_kb + mi.rss_shmem_kb, 0);
	assert_int_equal(mi.vmpte_kb, 0);
	assert_int_equal(mi.nr_vmas, 0);
	T_OK(m, ptsim_exit(m, 1));
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* ---------------- zero page and VmPTE ---------------- */

/* A read fault on private anonymous memory maps the shared zero page: no RSS, tables yes. */
static void test_mm_basic__zero_page_read_faults(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 64 * PG, RW, PTSIM_MAP_ANON, false, NULL);
	uint64_t frames = ptsim_frames_in_use(m);
	T_OK(m, ptsim_touch(m, 1, BASE, 64 * PG, 0, false));
	mi = t_mm_info(m, 1);
	assert_int_equal(t_stat(m, "faults.zero_page"), 64);
	assert_int_equal(t_stat(m, "faults.total"), 64);
	assert_int_equal(t_stat(m, "pages.allocated"), 0);
	assert_int_equal(mi.rss_anon_kb, 0);
	assert_int_equal(mi.vmpte_kb, 12);   /* one PTE, one PMD, one PUD table */
	assert_int_equal(ptsim_frames_in_use(m), frames + 3);
	/* Reading again hits the TLB: no fault. */
	T_OK(m, ptsim_touch(m, 1, BASE, 64 * PG, 0, false));
	assert_int_equal(t_stat(m, "faults.total"), 64);
	assert_int_equal(t_stat(m, "tlb.hits"), 64);
	/* Writing replaces the zero page with a fresh page (do_wp_page -> wp_page_copy). */
	T_OK(m, ptsim_touch(m, 1, BASE, 64 * PG, 0, true));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_anon_kb, 256);
	assert_int_equal(t_stat(m, "faults.cow"), 64);
	assert_int_equal(t_stat(m, "faults.total"), 128);
	assert_int_equal(t_stat(m, "pages.allocated"), 64);
	/* A write to untouched memory allocates at once: no zero page. */
	map(m, 1, BASE + MB, 16 * PG, RW, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE + MB, 16 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.anon"), 16);
	assert_int_equal(t_stat(m, "faults.zero_page"), 64);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 256 + 64);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* VmPTE = PTE + PMD + PUD tables; never P4D (5-level) nor the PGD. */
static void test_mm_basic__vmpte_counts_pte_pmd_pud_only(void **s)
{
	(void)s;
	for (unsigned int levels = 4; levels <= 5; levels++) {
		struct ptsim_config cfg;
		struct ptsim_machine *m = NULL;
		char err[256];

		ptsim_config_init(&cfg);
		cfg.paging_levels = levels;
		assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
		T_OK(m, ptsim_spawn(m, 1, 0));
		assert_int_equal(t_mm_info(m, 1).vmpte_kb, 0);
		/* 3 GiB + 4 MiB: spans 4 PMD tables' worth of PUD entries... touch one page per 2 MiB. */
		map(m, 1, BASE, 3 * 1024 * MB + 4 * MB, RW, PTSIM_MAP_ANON, false, NULL);
		T_OK(m, ptsim_touch(m, 1, BASE, 3 * 1024 * MB + 4 * MB, 2 * MB, true));
		struct ptsim_mm_info mi = t_mm_info(m, 1);
		assert_int_equal(mi.pgtables[0], 1536 + 2);   /* PTE tables: one per 2 MiB */
		assert_int_equal(mi.pgtables[1], 4);          /* PMD tables: one per 1 GiB */
		assert_int_equal(mi.pgtables[2], 1);          /* PUD tables: one per 512 GiB */
		assert_int_equal(mi.pgtables[3], levels == 5 ? 1 : 0);
		assert_int_equal(mi.vmpte_kb, (1538 + 4 + 1) * 4);
		/* A second PUD range far away: one more PUD table (and P4D with 5 levels). */
		map(m, 1, 0x7f0000000000ull, PG, RW, PTSIM_MAP_ANON, false, NULL);
		T_OK(m, ptsim_touch(m, 1, 0x7f0000000000ull, PG, 0, true));
		mi = t_mm_info(m, 1);
		assert_int_equal(mi.pgtables[2], 2);
		assert_int_equal(mi.vmpte_kb, (1539 + 5 + 2) * 4);
		T_OK(m, ptsim_munmap(m, 1, BASE, 3 * 1024 * MB + 4 * MB));
		T_OK(m, ptsim_munmap(m, 1, 0x7f0000000000ull, PG));
		mi = t_mm_info(m, 1);
		assert_int_equal(mi.vmpte_kb, 0);
		assert_int_equal(mi.pgtables[0] + mi.pgtables[1] + mi.pgtables[2] + mi.pgtables[3], 0);
		/* The PGD, and the last 1539 mod 31 pages faulted: CPU 0's LRU add batch still holds them. */
		assert_int_equal(ptsim_frames_in_lru_batches(m), 20);
		assert_int_equal(ptsim_frames_in_use(m), 1 + 20);
		t_destroy(m);
	}
}

/* ---------------- COW after fork ---------------- */

/*
 * After fork both sides map each anonymous page read-only.  The first writer
 * copies (wp_page_copy); the page is then mapped once, so the other side's
 * write reuses it (wp_page_reuse).  Reads never fault.
 */
static void test_mm_basic__cow_after_fork(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 8 * PG, RW, PTSIM_MAP_ANON, false, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * PG, 0, true));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	assert_int_equal(t_stat(m, "faults.total"), 8);
	assert_int_equal(t_mm_info(m, 2).rss_anon_kb, 32);

	/* Reads on both sides: present entries, no fault. */
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * PG, 0, false));
	T_OK(m, ptsim_touch(m, 2, BASE, 8 * PG, 0, false));
	assert_int_equal(t_stat(m, "faults.total"), 8);

	/* Child writes pages 0-3: four copies. */
	T_OK(m, ptsim_touch(m, 2, BASE, 4 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 4);
	assert_int_equal(t_stat(m, "pages.allocated"), 8 + 4);
	/* Parent writes pages 0-3: now its own alone, reused without a copy. */
	T_OK(m, ptsim_touch(m, 1, BASE, 4 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 4);
	assert_int_equal(t_stat(m, "faults.wp_reuse"), 4);
	/* Parent writes pages 4-7 first this time: copies; then the child reuses. */
	T_OK(m, ptsim_touch(m, 1, BASE + 4 * PG, 4 * PG, 0, true));
	T_OK(m, ptsim_touch(m, 2, BASE + 4 * PG, 4 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 8);
	assert_int_equal(t_stat(m, "faults.wp_reuse"), 8);
	/* Writing again: TLB hits, no fault. */
	uint64_t faults = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * PG, 0, true));
	T_OK(m, ptsim_touch(m, 2, BASE, 8 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.total"), faults);
	assert_int_equal(faults, 8 + 16);

	struct ptsim_mm_info p = t_mm_info(m, 1), c = t_mm_info(m, 2);
	assert_int_equal(p.rss_anon_kb, 32);
	assert_int_equal(c.rss_anon_kb, 32);
	assert_int_equal(t_stat(m, "pages.allocated"), 16);
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_exit(m, 1));
	/* All but the 5 pages the LRU add batch took since the reuse drained it. */
	assert_int_equal(ptsim_frames_in_lru_batches(m), 5);
	assert_int_equal(t_stat(m, "pages.freed"), 16 - 5);
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* Shared memory is not copied by fork, and writes to it never copy. */
static void test_mm_basic__shared_memory_no_cow(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	map(m, 1, BASE, 8 * PG, RW, PTSIM_MAP_ANON, true, NULL);
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * PG, 0, true));
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	assert_int_equal(t_mm_info(m, 2).rss_shmem_kb, 0);   /* not copied: faulted in later */
	T_OK(m, ptsim_touch(m, 2, BASE, 8 * PG, 0, true));
	T_OK(m, ptsim_touch(m, 1, BASE, 8 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.cow"), 0);
	assert_int_equal(t_stat(m, "faults.shmem"), 16);
	assert_int_equal(t_stat(m, "pages.allocated"), 8);
	assert_int_equal(t_mm_info(m, 2).rss_shmem_kb, 32);
	t_destroy(m);
}

/* Timeline CSV: one row per mark and a last "end" row; names with commas or quotes are quoted. */
static void test_mm_basic__timeline_csv(void **state)
{
	(void)state;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_mark(m, "a,b"));
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mark(m, "say \"hi\""));
	char *csv = ptsim_report_timeline_csv(m);
	assert_non_null(csv);
	assert_memory_equal(csv, "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb,", 51);
	assert_non_null(strstr(csv, "\n\"a,b\",0,,0,0,0,0,"));
	assert_non_null(strstr(csv, "\n\"say \"\"hi\"\"\",1,,2,0,0,0,"));
	assert_non_null(strstr(csv, "\nend,,,3,0,0,0,"));
	size_t lines = 0;
	for (const char *p = csv; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 4);
	ptsim_free(csv);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mm_basic__timeline_csv),
		cmocka_unit_test(test_mm_basic__machine_creation_errors),
		cmocka_unit_test(test_mm_basic__task_lifecycle_errors),
		cmocka_unit_test(test_mm_basic__sigsegv_is_counted_not_an_error),
		cmocka_unit_test(test_mm_basic__rss_by_type),
		cmocka_unit_test(test_mm_basic__zero_page_read_faults),
		cmocka_unit_test(test_mm_basic__vmpte_counts_pte_pmd_pud_only),
		cmocka_unit_test(test_mm_basic__cow_after_fork),
		cmocka_unit_test(test_mm_basic__shared_memory_no_cow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
