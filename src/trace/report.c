/*
 * Results as JSON (cJSON), as a readable summary table and as a CSV timeline.
 *
 * JSON layout: {"ptsim_version", "machine": {...resolved config, every
 * variant spelled out...}, "events": N, "clock_ns": T, "marks": [{"index",
 * "name", "iteration", "event", "clock_ns", "mms", "counters", "cpus"}],
 * "final": {"mms", "counters", "cpus"}, "exits": [...], "event_results": [...]
 * (only when recorded: ptsim run --events), "violations": [...]}.  Counters nest
 * by their dotted names; "cpus" lists only CPUs with a non-zero counter.  Key
 * order is fixed and no host pointer appears, so the same trace and config
 * give the same bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arch/arch.h"
#include "mm/internal.h"
#include "util/strbuf.h"

/*
 * The JSON builder.  Every integer is exact: cJSON keeps numbers as doubles,
 * which hold integers exactly only up to 2^53, so larger ones go out as raw
 * number text.  Any allocation that fails marks the build failed (no key is
 * silently left out): the report is then NULL.
 */
struct jb {
	bool oom;
};

#define JSON_EXACT_MAX (1ull << 53)

static cJSON *jb_u64(struct jb *b, uint64_t v)
{
	cJSON *n;

	if (v <= JSON_EXACT_MAX) {
		n = cJSON_CreateNumber((double)v);
	} else {
		char buf[24];
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
		n = cJSON_CreateRaw(buf);
	}
	if (!n)
		b->oom = true;
	return n;
}

/* Signed figures (a CPU of -1, a task id) are small: a double holds them exactly. */
static cJSON *jb_int(struct jb *b, long long v)
{
	cJSON *n = cJSON_CreateNumber((double)v);
	if (!n)
		b->oom = true;
	return n;
}

static cJSON *jb_str(struct jb *b, const char *s)
{
	cJSON *n = cJSON_CreateString(s);
	if (!n)
		b->oom = true;
	return n;
}

static cJSON *jb_null(struct jb *b)
{
	cJSON *n = cJSON_CreateNull();
	if (!n)
		b->oom = true;
	return n;
}

static cJSON *jb_new(struct jb *b, bool array)
{
	cJSON *n = array ? cJSON_CreateArray() : cJSON_CreateObject();
	if (!n)
		b->oom = true;
	return n;
}

/* Add @item to object @o under @key (an array when @key is NULL); returns @item. */
static cJSON *jb_add(struct jb *b, cJSON *o, const char *key, cJSON *item)
{
	if (!item || !o || !(key ? cJSON_AddItemToObject(o, key, item) : cJSON_AddItemToArray(o, item))) {
		cJSON_Delete(item);
		b->oom = true;
		return NULL;
	}
	return item;
}

/* Put @value at dotted @path under @root, creating the objects on the way. */
static void put_path(struct jb *b, cJSON *root, const char *path, uint64_t value)
{
	char buf[128];
	char *seg, *save = NULL;
	cJSON *node = root;

	snprintf(buf, sizeof(buf), "%s", path);
	seg = strtok_r(buf, ".", &save);
	while (seg && node) {
		char *next = strtok_r(NULL, ".", &save);
		if (!next) {
			jb_add(b, node, seg, jb_u64(b, value));
			return;
		}
		cJSON *child = cJSON_GetObjectItemCaseSensitive(node, seg);
		if (!child)
			child = jb_add(b, node, seg, jb_new(b, false));
		node = child;
		seg = next;
	}
}

static cJSON *counters_json(struct jb *b, const uint64_t *stats)
{
	cJSON *c = jb_new(b, false);
	for (size_t i = 0; i < NR_STATS && c; i++)
		put_path(b, c, sim_stat_names[i], stats[i]);
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
static cJSON *cpus_json(struct jb *b, const struct ptsim_machine *m, const uint64_t *per_cpu)
{
	cJSON *arr = jb_new(b, true);
	for (unsigned int c = 0; c < m->nr_cpus && arr; c++) {
		const uint64_t *s = per_cpu ? &per_cpu[(size_t)c * NR_CPU_STATS] : m->cpus[c].stats;
		if (cpu_stats_zero(s))
			continue;
		cJSON *o = jb_add(b, arr, NULL, jb_new(b, false));
		if (!o)
			break;
		jb_add(b, o, "cpu", jb_int(b, c));
		for (size_t k = 0; k < NR_CPU_STATS; k++) {
			unsigned int i = sim_cpu_stat_report_order[k];
			put_path(b, o, sim_cpu_stat_names[i], s[i]);
		}
	}
	return arr;
}

/* The figures of an mm, as /proc/PID/status has them, into object @o. */
static void mm_figures_json(struct jb *b, cJSON *o, const struct ptsim_mm_info *mi)
{
	jb_add(b, o, "vmpte_kb", jb_u64(b, mi->vmpte_kb));
	jb_add(b, o, "vmpte_peak_kb", jb_u64(b, mi->vmpte_peak_kb));
	cJSON *rss = jb_add(b, o, "rss_kb", jb_new(b, false));
	jb_add(b, rss, "file", jb_u64(b, mi->rss_file_kb));
	jb_add(b, rss, "anon", jb_u64(b, mi->rss_anon_kb));
	jb_add(b, rss, "swap", jb_u64(b, mi->swap_kb));
	jb_add(b, rss, "shmem", jb_u64(b, mi->rss_shmem_kb));
	jb_add(b, o, "rss_hwm_kb", jb_u64(b, mi->rss_hwm_kb));
	jb_add(b, o, "hugetlb_kb", jb_u64(b, mi->hugetlb_kb));
	cJSON *pt = jb_add(b, o, "pgtables", jb_new(b, false));
	jb_add(b, pt, "pte", jb_u64(b, mi->pgtables[0]));
	jb_add(b, pt, "pmd", jb_u64(b, mi->pgtables[1]));
	jb_add(b, pt, "pud", jb_u64(b, mi->pgtables[2]));
	jb_add(b, pt, "p4d", jb_u64(b, mi->pgtables[3]));
	jb_add(b, o, "vmas", jb_u64(b, mi->nr_vmas));
}

static cJSON *mm_json(struct jb *b, const struct ptsim_mm_info *mi)
{
	cJSON *o = jb_new(b, false);
	if (!o)
		return NULL;
	jb_add(b, o, "task", jb_int(b, mi->task));
	jb_add(b, o, "mm", jb_u64(b, mi->mm));
	jb_add(b, o, "users", jb_u64(b, mi->users));
	mm_figures_json(b, o, mi);
	return o;
}

static cJSON *exit_json(struct jb *b, size_t index, const struct sim_exit *e)
{
	cJSON *o = jb_new(b, false);
	if (!o)
		return NULL;
	jb_add(b, o, "index", jb_u64(b, index));
	jb_add(b, o, "task", jb_int(b, e->task));
	jb_add(b, o, "cause", jb_str(b, ptsim_exit_cause_name(e->cause)));
	jb_add(b, o, "event", jb_u64(b, e->event));
	jb_add(b, o, "clock_ns", jb_u64(b, e->clock_ns));
	jb_add(b, o, "mm", jb_u64(b, e->mi.mm));
	mm_figures_json(b, o, &e->mi);
	return o;
}

struct json_emit {
	struct jb *b;
	cJSON *o;
};

/* A configuration entry with its type: a number, a boolean ("on"/"off"), or a string. */
static void emit_json(void *ctx, const char *key, enum sim_desc_type type, const char *text)
{
	struct json_emit *e = ctx;
	cJSON *item;

	if (type == DESC_NUMBER)
		item = jb_u64(e->b, strtoull(text, NULL, 10));
	else if (type == DESC_BOOL)
		item = cJSON_CreateBool(!strcmp(text, "on"));
	else
		item = cJSON_CreateString(text);
	jb_add(e->b, e->o, key, item);
}

static cJSON *machine_json(struct jb *b, struct ptsim_machine *m)
{
	struct json_emit e = { b, jb_new(b, false) };
	if (!e.o)
		return NULL;
	if (m->ops->describe)
		m->ops->describe(m, emit_json, &e);
	jb_add(b, e.o, "cpus", jb_u64(b, m->nr_cpus));
	jb_add(b, e.o, "preset", jb_str(b, m->preset));
	jb_add(b, e.o, "seed", jb_u64(b, m->cfg.seed));
	struct json_emit ev = { b, jb_add(b, e.o, "variants", jb_new(b, false)) };
	if (ev.o)
		ptsim__variants_describe(&m->v, emit_json, &ev);
	return e.o;
}

static cJSON *live_mms_json(struct jb *b, struct ptsim_machine *m)
{
	cJSON *arr = jb_new(b, true);
	for (struct mm_struct *mm = m->mms; mm && arr; mm = mm->next) {
		if (mm->mm_users <= 0)
			continue;
		struct ptsim_mm_info mi;
		if (ptsim_mm_info_get(m, mm_lowest_task(mm), &mi) == 0)
			jb_add(b, arr, NULL, mm_json(b, &mi));
	}
	return arr;
}

static cJSON *mark_json(struct jb *b, struct ptsim_machine *m, const struct sim_mark *mk)
{
	cJSON *o = jb_new(b, false);
	if (!o)
		return NULL;
	jb_add(b, o, "index", jb_u64(b, (uint64_t)(mk - m->marks)));
	jb_add(b, o, "name", jb_str(b, mk->name));
	cJSON *it = jb_add(b, o, "iteration", jb_new(b, true));
	for (unsigned int d = 0; d < mk->depth && it; d++)
		jb_add(b, it, NULL, jb_u64(b, mk->iteration[d]));
	jb_add(b, o, "event", jb_u64(b, mk->event));
	jb_add(b, o, "clock_ns", jb_u64(b, mk->clock_ns));
	cJSON *mms = jb_add(b, o, "mms", jb_new(b, true));
	for (unsigned int k = 0; k < mk->nr_mms && mms; k++)
		jb_add(b, mms, NULL, mm_json(b, &mk->mms[k]));
	jb_add(b, o, "counters", counters_json(b, mk->stats));
	jb_add(b, o, "cpus", cpus_json(b, m, mk->cpu_stats));
	return o;
}

/* --events: {"index", "event", "line" (null in v1), "op", "task" (null: none), "as", "addr" ("0x..."), "result"}. */
static cJSON *event_result_json(struct jb *b, size_t index, const struct sim_event_result *e)
{
	char buf[32];
	cJSON *o = jb_new(b, false);
	if (!o)
		return NULL;
	jb_add(b, o, "index", jb_u64(b, index));
	jb_add(b, o, "event", jb_u64(b, e->event));
	jb_add(b, o, "line", e->line ? jb_u64(b, e->line) : jb_null(b));
	jb_add(b, o, "op", jb_str(b, e->op));
	jb_add(b, o, "task", e->task >= 0 ? jb_int(b, e->task) : jb_null(b));
	jb_add(b, o, "as", e->as ? jb_str(b, e->as) : jb_null(b));
	snprintf(buf, sizeof(buf), "0x%" PRIx64, e->addr);
	jb_add(b, o, "addr", e->has_addr ? jb_str(b, buf) : jb_null(b));
	jb_add(b, o, "result", jb_str(b, e->result ? ptsim_errname(e->result) : "ok"));
	return o;
}

static cJSON *violation_json(struct jb *b, const struct sim_violation *v)
{
	char buf[32];
	cJSON *o = jb_new(b, false);
	if (!o)
		return NULL;
	jb_add(b, o, "kind", jb_str(b, ptsim_violation_kind_name(v->kind)));
	jb_add(b, o, "event", jb_u64(b, v->event));
	jb_add(b, o, "cpu", jb_int(b, v->cpu));
	snprintf(buf, sizeof(buf), "0x%" PRIx64, v->addr);
	jb_add(b, o, "addr", jb_str(b, buf));
	jb_add(b, o, "pfn", jb_u64(b, v->pfn));
	jb_add(b, o, "message", jb_str(b, v->message ? v->message : ""));
	jb_add(b, o, "backtrace", jb_str(b, v->backtrace ? v->backtrace : ""));
	return o;
}

PTSIM_API char *ptsim_report_json(struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, NULL);
	struct jb b = { false };
	cJSON *root = jb_new(&b, false);

	if (!root)
		return NULL;
	sim_stats_fold(m);
	jb_add(&b, root, "ptsim_version", jb_str(&b, PTSIM_VERSION_STRING));
	jb_add(&b, root, "machine", machine_json(&b, m));
	jb_add(&b, root, "events", jb_u64(&b, m->event));
	jb_add(&b, root, "clock_ns", jb_u64(&b, m->clock_ns));

	cJSON *marks = jb_add(&b, root, "marks", jb_new(&b, true));
	for (size_t i = 0; i < m->nr_marks && marks && !b.oom; i++)
		jb_add(&b, marks, NULL, mark_json(&b, m, &m->marks[i]));

	cJSON *fin = jb_add(&b, root, "final", jb_new(&b, false));
	jb_add(&b, fin, "mms", live_mms_json(&b, m));
	jb_add(&b, fin, "counters", counters_json(&b, m->stats));
	jb_add(&b, fin, "cpus", cpus_json(&b, m, NULL));

	cJSON *exits = jb_add(&b, root, "exits", jb_new(&b, true));
	for (size_t i = 0; i < m->nr_exits && exits && !b.oom; i++)
		jb_add(&b, exits, NULL, exit_json(&b, i, &m->exits[i]));

	if (m->record_results) {
		cJSON *res = jb_add(&b, root, "event_results", jb_new(&b, true));
		for (size_t i = 0; i < m->nr_results && res && !b.oom; i++)
			jb_add(&b, res, NULL, event_result_json(&b, i, &m->results[i]));
	}

	cJSON *viol = jb_add(&b, root, "violations", jb_new(&b, true));
	for (size_t i = 0; i < m->nr_viol && viol && !b.oom; i++)
		jb_add(&b, viol, NULL, violation_json(&b, &m->viol[i]));

	char *out = b.oom ? NULL : cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!out)
		return NULL;
	/* Hand the caller memory it frees with ptsim_free() (free()). */
	char *copy = strdup(out);
	cJSON_free(out);
	return copy;
}

/* The iteration numbers of a mark in its repeats, outermost first, joined by '/' ("" outside any). */
static void iteration_text(const struct sim_mark *mk, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned int d = 0; d < mk->depth && n < len; d++) {
		int k = snprintf(buf + n, len - n, "%s%" PRIu64, d ? "/" : "", mk->iteration[d]);
		if (k < 0)
			break;
		n += (size_t)k;
	}
}

/* ---- the readable table ---- */

/* Long lists (violations, exits) show this many rows; the JSON report has them all. */
#define TEXT_MAX_ROWS 50

static void emit_text(void *ctx, const char *key, enum sim_desc_type type, const char *text)
{
	(void)type;
	strbuf_addf((struct strbuf *)ctx, " %s=%s", key, text);
}

/* VmPTE summed over the mms live at a mark. */
static uint64_t mark_vmpte_kb(const struct sim_mark *mk)
{
	uint64_t kb = 0;
	for (unsigned int k = 0; k < mk->nr_mms; k++)
		kb += mk->mms[k].vmpte_kb;
	return kb;
}

/* Beyond this many CPUs, neighbours with the same figures share one line of the CPU table. */
#define TEXT_CPU_FOLD 32

static void cpu_line(struct strbuf *sb, unsigned int first, unsigned int last, const uint64_t *s)
{
	char who[32];

	if (first == last)
		snprintf(who, sizeof(who), "%u", first);
	else
		snprintf(who, sizeof(who), "%u-%u", first, last);
	strbuf_addf(sb, "  cpu %-11s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 "   %12" PRIu64 " %10" PRIu64 "\n", who,
		    s[CST_IPI_RECV_TLB_FLUSH], s[CST_IPI_RECV_TABLE_SYNC], s[CST_IPI_RECV_FLUSH_ALL], s[CST_TLB_HITS],
		    s[CST_TLB_MISSES]);
}

static bool cpu_line_same(const uint64_t *a, const uint64_t *b)
{
	return a[CST_IPI_RECV_TLB_FLUSH] == b[CST_IPI_RECV_TLB_FLUSH] &&
	       a[CST_IPI_RECV_TABLE_SYNC] == b[CST_IPI_RECV_TABLE_SYNC] &&
	       a[CST_IPI_RECV_FLUSH_ALL] == b[CST_IPI_RECV_FLUSH_ALL] && a[CST_TLB_HITS] == b[CST_TLB_HITS] &&
	       a[CST_TLB_MISSES] == b[CST_TLB_MISSES];
}

/*
 * The per-CPU table: CPUs that did nothing are counted, not listed; on a
 * machine of more than TEXT_CPU_FOLD CPUs a run of neighbours with the same
 * figures is one line (cpu 4-63).  The JSON report lists every active CPU.
 */
static void cpu_table_text(struct strbuf *sb, const struct ptsim_machine *m)
{
	bool arm64 = m->cfg.arch == PTSIM_ARCH_ARM64;
	unsigned int idle = 0;

	strbuf_addf(sb, "\nper CPU: %s received (tlb_flush / table_sync / flush_all), TLB hits / misses\n",
		    arm64 ? "SGIs (IPIs)" : "IPIs");
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const uint64_t *s = m->cpus[c].stats;
		if (cpu_stats_zero(s)) {
			idle++;
			continue;
		}
		unsigned int last = c;
		while (m->nr_cpus > TEXT_CPU_FOLD && last + 1 < m->nr_cpus && !cpu_stats_zero(m->cpus[last + 1].stats) &&
		       cpu_line_same(s, m->cpus[last + 1].stats))
			last++;
		cpu_line(sb, c, last, s);
		c = last;
	}
	if (idle)
		strbuf_addf(sb, "  (%u idle CPU%s: nothing to show)\n", idle, idle == 1 ? "" : "s");
}

PTSIM_API char *ptsim_report_text(struct ptsim_machine *m)
{
	struct strbuf sb;

	PTSIM_CHECK_MACHINE(m, NULL);
	sim_stats_fold(m);
	strbuf_init(&sb);
	strbuf_addf(&sb, "ptsim %s  machine:", PTSIM_VERSION_STRING);
	if (m->ops->describe)
		m->ops->describe(m, emit_text, &sb);
	strbuf_addf(&sb, " cpus=%u preset=%s\n", m->nr_cpus, m->preset);
	strbuf_adds(&sb, "variants:");
	ptsim__variants_describe_arch(&m->v, m->cfg.arch, emit_text, &sb);
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
		bool arm64 = m->cfg.arch == PTSIM_ARCH_ARM64;
		strbuf_adds(&sb, "\nmarks (counters at each mark)\n");
		strbuf_adds(&sb, arm64 ? "      #  name                      event   sgi.calls  sgi.recv  tlbi_ops       dsb_ish  faults  pgt_alloc  pgt_freed  VmPTE_kB\n"
				       : "      #  name                      event   ipi.calls  ipi.recv  flush_req  remote_flush  faults  pgt_alloc  pgt_freed  VmPTE_kB\n");
		for (size_t i = 0; i < m->nr_marks; i++) {
			const struct sim_mark *mk = &m->marks[i];
			const uint64_t *s = mk->stats;
			uint64_t vmpte = mark_vmpte_kb(mk);
			char label[PTSIM_NAME_MAX + 2 + PTSIM_MARK_MAX_DEPTH * 21], it[PTSIM_MARK_MAX_DEPTH * 21];
			iteration_text(mk, it, sizeof(it));
			snprintf(label, sizeof(label), mk->depth ? "%s[%s]" : "%s", mk->name, it);
			/* x86: flush requests and remote flushes; arm64: broadcast TLBI instructions and DSBs. */
			uint64_t col3 = arm64 ? s[ST_TLBI_VALE1IS] + s[ST_TLBI_VAE1IS] + s[ST_TLBI_RVALE1IS] +
							s[ST_TLBI_RVAE1IS] + s[ST_TLBI_ASIDE1IS] + s[ST_TLBI_VMALLE1IS] +
							s[ST_TLBI_VMALLE1]
					      : s[ST_TLB_FLUSH_REQUESTS];
			uint64_t col4 = arm64 ? s[ST_TLBI_DSB] : s[ST_NR_TLB_REMOTE_FLUSH];
			strbuf_addf(&sb, "  %5zu  %-24.24s %6" PRIu64 " %11" PRIu64 " %9" PRIu64 " %10" PRIu64 " %13" PRIu64
					 " %7" PRIu64 " %10" PRIu64 " %10" PRIu64 " %9" PRIu64 "\n",
				    i, label, mk->event,
				    s[ST_IPI_CALLS_TLB_FLUSH] + s[ST_IPI_CALLS_TABLE_SYNC] + s[ST_IPI_CALLS_FLUSH_ALL],
				    s[ST_IPI_RECV_TLB_FLUSH] + s[ST_IPI_RECV_TABLE_SYNC] + s[ST_IPI_RECV_FLUSH_ALL],
				    col3, col4, s[ST_FAULTS_TOTAL],
				    s[ST_PGT_ALLOC_PTE] + s[ST_PGT_ALLOC_PMD] + s[ST_PGT_ALLOC_PUD] + s[ST_PGT_ALLOC_P4D],
				    s[ST_PGT_FREE_PTE] + s[ST_PGT_FREE_PMD] + s[ST_PGT_FREE_PUD] + s[ST_PGT_FREE_P4D], vmpte);
		}
	}

	if (m->nr_exits) {
		strbuf_adds(&sb, "\nexits (each mm's figures right before exit_mmap(), as /proc/PID/status shows them)\n"
				 "      #  task     mm cause   event  VmPTE kB  peak kB   VmHWM kB   RssAnon kB  RssFile kB "
				 "RssShmem kB  VmSwap kB   Hugetlb kB\n");
		for (size_t i = 0; i < m->nr_exits; i++) {
			const struct sim_exit *e = &m->exits[i];
			const struct ptsim_mm_info *mi = &e->mi;
			if (i == TEXT_MAX_ROWS) {
				strbuf_addf(&sb, "  ... %zu more (see --json)\n", m->nr_exits - TEXT_MAX_ROWS);
				break;
			}
			strbuf_addf(&sb, "  %5zu %5d %6u %-5s %7" PRIu64 " %9" PRIu64 " %8" PRIu64 " %10" PRIu64 " %12" PRIu64
					 " %11" PRIu64 " %11" PRIu64 " %10" PRIu64 " %12" PRIu64 "\n",
				    i, e->task, mi->mm, ptsim_exit_cause_name(e->cause), e->event, mi->vmpte_kb,
				    mi->vmpte_peak_kb, mi->rss_hwm_kb, mi->rss_anon_kb, mi->rss_file_kb, mi->rss_shmem_kb,
				    mi->swap_kb, mi->hugetlb_kb);
		}
	}

	if (m->record_results) {
		strbuf_addf(&sb, "\nevent results (%zu: addresses the calls produced, errors the trace expected)\n"
				 "      #    event    line op       task as               address            result\n",
			    m->nr_results);
		for (size_t i = 0; i < m->nr_results; i++) {
			const struct sim_event_result *e = &m->results[i];
			char line[24] = "-", task[16] = "-", addr[24] = "-";
			if (i == TEXT_MAX_ROWS) {
				strbuf_addf(&sb, "  ... %zu more (see --json)\n", m->nr_results - TEXT_MAX_ROWS);
				break;
			}
			if (e->line)
				snprintf(line, sizeof(line), "%" PRIu64, e->line);
			if (e->task >= 0)
				snprintf(task, sizeof(task), "%d", e->task);
			if (e->has_addr)
				snprintf(addr, sizeof(addr), "%#" PRIx64, e->addr);
			strbuf_addf(&sb, "  %5zu %8" PRIu64 " %7s %-8s %5s %-16.16s %-18s %s\n", i, e->event, line, e->op, task,
				    e->as ? e->as : "-", addr, e->result ? ptsim_errname(e->result) : "ok");
		}
	}

	strbuf_adds(&sb, "\ncounters (non-zero)\n");
	for (size_t i = 0; i < NR_STATS; i++)
		if (m->stats[i])
			strbuf_addf(&sb, "  %-40s %14" PRIu64 "\n", sim_stat_names[i], m->stats[i]);

	cpu_table_text(&sb, m);

	strbuf_addf(&sb, "\nviolations: %zu\n", m->nr_viol);
	for (size_t i = 0; i < m->nr_viol; i++) {
		const struct sim_violation *v = &m->viol[i];
		strbuf_addf(&sb, "  [%s] event %" PRIu64 " cpu %d addr %#" PRIx64 ": %s\n      at %s\n",
			    ptsim_violation_kind_name(v->kind), v->event, v->cpu, v->addr, v->message ? v->message : "",
			    v->backtrace ? v->backtrace : "?");
		if (i + 1 == TEXT_MAX_ROWS && m->nr_viol > TEXT_MAX_ROWS) {
			strbuf_addf(&sb, "  ... %zu more (see --json)\n", m->nr_viol - TEXT_MAX_ROWS);
			break;
		}
	}
	return strbuf_detach(&sb);
}

/* A name as one CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void csv_field(struct strbuf *sb, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		strbuf_adds(sb, s);
		return;
	}
	strbuf_adds(sb, "\"");
	for (const char *q; (q = strchr(s, '"')); s = q + 1) {
		strbuf_addf(sb, "%.*s", (int)(q - s), s);
		strbuf_adds(sb, "\"\"");
	}
	strbuf_adds(sb, s);
	strbuf_adds(sb, "\"");
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * The ids of every mm live at some row (a mark or the end), ascending: the
 * timeline's per-mm columns.  Return: their number, or -1 if out of memory.
 */
static long timeline_mm_ids(const struct ptsim_machine *m, const struct ptsim_mm_info *end, unsigned int nr_end,
			    uint32_t **out)
{
	size_t n = nr_end, k = 0;

	for (size_t i = 0; i < m->nr_marks; i++)
		n += m->marks[i].nr_mms;
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids)
		return -1;
	for (size_t i = 0; i < m->nr_marks; i++)
		for (unsigned int j = 0; j < m->marks[i].nr_mms; j++)
			ids[k++] = m->marks[i].mms[j].mm;
	for (unsigned int j = 0; j < nr_end; j++)
		ids[k++] = end[j].mm;
	qsort(ids, n, sizeof(*ids), cmp_u32);
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || ids[k - 1] != ids[i])
			ids[k++] = ids[i];
	*out = ids;
	return (long)k;
}

/* VmRSS: what /proc/PID/status sums from RssAnon, RssFile and RssShmem. */
static uint64_t mm_rss_kb(const struct ptsim_mm_info *mi)
{
	return mi->rss_anon_kb + mi->rss_file_kb + mi->rss_shmem_kb;
}

struct csv_point {
	const char *name;
	const char *index;
	const char *iteration;
	uint64_t event, clock_ns;
	const struct ptsim_mm_info *mms;   /* the live mms, ascending ids */
	unsigned int nr_mms;
	const uint64_t *stats;
};

static void csv_row(struct strbuf *sb, const struct csv_point *p, const uint32_t *ids, size_t nr_ids)
{
	uint64_t vmpte = 0, rss = 0;

	for (unsigned int k = 0; k < p->nr_mms; k++) {
		vmpte += p->mms[k].vmpte_kb;
		rss += mm_rss_kb(&p->mms[k]);
	}
	csv_field(sb, p->name);
	strbuf_addf(sb, ",%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64, p->index, p->iteration, p->event,
		    p->clock_ns, vmpte, rss);
	for (size_t i = 0; i < NR_STATS; i++)
		strbuf_addf(sb, ",%" PRIu64, p->stats[i]);
	/* Per mm: empty cells where the mm was not live. */
	unsigned int k = 0;
	for (size_t i = 0; i < nr_ids; i++) {
		if (k < p->nr_mms && p->mms[k].mm == ids[i]) {
			strbuf_addf(sb, ",%" PRIu64 ",%" PRIu64, p->mms[k].vmpte_kb, mm_rss_kb(&p->mms[k]));
			k++;
		} else {
			strbuf_adds(sb, ",,");
		}
	}
	strbuf_adds(sb, "\n");
}

PTSIM_API char *ptsim_report_timeline_csv(struct ptsim_machine *m)
{
	struct strbuf sb;
	struct ptsim_mm_info *end;
	unsigned int nr_end;
	uint32_t *ids = NULL;
	long nr_ids;
	char index[24], iteration[PTSIM_MARK_MAX_DEPTH * 21];

	PTSIM_CHECK_MACHINE(m, NULL);
	sim_stats_fold(m);
	if (!sim_live_mms(m, &end, &nr_end))
		return NULL;
	nr_ids = timeline_mm_ids(m, end, nr_end, &ids);
	if (nr_ids < 0) {
		sim_free(&m->alloc, end, nr_end * sizeof(*end));
		return NULL;
	}
	strbuf_init(&sb);
	strbuf_adds(&sb, "mark,index,iteration,event,clock_ns,vmpte_kb,rss_kb");
	for (size_t i = 0; i < NR_STATS; i++)
		strbuf_addf(&sb, ",%s", sim_stat_names[i]);
	for (long i = 0; i < nr_ids; i++)
		strbuf_addf(&sb, ",mm%" PRIu32 ".vmpte_kb,mm%" PRIu32 ".rss_kb", ids[i], ids[i]);
	strbuf_adds(&sb, "\n");
	for (size_t i = 0; i < m->nr_marks && !sb.oom; i++) {
		const struct sim_mark *mk = &m->marks[i];
		snprintf(index, sizeof(index), "%zu", i);
		iteration_text(mk, iteration, sizeof(iteration));
		struct csv_point p = { mk->name, index, iteration, mk->event, mk->clock_ns, mk->mms, mk->nr_mms, mk->stats };
		csv_row(&sb, &p, ids, (size_t)nr_ids);
	}
	struct csv_point p = { "end", "", "", m->event, m->clock_ns, end, nr_end, m->stats };
	csv_row(&sb, &p, ids, (size_t)nr_ids);
	free(ids);
	sim_free(&m->alloc, end, nr_end * sizeof(*end));
	if (sb.oom) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}
