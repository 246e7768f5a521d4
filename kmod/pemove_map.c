// SPDX-License-Identifier: GPL-2.0
/*
 * Which ranges of which PVs are in use, and the one place a map entry
 * changes.
 *
 * A new LV's extents, and the destination of a move or remap, must not
 * overlap any PE of any LV, nor a range reserved by a move in progress.
 * The scans run under pemove_mutex, which keeps the LV and reservation lists
 * stable, inside a pemove_map_lock read section, which makes the entries
 * they read consistent: a switch changes an LE's entry and its move's
 * reservation together under the write side, so a scan that raced a switch
 * sees it before or after, never half-way (and reruns if it cannot tell).
 * The scans read le->dev, never le->pv, which a switch may free.
 *
 * A reservation covers a move's destination until the switch, and the old
 * PE from the switch until the reads still in flight to it completed, so
 * that no one can be given a range that IO of ours may still touch.
 */
#include "pemove.h"

#include <linux/overflow.h>
#include <linux/slab.h>

/* Called under pemove_mutex and a pemove_map_lock read section. */
static bool pemove_map_overlaps(const struct pemove_key *keys, u32 n,
				u32 key_len)
{
	struct pemove_reservation *res;
	struct pemove_lv *lv;
	u32 i;

	list_for_each_entry(lv, &pemove_lvs, node)
		for (i = 0; i < lv->extent_count; i++)
			if (pemove_keys_overlap(keys, n, key_len,
						READ_ONCE(lv->les[i].dev),
						READ_ONCE(lv->les[i].start),
						lv->extent_sectors))
				return true;
	list_for_each_entry(res, &pemove_reserved, node)
		if (pemove_keys_overlap(keys, n, key_len, READ_ONCE(res->dev),
					READ_ONCE(res->start), res->len))
			return true;
	return false;
}

/*
 * The scan, as one consistent cut of every map entry and reservation: a
 * few lockless tries, then one pass with the seqlock held, so that a storm
 * of switches cannot starve it.
 */
static bool pemove_map_in_use(const struct pemove_key *keys, u32 n,
			      u32 key_len)
{
	unsigned int seq, tries;
	bool used;

	lockdep_assert_held(&pemove_mutex);
	for (tries = 0; tries < 3; tries++) {
		seq = read_seqbegin(&pemove_map_lock);
		used = pemove_map_overlaps(keys, n, key_len);
		if (!read_seqretry(&pemove_map_lock, seq))
			return used;
	}
	read_seqlock_excl(&pemove_map_lock);
	used = pemove_map_overlaps(keys, n, key_len);
	read_sequnlock_excl(&pemove_map_lock);
	return used;
}

/*
 * Check the extents of a new LV (each already checked to lie inside its PV)
 * against one another, every existing LV and every reservation.  Called
 * with pemove_mutex held.
 */
int pemove_check_new_map(const struct pemove_extent *ext, u32 count,
			 u32 extent_sectors)
{
	struct pemove_key *keys;
	int ret = -EINVAL;
	u32 i;

	keys = kvmalloc_array(count, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		keys[i].dev = pemove_devt(&ext[i]);
		keys[i].start = ext[i].sector;
	}
	pemove_keys_sort(keys, count);
	if (pemove_keys_disjoint(keys, count, extent_sectors) &&
	    !pemove_map_in_use(keys, count, extent_sectors))
		ret = 0;
	kvfree(keys);
	return ret;
}

/*
 * Is @start on @pv a place an extent of @lv may go: aligned, inside the
 * device, past the LV's reserved metadata area, and used by nobody?  Called
 * with pemove_mutex held.
 */
int pemove_check_range(struct pemove_lv *lv, struct pemove_pv *pv,
		       sector_t start)
{
	struct block_device *bdev = pv->h.bdev;
	unsigned int lbs = bdev_logical_block_size(bdev) >> SECTOR_SHIFT;
	struct pemove_key key = { .dev = pv->dev, .start = start };
	sector_t end;

	if (!IS_ALIGNED(start, PEMOVE_EXTENT_ALIGN_SECTORS) ||
	    !IS_ALIGNED(start, lbs) || start < lv->pv_reserved ||
	    check_add_overflow(start, (sector_t)lv->extent_sectors, &end) ||
	    end > bdev_nr_sectors(bdev))
		return -EINVAL;
	if (pemove_map_in_use(&key, 1, lv->extent_sectors))
		return -EINVAL;
	return 0;
}

/* Promise [start, start + len) of @dev to a move; pemove_mutex held. */
int pemove_reserve(dev_t dev, sector_t start, sector_t len,
		   struct pemove_reservation **resp)
{
	struct pemove_reservation *res;

	lockdep_assert_held(&pemove_mutex);
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
	lockdep_assert_held(&pemove_mutex);
	list_del(&res->node);
	kfree(res);
}

/*
 * Point @le at (@pv, @start).  In the same critical section: @res, if any,
 * takes over the old PE (its reads may still be in flight), @m, if any, is
 * marked switched and lets go of the LE, @clear is cleared from the state,
 * and the held bios move to @held (their count to *@nr_held) for the caller
 * to resubmit.  If @m's destination failed (a mirrored write's second leg),
 * nothing changes and its errno is returned: the check is in the critical
 * section, so a write that completed before the switch cannot have left
 * the destination without its data.  Takes only pemove_map_lock and
 * le->lock: a switch never waits behind pemove_mutex.
 */
int pemove_map_switch(struct pemove_le *le, struct pemove_pv *pv,
		      sector_t start, struct pemove_reservation *res,
		      struct pemove_move *m, u32 clear, struct bio_list *held,
		      u32 *nr_held)
{
	int ret = 0;

	write_seqlock(&pemove_map_lock);
	spin_lock_irq(&le->lock);
	if (m && m->error) {
		ret = m->error;
		goto out_unlock;
	}
	if (res) {
		WRITE_ONCE(res->dev, le->dev);
		WRITE_ONCE(res->start, le->start);
	}
	le->pv = pv;
	WRITE_ONCE(le->dev, pv->dev);
	WRITE_ONCE(le->start, start);
	if (m) {
		m->switched = true;
		le->move = NULL;
	}
	WRITE_ONCE(le->state, le->state & ~clear);
	if (held)
		*nr_held = pemove_le_take_held(le, held);
out_unlock:
	spin_unlock_irq(&le->lock);
	write_sequnlock(&pemove_map_lock);
	return ret;
}
