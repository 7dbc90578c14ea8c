/*
 * Golden outputs: `ptsim run TRACE --json` of every bundled trace under
 * traces/ must be byte-identical to tests/golden/<trace path>.out, and the
 * exit status must say what the output says (3 with violations, else 0).
 *
 * The output is part of ptsim's contract: a change to any number is made on
 * purpose, by scripts/update_golden.sh, in a commit of its own that explains
 * it.  A golden file without its trace, or a trace without a golden file, is
 * a failure too, so neither can be forgotten.
 *
 * Violation records carry a backtrace of the simulated kernel path, which
 * depends on what the compiler inlined.  The reference build (the README's
 * test command: RelWithDebInfo, no sanitizer, PTSIM_GOLDEN_EXACT) compares
 * every byte; other builds (sanitizers, PTSIM_DEBUG) compare everything but
 * the text of the "backtrace" fields.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "support/helpers.h"
#include "support/cli.h"

#ifndef PTSIM_CLI
#error "PTSIM_CLI (path of the ptsim binary) must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_GOLDEN_DIR
#error "PTSIM_GOLDEN_DIR must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_GOLDEN_EXACT
#define PTSIM_GOLDEN_EXACT 0
#endif

struct golden_case {
	char *rel; /* path below traces/, e.g. "oracle/w1_a.json" */
};

static struct golden_case *cases;
static size_t nr_cases, cap_cases;

static bool is_trace(const char *name)
{
	static const char *const ext[] = { ".json", ".jsonl", ".jsonl.gz", ".jsonl.zst" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t e = strlen(ext[i]);
		if (n > e && !strcmp(name + n - e, ext[i]))
			return true;
	}
	return false;
}

/* Collect the trace files below traces/@rel (sorted by the caller). */
static void collect(const char *root, const char *rel, bool (*want)(const char *))
{
	char path[4096];
	DIR *d;
	struct dirent *de;

	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel) >= sizeof(path))
		fail_msg("path too long: %s/%s", root, rel);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char sub[4096], full[8192];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= sizeof(sub) ||
		    (size_t)snprintf(full, sizeof(full), "%s/%s", root, sub) >= sizeof(full))
			fail_msg("path too long: %s/%s/%s", root, rel, de->d_name);
		if (stat(full, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			collect(root, sub, want);
		} else if (want(de->d_name)) {
			if (nr_cases == cap_cases) {
				cap_cases = cap_cases ? 2 * cap_cases : 64;
				cases = realloc(cases, cap_cases * sizeof(*cases));
				assert_non_null(cases);
			}
			cases[nr_cases++].rel = strdup(sub);
		}
	}
	closedir(d);
}

/* Empty every "backtrace":"..." value in place (for builds that inline differently). */
static void strip_backtraces(char *s)
{
	static const char key[] = "\"backtrace\":\"";
	char *w = s, *r = s;

	while (*r) {
		if (!strncmp(r, key, sizeof(key) - 1)) {
			memmove(w, r, sizeof(key) - 1);
			w += sizeof(key) - 1;
			r += sizeof(key) - 1;
			while (*r && *r != '"')
				r += (*r == '\\' && r[1]) ? 2 : 1;
			continue;
		}
		*w++ = *r++;
	}
	*w = 0;
}

static void report_first_difference(const char *rel, const char *want, const char *got)
{
	size_t i = 0;

	while (want[i] && want[i] == got[i])
		i++;
	size_t from = i > 80 ? i - 80 : 0;
	print_error("%s: output differs from tests/golden/%s.out at byte %zu\n  golden: ...%.160s\n  output: ...%.160s\n"
		    "(if the change is deliberate: scripts/update_golden.sh, then commit the diff on its own)\n",
		    rel, rel, i, want + from, got + from);
}

static void test_golden__trace(void **state)
{
	const struct golden_case *c = *state;
	char cmd[8192], out[4096], golden[4096];
	size_t got_len = 0, want_len = 0;
	const char *why = t_trace_slow_when_checked(c->rel);

	if (why) {
		printf("skipped: %s: %s\n", c->rel, why);
		skip();
	}

	snprintf(out, sizeof(out), "%s/golden_%d.out", PTSIM_TEST_TMPDIR, (int)(c - cases));
	snprintf(golden, sizeof(golden), "%s/%s.out", PTSIM_GOLDEN_DIR, c->rel);
	snprintf(cmd, sizeof(cmd), "'%s' run '%s/%s' --json </dev/null >'%s'", PTSIM_CLI, PTSIM_TRACES_DIR, c->rel, out);
	int st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	char *got = t_read_file(out, &got_len);
	char *want = t_read_file(golden, &want_len);
	remove(out);
	if (!want)
		fail_msg("%s: no golden output tests/golden/%s.out (scripts/update_golden.sh writes it)", c->rel, c->rel);
	assert_non_null(got);
	if (!PTSIM_GOLDEN_EXACT) {
		strip_backtraces(got);
		strip_backtraces(want);
	}
	if (strcmp(want, got)) {
		report_first_difference(c->rel, want, got);
		fail();
	}
	bool violations = !strstr(got, "\"violations\":[]");
	if (WEXITSTATUS(st) != (violations ? 3 : 0))
		fail_msg("%s: exit status %d, but the report %s violations", c->rel, WEXITSTATUS(st),
			 violations ? "has" : "has no");
	free(got);
	free(want);
}

static bool is_golden(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && !strcmp(name + n - 4, ".out");
}

/* Every golden file belongs to a bundled trace (a removed trace takes its golden output with it). */
static void test_golden__no_orphans(void **state)
{
	(void)state;
	size_t first = nr_cases;

	collect(PTSIM_GOLDEN_DIR, "", is_golden);
	for (size_t i = first; i < nr_cases; i++) {
		char trace[8192];
		struct stat st;

		snprintf(trace, sizeof(trace), "%s/%.*s", PTSIM_TRACES_DIR, (int)(strlen(cases[i].rel) - 4), cases[i].rel);
		if (stat(trace, &st))
			fail_msg("tests/golden/%s has no trace traces/%.*s", cases[i].rel, (int)(strlen(cases[i].rel) - 4),
				 cases[i].rel);
		free(cases[i].rel);
	}
	nr_cases = first;
}

static int cmp_case(const void *a, const void *b)
{
	return strcmp(((const struct golden_case *)a)->rel, ((const struct golden_case *)b)->rel);
}

int main(void)
{
	collect(PTSIM_TRACES_DIR, "", is_trace);
	qsort(cases, nr_cases, sizeof(*cases), cmp_case);
	if (!nr_cases) {
		fprintf(stderr, "test_golden: no traces found under %s\n", PTSIM_TRACES_DIR);
		return 1;
	}
	struct CMUnitTest *tests = calloc(nr_cases + 1, sizeof(*tests));
	assert_non_null(tests);
	size_t n = nr_cases;
	for (size_t i = 0; i < n; i++) {
		tests[i].name = cases[i].rel;
		tests[i].test_func = test_golden__trace;
		tests[i].initial_state = &cases[i];
	}
	tests[n].name = "test_golden__no_orphans";
	tests[n].test_func = test_golden__no_orphans;
	int rc = _cmocka_run_group_tests("golden", tests, n + 1, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(cases[i].rel);
	free(cases);
	free(tests);
	return rc;
}
