/*
 * record_prog: the workloads tests/test_record.c records with `ptsim record`.
 *
 *   record_prog work     two processes of two threads each, pinned to CPUs 0
 *                        and 1: mmap, touch, munmap / mprotect /
 *                        madvise(MADV_DONTNEED) of 1 to 600 pages while the
 *                        other thread spins (its CPU holds the mm) and while it
 *                        sleeps (the CPU holds it lazily); a fork; exits.
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
#include <sys/mman.h>
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
	_Atomic int acks;
	_Atomic int busy;          /* the peer is reading the region */
	int cpu;
	char *volatile region;
	volatile size_t region_len;
};

/* The second thread: spins in user space (mode SPIN) or sleeps in short naps (IDLE). */
static void *peer_main(void *arg)
{
	struct peer *p = arg;
	pin(p->cpu);
	for (;;) {
		int m = atomic_load(&p->mode);
		if (m == PEER_STOP)
			break;
		if (m == PEER_SPIN) {
			atomic_store(&p->busy, 1);
			if (atomic_load(&p->mode) != PEER_SPIN) {
				atomic_store(&p->busy, 0);
				continue;
			}
			char *r = p->region;
			size_t n = p->region_len;
			volatile char sink = 0;
			for (size_t o = 0; r && o < n; o += PAGE)
				sink += r[o];
			(void)sink;
			atomic_store(&p->busy, 0);
			atomic_fetch_add(&p->acks, 1);
			continue;
		}
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void wait_acks(struct peer *p, int n)
{
	int start = atomic_load(&p->acks);
	while (atomic_load(&p->acks) - start < n)
		;
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
		atomic_store(&p->mode, spin ? PEER_SPIN : PEER_IDLE);
		if (spin)
			wait_acks(p, 2);   /* the peer has read the region: its TLB holds it */
		else
			usleep(5000);
		mprotect(r, n * PAGE, PROT_READ);
		mprotect(r, n * PAGE, PROT_READ | PROT_WRITE);
		for (size_t i = 0; i < n; i++)
			r[i * PAGE] = 2;
		madvise(r, n * PAGE, MADV_DONTNEED);
		for (size_t i = 0; i < n; i += 2)
			r[i * PAGE] = 3;
		atomic_store(&p->mode, PEER_IDLE);
		while (atomic_load(&p->busy))
			;
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
static void process_work(int cpu)
{
	struct peer p;
	pthread_t th;

	memset(&p, 0, sizeof(p));
	pin(cpu);
	p.cpu = !cpu;
	pthread_create(&th, NULL, peer_main, &p);
	ops_round(&p, true);
	ops_round(&p, false);
	atomic_store(&p.mode, PEER_STOP);
	pthread_join(th, NULL);
}

static int work(void)
{
	char *keep = map_touch(64);   /* copied into the child by fork */
	pid_t c = fork();
	if (c == 0) {
		keep[0] = 9;              /* a copy on write */
		process_work(1);
		_exit(0);
	}
	process_work(0);
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

	if (!strcmp(mode, "work"))
		return work();
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
	fprintf(stderr, "usage: record_prog work|forks N|sleep S|exit|kill|file F\n");
	return 2;
}
