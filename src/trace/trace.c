/*
 * Traces: the public entry points (include/ptsim/trace.h).  Reading is in
 * reader.c, parsing in parse.c, replay in replay.c; trace_internal.h says how
 * they fit together and how to add an op.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "trace/trace_internal.h"

PTSIM_API void ptsim_trace_free(struct ptsim_trace *t)
{
	if (!t)
		return;
	ptsim__trace_free_events(t->events, t->nr_events);
	free(t->preset);
	for (size_t i = 0; i < t->nr_set; i++)
		free(t->set[i]);
	free(t->set);
	free(t);
}

PTSIM_API int ptsim_trace_load(struct ptsim_trace **out, const char *json, size_t len, char *err, size_t errlen)
{
	struct perr pe = { err, errlen, "" };
	struct ptsim_trace *t;
	int rc;

	if (!out || !json)
		return -EINVAL;
	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return PTSIM_ENOMEM_HOST;
	t->cpus = 2;
	t->seed = 1;
	rc = ptsim__trace_parse_document(&pe, t, json, len);
	if (rc) {
		ptsim_trace_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

PTSIM_API int ptsim_trace_load_file(struct ptsim_trace **out, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = ptsim__trace_read_file(path, &buf, &len, err, errlen);

	if (rc)
		return rc;
	rc = ptsim_trace_load(out, buf ? buf : "", len, err, errlen);
	free(buf);
	return rc;
}

PTSIM_API int ptsim_trace_config(struct ptsim_trace *t, struct ptsim_config *cfg)
{
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
	if (!strchr(kv, '='))
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

	m->in_trace = true;
	rc = ptsim__trace_replay(m, t->events, t->nr_events, h);
	m->in_trace = false;
	if (!rc) {
		/* Every concurrency point must be closed by the end. */
		m->ev_op = "trace";
		for (unsigned int c = 0; c < m->nr_cpus && !rc; c++) {
			if (m->cpus[c].irqs_off)
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
