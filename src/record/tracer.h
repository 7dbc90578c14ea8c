/*
 * The process tree of a recording under ptrace (tracer.c).
 */
#ifndef PTSIM_RECORD_TRACER_H
#define PTSIM_RECORD_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "record/recdata.h"

struct rec_tracer;

/*
 * Fork the command (it waits before exec) and attach to it with PTRACE_SEIZE.
 * The caller sets up tracing for *@pid, then calls rec_tracer_release().
 */
int rec_tracer_spawn(struct rec_tracer **out, struct rec_data *d, char *const argv[], pid_t *pid, char *err,
		     size_t errlen);
/*
 * Let the command exec.  Return: 0 once it has exec'd; -ENOENT etc. with a
 * message if the exec failed (the child is reaped).
 */
int rec_tracer_release(struct rec_tracer *tr, char *err, size_t errlen);
/*
 * Handle the tracees' stops that are pending (all of them when @block is
 * false; at least one, waiting for it, when @block is true).
 * Return: number of stops handled, or -errno.
 */
int rec_tracer_step(struct rec_tracer *tr, bool block);
/* True once every tracee has been reaped. */
bool rec_tracer_done(const struct rec_tracer *tr);
/*
 * Stop every live tracee (PTRACE_INTERRUPT) and wait until each is stopped
 * or gone: their state is then frozen (for --duration and signals).
 */
void rec_tracer_freeze(struct rec_tracer *tr);
/* Read the figures of every frozen live tracee (as at an exit stop). */
void rec_tracer_read_live(struct rec_tracer *tr);
/* SIGKILL every tracee and reap them all. */
void rec_tracer_kill_all(struct rec_tracer *tr);
/* The root's wait status (valid once it is reaped). */
bool rec_tracer_root_status(const struct rec_tracer *tr, int *status);
void rec_tracer_free(struct rec_tracer *tr);

/* /proc readers, exposed for the tests. */
int rec_read_status(pid_t tid, struct rec_exit_figs *f);
struct rec_exec *rec_read_exec(struct rec_data *d, pid_t pid, pid_t old_pid);

#endif
