/*
 * The recorder (`ptsim record`) on real programs: tests/record_prog.c is
 * recorded on this machine and the trace file checked line by line, and the
 * error paths (a missing command, not root, tracefs busy or missing, a
 * program killed by a signal, 1,000 children, a --duration limit) give a
 * clear message and either a complete trace or no file at all.
 *
 * Needs root and tracefs (CI has both).  Without them every test is skipped
 * and the output says "skipped: <reason>", which CTest reports as SKIPPED
 * (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt), never as a pass.
 *
 * These are the only tests that depend on the host kernel: the figures
 * checked are the structure of the recording (which ops, which tasks), not
 * the kernel's numbers.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>
#include <zstd.h>

#include "support/helpers.h"
#include "support/figures.h"
#include "record/sysinfo.h"

#ifndef PTSIM_CLI
#error "PTSIM_CLI (path of the ptsim binary) must be defined by tests/CMakeLists.txt"
#endif
#ifndef RECORD_PROG
#error "RECORD_PROG (path of tests/record_prog) must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

/* Why the recorder cannot run here, or NULL (set once in main()). */
struct env {
	const char *skip;
	char dir[512];     /* a fresh directory for this run's files */
};

/* ---- running the command ---- */

/*
 * Run ptsim with @args (NULL-terminated), stderr to @errfile; optionally as
 * user @uid.  Return: the exit status, or -1 if it did not exit normally.
 */
static int run_ptsim(const char *const *args, const char *errfile, uid_t uid)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		if (uid && (setgid(uid) || setuid(uid)))
			_exit(126);
		const char *argv[64];
		size_t n = 0;
		argv[n++] = PTSIM_CLI;
		for (; args[n - 1] && n < 63; n++)
			argv[n] = args[n - 1];
		argv[n] = NULL;
		execv(PTSIM_CLI, (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

/* The trace's text, decompressed by content (gzip or zstd magic). */
static char *read_trace(const char *path)
{
	size_t n;
	char *raw = slurp(path, &n);
	if (!raw)
		return NULL;
	if (n >= 4 && (unsigned char)raw[0] == 0x28 && (unsigned char)raw[1] == 0xb5) {
		size_t cap = 1 << 20, len = 0;
		char *out = malloc(cap + 1);
		ZSTD_DStream *z = ZSTD_createDStream();
		ZSTD_inBuffer in = { raw, n, 0 };
		while (in.pos < in.size) {
			if (len + (1 << 16) > cap) {
				cap *= 2;
				out = realloc(out, cap + 1);
			}
			ZSTD_outBuffer ob = { out + len, cap - len, 0 };
			size_t r = ZSTD_decompressStream(z, &ob, &in);
			assert_false(ZSTD_isError(r));
			len += ob.pos;
		}
		ZSTD_freeDStream(z);
		out[len] = 0;
		free(raw);
		return out;
	}
	if (n >= 2 && (unsigned char)raw[0] == 0x1f && (unsigned char)raw[1] == 0x8b) {
		free(raw);
		gzFile g = gzopen(path, "rb");
		size_t cap = 1 << 20, len = 0;
		char *out = malloc(cap + 1);
		int got;
		while ((got = gzread(g, out + len, (unsigned int)(cap - len))) > 0) {
			len += (size_t)got;
			if (len == cap) {
				cap *= 2;
				out = realloc(out, cap + 1);
			}
		}
		gzclose(g);
		out[len] = 0;
		return out;
	}
	return raw;
}

/* ---- what a recording holds ---- */

struct rec_file {
	cJSON *header, *trailer;
	cJSON **ev;
	size_t nr;
};

static void rec_free(struct rec_file *r)
{
	cJSON_Delete(r->header);
	cJSON_Delete(r->trailer);
	for (size_t i = 0; i < r->nr; i++)
		cJSON_Delete(r->ev[i]);
	free(r->ev);
}

/* Parse @path: header, events, trailer, every line one JSON object. */
static void load(const char *path, struct rec_file *r)
{
	char *text = read_trace(path);
	size_t cap = 0, line = 0;

	memset(r, 0, sizeof(*r));
	if (!text)
		fail_msg("cannot read %s", path);
	for (char *s = text, *nl; *s; s = nl + 1) {
		nl = strchr(s, '\n');
		if (!nl)
			fail_msg("%s: line %zu has no newline (a half-written file?)", path, line + 1);
		*nl = 0;
		line++;
		cJSON *o = cJSON_Parse(s);
		if (!o || !cJSON_IsObject(o))
			fail_msg("%s: line %zu is not a JSON object: %.120s", path, line, s);
		if (line == 1) {
			r->header = o;
			continue;
		}
		if (r->trailer)
			fail_msg("%s: line %zu follows the trailer", path, line);
		if (cJSON_GetObjectItem(o, "recorded")) {
			r->trailer = o;
			continue;
		}
		if (r->nr == cap) {
			cap = cap ? cap * 2 : 1024;
			r->ev = realloc(r->ev, cap * sizeof(*r->ev));
		}
		r->ev[r->nr++] = o;
	}
	free(text);
	assert_non_null(r->header);
	if (!r->trailer)
		fail_msg("%s: no trailer line {\"recorded\": ...}", path);
	assert_int_equal(cJSON_GetObjectItem(r->header, "ptsim_trace")->valueint, 2);
}

static const char *op_of(const cJSON *e)
{
	const cJSON *o = cJSON_GetObjectItem(e, "op");
	return cJSON_IsString(o) ? o->valuestring : "";
}

static size_t count_ops(const struct rec_file *r, const char *op)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nr; i++)
		n += !strcmp(op_of(r->ev[i]), op);
	return n;
}

static size_t count_with(const struct rec_file *r, const char *op, const char *key, const char *val)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nr; i++) {
		const cJSON *v = cJSON_GetObjectItem(r->ev[i], key);
		n += !strcmp(op_of(r->ev[i]), op) && cJSON_IsString(v) && !strcmp(v->valuestring, val);
	}
	return n;
}

static const cJSON *rec(const struct rec_file *r)
{
	return cJSON_GetObjectItem(r->trailer, "recorded");
}

static int num_at(const cJSON *o, const char *path)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		o = cJSON_GetObjectItem(o, k);
		if (!o)
			fail_msg("no %s in the trailer", path);
	}
	assert_true(cJSON_IsNumber(o));
	return o->valueint;
}

/*
 * The ops are a consistent story: every task is created (spawn, fork,
 * thread) before it acts, acts only while alive, and every address-space op
 * names a task that exists.
 */
static void check_tasks(const struct rec_file *r)
{
	char alive[100000];
	memset(alive, 0, sizeof(alive));
	for (size_t i = 0; i < r->nr; i++) {
		const cJSON *e = r->ev[i];
		const char *op = op_of(e);
		const cJSON *task = cJSON_GetObjectItem(e, "task");
		int t = cJSON_IsNumber(task) ? task->valueint : -1;
		if (!strcmp(op, "advance") || !strcmp(op, "mark") || !strcmp(op, "cache") ||
		    !strcmp(op, "schedule_begin") || !strcmp(op, "schedule_end") || !strcmp(op, "lru_add_drain_cpu") ||
		    (!strcmp(op, "run") && cJSON_GetObjectItem(e, "other")))
			continue;
		if (t < 0 || t >= (int)sizeof(alive))
			fail_msg("event %zu (%s): no task", i, op);
		if (!strcmp(op, "spawn")) {
			assert_int_equal(alive[t], 0);
			alive[t] = 1;
			continue;
		}
		if (!alive[t])
			fail_msg("event %zu (%s): task %d is not alive", i, op, t);
		if (!strcmp(op, "fork") || !strcmp(op, "thread")) {
			int c = cJSON_GetObjectItem(e, !strcmp(op, "fork") ? "child" : "thread")->valueint;
			assert_true(c > 0 && c < (int)sizeof(alive));
			if (alive[c])
				fail_msg("event %zu (%s): task %d exists already", i, op, c);
			alive[c] = 1;
		} else if (!strcmp(op, "exit")) {
			alive[t] = 0;
		}
	}
}

static void path_in(const struct env *env, char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", env->dir, name);
}

/* No temporary file left behind in the test directory. */
static void assert_no_tmp(const struct env *env)
{
	DIR *d = opendir(env->dir);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp."))
			fail_msg("a temporary file was left behind: %s", de->d_name);
	closedir(d);
}

#define NEED_ENV(state)                                       \
	const struct env *env = *(state);                     \
	do {                                                  \
		if (env->skip) {                              \
			skip();                               \
		}                                             \
	} while (0)

/* ---- the tests ---- */

static void test_record__work_structure(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	struct rec_file r;
	path_in(env, out, sizeof(out), "work.jsonl");
	path_in(env, errf, sizeof(errf), "work.err");
	const char *args[] = { "record", "-o", out, "--", RECORD_PROG, "work", NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	load(out, &r);

	const cJSON *m = cJSON_GetObjectItem(r.header, "machine");
	assert_string_equal(cJSON_GetObjectItem(m, "arch")->valuestring, "x86_64");
	assert_int_equal(cJSON_GetObjectItem(m, "cpus")->valueint, (int)sysconf(_SC_NPROCESSORS_CONF));
	assert_true(cJSON_IsString(cJSON_GetObjectItem(m, "preset")));
	check_tasks(&r);
	/* The program: one process forks another; each starts one thread; all four exit. */
	assert_int_equal(count_ops(&r, "spawn"), 1);
	assert_int_equal(count_ops(&r, "exec"), 1);
	assert_int_equal(count_ops(&r, "fork"), 1);
	assert_int_equal(count_ops(&r, "thread"), 2);
	assert_int_equal(count_ops(&r, "exit"), 4);
	/*
	 * Per process and round (peer spinning, then sleeping), 6 regions: each
	 * mprotect'ed twice, DONTNEED'd once, unmapped (5 of them with a hole
	 * first, after which an mprotect fails with ENOMEM).
	 */
	/* (glibc adds a DONTNEED of each exiting thread's stack) */
	assert_true(count_with(&r, "madvise", "advice", "dontneed") >= 2 * 2 * 6);
	assert_int_equal(count_with(&r, "mprotect", "expect", "ENOMEM"), 2 * 2 * 5);
	assert_true(count_ops(&r, "mprotect") >= 2 * 2 * (6 * 2 + 5));
	assert_true(count_ops(&r, "munmap") >= 2 * 2 * (6 + 5));
	assert_true(count_ops(&r, "touch") > 100);
	assert_true(count_ops(&r, "run") > 0);

	const cJSON *rc = rec(&r);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rc, "complete")));
	assert_int_equal(num_at(rc, "exit_status"), 0);
	assert_int_equal(num_at(rc, "lost_events"), 0);
	const cJSON *procs = cJSON_GetObjectItem(rc, "processes");
	assert_int_equal(cJSON_GetArraySize(procs), 2);
	for (int i = 0; i < 2; i++) {
		const cJSON *p = cJSON_GetArrayItem(procs, i);
		assert_string_equal(cJSON_GetObjectItem(p, "ended")->valuestring, "exit");
		assert_true(num_at(p, "at_end.vmpte_kb") > 0);
		assert_true(num_at(p, "at_end.rss_kb.anon") > 0);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "tasks")), 2);
	}
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rc, "cpus")), (int)sysconf(_SC_NPROCESSORS_CONF));
	/* While the peer spins on the other CPU, each op's flush is a shootdown there. */
	assert_true(num_at(rc, "totals.ipi.sent.tlb_flush") >= 4);
	assert_int_equal(num_at(rc, "totals.ipi.sent.tlb_flush"), num_at(rc, "totals.ipi.received.tlb_flush"));
	assert_true(num_at(rc, "totals.tlb.local.partial") > 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rc, "warnings")), 0);
	assert_no_tmp(env);
	rec_free(&r);
}

static void test_record__compressed_output(void **state)
{
	NEED_ENV(state);
	static const char *const names[] = { "exit.jsonl.zst", "exit.jsonl.gz" };
	static const unsigned char magic[][2] = { { 0x28, 0xb5 }, { 0x1f, 0x8b } };
	for (int i = 0; i < 2; i++) {
		char out[600], errf[600];
		struct rec_file r;
		path_in(env, out, sizeof(out), names[i]);
		path_in(env, errf, sizeof(errf), "exit.err");
		const char *args[] = { "record", "--quiet", "-o", out, RECORD_PROG, "exit", NULL };
		assert_int_equal(run_ptsim(args, errf, 0), 0);
		size_t n;
		char *raw = slurp(out, &n);
		assert_non_null(raw);
		assert_true(n > 2 && (unsigned char)raw[0] == magic[i][0] && (unsigned char)raw[1] == magic[i][1]);
		free(raw);
		load(out, &r);
		/* A program that exits at once: it starts, execs, exits. */
		assert_int_equal(count_ops(&r, "spawn"), 1);
		assert_int_equal(count_ops(&r, "exec"), 1);
		assert_int_equal(count_ops(&r, "exit"), 1);
		assert_int_equal(count_ops(&r, "fork"), 0);
		check_tasks(&r);
		rec_free(&r);
	}
}

/* `ptsim run @path` replays the recording to its end (exit status 0: no error, no violation). */
static void replays(const struct env *env, const char *path)
{
	char errf[600];
	path_in(env, errf, sizeof(errf), "replay.out");
	const char *args[] = { "run", path, NULL };
	int st = run_ptsim(args, errf, 0);
	if (st != 0) {
		size_t n;
		char *msg = slurp(errf, &n);
		fail_msg("ptsim run %s: status %d: %s", path, st, msg ? msg : "");
	}
}

static void test_record__missing_command(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	path_in(env, out, sizeof(out), "missing.jsonl");
	path_in(env, errf, sizeof(errf), "missing.err");
	const char *args[] = { "record", "-o", out, "--", "ptsim-no-such-command-xyz", NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 2);
	size_t n;
	char *msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "cannot run 'ptsim-no-such-command-xyz': command not found"));
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
	assert_no_tmp(env);

	/* A file that exists but cannot be executed: the exec's own error. */
	char plain[600];
	path_in(env, plain, sizeof(plain), "not-a-program.txt");
	FILE *f = fopen(plain, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(chmod(plain, 0644), 0);
	const char *args2[] = { "record", "-o", out, "--", plain, NULL };
	assert_int_equal(run_ptsim(args2, errf, 0), 2);
	msg = slurp(errf, &n);
	if (!strstr(msg, "': Permission denied"))
		fail_msg("no 'Permission denied' in: %s", msg);
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
	assert_no_tmp(env);
}

/*
 * A command that execs twice more (sh execs env with a 9,000-byte argument,
 * env the program with it as its environment): each later exec's stack says
 * the pages setup_arg_pages() moved down (stack.arg_pages = the stack's
 * length at the exec stop less stack_expand's 128 KiB; at least 3 pages
 * here); the first exec, made before tracing started, says none.
 */
/* --recorder-cpu: a CPU the machine lacks is refused before anything runs; a good one records. */
static void test_record__recorder_cpu(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	size_t n;
	path_in(env, out, sizeof(out), "pinned.jsonl");
	path_in(env, errf, sizeof(errf), "pinned.err");
	const char *bad[] = { "record", "--recorder-cpu", "8191", "-o", out, RECORD_PROG, "exit", NULL };
	assert_int_equal(run_ptsim(bad, errf, 0), 2);
	char *msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "--recorder-cpu 8191: no such CPU (this machine has CPUs 0 to "));
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
	const char *word[] = { "record", "--recorder-cpu", "first", "-o", out, RECORD_PROG, "exit", NULL };
	assert_int_equal(run_ptsim(word, errf, 0), 2);
	msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "--recorder-cpu first: expected a CPU number"));
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
	const char *good[] = { "record", "--quiet", "--recorder-cpu", "0", "-o", out, RECORD_PROG, "exit", NULL };
	assert_int_equal(run_ptsim(good, errf, 0), 0);
	struct rec_file r;
	load(out, &r);
	assert_true(r.nr > 0);
	rec_free(&r);
	assert_no_tmp(env);
}

/* PTSIM_RECORD_DUMP=FILE: every kernel event as a line of text, of every kind (docs/record.md). */
static void test_record__event_dump(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600], dump[600];
	size_t n;
	path_in(env, out, sizeof(out), "dumped.jsonl");
	path_in(env, errf, sizeof(errf), "dumped.err");
	path_in(env, dump, sizeof(dump), "dump.txt");
	setenv("PTSIM_RECORD_DUMP", dump, 1);
	const char *args[] = { "record", "--quiet", "-o", out, RECORD_PROG, "forks", "20", NULL };
	int rc = run_ptsim(args, errf, 0);
	unsetenv("PTSIM_RECORD_DUMP");
	assert_int_equal(rc, 0);
	char *text = slurp(dump, &n);
	assert_non_null(text);
	/* "TS cpuN pidP KIND ...": the forks, their switches and faults, the machine's LRU batches */
	assert_non_null(strstr(text, " fork "));
	assert_non_null(strstr(text, " switch "));
	assert_non_null(strstr(text, " fault "));
	assert_non_null(strstr(text, " lru_add"));
	for (char *line = text; *line; line = strchr(line, '\n') + 1) {
		unsigned long long ts;
		unsigned int cpu;
		int pid;
		char kind[16];
		if (sscanf(line, "%llu cpu%u pid%d %15s", &ts, &cpu, &pid, kind) != 4)
			fail_msg("a dump line that does not parse: %.80s", line);
		if (!strchr(line, '\n'))
			break;
	}
	free(text);
	unlink(dump);
	unlink(out);
	assert_no_tmp(env);
}

static void test_record__exec_moves_the_stack(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600], cmd[1200];
	struct rec_file r;
	path_in(env, out, sizeof(out), "exec.jsonl");
	path_in(env, errf, sizeof(errf), "exec.err");
	snprintf(cmd, sizeof(cmd), "exec env -i A=$(printf '%%09000d' 0) '%s' exit", RECORD_PROG);
	const char *args[] = { "record", "-o", out, "--", "/bin/sh", "-c", cmd, NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	load(out, &r);
	unsigned int execs = 0;
	for (size_t i = 0; i < r.nr; i++) {
		if (strcmp(op_of(r.ev[i]), "exec"))
			continue;
		const cJSON *st = cJSON_GetObjectItem(r.ev[i], "stack");
		const cJSON *pages = cJSON_GetObjectItem(st, "arg_pages");
		double len = cJSON_GetObjectItem(st, "len")->valuedouble;
		if (execs++ == 0) {
			if (pages)
				fail_msg("the command's first exec has stack.arg_pages %g", pages->valuedouble);
			continue;
		}
		if (!cJSON_IsNumber(pages))
			fail_msg("exec %u (stack len %g) has no stack.arg_pages", execs, len);
		if (pages->valuedouble != (len - 131072) / 4096 || pages->valuedouble < 3)
			fail_msg("exec %u: stack.arg_pages %g, stack len %g", execs, pages->valuedouble, len);
	}
	assert_int_equal(execs, 3);   /* sh, env, the program */
	rec_free(&r);
	replays(env, out);
}

/* A program that exits at once: a complete trace (spawn, exec, exit) that replays. */
static void test_record__exits_at_once(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	struct rec_file r;
	path_in(env, out, sizeof(out), "exit.jsonl");
	path_in(env, errf, sizeof(errf), "exit.err");
	const char *args[] = { "record", "-o", out, RECORD_PROG, "exit", NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	size_t n;
	char *msg = slurp(errf, &n);
	if (!strstr(msg, "exited with status 0"))
		fail_msg("no 'exited with status 0' in: %s", msg);
	free(msg);
	load(out, &r);
	check_tasks(&r);
	assert_int_equal(count_ops(&r, "spawn"), 1);
	assert_int_equal(count_ops(&r, "exec"), 1);
	assert_int_equal(count_ops(&r, "exit"), 1);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rec(&r), "complete")));
	assert_int_equal(num_at(rec(&r), "exit_status"), 0);
	const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(rec(&r), "processes"), 0);
	assert_string_equal(cJSON_GetObjectItem(p, "ended")->valuestring, "exit");
	assert_true(num_at(p, "at_end.vmpte_kb") > 0);
	rec_free(&r);
	replays(env, out);
}

static void test_record__killed_by_signal(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	struct rec_file r;
	path_in(env, out, sizeof(out), "kill.jsonl");
	path_in(env, errf, sizeof(errf), "kill.err");
	const char *args[] = { "record", "-o", out, RECORD_PROG, "kill", NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	size_t n;
	char *msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "was killed by signal 9"));
	free(msg);
	load(out, &r);
	check_tasks(&r);
	assert_int_equal(count_ops(&r, "exit"), 1);
	assert_int_equal(num_at(rec(&r), "killed_by_signal"), 9);
	/* Even a SIGKILL'd task stops at PTRACE_EVENT_EXIT: its figures are there. */
	const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(rec(&r), "processes"), 0);
	assert_true(num_at(p, "at_end.rss_kb.anon") > 0);
	rec_free(&r);
	replays(env, out);
}

static void test_record__thousand_children(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	struct rec_file r;
	path_in(env, out, sizeof(out), "forks.jsonl.zst");
	path_in(env, errf, sizeof(errf), "forks.err");
	const char *args[] = { "record", "-o", out, RECORD_PROG, "forks", "1000", NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	load(out, &r);
	check_tasks(&r);
	assert_int_equal(count_ops(&r, "fork"), 1000);
	assert_int_equal(count_ops(&r, "exit"), 1001);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rec(&r), "processes")), 1001);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rec(&r), "complete")));
	rec_free(&r);
	replays(env, out);
}

static void test_record__duration_limit(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	struct rec_file r;
	struct timespec t0, t1;
	path_in(env, out, sizeof(out), "sleep.jsonl");
	path_in(env, errf, sizeof(errf), "sleep.err");
	const char *args[] = { "record", "--duration", "1", "-o", out, RECORD_PROG, "sleep", "100", NULL };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 20);
	load(out, &r);
	check_tasks(&r);
	/* Stopped, not exited: the process is alive at the end of the trace. */
	assert_int_equal(count_ops(&r, "exit"), 0);
	assert_string_equal(cJSON_GetObjectItem(rec(&r), "stopped_by")->valuestring, "duration");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(rec(&r), "complete")));
	const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(rec(&r), "processes"), 0);
	assert_string_equal(cJSON_GetObjectItem(p, "ended")->valuestring, "running");
	assert_true(num_at(p, "at_end.vmpte_kb") > 0);   /* read while it was frozen */
	rec_free(&r);
	replays(env, out);
}

/* Ctrl-C (SIGINT) stops the recording as --duration does: a valid partial trace, the program killed. */
static void test_record__interrupted(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	struct rec_file r;
	path_in(env, out, sizeof(out), "int.jsonl");
	path_in(env, errf, sizeof(errf), "int.err");
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		int fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(PTSIM_CLI, PTSIM_CLI, "record", "-o", out, RECORD_PROG, "sleep", "100", (char *)NULL);
		_exit(127);
	}
	sleep(2);   /* the recorder's start-up takes about 0.4 s */
	assert_int_equal(kill(p, SIGINT), 0);
	int st;
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	size_t n;
	char *msg = slurp(errf, &n);
	if (!strstr(msg, "was stopped (signal) and killed"))
		fail_msg("no 'was stopped (signal) and killed' in: %s", msg);
	free(msg);
	load(out, &r);
	check_tasks(&r);
	assert_string_equal(cJSON_GetObjectItem(rec(&r), "stopped_by")->valuestring, "signal");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(rec(&r), "complete")));
	rec_free(&r);
	replays(env, out);
	assert_no_tmp(env);
}

static void test_record__tracefs_busy(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600], inst[256];
	path_in(env, out, sizeof(out), "busy.jsonl");
	path_in(env, errf, sizeof(errf), "busy.err");
	snprintf(inst, sizeof(inst), "/sys/kernel/tracing/instances/ptsim_test_busy_%d_tasks", (int)getpid());
	assert_int_equal(mkdir(inst, 0755), 0);
	char name[64];
	snprintf(name, sizeof(name), "ptsim_test_busy_%d", (int)getpid());
	const char *args[] = { "record", "--instance", name, "-o", out, RECORD_PROG, "exit", NULL };
	int st = run_ptsim(args, errf, 0);
	rmdir(inst);
	assert_int_equal(st, 2);
	size_t n;
	char *msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "tracefs busy"));
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
	assert_no_tmp(env);
	/* The recorder removed nothing of someone else's, and left nothing of its own. */
	char own[256];
	snprintf(own, sizeof(own), "/sys/kernel/tracing/instances/ptsim_test_busy_%d_cpus", (int)getpid());
	assert_int_equal(access(own, F_OK), -1);
}

static void test_record__tracefs_missing(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	path_in(env, out, sizeof(out), "notracefs.jsonl");
	path_in(env, errf, sizeof(errf), "notracefs.err");
	const char *args[] = { "record", "--tracefs", "/nonexistent/tracing", "-o", out, RECORD_PROG, "exit", NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 2);
	size_t n;
	char *msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "tracefs: /nonexistent/tracing is not a directory"));
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
	assert_no_tmp(env);
}

static void test_record__not_root(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600];
	path_in(env, out, sizeof(out), "notroot.jsonl");
	path_in(env, errf, sizeof(errf), "notroot.err");
	const char *args[] = { "record", "-o", out, RECORD_PROG, "exit", NULL };
	assert_int_equal(run_ptsim(args, errf, 65534), 2);
	size_t n;
	char *msg = slurp(errf, &n);
	assert_non_null(strstr(msg, "ptsim record needs root"));
	free(msg);
	assert_int_equal(access(out, F_OK), -1);
}

static void test_record__file_mappings(void **state)
{
	NEED_ENV(state);
	char out[600], errf[600], data[600];
	struct rec_file r;
	path_in(env, out, sizeof(out), "file.jsonl");
	path_in(env, errf, sizeof(errf), "file.err");
	path_in(env, data, sizeof(data), "mapped-data.bin");
	FILE *f = fopen(data, "wb");
	assert_non_null(f);
	for (int i = 0; i < 32 * 4096; i++)
		fputc(i & 0xff, f);
	fclose(f);
	const char *args[] = { "record", "-o", out, RECORD_PROG, "file", data, NULL };
	assert_int_equal(run_ptsim(args, errf, 0), 0);
	load(out, &r);
	/* Both mappings of the file name it the same way, with its offset. */
	size_t shared = 0, priv = 0;
	for (size_t i = 0; i < r.nr; i++) {
		const cJSON *e = r.ev[i];
		const cJSON *file = cJSON_GetObjectItem(e, "file");
		if (strcmp(op_of(e), "mmap") || !cJSON_IsString(file) || strcmp(file->valuestring, "mapped-data.bin"))
			continue;
		assert_string_equal(cJSON_GetObjectItem(e, "kind")->valuestring, "file");
		assert_string_equal(cJSON_GetObjectItem(e, "fixed")->valuestring, "noreplace");
		if (cJSON_IsTrue(cJSON_GetObjectItem(e, "shared"))) {
			shared++;
			assert_null(cJSON_GetObjectItem(e, "offset"));
		} else {
			priv++;
			assert_string_equal(cJSON_GetObjectItem(e, "offset")->valuestring, "0x4000");
		}
	}
	assert_int_equal(shared, 1);
	assert_int_equal(priv, 1);
	rec_free(&r);
}

static void test_record__preset_choice(void **state)
{
	char preset[32], why[200];
	(void)state;
	rec_choose_preset("6.18.44-fc-v1045", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "6.18.44");
	rec_choose_preset("6.18.10", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "6.18");
	rec_choose_preset("6.12.40-amd64", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "6.12.35");
	rec_choose_preset("6.13.2", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "6.12.35");
	rec_choose_preset("7.2.0", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "7.1.9");
	rec_choose_preset("7.1.5", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "7.0");
	rec_choose_preset("5.10.0", preset, sizeof(preset), why, sizeof(why));
	assert_string_equal(preset, "6.12");
	assert_non_null(strstr(why, "older than every preset"));
}


/* ---- the replay against the kernel ---- */

struct verdict {
	int exact_misses;     /* VmPTE and RSS figures that differ */
	int mem_out_of_bound;
	int flush_misses;     /* IPI and flush figures that differ */
	int flush_out_of_bound;
	int file_out_of_bound;
	double rss_file_diff;   /* the current process's (its RssFile comes before its VmHWM) */
	int nr_cpus;
	char first[256];
	char oob[1024];   /* the figures out of bounds */
};

static bool path_has(const char *path, const char *part)
{
	return strstr(path, part) != NULL;
}

/*
 * Each figure of compare-real, against the bounds docs/record.md gives for
 * what the trace cannot carry (the kernel's own races).  An exact attempt
 * has every IPI and flush figure equal to the kernel's and its memory
 * figures within theirs; the flush bounds only say how far off an inexact
 * attempt is:
 *  - VmPTE within 8 kB, RssAnon/RssShmem/HugetlbPages within 1% + 16 kB per
 *    process (a fault that raced with another thread's and was not seen as
 *    lost, a thread stack's table);
 *  - IPIs and flushes, no-op and lazy remote flushes included, within 3 or
 *    2% (two threads' faults on one page that the kernel completed in the
 *    other order than they entered, moving a copy-on-write flush; a flush
 *    call that met a CPU in a context switch the recorder could not place:
 *    this kernel's sched_switch out of idle on CPU 1 names a stale prev or is
 *    missing; measured over 44 recordings: at most 4 IPIs of 294);
 *  - remote flushes started (nr_tlb_remote_flush) within 25% + 3: a flush
 *    whose mm_cpumask holds another CPU that gets no IPI (lazy) counts, so a
 *    CPU left in the mask longer or shorter than in the kernel moves every
 *    later flush of that mm (measured over 100 recordings: within 3 in most,
 *    +31 of 308, -26 of 910, +78 of 283, and once, when the kernel sent 3
 *    wrong-CPU flushes the replay did not, +140 of 177);
 *  - RssFile within 25% + 64 kB (the kernel's fault-around maps whole large
 *    page-cache folios; ptsim a 16-page window);
 *  - VmHWM: the RssFile difference within 3 x 31 pages per CPU (the
 *    kernel samples its peak from per-CPU counters without folding them in;
 *    docs/recorded.md, "Peak RSS").
 * Flushing context switches and page faults carry no claim (other
 * processes' ASIDs; TLB hits the recorder cannot see).
 */
static void judge(const char *path, const cJSON *f, void *ctx)
{
	struct verdict *v = ctx;
	double real = cJSON_GetObjectItem(f, "real")->valuedouble, diff = cJSON_GetObjectItem(f, "diff")->valuedouble;
	double ad = diff < 0 ? -diff : diff;
	bool oob;
	if (path_has(path, "switch_flush") || path_has(path, "faults"))
		return;
	if (path_has(path, "rss_file")) {
		v->rss_file_diff = diff;
		if (ad > real / 4 + 64) {
			v->file_out_of_bound++;
			snprintf(v->oob + strlen(v->oob), sizeof(v->oob) - strlen(v->oob), " %s: real %.0f, ptsim %.0f;",
				 path, real, real + diff);
		}
		return;
	}
	if (!ad)
		return;
	if (!v->first[0])
		snprintf(v->first, sizeof(v->first), "%s: real %.0f, ptsim %.0f", path, real, real + diff);
	if (path_has(path, "vmpte")) {
		v->exact_misses++;
		oob = ad > 8;
		v->mem_out_of_bound += oob;
	} else if (path_has(path, "vmhwm")) {
		v->exact_misses++;
		oob = fabs(diff - v->rss_file_diff) > 3 * 31 * 4 * v->nr_cpus;
		v->mem_out_of_bound += oob;
	} else if (path_has(path, "_kb_")) {
		v->exact_misses++;
		oob = ad > real / 100 + 16;
		v->mem_out_of_bound += oob;
	} else if (path_has(path, "nr_tlb_remote_flush")) {
		v->flush_misses++;
		oob = ad > real / 4 + 3;
		v->flush_out_of_bound += oob;
	} else {
		v->flush_misses++;
		oob = ad > 3 && ad > real * 0.02;
		v->flush_out_of_bound += oob;
	}
	if (oob && strlen(v->oob) < sizeof(v->oob) - 100)
		snprintf(v->oob + strlen(v->oob), sizeof(v->oob) - strlen(v->oob), " %s: real %.0f, ptsim %.0f;", path,
			 real, real + diff);
}

/* Append "path: real R, ptsim P;" of each figure that differs to @ctx (4096 bytes). */
static void list_diff(const char *path, const cJSON *f, void *ctx)
{
	char *buf = ctx;
	double real = cJSON_GetObjectItem(f, "real")->valuedouble, diff = cJSON_GetObjectItem(f, "diff")->valuedouble;
	size_t len = strlen(buf);
	if (diff && !path_has(path, "switch_flush") && !path_has(path, "faults") && len < 4096 - 200)
		snprintf(buf + len, 4096 - len, " %s: real %.0f, ptsim %.0f;", path, real, real + diff);
}

/*
 * How many recordings the test may take to find an exact one.  The workload
 * (record_prog work, the recorder on CPU 0) is built so that every flush
 * finds the other CPU in a state the trace fixes (docs/record.md); measured
 * on the 2-CPU development machine (Linux 6.18.44): 18 of 20 exact when
 * quiet, 9 of 10 with a busy loop on each CPU, 10 of 10 with ptsim built
 * with ASan + UBSan (CI's sanitizer runs).  What is left
 * is the kernel's timing, which no trace carries: a process of the machine
 * waking on the idle CPU as a flush is sent, say.  Misses come
 * independently: at 25% exact, 60 attempts all miss in 1 run in 30 million
 * (0.75^60 = 3.2e-8), and at 10% in 2 runs in 1,000 (0.9^60 = 1.8e-3).  CI
 * runs this test in four builds on machines nobody measured, so the margin
 * stays.  An attempt takes about 1 s (2 s under ASan): usually one attempt,
 * a minute or two at worst.
 */
#define REPLAY_ATTEMPTS 60

static void test_record__replay_matches_the_kernel(void **state)
{
	NEED_ENV(state);
	struct verdict v, best;
	int best_attempt = 0;
	char best_diffs[4096] = "";
	for (int attempt = 1; attempt <= REPLAY_ATTEMPTS; attempt++) {
		char out[600], errf[600], cmp[600];
		path_in(env, out, sizeof(out), "acceptance.jsonl.zst");
		path_in(env, errf, sizeof(errf), "acceptance.err");
		path_in(env, cmp, sizeof(cmp), "acceptance.json");
		const char *args[] = { "record", "--quiet", "--recorder-cpu", "0", "-o", out, RECORD_PROG, "work", NULL };
		size_t n;
		if (run_ptsim(args, errf, 0)) {
			char *msg = slurp(errf, &n);
			fail_msg("attempt %d: ptsim record failed: %s", attempt, msg ? msg : "");
		}
		const char *cargs[] = { "compare-real", out, "--json", NULL };
		if (run_ptsim(cargs, cmp, 0)) {
			char *msg = slurp(cmp, &n);
			fail_msg("attempt %d: ptsim compare-real failed: %s", attempt, msg ? msg : "");
		}
		char *text = slurp(cmp, &n);
		cJSON *j = cJSON_Parse(text);
		if (!j)
			fail_msg("compare-real printed no JSON: %s", text);
		free(text);
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "processes")), 2);
		char path[256] = "";
		memset(&v, 0, sizeof(v));
		v.nr_cpus = cJSON_GetObjectItem(j, "nr_cpus") ? cJSON_GetObjectItem(j, "nr_cpus")->valueint : 1;
		t_each_figure(j, path, sizeof(path), judge, &v);
		print_message("attempt %d: %d memory and %d IPI/flush figures differ (%d and %d out of bounds, RssFile %d)"
			      "%s%s\n", attempt, v.exact_misses, v.flush_misses, v.mem_out_of_bound, v.flush_out_of_bound,
			      v.file_out_of_bound, v.first[0] ? "; first: " : "", v.first);
		int oob = v.mem_out_of_bound + v.file_out_of_bound + v.flush_out_of_bound;
		int best_oob = best_attempt ? best.mem_out_of_bound + best.file_out_of_bound + best.flush_out_of_bound : 0;
		if (!best_attempt || v.flush_misses < best.flush_misses ||
		    (v.flush_misses == best.flush_misses && oob < best_oob)) {
			best = v;
			best_attempt = attempt;
			best_diffs[0] = 0;
			path[0] = 0;
			t_each_figure(j, path, sizeof(path), list_diff, best_diffs);
		}
		cJSON_Delete(j);
		if (!v.flush_misses && !v.mem_out_of_bound && !v.file_out_of_bound)
			break;   /* every IPI and flush figure exact */
	}
	/*
	 * An exact attempt: every IPI and flush figure equals the kernel's,
	 * memory figures within their bounds (above).  Without one in
	 * REPLAY_ATTEMPTS, the closest (fewest IPI/flush figures that differ,
	 * then fewest out of bounds) is printed, every differing figure.
	 */
	if (best.flush_misses || best.mem_out_of_bound || best.file_out_of_bound) {
		print_message("closest attempt %d: every figure that differs:%s\n", best_attempt, best_diffs);
		fail_msg("no exact recording in %d attempts: the closest, attempt %d, has %d IPI/flush figures that differ"
			 " and %d figures out of bounds%s%s", REPLAY_ATTEMPTS, best_attempt, best.flush_misses,
			 best.mem_out_of_bound + best.file_out_of_bound + best.flush_out_of_bound,
			 best.oob[0] ? ":" : "", best.oob);
	}
	print_message("attempt %d: every IPI and flush figure equals the kernel's\n", best_attempt);
}

/* ---- set-up: is recording possible here? ---- */

static const char *why_not(void)
{
	struct stat st;
	if (geteuid() != 0)
		return "not root (ptsim record needs root for tracefs and ptrace)";
	if (stat("/sys/kernel/tracing/instances", &st))
		mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL);
	if (stat("/sys/kernel/tracing/instances", &st))
		return "tracefs is not available at /sys/kernel/tracing";
	if (access(RECORD_PROG, X_OK))
		return "tests/record_prog was not built";
	return NULL;
}

int main(void)
{
	static struct env env;
	env.skip = why_not();
	if (env.skip) {
		printf("skipped: %s\n", env.skip);
	} else {
		snprintf(env.dir, sizeof(env.dir), "%s/record_test_%d", PTSIM_TEST_TMPDIR, (int)getpid());
		mkdir(env.dir, 0777);
		chmod(env.dir, 0777);
	}
	void *st = &env;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_record__preset_choice, st),
		cmocka_unit_test_prestate(test_record__work_structure, st),
		cmocka_unit_test_prestate(test_record__replay_matches_the_kernel, st),
		cmocka_unit_test_prestate(test_record__compressed_output, st),
		cmocka_unit_test_prestate(test_record__missing_command, st),
		cmocka_unit_test_prestate(test_record__recorder_cpu, st),
		cmocka_unit_test_prestate(test_record__event_dump, st),
		cmocka_unit_test_prestate(test_record__exec_moves_the_stack, st),
		cmocka_unit_test_prestate(test_record__exits_at_once, st),
		cmocka_unit_test_prestate(test_record__killed_by_signal, st),
		cmocka_unit_test_prestate(test_record__thousand_children, st),
		cmocka_unit_test_prestate(test_record__duration_limit, st),
		cmocka_unit_test_prestate(test_record__interrupted, st),
		cmocka_unit_test_prestate(test_record__tracefs_busy, st),
		cmocka_unit_test_prestate(test_record__tracefs_missing, st),
		cmocka_unit_test_prestate(test_record__not_root, st),
		cmocka_unit_test_prestate(test_record__file_mappings, st),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (!env.skip && !failed) {
		char cmd[700];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env.dir);
		if (system(cmd)) {
		}
	}
	return failed;
}
