/*
 * record_prog: the workloads tests/test_record.c records with `ptsim record`.
 *
 *   record_prog work     two processes of two threads each, pinned to CPUs 0
 *                        and 1: mmap, touch, munmap / mprotect /
 *                        madvise(MADV_DONTNEED) of 1 to 600 pages while the
 *                        other thread spins (its CPU holds the mm) and while it
 *                        sleeps (the CPU holds it lazily); a fork; exits.  The
 *                        processes take turns, the peer touches nothing while
 *                        the calls run: every flush finds the other CPU in a
 *                        state the trace fixes (the acceptance test's workload).
 *   record_prog overlap  the same calls with both processes at once (each
 *                        main thread on the other's peer CPU), the peer reading
 *                        the region throughout and napping 2 ms at a time when
 *                        idle: flushes race with context switches and faults
 *                        with faults (docs/record.md measures both).
 *   record_prog forks N  fork N children that exit at once, one at a time
 *   record_prog sleep S  sleep S seconds (for --duration)
 *   record_prog exit     exit at once
 *   record_prog kill     SIGKILL itself after some work
 *   record_prog file F   map file F (shared and private), touch it, exit
 *
 * Plain C, no ptsim code: it is the "real program" of the recorder's tests.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

enum { PEER_IDLE, PEER_SPIN, PEER_STOP };

struct peer {
	_Atomic int mode;
	_Atomic int passes;        /* reads of the region still to make (mode SPIN) */
	_Atomic int asleep;        /* the peer is about to block or blocked (mode IDLE) */
	bool overlap;              /* record_prog overlap: read all along, nap when idle */
	int cpu;
	char *volatile region;
	volatile size_t region_len;
};

/*
 * The second thread.  SPIN: read the region as often as asked (its TLB then
 * holds it), then spin in user space touching nothing, so the CPU keeps the
 * mm loaded and every flush of it sends an IPI there.  IDLE: block until the
 * mode changes, so the CPU is idle and holds the mm lazily.  With @overlap,
 * SPIN reads the region over and over and IDLE naps 2 ms at a time.
 */
static void *peer_main(void *arg)
{
	struct peer *p = arg;
	pin(p->cpu);
	for (;;) {
		int m = atomic_load(&p->mode);
		if (m == PEER_STOP)
			break;
		if (m == PEER_SPIN) {
			atomic_store(&p->asleep, 0);
			if (p->overlap || atomic_load(&p->passes) > 0) {
				char *r = p->region;
				size_t n = p->region_len;
				volatile char sink = 0;
				for (size_t o = 0; r && o < n; o += PAGE)
					sink += r[o];
				(void)sink;
				atomic_fetch_sub(&p->passes, 1);
			}
			continue;
		}
		atomic_store(&p->asleep, 1);
		if (p->overlap) {
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		syscall(SYS_futex, &p->mode, FUTEX_WAIT_PRIVATE, m, NULL, NULL, 0);
	}
	return NULL;
}

/* A change of mode wakes the peer; no change leaves it as it is (asleep or spinning). */
static void set_mode(struct peer *p, int mode)
{
	if (atomic_exchange(&p->mode, mode) != mode)
		syscall(SYS_futex, &p->mode, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* The peer spins and has read the region @n times. */
static void peer_spin(struct peer *p, int n)
{
	atomic_store(&p->passes, n);
	set_mode(p, PEER_SPIN);
	while (atomic_load(&p->passes) > 0)
		;
}

/*
 * The peer stops reading and blocks: its flag says it is about to; 2 ms more
 * let its CPU reach idle, so that no flush below meets that switch half done
 * (with @overlap the flag alone: the peer is done with the region).
 */
static void peer_idle(struct peer *p)
{
	set_mode(p, PEER_IDLE);
	while (!atomic_load(&p->asleep))
		;
	if (!p->overlap)
		usleep(2000);
}

static char *map_touch(size_t pages)
{
	char *r = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	for (size_t i = 0; i < pages; i++)
		r[i * PAGE] = 1;
	return r;
}

/* One round of operations on regions of 1 .. 600 pages, the peer spinning or not. */
static void ops_round(struct peer *p, bool spin)
{
	static const size_t sizes[] = { 1, 16, 33, 34, 512, 600 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		char *r = map_touch(n);
		p->region = r;
		p->region_len = n * PAGE;
		if (spin)
			peer_spin(p, 2);   /* the peer has read the region: its TLB holds it */
		else
			peer_idle(p);
		mprotect(r, n * PAGE, PROT_READ);
		mprotect(r, n * PAGE, PROT_READ | PROT_WRITE);
		for (size_t i = 0; i < n; i++)
			r[i * PAGE] = 2;
		madvise(r, n * PAGE, MADV_DONTNEED);
		for (size_t i = 0; i < n; i += 2)
			r[i * PAGE] = 3;
		peer_idle(p);
		if (n > 1)
			munmap(r + PAGE, PAGE);   /* a hole: the next mprotect fails with ENOMEM */
		if (n > 1 && mprotect(r, n * PAGE, PROT_READ) == 0) {
			fprintf(stderr, "mprotect over a hole succeeded\n");
			exit(1);
		}
		usleep(1000);
		p->region = NULL;
		p->region_len = 0;
		munmap(r, n * PAGE);
	}
}

/* A process of two threads: this one on @cpu, its peer on the other CPU. */
static void process_work(int cpu, bool overlap)
{
	struct peer p;
	pthread_t th;

	memset(&p, 0, sizeof(p));
	pin(cpu);
	p.cpu = !cpu;
	p.overlap = overlap;
	pthread_create(&th, NULL, peer_main, &p);
	ops_round(&p, true);
	ops_round(&p, false);
	set_mode(&p, PEER_STOP);
	pthread_join(th, NULL);
}

/*
 * The two processes take turns: the child, after its copy on write, waits
 * on a pipe while the parent works, then works while the parent waits in
 * waitpid().  Each flush then meets the other CPU running the peer thread
 * or idle, never in the middle of a switch between the two processes, whose
 * order against the flush's IPI no trace can carry (docs/record.md).  With
 * @overlap they work at once, the child's main thread on CPU 1.
 */
static int work(bool overlap)
{
	char *keep = map_touch(64);   /* copied into the child by fork */
	int ready[2], go[2];
	char b = 0;
	if (pipe(ready) || pipe(go)) {
		perror("pipe");
		return 1;
	}
	pid_t c = fork();
	if (c == 0) {
		keep[0] = 9;              /* a copy on write */
		if (!overlap && (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1))
			_exit(1);
		process_work(overlap ? 1 : 0, overlap);   /* the calls on CPU 1 only when at once */
		_exit(0);
	}
	if (!overlap && read(ready[0], &b, 1) != 1)
		return 1;
	process_work(0, overlap);
	if (!overlap && write(go[1], &b, 1) != 1)
		return 1;
	int st;
	waitpid(c, &st, 0);
	munmap(keep, 64 * PAGE);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int forks(int n)
{
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		if (c < 0) {
			perror("fork");
			return 1;
		}
		if (c == 0)
			_exit(0);
		waitpid(c, NULL, 0);
	}
	return 0;
}

static int file_work(const char *path)
{
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	char *s = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4 * PAGE);
	if (s == MAP_FAILED || p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	volatile char sink = 0;
	for (int i = 0; i < 16; i++) {
		sink += s[i * PAGE];
		p[i * PAGE] = 1;
	}
	s[0] = 1;
	(void)sink;
	munmap(s, 16 * PAGE);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "work";

	if (!strcmp(mode, "work") || !strcmp(mode, "overlap"))
		return work(!strcmp(mode, "overlap"));
	if (!strcmp(mode, "forks"))
		return forks(argc > 2 ? atoi(argv[2]) : 1000);
	if (!strcmp(mode, "sleep")) {
		sleep(argc > 2 ? (unsigned int)atoi(argv[2]) : 100);
		return 0;
	}
	if (!strcmp(mode, "exit"))
		return 0;
	if (!strcmp(mode, "kill")) {
		map_touch(10);
		kill(getpid(), SIGKILL);
		return 0;
	}
	if (!strcmp(mode, "file") && argc > 2)
		return file_work(argv[2]);
	fprintf(stderr, "usage: record_prog work|overlap|forks N|sleep S|exit|kill|file F\n");
	return 2;
}
