#include "support/helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ptsim_machine *t_machine_cfg(enum ptsim_arch arch, unsigned int granule, unsigned int va_bits, unsigned int cpus,
				   const char *preset, const char *const *set)
{
	struct ptsim_config cfg;
	struct ptsim_machine *m = NULL;
	char err[256];

	ptsim_config_init(&cfg);
	cfg.arch = arch;
	cfg.granule = granule;
	cfg.va_bits = va_bits;
	cfg.cpus = cpus;
	cfg.preset = preset;
	cfg.set = set;
	if (ptsim_machine_create(&m, &cfg, err, sizeof(err)))
		fail_msg("ptsim_machine_create: %s", err);
	return m;
}

struct ptsim_machine *t_machine(unsigned int cpus, const char *preset, const char *const *set)
{
	struct ptsim_config defaults;

	ptsim_config_init(&defaults);
	return t_machine_cfg(defaults.arch, defaults.granule, defaults.va_bits, cpus, preset, set);
}

int t_try_trace_adjusted(const char *rel, const char *const *extra_set,
			 void (*adjust)(struct ptsim_config *cfg, const void *ctx), const void *ctx,
			 struct ptsim_machine **out)
{
	char path[1024], err[512];
	struct ptsim_trace *t = NULL;
	struct ptsim_config cfg;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", PTSIM_TRACES_DIR, rel);
	rc = ptsim_trace_load_file(&t, path, err, sizeof(err));
	if (rc)
		fail_msg("%s: %s", rel, err);
	for (size_t i = 0; extra_set && extra_set[i]; i++)
		assert_int_equal(ptsim_trace_config_add(t, extra_set[i]), 0);
	ptsim_trace_config(t, &cfg);
	if (adjust)
		adjust(&cfg, ctx);
	rc = ptsim_machine_create(out, &cfg, err, sizeof(err));
	if (rc)
		fail_msg("%s: machine: %s", rel, err);
	rc = ptsim_trace_run(t, *out);
	ptsim_trace_free(t);
	return rc;
}

int t_try_trace(const char *rel, const char *const *extra_set, struct ptsim_machine **out)
{
	return t_try_trace_adjusted(rel, extra_set, NULL, NULL, out);
}

struct ptsim_machine *t_run_trace_adjusted(const char *rel, const char *const *extra_set,
					   void (*adjust)(struct ptsim_config *cfg, const void *ctx), const void *ctx)
{
	struct ptsim_machine *m = NULL;

	if (t_try_trace_adjusted(rel, extra_set, adjust, ctx, &m))
		fail_msg("%s: %s", rel, ptsim_machine_errmsg(m));
	return m;
}

struct ptsim_machine *t_run_trace(const char *rel, const char *const *extra_set)
{
	struct ptsim_machine *m = NULL;
	int rc = t_try_trace(rel, extra_set, &m);

	if (rc)
		fail_msg("%s: %s", rel, ptsim_machine_errmsg(m));
	return m;
}

int t_run_json(const char *json, struct ptsim_machine **out, char *err, size_t errlen)
{
	struct ptsim_trace *t = NULL;
	struct ptsim_config cfg;
	int rc = ptsim_trace_load(&t, json, strlen(json), err, errlen);

	*out = NULL;
	if (rc)
		return rc;
	ptsim_trace_config(t, &cfg);
	rc = ptsim_machine_create(out, &cfg, err, errlen);
	if (rc) {
		ptsim_trace_free(t);
		return rc;
	}
	rc = ptsim_trace_run(t, *out);
	if (rc)
		snprintf(err, errlen, "%s", ptsim_machine_errmsg(*out));
	ptsim_trace_free(t);
	return rc;
}

uint64_t t_mark_stat(struct ptsim_machine *m, const char *mark, const char *counter)
{
	uint64_t v = 0;
	if (ptsim_mark_stat(m, mark, counter, &v))
		fail_msg("%s", ptsim_machine_errmsg(m));
	return v;
}

uint64_t t_delta(struct ptsim_machine *m, const char *before, const char *after, const char *counter)
{
	return t_mark_stat(m, after, counter) - t_mark_stat(m, before, counter);
}

uint64_t t_stat(struct ptsim_machine *m, const char *counter)
{
	uint64_t v = 0;
	if (ptsim_stat(m, counter, &v))
		fail_msg("%s", ptsim_machine_errmsg(m));
	return v;
}

size_t t_violations_with(struct ptsim_machine *m, enum ptsim_violation_kind kind, const char *needle)
{
	size_t n = 0;
	for (size_t i = 0; i < ptsim_violation_count(m); i++) {
		struct ptsim_violation v;
		assert_int_equal(ptsim_violation_get(m, i, &v), 0);
		if (v.kind == kind && (!needle || (v.message && strstr(v.message, needle))))
			n++;
	}
	return n;
}

size_t t_violations(struct ptsim_machine *m, enum ptsim_violation_kind kind)
{
	return t_violations_with(m, kind, NULL);
}

struct ptsim_mm_info t_mm_info(struct ptsim_machine *m, int task)
{
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mm_info_get(m, task, &mi));
	return mi;
}

struct ptsim_mm_info t_mark_mm_info(struct ptsim_machine *m, const char *mark, int task)
{
	struct ptsim_mm_info mi;
	T_OK(m, ptsim_mark_mm_info(m, mark, task, &mi));
	return mi;
}

void t_destroy(struct ptsim_machine *m)
{
	if (!m)
		return;
	ptsim_machine_quiesce(m);
	if (ptsim_machine_check(m))
		fail_msg("consistency: %s", ptsim_machine_errmsg(m));
	ptsim_machine_destroy(m);
}

const char *t_trace_slow_when_checked(const char *rel)
{
	static const char *const slow[] = {
		"oracle/w1_a.json",      /* 51,208 events, 13 M faults over 1 GiB at a time */
		"oracle/w1_a_free.json", /* the same */
		"seeds/000_9d4a9cd44a7ae822_forkexit.json", /* 196 CPUs, thousands of forks over a hugetlb pool */
	};

	if (!PTSIM_TEST_CHECKED)
		return NULL;
	for (size_t i = 0; i < sizeof(slow) / sizeof(slow[0]); i++)
		if (!strcmp(rel, slow[i]))
			return "minutes under the PTSIM_DEBUG checkers; replayed by the other builds";
	return NULL;
}
