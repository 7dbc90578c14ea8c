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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads__w3_identical),
		cmocka_unit_test(test_threads__forkexit_identical),
		cmocka_unit_test(test_threads__violations_identical),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
