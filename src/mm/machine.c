/*
 * The machine: creation from a config, destruction of everything it owns.
 *
 * Everything of one simulation hangs off struct ptsim_machine; nothing is
 * global.  With jemalloc, destroying a machine drops its arena in one call;
 * with the C allocator (sanitizer builds) every object is freed one by one,
 * so LeakSanitizer checks that the machine really owns everything it
 * allocated.
 */
#include "mm/internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "arch/arch.h"
#include "mm/mmu_gather.h"

static void set_err(char *errbuf, size_t errlen, const char *msg)
{
	if (errbuf && errlen)
		snprintf(errbuf, errlen, "%s", msg);
}

uint64_t sim_rand(struct ptsim_machine *m)
{
	/* splitmix64: the machine's own seeded generator. */
	return splitmix64_mix(m->rng += 0x9e3779b97f4a7c15ull);
}

PTSIM_API int ptsim_machine_create(struct ptsim_machine **out, const struct ptsim_config *cfg, char *errbuf,
				   size_t errlen)
{
	char err[256] = "";
	struct ptsim_machine *m;
	int rc;

	if (!out || !cfg) {
		set_err(errbuf, errlen, "ptsim_machine_create: out and cfg must not be NULL");
		return -EINVAL;
	}
	*out = NULL;
	if (cfg->version != PTSIM_CONFIG_VERSION) {
		snprintf(err, sizeof(err), "config version %u, expected %u (use ptsim_config_init())", cfg->version,
			 PTSIM_CONFIG_VERSION);
		set_err(errbuf, errlen, err);
		return PTSIM_EBADCONFIG;
	}
	if (cfg->cpus < 1 || cfg->cpus > PTSIM_MAX_CPUS) {
		snprintf(err, sizeof(err), "cpus must be in [1, %d] (got %u)", PTSIM_MAX_CPUS, cfg->cpus);
		set_err(errbuf, errlen, err);
		return PTSIM_EBADCONFIG;
	}
	if (cfg->arch != PTSIM_ARCH_X86_64 && cfg->arch != PTSIM_ARCH_ARM64) {
		set_err(errbuf, errlen, "arch must be x86_64 or arm64");
		return PTSIM_EBADCONFIG;
	}

	m = calloc(1, sizeof(*m));
	if (!m) {
		set_err(errbuf, errlen, "out of memory");
		return SIM_ENOMEM;
	}
	sim_alloc_init(&m->alloc);
	m->cfg = *cfg;
	m->cfg.preset = NULL;
	m->cfg.set = NULL;
	m->rng = cfg->seed;
	m->nr_cpus = cfg->cpus;
	m->files_tail = &m->files;
	m->mshares_tail = &m->mshares;
	m->rcu.tail = &m->rcu.head;
	m->limits[PTSIM_LIMIT_MARKS] = PTSIM_DEFAULT_MAX_MARKS;
	m->limits[PTSIM_LIMIT_EXITS] = PTSIM_DEFAULT_MAX_EXITS;
	m->limits[PTSIM_LIMIT_EVENT_RESULTS] = PTSIM_DEFAULT_MAX_EVENT_RESULTS;

	rc = ptsim__variants_resolve(&m->v, m->preset, cfg, err, sizeof(err));
	if (rc)
		goto err_free;
	m->limits[PTSIM_LIMIT_FRAMES] = (uint64_t)m->v.max_frames;
	m->limits[PTSIM_LIMIT_PGTABLES] = (uint64_t)m->v.max_pgtables;
	pt_reclaim_select_era(m);
	mshare_select_era(m);
	m->ops = cfg->arch == PTSIM_ARCH_ARM64 ? &ptsim_arm64_ops : &ptsim_x86_64_ops;
	rc = arch_ops_validate(m->ops, err, sizeof(err));
	if (rc)
		goto err_free;
	m->entry_hook = m->ops->set_entry != NULL;

	m->cpus = sim_zalloc_aligned(&m->alloc, _Alignof(struct sim_cpu), (size_t)m->nr_cpus * sizeof(struct sim_cpu));
	if (!m->cpus)
		goto err_nomem;
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		struct sim_cpu *cpu = &m->cpus[c];
		cpu->id = c;
		cpu->pending_tail = &cpu->pending;
	}
	for (int i = 0; i < 2; i++)
		if (!(m->cpu_scratch[i] = sim_calloc(&m->alloc, m->nr_cpus, sizeof(unsigned int))))
			goto err_nomem;
	if (phys_init(m))
		goto err_nomem;
	rc = m->ops->setup(m, cfg, err, sizeof(err));
	if (rc)
		goto err_free;
	mmu_gather_select_era(m);
	hugetlb_select_era(m);
	m->mmap_min_addr = 4096;                          /* CONFIG_DEFAULT_MMAP_MIN_ADDR here */
	m->stack_guard_gap = 256ull << m->geo.page_shift; /* mm/mmap.c: 256 pages */
	m->rlimit_stack = 8ull << 20;                     /* _STK_LIM */
	m->legacy_va_layout = m->v.legacy_va_layout;
	if (m->v.mmap_rnd_bits) {   /* vm.mmap_rnd_bits: within the arch's ARCH_MMAP_RND_BITS_MIN .. _MAX */
		unsigned int bits = (unsigned int)m->v.mmap_rnd_bits;
		if (bits < m->geo.mmap_rnd_bits_min || bits > m->geo.mmap_rnd_bits_max) {
			snprintf(err, sizeof(err), "variant mmap_rnd_bits: %u is not in [%u, %u] for this arch and geometry",
				 bits, m->geo.mmap_rnd_bits_min, m->geo.mmap_rnd_bits_max);
			rc = PTSIM_EBADCONFIG;
			goto err_free;
		}
		m->geo.mmap_rnd_bits = bits;
	}
	m->magic = PTSIM_MACHINE_MAGIC;
	tlbcache_layout(m);   /* from the geometry setup() filled in */
	*out = m;
	return 0;

err_nomem:
	snprintf(err, sizeof(err), "out of memory");
	rc = SIM_ENOMEM;
err_free:
	set_err(errbuf, errlen, err);
	machine_free_everything(m);
	return rc;
}

/* Free one by one (C allocator), or drop the arena. */
void machine_free_everything(struct ptsim_machine *m)
{
	if (!sim_alloc_bulk_free(&m->alloc)) {
		struct sim_alloc *a = &m->alloc;

		/* Tasks. */
		for (size_t i = 0; i < m->tasks.cap; i++)
			if (m->tasks.slots[i].used)
				sim_free(a, (void *)(uintptr_t)m->tasks.slots[i].val, sizeof(struct sim_task));
		hmap_release(a, &m->tasks);
		/* RCU callbacks that never ran: table batches own memory. */
		while (m->rcu.head) {
			struct rcu_head *h = m->rcu.head;
			m->rcu.head = h->next;
			mmu_gather_rcu_release(m, h);
		}
		/* mms and their VMAs; the processes outside the trace too. */
		if (m->other_tasks)
			sim_free(a, m->other_tasks, m->nr_cpus * sizeof(struct sim_task));
		mshare_free_everything(m);   /* their host mms join the list */
		if (m->other_mm) {
			m->other_mm->next = m->mms;
			m->mms = m->other_mm;
		}
		while (m->mms) {
			struct mm_struct *mm = m->mms;
			m->mms = mm->next;
			/* Post-order: each VMA goes after its subtree. */
			struct vm_area_struct *v = mm->vma_root;
			while (v) {
				if (v->vt_left || v->vt_right) {
					v = v->vt_left ? v->vt_left : v->vt_right;
					continue;
				}
				struct vm_area_struct *p = v->vt_parent;
				if (p && p->vt_left == v)
					p->vt_left = NULL;
				else if (p)
					p->vt_right = NULL;
				sim_free(a, v, sizeof(*v));
				v = p;
			}
			sim_free(a, mm->task_heap, mm->cap_tasks * sizeof(mm->task_heap[0]));
			if (mm->arch && m->ops)
				m->ops->destroy_context(mm);
			cpumask_release(m, &mm->cpumask);
			cpumask_release(m, &mm->tlb_cached);
			sim_free(a, mm, sizeof(*mm));
		}
		/* Files. */
		while (m->files) {
			struct sim_file *f = m->files;
			m->files = f->next;
			hmap_release(a, &f->pages);
			sim_free(a, f->i_mmap, f->cap_mmap * sizeof(f->i_mmap[0]));
			if (f->name)
				sim_free(a, f->name, strlen(f->name) + 1);
			sim_free(a, f, sizeof(*f));
		}
		/* Page tables still allocated. */
		for (uint32_t pfn = 1; pfn < m->phys.nr; pfn++) {
			struct sim_frame *f = frame(m, pfn);
			if (f->kind != FRAME_PGTABLE)
				continue;
			struct ptdesc *pt = f->u.table.pt;
			sim_free(a, f->u.table.entries, (size_t)m->geo.ptrs[pt->level] * sizeof(pgent_t));
			sim_free(a, pt, sizeof(*pt));
		}
		hmap_release(a, &m->pt_by_addr);
		pt_zero_tables_release(m);
		/* CPUs. */
		if (m->cpus) {
			for (unsigned int c = 0; c < m->nr_cpus; c++) {
				struct sim_cpu *cpu = &m->cpus[c];
				tlbcache_release_cpu(m, cpu);
				while (cpu->pending) {
					struct pending_call *pc = cpu->pending;
					cpu->pending = pc->next;
					sim_free(a, pc, sizeof(*pc));
				}
				sim_free(a, cpu->deferred, cpu->cap_deferred * sizeof(uint32_t));
			}
		}
		/* Results. */
		for (size_t i = 0; i < m->nr_viol; i++) {
			if (m->viol[i].message)
				sim_free(a, m->viol[i].message, strlen(m->viol[i].message) + 1);
			if (m->viol[i].backtrace)
				sim_free(a, m->viol[i].backtrace, strlen(m->viol[i].backtrace) + 1);
		}
		sim_free(a, m->viol, m->cap_viol * sizeof(*m->viol));
		sim_marks_release(m);
		sim_exits_release(m);
		sim_event_results_release(m);
		if (m->ops && m->arch)
			m->ops->teardown(m);
		sim_free(a, m->cpus, m->nr_cpus * sizeof(struct sim_cpu));
		for (int i = 0; i < 2; i++)
			sim_free(a, m->cpu_scratch[i], m->nr_cpus * sizeof(unsigned int));
		phys_release(m);
	}
	sim_alloc_destroy(&m->alloc);
	/* A later use of the handle (or a second destroy) is refused; volatile: not a dead store before free(). */
	*(volatile uint64_t *)&m->magic = 0;
	free(m);
}

PTSIM_API void ptsim_machine_destroy(struct ptsim_machine *m)
{
	if (ptsim__machine_ok(m))
		machine_free_everything(m);
}

PTSIM_API int ptsim_machine_set_limit(struct ptsim_machine *m, enum ptsim_limit which, uint64_t value)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	m->ev_op = "set_limit";
	if ((unsigned int)which >= PTSIM_NR_LIMITS)
		return ptsim__err(m, -EINVAL, "which", "no limit %d (0 .. %d)", (int)which, PTSIM_NR_LIMITS - 1);
	m->limits[which] = value;
	return 0;
}

PTSIM_API uint64_t ptsim_machine_limit(const struct ptsim_machine *m, enum ptsim_limit which)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return (unsigned int)which < PTSIM_NR_LIMITS ? m->limits[which] : 0;
}
