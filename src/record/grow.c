/* The recorder's growing arrays (grow.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "record/grow.h"

int rec_grow_cap(size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t n = *cap ? *cap : first ? first : 1, bytes;

	while (n < need)
		if (__builtin_mul_overflow(n, 2, &n))
			return -ENOMEM;
	if (__builtin_mul_overflow(n, elem, &bytes))
		return -ENOMEM;
	*cap = n;
	return 0;
}

int rec_reserve_(void *vp, size_t *cap, size_t need, size_t elem, size_t first, bool zero)
{
	void *v, *nv;
	size_t n = *cap;

	if (need <= n)
		return 0;
	if (rec_grow_cap(&n, need, elem, first))
		return -ENOMEM;
	/* The caller's pointer has its own type: copied, never read through a void **. */
	memcpy(&v, vp, sizeof(v));
	nv = realloc(v, n * elem);
	if (!nv)
		return -ENOMEM;
	if (zero)
		memset((char *)nv + *cap * elem, 0, (n - *cap) * elem);
	memcpy(vp, &nv, sizeof(nv));
	*cap = n;
	return 0;
}
