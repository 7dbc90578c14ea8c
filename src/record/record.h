/*
 * The recorder: a real program's run turned into a v2 trace (docs/record.md).
 *
 * `ptsim record -o FILE -- CMD ARGS...` runs CMD under ptrace (fork, vfork,
 * clone, exec and exit stops, plus a seccomp stop at each file mmap/shmat to
 * name the file) while two private tracefs instances record what the kernel
 * did: one filtered to the recorded tasks (their memory system calls, page
 * faults, forks, execs and exits), one for the whole machine (context
 * switches, TLB flushes, IPIs and cross-CPU calls, attributed to the recorded
 * tasks the way the oracle programs do).  The per-CPU ring buffers are merged
 * in timestamp order and converted, one event at a time, into trace ops
 * written as JSON Lines (plain, gzip or zstd by the file name), ending with a
 * trailer {"recorded": {...}} holding the real kernel's counts.
 *
 * Linux only, needs root.  Nothing here is part of the portable library: the
 * CLI links this directory as its own static library.
 *
 * Modules: out.c (the output file: temp file, compression, rename), sysinfo.c
 * (the machine: CPUs, paging levels, preset), tracing.c (tracefs instances,
 * raw ring-buffer pages, decoding, the k-way merge), tracer.c (ptrace: the
 * process tree, /proc snapshots), convert.c (events -> trace ops), counts.c
 * (the real counts), record.c (the main loop).
 */
#ifndef PTSIM_RECORD_H
#define PTSIM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses of `ptsim record` (the CLI's conventions). */
#define REC_EXIT_OK 0
#define REC_EXIT_INTERNAL 1
#define REC_EXIT_USAGE 2

struct rec_options {
	const char *output;        /* the trace file (.jsonl, .jsonl.gz, .jsonl.zst) */
	double duration_s;         /* stop after this many seconds (0: when the program ends) */
	char *const *argv;         /* the command, NULL-terminated */
	const char *instance;      /* tracefs instance name prefix (NULL: "ptsim_record_<pid>") */
	const char *tracefs_dir;   /* where tracefs is (NULL: find or mount it) */
	unsigned int task_buffer_kb;  /* ring buffer per CPU of the task instance (0: default) */
	unsigned int cpu_buffer_kb;   /* ring buffer per CPU of the machine instance (0: default) */
	bool quiet;                /* no summary on stderr (errors and warnings still) */
	bool pin_recorder;         /* run the recorder itself on recorder_cpu only */
	unsigned int recorder_cpu;
	bool allow_thp;            /* record even if a process uses transparent huge pages */
};

/* What a recording produced, for the CLI's summary and for --compare. */
struct rec_summary {
	uint64_t events;           /* trace events written (lines after the header) */
	uint64_t faults;           /* page faults recorded */
	uint64_t syscalls;         /* memory system calls recorded */
	unsigned int processes;    /* processes (address spaces) recorded */
	unsigned int tasks;        /* tasks (threads included) recorded */
	unsigned int warnings;
	uint64_t lost_events;      /* ring-buffer events the kernel dropped */
	bool stopped;              /* stopped by --duration or a signal */
	int status;                /* the command's wait status */
	char preset[32];
};

/**
 * rec_record - record @o->argv into @o->output.
 * Return: REC_EXIT_OK with the file written, else REC_EXIT_USAGE (the command
 * or the environment is not usable: message in @err, no file) or
 * REC_EXIT_INTERNAL (out of memory, a write error: no file).
 */
int rec_record(const struct rec_options *o, struct rec_summary *sum, char *err, size_t errlen);

#endif
