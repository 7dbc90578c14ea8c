/*
 * The recorder's converter (src/record/convert.c, counts.c) on synthetic
 * kernel event sequences: no tracefs, no ptrace, no host kernel.  Each test
 * feeds struct rec_ev events the way tracing.c would deliver them, then
 * reads the written trace back and checks its lines and its trailer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <ptsim/ptsim.h>

#include "support/helpers.h"
#include "record/convert.h"
#include "record/grow.h"
#include "record/out.h"

#ifndef PTSIM_TEST_TMPDIR
#error "PTSIM_TEST_TMPDIR must be defined by tests/CMakeLists.txt"
#endif

#define FLUSH_FN 0xffffffff81000100ull
#define SYNC_FN 0xffffffff81000200ull
#define ROOT 100     /* the recorded command's pid: task 1 */
#define THREAD 101   /* its thread: task 2 */
#define NR_mprotect 10
#define NR_madvise 28
#define NR_munmap 11
#define X_ALL UINT64_MAX

struct conv {
	struct rec_sysinfo si;
	struct rec_data d;
	struct rec_out *out;
	struct rec_conv *c;
	char path[512];
	uint64_t ts;
	uint64_t gap;      /* between events, ns (10 us unless a test says otherwise) */
	struct rec_ev e;   /* the event being built */
	/* the written trace */
	char **lines;
	size_t nr;
	cJSON *trailer;
	FILE *log;         /* when set, feed() writes each event to it (the random sequences) ... */
	char *logbuf;      /* ... an open_memstream of these */
	size_t loglen;
	unsigned long seed;   /* the random sequence's seed and number of tasks */
	int tasks;
};

/* The trace is written to @dir (rec_out_commit() syncs it to disk). */
static void conv_start_in(struct conv *v, const char *dir, const char *name)
{
	static char *const argv[] = { "prog", NULL };
	char err[256];

	memset(v, 0, sizeof(*v));
	v->si.cpus = 2;
	v->si.paging_levels = 4;
	v->si.hz = 250;
	snprintf(v->si.release, sizeof(v->si.release), "6.18.44");
	snprintf(v->si.machine, sizeof(v->si.machine), "x86_64");
	snprintf(v->si.preset, sizeof(v->si.preset), "6.18.44");
	snprintf(v->path, sizeof(v->path), "%s/convert_%d_%s.jsonl", dir, (int)getpid(), name);
	if (rec_out_open(&v->out, v->path, err, sizeof(err)))
		fail_msg("rec_out_open: %s", err);
	struct rec_conv_opts o = {
		.si = &v->si, .argv = argv, .root = ROOT, .flush_fn = FLUSH_FN, .sync_fn = SYNC_FN, .quiet = true,
	};
	assert_int_equal(rec_conv_new(&v->c, &v->d, v->out, &o), 0);
	assert_int_equal(rec_conv_header(v->c), 0);
	v->ts = 1000000000ull;   /* on a jiffy boundary (HZ 250): no phase advance */
	v->gap = 10000;
}

static void conv_start(struct conv *v, const char *name)
{
	conv_start_in(v, PTSIM_TEST_TMPDIR, name);
}

/* One event, v->gap after the previous one. */
static struct rec_ev *ev(struct conv *v, int kind, unsigned int cpu, int pid)
{
	struct rec_ev *e = &v->e;
	memset(e, 0, sizeof(*e));
	v->ts += v->gap;
	e->ts = v->ts;
	e->kind = (uint8_t)kind;
	e->cpu = (uint16_t)cpu;
	e->pid = pid;
	return e;
}

static void log_event(FILE *f, const struct rec_ev *e);
static void report_sequence(struct conv *v);

static void feed(struct conv *v, const struct rec_ev *e)
{
	if (v->log)
		log_event(v->log, e);
	int rc = rec_conv_event(v->c, e, true);
	if (rc && v->log)
		report_sequence(v);
	if (rc)
		fail_msg("rec_conv_event (kind %d at %llu): %d", e->kind, (unsigned long long)e->ts, rc);
}

/* An empty snapshot of the command's address space at an exec, queued after those already there. */
static struct rec_exec *queue_snapshot(struct conv *v)
{
	struct rec_pidinfo *pi = rec_pidinfo(&v->d, ROOT);
	assert_non_null(pi);
	struct rec_exec **at = &pi->exec;
	while (*at)
		at = &(*at)->next;
	*at = calloc(1, sizeof(**at));
	assert_non_null(*at);
	(*at)->old_pid = ROOT;
	snprintf((*at)->comm, sizeof((*at)->comm), "prog");
	return *at;
}

/* The command's (task 1's) exec event on @cpu: it takes the first queued snapshot. */
static void exec_event(struct conv *v, unsigned int cpu)
{
	struct rec_ev *e = ev(v, REV_EXEC, cpu, ROOT);
	e->u.exec.pid = e->u.exec.old_pid = ROOT;
	feed(v, e);
}

/* The command's exec on @cpu (task 1), with an empty snapshot. */
static void exec_root(struct conv *v, unsigned int cpu)
{
	queue_snapshot(v);
	exec_event(v, cpu);
}

/* Task 1 starts a thread (task 2); the kernel does not run it yet. */
static void start_thread(struct conv *v)
{
	struct rec_pidinfo *pi = rec_pidinfo(&v->d, THREAD);
	assert_non_null(pi);
	pi->fork = calloc(1, sizeof(*pi->fork));
	assert_non_null(pi->fork);
	pi->fork->kind = RK_THREAD;
	pi->fork->parent = ROOT;
	struct rec_ev *e = ev(v, REV_FORK, 0, ROOT);
	e->u.fork.parent = ROOT;
	e->u.fork.child = THREAD;
	feed(v, e);
}

/* Task 1 (on CPU 0) enters system call @nr with arguments @a0, @a1, @a2 ... */
static void sys_enter(struct conv *v, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct rec_ev *e = ev(v, REV_SYS_ENTER, 0, ROOT);
	e->u.enter.nr = nr;
	e->u.enter.a[0] = a0;
	e->u.enter.a[1] = a1;
	e->u.enter.a[2] = a2;
	feed(v, e);
}

/* ... and returns 0. */
static void sys_exit(struct conv *v, int nr)
{
	struct rec_ev *e = ev(v, REV_SYS_EXIT, 0, ROOT);
	e->u.exit_.nr = nr;
	e->u.exit_.ret = 0;
	feed(v, e);
}

static void sched_switch(struct conv *v, unsigned int cpu, int prev, int next, int64_t prev_state)
{
	struct rec_ev *e = ev(v, REV_SWITCH, cpu, prev);
	e->u.sw.prev = prev;
	e->u.sw.next = next;
	e->u.sw.prev_state = prev_state;
	snprintf(e->u.sw.next_comm, sizeof(e->u.sw.next_comm), "%s", next ? "prog" : "swapper");
	feed(v, e);
}

static void tlb_flush(struct conv *v, unsigned int cpu, int pid, int reason, uint64_t pages)
{
	struct rec_ev *e = ev(v, REV_TLB_FLUSH, cpu, pid);
	e->u.tlb.reason = reason;
	e->u.tlb.pages = pages;
	feed(v, e);
}

static void csd_queue(struct conv *v, unsigned int cpu, int pid, unsigned int target, uint64_t csd)
{
	struct rec_ev *e = ev(v, REV_CSD_QUEUE, cpu, pid);
	e->u.csdq.target = target;
	e->u.csdq.func = FLUSH_FN;
	e->u.csdq.csd = csd;
	feed(v, e);
}

static void csd_call(struct conv *v, int kind, unsigned int cpu, int pid, uint64_t csd)
{
	struct rec_ev *e = ev(v, kind, cpu, pid);
	e->u.csdf.func = FLUSH_FN;
	e->u.csdf.csd = csd;
	feed(v, e);
}

static long trailer_num(const struct conv *v, const char *path);

/* Finish: the trailer, the file, its lines read back (no check of them). */
static void conv_write(struct conv *v)
{
	char err[256];
	struct rec_conv_end end = { .root_reaped = true, .duration_ns = v->ts - 1000000000ull };

	int rc = rec_conv_finish(v->c, &end);
	if (rc && v->log)
		report_sequence(v);
	if (rc)
		fail_msg("rec_conv_finish: %d", rc);
	if (rec_out_commit(v->out, err, sizeof(err)))
		fail_msg("rec_out_commit: %s", err);
	rec_conv_free(v->c);
	rec_data_free(&v->d);
	FILE *f = fopen(v->path, "r");
	assert_non_null(f);
	char buf[65536];
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = 0;
		v->lines = realloc(v->lines, (v->nr + 1) * sizeof(*v->lines));
		v->lines[v->nr++] = strdup(buf);
	}
	fclose(f);
	unlink(v->path);
	assert_true(v->nr >= 2);
	v->trailer = cJSON_Parse(v->lines[v->nr - 1]);
	assert_non_null(cJSON_GetObjectItem(v->trailer, "recorded"));
}

/* Finish, and check the trailer's counts of the lines written. */
static void conv_finish(struct conv *v)
{
	conv_write(v);
	/* events.ops and events.touches count the lines written (docs/record.md) */
	long touches = 0;
	for (size_t i = 1; i + 1 < v->nr; i++)
		touches += !strncmp(v->lines[i], "{\"op\":\"touch\",", 14);
	assert_int_equal(trailer_num(v, "events.ops"), (long)v->nr - 2);
	assert_int_equal(trailer_num(v, "events.touches"), touches);
}

static void conv_free(struct conv *v)
{
	for (size_t i = 0; i < v->nr; i++)
		free(v->lines[i]);
	free(v->lines);
	cJSON_Delete(v->trailer);
}

/* The trailer's number at @path ("cpus.1.tlb.remote.noop": array items by index). */
static long trailer_num(const struct conv *v, const char *path)
{
	char buf[256], *save = NULL;
	const cJSON *o = cJSON_GetObjectItem(v->trailer, "recorded");
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
		o = cJSON_IsArray(o) ? cJSON_GetArrayItem(o, atoi(k)) : cJSON_GetObjectItem(o, k);
	if (!cJSON_IsNumber(o))
		fail_msg("no number at %s in the trailer: %s", path, v->lines[v->nr - 1]);
	return (long)o->valuedouble;
}

/* The index of the first line from @from holding @needle, or -1. */
static long find_line(const struct conv *v, size_t from, const char *needle)
{
	for (size_t i = from; i < v->nr; i++)
		if (strstr(v->lines[i], needle))
			return (long)i;
	return -1;
}

static void dump_lines(const struct conv *v)
{
	for (size_t i = 0; i + 1 < v->nr; i++)
		print_message("  %zu: %s\n", i, v->lines[i]);
}

/* 0 when `ptsim run` takes the written trace (it loads and replays), else the error in @err. */
static int replay_error(const struct conv *v, char *err, size_t errlen)
{
	size_t len = 0;
	for (size_t i = 0; i < v->nr; i++)
		len += strlen(v->lines[i]) + 1;
	char *text = malloc(len + 1), *p = text;
	assert_non_null(text);
	for (size_t i = 0; i < v->nr; i++)
		p += sprintf(p, "%s\n", v->lines[i]);
	struct ptsim_trace *t = NULL;
	struct ptsim_machine *m = NULL;
	struct ptsim_config cfg;
	int rc = ptsim_trace_load(&t, text, len, err, errlen);
	if (!rc) {
		ptsim_trace_config(t, &cfg);
		rc = ptsim_machine_create(&m, &cfg, err, errlen);
	}
	if (!rc && (rc = ptsim_trace_run(t, m)))
		snprintf(err, errlen, "%s", ptsim_machine_errmsg(m));
	ptsim_machine_destroy(m);
	ptsim_trace_free(t);
	free(text);
	return rc;
}

/* `ptsim run` takes the written trace: it loads and replays without an error. */
static void assert_replays(const struct conv *v)
{
	char err[512] = "";
	if (replay_error(v, err, sizeof(err))) {
		dump_lines(v);
		fail_msg("the replay refuses the trace: %s", err);
	}
}

/*
 * Every touch's (and exec's, munmap's, ...) task is on a CPU at that line,
 * outside a schedule_begin/_end window of that CPU (as `ptsim run`
 * requires): placement followed through spawn/thread/run/sleep/exit and the
 * windows.
 */
static void assert_touches_placed(const struct conv *v)
{
	int on[8] = { 0 };   /* task id -> 1 + its CPU, 0: not running */
	bool window[8] = { false };   /* CPU -> inside schedule_begin/_end */
	for (size_t i = 1; i + 1 < v->nr; i++) {
		cJSON *o = cJSON_Parse(v->lines[i]);
		assert_non_null(o);
		const char *op = cJSON_GetObjectItem(o, "op")->valuestring;
		const cJSON *task = cJSON_GetObjectItem(o, "task"), *cpu = cJSON_GetObjectItem(o, "cpu");
		int t = cJSON_IsNumber(task) ? task->valueint : -1;
		assert_true(t < 8);
		if ((!strcmp(op, "run") || !strcmp(op, "spawn")) && t >= 0 && cJSON_IsNumber(cpu)) {
			for (int k = 0; k < 8; k++)
				if (on[k] == cpu->valueint + 1)
					on[k] = 0;
			on[t] = cpu->valueint + 1;
		} else if (!strcmp(op, "run") && cJSON_IsNumber(cpu)) {
			for (int k = 0; k < 8; k++)
				if (on[k] == cpu->valueint + 1)
					on[k] = 0;
		} else if (!strcmp(op, "sleep") || !strcmp(op, "exit")) {
			on[t] = 0;
		} else if (!strncmp(op, "schedule_", 9) && cJSON_IsNumber(cpu) && cpu->valueint < 8) {
			window[cpu->valueint] = !strcmp(op, "schedule_begin");
		} else if ((!strcmp(op, "touch") || !strcmp(op, "exec") || !strcmp(op, "munmap") ||
			    !strcmp(op, "mprotect") || !strcmp(op, "madvise") || !strcmp(op, "mmap")) &&
			   (!on[t] || window[on[t] - 1])) {
			dump_lines(v);
			fail_msg("line %zu: %s of task %d, which is not running there%s", i, op, t,
				 on[t] ? " (its CPU is inside schedule_begin/_end)" : "");
		}
		cJSON_Delete(o);
	}
}

/*
 * A flush call that meets a lazy CPU switches it to init_mm; when init_mm's
 * ASID is current that switch traces "flush on task switch" with 0 pages.
 * That is what the call did (lazy_to_init_mm), not nothing.  A remote
 * shootdown traced with 0 pages (the CPU had caught up) and a call with no
 * tlb_flush at all are the no-ops.
 */
static void test_record_convert__lazy_switch_to_init_mm_is_not_a_noop(void **state)
{
	struct conv v;
	(void)state;
	conv_start(&v, "lazy");
	exec_root(&v, 0);
	static const struct {
		int reason;        /* -1: no tlb_flush inside the call */
		uint64_t pages;
	} calls[] = {
		{ 0, 0 }, { 0, X_ALL }, { 1, 0 }, { -1, 0 }, { 1, 3 }, { 1, X_ALL }, { 5, 0 },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		uint64_t csd = 0xffff888000001000ull;
		tlb_flush(&v, 0, ROOT, 4, X_ALL);
		csd_queue(&v, 0, ROOT, 1, csd);
		csd_call(&v, REV_CSD_ENTRY, 1, 0, csd);
		if (calls[i].reason >= 0)
			tlb_flush(&v, 1, 0, calls[i].reason, calls[i].pages);
		csd_call(&v, REV_CSD_EXIT, 1, 0, csd);
	}
	conv_finish(&v);
	assert_int_equal(trailer_num(&v, "cpus.0.ipi.sent.tlb_flush"), 7);
	assert_int_equal(trailer_num(&v, "cpus.1.ipi.received.tlb_flush"), 7);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.lazy_to_init_mm"), 2);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.noop"), 2);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.partial"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.full"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.wrong_cpu"), 1);
	assert_int_equal(trailer_num(&v, "totals.tlb.nr_tlb_remote_flush"), 7);
	conv_free(&v);
}

/*
 * sched_process_exit comes before exit_mm(): the task may be preempted on
 * its way (prev_state 0x100) and come back to tear its mm down.  Its
 * exit_mmap() flush is still its own; after its last switch (EXIT_ZOMBIE,
 * 0x20) its pid is nobody's.
 */
static void test_record_convert__exit_flush_after_preemption_is_counted(void **state)
{
	struct conv v;
	(void)state;
	conv_start(&v, "exit");
	exec_root(&v, 0);
	struct rec_ev *e = ev(&v, REV_EXIT, 0, ROOT);
	e->u.exit.pid = ROOT;
	feed(&v, e);
	sched_switch(&v, 0, ROOT, 0, 0x100);   /* preempted inside do_exit() */
	sched_switch(&v, 0, 0, ROOT, 0);
	tlb_flush(&v, 0, ROOT, 4, X_ALL);       /* exit_mmap()'s flush */
	csd_queue(&v, 0, ROOT, 1, 0xffff888000002000ull);
	csd_call(&v, REV_CSD_ENTRY, 1, 0, 0xffff888000002000ull);
	tlb_flush(&v, 1, 0, 5, 0);
	csd_call(&v, REV_CSD_EXIT, 1, 0, 0xffff888000002000ull);
	sched_switch(&v, 0, ROOT, 0, 0x20);     /* do_task_dead() */
	tlb_flush(&v, 0, ROOT, 4, X_ALL);       /* the pid's again, after its end: not ours */
	csd_queue(&v, 0, ROOT, 1, 0xffff888000002000ull);
	conv_finish(&v);
	assert_int_equal(trailer_num(&v, "totals.tlb.nr_tlb_remote_flush"), 1);
	assert_int_equal(trailer_num(&v, "cpus.0.ipi.sent.tlb_flush"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.wrong_cpu"), 1);
	assert_true(find_line(&v, 1, "{\"op\":\"exit\",\"task\":1}") > 0);
	conv_free(&v);
}

/*
 * Task 1 (CPU 0) mprotects a range while task 2 (CPU 1) faults in it: the
 * fault waits for mmap_lock, task 2 sleeps (D), task 1 flushes and returns,
 * task 2 comes back and completes its fault.  The converter puts the fault
 * after the mprotect; it must also come after the run that put task 2 back
 * on its CPU (the replay refuses a touch of a task that is not running).
 */
static void test_record_convert__fault_waiting_for_a_call_follows_its_task_back(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "waited");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* run task 2 on CPU 1 */
	sys_enter(&v, NR_mprotect, addr, 16 * 4096, 1);
	struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);   /* task 2 faults in the range ... */
	e->u.fault.addr = addr + 4096;
	e->u.fault.error = REC_PF_USER;
	feed(&v, e);
	sched_switch(&v, 1, THREAD, 0, 2);      /* ... and waits (D) */
	tlb_flush(&v, 0, ROOT, 4, 16);          /* mprotect's flush (CPU 1 lazy: no call) */
	tlb_flush(&v, 0, ROOT, 3, 16);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 back */
	sys_exit(&v, NR_mprotect);
	conv_finish(&v);

	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	long back = sleep < 0 ? -1 : find_line(&v, (size_t)sleep, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
	long touch = find_line(&v, 1, "{\"op\":\"touch\",\"task\":2,");
	if (mprot < 0 || sleep < 0 || back < 0 || touch < 0 || !(mprot < touch && back < touch)) {
		dump_lines(&v);
		fail_msg("mprotect at line %ld, task 2 asleep at %ld, back at %ld, its touch at %ld", mprot, sleep, back,
			 touch);
	}
	assert_touches_placed(&v);
	assert_int_equal(trailer_num(&v, "events.waited_faults"), 1);
	assert_int_equal(trailer_num(&v, "events.unseen_switches"), 0);
	conv_free(&v);
}

/*
 * A touch held back for its task is dropped when the task never runs again
 * after it (counted in "ignored"): it is then no touch of the trace, and
 * events.touches (the touch ops written; conv_finish() checks it in every
 * case) does not count it.  Task 2 faults in the range of task 1's
 * mprotect, and leaves its CPU (D: it waits for mmap_lock) after the call's
 * flush, whose call to CPU 1 races with that switch: its touch goes after
 * the op, inside the window, where task 2 is taken off CPU 1; the recording
 * ends before it runs again (its fault never completed).
 */
static void test_record_convert__dropped_waiting_fault_is_not_a_touch(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000d000ull;
	(void)state;
	conv_start(&v, "dropped");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	sys_enter(&v, NR_mprotect, addr, 16 * 4096, 1);
	v.gap = 1000;
	struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);   /* task 2 faults in the range */
	e->u.fault.addr = addr + 6 * 4096;
	e->u.fault.error = REC_PF_USER | 2;
	feed(&v, e);
	v.gap = 300;
	tlb_flush(&v, 0, ROOT, 4, 16);
	csd_queue(&v, 0, ROOT, 1, csd);
	tlb_flush(&v, 0, ROOT, 3, 16);
	v.gap = 1000;
	sched_switch(&v, 1, THREAD, 1, 2);      /* task 2 waits (D): CPU 1 to another process */
	v.gap = 300;
	csd_call(&v, REV_CSD_ENTRY, 1, 1, csd);
	tlb_flush(&v, 1, 1, 5, 0);
	csd_call(&v, REV_CSD_EXIT, 1, 1, csd);
	v.gap = 1000;
	sys_exit(&v, NR_mprotect);
	conv_finish(&v);

	const cJSON *ignored = cJSON_GetObjectItem(cJSON_GetObjectItem(v.trailer, "recorded"), "ignored");
	const cJSON *dropped = cJSON_GetObjectItem(ignored, "fault of a task that did not run again");
	if (!cJSON_IsNumber(dropped) || dropped->valueint != 1 || find_line(&v, 1, "\"op\":\"touch\"") >= 0) {
		dump_lines(&v);
		fail_msg("the case no longer drops task 2's fault: %s", v.lines[v.nr - 1]);
	}
	assert_int_equal(trailer_num(&v, "events.touches"), 0);
	assert_int_equal(trailer_num(&v, "events.waited_faults"), 0);
	conv_free(&v);
}

/*
 * Task 2 faults in the range of task 1's mprotect, sleeps (D), CPU 0 runs
 * another process (task 1's flush call races with that switch: the switch
 * is joined to the call's first flush place) and then task 2 again before
 * the mprotect, which flushes once more, returns.  The raced switch stays
 * at the first flush place (post_crosses(): task 2's return comes after
 * it), the mprotect goes at the last one, task 2's fault after it, where
 * task 2 runs again.  Carried on with the op, the switch came after task
 * 2's return: the trace ended with CPU 0 on another process and task 2's
 * fault dropped ("fault of a task that did not run again").
 */
static void test_record_convert__raced_switch_stays_before_the_tasks_return(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000c000ull;
	(void)state;
	conv_start(&v, "dropped");
	exec_root(&v, 0);
	start_thread(&v);
	v.gap = 1000;
	sys_enter(&v, NR_mprotect, addr, 16 * 4096, 1);   /* task 1 on CPU 0 */
	v.gap = 10000;
	sched_switch(&v, 0, ROOT, THREAD, 0);
	tlb_flush(&v, 0, ROOT, 0, 0);
	v.gap = 1000;
	struct rec_ev *e = ev(&v, REV_FAULT, 0, THREAD);   /* task 2 faults in the range */
	e->u.fault.addr = addr + 12 * 4096;
	e->u.fault.error = REC_PF_USER | 2;
	feed(&v, e);
	sched_switch(&v, 1, 0, ROOT, 0);        /* task 1 on CPU 1 */
	tlb_flush(&v, 1, 0, 0, 0);
	v.gap = 10000;
	sched_switch(&v, 0, THREAD, 1, 2);      /* task 2 waits (D): CPU 0 to another process */
	v.gap = 1000;
	tlb_flush(&v, 1, ROOT, 4, 16);          /* task 1's flush, 1 us after that switch */
	csd_queue(&v, 1, ROOT, 0, csd);
	tlb_flush(&v, 1, ROOT, 3, 16);
	v.gap = 300;
	csd_call(&v, REV_CSD_ENTRY, 0, 1, csd);
	tlb_flush(&v, 0, 1, 5, 16);
	csd_call(&v, REV_CSD_EXIT, 0, 1, csd);
	sched_switch(&v, 0, 1, THREAD, 0);      /* task 2 back on CPU 0 */
	v.gap = 3000;
	tlb_flush(&v, 1, ROOT, 4, 16);
	tlb_flush(&v, 1, ROOT, 3, 16);
	v.gap = 1000;
	e = ev(&v, REV_SYS_EXIT, 1, ROOT);
	e->u.exit_.nr = NR_mprotect;
	feed(&v, e);
	conv_finish(&v);

	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":0,\"other\":true}");
	long back = other < 0 ? -1 : find_line(&v, (size_t)other, "{\"op\":\"run\",\"task\":2,\"cpu\":0}");
	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	long touch = find_line(&v, 1, "{\"op\":\"touch\",\"task\":2,");
	if (other < 0 || back < 0 || mprot < 0 || touch < mprot || touch < back || strstr(v.lines[v.nr - 1], "did not run")) {
		dump_lines(&v);
		fail_msg("CPU 0 to another process at line %ld, task 2 back at %ld, the mprotect at %ld, task 2's touch at "
			 "%ld", other, back, mprot, touch);
	}
	assert_int_equal(trailer_num(&v, "events.touches"), 1);
	assert_touches_placed(&v);
	conv_free(&v);
}

/*
 * This kernel traces no sched_switch out of the idle task on some CPUs:
 * task 2 went idle on CPU 1 and is back there, untraced, when task 1's
 * mprotect sends CPU 1 a flush call that runs in task 2's context.  The
 * call reaching CPU 1 says the switch came first: task 2's run goes before
 * the mprotect (else the replay's CPU 1 is lazy there and gets no call).
 */
static void test_record_convert__untraced_switch_in_goes_before_the_call(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff888000003000ull;
	(void)state;
	conv_start(&v, "missed");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);
	e->u.fault.addr = addr + 4096;
	e->u.fault.error = REC_PF_USER;
	feed(&v, e);
	sched_switch(&v, 1, THREAD, 0, 1);      /* idle; its switch back is not traced */
	sys_enter(&v, NR_mprotect, addr, 16 * 4096, 1);
	tlb_flush(&v, 0, ROOT, 4, 16);
	csd_queue(&v, 0, ROOT, 1, csd);
	csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
	tlb_flush(&v, 1, THREAD, 1, 16);
	csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
	tlb_flush(&v, 0, ROOT, 3, 16);
	sys_exit(&v, NR_mprotect);
	conv_finish(&v);

	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	long back = sleep < 0 ? -1 : find_line(&v, (size_t)sleep, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	if (sleep < 0 || back < 0 || mprot < 0 || back > mprot || find_line(&v, 1, "schedule_begin") >= 0) {
		dump_lines(&v);
		fail_msg("task 2 asleep at line %ld, back at %ld, the mprotect at %ld", sleep, back, mprot);
	}
	assert_int_equal(trailer_num(&v, "events.missed_switches"), 1);
	assert_int_equal(trailer_num(&v, "events.unseen_switches"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.partial"), 1);
	conv_free(&v);
}

/*
 * The switch-race scene: task 1 (CPU 0) is inside an mprotect of one page
 * while CPU 1 switches from task 2 to @next; task 1's flush sends CPU 1 a
 * call, which runs there in @next's context.  Times are ns after CPU 1's
 * sched_switch; the call runs 1 us after it is queued, then task 1 ends
 * its flush and its mprotect, 1 us apart.
 */
struct switch_race {
	const char *name;
	int next;          /* what CPU 1 switches to: pid 1 (another process) or 0 (idle) */
	long mm_ns;        /* CPU 1's switch_mm_irqs_off() done (its tlb_flush, 0 pages); -1: none (idle) */
	long flush_ns;     /* task 1's flush starts: should_flush_tlb() reads CPU 1's loaded_mm */
	long queue_ns;     /* the call is queued for CPU 1 (after the two above) */
	int reason;        /* the call's tlb_flush on CPU 1 (0 pages): 5 wrong CPU, 1 caught up, 0 lazy */
};

/* The next event @ns after @t0. */
static void at(struct conv *v, uint64_t t0, long ns)
{
	assert_true(t0 + (uint64_t)ns > v->ts);
	v->gap = t0 + (uint64_t)ns - v->ts;
}

static void switch_race(struct conv *v, const struct switch_race *r)
{
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff888000004000ull;

	assert_true(r->flush_ns < r->queue_ns && r->mm_ns < r->queue_ns);
	conv_start(v, r->name);
	exec_root(v, 0);
	start_thread(v);
	sched_switch(v, 1, 0, THREAD, 0);       /* task 2 on CPU 1 */
	sys_enter(v, NR_mprotect, addr, 4096, 1);
	sched_switch(v, 1, THREAD, r->next, 1);
	const uint64_t t0 = v->ts;
	if (r->mm_ns >= 0 && r->mm_ns < r->flush_ns) {
		at(v, t0, r->mm_ns);
		tlb_flush(v, 1, THREAD, 0, 0);
	}
	at(v, t0, r->flush_ns);
	tlb_flush(v, 0, ROOT, 4, 1);
	if (r->mm_ns >= r->flush_ns) {
		at(v, t0, r->mm_ns);
		tlb_flush(v, 1, THREAD, 0, 0);
	}
	at(v, t0, r->queue_ns);
	csd_queue(v, 0, ROOT, 1, csd);
	v->gap = 1000;
	csd_call(v, REV_CSD_ENTRY, 1, r->next, csd);
	tlb_flush(v, 1, r->next, r->reason, 0);
	csd_call(v, REV_CSD_EXIT, 1, r->next, csd);
	tlb_flush(v, 0, ROOT, 3, 1);
	sys_exit(v, NR_mprotect);
	conv_finish(v);
}

/*
 * A flush call queued after a CPU's switch to another process is done (its
 * switch_mm_irqs_off() traced) did not meet the switch: it is written in
 * the kernel's order, the switch first, no schedule window.  (The window
 * used to stay open until the CPU's next event, here the call itself.)
 */
static void test_record_convert__call_after_a_finished_switch_is_no_race(void **state)
{
	struct conv v;
	(void)state;
	switch_race(&v, &(struct switch_race){ .name = "finished", .next = 1, .mm_ns = 10000, .flush_ns = 20000,
					       .queue_ns = 30000, .reason = 5 });
	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	if (other < 0 || mprot < 0 || other > mprot || find_line(&v, 1, "schedule_begin") >= 0) {
		dump_lines(&v);
		fail_msg("CPU 1 to another process at line %ld, the mprotect at %ld", other, mprot);
	}
	assert_int_equal(trailer_num(&v, "events.switch_races"), 0);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.wrong_cpu"), 1);
	conv_free(&v);
}

/*
 * The same with the sender in the middle of the switch: it started its flush
 * (and read CPU 1's loaded_mm) before CPU 1's switch_mm_irqs_off() was done,
 * and queued the call a fraction of a microsecond after: the call met the
 * switch (it ran after it, on the other mm: wrong CPU), so the replay takes
 * it inside a schedule window.
 */
static void test_record_convert__call_decided_during_a_switch_is_a_race(void **state)
{
	struct conv v;
	(void)state;
	switch_race(&v, &(struct switch_race){ .name = "during", .next = 1, .mm_ns = 600, .flush_ns = 300,
					       .queue_ns = 900, .reason = 5 });
	long begin = find_line(&v, 1, "{\"op\":\"schedule_begin\",\"cpu\":1}");
	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	long end = find_line(&v, 1, "{\"op\":\"schedule_end\",\"cpu\":1}");
	if (begin < 0 || mprot < begin || end < mprot) {
		dump_lines(&v);
		fail_msg("schedule_begin at line %ld, the mprotect at %ld, schedule_end at %ld", begin, mprot, end);
	}
	assert_int_equal(trailer_num(&v, "events.switch_races"), 1);
	conv_free(&v);
}

/*
 * The same race, but the call found nothing to do (a remote shootdown traced
 * with 0 pages: the CPU had caught up at its switch, so the sender's flush
 * came first): the mprotect goes before the switch's ops in the window.
 */
static void test_record_convert__raced_call_that_caught_up_puts_the_flush_first(void **state)
{
	struct conv v;
	(void)state;
	switch_race(&v, &(struct switch_race){ .name = "caughtup", .next = 1, .mm_ns = 600, .flush_ns = 300,
					       .queue_ns = 900, .reason = 1 });
	long begin = find_line(&v, 1, "{\"op\":\"schedule_begin\",\"cpu\":1}");
	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	long end = find_line(&v, 1, "{\"op\":\"schedule_end\",\"cpu\":1}");
	if (begin < 0 || mprot < begin || other < mprot || end < other) {
		dump_lines(&v);
		fail_msg("schedule_begin at line %ld, the mprotect at %ld, CPU 1 to another process at %ld, schedule_end "
			 "at %ld", begin, mprot, other, end);
	}
	assert_int_equal(trailer_num(&v, "events.switch_races"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.noop"), 1);
	conv_free(&v);
}

/*
 * The two ends of that window, each alone: a call decided 3 us after the
 * switch but after its switch_mm_irqs_off() (tlb_flush) did not meet it;
 * a call decided 10 us after a switch to idle (no switch_mm_irqs_off(), no
 * tlb_flush) did not either (RACE_AFTER_NS, 8 us).  Neither is replayed
 * inside a schedule window.
 */
static void test_record_convert__switch_window_ends_at_switch_mm_or_after_8us(void **state)
{
	static const struct switch_race races[] = {
		{ .name = "window_mm", .next = 1, .mm_ns = 1000, .flush_ns = 3000, .queue_ns = 5000, .reason = 5 },
		{ .name = "window_idle", .next = 0, .mm_ns = -1, .flush_ns = 10000, .queue_ns = 20000, .reason = 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(races) / sizeof(races[0]); i++) {
		struct conv v;
		switch_race(&v, &races[i]);
		if (find_line(&v, 1, "schedule_begin") >= 0) {
			dump_lines(&v);
			fail_msg("%s: the call was replayed as a switch race", races[i].name);
		}
		assert_int_equal(trailer_num(&v, "events.switch_races"), 0);
		conv_free(&v);
	}
}

/*
 * A fault that waited for another thread's call is written when its task is
 * back on its CPU and may act there: after the schedule_end of a window
 * whose switch put it back, not inside it (the replay's CPU can only switch
 * there).  Task 2 faults in the range of task 1's mprotect and waits (D);
 * CPU 1 runs another process, then switches back to task 2 while task 1's
 * flush call is on its way (a switch race).  The call flushed (the switch
 * first: task 2's run, then the mprotect in the window) or found nothing to
 * do (the mprotect first, then the run: the touch waits through the run).
 */
static void test_record_convert__waiting_fault_leaves_the_switch_window_first(void **state)
{
	(void)state;
	for (int noop = 0; noop <= 1; noop++) {
		struct conv v;
		const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000a000ull;
		conv_start(&v, noop ? "waitwindow_noop" : "waitwindow");
		exec_root(&v, 0);
		start_thread(&v);
		sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
		sys_enter(&v, NR_mprotect, addr, 16 * 4096, 1);
		struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);   /* task 2 faults in the range ... */
		e->u.fault.addr = addr + 4096;
		e->u.fault.error = REC_PF_USER;
		feed(&v, e);
		sched_switch(&v, 1, THREAD, 1, 2);      /* ... and waits (D): CPU 1 to another process */
		tlb_flush(&v, 1, THREAD, 0, 0);
		sched_switch(&v, 1, 1, THREAD, 0);      /* task 2 back ... */
		v.gap = 300;
		tlb_flush(&v, 0, ROOT, 4, 16);          /* ... while task 1's flush decides its targets */
		tlb_flush(&v, 1, 1, 0, 0);              /* CPU 1's switch_mm_irqs_off() to task 2's mm */
		csd_queue(&v, 0, ROOT, 1, csd);
		v.gap = 1000;
		csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
		tlb_flush(&v, 1, THREAD, 1, noop ? 0 : 16);
		csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
		tlb_flush(&v, 0, ROOT, 3, 16);
		sys_exit(&v, NR_mprotect);
		conv_finish(&v);

		long begin = find_line(&v, 1, "{\"op\":\"schedule_begin\",\"cpu\":1}");
		long back = begin < 0 ? -1 : find_line(&v, (size_t)begin, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
		long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
		long end = find_line(&v, 1, "{\"op\":\"schedule_end\",\"cpu\":1}");
		long touch = find_line(&v, 1, "{\"op\":\"touch\",\"task\":2,");
		if (begin < 0 || back < begin || mprot < begin || end < back || end < mprot || touch < end ||
		    (noop ? back < mprot : mprot < back)) {
			dump_lines(&v);
			fail_msg("%s: schedule_begin at line %ld, task 2 back at %ld, the mprotect at %ld, schedule_end at "
				 "%ld, task 2's touch at %ld", noop ? "nothing to do" : "flushed", begin, back, mprot, end,
				 touch);
		}
		assert_touches_placed(&v);
		assert_int_equal(trailer_num(&v, "events.switch_races"), 1);
		assert_int_equal(trailer_num(&v, "events.waited_faults"), 1);
		conv_free(&v);
	}
}

/* madvise(MADV_COLD = 20) and madvise(MADV_PAGEOUT = 21) are written as advice "cold" / "pageout". */
static void test_record_convert__madvise_cold_and_pageout_are_events(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "cold");
	exec_root(&v, 0);
	for (int adv = 20; adv <= 21; adv++) {
		sys_enter(&v, NR_madvise, addr, 4 * 4096, (uint64_t)adv);
		sys_exit(&v, NR_madvise);
	}
	conv_finish(&v);
	long cold = find_line(&v, 1, "\"advice\":\"cold\"");
	long pageout = find_line(&v, 1, "\"advice\":\"pageout\"");
	if (cold < 0 || pageout < cold || find_line(&v, 1, "MADV_COLD") >= 0) {
		dump_lines(&v);
		fail_msg("cold at line %ld, pageout at %ld", cold, pageout);
	}
	conv_free(&v);
}

/*
 * The run written for an untraced switch goes before the sender's op; when
 * that op is a touch that another thread's call then moves after itself
 * (move_raced_touches()), the run stays where it was and is written once:
 * task 2 sleeps inside its mprotect, task 1 faults in the range and its
 * fault's flush call reaches CPU 1, where task 2 is back untraced.
 */
static void test_record_convert__moved_touch_keeps_its_run_once(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff888000006000ull;
	(void)state;
	conv_start(&v, "moved");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	struct rec_ev *e = ev(&v, REV_SYS_ENTER, 1, THREAD);
	e->u.enter.nr = NR_mprotect;
	e->u.enter.a[0] = addr;
	e->u.enter.a[1] = 16 * 4096;
	e->u.enter.a[2] = 1;
	feed(&v, e);
	sched_switch(&v, 1, THREAD, 0, 2);      /* it waits (D); its switch back is not traced */
	e = ev(&v, REV_FAULT, 0, ROOT);         /* task 1 faults in the range ... */
	e->u.fault.addr = addr + 4096;
	e->u.fault.error = REC_PF_USER;
	feed(&v, e);
	tlb_flush(&v, 0, ROOT, 4, 1);           /* ... and its fault flushes CPU 1 */
	csd_queue(&v, 0, ROOT, 1, csd);
	csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
	tlb_flush(&v, 1, THREAD, 1, 1);
	csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
	e = ev(&v, REV_SYS_EXIT, 1, THREAD);     /* task 2's mprotect returns, no flush of its own */
	e->u.exit_.nr = NR_mprotect;
	feed(&v, e);
	conv_finish(&v);

	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	long back = sleep < 0 ? -1 : find_line(&v, (size_t)sleep, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
	long again = back < 0 ? -1 : find_line(&v, (size_t)back + 1, "\"op\":\"run\"");
	long touch = find_line(&v, 1, "{\"op\":\"touch\",\"task\":1,");
	if (back < 0 || again >= 0 || touch < back) {
		dump_lines(&v);
		fail_msg("task 2 asleep at line %ld, back at %ld and again at %ld, task 1's touch at %ld", sleep, back,
			 again, touch);
	}
	assert_touches_placed(&v);
	assert_int_equal(trailer_num(&v, "events.missed_switches"), 1);
	conv_free(&v);
}

/*
 * The same 2 us after the switch to idle that opened CPU 1's window: the
 * call running in task 2's context says the CPU switched again since (back
 * to task 2, untraced), so that window is over and the call did not meet
 * the switch to idle.  Task 2's run goes before the mprotect; no schedule
 * window, no switch race.
 */
static void test_record_convert__untraced_switch_in_ends_the_switch_window(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000b000ull;
	(void)state;
	conv_start(&v, "missed_window");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	sys_enter(&v, NR_mprotect, addr, 16 * 4096, 1);
	sched_switch(&v, 1, THREAD, 0, 1);      /* idle; its switch back is not traced */
	v.gap = 2000;
	tlb_flush(&v, 0, ROOT, 4, 16);          /* 2 us later: within the idle switch's 8 us */
	v.gap = 1000;
	csd_queue(&v, 0, ROOT, 1, csd);
	csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
	tlb_flush(&v, 1, THREAD, 1, 16);
	csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
	tlb_flush(&v, 0, ROOT, 3, 16);
	sys_exit(&v, NR_mprotect);
	conv_finish(&v);

	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	long back = sleep < 0 ? -1 : find_line(&v, (size_t)sleep, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
	long mprot = find_line(&v, 1, "\"op\":\"mprotect\"");
	long again = back < 0 ? -1 : find_line(&v, (size_t)back + 1, "{\"op\":\"sleep\",\"task\":2}");
	if (sleep < 0 || back < 0 || mprot < back || again >= 0 || find_line(&v, 1, "schedule_begin") >= 0) {
		dump_lines(&v);
		fail_msg("task 2 asleep at line %ld, back at %ld, asleep again at %ld, the mprotect at %ld", sleep, back,
			 again, mprot);
	}
	assert_int_equal(trailer_num(&v, "events.missed_switches"), 1);
	assert_int_equal(trailer_num(&v, "events.switch_races"), 0);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.remote.partial"), 1);
	conv_free(&v);
}

/*
 * The same without an op of the sender to go before (a flush outside a
 * system call, after no fault): the run is written at once, and it is a
 * missed switch all the same.
 */
static void test_record_convert__untraced_switch_in_without_sender_op_is_counted(void **state)
{
	struct conv v;
	const uint64_t csd = 0xffff888000007000ull;
	(void)state;
	conv_start(&v, "missed_now");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	sched_switch(&v, 1, THREAD, 0, 1);      /* idle; its switch back is not traced */
	tlb_flush(&v, 0, ROOT, 4, 1);
	csd_queue(&v, 0, ROOT, 1, csd);
	csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
	tlb_flush(&v, 1, THREAD, 1, 1);
	csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
	conv_finish(&v);

	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	long back = sleep < 0 ? -1 : find_line(&v, (size_t)sleep, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
	if (back < 0) {
		dump_lines(&v);
		fail_msg("task 2 asleep at line %ld, back at %ld", sleep, back);
	}
	assert_int_equal(trailer_num(&v, "events.missed_switches"), 1);
	conv_free(&v);
}

/*
 * The counts begin at the command's first exec event: a flushing switch to
 * it before (the exec's own switch to the new mm) is not counted, one after
 * is, on the CPU switched on (the event comes in the previous task's
 * context).  A mark right after the exec says where (the trailer names it).
 * A task whose event comes from a CPU with no traced switch to it is put
 * there and counted as an unseen switch; traced switches are not.
 */
static void test_record_convert__counts_start_at_the_first_exec(void **state)
{
	struct conv v;
	(void)state;
	conv_start(&v, "start");
	sched_switch(&v, 0, 0, ROOT, 0);
	tlb_flush(&v, 0, 0, REC_TLB_FLUSH_ON_TASK_SWITCH, X_ALL);    /* not the command's yet */
	tlb_flush(&v, 0, ROOT, REC_TLB_FLUSH_ON_TASK_SWITCH, X_ALL); /* exec_mmap()'s switch */
	exec_root(&v, 0);
	sched_switch(&v, 0, ROOT, 0, 1);        /* task 1 sleeps ... */
	sched_switch(&v, 0, 0, ROOT, 0);        /* ... and is back: its ASID was taken */
	tlb_flush(&v, 0, 0, REC_TLB_FLUSH_ON_TASK_SWITCH, X_ALL);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1: a new mm there */
	tlb_flush(&v, 1, 0, REC_TLB_FLUSH_ON_TASK_SWITCH, X_ALL);
	sched_switch(&v, 1, THREAD, 0, 1);      /* idle; its switch back is not traced */
	struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);
	e->u.fault.addr = 0x7f0000001000ull;
	e->u.fault.error = REC_PF_USER;
	feed(&v, e);
	conv_finish(&v);

	long exec = find_line(&v, 1, "{\"op\":\"exec\",");
	if (exec < 0 || strcmp(v.lines[exec + 1], "{\"op\":\"mark\",\"name\":\"the kernel's counts start\"}")) {
		dump_lines(&v);
		fail_msg("the exec at line %ld, not followed by the mark", exec);
	}
	const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(v.trailer, "recorded"), "counts_start_mark");
	assert_true(cJSON_IsString(m));
	assert_string_equal(m->valuestring, "the kernel's counts start");
	assert_int_equal(trailer_num(&v, "cpus.0.tlb.switch_flush"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.tlb.switch_flush"), 1);
	assert_int_equal(trailer_num(&v, "events.unseen_switches"), 1);
	assert_int_equal(trailer_num(&v, "events.missed_switches"), 0);
	conv_free(&v);
}

/*
 * A process that execs twice before the converter reaches its first exec:
 * two snapshots wait on its pid, each taken off alone (freeing the first
 * used to free the second with it: a use after free, seen by ASan/valgrind).
 */
static void test_record_convert__two_queued_execs_each_use_their_snapshot(void **state)
{
	struct conv v;
	(void)state;
	conv_start(&v, "exec2");
	queue_snapshot(&v)->start_brk = 0x500000;
	queue_snapshot(&v)->start_brk = 0x600000;
	exec_event(&v, 0);
	exec_event(&v, 0);
	conv_finish(&v);
	long first = find_line(&v, 1, "\"brk\":\"0x500000\"");
	long second = first < 0 ? -1 : find_line(&v, (size_t)first + 1, "\"brk\":\"0x600000\"");
	if (first < 0 || second < 0) {
		dump_lines(&v);
		fail_msg("the first exec's brk at line %ld, the second's at %ld", first, second);
	}
	conv_free(&v);
}

/*
 * An exec after the command's first says stack.arg_pages: the pages from
 * arg_start's page to the stack's top (setup_arg_pages() moved them down);
 * the command's first exec, made before tracing started, says none.
 */
static void test_record_convert__later_exec_says_arg_pages(void **state)
{
	struct conv v;
	const uint64_t top = 0x7ffffffff000ull;
	(void)state;
	conv_start(&v, "argpages");
	for (int k = 0; k < 2; k++) {   /* the command's exec, then a later one */
		struct rec_exec *x = queue_snapshot(&v);
		x->vmas = calloc(1, sizeof(*x->vmas));
		assert_non_null(x->vmas);
		x->nr_vmas = 1;
		x->vmas[0].kind = RV_STACK;
		x->vmas[0].prot = 3;
		x->vmas[0].start = top - 0x23000;
		x->vmas[0].end = top;
		x->arg_start = top - 0x2800;     /* in the third page from the top */
	}
	exec_event(&v, 0);
	exec_event(&v, 0);
	conv_finish(&v);
	long first = find_line(&v, 1, "{\"op\":\"exec\",");
	long second = first < 0 ? -1 : find_line(&v, (size_t)first + 1, "{\"op\":\"exec\",");
	if (first < 0 || second < 0 || strstr(v.lines[first], "arg_pages") ||
	    !strstr(v.lines[second], "\"len\":143360,\"arg_pages\":3}")) {
		dump_lines(&v);
		fail_msg("the command's exec at line %ld (no arg_pages), the later one at %ld (arg_pages 3)", first, second);
	}
	conv_free(&v);
}

/*
 * A vfork-like child (posix_spawn) switches to its new mm in exec_mmap()
 * (a "flush on task switch" in its own context, CPU 1) and releases its
 * parent, which munmaps the child's stack on CPU 0 before the child's exec
 * event comes.  The exec goes where the switch was: before the munmap, so
 * the replayed munmap finds CPU 1 on the new mm (no IPI, as in the kernel).
 * A switch of the child away from CPU 1 in between is not its exec's
 * switch (the event there comes in the child's context too).  Without the
 * switch traced (@traced false) the exec stays at its event.
 */
#define CHILD 102   /* task 1's vfork-like child: task 2 */
static void spawn_exec_run(struct conv *v, bool traced)
{
	exec_root(v, 0);
	struct rec_pidinfo *pi = rec_pidinfo(&v->d, CHILD);
	assert_non_null(pi);
	pi->fork = calloc(1, sizeof(*pi->fork));
	assert_non_null(pi->fork);
	pi->fork->kind = RK_VFORK;
	pi->fork->parent = ROOT;
	struct rec_ev *e = ev(v, REV_FORK, 0, ROOT);
	e->u.fork.parent = ROOT;
	e->u.fork.child = CHILD;
	feed(v, e);
	sched_switch(v, 1, 0, CHILD, 0);
	e = ev(v, REV_SYS_ENTER, 1, CHILD);
	e->u.enter.nr = 59;   /* execve */
	feed(v, e);
	sched_switch(v, 1, CHILD, 0, 1);    /* it sleeps (reading the binary) ... */
	tlb_flush(v, 1, CHILD, REC_TLB_FLUSH_ON_TASK_SWITCH, 0);   /* ... the switch's, not exec_mmap()'s */
	sys_enter(v, NR_munmap, 0x7e0000000000ull, 0x1000, 0);   /* (the parent's other thread, say) */
	tlb_flush(v, 0, ROOT, REC_TLB_LOCAL_SHOOTDOWN, 1);
	sys_exit(v, NR_munmap);
	sched_switch(v, 1, 0, CHILD, 0);
	if (traced)
		tlb_flush(v, 1, CHILD, REC_TLB_FLUSH_ON_TASK_SWITCH, X_ALL);   /* exec_mmap() */
	sys_enter(v, NR_munmap, 0x7f0000000000ull, 0x10000, 0);
	tlb_flush(v, 0, ROOT, REC_TLB_LOCAL_SHOOTDOWN, 16);
	sys_exit(v, NR_munmap);
	pi = rec_pidinfo(&v->d, CHILD);
	pi->exec = calloc(1, sizeof(*pi->exec));
	assert_non_null(pi->exec);
	pi->exec->old_pid = CHILD;
	snprintf(pi->exec->comm, sizeof(pi->exec->comm), "cc");
	e = ev(v, REV_EXEC, 1, CHILD);
	e->u.exec.pid = e->u.exec.old_pid = CHILD;
	feed(v, e);
	e = ev(v, REV_SYS_EXIT, 1, CHILD);
	e->u.exit_.nr = 59;
	feed(v, e);
	conv_finish(v);
}

static void test_record_convert__spawned_exec_goes_at_its_mm_switch(void **state)
{
	struct conv v;
	(void)state;
	for (int traced = 1; traced >= 0; traced--) {
		conv_start(&v, traced ? "spawnexec" : "spawnexec_untraced");
		spawn_exec_run(&v, traced);
		long child_exec = find_line(&v, 1, "{\"op\":\"exec\",\"task\":2,");
		long before = find_line(&v, 1, "{\"op\":\"munmap\",\"task\":1,\"addr\":\"0x7e0000000000\"");
		long munmap = find_line(&v, 1, "{\"op\":\"munmap\",\"task\":1,\"addr\":\"0x7f0000000000\"");
		if (child_exec < 0 || before < 0 || munmap < 0 || child_exec < before ||
		    (child_exec < munmap) != (traced == 1)) {
			dump_lines(&v);
			fail_msg("switch %s: the child's exec at line %ld, the parent's munmaps at %ld and %ld",
				 traced ? "traced" : "untraced", child_exec, before, munmap);
		}
		assert_touches_placed(&v);
		conv_free(&v);
	}
}

/*
 * The child of spawn_exec_run() is put back on CPU 1 inside its execve and
 * switches to its new mm there while CPU 1's switch window is still open;
 * a thread of the parent started a flush of the old mm just before (no call
 * to CPU 1: a candidate of close_switch(), which moves the switch's ops after
 * the sender's op).  Moving "run task 2" after the munmap would cross the
 * child's exec, kept in the place of its switch: the exec of a task not on
 * a CPU, which the replay refuses.  The switch stays where it is.
 */
static void test_record_convert__switch_not_moved_across_a_pending_exec(void **state)
{
	struct conv v;
	(void)state;
	conv_start(&v, "execcross");
	exec_root(&v, 0);
	struct rec_pidinfo *pi = rec_pidinfo(&v.d, CHILD);
	assert_non_null(pi);
	pi->fork = calloc(1, sizeof(*pi->fork));
	assert_non_null(pi->fork);
	pi->fork->kind = RK_VFORK;
	pi->fork->parent = ROOT;
	struct rec_ev *e = ev(&v, REV_FORK, 0, ROOT);
	e->u.fork.parent = ROOT;
	e->u.fork.child = CHILD;
	feed(&v, e);
	sched_switch(&v, 1, 0, CHILD, 0);
	e = ev(&v, REV_SYS_ENTER, 1, CHILD);
	e->u.enter.nr = 59;   /* execve */
	feed(&v, e);
	sched_switch(&v, 1, CHILD, 0, 1);   /* it sleeps (reading the binary) */
	v.gap = 1000;
	sched_switch(&v, 1, 0, CHILD, 0);   /* back on CPU 1: its switch window opens */
	sys_enter(&v, NR_munmap, 0x7f0000000000ull, 0x10000, 0);
	tlb_flush(&v, 0, ROOT, REC_TLB_REMOTE_SEND_IPI, 16);   /* decided with CPU 1 not yet on the mm */
	tlb_flush(&v, 1, CHILD, REC_TLB_FLUSH_ON_TASK_SWITCH, X_ALL);   /* exec_mmap() */
	tlb_flush(&v, 0, ROOT, REC_TLB_LOCAL_SHOOTDOWN, 16);
	v.gap = 250000;   /* the window closes (RACE_WINDOW_NS) with the munmap still in progress */
	sys_exit(&v, NR_munmap);
	v.gap = 10000;
	pi = rec_pidinfo(&v.d, CHILD);
	pi->exec = calloc(1, sizeof(*pi->exec));
	assert_non_null(pi->exec);
	pi->exec->old_pid = CHILD;
	snprintf(pi->exec->comm, sizeof(pi->exec->comm), "cc");
	e = ev(&v, REV_EXEC, 1, CHILD);
	e->u.exec.pid = e->u.exec.old_pid = CHILD;
	feed(&v, e);
	e = ev(&v, REV_SYS_EXIT, 1, CHILD);
	e->u.exit_.nr = 59;
	feed(&v, e);
	conv_finish(&v);

	long child_exec = find_line(&v, 1, "{\"op\":\"exec\",\"task\":2,");
	long munmap = find_line(&v, 1, "{\"op\":\"munmap\",\"task\":1,");
	if (child_exec < 0 || munmap < 0 || child_exec > munmap) {
		dump_lines(&v);
		fail_msg("the child's exec at line %ld, the parent's munmap at %ld", child_exec, munmap);
	}
	assert_touches_placed(&v);
	conv_free(&v);
}

/*
 * Task 1's mprotect started its flush while CPU 1 was switching to task 2
 * and sent CPU 1 no call: its op goes before that switch (close_switch(),
 * at CPU 1's next event, here task 2's exit), in the place of the flush.
 * The call flushes again after the exit: its op goes there, the last place;
 * the switch's ops must not go with it past task 2's exit (a run of a task
 * that exited, which the replay refuses).  They stay at the first place.
 */
static void test_record_convert__switch_order_not_carried_past_an_exit(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "carried");
	exec_root(&v, 0);
	start_thread(&v);
	sys_enter(&v, NR_mprotect, addr, 4096, 1);
	v.gap = 1000;
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1: its switch window opens */
	tlb_flush(&v, 0, ROOT, REC_TLB_REMOTE_SEND_IPI, 1);   /* decided on CPU 1's state before it: no call */
	v.gap = 10000;
	struct rec_ev *e = ev(&v, REV_EXIT, 1, THREAD);
	e->u.exit.pid = THREAD;
	feed(&v, e);
	tlb_flush(&v, 0, ROOT, REC_TLB_LOCAL_SHOOTDOWN, 1);   /* (that flush's local half: stays) */
	tlb_flush(&v, 0, ROOT, REC_TLB_REMOTE_SEND_IPI, 1);   /* a second flush of the call */
	tlb_flush(&v, 0, ROOT, REC_TLB_LOCAL_SHOOTDOWN, 1);
	sys_exit(&v, NR_mprotect);
	conv_finish(&v);

	long run = find_line(&v, 1, "{\"op\":\"run\",\"task\":2,");
	long exit2 = find_line(&v, 1, "{\"op\":\"exit\",\"task\":2}");
	if (run < 0 || exit2 < 0 || run > exit2) {
		dump_lines(&v);
		fail_msg("task 2 put on CPU 1 at line %ld, its exit at %ld", run, exit2);
	}
	assert_int_equal(trailer_num(&v, "events.switch_orders"), 0);
	assert_touches_placed(&v);
	conv_free(&v);
}

/*
 * The recorder's arrays grow by doubling from a first capacity until the
 * count needed fits; a count or byte size past size_t is refused with
 * -ENOMEM and nothing changed; the zeroed form clears the new slots.
 */
static void test_record_convert__reserve_doubles_and_refuses_overflow(void **state)
{
	size_t cap = 0;
	(void)state;
	assert_int_equal(rec_grow_cap(&cap, 2, 8, 16), 0);
	assert_int_equal(cap, 16);
	assert_int_equal(rec_grow_cap(&cap, 17, 8, 16), 0);
	assert_int_equal(cap, 32);
	assert_int_equal(rec_grow_cap(&cap, 129, 8, 16), 0);   /* several doublings at once */
	assert_int_equal(cap, 256);
	assert_int_equal(rec_grow_cap(&cap, SIZE_MAX / 2 + 2, 1, 16), -ENOMEM);   /* the count overflows */
	assert_int_equal(cap, 256);
	assert_int_equal(rec_grow_cap(&cap, SIZE_MAX / 8 + 1, 8, 16), -ENOMEM);   /* its bytes do */
	assert_int_equal(cap, 256);

	long **v = NULL;
	size_t n = 0;
	assert_int_equal(rec_reserve_zeroed(v, n, 3, 4), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_null(v[i]);
	v[3] = (long *)&n;
	assert_int_equal(rec_reserve_zeroed(v, n, 5, 4), 0);
	assert_int_equal(n, 8);
	assert_ptr_equal(v[3], &n);
	for (size_t i = 4; i < n; i++)
		assert_null(v[i]);
	long **before = v;
	assert_int_equal(rec_reserve(v, n, SIZE_MAX / 4, 4), -ENOMEM);
	assert_ptr_equal(v, before);
	assert_int_equal(n, 8);
	assert_int_equal(rec_reserve(v, n, 8, 4), 0);   /* fits: nothing to do */
	assert_int_equal(n, 8);
	free(v);
}

/*
 * A write fault's flush decides its CPUs about 2 us after the fault entered
 * the kernel.  CPU 1 switched away from the mm in between (to another
 * process, switch_mm_irqs_off() done): the flush sent it no call.  The
 * touch's last page goes after that switch (the replay would call CPU 1,
 * still on the mm, otherwise), the touch's first page before it (its own
 * flush called CPU 1 while it ran the mm).
 */
static void write_fault(struct conv *v, uint64_t addr)
{
	struct rec_ev *e = ev(v, REV_FAULT, 0, ROOT);
	e->u.fault.addr = addr;
	e->u.fault.error = REC_PF_USER | REC_PF_WRITE | REC_PF_PROT;
	feed(v, e);
}

static void test_record_convert__fault_flush_after_a_switch_away_follows_it(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff888000009000ull;
	(void)state;
	conv_start(&v, "away");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	write_fault(&v, addr);                  /* a fault whose flush calls CPU 1 */
	v.gap = 2000;
	tlb_flush(&v, 0, ROOT, 4, 1);
	csd_queue(&v, 0, ROOT, 1, csd);
	csd_call(&v, REV_CSD_ENTRY, 0, ROOT, 0);
	csd_call(&v, REV_CSD_EXIT, 0, ROOT, 0);
	csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
	tlb_flush(&v, 1, THREAD, 1, 1);
	csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
	v.gap = 500;
	write_fault(&v, addr + 4096);           /* the next page: one touch line of two pages */
	sched_switch(&v, 1, THREAD, 1, 0);      /* CPU 1 to another process ... */
	tlb_flush(&v, 1, THREAD, 0, 0);         /* ... its mm loaded */
	v.gap = 1000;
	tlb_flush(&v, 0, ROOT, 4, 1);           /* the fault's flush: no call to CPU 1 */
	csd_call(&v, REV_CSD_ENTRY, 0, ROOT, 0);
	csd_call(&v, REV_CSD_EXIT, 0, ROOT, 0);
	conv_finish(&v);

	long first = find_line(&v, 1, "\"op\":\"touch\",\"task\":1,\"addr\":\"0x7f0000000000\"");
	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	long last = find_line(&v, 1, "\"op\":\"touch\",\"task\":1,\"addr\":\"0x7f0000001000\"");
	if (first < 0 || other < first || last < other) {
		dump_lines(&v);
		fail_msg("the first page at line %ld, CPU 1 to another process at %ld, the second page at %ld", first,
			 other, last);
	}
	assert_int_equal(trailer_num(&v, "events.switch_orders"), 1);
	assert_int_equal(trailer_num(&v, "cpus.1.ipi.received.tlb_flush"), 1);
	assert_touches_placed(&v);
	conv_free(&v);
}

/*
 * This kernel leaves out switches from the idle task on CPU 1: another
 * process that ran there shows only by its switch away.  Task 2 went idle on
 * CPU 1 (which holds the mm lazily), then a switch away from process @other
 * (named @comm), with no switch to it traced: a user process had its own mm
 * loaded there, so CPU 1 is put on another process before that switch
 * (events.unseen_other_switches) and task 1's munmap after it finds CPU 1 on
 * another mm, as the kernel's did; a kernel thread leaves the mm lazily held.
 */
static void untraced_other_run(struct conv *v, const char *name, int other, const char *comm)
{
	conv_start(v, name);
	exec_root(v, 0);
	start_thread(v);
	sched_switch(v, 1, 0, THREAD, 0);       /* task 2 on CPU 1 */
	sched_switch(v, 1, THREAD, 0, 1);       /* ... sleeps: CPU 1 idle, the mm held lazily */
	struct rec_ev *e = ev(v, REV_SWITCH, 1, other);
	e->u.sw.prev = other;                   /* @other leaves CPU 1: no switch to it traced */
	e->u.sw.next = 0;
	e->u.sw.prev_state = 1;
	snprintf(e->u.sw.next_comm, sizeof(e->u.sw.next_comm), "swapper/1");
	snprintf(e->u.sw.prev_comm, sizeof(e->u.sw.prev_comm), "%s", comm);
	feed(v, e);
	sched_switch(v, 1, THREAD, 0, 1);       /* a stale prev (task 2, which went idle): no sign */
	sys_enter(v, NR_munmap, 0x7f0000000000ull, 0x1000, 0);
	sys_exit(v, NR_munmap);
	conv_finish(v);
	assert_replays(v);
}

static void test_record_convert__untraced_other_process_leaves_the_mm(void **state)
{
	struct conv v;
	(void)state;
	untraced_other_run(&v, "untraced_other", 1, "memfd:sealed-91");
	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	long unmap = find_line(&v, 1, "\"op\":\"munmap\"");
	if (sleep < 0 || other < sleep || unmap < other || find_line(&v, (size_t)other + 1, "\"other\":true") >= 0) {
		dump_lines(&v);
		fail_msg("task 2's sleep at line %ld, CPU 1 to another process at %ld (once), the munmap at %ld", sleep,
			 other, unmap);
	}
	assert_int_equal(trailer_num(&v, "events.unseen_other_switches"), 1);
	conv_free(&v);

	/* A kernel thread (gone: judged by its name) runs on the lazily held mm. */
	untraced_other_run(&v, "untraced_kthread", 4194301, "kworker/1:2");
	if (find_line(&v, 1, "\"other\":true") >= 0) {
		dump_lines(&v);
		fail_msg("a kernel thread's switch away put CPU 1 on another process");
	}
	assert_int_equal(trailer_num(&v, "events.unseen_other_switches"), 0);
	conv_free(&v);

	/*
	 * Task 2 put on CPU 1 by its exit event alone (no switch to it traced),
	 * then its last switch away: a task of the recording, gone from its
	 * tasks by then, is no other process.
	 */
	conv_start(&v, "untraced_exit");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 15, 0, 1);          /* a kernel thread leaves CPU 1 to idle */
	struct rec_ev *e = ev(&v, REV_EXIT, 1, THREAD);
	e->u.exit.pid = THREAD;
	feed(&v, e);
	sched_switch(&v, 1, THREAD, 0, 32);     /* EXIT_ZOMBIE: its last switch */
	sys_enter(&v, NR_munmap, 0x7f0000000000ull, 0x1000, 0);
	sys_exit(&v, NR_munmap);
	conv_finish(&v);
	assert_replays(&v);
	if (find_line(&v, 1, "\"other\":true") >= 0) {
		dump_lines(&v);
		fail_msg("an exited task's last switch put CPU 1 on another process");
	}
	assert_int_equal(trailer_num(&v, "events.unseen_other_switches"), 0);
	conv_free(&v);
}

/*
 * The same, but task 2 faulted on CPU 1 after task 1's fault entered and
 * before CPU 1 switched away: the switch cannot go before task 1's touch
 * (task 2 would not be running for its own), so task 1's touch goes after
 * the switch, where its flush decided its CPUs.
 */
static void test_record_convert__fault_flush_after_a_switch_away_moves_the_touch(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "away_touch");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	v.gap = 500;
	write_fault(&v, addr);                  /* task 1's fault enters */
	struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);
	e->u.fault.addr = addr + 0x10000;       /* task 2 faults elsewhere */
	e->u.fault.error = REC_PF_USER;
	feed(&v, e);
	sched_switch(&v, 1, THREAD, 1, 0);      /* CPU 1 to another process ... */
	tlb_flush(&v, 1, THREAD, 0, 0);         /* ... its mm loaded */
	v.gap = 1000;
	tlb_flush(&v, 0, ROOT, 4, 1);           /* task 1's flush: no call to CPU 1 */
	csd_call(&v, REV_CSD_ENTRY, 0, ROOT, 0);
	csd_call(&v, REV_CSD_EXIT, 0, ROOT, 0);
	conv_finish(&v);

	long other = find_line(&v, 1, "\"touch\",\"task\":2,");
	long away = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	long mine = find_line(&v, 1, "\"touch\",\"task\":1,");
	if (other < 0 || away < other || mine < away) {
		dump_lines(&v);
		fail_msg("task 2's touch at line %ld, CPU 1 to another process at %ld, task 1's touch at %ld", other, away,
			 mine);
	}
	assert_int_equal(trailer_num(&v, "events.switch_orders"), 1);
	assert_touches_placed(&v);
	conv_free(&v);
}

/*
 * The other way: CPU 1 switched to the mm (task 2, switch_mm_irqs_off()
 * done) after task 1's fault entered and before its flush chose its CPUs:
 * the flush called CPU 1, as a CPU running the mm (no race).  The switch goes
 * before the touch, so that the replay calls it too.
 */
static void test_record_convert__fault_flush_after_a_switch_to_the_mm_follows_it(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000a000ull;
	(void)state;
	conv_start(&v, "to");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, 1, 0);           /* CPU 1 runs another process (pid 1) */
	v.gap = 500;
	write_fault(&v, addr);
	sched_switch(&v, 1, 1, THREAD, 1);      /* CPU 1 to task 2 ... */
	tlb_flush(&v, 1, 1, 0, X_ALL);          /* ... its mm loaded */
	tlb_flush(&v, 0, ROOT, 4, 1);           /* the fault's flush: a call to CPU 1 */
	csd_queue(&v, 0, ROOT, 1, csd);
	csd_call(&v, REV_CSD_ENTRY, 0, ROOT, 0);
	csd_call(&v, REV_CSD_EXIT, 0, ROOT, 0);
	csd_call(&v, REV_CSD_ENTRY, 1, THREAD, csd);
	tlb_flush(&v, 1, THREAD, 1, 1);
	csd_call(&v, REV_CSD_EXIT, 1, THREAD, csd);
	conv_finish(&v);

	long run = find_line(&v, 1, "{\"op\":\"run\",\"task\":2,\"cpu\":1}");
	long mine = find_line(&v, 1, "\"touch\",\"task\":1,");
	if (run < 0 || mine < run || find_line(&v, 1, "schedule_begin") >= 0) {
		dump_lines(&v);
		fail_msg("task 2 on CPU 1 at line %ld, task 1's touch at %ld", run, mine);
	}
	assert_int_equal(trailer_num(&v, "events.switch_orders"), 1);
	assert_touches_placed(&v);
	conv_free(&v);
}

/*
 * Another thread's fault in the range of a call, after the call's entry and
 * before its flush, goes after the call's op (the call changed the range
 * first: a DONTNEED's zap, then the thread's read mapped the zero page).
 * Also when the thread left its CPU before the call returned, as long as it
 * did so after the call's flush, where the op is written.
 */
static void test_record_convert__fault_during_a_call_moves_after_it_though_its_task_slept(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "slept");
	exec_root(&v, 0);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	sys_enter(&v, NR_madvise, addr, 16 * 4096, 4);
	struct rec_ev *e = ev(&v, REV_FAULT, 1, THREAD);
	e->u.fault.addr = addr + 4096;          /* task 2 reads a page of the range */
	e->u.fault.error = REC_PF_USER;
	feed(&v, e);
	tlb_flush(&v, 0, ROOT, 3, 16);          /* the madvise's flush (CPU 1 still runs the mm) */
	sched_switch(&v, 1, THREAD, 0, 1);      /* task 2 sleeps */
	sys_exit(&v, NR_madvise);
	conv_finish(&v);

	long madv = find_line(&v, 1, "\"op\":\"madvise\"");
	long touch = find_line(&v, 1, "\"touch\",\"task\":2,");
	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":2}");
	if (madv < 0 || touch < madv || sleep < touch) {
		dump_lines(&v);
		fail_msg("the madvise at line %ld, task 2's touch at %ld, its sleep at %ld", madv, touch, sleep);
	}
	assert_touches_placed(&v);
	conv_free(&v);
}

/* Task 1 faults (a write) at @addr on @cpu. */
static void fault(struct conv *v, unsigned int cpu, uint64_t addr)
{
	struct rec_ev *e = ev(v, REV_FAULT, cpu, ROOT);
	e->u.fault.addr = addr;
	e->u.fault.error = 0x6;   /* user write, not present */
	feed(v, e);
}

/* @n pagemap:mm_lru_insertion events on @cpu (one batch move), by process @pid. */
static void lru_insertions(struct conv *v, unsigned int cpu, int pid, int n)
{
	for (int i = 0; i < n; i++)
		feed(v, ev(v, REV_LRU_ADD, cpu, pid));
}

/* Another process's event on @cpu (an IPI it sends): the CPU is past whatever it did before. */
static void other_event(struct conv *v, unsigned int cpu)
{
	struct rec_ev *e = ev(v, REV_IPI, cpu, 77);
	e->u.ipi.targets = 1;
	feed(v, e);
}

/*
 * A CPU's LRU add batch moved (pagemap:mm_lru_insertion, any process): one
 * lru_add_drain_cpu op per move, at its first insertion, in order with the
 * touches, and only when a recorded task faulted or called on that CPU since
 * the last one; moves on other CPUs, and later moves with nothing new, write
 * nothing.  A move that begins inside a recorded fault on that CPU: 31
 * insertions (the fault's add filled the batch) put the op after the touch,
 * fewer (do_wp_page()'s drain before it adds the copy) before it.
 */
static void test_record_convert__lru_batch_move_drains_that_cpu_once(void **state)
{
	struct conv v;
	const uint64_t a = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "lru");
	lru_insertions(&v, 0, 77, 5);        /* before the first exec: nothing is recorded yet */
	exec_root(&v, 0);
	fault(&v, 0, a);
	other_event(&v, 0);
	lru_insertions(&v, 0, 77, 5);        /* another process drains CPU 0's batch: op 1, after touch a */
	lru_insertions(&v, 1, 77, 31);       /* CPU 1: no recorded task there */
	fault(&v, 0, a + 0x1000);
	lru_insertions(&v, 0, ROOT, 3);      /* a drain inside that fault: op 2, before touch a+1 */
	other_event(&v, 0);
	lru_insertions(&v, 0, 77, 31);       /* the batch holds a+1's folio: op 3, after touch a+1 */
	fault(&v, 0, a + 0x2000);
	lru_insertions(&v, 0, ROOT, 31);     /* that fault's add filled the batch: op 4, after touch a+2 */
	other_event(&v, 0);
	lru_insertions(&v, 0, 77, 31);       /* nothing recorded since: none */
	conv_finish(&v);
	const char *d0 = "{\"op\":\"lru_add_drain_cpu\",\"cpu\":0}";
	long t0 = find_line(&v, 1, "\"addr\":\"0x7f0000000000\"");
	long d1 = find_line(&v, 1, d0);
	long d2 = d1 >= 0 ? find_line(&v, (size_t)d1 + 1, d0) : -1;
	long t1 = find_line(&v, 1, "\"addr\":\"0x7f0000001000\"");
	long d3 = d2 >= 0 ? find_line(&v, (size_t)d2 + 1, d0) : -1;
	long t2 = find_line(&v, 1, "\"addr\":\"0x7f0000002000\"");
	long d4 = d3 >= 0 ? find_line(&v, (size_t)d3 + 1, d0) : -1;
	if (t0 < 0 || d1 < t0 || d2 < d1 || t1 < d2 || d3 < t1 || t2 < d3 || d4 < t2 ||
	    find_line(&v, (size_t)d4 + 1, d0) >= 0 || find_line(&v, 1, "\"lru_add_drain_cpu\",\"cpu\":1") >= 0) {
		dump_lines(&v);
		fail_msg("touch a at line %ld, drains at %ld, %ld, touch a+1 at %ld, drain at %ld, touch a+2 at %ld, "
			 "drain at %ld", t0, d1, d2, t1, d3, t2, d4);
	}
	assert_int_equal(trailer_num(&v, "events.lru_drains"), 4);
	assert_int_equal(trailer_num(&v, "events.touches"), 3);
	assert_touches_placed(&v);
	conv_free(&v);
}

/* The command's exec with one mapping: 16 anonymous rw pages at @addr (so the replay's mprotect works). */
static void exec_root_mapped(struct conv *v, uint64_t addr)
{
	struct rec_exec *x = queue_snapshot(v);
	x->vmas = calloc(1, sizeof(*x->vmas));
	assert_non_null(x->vmas);
	x->nr_vmas = 1;
	x->vmas[0].kind = RV_ANON;
	x->vmas[0].prot = 3;
	x->vmas[0].start = addr;
	x->vmas[0].end = addr + 16 * 4096;
	exec_event(v, 0);
}

/* Task @pid on @cpu enters system call @nr (@a0, @a1, @a2) ... */
static void call_enter(struct conv *v, unsigned int cpu, int pid, int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct rec_ev *e = ev(v, REV_SYS_ENTER, cpu, pid);
	e->u.enter.nr = nr;
	e->u.enter.a[0] = a0;
	e->u.enter.a[1] = a1;
	e->u.enter.a[2] = a2;
	feed(v, e);
}

/* ... and returns 0. */
static void call_exit(struct conv *v, unsigned int cpu, int pid, int nr)
{
	struct rec_ev *e = ev(v, REV_SYS_EXIT, cpu, pid);
	e->u.exit_.nr = nr;
	feed(v, e);
}

/*
 * Task 1's madvise (CPU 0) sends CPU 1 a flush call; before it arrives,
 * task 2's madvise on CPU 1 flushes (its op goes there) and CPU 1 switches
 * to another process, in whose context the call then runs: it raced with
 * that switch, whose ops go to task 1's op, before task 2's.  They may not
 * cross task 2's op (the replay refuses an op of a task on no CPU): the
 * switch stays where it is.
 */
static void test_record_convert__raced_switch_does_not_cross_a_calls_op(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000d000ull;
	(void)state;
	conv_start(&v, "crossop");
	exec_root_mapped(&v, addr);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	call_enter(&v, 1, THREAD, NR_madvise, addr + 8 * 4096, 8 * 4096, 4);
	call_enter(&v, 0, ROOT, NR_madvise, addr, 8 * 4096, 4);
	v.gap = 1000;
	tlb_flush(&v, 0, ROOT, 4, 8);           /* task 1's flush: a call to CPU 1 */
	csd_queue(&v, 0, ROOT, 1, csd);
	tlb_flush(&v, 0, ROOT, 3, 8);
	tlb_flush(&v, 1, THREAD, 3, 8);         /* task 2's flush (CPU 1 only) */
	sched_switch(&v, 1, THREAD, 1, 0);      /* CPU 1 to another process */
	csd_call(&v, REV_CSD_ENTRY, 1, 1, csd);
	tlb_flush(&v, 1, 1, 5, 8);
	csd_call(&v, REV_CSD_EXIT, 1, 1, csd);
	v.gap = 10000;
	call_exit(&v, 0, ROOT, NR_madvise);
	sched_switch(&v, 1, 1, THREAD, 0);      /* task 2 back on CPU 1 */
	call_exit(&v, 1, THREAD, NR_madvise);
	conv_finish(&v);

	long madv2 = find_line(&v, 1, "{\"op\":\"madvise\",\"task\":2,");
	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	if (madv2 < 0 || other < madv2) {
		dump_lines(&v);
		fail_msg("task 2's madvise at line %ld, CPU 1 to another process at %ld", madv2, other);
	}
	assert_replays(&v);
	conv_free(&v);
}

/*
 * Task 2 faults on CPU 0; 300 ns later task 1 on CPU 1 goes idle, then
 * (after the fault's flush sent CPU 1 a call, 10 us later) CPU 1 switches to
 * another process, and the call runs there after that switch: it raced with that switch, whose
 * ops would go to the fault's touch.  That is before task 1's sleep on the
 * same CPU (a sleep names no CPU): the replay then found task 1 on no CPU
 * at its sleep.  The switch stays where it is.
 */
static void test_record_convert__raced_switch_does_not_go_back_past_the_cpus_switch(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull, csd = 0xffff88800000e000ull;
	(void)state;
	conv_start(&v, "backpast");
	exec_root_mapped(&v, addr);
	start_thread(&v);
	sched_switch(&v, 1, 0, ROOT, 0);        /* task 1 on CPU 1 */
	sched_switch(&v, 0, 0, THREAD, 0);      /* task 2 on CPU 0 */
	struct rec_ev *e = ev(&v, REV_FAULT, 0, THREAD);
	e->u.fault.addr = addr + 3 * 4096;
	e->u.fault.error = REC_PF_USER | 2;
	feed(&v, e);
	v.gap = 300;
	sched_switch(&v, 1, ROOT, 0, 1);        /* task 1 sleeps: CPU 1 idle */
	v.gap = 10000;
	tlb_flush(&v, 0, THREAD, 4, 1);         /* the fault's flush (10 us later): a call to CPU 1 */
	v.gap = 1000;
	csd_queue(&v, 0, THREAD, 1, csd);
	tlb_flush(&v, 0, THREAD, 3, 1);
	sched_switch(&v, 1, 0, 1, 0);           /* CPU 1 to another process */
	csd_call(&v, REV_CSD_ENTRY, 1, 1, csd);
	tlb_flush(&v, 1, 1, 5, 1);
	csd_call(&v, REV_CSD_EXIT, 1, 1, csd);
	conv_finish(&v);

	long sleep = find_line(&v, 1, "{\"op\":\"sleep\",\"task\":1}");
	long other = find_line(&v, 1, "{\"op\":\"run\",\"cpu\":1,\"other\":true}");
	if (sleep < 0 || other < sleep) {
		dump_lines(&v);
		fail_msg("task 1's sleep at line %ld, CPU 1 to another process at %ld", sleep, other);
	}
	assert_replays(&v);
	conv_free(&v);
}

/*
 * Task 1 faults in the range of task 2's mprotect, then enters an mprotect
 * of its own; task 2's returns, and its op takes task 1's touch after it (a
 * fault during the call).  That moved touch then lies after task 1's own
 * call entry, but it is no fault during task 1's call (a task faults before
 * its call, not during it): it stays before task 1's op.  (It went after it:
 * a write after task 1's mprotect to read-only, and with a switch race
 * inside the call's window, where the replay refuses a touch of the sender.)
 */
static void test_record_convert__moved_touch_does_not_move_after_its_own_call(void **state)
{
	struct conv v;
	const uint64_t addr = 0x7f0000000000ull;
	(void)state;
	conv_start(&v, "owncall");
	exec_root_mapped(&v, addr);
	start_thread(&v);
	sched_switch(&v, 1, 0, THREAD, 0);      /* task 2 on CPU 1 */
	call_enter(&v, 1, THREAD, NR_mprotect, addr, 16 * 4096, 3);
	struct rec_ev *e = ev(&v, REV_FAULT, 0, ROOT);   /* task 1 writes a page of the range */
	e->u.fault.addr = addr + 5 * 4096;
	e->u.fault.error = REC_PF_USER | 2;
	feed(&v, e);
	call_enter(&v, 0, ROOT, NR_mprotect, addr, 16 * 4096, 1);
	call_exit(&v, 1, THREAD, NR_mprotect);   /* no flush: its op goes here */
	tlb_flush(&v, 0, ROOT, 3, 16);          /* task 1's flush: its op goes here */
	call_exit(&v, 0, ROOT, NR_mprotect);
	conv_finish(&v);

	long own = find_line(&v, 1, "{\"op\":\"mprotect\",\"task\":1,");
	long other = find_line(&v, 1, "{\"op\":\"mprotect\",\"task\":2,");
	long touch = find_line(&v, 1, "{\"op\":\"touch\",\"task\":1,");
	if (own < 0 || other < 0 || touch < other || own < touch) {
		dump_lines(&v);
		fail_msg("task 2's mprotect at line %ld, task 1's touch at %ld, its mprotect at %ld", other, touch, own);
	}
	assert_replays(&v);
	conv_free(&v);
}

/*
 * Random kernel event sequences: two CPUs, the command and two threads
 * (tasks 1-3; each seed also without task 3) in one 16-page mapping; at random, switches (to a task, to
 * idle, to another process; prev_state running, sleeping or uninterruptible),
 * the lazy switch's flush, faults (read or write), mprotect calls with their
 * local flushes and a flush call to the other CPU (delivered later, in
 * whatever runs there then, or never), and a thread's exit.  Every written
 * trace must replay in `ptsim run`, its touch lines must be what
 * events.touches says, and at its end each CPU must run the task the kernel's
 * last sched_switch there put on it.  A failure prints the seed and the
 * sequence; PTSIM_CONVERT_SEQS (1,000 seeds) and PTSIM_CONVERT_SEED (the
 * first, 1) choose which sequences run (docs/reliability.md).
 */
#define RS_ADDR 0x7f0000000000ull
#define RS_STEPS 40
#define RS_IDLE 0    /* a CPU's current pid: idle ... */
#define RS_OTHER 1   /* ... or another process */

struct rs_rng {
	uint64_t s;
};

static unsigned int rs_next(struct rs_rng *r, unsigned int n)
{
	r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned int)((r->s >> 33) % n);
}

static void log_event(FILE *f, const struct rec_ev *e)
{
	static const char *const kinds[] = {
		[REV_SYS_ENTER] = "sys_enter", [REV_SYS_EXIT] = "sys_exit", [REV_FAULT] = "fault",
		[REV_FORK] = "fork", [REV_EXEC] = "exec", [REV_EXIT] = "exit", [REV_SWITCH] = "switch",
		[REV_TLB_FLUSH] = "tlb_flush", [REV_CSD_QUEUE] = "csd_queue",
		[REV_CSD_ENTRY] = "csd_entry", [REV_CSD_EXIT] = "csd_exit",
	};
	const char *k = e->kind < sizeof(kinds) / sizeof(kinds[0]) && kinds[e->kind] ? kinds[e->kind] : "?";
	fprintf(f, "  +%llu ns cpu %u pid %d %s", (unsigned long long)(e->ts - 1000000000ull), e->cpu, e->pid, k);
	switch (e->kind) {
	case REV_SYS_ENTER:
		fprintf(f, " nr %d prot %llu", e->u.enter.nr, (unsigned long long)e->u.enter.a[2]);
		break;
	case REV_FAULT:
		fprintf(f, " page %llu error %#x", (unsigned long long)((e->u.fault.addr - RS_ADDR) >> 12),
			(unsigned int)e->u.fault.error);
		break;
	case REV_FORK:
		fprintf(f, " child %d", e->u.fork.child);
		break;
	case REV_SWITCH:
		fprintf(f, " %d -> %d prev_state %lld", e->u.sw.prev, e->u.sw.next, (long long)e->u.sw.prev_state);
		break;
	case REV_TLB_FLUSH:
		fprintf(f, " reason %d pages %llu", e->u.tlb.reason, (unsigned long long)e->u.tlb.pages);
		break;
	case REV_CSD_QUEUE:
		fprintf(f, " target %u csd %#llx", e->u.csdq.target, (unsigned long long)e->u.csdq.csd);
		break;
	case REV_CSD_ENTRY:
	case REV_CSD_EXIT:
		fprintf(f, " csd %#llx", (unsigned long long)e->u.csdf.csd);
		break;
	}
	fputc('\n', f);
}

/* The random sequence's seed and the events fed so far, then the lines written if any. */
static void report_sequence(struct conv *v)
{
	fflush(v->log);
	print_message("sequence %lu of %d tasks (PTSIM_CONVERT_SEED=%lu PTSIM_CONVERT_SEQS=1), the events fed:\n", v->seed,
		      v->tasks, v->seed);
	for (const char *l = v->logbuf, *nl; l && *l; l = nl + 1) {   /* a line at a time: print_message's buffer is small */
		nl = strchrnul(l, '\n');
		print_message("%.*s\n", (int)(nl - l), l);
		if (!*nl)
			break;
	}
	if (v->nr) {
		print_message("written:\n");
		dump_lines(v);
		print_message("  %zu: %.300s ...\n", v->nr - 1, v->lines[v->nr - 1]);
	}
}

/* Task @pid (a thread of the command) is created; it runs when a switch picks it. */
static void rs_start_thread(struct conv *v, int pid)
{
	struct rec_pidinfo *pi = rec_pidinfo(&v->d, pid);
	assert_non_null(pi);
	pi->fork = calloc(1, sizeof(*pi->fork));
	assert_non_null(pi->fork);
	pi->fork->kind = RK_THREAD;
	pi->fork->parent = ROOT;
	struct rec_ev *e = ev(v, REV_FORK, 0, ROOT);
	e->u.fork.parent = ROOT;
	e->u.fork.child = pid;
	feed(v, e);
}

/* The flush call queued to @cpu runs there, in whatever runs there now. */
static void rs_deliver(struct conv *v, struct rs_rng *r, unsigned int cpu, int ctx, uint64_t csd)
{
	csd_call(v, REV_CSD_ENTRY, cpu, ctx, csd);
	tlb_flush(v, cpu, ctx, rs_next(r, 2) ? 1 : 5, rs_next(r, 2) ? 16 : 0);
	csd_call(v, REV_CSD_EXIT, cpu, ctx, csd);
}

/*
 * Feed random sequence @seed of @tasks tasks (2 or 3); on return @cur holds what the kernel ran last
 * on each CPU (a pid, RS_IDLE or RS_OTHER).
 */
static void rs_sequence(struct conv *v, unsigned long seed, int tasks, int cur[2])
{
	static const uint64_t gaps[] = { 300, 1000, 3000, 10000 };
	static const int pids[3] = { ROOT, THREAD, THREAD + 1 };
	struct rs_rng r = { .s = seed * 7919 + 1 };
	bool alive[3] = { true, true, tasks > 2 }, in_call[3] = { false, false, false };
	int pending = -1;   /* the CPU a queued flush call waits for, or -1 */
	uint64_t csd = 0xffff888000100000ull;

	exec_root_mapped(v, RS_ADDR);
	rs_start_thread(v, pids[1]);
	if (tasks > 2)
		rs_start_thread(v, pids[2]);
	cur[0] = ROOT;
	cur[1] = RS_IDLE;
	for (int step = 0; step < RS_STEPS; step++) {
		v->gap = gaps[rs_next(&r, 4)];
		unsigned int what = rs_next(&r, 8), cpu = rs_next(&r, 2);
		int p = cur[cpu], t = -1;
		for (int k = 0; k < 3; k++)
			if (pids[k] == p)
				t = k;
		if (pending >= 0 && rs_next(&r, 2)) {
			rs_deliver(v, &r, (unsigned int)pending, cur[pending], csd);
			pending = -1;
		} else if (what <= 2) {   /* a switch */
			int next[5], n = 0;
			next[n++] = RS_IDLE;
			next[n++] = RS_OTHER;
			for (int k = 0; k < 3; k++)
				if (alive[k] && cur[0] != pids[k] && cur[1] != pids[k])
					next[n++] = pids[k];
			int to = next[rs_next(&r, (unsigned int)n)];
			if (to == p)
				continue;
			sched_switch(v, cpu, p, to, t >= 0 ? (int64_t)rs_next(&r, 3) : 0);
			cur[cpu] = to;
			if (rs_next(&r, 2))   /* the switch's flush */
				tlb_flush(v, cpu, p, 0, 0);
		} else if (what == 3 && t >= 0 && !in_call[t]) {
			struct rec_ev *e = ev(v, REV_FAULT, cpu, p);
			e->u.fault.addr = RS_ADDR + 4096ull * rs_next(&r, 16);
			e->u.fault.error = REC_PF_USER | (rs_next(&r, 2) ? 2 : 0);
			feed(v, e);
		} else if (what == 4 && t >= 0 && !in_call[t]) {
			call_enter(v, cpu, p, NR_mprotect, RS_ADDR, 16 * 4096, rs_next(&r, 2) ? 1 : 3);
			in_call[t] = true;
		} else if (what == 5 && t >= 0 && in_call[t]) {   /* the call's flush */
			tlb_flush(v, cpu, p, 4, 16);
			if (pending < 0 && rs_next(&r, 2)) {
				csd += 0x1000;
				pending = (int)(1 - cpu);
				csd_queue(v, cpu, p, 1 - cpu, csd);
			}
			tlb_flush(v, cpu, p, 3, 16);
		} else if (what == 6 && t >= 0 && in_call[t]) {
			call_exit(v, cpu, p, NR_mprotect);
			in_call[t] = false;
		} else if (what == 7 && t > 0 && !in_call[t] && rs_next(&r, 4) == 0) {   /* a thread exits */
			struct rec_ev *e = ev(v, REV_EXIT, cpu, p);
			e->u.exit.pid = p;
			feed(v, e);
			alive[t] = false;
			sched_switch(v, cpu, p, RS_IDLE, 0x20);
			cur[cpu] = RS_IDLE;
		}
	}
}

/*
 * What the written trace runs at its end on each CPU: a task id, 0 (no task
 * of the command).  Follows run (with and without a task), spawn, sleep and exit.
 */
static void rs_written_end(const struct conv *v, int on[2])
{
	on[0] = on[1] = 0;
	for (size_t i = 1; i + 1 < v->nr; i++) {
		cJSON *o = cJSON_Parse(v->lines[i]);
		assert_non_null(o);
		const char *op = cJSON_GetObjectItem(o, "op")->valuestring;
		const cJSON *task = cJSON_GetObjectItem(o, "task"), *cpu = cJSON_GetObjectItem(o, "cpu");
		int t = cJSON_IsNumber(task) ? task->valueint : 0;
		if ((!strcmp(op, "run") || !strcmp(op, "spawn") || !strcmp(op, "thread")) && cJSON_IsNumber(cpu) &&
		    cpu->valueint >= 0 && cpu->valueint < 2) {
			for (int c = 0; c < 2; c++)
				if (t && on[c] == t)
					on[c] = 0;
			on[cpu->valueint] = t;
		} else if ((!strcmp(op, "sleep") || !strcmp(op, "exit")) && t) {
			for (int c = 0; c < 2; c++)
				if (on[c] == t)
					on[c] = 0;
		}
		cJSON_Delete(o);
	}
}

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);
	return s && *s ? strtoul(s, NULL, 10) : dflt;
}

static void test_record_convert__random_sequences_replay(void **state)
{
	(void)state;
	unsigned long n = env_ulong("PTSIM_CONVERT_SEQS", 1000), first = env_ulong("PTSIM_CONVERT_SEED", 1);
	unsigned long dropped = 0;
	/* thousands of traces: in memory when possible, where their fsync costs nothing */
	const char *dir = access("/dev/shm", W_OK) ? PTSIM_TEST_TMPDIR : "/dev/shm";

	for (unsigned long i = 0; i < 2 * n; i++) {
		unsigned long seed = first + i / 2;
		int tasks = 3 - (int)(i % 2);
		struct conv v;
		int cur[2], on[2];
		char err[512] = "";

		conv_start_in(&v, dir, "random");
		v.seed = seed;
		v.tasks = tasks;
		v.log = open_memstream(&v.logbuf, &v.loglen);
		assert_non_null(v.log);
		rs_sequence(&v, seed, tasks, cur);
		conv_write(&v);
		long lines = 0;
		for (size_t l = 1; l + 1 < v.nr; l++)
			lines += !strncmp(v.lines[l], "{\"op\":\"touch\",", 14);
		long touches = trailer_num(&v, "events.touches");
		dropped += strstr(v.lines[v.nr - 1], "did not run again") != NULL;
		int rc = replay_error(&v, err, sizeof(err));
		rs_written_end(&v, on);
		/* the kernel's pids as task ids: the command 1, its threads 2 and 3 in start order */
		int want[2];
		for (int c = 0; c < 2; c++)
			want[c] = cur[c] >= ROOT ? cur[c] - ROOT + 1 : 0;
		const char *what = rc ? "the replay refuses the trace" : lines != touches ? "touch lines != events.touches"
				 : (on[0] != want[0] || on[1] != want[1]) ? "end placement differs from the kernel's" : NULL;
		if (what) {
			report_sequence(&v);
			print_message("%s\ntouch lines %ld, events.touches %ld; at the end CPU 0 runs task %d, CPU 1 task %d "
				      "(the kernel: %d, %d)\n", err, lines, touches, on[0], on[1], want[0], want[1]);
			fail_msg("sequence %lu of %d tasks: %s", seed, tasks, what);
		}
		fclose(v.log);
		free(v.logbuf);
		conv_free(&v);
	}
	print_message("%lu random seeds from %lu, each with 3 and with 2 tasks: all replay (%lu with a dropped fault)\n",
		      n, first, dropped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_convert__lazy_switch_to_init_mm_is_not_a_noop),
		cmocka_unit_test(test_record_convert__exit_flush_after_preemption_is_counted),
		cmocka_unit_test(test_record_convert__fault_waiting_for_a_call_follows_its_task_back),
		cmocka_unit_test(test_record_convert__raced_switch_stays_before_the_tasks_return),
		cmocka_unit_test(test_record_convert__dropped_waiting_fault_is_not_a_touch),
		cmocka_unit_test(test_record_convert__untraced_switch_in_goes_before_the_call),
		cmocka_unit_test(test_record_convert__call_after_a_finished_switch_is_no_race),
		cmocka_unit_test(test_record_convert__call_decided_during_a_switch_is_a_race),
		cmocka_unit_test(test_record_convert__raced_call_that_caught_up_puts_the_flush_first),
		cmocka_unit_test(test_record_convert__switch_window_ends_at_switch_mm_or_after_8us),
		cmocka_unit_test(test_record_convert__madvise_cold_and_pageout_are_events),
		cmocka_unit_test(test_record_convert__counts_start_at_the_first_exec),
		cmocka_unit_test(test_record_convert__two_queued_execs_each_use_their_snapshot),
		cmocka_unit_test(test_record_convert__later_exec_says_arg_pages),
		cmocka_unit_test(test_record_convert__moved_touch_keeps_its_run_once),
		cmocka_unit_test(test_record_convert__untraced_switch_in_without_sender_op_is_counted),
		cmocka_unit_test(test_record_convert__fault_flush_after_a_switch_away_follows_it),
		cmocka_unit_test(test_record_convert__untraced_other_process_leaves_the_mm),
		cmocka_unit_test(test_record_convert__fault_flush_after_a_switch_away_moves_the_touch),
		cmocka_unit_test(test_record_convert__fault_flush_after_a_switch_to_the_mm_follows_it),
		cmocka_unit_test(test_record_convert__fault_during_a_call_moves_after_it_though_its_task_slept),
		cmocka_unit_test(test_record_convert__lru_batch_move_drains_that_cpu_once),
		cmocka_unit_test(test_record_convert__spawned_exec_goes_at_its_mm_switch),
		cmocka_unit_test(test_record_convert__switch_not_moved_across_a_pending_exec),
		cmocka_unit_test(test_record_convert__switch_order_not_carried_past_an_exit),
		cmocka_unit_test(test_record_convert__untraced_switch_in_ends_the_switch_window),
		cmocka_unit_test(test_record_convert__reserve_doubles_and_refuses_overflow),
		cmocka_unit_test(test_record_convert__waiting_fault_leaves_the_switch_window_first),
		cmocka_unit_test(test_record_convert__raced_switch_does_not_cross_a_calls_op),
		cmocka_unit_test(test_record_convert__raced_switch_does_not_go_back_past_the_cpus_switch),
		cmocka_unit_test(test_record_convert__moved_touch_does_not_move_after_its_own_call),
		cmocka_unit_test(test_record_convert__random_sequences_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
