/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Private structures of the pemove module and the functions its files
 * export to one another.
 *
 * Files, top down (a file calls only those below it):
 *
 *   pemove_ctl.c	the control node: uapi validation and output, dispatch,
 *			module init and exit
 *   pemove_lv.c	LV lifecycle, block device ops, reporting
 *   pemove_move.c	PE_MOVE (whole and live), PE_MOVE_END, MOVE_STATUS
 *   pemove_legacy.c	PE_LOCK / PE_REMAP / PE_UNLOCK, the 2002 semantics
 *   pemove_io.c	the bio path: split, route, clone, mirror, complete;
 *			the flush fan-out
 *   pemove_copy.c	copy buffers and chunk IO
 *   pemove_map.c	which PV ranges are in use (scans of every LV)
 *   pemove_pv.c	PV claim, release and checks; the parallel PV flush
 *   pemove_track.c	the LE state machine: route, complete, claim, release
 *   pemove_extent.c	extent and chunk arithmetic, sorted-range overlap
 *   pemove_registry.c	module-wide state: the LV list, reservations, the
 *			map seqlock, the holder, name checks
 *
 * pemove_track.c and pemove_extent.c are pure: they touch only the structs
 * handed to them, which is what lets pemove_kunit.c test them.
 *
 * Lock order (outer first):
 *
 *   pemove_mutex		the LV list, the reservation list, lv->busy,
 *				the reserved-range check of a new extent.
 *				Never held across IO or while waiting for IO,
 *				and never needed by the bio path, a switch or
 *				a release of held bios: a slow holder (LV_CREATE
 *				opening PVs, an LV_STATUS scan) delays other
 *				commands, never IO.
 *     pemove_map_lock		seqlock: every change of a map entry or of a
 *				reservation's range (switch, PE_REMAP).  The
 *				overlap scans read under pemove_mutex (lists
 *				stable) inside a read_seqbegin_or_lock() loop
 *				(entries stable), so a switch need not take
 *				pemove_mutex: a scan that raced one reruns.
 *       le->lock		spinlock, irqsave (clone endio may run in hard
 *				irq context): state, counters, held and waiting
 *				bios, the map entry as the bio path sees it, and
 *				a live move's window and chunk counters.
 *
 *   lv->pv_lock		spinlock: lv->pvs, pv->users, lv->pv_count.
 *				Taken alone; PVs are opened and closed outside
 *				it.
 *   pf->lock			mutex: a control file's legacy locks and moves.
 *				Outside pemove_mutex.
 *   lv->flush_lock		spinlock, irqsave: the pending flush list.
 *				Innermost.
 *
 * Lifetimes:
 *
 *   LV		created by LV_CREATE, in pemove_lvs while it exists; each LV
 *		holds a module reference.  LV_REMOVE refuses an LV that is
 *		open or busy (a move, a legacy lock, a detached move).
 *   PV		struct pemove_pv is per LV.  pv->users counts the LEs that
 *		map to it plus the moves whose destination it is; when it
 *		drops to 0 the PV leaves the flush fan-out and, once the IO
 *		in flight to it completed (pv->io_ref), is closed, so the
 *		exclusive claim is given back before the command returns.
 *   move	struct pemove_move lives from PE_MOVE until its IO drained
 *		after the switch or abort; every clone that counts against
 *		it points at it, and the mover waits for those to finish.
 */
#ifndef _PEMOVE_H
#define _PEMOVE_H

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/completion.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu-refcount.h>
#include <linux/seqlock.h>
#include <linux/spinlock.h>
#include <linux/u64_stats_sync.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/pemove.h>

#include "pemove_compat.h"

/* Whole-extent copy chunk; also the size of each copy buffer. */
#define PEMOVE_COPY_CHUNK_SECTORS	PEMOVE_CHUNK_MAX_SECTORS
#define PEMOVE_COPY_PAGES	(PEMOVE_COPY_CHUNK_SECTORS / (PAGE_SIZE >> SECTOR_SHIFT))

struct pemove_lv;

/* A PV held by one LV. */
struct pemove_pv {
	struct list_head node;		/* in lv->pvs; lv->pv_lock */
	dev_t dev;
	unsigned int users;		/* LEs mapped here + moves to here */
	struct pemove_bdev_handle h;
	struct percpu_ref io_ref;	/* clones and flushes in flight */
	struct completion io_done;	/* io_ref dropped to zero after kill */
	struct list_head flush_node;	/* in one flush round */
	struct bio flush_bio;		/* that round's flush; flush work only */
	struct completion flush_done;
};

/* A chunked copy between two PEs, with its buffers. */
struct pemove_copy_buf {
	struct bio bio;			/* bio_init()ed for every chunk */
	struct bio_vec bvec[PEMOVE_COPY_PAGES];
	struct page *pages[PEMOVE_COPY_PAGES];
	struct completion done;
};

struct pemove_copy_bufs {
	struct pemove_copy_buf *buf[2];
	bool reserved;			/* the LV's own reserve, not allocated */
};

/*
 * A move of one LE.  The window [lo, hi) is in chunks: chunks below lo are
 * copied (writes to them are mirrored), chunks in the window are being
 * copied (writes to them wait), chunks from hi on are not copied yet
 * (writes go to the source only and are counted at their first chunk, so
 * the copier can drain a chunk before it reads it).
 */
struct pemove_move {
	struct pemove_lv *lv;
	struct pemove_le *le;
	u32 le_index;
	u32 flags;			/* PEMOVE_MOVE_* */
	struct pemove_pv *src;
	sector_t src_start;
	struct pemove_pv *dst;
	sector_t dst_start;
	struct pemove_reservation *res;
	struct pemove_file *owner;	/* NULL once detached; le->lock */
	struct list_head file_node;	/* in owner->moves */

	unsigned int chunk_shift;	/* log2 of chunk size in sectors */
	u32 nr_chunks;

	/* le->lock */
	u32 lo, hi;
	bool aborting;			/* writes go to the source only */
	bool switched;			/* the map now points at dst */
	u32 draining;			/* chunk the copier drains, or U32_MAX */
	u32 pre_inflight;		/* bios routed before the claim, in flight */
	u32 *chunk_inflight;		/* source-only writes, by first chunk */
	u32 src_inflight;		/* clones to the source PE */
	u32 dst_inflight;		/* clones to the destination PE */
	struct bio_list waiting[2];	/* writes to the window, by chunk parity */
	u32 nr_waiting[2];
	ktime_t window_since[2];	/* first wait on that slot's chunk */
	u64 max_wait_ns;
	u32 writes_mirrored;
	u32 writes_waited;

	int error;			/* first destination failure */
	bool ending;			/* a PE_MOVE_END or close has it */

	/* the mover only */
	ktime_t started;
	u64 copy_ns;
	u64 hold_ns;
	u32 drained;
	u32 held;
	sector_t copied;		/* WRITE_ONCE by the copier */
};

/* One logical extent: where it lives and who may use it right now. */
struct pemove_le {
	spinlock_t lock;		/* everything below; see top of file */
	u32 state;			/* PEMOVE_LE_* */
	u32 inflight;			/* bios (not clones) in flight */
	u32 nr_held;			/* bios on @held */
	struct pemove_pv *pv;		/* the map entry: PV ... */
	dev_t dev;			/* ... (its dev_t, for the scans) ... */
	sector_t start;			/* ... and first sector on it */
	struct bio_list held;		/* bios waiting for the LE to unlock */
	struct bio_list parked;		/* done, completion waits for the end */
	u32 nr_parked;			/* bios on @parked */
	struct pemove_move *move;	/* while a move owns the LE */
};

/* Hot-path counters, per CPU; u64_stats so readers see whole values. */
enum pemove_stat {
	PEMOVE_STAT_BIOS,
	PEMOVE_STAT_SPLITS,
	PEMOVE_STAT_FLUSHES,
	PEMOVE_STAT_HELD,
	PEMOVE_STAT_READS_HELD,
	PEMOVE_STAT_MIRRORED,
	PEMOVE_STAT_DISCARDS,
	PEMOVE_NR_STATS,
};

struct pemove_stats {
	struct u64_stats_sync syncp;
	u64_stats_t v[PEMOVE_NR_STATS];
};

struct pemove_lv {
	struct list_head node;		/* in pemove_lvs */
	char name[PEMOVE_NAME_LEN];
	u32 flags;			/* PEMOVE_LV_* */
	u32 extent_sectors;
	u32 extent_count;
	sector_t pv_reserved;		/* sectors at the start of each PV */
	struct queue_limits lim;	/* what the LV promised its users */
	int minor;
	struct pemove_le *les;
	struct gendisk *disk;

	spinlock_t pv_lock;		/* pvs, pv_count, pv->users */
	struct list_head pvs;
	unsigned int pv_count;

	struct bio_set split_bs;	/* bio_split() at extent and chunk ends */
	struct bio_set clone_bs;	/* clones; front_pad is struct pemove_io */
	struct bio_set mirror_bs;	/* the second leg of a mirrored write */

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

	struct mutex copy_mutex;	/* copy, while a move uses it */
	struct pemove_copy_bufs copy;

	struct pemove_stats __percpu *stats;
	atomic64_t moves;
	atomic64_t moves_failed;
	atomic64_t bytes_moved;
	atomic64_t remaps;
	u64 reserve_bytes;
};

/* Which PE a clone goes to, and what it counts against. */
enum pemove_leg {
	PEMOVE_LEG_PLAIN,		/* the LE's PE, no move involved */
	PEMOVE_LEG_SRC,			/* a moving LE's source */
	PEMOVE_LEG_DST,			/* a mirrored write's destination leg */
};

/* The tracking record of a clone, in front of it in its bio_set. */
struct pemove_io {
	struct pemove_lv *lv;
	struct pemove_le *le;		/* NULL on a PEMOVE_LV_NOTRACK LV */
	struct pemove_move *move;	/* the move this clone counts against */
	struct pemove_pv *pv;		/* holds a pv->io_ref */
	struct bio *orig;
	struct pemove_io *primary;	/* the record that completes @orig */
	atomic_t legs;			/* primary: legs not yet completed */
	blk_status_t src_status;	/* primary: the source leg's status */
	blk_status_t dst_status;	/* primary: the destination leg's */
	u8 leg;				/* enum pemove_leg */
	u32 chunk;			/* source-only write: its first chunk */
	bool mirrored;			/* primary: a second leg exists */
	bool accounted;			/* primary: acct_start is valid */
	unsigned long acct_start;
	struct bio clone;		/* must be last */
};

/* A range of a PV promised to a move in progress. */
struct pemove_reservation {
	struct list_head node;		/* in pemove_reserved; pemove_mutex */
	dev_t dev;			/* dev, start: pemove_map_lock */
	sector_t start;
	sector_t len;
};

/* A control file; it owns the legacy locks and the synced moves it made. */
struct pemove_file {
	struct mutex lock;		/* the two lists */
	struct list_head locks;		/* struct pemove_file_lock */
	struct list_head moves;		/* struct pemove_move, synced, owned */
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

/* pemove_registry.c: module-wide state */
extern struct mutex pemove_mutex;
extern seqlock_t pemove_map_lock;
extern struct list_head pemove_lvs;
extern struct list_head pemove_reserved;
extern struct workqueue_struct *pemove_wq;
extern int pemove_major;
extern void *pemove_holder;
struct pemove_lv *pemove_lv_find(const char *name);
bool pemove_name_valid(const char *name);
bool pemove_zero(const void *p, size_t size);

/* pemove_extent.c: arithmetic and sorted-range overlap, pure */
struct pemove_key {
	dev_t dev;
	sector_t start;
};

dev_t pemove_devt(const struct pemove_extent *ext);
bool pemove_overlap(sector_t a, sector_t alen, sector_t b, sector_t blen);
void pemove_keys_sort(struct pemove_key *keys, u32 n);
bool pemove_keys_disjoint(const struct pemove_key *keys, u32 n, u32 key_len);
bool pemove_keys_overlap(const struct pemove_key *keys, u32 n, u32 key_len,
			 dev_t dev, sector_t start, sector_t len);
u32 pemove_le_of(sector_t sector, u32 extent_sectors, u32 *offset);
u32 pemove_max_sectors(u32 offset, u32 len, u32 extent_sectors,
		       unsigned int chunk_shift);
bool pemove_chunk_size_valid(u32 chunk_sectors);

/* pemove_track.c: the LE state machine, pure */
enum pemove_route {
	PEMOVE_ROUTE_GO,		/* to the LE's PE (r->pv, r->start) */
	PEMOVE_ROUTE_SRC,		/* to a moving LE's source */
	PEMOVE_ROUTE_MIRROR,		/* to the source and the destination */
	PEMOVE_ROUTE_HELD,		/* queued on the LE; do not touch */
	PEMOVE_ROUTE_WAIT,		/* queued on the move's window */
};

struct pemove_routing {
	struct pemove_pv *pv;		/* GO, SRC, MIRROR: first leg */
	sector_t start;
	struct pemove_pv *dst;		/* MIRROR: second leg */
	sector_t dst_start;
	struct pemove_move *move;	/* SRC, MIRROR */
	u32 chunk;			/* SRC write: counted chunk, or U32_MAX */
};

void pemove_le_init(struct pemove_le *le, struct pemove_pv *pv, sector_t start);
enum pemove_route pemove_le_route(struct pemove_le *le, struct bio *bio,
				  u32 offset, struct pemove_routing *r);
#define PEMOVE_WAKE_LV		0x1	/* lv->wait: a locked LE drained */
#define PEMOVE_WAKE_MOVE	0x2	/* move->wait: a chunk or the move drained */
unsigned int pemove_le_end_io(struct pemove_le *le, struct pemove_move *m,
			      enum pemove_leg leg, u32 chunk, bool last,
			      blk_status_t status, bool *switched);
int pemove_le_claim(struct pemove_le *le, u32 bits, struct pemove_move *m,
		    u32 *inflight);
bool pemove_le_drained(struct pemove_le *le);
unsigned int pemove_le_split_shift(struct pemove_le *le);
u32 pemove_le_take_held(struct pemove_le *le, struct bio_list *held);
bool pemove_le_park(struct pemove_le *le, struct bio *done);
void pemove_le_unpark(struct pemove_le *le, struct bio_list *done);
u32 pemove_le_release(struct pemove_le *le, u32 bits, struct bio_list *held);
u32 pemove_le_synced(struct pemove_le *le, struct pemove_move *m,
		     struct bio_list *held);
void pemove_le_map(struct pemove_le *le, struct pemove_pv **pv,
		   sector_t *start);
void pemove_le_status(struct pemove_le *le, struct pemove_le_status *st);
void pemove_window_open(struct pemove_move *m, u32 chunk);
bool pemove_chunk_drained(struct pemove_move *m, u32 chunk);
bool pemove_move_predrained(struct pemove_move *m);
void pemove_window_close(struct pemove_move *m, u32 lo, struct bio_list *bios);
void pemove_move_stop_mirroring(struct pemove_move *m, struct bio_list *bios);
bool pemove_move_idle(struct pemove_move *m, bool src, bool dst);

/* pemove_pv.c: PV claim, release, checks, flush */
int pemove_pv_get(struct pemove_lv *lv, dev_t dev, struct pemove_pv **pvp);
void pemove_pv_put(struct pemove_lv *lv, struct pemove_pv *pv);
void pemove_pv_put_all(struct pemove_lv *lv);
int pemove_pv_check_dest(struct pemove_lv *lv, struct pemove_pv *pv);
bool pemove_pv_stack_limits(struct queue_limits *lim, struct pemove_pv *pv,
			    sector_t start);
int pemove_pv_flush_all(struct pemove_lv *lv);

/* pemove_map.c: which PV ranges are in use */
int pemove_check_new_map(const struct pemove_extent *ext, u32 count,
			 u32 extent_sectors);
int pemove_check_range(struct pemove_lv *lv, struct pemove_pv *pv,
		       sector_t start);
int pemove_reserve(dev_t dev, sector_t start, sector_t len,
		   struct pemove_reservation **resp);
void pemove_unreserve(struct pemove_reservation *res);
int pemove_map_switch(struct pemove_le *le, struct pemove_pv *pv,
		      sector_t start, struct pemove_reservation *res,
		      struct pemove_move *m, u32 clear, struct bio_list *held,
		      u32 *nr_held);

/* pemove_copy.c: copy buffers and chunk IO */
int pemove_copy_reserve(struct pemove_lv *lv);
void pemove_copy_release(struct pemove_lv *lv);
int pemove_copy_get(struct pemove_lv *lv, struct pemove_copy_bufs *bufs);
void pemove_copy_put(struct pemove_lv *lv, struct pemove_copy_bufs *bufs);
void pemove_copy_submit(struct pemove_copy_buf *buf, struct block_device *bdev,
			sector_t sector, unsigned int sectors, blk_opf_t opf);
int pemove_copy_wait(struct pemove_copy_buf *buf);

/* pemove_io.c: the bio path */
void pemove_submit_bio(struct bio *bio);
void pemove_resubmit(struct bio_list *bios);
void pemove_complete_parked(struct bio_list *done);
void pemove_flush_work(struct work_struct *work);
void pemove_stat_add(struct pemove_lv *lv, enum pemove_stat idx, u64 n);

/* pemove_legacy.c: PE_LOCK / PE_REMAP / PE_UNLOCK */
int pemove_pe_lock(struct pemove_file *pf, struct pemove_lv *lv, u32 le,
		   u32 *inflight);
int pemove_pe_unlock(struct pemove_file *pf, struct pemove_lv *lv, u32 le);
int pemove_pe_remap(struct pemove_file *pf, struct pemove_lv *lv, u32 le,
		    dev_t dev, sector_t start);
void pemove_file_unlock_all(struct pemove_file *pf);

/* pemove_move.c: PE_MOVE, PE_MOVE_END, MOVE_STATUS */
struct pemove_move_args {
	u32 flags;			/* PEMOVE_MOVE_* */
	u32 chunk_sectors;
	dev_t dev;
	sector_t start;
};

struct pemove_move_result {
	u64 bytes_copied;
	u64 hold_ns;
	u64 copy_ns;
	u64 switch_ns;
	u64 max_wait_ns;
	u32 drained;
	u32 held;
	u32 writes_mirrored;
	u32 writes_waited;
	u32 chunk_sectors;
	struct pemove_extent dest;
};

int pemove_pe_move(struct pemove_file *pf, struct pemove_lv *lv, u32 le,
		   const struct pemove_move_args *args,
		   struct pemove_move_result *res);
int pemove_pe_move_end(struct pemove_file *pf, struct pemove_lv *lv, u32 le,
		       u32 op, struct pemove_move_result *res);
void pemove_move_status(struct pemove_lv *lv, u32 le,
			struct pemove_move_status *st);
void pemove_file_end_moves(struct pemove_file *pf);

/* pemove_lv.c: LV lifecycle and reporting */
struct pemove_lv_args {
	const char *name;
	u32 flags;
	u32 extent_sectors;
	u32 extent_count;
	sector_t pv_reserved;
	const struct pemove_extent *ext;
};

struct pemove_lv *pemove_lv_create(const struct pemove_lv_args *args);
int pemove_lv_remove(const char *name);
struct pemove_lv *pemove_lv_get(const char *name, bool need_tracking, u64 le,
				u32 *index);
void pemove_lv_put(struct pemove_lv *lv);
void pemove_lv_info(struct pemove_lv *lv, struct pemove_lv_info *info);
void pemove_lv_counters(struct pemove_lv *lv, struct pemove_lv_counters *c);

#endif /* _PEMOVE_H */
