// SPDX-License-Identifier: GPL-2.0
/*
 * The state of each logical extent: the map entry, the count of bios in
 * flight on it, the lock bits and the bios they hold, and the window of a
 * live move.  Every function here works on the structs it is given and
 * nothing else, so pemove_kunit.c can drive the state machine directly.
 *
 * Why a bio can never slip past a lock
 * ------------------------------------
 * A bio to a tracked LE runs pemove_le_route(), which under le->lock does
 * three things at once: it checks the lock bits and the move's window,
 * counts itself in flight, and reads the map entry.  A mover changes the
 * lock bits or the window under the same le->lock, and then waits until
 * what it must drain, read under le->lock, is zero.
 *
 * The two critical sections are serialised by le->lock, so one of them runs
 * first:
 *
 *  - route first: the bio is counted before the lock bit is set or the
 *    window reaches its chunk.  Every check the mover makes afterwards sees
 *    it in flight until its clone completes; pemove_le_end_io() uncounts it
 *    under le->lock and tells its caller to wake the mover, which it does
 *    after dropping the lock.  The bio used the map entry read in its own
 *    critical section, i.e. the old PE, and it completed before the copy
 *    reads that PE (or that chunk).
 *
 *  - lock first: pemove_le_route() sees the lock bit (or the window) and
 *    queues the bio without counting it or reading the map.  It is
 *    resubmitted after the map entry was switched (or not), or after the
 *    chunk was copied, and routed again then.
 *
 * There is no third interleaving, so there is no window between "checked
 * unlocked" and "counted in flight".  The waits cannot miss a wake-up:
 * wait_event() puts the task on the queue before it evaluates the
 * condition, and end_io changes the condition before its caller wakes.
 *
 * A live move
 * -----------
 * The window [lo, hi) of struct pemove_move, in chunks: a write below lo
 * goes to both PEs (mirrored), a write in the window waits for its chunk, a
 * write at or above hi goes to the source only and is counted at its first
 * chunk, which the copier drains before it reads that chunk.  The copier
 * only moves the window up, so a write counted at chunk c can only ever
 * overlap chunks the copier has not drained yet, and it is drained when the
 * window reaches c.  The bios routed before the move claimed the LE are
 * counted in no chunk, so the move counts them as a whole (pre_inflight,
 * from le->inflight at the claim) and waits for them before it lets the
 * first chunk into the window: a write on its way to the source when the
 * move began would otherwise land behind the copy of its chunk, and be lost
 * at the switch (the 2002 race, one level down).  Reads always go to the
 * source: it holds every write until the switch.  With lo = hi = nr_chunks (synced) every write is
 * mirrored.  An aborting move sends every write to the source only.
 *
 * The legacy write lock (PEMOVE_LE_WRLOCKED) uses the same critical section
 * but holds only writes and, as in LVM1, nobody waits for inflight to drain.
 */
#include "pemove.h"

#define PEMOVE_LE_BUSY	(PEMOVE_LE_LOCKED | PEMOVE_LE_WRLOCKED | PEMOVE_LE_MOVING)

void pemove_le_init(struct pemove_le *le, struct pemove_pv *pv, sector_t start)
{
	spin_lock_init(&le->lock);
	bio_list_init(&le->held);
	bio_list_init(&le->parked);
	le->pv = pv;
	le->dev = pv->dev;
	le->start = start;
}

static bool pemove_le_holds(u32 state, const struct bio *bio)
{
	if (state & PEMOVE_LE_LOCKED)
		return true;
	return (state & PEMOVE_LE_WRLOCKED) && op_is_write(bio_op(bio));
}

/* Which slot of the two-chunk window a write overlapping it waits in. */
static unsigned int pemove_slot(const struct pemove_move *m, u32 first)
{
	return max(first, m->lo) & 1;
}

static enum pemove_route pemove_route_move(struct pemove_le *le,
					   struct pemove_move *m,
					   struct bio *bio, u32 offset,
					   struct pemove_routing *r)
{
	u32 first, last;
	unsigned int slot;

	r->move = m;
	r->chunk = U32_MAX;
	if (!op_is_write(bio_op(bio)) || m->aborting) {
		m->src_inflight++;
		return PEMOVE_ROUTE_SRC;
	}

	first = offset >> m->chunk_shift;
	last = (offset + bio_sectors(bio) - 1) >> m->chunk_shift;
	if (last < m->lo) {
		r->dst = m->dst;
		r->dst_start = m->dst_start + offset;
		m->src_inflight++;
		m->dst_inflight++;
		m->writes_mirrored++;
		return PEMOVE_ROUTE_MIRROR;
	}
	if (first >= m->hi) {
		r->chunk = first;
		m->chunk_inflight[first]++;
		m->src_inflight++;
		return PEMOVE_ROUTE_SRC;
	}
	slot = pemove_slot(m, first);
	if (!m->window_since[slot])
		m->window_since[slot] = ktime_get();
	bio_list_add(&m->waiting[slot], bio);
	m->nr_waiting[slot]++;
	m->writes_waited++;
	return PEMOVE_ROUTE_WAIT;
}

/*
 * Route @bio, which lies at @offset inside @le: count it in flight, pin the
 * PVs it goes to (an io_ref each, which its clones put) and fill @r with
 * where it goes; or queue it (HELD, WAIT), after which the caller must not
 * touch it again.
 */
enum pemove_route pemove_le_route(struct pemove_le *le, struct bio *bio,
				  u32 offset, struct pemove_routing *r)
{
	enum pemove_route route = PEMOVE_ROUTE_GO;
	unsigned long flags;

	spin_lock_irqsave(&le->lock, flags);
	if (unlikely(pemove_le_holds(le->state, bio))) {
		bio_list_add(&le->held, bio);
		le->nr_held++;
		spin_unlock_irqrestore(&le->lock, flags);
		return PEMOVE_ROUTE_HELD;
	}
	if (unlikely(le->move)) {
		route = pemove_route_move(le, le->move, bio, offset, r);
		if (route == PEMOVE_ROUTE_WAIT) {
			spin_unlock_irqrestore(&le->lock, flags);
			return route;
		}
	}
	le->inflight++;
	r->pv = le->pv;
	r->start = le->start + offset;
	/*
	 * Pin the PVs here, under the lock that orders us against a switch:
	 * once a switch moved the LE away from a PV, no bio can still be on
	 * its way to pin it, so its release only waits for pins taken.
	 */
	percpu_ref_get(&r->pv->io_ref);
	if (route == PEMOVE_ROUTE_MIRROR)
		percpu_ref_get(&r->dst->io_ref);
	spin_unlock_irqrestore(&le->lock, flags);
	return route;
}

/*
 * One leg of a bio completed with @status: uncount it from @m (if any)
 * and, if it was the bio's @last leg, from the LE.  A failed destination
 * leg fails the move: its errno is kept and writes stop going to the
 * destination.  Returns what the caller must wake once it is outside
 * le->lock (PEMOVE_WAKE_*), and sets *@switched to whether the map already
 * points at the destination, which decides whose status a mirrored write
 * completes with.
 */
unsigned int pemove_le_end_io(struct pemove_le *le, struct pemove_move *m,
			      enum pemove_leg leg, u32 chunk, bool last,
			      blk_status_t status, bool *switched)
{
	unsigned int wake = 0;
	unsigned long flags;

	spin_lock_irqsave(&le->lock, flags);
	if (m) {
		bool ending = m->aborting || m->switched;

		if (leg == PEMOVE_LEG_SRC) {
			if (!--m->src_inflight && ending)
				wake |= PEMOVE_WAKE_MOVE;
			if (chunk != U32_MAX && !--m->chunk_inflight[chunk] &&
			    m->draining == chunk)
				wake |= PEMOVE_WAKE_MOVE;
		} else if (leg == PEMOVE_LEG_DST) {
			/*
			 * A destination without discard or write-zeroes says
			 * NOTSUPP; the bio fails with it instead (see
			 * pemove_io_done()), the move goes on.
			 */
			if (unlikely(status && status != BLK_STS_NOTSUPP)) {
				if (!m->error)
					m->error = blk_status_to_errno(status);
				m->aborting = true;
				/*
				 * Userspace may have recorded the destination
				 * of a detached move as the LE's home: no
				 * write may reach the source alone until it
				 * recorded the source again (PE_MOVE_END).
				 */
				if (le->state & PEMOVE_LE_DETACHED)
					WRITE_ONCE(le->state, le->state |
						   PEMOVE_LE_WRLOCKED);
			}
			if (!--m->dst_inflight && (ending || m->aborting))
				wake |= PEMOVE_WAKE_MOVE;
		}
		*switched = m->switched;
	}
	/*
	 * A bio routed with no move completing while a move owns the LE was
	 * in flight at the claim (no bio is routed without the move after
	 * it), so it is one of the move's pre_inflight.
	 */
	if (!m && last && le->move && le->move->pre_inflight &&
	    !--le->move->pre_inflight)
		wake |= PEMOVE_WAKE_MOVE;
	if (last && !--le->inflight && (le->state & PEMOVE_LE_LOCKED))
		wake |= PEMOVE_WAKE_LV;
	spin_unlock_irqrestore(&le->lock, flags);
	return wake;
}

/*
 * Set @bits on @le if no lock or move owns it yet, and report how many bios
 * were in flight at that moment.  A move passes itself as @m: from now on
 * the LE's bios are routed through it, and its source is the map entry as
 * it is now (nothing else can change it while the move owns the LE).
 */
int pemove_le_claim(struct pemove_le *le, u32 bits, struct pemove_move *m,
		    u32 *inflight)
{
	int ret = 0;

	spin_lock_irq(&le->lock);
	if (le->state & PEMOVE_LE_BUSY) {
		ret = -EBUSY;
	} else {
		WRITE_ONCE(le->state, le->state | bits);
		if (m) {
			m->src = le->pv;
			m->src_start = le->start;
			m->pre_inflight = le->inflight;
			le->move = m;
		}
		*inflight = le->inflight;
	}
	spin_unlock_irq(&le->lock);
	return ret;
}

bool pemove_le_drained(struct pemove_le *le)
{
	bool drained;

	spin_lock_irq(&le->lock);
	drained = !le->inflight;
	spin_unlock_irq(&le->lock);
	return drained;
}

/*
 * How a write to @le must be split: at chunk boundaries (the log2 of the
 * chunk size) while the LE is copied live, so that each piece waits for one
 * chunk at most; 0 otherwise.  The lock is taken only when the LE has a
 * state, so the common case costs one load.
 */
unsigned int pemove_le_split_shift(struct pemove_le *le)
{
	unsigned int shift = 0;
	unsigned long flags;

	if (likely(!(READ_ONCE(le->state) & PEMOVE_LE_COPYING)))
		return 0;
	spin_lock_irqsave(&le->lock, flags);
	if (le->move && (le->state & PEMOVE_LE_COPYING) && !le->move->aborting)
		shift = le->move->chunk_shift;
	spin_unlock_irqrestore(&le->lock, flags);
	return shift;
}

/*
 * Move the bios held on @le to @held, for the caller to resubmit once it has
 * dropped its locks, and return how many there were.
 */
u32 pemove_le_take_held(struct pemove_le *le, struct bio_list *held)
{
	u32 nr = le->nr_held;

	lockdep_assert_held(&le->lock);
	bio_list_merge(held, &le->held);
	bio_list_init(&le->held);
	le->nr_held = 0;
	return nr;
}

/*
 * A mirrored write whose destination leg failed is done: park it, so that
 * it completes only when the move ends, if the move is detached (see
 * pemove_le_end_io()).  Returns whether @done was parked.
 */
bool pemove_le_park(struct pemove_le *le, struct bio *done)
{
	unsigned long flags;
	bool park;

	spin_lock_irqsave(&le->lock, flags);
	park = le->state & PEMOVE_LE_DETACHED;
	if (park) {
		bio_list_add(&le->parked, done);
		le->nr_parked++;
	}
	spin_unlock_irqrestore(&le->lock, flags);
	return park;
}

/* The move ended: hand the parked bios to the caller, to complete. */
void pemove_le_unpark(struct pemove_le *le, struct bio_list *done)
{
	spin_lock_irq(&le->lock);
	bio_list_merge(done, &le->parked);
	bio_list_init(&le->parked);
	le->nr_parked = 0;
	spin_unlock_irq(&le->lock);
}

/*
 * Clear @bits on @le (and let go of its move, if PEMOVE_LE_MOVING is among
 * them), and move the held bios to @held for the caller to resubmit once it
 * has dropped its locks; their count is returned.
 */
u32 pemove_le_release(struct pemove_le *le, u32 bits, struct bio_list *held)
{
	u32 nr;

	spin_lock_irq(&le->lock);
	WRITE_ONCE(le->state, le->state & ~bits);
	if (bits & PEMOVE_LE_MOVING)
		le->move = NULL;
	nr = pemove_le_take_held(le, held);
	spin_unlock_irq(&le->lock);
	return nr;
}

/*
 * A move's copy is complete and flushed: every write is mirrored from now
 * on, the LE is no longer locked (a whole-extent move) or copied by chunk
 * (a live one), and the held bios go to @held.
 */
u32 pemove_le_synced(struct pemove_le *le, struct pemove_move *m,
		     struct bio_list *held)
{
	u32 nr;

	spin_lock_irq(&le->lock);
	m->lo = m->nr_chunks;
	m->hi = m->nr_chunks;
	WRITE_ONCE(le->state, (le->state & ~(PEMOVE_LE_LOCKED | PEMOVE_LE_COPYING)) |
		   PEMOVE_LE_SYNCED);
	nr = pemove_le_take_held(le, held);
	spin_unlock_irq(&le->lock);
	return nr;
}

void pemove_le_map(struct pemove_le *le, struct pemove_pv **pv,
		   sector_t *start)
{
	spin_lock_irq(&le->lock);
	*pv = le->pv;
	*start = le->start;
	spin_unlock_irq(&le->lock);
}

void pemove_le_status(struct pemove_le *le, struct pemove_le_status *st)
{
	spin_lock_irq(&le->lock);
	st->pe.major = MAJOR(le->dev);
	st->pe.minor = MINOR(le->dev);
	st->pe.sector = le->start;
	st->state = le->state;
	st->inflight = le->inflight;
	st->held = le->nr_held + le->nr_parked;
	if (le->move)
		st->held += le->move->nr_waiting[0] + le->move->nr_waiting[1];
	spin_unlock_irq(&le->lock);
}

/* Have the bios in flight when @m claimed its LE all completed? */
bool pemove_move_predrained(struct pemove_move *m)
{
	bool drained;

	spin_lock_irq(&m->le->lock);
	drained = !m->pre_inflight;
	spin_unlock_irq(&m->le->lock);
	return drained;
}

/* Let chunk @chunk into the window: from now on writes to it wait. */
void pemove_window_open(struct pemove_move *m, u32 chunk)
{
	spin_lock_irq(&m->le->lock);
	m->hi = chunk + 1;
	m->draining = chunk;
	spin_unlock_irq(&m->le->lock);
}

/* Has every source-only write counted at @chunk completed? */
bool pemove_chunk_drained(struct pemove_move *m, u32 chunk)
{
	bool drained;

	spin_lock_irq(&m->le->lock);
	drained = !m->chunk_inflight[chunk];
	if (drained)
		m->draining = U32_MAX;
	spin_unlock_irq(&m->le->lock);
	return drained;
}

static void pemove_release_slot(struct pemove_move *m, unsigned int slot,
				struct bio_list *bios, ktime_t now)
{
	if (m->window_since[slot]) {
		u64 waited = ktime_to_ns(ktime_sub(now, m->window_since[slot]));

		m->max_wait_ns = max(m->max_wait_ns, waited);
		m->window_since[slot] = 0;
	}
	bio_list_merge(bios, &m->waiting[slot]);
	bio_list_init(&m->waiting[slot]);
	m->nr_waiting[slot] = 0;
}

/*
 * Chunks below @lo are copied: writes to them are mirrored from now on.
 * The writes that waited for chunk @lo - 1 go to @bios, for the caller to
 * resubmit; they are routed again then.
 */
void pemove_window_close(struct pemove_move *m, u32 lo, struct bio_list *bios)
{
	ktime_t now = ktime_get();

	spin_lock_irq(&m->le->lock);
	m->lo = lo;
	if (m->hi < lo)
		m->hi = lo;
	pemove_release_slot(m, (lo - 1) & 1, bios, now);
	spin_unlock_irq(&m->le->lock);
}

/*
 * The move is failing or being dropped: writes go to the source only from
 * now on, and every waiting write goes to @bios for the caller to resubmit.
 */
void pemove_move_stop_mirroring(struct pemove_move *m, struct bio_list *bios)
{
	ktime_t now = ktime_get();

	spin_lock_irq(&m->le->lock);
	m->aborting = true;
	pemove_release_slot(m, 0, bios, now);
	pemove_release_slot(m, 1, bios, now);
	spin_unlock_irq(&m->le->lock);
}

/* Is nothing in flight to the source (@src) and to the destination (@dst)? */
bool pemove_move_idle(struct pemove_move *m, bool src, bool dst)
{
	bool idle;

	spin_lock_irq(&m->le->lock);
	idle = (!src || !m->src_inflight) && (!dst || !m->dst_inflight);
	spin_unlock_irq(&m->le->lock);
	return idle;
}
