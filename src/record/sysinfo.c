/*
 * The machine a recording runs on: architecture, CPUs, paging levels, and
 * the ptsim preset closest to the running kernel.
 *
 * Paging levels are probed, not guessed from CPU flags: with 5-level paging
 * the kernel gives user space addresses above 2^47 when asked for one with
 * MAP_FIXED_NOREPLACE; with 4 levels the same request fails.
 *
 * The preset: `uname -r` gives MAJOR.MINOR.PATCH (anything after is the
 * distribution's).  Among ptsim's presets (names "6.18.44", "6.18", ...) the
 * one with the same MAJOR.MINOR and the highest PATCH not above the running
 * one wins (a bare "6.18" counts as PATCH 0); failing that, the highest
 * preset version below the running kernel; failing that (an older kernel
 * than every preset), the oldest preset.  The reason is kept for the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ptsim/ptsim.h"
#include "record/sysinfo.h"

/* "6.18.44-fc-v1045" -> 6, 18, 44 (missing parts are 0).  Return: 0 or -1. */
static int parse_version(const char *s, unsigned int v[3])
{
	v[0] = v[1] = v[2] = 0;
	for (int i = 0; i < 3; i++) {
		char *end;
		if (*s < '0' || *s > '9')
			return i >= 2 ? 0 : -1;
		unsigned long x = strtoul(s, &end, 10);
		v[i] = (unsigned int)x;
		s = end;
		if (*s != '.')
			return i >= 1 ? 0 : -1;
		s++;
	}
	return 0;
}

static int vcmp(const unsigned int a[3], const unsigned int b[3])
{
	for (int i = 0; i < 3; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

void rec_choose_preset(const char *release, char *preset, size_t plen, char *why, size_t wlen)
{
	unsigned int run[3], best_same[3] = { 0, 0, 0 }, best_below[3] = { 0, 0, 0 }, oldest[3] = { 0, 0, 0 };
	const char *same = NULL, *below = NULL, *old = NULL;

	if (parse_version(release, run)) {
		snprintf(preset, plen, "%s", PTSIM_DEFAULT_PRESET);
		snprintf(why, wlen, "kernel release '%s' is not MAJOR.MINOR[.PATCH]: the default preset", release);
		return;
	}
	for (size_t i = 0; i < ptsim_preset_count(); i++) {
		const char *name = ptsim_preset_name(i);
		unsigned int v[3];
		if (parse_version(name, v))
			continue;
		if (v[0] == run[0] && v[1] == run[1] && v[2] <= run[2] && (!same || vcmp(v, best_same) > 0)) {
			same = name;
			memcpy(best_same, v, sizeof(v));
		}
		if (vcmp(v, run) <= 0 && (!below || vcmp(v, best_below) > 0)) {
			below = name;
			memcpy(best_below, v, sizeof(v));
		}
		if (!old || vcmp(v, oldest) < 0) {
			old = name;
			memcpy(oldest, v, sizeof(v));
		}
	}
	if (same) {
		snprintf(preset, plen, "%s", same);
		snprintf(why, wlen, "%s for kernel %s: %s", same, release,
			 vcmp(best_same, run) == 0 ? "the same version" :
			 "the same MAJOR.MINOR, the nearest PATCH at or below it");
	} else if (below) {
		snprintf(preset, plen, "%s", below);
		snprintf(why, wlen, "%s for kernel %s: the newest preset older than it (no preset for %u.%u)", below,
			 release, run[0], run[1]);
	} else {
		snprintf(preset, plen, "%s", old ? old : PTSIM_DEFAULT_PRESET);
		snprintf(why, wlen, "%s for kernel %s: older than every preset, the oldest one", preset, release);
	}
}

static unsigned int probe_paging_levels(void)
{
	/* 2^52: inside the 57-bit user space of 5-level paging, far outside 47 bits. */
	void *hint = (void *)(1ull << 52);
	void *p = mmap(hint, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return 4;
	munmap(p, 4096);
	return p == hint ? 5 : 4;
}

/*
 * CONFIG_HZ of the running kernel, from its configuration (/proc/config.gz,
 * or /boot/config-RELEASE): the tick that jiffies count, which times the
 * x86 mm_cpumask trim (once a second, in jiffies).  0 if neither is there.
 */
static unsigned int probe_hz(const char *release)
{
	char path[160], line[256];
	unsigned int hz = 0;

	snprintf(path, sizeof(path), "/boot/config-%s", release);
	const char *paths[] = { "/proc/config.gz", path };
	for (size_t i = 0; i < 2 && !hz; i++) {
		gzFile f = gzopen(paths[i], "rb");   /* reads plain files too */
		if (!f)
			continue;
		while (!hz && gzgets(f, line, sizeof(line)))
			if (!strncmp(line, "CONFIG_HZ=", 10))
				hz = (unsigned int)strtoul(line + 10, NULL, 10);
		gzclose(f);
	}
	return hz <= 100000 ? hz : 0;
}

int rec_sysinfo_get(struct rec_sysinfo *si, char *err, size_t errlen)
{
	struct utsname u;

	memset(si, 0, sizeof(*si));
	if (uname(&u)) {
		snprintf(err, errlen, "uname: %s", strerror(errno));
		return -1;
	}
	snprintf(si->release, sizeof(si->release), "%s", u.release);
	snprintf(si->machine, sizeof(si->machine), "%s", u.machine);
	if (strcmp(u.machine, "x86_64")) {
		snprintf(err, errlen, "ptsim record runs on x86-64 only (this machine is %s): it reads the x86 "
			 "exceptions:page_fault_user and tlb:tlb_flush tracepoints", u.machine);
		return -1;
	}
	long n = sysconf(_SC_NPROCESSORS_CONF);
	si->cpus = n > 0 ? (unsigned int)n : 1;
	si->paging_levels = probe_paging_levels();
	si->hz = probe_hz(si->release);
	rec_choose_preset(si->release, si->preset, sizeof(si->preset), si->preset_why, sizeof(si->preset_why));
	return 0;
}
