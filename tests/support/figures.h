/*
 * Walking the output of `ptsim compare-real --json`: every compared figure
 * {"real", "ptsim", "diff"} with its path (e.g. "cpus[1].ipi.received.tlb_flush").
 */
#ifndef PTSIM_TEST_FIGURES_H
#define PTSIM_TEST_FIGURES_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Call @fn(path, figure, @ctx) for each figure under @o; @path (of @len bytes) holds the prefix. */
void t_each_figure(const cJSON *o, char *path, size_t len, void (*fn)(const char *, const cJSON *, void *),
		   void *ctx);

#endif
