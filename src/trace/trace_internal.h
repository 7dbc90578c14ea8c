/*
 * Traces, inside the library: what the parser (parse.c), the input sources
 * (reader.c), the replay (replay.c) and the public entry points (trace.c)
 * share.  Nothing here is public; include/ptsim/trace.h is the API.
 *
 * The pipeline: an input source yields JSON text (a v1 document); parse.c
 * turns each event object into a struct tevent (validated, typed, a repeat's
 * body compiled once); replay.c runs tevents as calls of the public API.
 *
 * How to add an op (all in this header, parse.c and replay.c):
 *  1. enum top below: OP_NEW before NR_OPS;
 *  2. parse.c, op_descs[]: the row { "name", required fields, optional fields,
 *     OPF_* flags } (SYSCALL among the optional fields allows "expect");
 *  3. replay.c, run_one(): a case that reads the fields with VAL() (numeric:
 *     repeat steps applied, range-checked) or from the tevent (strings,
 *     enums, booleans) and calls the ptsim_*() function.
 * How to add a field:
 *  - numeric (steppable): enum tfield before NR_NUM_FIELDS, its name in
 *    parse.c field_names[] and its largest value in field_max[];
 *  - string, enum or boolean: enum tfield after NR_NUM_FIELDS, its name in
 *    field_names[], a member of struct tevent, and a case in parse.c
 *    parse_field() (enums: a struct enum_name table and PARSE_ENUM()).
 * At most 64 fields (present/required/optional are uint64_t bit sets).
 */
#ifndef PTSIM_TRACE_INTERNAL_H
#define PTSIM_TRACE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ptsim/ptsim.h"

/* Numeric fields (steppable), then string/bool fields. */
enum tfield {
	F_TASK, F_CHILD, F_THREAD, F_CPU, F_ADDR, F_LEN, F_OFFSET, F_PAGE_SIZE, F_STRIDE, F_COUNT,
	F_NS, F_US, F_MS, F_S, F_NEW_ADDR, F_BRK, F_NEW_LEN,
	NR_NUM_FIELDS,
	F_PROT = NR_NUM_FIELDS, F_KIND, F_SHARED, F_FILE, F_ADVICE, F_WRITE, F_NAME, F_POPULATE, F_STEP, F_EVENTS,
	F_EXPECT, F_COMMENT, F_FIXED, F_OTHER, F_SEGMENTS, F_STACK, F_FLAGS, F_VAR, F_AS, F_ITERATION, F_PROCESS,
	NR_FIELDS
};

enum top {
	OP_SPAWN, OP_FORK, OP_THREAD, OP_EXIT, OP_RUN, OP_SLEEP, OP_ADVANCE, OP_MMAP, OP_MUNMAP, OP_MPROTECT,
	OP_MADVISE, OP_MLOCK, OP_MUNLOCK, OP_TOUCH, OP_MARK, OP_REPEAT, OP_GUP_FAST_BEGIN, OP_GUP_FAST_END,
	OP_RCU_READ_BEGIN, OP_RCU_READ_END, OP_PMD_LOCK, OP_PMD_UNLOCK, OP_SWAPOUT,
	OP_MREMAP, OP_MOVE_PAGES, OP_TOUCH_RANDOM, OP_EXEC, OP_BRK, OP_CACHE,
	OP_MSHARE_CREATE, OP_MSHARE_MAP, OP_MSHARE_MUNMAP, OP_MSHARE_MADVISE, OP_MSHARE_MPROTECT, OP_MSHARE_UNLINK,
	OP_SCHEDULE_BEGIN, OP_SCHEDULE_END, OP_LRU_ADD_DRAIN_CPU,
	NR_OPS
};

#define B(f) (1ull << (f))
struct op_desc {
	const char *name;
	uint64_t required;
	uint64_t optional;
	unsigned int flags;   /* OPF_*: how the kernel's answers map onto ptsim's */
};

/* -ENOMEM is the kernel's answer to a hole in the range, not the simulator running out of memory. */
#define OPF_ENOMEM_IS_HOLE 1u
/* PTSIM_EOVERLAP is what the kernel answers EEXIST (MAP_FIXED_NOREPLACE). */
#define OPF_OVERLAP_IS_EEXIST 2u

/*
 * mmap's "fixed": absent (v1: the original fixed address, an overlap being
 * PTSIM_EOVERLAP; v2: a hint), "noreplace" (MAP_FIXED_NOREPLACE: EEXIST),
 * "replace" (MAP_FIXED).
 */
enum { FIXED_NONE, FIXED_NOREPLACE, FIXED_REPLACE };

/* "expect" is for system calls the kernel may fail (mmap, munmap, mprotect, madvise, mlock, ...). */
#define SYSCALL B(F_EXPECT)

/* parse.c: the one op table and the field tables. */
extern const struct op_desc ptsim__trace_ops[NR_OPS];
extern const char *const ptsim__trace_field_names[NR_FIELDS];
/* Largest value each numeric field may take (before the API's own checks). */
extern const uint64_t ptsim__trace_field_max[NR_NUM_FIELDS];

/* expr.c: a numeric field written as an expression, compiled to a postfix program. */
enum xop { X_NUM, X_VAR, X_NCPUS, X_NAME, X_NEG, X_ADD, X_SUB, X_MUL, X_DIV, X_MOD };
struct xcode {
	enum xop op;
	uint64_t val;      /* X_NUM: the number; X_VAR: the nesting level of its repeat */
	char *name;        /* X_NAME */
};
struct texpr {
	enum tfield field;
	char *src;         /* as written, for messages */
	struct xcode *code;
	size_t nr_code;
};
/* The names an "as" bound so far in the trace (in trace order): a use of another is an error at load. */
struct tnames {
	char **name;
	size_t n;
};
int ptsim__trace_note_name(struct tnames *names, const char *name);
bool ptsim__trace_known_name(const struct tnames *names, const char *name, size_t len);

/* The repeat variables in scope while a body is parsed (innermost last). */
struct tscope {
	const char *var[18];
	int level[18];     /* the replay's depth of the body (r->stack[level].iteration is the variable) */
	int n;
};

/* One event, validated and typed; a repeat holds its body. */
struct tevent {
	enum top op;
	uint64_t present;                 /* B(field) for every field given */
	uint64_t num[NR_NUM_FIELDS];
	int64_t step[NR_NUM_FIELDS];      /* repeat only */
	uint64_t stepped;                 /* repeat only: B(field) of the step keys */
	unsigned int prot;
	enum ptsim_map_kind kind;
	enum ptsim_advice advice;
	bool shared, write, populate, other, process;
	struct ptsim_exec_segment *segments;   /* exec; each segment's file is its own allocation */
	size_t nr_segments;
	uint64_t stack_addr, stack_len;   /* exec */
	uint64_t arg_pages;               /* exec: stack.arg_pages (0: not given) */
	bool brk_relative;                /* brk: addr was "+N" or "-N" */
	unsigned int mremap_flags;        /* mremap: PTSIM_MREMAP_* */
	int64_t brk_delta;
	char *file, *name;
	uint64_t *iteration;              /* mark: iterations given explicitly (ptsim convert --expand-repeats) */
	unsigned int nr_iteration;
	int expect;                       /* 0, or the negated errno the call must return */
	int fixed;                        /* mmap: FIXED_* */
	struct tevent *body;              /* repeat */
	size_t nr_body;
	char *var;                        /* repeat: the name of its iteration variable, or NULL */
	char *as;                         /* mmap, mremap: the name bound to the address, or NULL */
	uint64_t dynamic;                 /* B(field) of the numeric fields given as expressions */
	struct texpr *exprs;              /* ... one each, in field order */
	size_t nr_exprs;
};

struct trace_reader;

/* struct ptsim_trace's magic while it is live (ptsim_trace_free() clears it): API misuse checks. */
#define PTSIM_TRACE_MAGIC 0x707473696d545243ull   /* "ptsimTRC" */

struct ptsim_trace {
	uint64_t magic;
	int format;                       /* 1: one JSON document; 2: JSON Lines */
	struct ptsim_trace_options opts;
	struct tevent *events;            /* v1: every event, parsed at load */
	size_t nr_events;
	struct trace_reader *rd;          /* v2: the input, positioned after the header */
	uint64_t line;                    /* v2: lines read so far (blank ones too) */
	bool consumed;                    /* v2: ptsim_trace_run() has read the events */
	char *recorded;                   /* "recorded" as raw JSON text (cJSON's allocator), or NULL */
	uint64_t trailer_line;            /* v2: the line of the trailer {"recorded": ...}, 0 before it */
	bool keep_json;                   /* ptsim convert: keep ... */
	cJSON *json;                      /* ... the v1 document, or the v2 header, as parsed */
	struct tnames names;              /* the names bound by "as" in the events parsed so far */
	/* machine section */
	enum ptsim_arch arch;
	unsigned int cpus, paging_levels, granule, va_bits;
	unsigned long long seed;
	char *preset;
	char **set;                       /* NULL-terminated "KEY=VALUE" */
	size_t nr_set;
};

/* A parse error goes to the caller's buffer, prefixed with where it is. */
struct perr {
	char *buf;
	size_t len;
	char path[640];   /* room for 16 nested repeats */
	bool in_line;     /* a v2 line: path is "line N (event E)" */
	struct tscope scope;
	struct tnames *names;   /* the trace's names so far (t->names) */
};

int ptsim__trace_fail(struct perr *pe, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A host allocation failed: PTSIM_ENOMEM_HOST with "out of memory" after the event's path. */
int ptsim__trace_oom(struct perr *pe);
/* json_check.c: @text is one well-formed JSON value (no allocation; cJSON's rules, at most @max_depth levels). */
bool ptsim__json_well_formed(const char *text, size_t len, unsigned int max_depth);

/* parse.c: every JSON parse of the library (cJSON's global error position is written under a lock). */
cJSON *ptsim__json_parse(const char *json, size_t len, const char **end);

/* parse.c */
int ptsim__trace_parse_json(struct perr *pe, const char *json, size_t len, bool in_line, cJSON **out);
int ptsim__trace_parse_top(struct perr *pe, struct ptsim_trace *t, const cJSON *root, int version);
int ptsim__trace_parse_document(struct perr *pe, struct ptsim_trace *t, const char *json, size_t len);
int ptsim__trace_parse_line(struct perr *pe, struct ptsim_trace *t, const char *text, size_t len, struct tevent *ev,
			    bool *trailer, cJSON **keep);
void ptsim__trace_free_events(struct tevent *ev, size_t n);
void ptsim__trace_clear_event(struct tevent *ev);
int ptsim__trace_add_set(struct ptsim_trace *t, const char *kv);

/* reader.c: plain, gzip or zstd input from a file, standard input ("-") or a copy of a buffer. */
int ptsim__trace_reader_open_file(struct trace_reader **out, const char *path, char *err, size_t errlen);
int ptsim__trace_reader_open_mem(struct trace_reader **out, const char *data, size_t len);
void ptsim__trace_reader_close(struct trace_reader *rd);
bool ptsim__trace_is_compressed(const char *data, size_t len);
int ptsim__trace_reader_peek_line(struct trace_reader *rd, uint64_t max, size_t *start, size_t *end, char *err,
				  size_t errlen);
const char *ptsim__trace_reader_data(const struct trace_reader *rd);
void ptsim__trace_reader_skip(struct trace_reader *rd, size_t off);
int ptsim__trace_reader_rest(struct trace_reader *rd, uint64_t max, const char **data, size_t *len, char *err,
			     size_t errlen);
int ptsim__trace_reader_line(struct trace_reader *rd, uint64_t max, char **line, size_t *len, char *err,
			     size_t errlen);

/* trace.c */
int ptsim__trace_open(struct ptsim_trace **out, const char *path, const struct ptsim_trace_options *opts,
		      bool keep_json, char *err, size_t errlen);
int ptsim__trace_next_line(struct ptsim_trace *t, char **line, size_t *len, char *msg, size_t msglen);

/* parse.c: "123", "0x1f", "2M", "-4K" (with @allow_neg): 0, -1 not a number, -2 overflow. */
int ptsim__trace_parse_num(const char *s, uint64_t *out, bool allow_neg, bool *neg);

/* expr.c */
bool ptsim__trace_is_name(const char *s);
int ptsim__trace_expr_compile(struct perr *pe, const char *field, const char *src, const struct tscope *scope,
			      const struct tnames *names, struct texpr *x);
void ptsim__trace_expr_free(struct texpr *x);
int ptsim__trace_expr_eval(const struct texpr *x, const uint64_t *iter, uint64_t ncpus,
			   bool (*lookup)(void *ctx, const char *name, uint64_t *addr), void *ctx, uint64_t *out,
			   char *why, size_t whylen);

/* replay.c (@h may be NULL) */
int ptsim__trace_replay(struct ptsim_machine *m, const struct ptsim_trace *t, const struct ptsim_trace_hooks *h);
int ptsim__trace_replay_stream(struct ptsim_machine *m, struct ptsim_trace *t, const struct ptsim_trace_hooks *h);

#endif
