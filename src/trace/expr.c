/*
 * Expressions in numeric trace fields (docs/trace-format.md "Expressions"):
 * "{i} % 4", "0x100000000000 + {i} * 2M", "{ncpus} - 1", "heap1+0x2000".
 *
 * Grammar (the usual precedence, left to right):
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '%') unary)*
 *   unary   := '-' unary | primary
 *   primary := NUMBER | '{' VAR '}' | NAME | '(' expr ')'
 * NUMBER is the trace number syntax (123, 0x1f, 2M); VAR a repeat's "var"
 * or ncpus (the machine's CPU count); NAME an address bound by "as", allowed
 * in address fields only.  An expression is compiled once, at load, into a
 * postfix program; it is evaluated each time its event runs, in 128-bit
 * integers, and its value must lie in 0 .. 2^64 - 1.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "trace/trace_internal.h"

struct xparse {
	struct perr *pe;
	const char *field;
	const char *src;
	const char *p;
	struct texpr *x;
	const struct tscope *scope;
	const struct tnames *names;   /* NULL: not an address field */
	int depth;
};

static int xfail(struct xparse *xp, const char *why)
{
	return ptsim__trace_fail(xp->pe, "field '%s': \"%s\": %s (at column %d)", xp->field, xp->src, why,
				 (int)(xp->p - xp->src) + 1);
}

static int emit(struct xparse *xp, enum xop op, uint64_t v, char *name)
{
	struct xcode *n = realloc(xp->x->code, (xp->x->nr_code + 1) * sizeof(*n));
	if (!n) {
		free(name);
		return PTSIM_ENOMEM_HOST;
	}
	xp->x->code = n;
	n[xp->x->nr_code++] = (struct xcode){ op, v, name };
	return 0;
}

static void skip_ws(struct xparse *xp)
{
	while (*xp->p == ' ' || *xp->p == '\t')
		xp->p++;
}

static bool ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

bool ptsim__trace_is_name(const char *s)
{
	if (!ident_start(*s))
		return false;
	while (*++s)
		if (!ident_char(*s))
			return false;
	return true;
}

static int parse_expr(struct xparse *xp);

static int parse_primary(struct xparse *xp)
{
	char tok[64];
	size_t n = 0;
	int rc;

	skip_ws(xp);
	if (++xp->depth > 32)
		return xfail(xp, "nested too deep");
	if (*xp->p == '(') {
		xp->p++;
		if ((rc = parse_expr(xp)))
			return rc;
		skip_ws(xp);
		if (*xp->p != ')')
			return xfail(xp, "')' expected");
		xp->p++;
		xp->depth--;
		return 0;
	}
	if (*xp->p == '{') {
		const char *start = ++xp->p;
		while (ident_char(*xp->p))
			xp->p++;
		n = (size_t)(xp->p - start);
		if (*xp->p != '}' || !n || n >= sizeof(tok))
			return xfail(xp, "a variable is {NAME}");
		memcpy(tok, start, n);
		tok[n] = 0;
		xp->p++;
		xp->depth--;
		if (!strcmp(tok, "ncpus"))
			return emit(xp, X_NCPUS, 0, NULL);
		for (int d = xp->scope ? xp->scope->n - 1 : -1; d >= 0; d--)
			if (xp->scope->var[d] && !strcmp(xp->scope->var[d], tok))
				return emit(xp, X_VAR, (uint64_t)xp->scope->level[d], NULL);
		char why[128];
		snprintf(why, sizeof(why), "no enclosing repeat has \"var\": \"%s\" (and it is not ncpus)", tok);
		return xfail(xp, why);
	}
	if (isdigit((unsigned char)*xp->p)) {
		while (isalnum((unsigned char)*xp->p) && n + 1 < sizeof(tok))
			tok[n++] = *xp->p++;
		tok[n] = 0;
		uint64_t v;
		bool neg;
		if (ptsim__trace_parse_num(tok, &v, false, &neg))
			return xfail(xp, "not a number (decimal, 0x hex, optional K/M/G/T suffix)");
		xp->depth--;
		return emit(xp, X_NUM, v, NULL);
	}
	if (ident_start(*xp->p)) {
		const char *start = xp->p;
		while (ident_char(*xp->p))
			xp->p++;
		if (!xp->names)
			return xfail(xp, "names (bound by \"as\") are allowed in address fields only");
		if (!ptsim__trace_known_name(xp->names, start, (size_t)(xp->p - start)))
			return ptsim__trace_fail(xp->pe, "field '%s': \"%s\" is not a number, nor a name bound by an "
						 "earlier \"as\" (at column %d)", xp->field, xp->src,
						 (int)(start - xp->src) + 1);
		char *name = strndup(start, (size_t)(xp->p - start));
		if (!name)
			return PTSIM_ENOMEM_HOST;
		xp->depth--;
		return emit(xp, X_NAME, 0, name);
	}
	if (*xp->p == '-') {
		xp->p++;
		if ((rc = parse_primary(xp)))
			return rc;
		xp->depth--;
		return emit(xp, X_NEG, 0, NULL);
	}
	return xfail(xp, *xp->p ? "a number, {variable}, name or '(' expected" : "the expression ends early");
}

static int parse_term(struct xparse *xp)
{
	int rc = parse_primary(xp);

	while (!rc) {
		skip_ws(xp);
		char c = *xp->p;
		if (c != '*' && c != '/' && c != '%')
			break;
		xp->p++;
		if (!(rc = parse_primary(xp)))
			rc = emit(xp, c == '*' ? X_MUL : c == '/' ? X_DIV : X_MOD, 0, NULL);
	}
	return rc;
}

static int parse_expr(struct xparse *xp)
{
	int rc = parse_term(xp);

	while (!rc) {
		skip_ws(xp);
		char c = *xp->p;
		if (c != '+' && c != '-')
			break;
		xp->p++;
		if (!(rc = parse_term(xp)))
			rc = emit(xp, c == '+' ? X_ADD : X_SUB, 0, NULL);
	}
	return rc;
}

void ptsim__trace_expr_free(struct texpr *x)
{
	for (size_t i = 0; i < x->nr_code; i++)
		free(x->code[i].name);
	free(x->code);
	free(x->src);
	memset(x, 0, sizeof(*x));
}

int ptsim__trace_note_name(struct tnames *names, const char *name)
{
	if (ptsim__trace_known_name(names, name, strlen(name)))
		return 0;
	char **n = realloc(names->name, (names->n + 1) * sizeof(*n));
	if (!n)
		return PTSIM_ENOMEM_HOST;
	names->name = n;
	if (!(n[names->n] = strdup(name)))
		return PTSIM_ENOMEM_HOST;
	names->n++;
	return 0;
}

bool ptsim__trace_known_name(const struct tnames *names, const char *name, size_t len)
{
	for (size_t i = 0; i < names->n; i++)
		if (strlen(names->name[i]) == len && !memcmp(names->name[i], name, len))
			return true;
	return false;
}

int ptsim__trace_expr_compile(struct perr *pe, const char *field, const char *src, const struct tscope *scope,
			      const struct tnames *names, struct texpr *x)
{
	struct xparse xp = { pe, field, src, src, x, scope, names, 0 };
	int rc;

	memset(x, 0, sizeof(*x));
	if (strlen(src) > 1024)
		return ptsim__trace_fail(pe, "field '%s': an expression longer than 1024 bytes", field);
	rc = parse_expr(&xp);
	if (!rc) {
		skip_ws(&xp);
		if (*xp.p)
			rc = xfail(&xp, "unexpected text");
	}
	if (!rc && !(x->src = strdup(src)))
		rc = PTSIM_ENOMEM_HOST;
	if (rc)
		ptsim__trace_expr_free(x);
	return rc;
}

/*
 * Evaluate @x: @iter[level] is the current iteration of the repeat at that
 * nesting level, @lookup finds a name.  0 and *@out, or an error with @why.
 */
int ptsim__trace_expr_eval(const struct texpr *x, const uint64_t *iter, uint64_t ncpus,
			   bool (*lookup)(void *ctx, const char *name, uint64_t *addr), void *ctx, uint64_t *out,
			   char *why, size_t whylen)
{
	__int128 st[64];
	size_t sp = 0;

	for (size_t i = 0; i < x->nr_code; i++) {
		const struct xcode *c = &x->code[i];
		uint64_t a;
		switch (c->op) {
		case X_NUM:
		case X_VAR:
		case X_NCPUS:
		case X_NAME:
			if (sp == sizeof(st) / sizeof(st[0])) {
				snprintf(why, whylen, "too complex");
				return PTSIM_EBADEVENT;
			}
			if (c->op == X_NUM) {
				a = c->val;
			} else if (c->op == X_VAR) {
				a = iter[c->val];
			} else if (c->op == X_NCPUS) {
				a = ncpus;
			} else if (!lookup(ctx, c->name, &a)) {
				snprintf(why, whylen, "no address is bound to the name '%s' (\"as\" binds one)", c->name);
				return PTSIM_EBADEVENT;
			}
			st[sp++] = a;
			continue;
		case X_NEG:
			st[sp - 1] = -st[sp - 1];
			continue;
		default:
			break;
		}
		__int128 r = st[--sp], l = st[sp - 1], v = 0;
		bool bad = false;
		switch (c->op) {
		case X_ADD:
			bad = __builtin_add_overflow(l, r, &v);
			break;
		case X_SUB:
			bad = __builtin_sub_overflow(l, r, &v);
			break;
		case X_MUL:
			bad = __builtin_mul_overflow(l, r, &v);
			break;
		case X_DIV:
		case X_MOD:
			if (!r) {
				snprintf(why, whylen, "division by zero");
				return PTSIM_EBADEVENT;
			}
			v = c->op == X_DIV ? l / r : l % r;
			break;
		default:
			break;
		}
		/* 2^100 bounds every intermediate: far beyond any field, far within 128 bits. */
		if (bad || v > ((__int128)1 << 100) || v < -((__int128)1 << 100)) {
			snprintf(why, whylen, "an intermediate value overflows");
			return PTSIM_EBADEVENT;
		}
		st[sp - 1] = v;
	}
	if (st[0] < 0 || st[0] > (__int128)UINT64_MAX) {
		snprintf(why, whylen, "the value is %s", st[0] < 0 ? "negative" : "beyond 2^64 - 1");
		return PTSIM_EBADEVENT;
	}
	*out = (uint64_t)st[0];
	return 0;
}
