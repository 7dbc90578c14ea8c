/*
 * The process tree of a recording under ptrace.
 *
 * The command is forked, waits on a pipe until the recorder has attached
 * (PTRACE_SEIZE with TRACEFORK/VFORK/CLONE/EXEC/EXIT/SECCOMP and EXITKILL)
 * and set up tracing, installs a seccomp filter that stops it at every mmap
 * of a file descriptor, every shmat and every execve, then execs.  Descendants are
 * attached automatically.  The stops, and what the recorder reads while the
 * task is stopped:
 *
 *   fork/vfork/clone   the kind of the new task: a thread (same thread
 *                      group), a vfork-like child (same mm, other process:
 *                      kcmp(KCMP_VM)), or a process with its own mm;
 *   exec               /proc/PID/maps, the file behind each mapping
 *                      (/proc/PID/map_files), the pages already present
 *                      (/proc/PID/pagemap), start_brk, arg_start (/proc/PID/stat);
 *   exit               /proc/TID/status (VmPTE, RSS, HugetlbPages, peaks),
 *                      smaps_rollup (transparent huge pages), ksm_stat;
 *   execve entry       /proc/TID/status again: the figures of the mm the exec
 *                      is about to replace;
 *   seccomp            the file behind the fd being mapped (stat, statfs, and
 *                      its pages in the page cache: mincore()),
 *                      or the SysV segment being attached (size).
 *
 * Nothing else stops the tracees: page faults and the other system calls are
 * seen through tracefs only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record/grow.h"
#include "record/tracer.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif

struct rec_tracer {
	struct rec_data *d;
	pid_t root;
	int go_fd, err_fd;
	bool all_gone;       /* waitpid() says there is no tracee left */
	bool root_reaped;
	int root_status;
	bool freezing;
};

/* ---- the child ---- */

static int install_seccomp(void)
{
	struct sock_filter f[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 8),
		/* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_shmat, 5, 0),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execve, 4, 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_execveat, 3, 0),
		/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 3),
		/* 7: the low word of the flags (little-endian) */
		/* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args) + 3 * 8),
		/* 8 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x20 /* MAP_ANONYMOUS */, 1, 0),
		/* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		/* 10 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

static void child(char *const argv[], int go, int errfd, const sigset_t *mask)
{
	char c;
	int e;

	sigprocmask(SIG_SETMASK, mask, NULL);
	if (read(go, &c, 1) != 1)
		_exit(127);
	close(go);
	if (install_seccomp()) {
		e = errno;
		(void)!write(errfd, &e, sizeof(e));
		_exit(127);
	}
	execvp(argv[0], argv);
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

int rec_tracer_spawn(struct rec_tracer **out, struct rec_data *d, char *const argv[], pid_t *pid, char *err,
		     size_t errlen)
{
	int go[2], ef[2];
	sigset_t old;
	struct rec_tracer *tr = calloc(1, sizeof(*tr));

	*out = NULL;
	if (!tr) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (pipe2(go, O_CLOEXEC) || pipe2(ef, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(tr);
		return -errno;
	}
	sigprocmask(SIG_SETMASK, NULL, &old);
	/* The child gets the signal mask the recorder was started with. */
	sigset_t orig = old;
	sigdelset(&orig, SIGCHLD);
	sigdelset(&orig, SIGINT);
	sigdelset(&orig, SIGTERM);
	pid_t p = fork();
	if (p < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(go[0]); close(go[1]); close(ef[0]); close(ef[1]);
		free(tr);
		return -EAGAIN;
	}
	if (p == 0) {
		close(go[1]);
		close(ef[0]);
		child(argv, go[0], ef[1], &orig);
	}
	close(go[0]);
	close(ef[1]);
	tr->d = d;
	tr->root = p;
	tr->go_fd = go[1];
	tr->err_fd = ef[0];
	long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
		    PTRACE_O_TRACEEXIT | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SEIZE, p, 0, (void *)opts)) {
		snprintf(err, errlen, "ptrace(PTRACE_SEIZE): %s", strerror(errno));
		kill(p, SIGKILL);
		waitpid(p, NULL, __WALL);
		close(tr->go_fd);
		close(tr->err_fd);
		free(tr);
		return -EPERM;
	}
	*pid = p;
	*out = tr;
	return 0;
}

int rec_tracer_release(struct rec_tracer *tr, char *err, size_t errlen)
{
	int e = 0;
	ssize_t n;

	if (write(tr->go_fd, "g", 1) != 1) {
		snprintf(err, errlen, "cannot start the command: %s", strerror(errno));
		return -EIO;
	}
	close(tr->go_fd);
	tr->go_fd = -1;
	/* The child stops (seccomp at execve) on its way: serve its stops while waiting. */
	for (;;) {
		struct pollfd pfd = { .fd = tr->err_fd, .events = POLLIN };
		if (poll(&pfd, 1, 1) > 0) {
			n = read(tr->err_fd, &e, sizeof(e));
			if (n >= 0 || errno != EINTR)
				break;
		}
		if (rec_tracer_step(tr, false) < 0) {
			n = 0;
			break;
		}
	}
	close(tr->err_fd);
	tr->err_fd = -1;
	if (n == (ssize_t)sizeof(e)) {
		/* The child stops at its exit event: let it go and reap it. */
		rec_tracer_kill_all(tr);
		snprintf(err, errlen, "%s", strerror(e));
		return -e;
	}
	return 0;
}

/* ---- /proc readers ---- */

static uint64_t kb_after(const char *line, const char *key)
{
	size_t k = strlen(key);
	return strncmp(line, key, k) ? UINT64_MAX : strtoull(line + k, NULL, 10);
}

int rec_read_status(pid_t tid, struct rec_exit_figs *f)
{
	char path[64], line[256];
	FILE *fp;

	memset(f, 0, sizeof(*f));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (!(fp = fopen(path, "r")))
		return -errno;
	struct { const char *key; uint64_t *dst; } keys[] = {
		{ "VmPTE:", &f->vmpte_kb }, { "RssAnon:", &f->rss_anon_kb }, { "RssFile:", &f->rss_file_kb },
		{ "RssShmem:", &f->rss_shmem_kb }, { "VmSwap:", &f->swap_kb }, { "HugetlbPages:", &f->hugetlb_kb },
		{ "VmHWM:", &f->vmhwm_kb }, { "VmPeak:", &f->vmpeak_kb },
	};
	bool have_pte = false;
	while (fgets(line, sizeof(line), fp))
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			uint64_t v = kb_after(line, keys[i].key);
			if (v != UINT64_MAX) {
				*keys[i].dst = v;
				have_pte |= i == 0;
			}
		}
	fclose(fp);
	if (!have_pte)
		return -ESRCH;   /* a zombie: no mm any more */
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)tid);
	if ((fp = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), fp)) {
			uint64_t v;
			if ((v = kb_after(line, "AnonHugePages:")) != UINT64_MAX)
				f->anon_huge_kb = v;
			else if ((v = kb_after(line, "ShmemPmdMapped:")) != UINT64_MAX ||
				 (v = kb_after(line, "FilePmdMapped:")) != UINT64_MAX)
				f->file_pmd_kb += v;
		}
		fclose(fp);
	}
	snprintf(path, sizeof(path), "/proc/%d/ksm_stat", (int)tid);
	if ((fp = fopen(path, "r"))) {
		while (fgets(line, sizeof(line), fp)) {
			uint64_t v = kb_after(line, "ksm_merging_pages");
			if (v != UINT64_MAX)
				f->ksm_pages = v;
		}
		fclose(fp);
	}
	f->valid = true;
	return 0;
}

static enum rec_file_kind kind_of(const struct stat *st, const struct statfs *sf)
{
	if (S_ISCHR(st->st_mode))
		return major(st->st_rdev) == 1 && minor(st->st_rdev) == 5 ? RF_ZERO : RF_DEVICE;
	if (!S_ISREG(st->st_mode))
		return RF_DEVICE;
	if ((unsigned long)sf->f_type == HUGETLBFS_MAGIC)
		return RF_HUGETLB;
	if ((unsigned long)sf->f_type == TMPFS_MAGIC)
		return RF_SHMEM;
	return RF_FILE;
}

/*
 * Which pages of @f are in the page cache now (mincore() of a mapping of our
 * own, which faults nothing in), read each time the file is about to be
 * mapped: the kernel's fault-around maps cached neighbours of a faulting page,
 * so the replay must know them.  Pages not declared before join @f->fresh.
 * Files of more than 4 GiB: their first 4 GiB.
 */
static void read_cached(struct rec_file *f, const char *link)
{
	if ((f->kind != RF_FILE && f->kind != RF_SHMEM) || !f->size)
		return;
	uint64_t size = f->size < (4ull << 30) ? f->size : 4ull << 30;
	uint64_t npages = (size + 4095) >> 12;
	if (npages > f->declared_pages) {
		uint8_t *d = realloc(f->declared, (size_t)(npages + 7) / 8);
		if (!d)
			return;
		memset(d + (f->declared_pages + 7) / 8, 0, (size_t)((npages + 7) / 8 - (f->declared_pages + 7) / 8));
		f->declared = d;
		f->declared_pages = npages;
	}
	int fd = open(link, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	unsigned char *vec = malloc((size_t)npages);
	size_t cap = f->nr_fresh;
	if (vec && !mincore(p, (size_t)size, vec)) {
		for (uint64_t i = 0; i < npages;) {
			if (!(vec[i] & 1) || (f->declared[i / 8] >> (i % 8) & 1)) {
				i++;
				continue;
			}
			uint64_t j = i;
			for (; j < npages && (vec[j] & 1) && !(f->declared[j / 8] >> (j % 8) & 1); j++)
				f->declared[j / 8] |= (uint8_t)(1u << (j % 8));
			if (rec_reserve(f->fresh, cap, f->nr_fresh + 2, 16))
				break;
			f->fresh[f->nr_fresh++] = i;
			f->fresh[f->nr_fresh++] = j;
			i = j;
		}
	}
	free(vec);
	munmap(p, (size_t)size);
}

/* The file behind @link (/proc/PID/fd/N or /proc/PID/map_files/A-B); NULL if none. */
static struct rec_file *file_at(struct rec_data *d, const char *link, const char *path_hint)
{
	struct stat st;
	struct statfs sf;
	char target[4096];

	int fd = open(link, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || fstatfs(fd, &sf)) {
		close(fd);
		return NULL;
	}
	close(fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	const char *name = path_hint && *path_hint ? path_hint : target;
	enum rec_file_kind k = kind_of(&st, &sf);
	struct rec_file *f = rec_file_get(&d->files, (uint64_t)st.st_dev, (uint64_t)st.st_ino, name, k,
					  (uint64_t)st.st_size, k == RF_HUGETLB ? (uint64_t)sf.f_bsize : 0);
	if (f)
		read_cached(f, link);
	return f;
}

/* Runs of present pages of [start, end) from pagemap: bit 63 present, bit 61 file-page or shared-anon. */
static int read_runs(int pm, struct rec_vma *v)
{
	uint64_t npages = (v->end - v->start) >> 12, buf[512];
	struct rec_run cur = { 0, 0, false };
	size_t cap = 0;

	for (uint64_t i = 0; i < npages;) {
		size_t n = npages - i < 512 ? (size_t)(npages - i) : 512;
		ssize_t got = pread(pm, buf, n * 8, (off_t)(((v->start >> 12) + i) * 8));
		if (got <= 0)
			break;
		n = (size_t)got / 8;
		for (size_t k = 0; k < n; k++, i++) {
			uint64_t addr = v->start + (i << 12);
			bool present = buf[k] >> 63 & 1, anon = !(buf[k] >> 61 & 1);
			if (present && cur.len && cur.addr + cur.len == addr && cur.anon == anon) {
				cur.len += 4096;
				continue;
			}
			if (cur.len) {
				if (rec_reserve(v->runs, cap, v->nr_runs + 1, 8))
					return -ENOMEM;
				v->runs[v->nr_runs++] = cur;
				cur.len = 0;
			}
			if (present) {
				cur.addr = addr;
				cur.len = 4096;
				cur.anon = anon;
			}
		}
	}
	if (cur.len) {
		if (rec_reserve(v->runs, cap, v->nr_runs + 1, 8))
			return -ENOMEM;
		v->runs[v->nr_runs++] = cur;
	}
	return 0;
}

struct rec_exec *rec_read_exec(struct rec_data *d, pid_t pid, pid_t old_pid)
{
	char path[128], line[4096 + 256];
	struct rec_exec *e = calloc(1, sizeof(*e));
	size_t cap = 0;

	if (!e)
		return NULL;
	e->old_pid = old_pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *fp = fopen(path, "r");
	if (fp) {
		if (fgets(e->comm, sizeof(e->comm), fp))
			e->comm[strcspn(e->comm, "\n")] = 0;
		fclose(fp);
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		unsigned char ident[5];
		if (read(fd, ident, 5) == 5 && ident[4] == 1)
			e->elf32 = true;
		close(fd);
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r"))) {
		if (fgets(line, sizeof(line), fp)) {
			/* After the ")" closing comm come fields 3, 4, ...; start_brk is field 47, arg_start 48. */
			char *p = strrchr(line, ')'), *save = NULL;
			int field = 3;
			for (char *tok = p ? strtok_r(p + 1, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save), field++)
				if (field == 47) {
					e->start_brk = strtoull(tok, NULL, 10);
				} else if (field == 48) {
					e->arg_start = strtoull(tok, NULL, 10);
					break;
				}
		}
		fclose(fp);
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	int pm = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (!(fp = fopen(path, "r"))) {
		if (pm >= 0)
			close(pm);
		return e;   /* gone: an empty snapshot */
	}
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long start, end, off, ino;
		char perms[8], dev[16];
		int pos = 0;
		if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &off, dev, &ino, &pos) < 6)
			continue;
		char *name = line + pos;
		name[strcspn(name, "\n")] = 0;
		if (!strcmp(name, "[vsyscall]"))
			continue;   /* above user space: not part of the mm's VMAs */
		if (rec_reserve(e->vmas, cap, e->nr_vmas + 1, 32))
			goto oom;
		struct rec_vma *v = &e->vmas[e->nr_vmas++];
		memset(v, 0, sizeof(*v));
		v->start = start;
		v->end = end;
		v->offset = off;
		v->prot = (perms[0] == 'r' ? 1u : 0) | (perms[1] == 'w' ? 2u : 0) | (perms[2] == 'x' ? 4u : 0);
		v->shared = perms[3] == 's';
		if (!strcmp(name, "[stack]"))
			v->kind = RV_STACK;
		else if (!strcmp(name, "[heap]"))
			v->kind = RV_HEAP;
		else if (!strcmp(name, "[vdso]"))
			v->kind = RV_VDSO;
		else if (!strncmp(name, "[vvar", 5))
			v->kind = RV_VVAR;
		else if (ino && name[0] == '/') {
			char link[128];
			snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", (int)pid, start, end);
			v->file = file_at(d, link, name);
			v->kind = v->file ? RV_FILE : RV_ANON;
		} else {
			v->kind = RV_ANON;
		}
		if (pm >= 0 && v->kind != RV_VVAR && read_runs(pm, v))
			goto oom;
	}
	fclose(fp);
	if (pm >= 0)
		close(pm);
	return e;
oom:
	fclose(fp);
	if (pm >= 0)
		close(pm);
	rec_exec_free(e);
	return NULL;
}

/* Thread group of @pid (/proc/PID/status Tgid), -1 if unknown. */
static pid_t tgid_of(pid_t pid)
{
	char path[64], line[128];
	pid_t tg = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, "Tgid:", 5)) {
			tg = (pid_t)atoi(line + 5);
			break;
		}
	fclose(fp);
	return tg;
}

/* ---- the stops ---- */

static void on_fork(struct rec_tracer *tr, pid_t parent, int event)
{
	unsigned long msg = 0;
	if (ptrace(PTRACE_GETEVENTMSG, parent, 0, &msg))
		return;
	pid_t child = (pid_t)msg;
	struct rec_pidinfo *pi = rec_pidinfo(tr->d, child);
	if (!pi)
		return;
	if (pi->dead) {   /* a recycled pid: forget its previous life */
		pi->dead = false;
		pi->exit_stop = false;
		memset(&pi->exit, 0, sizeof(pi->exit));
	}
	struct rec_fork *f = pi->fork ? pi->fork : calloc(1, sizeof(*f));
	if (!f)
		return;
	f->parent = parent;
	if (event == PTRACE_EVENT_VFORK) {
		f->kind = RK_VFORK;
	} else if (event == PTRACE_EVENT_FORK) {
		f->kind = RK_PROCESS;
	} else {
		pid_t tp = tgid_of(parent), tc = tgid_of(child);
		if (tp > 0 && tp == tc)
			f->kind = RK_THREAD;
		else if (syscall(SYS_kcmp, parent, child, KCMP_VM, 0, 0) == 0)
			f->kind = RK_VFORK;
		else
			f->kind = RK_PROCESS;
	}
	pi->fork = f;
}

static void on_exec(struct rec_tracer *tr, pid_t pid)
{
	unsigned long msg = 0;
	ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
	struct rec_exec *e = rec_read_exec(tr->d, pid, (pid_t)msg);
	struct rec_pidinfo *pi = rec_pidinfo(tr->d, pid);
	if (!e || !pi) {
		rec_exec_free(e);
		return;
	}
	struct rec_exec **pp = &pi->exec;
	while (*pp)
		pp = &(*pp)->next;
	*pp = e;
}

static void on_exit_stop(struct rec_tracer *tr, pid_t pid)
{
	struct rec_pidinfo *pi = rec_pidinfo(tr->d, pid);
	if (!pi)
		return;
	pi->exit_stop = true;
	rec_read_status(pid, &pi->exit);
}

static void on_seccomp(struct rec_tracer *tr, pid_t pid)
{
	struct user_regs_struct r;
	struct rec_pidinfo *pi = rec_pidinfo(tr->d, pid);
	if (!pi || ptrace(PTRACE_GETREGS, pid, 0, &r))
		return;
	if (r.orig_rax == __NR_execve || r.orig_rax == __NR_execveat) {
		/* The mm about to be replaced: its figures now are its figures at the end. */
		rec_read_status(pid, &pi->pre_exec);
		return;
	}
	struct rec_pending_map *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->nr = (int)r.orig_rax;
	if (m->nr == __NR_mmap) {
		char link[64];
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, (int)r.r8);
		m->file = (int)r.r8 >= 0 ? file_at(tr->d, link, NULL) : NULL;
	} else {
		/* shmat: the segment's size from /proc/sysvipc/shm (key shmid perms size ...). */
		m->shmid = (int)r.rdi;
		FILE *fp = fopen("/proc/sysvipc/shm", "r");
		char line[512];
		while (fp && fgets(line, sizeof(line), fp)) {
			long long key, id;
			unsigned long long perms, size;
			if (sscanf(line, "%lld %lld %llo %llu", &key, &id, &perms, &size) == 4 && id == m->shmid)
				m->shm_size = size;
		}
		if (fp)
			fclose(fp);
	}
	struct rec_pending_map **pp = &pi->maps;
	while (*pp)
		pp = &(*pp)->next;
	*pp = m;
}

static void on_gone(struct rec_tracer *tr, pid_t pid, int status)
{
	struct rec_pidinfo *pi = rec_pidinfo(tr->d, pid);
	if (pi) {
		pi->dead = true;
		pi->wait_status = status;
	}
	if (pid == tr->root) {
		tr->root_reaped = true;
		tr->root_status = status;
	}
}

static void handle(struct rec_tracer *tr, pid_t pid, int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		on_gone(tr, pid, status);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	int sig = WSTOPSIG(status), event = (unsigned int)status >> 16;
	int inject = 0;
	switch (event) {
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE:
		on_fork(tr, pid, event);
		break;
	case PTRACE_EVENT_EXEC:
		on_exec(tr, pid);
		break;
	case PTRACE_EVENT_EXIT:
		on_exit_stop(tr, pid);
		break;
	case PTRACE_EVENT_SECCOMP:
		on_seccomp(tr, pid);
		break;
	case PTRACE_EVENT_STOP:
		if (tr->freezing)
			return;   /* stay stopped */
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			ptrace(PTRACE_LISTEN, pid, 0, 0);   /* a group-stop: keep it stopped */
			return;
		}
		break;
	case 0:
		inject = sig;   /* a signal for the tracee: deliver it */
		break;
	default:
		break;
	}
	ptrace(PTRACE_CONT, pid, 0, (void *)(long)inject);
}

int rec_tracer_step(struct rec_tracer *tr, bool block)
{
	int n = 0, status;

	for (;;) {
		pid_t pid = waitpid(-1, &status, __WALL | (block && !n ? 0 : WNOHANG));
		if (pid == 0)
			return n;
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD) {
				tr->all_gone = true;
				return n;
			}
			return -errno;
		}
		handle(tr, pid, status);
		n++;
	}
}

bool rec_tracer_done(const struct rec_tracer *tr)
{
	return tr->all_gone;
}

/* Every pid the recording knows that is not dead. */
static size_t live_pids(const struct rec_tracer *tr, pid_t **out)
{
	const struct pidmap *m = &tr->d->pids;
	pid_t *v = calloc(m->nr + 1, sizeof(*v));
	size_t n = 0;

	*out = v;
	if (!v)
		return 0;
	for (size_t i = 0; i < m->cap; i++) {
		const struct rec_pidinfo *pi = m->vals[i];
		if (pi && !pi->dead && (pi->fork || m->keys[i] == tr->root))
			v[n++] = m->keys[i];
	}
	return n;
}

void rec_tracer_freeze(struct rec_tracer *tr)
{
	pid_t *v;
	size_t n;

	rec_pidinfo(tr->d, tr->root);
	n = live_pids(tr, &v);
	tr->freezing = true;
	for (size_t i = 0; i < n; i++)
		ptrace(PTRACE_INTERRUPT, v[i], 0, 0);
	/* Each interrupted tracee reports a stop (or its end); handle() leaves it stopped. */
	for (size_t left = n, tries = 0; left && tries < 200; tries++) {
		int status;
		pid_t pid = waitpid(-1, &status, __WALL | WNOHANG);
		if (pid > 0) {
			handle(tr, pid, status);
			left--;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		usleep(5000);
	}
	free(v);
}

void rec_tracer_read_live(struct rec_tracer *tr)
{
	pid_t *v;
	size_t n = live_pids(tr, &v);

	for (size_t i = 0; i < n; i++) {
		struct rec_pidinfo *pi = rec_pidinfo(tr->d, v[i]);
		if (pi && !pi->exit_stop)
			rec_read_status(v[i], &pi->exit);
	}
	free(v);
}

void rec_tracer_kill_all(struct rec_tracer *tr)
{
	pid_t *v;
	size_t n;

	rec_pidinfo(tr->d, tr->root);
	n = live_pids(tr, &v);
	for (size_t i = 0; i < n; i++)
		kill(v[i], SIGKILL);
	free(v);
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			on_gone(tr, pid, status);
		else if (WIFSTOPPED(status))
			ptrace(PTRACE_CONT, pid, 0, 0);   /* the exit stop of a killed task */
	}
	tr->all_gone = true;
}

bool rec_tracer_root_status(const struct rec_tracer *tr, int *status)
{
	*status = tr->root_status;
	return tr->root_reaped;
}

void rec_tracer_free(struct rec_tracer *tr)
{
	if (!tr)
		return;
	if (tr->go_fd >= 0)
		close(tr->go_fd);
	if (tr->err_fd >= 0)
		close(tr->err_fd);
	free(tr);
}
