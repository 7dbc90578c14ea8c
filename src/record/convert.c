/*
 * Kernel events -> trace ops.
 *
 * Events arrive in timestamp order (tracing.c).  The converter keeps a
 * small model of what it has told ptsim so far: which recorded task runs on
 * which CPU, which recorded mm each CPU holds (running or lazily), each
 * task's system call in progress.  Every op it writes is one line:
 *
 *   sched_process_exec   spawn (the command itself) + exec {segments, brk,
 *                        stack} from the snapshot taken at the exec stop, then
 *                        a touch of every page already present there (the
 *                        kernel wrote them during exec: arguments, bss)
 *   sched_process_fork   fork / thread (+ "process" for vfork-like clones)
 *                        without a CPU: the child first runs when
 *                        sched_switch says so
 *   sched_process_exit   exit
 *   sys_exit_X           the system call X with its arguments (sys_enter_X)
 *                        and the kernel's result: mmap at the returned address
 *                        ("fixed": "replace" only for MAP_FIXED), failed calls
 *                        with "expect" where ptsim's answer is the kernel's
 *   page faults          touch of the page by the faulting task (write when
 *                        the error code says so); consecutive faults on
 *                        consecutive pages by one task become one touch
 *   sched_switch         run (a recorded task comes in), sleep (it leaves for
 *                        idle or a kernel thread: the CPU keeps its mm lazily),
 *                        run {cpu, other} (a CPU holding a recorded mm
 *                        switches to a process outside the recording)
 *   a flush call that    schedule_begin, the switch, the sender's op,
 *    met a CPU in its    schedule_end (close_switch())
 *    context switch
 *   time                 advance, when 1 ms or more passed since the last one
 *                        or the kernel's jiffies changed
 *   mm_lru_insertion     lru_add_drain_cpu {cpu}: the CPU's LRU add batch
 *                        moved to the LRU, under whatever process (on_lru_add())
 *
 * Everything ptsim cannot replay is counted in the trailer ("not_replayed",
 * "ignored") or said as a warning; nothing is dropped silently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "record/convert.h"
#include "record/counts.h"
#include "record/grow.h"
#include "record/out.h"

#define PAGE 4096ull
/*
 * sched_switch's prev_state of a task's last switch (do_task_dead()): its
 * exit_state, EXIT_ZOMBIE or EXIT_DEAD.  An exiting task may switch out
 * before that (preempted: 0x100, or asleep in exit_mm()) and come back to
 * tear its mm down: those flushes are still its own.
 */
#define SW_STATE_EXITED 0x30
#define ADVANCE_NS 1000000ull      /* write an advance once at least 1 ms passed */

/* x86-64 system call numbers (only those the converter acts on). */
enum {
	NR_mmap = 9, NR_mprotect = 10, NR_munmap = 11, NR_brk = 12, NR_mremap = 25, NR_madvise = 28,
	NR_shmat = 30, NR_execve = 59, NR_shmdt = 67, NR_mlock = 149, NR_munlock = 150, NR_mlockall = 151,
	NR_munlockall = 152, NR_remap_file_pages = 216, NR_mbind = 237, NR_migrate_pages = 256,
	NR_move_pages = 279, NR_execveat = 322, NR_userfaultfd = 323, NR_mlock2 = 325, NR_pkey_mprotect = 329,
	NR_io_uring_register = 427, NR_process_madvise = 440, NR_memfd_secret = 447, NR_map_shadow_stack = 453,
	NR_mseal = 462,
};

/* mmap flags and madvise advice values (uapi). */
#define X_MAP_SHARED 0x01
#define X_MAP_TYPE 0x0f
#define X_MAP_FIXED 0x10
#define X_MAP_ANONYMOUS 0x20
#define X_MAP_GROWSDOWN 0x100
#define X_MAP_LOCKED 0x2000
#define X_MAP_POPULATE 0x8000
#define X_MAP_HUGETLB 0x40000
#define X_MAP_FIXED_NOREPLACE 0x100000
#define X_PROT_GROWS 0x03000000
#define X_MREMAP_MAYMOVE 1
#define X_MREMAP_FIXED 2
#define X_MREMAP_DONTUNMAP 4
#define X_SHM_RDONLY 010000
#define X_SHM_REMAP 040000
#define X_SHM_EXEC 0100000
#define X_MLOCK_ONFAULT 1

struct range {
	uint64_t start, end;
};

struct ranges {
	struct range *v;
	size_t nr, cap;
};

struct cmm {
	int id;
	int users;              /* live tasks using it */
	int first_task, last_task;
	char *mark;             /* the mark written just before it ended */
	pid_t pid;              /* the process that created it */
	char comm[64];
	struct rec_exit_figs figs;  /* the latest figures read at an exit stop of one of its tasks */
	const char *ended;      /* "exit", "exec" or NULL (alive at the end) */
	uint64_t brk;
	struct ranges shm;      /* SysV attachments (start, end) */
	struct ranges ignored;  /* device and vvar mappings: faults there are not replayed */
	int *tasks;
	size_t nr_tasks, cap_tasks;
	bool warned_thp, warned_ksm;
};

struct held_fault {
	uint64_t addr;
	bool write;
};

/* A touch line waiting for its task to be put back on a CPU (qline()). */
struct waiting_line {
	int task;
	char *s;
};

struct ctask {
	int id;
	pid_t pid;
	struct cmm *mm;
	int cpu;                /* where ptsim has it running, -1: not running */
	uint64_t off_seq;       /* ... the queue's next entry when it last left a CPU (task_off()) */
	bool in_sys;
	int sys_nr;
	uint64_t a[6];
	bool in_exec;           /* between execve entry and its exec (or failure) */
	bool has_slot;          /* its call in progress has a queued place (sys_slot) */
	uint64_t sys_slot;
	bool has_flush_slot;    /* ... and a place where it last flushed (flush_slot) */
	uint64_t flush_slot;
	bool race_slot;         /* flush_slot was moved by close_switch(): its own local flush keeps it */
	bool has_exec_slot;     /* in execve: the place of its exec_mmap() switch (exec_slot, see on_exec()) */
	uint64_t exec_slot;
	uint64_t sent_ts;       /* its last "remote send IPI" tlb_flush */
	struct held_fault *held;   /* faults inside execve: the old or the new mm? */
	/* its last fault: its touch entry (q_seq numbering), page, access, the epoch then */
	bool lf_valid, lf_write;
	uint64_t lf_seq, lf_addr, lf_epoch;
	/* PTSIM_RECORD_DEBUG: the kernel's flushes since this task's last op (line dbg_line) */
	uint64_t dbg_line, dbg_local, dbg_send, dbg_queued;
	char dbg_calls[96];     /* ... and what its flush calls did on their CPUs (dbg_call_done()) */
	size_t nr_held, cap_held;
};

/* A flush call a recorded task queued to a CPU that has not run it yet. */
struct cpend {
	uint64_t csd, ts;
	uint64_t sent_ts;   /* its flush's "remote send IPI" tlb_flush: should_flush_tlb() ran after it */
	int task;
};

#define NR_CPEND 8
/*
 * How long a switch's IRQs-off window may stay open, and how long a queued
 * call may wait for its CPU, in trace time: an IPI reaches a CPU whose IRQs
 * are on within microseconds, and __schedule() keeps them off for about as
 * long.  A call seen waiting longer lost its entry event (not replayed as a race).
 */
#define RACE_WINDOW_NS 200000ull
/*
 * ... but a call queued after the switch met it only while the CPU was still
 * switching: not after the switch's own tlb_flush (switch_mm_irqs_off() had
 * loaded the new mm, and should_flush_tlb() saw that), and, for a switch
 * without one (to idle, between threads), within RACE_AFTER_NS of its
 * sched_switch.  Measured on record_prog's recordings: switch_mm_irqs_off()'s
 * tlb_flush follows sched_switch by 1-2 us, and 15 of 65 calls queued less
 * than 1 us after a switch came after it; a call reaches its CPU about 3 us
 * after it is queued, whatever its distance to a switch.  The window used to
 * hold until the CPU's next event, up to 200 us: a call queued 139 us after
 * the switch, to a CPU long done with it, moved the switch after two
 * mprotects of the mm the CPU had left, and ptsim sent them IPIs the kernel
 * did not.
 */
#define RACE_AFTER_NS 8000ull

struct ccpu {
	struct ctask *cur;      /* recorded task running here (as told to ptsim) */
	struct cmm *loaded;     /* recorded mm this CPU holds, running or lazily */
	struct cpend pend[NR_CPEND];   /* flush calls queued here, not run yet (see close_switch()) */
	unsigned int nr_pend;
	/* its last context switch, while the IRQs-off window may still be open (close_switch()) */
	bool open;
	uint64_t sw_ts, s0, s1;
	uint64_t prev_s1;       /* where the ops of the switch before it ended */
	int cand_task;          /* a task whose flush of the new mm did not reach it meanwhile (-1: none) */
	/* a raced call it is running now (entered during the window): its sender, whether it flushed */
	bool in_call, call_flushed;
	int call_task;
	int written;            /* the task the lines written so far leave running here (0: none; see note_written()) */
	bool written_window;    /* ... and whether they leave it inside schedule_begin/_end */
	int sw_prev;            /* the recorded task its last switch took off it (-1: none) */
	uint64_t sw_mm_ts;      /* the tlb_flush of its last switch's switch_mm_irqs_off() (0: none yet) */
	struct cmm *sw_from;    /* the mm its last switch took it away from, running (NULL: none) */
	int away_task;          /* a task whose fault's flush was decided after that switch (0: none; switch_away()) */
	bool away_to;           /* ... a flush of the mm the switch brought here (else of sw_from) */
	bool away_called;       /* ... which called this CPU */
	/* PTSIM_RECORD_DEBUG: recorded tasks' flush calls queued here (csd, sender), the one running */
	struct {
		uint64_t csd;
		int task;
	} dbg_pend[NR_CPEND];
	unsigned int dbg_nr_pend;
	int dbg_call;           /* sender of the flush call running here (0: none) */
	char dbg_did;           /* ... what it did so far (0: nothing yet) */
	pid_t sw_next;          /* the task its last traced sched_switch put on it (0: idle or none yet) */
	pid_t sw_prev_pid;      /* ... and the one it took off (prev_pid) */
	bool sw_seen;           /* a sched_switch was traced here */
	bool lru_held;          /* a recorded task faulted or called here since its last lru_add_drain_cpu op */
	/* the last event here was a recorded task's fault: its touch entry (q_seq numbering), task, page */
	bool in_fault;
	int fault_task;
	uint64_t fault_seq, fault_addr;
	unsigned int lru_run;   /* insertions of a batch move that began inside that fault (0: none; on_lru_add()) */
};

struct counter {
	char *key;
	uint64_t n;
};

struct counters {
	struct counter *v;
	size_t nr, cap;
};

/* A queued output line: a printed op, or a touch (printed when written, it may still grow or shrink). */
struct qent {
	char *s;
	bool pending;        /* where a system call entered the kernel (written as nothing) */
	bool dead;           /* moved or dropped: written as nothing */
	bool is_touch;
	int task;
	uint64_t addr, len;
	bool write;
	/*
	 * A flush call of this op raced with a context switch on CPU race_cpu
	 * (close_switch()): written as schedule_begin, the op (of a touch, its
	 * last page), the switch's ops (post), schedule_end.  post is written
	 * even if the op is not (without begin and end).
	 */
	bool raced;
	bool switch_first;   /* the switch's ops (post) go before the op */
	unsigned int race_cpu;
	char *post;
	char *pre;           /* lines written before the entry, whatever it is (missed_switch_in()) */
	char *mid;           /* lines written before the op, after a touch's other pages (switch_away()) */
};

#define QCAP 4096u   /* lines held back: far more than a fault race spans */

struct rec_conv {
	struct rec_data *d;
	struct rec_out *out;
	struct rec_conv_opts o;
	struct pidmap tasks;        /* live recorded tasks by pid */
	struct pidmap dying;        /* exited, not yet switched out for good: exit_mm() runs after the exit event */
	struct pidmap classes;      /* other pids: 1 kernel thread, 2 user process */
	struct cmm **mms;
	size_t nr_mms, cap_mms;
	struct ccpu *cpus;
	int next_task;
	bool started;
	uint64_t clock_ts, first_ts, last_ts;
	uint64_t now;               /* timestamp of the event being converted */
	/* the output queue (see "output" below) */
	struct qent *q;
	size_t q_head, q_len;
	uint64_t q_seq;             /* sequence number of the next entry */
	uint64_t epoch;             /* bumped by every op that can change a mapping */
	uint64_t lost_races;
	uint64_t switch_races;      /* flush calls taken after a context switch, replayed with schedule_begin/end */
	uint64_t switch_orders;     /* flushes that saw a switching CPU's old state: ops put before the switch */
	uint64_t waited_faults;     /* touches written after their task's next run (see qline()) */
	uint64_t missed_switches;   /* runs the kernel traced no sched_switch for (missed_switch_in()) */
	uint64_t unseen_switches;   /* every run written without a sched_switch to it (ensure_running() too) */
	uint64_t unseen_other;      /* other processes that left a CPU the trace never put them on */
	uint64_t lru_drains;        /* lru_add_drain_cpu ops written (on_lru_add()) */
	unsigned int nr_away;       /* CPUs with an away_task to decide (switch_away()) */
	struct waiting_line *waiting;   /* ... held back until then */
	size_t nr_waiting, cap_waiting;
	unsigned int nr_open;       /* CPUs whose switch window is open */
	/* figures */
	uint64_t lines, faults, touches, syscalls, switches, unknown_events;   /* lines, touches: written (qline_out()) */
	struct counters not_replayed, ignored;
	char **warnings;
	size_t nr_warnings, cap_warnings;
	struct rec_counts *counts;
	char *line;
	size_t line_cap;
	int err;
	bool in_sysop;              /* writing a system call's ops */
	char *fill;                 /* ... into the place of its flush: the ops, one a line */
	size_t fill_len;
	uint64_t dbg_seq;
	bool debug;                 /* PTSIM_RECORD_DEBUG: a mark after every op, the kernel's flushes per op */
	struct ctask **by_id;       /* live tasks by id */
	size_t nr_by_id;
};

/* ---- small helpers ---- */

static void warn(struct rec_conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct rec_conv *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < c->nr_warnings; i++)
		if (!strcmp(c->warnings[i], buf))
			return;
	if (rec_reserve(c->warnings, c->cap_warnings, c->nr_warnings + 2, 16))   /* and the NULL after it */
		return;
	char *s = strdup(buf);
	if (!s)
		return;
	c->warnings[c->nr_warnings++] = s;
	c->warnings[c->nr_warnings] = NULL;
	fprintf(stderr, "ptsim record: warning: %s\n", buf);
}

static void count(struct counters *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void count(struct counters *cs, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < cs->nr; i++)
		if (!strcmp(cs->v[i].key, buf)) {
			cs->v[i].n++;
			return;
		}
	if (rec_reserve(cs->v, cs->cap, cs->nr + 1, 16))
		return;
	cs->v[cs->nr].key = strdup(buf);
	cs->v[cs->nr].n = 1;
	if (cs->v[cs->nr].key)
		cs->nr++;
}

static int ranges_add(struct ranges *r, uint64_t start, uint64_t end)
{
	if (rec_reserve(r->v, r->cap, r->nr + 1, 8))
		return -ENOMEM;
	r->v[r->nr].start = start;
	r->v[r->nr].end = end;
	r->nr++;
	return 0;
}

static bool ranges_has(const struct ranges *r, uint64_t a)
{
	for (size_t i = 0; i < r->nr; i++)
		if (a >= r->v[i].start && a < r->v[i].end)
			return true;
	return false;
}

/* Drop every part of [start, end) from @r (an munmap or a MAP_FIXED over it). */
static void ranges_cut(struct ranges *r, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < r->nr;) {
		struct range *x = &r->v[i];
		if (x->end <= start || x->start >= end) {
			i++;
			continue;
		}
		if (x->start < start && x->end > end) {   /* a hole in the middle */
			uint64_t tail = x->end;
			x->end = start;
			ranges_add(r, end, tail);
			i++;
			continue;
		}
		if (x->start < start) {
			x->end = start;
			i++;
		} else if (x->end > end) {
			x->start = end;
			i++;
		} else {
			*x = r->v[--r->nr];
		}
	}
}

static const char *prot_name(unsigned int p)
{
	static const char *const names[8] = { "none", "r", "w", "rw", "x", "rx", "wx", "rwx" };
	return names[p & 7];
}

static void hex(char *buf, size_t n, uint64_t v)
{
	snprintf(buf, n, "0x%" PRIx64, v);
}

static void add_hex(cJSON *o, const char *key, uint64_t v)
{
	char b[24];
	hex(b, sizeof(b), v);
	cJSON_AddStringToObject(o, key, b);
}

static void add_num(cJSON *o, const char *key, uint64_t v)
{
	cJSON_AddNumberToObject(o, key, (double)v);
}

static cJSON *op(const char *name)
{
	cJSON *o = cJSON_CreateObject();
	if (o)
		cJSON_AddStringToObject(o, "op", name);
	return o;
}

static uint64_t page_up(uint64_t v, uint64_t sz)
{
	return (v + sz - 1) & ~(sz - 1);
}

/* ---- output ---- */

/*
 * Output goes through a queue of the last QCAP lines before the file, for
 * one reason: a fault that lost a race.  Two threads fault on one page at
 * once (a write and a read): the kernel logs both faults on entry, the read
 * maps the zero page first, the write finds the entry changed, does nothing
 * and is retried — a second fault of the same task on the same page.  ptsim,
 * given the first write, would complete it.  So when a task faults again on
 * the page of its previous fault, with the same access and no op that can
 * change a mapping in between, the earlier fault is taken out of the queue
 * (counted in the trailer's "ignored" as "fault retried (lost a race)").
 */
static struct ctask *task_by_id(struct rec_conv *c, int id);

/*
 * What the written lines leave running on each CPU.  A raced call's window
 * (qwrite_raced()) must not hold its sender's own op on the CPU the window is
 * for: the replay refuses a task's op on a CPU inside the scheduler, and the
 * converter's view of placement (ctask.cpu) is the one at conversion time,
 * not at the place the queue writes the op.
 */
static bool line_field(const char *line, const char *end, const char *key, long *v)
{
	char pat[24];
	int n = snprintf(pat, sizeof(pat), "\"%s\":", key);
	for (const char *p = line; p && p + n <= end; p++) {
		p = memchr(p, '"', (size_t)(end - p));
		if (!p || p + n > end)
			return false;
		if (!memcmp(p, pat, (size_t)n)) {
			char *e;
			long x = strtol(p + n, &e, 10);
			if (e == p + n)
				return false;
			*v = x;
			return true;
		}
	}
	return false;
}

static void place_written(struct rec_conv *c, long task, long cpu)
{
	for (unsigned int x = 0; x < c->o.si->cpus; x++)
		if (c->cpus[x].written == task)
			c->cpus[x].written = 0;
	if (cpu >= 0 && (unsigned long)cpu < c->o.si->cpus)
		c->cpus[cpu].written = (int)task;
}

/* Line @s (@len bytes) was written: follow run/sleep/exit/spawn/thread/fork. */
static void note_written(struct rec_conv *c, const char *s, size_t len)
{
	static const struct {
		const char *op, *who;
		bool places;
	} ops[] = {
		{ "{\"op\":\"run\",", "task", true },     { "{\"op\":\"sleep\",", "task", false },
		{ "{\"op\":\"exit\",", "task", false },   { "{\"op\":\"spawn\",", "task", true },
		{ "{\"op\":\"thread\",", "thread", true }, { "{\"op\":\"fork\",", "child", true },
	};
	const char *end = s + len;

	/* Most lines are touches: look further only at run, sleep, exit, spawn, thread, fork and schedule_*. */
	if (len < 9 || s[7] == 'a' || s[7] == 'm' || (s[7] == 't' && s[8] == 'o'))
		return;
	static const char sched_op[] = "{\"op\":\"schedule_";
	const size_t sl = sizeof(sched_op) - 1;
	if (len > sl && !memcmp(s, sched_op, sl)) {
		long cpu;
		if (line_field(s, end, "cpu", &cpu) && (unsigned long)cpu < c->o.si->cpus)
			c->cpus[cpu].written_window = s[sl] == 'b';   /* begin / end */
		return;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t ol = strlen(ops[i].op);
		long who, cpu = -1;
		if (len < ol || memcmp(s, ops[i].op, ol))
			continue;
		if (i == 0 && !line_field(s, end, "task", &who) && line_field(s, end, "cpu", &cpu)) {
			if ((unsigned long)cpu < c->o.si->cpus)
				c->cpus[cpu].written = 0;   /* run other */
			return;
		}
		if (!line_field(s, end, ops[i].who, &who))
			return;
		if (ops[i].places && !line_field(s, end, "cpu", &cpu))
			return;   /* forked or created without a CPU: not running */
		place_written(c, who, ops[i].places ? cpu : -1);
		return;
	}
}

/* Would the window of raced call @e hold its sender's op on the CPU the window is for? */
static bool raced_on_own_cpu(struct rec_conv *c, const struct qent *e)
{
	return c->cpus[e->race_cpu].written == e->task;
}

/*
 * Do the lines written so far leave @task on a CPU where it may act: not
 * inside a schedule_begin/_end window of that CPU (the replay's CPU can only
 * switch there)?
 */
static bool written_free(const struct rec_conv *c, long task)
{
	for (unsigned int x = 0; x < c->o.si->cpus; x++)
		if (c->cpus[x].written == task)
			return !c->cpus[x].written_window;
	return false;
}

static int qline_out(struct rec_conv *c, const char *s, size_t len, bool is_touch);

/* Take waiting line @i out of the list; the caller frees it. */
static char *waiting_take(struct rec_conv *c, size_t i)
{
	char *s = c->waiting[i].s;
	memmove(&c->waiting[i], &c->waiting[i + 1], (c->nr_waiting - i - 1) * sizeof(*c->waiting));
	c->nr_waiting--;
	return s;
}

/* The line just written left @task free to act (written_free()): its waiting touches follow. */
static int release_waiting(struct rec_conv *c, long task)
{
	int rc = 0;
	for (size_t i = 0; i < c->nr_waiting;) {
		if (c->waiting[i].task != task) {
			i++;
			continue;
		}
		char *line = waiting_take(c, i);
		if (!rc && !(rc = qline_out(c, line, strlen(line), true)))
			c->waited_faults++;
		free(line);
	}
	return rc;
}

/* Hold touch line @s of @task until the written lines put it back on a CPU. */
static int wait_line(struct rec_conv *c, long task, const char *s, size_t len)
{
	if (rec_reserve(c->waiting, c->cap_waiting, c->nr_waiting + 1, 8))
		return c->err = -ENOMEM;
	char *copy = strndup(s, len);
	if (!copy)
		return c->err = -ENOMEM;
	c->waiting[c->nr_waiting].task = (int)task;
	c->waiting[c->nr_waiting].s = copy;
	c->nr_waiting++;
	return 0;
}

/* Drop the waiting touches of @task (it exited without running again). */
static void drop_waiting(struct rec_conv *c, long task)
{
	for (size_t i = 0; i < c->nr_waiting;) {
		if (c->waiting[i].task != task) {
			i++;
			continue;
		}
		free(waiting_take(c, i));
		count(&c->ignored, "fault of a task that did not run again");
	}
}

/* One line. */
static int qline1(struct rec_conv *c, const char *s, size_t len)
{
	static const char touch_op[] = "{\"op\":\"touch\",";
	static const char exit_op[] = "{\"op\":\"exit\",";
	long task;
	bool is_touch = len > sizeof(touch_op) - 1 && !memcmp(s, touch_op, sizeof(touch_op) - 1);

	if (is_touch && line_field(s, s + len, "task", &task) && !written_free(c, task))
		return wait_line(c, task, s, len);
	if (c->nr_waiting && len > sizeof(exit_op) - 1 && !memcmp(s, exit_op, sizeof(exit_op) - 1) &&
	    line_field(s, s + len, "task", &task))
		drop_waiting(c, task);
	return qline_out(c, s, len, is_touch);
}

/* Line @s goes out now; a line that frees a waiting touch's task sends it after. */
static int qline_out(struct rec_conv *c, const char *s, size_t len, bool is_touch)
{
	int rc = rec_out_line(c->out, s, len);
	c->lines++;
	if (rc)
		return c->err = rc;
	if (is_touch)
		c->touches++;   /* here, where it is written: a held touch may be dropped */
	note_written(c, s, len);
	if (c->nr_waiting && !is_touch) {
		for (size_t i = 0; i < c->nr_waiting && !rc; i++)
			if (written_free(c, c->waiting[i].task)) {
				rc = release_waiting(c, c->waiting[i].task);
				i = (size_t)-1;   /* the list changed: from the start */
			}
	}
	return rc;
}

/*
 * Write @s, one or more lines.  A touch whose task the lines written so far
 * do not have on a CPU (or have there inside a schedule_begin/_end window) is
 * held back and written after the line that puts the task back on one (or
 * ends the window): a fault that waited in the kernel (another thread's
 * call held mmap_lock; the faulting task slept and came back later) and that
 * the converter moved after that call (move_raced_touches()) completed when
 * its task ran again.  The trailer counts them (events.waited_faults).
 */
static int qline(struct rec_conv *c, const char *s)
{
	int rc = 0;
	while (*s && !rc) {
		const char *end = strchr(s, '\n');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		rc = qline1(c, s, len);
		s += len + (end ? 1 : 0);
	}
	return rc;
}

static int qwrite_raced(struct rec_conv *c, struct qent *e)
{
	char buf[200];
	bool op = !e->pending && !e->dead && (e->is_touch ? e->len : e->s != NULL);
	int rc = 0;

	if (op && e->raced && raced_on_own_cpu(c, e)) {   /* taken before the switch instead (see note_written()) */
		e->raced = false;
		c->switch_races--;
		c->switch_orders++;
	}

	if (op && !e->raced) {   /* only ops to put before a switch (close_switch()) */
		if (e->is_touch) {
			snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 "%s}",
				 e->task, e->addr, e->len, e->write ? ",\"write\":true" : "");
		}
		rc = qline(c, e->is_touch ? buf : e->s);
		op = false;
	}
	if (op && e->is_touch && e->len > PAGE) {
		snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 "%s}",
			 e->task, e->addr, (uint64_t)(e->len - PAGE), e->write ? ",\"write\":true" : "");
		rc = qline(c, buf);
	}
	if (op && !rc) {
		snprintf(buf, sizeof(buf), "{\"op\":\"schedule_begin\",\"cpu\":%u}", e->race_cpu);
		rc = qline(c, buf);
	}
	if (op && !rc && e->switch_first && e->post && e->post[0]) {
		rc = qline(c, e->post);
		free(e->post);
		e->post = NULL;
	}
	if (op && !rc && e->is_touch) {
		snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":4096%s}",
			 e->task, (uint64_t)(e->addr + e->len - PAGE), e->write ? ",\"write\":true" : "");
		rc = qline(c, buf);
	} else if (op && !rc) {
		rc = qline(c, e->s);
	}
	if (!rc && e->post && e->post[0])
		rc = qline(c, e->post);
	if (op && !rc && e->raced) {
		snprintf(buf, sizeof(buf), "{\"op\":\"schedule_end\",\"cpu\":%u}", e->race_cpu);
		rc = qline(c, buf);
	}
	free(e->s);
	free(e->post);
	e->s = e->post = NULL;
	return rc;
}

static int qwrite(struct rec_conv *c, struct qent *e)
{
	int rc = 0;
	char *s = e->s;
	char buf[160];

	if (e->pre) {
		rc = qline(c, e->pre);
		free(e->pre);
		e->pre = NULL;
		if (rc) {   /* (the entry is off the queue: nothing else frees it) */
			free(e->s);
			free(e->post);
			e->s = e->post = NULL;
			return rc;
		}
	}
	if (e->mid) {
		if (e->is_touch && !e->dead && e->len > PAGE) {   /* the touch's other pages come first */
			snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 "%s}",
				 e->task, e->addr, (uint64_t)(e->len - PAGE), e->write ? ",\"write\":true" : "");
			e->addr += e->len - PAGE;
			e->len = PAGE;
			rc = qline(c, buf);
		}
		if (!rc)
			rc = qline(c, e->mid);
		free(e->mid);
		e->mid = NULL;
		if (rc) {
			free(e->s);
			free(e->post);
			e->s = e->post = NULL;
			return rc;
		}
	}
	if (e->raced || e->post)
		return qwrite_raced(c, e);
	if (e->pending || e->dead || (!e->is_touch && !e->s))
		return 0;   /* a marker, or a moved touch */
	if (e->is_touch) {
		if (!e->len && !c->debug)
			return 0;
		if (!e->len)
			snprintf(buf, sizeof(buf), "{\"op\":\"mark\",\"name\":\"fault retried (lost a race) task %d\"}", e->task);
		else
			snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 "%s}",
				 e->task, e->addr, e->len, e->write ? ",\"write\":true" : "");
		s = buf;
	}
	rc = qline(c, s);
	free(e->s);
	e->s = NULL;
	return rc;
}

static struct qent *qpush(struct rec_conv *c)
{
	if (c->q_len == QCAP) {
		struct qent *old = &c->q[c->q_head];
		if (old->pending) {   /* a long call: its ops will go where its exit is */
			struct ctask *t = task_by_id(c, old->task);
			if (t && t->has_slot && t->sys_slot == c->q_seq - c->q_len)
				t->has_slot = false;
			if (t && t->has_flush_slot && t->flush_slot == c->q_seq - c->q_len)
				t->has_flush_slot = false;
		}
		c->q_head = (c->q_head + 1) % QCAP;
		c->q_len--;
		if (qwrite(c, old))
			return NULL;
	}
	struct qent *e = &c->q[(c->q_head + c->q_len) % QCAP];
	memset(e, 0, sizeof(*e));
	c->q_len++;
	c->q_seq++;
	return e;
}

static struct qent *qlast(struct rec_conv *c)
{
	return c->q_len ? &c->q[(c->q_head + c->q_len - 1) % QCAP] : NULL;
}

/* The entry with sequence number @seq, if still queued. */
static struct qent *qfind(struct rec_conv *c, uint64_t seq)
{
	if (seq >= c->q_seq || c->q_seq - seq > c->q_len)
		return NULL;
	return &c->q[(c->q_head + c->q_len - (size_t)(c->q_seq - seq)) % QCAP];
}

static int qflush(struct rec_conv *c)
{
	while (c->q_len) {
		struct qent *e = &c->q[c->q_head];
		c->q_head = (c->q_head + 1) % QCAP;
		c->q_len--;
		if (qwrite(c, e))
			return c->err;
	}
	return 0;
}

/* One more line for the place of a call's flush (c->fill). */
static int fill_add(struct rec_conv *c, const char *s)
{
	size_t sl = strlen(s);
	char *f = realloc(c->fill, c->fill_len + sl + 2);
	if (!f)
		return c->err = -ENOMEM;
	if (c->fill_len)
		f[c->fill_len++] = '\n';
	memcpy(f + c->fill_len, s, sl + 1);
	c->fill_len += sl;
	c->fill = f;
	return 0;
}

/* Queue op @o (freed); ops that can change a mapping end every race window. */
static int write_json(struct rec_conv *c, cJSON *o)
{
	if (!o)
		return c->err = -ENOMEM;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "op");
	const char *n = cJSON_IsString(name) ? name->valuestring : "";
	if (strcmp(n, "run") && strcmp(n, "sleep") && strcmp(n, "advance") && strcmp(n, "mark") &&
	    strcmp(n, "schedule_begin") && strcmp(n, "schedule_end") && strcmp(n, "lru_add_drain_cpu"))
		c->epoch++;
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return c->err = -ENOMEM;
	if (c->in_sysop && c->fill) {
		int rc = fill_add(c, s);
		cJSON_free(s);
		return rc;
	}
	struct qent *e = qpush(c);
	if (!e) {
		cJSON_free(s);
		return c->err;
	}
	/* Owned by the queue, freed with free(): cJSON uses the C allocator here. */
	e->s = s;
	return 0;
}

/*
 * PTSIM_RECORD_DEBUG (a developer's aid, docs/record.md): after every op a
 * mark "op K t=TS" (K counts the ops, TS is the trace time of the event
 * converted); before a task's next op, if the kernel flushed on its behalf
 * since its previous one, a mark "real K local=L send=S queued=Q
 * calls=..." (K: that previous op; calls: dbg_call_done()).
 * scripts/record_debug.py puts each op's ptsim counters (the difference
 * between its mark and the one before) next to the kernel's.
 */
static struct ctask *task_by_id(struct rec_conv *c, int id)
{
	return id >= 0 && (size_t)id < c->nr_by_id ? c->by_id[id] : NULL;
}

static int dbg_mark(struct rec_conv *c, const char *name)
{
	cJSON *o = op("mark");
	if (!o)
		return c->err = -ENOMEM;
	cJSON_AddStringToObject(o, "name", name);
	return write_json(c, o);
}

static int dbg_real(struct rec_conv *c, struct ctask *t)
{
	char name[200];
	if (!t || !(t->dbg_local | t->dbg_send | t->dbg_queued | (uint64_t)t->dbg_calls[0]))
		return 0;
	snprintf(name, sizeof(name), "real %" PRIu64 " local=%" PRIu64 " send=%" PRIu64 " queued=%" PRIu64 "%s%s",
		 t->dbg_line, t->dbg_local, t->dbg_send, t->dbg_queued, t->dbg_calls[0] ? " calls=" : "", t->dbg_calls);
	t->dbg_local = t->dbg_send = t->dbg_queued = 0;
	t->dbg_calls[0] = 0;
	return dbg_mark(c, name);
}

/* Before op @o is written (debug mode): the kernel's flushes of its task's previous op. */
static int dbg_before(struct rec_conv *c, int task)
{
	/* A system call's flushes come before its op (written at its exit): kept for after it. */
	return c->debug && !c->in_sysop ? dbg_real(c, task_by_id(c, task)) : 0;
}

/* After @task's op was queued (debug mode). */
static int dbg_after(struct rec_conv *c, int task)
{
	char name[64];
	if (!c->debug)
		return 0;
	struct ctask *t = task_by_id(c, task);
	c->dbg_seq++;
	if (t)
		t->dbg_line = c->dbg_seq;
	snprintf(name, sizeof(name), "op %" PRIu64 " t=%" PRIu64, c->dbg_seq, c->now);
	return dbg_mark(c, name);
}

static int op_task(const cJSON *o)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "task");
	return cJSON_IsNumber(t) ? t->valueint : -1;
}

/*
 * Simulated time follows the kernel's: an advance before the next op once
 * 1 ms or more passed since the last one (only when an op is written, so a
 * quiet program costs nothing however long it sleeps).
 */
/* The jiffy (kernel tick) of trace time @ts; 0 if HZ is unknown. */
static uint64_t jiffy_of(const struct rec_conv *c, uint64_t ts)
{
	return c->o.si->hz ? ts / (1000000000ull / c->o.si->hz) : 0;
}

/*
 * ... and whenever the kernel's jiffies moved on: the replay's clock starts at
 * the phase of the first event within its tick (rec_conv's first advance), so
 * its jiffies change where the kernel's did and the mm_cpumask trim (once a
 * second, in jiffies) picks the same flushes.
 */
static int sync_clock(struct rec_conv *c)
{
	if (c->in_sysop && c->fill)
		return 0;   /* the place of the call's flush: the clock was set before it */
	if (!c->started || c->now <= c->clock_ts ||
	    (c->now - c->clock_ts < ADVANCE_NS && jiffy_of(c, c->now) == jiffy_of(c, c->clock_ts)))
		return 0;
	cJSON *o = op("advance");
	if (!o)
		return c->err = -ENOMEM;
	add_num(o, "ns", c->now - c->clock_ts);
	c->clock_ts = c->now;
	return write_json(c, o);
}

/* Write @o (an op). */
static int emit(struct rec_conv *c, cJSON *o)
{
	int task = op_task(o);
	int rc = sync_clock(c);
	if (!rc)
		rc = dbg_before(c, task);
	if (rc) {
		cJSON_Delete(o);
		return rc;
	}
	return write_json(c, o) || dbg_after(c, task) ? c->err : 0;
}

/*
 * Did another task of @t's mm write the page at @addr since @t's last fault?
 * Then @t's second fault there is not a retry: the other's write replaced the
 * page @t's first fault mapped (a copy of the zero page: its PTE was cleared
 * and flushed in between), and both faults happened.
 */
static bool written_since(struct rec_conv *c, const struct ctask *t, uint64_t addr)
{
	for (uint64_t seq = t->lf_seq + 1; seq < c->q_seq; seq++) {
		const struct qent *q = qfind(c, seq);
		const struct ctask *o = q && q->is_touch && q->write && !q->dead ? task_by_id(c, q->task) : NULL;
		if (o && o != t && o->mm == t->mm && q->addr <= addr && addr < q->addr + q->len)
			return true;
	}
	return false;
}

/*
 * A touch of [@addr, @addr + @len) by @t: one page for a fault (@fault),
 * more for pages present at exec or populated.  Consecutive touches of one
 * task on consecutive pages merge into one line (outside debug mode).
 */
static int touch(struct rec_conv *c, struct ctask *t, uint64_t addr, uint64_t len, bool write, bool fault)
{
	int rc;
	struct qent *e;

	if (fault && t->lf_valid && t->lf_addr == addr && t->lf_write == write && t->lf_epoch == c->epoch &&
	    (e = qfind(c, t->lf_seq)) && e->is_touch && e->len && e->addr + e->len - PAGE == addr &&
	    !written_since(c, t, addr)) {
		e->len -= PAGE;   /* the earlier fault lost a race: the kernel retried it */
		c->lost_races++;
		count(&c->ignored, "fault retried (lost a race)");
	}
	if (fault) {
		t->lf_valid = true;
		t->lf_addr = addr;
		t->lf_write = write;
	}
	e = qlast(c);
	if (!c->debug && e && e->is_touch && e->len && !e->raced && !e->post && !e->mid && e->task == t->id &&
	    e->write == write && e->addr + e->len == addr) {
		e->len += len;
	} else {
		if ((rc = sync_clock(c)) || (rc = dbg_before(c, t->id)))
			return rc;
		if (!(e = qpush(c)))
			return c->err;
		e->is_touch = true;
		e->task = t->id;
		e->addr = addr;
		e->len = len;
		e->write = write;
		if ((rc = dbg_after(c, t->id)))
			return rc;
	}
	t->lf_seq = c->q_seq - (c->debug ? 2 : 1);
	t->lf_epoch = c->epoch;
	return 0;
}

/* ---- tasks, mms, CPUs ---- */

static struct cmm *mm_new(struct rec_conv *c, pid_t pid)
{
	if (rec_reserve(c->mms, c->cap_mms, c->nr_mms + 1, 16))
		return NULL;
	struct cmm *mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->id = (int)c->nr_mms;
	mm->pid = pid;
	mm->first_task = -1;
	c->mms[c->nr_mms++] = mm;
	return mm;
}

static int mm_attach(struct cmm *mm, struct ctask *t)
{
	if (rec_reserve(mm->tasks, mm->cap_tasks, mm->nr_tasks + 1, 4))
		return -ENOMEM;
	mm->users++;
	if (mm->first_task < 0)
		mm->first_task = t->id;
	mm->tasks[mm->nr_tasks++] = t->id;
	t->mm = mm;
	return 0;
}

static struct ctask *task_new(struct rec_conv *c, pid_t pid, struct cmm *mm)
{
	struct ctask *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->id = c->next_task++;
	t->pid = pid;
	t->cpu = -1;
	if (rec_reserve_zeroed(c->by_id, c->nr_by_id, (size_t)t->id + 1, 16) || pidmap_put(&c->tasks, pid, t)) {
		free(t);
		return NULL;
	}
	pidmap_del(&c->dying, pid);
	c->by_id[t->id] = t;
	if (mm_attach(mm, t))
		return NULL;   /* (in c->tasks, freed with them: the conversion stops) */
	return t;
}

static bool is_ours(void *ctx, pid_t pid)
{
	struct rec_conv *c = ctx;
	return pid > 0 && (pidmap_get(&c->tasks, pid) || pidmap_get(&c->dying, pid));
}

/* Task @t leaves @mm (exit or exec).  The mm ends with its last user. */
static void mm_leave(struct rec_conv *c, struct ctask *t, const char *why, const struct rec_exit_figs *figs)
{
	struct cmm *mm = t->mm;
	if (!mm)
		return;
	if (figs && figs->valid)
		mm->figs = *figs;
	if (--mm->users > 0)
		return;
	mm->ended = why;
	mm->last_task = t->id;
	/* No CPU holds it any more in ptsim (exit_mmap ran). */
	for (unsigned int i = 0; i < c->o.si->cpus; i++)
		if (c->cpus[i].loaded == mm)
			c->cpus[i].loaded = NULL;
	if (mm->figs.valid && mm->figs.anon_huge_kb && !mm->warned_thp) {
		mm->warned_thp = true;
		warn(c, "process %d (%s) had %" PRIu64 " kB of transparent huge pages at its end: ptsim does not model "
		     "THP, its RSS and VmPTE differ", (int)mm->pid, mm->comm, mm->figs.anon_huge_kb);
	}
	if (mm->figs.valid && mm->figs.ksm_pages && !mm->warned_ksm) {
		mm->warned_ksm = true;
		warn(c, "process %d (%s): KSM merged %" PRIu64 " of its pages: not modelled", (int)mm->pid, mm->comm,
		     mm->figs.ksm_pages);
	}
}

static void task_free(struct ctask *t)
{
	free(t->held);
	free(t);
}

/* A task is gone: its last flushes are written first (debug mode). */
static void task_gone(struct rec_conv *c, struct ctask *t)
{
	if (c->debug)
		dbg_real(c, t);
	if ((size_t)t->id < c->nr_by_id)
		c->by_id[t->id] = NULL;
	struct qent *e = t->has_slot ? qfind(c, t->sys_slot) : NULL;
	if (e)
		e->pending = false;   /* a call that never returned: nothing in its place */
	if (t->has_exec_slot && (e = qfind(c, t->exec_slot)))
		e->pending = false;   /* an exec that never came (killed after its switch) */
	task_free(t);
}

/*
 * The last task of @t's mm is about to exit or exec: a mark first, so that
 * ptsim's figures of that mm right before its end can be read back
 * (ptsim_mark_mm_info()) and compared with the kernel's at the same point.
 */
static int mark_end(struct rec_conv *c, struct ctask *t, const char *how)
{
	struct cmm *mm = t->mm;
	char name[160];

	if (!mm || mm->users != 1 || mm->mark)
		return 0;
	snprintf(name, sizeof(name), "%s of pid %d (%s), task %d", how, (int)mm->pid, mm->comm, t->id);
	/* Mark names must be printable UTF-8: a comm can hold anything. */
	for (char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	mm->mark = strdup(name);
	if (!mm->mark)
		return c->err = -ENOMEM;
	cJSON *o = op("mark");
	cJSON_AddStringToObject(o, "name", name);
	return emit(c, o);
}

/* A user process or a kernel thread?  (Only matters for CPUs holding a recorded mm.) */
static int pid_class(struct rec_conv *c, pid_t pid, const char *comm)
{
	void *v = pidmap_get(&c->classes, pid);
	if (v)
		return (int)(uintptr_t)v;
	int cls = 2;
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *fp = fopen(path, "r");
	bool known = false;
	if (fp) {
		if (fgets(line, sizeof(line), fp)) {
			/* Field 9 (flags) is the 7th after the ")" closing comm. */
			char *p = strrchr(line, ')'), *save = NULL;
			int field = 3;
			for (char *tok = p ? strtok_r(p + 1, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save), field++)
				if (field == 9) {
					cls = strtoull(tok, NULL, 10) & 0x00200000 /* PF_KTHREAD */ ? 1 : 2;
					known = true;
					break;
				}
		}
		fclose(fp);
	}
	if (!known) {   /* gone already: judge by the name */
		static const char *const kt[] = { "kworker/", "ksoftirqd/", "migration/", "rcu_", "kthreadd", "cpuhp/",
						  "idle_inject/", "watchdog", "irq/", "kcompactd", "khugepaged", "kswapd",
						  NULL };
		for (int i = 0; kt[i]; i++)
			if (!strncmp(comm, kt[i], strlen(kt[i])))
				cls = 1;
	}
	pidmap_put(&c->classes, pid, (void *)(uintptr_t)cls);
	return cls;
}

/* @t leaves its CPU: the line that says so is queued next. */
static void task_off(struct rec_conv *c, struct ctask *t)
{
	t->cpu = -1;
	t->off_seq = c->q_seq;
}

/*
 * Tell ptsim @t runs on @cpu if it does not already: for a traced
 * sched_switch to it (@seen), or because @t's event came from @cpu although
 * the trace showed no switch to it there (events.unseen_switches: the
 * kernel's flush at that switch, if it made one, was not traced either).
 */
static int put_running(struct rec_conv *c, struct ctask *t, unsigned int cpu, bool seen)
{
	if (t->cpu == (int)cpu)
		return 0;
	cJSON *o = op("run");
	if (!o)
		return c->err = -ENOMEM;
	add_num(o, "task", (uint64_t)t->id);
	add_num(o, "cpu", cpu);
	if (!seen)
		c->unseen_switches++;
	struct ccpu *cc = &c->cpus[cpu];
	if (cc->cur && cc->cur != t)
		task_off(c, cc->cur);
	if (t->cpu >= 0 && c->cpus[t->cpu].cur == t)
		c->cpus[t->cpu].cur = NULL;   /* ptsim: its old CPU goes idle, lazy on the mm */
	cc->cur = t;
	cc->loaded = t->mm;
	t->cpu = (int)cpu;
	return emit(c, o);
}

static int ensure_running(struct rec_conv *c, struct ctask *t, unsigned int cpu)
{
	return put_running(c, t, cpu, false);
}

/* ---- the events ---- */

/*
 * Context switches and the flush calls that reach a CPU while it switches.
 *
 * __schedule() runs with IRQs off from before the sched_switch event until
 * finish_task_switch().  A flush call that reaches the CPU in that window runs
 * after the switch, in the context switched to (flush_tlb_func() then finds
 * another mm loaded: "wrong CPU", the CPU leaves the mm's CPU mask; or a lazy
 * CPU: to init_mm; or the mm again: a normal flush), although its sender chose
 * the CPU for what it ran before (should_flush_tlb() on the old loaded_mm, or
 * LOADED_MM_SWITCHING).  The replay gets that order with schedule_begin /
 * schedule_end around the switch, written where the sender's op is:
 *
 *   schedule_begin {cpu}
 *   the sender's op          where it flushed (a touch: its last page)
 *   the switch's ops         run / sleep / run other, moved there
 *   schedule_end {cpu}
 *
 * The window closes at the CPU's next event (the call's csd_function_entry,
 * a fault, a system call...; not the tlb_flush the switch itself traces).  A
 * call raced when a recorded task queued it to the CPU before the window
 * closed and the CPU had not run it before the switch: queued before the
 * switch (the CPU ran the sender's mm, or the call reaches lazy CPUs too), or
 * during it for the mm the CPU held before (queued for the new mm it is a
 * normal flush after the switch, as written).  The sender's op is a system
 * call still in progress (its op goes in the place of its flush) or the
 * fault it is handling (the last page of its last touch); anything else is
 * left as written (the replay then takes the call before the switch).
 */
/* Drop entry @i of @cc's flush calls not yet run (it ran, raced, or lost its entry event). */
static void pend_remove(struct ccpu *cc, unsigned int i)
{
	memmove(&cc->pend[i], &cc->pend[i + 1], (cc->nr_pend - i - 1) * sizeof(cc->pend[0]));
	cc->nr_pend--;
}

/* Drop @cc's calls queued before @ts - RACE_WINDOW_NS: their entry events were lost. */
static void pend_expire(struct ccpu *cc, uint64_t ts)
{
	while (cc->nr_pend && cc->pend[0].ts + RACE_WINDOW_NS < ts)
		pend_remove(cc, 0);
}

/* The queued entry of @t's op that sent a flush (and its number), if it can be found. */
static struct qent *sender_op(struct rec_conv *c, struct ctask *t, uint64_t *seq)
{
	struct qent *q;

	if (t->in_sys && t->has_flush_slot && (q = qfind(c, t->flush_slot)) && q->pending) {
		t->race_slot = true;
		*seq = t->flush_slot;
		return q;
	}
	if (t->in_sys || !t->lf_valid || !(q = qfind(c, t->lf_seq)) || !q->is_touch || q->task != t->id ||
	    !q->len || q->addr + q->len - PAGE != t->lf_addr)
		return NULL;
	t->lf_valid = false;   /* no later fault merges into it or takes it back */
	*seq = t->lf_seq;
	return q;
}

/*
 * The task whose ops pending entry @o (number @seq) will hold: the place of
 * its call's flush or of its exec's switch (filled later); -1 for a call's
 * entry marker (nothing goes there).
 */
static long slot_task(struct rec_conv *c, const struct qent *o, uint64_t seq)
{
	const struct ctask *t = task_by_id(c, o->task);
	if (t && ((t->has_flush_slot && t->flush_slot == seq) || (t->has_exec_slot && t->exec_slot == seq)))
		return t->id;
	return -1;
}

/*
 * Would moving the switch's ops (s0..s1) to the sender's op @seq carry them
 * across an op of a task they name or of the task the switch took off the
 * CPU ("run other" names none; its faults after it went to sleep, or before
 * it was put on the CPU), or across a place kept for such a task's op
 * (slot_task(): its exec would go there while it sleeps), or back past the
 * CPU's switch before it?  Then the switch stays where it is.
 */
static bool switch_crosses(struct rec_conv *c, const struct ccpu *cc, uint64_t seq)
{
	long named[9];
	unsigned int n = 0;

	if (seq < cc->s0 && seq < cc->prev_s1)
		return true;   /* back past the CPU's switch before it (a sleep names no CPU) */

	if (cc->sw_prev >= 0)
		named[n++] = cc->sw_prev;

	for (uint64_t k = cc->s0; k < cc->s1; k++) {
		const struct qent *o = qfind(c, k);
		long t;
		if (!o || o->dead || o->pending || o->is_touch || !o->s || !line_field(o->s, o->s + strlen(o->s), "task", &t))
			continue;
		if (n == sizeof(named) / sizeof(named[0]))
			return true;
		named[n++] = t;
	}
	uint64_t lo = seq < cc->s0 ? seq + 1 : cc->s1, hi = seq < cc->s0 ? cc->s0 : seq;
	for (uint64_t k = lo; n && k < hi; k++) {
		const struct qent *o = qfind(c, k);
		long t = -1;
		if (!o || o->dead)
			continue;
		if (o->pending)
			t = slot_task(c, o, k);
		else if (o->is_touch)
			t = o->len ? o->task : -1;
		else if (o->s && !line_field(o->s, o->s + strlen(o->s), "task", &t))
			t = -1;
		for (unsigned int i = 0; t >= 0 && i < n; i++)
			if (named[i] == t)
				return true;
	}
	return false;
}

/*
 * Could a call whose sender decided its targets at @ts (should_flush_tlb(),
 * right after the sender's "remote send IPI" tlb_flush) have met @cc in the
 * middle of its last switch?  (The csd_queue event comes later: a sender
 * that read the old loaded_mm may queue after the switch's tlb_flush.)
 */
static bool queued_in_switch(const struct ccpu *cc, uint64_t ts)
{
	if (ts + RACE_WINDOW_NS <= cc->sw_ts)
		return false;   /* long before: it lost its entry event */
	if (ts < cc->sw_ts)
		return true;
	return ts < cc->sw_ts + RACE_AFTER_NS && (!cc->sw_mm_ts || ts < cc->sw_mm_ts);
}

/*
 * The ops of @cc's last switch (its queue entries s0 .. s1 that hold a line
 * other than a touch) appended to the text *@joined (NULL: empty), one line
 * each; their entries become dead, written as nothing.  On -ENOMEM *@joined is
 * freed and NULL.
 */
static int join_switch_ops(struct rec_conv *c, const struct ccpu *cc, char **joined)
{
	char *text = *joined;
	size_t len = text ? strlen(text) : 0;

	for (uint64_t k = cc->s0; k < cc->s1; k++) {
		struct qent *o = qfind(c, k);
		if (o->dead || o->pending || o->is_touch || !o->s)
			continue;
		size_t sl = strlen(o->s);
		char *n = realloc(text, len + sl + 2);
		if (!n) {
			free(text);
			*joined = NULL;
			return c->err = -ENOMEM;
		}
		text = n;
		if (len)
			text[len++] = '\n';
		memcpy(text + len, o->s, sl + 1);
		len += sl;
		free(o->s);
		o->s = NULL;
		o->dead = true;
	}
	*joined = text;
	return 0;
}

/* The window of @cpu's last switch closes: replay a call that raced with it (see above). */
static int close_switch(struct rec_conv *c, unsigned int cpu)
{
	struct ccpu *cc = &c->cpus[cpu];
	struct ctask *t = NULL;
	unsigned int i;

	bool noop = false, entered = cc->in_call;

	if (!cc->open)
		return 0;
	cc->open = false;
	c->nr_open--;
	if (cc->in_call) {   /* closed at the end of the raced call it took */
		cc->in_call = false;
		noop = !cc->call_flushed;
		t = task_by_id(c, cc->call_task);
		if (t && (t->cpu < 0 || t->cpu == (int)cpu))
			t = NULL;
	}
	for (i = 0; !entered && i < cc->nr_pend && !t; i++) {
		struct ctask *o = task_by_id(c, cc->pend[i].task);
		if (o && o->cpu >= 0 && o->cpu != (int)cpu && queued_in_switch(cc, cc->pend[i].sent_ts))
			t = o;
	}
	/* The switch's ops must all still be queued. */
	for (uint64_t seq = cc->s0; seq < cc->s1; seq++)
		if (!qfind(c, seq))
			return 0;
	struct qent *q = NULL;
	struct ctask *ct = cc->cand_task >= 0 ? task_by_id(c, cc->cand_task) : NULL;
	uint64_t seq = 0;
	if (t) {
		q = sender_op(c, t, &seq);
		if (!q || q->raced || q->post || switch_crosses(c, cc, seq))
			return 0;
		if (!entered)
			pend_remove(cc, i - 1);
		q->raced = true;
		/*
		 * Which came first, the switch of mm or the sender's flush?  A
		 * call that found nothing to do met a CPU that had caught up at
		 * the switch (it read the mm's flush generation after the
		 * sender raised it): the flush first.  Otherwise the switch.
		 */
		q->switch_first = !noop;
		q->race_cpu = cpu;
		c->switch_races++;
	} else if (ct && ct->cpu >= 0 && ct->cpu != (int)cpu && (q = sender_op(c, ct, &seq)) && !q->raced &&
		   !q->post && seq >= cc->s1 && !switch_crosses(c, cc, seq)) {
		/*
		 * A flush of the mm this CPU switched to did not reach it: the
		 * sender still saw what the CPU ran before (lazy, or another mm).
		 * Its op goes before the switch.
		 */
		c->switch_orders++;
	} else {
		return 0;
	}
	/* The switch's ops go after the sender's op: joined into its entry. */
	return join_switch_ops(c, cc, &q->post);
}

/* Does queued line @s start with op @name ("run", ...)? */
static bool line_is(const char *s, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(s, "{\"op\":\"", 7) && !strncmp(s + 7, name, n) && s[7 + n] == '"';
}

/*
 * Does a line of @s (one or more lines) change what runs where (run, sleep,
 * exit, spawn, thread, fork, schedule_begin/_end), or name one of the @n
 * tasks @named?
 */
static bool lines_cross(const char *s, const long *named, unsigned int n)
{
	static const char *const place_ops[] = { "run", "sleep", "exit", "spawn", "thread", "fork", "schedule_begin",
						 "schedule_end" };
	while (s && *s) {
		const char *end = strchr(s, '\n');
		long v;
		if (!end)
			end = s + strlen(s);
		for (size_t i = 0; i < sizeof(place_ops) / sizeof(place_ops[0]); i++)
			if (line_is(s, place_ops[i]))
				return true;
		for (unsigned int i = 0; i < n; i++)
			if (line_field(s, end, "task", &v) && v == named[i])
				return true;
		s = *end ? end + 1 : end;
	}
	return false;
}

/*
 * A call's flush moved on to a later place (its op goes at its last
 * flush): would the switch's ops joined to the earlier place (@post, by
 * close_switch()) cross anything between the two places (@from, @to) that
 * changes what runs where, or an op of a task they name?  Then they stay
 * where they are: carried on, a run could come after that task's exit, a
 * sleep after another switch of its CPU.
 */
static bool post_crosses(struct rec_conv *c, const char *post, uint64_t from, uint64_t to)
{
	long named[8];
	unsigned int n = 0;

	for (const char *s = post; *s;) {
		const char *end = strchr(s, '\n');
		long id;
		if (!end)
			end = s + strlen(s);
		if (line_field(s, end, "task", &id)) {
			if (n == sizeof(named) / sizeof(named[0]))
				return true;
			named[n++] = id;
		}
		s = *end ? end + 1 : end;
	}
	for (uint64_t k = from + 1; k < to; k++) {
		const struct qent *o = qfind(c, k);
		if (!o)
			return true;
		if (lines_cross(o->pre, named, n) || lines_cross(o->mid, named, n) || lines_cross(o->post, named, n))
			return true;
		if (o->dead)
			continue;
		if (lines_cross(o->s, named, n))
			return true;
		for (unsigned int i = 0; i < n; i++)
			if ((o->pending && slot_task(c, o, k) == named[i]) || (o->is_touch && o->len && o->task == named[i]))
				return true;
	}
	return false;
}

/* Is the call @csd that @cpu starts one a recorded task queued during its switch's window?  Take it. */
static bool call_raced(struct rec_conv *c, unsigned int cpu, uint64_t csd)
{
	struct ccpu *cc = &c->cpus[cpu];

	for (unsigned int i = 0; i < cc->nr_pend; i++) {
		if (cc->pend[i].csd != csd)
			continue;
		if (!queued_in_switch(cc, cc->pend[i].sent_ts))
			return false;
		cc->call_task = cc->pend[i].task;
		pend_remove(cc, i);
		return true;
	}
	return false;
}

/*
 * Recorded task @t, on @cpu, started a remote flush of its mm at @ts: a CPU
 * whose switch to a task of that mm was still going on is a candidate for
 * close_switch() until a call of @t reaches it.
 */
static void note_switch_candidates(struct rec_conv *c, struct ctask *t, unsigned int cpu, uint64_t ts)
{
	for (unsigned int x = 0; c->nr_open && x < c->o.si->cpus; x++) {
		struct ccpu *cc = &c->cpus[x];
		if (x != cpu && cc->open && cc->cur && cc->cur->mm == t->mm && queued_in_switch(cc, ts))
			cc->cand_task = t->id;
	}
}

/*
 * A fault's touch is written where the fault entered the kernel; its flush
 * decides which CPUs to call microseconds later (should_flush_tlb(), right
 * after the "remote send IPI" tlb_flush).  Another CPU may have switched in
 * between: away from the faulting task's mm (to another process, or to
 * idle: lazy), and the flush does not call it; or to the mm, and the flush
 * calls it (after its switch_mm_irqs_off(): no race, close_switch()).  The
 * written lines have the touch before the switch, so the replay called the
 * first CPU (an IPI and a ranged flush the kernel did not do) and not the
 * second (one it did).  At the sender's remote send each such CPU is noted;
 * at the sender's next event switch_away() puts the switch's ops before the
 * touch's last page (events.switch_orders): for a CPU switched away from
 * the mm unless a call reached it, for one switched to it if one did.
 */
static void note_switched_away(struct rec_conv *c, struct ctask *t, unsigned int cpu, uint64_t ts)
{
	if (t->in_sys || !t->lf_valid)
		return;   /* a system call's op goes in the place of this flush, after the switch already */
	for (unsigned int x = 0; x < c->o.si->cpus; x++) {
		struct ccpu *cc = &c->cpus[x];
		bool on_mm = cc->cur && cc->loaded == t->mm;
		bool away = cc->sw_from == t->mm && !on_mm, to = cc->sw_from != t->mm && on_mm;
		if (x == cpu || !(away || to) || !cc->sw_ts || cc->sw_ts > ts || ts - cc->sw_ts > RACE_WINDOW_NS ||
		    cc->s0 <= t->lf_seq)
			continue;
		if (!cc->away_task)
			c->nr_away++;
		cc->away_task = t->id;
		cc->away_to = to;
		cc->away_called = false;
	}
}

/*
 * The last page of @t's touch @q (number @seq) goes to the end of the queue,
 * where its flush decided its CPUs: when nothing queued since would see the
 * difference (no op of @t, no other fault of @t's mm on that page, no
 * system call, fork or exit; runs, sleeps, time and other pages only).
 */
static bool move_touch_later(struct rec_conv *c, struct ctask *t, struct qent *q, uint64_t seq)
{
	uint64_t page = q->addr + q->len - PAGE;

	for (uint64_t k = seq + 1; k < c->q_seq; k++) {
		const struct qent *o = qfind(c, k);
		const struct ctask *ot;
		long who;
		if (!o || o->raced || o->post)
			return false;
		if (o->dead)
			continue;
		ot = task_by_id(c, o->task);
		if (o->pending) {
			if (!ot || ot->mm == t->mm)
				return false;   /* a call of the mm in progress: its op may go here */
			continue;
		}
		if (o->is_touch) {
			if (o->len && (o->task == t->id || !ot ||
				       (ot->mm == t->mm && page >= o->addr && page < o->addr + o->len)))
				return false;
			continue;
		}
		if (!o->s)
			continue;
		if (!line_is(o->s, "run") && !line_is(o->s, "sleep") && !line_is(o->s, "advance") && !line_is(o->s, "mark"))
			return false;
		if (line_field(o->s, o->s + strlen(o->s), "task", &who) && who == t->id)
			return false;
	}
	bool write = q->write;
	if (q->len > PAGE)
		q->len -= PAGE;
	else
		q->dead = true;
	struct qent *n = qpush(c);   /* (may write q out of the queue: q is not used after) */
	if (!n)
		return false;
	n->is_touch = true;
	n->task = t->id;
	n->addr = page;
	n->len = PAGE;
	n->write = write;
	t->lf_seq = c->q_seq - 1;
	return true;
}

/*
 * The switch of @cpu came before @t's flush, which did not call it: its ops
 * go before the last page of @t's touch, or, when they would cross an op of
 * a task they name, that page goes after them (move_touch_later()).
 */
static int switch_away(struct rec_conv *c, unsigned int cpu)
{
	struct ccpu *cc = &c->cpus[cpu];
	struct ctask *t = task_by_id(c, cc->away_task);
	struct qent *q;
	uint64_t seq;
	bool movable = true;

	cc->away_task = 0;
	c->nr_away--;
	if (cc->away_to && (!cc->away_called || queued_in_switch(cc, t ? t->sent_ts : 0)))
		return 0;   /* the sender saw the CPU before its switch, or met it switching (close_switch()) */
	if (!t || t->in_sys || t->cpu < 0 || t->cpu == (int)cpu || !(q = sender_op(c, t, &seq)) || q->raced || q->post ||
	    seq >= cc->s0)
		return 0;
	for (uint64_t k = cc->s0; k < cc->s1 && movable; k++) {
		const struct qent *o = qfind(c, k);
		movable = o && !o->raced && !o->post && !o->pre && !o->mid;
	}
	if (!movable || switch_crosses(c, cc, seq)) {
		if (move_touch_later(c, t, q, seq))
			c->switch_orders++;
		return c->err;
	}
	if (join_switch_ops(c, cc, &q->mid))
		return c->err;
	c->switch_orders++;
	return 0;
}

/* @e is an event of the sender of a flush that CPUs wait on (switch_away()): decide them. */
static int decide_switched_away(struct rec_conv *c, const struct rec_ev *e)
{
	int rc = 0;
	if (e->kind == REV_CSD_QUEUE || e->kind == REV_IPI ||
	    (e->kind == REV_TLB_FLUSH && e->u.tlb.reason == REC_TLB_REMOTE_SEND_IPI))
		return 0;   /* still deciding, or a new flush */
	struct ctask *t = pidmap_get(&c->tasks, e->pid);
	for (unsigned int x = 0; t && c->nr_away && x < c->o.si->cpus && !rc; x++)
		if (c->cpus[x].away_task == t->id)
			rc = switch_away(c, x);
	return rc;
}

/*
 * A flush call starts on @e->cpu in the context of recorded task T while the
 * converter has no recorded task running there: the CPU's switch to T left
 * no sched_switch (this kernel traces none out of the idle task on some
 * CPUs: docs/record.md).  The call reaching the CPU says the switch came
 * before its sender flushed (should_flush_tlb() saw T's mm, not a lazy CPU),
 * so T's run is written before the sender's op; without a sender's op to
 * go before, at once.
 */
static int missed_switch_in(struct rec_conv *c, const struct rec_ev *e)
{
	struct ccpu *cc = &c->cpus[e->cpu];
	struct ctask *t = pidmap_get(&c->tasks, e->pid), *s = NULL;
	struct qent *q = NULL;
	uint64_t seq = 0;

	if (!t || cc->cur || t->cpu >= 0 || t->in_exec)
		return 0;
	if (cc->open) {   /* the traced switch's window is over: the CPU switched again since */
		cc->open = false;
		c->nr_open--;
	}
	for (unsigned int i = 0; i < cc->nr_pend && !s; i++)
		if (cc->pend[i].csd == e->u.csdf.csd && cc->pend[i].ts > cc->sw_ts)
			s = task_by_id(c, cc->pend[i].task);
	if (s && s->in_sys && s->has_flush_slot)
		seq = s->flush_slot;
	else if (s && !s->in_sys && s->lf_valid)
		seq = s->lf_seq;
	/* (not before the ops of the CPU's last traced switch) */
	if (seq && seq >= cc->s1)
		q = qfind(c, seq);
	if (q && (q->raced || q->post || q->dead || (!q->pending && !(q->is_touch && q->task == s->id && q->len))))
		q = NULL;
	c->missed_switches++;
	if (!q)
		return ensure_running(c, t, e->cpu);
	c->unseen_switches++;
	char line[96];
	snprintf(line, sizeof(line), "{\"op\":\"run\",\"task\":%d,\"cpu\":%u}", t->id, (unsigned int)e->cpu);
	size_t have = q->pre ? strlen(q->pre) : 0;
	char *pre = realloc(q->pre, have + strlen(line) + 2);
	if (!pre)
		return c->err = -ENOMEM;
	if (have)
		pre[have++] = '\n';
	strcpy(pre + have, line);
	q->pre = pre;
	cc->cur = t;
	cc->loaded = t->mm;
	t->cpu = (int)e->cpu;
	return 0;
}

static int switch_ops(struct rec_conv *c, const struct rec_ev *e);

/*
 * A switch away from another process (not recorded) that no traced switch
 * put on this CPU: this kernel leaves out switches from the idle task on
 * CPU 1 (docs/record.md), so the process ran here untraced, with its own mm
 * loaded.  While the CPU held a recorded mm lazily, it holds it no more: a
 * `run other` goes here, the latest point it can (a flush between the
 * untraced switch and this one would have found the other mm already).  A
 * switch out of idle that names as prev the task the CPU's last switch took
 * off (the same kernel's stale prev) says nothing: it went idle.
 */
static int untraced_other(struct rec_conv *c, const struct rec_ev *e)
{
	struct ccpu *cc = &c->cpus[e->cpu];
	pid_t prev = e->u.sw.prev;

	if (!cc->sw_seen || !prev || prev == cc->sw_next || (!cc->sw_next && prev == cc->sw_prev_pid))
		return 0;
	if (cc->cur || !cc->loaded || pidmap_get(&c->tasks, prev) || pidmap_get(&c->d->pids, prev) ||
	    pid_class(c, prev, e->u.sw.prev_comm) != 2)
		return 0;   /* (a task of the recording, alive or exited, is no other process) */
	cJSON *o = op("run");
	if (!o)
		return c->err = -ENOMEM;
	add_num(o, "cpu", e->cpu);
	cJSON_AddTrueToObject(o, "other");
	cc->loaded = NULL;
	c->unseen_other++;
	return emit(c, o);
}

static int on_switch(struct rec_conv *c, const struct rec_ev *e)
{
	struct ccpu *cc = &c->cpus[e->cpu];
	int rc = close_switch(c, e->cpu);
	if (rc)
		return rc;
	pend_expire(cc, e->ts);
	if (cc->away_task) {   /* switching again before the sender decided: left as written */
		cc->away_task = 0;
		c->nr_away--;
	}
	uint64_t s0 = c->q_seq;
	if ((rc = untraced_other(c, e)))
		return rc;
	cc->sw_prev = cc->cur ? cc->cur->id : -1;
	cc->sw_from = cc->cur ? cc->cur->mm : NULL;
	cc->sw_next = e->u.sw.next;
	cc->sw_prev_pid = e->u.sw.prev;
	cc->sw_seen = true;
	if ((rc = switch_ops(c, e)))
		return rc;
	cc->open = true;
	c->nr_open++;
	cc->cand_task = -1;
	cc->sw_ts = e->ts;
	cc->sw_mm_ts = 0;
	cc->prev_s1 = cc->s1;
	cc->s0 = s0;
	cc->s1 = c->q_seq;
	return 0;
}

static int switch_ops(struct rec_conv *c, const struct rec_ev *e)
{
	struct ccpu *cc = &c->cpus[e->cpu];
	struct ctask *next = pidmap_get(&c->tasks, e->u.sw.next);

	c->switches++;
	if (next)
		return put_running(c, next, e->cpu, true);
	struct ctask *prev = cc->cur;
	if (prev && prev->pid != e->u.sw.prev)
		prev = NULL;   /* ptsim had another task there; the kernel says otherwise: nothing to undo */
	int cls = e->u.sw.next == 0 ? 0 : pid_class(c, e->u.sw.next, e->u.sw.next_comm);
	if (cls == 2 && cc->loaded) {
		/* Another process's mm is loaded: this CPU no longer holds ours. */
		cJSON *o = op("run");
		if (!o)
			return c->err = -ENOMEM;
		add_num(o, "cpu", e->cpu);
		cJSON_AddTrueToObject(o, "other");
		if (cc->cur)
			task_off(c, cc->cur);
		cc->cur = NULL;
		cc->loaded = NULL;
		return emit(c, o);
	}
	if (prev && cc->cur == prev) {
		/* Idle or a kernel thread: the CPU keeps prev's mm, lazily. */
		cJSON *o = op("sleep");
		if (!o)
			return c->err = -ENOMEM;
		add_num(o, "task", (uint64_t)prev->id);
		task_off(c, prev);
		cc->cur = NULL;
		return emit(c, o);
	}
	return 0;
}

static bool in_user(const struct rec_conv *c, uint64_t addr)
{
	return addr < (c->o.si->paging_levels == 5 ? 0x00fffffffffff000ull : 0x00007ffffffff000ull);
}

static int on_fault(struct rec_conv *c, const struct rec_ev *e)
{
	struct ctask *t = pidmap_get(&c->tasks, e->pid);
	uint64_t addr = e->u.fault.addr & ~(PAGE - 1);
	bool write = e->u.fault.error & REC_PF_WRITE;

	if (!t) {
		if (c->started)
			c->unknown_events++;
		return 0;
	}
	c->faults++;
	if (!in_user(c, e->u.fault.addr)) {
		count(&c->ignored, "fault above user space (vsyscall)");
		return 0;
	}
	if (t->in_exec) {
		if (rec_reserve(t->held, t->cap_held, t->nr_held + 1, 16))
			return c->err = -ENOMEM;
		t->held[t->nr_held].addr = addr;
		t->held[t->nr_held].write = write;
		t->nr_held++;
		return 0;
	}
	if (ranges_has(&t->mm->ignored, addr)) {
		count(&c->ignored, "fault in a device or vvar mapping");
		return 0;
	}
	int rc = ensure_running(c, t, e->cpu);
	if (!rc)
		rc = touch(c, t, addr, PAGE, write, true);
	if (!rc) {   /* for a batch move that begins inside this fault (on_lru_add()) */
		struct ccpu *cc = &c->cpus[e->cpu];
		cc->in_fault = true;
		cc->fault_task = t->id;
		cc->fault_seq = t->lf_seq;
		cc->fault_addr = addr;
	}
	return rc;
}

static int on_fork(struct rec_conv *c, const struct rec_ev *e, bool final)
{
	struct ctask *p = pidmap_get(&c->tasks, e->u.fork.parent);
	pid_t child = e->u.fork.child;

	if (!p)
		return 0;   /* the recorder's own child before its exec */
	struct rec_pidinfo *pi = rec_pidinfo(c->d, child);
	struct rec_pidinfo *ppi = rec_pidinfo(c->d, e->u.fork.parent);
	if (!pi || !ppi)
		return c->err = -ENOMEM;
	if (!pi->fork && !final && !ppi->dead)
		return REC_CONV_WAIT;
	enum rec_fork_kind kind = pi->fork ? pi->fork->kind : RK_PROCESS;
	if (!pi->fork)
		warn(c, "task %d: the kind of its child %d is unknown (no fork stop): recorded as a process",
		     (int)e->u.fork.parent, (int)child);
	int rc = ensure_running(c, p, e->cpu);
	if (rc)
		return rc;
	struct cmm *mm = kind == RK_PROCESS ? mm_new(c, child) : p->mm;
	if (!mm)
		return c->err = -ENOMEM;
	if (kind == RK_PROCESS) {
		/* dup_mmap(): the child has the parent's layout, its break and SysV attachments. */
		snprintf(mm->comm, sizeof(mm->comm), "%s", p->mm->comm);
		mm->brk = p->mm->brk;
		for (size_t i = 0; i < p->mm->shm.nr; i++)
			ranges_add(&mm->shm, p->mm->shm.v[i].start, p->mm->shm.v[i].end);
		for (size_t i = 0; i < p->mm->ignored.nr; i++)
			ranges_add(&mm->ignored, p->mm->ignored.v[i].start, p->mm->ignored.v[i].end);
	}
	struct ctask *t = task_new(c, child, mm);
	if (!t)
		return c->err = -ENOMEM;
	cJSON *o = op(kind == RK_PROCESS ? "fork" : "thread");
	if (!o)
		return c->err = -ENOMEM;
	add_num(o, "task", (uint64_t)p->id);
	add_num(o, kind == RK_PROCESS ? "child" : "thread", (uint64_t)t->id);
	if (kind == RK_VFORK)
		cJSON_AddTrueToObject(o, "process");
	/* No "cpu": the child runs nowhere until sched_switch says where (a run). */
	return emit(c, o);
}

/* Before a mapping of file @f: its pages newly found in the page cache, as "cache" ops. */
static int write_cache(struct rec_conv *c, struct rec_file *f)
{
	int rc = 0;
	if (!f || (f->kind != RF_FILE && f->kind != RF_SHMEM))
		return 0;
	for (size_t i = 0; i + 1 < f->nr_fresh && !rc; i += 2) {
		cJSON *o = op("cache");
		if (!o)
			return c->err = -ENOMEM;
		cJSON_AddStringToObject(o, "file", f->name);
		if (f->kind == RF_SHMEM)
			cJSON_AddStringToObject(o, "kind", "shmem");
		if (f->fresh[i])
			add_hex(o, "offset", f->fresh[i] << 12);
		add_num(o, "len", (f->fresh[i + 1] - f->fresh[i]) << 12);
		rc = emit(c, o);
	}
	f->nr_fresh = 0;
	return rc;
}

static void exec_segment(cJSON *segs, const struct rec_vma *v)
{
	cJSON *s = cJSON_CreateObject();
	add_hex(s, "addr", v->start);
	add_num(s, "len", v->end - v->start);
	cJSON_AddStringToObject(s, "prot", prot_name(v->prot));
	if (v->kind == RV_VDSO) {
		cJSON_AddStringToObject(s, "kind", "file");
		cJSON_AddStringToObject(s, "file", "[vdso]");
	} else if (v->kind == RV_FILE && v->file) {
		const char *k = v->file->kind == RF_SHMEM ? "shmem" : v->file->kind == RF_HUGETLB ? "hugetlb" : "file";
		cJSON_AddStringToObject(s, "kind", k);
		cJSON_AddStringToObject(s, "file", v->file->name);
		if (v->offset)
			add_hex(s, "offset", v->offset);
		if (v->shared)
			cJSON_AddTrueToObject(s, "shared");
	} else {
		cJSON_AddStringToObject(s, "kind", "anon");
		if (v->shared)
			cJSON_AddTrueToObject(s, "shared");
	}
	cJSON_AddItemToArray(segs, s);
}

/* ... the pages present at exec: in the place of its exec_mmap() switch when it goes there (c->fill). */
static int exec_touch(struct rec_conv *c, struct ctask *t, uint64_t addr, uint64_t len, bool write)
{
	char buf[160];
	if (!c->fill)
		return touch(c, t, addr, len, write, false);
	snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 "%s}", t->id, addr,
		 len, write ? ",\"write\":true" : "");
	c->touches++;
	t->lf_valid = false;
	return fill_add(c, buf);
}

static int exec_ops(struct rec_conv *c, const struct rec_ev *e, bool final)
{
	pid_t pid = e->u.exec.pid, old = e->u.exec.old_pid;
	struct ctask *t = pidmap_get(&c->tasks, old);
	bool root = !t && pid == c->o.root && !c->started;

	if (!t && !root)
		return 0;
	struct rec_pidinfo *pi = rec_pidinfo(c->d, pid);
	if (!pi)
		return c->err = -ENOMEM;
	if (!pi->exec && !final && !pi->dead)
		return REC_CONV_WAIT;
	struct rec_exec *snap = pi->exec;
	if (snap) {   /* taken off the queue alone: rec_exec_free() frees what it links to */
		pi->exec = snap->next;
		snap->next = NULL;
	}
	int rc = 0;
	if (root) {
		c->started = true;
		c->first_ts = c->clock_ts = e->ts;
		uint64_t phase = c->o.si->hz ? e->ts % (1000000000ull / c->o.si->hz) : 0;
		if (phase) {   /* the replay's clock at the first event's place in its tick (sync_clock()) */
			cJSON *a = op("advance");
			add_num(a, "ns", phase);
			if (write_json(c, a))
				return c->err;
		}
		struct cmm *mm = mm_new(c, pid);
		if (!mm || !(t = task_new(c, pid, mm))) {
			rec_exec_free(snap);
			return c->err = -ENOMEM;
		}
		cJSON *o = op("spawn");
		add_num(o, "task", (uint64_t)t->id);
		add_num(o, "cpu", e->cpu);
		t->cpu = e->cpu;
		c->cpus[e->cpu].cur = t;
		c->cpus[e->cpu].loaded = mm;
		if ((rc = emit(c, o))) {
			rec_exec_free(snap);
			return rc;
		}
	} else {
		if (old != pid) {   /* a non-leader thread exec'd and took the leader's pid */
			pidmap_del(&c->tasks, old);
			struct ctask *leader = pidmap_get(&c->tasks, pid);
			if (leader) {   /* de_thread() released it without an exit event we saw */
				pidmap_del(&c->tasks, pid);
				mm_leave(c, leader, "exit", NULL);
				task_gone(c, leader);
			}
			t->pid = pid;
			pidmap_put(&c->tasks, pid, t);
		}
		if ((rc = ensure_running(c, t, e->cpu)) || (rc = mark_end(c, t, "exec"))) {
			rec_exec_free(snap);
			return rc;
		}
		/* Faults inside the execve belonged to the new image: the snapshot has them. */
		t->nr_held = 0;
		t->in_exec = false;
		t->in_sys = false;
		/* The old mm's figures were read at the execve's seccomp stop. */
		struct rec_pidinfo *opi = rec_pidinfo(c->d, old);
		mm_leave(c, t, "exec", opi ? &opi->pre_exec : NULL);
		if (opi)
			opi->pre_exec.valid = false;
		struct cmm *mm = mm_new(c, pid);
		if (!mm) {
			rec_exec_free(snap);
			return c->err = -ENOMEM;
		}
		if (mm_attach(mm, t)) {
			rec_exec_free(snap);
			return c->err = -ENOMEM;
		}
		c->cpus[e->cpu].loaded = mm;
	}
	struct cmm *mm = t->mm;
	if (snap) {
		snprintf(mm->comm, sizeof(mm->comm), "%s", snap->comm);
		mm->brk = snap->start_brk;
		if (snap->elf32)
			warn(c, "process %d (%s) is a 32-bit program: its system calls are not traced, its recording is "
			     "incomplete", (int)pid, snap->comm);
	} else {
		warn(c, "process %d: no snapshot of its address space at exec (it died at once?)", (int)pid);
	}
	for (size_t i = 0; snap && i < snap->nr_vmas && !rc; i++)
		if (snap->vmas[i].kind == RV_FILE)
			rc = write_cache(c, snap->vmas[i].file);
	if (rc) {
		rec_exec_free(snap);
		return rc;
	}
	cJSON *o = op("exec");
	add_num(o, "task", (uint64_t)t->id);
	cJSON *segs = cJSON_AddArrayToObject(o, "segments");
	for (size_t i = 0; snap && i < snap->nr_vmas; i++) {
		const struct rec_vma *v = &snap->vmas[i];
		if (v->kind == RV_STACK) {
			cJSON *st = cJSON_AddObjectToObject(o, "stack");
			add_hex(st, "addr", v->start);
			add_num(st, "len", v->end - v->start);
			/*
			 * The pages setup_arg_pages() moved down from STACK_TOP_MAX: from the
			 * arguments' first page to the top.  Not for the command's first exec,
			 * which ran before tracing started (its flushes are not in the counts).
			 */
			if (!root && snap->arg_start >= v->start && snap->arg_start < v->end)
				add_num(st, "arg_pages", (v->end - (snap->arg_start & ~(PAGE - 1))) / PAGE);
		} else if (v->kind == RV_VVAR) {
			ranges_add(&mm->ignored, v->start, v->end);
		} else {
			exec_segment(segs, v);
		}
	}
	if (snap && snap->start_brk)
		add_hex(o, "brk", snap->start_brk);
	if ((rc = emit(c, o))) {
		rec_exec_free(snap);
		return rc;
	}
	/* The pages the kernel already put there (arguments, auxv, the bss tail). */
	for (size_t i = 0; snap && i < snap->nr_vmas && !rc; i++)
		for (size_t k = 0; k < snap->vmas[i].nr_runs && !rc; k++) {
			const struct rec_run *r = &snap->vmas[i].runs[k];
			rc = exec_touch(c, t, r->addr, r->len, r->anon);
		}
	rec_exec_free(snap);
	if (!rc && root) {
		/*
		 * The counts take the command's tasks as recorded from its exec
		 * event on: what ran before (the spawn, the exec's switch to the
		 * new mm) is not in them.  compare-real reads ptsim's flushing
		 * switches from this mark on (the trailer's counts_start_mark).
		 */
		cJSON *m = op("mark");
		cJSON_AddStringToObject(m, "name", REC_COUNTS_START_MARK);
		rc = emit(c, m);
	}
	return rc;
}

/*
 * A place kept in the queue for @t's op, filled when the op is known (a system
 * call's at its exit, an exec's at its event, a call's at its flush): a
 * pending entry of @t, its sequence number in *@seq.  NULL (c->err set) when
 * the queue cannot grow; *@seq is then unchanged.
 */
static struct qent *push_place(struct rec_conv *c, const struct ctask *t, uint64_t *seq)
{
	struct qent *q = qpush(c);

	if (!q)
		return NULL;
	q->pending = true;
	q->task = t->id;
	*seq = c->q_seq - 1;
	return q;
}

/*
 * A task in execve switching to its new mm: exec_mmap()'s switch_mm() traces
 * a "flush on task switch" in the task's own context, on a CPU whose last
 * traced sched_switch put it there (a switch away from it traces one in its
 * context too, after a sched_switch from it).  Its exec goes here, not at the
 * exec event, which comes tens of microseconds later (after the binary's
 * loading, when a vfork-like parent, released by exec_mmap(), may already
 * have changed the old mm: measured 13 us after the switch, 80 us before the
 * event, in make's posix_spawn children).  A place is kept (like a system
 * call's, exec_slot) and on_exec() fills it.  Without such a switch in the
 * trace the exec stays at its event.
 */
static int exec_switch(struct rec_conv *c, const struct rec_ev *e)
{
	struct ctask *t = pidmap_get(&c->tasks, e->pid);
	if (!t || !t->in_exec || t->has_exec_slot || c->cpus[e->cpu].sw_next != t->pid)
		return 0;
	int rc = ensure_running(c, t, e->cpu);
	if (rc || (rc = sync_clock(c)))
		return rc;
	if (!push_place(c, t, &t->exec_slot))
		return c->err;
	t->has_exec_slot = true;
	return 0;
}

/* An exec: its ops where its switch to the new mm was (exec_switch()), or here. */
static int on_exec(struct rec_conv *c, const struct rec_ev *e, bool final)
{
	struct ctask *t = pidmap_get(&c->tasks, e->u.exec.old_pid);
	struct qent *slot = t && t->has_exec_slot ? qfind(c, t->exec_slot) : NULL;
	if (!slot || !slot->pending)
		return exec_ops(c, e, final);
	/* The task runs here now (ensure_running() in exec_ops() then writes nothing into the place). */
	int rc = ensure_running(c, t, e->cpu);
	if (rc)
		return rc;
	if (!(c->fill = malloc(1)))
		return c->err = -ENOMEM;
	c->fill[0] = 0;
	c->fill_len = 0;
	c->in_sysop = true;
	rc = exec_ops(c, e, final);
	c->in_sysop = false;
	if (rc == REC_CONV_WAIT) {   /* (tried again later: the place stays) */
		free(c->fill);
		c->fill = NULL;
		return rc;
	}
	t->has_exec_slot = false;
	slot->pending = false;
	if (c->fill_len)
		slot->s = c->fill;
	else
		free(c->fill);
	c->fill = NULL;
	return rc;
}

static int on_exit_ev(struct rec_conv *c, const struct rec_ev *e)
{
	struct ctask *t = pidmap_get(&c->tasks, e->u.exit.pid);
	if (!t)
		return 0;
	int rc = ensure_running(c, t, e->cpu);
	if (rc || (rc = mark_end(c, t, "exit")))
		return rc;
	cJSON *o = op("exit");
	add_num(o, "task", (uint64_t)t->id);
	struct rec_pidinfo *pi = rec_pidinfo(c->d, t->pid);
	mm_leave(c, t, "exit", pi && pi->exit_stop ? &pi->exit : NULL);
	c->cpus[e->cpu].cur = NULL;
	pidmap_del(&c->tasks, t->pid);
	/* sched_process_exit comes before exit_mm(): the mm's teardown is still this task's. */
	pidmap_put(&c->dying, t->pid, (void *)1);
	int rc2 = emit(c, o);
	task_gone(c, t);
	return rc2;
}

/* ---- system calls ---- */

static void not_replayed(struct rec_conv *c, const char *call, int64_t ret)
{
	const char *e = strerrorname_np((int)-ret);
	count(&c->not_replayed, "%s %s", call, e ? e : "error");
}

static const char *errname(int64_t ret)
{
	const char *e = strerrorname_np((int)-ret);
	return e ? e : "EINVAL";
}

static bool failed(int64_t ret)
{
	return ret < 0 && ret >= -4095;
}

static cJSON *range_op(const char *name, const struct ctask *t, uint64_t addr, uint64_t len)
{
	cJSON *o = op(name);
	add_num(o, "task", (uint64_t)t->id);
	add_hex(o, "addr", addr);
	add_num(o, "len", page_up(len, PAGE));
	return o;
}

static int sys_mmap(struct rec_conv *c, struct ctask *t, const uint64_t *a, int64_t ret)
{
	uint64_t len = a[1], flags = a[3], off = a[5];
	unsigned int prot = (unsigned int)a[2] & 7;
	struct rec_pending_map *pm = NULL;
	struct rec_pidinfo *pi = rec_pidinfo(c->d, t->pid);

	if (!(flags & X_MAP_ANONYMOUS) && pi && pi->maps && pi->maps->nr == NR_mmap) {
		pm = pi->maps;
		pi->maps = pm->next;
	}
	struct rec_file *f = pm ? pm->file : NULL;
	free(pm);
	if (failed(ret)) {
		if (ret == -EEXIST && (flags & X_MAP_FIXED_NOREPLACE)) {
			cJSON *o = range_op("mmap", t, a[0], len);
			cJSON_AddStringToObject(o, "prot", prot_name(prot));
			cJSON_AddStringToObject(o, "fixed", "noreplace");
			cJSON_AddStringToObject(o, "expect", "EEXIST");
			return emit(c, o);
		}
		not_replayed(c, "mmap", ret);
		return 0;
	}
	uint64_t addr = (uint64_t)ret;
	bool shared = (flags & X_MAP_TYPE) == X_MAP_SHARED || (flags & X_MAP_TYPE) == 0x03;
	const char *kind = "anon", *fname = NULL;
	uint64_t psize = 0;
	if (flags & X_MAP_HUGETLB) {
		kind = "hugetlb";
		unsigned int shift = (unsigned int)(flags >> 26) & 0x3f;
		psize = shift ? 1ull << shift : 2ull << 20;
	}
	if (!(flags & X_MAP_ANONYMOUS)) {
		if (!f) {
			warn(c, "process %d (%s): a mapping of an unknown file at 0x%" PRIx64 ": replayed as anonymous memory",
			     (int)t->mm->pid, t->mm->comm, addr);
		} else if (f->kind == RF_ZERO) {
			/* /dev/zero: private is anonymous, shared is shared anonymous memory. */
		} else if (f->kind == RF_DEVICE) {
			warn(c, "process %d (%s) maps %s (a device or special file): not modelled, its faults are not "
			     "replayed", (int)t->mm->pid, t->mm->comm, f->path);
			ranges_cut(&t->mm->ignored, addr, addr + page_up(len, PAGE));
			ranges_add(&t->mm->ignored, addr, addr + page_up(len, PAGE));
			count(&c->ignored, "mmap of a device");
			return 0;
		} else {
			kind = f->kind == RF_SHMEM ? "shmem" : f->kind == RF_HUGETLB ? "hugetlb" : "file";
			fname = f->name;
			if (f->kind == RF_HUGETLB)
				psize = f->page_size ? f->page_size : 2ull << 20;
		}
	}
	if (flags & X_MAP_GROWSDOWN)
		warn(c, "process %d (%s) used MAP_GROWSDOWN: replayed as an ordinary mapping", (int)t->mm->pid,
		     t->mm->comm);
	uint64_t mlen = page_up(len, psize ? psize : PAGE);
	ranges_cut(&t->mm->ignored, addr, addr + mlen);
	int rc0 = fname ? write_cache(c, f) : 0;
	if (rc0)
		return rc0;
	cJSON *o = op("mmap");
	add_num(o, "task", (uint64_t)t->id);
	add_hex(o, "addr", addr);
	add_num(o, "len", mlen);
	cJSON_AddStringToObject(o, "prot", prot_name(prot));
	cJSON_AddStringToObject(o, "fixed", (flags & X_MAP_FIXED) ? "replace" : "noreplace");
	if (strcmp(kind, "anon"))
		cJSON_AddStringToObject(o, "kind", kind);
	if (shared)
		cJSON_AddTrueToObject(o, "shared");
	if (fname) {
		cJSON_AddStringToObject(o, "file", fname);
		if (off)
			add_hex(o, "offset", off);
	}
	if (psize && psize != (2ull << 20))
		add_num(o, "page_size", psize);
	if (flags & (X_MAP_POPULATE | X_MAP_LOCKED))
		cJSON_AddTrueToObject(o, "populate");
	int rc = emit(c, o);
	if (!rc && (flags & X_MAP_LOCKED))
		rc = emit(c, range_op("mlock", t, addr, mlen));
	return rc;
}

static int sys_madvise(struct rec_conv *c, struct ctask *t, const uint64_t *a, int64_t ret)
{
	uint64_t addr = a[0], len = a[1];
	int adv = (int)a[2];
	const char *name = NULL;

	switch (adv) {
	case 4: name = "dontneed"; break;
	case 8: name = "free"; break;
	case 24: name = "dontneed_locked"; break;
	case 102: name = "guard_install"; break;
	case 103: name = "guard_remove"; break;
	case 9:
		/* MADV_REMOVE fails with EINVAL on private mappings: not a rule of dontneed. */
		if (failed(ret)) {
			not_replayed(c, "madvise(REMOVE)", ret);
			return 0;
		}
		name = "dontneed";
		warn(c, "process %d (%s) used MADV_REMOVE: replayed as MADV_DONTNEED (the file's pages stay)",
		     (int)t->mm->pid, t->mm->comm);
		break;
	case 22: case 23:
		if (failed(ret)) {
			not_replayed(c, "madvise(POPULATE)", ret);
			return 0;
		}
		return touch(c, t, addr, page_up(len, PAGE), adv == 23, false);
	case 14: case 25:
		warn(c, "process %d (%s) used MADV_%s: transparent huge pages are not modelled", (int)t->mm->pid,
		     t->mm->comm, adv == 14 ? "HUGEPAGE" : "COLLAPSE");
		count(&c->ignored, "madvise %d", adv);
		return 0;
	case 12:
		warn(c, "process %d (%s) used MADV_MERGEABLE: KSM is not modelled", (int)t->mm->pid, t->mm->comm);
		count(&c->ignored, "madvise %d", adv);
		return 0;
	case 10: case 18:
		warn(c, "process %d (%s) used MADV_%s: not modelled (a later fork copies that range)", (int)t->mm->pid,
		     t->mm->comm, adv == 10 ? "DONTFORK" : "WIPEONFORK");
		count(&c->ignored, "madvise %d", adv);
		return 0;
	case 20: name = "cold"; break;
	case 21: name = "pageout"; break;
	default:
		/* NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTDUMP, DODUMP, NOHUGEPAGE, ...: no page-table effect. */
		count(&c->ignored, "madvise %d", adv);
		return 0;
	}
	if (failed(ret) && ret != -ENOMEM && ret != -EINVAL) {
		not_replayed(c, "madvise", ret);
		return 0;
	}
	if (failed(ret) && ((addr | len) & (PAGE - 1) || !len) ) {
		not_replayed(c, "madvise", ret);
		return 0;
	}
	cJSON *o = range_op("madvise", t, addr, len);
	cJSON_AddStringToObject(o, "advice", name);
	if (failed(ret))
		cJSON_AddStringToObject(o, "expect", errname(ret));
	return emit(c, o);
}

static int sys_exit(struct rec_conv *c, struct ctask *t, int nr, const uint64_t *a, int64_t ret)
{
	cJSON *o;

	switch (nr) {
	case NR_mmap:
		return sys_mmap(c, t, a, ret);
	case NR_munmap:
		if (failed(ret)) {
			if (ret == -EINVAL && !((a[0] | a[1]) & (PAGE - 1)) && a[1]) {
				o = range_op("munmap", t, a[0], a[1]);
				cJSON_AddStringToObject(o, "expect", "EINVAL");
				return emit(c, o);
			}
			not_replayed(c, "munmap", ret);
			return 0;
		}
		ranges_cut(&t->mm->ignored, a[0], a[0] + page_up(a[1], PAGE));
		ranges_cut(&t->mm->shm, a[0], a[0] + page_up(a[1], PAGE));
		return emit(c, range_op("munmap", t, a[0], a[1]));
	case NR_mprotect:
	case NR_pkey_mprotect:
		if (a[2] & X_PROT_GROWS)
			warn(c, "process %d (%s) used PROT_GROWSDOWN/UP: replayed on the given range only", (int)t->mm->pid,
			     t->mm->comm);
		if (failed(ret) && !(ret == -ENOMEM && !((a[0] | a[1]) & (PAGE - 1)) && a[1])) {
			not_replayed(c, "mprotect", ret);
			return 0;
		}
		o = range_op("mprotect", t, a[0], a[1]);
		cJSON_AddStringToObject(o, "prot", prot_name((unsigned int)a[2] & 7));
		if (failed(ret))
			cJSON_AddStringToObject(o, "expect", "ENOMEM");
		return emit(c, o);
	case NR_madvise:
		return sys_madvise(c, t, a, ret);
	case NR_mremap: {
		uint64_t old = a[0], olen = page_up(a[1], PAGE), nlen = page_up(a[2], PAGE), fl = a[3];
		if (failed(ret)) {
			not_replayed(c, "mremap", ret);
			return 0;
		}
		if (!olen) {
			warn(c, "process %d (%s) used mremap with old_len 0 (a second mapping of shared memory): not "
			     "replayed", (int)t->mm->pid, t->mm->comm);
			count(&c->not_replayed, "mremap old_len 0");
			return 0;
		}
		o = range_op("mremap", t, old, olen);
		add_num(o, "new_len", nlen);
		if ((uint64_t)ret != old || (fl & X_MREMAP_DONTUNMAP)) {
			cJSON *flags = cJSON_AddArrayToObject(o, "flags");
			cJSON_AddItemToArray(flags, cJSON_CreateString("maymove"));
			cJSON_AddItemToArray(flags, cJSON_CreateString("fixed"));
			if (fl & X_MREMAP_DONTUNMAP)
				cJSON_AddItemToArray(flags, cJSON_CreateString("dontunmap"));
			add_hex(o, "new_addr", (uint64_t)ret);
		}
		ranges_cut(&t->mm->ignored, old, old + olen);
		return emit(c, o);
	}
	case NR_brk:
		if (!t->mm->brk || (uint64_t)ret == t->mm->brk || failed(ret))
			return 0;
		t->mm->brk = (uint64_t)ret;
		o = op("brk");
		add_num(o, "task", (uint64_t)t->id);
		add_hex(o, "addr", (uint64_t)ret);
		return emit(c, o);
	case NR_mlock:
	case NR_mlock2:
	case NR_munlock:
		if (nr == NR_mlock2 && (a[2] & X_MLOCK_ONFAULT))
			warn(c, "process %d (%s) used mlock2(MLOCK_ONFAULT): replayed as mlock (which populates)",
			     (int)t->mm->pid, t->mm->comm);
		if (failed(ret) && !(ret == -ENOMEM && a[1])) {
			not_replayed(c, nr == NR_munlock ? "munlock" : "mlock", ret);
			return 0;
		}
		o = range_op(nr == NR_munlock ? "munlock" : "mlock", t, a[0] & ~(PAGE - 1),
			     a[1] + (a[0] & (PAGE - 1)));
		if (failed(ret))
			cJSON_AddStringToObject(o, "expect", "ENOMEM");
		return emit(c, o);
	case NR_shmat: {
		struct rec_pidinfo *pi = rec_pidinfo(c->d, t->pid);
		struct rec_pending_map *pm = pi && pi->maps && pi->maps->nr == NR_shmat ? pi->maps : NULL;
		if (pm)
			pi->maps = pm->next;
		uint64_t size = pm ? pm->shm_size : 0;
		int id = pm ? pm->shmid : (int)a[0];
		free(pm);
		if (failed(ret)) {
			not_replayed(c, "shmat", ret);
			return 0;
		}
		if (!size) {
			warn(c, "process %d (%s): shmat of segment %d of unknown size: not replayed", (int)t->mm->pid,
			     t->mm->comm, id);
			count(&c->not_replayed, "shmat unknown size");
			return 0;
		}
		char fname[48];
		snprintf(fname, sizeof(fname), "sysvshm:%d", id);
		unsigned int prot = (a[2] & X_SHM_RDONLY) ? 1u : 3u;
		if (a[2] & X_SHM_EXEC)
			prot |= 4u;
		o = op("mmap");
		add_num(o, "task", (uint64_t)t->id);
		add_hex(o, "addr", (uint64_t)ret);
		add_num(o, "len", page_up(size, PAGE));
		cJSON_AddStringToObject(o, "prot", prot_name(prot));
		cJSON_AddStringToObject(o, "fixed", (a[2] & X_SHM_REMAP) ? "replace" : "noreplace");
		cJSON_AddStringToObject(o, "kind", "shmem");
		cJSON_AddTrueToObject(o, "shared");
		cJSON_AddStringToObject(o, "file", fname);
		ranges_add(&t->mm->shm, (uint64_t)ret, (uint64_t)ret + page_up(size, PAGE));
		return emit(c, o);
	}
	case NR_shmdt:
		if (failed(ret)) {
			not_replayed(c, "shmdt", ret);
			return 0;
		}
		for (size_t i = 0; i < t->mm->shm.nr; i++)
			if (t->mm->shm.v[i].start == a[0]) {
				uint64_t end = t->mm->shm.v[i].end;
				t->mm->shm.v[i] = t->mm->shm.v[--t->mm->shm.nr];
				return emit(c, range_op("munmap", t, a[0], end - a[0]));
			}
		count(&c->not_replayed, "shmdt of an unknown attachment");
		return 0;
	case NR_mlockall:
	case NR_munlockall:
		if (!failed(ret))
			warn(c, "process %d (%s) used %s: not modelled", (int)t->mm->pid, t->mm->comm,
			     nr == NR_mlockall ? "mlockall" : "munlockall");
		return 0;
	case NR_userfaultfd:
		if (!failed(ret))
			warn(c, "process %d (%s) opened a userfaultfd: faults resolved by user space are not modelled",
			     (int)t->mm->pid, t->mm->comm);
		return 0;
	case NR_io_uring_register:
		if (!failed(ret) && (a[1] == 0 || a[1] == 15 || a[1] == 16))
			warn(c, "process %d (%s) registered io_uring buffers: pinned pages are not modelled",
			     (int)t->mm->pid, t->mm->comm);
		return 0;
	case NR_remap_file_pages:
	case NR_mbind:
	case NR_migrate_pages:
	case NR_move_pages:
	case NR_process_madvise:
	case NR_memfd_secret:
	case NR_map_shadow_stack:
		if (!failed(ret))
			warn(c, "process %d (%s) used %s: not modelled", (int)t->mm->pid, t->mm->comm, rec_syscall_name(nr));
		return 0;
	default:
		return 0;
	}
}

/*
 * A call that changes mappings is written where it last flushed (the CPUs the
 * flush reached are those the kernel's flush found then), or at its exit if
 * it did not flush; but another thread's fault on its range while it ran came
 * after its change, as in the kernel: the touches queued since its entry
 * (@win) by tasks of @mm inside [@lo, @hi) move after its op (which is at
 * @op_seq; into c->fill when it goes in the place of its flush).  Not those
 * of the caller @t: its faults came before its call (one queued after its
 * entry was moved there, after another thread's call).
 */
static void move_raced_touches(struct rec_conv *c, const struct ctask *t, uint64_t win, uint64_t op_seq, uint64_t lo,
			       uint64_t hi)
{
	for (uint64_t seq = win + 1; seq < op_seq; seq++) {
		struct qent *e = qfind(c, seq);
		if (!e || !e->is_touch || !e->len || e->dead || e->raced || e->addr + e->len <= lo || e->addr >= hi)
			continue;
		struct ctask *o = task_by_id(c, e->task);
		/*
		 * A task no longer running would have to be put back on a CPU
		 * first; but the place of the call's flush (c->fill) may come
		 * before the line that took it off its CPU.
		 */
		if (!o || o == t || o->mm != t->mm || (o->cpu < 0 && !(c->fill && o->off_seq > op_seq)))
			continue;
		struct qent copy = *e;
		copy.pre = copy.mid = NULL;   /* (a run written before it stays there: e writes it) */
		e->dead = true;
		if (c->fill) {   /* after the op, in the place of its flush */
			char buf[160];
			snprintf(buf, sizeof(buf), "{\"op\":\"touch\",\"task\":%d,\"addr\":\"0x%" PRIx64 "\",\"len\":%" PRIu64 "%s}",
				 copy.task, copy.addr, copy.len, copy.write ? ",\"write\":true" : "");
			fill_add(c, buf);
			if (o->lf_seq == seq)
				o->lf_valid = false;
			continue;
		}
		struct qent *n = qpush(c);
		if (!n)
			return;
		*n = copy;
		if (o->lf_seq == seq)
			o->lf_seq = c->q_seq - 1;
	}
}

/* The calls that change mappings: their ops go where they entered the kernel. */
static bool changes_mappings(int nr)
{
	switch (nr) {
	case NR_mmap: case NR_munmap: case NR_mprotect: case NR_pkey_mprotect: case NR_madvise: case NR_mremap:
	case NR_brk: case NR_mlock: case NR_mlock2: case NR_munlock: case NR_shmat: case NR_shmdt:
		return true;
	default:
		return false;
	}
}

/* A call that changes mappings marks where it entered the kernel (see move_raced_touches()). */
static int on_sys_enter(struct rec_conv *c, const struct rec_ev *e)
{
	struct ctask *t = pidmap_get(&c->tasks, e->pid);
	int rc;

	if (!t)
		return 0;
	if (c->debug && dbg_real(c, t))
		return c->err;
	t->in_sys = true;
	t->sys_nr = e->u.enter.nr;
	t->has_slot = false;
	t->has_flush_slot = false;
	t->race_slot = false;
	memcpy(t->a, e->u.enter.a, sizeof(t->a));
	if (t->sys_nr == NR_execve || t->sys_nr == NR_execveat) {
		t->in_exec = true;
		t->has_exec_slot = false;
		t->nr_held = 0;
	}
	if (!changes_mappings(t->sys_nr))
		return 0;
	if ((rc = ensure_running(c, t, e->cpu)) || (rc = sync_clock(c)))
		return rc;
	if (!push_place(c, t, &t->sys_slot))
		return c->err;
	t->has_slot = true;
	c->epoch++;
	return 0;
}

static int on_sys_exit(struct rec_conv *c, const struct rec_ev *e)
{
	struct ctask *t = pidmap_get(&c->tasks, e->pid);
	if (!t || !t->in_sys || t->sys_nr != e->u.exit_.nr)
		return 0;
	t->in_sys = false;
	c->syscalls++;
	if (t->sys_nr == NR_execve || t->sys_nr == NR_execveat) {
		/* A failed execve (an exec that worked was handled at sched_process_exec). */
		int rc = 0;
		struct qent *xs = t->has_exec_slot ? qfind(c, t->exec_slot) : NULL;
		if (xs)
			xs->pending = false;
		t->has_exec_slot = false;
		t->in_exec = false;
		if (t->nr_held && (rc = ensure_running(c, t, e->cpu)))
			return rc;
		for (size_t i = 0; i < t->nr_held && !rc; i++)
			rc = touch(c, t, t->held[i].addr, PAGE, t->held[i].write, true);
		t->nr_held = 0;
		return rc;
	}
	/* The range the call worked on (another thread's faults there during it raced with it). */
	uint64_t lo = t->a[0] & ~(PAGE - 1), hi = t->a[0] + page_up(t->a[1], PAGE);
	int64_t ret = e->u.exit_.ret;
	if ((t->sys_nr == NR_mmap || t->sys_nr == NR_shmat) && !failed(ret)) {
		lo = (uint64_t)ret;
		hi = lo + page_up(t->sys_nr == NR_mmap ? t->a[1] : 1, PAGE);
	} else if (t->sys_nr == NR_brk) {
		lo = t->mm->brk < (uint64_t)ret ? t->mm->brk : (uint64_t)ret;
		hi = page_up(t->mm->brk > (uint64_t)ret ? t->mm->brk : (uint64_t)ret, PAGE);
	} else if (t->sys_nr == NR_mremap && !failed(ret) && (uint64_t)ret != t->a[0]) {
		hi = (uint64_t)ret + page_up(t->a[2], PAGE);   /* old range up to the new one: the whole span */
		if ((uint64_t)ret < lo)
			lo = (uint64_t)ret;
	}
	uint64_t win = t->has_slot ? t->sys_slot : c->q_seq;
	struct qent *slot = t->has_slot ? qfind(c, t->sys_slot) : NULL;
	struct qent *fslot = t->has_flush_slot ? qfind(c, t->flush_slot) : NULL;
	uint64_t fseq = t->flush_slot;
	t->has_slot = t->has_flush_slot = false;
	if (slot)
		slot->pending = false;   /* the entry marker has done its job: nothing is written there */
	int rc = 0;
	if (fslot && fslot->pending) {
		if (!(c->fill = malloc(1)))
			return c->err = -ENOMEM;
		c->fill[0] = 0;
		c->fill_len = 0;
	} else if ((rc = ensure_running(c, t, e->cpu))) {
		return rc;
	}
	uint64_t before = c->dbg_seq, op_seq = c->q_seq;
	c->in_sysop = true;
	rc = sys_exit(c, t, t->sys_nr, t->a, ret);
	if (!rc && c->fill)
		move_raced_touches(c, t, win, fseq, lo, hi);
	c->in_sysop = false;
	if (c->fill) {
		fslot->pending = false;
		if (c->fill_len)
			fslot->s = c->fill;
		else
			free(c->fill);
		c->fill = NULL;
	} else if (!rc && c->q_seq != op_seq) {
		move_raced_touches(c, t, win, op_seq, lo, hi);
	}
	if (!rc && c->debug && c->dbg_seq != before)
		rc = dbg_real(c, t);   /* the flushes of the call, after its op */
	return rc;
}

/*
 * PTSIM_RECORD_DEBUG: what each flush call of a recorded task did on its
 * target CPU, as counts.c classifies it (f full, p ranged, w wrong CPU,
 * l lazy CPU to init_mm, n nothing to do; then the CPU), added to its
 * sender's "real" mark: "calls=p1,w0".
 */
static void dbg_call_done(struct rec_conv *c, struct ccpu *cc, unsigned int cpu, char did)
{
	struct ctask *t = task_by_id(c, cc->dbg_call);
	cc->dbg_call = 0;
	if (!t)
		return;
	size_t n = strlen(t->dbg_calls);
	if (n + 6 < sizeof(t->dbg_calls))
		snprintf(t->dbg_calls + n, sizeof(t->dbg_calls) - n, "%s%c%u", n ? "," : "", did, cpu);
}

static void dbg_call_event(struct rec_conv *c, const struct rec_ev *e)
{
	struct ccpu *cc;

	if (e->kind == REV_CSD_QUEUE && e->u.csdq.func == c->o.flush_fn && e->u.csdq.target < c->o.si->cpus) {
		struct ctask *t = pidmap_get(&c->tasks, e->pid);
		cc = &c->cpus[e->u.csdq.target];
		if (!t)
			return;
		if (cc->dbg_nr_pend == NR_CPEND)
			memmove(&cc->dbg_pend[0], &cc->dbg_pend[1], (NR_CPEND - 1) * sizeof(cc->dbg_pend[0]));
		else
			cc->dbg_nr_pend++;
		cc->dbg_pend[cc->dbg_nr_pend - 1].csd = e->u.csdq.csd;
		cc->dbg_pend[cc->dbg_nr_pend - 1].task = t->id;
		return;
	}
	if (e->cpu >= c->o.si->cpus)
		return;
	cc = &c->cpus[e->cpu];
	if (e->kind == REV_CSD_ENTRY && e->u.csdf.csd && e->u.csdf.func == c->o.flush_fn) {
		cc->dbg_call = 0;
		cc->dbg_did = 0;
		for (unsigned int i = 0; i < cc->dbg_nr_pend; i++)
			if (cc->dbg_pend[i].csd == e->u.csdf.csd) {
				cc->dbg_call = cc->dbg_pend[i].task;
				memmove(&cc->dbg_pend[i], &cc->dbg_pend[i + 1],
					(cc->dbg_nr_pend - i - 1) * sizeof(cc->dbg_pend[0]));
				cc->dbg_nr_pend--;
				break;
			}
	} else if (e->kind == REV_TLB_FLUSH && cc->dbg_call && !cc->dbg_did) {
		int r = e->u.tlb.reason;
		if (r == REC_TLB_REMOTE_SHOOTDOWN && !e->u.tlb.pages)
			return;
		cc->dbg_did = r == REC_TLB_REMOTE_WRONG_CPU ? 'w' : r == REC_TLB_FLUSH_ON_TASK_SWITCH ? 'l'
			      : e->u.tlb.pages == REC_TLB_FLUSH_ALL ? 'f' : 'p';
	} else if (e->kind == REV_CSD_EXIT && e->u.csdf.csd && cc->dbg_call) {
		dbg_call_done(c, cc, e->cpu, cc->dbg_did ? cc->dbg_did : 'n');
	}
}

#define LRU_BATCH_MOVE_FULL 31   /* FOLIO_BATCH_SIZE (PAGEVEC_SIZE): the insertions of a move that the 31st add made */

/* Write an lru_add_drain_cpu op for @cpu now. */
static int write_drain(struct rec_conv *c, unsigned int cpu)
{
	cJSON *o = op("lru_add_drain_cpu");
	if (!o)
		return c->err = -ENOMEM;
	add_num(o, "cpu", cpu);
	c->lru_drains++;
	return emit(c, o);
}

/*
 * The end of a batch move that began inside a recorded task's fault on @cpu
 * (the next event there).  31 insertions: the fault's own add filled the
 * batch and moved it, its folio included: the op goes after its touch.
 * Fewer: a drain before the fault added its folio (do_wp_page()'s
 * lru_add_drain(), before it copies): the op goes before the touch's last
 * page (the entry's "mid" lines), and the new folio stays in the batch.
 */
static int end_lru_run(struct rec_conv *c, unsigned int cpu)
{
	struct ccpu *cc = &c->cpus[cpu];
	unsigned int n = cc->lru_run;
	struct qent *q = n < LRU_BATCH_MOVE_FULL ? qfind(c, cc->fault_seq) : NULL;
	char line[64];

	cc->lru_run = 0;
	if (!q || !q->is_touch || q->dead || !q->len || q->task != cc->fault_task || q->raced || q->post ||
	    q->addr + q->len - PAGE != cc->fault_addr)
		return write_drain(c, cpu);
	int len = snprintf(line, sizeof(line), "{\"op\":\"lru_add_drain_cpu\",\"cpu\":%u}", cpu);
	size_t ml = q->mid ? strlen(q->mid) : 0;
	char *mid = realloc(q->mid, ml + (size_t)len + 2);
	if (!mid)
		return c->err = -ENOMEM;
	if (ml)
		mid[ml++] = '\n';
	memcpy(mid + ml, line, (size_t)len + 1);
	q->mid = mid;
	c->lru_drains++;
	cc->lru_held = true;   /* the fault's folio, added after the drain */
	return 0;
}

/*
 * pagemap:mm_lru_insertion on a CPU: lru_add() of one folio, inside
 * folio_batch_move_lru() of that CPU's LRU add batch (the only caller, mm/swap.c
 * v6.18), which moves the whole batch whatever started it: the add that
 * filled it, the add of a large folio or one while the LRU cache is disabled
 * (lru_cache_disable()), or a drain (lru_add_drain(), the per-CPU work of
 * lru_add_drain_all()).  Either way the batch is empty after it.  The kernel's
 * batch takes the folios of every process that runs on the CPU, ptsim's only
 * the recorded tasks': it fills later, and a recorded page stays in it (a
 * second reference: a copy-on-write copies instead of reusing) long after the
 * kernel's moved on.  So the replay drains the CPU's batch here, with an
 * lru_add_drain_cpu op, at the first insertion of a move, and only if a
 * recorded task faulted or made a system call on that CPU since the last such
 * op (otherwise the replay's batch there holds nothing new of theirs): the
 * further insertions of the same move find nothing to do, as do the moves
 * of a CPU no recorded task ran on.  A move that begins inside a recorded
 * fault on that CPU waits for its end to know where it goes (end_lru_run()).
 * Dead folios (unmapped, only the batch holds them) are traced too (measured
 * on 6.18.44: 20 unmapped + 11 new folios, 31 insertions at the fill); a
 * later kernel that frees them without lru_add() would trace fewer.
 */
static int on_lru_add(struct rec_conv *c, const struct rec_ev *e)
{
	struct ccpu *cc = e->cpu < c->o.si->cpus ? &c->cpus[e->cpu] : NULL;

	if (!c->started || !cc)
		return 0;
	if (cc->lru_run) {
		cc->lru_run++;
		return 0;
	}
	if (!cc->lru_held)
		return 0;
	cc->lru_held = false;
	c->now = e->ts;
	if (e->ts > c->last_ts)
		c->last_ts = e->ts;
	if (cc->in_fault) {
		cc->lru_run = 1;
		return 0;
	}
	return write_drain(c, e->cpu);
}

int rec_conv_event(struct rec_conv *c, const struct rec_ev *e, bool final)
{
	if (c->debug && !c->err)
		dbg_call_event(c, e);
	if (c->err)
		return c->err;
	/* Before the rest: an insertion is no sign of where a CPU's context switch stands. */
	if (e->kind == REV_LRU_ADD)
		return on_lru_add(c, e);
	if (e->cpu < c->o.si->cpus) {
		struct ccpu *cc = &c->cpus[e->cpu];
		if (cc->lru_run && end_lru_run(c, e->cpu))
			return c->err;
		cc->in_fault = false;   /* (on_fault() sets it again) */
	}
	if (e->kind >= REV_SWITCH)
		rec_counts_event(c->counts, e, is_ours, c);
	if (c->nr_away) {
		int rc = decide_switched_away(c, e);
		if (rc)
			return rc;
	}
	if (e->kind == REV_SWITCH && c->dying.nr && (e->u.sw.prev_state & SW_STATE_EXITED))
		pidmap_del(&c->dying, e->u.sw.prev);   /* its last switch: do_task_dead() */
	if (e->kind == REV_TLB_FLUSH && (e->u.tlb.reason == REC_TLB_LOCAL_SHOOTDOWN ||
					 e->u.tlb.reason == REC_TLB_LOCAL_MM_SHOOTDOWN ||
					 e->u.tlb.reason == REC_TLB_REMOTE_SEND_IPI)) {
		/* A call that changes mappings flushed: its op will go here (the last such place). */
		struct ctask *t = pidmap_get(&c->tasks, e->pid);
		bool own_local = t && t->race_slot && e->u.tlb.reason != REC_TLB_REMOTE_SEND_IPI;
		if (t)
			t->race_slot = false;
		if (own_local) {
			/* The local half of the flush whose call raced: its op stays where close_switch() put it. */
		} else if (t && t->in_sys && t->has_slot) {
			struct qent *old = t->has_flush_slot ? qfind(c, t->flush_slot) : NULL;
			if (old && old->post && post_crosses(c, old->post, t->flush_slot, c->q_seq)) {
				/* The switch's ops stay where they were put, the op goes on: as written. */
				if (old->raced)
					c->switch_races--;
				else
					c->switch_orders--;
				old->raced = false;
				old->pending = false;
				old = NULL;
			}
			bool raced = old && old->raced;
			unsigned int race_cpu = raced ? old->race_cpu : 0;
			char *post = old ? old->post : NULL;
			if (old) {
				old->pending = false;
				old->raced = false;   /* a later flush of the call: the race goes with its op */
				old->post = NULL;
			}
			/*
			 * The flush ran in the task, on this CPU: the op that goes
			 * here needs the task running (it may have slept since its
			 * entry and come back elsewhere).
			 */
			int rc = e->cpu < c->o.si->cpus ? ensure_running(c, t, e->cpu) : 0;
			if (rc)
				return rc;
			c->now = e->ts;   /* the flush's time: should_trim_cpumask() reads jiffies then */
			if ((rc = sync_clock(c)))
				return rc;
			struct qent *q = push_place(c, t, &t->flush_slot);
			if (!q) {
				free(post);
				return c->err;
			}
			q->raced = raced;
			q->race_cpu = race_cpu;
			q->post = post;
			t->has_flush_slot = true;
		}
		if (t && e->u.tlb.reason == REC_TLB_REMOTE_SEND_IPI) {
			t->sent_ts = e->ts;
			note_switch_candidates(c, t, e->cpu, e->ts);
			if (c->started)
				note_switched_away(c, t, e->cpu, e->ts);
		}
	}
	if (e->kind == REV_CSD_ENTRY && e->u.csdf.func == c->o.flush_fn && e->cpu < c->o.si->cpus && c->started) {
		int rc = missed_switch_in(c, e);
		if (rc)
			return rc;
	}
	if (e->cpu < c->o.si->cpus && c->cpus[e->cpu].open && c->started && e->kind != REV_SWITCH) {
		struct ccpu *cc = &c->cpus[e->cpu];
		int rc = 0;
		if (cc->in_call && e->kind == REV_TLB_FLUSH) {
			/* what the raced call did (0 pages of a remote shootdown: nothing, it had caught up) */
			cc->call_flushed |= e->u.tlb.reason != REC_TLB_REMOTE_SHOOTDOWN || e->u.tlb.pages;
		} else if (cc->in_call && e->kind == REV_CSD_EXIT) {
			rc = close_switch(c, e->cpu);
		} else if (!cc->in_call && e->kind == REV_CSD_ENTRY && call_raced(c, e->cpu, e->u.csdf.csd)) {
			cc->in_call = true;   /* a call queued while it switched: closed when it returns */
			cc->call_flushed = false;
		} else if (!cc->in_call && e->kind == REV_TLB_FLUSH && e->u.tlb.reason == REC_TLB_FLUSH_ON_TASK_SWITCH) {
			if (!cc->sw_mm_ts)
				cc->sw_mm_ts = e->ts;   /* the switch's switch_mm_irqs_off() is done */
		} else if (!cc->in_call) {
			rc = close_switch(c, e->cpu);   /* the CPU is past its switch */
		}
		if (rc)
			return rc;
	}
	for (unsigned int i = 0; c->nr_open && i < c->o.si->cpus; i++) {
		if (c->cpus[i].open && e->ts > c->cpus[i].sw_ts + RACE_WINDOW_NS) {
			int rc = close_switch(c, i);   /* long past: the CPU runs with IRQs on */
			if (rc)
				return rc;
		}
	}
	if (e->kind == REV_CSD_QUEUE && e->u.csdq.func == c->o.flush_fn && e->u.csdq.target < c->o.si->cpus) {
		/* A flush call of a recorded task, until the target runs it (close_switch()). */
		struct ctask *t = pidmap_get(&c->tasks, e->pid);
		struct ccpu *tc = &c->cpus[e->u.csdq.target];
		pend_expire(tc, e->ts);
		if (t && tc->cand_task == t->id)
			tc->cand_task = -1;   /* it did reach the switching CPU */
		if (t && tc->away_task == t->id && tc->away_to) {
			tc->away_called = true;   /* it reached the CPU that switched to the mm */
		} else if (t && tc->away_task == t->id) {
			tc->away_task = 0;   /* ... or the one switching away: a race (close_switch()) */
			c->nr_away--;
		}
		if (t && tc->nr_pend < NR_CPEND) {
			tc->pend[tc->nr_pend].csd = e->u.csdq.csd;
			tc->pend[tc->nr_pend].ts = e->ts;
			/* (a call is queued within microseconds of its flush's start; older: lost events) */
			tc->pend[tc->nr_pend].sent_ts = t->sent_ts && e->ts - t->sent_ts < RACE_AFTER_NS ? t->sent_ts : e->ts;
			tc->pend[tc->nr_pend].task = t->id;
			tc->nr_pend++;
		}
	} else if (e->kind == REV_CSD_ENTRY && e->cpu < c->o.si->cpus) {
		struct ccpu *tc = &c->cpus[e->cpu];
		for (unsigned int i = 0; i < tc->nr_pend; i++)
			if (tc->pend[i].csd == e->u.csdf.csd) {
				pend_remove(tc, i);
				break;
			}
	}
	if (c->debug && (e->kind == REV_TLB_FLUSH || e->kind == REV_CSD_QUEUE)) {
		struct ctask *t = pidmap_get(&c->tasks, e->pid);
		if (t && e->kind == REV_CSD_QUEUE && e->u.csdq.func == c->o.flush_fn)
			t->dbg_queued++;
		else if (t && e->kind == REV_TLB_FLUSH &&
			 (e->u.tlb.reason == REC_TLB_LOCAL_SHOOTDOWN || e->u.tlb.reason == REC_TLB_LOCAL_MM_SHOOTDOWN))
			t->dbg_local++;
		else if (t && e->kind == REV_TLB_FLUSH && e->u.tlb.reason == REC_TLB_REMOTE_SEND_IPI)
			t->dbg_send++;
	}
	if (e->cpu >= c->o.si->cpus)
		return 0;
	c->now = e->ts;
	if (e->ts > c->last_ts)
		c->last_ts = e->ts;
	if (e->kind <= REV_EXIT)   /* the task instance: recorded tasks only; their folios may go into this CPU's batch */
		c->cpus[e->cpu].lru_held = true;
	switch (e->kind) {
	case REV_TLB_FLUSH:
		return e->u.tlb.reason == REC_TLB_FLUSH_ON_TASK_SWITCH && c->started ? exec_switch(c, e) : 0;
	case REV_SYS_ENTER:
		return on_sys_enter(c, e);
	case REV_SYS_EXIT:
		return on_sys_exit(c, e);
	case REV_FAULT:
		return on_fault(c, e);
	case REV_FORK:
		return on_fork(c, e, final);
	case REV_EXEC:
		return on_exec(c, e, final);
	case REV_EXIT:
		return on_exit_ev(c, e);
	case REV_SWITCH:
		return c->started ? on_switch(c, e) : 0;
	default:
		return 0;
	}
}

/* ---- set-up, header, trailer ---- */

int rec_conv_new(struct rec_conv **out, struct rec_data *d, struct rec_out *o, const struct rec_conv_opts *opts)
{
	struct rec_conv *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->out = o;
	c->o = *opts;
	c->next_task = 1;
	const char *dbg = getenv("PTSIM_RECORD_DEBUG");
	c->debug = dbg && *dbg && strcmp(dbg, "0");
	c->cpus = calloc(opts->si->cpus, sizeof(*c->cpus));
	c->q = calloc(QCAP, sizeof(*c->q));
	c->counts = rec_counts_new(opts->si->cpus, opts->flush_fn, opts->sync_fn);
	if (!c->cpus || !c->counts || !c->q) {
		rec_conv_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static char *command_line(char *const *argv)
{
	size_t n = 1;
	for (char *const *a = argv; *a; a++)
		n += strlen(*a) + 1;
	char *s = malloc(n);
	if (!s)
		return NULL;
	s[0] = 0;
	for (char *const *a = argv; *a; a++) {
		if (a != argv)
			strcat(s, " ");
		strcat(s, *a);
	}
	return s;
}

int rec_conv_header(struct rec_conv *c)
{
	cJSON *h = cJSON_CreateObject();
	cJSON_AddNumberToObject(h, "ptsim_trace", 2);
	cJSON *m = cJSON_AddObjectToObject(h, "machine");
	cJSON_AddStringToObject(m, "arch", "x86_64");
	add_num(m, "cpus", c->o.si->cpus);
	add_num(m, "paging_levels", c->o.si->paging_levels);
	cJSON_AddStringToObject(m, "preset", c->o.si->preset);
	if (c->o.si->hz)   /* jiffies as the kernel counts them (the mm_cpumask trim) */
		add_num(cJSON_AddObjectToObject(m, "set"), "hz", c->o.si->hz);
	char *cmd = command_line(c->o.argv);
	char comment[1024];
	snprintf(comment, sizeof(comment), "recorded by ptsim record: %s (Linux %s; preset %s)", cmd ? cmd : "?",
		 c->o.si->release, c->o.si->preset_why);
	free(cmd);
	cJSON_AddStringToObject(h, "comment", comment);
	char *s = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	if (!s)
		return c->err = -ENOMEM;
	int rc = rec_out_line(c->out, s, strlen(s));
	cJSON_free(s);
	return rc ? (c->err = rc) : 0;
}

static cJSON *figs_json(const struct rec_exit_figs *f)
{
	cJSON *o = cJSON_CreateObject();
	add_num(o, "vmpte_kb", f->vmpte_kb);
	cJSON *rss = cJSON_AddObjectToObject(o, "rss_kb");
	add_num(rss, "anon", f->rss_anon_kb);
	add_num(rss, "file", f->rss_file_kb);
	add_num(rss, "shmem", f->rss_shmem_kb);
	add_num(rss, "swap", f->swap_kb);
	add_num(o, "hugetlb_kb", f->hugetlb_kb);
	add_num(o, "vmhwm_kb", f->vmhwm_kb);
	add_num(o, "vmpeak_kb", f->vmpeak_kb);
	add_num(o, "anon_huge_kb", f->anon_huge_kb);
	return o;
}

static cJSON *counters_json(const struct counters *cs)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < cs->nr; i++)
		add_num(o, cs->v[i].key, cs->v[i].n);
	return o;
}

int rec_conv_finish(struct rec_conv *c, const struct rec_conv_end *end)
{
	int rc = 0;
	for (unsigned int i = 0; i < c->o.si->cpus && !rc; i++)
		rc = c->cpus[i].lru_run ? end_lru_run(c, i) : 0;
	for (unsigned int i = 0; i < c->o.si->cpus && !rc; i++)
		rc = close_switch(c, i);
	for (size_t i = 0; c->debug && i < c->nr_by_id && !rc; i++)
		rc = dbg_real(c, c->by_id[i]);
	if (rc || (rc = qflush(c)))
		return rc;
	while (c->nr_waiting)
		drop_waiting(c, c->waiting[0].task);
	if (c->unknown_events)
		warn(c, "%" PRIu64 " events of tasks the recorder did not know were left out", c->unknown_events);
	if (end->lost)
		warn(c, "the kernel dropped %" PRIu64 " trace events (ring buffer full): this recording is incomplete; "
		     "use a larger --buffer-kb", end->lost);
	if (end->out_of_order)
		warn(c, "%" PRIu64 " trace events arrived after later ones had been converted: their order is "
		     "approximate", end->out_of_order);
	/* Processes still alive (a stopped recording): their figures as read while frozen. */
	for (size_t i = 0; i < c->tasks.cap; i++) {
		const struct ctask *tk = c->tasks.vals[i];
		const struct rec_pidinfo *pi = tk ? pidmap_get(&c->d->pids, tk->pid) : NULL;
		if (pi && pi->exit.valid && !tk->mm->ended)
			tk->mm->figs = pi->exit;
	}
	cJSON *t = cJSON_CreateObject();
	cJSON *r = cJSON_AddObjectToObject(t, "recorded");
	cJSON_AddStringToObject(r, "kernel", c->o.si->release);
	cJSON_AddStringToObject(r, "preset", c->o.si->preset);
	cJSON_AddStringToObject(r, "preset_reason", c->o.si->preset_why);
	cJSON *cmd = cJSON_AddArrayToObject(r, "command");
	for (char *const *a = c->o.argv; *a; a++)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(*a));
	add_num(r, "duration_ns", end->duration_ns);
	cJSON_AddBoolToObject(r, "complete", !end->lost && !end->stopped);
	if (end->stopped)
		cJSON_AddStringToObject(r, "stopped_by", end->stopped);
	if (end->root_reaped) {
		if (WIFEXITED(end->root_status))
			add_num(r, "exit_status", (uint64_t)WEXITSTATUS(end->root_status));
		else if (WIFSIGNALED(end->root_status))
			add_num(r, "killed_by_signal", (uint64_t)WTERMSIG(end->root_status));
	}
	add_num(r, "lost_events", end->lost);
	cJSON *ev = cJSON_AddObjectToObject(r, "events");
	add_num(ev, "ops", c->lines);
	add_num(ev, "touches", c->touches);
	add_num(ev, "faults", c->faults);
	add_num(ev, "faults_retried", c->lost_races);
	add_num(ev, "switch_races", c->switch_races);
	add_num(ev, "switch_orders", c->switch_orders);
	add_num(ev, "waited_faults", c->waited_faults);
	add_num(ev, "missed_switches", c->missed_switches);
	add_num(ev, "unseen_switches", c->unseen_switches);
	add_num(ev, "unseen_other_switches", c->unseen_other);
	add_num(ev, "lru_drains", c->lru_drains);
	add_num(ev, "syscalls", c->syscalls);
	add_num(ev, "context_switches", c->switches);
	if (c->started)
		cJSON_AddStringToObject(r, "counts_start_mark", REC_COUNTS_START_MARK);
	cJSON *procs = cJSON_AddArrayToObject(r, "processes");
	for (size_t i = 0; i < c->nr_mms; i++) {
		const struct cmm *mm = c->mms[i];
		cJSON *p = cJSON_CreateObject();
		add_num(p, "pid", (uint64_t)mm->pid);
		cJSON_AddStringToObject(p, "comm", mm->comm);
		cJSON *tasks = cJSON_AddArrayToObject(p, "tasks");
		for (size_t k = 0; k < mm->nr_tasks; k++)
			cJSON_AddItemToArray(tasks, cJSON_CreateNumber(mm->tasks[k]));
		cJSON_AddStringToObject(p, "ended", mm->ended ? mm->ended : "running");
		if (mm->ended)
			add_num(p, "last_task", (uint64_t)mm->last_task);
		if (mm->mark)
			cJSON_AddStringToObject(p, "mark", mm->mark);
		if (mm->figs.valid)
			cJSON_AddItemToObject(p, "at_end", figs_json(&mm->figs));
		else
			cJSON_AddNullToObject(p, "at_end");
		cJSON_AddItemToArray(procs, p);
	}
	rec_counts_json(c->counts, r);
	cJSON_AddItemToObject(r, "not_replayed", counters_json(&c->not_replayed));
	cJSON_AddItemToObject(r, "ignored", counters_json(&c->ignored));
	cJSON *w = cJSON_AddArrayToObject(r, "warnings");
	for (size_t i = 0; i < c->nr_warnings; i++)
		cJSON_AddItemToArray(w, cJSON_CreateString(c->warnings[i]));
	char *s = cJSON_PrintUnformatted(t);
	cJSON_Delete(t);
	if (!s)
		return c->err = -ENOMEM;
	rc = rec_out_line(c->out, s, strlen(s));
	cJSON_free(s);
	return rc ? (c->err = rc) : 0;
}

void rec_conv_summary(const struct rec_conv *c, uint64_t *events, uint64_t *faults, uint64_t *syscalls,
		      unsigned int *processes, unsigned int *tasks, unsigned int *warnings)
{
	*events = c->lines;
	*faults = c->faults;
	*syscalls = c->syscalls;
	*processes = (unsigned int)c->nr_mms;
	*tasks = (unsigned int)(c->next_task - 1);
	*warnings = (unsigned int)c->nr_warnings;
}

const char *const *rec_conv_warnings(const struct rec_conv *c)
{
	static const char *const none[] = { NULL };
	return c->warnings ? (const char *const *)c->warnings : none;
}

static void task_free_v(void *p)
{
	task_free(p);
}

void rec_conv_free(struct rec_conv *c)
{
	if (!c)
		return;
	pidmap_free(&c->tasks, task_free_v);
	pidmap_free(&c->classes, NULL);
	pidmap_free(&c->dying, NULL);
	for (size_t i = 0; i < c->nr_waiting; i++)
		free(c->waiting[i].s);
	free(c->waiting);
	for (size_t i = 0; i < c->nr_mms; i++) {
		free(c->mms[i]->shm.v);
		free(c->mms[i]->ignored.v);
		free(c->mms[i]->tasks);
		free(c->mms[i]->mark);
		free(c->mms[i]);
	}
	free(c->mms);
	free(c->cpus);
	for (size_t i = 0; i < c->nr_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	for (size_t i = 0; i < c->not_replayed.nr; i++)
		free(c->not_replayed.v[i].key);
	free(c->not_replayed.v);
	for (size_t i = 0; i < c->ignored.nr; i++)
		free(c->ignored.v[i].key);
	free(c->ignored.v);
	rec_counts_free(c->counts);
	for (size_t i = 0; c->q && i < c->q_len; i++) {
		free(c->q[(c->q_head + i) % QCAP].pre);
		free(c->q[(c->q_head + i) % QCAP].mid);
		free(c->q[(c->q_head + i) % QCAP].s);
		free(c->q[(c->q_head + i) % QCAP].post);
	}
	free(c->q);
	free(c->line);
	free(c->fill);
	free(c->by_id);
	free(c);
}
