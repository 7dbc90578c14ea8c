/*
 * Traces: the public entry points (include/ptsim/trace.h).  Reading is in
 * reader.c, parsing in parse.c, replay in replay.c; trace_internal.h says how
 * they fit together and how to add an op.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "trace/trace_internal.h"

/* A live trace handle (not NULL, not freed, a trace at all). */
static bool trace_ok(const struct ptsim_trace *t)
{
	return t && t->magic == PTSIM_TRACE_MAGIC;
}

/* A NULL pointer argument of a loader: -EINVAL, said in the caller's buffer. */
static int arg_err(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s must not be NULL", what);
	return -EINVAL;
}

PTSIM_API void ptsim_trace_free(struct ptsim_trace *t)
{
	if (!trace_ok(t))
		return;
	*(volatile uint64_t *)&t->magic = 0;   /* a second free, or a later use, is refused (not a dead store) */
	ptsim__trace_free_events(t->events, t->nr_events);
	ptsim__trace_reader_close(t->rd);
	cJSON_free(t->recorded);
	cJSON_Delete(t->json);
	for (size_t i = 0; i < t->names.n; i++)
		free(t->names.name[i]);
	free(t->names.name);
	free(t->preset);
	for (size_t i = 0; i < t->nr_set; i++)
		free(t->set[i]);
	free(t->set);
	free(t);
}

PTSIM_API void ptsim_trace_options_init(struct ptsim_trace_options *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->version = PTSIM_TRACE_OPTIONS_VERSION;
	opts->max_input_bytes = PTSIM_TRACE_DEFAULT_MAX_INPUT;
	opts->max_line_bytes = PTSIM_TRACE_DEFAULT_MAX_LINE;
	opts->max_events = PTSIM_TRACE_DEFAULT_MAX_EVENTS;
}

static int trace_new(struct ptsim_trace **out, const struct ptsim_trace_options *opts)
{
	struct ptsim_trace *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return PTSIM_ENOMEM_HOST;
	t->magic = PTSIM_TRACE_MAGIC;
	t->format = 1;
	t->cpus = 2;
	t->seed = 1;
	ptsim_trace_options_init(&t->opts);
	if (opts) {
		if (opts->max_input_bytes)
			t->opts.max_input_bytes = opts->max_input_bytes;
		if (opts->max_line_bytes)
			t->opts.max_line_bytes = opts->max_line_bytes;
		if (opts->max_events)
			t->opts.max_events = opts->max_events;
	}
	*out = t;
	return 0;
}

/*
 * Text that cannot start any JSON value (a control or non-ASCII byte first):
 * say what the input looks like instead of "malformed JSON near byte 0".
 */
static int check_text(struct perr *pe, const char *what, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;

	if (!len || (p[0] >= 0x20 && p[0] < 0x7f))
		return 0;
	char bytes[16] = "";
	for (size_t i = 0; i < len && i < 4; i++)
		snprintf(bytes + strlen(bytes), sizeof(bytes) - strlen(bytes), "%s%02x", i ? " " : "", p[i]);
	return ptsim__trace_fail(pe, "%s is not a trace: it starts with the bytes %s, which are neither JSON text nor "
				 "gzip (1f 8b) or zstd (28 b5 2f fd) data", what, bytes);
}

/*
 * Is this line a v2 header: one JSON object whose "ptsim_trace" is the number
 * 2?  1 yes, 0 no, PTSIM_ENOMEM_HOST if cJSON ran out of memory on a
 * well-formed line (then nobody can tell: the load fails with out of memory).
 */
static int v2_header(const char *line, size_t len)
{
	const char *end = NULL;
	cJSON *root = ptsim__json_parse(line, len, &end);
	bool v2 = false;

	if (!root && ptsim__json_well_formed(line, len, CJSON_NESTING_LIMIT))
		return PTSIM_ENOMEM_HOST;
	if (root && end) {
		while (end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
			end++;
		const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "ptsim_trace");
		v2 = end == line + len && cJSON_IsObject(root) && cJSON_IsNumber(ver) && ver->valuedouble == 2;
	}
	cJSON_Delete(root);
	return v2;
}

/* Load from a reader: a v2 header (the reader stays open in @t), or a whole v1 document. */
static int load_reader(struct ptsim_trace *t, struct trace_reader *rd, struct perr *pe, const char *what)
{
	size_t s, e = 0;
	int rc = ptsim__trace_reader_peek_line(rd, t->opts.max_line_bytes, &s, &e, pe->buf, pe->len);

	if (rc < 0) {
		ptsim__trace_reader_close(rd);
		return rc;
	}
	const char *data = ptsim__trace_reader_data(rd);
	if (s != SIZE_MAX && (rc = check_text(pe, what, data + s, e > s ? (e - s < 4 ? e - s : 4) : 1))) {
		ptsim__trace_reader_close(rd);
		return rc;
	}
	int v2 = s != SIZE_MAX && e - s <= t->opts.max_line_bytes ? v2_header(data + s, e - s) : 0;
	if (v2 < 0) {
		ptsim__trace_reader_close(rd);
		return ptsim__trace_oom(pe);
	}
	if (v2) {
		cJSON *root;
		uint64_t line = 1;
		for (size_t i = 0; i < s; i++)
			line += data[i] == '\n';
		snprintf(pe->path, sizeof(pe->path), "line %" PRIu64, line);
		if ((rc = ptsim__trace_parse_json(pe, data + s, e - s, true, &root)) == 0) {
			rc = ptsim__trace_parse_top(pe, t, root, 2);
			if (t->keep_json && !rc)
				t->json = root;
			else
				cJSON_Delete(root);
		}
		if (rc) {
			ptsim__trace_reader_close(rd);
			return rc;
		}
		ptsim__trace_reader_skip(rd, e);
		t->format = 2;
		t->line = line;
		t->rd = rd;
		return 0;
	}
	const char *doc;
	size_t len;
	rc = ptsim__trace_reader_rest(rd, t->opts.max_input_bytes, &doc, &len, pe->buf, pe->len);
	if (!rc)
		rc = ptsim__trace_parse_document(pe, t, doc, len);
	const char *end;
	if (!rc && t->keep_json && !(t->json = ptsim__json_parse(doc, len, &end)))
		rc = ptsim__trace_oom(pe);
	ptsim__trace_reader_close(rd);
	return rc;
}

PTSIM_API int ptsim_trace_load_opts(struct ptsim_trace **out, const char *data, size_t len,
				    const struct ptsim_trace_options *opts, char *err, size_t errlen)
{
	struct perr pe = { .buf = err, .len = errlen, .in_line = false };
	struct trace_reader *rd = NULL;
	struct ptsim_trace *t;
	int rc;

	if (!out)
		return arg_err(err, errlen, "ptsim_trace_load: out");
	*out = NULL;
	if (!data)
		return arg_err(err, errlen, "ptsim_trace_load: data");
	if ((rc = trace_new(&t, opts)))
		return rc;
	/* Plain text: a v1 document is parsed in place; anything else goes through a reader (a copy). */
	size_t s = 0, e;
	while (s < len && (data[s] == ' ' || data[s] == '\t' || data[s] == '\r' || data[s] == '\n'))
		s++;
	const char *nl = s < len ? memchr(data + s, '\n', len - s) : NULL;
	e = nl ? (size_t)(nl - data) : len;
	int v2 = e - s <= t->opts.max_line_bytes ? v2_header(data + s, e - s) : 0;
	if (v2 < 0) {
		rc = ptsim__trace_oom(&pe);
	} else if (ptsim__trace_is_compressed(data, len) || v2) {
		if ((rc = ptsim__trace_reader_open_mem(&rd, data, len)) == 0)
			rc = load_reader(t, rd, &pe, "the buffer");
	} else if (len > t->opts.max_input_bytes) {
		ptsim__trace_fail(&pe, "the trace is larger than the input limit of %llu bytes", t->opts.max_input_bytes);
		rc = PTSIM_ELIMIT;
	} else if (!(rc = check_text(&pe, "the buffer", data + s, len - s < 4 ? len - s : 4))) {
		rc = ptsim__trace_parse_document(&pe, t, data, len);
	}
	if (rc) {
		ptsim_trace_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

PTSIM_API int ptsim_trace_load(struct ptsim_trace **out, const char *data, size_t len, char *err, size_t errlen)
{
	return ptsim_trace_load_opts(out, data, len, NULL, err, errlen);
}

/* Load @path; @keep_json: keep the v1 document or the v2 header as a cJSON tree in t->json (ptsim convert). */
int ptsim__trace_open(struct ptsim_trace **out, const char *path, const struct ptsim_trace_options *opts,
		      bool keep_json, char *err, size_t errlen)
{
	struct perr pe = { .buf = err, .len = errlen, .in_line = false };
	struct trace_reader *rd;
	struct ptsim_trace *t;
	int rc;

	if (!out)
		return arg_err(err, errlen, "ptsim_trace_load_file: out");
	*out = NULL;
	if (!path)
		return arg_err(err, errlen, "ptsim_trace_load_file: path");
	if ((rc = ptsim__trace_reader_open_file(&rd, path, err, errlen)))
		return rc;
	if ((rc = trace_new(&t, opts))) {
		ptsim__trace_reader_close(rd);
		return rc;
	}
	t->keep_json = keep_json;
	rc = load_reader(t, rd, &pe, strcmp(path, "-") ? path : "standard input");
	if (rc) {
		ptsim_trace_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

PTSIM_API int ptsim_trace_load_file_opts(struct ptsim_trace **out, const char *path,
					 const struct ptsim_trace_options *opts, char *err, size_t errlen)
{
	return ptsim__trace_open(out, path, opts, false, err, errlen);
}

PTSIM_API int ptsim_trace_load_file(struct ptsim_trace **out, const char *path, char *err, size_t errlen)
{
	return ptsim_trace_load_file_opts(out, path, NULL, err, errlen);
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * The next line of a v2 trace that is not blank (t->line: its number):
 * 0, 1 at the end of the input, or an error with the whole message in @msg.
 * A line after the trailer is an error.  The caller sets t->trailer_line
 * when the line is the trailer.
 */
int ptsim__trace_next_line(struct ptsim_trace *t, char **line, size_t *len, char *msg, size_t msglen)
{
	char rerr[256];
	int rc;

	for (;;) {
		rerr[0] = 0;
		rc = ptsim__trace_reader_line(t->rd, t->opts.max_line_bytes, line, len, rerr, sizeof(rerr));
		if (rc == 1)
			return 1;
		t->line++;
		if (rc == PTSIM_ELIMIT) {
			snprintf(msg, msglen, "line %" PRIu64 ": longer than the line limit of %llu bytes", t->line,
				 t->opts.max_line_bytes);
			return rc;
		}
		if (rc) {
			snprintf(msg, msglen, "line %" PRIu64 ": %s", t->line, rerr[0] ? rerr : ptsim_strerror(rc));
			return rc;
		}
		if (blank(*line, *len))
			continue;
		if (t->trailer_line) {
			snprintf(msg, msglen, "line %" PRIu64 ": nothing may follow the trailer line {\"recorded\": ...} "
				 "(line %" PRIu64 ")", t->line, t->trailer_line);
			return PTSIM_EBADTRACE;
		}
		return 0;
	}
}

PTSIM_API int ptsim_trace_format(const struct ptsim_trace *t)
{
	return trace_ok(t) ? t->format : -EINVAL;
}

PTSIM_API const char *ptsim_trace_recorded(const struct ptsim_trace *t)
{
	return trace_ok(t) ? t->recorded : NULL;
}

PTSIM_API int ptsim_trace_config(struct ptsim_trace *t, struct ptsim_config *cfg)
{
	if (!trace_ok(t) || !cfg)
		return -EINVAL;
	ptsim_config_init(cfg);
	cfg->arch = t->arch;
	cfg->cpus = t->cpus;
	cfg->paging_levels = t->paging_levels;
	cfg->granule = t->granule;
	cfg->va_bits = t->va_bits;
	cfg->seed = t->seed;
	cfg->preset = t->preset;
	cfg->set = (const char *const *)t->set;
	return 0;
}

PTSIM_API int ptsim_trace_config_add(struct ptsim_trace *t, const char *kv)
{
	if (!trace_ok(t) || !kv || !strchr(kv, '='))
		return -EINVAL;
	return ptsim__trace_add_set(t, kv);
}

PTSIM_API int ptsim_trace_run(struct ptsim_trace *t, struct ptsim_machine *m)
{
	return ptsim_trace_run_with(t, m, NULL);
}

PTSIM_API size_t ptsim_trace_op_count(void)
{
	return NR_OPS;
}

PTSIM_API const char *ptsim_trace_op_name(size_t i)
{
	return i < NR_OPS ? ptsim__trace_ops[i].name : NULL;
}

PTSIM_API int ptsim_trace_run_with(struct ptsim_trace *t, struct ptsim_machine *m, const struct ptsim_trace_hooks *h)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	if (!trace_ok(t)) {
		m->ev_op = "trace";
		return ptsim__err(m, -EINVAL, "trace", "not a live trace (NULL, freed, or not a trace handle)");
	}
	m->in_trace = true;
	rc = t->format == 2 ? ptsim__trace_replay_stream(m, t, h) : ptsim__trace_replay(m, t, h);
	m->in_trace = false;
	m->ev_line = 0;
	if (!rc) {
		/* Every concurrency point must be closed by the end. */
		m->ev_op = "trace";
		for (unsigned int c = 0; c < m->nr_cpus && !rc; c++) {
			if (m->cpus[c].in_schedule)
				rc = ptsim__err(m, PTSIM_EBADTRACE, NULL,
						"the trace ends with cpu %u inside the scheduler (add schedule_end)", c);
			else if (m->cpus[c].irqs_off)
				rc = ptsim__err(m, PTSIM_EBADTRACE, NULL,
						"the trace ends with cpu %u inside a GUP-fast walk (add gup_fast_end)", c);
			else if (m->cpus[c].reader_epoch)
				rc = ptsim__err(m, PTSIM_EBADTRACE, NULL,
						"the trace ends with cpu %u inside an RCU reader (add rcu_read_end)", c);
			else if (m->cpus[c].held_lock_table)
				rc = ptsim__err(m, PTSIM_EBADTRACE, NULL,
						"the trace ends with cpu %u holding a PMD lock (add pmd_unlock)", c);
		}
	}
	return rc;
}
