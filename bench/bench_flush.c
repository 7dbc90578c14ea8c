/*
 * Flush-heavy workload (issue 3): 64 threads of one mm on 64 CPUs, all
 * running, do 100,000 munmap / madvise(DONTNEED) operations between them (each
 * on a page the same thread has just written), so that every operation sends a
 * flush IPI to the 63 other CPUs.  The same workload on machines of 64, 1024
 * and 4096 CPUs: the cost must follow the number of IPI targets (63), not the
 * number of CPUs.  Prints simulated operations per second and IPIs per second
 * of host time.
 *
 *   bench_flush [ops=100000] [threads=64]
 */
#include <stdint.h>
#include <string.h>

#include "bench_common.h"

#define BASE 0x100000000000ull
#define PAGE 4096ull

static void run(unsigned int cpus, unsigned int threads, unsigned int ops)
{
	struct ptsim_machine *m = bench_machine(cpus, NULL);
	struct ptsim_mmap_args a = { .addr = BASE, .len = 64ull << 20, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	BENCH_OK(m, ptsim_spawn(m, 0, 0));
	BENCH_OK(m, ptsim_mmap(m, 0, &a));
	for (unsigned int t = 1; t < threads; t++)
		BENCH_OK(m, ptsim_thread(m, 0, (int)t, t));
	for (unsigned int t = 0; t < threads; t++)
		BENCH_OK(m, ptsim_touch(m, (int)t, BASE, 1ull << 20, 0, false));

	uint64_t ipis0 = bench_stat(m, "ipi.received.tlb_flush");
	double t0 = bench_now();
	for (unsigned int i = 0; i < ops; i++) {
		int task = (int)(i % threads);
		uint64_t addr = BASE + (uint64_t)(i % 16384) * PAGE;
		BENCH_OK(m, ptsim_touch(m, task, addr, PAGE, 0, true));
		if (i & 1) {
			BENCH_OK(m, ptsim_madvise(m, task, addr, PAGE, PTSIM_MADV_DONTNEED));
		} else {
			struct ptsim_mmap_args p = { .addr = addr, .len = PAGE,
						     .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
			BENCH_OK(m, ptsim_munmap(m, task, addr, PAGE));
			BENCH_OK(m, ptsim_mmap(m, task, &p));   /* no flush: maps it back for the next round */
		}
	}
	double dt = bench_now() - t0;
	uint64_t ipis = bench_stat(m, "ipi.received.tlb_flush") - ipis0;
	printf("%5u CPUs  %3u threads  %7u ops  %7.3f s  %10.0f ops/s  %11llu IPIs  %12.0f IPIs/s  %6.1f IPIs/op\n",
	       cpus, threads, ops, dt, ops / dt, (unsigned long long)ipis, ipis / dt, (double)ipis / ops);
	if (ptsim_violation_count(m))
		printf("  unexpected violations: %zu\n", ptsim_violation_count(m));
	ptsim_machine_destroy(m);
}

int main(int argc, char **argv)
{
	unsigned int ops = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 100000;
	unsigned int threads = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : 64;
	static const unsigned int cpus[] = { 64, 1024, 4096 };

	printf("flush-heavy: %u threads of one mm, all running, %u munmap/madvise ops (1 page each)\n", threads, ops);
	for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++)
		if (cpus[i] >= threads)
			run(cpus[i], threads, ops);
	printf("peak RSS %.1f MiB\n", bench_peak_rss_mib());
	return 0;
}
