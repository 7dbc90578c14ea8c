/*
 * Determinism and reentrancy: the same trace and config give byte-identical
 * JSON, run twice in a row and run on machines in parallel threads of one
 * process (no global mutable state, no host pointers or hash order in output).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/helpers.h"

static char *run_json_report(const char *rel, const char *const *set)
{
	struct ptsim_machine *m = NULL;
	int rc = t_try_trace(rel, set, &m);
	char *out = rc ? NULL : ptsim_report_json(m);

	ptsim_machine_destroy(m);
	return out;
}

struct job {
	const char *trace;
	const char *const *set;
	char *out;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	j->out = run_json_report(j->trace, j->set);
	return NULL;
}

static const char *const unsafe_set[] = { "table_free=immediate", NULL };

static void check_parallel(const char *trace, const char *const *set)
{
	enum { N = 4 };
	char *ref = run_json_report(trace, set);
	char *again = run_json_report(trace, set);
	pthread_t th[N];
	struct job jobs[N];

	assert_non_null(ref);
	assert_non_null(again);
	assert_string_equal(ref, again);
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct job){ trace, set, NULL };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_non_null(jobs[i].out);
		if (strcmp(jobs[i].out, ref))
			fail_msg("%s: thread %d produced different JSON", trace, i);
		ptsim_free(jobs[i].out);
	}
	ptsim_free(ref);
	ptsim_free(again);
}

static void test_threads__w3_identical(void **s)
{
	(void)s;
	check_parallel("oracle/w3_munmap_sleep.json", NULL);
}

static void test_threads__forkexit_identical(void **s)
{
	(void)s;
	check_parallel("oracle/forkexit_stale_bit.json", NULL);
}

/* Violations (with their backtraces) are part of the output and deterministic too. */
static void test_threads__violations_identical(void **s)
{
	(void)s;
	char *out = run_json_report("oracle/w3_munmap_spin.json", unsafe_set);
	assert_non_null(out);
	assert_non_null(strstr(out, "\"kind\":\"pwc\""));
	ptsim_free(out);
	check_parallel("oracle/w3_munmap_spin.json", unsafe_set);
}

/*
 * Trace loading in parallel threads: every cJSON parse writes cJSON's global
 * error position, so the library parses under one lock (src/trace/parse.c).
 * Good and bad traces, v1 and v2, loaded at once give the same results and
 * messages as alone (TSan checks the rest where cJSON is instrumented).
 */
struct load_job {
	int fails;
};

static const char *const load_inputs[] = {
	"{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}]}",
	"{\"ptsim_trace\": 1, \"events\": [{\"op\": \"spawn\", \"task\": 1 \"cpu\": 0}]}",
	"{\"ptsim_trace\": 2}\n{\"op\": \"spawn\", \"task\": 1, \"cpu\": 0}\n",
	"{\"ptsim_trace\": 1, \"events\": [{\"op\": \"mmap\", \"task\": 1, \"prot\": \"rwz\"}]}",
};

static void load_one(size_t i, int *rc, char *err, size_t errlen)
{
	struct ptsim_trace *t = NULL;

	err[0] = 0;
	*rc = ptsim_trace_load(&t, load_inputs[i], strlen(load_inputs[i]), err, errlen);
	ptsim_trace_free(t);
}

static void *load_worker(void *arg)
{
	struct load_job *j = arg;
	char want[4][256], got[256];
	int want_rc[4], rc;

	for (size_t i = 0; i < 4; i++)
		load_one(i, &want_rc[i], want[i], sizeof(want[i]));
	for (int k = 0; k < 500; k++)
		for (size_t i = 0; i < 4; i++) {
			load_one(i, &rc, got, sizeof(got));
			j->fails += rc != want_rc[i] || strcmp(got, want[i]);
		}
	return NULL;
}

static void test_threads__trace_load_parallel(void **s)
{
	(void)s;
	enum { N = 4 };
	pthread_t th[N];
	struct load_job jobs[N];

	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&th[i], NULL, load_worker, &jobs[i]), 0);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(jobs[i].fails, 0);
	}
	/* And the expected answers themselves. */
	char err[256];
	int rc;
	load_one(1, &rc, err, sizeof(err));
	assert_int_equal(rc, PTSIM_EBADTRACE);
	assert_non_null(strstr(err, "malformed JSON near byte"));
	load_one(3, &rc, err, sizeof(err));
	assert_non_null(strstr(err, "rwz"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads__w3_identical),
		cmocka_unit_test(test_threads__trace_load_parallel),
		cmocka_unit_test(test_threads__forkexit_identical),
		cmocka_unit_test(test_threads__violations_identical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
