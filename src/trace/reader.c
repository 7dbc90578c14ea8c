/*
 * Trace input: the bytes of a trace file, or of standard input for "-".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace_internal.h"

/* The whole of @path in a malloc'ed buffer (*buf may stay NULL for an empty file). */
int ptsim__trace_read_file(const char *path, char **bufp, size_t *lenp, char *err, size_t errlen)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -ENOENT;
	}
	for (;;) {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			char *n = realloc(buf, cap);
			if (!n) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return PTSIM_ENOMEM_HOST;
			}
			buf = n;
		}
		size_t r = fread(buf + len, 1, cap - len, f);
		len += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		if (err && errlen)
			snprintf(err, errlen, "%s: read error", path);
		free(buf);
		if (f != stdin)
			fclose(f);
		return -EIO;
	}
	if (f != stdin)
		fclose(f);
	*bufp = buf;
	*lenp = len;
	return 0;
}
