/*
 * Error codes, their names and messages, and the per-machine error detail.
 * One X-macro list (errors.h) generates the ptsim codes; errno values get
 * their usual names.
 */
#include "mm/internal.h"

#include <stdarg.h>
#include <stdio.h>

#include "util/name.h"

struct err_entry {
	int code;
	const char *name;
	const char *msg;
};

static const struct err_entry err_table[] = {
#define PTSIM__ERR_ROW(name, value, msg) { value, #name, msg },
	PTSIM_ERRNO_MAP(PTSIM__ERR_ROW)
#undef PTSIM__ERR_ROW
	{ -EINVAL, "EINVAL", "invalid argument" },
	{ -ENOMEM, "ENOMEM", "part of the range is not mapped (the system call's ENOMEM)" },
	{ -ENOENT, "ENOENT", "no such entry" },
	{ -EEXIST, "EEXIST", "already exists" },
	{ -EACCES, "EACCES", "permission denied" },
	{ -EBUSY, "EBUSY", "busy" },
	{ -EFAULT, "EFAULT", "bad address (not inside a mapping)" },
	{ -ERANGE, "ERANGE", "value out of range" },
	{ -EOVERFLOW, "EOVERFLOW", "value too large" },
	{ -EIO, "EIO", "input/output error" },
	{ 0, "OK", "success" },
};

static const struct err_entry *err_lookup(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return &err_table[i];
	return NULL;
}

PTSIM_API const char *ptsim_strerror(int err)
{
	const struct err_entry *e = err_lookup(err);
	return e ? e->msg : "unknown error";
}

PTSIM_API const char *ptsim_errname(int err)
{
	const struct err_entry *e = err_lookup(err);
	return e ? e->name : "EUNKNOWN";
}

/**
 * ptsim__err - record the detail of a failed call and return @code.
 * Message: "event N (op) <where>: field 'F': <detail>"; outside a trace the
 * event prefix is just the op.
 */
int ptsim__err(struct ptsim_machine *m, int code, const char *field, const char *fmt, ...)
{
	char detail[384];
	va_list ap;
	int n = 0;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (m->in_trace) {
		char where[96] = "";
		if (m->ev_where)
			m->ev_where(m->ev_where_ctx, where, sizeof(where));
		if (m->ev_line)
			n = snprintf(m->errmsg, sizeof(m->errmsg), "line %llu (event %llu, %s)%s%s: ",
				     (unsigned long long)m->ev_line, (unsigned long long)m->event,
				     m->ev_op ? m->ev_op : "?", where[0] ? " at " : "", where);
		else
			n = snprintf(m->errmsg, sizeof(m->errmsg), "event %llu (%s)%s%s: ", (unsigned long long)m->event,
				     m->ev_op ? m->ev_op : "?", where[0] ? " at " : "", where);
	} else if (m->ev_op) {
		n = snprintf(m->errmsg, sizeof(m->errmsg), "%s: ", m->ev_op);
	}
	if (n < 0 || (size_t)n >= sizeof(m->errmsg))
		n = 0;
	if (field)
		snprintf(m->errmsg + n, sizeof(m->errmsg) - (size_t)n, "field '%s': %s", field, detail);
	else
		snprintf(m->errmsg + n, sizeof(m->errmsg) - (size_t)n, "%s", detail);
	return code;
}

int ptsim__check_name(struct ptsim_machine *m, const char *field, const char *name)
{
	char why[64];

	/* The name itself stays out of the message: it may be what is not printable. */
	if (!name_problem(name, name ? strlen(name) : 0, why, sizeof(why)))
		return 0;
	return ptsim__err(m, -EINVAL, field, "%s (a name is 1..%d bytes of UTF-8 text without control characters)",
			  why, PTSIM_NAME_MAX);
}

void ptsim__internal_error(struct ptsim_machine *m, const char *file, int line, const char *what)
{
	assert(!ptsim_debug && "internal simulator error");
	if (!m)
		return;
	m->internal_error = true;
	oracle_report(m, PTSIM_VIOL_INTERNAL, -1, 0, 0, "internal simulator error at %s:%d: %s", file, line, what);
}

PTSIM_API const char *ptsim_machine_errmsg(const struct ptsim_machine *m)
{
	if (!m)
		return "no machine (NULL handle)";
	if (!ptsim__machine_ok(m))
		return "not a live machine (destroyed, or not a machine handle)";
	return m->errmsg;
}
