/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels pemove builds for.
 *
 * pemove supports two generations of the block layer API:
 *
 *   - 6.1 .. 6.4: PVs are opened with blkdev_get_by_dev(fmode_t) and put with
 *     blkdev_put(); ->open() gets a block_device and ->release() an fmode_t;
 *     blk_alloc_disk() takes only a NUMA node, and queue limits and the write
 *     cache are set on the live queue with the blk_queue_*() setters.
 *
 *   - 6.11 and later:
 *       v6.5  "block: pass a gendisk to ->open" and "block: remove the unused
 *             mode argument to ->release" changed the block_device_operations
 *             signatures;
 *       v6.9  "bdev: open block device as files" added bdev_file_open_by_dev()
 *             and file_bdev() (a PV is then held as a struct file, put with
 *             fput());
 *       v6.9  "block: pass a queue_limits argument to blk_alloc_disk" made the
 *             limits an argument of the allocation;
 *       v6.11 "block: move cache control settings out of queue->flags" moved
 *             the write cache and FUA flags into queue_limits.features.
 *
 * Kernels in between had intermediate APIs (struct bdev_handle, 6.7-6.8) that
 * nobody here tests, so they are refused at build time rather than guessed.
 *
 * The .c files use only what this header defines, and contain no version
 * checks of their own.
 */
#ifndef _PEMOVE_COMPAT_H
#define _PEMOVE_COMPAT_H

#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/file.h>

/*
 * The generation is told by what the headers define, not by the version
 * number, so that a distribution kernel with these changes backported gets
 * the API it really has: BLK_OPEN_READ came with blk_mode_t in v6.5, and
 * BLK_FEAT_WRITE_CACHE with queue_limits.features in v6.11.
 */
#if defined(BLK_FEAT_WRITE_CACHE)
#define PEMOVE_NEW_BLOCK_API 1
#elif defined(BLK_OPEN_READ)
#error "pemove supports Linux 6.1 to 6.4 and 6.11 or later"
#else
#define PEMOVE_NEW_BLOCK_API 0
#endif

/* A PV held open by an LV. */
struct pemove_bdev_handle {
#if PEMOVE_NEW_BLOCK_API
	struct file *file;
#endif
	struct block_device *bdev;
};

/*
 * Open @dev for reading and writing, exclusively for @holder.  Exclusive
 * opens with the same holder nest, which lets several LVs share a PV while
 * nobody else (a filesystem, LVM, another pemove-unaware user) can claim it.
 */
static inline int pemove_bdev_open(dev_t dev, void *holder,
				   struct pemove_bdev_handle *h)
{
#if PEMOVE_NEW_BLOCK_API
	struct file *file;

	file = bdev_file_open_by_dev(dev, BLK_OPEN_READ | BLK_OPEN_WRITE,
				     holder, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	h->file = file;
	h->bdev = file_bdev(file);
#else
	struct block_device *bdev;

	bdev = blkdev_get_by_dev(dev, FMODE_READ | FMODE_WRITE | FMODE_EXCL,
				 holder);
	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	h->bdev = bdev;
#endif
	return 0;
}

static inline void pemove_bdev_close(struct pemove_bdev_handle *h)
{
#if PEMOVE_NEW_BLOCK_API
	fput(h->file);
#else
	blkdev_put(h->bdev, FMODE_READ | FMODE_WRITE | FMODE_EXCL);
#endif
}

/* ->open and ->release, with the signatures the running kernel expects. */
int pemove_lv_open(struct gendisk *disk);
void pemove_lv_release(struct gendisk *disk);

#if PEMOVE_NEW_BLOCK_API
static inline int pemove_bdops_open(struct gendisk *disk, blk_mode_t mode)
{
	return pemove_lv_open(disk);
}

static inline void pemove_bdops_release(struct gendisk *disk)
{
	pemove_lv_release(disk);
}
#else
static inline int pemove_bdops_open(struct block_device *bdev, fmode_t mode)
{
	return pemove_lv_open(bdev->bd_disk);
}

static inline void pemove_bdops_release(struct gendisk *disk, fmode_t mode)
{
	pemove_lv_release(disk);
}
#endif

/*
 * Allocate a bio-based gendisk with limits @lim, which the caller stacked
 * from the PVs.  What pemove needs on top of the stacked limits is applied
 * here: a write cache with FUA (so that flushes reach us and we fan them out
 * to every PV), and no discard or write-zeroes, which the bio path rejects.
 * Returns an ERR_PTR on failure.
 */
static inline struct gendisk *pemove_alloc_disk(struct queue_limits *lim)
{
	struct gendisk *disk;

	lim->max_hw_discard_sectors = 0;
	lim->max_write_zeroes_sectors = 0;
	lim->max_secure_erase_sectors = 0;
#if PEMOVE_NEW_BLOCK_API
	/*
	 * Stacking inherits ZONED from a zoned PV, and blk_set_stacking_limits()
	 * offers NOWAIT and POLL; the remapping bio path supports none of them.
	 */
	lim->features &= ~(BLK_FEAT_ZONED | BLK_FEAT_NOWAIT | BLK_FEAT_POLL);
	lim->features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
	disk = blk_alloc_disk(lim, NUMA_NO_NODE);
#else
	disk = blk_alloc_disk(NUMA_NO_NODE);
	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, lim->logical_block_size);
	blk_queue_physical_block_size(disk->queue, lim->physical_block_size);
	blk_queue_io_min(disk->queue, lim->io_min);
	blk_queue_io_opt(disk->queue, lim->io_opt);
	blk_queue_max_hw_sectors(disk->queue, lim->max_hw_sectors);
	blk_queue_max_segments(disk->queue, lim->max_segments);
	blk_queue_max_segment_size(disk->queue, lim->max_segment_size);
	blk_queue_max_discard_sectors(disk->queue, 0);
	blk_queue_max_write_zeroes_sectors(disk->queue, 0);
	blk_queue_write_cache(disk->queue, true, true);
#endif
	return disk;
}

#endif /* _PEMOVE_COMPAT_H */
