/*
 * `ptsim compare-real`: a recording replayed on ptsim, its figures next to
 * the real kernel's (compare.c).
 */
#ifndef PTSIM_RECORD_COMPARE_H
#define PTSIM_RECORD_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct rec_compare_opts {
	const char *path;           /* a recording (plain, gzip or zstd) */
	const char *preset;         /* NULL: the recording's */
	const char *const *set;     /* NULL-terminated --set pairs, or NULL */
	bool json;
};

/*
 * rec_compare - replay @o->path and write the comparison (text or JSON) to
 * @out.  Return: 0 (compared; differences are data, not errors), 2 the file
 * is not a usable recording or does not replay (@err says why), 1 out of
 * memory or @out failed.  *@differ gets the number of compared figures that
 * differ.
 */
int rec_compare(const struct rec_compare_opts *o, FILE *out, unsigned int *differ, char *err, size_t errlen);

#endif
