/* Studies: traces x axes, the combinations and what each one runs (study.h). */
#include "study.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The machine settings an axis may vary besides the variants, and how a label shows them. */
static const struct {
	const char *key;
	bool bare;   /* the label shows the value alone ("6.12", "arm64"), not key=value */
	bool number; /* a positive integer */
} settings[] = {
	{ "preset", true, false },  { "arch", true, false },    { "cpus", false, true },
	{ "granule", false, true }, { "va_bits", false, true }, { "paging_levels", false, true },
};
#define NR_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static int setting(const char *key)
{
	for (size_t i = 0; i < NR_SETTINGS; i++)
		if (!strcmp(settings[i].key, key))
			return (int)i;
	return -1;
}

static bool is_variant(const char *key)
{
	for (size_t i = 0; i < ptsim_variant_count(); i++)
		if (!strcmp(ptsim_variant_key(i), key))
			return true;
	return false;
}

int study_add_trace(struct study *s, const char *path)
{
	struct study_trace *n = realloc(s->traces, (s->nr_traces + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	s->traces = n;
	memset(&n[s->nr_traces], 0, sizeof(n[0]));
	n[s->nr_traces++].path = path;
	return 0;
}

/* Check item @it (key and value) and make its texts; -EINVAL having said why. */
static int item_finish(struct study_item *it, bool bare_ok)
{
	int k = setting(it->key);
	unsigned int v;

	if (k < 0 && !is_variant(it->key)) {
		fprintf(stderr, "ptsim: unknown variant key '%s' (ptsim variants lists them; also preset, cpus, arch,"
				" granule, va_bits, paging_levels)\n", it->key);
		return -EINVAL;
	}
	if (!*it->value) {
		fprintf(stderr, "ptsim: %s: an empty value\n", it->key);
		return -EINVAL;
	}
	if (k >= 0 && settings[k].number && !cli_parse_uint(it->value, 1, PTSIM_MAX_CPUS * 8u, &v)) {
		fprintf(stderr, "ptsim: %s=%s: expected a positive integer\n", it->key, it->value);
		return -EINVAL;
	}
	if (k >= 0 && !strcmp(it->key, "cpus") && v > PTSIM_MAX_CPUS) {
		fprintf(stderr, "ptsim: cpus=%s: at most %d CPUs\n", it->value, PTSIM_MAX_CPUS);
		return -EINVAL;
	}
	if (k >= 0 && !strcmp(it->key, "arch") && strcmp(it->value, "x86_64") && strcmp(it->value, "arm64")) {
		fprintf(stderr, "ptsim: arch=%s: expected x86_64 or arm64\n", it->value);
		return -EINVAL;
	}
	size_t len = strlen(it->key) + strlen(it->value) + 2;
	it->kv = malloc(len);
	if (!it->kv)
		return -ENOMEM;
	snprintf(it->kv, len, "%s=%s", it->key, it->value);
	it->text = strdup(k >= 0 && settings[k].bare && bare_ok ? it->value : it->kv);
	return it->text ? 0 : -ENOMEM;
}

int study_add_axis(struct study *s, const char *key, const char *list)
{
	struct study_axis *axes = realloc(s->axes, (s->nr_axes + 1) * sizeof(*axes));
	char *save = NULL;
	const char *cur = key;
	int rc = 0;

	if (!axes)
		return -ENOMEM;
	s->axes = axes;
	struct study_axis *a = &axes[s->nr_axes++];
	memset(a, 0, sizeof(*a));
	a->buf = strdup(list);
	size_t max = 1;
	for (const char *p = list; *p; p++)
		max += *p == ',';
	a->items = calloc(max, sizeof(*a->items));
	if (!a->buf || !a->items)
		return -ENOMEM;
	for (char *tok = strtok_r(a->buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct study_item *it = &a->items[a->n];
		char *eq = key ? NULL : strchr(tok, '=');
		if (eq) {
			*eq = 0;
			for (char *c = tok; *c; c++)
				if (*c == '-')
					*c = '_';
			cur = tok;
			it->value = eq + 1;
		} else {
			it->value = tok;
		}
		if (!cur) {
			fprintf(stderr, "ptsim: --set %s: expected KEY=VALUE first\n", list);
			return -EINVAL;
		}
		it->key = cur;
		a->n++;
		if ((rc = item_finish(it, key != NULL)))
			return rc;
	}
	if (!a->n) {
		fprintf(stderr, "ptsim: %s%s%s: no value\n", key ? "--" : "--set ", key ? key : "", key ? "" : list);
		return -EINVAL;
	}
	return 0;
}

/* The label part of trace @i: its file name without the trace extensions (the path if two share it). */
static char *trace_name(const struct study *s, size_t i)
{
	static const char *const ext[] = { ".jsonl.zst", ".jsonl.gz", ".jsonl", ".json", ".zst", ".gz" };
	const char *p = s->traces[i].path;
	const char *b = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	size_t n = strlen(b);

	for (size_t k = 0; k < s->nr_traces; k++) {
		const char *o = s->traces[k].path;
		const char *ob = strrchr(o, '/') ? strrchr(o, '/') + 1 : o;
		if (k != i && !strcmp(ob, b))
			return strdup(p);
	}
	for (size_t e = 0; e < sizeof(ext) / sizeof(ext[0]); e++) {
		size_t el = strlen(ext[e]);
		if (n > el && !strcmp(b + n - el, ext[e])) {
			n -= el;
			break;
		}
	}
	return strndup(b, n);
}

int study_load(struct study *s)
{
	char err[1024];
	size_t per = 1;

	for (size_t a = 0; a < s->nr_axes; a++) {
		if (__builtin_mul_overflow(per, s->axes[a].n, &per) || per > 1000000) {
			fprintf(stderr, "ptsim: more than 1,000,000 combinations\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (__builtin_mul_overflow(per, s->nr_traces, &s->nr_combos) || s->nr_combos > 1000000) {
		fprintf(stderr, "ptsim: more than 1,000,000 combinations\n");
		return CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < s->nr_traces; i++) {
		int rc = ptsim_trace_load_file(&s->traces[i].t, s->traces[i].path, err, sizeof(err));
		if (rc) {
			cli_error_file(s->traces[i].path, rc == PTSIM_ENOMEM_HOST ? "out of memory" : err);
			return rc == PTSIM_ENOMEM_HOST ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
		}
		if (ptsim_trace_format(s->traces[i].t) == 2 && !strcmp(s->traces[i].path, "-") &&
		    s->nr_combos / s->nr_traces > 1) {
			fprintf(stderr, "ptsim: -: a version 2 trace on standard input runs once: give it as a file "
					"for %zu combinations\n", s->nr_combos / s->nr_traces);
			return CLI_EXIT_USAGE;
		}
		if (!(s->traces[i].name = trace_name(s, i))) {
			fprintf(stderr, "ptsim: out of memory\n");
			return CLI_EXIT_INTERNAL;
		}
	}
	return 0;
}

void study_free(struct study *s)
{
	for (size_t i = 0; i < s->nr_traces; i++) {
		ptsim_trace_free(s->traces[i].t);
		free(s->traces[i].name);
	}
	free(s->traces);
	for (size_t a = 0; a < s->nr_axes; a++) {
		for (size_t k = 0; k < s->axes[a].n; k++) {
			free(s->axes[a].items[k].kv);
			free(s->axes[a].items[k].text);
		}
		free(s->axes[a].items);
		free(s->axes[a].buf);
	}
	free(s->axes);
	memset(s, 0, sizeof(*s));
}

/* The item of each axis in combination @i (@idx: one per axis); returns the trace. */
static size_t decompose(const struct study *s, size_t i, size_t *idx)
{
	for (size_t a = s->nr_axes; a-- > 0;) {
		if (idx)
			idx[a] = i % s->axes[a].n;
		i /= s->axes[a].n;
	}
	return i;
}

size_t study_combo_trace(const struct study *s, size_t i)
{
	return decompose(s, i, NULL);
}

/* The item of axis @a in combination @i. */
static const struct study_item *item_of(const struct study *s, size_t i, size_t a)
{
	for (size_t b = s->nr_axes; b-- > a + 1;)
		i /= s->axes[b].n;
	return &s->axes[a].items[i % s->axes[a].n];
}

enum ptsim_arch study_combo_arch(const struct study *s, size_t i)
{
	struct ptsim_config cfg;

	for (size_t a = 0; a < s->nr_axes; a++) {
		const struct study_item *it = item_of(s, i, a);
		if (!strcmp(it->key, "arch"))
			return !strcmp(it->value, "arm64") ? PTSIM_ARCH_ARM64 : PTSIM_ARCH_X86_64;
	}
	ptsim_trace_config(s->traces[study_combo_trace(s, i)].t, &cfg);
	return cfg.arch;
}

char *study_label(const struct study *s, size_t i)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool any = false;

	if (!f)
		return NULL;
	if (s->nr_traces > 1) {
		fputs(s->traces[study_combo_trace(s, i)].name, f);
		any = true;
	}
	for (size_t a = 0; a < s->nr_axes; a++) {
		if (s->axes[a].n < 2)
			continue;
		fprintf(f, "%s%s", any ? " " : "", item_of(s, i, a)->text);
		any = true;
	}
	if (!any)
		fputs(s->traces[study_combo_trace(s, i)].name, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

int study_combo_config(const struct study *s, size_t i, bool run, struct study_combo *out, char *err, size_t errlen)
{
	const struct study_trace *tr = &s->traces[study_combo_trace(s, i)];
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	out->trace = tr->t;
	out->trace_path = tr->path;
	/* Standard input is read once: study_load() allowed one combination of it. */
	if (run && ptsim_trace_format(tr->t) == 2 && strcmp(tr->path, "-")) {
		int rc = ptsim_trace_load_file(&out->own, tr->path, err, errlen);
		if (rc)
			return rc;
		out->trace = out->own;
	}
	ptsim_trace_config(out->trace, &out->cfg);
	for (const char *const *p = out->cfg.set; p && *p; p++)
		n++;
	out->set = calloc(n + s->nr_axes + 1, sizeof(char *));
	out->label = study_label(s, i);
	if (!out->set || !out->label) {
		study_combo_release(out);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++)
		out->set[k] = out->cfg.set[k];
	/* The architecture first: it drops the trace's geometry, which a geometry axis may then set. */
	for (size_t a = 0; a < s->nr_axes; a++) {
		const struct study_item *it = item_of(s, i, a);
		if (!strcmp(it->key, "arch")) {
			out->cfg.arch = !strcmp(it->value, "arm64") ? PTSIM_ARCH_ARM64 : PTSIM_ARCH_X86_64;
			out->cfg.granule = out->cfg.va_bits = out->cfg.paging_levels = 0;
		}
	}
	for (size_t a = 0; a < s->nr_axes; a++) {
		const struct study_item *it = item_of(s, i, a);
		unsigned int v = 0;
		if (setting(it->key) >= 0 && settings[setting(it->key)].number)
			cli_parse_uint(it->value, 1, PTSIM_MAX_CPUS * 8u, &v);
		if (!strcmp(it->key, "preset"))
			out->cfg.preset = it->value;
		else if (!strcmp(it->key, "cpus"))
			out->cfg.cpus = out->cpus_given = v;
		else if (!strcmp(it->key, "granule"))
			out->cfg.granule = v;
		else if (!strcmp(it->key, "va_bits"))
			out->cfg.va_bits = v;
		else if (!strcmp(it->key, "paging_levels"))
			out->cfg.paging_levels = v;
		else if (strcmp(it->key, "arch"))
			out->set[n++] = it->kv;
	}
	out->cfg.set = out->set;
	return 0;
}

void study_combo_release(struct study_combo *c)
{
	free(c->set);
	free(c->label);
	ptsim_trace_free(c->own);
	c->set = NULL;
	c->label = NULL;
	c->own = NULL;
}

/* ---- counters from the timeline ---- */

bool study_csv_field(const char **p, char *buf, size_t len)
{
	const char *s = *p;
	size_t n = 0;

	if (*s == '"') {
		for (s++; *s; s++) {
			if (*s == '"' && s[1] == '"')
				s++;
			else if (*s == '"') {
				s++;
				break;
			}
			if (n + 1 < len)
				buf[n++] = *s;
		}
	} else {
		for (; *s && *s != ',' && *s != '\n'; s++)
			if (n + 1 < len)
				buf[n++] = *s;
	}
	if (len)
		buf[n] = 0;
	bool more = *s == ',';
	if (more)
		s++;
	*p = s;
	return more;
}

/* Split "NAME@A..B" into its parts (in @buf); @a and @b NULL when absent. */
static void split_spec(const char *spec, char *buf, size_t len, char **name, char **a, char **b)
{
	snprintf(buf, len, "%s", spec);
	*name = buf;
	*a = *b = NULL;
	char *at = strchr(buf, '@');
	if (!at)
		return;
	*at = 0;
	*a = at + 1;
	char *dots = strstr(*a, "..");
	if (dots) {
		*dots = 0;
		*b = dots + 2;
	}
}

/* Index of column @name in the header line @h (0 = mark), or -1. */
static long column_of(const char *h, const char *name)
{
	char field[256];
	long i = 0;
	bool more = true;

	while (more) {
		more = study_csv_field(&h, field, sizeof(field));
		if (!strcmp(field, name))
			return i;
		i++;
	}
	return -1;
}

static bool is_stat(const char *name)
{
	for (size_t i = 0; i < ptsim_stat_count(); i++)
		if (!strcmp(ptsim_stat_name(i), name))
			return true;
	return false;
}

int study_check_counters(const char *opt, const char *const *names, size_t n)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char buf[512], err[256];
	int status = 0;

	/* The columns a timeline has: ask a small machine for its header. */
	ptsim_config_init(&cfg);
	cfg.cpus = 1;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err))) {
		fprintf(stderr, "ptsim: %s\n", err);
		return CLI_EXIT_INTERNAL;
	}
	char *csv = ptsim_report_timeline_csv(m);
	ptsim_machine_destroy(m);
	if (!csv) {
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	for (size_t i = 0; i < n && !status; i++) {
		char *name, *a, *b;
		split_spec(names[i], buf, sizeof(buf), &name, &a, &b);
		if (column_of(csv, name) < 2) {
			fprintf(stderr, "ptsim: %s %s: unknown counter '%s' (docs/counters.md lists them; also vmpte_kb)\n",
				opt, names[i], name);
			status = CLI_EXIT_USAGE;
		} else if ((a && !*a) || (b && !*b)) {
			fprintf(stderr, "ptsim: %s %s: expected NAME@MARK or NAME@MARK1..MARK2\n", opt, names[i]);
			status = CLI_EXIT_USAGE;
		} else if (b && !is_stat(name)) {
			fprintf(stderr, "ptsim: %s %s: %s is a level, not a count: a difference could be negative; "
					"ask for %s@%s and %s@%s\n", opt, names[i], name, name, a, name, b);
			status = CLI_EXIT_USAGE;
		}
	}
	ptsim_free(csv);
	return status;
}

/* The value in column @col of the row for @mark (NULL: the last row, "end"). */
static int row_value(const char *csv, const char *mark, long col, uint64_t *out)
{
	char field[512];
	const char *line = strchr(csv, '\n'), *last = NULL;

	while (line && line[1]) {
		const char *p = ++line;
		study_csv_field(&p, field, sizeof(field));
		if (mark && !strcmp(field, mark)) {
			last = line;
			break;
		}
		if (!mark)
			last = line;
		line = strchr(line, '\n');
	}
	if (!last)
		return -1;
	const char *p = last;
	for (long i = 0; i < col; i++)
		if (!study_csv_field(&p, field, sizeof(field)))
			return -1;
	study_csv_field(&p, field, sizeof(field));
	char *end;
	errno = 0;
	*out = strtoull(field, &end, 10);
	return *end || errno || !field[0] ? -1 : 0;
}

int study_timeline_values(const char *csv, const char *const *names, size_t n, uint64_t *out, char *err,
			  size_t errlen)
{
	char buf[512];

	for (size_t i = 0; i < n; i++) {
		char *name, *a, *b;
		uint64_t va, vb;
		split_spec(names[i], buf, sizeof(buf), &name, &a, &b);
		long col = column_of(csv, name);
		if (col < 2) {
			snprintf(err, errlen, "the timeline has no column '%s'", name);
			return -EINVAL;
		}
		if (row_value(csv, a, col, &va)) {
			snprintf(err, errlen, "-e %s: the trace has no mark '%s'", names[i], a);
			return -EINVAL;
		}
		if (b && row_value(csv, b, col, &vb)) {
			snprintf(err, errlen, "-e %s: the trace has no mark '%s'", names[i], b);
			return -EINVAL;
		}
		if (b && vb < va) {
			snprintf(err, errlen, "-e %s: %s went down from mark '%s' to mark '%s' (in that order?)", names[i],
				 name, a, b);
			return -EINVAL;
		}
		out[i] = b ? vb - va : va;
	}
	return 0;
}
