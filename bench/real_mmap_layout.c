/*
 * The real kernel's placement of anonymous mmaps without an address, the
 * evidence behind tests/test_addrspace.c's layout test (issue 9).
 *
 * Run on the host (not a unit test: it measures the host kernel):
 *     cc -O2 -o real_mmap_layout bench/real_mmap_layout.c && ./real_mmap_layout
 * It re-executes itself with ADDR_NO_RANDOMIZE (as `setarch -R` does), prints
 * mmap_min_addr, the stack rlimit and /proc/self/maps as it is before the
 * calls, then the address each call returned and the maps after.  The
 * sequence: 20 anonymous private mmaps of assorted sizes (4 KiB to 6 MiB,
 * among them 2 MiB multiples, which 6.18 places PMD-aligned) with no address,
 * two munmaps that open holes, and two more mmaps that must land in them.
 * With the argument "files" it runs the second sequence instead: a shared
 * and a private mapping of a regular file (ext4 here, whose
 * get_unmapped_area is thp_get_unmapped_area()), a memfd, shared anonymous
 * memory and a 2 MiB MAP_HUGETLB mapping (needs vm.nr_hugepages > 0), each
 * after a 4 KiB anonymous one, then a free hint, the same hint again (taken),
 * and MAP_FIXED_NOREPLACE there (EEXIST).
 * Under `setarch -L ./real_mmap_layout` (ADDR_COMPAT_LAYOUT, kept across the
 * re-exec) or with `sysctl vm.legacy_va_layout=1` (put it back to 0 after) it
 * shows the legacy bottom-up layout, the evidence behind the legacy test.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <unistd.h>

static const unsigned long sizes_kib[20] = {
	4, 8, 64, 1024, 2048, 4, 3072, 4096, 12, 6144, 16, 2052, 4, 128, 2048, 512, 4, 8192, 36, 4,
};

static void dump_maps(const char *when)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	printf("maps %s:\n", when);
	while (f && fgets(line, sizeof(line), f))
		printf("  %s", line);
	if (f)
		fclose(f);
}

static void *map(unsigned long kib)
{
	void *p = mmap(NULL, kib << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void *map_fd(unsigned long kib, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(NULL, kib << 10, prot, flags, fd, off);
	return p;
}

static int files(void)
{
	int fd = open("real_mmap_layout.bin", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int mfd = memfd_create("real_mmap_layout", 0);

	if (fd < 0 || mfd < 0 || ftruncate(fd, 16 << 20) || ftruncate(mfd, 16 << 20)) {
		perror("file");
		return 1;
	}
	unlink("real_mmap_layout.bin");
	dump_maps("before");
	printf("anon 4K              %p\n", map(4));
	printf("file shared 4M off 0 %p\n", map_fd(4096, PROT_READ, MAP_SHARED, fd, 0));
	printf("anon 4K              %p\n", map(4));
	printf("file private 4M off 1M %p\n", map_fd(4096, PROT_READ, MAP_PRIVATE, fd, 1 << 20));
	printf("anon 4K              %p\n", map(4));
	printf("memfd shared 4M      %p\n", map_fd(4096, PROT_READ, MAP_SHARED, mfd, 0));
	printf("anon 4K              %p\n", map(4));
	printf("shared anon 4M       %p\n", map_fd(4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
	printf("anon 4K              %p\n", map(4));
	printf("hugetlb 2M           %p\n",
	       map_fd(2048, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0));
	printf("anon 4K              %p\n", map(4));
	void *hint = (void *)0x200000000000ull;
	printf("hint 8K              %p\n", mmap(hint, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	printf("same hint 8K         %p\n", mmap(hint, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	void *p = mmap(hint, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	printf("noreplace 8K         %p (%s)\n", p, p == MAP_FAILED && errno == EEXIST ? "EEXIST" : "?");
	return 0;
}

int main(int argc, char **argv)
{
	void *p[22];
	struct rlimit rl;
	char buf[64] = "?";
	FILE *f;

	int pers = personality(0xffffffff);

	if (!(pers & ADDR_NO_RANDOMIZE)) {
		personality((unsigned long)pers | ADDR_NO_RANDOMIZE);   /* keeps ADDR_COMPAT_LAYOUT (setarch -L) */
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	}
	if ((f = fopen("/proc/sys/vm/mmap_min_addr", "r"))) {
		if (!fgets(buf, sizeof(buf), f))
			strcpy(buf, "?\n");
		fclose(f);
	}
	getrlimit(RLIMIT_STACK, &rl);
	if (argc > 1 && !strcmp(argv[1], "files"))
		return files();
	printf("mmap_min_addr %s", buf);
	printf("stack rlimit %lu\n", (unsigned long)rl.rlim_cur);
	printf("personality %#x\n", (unsigned int)personality(0xffffffff));
	/* Everything this program prints later is already mapped (stdio's buffer). */
	dump_maps("before");
	for (int i = 0; i < 20; i++)
		p[i] = map(sizes_kib[i]);
	munmap(p[3], 1024 << 10);          /* a 1 MiB hole */
	munmap(p[7], 4096 << 10);          /* a 4 MiB hole */
	p[20] = map(512);                  /* the highest hole that fits */
	p[21] = map(2048);                 /* PMD-aligned, padded search */
	for (int i = 0; i < 22; i++)
		printf("mmap %2d len %5lu KiB -> %p\n", i, i < 20 ? sizes_kib[i] : i == 20 ? 512ul : 2048ul, p[i]);
	dump_maps("after");
	return 0;
}
