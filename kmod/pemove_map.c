// SPDX-License-Identifier: GPL-2.0
/*
 * Which ranges of which PVs are in use.
 *
 * A new LV's extents, and the destination of a move or remap, must not
 * overlap any PE of any LV, nor a destination reserved by a move in progress.
 * Everything here runs under pemove_mutex: every writer of a map entry holds
 * it, so the entries read here without le->lock are stable.
 */
#include "pemove.h"

#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sort.h>

/* A PE of a new LV, sorted by (dev, start) to find overlaps in O(n log n). */
struct pemove_key {
	dev_t dev;
	sector_t start;
};

/* The dev_t of @ext, or 0 (which names no device) if it cannot be one. */
dev_t pemove_devt(const struct pemove_extent *ext)
{
	if (ext->major >= (1U << (32 - MINORBITS)) || ext->minor > MINORMASK)
		return 0;
	return MKDEV(ext->major, ext->minor);
}

static bool pemove_overlap(sector_t a, sector_t alen, sector_t b, sector_t blen)
{
	return a < b + blen && b < a + alen;
}

static int pemove_key_cmp(const void *pa, const void *pb)
{
	const struct pemove_key *a = pa, *b = pb;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return 0;
}

/*
 * Does [start, start + len) on @dev overlap one of the @n sorted keys, each
 * @key_len long?  The keys do not overlap one another, so only the last key
 * that starts before the end of the range can reach into it.
 */
static bool pemove_keys_overlap(const struct pemove_key *keys, u32 n,
				u32 key_len, dev_t dev, sector_t start,
				sector_t len)
{
	const struct pemove_key *k;
	u32 lo = 0, hi = n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		k = &keys[mid];
		if (k->dev < dev || (k->dev == dev && k->start < start + len))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	k = &keys[lo - 1];
	return k->dev == dev && k->start + key_len > start;
}

/*
 * Check the extents of a new LV (each already checked to lie inside its PV)
 * against one another, every existing LV and every reserved destination.
 */
int pemove_check_new_map(const struct pemove_extent *ext, u32 count,
			 u32 extent_sectors)
{
	struct pemove_reservation *res;
	struct pemove_key *keys;
	struct pemove_lv *lv;
	int ret = -EINVAL;
	u32 i;

	keys = kvmalloc_array(count, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		keys[i].dev = pemove_devt(&ext[i]);
		keys[i].start = ext[i].sector;
	}
	sort(keys, count, sizeof(*keys), pemove_key_cmp, NULL);

	for (i = 1; i < count; i++)
		if (keys[i].dev == keys[i - 1].dev &&
		    keys[i - 1].start + extent_sectors > keys[i].start)
			goto out;

	list_for_each_entry(lv, &pemove_lvs, node)
		for (i = 0; i < lv->extent_count; i++)
			if (pemove_keys_overlap(keys, count, extent_sectors,
						lv->les[i].pv->dev,
						lv->les[i].start,
						lv->extent_sectors))
				goto out;

	list_for_each_entry(res, &pemove_reserved, node)
		if (pemove_keys_overlap(keys, count, extent_sectors, res->dev,
					res->start, res->len))
			goto out;
	ret = 0;
out:
	kvfree(keys);
	return ret;
}

static bool pemove_range_in_use(dev_t dev, sector_t start, sector_t len)
{
	struct pemove_reservation *res;
	struct pemove_lv *lv;
	u32 i;

	list_for_each_entry(lv, &pemove_lvs, node)
		for (i = 0; i < lv->extent_count; i++)
			if (lv->les[i].pv->dev == dev &&
			    pemove_overlap(lv->les[i].start, lv->extent_sectors,
					   start, len))
				return true;

	list_for_each_entry(res, &pemove_reserved, node)
		if (res->dev == dev &&
		    pemove_overlap(res->start, res->len, start, len))
			return true;
	return false;
}

/*
 * Validate the destination of a move or remap of one of @lv's extents and
 * return its PV, which the LV then holds open.  A PV opened only for this
 * check is closed again if the check fails, so a rejected call changes
 * nothing.
 */
int pemove_check_dest(struct pemove_lv *lv, const struct pemove_extent *dest,
		      struct pemove_pv **pvp)
{
	struct block_device *bdev;
	struct pemove_pv *pv;
	unsigned int lbs;
	sector_t end;
	bool opened;
	int ret;

	ret = pemove_lv_get_pv(lv, pemove_devt(dest), &pv, &opened);
	if (ret)
		return ret;
	bdev = pv->h.bdev;
	lbs = bdev_logical_block_size(bdev);
	if (lbs > lv->lbs ||
	    !IS_ALIGNED(dest->sector, PEMOVE_EXTENT_ALIGN_SECTORS) ||
	    !IS_ALIGNED(dest->sector, lbs >> SECTOR_SHIFT) ||
	    check_add_overflow((sector_t)dest->sector,
			       (sector_t)lv->extent_sectors, &end) ||
	    end > bdev_nr_sectors(bdev) ||
	    pemove_range_in_use(pv->dev, dest->sector, lv->extent_sectors)) {
		if (opened)
			pemove_lv_drop_pv(lv, pv);
		return -EINVAL;
	}
	*pvp = pv;
	return 0;
}

/* Promise [start, start + len) of @dev to a move; pemove_mutex held. */
int pemove_reserve(dev_t dev, sector_t start, sector_t len,
		   struct pemove_reservation **resp)
{
	struct pemove_reservation *res;

	res = kmalloc(sizeof(*res), GFP_KERNEL);
	if (!res)
		return -ENOMEM;
	res->dev = dev;
	res->start = start;
	res->len = len;
	list_add(&res->node, &pemove_reserved);
	*resp = res;
	return 0;
}

void pemove_unreserve(struct pemove_reservation *res)
{
	list_del(&res->node);
	kfree(res);
}
