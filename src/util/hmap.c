#include "util/hmap.h"

#include <errno.h>
#include <string.h>

static int grow(struct sim_alloc *a, struct hmap *h)
{
	size_t ncap = h->cap ? h->cap * 2 : 16;
	struct hmap_slot *ns = sim_icalloc(a, ncap, sizeof(*ns));
	if (!ns)
		return SIM_ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		struct hmap_slot *s = &h->slots[i];
		if (!s->used)
			continue;
		size_t j = hmap_hash(s->key) & (ncap - 1);
		while (ns[j].used)
			j = (j + 1) & (ncap - 1);
		ns[j] = *s;
	}
	sim_free(a, h->slots, h->cap * sizeof(*h->slots));
	h->slots = ns;
	h->cap = ncap;
	return 0;
}

int hmap_put(struct sim_alloc *a, struct hmap *h, uint64_t key, uint64_t val)
{
	if ((h->nr + 1) * 4 > h->cap * 3) {
		int err = grow(a, h);
		if (err)
			return err;
	}
	size_t mask = h->cap - 1;
	for (size_t i = hmap_hash(key) & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &h->slots[i];
		if (!s->used) {
			s->used = true;
			s->key = key;
			s->val = val;
			h->nr++;
			return 0;
		}
		if (s->key == key) {
			s->val = val;
			return 0;
		}
	}
}

bool hmap_del(struct hmap *h, uint64_t key)
{
	if (!h->cap)
		return false;
	size_t mask = h->cap - 1;
	size_t i = hmap_hash(key) & mask;
	while (h->slots[i].used && h->slots[i].key != key)
		i = (i + 1) & mask;
	if (!h->slots[i].used)
		return false;
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	size_t j = i;
	for (;;) {
		h->slots[i].used = false;
		for (;;) {
			j = (j + 1) & mask;
			if (!h->slots[j].used)
				goto done;
			size_t k = hmap_hash(h->slots[j].key) & mask;
			if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		h->slots[i] = h->slots[j];
		i = j;
	}
done:
	h->nr--;
	return true;
}

void hmap_clear(struct hmap *h)
{
	if (h->cap)
		memset(h->slots, 0, h->cap * sizeof(*h->slots));
	h->nr = 0;
}

void hmap_release(struct sim_alloc *a, struct hmap *h)
{
	sim_free(a, h->slots, h->cap * sizeof(*h->slots));
	memset(h, 0, sizeof(*h));
}
