/*
 * The recording's output file (out.h).
 *
 * Lines are collected in a 256 KiB buffer and handed to the compressor (or
 * written) when it fills.  The temporary file is FILE.tmp.XXXXXX in the same
 * directory, so the final rename() is atomic.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "record/out.h"

enum out_kind { OUT_PLAIN, OUT_GZIP, OUT_ZSTD };

#define OUT_BUF (256u << 10)

struct rec_out {
	enum out_kind kind;
	int fd;
	int err;                /* first error (a positive errno), sticky */
	char *path, *tmp;
	unsigned char *in;      /* pending plain text */
	size_t in_len;
	unsigned char *z;       /* compressed output buffer */
	size_t z_cap;
	z_stream gz;
	ZSTD_CCtx *zc;
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

static int write_all(struct rec_out *o, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len && !o->err) {
		ssize_t n = write(o->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			o->err = errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	return o->err ? -o->err : 0;
}

/* Push the pending text through the compressor; @finish ends the stream. */
static int drain(struct rec_out *o, int finish)
{
	if (o->err)
		return -o->err;
	if (o->kind == OUT_PLAIN) {
		int rc = write_all(o, o->in, o->in_len);
		o->in_len = 0;
		return rc;
	}
	if (o->kind == OUT_GZIP) {
		o->gz.next_in = o->in;
		o->gz.avail_in = (uInt)o->in_len;
		int zr;
		do {
			o->gz.next_out = o->z;
			o->gz.avail_out = (uInt)o->z_cap;
			zr = deflate(&o->gz, finish ? Z_FINISH : Z_NO_FLUSH);
			if (zr == Z_STREAM_ERROR) {
				o->err = EIO;
				break;
			}
			write_all(o, o->z, o->z_cap - o->gz.avail_out);
		} while (!o->err && (o->gz.avail_out == 0 || (finish && zr != Z_STREAM_END)));
		o->in_len = 0;
		return o->err ? -o->err : 0;
	}
	ZSTD_inBuffer in = { o->in, o->in_len, 0 };
	size_t left;
	do {
		ZSTD_outBuffer out = { o->z, o->z_cap, 0 };
		left = ZSTD_compressStream2(o->zc, &out, &in, finish ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left)) {
			o->err = EIO;
			break;
		}
		write_all(o, o->z, out.pos);
	} while (!o->err && (finish ? left != 0 : in.pos < in.size));
	o->in_len = 0;
	return o->err ? -o->err : 0;
}

int rec_out_open(struct rec_out **out, const char *path, char *err, size_t errlen)
{
	struct rec_out *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o)
		goto oom;
	o->fd = -1;
	o->kind = ends_with(path, ".zst") ? OUT_ZSTD : ends_with(path, ".gz") ? OUT_GZIP : OUT_PLAIN;
	o->path = strdup(path);
	o->tmp = malloc(strlen(path) + 16);
	o->in = malloc(OUT_BUF);
	o->z_cap = OUT_BUF;
	o->z = o->kind == OUT_PLAIN ? NULL : malloc(o->z_cap);
	if (!o->path || !o->tmp || !o->in || (o->kind != OUT_PLAIN && !o->z))
		goto oom;
	if (o->kind == OUT_GZIP &&
	    deflateInit2(&o->gz, 6, Z_DEFLATED, 15 + 16 /* gzip header */, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		goto oom;
	if (o->kind == OUT_ZSTD) {
		o->zc = ZSTD_createCCtx();
		if (!o->zc)
			goto oom;
		ZSTD_CCtx_setParameter(o->zc, ZSTD_c_compressionLevel, 3);
	}
	sprintf(o->tmp, "%s.tmp.XXXXXX", path);
	o->fd = mkstemp(o->tmp);
	if (o->fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", o->tmp, strerror(errno));
		o->tmp[0] = 0;
		rec_out_abort(o);
		return -EINVAL;
	}
	/* mkstemp makes it 0600; a trace is an ordinary file. */
	fchmod(o->fd, 0644);
	*out = o;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	if (o && o->tmp)
		o->tmp[0] = 0;
	rec_out_abort(o);
	return -ENOMEM;
}

int rec_out_line(struct rec_out *o, const char *s, size_t len)
{
	if (o->err)
		return -o->err;
	if (o->in_len + len + 1 > OUT_BUF) {
		if (drain(o, 0))
			return -o->err;
		if (len + 1 > OUT_BUF) {  /* a very long line: straight through */
			while (len) {
				size_t n = len < OUT_BUF ? len : OUT_BUF;
				memcpy(o->in, s, n);
				o->in_len = n;
				if (drain(o, 0))
					return -o->err;
				s += n;
				len -= n;
			}
			o->in[o->in_len++] = '\n';
			return 0;
		}
	}
	memcpy(o->in + o->in_len, s, len);
	o->in_len += len;
	o->in[o->in_len++] = '\n';
	return 0;
}

int rec_out_commit(struct rec_out *o, char *err, size_t errlen)
{
	int rc = drain(o, 1);

	if (!rc && fsync(o->fd) && errno != EINVAL)
		rc = -errno;
	if (close(o->fd) && !rc)
		rc = -errno;
	o->fd = -1;
	if (!rc && rename(o->tmp, o->path))
		rc = -errno;
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", o->path, strerror(-rc));
		rec_out_abort(o);
		return rc;
	}
	o->tmp[0] = 0;
	rec_out_abort(o);
	return 0;
}

void rec_out_abort(struct rec_out *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp && o->tmp[0])
		unlink(o->tmp);
	if (o->kind == OUT_GZIP && o->z)
		deflateEnd(&o->gz);
	ZSTD_freeCCtx(o->zc);
	free(o->path);
	free(o->tmp);
	free(o->in);
	free(o->z);
	free(o);
}
