/* ffs() for jemalloc's MALLOCX_ALIGN() lives in <strings.h> under the default feature set. */
#define _DEFAULT_SOURCE
/* The per-machine allocator; see alloc.h. */
#include "util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if PTSIM_USE_JEMALLOC
#include <strings.h> /* ffs(), used by MALLOCX_ALIGN() */
#include <jemalloc/jemalloc.h>
#endif

int sim_alloc_init(struct sim_alloc *a)
{
	memset(a, 0, sizeof(*a));
#if PTSIM_USE_JEMALLOC
	size_t sz = sizeof(a->arena);
	if (mallctl("arenas.create", &a->arena, &sz, NULL, 0) == 0)
		a->have_arena = true;
#endif
	return 0;
}

bool sim_alloc_bulk_free(const struct sim_alloc *a)
{
	return a->have_arena;
}

bool sim_alloc_destroy(struct sim_alloc *a)
{
#if PTSIM_USE_JEMALLOC
	if (a->have_arena) {
		char name[64];
		snprintf(name, sizeof(name), "arena.%u.destroy", a->arena);
		mallctl(name, NULL, NULL, NULL, 0);
		a->have_arena = false;
		return true;
	}
#endif
	return false;
}

static bool inject_failure(struct sim_alloc *a)
{
	if (a->internal)
		return false;
	if (a->fail_at && ++a->nr_injectable == a->fail_at)
		return true;
	return false;
}

static void account(struct sim_alloc *a, size_t add, size_t sub)
{
	a->live_bytes += add;
	a->live_bytes -= sub;
}

void *sim_malloc(struct sim_alloc *a, size_t size)
{
	void *p;

	if (size == 0)
		size = 1;
	if (inject_failure(a)) {
		a->fail_at = 0;
		return NULL;
	}
#if PTSIM_USE_JEMALLOC
	if (a->have_arena)
		p = mallocx(size, MALLOCX_ARENA(a->arena) | MALLOCX_TCACHE_NONE);
	else
		p = malloc(size);
#else
	p = malloc(size);
#endif
	if (p)
		account(a, size, 0);
	return p;
}

void *sim_calloc(struct sim_alloc *a, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	void *p = sim_malloc(a, nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

void *sim_zalloc_aligned(struct sim_alloc *a, size_t align, size_t size)
{
	void *p;

	if (inject_failure(a)) {
		a->fail_at = 0;
		return NULL;
	}
#if PTSIM_USE_JEMALLOC
	if (a->have_arena)
		p = mallocx(size, MALLOCX_ARENA(a->arena) | MALLOCX_TCACHE_NONE | MALLOCX_ALIGN(align) | MALLOCX_ZERO);
	else
		p = aligned_alloc(align, size);
#else
	p = aligned_alloc(align, size);
#endif
	if (p) {
#if PTSIM_USE_JEMALLOC
		if (!a->have_arena)
			memset(p, 0, size);
#else
		memset(p, 0, size);
#endif
		account(a, size, 0);
	}
	return p;
}

void *sim_realloc(struct sim_alloc *a, void *p, size_t old_size, size_t new_size)
{
	void *q;

	if (!p)
		return sim_malloc(a, new_size);
	if (new_size == 0)
		new_size = 1;
	if (inject_failure(a)) {
		a->fail_at = 0;
		return NULL;
	}
#if PTSIM_USE_JEMALLOC
	if (a->have_arena)
		q = rallocx(p, new_size, MALLOCX_ARENA(a->arena) | MALLOCX_TCACHE_NONE);
	else
		q = realloc(p, new_size);
#else
	q = realloc(p, new_size);
#endif
	if (q)
		account(a, new_size, old_size);
	return q;
}

void sim_free(struct sim_alloc *a, void *p, size_t size)
{
	if (!p)
		return;
	account(a, 0, size);
#if PTSIM_USE_JEMALLOC
	if (a->have_arena) {
		dallocx(p, MALLOCX_TCACHE_NONE);
		return;
	}
#endif
	free(p);
}

void *sim_imalloc(struct sim_alloc *a, size_t size)
{
	a->internal = true;
	void *p = sim_malloc(a, size);
	a->internal = false;
	return p;
}

void *sim_icalloc(struct sim_alloc *a, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	void *p = sim_imalloc(a, nmemb * size);
	if (p)
		memset(p, 0, nmemb * size);
	return p;
}

void *sim_irealloc(struct sim_alloc *a, void *p, size_t old_size, size_t new_size)
{
	a->internal = true;
	void *q = sim_realloc(a, p, old_size, new_size);
	a->internal = false;
	return q;
}

char *sim_istrdup(struct sim_alloc *a, const char *s)
{
	a->internal = true;
	char *d = sim_strdup(a, s);
	a->internal = false;
	return d;
}

char *sim_strdup(struct sim_alloc *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = sim_malloc(a, n);
	if (d)
		memcpy(d, s, n);
	return d;
}
