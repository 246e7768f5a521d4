// SPDX-License-Identifier: GPL-2.0
/*
 * Moving an extent: PE_MOVE, the locked copy, and the legacy PE_LOCK /
 * PE_REMAP / PE_UNLOCK that rebuild LVM1's userspace pvmove.
 *
 * While a move or a legacy lock owns an LE, lv->busy counts it, so that
 * LV_REMOVE refuses the LV and the LV outlives the held bios.
 */
#include "pemove.h"

#include <linux/ktime.h>
#include <linux/slab.h>

/*
 * Look up the LV and LE a command names.  Called with pemove_mutex held.
 * The EOPNOTSUPP check comes before the LE check: an untracked LV refuses
 * the command whatever it names.
 */
static int pemove_find_le(const char *name, u64 le, bool need_tracking,
			  struct pemove_lv **lvp)
{
	struct pemove_lv *lv;

	if (!pemove_name_valid(name))
		return -EINVAL;
	lv = pemove_lv_find(name);
	if (!lv)
		return -ENOENT;
	if (need_tracking && !pemove_lv_tracked(lv))
		return -EOPNOTSUPP;
	if (le >= lv->extent_count)
		return -EINVAL;
	*lvp = lv;
	return 0;
}

/* Drop a move's or a lock's hold on the LV, after its bios were resubmitted. */
static void pemove_lv_unbusy(struct pemove_lv *lv)
{
	mutex_lock(&pemove_mutex);
	lv->busy--;
	mutex_unlock(&pemove_mutex);
}

int pemove_pe_move(const struct pemove_pe_move *in, struct pemove_pe_move *out)
{
	struct pemove_reservation *res;
	struct pemove_pv *src, *dst;
	struct bio_list held = BIO_EMPTY_LIST;
	ktime_t t_lock, t_copy, t_unlock;
	sector_t src_start;
	struct pemove_lv *lv;
	struct pemove_le *le;
	u32 drained, nr_held;
	u64 bytes;
	int ret;

	if (!pemove_zero(in->reserved, sizeof(in->reserved)))
		return -EINVAL;

	mutex_lock(&pemove_mutex);
	ret = pemove_find_le(in->name, in->le, true, &lv);
	if (ret)
		goto out_unlock;
	le = &lv->les[in->le];
	/* A second move of this LE is EBUSY, whatever its destination. */
	ret = -EBUSY;
	if (READ_ONCE(le->state))
		goto out_unlock;
	ret = pemove_check_dest(lv, &in->dest, &dst);
	if (ret)
		goto out_unlock;
	ret = pemove_reserve(dst->dev, in->dest.sector, lv->extent_sectors,
			     &res);
	if (ret)
		goto out_unlock;
	/* Cannot fail: pemove_mutex excludes every other claimant. */
	ret = pemove_le_claim(le, PEMOVE_LE_LOCKED | PEMOVE_LE_MOVING, &drained);
	if (WARN_ON_ONCE(ret)) {
		pemove_unreserve(res);
		goto out_unlock;
	}
	t_lock = ktime_get();
	bytes = (u64)lv->extent_sectors << SECTOR_SHIFT;
	lv->busy++;
	mutex_unlock(&pemove_mutex);

	/* New bios are held from here on; wait for the old ones. */
	ret = pemove_le_wait_drained(lv, le);
	t_copy = ktime_get();
	if (!ret) {
		pemove_le_map(le, &src, &src_start);
		ret = pemove_copy(lv, src, src_start, dst, in->dest.sector);
		if (!ret)
			ret = blkdev_issue_flush(dst->h.bdev);
	}
	out->copy_ns = ktime_to_ns(ktime_sub(ktime_get(), t_copy));

	mutex_lock(&pemove_mutex);
	nr_held = pemove_le_release(le, PEMOVE_LE_LOCKED | PEMOVE_LE_MOVING,
				    ret ? NULL : dst, in->dest.sector, &held);
	t_unlock = ktime_get();
	pemove_unreserve(res);
	if (ret) {
		lv->moves_failed++;
	} else {
		lv->moves++;
		lv->bytes_moved += bytes;
	}
	mutex_unlock(&pemove_mutex);

	/* Held bios now see the new map entry, or the old one on failure. */
	pemove_resubmit(&held);
	pemove_lv_unbusy(lv);	/* @lv may be removed from here on */

	if (ret && ret != -EINTR)
		pr_warn_ratelimited("%s: move of LE %llu failed (%d); map unchanged\n",
				    in->name, in->le, ret);

	memcpy(out->name, in->name, sizeof(out->name));
	out->le = in->le;
	out->dest = in->dest;
	if (!ret)
		out->bytes_copied = bytes;
	out->hold_ns = ktime_to_ns(ktime_sub(t_unlock, t_lock));
	out->bios_drained = drained;
	out->bios_held = nr_held;
	return ret;

out_unlock:
	mutex_unlock(&pemove_mutex);
	return ret;
}

static struct pemove_file_lock *pemove_file_find_lock(struct pemove_file *pf,
						      struct pemove_lv *lv,
						      u64 le)
{
	struct pemove_file_lock *fl;

	list_for_each_entry(fl, &pf->locks, node)
		if (fl->lv == lv && fl->le == le)
			return fl;
	return NULL;
}

static bool pemove_lock_args_valid(const struct pemove_pe_lock *in,
				   bool uses_dest)
{
	static const struct pemove_extent no_dest;

	if (!pemove_zero(in->reserved, sizeof(in->reserved)))
		return false;
	return uses_dest || !memcmp(&in->dest, &no_dest, sizeof(no_dest));
}

/*
 * PE_LOCK, as LVM1 did it: write back the LV's dirty page cache first, then
 * hold new writes to the LE.  Reads pass, and bios already in flight are only
 * counted, not waited for: that is the 2002 bug this command preserves.
 * Writing back after holding writes would wait for pages whose writes are
 * held, forever.
 */
int pemove_pe_lock(struct pemove_file *pf, const struct pemove_pe_lock *in,
		   struct pemove_pe_lock *out)
{
	struct pemove_file_lock *fl;
	struct pemove_lv *lv;
	u32 inflight;
	int ret;

	if (!pemove_lock_args_valid(in, false))
		return -EINVAL;
	fl = kmalloc(sizeof(*fl), GFP_KERNEL);
	if (!fl)
		return -ENOMEM;

	mutex_lock(&pemove_mutex);
	ret = pemove_find_le(in->name, in->le, true, &lv);
	if (!ret && READ_ONCE(lv->les[in->le].state))
		ret = -EBUSY;
	if (ret) {
		mutex_unlock(&pemove_mutex);
		goto out_free;
	}
	lv->busy++;		/* keeps the LV while we sleep in writeback */
	mutex_unlock(&pemove_mutex);

	ret = sync_blockdev(lv->disk->part0);

	mutex_lock(&pemove_mutex);
	if (!ret)
		ret = pemove_le_claim(&lv->les[in->le], PEMOVE_LE_WRLOCKED,
				      &inflight);
	if (ret) {
		lv->busy--;
		mutex_unlock(&pemove_mutex);
		goto out_free;
	}
	fl->lv = lv;
	fl->le = in->le;
	list_add(&fl->node, &pf->locks);
	mutex_unlock(&pemove_mutex);

	memcpy(out->name, in->name, sizeof(out->name));
	out->le = in->le;
	out->bios_inflight = inflight;
	return 0;

out_free:
	kfree(fl);
	return ret;
}

/* Drop one legacy lock; pemove_mutex held.  Held writes go to @held. */
static void pemove_file_drop_lock(struct pemove_file_lock *fl,
				  struct bio_list *held)
{
	pemove_le_release(&fl->lv->les[fl->le], PEMOVE_LE_WRLOCKED, NULL, 0,
			  held);
	list_del(&fl->node);
}

int pemove_pe_unlock(struct pemove_file *pf, const struct pemove_pe_lock *in,
		     struct pemove_pe_lock *out)
{
	struct bio_list held = BIO_EMPTY_LIST;
	struct pemove_file_lock *fl;
	struct pemove_lv *lv;
	int ret;

	if (!pemove_lock_args_valid(in, false))
		return -EINVAL;

	mutex_lock(&pemove_mutex);
	ret = pemove_find_le(in->name, in->le, false, &lv);
	if (ret)
		goto out_unlock;
	fl = pemove_file_find_lock(pf, lv, in->le);
	if (!fl) {
		ret = -EINVAL;
		goto out_unlock;
	}
	pemove_file_drop_lock(fl, &held);
	mutex_unlock(&pemove_mutex);

	pemove_resubmit(&held);
	pemove_lv_unbusy(lv);
	kfree(fl);
	memcpy(out->name, in->name, sizeof(out->name));
	out->le = in->le;
	return 0;

out_unlock:
	mutex_unlock(&pemove_mutex);
	return ret;
}

/*
 * PE_REMAP: point a write-locked LE at a new PE, which the caller copied in
 * userspace.  Nothing checks that the copy is complete or coherent; that is
 * the legacy move's other bug.
 */
int pemove_pe_remap(struct pemove_file *pf, const struct pemove_pe_lock *in,
		    struct pemove_pe_lock *out)
{
	struct pemove_pv *dst;
	struct pemove_lv *lv;
	int ret;

	if (!pemove_lock_args_valid(in, true))
		return -EINVAL;

	mutex_lock(&pemove_mutex);
	ret = pemove_find_le(in->name, in->le, true, &lv);
	if (ret)
		goto out_unlock;
	ret = -EINVAL;
	if (!pemove_file_find_lock(pf, lv, in->le))
		goto out_unlock;
	ret = pemove_check_dest(lv, &in->dest, &dst);
	if (ret)
		goto out_unlock;
	pemove_le_switch(&lv->les[in->le], dst, in->dest.sector);
	lv->remaps++;
	mutex_unlock(&pemove_mutex);

	memcpy(out->name, in->name, sizeof(out->name));
	out->le = in->le;
	out->dest = in->dest;
	return 0;

out_unlock:
	mutex_unlock(&pemove_mutex);
	return ret;
}

/* The control file is being closed: drop every legacy lock it holds. */
void pemove_file_unlock_all(struct pemove_file *pf)
{
	struct pemove_file_lock *fl, *tmp;
	struct bio_list held;

	list_for_each_entry_safe(fl, tmp, &pf->locks, node) {
		bio_list_init(&held);
		mutex_lock(&pemove_mutex);
		pemove_file_drop_lock(fl, &held);
		mutex_unlock(&pemove_mutex);
		pemove_resubmit(&held);
		pemove_lv_unbusy(fl->lv);
		kfree(fl);
	}
}
