/*
 * The ptsim command's conventions (docs/cli.md): getopt_long options
 * (--opt=value, --opt value, --), "-" for standard output wherever a file is
 * written, --help on every command, --json lists, messages said once with
 * plurals right, and nothing on standard output when the status is 1 or 2.
 */
#include "support/helpers.h"
#include "support/cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PTSIM_CLI
#error "PTSIM_CLI (path of the ptsim binary) must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_MAN_PAGE
#error "PTSIM_MAN_PAGE (docs/ptsim.1) must be defined by tests/CMakeLists.txt"
#endif

#define CLI_IN(cwd, ...) t_cli_run(PTSIM_CLI, PTSIM_TEST_TMPDIR, cwd, NULL, (const char *const[]){ __VA_ARGS__, NULL })
#define CLI(...) CLI_IN(NULL, __VA_ARGS__)

/* A small clean trace: one process on CPU 0 of 2, a touch, a munmap, a mark. */
static const char TRACE[] =
	"{\"ptsim_trace\":1,\"machine\":{\"cpus\":2},\"events\":["
	"{\"op\":\"spawn\",\"task\":1,\"cpu\":0},"
	"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"prot\":\"rw\"},"
	"{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\",\"write\":true},"
	"{\"op\":\"mark\",\"name\":\"touched\"},"
	"{\"op\":\"munmap\",\"task\":1,\"addr\":\"0x100000\",\"len\":\"64K\"}]}";

/* A directory of its own under the test's tmpdir, with the trace in it as t.json. */
static const char *workdir(const char *name)
{
	static char dir[1024], path[2200];

	snprintf(dir, sizeof(dir), "%s/cli_%s", PTSIM_TEST_TMPDIR, name);
	snprintf(path, sizeof(path), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/t.json", dir);
	t_write_file(path, TRACE);
	return dir;
}

static bool exists(const char *dir, const char *name)
{
	char path[1200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

#define EXPECT(r, st, out_needle, err_needle)                                                                  \
	do {                                                                                                   \
		if ((r).status != (st) || !strstr((r).out, out_needle) || !strstr((r).err, err_needle))         \
			fail_msg("exit %d (expected %d)\nstdout: %.2000s\nstderr: %s\nexpected \"%s\" / \"%s\"", \
				 (r).status, st, (r).out, (r).err, out_needle, err_needle);                      \
	} while (0)

static void test_cli__long_options_take_equals_or_next_argument(void **s)
{
	(void)s;
	const char *d = workdir("getopt");
	struct t_cli a = CLI_IN(d, "run", "t.json", "--preset", "6.12", "--set", "pt_reclaim=off", "--cpus", "4");
	struct t_cli b = CLI_IN(d, "run", "--preset=6.12", "--set=pt_reclaim=off", "--cpus=4", "t.json");

	EXPECT(a, 0, "preset=6.12", "");
	EXPECT(b, 0, "cpus=4", "");
	assert_non_null(strstr(b.out, "pt_reclaim=off"));
	assert_string_equal(a.out, b.out);
	t_cli_free(&a);
	t_cli_free(&b);
	/* -o FILE and -oFILE, --output FILE and --output=FILE. */
	a = CLI_IN(d, "run", "t.json", "-oa.txt");
	EXPECT(a, 0, "", "");
	assert_int_equal(a.out_len, 0);
	assert_true(exists(d, "a.txt"));
	t_cli_free(&a);
	/* A value that looks like an option is still the value; a missing one is said. */
	a = CLI_IN(d, "run", "t.json", "--cpus", "--json");
	EXPECT(a, 2, "", "--cpus --json: expected a number of CPUs");
	t_cli_free(&a);
	a = CLI_IN(d, "run", "t.json", "--cpus");
	EXPECT(a, 2, "", "ptsim: --cpus needs a value");
	t_cli_free(&a);
	a = CLI_IN(d, "run", "t.json", "--json=yes");
	EXPECT(a, 2, "", "ptsim: --json takes no value");
	t_cli_free(&a);
	a = CLI_IN(d, "run", "t.json", "-x");
	EXPECT(a, 2, "", "unknown option -x");
	assert_non_null(strstr(a.err, "Try 'ptsim run --help'"));
	t_cli_free(&a);
}

static void test_cli__double_dash_ends_the_options(void **s)
{
	(void)s;
	const char *d = workdir("dashdash");
	char path[1200];

	snprintf(path, sizeof(path), "%s/--json", d);
	t_write_file(path, TRACE);
	struct t_cli r = CLI_IN(d, "run", "--", "--json");
	EXPECT(r, 0, "violations: 0", "");
	t_cli_free(&r);
	r = CLI_IN(d, "run", "--json");
	EXPECT(r, 2, "", "no trace given");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
}

static void test_cli__dash_is_standard_output(void **s)
{
	(void)s;
	const char *d = workdir("dash");
	struct t_cli r = CLI_IN(d, "run", "t.json", "--json", "-o", "-");

	EXPECT(r, 0, "{\"ptsim_version\"", "");
	assert_false(exists(d, "-"));
	t_cli_free(&r);
	/* --timeline - puts the CSV on standard output instead of the report... */
	r = CLI_IN(d, "run", "t.json", "--timeline", "-");
	EXPECT(r, 0, "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb,", "");
	assert_int_equal(strncmp(r.out, "mark,index,", 11), 0);
	assert_non_null(strstr(r.out, "\ntouched,0,,3,"));
	assert_null(strstr(r.out, "violations: "));
	assert_false(exists(d, "-"));
	t_cli_free(&r);
	/* ... unless -o says where the report goes. */
	r = CLI_IN(d, "run", "t.json", "--json", "--output=r.json", "--timeline=-");
	EXPECT(r, 0, "mark,index,", "");
	char path[1200];
	snprintf(path, sizeof(path), "%s/r.json", d);
	char *rep = t_read_file(path, NULL);
	assert_non_null(rep);
	assert_int_equal(strncmp(rep, "{\"ptsim_version\"", 16), 0);
	free(rep);
	t_cli_free(&r);
	/* Both on standard output is a usage error, said before the run. */
	r = CLI_IN(d, "run", "t.json", "-o", "-", "--timeline", "-");
	EXPECT(r, 2, "", "cannot both go to standard output");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
}

/* Every command `ptsim help` lists answers --help, -h and `ptsim help NAME` with its usage. */
static void test_cli__help_on_every_command(void **s)
{
	(void)s;
	struct t_cli all = CLI("help");
	size_t n = 0;

	EXPECT(all, 0, "usage: ptsim run TRACE", "");
	for (const char *p = all.out; (p = strstr(p, "ptsim ")); p += 6) {
		char name[64], usage[80];
		if (sscanf(p + 6, "%63[a-z-]", name) != 1 || !strcmp(name, "help"))
			continue;
		snprintf(usage, sizeof(usage), "usage: ptsim %s", name);
		struct t_cli a = CLI(name, "--help"), b = CLI(name, "-h"), c = CLI("help", name);
		EXPECT(a, 0, usage, "");
		assert_int_equal(strncmp(a.out, usage, strlen(usage)), 0);
		assert_string_equal(a.err, "");
		assert_string_equal(a.out, b.out);
		assert_string_equal(a.out, c.out);
		t_cli_free(&a);
		t_cli_free(&b);
		t_cli_free(&c);
		n++;
	}
	assert_true(n >= 4);
	t_cli_free(&all);
	struct t_cli r = CLI("help", "frobnicate");
	EXPECT(r, 2, "", "unknown command 'frobnicate'");
	t_cli_free(&r);
}

static void test_cli__presets_and_variants_as_json(void **s)
{
	(void)s;
	struct t_cli r = CLI("presets", "--json");
	EXPECT(r, 0, "[{\"name\":", "");
	cJSON *j = cJSON_Parse(r.out);
	assert_non_null(j);
	assert_true(cJSON_IsArray(j));
	assert_int_equal(cJSON_GetArraySize(j), ptsim_preset_count());
	size_t defaults = 0;
	cJSON *p;
	cJSON_ArrayForEach(p, j)
	{
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(p, "name"));
		assert_non_null(name);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "summary")), ptsim_preset_summary(name));
		const char *const *pairs = ptsim_preset_pairs(name);
		cJSON *set = cJSON_GetObjectItem(p, "set");
		size_t k = 0;
		for (; pairs[k]; k++)
			assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(set, (int)k)), pairs[k]);
		assert_int_equal(cJSON_GetArraySize(set), k);
		if (cJSON_IsTrue(cJSON_GetObjectItem(p, "default"))) {
			defaults++;
			assert_string_equal(name, PTSIM_DEFAULT_PRESET);
		}
	}
	assert_int_equal(defaults, 1);
	cJSON_Delete(j);
	t_cli_free(&r);

	r = CLI("variants", "--json");
	EXPECT(r, 0, "{\"key\":\"pt_reclaim\",\"help\":", "");
	j = cJSON_Parse(r.out);
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), ptsim_variant_count());
	for (size_t i = 0; i < ptsim_variant_count(); i++)
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(j, (int)i), "key")),
				    ptsim_variant_key(i));
	cJSON_Delete(j);
	t_cli_free(&r);
}

/* What a command does not take is refused, with nothing on standard output. */
static void test_cli__unexpected_arguments_are_refused(void **s)
{
	(void)s;
	static const char *const cases[][3] = {
		{ "presets", "foo", "presets: unexpected argument 'foo'" },
		{ "variants", "--frob", "unknown option --frob" },
		{ "version", "1.0", "version: unexpected argument '1.0'" },
		{ "presets", "--json=1", "--json takes no value" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_cli r = CLI(cases[i][0], cases[i][1]);
		EXPECT(r, 2, "", cases[i][2]);
		assert_int_equal(r.out_len, 0);
		t_cli_free(&r);
	}
}

/* A file error names the file once: "ptsim: PATH: No such file or directory". */
static void test_cli__file_errors_are_said_once(void **s)
{
	(void)s;
	const char *d = workdir("fileerr");
	struct t_cli r = CLI_IN(d, "run", "nonexist.json");

	assert_int_equal(r.status, 2);
	assert_string_equal(r.err, "ptsim: nonexist.json: No such file or directory\n");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	r = CLI_IN(d, "run", "t.json", "-o", "no/such/dir/r.txt");
	assert_int_equal(r.status, 2);
	assert_string_equal(r.err, "ptsim: cannot create no/such/dir/r.txt: No such file or directory\n");
	t_cli_free(&r);
}

static void test_cli__plurals(void **s)
{
	(void)s;
	const char *d = workdir("plural");
	struct t_cli r = CLI_IN(d, "run", "t.json", "--cpus", "1");

	EXPECT(r, 0, "cpus=1", "");
	t_cli_free(&r);
	char path[1200];
	snprintf(path, sizeof(path), "%s/cpu1.json", d);
	t_write_file(path, "{\"ptsim_trace\":1,\"machine\":{\"cpus\":2},\"events\":[{\"op\":\"spawn\",\"task\":1,\"cpu\":1}]}");
	r = CLI_IN(d, "run", "cpu1.json", "--cpus=1");
	EXPECT(r, 2, "", "cpu 1 does not exist (the machine has 1 CPU: 0..0)");
	/* Said why: --cpus took away a CPU the trace names by number. */
	assert_non_null(strstr(r.err, "--cpus 1 removed a CPU this trace names"));
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	r = CLI_IN(d, "run", "cpu1.json", "--cpus=1", "--json");
	assert_null(strstr(r.err, "CPUs"));
	t_cli_free(&r);
}

/* Status 1 or 2: nothing on standard output, even when the report was ready. */
static void test_cli__nothing_on_stdout_when_an_output_fails(void **s)
{
	(void)s;
	const char *d = workdir("devfull");

	if (access("/dev/full", W_OK)) {
		skip();
		return;
	}
	struct t_cli r = CLI_IN(d, "run", "t.json", "--timeline", "/dev/full");
	EXPECT(r, 1, "", "ptsim: cannot write the timeline to /dev/full: No space left on device");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	r = CLI_IN(d, "run", "t.json", "--json", "--timeline", "/dev/full", "-o", "r.json");
	EXPECT(r, 1, "", "cannot write the timeline");
	t_cli_free(&r);
	r = CLI_IN(d, "run", "t.json", "-o", "/dev/full", "--timeline", "-");
	EXPECT(r, 1, "", "cannot write the report to /dev/full");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
	/* Bad input: status 2 and nothing either. */
	char path[1200];
	snprintf(path, sizeof(path), "%s/bad.json", d);
	t_write_file(path, "{\"ptsim_trace\":1,\"events\":[{\"op\":\"munmap\",\"task\":9,\"addr\":0,\"len\":4096}]}");
	r = CLI_IN(d, "run", "bad.json", "--timeline", "-");
	EXPECT(r, 2, "", "bad.json: event 0 (munmap)");
	assert_int_equal(r.out_len, 0);
	t_cli_free(&r);
}

/* "--plot-y" as troff writes it: "\\-\\-plot\\-y". */
static void troff_escape(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in && n + 3 < len; in++) {
		if (*in == '-')
			out[n++] = '\\';
		out[n++] = *in;
	}
	out[n] = 0;
}

/* The man page (docs/ptsim.1) has every command `ptsim help` lists and every option of its --help. */
static void test_cli__man_page_lists_every_command_and_option(void **s)
{
	(void)s;
	char *man = t_read_file(PTSIM_MAN_PAGE, NULL);
	struct t_cli all = CLI("help");
	size_t commands = 0, options = 0;

	assert_non_null(man);
	for (const char *p = all.out; (p = strstr(p, "ptsim ")); p += 6) {
		char name[64], want[128];
		if (sscanf(p + 6, "%63[a-z-]", name) != 1 || !strcmp(name, "help"))
			continue;
		snprintf(want, sizeof(want), ".SS \"ptsim %s", name);
		if (!strstr(man, want))
			fail_msg("docs/ptsim.1 has no section for ptsim %s (%s)", name, want);
		commands++;
		struct t_cli u = CLI(name, "--help");
		for (const char *q = u.out; (q = strstr(q, " -")); q++) {
			char opt[64], esc[160];
			if (sscanf(q + 1, "%63[-a-zA-Z0-9]", opt) != 1 || strlen(opt) < 2 || !strcmp(opt, "--"))
				continue;
			troff_escape(opt, esc, sizeof(esc));
			if (!strstr(man, esc))
				fail_msg("docs/ptsim.1 does not mention %s of ptsim %s (as %s)", opt, name, esc);
			options++;
		}
		t_cli_free(&u);
	}
	assert_true(commands >= 7);
	assert_true(options >= 40);
	t_cli_free(&all);
	free(man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli__long_options_take_equals_or_next_argument),
		cmocka_unit_test(test_cli__double_dash_ends_the_options),
		cmocka_unit_test(test_cli__dash_is_standard_output),
		cmocka_unit_test(test_cli__help_on_every_command),
		cmocka_unit_test(test_cli__presets_and_variants_as_json),
		cmocka_unit_test(test_cli__unexpected_arguments_are_refused),
		cmocka_unit_test(test_cli__file_errors_are_said_once),
		cmocka_unit_test(test_cli__plurals),
		cmocka_unit_test(test_cli__nothing_on_stdout_when_an_output_fails),
		cmocka_unit_test(test_cli__man_page_lists_every_command_and_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
