/*
 * Simulated physical memory: frame descriptors, the free pool, page
 * references.
 *
 * Frames are handed out LIFO from one free list (deterministic reuse, and the
 * most recently freed frame is the first reused, which is what makes a
 * use-after-free through a stale TLB entry visible soonest).  Frame 0 is never
 * used (a zero entry means "none"); frame 1 is the shared zero page.
 *
 * Every return of a frame to the pool goes through the safety oracle first
 * (oracle_check_free()), and every free issued by a CPU that is still waiting
 * for an IPI is deferred until the wait ends (free_frame_after_waits()).
 */
#include "mm/internal.h"

#include <stdlib.h>

#include "arch/arch.h"

static int phys_grow(struct ptsim_machine *m)
{
	struct sim_phys *p = &m->phys;
	uint32_t ncap = p->cap ? p->cap * 2 : 4096;

	if (ncap < p->cap)   /* 2^32 frames is the limit */
		return SIM_ENOMEM;
	struct sim_frame *nf = sim_realloc(&m->alloc, p->frames, (size_t)p->cap * sizeof(*nf),
					   (size_t)ncap * sizeof(*nf));
	if (!nf)
		return SIM_ENOMEM;
	memset(nf + p->cap, 0, (size_t)(ncap - p->cap) * sizeof(*nf));
	p->frames = nf;
	p->cap = ncap;
	return 0;
}

/**
 * phys_alloc - a free frame of @kind (refcount 1, mapcount 0), or 0 when the
 * allocator fails (SIM_ENOMEM for the caller).
 */
/*
 * The machine's simulated-memory limits (max_frames, max_pgtables): a frame
 * they refuse fails like one the host refused (the simulated kernel takes its
 * allocation-failure path), and the call then says which limit (api.c).
 */
static bool over_limit(struct ptsim_machine *m, enum frame_kind kind)
{
	const struct sim_phys *p = &m->phys;

	uint64_t max_frames = m->limits[PTSIM_LIMIT_FRAMES], max_pgtables = m->limits[PTSIM_LIMIT_PGTABLES];

	if (max_frames && p->in_use_total >= max_frames) {
		m->limit_hit = "max_frames";
		return true;
	}
	if (kind == FRAME_PGTABLE && max_pgtables && p->in_use[FRAME_PGTABLE] >= max_pgtables) {
		m->limit_hit = "max_pgtables";
		return true;
	}
	return false;
}

uint32_t phys_alloc(struct ptsim_machine *m, enum frame_kind kind, unsigned int order)
{
	struct sim_phys *p = &m->phys;
	uint32_t pfn;

	if (PTSIM_UNLIKELY(over_limit(m, kind)))
		return 0;
	if (p->free_head) {
		pfn = p->free_head;
		p->free_head = p->frames[pfn].u.next_free;
	} else {
		if (p->nr == p->cap && phys_grow(m))
			return 0;
		pfn = p->nr++;
	}
	struct sim_frame *f = &p->frames[pfn];
	f->kind = (uint8_t)kind;
	f->order = (uint8_t)order;
	f->flags = 0;
	f->refcount = 1;
	f->mapcount = 0;
	f->holders = 0;
	memset(&f->u, 0, sizeof(f->u));
	p->in_use[kind]++;
	p->in_use_total++;
	if (kind != FRAME_PGTABLE && kind != FRAME_ZERO)
		STAT_INC(m, PAGES_ALLOC);
	return pfn;
}

/* phys_free - back to the pool; the oracle looks at it first. */
void phys_free(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_phys *p = &m->phys;
	struct sim_frame *f = &p->frames[pfn];

	if (NEVER(m, f->kind == FRAME_FREE || f->kind == FRAME_ZERO || pfn == 0))
		return;
	if (PTSIM_UNLIKELY(f->cache_refs || f->holders))
		oracle_check_free(m, pfn);   /* data pages: only a cached entry or a holder can be wrong */
	if (p->frames[pfn].kind != FRAME_PGTABLE)
		STAT_INC(m, PAGES_FREED);
	phys_put_free(m, pfn);
}

/* phys_put_free - put a frame the caller has finished with (and checked) on the free list. */
void phys_put_free(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_phys *p = &m->phys;
	struct sim_frame *f = &p->frames[pfn];

	p->in_use[f->kind]--;
	p->in_use_total--;
	f->kind = FRAME_FREE;
	f->gen++;
	f->refcount = 0;
	f->mapcount = 0;
	f->u.next_free = p->free_head;
	p->free_head = pfn;
}

/* release_frame_now - the last reference went: free the frame by kind. */
void release_frame_now(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	switch (f->kind) {
	case FRAME_PGTABLE:
		pt_free_table(m, f->u.table.pt);
		break;
	case FRAME_ZERO:
	case FRAME_FREE:
		NEVER(m, true);
		break;
	default:
		phys_free(m, pfn);
		break;
	}
}

void get_page(struct ptsim_machine *m, uint32_t pfn)
{
	struct sim_frame *f = frame(m, pfn);

	if (f->kind == FRAME_ZERO)
		return;
	f->refcount++;
}

int phys_init(struct ptsim_machine *m)
{
	struct sim_phys *p = &m->phys;

	memset(p, 0, sizeof(*p));
	if (phys_grow(m))
		return SIM_ENOMEM;
	p->nr = 1;   /* pfn 0 is never handed out */
	p->zero_pfn = phys_alloc(m, FRAME_ZERO, 0);
	if (!p->zero_pfn)
		return SIM_ENOMEM;
	return 0;
}

void phys_release(struct ptsim_machine *m)
{
	sim_free(&m->alloc, m->phys.frames, (size_t)m->phys.cap * sizeof(struct sim_frame));
	m->phys.frames = NULL;
	m->phys.cap = m->phys.nr = 0;
}
