/*
 * Was it the JSON or the memory?  cJSON returns NULL both for malformed text
 * and when one of its allocations fails, so a valid trace loaded with the
 * host short of memory used to be reported as "malformed JSON near byte N"
 * (docs/reliability.md).  After a failed parse the loader checks the text
 * with this validator, which allocates nothing: text that is well-formed
 * JSON (RFC 8259, at most @max_depth levels, no lone UTF-16 surrogate in a
 * \u escape, as cJSON requires) failed for want of memory.  The validator
 * is at least as strict as cJSON, so malformed text is never taken for an
 * allocation failure.
 */
#include <stdbool.h>
#include <stddef.h>

#include "trace/trace_internal.h"

struct jscan {
	const char *p, *end;
};

static void skip_ws(struct jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool lit(struct jscan *s, const char *word)
{
	for (; *word; word++, s->p++)
		if (s->p >= s->end || *s->p != *word)
			return false;
	return true;
}

static int hex4(struct jscan *s)
{
	int v = 0;
	for (int i = 0; i < 4; i++, s->p++) {
		if (s->p >= s->end)
			return -1;
		char c = *s->p;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static bool string(struct jscan *s)
{
	s->p++;   /* the opening quote */
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return false;
		c = (unsigned char)*s->p++;
		if (c == 'u') {
			int u = hex4(s);
			if (u < 0 || (u >= 0xdc00 && u <= 0xdfff))
				return false;
			if (u >= 0xd800 && u <= 0xdbff) {   /* a high surrogate needs its low half */
				if (!lit(s, "\\u"))
					return false;
				u = hex4(s);
				if (u < 0xdc00 || u > 0xdfff)
					return false;
			}
		} else if (!(c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't')) {
			return false;
		}
	}
	return false;
}

static bool digits(struct jscan *s)
{
	const char *start = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static bool number(struct jscan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

/* One value; containers iteratively, their kinds in @stack (no allocation). */
bool ptsim__json_well_formed(const char *text, size_t len, unsigned int max_depth)
{
	char stack[1024];
	unsigned int depth = 0;
	struct jscan s = { text, text + len };

	if (max_depth > sizeof(stack))
		max_depth = sizeof(stack);
	for (;;) {
		/* A value. */
		skip_ws(&s);
		if (s.p >= s.end)
			return false;
		switch (*s.p) {
		case '{':
		case '[':
			if (depth >= max_depth)
				return false;
			stack[depth++] = *s.p++;
			skip_ws(&s);
			if (s.p < s.end && *s.p == (stack[depth - 1] == '{' ? '}' : ']')) {
				s.p++;
				depth--;
				break;
			}
			if (stack[depth - 1] == '{') {
				if (s.p >= s.end || *s.p != '"' || !string(&s))
					return false;
				skip_ws(&s);
				if (s.p >= s.end || *s.p++ != ':')
					return false;
			}
			continue;   /* the first member's value */
		case '"':
			if (!string(&s))
				return false;
			break;
		case 't':
			if (!lit(&s, "true"))
				return false;
			break;
		case 'f':
			if (!lit(&s, "false"))
				return false;
			break;
		case 'n':
			if (!lit(&s, "null"))
				return false;
			break;
		default:
			if (!number(&s))
				return false;
			break;
		}
		/* After a value: the next member, or the ends of containers. */
		for (;;) {
			skip_ws(&s);
			if (!depth)
				return s.p == s.end;
			if (s.p >= s.end)
				return false;
			char close = stack[depth - 1] == '{' ? '}' : ']';
			if (*s.p == close) {
				s.p++;
				depth--;
				continue;
			}
			if (*s.p++ != ',')
				return false;
			if (stack[depth - 1] == '{') {
				skip_ws(&s);
				if (s.p >= s.end || *s.p != '"' || !string(&s))
					return false;
				skip_ws(&s);
				if (s.p >= s.end || *s.p++ != ':')
					return false;
			}
			break;   /* the next value */
		}
	}
}
