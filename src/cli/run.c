/*
 * ptsim run TRACE: replay one trace on one machine and report what it cost
 * (docs/cli.md "ptsim run").
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"
#include "progress.h"
#include "ptsim/ptsim.h"

const char cmd_run_usage[] =
	"usage: ptsim run TRACE [OPTION]...\n"
	"Replay TRACE (a trace file, or - for standard input) and print what it cost.\n"
	"  --json                 the report as one JSON object instead of the table\n"
	"  -o, --output FILE      write the report to FILE (- standard output, the default)\n"
	"  --timeline CSV         also write the marks as a CSV table of every counter; - writes it\n"
	"                         to standard output instead of the report (unless -o FILE is given)\n"
	"  --plot FILE.svg|.png   also draw --plot-y over the timeline through gnuplot (ptsim plot);\n"
	"                         - writes SVG to standard output instead of the report (unless -o)\n"
	"  --plot-y C1,C2,...     the timeline columns to draw (default vmpte_kb)\n"
	"  --plot-log             a logarithmic y axis (default: when the values span 3 decades)\n"
	"  --preset NAME          the preset (kernel version) instead of the trace's\n"
	"  --set KEY=VALUE        override one variant (repeatable; after the trace's own)\n"
	"  --cpus N               number of CPUs instead of the trace's\n"
	"  --max-events N         refuse a trace that would run more than N events (repeats expanded,\n"
	"                         touch accesses counted; default 1000000000)\n"
	"  --progress, --no-progress\n"
	"                         a progress line on standard error during long runs (default: only\n"
	"                         when standard error is a terminal)\n"
	"  --arch x86_64|arm64    the architecture instead of the trace's (drops the trace's geometry)\n"
	"  --granule BYTES, --va-bits N, --paging-levels N\n"
	"                         the geometry instead of the trace's (after --arch)\n"
	"  --max-marks N          keep at most N marks (default 100000; 0: no limit)\n"
	"  --max-exits N          keep at most N exit records (default 1000000; 0: no limit)\n"
	"  --events               also report each event that produced an address (mmap, mremap, brk:\n"
	"                         where the kernel put it) or failed as the trace expected\n"
	"  --max-results N        keep at most N such event results (default 1000000; 0: no limit)\n"
	"  -h, --help             this text\n"
	"Exit status: 0 clean, 3 violations recorded, 2 bad input or usage, 1 internal failure.\n";

enum {
	OPT_JSON = 256,
	OPT_TIMELINE,
	OPT_PRESET,
	OPT_SET,
	OPT_CPUS,
	OPT_ARCH,
	OPT_GRANULE,
	OPT_VA_BITS,
	OPT_LEVELS,
	OPT_PLOT,
	OPT_PLOT_Y,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_PLOT_LOG,
	OPT_MAX_EVENTS,
	OPT_MAX_MARKS,
	OPT_MAX_EXITS,
	OPT_EVENTS,
	OPT_MAX_RESULTS,
};

static const struct option longopts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "output", required_argument, NULL, 'o' },
	{ "timeline", required_argument, NULL, OPT_TIMELINE },
	{ "preset", required_argument, NULL, OPT_PRESET },
	{ "set", required_argument, NULL, OPT_SET },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "granule", required_argument, NULL, OPT_GRANULE },
	{ "va-bits", required_argument, NULL, OPT_VA_BITS },
	{ "paging-levels", required_argument, NULL, OPT_LEVELS },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "plot-y", required_argument, NULL, OPT_PLOT_Y },
	{ "plot-log", no_argument, NULL, OPT_PLOT_LOG },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "max-events", required_argument, NULL, OPT_MAX_EVENTS },
	{ "max-marks", required_argument, NULL, OPT_MAX_MARKS },
	{ "max-exits", required_argument, NULL, OPT_MAX_EXITS },
	{ "events", no_argument, NULL, OPT_EVENTS },
	{ "max-results", required_argument, NULL, OPT_MAX_RESULTS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct run_opts {
	const char *trace;
	unsigned long long max_events;
	bool json;
	struct cli_output out[3]; /* the report, the timeline, the plot */
	const char *plot_y;
	bool plot_log;
	enum cli_progress_mode progress;
	const char *preset;
	const char **sets;
	size_t nr_sets;
	unsigned int cpus;
	const char *arch;
	unsigned int granule, va_bits, levels;
	bool max_marks_set, max_exits_set, max_results_set, events;
	unsigned int max_marks, max_exits, max_results;
};

/* Return: -1 to go on, or the exit status (having said why). */
static int parse(int argc, char **argv, struct run_opts *o)
{
	int c, st = 0;

	while ((c = cli_getopt(argc, argv, "o:h", longopts, &st)) != -1) {
		switch (c) {
		case OPT_JSON:
			o->json = true;
			break;
		case 'o':
			o->out[0].path = optarg;
			break;
		case OPT_TIMELINE:
			o->out[1].path = optarg;
			break;
		case OPT_PLOT:
			if (plot_check_path(optarg))
				return CLI_EXIT_USAGE;
			o->out[2].path = optarg;
			break;
		case OPT_PLOT_Y:
			o->plot_y = optarg;
			break;
		case OPT_PLOT_LOG:
			o->plot_log = true;
			break;
		case OPT_PROGRESS:
		case OPT_NO_PROGRESS:
			o->progress = c == OPT_PROGRESS ? CLI_PROGRESS_ON : CLI_PROGRESS_OFF;
			break;
		case OPT_PRESET:
			o->preset = optarg;
			break;
		case OPT_SET:
			if (!strchr(optarg, '=')) {
				fprintf(stderr, "ptsim: --set %s: expected KEY=VALUE\n", optarg);
				return CLI_EXIT_USAGE;
			}
			o->sets[o->nr_sets++] = optarg;
			break;
		case OPT_MAX_EVENTS:
			if (!cli_parse_count(optarg, &o->max_events)) {
				fprintf(stderr, "ptsim: --max-events %s: expected a positive integer\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_CPUS:
			if (!cli_parse_uint(optarg, 1, PTSIM_MAX_CPUS, &o->cpus)) {
				fprintf(stderr, "ptsim: --cpus %s: expected a number of CPUs, 1 to %d\n", optarg,
					PTSIM_MAX_CPUS);
				return CLI_EXIT_USAGE;
			}
			break;
		case OPT_ARCH:
			if (strcmp(optarg, "x86_64") && strcmp(optarg, "arm64")) {
				fprintf(stderr, "ptsim: --arch %s: expected x86_64 or arm64\n", optarg);
				return CLI_EXIT_USAGE;
			}
			o->arch = optarg;
			break;
		case OPT_GRANULE:
		case OPT_VA_BITS:
		case OPT_LEVELS: {
			unsigned int *dst = c == OPT_GRANULE ? &o->granule : c == OPT_VA_BITS ? &o->va_bits : &o->levels;
			if (!cli_parse_uint(optarg, 1, 1u << 30, dst)) {
				fprintf(stderr, "ptsim: --%s %s: expected a positive integer\n",
					c == OPT_GRANULE ? "granule" : c == OPT_VA_BITS ? "va-bits" : "paging-levels",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		}
		case OPT_MAX_MARKS:
			if (!cli_parse_uint(optarg, 0, UINT_MAX, &o->max_marks)) {
				fprintf(stderr, "ptsim: --max-marks %s: expected a number of marks (0: no limit)\n", optarg);
				return CLI_EXIT_USAGE;
			}
			o->max_marks_set = true;
			break;
		case OPT_MAX_EXITS:
			if (!cli_parse_uint(optarg, 0, UINT_MAX, &o->max_exits)) {
				fprintf(stderr, "ptsim: --max-exits %s: expected a number of exit records (0: no limit)\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			o->max_exits_set = true;
			break;
		case OPT_EVENTS:
			o->events = true;
			break;
		case OPT_MAX_RESULTS:
			if (!cli_parse_uint(optarg, 0, UINT_MAX, &o->max_results)) {
				fprintf(stderr, "ptsim: --max-results %s: expected a number of event results (0: no "
					"limit)\n", optarg);
				return CLI_EXIT_USAGE;
			}
			o->max_results_set = true;
			break;
		case 'h':
			cli_usage(stdout, "run");
			return CLI_EXIT_CLEAN;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (o->trace) {
			fprintf(stderr, "ptsim: more than one trace given (%s, %s)\n", o->trace, argv[i]);
			return CLI_EXIT_USAGE;
		}
		o->trace = argv[i];
	}
	if (!o->trace) {
		fprintf(stderr, "ptsim run: no trace given\n");
		cli_usage(stderr, "run");
		return CLI_EXIT_USAGE;
	}
	return -1;
}

/* The trace's machine section with the command line's changes. */
static void configure(struct ptsim_trace *t, const struct run_opts *o, struct ptsim_config *cfg)
{
	ptsim_trace_config(t, cfg);
	if (o->preset)
		cfg->preset = o->preset;
	if (o->cpus)
		cfg->cpus = o->cpus;
	if (o->arch) {
		/* Another architecture: the trace's geometry was meant for its own. */
		cfg->arch = !strcmp(o->arch, "arm64") ? PTSIM_ARCH_ARM64 : PTSIM_ARCH_X86_64;
		cfg->granule = 0;
		cfg->va_bits = 0;
		cfg->paging_levels = 0;
	}
	if (o->granule)
		cfg->granule = o->granule;
	if (o->va_bits)
		cfg->va_bits = o->va_bits;
	if (o->levels)
		cfg->paging_levels = o->levels;
}

/* The --plot picture of the timeline @csv into *@img (its length in o->out[2].len). */
static int run_plot(struct run_opts *o, const char *csv, char **img)
{
	char *cols = strdup(o->plot_y ? o->plot_y : "vmpte_kb"), *save = NULL, err[512];
	size_t n = 0, max = 1;
	const char *xlabel = "event";
	int status = 0;

	for (const char *p = cols ? cols : ""; *p; p++)
		max += *p == ',';
	struct plot_series *s = calloc(max, sizeof(*s));
	if (!cols || !s) {
		free(cols);
		free(s);
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	for (char *c = strtok_r(cols, ",", &save); c && !status; c = strtok_r(NULL, ",", &save)) {
		int rc = plot_timeline_series(csv, NULL, c, c, &s[n], &xlabel, err, sizeof(err));
		if (rc == -ENOMEM)
			fprintf(stderr, "ptsim: out of memory\n");
		else if (rc)
			fprintf(stderr, "ptsim: --plot-y %s: %s\n", c, err);
		if (rc)
			status = rc == -ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
		else
			n++;
	}
	if (!status) {
		struct plot_image pic;
		status = plot_lines(o->out[2].path, o->trace, xlabel, o->plot_y ? o->plot_y : "vmpte_kb", s, n,
				    o->plot_log ? PLOT_SCALE_LOG : PLOT_SCALE_AUTO, &pic);
		*img = pic.data;
		o->out[2].len = pic.len;
	}
	for (size_t i = 0; i < n; i++)
		plot_series_free(&s[i]);
	free(s);
	free(cols);
	return status;
}

static int run(struct run_opts *o)
{
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[512];
	int rc, status;

	struct ptsim_trace_options topts;
	ptsim_trace_options_init(&topts);
	topts.max_events = o->max_events;   /* 0: the default */
	rc = ptsim_trace_load_file_opts(&t, o->trace, &topts, err, sizeof(err));
	if (rc) {
		cli_error_file(o->trace, rc == PTSIM_ENOMEM_HOST ? "out of memory" : err);
		return rc == PTSIM_ENOMEM_HOST ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
	}
	for (size_t i = 0; i < o->nr_sets; i++)
		if (ptsim_trace_config_add(t, o->sets[i])) {
			fprintf(stderr, "ptsim: out of memory\n");
			status = CLI_EXIT_INTERNAL;
			goto out_trace;
		}
	configure(t, o, &cfg);
	rc = ptsim_machine_create(&m, &cfg, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ptsim: %s: machine: %s\n", o->trace, err);
		status = rc == PTSIM_ENOMEM_HOST ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
		goto out_trace;
	}
	if (o->max_marks_set)
		ptsim_machine_set_limit(m, PTSIM_LIMIT_MARKS, o->max_marks);
	if (o->max_exits_set)
		ptsim_machine_set_limit(m, PTSIM_LIMIT_EXITS, o->max_exits);
	if (o->max_results_set)
		ptsim_machine_set_limit(m, PTSIM_LIMIT_EVENT_RESULTS, o->max_results);
	if (o->events)
		ptsim_event_results_enable(m, true);
	/* Create the files before the run, so that a bad path does not cost a whole run. */
	status = cli_outputs_open(o->out, 3);
	if (status)
		goto out_machine;
	struct cli_progress prog;
	cli_progress_init(&prog, o->progress, o->trace, 0);
	struct cli_progress_run prun = { &prog, 0, 0 };
	struct ptsim_trace_hooks hooks = { .progress = prog.on ? cli_progress_hook : NULL, .ctx = &prun,
					   .progress_every = CLI_PROGRESS_EVERY };
	rc = ptsim_trace_run_with(t, m, &hooks);
	cli_progress_finish(&prog);
	if (rc) {
		cli_error_file(o->trace, ptsim_machine_errmsg(m));
		if (cli_cpus_hint(o->cpus, rc, ptsim_machine_errmsg(m), err, sizeof(err)))
			fprintf(stderr, "ptsim: %s\n", err);
		status = rc == PTSIM_ENOMEM_HOST ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
		cli_outputs_close(o->out, 3);
		goto out_machine;
	}
	char *texts[3] = { NULL, NULL, NULL };
	texts[0] = o->json ? ptsim_report_json(m) : ptsim_report_text(m);
	texts[1] = o->out[1].path || o->out[2].path ? ptsim_report_timeline_csv(m) : NULL;
	status = 0;
	if (o->out[2].path && texts[1])
		status = run_plot(o, texts[1], &texts[2]);
	if (!status) {
		if (!o->out[1].path) {
			ptsim_free(texts[1]);
			texts[1] = NULL;
		}
		status = cli_outputs_write(o->out, (const char *const *)texts, 3);
	} else {
		cli_outputs_close(o->out, 3);
	}
	if (!status && ptsim_violation_count(m))
		status = CLI_EXIT_VIOLATIONS;
	ptsim_free(texts[0]);
	ptsim_free(texts[1]);
	free(texts[2]);
out_machine:
	ptsim_machine_destroy(m);
out_trace:
	ptsim_trace_free(t);
	return status;
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = {
		.out = { { .path = NULL, .what = "report" }, { .path = NULL, .what = "timeline" },
			 { .path = NULL, .what = "plot" } },
	};
	int status;

	o.sets = calloc((size_t)argc + 1, sizeof(char *));
	if (!o.sets) {
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	status = parse(argc, argv, &o);
	if (status < 0) {
		o.out[0].newline = o.json;
		/* The report goes to standard output unless told otherwise, or the timeline or plot goes there. */
		if (!o.out[0].path && !(o.out[1].path && cli_output_is_stdout(&o.out[1])) &&
		    !(o.out[2].path && cli_output_is_stdout(&o.out[2])))
			o.out[0].path = "-";
		status = run(&o);
	}
	free(o.sets);
	return status;
}
