/*
 * Trace parsing (docs/trace-format.md): JSON text to typed events.  Every
 * event object is validated against the op table (ptsim__trace_ops: the one
 * list of ops, their required and optional fields) and turned into a struct
 * tevent; a repeat's body is compiled once.  Errors name the event's position
 * ("events[3].events[1] (mark)"), the op and the field.
 *
 * How to add an op or a field: see trace_internal.h.
 */
#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "trace/trace_internal.h"
#include "util/name.h"


const char *const ptsim__trace_field_names[NR_FIELDS] = {
	[F_TASK] = "task", [F_CHILD] = "child", [F_THREAD] = "thread", [F_CPU] = "cpu", [F_ADDR] = "addr",
	[F_LEN] = "len", [F_OFFSET] = "offset", [F_PAGE_SIZE] = "page_size", [F_STRIDE] = "stride",
	[F_COUNT] = "count", [F_NS] = "ns", [F_US] = "us", [F_MS] = "ms", [F_S] = "s", [F_PROT] = "prot",
	[F_KIND] = "kind", [F_SHARED] = "shared", [F_FILE] = "file", [F_ADVICE] = "advice", [F_WRITE] = "write",
	[F_NAME] = "name", [F_POPULATE] = "populate", [F_STEP] = "step", [F_EVENTS] = "events",
	[F_EXPECT] = "expect", [F_COMMENT] = "comment", [F_NEW_ADDR] = "new_addr", [F_FIXED] = "fixed",
	[F_OTHER] = "other", [F_PROCESS] = "process", [F_BRK] = "brk", [F_SEGMENTS] = "segments", [F_STACK] = "stack",
	[F_NEW_LEN] = "new_len", [F_FLAGS] = "flags",
	[F_VAR] = "var", [F_AS] = "as",
	[F_ITERATION] = "iteration",
};

static const uint64_t common_optional = B(F_COMMENT);

const struct op_desc ptsim__trace_ops[NR_OPS] = {
	[OP_SPAWN] = { "spawn", B(F_TASK) | B(F_CPU), 0, 0 },
	[OP_FORK] = { "fork", B(F_TASK) | B(F_CHILD), B(F_CPU), 0 },
	[OP_THREAD] = { "thread", B(F_TASK) | B(F_THREAD), B(F_CPU) | B(F_PROCESS), 0 },
	[OP_EXIT] = { "exit", B(F_TASK), 0, 0 },
	[OP_RUN] = { "run", B(F_CPU), B(F_TASK) | B(F_OTHER), 0 },
	[OP_SLEEP] = { "sleep", B(F_TASK), 0, 0 },
	[OP_ADVANCE] = { "advance", 0, B(F_NS) | B(F_US) | B(F_MS) | B(F_S), 0 },
	[OP_MMAP] = { "mmap", B(F_TASK) | B(F_LEN) | B(F_PROT),
		      B(F_ADDR) | B(F_FIXED) | B(F_KIND) | B(F_SHARED) | B(F_FILE) | B(F_OFFSET) | B(F_PAGE_SIZE) |
			      B(F_POPULATE) | B(F_AS) | SYSCALL,
		      OPF_OVERLAP_IS_EEXIST },
	[OP_MUNMAP] = { "munmap", B(F_TASK) | B(F_ADDR) | B(F_LEN), SYSCALL, 0 },
	[OP_MPROTECT] = { "mprotect", B(F_TASK) | B(F_ADDR) | B(F_LEN) | B(F_PROT), SYSCALL, OPF_ENOMEM_IS_HOLE },
	[OP_MADVISE] = { "madvise", B(F_TASK) | B(F_ADDR) | B(F_LEN) | B(F_ADVICE), SYSCALL, OPF_ENOMEM_IS_HOLE },
	[OP_MLOCK] = { "mlock", B(F_TASK) | B(F_ADDR) | B(F_LEN), SYSCALL, OPF_ENOMEM_IS_HOLE },
	[OP_MUNLOCK] = { "munlock", B(F_TASK) | B(F_ADDR) | B(F_LEN), SYSCALL, OPF_ENOMEM_IS_HOLE },
	[OP_TOUCH] = { "touch", B(F_TASK) | B(F_ADDR) | B(F_LEN), B(F_STRIDE) | B(F_WRITE), 0 },
	[OP_TOUCH_RANDOM] = { "touch_random", B(F_TASK) | B(F_ADDR) | B(F_LEN) | B(F_COUNT), B(F_STRIDE) | B(F_WRITE), 0 },
	[OP_MREMAP] = { "mremap", B(F_TASK) | B(F_ADDR) | B(F_LEN), B(F_NEW_ADDR) | B(F_NEW_LEN) | B(F_FLAGS) | B(F_AS) | SYSCALL, 0 },
	[OP_MOVE_PAGES] = { "move_pages", B(F_TASK) | B(F_ADDR), SYSCALL, 0 },
	[OP_MARK] = { "mark", B(F_NAME), B(F_ITERATION), 0 },
	[OP_REPEAT] = { "repeat", B(F_COUNT) | B(F_EVENTS), B(F_STEP) | B(F_VAR), 0 },
	[OP_GUP_FAST_BEGIN] = { "gup_fast_begin", B(F_CPU) | B(F_TASK) | B(F_ADDR), 0, 0 },
	[OP_GUP_FAST_END] = { "gup_fast_end", B(F_CPU), 0, 0 },
	[OP_RCU_READ_BEGIN] = { "rcu_read_begin", B(F_CPU) | B(F_TASK) | B(F_ADDR), 0, 0 },
	[OP_RCU_READ_END] = { "rcu_read_end", B(F_CPU), 0, 0 },
	[OP_PMD_LOCK] = { "pmd_lock", B(F_CPU) | B(F_TASK) | B(F_ADDR), 0, 0 },
	[OP_PMD_UNLOCK] = { "pmd_unlock", B(F_CPU), 0, 0 },
	[OP_SCHEDULE_BEGIN] = { "schedule_begin", B(F_CPU), 0, 0 },
	[OP_SCHEDULE_END] = { "schedule_end", B(F_CPU), 0, 0 },
	[OP_LRU_ADD_DRAIN_CPU] = { "lru_add_drain_cpu", B(F_CPU), 0, 0 },
	[OP_SWAPOUT] = { "swapout", B(F_TASK) | B(F_ADDR) | B(F_LEN), SYSCALL, OPF_ENOMEM_IS_HOLE },
	[OP_EXEC] = { "exec", B(F_TASK), B(F_SEGMENTS) | B(F_BRK) | B(F_STACK), 0 },
	[OP_BRK] = { "brk", B(F_TASK) | B(F_ADDR), B(F_AS), 0 },
	[OP_CACHE] = { "cache", B(F_FILE) | B(F_LEN), B(F_KIND) | B(F_OFFSET), 0 },
	/* mshare (docs/mshare.md): the region, its objects, and the host mm's operations. */
	[OP_MSHARE_CREATE] = { "mshare_create", B(F_NAME) | B(F_ADDR) | B(F_LEN), B(F_TASK) | SYSCALL, 0 },
	[OP_MSHARE_MAP] = { "mshare_map", B(F_NAME) | B(F_ADDR) | B(F_LEN) | B(F_PROT),
			    B(F_TASK) | B(F_KIND) | B(F_SHARED) | B(F_FILE) | B(F_OFFSET) | B(F_PAGE_SIZE) | SYSCALL, 0 },
	[OP_MSHARE_MUNMAP] = { "mshare_munmap", B(F_NAME) | B(F_TASK) | B(F_ADDR) | B(F_LEN), SYSCALL, 0 },
	[OP_MSHARE_MADVISE] = { "mshare_madvise", B(F_NAME) | B(F_TASK) | B(F_ADDR) | B(F_LEN) | B(F_ADVICE), SYSCALL,
				OPF_ENOMEM_IS_HOLE },
	[OP_MSHARE_MPROTECT] = { "mshare_mprotect", B(F_NAME) | B(F_TASK) | B(F_ADDR) | B(F_LEN) | B(F_PROT), SYSCALL,
				 OPF_ENOMEM_IS_HOLE },
	[OP_MSHARE_UNLINK] = { "mshare_unlink", B(F_NAME) | B(F_TASK), SYSCALL, 0 },
};


/* Largest value each numeric field may take (before the API's own checks). */
const uint64_t ptsim__trace_field_max[NR_NUM_FIELDS] = {
	[F_TASK] = INT_MAX, [F_CHILD] = INT_MAX, [F_THREAD] = INT_MAX, [F_CPU] = PTSIM_MAX_CPUS - 1,
	[F_ADDR] = UINT64_MAX, [F_LEN] = UINT64_MAX, [F_OFFSET] = UINT64_MAX, [F_PAGE_SIZE] = UINT64_MAX,
	[F_STRIDE] = UINT64_MAX, [F_COUNT] = 100000000, [F_NS] = UINT64_MAX, [F_US] = UINT64_MAX / 1000,
	[F_MS] = UINT64_MAX / 1000000, [F_S] = UINT64_MAX / 1000000000, [F_NEW_ADDR] = UINT64_MAX, [F_NEW_LEN] = UINT64_MAX,
	[F_BRK] = UINT64_MAX,
};

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

int ptsim__trace_fail(struct perr *pe, const char *fmt, ...)
{
	char detail[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (pe->buf && pe->len)
		snprintf(pe->buf, pe->len, "%s%s%s", pe->path, pe->path[0] ? ": " : "", detail);
	return PTSIM_EBADTRACE;
}

/* A host allocation failed while loading: PTSIM_ENOMEM_HOST, "out of memory" and where. */
int ptsim__trace_oom(struct perr *pe)
{
	if (pe->buf && pe->len)
		snprintf(pe->buf, pe->len, "%s%sout of memory (the loader could not allocate host memory)", pe->path,
			 pe->path[0] ? ": " : "");
	return PTSIM_ENOMEM_HOST;
}

/* "123", "0x1f", "2M", "50G", "4K", "1T": decimal or hex with an optional binary suffix. */
int ptsim__trace_parse_num(const char *s, uint64_t *out, bool allow_neg, bool *neg)
{
	const char *p = s;
	uint64_t v = 0, mult = 1;
	int base = 10;

	*neg = false;
	if (allow_neg && *p == '-') {
		*neg = true;
		p++;
	}
	if (!*p)
		return -1;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (!*p)
			return -1;
	}
	const char *digits = p;
	while (*p && (base == 16 ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p))) {
		unsigned int d = (unsigned int)(isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10));
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return -2;
		v = v * (uint64_t)base + d;
		p++;
	}
	if (p == digits)
		return -1;
	if (*p) {
		switch (*p) {
		case 'K': case 'k': mult = 1ull << 10; break;
		case 'M': case 'm': mult = 1ull << 20; break;
		case 'G': case 'g': mult = 1ull << 30; break;
		case 'T': case 't': mult = 1ull << 40; break;
		default: return -1;
		}
		if (p[1])
			return -1;
	}
	if (v && mult > UINT64_MAX / v)
		return -2;
	*out = v * mult;
	return 0;
}

static int get_num(struct perr *pe, const cJSON *item, const char *field, uint64_t max, uint64_t *out)
{
	bool neg;

	if (cJSON_IsNumber(item)) {
		double d = item->valuedouble;
		/* Range first: converting an out-of-range double is undefined behaviour. */
		/* 2^53 itself is refused too: a larger integer may have been rounded to it. */
		if (!(d >= 0 && d < 9007199254740992.0) || d != (double)(uint64_t)d)
			return ptsim__trace_fail(pe, "field '%s': %.17g is not a non-negative integer below 2^53 (use a string like "
					"\"0x...\" for larger values)", field, d);
		*out = (uint64_t)d;
	} else if (cJSON_IsString(item)) {
		int rc = ptsim__trace_parse_num(item->valuestring, out, false, &neg);
		if (rc == -2)
			return ptsim__trace_fail(pe, "field '%s': \"%s\" overflows 64 bits", field, item->valuestring);
		if (rc)
			return ptsim__trace_fail(pe, "field '%s': \"%s\" is not a number (decimal, 0x hex, optional K/M/G/T suffix)",
				    field, item->valuestring);
	} else {
		return ptsim__trace_fail(pe, "field '%s': expected a number or a numeric string", field);
	}
	if (*out > max)
		return ptsim__trace_fail(pe, "field '%s': %" PRIu64 " is out of range (max %" PRIu64 ")", field, *out, max);
	return 0;
}

static int get_step(struct perr *pe, const cJSON *item, const char *field, int64_t *out)
{
	uint64_t v;
	bool neg = false;

	if (cJSON_IsNumber(item)) {
		double d = item->valuedouble;
		if (!(d > -9007199254740992.0 && d < 9007199254740992.0) || d != (double)(int64_t)d)
			return ptsim__trace_fail(pe, "step '%s': %.17g is not an integer of magnitude below 2^53 (use a string)", field, d);
		*out = (int64_t)d;
		return 0;
	}
	if (!cJSON_IsString(item))
		return ptsim__trace_fail(pe, "step '%s': expected a number or a numeric string", field);
	int rc = ptsim__trace_parse_num(item->valuestring, &v, true, &neg);
	if (rc || v > (uint64_t)INT64_MAX)
		return ptsim__trace_fail(pe, "step '%s': \"%s\" is not a number in range", field, item->valuestring);
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int get_bool(struct perr *pe, const cJSON *item, const char *field, bool *out)
{
	if (!cJSON_IsBool(item))
		return ptsim__trace_fail(pe, "field '%s': expected true or false", field);
	*out = cJSON_IsTrue(item);
	return 0;
}

static int get_str(struct perr *pe, const cJSON *item, const char *field, const char **out)
{
	if (!cJSON_IsString(item) || !item->valuestring)
		return ptsim__trace_fail(pe, "field '%s': expected a string", field);
	*out = item->valuestring;
	return 0;
}

struct enum_name {
	const char *name;
	int value;
};

/* A string field that names one of @n values; the error lists them all (@what says what they are). */
static int parse_enum(struct perr *pe, const cJSON *item, const char *field, const struct enum_name *names, size_t n,
		      const char *what, int *out)
{
	const char *s = NULL;
	char list[256] = "";

	if (get_str(pe, item, field, &s))
		return PTSIM_EBADTRACE;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(s, names[i].name)) {
			*out = names[i].value;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", names[i].name);
	}
	/* Said as a constant, so that the compiler sees *out set whenever 0 is returned. */
	ptsim__trace_fail(pe, "field '%s': \"%s\" is not %s (%s)", field, s, what, list);
	return PTSIM_EBADTRACE;
}

#define PARSE_ENUM(pe, item, field, names, what, out) \
	parse_enum(pe, item, field, names, sizeof(names) / sizeof(names[0]), what, out)

static const struct enum_name prot_names[] = {
	{ "none", 0 }, { "r", 1 }, { "rw", 3 }, { "rwx", 7 }, { "rx", 5 }, { "x", 4 }, { "w", 2 }, { "wx", 6 },
};
static const struct enum_name expect_names[] = {
	{ "EINVAL", -EINVAL }, { "ENOMEM", -ENOMEM }, { "EACCES", -EACCES }, { "EEXIST", -EEXIST },
	{ "EBUSY", -EBUSY },   { "ENOENT", -ENOENT }, { "EFAULT", -EFAULT },
};
static const struct enum_name kind_names[] = {
	{ "anon", PTSIM_MAP_ANON }, { "file", PTSIM_MAP_FILE }, { "shmem", PTSIM_MAP_SHMEM }, { "hugetlb", PTSIM_MAP_HUGETLB },
	{ "mshare", PTSIM_MAP_MSHARE },
};
/* MAP_FIXED ("replace") and hints come with the kernel-chosen addresses of the address-space work. */
static const struct enum_name fixed_names[] = {
	{ "noreplace", FIXED_NOREPLACE },
	{ "replace", FIXED_REPLACE },
};
static const struct enum_name advice_names[] = {
	{ "dontneed", PTSIM_MADV_DONTNEED },           { "free", PTSIM_MADV_FREE },
	{ "dontneed_locked", PTSIM_MADV_DONTNEED_LOCKED }, { "guard_install", PTSIM_MADV_GUARD_INSTALL },
	{ "guard_remove", PTSIM_MADV_GUARD_REMOVE },   { "cold", PTSIM_MADV_COLD },
	{ "pageout", PTSIM_MADV_PAGEOUT },
};

/* A key given twice in one JSON object (cJSON keeps both; lookups see only the first). */
static const char *dup_key(const cJSON *obj)
{
	for (const cJSON *a = obj->child; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && !strcmp(a->string, b->string))
				return a->string;
	return NULL;
}

/* A file name as every name field takes it: the C API's check (util/name.h), with the same words. */
static int check_file_name(struct perr *pe, const char *field, const char *s)
{
	char why[128];

	if (name_problem(s, strlen(s), why, sizeof(why)))
		return ptsim__trace_fail(pe, "field '%s': %s (a name is 1..%d bytes of UTF-8 text without control "
					 "characters)", field, why, PTSIM_NAME_MAX);
	return 0;
}

/* exec's "segments": [{addr, len, prot, kind?, file?, offset?, shared?}, ...] */
static int parse_segments(struct perr *pe, const cJSON *arr, struct tevent *ev)
{
	const cJSON *so, *it;
	size_t n = 0, i = 0;
	char field[64];

	if (!cJSON_IsArray(arr))
		return ptsim__trace_fail(pe, "field 'segments': expected an array of objects");
	cJSON_ArrayForEach(so, arr)
		n++;
	if (!n)
		return 0;
	if (!(ev->segments = calloc(n, sizeof(*ev->segments))))
		return ptsim__trace_oom(pe);
	cJSON_ArrayForEach(so, arr) {
		struct ptsim_exec_segment *s = &ev->segments[i++];
		unsigned int have = 0;
		ev->nr_segments = i;
		if (!cJSON_IsObject(so))
			return ptsim__trace_fail(pe, "field 'segments[%zu]': expected an object", i - 1);
		if (dup_key(so))
			return ptsim__trace_fail(pe, "field 'segments[%zu]': '%s' is given twice", i - 1, dup_key(so));
		cJSON_ArrayForEach(it, so) {
			int v;
			snprintf(field, sizeof(field), "segments[%zu].%s", i - 1, it->string);
			if (!strcmp(it->string, "addr") || !strcmp(it->string, "len") || !strcmp(it->string, "offset")) {
				uint64_t *dst = it->string[0] == 'a' ? &s->addr : it->string[0] == 'l' ? &s->len : &s->offset;
				if (get_num(pe, it, field, UINT64_MAX, dst))
					return PTSIM_EBADTRACE;
				have |= it->string[0] == 'a' ? 1 : it->string[0] == 'l' ? 2 : 0;
			} else if (!strcmp(it->string, "prot")) {
				if (parse_enum(pe, it, field, prot_names, 8, "a protection", &v))
					return PTSIM_EBADTRACE;
				s->prot = (unsigned int)v;
				have |= 4;
			} else if (!strcmp(it->string, "kind")) {
				if (parse_enum(pe, it, field, kind_names, 2, "a segment kind", &v))
					return PTSIM_EBADTRACE;
				s->kind = (enum ptsim_map_kind)v;
			} else if (!strcmp(it->string, "shared")) {
				if (get_bool(pe, it, field, &s->shared))
					return PTSIM_EBADTRACE;
			} else if (!strcmp(it->string, "file")) {
				const char *str = NULL;
				if (get_str(pe, it, field, &str) || check_file_name(pe, field, str))
					return PTSIM_EBADTRACE;
				if (!(s->file = strdup(str)))
					return ptsim__trace_oom(pe);
			} else {
				return ptsim__trace_fail(pe, "field 'segments[%zu]': unknown field '%s' (addr, len, prot, kind, "
							 "file, offset, shared)", i - 1, it->string);
			}
		}
		if ((have & 7) != 7)
			return ptsim__trace_fail(pe, "field 'segments[%zu]': missing '%s'", i - 1,
						 !(have & 1) ? "addr" : !(have & 2) ? "len" : "prot");
		if (s->file && !(so->child && cJSON_GetObjectItemCaseSensitive(so, "kind")))
			s->kind = PTSIM_MAP_FILE;   /* a file implies kind "file" */
	}
	return 0;
}

/* exec's "stack": {addr, len, arg_pages?} or {arg_pages} (addr and len come together) */
static int parse_stack(struct perr *pe, const cJSON *obj, struct tevent *ev)
{
	static const char shape[] = "expected {\"addr\": ..., \"len\": ..., \"arg_pages\"?: ...}";
	const cJSON *it;
	unsigned int have = 0;

	if (!cJSON_IsObject(obj))
		return ptsim__trace_fail(pe, "field 'stack': %s", shape);
	if (dup_key(obj))
		return ptsim__trace_fail(pe, "field 'stack': '%s' is given twice", dup_key(obj));
	cJSON_ArrayForEach(it, obj) {
		if (!strcmp(it->string, "addr")) {
			if (get_num(pe, it, "stack.addr", UINT64_MAX, &ev->stack_addr))
				return PTSIM_EBADTRACE;
			have |= 1;
		} else if (!strcmp(it->string, "len")) {
			if (get_num(pe, it, "stack.len", UINT64_MAX, &ev->stack_len))
				return PTSIM_EBADTRACE;
			have |= 2;
		} else if (!strcmp(it->string, "arg_pages")) {
			if (get_num(pe, it, "stack.arg_pages", UINT64_MAX, &ev->arg_pages))
				return PTSIM_EBADTRACE;
			if (!ev->arg_pages)
				return ptsim__trace_fail(pe, "field 'stack.arg_pages': 0 (leave it out: the stack did not move)");
		} else {
			return ptsim__trace_fail(pe, "field 'stack': unknown field '%s' (addr, len, arg_pages)", it->string);
		}
	}
	if (have == 1 || have == 2)
		return ptsim__trace_fail(pe, "field 'stack': '%s' without '%s' (%s)", have == 1 ? "addr" : "len",
					 have == 1 ? "len" : "addr", shape);
	if (!have && !ev->arg_pages)
		return ptsim__trace_fail(pe, "field 'stack': %s", shape);
	return 0;
}


static int find_field(const char *name)
{
	for (int f = 0; f < NR_FIELDS; f++)
		if (!strcmp(ptsim__trace_field_names[f], name))
			return f;
	return -1;
}


/* Numeric fields (other than a nested repeat's count) given anywhere in a body. */
static uint64_t body_num_fields(const struct tevent *ev, size_t n)
{
	uint64_t used = 0;

	for (size_t i = 0; i < n; i++) {
		used |= ev[i].present & (B(NR_NUM_FIELDS) - 1) & ~B(F_COUNT);
		if (ev[i].op == OP_REPEAT)
			used |= body_num_fields(ev[i].body, ev[i].nr_body);
	}
	return used;
}

static int parse_events(struct perr *pe, const cJSON *arr, struct tevent **out, size_t *nr, int depth);

/*
 * A string that is no plain number is an expression if it has a variable,
 * an operator after its start or a parenthesis, or (in an address field) is
 * a name; anything else ("12Q", "-5", "4 K") gets the plain number's message.
 */
static bool looks_like_expr(const char *s, bool names_ok)
{
	if (names_ok && (isalpha((unsigned char)s[0]) || s[0] == '_'))
		return true;
	return s[0] && (strpbrk(s, "{+*/%()") || strchr(s + 1, '-'));
}

/*
 * A mark's "iteration": the iteration numbers of the repeats it stood in
 * before ptsim convert --expand-repeats wrote them out (outermost first),
 * so that the expanded trace reports the same marks.
 */
static int parse_iteration(struct perr *pe, const cJSON *it, struct tevent *ev)
{
	int n = cJSON_GetArraySize(it);
	const cJSON *x;
	unsigned int i = 0;

	if (!cJSON_IsArray(it) || n > PTSIM_MARK_MAX_DEPTH)
		return ptsim__trace_fail(pe, "field 'iteration': expected an array of at most %d iteration numbers",
					 PTSIM_MARK_MAX_DEPTH);
	if (n && !(ev->iteration = malloc((size_t)n * sizeof(*ev->iteration))))
		return ptsim__trace_oom(pe);
	cJSON_ArrayForEach(x, it) {
		double d = x->valuedouble;
		if (!cJSON_IsNumber(x) || d < 0 || d >= 9007199254740992.0 || d != (double)(uint64_t)d)
			return ptsim__trace_fail(pe, "field 'iteration': element %u is not a non-negative integer below "
						 "2^53", i);
		ev->iteration[i++] = (uint64_t)d;
	}
	ev->nr_iteration = i;
	return 0;
}

static int parse_event(struct perr *pe, const cJSON *obj, struct tevent *ev, int depth)
{
	const cJSON *opj, *it;
	const char *opname;

	memset(ev, 0, sizeof(*ev));
	if (!cJSON_IsObject(obj))
		return ptsim__trace_fail(pe, "an event must be a JSON object");
	if (dup_key(obj))
		return ptsim__trace_fail(pe, "field '%s' is given twice", dup_key(obj));
	opj = cJSON_GetObjectItemCaseSensitive(obj, "op");
	if (!opj)
		return ptsim__trace_fail(pe, "missing field 'op'");
	if (!cJSON_IsString(opj))
		return ptsim__trace_fail(pe, "field 'op': expected a string");
	opname = opj->valuestring;
	int op = -1;
	for (int i = 0; i < NR_OPS; i++)
		if (!strcmp(ptsim__trace_ops[i].name, opname))
			op = i;
	if (op < 0)
		return ptsim__trace_fail(pe, "unknown op \"%s\"", opname);
	ev->op = (enum top)op;
	const struct op_desc *d = &ptsim__trace_ops[op];
	size_t plen = strlen(pe->path);
	if (pe->in_line && depth == 0 && plen && pe->path[plen - 1] == ')')
		/* A v2 line: "line 7 (event 5)" becomes "line 7 (event 5, munmap)". */
		snprintf(pe->path + plen - 1, sizeof(pe->path) - plen + 1, ", %s)", opname);
	else
		snprintf(pe->path + plen, sizeof(pe->path) - plen, " (%s)", opname);

	cJSON_ArrayForEach(it, obj) {
		if (!strcmp(it->string, "op"))
			continue;
		int f = find_field(it->string);
		if (f == F_EXPECT && !(d->optional & B(f))) {
			char ops[256] = "";
			for (int o = 0; o < NR_OPS; o++)
				if (ptsim__trace_ops[o].optional & SYSCALL)
					snprintf(ops + strlen(ops), sizeof(ops) - strlen(ops), "%s%s", *ops ? ", " : "",
						 ptsim__trace_ops[o].name);
			return ptsim__trace_fail(pe, "field 'expect': op %s is not a system call the kernel can fail (expect is for "
					"%s)", opname, ops);
		}
		if (f < 0 || !((d->required | d->optional | common_optional) & B(f)))
			return ptsim__trace_fail(pe, "unknown field '%s' for op %s", it->string, opname);
		ev->present |= B(f);
		/* brk's "addr" may be relative to the current break: "+N" or "-N". */
		if (op == OP_BRK && f == F_ADDR && cJSON_IsString(it) && (it->valuestring[0] == '+' || it->valuestring[0] == '-')) {
			uint64_t v;
			bool neg = false;
			int bad = ptsim__trace_parse_num(it->valuestring + (it->valuestring[0] == '+'), &v, true, &neg);
			if (bad || v > (uint64_t)INT64_MAX)
				return ptsim__trace_fail(pe, "field 'addr': %s\"%s\" %s", bad ? "" : "change ",
							 it->valuestring,
							 bad ? "is not a break or a +N / -N change of it"
							     : "is out of range (at most 2^63 - 1)");
			ev->brk_relative = true;
			ev->brk_delta = neg ? -(int64_t)v : (int64_t)v;
			continue;
		}
		if (f < NR_NUM_FIELDS) {
			uint64_t v;
			bool neg;
			/* A string that is not a plain number is an expression ({i} % 4, heap1+4K). */
			if (cJSON_IsString(it) && f != F_COUNT &&
			    ptsim__trace_parse_num(it->valuestring, &v, false, &neg) == -1 &&
			    looks_like_expr(it->valuestring, f == F_ADDR || f == F_NEW_ADDR)) {
				struct texpr *x = realloc(ev->exprs, (ev->nr_exprs + 1) * sizeof(*x));
				if (!x)
					return PTSIM_ENOMEM_HOST;
				ev->exprs = x;
				int rc = ptsim__trace_expr_compile(pe, ptsim__trace_field_names[f], it->valuestring,
								   &pe->scope, f == F_ADDR || f == F_NEW_ADDR ? pe->names : NULL,
								   &ev->exprs[ev->nr_exprs]);
				if (rc)
					return rc;
				ev->exprs[ev->nr_exprs++].field = (enum tfield)f;
				ev->dynamic |= B(f);
				continue;
			}
			if (get_num(pe, it, ptsim__trace_field_names[f], ptsim__trace_field_max[f], &ev->num[f]))
				return PTSIM_EBADTRACE;
			continue;
		}
		const char *s = NULL;
		char why[64];
		switch (f) {
		case F_PROT: {
			int v;
			if (PARSE_ENUM(pe, it, "prot", prot_names, "a protection", &v))
				return PTSIM_EBADTRACE;
			ev->prot = (unsigned int)v;
			break;
		}
		case F_KIND: {
			int v;
			if (PARSE_ENUM(pe, it, "kind", kind_names, "a mapping kind", &v))
				return PTSIM_EBADTRACE;
			ev->kind = (enum ptsim_map_kind)v;
			break;
		}
		case F_VAR:
		case F_AS:
			if (get_str(pe, it, ptsim__trace_field_names[f], &s))
				return PTSIM_EBADTRACE;
			if (!ptsim__trace_is_name(s) || strlen(s) > 255)
				return ptsim__trace_fail(pe, "field '%s': \"%s\" is not a name (a letter or _, then letters, "
							 "digits, _ or .; at most 255 bytes)", ptsim__trace_field_names[f], s);
			if (f == F_VAR && !strcmp(s, "ncpus"))
				return ptsim__trace_fail(pe, "field 'var': ncpus is the machine's CPU count, not a repeat "
							 "variable");
			if (!(*(f == F_VAR ? &ev->var : &ev->as) = strdup(s)))
				return PTSIM_ENOMEM_HOST;
			break;
		case F_FIXED:
			if (PARSE_ENUM(pe, it, "fixed", fixed_names, "a fixed-address mode", &ev->fixed))
				return PTSIM_EBADTRACE;
			break;
		case F_ITERATION:
			if (parse_iteration(pe, it, ev))
				return PTSIM_EBADTRACE;
			break;
		case F_ADVICE: {
			int v;
			if (PARSE_ENUM(pe, it, "advice", advice_names, "an advice this op knows", &v))
				return PTSIM_EBADTRACE;
			ev->advice = (enum ptsim_advice)v;
			break;
		}
		case F_SHARED:
			if (get_bool(pe, it, "shared", &ev->shared))
				return PTSIM_EBADTRACE;
			break;
		case F_WRITE:
			if (get_bool(pe, it, "write", &ev->write))
				return PTSIM_EBADTRACE;
			break;
		case F_POPULATE:
			if (get_bool(pe, it, "populate", &ev->populate))
				return PTSIM_EBADTRACE;
			break;
		case F_OTHER:
			if (get_bool(pe, it, "other", &ev->other))
				return PTSIM_EBADTRACE;
			break;
		case F_PROCESS:
			if (get_bool(pe, it, "process", &ev->process))
				return PTSIM_EBADTRACE;
			break;
		case F_FLAGS: {
			static const struct enum_name mremap_flag_names[] = {
				{ "maymove", PTSIM_MREMAP_MAYMOVE }, { "fixed", PTSIM_MREMAP_FIXED },
				{ "dontunmap", PTSIM_MREMAP_DONTUNMAP },
			};
			const cJSON *fl;
			if (!cJSON_IsArray(it))
				return ptsim__trace_fail(pe, "field 'flags': expected an array of \"maymove\", \"fixed\", \"dontunmap\"");
			cJSON_ArrayForEach(fl, it) {
				int v;
				if (PARSE_ENUM(pe, fl, "flags", mremap_flag_names, "an mremap flag", &v))
					return PTSIM_EBADTRACE;
				ev->mremap_flags |= (unsigned int)v;
			}
			break;
		}
		case F_SEGMENTS:
			if (parse_segments(pe, it, ev))
				return PTSIM_EBADTRACE;
			break;
		case F_STACK:
			if (parse_stack(pe, it, ev))
				return PTSIM_EBADTRACE;
			break;
		case F_FILE:
		case F_NAME:
			if (get_str(pe, it, ptsim__trace_field_names[f], &s))
				return PTSIM_EBADTRACE;
			/* The C API's check (util/name.h), with the same words. */
			if (name_problem(s, strlen(s), why, sizeof(why)))
				return ptsim__trace_fail(pe, "field '%s': %s (a name is 1..%d bytes of UTF-8 text without "
							 "control characters)", ptsim__trace_field_names[f], why, PTSIM_NAME_MAX);
			if (!(*(f == F_FILE ? &ev->file : &ev->name) = strdup(s)))
				return ptsim__trace_oom(pe);
			break;
		case F_EXPECT:
			if (PARSE_ENUM(pe, it, "expect", expect_names, "an errno name this op can return", &ev->expect))
				return PTSIM_EBADTRACE;
			break;
		case F_COMMENT:
			if (!cJSON_IsString(it))
				return ptsim__trace_fail(pe, "field 'comment': expected a string");
			break;
		case F_STEP: {
			const cJSON *st;
			if (!cJSON_IsObject(it))
				return ptsim__trace_fail(pe, "field 'step': expected an object of FIELD: number");
			if (dup_key(it))
				return ptsim__trace_fail(pe, "step '%s' is given twice", dup_key(it));
			cJSON_ArrayForEach(st, it) {
				int sf = find_field(st->string);
				if (sf < 0 || sf >= NR_NUM_FIELDS || sf == F_COUNT)
					return ptsim__trace_fail(pe, "step: '%s' is not a numeric event field", st->string);
				if (get_step(pe, st, st->string, &ev->step[sf]))
					return PTSIM_EBADTRACE;
				ev->stepped |= B(sf);
			}
			break;
		}
		case F_EVENTS:
			break;   /* below */
		}
	}
	/* The name is bound from this event on: later events may use it. */
	if (ev->as && pe->names && ptsim__trace_note_name(pe->names, ev->as))
		return PTSIM_ENOMEM_HOST;
	uint64_t missing = d->required & ~ev->present;
	if (missing) {
		for (int f = 0; f < NR_FIELDS; f++)
			if (missing & B(f))
				return ptsim__trace_fail(pe, "missing field '%s'", ptsim__trace_field_names[f]);
	}
	if (op == OP_RUN && !(ev->present & B(F_TASK)) == !ev->other)
		return ptsim__trace_fail(pe, ev->other ? "field 'task': a run of another process (\"other\": true) has no task"
						       : "missing field 'task' (or \"other\": true)");
	/* v1's mremap {addr, len, new_addr} is MAYMOVE|FIXED with the same length. */
	if (op == OP_MREMAP && !(ev->present & (B(F_FLAGS) | B(F_NEW_LEN))) && !(ev->present & B(F_NEW_ADDR)))
		return ptsim__trace_fail(pe, "missing field 'new_addr' (or 'flags' / 'new_len')");
	if (op == OP_MREMAP && (ev->mremap_flags & PTSIM_MREMAP_FIXED) && !(ev->present & B(F_NEW_ADDR)))
		return ptsim__trace_fail(pe, "field 'flags': \"fixed\" needs a 'new_addr'");
	if (op == OP_MMAP && (ev->present & B(F_FIXED)) && !(ev->present & B(F_ADDR)))
		return ptsim__trace_fail(pe, "field 'fixed': needs an 'addr'");
	if (op == OP_ADVANCE) {
		int n = !!(ev->present & B(F_NS)) + !!(ev->present & B(F_US)) + !!(ev->present & B(F_MS)) +
			!!(ev->present & B(F_S));
		if (n != 1)
			return ptsim__trace_fail(pe, "give exactly one of ns, us, ms, s");
	}
	if (op == OP_REPEAT) {
		if (depth >= 16)
			return ptsim__trace_fail(pe, "repeat nested deeper than 16 levels");
		const cJSON *body = cJSON_GetObjectItemCaseSensitive(obj, "events");
		char saved[sizeof(pe->path)];
		memcpy(saved, pe->path, sizeof(saved));
		/* The body sees this repeat's variable (and the outer ones). */
		const char *var = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, "var"));
		if (var) {
			pe->scope.var[pe->scope.n] = var;
			pe->scope.level[pe->scope.n++] = depth + 1;
		}
		int rc = parse_events(pe, body, &ev->body, &ev->nr_body, depth + 1);
		if (var)
			pe->scope.n--;
		if (rc)
			return rc;
		memcpy(pe->path, saved, sizeof(saved));
		/* A step no event of the body can take would be silently ignored. */
		uint64_t unused = ev->stepped & ~body_num_fields(ev->body, ev->nr_body);
		for (int f = 0; unused && f < NR_NUM_FIELDS; f++)
			if (unused & B(f))
				return ptsim__trace_fail(pe, "step '%s': no event of the body has a field '%s' to add it to",
					    ptsim__trace_field_names[f], ptsim__trace_field_names[f]);
	}
	pe->path[plen] = 0;
	return 0;
}

static int parse_events(struct perr *pe, const cJSON *arr, struct tevent **out, size_t *nr, int depth)
{
	size_t n;
	struct tevent *ev;
	size_t base = strlen(pe->path);

	*out = NULL;
	*nr = 0;
	if (!cJSON_IsArray(arr))
		return ptsim__trace_fail(pe, "'events' must be an array");
	n = (size_t)cJSON_GetArraySize(arr);
	ev = calloc(n ? n : 1, sizeof(*ev));
	if (!ev)
		return ptsim__trace_oom(pe);
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		snprintf(pe->path + base, sizeof(pe->path) - base, "%sevents[%zu]", base ? "." : "", i);
		int rc = parse_event(pe, it, &ev[i], depth);
		if (rc) {
			ptsim__trace_free_events(ev, i + 1);
			return rc;
		}
		i++;
	}
	pe->path[base] = 0;
	*out = ev;
	*nr = n;
	return 0;
}

/* What one event owns (its strings, a repeat's body), not the event itself. */
void ptsim__trace_clear_event(struct tevent *ev)
{
	free(ev->file);
	free(ev->name);
	for (size_t k = 0; k < ev->nr_segments; k++)
		free((char *)ev->segments[k].file);
	free(ev->segments);
	free(ev->var);
	free(ev->as);
	for (size_t i = 0; i < ev->nr_exprs; i++)
		ptsim__trace_expr_free(&ev->exprs[i]);
	free(ev->exprs);
	free(ev->iteration);
	ptsim__trace_free_events(ev->body, ev->nr_body);
	memset(ev, 0, sizeof(*ev));
}

void ptsim__trace_free_events(struct tevent *ev, size_t n)
{
	if (!ev)
		return;
	for (size_t i = 0; i < n; i++)
		ptsim__trace_clear_event(&ev[i]);
	free(ev);
}

int ptsim__trace_add_set(struct ptsim_trace *t, const char *kv)
{
	char **n = realloc(t->set, (t->nr_set + 2) * sizeof(char *));
	if (!n)
		return PTSIM_ENOMEM_HOST;
	t->set = n;
	if (!(t->set[t->nr_set] = strdup(kv)))
		return PTSIM_ENOMEM_HOST;
	t->nr_set++;
	t->set[t->nr_set] = NULL;
	return 0;
}

static int parse_machine(struct perr *pe, struct ptsim_trace *t, const cJSON *mj)
{
	const cJSON *it;
	uint64_t v;

	snprintf(pe->path, sizeof(pe->path), "machine");
	if (!cJSON_IsObject(mj))
		return ptsim__trace_fail(pe, "must be an object");
	if (dup_key(mj))
		return ptsim__trace_fail(pe, "field '%s' is given twice", dup_key(mj));
	cJSON_ArrayForEach(it, mj) {
		const char *k = it->string;
		if (!strcmp(k, "arch")) {
			if (!cJSON_IsString(it))
				return ptsim__trace_fail(pe, "field 'arch': expected a string");
			if (!strcmp(it->valuestring, "x86_64"))
				t->arch = PTSIM_ARCH_X86_64;
			else if (!strcmp(it->valuestring, "arm64"))
				t->arch = PTSIM_ARCH_ARM64;
			else
				return ptsim__trace_fail(pe, "field 'arch': \"%s\" is not x86_64 or arm64", it->valuestring);
		} else if (!strcmp(k, "cpus")) {
			if (get_num(pe, it, "cpus", PTSIM_MAX_CPUS, &v))
				return PTSIM_EBADTRACE;
			if (!v)
				return ptsim__trace_fail(pe, "field 'cpus': must be at least 1");
			t->cpus = (unsigned int)v;
		} else if (!strcmp(k, "paging_levels")) {
			if (get_num(pe, it, "paging_levels", 5, &v))
				return PTSIM_EBADTRACE;
			t->paging_levels = (unsigned int)v;
		} else if (!strcmp(k, "granule")) {
			if (get_num(pe, it, "granule", 65536, &v))
				return PTSIM_EBADTRACE;
			t->granule = (unsigned int)v;
		} else if (!strcmp(k, "va_bits")) {
			if (get_num(pe, it, "va_bits", 64, &v))
				return PTSIM_EBADTRACE;
			t->va_bits = (unsigned int)v;
		} else if (!strcmp(k, "seed")) {
			if (get_num(pe, it, "seed", UINT64_MAX, &v))
				return PTSIM_EBADTRACE;
			t->seed = v;
		} else if (!strcmp(k, "preset")) {
			if (!cJSON_IsString(it))
				return ptsim__trace_fail(pe, "field 'preset': expected a string");
			free(t->preset);
			if (!(t->preset = strdup(it->valuestring)))
				return ptsim__trace_oom(pe);
		} else if (!strcmp(k, "set")) {
			const cJSON *kv;
			if (!cJSON_IsObject(it))
				return ptsim__trace_fail(pe, "field 'set': expected an object of KEY: VALUE");
			if (dup_key(it))
				return ptsim__trace_fail(pe, "set.%s is given twice", dup_key(it));
			cJSON_ArrayForEach(kv, it) {
				char buf[300];
				if (cJSON_IsString(kv))
					snprintf(buf, sizeof(buf), "%s=%s", kv->string, kv->valuestring);
				else if (cJSON_IsNumber(kv) && kv->valuedouble >= -2147483648.0 &&
					 kv->valuedouble <= 2147483647.0 && kv->valuedouble == (double)(long)kv->valuedouble)
					snprintf(buf, sizeof(buf), "%s=%ld", kv->string, (long)kv->valuedouble);
				else if (cJSON_IsNumber(kv))
					return ptsim__trace_fail(pe, "set.%s: %g is not an integer", kv->string, kv->valuedouble);
				else if (cJSON_IsBool(kv))
					snprintf(buf, sizeof(buf), "%s=%s", kv->string, cJSON_IsTrue(kv) ? "on" : "off");
				else
					return ptsim__trace_fail(pe, "set.%s: expected a string, number or boolean", kv->string);
				if (ptsim__trace_add_set(t, buf))
					return ptsim__trace_oom(pe);
			}
		} else {
			return ptsim__trace_fail(pe, "unknown field '%s' (arch, cpus, paging_levels, granule, va_bits, preset, set, seed)",
				    k);
		}
	}
	pe->path[0] = 0;
	return 0;
}

/*
 * ptsim: the library's one piece of process-wide mutable state.  cJSON 1.7.15
 * writes its global error position (global_error) in every parse: it resets
 * it at the start of cJSON_ParseWithLengthOpts(), which every parse entry
 * point goes through, and sets it on failure, whether or not the caller asked
 * for the position through return_parse_end.  Two threads loading traces
 * would race on it (ptsim never reads it: positions come back through
 * return_parse_end).  No cJSON entry point avoids the global, so every parse
 * in the library takes this lock; .ci/run's "no mutable static data" check
 * allows this one symbol by name.
 */
pthread_mutex_t ptsim__cjson_parse_lock = PTHREAD_MUTEX_INITIALIZER;

/* cJSON_ParseWithLengthOpts() under ptsim__cjson_parse_lock: the only way the library parses JSON. */
cJSON *ptsim__json_parse(const char *json, size_t len, const char **end)
{
	cJSON *root;

	pthread_mutex_lock(&ptsim__cjson_parse_lock);
	root = cJSON_ParseWithLengthOpts(json, len, end, false);
	pthread_mutex_unlock(&ptsim__cjson_parse_lock);
	return root;
}

/*
 * JSON text to a cJSON tree (the caller deletes it).  @in_line: the text is
 * one line of a v2 trace (positions are columns, not lines).  Malformed JSON,
 * trailing text and \u0000 escapes are errors naming the position.
 */
int ptsim__trace_parse_json(struct perr *pe, const char *json, size_t len, bool in_line, cJSON **out)
{
	cJSON *root;

	*out = NULL;
	/* The parse end (or error position) comes back through @end: cJSON_GetErrorPtr() is a global. */
	const char *end = NULL;
	root = ptsim__json_parse(json, len, &end);
	if (root && end) {
		/* Anything but white space after the top-level value is malformed too. */
		while (end < json + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
			end++;
		if (end < json + len) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	/* Well-formed text that cJSON could not parse: one of its allocations failed. */
	if (!root && ptsim__json_well_formed(json, len, CJSON_NESTING_LIMIT))
		return ptsim__trace_oom(pe);
	if (!root) {
		size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
		size_t line = 1, depth = 0, max_depth = 0;
		bool in_str = false;
		char where[64];
		for (size_t i = 0; i < off; i++) {
			line += json[i] == '\n';
			if (in_str) {
				if (json[i] == '\\')
					i++;
				else if (json[i] == '"')
					in_str = false;
			} else if (json[i] == '"') {
				in_str = true;
			} else if (json[i] == '[' || json[i] == '{') {
				if (++depth > max_depth)
					max_depth = depth;
			} else if ((json[i] == ']' || json[i] == '}') && depth) {
				depth--;
			}
		}
		if (in_line)
			snprintf(where, sizeof(where), "column %zu", off + 1);
		else
			snprintf(where, sizeof(where), "byte %zu (line %zu)", off, line);
		if (max_depth >= CJSON_NESTING_LIMIT)
			return ptsim__trace_fail(pe, "JSON nested deeper than %d levels near %s", CJSON_NESTING_LIMIT, where);
		return ptsim__trace_fail(pe, "malformed JSON near %s", where);
	}
	/* cJSON keeps strings NUL-terminated: a \u0000 escape would silently cut one short. */
	for (size_t i = 0; i + 5 < len; i++) {
		if (json[i] != '\\')
			continue;
		if (json[i + 1] == 'u' && !memcmp(json + i + 2, "0000", 4)) {
			cJSON_Delete(root);
			return ptsim__trace_fail(pe, "a string holds \\u0000 near %s %zu: NUL characters are not allowed",
						 in_line ? "column" : "byte", in_line ? i + 1 : i);
		}
		i++;   /* skip the escaped character (an escaped backslash too) */
	}
	*out = root;
	return 0;
}

/* "recorded": the recorder's real-kernel counts, kept as raw JSON text. */
static int parse_recorded(struct perr *pe, struct ptsim_trace *t, const cJSON *rj)
{
	if (!cJSON_IsObject(rj))
		return ptsim__trace_fail(pe, "field 'recorded': expected an object");
	if (t->recorded)
		return ptsim__trace_fail(pe, "field 'recorded': given twice (in the header and in the trailer)");
	if (!(t->recorded = cJSON_PrintUnformatted(rj)))
		return PTSIM_ENOMEM_HOST;
	return 0;
}

/*
 * The top level of a v1 document (@version 1: events included) or the header
 * line of a v2 trace (@version 2: no events).
 */
int ptsim__trace_parse_top(struct perr *pe, struct ptsim_trace *t, const cJSON *root, int version)
{
	const char *shape = version == 1 ? "a trace is a JSON object {\"ptsim_trace\": 1, \"machine\": {...}, "
					   "\"events\": [...]}"
					 : "the first line of a v2 trace is the header object {\"ptsim_trace\": 2, "
					   "\"machine\": {...}}";
	const char *keys = version == 1 ? "ptsim_trace, machine, events, comment, recorded"
					: "ptsim_trace, machine, comment, recorded";
	const cJSON *it;
	int rc;

	pe->names = &t->names;
	if (!cJSON_IsObject(root))
		return ptsim__trace_fail(pe, "%s", shape);
	if (dup_key(root))
		return ptsim__trace_fail(pe, "top-level field '%s' is given twice", dup_key(root));
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "ptsim_trace");
	if (!ver || !cJSON_IsNumber(ver) || ver->valuedouble != version)
		return ptsim__trace_fail(pe, "field 'ptsim_trace': must be 1 (the trace format version)");
	cJSON_ArrayForEach(it, root) {
		if (version == 2 && !strcmp(it->string, "events"))
			return ptsim__trace_fail(pe, "field 'ptsim_trace': must be 1 for a trace with an 'events' array "
						 "(version 2 is JSON Lines: the events follow the header line, one per line)");
		if (strcmp(it->string, "ptsim_trace") && strcmp(it->string, "machine") &&
		    (version != 1 || strcmp(it->string, "events")) && strcmp(it->string, "comment") &&
		    strcmp(it->string, "recorded"))
			return ptsim__trace_fail(pe, "unknown top-level field '%s' (%s)", it->string, keys);
		if (!strcmp(it->string, "comment") && !cJSON_IsString(it))
			return ptsim__trace_fail(pe, "field 'comment': expected a string");
		if (!strcmp(it->string, "recorded") && (rc = parse_recorded(pe, t, it)))
			return rc;
	}
	const cJSON *mj = cJSON_GetObjectItemCaseSensitive(root, "machine");
	if (mj && (rc = parse_machine(pe, t, mj)))
		return rc;
	if (version == 2)
		return 0;
	const cJSON *ej = cJSON_GetObjectItemCaseSensitive(root, "events");
	if (!ej)
		return ptsim__trace_fail(pe, "missing field 'events'");
	return parse_events(pe, ej, &t->events, &t->nr_events, 0);
}

/* A whole v1 document into @t (whose defaults the caller set); on failure @t holds what was parsed. */
int ptsim__trace_parse_document(struct perr *pe, struct ptsim_trace *t, const char *json, size_t len)
{
	cJSON *root;
	int rc = ptsim__trace_parse_json(pe, json, len, false, &root);

	if (rc)
		return rc;
	rc = ptsim__trace_parse_top(pe, t, root, 1);
	cJSON_Delete(root);
	return rc;
}

/*
 * One line of a v2 trace after the header: an event into @ev (the caller
 * frees it with ptsim__trace_clear_event(@ev) after running it), or the
 * trailer {"recorded": {...}} (*@trailer set, @ev untouched).  pe->path names
 * the line and the event ("line 7 (event 5"), parse_event() adds the op.
 */
int ptsim__trace_parse_line(struct perr *pe, struct ptsim_trace *t, const char *text, size_t len, struct tevent *ev,
			    bool *trailer, cJSON **keep)
{
	cJSON *obj;
	int rc;

	*trailer = false;
	memset(ev, 0, sizeof(*ev));
	pe->names = &t->names;
	if ((rc = ptsim__trace_parse_json(pe, text, len, true, &obj)))
		return rc;
	if (cJSON_IsObject(obj) && !cJSON_GetObjectItemCaseSensitive(obj, "op") &&
	    cJSON_GetObjectItemCaseSensitive(obj, "recorded")) {
		/* The trailer: {"recorded": {...}} and nothing else. */
		const cJSON *it;
		*trailer = true;
		cJSON_ArrayForEach(it, obj)
			if (strcmp(it->string, "recorded")) {
				rc = ptsim__trace_fail(pe, "the trailer line holds only 'recorded', not '%s'", it->string);
				goto out;
			}
		if (dup_key(obj))
			rc = ptsim__trace_fail(pe, "field 'recorded' is given twice");
		else
			rc = parse_recorded(pe, t, cJSON_GetObjectItemCaseSensitive(obj, "recorded"));
		t->trailer_line = t->line;
		goto out;
	}
	rc = parse_event(pe, obj, ev, 0);
out:
	if (keep && !rc)
		*keep = obj;
	else
		cJSON_Delete(obj);
	return rc;
}
