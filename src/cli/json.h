/*
 * A small JSON reader for the command's own files (ptsim merge reads the
 * outputs of `ptsim compare --json`).  Numbers keep their text, so that
 * counters of 2^53 and more come back exact (cJSON would make them doubles).
 */
#ifndef PTSIM_CLI_JSON_H
#define PTSIM_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	char *text;         /* string (unescaped) or number (as written) */
	struct json *items; /* array items, object values */
	char **keys;        /* object keys */
	size_t n;
};

/* json_parse - parse @text (NUL-terminated); on failure @err says where (byte offset). Return: 0 or -1. */
int json_parse(const char *text, struct json *out, char *err, size_t errlen);
void json_free(struct json *v);

/* The member @key of object @obj, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* A number that is a non-negative integer below 2^64. */
bool json_u64(const struct json *v, uint64_t *out);
/* A string's text, or NULL. */
const char *json_str(const struct json *v);

#endif
