/*
 * hugetlb_mremap_offset - what the running kernel does to a private hugetlb
 * mapping moved by mremap() to a destination whose offset inside its 1 GiB
 * (PUD) region differs from the source's (ptsim issue 15, item 3).
 *
 * Build and run as root with huge pages reserved (a 1 GiB MAP_PRIVATE
 * mapping reserves 512 pages of 2 MiB):
 *   gcc -O2 -o hugetlb_mremap_offset bench/real/hugetlb_mremap_offset.c
 *   echo $(( $(cat /proc/sys/vm/nr_hugepages) + 600 )) > /proc/sys/vm/nr_hugepages
 *   ./hugetlb_mremap_offset [SRC DST FIRST N [LEN]]
 * Defaults: SRC 0x3d0000000, DST 0xac9000000 (offsets 256 MiB and 144 MiB
 * inside their PUD regions), FIRST 0x40d000000, N 6, LEN 1 GiB: LEN mapped at SRC,
 * N pages written at FIRST + i * 2 MiB (value i + 1 in their first word), the
 * whole GiB moved with MREMAP_MAYMOVE | MREMAP_FIXED to DST, then:
 *   - /proc/self/pagemap of the new range says which huge pages are present
 *     (before anything is read: reading would fault pages in);
 *   - each written page is read back at its expected new address;
 *   - HugetlbPages (/proc/self/status) and HugePages_Free (/proc/meminfo)
 *     before the mmap, after the writes, after mremap, after munmap.
 * Prints one JSON line.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HPAGE (2ull << 20)

static long field(const char *path, const char *name)
{
	char line[256];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name))) {
			v = strtol(line + strlen(name), NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long hugetlb_kb(void) { return field("/proc/self/status", "HugetlbPages:"); }
static long hp_free(void) { return field("/proc/meminfo", "HugePages_Free:"); }

/* Present bit (63) of the pagemap entry for @va. */
static int present(int pm, uint64_t va)
{
	uint64_t e = 0;

	if (pread(pm, &e, sizeof(e), (off_t)(va / 4096 * 8)) != sizeof(e))
		return -1;
	return (int)(e >> 63);
}

int main(int argc, char **argv)
{
	uint64_t src = 0x3d0000000ull, dst = 0xac9000000ull, first = 0x40d000000ull;
	uint64_t LEN = 1ull << 30;
	unsigned int n = 6;
	long free0, free1, free2, free3, kb1, kb2, kb3;

	if (argc == 5 || argc == 6) {
		src = strtoull(argv[1], NULL, 0);
		dst = strtoull(argv[2], NULL, 0);
		first = strtoull(argv[3], NULL, 0);
		n = (unsigned int)strtoul(argv[4], NULL, 0);
		if (argc == 6)
			LEN = strtoull(argv[5], NULL, 0);
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [SRC DST FIRST N [LEN]]\n", argv[0]);
		return 2;
	}
	free0 = hp_free();
	char *p = mmap((void *)src, LEN, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap (reserve huge pages first)");
		return 1;
	}
	for (unsigned int i = 0; i < n; i++)
		*(volatile uint64_t *)(first + i * HPAGE) = i + 1;
	free1 = hp_free();
	kb1 = hugetlb_kb();

	char *q = mremap(p, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)dst);
	if (q == MAP_FAILED) {
		perror("mremap");
		return 1;
	}
	int pm = open("/proc/self/pagemap", O_RDONLY);
	printf("{\"kernel\": \"");
	{
		char rel[128] = "";
		FILE *f = fopen("/proc/sys/kernel/osrelease", "r");
		if (f && fgets(rel, sizeof(rel), f))
			rel[strcspn(rel, "\n")] = 0;
		if (f)
			fclose(f);
		printf("%s", rel);
	}
	printf("\", \"src\": \"%#" PRIx64 "\", \"dst\": \"%#" PRIx64 "\", \"present_after_mremap\": [", src, dst);
	int np = 0;
	for (uint64_t va = dst; va < dst + LEN; va += HPAGE)
		if (present(pm, va) == 1)
			printf("%s\"%#" PRIx64 "\"", np++ ? ", " : "", va);
	printf("], ");
	free2 = hp_free();
	kb2 = hugetlb_kb();
	printf("\"read_back\": [");
	for (unsigned int i = 0; i < n; i++) {
		uint64_t va = dst + (first - src) + i * HPAGE;
		printf("%s{\"va\": \"%#" PRIx64 "\", \"value\": %" PRIu64 "}", i ? ", " : "", va,
		       *(volatile uint64_t *)va);
	}
	printf("], ");
	munmap(q, LEN);
	free3 = hp_free();
	kb3 = hugetlb_kb();
	printf("\"hugepages_free\": {\"before\": %ld, \"written\": %ld, \"moved\": %ld, \"unmapped\": %ld}, ", free0,
	       free1, free2, free3);
	printf("\"hugetlb_kb\": {\"written\": %ld, \"moved\": %ld, \"unmapped\": %ld}}\n", kb1, kb2, kb3);
	return 0;
}
