// SPDX-License-Identifier: GPL-2.0
/*
 * The LV block devices: creation and removal, the block device operations,
 * pinning an LV for a command, and reporting.
 */
#include "pemove.h"

#include <linux/idr.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>

static DEFINE_IDA(pemove_minors);

/* -- block device operations --------------------------------------------- */

static int pemove_lv_open(PEMOVE_BDOPS_OPEN_PARAMS)
{
	struct pemove_lv *lv = PEMOVE_BDOPS_OPEN_DISK->private_data;
	int ret = 0;

	spin_lock(&lv->open_lock);
	if (lv->removing)
		ret = -ENXIO;
	else
		lv->open_count++;
	spin_unlock(&lv->open_lock);
	return ret;
}

static void pemove_lv_release(PEMOVE_BDOPS_RELEASE_PARAMS)
{
	struct pemove_lv *lv = disk->private_data;

	spin_lock(&lv->open_lock);
	lv->open_count--;
	spin_unlock(&lv->open_lock);
}

static const struct block_device_operations pemove_bdops = {
	.owner		= THIS_MODULE,
	.submit_bio	= pemove_submit_bio,
	.open		= pemove_lv_open,
	.release	= pemove_lv_release,
};

/* -- lifecycle ------------------------------------------------------------ */

static void pemove_lv_pending_release(struct percpu_ref *ref)
{
	struct pemove_lv *lv = container_of(ref, struct pemove_lv, pending);

	complete(&lv->pending_done);
}

/* Free an LV at any stage of construction after pemove_lv_alloc(). */
static void pemove_lv_free(struct pemove_lv *lv)
{
	pemove_pv_put_all(lv);
	pemove_copy_release(lv);
	percpu_ref_exit(&lv->pending);
	bioset_exit(&lv->mirror_bs);
	bioset_exit(&lv->clone_bs);
	bioset_exit(&lv->split_bs);
	free_percpu(lv->stats);
	kvfree(lv->les);
	kfree(lv);
}

static struct pemove_lv *pemove_lv_alloc(const struct pemove_lv_args *args)
{
	struct pemove_lv *lv;
	int cpu, ret = -ENOMEM;

	lv = kzalloc(sizeof(*lv), GFP_KERNEL);
	if (!lv)
		return ERR_PTR(-ENOMEM);
	strscpy(lv->name, args->name, sizeof(lv->name));
	lv->flags = args->flags;
	lv->extent_sectors = args->extent_sectors;
	lv->extent_count = args->extent_count;
	lv->pv_reserved = args->pv_reserved;
	lv->minor = -1;
	spin_lock_init(&lv->pv_lock);
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
	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(lv->stats, cpu)->syncp);
	ret = bioset_init(&lv->split_bs, BIO_POOL_SIZE, 0, 0);
	if (ret)
		goto out_free;
	ret = bioset_init(&lv->clone_bs, BIO_POOL_SIZE,
			  offsetof(struct pemove_io, clone), 0);
	if (ret)
		goto out_free;
	ret = bioset_init(&lv->mirror_bs, BIO_POOL_SIZE,
			  offsetof(struct pemove_io, clone), 0);
	if (ret)
		goto out_free;
	ret = percpu_ref_init(&lv->pending, pemove_lv_pending_release, 0,
			      GFP_KERNEL);
	if (ret)
		goto out_free;
	if (pemove_lv_tracked(lv)) {
		ret = pemove_copy_reserve(lv);
		if (ret)
			goto out_free;
	}
	lv->reserve_bytes += sizeof(*lv) +
		(u64)lv->extent_count * sizeof(*lv->les) +
		3ULL * BIO_POOL_SIZE * (sizeof(struct pemove_io) + sizeof(struct bio));
	return lv;

out_free:
	pemove_lv_free(lv);
	return ERR_PTR(ret);
}

/*
 * Take the PVs of @ext, check that each extent lies inside its PV, past the
 * reserved area and aligned to the PV's logical block size, point the LEs
 * at them, and stack each extent's limits (at its real offset) into @lim.
 * Sleeps (it opens PVs): called before the LV is visible to anyone.
 */
static int pemove_lv_map_extents(struct pemove_lv *lv,
				 const struct pemove_extent *ext,
				 struct queue_limits *lim, bool *stable)
{
	struct block_device *bdev;
	bool discard = true;
	unsigned int lbs_sectors;
	struct pemove_pv *pv;
	sector_t end;
	u32 i;
	int ret;

	blk_set_stacking_limits(lim);
	*stable = false;
	for (i = 0; i < lv->extent_count; i++) {
		ret = pemove_pv_get(lv, pemove_devt(&ext[i]), &pv);
		if (ret)
			return ret;
		pemove_le_init(&lv->les[i], pv, ext[i].sector);
		bdev = pv->h.bdev;
		lbs_sectors = bdev_logical_block_size(bdev) >> SECTOR_SHIFT;
		if (!IS_ALIGNED(ext[i].sector, lbs_sectors) ||
		    !IS_ALIGNED(lv->extent_sectors, lbs_sectors) ||
		    ext[i].sector < lv->pv_reserved ||
		    check_add_overflow((sector_t)ext[i].sector,
				       (sector_t)lv->extent_sectors, &end) ||
		    end > bdev_nr_sectors(bdev))
			return -EINVAL;
		if (!pemove_pv_stack_limits(lim, pv, ext[i].sector))
			discard = false;
		*stable |= pemove_stable_writes(bdev);
	}
	if (!discard)
		lim->max_hw_discard_sectors = 0;
	return 0;
}

static int pemove_lv_add_disk(struct pemove_lv *lv, struct queue_limits *lim,
			      bool stable)
{
	struct gendisk *disk;
	int ret;

	disk = pemove_alloc_disk(lim, stable);
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
	lv->disk = disk;
	pemove_disk_limits(disk, &lv->lim);

	ret = add_disk(disk);
	if (ret)
		goto out_free_minor;
	return 0;

out_free_minor:
	lv->disk = NULL;
	ida_free(&pemove_minors, lv->minor);
	lv->minor = -1;
out_put_disk:
	put_disk(disk);
	return ret;
}

/*
 * Create an LV from arguments the caller validated.  The PVs are opened
 * before pemove_mutex is taken, so a slow device delays only this command.
 */
struct pemove_lv *pemove_lv_create(const struct pemove_lv_args *args)
{
	struct queue_limits lim;
	struct pemove_lv *lv;
	bool stable;
	int ret;

	lv = pemove_lv_alloc(args);
	if (IS_ERR(lv))
		return lv;
	ret = pemove_lv_map_extents(lv, args->ext, &lim, &stable);
	if (ret)
		goto out_free;

	mutex_lock(&pemove_mutex);
	ret = -EEXIST;
	if (pemove_lv_find(args->name))
		goto out_unlock;
	ret = pemove_check_new_map(args->ext, lv->extent_count,
				   lv->extent_sectors);
	if (ret)
		goto out_unlock;
	ret = pemove_lv_add_disk(lv, &lim, stable);
	if (ret)
		goto out_unlock;
	list_add_tail(&lv->node, &pemove_lvs);
	/* Each LV pins the module; LV_REMOVE drops the reference. */
	__module_get(THIS_MODULE);
	mutex_unlock(&pemove_mutex);
	return lv;

out_unlock:
	mutex_unlock(&pemove_mutex);
out_free:
	pemove_lv_free(lv);
	return ERR_PTR(ret);
}

int pemove_lv_remove(const char *name)
{
	struct pemove_lv *lv;
	int ret = 0;

	mutex_lock(&pemove_mutex);
	lv = pemove_lv_find(name);
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
	 * Nothing can submit to the LV any more, and no LE is locked or
	 * moving, so no bio is held.  Wait for the clones and flushes still
	 * in flight.
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

/*
 * Pin the LV @name for a command on its LE @le: it cannot be removed until
 * pemove_lv_put().  The checks come in the errno contract's order: ENOENT,
 * EOPNOTSUPP (untracked, if @need_tracking), EINVAL (LE out of range).  The
 * index is clamped under speculation, as dm-ioctl does, since it comes from
 * userspace and indexes lv->les[].
 */
struct pemove_lv *pemove_lv_get(const char *name, bool need_tracking, u64 le,
				u32 *index)
{
	struct pemove_lv *lv;
	int ret = 0;

	mutex_lock(&pemove_mutex);
	lv = pemove_lv_find(name);
	if (!lv)
		ret = -ENOENT;
	else if (need_tracking && !pemove_lv_tracked(lv))
		ret = -EOPNOTSUPP;
	else if (le >= lv->extent_count)
		ret = -EINVAL;
	else
		lv->busy++;
	mutex_unlock(&pemove_mutex);
	if (ret)
		return ERR_PTR(ret);
	*index = array_index_nospec((u32)le, lv->extent_count);
	return lv;
}

void pemove_lv_put(struct pemove_lv *lv)
{
	mutex_lock(&pemove_mutex);
	lv->busy--;
	mutex_unlock(&pemove_mutex);
}

/* -- reporting ------------------------------------------------------------ */

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
	spin_lock(&lv->pv_lock);
	info->pv_count = lv->pv_count;
	spin_unlock(&lv->pv_lock);
	info->reserve_bytes = lv->reserve_bytes;
}

static u64 pemove_stat_sum(struct pemove_lv *lv, enum pemove_stat idx)
{
	unsigned int start;
	u64 sum = 0, v;
	int cpu;

	for_each_possible_cpu(cpu) {
		const struct pemove_stats *s = per_cpu_ptr(lv->stats, cpu);

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			v = u64_stats_read(&s->v[idx]);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		sum += v;
	}
	return sum;
}

/*
 * @c is zeroed.  Each per-CPU counter is read whole (u64_stats), but the
 * sum is taken without stopping the bio path: a snapshot, not a cut.
 */
void pemove_lv_counters(struct pemove_lv *lv, struct pemove_lv_counters *c)
{
	c->bios = pemove_stat_sum(lv, PEMOVE_STAT_BIOS);
	c->splits = pemove_stat_sum(lv, PEMOVE_STAT_SPLITS);
	c->flushes = pemove_stat_sum(lv, PEMOVE_STAT_FLUSHES);
	c->held = pemove_stat_sum(lv, PEMOVE_STAT_HELD);
	c->reads_held = pemove_stat_sum(lv, PEMOVE_STAT_READS_HELD);
	c->writes_mirrored = pemove_stat_sum(lv, PEMOVE_STAT_MIRRORED);
	c->discards = pemove_stat_sum(lv, PEMOVE_STAT_DISCARDS);
	c->moves = atomic64_read(&lv->moves);
	c->moves_failed = atomic64_read(&lv->moves_failed);
	c->bytes_moved = atomic64_read(&lv->bytes_moved);
	c->remaps = atomic64_read(&lv->remaps);
}
