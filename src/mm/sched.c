/*
 * Tasks and context switches: which task runs on which CPU, as the trace says.
 *
 * context_switch() as in kernel/sched/core.c: switching to a task with an mm
 * calls the arch's switch_mm_irqs_off(prev active mm -> next mm); switching to
 * idle calls enter_lazy_tlb() and the CPU keeps the mm it had loaded (lazy
 * TLB), then the arch's idle hook (x86 may leave_mm() in "TLB flushed" idle
 * states).
 */
#include "mm/internal.h"

#include "arch/arch.h"

struct sim_task *task_lookup(struct ptsim_machine *m, int id)
{
	uint64_t v;

	if (id < 0 || !hmap_get(&m->tasks, (uint64_t)id, &v))
		return NULL;
	return (struct sim_task *)(uintptr_t)v;
}

/* The mm's task list is kept sorted by id: the lowest live task names the mm. */
void mm_task_add(struct mm_struct *mm, struct sim_task *t)
{
	struct sim_task **pp = &mm->tasks;

	while (*pp && (*pp)->id < t->id)
		pp = &(*pp)->next_in_mm;
	t->next_in_mm = *pp;
	*pp = t;
}

void mm_task_del(struct mm_struct *mm, struct sim_task *t)
{
	for (struct sim_task **pp = &mm->tasks; *pp; pp = &(*pp)->next_in_mm) {
		if (*pp == t) {
			*pp = t->next_in_mm;
			t->next_in_mm = NULL;
			return;
		}
	}
}

int mm_lowest_task(struct mm_struct *mm)
{
	return mm->tasks ? mm->tasks->id : -1;
}

void sched_switch_to(struct ptsim_machine *m, struct sim_cpu *cpu, struct sim_task *next)
{
	struct sim_task *prev = cpu->curr;

	if (prev == next)
		return;
	if (prev)
		prev->cpu = -1;
	cpu->curr = next;
	CPU_STAT_INC(cpu, CONTEXT_SWITCHES);
	if (next) {
		next->cpu = (int)cpu->id;
		arch_switch_mm(m, cpu, next->mm);
	} else {
		sched_cpu_idle(m, cpu);
	}
}

void sched_cpu_idle(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (cpu->loaded_mm)
		arch_enter_lazy_tlb(m, cpu);
	arch_cpu_idle(m, cpu);
}

/* Make @cpu's loaded mm @mm, keeping the lazy-TLB mm_count references right. */
void cpu_set_loaded_mm(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm)
{
	struct mm_struct *old = cpu->loaded_mm;

	(void)m;
	if (old == mm)
		return;
	if (mm)
		mmgrab(mm);
	cpu->loaded_mm = mm;
	if (old)
		mmdrop(old);
}
