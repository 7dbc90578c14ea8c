/*
 * Shared recorder data (recdata.h): a pid-keyed hash map, the file table and
 * per-task side information.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/grow.h"
#include "record/recdata.h"

static size_t slot_of(int32_t key, size_t cap)
{
	uint32_t h = (uint32_t)key * 2654435761u;
	return (size_t)h & (cap - 1);
}

void *pidmap_get(const struct pidmap *m, int32_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == key)
			return m->vals[i];
	}
}

/* Rehash @m into at least @need slots (doubled from 64: a power of two). */
static int grow(struct pidmap *m, size_t need)
{
	size_t ncap = m->cap;
	if (rec_grow_cap(&ncap, need, sizeof(*m->vals), 64))
		return -ENOMEM;
	int32_t *keys = calloc(ncap, sizeof(*keys));
	void **vals = calloc(ncap, sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->vals[i])
			continue;
		size_t j = slot_of(m->keys[i], ncap);
		while (vals[j])
			j = (j + 1) & (ncap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = ncap;
	return 0;
}

int pidmap_put(struct pidmap *m, int32_t key, void *val)
{
	if ((m->nr + 1) * 2 > m->cap && grow(m, (m->nr + 1) * 2))   /* at most half full */
		return -ENOMEM;
	size_t i = slot_of(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->vals[i])
		m->nr++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

/* Deletion by backward shift keeps probe chains intact without tombstones. */
void *pidmap_del(struct pidmap *m, int32_t key)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1, i = slot_of(key, m->cap);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & mask;
	void *old = m->vals[i];
	if (!old)
		return NULL;
	m->vals[i] = NULL;
	m->nr--;
	for (size_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
		size_t home = slot_of(m->keys[j], m->cap);
		/* Move j back to i if its home is not in (i, j] cyclically. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			m->vals[j] = NULL;
			i = j;
		}
	}
	return old;
}

void pidmap_free(struct pidmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] && free_val)
			free_val(m->vals[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- files ---- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* A name for the trace: the path's last component, without " (deleted)". */
static char *file_name(const struct rec_files *fs, const char *path)
{
	char buf[256];
	const char *b = base_name(path);

	snprintf(buf, sizeof(buf), "%s", b);
	char *del = strstr(buf, " (deleted)");
	if (del)
		*del = 0;
	if (!buf[0])
		snprintf(buf, sizeof(buf), "file");
	/* Control characters would be refused by the trace reader. */
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '_';
	size_t n = strlen(buf);
	for (unsigned int k = 1;; k++) {
		bool taken = false;
		if (k > 1)
			snprintf(buf + n, sizeof(buf) - n, "#%u", k);
		for (size_t i = 0; i < fs->nr && !taken; i++)
			taken = !strcmp(fs->v[i]->name, buf);
		if (!taken)
			return strdup(buf);
	}
}

struct rec_file *rec_file_get(struct rec_files *fs, uint64_t dev, uint64_t ino, const char *path,
			      enum rec_file_kind kind, uint64_t size, uint64_t page_size)
{
	for (size_t i = 0; i < fs->nr; i++) {
		struct rec_file *f = fs->v[i];
		if (f->dev == dev && f->ino == ino) {
			if (size > f->size)
				f->size = size;
			return f;
		}
	}
	if (rec_reserve(fs->v, fs->cap, fs->nr + 1, 32))
		return NULL;
	struct rec_file *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = dev;
	f->ino = ino;
	f->kind = kind;
	f->size = size;
	f->page_size = page_size;
	f->name = file_name(fs, path);
	f->path = strdup(path);
	if (!f->name || !f->path) {
		free(f->name);
		free(f->path);
		free(f);
		return NULL;
	}
	fs->v[fs->nr++] = f;
	return f;
}

void rec_files_free(struct rec_files *fs)
{
	for (size_t i = 0; i < fs->nr; i++) {
		free(fs->v[i]->declared);
		free(fs->v[i]->fresh);
		free(fs->v[i]->name);
		free(fs->v[i]->path);
		free(fs->v[i]);
	}
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

void rec_exec_free(struct rec_exec *e)
{
	while (e) {
		struct rec_exec *next = e->next;
		for (size_t i = 0; i < e->nr_vmas; i++)
			free(e->vmas[i].runs);
		free(e->vmas);
		free(e);
		e = next;
	}
}

static void pidinfo_free(void *p)
{
	struct rec_pidinfo *pi = p;
	free(pi->fork);
	rec_exec_free(pi->exec);
	while (pi->maps) {
		struct rec_pending_map *n = pi->maps->next;
		free(pi->maps);
		pi->maps = n;
	}
	free(pi);
}

struct rec_pidinfo *rec_pidinfo(struct rec_data *d, pid_t pid)
{
	struct rec_pidinfo *pi = pidmap_get(&d->pids, pid);
	if (pi)
		return pi;
	pi = calloc(1, sizeof(*pi));
	if (!pi || pidmap_put(&d->pids, pid, pi)) {
		free(pi);
		return NULL;
	}
	return pi;
}

void rec_data_free(struct rec_data *d)
{
	pidmap_free(&d->pids, pidinfo_free);
	rec_files_free(&d->files);
}
