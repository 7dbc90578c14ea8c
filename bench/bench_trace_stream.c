/*
 * A version 2 (JSON Lines) trace of N events replayed while it streams in
 * through a pipe: peak RSS must not grow with N (issue 9: a 100-million-event
 * trace replays in bounded memory).  No trace file is written: a child
 * process generates the lines into the pipe, the replay reads them from
 * standard input ("-") one at a time.
 *
 * The workload keeps the simulated state small, so that what grows (if
 * anything) is the replay's: task 1 on CPU 0 and a thread on CPU 1, then
 * rounds of
 *     mmap 4 KiB (no address: the kernel chooses, "as": "r")
 *     touch "r" (a write fault)
 *     munmap "r" (with its flush, an IPI to the thread's CPU)
 * Each size runs in its own process, so each peak RSS is that run's alone.
 *
 *   bench_trace_stream [N ...]      (default: 1000 1000000; e.g. 100000000)
 *
 * Prints per N: events run, wall and CPU seconds, events per second (CPU),
 * and the peak RSS of the replaying process (getrusage ru_maxrss).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"

/* Write a trace of @n events (header aside) to @fd. */
static void write_trace(int fd, uint64_t n)
{
	FILE *f = fdopen(fd, "w");
	char *buf = malloc(1 << 16);

	if (!f || !buf)
		exit(1);
	setvbuf(f, buf, _IOFBF, 1 << 16);
	fprintf(f, "{\"ptsim_trace\": 2, \"machine\": {\"cpus\": 2}, \"comment\": \"bench_trace_stream\"}\n"
		   "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}\n"
		   "{\"op\": \"thread\", \"task\": 1, \"thread\": 2, \"cpu\": 1}\n");
	for (uint64_t i = 2; i < n; i++) {
		int r;
		switch (i % 3) {
		case 2:
			r = fputs("{\"op\": \"mmap\", \"task\": 1, \"len\": \"4K\", \"prot\": \"rw\", \"as\": \"r\"}\n", f);
			break;
		case 0:
			r = fputs("{\"op\": \"touch\", \"task\": 1, \"addr\": \"r\", \"len\": \"4K\", \"write\": true}\n", f);
			break;
		default:
			r = fputs("{\"op\": \"munmap\", \"task\": 1, \"addr\": \"r\", \"len\": \"4K\"}\n", f);
			break;
		}
		if (r == EOF)
			exit(1);   /* the reader stopped */
	}
	if (fclose(f))
		exit(1);
}

/* The replay's final progress report: the events it ran. */
static void done_events(void *ctx, uint64_t done, uint64_t total)
{
	(void)total;
	*(uint64_t *)ctx = done;
}

/* Replay @n streamed events in this process; print the figures. */
static int replay(uint64_t n)
{
	int p[2];

	if (pipe(p))
		return 1;
	pid_t w = fork();
	if (w < 0)
		return 1;
	if (w == 0) {
		close(p[0]);
		write_trace(p[1], n);
		_exit(0);
	}
	close(p[1]);
	if (dup2(p[0], 0) < 0)
		return 1;
	close(p[0]);

	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[512];
	double t0 = bench_now(), c0 = bench_cpu_now();
	if (ptsim_trace_load_file(&t, "-", err, sizeof(err))) {
		fprintf(stderr, "load: %s\n", err);
		return 1;
	}
	ptsim_trace_config(t, &cfg);
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err))) {
		fprintf(stderr, "machine: %s\n", err);
		return 1;
	}
	uint64_t events = 0;
	struct ptsim_trace_hooks h = { .progress = done_events, .ctx = &events };
	BENCH_OK(m, ptsim_trace_run_with(t, m, &h));
	double dt = bench_now() - t0, dc = bench_cpu_now() - c0;
	uint64_t faults = bench_stat(m, "faults.total"), ipis = bench_stat(m, "ipi.calls.tlb_flush");
	int status = 0;
	waitpid(w, &status, 0);
	printf("%11" PRIu64 " events  %8.2f s wall %8.2f s cpu  %10.0f events/s (cpu)  peak RSS %6.1f MiB  "
	       "(faults %" PRIu64 ", tlb_flush IPIs %" PRIu64 ", writer %s)\n",
	       events, dt, dc, (double)events / (dc > 0 ? dc : 1e-9), bench_peak_rss_mib(),
	       faults, ipis, WIFEXITED(status) && !WEXITSTATUS(status) ? "ok" : "FAILED");
	ptsim_machine_destroy(m);
	ptsim_trace_free(t);
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const uint64_t defaults[] = { 1000, 1000000 };
	size_t nr = argc > 1 ? (size_t)argc - 1 : sizeof(defaults) / sizeof(defaults[0]);
	int rc = 0;

	printf("bench_trace_stream: a v2 trace streamed through a pipe (mmap/touch/munmap rounds, 2 CPUs)\n");
	for (size_t i = 0; i < nr; i++) {
		uint64_t n = argc > 1 ? strtoull(argv[i + 1], NULL, 0) : defaults[i];
		if (n < 3) {
			fprintf(stderr, "N must be at least 3\n");
			return 2;
		}
		fflush(stdout);
		pid_t c = fork();
		if (c < 0)
			return 1;
		if (c == 0) {
			int r = replay(n);
			fflush(stdout);
			_exit(r);
		}
		int status = 0;
		waitpid(c, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			rc = 1;
	}
	return rc;
}
