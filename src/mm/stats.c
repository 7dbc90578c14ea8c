/*
 * Statistics: counter names, per-mm figures as /proc/PID/status shows them,
 * marks (snapshots), violations, and the consistency checkers.
 */
#include "mm/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "arch/arch.h"

const char *const sim_stat_names[NR_STATS] = {
#define SIM__STAT_NAME(id, name) name,
	SIM_STATS(SIM__STAT_NAME)
#undef SIM__STAT_NAME
};

const char *const sim_cpu_stat_names[NR_CPU_STATS] = {
#define SIM__CSTAT_NAME(id, slot, name) [slot] = name,
	SIM_CPU_STATS(SIM__CSTAT_NAME)
#undef SIM__CSTAT_NAME
};

const uint8_t sim_cpu_stat_report_order[NR_CPU_STATS] = {
#define SIM__CSTAT_SLOT(id, slot, name) (slot),
	SIM_CPU_STATS(SIM__CSTAT_SLOT)
#undef SIM__CSTAT_SLOT
};

/*
 * The TLB counters are kept per CPU only on the hot path; the machine totals
 * are folded in before anyone reads them.
 */
void sim_stats_fold(struct ptsim_machine *m)
{
	static const struct { int machine, cpu; } folded[] = {
		{ ST_TLB_HITS, CST_TLB_HITS },
		{ ST_TLB_MISSES, CST_TLB_MISSES },
		{ ST_TLB_WALKS, CST_TLB_WALKS },
		{ ST_TLB_PWC_HITS, CST_TLB_PWC_HITS },
	};
	smp_fold_broadcasts(m);
	for (size_t k = 0; k < sizeof(folded) / sizeof(folded[0]); k++) {
		uint64_t sum = 0;
		for (unsigned int c = 0; c < m->nr_cpus; c++)
			sum += m->cpus[c].stats[folded[k].cpu];
		m->stats[folded[k].machine] = sum;
	}
}

PTSIM_API size_t ptsim_stat_count(void)
{
	return NR_STATS;
}

PTSIM_API const char *ptsim_stat_name(size_t i)
{
	return i < NR_STATS ? sim_stat_names[i] : NULL;
}

/*
 * Where counter @name lives: a machine-wide counter (*cpu = -1) or CPU *cpu's
 * ("cpu.N.NAME"); *idx is its index.  Returns 0, or -ENOENT with the reason
 * recorded (a CPU the machine lacks, or no such counter).
 */
static int stat_find(struct ptsim_machine *m, const char *name, long *cpu, size_t *idx)
{
	for (size_t i = 0; i < NR_STATS; i++) {
		if (!strcmp(sim_stat_names[i], name)) {
			*cpu = -1;
			*idx = i;
			return 0;
		}
	}
	char *end;
	unsigned long c;
	if (!strncmp(name, "cpu.", 4) && (c = strtoul(name + 4, &end, 10), end != name + 4) && *end == '.') {
		if (c >= m->nr_cpus)
			return ptsim__err(m, -ENOENT, "name", "'%s': the machine has no cpu %lu (cpus 0..%u)", name, c,
					  m->nr_cpus - 1);
		for (size_t i = 0; i < NR_CPU_STATS; i++) {
			if (!strcmp(sim_cpu_stat_names[i], end + 1)) {
				*cpu = (long)c;
				*idx = i;
				return 0;
			}
		}
	}
	return ptsim__err(m, -ENOENT, "name", "no counter named '%s' (docs/counters.md lists them)", name);
}

PTSIM_API int ptsim_stat(struct ptsim_machine *m, const char *name, uint64_t *out)
{
	long cpu;
	size_t i;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "stat";
	PTSIM_CHECK_ARG(m, name, "name");
	PTSIM_CHECK_ARG(m, out, "out");
	sim_stats_fold(m);
	int rc = stat_find(m, name, &cpu, &i);
	if (rc)
		return rc;
	*out = cpu < 0 ? m->stats[i] : m->cpus[cpu].stats[i];
	return 0;
}

static void mm_info_fill(struct ptsim_machine *m, struct mm_struct *mm, struct ptsim_mm_info *out)
{
	uint64_t kb_per_page = PAGE_SIZE(m) >> 10;

	memset(out, 0, sizeof(*out));
	out->task = mm_lowest_task(mm);
	out->mm = mm->id;
	out->users = (unsigned int)mm->mm_users;
	out->vmpte_kb = (uint64_t)mm->pgtables_bytes >> 10;
	out->vmpte_peak_kb = (uint64_t)mm->pgtables_bytes_peak >> 10;
	out->rss_file_kb = (uint64_t)mm->rss[MM_FILEPAGES] * kb_per_page;
	out->rss_anon_kb = (uint64_t)mm->rss[MM_ANONPAGES] * kb_per_page;
	out->rss_shmem_kb = (uint64_t)mm->rss[MM_SHMEMPAGES] * kb_per_page;
	/* task_mem(): hiwater_rss = max(mm->hiwater_rss, total_rss). */
	long rss = get_mm_rss(mm);
	out->rss_hwm_kb = (uint64_t)(mm->hiwater_rss > rss ? mm->hiwater_rss : rss) * kb_per_page;
	out->swap_kb = (uint64_t)mm->rss[MM_SWAPENTS] * kb_per_page;
	out->hugetlb_kb = (uint64_t)mm->hugetlb_usage * kb_per_page;
	out->pgtables[0] = (uint64_t)mm->nr_tables[PT_PTE];
	out->pgtables[1] = (uint64_t)mm->nr_tables[PT_PMD];
	out->pgtables[2] = (uint64_t)mm->nr_tables[PT_PUD];
	out->pgtables[3] = (uint64_t)mm->nr_tables[PT_P4D];
	out->nr_vmas = (unsigned int)mm->map_count;
}

PTSIM_API int ptsim_mm_info_get(struct ptsim_machine *m, int task, struct ptsim_mm_info *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "mm_info";
	PTSIM_CHECK_ARG(m, out, "out");
	struct sim_task *t = task_lookup(m, task);
	if (!t)
		return ptsim__err(m, PTSIM_ENOTASK, "task", "no live task %d", task);
	mm_info_fill(m, t->mm, out);
	return 0;
}

PTSIM_API int ptsim_mshare_info(struct ptsim_machine *m, const char *name, struct ptsim_mm_info *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "mshare_info";
	PTSIM_CHECK_ARG(m, name, "name");
	PTSIM_CHECK_ARG(m, out, "out");
	struct mshare_data *md = mshare_find(m, name);
	if (!md)
		return ptsim__err(m, -ENOENT, "name", "no mshare region '%s'", name);
	mm_info_fill(m, mshare_host_mm(md), out);
	return 0;
}

/* Live mms (with users), in creation order.  Return: false if out of memory. */
bool sim_live_mms(struct ptsim_machine *m, struct ptsim_mm_info **out, unsigned int *nr)
{
	unsigned int n = 0, i = 0;

	for (struct mm_struct *mm = m->mms; mm; mm = mm->next)
		if (mm->mm_users > 0)
			n++;
	*out = NULL;
	*nr = 0;
	if (!n)
		return true;
	*out = sim_icalloc(&m->alloc, n, sizeof(**out));
	if (!*out)
		return false;
	for (struct mm_struct *mm = m->mms; mm; mm = mm->next)
		if (mm->mm_users > 0)
			mm_info_fill(m, mm, &(*out)[i++]);
	*nr = n;
	return true;
}

static void mark_free(struct ptsim_machine *m, struct sim_mark *mk)
{
	if (mk->name)
		sim_free(&m->alloc, mk->name, strlen(mk->name) + 1);
	sim_free(&m->alloc, mk->iteration, mk->depth * sizeof(uint64_t));
	sim_free(&m->alloc, mk->mms, mk->nr_mms * sizeof(*mk->mms));
	sim_free(&m->alloc, mk->cpu_stats, (size_t)m->nr_cpus * NR_CPU_STATS * sizeof(uint64_t));
}

void sim_marks_release(struct ptsim_machine *m)
{
	for (size_t i = 0; i < m->nr_marks; i++)
		mark_free(m, &m->marks[i]);
	sim_free(&m->alloc, m->marks, m->cap_marks * sizeof(*m->marks));
}

int sim_mark_take(struct ptsim_machine *m, const char *name, const uint64_t *iteration, unsigned int depth)
{
	int rc = ptsim__check_name(m, "name", name);
	if (rc)
		return rc;
	uint64_t limit = m->limits[PTSIM_LIMIT_MARKS];
	if (limit && m->nr_marks >= limit)
		return ptsim__err(m, PTSIM_ELIMIT, NULL,
				  "mark '%s' would be mark %zu, beyond the limit of %" PRIu64 " marks (each keeps every "
				  "counter, per CPU too, and every live mm's figures; raise it with ptsim run --max-marks N "
				  "or ptsim_machine_set_limit(PTSIM_LIMIT_MARKS), 0 for none)",
				  name, m->nr_marks + 1, limit);
	if (m->nr_marks == m->cap_marks) {
		size_t ncap = m->cap_marks ? m->cap_marks * 2 : 8;
		struct sim_mark *n = sim_irealloc(&m->alloc, m->marks, m->cap_marks * sizeof(*n), ncap * sizeof(*n));
		if (!n)
			return ptsim__err(m, SIM_ENOMEM, NULL, "out of memory");
		m->marks = n;
		m->cap_marks = ncap;
	}
	struct sim_mark *mk = &m->marks[m->nr_marks];
	memset(mk, 0, sizeof(*mk));
	mk->name = sim_istrdup(&m->alloc, name);
	mk->cpu_stats = sim_imalloc(&m->alloc, (size_t)m->nr_cpus * NR_CPU_STATS * sizeof(uint64_t));
	if (depth) {
		mk->iteration = sim_imalloc(&m->alloc, depth * sizeof(uint64_t));
		if (mk->iteration) {
			mk->depth = depth;
			memcpy(mk->iteration, iteration, depth * sizeof(uint64_t));
		}
	}
	if (!mk->name || !mk->cpu_stats || mk->depth != depth)
		goto nomem;
	mk->event = m->event;
	mk->clock_ns = m->clock_ns;
	sim_stats_fold(m);
	memcpy(mk->stats, m->stats, sizeof(m->stats));
	for (unsigned int c = 0; c < m->nr_cpus; c++)
		memcpy(&mk->cpu_stats[(size_t)c * NR_CPU_STATS], m->cpus[c].stats, sizeof(m->cpus[c].stats));
	if (!sim_live_mms(m, &mk->mms, &mk->nr_mms))
		goto nomem;
	m->nr_marks++;
	return 0;
nomem:
	mark_free(m, mk);
	return ptsim__err(m, SIM_ENOMEM, NULL, "out of memory");
}

static const struct sim_mark *find_mark(struct ptsim_machine *m, const char *mark)
{
	for (size_t i = 0; i < m->nr_marks; i++)
		if (!strcmp(m->marks[i].name, mark))
			return &m->marks[i];
	return NULL;
}

static int mark_stat(struct ptsim_machine *m, const struct sim_mark *mk, const char *name, uint64_t *out)
{
	long cpu;
	size_t i;
	int rc = stat_find(m, name, &cpu, &i);

	if (rc)
		return rc;
	*out = cpu < 0 ? mk->stats[i] : mk->cpu_stats[(size_t)cpu * NR_CPU_STATS + i];
	return 0;
}

PTSIM_API int ptsim_mark_stat(struct ptsim_machine *m, const char *mark, const char *name, uint64_t *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "mark_stat";
	PTSIM_CHECK_ARG(m, mark, "mark");
	PTSIM_CHECK_ARG(m, name, "name");
	PTSIM_CHECK_ARG(m, out, "out");
	const struct sim_mark *mk = find_mark(m, mark);
	if (!mk)
		return ptsim__err(m, -ENOENT, "mark", "no mark named '%s'", mark);
	return mark_stat(m, mk, name, out);
}

PTSIM_API int ptsim_mark_mm_info(struct ptsim_machine *m, const char *mark, int task, struct ptsim_mm_info *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "mark_mm_info";
	PTSIM_CHECK_ARG(m, mark, "mark");
	PTSIM_CHECK_ARG(m, out, "out");
	const struct sim_mark *mk = find_mark(m, mark);
	if (!mk)
		return ptsim__err(m, -ENOENT, "mark", "no mark named '%s'", mark);
	for (unsigned int i = 0; i < mk->nr_mms; i++) {
		if (mk->mms[i].task == task) {
			*out = mk->mms[i];
			return 0;
		}
	}
	return ptsim__err(m, -ENOENT, "task", "no live mm named by task %d at mark '%s'", task, mark);
}

PTSIM_API size_t ptsim_mark_count(const struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return m->nr_marks;
}

PTSIM_API int ptsim_mark_get(const struct ptsim_machine *m, size_t index, struct ptsim_mark_info *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	if (!out)
		return -EINVAL;
	if (index >= m->nr_marks)
		return -ERANGE;
	const struct sim_mark *mk = &m->marks[index];
	memset(out, 0, sizeof(*out));
	out->index = index;
	out->name = mk->name;
	out->event = mk->event;
	out->clock_ns = mk->clock_ns;
	out->depth = mk->depth;
	if (mk->depth)
		memcpy(out->iteration, mk->iteration, mk->depth * sizeof(uint64_t));
	out->nr_mms = mk->nr_mms;
	return 0;
}

PTSIM_API int ptsim_mark_find(const struct ptsim_machine *m, const char *name, const uint64_t *iteration,
			      unsigned int depth, size_t *index)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	if (!name || !index || (depth && !iteration))
		return -EINVAL;
	for (size_t i = 0; i < m->nr_marks; i++) {
		const struct sim_mark *mk = &m->marks[i];
		if (mk->depth == depth && !strcmp(mk->name, name) &&
		    (!depth || !memcmp(mk->iteration, iteration, depth * sizeof(uint64_t)))) {
			*index = i;
			return 0;
		}
	}
	return -ENOENT;
}

PTSIM_API int ptsim_mark_stat_at(struct ptsim_machine *m, size_t index, const char *name, uint64_t *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "mark_stat_at";
	PTSIM_CHECK_ARG(m, name, "name");
	PTSIM_CHECK_ARG(m, out, "out");
	if (index >= m->nr_marks)
		return ptsim__err(m, -ERANGE, "index", "no mark %zu (%zu marks)", index, m->nr_marks);
	return mark_stat(m, &m->marks[index], name, out);
}

PTSIM_API int ptsim_mark_mm_at(struct ptsim_machine *m, size_t index, unsigned int k, struct ptsim_mm_info *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "mark_mm_at";
	PTSIM_CHECK_ARG(m, out, "out");
	if (index >= m->nr_marks)
		return ptsim__err(m, -ERANGE, "index", "no mark %zu (%zu marks)", index, m->nr_marks);
	const struct sim_mark *mk = &m->marks[index];
	if (k >= mk->nr_mms)
		return ptsim__err(m, -ERANGE, "k", "mark %zu recorded %u live mms", index, mk->nr_mms);
	*out = mk->mms[k];
	return 0;
}

int sim_exit_reserve(struct ptsim_machine *m)
{
	uint64_t limit = m->limits[PTSIM_LIMIT_EXITS];

	if (limit && m->nr_exits >= limit)
		return ptsim__err(m, PTSIM_ELIMIT, NULL,
				  "this exit would be exit record %zu, beyond the limit of %" PRIu64 " (each keeps the "
				  "figures of the mm that went; raise it with ptsim run --max-exits N or "
				  "ptsim_machine_set_limit(PTSIM_LIMIT_EXITS), 0 for none)",
				  m->nr_exits + 1, limit);
	if (m->nr_exits == m->cap_exits) {
		size_t ncap = m->cap_exits ? m->cap_exits * 2 : 8;
		struct sim_exit *n = sim_irealloc(&m->alloc, m->exits, m->cap_exits * sizeof(*n), ncap * sizeof(*n));
		if (!n)
			return ptsim__err(m, SIM_ENOMEM, NULL, "out of memory");
		m->exits = n;
		m->cap_exits = ncap;
	}
	return 0;
}

void sim_exit_record(struct ptsim_machine *m, int task, struct mm_struct *mm, enum ptsim_exit_cause cause)
{
	if (NEVER(m, m->nr_exits >= m->cap_exits))
		return;
	struct sim_exit *e = &m->exits[m->nr_exits++];
	e->task = task;
	e->cause = cause;
	e->event = m->event;
	e->clock_ns = m->clock_ns;
	mm_info_fill(m, mm, &e->mi);
	e->mi.task = task;   /* exec has already moved @task to its new mm */
}

void sim_exits_release(struct ptsim_machine *m)
{
	sim_free(&m->alloc, m->exits, m->cap_exits * sizeof(*m->exits));
}

PTSIM_API size_t ptsim_exit_count(const struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return m->nr_exits;
}

PTSIM_API int ptsim_exit_get(const struct ptsim_machine *m, size_t index, struct ptsim_exit_info *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	if (!out)
		return -EINVAL;
	if (index >= m->nr_exits)
		return -ERANGE;
	const struct sim_exit *e = &m->exits[index];
	out->index = index;
	out->task = e->task;
	out->cause = e->cause;
	out->event = e->event;
	out->clock_ns = e->clock_ns;
	out->mm = e->mi;
	return 0;
}

PTSIM_API int ptsim_event_results_enable(struct ptsim_machine *m, bool on)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->record_results = on;
	return 0;
}

/* Record @r (its index and the copy of its name are made here); PTSIM_ELIMIT beyond the limit. */
int sim_event_result_add(struct ptsim_machine *m, const struct ptsim_event_result *r)
{
	uint64_t limit = m->limits[PTSIM_LIMIT_EVENT_RESULTS];

	if (limit && m->nr_results >= limit)
		return ptsim__err(m, PTSIM_ELIMIT, NULL,
				  "this event's result would be result %zu, beyond the limit of %" PRIu64 " (raise it "
				  "with ptsim run --max-results N or ptsim_machine_set_limit(PTSIM_LIMIT_EVENT_RESULTS), "
				  "0 for none)", m->nr_results + 1, limit);
	if (m->nr_results == m->cap_results) {
		size_t ncap = m->cap_results ? m->cap_results * 2 : 16;
		struct sim_event_result *n = sim_irealloc(&m->alloc, m->results, m->cap_results * sizeof(*n),
							  ncap * sizeof(*n));
		if (!n)
			return ptsim__err(m, SIM_ENOMEM, NULL, "out of memory");
		m->results = n;
		m->cap_results = ncap;
	}
	struct sim_event_result *e = &m->results[m->nr_results];
	e->as = NULL;
	if (r->as && !(e->as = sim_istrdup(&m->alloc, r->as)))
		return ptsim__err(m, SIM_ENOMEM, NULL, "out of memory");
	e->event = r->event;
	e->line = r->line;
	e->addr = r->addr;
	e->op = r->op;
	e->task = r->task;
	e->result = r->result;
	e->has_addr = r->has_addr;
	m->nr_results++;
	return 0;
}

void sim_event_results_release(struct ptsim_machine *m)
{
	for (size_t i = 0; i < m->nr_results; i++)
		if (m->results[i].as)
			sim_free(&m->alloc, m->results[i].as, strlen(m->results[i].as) + 1);
	sim_free(&m->alloc, m->results, m->cap_results * sizeof(*m->results));
}

PTSIM_API size_t ptsim_event_result_count(const struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return m->nr_results;
}

PTSIM_API int ptsim_event_result_get(const struct ptsim_machine *m, size_t index, struct ptsim_event_result *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	if (!out)
		return -EINVAL;
	if (index >= m->nr_results)
		return -ERANGE;
	const struct sim_event_result *e = &m->results[index];
	out->index = index;
	out->event = e->event;
	out->line = e->line;
	out->op = e->op;
	out->task = e->task;
	out->as = e->as;
	out->has_addr = e->has_addr;
	out->addr = e->addr;
	out->result = e->result;
	return 0;
}

PTSIM_API const char *ptsim_exit_cause_name(enum ptsim_exit_cause cause)
{
	return cause == PTSIM_EXIT_EXEC ? "exec" : cause == PTSIM_EXIT_EXIT ? "exit" : "unknown";
}

PTSIM_API size_t ptsim_violation_count(const struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return m->nr_viol;
}

PTSIM_API int ptsim_violation_get(const struct ptsim_machine *m, size_t i, struct ptsim_violation *out)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	if (!out)
		return -EINVAL;   /* const machine: no message */
	if (i >= m->nr_viol)
		return -ERANGE;
	const struct sim_violation *v = &m->viol[i];
	out->kind = v->kind;
	out->event = v->event;
	out->cpu = v->cpu;
	out->addr = v->addr;
	out->pfn = v->pfn;
	out->message = v->message ? v->message : "";
	return 0;
}

PTSIM_API const char *ptsim_violation_kind_name(enum ptsim_violation_kind kind)
{
	static const char *const names[] = { "tlb", "pwc", "walker", "rcu_reader", "nonempty_table",
					     "stale_access", "bbm", "check_mm", "internal", "linked_table" };
	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

PTSIM_API uint64_t ptsim_frames_in_use(const struct ptsim_machine *m)
{
	uint64_t n = 0;
	PTSIM_CHECK_MACHINE(m, 0);
	for (int k = 0; k < NR_FRAME_KINDS; k++)
		if (k != FRAME_FREE && k != FRAME_ZERO)
			n += m->phys.in_use[k];
	return n;
}

PTSIM_API uint64_t ptsim_frames_in_lru_batches(const struct ptsim_machine *m)
{
	uint64_t n = 0;
	PTSIM_CHECK_MACHINE(m, 0);
	for (unsigned int c = 0; c < m->nr_cpus; c++)
		n += m->cpus[c].lru_add.nr;
	return n;
}

PTSIM_API size_t ptsim_machine_quiesce(struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	rcu_process_callbacks(m);
	return rcu_pending(m);
}

/* Recount frame cache references from every CPU's caches. */
static int check_cache_refs(struct ptsim_machine *m)
{
	uint32_t *count = calloc(m->phys.nr ? m->phys.nr : 1, sizeof(uint32_t));
	int rc = 0;

	if (!count)
		return SIM_ENOMEM;
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		char why[160];
		if (!tlb_consistent(m, &m->cpus[c], why, sizeof(why))) {
			rc = ptsim__err(m, PTSIM_EINTERNAL, NULL, "%s", why);
			goto out;
		}
		tlb_count_refs(m, &m->cpus[c], count);
	}
	for (uint32_t pfn = 0; pfn < m->phys.nr; pfn++) {
		if (count[pfn] != m->phys.frames[pfn].cache_refs) {
			rc = ptsim__err(m, PTSIM_EINTERNAL, NULL, "frame %u: %u cached entries reference it, cache_refs says %u",
					pfn, count[pfn], m->phys.frames[pfn].cache_refs);
			goto out;
		}
	}
out:
	free(count);
	return rc;
}

/* VmPTE against the tables reachable from each mm's PGD. */
/* VmPTE against the tables reachable from each mm's PGD (an mshare link reaches the host's tables: not this mm's). */
static long count_tables(struct ptsim_machine *m, const struct mm_struct *mm, uint32_t table, enum pt_level level,
			 long *per_level)
{
	const pgent_t *e = pt_entries(m, table);
	long n = 0;
	enum pt_level next = (enum pt_level)(level + 1);

	while (next <= PT_PTE && m->geo.folded[next])
		next = (enum pt_level)(next + 1);
	if (level == PT_PTE)
		return 0;
	for (unsigned int i = 0; i < m->geo.ptrs[level]; i++) {
		if (!pgent_present(e[i]) || pgent_huge(e[i]))
			continue;
		const struct ptdesc *child = pt_desc(m, pgent_pfn(e[i]));
		if (PTSIM_UNLIKELY(child->mshare_links) && child->pt_mm != mm)
			continue;
		per_level[next]++;
		n += 1 + count_tables(m, mm, pgent_pfn(e[i]), next, per_level);
	}
	return n;
}

static int check_mm_tables(struct ptsim_machine *m, struct mm_struct *mm)
{
	long per_level[NR_PT_LEVELS] = { 0 };

	if (mm->exited)
		return 0;
	if (!vma_tree_consistent(mm))
		return ptsim__err(m, PTSIM_EINTERNAL, NULL, "mm %u: the VMA tree is inconsistent", mm->id);
	count_tables(m, mm, mm->pgd, PT_PGD, per_level);
	for (int l = PT_P4D; l <= PT_PTE; l++) {
		if (per_level[l] != mm->nr_tables[l])
			return ptsim__err(m, PTSIM_EINTERNAL, NULL, "mm %u: %ld level-%d tables reachable, counters say %ld",
					  mm->id, per_level[l], l, mm->nr_tables[l]);
	}
	long bytes = (per_level[PT_PTE] + (m->geo.folded[PT_PMD] ? 0 : per_level[PT_PMD]) +
		      (m->geo.folded[PT_PUD] ? 0 : per_level[PT_PUD])) *
		     (long)m->geo.table_bytes;
	if (bytes != mm->pgtables_bytes)
		return ptsim__err(m, PTSIM_EINTERNAL, NULL, "mm %u: pgtables_bytes %ld, tables give %ld", mm->id,
				  mm->pgtables_bytes, bytes);
	return 0;
}

PTSIM_API int ptsim_machine_check(struct ptsim_machine *m)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "check";
	rc = check_cache_refs(m);
	if (rc)
		return rc;
	for (struct mm_struct *mm = m->mms; mm; mm = mm->next)
		if ((rc = check_mm_tables(m, mm)))
			return rc;
	/* The mshare host mms (not listed with the processes'). */
	for (struct mm_struct *mm = mshare_next_host(m, NULL); mm; mm = mshare_next_host(m, mm))
		if ((rc = check_mm_tables(m, mm)))
			return rc;
	return 0;
}
