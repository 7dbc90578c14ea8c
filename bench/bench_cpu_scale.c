/*
 * Scale in CPUs (issue 11): N CPUs, each running a thread of one mm; each
 * thread writes a page of its own 64 KiB range and munmaps it (then maps it
 * back, which flushes nothing), so every munmap sends a flush IPI to the N-1
 * other CPUs.  For N = 64 .. 8,192, each in a child process of its own (so
 * that its peak RSS is its own), printed: IPIs, host ns per IPI, the peak RSS
 * and what it costs per running CPU.  A last row runs 64 threads on 8,192
 * CPUs: a CPU that never runs must cost next to nothing.
 *
 * The sizes run one after the other in this one process, --rounds times
 * alternating, and the median ns per IPI of each size is printed (CPU time of
 * the child, not wall time), so the figures are comparable side by side on a
 * loaded machine.
 *
 * Goals: peak RSS <= 400 MiB with 8,192 running CPUs; 64 threads on 8,192
 * CPUs stay near 21 MiB; ns per IPI flat from 64 to 8,192 CPUs.
 *
 *   bench_cpu_scale [--rounds R] [--ipis N]     (default 3 rounds, 2,000,000 IPIs per size)
 *   bench_cpu_scale --one CPUS [--ipis N]       one size, 'CPUS' threads, in this process (for
 *                                                valgrind --tool=callgrind: instructions per IPI)
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

#define BASE 0x100000000000ull
#define PAGE 4096ull
#define RANGE (64ull << 10)   /* each thread's own range */

struct result {
	uint64_t ipis, ops;
	double secs;
	long maxrss_kib;
	uint64_t violations;
};

static void run(unsigned int cpus, unsigned int threads, uint64_t want_ipis, struct result *r)
{
	struct ptsim_machine *m = bench_machine(cpus, NULL);
	struct ptsim_mmap_args a = { .addr = BASE, .len = RANGE * threads, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };

	BENCH_OK(m, ptsim_spawn(m, 0, 0));
	BENCH_OK(m, ptsim_mmap(m, 0, &a));
	for (unsigned int t = 1; t < threads; t++)
		BENCH_OK(m, ptsim_thread(m, 0, (int)t, t));
	/* Every thread's CPU walks and caches its own range once. */
	for (unsigned int t = 0; t < threads; t++)
		BENCH_OK(m, ptsim_touch(m, (int)t, BASE + RANGE * t, RANGE, 0, false));

	uint64_t ops = threads > 1 ? want_ipis / (threads - 1) : 1;
	if (ops < 16)
		ops = 16;
	uint64_t ipis0 = bench_stat(m, "ipi.received.tlb_flush");
	double t0 = bench_cpu_now();
	for (uint64_t i = 0; i < ops; i++) {
		unsigned int t = (unsigned int)(i % threads);
		uint64_t addr = BASE + RANGE * t + (i / threads % (RANGE / PAGE)) * PAGE;
		struct ptsim_mmap_args p = { .addr = addr, .len = PAGE, .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE };
		BENCH_OK(m, ptsim_touch(m, (int)t, addr, PAGE, 0, true));
		BENCH_OK(m, ptsim_munmap(m, (int)t, addr, PAGE));
		BENCH_OK(m, ptsim_mmap(m, (int)t, &p));
	}
	r->secs = bench_cpu_now() - t0;
	r->ipis = bench_stat(m, "ipi.received.tlb_flush") - ipis0;
	r->ops = ops;
	r->violations = ptsim_violation_count(m);
	ptsim_machine_destroy(m);
}

/* Run one size in a child: its ru_maxrss is this size's own peak. */
static int run_isolated(unsigned int cpus, unsigned int threads, uint64_t want_ipis, struct result *r)
{
	int fd[2];
	struct rusage ru;
	int status;

	if (pipe(fd))
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct result cr;
		close(fd[0]);
		run(cpus, threads, want_ipis, &cr);
		ssize_t w = write(fd[1], &cr, sizeof(cr));
		_exit(w == (ssize_t)sizeof(cr) ? 0 : 1);
	}
	close(fd[1]);
	ssize_t n = read(fd[0], r, sizeof(*r));
	close(fd[0]);
	if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) || n != (ssize_t)sizeof(*r))
		return -1;
	r->maxrss_kib = ru.ru_maxrss;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const unsigned int sizes[][2] = {   /* CPUs, running threads */
		{ 64, 64 }, { 256, 256 }, { 1024, 1024 }, { 2048, 2048 }, { 4096, 4096 }, { 8192, 8192 }, { 8192, 64 },
	};
	enum { NR_SIZES = sizeof(sizes) / sizeof(sizes[0]), MAX_ROUNDS = 15 };
	unsigned int rounds = 3, one = 0;
	uint64_t want_ipis = 2000000;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = (unsigned int)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ipis") && i + 1 < argc)
			want_ipis = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--one") && i + 1 < argc)
			one = (unsigned int)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--rounds R (1..%d)] [--ipis N] [--one CPUS]\n", argv[0], MAX_ROUNDS);
			return 2;
		}
	}
	if (!rounds || rounds > MAX_ROUNDS || !want_ipis) {
		fprintf(stderr, "--rounds must be 1..%d, --ipis positive\n", MAX_ROUNDS);
		return 2;
	}

	if (one) {
		struct result r;
		run(one, one, want_ipis, &r);
		printf("%u CPUs: %llu munmaps, %llu IPIs, %.1f ns/IPI, %llu violations\n", one,
		       (unsigned long long)r.ops, (unsigned long long)r.ipis, r.ipis ? r.secs * 1e9 / (double)r.ipis : 0,
		       (unsigned long long)r.violations);
		return r.violations ? 1 : 0;
	}

	double ns[NR_SIZES][MAX_ROUNDS];
	struct result last[NR_SIZES];
	long rss[NR_SIZES];
	for (unsigned int round = 0; round < rounds; round++) {
		for (unsigned int s = 0; s < NR_SIZES; s++) {
			struct result r;
			if (run_isolated(sizes[s][0], sizes[s][1], want_ipis, &r)) {
				fprintf(stderr, "%u CPUs: run failed\n", sizes[s][0]);
				return 1;
			}
			ns[s][round] = r.ipis ? r.secs * 1e9 / (double)r.ipis : 0;
			rss[s] = round ? (r.maxrss_kib < rss[s] ? r.maxrss_kib : rss[s]) : r.maxrss_kib;
			last[s] = r;
		}
	}

	printf("CPU scale: N threads of one mm on N CPUs, each munmaps pages of its own range (IPIs to the N-1 others);\n"
	       "median of %u alternating rounds\n", rounds);
	printf("%6s %8s %8s %12s %10s %14s %16s\n", "CPUs", "running", "munmaps", "IPIs", "ns/IPI", "peak RSS (MiB)",
	       "KiB/running CPU");
	bool ok = true;
	for (unsigned int s = 0; s < NR_SIZES; s++) {
		qsort(ns[s], rounds, sizeof(double), cmp_double);
		double med = ns[s][rounds / 2];
		printf("%6u %8u %8llu %12llu %10.1f %14.1f %16.1f\n", sizes[s][0], sizes[s][1],
		       (unsigned long long)last[s].ops, (unsigned long long)last[s].ipis, med, rss[s] / 1024.0,
		       (double)rss[s] / sizes[s][1]);
		if (last[s].violations) {
			printf("  unexpected violations: %llu\n", (unsigned long long)last[s].violations);
			ok = false;
		}
	}
	double rss_full = rss[NR_SIZES - 2] / 1024.0;
	double ratio = ns[NR_SIZES - 2][rounds / 2] / ns[0][rounds / 2];
	printf("8,192 running CPUs: peak RSS %.1f MiB (goal <= 400 MiB): %s\n", rss_full, rss_full <= 400 ? "met" : "missed");
	printf("ns per IPI at 8,192 CPUs / at 64 CPUs: %.2f (goal: flat)\n", ratio);
	ok = ok && rss_full <= 400;
	printf("%s\n", ok ? "memory goal met" : "memory goal missed");
	return 0;
}
