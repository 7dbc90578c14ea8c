/*
 * Trace replay: typed events (parse.c) run as calls of the public API.
 *
 * A trace is just a list of API calls: every op maps to one ptsim_*()
 * function.  "repeat" bodies are compiled once and replayed count times with
 * step.FIELD x i added to every numeric FIELD of the body (nested repeats
 * add up), so a 25,600-iteration loop costs no more memory than one.
 *
 * Errors name the event (its index in trace order, counting repeats, and its
 * position: "events[3].events[1] (iteration 17)"), the op and the field.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "trace/trace_internal.h"

struct frame_pos {
	size_t index;
	uint64_t iteration;
	bool in_repeat;
};

struct replay {
	struct ptsim_machine *m;
	int64_t offset[NR_NUM_FIELDS];
	struct frame_pos stack[18];
	int depth;
	/* ptsim_trace_run_with()'s hooks (NULL: none), events done, the total, the next report. */
	const struct ptsim_trace_hooks *h;
	uint64_t done, total, next_report;
	bool v2;                          /* the line names the top-level event: no "events[N]" for it */
	uint64_t work, max_work;          /* events run plus touch accesses, and the limit (max_events) */
	struct name_addr { char *name; uint64_t addr; } *names;   /* bound by "as" */
	size_t nr_names, cap_names;
};

static bool lookup_name(void *ctx, const char *name, uint64_t *addr)
{
	const struct replay *r = ctx;

	for (size_t i = 0; i < r->nr_names; i++)
		if (!strcmp(r->names[i].name, name)) {
			*addr = r->names[i].addr;
			return true;
		}
	return false;
}

/* "as": bind @name to @addr (a later "as" with the same name rebinds it). */
static int bind_name(struct replay *r, const char *name, uint64_t addr)
{
	for (size_t i = 0; i < r->nr_names; i++)
		if (!strcmp(r->names[i].name, name)) {
			r->names[i].addr = addr;
			return 0;
		}
	if (r->nr_names == r->cap_names) {
		size_t cap = r->cap_names ? 2 * r->cap_names : 16;
		struct name_addr *n = realloc(r->names, cap * sizeof(*n));
		if (!n)
			return ptsim__err(r->m, PTSIM_ENOMEM_HOST, "as", "out of memory");
		r->names = n;
		r->cap_names = cap;
	}
	if (!(r->names[r->nr_names].name = strdup(name)))
		return ptsim__err(r->m, PTSIM_ENOMEM_HOST, "as", "out of memory");
	r->names[r->nr_names++].addr = addr;
	return 0;
}

static void free_names(struct replay *r)
{
	for (size_t i = 0; i < r->nr_names; i++)
		free(r->names[i].name);
	free(r->names);
}

/* A field given as an expression: its value now. */
static int eval_field(struct replay *r, const struct tevent *ev, enum tfield f, uint64_t *out)
{
	uint64_t iter[sizeof(r->stack) / sizeof(r->stack[0])];
	char why[160];
	size_t k = 0;

	while (ev->exprs[k].field != f)
		k++;
	for (int d = 0; d <= r->depth; d++)
		iter[d] = r->stack[d].iteration;
	int rc = ptsim__trace_expr_eval(&ev->exprs[k], iter, r->m->nr_cpus, lookup_name, r, out, why, sizeof(why));
	if (rc)
		return ptsim__err(r->m, rc, ptsim__trace_field_names[f], "\"%s\": %s", ev->exprs[k].src, why);
	return 0;
}

/*
 * The position of the event running now (m->ev_where): called by ptsim__err()
 * only when a message is written, so an event that succeeds formats nothing.
 */
static void describe_where(const void *ctx, char *w, size_t cap)
{
	const struct replay *r = ctx;
	size_t n = 0;

	w[0] = 0;
	for (int i = 0; i <= r->depth && n < cap; i++) {
		int k = 0;
		if (i || !r->v2)
			k = snprintf(w + n, cap - n, "%sevents[%zu]", i ? "." : "", r->stack[i].index);
		if (k < 0)
			break;
		n += (size_t)k;
		if (i < r->depth && n < cap) {
			k = snprintf(w + n, cap - n, "[i=%" PRIu64 "]", r->stack[i + 1].iteration);
			if (k < 0)
				break;
			n += (size_t)k;
		}
	}
}

static int value(struct replay *r, const struct tevent *ev, enum tfield f, uint64_t *out)
{
	int64_t off = r->offset[f];
	uint64_t base = ev->num[f];

	/* The previous call's op is still in ev_op: name this event's op. */
	r->m->ev_op = ptsim__trace_ops[ev->op].name;
	if (ev->dynamic & B(f)) {
		int rc = eval_field(r, ev, f, &base);
		if (rc)
			return rc;
	}
	uint64_t v = base + (uint64_t)off;
	if ((off > 0 && v < base) || (off < 0 && v > base)) {
		return ptsim__err(r->m, PTSIM_EBADEVENT, ptsim__trace_field_names[f],
				  "%" PRIu64 " plus the repeat steps (%" PRId64 ") leaves the 64-bit range", base, off);
	}
	if (v > ptsim__trace_field_max[f]) {
		return ptsim__err(r->m, PTSIM_EBADEVENT, ptsim__trace_field_names[f],
				  "%" PRIu64 " (after repeat steps) is out of range (max %" PRIu64 ")", v, ptsim__trace_field_max[f]);
	}
	*out = v;
	return 0;
}

#define VAL(f, var)                                          \
	do {                                                 \
		if ((rc = value(r, ev, (f), &(var))))        \
			return rc;                           \
	} while (0)

static int run_events(struct replay *r, const struct tevent *evs, size_t nr);

/* The failed call's own message without its "event N (op) at WHERE: " prefix. */
static void call_detail(const struct ptsim_machine *m, char *out, size_t len)
{
	const char *d = strstr(m->errmsg, ": ");
	snprintf(out, len, "%s", d ? d + 2 : m->errmsg);
}

/* Count @n units of work (an event, a touch's accesses): PTSIM_ELIMIT beyond max_events. */
static int add_work(struct replay *r, const struct tevent *ev, uint64_t n)
{
	if (!__builtin_add_overflow(r->work, n, &r->work) && r->work <= r->max_work)
		return 0;
	r->m->ev_op = ptsim__trace_ops[ev->op].name;
	return ptsim__err(r->m, PTSIM_ELIMIT, NULL, "the trace passes the limit of %" PRIu64 " events (repeats "
			  "expanded, touch accesses counted; ptsim run --max-events)", r->max_work);
}

/* Accesses of a touch of @len bytes every @stride bytes (0: a base page). */
static uint64_t touch_accesses(uint64_t len, uint64_t stride, uint64_t page)
{
	if (!stride)
		stride = page;
	return len / stride + (len % stride != 0);
}

/*
 * ptsim run --events: record the result of an event that produced an address
 * (@has_addr: mmap, mremap, brk) or met its "expect" (@call_rc), when the
 * machine records them.
 */
static int note_result(struct replay *r, const struct tevent *ev, uint64_t task, bool has_addr, uint64_t addr,
		       int call_rc)
{
	struct ptsim_machine *m = r->m;

	if (!m->record_results || !(has_addr || ev->expect))
		return 0;
	struct ptsim_event_result res = {
		.event = m->event - 1, .line = m->ev_line, .op = ptsim__trace_ops[ev->op].name,
		.task = (ev->present & B(F_TASK)) ? (int)task : -1, .as = ev->as, .has_addr = has_addr,
		.addr = addr, .result = call_rc,
	};
	m->event--;   /* an error names the event that just ran */
	int rc = sim_event_result_add(m, &res);
	m->event++;
	return rc;
}

static int run_one(struct replay *r, const struct tevent *ev)
{
	struct ptsim_machine *m = r->m;
	uint64_t task = 0, cpu = 0, x = 0, addr = 0, len = 0, y = 0;
	uint64_t out_addr = 0;   /* the address the call produced (mmap, mremap, brk) */
	bool has_addr = false;
	int rc = 0;

	if (ev->op != OP_REPEAT && (rc = add_work(r, ev, 1)))
		return rc;
	switch (ev->op) {
	case OP_SPAWN:
		VAL(F_TASK, task);
		VAL(F_CPU, cpu);
		rc = ptsim_spawn(m, (int)task, (unsigned int)cpu);
		break;
	case OP_FORK:
		VAL(F_TASK, task);
		VAL(F_CHILD, x);
		cpu = PTSIM_CPU_NONE;   /* no cpu: the child does not run yet */
		if (ev->present & B(F_CPU))
			VAL(F_CPU, cpu);
		rc = ptsim_fork(m, (int)task, (int)x, (unsigned int)cpu);
		break;
	case OP_THREAD:
		VAL(F_TASK, task);
		VAL(F_THREAD, x);
		cpu = PTSIM_CPU_NONE;
		if (ev->present & B(F_CPU))
			VAL(F_CPU, cpu);
		rc = ev->process ? ptsim_clone_vm(m, (int)task, (int)x, (unsigned int)cpu)
				 : ptsim_thread(m, (int)task, (int)x, (unsigned int)cpu);
		break;
	case OP_EXIT:
		VAL(F_TASK, task);
		rc = ptsim_exit(m, (int)task);
		break;
	case OP_RUN:
		VAL(F_CPU, cpu);
		if (ev->other) {
			rc = ptsim_run_other(m, (unsigned int)cpu);
			break;
		}
		VAL(F_TASK, task);
		rc = ptsim_run(m, (int)task, (unsigned int)cpu);
		break;
	case OP_SLEEP:
		VAL(F_TASK, task);
		rc = ptsim_sleep(m, (int)task);
		break;
	case OP_ADVANCE: {
		uint64_t ns;
		if (ev->present & B(F_NS)) {
			VAL(F_NS, ns);
		} else if (ev->present & B(F_US)) {
			VAL(F_US, x);
			ns = x * 1000;
		} else if (ev->present & B(F_MS)) {
			VAL(F_MS, x);
			ns = x * 1000000;
		} else {
			VAL(F_S, x);
			ns = x * 1000000000;
		}
		rc = ptsim_advance(m, ns);
		break;
	}
	case OP_MMAP: {
		struct ptsim_mmap_args a = { 0 };
		VAL(F_TASK, task);
		/* No address: the kernel chooses.  An address without "fixed": in v2 a hint
		 * (mmap(2) without MAP_FIXED), in v1 the original meaning (fixed, an overlap is
		 * an input error). */
		if (ev->present & B(F_ADDR)) {
			VAL(F_ADDR, a.addr);
			if (r->v2)
				a.fixed = PTSIM_MAP_HINT;
		} else {
			a.fixed = PTSIM_MAP_HINT;
		}
		if (ev->present & B(F_FIXED))
			a.fixed = ev->fixed == FIXED_REPLACE ? PTSIM_MAP_REPLACE : PTSIM_MAP_NOREPLACE;
		VAL(F_LEN, a.len);
		if (ev->present & B(F_OFFSET))
			VAL(F_OFFSET, a.offset);
		if (ev->present & B(F_PAGE_SIZE))
			VAL(F_PAGE_SIZE, a.page_size);
		a.prot = ev->prot;
		a.kind = ev->kind;
		a.shared = ev->shared;
		a.file = ev->file;
		a.populate = ev->populate;
		uint64_t got = 0;
		rc = ptsim_mmap_addr(m, &got, (int)task, &a);
		has_addr = !rc;
		out_addr = got;
		if (!rc && ev->as)
			rc = bind_name(r, ev->as, got);
		break;
	}
	case OP_MUNMAP:
	case OP_MPROTECT:
	case OP_MADVISE:
	case OP_MLOCK:
	case OP_MUNLOCK:
	case OP_SWAPOUT:
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		VAL(F_LEN, len);
		if (ev->op == OP_MUNMAP)
			rc = ptsim_munmap(m, (int)task, addr, len);
		else if (ev->op == OP_MPROTECT)
			rc = ptsim_mprotect(m, (int)task, addr, len, ev->prot);
		else if (ev->op == OP_MADVISE)
			rc = ptsim_madvise(m, (int)task, addr, len, ev->advice);
		else if (ev->op == OP_MLOCK)
			rc = ptsim_mlock(m, (int)task, addr, len);
		else if (ev->op == OP_SWAPOUT)
			rc = ptsim_swapout(m, (int)task, addr, len);
		else
			rc = ptsim_munlock(m, (int)task, addr, len);
		break;
	case OP_TOUCH:
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		VAL(F_LEN, len);
		if (ev->present & B(F_STRIDE))
			VAL(F_STRIDE, y);
		if ((rc = add_work(r, ev, touch_accesses(len, y, PAGE_SIZE(m)))))
			return rc;
		rc = ptsim_touch(m, (int)task, addr, len, y, ev->write);
		break;
	case OP_MARK: {
		/* The iterations of the repeats around it tell the marks of a loop apart. */
		uint64_t it[PTSIM_MARK_MAX_DEPTH];
		unsigned int depth = 0;
		for (int d = 1; d <= r->depth && depth < PTSIM_MARK_MAX_DEPTH; d++)
			it[depth++] = r->stack[d].iteration;
		/* ... followed by those of repeats that ptsim convert --expand-repeats wrote out. */
		if (depth + ev->nr_iteration > PTSIM_MARK_MAX_DEPTH)
			return ptsim__err(m, PTSIM_EBADEVENT, "iteration", "%u repeats around the mark and %u iteration "
					  "numbers given: more than %d", depth, ev->nr_iteration, PTSIM_MARK_MAX_DEPTH);
		for (unsigned int k = 0; k < ev->nr_iteration; k++)
			it[depth++] = ev->iteration[k];
		rc = ptsim_mark_iteration(m, ev->name, it, depth);
		break;
	}
	case OP_TOUCH_RANDOM:
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		VAL(F_LEN, len);
		VAL(F_COUNT, x);
		if (ev->present & B(F_STRIDE))
			VAL(F_STRIDE, y);
		if ((rc = add_work(r, ev, x)))
			return rc;
		rc = ptsim_touch_random(m, (int)task, addr, len, y, x, ev->write);
		break;
	case OP_MREMAP:
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		VAL(F_LEN, len);
		y = 0;
		if (ev->present & B(F_NEW_ADDR))
			VAL(F_NEW_ADDR, y);
		if (!(ev->present & (B(F_FLAGS) | B(F_NEW_LEN)))) {
			rc = ptsim_mremap(m, (int)task, addr, len, y);   /* v1: MAYMOVE|FIXED, same length */
			has_addr = !rc;
			out_addr = y;
			if (!rc && ev->as)
				rc = bind_name(r, ev->as, y);
			break;
		}
		x = len;
		if (ev->present & B(F_NEW_LEN))
			VAL(F_NEW_LEN, x);
		uint64_t got = 0;
		rc = ptsim_mremap_flags(m, &got, (int)task, addr, len, x, ev->mremap_flags, y);
		has_addr = !rc;
		out_addr = got;
		if (!rc && ev->as)
			rc = bind_name(r, ev->as, got);
		break;
	case OP_EXEC: {
		struct ptsim_exec_args a = { .segments = ev->segments, .nr_segments = ev->nr_segments,
					     .stack_addr = ev->stack_addr, .stack_len = ev->stack_len,
					     .arg_pages = ev->arg_pages };
		VAL(F_TASK, task);
		if (ev->present & B(F_BRK))
			VAL(F_BRK, a.brk);
		rc = ptsim_exec(m, (int)task, &a);
		break;
	}
	case OP_CACHE: {
		uint64_t off = 0;
		VAL(F_LEN, len);
		if (ev->present & B(F_OFFSET))
			VAL(F_OFFSET, off);
		rc = ptsim_file_cache(m, ev->file, (ev->present & B(F_KIND)) ? ev->kind : PTSIM_MAP_FILE, off, len);
		break;
	}
	case OP_BRK:
		VAL(F_TASK, task);
		if (ev->brk_relative) {
			rc = ptsim_sbrk(m, &y, (int)task, ev->brk_delta);
		} else {
			VAL(F_ADDR, addr);
			rc = ptsim_brk(m, &y, (int)task, addr);
		}
		has_addr = !rc;
		out_addr = y;
		if (!rc && ev->as)
			rc = bind_name(r, ev->as, y);
		break;
	case OP_MOVE_PAGES:
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		rc = ptsim_move_pages(m, (int)task, addr);
		break;
	case OP_MSHARE_CREATE:
	case OP_MSHARE_MAP: {
		task = (uint64_t)(int64_t)PTSIM_NO_TASK;   /* no task: a call that flushes nothing runs on no CPU */
		if (ev->present & B(F_TASK))
			VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		VAL(F_LEN, len);
		if (ev->op == OP_MSHARE_CREATE) {
			rc = ptsim_mshare_create(m, (int)task, ev->name, addr, len);
			break;
		}
		struct ptsim_mmap_args a = { .addr = addr, .len = len, .prot = ev->prot, .kind = ev->kind,
					     .file = ev->file, .shared = true };
		if (ev->present & B(F_SHARED))
			a.shared = ev->shared;   /* MSHAREFS_CREATE_MAPPING wants MAP_SHARED: the default */
		if (ev->present & B(F_OFFSET))
			VAL(F_OFFSET, a.offset);
		if (ev->present & B(F_PAGE_SIZE))
			VAL(F_PAGE_SIZE, a.page_size);
		rc = ptsim_mshare_map(m, (int)task, ev->name, &a);
		break;
	}
	case OP_MSHARE_MUNMAP:
	case OP_MSHARE_MADVISE:
	case OP_MSHARE_MPROTECT:
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		VAL(F_LEN, len);
		if (ev->op == OP_MSHARE_MUNMAP)
			rc = ptsim_mshare_munmap(m, (int)task, ev->name, addr, len);
		else if (ev->op == OP_MSHARE_MADVISE)
			rc = ptsim_mshare_madvise(m, (int)task, ev->name, addr, len, ev->advice);
		else
			rc = ptsim_mshare_mprotect(m, (int)task, ev->name, addr, len, ev->prot);
		break;
	case OP_MSHARE_UNLINK:
		VAL(F_TASK, task);
		rc = ptsim_mshare_unlink(m, (int)task, ev->name);
		break;
	case OP_GUP_FAST_BEGIN:
	case OP_RCU_READ_BEGIN:
	case OP_PMD_LOCK:
		VAL(F_CPU, cpu);
		VAL(F_TASK, task);
		VAL(F_ADDR, addr);
		if (ev->op == OP_GUP_FAST_BEGIN)
			rc = ptsim_gup_fast_begin(m, (unsigned int)cpu, (int)task, addr);
		else if (ev->op == OP_RCU_READ_BEGIN)
			rc = ptsim_rcu_read_begin(m, (unsigned int)cpu, (int)task, addr);
		else
			rc = ptsim_pmd_lock(m, (unsigned int)cpu, (int)task, addr);
		break;
	case OP_GUP_FAST_END:
	case OP_RCU_READ_END:
	case OP_PMD_UNLOCK:
	case OP_SCHEDULE_BEGIN:
	case OP_SCHEDULE_END:
	case OP_LRU_ADD_DRAIN_CPU:
		VAL(F_CPU, cpu);
		if (ev->op == OP_GUP_FAST_END)
			rc = ptsim_gup_fast_end(m, (unsigned int)cpu);
		else if (ev->op == OP_RCU_READ_END)
			rc = ptsim_rcu_read_end(m, (unsigned int)cpu);
		else if (ev->op == OP_SCHEDULE_BEGIN)
			rc = ptsim_schedule_begin(m, (unsigned int)cpu);
		else if (ev->op == OP_SCHEDULE_END)
			rc = ptsim_schedule_end(m, (unsigned int)cpu);
		else if (ev->op == OP_LRU_ADD_DRAIN_CPU)
			rc = ptsim_lru_add_drain_cpu(m, (unsigned int)cpu);
		else
			rc = ptsim_pmd_unlock(m, (unsigned int)cpu);
		break;
	case OP_REPEAT: {
		uint64_t count;
		VAL(F_COUNT, count);
		if (r->depth + 1 >= (int)(sizeof(r->stack) / sizeof(r->stack[0])))
			return ptsim__err(m, PTSIM_EBADEVENT, NULL, "repeat nested too deep");
		int64_t saved[NR_NUM_FIELDS];
		memcpy(saved, r->offset, sizeof(saved));
		r->depth++;
		for (uint64_t i = 0; i < count && !rc; i++) {
			r->stack[r->depth].iteration = i;
			rc = run_events(r, ev->body, ev->nr_body);
			/* The next iteration's steps; checked, as the sum may leave the 64-bit range. */
			for (int f = 0; f < NR_NUM_FIELDS && !rc && i + 1 < count; f++) {
				if (ev->step[f] && __builtin_add_overflow(r->offset[f], ev->step[f], &r->offset[f])) {
					r->stack[r->depth].iteration = i + 1;
					rc = ptsim__err(m, PTSIM_EBADEVENT, ptsim__trace_field_names[f],
							"the repeat steps (%" PRId64 " each) add up beyond the 64-bit range "
							"in iteration %" PRIu64, ev->step[f], i + 1);
				}
			}
		}
		/* The events after the loop see the offsets from before it. */
		memcpy(r->offset, saved, sizeof(saved));
		r->depth--;
		return rc;
	}
	default:
		return ptsim__err(m, PTSIM_EINTERNAL, NULL, "unhandled op");
	}
	/* The simulator out of host memory is never the kernel's answer, expected or not. */
	if (rc == PTSIM_ENOMEM_HOST || rc == PTSIM_ELIMIT)
		return rc;
	/* A system call that the kernel fails is an error unless the trace expects it. */
	if (ev->expect) {
		/* An overlapping mmap is the kernel's EEXIST (MAP_FIXED_NOREPLACE). */
		if (rc == ev->expect ||
		    ((ptsim__trace_ops[ev->op].flags & OPF_OVERLAP_IS_EEXIST) && ev->expect == -EEXIST && rc == PTSIM_EOVERLAP))
			return note_result(r, ev, task, false, 0, ev->expect);
		m->event--;   /* name the event that just ran */
		if (!rc) {
			rc = ptsim__err(m, PTSIM_EBADEVENT, "expect", "expected %s, but the call succeeded",
					ptsim_errname(ev->expect));
		} else {
			char detail[sizeof(m->errmsg)];
			call_detail(m, detail, sizeof(detail));
			rc = ptsim__err(m, PTSIM_EBADEVENT, "expect", "expected %s, but the call failed with %s (%s)",
					ptsim_errname(ev->expect), ptsim_errname(rc), detail);
		}
		m->event++;
		return rc;
	}
	/*
	 * ptsim: for these ops (mprotect, madvise, mlock, munlock, and swapout,
	 * which answers as madvise(MADV_PAGEOUT) does) ENOMEM is the kernel's
	 * answer to a hole, not the simulator running out of memory: report it as
	 * a bad event (ptsim run exits 2, not 1) and say how to expect it.
	 */
	if (rc == -ENOMEM && (ptsim__trace_ops[ev->op].flags & OPF_ENOMEM_IS_HOLE)) {
		char detail[sizeof(m->errmsg)];
		call_detail(m, detail, sizeof(detail));
		m->event--;
		rc = ptsim__err(m, PTSIM_EBADEVENT, "addr", "%s (add \"expect\": \"ENOMEM\" if the trace means it)",
				detail);
		m->event++;
	}
	if (!rc)
		rc = note_result(r, ev, task, has_addr, out_addr, 0);
	return rc;
}

/* An event ran: count it for the caller's hooks, report progress when due. */
static void hooks_note(struct replay *r, enum top op)
{
	const struct ptsim_trace_hooks *h = r->h;

	if (h->op_events)
		h->op_events[op]++;
	r->done++;
	if (h->progress && h->progress_every && r->done >= r->next_report) {
		r->next_report = r->done + h->progress_every;
		h->progress(h->ctx, r->done, r->total);
	}
}

static int run_events(struct replay *r, const struct tevent *evs, size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		r->stack[r->depth].index = i;
		int rc = run_one(r, &evs[i]);
		if (rc) {
			/* The op's own message names the event; keep the position. */
			return rc;
		}
		if (r->h && evs[i].op != OP_REPEAT)
			hooks_note(r, evs[i].op);
	}
	return 0;
}

/*
 * Events @evs expand to (repeats multiplied out), or 0 if that is not known
 * before running: a repeat count stepped by an outer repeat, or more than
 * 2^64 events.
 */
static uint64_t expanded_events(const struct tevent *evs, size_t nr, bool count_stepped)
{
	uint64_t n = 0;

	for (size_t i = 0; i < nr; i++) {
		uint64_t k = 1;
		if (evs[i].op == OP_REPEAT) {
			if (count_stepped)
				return 0;
			uint64_t body = expanded_events(evs[i].body, evs[i].nr_body, evs[i].stepped & B(F_COUNT));
			if (!body && evs[i].nr_body)
				return 0;
			if (__builtin_mul_overflow(body, evs[i].num[F_COUNT], &k))
				return 0;
		}
		if (__builtin_add_overflow(n, k, &n))
			return 0;
	}
	return n;
}


static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* @v plus an offset, kept within 0 .. 2^64 - 1 (a value outside fails when it runs). */
static uint64_t clamp_add(uint64_t v, int64_t off)
{
	if (off >= 0)
		return sat_add(v, (uint64_t)off);
	uint64_t d = off == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)-off;
	return v > d ? v - d : 0;
}

/*
 * The work of @evs (events with repeats expanded, plus touch and
 * touch_random accesses), each touch counted at its largest: @lo and @hi
 * are the smallest and largest repeat offsets each field takes.  Saturates
 * at 2^64 - 1.  Checked before a v1 trace (or a v2 line) runs.
 */
static uint64_t work_bound(const struct tevent *evs, size_t nr, const int64_t *lo, const int64_t *hi,
			   uint64_t page)
{
	uint64_t w = 0;

	for (size_t i = 0; i < nr; i++) {
		const struct tevent *ev = &evs[i];
		if (ev->op == OP_REPEAT) {
			int64_t lo2[NR_NUM_FIELDS], hi2[NR_NUM_FIELDS];
			uint64_t count = ev->num[F_COUNT];
			if (!count)
				continue;
			for (int f = 0; f < NR_NUM_FIELDS; f++) {
				int64_t span;
				lo2[f] = lo[f];
				hi2[f] = hi[f];
				if (!ev->step[f])
					continue;
				if (__builtin_mul_overflow(ev->step[f], (int64_t)(count - 1), &span))
					span = ev->step[f] > 0 ? INT64_MAX : INT64_MIN;
				if (span > 0 && __builtin_add_overflow(hi[f], span, &hi2[f]))
					hi2[f] = INT64_MAX;
				if (span < 0 && __builtin_add_overflow(lo[f], span, &lo2[f]))
					lo2[f] = INT64_MIN;
			}
			w = sat_add(w, sat_mul(count, work_bound(ev->body, ev->nr_body, lo2, hi2, page)));
			continue;
		}
		uint64_t k = 1;
		if (ev->op == OP_TOUCH) {
			uint64_t stride = ev->present & B(F_STRIDE) ? clamp_add(ev->num[F_STRIDE], lo[F_STRIDE]) : 0;
			k = sat_add(k, touch_accesses(clamp_add(ev->num[F_LEN], hi[F_LEN]), stride, page));
		} else if (ev->op == OP_TOUCH_RANDOM) {
			k = sat_add(k, ev->num[F_COUNT]);
		}
		w = sat_add(w, k);
	}
	return w;
}

/* The message of a trace (or a line) refused before it runs. */
static int refuse_work(struct ptsim_machine *m, const char *where, uint64_t work, uint64_t max)
{
	snprintf(m->errmsg, sizeof(m->errmsg), "%s%s would run %" PRIu64 "%s events (repeats expanded, touch "
		 "accesses counted at their largest), more than the limit of %" PRIu64 " (ptsim run --max-events, "
		 "ptsim_trace_options.max_events)", where, *where ? ": this event alone" : "the trace",
		 work, work == UINT64_MAX ? " or more" : "", max);
	return PTSIM_ELIMIT;
}

/* Replay a v1 trace's events on @m; the caller sets and clears m->in_trace. */
int ptsim__trace_replay(struct ptsim_machine *m, const struct ptsim_trace *t, const struct ptsim_trace_hooks *h)
{
	struct replay r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.m = m;
	r.h = h;
	r.max_work = t->opts.max_events;
	uint64_t bound = work_bound(t->events, t->nr_events, r.offset, r.offset, PAGE_SIZE(m));
	if (bound > r.max_work)
		return refuse_work(m, "", bound, r.max_work);
	if (h && h->progress) {
		r.total = expanded_events(t->events, t->nr_events, false);
		r.next_report = h->progress_every;
	}
	m->ev_where = describe_where;
	m->ev_where_ctx = &r;
	rc = run_events(&r, t->events, t->nr_events);
	free_names(&r);
	m->ev_where = NULL;
	m->ev_where_ctx = NULL;
	if (h && h->progress)
		h->progress(h->ctx, r.done, r.total);
	return rc;
}

/*
 * Read, parse and run the events of a v2 trace one line at a time: only the
 * current line and its parsed event are in memory.  Errors name the line.
 */
int ptsim__trace_replay_stream(struct ptsim_machine *m, struct ptsim_trace *t, const struct ptsim_trace_hooks *h)
{
	struct replay r;
	struct tevent ev;
	int rc = 0;

	if (t->consumed || !t->rd) {
		snprintf(m->errmsg, sizeof(m->errmsg), "the events of this v2 trace were read by an earlier "
			 "ptsim_trace_run(): a JSON Lines trace runs once (load it again)");
		return -EINVAL;
	}
	t->consumed = true;
	memset(&r, 0, sizeof(r));
	r.m = m;
	r.v2 = true;
	r.h = h;
	r.max_work = t->opts.max_events;
	if (h && h->progress)
		r.next_report = h->progress_every;
	m->ev_where = describe_where;
	m->ev_where_ctx = &r;
	for (;;) {
		char *line;
		size_t len;
		bool trailer;

		rc = ptsim__trace_next_line(t, &line, &len, m->errmsg, sizeof(m->errmsg));
		if (rc == 1) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		struct perr pe = { .buf = m->errmsg, .len = sizeof(m->errmsg), .in_line = true };
		snprintf(pe.path, sizeof(pe.path), "line %" PRIu64 " (event %" PRIu64 ")", t->line, m->event);
		rc = ptsim__trace_parse_line(&pe, t, line, len, &ev, &trailer, NULL);
		if (!rc && trailer)
			continue;
		if (!rc) {
			uint64_t bound = work_bound(&ev, 1, r.offset, r.offset, PAGE_SIZE(m));
			if (bound > r.max_work) {
				char where[64];
				snprintf(where, sizeof(where), "line %" PRIu64 " (event %" PRIu64 ", %s)", t->line, m->event,
					 ptsim__trace_ops[ev.op].name);
				rc = refuse_work(m, where, bound, r.max_work);
			}
		}
		if (!rc) {
			m->ev_line = t->line;
			r.stack[0].index = 0;
			rc = run_one(&r, &ev);
			if (!rc && h && ev.op != OP_REPEAT)
				hooks_note(&r, ev.op);
		}
		ptsim__trace_clear_event(&ev);
		if (rc)
			break;
	}
	free_names(&r);
	m->ev_where = NULL;
	m->ev_where_ctx = NULL;
	if (h && h->progress)
		h->progress(h->ctx, r.done, r.total);
	return rc;
}
