/* Plots through gnuplot (plot.h). */
#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "study.h"

/* Timeline columns that hold the simulated clock, in the order they are preferred. */
static const char *const time_columns[] = { "time_ns", "clock_ns", "time_us", "time_ms" };

static bool ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), e = strlen(end);
	return n >= e && !strcmp(s + n - e, end);
}

static bool is_png(const char *path)
{
	return ends_with(path, ".png");
}

int plot_check_path(const char *path)
{
	if (!strcmp(path, "-") || ends_with(path, ".svg") || ends_with(path, ".png"))
		return 0;
	fprintf(stderr, "ptsim: %s: a plot is FILE.svg or FILE.png (or - for SVG on standard output)\n", path);
	return CLI_EXIT_USAGE;
}

void plot_series_free(struct plot_series *s)
{
	for (size_t i = 0; i < s->n && s->marks; i++)
		free(s->marks[i]);
	free(s->marks);
	free(s->x);
	free(s->y);
	free(s->title);
	memset(s, 0, sizeof(*s));
}

/* Index of column @name in header @h, or -1. */
static long header_column(const char *h, const char *name)
{
	char field[256];
	long i = 0;

	for (bool more = true; more; i++) {
		more = study_csv_field(&h, field, sizeof(field));
		if (!strcmp(field, name))
			return i;
	}
	return -1;
}

/* Column @col of the line at @p as a number. */
static double field_value(const char *p, long col)
{
	char field[512];

	for (long i = 0; i < col; i++)
		study_csv_field(&p, field, sizeof(field));
	study_csv_field(&p, field, sizeof(field));
	return strtod(field, NULL);
}

/* Column @col (-1: none) holds more than one value over the rows. */
static bool column_varies(const char *csv, long col)
{
	bool first = true;
	double v0 = 0;

	if (col < 0)
		return false;
	for (const char *p = strchr(csv, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
		double v = field_value(p + 1, col);
		if (!first && v != v0)
			return true;
		v0 = v;
		first = false;
	}
	return false;
}

int plot_timeline_series(const char *csv, const char *x, const char *y, const char *title,
			 struct plot_series *out, const char **xlabel, char *err, size_t errlen)
{
	long xc = -1, yc = header_column(csv, y);
	size_t rows = 0;

	memset(out, 0, sizeof(*out));
	/* The simulated clock when the timeline has one that moves (a trace without "advance" keeps it still). */
	for (size_t i = 0; !x && i < sizeof(time_columns) / sizeof(time_columns[0]); i++)
		if (column_varies(csv, header_column(csv, time_columns[i])))
			x = time_columns[i];
	if (!x)
		x = "event";
	xc = header_column(csv, x);
	if (xc < 1 || yc < 1) {
		snprintf(err, errlen, "the timeline has no column '%s'", xc < 1 ? x : y);
		return -EINVAL;
	}
	*xlabel = x;
	for (const char *p = strchr(csv, '\n'); p && p[1]; p = strchr(p + 1, '\n'))
		rows++;
	out->title = strdup(title);
	out->x = calloc(rows + 1, sizeof(double));
	out->y = calloc(rows + 1, sizeof(double));
	out->marks = calloc(rows + 1, sizeof(char *));
	if (!out->title || !out->x || !out->y || !out->marks) {
		plot_series_free(out);
		return -ENOMEM;
	}
	for (const char *p = strchr(csv, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
		const char *line = p + 1;
		char mark[256];
		const char *q = line;
		study_csv_field(&q, mark, sizeof(mark));
		out->x[out->n] = field_value(line, xc);
		out->y[out->n] = field_value(line, yc);
		if (!(out->marks[out->n] = strdup(mark))) {
			plot_series_free(out);
			return -ENOMEM;
		}
		out->n++;
	}
	return 0;
}

/* A string for gnuplot between double quotes: no quotes, backslashes or control characters. */
static void gp_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++)
		fputc(*s == '"' ? '\'' : *s == '\\' ? '/' : (unsigned char)*s < 0x20 ? ' ' : *s, f);
	fputc('"', f);
}

static void gp_header(FILE *f, const char *path, const char *out, const char *title)
{
	if (is_png(path))
		fputs("set terminal pngcairo size 960,540 noenhanced font \"sans,10\" background rgb \"white\"\n", f);
	else
		fputs("set terminal svg size 960,540 noenhanced font \"sans,11\" background rgb \"white\"\n", f);
	fputs("set output ", f);
	gp_string(f, out);
	/* The title at the top of the picture, above the marks' names however long they are. */
	fputs("\nset label 1 ", f);
	gp_string(f, title);
	fputs(" at screen 0.5, screen 0.97 center font \",12\"\nset grid ytics\nset key outside right top\n", f);
}

/*
 * Run gnuplot on @script; the picture it drew into a temporary file comes back
 * in @out.  Return: 0 or CLI_EXIT_INTERNAL (said why).
 */
static int run_gnuplot(const char *script, size_t len, const char *path, struct plot_image *out);

static char *tmp_path(const char *what)
{
	const char *dir = getenv("TMPDIR");
	size_t n = strlen(dir && *dir ? dir : "/tmp") + strlen(what) + 32;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/ptsim_%s_XXXXXX", dir && *dir ? dir : "/tmp", what);
	return p;
}

static int draw(const char *path, void (*write_script)(FILE *f, const char *out, const void *ctx), const void *ctx,
		struct plot_image *out)
{
	char *img = tmp_path("plot"), *script = NULL;
	size_t len = 0;
	int fd, status;

	memset(out, 0, sizeof(*out));
	if (!img || (fd = mkstemp(img)) < 0) {
		fprintf(stderr, "ptsim: cannot create a temporary file for the plot: %s\n", strerror(errno));
		free(img);
		return CLI_EXIT_INTERNAL;
	}
	close(fd);
	FILE *f = open_memstream(&script, &len);
	if (!f) {
		unlink(img);
		free(img);
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	write_script(f, img, ctx);
	if (fclose(f)) {
		free(script);
		unlink(img);
		free(img);
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	status = run_gnuplot(script, len, img, out);
	free(script);
	unlink(img);
	free(img);
	return status;
}

static int run_gnuplot(const char *script, size_t len, const char *img, struct plot_image *out)
{
	char *sp = tmp_path("gp");
	int fd, st;

	if (!sp || (fd = mkstemp(sp)) < 0) {
		fprintf(stderr, "ptsim: cannot create a temporary file for the plot: %s\n", strerror(errno));
		free(sp);
		return CLI_EXIT_INTERNAL;
	}
	bool ok = write(fd, script, len) == (ssize_t)len;
	close(fd);
	if (!ok) {
		fprintf(stderr, "ptsim: cannot write the gnuplot script: %s\n", strerror(errno));
		unlink(sp);
		free(sp);
		return CLI_EXIT_INTERNAL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* gnuplot's own output (there should be none) goes to standard error. */
		dup2(2, 1);
		execlp("gnuplot", "gnuplot", sp, (char *)NULL);
		fprintf(stderr, "ptsim: cannot run gnuplot: %s (Debian: apt-get install gnuplot-nox)\n", strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		fprintf(stderr, "ptsim: cannot run gnuplot: %s\n", strerror(errno));
		unlink(sp);
		free(sp);
		return CLI_EXIT_INTERNAL;
	}
	unlink(sp);
	free(sp);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 127)
			fprintf(stderr, "ptsim: gnuplot failed (status %d)\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return CLI_EXIT_INTERNAL;
	}
	char err[256];
	out->data = cli_read_file(img, &out->len, err, sizeof(err));
	if (!out->data) {
		fprintf(stderr, "ptsim: cannot read the plot gnuplot drew: %s\n", err);
		return CLI_EXIT_INTERNAL;
	}
	if (!out->len) {
		fprintf(stderr, "ptsim: gnuplot drew nothing\n");
		free(out->data);
		out->data = NULL;
		return CLI_EXIT_INTERNAL;
	}
	return 0;
}

/* Log scale when the positive values span more than three decades (and nothing is negative). */
static bool want_log(enum plot_scale scale, const double *v, size_t n)
{
	double lo = INFINITY, hi = 0;

	if (scale != PLOT_SCALE_AUTO)
		return scale == PLOT_SCALE_LOG;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < 0)
			return false;
		if (v[i] > 0 && v[i] < lo)
			lo = v[i];
		if (v[i] > hi)
			hi = v[i];
	}
	return hi > 0 && hi / lo > 1000;
}

/* A number for gnuplot: %.17g is exact for doubles; a 0 on a log axis is missing (NaN). */
static void gp_number(FILE *f, double v, bool log)
{
	if (log && v <= 0)
		fputs("NaN", f);
	else
		fprintf(f, "%.17g", v);
}

struct lines_ctx {
	const char *path, *title, *xlabel, *ylabel;
	const struct plot_series *s;
	size_t n;
	bool log;
};

static void lines_script(FILE *f, const char *out, const void *arg)
{
	const struct lines_ctx *c = arg;
	const struct plot_series *first = &c->s[0];

	gp_header(f, c->path, out, c->title);
	fputs("set xlabel ", f);
	gp_string(f, c->xlabel);
	fputs("\nset ylabel ", f);
	gp_string(f, c->ylabel);
	fputs("\nset format y \"%.0f\"\n", f);
	if (c->log)
		fputs("set logscale y\nset format y \"%g\"\n", f);
	/*
	 * The marks of the first series on the top axis; a mark closer than 2% of
	 * the axis to the one named before it is left unnamed (they would overlap).
	 */
	if (first->n) {
		double span = first->x[first->n - 1] - first->x[0], last = 0;
		bool any = false;
		fputs("set x2tics rotate by 60 left font \",8\" (", f);
		for (size_t i = 0; i < first->n; i++) {
			if (any && first->x[i] - last < span / 50)
				continue;
			if (any)
				fputs(", ", f);
			gp_string(f, first->marks[i]);
			fputc(' ', f);
			gp_number(f, first->x[i], false);
			last = first->x[i];
			any = true;
		}
		fputs(")\nset link x2\nset tmargin 9\n", f);
	}
	for (size_t k = 0; k < c->n; k++) {
		fprintf(f, "$d%zu << EOD\n", k);
		for (size_t i = 0; i < c->s[k].n; i++) {
			gp_number(f, c->s[k].x[i], false);
			fputc(' ', f);
			gp_number(f, c->s[k].y[i], c->log);
			fputc('\n', f);
		}
		fputs("EOD\n", f);
	}
	fputs("plot ", f);
	for (size_t k = 0; k < c->n; k++) {
		fprintf(f, "%s$d%zu using 1:2 with linespoints lw 2 pt 7 ps 0.6 title ", k ? ", " : "", k);
		gp_string(f, c->s[k].title);
	}
	fputc('\n', f);
}

int plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
	       const struct plot_series *s, size_t n, enum plot_scale scale, struct plot_image *out)
{
	size_t total = 0;

	for (size_t k = 0; k < n; k++)
		total += s[k].n;
	double *all = calloc(total + 1, sizeof(double));
	if (!all) {
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	total = 0;
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < s[k].n; i++)
			all[total++] = s[k].y[i];
	struct lines_ctx c = { path, title, xlabel, ylabel, s, n, want_log(scale, all, total) };
	free(all);
	return draw(path, lines_script, &c, out);
}

struct bars_ctx {
	const char *path, *title;
	const struct cmp_table *t;
	bool log;
	double floor;   /* log scale: the bottom of the axis, where a 0 is drawn (a bar of no height) */
};

/* The value of row @r in column @c as the table shows it (divided by --per where it applies). */
static double bar_value(const struct cmp_table *t, size_t r, size_t c)
{
	const struct cmp_column *col = &t->cols[c];

	if (!cmp_row_is_divided(t, r))
		return (double)col->values[r];
	return col->per_events ? (double)col->values[r] / (double)col->per_events : 0;
}

/* Rows worth a group: not 0 everywhere. */
static bool bar_row(const struct cmp_table *t, size_t r)
{
	for (size_t c = 0; c < t->nr_cols; c++)
		if (t->cols[c].values[r])
			return true;
	return false;
}

static void bars_script(FILE *f, const char *out, const void *arg)
{
	const struct bars_ctx *c = arg;
	const struct cmp_table *t = c->t;

	gp_header(f, c->path, out, c->title);
	fputs("set style data histograms\nset style histogram clustered gap 1\n"
	      "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
	      "set xtics rotate by -30 left font \",9\" nomirror\nset bmargin 9\nset tmargin 3\nset yrange [0:*]\n", f);
	if (t->per) {
		fputs("set ylabel ", f);
		char label[128];
		snprintf(label, sizeof(label), "per %s event (counts), or value", t->per);
		gp_string(f, label);
		fputc('\n', f);
	}
	if (c->log)
		fprintf(f, "set logscale y\nset yrange [%.17g:*]\n", c->floor);
	fputs("$d << EOD\n\"counter\"", f);
	for (size_t k = 0; k < t->nr_cols; k++) {
		fputc(' ', f);
		gp_string(f, t->cols[k].label);
	}
	fputc('\n', f);
	for (size_t r = 0; r < t->nr_rows; r++) {
		if (!bar_row(t, r))
			continue;
		gp_string(f, t->rows[r]);
		for (size_t k = 0; k < t->nr_cols; k++) {
			fputc(' ', f);
			double v = bar_value(t, r, k);
			gp_number(f, c->log && v < c->floor ? c->floor : v, false);
		}
		fputc('\n', f);
	}
	fputs("EOD\nplot ", f);
	for (size_t k = 0; k < t->nr_cols; k++)
		fprintf(f, "%s$d using %zu%s title columnheader(%zu)", k ? ", " : "", k + 2, k ? "" : ":xtic(1)", k + 2);
	fputc('\n', f);
}

int plot_bars(const char *path, const char *title, const struct cmp_table *t, enum plot_scale scale,
	      struct plot_image *out)
{
	double *all = calloc(t->nr_rows * t->nr_cols + 1, sizeof(double));
	size_t n = 0, groups = 0;

	if (!all) {
		fprintf(stderr, "ptsim: out of memory\n");
		return CLI_EXIT_INTERNAL;
	}
	for (size_t r = 0; r < t->nr_rows; r++) {
		if (!bar_row(t, r))
			continue;
		groups++;
		for (size_t c = 0; c < t->nr_cols; c++)
			all[n++] = bar_value(t, r, c);
	}
	struct bars_ctx c = { path, title, t, want_log(scale, all, n), 1 };
	/* On a log axis a bar grows from a power of ten below the smallest positive value. */
	for (size_t i = 0; i < n; i++)
		while (all[i] > 0 && all[i] <= c.floor)
			c.floor /= 10;
	free(all);
	if (!groups || !t->nr_cols) {
		fprintf(stderr, "ptsim: nothing to plot: every counter of the table is 0\n");
		return CLI_EXIT_USAGE;
	}
	return draw(path, bars_script, &c, out);
}
