/*
 * Address-space layout and placement (issue 9): where mmap puts a mapping
 * without a fixed address, hints, MAP_FIXED_NOREPLACE and MAP_FIXED.
 *
 * Every expected address below was measured on the real kernel of these
 * machines (6.18.44, x86-64, 4-level, ASLR off, 8 MiB stack limit,
 * mmap_min_addr 4096) by bench/real_mmap_layout.c: the program's own mappings
 * at the time ("maps before") are recreated here as fixed mappings, then the
 * same calls must give the same addresses.  mmap_base there is
 * 0x7ffff7fff000 (2^47 - 4 KiB - 128 MiB).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "support/helpers.h"
#include "mm/internal.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)

static void fixed(struct ptsim_machine *m, uint64_t start, uint64_t end, unsigned int prot)
{
	struct ptsim_mmap_args a = { .addr = start, .len = end - start, .prot = prot };
	T_OK(m, ptsim_mmap(m, 1, &a));
}

/* The real program's mappings before its calls (/proc/self/maps, the stack aside: it is above mmap_base). */
static struct ptsim_machine *real_process(void)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	fixed(m, 0x555555554000, 0x55555557a000, PTSIM_PROT_READ);   /* the program and its heap */
	fixed(m, 0x7ffff7dd0000, 0x7ffff7fb5000, PTSIM_PROT_READ);   /* libc and its data */
	fixed(m, 0x7ffff7fc0000, 0x7ffff7fff000, PTSIM_PROT_READ);   /* vvar, vdso, ld.so */
	return m;
}

static uint64_t map_anon(struct ptsim_machine *m, uint64_t len)
{
	struct ptsim_mmap_args a = { .len = len, .prot = RW };
	uint64_t addr = 0;

	T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
	return addr;
}

/* The lengths of bench/real_mmap_layout.c's 20 mmaps, in KiB. */
static const uint64_t twenty_kib[20] = {
	4, 8, 64, 1024, 2048, 4, 3072, 4096, 12, 6144, 16, 2052, 4, 128, 2048, 512, 4, 8192, 36, 4,
};

/*
 * The program's sequence on @m (task 1 set up as the real process was): 20
 * anonymous mmaps without an address (@want: where the kernel put them),
 * munmaps of the 4th (1 MiB) and the 8th (4 MiB), then 512 KiB and 2 MiB
 * (@want_512k, @want_2m).
 */
static void twenty_mmaps(struct ptsim_machine *m, const uint64_t want[20], uint64_t want_512k, uint64_t want_2m)
{
	for (unsigned int i = 0; i < 20; i++) {
		uint64_t got = map_anon(m, twenty_kib[i] * KiB);
		if (got != want[i])
			fail_msg("mmap %u (%" PRIu64 " KiB): got %#" PRIx64 ", the kernel gave %#" PRIx64, i, twenty_kib[i],
				 got, want[i]);
	}
	T_OK(m, ptsim_munmap(m, 1, want[3], 1 * MiB));
	T_OK(m, ptsim_munmap(m, 1, want[7], 4 * MiB));
	assert_int_equal(map_anon(m, 512 * KiB), want_512k);
	assert_int_equal(map_anon(m, 2 * MiB), want_2m);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * 20 anonymous mmaps without an address, two munmaps, two more mmaps: the
 * top-down allocator fills the highest gap that fits; lengths that are
 * multiples of 2 MiB come out PMD-aligned (padded search, 6.13+), 2052 KiB
 * does not.  The 512 KiB one goes to the highest hole that fits, the 2 MiB
 * one PMD-aligned into the 4 MiB hole.
 */
static void test_addrspace__twenty_anonymous_mmaps_as_the_kernel(void **s)
{
	(void)s;
	static const uint64_t want[20] = {
		0x7ffff7fbf000, 0x7ffff7fbd000, 0x7ffff7dc0000, 0x7ffff7cc0000, 0x7ffff7a00000,
		0x7ffff7fbc000, 0x7ffff7700000, 0x7ffff7200000, 0x7ffff7fb9000, 0x7ffff6c00000,
		0x7ffff7fb5000, 0x7ffff69ff000, 0x7ffff7cbf000, 0x7ffff7c9f000, 0x7ffff6600000,
		0x7ffff7c1f000, 0x7ffff7c1e000, 0x7ffff5e00000, 0x7ffff7c15000, 0x7ffff7c14000,
	};

	twenty_mmaps(real_process(), want, 0x7ffff7d40000, 0x7ffff7400000);
}

/*
 * vm.legacy_va_layout=1 (the same under `setarch -L`): bottom-up from
 * TASK_UNMAPPED_BASE = PAGE_ALIGN(window / 3) = 0x2aaaaaaab000, where ld.so
 * went.  The first call takes the lowest gap that fits, 2 MiB multiples come
 * out PMD-aligned, the two holes are refilled (the 512 KiB one into the
 * lowest hole that fits).  Measured by bench/real_mmap_layout.c under
 * `setarch -L`; its "maps before" recreated.
 */
static void test_addrspace__legacy_layout_twenty_mmaps_as_the_kernel(void **s)
{
	(void)s;
	static const char *const legacy[] = { "legacy_va_layout=on", NULL };
	static const uint64_t want[20] = {
		0x2aaaaaaea000, 0x2aaaaaaeb000, 0x2aaaaacda000, 0x2aaaaacea000, 0x2aaaaae00000,
		0x2aaaaaaed000, 0x2aaaab000000, 0x2aaaab400000, 0x2aaaaaaee000, 0x2aaaab800000,
		0x2aaaaaaf1000, 0x2aaaabe00000, 0x2aaaaadea000, 0x2aaaab300000, 0x2aaaac200000,
		0x2aaaab320000, 0x2aaaaadeb000, 0x2aaaac400000, 0x2aaaaadec000, 0x2aaaaadf5000,
	};
	struct ptsim_machine *m = t_machine(2, NULL, legacy);

	T_OK(m, ptsim_spawn(m, 1, 0));
	fixed(m, 0x2aaaaaaab000, 0x2aaaaaae0000, PTSIM_PROT_READ);   /* ld.so */
	fixed(m, 0x2aaaaaae0000, 0x2aaaaaaea000, PTSIM_PROT_READ);   /* vvar, vdso, ld.so's data */
	fixed(m, 0x2aaaaaaf5000, 0x2aaaaacda000, PTSIM_PROT_READ);   /* libc and its data */
	fixed(m, 0x555555554000, 0x55555557a000, PTSIM_PROT_READ);   /* the program and its heap */
	fixed(m, 0x7ffffffde000, 0x7ffffffff000, RW);                /* the stack */
	twenty_mmaps(m, want, 0x2aaaaacea000, 0x2aaaab400000);
}

static uint64_t map_kind(struct ptsim_machine *m, uint64_t len, enum ptsim_map_kind kind, bool shared, const char *file,
			 uint64_t offset)
{
	struct ptsim_mmap_args a = { .len = len, .prot = PTSIM_PROT_READ, .kind = kind, .shared = shared, .file = file,
				     .offset = offset };
	uint64_t addr = 0;

	T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
	return addr;
}

/*
 * Files: a regular file is PMD-aligned with its offset (ext4's
 * thp_get_unmapped_area()), a memfd and shared anonymous memory are not
 * (shmem, huge pages off), MAP_HUGETLB aligns to the huge page.  A free hint
 * is taken; a taken one is ignored; MAP_FIXED_NOREPLACE over it is EEXIST.
 */
static void test_addrspace__files_hints_and_noreplace_as_the_kernel(void **s)
{
	(void)s;
	struct ptsim_machine *m = real_process();
	struct ptsim_mmap_args a = { .addr = 0x200000000000, .len = 8 * KiB, .prot = PTSIM_PROT_READ,
				     .fixed = PTSIM_MAP_HINT };
	uint64_t addr = 0;

	assert_int_equal(map_anon(m, 4 * KiB), 0x7ffff7fbf000);
	assert_int_equal(map_kind(m, 4 * MiB, PTSIM_MAP_FILE, true, "data", 0), 0x7ffff7800000);
	assert_int_equal(map_anon(m, 4 * KiB), 0x7ffff7fbe000);
	assert_int_equal(map_kind(m, 4 * MiB, PTSIM_MAP_FILE, false, "data", 1 * MiB), 0x7ffff7300000);
	assert_int_equal(map_anon(m, 4 * KiB), 0x7ffff7fbd000);
	assert_int_equal(map_kind(m, 4 * MiB, PTSIM_MAP_SHMEM, true, "memfd", 0), 0x7ffff6f00000);
	assert_int_equal(map_anon(m, 4 * KiB), 0x7ffff7fbc000);
	assert_int_equal(map_kind(m, 4 * MiB, PTSIM_MAP_ANON, true, NULL, 0), 0x7ffff6b00000);
	assert_int_equal(map_anon(m, 4 * KiB), 0x7ffff7fbb000);
	assert_int_equal(map_kind(m, 2 * MiB, PTSIM_MAP_HUGETLB, false, NULL, 0), 0x7ffff6800000);
	assert_int_equal(map_anon(m, 4 * KiB), 0x7ffff7fba000);
	T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
	assert_int_equal(addr, 0x200000000000);
	T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
	assert_int_equal(addr, 0x7ffff7fb8000);
	a.fixed = PTSIM_MAP_NOREPLACE;
	assert_int_equal(ptsim_mmap_addr(m, &addr, 1, &a), -EEXIST);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "EEXIST"));
	/* The original meaning of a fixed address: an input error, not the system call's EEXIST. */
	a.fixed = PTSIM_MAP_FIXED_DEFAULT;
	assert_int_equal(ptsim_mmap(m, 1, &a), PTSIM_EOVERLAP);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * MAP_FIXED replaces: the old pages are unmapped (with munmap's flush: one
 * remote flush to the thread on CPU 1), the new mapping is empty.
 */
static void test_addrspace__map_fixed_replaces(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x100000000, .len = 64 * KiB, .prot = RW };
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	T_OK(m, ptsim_touch(m, 2, a.addr, a.len, 0, false));
	T_OK(m, ptsim_mark(m, "before"));
	a.fixed = PTSIM_MAP_REPLACE;
	a.addr += 16 * KiB;
	a.len = 16 * KiB;
	a.prot = PTSIM_PROT_READ;
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_mark(m, "after"));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 3);
	assert_int_equal(mi.rss_anon_kb, 48);
	assert_int_equal(t_delta(m, "before", "after", "cpu.1.ipi_received.tlb_flush"), 1);
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, false));
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.rss_anon_kb, 48);   /* reads of the new private mapping map the zero page */
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* No room: ENOMEM from the allocator, as the system call returns it. */
static void test_addrspace__no_room_is_enomem(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .len = 1ull << 46, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));   /* 64 TiB: fits below mmap_base */
	/* Not twice: 128 MiB + 4 KiB of the window are above mmap_base or below mmap_min_addr. */
	assert_int_equal(ptsim_mmap(m, 1, &a), -ENOMEM);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "ENOMEM"));
	t_destroy(m);
}

/*
 * The layout parameters per architecture: the first page-sized mmap lands
 * right below mmap_base; under legacy_va_layout at TASK_UNMAPPED_BASE (x86-64:
 * PAGE_ALIGN(window / 3), arm64: window / 4).
 */
static void test_addrspace__mmap_base_per_arch(void **s)
{
	(void)s;
	static const char *const legacy[] = { "legacy_va_layout=on", NULL };
	static const struct {
		enum ptsim_arch arch;
		unsigned int granule, va_bits, levels;
		uint64_t first, legacy_first;
	} c[] = {
		{ PTSIM_ARCH_X86_64, 4096, 0, 4, 0x7ffff7fff000 - 4096, 0x2aaaaaaab000 },
		{ PTSIM_ARCH_X86_64, 4096, 0, 5, 0x7ffff7fff000 - 4096, 0x2aaaaaaab000 },   /* the 47-bit window */
		{ PTSIM_ARCH_ARM64, 4096, 48, 0, 0xfffff8000000 - 4096, 0x400000000000 },
		{ PTSIM_ARCH_ARM64, 4096, 39, 0, 0x7ff8000000 - 4096, 0x2000000000 },
		{ PTSIM_ARCH_ARM64, 65536, 48, 0, 0xfffff8000000 - 65536, 0x400000000000 },   /* 8 MiB + 256 x 64 KiB < 128 MiB */
		{ PTSIM_ARCH_ARM64, 4096, 52, 0, 0xfffff8000000 - 4096, 0x400000000000 },     /* the 48-bit window */
	};
	for (unsigned int i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		for (int l = 0; l < 2; l++) {
			struct ptsim_machine *m = NULL;
			struct ptsim_config cfg;
			char err[256];
			uint64_t addr = 0;

			ptsim_config_init(&cfg);
			cfg.arch = c[i].arch;
			cfg.granule = c[i].granule;
			cfg.va_bits = c[i].va_bits;
			cfg.paging_levels = c[i].levels;
			cfg.set = l ? legacy : NULL;
			assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
			struct ptsim_mmap_args a = { .len = c[i].granule, .prot = RW };

			T_OK(m, ptsim_spawn(m, 1, 0));
			T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
			if (addr != (l ? c[i].legacy_first : c[i].first))
				fail_msg("case %u%s: got %#" PRIx64, i, l ? " (legacy)" : "", addr);
			t_destroy(m);
		}
	}
}

/*
 * The layout settings in traces, v1 and v2: "set": {"legacy_va_layout": true}
 * and {"randomize_va_space": 2} take effect and show in the report's
 * machine.variants; absent, the keys are not written (reports of traces
 * without them stay as they were).  The randomized trace gives the exec'd
 * program (mm 2, seed 1) the layout test_addrspace__aslr_pinned_per_seed pins.
 */
static void test_addrspace__layout_keys_in_traces(void **s)
{
	(void)s;
#define EXEC_EVENTS(sep)                                                                                             \
	"{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}" sep "{\"op\": \"exec\", \"task\": 1, \"segments\": [{\"addr\": " \
	"\"0x400000\", \"len\": \"128K\", \"prot\": \"rw\"}]}" sep "{\"op\": \"mmap\", \"task\": 1, \"len\": 4096, "   \
	"\"prot\": \"rw\"}"
	static const struct {
		const char *text, *key;
		uint64_t addr;   /* a page mmapped after the trace's */
	} t[] = {
		{ "{\"ptsim_trace\": 1, \"machine\": {\"set\": {\"legacy_va_layout\": true}}, \"events\": [" EXEC_EVENTS(",") "]}",
		  "\"legacy_va_layout\":true", 0x2aaaaaaac000 },
		{ "{\"ptsim_trace\": 2, \"machine\": {\"set\": {\"legacy_va_layout\": \"on\"}}}\n" EXEC_EVENTS("\n") "\n",
		  "\"legacy_va_layout\":true", 0x2aaaaaaac000 },
		{ "{\"ptsim_trace\": 1, \"machine\": {\"seed\": 1, \"set\": {\"randomize_va_space\": 2}}, \"events\": ["
		  EXEC_EVENTS(",") "]}", "\"randomize_va_space\":2", 0x7fd5b2e6a000 - 4096 },
		{ "{\"ptsim_trace\": 2, \"machine\": {\"set\": {\"randomize_va_space\": \"2\"}}}\n" EXEC_EVENTS("\n") "\n",
		  "\"randomize_va_space\":2", 0x7fd5b2e6a000 - 4096 },
		{ "{\"ptsim_trace\": 2, \"machine\": {}}\n" EXEC_EVENTS("\n") "\n", NULL, 0x7ffff7ffd000 },
	};
#undef EXEC_EVENTS
	for (unsigned int i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ptsim_machine *m = NULL;
		char err[512];
		uint64_t addr = 0;
		struct ptsim_mmap_args a = { .len = 4096, .prot = RW };

		if (t_run_json(t[i].text, &m, err, sizeof(err)))
			fail_msg("trace %u: %s", i, err);
		T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
		if (addr != t[i].addr)
			fail_msg("trace %u: mmap at %#" PRIx64 ", expected %#" PRIx64, i, addr, t[i].addr);
		char *json = ptsim_report_json(m);
		assert_non_null(json);
		if (t[i].key && !strstr(json, t[i].key))
			fail_msg("trace %u: no %s in the report: %.300s", i, t[i].key, strstr(json, "variants"));
		if (!t[i].key && (strstr(json, "legacy_va_layout") || strstr(json, "randomize_va_space")))
			fail_msg("trace %u: a default layout key in the report: %.300s", i, strstr(json, "variants"));
		ptsim_free(json);
		t_destroy(m);
	}
}

/* ---- Randomization (randomize_va_space, from the machine's seed) ---- */

struct aslr_case {
	enum ptsim_arch arch;
	unsigned int granule, va_bits, levels;
};

struct layout {
	uint32_t mm;
	uint64_t mmap_base, legacy_base, stack_top, start_brk, first_mmap;
	bool topdown;
};

#define IMAGE_END 0x420000ull   /* the end of the exec's one segment, [0x400000, 0x420000) */

static struct ptsim_machine *aslr_machine_set(const struct aslr_case *c, unsigned long long seed, int level,
					      bool legacy, const char *extra)
{
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[256], rva[32];
	const char *set[4] = { rva, legacy ? "legacy_va_layout=on" : extra, legacy ? extra : NULL, NULL };

	snprintf(rva, sizeof(rva), "randomize_va_space=%d", level);
	ptsim_config_init(&cfg);
	cfg.arch = c->arch;
	cfg.granule = c->granule;
	cfg.va_bits = c->va_bits;
	cfg.paging_levels = c->levels;
	cfg.seed = seed;
	cfg.set = set;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("machine: %s", err);
	return m;
}

static struct ptsim_machine *aslr_machine(const struct aslr_case *c, unsigned long long seed, int level, bool legacy)
{
	return aslr_machine_set(c, seed, level, legacy, NULL);
}

/* The layout @task's mm has, and where a page-sized mmap without an address goes. */
static struct layout layout_of(struct ptsim_machine *m, int task)
{
	struct mm_struct *mm = task_lookup(m, task)->mm;
	struct layout l = { mm->id, mm->mmap_base, mm->mmap_legacy_base, mm->start_stack, mm->start_brk, 0,
			    mm->mmf_topdown };
	struct ptsim_mmap_args a = { .len = PAGE_SIZE(m), .prot = RW };

	T_OK(m, ptsim_mmap_addr(m, &l.first_mmap, task, &a));
	return l;
}

/* spawn 1, exec it with one 128 KiB segment at 0x400000: the new program's layout. */
static struct layout aslr_exec_set(const struct aslr_case *c, unsigned long long seed, int level, bool legacy,
				   const char *extra)
{
	struct ptsim_machine *m = aslr_machine_set(c, seed, level, legacy, extra);
	struct ptsim_exec_segment seg = { .addr = 0x400000, .len = IMAGE_END - 0x400000, .prot = RW };
	struct ptsim_exec_args a = { .segments = &seg, .nr_segments = 1 };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_exec(m, 1, &a));
	struct layout l = layout_of(m, 1);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
	return l;
}

static struct layout aslr_exec(const struct aslr_case *c, unsigned long long seed, int level, bool legacy)
{
	return aslr_exec_set(c, seed, level, legacy, NULL);
}

/* Field by field (the struct has padding). */
static bool layout_equal(const struct layout *a, const struct layout *b)
{
	return a->mm == b->mm && a->mmap_base == b->mmap_base && a->legacy_base == b->legacy_base &&
	       a->stack_top == b->stack_top && a->start_brk == b->start_brk && a->first_mmap == b->first_mmap &&
	       a->topdown == b->topdown;
}

static void in_range(const char *what, unsigned int i, unsigned long long seed, uint64_t v, uint64_t lo, uint64_t hi,
		     uint64_t align)
{
	if (v < lo || v > hi || (v & (align - 1)))
		fail_msg("case %u seed %llu: %s %#" PRIx64 " not in [%#" PRIx64 ", %#" PRIx64 "] aligned to %#" PRIx64, i,
			 seed, what, v, lo, hi, align);
}

/*
 * One seed, one layout: the values pinned for seed 1 (randomize_va_space=2,
 * the exec'd program is mm 2), the same machine twice gives them again, and
 * another seed moves all three.  x86-64: rnd = 0x264c895 pages below
 * PAGE_ALIGN(window - gap) = 0x7ffbff700000 (the gap holds the stack's 16 GiB
 * range), legacy base 0x2aaaaaaab000 + the same rnd; arm64 4K: the same draw
 * masked to 18 bits.
 */
static void test_addrspace__aslr_pinned_per_seed(void **s)
{
	(void)s;
	static const struct {
		struct aslr_case c;
		bool legacy;
		struct layout want;
	} pin[] = {
		{ { PTSIM_ARCH_X86_64, 4096, 0, 4 }, false,
		  { 2, 0x7fd5b2e6b000, 0x2ad0f7340000, 0x7fff73149000, 0xe23c000, 0x7fd5b2e6a000, true } },
		{ { PTSIM_ARCH_X86_64, 4096, 0, 4 }, true,
		  { 2, 0x2ad0f7340000, 0x2ad0f7340000, 0x7fff73149000, 0xe23c000, 0x2ad0f7340000, false } },
		{ { PTSIM_ARCH_ARM64, 4096, 48, 0 }, false,
		  { 2, 0xffffb2e6c000, 0x400000000000, 0xfffff314a000, 0xe23c000, 0xffffb2e6b000, true } },
		{ { PTSIM_ARCH_ARM64, 4096, 48, 0 }, true,
		  { 2, 0x40000c895000, 0x400000000000, 0xfffff314a000, 0xe23c000, 0x40000c895000, false } },
	};
	for (unsigned int i = 0; i < sizeof(pin) / sizeof(pin[0]); i++) {
		for (int again = 0; again < 2; again++) {
			struct layout l = aslr_exec(&pin[i].c, 1, 2, pin[i].legacy);
			if (!layout_equal(&l, &pin[i].want))
				fail_msg("case %u: mm %u base %#" PRIx64 " legacy %#" PRIx64 " stack %#" PRIx64 " brk %#" PRIx64
					 " first %#" PRIx64, i, l.mm, l.mmap_base, l.legacy_base, l.stack_top, l.start_brk,
					 l.first_mmap);
		}
		struct layout other = aslr_exec(&pin[i].c, 2, 2, pin[i].legacy);
		assert_int_not_equal(other.mmap_base, pin[i].want.mmap_base);
		assert_int_not_equal(other.stack_top, pin[i].want.stack_top);
		assert_int_not_equal(other.start_brk, pin[i].want.start_brk);
	}
}

/*
 * Every randomized value within the kernel's range and alignment, over 120
 * seeds, on each geometry; the values spread over most of the range (the
 * right number of random bits); randomize_va_space=1 leaves the heap at the
 * image's end, 0 gives the unrandomized layout whatever the seed.
 */
static void test_addrspace__aslr_ranges_per_arch(void **s)
{
	(void)s;
	static const struct {
		struct aslr_case c;
		unsigned int rnd_bits;
		uint64_t stack_rnd_mask;
	} c[] = {
		{ { PTSIM_ARCH_X86_64, 4096, 0, 4 }, 28, 0x3fffff },
		{ { PTSIM_ARCH_X86_64, 4096, 0, 5 }, 28, 0x3fffff },   /* the 47-bit window */
		{ { PTSIM_ARCH_ARM64, 4096, 48, 0 }, 18, 0x3ffff },
		{ { PTSIM_ARCH_ARM64, 4096, 39, 0 }, 18, 0x3ffff },
		{ { PTSIM_ARCH_ARM64, 16384, 47, 0 }, 16, 0xffff },
		{ { PTSIM_ARCH_ARM64, 65536, 48, 0 }, 14, 0x3fff },
		{ { PTSIM_ARCH_ARM64, 4096, 52, 0 }, 18, 0x3ffff },    /* the 48-bit window */
	};
	for (unsigned int i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const uint64_t page = c[i].c.granule;
		struct layout none = aslr_exec(&c[i].c, 1, 0, false);
		const uint64_t window = none.stack_top;   /* unrandomized: STACK_TOP = the window */
		const uint64_t gap_rnd = (c[i].stack_rnd_mask * page);
		/* mmap_base() with the stack's random range in the gap (8 MiB + 256 pages + range, at least 128 MiB). */
		uint64_t gap = (8ull << 20) + 256 * page + gap_rnd;
		if (gap < (128ull << 20))
			gap = 128ull << 20;
		const uint64_t base0 = window - gap, rnd_max = ((1ull << c[i].rnd_bits) - 1) * page;
		const uint64_t brk0 = IMAGE_END + page, brk_max = (1ull << 30) - page;
		uint64_t lo[4] = { UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX }, hi[4] = { 0 };

		assert_int_equal(none.mmap_base, (window - ((8ull << 20) + 256 * page < (128ull << 20) ?
								 128ull << 20 : (8ull << 20) + 256 * page)));
		for (unsigned long long seed = 1; seed <= 120; seed++) {
			struct layout l = aslr_exec(&c[i].c, seed, 2, false);
			struct layout g = aslr_exec(&c[i].c, seed, 2, true);
			struct layout one = aslr_exec(&c[i].c, seed, 1, false);
			uint64_t v[4] = { base0 - l.mmap_base, window - l.stack_top, l.start_brk - brk0,
					  g.mmap_base - none.legacy_base };

			in_range("mmap_base", i, seed, l.mmap_base, base0 - rnd_max, base0, page);
			in_range("stack top", i, seed, l.stack_top, window - gap_rnd - page, window, page);
			in_range("start_brk", i, seed, l.start_brk, brk0, brk0 + brk_max, page);
			in_range("legacy mmap_base", i, seed, g.mmap_base, none.legacy_base, none.legacy_base + rnd_max,
				 page);
			assert_false(g.topdown);
			assert_int_equal(l.first_mmap, l.mmap_base - page);
			assert_int_equal(g.first_mmap, g.mmap_base);
			/* 1: mmap and stack as with 2 (the same draws), the heap right after the image. */
			assert_int_equal(one.mmap_base, l.mmap_base);
			assert_int_equal(one.stack_top, l.stack_top);
			assert_int_equal(one.start_brk, IMAGE_END);
			if (seed <= 3) {
				struct layout zero = aslr_exec(&c[i].c, seed, 0, false);
				assert_true(layout_equal(&zero, &none));
			}
			for (int k = 0; k < 4; k++) {
				lo[k] = v[k] < lo[k] ? v[k] : lo[k];
				hi[k] = v[k] > hi[k] ? v[k] : hi[k];
			}
		}
		/* 120 draws cover more than 90% of each range. */
		const uint64_t span[4] = { rnd_max, gap_rnd, brk_max, rnd_max };
		for (int k = 0; k < 4; k++)
			if (hi[k] - lo[k] < span[k] / 10 * 9)
				fail_msg("case %u value %d: 120 seeds spread over [%#" PRIx64 ", %#" PRIx64 "] of %#" PRIx64, i,
					 k, lo[k], hi[k], span[k]);
	}
}

/*
 * vm.mmap_rnd_bits: the arch's maximum (x86-64 32, arm64 4K/48-bit 33) widens
 * the range of mmap_base and the legacy base, the stack and heap draws stay;
 * outside ARCH_MMAP_RND_BITS_MIN .. _MAX of the geometry the machine is
 * refused (arm64 64K pages with 42-bit VAs: 14 .. 27).
 */
static void test_addrspace__aslr_mmap_rnd_bits(void **s)
{
	(void)s;
	static const struct {
		struct aslr_case c;
		const char *set;
		unsigned int bits;
		uint64_t base0;      /* PAGE_ALIGN(window - gap) */
		uint64_t unmapped;   /* TASK_UNMAPPED_BASE */
	} c[] = {
		{ { PTSIM_ARCH_X86_64, 4096, 0, 4 }, "mmap_rnd_bits=32", 32, 0x7ffbff700000, 0x2aaaaaaab000 },
		{ { PTSIM_ARCH_ARM64, 4096, 48, 0 }, "mmap_rnd_bits=33", 33, 0xffffbf701000, 0x400000000000 },
	};
	for (unsigned int i = 0; i < 2; i++) {
		uint64_t hi = 0;
		for (unsigned long long seed = 1; seed <= 40; seed++) {
			struct layout def = aslr_exec(&c[i].c, seed, 2, false);
			struct layout l = aslr_exec_set(&c[i].c, seed, 2, false, c[i].set);
			struct layout g = aslr_exec_set(&c[i].c, seed, 2, true, c[i].set);
			uint64_t max = ((1ull << c[i].bits) - 1) * 4096;

			in_range("mmap_base", i, seed, l.mmap_base, c[i].base0 - max, c[i].base0, 4096);
			assert_int_equal(g.mmap_base - c[i].unmapped, c[i].base0 - l.mmap_base);   /* the same draw */
			assert_int_equal(l.stack_top, def.stack_top);
			assert_int_equal(l.start_brk, def.start_brk);
			hi = c[i].base0 - l.mmap_base > hi ? c[i].base0 - l.mmap_base : hi;
		}
		/* One draw in 40 above the default's range: all below it has the chance 2^-40 per bit. */
		if (hi < (1ull << (c[i].bits - 1)) * 4096)
			fail_msg("case %u: the highest offset %#" PRIx64 " uses no more bits than the default", i, hi);
	}
	static const struct aslr_case arm64_64k_42 = { PTSIM_ARCH_ARM64, 65536, 42, 0 };
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];
	ptsim_config_init(&cfg);
	cfg.arch = arm64_64k_42.arch;
	cfg.granule = arm64_64k_42.granule;
	cfg.va_bits = arm64_64k_42.va_bits;
	cfg.set = (const char *const[]){ "mmap_rnd_bits=28", NULL };
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_null(m);
	assert_string_equal(err, "variant mmap_rnd_bits: 28 is not in [14, 27] for this arch and geometry");
	cfg.set = (const char *const[]){ "mmap_rnd_bits=27", "randomize_va_space=2", NULL };
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	t_destroy(m);
}

/*
 * What an mm's layout depends on: the seed and the mm's number only.  Other
 * events before the exec (mmaps, faults, another process running) leave it
 * alone as long as the exec'd program is the same mm number; a forked child
 * keeps its parent's layout (dup_mm copies it); a second exec draws anew.
 */
static void test_addrspace__aslr_depends_on_seed_and_mm_only(void **s)
{
	(void)s;
	static const struct aslr_case x86 = { PTSIM_ARCH_X86_64, 4096, 0, 4 };
	struct layout quiet = aslr_exec(&x86, 7, 2, false);
	struct ptsim_machine *m = aslr_machine(&x86, 7, 2, false);
	struct ptsim_mmap_args a = { .len = 64 * KiB, .prot = RW };
	uint64_t addr = 0;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap_addr(m, &addr, 1, &a));
	T_OK(m, ptsim_touch(m, 1, addr, a.len, 0, true));
	T_OK(m, ptsim_run_other(m, 1));
	struct ptsim_exec_segment seg = { .addr = 0x400000, .len = IMAGE_END - 0x400000, .prot = RW };
	struct ptsim_exec_args e = { .segments = &seg, .nr_segments = 1 };
	T_OK(m, ptsim_exec(m, 1, &e));
	struct layout busy = layout_of(m, 1);
	quiet.first_mmap = busy.first_mmap;   /* the earlier mapping is gone with the old mm: same address anyway */
	assert_true(layout_equal(&busy, &quiet));

	T_OK(m, ptsim_fork(m, 1, 2, 1));
	struct layout child = layout_of(m, 2);
	assert_int_equal(child.mm, 3);
	assert_int_equal(child.mmap_base, busy.mmap_base);
	assert_int_equal(child.start_brk, busy.start_brk);
	assert_int_equal(child.first_mmap, busy.first_mmap - PAGE_SIZE(m));   /* below the parent's page, copied */

	T_OK(m, ptsim_exec(m, 2, &e));
	struct layout again = layout_of(m, 2);
	assert_int_equal(again.mm, 4);
	assert_int_not_equal(again.mmap_base, busy.mmap_base);
	assert_int_not_equal(again.stack_top, busy.stack_top);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * run {other}: W3 "sleeplong" (bench: the oracle's w3_shootdown with peer
 * sleeplong): thread B sleeps on CPU 1, and before A's 31 munmaps CPU 1 runs
 * another process.  Its switch_mm_irqs_off() leaves our mm (x86 keeps CPU 1's
 * bit in our mm_cpumask), so only a flush that frees page tables (512 pages:
 * freed_tables IPIs every CPU in the mask) reaches CPU 1, once: CPU 1 finds
 * another mm loaded and clears its bit; none after that.  With B merely asleep
 * (lazy, W3 "sleep") the same munmaps send 2 IPIs.  1-page munmaps send none.
 */
static uint64_t sleeplong_ipis(unsigned int npages, bool other, uint64_t *wrong_cpu, uint64_t *lazy)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x7f0000000000, .len = 64 * MiB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	T_OK(m, ptsim_touch(m, 2, a.addr, a.len, 0, false));
	T_OK(m, ptsim_sleep(m, 2));
	if (other)
		T_OK(m, ptsim_run_other(m, 1));
	T_OK(m, ptsim_mark(m, "before"));
	for (unsigned int i = 0; i < 31; i++)
		T_OK(m, ptsim_munmap(m, 1, a.addr + i * 2 * MiB, npages * 4 * KiB));
	T_OK(m, ptsim_mark(m, "after"));
	uint64_t ipis = t_delta(m, "before", "after", "ipi.calls.tlb_flush");
	assert_int_equal(t_delta(m, "before", "after", "cpu.1.ipi_received.tlb_flush"), ipis);
	*wrong_cpu = t_delta(m, "before", "after", "tlb.remote.wrong_cpu");
	*lazy = t_delta(m, "before", "after", "tlb.remote.lazy_to_init_mm");
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
	return ipis;
}

/*
 * schedule_begin/schedule_end: a flush that reaches a CPU inside __schedule()
 * (IRQs off) runs after its switch, in the context switched to.  Thread B
 * runs on CPU 1; A (CPU 0) unmaps one page while CPU 1 switches to another
 * process: the IPI is sent (B's mm was loaded, or LOADED_MM_SWITCHING), taken
 * after the switch as "wrong CPU", and CPU 1 leaves the mm's CPU mask, so A's
 * next munmap starts no remote flush.  Without the window the flush reaches
 * B first and CPU 1 stays in the mask (the next munmap starts a remote flush
 * and sends no IPI).  @lazy: B goes to sleep instead (the CPU keeps the mm
 * lazily: the late flush switches it to init_mm).  @stale: CPU 1 already ran
 * another process before the window (only LOADED_MM_SWITCHING sends the IPI).
 */
static void switch_window(bool window, bool lazy, bool stale, uint64_t *ipis, uint64_t *wrong_cpu,
			  uint64_t *to_init_mm, uint64_t *started_after)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x7f0000000000, .len = 64 * KiB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	T_OK(m, ptsim_touch(m, 2, a.addr, a.len, 0, false));
	if (stale)
		T_OK(m, ptsim_run_other(m, 1));
	T_OK(m, ptsim_mark(m, "before"));
	if (window)
		T_OK(m, ptsim_schedule_begin(m, 1));
	T_OK(m, ptsim_munmap(m, 1, a.addr, 4 * KiB));
	if (window)   /* the sender waits for CPU 1: it can do nothing else */
		assert_int_equal(ptsim_munmap(m, 1, a.addr + 4 * KiB, 4 * KiB), PTSIM_ECPUBUSY);
	if (lazy)
		T_OK(m, ptsim_sleep(m, 2));
	else
		T_OK(m, ptsim_run_other(m, 1));
	if (window) {
		assert_int_equal(t_stat(m, "ipi.delayed_by_irqs_off"), 1);
		T_OK(m, ptsim_schedule_end(m, 1));
	}
	T_OK(m, ptsim_mark(m, "mid"));
	T_OK(m, ptsim_munmap(m, 1, a.addr + 4 * KiB, 4 * KiB));
	T_OK(m, ptsim_mark(m, "after"));
	*ipis = t_delta(m, "before", "after", "cpu.1.ipi_received.tlb_flush");
	*wrong_cpu = t_delta(m, "before", "after", "tlb.remote.wrong_cpu");
	*to_init_mm = t_delta(m, "before", "after", "tlb.remote.lazy_to_init_mm");
	*started_after = t_delta(m, "mid", "after", "tlb.nr_tlb_remote_flush");
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

static void test_addrspace__flush_meets_a_switching_cpu(void **s)
{
	(void)s;
	uint64_t ipis, wrong, init_mm, started;

	switch_window(true, false, false, &ipis, &wrong, &init_mm, &started);
	assert_int_equal(ipis, 1);
	assert_int_equal(wrong, 1);
	assert_int_equal(started, 0);   /* CPU 1 left the mask */
	switch_window(false, false, false, &ipis, &wrong, &init_mm, &started);
	assert_int_equal(ipis, 1);
	assert_int_equal(wrong, 0);
	assert_int_equal(started, 1);   /* still in the mask, no IPI */
	switch_window(true, true, false, &ipis, &wrong, &init_mm, &started);
	assert_int_equal(ipis, 1);
	assert_int_equal(init_mm, 1);
	switch_window(true, false, true, &ipis, &wrong, &init_mm, &started);
	assert_int_equal(ipis, 1);      /* LOADED_MM_SWITCHING */
	assert_int_equal(wrong, 1);
	assert_int_equal(started, 0);
	switch_window(false, false, true, &ipis, &wrong, &init_mm, &started);
	assert_int_equal(ipis, 0);
	assert_int_equal(started, 1);
}

/* Inside the window a CPU can only switch; schedule_end without schedule_begin is refused. */
static void test_addrspace__schedule_window_rules(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x7f0000000000, .len = 64 * KiB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	assert_int_equal(ptsim_schedule_end(m, 1), PTSIM_ETASKSTATE);
	T_OK(m, ptsim_schedule_begin(m, 1));
	assert_int_equal(ptsim_schedule_begin(m, 1), PTSIM_ECPUBUSY);
	assert_int_equal(ptsim_touch(m, 2, a.addr, 4096, 0, true), PTSIM_ECPUBUSY);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "inside the scheduler"));
	assert_int_equal(ptsim_gup_fast_end(m, 1), PTSIM_ETASKSTATE);
	T_OK(m, ptsim_run(m, 1, 1));   /* task 1 moves from CPU 0 to the switching CPU 1 */
	T_OK(m, ptsim_schedule_end(m, 1));
	T_OK(m, ptsim_touch(m, 1, a.addr, 4096, 0, true));
	t_destroy(m);
}

static void test_addrspace__run_other_changes_flush_targets(void **s)
{
	(void)s;
	uint64_t wrong_cpu, lazy;

	assert_int_equal(sleeplong_ipis(512, true, &wrong_cpu, &lazy), 1);
	assert_int_equal(wrong_cpu, 1);
	assert_int_equal(lazy, 0);
	assert_int_equal(sleeplong_ipis(512, false, &wrong_cpu, &lazy), 2);   /* W3 sleep */
	assert_int_equal(wrong_cpu, 1);
	assert_int_equal(lazy, 1);
	assert_int_equal(sleeplong_ipis(1, true, &wrong_cpu, &lazy), 0);
}

/* A trace of a spawn and then @events fails with an error that contains @msg. */
static void expect_trace_error(const char *events, const char *msg)
{
	struct ptsim_machine *m = NULL;
	char json[512], err[512];

	snprintf(json, sizeof(json), "{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}, %s]}",
		 events);
	assert_int_not_equal(t_run_json(json, &m, err, sizeof(err)), 0);
	if (!strstr(err, msg))
		fail_msg("%s: got \"%s\"", events, err);
	ptsim_machine_destroy(m);
}

/* The trace ops: mmap without addr, "fixed", and run {cpu, other}; their input errors. */
static void test_addrspace__trace_ops(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char err[512];
	const char *ok = "{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 2}, \"events\": ["
			 "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
			 "{\"op\": \"mmap\", \"task\": 1, \"len\": 8192, \"prot\": \"rw\"},"
			 "{\"op\": \"mmap\", \"task\": 1, \"addr\": 140737354125312, \"len\": 4096, \"prot\": \"r\", "
			 "\"fixed\": \"noreplace\", \"expect\": \"EEXIST\"},"
			 "{\"op\": \"mmap\", \"task\": 1, \"addr\": 140737354125312, \"len\": 4096, \"prot\": \"r\", "
			 "\"fixed\": \"replace\"},"
			 "{\"op\": \"run\", \"cpu\": 1, \"other\": true}]}";

	if (t_run_json(ok, &m, err, sizeof(err)))
		fail_msg("%s", err);
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 2);   /* 0x7ffff7ffd000 (r) and 0x7ffff7ffe000 (rw) */
	t_destroy(m);

	static const struct {
		const char *events, *msg;
	} bad[] = {
		{ "{\"op\": \"run\", \"cpu\": 1}", "missing field 'task' (or \"other\": true)" },
		{ "{\"op\": \"run\", \"cpu\": 1, \"task\": 1, \"other\": true}", "has no task" },
		{ "{\"op\": \"mmap\", \"task\": 1, \"len\": 4096, \"prot\": \"r\", \"fixed\": \"replace\"}",
		  "field 'fixed': needs an 'addr'" },
		{ "{\"op\": \"mmap\", \"task\": 1, \"addr\": 4096, \"len\": 4096, \"prot\": \"r\", \"fixed\": \"yes\"}",
		  "field 'fixed': \"yes\" is not a fixed-address mode (noreplace, replace)" },
	};
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_trace_error(bad[i].events, bad[i].msg);
}

#define TOP 0x7ffffffff000ull   /* x86-64 stack top (DEFAULT_MAP_WINDOW) */

/* exec of a program with a text and a data segment; the heap starts right above the data. */
static void exec_prog(struct ptsim_machine *m, int task)
{
	static const struct ptsim_exec_segment seg[] = {
		{ .addr = 0x400000, .len = 8 * KiB, .prot = PTSIM_PROT_READ | PTSIM_PROT_EXEC, .kind = PTSIM_MAP_FILE,
		  .file = "prog" },
		{ .addr = 0x402000, .len = 4 * KiB, .prot = RW },
	};
	struct ptsim_exec_args a = { .segments = seg, .nr_segments = 2 };

	T_OK(m, ptsim_exec(m, task, &a));
}

static uint64_t brk_to(struct ptsim_machine *m, uint64_t addr)
{
	uint64_t out = 0;

	T_OK(m, ptsim_brk(m, &out, 1, addr));
	return out;
}

/*
 * exec of a 4-thread process: the three other threads are gone, their CPUs
 * idle; the old mm is torn down (its pages and tables freed, check_mm
 * clean); the new mm has the stack (its argument page written), the two
 * segments, and the heap at the page-aligned end of the data segment.
 */
static void test_addrspace__exec_four_threads(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(4, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x100000000, .len = 4 * MiB, .prot = RW };
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	for (int t = 2; t <= 4; t++)
		T_OK(m, ptsim_thread(m, 1, t, (unsigned int)t - 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	for (int t = 1; t <= 4; t++)
		T_OK(m, ptsim_touch(m, t, a.addr, a.len, 0, true));
	exec_prog(m, 1);
	for (int t = 2; t <= 4; t++)
		assert_int_equal(ptsim_mm_info_get(m, t, &mi), PTSIM_ENOTASK);
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.users, 1);
	assert_int_equal(mi.nr_vmas, 3);
	assert_int_equal(mi.rss_anon_kb, 4);        /* the arguments' page */
	assert_int_equal(mi.pgtables[0], 1);        /* its PTE table; no other page touched yet */
	assert_int_equal(brk_to(m, 0), 0x403000);   /* brk(0) reads the break */
	T_OK(m, ptsim_touch(m, 1, 0x402000, 4 * KiB, 0, true));
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 8);
	/* The old mm's 4 MiB are gone: only the new mm's pages are left. */
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * brk grows the heap VMA and shrinks it with munmap's table freeing: 64 MiB
 * touched from 0x403000 spans 33 PTE tables (0x400000..0x4403000; the first
 * is shared with the segments); back to the start, 32 of them go and the one
 * the segments use stays (free_pgtables() floor).
 */
static void test_addrspace__brk_grow_shrink_vmpte(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	exec_prog(m, 1);
	assert_int_equal(brk_to(m, 0x403000 + 64 * MiB), 0x403000 + 64 * MiB);
	assert_int_equal(t_mm_info(m, 1).nr_vmas, 4);
	T_OK(m, ptsim_touch(m, 1, 0x403000, 64 * MiB, 0, true));
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.pgtables[0], 1 + 33);   /* the stack's + the heap's */
	assert_int_equal(mi.rss_anon_kb, 4 + 64 * 1024);
	assert_int_equal(mi.vmpte_kb, (1 + 33 + 2 + 2) * 4);   /* + a PMD and a PUD table for each end */
	/* An unaligned break: the heap ends at the next page. */
	assert_int_equal(brk_to(m, 0x403000 + 100), 0x403000 + 100);
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 4);
	assert_int_equal(mi.pgtables[0], 2);
	assert_int_equal(mi.rss_anon_kb, 8);
	assert_int_equal(brk_to(m, 0x403000), 0x403000);
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 3);
	assert_int_equal(mi.pgtables[0], 2);   /* the segments' table stays */
	assert_int_equal(mi.rss_anon_kb, 4);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/* fork: the child has the parent's heap (dup_mm() copies start_brk and brk) and grows its own. */
static void test_addrspace__fork_keeps_the_heap(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	uint64_t brk = 0;

	T_OK(m, ptsim_spawn(m, 1, 0));
	exec_prog(m, 1);
	assert_int_equal(brk_to(m, 0x403000 + 64 * KiB), 0x403000 + 64 * KiB);
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_brk(m, &brk, 2, 0x403000 + 128 * KiB));
	assert_int_equal(brk, 0x403000 + 128 * KiB);
	T_OK(m, ptsim_touch(m, 2, 0x403000 + 64 * KiB, 64 * KiB, 0, true));
	assert_int_equal(t_mm_info(m, 2).rss_anon_kb, 4 + 64);   /* the stack's top page, shared since fork, and the new heap */
	/* The parent's heap is where it was. */
	assert_int_equal(brk_to(m, 0x403000 + 64 * KiB), 0x403000 + 64 * KiB);
	t_destroy(m);
}

/*
 * vfork()/posix_spawn(): a child sharing the parent's mm in a thread group of
 * its own; its exec takes it to a new mm and leaves the parent and its
 * threads alone (a thread's exec would have ended them: de_thread()).
 */
static void test_addrspace__vfork_child_exec_spares_the_parent(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	exec_prog(m, 1);
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_clone_vm(m, 1, 3, PTSIM_CPU_NONE));
	assert_int_equal(t_mm_info(m, 1).users, 3);
	T_OK(m, ptsim_sleep(m, 1));
	T_OK(m, ptsim_run(m, 3, 0));
	exec_prog(m, 3);
	assert_int_equal(t_mm_info(m, 1).users, 2);   /* the parent and its thread */
	assert_int_equal(t_mm_info(m, 3).users, 1);
	T_OK(m, ptsim_run(m, 1, 0));   /* both still there */
	T_OK(m, ptsim_exit(m, 2));
	/* A thread's exec, by contrast, ends the other threads of its group. */
	T_OK(m, ptsim_thread(m, 1, 4, PTSIM_CPU_NONE));
	exec_prog(m, 1);
	assert_int_equal(ptsim_run(m, 4, 1), PTSIM_ENOTASK);
	for (size_t i = 0; i < ptsim_violation_count(m); i++) {
		struct ptsim_violation v;
		ptsim_violation_get(m, i, &v);
		print_message("violation: %s\n", v.message);
	}
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * The mm a vfork child shares, in exact figures: mm_users counts every task
 * of both thread groups; the child's exec takes only its own group away (its
 * thread 3 goes) and leaves the pages and tables (VmPTE 16 kB) to the
 * parent; an exec by the parent leaves its vfork child on the old mm, whose
 * last exit tears it down.  A task id reused while its thread group lives on
 * (thread 2 outliving leader 1) does not join that group.
 */
static void test_addrspace__vfork_mm_users_and_vmpte(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x100000000, .len = 4 * MiB, .prot = RW };
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));
	assert_int_equal(t_mm_info(m, 1).vmpte_kb, 16);   /* 2 PTE tables, a PMD and a PUD table */
	T_OK(m, ptsim_clone_vm(m, 1, 2, 1));
	T_OK(m, ptsim_thread(m, 2, 3, PTSIM_CPU_NONE));   /* a thread of the child's own group */
	assert_int_equal(t_mm_info(m, 1).users, 3);
	assert_int_equal(t_mm_info(m, 2).task, 1);        /* one mm, named by its lowest task */

	T_OK(m, ptsim_exec(m, 2, NULL));
	assert_int_equal(ptsim_mm_info_get(m, 3, &mi), PTSIM_ENOTASK);   /* de_thread() took it */
	mi = t_mm_info(m, 1);
	assert_int_equal(mi.users, 1);
	assert_int_equal(mi.vmpte_kb, 16);
	assert_int_equal(mi.rss_anon_kb, 4096);
	mi = t_mm_info(m, 2);
	assert_int_equal(mi.task, 2);
	assert_int_equal(mi.users, 1);
	assert_int_equal(mi.nr_vmas, 1);      /* the stack */
	assert_int_equal(mi.rss_anon_kb, 4);  /* its argument page */
	T_OK(m, ptsim_touch(m, 1, a.addr, a.len, 0, true));   /* the parent's memory is intact: no fault */
	assert_int_equal(t_stat(m, "faults.total"), 1024 + 1);

	/* The parent execs while a vfork child of its own shares its mm: the child stays. */
	T_OK(m, ptsim_clone_vm(m, 1, 4, PTSIM_CPU_NONE));
	T_OK(m, ptsim_thread(m, 1, 5, PTSIM_CPU_NONE));
	assert_int_equal(t_mm_info(m, 1).users, 3);
	T_OK(m, ptsim_exec(m, 1, NULL));
	assert_int_equal(ptsim_mm_info_get(m, 5, &mi), PTSIM_ENOTASK);
	mi = t_mm_info(m, 4);
	assert_int_equal(mi.task, 4);
	assert_int_equal(mi.users, 1);
	assert_int_equal(mi.vmpte_kb, 16);
	assert_int_equal(t_mm_info(m, 1).users, 1);
	assert_int_equal(t_stat(m, "pgtables_freed.pte"), 0);
	T_OK(m, ptsim_run(m, 4, 1));   /* on task 2's CPU: task 2 stops running there */
	T_OK(m, ptsim_exit(m, 4));     /* the old mm's last user: exit_mmap() */
	assert_int_equal(t_stat(m, "pgtables_freed.pte"), 2);

	/* Leader 2 exits, its thread 6 lives on; a new task 2 made by 6 with clone_vm is not of 6's group. */
	T_OK(m, ptsim_run(m, 2, 1));
	T_OK(m, ptsim_thread(m, 2, 6, PTSIM_CPU_NONE));
	T_OK(m, ptsim_exit(m, 2));
	T_OK(m, ptsim_run(m, 6, 1));
	T_OK(m, ptsim_clone_vm(m, 6, 2, PTSIM_CPU_NONE));
	T_OK(m, ptsim_sleep(m, 6));
	T_OK(m, ptsim_run(m, 2, 1));
	T_OK(m, ptsim_exec(m, 2, NULL));
	assert_int_equal(t_mm_info(m, 6).users, 1);   /* 6 survived the exec */
	assert_int_equal(t_stat(m, "check_mm.errors"), 0);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * exec's stack move (setup_arg_pages() -> relocate_vma_down()).  Measured on
 * 6.18.44 x86-64 (tlb:tlb_flush of an exec'ing static program,
 * randomize_va_space 2): after the switch's flush, "pages:N local MM
 * shootdown" for the N moved pages of arguments (move_ptes()), then
 * "pages:-1 local MM shootdown" for the old place's freed PTE and PMD
 * tables (tlb_finish_mmu(): a 1 GiB range, above the 33-page ceiling); under
 * ADDR_NO_RANDOMIZE no move and neither flush.
 */
struct moved_exec {
	enum ptsim_arch arch;
	unsigned int levels;
	uint64_t shift;       /* STACK_TOP_MAX - the stack's top; 0: the default top */
	uint64_t arg_pages;   /* 0: the trace does not say the stack moved */
	/* What the exec must count (x86: the local flushes; arm64: the TLBIs), and the tables it frees. */
	uint64_t partial, pages, full;
	uint64_t vae1is, aside1is, dsb;
	uint64_t freed[4];    /* pte, pmd, pud, p4d */
};

static void exec_with_args(const struct moved_exec *c)
{
	static const char *const freed[4] = { "pgtables_freed.pte", "pgtables_freed.pmd", "pgtables_freed.pud",
					      "pgtables_freed.p4d" };
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	ptsim_config_init(&cfg);
	cfg.arch = c->arch;
	cfg.paging_levels = c->levels;
	cfg.cpus = 2;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("ptsim_machine_create: %s", err);
	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_mark(m, "before"));
	uint64_t top_max = c->arch == PTSIM_ARCH_ARM64 ? 1ull << 48 : (1ull << (c->levels == 5 ? 56 : 47)) - 4096;
	uint64_t nr = c->arg_pages ? c->arg_pages : 1;
	struct ptsim_exec_args a = { .arg_pages = c->arg_pages };
	if (c->shift) {
		a.stack_len = 128 * KiB + nr * 4096;
		a.stack_addr = top_max - c->shift - a.stack_len;
	}
	T_OK(m, ptsim_exec(m, 1, &a));
	T_OK(m, ptsim_mark(m, "after"));
	assert_int_equal(ptsim_violation_count(m), 0);
	const struct { const char *counter; uint64_t want; } x86[] = {
		{ "tlb.local.partial", c->partial }, { "tlb.nr_tlb_local_flush_one", c->pages },
		{ "tlb.local.full", c->full }, { "tlb.nr_tlb_local_flush_all", c->full },
		{ "tlb.nr_tlb_remote_flush", 0 }, { "tlb.switch_flush", 1 },
	}, arm64[] = {
		{ "tlbi.vae1is", c->vae1is }, { "tlbi.vale1is", 0 }, { "tlbi.aside1is", c->aside1is },
		{ "tlbi.dsb_ish", c->dsb }, { "ipi.calls.tlb_flush", 0 },
	};
	bool on_x86 = c->arch == PTSIM_ARCH_X86_64;
	for (size_t i = 0; i < (on_x86 ? sizeof(x86) / sizeof(x86[0]) : sizeof(arm64) / sizeof(arm64[0])); i++) {
		const char *counter = on_x86 ? x86[i].counter : arm64[i].counter;
		uint64_t want = on_x86 ? x86[i].want : arm64[i].want, got = t_delta(m, "before", "after", counter);
		if (got != want)
			fail_msg("levels %u shift %#" PRIx64 " arg_pages %" PRIu64 ": %s %" PRIu64 ", want %" PRIu64,
				 c->levels, c->shift, c->arg_pages, counter, got, want);
	}
	for (int l = 0; l < 4; l++)
		if (t_delta(m, "before", "after", freed[l]) != c->freed[l])
			fail_msg("shift %#" PRIx64 ": %s %" PRIu64 ", want %" PRIu64, c->shift, freed[l],
				 t_delta(m, "before", "after", freed[l]), c->freed[l]);
	/* The arguments are at the stack's top now: touching them faults nothing. */
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 1);
	assert_int_equal(mi.rss_anon_kb, 4 * nr);
	uint64_t faults = t_stat(m, "faults.total");
	uint64_t top = c->shift ? top_max - c->shift : c->levels == 5 ? (1ull << 47) - 4096 : top_max;
	T_OK(m, ptsim_touch(m, 1, top - nr * 4096, nr * 4096, 0, true));
	assert_int_equal(t_stat(m, "faults.total"), faults);
	t_destroy(m);
}

/* A recording's shift: 1.8 GiB, another PMD table (1 GiB) than STACK_TOP_MAX's. */
#define RECORDED_SHIFT 0x7508c000ull

static void test_addrspace__exec_stack_move_x86(void **s)
{
	(void)s;
	static const struct moved_exec cases[] = {
		/* 1 and 3 pages moved: their ranged flush, then a full one for the freed PTE + PMD tables. */
		{ PTSIM_ARCH_X86_64, 4, RECORDED_SHIFT, 1, 1, 1, 1, 0, 0, 0, { 1, 1, 0, 0 } },
		{ PTSIM_ARCH_X86_64, 4, RECORDED_SHIFT, 3, 1, 3, 1, 0, 0, 0, { 1, 1, 0, 0 } },
		/*
		 * Into the top GiB: only the PTE table goes, the gather's flush is ranged: one entry at the
		 * PMD stride, counted as (end - start) >> PMD_SHIFT = 0 pages (make's recorded execs 3, 5, 9).
		 */
		{ PTSIM_ARCH_X86_64, 4, 0x38000000, 1, 2, 1, 0, 0, 0, 0, { 1, 0, 0, 0 } },
		/* One page down, three moved: one PTE table holds both places, nothing is freed. */
		{ PTSIM_ARCH_X86_64, 4, 4096, 3, 1, 3, 0, 0, 0, 0, { 0, 0, 0, 0 } },
		/* No randomization, 4-level: the stack's top is STACK_TOP_MAX, nothing moves (as measured). */
		{ PTSIM_ARCH_X86_64, 4, 0, 2, 0, 0, 0, 0, 0, 0, { 0, 0, 0, 0 } },
		/* The trace does not say the stack moved: built in place. */
		{ PTSIM_ARCH_X86_64, 4, RECORDED_SHIFT, 0, 0, 0, 0, 0, 0, 0, { 0, 0, 0, 0 } },
		/* 5-level paging: STACK_TOP_MAX is 2^56 - 4 KiB, the default top the 47-bit window's: always a
		 * move, and the old place's tables up to its P4D table go. */
		{ PTSIM_ARCH_X86_64, 5, 0, 1, 1, 1, 1, 0, 0, 0, { 1, 1, 1, 1 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		exec_with_args(&cases[i]);
}

/*
 * arm64: flush_tlb_range() of the moved pages is one TLBI VAE1IS per page
 * (not leaf-only) and a DSB; the freed tables' range (1 GiB at a 2 MiB
 * stride: 512 operations, MAX_DVM_OPS) becomes flush_tlb_mm(): TLBI ASIDE1IS
 * and a DSB.  No IPI: arm64 broadcasts.
 */
static void test_addrspace__exec_stack_move_arm64(void **s)
{
	(void)s;
	static const struct moved_exec cases[] = {
		{ PTSIM_ARCH_ARM64, 4, RECORDED_SHIFT, 1, 0, 0, 0, 1, 1, 2, { 1, 1, 0, 0 } },
		{ PTSIM_ARCH_ARM64, 4, RECORDED_SHIFT, 3, 0, 0, 0, 3, 1, 2, { 1, 1, 0, 0 } },
		{ PTSIM_ARCH_ARM64, 4, RECORDED_SHIFT, 0, 0, 0, 0, 0, 0, 0, { 0, 0, 0, 0 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		exec_with_args(&cases[i]);
}

/* The kernel's refusals: brk returns the old break. */
static void test_addrspace__brk_refusals(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = 0x403000 + MiB, .len = 4 * KiB, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_int_equal(ptsim_brk(m, NULL, 1, 0x500000), -EINVAL);   /* no heap without exec */
	exec_prog(m, 1);
	T_OK(m, ptsim_mmap(m, 1, &a));
	assert_int_equal(brk_to(m, 0x402000), 0x403000);                      /* below start_brk */
	assert_int_equal(brk_to(m, 0x403000 + MiB), 0x403000);                /* onto the next mapping */
	assert_int_equal(brk_to(m, 0x403000 + MiB - 1), 0x403000);            /* no page left below it */
	assert_int_equal(brk_to(m, 0x403000 + MiB - 4 * KiB), 0x403000 + MiB - 4 * KiB);
	T_OK(m, ptsim_munmap(m, 1, 0x403000, 4 * KiB));                       /* a hole in the heap */
	assert_int_equal(brk_to(m, 0x403000 + 8 * KiB), 0x403000 + 8 * KiB);  /* shrinking is always allowed */
	t_destroy(m);
}

/*
 * The stack grows on faults below it, within RLIMIT_STACK (8 MiB) and not
 * within the stack guard gap (256 pages = 1 MiB) above another mapping.
 */
static void test_addrspace__stack_grows_until_the_guard_gap(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args below = { .addr = TOP - 5 * MiB, .len = MiB, .prot = RW, .fixed = PTSIM_MAP_NOREPLACE };

	T_OK(m, ptsim_spawn(m, 1, 0));
	exec_prog(m, 1);
	uint64_t segv = t_stat(m, "faults.sigsegv");
	T_OK(m, ptsim_touch(m, 1, TOP - 132 * KiB - 4 * KiB, 4 * KiB, 0, true));   /* one page below: grows */
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv);
	T_OK(m, ptsim_touch(m, 1, TOP - 2 * MiB, 4 * KiB, 0, true));               /* far below: grows */
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv);
	assert_int_equal(t_mm_info(m, 1).nr_vmas, 3);
	T_OK(m, ptsim_mmap(m, 1, &below));   /* ends at TOP - 4 MiB */
	T_OK(m, ptsim_touch(m, 1, TOP - 3 * MiB, 4 * KiB, 0, true));   /* exactly the gap above it: allowed */
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv);
	T_OK(m, ptsim_touch(m, 1, TOP - 3 * MiB - 4 * KiB, 4 * KiB, 0, true));   /* into the gap: SIGSEGV */
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv + 1);
	T_OK(m, ptsim_munmap(m, 1, below.addr, below.len));
	T_OK(m, ptsim_touch(m, 1, TOP - 8 * MiB, 4 * KiB, 0, true));             /* 8 MiB in all: allowed */
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv + 1);
	T_OK(m, ptsim_touch(m, 1, TOP - 8 * MiB - 4 * KiB, 4 * KiB, 0, true));   /* beyond the rlimit */
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv + 2);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 4 * 5);
	/* A hint inside the stack's guard gap is not taken. */
	struct ptsim_mmap_args hint = { .addr = TOP - 8 * MiB - 512 * KiB, .len = 4 * KiB, .prot = RW,
					.fixed = PTSIM_MAP_HINT };
	uint64_t addr = 0;
	T_OK(m, ptsim_mmap_addr(m, &addr, 1, &hint));
	assert_int_not_equal(addr, hint.addr);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/* The trace ops exec and brk: segments, the heap, relative breaks; their input errors. */
static void test_addrspace__trace_exec_brk(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char err[512];
	const char *ok =
		"{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 2}, \"events\": ["
		"{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
		"{\"op\": \"thread\", \"task\": 1, \"thread\": 2, \"cpu\": 1},"
		"{\"op\": \"exec\", \"task\": 1, \"segments\": ["
		"{\"addr\": \"0x400000\", \"len\": \"8K\", \"prot\": \"rx\", \"file\": \"prog\"},"
		"{\"addr\": \"0x402000\", \"len\": \"4K\", \"prot\": \"rw\", \"kind\": \"anon\"}],"
		"\"stack\": {\"addr\": \"0x7ffffffde000\", \"len\": \"132K\"}},"
		"{\"op\": \"brk\", \"task\": 1, \"addr\": \"+1M\"},"
		"{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x403000\", \"len\": \"1M\", \"write\": true},"
		"{\"op\": \"brk\", \"task\": 1, \"addr\": \"-512K\"},"
		"{\"op\": \"exec\", \"task\": 1, \"brk\": \"0x10000000\"},"
		"{\"op\": \"brk\", \"task\": 1, \"addr\": \"0x10002000\"}]}";

	if (t_run_json(ok, &m, err, sizeof(err)))
		fail_msg("%s", err);
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 2);   /* the stack and the heap */
	assert_int_equal(mi.rss_anon_kb, 4);
	assert_int_equal(ptsim_mm_info_get(m, 2, &mi), PTSIM_ENOTASK);
	t_destroy(m);

	static const struct {
		const char *events, *msg;
	} bad[] = {
		{ "{\"op\": \"exec\", \"task\": 1, \"segments\": [{\"addr\": 4096, \"len\": 4096}]}",
		  "field 'segments[0]': missing 'prot'" },
		{ "{\"op\": \"exec\", \"task\": 1, \"segments\": [{\"addr\": 4096, \"len\": 4096, \"prot\": \"r\", "
		  "\"kind\": \"shmem\"}]}",
		  "segments[0].kind" },
		{ "{\"op\": \"exec\", \"task\": 1, \"segments\": [{\"addr\": 4097, \"len\": 4096, \"prot\": \"r\"}]}",
		  "segments[0]" },
		{ "{\"op\": \"exec\", \"task\": 1, \"stack\": {\"addr\": 4096}}", "field 'stack'" },
		{ "{\"op\": \"brk\", \"task\": 1, \"addr\": \"+x\"}", "field 'addr': \"+x\" is not a break" },
		{ "{\"op\": \"brk\", \"task\": 1, \"addr\": \"+0xfffffffffffff000\"}",
		  "field 'addr': change \"+0xfffffffffffff000\" is out of range (at most 2^63 - 1)" },
		{ "{\"op\": \"brk\", \"task\": 1, \"addr\": \"-0x8000000000000000\"}", "field 'addr': change" },
		{ "{\"op\": \"brk\", \"task\": 1, \"addr\": 4096}", "has no heap" },
	};
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_trace_error(bad[i].events, bad[i].msg);
}

/* A two-thread process, thread 2 running on CPU 1 (so flushes of the mm are IPIs), with [addr, +len) touched. */
static struct ptsim_machine *mremap_proc(uint64_t addr, uint64_t len)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = RW };

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_thread(m, 1, 2, 1));
	T_OK(m, ptsim_mmap(m, 1, &a));
	T_OK(m, ptsim_touch(m, 1, addr, len, 0, true));
	T_OK(m, ptsim_touch(m, 2, addr, len, 0, false));
	T_OK(m, ptsim_mark(m, "before"));
	return m;
}

static uint64_t ipis_since_before(struct ptsim_machine *m)
{
	T_OK(m, ptsim_mark(m, "after"));
	return t_delta(m, "before", "after", "ipi.calls.tlb_flush");
}

/* mremap grows in place when the range ends its VMA and the gap above is free: no page moves, no flush. */
static void test_addrspace__mremap_grow_in_place(void **s)
{
	(void)s;
	struct ptsim_machine *m = mremap_proc(0x100000000, 64 * KiB);
	uint64_t addr = 0;

	T_OK(m, ptsim_mremap_flags(m, &addr, 1, 0x100000000, 64 * KiB, 128 * KiB, 0, 0));
	assert_int_equal(addr, 0x100000000);
	assert_int_equal(ipis_since_before(m), 0);
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 1);
	uint64_t segv = t_stat(m, "faults.sigsegv");
	T_OK(m, ptsim_touch(m, 1, 0x100000000 + 64 * KiB, 64 * KiB, 0, true));
	assert_int_equal(t_stat(m, "faults.sigsegv"), segv);
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 128);
	/* Without MAYMOVE and no room: ENOMEM; shrinking always works (the tail unmapped). */
	struct ptsim_mmap_args b = { .addr = 0x100000000 + 128 * KiB, .len = 4 * KiB, .prot = PTSIM_PROT_READ };
	T_OK(m, ptsim_mmap(m, 1, &b));
	assert_int_equal(ptsim_mremap_flags(m, &addr, 1, 0x100000000, 128 * KiB, 256 * KiB, 0, 0), -ENOMEM);
	T_OK(m, ptsim_mremap_flags(m, &addr, 1, 0x100000000, 128 * KiB, 32 * KiB, 0, 0));
	assert_int_equal(t_mm_info(m, 1).rss_anon_kb, 32);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * No room above: MREMAP_MAYMOVE moves the range to where the allocator puts
 * new_len (top-down below mmap_base); the 16 pages move PTE by PTE in one
 * extent: one flush_tlb_range(), i.e. one IPI to CPU 1 (x86 passes
 * freed_tables: the lazy-or-not test is skipped); the emptied source and its
 * table (still used by the VMA above) need no flush.
 */
static void test_addrspace__mremap_grow_with_move(void **s)
{
	(void)s;
	struct ptsim_machine *m = mremap_proc(0x100000000, 64 * KiB);
	struct ptsim_mmap_args b = { .addr = 0x100000000 + 64 * KiB, .len = 4 * KiB, .prot = PTSIM_PROT_READ };
	uint64_t addr = 0;

	T_OK(m, ptsim_mmap(m, 1, &b));
	T_OK(m, ptsim_mark(m, "before"));
	T_OK(m, ptsim_mremap_flags(m, &addr, 1, 0x100000000, 64 * KiB, 128 * KiB, PTSIM_MREMAP_MAYMOVE, 0));
	assert_int_equal(addr, 0x7ffff7fff000 - 128 * KiB);
	assert_int_equal(ipis_since_before(m), 1);
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 2);
	assert_int_equal(mi.rss_anon_kb, 64);
	uint64_t faults = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, addr, 64 * KiB, 0, false));   /* the moved pages: no new fault */
	assert_int_equal(t_stat(m, "faults.total"), faults);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/*
 * A PMD-aligned 4 MiB move (MAYMOVE|FIXED) inside one 1 GiB region: both PTE
 * tables move whole (move_normal_pmd()), one flush_tlb_range() of PMD_SIZE
 * each: 2 IPIs; the source is then empty and its PMD table still spans the
 * destination, so munmap frees nothing and flushes nothing.  DONTUNMAP: the
 * same move, and the source VMA stays (empty: its next touch faults).
 */
static void test_addrspace__mremap_pmd_aligned_move(void **s)
{
	(void)s;
	const uint64_t A = 0x40000000, B = 0x50000000;
	struct ptsim_machine *m = mremap_proc(A, 4 * MiB);
	uint64_t addr = 0;

	uint64_t ptes = t_mm_info(m, 1).pgtables[0];
	T_OK(m, ptsim_mremap_flags(m, &addr, 1, A, 4 * MiB, 4 * MiB, PTSIM_MREMAP_MAYMOVE | PTSIM_MREMAP_FIXED, B));
	assert_int_equal(addr, B);
	assert_int_equal(ipis_since_before(m), 2);
	assert_int_equal(t_mm_info(m, 1).pgtables[0], ptes);   /* moved, not copied or freed */
	assert_int_equal(t_mm_info(m, 1).nr_vmas, 1);
	T_OK(m, ptsim_mark(m, "before"));
	T_OK(m, ptsim_mremap_flags(m, &addr, 1, B, 4 * MiB, 4 * MiB, PTSIM_MREMAP_MAYMOVE | PTSIM_MREMAP_FIXED |
				   PTSIM_MREMAP_DONTUNMAP, A));
	assert_int_equal(ipis_since_before(m), 2);
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 2);
	assert_int_equal(mi.rss_anon_kb, 4 * 1024);
	uint64_t faults = t_stat(m, "faults.total");
	T_OK(m, ptsim_touch(m, 1, B, 4 * KiB, 0, false));   /* the kept source is empty */
	assert_int_equal(t_stat(m, "faults.total"), faults + 1);
	/* The kernel's EINVAL for bad flag combinations. */
	assert_int_equal(ptsim_mremap_flags(m, &addr, 1, A, 4 * MiB, 4 * MiB, PTSIM_MREMAP_FIXED, B), -EINVAL);
	assert_int_equal(ptsim_mremap_flags(m, &addr, 1, A, 4 * MiB, 8 * MiB,
					    PTSIM_MREMAP_MAYMOVE | PTSIM_MREMAP_DONTUNMAP, 0), -EINVAL);
	assert_int_equal(ptsim_violation_count(m), 0);
	T_OK(m, ptsim_machine_check(m));
	t_destroy(m);
}

/* The trace form of mremap: new_len and flags; v1's form unchanged; errors. */
static void test_addrspace__trace_mremap(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	char err[512];
	const char *ok = "{\"ptsim_trace\": 1, \"events\": ["
			 "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
			 "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000\", \"len\": \"64K\", \"prot\": \"rw\"},"
			 "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000000\", \"len\": \"64K\", \"write\": true},"
			 "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x100000000\", \"len\": \"64K\", \"new_len\": \"128K\"},"
			 "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x100000000\", \"len\": \"128K\", "
			 "\"new_addr\": \"0x200000000\"},"
			 "{\"op\": \"mremap\", \"task\": 1, \"addr\": \"0x200000000\", \"len\": \"128K\", "
			 "\"new_len\": \"256K\", \"flags\": [\"maymove\", \"fixed\"], \"new_addr\": \"0x300000000\"}]}";

	if (t_run_json(ok, &m, err, sizeof(err)))
		fail_msg("%s", err);
	struct ptsim_mm_info mi = t_mm_info(m, 1);
	assert_int_equal(mi.nr_vmas, 1);
	assert_int_equal(mi.rss_anon_kb, 64);
	t_destroy(m);
	expect_trace_error("{\"op\": \"mremap\", \"task\": 1, \"addr\": 4096, \"len\": 4096}", "missing field 'new_addr'");
	expect_trace_error("{\"op\": \"mremap\", \"task\": 1, \"addr\": 4096, \"len\": 4096, \"flags\": [\"fixed\"]}",
			   "\"fixed\" needs a 'new_addr'");
	expect_trace_error("{\"op\": \"mremap\", \"task\": 1, \"addr\": 4096, \"len\": 4096, \"flags\": [\"move\"]}",
			   "is not an mremap flag");
}

/* fork and thread without a CPU: the task exists, runs nowhere (no CPU loads the child's mm) until a run. */
static void test_addrspace__fork_thread_not_running(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	struct ptsim_mm_info mi;

	T_OK(m, ptsim_spawn(m, 1, 0));
	T_OK(m, ptsim_fork(m, 1, 2, PTSIM_CPU_NONE));
	T_OK(m, ptsim_thread(m, 1, 3, PTSIM_CPU_NONE));
	T_OK(m, ptsim_mm_info_get(m, 2, &mi));
	assert_int_equal(ptsim_touch(m, 2, 0x100000, 4096, 0, false), PTSIM_ETASKSTATE);   /* not running */
	assert_int_equal(ptsim_touch(m, 3, 0x100000, 4096, 0, false), PTSIM_ETASKSTATE);
	T_OK(m, ptsim_touch(m, 1, 0x100000, 4096, 0, false));   /* the parent still runs on CPU 0 */
	T_OK(m, ptsim_run(m, 2, 1));
	T_OK(m, ptsim_touch(m, 2, 0x100000, 4096, 0, false));
	assert_int_equal(ptsim_fork(m, 1, 4, 2), -ERANGE);   /* a CPU that exists, or none */
	expect_trace_error("{\"op\": \"fork\", \"task\": 1, \"child\": 2}, {\"op\": \"touch\", \"task\": 2, "
			   "\"addr\": 4096, \"len\": 4096}",
			   "not running on any CPU");
	t_destroy(m);
}

/* Load @json, record event results (up to @limit; 0: none), run: the run's code; the machine in *@out. */
static int run_with_results(const char *json, uint64_t limit, struct ptsim_machine **out)
{
	struct ptsim_trace *t = NULL;
	struct ptsim_config cfg;
	char err[512];

	if (ptsim_trace_load(&t, json, strlen(json), err, sizeof(err)))
		fail_msg("%s", err);
	ptsim_trace_config(t, &cfg);
	if (ptsim_machine_create(out, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ptsim_machine_limit(*out, PTSIM_LIMIT_EVENT_RESULTS), 1000000);
	T_OK(*out, ptsim_machine_set_limit(*out, PTSIM_LIMIT_EVENT_RESULTS, limit));
	T_OK(*out, ptsim_event_results_enable(*out, true));
	int rc = ptsim_trace_run(t, *out);
	ptsim_trace_free(t);
	return rc;
}

/*
 * ptsim run --events: each event that produced an address (mmap, mremap, brk)
 * or met its "expect" is recorded with the address the kernel chose; other
 * events are not; the limit is an error; the JSON report has the array only
 * when recording.
 */
static void test_addrspace__event_results_name_chosen_addresses(void **s)
{
	(void)s;
	struct ptsim_machine *m = NULL;
	const char *json =
		"{\"ptsim_trace\": 1, \"machine\": {\"cpus\": 2}, \"events\": ["
		"{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0},"
		"{\"op\": \"exec\", \"task\": 1, \"segments\": [{\"addr\": \"0x400000\", \"len\": \"8K\", \"prot\": \"rx\"}]},"
		"{\"op\": \"mmap\", \"task\": 1, \"len\": \"64K\", \"prot\": \"rw\", \"as\": \"a\"},"
		"{\"op\": \"mmap\", \"task\": 1, \"addr\": \"a\", \"len\": \"4K\", \"prot\": \"rw\", \"expect\": \"EEXIST\"},"
		"{\"op\": \"touch\", \"task\": 1, \"addr\": \"a\", \"len\": \"64K\", \"write\": true},"
		"{\"op\": \"repeat\", \"count\": 2, \"events\": [{\"op\": \"mmap\", \"task\": 1, \"len\": \"2M\", \"prot\": \"r\"}]},"
		"{\"op\": \"mremap\", \"task\": 1, \"addr\": \"a\", \"len\": \"64K\", \"new_len\": \"8M\", "
		"\"flags\": [\"maymove\"], \"as\": \"moved\"},"
		"{\"op\": \"brk\", \"task\": 1, \"addr\": \"+16K\"},"
		"{\"op\": \"munmap\", \"task\": 1, \"addr\": \"moved\", \"len\": \"8M\"}]}";
	static const struct {
		uint64_t event;
		const char *op, *as;
		bool has_addr;
		uint64_t addr;
		int result;
	} want[] = {
		{ 2, "mmap", "a", true, 0x7ffff7fef000, 0 },
		{ 3, "mmap", NULL, false, 0, -EEXIST },
		/* PMD-aligned 2 MiB mappings, each below the last. */
		{ 5, "mmap", NULL, true, 0x7ffff7c00000, 0 },
		{ 6, "mmap", NULL, true, 0x7ffff7a00000, 0 },
		/* The gap above mmap_base is free (the stack is far above): it grows in place. */
		{ 7, "mremap", "moved", true, 0x7ffff7fef000, 0 },
		{ 8, "brk", NULL, true, 0x406000, 0 },
	};

	T_OK(m, run_with_results(json, 0, &m));
	assert_int_equal(ptsim_event_result_count(m), sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct ptsim_event_result r;
		T_OK(m, ptsim_event_result_get(m, i, &r));
		if (r.index != i || r.event != want[i].event || strcmp(r.op, want[i].op) || r.task != 1 || r.line != 0 ||
		    (r.as == NULL) != (want[i].as == NULL) || (r.as && strcmp(r.as, want[i].as)) ||
		    r.has_addr != want[i].has_addr || r.addr != want[i].addr || r.result != want[i].result)
			fail_msg("result %zu: event %llu %s task %d as %s addr %d/%#llx result %d", i,
				 (unsigned long long)r.event, r.op, r.task, r.as ? r.as : "-", r.has_addr,
				 (unsigned long long)r.addr, r.result);
	}
	struct ptsim_event_result r;
	assert_int_equal(ptsim_event_result_get(m, sizeof(want) / sizeof(want[0]), &r), -ERANGE);
	char *j = ptsim_report_json(m);
	assert_non_null(j);
	if (!strstr(j, "\"event_results\":[{\"index\":0,\"event\":2,\"line\":null,\"op\":\"mmap\",\"task\":1,\"as\":\"a\","
		       "\"addr\":\"0x7ffff7fef000\",\"result\":\"ok\"},{\"index\":1,\"event\":3,\"line\":null,\"op\":\"mmap\","
		       "\"task\":1,\"as\":null,\"addr\":null,\"result\":\"EEXIST\"}"))
		fail_msg("report: %s", j);
	ptsim_free(j);
	t_destroy(m);

	/* The limit: the third result stops the run, naming the event. */
	assert_int_equal(run_with_results(json, 2, &m), PTSIM_ELIMIT);
	assert_int_equal(ptsim_event_result_count(m), 2);
	if (!strstr(ptsim_machine_errmsg(m), "event 5 (mmap) at events[5][i=0].events[0]") ||
	    !strstr(ptsim_machine_errmsg(m), "beyond the limit of 2"))
		fail_msg("%s", ptsim_machine_errmsg(m));
	t_destroy(m);

	/* Not recording: no array in the report. */
	char err[512];
	if (t_run_json(json, &m, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ptsim_event_result_count(m), 0);
	j = ptsim_report_json(m);
	assert_null(strstr(j, "event_results"));
	ptsim_free(j);
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrspace__twenty_anonymous_mmaps_as_the_kernel),
		cmocka_unit_test(test_addrspace__legacy_layout_twenty_mmaps_as_the_kernel),
		cmocka_unit_test(test_addrspace__files_hints_and_noreplace_as_the_kernel),
		cmocka_unit_test(test_addrspace__map_fixed_replaces),
		cmocka_unit_test(test_addrspace__no_room_is_enomem),
		cmocka_unit_test(test_addrspace__mmap_base_per_arch),
		cmocka_unit_test(test_addrspace__layout_keys_in_traces),
		cmocka_unit_test(test_addrspace__aslr_pinned_per_seed),
		cmocka_unit_test(test_addrspace__aslr_ranges_per_arch),
		cmocka_unit_test(test_addrspace__aslr_depends_on_seed_and_mm_only),
		cmocka_unit_test(test_addrspace__aslr_mmap_rnd_bits),
		cmocka_unit_test(test_addrspace__run_other_changes_flush_targets),
		cmocka_unit_test(test_addrspace__flush_meets_a_switching_cpu),
		cmocka_unit_test(test_addrspace__schedule_window_rules),
		cmocka_unit_test(test_addrspace__trace_ops),
		cmocka_unit_test(test_addrspace__exec_four_threads),
		cmocka_unit_test(test_addrspace__brk_grow_shrink_vmpte),
		cmocka_unit_test(test_addrspace__brk_refusals),
		cmocka_unit_test(test_addrspace__fork_keeps_the_heap),
		cmocka_unit_test(test_addrspace__vfork_child_exec_spares_the_parent),
		cmocka_unit_test(test_addrspace__vfork_mm_users_and_vmpte),
		cmocka_unit_test(test_addrspace__exec_stack_move_x86),
		cmocka_unit_test(test_addrspace__exec_stack_move_arm64),
		cmocka_unit_test(test_addrspace__stack_grows_until_the_guard_gap),
		cmocka_unit_test(test_addrspace__trace_exec_brk),
		cmocka_unit_test(test_addrspace__mremap_grow_in_place),
		cmocka_unit_test(test_addrspace__mremap_grow_with_move),
		cmocka_unit_test(test_addrspace__mremap_pmd_aligned_move),
		cmocka_unit_test(test_addrspace__trace_mremap),
		cmocka_unit_test(test_addrspace__fork_thread_not_running),
		cmocka_unit_test(test_addrspace__event_results_name_chosen_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
