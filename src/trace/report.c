/*
 * Results as JSON (cJSON) and as a readable summary table.
 *
 * JSON layout: {"ptsim_version", "machine": {...resolved config, every
 * variant spelled out...}, "events": N, "marks": [{"name", "event", "mms",
 * "counters", "cpus"}], "final": {"mms", "counters", "cpus"}, "violations":
 * [...]}.  Counters nest by their dotted names; "cpus" lists only CPUs with a
 * non-zero counter.  Key order is fixed and no host pointer appears, so the
 * same trace and config give the same bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arch/arch.h"
#include "mm/internal.h"
#include "util/strbuf.h"

/* Put @value at dotted @path under @root, creating the objects on the way. */
static void put_path(cJSON *root, const char *path, double value)
{
	char buf[128];
	char *seg, *save = NULL;
	cJSON *node = root;

	snprintf(buf, sizeof(buf), "%s", path);
	seg = strtok_r(buf, ".", &save);
	while (seg) {
		char *next = strtok_r(NULL, ".", &save);
		if (!next) {
			cJSON_AddNumberToObject(node, seg, value);
			return;
		}
		cJSON *child = cJSON_GetObjectItemCaseSensitive(node, seg);
		if (!child)
			child = cJSON_AddObjectToObject(node, seg);
		node = child;
		seg = next;
	}
}

static cJSON *counters_json(const uint64_t *stats)
{
	cJSON *c = cJSON_CreateObject();
	for (size_t i = 0; i < NR_STATS; i++)
		put_path(c, sim_stat_names[i], (double)stats[i]);
	return c;
}

static bool cpu_stats_zero(const uint64_t *s)
{
	for (size_t i = 0; i < NR_CPU_STATS; i++)
		if (s[i])
			return false;
	return true;
}

/* @per_cpu: a mark's nr_cpus * NR_CPU_STATS counters, or NULL for the CPUs' counters now. */
static cJSON *cpus_json(const struct ptsim_machine *m, const uint64_t *per_cpu)
{
	cJSON *arr = cJSON_CreateArray();
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const uint64_t *s = per_cpu ? &per_cpu[(size_t)c * NR_CPU_STATS] : m->cpus[c].stats;
		if (cpu_stats_zero(s))
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "cpu", c);
		for (size_t i = 0; i < NR_CPU_STATS; i++)
			put_path(o, sim_cpu_stat_names[i], (double)s[i]);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static cJSON *mm_json(const struct ptsim_mm_info *mi)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "task", mi->task);
	cJSON_AddNumberToObject(o, "users", mi->users);
	cJSON_AddNumberToObject(o, "vmpte_kb", (double)mi->vmpte_kb);
	cJSON_AddNumberToObject(o, "vmpte_peak_kb", (double)mi->vmpte_peak_kb);
	cJSON *rss = cJSON_AddObjectToObject(o, "rss_kb");
	cJSON_AddNumberToObject(rss, "file", (double)mi->rss_file_kb);
	cJSON_AddNumberToObject(rss, "anon", (double)mi->rss_anon_kb);
	cJSON_AddNumberToObject(rss, "swap", (double)mi->swap_kb);
	cJSON_AddNumberToObject(rss, "shmem", (double)mi->rss_shmem_kb);
	cJSON_AddNumberToObject(o, "hugetlb_kb", (double)mi->hugetlb_kb);
	cJSON *pt = cJSON_AddObjectToObject(o, "pgtables");
	cJSON_AddNumberToObject(pt, "pte", (double)mi->pgtables[0]);
	cJSON_AddNumberToObject(pt, "pmd", (double)mi->pgtables[1]);
	cJSON_AddNumberToObject(pt, "pud", (double)mi->pgtables[2]);
	cJSON_AddNumberToObject(pt, "p4d", (double)mi->pgtables[3]);
	cJSON_AddNumberToObject(o, "vmas", mi->nr_vmas);
	return o;
}

static void emit_json(void *ctx, const char *key, const char *value)
{
	cJSON_AddStringToObject((cJSON *)ctx, key, value);
}

static cJSON *machine_json(struct ptsim_machine *m)
{
	cJSON *o = cJSON_CreateObject();
	if (m->ops->describe)
		m->ops->describe(m, emit_json, o);
	cJSON_AddNumberToObject(o, "cpus", m->nr_cpus);
	cJSON_AddStringToObject(o, "preset", m->preset);
	cJSON_AddNumberToObject(o, "seed", (double)m->cfg.seed);
	cJSON *v = cJSON_AddObjectToObject(o, "variants");
	ptsim__variants_describe(&m->v, emit_json, v);
	return o;
}

static cJSON *live_mms_json(struct ptsim_machine *m)
{
	cJSON *arr = cJSON_CreateArray();
	for (struct mm_struct *mm = m->mms; mm; mm = mm->next) {
		if (mm->mm_users <= 0)
			continue;
		struct ptsim_mm_info mi;
		if (ptsim_mm_info_get(m, mm_lowest_task(mm), &mi) == 0)
			cJSON_AddItemToArray(arr, mm_json(&mi));
	}
	return arr;
}

PTSIM_API char *ptsim_report_json(struct ptsim_machine *m)
{
	cJSON *root = cJSON_CreateObject();
	char buf[32];

	sim_stats_fold(m);
	cJSON_AddStringToObject(root, "ptsim_version", PTSIM_VERSION_STRING);
	cJSON_AddItemToObject(root, "machine", machine_json(m));
	cJSON_AddNumberToObject(root, "events", (double)m->event);

	cJSON *marks = cJSON_AddArrayToObject(root, "marks");
	for (size_t i = 0; i < m->nr_marks; i++) {
		const struct sim_mark *mk = &m->marks[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", mk->name);
		cJSON_AddNumberToObject(o, "event", (double)mk->event);
		cJSON *mms = cJSON_AddArrayToObject(o, "mms");
		for (unsigned int k = 0; k < mk->nr_mms; k++)
			cJSON_AddItemToArray(mms, mm_json(&mk->mms[k]));
		cJSON_AddItemToObject(o, "counters", counters_json(mk->stats));
		cJSON_AddItemToObject(o, "cpus", cpus_json(m, mk->cpu_stats));
		cJSON_AddItemToArray(marks, o);
	}

	cJSON *fin = cJSON_AddObjectToObject(root, "final");
	cJSON_AddItemToObject(fin, "mms", live_mms_json(m));
	cJSON_AddItemToObject(fin, "counters", counters_json(m->stats));
	cJSON_AddItemToObject(fin, "cpus", cpus_json(m, NULL));

	cJSON *viol = cJSON_AddArrayToObject(root, "violations");
	for (size_t i = 0; i < m->nr_viol; i++) {
		const struct sim_violation *v = &m->viol[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "kind", ptsim_violation_kind_name(v->kind));
		cJSON_AddNumberToObject(o, "event", (double)v->event);
		cJSON_AddNumberToObject(o, "cpu", v->cpu);
		snprintf(buf, sizeof(buf), "0x%" PRIx64, v->addr);
		cJSON_AddStringToObject(o, "addr", buf);
		cJSON_AddNumberToObject(o, "pfn", (double)v->pfn);
		cJSON_AddStringToObject(o, "message", v->message ? v->message : "");
		cJSON_AddStringToObject(o, "backtrace", v->backtrace ? v->backtrace : "");
		cJSON_AddItemToArray(viol, o);
	}
	char *out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!out)
		return NULL;
	/* Hand the caller memory it frees with ptsim_free() (free()). */
	char *copy = strdup(out);
	cJSON_free(out);
	return copy;
}

/* ---- the readable table ---- */

static void emit_text(void *ctx, const char *key, const char *value)
{
	strbuf_addf((struct strbuf *)ctx, " %s=%s", key, value);
}

/* VmPTE summed over the mms live at a mark. */
static uint64_t mark_vmpte_kb(const struct sim_mark *mk)
{
	uint64_t kb = 0;
	for (unsigned int k = 0; k < mk->nr_mms; k++)
		kb += mk->mms[k].vmpte_kb;
	return kb;
}

PTSIM_API char *ptsim_report_text(struct ptsim_machine *m)
{
	struct strbuf sb;

	sim_stats_fold(m);
	strbuf_init(&sb);
	strbuf_addf(&sb, "ptsim %s  machine:", PTSIM_VERSION_STRING);
	if (m->ops->describe)
		m->ops->describe(m, emit_text, &sb);
	strbuf_addf(&sb, " cpus=%u preset=%s\n", m->nr_cpus, m->preset);
	strbuf_adds(&sb, "variants:");
	ptsim__variants_describe(&m->v, emit_text, &sb);
	strbuf_addf(&sb, "\nevents: %" PRIu64 "\n\n", m->event);

	unsigned int live = 0;
	for (struct mm_struct *mm = m->mms; mm; mm = mm->next)
		live += mm->mm_users > 0;
	if (!live)
		strbuf_adds(&sb, "live address spaces: none (every process has exited)\n");
	else
		strbuf_adds(&sb, "live address spaces\n"
				 "  task users  VmPTE kB  peak kB   RssAnon kB  RssFile kB RssShmem kB   Hugetlb kB   pte   pmd   pud vmas\n");
	for (struct mm_struct *mm = m->mms; mm; mm = mm->next) {
		struct ptsim_mm_info mi;
		if (mm->mm_users <= 0 || ptsim_mm_info_get(m, mm_lowest_task(mm), &mi))
			continue;
		strbuf_addf(&sb, "  %4d %5u %9" PRIu64 " %8" PRIu64 " %12" PRIu64 " %11" PRIu64 " %11" PRIu64 " %12" PRIu64
				 " %5" PRIu64 " %5" PRIu64 " %5" PRIu64 " %4u\n",
			    mi.task, mi.users, mi.vmpte_kb, mi.vmpte_peak_kb, mi.rss_anon_kb, mi.rss_file_kb, mi.rss_shmem_kb, mi.hugetlb_kb,
			    mi.pgtables[0], mi.pgtables[1], mi.pgtables[2], mi.nr_vmas);
	}

	if (m->nr_marks) {
		strbuf_adds(&sb, "\nmarks (counters at each mark)\n");
		strbuf_adds(&sb, "  name                      event   ipi.calls  ipi.recv  flush_req  remote_flush  faults  pgt_alloc  pgt_freed  VmPTE_kB\n");
		for (size_t i = 0; i < m->nr_marks; i++) {
			const struct sim_mark *mk = &m->marks[i];
			const uint64_t *s = mk->stats;
			uint64_t vmpte = mark_vmpte_kb(mk);
			strbuf_addf(&sb, "  %-24.24s %6" PRIu64 " %11" PRIu64 " %9" PRIu64 " %10" PRIu64 " %13" PRIu64
					 " %7" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64 "\n",
				    mk->name, mk->event,
				    s[ST_IPI_CALLS_TLB_FLUSH] + s[ST_IPI_CALLS_TABLE_SYNC] + s[ST_IPI_CALLS_FLUSH_ALL],
				    s[ST_IPI_RECV_TLB_FLUSH] + s[ST_IPI_RECV_TABLE_SYNC] + s[ST_IPI_RECV_FLUSH_ALL],
				    s[ST_TLB_FLUSH_REQUESTS], s[ST_NR_TLB_REMOTE_FLUSH], s[ST_FAULTS_TOTAL],
				    s[ST_PGT_ALLOC_PTE] + s[ST_PGT_ALLOC_PMD] + s[ST_PGT_ALLOC_PUD] + s[ST_PGT_ALLOC_P4D],
				    s[ST_PGT_FREE_PTE] + s[ST_PGT_FREE_PMD] + s[ST_PGT_FREE_PUD] + s[ST_PGT_FREE_P4D], vmpte);
		}
	}

	strbuf_adds(&sb, "\ncounters (non-zero)\n");
	for (size_t i = 0; i < NR_STATS; i++)
		if (m->stats[i])
			strbuf_addf(&sb, "  %-40s %14" PRIu64 "\n", sim_stat_names[i], m->stats[i]);

	strbuf_adds(&sb, "\nper CPU: IPIs received (tlb_flush / table_sync / flush_all), TLB hits / misses\n");
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const uint64_t *s = m->cpus[c].stats;
		if (cpu_stats_zero(s))
			continue;
		strbuf_addf(&sb, "  cpu %-4u %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "   %12" PRIu64 " %10" PRIu64 "\n", c,
			    s[CST_IPI_RECV_TLB_FLUSH], s[CST_IPI_RECV_TABLE_SYNC], s[CST_IPI_RECV_FLUSH_ALL], s[CST_TLB_HITS],
			    s[CST_TLB_MISSES]);
	}

	strbuf_addf(&sb, "\nviolations: %zu\n", m->nr_viol);
	for (size_t i = 0; i < m->nr_viol; i++) {
		const struct sim_violation *v = &m->viol[i];
		strbuf_addf(&sb, "  [%s] event %" PRIu64 " cpu %d addr %#" PRIx64 ": %s\n      at %s\n",
			    ptsim_violation_kind_name(v->kind), v->event, v->cpu, v->addr, v->message ? v->message : "",
			    v->backtrace ? v->backtrace : "?");
		if (i == 49 && m->nr_viol > 50) {
			strbuf_addf(&sb, "  ... %zu more (see --json)\n", m->nr_viol - 50);
			break;
		}
	}
	return strbuf_detach(&sb);
}

/* A mark name as one CSV field: quoted when it holds a comma or a quote. */
static void csv_field(struct strbuf *sb, const char *s)
{
	if (!strpbrk(s, ",\"")) {
		strbuf_adds(sb, s);
		return;
	}
	strbuf_adds(sb, "\"");
	for (; *s; s++)
		strbuf_addf(sb, *s == '"' ? "\"\"" : "%c", *s);
	strbuf_adds(sb, "\"");
}

static void csv_row(struct strbuf *sb, const char *name, uint64_t event, uint64_t vmpte_kb, const uint64_t *stats)
{
	csv_field(sb, name);
	strbuf_addf(sb, ",%" PRIu64 ",%" PRIu64, event, vmpte_kb);
	for (size_t i = 0; i < NR_STATS; i++)
		strbuf_addf(sb, ",%" PRIu64, stats[i]);
	strbuf_adds(sb, "\n");
}

PTSIM_API char *ptsim_report_timeline_csv(struct ptsim_machine *m)
{
	struct strbuf sb;

	sim_stats_fold(m);
	strbuf_init(&sb);
	strbuf_adds(&sb, "mark,event,vmpte_kb");
	for (size_t i = 0; i < NR_STATS; i++)
		strbuf_addf(&sb, ",%s", sim_stat_names[i]);
	strbuf_adds(&sb, "\n");
	for (size_t i = 0; i < m->nr_marks; i++) {
		const struct sim_mark *mk = &m->marks[i];
		csv_row(&sb, mk->name, mk->event, mark_vmpte_kb(mk), mk->stats);
	}
	uint64_t vmpte = 0;
	for (struct mm_struct *mm = m->mms; mm; mm = mm->next)
		if (mm->mm_users > 0)
			vmpte += (uint64_t)mm->pgtables_bytes >> 10;
	csv_row(&sb, "end", m->event, vmpte, m->stats);
	if (sb.oom) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}
