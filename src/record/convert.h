/*
 * Kernel events -> trace ops (convert.c).
 */
#ifndef PTSIM_RECORD_CONVERT_H
#define PTSIM_RECORD_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "record/recdata.h"
#include "record/sysinfo.h"
#include "record/tracing.h"

struct rec_out;
struct rec_conv;

struct rec_conv_opts {
	const struct rec_sysinfo *si;
	char *const *argv;
	pid_t root;
	uint64_t flush_fn, sync_fn;   /* kernel addresses of flush_tlb_func, tlb_remove_table_smp_sync */
	bool allow_thp;
	bool quiet;
};

int rec_conv_new(struct rec_conv **out, struct rec_data *d, struct rec_out *o, const struct rec_conv_opts *opts);
/* The header line. */
int rec_conv_header(struct rec_conv *c);

#define REC_CONV_WAIT 1
/*
 * Convert one event.  Return: 0, REC_CONV_WAIT if it needs something the
 * ptrace side has not learnt yet (call again later; with @final the
 * converter does without), or -errno (the output failed).
 */
int rec_conv_event(struct rec_conv *c, const struct rec_ev *e, bool final);

struct rec_conv_end {
	uint64_t lost, out_of_order;
	const char *stopped;          /* NULL, "duration" or "signal" */
	bool root_reaped;
	int root_status;
	uint64_t duration_ns;
};

/* The trailer; returns 0 or -errno. */
int rec_conv_finish(struct rec_conv *c, const struct rec_conv_end *end);
/* Summary figures for the CLI. */
void rec_conv_summary(const struct rec_conv *c, uint64_t *events, uint64_t *faults, uint64_t *syscalls,
		      unsigned int *processes, unsigned int *tasks, unsigned int *warnings);
/* Warning lines (also in the trailer), NULL-terminated; borrowed. */
const char *const *rec_conv_warnings(const struct rec_conv *c);
void rec_conv_free(struct rec_conv *c);

#endif
