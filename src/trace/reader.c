/*
 * Trace input: the bytes of a trace, from a file, standard input ("-") or a
 * caller's buffer, plain or compressed, decoded as they are read.
 *
 * The compression is told by the first bytes (gzip 1f 8b, zstd 28 b5 2f fd),
 * never by the file name: zlib's inflate() for gzip (several members one
 * after another are one stream, as gunzip reads them), libzstd's streaming
 * decoder for zstd (several frames likewise).  A stream that ends inside a
 * member or frame is an error ("truncated"), not a short trace.
 *
 * Two ways to read: ptsim__trace_reader_rest() gives everything that is left
 * in one buffer (a v1 document, bounded by max_input_bytes), and
 * ptsim__trace_reader_line() one line at a time (a v2 trace, bounded by
 * max_line_bytes per line): the buffer then holds one line plus at most one
 * chunk read ahead, whatever the length of the trace.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "trace/trace_internal.h"

/* Bytes read from the file (or decoded) at a time. */
#define CHUNK 65536

enum rd_codec { RD_PLAIN, RD_GZIP, RD_ZSTD };

struct trace_reader {
	char *name;                  /* for messages: the path, or "(buffer)" */
	int fd;                      /* -1: the input is mem */
	bool close_fd;
	unsigned char *mem;          /* an owned copy of a caller's buffer */
	enum rd_codec codec;
	z_stream zs;
	bool zs_ready, gz_member_done;
	ZSTD_DStream *zd;
	size_t zd_last;              /* last ZSTD_decompressStream() result: 0 = between frames */
	unsigned char *in;           /* raw (maybe compressed) bytes: [in_off, in_len) not yet decoded */
	size_t in_off, in_len, in_cap;
	bool raw_eof;
	char *buf;                   /* decoded bytes: [pos, len) not yet handed out; buf[len] is room for a NUL */
	size_t pos, len, cap;
	bool eof;                    /* the decoded stream ended (after len) */
	uint64_t total;              /* decoded bytes so far */
};

static int rd_fail(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int rd_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* More raw bytes into rd->in (after what is left); 0 at the end of the input is not an error. */
static int read_raw(struct trace_reader *rd, char *err, size_t errlen)
{
	if (rd->raw_eof)
		return 0;
	if (rd->in_off) {
		memmove(rd->in, rd->in + rd->in_off, rd->in_len - rd->in_off);
		rd->in_len -= rd->in_off;
		rd->in_off = 0;
	}
	for (;;) {
		ssize_t n = read(rd->fd, rd->in + rd->in_len, rd->in_cap - rd->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rd_fail(err, errlen, -EIO, "%s: read error: %s", rd->name, strerror(errno));
		if (n == 0)
			rd->raw_eof = true;
		rd->in_len += (size_t)n;
		return 0;
	}
}

/* Room for @want more decoded bytes (and the NUL after them). */
static int reserve(struct trace_reader *rd, size_t want)
{
	if (rd->len + want + 1 <= rd->cap)
		return 0;
	size_t cap = rd->cap ? rd->cap : CHUNK;
	while (cap < rd->len + want + 1)
		cap *= 2;
	char *n = realloc(rd->buf, cap);
	if (!n)
		return PTSIM_ENOMEM_HOST;
	rd->buf = n;
	rd->cap = cap;
	return 0;
}

/* Decode more of the input after rd->len (up to CHUNK bytes); sets rd->eof at the end. */
static int decode_more(struct trace_reader *rd, char *err, size_t errlen)
{
	int rc;

	if (rd->eof)
		return 0;
	if ((rc = reserve(rd, CHUNK)))
		return rc;
	for (;;) {
		if (rd->in_off == rd->in_len && !rd->raw_eof && (rc = read_raw(rd, err, errlen)))
			return rc;
		size_t avail = rd->in_len - rd->in_off;
		size_t before = rd->len;
		if (rd->codec == RD_PLAIN) {
			size_t n = avail < CHUNK ? avail : CHUNK;
			memcpy(rd->buf + rd->len, rd->in + rd->in_off, n);
			rd->in_off += n;
			rd->len += n;
		} else if (rd->codec == RD_GZIP) {
			if (rd->gz_member_done && avail) {
				/* Another gzip member follows (as `cat a.gz b.gz` makes). */
				inflateReset(&rd->zs);
				rd->gz_member_done = false;
			}
			if (!rd->gz_member_done && avail) {
				rd->zs.next_in = rd->in + rd->in_off;
				rd->zs.avail_in = (uInt)avail;
				rd->zs.next_out = (Bytef *)rd->buf + rd->len;
				rd->zs.avail_out = CHUNK;
				int zr = inflate(&rd->zs, Z_NO_FLUSH);
				if (zr == Z_MEM_ERROR)
					return PTSIM_ENOMEM_HOST;
				if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
					return rd_fail(err, errlen, PTSIM_EBADTRACE, "%s: corrupt gzip data after %" PRIu64
						       " decoded bytes (%s)", rd->name, rd->total,
						       rd->zs.msg ? rd->zs.msg : "inflate failed");
				rd->in_off = rd->in_len - rd->zs.avail_in;
				rd->len = (size_t)((char *)rd->zs.next_out - rd->buf);
				rd->gz_member_done = zr == Z_STREAM_END;
			}
		} else {
			ZSTD_inBuffer zin = { rd->in + rd->in_off, avail, 0 };
			ZSTD_outBuffer zout = { rd->buf + rd->len, CHUNK, 0 };
			if (avail) {
				size_t zr = ZSTD_decompressStream(rd->zd, &zout, &zin);
				if (ZSTD_isError(zr))
					return rd_fail(err, errlen, PTSIM_EBADTRACE, "%s: corrupt zstd data after %" PRIu64
						       " decoded bytes (%s)", rd->name, rd->total, ZSTD_getErrorName(zr));
				rd->zd_last = zr;
				rd->in_off += zin.pos;
				rd->len += zout.pos;
			}
		}
		rd->total += rd->len - before;
		if (rd->len > before)
			return 0;
		if (rd->in_off == rd->in_len && rd->raw_eof) {
			if (rd->codec == RD_GZIP && !rd->gz_member_done)
				return rd_fail(err, errlen, PTSIM_EBADTRACE, "%s: truncated gzip data: the input ends "
					       "inside a compressed member (after %" PRIu64 " decoded bytes)",
					       rd->name, rd->total);
			if (rd->codec == RD_ZSTD && rd->zd_last)
				return rd_fail(err, errlen, PTSIM_EBADTRACE, "%s: truncated zstd data: the input ends "
					       "inside a frame (after %" PRIu64 " decoded bytes)", rd->name, rd->total);
			rd->eof = true;
			return 0;
		}
	}
}

void ptsim__trace_reader_close(struct trace_reader *rd)
{
	if (!rd)
		return;
	if (rd->close_fd)
		close(rd->fd);
	if (rd->zs_ready)
		inflateEnd(&rd->zs);
	ZSTD_freeDStream(rd->zd);
	if (!rd->mem)
		free(rd->in);
	free(rd->mem);
	free(rd->buf);
	free(rd->name);
	free(rd);
}

/* Tell the codec by the first bytes and set it up. */
static int start_codec(struct trace_reader *rd, char *err, size_t errlen)
{
	int rc;

	while (rd->in_len - rd->in_off < 4 && !rd->raw_eof)
		if ((rc = read_raw(rd, err, errlen)))
			return rc;
	const unsigned char *p = rd->in + rd->in_off;
	size_t n = rd->in_len - rd->in_off;
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		rd->codec = RD_GZIP;
		/* 15 + 16: a gzip header and trailer around the deflate data. */
		if (inflateInit2(&rd->zs, 15 + 16) != Z_OK)
			return PTSIM_ENOMEM_HOST;
		rd->zs_ready = true;
	} else if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
		rd->codec = RD_ZSTD;
		if (!(rd->zd = ZSTD_createDStream()))
			return PTSIM_ENOMEM_HOST;
		ZSTD_initDStream(rd->zd);
	}
	return 0;
}

static int reader_new(struct trace_reader **out, const char *name)
{
	struct trace_reader *rd = calloc(1, sizeof(*rd));

	*out = NULL;
	if (!rd)
		return PTSIM_ENOMEM_HOST;
	rd->fd = -1;
	if (!(rd->name = strdup(name))) {
		free(rd);
		return PTSIM_ENOMEM_HOST;
	}
	*out = rd;
	return 0;
}

int ptsim__trace_reader_open_file(struct trace_reader **out, const char *path, char *err, size_t errlen)
{
	struct trace_reader *rd;
	struct stat st;
	bool std_in = !strcmp(path, "-");
	int rc;

	*out = NULL;
	if ((rc = reader_new(&rd, std_in ? "standard input" : path)))
		return rc;
	rd->fd = std_in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0) {
		int e = errno;
		ptsim__trace_reader_close(rd);
		return rd_fail(err, errlen, -e, "%s: %s", path, strerror(e));
	}
	rd->close_fd = !std_in;
	if (fstat(rd->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		ptsim__trace_reader_close(rd);
		return rd_fail(err, errlen, -EISDIR, "%s: is a directory, not a trace file", path);
	}
	if (!(rd->in = malloc(CHUNK))) {
		ptsim__trace_reader_close(rd);
		return PTSIM_ENOMEM_HOST;
	}
	rd->in_cap = CHUNK;
	if ((rc = start_codec(rd, err, errlen))) {
		ptsim__trace_reader_close(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

int ptsim__trace_reader_open_mem(struct trace_reader **out, const char *data, size_t len)
{
	struct trace_reader *rd;
	int rc;

	*out = NULL;
	if ((rc = reader_new(&rd, "(buffer)")))
		return rc;
	if (!(rd->mem = malloc(len ? len : 1))) {
		ptsim__trace_reader_close(rd);
		return PTSIM_ENOMEM_HOST;
	}
	memcpy(rd->mem, data, len);
	rd->in = rd->mem;
	rd->in_len = rd->in_cap = len;
	rd->raw_eof = true;
	if ((rc = start_codec(rd, NULL, 0))) {
		ptsim__trace_reader_close(rd);
		return rc;
	}
	*out = rd;
	return 0;
}

bool ptsim__trace_is_compressed(const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;

	return (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) ||
	       (len >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd);
}

/*
 * The first line that is not blank, without consuming it: *@start and *@end
 * (exclusive, the '\n' or the end of the input) as offsets into the decoded
 * bytes.  Returns 0 if found, 1 if there is none (*@start SIZE_MAX) or it is
 * longer than @max (then it is no v2 header; *@start is still set and *@end
 * is the end of what was read).
 */
int ptsim__trace_reader_peek_line(struct trace_reader *rd, uint64_t max, size_t *start, size_t *end, char *err,
				  size_t errlen)
{
	size_t s = rd->pos, scan;
	int rc;

	*start = SIZE_MAX;
	if (!rd->buf && (rc = reserve(rd, CHUNK)))
		return rc;
	for (;;) {
		while (s < rd->len && (rd->buf[s] == ' ' || rd->buf[s] == '\t' || rd->buf[s] == '\r' || rd->buf[s] == '\n'))
			s++;
		if (s < rd->len)
			break;
		if (rd->eof)
			return 1;
		if ((rc = decode_more(rd, err, errlen)))
			return rc;
	}
	scan = s;
	*start = s;
	for (;;) {
		char *nl = memchr(rd->buf + scan, '\n', rd->len - scan);
		if (nl) {
			*end = (size_t)(nl - rd->buf);
			return *end - s > max ? 1 : 0;
		}
		scan = rd->len;
		if (rd->len - s > max) {
			*end = rd->len;
			return 1;
		}
		if (rd->eof) {
			*end = rd->len;
			return 0;
		}
		if ((rc = decode_more(rd, err, errlen)))
			return rc;
	}
}

/* The decoded bytes (offsets from peek). */
const char *ptsim__trace_reader_data(const struct trace_reader *rd)
{
	return rd->buf;
}

/* Consume the decoded bytes up to @off (a line found by peek: its '\n' too). */
void ptsim__trace_reader_skip(struct trace_reader *rd, size_t off)
{
	rd->pos = off < rd->len ? off + 1 : rd->len;
}

/*
 * Everything not yet handed out, in one NUL-terminated buffer owned by the
 * reader: PTSIM_ELIMIT if the decoded input exceeds @max bytes.
 */
int ptsim__trace_reader_rest(struct trace_reader *rd, uint64_t max, const char **data, size_t *len, char *err,
			     size_t errlen)
{
	int rc;

	if (!rd->buf && (rc = reserve(rd, CHUNK)))
		return rc;
	while (!rd->eof) {
		if (rd->total > max)
			break;
		if ((rc = decode_more(rd, err, errlen)))
			return rc;
	}
	if (rd->total > max)
		return rd_fail(err, errlen, PTSIM_ELIMIT, "%s: the trace is larger than the input limit of %" PRIu64
			       " bytes (a v1 trace is read whole; a larger trace should be v2 JSON Lines, which is read "
			       "line by line: ptsim convert)", rd->name, max);
	rd->buf[rd->len] = 0;
	*data = rd->buf + rd->pos;
	*len = rd->len - rd->pos;
	rd->pos = rd->len;
	return 0;
}

/*
 * The next line (NUL-terminated in place, without its '\n' or "\r\n"),
 * valid until the next call.  Returns 0 with *@line set, 1 at the end of the
 * input, PTSIM_ELIMIT if the line is longer than @max (the caller names it).
 */
int ptsim__trace_reader_line(struct trace_reader *rd, uint64_t max, char **line, size_t *len, char *err,
			     size_t errlen)
{
	size_t scan = rd->pos;
	int rc;

	if (!rd->buf && (rc = reserve(rd, CHUNK)))
		return rc;
	for (;;) {
		char *nl = memchr(rd->buf + scan, '\n', rd->len - scan);
		size_t end = nl ? (size_t)(nl - rd->buf) : rd->len;
		if (end - rd->pos > max)
			return PTSIM_ELIMIT;
		if (nl || (rd->eof && rd->len > rd->pos)) {
			*line = rd->buf + rd->pos;
			rd->pos = nl ? end + 1 : end;
			if (end > (size_t)(*line - rd->buf) && rd->buf[end - 1] == '\r')
				end--;
			rd->buf[end] = 0;
			*len = end - (size_t)(*line - rd->buf);
			return 0;
		}
		if (rd->eof)
			return 1;
		/* Keep only the partial line: the buffer never holds more than one line and a chunk. */
		if (rd->pos) {
			memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
			rd->len -= rd->pos;
			rd->pos = 0;
		}
		scan = rd->len;
		if ((rc = decode_more(rd, err, errlen)))
			return rc;
	}
}
