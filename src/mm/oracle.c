/*
 * The safety oracle.
 *
 * When a frame goes back to the free pool — a data page or a page-table
 * page — nothing may still reach it:
 *   - no CPU's TLB may still translate to it (frame->cache_refs, kept by the
 *     TLB model, is zero for data pages);
 *   - no paging-structure cache may still point at it (cache_refs of a table);
 *   - no GUP-fast walker and no RCU reader may still be inside it (holders);
 *   - a page table must not still map anything;
 *   - no other mm's page table may still link it (mshare: linked_table).
 * The check is O(1) on the clean path: counters only.  Only when one is
 * non-zero does it search for the culprits to name them.
 *
 * A violation is result data, not an error: it is recorded with the event
 * index, the CPU, the address and the frame, plus a backtrace (libunwind) of
 * the simulator path that freed it, and `ptsim run` exits with status 3.
 */
#include "mm/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "util/strbuf.h"

/*
 * Frames between the detection and the public entry point, innermost first.
 * The walk stops after the frame that holds the entry point's frame address
 * (recorded by the API's op_enter(); a frame whose stack pointer is above it
 * belongs to the caller), or, outside an API call, after a ptsim_* frame.
 */
static char *capture_backtrace(uintptr_t api_frame)
{
	unw_cursor_t cursor;
	unw_context_t ctx;
	struct strbuf sb;
	int depth = 0;

	strbuf_init(&sb);
	if (unw_getcontext(&ctx) || unw_init_local(&cursor, &ctx))
		return strbuf_detach(&sb);
	while (unw_step(&cursor) > 0 && depth < 24) {
		char name[128];
		unw_word_t off;
		unw_word_t sp = 0;
		if (api_frame && !unw_get_reg(&cursor, UNW_REG_SP, &sp) && sp > api_frame)
			break;
		if (unw_get_proc_name(&cursor, name, sizeof(name), &off))
			snprintf(name, sizeof(name), "?");
		/*
		 * A compiler's clone suffix (".lto_priv.0", ".isra.0", ".constprop.0",
		 * ".part.0") depends on how the build partitioned the code, not on the path.
		 */
		char *dot = strchr(name, '.');
		if (dot && dot != name)
			*dot = 0;
		if (!strcmp(name, "oracle_report") || !strcmp(name, "capture_backtrace") ||
		    !strncmp(name, "report_", 7) || !strcmp(name, "oracle_check_free") ||
		    !strncmp(name, "tlb_mark_stale_refs", 19))
			continue;
		strbuf_addf(&sb, "%s%s", depth ? " <- " : "", name);
		depth++;
		/* Stop at the public entry point: the rest is the caller's program. */
		if (!strncmp(name, "ptsim_", 6))
			break;
	}
	return strbuf_detach(&sb);
}

void oracle_report(struct ptsim_machine *m, enum ptsim_violation_kind kind, int cpu, uint64_t addr, uint64_t pfn,
		   const char *fmt, ...)
{
	struct strbuf sb;
	va_list ap;

	if (m->nr_viol == m->cap_viol) {
		size_t ncap = m->cap_viol ? m->cap_viol * 2 : 16;
		struct sim_violation *n = sim_irealloc(&m->alloc, m->viol, m->cap_viol * sizeof(*n), ncap * sizeof(*n));
		if (!n) {
			m->internal_error = true;
			return;
		}
		m->viol = n;
		m->cap_viol = ncap;
	}
	strbuf_init(&sb);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);

	struct sim_violation *v = &m->viol[m->nr_viol++];
	v->kind = kind;
	v->event = m->event;
	v->cpu = cpu;
	v->addr = addr;
	v->pfn = pfn;
	char *msg = strbuf_detach(&sb);
	v->message = msg ? sim_istrdup(&m->alloc, msg) : NULL;
	free(msg);
	char *bt = capture_backtrace(m->api_frame);
	v->backtrace = bt ? sim_istrdup(&m->alloc, bt) : NULL;
	free(bt);
	STAT_INC(m, VIOLATIONS);
}

struct ref_ctx {
	struct ptsim_machine *m;
	uint32_t pfn;
	bool table;
	unsigned int found;
};

static void report_ref(void *arg, const struct sim_cpu *cpu, bool leaf, uint64_t key, uint64_t va)
{
	struct ref_ctx *c = arg;

	if (c->found++ >= 4)
		return;   /* name a few; the count says the rest */
	if (c->table)
		oracle_report(c->m, PTSIM_VIOL_PWC, (int)cpu->id, va, c->pfn,
			      "page table %u freed while cpu %u's paging-structure cache still points at it "
			      "(entry for va %#llx, asid %u)",
			      c->pfn, cpu->id, (unsigned long long)va, tlb_key_asid(key));
	else
		oracle_report(c->m, PTSIM_VIOL_TLB, (int)cpu->id, va, c->pfn,
			      "page %u freed while cpu %u's TLB still translates va %#llx to it (asid %u%s)", c->pfn,
			      cpu->id, (unsigned long long)va, tlb_key_asid(key),
			      (tlb_key_flags(key) & TLBF_WRITE) ? ", writable" : "");
}

static void report_holders(struct ptsim_machine *m, uint32_t pfn)
{
	const struct ptdesc *pt = pt_desc(m, pfn);

	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const struct sim_cpu *cpu = &m->cpus[c];
		for (unsigned int i = 0; i < cpu->nr_walker_tables; i++)
			if (cpu->walker_tables[i] == pfn)
				oracle_report(m, PTSIM_VIOL_WALKER, (int)c, cpu->walker_addr, pfn,
					      "page table %u (level %s, va %#llx) freed while a GUP-fast walker on "
					      "cpu %u is still inside it",
					      pfn, pt->level == PT_PTE ? "pte" : pt->level == PT_PMD ? "pmd" : "upper",
					      (unsigned long long)pt->addr, c);
		if (cpu->reader_table == pfn)
			oracle_report(m, PTSIM_VIOL_RCU_READER, (int)c, cpu->reader_addr, pfn,
				      "page table %u (va %#llx) freed while an RCU reader (pte_offset_map) on cpu %u "
				      "still holds it",
				      pfn, (unsigned long long)pt->addr, c);
	}
}

/**
 * oracle_check_free - called for every frame about to go back to the pool.
 */
void oracle_check_free(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	if (PTSIM_LIKELY(!f->cache_refs && !f->holders) && f->kind != FRAME_PGTABLE)
		return;

	bool table = f->kind == FRAME_PGTABLE;
	if (table) {
		/* mshare: other mms' tables still link it (RFC v3 after munmap): reported, then cut. */
		if (PTSIM_UNLIKELY(pt_desc(m, pfn)->mshare_links))
			mshare_report_linked_table(m, pfn);
		if (f->holders)
			report_holders(m, pfn);
		if (!pt_table_empty(m, pfn)) {
			const struct ptdesc *pt = pt_desc(m, pfn);
			const pgent_t *e = pt_entries(m, pfn);
			unsigned int used = 0;
			for (unsigned int i = 0; i < m->geo.ptrs[pt->level]; i++)
				used += e[i] != 0;
			oracle_report(m, PTSIM_VIOL_NONEMPTY_TABLE, -1, pt->addr, pfn,
				      "page table %u (va %#llx) freed with %u entries still in use: the pages they "
				      "map can no longer be unmapped",
				      pfn, (unsigned long long)pt->addr, used);
		}
	}
	f = frame(m, pfn);
	if (f->cache_refs) {
		struct ref_ctx c = { m, pfn, table, 0 };
		tlb_mark_stale_refs(m, pfn, report_ref, &c);
		if (c.found > 4)
			oracle_report(m, table ? PTSIM_VIOL_PWC : PTSIM_VIOL_TLB, -1, 0, pfn,
				      "... and %u more cached entries still reach frame %u", c.found - 4, pfn);
	}
}

/*
 * Is this write one a table owner may make while a former sharer's walker is
 * still inside?  A hugetlb fault installing a leaf, or changing the access
 * bits of the same page: the table still maps the same file's pages at the
 * same offsets, which the walker could have seen anyway (the reasoning of
 * 8ce720d5bd91 for not-last sharers).  Anything else — clearing a mapped
 * page, a table pointer, a different page — means the table is being changed
 * or reused under the walker.
 */
static bool table_write_benign(pgent_t old, pgent_t val)
{
	if (!pgent_huge(val))
		return false;
	return pgent_none(old) || (pgent_huge(old) && pgent_pfn(old) == pgent_pfn(val));
}

/**
 * oracle_check_table_write - a page-table entry was written while some CPU's
 * GUP-fast walker is inside a hugetlb PMD table that its own mm has unshared
 * (cpu->walker_stale_table).  If the write goes into that table and is not
 * benign, the table is being modified or reused under the walker: report it
 * once per walk, naming the table.  Only called while m->nr_stale_walkers.
 *
 * Not when the writing operation is waiting for an IPI to the walker's CPU:
 * the kernel's operation is still inside that synchronous wait, and the write
 * comes after it, so after the walk ended (issue 15 item 12: move_pages()
 * unshares the table from the walker's mm, broadcasts — or, before
 * 1013af4f585f on x86, flushes by IPI the walker's CPU, which runs that mm —
 * and only then does the rmap walk reach the remaining owner's entry; the
 * simulation runs that later step before the walk ends).  With no IPI to wait
 * for (INVLPGB or arm64 flushes before the fix, no_broadcast) the write does
 * race with the walker and is reported.
 */
void oracle_check_table_write(struct ptsim_machine *m, const pgent_t *ep, pgent_t old, pgent_t val)
{
	const struct ptdesc *pt = virt_to_ptdesc(m, ep);
	const struct sim_cpu *self = this_cpu(m);

	if (!pt || table_write_benign(old, val))
		return;
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		struct sim_cpu *cpu = &m->cpus[c];
		if (cpu->walker_stale_table != pt->pfn || cpu->walker_stale_reported ||
		    cpu->walker_stale_gen != frame(m, pt->pfn)->gen || cpu_waits_for(self, cpu))
			continue;
		const pgent_t *base = pt_entries(m, pt->pfn);
		uint64_t va = pt->addr + ((uint64_t)(ep - base) << m->geo.shift[pt->level]);
		cpu->walker_stale_reported = true;
		oracle_report(m, PTSIM_VIOL_WALKER, (int)c, cpu->walker_addr, pt->pfn,
			      "page table %u (shared hugetlb PMD table, va %#llx) modified (entry for va %#llx) by "
			      "cpu %d's operation while a GUP-fast walker on cpu %u is still inside it, although "
			      "the walker's mm %u no longer maps it: the table is reused under the walker "
			      "(no IPI waited for it after the last unshare)",
			      pt->pfn, (unsigned long long)pt->addr, (unsigned long long)va, self ? (int)self->id : -1,
			      c, cpu->walker_mm ? cpu->walker_mm->id : 0);
	}
}
