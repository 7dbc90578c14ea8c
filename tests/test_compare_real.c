/*
 * `ptsim compare-real` on hand-written recordings: a small v2 trace with a
 * trailer of "real" figures, so that every compared figure, its path in the
 * JSON and its difference are known exactly (no host kernel involved; the
 * recorder's own tests are in test_record.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "support/helpers.h"

#ifndef PTSIM_CLI
#error "PTSIM_CLI must be defined by tests/CMakeLists.txt"
#endif
#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

/*
 * Two threads: task 1 on CPU 0 maps 16 pages and writes them, task 2 on CPU 1
 * reads them, task 1 unmaps one page while task 2 runs (one flush IPI to
 * CPU 1, a ranged flush there), task 2 exits, the mark, task 1 exits.  ptsim
 * at the mark: VmPTE 12 kB (a PTE, a PMD and a PUD table), RssAnon 60 kB.
 */
static const char body[] =
	"{\"ptsim_trace\":2,\"machine\":{\"arch\":\"x86_64\",\"cpus\":2,\"preset\":\"6.18.44\"}}\n"
	"{\"op\":\"spawn\",\"task\":1,\"cpu\":0}\n"
	"{\"op\":\"thread\",\"task\":1,\"thread\":2,\"cpu\":1}\n"
	"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":\"64K\",\"prot\":\"rw\"}\n"
	"{\"op\":\"touch\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":\"64K\",\"write\":true}\n"
	"{\"op\":\"touch\",\"task\":2,\"addr\":\"0x100000000000\",\"len\":\"64K\"}\n"
	"{\"op\":\"munmap\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":\"4K\"}\n"
	"{\"op\":\"exit\",\"task\":2}\n"
	"{\"op\":\"mark\",\"name\":\"exit of pid 7 (t), task 1\"}\n"
	"{\"op\":\"exit\",\"task\":1}\n";

/*
 * The kernel's figures: as ptsim's (the munmap's ranged flush on CPU 1; the
 * exit's flush with freed tables reaching the lazy CPU 1, which switches to
 * init_mm), except RssAnon 64 (ptsim 60: -4), VmHWM 70 (ptsim 64: -6) and one
 * more flush IPI to CPU 1.
 */
static const char trailer[] =
	"{\"recorded\":{\"kernel\":\"test\",\"command\":[\"t\"],\"complete\":true,\"warnings\":[\"a warning\"],"
	"\"events\":{\"faults\":16},"
	"\"processes\":[{\"pid\":7,\"comm\":\"t\",\"tasks\":[1,2],\"ended\":\"exit\",\"last_task\":1,"
	"\"mark\":\"exit of pid 7 (t), task 1\",\"at_end\":{\"vmpte_kb\":12,\"rss_kb\":{\"anon\":64,\"file\":0,"
	"\"shmem\":0,\"swap\":0},\"hugetlb_kb\":0,\"vmhwm_kb\":70}}],"
	"\"cpus\":[{\"cpu\":0,\"ipi\":{\"sent\":{\"tlb_flush\":3,\"table_sync\":0,\"interrupts\":3,\"resched\":5},"
	"\"received\":{\"tlb_flush\":0,\"table_sync\":0}},\"tlb\":{\"local\":{\"full\":0,\"partial\":1,\"partial_pages\":1},"
	"\"remote\":{\"full\":0,\"partial\":0,\"wrong_cpu\":0,\"lazy_to_init_mm\":0,\"noop\":0},\"switch_flush\":1}},"
	"{\"cpu\":1,\"ipi\":{\"sent\":{\"tlb_flush\":0,\"table_sync\":0,\"interrupts\":0,\"resched\":0},"
	"\"received\":{\"tlb_flush\":3,\"table_sync\":0}},\"tlb\":{\"local\":{\"full\":0,\"partial\":0,\"partial_pages\":0},"
	"\"remote\":{\"full\":0,\"partial\":1,\"wrong_cpu\":0,\"lazy_to_init_mm\":1,\"noop\":0},\"switch_flush\":1}}],"
	"\"totals\":{\"ipi\":{\"sent\":{\"tlb_flush\":3,\"table_sync\":0,\"interrupts\":3,\"resched\":5},"
	"\"received\":{\"tlb_flush\":3,\"table_sync\":0}},\"tlb\":{\"local\":{\"full\":0,\"partial\":1,\"partial_pages\":1},"
	"\"remote\":{\"full\":0,\"partial\":1,\"wrong_cpu\":0,\"lazy_to_init_mm\":1,\"noop\":0},\"nr_tlb_remote_flush\":2,"
	"\"switch_flush\":2}}}}\n";

static char *path_of(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/compare_real_%d_%s", PTSIM_TEST_TMPDIR, (int)getpid(), name) > 0);
	return p;
}

static void write_file(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(a, f);
	if (b)
		fputs(b, f);
	assert_int_equal(fclose(f), 0);
}

/* Run `ptsim ARGS`; its standard output in *@out, standard error in *@err. */
static int run(const char *args, char **out, char **err)
{
	char *o = path_of("out"), *e = path_of("err"), *cmd = NULL;
	assert_true(asprintf(&cmd, "'%s' %s >'%s' 2>'%s'", PTSIM_CLI, args, o, e) > 0);
	int st = system(cmd);
	free(cmd);
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(i ? e : o, "r");
		char *buf = calloc(1, 1 << 20);
		assert_non_null(f);
		size_t n = fread(buf, 1, (1 << 20) - 1, f);
		buf[n] = 0;
		fclose(f);
		*(i ? err : out) = buf;
	}
	unlink(o);
	unlink(e);
	free(o);
	free(e);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const cJSON *at(const cJSON *o, const char *path)
{
	char buf[200], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		char *br = strchr(k, '[');
		if (br) {
			*br = 0;
			o = cJSON_GetObjectItemCaseSensitive(o, k);
			o = cJSON_GetArrayItem(o, atoi(br + 1));
		} else {
			o = cJSON_GetObjectItemCaseSensitive(o, k);
		}
		if (!o)
			fail_msg("no %s in the comparison", path);
	}
	return o;
}

/* @path is {"real": @real, "ptsim": @sim, "diff": @sim - @real}. */
static void expect_row(const cJSON *root, const char *path, double real, double sim)
{
	const cJSON *r = at(root, path);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(r, "real")));
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(r, "ptsim")));
	if (cJSON_GetObjectItem(r, "real")->valuedouble != real || cJSON_GetObjectItem(r, "ptsim")->valuedouble != sim ||
	    cJSON_GetObjectItem(r, "diff")->valuedouble != sim - real)
		fail_msg("%s: real %g ptsim %g diff %g, expected %g %g %g", path, cJSON_GetObjectItem(r, "real")->valuedouble,
			 cJSON_GetObjectItem(r, "ptsim")->valuedouble, cJSON_GetObjectItem(r, "diff")->valuedouble, real,
			 sim, sim - real);
}

static void test_compare_real__json_rows(void **state)
{
	(void)state;
	char *trace = path_of("rec.jsonl"), *args = NULL, *out, *err;
	write_file(trace, body, trailer);
	assert_true(asprintf(&args, "compare-real '%s' --json", trace) > 0);
	assert_int_equal(run(args, &out, &err), 0);
	cJSON *j = cJSON_Parse(out);
	if (!j)
		fail_msg("not JSON: %s (stderr: %s)", out, err);
	expect_row(j, "processes[0].vmpte_kb_at_exit", 12, 12);
	expect_row(j, "processes[0].rss_anon_kb_at_exit", 64, 60);
	expect_row(j, "processes[0].rss_file_kb_at_exit", 0, 0);
	expect_row(j, "cpus[1].ipi.received.tlb_flush", 3, 2);
	expect_row(j, "cpus[1].tlb.remote.partial", 1, 1);
	expect_row(j, "cpus[1].tlb.remote.lazy_to_init_mm", 1, 1);
	expect_row(j, "cpus[0].ipi.received.tlb_flush", 0, 0);
	expect_row(j, "cpus[0].tlb.local.partial_pages", 1, 1);
	expect_row(j, "totals.tlb.nr_tlb_remote_flush", 2, 2);
	expect_row(j, "totals.ipi.sent.tlb_flush", 3, 2);
	expect_row(j, "cpus[0].ipi.sent.tlb_flush", 3, 2);
	expect_row(j, "cpus[1].ipi.sent.tlb_flush", 0, 0);
	/* What ptsim has no counterpart for is there, with the reason. */
	const cJSON *resched = at(j, "cpus[0].ipi.sent.resched");
	assert_int_equal(cJSON_GetObjectItem(resched, "real")->valueint, 5);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(resched, "ptsim")));
	assert_non_null(strstr(cJSON_GetObjectItem(resched, "note")->valuestring, "scheduler"));
	/* Peak RSS: the trailer says 70, ptsim 64 (the 16 pages touched before the munmap of one). */
	expect_row(j, "processes[0].vmhwm_kb_at_exit", 70, 64);
	assert_string_equal(cJSON_GetArrayItem(at(j, "warnings"), 0)->valuestring, "a warning");
	assert_true(cJSON_IsTrue(at(j, "complete")));
	/* rss_anon, vmhwm, cpus[0] sent, cpus[1] received, totals received and sent: 6 differ. */
	assert_int_equal(at(j, "differ")->valueint, 6);
	cJSON_Delete(j);
	free(out);
	free(err);
	free(args);
	unlink(trace);
	free(trace);
}

/*
 * Flushing context switches, counted as the recorder counts them: with a
 * recorded task on the CPU, from the mark the trailer's counts_start_mark
 * names (the kernel's counts begin after the command's first exec).  PCID
 * off, so that every switch to another mm flushes:
 *
 *   before the mark   spawn of task 1 and its exec on CPU 0: 2, not counted
 *   CPU 1             run other (not counted), thread 2 (1), a flush call
 *                     with freed tables finds CPU 1 lazy: to init_mm (not
 *                     counted), task 2 runs again (2), task 1's exit frees
 *                     the tables with CPU 1 lazy again (not counted)
 *   CPU 0             run other (not counted), task 1 again (1), its exit:
 *                     the last flush finds CPU 0 lazy, to init_mm (2)
 *
 * ptsim's tlb.switch_flush counts all 10 (5 on each CPU); the figure compared
 * is 2 + 2.  Page faults the same way: the 5 before the mark (the exec's
 * argument page, 4 of task 1; the kernel's come before the exec's event) are
 * not counted, the 16 of task 2 are.
 */
static const char sw_body[] =
	"{\"ptsim_trace\":2,\"machine\":{\"arch\":\"x86_64\",\"cpus\":2,\"preset\":\"6.18.44\","
	"\"set\":{\"pcid\":false}}}\n"
	"{\"op\":\"spawn\",\"task\":1,\"cpu\":0}\n"
	"{\"op\":\"exec\",\"task\":1}\n"
	"{\"op\":\"mmap\",\"task\":1,\"addr\":\"0x200000000000\",\"len\":\"16K\",\"prot\":\"rw\"}\n"
	"{\"op\":\"touch\",\"task\":1,\"addr\":\"0x200000000000\",\"len\":\"16K\",\"write\":true}\n"
	"{\"op\":\"mark\",\"name\":\"counting starts\"}\n"
	"{\"op\":\"run\",\"cpu\":1,\"other\":true}\n"
	"{\"op\":\"thread\",\"task\":1,\"thread\":2,\"cpu\":1}\n"
	"{\"op\":\"mmap\",\"task\":2,\"addr\":\"0x100000000000\",\"len\":\"2M\",\"prot\":\"rw\"}\n"
	"{\"op\":\"touch\",\"task\":2,\"addr\":\"0x100000000000\",\"len\":\"64K\",\"write\":true}\n"
	"{\"op\":\"run\",\"cpu\":0,\"other\":true}\n"
	"{\"op\":\"run\",\"task\":1,\"cpu\":0}\n"
	"{\"op\":\"sleep\",\"task\":2}\n"
	"{\"op\":\"munmap\",\"task\":1,\"addr\":\"0x100000000000\",\"len\":\"2M\"}\n"
	"{\"op\":\"run\",\"task\":2,\"cpu\":1}\n"
	"{\"op\":\"exit\",\"task\":2}\n"
	"{\"op\":\"exit\",\"task\":1}\n";

/* The kernel's figures: 3 on CPU 0 (one more than ptsim: another process took the ASID), 2 on CPU 1. */
static const char sw_trailer[] =
	"{\"recorded\":{\"kernel\":\"test\",\"command\":[\"t\"],\"complete\":true,"
	"\"counts_start_mark\":\"counting starts\",\"events\":{\"faults\":16},\"processes\":[],"
	"\"cpus\":[{\"cpu\":0,\"tlb\":{\"switch_flush\":3}},{\"cpu\":1,\"tlb\":{\"switch_flush\":2}}],"
	"\"totals\":{\"tlb\":{\"switch_flush\":5}}}}\n";

static void test_compare_real__switch_flush_as_recorded(void **state)
{
	(void)state;
	char *trace = path_of("sw.jsonl"), *args = NULL, *out, *err;
	write_file(trace, sw_body, sw_trailer);
	assert_true(asprintf(&args, "compare-real '%s' --json", trace) > 0);
	assert_int_equal(run(args, &out, &err), 0);
	cJSON *j = cJSON_Parse(out);
	if (!j)
		fail_msg("not JSON: %s (stderr: %s)", out, err);
	expect_row(j, "cpus[0].tlb.switch_flush", 3, 2);
	expect_row(j, "cpus[1].tlb.switch_flush", 2, 2);
	expect_row(j, "totals.tlb.switch_flush", 5, 4);
	expect_row(j, "totals.tlb.remote.lazy_to_init_mm", 0, 2);
	expect_row(j, "totals.faults", 16, 16);
	assert_string_equal(at(j, "counts_start_mark")->valuestring, "counting starts");
	cJSON_Delete(j);
	free(out);
	free(err);
	free(args);
	/* The same run counted in full: every flushing switch. */
	assert_true(asprintf(&args, "run --json '%s'", trace) > 0);
	assert_int_equal(run(args, &out, &err), 0);
	j = cJSON_Parse(out);
	if (!j)
		fail_msg("not JSON: %s (stderr: %s)", out, err);
	assert_int_equal(at(j, "final.counters.tlb.switch_flush")->valueint, 10);
	assert_int_equal(at(j, "final.counters.tlb.switch_flush_task")->valueint, 6);
	assert_int_equal(at(j, "final.cpus[0].switch_flush_task")->valueint, 4);
	assert_int_equal(at(j, "final.cpus[1].switch_flush_task")->valueint, 2);
	assert_int_equal(at(j, "marks[0].cpus[0].switch_flush_task")->valueint, 2);
	cJSON_Delete(j);
	free(out);
	free(err);
	free(args);
	/* Without the mark (an older recording), from the start: the spawn and exec too. */
	char *plain = strdup(sw_trailer), *k = strstr(plain, "\"counts_start_mark\"");
	assert_non_null(k);
	memcpy(k, "\"counts_start_marX\"", 19);
	write_file(trace, sw_body, plain);
	free(plain);
	assert_true(asprintf(&args, "compare-real '%s' --json", trace) > 0);
	assert_int_equal(run(args, &out, &err), 0);
	j = cJSON_Parse(out);
	if (!j)
		fail_msg("not JSON: %s (stderr: %s)", out, err);
	expect_row(j, "cpus[0].tlb.switch_flush", 3, 4);
	expect_row(j, "totals.tlb.switch_flush", 5, 6);
	expect_row(j, "totals.faults", 16, 21);
	assert_true(cJSON_IsNull(at(j, "counts_start_mark")));
	cJSON_Delete(j);
	free(out);
	free(err);
	free(args);
	unlink(trace);
	free(trace);
}

static void test_compare_real__text_table(void **state)
{
	(void)state;
	char *trace = path_of("rec2.jsonl"), *args = NULL, *out, *err;
	write_file(trace, body, trailer);
	assert_true(asprintf(&args, "compare-real '%s'", trace) > 0);
	assert_int_equal(run(args, &out, &err), 0);
	assert_non_null(strstr(out, "  pid 7 t (task 1, exit)\n"));
	assert_non_null(strstr(out, "    RssAnon kB                                     64         60         -4  <-\n"));
	assert_non_null(strstr(out, "\n6 of 43 compared figures differ\n"));
	assert_string_equal(err, "");
	free(out);
	free(err);
	free(args);
	unlink(trace);
	free(trace);
}

static void test_compare_real__not_a_recording(void **state)
{
	(void)state;
	char *trace = path_of("plain.jsonl"), *args = NULL, *out, *err;
	write_file(trace, body, NULL);
	assert_true(asprintf(&args, "compare-real '%s'", trace) > 0);
	assert_int_equal(run(args, &out, &err), 2);
	assert_non_null(strstr(err, "no \"recorded\" object: not a recording made by ptsim record"));
	assert_string_equal(out, "");
	free(out);
	free(err);
	free(args);
	/* A recording that does not replay: the replay's error, status 2. */
	write_file(trace, "{\"ptsim_trace\":2}\n{\"op\":\"exit\",\"task\":1}\n", trailer);
	assert_true(asprintf(&args, "compare-real '%s' --json", trace) > 0);
	assert_int_equal(run(args, &out, &err), 2);
	assert_non_null(strstr(err, "exit"));
	assert_string_equal(out, "");
	free(out);
	free(err);
	free(args);
	unlink(trace);
	free(trace);
}

static void test_compare_real__usage(void **state)
{
	(void)state;
	char *out, *err;
	assert_int_equal(run("compare-real", &out, &err), 2);
	assert_non_null(strstr(err, "no recording given"));
	free(out);
	free(err);
	assert_int_equal(run("compare-real --help", &out, &err), 0);
	assert_non_null(strstr(out, "usage: ptsim compare-real RECORDING"));
	free(out);
	free(err);
	assert_int_equal(run("compare-real a b", &out, &err), 2);
	assert_non_null(strstr(err, "unexpected argument 'b'"));
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare_real__json_rows),
		cmocka_unit_test(test_compare_real__text_table),
		cmocka_unit_test(test_compare_real__switch_flush_as_recorded),
		cmocka_unit_test(test_compare_real__not_a_recording),
		cmocka_unit_test(test_compare_real__usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
