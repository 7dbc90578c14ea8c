/* Small helpers shared by the benchmarks (host time, peak RSS, checked calls). */
#ifndef PTSIM_BENCH_COMMON_H
#define PTSIM_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "ptsim/ptsim.h"

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process, seconds (less sensitive than wall time to other load on the machine). */
static inline double bench_cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set size of this process, MiB. */
static inline double bench_peak_rss_mib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

#define BENCH_OK(m, call)                                                                                     \
	do {                                                                                                  \
		int bench_rc_ = (call);                                                                       \
		if (bench_rc_) {                                                                              \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, ptsim_machine_errmsg(m)); \
			exit(1);                                                                              \
		}                                                                                             \
	} while (0)

static inline uint64_t bench_stat(struct ptsim_machine *m, const char *name)
{
	uint64_t v = 0;
	BENCH_OK(m, ptsim_stat(m, name, &v));
	return v;
}

static inline struct ptsim_machine *bench_machine(unsigned int cpus, const char *const *set)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	ptsim_config_init(&cfg);
	cfg.cpus = cpus;
	cfg.set = set;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err))) {
		fprintf(stderr, "machine: %s\n", err);
		exit(1);
	}
	return m;
}

#endif
