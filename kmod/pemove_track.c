// SPDX-License-Identifier: GPL-2.0
/*
 * The state of each logical extent: the map entry, the count of bios in
 * flight on it, the lock bits and the bios they hold.
 *
 * Why a bio can never slip past a lock
 * ------------------------------------
 * A bio to a tracked LE runs pemove_le_begin_io(), which under le->lock does
 * three things at once: it checks the lock bits, counts itself in
 * le->inflight, and reads the map entry.  A mover runs pemove_le_claim(),
 * which sets PEMOVE_LE_LOCKED under the same le->lock, and then waits with
 * pemove_le_wait_drained() until le->inflight, read under le->lock, is 0.
 *
 * The two critical sections are serialised by le->lock, so one of them runs
 * first:
 *
 *  - begin_io first: the bio is counted before LOCKED is set.  Every check
 *    the mover makes afterwards sees inflight >= 1 until the clone completes;
 *    pemove_le_end_io() decrements inflight under le->lock, sees LOCKED, and
 *    wakes lv->wait after dropping the lock.  The bio used the map entry read
 *    in its own critical section, i.e. the old PE, and it has completed before
 *    the copy starts reading that PE.
 *
 *  - claim first: begin_io sees LOCKED and puts the bio on le->held without
 *    counting it or reading the map.  It is resubmitted by
 *    pemove_le_release(), after the map entry was switched (or not) under the
 *    same lock, so it reads the final map.
 *
 * There is no third interleaving, so there is no window between "checked
 * unlocked" and "counted in flight".  The wait cannot miss the wake-up:
 * wait_event_killable() puts the task on lv->wait before it evaluates the
 * condition, and end_io changes the condition before it calls wake_up().
 *
 * The legacy write lock (PEMOVE_LE_WRLOCKED) uses the same critical section
 * but holds only writes and, as in LVM1, nobody waits for inflight to drain.
 */
#include "pemove.h"

void pemove_le_init(struct pemove_le *le, struct pemove_pv *pv, sector_t start)
{
	spin_lock_init(&le->lock);
	bio_list_init(&le->held);
	le->pv = pv;
	le->start = start;
}

static bool pemove_le_holds(u32 state, const struct bio *bio)
{
	if (state & PEMOVE_LE_LOCKED)
		return true;
	return (state & PEMOVE_LE_WRLOCKED) && op_is_write(bio_op(bio));
}

/*
 * Count @bio in flight on @le and return the LE's map entry, or, if a lock
 * holds this bio, queue it on the LE and return false: the caller must not
 * touch it again.
 */
bool pemove_le_begin_io(struct pemove_lv *lv, struct pemove_le *le,
			struct bio *bio, struct pemove_pv **pv, sector_t *start)
{
	unsigned long flags;

	spin_lock_irqsave(&le->lock, flags);
	if (unlikely(pemove_le_holds(le->state, bio))) {
		bio_list_add(&le->held, bio);
		le->nr_held++;
		spin_unlock_irqrestore(&le->lock, flags);
		this_cpu_inc(lv->stats->held);
		return false;
	}
	le->inflight++;
	*pv = le->pv;
	*start = le->start;
	spin_unlock_irqrestore(&le->lock, flags);
	return true;
}

void pemove_le_end_io(struct pemove_lv *lv, struct pemove_le *le)
{
	unsigned long flags;
	bool wake;

	spin_lock_irqsave(&le->lock, flags);
	wake = !--le->inflight && (le->state & PEMOVE_LE_LOCKED);
	spin_unlock_irqrestore(&le->lock, flags);
	/*
	 * Our caller still holds a reference on lv->pending, which LV_REMOVE
	 * waits for before it frees the LV, so lv->wait is valid here.
	 */
	if (wake)
		wake_up(&lv->wait);
}

/*
 * Set @bits on @le if no lock or move owns it yet, and report how many bios
 * were in flight at that moment.  Called with pemove_mutex held.
 */
int pemove_le_claim(struct pemove_le *le, u32 bits, u32 *inflight)
{
	const u32 busy = PEMOVE_LE_LOCKED | PEMOVE_LE_WRLOCKED | PEMOVE_LE_MOVING;
	int ret = 0;

	spin_lock_irq(&le->lock);
	if (le->state & busy) {
		ret = -EBUSY;
	} else {
		le->state |= bits;
		*inflight = le->inflight;
	}
	spin_unlock_irq(&le->lock);
	return ret;
}

static bool pemove_le_drained(struct pemove_le *le)
{
	bool drained;

	spin_lock_irq(&le->lock);
	drained = !le->inflight;
	spin_unlock_irq(&le->lock);
	return drained;
}

/* Wait until nothing is in flight on a LOCKED @le; -EINTR on a fatal signal. */
int pemove_le_wait_drained(struct pemove_lv *lv, struct pemove_le *le)
{
	if (wait_event_killable(lv->wait, pemove_le_drained(le)))
		return -EINTR;
	return 0;
}

/*
 * Clear @bits on @le and, if @pv is not NULL, switch its map entry to
 * (@pv, @start) in the same critical section, so that no bio can see the
 * LE unlocked with the old entry.  The held bios are moved to @held for the
 * caller to resubmit once it has dropped its locks; their count is returned.
 * Called with pemove_mutex held.
 */
u32 pemove_le_release(struct pemove_le *le, u32 bits, struct pemove_pv *pv,
		      sector_t start, struct bio_list *held)
{
	u32 nr;

	spin_lock_irq(&le->lock);
	if (pv) {
		le->pv = pv;
		le->start = start;
	}
	le->state &= ~bits;
	bio_list_merge(held, &le->held);
	bio_list_init(&le->held);
	nr = le->nr_held;
	le->nr_held = 0;
	spin_unlock_irq(&le->lock);
	return nr;
}

/* PE_REMAP: switch the map entry of a write-locked LE.  pemove_mutex held. */
void pemove_le_switch(struct pemove_le *le, struct pemove_pv *pv,
		      sector_t start)
{
	spin_lock_irq(&le->lock);
	le->pv = pv;
	le->start = start;
	spin_unlock_irq(&le->lock);
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
	st->pe.major = MAJOR(le->pv->dev);
	st->pe.minor = MINOR(le->pv->dev);
	st->pe.sector = le->start;
	st->state = le->state;
	st->inflight = le->inflight;
	st->held = le->nr_held;
	spin_unlock_irq(&le->lock);
}
