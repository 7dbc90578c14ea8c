/*
 * Traces: workload files replayed on a machine (docs/trace-format.md).
 *
 *   struct ptsim_trace *t;
 *   ptsim_trace_load_file(&t, "w.json", err, sizeof err);
 *   struct ptsim_config cfg;
 *   ptsim_trace_config(t, &cfg);          // machine section of the trace
 *   ptsim_machine_create(&m, &cfg, err, sizeof err);
 *   ptsim_trace_run(t, m);                // 0, or an error naming the event
 *
 * Two formats, told apart by content: v1 is one JSON document with an
 * "events" array, loaded whole; v2 is JSON Lines (a header line, then one
 * event per line), of which loading reads only the header: the events are
 * read, parsed and run one line at a time by ptsim_trace_run(), in memory
 * that does not grow with their number.  Either may be gzip- or
 * zstd-compressed (told by the first bytes); "-" as a path is standard input.
 */
#ifndef PTSIM_TRACE_H
#define PTSIM_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include "ptsim/config.h"
#include "ptsim/export.h"

struct ptsim_machine;
struct ptsim_trace;

#define PTSIM_TRACE_OPTIONS_VERSION 1

/* Limits of trace input and replay; 0 in any field means its default. */
struct ptsim_trace_options {
	unsigned int version;                /* PTSIM_TRACE_OPTIONS_VERSION */
	unsigned long long max_input_bytes;  /* a v1 document after decompression (default 1 GiB) */
	unsigned long long max_line_bytes;   /* one line of a v2 trace (default 16 MiB) */
	unsigned long long max_events;       /* events after repeat expansion plus touch accesses (default 10^9) */
};

#define PTSIM_TRACE_DEFAULT_MAX_INPUT (1ull << 30)
#define PTSIM_TRACE_DEFAULT_MAX_LINE (16ull << 20)
#define PTSIM_TRACE_DEFAULT_MAX_EVENTS 1000000000ull

/** ptsim_trace_options_init - the version and the default limits. */
PTSIM_API void ptsim_trace_options_init(struct ptsim_trace_options *opts);

/**
 * ptsim_trace_load - load a trace from @len bytes at @data (v1 or v2, plain or
 * compressed; the bytes are copied where needed, the caller keeps @data).
 * A v1 trace is parsed and validated whole; a v2 trace only up to its header.
 * On failure @err names the event (v2: the line) and the field.
 */
PTSIM_API int ptsim_trace_load(struct ptsim_trace **out, const char *data, size_t len,
			       char *err, size_t errlen);
/** ptsim_trace_load_file - the same from a file; "-" reads standard input. */
PTSIM_API int ptsim_trace_load_file(struct ptsim_trace **out, const char *path,
				    char *err, size_t errlen);
/** ..._opts - the same with limits (@opts NULL: the defaults). */
PTSIM_API int ptsim_trace_load_opts(struct ptsim_trace **out, const char *data, size_t len,
				    const struct ptsim_trace_options *opts, char *err, size_t errlen);
PTSIM_API int ptsim_trace_load_file_opts(struct ptsim_trace **out, const char *path,
					 const struct ptsim_trace_options *opts, char *err, size_t errlen);
PTSIM_API void ptsim_trace_free(struct ptsim_trace *t);

/** ptsim_trace_format - 1 (a JSON document) or 2 (JSON Lines). */
PTSIM_API int ptsim_trace_format(const struct ptsim_trace *t);
/**
 * ptsim_trace_recorded - the trace's "recorded" object (a recorder's
 * real-kernel counts) as compact JSON text, or NULL if it has none.  A v2
 * trailer line is known only after ptsim_trace_run() has read it.  Borrowed
 * from @t.
 */
PTSIM_API const char *ptsim_trace_recorded(const struct ptsim_trace *t);

/**
 * ptsim_trace_config - the trace's machine section as a config.  Strings in it
 * (preset, set) are borrowed from @t.  Overrides given to ptsim_trace_config_add()
 * are applied after the trace's own "set" (command-line --set wins).
 */
PTSIM_API int ptsim_trace_config(struct ptsim_trace *t, struct ptsim_config *cfg);
PTSIM_API int ptsim_trace_config_add(struct ptsim_trace *t, const char *key_eq_value);

/**
 * ptsim_trace_run - replay every event on @m.  Return: 0 or the first error
 * (errmsg names the event).  A v1 trace can be run any number of times (on
 * fresh machines); a v2 trace's events are read as they run, so only once: a
 * second call returns -EINVAL.
 */
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

/* Compression of a written trace. */
enum ptsim_compress {
	PTSIM_COMPRESS_NONE = 0,
	PTSIM_COMPRESS_GZIP = 1,
	PTSIM_COMPRESS_ZSTD = 2,
};

#define PTSIM_TRACE_CONVERT_OPTIONS_VERSION 1

struct ptsim_trace_convert_options {
	unsigned int version;                       /* PTSIM_TRACE_CONVERT_OPTIONS_VERSION */
	int to;                                     /* 1 or 2; 0: the other format than the input's */
	int expand_repeats;                         /* nonzero: write each repeat's iterations out */
	int compress;                               /* enum ptsim_compress; -1: by the output's name (.gz, .zst) */
	const struct ptsim_trace_options *limits;   /* NULL: the defaults (max_events bounds expansion) */
};

/** ptsim_trace_convert_options_init - the version; to 0, no expansion, compression by name. */
PTSIM_API void ptsim_trace_convert_options_init(struct ptsim_trace_convert_options *opts);

/**
 * ptsim_trace_convert - write the trace @in (a path, "-" standard input; v1 or
 * v2, plain or compressed) to @out (a path, "-" standard output) in the other
 * format (or opts->to).  The input is checked as ptsim_trace_load*() checks
 * it, line by line for v2, and streamed: a v2 trace is never held whole.  A v1
 * mmap that gives addr gets "fixed": "noreplace" in v2 (its v1 meaning).  On an
 * error a file @out is removed (standard output may hold part of the trace).
 */
PTSIM_API int ptsim_trace_convert(const char *in, const char *out,
				  const struct ptsim_trace_convert_options *opts, char *err, size_t errlen);

#endif
