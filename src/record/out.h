/*
 * The recording's output file: lines go to a temporary file next to the
 * final name, compressed with zstd (name ends in .zst) or gzip (.gz) or
 * plain; rec_out_commit() finishes the stream and renames it into place, so
 * the final name only ever holds a complete trace.
 */
#ifndef PTSIM_RECORD_OUT_H
#define PTSIM_RECORD_OUT_H

#include <stddef.h>

struct rec_out;

int rec_out_open(struct rec_out **out, const char *path, char *err, size_t errlen);
/* Append @len bytes and a newline.  Return: 0 or -errno (the error sticks). */
int rec_out_line(struct rec_out *o, const char *s, size_t len);
/* Finish, flush, rename into place and free.  Return: 0 or -errno (then nothing is left behind). */
int rec_out_commit(struct rec_out *o, char *err, size_t errlen);
/* Remove the temporary file and free (NULL is fine). */
void rec_out_abort(struct rec_out *o);

#endif
