/*
 * A comparison table: a column per combination (trace x preset x variant
 * values x CPU count), a row per counter.  `ptsim compare` fills one from its
 * runs, `ptsim merge` from the JSON of compare's shards; both print it with
 * the same functions, so a merged table is byte for byte the unsharded one.
 */
#ifndef PTSIM_CLI_TABLE_H
#define PTSIM_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cmp_column {
	size_t index;         /* of the combination, 0-based, in the order of `compare --list` */
	char *label;          /* what sets it apart: "6.12 pt_reclaim=off cpus=4" */
	char *trace;          /* the trace file as given */
	char *arch;           /* "x86_64" or "arm64" */
	uint64_t violations;
	uint64_t per_events;  /* events of the --per op (0 without --per) */
	uint64_t *values;     /* one per row, exact */
};

struct cmp_table {
	char *version;        /* ptsim version that computed it */
	char **traces;
	size_t nr_traces;
	size_t combinations;  /* in the whole study, not only this shard */
	unsigned int shard_k, shard_n; /* this shard (1-based) of shard_n; 0/0: the whole */
	char *per;            /* op the counters are divided by, or NULL */
	bool default_rows;    /* rows are the defaults (no -e): text and CSV hide rows 0 everywhere */
	char **rows;          /* counter specs: NAME, NAME@MARK, NAME@MARK..MARK */
	size_t nr_rows;
	struct cmp_column *cols;
	size_t nr_cols;
};

void cmp_table_free(struct cmp_table *t);

/* Whether row @r is divided by --per (a count of things done, not a level like vmpte_kb). */
bool cmp_row_is_divided(const struct cmp_table *t, size_t r);

/* The table as text (aligned columns), JSON (one object, one line) or CSV. */
void cmp_table_text(const struct cmp_table *t, FILE *f);
void cmp_table_json(const struct cmp_table *t, FILE *f);
void cmp_table_csv(const struct cmp_table *t, FILE *f);

enum cmp_format { CMP_TEXT, CMP_JSON, CMP_CSV };
/* The table in format @f as a string (free() it); NULL if out of memory. */
char *cmp_table_render(const struct cmp_table *t, enum cmp_format f);
/* CLI_EXIT_VIOLATIONS if a column recorded violations, else CLI_EXIT_CLEAN. */
int cmp_table_status(const struct cmp_table *t);

/*
 * cmp_table_from_json - read a table written by cmp_table_json() (a shard).
 * Return: 0, or -1 with @err saying what is wrong.
 */
int cmp_table_from_json(const char *text, struct cmp_table *t, char *err, size_t errlen);

#endif
