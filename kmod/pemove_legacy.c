// SPDX-License-Identifier: GPL-2.0
/*
 * PE_LOCK, PE_REMAP and PE_UNLOCK: the 2002 semantics, kept on purpose so
 * that the harness can rebuild LVM1's userspace pvmove and show its bugs.
 *
 * A lock belongs to the control file that took it (pf->locks, pf->lock) and
 * keeps the LV busy, so that LV_REMOVE refuses it and the LV outlives the
 * held writes.  Closing the file drops every lock it still holds.
 */
#include "pemove.h"

#include <linux/slab.h>

static struct pemove_file_lock *pemove_file_find_lock(struct pemove_file *pf,
						      struct pemove_lv *lv,
						      u32 le)
{
	struct pemove_file_lock *fl;

	lockdep_assert_held(&pf->lock);
	list_for_each_entry(fl, &pf->locks, node)
		if (fl->lv == lv && fl->le == le)
			return fl;
	return NULL;
}

static void pemove_lv_busy(struct pemove_lv *lv, int delta)
{
	mutex_lock(&pemove_mutex);
	lv->busy += delta;
	mutex_unlock(&pemove_mutex);
}

/*
 * PE_LOCK, as LVM1 did it: write back the LV's dirty page cache first, then
 * hold new writes to the LE.  Reads pass, and bios already in flight are only
 * counted, not waited for: that is the 2002 bug this command preserves.
 * Writing back after holding writes would wait for pages whose writes are
 * held, forever.
 */
int pemove_pe_lock(struct pemove_file *pf, struct pemove_lv *lv, u32 le,
		   u32 *inflight)
{
	struct pemove_file_lock *fl;
	int ret;

	if (READ_ONCE(lv->les[le].state))
		return -EBUSY;
	fl = kmalloc(sizeof(*fl), GFP_KERNEL);
	if (!fl)
		return -ENOMEM;
	ret = sync_blockdev(lv->disk->part0);
	if (!ret)
		ret = pemove_le_claim(&lv->les[le], PEMOVE_LE_WRLOCKED, NULL,
				      inflight);
	if (ret) {
		kfree(fl);
		return ret;
	}
	pemove_lv_busy(lv, 1);
	fl->lv = lv;
	fl->le = le;
	mutex_lock(&pf->lock);
	list_add(&fl->node, &pf->locks);
	mutex_unlock(&pf->lock);
	return 0;
}

/* Drop one legacy lock; its held writes go on. */
static void pemove_file_drop_lock(struct pemove_file_lock *fl)
{
	struct bio_list held = BIO_EMPTY_LIST;

	pemove_le_release(&fl->lv->les[fl->le], PEMOVE_LE_WRLOCKED, &held);
	pemove_resubmit(&held);
	pemove_lv_busy(fl->lv, -1);
	kfree(fl);
}

int pemove_pe_unlock(struct pemove_file *pf, struct pemove_lv *lv, u32 le)
{
	struct pemove_file_lock *fl;

	mutex_lock(&pf->lock);
	fl = pemove_file_find_lock(pf, lv, le);
	if (fl)
		list_del(&fl->node);
	mutex_unlock(&pf->lock);
	if (!fl)
		return -EINVAL;
	pemove_file_drop_lock(fl);
	return 0;
}

/*
 * PE_REMAP: point a write-locked LE at a new PE, which the caller copied in
 * userspace.  Nothing checks that the copy is complete or coherent; that is
 * the legacy move's other bug.  The old PE's PV is given back once the IO
 * still in flight to it (which the lock never waited for) has completed.
 */
int pemove_pe_remap(struct pemove_file *pf, struct pemove_lv *lv, u32 le,
		    dev_t dev, sector_t start)
{
	struct pemove_pv *dst, *old;
	sector_t old_start;
	bool locked;
	int ret;

	mutex_lock(&pf->lock);
	locked = pemove_file_find_lock(pf, lv, le);
	mutex_unlock(&pf->lock);
	if (!locked)
		return -EINVAL;

	ret = pemove_pv_get(lv, dev, &dst);
	if (ret)
		return ret;
	ret = pemove_pv_check_dest(lv, dst);
	if (!ret) {
		mutex_lock(&pemove_mutex);
		ret = pemove_check_range(lv, dst, start);
		if (!ret) {
			pemove_le_map(&lv->les[le], &old, &old_start);
			pemove_map_switch(&lv->les[le], dst, start, NULL, NULL,
					  0, NULL, NULL);
		}
		mutex_unlock(&pemove_mutex);
	}
	if (ret) {
		pemove_pv_put(lv, dst);
		return ret;
	}
	atomic64_inc(&lv->remaps);
	pemove_pv_put(lv, old);
	return 0;
}

/* The control file is being closed: drop every legacy lock it holds. */
void pemove_file_unlock_all(struct pemove_file *pf)
{
	struct pemove_file_lock *fl, *tmp;
	LIST_HEAD(locks);

	mutex_lock(&pf->lock);
	list_splice_init(&pf->locks, &locks);
	mutex_unlock(&pf->lock);
	list_for_each_entry_safe(fl, tmp, &locks, node) {
		list_del(&fl->node);
		pemove_file_drop_lock(fl);
	}
}
