/*
 * Machine configuration.
 *
 * Fill a struct ptsim_config with ptsim_config_init() (which sets the version
 * and the defaults: x86-64, 2 CPUs, 4-level paging, preset "6.18.44"), change
 * what you need, and pass it to ptsim_machine_create().  Algorithm variants are
 * chosen by a preset (a kernel version: a bundle of variants) and individual
 * KEY=VALUE overrides, the same pairs the CLI takes with --set.  `ptsim
 * presets` and ptsim_preset_describe() list them.
 */
#ifndef PTSIM_CONFIG_H
#define PTSIM_CONFIG_H

#include <stddef.h>
#include "ptsim/export.h"

#define PTSIM_CONFIG_VERSION 1
#define PTSIM_MAX_CPUS 8192
#define PTSIM_DEFAULT_PRESET "6.18.44"

enum ptsim_arch {
	PTSIM_ARCH_X86_64 = 0,
	PTSIM_ARCH_ARM64 = 1,
};

struct ptsim_config {
	unsigned int version;      /* PTSIM_CONFIG_VERSION */
	enum ptsim_arch arch;
	unsigned int cpus;         /* 1 .. PTSIM_MAX_CPUS */
	unsigned int paging_levels;/* x86-64: 4 or 5; arm64: see docs (0 = default) */
	unsigned int granule;      /* base page size in bytes: x86-64 4096; arm64 4096/16384/65536 (0 = 4096) */
	unsigned int va_bits;      /* arm64 only: 36..52 (0 = derived from levels) */
	const char *preset;        /* kernel version name; NULL = PTSIM_DEFAULT_PRESET */
	const char *const *set;    /* NULL-terminated list of "KEY=VALUE" overrides, or NULL */
	/*
	 * Seed of the machine's own RNG (default 1), and of the address-space
	 * randomization the "randomize_va_space=1|2" override turns on (each mm
	 * draws from a stream of this seed and its number).
	 */
	unsigned long long seed;
};

/** ptsim_config_init - fill @cfg with the version and the defaults. */
PTSIM_API void ptsim_config_init(struct ptsim_config *cfg);

/**
 * ptsim_preset_count / ptsim_preset_name / ptsim_preset_summary /
 * ptsim_preset_pairs - the list of presets, a one-line summary of each, and
 * the NULL-terminated "KEY=VALUE" pairs it sets (an "arm64:" or "x86_64:"
 * prefix limits a pair to one architecture).  Static data; NULL if unknown.
 */
PTSIM_API size_t ptsim_preset_count(void);
PTSIM_API const char *ptsim_preset_name(size_t i);
PTSIM_API const char *ptsim_preset_summary(const char *name);
PTSIM_API const char *const *ptsim_preset_pairs(const char *name);

/**
 * ptsim_variant_count / ptsim_variant_key / ptsim_variant_help - the variant
 * keys accepted by --set / "set", with a one-line help text listing the values.
 */
PTSIM_API size_t ptsim_variant_count(void);
PTSIM_API const char *ptsim_variant_key(size_t i);
PTSIM_API const char *ptsim_variant_help(size_t i);

#endif
