/*
 * Progress of long runs on standard error: events done (of the total when it
 * is known), the rate, the time elapsed and left.  On a terminal one line is
 * rewritten at most 4 times a second, starting after half a second (short
 * runs print nothing); elsewhere nothing unless asked (--progress), then a
 * line a second.  Fed by the replay's progress hook (ptsim_trace_run_with()),
 * from several threads for ptsim compare.
 */
#ifndef PTSIM_CLI_PROGRESS_H
#define PTSIM_CLI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum cli_progress_mode { CLI_PROGRESS_AUTO, CLI_PROGRESS_OFF, CLI_PROGRESS_ON };

struct cli_progress {
	bool on, tty, shown;
	const char *name;            /* what runs: the trace, or "compare" */
	struct timespec start, last;
	pthread_mutex_t lock;
	uint64_t events, total;      /* events done (all machines), the total (0: unknown) */
	uint64_t shown_events;       /* events when the last line was shown */
	size_t combos, combos_done, running; /* ptsim compare; combos 0 for ptsim run */
};

/* One machine's view of it: what that machine reported last. */
struct cli_progress_run {
	struct cli_progress *p;
	uint64_t done, total;
};

/* The events between two reports of the replay hook. */
#define CLI_PROGRESS_EVERY 256

void cli_progress_init(struct cli_progress *p, enum cli_progress_mode mode, const char *name, size_t combos);
/* The replay hook (ctx: a struct cli_progress_run). */
void cli_progress_hook(void *ctx, uint64_t done, uint64_t total);
/* ptsim compare: a machine starts / ends. */
void cli_progress_combo(struct cli_progress *p, bool start);
/* The last line (if any was shown), then a newline. */
void cli_progress_finish(struct cli_progress *p);

#endif
