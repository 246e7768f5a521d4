// SPDX-License-Identifier: GPL-2.0
/*
 * The LV block devices: creation and removal, the PVs they hold open, the
 * bio path and the flush fan-out.
 */
#include "pemove.h"

#include <linux/idr.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>

static DEFINE_IDA(pemove_minors);

/* -- PVs ------------------------------------------------------------------ */

/*
 * Return @lv's PV @dev, opening it if the LV does not hold it yet (then
 * *@opened is true).  Called with pemove_mutex held, which keeps lv->pvs
 * stable for us; lv->pv_mutex orders us against the flush work.
 */
int pemove_lv_get_pv(struct pemove_lv *lv, dev_t dev, struct pemove_pv **pvp,
		     bool *opened)
{
	struct pemove_pv *pv;
	int ret;

	*opened = false;
	list_for_each_entry(pv, &lv->pvs, node) {
		if (pv->dev == dev) {
			*pvp = pv;
			return 0;
		}
	}

	pv = kzalloc(sizeof(*pv), GFP_KERNEL);
	if (!pv)
		return -ENOMEM;
	ret = pemove_bdev_open(dev, pemove_holder, &pv->h);
	if (ret) {
		kfree(pv);
		/* No such device is ENXIO from the block layer, ENODEV to us. */
		return ret == -ENXIO ? -ENODEV : ret;
	}
	pv->dev = dev;

	mutex_lock(&lv->pv_mutex);
	list_add_tail(&pv->node, &lv->pvs);
	lv->pv_count++;
	mutex_unlock(&lv->pv_mutex);

	*pvp = pv;
	*opened = true;
	return 0;
}

/* Close a PV that no LE and no reservation uses. */
void pemove_lv_drop_pv(struct pemove_lv *lv, struct pemove_pv *pv)
{
	mutex_lock(&lv->pv_mutex);
	list_del(&pv->node);
	lv->pv_count--;
	mutex_unlock(&lv->pv_mutex);
	pemove_bdev_close(&pv->h);
	kfree(pv);
}

/* -- the bio path ------------------------------------------------------------ */

void pemove_resubmit(struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		submit_bio_noacct(bio);
}

static void pemove_clone_endio(struct bio *clone)
{
	struct pemove_io *io = container_of(clone, struct pemove_io, clone);
	struct pemove_lv *lv = io->lv;
	struct pemove_le *le = io->le;
	struct bio *orig = io->orig;

	if (unlikely(clone->bi_status))
		orig->bi_status = clone->bi_status;
	bio_put(clone);
	if (le)
		pemove_le_end_io(lv, le);
	bio_endio(orig);
	/*
	 * Last: completing @orig may free a split into lv->split_bs, and the
	 * LV must outlive that.
	 */
	percpu_ref_put(&lv->pending);
}

/* Send @bio, which lies inside LE @le at offset @offset, to its PE. */
static void pemove_map_bio(struct pemove_lv *lv, struct pemove_le *le,
			   struct bio *bio, u32 offset)
{
	struct pemove_io *io;
	struct pemove_pv *pv;
	struct bio *clone;
	sector_t start;

	if (pemove_lv_tracked(lv)) {
		if (!pemove_le_begin_io(lv, le, bio, &pv, &start))
			return;		/* held until the LE is unlocked */
	} else {
		/* Nothing can change the map of an untracked LV. */
		pv = le->pv;
		start = le->start;
		le = NULL;
	}

	percpu_ref_get(&lv->pending);
	/* GFP_NOIO from a mempool: waits for a free clone, never fails. */
	clone = bio_alloc_clone(pv->h.bdev, bio, GFP_NOIO, &lv->clone_bs);
	io = container_of(clone, struct pemove_io, clone);
	io->lv = lv;
	io->le = le;
	io->orig = bio;
	clone->bi_iter.bi_sector = start + offset;
	clone->bi_end_io = pemove_clone_endio;
	submit_bio_noacct(clone);
}

static void pemove_queue_flush(struct pemove_lv *lv, struct bio *bio)
{
	unsigned long flags;

	percpu_ref_get(&lv->pending);
	spin_lock_irqsave(&lv->flush_lock, flags);
	bio_list_add(&lv->flush_list, bio);
	spin_unlock_irqrestore(&lv->flush_lock, flags);
	queue_work(pemove_wq, &lv->flush_work);
}

static void pemove_submit_bio(struct bio *bio)
{
	struct pemove_lv *lv = bio->bi_bdev->bd_disk->private_data;
	struct bio *split;
	u32 offset, max;
	u64 le;

	this_cpu_inc(lv->stats->bios);

	/*
	 * A flush is not tied to an extent; the flush work sends one to every
	 * PV, then sends on any data the bio carries without REQ_PREFLUSH.
	 */
	if (bio->bi_opf & REQ_PREFLUSH) {
		pemove_queue_flush(lv, bio);
		return;
	}

	if (unlikely(bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE)) {
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		return;
	}
	if (unlikely(!bio_sectors(bio))) {
		bio_endio(bio);
		return;
	}

	le = div_u64_rem(bio->bi_iter.bi_sector, lv->extent_sectors, &offset);
	if (unlikely(le >= lv->extent_count)) {
		bio_io_error(bio);
		return;
	}

	/*
	 * Split at the extent boundary and hand the rest back to the block
	 * layer, which calls us again once we return.  One split and one clone
	 * per call keep each mempool's guarantee of forward progress.
	 */
	max = lv->extent_sectors - offset;
	if (bio_sectors(bio) > max) {
		split = bio_split(bio, max, GFP_NOIO, &lv->split_bs);
		if (unlikely(!split)) {
			bio_io_error(bio);
			return;
		}
		bio_chain(split, bio);
		submit_bio_noacct(bio);
		bio = split;
		this_cpu_inc(lv->stats->splits);
	}

	pemove_map_bio(lv, &lv->les[le], bio, offset);
}

/* -- flushes ----------------------------------------------------------------- */

static blk_status_t pemove_flush_pvs(struct pemove_lv *lv)
{
	struct pemove_pv *pv;
	int err, ret = 0;

	/*
	 * blkdev_issue_flush() uses a bio on its stack: no allocation, so a
	 * flush always makes progress.
	 */
	mutex_lock(&lv->pv_mutex);
	list_for_each_entry(pv, &lv->pvs, node) {
		err = blkdev_issue_flush(pv->h.bdev);
		if (err && !ret)
			ret = err;
	}
	mutex_unlock(&lv->pv_mutex);
	return errno_to_blk_status(ret);
}

/*
 * Every flush queued before this round started is covered by it, so one
 * round completes them all.  Any PV's error fails them.
 */
static void pemove_flush_work(struct work_struct *work)
{
	struct pemove_lv *lv = container_of(work, struct pemove_lv, flush_work);
	struct bio_list bios;
	blk_status_t status;
	struct bio *bio;

	for (;;) {
		spin_lock_irq(&lv->flush_lock);
		bios = lv->flush_list;
		bio_list_init(&lv->flush_list);
		spin_unlock_irq(&lv->flush_lock);
		if (bio_list_empty(&bios))
			return;

		status = pemove_flush_pvs(lv);
		this_cpu_inc(lv->stats->flushes);

		while ((bio = bio_list_pop(&bios))) {
			if (status || !bio_sectors(bio)) {
				bio->bi_status = status;
				bio_endio(bio);
			} else {
				bio->bi_opf &= ~REQ_PREFLUSH;
				submit_bio_noacct(bio);
			}
			/* LV_REMOVE cancels this work before freeing the LV. */
			percpu_ref_put(&lv->pending);
		}
	}
}

/* -- block device operations --------------------------------------------------- */

int pemove_lv_open(struct gendisk *disk)
{
	struct pemove_lv *lv = disk->private_data;
	int ret = 0;

	spin_lock(&lv->open_lock);
	if (lv->removing)
		ret = -ENXIO;
	else
		lv->open_count++;
	spin_unlock(&lv->open_lock);
	return ret;
}

void pemove_lv_release(struct gendisk *disk)
{
	struct pemove_lv *lv = disk->private_data;

	spin_lock(&lv->open_lock);
	lv->open_count--;
	spin_unlock(&lv->open_lock);
}

static const struct block_device_operations pemove_bdops = {
	.owner		= THIS_MODULE,
	.submit_bio	= pemove_submit_bio,
	.open		= pemove_bdops_open,
	.release	= pemove_bdops_release,
};

/* -- lifecycle ----------------------------------------------------------------- */

static void pemove_lv_pending_release(struct percpu_ref *ref)
{
	struct pemove_lv *lv = container_of(ref, struct pemove_lv, pending);

	complete(&lv->pending_done);
}

/* Free an LV at any stage of construction after pemove_lv_alloc(). */
static void pemove_lv_free(struct pemove_lv *lv)
{
	struct pemove_pv *pv, *tmp;

	list_for_each_entry_safe(pv, tmp, &lv->pvs, node) {
		list_del(&pv->node);
		pemove_bdev_close(&pv->h);
		kfree(pv);
	}
	pemove_copy_free(lv);
	percpu_ref_exit(&lv->pending);
	bioset_exit(&lv->clone_bs);
	bioset_exit(&lv->split_bs);
	free_percpu(lv->stats);
	kvfree(lv->les);
	kfree(lv);
}

static struct pemove_lv *pemove_lv_alloc(const struct pemove_lv_create *in)
{
	struct pemove_lv *lv;
	int ret = -ENOMEM;

	lv = kzalloc(sizeof(*lv), GFP_KERNEL);
	if (!lv)
		return ERR_PTR(-ENOMEM);
	strscpy(lv->name, in->name, sizeof(lv->name));
	lv->flags = in->lv_flags;
	lv->extent_sectors = in->extent_sectors;
	lv->extent_count = in->extent_count;
	lv->minor = -1;
	mutex_init(&lv->pv_mutex);
	INIT_LIST_HEAD(&lv->pvs);
	init_completion(&lv->pending_done);
	init_waitqueue_head(&lv->wait);
	spin_lock_init(&lv->open_lock);
	spin_lock_init(&lv->flush_lock);
	bio_list_init(&lv->flush_list);
	INIT_WORK(&lv->flush_work, pemove_flush_work);
	mutex_init(&lv->copy_mutex);

	lv->les = kvcalloc(lv->extent_count, sizeof(*lv->les), GFP_KERNEL);
	if (!lv->les)
		goto out_free;
	lv->stats = alloc_percpu(struct pemove_stats);
	if (!lv->stats)
		goto out_free;
	ret = bioset_init(&lv->split_bs, BIO_POOL_SIZE, 0, 0);
	if (ret)
		goto out_free;
	ret = bioset_init(&lv->clone_bs, BIO_POOL_SIZE,
			  offsetof(struct pemove_io, clone), 0);
	if (ret)
		goto out_free;
	ret = percpu_ref_init(&lv->pending, pemove_lv_pending_release, 0,
			      GFP_KERNEL);
	if (ret)
		goto out_free;
	if (pemove_lv_tracked(lv)) {
		ret = pemove_copy_alloc(lv);
		if (ret)
			goto out_free;
	}
	lv->reserve_bytes += sizeof(*lv) +
		(u64)lv->extent_count * sizeof(*lv->les) +
		2ULL * BIO_POOL_SIZE * (sizeof(struct pemove_io) + sizeof(struct bio));
	return lv;

out_free:
	pemove_lv_free(lv);
	return ERR_PTR(ret);
}

/*
 * Open the PVs of @ext, check that each extent lies inside its PV and is
 * aligned to its logical block size, point the LEs at them, and stack the
 * PVs' queue limits into @lim.
 */
static int pemove_lv_map_extents(struct pemove_lv *lv,
				 const struct pemove_extent *ext,
				 struct queue_limits *lim)
{
	struct block_device *bdev;
	struct pemove_pv *pv;
	unsigned int lbs_sectors;
	sector_t end;
	bool opened;
	u32 i;
	int ret;

	blk_set_stacking_limits(lim);
	for (i = 0; i < lv->extent_count; i++) {
		ret = pemove_lv_get_pv(lv, pemove_devt(&ext[i]), &pv, &opened);
		if (ret)
			return ret;
		bdev = pv->h.bdev;
		if (opened)
			blk_stack_limits(lim, &bdev_get_queue(bdev)->limits, 0);

		lbs_sectors = bdev_logical_block_size(bdev) >> SECTOR_SHIFT;
		if (!IS_ALIGNED(ext[i].sector, lbs_sectors) ||
		    !IS_ALIGNED(lv->extent_sectors, lbs_sectors) ||
		    check_add_overflow((sector_t)ext[i].sector,
				       (sector_t)lv->extent_sectors, &end) ||
		    end > bdev_nr_sectors(bdev))
			return -EINVAL;
		pemove_le_init(&lv->les[i], pv, ext[i].sector);
	}
	lv->lbs = lim->logical_block_size;
	return 0;
}

static int pemove_lv_add_disk(struct pemove_lv *lv, struct queue_limits *lim)
{
	struct gendisk *disk;
	int ret;

	disk = pemove_alloc_disk(lim);
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	ret = ida_alloc_max(&pemove_minors, MINORMASK, GFP_KERNEL);
	if (ret < 0)
		goto out_put_disk;
	lv->minor = ret;

	disk->major = pemove_major;
	disk->first_minor = lv->minor;
	disk->minors = 1;
	disk->flags |= GENHD_FL_NO_PART;
	disk->fops = &pemove_bdops;
	disk->private_data = lv;
	snprintf(disk->disk_name, DISK_NAME_LEN, "pemove%d", lv->minor);
	set_capacity(disk, (sector_t)lv->extent_sectors * lv->extent_count);

	ret = add_disk(disk);
	if (ret)
		goto out_free_minor;
	lv->disk = disk;
	return 0;

out_free_minor:
	ida_free(&pemove_minors, lv->minor);
	lv->minor = -1;
out_put_disk:
	put_disk(disk);
	return ret;
}

int pemove_lv_create(const struct pemove_lv_create *in,
		     struct pemove_lv_create *out)
{
	struct pemove_extent *ext;
	struct queue_limits lim;
	struct pemove_lv *lv;
	u64 capacity;
	int ret;

	if (!pemove_name_valid(in->name) ||
	    !pemove_zero(in->reserved, sizeof(in->reserved)) ||
	    (in->lv_flags & ~PEMOVE_LV_NOTRACK) ||
	    !in->extent_sectors ||
	    !IS_ALIGNED(in->extent_sectors, PEMOVE_EXTENT_ALIGN_SECTORS) ||
	    in->extent_sectors > (1ULL << 31) ||
	    !in->extent_count || in->extent_count > PEMOVE_MAX_EXTENTS ||
	    check_mul_overflow(in->extent_sectors, (u64)in->extent_count,
			       &capacity))
		return -EINVAL;

	ext = kvmalloc_array(in->extent_count, sizeof(*ext), GFP_KERNEL);
	if (!ext)
		return -ENOMEM;
	if (copy_from_user(ext, u64_to_user_ptr(in->extents),
			   array_size(in->extent_count, sizeof(*ext)))) {
		ret = -EFAULT;
		goto out_free_ext;
	}
	lv = pemove_lv_alloc(in);
	if (IS_ERR(lv)) {
		ret = PTR_ERR(lv);
		goto out_free_ext;
	}

	mutex_lock(&pemove_mutex);
	ret = -EEXIST;
	if (pemove_lv_find(in->name))
		goto out_unlock;
	ret = pemove_lv_map_extents(lv, ext, &lim);
	if (ret)
		goto out_unlock;
	ret = pemove_check_new_map(ext, lv->extent_count, lv->extent_sectors);
	if (ret)
		goto out_unlock;
	ret = pemove_lv_add_disk(lv, &lim);
	if (ret)
		goto out_unlock;
	list_add_tail(&lv->node, &pemove_lvs);
	/* Each LV pins the module; LV_REMOVE drops the reference. */
	__module_get(THIS_MODULE);
	mutex_unlock(&pemove_mutex);

	memcpy(out->name, in->name, sizeof(out->name));
	out->extent_sectors = in->extent_sectors;
	out->extents = in->extents;
	out->extent_count = in->extent_count;
	out->lv_flags = in->lv_flags;
	strscpy(out->disk_name, lv->disk->disk_name, sizeof(out->disk_name));
	out->disk_major = pemove_major;
	out->disk_minor = lv->minor;
	kvfree(ext);
	return 0;

out_unlock:
	mutex_unlock(&pemove_mutex);
	pemove_lv_free(lv);
out_free_ext:
	kvfree(ext);
	return ret;
}

int pemove_lv_remove(const struct pemove_lv_remove *in)
{
	struct pemove_lv *lv;
	int ret = 0;

	if (!pemove_name_valid(in->name) ||
	    !pemove_zero(in->reserved, sizeof(in->reserved)))
		return -EINVAL;

	mutex_lock(&pemove_mutex);
	lv = pemove_lv_find(in->name);
	if (!lv) {
		mutex_unlock(&pemove_mutex);
		return -ENOENT;
	}
	spin_lock(&lv->open_lock);
	if (lv->open_count || lv->busy)
		ret = -EBUSY;
	else
		lv->removing = true;	/* from now on, opens fail */
	spin_unlock(&lv->open_lock);
	if (!ret)
		list_del(&lv->node);
	mutex_unlock(&pemove_mutex);
	if (ret)
		return ret;

	del_gendisk(lv->disk);
	/*
	 * Nothing can submit to the LV any more, and no LE is locked, so no
	 * bio is held.  Wait for the clones and flushes still in flight.
	 */
	percpu_ref_kill(&lv->pending);
	wait_for_completion(&lv->pending_done);
	cancel_work_sync(&lv->flush_work);
	put_disk(lv->disk);
	ida_free(&pemove_minors, lv->minor);
	pemove_lv_free(lv);
	module_put(THIS_MODULE);
	return 0;
}

/* -- reporting ----------------------------------------------------------------- */

/* Called with pemove_mutex held; @info is zeroed. */
void pemove_lv_info(struct pemove_lv *lv, struct pemove_lv_info *info)
{
	strscpy(info->name, lv->name, sizeof(info->name));
	strscpy(info->disk_name, lv->disk->disk_name, sizeof(info->disk_name));
	info->disk_major = pemove_major;
	info->disk_minor = lv->minor;
	info->extent_sectors = lv->extent_sectors;
	info->extent_count = lv->extent_count;
	info->lv_flags = lv->flags;
	spin_lock(&lv->open_lock);
	info->open_count = lv->open_count;
	spin_unlock(&lv->open_lock);
	info->pv_count = lv->pv_count;
	info->reserve_bytes = lv->reserve_bytes;
}

/*
 * Called with pemove_mutex held; @c is zeroed.  The per-CPU counters are
 * summed without stopping the bio path, so they are a snapshot, not a
 * consistent cut.
 */
void pemove_lv_counters(struct pemove_lv *lv, struct pemove_lv_counters *c)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct pemove_stats *s = per_cpu_ptr(lv->stats, cpu);

		c->bios += s->bios;
		c->splits += s->splits;
		c->flushes += s->flushes;
		c->held += s->held;
	}
	c->moves = lv->moves;
	c->moves_failed = lv->moves_failed;
	c->bytes_moved = lv->bytes_moved;
	c->remaps = lv->remaps;
}
