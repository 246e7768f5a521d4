/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels pemove builds for.
 *
 * pemove supports two generations of the block layer API:
 *
 *   - 6.1 .. 6.4: PVs are opened with blkdev_get_by_dev(fmode_t) and put with
 *     blkdev_put(); ->open() gets a block_device and ->release() an fmode_t;
 *     blk_alloc_disk() takes only a NUMA node, and queue limits, the write
 *     cache, stable writes and IO statistics are set on the live queue.
 *
 *   - 6.11 and later:
 *       v6.5  "block: pass a gendisk to ->open" and "block: remove the unused
 *             mode argument to ->release" changed the block_device_operations
 *             signatures;
 *       v6.9  "bdev: open block device as files" added bdev_file_open_by_dev()
 *             and file_bdev(); v6.10 "block: add bdev_fput" gave the
 *             synchronous release that device-mapper uses, so the exclusive
 *             claim is dropped before the close returns (a plain fput()
 *             defers it to task work);
 *       v6.9  "block: pass a queue_limits argument to blk_alloc_disk" made the
 *             limits an argument of the allocation;
 *       v6.11 "block: move cache control settings out of queue->flags" moved
 *             the write cache, FUA, stable writes and IO statistics into
 *             queue_limits.features.
 *
 * Kernels in between had intermediate APIs (struct bdev_handle, 6.7-6.8) that
 * nobody here tests, so they are refused at build time rather than guessed.
 *
 * v6.13 "block: Rework bio_split() return value" makes bio_split() return an
 * ERR_PTR instead of NULL; pemove_bio_split() accepts both, so no generation
 * test is needed for it.
 *
 * The .c files use only what this header defines, and contain no version
 * checks of their own.
 */
#ifndef _PEMOVE_COMPAT_H
#define _PEMOVE_COMPAT_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/err.h>
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

/* Close a PV; the exclusive claim is released before this returns. */
static inline void pemove_bdev_close(struct pemove_bdev_handle *h)
{
#if PEMOVE_NEW_BLOCK_API
	bdev_fput(h->file);
#else
	blkdev_put(h->bdev, FMODE_READ | FMODE_WRITE | FMODE_EXCL);
#endif
}

/*
 * The parameters of ->open and ->release, and the gendisk ->open is for:
 * the .c file defines the operations with these, so this header names no
 * function of it.
 */
#if PEMOVE_NEW_BLOCK_API
#define PEMOVE_BDOPS_OPEN_PARAMS	struct gendisk *disk, blk_mode_t mode
#define PEMOVE_BDOPS_RELEASE_PARAMS	struct gendisk *disk
#define PEMOVE_BDOPS_OPEN_DISK		(disk)
#else
#define PEMOVE_BDOPS_OPEN_PARAMS	struct block_device *bdev, fmode_t mode
#define PEMOVE_BDOPS_RELEASE_PARAMS	struct gendisk *disk, fmode_t mode
#define PEMOVE_BDOPS_OPEN_DISK		(bdev->bd_disk)
#endif

/* bio_split(), NULL on failure whatever the generation returns. */
static inline struct bio *pemove_bio_split(struct bio *bio, int sectors,
					   gfp_t gfp, struct bio_set *bs)
{
	struct bio *split = bio_split(bio, sectors, gfp, bs);

	return IS_ERR(split) ? NULL : split;
}

/* Does @bdev ask for pages not to change while they are written? */
static inline bool pemove_stable_writes(struct block_device *bdev)
{
	return bdev_stable_writes(bdev);
}

/* Is IO accounting (the queue's iostats attribute) on for @disk? */
static inline bool pemove_io_stat(struct gendisk *disk)
{
	return blk_queue_io_stat(disk->queue);
}

/*
 * Allocate a bio-based gendisk with limits @lim, which the caller stacked
 * from the PVs.  What pemove needs on top of the stacked limits is applied
 * here: a write cache with FUA (so that flushes reach us and we fan them out
 * to every PV), IO statistics (so iostat sees the LV), stable writes if
 * @stable, and no secure erase.  Zoned PVs are refused before this, so the
 * LV is never zoned.  Returns an ERR_PTR on failure.
 */
static inline struct gendisk *pemove_alloc_disk(struct queue_limits *lim,
						bool stable)
{
	struct gendisk *disk;

	lim->max_secure_erase_sectors = 0;
#if PEMOVE_NEW_BLOCK_API
	/* blk_set_stacking_limits() offers NOWAIT and POLL; we support neither. */
	lim->features &= ~(BLK_FEAT_ZONED | BLK_FEAT_NOWAIT | BLK_FEAT_POLL);
	lim->features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA | BLK_FEAT_IO_STAT;
	if (stable)
		lim->features |= BLK_FEAT_STABLE_WRITES;
	disk = blk_alloc_disk(lim, NUMA_NO_NODE);
#else
	struct request_queue *q;

	disk = blk_alloc_disk(NUMA_NO_NODE);
	if (!disk)
		return ERR_PTR(-ENOMEM);
	q = disk->queue;
	blk_queue_logical_block_size(q, lim->logical_block_size);
	blk_queue_physical_block_size(q, lim->physical_block_size);
	blk_queue_io_min(q, lim->io_min);
	blk_queue_io_opt(q, lim->io_opt);
	blk_queue_alignment_offset(q, lim->alignment_offset);
	blk_queue_dma_alignment(q, lim->dma_alignment);
	blk_queue_max_hw_sectors(q, lim->max_hw_sectors);
	blk_queue_max_segments(q, lim->max_segments);
	blk_queue_max_segment_size(q, lim->max_segment_size);
	blk_queue_segment_boundary(q, lim->seg_boundary_mask);
	blk_queue_virt_boundary(q, lim->virt_boundary_mask);
	blk_queue_max_discard_sectors(q, lim->max_hw_discard_sectors);
	q->limits.discard_granularity = lim->discard_granularity;
	q->limits.discard_alignment = lim->discard_alignment;
	blk_queue_max_write_zeroes_sectors(q, lim->max_write_zeroes_sectors);
	blk_queue_write_cache(q, true, true);
	blk_queue_flag_set(QUEUE_FLAG_IO_STAT, q);
	if (stable)
		blk_queue_flag_set(QUEUE_FLAG_STABLE_WRITES, q);
#endif
	return disk;
}

/* The limits @disk has now, as the LV promised them to its users. */
static inline void pemove_disk_limits(struct gendisk *disk,
				      struct queue_limits *lim)
{
	*lim = disk->queue->limits;
}

#endif /* _PEMOVE_COMPAT_H */
