/*
 * record_workload: the fault-heavy program bench/record_overhead.sh runs
 * with and without `ptsim record`.
 *
 *   record_workload [MIB] [ROUNDS] [seq|scattered]   (default 256 MiB, 4 rounds, seq)
 *
 * Each round maps MIB MiB of anonymous memory, writes one byte per page (one
 * page fault each), and unmaps it: MIB * 256 faults per round, nothing else.
 * "seq" touches the pages in order (the recorder writes one touch line per
 * run of pages); "scattered" in an order where no two consecutive faults are
 * on neighbouring pages (one line per fault: the recorder's worst case).
 * It prints the time its own work took (CLOCK_MONOTONIC, seconds), so the
 * recorder's start-up and its final draining are not counted in that figure.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	int rounds = argc > 2 ? atoi(argv[2]) : 4;
	int scattered = argc > 3 && argv[3][0] == 's' && argv[3][1] == 'c';
	size_t len = mib << 20, pages = len >> 12;
	double t0 = now();

	for (int r = 0; r < rounds; r++) {
		volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		/* scattered: page i * 4099 mod pages (4099 is prime, so every page once). */
		for (size_t i = 0; i < pages; i++)
			p[(scattered ? i * 4099 % pages : i) << 12] = 1;
		munmap((void *)p, len);
	}
	printf("%.6f\n", now() - t0);
	return 0;
}
