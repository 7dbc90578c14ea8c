/*
 * w1_real: W1 case a on the real kernel, the workload bench_pt_reclaim
 * simulates: a MAP_NORESERVE anonymous mapping of GIB GiB at 0x200000000000;
 * for each 2 MiB chunk, write one byte of every 4 KiB page (one fault each),
 * then madvise(MADV_DONTNEED) the chunk.  With PT reclaim in the kernel
 * (6.14+), each madvise also frees the chunk's PTE table.
 *
 *   w1_real [GIB]     (default 50)
 *
 * Prints one line: "gib=G faults=N wall=S cpu=S", the times of the loop
 * alone (after mmap, before munmap), as bench_pt_reclaim times ptsim: wall
 * (CLOCK_MONOTONIC) and this process's CPU time (user + system, nearly all
 * of it in the kernel's fault and madvise paths).  Plain C, no ptsim.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define BASE 0x200000000000ull
#define CHUNK (2ull << 20)
#define PAGE 4096ull

static double now(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	unsigned long gib = argc > 1 ? strtoul(argv[1], NULL, 0) : 50;
	size_t len = (size_t)gib << 30;

	if (!gib || gib > 1024) {
		fprintf(stderr, "usage: %s [GIB 1..1024]\n", argv[0]);
		return 2;
	}
	char *p = mmap((void *)BASE, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (char *)BASE) {
		perror("mmap");
		return 1;
	}
	double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	for (size_t off = 0; off < len; off += CHUNK) {
		volatile char *c = p + off;
		for (size_t o = 0; o < CHUNK; o += PAGE)
			c[o] = 1;
		if (madvise(p + off, CHUNK, MADV_DONTNEED)) {
			perror("madvise");
			return 1;
		}
	}
	double wall = now(CLOCK_MONOTONIC) - w0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	munmap(p, len);
	printf("gib=%lu faults=%llu wall=%.3f cpu=%.3f\n", gib, (unsigned long long)(len / PAGE), wall, cpu);
	return 0;
}
