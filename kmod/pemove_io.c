// SPDX-License-Identifier: GPL-2.0
/*
 * The bio path of an LV: split at extent (and, while an LE is copied live,
 * chunk) boundaries, route each piece through its LE's state, clone it to
 * its PE (or to both PEs of a moving LE), complete the original when every
 * clone is done, and fan flushes out to every PV.
 *
 * Allocation: clones come from the LV's mempool-backed bio_sets, GFP_NOIO,
 * at most one per pool per call (the split, the first leg, the second leg
 * each have their own), and any remainder goes back to the block layer with
 * submit_bio_noacct(), as device-mapper does; that keeps each pool's
 * guarantee of forward progress.  Nothing else is allocated here.
 *
 * Observability: each piece is accounted on the LV (bio_start_io_acct), so
 * /proc/diskstats and iostat see it, and every clone emits the block remap
 * tracepoint, so blktrace on the LV shows where each piece went.
 */
#include "pemove.h"

#include <trace/events/block.h>

void pemove_stat_add(struct pemove_lv *lv, enum pemove_stat idx, u64 n)
{
	struct pemove_stats *s = get_cpu_ptr(lv->stats);
	unsigned long flags;

	flags = u64_stats_update_begin_irqsave(&s->syncp);
	u64_stats_add(&s->v[idx], n);
	u64_stats_update_end_irqrestore(&s->syncp, flags);
	put_cpu_ptr(lv->stats);
}

void pemove_resubmit(struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		submit_bio_noacct(bio);
}

/* Every leg of @p's bio completed: complete the original. */
static void pemove_io_done(struct pemove_io *p, bool switched)
{
	struct pemove_lv *lv = p->lv;
	struct bio *orig = p->orig;
	blk_status_t status;

	/*
	 * A mirrored write completes with the status of the PE the map names
	 * when it completes: the source before the switch (a destination
	 * failure fails the move instead), the destination after it.  A
	 * discard or write-zeroes the destination cannot do fails with
	 * NOTSUPP, so the caller falls back to plain writes, which mirror.
	 */
	status = switched && p->mirrored ? p->dst_status : p->src_status;
	if (p->mirrored && p->dst_status == BLK_STS_NOTSUPP)
		status = BLK_STS_NOTSUPP;
	if (unlikely(status))
		orig->bi_status = status;
	if (p->accounted)
		bio_end_io_acct(orig, p->acct_start);
	bio_put(&p->clone);
	bio_endio(orig);
	/*
	 * Last: completing @orig may free a split into lv->split_bs, and the
	 * LV must outlive that.
	 */
	percpu_ref_put(&lv->pending);
}

static void pemove_clone_endio(struct bio *clone)
{
	struct pemove_io *io = container_of(clone, struct pemove_io, clone);
	struct pemove_io *p = io->primary;
	struct pemove_move *m = io->move;
	struct pemove_lv *lv = io->lv;
	struct pemove_pv *pv = io->pv;
	bool last, switched = false;
	unsigned int wake = 0;

	if (io->leg == PEMOVE_LEG_DST)
		p->dst_status = clone->bi_status;
	else
		p->src_status = clone->bi_status;
	last = atomic_dec_and_test(&p->legs);
	if (io->le)
		wake = pemove_le_end_io(io->le, m, io->leg, io->chunk, last,
					clone->bi_status, &switched);
	if (io != p)
		bio_put(clone);		/* the second leg; @p completes @orig */
	percpu_ref_put(&pv->io_ref);
	/*
	 * The mover waits on lv->wait, never on the move, so waking cannot
	 * touch a move freed the moment its last clone was uncounted; the LV
	 * outlives us through lv->pending.
	 */
	if (wake)
		wake_up(&lv->wait);
	if (!last)
		return;
	/*
	 * Before the switch, a failed destination leg of a detached move
	 * parks the write: it completes when PE_MOVE_END ends the move,
	 * after userspace recorded the source as the LE's home again.
	 */
	if (unlikely(p->mirrored && !switched && p->dst_status &&
		     p->dst_status != BLK_STS_NOTSUPP) &&
	    pemove_le_park(p->le, &p->clone))
		return;
	pemove_io_done(p, switched);
}

/* Complete the parked writes of an ended move, with their source status. */
void pemove_complete_parked(struct bio_list *done)
{
	struct bio *clone;

	while ((clone = bio_list_pop(done)))
		pemove_io_done(container_of(clone, struct pemove_io, clone),
			       false);
}

/* A clone of @bio to @sector of @pv, which the caller pinned (io_ref). */
static struct pemove_io *pemove_clone(struct pemove_lv *lv, struct bio *bio,
				      struct pemove_pv *pv, sector_t sector,
				      struct bio_set *bs)
{
	struct pemove_io *io;
	struct bio *clone;

	/* GFP_NOIO from a mempool: waits for a free clone, never fails. */
	clone = bio_alloc_clone(pv->h.bdev, bio, GFP_NOIO, bs);
	io = container_of(clone, struct pemove_io, clone);
	io->lv = lv;
	io->pv = pv;
	io->orig = bio;
	io->primary = io;
	io->chunk = U32_MAX;
	io->accounted = false;
	io->mirrored = false;
	io->src_status = BLK_STS_OK;
	io->dst_status = BLK_STS_OK;
	clone->bi_iter.bi_sector = sector;
	clone->bi_end_io = pemove_clone_endio;
	trace_block_bio_remap(clone, disk_devt(lv->disk),
			      bio->bi_iter.bi_sector);
	return io;
}

/* Send @bio, which lies inside LE @le at offset @offset, where it goes. */
static void pemove_map_bio(struct pemove_lv *lv, struct pemove_le *le,
			   struct bio *bio, u32 offset)
{
	struct pemove_routing r = { .chunk = U32_MAX };
	enum pemove_route route;
	struct pemove_io *io, *io2;

	if (pemove_lv_tracked(lv)) {
		route = pemove_le_route(le, bio, offset, &r);
		if (route == PEMOVE_ROUTE_HELD || route == PEMOVE_ROUTE_WAIT) {
			pemove_stat_add(lv, PEMOVE_STAT_HELD, 1);
			if (!op_is_write(bio_op(bio)))
				pemove_stat_add(lv, PEMOVE_STAT_READS_HELD, 1);
			return;		/* resubmitted when released */
		}
	} else {
		/* Nothing can change the map of an untracked LV. */
		route = PEMOVE_ROUTE_GO;
		r.pv = le->pv;
		r.start = le->start + offset;
		percpu_ref_get(&r.pv->io_ref);
		le = NULL;
	}

	percpu_ref_get(&lv->pending);
	io = pemove_clone(lv, bio, r.pv, r.start, &lv->clone_bs);
	io->le = le;
	io->move = r.move;
	io->chunk = r.chunk;
	io->leg = route == PEMOVE_ROUTE_GO ? PEMOVE_LEG_PLAIN : PEMOVE_LEG_SRC;
	atomic_set(&io->legs, route == PEMOVE_ROUTE_MIRROR ? 2 : 1);
	if (pemove_io_stat(lv->disk)) {
		io->acct_start = bio_start_io_acct(bio);
		io->accounted = true;
	}
	if (route != PEMOVE_ROUTE_MIRROR) {
		submit_bio_noacct(&io->clone);
		return;
	}

	io->mirrored = true;
	io2 = pemove_clone(lv, bio, r.dst, r.dst_start, &lv->mirror_bs);
	io2->le = le;
	io2->move = r.move;
	io2->primary = io;
	io2->leg = PEMOVE_LEG_DST;
	pemove_stat_add(lv, PEMOVE_STAT_MIRRORED, 1);
	submit_bio_noacct(&io->clone);
	submit_bio_noacct(&io2->clone);
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

static bool pemove_op_supported(const struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		return true;
	default:
		return false;
	}
}

void pemove_submit_bio(struct bio *bio)
{
	struct pemove_lv *lv = bio->bi_bdev->bd_disk->private_data;
	unsigned int chunk_shift = 0;
	struct pemove_le *le;
	struct bio *split;
	u32 index, offset, max;

	pemove_stat_add(lv, PEMOVE_STAT_BIOS, 1);

	/*
	 * A flush is not tied to an extent; the flush work sends one to every
	 * PV, then sends on any data the bio carries without REQ_PREFLUSH.
	 */
	if (bio->bi_opf & REQ_PREFLUSH) {
		pemove_queue_flush(lv, bio);
		return;
	}
	if (unlikely(!pemove_op_supported(bio))) {
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		return;
	}
	if (unlikely(!bio_sectors(bio))) {
		bio_endio(bio);
		return;
	}
	if (op_is_discard(bio_op(bio)) || bio_op(bio) == REQ_OP_WRITE_ZEROES)
		pemove_stat_add(lv, PEMOVE_STAT_DISCARDS, 1);

	index = pemove_le_of(bio->bi_iter.bi_sector, lv->extent_sectors,
			     &offset);
	if (unlikely(index >= lv->extent_count)) {
		bio_io_error(bio);
		return;
	}
	le = &lv->les[index];

	/*
	 * Split at the extent boundary, or at the chunk boundary of an LE
	 * being copied live, and hand the rest back to the block layer, which
	 * calls us again once we return.  One split per call keeps the split
	 * pool's guarantee of forward progress.
	 */
	if (pemove_lv_tracked(lv) && op_is_write(bio_op(bio)))
		chunk_shift = pemove_le_split_shift(le);
	max = pemove_max_sectors(offset, bio_sectors(bio), lv->extent_sectors,
				 chunk_shift);
	if (bio_sectors(bio) > max) {
		split = pemove_bio_split(bio, max, GFP_NOIO, &lv->split_bs);
		if (unlikely(!split)) {
			bio_io_error(bio);
			return;
		}
		bio_chain(split, bio);
		submit_bio_noacct(bio);
		bio = split;
		pemove_stat_add(lv, PEMOVE_STAT_SPLITS, 1);
	}

	pemove_map_bio(lv, le, bio, offset);
}

/*
 * Every flush queued before this round started is covered by it, so one
 * round completes them all.  Any PV's error fails them.
 */
void pemove_flush_work(struct work_struct *work)
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

		status = errno_to_blk_status(pemove_pv_flush_all(lv));
		pemove_stat_add(lv, PEMOVE_STAT_FLUSHES, 1);

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
