/*
 * VMA split and merge (issue 2): mlock/munlock, mprotect, mmap next to a
 * compatible mapping, and hugetlb VMAs that never become VM_LOCKED.
 *
 * Every count here was checked on the real kernel of these machines (6.18.44)
 * by counting /proc/self/maps lines over the region after the same calls:
 * mlock of one page of 16 -> 3 VMAs, munlock -> 1 (touched or not); mprotect
 * PROT_READ of one page -> 3, back to RW -> 1; a new anonymous mapping right
 * above or below a compatible one -> 1; filling the gap between two touched
 * anonymous VMAs (different anon_vmas) -> 2, the new one joins the lower;
 * file mappings merge only with contiguous offsets; two MAP_SHARED|
 * MAP_ANONYMOUS mappings never merge (each is its own shmem object); mlock of
 * a hugetlb VMA -> still 1 VMA, VmFlags without "lo", VmLck 0 kB.
 */
#include <errno.h>

#include "support/helpers.h"

#define PG 4096ull
#define BASE 0x100000000000ull
#define R PTSIM_PROT_READ
#define RW (PTSIM_PROT_READ | PTSIM_PROT_WRITE)

static struct ptsim_machine *proc(void)
{
	struct ptsim_machine *m = t_machine(2, NULL, NULL);
	T_OK(m, ptsim_spawn(m, 1, 0));
	return m;
}

static void map(struct ptsim_machine *m, uint64_t addr, uint64_t len, unsigned int prot, enum ptsim_map_kind kind,
		bool shared, const char *file, uint64_t offset)
{
	struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = prot, .kind = kind, .shared = shared,
				     .file = file, .offset = offset };
	T_OK(m, ptsim_mmap(m, 1, &a));
}

static void anon(struct ptsim_machine *m, uint64_t addr, uint64_t len, unsigned int prot)
{
	map(m, addr, len, prot, PTSIM_MAP_ANON, false, NULL, 0);
}

static unsigned int nr_vmas(struct ptsim_machine *m)
{
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	return mi.nr_vmas;
}

/* mlock of one page splits the VMA in three; munlock merges them back. */
static void test_vma__mlock_one_page_splits_in_three(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();

	anon(m, BASE, 16 * PG, RW);
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_mlock(m, 1, BASE + 5 * PG, PG));
	assert_int_equal(nr_vmas(m), 3);
	/* mlock populates the locked page (a write fault: private and writable). */
	assert_int_equal(t_stat(m, "faults.anon"), 1);
	/* The middle VMA is VM_LOCKED: MADV_DONTNEED refuses it, _LOCKED does not. */
	assert_int_equal(ptsim_madvise(m, 1, BASE + 5 * PG, PG, PTSIM_MADV_DONTNEED), -EINVAL);
	T_OK(m, ptsim_madvise(m, 1, BASE + 4 * PG, PG, PTSIM_MADV_DONTNEED));   /* its neighbour is not locked */
	T_OK(m, ptsim_munlock(m, 1, BASE + 5 * PG, PG));
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_madvise(m, 1, BASE, 16 * PG, PTSIM_MADV_DONTNEED));

	/* Same after the pages are touched (all three parts share one anon_vma). */
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, true));
	T_OK(m, ptsim_mlock(m, 1, BASE + 5 * PG, PG));
	assert_int_equal(nr_vmas(m), 3);
	T_OK(m, ptsim_munlock(m, 1, BASE + 5 * PG, PG));
	assert_int_equal(nr_vmas(m), 1);

	/* munlock over [locked][unlocked]: the first part merges with the second; no hole. */
	T_OK(m, ptsim_mlock(m, 1, BASE, 4 * PG));
	assert_int_equal(nr_vmas(m), 2);
	T_OK(m, ptsim_munlock(m, 1, BASE, 16 * PG));
	assert_int_equal(nr_vmas(m), 1);

	/* At an end: two parts; the whole VMA: no split; munlock of an unlocked range: nothing. */
	T_OK(m, ptsim_mlock(m, 1, BASE, PG));
	assert_int_equal(nr_vmas(m), 2);
	T_OK(m, ptsim_mlock(m, 1, BASE, 16 * PG));
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_munlock(m, 1, BASE, 16 * PG));
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_munlock(m, 1, BASE, 16 * PG));
	assert_int_equal(nr_vmas(m), 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* mlock over a hole: ENOMEM; the VMAs before the hole are locked already, as in the kernel. */
static void test_vma__mlock_hole(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();

	anon(m, BASE, 4 * PG, RW);
	anon(m, BASE + 8 * PG, 4 * PG, RW);
	assert_int_equal(nr_vmas(m), 2);
	assert_int_equal(ptsim_mlock(m, 1, BASE + 2 * PG, 8 * PG), -ENOMEM);
	assert_int_equal(nr_vmas(m), 3);   /* [0,2) unlocked, [2,4) locked, [8,12) */
	assert_int_equal(ptsim_madvise(m, 1, BASE + 2 * PG, 2 * PG, PTSIM_MADV_DONTNEED), -EINVAL);
	assert_int_equal(ptsim_mlock(m, 1, BASE + 4 * PG, PG), -ENOMEM);
	t_destroy(m);
}

/* mprotect splits where the protection changes and merges when it matches again. */
static void test_vma__mprotect_split_and_merge(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();

	anon(m, BASE, 16 * PG, RW);
	T_OK(m, ptsim_touch(m, 1, BASE, 16 * PG, 0, true));
	T_OK(m, ptsim_mprotect(m, 1, BASE + 5 * PG, PG, R));
	assert_int_equal(nr_vmas(m), 3);
	T_OK(m, ptsim_mprotect(m, 1, BASE + 5 * PG, PG, RW));
	assert_int_equal(nr_vmas(m), 1);

	/* Two pieces with different protections, then one mprotect over both: one VMA. */
	T_OK(m, ptsim_mprotect(m, 1, BASE, 8 * PG, R));
	assert_int_equal(nr_vmas(m), 2);
	T_OK(m, ptsim_mprotect(m, 1, BASE, 16 * PG, PTSIM_PROT_NONE));
	assert_int_equal(nr_vmas(m), 1);
	/* One call over two VMAs whose first part then merges with the second: no hole. */
	T_OK(m, ptsim_mprotect(m, 1, BASE, 8 * PG, R));
	assert_int_equal(nr_vmas(m), 2);
	T_OK(m, ptsim_mprotect(m, 1, BASE, 16 * PG, PTSIM_PROT_NONE));
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_mprotect(m, 1, BASE + 8 * PG, 8 * PG, R));
	T_OK(m, ptsim_mprotect(m, 1, BASE, 16 * PG, R));
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_mprotect(m, 1, BASE, 16 * PG, PTSIM_PROT_NONE));
	/* A no-op mprotect changes nothing. */
	T_OK(m, ptsim_mprotect(m, 1, BASE + 3 * PG, 2 * PG, PTSIM_PROT_NONE));
	assert_int_equal(nr_vmas(m), 1);
	/* Writes to PROT_NONE are simulated SIGSEGVs. */
	T_OK(m, ptsim_touch(m, 1, BASE, 2 * PG, 0, true));
	assert_int_equal(t_stat(m, "faults.sigsegv"), 2);

	/* Over a hole: ENOMEM, and the part before the hole was changed (and split off). */
	T_OK(m, ptsim_mprotect(m, 1, BASE, 16 * PG, RW));
	assert_int_equal(ptsim_mprotect(m, 1, BASE + 8 * PG, 16 * PG, R), -ENOMEM);
	assert_int_equal(nr_vmas(m), 2);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* A new anonymous mapping next to a compatible one joins it. */
static void test_vma__mmap_merges_with_compatible_neighbour(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();

	anon(m, BASE + 16 * PG, 16 * PG, RW);
	T_OK(m, ptsim_touch(m, 1, BASE + 16 * PG, 16 * PG, 0, true));   /* it has an anon_vma */
	anon(m, BASE + 32 * PG, 4 * PG, RW);                            /* above */
	assert_int_equal(nr_vmas(m), 1);
	anon(m, BASE + 12 * PG, 4 * PG, RW);                            /* below */
	assert_int_equal(nr_vmas(m), 1);
	/* Incompatible: another protection, or shared (shmem-backed) memory. */
	anon(m, BASE + 36 * PG, 4 * PG, R);
	assert_int_equal(nr_vmas(m), 2);
	map(m, BASE + 8 * PG, 4 * PG, RW, PTSIM_MAP_ANON, true, NULL, 0);
	assert_int_equal(nr_vmas(m), 3);
	/* Two shared anonymous mappings are two shmem objects: never merged. */
	map(m, BASE + 4 * PG, 4 * PG, RW, PTSIM_MAP_ANON, true, NULL, 0);
	assert_int_equal(nr_vmas(m), 4);
	T_OK(m, ptsim_munmap(m, 1, BASE, 64 * PG));
	assert_int_equal(nr_vmas(m), 0);

	/* Filling the gap between two untouched mappings: one VMA. */
	anon(m, BASE, 4 * PG, RW);
	anon(m, BASE + 8 * PG, 4 * PG, RW);
	anon(m, BASE + 4 * PG, 4 * PG, RW);
	assert_int_equal(nr_vmas(m), 1);
	T_OK(m, ptsim_munmap(m, 1, BASE, 64 * PG));

	/* Between two touched mappings with different anon_vmas: it joins one of them only. */
	anon(m, BASE, 4 * PG, RW);
	T_OK(m, ptsim_touch(m, 1, BASE, 4 * PG, 0, true));
	anon(m, BASE + 8 * PG, 4 * PG, RW);
	T_OK(m, ptsim_touch(m, 1, BASE + 8 * PG, 4 * PG, 0, true));
	anon(m, BASE + 4 * PG, 4 * PG, RW);
	assert_int_equal(nr_vmas(m), 2);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* File mappings merge when the file offsets are contiguous too. */
static void test_vma__file_mappings_merge_with_contiguous_offsets(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();

	map(m, BASE, 4 * PG, R, PTSIM_MAP_FILE, false, "lib.so", 0);
	map(m, BASE + 4 * PG, 4 * PG, R, PTSIM_MAP_FILE, false, "lib.so", 4 * PG);
	assert_int_equal(nr_vmas(m), 1);
	map(m, BASE + 8 * PG, 4 * PG, R, PTSIM_MAP_FILE, false, "lib.so", 16 * PG);
	assert_int_equal(nr_vmas(m), 2);
	/* Another file at the contiguous offset: no merge either. */
	map(m, BASE + 12 * PG, 4 * PG, R, PTSIM_MAP_FILE, false, "other.so", 20 * PG);
	assert_int_equal(nr_vmas(m), 3);
	t_destroy(m);
}

/* mlock_fixup() skips hugetlb VMAs: no VM_LOCKED, so no split either. */
static void test_vma__hugetlb_never_locked(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();
	const uint64_t huge = 2ull << 20;

	map(m, BASE, 4 * huge, RW, PTSIM_MAP_HUGETLB, true, NULL, 0);
	anon(m, BASE + 4 * huge, 16 * PG, RW);
	assert_int_equal(nr_vmas(m), 2);
	T_OK(m, ptsim_mlock(m, 1, BASE + huge, huge));
	assert_int_equal(nr_vmas(m), 2);
	/* Over both: the anonymous VMA is locked (and split), the hugetlb one is not. */
	T_OK(m, ptsim_mlock(m, 1, BASE, 4 * huge + 4 * PG));
	assert_int_equal(nr_vmas(m), 3);
	assert_int_equal(ptsim_madvise(m, 1, BASE + 4 * huge, PG, PTSIM_MADV_DONTNEED), -EINVAL);
	T_OK(m, ptsim_munlock(m, 1, BASE, 4 * huge + 16 * PG));
	assert_int_equal(nr_vmas(m), 2);
	/* A hugetlb VMA splits only at huge-page boundaries (mprotect of one huge page: three). */
	T_OK(m, ptsim_mprotect(m, 1, BASE + huge, huge, R));
	assert_int_equal(nr_vmas(m), 4);
	assert_int_equal(ptsim_mprotect(m, 1, BASE + PG, PG, R), -EINVAL);
	assert_int_equal(nr_vmas(m), 4);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/*
 * fork does not inherit mlock (dup_mmap() clears VM_LOCKED_MASK) and does not
 * merge: on 6.18.44 the child of a process that locked one page of 16 has
 * three VMAs, and MADV_DONTNEED of that page succeeds in the child only.
 */
static void test_vma__fork_drops_mlock(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();
	struct ptsim_mm_info mi;

	anon(m, BASE, 16 * PG, RW);
	T_OK(m, ptsim_mlock(m, 1, BASE + PG, PG));
	assert_int_equal(ptsim_madvise(m, 1, BASE + PG, PG, PTSIM_MADV_DONTNEED), -EINVAL);
	T_OK(m, ptsim_fork(m, 1, 2, 1));
	T_OK(m, ptsim_mm_info_get(m, 2, &mi));
	assert_int_equal(mi.nr_vmas, 3);
	T_OK(m, ptsim_madvise(m, 2, BASE + PG, PG, PTSIM_MADV_DONTNEED));
	assert_int_equal(ptsim_madvise(m, 1, BASE + PG, PG, PTSIM_MADV_DONTNEED), -EINVAL);
	/* Any later change in the child merges its pieces again. */
	T_OK(m, ptsim_munlock(m, 2, BASE, 16 * PG));
	T_OK(m, ptsim_mm_info_get(m, 2, &mi));
	assert_int_equal(mi.nr_vmas, 3);   /* munlock of unlocked VMAs changes nothing, merges nothing */
	T_OK(m, ptsim_mprotect(m, 2, BASE, 16 * PG, R));
	T_OK(m, ptsim_mm_info_get(m, 2, &mi));
	assert_int_equal(mi.nr_vmas, 1);
	assert_int_equal(ptsim_violation_count(m), 0);
	t_destroy(m);
}

/* munmap in the middle splits; the tables of the hole go only where no VMA can use them. */
static void test_vma__munmap_middle_splits(void **s)
{
	(void)s;
	struct ptsim_machine *m = proc();
	struct ptsim_mm_info mi;

	anon(m, BASE, 3 * 512 * PG, RW);   /* three PTE tables' worth */
	T_OK(m, ptsim_touch(m, 1, BASE, 3 * 512 * PG, 0, true));
	T_OK(m, ptsim_munmap(m, 1, BASE + 512 * PG, 512 * PG));
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.nr_vmas, 2);
	assert_int_equal(mi.pgtables[0], 2);   /* the middle PTE table is freed */
	assert_int_equal(mi.rss_anon_kb, 2 * 512 * 4);
	/* One page off the end of a table's span: that table stays (a VMA still uses it). */
	T_OK(m, ptsim_munmap(m, 1, BASE + 1024 * PG, 511 * PG));
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.nr_vmas, 2);
	assert_int_equal(mi.pgtables[0], 2);
	assert_int_equal(mi.rss_anon_kb, (512 + 1) * 4);
	t_destroy(m);
}

/*
 * The VMA tree against a page-by-page shadow: random fixed mmaps, munmaps and
 * mprotects of never-touched anonymous memory, after each of which the
 * machine's checker (the tree's order, balance and cached gaps) passes and the
 * VMA count is the number of maximal runs of mapped pages with one protection
 * (such VMAs always merge).
 */
static void test_vma__tree_matches_shadow(void **s)
{
	(void)s;
	enum { NPAGES = 512, OPS = 4000 };
	struct ptsim_machine *m = proc();
	int shadow[NPAGES];
	uint64_t rng = 12345;

	for (int i = 0; i < NPAGES; i++)
		shadow[i] = -1;
	for (int op = 0; op < OPS; op++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		unsigned int kind = (unsigned int)(rng >> 60) % 3;
		unsigned int first = (unsigned int)(rng >> 20) % NPAGES;
		unsigned int n = 1 + (unsigned int)(rng >> 40) % 16;
		unsigned int prot = (rng >> 50) & 1 ? R : RW;
		bool mapped = true, free = true;

		if (first + n > NPAGES)
			n = NPAGES - first;
		for (unsigned int i = first; i < first + n; i++) {
			mapped &= shadow[i] >= 0;
			free &= shadow[i] < 0;
		}
		uint64_t addr = BASE + first * PG, len = n * PG;
		if (kind == 0) {
			struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = prot };
			int rc = ptsim_mmap(m, 1, &a);
			assert_int_equal(rc, free ? 0 : PTSIM_EOVERLAP);
			for (unsigned int i = first; free && i < first + n; i++)
				shadow[i] = (int)prot;
		} else if (kind == 1) {
			T_OK(m, ptsim_munmap(m, 1, addr, len));
			for (unsigned int i = first; i < first + n; i++)
				shadow[i] = -1;
		} else if (mapped) {
			T_OK(m, ptsim_mprotect(m, 1, addr, len, prot));
			for (unsigned int i = first; i < first + n; i++)
				shadow[i] = (int)prot;
		}
		unsigned int runs = 0;
		for (int i = 0; i < NPAGES; i++)
			runs += shadow[i] >= 0 && (i == 0 || shadow[i - 1] != shadow[i]);
		assert_int_equal(nr_vmas(m), runs);
		T_OK(m, ptsim_machine_check(m));
	}
	t_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vma__mlock_one_page_splits_in_three),
		cmocka_unit_test(test_vma__mlock_hole),
		cmocka_unit_test(test_vma__mprotect_split_and_merge),
		cmocka_unit_test(test_vma__mmap_merges_with_compatible_neighbour),
		cmocka_unit_test(test_vma__file_mappings_merge_with_contiguous_offsets),
		cmocka_unit_test(test_vma__hugetlb_never_locked),
		cmocka_unit_test(test_vma__fork_drops_mlock),
		cmocka_unit_test(test_vma__munmap_middle_splits),
		cmocka_unit_test(test_vma__tree_matches_shadow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
