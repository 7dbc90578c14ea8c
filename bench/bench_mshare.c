/*
 * mshare (docs/mshare.md): what sharing page tables through an msharefs host
 * mm saves in page-table memory, and what each flush strategy of the RFC's
 * review costs in IPIs.
 *
 * 1. VmPTE: N processes mapping the same 64 GiB of shared memory, touched
 *    (one access per 2 MiB: the same page tables as touching every page),
 *    plainly (MAP_SHARED of one shmem file: each process builds its own
 *    tables) and through mshare (one set of tables, in the host mm).  The
 *    mshare rows are simulated for every N; the plain rows for N = 1 and 2
 *    (the per-process figure, checked linear), then N times it: 1,000 plain
 *    processes would need 128 GiB of simulated page tables.
 * 2. Flushes: S sharers running on S CPUs (each with 3 more threads asleep
 *    on other CPUs, which stay lazy on its mm), on machines of C CPUs; or,
 *    with S > C, S sharers time-sharing the C CPUs (sharer p ran on CPU
 *    p % C and slept, the last C still run: every CPU is in the mm_cpumask
 *    of S / C sharers).  For each strategy: IPIs sent (calls) and received for a 1-page munmap, a
 *    2 MiB MADV_DONTNEED that frees a PTE table, and a 1 GiB mprotect of the
 *    region, all through the host mm by sharer 1 (time-sharing: the last).
 *
 *   bench_mshare [--quick]      (--quick: fewer sizes; what CI could afford)
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bench_common.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define REGION (512 * GiB)

static void region(struct ptsim_machine *m, uint64_t len)
{
	BENCH_OK(m, ptsim_mshare_create(m, PTSIM_NO_TASK, "r", REGION, 512 * GiB));
	BENCH_OK(m, ptsim_mshare_map(m, PTSIM_NO_TASK, "r",
				     &(struct ptsim_mmap_args){ .addr = REGION, .len = len,
								.prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
								.shared = true }));
}

static void attach(struct ptsim_machine *m, int task)
{
	BENCH_OK(m, ptsim_mmap(m, task,
			       &(struct ptsim_mmap_args){ .addr = REGION, .len = 512 * GiB,
							  .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
							  .kind = PTSIM_MAP_MSHARE, .file = "r", .shared = true }));
}

/* Sum of VmPTE over @n processes (and the host mm for mshare), kB; *host_kb: the host's part. */
static uint64_t vmpte(unsigned int n, uint64_t len, bool mshare, uint64_t *host_kb)
{
	struct ptsim_machine *m = bench_machine(2, NULL);
	uint64_t kb = 0;

	if (mshare)
		region(m, len);
	for (unsigned int i = 1; i <= n; i++) {
		int t = (int)i;
		BENCH_OK(m, ptsim_spawn(m, t, 0));
		if (mshare)
			attach(m, t);
		else
			BENCH_OK(m, ptsim_mmap(m, t,
					       &(struct ptsim_mmap_args){ .addr = REGION, .len = len,
									  .prot = PTSIM_PROT_READ | PTSIM_PROT_WRITE,
									  .kind = PTSIM_MAP_SHMEM, .file = "shm",
									  .shared = true }));
		BENCH_OK(m, ptsim_touch(m, t, REGION, len, 2 * MiB, false));
		BENCH_OK(m, ptsim_sleep(m, t));   /* the next process takes the CPU */
	}
	for (unsigned int i = 1; i <= n; i++) {
		struct ptsim_mm_info mi;
		BENCH_OK(m, ptsim_mm_info_get(m, (int)i, &mi));
		kb += mi.vmpte_kb;
	}
	*host_kb = 0;
	if (mshare) {
		struct ptsim_mm_info mi;
		BENCH_OK(m, ptsim_mshare_info(m, "r", &mi));
		*host_kb = mi.vmpte_kb;
		kb += mi.vmpte_kb;
	}
	if (ptsim_violation_count(m))
		printf("  unexpected violations: %zu\n", ptsim_violation_count(m));
	ptsim_machine_destroy(m);
	return kb;
}

static void vmpte_table(void)
{
	static const unsigned int ns[] = { 1, 10, 1000 };
	uint64_t host, plain1 = vmpte(1, 64 * GiB, false, &host), plain2 = vmpte(2, 64 * GiB, false, &host);

	printf("VmPTE, N processes x 64 GiB shared memory (kB; plain: every process's own tables)\n");
	printf("  plain: 1 process %llu kB, 2 processes %llu kB%s\n", (unsigned long long)plain1,
	       (unsigned long long)plain2, plain2 == 2 * plain1 ? " (linear)" : " (NOT linear)");
	printf("  %6s  %16s  %16s  %16s  %12s\n", "N", "plain MAP_SHARED", "mshare (sum)", "mshare host mm",
	       "per process");
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		uint64_t sum = vmpte(ns[i], 64 * GiB, true, &host);
		printf("  %6u  %16llu  %16llu  %16llu  %12llu\n", ns[i], (unsigned long long)(plain1 * ns[i]),
		       (unsigned long long)sum, (unsigned long long)host, (unsigned long long)(sum - host) / ns[i]);
	}
}

static const char *const strategies[] = { "flush_all", "per_mm", "cpumask_union", "host_mm" };

struct cost {
	uint64_t calls, received;
};

static struct cost delta(struct ptsim_machine *m, const uint64_t before[2])
{
	struct cost c;

	c.calls = bench_stat(m, "ipi.calls.tlb_flush") + bench_stat(m, "ipi.calls.flush_all") - before[0];
	c.received = bench_stat(m, "ipi.received.tlb_flush") + bench_stat(m, "ipi.received.flush_all") - before[1];
	return c;
}

static void snap(struct ptsim_machine *m, uint64_t s[2])
{
	s[0] = bench_stat(m, "ipi.calls.tlb_flush") + bench_stat(m, "ipi.calls.flush_all");
	s[1] = bench_stat(m, "ipi.received.tlb_flush") + bench_stat(m, "ipi.received.flush_all");
}

static void flush_row(unsigned int cpus, unsigned int sharers, const char *strategy)
{
	char kv[64];
	snprintf(kv, sizeof(kv), "mshare_flush=%s", strategy);
	const char *const set[] = { kv, NULL };
	struct ptsim_machine *m = bench_machine(cpus, set);
	const bool timeshared = sharers > cpus;
	const unsigned int lazy_per = timeshared ? 0 : (cpus - sharers) / sharers >= 3 ? 3 : (cpus - sharers) / sharers;
	struct cost c[3];
	uint64_t s[2];

	region(m, 2 * GiB);
	for (unsigned int p = 0; p < sharers; p++) {
		int t = (int)p + 1;
		BENCH_OK(m, ptsim_spawn(m, t, p % cpus));
		attach(m, t);
		BENCH_OK(m, ptsim_touch(m, t, REGION, 6 * MiB, 0, false));
		BENCH_OK(m, ptsim_touch(m, t, REGION + GiB, 2 * MiB, 0, false));
		if (p + cpus < sharers)
			BENCH_OK(m, ptsim_sleep(m, t));   /* another sharer takes this CPU */
	}
	for (unsigned int i = 0; i < sharers * lazy_per; i++) {
		int th = 100000 + (int)i;
		BENCH_OK(m, ptsim_thread(m, (int)(i % sharers) + 1, th, sharers + i));
		BENCH_OK(m, ptsim_touch(m, th, REGION, 4096, 0, false));
		BENCH_OK(m, ptsim_sleep(m, th));
	}
	/* The caller: sharer 1, or with time-sharing the last sharer (it still runs). */
	const int who = timeshared ? (int)sharers : 1;
	snap(m, s);
	BENCH_OK(m, ptsim_mshare_munmap(m, who, "r", REGION + 12 * 1024, 4096));
	c[0] = delta(m, s);
	snap(m, s);
	BENCH_OK(m, ptsim_mshare_madvise(m, who, "r", REGION + 4 * MiB, 2 * MiB, PTSIM_MADV_DONTNEED));
	c[1] = delta(m, s);
	snap(m, s);
	BENCH_OK(m, ptsim_mshare_mprotect(m, who, "r", REGION + GiB, GiB, PTSIM_PROT_READ));
	c[2] = delta(m, s);
	printf("  %5u  %7u  %5u  %-14s", cpus, sharers, timeshared ? sharers - cpus : sharers * lazy_per, strategy);
	for (int i = 0; i < 3; i++)
		printf("  %5llu/%-6llu", (unsigned long long)c[i].calls, (unsigned long long)c[i].received);
	printf("  %zu\n", ptsim_violation_count(m));
	ptsim_machine_destroy(m);
}

static void flush_table(bool quick)
{
	static const unsigned int cpu_counts[] = { 64, 1024 };
	static const unsigned int sharer_counts[] = { 1, 4, 16, 64, 256, 1024, 4096 };

	printf("\nIPIs per operation through the host mm, calls/received (x86-64, mm_cpumask=lazy)\n");
	printf("  (asleep: sharers' CPUs lazy on a sharer's mm: 3 threads per sharer, or the sharers that slept)\n");
	printf("  %5s  %7s  %5s  %-14s  %12s  %12s  %12s  %s\n", "CPUs", "sharers", "asleep", "mshare_flush",
	       "munmap 4K", "DONTNEED 2M", "mprotect 1G", "violations");
	for (size_t c = 0; c < sizeof(cpu_counts) / sizeof(cpu_counts[0]); c++) {
		for (size_t s = 0; s < sizeof(sharer_counts) / sizeof(sharer_counts[0]); s++) {
			bool fits = sharer_counts[s] <= cpu_counts[c] / 2 || sharer_counts[s] >= 4 * cpu_counts[c];
			if (!fits || (quick && sharer_counts[s] > 16))
				continue;
			for (size_t k = 0; k < sizeof(strategies) / sizeof(strategies[0]); k++)
				flush_row(cpu_counts[c], sharer_counts[s], strategies[k]);
		}
	}
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	double t0 = bench_cpu_now();

	if (!quick)
		vmpte_table();
	flush_table(quick);
	printf("\n(host CPU time %.1f s, peak RSS %.0f MiB)\n", bench_cpu_now() - t0, bench_peak_rss_mib());
	return 0;
}
