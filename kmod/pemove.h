/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private structures of the pemove module and the functions its files
 * export to one another.
 *
 * Lock order (outer first):
 *
 *   pemove_mutex		the LV registry, every LE map *write*, the
 *				reserved move destinations, the lists of
 *				legacy locks of the control files, the move
 *				counters and lv->busy.  Held by readers of the
 *				whole map (overlap checks, LV_STATUS), so a map
 *				entry only changes under both it and le->lock.
 *     lv->pv_mutex		lv->pvs; the flush work holds it while it
 *				sleeps in blkdev_issue_flush().
 *     lv->open_lock		spinlock: open_count and removing.
 *     le->lock			spinlock, irqsave (clone endio may run in hard
 *				irq context): state, inflight, held list and
 *				the map entry as seen by the bio path.
 *
 *   lv->copy_mutex		the copy reserve.  Taken by PE_MOVE without
 *				pemove_mutex; only the copy bios nest in it.
 *   lv->flush_lock		spinlock, irqsave: the pending flush list.
 *				Innermost; nothing is taken under it.
 *
 * pemove_mutex is never held across IO that goes through an LV, so that a bio
 * held on a locked LE can never wait for it.
 */
#ifndef _PEMOVE_H
#define _PEMOVE_H

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu-refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/pemove.h>

#include "pemove_compat.h"

/* The copy engine moves a PE in chunks of this size, double-buffered. */
#define PEMOVE_COPY_CHUNK_SECTORS	2048
#define PEMOVE_COPY_PAGES	(PEMOVE_COPY_CHUNK_SECTORS / (PAGE_SIZE >> SECTOR_SHIFT))

/* A PV held open by one LV. */
struct pemove_pv {
	struct list_head node;		/* in lv->pvs */
	dev_t dev;
	struct pemove_bdev_handle h;
};

/* One logical extent: where it lives and who may use it right now. */
struct pemove_le {
	spinlock_t lock;		/* everything below; see top of file */
	u32 state;			/* PEMOVE_LE_* */
	u32 inflight;			/* tracked clones not yet completed */
	u32 nr_held;			/* bios on @held */
	struct pemove_pv *pv;		/* the map entry: PV ... */
	sector_t start;			/* ... and first sector on it */
	struct bio_list held;		/* bios waiting for the LE to unlock */
};

/* One half of the double-buffered copy reserve. */
struct pemove_copy_buf {
	struct bio bio;			/* bio_init()ed for every chunk */
	struct bio_vec bvec[PEMOVE_COPY_PAGES];
	struct page *pages[PEMOVE_COPY_PAGES];
	struct completion done;
};

/* Hot-path counters, per CPU so that the bio path shares no cache line. */
struct pemove_stats {
	u64 bios;
	u64 splits;
	u64 flushes;
	u64 held;
};

struct pemove_lv {
	struct list_head node;		/* in pemove_lvs */
	char name[PEMOVE_NAME_LEN];
	u32 flags;			/* PEMOVE_LV_* */
	u32 extent_sectors;
	u32 extent_count;
	unsigned int lbs;		/* logical block size, stacked */
	int minor;
	struct pemove_le *les;
	struct gendisk *disk;

	struct mutex pv_mutex;		/* pvs, pv_count */
	struct list_head pvs;
	unsigned int pv_count;

	struct bio_set split_bs;	/* bio_split() at extent boundaries */
	struct bio_set clone_bs;	/* clones; front_pad is struct pemove_io */

	/* Every bio we own or cloned; LV_REMOVE waits for it to drop to 0. */
	struct percpu_ref pending;
	struct completion pending_done;

	wait_queue_head_t wait;		/* a locked LE drained */

	spinlock_t open_lock;		/* open_count, removing */
	unsigned int open_count;
	bool removing;

	unsigned int busy;		/* moves + legacy locks; pemove_mutex */

	spinlock_t flush_lock;		/* flush_list */
	struct bio_list flush_list;
	struct work_struct flush_work;

	struct mutex copy_mutex;	/* copy[] */
	struct pemove_copy_buf *copy[2];

	struct pemove_stats __percpu *stats;
	u64 moves;			/* the rest: pemove_mutex */
	u64 moves_failed;
	u64 bytes_moved;
	u64 remaps;
	u64 reserve_bytes;
};

/* The tracking record of a clone, in front of it in the clone bio_set. */
struct pemove_io {
	struct pemove_lv *lv;
	struct pemove_le *le;		/* NULL on a PEMOVE_LV_NOTRACK LV */
	struct bio *orig;
	struct bio clone;		/* must be last */
};

/* A range of a PV promised to a move in progress. */
struct pemove_reservation {
	struct list_head node;		/* in pemove_reserved */
	dev_t dev;
	sector_t start;
	sector_t len;
};

/* A control file; it owns the legacy locks it took. */
struct pemove_file {
	struct list_head locks;		/* struct pemove_file_lock; pemove_mutex */
};

struct pemove_file_lock {
	struct list_head node;
	struct pemove_lv *lv;
	u32 le;
};

static inline bool pemove_lv_tracked(const struct pemove_lv *lv)
{
	return !(lv->flags & PEMOVE_LV_NOTRACK);
}

/* pemove_ctl.c: the registry and the control node */
extern struct mutex pemove_mutex;
extern struct list_head pemove_lvs;
extern struct list_head pemove_reserved;
extern struct workqueue_struct *pemove_wq;
extern int pemove_major;
extern void *pemove_holder;
struct pemove_lv *pemove_lv_find(const char *name);
bool pemove_name_valid(const char *name);
bool pemove_zero(const void *p, size_t size);

/* pemove_lv.c: LV lifecycle and the bio path */
int pemove_lv_create(const struct pemove_lv_create *in,
		     struct pemove_lv_create *out);
int pemove_lv_remove(const struct pemove_lv_remove *in);
void pemove_lv_info(struct pemove_lv *lv, struct pemove_lv_info *info);
void pemove_lv_counters(struct pemove_lv *lv, struct pemove_lv_counters *c);
int pemove_lv_get_pv(struct pemove_lv *lv, dev_t dev, struct pemove_pv **pvp,
		     bool *opened);
void pemove_lv_drop_pv(struct pemove_lv *lv, struct pemove_pv *pv);
void pemove_resubmit(struct bio_list *bios);

/* pemove_track.c: per-LE state */
void pemove_le_init(struct pemove_le *le, struct pemove_pv *pv, sector_t start);
bool pemove_le_begin_io(struct pemove_lv *lv, struct pemove_le *le,
			struct bio *bio, struct pemove_pv **pv, sector_t *start);
void pemove_le_end_io(struct pemove_lv *lv, struct pemove_le *le);
int pemove_le_claim(struct pemove_le *le, u32 bits, u32 *inflight);
int pemove_le_wait_drained(struct pemove_lv *lv, struct pemove_le *le);
u32 pemove_le_release(struct pemove_le *le, u32 bits, struct pemove_pv *pv,
		      sector_t start, struct bio_list *held);
void pemove_le_switch(struct pemove_le *le, struct pemove_pv *pv,
		      sector_t start);
void pemove_le_map(struct pemove_le *le, struct pemove_pv **pv,
		   sector_t *start);
void pemove_le_status(struct pemove_le *le, struct pemove_le_status *st);

/* pemove_map.c: which PV ranges are in use */
dev_t pemove_devt(const struct pemove_extent *ext);
int pemove_check_new_map(const struct pemove_extent *ext, u32 count,
			 u32 extent_sectors);
int pemove_check_dest(struct pemove_lv *lv, const struct pemove_extent *dest,
		      struct pemove_pv **pvp);
int pemove_reserve(dev_t dev, sector_t start, sector_t len,
		   struct pemove_reservation **resp);
void pemove_unreserve(struct pemove_reservation *res);

/* pemove_copy.c: the copy reserve and the copy engine */
int pemove_copy_alloc(struct pemove_lv *lv);
void pemove_copy_free(struct pemove_lv *lv);
int pemove_copy(struct pemove_lv *lv, struct pemove_pv *src, sector_t src_start,
		struct pemove_pv *dst, sector_t dst_start);

/* pemove_move.c: PE_MOVE and the legacy PE_LOCK / PE_REMAP / PE_UNLOCK */
int pemove_pe_move(const struct pemove_pe_move *in, struct pemove_pe_move *out);
int pemove_pe_lock(struct pemove_file *pf, const struct pemove_pe_lock *in,
		   struct pemove_pe_lock *out);
int pemove_pe_unlock(struct pemove_file *pf, const struct pemove_pe_lock *in,
		     struct pemove_pe_lock *out);
int pemove_pe_remap(struct pemove_file *pf, const struct pemove_pe_lock *in,
		    struct pemove_pe_lock *out);
void pemove_file_unlock_all(struct pemove_file *pf);

#endif /* _PEMOVE_H */
