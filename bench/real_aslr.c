/*
 * The real kernel's address-space randomization, sampled: the evidence
 * behind the ranges of ptsim's randomize_va_space setting (src/mm/util.c,
 * docs/trace-format.md "Layout settings").
 *
 * Run on the host (not a unit test: it measures the host kernel), built
 * static and position-dependent so that nothing but the kernel places the
 * first mappings (no ld.so, no load bias):
 *     cc -O2 -static -no-pie -o real_aslr bench/real_aslr.c && ./real_aslr 2000
 * It executes itself N times (default 2000).  Each child reads, right after
 * exec, its /proc/self/maps and /proc/self/stat and reports:
 *  - mmap_base: the end of the vDSO, the first mapping the kernel places
 *    top-down below mmap_base in a static program (under `setarch -R` it
 *    ends at 0x7ffff7fff000, the unrandomized mmap_base);
 *  - the stack top: the end of the [stack] VMA;
 *  - start_brk (stat field 47) and the end of the image (the linker's `end`).
 * The parent prints, for each, the offset from the unrandomized value, its
 * minimum and maximum, in pages, the number of distinct values, and whether
 * every value is page-aligned.  Under `setarch -L ./real_aslr 2000` (the
 * legacy layout, inherited by the children) the vDSO is the first mapping
 * placed bottom-up: its start is mmap_legacy_base = TASK_UNMAPPED_BASE + rnd.  x86-64, 4K pages, 8 MiB stack rlimit assumed
 * (it checks the rlimit); the constants are the ones ptsim models.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char end[];   /* the end of the image (bss), as the linker places it */

#define PAGE 4096ull
#define WINDOW ((1ull << 47) - PAGE)   /* x86-64 DEFAULT_MAP_WINDOW = STACK_TOP */
#define STACK_RND_MASK 0x3fffffull
#define GUARD_GAP (256 * PAGE)
#define UNMAPPED_BASE ((WINDOW / 3 + PAGE - 1) & ~(PAGE - 1))   /* TASK_UNMAPPED_BASE: 0x2aaaaaaab000 */

static int one(void)
{
	char line[512];
	uint64_t vdso_end = 0, vvar_start = 0, stack_end = 0, start_brk = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (sscanf(line, "%llx-%llx", &a, &b) != 2)
			continue;
		if (strstr(line, "[vdso]"))
			vdso_end = b;
		else if (strstr(line, "[vvar]"))
			vvar_start = a;
		else if (strstr(line, "[stack]"))
			stack_end = b;
	}
	if (f)
		fclose(f);
	if ((f = fopen("/proc/self/stat", "r"))) {
		char buf[2048];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
		/* After the ")" closing comm come fields 3, 4, ...; start_brk is field 47. */
		char *p = strrchr(buf, ')'), *save = NULL;
		int field = 2;
		for (char *tok = p ? strtok_r(p + 1, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save))
			if (++field == 47)
				start_brk = strtoull(tok, NULL, 10);
	}
	printf("%llx %llx %llx %llx %llx\n", (unsigned long long)vdso_end, (unsigned long long)stack_end,
	       (unsigned long long)start_brk, (unsigned long long)(uintptr_t)end, (unsigned long long)vvar_start);
	return 0;
}

struct range {
	const char *name;
	uint64_t min, max, n, unaligned;
	uint64_t *seen;
	size_t nseen;
};

static void add(struct range *r, uint64_t off, uint64_t value)
{
	if (!r->n || off < r->min)
		r->min = off;
	if (!r->n || off > r->max)
		r->max = off;
	r->n++;
	if (value & (PAGE - 1))
		r->unaligned++;
	for (size_t i = 0; i < r->nseen; i++)
		if (r->seen[i] == off)
			return;
	r->seen[r->nseen++] = off;
}

static void show(const struct range *r, const char *model)
{
	printf("%-10s offset min %#llx max %#llx (pages %llu .. %llu), %zu distinct of %llu, unaligned %llu; ptsim: %s\n",
	       r->name, (unsigned long long)r->min, (unsigned long long)r->max, (unsigned long long)(r->min / PAGE),
	       (unsigned long long)(r->max / PAGE), r->nseen, (unsigned long long)r->n, (unsigned long long)r->unaligned,
	       model);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "one"))
		return one();
	long n = argc > 1 ? atol(argv[1]) : 2000;
	struct rlimit rl;
	char buf[64] = "?";
	FILE *f;

	getrlimit(RLIMIT_STACK, &rl);
	if (rl.rlim_cur != 8ull << 20) {
		fprintf(stderr, "this needs the 8 MiB stack rlimit (ulimit -s 8192)\n");
		return 1;
	}
	if ((f = fopen("/proc/sys/vm/mmap_rnd_bits", "r"))) {
		if (!fgets(buf, sizeof(buf), f))
			strcpy(buf, "?\n");
		fclose(f);
	}
	printf("vm.mmap_rnd_bits %s", buf);
	if ((f = fopen("/proc/sys/kernel/randomize_va_space", "r"))) {
		if (!fgets(buf, sizeof(buf), f))
			strcpy(buf, "?\n");
		fclose(f);
	}
	printf("kernel.randomize_va_space %s", buf);
	bool legacy = personality(0xffffffff) & ADDR_COMPAT_LAYOUT;
	printf("layout %s\n", legacy ? "legacy (ADDR_COMPAT_LAYOUT)" : "top-down");

	/* mmap_base() with PF_RANDOMIZE: the gap includes the stack's random range. */
	uint64_t gap = (8ull << 20) + GUARD_GAP + (STACK_RND_MASK * PAGE);
	uint64_t base0 = WINDOW - gap;
	struct range rb = { "mmap_base", 0, 0, 0, 0, calloc((size_t)n, 8), 0 };
	struct range rs = { "stack_top", 0, 0, 0, 0, calloc((size_t)n, 8), 0 };
	struct range rk = { "start_brk", 0, 0, 0, 0, calloc((size_t)n, 8), 0 };

	for (long i = 0; i < n; i++) {
		int fd[2];
		if (pipe(fd))
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			dup2(fd[1], 1);
			close(fd[0]);
			execl("/proc/self/exe", argv[0], "one", (char *)NULL);
			_exit(127);
		}
		close(fd[1]);
		char line[256] = "";
		ssize_t got = read(fd[0], line, sizeof(line) - 1);
		close(fd[0]);
		waitpid(pid, NULL, 0);
		unsigned long long vdso_end, stack_end, start_brk, image_end, vvar_start;
		if (got <= 0 || sscanf(line, "%llx %llx %llx %llx %llx", &vdso_end, &stack_end, &start_brk, &image_end,
				       &vvar_start) != 5) {
			fprintf(stderr, "child %ld: no report\n", i);
			return 1;
		}
		if (legacy)
			add(&rb, vvar_start - UNMAPPED_BASE, vvar_start);
		else
			add(&rb, base0 - vdso_end, vdso_end);
		add(&rs, WINDOW - stack_end, stack_end);
		/* set_brk() at the page-aligned end of the image, one page of gap, then arch_randomize_brk(). */
		add(&rk, start_brk - (((image_end + PAGE - 1) & ~(PAGE - 1)) + PAGE), start_brk);
	}
	printf("%ld processes\n", n);
	if (legacy)
		show(&rb, "arch_mmap_rnd(): [0, 2^28 - 1] pages above TASK_UNMAPPED_BASE");
	else
		show(&rb, "arch_mmap_rnd(): [0, 2^28 - 1] pages below PAGE_ALIGN(window - gap)");
	show(&rs, "randomize_stack_top() [0, 0x3fffff] pages, arch_align_stack() 0 or 1 page more");
	show(&rk, "arch_randomize_brk(): [0, 1 GiB / 4 KiB - 1] pages above the image's end + 1 page");
	return 0;
}
