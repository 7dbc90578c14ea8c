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

#endif
