/*
 * What /proc/PID/status says about HugetlbPages when one mm zaps hugetlb
 * pages that another mm faulted in through a shared PMD table.
 *
 * Not built by CMake: it runs on a real kernel, as root, with a few huge
 * pages reserved:
 *
 *   echo 4 > /proc/sys/vm/nr_hugepages
 *   cc -O1 -o hneg bench/real/hugetlb_usage_negative.c && ./hneg
 *
 * A maps 1 GiB of a hugetlb memfd (MAP_SHARED, PUD-aligned: PMD sharing
 * applies) and faults 2 huge pages; its child B faults a third one, which
 * makes B share A's PMD table (huge_pmd_share()).  hugetlb_usage is charged
 * to the mm that faults (hugetlb_count_add()) and uncharged from the mm that
 * zaps (hugetlb_count_sub()).  A unmaps first: its table is shared, so it is
 * unshared, not zapped, and A keeps its 4096 kB.  B unmaps next: the table
 * is B's alone now, B zaps all three pages and its count goes to
 * 2048 - 6144 = -4096 kB, which the kernel prints with %lu.
 *
 * Linux 6.18.44 (x86-64, 2 MiB pages) printed:
 *   child after its fault: HugetlbPages:	    2048 kB
 *   child after munmap: HugetlbPages:	18446744073709547520 kB
 *   parent after munmap (unshared): HugetlbPages:	    4096 kB
 * tests/test_report.c replays the same steps in ptsim and expects the same
 * figures, exactly, in the text and the JSON report.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *who)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "HugetlbPages", 12) || !strncmp(line, "VmPTE", 5))
			printf("%s: %s", who, line);
	fclose(f);
	fflush(stdout);
}

int main(void)
{
	const size_t G = 1ul << 30, H = 2ul << 20;
	int fd = memfd_create("h", MFD_HUGETLB);
	int to_parent[2], to_child[2];
	char b;

	if (fd < 0 || ftruncate(fd, (off_t)G) || pipe(to_parent) || pipe(to_child)) {
		perror("memfd/ftruncate/pipe (root, hugetlb pages reserved?)");
		return 1;
	}
	/* A 1 GiB-aligned place: PMD sharing needs the whole PUD range in the VMA. */
	char *probe = mmap(NULL, 2 * G, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (probe == MAP_FAILED)
		return 1;
	char *a = (char *)(((unsigned long)probe + G - 1) & ~(G - 1));
	munmap(probe, 2 * G);
	char *p = mmap(a, G, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p[0] = 1;
	p[H] = 1;
	show("parent after 2 faults");
	pid_t c = fork();
	if (c == 0) {
		p[2 * H] = 1;   /* a fault: huge_pmd_share() takes the parent's table */
		show("child after its fault");
		if (write(to_parent[1], "y", 1) != 1 || read(to_child[0], &b, 1) != 1)
			_exit(1);
		munmap(p, G);
		show("child after munmap");
		_exit(0);
	}
	if (read(to_parent[0], &b, 1) != 1)
		return 1;
	munmap(p, G);
	show("parent after munmap (unshared)");
	if (write(to_child[1], "x", 1) != 1)
		return 1;
	waitpid(c, NULL, 0);
	return 0;
}
