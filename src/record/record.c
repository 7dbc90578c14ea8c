/*
 * `ptsim record`: the main loop (record.h describes the whole recorder).
 *
 *   checks (root, the command exists, the output can be created)
 *   -> tracefs instances -> the command forked and attached, waiting
 *   -> its pid followed by the task instance, tracing on, header written
 *   -> the command released: it execs
 *   -> loop: handle ptrace stops; read the ring buffers; convert the events
 *      that can no longer be preceded by another; sleep 2 ms when idle
 *   -> every tracee gone (or --duration / SIGINT / SIGTERM: the tracees are
 *      frozen with PTRACE_INTERRUPT and their figures read first)
 *   -> tracing off, the buffers read to the end, the trailer, the file
 *      renamed into place; the instances removed.
 *
 * Any failure before the rename leaves no file: the trace is written to a
 * temporary name (out.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record/convert.h"
#include "record/out.h"
#include "record/record.h"
#include "record/sysinfo.h"
#include "record/tracer.h"
#include "record/tracing.h"

#define DEFAULT_TASK_KB (32u << 10)   /* per CPU: ~600k fault events between two reads */
#define DEFAULT_CPU_KB (8u << 10)
#define PAGES_PER_POLL 256u           /* per ring buffer per round: keeps ptrace stops short */

/* Is @name an executable found in PATH (or a path to one)?  Sets errno. */
static bool find_command(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char buf[4096];
	int err = ENOENT;
	for (const char *p = path; *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? p : ".", name);
		struct stat st;
		if (!stat(buf, &st) && S_ISREG(st.st_mode)) {
			if (!access(buf, X_OK))
				return true;
			err = EACCES;
		}
		p += n + (colon ? 1 : 0);
		if (!colon)
			break;
	}
	errno = err;
	return false;
}

/* PTSIM_RECORD_DUMP=FILE (a developer's aid): every kernel event, merged, as text. */
static void dump_event(FILE *f, const struct rec_ev *e)
{
	static const char *const kinds[] = { "sys_enter", "sys_exit", "fault", "fork", "exec", "exit", "switch",
					     "tlb_flush", "ipi", "csd_queue", "csd_entry", "csd_exit", "lru_add" };
	_Static_assert(sizeof(kinds) / sizeof(kinds[0]) == REV_NR_KINDS, "a name for every event kind");
	fprintf(f, "%llu cpu%u pid%d %s", (unsigned long long)e->ts, e->cpu, e->pid, kinds[e->kind]);
	switch (e->kind) {
	case REV_SYS_ENTER: fprintf(f, " %s %#llx %#llx %#llx", rec_syscall_name(e->u.enter.nr),
				    (unsigned long long)e->u.enter.a[0], (unsigned long long)e->u.enter.a[1],
				    (unsigned long long)e->u.enter.a[2]); break;
	case REV_SYS_EXIT: fprintf(f, " %s %lld", rec_syscall_name(e->u.exit_.nr), (long long)e->u.exit_.ret); break;
	case REV_FAULT: fprintf(f, " %#llx err %#llx%s", (unsigned long long)e->u.fault.addr,
				(unsigned long long)e->u.fault.error, e->kernel ? " kernel" : ""); break;
	case REV_FORK: fprintf(f, " %d -> %d", e->u.fork.parent, e->u.fork.child); break;
	case REV_EXEC: fprintf(f, " %d (was %d)", e->u.exec.pid, e->u.exec.old_pid); break;
	case REV_EXIT: fprintf(f, " %d", e->u.exit.pid); break;
	case REV_SWITCH: fprintf(f, " %d (%s) -> %d %s state %lld", e->u.sw.prev, e->u.sw.prev_comm, e->u.sw.next,
				 e->u.sw.next_comm, (long long)e->u.sw.prev_state); break;
	case REV_LRU_ADD: break;
	case REV_TLB_FLUSH: fprintf(f, " reason %d pages %lld", e->u.tlb.reason, (long long)e->u.tlb.pages); break;
	case REV_IPI: fprintf(f, " targets %u first %u cb %#llx", e->u.ipi.targets, e->u.ipi.first,
			      (unsigned long long)e->u.ipi.callback); break;
	case REV_CSD_QUEUE: fprintf(f, " to %u func %#llx csd %#llx", e->u.csdq.target, (unsigned long long)e->u.csdq.func,
				    (unsigned long long)e->u.csdq.csd); break;
	default: fprintf(f, " func %#llx csd %#llx", (unsigned long long)e->u.csdf.func,
			 (unsigned long long)e->u.csdf.csd); break;
	}
	fputc('\n', f);
}

/* Convert every event that is ready; stop at one that must wait for ptrace. */
static int drain(struct rec_tracing *tr, struct rec_conv *conv, bool final, uint64_t *waited_since, FILE *dump)
{
	const struct rec_ev *e;

	while ((e = rec_tracing_peek(tr, final))) {
		int rc = rec_conv_event(conv, e, false);
		if (rc == REC_CONV_WAIT) {
			/* The tracee's stop normally follows within microseconds; never wait forever. */
			uint64_t now = rec_now_ns();
			if (!*waited_since)
				*waited_since = now;
			if (!final && now - *waited_since < 2000000000ull)
				return 0;
			rc = rec_conv_event(conv, e, true);
		}
		*waited_since = 0;
		if (rc < 0)
			return rc;
		if (dump)
			dump_event(dump, e);
		rec_tracing_pop(tr);
	}
	return 0;
}

/*
 * --recorder-cpu: the recorder runs on that CPU only, from after the
 * program's fork on (the program keeps the affinity it was started with).
 * Its wake-ups are context switches to another process; kept on one CPU,
 * they leave the others' lazily held mms as the program left them.
 */
static int pin_self(unsigned int cpu, char *err, size_t errlen)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		int e = errno;
		snprintf(err, errlen, "--recorder-cpu %u: cannot run there: %s", cpu,
			 e == EINVAL ? "not an online CPU this process may use" : strerror(e));
		return -e;
	}
	return 0;
}

int rec_record(const struct rec_options *o, struct rec_summary *sum, char *err, size_t errlen)
{
	struct rec_sysinfo si;
	struct rec_data data;
	struct rec_tracing *tr = NULL;
	struct rec_tracer *tracer = NULL;
	struct rec_out *out = NULL;
	struct rec_conv *conv = NULL;
	int status = REC_EXIT_USAGE, rc, sfd = -1;
	FILE *dump = NULL;
	pid_t pid = 0;
	sigset_t mask, old;

	memset(sum, 0, sizeof(*sum));
	memset(&data, 0, sizeof(data));
	if (!o->argv || !o->argv[0]) {
		snprintf(err, errlen, "no command given");
		return REC_EXIT_USAGE;
	}
	if (geteuid() != 0) {
		snprintf(err, errlen, "ptsim record needs root: it traces the kernel through tracefs and follows the "
			 "program with ptrace (run it with sudo)");
		return REC_EXIT_USAGE;
	}
	if (!find_command(o->argv[0])) {
		snprintf(err, errlen, "cannot run '%s': %s", o->argv[0],
			 errno == ENOENT ? "command not found" : strerror(errno));
		return REC_EXIT_USAGE;
	}
	if (rec_sysinfo_get(&si, err, errlen))
		return REC_EXIT_USAGE;
	snprintf(sum->preset, sizeof(sum->preset), "%s", si.preset);
	if (o->pin_recorder && o->recorder_cpu >= si.cpus) {
		snprintf(err, errlen, "--recorder-cpu %u: no such CPU (this machine has CPUs 0 to %u)", o->recorder_cpu,
			 si.cpus - 1);
		return REC_EXIT_USAGE;
	}

	/* Signals are read from a signalfd: no handler, no global flag. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	if ((rc = rec_out_open(&out, o->output, err, errlen))) {
		status = rc == -ENOMEM ? REC_EXIT_INTERNAL : REC_EXIT_USAGE;
		goto done;
	}
	char name[64];
	if (o->instance)
		snprintf(name, sizeof(name), "%s", o->instance);
	else
		snprintf(name, sizeof(name), "ptsim_record_%d", (int)getpid());
	struct rec_tracing_opts to = {
		.tracefs_dir = o->tracefs_dir,
		.name = name,
		.task_kb = o->task_buffer_kb ? o->task_buffer_kb : DEFAULT_TASK_KB,
		.cpu_kb = o->cpu_buffer_kb ? o->cpu_buffer_kb : DEFAULT_CPU_KB,
		.cpus = si.cpus,
		.user_top = si.paging_levels == 5 ? 1ull << 56 : 1ull << 47,
	};
	if ((rc = rec_tracing_open(&tr, &to, err, errlen))) {
		status = rc == -ENOMEM ? REC_EXIT_INTERNAL : REC_EXIT_USAGE;
		goto done;
	}
	if ((rc = rec_tracer_spawn(&tracer, &data, o->argv, &pid, err, errlen)))
		goto done;
	if (o->pin_recorder && pin_self(o->recorder_cpu, err, errlen)) {
		rec_tracer_kill_all(tracer);
		goto done;
	}
	if (rec_tracing_add_pid(tr, pid, err, errlen) || rec_tracing_start(tr, err, errlen)) {
		rec_tracer_kill_all(tracer);
		goto done;
	}
	struct rec_conv_opts co = {
		.si = &si,
		.argv = o->argv,
		.root = pid,
		.flush_fn = rec_tracing_ksym(tr, "flush_tlb_func"),
		.sync_fn = rec_tracing_ksym(tr, "tlb_remove_table_smp_sync"),
		.allow_thp = o->allow_thp,
		.quiet = o->quiet,
	};
	if (rec_conv_new(&conv, &data, out, &co) || rec_conv_header(conv)) {
		snprintf(err, errlen, "out of memory");
		status = REC_EXIT_INTERNAL;
		rec_tracer_kill_all(tracer);
		goto done;
	}
	uint64_t t0 = rec_now_ns();
	if ((rc = rec_tracer_release(tracer, err, errlen))) {
		char msg[256];
		snprintf(msg, sizeof(msg), "cannot run '%s': %s", o->argv[0], err);
		snprintf(err, errlen, "%s", msg);
		goto done;
	}

	const char *stopped = NULL;
	uint64_t waited = 0;
	const char *dump_path = getenv("PTSIM_RECORD_DUMP");
	dump = dump_path && *dump_path ? fopen(dump_path, "w") : NULL;
	for (;;) {
		int a = rec_tracer_step(tracer, false);
		int b = rec_tracing_poll(tr, PAGES_PER_POLL);
		if (a < 0 || b < 0) {
			snprintf(err, errlen, "%s", strerror(-(a < 0 ? a : b)));
			status = REC_EXIT_INTERNAL;
			rec_tracer_kill_all(tracer);
			goto done;
		}
		if ((rc = drain(tr, conv, false, &waited, dump)) < 0) {
			snprintf(err, errlen, "cannot write %s: %s", o->output, strerror(-rc));
			status = REC_EXIT_INTERNAL;
			rec_tracer_kill_all(tracer);
			goto done;
		}
		if (rec_tracer_done(tracer))
			break;
		struct signalfd_siginfo ssi;
		while (sfd >= 0 && read(sfd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi))
			if (ssi.ssi_signo == SIGINT || ssi.ssi_signo == SIGTERM)
				stopped = "signal";
		if (!stopped && o->duration_s > 0 && (double)(rec_now_ns() - t0) / 1e9 >= o->duration_s)
			stopped = "duration";
		if (stopped)
			break;
		if (!a && !b) {
			/*
			 * Nothing to do: sleep until a tracee stops (SIGCHLD) or 10 ms pass.
			 * Each wake-up takes a CPU from the program (a context switch the
			 * trace shows); 10 ms of events fit the ring buffers many times over.
			 */
			struct pollfd pfd = { .fd = sfd, .events = POLLIN };
			poll(&pfd, sfd >= 0 ? 1 : 0, 10);
		}
	}
	if (stopped) {
		rec_tracer_freeze(tracer);
		rec_tracer_read_live(tracer);
	}
	rec_tracing_stop(tr);
	uint64_t t1 = rec_now_ns();
	/* Everything committed before tracing stopped: read until the buffers are empty. */
	while ((rc = rec_tracing_poll(tr, PAGES_PER_POLL)) > 0)
		;
	if (rc < 0 || (rc = drain(tr, conv, true, &waited, dump)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", o->output, strerror(-rc));
		status = REC_EXIT_INTERNAL;
		rec_tracer_kill_all(tracer);
		goto done;
	}
	if (stopped)
		rec_tracer_kill_all(tracer);
	struct rec_conv_end end = {
		.lost = rec_tracing_lost(tr),
		.out_of_order = rec_tracing_out_of_order(tr),
		.stopped = stopped,
		.duration_ns = t1 - t0,
	};
	end.root_reaped = rec_tracer_root_status(tracer, &end.root_status);
	if ((rc = rec_conv_finish(conv, &end))) {
		snprintf(err, errlen, "cannot write %s: %s", o->output, strerror(-rc));
		status = REC_EXIT_INTERNAL;
		goto done;
	}
	rc = rec_out_commit(out, err, errlen);
	out = NULL;
	if (rc) {
		status = REC_EXIT_INTERNAL;
		goto done;
	}
	rec_conv_summary(conv, &sum->events, &sum->faults, &sum->syscalls, &sum->processes, &sum->tasks,
			 &sum->warnings);
	sum->lost_events = end.lost;
	sum->stopped = stopped != NULL;
	sum->status = end.root_status;
	status = REC_EXIT_OK;
done:
	if (dump)
		fclose(dump);
	rec_out_abort(out);
	rec_conv_free(conv);
	rec_tracer_free(tracer);
	rec_tracing_close(tr);
	rec_data_free(&data);
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return status;
}
