/*
 * Kernel events of a recording: two private tracefs instances, read raw.
 *
 * "<name>_tasks" is filtered to the recorded tasks (set_event_pid with the
 * event-fork option, so descendants join as they are forked): the memory
 * system calls (syscalls:sys_enter_X / sys_exit_X for the calls listed in
 * rec_syscalls[]), exceptions:page_fault_user and page_fault_kernel (below
 * the top of user space: a copy_to_user() into memory not yet faulted in),
 * sched_process_fork/exec/exit.
 *
 * "<name>_cpus" sees the whole machine: sched_switch (which CPU runs what:
 * a CPU leaves a recorded mm when it switches to another process, also
 * after idling), tlb:tlb_flush (all of them: a switch that flushes nothing
 * traces reason "flush on task switch" with 0 pages, and inside a flush call
 * that is a lazy CPU's switch to init_mm, not a call that did nothing),
 * ipi:ipi_send_cpu/_cpumask and csd:csd_queue_cpu/function_entry/
 * function_exit: the remote side of a flush runs in whatever task is current
 * there, so these cannot be filtered by pid; counts.c attributes them.  Also
 * pagemap:mm_lru_insertion, unfiltered: every process on a CPU fills and
 * drains that CPU's LRU add batch (convert.c, lru_add_drain_cpu).
 *
 * Both use the "mono" trace clock, so timestamps of all CPUs and both
 * instances are comparable with each other and with CLOCK_MONOTONIC.
 *
 * Reading: each (instance, CPU) ring buffer is a stream, read a sub-buffer
 * at a time without blocking (tracefs_cpu_read()) and decoded with kbuffer
 * into a queue of struct rec_ev.  The merge hands out the earliest queued
 * event only when no stream can still deliver an earlier one: a stream with
 * an empty queue was found empty at some time T, so everything it will still
 * deliver has a timestamp after T - REC_SLACK_NS (an event is committed
 * within microseconds of taking its timestamp; the slack covers that).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <tracefs/tracefs.h>
#include <traceevent/event-parse.h>
#include <traceevent/kbuffer.h>

#include "record/grow.h"
#include "record/tracing.h"

#define REC_SLACK_NS 2000000ull   /* 2 ms: commit delay allowed across CPUs */

/* ---- the system calls followed (x86-64 numbers) ---- */

struct rec_syscall {
	int nr;
	const char *name;
};

static const struct rec_syscall rec_syscalls[] = {
	{ 9, "mmap" }, { 10, "mprotect" }, { 11, "munmap" }, { 12, "brk" },
	{ 25, "mremap" }, { 28, "madvise" }, { 30, "shmat" }, { 67, "shmdt" },
	{ 59, "execve" }, { 322, "execveat" },
	{ 149, "mlock" }, { 150, "munlock" }, { 151, "mlockall" }, { 152, "munlockall" }, { 325, "mlock2" },
	{ 329, "pkey_mprotect" }, { 440, "process_madvise" }, { 216, "remap_file_pages" },
	{ 323, "userfaultfd" }, { 427, "io_uring_register" }, { 237, "mbind" }, { 256, "migrate_pages" },
	{ 279, "move_pages" }, { 447, "memfd_secret" }, { 453, "map_shadow_stack" }, { 462, "mseal" },
};
#define NR_REC_SYSCALLS (sizeof(rec_syscalls) / sizeof(rec_syscalls[0]))

const char *rec_syscall_name(int nr)
{
	for (size_t i = 0; i < NR_REC_SYSCALLS; i++)
		if (rec_syscalls[i].nr == nr)
			return rec_syscalls[i].name;
	return "?";
}

/*
 * The other events: instance (0 tasks, 1 cpus), what they decode to, the
 * fields read in order, a kernel-side filter.  tlb:tlb_flush has none: a
 * filter dropping switches that flush nothing (reason 0, 0 pages) also
 * dropped the one event of a flush call that met a lazy CPU whose init_mm
 * ASID was current (flush_tlb_func() -> switch_mm_irqs_off(init_mm) without a
 * flush), so such calls were counted as finding nothing to do.
 */
struct rec_event {
	int inst;
	const char *sys, *ev;
	int kind;
	const char *fields;
	const char *filter;   /* "user": only addresses below the top of user space */
};

static const struct rec_event rec_events[] = {
	{ 0, "exceptions", "page_fault_user", REV_FAULT, "address error_code", NULL },
	{ 0, "exceptions", "page_fault_kernel", REV_FAULT, "address error_code", "user" },
	{ 0, "sched", "sched_process_fork", REV_FORK, "parent_pid child_pid", NULL },
	{ 0, "sched", "sched_process_exec", REV_EXEC, "pid old_pid", NULL },
	{ 0, "sched", "sched_process_exit", REV_EXIT, "pid", NULL },
	{ 1, "sched", "sched_switch", REV_SWITCH, "prev_pid next_pid prev_state next_comm prev_comm", NULL },
	{ 1, "tlb", "tlb_flush", REV_TLB_FLUSH, "reason pages", NULL },
	{ 1, "ipi", "ipi_send_cpu", REV_IPI, "cpu callback", NULL },
	{ 1, "ipi", "ipi_send_cpumask", REV_IPI, "cpumask callback", NULL },
	{ 1, "csd", "csd_queue_cpu", REV_CSD_QUEUE, "cpu func csd", NULL },
	{ 1, "csd", "csd_function_entry", REV_CSD_ENTRY, "func csd", NULL },
	{ 1, "csd", "csd_function_exit", REV_CSD_EXIT, "func csd", NULL },
	{ 1, "pagemap", "mm_lru_insertion", REV_LRU_ADD, NULL, NULL },
};
#define NR_REC_EVENTS (sizeof(rec_events) / sizeof(rec_events[0]))

/* ---- decoding ---- */

struct field {
	int offset, size;
};

struct decoder {
	uint8_t kind;
	uint8_t kernel;          /* page_fault_kernel */
	uint8_t mask;            /* ipi_send_cpumask */
	int nr;                  /* syscall number */
	int nargs;
	struct field f[8];
};

struct stream {
	struct tracefs_cpu *tcpu;
	struct kbuffer *kbuf;
	void *page;
	int cpu;
	uint64_t horizon;        /* no event still to come is older than this */
	bool dry;                /* last read found it empty */
	struct rec_ev *q;
	size_t head, len, cap;
};

struct ksym {
	const char *name;
	uint64_t addr;
};

struct rec_tracing {
	struct tracefs_instance *inst[2];   /* [0] tasks, [1] cpus */
	char *name[2];
	struct tep_handle *tep;
	struct decoder **dec;               /* by event id */
	size_t nr_dec;
	struct stream *streams;
	size_t nr_streams;
	int page_size;
	uint64_t lost, out_of_order, last_ts;
	bool started, stopped;
	uint64_t user_top;
	struct ksym ksyms[8];
	int common_pid_off, common_type_off;
};

uint64_t rec_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rd(const void *data, struct field f)
{
	const unsigned char *p = (const unsigned char *)data + f.offset;
	switch (f.size) {
	case 1: return *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

static int64_t rds(const void *data, struct field f)
{
	uint64_t v = rd(data, f);
	if (f.size == 4)
		return (int32_t)v;
	if (f.size == 2)
		return (int16_t)v;
	return (int64_t)v;
}

static int find_field(struct tep_event *e, const char *name, struct field *out)
{
	struct tep_format_field *f = tep_find_any_field(e, name);
	if (!f)
		return -1;
	out->offset = f->offset;
	out->size = f->size;
	return 0;
}

/* ---- set-up ---- */

static int tw(struct tracefs_instance *inst, const char *file, const char *val)
{
	return tracefs_instance_file_write(inst, file, val) < 0 ? -1 : 0;
}

static void load_ksyms(struct rec_tracing *t)
{
	static const char *const names[] = { "flush_tlb_func", "tlb_remove_table_smp_sync", "sched_ttwu_pending",
					     "generic_smp_call_function_single_interrupt", "do_flush_tlb_all",
					     "do_kernel_range_flush", NULL };
	for (int i = 0; names[i]; i++)
		t->ksyms[i].name = names[i];
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *sp1 = strchr(line, ' ');
		if (!sp1 || !sp1[1] || sp1[2] != ' ')
			continue;
		char *name = sp1 + 3;
		name[strcspn(name, " \t\n")] = 0;
		for (int i = 0; names[i]; i++)
			if (!t->ksyms[i].addr && !strcmp(name, names[i]))
				t->ksyms[i].addr = strtoull(line, NULL, 16);
	}
	fclose(f);
}

uint64_t rec_tracing_ksym(const struct rec_tracing *t, const char *name)
{
	for (int i = 0; i < 8 && t->ksyms[i].name; i++)
		if (!strcmp(t->ksyms[i].name, name))
			return t->ksyms[i].addr;
	return 0;
}

static int add_decoder(struct rec_tracing *t, struct tep_event *e, struct decoder *d)
{
	if (rec_reserve_zeroed(t->dec, t->nr_dec, (size_t)e->id + 1, 64))
		return -ENOMEM;
	struct decoder *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = *d;
	t->dec[e->id] = c;
	return 0;
}

/*
 * Enable @sys:@ev in instance @i and build its decoder from the fields named
 * in @fields (space-separated; for syscalls: every argument in order).
 * Return: 0, 1 if the kernel has no such event, <0 on error.
 */
static int enable_event(struct rec_tracing *t, int i, const char *sys, const char *ev, int kind,
			const char *fields, const char *filter, char *err, size_t errlen)
{
	struct tep_event *e = tep_find_event_by_name(t->tep, sys, ev);
	struct decoder d;

	if (!e)
		return 1;
	memset(&d, 0, sizeof(d));
	d.kind = (uint8_t)kind;
	if (kind == REV_SYS_ENTER || kind == REV_SYS_EXIT) {
		struct field nr;
		if (find_field(e, "__syscall_nr", &nr))
			return 1;
		/* The arguments follow __syscall_nr in declaration order. */
		for (struct tep_format_field *f = e->format.fields; f && d.nargs < 8; f = f->next) {
			if (!strcmp(f->name, "__syscall_nr"))
				continue;
			d.f[d.nargs].offset = f->offset;
			d.f[d.nargs].size = f->size;
			d.nargs++;
		}
		d.nr = -1;
	} else if (fields) {
		char buf[256], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", fields);
		for (char *n = strtok_r(buf, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
			if (find_field(e, n, &d.f[d.nargs])) {
				snprintf(err, errlen, "tracefs: event %s:%s has no field '%s' (an unexpected kernel version)",
					 sys, ev, n);
				return -EINVAL;
			}
			d.nargs++;
		}
	}
	d.kernel = !strcmp(ev, "page_fault_kernel");
	d.mask = !strcmp(ev, "ipi_send_cpumask");
	int rc = add_decoder(t, e, &d);
	if (rc)
		return rc;
	if (filter && tracefs_event_file_write(t->inst[i], sys, ev, "filter", filter) < 0) {
		snprintf(err, errlen, "tracefs: cannot set the filter of %s:%s: %s", sys, ev, strerror(errno));
		return -EINVAL;
	}
	if (tracefs_event_enable(t->inst[i], sys, ev)) {
		snprintf(err, errlen, "tracefs: cannot enable %s:%s: %s", sys, ev, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

static int setup_syscalls(struct rec_tracing *t, char *err, size_t errlen)
{
	char ev[64];

	for (size_t k = 0; k < NR_REC_SYSCALLS; k++) {
		for (int dir = 0; dir < 2; dir++) {
			snprintf(ev, sizeof(ev), "sys_%s_%s", dir ? "exit" : "enter", rec_syscalls[k].name);
			struct tep_event *e = tep_find_event_by_name(t->tep, "syscalls", ev);
			int rc = enable_event(t, 0, "syscalls", ev, dir ? REV_SYS_EXIT : REV_SYS_ENTER, NULL, NULL, err,
					      errlen);
			if (rc < 0)
				return rc;
			if (rc == 0)
				t->dec[e->id]->nr = rec_syscalls[k].nr;
			else if (k < 8) {   /* the core calls must be there */
				snprintf(err, errlen, "tracefs: the kernel has no syscalls:%s event (CONFIG_FTRACE_SYSCALLS)",
					 ev);
				return -ENOENT;
			}
		}
	}
	return 0;
}

static int open_streams(struct rec_tracing *t, unsigned int cpus, char *err, size_t errlen)
{
	t->streams = calloc((size_t)cpus * 2, sizeof(*t->streams));
	if (!t->streams)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		for (unsigned int c = 0; c < cpus; c++) {
			struct stream *s = &t->streams[t->nr_streams];
			s->cpu = (int)c;
			s->tcpu = tracefs_cpu_open(t->inst[i], (int)c, true);
			if (!s->tcpu) {
				if (errno == ENOENT || errno == ENODEV)
					continue;   /* an offline CPU */
				snprintf(err, errlen, "tracefs: cannot open the ring buffer of CPU %u: %s", c, strerror(errno));
				return -EINVAL;
			}
			if (!t->page_size)
				t->page_size = tracefs_cpu_read_size(s->tcpu);
			s->page = malloc((size_t)t->page_size);
			s->kbuf = tep_kbuffer(t->tep);
			if (!s->page || !s->kbuf)
				return -ENOMEM;
			t->nr_streams++;
		}
	}
	return 0;
}

/*
 * The event formats of just the events used (some sixty of the machine's
 * thousands: parsing them all takes most of a second, and far longer under
 * a sanitizer), with the ring buffer's header page layout.
 */
static struct tep_handle *load_formats(char *err, size_t errlen)
{
	struct tep_handle *tep = tep_alloc();
	int size = 0;
	char ev[64];

	if (!tep)
		goto oom;
	tep_set_file_bigendian(tep, tep_is_bigendian() ? TEP_BIG_ENDIAN : TEP_LITTLE_ENDIAN);
	tep_set_local_bigendian(tep, tep_is_bigendian() ? TEP_BIG_ENDIAN : TEP_LITTLE_ENDIAN);
	tep_set_long_size(tep, (int)sizeof(long));
	tep_set_page_size(tep, (int)sysconf(_SC_PAGESIZE));
	char *hdr = tracefs_instance_file_read(NULL, "events/header_page", &size);
	if (!hdr || tep_parse_header_page(tep, hdr, (unsigned long)size, (int)sizeof(long))) {
		free(hdr);
		snprintf(err, errlen, "tracefs: cannot read events/header_page");
		tep_free(tep);
		return NULL;
	}
	free(hdr);
	for (size_t k = 0; k < NR_REC_EVENTS + 2 * NR_REC_SYSCALLS; k++) {
		const char *sys, *name;
		if (k < NR_REC_EVENTS) {
			sys = rec_events[k].sys;
			name = rec_events[k].ev;
		} else {
			size_t j = k - NR_REC_EVENTS;
			snprintf(ev, sizeof(ev), "sys_%s_%s", j & 1 ? "exit" : "enter", rec_syscalls[j / 2].name);
			sys = "syscalls";
			name = ev;
		}
		char *fmt = tracefs_event_file_read(NULL, sys, name, "format", &size);
		if (!fmt)
			continue;   /* an event this kernel lacks: enable_event() says whether that matters */
		enum tep_errno e = tep_parse_event(tep, fmt, (unsigned long)size, sys);
		free(fmt);
		if (e) {
			snprintf(err, errlen, "tracefs: cannot parse the format of %s:%s", sys, name);
			tep_free(tep);
			return NULL;
		}
	}
	return tep;
oom:
	snprintf(err, errlen, "out of memory");
	return NULL;
}

int rec_tracing_open(struct rec_tracing **out, const struct rec_tracing_opts *o, char *err, size_t errlen)
{
	struct rec_tracing *t = calloc(1, sizeof(*t));
	const char *dir = NULL;
	int rc = -EINVAL;
	char buf[64];

	*out = NULL;
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->user_top = o->user_top;
	if (o->tracefs_dir) {
		struct stat st;
		if (stat(o->tracefs_dir, &st) || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "tracefs: %s is not a directory", o->tracefs_dir);
			goto fail;
		}
		dir = o->tracefs_dir;
	} else {
		/* Found (or mounted) here rather than by libtracefs, whose lookup keeps a copy it never frees. */
		struct statfs sf;
		dir = "/sys/kernel/tracing";
		if ((statfs(dir, &sf) || (unsigned long)sf.f_type != TRACEFS_MAGIC) &&
		    mount("nodev", dir, "tracefs", 0, NULL)) {
			snprintf(err, errlen, "tracefs is not mounted at %s and cannot be mounted there (%s): tracefs "
				 "unavailable (a kernel without CONFIG_TRACING?)", dir, strerror(errno));
			goto fail;
		}
	}
	tracefs_set_tracing_dir((char *)dir);
	char path[4096];
	snprintf(path, sizeof(path), "%s/instances", dir);
	if (access(path, W_OK)) {
		snprintf(err, errlen, "tracefs at %s has no writable instances directory (%s): tracefs unavailable",
			 dir, strerror(errno));
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(o->name) + 8;
		t->name[i] = malloc(n);
		if (!t->name[i]) {
			rc = -ENOMEM;
			goto oom;
		}
		snprintf(t->name[i], n, "%s_%s", o->name, i ? "cpus" : "tasks");
		if (tracefs_instance_exists(t->name[i])) {
			snprintf(err, errlen, "tracefs busy: the instance %s/instances/%s exists already (another recording? "
				 "if not, remove it with rmdir)", dir, t->name[i]);
			goto fail;
		}
		t->inst[i] = tracefs_instance_create(t->name[i]);
		if (!t->inst[i]) {
			snprintf(err, errlen, "tracefs busy: cannot create the instance %s: %s", t->name[i], strerror(errno));
			goto fail;
		}
		if (!tracefs_instance_is_new(t->inst[i])) {
			snprintf(err, errlen, "tracefs busy: the instance %s was created by someone else meanwhile",
				 t->name[i]);
			tracefs_instance_free(t->inst[i]);
			t->inst[i] = NULL;
			goto fail;
		}
		tracefs_trace_off(t->inst[i]);
		snprintf(buf, sizeof(buf), "%u", i ? o->cpu_kb : o->task_kb);
		if (tw(t->inst[i], "buffer_size_kb", buf)) {
			snprintf(err, errlen, "tracefs: cannot get %s kB of ring buffer per CPU for %s: %s", buf, t->name[i],
				 strerror(errno));
			goto fail;
		}
		if (tw(t->inst[i], "trace_clock", "mono")) {
			snprintf(err, errlen, "tracefs: the kernel has no 'mono' trace clock");
			goto fail;
		}
	}
	if (tracefs_option_enable(t->inst[0], TRACEFS_OPTION_EVENT_FORK)) {
		snprintf(err, errlen, "tracefs: cannot set the event-fork option");
		goto fail;
	}
	if (!(t->tep = load_formats(err, errlen))) {
		rc = -EINVAL;
		goto fail_rc;
	}
	struct tep_event *sw = tep_find_event_by_name(t->tep, "sched", "sched_switch");
	struct field f;
	if (!sw || find_field(sw, "common_pid", &f)) {
		snprintf(err, errlen, "tracefs: no sched:sched_switch event");
		goto fail;
	}
	t->common_pid_off = f.offset;
	find_field(sw, "common_type", &f);
	t->common_type_off = f.offset;

	if ((rc = setup_syscalls(t, err, errlen)))
		goto fail_rc;
	char filt[64];
	snprintf(filt, sizeof(filt), "address < 0x%" PRIx64, o->user_top);
	for (size_t k = 0; k < NR_REC_EVENTS; k++) {
		const struct rec_event *ev = &rec_events[k];
		rc = enable_event(t, ev->inst, ev->sys, ev->ev, ev->kind, ev->fields, ev->filter && !strcmp(ev->filter, "user") ? filt : ev->filter, err,
				  errlen);
		if (rc == 1) {
			snprintf(err, errlen, "tracefs: the kernel has no %s:%s event", ev->sys, ev->ev);
			rc = -ENOENT;
		}
		if (rc < 0)
			goto fail_rc;
	}
	load_ksyms(t);
	if (!rec_tracing_ksym(t, "flush_tlb_func")) {
		snprintf(err, errlen, "/proc/kallsyms does not show flush_tlb_func (kptr_restrict?): the flush IPIs "
			 "cannot be told from other cross-CPU calls");
		rc = -EINVAL;
		goto fail_rc;
	}
	if ((rc = open_streams(t, o->cpus, err, errlen)))
		goto fail_rc;
	*out = t;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail_rc:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
fail:
	rec_tracing_close(t);
	return rc < 0 ? rc : -EINVAL;
}

int rec_tracing_add_pid(struct rec_tracing *t, pid_t pid, char *err, size_t errlen)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	if (tracefs_instance_file_append(t->inst[0], "set_event_pid", buf) < 0) {
		snprintf(err, errlen, "tracefs: cannot add pid %d to set_event_pid: %s", (int)pid, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

int rec_tracing_start(struct rec_tracing *t, char *err, size_t errlen)
{
	uint64_t now = rec_now_ns();
	for (size_t s = 0; s < t->nr_streams; s++)
		t->streams[s].horizon = now;
	for (int i = 0; i < 2; i++)
		if (tracefs_trace_on(t->inst[i])) {
			snprintf(err, errlen, "tracefs: cannot turn tracing on in %s: %s", t->name[i], strerror(errno));
			return -EINVAL;
		}
	t->started = true;
	return 0;
}

void rec_tracing_stop(struct rec_tracing *t)
{
	for (int i = 0; i < 2; i++)
		if (t->inst[i])
			tracefs_trace_off(t->inst[i]);
	t->stopped = true;
}

/* ---- reading ---- */

static struct rec_ev *push(struct stream *s)
{
	if (s->head && s->head == s->len)
		s->head = s->len = 0;
	if (s->len == s->cap) {
		if (s->head > s->cap / 2) {
			memmove(s->q, s->q + s->head, (s->len - s->head) * sizeof(*s->q));
			s->len -= s->head;
			s->head = 0;
		} else if (rec_reserve(s->q, s->cap, s->len + 1, 4096)) {
			return NULL;
		}
	}
	return &s->q[s->len++];
}

static uint32_t popcount_bytes(const unsigned char *p, unsigned int n, uint32_t *first)
{
	uint32_t c = 0;
	*first = UINT32_MAX;
	for (unsigned int i = 0; i < n; i++)
		for (int b = 0; b < 8; b++)
			if (p[i] >> b & 1) {
				if (*first == UINT32_MAX)
					*first = i * 8 + (unsigned int)b;
				c++;
			}
	return c;
}

static int decode(struct rec_tracing *t, struct stream *s, const void *data, unsigned long long ts)
{
	uint16_t type;
	memcpy(&type, (const char *)data + t->common_type_off, 2);
	if (type >= t->nr_dec || !t->dec[type])
		return 0;   /* not ours (e.g. a lost-events marker) */
	const struct decoder *d = t->dec[type];
	struct rec_ev *e = push(s);
	if (!e)
		return -ENOMEM;
	memset(e, 0, offsetof(struct rec_ev, u));
	e->ts = ts;
	if (ts < t->last_ts)
		t->out_of_order++;
	int32_t pid;
	memcpy(&pid, (const char *)data + t->common_pid_off, 4);
	e->pid = pid;
	e->cpu = (uint16_t)s->cpu;
	e->kind = d->kind;
	switch (d->kind) {
	case REV_SYS_ENTER:
		e->u.enter.nr = d->nr;
		for (int i = 0; i < 6; i++)
			e->u.enter.a[i] = i < d->nargs ? rd(data, d->f[i]) : 0;
		break;
	case REV_SYS_EXIT:
		e->u.exit_.nr = d->nr;
		e->u.exit_.ret = d->nargs ? rds(data, d->f[0]) : 0;
		break;
	case REV_FAULT:
		e->kernel = d->kernel;
		e->u.fault.addr = rd(data, d->f[0]);
		e->u.fault.error = rd(data, d->f[1]);
		break;
	case REV_FORK:
		e->u.fork.parent = (int32_t)rds(data, d->f[0]);
		e->u.fork.child = (int32_t)rds(data, d->f[1]);
		break;
	case REV_EXEC:
		e->u.exec.pid = (int32_t)rds(data, d->f[0]);
		e->u.exec.old_pid = (int32_t)rds(data, d->f[1]);
		break;
	case REV_EXIT:
		e->u.exit.pid = (int32_t)rds(data, d->f[0]);
		break;
	case REV_SWITCH:
		e->u.sw.prev = (int32_t)rds(data, d->f[0]);
		e->u.sw.next = (int32_t)rds(data, d->f[1]);
		e->u.sw.prev_state = rds(data, d->f[2]);
		memcpy(e->u.sw.next_comm, (const char *)data + d->f[3].offset, 15);
		e->u.sw.next_comm[15] = 0;
		memcpy(e->u.sw.prev_comm, (const char *)data + d->f[4].offset, 15);
		e->u.sw.prev_comm[15] = 0;
		break;
	case REV_TLB_FLUSH:
		e->u.tlb.reason = (int32_t)rds(data, d->f[0]);
		e->u.tlb.pages = rd(data, d->f[1]);
		break;
	case REV_IPI:
		e->u.ipi.callback = rd(data, d->f[1]);
		if (d->mask) {
			/* __data_loc: low 16 bits offset, high 16 bits length. */
			uint32_t loc = (uint32_t)rd(data, d->f[0]);
			e->u.ipi.targets = popcount_bytes((const unsigned char *)data + (loc & 0xffff), loc >> 16,
							  &e->u.ipi.first);
		} else {
			e->u.ipi.targets = 1;
			e->u.ipi.first = (uint32_t)rd(data, d->f[0]);
		}
		break;
	case REV_CSD_QUEUE:
		e->u.csdq.target = (uint32_t)rd(data, d->f[0]);
		e->u.csdq.func = rd(data, d->f[1]);
		e->u.csdq.csd = rd(data, d->f[2]);
		break;
	case REV_CSD_ENTRY:
	case REV_CSD_EXIT:
		e->u.csdf.func = rd(data, d->f[0]);
		e->u.csdf.csd = rd(data, d->f[1]);
		break;
	}
	return 0;
}

static int read_page(struct rec_tracing *t, struct stream *s)
{
	int n = tracefs_cpu_read(s->tcpu, s->page, true);
	if (n <= 0)
		return n < 0 && errno != EAGAIN && errno != EINTR ? -errno : 0;
	if (kbuffer_load_subbuffer(s->kbuf, s->page) < 0)
		return 0;
	int missed = kbuffer_missed_events(s->kbuf);
	if (missed)
		t->lost += missed > 0 ? (uint64_t)missed : 1;
	unsigned long long ts;
	for (void *data = kbuffer_read_event(s->kbuf, &ts); data; data = kbuffer_next_event(s->kbuf, &ts)) {
		int rc = decode(t, s, data, ts);
		if (rc)
			return rc;
	}
	return 1;
}

int rec_tracing_poll(struct rec_tracing *t, unsigned int max_pages)
{
	int total = 0;

	for (size_t i = 0; i < t->nr_streams; i++) {
		struct stream *s = &t->streams[i];
		s->dry = false;
		for (unsigned int k = 0; k < max_pages; k++) {
			uint64_t before = rec_now_ns();
			int rc = read_page(t, s);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				s->dry = true;
				if (before > REC_SLACK_NS && before - REC_SLACK_NS > s->horizon)
					s->horizon = before - REC_SLACK_NS;
				break;
			}
			total++;
		}
	}
	return total;
}

const struct rec_ev *rec_tracing_peek(struct rec_tracing *t, bool final)
{
	struct stream *best = NULL;

	for (size_t i = 0; i < t->nr_streams; i++) {
		struct stream *s = &t->streams[i];
		if (s->head < s->len && (!best || s->q[s->head].ts < best->q[best->head].ts))
			best = s;
	}
	if (!best)
		return NULL;
	uint64_t ts = best->q[best->head].ts;
	if (!final)
		for (size_t i = 0; i < t->nr_streams; i++) {
			struct stream *s = &t->streams[i];
			if (s->head == s->len && s->horizon <= ts)
				return NULL;   /* that buffer may still hold something earlier */
		}
	return &best->q[best->head];
}

void rec_tracing_pop(struct rec_tracing *t)
{
	struct stream *best = NULL;

	for (size_t i = 0; i < t->nr_streams; i++) {
		struct stream *s = &t->streams[i];
		if (s->head < s->len && (!best || s->q[s->head].ts < best->q[best->head].ts))
			best = s;
	}
	if (best) {
		if (best->q[best->head].ts > t->last_ts)
			t->last_ts = best->q[best->head].ts;
		best->head++;
	}
}

uint64_t rec_tracing_lost(const struct rec_tracing *t)
{
	return t->lost;
}

uint64_t rec_tracing_out_of_order(const struct rec_tracing *t)
{
	return t->out_of_order;
}

void rec_tracing_close(struct rec_tracing *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nr_streams; i++) {
		tracefs_cpu_close(t->streams[i].tcpu);
		kbuffer_free(t->streams[i].kbuf);
		free(t->streams[i].page);
		free(t->streams[i].q);
	}
	free(t->streams);
	for (int i = 0; i < 2; i++) {
		if (!t->inst[i])
			continue;
		tracefs_trace_off(t->inst[i]);
		tracefs_event_disable(t->inst[i], NULL, NULL);
		tracefs_instance_destroy(t->inst[i]);
		tracefs_instance_free(t->inst[i]);
	}
	for (size_t i = 0; i < t->nr_dec; i++)
		free(t->dec[i]);
	free(t->dec);
	tep_free(t->tep);
	free(t->name[0]);
	free(t->name[1]);
	free(t);
}
