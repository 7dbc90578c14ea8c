/*
 * ptsim plot: pictures from ptsim's outputs, through gnuplot — a counter or
 * VmPTE over a run's timeline (ptsim run --timeline), grouped bars from a
 * comparison (ptsim compare --json, ptsim merge --json).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"
#include "table.h"

const char cmd_plot_usage[] =
	"usage: ptsim plot INPUT... -o FILE.svg|FILE.png [OPTION]...\n"
	"Draw ptsim's outputs through gnuplot (Debian: gnuplot-nox):\n"
	"  timeline CSVs (ptsim run --timeline): a line per file and -y column over the simulated\n"
	"  time (or the event index), the marks named on the top axis;\n"
	"  one comparison (ptsim compare --json, ptsim merge --json): a group of bars per counter,\n"
	"  a bar per combination.\n"
	"  -o, --output FILE      FILE.svg or FILE.png; - writes SVG to standard output\n"
	"  -y, --y C1,C2,...      timeline: the columns to draw (default vmpte_kb)\n"
	"  -x, --x COLUMN         timeline: the x axis (default: the simulated time if the timeline\n"
	"                         has it, else the event index)\n"
	"  --title TEXT           the title (default: the inputs)\n"
	"  --log, --linear        the y axis (default: log when the values span more than 3 decades)\n"
	"  -h, --help             this text\n"
	"Exit status: 0 drawn, 2 bad input or usage, 1 internal failure (gnuplot missing or failing,\n"
	"the picture not written).\n";

enum { OPT_TITLE = 256, OPT_LOG, OPT_LINEAR };

/* The file name without its directory and its .csv/.json. */
static char *base_name(const char *path)
{
	const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n = strlen(b);

	if (n > 4 && (!strcmp(b + n - 4, ".csv")))
		n -= 4;
	else if (n > 5 && !strcmp(b + n - 5, ".json"))
		n -= 5;
	return strndup(b, n);
}

static int plot_timelines(char **inputs, size_t n, char **texts, const char *x, char *ys, const char *title,
			  enum plot_scale scale, struct cli_output *out)
{
	size_t nr_y = 1, k = 0;
	int status = 0;
	char err[512];
	const char *xlabel = NULL;

	for (const char *p = ys; *p; p++)
		nr_y += *p == ',';
	struct plot_series *s = calloc(n * nr_y, sizeof(*s));
	char **cols = calloc(nr_y, sizeof(char *));
	if (!s || !cols) {
		free(s);
		free(cols);
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	nr_y = 0;
	char *save = NULL;
	for (char *tok = strtok_r(ys, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		cols[nr_y++] = tok;
	for (size_t i = 0; i < n && !status; i++) {
		char *name = base_name(inputs[i]);
		for (size_t c = 0; c < nr_y && !status; c++) {
			char t[512];
			snprintf(t, sizeof(t), "%s%s%s", name ? name : "?", nr_y > 1 ? " " : "", nr_y > 1 ? cols[c] : "");
			int rc = plot_timeline_series(texts[i], x, cols[c], t, &s[k], &xlabel, err, sizeof(err));
			if (rc) {
				if (rc == -ENOMEM)
					fprintf(stderr, "ptsim: out of memory\n");
				else
					cli_error_file(inputs[i], err);
				status = rc == -ENOMEM ? CLI_EXIT_INTERNAL : CLI_EXIT_USAGE;
			} else {
				k++;
			}
		}
		free(name);
	}
	if (!status) {
		char ylabel[512] = "";
		for (size_t c = 0; c < nr_y; c++)
			snprintf(ylabel + strlen(ylabel), sizeof(ylabel) - strlen(ylabel), "%s%s", c ? ", " : "", cols[c]);
		struct plot_image img;
		status = plot_lines(out->path, title, xlabel, ylabel, s, k, scale, &img);
		if (!status) {
			out->len = img.len;
			status = cli_outputs_write(out, (const char *const *)&img.data, 1);
			free(img.data);
		}
	}
	for (size_t i = 0; i < k; i++)
		plot_series_free(&s[i]);
	free(s);
	free(cols);
	return status;
}

static int plot_table(const char *input, const char *text, const char *title, enum plot_scale scale,
		      struct cli_output *out)
{
	struct cmp_table t;
	struct plot_image img;
	char err[512];
	int status;

	if (cmp_table_from_json(text, &t, err, sizeof(err))) {
		cli_error_file(input, err);
		return CLI_EXIT_USAGE;
	}
	status = plot_bars(out->path, title, &t, scale, &img);
	if (!status) {
		out->len = img.len;
		status = cli_outputs_write(out, (const char *const *)&img.data, 1);
		free(img.data);
	}
	cmp_table_free(&t);
	return status;
}

int cmd_plot(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "y", required_argument, NULL, 'y' },
		{ "x", required_argument, NULL, 'x' },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "log", no_argument, NULL, OPT_LOG },
		{ "linear", no_argument, NULL, OPT_LINEAR },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_output out = { .path = NULL, .what = "plot" };
	const char *x = NULL, *ys = "vmpte_kb", *title = NULL;
	enum plot_scale scale = PLOT_SCALE_AUTO;
	int c, st = 0, status = 0;

	while ((c = cli_getopt(argc, argv, "o:y:x:h", longopts, &st)) != -1) {
		switch (c) {
		case 'o': out.path = optarg; break;
		case 'y': ys = optarg; break;
		case 'x': x = optarg; break;
		case OPT_TITLE: title = optarg; break;
		case OPT_LOG: scale = PLOT_SCALE_LOG; break;
		case OPT_LINEAR: scale = PLOT_SCALE_LINEAR; break;
		case 'h':
			cli_usage(stdout, "plot");
			return CLI_EXIT_CLEAN;
		default:
			return CLI_EXIT_USAGE;
		}
	}
	size_t n = (size_t)(argc - optind);
	char **inputs = argv + optind;
	if (!n) {
		fprintf(stderr, "ptsim plot: no input given\n");
		cli_usage(stderr, "plot");
		return CLI_EXIT_USAGE;
	}
	if (!out.path) {
		fprintf(stderr, "ptsim plot: where to? (-o FILE.svg, -o FILE.png, or -o - for SVG on standard output)\n");
		return CLI_EXIT_USAGE;
	}
	if ((status = plot_check_path(out.path)) || (status = cli_outputs_open(&out, 1)))
		return status;
	char **texts = calloc(n, sizeof(char *));
	char *ycopy = strdup(ys);
	char *deftitle = NULL;
	size_t tlen = 0;
	FILE *tf = open_memstream(&deftitle, &tlen);
	if (!texts || !ycopy || !tf) {
		fprintf(stderr, "ptsim: out of memory\n");
		status = CLI_EXIT_INTERNAL;
		goto out;
	}
	size_t tables = 0;
	for (size_t i = 0; i < n && !status; i++) {
		char err[256];
		texts[i] = cli_read_file(inputs[i], NULL, err, sizeof(err));
		if (!texts[i]) {
			cli_error_file(inputs[i], err);
			status = CLI_EXIT_USAGE;
		} else if (!strncmp(texts[i], "{\"ptsim_compare\"", 16)) {
			tables++;
		} else if (strncmp(texts[i], "mark,", 5)) {
			cli_error_file(inputs[i], "neither a timeline (ptsim run --timeline) nor a comparison "
						  "(ptsim compare --json)");
			status = CLI_EXIT_USAGE;
		}
		fprintf(tf, "%s%s", i ? ", " : "", inputs[i]);
	}
	fclose(tf);
	tf = NULL;
	if (!status && tables && n > 1) {
		fprintf(stderr, "ptsim plot: one comparison at a time (or timelines only)\n");
		status = CLI_EXIT_USAGE;
	}
	if (!status && tables)
		status = plot_table(inputs[0], texts[0], title ? title : deftitle, scale, &out);
	else if (!status)
		status = plot_timelines(inputs, n, texts, x, ycopy, title ? title : deftitle, scale, &out);
out:
	if (tf)
		fclose(tf);
	cli_outputs_close(&out, 1);
	for (size_t i = 0; texts && i < n; i++)
		free(texts[i]);
	free(texts);
	free(ycopy);
	free(deftitle);
	return status;
}
