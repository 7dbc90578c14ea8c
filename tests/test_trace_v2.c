/*
 * Trace format v2 (JSON Lines, docs/trace-format.md): the same events give
 * the same report as v1, plain, gzip or zstd, from a file, a buffer or
 * standard input; errors name the line, the event and the field; the input
 * limits hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <zlib.h>
#include <zstd.h>

#include "support/cli.h"
#include "support/helpers.h"

#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	assert_non_null(f);
	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = 2 * cap + 65536 + 1;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *tmp(const char *name)
{
	char *p = malloc(strlen(PTSIM_TEST_TMPDIR) + strlen(name) + 2);
	assert_non_null(p);
	sprintf(p, "%s/%s", PTSIM_TEST_TMPDIR, name);
	return p;
}

/* What addr alone means in v1, said in v2: every mmap with addr and no "fixed", in repeats too. */
static void add_noreplace(cJSON *ev)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(ev, "op");
	cJSON *it;

	if (cJSON_IsString(op) && !strcmp(op->valuestring, "mmap") && cJSON_GetObjectItemCaseSensitive(ev, "addr") &&
	    !cJSON_GetObjectItemCaseSensitive(ev, "fixed"))
		assert_non_null(cJSON_AddStringToObject(ev, "fixed", "noreplace"));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ev, "events"))
		add_noreplace(it);
}

/* v1 text to v2 text, independently of the library: the header, then each event on its own line. */
static char *to_v2(const char *v1)
{
	cJSON *root = cJSON_Parse(v1);
	assert_non_null(root);
	cJSON *events = cJSON_DetachItemFromObjectCaseSensitive(root, "events");
	cJSON_ReplaceItemInObjectCaseSensitive(root, "ptsim_trace", cJSON_CreateNumber(2));
	size_t cap = strlen(v1) * 2 + 1024, n = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	char *h = cJSON_PrintUnformatted(root);
	n += (size_t)sprintf(out + n, "%s\n", h);
	cJSON_free(h);
	cJSON *ev;
	cJSON_ArrayForEach(ev, events) {
		add_noreplace(ev);
		char *e = cJSON_PrintUnformatted(ev);
		assert_true(n + strlen(e) + 2 < cap);
		n += (size_t)sprintf(out + n, "%s\n", e);
		cJSON_free(e);
	}
	cJSON_Delete(events);
	cJSON_Delete(root);
	return out;
}

/* v2 text to v1 text (the header's fields, the lines as the events array). */
static char *to_v1_text(const char *v2)
{
	const char *nl = strchr(v2, '\n');
	cJSON *root = cJSON_ParseWithLength(v2, (size_t)(nl - v2));
	cJSON *events = cJSON_AddArrayToObject(root, "events");
	cJSON_ReplaceItemInObjectCaseSensitive(root, "ptsim_trace", cJSON_CreateNumber(1));
	for (const char *p = nl + 1; *p; p = strchr(p, '\n') + 1)
		cJSON_AddItemToArray(events, cJSON_ParseWithLength(p, (size_t)(strchr(p, '\n') - p)));
	char *out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	char *copy = strdup(out);
	cJSON_free(out);
	return copy;
}

static void write_gz(const char *path, const char *text)
{
	gzFile g = gzopen(path, "wb");
	assert_non_null(g);
	assert_int_equal(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
	assert_int_equal(gzclose(g), Z_OK);
}

/* With a content checksum, as ptsim convert writes it: corruption is caught. */
static void write_zst(const char *path, const char *text)
{
	size_t len = strlen(text), cap = ZSTD_compressBound(len);
	void *buf = malloc(cap);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	assert_non_null(buf);
	assert_non_null(cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	size_t n = ZSTD_compress2(cc, buf, cap, text, len);
	assert_false(ZSTD_isError(n));
	ZSTD_freeCCtx(cc);
	spit(path, buf, n);
	free(buf);
}

/* Load (a file, or @len bytes of a buffer), build the trace's machine, run it: the JSON report, or NULL + @err. */
static char *run_report(const char *path, const char *data, size_t len, int *rc_out, char *err, size_t errlen)
{
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	int rc = path ? ptsim_trace_load_file(&t, path, err, errlen) : ptsim_trace_load(&t, data, len, err, errlen);
	char *report = NULL;

	if (!rc) {
		ptsim_trace_config(t, &cfg);
		rc = ptsim_machine_create(&m, &cfg, err, errlen);
	}
	if (!rc) {
		rc = ptsim_trace_run(t, m);
		if (rc)
			snprintf(err, errlen, "%s", ptsim_machine_errmsg(m));
		else
			report = ptsim_report_json(m);
	}
	if (m)
		t_destroy(m);
	ptsim_trace_free(t);
	*rc_out = rc;
	return report;
}

static const char *const some_traces[] = {
	"oracle/w3_munmap_spin.json",
	"oracle/w2_aligned_g2_k1.json",
	"seeds/pt_reclaim_rcu_reader.json",
	"examples/hugetlb_unshare_lazy_cpu.json",
};

/* A v1 trace and its v2 form (a buffer, a file, gzip, zstd) give byte-identical JSON reports. */
static void test_trace_v2__same_report_as_v1(void **s)
{
	(void)s;
	char err[512];
	int rc;

	for (size_t i = 0; i < sizeof(some_traces) / sizeof(some_traces[0]); i++) {
		char path[4096];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, some_traces[i]);
		char *v1 = slurp(path, &len);
		char *want = run_report(path, NULL, 0, &rc, err, sizeof(err));
		if (rc)
			fail_msg("%s: %s", some_traces[i], err);
		char *v2 = to_v2(v1);
		char *plain = tmp("v2_same.jsonl"), *gz = tmp("v2_same.jsonl.gz"), *zst = tmp("v2_same.jsonl.zst");
		spit(plain, v2, strlen(v2));
		write_gz(gz, v2);
		write_zst(zst, v2);
		const char *files[] = { plain, gz, zst };
		for (size_t k = 0; k < 3; k++) {
			char *got = run_report(files[k], NULL, 0, &rc, err, sizeof(err));
			if (rc)
				fail_msg("%s as %s: %s", some_traces[i], files[k], err);
			assert_string_equal(got, want);
			ptsim_free(got);
			/* The same bytes from a buffer. */
			char *bytes = slurp(files[k], &len);
			got = run_report(NULL, bytes, len, &rc, err, sizeof(err));
			if (rc)
				fail_msg("%s from a buffer (%s): %s", some_traces[i], files[k], err);
			assert_string_equal(got, want);
			ptsim_free(got);
			free(bytes);
		}
		free(plain);
		free(gz);
		free(zst);
		free(v2);
		free(v1);
		ptsim_free(want);
	}
}

#define HDR "{\"ptsim_trace\": 2, \"machine\": {\"cpus\": 2}}\n"
#define SPAWN "{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}\n"
#define MAP "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"64K\", \"prot\": \"rw\"}\n"

/* Load and run @text; the error message must hold every needle. */
#define V2_ERR(text, code, ...) v2_err(text, strlen(text), code, (const char *const[]){ __VA_ARGS__, NULL })
static void v2_err(const char *text, size_t len, int code, const char *const *needles)
{
	char err[512] = "";
	int rc;
	char *report = run_report(NULL, text, len, &rc, err, sizeof(err));

	if (rc != code)
		fail_msg("%s: expected %s, got %s (%s)", text, ptsim_errname(code), ptsim_errname(rc), err);
	assert_null(report);
	for (size_t i = 0; needles[i]; i++)
		if (!strstr(err, needles[i]))
			fail_msg("message \"%s\" lacks \"%s\"", err, needles[i]);
}

static void test_trace_v2__errors_name_line_event_and_field(void **s)
{
	(void)s;
	/* Blank lines count: the munmap is on line 6 and is event 2 (spawn 0, mmap 1). */
	V2_ERR(HDR SPAWN "\n" MAP "   \n{\"op\": \"munmap\", \"task\": 1, \"addr\": \"0x100100\", \"len\": \"4K\"}\n",
	       -EINVAL, "line 6 (event 2, munmap): field 'addr'", "not page-aligned");
	V2_ERR(HDR SPAWN "{\"op\": \"munmap\", \"task\": 1, \"adr\": 4096, \"len\": 4096}\n", PTSIM_EBADTRACE,
	       "line 3 (event 1, munmap): unknown field 'adr' for op munmap");
	V2_ERR(HDR SPAWN "{\"op\": \"mmap\", \"task\": 1, \"addr\": 4096, \"len\": 4096, \"prot\": \"rwz\"}\n",
	       PTSIM_EBADTRACE, "line 3 (event 1, mmap): field 'prot'", "rwz");
	V2_ERR(HDR SPAWN "{\"op\": \"mark\", \"name\": \"x\"} trailing\n", PTSIM_EBADTRACE,
	       "line 3 (event 1): malformed JSON near column 29");
	V2_ERR(HDR "{\"task\": 1}\n", PTSIM_EBADTRACE, "line 2 (event 0): missing field 'op'");
	V2_ERR(HDR "[1]\n", PTSIM_EBADTRACE, "line 2 (event 0): an event must be a JSON object");
	/* Inside a repeat on a line: the iteration and the position in the body. */
	V2_ERR(HDR SPAWN "{\"op\": \"repeat\", \"count\": 3, \"events\": [{\"op\": \"spawn\", \"task\": 2, \"cpu\": 1}]}\n",
	       -EEXIST, "line 3 (event 2, spawn) at [i=1].events[0]: field 'task'");
	/* The header. */
	V2_ERR("{\"ptsim_trace\": 2, \"machin\": {}}\n" SPAWN, PTSIM_EBADTRACE,
	       "line 1: unknown top-level field 'machin' (ptsim_trace, machine, comment, recorded)");
	V2_ERR("{\"ptsim_trace\": 2, \"machine\": {\"cpus\": 0}}\n", PTSIM_EBADTRACE,
	       "machine: field 'cpus': must be at least 1");
	V2_ERR("{\"ptsim_trace\": 2, \"events\": []}\n", PTSIM_EBADTRACE, "field 'ptsim_trace'",
	       "JSON Lines: the events follow the header line");
	/* The trailer is last. */
	V2_ERR(HDR SPAWN "{\"recorded\": {\"ipis\": 3}}\n\n" SPAWN, PTSIM_EBADTRACE,
	       "line 5: nothing may follow the trailer line", "(line 3)");
	V2_ERR(HDR "{\"recorded\": {\"ipis\": 3}, \"x\": 1}\n", PTSIM_EBADTRACE,
	       "line 2 (event 0): the trailer line holds only 'recorded', not 'x'");
	V2_ERR("{\"ptsim_trace\": 2, \"recorded\": {}}\n{\"recorded\": {}}\n", PTSIM_EBADTRACE,
	       "line 2 (event 0): field 'recorded': given twice");
}

/* Header and trailer "recorded", the format, a line ending in \r\n, no final newline; one run only. */
static void test_trace_v2__recorded_format_and_one_run(void **s)
{
	(void)s;
	const char *text = "{\"ptsim_trace\": 2, \"recorded\": {\"ipis\": 7}}\r\n" SPAWN "{\"op\": \"mark\", \"name\": \"end\"}";
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[512];

	assert_int_equal(ptsim_trace_load(&t, text, strlen(text), err, sizeof(err)), 0);
	assert_int_equal(ptsim_trace_format(t), 2);
	assert_string_equal(ptsim_trace_recorded(t), "{\"ipis\":7}");
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	T_OK(m, ptsim_trace_run(t, m));
	assert_int_equal(ptsim_trace_run(t, m), -EINVAL);
	assert_non_null(strstr(ptsim_machine_errmsg(m), "a JSON Lines trace runs once"));
	t_destroy(m);
	ptsim_trace_free(t);

	text = HDR SPAWN "{\"recorded\": {\"ipis\": 9}}\n\n";
	assert_int_equal(ptsim_trace_load(&t, text, strlen(text), err, sizeof(err)), 0);
	assert_null(ptsim_trace_recorded(t));
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	T_OK(m, ptsim_trace_run(t, m));
	assert_string_equal(ptsim_trace_recorded(t), "{\"ipis\":9}");
	t_destroy(m);
	ptsim_trace_free(t);

	/* v1 is format 1 and may carry "recorded" too. */
	text = "{\"ptsim_trace\": 1, \"recorded\": {\"a\": [1]}, \"events\": []}";
	assert_int_equal(ptsim_trace_load(&t, text, strlen(text), err, sizeof(err)), 0);
	assert_int_equal(ptsim_trace_format(t), 1);
	assert_string_equal(ptsim_trace_recorded(t), "{\"a\":[1]}");
	ptsim_trace_free(t);
}

/* Compressed input that is cut short or corrupt is an error, not a shorter trace. */
static void test_trace_v2__truncated_and_corrupt_compression(void **s)
{
	(void)s;
	char big[65536] = HDR SPAWN;
	char err[512];
	int rc;

	/* Enough lines that the cut falls after the header. */
	for (int i = 0; strlen(big) + 64 < sizeof(big) / 2; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "{\"op\": \"mark\", \"name\": \"m%d\"}\n", i);
	char *gz = tmp("v2_trunc.jsonl.gz"), *zst = tmp("v2_trunc.jsonl.zst");
	write_gz(gz, big);
	write_zst(zst, big);
	const char *files[] = { gz, zst };
	const char *what[] = { "truncated gzip data", "truncated zstd data" };
	for (size_t k = 0; k < 2; k++) {
		size_t len;
		char *bytes = slurp(files[k], &len);
		/* Whole: fine. */
		char *rep = run_report(NULL, bytes, len, &rc, err, sizeof(err));
		assert_int_equal(rc, 0);
		ptsim_free(rep);
		/* Cut in the middle, or just before its end (the gzip trailer, the zstd frame end). */
		size_t cuts[] = { len / 2, len - 3 };
		for (size_t c = 0; c < 2; c++) {
			rep = run_report(NULL, bytes, cuts[c], &rc, err, sizeof(err));
			assert_null(rep);
			assert_int_equal(rc, PTSIM_EBADTRACE);
			if (!strstr(err, what[k]))
				fail_msg("cut at %zu of %zu: \"%s\"", cuts[c], len, err);
		}
		/* A flipped byte in the middle of the data. */
		bytes[len / 2] ^= 0x55;
		rep = run_report(NULL, bytes, len, &rc, err, sizeof(err));
		assert_null(rep);
		if (!strstr(err, "corrupt") && !strstr(err, "malformed"))
			fail_msg("flipped byte: \"%s\"", err);
		free(bytes);
	}
	free(gz);
	free(zst);
}

/* Input that is not a trace at all, a directory, /dev/zero, and the size limits. */
static void test_trace_v2__not_a_trace_and_limits(void **s)
{
	(void)s;
	struct ptsim_trace *t = NULL;
	struct ptsim_trace_options o;
	char err[512];

	/* xz's magic: said as such, not "malformed JSON". */
	const char xz[] = "\xfd" "7zXZ\0\0\0";
	assert_int_equal(ptsim_trace_load(&t, xz, sizeof(xz) - 1, err, sizeof(err)), PTSIM_EBADTRACE);
	assert_non_null(strstr(err, "is not a trace: it starts with the bytes fd 37 7a 58"));
	assert_null(t);
	assert_int_equal(ptsim_trace_load_file(&t, "/dev/zero", err, sizeof(err)), PTSIM_EBADTRACE);
	if (!strstr(err, "/dev/zero is not a trace: it starts with the bytes 00 00 00 00"))
		fail_msg("/dev/zero: \"%s\"", err);
	assert_int_equal(ptsim_trace_load_file(&t, PTSIM_TEST_TMPDIR, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "is a directory"));

	/* A v1 document beyond max_input_bytes, from a file and from a buffer. */
	ptsim_trace_options_init(&o);
	o.max_input_bytes = 100000;
	char *doc = malloc(300000);
	assert_non_null(doc);
	strcpy(doc, "{\"ptsim_trace\": 1, \"comment\": \"");
	size_t pre = strlen(doc);
	memset(doc + pre, 'x', 200000);
	strcpy(doc + pre + 200000, "\", \"events\": []}");
	char *path = tmp("v2_big.json");
	spit(path, doc, strlen(doc));
	assert_int_equal(ptsim_trace_load_file_opts(&t, path, &o, err, sizeof(err)), PTSIM_ELIMIT);
	assert_non_null(strstr(err, "larger than the input limit of 100000 bytes"));
	assert_int_equal(ptsim_trace_load_opts(&t, doc, strlen(doc), &o, err, sizeof(err)), PTSIM_ELIMIT);
	/* Within the default limit it loads. */
	assert_int_equal(ptsim_trace_load_file(&t, path, err, sizeof(err)), 0);
	ptsim_trace_free(t);

	/* A v2 line beyond max_line_bytes names the line. */
	o.max_line_bytes = 1000;
	char *text = malloc(4096);
	assert_non_null(text);
	snprintf(text, 4096, HDR SPAWN "{\"op\": \"mark\", \"name\": \"x\", \"comment\": \"%01500d\"}\n", 0);
	assert_int_equal(ptsim_trace_load_opts(&t, text, strlen(text), &o, err, sizeof(err)), 0);
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	assert_int_equal(ptsim_trace_run(t, m), PTSIM_ELIMIT);
	assert_string_equal(ptsim_machine_errmsg(m), "line 3: longer than the line limit of 1000 bytes");
	t_destroy(m);
	ptsim_trace_free(t);
	free(text);
	free(path);
	free(doc);
}

/* Load and run @text with max_events @max: the code, the message in @err. */
static int run_limited(const char *text, unsigned long long max, char *err, size_t errlen)
{
	struct ptsim_trace_options o;
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	int rc;

	ptsim_trace_options_init(&o);
	o.max_events = max;
	assert_int_equal(ptsim_trace_load_opts(&t, text, strlen(text), &o, err, errlen), 0);
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, errlen), 0);
	rc = ptsim_trace_run(t, m);
	snprintf(err, errlen, "%s", ptsim_machine_errmsg(m));
	t_destroy(m);
	ptsim_trace_free(t);
	return rc;
}

#define NEST(x) "{\"op\": \"repeat\", \"count\": 10, \"events\": [" x "]}"
#define MARK "{\"op\": \"mark\", \"name\": \"x\"}"

/*
 * max_events: a v1 trace whose expansion (touch accesses counted) passes it
 * is refused before anything runs, with the figure; a v2 line likewise; a v2
 * trace as a whole stops when it passes.  The default is 10^9.
 */
static void test_trace_v2__max_events(void **s)
{
	(void)s;
	char err[512];

	/* 16 nested repeats of 10: 10^16 events, refused at once. */
	const char *deep = "{\"ptsim_trace\": 1, \"events\": [" NEST(NEST(NEST(NEST(NEST(NEST(NEST(NEST(
		NEST(NEST(NEST(NEST(NEST(NEST(NEST(NEST(MARK)))))))))))))))) "]}";
	assert_int_equal(run_limited(deep, 0, err, sizeof(err)), PTSIM_ELIMIT);
	assert_string_equal(err, "the trace would run 10000000000000000 events (repeats expanded, touch accesses "
			    "counted at their largest), more than the limit of 1000000000 (ptsim run --max-events, "
			    "ptsim_trace_options.max_events)");
	/* A touch with stride 1: each byte is an access (3 events + 1 MiB accesses). */
	const char *touch = "{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}, "
			    "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"1M\", \"prot\": \"rw\"}, "
			    "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"1M\", \"stride\": 1}]}";
	assert_int_equal(run_limited(touch, 1048578, err, sizeof(err)), PTSIM_ELIMIT);
	assert_non_null(strstr(err, "the trace would run 1048579 events"));
	assert_int_equal(run_limited(touch, 1048579, err, sizeof(err)), 0);
	/* A stepped length counts at its largest: 4 iterations of up to 4 pages, 2 events + 4 x (1 + 4). */
	const char *stepped = "{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}, "
			      "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"1M\", \"prot\": \"rw\"}, "
			      "{\"op\": \"repeat\", \"count\": 4, \"step\": {\"len\": 4096}, \"events\": ["
			      "{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x100000\", \"len\": 4096}]}]}";
	assert_int_equal(run_limited(stepped, 21, err, sizeof(err)), PTSIM_ELIMIT);
	assert_non_null(strstr(err, "the trace would run 22 events"));
	assert_int_equal(run_limited(stepped, 22, err, sizeof(err)), 0);
	/* v2: a line whose own expansion passes the limit, before it runs. */
	const char *v2 = HDR SPAWN NEST(NEST(MARK)) "\n";
	assert_int_equal(run_limited(v2, 99, err, sizeof(err)), PTSIM_ELIMIT);
	assert_non_null(strstr(err, "line 3 (event 1, repeat): this event alone would run 100 events"));
	/* ... and a trace that passes it line by line stops there. */
	assert_int_equal(run_limited(HDR SPAWN MARK "\n" MARK "\n" MARK "\n" MARK "\n", 3, err, sizeof(err)),
			 PTSIM_ELIMIT);
	assert_string_equal(err, "line 5 (event 3, mark): the trace passes the limit of 3 events (repeats expanded, "
			    "touch accesses counted; ptsim run --max-events)");
	assert_int_equal(run_limited(HDR SPAWN MARK "\n" MARK "\n" MARK "\n", 4, err, sizeof(err)), 0);
}

/* Repeat offsets that add up beyond 64 bits are an error in every build (they were signed overflow). */
static void test_trace_v2__repeat_offsets_overflow(void **s)
{
	(void)s;
	char err[512];
	const char *text = "{\"ptsim_trace\": 1, \"events\": [{\"op\": \"repeat\", \"count\": 3, "
			   "\"step\": {\"ns\": \"0x7fffffffffffffff\"}, \"events\": [{\"op\": \"advance\", \"ns\": 0}]}]}";
	assert_int_equal(run_limited(text, 0, err, sizeof(err)), PTSIM_EBADEVENT);
	assert_non_null(strstr(err, "field 'ns': the repeat steps (9223372036854775807 each) add up beyond the 64-bit "
				    "range in iteration 2"));
	text = "{\"ptsim_trace\": 1, \"events\": [{\"op\": \"repeat\", \"count\": 3, "
	       "\"step\": {\"ns\": \"-0x7fffffffffffffff\"}, \"events\": [{\"op\": \"repeat\", \"count\": 3, "
	       "\"step\": {\"ns\": \"-0x7fffffffffffffff\"}, \"events\": [{\"op\": \"advance\", \"ns\": \"0x7fffffffffffffff\"}]}]}]}";
	assert_int_equal(run_limited(text, 0, err, sizeof(err)), PTSIM_EBADEVENT);
	assert_non_null(strstr(err, "add up beyond the 64-bit range"));
}

/*
 * Repeat variables, {ncpus}, arithmetic, and names bound by "as": in v1 and
 * v2 alike, resolved when the event runs; errors name the field and the
 * expression.
 */
static void test_trace_v2__expressions_variables_and_names(void **s)
{
	(void)s;
	char err[512];
	const char *ev =
		"{\"op\": \"repeat\", \"count\": 4, \"var\": \"c\", \"events\": [{\"op\": \"spawn\", \"task\": \"{c} + 1\", "
		"\"cpu\": \"{c} % {ncpus}\"}]}\n"
		"{\"op\": \"mmap\", \"task\": 1, \"len\": \"8M\", \"prot\": \"rw\", \"addr\": \"0x100000000000\", \"as\": \"heap\"}\n"
		"{\"op\": \"repeat\", \"count\": 4, \"var\": \"i\", \"events\": [{\"op\": \"repeat\", \"count\": 2, \"var\": \"j\", "
		"\"events\": [{\"op\": \"touch\", \"task\": 1, \"addr\": \"heap + ({i} * 2 + {j}) * 1M\", \"len\": \"4K\", "
		"\"write\": true}]}]}\n"
		"{\"op\": \"mremap\", \"task\": 1, \"addr\": \"heap+2M\", \"len\": \"2M\", \"new_addr\": \"0x200000000000\", "
		"\"as\": \"moved\"}\n"
		"{\"op\": \"munmap\", \"task\": 1, \"addr\": \"moved\", \"len\": \"2M\"}\n"
		"{\"op\": \"mark\", \"name\": \"end\"}\n";
	char v2[4096], v1[4096];
	snprintf(v2, sizeof(v2), "{\"ptsim_trace\": 2, \"machine\": {\"cpus\": 4}}\n%s", ev);
	char *as_v1 = to_v1_text(v2);
	snprintf(v1, sizeof(v1), "%s", as_v1);
	free(as_v1);
	int rc;
	char *a = run_report(NULL, v2, strlen(v2), &rc, err, sizeof(err));
	if (rc)
		fail_msg("v2: %s", err);
	char *b = run_report(NULL, v1, strlen(v1), &rc, err, sizeof(err));
	if (rc)
		fail_msg("v1: %s", err);
	assert_string_equal(a, b);
	/* 4 spawns, mmap, 8 touches, mremap, munmap, mark: the 8 touches each fault one page in. */
	assert_non_null(strstr(a, "\"events\":16"));
	ptsim_free(a);
	ptsim_free(b);

	/* Errors name the field and the expression. */
	V2_ERR(HDR "{\"op\": \"spawn\", \"task\": \"{i}\", \"cpu\": 0}\n", PTSIM_EBADTRACE,
	       "line 2 (event 0, spawn): field 'task': \"{i}\": no enclosing repeat has \"var\": \"i\"");
	V2_ERR(HDR "{\"op\": \"spawn\", \"task\": \"1 +\", \"cpu\": 0}\n", PTSIM_EBADTRACE,
	       "field 'task': \"1 +\": the expression ends early (at column 4)");
	V2_ERR(HDR "{\"op\": \"spawn\", \"task\": \"{ncpus} + heap\", \"cpu\": 0}\n", PTSIM_EBADTRACE,
	       "field 'task': \"{ncpus} + heap\": names (bound by \"as\") are allowed in address fields only");
	V2_ERR(HDR "{\"op\": \"spawn\", \"task\": \"heap\", \"cpu\": 0}\n", PTSIM_EBADTRACE,
	       "field 'task': \"heap\" is not a number");
	/* A name no earlier "as" binds: at load. */
	V2_ERR(HDR SPAWN MAP "{\"op\": \"munmap\", \"task\": 1, \"addr\": \"hep+4K\", \"len\": \"4K\"}\n", PTSIM_EBADTRACE,
	       "line 4 (event 2, munmap): field 'addr': \"hep+4K\" is not a number, nor a name bound by an earlier "
	       "\"as\" (at column 1)");
	/* A name whose "as" did not bind it (the mmap failed as expected): when it runs. */
	V2_ERR(HDR SPAWN MAP "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"4K\", \"prot\": \"r\", "
	       "\"fixed\": \"noreplace\", \"as\": \"x\", \"expect\": \"EEXIST\"}\n{\"op\": \"munmap\", \"task\": 1, \"addr\": \"x\", \"len\": \"4K\"}\n",
	       PTSIM_EBADEVENT, "line 5 (event 3, munmap): field 'addr': \"x\": no address is bound to the name 'x'");
	V2_ERR(HDR "{\"op\": \"spawn\", \"task\": 1, \"cpu\": \"4 / ({ncpus} - 2)\"}\n", PTSIM_EBADEVENT,
	       "field 'cpu': \"4 / ({ncpus} - 2)\": division by zero");
	V2_ERR(HDR "{\"op\": \"spawn\", \"task\": \"1 - 2\", \"cpu\": 0}\n", PTSIM_EBADEVENT,
	       "field 'task': \"1 - 2\": the value is negative");
	V2_ERR(HDR "{\"op\": \"repeat\", \"count\": 1, \"var\": \"ncpus\", \"events\": []}\n", PTSIM_EBADTRACE,
	       "field 'var': ncpus is the machine's CPU count");
	V2_ERR(HDR "{\"op\": \"repeat\", \"count\": 1, \"var\": \"9x\", \"events\": []}\n", PTSIM_EBADTRACE,
	       "field 'var': \"9x\" is not a name");
	/* An outer variable is seen by a nested repeat; a step still works beside it. */
	assert_int_equal(run_limited(HDR "{\"op\": \"repeat\", \"count\": 2, \"var\": \"o\", \"step\": {\"task\": 10}, "
				     "\"events\": [{\"op\": \"repeat\", \"count\": 2, \"var\": \"n\", \"events\": [{\"op\": "
				     "\"spawn\", \"task\": \"1 + {o} + 2 * {n}\", \"cpu\": \"{o} * 2 + {n}\"}]}]}\n",
				     0, err, sizeof(err)), -ERANGE);
	/* Iteration o=1, n=0: task 1 + 10 (step) + 1 + 0 = 12 on cpu 2 of a 2-CPU machine. */
	assert_non_null(strstr(err, "line 2 (event 2, spawn) at [i=1].events[0][i=0].events[0]: field 'cpu': cpu 2 "
				    "does not exist"));
}

/* Every trace file below traces/@rel (.json), in @out[*n]. */
static void collect(const char *rel, char ***out, size_t *n)
{
	char path[4096];
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rel);
	DIR *d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		char sub[4096], full[8192];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		snprintf(full, sizeof(full), "%s/%s", PTSIM_TRACES_DIR, sub);
		assert_int_equal(stat(full, &st), 0);
		size_t len = strlen(sub);
		if (S_ISDIR(st.st_mode)) {
			collect(sub, out, n);
		} else if (len > 5 && !strcmp(sub + len - 5, ".json")) {
			*out = realloc(*out, (*n + 1) * sizeof(**out));
			assert_non_null(*out);
			(*out)[(*n)++] = strdup(full);
		}
	}
	closedir(d);
}

static struct t_cli cli(const char *const *args)
{
	return t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, NULL, NULL, args);
}

/* `ptsim run --json` of @path: stdout, and the exit status (0 or 3) in *@status. */
static char *run_json(const char *path, int *status)
{
	struct t_cli r = cli((const char *const[]){ "run", path, "--json", NULL });
	if (r.status != 0 && r.status != 3)
		fail_msg("ptsim run %s: status %d: %s", path, r.status, r.err);
	*status = r.status;
	char *out = r.out;
	r.out = NULL;
	t_cli_free(&r);
	return out;
}

static void convert_ok(const char *const *args)
{
	struct t_cli r = cli(args);
	if (r.status != 0 || r.out_len || r.err[0])
		fail_msg("ptsim convert %s %s: status %d: %s", args[1], args[2], r.status, r.err);
	t_cli_free(&r);
}

/*
 * Every bundled trace, converted by `ptsim convert` to JSON Lines gives byte
 * for byte the --json report and the exit status of the original (which
 * test_golden compares with tests/golden/).  The gzip and zstd forms and the
 * way back to v1 are checked without replaying them again: converted to
 * plain JSON Lines once more they must give the very same bytes (the readers
 * and the converter are what differs; the replay of a v2 stream is the same
 * code whatever its container).  Replays are the cost here, two per trace,
 * so that the test stays short in sanitizer and PTSIM_DEBUG builds.
 */
static void test_trace_v2__every_bundled_trace_converts(void **s)
{
	(void)s;
	char **traces = NULL;
	size_t n = 0;

	collect("", &traces, &n);
	assert_true(n >= 40);
	char *plain = tmp("conv.jsonl"), *gz = tmp("conv.jsonl.gz"), *zst = tmp("conv.jsonl.zst"),
	     *back = tmp("conv_back.json"), *again = tmp("conv_again.jsonl");
	for (size_t i = 0; i < n; i++) {
		int want_status, status;
		const char *why = t_trace_slow_when_checked(traces[i] + strlen(PTSIM_TRACES_DIR) + 1);
		if (why) {
			printf("skipped: %s: %s\n", traces[i], why);
			free(traces[i]);
			continue;
		}
		char *want = run_json(traces[i], &want_status);
		convert_ok((const char *const[]){ "convert", traces[i], plain, NULL });
		convert_ok((const char *const[]){ "convert", traces[i], gz, NULL });
		convert_ok((const char *const[]){ "convert", traces[i], zst, NULL });
		convert_ok((const char *const[]){ "convert", zst, back, NULL });
		/* The file forms are what their names say. */
		size_t len, plain_len;
		char *bytes = slurp(gz, &len);
		assert_true(len > 2 && (unsigned char)bytes[0] == 0x1f && (unsigned char)bytes[1] == 0x8b);
		free(bytes);
		bytes = slurp(zst, &len);
		assert_true(len > 4 && !memcmp(bytes, "\x28\xb5\x2f\xfd", 4));
		free(bytes);
		char *plain_bytes = slurp(plain, &plain_len);
		assert_non_null(strstr(plain_bytes, "{\"ptsim_trace\":2"));
		char *got = run_json(plain, &status);
		if (strcmp(got, want) || status != want_status)
			fail_msg("%s as %s: the report differs from the original's (status %d vs %d)", traces[i], plain,
				 status, want_status);
		free(got);
		const char *forms[] = { gz, zst, back };
		for (size_t k = 0; k < 3; k++) {
			convert_ok((const char *const[]){ "convert", forms[k], again, "--to", "v2", NULL });
			bytes = slurp(again, &len);
			if (len != plain_len || memcmp(bytes, plain_bytes, len))
				fail_msg("%s: %s converted to JSON Lines differs from its direct conversion", traces[i],
					 forms[k]);
			free(bytes);
		}
		free(plain_bytes);
		free(want);
		free(traces[i]);
	}
	free(traces);
	free(plain);
	free(gz);
	free(zst);
	free(back);
	free(again);
}

/* --expand-repeats writes each iteration (steps added) and the report stays the same. */
static void test_trace_v2__convert_expands_repeats(void **s)
{
	(void)s;
	const char *rels[] = { "oracle/w3_munmap_spin.json", "seeds/pt_reclaim_seed_table.json",
			       "oracle/w2_split_g2_k0.json" };
	char *out = tmp("expanded.jsonl"), *v1 = tmp("expanded.json");
	for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
		char path[4096];
		int want_status, status;
		snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rels[i]);
		char *want = run_json(path, &want_status);
		convert_ok((const char *const[]){ "convert", path, out, "--expand-repeats", NULL });
		convert_ok((const char *const[]){ "convert", path, v1, "--expand-repeats", "--to", "v1", NULL });
		size_t len;
		char *text = slurp(out, &len);
		assert_null(strstr(text, "\"repeat\""));
		free(text);
		text = slurp(v1, &len);
		assert_null(strstr(text, "\"repeat\""));
		free(text);
		char *got = run_json(out, &status);
		assert_string_equal(got, want);
		free(got);
		got = run_json(v1, &status);
		assert_string_equal(got, want);
		assert_int_equal(status, want_status);
		free(got);
		free(want);
	}
	/* A step is added to the fields the event gives, spelt as they were. */
	const char *text = "{\"ptsim_trace\": 1, \"events\": [{\"op\": \"repeat\", \"count\": 3, \"step\": {\"addr\": \"2M\", "
			   "\"cpu\": 1}, \"events\": [{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000000000\", "
			   "\"len\": 4096, \"prot\": \"r\"}, {\"op\": \"spawn\", \"task\": 5, \"cpu\": 0}]}]}";
	char *in = tmp("step_in.json");
	spit(in, text, strlen(text));
	convert_ok((const char *const[]){ "convert", in, out, "--expand-repeats", NULL });
	size_t len;
	char *got = slurp(out, &len);
	assert_string_equal(got,
			    "{\"ptsim_trace\":2}\n"
			    "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":4096,\"prot\":\"r\",\"fixed\":\"noreplace\"}\n"
			    "{\"op\":\"spawn\",\"task\":5,\"cpu\":0}\n"
			    "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000200000\",\"len\":4096,\"prot\":\"r\",\"fixed\":\"noreplace\"}\n"
			    "{\"op\":\"spawn\",\"task\":5,\"cpu\":1}\n"
			    "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000400000\",\"len\":4096,\"prot\":\"r\",\"fixed\":\"noreplace\"}\n"
			    "{\"op\":\"spawn\",\"task\":5,\"cpu\":2}\n");
	free(got);
	/* Without expansion the repeat stays, its body's mmap gets "fixed" too. */
	convert_ok((const char *const[]){ "convert", in, out, NULL });
	got = slurp(out, &len);
	assert_non_null(strstr(got, "\"op\":\"repeat\""));
	assert_non_null(strstr(got, "\"prot\":\"r\",\"fixed\":\"noreplace\"}"));
	free(got);
	/* An expansion beyond --max-events is refused and leaves no file. */
	struct t_cli r = cli((const char *const[]){ "convert", in, out, "--expand-repeats", "--max-events", "5", NULL });
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "more than 5 events after expanding repeats"));
	t_cli_free(&r);
	struct stat st;
	assert_int_not_equal(stat(out, &st), 0);
	free(in);
	free(out);
	free(v1);
}

/* Standard input and output, a recorded trailer kept both ways, errors. */
static void test_trace_v2__convert_stdin_stdout_and_errors(void **s)
{
	(void)s;
	const char *v2 = HDR SPAWN "{\"op\": \"mark\", \"name\": \"m\"}\n{\"recorded\": {\"ipis\": 2}}\n";
	char *in = tmp("cv_in.jsonl"), *mid = tmp("cv_mid.json");
	spit(in, v2, strlen(v2));
	struct t_cli r = t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, NULL, in, (const char *const[]){ "convert", "-", "-", NULL });
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "{\"ptsim_trace\":1,\"machine\":{\"cpus\":2},\"events\":[\n"
				   "  {\"op\":\"spawn\",\"task\":1,\"cpu\":0},\n"
				   "  {\"op\":\"mark\",\"name\":\"m\"}\n],\"recorded\":{\"ipis\":2}}\n");
	spit(mid, r.out, r.out_len);
	t_cli_free(&r);
	r = cli((const char *const[]){ "convert", mid, "-", NULL });
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "{\"ptsim_trace\":2,\"machine\":{\"cpus\":2},\"recorded\":{\"ipis\":2}}\n"
				   "{\"op\":\"spawn\",\"task\":1,\"cpu\":0}\n{\"op\":\"mark\",\"name\":\"m\"}\n");
	t_cli_free(&r);
	/* A bad line stops the conversion with the line's error; the output file is removed. */
	const char *bad = HDR SPAWN "{\"op\": \"mark\", \"nam\": \"m\"}\n";
	spit(in, bad, strlen(bad));
	r = cli((const char *const[]){ "convert", in, mid, NULL });
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "line 3 (event 1, mark): unknown field 'nam' for op mark"));
	struct stat st;
	assert_int_not_equal(stat(mid, &st), 0);
	t_cli_free(&r);
	r = cli((const char *const[]){ "convert", in, NULL });
	assert_int_equal(r.status, 2);
	t_cli_free(&r);
	r = cli((const char *const[]){ "convert", in, mid, "--to", "v3", NULL });
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--to v3: expected v1 or v2"));
	t_cli_free(&r);
	free(in);
	free(mid);
}

/*
 * The layout settings travel with the machine section: v1 -> v2 -> v1 keeps
 * them as written, and every form reports the same (the randomized layout
 * of the exec'd program included: the first mmap's address is in the
 * report's event results).
 */
static void test_trace_v2__convert_keeps_layout_settings(void **s)
{
	(void)s;
	const char *v1 = "{\"ptsim_trace\":1,\"machine\":{\"cpus\":2,\"seed\":9,\"set\":{\"legacy_va_layout\":true,"
			 "\"randomize_va_space\":2}},\"events\":[\n"
			 "  {\"op\":\"spawn\",\"task\":1,\"cpu\":0},\n"
			 "  {\"op\":\"exec\",\"task\":1,\"segments\":[{\"addr\":\"0x400000\",\"len\":\"64K\",\"prot\":\"rw\"}]},\n"
			 "  {\"op\":\"mmap\",\"task\":1,\"len\":4096,\"prot\":\"rw\",\"as\":\"a\"}\n]}\n";
	char *in = tmp("cv_layout.json"), *mid = tmp("cv_layout.jsonl"), *back = tmp("cv_layout_back.json");
	spit(in, v1, strlen(v1));
	struct t_cli r = cli((const char *const[]){ "convert", in, mid, NULL });
	assert_int_equal(r.status, 0);
	t_cli_free(&r);
	size_t len;
	char *text = slurp(mid, &len);
	assert_non_null(strstr(text, "{\"ptsim_trace\":2,\"machine\":{\"cpus\":2,\"seed\":9,\"set\":"
				     "{\"legacy_va_layout\":true,\"randomize_va_space\":2}}}\n"));
	free(text);
	r = cli((const char *const[]){ "convert", mid, back, NULL });
	assert_int_equal(r.status, 0);
	t_cli_free(&r);
	text = slurp(back, &len);
	assert_non_null(strstr(text, "\"machine\":{\"cpus\":2,\"seed\":9,\"set\":{\"legacy_va_layout\":true,"
				     "\"randomize_va_space\":2}}"));
	free(text);
	char *report[3];
	const char *files[3] = { in, mid, back };
	for (int i = 0; i < 3; i++) {
		r = cli((const char *const[]){ "run", files[i], "--json", "--events", NULL });
		assert_int_equal(r.status, 0);
		report[i] = strdup(r.out);
		t_cli_free(&r);
	}
	assert_non_null(strstr(report[0], "\"legacy_va_layout\":true"));
	assert_non_null(strstr(report[0], "\"randomize_va_space\":2"));
	assert_string_equal(report[0], report[2]);
	/* Bottom-up from the randomized TASK_UNMAPPED_BASE: above 0x2aaaaaaab000, below it + 2^28 pages. */
	uint64_t a[2];
	for (int i = 0; i < 2; i++) {
		const char *addr = strstr(report[i], "\"as\":\"a\",\"addr\":\"0x");
		if (!addr)
			fail_msg("no event result for 'a': %.400s", strstr(report[i], "event_results"));
		a[i] = strtoull(addr + strlen("\"as\":\"a\",\"addr\":\""), NULL, 16);
	}
	if (a[0] != a[1] || a[0] < 0x2aaaaaaab000 || a[0] > 0x2aaaaaaab000 + (1ull << 40))
		fail_msg("mmap at %#llx (v1) and %#llx (v2)", (unsigned long long)a[0], (unsigned long long)a[1]);
	/* Apart from the event results' line numbers (null in v1), the v2 form reports the same. */
	char *er0 = strstr(report[0], "\"event_results\""), *er1 = strstr(report[1], "\"event_results\"");
	assert_non_null(er0);
	assert_non_null(er1);
	assert_int_equal(er0 - report[0], er1 - report[1]);
	assert_memory_equal(report[0], report[1], (size_t)(er0 - report[0]));
	for (int i = 0; i < 3; i++)
		free(report[i]);
	free(in);
	free(mid);
	free(back);
}

/*
 * In v2 an mmap's addr without "fixed" is a hint (mmap(2) without MAP_FIXED):
 * a free hint is taken, an occupied one is not an error, the kernel chooses
 * (top-down below mmap_base, 0x7ffff7fff000 on x86-64).  The same events in
 * v1 keep addr's v1 meaning (an overlap is an input error), and convert
 * refuses to write a hint into v1.
 */
static void test_trace_v2__addr_without_fixed_is_a_hint(void **s)
{
	(void)s;
	char err[512];
	int rc;
	const char *v2 =
		HDR SPAWN MAP
		/* Occupied: the kernel puts it at the top, [0x7ffff7fef000, 0x7ffff7fff000). */
		"{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"64K\", \"prot\": \"rw\", \"as\": \"b\"}\n"
		/* Free and not page-aligned: rounded down and taken. */
		"{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x200800\", \"len\": \"8K\", \"prot\": \"rw\", \"as\": \"c\"}\n"
		"{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x7ffff7fef000\", \"len\": \"64K\", \"write\": true}\n"
		"{\"op\": \"touch\", \"task\": 1, \"addr\": \"0x200000\", \"len\": \"8K\", \"write\": true}\n"
		"{\"op\": \"munmap\", \"task\": 1, \"addr\": \"b\", \"len\": \"64K\"}\n"
		"{\"op\": \"munmap\", \"task\": 1, \"addr\": \"c\", \"len\": \"8K\"}\n";
	char *got = run_report(NULL, v2, strlen(v2), &rc, err, sizeof(err));
	if (rc)
		fail_msg("v2: %s", err);
	/* 16 + 2 pages faulted in, none outside a mapping; only the first mapping is left. */
	if (!strstr(got, "\"total\":18,\"anon\":18") || !strstr(got, "\"sigsegv\":0") || !strstr(got, "\"vmas\":1}"))
		fail_msg("report: %s", got);
	ptsim_free(got);

	/* v1: addr alone is fixed and the overlap an input error. */
	char *v1 = to_v1_text(v2);
	V2_ERR(v1, PTSIM_EOVERLAP, "events[2]", "field 'addr'", "overlaps the mapping [0x100000, 0x110000)");
	/* v2 with "fixed": "noreplace": the system call's EEXIST. */
	V2_ERR(HDR SPAWN MAP "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"64K\", \"prot\": \"rw\", "
	       "\"fixed\": \"noreplace\"}\n", -EEXIST, "line 4 (event 2, mmap): field 'addr': mmap returned EEXIST");

	/* convert: v2 -> v1 refuses a hint (also inside a repeat); the output file is removed. */
	char *in = tmp("hint.jsonl"), *out = tmp("hint.json");
	const char *texts[] = {
		v2,
		HDR SPAWN "{\"op\": \"repeat\", \"count\": 2, \"step\": {\"addr\": \"64K\"}, \"events\": [{\"op\": \"mmap\", "
		"\"task\": 1, \"addr\": \"0x100000\", \"len\": \"64K\", \"prot\": \"rw\"}]}\n",
	};
	for (size_t i = 0; i < 2; i++) {
		spit(in, texts[i], strlen(texts[i]));
		for (int expand = 0; expand < 2; expand++) {
			struct t_cli r = cli((const char *const[]){ "convert", in, out, expand ? "--expand-repeats" : NULL, NULL });
			assert_int_equal(r.status, 2);
			if (!strstr(r.err, "line 3: an mmap with field 'addr' and no 'fixed' is a hint in version 2"))
				fail_msg("convert: %s", r.err);
			struct stat st;
			assert_int_not_equal(stat(out, &st), 0);
			t_cli_free(&r);
		}
	}
	/* With "fixed" it converts, and v1 -> v2 writes what v1's addr means. */
	const char *fixed = HDR SPAWN "{\"op\": \"mmap\", \"task\": 1, \"addr\": \"0x100000\", \"len\": \"64K\", "
			    "\"prot\": \"rw\", \"fixed\": \"replace\"}\n";
	spit(in, fixed, strlen(fixed));
	struct t_cli r = cli((const char *const[]){ "convert", in, out, NULL });
	assert_int_equal(r.status, 0);
	t_cli_free(&r);
	spit(in, v1, strlen(v1));
	free(v1);
	r = cli((const char *const[]){ "convert", in, "-", "--to", "v2", NULL });
	assert_int_equal(r.status, 0);
	if (!strstr(r.out, "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"prot\":\"rw\",\"as\":\"b\","
			   "\"fixed\":\"noreplace\"}\n"))
		fail_msg("convert v1 -> v2: %s", r.out);
	t_cli_free(&r);
	free(in);
	free(out);
}

/*
 * lru_add_drain_cpu {cpu} (a recording's op where the kernel's batch on that
 * CPU moved to the LRU): 10 pages written on CPU 0, fork, the child exits, the
 * parent writes them again on CPU 1.  Without the op CPU 0's batch still holds
 * them (a second reference): 10 copies; with it, after the exit, 10 reuses.
 */
static uint64_t drain_cpu_copies(const char *between)
{
	char text[1024];
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[512];
	uint64_t cow = 0, reuse = 0;

	snprintf(text, sizeof(text),
		 "{\"ptsim_trace\":2,\"machine\":{\"cpus\":2}}\n"
		 "{\"op\":\"spawn\",\"task\":1,\"cpu\":0}\n"
		 "{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"40K\",\"prot\":\"rw\"}\n"
		 "{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"40K\",\"write\":true}\n"
		 "{\"op\":\"fork\",\"task\":1,\"child\":2,\"cpu\":1}\n"
		 "{\"op\":\"exit\",\"task\":2}\n"
		 "%s"
		 "{\"op\":\"sleep\",\"task\":1}\n"
		 "{\"op\":\"run\",\"task\":1,\"cpu\":1}\n"
		 "{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"40K\",\"write\":true}\n",
		 between);
	assert_int_equal(ptsim_trace_load(&t, text, strlen(text), err, sizeof(err)), 0);
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), 0);
	T_OK(m, ptsim_trace_run(t, m));
	T_OK(m, ptsim_stat(m, "faults.cow", &cow));
	T_OK(m, ptsim_stat(m, "faults.wp_reuse", &reuse));
	assert_int_equal(cow + reuse, 10);
	t_destroy(m);
	ptsim_trace_free(t);
	return cow;
}

static void test_trace_v2__lru_add_drain_cpu(void **s)
{
	(void)s;
	assert_int_equal(drain_cpu_copies(""), 10);
	assert_int_equal(drain_cpu_copies("{\"op\":\"lru_add_drain_cpu\",\"cpu\":1}\n"), 10);
	assert_int_equal(drain_cpu_copies("{\"op\":\"lru_add_drain_cpu\",\"cpu\":0}\n"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_v2__same_report_as_v1),
		cmocka_unit_test(test_trace_v2__errors_name_line_event_and_field),
		cmocka_unit_test(test_trace_v2__recorded_format_and_one_run),
		cmocka_unit_test(test_trace_v2__truncated_and_corrupt_compression),
		cmocka_unit_test(test_trace_v2__not_a_trace_and_limits),
		cmocka_unit_test(test_trace_v2__max_events),
		cmocka_unit_test(test_trace_v2__expressions_variables_and_names),
		cmocka_unit_test(test_trace_v2__repeat_offsets_overflow),
		cmocka_unit_test(test_trace_v2__every_bundled_trace_converts),
		cmocka_unit_test(test_trace_v2__convert_expands_repeats),
		cmocka_unit_test(test_trace_v2__convert_stdin_stdout_and_errors),
		cmocka_unit_test(test_trace_v2__convert_keeps_layout_settings),
		cmocka_unit_test(test_trace_v2__addr_without_fixed_is_a_hint),
		cmocka_unit_test(test_trace_v2__lru_add_drain_cpu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
