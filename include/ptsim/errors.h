/*
 * ptsim error codes.
 *
 * Every library call returns 0 on success or a negative code: a negated errno
 * value (-EINVAL, -ENOMEM, ...) or one of the ptsim codes below, which live in
 * a range errno never uses.  The human-readable detail of the last failure is
 * kept per machine (ptsim_machine_errmsg()); calls that fail before a machine
 * exists take a caller buffer instead.
 *
 * Out of memory: PTSIM_ENOMEM_HOST is the simulator failing to allocate host
 * memory (any call may return it; the machine stays usable and consistent).
 * -ENOMEM is only ever the simulated kernel's answer to a system call
 * (mprotect, madvise, mlock, munlock, swapout of a range with a hole), the
 * value a trace names with "expect": "ENOMEM".
 */
#ifndef PTSIM_ERRORS_H
#define PTSIM_ERRORS_H

#include "ptsim/export.h"

/* X(name, value, message): the one list the codes and both lookups come from. */
#define PTSIM_ERRNO_MAP(X)                                                    \
	X(EBADTRACE, -4000, "malformed trace")                                \
	X(EBADEVENT, -4001, "invalid trace event")                            \
	X(ENOTASK, -4002, "no such task")                                     \
	X(ETASKSTATE, -4003, "task is not in a state that allows this")       \
	X(ECPUBUSY, -4004, "cpu is blocked or inside a lockless walk")        \
	X(EOVERLAP, -4005, "range overlaps an existing mapping")              \
	X(ENOMAPPING, -4006, "range is not (fully) mapped")                   \
	X(EBADCONFIG, -4007, "invalid machine configuration")                 \
	X(EINTERNAL, -4008, "internal simulator error")                       \
	X(ENOMEM_HOST, -4009, "out of memory (the simulator could not allocate host memory)") \
	X(ELIMIT, -4010, "a limit was reached (trace input size, line length, events; marks; simulated memory)")

enum ptsim_error {
#define PTSIM__ERR_ENUM(name, value, msg) PTSIM_##name = (value),
	PTSIM_ERRNO_MAP(PTSIM__ERR_ENUM)
#undef PTSIM__ERR_ENUM
};

/** ptsim_strerror - message for an error code (negative errno or PTSIM_E*). */
PTSIM_API const char *ptsim_strerror(int err);
/** ptsim_errname - symbolic name of an error code, e.g. "EINVAL", "EBADEVENT". */
PTSIM_API const char *ptsim_errname(int err);

#endif
