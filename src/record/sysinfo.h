/* The machine a recording runs on (sysinfo.c). */
#ifndef PTSIM_RECORD_SYSINFO_H
#define PTSIM_RECORD_SYSINFO_H

#include <stddef.h>

struct rec_sysinfo {
	char release[65];          /* uname -r */
	char machine[65];          /* uname -m */
	unsigned int cpus;         /* CPUs configured (ids 0 .. cpus - 1) */
	unsigned int paging_levels;
	char preset[32];           /* the closest ptsim preset */
	char preset_why[200];      /* and why it was chosen */
	unsigned int hz;           /* the kernel's CONFIG_HZ (jiffies per second), 0 if unknown */
};

int rec_sysinfo_get(struct rec_sysinfo *si, char *err, size_t errlen);
/* The preset for kernel @release, and the reason (exposed for the tests). */
void rec_choose_preset(const char *release, char *preset, size_t plen, char *why, size_t wlen);

#endif
