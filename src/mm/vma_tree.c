/*
 * The VMA tree of an mm: every VMA of the address space, ordered by address,
 * with the kernel's lookups in O(log n).
 *
 * Models the lookups of mm->mm_mt (the maple tree, lib/maple_tree.c, used by
 * mm/mmap.c and mm/vma.c at v6.18): find_vma(), find_vma_prev(), vma_prev()/
 * vma_next(), for_each_vma() order, and the gap searches behind
 * vm_unmapped_area() (vma_iter_area_lowest()/vma_iter_area_highest(), i.e.
 * mas_empty_area()/mas_empty_area_rev()).
 *
 * ptsim: the kernel's B-tree with gap tracking is replaced by an AVL tree whose
 * nodes are the VMAs themselves, augmented the way the kernel's pre-6.1
 * augmented rbtree was (rb_subtree_gap): each node knows the lowest start and
 * highest end of its subtree and the largest empty gap between two VMAs of its
 * subtree.  The answers (which VMA, which gap) are the maple tree's; only the
 * cost model differs.  The tree needs no allocation, so inserting a VMA cannot
 * fail.
 *
 * How the gap augmentation works: two VMAs a < b that are neighbours in address
 * order are, in any binary search tree, one an ancestor of the other (b is the
 * lowest node of a's right subtree, or a the highest of b's left).  So the gap
 * between them, [a.vm_end, b.vm_start), is an "internal" gap of the subtree of
 * that ancestor, and vt_gap(node) = max(vt_gap(left), vt_gap(right),
 * node.vm_start - left.vt_hi, right.vt_lo - node.vm_end) covers every internal
 * gap.  A change of a VMA's bounds changes only the values on its path to the
 * root (vma_tree_update()).  The gaps below the first VMA and above the last
 * are not internal; the searches test them on their own.
 *
 * Invariants (vma_tree_consistent() recomputes them): in-order = ascending
 * vm_start, VMAs do not overlap, heights differ by at most one, and every
 * node's vt_lo/vt_hi/vt_gap/vt_height match their children.
 */
#include "mm/internal.h"

static inline int vt_h(const struct vm_area_struct *n)
{
	return n ? n->vt_height : 0;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Recompute @n's cached values from its children. */
static void vt_pull(struct vm_area_struct *n)
{
	struct vm_area_struct *l = n->vt_left, *r = n->vt_right;
	uint64_t gap = 0;
	int hl = vt_h(l), hr = vt_h(r);

	n->vt_height = 1 + (hl > hr ? hl : hr);
	n->vt_lo = l ? l->vt_lo : n->vm_start;
	n->vt_hi = r ? r->vt_hi : n->vm_end;
	if (l)
		gap = max_u64(l->vt_gap, n->vm_start - l->vt_hi);
	if (r)
		gap = max_u64(gap, max_u64(r->vt_gap, r->vt_lo - n->vm_end));
	n->vt_gap = gap;
}

static void vt_replace_child(struct mm_struct *mm, struct vm_area_struct *parent, struct vm_area_struct *old,
			     struct vm_area_struct *new)
{
	if (!parent)
		mm->vma_root = new;
	else if (parent->vt_left == old)
		parent->vt_left = new;
	else
		parent->vt_right = new;
	if (new)
		new->vt_parent = parent;
}

/* Rotate @x's right child up; return it (the subtree's new root). */
static struct vm_area_struct *vt_rotate_left(struct mm_struct *mm, struct vm_area_struct *x)
{
	struct vm_area_struct *y = x->vt_right;

	x->vt_right = y->vt_left;
	if (y->vt_left)
		y->vt_left->vt_parent = x;
	vt_replace_child(mm, x->vt_parent, x, y);
	y->vt_left = x;
	x->vt_parent = y;
	vt_pull(x);
	vt_pull(y);
	return y;
}

static struct vm_area_struct *vt_rotate_right(struct mm_struct *mm, struct vm_area_struct *x)
{
	struct vm_area_struct *y = x->vt_left;

	x->vt_left = y->vt_right;
	if (y->vt_right)
		y->vt_right->vt_parent = x;
	vt_replace_child(mm, x->vt_parent, x, y);
	y->vt_right = x;
	x->vt_parent = y;
	vt_pull(x);
	vt_pull(y);
	return y;
}

/* Refresh the cached values from @n up to the root, rotating where heights differ by two. */
static void vt_rebalance(struct mm_struct *mm, struct vm_area_struct *n)
{
	while (n) {
		vt_pull(n);
		int bf = vt_h(n->vt_left) - vt_h(n->vt_right);
		if (bf > 1) {
			if (vt_h(n->vt_left->vt_left) < vt_h(n->vt_left->vt_right))
				vt_rotate_left(mm, n->vt_left);
			n = vt_rotate_right(mm, n);
		} else if (bf < -1) {
			if (vt_h(n->vt_right->vt_right) < vt_h(n->vt_right->vt_left))
				vt_rotate_right(mm, n->vt_right);
			n = vt_rotate_left(mm, n);
		}
		n = n->vt_parent;
	}
}

/**
 * vma_tree_insert - add @vma (not overlapping any VMA of @mm) to the tree
 * (vma_iter_store() of a new VMA; mm->map_count++).
 */
void vma_tree_insert(struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct vm_area_struct *parent = NULL, **link = &mm->vma_root;

	while (*link) {
		parent = *link;
		link = vma->vm_start < parent->vm_start ? &parent->vt_left : &parent->vt_right;
	}
	vma->vt_left = vma->vt_right = NULL;
	vma->vt_parent = parent;
	*link = vma;
	mm->map_count++;
	vt_rebalance(mm, vma);
}

/** vma_tree_remove - take @vma out of @mm's tree (mm->map_count--). */
void vma_tree_remove(struct mm_struct *mm, struct vm_area_struct *z)
{
	struct vm_area_struct *start;

	if (mm->vma_cache == z)
		mm->vma_cache = NULL;
	if (z->vt_left && z->vt_right) {
		/* The successor y (no left child) takes z's place. */
		struct vm_area_struct *y = z->vt_right;
		while (y->vt_left)
			y = y->vt_left;
		if (y->vt_parent == z) {
			start = y;
		} else {
			start = y->vt_parent;
			start->vt_left = y->vt_right;
			if (y->vt_right)
				y->vt_right->vt_parent = start;
			y->vt_right = z->vt_right;
			z->vt_right->vt_parent = y;
		}
		y->vt_left = z->vt_left;
		z->vt_left->vt_parent = y;
		vt_replace_child(mm, z->vt_parent, z, y);
	} else {
		struct vm_area_struct *c = z->vt_left ? z->vt_left : z->vt_right;
		start = z->vt_parent;
		vt_replace_child(mm, start, z, c);
	}
	z->vt_left = z->vt_right = z->vt_parent = NULL;
	mm->map_count--;
	vt_rebalance(mm, start);
}

/** vma_tree_update - @vma's vm_start/vm_end changed (its order did not): refresh the gaps. */
void vma_tree_update(struct mm_struct *mm, struct vm_area_struct *vma)
{
	vt_rebalance(mm, vma);
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */
/* ------------------------------------------------------------------------ */

/** find_vma - the first VMA with vm_end > @addr, or NULL. */
struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr)
{
	struct vm_area_struct *n = mm->vma_root, *res = NULL;

	if (mm->vma_cache && mm->vma_cache->vm_start <= addr && addr < mm->vma_cache->vm_end)
		return mm->vma_cache;
	while (n) {
		if (n->vm_end > addr) {
			res = n;
			if (n->vm_start <= addr)
				break;
			n = n->vt_left;
		} else {
			n = n->vt_right;
		}
	}
	return res;
}

/** find_vma_prev - find_vma(), and in *@pprev the VMA before it (the last VMA if none). */
struct vm_area_struct *find_vma_prev(struct mm_struct *mm, uint64_t addr, struct vm_area_struct **pprev)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	*pprev = vma ? vma_prev(mm, vma) : vma_last(mm);
	return vma;
}

struct vm_area_struct *vma_first(struct mm_struct *mm)
{
	struct vm_area_struct *n = mm->vma_root;

	while (n && n->vt_left)
		n = n->vt_left;
	return n;
}

struct vm_area_struct *vma_last(struct mm_struct *mm)
{
	struct vm_area_struct *n = mm->vma_root;

	while (n && n->vt_right)
		n = n->vt_right;
	return n;
}

struct vm_area_struct *vma_next(struct mm_struct *mm, const struct vm_area_struct *vma)
{
	(void)mm;
	if (vma->vt_right) {
		struct vm_area_struct *n = vma->vt_right;
		while (n->vt_left)
			n = n->vt_left;
		return n;
	}
	while (vma->vt_parent && vma->vt_parent->vt_right == vma)
		vma = vma->vt_parent;
	return vma->vt_parent;
}

struct vm_area_struct *vma_prev(struct mm_struct *mm, const struct vm_area_struct *vma)
{
	(void)mm;
	if (vma->vt_left) {
		struct vm_area_struct *n = vma->vt_left;
		while (n->vt_right)
			n = n->vt_right;
		return n;
	}
	while (vma->vt_parent && vma->vt_parent->vt_left == vma)
		vma = vma->vt_parent;
	return vma->vt_parent;
}

/* ------------------------------------------------------------------------ */
/* Gap searches                                                              */
/* ------------------------------------------------------------------------ */

/*
 * Does the empty range [a, b) clipped to [low, high) hold @size bytes?  Its
 * clipped start and end go to *s, *e.
 */
static bool gap_fits(uint64_t a, uint64_t b, uint64_t low, uint64_t high, uint64_t size, uint64_t *s, uint64_t *e)
{
	uint64_t cs = a > low ? a : low, ce = b < high ? b : high;

	if (ce <= cs || ce - cs < size)
		return false;
	*s = cs;
	*e = ce;
	return true;
}

/* Could a subtree whose internal gaps lie inside [lo, hi] hold a fitting gap? */
static bool span_may_fit(const struct vm_area_struct *t, uint64_t low, uint64_t high, uint64_t size)
{
	uint64_t s, e;

	return t && t->vt_gap >= size && gap_fits(t->vt_lo, t->vt_hi, low, high, size, &s, &e);
}

/* The highest internal gap of @n's subtree that fits; its clipped bounds in *s, *e. */
static bool vt_highest(const struct vm_area_struct *n, uint64_t low, uint64_t high, uint64_t size, uint64_t *s,
		       uint64_t *e)
{
	const struct vm_area_struct *l = n->vt_left, *r = n->vt_right;

	if (span_may_fit(r, low, high, size) && vt_highest(r, low, high, size, s, e))
		return true;
	if (r && gap_fits(n->vm_end, r->vt_lo, low, high, size, s, e))
		return true;
	if (l && gap_fits(l->vt_hi, n->vm_start, low, high, size, s, e))
		return true;
	return span_may_fit(l, low, high, size) && vt_highest(l, low, high, size, s, e);
}

static bool vt_lowest(const struct vm_area_struct *n, uint64_t low, uint64_t high, uint64_t size, uint64_t *s,
		      uint64_t *e)
{
	const struct vm_area_struct *l = n->vt_left, *r = n->vt_right;

	if (span_may_fit(l, low, high, size) && vt_lowest(l, low, high, size, s, e))
		return true;
	if (l && gap_fits(l->vt_hi, n->vm_start, low, high, size, s, e))
		return true;
	if (r && gap_fits(n->vm_end, r->vt_lo, low, high, size, s, e))
		return true;
	return span_may_fit(r, low, high, size) && vt_lowest(r, low, high, size, s, e);
}

/*
 * The empty ranges of the address space are [0, first->vm_start), the gaps
 * between VMAs, and [last->vm_end, 2^64) (UINT64_MAX stands for 2^64: every
 * high limit is below it).
 */

/**
 * vma_iter_area_highest - the highest empty range inside [@low, @high) of at
 * least @size bytes (mas_empty_area_rev(low, high - 1, size)).
 * Return: true and its bounds clipped to [@low, @high) in *@start, *@end
 * (vma_iter_addr()/vma_iter_end() of the kernel's iterator); false if none.
 */
bool vma_iter_area_highest(struct mm_struct *mm, uint64_t low, uint64_t high, uint64_t size, uint64_t *start,
			   uint64_t *end)
{
	struct vm_area_struct *first = vma_first(mm), *last = vma_last(mm);

	if (!last)
		return gap_fits(0, UINT64_MAX, low, high, size, start, end);
	if (gap_fits(last->vm_end, UINT64_MAX, low, high, size, start, end))
		return true;
	if (span_may_fit(mm->vma_root, low, high, size) && vt_highest(mm->vma_root, low, high, size, start, end))
		return true;
	return gap_fits(0, first->vm_start, low, high, size, start, end);
}

/** vma_iter_area_lowest - the lowest such range (mas_empty_area(low, high - 1, size)). */
bool vma_iter_area_lowest(struct mm_struct *mm, uint64_t low, uint64_t high, uint64_t size, uint64_t *start,
			  uint64_t *end)
{
	struct vm_area_struct *first = vma_first(mm), *last = vma_last(mm);

	if (!first)
		return gap_fits(0, UINT64_MAX, low, high, size, start, end);
	if (gap_fits(0, first->vm_start, low, high, size, start, end))
		return true;
	if (span_may_fit(mm->vma_root, low, high, size) && vt_lowest(mm->vma_root, low, high, size, start, end))
		return true;
	return gap_fits(last->vm_end, UINT64_MAX, low, high, size, start, end);
}

/* ------------------------------------------------------------------------ */
/* Checker                                                                   */
/* ------------------------------------------------------------------------ */

static int vt_check(const struct vm_area_struct *n, const struct vm_area_struct *parent, unsigned long *count)
{
	if (!n)
		return 0;
	if (n->vt_parent != parent || n->vm_start >= n->vm_end)
		return -1;
	if (vt_check(n->vt_left, n, count) || vt_check(n->vt_right, n, count))
		return -1;
	(*count)++;
	struct vm_area_struct copy = *n;
	vt_pull(&copy);
	if (copy.vt_height != n->vt_height || copy.vt_lo != n->vt_lo || copy.vt_hi != n->vt_hi ||
	    copy.vt_gap != n->vt_gap)
		return -1;
	int bf = vt_h(n->vt_left) - vt_h(n->vt_right);
	if (bf > 1 || bf < -1)
		return -1;
	if ((n->vt_left && n->vt_left->vt_hi > n->vm_start) || (n->vt_right && n->vt_right->vt_lo < n->vm_end))
		return -1;
	return 0;
}

/**
 * vma_tree_consistent - recompute the tree's cached values, its order and
 * balance, and the VMA count.  Return: true if all match.
 */
bool vma_tree_consistent(struct mm_struct *mm)
{
	unsigned long count = 0;

	return vt_check(mm->vma_root, NULL, &count) == 0 && count == mm->map_count;
}
