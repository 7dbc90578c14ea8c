/*
 * ptsim merge: join the --json outputs of `ptsim compare --shard K/N` (run
 * anywhere: GNU parallel, a cluster's job array) into the table the unsharded
 * `ptsim compare` prints, byte for byte (docs/studies.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "table.h"

const char cmd_merge_usage[] =
	"usage: ptsim merge SHARD... [OPTION]...\n"
	"Join the outputs of 'ptsim compare ... --shard K/N --json' (files, or - for standard input)\n"
	"into the table the same ptsim compare without --shard prints.  Every combination must be\n"
	"in exactly one shard.\n"
	"  --json, --csv          the table as JSON or CSV (as ptsim compare --json / --csv)\n"
	"  -o, --output FILE      write the table to FILE (- standard output, the default)\n"
	"  -h, --help             this text\n"
	"Exit status: 0 clean, 3 violations recorded in a column, 2 bad input or usage, 1 internal\n"
	"failure.\n";

static bool same_strings(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

/* Whether shard @s belongs to the same study as @t; says why not. */
static bool same_study(const struct cmp_table *t, const struct cmp_table *s, const char *path)
{
	const char *what = NULL;

	if (strcmp(t->version, s->version))
		what = "was computed by another ptsim version";
	else if (!same_strings(t->traces, t->nr_traces, s->traces, s->nr_traces))
		what = "ran other traces";
	else if (t->combinations != s->combinations)
		what = "has another number of combinations";
	else if ((t->per == NULL) != (s->per == NULL) || (t->per && strcmp(t->per, s->per)))
		what = "divides by another op (--per)";
	else if (t->default_rows != s->default_rows || !same_strings(t->rows, t->nr_rows, s->rows, s->nr_rows))
		what = "has other counters (-e)";
	if (what)
		fprintf(stderr, "ptsim: %s: this shard %s than the first\n", path, what);
	return !what;
}

static int by_index(const void *a, const void *b)
{
	const struct cmp_column *x = a, *y = b;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Move the columns of @s to the end of @t. */
static int take_columns(struct cmp_table *t, struct cmp_table *s)
{
	struct cmp_column *n = realloc(t->cols, (t->nr_cols + s->nr_cols + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	t->cols = n;
	memcpy(&t->cols[t->nr_cols], s->cols, s->nr_cols * sizeof(*n));
	t->nr_cols += s->nr_cols;
	s->nr_cols = 0;
	return 0;
}

/* Every combination exactly once; says which are missing or doubled. */
static int check_columns(const struct cmp_table *t)
{
	size_t missing = 0;

	for (size_t c = 1; c < t->nr_cols; c++)
		if (t->cols[c].index == t->cols[c - 1].index) {
			fprintf(stderr, "ptsim: combination %zu (%s) is in two shards\n", t->cols[c].index + 1,
				t->cols[c].label);
			return CLI_EXIT_USAGE;
		}
	for (size_t c = 0, i = 0; i < t->combinations; i++) {
		if (c < t->nr_cols && t->cols[c].index == i) {
			c++;
			continue;
		}
		if (!missing++)
			fprintf(stderr, "ptsim: missing combinations (a shard not given, or not run):");
		if (missing <= 20)
			fprintf(stderr, " %zu/%zu", i + 1, t->combinations);
	}
	if (missing) {
		fprintf(stderr, "%s (%zu of %zu)\n", missing > 20 ? " ..." : "", missing, t->combinations);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int merge(char **paths, size_t n, enum cmp_format format, struct cli_output *out)
{
	struct cmp_table t = { 0 }, s;
	char err[512];
	int status = 0;

	for (size_t i = 0; i < n && !status; i++) {
		char *text = cli_read_file(paths[i], NULL, err, sizeof(err));
		if (!text) {
			cli_error_file(paths[i], err);
			status = CLI_EXIT_USAGE;
			break;
		}
		int rc = cmp_table_from_json(text, i ? &s : &t, err, sizeof(err));
		free(text);
		if (rc) {
			cli_error_file(paths[i], err);
			status = CLI_EXIT_USAGE;
			break;
		}
		if (!i)
			continue;
		if (!same_study(&t, &s, paths[i]))
			status = CLI_EXIT_USAGE;
		else if (take_columns(&t, &s))
			status = CLI_EXIT_INTERNAL;
		cmp_table_free(&s);
	}
	if (!status) {
		qsort(t.cols, t.nr_cols, sizeof(t.cols[0]), by_index);
		status = check_columns(&t);
	}
	if (!status) {
		t.shard_k = t.shard_n = 0;
		char *text = cmp_table_render(&t, format);
		if (!(status = cli_outputs_open(out, 1)))
			status = cli_outputs_write(out, (const char *const *)&text, 1);
		free(text);
		if (!status)
			status = cmp_table_status(&t);
	}
	cmp_table_free(&t);
	return status;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "csv", no_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_output out = { .path = "-", .what = "table" };
	enum cmp_format format = CMP_TEXT;
	int c, st = 0;

	while ((c = cli_getopt(argc, argv, "o:h", longopts, &st)) != -1) {
		if (c == 'h') {
			cli_usage(stdout, "merge");
			return CLI_EXIT_CLEAN;
		}
		if (c == 'o')
			out.path = optarg;
		else if (c == 'j' || c == 'c')
			format = c == 'j' ? CMP_JSON : CMP_CSV;
		else
			return CLI_EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "ptsim merge: no shard given\n");
		cli_usage(stderr, "merge");
		return CLI_EXIT_USAGE;
	}
	return merge(argv + optind, (size_t)(argc - optind), format, &out);
}
