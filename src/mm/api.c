/*
 * The public operations (include/ptsim/machine.h): argument validation with
 * messages that name the field, the event bookkeeping every operation shares,
 * and the calls into the kernel ports.
 *
 * Every operation runs on a CPU (m->cur, the kernel's smp_processor_id()):
 * the CPU of the task that issues it.  At the end of each operation RCU gets a
 * chance to run callbacks (the CPU passed a quiescent state), and debug builds
 * run the consistency checkers.
 *
 * Two kinds of failure: bad input (unknown task, unaligned or overflowing
 * range, a mapping over an existing one, a CPU that cannot run anything now)
 * is an error code plus a message; a system call that the kernel would fail
 * (madvise on a VM_LOCKED VMA: EINVAL; mprotect of a hole: ENOMEM) returns the
 * negated errno and says so — a trace may expect it ("expect": "EINVAL").
 */
#include "mm/internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "arch/arch.h"
#include "mm/mmu_gather.h"

/*
 * Always inlined, so the frame address is the public entry point's own frame (or
 * the frame it was inlined into): violation backtraces end there, whatever the
 * compiler inlined, instead of running on into the caller's program.
 */
static inline __attribute__((always_inline)) void op_enter(struct ptsim_machine *m, const char *op)
{
	m->api_frame = (uintptr_t)__builtin_frame_address(0);
	m->ev_op = op;
	m->errmsg[0] = 0;
	m->cur = NULL;
	m->limit_hit = NULL;
}

/*
 * An allocation a simulated-memory limit refused: the simulated kernel took
 * its out-of-memory path (VM_FAULT_OOM, -ENOMEM) and the machine is
 * consistent, but ptsim has no OOM killer: the call fails with PTSIM_ELIMIT
 * and the figures, and a trace stops there.
 */
static __attribute__((noinline, cold)) int limit_error(struct ptsim_machine *m)
{
	const struct sim_phys *p = &m->phys;

	return ptsim__err(m, PTSIM_ELIMIT, NULL,
			  "simulated memory limit %s=%" PRIu64 " reached (%" PRIu64 " frames in use, %" PRIu64
			  " of them page tables): the simulated kernel's allocation failed; raise the limit with "
			  "\"set\": {\"%s\": N} in the machine section, --set %s=N or ptsim_machine_set_limit(%s)",
			  m->limit_hit,
			  m->limits[!strcmp(m->limit_hit, "max_frames") ? PTSIM_LIMIT_FRAMES : PTSIM_LIMIT_PGTABLES],
			  p->in_use_total - p->in_use[FRAME_ZERO], p->in_use[FRAME_PGTABLE], m->limit_hit, m->limit_hit,
			  !strcmp(m->limit_hit, "max_frames") ? "PTSIM_LIMIT_FRAMES" : "PTSIM_LIMIT_PGTABLES");
}

static int op_exit(struct ptsim_machine *m, int rc)
{
	if (PTSIM_UNLIKELY(m->limit_hit) && rc == SIM_ENOMEM)
		rc = limit_error(m);
	m->cur = NULL;
	m->api_frame = 0;
	rcu_process_callbacks(m);
	if (ptsim_debug && !rc) {
		/* The check is not the caller's operation: keep its op name and message. */
		char saved[sizeof(m->errmsg)];
		const char *op = m->ev_op;
		memcpy(saved, m->errmsg, sizeof(saved));
		if (ptsim_machine_check(m))
			ptsim__internal_error(m, __FILE__, __LINE__, m->errmsg);
		memcpy(m->errmsg, saved, sizeof(saved));
		m->ev_op = op;
	}
	m->event++;
	return rc;
}

static int check_cpu(struct ptsim_machine *m, unsigned int cpu, const char *field)
{
	if (cpu >= m->nr_cpus)
		return ptsim__err(m, -ERANGE, field, "cpu %u does not exist (the machine has %u CPU%s: 0..%u)", cpu,
				  m->nr_cpus, m->nr_cpus == 1 ? "" : "s", m->nr_cpus - 1);
	return 0;
}

/* A CPU inside a GUP-fast walk, or blocked waiting for one, cannot start anything. */
static int check_cpu_free(struct ptsim_machine *m, unsigned int cpu, const char *field)
{
	struct sim_cpu *c = &m->cpus[cpu];

	if (c->in_schedule)
		return ptsim__err(m, PTSIM_ECPUBUSY, field,
				  "cpu %u is inside the scheduler with IRQs off (schedule_begin): it can only switch "
				  "(run, sleep) until schedule_end",
				  cpu);
	if (c->irqs_off)
		return ptsim__err(m, PTSIM_ECPUBUSY, field,
				  "cpu %u is inside a GUP-fast walk with IRQs off; end it (gup_fast_end) first", cpu);
	if (c->held_lock_table)
		return ptsim__err(m, PTSIM_ECPUBUSY, field,
				  "cpu %u holds a PMD lock (pmd_lock) and cannot run anything else; pmd_unlock it first",
				  cpu);
	if (cpu_blocked(c))
		return ptsim__err(m, PTSIM_ECPUBUSY, field,
				  "cpu %u is still inside an operation that waits for an IPI to a CPU with IRQs off; "
				  "end that GUP-fast walk first",
				  cpu);
	return 0;
}

/* A context switch may also run on a CPU inside the scheduler (schedule_begin). */
static int check_cpu_may_switch(struct ptsim_machine *m, unsigned int cpu, const char *field)
{
	return m->cpus[cpu].in_schedule ? 0 : check_cpu_free(m, cpu, field);
}

/* Another CPU's blocked operation still holds this mm's mmap lock. */
static int check_mm_unlocked(struct ptsim_machine *m, struct mm_struct *mm, const char *field)
{
	for (unsigned int c = 0; c < m->nr_cpus && m->nr_blocked; c++) {
		struct sim_cpu *cpu = &m->cpus[c];
		if (cpu_blocked(cpu) && cpu->curr && cpu->curr->mm == mm)
			return ptsim__err(m, PTSIM_ECPUBUSY, field,
					  "the mm is locked by cpu %u's operation, which waits for an IPI to a CPU inside "
					  "a GUP-fast walk; end that walk first",
					  c);
	}
	return 0;
}

/*
 * A CPU holding one of @mm's PMD locks (pmd_lock), or inside an RCU read
 * section on one of its PTE tables (rcu_read_begin: a pte_offset_map() user),
 * is a kernel path that holds @mm's mmap_lock for read.  What takes it for
 * write (mmap, munmap, mprotect, mremap, mlock, munlock, brk, exec, fork's
 * dup_mmap() of the parent, exit_mmap()) waits for it: so a table is never
 * freed by them while its lock or a reader holds it.  (An rmap walker holds
 * the anon_vma or i_mmap lock instead, which unmapping takes in
 * free_pgtables() before it frees a table: it waits as well.  GUP-fast takes
 * no lock; IPIs wait for it instead.)
 */
static int check_mm_not_read_locked(struct ptsim_machine *m, struct mm_struct *mm, const char *field)
{
	if (PTSIM_LIKELY(!m->nr_pmd_locks && !m->rcu.nr_readers))
		return 0;
	for (unsigned int c = 0; c < m->nr_cpus; c++) {
		const struct sim_cpu *cpu = &m->cpus[c];
		if (cpu->held_lock_table && cpu->held_lock_mm == mm)
			return ptsim__err(m, PTSIM_ECPUBUSY, field,
					  "cpu %u holds a PMD lock in this mm (pmd_lock), and with it the mm's mmap_lock "
					  "for read: this operation takes mmap_lock for write and would wait; pmd_unlock "
					  "first",
					  c);
		if (cpu->reader_epoch && cpu->reader_mm == mm)
			return ptsim__err(m, PTSIM_ECPUBUSY, field,
					  "cpu %u is inside an RCU read section on a page table of this mm "
					  "(rcu_read_begin: a pte_offset_map() user), a kernel path that holds the mm's "
					  "mmap_lock for read: this operation takes mmap_lock for write and would wait; "
					  "rcu_read_end first",
					  c);
	}
	return 0;
}

/*
 * A blocked operation still holds the i_mmap lock of a hugetlb file: its
 * huge_pmd_unshare_flush() broadcast waits for a GUP-fast walker, and the
 * kernel drops i_mmap_rwsem only after that (hugetlb.c).  Whatever needs the
 * lock (unmapping, mprotect, mremap, fork, exit, faults that would share a
 * PMD table, migration) must wait too.
 */
static int check_file_unlocked(struct ptsim_machine *m, const struct sim_file *f, const char *field)
{
	if (PTSIM_LIKELY(!f || !f->i_mmap_held_by))
		return 0;
	if (f->name)
		return ptsim__err(m, PTSIM_ECPUBUSY, field,
				  "the i_mmap lock of hugetlb file '%s' is held by cpu %u's operation, which unshared "
				  "a PMD table and waits for an IPI to a CPU inside a GUP-fast walk; end that walk first",
				  f->name, f->i_mmap_held_by - 1);
	return ptsim__err(m, PTSIM_ECPUBUSY, field,
			  "the i_mmap lock of anonymous hugetlb object %u is held by cpu %u's operation, which "
			  "unshared a PMD table and waits for an IPI to a CPU inside a GUP-fast walk; end that walk "
			  "first",
			  f->id, f->i_mmap_held_by - 1);
}

/* The files of the VMAs in [start, end) of @mm (end 0: all of them). */
static int check_range_files_unlocked(struct ptsim_machine *m, struct mm_struct *mm, uint64_t start, uint64_t end,
				      const char *field)
{
	if (PTSIM_LIKELY(!m->nr_i_mmap_held))
		return 0;
	struct vm_area_struct *vma;

	for_each_vma(mm, vma) {
		int rc;

		if (end && (vma->vm_end <= start || vma->vm_start >= end))
			continue;
		if ((rc = check_file_unlocked(m, vma->vm_file, field)))
			return rc;
	}
	return 0;
}

static int lookup_task(struct ptsim_machine *m, int task, const char *field, struct sim_task **out)
{
	if (task < 0)
		return ptsim__err(m, -EINVAL, field, "task ids are non-negative (got %d)", task);
	*out = task_lookup(m, task);
	if (!*out)
		return ptsim__err(m, PTSIM_ENOTASK, field, "no task %d (spawn, fork or thread creates one)", task);
	return 0;
}

/* The task must be running: its CPU runs the operation. */
static int running_task(struct ptsim_machine *m, int task, struct sim_task **out)
{
	int rc = lookup_task(m, task, "task", out);

	if (rc)
		return rc;
	if ((*out)->cpu < 0)
		return ptsim__err(m, PTSIM_ETASKSTATE, "task", "task %d is not running on any CPU (a run event puts it on one)",
				  task);
	rc = check_cpu_free(m, (unsigned int)(*out)->cpu, "task");
	if (rc)
		return rc;
	rc = check_mm_unlocked(m, (*out)->mm, "task");
	if (rc)
		return rc;
	m->cur = &m->cpus[(*out)->cpu];
	return 0;
}

static int new_task_id(struct ptsim_machine *m, int id, const char *field)
{
	if (id < 0)
		return ptsim__err(m, -EINVAL, field, "task ids are non-negative (got %d)", id);
	if (task_lookup(m, id))
		return ptsim__err(m, -EEXIST, field, "task %d already exists", id);
	return 0;
}

/* A single address for a walk or a lookup must be below the top of user space. */
static int check_user_addr(struct ptsim_machine *m, uint64_t addr)
{
	if (addr >= m->geo.task_size)
		return ptsim__err(m, -ERANGE, "addr", "%#" PRIx64 " is not a user address", addr);
	return 0;
}

/* check_range() with the address and length fields named @addr_field and @len_field. */
static int check_range_fields(struct ptsim_machine *m, uint64_t addr, uint64_t len, uint64_t align, const char *what,
			      const char *addr_field, const char *len_field)
{
	if (len == 0)
		return ptsim__err(m, -EINVAL, len_field, "length must not be 0");
	if (addr & (align - 1))
		return ptsim__err(m, -EINVAL, addr_field, "%#" PRIx64 " is not %s-aligned (%#" PRIx64 ")", addr, what,
				  align);
	if (len & (align - 1))
		return ptsim__err(m, -EINVAL, len_field, "%#" PRIx64 " is not a multiple of the %s size (%#" PRIx64 ")",
				  len, what, align);
	/* The address itself above user space is the address's fault; a range that runs past it, the length's. */
	if (addr >= m->geo.task_size)
		return ptsim__err(m, -ERANGE, addr_field,
				  "%#" PRIx64 " is above the top of user space (%#" PRIx64 ", %u-bit VA%s)", addr,
				  m->geo.task_size, m->geo.va_bits,
				  m->cfg.arch == PTSIM_ARCH_ARM64 ? "; a larger va_bits raises it" :
				  m->geo.levels == 4 ? "; paging_levels 5 raises it" : "");
	if (addr + len < addr || addr + len > m->geo.task_size)
		return ptsim__err(m, -ERANGE, len_field,
				  "[%#" PRIx64 ", +%#" PRIx64 ") runs past the top of user space (%#" PRIx64 ")", addr, len,
				  m->geo.task_size);
	return 0;
}

static int check_range(struct ptsim_machine *m, uint64_t addr, uint64_t len, uint64_t align, const char *what)
{
	return check_range_fields(m, addr, len, align, what, "addr", "len");
}

static struct sim_task *task_new(struct ptsim_machine *m, int id, struct mm_struct *mm)
{
	struct sim_task *t = sim_calloc(&m->alloc, 1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	/* A new thread group.  ptsim: an identity, not a task id: ids may be reused while the group lives on. */
	t->tgid = ++m->next_tgid;
	t->mm = mm;
	t->cpu = -1;
	if (hmap_put(&m->alloc, &m->tasks, (uint64_t)id, (uint64_t)(uintptr_t)t)) {
		sim_free(&m->alloc, t, sizeof(*t));
		return NULL;
	}
	if (mm_task_add(mm, t)) {
		hmap_del(&m->tasks, (uint64_t)id);
		sim_free(&m->alloc, t, sizeof(*t));
		return NULL;
	}
	return t;
}

static void task_free(struct ptsim_machine *m, struct sim_task *t)
{
	hmap_del(&m->tasks, (uint64_t)t->id);
	sim_free(&m->alloc, t, sizeof(*t));
}

/* ---- tasks ---- */

PTSIM_API int ptsim_spawn(struct ptsim_machine *m, int task, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "spawn");
	if ((rc = new_task_id(m, task, "task")) || (rc = check_cpu(m, cpu, "cpu")) || (rc = check_cpu_free(m, cpu, "cpu")))
		return op_exit(m, rc);
	m->cur = &m->cpus[cpu];
	struct mm_struct *mm = mm_alloc(m);
	if (!mm)
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	struct sim_task *t = task_new(m, task, mm);
	if (!t) {
		mmput(mm);
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	}
	sched_switch_to(m, &m->cpus[cpu], t);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_fork(struct ptsim_machine *m, int task, int child, unsigned int cpu)
{
	struct sim_task *parent;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "fork");
	bool run = cpu != PTSIM_CPU_NONE;
	if ((rc = new_task_id(m, child, "child")) || (run && (rc = check_cpu(m, cpu, "cpu"))) ||
	    (rc = running_task(m, task, &parent)) || (run && (rc = check_cpu_free(m, cpu, "cpu"))) ||
	    (rc = check_range_files_unlocked(m, parent->mm, 0, 0, "task")) ||   /* dup_mmap() links file VMAs */
	    (rc = check_mm_not_read_locked(m, parent->mm, "task")))
		return op_exit(m, rc);
	struct mm_struct *mm = mm_alloc(m);
	if (!mm)
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	if (dup_mmap(mm, parent->mm)) {
		mmput(mm);
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory copying the address space"));
	}
	mm->hiwater_rss = get_mm_rss(mm);   /* dup_mm(): the child's VmHWM starts at what fork gave it */
	struct sim_task *t = task_new(m, child, mm);
	if (!t) {
		mmput(mm);
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	}
	if (run)
		sched_switch_to(m, &m->cpus[cpu], t);
	return op_exit(m, 0);
}

/* A new task in @task's mm: CLONE_VM, with CLONE_THREAD (@same_group) or not. */
static int clone_vm(struct ptsim_machine *m, const char *op, int task, int thread, unsigned int cpu, bool same_group)
{
	struct sim_task *parent;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, op);
	bool run = cpu != PTSIM_CPU_NONE;
	if ((rc = new_task_id(m, thread, "thread")) || (run && (rc = check_cpu(m, cpu, "cpu"))) ||
	    (rc = running_task(m, task, &parent)) || (run && (rc = check_cpu_free(m, cpu, "cpu"))))
		return op_exit(m, rc);
	struct sim_task *t = task_new(m, thread, parent->mm);
	if (!t)
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	if (same_group)
		t->tgid = parent->tgid;   /* CLONE_THREAD; else task_new()'s: a group of its own */
	parent->mm->mm_users++;
	if (run)
		sched_switch_to(m, &m->cpus[cpu], t);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_thread(struct ptsim_machine *m, int task, int thread, unsigned int cpu)
{
	return clone_vm(m, "thread", task, thread, cpu, true);
}

PTSIM_API int ptsim_clone_vm(struct ptsim_machine *m, int task, int child, unsigned int cpu)
{
	return clone_vm(m, "thread", task, child, cpu, false);
}

/*
 * A task leaves (exit, and de_thread()'s victims): exit_mm() on its CPU (lazy
 * on the mm, then mmput()), then do_task_dead()'s last switch, to idle.  The
 * caller made sure its CPU is free.
 */
/* Always inlined: violation backtraces of an exit end "... <- ptsim_exit", as they always did. */
static inline __attribute__((always_inline)) void task_exit(struct ptsim_machine *m, struct sim_task *t)
{
	struct mm_struct *mm = t->mm;
	struct sim_cpu *cpu = t->cpu >= 0 ? &m->cpus[t->cpu] : NULL;

	mm_task_del(mm, t);
	if (cpu)
		arch_enter_lazy_tlb(m, cpu);
	mmput(mm);
	if (cpu) {
		cpu->curr = NULL;
		t->cpu = -1;
		CPU_STAT_INC(cpu, CONTEXT_SWITCHES);
		sched_cpu_idle(m, cpu);
	}
	task_free(m, t);
}

PTSIM_API int ptsim_exit(struct ptsim_machine *m, int task)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "exit");
	if ((rc = running_task(m, task, &t)))
		return op_exit(m, rc);
	struct mm_struct *mm = t->mm;

	/* The last user tears the mm down: unmap_vmas() takes the hugetlb files' i_mmap locks. */
	if (mm->mm_users == 1 && ((rc = check_range_files_unlocked(m, mm, 0, 0, "task")) ||
				  (rc = check_mm_not_read_locked(m, mm, "task"))))
		return op_exit(m, rc);
	/* Its figures as /proc/PID/status shows them at PTRACE_EVENT_EXIT, before exit_mmap(). */
	if (mm->mm_users == 1) {
		if ((rc = sim_exit_reserve(m)))
			return op_exit(m, rc);
		sim_exit_record(m, task, mm, PTSIM_EXIT_EXIT);
	}
	task_exit(m, t);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_sbrk(struct ptsim_machine *m, uint64_t *out_brk, int task, int64_t increment)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	struct sim_task *t = task_lookup(m, task);
	uint64_t cur = t ? t->mm->brk : 0, brk;

	/* The break plus @increment; one that leaves the address space is refused like one below start_brk. */
	if (increment < 0)
		brk = (uint64_t)-increment > cur ? 0 : cur - (uint64_t)-increment;
	else
		brk = (uint64_t)increment > UINT64_MAX - cur ? UINT64_MAX : cur + (uint64_t)increment;
	return ptsim_brk(m, out_brk, task, brk);
}

PTSIM_API int ptsim_run(struct ptsim_machine *m, int task, unsigned int cpu)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "run");
	if ((rc = lookup_task(m, task, "task", &t)) || (rc = check_cpu(m, cpu, "cpu")) ||
	    (rc = check_cpu_may_switch(m, cpu, "cpu")))
		return op_exit(m, rc);
	if (t->cpu == (int)cpu)
		return op_exit(m, 0);
	if (t->cpu >= 0) {
		if ((rc = check_cpu_may_switch(m, (unsigned int)t->cpu, "task")))
			return op_exit(m, rc);
		m->cur = &m->cpus[t->cpu];
		sched_switch_to(m, m->cur, NULL);   /* it leaves its old CPU */
	}
	m->cur = &m->cpus[cpu];
	sched_switch_to(m, m->cur, t);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_run_other(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "run");
	if ((rc = check_cpu(m, cpu, "cpu")) || (rc = check_cpu_may_switch(m, cpu, "cpu")))
		return op_exit(m, rc);
	m->cur = &m->cpus[cpu];
	if (sched_run_other(m, m->cur))
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_sleep(struct ptsim_machine *m, int task)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "sleep");
	if ((rc = lookup_task(m, task, "task", &t)))
		return op_exit(m, rc);
	if (t->cpu >= 0 && m->cpus[t->cpu].in_schedule) {
		/* Going to sleep inside the scheduler: no lock of its mm is needed for that. */
		m->cur = &m->cpus[t->cpu];
	} else if ((rc = running_task(m, task, &t))) {
		return op_exit(m, rc);
	}
	sched_switch_to(m, m->cur, NULL);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_advance(struct ptsim_machine *m, uint64_t ns)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "advance");
	if (m->clock_ns + ns < m->clock_ns)
		return op_exit(m, ptsim__err(m, -ERANGE, "ns", "the clock would overflow"));
	m->clock_ns += ns;
	return op_exit(m, 0);
}

/* ---- address space ---- */

static unsigned int parse_prot_ok(unsigned int prot)
{
	return !(prot & ~(PTSIM_PROT_READ | PTSIM_PROT_WRITE | PTSIM_PROT_EXEC));
}

/* round_hint_to_min(): a hint below mmap_min_addr moves up to it. */
static uint64_t round_hint_to_min(struct ptsim_machine *m, uint64_t hint)
{
	hint &= ~(PAGE_SIZE(m) - 1);
	if (hint && hint < m->mmap_min_addr)
		return (m->mmap_min_addr + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1);
	return hint;
}

/* An mmap of an mshare region: the region exists, MAP_SHARED, no offset (msharefs_mmap() checks the rest). */
static int mshare_mmap_check(struct ptsim_machine *m, const struct ptsim_mmap_args *a)
{
	if (!mshare_find(m, a->file))
		return ptsim__err(m, -ENOENT, "file", "no mshare region '%s' (mshare_create makes one)", a->file);
	if (!a->shared)
		return ptsim__err(m, -EINVAL, "shared", "an mshare region is mapped MAP_SHARED (\"shared\": true)");
	if (a->offset)
		return ptsim__err(m, -EINVAL, "offset", "an mshare mapping has no file offset");
	return 0;
}

PTSIM_API int ptsim_mmap_addr(struct ptsim_machine *m, uint64_t *out_addr, int task, const struct ptsim_mmap_args *a)
{
	struct sim_task *t;
	struct vm_area_struct *hit;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mmap");
	if (!a)
		return op_exit(m, ptsim__err(m, -EINVAL, NULL, "no mmap arguments"));
	if ((rc = running_task(m, task, &t)))
		return op_exit(m, rc);
	if (!parse_prot_ok(a->prot))
		return op_exit(m, ptsim__err(m, -EINVAL, "prot", "unknown protection bits %#x", a->prot));
	if ((unsigned int)a->kind > PTSIM_MAP_MSHARE)
		return op_exit(m, ptsim__err(m, -EINVAL, "kind", "unknown mapping kind %d", (int)a->kind));
	if ((unsigned int)a->fixed > PTSIM_MAP_REPLACE)
		return op_exit(m, ptsim__err(m, -EINVAL, "fixed", "unknown placement %d", (int)a->fixed));
	struct ptsim_mmap_args args = *a;
	uint64_t align = PAGE_SIZE(m);
	const char *what = "page";
	if (args.kind == PTSIM_MAP_HUGETLB) {
		if (!args.page_size)
			args.page_size = m->geo.pmd_leaf_size;
		if (!arch_hugetlb_valid_size(m, args.page_size))
			return op_exit(m, ptsim__err(m, -EINVAL, "page_size",
						     "hugetlb page size %#" PRIx64 " is not supported here (PMD %#" PRIx64
						     ", PUD %#" PRIx64 ", contiguous %#" PRIx64 " and %#" PRIx64 "; 0: none)",
						     args.page_size, m->geo.pmd_leaf_size, m->geo.pud_leaf_size,
						     m->geo.cont_pte_size, m->geo.cont_pmd_size));
		align = args.page_size;
		what = "huge page";
	} else if (args.page_size && args.page_size != PAGE_SIZE(m)) {
		return op_exit(m, ptsim__err(m, -EINVAL, "page_size", "page_size is only for hugetlb mappings"));
	}
	if ((args.kind == PTSIM_MAP_FILE || args.kind == PTSIM_MAP_MSHARE) && (!args.file || !*args.file))
		return op_exit(m, ptsim__err(m, -EINVAL, "file", "a file mapping needs a file name"));
	if (args.kind == PTSIM_MAP_ANON && args.file)
		return op_exit(m, ptsim__err(m, -EINVAL, "file", "an anonymous mapping has no file"));
	if (args.file && (rc = ptsim__check_name(m, "file", args.file)))
		return op_exit(m, rc);
	if (args.kind == PTSIM_MAP_ANON && args.offset)
		return op_exit(m, ptsim__err(m, -EINVAL, "offset", "an anonymous mapping has no file offset"));
	if (args.kind == PTSIM_MAP_MSHARE && (rc = mshare_mmap_check(m, &args)))
		return op_exit(m, rc);
	bool fixed = args.fixed >= PTSIM_MAP_NOREPLACE || (args.fixed == PTSIM_MAP_FIXED_DEFAULT && args.addr);
	if (fixed)
		rc = check_range(m, args.addr, args.len, align, what);
	else   /* only the length: a hint may be anything */
		rc = check_range(m, 0, args.len, align, what);
	if (rc)
		return op_exit(m, rc);
	if (args.offset & (align - 1))
		return op_exit(m, ptsim__err(m, -EINVAL, "offset", "%#" PRIx64 " is not %s-aligned", args.offset, what));
	if (args.offset + args.len < args.offset)
		return op_exit(m, ptsim__err(m, -ERANGE, "offset", "offset + len overflows"));

	if ((rc = check_mm_not_read_locked(m, t->mm, "task")))
		return op_exit(m, rc);
	/* do_mmap(): the address, then the mapping. */
	struct mm_struct *mm = t->mm;
	unsigned long flags = (args.shared ? MAP_SHARED : 0) | (fixed ? MAP_FIXED : 0) |
			      (args.fixed == PTSIM_MAP_NOREPLACE ? MAP_FIXED_NOREPLACE : 0);
	uint64_t addr = fixed ? args.addr : round_hint_to_min(m, args.addr);
	/* The struct file get_unmapped_area() sees: none for anonymous memory (also MAP_SHARED). */
	struct sim_file fdesc = { .page_shift = m->geo.page_shift };
	const struct sim_file *file = NULL;
	if (args.kind == PTSIM_MAP_HUGETLB) {
		fdesc.kind = FILE_HUGETLB;
		fdesc.page_shift = ilog2_u64(args.page_size);
		file = &fdesc;
	} else if (args.kind != PTSIM_MAP_ANON) {
		fdesc.kind = args.kind == PTSIM_MAP_FILE ? FILE_REGULAR : args.kind == PTSIM_MAP_MSHARE ? FILE_MSHARE : FILE_SHMEM;
		file = &fdesc;
	}
	addr = __get_unmapped_area(mm, file, addr, args.len, args.offset >> m->geo.page_shift, flags, 0);
	if (IS_ERR_VALUE(addr))
		return op_exit(m, ptsim__err(m, (int)(int64_t)addr, "len",
					     "mmap returned %s: no free range of %#" PRIx64 " bytes fits",
					     ptsim_errname((int)(int64_t)addr), args.len));
	if ((hit = find_vma_intersection(mm, addr, addr + args.len))) {
		if (args.fixed == PTSIM_MAP_NOREPLACE)
			return op_exit(m, ptsim__err(m, -EEXIST, "addr",
						     "mmap returned EEXIST: [%#" PRIx64 ", %#" PRIx64
						     ") overlaps the mapping [%#" PRIx64 ", %#" PRIx64 ") (MAP_FIXED_NOREPLACE)",
						     addr, addr + args.len, hit->vm_start, hit->vm_end));
		if (args.fixed == PTSIM_MAP_FIXED_DEFAULT)
			return op_exit(m, ptsim__err(m, PTSIM_EOVERLAP, "addr",
						     "[%#" PRIx64 ", %#" PRIx64 ") overlaps the mapping [%#" PRIx64
						     ", %#" PRIx64 ") (mmap is MAP_FIXED_NOREPLACE; munmap first)",
						     addr, addr + args.len, hit->vm_start, hit->vm_end));
		/* MAP_FIXED: __mmap_region() unmaps what is there first (vms_clean_up_area()). */
		if ((rc = check_range_files_unlocked(m, mm, addr, addr + args.len, "addr")))
			return op_exit(m, rc);
		rc = do_munmap(mm, addr, args.len);
		if (rc == -EINVAL)
			return op_exit(m, ptsim__err(m, rc, "addr",
						     "mmap returned EINVAL: MAP_FIXED would split a hugetlb page"));
		if (rc)
			return op_exit(m, ptsim__err(m, rc, NULL, "mmap failed: %s", ptsim_strerror(rc)));
	}
	if (m->nr_i_mmap_held && args.file && (rc = check_file_unlocked(m, file_find(m, args.file), "file")))
		return op_exit(m, rc);
	args.addr = addr;
	if (out_addr)
		*out_addr = addr;
	rc = do_mmap(mm, &args, args.populate);
	if (rc == -EEXIST)
		return op_exit(m, ptsim__err(m, -EEXIST, "file", "file '%s' exists with another kind or page size",
					     args.file));
	if (rc == -EINVAL && args.kind == PTSIM_MAP_MSHARE)
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "mmap returned EINVAL: an mshare mapping lies inside its region, at "
					     "multiples of %#" PRIx64 " (mshare_info), and the region must be set up "
					     "(a start of 0 reads as not set up)",
					     mshare_info(m)));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "mmap failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mmap(struct ptsim_machine *m, int task, const struct ptsim_mmap_args *args)
{
	return ptsim_mmap_addr(m, NULL, task, args);
}

PTSIM_API int ptsim_file_cache(struct ptsim_machine *m, const char *name, enum ptsim_map_kind kind, uint64_t offset,
			       uint64_t len)
{
	uint64_t psz;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "cache");
	PTSIM_CHECK_ARG(m, name, "file");
	if ((rc = ptsim__check_name(m, "file", name)))
		return op_exit(m, rc);
	if (kind != PTSIM_MAP_FILE && kind != PTSIM_MAP_SHMEM)
		return op_exit(m, ptsim__err(m, -EINVAL, "kind", "a page cache is a regular or a shmem file's"));
	psz = PAGE_SIZE(m);
	if ((offset | len) & (psz - 1) || !len)
		return op_exit(m, ptsim__err(m, -EINVAL, (offset & (psz - 1)) ? "offset" : "len",
					     "offset and len must be page-aligned, len not 0"));
	if (offset + len < offset)
		return op_exit(m, ptsim__err(m, -ERANGE, "len", "offset + len overflows"));
	struct sim_file *f = file_get(m, name, kind == PTSIM_MAP_FILE ? FILE_REGULAR : FILE_SHMEM, m->geo.page_shift);
	if (!f)
		return op_exit(m, file_find(m, name) ? ptsim__err(m, -EEXIST, "file", "file '%s' exists with another kind", name)
						     : ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	/* The pages as a read would leave them: in the page cache, mapped nowhere. */
	for (uint64_t i = offset >> m->geo.page_shift; i < (offset + len) >> m->geo.page_shift; i++) {
		bool oom;
		filemap_get_page(m, f, i, &oom);
		if (oom)
			return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	}
	return op_exit(m, 0);
}

/* One exec segment: the mmap checks, with the field named after the segment. */
static int exec_check_segment(struct ptsim_machine *m, const struct ptsim_exec_segment *s, size_t i)
{
	char field[48], addr_field[56], len_field[56];
	int rc;

	snprintf(field, sizeof(field), "segments[%zu]", i);
	snprintf(addr_field, sizeof(addr_field), "%s.addr", field);
	snprintf(len_field, sizeof(len_field), "%s.len", field);
	if (!parse_prot_ok(s->prot))
		return ptsim__err(m, -EINVAL, field, "unknown protection bits %#x", s->prot);
	if (s->kind != PTSIM_MAP_ANON && s->kind != PTSIM_MAP_FILE)
		return ptsim__err(m, -EINVAL, field, "a segment is \"anon\" or \"file\"");
	if (s->kind == PTSIM_MAP_FILE && !s->file)
		return ptsim__err(m, -EINVAL, field, "a file segment needs a file name");
	if (s->file && (rc = ptsim__check_name(m, field, s->file)))
		return rc;
	if (s->kind == PTSIM_MAP_ANON && (s->file || s->offset))
		return ptsim__err(m, -EINVAL, field, "an anonymous segment has no file or offset");
	if ((rc = check_range_fields(m, s->addr, s->len, PAGE_SIZE(m), "page", addr_field, len_field)))
		return rc;
	if ((s->offset & (PAGE_SIZE(m) - 1)) || s->offset + s->len < s->offset)
		return ptsim__err(m, -EINVAL, field, "offset %#" PRIx64 " is not page-aligned or overflows", s->offset);
	return 0;
}

/* setup_arg_pages()'s stack_expand: 128 KiB below the arguments' pages. */
#define EXEC_STACK_EXPAND (128ull << 10)
/*
 * bprm_stack_limits(): the strings (and their pointers) of an execve() take
 * at most 3/4 of _STK_LIM (8 MiB), whatever RLIMIT_STACK says; from the top
 * of the temporary stack they span at most one page more than that.
 */
#define EXEC_ARG_MAX_BYTES ((uint64_t)6 << 20)

/* The exec's input checks on the stack: its place, length and argument pages (before anything changes). */
static int exec_check_stack(struct ptsim_machine *m, const struct ptsim_exec_args *a, uint64_t stack_len)
{
	uint64_t stack_top = a->stack_addr ? a->stack_addr + stack_len : m->geo.map_window;
	int rc;

	if (a->arg_pages > (EXEC_ARG_MAX_BYTES >> m->geo.page_shift) + 1)
		return ptsim__err(m, -EINVAL, "stack.arg_pages",
				  "%" PRIu64 " pages of arguments: execve() accepts at most %#" PRIx64
				  " bytes of them (%" PRIu64 " pages)",
				  a->arg_pages, EXEC_ARG_MAX_BYTES, (EXEC_ARG_MAX_BYTES >> m->geo.page_shift) + 1);
	if (a->arg_pages > stack_len >> m->geo.page_shift)
		return ptsim__err(m, -EINVAL, "stack.arg_pages",
				  "%" PRIu64 " pages of arguments do not fit in a stack of %#" PRIx64 " bytes", a->arg_pages,
				  stack_len);
	if (!a->stack_addr && stack_len >= stack_top)   /* no address: the stack ends at the layout's top */
		return ptsim__err(m, -ERANGE, "stack.len", "%#" PRIx64 " does not fit below the stack's top (%#" PRIx64 ")",
				  stack_len, stack_top);
	if ((rc = check_range_fields(m, stack_top - stack_len, stack_len, PAGE_SIZE(m), "page", "stack.addr",
				     "stack.len")))
		return rc;
	if (a->arg_pages && stack_top > m->geo.stack_top_max)
		return ptsim__err(m, -EINVAL, "stack.arg_pages",
				  "the stack's top %#" PRIx64 " lies above STACK_TOP_MAX (%#" PRIx64
				  "), where exec builds it: it cannot have moved there",
				  stack_top, m->geo.stack_top_max);
	return 0;
}

/*
 * ptsim_exec() follows 6.18's order: bprm_mm_init() builds the new mm's
 * temporary stack (exec.c) before the point of no return; begin_new_exec()
 * runs de_thread() and exec_mmap() (the CPU switches to the new mm, the old
 * one is put); load_elf_binary() then runs setup_arg_pages() in the loaded mm
 * (the stack's move and its flushes), maps the segments (elf_map()) and sets
 * the heap (set_brk()).  Without @a->arg_pages the stack is built where it
 * ends (no move: what a trace that does not say the stack moved means).
 */
PTSIM_API int ptsim_exec(struct ptsim_machine *m, int task, const struct ptsim_exec_args *a)
{
	static const struct ptsim_exec_args none;
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "exec");
	if (!a)
		a = &none;
	if ((rc = running_task(m, task, &t)) || (rc = check_mm_not_read_locked(m, t->mm, "task")))
		return op_exit(m, rc);
	if (a->nr_segments && !a->segments)
		return op_exit(m, ptsim__err(m, -EINVAL, "segments", "%zu segments but no array", a->nr_segments));
	for (size_t i = 0; i < a->nr_segments; i++)
		if ((rc = exec_check_segment(m, &a->segments[i], i)))
			return op_exit(m, rc);
	uint64_t nr_arg_pages = a->arg_pages ? a->arg_pages : 1;
	uint64_t stack_len = a->stack_len ? a->stack_len
					  : (nr_arg_pages > (UINT64_MAX - EXEC_STACK_EXPAND) >> m->geo.page_shift
						     ? UINT64_MAX
						     : EXEC_STACK_EXPAND + (nr_arg_pages << m->geo.page_shift));
	if ((rc = exec_check_stack(m, a, stack_len)))
		return op_exit(m, rc);
	uint64_t stack_top = a->stack_addr ? a->stack_addr + stack_len : m->geo.map_window;
	if (a->brk && (a->brk & (PAGE_SIZE(m) - 1)))
		return op_exit(m, ptsim__err(m, -EINVAL, "brk", "%#" PRIx64 " is not page-aligned", a->brk));
	if (a->brk >= m->geo.task_size)
		return op_exit(m, ptsim__err(m, -ERANGE, "brk", "%#" PRIx64 " is not a user address", a->brk));

	/* de_thread()'s victims: the other threads of the thread group (not CLONE_VM processes). */
	struct mm_struct *old_mm = t->mm;
	unsigned int nr_victims = 0;
	for (unsigned int i = 0; i < old_mm->nr_tasks; i++) {
		struct sim_task *v = old_mm->task_heap[i];
		if (v == t || v->tgid != t->tgid)
			continue;
		if (v->cpu >= 0 && (rc = check_cpu_free(m, (unsigned int)v->cpu, "task")))
			return op_exit(m, rc);
		nr_victims++;
	}
	if (old_mm->mm_users == (int)nr_victims + 1 &&
	    ((rc = check_range_files_unlocked(m, old_mm, 0, 0, "task")) || (rc = sim_exit_reserve(m))))
		return op_exit(m, rc);
	for (size_t i = 0; i < a->nr_segments; i++) {
		const struct ptsim_exec_segment *s = &a->segments[i];
		struct sim_file *f = s->file ? file_find(m, s->file) : NULL;
		if (m->nr_i_mmap_held && (rc = check_file_unlocked(m, f, "segments")))
			return op_exit(m, rc);
		/* elf_map() after the point of no return must not meet a file of another kind. */
		if (f && s->kind == PTSIM_MAP_FILE && (f->kind != FILE_REGULAR || f->page_shift != m->geo.page_shift))
			return op_exit(m, ptsim__err(m, -EEXIST, "segments", "a segment's file exists with another kind"));
	}

	/* bprm_mm_init(): the new mm, not loaded anywhere (nothing to flush). */
	struct mm_struct *mm = mm_alloc(m);
	if (!mm)
		return op_exit(m, ptsim__err(m, SIM_ENOMEM, NULL, "out of memory"));
	if (!a->stack_addr) {
		/* setup_arg_pages(bprm, randomize_stack_top(STACK_TOP), ...): the stack's top, randomized. */
		stack_top = arch_align_stack(mm, randomize_stack_top(mm, m->geo.map_window));
		stack_top = (stack_top + PAGE_SIZE(m) - 1) & ~(PAGE_SIZE(m) - 1);
		if (stack_len >= stack_top)
			rc = ptsim__err(m, -ERANGE, "stack.len",
					"%#" PRIx64 " does not fit below the randomized stack top (%#" PRIx64 ")", stack_len,
					stack_top);
		else
			rc = check_range_fields(m, stack_top - stack_len, stack_len, PAGE_SIZE(m), "page", "stack.addr",
						"stack.len");
		if (rc) {   /* the message names the field: not err_mm's */
			mmput(mm);
			return op_exit(m, rc);
		}
	}
	/* create_init_stack_vma() + copy_strings(): at STACK_TOP_MAX, or in place when no move is said. */
	struct vm_area_struct *stack;
	if ((rc = create_init_stack_vma(mm, a->arg_pages ? m->geo.stack_top_max : stack_top, nr_arg_pages, &stack)))
		goto err_mm;
	/*
	 * The task moves to the new mm's task heap now (its heap slot is per
	 * task, so it cannot be in two heaps at once); back to the old one on
	 * failure, where its slot is still free (no allocation).
	 */
	mm_task_del(old_mm, t);
	if ((rc = mm_task_add(mm, t))) {
		mm_task_add(old_mm, t);
		goto err_mm;
	}

	/* begin_new_exec(): the point of no return.  de_thread() */
	while (nr_victims) {
		for (unsigned int i = 0; i < old_mm->nr_tasks; i++) {
			struct sim_task *v = old_mm->task_heap[i];
			if (v != t && v->tgid == t->tgid) {
				task_exit(m, v);
				nr_victims--;
				break;
			}
		}
	}
	/* exec_mmap(): the task takes the new mm, its CPU switches (activate_mm()), the old mm goes. */
	if (old_mm->mm_users == 1)
		sim_exit_record(m, task, old_mm, PTSIM_EXIT_EXEC);   /* its figures before exit_mmap() */
	t->mm = mm;
	arch_switch_mm(m, m->cur, mm);
	mmput(old_mm);

	/* load_elf_binary(), in the loaded mm: the stack's place (and move), the segments, the heap. */
	if ((rc = setup_arg_pages(mm, stack, stack_top, stack_len)))
		goto err_late;
	uint64_t end = 0;
	for (size_t i = 0; i < a->nr_segments; i++) {
		const struct ptsim_exec_segment *s = &a->segments[i];
		struct ptsim_mmap_args sa = { .addr = s->addr, .len = s->len, .prot = s->prot, .kind = s->kind,
					      .shared = s->shared, .file = s->file, .offset = s->offset };
		/* elf_map(): MAP_FIXED over whatever the earlier segments mapped there. */
		if ((rc = do_munmap(mm, s->addr, s->len)) || (rc = do_mmap(mm, &sa, false)))
			goto err_late;
		if (s->addr + s->len > end)
			end = s->addr + s->len;
	}
	/* set_brk(): start_brk = brk = the page-aligned end of the image. */
	mm->has_brk = a->brk || a->nr_segments;
	mm->start_brk = mm->brk = a->brk ? a->brk : end;
	/* load_elf_binary(), randomize_va_space 2: a page of gap after the image, then arch_randomize_brk(). */
	if (mm->has_brk && mm_pf_randomize(m) && m->v.randomize_va_space > 1) {
		mm->brk = mm->start_brk = mm->brk + PAGE_SIZE(m);
		mm->brk = mm->start_brk = arch_randomize_brk(mm);
	}
	return op_exit(m, 0);

err_mm:
	mmput(mm);
	return op_exit(m, ptsim__err(m, rc, NULL, "exec failed: %s", ptsim_strerror(rc)));
err_late:
	/* The kernel kills the task here (SIGSEGV); the task keeps the new mm as far as it was built. */
	return op_exit(m, ptsim__err(m, rc, NULL, "exec failed after the point of no return: %s", ptsim_strerror(rc)));
}

PTSIM_API int ptsim_brk(struct ptsim_machine *m, uint64_t *out_brk, int task, uint64_t brk)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "brk");
	if ((rc = running_task(m, task, &t)) || (rc = check_mm_not_read_locked(m, t->mm, "task")))
		return op_exit(m, rc);
	struct mm_struct *mm = t->mm;
	if (!mm->has_brk)
		return op_exit(m, ptsim__err(m, -EINVAL, "task",
					     "task %d's mm has no heap (a spawned process has none; exec with segments or "
					     "brk sets one)",
					     task));
	/* SYSCALL_DEFINE1(brk) */
	uint64_t origbrk = mm->brk, pmask = PAGE_SIZE(m) - 1;
	uint64_t newbrk = (brk + pmask) & ~pmask, oldbrk = (mm->brk + pmask) & ~pmask;
	if (brk < mm->start_brk || brk > m->geo.task_size)
		goto out;
	if (oldbrk == newbrk) {
		mm->brk = brk;
		goto success;
	}
	if (brk <= mm->brk) {
		/* Always allow shrinking, unless a non-heap VMA sits there. */
		struct vm_area_struct *brkvma = find_vma_intersection(mm, newbrk, oldbrk);
		if (!brkvma)
			goto out;
		if ((rc = check_range_files_unlocked(m, mm, newbrk, oldbrk, "addr")))
			return op_exit(m, rc);
		mm->brk = brk;
		if ((rc = do_munmap(mm, newbrk, oldbrk - newbrk))) {
			mm->brk = origbrk;
			if (rc == -EINVAL)   /* a hugetlb VMA mapped into the heap range */
				goto out;
			return op_exit(m, ptsim__err(m, rc, NULL, "brk failed: %s", ptsim_strerror(rc)));
		}
		goto success;
	}
	/* check_brk_limits(): get_unmapped_area(MAP_FIXED) accepts any range inside user space. */
	if (newbrk - oldbrk > m->geo.task_size || oldbrk > m->geo.task_size - (newbrk - oldbrk))
		goto out;
	/* The next VMA must stay a page and (for a stack) its guard gap away. */
	struct vm_area_struct *next = find_vma(mm, oldbrk);
	if (next && next->vm_start < newbrk + PAGE_SIZE(m) + m->stack_guard_gap &&
	    newbrk + PAGE_SIZE(m) > vm_start_gap(next))
		goto out;
	if ((rc = do_brk_flags(mm, oldbrk, newbrk - oldbrk)))
		return op_exit(m, ptsim__err(m, rc, NULL, "brk failed: %s", ptsim_strerror(rc)));
	mm->brk = brk;
success:
	if (out_brk)
		*out_brk = brk;
	return op_exit(m, 0);
out:
	/* brk(2) fails by returning the old break. */
	mm->brk = origbrk;
	if (out_brk)
		*out_brk = origbrk;
	return op_exit(m, 0);
}

PTSIM_API int ptsim_munmap(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "munmap");
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, addr, len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	if ((rc = check_range_files_unlocked(m, t->mm, addr, addr + len, "addr")))
		return op_exit(m, rc);
	if ((rc = check_mm_not_read_locked(m, t->mm, "task")))
		return op_exit(m, rc);
	rc = do_munmap(t->mm, addr, len);
	if (rc == -EINVAL)
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "munmap returned EINVAL: the range splits a hugetlb page or an mshare mapping"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "munmap failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mprotect(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, unsigned int prot)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mprotect");
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, addr, len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	if (!parse_prot_ok(prot))
		return op_exit(m, ptsim__err(m, -EINVAL, "prot", "unknown protection bits %#x", prot));
	if ((rc = check_range_files_unlocked(m, t->mm, addr, addr + len, "addr")))
		return op_exit(m, rc);
	if ((rc = check_mm_not_read_locked(m, t->mm, "task")))
		return op_exit(m, rc);
	rc = do_mprotect_pkey(t->mm, addr, len, prot);
	if (rc == -ENOMEM)
		return op_exit(m, ptsim__err(m, rc, NULL, "mprotect returned ENOMEM: part of the range is not mapped"));
	if (rc == -EACCES)
		return op_exit(m, ptsim__err(m, rc, NULL, "mprotect returned EACCES"));
	if (rc == -EINVAL)
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "mprotect returned EINVAL: the range splits an mshare mapping, or an mshare "
					     "mapping refuses mprotect (msharefs vm_ops->mprotect)"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "mprotect failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

/*
 * ptsim: MADV_PAGEOUT over an mshare mapping is refused before anything
 * runs.  The walk would reach the region's pages through the linked tables,
 * but the kernel's reclaim unmaps them where rmap finds them (the host mm's
 * VMA, with the host mm's counters and mm_cpumask); ptsim's reclaim_pages()
 * has no rmap walk and would charge this process's mm instead.
 */
static int check_pageout_mshare(struct ptsim_machine *m, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct vm_area_struct *vma;

	for_each_vma(mm, vma)
		if ((vma->vm_flags & VM_SHARED_PT) && vma->vm_start < end && vma->vm_end > start)
			return ptsim__err(m, PTSIM_EBADEVENT, "advice",
					  "pageout of the mshare mapping [%#" PRIx64 ", %#" PRIx64 ") is not modelled "
					  "(reclaim unmaps the region's pages in its host mm, found by rmap)",
					  vma->vm_start, vma->vm_end);
	return 0;
}

PTSIM_API int ptsim_madvise(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, enum ptsim_advice advice)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "madvise");
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, addr, len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	if ((unsigned int)advice > PTSIM_MADV_PAGEOUT)
		return op_exit(m, ptsim__err(m, -EINVAL, "advice", "unknown advice %d", (int)advice));
	if ((rc = check_range_files_unlocked(m, t->mm, addr, addr + len, "addr")))
		return op_exit(m, rc);
	if (advice == PTSIM_MADV_PAGEOUT && (rc = check_pageout_mshare(m, t->mm, addr, addr + len)))
		return op_exit(m, rc);
	rc = do_madvise(t->mm, addr, len, advice);
	if (rc == -EINVAL)
		return op_exit(m, ptsim__err(m, rc, NULL,
					     "madvise returned EINVAL: a VMA in the range refuses the advice (VM_LOCKED "
					     "without MADV_DONTNEED_LOCKED, MADV_FREE on a non-anonymous or hugetlb VMA, "
					     "an unaligned hugetlb start, guard markers on a locked, hugetlb or PFN-map VMA, "
					     "or MADV_COLD/MADV_PAGEOUT on a locked, hugetlb or PFN-map VMA)"));
	if (rc == -ENOMEM)
		return op_exit(m, ptsim__err(m, rc, NULL, "madvise returned ENOMEM: part of the range is not mapped"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "madvise failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_swapout(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "swapout");
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, addr, len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	rc = swapout_range(t->mm, addr, addr + len);
	if (rc == -ENOMEM)
		return op_exit(m, ptsim__err(m, rc, NULL, "swapout: part of the range is not mapped"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "swapout failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

static int mlock_common(struct ptsim_machine *m, const char *op, int task, uint64_t addr, uint64_t len, bool lock)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, op);
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, addr, len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	if ((rc = check_mm_not_read_locked(m, t->mm, "task")))
		return op_exit(m, rc);
	rc = do_mlock(t->mm, addr, len, lock);
	if (rc == -ENOMEM)
		return op_exit(m, ptsim__err(m, rc, NULL, "%s returned ENOMEM: part of the range is not mapped", op));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "%s failed: %s", op, ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mlock(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len)
{
	return mlock_common(m, "mlock", task, addr, len, true);
}

PTSIM_API int ptsim_munlock(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len)
{
	return mlock_common(m, "munlock", task, addr, len, false);
}

/*
 * One user access (the arch page-fault handler: do_user_addr_fault()): the
 * hardware translates or faults; a fault outside any VMA or against its
 * permissions is a SIGSEGV; otherwise handle_mm_fault() and retry.
 */
static int user_access(struct ptsim_machine *m, struct sim_cpu *cpu, struct mm_struct *mm, uint64_t addr, bool write)
{
	STAT_INC(m, ACCESSES);
	/*
	 * Above user space (the guard page below TASK_SIZE_MAX, the kernel half,
	 * non-canonical addresses): SIGSEGV.  The walk must not see these: the
	 * table indexes would wrap onto user addresses.
	 */
	if (PTSIM_UNLIKELY(addr >= m->geo.task_size)) {
		STAT_INC(m, FAULTS_SIGSEGV);
		return 0;
	}
	/* The CPU's TLB and paging-structure caches are allocated on its first access: host memory, may fail. */
	if (PTSIM_UNLIKELY(!tlbcache_cpu_ready(&cpu->tlb)) && tlbcache_init_cpu(m, cpu))
		return SIM_ENOMEM;
	bool tlb_may_hold;
	int hw = hw_access(m, cpu, mm, addr, write, &tlb_may_hold);
	if (PTSIM_LIKELY(hw))
		return hw > 0 ? 0 : hw;   /* translated, or no memory for the TLB fill */
	for (int tries = 0; tries < 4; tries++) {
		/* The retry after a fault (a fault never fills the TLB, but a stale hit may remain). */
		if (tries && (hw = hw_access_walk(m, cpu, mm, addr, write, tlb_may_hold)))
			return hw > 0 ? 0 : hw;
		struct vm_area_struct *vma = lock_mm_and_find_vma(mm, addr);
		if (!vma || (write && !(vma->vm_flags & VM_WRITE)) ||
		    !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC))) {
			STAT_INC(m, FAULTS_SIGSEGV);
			return 0;
		}
		/* huge_pmd_share() takes i_mmap_rwsem for read: not while a blocked operation holds it. */
		if (PTSIM_UNLIKELY(m->nr_i_mmap_held) && vma->vm_file && vma->vm_file->i_mmap_held_by &&
		    hugetlb_fault_needs_i_mmap(vma, addr))
			return check_file_unlocked(m, vma->vm_file, "addr");
		unsigned int ret = handle_mm_fault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
		if (ret & VM_FAULT_OOM) {
			STAT_INC(m, FAULTS_OOM);
			return SIM_ENOMEM;
		}
		if (ret & (VM_FAULT_SIGSEGV | VM_FAULT_SIGBUS)) {
			STAT_INC(m, FAULTS_SIGSEGV);
			return 0;
		}
	}
	if (NEVER(m, true))
		return PTSIM_EINTERNAL;
	return 0;
}

/* Checks common to the touch ops: a running task and a non-empty range that does not wrap. */
static int touch_check(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, struct sim_task **t)
{
	int rc;

	if ((rc = running_task(m, task, t)))
		return rc;
	if (len == 0)
		return ptsim__err(m, -EINVAL, "len", "length must not be 0");
	if (addr + len < addr)
		return ptsim__err(m, -ERANGE, "len", "[%#" PRIx64 ", +%#" PRIx64 ") wraps around", addr, len);
	return 0;
}

/* One access of a touch op; an error names the address. */
static int touch_access(struct ptsim_machine *m, struct sim_task *t, uint64_t a, bool write)
{
	int rc = user_access(m, m->cur, t->mm, a, write);

	if (rc == PTSIM_ECPUBUSY)
		return rc;   /* the message names the lock and the blocked CPU */
	if (rc)
		return ptsim__err(m, rc, NULL, "access to %#" PRIx64 " failed: %s", a, ptsim_strerror(rc));
	return 0;
}

/*
 * ptsim: the accesses of a page-by-page touch from @a up to the end of its PTE
 * table (or @end) done together by hw_access_run(), with
 * do_anonymous_page_run() for the faults: each page takes the steps
 * user_access() would take for it, the counters summed.  *done: pages
 * completed; the run stops at the first page that needs more, which the
 * caller's user_access() then takes.
 */
static int touch_run(struct ptsim_machine *m, struct sim_task *t, uint64_t a, uint64_t end, bool write,
		     uint64_t *done)
{
	struct sim_cpu *cpu = m->cur;
	struct anon_fault_run fr;
	uint64_t run_end = pte_table_end(m, a, end);
	int rc;

	*done = 0;
	if (run_end > m->geo.task_size)
		run_end = m->geo.task_size;   /* above: user_access()'s SIGSEGV */
	if (a >= run_end || !tlbcache_cpu_ready(&cpu->tlb))
		return 0;
	anon_fault_run_start(&fr, t->mm, write);
	rc = hw_access_run(m, cpu, t->mm, a, run_end, write, &fr, done);
	anon_fault_run_end(&fr, cpu);
	m->stats[ST_ACCESSES] += *done;
	if (rc) {
		/* user_access() for the page that failed: its access, then VM_FAULT_OOM. */
		STAT_INC(m, ACCESSES);
		STAT_INC(m, FAULTS_OOM);
		uint64_t fa = a + *done * PAGE_SIZE(m);
		return ptsim__err(m, rc, NULL, "access to %#" PRIx64 " failed: %s", fa, ptsim_strerror(rc));
	}
	return 0;
}

PTSIM_API int ptsim_touch(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, uint64_t stride, bool write)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "touch");
	if ((rc = touch_check(m, task, addr, len, &t)))
		return op_exit(m, rc);
	if (!stride)
		stride = PAGE_SIZE(m);
	bool runs = stride == PAGE_SIZE(m) && !m->no_batching;
	for (uint64_t a = addr, end = addr + len; a < end; a += stride) {
		if (runs) {
			uint64_t done;
			if ((rc = touch_run(m, t, a, end, write, &done)))
				return op_exit(m, rc);
			a += done * stride;
			if (a >= end)
				break;
		}
		if ((rc = touch_access(m, t, a, write)))
			return op_exit(m, rc);
		if (a + stride < a)
			break;
	}
	return op_exit(m, 0);
}

PTSIM_API int ptsim_touch_random(struct ptsim_machine *m, int task, uint64_t addr, uint64_t len, uint64_t stride,
				 uint64_t count, bool write)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "touch_random");
	if ((rc = touch_check(m, task, addr, len, &t)))
		return op_exit(m, rc);
	if (count == 0)
		return op_exit(m, ptsim__err(m, -EINVAL, "count", "count must be at least 1"));
	if (!stride)
		stride = PAGE_SIZE(m);
	uint64_t slots = len / stride ? len / stride : 1;
	for (uint64_t i = 0; i < count; i++) {
		uint64_t a = addr + (sim_rand(m) % slots) * stride;
		if ((rc = touch_access(m, t, a, write)))
			return op_exit(m, rc);
	}
	return op_exit(m, 0);
}

/* The mremap both entry points share: do_mremap() and the kernel's answers as messages. */
static int mremap_call(struct ptsim_machine *m, struct sim_task *t, uint64_t old_addr, uint64_t old_len,
		       uint64_t new_len, unsigned int flags, uint64_t new_addr, uint64_t *out_addr)
{
	uint64_t addr = old_addr;
	int rc;

	if ((rc = check_range_files_unlocked(m, t->mm, old_addr, old_addr + old_len, "addr")))
		return rc;
	if ((rc = check_mm_not_read_locked(m, t->mm, "task")))
		return rc;
	rc = do_mremap(t->mm, old_addr, old_len, new_len, flags, new_addr, &addr);
	if (out_addr)
		*out_addr = rc ? old_addr : addr;
	if (rc == -EFAULT)
		return ptsim__err(m, rc, "addr",
				  "mremap returned EFAULT: [%#" PRIx64 ", +%#" PRIx64 ") is not inside one mapping "
				  "(or that mapping cannot grow)",
				  old_addr, old_len);
	if (rc == -EINVAL)
		return ptsim__err(m, rc, "new_addr",
				  "mremap returned EINVAL: the ranges overlap, or a hugetlb address is not "
				  "aligned to the huge page size (or a hugetlb mapping would grow), or the mapping is an "
				  "mshare region (not movable)");
	if (rc == -ENOMEM)
		return ptsim__err(m, rc, "new_len",
				  "mremap returned ENOMEM: no room to grow in place (and not allowed to move), or none anywhere");
	if (rc)
		return ptsim__err(m, rc, NULL, "mremap failed: %s", ptsim_strerror(rc));
	return 0;
}

PTSIM_API int ptsim_mremap(struct ptsim_machine *m, int task, uint64_t old_addr, uint64_t len, uint64_t new_addr)
{
	struct sim_task *t;
	struct vm_area_struct *hit;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mremap");
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, old_addr, len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	if (new_addr & (PAGE_SIZE(m) - 1))
		return op_exit(m, ptsim__err(m, -EINVAL, "new_addr", "%#" PRIx64 " is not page-aligned", new_addr));
	if (new_addr + len < new_addr || new_addr + len > m->geo.task_size)
		return op_exit(m, ptsim__err(m, -ERANGE, "new_addr",
					     "[%#" PRIx64 ", +%#" PRIx64 ") runs past the top of user space (%#" PRIx64 ")",
					     new_addr, len, m->geo.task_size));
	if (!(old_addr + len > new_addr && new_addr + len > old_addr)) {
		if ((hit = find_vma_intersection(t->mm, new_addr, new_addr + len)))
			return op_exit(m, ptsim__err(m, PTSIM_EOVERLAP, "new_addr",
						     "[%#" PRIx64 ", %#" PRIx64 ") overlaps the mapping [%#" PRIx64 ", %#" PRIx64
						     ") (mremap's destination must be free here; munmap it first)",
						     new_addr, new_addr + len, hit->vm_start, hit->vm_end));
	}
	return op_exit(m, mremap_call(m, t, old_addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, new_addr, NULL));
}

PTSIM_API int ptsim_mremap_flags(struct ptsim_machine *m, uint64_t *out_addr, int task, uint64_t old_addr,
				 uint64_t old_len, uint64_t new_len, unsigned int flags, uint64_t new_addr)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mremap");
	if ((rc = running_task(m, task, &t)) || (rc = check_range(m, old_addr, old_len, PAGE_SIZE(m), "page")))
		return op_exit(m, rc);
	if (!new_len || (new_len & (PAGE_SIZE(m) - 1)))
		return op_exit(m, ptsim__err(m, -EINVAL, "new_len", "%#" PRIx64 " is not a non-zero multiple of the page size",
					     new_len));
	if (flags & ~(PTSIM_MREMAP_MAYMOVE | PTSIM_MREMAP_FIXED | PTSIM_MREMAP_DONTUNMAP))
		return op_exit(m, ptsim__err(m, -EINVAL, "flags", "unknown mremap flags %#x", flags));
	/* check_mremap_params(): the kernel's EINVAL for these combinations. */
	if (((flags & PTSIM_MREMAP_FIXED) && !(flags & PTSIM_MREMAP_MAYMOVE)) ||
	    ((flags & PTSIM_MREMAP_DONTUNMAP) && (!(flags & PTSIM_MREMAP_MAYMOVE) || old_len != new_len)))
		return op_exit(m, ptsim__err(m, -EINVAL, "flags",
					     "mremap returned EINVAL: fixed needs maymove; dontunmap needs maymove and "
					     "the same length"));
	if (flags & PTSIM_MREMAP_FIXED) {
		if (new_addr & (PAGE_SIZE(m) - 1))
			return op_exit(m, ptsim__err(m, -EINVAL, "new_addr", "%#" PRIx64 " is not page-aligned", new_addr));
		if (new_addr + new_len < new_addr || new_addr + new_len > m->geo.task_size)
			return op_exit(m, ptsim__err(m, -ERANGE, "new_addr",
						     "[%#" PRIx64 ", +%#" PRIx64 ") runs past the top of user space (%#" PRIx64 ")",
						     new_addr, new_len, m->geo.task_size));
		if ((rc = check_range_files_unlocked(m, t->mm, new_addr, new_addr + new_len, "new_addr")))
			return op_exit(m, rc);
	}
	return op_exit(m, mremap_call(m, t, old_addr, old_len, new_len, flags, new_addr, out_addr));
}

PTSIM_API int ptsim_move_pages(struct ptsim_machine *m, int task, uint64_t addr)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "move_pages");
	if ((rc = running_task(m, task, &t)))
		return op_exit(m, rc);
	if ((rc = check_user_addr(m, addr)))
		return op_exit(m, rc);
	struct vm_area_struct *vma = vma_lookup(t->mm, addr);
	if (vma && (rc = check_file_unlocked(m, vma->vm_file, "addr")))
		return op_exit(m, rc);
	rc = do_move_hugetlb_page(t->mm, addr);
	switch (rc) {
	case 0:
		return op_exit(m, 0);
	case -EFAULT:
		return op_exit(m, ptsim__err(m, rc, "addr", "move_pages: %#" PRIx64 " is not mapped (EFAULT)", addr));
	case -ENOENT:
		return op_exit(m, ptsim__err(m, rc, "addr", "move_pages: no page is present at %#" PRIx64 " (ENOENT)",
					     addr));
	case -EINVAL:
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "move_pages: %#" PRIx64 " is not a file-backed hugetlb page (only those "
					     "can be migrated here)",
					     addr));
	case -EBUSY:
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "move_pages: the page at %#" PRIx64 " has extra references (a GUP-fast "
					     "walker holds it): migration failed (EBUSY), it is mapped again",
					     addr));
	default:
		return op_exit(m, ptsim__err(m, rc, NULL, "move_pages failed: %s", ptsim_strerror(rc)));
	}
}

/* ---- concurrency points ---- */

PTSIM_API int ptsim_gup_fast_begin(struct ptsim_machine *m, unsigned int cpu, int task, uint64_t addr)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "gup_fast_begin");
	if ((rc = check_cpu(m, cpu, "cpu")) || (rc = check_cpu_free(m, cpu, "cpu")) ||
	    (rc = lookup_task(m, task, "task", &t)))
		return op_exit(m, rc);
	if (t->cpu != (int)cpu)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "task",
					     "GUP-fast walks current->mm: task %d must be running on cpu %u", task, cpu));
	if ((rc = check_user_addr(m, addr)))
		return op_exit(m, rc);
	m->cur = &m->cpus[cpu];
	gup_fast_begin(m, m->cur, addr);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_gup_fast_end(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "gup_fast_end");
	if ((rc = check_cpu(m, cpu, "cpu")))
		return op_exit(m, rc);
	if (!m->cpus[cpu].irqs_off || m->cpus[cpu].in_schedule)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "cpu", "cpu %u is not inside a GUP-fast walk", cpu));
	m->cur = &m->cpus[cpu];
	gup_fast_end(m, m->cur);
	return op_exit(m, 0);
}

/*
 * The scheduler's IRQs-off window (kernel/sched/core.c __schedule(): the
 * runqueue lock taken with IRQs off ... finish_task_switch() releasing it
 * with IRQs on).  An IPI that reaches the CPU in between is taken after the
 * switch, in the context switched to.
 */
PTSIM_API int ptsim_schedule_begin(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "schedule_begin");
	if ((rc = check_cpu(m, cpu, "cpu")) || (rc = check_cpu_free(m, cpu, "cpu")))
		return op_exit(m, rc);
	m->cpus[cpu].in_schedule = true;
	smp_irqs_off(m, &m->cpus[cpu]);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_schedule_end(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "schedule_end");
	if ((rc = check_cpu(m, cpu, "cpu")))
		return op_exit(m, rc);
	if (!m->cpus[cpu].in_schedule)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "cpu", "cpu %u is not inside the scheduler "
					     "(schedule_begin)", cpu));
	m->cur = &m->cpus[cpu];
	m->cur->in_schedule = false;
	smp_irqs_on(m, m->cur);
	return op_exit(m, 0);
}

/*
 * lru_add_drain_cpu() of @cpu's batch from outside: the kernel moved it to
 * the LRU under a process the simulation does not see (a recording's
 * lru_add_drain_cpu op).  It only moves folios, so no CPU state stops it.
 */
PTSIM_API int ptsim_lru_add_drain_cpu(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "lru_add_drain_cpu");
	if ((rc = check_cpu(m, cpu, "cpu")))
		return op_exit(m, rc);
	lru_add_drain_cpu(m, &m->cpus[cpu]);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_rcu_read_begin(struct ptsim_machine *m, unsigned int cpu, int task, uint64_t addr)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "rcu_read_begin");
	if ((rc = check_cpu(m, cpu, "cpu")) || (rc = check_cpu_free(m, cpu, "cpu")) ||
	    (rc = lookup_task(m, task, "task", &t)))
		return op_exit(m, rc);
	struct sim_cpu *c = &m->cpus[cpu];
	if (c->reader_epoch)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "cpu", "cpu %u already holds an RCU reader", cpu));
	if ((rc = check_user_addr(m, addr)))
		return op_exit(m, rc);
	pmd_t *pmd = mm_find_pmd(t->mm, addr);
	if (!pmd || pmd_none(t->mm, *pmd) || pgent_huge(*pmd))
		return op_exit(m, ptsim__err(m, -ENOENT, "addr",
					     "no PTE table maps %#" PRIx64 " in task %d's mm (pte_offset_map() would fail)",
					     addr, task));
	c->reader_table = pgent_pfn(*pmd);
	c->reader_gen = frame(m, c->reader_table)->gen;
	c->reader_addr = addr;
	c->reader_mm = t->mm;
	frame(m, c->reader_table)->holders++;
	rcu_reader_start(m, &c->reader_epoch);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_rcu_read_end(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "rcu_read_end");
	if ((rc = check_cpu(m, cpu, "cpu")))
		return op_exit(m, rc);
	struct sim_cpu *c = &m->cpus[cpu];
	if (!c->reader_epoch)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "cpu", "cpu %u holds no RCU reader", cpu));
	table_unhold(m, c->reader_table, c->reader_gen);
	c->reader_table = 0;
	c->reader_mm = NULL;
	rcu_reader_end(m, &c->reader_epoch);
	return op_exit(m, 0);
}

PTSIM_API int ptsim_pmd_lock(struct ptsim_machine *m, unsigned int cpu, int task, uint64_t addr)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "pmd_lock");
	if ((rc = check_cpu(m, cpu, "cpu")) || (rc = check_cpu_free(m, cpu, "cpu")) || (rc = lookup_task(m, task, "task", &t)))
		return op_exit(m, rc);
	struct sim_cpu *c = &m->cpus[cpu];
	if (c->held_lock_table)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "cpu", "cpu %u already holds a PMD lock", cpu));
	if ((rc = check_user_addr(m, addr)))
		return op_exit(m, rc);
	pmd_t *pmd = mm_find_pmd(t->mm, addr);
	struct ptdesc *pt = pmd ? virt_to_ptdesc(m, pmd) : NULL;
	if (!pt || pt->level != PT_PMD)
		return op_exit(m, ptsim__err(m, -ENOENT, "addr", "no PMD table covers %#" PRIx64 " in task %d's mm", addr,
					     task));
	if (pt->lock_cpu >= 0)
		return op_exit(m, ptsim__err(m, -EBUSY, "addr", "that PMD lock is already held by cpu %d", pt->lock_cpu));
	pt->lock_cpu = (int)cpu;
	c->held_lock_table = pt->pfn;
	c->held_lock_gen = frame(m, pt->pfn)->gen;
	c->held_lock_mm = t->mm;
	m->nr_pmd_locks++;
	return op_exit(m, 0);
}

PTSIM_API int ptsim_pmd_unlock(struct ptsim_machine *m, unsigned int cpu)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "pmd_unlock");
	if ((rc = check_cpu(m, cpu, "cpu")))
		return op_exit(m, rc);
	struct sim_cpu *c = &m->cpus[cpu];
	if (!c->held_lock_table)
		return op_exit(m, ptsim__err(m, PTSIM_ETASKSTATE, "cpu", "cpu %u holds no PMD lock", cpu));
	struct sim_frame *f = frame(m, c->held_lock_table);
	/* The table cannot have gone (check_mm_not_read_locked() refuses whatever could free it). */
	if (!NEVER(m, f->kind != FRAME_PGTABLE || f->gen != c->held_lock_gen))
		f->u.table.pt->lock_cpu = -1;
	c->held_lock_table = 0;
	c->held_lock_mm = NULL;
	m->nr_pmd_locks--;
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mark(struct ptsim_machine *m, const char *name)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mark");
	return op_exit(m, sim_mark_take(m, name, NULL, 0));
}

PTSIM_API int ptsim_mark_iteration(struct ptsim_machine *m, const char *name, const uint64_t *iteration,
				   unsigned int depth)
{
	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mark");
	if (depth > PTSIM_MARK_MAX_DEPTH || (depth && !iteration))
		return op_exit(m, ptsim__err(m, -EINVAL, "iteration", "%u nested loops (at most %d, with an array of "
					     "that many iteration numbers)", depth, PTSIM_MARK_MAX_DEPTH));
	return op_exit(m, sim_mark_take(m, name, iteration, depth));
}

PTSIM_API void ptsim_free(void *p)
{
	free(p);
}

/* ---- test hooks (ptsim/debug.h) ---- */

PTSIM_API int ptsim_debug_rss_add(struct ptsim_machine *m, int task, enum ptsim_rss_counter counter, long delta)
{
	struct sim_task *t;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "debug_rss_add");
	if ((rc = lookup_task(m, task, "task", &t)))
		return rc;
	if ((unsigned int)counter >= NR_MM_COUNTERS)
		return ptsim__err(m, -EINVAL, "counter", "unknown RSS counter %d", (int)counter);
	mm_counter_add(t->mm, (int)counter, delta);
	return 0;
}

PTSIM_API void ptsim_debug_fail_alloc(struct ptsim_machine *m, uint64_t n)
{
	PTSIM_CHECK_MACHINE(m, );
	m->alloc.nr_injectable = 0;
	m->alloc.fail_at = n;
}

PTSIM_API void ptsim_debug_batching(struct ptsim_machine *m, bool on)
{
	PTSIM_CHECK_MACHINE(m, );
	m->no_batching = !on;
}

PTSIM_API void ptsim_debug_ipi_fastpath(struct ptsim_machine *m, bool on)
{
	PTSIM_CHECK_MACHINE(m, );
	smp_fold_broadcasts(m);
	m->no_ipi_fastpath = !on;
}

PTSIM_API uint64_t ptsim_debug_allocated_bytes(const struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return m->alloc.live_bytes;
}

/* ---- mshare (mshare.c; docs/mshare.md) ---- */

/* The region named @name (field "name"), or an error. */
static int lookup_mshare(struct ptsim_machine *m, const char *name, struct mshare_data **out)
{
	int rc;

	if (!name)
		return ptsim__err(m, -EINVAL, "name", "must not be NULL");
	if ((rc = ptsim__check_name(m, "name", name)))
		return rc;
	*out = mshare_find(m, name);
	if (!*out)
		return ptsim__err(m, -ENOENT, "name", "no mshare region '%s' (mshare_create makes one)", name);
	return 0;
}

/* The CPU an mshare call runs on: running @task's, or none (PTSIM_NO_TASK) where @optional. */
static int mshare_task(struct ptsim_machine *m, int task, bool optional)
{
	struct sim_task *t;

	if (optional && task == PTSIM_NO_TASK)
		return 0;
	return running_task(m, task, &t);
}

PTSIM_API int ptsim_mshare_create(struct ptsim_machine *m, int task, const char *name, uint64_t addr, uint64_t len)
{
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mshare_create");
	if (!name)
		return op_exit(m, ptsim__err(m, -EINVAL, "name", "must not be NULL"));
	if ((rc = ptsim__check_name(m, "name", name)) || (rc = mshare_task(m, task, true)))
		return op_exit(m, rc);
	if (len == 0)
		return op_exit(m, ptsim__err(m, -EINVAL, "len", "length must not be 0"));
	if (addr >= m->geo.task_size)
		return op_exit(m, ptsim__err(m, -ERANGE, "addr", "%#" PRIx64 " is not a user address", addr));
	if (addr + len < addr || addr + len > m->geo.task_size)
		return op_exit(m, ptsim__err(m, -ERANGE, "len",
					     "[%#" PRIx64 ", +%#" PRIx64 ") runs past the top of user space (%#" PRIx64 ")",
					     addr, len, m->geo.task_size));
	if (msharefs_set_size(m, addr, len))
		return op_exit(m, ptsim__err(m, -EINVAL, "addr",
					     "MSHAREFS_SET_SIZE returned EINVAL: start %#" PRIx64 " and end %#" PRIx64
					     " must be multiples of %#" PRIx64 " (mshare_info)",
					     addr, addr + len, mshare_info(m)));
	rc = mshare_create(m, name, addr, len);
	if (rc == -EEXIST)
		return op_exit(m, ptsim__err(m, rc, "name", "open(O_CREAT|O_EXCL) returned EEXIST: a file named '%s' exists",
					     name));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "out of memory"));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mshare_map(struct ptsim_machine *m, int task, const char *name, const struct ptsim_mmap_args *a)
{
	struct mshare_data *md;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mshare_map");
	if ((rc = lookup_mshare(m, name, &md)) || (rc = mshare_task(m, task, true)))
		return op_exit(m, rc);
	if (!a)
		return op_exit(m, ptsim__err(m, -EINVAL, NULL, "no mapping arguments"));
	if (!parse_prot_ok(a->prot))
		return op_exit(m, ptsim__err(m, -EINVAL, "prot", "unknown protection bits %#x", a->prot));
	if ((unsigned int)a->kind > PTSIM_MAP_HUGETLB)
		return op_exit(m, ptsim__err(m, -EINVAL, "kind",
					     "kind %d cannot be mapped into an mshare region (anon, file, shmem, hugetlb)",
					     (int)a->kind));
	if (a->populate)
		return op_exit(m, ptsim__err(m, -EINVAL, "populate", "MSHAREFS_CREATE_MAPPING does not populate"));
	if (a->fixed == PTSIM_MAP_HINT || a->fixed == PTSIM_MAP_REPLACE)
		return op_exit(m, ptsim__err(m, -EINVAL, "fixed",
					     "MSHAREFS_CREATE_MAPPING maps at its address without replacing anything"));
	uint64_t align = PAGE_SIZE(m);
	struct ptsim_mmap_args args = *a;
	if (args.kind == PTSIM_MAP_HUGETLB) {
		if (!args.page_size)
			args.page_size = m->geo.pmd_leaf_size;
		if (!arch_hugetlb_valid_size(m, args.page_size))
			return op_exit(m, ptsim__err(m, -EINVAL, "page_size", "hugetlb page size %#" PRIx64
						     " is not supported here", args.page_size));
		align = args.page_size;
	} else if (args.page_size && args.page_size != PAGE_SIZE(m)) {
		return op_exit(m, ptsim__err(m, -EINVAL, "page_size", "page_size is only for hugetlb mappings"));
	}
	if ((args.kind == PTSIM_MAP_FILE || args.kind == PTSIM_MAP_SHMEM) && (!args.file || !*args.file))
		return op_exit(m, ptsim__err(m, -EINVAL, "file", "a file mapping needs a file name"));
	if (args.kind == PTSIM_MAP_ANON && (args.file || args.offset))
		return op_exit(m, ptsim__err(m, -EINVAL, "file", "anonymous memory has no file or offset"));
	if (args.file && (rc = ptsim__check_name(m, "file", args.file)))
		return op_exit(m, rc);
	if ((rc = check_range(m, args.addr, args.len, align, align == PAGE_SIZE(m) ? "page" : "huge page")))
		return op_exit(m, rc);
	if ((args.offset & (align - 1)) || args.offset + args.len < args.offset)
		return op_exit(m, ptsim__err(m, -EINVAL, "offset", "%#" PRIx64 " is not aligned or overflows", args.offset));
	args.fixed = PTSIM_MAP_NOREPLACE;
	rc = msharefs_create_mapping(md, &args);
	if (rc == -EINVAL)
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "MSHAREFS_CREATE_MAPPING returned EINVAL: [%#" PRIx64 ", +%#" PRIx64
					     ") must lie inside the region, MAP_SHARED, of a kind this posting maps "
					     "(mshare=%s)",
					     args.addr, args.len, m->v.mshare == MSHARE_V3_2025 ? "v3_2025: anon, file, shmem, anon hugetlb" : "anonymous memory only"));
	if (rc == -EEXIST)
		return op_exit(m, ptsim__err(m, rc, "addr",
					     "MSHAREFS_CREATE_MAPPING returned EEXIST: [%#" PRIx64 ", +%#" PRIx64
					     ") overlaps a mapping of the region, or file '%s' exists with another kind",
					     args.addr, args.len, args.file ? args.file : ""));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "MSHAREFS_CREATE_MAPPING failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

/* The checks the host operations share: running @task, a page-aligned range inside the region. */
static int mshare_host_range(struct ptsim_machine *m, int task, const char *name, uint64_t addr, uint64_t len,
			     struct mshare_data **md)
{
	int rc;

	if ((rc = lookup_mshare(m, name, md)) || (rc = mshare_task(m, task, false)) ||
	    (rc = check_range(m, addr, len, PAGE_SIZE(m), "page")))
		return rc;
	if (!mshare_range_ok(*md, addr, len))
		return ptsim__err(m, -EINVAL, "addr", "[%#" PRIx64 ", +%#" PRIx64 ") is not inside mshare region '%s'",
				  addr, len, name);
	return check_range_files_unlocked(m, mshare_host_mm(*md), addr, addr + len, "addr");
}

PTSIM_API int ptsim_mshare_munmap(struct ptsim_machine *m, int task, const char *name, uint64_t addr, uint64_t len)
{
	struct mshare_data *md;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mshare_munmap");
	if ((rc = mshare_host_range(m, task, name, addr, len, &md)))
		return op_exit(m, rc);
	rc = do_munmap(mshare_host_mm(md), addr, len);   /* msharefs_unmap() (MSHAREFS_UNMAP, 2025) */
	if (rc == -EINVAL)
		return op_exit(m, ptsim__err(m, rc, "addr", "munmap returned EINVAL: the range splits a hugetlb page"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "munmap failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mshare_madvise(struct ptsim_machine *m, int task, const char *name, uint64_t addr, uint64_t len,
				   enum ptsim_advice advice)
{
	struct mshare_data *md;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mshare_madvise");
	if ((rc = mshare_host_range(m, task, name, addr, len, &md)))
		return op_exit(m, rc);
	if ((unsigned int)advice > PTSIM_MADV_GUARD_REMOVE)
		return op_exit(m, ptsim__err(m, -EINVAL, "advice", "advice %d is not one mshare_madvise takes "
					     "(dontneed, free, dontneed_locked, guard_install, guard_remove)", (int)advice));
	rc = do_madvise(mshare_host_mm(md), addr, len, advice);
	if (rc == -EINVAL)
		return op_exit(m, ptsim__err(m, rc, NULL, "madvise returned EINVAL: a VMA of the region refuses the advice"));
	if (rc == -ENOMEM)
		return op_exit(m, ptsim__err(m, rc, NULL, "madvise returned ENOMEM: part of the range is not mapped"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "madvise failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mshare_mprotect(struct ptsim_machine *m, int task, const char *name, uint64_t addr, uint64_t len,
				    unsigned int prot)
{
	struct mshare_data *md;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mshare_mprotect");
	if ((rc = mshare_host_range(m, task, name, addr, len, &md)))
		return op_exit(m, rc);
	if (!parse_prot_ok(prot))
		return op_exit(m, ptsim__err(m, -EINVAL, "prot", "unknown protection bits %#x", prot));
	rc = do_mprotect_pkey(mshare_host_mm(md), addr, len, prot);
	if (rc == -ENOMEM)
		return op_exit(m, ptsim__err(m, rc, NULL, "mprotect returned ENOMEM: part of the range is not mapped"));
	if (rc == -EACCES)
		return op_exit(m, ptsim__err(m, rc, NULL, "mprotect returned EACCES"));
	if (rc)
		return op_exit(m, ptsim__err(m, rc, NULL, "mprotect failed: %s", ptsim_strerror(rc)));
	return op_exit(m, 0);
}

PTSIM_API int ptsim_mshare_unlink(struct ptsim_machine *m, int task, const char *name)
{
	struct mshare_data *md;
	int rc;

	PTSIM_CHECK_MACHINE(m, -EINVAL);
	op_enter(m, "mshare_unlink");
	if ((rc = lookup_mshare(m, name, &md)) || (rc = mshare_task(m, task, false)))
		return op_exit(m, rc);
	/* The host's teardown (if nothing maps the region) takes the locks of its hugetlb files. */
	if ((rc = check_range_files_unlocked(m, mshare_host_mm(md), 0, 0, "name")))
		return op_exit(m, rc);
	msharefs_unlink(md);
	return op_exit(m, 0);
}

PTSIM_API uint64_t ptsim_mshare_align(const struct ptsim_machine *m)
{
	PTSIM_CHECK_MACHINE(m, 0);
	return mshare_info(m);
}
