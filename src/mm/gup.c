/*
 * Lockless page-table users as explicit interleaving points.
 *
 * gup_fast (mm/gup.c, v6.10+): IRQs go off on the walking CPU, the walker
 * reads current->mm's entries top-down without locks, holds each table it is
 * inside, and takes a reference on the page it finds.  While IRQs are off an
 * IPI to that CPU cannot complete (smp.c queues it), and the section is an RCU
 * read-side critical section (rcu.c).  Freeing a table it holds is a
 * violation.
 *
 * RCU readers (pte_offset_map() users, IRQs on): hold one PTE table under
 * rcu_read_lock(); IPIs do not wait for them, grace periods do.
 *
 * PMD lock holders: a CPU holding the split PMD lock of a table (for the
 * PT-reclaim fast path's trylock).
 */
#include "mm/internal.h"

void table_unhold(struct ptsim_machine *m, uint32_t pfn, uint32_t gen)
{
	struct sim_frame *f = frame(m, pfn);

	/* A table freed under the holder was reported then; its hold died with it. */
	if (f->gen == gen && f->holders)
		f->holders--;
}

int gup_fast_begin(struct ptsim_machine *m, struct sim_cpu *cpu, uint64_t addr)
{
	struct mm_struct *mm = cpu->curr->mm;
	pgd_t *pgd = pgd_offset(mm, addr);

	smp_irqs_off(m, cpu);
	cpu->nr_walker_tables = 0;
	cpu->walker_page = 0;
	cpu->walker_addr = addr;
	cpu->walker_mm = mm;
	cpu->walker_stale_table = 0;
	rcu_reader_start(m, &cpu->walker_epoch);
	STAT_INC(m, GUP_FAST);

	/* Walk down, holding every table below the PGD that we step into. */
	pgent_t *ep = pgd;
	enum pt_level level = PT_PGD;
	for (;;) {
		pgent_t e = *ep;
		enum pt_level next = (enum pt_level)(level + 1);
		while (next <= PT_PTE && m->geo.folded[next])
			next = (enum pt_level)(next + 1);
		if (level == PT_PTE || (pgent_present(e) && pgent_huge(e))) {
			if (pgent_present(e) && !(e & _PAGE_SPECIAL)) {
				/* try_grab_folio_fast(), then the re-read of the entry succeeds. */
				get_page(m, pgent_pfn(e));
				cpu->walker_page = pgent_pfn(e);
			}
			break;
		}
		if (!pgent_present(e))
			break;
		uint32_t table = pgent_pfn(e);
		frame(m, table)->holders++;
		cpu->walker_gens[cpu->nr_walker_tables] = frame(m, table)->gen;
		cpu->walker_tables[cpu->nr_walker_tables++] = table;
		ep = &pt_entries(m, table)[pt_index(&m->geo, next, addr)];
		level = next;
	}
	return 0;
}

void gup_fast_end(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	/* The walk is over: it no longer holds the tables it went through. */
	for (unsigned int i = 0; i < cpu->nr_walker_tables; i++)
		table_unhold(m, cpu->walker_tables[i], cpu->walker_gens[i]);
	cpu->nr_walker_tables = 0;
	if (cpu->walker_stale_table) {
		cpu->walker_stale_table = 0;
		cpu->walker_stale_reported = false;
		m->nr_stale_walkers--;
	}
	cpu->walker_mm = NULL;
	/* local_irq_restore(): the queued IPIs run at once, their senders complete. */
	smp_irqs_on(m, cpu);
	if (cpu->walker_page) {
		/* Back in the caller, which is done with the page it got. */
		struct sim_cpu *saved = m->cur;
		m->cur = cpu;
		put_page(m, cpu->walker_page);
		m->cur = saved;
		cpu->walker_page = 0;
	}
	rcu_reader_end(m, &cpu->walker_epoch);
}

/**
 * gup_fast_table_unshared - @mm's PUD entry no longer points at the shared
 * hugetlb PMD table @pt (huge_pmd_unshare()).  A GUP-fast walker of @mm that
 * is still inside @pt now walks a table its mm does not map: it must be gone
 * before the remaining owner modifies or reuses the table (the broadcast of
 * tlb_flush_unshared_tables() waits for it).  Mark it so that the oracle can
 * check every later write into @pt (oracle_check_table_write()).
 */
void gup_fast_table_unshared(struct ptsim_machine *m, struct mm_struct *mm, const struct ptdesc *pt)
{
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		struct sim_cpu *cpu = &m->cpus[c];

		if (!cpu->irqs_off || cpu->walker_mm != mm || cpu->walker_stale_table)
			continue;
		for (unsigned int i = 0; i < cpu->nr_walker_tables; i++) {
			if (cpu->walker_tables[i] == pt->pfn && cpu->walker_gens[i] == frame(m, pt->pfn)->gen) {
				cpu->walker_stale_table = pt->pfn;
				cpu->walker_stale_gen = cpu->walker_gens[i];
				cpu->walker_stale_reported = false;
				m->nr_stale_walkers++;
				break;
			}
		}
	}
}
