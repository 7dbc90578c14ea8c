/* A growable string buffer (host allocator: used for reports and messages). */
#ifndef PTSIM_UTIL_STRBUF_H
#define PTSIM_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len, cap;
	int oom;    /* set when an append failed; the text is then truncated */
};

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void strbuf_adds(struct strbuf *sb, const char *s);
/* Detach the buffer (caller frees with free()); returns "" copy if empty. */
char *strbuf_detach(struct strbuf *sb);

#endif
