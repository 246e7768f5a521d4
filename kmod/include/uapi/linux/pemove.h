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
 * from reserved space, which must be zero on input.  Command numbers are
 * append-only and are never reused.
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
#define PEMOVE_VERSION_MINOR		0
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

/* pemove_lv_create.flags and pemove_lv_info.flags */
#define PEMOVE_LV_NOTRACK		0x1	/* no in-flight tracking; no moves */

/* pemove_le_status.state: bits */
#define PEMOVE_LE_LOCKED		0x1	/* PE_MOVE: all new bios are held */
#define PEMOVE_LE_WRLOCKED		0x2	/* PE_LOCK: new writes are held */
#define PEMOVE_LE_MOVING		0x4	/* a PE_MOVE owns this LE */

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
	__u32 copy_chunk_sectors;	/* out: copy engine chunk size */
	__u64 reserved[6];	/* out: zero */
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
	__u64 reserved[4];	/* in: zero; out: zero */
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
	__u32 pv_count;		/* distinct PVs held open by the LV */
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
	__u32 held;		/* bios held by a lock */
	__u32 padding;
};

/* Whole-LV counters, as reported by LV_STATUS. */
struct pemove_lv_counters {
	__u64 bios;		/* bios submitted to the LV */
	__u64 splits;		/* bios split at an extent boundary */
	__u64 flushes;		/* empty flushes fanned out to the PVs */
	__u64 held;		/* bios ever held by a lock */
	__u64 moves;		/* PE_MOVE calls that switched the map */
	__u64 moves_failed;	/* PE_MOVE calls that left the map unchanged */
	__u64 bytes_moved;	/* bytes copied by successful moves */
	__u64 remaps;		/* PE_REMAP calls */
	__u64 reserved[8];
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

/* PEMOVE_IOC_PE_MOVE */
struct pemove_pe_move {
	struct pemove_hdr hdr;
	char name[PEMOVE_NAME_LEN];	/* in: LV */
	__u64 le;		/* in: LE to move */
	struct pemove_extent dest;	/* in: new PE; must not overlap any PE in use */
	__u64 bytes_copied;	/* out */
	__u64 hold_ns;		/* out: how long new IO to the LE was held */
	__u64 copy_ns;		/* out: time spent copying */
	__u64 bios_drained;	/* out: bios in flight when the LE was locked */
	__u64 bios_held;	/* out: bios held while the LE was locked */
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

#endif /* _UAPI_LINUX_PEMOVE_H */
