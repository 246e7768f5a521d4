// SPDX-License-Identifier: GPL-2.0
/*
 * PE_MOVE, PE_MOVE_END and MOVE_STATUS: moving one LE to a new PE.
 *
 * A move, in order:
 *
 *   1. get the copy buffers and the destination PV, check the destination
 *      and reserve it, and claim the LE: all before any IO is held, so that
 *      a failure here changes nothing and an allocation may sleep;
 *   2. copy the PE, chunk by chunk:
 *      - whole-extent (the seed's move): every bio to the LE is held, the
 *        bios in flight are drained, and the whole PE is copied;
 *      - live: reads go to the source; the copier lets one chunk at a time
 *        (two, double-buffered) into the move's window, drains the writes
 *        in flight to it, copies it, and from then on writes to it reach
 *        both PEs (pemove_track.c);
 *      a fatal signal or a failed destination stops the copy at the next
 *      chunk;
 *   3. flush the destination: the copy is durable before the map names it;
 *   4. switch: with PEMOVE_MOVE_SYNC_ONLY the move stops here, in sync
 *      (every write mirrored, no IO held) and PE_MOVE_END switches later;
 *      otherwise the map entry is switched now (pemove_map_switch(), which
 *      takes no mutex), the held bios go to the new PE, and the reads still
 *      in flight to the old PE are waited for before it is given back.
 *
 * If anything fails the map is unchanged: writes stop going to the
 * destination, the writes that waited are resubmitted to the source, the
 * destination's IO is waited for, and the destination is released.
 *
 * A move in sync belongs to the control file that made it.  Closing that
 * file aborts it; PE_MOVE_END DETACH lets it outlive the file, mirroring,
 * until a PE_MOVE_END from any control file commits or aborts it.  That is
 * what lets userspace record the new location in its metadata while both
 * PEs hold every acknowledged write (docs/HACKING.md, "The move protocol").
 */
#include "pemove.h"

#include <linux/log2.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

static void pemove_move_free(struct pemove_move *m)
{
	kvfree(m->chunk_inflight);
	kfree(m);
}

static struct pemove_move *pemove_move_alloc(struct pemove_lv *lv, u32 index,
					     const struct pemove_move_args *args)
{
	u32 chunk = args->chunk_sectors;
	struct pemove_move *m;

	if (!chunk)
		chunk = args->flags & PEMOVE_MOVE_LIVE ?
			PEMOVE_CHUNK_DEFAULT_SECTORS : PEMOVE_COPY_CHUNK_SECTORS;
	if (!pemove_chunk_size_valid(chunk))
		return ERR_PTR(-EINVAL);

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->lv = lv;
	m->le = &lv->les[index];
	m->le_index = index;
	m->flags = args->flags;
	m->dst_start = args->start;
	m->chunk_shift = ilog2(chunk);
	m->nr_chunks = DIV_ROUND_UP(lv->extent_sectors, chunk);
	m->draining = U32_MAX;
	bio_list_init(&m->waiting[0]);
	bio_list_init(&m->waiting[1]);
	INIT_LIST_HEAD(&m->file_node);
	if (args->flags & PEMOVE_MOVE_LIVE) {
		m->chunk_inflight = kvcalloc(m->nr_chunks,
					     sizeof(*m->chunk_inflight),
					     GFP_KERNEL);
		if (!m->chunk_inflight) {
			kfree(m);
			return ERR_PTR(-ENOMEM);
		}
	}
	return m;
}

static u32 pemove_chunk_len(struct pemove_move *m, u32 chunk)
{
	sector_t off = (sector_t)chunk << m->chunk_shift;

	return min_t(sector_t, m->lv->extent_sectors - off,
		     1U << m->chunk_shift);
}

static sector_t pemove_chunk_off(struct pemove_move *m, u32 chunk)
{
	return (sector_t)chunk << m->chunk_shift;
}

/* Let @chunk into a live move's window and drain the writes in it. */
static int pemove_chunk_open(struct pemove_move *m, u32 chunk)
{
	if (!(m->flags & PEMOVE_MOVE_LIVE))
		return 0;	/* the whole LE is locked and drained */
	pemove_window_open(m, chunk);
	if (wait_event_killable(m->lv->wait, pemove_chunk_drained(m, chunk)))
		return -EINTR;
	return 0;
}

/* @chunk is copied: writes to it are mirrored, the ones that waited go on. */
static void pemove_chunk_close(struct pemove_move *m, u32 chunk)
{
	struct bio_list bios = BIO_EMPTY_LIST;

	if (!(m->flags & PEMOVE_MOVE_LIVE))
		return;
	pemove_window_close(m, chunk + 1, &bios);
	pemove_resubmit(&bios);
}

/* Stop at the next chunk on a fatal signal or a failed destination. */
static int pemove_copy_check(struct pemove_move *m)
{
	int err = READ_ONCE(m->error);

	if (err)
		return err;
	return fatal_signal_pending(current) ? -EINTR : 0;
}

/*
 * Copy every chunk of the LE, double-buffered: chunk c is written from one
 * buffer while chunk c + 1 is read into the other.  In a live move both are
 * in the window while that happens, and chunk c leaves it (its waiting
 * writes go on, mirrored) as soon as its write completed.
 */
static int pemove_copy_extent(struct pemove_move *m,
			      struct pemove_copy_bufs *bufs)
{
	struct block_device *src = m->src->h.bdev, *dst = m->dst->h.bdev;
	struct pemove_copy_buf *rd = bufs->buf[0], *wr = bufs->buf[1];
	u32 c = 0, n = m->nr_chunks;
	int ret, rret;
	bool next;

	ret = pemove_chunk_open(m, 0);
	if (ret)
		return ret;
	pemove_copy_submit(rd, src, m->src_start, pemove_chunk_len(m, 0),
			   REQ_OP_READ | REQ_SYNC);
	ret = pemove_copy_wait(rd);

	while (!ret) {
		swap(rd, wr);	/* wr holds chunk c */
		next = c + 1 < n;
		if (next) {
			ret = pemove_chunk_open(m, c + 1);
			if (ret)
				break;
			pemove_copy_submit(rd, src,
					   m->src_start + pemove_chunk_off(m, c + 1),
					   pemove_chunk_len(m, c + 1),
					   REQ_OP_READ | REQ_SYNC);
		}
		pemove_copy_submit(wr, dst, m->dst_start + pemove_chunk_off(m, c),
				   pemove_chunk_len(m, c),
				   REQ_OP_WRITE | REQ_SYNC);
		ret = pemove_copy_wait(wr);
		if (!ret)
			pemove_chunk_close(m, c);
		rret = next ? pemove_copy_wait(rd) : 0;
		if (!ret)
			ret = rret;
		if (ret)
			break;
		WRITE_ONCE(m->copied, pemove_chunk_off(m, c) +
			   pemove_chunk_len(m, c));
		ret = pemove_copy_check(m);
		if (!next)
			break;
		c++;
	}
	return ret;
}

/* Give back what a move holds once nothing of it is left on the LE. */
static void pemove_move_release(struct pemove_move *m, struct pemove_pv *pv)
{
	struct pemove_lv *lv = m->lv;

	/* Every clone that counts against the move must have completed. */
	wait_event(lv->wait, pemove_move_idle(m, true, true));
	pemove_pv_put(lv, pv);
	mutex_lock(&pemove_mutex);
	pemove_unreserve(m->res);
	mutex_unlock(&pemove_mutex);
	pemove_move_free(m);
}

static void pemove_move_result(struct pemove_move *m,
			       struct pemove_move_result *res)
{
	bool live = m->flags & PEMOVE_MOVE_LIVE;

	res->copy_ns = m->copy_ns;
	res->drained = m->drained;
	res->held = live ? m->writes_waited : m->held;
	res->hold_ns = live ? 0 : m->hold_ns;
	res->max_wait_ns = live ? m->max_wait_ns : m->hold_ns;
	res->writes_mirrored = m->writes_mirrored;
	res->writes_waited = m->writes_waited;
	res->chunk_sectors = 1U << m->chunk_shift;
	res->dest.major = MAJOR(m->dst->dev);
	res->dest.minor = MINOR(m->dst->dev);
	res->dest.sector = m->dst_start;
}

/*
 * Drop the destination: the map is unchanged.  Writes stop going to the
 * destination, waiting writes go on to the source, the destination's IO
 * completes, then the LE lets go of the move and its held bios go on.
 * Fills @res (if not NULL) and frees the move.
 */
static void pemove_move_abort(struct pemove_move *m,
			      struct pemove_move_result *res)
{
	struct pemove_lv *lv = m->lv;
	struct bio_list bios = BIO_EMPTY_LIST;

	struct bio_list parked = BIO_EMPTY_LIST;

	pemove_move_stop_mirroring(m, &bios);
	pemove_resubmit(&bios);
	wait_event(lv->wait, pemove_move_idle(m, false, true));
	/*
	 * The destination's IO is done, so no write can be parked after
	 * this; WRLOCKED is set only by a failed destination of this move.
	 */
	m->held += pemove_le_release(m->le, PEMOVE_LE_LOCKED |
				     PEMOVE_LE_WRLOCKED | PEMOVE_LE_MOVING |
				     PEMOVE_LE_COPYING | PEMOVE_LE_SYNCED |
				     PEMOVE_LE_DETACHED, &bios);
	pemove_le_unpark(m->le, &parked);
	m->hold_ns = ktime_to_ns(ktime_sub(ktime_get(), m->started));
	pemove_complete_parked(&parked);
	pemove_resubmit(&bios);
	atomic64_inc(&lv->moves_failed);
	if (res)
		pemove_move_result(m, res);
	pemove_move_release(m, m->dst);
}

/*
 * Point the LE at the destination.  The old PE is given back only after
 * the IO still in flight to it (reads, and the source legs of mirrored
 * writes) completed.  On a destination failure nothing is switched and
 * the move is aborted.  Fills @res and frees the move either way.
 */
static int pemove_move_switch(struct pemove_move *m,
			      struct pemove_move_result *res, ktime_t since)
{
	struct pemove_lv *lv = m->lv;
	struct bio_list held = BIO_EMPTY_LIST;
	u32 nr = 0;
	int ret;

	ret = pemove_map_switch(m->le, m->dst, m->dst_start, m->res, m,
				PEMOVE_LE_LOCKED | PEMOVE_LE_MOVING |
				PEMOVE_LE_COPYING | PEMOVE_LE_SYNCED |
				PEMOVE_LE_DETACHED, &held, &nr);
	if (ret) {
		pemove_move_abort(m, res);
		return ret;
	}
	m->held += nr;
	m->hold_ns = ktime_to_ns(ktime_sub(ktime_get(), m->started));
	pemove_resubmit(&held);
	atomic64_inc(&lv->moves);
	atomic64_add((u64)lv->extent_sectors << SECTOR_SHIFT, &lv->bytes_moved);
	pemove_move_result(m, res);
	res->switch_ns = ktime_to_ns(ktime_sub(ktime_get(), since));
	res->bytes_copied = (u64)lv->extent_sectors << SECTOR_SHIFT;
	pemove_move_release(m, m->src);
	return 0;
}

/* Claim the LE for @m and reserve the destination range, or change nothing. */
static int pemove_move_claim(struct pemove_move *m)
{
	struct pemove_lv *lv = m->lv;
	u32 bits = PEMOVE_LE_MOVING;
	int ret;

	bits |= m->flags & PEMOVE_MOVE_LIVE ? PEMOVE_LE_COPYING :
					      PEMOVE_LE_LOCKED;
	mutex_lock(&pemove_mutex);
	ret = pemove_check_range(lv, m->dst, m->dst_start);
	if (!ret)
		ret = pemove_reserve(m->dst->dev, m->dst_start,
				     lv->extent_sectors, &m->res);
	if (!ret) {
		ret = pemove_le_claim(m->le, bits, m, &m->drained);
		if (ret)
			pemove_unreserve(m->res);
	}
	if (!ret && (m->flags & PEMOVE_MOVE_SYNC_ONLY))
		lv->busy++;	/* held by the synced move past this call */
	mutex_unlock(&pemove_mutex);
	return ret;
}

/* Drop the busy count pemove_move_claim() took for a synced move. */
static void pemove_move_unbusy(struct pemove_lv *lv)
{
	mutex_lock(&pemove_mutex);
	lv->busy--;
	mutex_unlock(&pemove_mutex);
}

/* A move just got in sync: it belongs to @pf until it ends or is detached. */
static void pemove_move_adopt(struct pemove_file *pf, struct pemove_move *m)
{
	mutex_lock(&pf->lock);
	spin_lock_irq(&m->le->lock);
	m->owner = pf;
	spin_unlock_irq(&m->le->lock);
	list_add_tail(&m->file_node, &pf->moves);
	mutex_unlock(&pf->lock);
}

/*
 * Move LE @index of @lv (pinned by the caller) as @args says.  @pf is the
 * calling control file, which owns a move left in sync.
 */
int pemove_pe_move(struct pemove_file *pf, struct pemove_lv *lv, u32 index,
		   const struct pemove_move_args *args,
		   struct pemove_move_result *res)
{
	struct pemove_le *le = &lv->les[index];
	struct bio_list held = BIO_EMPTY_LIST;
	struct pemove_copy_bufs bufs;
	struct pemove_move *m;
	ktime_t t_copied;
	int ret;

	if (args->flags & ~(PEMOVE_MOVE_LIVE | PEMOVE_MOVE_SYNC_ONLY))
		return -EINVAL;
	/* A second move of this LE is EBUSY, whatever its destination. */
	if (READ_ONCE(le->state))
		return -EBUSY;

	m = pemove_move_alloc(lv, index, args);
	if (IS_ERR(m))
		return PTR_ERR(m);
	ret = pemove_copy_get(lv, &bufs);
	if (ret)
		goto out_free;
	ret = pemove_pv_get(lv, args->dev, &m->dst);
	if (ret)
		goto out_put_bufs;
	ret = pemove_pv_check_dest(lv, m->dst);
	if (ret)
		goto out_put_dst;
	m->started = ktime_get();
	ret = pemove_move_claim(m);
	if (ret)
		goto out_put_dst;

	/*
	 * From here on the LE routes through the move; the map is unchanged.
	 * Whole: everything is held, wait for what is in flight.  Live:
	 * nothing is held, wait only for what was in flight at the claim.
	 */
	if (m->flags & PEMOVE_MOVE_LIVE) {
		if (wait_event_killable(lv->wait, pemove_move_predrained(m)))
			ret = -EINTR;
	} else if (wait_event_killable(lv->wait, pemove_le_drained(le))) {
		ret = -EINTR;
	}
	if (!ret)
		ret = pemove_copy_extent(m, &bufs);
	pemove_copy_put(lv, &bufs);
	t_copied = ktime_get();
	m->copy_ns = ktime_to_ns(ktime_sub(t_copied, m->started));
	if (!ret)
		ret = blkdev_issue_flush(m->dst->h.bdev);
	if (ret) {
		if (m->flags & PEMOVE_MOVE_SYNC_ONLY)
			pemove_move_unbusy(lv);
		pemove_move_abort(m, res);
		if (ret != -EINTR)
			pr_warn_ratelimited("%s: move of LE %u failed (%d); map unchanged\n",
					    lv->name, index, ret);
		return ret;
	}

	if (!(m->flags & PEMOVE_MOVE_SYNC_ONLY))
		return pemove_move_switch(m, res, t_copied);

	/* In sync: every write is mirrored from here on, nothing is held. */
	m->held += pemove_le_synced(le, m, &held);
	m->hold_ns = ktime_to_ns(ktime_sub(ktime_get(), m->started));
	pemove_resubmit(&held);
	pemove_move_result(m, res);
	res->switch_ns = ktime_to_ns(ktime_sub(ktime_get(), t_copied));
	res->bytes_copied = (u64)lv->extent_sectors << SECTOR_SHIFT;
	pemove_move_adopt(pf, m);
	return 0;

out_put_dst:
	pemove_pv_put(lv, m->dst);
out_put_bufs:
	pemove_copy_put(lv, &bufs);
out_free:
	pemove_move_free(m);
	return ret;
}

/*
 * Take the synced move of @le for ending it: @pf must own it, or it must be
 * detached.  Returns the move, its owner in *@owner, or an ERR_PTR.
 */
static struct pemove_move *pemove_move_take(struct pemove_file *pf,
					    struct pemove_le *le,
					    struct pemove_file **owner)
{
	struct pemove_move *m;
	int ret = 0;

	spin_lock_irq(&le->lock);
	m = le->move;
	if (!m || !(le->state & PEMOVE_LE_SYNCED))
		ret = -EINVAL;
	else if (m->ending || (m->owner && m->owner != pf))
		ret = -EBUSY;
	else
		m->ending = true;
	*owner = m ? m->owner : NULL;
	spin_unlock_irq(&le->lock);
	return ret ? ERR_PTR(ret) : m;
}

/*
 * COMMIT of a detached move whose destination failed: the move stays, its
 * writes held, and the error is returned.  Userspace may have recorded the
 * destination; only PE_MOVE_END ABORT, once it recorded the source again,
 * lets writes reach the source alone.  Returns 0 for any other move.
 */
static int pemove_move_keep_failed(struct pemove_move *m,
				   struct pemove_move_result *res)
{
	struct pemove_le *le = m->le;
	int err = 0;

	spin_lock_irq(&le->lock);
	if (m->error && (le->state & PEMOVE_LE_DETACHED)) {
		err = m->error;
		m->ending = false;
		pemove_move_result(m, res);
	}
	spin_unlock_irq(&le->lock);
	return err;
}

static void pemove_move_disown(struct pemove_file *owner, struct pemove_move *m)
{
	if (!owner)
		return;
	mutex_lock(&owner->lock);
	list_del_init(&m->file_node);
	mutex_unlock(&owner->lock);
}

/* PE_MOVE_END: commit, abort or detach the synced move of LE @index. */
int pemove_pe_move_end(struct pemove_file *pf, struct pemove_lv *lv, u32 index,
		       u32 op, struct pemove_move_result *res)
{
	struct pemove_le *le = &lv->les[index];
	struct pemove_file *owner;
	struct pemove_move *m;
	ktime_t since = ktime_get();
	int ret;

	if (op != PEMOVE_END_COMMIT && op != PEMOVE_END_ABORT &&
	    op != PEMOVE_END_DETACH)
		return -EINVAL;
	m = pemove_move_take(pf, le, &owner);
	if (IS_ERR(m))
		return PTR_ERR(m);
	pemove_move_disown(owner, m);

	if (op == PEMOVE_END_DETACH) {
		/*
		 * A failed move is not detached: its writes went to the source
		 * alone, so userspace must never record its destination.
		 */
		spin_lock_irq(&le->lock);
		ret = m->error;
		if (!ret) {
			m->owner = NULL;
			m->ending = false;
			WRITE_ONCE(le->state, le->state | PEMOVE_LE_DETACHED);
			pemove_move_result(m, res);
		}
		spin_unlock_irq(&le->lock);
		if (!ret)
			return 0;
		pemove_move_abort(m, res);
		pemove_move_unbusy(lv);
		return ret;
	}

	if (op == PEMOVE_END_COMMIT) {
		ret = pemove_move_keep_failed(m, res);
		if (ret)
			return ret;
		ret = pemove_move_switch(m, res, since);
	} else {
		pemove_move_abort(m, res);
		ret = 0;
	}
	pemove_move_unbusy(lv);
	return ret;
}

/* A control file is closing: abort the synced moves it still owns. */
void pemove_file_end_moves(struct pemove_file *pf)
{
	struct pemove_move *m, *tmp;
	struct pemove_lv *lv;
	LIST_HEAD(moves);

	mutex_lock(&pf->lock);
	list_splice_init(&pf->moves, &moves);
	mutex_unlock(&pf->lock);

	list_for_each_entry_safe(m, tmp, &moves, file_node) {
		lv = m->lv;
		list_del_init(&m->file_node);
		spin_lock_irq(&m->le->lock);
		m->ending = true;
		m->owner = NULL;
		spin_unlock_irq(&m->le->lock);
		pemove_move_abort(m, NULL);
		pemove_move_unbusy(lv);
	}
}

/* MOVE_STATUS: the move of LE @index, if any.  pemove_mutex held. */
void pemove_move_status(struct pemove_lv *lv, u32 index,
			struct pemove_move_status *st)
{
	struct pemove_le *le = &lv->les[index];
	struct pemove_move *m;

	spin_lock_irq(&le->lock);
	m = le->move;
	st->state = le->state;
	if (m) {
		st->move_flags = m->flags;
		st->source.major = MAJOR(m->src->dev);
		st->source.minor = MINOR(m->src->dev);
		st->source.sector = m->src_start;
		st->dest.major = MAJOR(m->dst->dev);
		st->dest.minor = MINOR(m->dst->dev);
		st->dest.sector = m->dst_start;
		st->total_sectors = lv->extent_sectors;
		st->copied_sectors = READ_ONCE(m->copied);
		st->chunk_sectors = 1U << m->chunk_shift;
		st->writes_mirrored = m->writes_mirrored;
		st->writes_waited = m->writes_waited;
		st->max_wait_ns = m->max_wait_ns;
		st->elapsed_ns = ktime_to_ns(ktime_sub(ktime_get(), m->started));
	}
	spin_unlock_irq(&le->lock);
}
