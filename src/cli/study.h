/*
 * A study: traces x axes of values (presets, variant values, CPU counts,
 * architectures, geometries), numbered combinations, the machine config of
 * each, and the counters read from a run's timeline.  `ptsim compare` and
 * `ptsim plot` are built on it.
 */
#ifndef PTSIM_CLI_STUDY_H
#define PTSIM_CLI_STUDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ptsim/ptsim.h"

struct study_item {
	const char *key;   /* "preset", "cpus", "arch", "granule", "va_bits", "paging_levels" or a variant key */
	const char *value;
	char *kv;          /* "key=value" (a variant's --set pair) */
	char *text;        /* its part of a column label */
};

struct study_axis {
	struct study_item *items;
	size_t n;
	char *buf;         /* the option's value, split in place */
};

struct study_trace {
	const char *path;  /* as given */
	char *name;        /* its part of a column label (the file name without .json...) */
	struct ptsim_trace *t;
};

struct study {
	struct study_trace *traces;
	size_t nr_traces;
	struct study_axis *axes;
	size_t nr_axes;
	size_t nr_combos;  /* after study_load() */
};

/* study_add_trace - one more trace (loaded by study_load()).  Return: 0 or -ENOMEM. */
int study_add_trace(struct study *s, const char *path);
/*
 * study_add_axis - one more axis: @key's comma-separated values in @list, or
 * (@key NULL, --set) "KEY=V1,V2,KEY2=V3": an item with '=' names its key, one
 * without takes the key before it.  Return: 0, -ENOMEM, or -EINVAL having said why.
 */
int study_add_axis(struct study *s, const char *key, const char *list);
/*
 * study_load - load the traces (one after the other) and count the
 * combinations.  Return: a CLI_EXIT_* status (0: loaded), having said why.
 */
int study_load(struct study *s);
void study_free(struct study *s);

/* Combination @i (0 .. nr_combos-1): its trace, its architecture, its column label (malloc'd). */
size_t study_combo_trace(const struct study *s, size_t i);
enum ptsim_arch study_combo_arch(const struct study *s, size_t i);
char *study_label(const struct study *s, size_t i);

/* What it takes to build and run combination @i. */
struct study_combo {
	struct ptsim_trace *trace;  /* v1: shared by the combinations of a trace (only run it); v2: its own */
	struct ptsim_trace *own;    /* a v2 trace loaded for this combination (runs once), or NULL */
	const char *trace_path;
	char *label;
	struct ptsim_config cfg;
	const char **set;           /* cfg.set: the trace's pairs, then the combination's */
	unsigned int cpus_given;    /* a cpus value of the study, 0 if none */
};
/*
 * study_combo_config - fill @out (release it with study_combo_release()).  To
 * run it (@run), a v2 trace, which runs only once, is loaded again for the
 * combination.  Return: 0, -ENOMEM, or the loader's error with @err.
 */
int study_combo_config(const struct study *s, size_t i, bool run, struct study_combo *out, char *err, size_t errlen);
void study_combo_release(struct study_combo *c);

/*
 * study_check_counters - whether every name in @names is something
 * study_timeline_values() can read: NAME (a column of the timeline CSV:
 * a counter of docs/counters.md, vmpte_kb, ...), NAME@MARK, or
 * NAME@MARK1..MARK2 (a counter only: a level such as vmpte_kb can go down).
 * Return: 0, or a CLI_EXIT_* status having said which is wrong (naming option @opt).
 */
int study_check_counters(const char *opt, const char *const *names, size_t n);

/*
 * study_timeline_values - read the counters @names from a timeline CSV
 * (ptsim_report_timeline_csv()): NAME at the end, NAME@MARK at the first mark
 * of that name, NAME@A..B the difference.  Return: 0, or -EINVAL with @err
 * naming the missing mark or column.
 */
int study_timeline_values(const char *csv, const char *const *names, size_t n, uint64_t *out, char *err,
			  size_t errlen);

/*
 * study_csv_field - read one CSV field at *@p (quoted or not) into @buf (cut
 * to @len), leaving *@p after its ',' (or at the end of the line).  Return:
 * false at the end of the line.
 */
bool study_csv_field(const char **p, char *buf, size_t len);

#endif
