/* A small JSON reader that keeps numbers as text (json.h). */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jp {
	const char *s, *p;
	char *err;
	size_t errlen;
	int depth;
};

static int fail(struct jp *j, const char *what)
{
	if (j->err && j->errlen)
		snprintf(j->err, j->errlen, "malformed JSON at byte %zu: %s", (size_t)(j->p - j->s), what);
	return -1;
}

static void skip_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static int hex4(const char *p, unsigned int *out)
{
	unsigned int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned int)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned int)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned int)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t utf8(unsigned int cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A string at j->p (the opening quote); the unescaped text in *out. */
static int parse_string(struct jp *j, char **out)
{
	const char *p = ++j->p;
	size_t cap = 0;

	while (p[cap] && p[cap] != '"')
		cap += p[cap] == '\\' && p[cap + 1] ? 2 : 1;
	char *o = malloc(cap + 1), *w = o;
	if (!o)
		return fail(j, "out of memory");
	while (*j->p != '"') {
		unsigned char c = (unsigned char)*j->p;
		if (!c || c < 0x20) {
			free(o);
			return fail(j, "unterminated string");
		}
		if (c != '\\') {
			*w++ = (char)c;
			j->p++;
			continue;
		}
		char e = j->p[1];
		unsigned int cp;
		j->p += 2;
		switch (e) {
		case '"': case '\\': case '/': *w++ = e; break;
		case 'b': *w++ = '\b'; break;
		case 'f': *w++ = '\f'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'u':
			if (hex4(j->p, &cp)) {
				free(o);
				return fail(j, "bad \\u escape");
			}
			j->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && j->p[0] == '\\' && j->p[1] == 'u') {
				unsigned int lo;
				if (!hex4(j->p + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->p += 6;
				}
			}
			w += utf8(cp, w);   /* at most 6 input bytes make at most 4 */
			break;
		default:
			free(o);
			return fail(j, "bad escape");
		}
	}
	j->p++;
	*w = 0;
	*out = o;
	return 0;
}

static int parse_value(struct jp *j, struct json *v);

static int push(struct jp *j, struct json *v, size_t *cap)
{
	if (v->n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 8;
	struct json *items = realloc(v->items, nc * sizeof(*items));
	if (!items)
		return fail(j, "out of memory");
	v->items = items;
	if (v->type == JSON_OBJECT) {
		char **keys = realloc(v->keys, nc * sizeof(*keys));
		if (!keys)
			return fail(j, "out of memory");
		v->keys = keys;
	}
	*cap = nc;
	return 0;
}

static int parse_container(struct jp *j, struct json *v, char close)
{
	size_t cap = 0;

	if (++j->depth > 64)
		return fail(j, "nested too deep");
	j->p++;
	skip_ws(j);
	if (*j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		skip_ws(j);
		if (push(j, v, &cap))
			return -1;
		if (v->type == JSON_OBJECT) {
			if (*j->p != '"')
				return fail(j, "expected a key");
			if (parse_string(j, &v->keys[v->n]))
				return -1;
			skip_ws(j);
			if (*j->p != ':') {
				free(v->keys[v->n]);
				return fail(j, "expected ':'");
			}
			j->p++;
		}
		memset(&v->items[v->n], 0, sizeof(v->items[0]));
		if (parse_value(j, &v->items[v->n])) {
			json_free(&v->items[v->n]);
			if (v->type == JSON_OBJECT)
				free(v->keys[v->n]);
			return -1;
		}
		v->n++;
		skip_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p != close)
			return fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
		j->p++;
		j->depth--;
		return 0;
	}
}

static int parse_value(struct jp *j, struct json *v)
{
	skip_ws(j);
	const char *p = j->p;

	if (*p == '{') {
		v->type = JSON_OBJECT;
		return parse_container(j, v, '}');
	}
	if (*p == '[') {
		v->type = JSON_ARRAY;
		return parse_container(j, v, ']');
	}
	if (*p == '"') {
		v->type = JSON_STRING;
		return parse_string(j, &v->text);
	}
	if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
		v->type = JSON_BOOL;
		v->boolean = *p == 't';
		j->p += v->boolean ? 4 : 5;
		return 0;
	}
	if (!strncmp(p, "null", 4)) {
		v->type = JSON_NULL;
		j->p += 4;
		return 0;
	}
	size_t n = strspn(p, "-+0123456789.eE");
	if (!n || !(p[0] == '-' || (p[0] >= '0' && p[0] <= '9')))
		return fail(j, "unexpected character");
	v->type = JSON_NUMBER;
	v->text = strndup(p, n);
	if (!v->text)
		return fail(j, "out of memory");
	j->p += n;
	return 0;
}

int json_parse(const char *text, struct json *out, char *err, size_t errlen)
{
	struct jp j = { text, text, err, errlen, 0 };

	memset(out, 0, sizeof(*out));
	if (parse_value(&j, out)) {
		json_free(out);
		return -1;
	}
	skip_ws(&j);
	if (*j.p) {
		json_free(out);
		return fail(&j, "text after the value");
	}
	return 0;
}

void json_free(struct json *v)
{
	for (size_t i = 0; i < v->n; i++) {
		json_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->text);
	memset(v, 0, sizeof(*v));
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

bool json_u64(const struct json *v, uint64_t *out)
{
	char *end;

	if (!v || v->type != JSON_NUMBER || v->text[0] < '0' || v->text[0] > '9')
		return false;
	errno = 0;
	unsigned long long x = strtoull(v->text, &end, 10);
	if (*end || errno)
		return false;
	*out = x;
	return true;
}

const char *json_str(const struct json *v)
{
	return v && v->type == JSON_STRING ? v->text : NULL;
}
