/*
 * Algorithm variants and presets.
 *
 * A variant is a KEY=VALUE choice named after what changed in the kernel
 * (and the commit).  A preset names a kernel version as a bundle of variants.
 * Resolution order: built-in defaults, then the preset, then every --set /
 * "set" override in order.  Preset entries prefixed "x86_64:" or "arm64:"
 * apply to that architecture only (e.g. PT_RECLAIM is x86-64-only before 7.0).
 * All tables here are const: there is no global mutable state.
 */
#include "mm/internal.h"

#include <stdio.h>
#include <stdlib.h>

/* VT_LIMIT: an integer that is a machine limit, not a variant (quiet: described only when not its default). */
enum vtype { VT_ENUM, VT_INT, VT_BOOL, VT_LIMIT };

struct variant_desc {
	const char *key;
	enum vtype type;
	size_t offset;
	const char *const *values;   /* VT_ENUM: NULL-terminated value names, index = value */
	int min, max;                /* VT_INT */
	const char *help;
	/*
	 * Described (JSON and text report) only when not its default: the
	 * limits, and settings added after the golden outputs whose default is
	 * what every run did before they existed.
	 */
	bool quiet;
};

static const char *const v_pt_reclaim[] = { "off", "on", "v1_2024_10", "fold_7_0", "fold_7_1_9", NULL };
static const char *const v_x86_pwc_invlpg[] = { "global", "targeted", NULL };
static const char *const v_x86_lazy_freed_tables[] = { "ipi", "skip", NULL };
static const char *const v_hugetlb_unshare[] = { "none", "ipi_per_table", "mmu_gather", "no_broadcast", NULL };
static const char *const v_table_free[] = { "rcu", "semi_rcu", "after_flush", "immediate", "rcu_4_18", NULL };
static const char *const v_table_batch[] = { "ok", "fail", NULL };
static const char *const v_x86_flush[] = { "ipi", "invlpgb", NULL };
static const char *const v_mm_cpumask[] = { "lazy", "eager", NULL };
static const char *const v_arm64_range_limit[] = { "legacy", "per_feature", NULL };
static const char *const v_arm64_lpa2[] = { "auto", "on", "off", NULL };
static const char *const v_mshare[] = { "fixed", "rfc_v3", "v2_2025", "v3_2025", NULL };
static const char *const v_mshare_flush[] = { "flush_all", "host_mm", "per_mm", "cpumask_union", NULL };

#define OFF(f) offsetof(struct sim_variants, f)

static const struct variant_desc variants[] = {
	{ "pt_reclaim", VT_ENUM, OFF(pt_reclaim), v_pt_reclaim, 0, 0,
	  "empty PTE-table reclaim on MADV_DONTNEED: off (before 6.14) | on (mm/pt_reclaim.c, 6.14-6.19) | v1_2024_10 "
	  "(the v1 posting, with its bugs) | fold_7_0 (folded into mm/memory.c, 7.0-7.1.8: the table is freed with the "
	  "address past its end, CVE-2026-74674) | fold_7_1_9 (the same with the table's own address, 7.1.9)", false },
	{ "hugetlb_unshare", VT_ENUM, OFF(hugetlb_unshare), v_hugetlb_unshare, 0, 0,
	  "hugetlb PMD unsharing: none (<= 6.15, no sync IPI) | ipi_per_table (1013af4f585f, 6.16-6.18) | mmu_gather "
	  "(8ce720d5bd91, 6.19, 6.18.y) | no_broadcast (unsafe test variant)", false },
	{ "table_free", VT_ENUM, OFF(table_free), v_table_free, 0, 0,
	  "page-table freeing: rcu (RCU batches + RCU single-table fallback, x86 6.14+) | semi_rcu (single table: "
	  "sync IPI then free) | after_flush (freed right after the flush IPI, x86 bare metal before 6.15) | "
	  "immediate (unsafe test variant) | rcu_4_18 (RCU table free before 4.19: a single-user mm frees tables before "
	  "the flush, no table invalidation; d86564a2f085, a6f572084fbe)", false },
	{ "table_batch_alloc", VT_ENUM, OFF(table_batch_alloc), v_table_batch, 0, 0,
	  "GFP_NOWAIT allocation of a table batch page: ok | fail (forces the single-table fallback)", false },
	{ "x86_flush", VT_ENUM, OFF(x86_flush), v_x86_flush, 0, 0,
	  "x86 TLB-flush transport: ipi | invlpgb (AMD broadcast, global ASIDs for mms on > 3 CPUs, 6.15+)", false },
	{ "mm_cpumask", VT_ENUM, OFF(mm_cpumask), v_mm_cpumask, 0, 0,
	  "x86 mm_cpumask: lazy (6.14+: bit kept at switch-away, trimmed by flushes) | eager (cleared at switch-away)", false },
	{ "flush_tlb_range_freed_tables", VT_BOOL, OFF(flush_tlb_range_freed_tables), NULL, 0, 1,
	  "x86 flush_tlb_range() passes freed_tables=true (3ef938c35035): on | off", false },
	{ "x86_pwc_invlpg", VT_ENUM, OFF(x86_pwc_invlpg), v_x86_pwc_invlpg, 0, 0,
	  "x86 CPU: what INVLPG does to the paging-structure caches: global (every entry of the PCID: Intel without "
	  "PTI) | targeted (only those on the address's path: INVPCID single-address, AMD with EFER.TCE)", false },
	{ "x86_lazy_freed_tables", VT_ENUM, OFF(x86_lazy_freed_tables), v_x86_lazy_freed_tables, 0, 0,
	  "x86 lazy CPUs and page-table freeing: ipi (4.20+: a flush that freed tables reaches lazy CPUs) | skip (the "
	  "2018 'make lazy TLB mode lazier' patch ac0315896970 before 2ff6ddf19c0e: never; unsafe)", false },
	{ "tlb_single_page_flush_ceiling", VT_INT, OFF(tlb_single_page_flush_ceiling), NULL, 0, 1 << 30,
	  "x86: strides above which a ranged flush becomes a full flush (default 33)", false },
	{ "pcid", VT_BOOL, OFF(pcid), NULL, 0, 1, "x86 PCID (6 dynamic ASIDs per CPU): on | off", false },
	{ "idle_leave_mm", VT_BOOL, OFF(idle_leave_mm), NULL, 0, 1,
	  "x86 idle in a 'TLB flushed' C-state leaves the mm (bare metal): on | off (guests idling with HLT)", false },
	{ "madvise_one_gather", VT_BOOL, OFF(madvise_one_gather), NULL, 0, 1,
	  "one mmu_gather across all VMAs of a madvise call (6.16+): on | off", false },
	{ "mmu_gather_rcu_table_free", VT_BOOL, OFF(rcu_table_free_config), NULL, 0, 1,
	  "CONFIG_MMU_GATHER_RCU_TABLE_FREE is built (x86: PARAVIRT kernels, and all since 6.15; arm64 always): "
	  "on | off (tlb_remove_table_sync_one() is then an empty stub)", false },
	{ "x86_table_flush_implies_ipi", VT_BOOL, OFF(x86_table_flush_implies_ipi), NULL, 0, 1,
	  "x86 'skip redundant sync IPIs' (queued for 2026, not merged): with x86_flush=ipi, "
	  "tlb_remove_table_sync_one() returns at once and tlb_flush() passes freed_tables || unshared_tables: "
	  "on | off", false },
	{ "hz", VT_INT, OFF(hz), NULL, 1, 100000, "timer ticks per second (jiffies; the mm_cpumask trim period)", false },
	{ "tlb_page_entries", VT_INT, OFF(tlb_entries[TLB_PAGE]), NULL, 1, 1 << 20, "TLB entries for base pages", false },
	{ "tlb_page_ways", VT_INT, OFF(tlb_ways[TLB_PAGE]), NULL, 1, 1 << 20, "TLB associativity for base pages", false },
	{ "tlb_pmd_entries", VT_INT, OFF(tlb_entries[TLB_PMD]), NULL, 1, 1 << 20, "TLB entries for PMD leaves", false },
	{ "tlb_pmd_ways", VT_INT, OFF(tlb_ways[TLB_PMD]), NULL, 1, 1 << 20, "TLB associativity for PMD leaves", false },
	{ "tlb_pud_entries", VT_INT, OFF(tlb_entries[TLB_PUD]), NULL, 1, 1 << 20, "TLB entries for PUD leaves", false },
	{ "tlb_pud_ways", VT_INT, OFF(tlb_ways[TLB_PUD]), NULL, 1, 1 << 20, "TLB associativity for PUD leaves", false },
	{ "pwc_entries", VT_INT, OFF(pwc_entries), NULL, 1, 1 << 16,
	  "paging-structure-cache entries per cached level", false },
	{ "pwc_ways", VT_INT, OFF(pwc_ways), NULL, 1, 1 << 16, "paging-structure-cache associativity", false },
	{ "max_frames", VT_LIMIT, OFF(max_frames), NULL, 16, 0x7fffffff,
	  "limit: simulated frames in use, page tables and huge pages included (default 16777216 = 64 GiB of 4 KiB "
	  "pages); beyond it the run stops with ELIMIT", true },
	{ "max_pgtables", VT_LIMIT, OFF(max_pgtables), NULL, 4, 0x7fffffff,
	  "limit: page-table pages in use (default 262144 = 1 GiB of tables); beyond it the run stops with ELIMIT", true },
	{ "arm64_tlbi_range", VT_BOOL, OFF(arm64_tlbi_range), NULL, 0, 1, "arm64 FEAT_TLBIRANGE: on | off", false },
	{ "arm64_ttl", VT_BOOL, OFF(arm64_ttl), NULL, 0, 1, "arm64 FEAT_TTL level hints: on | off", false },
	{ "arm64_walkcache_fix", VT_BOOL, OFF(arm64_walkcache_fix), NULL, 0, 1,
	  "arm64 tlb_flush() treats unshared_tables like freed_tables (c2ff4764e03e): on | off", false },
	{ "arm64_asid_bits", VT_INT, OFF(arm64_asid_bits), NULL, 8, 16, "arm64 ASID bits: 8 or 16", false },
	{ "arm64_kpti", VT_BOOL, OFF(arm64_kpti), NULL, 0, 1, "arm64 KPTI (ASIDs used in pairs): on | off", false },
	{ "arm64_range_limit", VT_ENUM, OFF(arm64_range_limit), v_arm64_range_limit, 0, 0,
	  "arm64 __flush_tlb_range_limit_excess(): legacy (<= 6.19: more than 2^21 pages is a full flush even without "
	  "FEAT_TLBIRANGE) | per_feature (2026: that cap only with FEAT_TLBIRANGE; MAX_DVM_OPS stride ops without)", false },
	{ "arm64_lpa2", VT_ENUM, OFF(arm64_lpa2), v_arm64_lpa2, 0, 0,
	  "arm64 CPU implements FEAT_LPA2 (a TTL level-0 hint is then a hint; without it, reserved = no hint): auto "
	  "(exactly when the kernel runs 52-bit VA on 4K/16K pages) | on | off", false },
	{ "mshare", VT_ENUM, OFF(mshare), v_mshare, 0, 0,
	  "mshare (page tables shared through an msharefs host mm): fixed (RFC v3 with the unlink at munmap/exit and "
	  "the flush it needs, linked tables kept) | rfc_v3 (Sep 2024 as posted: munmap leaves the link; unsafe) | "
	  "v2_2025 (Apr 2025: P4D-level link cleared in free_pgtables() without a flush) | v3_2025 (Aug 2025: "
	  "unlinked at P4D stride without freed_tables, PUD share count, files and hugetlb)", false },
	{ "mshare_flush", VT_ENUM, OFF(mshare_flush), v_mshare_flush, 0, 0,
	  "how a flush of an mshare host mm reaches the sharing processes: flush_all (flush_tlb_all(): the RFC's "
	  "'for now', the 2025 mmu notifier) | host_mm (the host mm only: reaches no CPU; unsafe) | per_mm "
	  "(flush_tlb_mm_range() of each VMA in the file's i_mmap) | cpumask_union (one flush_tlb_multi() over the "
	  "union of the sharers' mm_cpumasks, ignoring info->mm)", false },
	{ "legacy_va_layout", VT_BOOL, OFF(legacy_va_layout), NULL, 0, 1,
	  "vm.legacy_va_layout: off (mmaps top-down below mmap_base, under the stack) | on (bottom-up from "
	  "TASK_UNMAPPED_BASE, as under `setarch -L`)", true },
	{ "randomize_va_space", VT_INT, OFF(randomize_va_space), NULL, 0, 2,
	  "kernel.randomize_va_space, drawn from the machine's seed: 0 (no randomization, as `setarch -R`; ptsim's "
	  "default) | 1 (mmap_base and the stack top of each new mm) | 2 (also the heap's start, the kernel's default)",
	  true },
	{ "mmap_rnd_bits", VT_INT, OFF(mmap_rnd_bits), NULL, 0, 64,
	  "vm.mmap_rnd_bits: random bits of mmap_base under randomize_va_space: 0 (the Kconfig default: x86-64 28, "
	  "arm64 18/16/14 for 4K/16K/64K pages) | ARCH_MMAP_RND_BITS_MIN .. _MAX (x86-64 28..32, arm64 up to 33)",
	  true },
};

#define NR_VARIANTS (sizeof(variants) / sizeof(variants[0]))

struct preset_desc {
	const char *name;
	const char *summary;
	const char *const *set;
};

/* 6.18.44 has c2ff4764e03e's arm64 walk-cache fix (stable since 6.18.35); mainline 6.19 as released has not. */
static const char *const p_6_18_44[] = {
	"pt_reclaim=on", "arm64:pt_reclaim=off", "hugetlb_unshare=mmu_gather", "table_free=rcu",
	"arm64:table_free=semi_rcu", "x86_flush=ipi", "mm_cpumask=lazy", "flush_tlb_range_freed_tables=on",
	"madvise_one_gather=on", "arm64_walkcache_fix=on", NULL,
};
static const char *const p_6_19[] = {
	"pt_reclaim=on", "arm64:pt_reclaim=off", "hugetlb_unshare=mmu_gather", "table_free=rcu",
	"arm64:table_free=semi_rcu", "x86_flush=ipi", "mm_cpumask=lazy", "flush_tlb_range_freed_tables=on",
	"madvise_one_gather=on", "arm64_walkcache_fix=off", NULL,
};
static const char *const p_7_1_9[] = {
	"pt_reclaim=fold_7_1_9", "hugetlb_unshare=mmu_gather", "table_free=rcu", "x86_flush=ipi", "mm_cpumask=lazy",
	"flush_tlb_range_freed_tables=on", "madvise_one_gather=on", "arm64_walkcache_fix=on",
	"arm64_range_limit=per_feature", NULL,
};
static const char *const p_7_0[] = {
	"pt_reclaim=fold_7_0", "hugetlb_unshare=mmu_gather", "table_free=rcu", "x86_flush=ipi", "mm_cpumask=lazy",
	"flush_tlb_range_freed_tables=on", "madvise_one_gather=on", "arm64_walkcache_fix=on",
	"arm64_range_limit=per_feature", NULL,
};
static const char *const p_6_18[] = {
	"pt_reclaim=on", "arm64:pt_reclaim=off", "hugetlb_unshare=ipi_per_table", "table_free=rcu",
	"arm64:table_free=semi_rcu", "x86_flush=ipi", "mm_cpumask=lazy", "flush_tlb_range_freed_tables=on",
	"madvise_one_gather=on", "arm64_walkcache_fix=off", NULL,
};
static const char *const p_6_15[] = {
	"pt_reclaim=on", "arm64:pt_reclaim=off", "hugetlb_unshare=none", "table_free=rcu",
	"arm64:table_free=semi_rcu", "x86_flush=ipi", "mm_cpumask=lazy", "flush_tlb_range_freed_tables=on",
	"madvise_one_gather=off", "arm64_walkcache_fix=off", NULL,
};
/* 6.12.35 also has 3ef938c35035 (flush_tlb_range() with freed_tables), in 6.12.y since 6.12.23. */
static const char *const p_6_12_35[] = {
	"pt_reclaim=off", "hugetlb_unshare=ipi_per_table", "table_free=after_flush", "arm64:table_free=semi_rcu",
	"x86_flush=ipi", "mm_cpumask=eager", "flush_tlb_range_freed_tables=on", "madvise_one_gather=off",
	"arm64_walkcache_fix=off", NULL,
};
static const char *const p_6_12[] = {
	"pt_reclaim=off", "hugetlb_unshare=none", "table_free=after_flush", "arm64:table_free=semi_rcu",
	"x86_flush=ipi", "mm_cpumask=eager", "flush_tlb_range_freed_tables=off", "madvise_one_gather=off",
	"arm64_walkcache_fix=off", NULL,
};

static const struct preset_desc presets[] = {
	{ "6.18.44", "the kernel of the development machines: 6.18 with the hugetlb unshare fix and the arm64 "
		     "walk-cache fix (c2ff4764e03e, 6.18.35) backported", p_6_18_44 },
	{ "6.19", "mainline 6.19: hugetlb unsharing batched through mmu_gather (8ce720d5bd91)", p_6_19 },
	{ "7.1.9", "7.1.9: 7.0 with the flush address of direct page-table reclaim fixed (CVE-2026-74674)", p_7_1_9 },
	{ "7.0", "2026: PT_RECLAIM folded into mm/memory.c on every RCU-table-free arch (freeing with the address past "
		 "the table, CVE-2026-74674), arm64 walk-cache fix (c2ff4764e03e)", p_7_0 },
	{ "6.18", "mainline 6.16-6.18: one sync IPI per unshared hugetlb PMD table (1013af4f585f)", p_6_18 },
	{ "6.16", "same hugetlb unshare as 6.18 (1013af4f585f, v6.16-rc1)", p_6_18 },
	{ "6.15", "before the CVE-2025-38085 fix: no sync IPI on unshare; RCU table free on x86 (a37259732a7d)", p_6_15 },
	{ "6.14", "PT_RECLAIM merged (x86-64), lazy mm_cpumask; no sync IPI on hugetlb unshare", p_6_15 },
	{ "6.12.35", "6.12 stable with the 1013af4f585f backport (one sync IPI per unshared table) and 3ef938c35035", p_6_12_35 },
	{ "6.12", "6.12 LTS as released: no PT reclaim, tables freed after the flush IPI, eager mm_cpumask", p_6_12 },
};

#define NR_PRESETS (sizeof(presets) / sizeof(presets[0]))

static void variants_defaults(struct sim_variants *v)
{
	memset(v, 0, sizeof(*v));
	v->pt_reclaim = PT_RECLAIM_ON;
	v->x86_pwc_invlpg = X86_PWC_INVLPG_GLOBAL;
	v->hugetlb_unshare = HUGETLB_UNSHARE_MMU_GATHER;
	v->table_free = TABLE_FREE_RCU;
	v->table_batch_alloc = 0;
	v->x86_flush = X86_FLUSH_IPI;
	v->mm_cpumask = MM_CPUMASK_LAZY;
	v->flush_tlb_range_freed_tables = 1;
	v->tlb_single_page_flush_ceiling = 33;
	v->pcid = 1;
	v->idle_leave_mm = 0;
	v->madvise_one_gather = 1;
	v->rcu_table_free_config = 1;
	v->hz = 1000;
	/* A second-level data TLB of a current x86 core (docs/tlb-model.md). */
	v->tlb_entries[TLB_PAGE] = 2048;
	v->tlb_ways[TLB_PAGE] = 16;
	v->tlb_entries[TLB_PMD] = 1024;
	v->tlb_ways[TLB_PMD] = 8;
	v->tlb_entries[TLB_PUD] = 64;
	v->tlb_ways[TLB_PUD] = 4;
	v->pwc_entries = 32;
	v->max_frames = SIM_DEFAULT_MAX_FRAMES;
	v->max_pgtables = SIM_DEFAULT_MAX_PGTABLES;
	v->pwc_ways = 4;
	v->arm64_tlbi_range = 0;
	v->arm64_ttl = 1;
	v->arm64_walkcache_fix = 0;
	v->arm64_asid_bits = 16;
	v->arm64_kpti = 0;
	v->arm64_range_limit = ARM64_RANGE_LIMIT_LEGACY;
	v->arm64_lpa2 = ARM64_LPA2_AUTO;
	v->mshare = MSHARE_FIXED;
	v->mshare_flush = MSHARE_FLUSH_ALL;
}

static const struct variant_desc *find_variant(const char *key)
{
	for (size_t i = 0; i < NR_VARIANTS; i++)
		if (!strcmp(variants[i].key, key))
			return &variants[i];
	return NULL;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "on", "true", "1", "yes" };
	static const char *const no[] = { "off", "false", "0", "no" };
	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int ptsim__variant_set(struct sim_variants *v, const char *key, const char *value, char *err, size_t errlen)
{
	const struct variant_desc *d = find_variant(key);
	int *field;

	if (!d) {
		snprintf(err, errlen, "unknown variant key '%s' (`ptsim variants` lists them)", key);
		return PTSIM_EBADCONFIG;
	}
	field = (int *)(void *)((char *)v + d->offset);
	switch (d->type) {
	case VT_ENUM:
		for (int i = 0; d->values[i]; i++) {
			if (!strcmp(d->values[i], value)) {
				*field = i;
				return 0;
			}
		}
	{
		size_t n = (size_t)snprintf(err, errlen, "variant %s: unknown value '%s' (one of:", key, value);
		for (int i = 0; d->values[i] && n < errlen; i++)
			n += (size_t)snprintf(err + n, errlen - n, " %s", d->values[i]);
		if (n < errlen)
			snprintf(err + n, errlen - n, ")");
		return PTSIM_EBADCONFIG;
	}
	case VT_BOOL:
		if (parse_bool(value, field)) {
			snprintf(err, errlen, "variant %s: '%s' is not on/off", key, value);
			return PTSIM_EBADCONFIG;
		}
		return 0;
	case VT_INT:
	case VT_LIMIT: {
		/* Decimal, or hex after 0x: leading zeros are decimal, as in trace numbers. */
		char *end;
		bool hex = value[0] == '0' && (value[1] == 'x' || value[1] == 'X');
		long x = (value[0] >= '0' && value[0] <= '9') ? strtol(hex ? value + 2 : value, &end, hex ? 16 : 10) : 0;
		if (!(value[0] >= '0' && value[0] <= '9') || (hex && !value[2]) || *end || x < d->min || x > d->max) {
			snprintf(err, errlen, "variant %s: '%s' is not an integer in [%d, %d]", key, value, d->min,
				 d->max);
			return PTSIM_EBADCONFIG;
		}
		*field = (int)x;
		return 0;
	}
	}
	return PTSIM_EBADCONFIG;
}

/* Apply one "KEY=VALUE" (optionally "arch:KEY=VALUE") for @arch. */
static int apply_pair(struct sim_variants *v, const char *pair, enum ptsim_arch arch, bool from_preset, char *err,
		      size_t errlen)
{
	char buf[256];
	const char *eq;

	if (strlen(pair) >= sizeof(buf)) {
		snprintf(err, errlen, "variant override too long: '%.40s...'", pair);
		return PTSIM_EBADCONFIG;
	}
	if (from_preset) {
		if (!strncmp(pair, "arm64:", 6)) {
			if (arch != PTSIM_ARCH_ARM64)
				return 0;
			pair += 6;
		} else if (!strncmp(pair, "x86_64:", 7)) {
			if (arch != PTSIM_ARCH_X86_64)
				return 0;
			pair += 7;
		}
	}
	eq = strchr(pair, '=');
	if (!eq || eq == pair) {
		snprintf(err, errlen, "variant override '%s' is not KEY=VALUE", pair);
		return PTSIM_EBADCONFIG;
	}
	memcpy(buf, pair, (size_t)(eq - pair));
	buf[eq - pair] = 0;
	return ptsim__variant_set(v, buf, eq + 1, err, errlen);
}

static const struct preset_desc *find_preset(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < NR_PRESETS; i++)
		if (!strcmp(presets[i].name, name))
			return &presets[i];
	return NULL;
}

int ptsim__variants_resolve(struct sim_variants *v, char preset_out[32], const struct ptsim_config *cfg, char *err,
			    size_t errlen)
{
	const char *name = cfg->preset ? cfg->preset : PTSIM_DEFAULT_PRESET;
	const struct preset_desc *p = find_preset(name);
	int rc;

	variants_defaults(v);
	if (!p) {
		snprintf(err, errlen, "unknown preset '%s' (`ptsim presets` lists them)", name);
		return PTSIM_EBADCONFIG;
	}
	snprintf(preset_out, 32, "%s", p->name);
	for (size_t i = 0; p->set[i]; i++) {
		rc = apply_pair(v, p->set[i], cfg->arch, true, err, errlen);
		if (rc)
			return rc;
	}
	for (size_t i = 0; cfg->set && cfg->set[i]; i++) {
		rc = apply_pair(v, cfg->set[i], cfg->arch, false, err, errlen);
		if (rc)
			return rc;
	}
	/* Cross-checks: set-associative arrays need power-of-two set counts. */
	for (int s = 0; s < NR_TLB_PSIZES; s++) {
		int sets = v->tlb_entries[s] / v->tlb_ways[s];
		if (v->tlb_entries[s] % v->tlb_ways[s] || sets & (sets - 1)) {
			snprintf(err, errlen, "TLB geometry: %d entries / %d ways must give a power-of-two number of sets",
				 v->tlb_entries[s], v->tlb_ways[s]);
			return PTSIM_EBADCONFIG;
		}
	}
	int psets = v->pwc_entries / v->pwc_ways;
	if (v->pwc_entries % v->pwc_ways || psets & (psets - 1)) {
		snprintf(err, errlen, "PWC geometry: %d entries / %d ways must give a power-of-two number of sets",
			 v->pwc_entries, v->pwc_ways);
		return PTSIM_EBADCONFIG;
	}
	if (v->arm64_asid_bits != 8 && v->arm64_asid_bits != 16) {
		snprintf(err, errlen, "variant arm64_asid_bits: must be 8 or 16");
		return PTSIM_EBADCONFIG;
	}
	return 0;
}

void ptsim__variants_describe(const struct sim_variants *v, sim_desc_emit_fn emit, void *ctx)
{
	char buf[32];

	struct sim_variants defaults;

	variants_defaults(&defaults);
	for (size_t i = 0; i < NR_VARIANTS; i++) {
		const struct variant_desc *d = &variants[i];
		int x = *(const int *)(const void *)((const char *)v + d->offset);
		if (d->quiet && x == *(const int *)(const void *)((const char *)&defaults + d->offset))
			continue;
		switch (d->type) {
		case VT_ENUM:
			emit(ctx, d->key, DESC_STRING, d->values[x]);
			break;
		case VT_BOOL:
			emit(ctx, d->key, DESC_BOOL, x ? "on" : "off");
			break;
		case VT_LIMIT:
		case VT_INT:
			snprintf(buf, sizeof(buf), "%d", x);
			emit(ctx, d->key, DESC_NUMBER, buf);
			break;
		}
	}
}

/*
 * Which architecture a variant means something on: the x86-only and
 * arm64-only keys by their prefix, and the x86 settings named without one.
 */
static bool variant_applies(const char *key, enum ptsim_arch arch)
{
	static const char *const x86_unprefixed[] = { "mm_cpumask", "flush_tlb_range_freed_tables",
						      "tlb_single_page_flush_ceiling", "pcid", "idle_leave_mm" };

	if (!strncmp(key, "arm64_", 6))
		return arch == PTSIM_ARCH_ARM64;
	if (!strncmp(key, "x86_", 4))
		return arch == PTSIM_ARCH_X86_64;
	for (size_t i = 0; i < sizeof(x86_unprefixed) / sizeof(x86_unprefixed[0]); i++)
		if (!strcmp(key, x86_unprefixed[i]))
			return arch == PTSIM_ARCH_X86_64;
	return true;
}

struct arch_filter {
	enum ptsim_arch arch;
	sim_desc_emit_fn emit;
	void *ctx;
};

static void variant_filter_emit(void *ctx, const char *key, enum sim_desc_type type, const char *text)
{
	const struct arch_filter *f = ctx;

	if (variant_applies(key, f->arch))
		f->emit(f->ctx, key, type, text);
}

/* The variants that apply to @arch (the text report; the JSON report keeps them all). */
void ptsim__variants_describe_arch(const struct sim_variants *v, enum ptsim_arch arch, sim_desc_emit_fn emit,
				   void *ctx)
{
	struct arch_filter f = { arch, emit, ctx };

	ptsim__variants_describe(v, variant_filter_emit, &f);
}

/* ---- public enumeration ---- */

PTSIM_API void ptsim_config_init(struct ptsim_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->version = PTSIM_CONFIG_VERSION;
	cfg->arch = PTSIM_ARCH_X86_64;
	cfg->cpus = 2;
	cfg->paging_levels = 0;
	cfg->granule = 0;
	cfg->preset = NULL;
	cfg->set = NULL;
	cfg->seed = 1;
}

PTSIM_API size_t ptsim_preset_count(void)
{
	return NR_PRESETS;
}

PTSIM_API const char *ptsim_preset_name(size_t i)
{
	return i < NR_PRESETS ? presets[i].name : NULL;
}

PTSIM_API const char *ptsim_preset_summary(const char *name)
{
	const struct preset_desc *p = find_preset(name);
	return p ? p->summary : NULL;
}

PTSIM_API const char *const *ptsim_preset_pairs(const char *name)
{
	const struct preset_desc *p = find_preset(name);
	return p ? p->set : NULL;
}

PTSIM_API size_t ptsim_variant_count(void)
{
	return NR_VARIANTS;
}

PTSIM_API const char *ptsim_variant_key(size_t i)
{
	return i < NR_VARIANTS ? variants[i].key : NULL;
}

PTSIM_API const char *ptsim_variant_help(size_t i)
{
	return i < NR_VARIANTS ? variants[i].help : NULL;
}
