/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pemove: extent-mapped logical volumes with a locked physical-extent move.
 *
 * This header is the only definition of the pemove ioctl interface.  The
 * Python client reads it at import time (cffi, ABI mode), so it follows a
 * few rules that keep it machine-readable:
 *
 *   - every integer constant is "#define PEMOVE_<NAME> <integer literal>";
 *     no expressions, no casts;
 *   - every ioctl number is "#define PEMOVE_IOC_<NAME> _IOWR(PEMOVE_IOC_MAGIC,
 *     <nr>, struct <type>)" (or _IO/_IOR/_IOW);
 *   - structs use only __u8/__u32/__u64 and fixed char arrays, with all
 *     padding explicit, so that the layout is the same on every ABI.
 *
 * Compatibility rules
 * -------------------
 * Every command struct starts with struct pemove_hdr.  The caller puts the
 * interface version it was built against in hdr.version; the kernel always
 * writes its own version back, on success and on failure.  A call succeeds
 * only if the major numbers are equal and the caller's minor is not greater
 * than the kernel's; otherwise it fails with EINVAL and nothing changes.
 * Minor versions only append commands, feature bits and struct fields taken
 * from reserved space, which must be zero on input.  A field taken from
 * reserved space means, when it is zero, exactly what the call meant before
 * the field existed: an old caller gets the old behaviour.  Command numbers
 * are append-only and are never reused.
 *
 * History: 1.0 is the seed interface.  1.1 adds the live move and the
 * two-phase move (pemove_pe_move.move_flags, PE_MOVE_END, MOVE_STATUS), the
 * chunk limits in pemove_version, pemove_lv_create.pv_reserved_sectors, and
 * the feature bits PEMOVE_FEAT_LIVE_MOVE, PEMOVE_FEAT_TWO_PHASE,
 * PEMOVE_FEAT_DISCARD and PEMOVE_FEAT_PV_RESERVE.
 *
 * Before any command takes effect the kernel writes the caller's struct
 * back (with the kernel's version in it), so a buffer that cannot be written
 * fails with EFAULT before anything changes.  Only a caller that unmaps the
 * buffer from another thread during the call can see EFAULT for a command
 * that took effect.
 *
 * ioctl magic: 0xE7, which Documentation/userspace-api/ioctl/ioctl-number.rst
 * leaves unassigned.
 *
 * Units: sectors are 512 bytes.  An LE (logical extent) index counts extents
 * from the start of the LV.  A PV (physical volume) is named by the major and
 * minor numbers of a block device.
 */
#ifndef _UAPI_LINUX_PEMOVE_H
#define _UAPI_LINUX_PEMOVE_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define PEMOVE_VERSION_MAJOR		1
#define PEMOVE_VERSION_MINOR		1
#define PEMOVE_VERSION_PATCH		0

/* Fixed lengths, NUL terminator included. */
#define PEMOVE_NAME_LEN			32
#define PEMOVE_DISK_NAME_LEN		32

/* Upper bound on extents per LV, and on entries returned per LV_STATUS call. */
#define PEMOVE_MAX_EXTENTS		1048576

/* Extent size: a multiple of 8 sectors (4 KiB), at most 2^31 sectors. */
#define PEMOVE_EXTENT_ALIGN_SECTORS	8

/* pemove_version.features: what this module can do. */
#define PEMOVE_FEAT_PE_MOVE		0x1	/* PE_MOVE is enabled (locked_copy=1) */
#define PEMOVE_FEAT_LEGACY_LOCK		0x2	/* PE_LOCK, PE_REMAP, PE_UNLOCK */
#define PEMOVE_FEAT_NOTRACK		0x4	/* PEMOVE_LV_NOTRACK is accepted */
#define PEMOVE_FEAT_LIVE_MOVE		0x8	/* PEMOVE_MOVE_LIVE (1.1) */
#define PEMOVE_FEAT_TWO_PHASE		0x10	/* PEMOVE_MOVE_SYNC_ONLY, PE_MOVE_END (1.1) */
#define PEMOVE_FEAT_DISCARD		0x20	/* discard and write-zeroes pass through (1.1) */
#define PEMOVE_FEAT_PV_RESERVE		0x40	/* pemove_lv_create.pv_reserved_sectors (1.1) */

/* pemove_lv_create.flags and pemove_lv_info.flags */
#define PEMOVE_LV_NOTRACK		0x1	/* no in-flight tracking; no moves */

/* pemove_le_status.state and pemove_move_status.state: bits */
#define PEMOVE_LE_LOCKED		0x1	/* whole-extent copy: all new bios are held */
#define PEMOVE_LE_WRLOCKED		0x2	/* PE_LOCK: new writes are held */
#define PEMOVE_LE_MOVING		0x4	/* a PE_MOVE owns this LE */
#define PEMOVE_LE_COPYING		0x8	/* live copy: writes wait by chunk */
#define PEMOVE_LE_SYNCED		0x10	/* copied: writes go to both PEs */
#define PEMOVE_LE_DETACHED		0x20	/* a synced move no control file owns */

/*
 * pemove_pe_move.move_flags (1.1).  Zero is the 1.0 move: the whole extent
 * is locked, copied and switched in one call.
 *
 * PEMOVE_MOVE_LIVE: reads are never held and go to the source until the
 * switch; a write waits only while the chunk it falls in is being copied;
 * a write to a chunk already copied reaches both PEs before it completes,
 * so the copy converges whatever the write rate.
 *
 * PEMOVE_MOVE_SYNC_ONLY: stop when the destination is in sync (copied and
 * flushed, every write now mirrored) and return; the move then belongs to
 * the calling control file until PE_MOVE_END commits it (switches the map),
 * aborts it or detaches it.  Closing that control file aborts it.
 */
#define PEMOVE_MOVE_LIVE		0x1
#define PEMOVE_MOVE_SYNC_ONLY		0x2

/* pemove_pe_move_end.op (1.1) */
#define PEMOVE_END_COMMIT		1	/* switch the map to the destination */
#define PEMOVE_END_ABORT		2	/* drop the destination; the map is unchanged */
#define PEMOVE_END_DETACH		3	/* keep mirroring after this file closes */

/* Live-move chunk sizes, in sectors; each chunk size is a power of two. */
#define PEMOVE_CHUNK_MIN_SECTORS	8
#define PEMOVE_CHUNK_MAX_SECTORS	2048
#define PEMOVE_CHUNK_DEFAULT_SECTORS	512

/* Common prefix of every command struct. */
struct pemove_hdr {
	__u32 version[3];	/* in: caller's; out: kernel's */
	__u32 flags;		/* in: must be 0 */
};

/* A physical extent: where one LE lives. */
struct pemove_extent {
	__u32 major;		/* PV block device major */
	__u32 minor;		/* PV block device minor */
	__u64 sector;		/* first sector on the PV */
};

/* PEMOVE_IOC_VERSION */
struct pemove_version {
	struct pemove_hdr hdr;
	__u64 features;		/* out: PEMOVE_FEAT_* */
	__u32 max_extents;	/* out: PEMOVE_MAX_EXTENTS */
	__u32 copy_chunk_sectors;	/* out: whole-extent copy chunk size */
	__u32 chunk_min_sectors;	/* out (1.1): PEMOVE_CHUNK_MIN_SECTORS */
	__u32 chunk_max_sectors;	/* out (1.1): PEMOVE_CHUNK_MAX_SECTORS */
	__u32 chunk_default_sectors;	/* out (1.1): used when move asks for 0 */
	__u32 padding;
	__u64 reserved[4];	/* out: zero */
};

/* PEMOVE_IOC_LV_CREATE */
struct pemove_lv_create {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in: unique LV name */
	__u64 extent_sectors;	/* in: extent size, see PEMOVE_EXTENT_ALIGN_SECTORS */
	__u64 extents;		/* in: user pointer to extent_count pemove_extent */
	__u32 extent_count;	/* in: 1..PEMOVE_MAX_EXTENTS */
	__u32 lv_flags;		/* in: PEMOVE_LV_* */
	char disk_name[PEMOVE_DISK_NAME_LEN];	/* out: e.g. "pemove0" */
	__u32 disk_major;	/* out */
	__u32 disk_minor;	/* out */
	/*
	 * in (1.1): the first pv_reserved_sectors of every PV this LV uses hold
	 * metadata; no extent of the LV and no destination of its moves may
	 * overlap them.  0: extents may start at sector 0.
	 */
	__u64 pv_reserved_sectors;
	__u64 reserved[3];	/* in: zero; out: zero */
};

/* PEMOVE_IOC_LV_REMOVE */
struct pemove_lv_remove {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in */
	__u64 reserved[4];	/* in: zero */
};

/* One LV, as reported by LV_LIST and LV_STATUS. */
struct pemove_lv_info {
	char name[PEMOVE_NAME_LEN];
	char disk_name[PEMOVE_DISK_NAME_LEN];
	__u32 disk_major;
	__u32 disk_minor;
	__u64 extent_sectors;
	__u32 extent_count;
	__u32 lv_flags;		/* PEMOVE_LV_* */
	__u32 open_count;	/* openers of the LV's block device */
	__u32 pv_count;		/* distinct PVs the LV holds: used by an LE or a move */
	__u64 reserve_bytes;	/* memory reserved for this LV (copy buffer, map) */
};

/* PEMOVE_IOC_LV_LIST */
struct pemove_lv_list {
	struct pemove_hdr hdr;
	__u64 lvs;		/* in: user pointer to capacity pemove_lv_info */
	__u32 capacity;		/* in: room in lvs[] (0 asks for the count only) */
	__u32 count;		/* out: LVs that exist; min(count, capacity) filled */
	__u64 reserved[4];
};

/* Per-LE state, as reported by LV_STATUS. */
struct pemove_le_status {
	struct pemove_extent pe;	/* current mapping */
	__u32 state;		/* PEMOVE_LE_* */
	__u32 inflight;		/* tracked bios in flight on the PE */
	__u32 held;		/* bios held by a lock, or waiting for a chunk */
	__u32 padding;
};

/* Whole-LV counters, as reported by LV_STATUS. */
struct pemove_lv_counters {
	__u64 bios;		/* bios submitted to the LV */
	__u64 splits;		/* bios split at an extent or chunk boundary */
	__u64 flushes;		/* empty flushes fanned out to the PVs */
	__u64 held;		/* bios ever held by a lock, or waiting for a chunk */
	__u64 moves;		/* PE_MOVE calls that switched the map */
	__u64 moves_failed;	/* PE_MOVE calls that left the map unchanged */
	__u64 bytes_moved;	/* bytes copied by successful moves */
	__u64 remaps;		/* PE_REMAP calls */
	__u64 reads_held;	/* (1.1) reads among held: 0 for live moves */
	__u64 writes_mirrored;	/* (1.1) writes sent to both PEs of a moving LE */
	__u64 discards;		/* (1.1) discard and write-zeroes bios */
	__u64 reserved[5];
};

/* PEMOVE_IOC_LV_STATUS */
struct pemove_lv_status {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in */
	__u64 les;		/* in: user pointer to le_capacity pemove_le_status */
	__u32 le_first;		/* in: first LE to report */
	__u32 le_capacity;	/* in: room in les[] (0: none wanted) */
	__u32 le_count;		/* out: entries filled */
	__u32 padding;
	struct pemove_lv_info info;	/* out */
	struct pemove_lv_counters counters;	/* out */
	__u64 reserved[4];
};

/*
 * PEMOVE_IOC_PE_MOVE.  Times are in nanoseconds.  For a whole-extent move
 * hold_ns is how long all IO to the LE was held; a live move holds no IO as
 * a whole (hold_ns is 0) and max_wait_ns is the longest any write waited
 * for the chunk it fell in.  With PEMOVE_MOVE_SYNC_ONLY the statistics are
 * those of the copy; PE_MOVE_END reports the switch.
 */
struct pemove_pe_move {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in: LV */
	__u64 le;		/* in: LE to move */
	struct pemove_extent dest;	/* in: new PE; must not overlap any PE in use */
	__u64 bytes_copied;	/* out */
	__u64 hold_ns;		/* out: how long all new IO to the LE was held */
	__u64 copy_ns;		/* out: time spent copying */
	__u64 bios_drained;	/* out: bios in flight when the LE was locked */
	__u64 bios_held;	/* out: bios held, or waiting for a chunk */
	__u32 move_flags;	/* in (1.1): PEMOVE_MOVE_* */
	__u32 chunk_sectors;	/* in (1.1): live chunk size, 0 = default; out: used */
	__u64 max_wait_ns;	/* out (1.1): longest wait of one bio */
	__u64 switch_ns;	/* out (1.1): destination flush plus map switch */
	__u32 writes_mirrored;	/* out (1.1): writes sent to both PEs */
	__u32 writes_waited;	/* out (1.1): writes that waited for a chunk */
};

/*
 * PEMOVE_IOC_PE_MOVE_END (1.1): finish a move that PE_MOVE left in sync
 * (PEMOVE_LE_SYNCED).  The calling control file must own it, or it must be
 * detached.  COMMIT fails with the destination's errno, and aborts, if a
 * mirrored write to the destination failed.
 */
struct pemove_pe_move_end {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in: LV */
	__u64 le;		/* in */
	__u32 op;		/* in: PEMOVE_END_* */
	__u32 padding;
	struct pemove_extent dest;	/* out: the move's destination */
	__u64 switch_ns;	/* out: COMMIT: the map switch and source drain */
	__u64 writes_mirrored;	/* out: writes sent to both PEs over the move */
	__u64 max_wait_ns;	/* out: longest wait of one bio over the move */
	__u64 reserved[4];
};

/* PEMOVE_IOC_MOVE_STATUS (1.1): a move in progress, for progress bars. */
struct pemove_move_status {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in: LV */
	__u64 le;		/* in */
	__u32 state;		/* out: PEMOVE_LE_* of the LE; 0: no move */
	__u32 move_flags;	/* out: the move's PEMOVE_MOVE_* */
	struct pemove_extent source;	/* out */
	struct pemove_extent dest;	/* out */
	__u64 total_sectors;	/* out: sectors to copy */
	__u64 copied_sectors;	/* out: sectors copied so far */
	__u32 chunk_sectors;	/* out */
	__u32 padding;
	__u64 writes_mirrored;	/* out */
	__u64 writes_waited;	/* out */
	__u64 max_wait_ns;	/* out */
	__u64 elapsed_ns;	/* out: since the move started */
	__u64 reserved[4];
};

/*
 * PEMOVE_IOC_PE_LOCK, PEMOVE_IOC_PE_UNLOCK, PEMOVE_IOC_PE_REMAP: the 2002
 * semantics, kept on purpose.  PE_LOCK writes back the LV's dirty page
 * cache, then holds new writes to the LE (reads pass) and does not wait for
 * bios in flight.  PE_REMAP (dest used) is allowed only while the LE is
 * locked.  A lock is dropped when the control file that took it is closed.
 */
struct pemove_pe_lock {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in: LV */
	__u64 le;		/* in */
	struct pemove_extent dest;	/* in: PE_REMAP only; zero otherwise */
	__u64 bios_inflight;	/* out: PE_LOCK: bios in flight it did not wait for */
	__u64 reserved[3];
};

#define PEMOVE_IOC_MAGIC		0xE7

#define PEMOVE_IOC_VERSION	_IOWR(PEMOVE_IOC_MAGIC, 0x00, struct pemove_version)
#define PEMOVE_IOC_LV_CREATE	_IOWR(PEMOVE_IOC_MAGIC, 0x01, struct pemove_lv_create)
#define PEMOVE_IOC_LV_REMOVE	_IOWR(PEMOVE_IOC_MAGIC, 0x02, struct pemove_lv_remove)
#define PEMOVE_IOC_LV_LIST	_IOWR(PEMOVE_IOC_MAGIC, 0x03, struct pemove_lv_list)
#define PEMOVE_IOC_LV_STATUS	_IOWR(PEMOVE_IOC_MAGIC, 0x04, struct pemove_lv_status)
#define PEMOVE_IOC_PE_MOVE	_IOWR(PEMOVE_IOC_MAGIC, 0x05, struct pemove_pe_move)
#define PEMOVE_IOC_PE_LOCK	_IOWR(PEMOVE_IOC_MAGIC, 0x06, struct pemove_pe_lock)
#define PEMOVE_IOC_PE_UNLOCK	_IOWR(PEMOVE_IOC_MAGIC, 0x07, struct pemove_pe_lock)
#define PEMOVE_IOC_PE_REMAP	_IOWR(PEMOVE_IOC_MAGIC, 0x08, struct pemove_pe_lock)
#define PEMOVE_IOC_PE_MOVE_END	_IOWR(PEMOVE_IOC_MAGIC, 0x09, struct pemove_pe_move_end)
#define PEMOVE_IOC_MOVE_STATUS	_IOWR(PEMOVE_IOC_MAGIC, 0x0a, struct pemove_move_status)

#endif /* _UAPI_LINUX_PEMOVE_H */
