// SPDX-License-Identifier: GPL-2.0
/*
 * The PVs an LV holds: claim, release, the checks a device must pass to
 * become a PV or a move destination, limit stacking, and the parallel flush
 * of every PV.
 *
 * An LV holds a PV only while it uses it: pv->users counts the LEs mapped to
 * it and the moves whose destination it is.  When the count drops to zero
 * the PV leaves lv->pvs (so flushes stop going to it), its IO in flight is
 * waited for through pv->io_ref, and it is closed, which gives the exclusive
 * claim back before pemove_pv_put() returns: another user (mkfs, dmsetup,
 * another LV) can claim an evacuated disk at once.
 *
 * That wait is the kill of a percpu_ref, so it lasts an RCU grace period:
 * about 11 ms on one vCPU at HZ=250, most of a small move that empties its
 * source PV.  It is paid once per PV released, not per extent moved, and
 * closing later instead would leave the disk busy after PE_MOVE returned.
 */
#include "pemove.h"

#include <linux/slab.h>

static void pemove_pv_io_release(struct percpu_ref *ref)
{
	struct pemove_pv *pv = container_of(ref, struct pemove_pv, io_ref);

	complete(&pv->io_done);
}

/* Called with lv->pv_lock held. */
static struct pemove_pv *pemove_pv_find(struct pemove_lv *lv, dev_t dev)
{
	struct pemove_pv *pv;

	list_for_each_entry(pv, &lv->pvs, node)
		if (pv->dev == dev)
			return pv;
	return NULL;
}

/*
 * Devices that cannot be PVs.  A pemove LV stacked on itself or on another
 * pemove LV deadlocks: the copy's writes and the flush fan-out would go
 * through the LV being moved.  A zoned device needs sequential writes the
 * remapping bio path does not keep, as device-mapper refuses zoned devices
 * for targets without zoned support.
 */
static int pemove_pv_usable(struct block_device *bdev)
{
	if (MAJOR(bdev->bd_dev) == pemove_major)
		return -ELOOP;
	if (bdev_is_zoned(bdev))
		return -EMEDIUMTYPE;
	return 0;
}

static void pemove_pv_free(struct pemove_pv *pv)
{
	percpu_ref_exit(&pv->io_ref);
	kfree(pv);
}

static struct pemove_pv *pemove_pv_open(dev_t dev)
{
	struct pemove_pv *pv;
	int ret;

	pv = kzalloc(sizeof(*pv), GFP_KERNEL);
	if (!pv)
		return ERR_PTR(-ENOMEM);
	ret = percpu_ref_init(&pv->io_ref, pemove_pv_io_release, 0, GFP_KERNEL);
	if (ret) {
		kfree(pv);
		return ERR_PTR(ret);
	}
	init_completion(&pv->io_done);
	init_completion(&pv->flush_done);
	pv->dev = dev;

	ret = pemove_bdev_open(dev, pemove_holder, &pv->h);
	if (ret) {
		pemove_pv_free(pv);
		/* No such device is ENXIO from the block layer, ENODEV to us. */
		return ERR_PTR(ret == -ENXIO ? -ENODEV : ret);
	}
	ret = pemove_pv_usable(pv->h.bdev);
	if (ret) {
		pemove_bdev_close(&pv->h);
		pemove_pv_free(pv);
		return ERR_PTR(ret);
	}
	return pv;
}

/* Wait for @pv's IO, close it and free it; it is off every list. */
static void pemove_pv_close(struct pemove_pv *pv)
{
	percpu_ref_kill(&pv->io_ref);
	wait_for_completion(&pv->io_done);
	pemove_bdev_close(&pv->h);
	pemove_pv_free(pv);
}

/*
 * Take a use of @lv's PV @dev, opening it if the LV does not hold it yet.
 * Sleeps; call with no spinlock and no IO held.
 */
int pemove_pv_get(struct pemove_lv *lv, dev_t dev, struct pemove_pv **pvp)
{
	struct pemove_pv *pv, *new;

	spin_lock(&lv->pv_lock);
	pv = pemove_pv_find(lv, dev);
	if (pv)
		pv->users++;
	spin_unlock(&lv->pv_lock);
	if (pv) {
		*pvp = pv;
		return 0;
	}

	new = pemove_pv_open(dev);
	if (IS_ERR(new))
		return PTR_ERR(new);

	/* Another move of this LV may have opened it meanwhile. */
	spin_lock(&lv->pv_lock);
	pv = pemove_pv_find(lv, dev);
	if (pv) {
		pv->users++;
	} else {
		new->users = 1;
		list_add_tail(&new->node, &lv->pvs);
		lv->pv_count++;
	}
	spin_unlock(&lv->pv_lock);
	if (pv)
		pemove_pv_close(new);	/* nested claims: the other one stays */
	*pvp = pv ?: new;
	return 0;
}

/* Drop a use of @pv; the last one closes it.  Sleeps. */
void pemove_pv_put(struct pemove_lv *lv, struct pemove_pv *pv)
{
	bool last;

	spin_lock(&lv->pv_lock);
	last = !--pv->users;
	if (last) {
		list_del(&pv->node);
		lv->pv_count--;
	}
	spin_unlock(&lv->pv_lock);
	if (last)
		pemove_pv_close(pv);
}

/* Close every PV of an LV being freed, whatever uses they still count. */
void pemove_pv_put_all(struct pemove_lv *lv)
{
	struct pemove_pv *pv;

	for (;;) {
		spin_lock(&lv->pv_lock);
		pv = list_first_entry_or_null(&lv->pvs, struct pemove_pv, node);
		if (pv) {
			list_del(&pv->node);
			lv->pv_count--;
		}
		spin_unlock(&lv->pv_lock);
		if (!pv)
			return;
		pemove_pv_close(pv);
	}
}

/*
 * Can @pv take an extent of @lv without breaking what the LV promised its
 * users when it was created?  Block sizes and DMA alignment must not grow,
 * and stable writes must not become needed.  Discard and write-zeroes need
 * no check: a PV without them answers EOPNOTSUPP, which callers handle
 * (blkdev_issue_zeroout() falls back to writing zeroes), and a mirrored
 * one does not fail the move (pemove_io.c).
 */
int pemove_pv_check_dest(struct pemove_lv *lv, struct pemove_pv *pv)
{
	struct block_device *bdev = pv->h.bdev;
	const struct queue_limits *lim = &lv->lim;

	if (bdev_logical_block_size(bdev) > lim->logical_block_size ||
	    bdev_physical_block_size(bdev) > lim->physical_block_size ||
	    bdev_dma_alignment(bdev) > lim->dma_alignment ||
	    (pemove_stable_writes(bdev) && !pemove_stable_writes(lv->disk->part0)))
		return -EINVAL;
	return 0;
}

/*
 * Stack the limits of @pv, for an extent at @start on it, into @lim.  The
 * offset is the extent's real start on the disk (partition start included),
 * as device-mapper stacks a target, so misalignment is seen.  Returns
 * whether @pv takes discards: stacking keeps any PV's discard limit, so the
 * caller must drop discard unless every PV has it.
 */
bool pemove_pv_stack_limits(struct queue_limits *lim, struct pemove_pv *pv,
			    sector_t start)
{
	struct block_device *bdev = pv->h.bdev;

	blk_stack_limits(lim, &bdev_get_queue(bdev)->limits,
			 get_start_sect(bdev) + start);
	return bdev_max_discard_sectors(bdev);
}

static void pemove_pv_flush_endio(struct bio *bio)
{
	struct pemove_pv *pv = container_of(bio, struct pemove_pv, flush_bio);

	complete(&pv->flush_done);
}

/*
 * Flush every PV @lv holds, all at once, and return the first error.  Only
 * the LV's flush work calls this, one round at a time, so each PV's
 * embedded bio is free: no allocation, so a flush always makes progress.
 * Each PV in the round is pinned by an io_ref, so a release waits for the
 * round to finish with it.
 */
int pemove_pv_flush_all(struct pemove_lv *lv)
{
	struct pemove_pv *pv, *tmp;
	LIST_HEAD(round);
	int err, ret = 0;

	spin_lock(&lv->pv_lock);
	list_for_each_entry(pv, &lv->pvs, node) {
		percpu_ref_get(&pv->io_ref);
		list_add_tail(&pv->flush_node, &round);
	}
	spin_unlock(&lv->pv_lock);

	list_for_each_entry(pv, &round, flush_node) {
		bio_init(&pv->flush_bio, pv->h.bdev, NULL, 0,
			 REQ_OP_WRITE | REQ_PREFLUSH);
		pv->flush_bio.bi_end_io = pemove_pv_flush_endio;
		reinit_completion(&pv->flush_done);
		submit_bio(&pv->flush_bio);
	}
	list_for_each_entry_safe(pv, tmp, &round, flush_node) {
		wait_for_completion_io(&pv->flush_done);
		err = blk_status_to_errno(pv->flush_bio.bi_status);
		if (err && !ret)
			ret = err;
		bio_uninit(&pv->flush_bio);
		list_del(&pv->flush_node);
		percpu_ref_put(&pv->io_ref);
	}
	return ret;
}
