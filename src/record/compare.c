/*
 * `ptsim compare-real`: replay a recording and put ptsim's figures next to
 * the real kernel's ones stored in its trailer (docs/record.md).
 *
 * What is compared, and with which ptsim figure:
 *
 *   per process, at its end (the mark the recorder wrote just before the
 *   last task's exit or exec, or the end of the replay for one still
 *   running): VmPTE, RssAnon, RssFile, RssShmem, HugetlbPages,
 *   VmHWM (ptsim_mark_mm_info() / ptsim_mm_info_get());
 *   per CPU: cross-CPU calls sent and received by reason (cpu.N.ipi_sent.*,
 *   cpu.N.ipi_received.*), what
 *   the received flushes did (cpu.N.remote.*), local full flushes
 *   (cpu.N.nr_tlb_local_flush_all) and single-page invalidations
 *   (cpu.N.nr_tlb_local_flush_one), flushing context switches with a task
 *   of the trace on the CPU (cpu.N.switch_flush_task, counted from the mark
 *   the trailer's counts_start_mark names: the kernel's counts begin after
 *   the command's first exec);
 *   the machine: the same summed, local ranged flushes (tlb.local.partial),
 *   remote flushes started (tlb.nr_tlb_remote_flush), page faults (from the
 *   counts_start_mark too).
 *
 * Figures the kernel has and ptsim does not (interrupts actually raised,
 * reschedule IPIs) are listed with
 * "ptsim": null and a note saying why, never left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ptsim/ptsim.h"
#include "record/compare.h"

/* ---- the comparison ---- */

struct cmp {
	struct ptsim_machine *m;
	cJSON *real;          /* the trailer's "recorded" */
	cJSON *out;           /* the JSON result */
	FILE *text;           /* the text result */
	const char *start;    /* the mark where the kernel's counts begin (NULL: none, the replay's start) */
	unsigned int compared, differ;
};

static uint64_t jget(const cJSON *o, const char *path, bool *found)
{
	char buf[128], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = cJSON_GetObjectItemCaseSensitive(o, k);
	if (found)
		*found = o && cJSON_IsNumber(o);
	return o && cJSON_IsNumber(o) && o->valuedouble > 0 ? (uint64_t)o->valuedouble : 0;
}

/* The object at dotted @path under @root, created on the way. */
static cJSON *jpath(cJSON *root, const char *path, char *leaf, size_t leaflen)
{
	char buf[128], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	char *k = strtok_r(buf, ".", &save);
	for (char *next; k && (next = strtok_r(NULL, ".", &save)); k = next) {
		cJSON *c = cJSON_GetObjectItemCaseSensitive(root, k);
		if (!c)
			c = cJSON_AddObjectToObject(root, k);
		root = c;
	}
	snprintf(leaf, leaflen, "%s", k ? k : "");
	return root;
}

/* One compared figure: @path in @obj, @label for the text. */
static void row(struct cmp *c, cJSON *obj, const char *path, const char *label, uint64_t real, uint64_t sim)
{
	char leaf[64];
	cJSON *parent = jpath(obj, path, leaf, sizeof(leaf));
	cJSON *o = cJSON_AddObjectToObject(parent, leaf);
	int64_t diff = (int64_t)(sim - real);
	cJSON_AddNumberToObject(o, "real", (double)real);
	cJSON_AddNumberToObject(o, "ptsim", (double)sim);
	cJSON_AddNumberToObject(o, "diff", (double)diff);
	c->compared++;
	c->differ += diff != 0;
	fprintf(c->text, "    %-38s %10" PRIu64 " %10" PRIu64 " %+10" PRId64 "%s\n", label, real, sim, diff,
		diff ? "  <-" : "");
}

/* A real figure ptsim has no counterpart for, and why. */
static void row_alone(struct cmp *c, cJSON *obj, const char *path, const char *label, uint64_t real, const char *why)
{
	char leaf[64];
	cJSON *parent = jpath(obj, path, leaf, sizeof(leaf));
	cJSON *o = cJSON_AddObjectToObject(parent, leaf);
	cJSON_AddNumberToObject(o, "real", (double)real);
	cJSON_AddNullToObject(o, "ptsim");
	cJSON_AddStringToObject(o, "note", why);
	fprintf(c->text, "    %-38s %10" PRIu64 " %10s %10s  (%s)\n", label, real, "-", "", why);
}

static uint64_t sim_stat(struct cmp *c, const char *fmt, unsigned int cpu)
{
	char name[128];
	uint64_t v = 0;
	snprintf(name, sizeof(name), fmt, cpu);
	if (ptsim_stat(c->m, name, &v))
		v = 0;
	return v;
}

/*
 * Counter @name from the mark where the kernel's counts start (the command's
 * first exec) to the end: what the recorder counted of the kernel's.
 */
static uint64_t sim_since_start(struct cmp *c, const char *name)
{
	uint64_t now, before = 0;

	if (ptsim_stat(c->m, name, &now))
		return 0;
	if (c->start && ptsim_mark_stat(c->m, c->start, name, &before))
		before = 0;
	return now > before ? now - before : 0;
}

/*
 * Flushing context switches as the recorder counts them: those with a
 * recorded task on the CPU (not the stand-in of other processes, not an idle
 * CPU), after the command's first exec.
 */
static uint64_t sim_switch_flush(struct cmp *c, unsigned int cpu, bool total)
{
	char name[64];

	if (total)
		snprintf(name, sizeof(name), "tlb.switch_flush_task");
	else
		snprintf(name, sizeof(name), "cpu.%u.switch_flush_task", cpu);
	return sim_since_start(c, name);
}

static const char *const NO_IRQ = "interrupts raised (a call to a CPU with calls pending raises none): not modelled";
static const char *const NO_RESCHED = "scheduler IPIs: ptsim does not model the scheduler";

static void compare_cpu(struct cmp *c, cJSON *o, const cJSON *rc, unsigned int cpu, bool total)
{
	char name[96];
#define CPU_STAT(n) (snprintf(name, sizeof(name), "cpu.%%u.%s", n), sim_stat(c, name, cpu))
	row(c, o, "ipi.received.tlb_flush", "TLB-flush IPIs received", jget(rc, "ipi.received.tlb_flush", NULL),
	    total ? sim_stat(c, "ipi.received.tlb_flush", 0) : CPU_STAT("ipi_received.tlb_flush"));
	row(c, o, "ipi.received.table_sync", "table-sync IPIs received", jget(rc, "ipi.received.table_sync", NULL),
	    total ? sim_stat(c, "ipi.received.table_sync", 0) : CPU_STAT("ipi_received.table_sync"));
	static const char *const outcomes[][3] = {
		{ "full", "remote flushes: full", "remote.full" },
		{ "partial", "remote flushes: ranged", "remote.partial" },
		{ "wrong_cpu", "remote flushes: wrong CPU", "remote.wrong_cpu" },
		{ "lazy_to_init_mm", "remote flushes: lazy CPU to init_mm", "remote.lazy_to_init_mm" },
	};
	for (int i = 0; i < 4; i++) {
		char rpath[64], spath[64];
		snprintf(rpath, sizeof(rpath), "tlb.remote.%s", outcomes[i][0]);
		snprintf(spath, sizeof(spath), "tlb.%s", outcomes[i][2]);
		row(c, o, rpath, outcomes[i][1], jget(rc, rpath, NULL),
		    total ? sim_stat(c, spath, 0) : CPU_STAT(outcomes[i][2]));
	}
	if (total)
		row(c, o, "tlb.remote.noop", "remote flushes: nothing to do", jget(rc, "tlb.remote.noop", NULL),
		    sim_stat(c, "tlb.remote.noop", 0));
	row(c, o, "tlb.local.full", "local full flushes", jget(rc, "tlb.local.full", NULL),
	    total ? sim_stat(c, "tlb.local.full", 0) : CPU_STAT("nr_tlb_local_flush_all"));
	if (total)
		row(c, o, "tlb.local.partial", "local ranged flushes", jget(rc, "tlb.local.partial", NULL),
		    sim_stat(c, "tlb.local.partial", 0));
	row(c, o, "tlb.local.partial_pages", "local single-page invalidations", jget(rc, "tlb.local.partial_pages", NULL),
	    total ? sim_stat(c, "tlb.nr_tlb_local_flush_one", 0) : CPU_STAT("nr_tlb_local_flush_one"));
	if (total)
		row(c, o, "tlb.nr_tlb_remote_flush", "remote flushes started", jget(rc, "tlb.nr_tlb_remote_flush", NULL),
		    sim_stat(c, "tlb.nr_tlb_remote_flush", 0));
	row(c, o, "tlb.switch_flush", "context switches that flushed", jget(rc, "tlb.switch_flush", NULL),
	    sim_switch_flush(c, cpu, total));
	row(c, o, "ipi.sent.tlb_flush", "TLB-flush IPIs sent", jget(rc, "ipi.sent.tlb_flush", NULL),
	    total ? sim_stat(c, "ipi.received.tlb_flush", 0) : CPU_STAT("ipi_sent.tlb_flush"));
	row(c, o, "ipi.sent.table_sync", "table-sync IPIs sent", jget(rc, "ipi.sent.table_sync", NULL),
	    total ? sim_stat(c, "ipi.received.table_sync", 0) : CPU_STAT("ipi_sent.table_sync"));
	row_alone(c, o, "ipi.sent.interrupts", "interrupts raised for them", jget(rc, "ipi.sent.interrupts", NULL), NO_IRQ);
	row_alone(c, o, "ipi.sent.resched", "reschedule IPIs sent", jget(rc, "ipi.sent.resched", NULL), NO_RESCHED);
#undef CPU_STAT
}

static void compare_processes(struct cmp *c, cJSON *arr)
{
	const cJSON *procs = cJSON_GetObjectItemCaseSensitive(c->real, "processes");
	const cJSON *p;
	int i = 0;

	fprintf(c->text, "\nper process, at its end                         real      ptsim       diff\n");
	cJSON_ArrayForEach(p, procs) {
		const cJSON *ended = cJSON_GetObjectItemCaseSensitive(p, "ended");
		const cJSON *mark = cJSON_GetObjectItemCaseSensitive(p, "mark");
		const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(p, "tasks");
		const cJSON *comm = cJSON_GetObjectItemCaseSensitive(p, "comm");
		const cJSON *at = cJSON_GetObjectItemCaseSensitive(p, "at_end");
		const char *how = cJSON_IsString(ended) ? ended->valuestring : "running";
		int task = (int)jget(p, "last_task", NULL);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddNumberToObject(o, "pid", (double)jget(p, "pid", NULL));
		cJSON_AddStringToObject(o, "comm", cJSON_IsString(comm) ? comm->valuestring : "");
		cJSON_AddStringToObject(o, "ended", how);
		struct ptsim_mm_info mi;
		int rc = -ENOENT;
		if (cJSON_IsString(mark)) {
			rc = ptsim_mark_mm_info(c->m, mark->valuestring, task, &mi);
		} else {
			const cJSON *t;
			cJSON_ArrayForEach(t, tasks) {
				if (!cJSON_IsNumber(t))
					continue;
				task = t->valueint;
				if (!(rc = ptsim_mm_info_get(c->m, task, &mi)))
					break;
			}
		}
		cJSON_AddNumberToObject(o, "task", task);
		fprintf(c->text, "  pid %" PRIu64 " %s (task %d, %s)\n", jget(p, "pid", NULL),
			cJSON_IsString(comm) ? comm->valuestring : "", task, how);
		const char *sfx = !strcmp(how, "exit") ? "at_exit" : !strcmp(how, "exec") ? "at_exec" : "at_stop";
		char path[64];
		if (!cJSON_IsObject(at)) {
			cJSON_AddStringToObject(o, "note", "the kernel's figures could not be read (no stop at its end)");
			fprintf(c->text, "    (the kernel's figures could not be read: no stop at its end)\n");
			i++;
			continue;
		}
		if (rc) {
			cJSON_AddStringToObject(o, "note", "ptsim has no figures for it (its mark or task was not found)");
			fprintf(c->text, "    (ptsim has no figures for it: its mark or task was not found)\n");
			i++;
			continue;
		}
		struct { const char *key, *label, *real; uint64_t sim; } f[] = {
			{ "vmpte_kb", "VmPTE kB", "vmpte_kb", mi.vmpte_kb },
			{ "rss_anon_kb", "RssAnon kB", "rss_kb.anon", mi.rss_anon_kb },
			{ "rss_file_kb", "RssFile kB", "rss_kb.file", mi.rss_file_kb },
			{ "rss_shmem_kb", "RssShmem kB", "rss_kb.shmem", mi.rss_shmem_kb },
			{ "hugetlb_kb", "HugetlbPages kB", "hugetlb_kb", mi.hugetlb_kb },
			{ "vmhwm_kb", "VmHWM kB (peak RSS)", "vmhwm_kb", mi.rss_hwm_kb },
		};
		for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			snprintf(path, sizeof(path), "%s_%s", f[k].key, sfx);
			row(c, o, path, f[k].label, jget(at, f[k].real, NULL), f[k].sim);
		}
		i++;
	}
}

int rec_compare(const struct rec_compare_opts *o, FILE *out, unsigned int *differ, char *err, size_t errlen)
{
	struct cmp c = { 0 };
	struct ptsim_trace *t = NULL;
	char *text = NULL;
	size_t text_len = 0;
	cJSON *trailer = NULL;
	int status = 2, rc;

	*differ = 0;
	if ((rc = ptsim_trace_load_file(&t, o->path, err, errlen)))
		goto out;
	for (const char *const *s = o->set; s && *s; s++)
		if (ptsim_trace_config_add(t, *s)) {
			snprintf(err, errlen, "out of memory");
			status = 1;
			goto out;
		}
	struct ptsim_config cfg;
	ptsim_trace_config(t, &cfg);
	if (o->preset)
		cfg.preset = o->preset;
	char merr[512];
	if ((rc = ptsim_machine_create(&c.m, &cfg, merr, sizeof(merr)))) {
		snprintf(err, errlen, "machine: %s", merr);
		goto out;
	}
	if ((rc = ptsim_trace_run(t, c.m))) {
		snprintf(err, errlen, "%s", ptsim_machine_errmsg(c.m));
		goto out;
	}
	/* The real counts: the trailer, known once the replay has read it. */
	const char *rec = ptsim_trace_recorded(t);
	trailer = rec ? cJSON_Parse(rec) : NULL;
	c.real = trailer;
	if (!cJSON_IsObject(c.real)) {
		snprintf(err, errlen, "no \"recorded\" object: not a recording made by ptsim record");
		goto out;
	}
	c.text = open_memstream(&text, &text_len);
	c.out = cJSON_CreateObject();
	if (!c.text || !c.out) {
		snprintf(err, errlen, "out of memory");
		status = 1;
		goto out;
	}

	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(c.real, "command");
	const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(c.real, "kernel");
	const cJSON *complete = cJSON_GetObjectItemCaseSensitive(c.real, "complete");
	const cJSON *warnings = cJSON_GetObjectItemCaseSensitive(c.real, "warnings");
	const char *preset = o->preset ? o->preset : cfg.preset ? cfg.preset : PTSIM_DEFAULT_PRESET;
	cJSON_AddStringToObject(c.out, "file", o->path);
	cJSON_AddStringToObject(c.out, "kernel", cJSON_IsString(kernel) ? kernel->valuestring : "?");
	cJSON_AddStringToObject(c.out, "preset", preset);
	cJSON_AddNumberToObject(c.out, "nr_cpus", cfg.cpus);
	cJSON_AddBoolToObject(c.out, "complete", cJSON_IsTrue(complete));
	fprintf(c.text, "compare-real: %s\n  recorded:", o->path);
	const cJSON *a;
	cJSON_ArrayForEach(a, cmd)
		fprintf(c.text, " %s", cJSON_IsString(a) ? a->valuestring : "?");
	fprintf(c.text, "\n  on Linux %s, %u CPUs; replayed with preset %s\n", cJSON_IsString(kernel) ? kernel->valuestring : "?",
		cfg.cpus, preset);
	if (!cJSON_IsTrue(complete))
		fprintf(c.text, "  INCOMPLETE recording (stopped early or events lost): the figures need not agree\n");
	const cJSON *start = cJSON_GetObjectItemCaseSensitive(c.real, "counts_start_mark");
	uint64_t unused;
	if (cJSON_IsString(start) && !ptsim_mark_stat(c.m, start->valuestring, "tlb.switch_flush_task", &unused))
		c.start = start->valuestring;
	if (c.start) {
		cJSON_AddStringToObject(c.out, "counts_start_mark", c.start);
	} else {
		cJSON_AddNullToObject(c.out, "counts_start_mark");
		fprintf(c.text, "  no mark where the kernel's counts start (an older recorder): ptsim's "
			"flushing switches\n  include the command's spawn and first exec\n");
	}
	uint64_t unseen = jget(c.real, "events.unseen_switches", NULL);
	cJSON_AddNumberToObject(c.out, "unseen_switches", (double)unseen);
	if (unseen)
		fprintf(c.text, "  %" PRIu64 " switch%s to a recorded task left no trace event (its task's next event came from\n"
			"  that CPU): ptsim switched there, and may have flushed where the kernel's flush went untraced\n",
			unseen, unseen == 1 ? "" : "es");
	uint64_t races = jget(c.real, "totals.switch_races", NULL);
	cJSON_AddNumberToObject(c.out, "switch_races", (double)races);
	if (races)
		fprintf(c.text, "  %" PRIu64 " remote flush%s met another CPU in a context switch: the kernel may have "
			"flushed it there,\n  which the trace's order cannot say (IPI counts may differ by that much)\n",
			races, races == 1 ? "" : "es");
	cJSON *w = cJSON_AddArrayToObject(c.out, "warnings");
	cJSON_ArrayForEach(a, warnings) {
		if (cJSON_IsString(a)) {
			cJSON_AddItemToArray(w, cJSON_CreateString(a->valuestring));
			fprintf(c.text, "  warning: %s\n", a->valuestring);
		}
	}

	compare_processes(&c, cJSON_AddArrayToObject(c.out, "processes"));
	fprintf(c.text, "\nper CPU                                         real      ptsim       diff\n");
	cJSON *cpus = cJSON_AddArrayToObject(c.out, "cpus");
	const cJSON *rcpu;
	cJSON_ArrayForEach(rcpu, cJSON_GetObjectItemCaseSensitive(c.real, "cpus")) {
		unsigned int n = (unsigned int)jget(rcpu, "cpu", NULL);
		cJSON *co = cJSON_CreateObject();
		cJSON_AddNumberToObject(co, "cpu", n);
		cJSON_AddItemToArray(cpus, co);
		fprintf(c.text, "  cpu %u\n", n);
		compare_cpu(&c, co, rcpu, n, false);
	}
	fprintf(c.text, "\nthe machine                                     real      ptsim       diff\n");
	cJSON *tot = cJSON_AddObjectToObject(c.out, "totals");
	compare_cpu(&c, tot, cJSON_GetObjectItemCaseSensitive(c.real, "totals"), 0, true);
	/* The recorder counts the faults from the command's first exec's event on (not those inside it). */
	row(&c, tot, "faults", "page faults (ptsim: handle_mm_fault)", jget(c.real, "events.faults", NULL),
	    sim_since_start(&c, "faults.total"));
	cJSON_AddNumberToObject(c.out, "compared", c.compared);
	cJSON_AddNumberToObject(c.out, "differ", c.differ);
	fprintf(c.text, "\n%u of %u compared figures differ\n", c.differ, c.compared);
	*differ = c.differ;
	if (fclose(c.text)) {
		c.text = NULL;
		snprintf(err, errlen, "out of memory");
		status = 1;
		goto out;
	}
	c.text = NULL;
	if (o->json) {
		char *s = cJSON_PrintUnformatted(c.out);
		if (!s) {
			snprintf(err, errlen, "out of memory");
			status = 1;
			goto out;
		}
		fprintf(out, "%s\n", s);
		cJSON_free(s);
	} else {
		fwrite(text, 1, text_len, out);
	}
	status = fflush(out) || ferror(out) ? 1 : 0;
	if (status)
		snprintf(err, errlen, "cannot write the comparison: %s", strerror(errno));
out:
	if (c.text)
		fclose(c.text);
	free(text);
	cJSON_Delete(c.out);
	cJSON_Delete(trailer);
	ptsim_machine_destroy(c.m);
	ptsim_trace_free(t);
	return status;
}
