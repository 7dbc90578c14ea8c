/*
 * Traces: JSON workload files replayed on a machine (docs/trace-format.md).
 *
 *   struct ptsim_trace *t;
 *   ptsim_trace_load_file(&t, "w.json", err, sizeof err);
 *   struct ptsim_config cfg;
 *   ptsim_trace_config(t, &cfg);          // machine section of the trace
 *   ptsim_machine_create(&m, &cfg, err, sizeof err);
 *   ptsim_trace_run(t, m);                // 0, or an error naming the event
 */
#ifndef PTSIM_TRACE_H
#define PTSIM_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include "ptsim/config.h"
#include "ptsim/export.h"

struct ptsim_machine;
struct ptsim_trace;

/** ptsim_trace_load - parse and validate a trace; on failure @err names the event and field. */
PTSIM_API int ptsim_trace_load(struct ptsim_trace **out, const char *json, size_t len,
			       char *err, size_t errlen);
PTSIM_API int ptsim_trace_load_file(struct ptsim_trace **out, const char *path,
				    char *err, size_t errlen);
PTSIM_API void ptsim_trace_free(struct ptsim_trace *t);

/**
 * ptsim_trace_config - the trace's machine section as a config.  Strings in it
 * (preset, set) are borrowed from @t.  Overrides given to ptsim_trace_config_add()
 * are applied after the trace's own "set" (command-line --set wins).
 */
PTSIM_API int ptsim_trace_config(struct ptsim_trace *t, struct ptsim_config *cfg);
PTSIM_API int ptsim_trace_config_add(struct ptsim_trace *t, const char *key_eq_value);

/** ptsim_trace_run - replay every event on @m.  Return: 0 or the first error (errmsg names the event). */
PTSIM_API int ptsim_trace_run(struct ptsim_trace *t, struct ptsim_machine *m);

/**
 * struct ptsim_trace_hooks - what ptsim_trace_run_with() tells its caller while it runs.
 * @progress: if set, called after every @progress_every-th event (0: only at the end) and
 *            once when the replay stops, with the events done so far and the events of the
 *            whole trace (counting repeats; 0 if that is not known before running, e.g. a
 *            repeat count stepped by an outer repeat).  It must not call into the machine.
 * @ctx:      passed to @progress.
 * @op_events: if not NULL, ptsim_trace_op_count() counters: each event that ran adds one
 *            to the entry of its op (named by ptsim_trace_op_name()).
 */
struct ptsim_trace_hooks {
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
	uint64_t progress_every;
	uint64_t *op_events;
};

/** ptsim_trace_run_with - ptsim_trace_run() with progress reports and per-op event counts (@h may be NULL). */
PTSIM_API int ptsim_trace_run_with(struct ptsim_trace *t, struct ptsim_machine *m, const struct ptsim_trace_hooks *h);

/** ptsim_trace_op_count / ptsim_trace_op_name - the trace ops ("spawn", "munmap", ...), for op_events. */
PTSIM_API size_t ptsim_trace_op_count(void);
PTSIM_API const char *ptsim_trace_op_name(size_t i);

#endif
