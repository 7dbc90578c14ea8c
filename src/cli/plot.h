/*
 * Plots through gnuplot (Debian: gnuplot-nox): lines over a run's timeline
 * (a counter or VmPTE at each mark, the marks named on the top axis) and
 * grouped bars from a comparison table.  ptsim writes a gnuplot script with
 * the data inline, gnuplot draws into a temporary file, and the picture comes
 * back as bytes for cli_outputs_write(): "-" works, and nothing is written
 * when anything failed.
 */
#ifndef PTSIM_CLI_PLOT_H
#define PTSIM_CLI_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "table.h"

/* One line of a timeline plot. */
struct plot_series {
	char *title;
	size_t n;
	double *x, *y;
	char **marks;   /* the mark of each point ("end" for the last) */
};

/* A picture: its bytes, their length. */
struct plot_image {
	char *data;
	size_t len;
};

enum plot_scale { PLOT_SCALE_AUTO, PLOT_SCALE_LINEAR, PLOT_SCALE_LOG };

/*
 * plot_check_path - whether @path ends in .svg or .png (or is "-": SVG); says
 * why not.  Return: 0 or CLI_EXIT_USAGE.
 */
int plot_check_path(const char *path);

/*
 * plot_timeline_series - the series of column @y over column @x (NULL: the
 * simulated time if the timeline has it, else the event index) of a timeline
 * CSV, titled @title.  Return: 0, -ENOMEM, or -EINVAL with @err naming the
 * missing column.
 */
int plot_timeline_series(const char *csv, const char *x, const char *y, const char *title,
			 struct plot_series *out, const char **xlabel, char *err, size_t errlen);
void plot_series_free(struct plot_series *s);

/*
 * plot_lines / plot_bars - draw @n series (lines over a timeline), or the rows
 * of @t as groups with a bar per column, for @path (.svg, .png or - for SVG).
 * Return: 0, or CLI_EXIT_INTERNAL having said why (gnuplot missing or failing).
 */
int plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
	       const struct plot_series *s, size_t n, enum plot_scale scale, struct plot_image *out);
int plot_bars(const char *path, const char *title, const struct cmp_table *t, enum plot_scale scale,
	      struct plot_image *out);

#endif
