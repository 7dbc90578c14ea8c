/*
 * Address-space structures at scale (issue 9, issue 15 item 6):
 *  - falling: N 4 KiB anonymous mmaps at falling addresses (the order the
 *    kernel's default top-down layout produces), one page apart so that none
 *    merge: N VMAs;
 *  - rising: the same at rising addresses;
 *  - threads: T threads of one mm created, then each exits;
 *  - million: a process with V VMAs touches one page in each, munmaps every
 *    other one, then exits (exit_mmap of the rest).
 * Goals: falling and rising each under 1 s for N = 200,000; threads under 1 s
 * for T = 100,000; million works.  Wall times on a shared host are noisy:
 * compare instruction counts (valgrind --tool=callgrind) or runs side by side.
 *
 *   bench_addrspace [N=200000] [T=100000] [V=1000000]
 */
#include <string.h>

#include "bench_common.h"

#define TOP 0x7f0000000000ull
#define LOW 0x100000000ull
#define PG 4096ull

static void mmaps(unsigned int n, bool falling)
{
	struct ptsim_machine *m = bench_machine(2, NULL);
	struct ptsim_mmap_args a = { .len = PG, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mm_info mi;

	BENCH_OK(m, ptsim_spawn(m, 1, 0));
	double t0 = bench_now();
	for (unsigned int i = 0; i < n; i++) {
		a.addr = falling ? TOP - (uint64_t)(i + 1) * 2 * PG : LOW + (uint64_t)i * 2 * PG;
		BENCH_OK(m, ptsim_mmap(m, 1, &a));
	}
	double dt = bench_now() - t0;
	BENCH_OK(m, ptsim_mm_info_get(m, 1, &mi));
	printf("%-8s %u mmaps (%u VMAs) in %.3f s (goal < 1 s for 200,000)\n", falling ? "falling:" : "rising:", n,
	       mi.nr_vmas, dt);
	ptsim_machine_destroy(m);
}

static void threads(unsigned int n)
{
	struct ptsim_machine *m = bench_machine(2, NULL);

	BENCH_OK(m, ptsim_spawn(m, 1, 0));
	double t0 = bench_now();
	for (unsigned int i = 0; i < n; i++)
		BENCH_OK(m, ptsim_thread(m, 1, (int)(2 + i), 1));
	for (unsigned int i = 0; i < n; i++) {
		BENCH_OK(m, ptsim_run(m, (int)(2 + i), 1));
		BENCH_OK(m, ptsim_exit(m, (int)(2 + i)));
	}
	double dt = bench_now() - t0;
	printf("threads: %u threads of one mm created and exited in %.3f s (goal < 1 s for 100,000)\n", n, dt);
	ptsim_machine_destroy(m);
}

static void million(unsigned int n)
{
	struct ptsim_machine *m = bench_machine(2, NULL);
	struct ptsim_mmap_args a = { .len = PG, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
	struct ptsim_mm_info mi;

	BENCH_OK(m, ptsim_spawn(m, 1, 0));
	double t0 = bench_now();
	for (unsigned int i = 0; i < n; i++) {
		a.addr = TOP - (uint64_t)(i + 1) * 2 * PG;
		BENCH_OK(m, ptsim_mmap(m, 1, &a));
		BENCH_OK(m, ptsim_touch(m, 1, a.addr, PG, 0, true));
	}
	BENCH_OK(m, ptsim_mm_info_get(m, 1, &mi));
	unsigned int vmas = mi.nr_vmas;
	for (unsigned int i = 0; i < n; i += 2)
		BENCH_OK(m, ptsim_munmap(m, 1, TOP - (uint64_t)(i + 1) * 2 * PG, PG));
	BENCH_OK(m, ptsim_mm_info_get(m, 1, &mi));
	BENCH_OK(m, ptsim_exit(m, 1));
	double dt = bench_now() - t0;
	printf("million: %u VMAs mapped and touched, %u left after munmap of every other, exited: %.3f s\n", vmas,
	       mi.nr_vmas, dt);
	ptsim_machine_destroy(m);
}

int main(int argc, char **argv)
{
	unsigned int n = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 200000;
	unsigned int t = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : 100000;
	unsigned int v = argc > 3 ? (unsigned int)strtoul(argv[3], NULL, 0) : 1000000;

	mmaps(n, true);
	mmaps(n, false);
	threads(t);
	if (v)
		million(v);
	printf("peak RSS %.1f MiB\n", bench_peak_rss_mib());
	return 0;
}
