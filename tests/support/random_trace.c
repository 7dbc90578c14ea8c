/*
 * The random valid trace generator of tests/test_random_traces.c (what it
 * makes and why: that file's header and docs/reliability.md), shared with the
 * tests that compare two ways of running the same traces.
 */
#include "support/random_trace.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/helpers.h"


#define NSLOTS 8
#define SLOT_SIZE (1ull << 30)
#define SLOT_BASE 0x100000000000ull
#define MAX_TASKS 12
#define MAX_CPUS 6
#define PAGE 4096ull
#define HPAGE (2ull << 20)

/* Presets that model fixed kernels: a violation under them is a false positive. */
static const char *const safe_presets[] = { "6.18.44", "6.19", "7.1.9", "6.18", "6.16", "6.12.35" };

enum slot_state { SLOT_FREE, SLOT_INTACT, SLOT_HOLES };
enum kind { K_ANON, K_FILE, K_SHMEM, K_HUGE, K_HUGE_SHARED, NR_KINDS };

struct slot {
	enum slot_state state;
	enum kind kind;
	uint64_t off, len;      /* the mapping: [SLOT_BASE + i * SLOT_SIZE + off, + len) */
	bool locked;            /* some part may be VM_LOCKED */
	bool prot_none;         /* some part may be PROT_NONE (no page tables from a touch) */
	bool shared;
	bool split;             /* may be more than one VMA (mremap needs one) */
	bool guarded;           /* guard markers may be installed (no mlock then) */
};

struct mm {
	int users;
	struct slot slot[NSLOTS];
};

struct task {
	bool alive;
	int mm;
	int cpu;                /* -1: not running */
};

struct t_random_gen {
	uint64_t rng;
	unsigned int ncpus;
	bool arm64;
	struct mm mm[MAX_TASKS * 2];
	int nr_mm;
	struct task task[MAX_TASKS + 1];   /* ids 1..MAX_TASKS */
	int cpu_task[MAX_CPUS];            /* task running on a CPU, 0: none */
	char *buf;
	size_t len, cap;
	bool v2;
	bool in_window;         /* between a concurrency point's begin and end */
	bool move_pages;        /* generate move_pages (on unless PTSIM_RANDOM_MOVE_PAGES=0) */
	unsigned int nr_events;
	/* The probe of struct t_random_trace (NULL: none). */
	char *probe;
	size_t probe_len;
	unsigned int probe_event;
	const char *probe_hint;
};

static uint64_t rnd(struct t_random_gen *g)
{
	/* splitmix64 */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int below(struct t_random_gen *g, unsigned int n) { return (unsigned int)(rnd(g) % n); }
static bool chance(struct t_random_gen *g, unsigned int percent) { return below(g, 100) < percent; }

static void out(struct t_random_gen *g, const char *fmt, ...)
{
	va_list ap;
	if (!g->buf) {   /* (NULL + 0 is undefined behaviour: clang's UBSan says so) */
		g->cap = 4096;
		g->buf = malloc(g->cap);
		assert_non_null(g->buf);
	}
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(g->buf + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (g->len + (size_t)n < g->cap) {
			g->len += (size_t)n;
			return;
		}
		g->cap = (g->cap + (size_t)n) * 2;
		g->buf = realloc(g->buf, g->cap);
		assert_non_null(g->buf);
	}
}

/* Starts an event object: the separator of the format, then '{"op":"OP"'. */
static void ev(struct t_random_gen *g, const char *op)
{
	if (g->v2)
		out(g, "\n{\"op\":\"%s\"", op);
	else
		out(g, "%s\n{\"op\":\"%s\"", g->nr_events ? "," : "", op);
	g->nr_events++;
}

static uint64_t slot_addr(int i) { return SLOT_BASE + (uint64_t)i * SLOT_SIZE; }
static bool huge(enum kind k) { return k == K_HUGE || k == K_HUGE_SHARED; }
static uint64_t unit(const struct slot *s) { return huge(s->kind) ? HPAGE : PAGE; }

/* A running task (0: none), optionally not on @not_cpu. */
static int pick_running(struct t_random_gen *g, int not_cpu)
{
	int c[MAX_CPUS], n = 0;
	for (unsigned int i = 0; i < g->ncpus; i++)
		if (g->cpu_task[i] && (int)i != not_cpu)
			c[n++] = g->cpu_task[i];
	return n ? c[below(g, (unsigned int)n)] : 0;
}

static int free_task_id(struct t_random_gen *g)
{
	for (int t = 1; t <= MAX_TASKS; t++)
		if (!g->task[t].alive)
			return t;
	return 0;
}

static void stop_cpu(struct t_random_gen *g, int cpu)
{
	if (cpu >= 0 && g->cpu_task[cpu]) {
		g->task[g->cpu_task[cpu]].cpu = -1;
		g->cpu_task[cpu] = 0;
	}
}

static void put_on(struct t_random_gen *g, int t, int cpu)
{
	if (cpu < 0)
		return;
	stop_cpu(g, cpu);
	g->task[t].cpu = cpu;
	g->cpu_task[cpu] = t;
}

/* A random aligned sub-range [*a, *a + *l) of slot @s's mapping. */
static void sub_range(struct t_random_gen *g, const struct slot *s, int i, uint64_t *a, uint64_t *l)
{
	uint64_t u = unit(s), units = s->len / u;
	uint64_t first = below(g, (unsigned int)units), n = 1 + below(g, (unsigned int)(units - first));
	if (chance(g, 25)) {
		first = 0;
		n = units;
	}
	*a = slot_addr(i) + s->off + first * u;
	*l = n * u;
}

static const char *const kind_name[] = { "anon", "file", "shmem", "hugetlb", "hugetlb" };

static void gen_mmap(struct t_random_gen *g, int t, int i)
{
	struct slot *s = &g->mm[g->task[t].mm].slot[i];
	enum kind k = (enum kind)below(g, NR_KINDS);

	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->state = SLOT_INTACT;
	if (k == K_HUGE_SHARED) {
		s->len = SLOT_SIZE;   /* a whole PUD range at offset 0: PMD tables can be shared */
		s->shared = true;
	} else if (k == K_HUGE) {
		s->off = below(g, 8) * HPAGE;
		s->len = (1 + below(g, 8)) * HPAGE;
	} else {
		s->off = below(g, 1024) * PAGE;
		s->len = (1 + below(g, chance(g, 20) ? 2048 : 64)) * PAGE;
		s->shared = k != K_ANON && chance(g, 50);
	}
	ev(g, "mmap");
	out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\",\"prot\":\"%s\"", t,
	    slot_addr(i) + s->off, s->len, chance(g, 85) ? "rw" : "r");
	if (g->v2)
		out(g, ",\"fixed\":\"noreplace\"");
	if (k != K_ANON)
		out(g, ",\"kind\":\"%s\"", kind_name[k]);
	if (s->shared)
		out(g, ",\"shared\":true");
	if (k == K_FILE || k == K_SHMEM || k == K_HUGE_SHARED)
		out(g, ",\"file\":\"%s%u\"", k == K_FILE ? "f" : k == K_SHMEM ? "s" : "h", below(g, 2));
	if (k == K_FILE && chance(g, 30))
		out(g, ",\"offset\":\"0x%" PRIx64 "\"", (uint64_t)below(g, 64) * PAGE);
	if (!huge(k) && s->len <= 64 * PAGE && chance(g, 20))
		out(g, ",\"populate\":true");
	out(g, "}");
}

static void gen_touch(struct t_random_gen *g, int t, int i)
{
	struct slot *s = &g->mm[g->task[t].mm].slot[i];
	uint64_t a, l, stride;

	if (s->state == SLOT_FREE) {
		a = slot_addr(i) + below(g, 64) * PAGE;
		l = PAGE;
		stride = PAGE;
	} else {
		sub_range(g, s, i, &a, &l);
		stride = unit(s) * (1 + below(g, 4));
		if (l / stride > 256)
			stride = l / 256 / unit(s) * unit(s) + unit(s);
		if (chance(g, 10))
			a += below(g, (unsigned int)unit(s));   /* unaligned is fine */
	}
	ev(g, "touch");
	out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\",\"stride\":\"0x%" PRIx64 "\"%s}", t, a,
	    l, stride, chance(g, 60) ? ",\"write\":true" : "");
}

/* An operation of task @t on one of its mm's slots; false if none fits. */
static bool gen_mm_op(struct t_random_gen *g, int t)
{
	struct mm *mm = &g->mm[g->task[t].mm];
	int i = (int)below(g, NSLOTS);
	struct slot *s = &mm->slot[i];
	uint64_t a, l;

	if (s->state == SLOT_FREE) {
		if (chance(g, 60)) {
			gen_mmap(g, t, i);
			return true;
		}
		gen_touch(g, t, i);   /* a simulated SIGSEGV */
		return true;
	}
	switch (below(g, 11)) {
	case 0:   /* munmap, all of it or a part */
		if (chance(g, 50)) {
			ev(g, "munmap");
			out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\"}", t, slot_addr(i) + s->off,
			    s->len);
			s->state = SLOT_FREE;
		} else {
			sub_range(g, s, i, &a, &l);
			ev(g, "munmap");
			out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\"}", t, a, l);
			s->state = l == s->len ? SLOT_FREE : SLOT_HOLES;
		}
		return true;
	case 1: {   /* mprotect */
		static const char *const prots[] = { "rw", "r", "none", "rw" };
		const char *p = prots[below(g, 4)];
		if (s->state != SLOT_INTACT)
			return false;
		sub_range(g, s, i, &a, &l);
		ev(g, "mprotect");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\",\"prot\":\"%s\"}", t, a, l, p);
		s->prot_none |= !strcmp(p, "none");
		s->split = true;
		return true;
	}
	case 2: {   /* madvise */
		const char *adv = "dontneed";
		if (s->state != SLOT_INTACT)
			return false;
		if (s->locked)
			adv = "dontneed_locked";
		else if (s->kind == K_ANON && !s->shared && chance(g, 40))
			adv = "free";
		else if (s->kind == K_ANON && !s->shared && chance(g, 30))
			adv = chance(g, 70) ? "guard_install" : "guard_remove";
		s->guarded |= !strcmp(adv, "guard_install");
		sub_range(g, s, i, &a, &l);
		/* Some dontneeds become cold / pageout, chosen from the address (generator stream untouched). */
		if (!strcmp(adv, "dontneed") && (a >> 12) % 8 >= 6)
			adv = (a >> 12) % 8 == 6 ? "cold" : "pageout";
		ev(g, "madvise");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\",\"advice\":\"%s\"}", t, a, l, adv);
		return true;
	}
	case 3:   /* mlock / munlock */
		if (s->state != SLOT_INTACT || s->guarded)
			return false;
		sub_range(g, s, i, &a, &l);
		s->split = true;
		if (s->locked && chance(g, 50)) {
			ev(g, "munlock");
			if (a == slot_addr(i) + s->off && l == s->len)
				s->locked = false;
		} else {
			ev(g, "mlock");
			s->locked = true;
		}
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\"}", t, a, l);
		return true;
	case 4: {   /* mremap of the whole mapping to a free slot, at the same offset inside its 1 GiB */
		int j = (int)below(g, NSLOTS);
		if (s->state != SLOT_INTACT || s->split || mm->slot[j].state != SLOT_FREE)
			return false;
		ev(g, "mremap");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\",\"new_addr\":\"0x%" PRIx64 "\"}", t,
		    slot_addr(i) + s->off, s->len, slot_addr(j) + s->off);
		mm->slot[j] = *s;
		s->state = SLOT_FREE;
		return true;
	}
	case 5:   /* swapout */
		if (s->state != SLOT_INTACT)
			return false;
		sub_range(g, s, i, &a, &l);
		ev(g, "swapout");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\"}", t, a, l);
		return true;
	case 6: {   /* move_pages of a hugetlb file page, after the touch that faults it in */
		if (!g->move_pages || s->state != SLOT_INTACT || s->kind != K_HUGE_SHARED || s->prot_none || g->in_window)
			return false;
		a = slot_addr(i) + below(g, 512) * HPAGE + below(g, 4) * PAGE;
		ev(g, "touch");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x1000\"}", t, a);
		ev(g, "move_pages");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\"}", t, a);
		return true;
	}
	default:
		gen_touch(g, t, i);
		return true;
	}
}

/* A task's exit: its mm loses a user. */
static void gen_exit(struct t_random_gen *g, int t)
{
	ev(g, "exit");
	out(g, ",\"task\":%d}", t);
	g->mm[g->task[t].mm].users--;
	stop_cpu(g, g->task[t].cpu);
	g->task[t].alive = false;
}

/* A task (or process) event that targets no CPU of @busy_cpu. */
static void gen_task_op(struct t_random_gen *g, int busy_cpu)
{
	int t = pick_running(g, busy_cpu), n, cpu;

	switch (below(g, 9)) {
	case 0:   /* spawn */
		n = free_task_id(g);
		cpu = (int)below(g, g->ncpus);
		if (!n || cpu == busy_cpu || g->nr_mm == MAX_TASKS * 2)
			return;
		ev(g, "spawn");
		out(g, ",\"task\":%d,\"cpu\":%d}", n, cpu);
		memset(&g->mm[g->nr_mm], 0, sizeof(g->mm[0]));
		g->mm[g->nr_mm].users = 1;
		g->task[n] = (struct task){ .alive = true, .mm = g->nr_mm++, .cpu = -1 };
		put_on(g, n, cpu);
		return;
	case 1:   /* fork, onto a CPU or none */
	case 2:   /* thread */
		n = free_task_id(g);
		cpu = chance(g, 25) ? -1 : (int)below(g, g->ncpus);
		if (!t || !n || (cpu >= 0 && cpu == busy_cpu) || g->nr_mm == MAX_TASKS * 2)
			return;
		bool thread = below(g, 2);
		ev(g, thread ? "thread" : "fork");
		if (thread) {
			out(g, ",\"task\":%d,\"thread\":%d", t, n);
			g->task[n] = (struct task){ .alive = true, .mm = g->task[t].mm, .cpu = -1 };
			g->mm[g->task[t].mm].users++;
		} else {
			out(g, ",\"task\":%d,\"child\":%d", t, n);
			g->mm[g->nr_mm] = g->mm[g->task[t].mm];
			g->mm[g->nr_mm].users = 1;
			g->task[n] = (struct task){ .alive = true, .mm = g->nr_mm++, .cpu = -1 };
		}
		if (cpu >= 0)
			out(g, ",\"cpu\":%d", cpu);
		out(g, "}");
		put_on(g, n, cpu);
		return;
	case 3:   /* exit */
		if (t && chance(g, 50))
			gen_exit(g, t);
		return;
	case 4:   /* run a task that is not running */
		for (n = 1 + (int)below(g, MAX_TASKS); n <= MAX_TASKS; n++)
			if (g->task[n].alive && g->task[n].cpu < 0)
				break;
		cpu = (int)below(g, g->ncpus);
		if (n > MAX_TASKS || cpu == busy_cpu)
			return;
		ev(g, "run");
		out(g, ",\"task\":%d,\"cpu\":%d}", n, cpu);
		put_on(g, n, cpu);
		return;
	case 5:   /* another process's task on a CPU */
		cpu = (int)below(g, g->ncpus);
		if (cpu == busy_cpu)
			return;
		ev(g, "run");
		out(g, ",\"cpu\":%d,\"other\":true}", cpu);
		stop_cpu(g, cpu);
		return;
	case 6:
		if (!t)
			return;
		ev(g, "sleep");
		out(g, ",\"task\":%d}", t);
		stop_cpu(g, g->task[t].cpu);
		return;
	case 7:
		ev(g, "advance");
		out(g, ",\"ms\":%u}", 1 + below(g, 1500));
		return;
	default:
		if (t && chance(g, 30)) {
			ev(g, "mark");
			out(g, ",\"name\":\"m%u\"}", g->nr_events);
		}
		return;
	}
}

/* Any event but the concurrency points, none involving @busy_cpu. */
static void gen_one(struct t_random_gen *g, int busy_cpu)
{
	int t = pick_running(g, busy_cpu);

	if (!t || chance(g, 15)) {
		gen_task_op(g, busy_cpu);
		return;
	}
	for (int tries = 0; tries < 4 && !gen_mm_op(g, t); tries++)
		;
}

/* g->probe: the trace so far, then munmap of [@addr, +@len) by @task (see struct t_random_trace). */
static void make_probe(struct t_random_gen *g, int task, uint64_t addr, uint64_t len, const char *hint)
{
	char tail[160];
	int n = snprintf(tail, sizeof(tail), "%s\n{\"op\":\"munmap\",\"task\":%d,\"addr\":\"0x%" PRIx64
			 "\",\"len\":\"0x%" PRIx64 "\"}%s",
			 g->v2 ? "" : ",", task, addr, len, g->v2 ? "\n" : "]}\n");
	assert_true(n > 0 && (size_t)n < sizeof(tail));
	g->probe = malloc(g->len + (size_t)n + 1);
	assert_non_null(g->probe);
	memcpy(g->probe, g->buf, g->len);
	memcpy(g->probe + g->len, tail, (size_t)n + 1);
	g->probe_len = g->len + (size_t)n;
	g->probe_event = g->nr_events;
	g->probe_hint = hint;
}

/*
 * One operation of another CPU while CPU c (running task t) is in a GUP-fast
 * walk, an RCU read section, holds a PMD lock, or switches (schedule_begin,
 * then t sleeps or c runs another process).  The operation may block on an
 * IPI to c; the end resumes it.
 */
static void gen_concurrency(struct t_random_gen *g)
{
	int t = pick_running(g, -1);
	if (!t)
		return;
	int c = g->task[t].cpu, i = (int)below(g, NSLOTS);
	struct slot *s = &g->mm[g->task[t].mm].slot[i];

	if (chance(g, 25)) {
		/* c switches (schedule_begin .. schedule_end) while another CPU's operation may flush to it. */
		int o = pick_running(g, c);
		g->in_window = true;
		ev(g, "schedule_begin");
		out(g, ",\"cpu\":%d}", c);
		for (int tries = 0; o && tries < 4 && !gen_mm_op(g, o); tries++)
			;
		g->in_window = false;
		if (chance(g, 50)) {
			ev(g, "run");
			out(g, ",\"cpu\":%d,\"other\":true}", c);
		} else {
			ev(g, "sleep");
			out(g, ",\"task\":%d}", t);
		}
		stop_cpu(g, c);
		ev(g, "schedule_end");
		out(g, ",\"cpu\":%d}", c);
		return;
	}
	unsigned int what = below(g, 3);
	uint64_t a = slot_addr(i) + s->off;
	int other;

	if (what > 0 && (s->state != SLOT_INTACT || huge(s->kind) || s->prot_none))
		what = 0;
	if (what > 0) {
		/* The walk that makes the PTE table (rcu) and the PMD table (pmd_lock) exist. */
		ev(g, "touch");
		out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x1000\"}", t, a);
	}
	static const char *const begin[] = { "gup_fast_begin", "rcu_read_begin", "pmd_lock" };
	static const char *const end[] = { "gup_fast_end", "rcu_read_end", "pmd_unlock" };
	g->in_window = true;
	ev(g, begin[what]);
	out(g, ",\"cpu\":%d,\"task\":%d,\"addr\":\"0x%" PRIx64 "\"}", c, t, s->state == SLOT_FREE ? a + PAGE : a);
	other = pick_running(g, c);
	if (what > 0 && other && g->task[other].mm == g->task[t].mm) {
		/*
		 * The PMD-lock holder, and an RCU reader (a pte_offset_map() user: a fault, madvise, an rmap
		 * walk), hold the mm's mmap_lock for read (or a lock the unmapping paths take before freeing
		 * tables): in the same mm only touch and madvise, which take mmap_lock for read, run beside them.
		 */
		struct slot *o = &g->mm[g->task[other].mm].slot[i];
		uint64_t sa, sl;
		if (!g->probe && o->state != SLOT_FREE && chance(g, 50))
			make_probe(g, other, slot_addr(i) + o->off, o->len, what == 1 ? "rcu_read_end first" : "pmd_unlock first");
		if (o->state != SLOT_INTACT || chance(g, 50)) {
			gen_touch(g, other, i);
		} else {
			sub_range(g, o, i, &sa, &sl);
			ev(g, "madvise");
			out(g, ",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":\"0x%" PRIx64 "\",\"advice\":\"%s\"}", other, sa,
			    sl, o->locked ? "dontneed_locked" : "dontneed");
		}
	} else if (other && (what > 0 || chance(g, 80))) {
		for (int tries = 0; tries < 4 && !gen_mm_op(g, other); tries++)
			;
	} else {
		gen_task_op(g, c);
	}
	g->in_window = false;
	ev(g, end[what]);
	out(g, ",\"cpu\":%d}", c);
}

bool t_preset_sets(const char *preset, const char *pair)
{
	const char *const *pairs = ptsim_preset_pairs(preset);

	for (; pairs && *pairs; pairs++)
		if (!strcmp(*pairs, pair))
			return true;
	return false;
}

/*
 * Settings that describe the CPU or the build, not an algorithm's era, so that
 * every value is a safe kernel too: each is set with a probability of 1/4.
 * arm64_tlbi_range only under presets with the arm64 walk-cache fix
 * (c2ff4764e03e: 6.18.44, 7.1.9): with range TLBIs, a kernel without it
 * (and one before 8ce720d5bd91, whose flush after an unshare is leaf-only as
 * well) really leaves the walk cache stale after a hugetlb unshare
 * (traces/bugs/CVE-2026-63875.json, docs/bugs.md), which ptsim rightly reports.
 */
static void gen_set(struct t_random_gen *g, uint64_t seed, const char *preset)
{
	static const char *const x86[][4] = {
		{ "pcid", "on", "off", NULL },
		{ "idle_leave_mm", "on", "off", NULL },
		{ "tlb_single_page_flush_ceiling", "1", "33", "64" },
		{ "table_batch_alloc", "ok", "fail", NULL },
		{ "hz", "100", "250", "1000" },
	};
	static const char *const arm64[][4] = {
		{ "arm64_ttl", "on", "off", NULL },
		{ "arm64_asid_bits", "8", "16", NULL },
		{ "arm64_kpti", "on", "off", NULL },
		{ "table_batch_alloc", "ok", "fail", NULL },
		{ "hz", "100", "250", "1000" },
	};
	const char *const(*keys)[4] = g->arm64 ? arm64 : x86;
	size_t n = g->arm64 ? sizeof(arm64) / sizeof(arm64[0]) : sizeof(x86) / sizeof(x86[0]);
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		if (!chance(g, 25))
			continue;
		unsigned int v = 1 + below(g, keys[i][3] ? 3 : 2);
		out(g, "%s\"%s\":\"%s\"", any ? "," : ",\"set\":{", keys[i][0], keys[i][v]);
		any = true;
	}
	if (g->arm64 && t_preset_sets(preset, "arm64_walkcache_fix=on") && chance(g, 25)) {
		out(g, "%s\"arm64_tlbi_range\":\"%s\"", any ? "," : ",\"set\":{", chance(g, 50) ? "on" : "off");
		any = true;
	}
	/*
	 * The layout settings, on about one trace in eight each, chosen from the
	 * trace's number (not from the generator's stream, which the traces of
	 * every other seed depend on).
	 */
	uint64_t h = (seed + 1) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	if (h % 8 == 0) {
		out(g, "%s\"legacy_va_layout\":true", any ? "," : ",\"set\":{");
		any = true;
	}
	if ((h >> 8) % 8 == 0) {
		out(g, "%s\"randomize_va_space\":%u", any ? "," : ",\"set\":{", 1 + (unsigned int)((h >> 16) & 1));
		any = true;
	}
	if (any)
		out(g, "}");
}

/* Trace number @seed: valid by construction; a machine of @machine_cpus CPUs if more than the events use. */
static void generate(struct t_random_gen *g, uint64_t seed, unsigned int machine_cpus)
{
	bool move_pages = g->move_pages;
	free(g->buf);
	free(g->probe);
	memset(g, 0, sizeof(*g));
	g->move_pages = move_pages;
	g->rng = seed * 0x2545f4914f6cdd1dull + 1;
	g->arm64 = chance(g, 50);
	g->ncpus = 2 + below(g, MAX_CPUS - 1);   /* CPUs the events use */
	g->v2 = chance(g, 30);
	const char *preset = safe_presets[below(g, sizeof(safe_presets) / sizeof(safe_presets[0]))];

	out(g, "{\"ptsim_trace\":%d,\"comment\":\"random valid trace, seed %" PRIu64 "\",\"machine\":{\"arch\":\"%s\","
	       "\"cpus\":%u,\"preset\":\"%s\",\"seed\":%u",
	    g->v2 ? 2 : 1, seed, g->arm64 ? "arm64" : "x86_64", machine_cpus > g->ncpus ? machine_cpus : g->ncpus,
	    preset, below(g, 1000));
	if (!g->arm64 && chance(g, 20))
		out(g, ",\"paging_levels\":5");
	gen_set(g, seed, preset);
	out(g, "}%s", g->v2 ? "}" : ",\"events\":[");

	unsigned int n = 20 + below(g, 100);
	while (g->nr_events < n) {
		if (!pick_running(g, -1) || chance(g, 8))
			gen_task_op(g, -1);
		else if (chance(g, 10))
			gen_concurrency(g);
		else
			gen_one(g, -1);
	}
	/* Tear everything down at the end: every exit_mmap() and check_mm() runs. */
	for (int t = 1; t <= MAX_TASKS; t++) {
		if (!g->task[t].alive)
			continue;
		if (g->task[t].cpu < 0) {
			int cpu = (int)below(g, g->ncpus);
			ev(g, "run");
			out(g, ",\"task\":%d,\"cpu\":%d}", t, cpu);
			put_on(g, t, cpu);
		}
		gen_exit(g, t);
	}
	out(g, g->v2 ? "\n" : "]}\n");
}

void t_random_trace(struct t_random_trace *t, uint64_t seed)
{
	if (!t->gen) {
		t->gen = calloc(1, sizeof(*t->gen));
		assert_non_null(t->gen);
	}
	t->gen->move_pages = t->move_pages;
	generate(t->gen, seed, t->cpus);
	t->buf = t->gen->buf;
	t->len = t->gen->len;
	t->nr_events = t->gen->nr_events;
	t->arm64 = t->gen->arm64;
	t->v2 = t->gen->v2;
	t->probe = t->gen->probe;
	t->probe_len = t->gen->probe_len;
	t->probe_event = t->gen->probe_event;
	t->probe_hint = t->gen->probe_hint;
}

void t_random_trace_free(struct t_random_trace *t)
{
	if (t->gen) {
		free(t->gen->buf);
		free(t->gen->probe);
	}
	free(t->gen);
	memset(t, 0, sizeof(*t));
}
