/* Comparison tables: printing them, and reading them back from JSON (table.h). */
#include "table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "ptsim/ptsim.h"

void cmp_table_free(struct cmp_table *t)
{
	free(t->version);
	for (size_t i = 0; i < t->nr_traces; i++)
		free(t->traces[i]);
	free(t->traces);
	free(t->per);
	for (size_t i = 0; i < t->nr_rows; i++)
		free(t->rows[i]);
	free(t->rows);
	for (size_t i = 0; i < t->nr_cols; i++) {
		free(t->cols[i].label);
		free(t->cols[i].trace);
		free(t->cols[i].arch);
		free(t->cols[i].values);
	}
	free(t->cols);
	memset(t, 0, sizeof(*t));
}

bool cmp_row_is_divided(const struct cmp_table *t, size_t r)
{
	const char *row = t->rows[r];
	size_t n = strcspn(row, "@");

	if (!t->per || (n == strlen("violations") && !strncmp(row, "violations", n)))
		return false;
	for (size_t i = 0; i < ptsim_stat_count(); i++)
		if (strlen(ptsim_stat_name(i)) == n && !strncmp(ptsim_stat_name(i), row, n))
			return true;
	return false;
}

/* Row @r's value in column @c as printed: exact integers, or a ratio with @decimals. */
static void cell(const struct cmp_table *t, size_t r, const struct cmp_column *c, int decimals, char *buf,
		 size_t len)
{
	uint64_t v = c->values[r];

	if (!cmp_row_is_divided(t, r))
		snprintf(buf, len, "%" PRIu64, v);
	else if (!c->per_events)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", decimals, (double)v / (double)c->per_events);
}

/* Text and CSV leave out default rows that are 0 in every column (violations stays). */
static bool row_shown(const struct cmp_table *t, size_t r)
{
	if (!t->default_rows || !strcmp(t->rows[r], "violations"))
		return true;
	for (size_t c = 0; c < t->nr_cols; c++)
		if (t->cols[c].values[r])
			return true;
	return false;
}

static void header_line(const struct cmp_table *t, FILE *f)
{
	fputs("# ptsim compare: ", f);
	for (size_t i = 0; i < t->nr_traces; i++)
		fprintf(f, "%s%s", i ? ", " : "", t->traces[i]);
	fprintf(f, ": %zu %s", t->combinations, cli_plural(t->combinations, "combination", "combinations"));
	if (t->shard_n)
		fprintf(f, ", shard %u/%u (%zu %s)", t->shard_k, t->shard_n, t->nr_cols,
			cli_plural(t->nr_cols, "column", "columns"));
	if (t->per)
		fprintf(f, "; counts per %s event", t->per);
	fputc('\n', f);
}

void cmp_table_text(const struct cmp_table *t, FILE *f)
{
	char buf[64], per_row[80];
	size_t w0 = strlen("counter");
	size_t *w = calloc(t->nr_cols + 1, sizeof(*w));

	if (!w) {
		fputs("out of memory\n", f); /* cannot happen on a memstream that works */
		return;
	}
	snprintf(per_row, sizeof(per_row), "%s events", t->per ? t->per : "");
	if (t->per && strlen(per_row) > w0)
		w0 = strlen(per_row);
	for (size_t r = 0; r < t->nr_rows; r++)
		if (row_shown(t, r) && strlen(t->rows[r]) > w0)
			w0 = strlen(t->rows[r]);
	for (size_t c = 0; c < t->nr_cols; c++) {
		w[c] = strlen(t->cols[c].label);
		for (size_t r = 0; r < t->nr_rows; r++) {
			if (!row_shown(t, r))
				continue;
			cell(t, r, &t->cols[c], 2, buf, sizeof(buf));
			if (strlen(buf) > w[c])
				w[c] = strlen(buf);
		}
		snprintf(buf, sizeof(buf), "%" PRIu64, t->cols[c].per_events);
		if (t->per && strlen(buf) > w[c])
			w[c] = strlen(buf);
	}
	header_line(t, f);
	fprintf(f, "%-*s", (int)w0, "counter");
	for (size_t c = 0; c < t->nr_cols; c++)
		fprintf(f, "  %*s", (int)w[c], t->cols[c].label);
	fputc('\n', f);
	if (t->per) {
		fprintf(f, "%-*s", (int)w0, per_row);
		for (size_t c = 0; c < t->nr_cols; c++)
			fprintf(f, "  %*" PRIu64, (int)w[c], t->cols[c].per_events);
		fputc('\n', f);
	}
	for (size_t r = 0; r < t->nr_rows; r++) {
		if (!row_shown(t, r))
			continue;
		fprintf(f, "%-*s", (int)w0, t->rows[r]);
		for (size_t c = 0; c < t->nr_cols; c++) {
			cell(t, r, &t->cols[c], 2, buf, sizeof(buf));
			fprintf(f, "  %*s", (int)w[c], buf);
		}
		fputc('\n', f);
	}
	free(w);
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n\r")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void cmp_table_csv(const struct cmp_table *t, FILE *f)
{
	char buf[64];

	fputs("counter", f);
	for (size_t c = 0; c < t->nr_cols; c++) {
		fputc(',', f);
		csv_field(f, t->cols[c].label);
	}
	fputc('\n', f);
	if (t->per) {
		snprintf(buf, sizeof(buf), "%s events", t->per);
		csv_field(f, buf);
		for (size_t c = 0; c < t->nr_cols; c++)
			fprintf(f, ",%" PRIu64, t->cols[c].per_events);
		fputc('\n', f);
	}
	for (size_t r = 0; r < t->nr_rows; r++) {
		if (!row_shown(t, r))
			continue;
		csv_field(f, t->rows[r]);
		for (size_t c = 0; c < t->nr_cols; c++) {
			cell(t, r, &t->cols[c], 4, buf, sizeof(buf));
			fprintf(f, ",%s", buf);
		}
		fputc('\n', f);
	}
}

void cmp_table_json(const struct cmp_table *t, FILE *f)
{
	char buf[64];

	fputs("{\"ptsim_compare\":1,\"ptsim_version\":", f);
	cli_json_string(f, t->version);
	fputs(",\"traces\":[", f);
	for (size_t i = 0; i < t->nr_traces; i++) {
		if (i)
			fputc(',', f);
		cli_json_string(f, t->traces[i]);
	}
	fprintf(f, "],\"combinations\":%zu", t->combinations);
	if (t->shard_n)
		fprintf(f, ",\"shard\":[%u,%u]", t->shard_k, t->shard_n);
	fputs(",\"per\":", f);
	if (t->per)
		cli_json_string(f, t->per);
	else
		fputs("null", f);
	fprintf(f, ",\"default_counters\":%s,\"counters\":[", t->default_rows ? "true" : "false");
	for (size_t r = 0; r < t->nr_rows; r++) {
		if (r)
			fputc(',', f);
		cli_json_string(f, t->rows[r]);
	}
	fputs("],\"columns\":[", f);
	for (size_t c = 0; c < t->nr_cols; c++) {
		const struct cmp_column *col = &t->cols[c];
		fprintf(f, "%s{\"index\":%zu,\"label\":", c ? "," : "", col->index);
		cli_json_string(f, col->label);
		fputs(",\"trace\":", f);
		cli_json_string(f, col->trace);
		fputs(",\"arch\":", f);
		cli_json_string(f, col->arch);
		fprintf(f, ",\"violations\":%" PRIu64, col->violations);
		if (t->per)
			fprintf(f, ",\"per_events\":%" PRIu64, col->per_events);
		fputs(",\"values\":{", f);
		for (size_t r = 0; r < t->nr_rows; r++) {
			if (r)
				fputc(',', f);
			cli_json_string(f, t->rows[r]);
			fprintf(f, ":%" PRIu64, col->values[r]);
		}
		fputc('}', f);
		if (t->per) {
			fputs(",\"per_op\":{", f);
			bool first = true;
			for (size_t r = 0; r < t->nr_rows; r++) {
				if (!cmp_row_is_divided(t, r))
					continue;
				if (!first)
					fputc(',', f);
				first = false;
				cli_json_string(f, t->rows[r]);
				cell(t, r, col, 4, buf, sizeof(buf));
				fprintf(f, ":%s", buf[0] == '-' ? "null" : buf);
			}
			fputc('}', f);
		}
		fputc('}', f);
	}
	fputs("]}\n", f);
}

static void print_text(FILE *f, const void *t)
{
	cmp_table_text(t, f);
}

static void print_json(FILE *f, const void *t)
{
	cmp_table_json(t, f);
}

static void print_csv(FILE *f, const void *t)
{
	cmp_table_csv(t, f);
}

char *cmp_table_render(const struct cmp_table *t, enum cmp_format f)
{
	return cli_sprint(f == CMP_JSON ? print_json : f == CMP_CSV ? print_csv : print_text, t);
}

int cmp_table_status(const struct cmp_table *t)
{
	for (size_t c = 0; c < t->nr_cols; c++)
		if (t->cols[c].violations)
			return CLI_EXIT_VIOLATIONS;
	return CLI_EXIT_CLEAN;
}

/* ---- reading a table back ---- */

static int bad(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "not a 'ptsim compare --json' output: %s", what);
	return -1;
}

static char *dup_str(const struct json *v)
{
	const char *s = json_str(v);
	return s ? strdup(s) : NULL;
}

static int read_columns(const struct json *cols, struct cmp_table *t, char *err, size_t errlen)
{
	t->cols = calloc(cols->n ? cols->n : 1, sizeof(*t->cols));
	if (!t->cols)
		return bad(err, errlen, "out of memory");
	for (size_t c = 0; c < cols->n; c++) {
		const struct json *o = &cols->items[c];
		struct cmp_column *col = &t->cols[c];
		uint64_t index;
		t->nr_cols++;
		col->values = calloc(t->nr_rows ? t->nr_rows : 1, sizeof(uint64_t));
		col->label = dup_str(json_get(o, "label"));
		col->trace = dup_str(json_get(o, "trace"));
		col->arch = dup_str(json_get(o, "arch"));
		if (!col->values || !col->label || !col->trace || !col->arch)
			return bad(err, errlen, "a column without label, trace or arch");
		if (!json_u64(json_get(o, "index"), &index) || index >= t->combinations)
			return bad(err, errlen, "a column index out of range");
		col->index = (size_t)index;
		if (!json_u64(json_get(o, "violations"), &col->violations))
			return bad(err, errlen, "a column without violations");
		if (t->per && !json_u64(json_get(o, "per_events"), &col->per_events))
			return bad(err, errlen, "a column without per_events");
		const struct json *vals = json_get(o, "values");
		for (size_t r = 0; r < t->nr_rows; r++)
			if (!json_u64(json_get(vals, t->rows[r]), &col->values[r]))
				return bad(err, errlen, "a column without the value of a counter");
	}
	return 0;
}

int cmp_table_from_json(const char *text, struct cmp_table *t, char *err, size_t errlen)
{
	struct json j;
	uint64_t n;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (json_parse(text, &j, err, errlen))
		return -1;
	const struct json *traces = json_get(&j, "traces"), *rows = json_get(&j, "counters");
	const struct json *cols = json_get(&j, "columns"), *shard = json_get(&j, "shard");
	const struct json *per = json_get(&j, "per"), *def = json_get(&j, "default_counters");
	if (!json_u64(json_get(&j, "ptsim_compare"), &n) || n != 1) {
		bad(err, errlen, "no \"ptsim_compare\": 1");
		goto out;
	}
	if (!traces || traces->type != JSON_ARRAY || !rows || rows->type != JSON_ARRAY || !cols ||
	    cols->type != JSON_ARRAY || !per || !def || def->type != JSON_BOOL) {
		bad(err, errlen, "traces, counters, columns, per or default_counters missing");
		goto out;
	}
	t->version = dup_str(json_get(&j, "ptsim_version"));
	if (!t->version || !json_u64(json_get(&j, "combinations"), &n)) {
		bad(err, errlen, "no version or combinations");
		goto out;
	}
	t->combinations = (size_t)n;
	if (shard) {
		uint64_t k, sn;
		if (shard->type != JSON_ARRAY || shard->n != 2 || !json_u64(&shard->items[0], &k) ||
		    !json_u64(&shard->items[1], &sn) || !k || k > sn || sn > 1000000) {
			bad(err, errlen, "a bad shard");
			goto out;
		}
		t->shard_k = (unsigned int)k;
		t->shard_n = (unsigned int)sn;
	}
	if (per->type == JSON_STRING && !(t->per = strdup(per->text))) {
		bad(err, errlen, "out of memory");
		goto out;
	}
	t->default_rows = def->boolean;
	t->traces = calloc(traces->n + 1, sizeof(char *));
	t->rows = calloc(rows->n + 1, sizeof(char *));
	if (!t->traces || !t->rows) {
		bad(err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < traces->n; i++, t->nr_traces++)
		if (!(t->traces[i] = dup_str(&traces->items[i]))) {
			bad(err, errlen, "a trace that is not a string");
			goto out;
		}
	for (size_t i = 0; i < rows->n; i++, t->nr_rows++)
		if (!(t->rows[i] = dup_str(&rows->items[i]))) {
			bad(err, errlen, "a counter that is not a string");
			goto out;
		}
	rc = read_columns(cols, t, err, errlen);
out:
	json_free(&j);
	if (rc)
		cmp_table_free(t);
	return rc;
}
