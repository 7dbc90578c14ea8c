/*
 * ptsim compare: one or more traces x presets x variant values x CPU counts,
 * run side by side (a thread per machine, -j N), printed as one table with a
 * column per combination and a row per counter (docs/cli.md "ptsim compare",
 * docs/studies.md).
 *
 * The study is a list of axes; each --preset, --cpus, --arch, --set ...
 * option is one axis with its comma-separated values, the traces are the
 * first.  Combinations are numbered like an odometer (the first axis slowest),
 * which is the order of the columns, of --list and of --shard's slices.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "progress.h"
#include "study.h"
#include "table.h"
#include "ptsim/ptsim.h"

const char cmd_compare_usage[] =
	"usage: ptsim compare TRACE... [OPTION]...\n"
	"Run every combination of the traces and the values below, one machine each, and print one\n"
	"table: a column per combination, a row per counter.  Each option is an axis of the study;\n"
	"its values are separated by commas.\n"
	"  --preset P1,P2,...     presets (kernel versions)\n"
	"  --set KEY=V1,V2,...    values of a variant; an item KEY2=V starts another key in the same\n"
	"                         axis (--set x86_flush=ipi,invlpgb,arch=arm64 is three columns);\n"
	"                         keys: the variants (ptsim variants), preset, cpus, arch, granule,\n"
	"                         va_bits, paging_levels\n"
	"  --cpus N1,N2,...       CPU counts\n"
	"  --arch A1,A2           x86_64, arm64 (drops the trace's geometry, as in ptsim run)\n"
	"  --granule, --va-bits, --paging-levels LIST\n"
	"                         geometries\n"
	"  -e, --counters C1,...  the rows: counters (docs/counters.md), vmpte_kb and the other\n"
	"                         timeline columns, at the end of the run, or NAME@MARK at a mark,\n"
	"                         or NAME@MARK1..MARK2 the difference (repeatable; default: the\n"
	"                         architecture's IPI, flush and page-table counters)\n"
	"  --per OP               divide the counts by the number of OP events (e.g. munmap)\n"
	"  --json, --csv          the table as JSON (what ptsim merge reads) or CSV\n"
	"  -o, --output FILE      write the table to FILE (- standard output, the default)\n"
	"  --plot FILE.svg|.png   also draw the table as grouped bars through gnuplot (a group per\n"
	"                         counter, a bar per combination; counters 0 everywhere left out)\n"
	"  --plot-timeline COLUMN with --plot: draw COLUMN (e.g. vmpte_kb) over each combination's\n"
	"                         timeline instead, a line per combination\n"
	"  --plot-log             a logarithmic y axis (default: when the values span 3 decades)\n"
	"  --progress, --no-progress\n"
	"                         a progress line on standard error (default: only when standard\n"
	"                         error is a terminal)\n"
	"  -j, --jobs N           run N machines at a time (default: the number of CPUs online)\n"
	"  --list                 print the combinations, one a line (K/N, a tab, the column label)\n"
	"  --shard K/N            run only the K-th of N slices (combinations i with i mod N = K-1);\n"
	"                         ptsim merge joins the --json outputs of all N into the whole table\n"
	"  -h, --help             this text\n"
	"Exit status: 0 clean, 3 violations recorded in a column, 2 bad input or usage, 1 internal\n"
	"failure.\n";

enum {
	OPT_PRESET = 256,
	OPT_SET,
	OPT_CPUS,
	OPT_ARCH,
	OPT_GRANULE,
	OPT_VA_BITS,
	OPT_LEVELS,
	OPT_PER,
	OPT_JSON,
	OPT_CSV,
	OPT_LIST,
	OPT_SHARD,
	OPT_PLOT,
	OPT_PLOT_TIMELINE,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_PLOT_LOG,
};

static const struct option longopts[] = {
	{ "preset", required_argument, NULL, OPT_PRESET },
	{ "set", required_argument, NULL, OPT_SET },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "granule", required_argument, NULL, OPT_GRANULE },
	{ "va-bits", required_argument, NULL, OPT_VA_BITS },
	{ "paging-levels", required_argument, NULL, OPT_LEVELS },
	{ "counters", required_argument, NULL, 'e' },
	{ "per", required_argument, NULL, OPT_PER },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "output", required_argument, NULL, 'o' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "plot-timeline", required_argument, NULL, OPT_PLOT_TIMELINE },
	{ "plot-log", no_argument, NULL, OPT_PLOT_LOG },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct compare {
	struct study st;
	char **counters;        /* the rows: -e items, or the defaults */
	size_t nr_counters;
	bool counters_given;    /* -e was given */
	const char *per;
	size_t per_op;          /* index of --per's op (ptsim_trace_op_name()) */
	enum cmp_format format;
	struct cli_output out[2];   /* the table, the plot */
	const char *plot_timeline;  /* --plot-timeline COLUMN */
	bool plot_log;
	enum cli_progress_mode progress;
	unsigned int jobs;
	bool list;
	unsigned int shard_k, shard_n;
};

static int add_counters(struct compare *c, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **n = realloc(c->counters, (c->nr_counters + 1) * sizeof(char *));
		if (!n) {
			free(copy);
			return -ENOMEM;
		}
		c->counters = n;
		if (!(c->counters[c->nr_counters] = strdup(tok))) {
			free(copy);
			return -ENOMEM;
		}
		c->nr_counters++;
	}
	free(copy);
	return 0;
}

static bool parse_shard(const char *s, unsigned int *k, unsigned int *n)
{
	char buf[32];
	const char *slash = strchr(s, '/');

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	return cli_parse_uint(buf, 1, 1000000, k) && cli_parse_uint(slash + 1, 1, 1000000, n) && *k <= *n;
}

/* Return: -1 to go on, or the exit status (having said why). */
static int parse(int argc, char **argv, struct compare *c)
{
	int o, st = 0, rc;

	while ((o = cli_getopt(argc, argv, "e:o:j:h", longopts, &st)) != -1) {
		rc = 0;
		switch (o) {
		case OPT_PRESET: rc = study_add_axis(&c->st, "preset", optarg); break;
		case OPT_CPUS: rc = study_add_axis(&c->st, "cpus", optarg); break;
		case OPT_ARCH: rc = study_add_axis(&c->st, "arch", optarg); break;
		case OPT_GRANULE: rc = study_add_axis(&c->st, "granule", optarg); break;
		case OPT_VA_BITS: rc = study_add_axis(&c->st, "va_bits", optarg); break;
		case OPT_LEVELS: rc = study_add_axis(&c->st, "paging_levels", optarg); break;
		case OPT_SET: rc = study_add_axis(&c->st, NULL, optarg); break;
		case 'e': rc = add_counters(c, optarg); break;
		case OPT_PER: c->per = optarg; break;
		case OPT_JSON: c->format = CMP_JSON; break;
		case OPT_CSV: c->format = CMP_CSV; break;
		case 'o': c->out[0].path = optarg; break;
		case OPT_PLOT:
			if (plot_check_path(optarg))
				return CLI_EXIT_USAGE;
			c->out[1].path = optarg;
			break;
		case OPT_PLOT_TIMELINE: c->plot_timeline = optarg; break;
		case OPT_PLOT_LOG: c->plot_log = true; break;
		case OPT_PROGRESS: c->progress = CLI_PROGRESS_ON; break;
		case OPT_NO_PROGRESS: c->progress = CLI_PROGRESS_OFF; break;
		case OPT_LIST: c->list = true; break;
		case 'j':
			if (!cli_parse_uint(optarg, 1, 4096, &c->jobs)) {
				fprintf(stderr, "ptsim: -j %s: expected a number of jobs, 1 to 4096\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_SHARD:
			if (!parse_shard(optarg, &c->shard_k, &c->shard_n)) {
				fprintf(stderr, "ptsim: --shard %s: expected K/N with 1 <= K <= N\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			cli_usage(stdout, "compare");
			return CLI_EXIT_CLEAN;
		default:
			return CLI_EXIT_USAGE;
		}
		if (rc == -ENOMEM) {
			fprintf(stderr, "ptsim: out of memory\n");
			return CLI_EXIT_INTERNAL;
		}
		if (rc)
			return CLI_EXIT_USAGE; /* said by study_add_axis() */
	}
	for (int i = optind; i < argc; i++)
		if (study_add_trace(&c->st, argv[i])) {
			fprintf(stderr, "ptsim: out of memory\n");
			return CLI_EXIT_INTERNAL;
		}
	if (c->plot_timeline && (!c->out[1].path || strchr(c->plot_timeline, '@'))) {
		fprintf(stderr, "ptsim: --plot-timeline %s: %s\n", c->plot_timeline,
			c->out[1].path ? "a column of the timeline (no @MARK)" : "goes with --plot FILE");
		return CLI_EXIT_USAGE;
	}
	if (!c->st.nr_traces) {
		fprintf(stderr, "ptsim compare: no trace given\n");
		cli_usage(stderr, "compare");
		return CLI_EXIT_USAGE;
	}
	return -1;
}

/*
 * Counters shown when -e is not given: what the architectures of the study
 * pay for TLB coherence and page tables.  A row that is 0 in every column is
 * left out of the text and CSV tables.
 */
static const char *const x86_rows[] = {
	"ipi.calls.tlb_flush", "ipi.received.tlb_flush", "tlb.nr_tlb_remote_flush", "tlb.remote.full",
	"tlb.remote.partial", "tlb.local.full", "tlb.local.partial", "tlb.invlpgb", "tlb.invlpgb_full",
	"tlb.tlbsync", NULL,
};
static const char *const arm64_rows[] = {
	"tlbi.vale1is", "tlbi.vae1is", "tlbi.rvale1is", "tlbi.rvae1is", "tlbi.aside1is", "tlbi.vmalle1is",
	"tlbi.dsb_ish", NULL,
};
static const char *const common_rows[] = {
	"ipi.calls.table_sync", "ipi.received.table_sync", "hugetlb.unshare_broadcasts", "pgtables_freed.pte",
	"pt_reclaim.tables_freed", "vmpte_kb", "faults.total", "violations", NULL,
};

static int add_row(struct compare *c, const char *name)
{
	for (size_t i = 0; i < c->nr_counters; i++)
		if (!strcmp(c->counters[i], name))
			return 0;
	return add_counters(c, name);
}

/* The x86 rows if the study has an x86 machine, the arm64 ones if it has an arm64 one, then the common rows. */
static int default_rows(struct compare *c)
{
	bool arch[2] = { false, false };

	for (size_t i = 0; i < c->st.nr_combos; i++)
		arch[study_combo_arch(&c->st, i) == PTSIM_ARCH_ARM64] = true;
	for (int a = 0; a < 3; a++) {
		if (a < 2 && !arch[a])
			continue;
		for (const char *const *r = a == 0 ? x86_rows : a == 1 ? arm64_rows : common_rows; *r; r++)
			if (add_row(c, *r))
				return -ENOMEM;
	}
	return 0;
}

/* --per OP names an op of the trace format. */
static int check_per(struct compare *c)
{
	if (!c->per)
		return 0;
	for (size_t i = 0; i < ptsim_trace_op_count(); i++)
		if (!strcmp(ptsim_trace_op_name(i), c->per)) {
			c->per_op = i;
			return 0;
		}
	fprintf(stderr, "ptsim: --per %s: not an op of the trace format (one of:", c->per);
	for (size_t i = 0; i < ptsim_trace_op_count(); i++)
		fprintf(stderr, " %s", ptsim_trace_op_name(i));
	fprintf(stderr, ")\n");
	return CLI_EXIT_USAGE;
}

/* ---- running the combinations ---- */

struct result {
	int rc;
	char *error;          /* "TRACE (LABEL): message", when rc != 0 */
	uint64_t *values;     /* one per counter */
	uint64_t per_events;
	uint64_t violations;
	struct plot_series series;  /* --plot-timeline */
	const char *xlabel;
	bool done;
};

struct runner {
	struct compare *c;
	size_t *todo;         /* combination indices this process runs */
	size_t nr_todo;
	struct result *res;   /* per entry of todo */
	pthread_mutex_t lock;
	struct cli_progress progress;
	size_t next;
	bool failed;          /* a combination failed: start no more */
};

static void set_error(struct result *r, int rc, const char *fmt, const char *a, const char *b, const char *msg)
{
	size_t len = strlen(a) + strlen(b) + strlen(msg) + strlen(fmt) + 1;

	r->rc = rc;
	r->error = malloc(len);
	if (r->error)
		snprintf(r->error, len, fmt, a, b, msg);
}

static void run_combo(struct runner *rn, size_t k)
{
	struct compare *c = rn->c;
	struct result *r = &rn->res[k];
	size_t i = rn->todo[k];
	struct study_combo sc;
	struct ptsim_machine *m = NULL;
	char err[1024];
	int rc;

	rc = study_combo_config(&c->st, i, true, &sc, err, sizeof(err));
	if (rc) {
		if (rc == -ENOMEM || rc == PTSIM_ENOMEM_HOST)
			set_error(r, rc, "%s%s%s", "", "", "out of memory");
		else
			set_error(r, rc, "%s: %s%s", c->st.traces[study_combo_trace(&c->st, i)].path, "", err);
		r->done = true;
		return;
	}
	rc = ptsim_machine_create(&m, &sc.cfg, err, sizeof(err));
	if (rc) {
		set_error(r, rc, "%s (%s): machine: %s", sc.trace_path, sc.label, err);
		goto out;
	}
	uint64_t *ops = calloc(ptsim_trace_op_count(), sizeof(uint64_t));
	struct cli_progress_run prun = { &rn->progress, 0, 0 };
	struct ptsim_trace_hooks hooks = { .op_events = ops, .progress = rn->progress.on ? cli_progress_hook : NULL,
					   .ctx = &prun, .progress_every = CLI_PROGRESS_EVERY };
	if (!ops) {
		rc = -ENOMEM;
		set_error(r, rc, "%s%s%s", "", "", "out of memory");
		goto out;
	}
	cli_progress_combo(&rn->progress, true);
	rc = ptsim_trace_run_with(sc.trace, m, &hooks);
	cli_progress_combo(&rn->progress, false);
	if (rc) {
		char hint[512], msg[sizeof(err) + sizeof(hint) + 16];
		if (cli_cpus_hint(sc.cpus_given, rc, ptsim_machine_errmsg(m), hint, sizeof(hint)))
			snprintf(msg, sizeof(msg), "%s\nptsim: %s", ptsim_machine_errmsg(m), hint);
		else
			snprintf(msg, sizeof(msg), "%s", ptsim_machine_errmsg(m));
		set_error(r, rc, "%s (%s): %s", sc.trace_path, sc.label, msg);
		free(ops);
		goto out;
	}
	r->per_events = c->per ? ops[c->per_op] : 0;
	free(ops);
	r->violations = ptsim_violation_count(m);
	r->values = calloc(c->nr_counters ? c->nr_counters : 1, sizeof(uint64_t));
	char *csv = ptsim_report_timeline_csv(m);
	if (!r->values || !csv) {
		ptsim_free(csv);
		rc = -ENOMEM;
		set_error(r, rc, "%s%s%s", "", "", "out of memory");
		goto out;
	}
	rc = study_timeline_values(csv, (const char *const *)c->counters, c->nr_counters, r->values, err, sizeof(err));
	if (!rc && c->plot_timeline)
		rc = plot_timeline_series(csv, NULL, c->plot_timeline, sc.label, &r->series, &r->xlabel, err, sizeof(err));
	ptsim_free(csv);
	if (rc == -ENOMEM)
		set_error(r, rc, "%s%s%s", "", "", "out of memory");
	else if (rc)
		set_error(r, rc, "%s (%s): %s", sc.trace_path, sc.label, err);
out:
	r->rc = rc;
	r->done = true;
	ptsim_machine_destroy(m);
	study_combo_release(&sc);
}

static void *worker(void *arg)
{
	struct runner *rn = arg;

	for (;;) {
		pthread_mutex_lock(&rn->lock);
		size_t k = rn->next;
		bool stop = rn->failed || k >= rn->nr_todo;
		if (!stop)
			rn->next++;
		pthread_mutex_unlock(&rn->lock);
		if (stop)
			return NULL;
		run_combo(rn, k);
		if (rn->res[k].rc) {
			pthread_mutex_lock(&rn->lock);
			rn->failed = true;
			pthread_mutex_unlock(&rn->lock);
		}
	}
}

/* Run every combination of rn->todo on up to c->jobs threads. */
static int run_all(struct runner *rn)
{
	unsigned int n = rn->c->jobs;
	pthread_t *th;

	if (n > rn->nr_todo)
		n = (unsigned int)rn->nr_todo;
	if (n <= 1) {
		worker(rn);
		return 0;
	}
	th = calloc(n, sizeof(*th));
	if (!th)
		return -ENOMEM;
	unsigned int started = 0;
	for (; started < n; started++)
		if (pthread_create(&th[started], NULL, worker, rn))
			break;
	if (!started)
		worker(rn);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	return 0;
}

/* ---- the table ---- */

static int make_table(struct compare *c, struct runner *rn, struct cmp_table *t)
{
	memset(t, 0, sizeof(*t));
	t->version = strdup(PTSIM_VERSION_STRING);
	t->traces = calloc(c->st.nr_traces, sizeof(char *));
	t->rows = calloc(c->nr_counters ? c->nr_counters : 1, sizeof(char *));
	t->cols = calloc(rn->nr_todo ? rn->nr_todo : 1, sizeof(*t->cols));
	if (!t->version || !t->traces || !t->rows || !t->cols)
		return -ENOMEM;
	for (size_t i = 0; i < c->st.nr_traces; i++, t->nr_traces++)
		if (!(t->traces[i] = strdup(c->st.traces[i].path)))
			return -ENOMEM;
	t->combinations = c->st.nr_combos;
	t->shard_k = c->shard_k;
	t->shard_n = c->shard_n;
	if (c->per && !(t->per = strdup(c->per)))
		return -ENOMEM;
	t->default_rows = c->nr_counters && !c->counters_given;
	for (size_t r = 0; r < c->nr_counters; r++, t->nr_rows++)
		if (!(t->rows[r] = strdup(c->counters[r])))
			return -ENOMEM;
	for (size_t k = 0; k < rn->nr_todo; k++, t->nr_cols++) {
		struct cmp_column *col = &t->cols[k];
		size_t i = rn->todo[k];
		col->index = i;
		col->label = study_label(&c->st, i);
		col->trace = strdup(c->st.traces[study_combo_trace(&c->st, i)].path);
		col->arch = strdup(study_combo_arch(&c->st, i) == PTSIM_ARCH_ARM64 ? "arm64" : "x86_64");
		col->violations = rn->res[k].violations;
		col->per_events = rn->res[k].per_events;
		col->values = rn->res[k].values;
		rn->res[k].values = NULL;
		if (!col->label || !col->trace || !col->arch)
			return -ENOMEM;
	}
	return 0;
}

/* Every combination this process runs (its shard), checked by building its machine once. */
static int plan(struct compare *c, struct runner *rn)
{
	char err[1024];

	rn->todo = calloc(c->st.nr_combos ? c->st.nr_combos : 1, sizeof(size_t));
	if (!rn->todo)
		return -ENOMEM;
	for (size_t i = 0; i < c->st.nr_combos; i++)
		if (!c->shard_n || i % c->shard_n == c->shard_k - 1)
			rn->todo[rn->nr_todo++] = i;
	rn->res = calloc(rn->nr_todo ? rn->nr_todo : 1, sizeof(*rn->res));
	if (!rn->res)
		return -ENOMEM;
	/* --list checks every combination: a job list should not hold jobs that cannot run. */
	size_t n = c->list ? c->st.nr_combos : rn->nr_todo;
	for (size_t k = 0; k < n; k++) {
		size_t i = c->list ? k : rn->todo[k];
		struct study_combo sc;
		struct ptsim_machine *m = NULL;
		if (study_combo_config(&c->st, i, false, &sc, err, sizeof(err)))
			return -ENOMEM;
		int rc = ptsim_machine_create(&m, &sc.cfg, err, sizeof(err));
		ptsim_machine_destroy(m);
		if (rc) {
			fprintf(stderr, "ptsim: %s (%s): machine: %s\n", sc.trace_path, sc.label, err);
			study_combo_release(&sc);
			return rc == PTSIM_ENOMEM_HOST ? -ENOMEM : -EINVAL;
		}
		study_combo_release(&sc);
	}
	return 0;
}

struct list_ctx {
	const struct compare *c;
	const struct runner *rn;
};

static void print_list(FILE *f, const void *arg)
{
	const struct list_ctx *l = arg;

	for (size_t k = 0; k < l->rn->nr_todo; k++) {
		char *label = study_label(&l->c->st, l->rn->todo[k]);
		fprintf(f, "%zu/%zu\t%s\n", l->rn->todo[k] + 1, l->c->st.nr_combos, label ? label : "?");
		free(label);
	}
}

/* The --plot picture: bars of the table, or --plot-timeline's lines, one per combination. */
static int compare_plot(struct compare *c, struct runner *rn, const struct cmp_table *t, char **img)
{
	char *title = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&title, &len);
	struct plot_image pic = { NULL, 0 };
	int status;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < c->st.nr_traces; i++)
		fprintf(f, "%s%s", i ? ", " : "", c->st.traces[i].name);
	if (c->per)
		fprintf(f, " (counts per %s event)", c->per);
	if (fclose(f))
		return -ENOMEM;
	if (c->plot_timeline) {
		struct plot_series *s = calloc(rn->nr_todo + 1, sizeof(*s));
		if (!s) {
			free(title);
			return -ENOMEM;
		}
		for (size_t k = 0; k < rn->nr_todo; k++)
			s[k] = rn->res[k].series;
		status = plot_lines(c->out[1].path, title, rn->nr_todo ? rn->res[0].xlabel : "event", c->plot_timeline,
				    s, rn->nr_todo, c->plot_log ? PLOT_SCALE_LOG : PLOT_SCALE_AUTO, &pic);
		free(s);
	} else {
		status = plot_bars(c->out[1].path, title, t, c->plot_log ? PLOT_SCALE_LOG : PLOT_SCALE_AUTO, &pic);
	}
	free(title);
	*img = pic.data;
	c->out[1].len = pic.len;
	return status;
}

static int compare(struct compare *c, struct runner *rn)
{
	struct cmp_table t;
	int status, rc;

	if ((status = check_per(c)) || (status = study_load(&c->st)))
		return status;
	if (!c->counters_given && default_rows(c))
		return -ENOMEM;
	if ((status = study_check_counters("-e", (const char *const *)c->counters, c->nr_counters)) ||
	    (c->plot_timeline && (status = study_check_counters("--plot-timeline", &c->plot_timeline, 1))))
		return status;
	rc = plan(c, rn);
	if (rc)
		return rc == -ENOMEM ? -ENOMEM : CLI_EXIT_USAGE;
	if (c->list) {
		if ((status = cli_outputs_open(c->out, 1)))
			return status;
		struct list_ctx l = { c, rn };
		char *text = cli_sprint(print_list, &l);
		status = cli_outputs_write(c->out, (const char *const *)&text, 1);
		free(text);
		return status;
	}
	if ((status = cli_outputs_open(c->out, 2)))
		return status;
	cli_progress_init(&rn->progress, c->progress, "compare", rn->nr_todo);
	rc = run_all(rn);
	cli_progress_finish(&rn->progress);
	if (rc) {
		cli_outputs_close(c->out, 2);
		return -ENOMEM;
	}
	for (size_t k = 0; k < rn->nr_todo; k++)
		if (rn->res[k].rc) {
			fprintf(stderr, "ptsim: %s\n", rn->res[k].error ? rn->res[k].error : "out of memory");
			cli_outputs_close(c->out, 2);
			return rn->res[k].rc == -ENOMEM || rn->res[k].rc == PTSIM_ENOMEM_HOST ? CLI_EXIT_INTERNAL
												 : CLI_EXIT_USAGE;
		}
	if (make_table(c, rn, &t)) {
		cmp_table_free(&t);
		cli_outputs_close(c->out, 2);
		return -ENOMEM;
	}
	char *texts[2] = { cmp_table_render(&t, c->format), NULL };
	status = c->out[1].path ? compare_plot(c, rn, &t, &texts[1]) : 0;
	if (!status)
		status = cli_outputs_write(c->out, (const char *const *)texts, 2);
	else
		cli_outputs_close(c->out, 2);
	free(texts[0]);
	free(texts[1]);
	if (!status)
		status = cmp_table_status(&t);
	cmp_table_free(&t);
	return status;
}

int cmd_compare(int argc, char **argv)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	struct compare c = {
		.out = { { .path = "-", .what = "table" }, { .path = NULL, .what = "plot" } },
		.jobs = online > 0 && online < 4096 ? (unsigned int)online : 1,
	};
	struct runner rn = { .c = &c };
	int status;

	pthread_mutex_init(&rn.lock, NULL);
	status = parse(argc, argv, &c);
	if (status < 0) {
		c.counters_given = c.nr_counters > 0;
		status = compare(&c, &rn);
		if (status == -ENOMEM) {
			fprintf(stderr, "ptsim: out of memory\n");
			status = CLI_EXIT_INTERNAL;
		}
	}
	for (size_t k = 0; k < rn.nr_todo && rn.res; k++) {
		free(rn.res[k].error);
		free(rn.res[k].values);
		plot_series_free(&rn.res[k].series);
	}
	free(rn.res);
	free(rn.todo);
	pthread_mutex_destroy(&rn.lock);
	for (size_t i = 0; i < c.nr_counters; i++)
		free(c.counters[i]);
	free(c.counters);
	study_free(&c.st);
	return status;
}
