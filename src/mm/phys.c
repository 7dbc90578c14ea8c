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

/*
 * The machine's simulated-memory limits (max_frames, max_pgtables): a frame
 * they refuse fails like one the host refused (the simulated kernel takes its
 * allocation-failure path), and the call then says which limit (api.c).
 * phys_alloc() (internal.h) tests them inline; this names the one hit.
 */
uint32_t phys_refuse(struct ptsim_machine *m)
{
	uint64_t max_frames = m->limits[PTSIM_LIMIT_FRAMES];

	m->limit_hit = max_frames && m->phys.in_use_total >= max_frames ? "max_frames" : "max_pgtables";
	return 0;
}

/* The slow half of phys_alloc(): a frame never handed out before (grows the array); 0 on failure. */
uint32_t phys_alloc_new(struct ptsim_machine *m)
{
	struct sim_phys *p = &m->phys;

	if (p->nr == p->cap && phys_grow(m))
		return 0;
	return p->nr++;
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
