/*
 * ptsim_trace_convert(): a trace from one format to the other (v1 JSON <->
 * v2 JSON Lines), optionally with every repeat multiplied out, optionally
 * compressed.
 *
 * The input is loaded and checked exactly as ptsim run loads it (a v1
 * document whole, a v2 trace line by line, each line checked before it is
 * written), so only valid traces are converted and errors read the same.
 * Events are copied as written (comments, number spellings); what changes:
 *  - the version in the header, and where the events go;
 *  - v1 -> v2: an mmap that gives addr gets "fixed": "noreplace", which is
 *    what addr means in v1 (in v2, addr alone is a hint);
 *  - v2 -> v1: an mmap with addr and no "fixed" (a hint) is refused: v1
 *    cannot say it;
 *  - --expand-repeats: a repeat becomes its iterations, each event with the
 *    repeat steps added to its fields (a number stays a number, below 2^53;
 *    a string becomes "0x..."); bounded by max_events.
 * Output is streamed: a v2 input is never held whole, and the output goes
 * out as it is made (plain, gzip, or zstd with a content checksum).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "trace/trace_internal.h"

struct writer {
	FILE *f;
	bool close_f;
	gzFile gz;
	ZSTD_CStream *zc;
	char *zbuf;
	size_t zcap;
	const char *path;
	int rc;                /* first error */
	char *err;
	size_t errlen;
};

static void w_error(struct writer *w, const char *why)
{
	if (w->rc)
		return;
	w->rc = -EIO;
	if (w->err && w->errlen)
		snprintf(w->err, w->errlen, "%s: cannot write: %s", w->path, why);
}

static void w_raw(struct writer *w, const void *p, size_t n)
{
	if (!w->rc && n && fwrite(p, 1, n, w->f) != n)
		w_error(w, strerror(errno));
}

static void zstd_pump(struct writer *w, ZSTD_inBuffer *in, ZSTD_EndDirective mode)
{
	for (;;) {
		ZSTD_outBuffer out = { w->zbuf, w->zcap, 0 };
		size_t left = ZSTD_compressStream2(w->zc, &out, in, mode);
		if (ZSTD_isError(left)) {
			w_error(w, ZSTD_getErrorName(left));
			return;
		}
		w_raw(w, w->zbuf, out.pos);
		if (w->rc || (mode == ZSTD_e_continue ? in->pos == in->size : left == 0))
			return;
	}
}

static void w_write(struct writer *w, const char *s, size_t n)
{
	if (w->rc || !n)
		return;
	if (w->gz) {
		if (gzwrite(w->gz, s, (unsigned)n) != (int)n)
			w_error(w, "gzip write failed");
	} else if (w->zc) {
		ZSTD_inBuffer in = { s, n, 0 };
		zstd_pump(w, &in, ZSTD_e_continue);
	} else {
		w_raw(w, s, n);
	}
}

static void w_puts(struct writer *w, const char *s)
{
	w_write(w, s, strlen(s));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

static int w_open(struct writer *w, const char *path, int compress, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->path = strcmp(path, "-") ? path : "standard output";
	w->err = err;
	w->errlen = errlen;
	if (compress < 0)
		compress = ends_with(path, ".gz") ? PTSIM_COMPRESS_GZIP
			 : ends_with(path, ".zst") ? PTSIM_COMPRESS_ZSTD : PTSIM_COMPRESS_NONE;
	if (!strcmp(path, "-")) {
		w->f = stdout;
	} else if (!(w->f = fopen(path, "wb"))) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -errno;
	} else {
		w->close_f = true;
	}
	if (compress == PTSIM_COMPRESS_GZIP) {
		/* zlib's own stream on a copy of the descriptor: gzclose() closes only the copy. */
		fflush(w->f);
		int fd = dup(fileno(w->f));
		if (fd < 0 || !(w->gz = gzdopen(fd, "wb"))) {
			if (fd >= 0)
				close(fd);
			return PTSIM_ENOMEM_HOST;
		}
	} else if (compress == PTSIM_COMPRESS_ZSTD) {
		w->zcap = ZSTD_CStreamOutSize();
		if (!(w->zc = ZSTD_createCStream()) || !(w->zbuf = malloc(w->zcap)))
			return PTSIM_ENOMEM_HOST;
		ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 3);
		/* A content checksum: a corrupt file is an error when read, not different events. */
		ZSTD_CCtx_setParameter(w->zc, ZSTD_c_checksumFlag, 1);
	}
	return 0;
}

/* Finish and close: the first error of the whole output, or 0. */
static int w_close(struct writer *w)
{
	if (w->gz && gzclose(w->gz) != Z_OK)
		w_error(w, "gzip close failed");
	w->gz = NULL;
	if (w->zc) {
		ZSTD_inBuffer in = { NULL, 0, 0 };
		zstd_pump(w, &in, ZSTD_e_end);
		ZSTD_freeCStream(w->zc);
		free(w->zbuf);
	}
	if (w->f && fflush(w->f) != 0)
		w_error(w, strerror(errno));
	if (w->close_f && fclose(w->f) != 0)
		w_error(w, strerror(errno));
	return w->rc;
}

struct conv {
	struct ptsim_trace *t;
	struct writer w;
	int to;
	bool expand;
	bool first;            /* v1 output: no comma before the first event */
	uint64_t written;      /* events written (after expansion) */
	uint64_t iter[PTSIM_MARK_MAX_DEPTH];   /* expanding: the iteration of each repeat written out */
	unsigned int depth;
	char *err;
	size_t errlen;
	char where[96];        /* the input position, for messages */
};

static int conv_fail(struct conv *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int conv_fail(struct conv *c, int rc, const char *fmt, ...)
{
	char detail[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: %s", c->where, detail);
	return rc;
}

static int numeric_field(const char *name)
{
	for (int f = 0; f < NR_NUM_FIELDS; f++)
		if (!strcmp(ptsim__trace_field_names[f], name))
			return f;
	return -1;
}

/* A field's value as the parser reads it (the input was checked: it is a number). */
static uint64_t field_value(const cJSON *it)
{
	uint64_t v = 0;
	bool neg;

	if (cJSON_IsNumber(it))
		return (uint64_t)it->valuedouble;
	ptsim__trace_parse_num(it->valuestring, &v, false, &neg);
	return v;
}

static int64_t step_value(const cJSON *it)
{
	uint64_t v = 0;
	bool neg = false;

	if (cJSON_IsNumber(it))
		return (int64_t)it->valuedouble;
	ptsim__trace_parse_num(it->valuestring, &v, true, &neg);
	return neg ? -(int64_t)v : (int64_t)v;
}

/* A stepped value, spelt as the original was: a number, or (a string, or from 2^53 on) "0x...". */
static cJSON *number_item(uint64_t v, bool as_string)
{
	char buf[24];

	if (v < (1ull << 53) && !as_string)
		return cJSON_CreateNumber((double)v);
	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return cJSON_CreateString(buf);
}

/*
 * An mmap that gives addr without "fixed", at any depth of repeats: v1 -> v2
 * adds "fixed": "noreplace" (what addr means in v1); v2 -> v1 refuses (a hint).
 */
static bool needs_fixed(const cJSON *ev)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(ev, "op"), *it;

	if (!cJSON_IsString(op))
		return false;
	if (!strcmp(op->valuestring, "mmap"))
		return cJSON_GetObjectItemCaseSensitive(ev, "addr") && !cJSON_GetObjectItemCaseSensitive(ev, "fixed");
	if (strcmp(op->valuestring, "repeat"))
		return false;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ev, "events"))
		if (needs_fixed(it))
			return true;
	return false;
}

static bool add_fixed(cJSON *ev)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(ev, "op");
	cJSON *it;

	if (!needs_fixed(ev))
		return true;
	if (!strcmp(op->valuestring, "mmap"))
		return cJSON_AddStringToObject(ev, "fixed", "noreplace") != NULL;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ev, "events"))
		if (!add_fixed(it))
			return false;
	return true;
}

static int emit_one(struct conv *c, const cJSON *ev)
{
	char *text = cJSON_PrintUnformatted(ev);

	if (!text)
		return PTSIM_ENOMEM_HOST;
	if (c->to == 2) {
		w_puts(&c->w, text);
		w_puts(&c->w, "\n");
	} else {
		w_puts(&c->w, c->first ? "\n  " : ",\n  ");
		w_puts(&c->w, text);
		c->first = false;
	}
	cJSON_free(text);
	c->written++;
	return c->w.rc;
}

/*
 * A mark inside expanded repeats keeps their iteration numbers (outermost
 * first, before any it already gave): the expanded trace reports the same
 * marks as the repeats did.
 */
static int add_iteration(struct conv *c, cJSON *mark)
{
	cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(mark, "iteration");
	int want = (int)c->depth + cJSON_GetArraySize(old);
	cJSON *arr = cJSON_CreateArray();
	const cJSON *x;

	if (want > PTSIM_MARK_MAX_DEPTH) {
		cJSON_Delete(old);
		cJSON_Delete(arr);
		return conv_fail(c, PTSIM_EBADEVENT, "field 'iteration': more than %d repeats around the mark",
				 PTSIM_MARK_MAX_DEPTH);
	}
	for (unsigned int d = 0; arr && d < c->depth; d++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)c->iter[d]));
	cJSON_ArrayForEach(x, old)
		if (arr)
			cJSON_AddItemToArray(arr, cJSON_Duplicate(x, false));
	cJSON_Delete(old);
	if (!arr || cJSON_GetArraySize(arr) != want || !cJSON_AddItemToObject(mark, "iteration", arr)) {
		cJSON_Delete(arr);
		return PTSIM_ENOMEM_HOST;
	}
	return 0;
}

/*
 * Write one event of the input (its repeat steps so far in @off, all zero
 * unless expanding): a repeat is multiplied out when expanding.
 */
static int emit(struct conv *c, const cJSON *ev, const int64_t *off, bool from_v1)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(ev, "op");
	bool repeat = cJSON_IsString(op) && !strcmp(op->valuestring, "repeat");
	int rc;

	if (c->expand && repeat) {
		if (cJSON_GetObjectItemCaseSensitive(ev, "var"))
			return conv_fail(c, PTSIM_EBADTRACE, "--expand-repeats: a repeat with a \"var\" stays a repeat "
					 "(its expressions are evaluated when the trace runs); convert without "
					 "--expand-repeats");
		uint64_t count = field_value(cJSON_GetObjectItemCaseSensitive(ev, "count"));
		const cJSON *step = cJSON_GetObjectItemCaseSensitive(ev, "step");
		const cJSON *body = cJSON_GetObjectItemCaseSensitive(ev, "events");
		int64_t inner[NR_NUM_FIELDS], s[NR_NUM_FIELDS] = { 0 };
		const cJSON *it;

		cJSON_ArrayForEach(it, step)
			s[numeric_field(it->string)] = step_value(it);
		for (uint64_t i = 0; i < count; i++) {
			for (int f = 0; f < NR_NUM_FIELDS; f++) {
				int64_t d;
				if (__builtin_mul_overflow(s[f], (int64_t)i, &d) ||
				    __builtin_add_overflow(off[f], d, &inner[f]))
					return conv_fail(c, PTSIM_EBADEVENT, "repeat iteration %" PRIu64 ": step '%s' "
							 "leaves the 64-bit range", i, ptsim__trace_field_names[f]);
			}
			if (c->depth < PTSIM_MARK_MAX_DEPTH)
				c->iter[c->depth] = i;
			c->depth++;
			cJSON_ArrayForEach(it, body)
				if ((rc = emit(c, it, inner, from_v1)))
					break;
			c->depth--;
			if (rc)
				return rc;
		}
		return 0;
	}
	if (c->written >= c->t->opts.max_events)
		return conv_fail(c, PTSIM_ELIMIT, "more than %llu events after expanding repeats (the --max-events "
				 "limit)", c->t->opts.max_events);
	/* v2 -> v1: a hint (addr without "fixed") has no v1 form: there addr alone is fixed. */
	if (c->to == 1 && !from_v1 && needs_fixed(ev))
		return conv_fail(c, PTSIM_EBADTRACE, "an mmap with field 'addr' and no 'fixed' is a hint in version 2 "
				 "(the kernel may put the mapping elsewhere); version 1 has no hints (there addr means "
				 "\"fixed\": \"noreplace\"): add \"fixed\" to the event or keep the trace in version 2");
	cJSON *copy = NULL;
	bool stepped = false;
	for (int f = 0; f < NR_NUM_FIELDS; f++)
		stepped |= off[f] != 0;
	bool fixed = c->to == 2 && from_v1 && needs_fixed(ev);
	bool mark_iter = c->depth && cJSON_IsString(op) && !strcmp(op->valuestring, "mark");
	if (stepped || fixed || mark_iter) {
		if (!(copy = cJSON_Duplicate(ev, true)))
			return PTSIM_ENOMEM_HOST;
		cJSON *it;
		cJSON_ArrayForEach(it, copy) {
			int f = numeric_field(it->string);
			if (f < 0 || !off[f] || f == F_COUNT)
				continue;
			uint64_t base;
			bool neg;
			if (cJSON_IsString(it) && ptsim__trace_parse_num(it->valuestring, &base, false, &neg)) {
				cJSON_Delete(copy);
				return conv_fail(c, PTSIM_EBADTRACE, "--expand-repeats: field '%s' is an expression "
						 "(\"%s\") and a repeat steps it; convert without --expand-repeats",
						 it->string, it->valuestring);
			}
			uint64_t v = field_value(it) + (uint64_t)off[f];
			if ((off[f] > 0 && v < field_value(it)) || (off[f] < 0 && v > field_value(it))) {
				cJSON_Delete(copy);
				return conv_fail(c, PTSIM_EBADEVENT, "field '%s': the repeat steps (%" PRId64 ") leave the "
						 "64-bit range", it->string, off[f]);
			}
			cJSON *n = number_item(v, cJSON_IsString(it));
			if (n) {
				/* The key moves to the new item (cJSON_ReplaceItemViaPointer() keeps none). */
				n->string = it->string;
				it->string = NULL;
			}
			if (!n || !cJSON_ReplaceItemViaPointer(copy, it, n)) {
				cJSON_Delete(n);
				cJSON_Delete(copy);
				return PTSIM_ENOMEM_HOST;
			}
			it = n;
		}
		if (fixed && !add_fixed(copy)) {
			cJSON_Delete(copy);
			return PTSIM_ENOMEM_HOST;
		}
		if (mark_iter && (rc = add_iteration(c, copy))) {
			cJSON_Delete(copy);
			return rc;
		}
	}
	rc = emit_one(c, copy ? copy : ev);
	cJSON_Delete(copy);
	return rc;
}

/* The header (v2) or the start of the document up to "events": [ (v1), from the input's top level. */
static int write_start(struct conv *c, const cJSON *top)
{
	cJSON *h = cJSON_Duplicate(top, true);
	int rc = 0;

	if (!h)
		return PTSIM_ENOMEM_HOST;
	cJSON_DeleteItemFromObjectCaseSensitive(h, "events");
	cJSON_ReplaceItemInObjectCaseSensitive(h, "ptsim_trace", cJSON_CreateNumber(c->to));
	char *text = cJSON_PrintUnformatted(h);
	if (!text) {
		rc = PTSIM_ENOMEM_HOST;
	} else if (c->to == 2) {
		w_puts(&c->w, text);
		w_puts(&c->w, "\n");
	} else {
		/* The object without its closing brace, then the events array. */
		w_write(&c->w, text, strlen(text) - 1);
		w_puts(&c->w, ",\"events\":[");
	}
	cJSON_free(text);
	cJSON_Delete(h);
	return rc ? rc : c->w.rc;
}

static int write_end(struct conv *c, bool recorded_at_end)
{
	if (c->to == 1) {
		w_puts(&c->w, c->first ? "]" : "\n]");
		if (recorded_at_end) {
			w_puts(&c->w, ",\"recorded\":");
			w_puts(&c->w, c->t->recorded);
		}
		w_puts(&c->w, "}\n");
	} else if (recorded_at_end) {
		w_puts(&c->w, "{\"recorded\":");
		w_puts(&c->w, c->t->recorded);
		w_puts(&c->w, "}\n");
	}
	return c->w.rc;
}

PTSIM_API void ptsim_trace_convert_options_init(struct ptsim_trace_convert_options *o)
{
	memset(o, 0, sizeof(*o));
	o->version = PTSIM_TRACE_CONVERT_OPTIONS_VERSION;
	o->compress = -1;
}

PTSIM_API int ptsim_trace_convert(const char *in, const char *out, const struct ptsim_trace_convert_options *opts,
				  char *err, size_t errlen)
{
	struct ptsim_trace_convert_options o;
	struct conv c;
	int64_t zero[NR_NUM_FIELDS] = { 0 };
	int rc;

	if (!in || !out)
		return -EINVAL;
	if (opts)
		o = *opts;
	else
		ptsim_trace_convert_options_init(&o);
	if (o.to < 0 || o.to > 2)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errlen = errlen;
	c.expand = o.expand_repeats;
	c.first = true;
	if ((rc = ptsim__trace_open(&c.t, in, o.limits, true, err, errlen)))
		return rc;
	c.to = o.to ? o.to : c.t->format == 1 ? 2 : 1;
	if ((rc = w_open(&c.w, out, o.compress, err, errlen)))
		goto out;
	if ((rc = write_start(&c, c.t->json)))
		goto out;
	if (c.t->format == 1) {
		const cJSON *ev;
		int i = 0;
		cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(c.t->json, "events")) {
			snprintf(c.where, sizeof(c.where), "events[%d]", i++);
			if ((rc = emit(&c, ev, zero, true)))
				goto out;
		}
		rc = write_end(&c, false);
		goto out;
	}
	for (;;) {
		char *line;
		size_t len;
		bool trailer;
		struct tevent ev;
		cJSON *obj = NULL;

		rc = ptsim__trace_next_line(c.t, &line, &len, err, errlen);
		if (rc == 1)
			break;
		if (rc)
			goto out;
		struct perr pe = { .buf = err, .len = errlen, .in_line = true };
		snprintf(pe.path, sizeof(pe.path), "line %" PRIu64 " (event %" PRIu64 ")", c.t->line, c.written);
		snprintf(c.where, sizeof(c.where), "line %" PRIu64, c.t->line);
		rc = ptsim__trace_parse_line(&pe, c.t, line, len, &ev, &trailer, &obj);
		ptsim__trace_clear_event(&ev);
		if (!rc && !trailer)
			rc = emit(&c, obj, zero, false);
		cJSON_Delete(obj);
		if (rc)
			goto out;
	}
	rc = write_end(&c, c.t->trailer_line != 0);
out:
	if (c.w.f) {
		int wrc = w_close(&c.w);
		if (!rc)
			rc = wrc;
		/* Half a trace is no trace: a file output is removed on any error. */
		if (rc && c.w.close_f)
			unlink(out);
	}
	ptsim_trace_free(c.t);
	return rc;
}
