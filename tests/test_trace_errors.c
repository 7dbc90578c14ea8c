/*
 * Bad input (issue 2): every class of bad trace is rejected with a clear
 * error — the right code, and a message that names the event (its position,
 * or its index in trace order counting repeats), the op and the field.
 * Nothing crashes, nothing is silently ignored.  Then the machine-section
 * errors, and the exit statuses of the `ptsim` command (run from its build
 * path, PTSIM_CLI).
 *
 * The JSON below is written with single quotes, turned into double quotes by
 * q(): no trace here needs a literal single quote.
 */
#include "support/helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#ifndef PTSIM_CLI
#error "PTSIM_CLI (path of the ptsim binary) must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

/* Single quotes to double quotes, in a buffer owned by the caller. */
static char *q(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* The message must contain every needle (NULL-terminated). */
static void has_all(const char *msg, const char *const *needles)
{
	for (size_t i = 0; needles[i]; i++)
		if (!strstr(msg, needles[i]))
			fail_msg("message \"%s\" lacks \"%s\"", msg, needles[i]);
}

/* Parsing fails with PTSIM_EBADTRACE and a message naming what is wrong. */
#define LOAD_ERR(json, ...) load_err(json, (const char *const[]){ __VA_ARGS__, NULL })
static void load_err(const char *json, const char *const *needles)
{
	struct ptsim_trace *t = NULL;
	char err[512] = "";
	char *j = q(json);
	int rc = ptsim_trace_load(&t, j, strlen(j), err, sizeof(err));

	if (rc != PTSIM_EBADTRACE)
		fail_msg("load of %s: expected EBADTRACE, got %d (%s) \"%s\"", j, rc, ptsim_errname(rc), err);
	assert_null(t);
	has_all(err, needles);
	free(j);
}

/*
 * The trace loads and its machine builds, but the run stops with @code at
 * the first bad event; the machine stays usable and consistent.
 */
#define RUN_ERR(json, code, ...) run_err(json, code, (const char *const[]){ __VA_ARGS__, NULL })
static void run_err(const char *json, int code, const char *const *needles)
{
	struct ptsim_machine *m = NULL;
	char err[512] = "";
	char *j = q(json);
	int rc = t_run_json(j, &m, err, sizeof(err));

	if (rc != code)
		fail_msg("run of %s: expected %d (%s), got %d (%s) \"%s\"", j, code, ptsim_errname(code), rc,
			 ptsim_errname(rc), err);
	assert_non_null(m);
	has_all(err, needles);
	t_destroy(m);
	free(j);
}

/* The trace runs clean: 0 and no violation. */
static struct ptsim_machine *run_ok(const char *json)
{
	struct ptsim_machine *m = NULL;
	char err[512] = "";
	char *j = q(json);
	int rc = t_run_json(j, &m, err, sizeof(err));

	if (rc)
		fail_msg("run of %s: %d (%s) \"%s\"", j, rc, ptsim_errname(rc), err);
	assert_int_equal(ptsim_violation_count(m), 0);
	free(j);
	return m;
}

/* Machine section: the trace loads, ptsim_machine_create() refuses the config. */
#define MACHINE_ERR(json, ...) machine_err(json, (const char *const[]){ __VA_ARGS__, NULL })
static void machine_err(const char *json, const char *const *needles)
{
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[512] = "";
	char *j = q(json);

	assert_int_equal(ptsim_trace_load(&t, j, strlen(j), err, sizeof(err)), 0);
	ptsim_trace_config(t, &cfg);
	int rc = ptsim_machine_create(&m, &cfg, err, sizeof(err));
	if (rc != PTSIM_EBADCONFIG)
		fail_msg("machine of %s: expected EBADCONFIG, got %d (%s) \"%s\"", j, rc, ptsim_errname(rc), err);
	assert_null(m);
	has_all(err, needles);
	ptsim_trace_free(t);
	free(j);
}

/* A process on CPU0 with one 16-page anonymous mapping at 1 MiB, then @events. */
#define PRE "{'ptsim_trace':1,'machine':{'cpus':2},'events':[{'op':'spawn','task':1,'cpu':0},"
#define MAP "{'op':'mmap','task':1,'addr':'0x100000','len':'64K','prot':'rw'},"
#define END "]}"

/* ---------------- JSON and top level ---------------- */

static void test_trace_errors__malformed_json_names_the_line(void **s)
{
	(void)s;
	LOAD_ERR("{'ptsim_trace': 1,\n'events': [\n  {'op': 'spawn',}\n]}", "malformed JSON", "line 3");
	LOAD_ERR("{'ptsim_trace':1,'events':[{'op':'spawn','task':1 'cpu':0}]}", "malformed JSON", "line 1");
	LOAD_ERR("", "malformed JSON", "byte 0");
	LOAD_ERR("{'ptsim_trace':1,'events':[]} trailing", "malformed JSON", "byte 30");
	LOAD_ERR("{'ptsim_trace':1,'events':[]}{}", "malformed JSON");
	/* White space after the object is fine. */
	struct ptsim_trace *t = NULL;
	char *j = q("{'ptsim_trace':1,'events':[]}\n\n  ");
	assert_int_equal(ptsim_trace_load(&t, j, strlen(j), NULL, 0), 0);
	ptsim_trace_free(t);
	free(j);
}

/* Every truncation of a valid trace is rejected (and nothing crashes). */
static void test_trace_errors__every_truncation_is_rejected(void **s)
{
	(void)s;
	char *j = q(PRE MAP "{'op':'repeat','count':4,'step':{'addr':'4K'},'events':["
		    "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true}]}" END);
	size_t len = strlen(j);
	char err[256];

	for (size_t n = 0; n < len; n++) {
		struct ptsim_trace *t = NULL;
		int rc = ptsim_trace_load(&t, j, n, err, sizeof(err));
		if (rc != PTSIM_EBADTRACE)
			fail_msg("prefix of %zu bytes: %d", n, rc);
		assert_null(t);
	}
	struct ptsim_trace *t = NULL;
	assert_int_equal(ptsim_trace_load(&t, j, len, err, sizeof(err)), 0);
	ptsim_trace_free(t);
	free(j);
}

static void test_trace_errors__top_level_shape(void **s)
{
	(void)s;
	LOAD_ERR("[1, 2]", "a trace is a JSON object");
	LOAD_ERR("'just a string'", "a trace is a JSON object");
	LOAD_ERR("{'ptsim_trace':1,'events':[],'extra':1}", "unknown top-level field 'extra'");
	LOAD_ERR("{'ptsim_trace':1}", "missing field 'events'");
	LOAD_ERR("{'ptsim_trace':1,'events':{}}", "'events' must be an array");
	LOAD_ERR("{'ptsim_trace':1,'events':[],'events':[]}", "top-level field 'events' is given twice");
	LOAD_ERR("{'ptsim_trace':1,'comment':7,'events':[]}", "field 'comment': expected a string");
	LOAD_ERR("{'ptsim_trace':1,'machine':[],'events':[]}", "machine: must be an object");
}

static void test_trace_errors__bad_version(void **s)
{
	(void)s;
	LOAD_ERR("{'events':[]}", "field 'ptsim_trace'", "must be 1");
	LOAD_ERR("{'ptsim_trace':2,'events':[]}", "field 'ptsim_trace'", "must be 1");
	LOAD_ERR("{'ptsim_trace':'1','events':[]}", "field 'ptsim_trace'", "must be 1");
	LOAD_ERR("{'ptsim_trace':1.5,'events':[]}", "field 'ptsim_trace'", "must be 1");
}

/* ---------------- events: ops and fields ---------------- */

static void test_trace_errors__unknown_op(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'frobnicate','task':1}" END, "events[1]", "unknown op \"frobnicate\"");
	LOAD_ERR(PRE "{'task':1}" END, "events[1]", "missing field 'op'");
	LOAD_ERR(PRE "{'op':7}" END, "events[1]", "field 'op': expected a string");
	LOAD_ERR(PRE "7" END, "events[1]", "an event must be a JSON object");
	LOAD_ERR(PRE "{'op':'spawn','op':'exit','task':2,'cpu':1}" END, "events[1]", "field 'op' is given twice");
}

static void test_trace_errors__unknown_field(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'rw','colour':'red'}" END,
		 "events[1] (mmap)", "unknown field 'colour' for op mmap");
	/* A field of another op is unknown here. */
	LOAD_ERR(PRE "{'op':'sleep','task':1,'cpu':0}" END, "events[1] (sleep)", "unknown field 'cpu' for op sleep");
	LOAD_ERR(PRE "{'op':'spawn','task':2,'cpu':1,'task':3}" END, "events[1]", "field 'task' is given twice");
	/* "expect" belongs to system calls only. */
	LOAD_ERR(PRE "{'op':'sleep','task':1,'expect':'EINVAL'}" END, "events[1] (sleep)", "field 'expect'",
		 "not a system call");
}

static void test_trace_errors__missing_field(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096}" END, "events[1] (mmap)", "missing field 'prot'");
	LOAD_ERR(PRE "{'op':'fork','task':1,'cpu':1}" END, "events[1] (fork)", "missing field 'child'");
	LOAD_ERR(PRE "{'op':'touch','task':1,'addr':0}" END, "events[1] (touch)", "missing field 'len'");
	LOAD_ERR(PRE "{'op':'mark'}" END, "events[1] (mark)", "missing field 'name'");
	LOAD_ERR(PRE "{'op':'repeat','count':2}" END, "events[1] (repeat)", "missing field 'events'");
	LOAD_ERR(PRE "{'op':'advance'}" END, "events[1] (advance)", "exactly one of ns, us, ms, s");
	LOAD_ERR(PRE "{'op':'advance','ms':1,'s':1}" END, "events[1] (advance)", "exactly one of ns, us, ms, s");
}

static void test_trace_errors__wrong_types(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'spawn','task':true,'cpu':1}" END, "events[1] (spawn)", "field 'task'",
		 "expected a number or a numeric string");
	LOAD_ERR(PRE "{'op':'spawn','task':[2],'cpu':1}" END, "events[1] (spawn)", "field 'task'");
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':3}" END, "events[1] (mmap)",
		 "field 'prot': expected a string");
	LOAD_ERR(PRE "{'op':'touch','task':1,'addr':0,'len':4096,'write':'yes'}" END, "events[1] (touch)",
		 "field 'write': expected true or false");
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'rw','shared':1}" END, "events[1] (mmap)",
		 "field 'shared': expected true or false");
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'rw','kind':'file','file':5}" END,
		 "events[1] (mmap)", "field 'file': expected a string");
	LOAD_ERR(PRE "{'op':'mark','name':''}" END, "events[1] (mark)", "field 'name': empty (a name is 1..255 bytes");
	LOAD_ERR(PRE "{'op':'mark','name':'m','comment':1}" END, "events[1] (mark)", "field 'comment'");
	LOAD_ERR(PRE "{'op':'mprotect','task':1,'addr':0,'len':4096,'prot':'r','expect':5}" END,
		 "events[1] (mprotect)", "field 'expect': expected a string");
}

static void test_trace_errors__numbers_out_of_range(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'spawn','task':3000000000,'cpu':1}" END, "events[1] (spawn)", "field 'task'",
		 "out of range (max 2147483647)");
	LOAD_ERR(PRE "{'op':'run','task':1,'cpu':9000}" END, "events[1] (run)", "field 'cpu'", "out of range");
	LOAD_ERR(PRE "{'op':'repeat','count':200000000,'events':[]}" END, "events[1] (repeat)", "field 'count'",
		 "out of range");
	LOAD_ERR(PRE "{'op':'spawn','task':-1,'cpu':1}" END, "events[1] (spawn)", "field 'task'",
		 "not a non-negative integer");
	LOAD_ERR(PRE "{'op':'spawn','task':1.5,'cpu':1}" END, "events[1] (spawn)", "field 'task'",
		 "not a non-negative integer");
	/* Doubles beyond 2^53 (and beyond 2^64) cannot be exact: use a string. */
	LOAD_ERR(PRE "{'op':'munmap','task':1,'addr':1e300,'len':4096}" END, "events[1] (munmap)", "field 'addr'",
		 "use a string");
	LOAD_ERR(PRE "{'op':'munmap','task':1,'addr':18014398509481984,'len':4096}" END, "events[1] (munmap)",
		 "field 'addr'");
	/* 2^53 + 1 arrives as 2^53: refused rather than silently rounded. */
	LOAD_ERR(PRE "{'op':'advance','ns':9007199254740993}" END, "events[1] (advance)", "field 'ns'", "below 2^53");
	/* A mark name is one table cell and one JSON string: no control characters. */
	LOAD_ERR(PRE "{'op':'mark','name':'two\\nlines'}" END, "events[1] (mark)", "field 'name'",
		 "control character U+000A at byte 3");
	/* Nor invalid UTF-8 (bytes FF FE used to reach the JSON report). */
	LOAD_ERR(PRE "{'op':'mark','name':'ok\xff\xfe'}" END, "events[1] (mark)", "field 'name'",
		 "invalid UTF-8 at byte 2 (0xff)");
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','kind':'file','file':'\xc0\xaf'}" END,
		 "events[1] (mmap)", "field 'file'", "invalid UTF-8 at byte 0 (0xc0)");
	LOAD_ERR(PRE "{'op':'advance','s':'0xffffffffffffffff'}" END, "events[1] (advance)", "field 's'",
		 "out of range");
}

static void test_trace_errors__bad_number_strings(void **s)
{
	(void)s;
	static const char *const bad[] = { "12Q", "0x", "", "x12", "1MM", "0xK", "-5", "1.5", " 1", "4 K", "2MB" };
	char json[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), PRE "{'op':'munmap','task':1,'addr':'%s','len':4096}" END, bad[i]);
		LOAD_ERR(json, "events[1] (munmap)", "field 'addr'", "is not a number");
	}
	LOAD_ERR(PRE "{'op':'munmap','task':1,'addr':'99999999999999999999','len':4096}" END, "events[1] (munmap)",
		 "field 'addr'", "overflows 64 bits");
	LOAD_ERR(PRE "{'op':'munmap','task':1,'addr':'0x1ffffffffffffffff','len':4096}" END, "field 'addr'",
		 "overflows 64 bits");
	LOAD_ERR(PRE "{'op':'munmap','task':1,'addr':0,'len':'20000000T'}" END, "events[1] (munmap)", "field 'len'",
		 "overflows 64 bits");
	/* And the good forms: decimal, hex, binary suffixes. */
	struct ptsim_machine *m = run_ok(PRE "{'op':'mmap','task':1,'addr':'0x7f0000000000','len':'2M','prot':'rw'},"
					     "{'op':'mmap','task':1,'addr':'127G','len':'1048576','prot':'r'},"
					     "{'op':'mmap','task':1,'addr':'0X10000','len':'4k','prot':'r'}" END);
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.nr_vmas, 3);
	t_destroy(m);
}

static void test_trace_errors__bad_prot_kind_advice(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'rwz'}" END, "events[1] (mmap)",
		 "field 'prot'", "\"rwz\"");
	LOAD_ERR(PRE "{'op':'mprotect','task':1,'addr':0,'len':4096,'prot':'RW'}" END, "events[1] (mprotect)",
		 "field 'prot'");
	LOAD_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'rw','kind':'thp'}" END, "events[1] (mmap)",
		 "field 'kind'", "\"thp\"");
	LOAD_ERR(PRE "{'op':'madvise','task':1,'addr':0,'len':4096,'advice':'willneed'}" END, "events[1] (madvise)",
		 "field 'advice'", "\"willneed\"");
	LOAD_ERR(PRE "{'op':'mprotect','task':1,'addr':0,'len':4096,'prot':'r','expect':'EPERM'}" END,
		 "events[1] (mprotect)", "field 'expect'", "\"EPERM\"");
}

/* ---------------- repeat ---------------- */

static void test_trace_errors__repeat_bad_step_keys(void **s)
{
	(void)s;
	const char *body = "'events':[{'op':'touch','task':1,'addr':'0x100000','len':4096}]}";
	char json[512];

#define STEP(st) (snprintf(json, sizeof(json), PRE MAP "{'op':'repeat','count':2,'step':%s,%s" END, st, body), json)
	LOAD_ERR(STEP("{'colour':1}"), "events[2] (repeat)", "step: 'colour' is not a numeric event field");
	LOAD_ERR(STEP("{'count':1}"), "events[2] (repeat)", "step: 'count' is not a numeric event field");
	LOAD_ERR(STEP("{'prot':1}"), "events[2] (repeat)", "step: 'prot' is not a numeric event field");
	LOAD_ERR(STEP("{'addr':'zz'}"), "events[2] (repeat)", "step 'addr'", "not a number");
	LOAD_ERR(STEP("{'addr':true}"), "events[2] (repeat)", "step 'addr'", "expected a number");
	LOAD_ERR(STEP("{'addr':0.5}"), "events[2] (repeat)", "step 'addr'", "not an integer");
	LOAD_ERR(STEP("[1]"), "events[2] (repeat)", "field 'step': expected an object");
	LOAD_ERR(STEP("{'addr':4096,'addr':8192}"), "events[2] (repeat)", "step 'addr' is given twice");
	/* A step nothing in the body can take would be ignored: rejected. */
	LOAD_ERR(STEP("{'offset':4096}"), "events[2] (repeat)", "step 'offset'", "no event of the body");
	LOAD_ERR(STEP("{'stride':4096}"), "events[2] (repeat)", "step 'stride'", "no event of the body");
#undef STEP
	/* ...but a step used only by a nested repeat's body is fine. */
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'repeat','count':2,'step':{'addr':'32K'},'events':["
					 "{'op':'repeat','count':2,'step':{'addr':'4K'},'events':["
					 "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true}]}]}" END);
	assert_int_equal(t_stat(m, "faults.anon"), 4);
	t_destroy(m);
	/* Errors inside a body name the nested position. */
	LOAD_ERR(PRE "{'op':'repeat','count':2,'events':[{'op':'mark','name':'a'},{'op':'mark','nom':'b'}]}" END,
		 "events[1] (repeat).events[1] (mark)", "unknown field 'nom'");
	LOAD_ERR(PRE "{'op':'repeat','count':2,'events':{}}" END, "events[1]", "'events' must be an array");
}

static void test_trace_errors__repeat_nesting_limit(void **s)
{
	(void)s;
	char json[4096], *p = json;

	p += sprintf(p, "{'ptsim_trace':1,'events':[");
	for (int i = 0; i < 18; i++)
		p += sprintf(p, "{'op':'repeat','count':1,'events':[");
	p += sprintf(p, "{'op':'mark','name':'deep'}");
	for (int i = 0; i < 18; i++)
		p += sprintf(p, "]}");
	sprintf(p, "]}");
	LOAD_ERR(json, "(repeat): repeat nested deeper than 16 levels");
	/* Deeper than the JSON parser's own limit: said as such, not as "malformed". */
	p = json;
	for (int i = 0; i < 1100; i++)
		*p++ = '[';
	*p = 0;
	LOAD_ERR(json, "JSON nested deeper than 1000 levels");
	/* A NUL inside a string would cut it short: refused. */
	LOAD_ERR(PRE "{'op':'mark','name':'a\\u0000b'}" END, "\\u0000", "NUL characters are not allowed");
	/* An escaped backslash before u0000 is just text. */
	struct ptsim_machine *m = NULL;
	char err[512];
	char *j = q(PRE "{'op':'mark','name':'a\\\\u0000b'}" END);
	assert_int_equal(t_run_json(j, &m, err, sizeof(err)), 0);
	free(j);
	t_destroy(m);
}

/* Repeat steps that push a value out of range are caught when applied, naming the iteration. */
static void test_trace_errors__repeat_step_out_of_range(void **s)
{
	(void)s;
	/* Iteration 1 of the loop would munmap below 0: the message names that munmap, not the mark. */
	RUN_ERR(PRE MAP "{'op':'repeat','count':3,'step':{'addr':'-2M'},'events':["
		    "{'op':'mark','name':'m'},{'op':'munmap','task':1,'addr':'0x100000','len':4096}]}" END,
		PTSIM_EBADEVENT, "event 5 (munmap) at events[2][i=1].events[1]", "field 'addr'", "64-bit range");
	RUN_ERR(PRE "{'op':'repeat','count':3,'step':{'cpu':8191},'events':[{'op':'run','task':1,'cpu':1}]}" END,
		PTSIM_EBADEVENT, "event 2 (run) at events[1][i=1].events[0]", "field 'cpu'", "out of range (max 8191)");
}

/* A call that fails inside a repeat names its position too (formatted only when the error is written). */
static void test_trace_errors__call_error_in_repeat(void **s)
{
	(void)s;
	/* Iteration 1 of the inner loop touches as task 2, which does not exist. */
	RUN_ERR(PRE MAP "{'op':'repeat','count':2,'events':[{'op':'mark','name':'m'},"
		    "{'op':'repeat','count':3,'step':{'task':1},'events':[{'op':'touch','task':1,'addr':'0x100000','len':4096}]}]}"
		    END,
		PTSIM_ENOTASK, "event 4 (touch) at events[2][i=0].events[1][i=1].events[0]", "field 'task'");
}

/* ---------------- address ranges ---------------- */

static void test_trace_errors__unaligned_range(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x100001','len':4096,'prot':'rw'}" END, -EINVAL,
		"event 1 (mmap) at events[1]", "field 'addr'", "0x100001 is not page-aligned");
	RUN_ERR(PRE MAP "{'op':'munmap','task':1,'addr':'0x100000','len':4095}" END, -EINVAL,
		"event 2 (munmap) at events[2]", "field 'len'", "not a multiple of the page size");
	RUN_ERR(PRE MAP "{'op':'madvise','task':1,'addr':'0x100800','len':4096,'advice':'dontneed'}" END, -EINVAL,
		"event 2 (madvise)", "field 'addr'");
	RUN_ERR(PRE MAP "{'op':'mprotect','task':1,'addr':'0x100000','len':0,'prot':'r'}" END, -EINVAL,
		"event 2 (mprotect)", "field 'len'", "must not be 0");
	RUN_ERR(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':0}" END, -EINVAL, "event 2 (touch)",
		"field 'len'");
}

static void test_trace_errors__overflowing_range(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'munmap','task':1,'addr':'0xfffffffffffff000','len':'0x2000'}" END, -ERANGE,
		"event 1 (munmap)", "field 'addr'", "is above the top of user space", "paging_levels 5 raises it");
	RUN_ERR(PRE "{'op':'munmap','task':1,'addr':'0x7fffffffe000','len':'0xfffffffffffff000'}" END, -ERANGE,
		"event 1 (munmap)", "field 'len'", "runs past the top of user space");
	RUN_ERR(PRE "{'op':'touch','task':1,'addr':'0xfffffffffffff000','len':'0x2000'}" END, -ERANGE,
		"event 1 (touch)", "field 'len'", "wraps around");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','kind':'file','file':'f',"
		    "'offset':'0xfffffffffffff000'}" END,
		-ERANGE, "event 1 (mmap)", "field 'offset'", "overflows");
}

/* The top of user space: 47 bits minus the guard page with 4 levels, 56 bits with 5. */
static void test_trace_errors__range_past_top_of_user_space(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x7ffffffff000','len':'0x1000','prot':'rw'}" END, -ERANGE,
		"event 1 (mmap)", "field 'addr'", "(0x7ffffffff000, 47-bit VA");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x7fffffffe000','len':'0x2000','prot':'rw'}" END, -ERANGE,
		"event 1 (mmap)", "field 'len'");
	RUN_ERR(PRE "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':'0x800000000000'}" END, -ERANGE,
		"event 1 (gup_fast_begin)", "field 'addr'", "not a user address");
	/* The last page below the guard page is fine; with 5 levels far more is. */
	struct ptsim_machine *m = run_ok(PRE "{'op':'mmap','task':1,'addr':'0x7fffffffe000','len':'0x1000','prot':'rw'},"
					     "{'op':'touch','task':1,'addr':'0x7fffffffe000','len':4096,'write':true}" END);
	assert_int_equal(t_stat(m, "faults.anon"), 1);
	t_destroy(m);
	m = run_ok("{'ptsim_trace':1,'machine':{'paging_levels':5},'events':[{'op':'spawn','task':1,'cpu':0},"
		   "{'op':'mmap','task':1,'addr':'0x7ffffffff000','len':'0x2000','prot':'rw'}]}");
	t_destroy(m);
}

/* Touching above user space is a simulated SIGSEGV, not an error, and never aliases a user address. */
static void test_trace_errors__access_above_user_space_is_sigsegv(void **s)
{
	(void)s;
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
					 "{'op':'touch','task':1,'addr':'0x1000000100000','len':4096,'write':true},"
					 "{'op':'touch','task':1,'addr':'0x7ffffffff000','len':4096}" END);
	assert_int_equal(t_stat(m, "faults.sigsegv"), 2);
	assert_int_equal(t_stat(m, "faults.total"), 1);
	assert_int_equal(t_stat(m, "accesses"), 3);
	t_destroy(m);
}

/* ---------------- tasks and CPUs ---------------- */

static void test_trace_errors__unknown_task(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'munmap','task':7,'addr':0,'len':4096}" END, PTSIM_ENOTASK, "event 1 (munmap)",
		"field 'task'", "no task 7");
	RUN_ERR(PRE "{'op':'run','task':7,'cpu':1}" END, PTSIM_ENOTASK, "event 1 (run)", "field 'task'");
	RUN_ERR(PRE "{'op':'fork','task':7,'child':8,'cpu':1}" END, PTSIM_ENOTASK, "event 1 (fork)", "field 'task'");
	RUN_ERR(PRE "{'op':'exit','task':1},{'op':'exit','task':1}" END, PTSIM_ENOTASK, "event 2 (exit)",
		"field 'task'");
}

static void test_trace_errors__task_not_running(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'sleep','task':1},{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r'}" END,
		PTSIM_ETASKSTATE, "event 2 (mmap)", "field 'task'", "task 1 is not running");
	RUN_ERR(PRE "{'op':'sleep','task':1},{'op':'sleep','task':1}" END, PTSIM_ETASKSTATE, "event 2 (sleep)",
		"field 'task'");
	RUN_ERR(PRE "{'op':'sleep','task':1},{'op':'exit','task':1}" END, PTSIM_ETASKSTATE, "event 2 (exit)",
		"field 'task'");
	RUN_ERR(PRE "{'op':'sleep','task':1},{'op':'fork','task':1,'child':2,'cpu':1}" END, PTSIM_ETASKSTATE,
		"event 2 (fork)", "field 'task'");
	/* A GUP-fast walk walks current->mm: the task must run on that CPU. */
	RUN_ERR(PRE "{'op':'gup_fast_begin','cpu':1,'task':1,'addr':0}" END, PTSIM_ETASKSTATE,
		"event 1 (gup_fast_begin)", "field 'task'");
	RUN_ERR(PRE "{'op':'gup_fast_end','cpu':0}" END, PTSIM_ETASKSTATE, "event 1 (gup_fast_end)", "field 'cpu'",
		"not inside a GUP-fast walk");
}

static void test_trace_errors__duplicate_task_id(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'spawn','task':1,'cpu':1}" END, -EEXIST, "event 1 (spawn)", "field 'task'",
		"task 1 already exists");
	RUN_ERR(PRE "{'op':'thread','task':1,'thread':1,'cpu':1}" END, -EEXIST, "event 1 (thread)", "field 'thread'");
	RUN_ERR(PRE "{'op':'fork','task':1,'child':1,'cpu':1}" END, -EEXIST, "event 1 (fork)", "field 'child'");
}

static void test_trace_errors__cpu_out_of_range(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'run','task':1,'cpu':2}" END, -ERANGE, "event 1 (run)", "field 'cpu'",
		"cpu 2 does not exist (the machine has 2 CPUs: 0..1)");
	RUN_ERR(PRE "{'op':'spawn','task':2,'cpu':5}" END, -ERANGE, "event 1 (spawn)", "field 'cpu'");
	RUN_ERR(PRE "{'op':'thread','task':1,'thread':2,'cpu':9}" END, -ERANGE, "event 1 (thread)", "field 'cpu'");
	RUN_ERR(PRE "{'op':'gup_fast_end','cpu':3}" END, -ERANGE, "event 1 (gup_fast_end)", "field 'cpu'");
}

/* A CPU inside a GUP-fast walk (IRQs off) cannot run anything else until it ends. */
static void test_trace_errors__cpu_busy_in_walk(void **s)
{
	(void)s;
	RUN_ERR(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
		    "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':'0x100000'},"
		    "{'op':'munmap','task':1,'addr':'0x100000','len':4096}" END,
		PTSIM_ECPUBUSY, "event 4 (munmap)", "field 'task'", "inside a GUP-fast walk");
	RUN_ERR(PRE MAP "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':'0x100000'},"
		    "{'op':'spawn','task':2,'cpu':0}" END,
		PTSIM_ECPUBUSY, "event 3 (spawn)", "field 'cpu'");
}

/* ---------------- mappings ---------------- */

static void test_trace_errors__mmap_over_existing_mapping(void **s)
{
	(void)s;
	RUN_ERR(PRE MAP "{'op':'mmap','task':1,'addr':'0x108000','len':'64K','prot':'rw'}" END, PTSIM_EOVERLAP,
		"event 2 (mmap)", "field 'addr'", "overlaps the mapping [0x100000, 0x110000)");
	RUN_ERR(PRE MAP "{'op':'mmap','task':1,'addr':'0xf0000','len':'2M','prot':'r'}" END, PTSIM_EOVERLAP,
		"event 2 (mmap)", "field 'addr'");
	/* Right next to it is fine. */
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'mmap','task':1,'addr':'0x110000','len':'64K','prot':'r'}" END);
	t_destroy(m);
	/* A trace may expect the kernel's answer to MAP_FIXED_NOREPLACE instead. */
	m = run_ok(PRE MAP "{'op':'mmap','task':1,'addr':'0x108000','len':'64K','prot':'rw','expect':'EEXIST'}" END);
	t_destroy(m);
}

static void test_trace_errors__mmap_bad_arguments(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','kind':'file'}" END, -EINVAL,
		"event 1 (mmap)", "field 'file'", "needs a file name");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','file':'x'}" END, -EINVAL, "event 1 (mmap)",
		"field 'file'", "anonymous mapping has no file");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','offset':4096}" END, -EINVAL,
		"event 1 (mmap)", "field 'offset'");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','page_size':'2M'}" END, -EINVAL,
		"event 1 (mmap)", "field 'page_size'", "only for hugetlb");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':8192,'prot':'r','kind':'file','file':'f','offset':100}" END,
		-EINVAL, "event 1 (mmap)", "field 'offset'", "not page-aligned");
	/* One name, one kind of file. */
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':0,'len':4096,'prot':'r','kind':'file','file':'f'},"
		    "{'op':'mmap','task':1,'addr':'0x10000','len':4096,'prot':'r','kind':'shmem','file':'f'}" END,
		-EEXIST, "event 2 (mmap)", "field 'file'");
}

static void test_trace_errors__hugetlb_misalignment(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x100000','len':'2M','prot':'rw','kind':'hugetlb','shared':true}" END,
		-EINVAL, "event 1 (mmap)", "field 'addr'", "not huge page-aligned (0x200000)");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x200000','len':'1M','prot':'rw','kind':'hugetlb','shared':true}" END,
		-EINVAL, "event 1 (mmap)", "field 'len'", "huge page size");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x40000000','len':'1G','prot':'rw','kind':'hugetlb','page_size':'4M'}" END,
		-EINVAL, "event 1 (mmap)", "field 'page_size'");
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x200000','len':'2M','prot':'rw','kind':'hugetlb','page_size':'1G'}" END,
		-EINVAL, "event 1 (mmap)", "field 'addr'", "(0x40000000)");
	/* munmap of part of a huge page is the kernel's EINVAL, and a trace may expect it. */
	RUN_ERR(PRE "{'op':'mmap','task':1,'addr':'0x200000','len':'4M','prot':'rw','kind':'hugetlb','shared':true},"
		    "{'op':'munmap','task':1,'addr':'0x201000','len':'4K'}" END,
		-EINVAL, "event 2 (munmap)", "field 'addr'");
	struct ptsim_machine *m = run_ok(
		PRE "{'op':'mmap','task':1,'addr':'0x200000','len':'4M','prot':'rw','kind':'hugetlb','shared':true},"
		    "{'op':'munmap','task':1,'addr':'0x201000','len':'4K','expect':'EINVAL'}" END);
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.nr_vmas, 1);
	t_destroy(m);
}

/* ---------------- expected system-call failures ---------------- */

static void test_trace_errors__expect(void **s)
{
	(void)s;
	/*
	 * The kernel fails it and the trace says so: the trace goes on.  As in the
	 * kernel, mprotect changed the mapped part before it met the hole, so
	 * mlock populates a read-only mapping: zero-page read faults.
	 */
	struct ptsim_machine *m = run_ok(
		PRE MAP "{'op':'mprotect','task':1,'addr':'0x100000','len':'128K','prot':'r','expect':'ENOMEM'},"
			"{'op':'mlock','task':1,'addr':'0x100000','len':'64K'},"
			"{'op':'madvise','task':1,'addr':'0x100000','len':'64K','advice':'dontneed','expect':'EINVAL'},"
			"{'op':'madvise','task':1,'addr':'0x100000','len':'64K','advice':'dontneed_locked'},"
			"{'op':'mark','name':'end'}" END);
	assert_int_equal(t_stat(m, "faults.zero_page"), 16);
	assert_int_equal(t_stat(m, "faults.anon"), 0);
	t_destroy(m);

	/* An expected failure that does not happen is an error naming the field. */
	RUN_ERR(PRE MAP "{'op':'mprotect','task':1,'addr':'0x100000','len':'64K','prot':'r','expect':'ENOMEM'}" END,
		PTSIM_EBADEVENT, "event 2 (mprotect) at events[2]", "field 'expect'",
		"expected ENOMEM, but the call succeeded");
	RUN_ERR(PRE MAP "{'op':'mmap','task':1,'addr':'0x200000','len':4096,'prot':'r','expect':'EINVAL'}" END,
		PTSIM_EBADEVENT, "event 2 (mmap)", "field 'expect'", "but the call succeeded");
	/* A different failure than expected names both. */
	RUN_ERR(PRE MAP "{'op':'mprotect','task':1,'addr':'0x100000','len':'128K','prot':'r','expect':'EINVAL'}" END,
		PTSIM_EBADEVENT, "event 2 (mprotect)", "field 'expect'", "expected EINVAL, but the call failed with ENOMEM",
		"not mapped");
	/* Inside a repeat the index counts the iterations. */
	RUN_ERR(PRE MAP "{'op':'repeat','count':3,'step':{'addr':'64K'},'events':[{'op':'mark','name':'x'},"
		    "{'op':'mlock','task':1,'addr':'0x100000','len':'64K','expect':'ENOMEM'}]}" END,
		PTSIM_EBADEVENT, "event 3 (mlock) at events[2][i=0].events[1]", "field 'expect'");
}

/* A system call the kernel fails, not expected: a bad event, with the hint. */
static void test_trace_errors__unexpected_syscall_failure(void **s)
{
	(void)s;
	RUN_ERR(PRE MAP "{'op':'mprotect','task':1,'addr':'0x100000','len':'128K','prot':'r'}" END, PTSIM_EBADEVENT,
		"event 2 (mprotect) at events[2]", "field 'addr'", "ENOMEM", "add \"expect\": \"ENOMEM\"");
	RUN_ERR(PRE MAP "{'op':'munlock','task':1,'addr':'0x200000','len':'4K'}" END, PTSIM_EBADEVENT,
		"event 2 (munlock)", "ENOMEM");
	RUN_ERR(PRE MAP "{'op':'swapout','task':1,'addr':'0x10f000','len':'8K'}" END, PTSIM_EBADEVENT,
		"event 2 (swapout)", "field 'addr'", "not mapped", "add \"expect\": \"ENOMEM\"");
	/* Expected: the mapped page went to swap, the hole is the kernel's ENOMEM. */
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':'64K','write':true},"
					 "{'op':'swapout','task':1,'addr':'0x10f000','len':'8K','expect':'ENOMEM'}" END);
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, 1, &mi));
	assert_int_equal(mi.swap_kb, 4);
	t_destroy(m);
	RUN_ERR(PRE MAP "{'op':'mlock','task':1,'addr':'0x100000','len':'64K'},"
		    "{'op':'madvise','task':1,'addr':'0x100000','len':'4K','advice':'dontneed'}" END,
		-EINVAL, "event 3 (madvise)", "madvise returned EINVAL");
}

/* lru_add_drain_cpu: any CPU the machine has; a bad or missing cpu names the event and the field. */
static void test_trace_errors__lru_add_drain_cpu(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'lru_add_drain_cpu','cpu':2}" END, -ERANGE, "event 1 (lru_add_drain_cpu)", "field 'cpu'",
		"cpu 2 does not exist");
	LOAD_ERR(PRE "{'op':'lru_add_drain_cpu'}" END, "events[1] (lru_add_drain_cpu)", "missing field 'cpu'");
	LOAD_ERR(PRE "{'op':'lru_add_drain_cpu','cpu':-1}" END, "events[1] (lru_add_drain_cpu)", "field 'cpu'");
	LOAD_ERR(PRE "{'op':'lru_add_drain_cpu','cpu':'x'}" END, "events[1] (lru_add_drain_cpu)", "field 'cpu'",
		 "not a number");
	LOAD_ERR(PRE "{'op':'lru_add_drain_cpu','cpu':100000000}" END, "events[1] (lru_add_drain_cpu)", "field 'cpu'",
		 "out of range");
	LOAD_ERR(PRE "{'op':'lru_add_drain_cpu','cpu':1,'task':1}" END, "events[1] (lru_add_drain_cpu)", "'task'");
	/* Valid on a CPU running a task, an idle one, and one inside a GUP-fast walk. */
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':'16K','write':true},"
					     "{'op':'lru_add_drain_cpu','cpu':1},"
					     "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':'0x100000'},"
					     "{'op':'lru_add_drain_cpu','cpu':0},"
					     "{'op':'gup_fast_end','cpu':0}" END);
	assert_int_equal(ptsim_frames_in_lru_batches(m), 0);
	t_destroy(m);
}

/* ---------------- concurrency points left open ---------------- */

static void test_trace_errors__trace_ends_inside_walk(void **s)
{
	(void)s;
	RUN_ERR(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
		    "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':'0x100000'}" END,
		PTSIM_EBADTRACE, "cpu 0 inside a GUP-fast walk", "gup_fast_end");
	RUN_ERR(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
		    "{'op':'rcu_read_begin','cpu':1,'task':1,'addr':'0x100000'}" END,
		PTSIM_EBADTRACE, "cpu 1 inside an RCU reader", "rcu_read_end");
	RUN_ERR(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
		    "{'op':'pmd_lock','cpu':1,'task':1,'addr':'0x100000'}" END,
		PTSIM_EBADTRACE, "cpu 1 holding a PMD lock", "pmd_unlock");
	RUN_ERR(PRE "{'op':'schedule_begin','cpu':1}" END, PTSIM_EBADTRACE, "cpu 1 inside the scheduler",
		"schedule_end");
	RUN_ERR(PRE "{'op':'schedule_end','cpu':1}" END, PTSIM_ETASKSTATE, "event 1 (schedule_end)", "field 'cpu'",
		"not inside the scheduler");
	/* Closed walks are fine. */
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
					     "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':'0x100000'},"
					     "{'op':'gup_fast_end','cpu':0}" END);
	t_destroy(m);
}

/* An RCU reader holds its mm's mmap_lock for read: munmap of that mm (mmap_lock for write) is refused. */
static void test_trace_errors__munmap_beside_rcu_reader(void **s)
{
	(void)s;
	RUN_ERR(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
		    "{'op':'rcu_read_begin','cpu':1,'task':1,'addr':'0x100000'},"
		    "{'op':'munmap','task':1,'addr':'0x100000','len':'64K'}" END,
		PTSIM_ECPUBUSY, "event 4 (munmap)", "field 'task'",
		"cpu 1 is inside an RCU read section on a page table of this mm", "rcu_read_end first");
	struct ptsim_machine *m = run_ok(PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':4096,'write':true},"
					     "{'op':'rcu_read_begin','cpu':1,'task':1,'addr':'0x100000'},"
					     "{'op':'rcu_read_end','cpu':1},"
					     "{'op':'munmap','task':1,'addr':'0x100000','len':'64K'}" END);
	t_destroy(m);
}

/*
 * An exec segment's or stack's range names its own field, once: the message
 * used to wrap the range check's whole message, event prefix and all
 * ("field 'segments[1]': event 1 (exec) at events[1]: field 'addr': ...").
 */
static void test_trace_errors__exec_range_names_segment_field(void **s)
{
	(void)s;
	RUN_ERR(PRE "{'op':'exec','task':1,'segments':[{'addr':'0x400000','len':4096,'prot':'r'},"
		    "{'addr':'0x7ffffffff000','len':4096,'prot':'r'}]}" END,
		-ERANGE, "event 1 (exec)",
		"field 'segments[1].addr': 0x7ffffffff000 is above the top of user space");
	RUN_ERR(PRE "{'op':'exec','task':1,'segments':[{'addr':'0x400000','len':'0x1800','prot':'r'}]}" END, -EINVAL,
		"event 1 (exec)", "field 'segments[0].len': 0x1800 is not a multiple of the page size");
	RUN_ERR(PRE "{'op':'exec','task':1,'stack':{'addr':'0x7ffffffff000','len':'8K'}}" END, -ERANGE,
		"event 1 (exec)", "field 'stack.addr': 0x7ffffffff000 is above the top of user space");
	/* Address 0: the stack ends at the layout's top, so only the length can be wrong. */
	RUN_ERR(PRE "{'op':'exec','task':1,'stack':{'addr':0,'len':'256T'}}" END, -ERANGE, "event 1 (exec)",
		"field 'stack.len': 0x1000000000000 does not fit below the stack's top (0x7ffffffff000)");
	/* Randomized (randomize_va_space): the top moves down, the length may no longer fit. */
	RUN_ERR("{'ptsim_trace':1,'machine':{'cpus':2,'set':{'randomize_va_space':1}},'events':["
		"{'op':'spawn','task':1,'cpu':0},{'op':'exec','task':1,'stack':{'addr':0,'len':'0x7fffffff0000'}}" END,
		-ERANGE, "event 1 (exec)", "field 'stack.len': 0x7fffffff0000 does not fit below the randomized stack top");
}

/* exec's stack.arg_pages (the stack moved from STACK_TOP_MAX): its shape and its checks name it. */
static void test_trace_errors__exec_arg_pages(void **s)
{
	(void)s;
	LOAD_ERR(PRE "{'op':'exec','task':1,'stack':{'arg_pages':0}}" END, "events[1] (exec)",
		 "field 'stack.arg_pages': 0 (leave it out: the stack did not move)");
	LOAD_ERR(PRE "{'op':'exec','task':1,'stack':{'arg_pages':'x'}}" END, "events[1] (exec)", "field 'stack.arg_pages'");
	LOAD_ERR(PRE "{'op':'exec','task':1,'stack':{'len':'132K','arg_pages':1}}" END, "events[1] (exec)",
		 "field 'stack': 'len' without 'addr'");
	LOAD_ERR(PRE "{'op':'exec','task':1,'stack':{'addr':'0x7ffff0000000','len':'132K','pages':1}}" END,
		 "events[1] (exec)", "field 'stack': unknown field 'pages' (addr, len, arg_pages)");
	LOAD_ERR(PRE "{'op':'exec','task':1,'stack':{'arg_pages':1,'arg_pages':2}}" END, "events[1] (exec)",
		 "field 'stack': 'arg_pages' is given twice");
	LOAD_ERR(PRE "{'op':'exec','task':1,'stack':{}}" END, "events[1] (exec)", "field 'stack': expected");
	/* More pages of arguments than the stack holds. */
	RUN_ERR(PRE "{'op':'exec','task':1,'stack':{'addr':'0x7ffff0000000','len':'8K','arg_pages':3}}" END, -EINVAL,
		"event 1 (exec)", "field 'stack.arg_pages': 3 pages of arguments do not fit in a stack of 0x2000 bytes");
	/* More than execve() accepts (6 MiB of strings): rejected before anything is built. */
	RUN_ERR(PRE "{'op':'exec','task':1,'stack':{'arg_pages':1538}}" END, -EINVAL, "event 1 (exec)",
		"field 'stack.arg_pages': 1538 pages of arguments: execve() accepts at most 0x600000 bytes of them "
		"(1537 pages)");
	RUN_ERR(PRE "{'op':'exec','task':1,'stack':{'arg_pages':17179869184}}" END, -EINVAL, "event 1 (exec)",
		"field 'stack.arg_pages': 17179869184 pages");
	/* arm64 with 52-bit VAs: a stack above the 48-bit window cannot have come down from STACK_TOP_MAX. */
	RUN_ERR("{'ptsim_trace':1,'machine':{'arch':'arm64','cpus':2,'va_bits':52},'events':["
		"{'op':'spawn','task':1,'cpu':0},{'op':'exec','task':1,'stack':{'addr':'0x4000000000000','len':'132K',"
		"'arg_pages':1}}" END,
		-EINVAL, "event 1 (exec)",
		"field 'stack.arg_pages': the stack's top 0x4000000021000 lies above STACK_TOP_MAX (0x1000000000000)");
}

/* ---------------- machine section ---------------- */

static void test_trace_errors__machine_section(void **s)
{
	(void)s;
	/* Rejected when parsed. */
	LOAD_ERR("{'ptsim_trace':1,'machine':{'arch':'sparc'},'events':[]}", "machine", "field 'arch'", "\"sparc\"");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'arch':64},'events':[]}", "machine", "field 'arch'");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'colour':1},'events':[]}", "machine", "unknown field 'colour'");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'cpus':0},'events':[]}", "machine", "field 'cpus'", "at least 1");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'cpus':9000},'events':[]}", "machine", "field 'cpus'", "out of range");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'cpus':'two'},'events':[]}", "machine", "field 'cpus'");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'paging_levels':6},'events':[]}", "machine", "field 'paging_levels'");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'preset':6.18},'events':[]}", "machine", "field 'preset'");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'set':['pt_reclaim=on']},'events':[]}", "machine", "field 'set'");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'set':{'hz':null}},'events':[]}", "machine", "set.hz");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'set':{'hz':1.5}},'events':[]}", "machine", "set.hz", "not an integer");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'set':{'hz':10,'hz':20}},'events':[]}", "set.hz is given twice");
	LOAD_ERR("{'ptsim_trace':1,'machine':{'cpus':2,'cpus':4},'events':[]}", "machine", "field 'cpus' is given twice");
	/* Rejected when the machine is built. */
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'preset':'5.4'},'events':[]}", "unknown preset '5.4'");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'no_such_key':'on'}},'events':[]}",
		    "unknown variant key 'no_such_key'");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'pt_reclaim':'maybe'}},'events':[]}", "variant pt_reclaim",
		    "unknown value 'maybe'");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'pcid':'sometimes'}},'events':[]}", "variant pcid",
		    "not on/off");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'hz':0}},'events':[]}", "variant hz", "not an integer in");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'legacy_va_layout':'maybe'}},'events':[]}",
		    "variant legacy_va_layout", "not on/off");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'legacy_va_layout':2}},'events':[]}", "variant legacy_va_layout",
		    "'2' is not on/off");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'randomize_va_space':3}},'events':[]}",
		    "variant randomize_va_space", "'3' is not an integer in [0, 2]");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'randomize_va_space':true}},'events':[]}",
		    "variant randomize_va_space", "'on' is not an integer");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'mmap_rnd_bits':27}},'events':[]}", "variant mmap_rnd_bits",
		    "27 is not in [28, 32]");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'mmap_rnd_bits':65}},'events':[]}", "variant mmap_rnd_bits",
		    "not an integer in [0, 64]");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'set':{'tlb_page_entries':1000}},'events':[]}", "TLB geometry");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'paging_levels':3},'events':[]}", "paging_levels must be 4 or 5");
	MACHINE_ERR("{'ptsim_trace':1,'machine':{'granule':16384},'events':[]}", "granule");
	/* A good machine section spelled out, with set values of every type. */
	struct ptsim_machine *m = run_ok("{'ptsim_trace':1,'comment':'ok','machine':{'arch':'x86_64','cpus':4,"
					 "'paging_levels':5,'preset':'6.12','seed':7,'set':{'hz':250,'pcid':false,"
					 "'table_free':'rcu'}},'events':[]}");
	t_destroy(m);
}

/* Overrides added to a trace (the CLI's --set) are checked the same way. */
static void test_trace_errors__config_add(void **s)
{
	(void)s;
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	char err[256] = "";
	char *j = q("{'ptsim_trace':1,'events':[]}");

	assert_int_equal(ptsim_trace_load(&t, j, strlen(j), err, sizeof(err)), 0);
	assert_int_equal(ptsim_trace_config_add(t, "no_equals_sign"), -EINVAL);
	assert_int_equal(ptsim_trace_config_add(t, "x86_flush=carrier_pigeon"), 0);
	ptsim_trace_config(t, &cfg);
	assert_int_equal(ptsim_machine_create(&m, &cfg, err, sizeof(err)), PTSIM_EBADCONFIG);
	assert_null(m);
	has_all(err, (const char *const[]){ "variant x86_flush", "carrier_pigeon", NULL });
	ptsim_trace_free(t);
	free(j);
}

/* Outside a trace the message names the op and the field. */
static void test_trace_errors__api_messages(void **s)
{
	(void)s;
	struct ptsim_machine *m = t_machine(2, NULL, NULL);

	T_OK(m, ptsim_spawn(m, 1, 0));
	assert_int_equal(ptsim_munmap(m, 1, 0x1001, 4096), -EINVAL);
	assert_string_equal(ptsim_machine_errmsg(m), "munmap: field 'addr': 0x1001 is not page-aligned (0x1000)");
	assert_int_equal(ptsim_mmap(m, 1, NULL), -EINVAL);
	assert_int_equal(ptsim_madvise(m, 1, 0, 4096, (enum ptsim_advice)99), -EINVAL);
	has_all(ptsim_machine_errmsg(m), (const char *const[]){ "madvise: field 'advice'", NULL });
	assert_int_equal(ptsim_mprotect(m, 1, 0, 4096, 0x80), -EINVAL);
	has_all(ptsim_machine_errmsg(m), (const char *const[]){ "mprotect: field 'prot'", NULL });
	uint64_t v;
	assert_int_equal(ptsim_stat(m, "no.such.counter", &v), -ENOENT);
	has_all(ptsim_machine_errmsg(m), (const char *const[]){ "no counter named 'no.such.counter'", NULL });
	assert_int_equal(ptsim_stat(m, "cpu.2.faults", &v), -ENOENT);
	has_all(ptsim_machine_errmsg(m), (const char *const[]){ "the machine has no cpu 2 (cpus 0..1)", NULL });
	assert_int_equal(ptsim_mark(m, ""), -EINVAL);
	struct ptsim_mm_info mi;
	assert_int_equal(ptsim_mm_info_get(m, 5, &mi), PTSIM_ENOTASK);
	assert_string_equal(ptsim_errname(PTSIM_EBADEVENT), "EBADEVENT");
	assert_string_equal(ptsim_strerror(PTSIM_EOVERLAP), "range overlaps an existing mapping");
	assert_string_equal(ptsim_errname(-12345), "EUNKNOWN");
	/* Every errno a trace may expect has its name back. */
	static const struct { int code; const char *name; } errnos[] = {
		{ -EINVAL, "EINVAL" }, { -ENOMEM, "ENOMEM" }, { -EACCES, "EACCES" }, { -EEXIST, "EEXIST" },
		{ -EBUSY, "EBUSY" },   { -ENOENT, "ENOENT" }, { -EFAULT, "EFAULT" },
	};
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		assert_string_equal(ptsim_errname(errnos[i].code), errnos[i].name);
		assert_string_not_equal(ptsim_strerror(errnos[i].code), "unknown error");
	}
	t_destroy(m);
}

/* A file that does not exist, and one that is not JSON. */
static void test_trace_errors__load_file(void **s)
{
	(void)s;
	struct ptsim_trace *t = NULL;
	char err[512] = "";

	assert_int_equal(ptsim_trace_load_file(&t, PTSIM_TEST_TMPDIR "/no/such/trace.json", err, sizeof(err)), -ENOENT);
	has_all(err, (const char *const[]){ "no/such/trace.json", "No such file", NULL });
	assert_null(t);
	/* A directory is named as such (it used to give a bare "read error"). */
	assert_int_equal(ptsim_trace_load_file(&t, PTSIM_TEST_TMPDIR, err, sizeof(err)), -EISDIR);
	has_all(err, (const char *const[]){ PTSIM_TEST_TMPDIR, "is a directory, not a trace file", NULL });
	assert_null(t);
}

/* ---------------- the ptsim command: exit statuses ---------------- */

static const char *write_trace(const char *name, const char *json)
{
	static const char *const dir = PTSIM_TEST_TMPDIR;
	char *path = malloc(strlen(dir) + strlen(name) + 32);
	char *j = q(json);

	assert_non_null(path);
	sprintf(path, "%s/trace_errors_%s.json", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(j, f);
	fclose(f);
	free(j);
	return path;
}

/* Run `ptsim ARGS` with stdout and stderr captured; return its exit status. */
static int cli(const char *args, char *out, size_t outlen)
{
	char cmd[2048], path[512];
	snprintf(path, sizeof(path), "%s/trace_errors_cli.out", PTSIM_TEST_TMPDIR);
	snprintf(cmd, sizeof(cmd), "'%s' </dev/null %s >'%s' 2>&1", PTSIM_CLI, args, path);
	int st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, outlen - 1, f);
	out[n] = 0;
	fclose(f);
	return WEXITSTATUS(st);
}

#define CLI_STATUS(status, args, ...)                                                              \
	do {                                                                                       \
		int st_ = cli(args, out, sizeof(out));                                             \
		if (st_ != (status))                                                               \
			fail_msg("ptsim %s: exit %d, expected %d; output:\n%s", args, st_, status, out); \
		has_all(out, (const char *const[]){ __VA_ARGS__, NULL });                          \
	} while (0)

static void test_trace_errors__cli_exit_statuses(void **s)
{
	(void)s;
	static char out[65536];
	char args[1024];
	const char *clean = write_trace("clean", PRE MAP "{'op':'touch','task':1,'addr':'0x100000','len':'64K',"
					       "'write':true},{'op':'mark','name':'touched'}" END);
	/* Freeing tables before the flush while CPU0's walk caches point at them. */
	const char *unsafe = write_trace("unsafe", "{'ptsim_trace':1,'machine':{'set':{'table_free':'immediate'}},"
						   "'events':[{'op':'spawn','task':1,'cpu':0},"
						   "{'op':'mmap','task':1,'addr':'0x200000','len':'2M','prot':'rw'},"
						   "{'op':'touch','task':1,'addr':'0x200000','len':'2M','write':true},"
						   "{'op':'munmap','task':1,'addr':'0x200000','len':'2M'}]}");
	const char *badjson = write_trace("badjson", "{'ptsim_trace':1,\n'events':[\n{'op':'spawn',}]}");
	const char *badevent = write_trace("badevent", PRE "{'op':'munmap','task':9,'addr':0,'len':4096}" END);
	const char *hole = write_trace("hole", PRE MAP "{'op':'madvise','task':1,'addr':'0x100000','len':'1M',"
					      "'advice':'dontneed'}" END);
	const char *openwalk = write_trace("openwalk", PRE "{'op':'gup_fast_begin','cpu':0,'task':1,'addr':0}" END);

	/* 0: ran clean. */
	CLI_STATUS(0, "version", "ptsim " PTSIM_VERSION_STRING);
	CLI_STATUS(0, "--version", "ptsim ");
	CLI_STATUS(0, "presets", "6.18.44 (default)", "6.12", "pt_reclaim=");
	CLI_STATUS(0, "variants", "table_free", "x86_flush");
	CLI_STATUS(0, "help", "usage: ptsim run TRACE");
	snprintf(args, sizeof(args), "run '%s'", clean);
	CLI_STATUS(0, args, "violations: 0", "touched");
	snprintf(args, sizeof(args), "run '%s' --json", clean);
	CLI_STATUS(0, args, "\"violations\":[]", "\"name\":\"touched\"");
	snprintf(args, sizeof(args), "run '%s' --set table_free=rcu --preset 6.12 --cpus 4", unsafe);
	CLI_STATUS(0, args, "cpus=4", "preset=6.12", "violations: 0");
	snprintf(args, sizeof(args), "run - < '%s'", clean);
	CLI_STATUS(0, args, "violations: 0");

	/* 3: ran, with violations. */
	snprintf(args, sizeof(args), "run '%s'", unsafe);
	CLI_STATUS(3, args, "violations: 3", "[pwc] event 3 cpu 0");
	snprintf(args, sizeof(args), "run '%s' --json", unsafe);
	CLI_STATUS(3, args, "\"kind\":\"pwc\"");

	/* 2: bad input or usage. */
	snprintf(args, sizeof(args), "run '%s'", badjson);
	CLI_STATUS(2, args, "malformed JSON", "line 3");
	snprintf(args, sizeof(args), "run '%s'", badevent);
	CLI_STATUS(2, args, "event 1 (munmap)", "field 'task'", "no task 9");
	snprintf(args, sizeof(args), "run '%s'", hole);
	CLI_STATUS(2, args, "event 2 (madvise)", "ENOMEM", "expect");
	snprintf(args, sizeof(args), "run '%s'", openwalk);
	CLI_STATUS(2, args, "inside a GUP-fast walk");
	snprintf(args, sizeof(args), "run '%s' --preset 2.6.32", clean);
	CLI_STATUS(2, args, "unknown preset '2.6.32'");
	snprintf(args, sizeof(args), "run '%s' --set no_such_key=1", clean);
	CLI_STATUS(2, args, "unknown variant key 'no_such_key'");
	snprintf(args, sizeof(args), "run '%s' --set pt_reclaim", clean);
	CLI_STATUS(2, args, "expected KEY=VALUE");
	snprintf(args, sizeof(args), "run '%s' --cpus 0", clean);
	CLI_STATUS(2, args, "--cpus 0");
	snprintf(args, sizeof(args), "run '%s' --cpus", clean);
	CLI_STATUS(2, args, "--cpus needs a value");
	snprintf(args, sizeof(args), "run '%s' --frobnicate", clean);
	CLI_STATUS(2, args, "unknown option --frobnicate");
	snprintf(args, sizeof(args), "run '%s' '%s'", clean, unsafe);
	CLI_STATUS(2, args, "more than one trace");
	CLI_STATUS(2, "run " PTSIM_TEST_TMPDIR "/no_such_trace.json", "no_such_trace.json");
	CLI_STATUS(2, "run", "no trace given");
	CLI_STATUS(2, "", "usage:");
	CLI_STATUS(2, "frobnicate", "unknown command 'frobnicate'");

	/* --output writes the report to a file. */
	char path[512];
	snprintf(path, sizeof(path), "%s/trace_errors_report.json", PTSIM_TEST_TMPDIR);
	snprintf(args, sizeof(args), "run '%s' --json --output '%s'", clean, path);
	CLI_STATUS(0, args, "");
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	fclose(f);
	has_all(out, (const char *const[]){ "\"ptsim_version\"", "\"final\"", NULL });

	/* --timeline writes the marks as CSV next to the report. */
	snprintf(path, sizeof(path), "%s/trace_errors_timeline.csv", PTSIM_TEST_TMPDIR);
	snprintf(args, sizeof(args), "run '%s' --timeline '%s'", clean, path);
	CLI_STATUS(0, args, "marks (counters at each mark)");
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	fclose(f);
	has_all(out, (const char *const[]){ "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb,faults.total,", "\ntouched,0,,3,", "\nend,,,4,", NULL });
	snprintf(args, sizeof(args), "run '%s' --timeline '%s/no/such/dir/t.csv'", clean, PTSIM_TEST_TMPDIR);
	CLI_STATUS(2, args, "cannot create");

	/* An output file that cannot be created is bad input (before the run); one that cannot be written, a failure. */
	snprintf(args, sizeof(args), "run '%s' --output '%s/no/such/dir/r.json'", clean, PTSIM_TEST_TMPDIR);
	CLI_STATUS(2, args, "cannot create", "No such file or directory");
	if (access("/dev/full", W_OK) == 0) {
		snprintf(args, sizeof(args), "run '%s' --output /dev/full", clean);
		CLI_STATUS(1, args, "cannot write the report to /dev/full");
	}

	free((void *)clean);
	free((void *)unsafe);
	free((void *)badjson);
	free((void *)badevent);
	free((void *)hole);
	free((void *)openwalk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_errors__malformed_json_names_the_line),
		cmocka_unit_test(test_trace_errors__every_truncation_is_rejected),
		cmocka_unit_test(test_trace_errors__top_level_shape),
		cmocka_unit_test(test_trace_errors__bad_version),
		cmocka_unit_test(test_trace_errors__unknown_op),
		cmocka_unit_test(test_trace_errors__unknown_field),
		cmocka_unit_test(test_trace_errors__missing_field),
		cmocka_unit_test(test_trace_errors__wrong_types),
		cmocka_unit_test(test_trace_errors__numbers_out_of_range),
		cmocka_unit_test(test_trace_errors__bad_number_strings),
		cmocka_unit_test(test_trace_errors__bad_prot_kind_advice),
		cmocka_unit_test(test_trace_errors__repeat_bad_step_keys),
		cmocka_unit_test(test_trace_errors__repeat_nesting_limit),
		cmocka_unit_test(test_trace_errors__repeat_step_out_of_range),
		cmocka_unit_test(test_trace_errors__call_error_in_repeat),
		cmocka_unit_test(test_trace_errors__unaligned_range),
		cmocka_unit_test(test_trace_errors__overflowing_range),
		cmocka_unit_test(test_trace_errors__range_past_top_of_user_space),
		cmocka_unit_test(test_trace_errors__access_above_user_space_is_sigsegv),
		cmocka_unit_test(test_trace_errors__unknown_task),
		cmocka_unit_test(test_trace_errors__task_not_running),
		cmocka_unit_test(test_trace_errors__duplicate_task_id),
		cmocka_unit_test(test_trace_errors__cpu_out_of_range),
		cmocka_unit_test(test_trace_errors__cpu_busy_in_walk),
		cmocka_unit_test(test_trace_errors__mmap_over_existing_mapping),
		cmocka_unit_test(test_trace_errors__mmap_bad_arguments),
		cmocka_unit_test(test_trace_errors__hugetlb_misalignment),
		cmocka_unit_test(test_trace_errors__expect),
		cmocka_unit_test(test_trace_errors__unexpected_syscall_failure),
		cmocka_unit_test(test_trace_errors__lru_add_drain_cpu),
		cmocka_unit_test(test_trace_errors__trace_ends_inside_walk),
		cmocka_unit_test(test_trace_errors__munmap_beside_rcu_reader),
		cmocka_unit_test(test_trace_errors__exec_range_names_segment_field),
		cmocka_unit_test(test_trace_errors__exec_arg_pages),
		cmocka_unit_test(test_trace_errors__machine_section),
		cmocka_unit_test(test_trace_errors__config_add),
		cmocka_unit_test(test_trace_errors__api_messages),
		cmocka_unit_test(test_trace_errors__load_file),
		cmocka_unit_test(test_trace_errors__cli_exit_statuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
