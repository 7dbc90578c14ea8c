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

/*
 * The tasks of an mm: a binary min-heap by task id (the lowest live task names
 * the mm in reports), so a thread comes and goes in O(log n) and the name is
 * read in O(1).  Each task knows its heap slot.
 */
static void task_heap_set(struct mm_struct *mm, unsigned int i, struct sim_task *t)
{
	mm->task_heap[i] = t;
	t->heap_idx = i;
}

static void task_heap_up(struct mm_struct *mm, unsigned int i)
{
	struct sim_task *t = mm->task_heap[i];

	while (i > 0 && mm->task_heap[(i - 1) / 2]->id > t->id) {
		task_heap_set(mm, i, mm->task_heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	task_heap_set(mm, i, t);
}

static void task_heap_down(struct mm_struct *mm, unsigned int i)
{
	struct sim_task *t = mm->task_heap[i];

	for (;;) {
		unsigned int c = 2 * i + 1;
		if (c >= mm->nr_tasks)
			break;
		if (c + 1 < mm->nr_tasks && mm->task_heap[c + 1]->id < mm->task_heap[c]->id)
			c++;
		if (mm->task_heap[c]->id >= t->id)
			break;
		task_heap_set(mm, i, mm->task_heap[c]);
		i = c;
	}
	task_heap_set(mm, i, t);
}

int mm_task_add(struct mm_struct *mm, struct sim_task *t)
{
	struct ptsim_machine *m = mm->machine;

	if (mm->nr_tasks == mm->cap_tasks) {
		unsigned int ncap = mm->cap_tasks ? mm->cap_tasks * 2 : 4;
		struct sim_task **n = sim_realloc(&m->alloc, mm->task_heap, mm->cap_tasks * sizeof(*n), ncap * sizeof(*n));
		if (!n)
			return SIM_ENOMEM;
		mm->task_heap = n;
		mm->cap_tasks = ncap;
	}
	task_heap_set(mm, mm->nr_tasks++, t);
	task_heap_up(mm, t->heap_idx);
	return 0;
}

void mm_task_del(struct mm_struct *mm, struct sim_task *t)
{
	unsigned int i = t->heap_idx;
	struct sim_task *last;

	if (NEVER(mm->machine, i >= mm->nr_tasks || mm->task_heap[i] != t))
		return;
	last = mm->task_heap[--mm->nr_tasks];
	if (last == t)
		return;
	task_heap_set(mm, i, last);
	task_heap_up(mm, i);
	task_heap_down(mm, last->heap_idx);
}

int mm_lowest_task(struct mm_struct *mm)
{
	return mm->nr_tasks ? mm->task_heap[0]->id : -1;
}

/**
 * sched_run_other - @cpu switches to a task of a process outside the trace:
 * a real context switch to another mm (switch_mm_irqs_off() from whatever
 * the CPU had loaded), so the CPU stops being lazy on the previous mm and
 * the arch's rules for leaving an mm apply (x86: the old mm's mm_cpumask bit
 * stays until a flush finds the CPU elsewhere).  ptsim: all such processes
 * share one mm and each CPU has its own stand-in task (id -1); neither is
 * listed or reported.  Return: 0 or SIM_ENOMEM.
 */
int sched_run_other(struct ptsim_machine *m, struct sim_cpu *cpu)
{
	if (!m->other_tasks) {
		struct sim_task *tasks = sim_calloc(&m->alloc, m->nr_cpus, sizeof(*tasks));
		if (!tasks)
			return SIM_ENOMEM;
		if (!m->other_mm && !(m->other_mm = mm_alloc_outside(m))) {
			sim_free(&m->alloc, tasks, m->nr_cpus * sizeof(*tasks));
			return SIM_ENOMEM;
		}
		for (unsigned int c = 0; c < m->nr_cpus; c++) {
			tasks[c].id = -1;
			tasks[c].mm = m->other_mm;
			tasks[c].cpu = -1;
		}
		m->other_tasks = tasks;
	}
	sched_switch_to(m, cpu, &m->other_tasks[cpu->id]);
	return 0;
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
