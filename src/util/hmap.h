/*
 * A small open-addressing hash map from uint64_t keys to uint64_t values
 * (linear probing, tombstone-free deletion by backward shift).  Iteration
 * order is never used for output, so host-independent determinism holds.
 */
#ifndef PTSIM_UTIL_HMAP_H
#define PTSIM_UTIL_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/alloc.h"

struct hmap_slot {
	uint64_t key;
	uint64_t val;
	bool used;
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap;     /* power of two, or 0 */
	size_t nr;
};

static inline uint64_t hmap_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static inline bool hmap_get(const struct hmap *h, uint64_t key, uint64_t *val)
{
	if (!h->cap)
		return false;
	size_t mask = h->cap - 1;
	for (size_t i = hmap_hash(key) & mask;; i = (i + 1) & mask) {
		const struct hmap_slot *s = &h->slots[i];
		if (!s->used)
			return false;
		if (s->key == key) {
			if (val)
				*val = s->val;
			return true;
		}
	}
}

int hmap_put(struct sim_alloc *a, struct hmap *h, uint64_t key, uint64_t val);
bool hmap_del(struct hmap *h, uint64_t key);
/* Remove every key, keeping the capacity. */
void hmap_clear(struct hmap *h);
void hmap_release(struct sim_alloc *a, struct hmap *h);

#endif
