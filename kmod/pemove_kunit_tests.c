// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of pemove's pure parts: extent and chunk arithmetic, sorted
 * overlap checks, and the LE state machine (claim, route, end_io, release,
 * and a live move's window).  Built as pemove_kunit.ko when the kernel has
 * KUnit; the suites run when it is loaded and report in KTAP.
 */
#include "pemove.h"

#include <kunit/test.h>
#include <linux/module.h>
#include <linux/slab.h>

/* -- extent arithmetic and overlap ----------------------------------------- */

static void pemove_test_devt(struct kunit *test)
{
	struct pemove_extent ok = { .major = 8, .minor = 16 };
	struct pemove_extent big_major = { .major = 1U << 12, .minor = 0 };
	struct pemove_extent big_minor = { .major = 8, .minor = MINORMASK + 1 };

	KUNIT_EXPECT_EQ(test, pemove_devt(&ok), MKDEV(8, 16));
	KUNIT_EXPECT_EQ(test, pemove_devt(&big_major), (dev_t)0);
	KUNIT_EXPECT_EQ(test, pemove_devt(&big_minor), (dev_t)0);
}

static void pemove_test_overlap(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, pemove_overlap(0, 8, 7, 8));
	KUNIT_EXPECT_FALSE(test, pemove_overlap(0, 8, 8, 8));
	KUNIT_EXPECT_FALSE(test, pemove_overlap(16, 8, 8, 8));
	KUNIT_EXPECT_TRUE(test, pemove_overlap(0, 100, 40, 1));
}

static void pemove_test_keys(struct kunit *test)
{
	struct pemove_key keys[] = {
		{ MKDEV(8, 16), 64 }, { MKDEV(8, 0), 0 }, { MKDEV(8, 0), 16 },
		{ MKDEV(8, 16), 0 },
	};
	struct pemove_key clash[] = { { MKDEV(8, 0), 0 }, { MKDEV(8, 0), 8 } };

	pemove_keys_sort(keys, ARRAY_SIZE(keys));
	KUNIT_EXPECT_EQ(test, keys[0].dev, MKDEV(8, 0));
	KUNIT_EXPECT_EQ(test, keys[1].start, (sector_t)16);
	KUNIT_EXPECT_EQ(test, keys[3].start, (sector_t)64);
	KUNIT_EXPECT_TRUE(test, pemove_keys_disjoint(keys, 4, 16));
	KUNIT_EXPECT_FALSE(test, pemove_keys_disjoint(keys, 4, 17));
	KUNIT_EXPECT_FALSE(test, pemove_keys_disjoint(clash, 2, 16));

	/* 8:0 holds [0, 16) and [16, 32); 8:16 holds [0, 16) and [64, 80). */
	KUNIT_EXPECT_TRUE(test, pemove_keys_overlap(keys, 4, 16, MKDEV(8, 0),
						    31, 1));
	KUNIT_EXPECT_FALSE(test, pemove_keys_overlap(keys, 4, 16, MKDEV(8, 0),
						     32, 100));
	KUNIT_EXPECT_FALSE(test, pemove_keys_overlap(keys, 4, 16, MKDEV(8, 16),
						     16, 48));
	KUNIT_EXPECT_TRUE(test, pemove_keys_overlap(keys, 4, 16, MKDEV(8, 16),
						    16, 49));
	KUNIT_EXPECT_FALSE(test, pemove_keys_overlap(keys, 4, 16, MKDEV(9, 0),
						     0, 1000));
	KUNIT_EXPECT_FALSE(test, pemove_keys_overlap(keys, 0, 16, MKDEV(8, 0),
						     0, 1));
}

static void pemove_test_le_of(struct kunit *test)
{
	u32 off;

	KUNIT_EXPECT_EQ(test, pemove_le_of(0, 8192, &off), 0U);
	KUNIT_EXPECT_EQ(test, off, 0U);
	KUNIT_EXPECT_EQ(test, pemove_le_of(8191, 8192, &off), 0U);
	KUNIT_EXPECT_EQ(test, off, 8191U);
	KUNIT_EXPECT_EQ(test, pemove_le_of(8192 * 5 + 3, 8192, &off), 5U);
	KUNIT_EXPECT_EQ(test, off, 3U);
	/* Past 2^32 extents the index saturates, so it is out of range. */
	KUNIT_EXPECT_EQ(test, pemove_le_of((sector_t)8 << 33, 8, &off), U32_MAX);
}

static void pemove_test_max_sectors(struct kunit *test)
{
	/* Only the extent end counts without a chunk. */
	KUNIT_EXPECT_EQ(test, pemove_max_sectors(8000, 1000, 8192, 0), 192U);
	KUNIT_EXPECT_EQ(test, pemove_max_sectors(0, 1000, 8192, 0), 1000U);
	/* 512-sector chunks: a write from 500 may go to 512. */
	KUNIT_EXPECT_EQ(test, pemove_max_sectors(500, 100, 8192, 9), 12U);
	KUNIT_EXPECT_EQ(test, pemove_max_sectors(512, 100, 8192, 9), 100U);
	/* The extent ends before the chunk would. */
	KUNIT_EXPECT_EQ(test, pemove_max_sectors(8190, 100, 8192, 11), 2U);
}

static void pemove_test_chunk_size(struct kunit *test)
{
	KUNIT_EXPECT_TRUE(test, pemove_chunk_size_valid(PEMOVE_CHUNK_MIN_SECTORS));
	KUNIT_EXPECT_TRUE(test, pemove_chunk_size_valid(PEMOVE_CHUNK_MAX_SECTORS));
	KUNIT_EXPECT_TRUE(test, pemove_chunk_size_valid(512));
	KUNIT_EXPECT_FALSE(test, pemove_chunk_size_valid(0));
	KUNIT_EXPECT_FALSE(test, pemove_chunk_size_valid(4));
	KUNIT_EXPECT_FALSE(test, pemove_chunk_size_valid(768));
	KUNIT_EXPECT_FALSE(test, pemove_chunk_size_valid(PEMOVE_CHUNK_MAX_SECTORS * 2));
}

static struct kunit_case pemove_extent_cases[] = {
	KUNIT_CASE(pemove_test_devt),
	KUNIT_CASE(pemove_test_overlap),
	KUNIT_CASE(pemove_test_keys),
	KUNIT_CASE(pemove_test_le_of),
	KUNIT_CASE(pemove_test_max_sectors),
	KUNIT_CASE(pemove_test_chunk_size),
	{}
};

static struct kunit_suite pemove_extent_suite = {
	.name = "pemove_extent",
	.test_cases = pemove_extent_cases,
};

/* -- the LE state machine --------------------------------------------------- */

#define T_CHUNK_SHIFT	3	/* 8-sector chunks */
#define T_CHUNKS	4
#define T_BIOS		8

struct pemove_track_fixture {
	struct pemove_pv src, dst;
	struct pemove_le le;
	struct pemove_move m;
	struct bio *bios;	/* T_BIOS of them (struct bio ends in a flex array) */
};

static void pemove_noop_release(struct percpu_ref *ref)
{
}

static int pemove_track_init(struct kunit *test)
{
	struct pemove_track_fixture *f;

	f = kunit_kzalloc(test, sizeof(*f), GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
	f->bios = kunit_kcalloc(test, T_BIOS, sizeof(*f->bios), GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f->bios);
	KUNIT_ASSERT_EQ(test, percpu_ref_init(&f->src.io_ref,
					      pemove_noop_release, 0,
					      GFP_KERNEL), 0);
	KUNIT_ASSERT_EQ(test, percpu_ref_init(&f->dst.io_ref,
					      pemove_noop_release, 0,
					      GFP_KERNEL), 0);
	f->src.dev = MKDEV(8, 0);
	f->dst.dev = MKDEV(8, 16);
	pemove_le_init(&f->le, &f->src, 1000);

	f->m.le = &f->le;
	f->m.dst = &f->dst;
	f->m.dst_start = 5000;
	f->m.chunk_shift = T_CHUNK_SHIFT;
	f->m.nr_chunks = T_CHUNKS;
	f->m.draining = U32_MAX;
	f->m.flags = PEMOVE_MOVE_LIVE;
	bio_list_init(&f->m.waiting[0]);
	bio_list_init(&f->m.waiting[1]);
	f->m.chunk_inflight = kunit_kcalloc(test, T_CHUNKS, sizeof(u32),
					    GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f->m.chunk_inflight);
	test->priv = f;
	return 0;
}

static void pemove_track_exit(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;

	percpu_ref_exit(&f->src.io_ref);
	percpu_ref_exit(&f->dst.io_ref);
}

/* A bio of @sectors at LE offset 0, as the bio path would hand it over. */
static struct bio *pemove_test_bio(struct pemove_track_fixture *f, int i,
				   blk_opf_t op, u32 sectors)
{
	struct bio *bio = &f->bios[i];

	bio_init(bio, NULL, NULL, 0, op);
	bio->bi_iter.bi_size = sectors << SECTOR_SHIFT;
	return bio;
}

/* Route a fresh 8-sector bio @i of @op at LE offset @offset. */
static enum pemove_route pemove_test_route(struct pemove_track_fixture *f,
					   int i, blk_opf_t op, u32 offset,
					   struct pemove_routing *r)
{
	return pemove_le_route(&f->le, pemove_test_bio(f, i, op, 8), offset, r);
}

static void pemove_test_plain(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;
	struct pemove_routing r = {};
	bool switched = true;

	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 0, REQ_OP_WRITE, 16, &r),
			PEMOVE_ROUTE_GO);
	KUNIT_EXPECT_PTR_EQ(test, r.pv, &f->src);
	KUNIT_EXPECT_EQ(test, r.start, (sector_t)1016);
	KUNIT_EXPECT_EQ(test, f->le.inflight, 1U);
	KUNIT_EXPECT_EQ(test, pemove_le_end_io(&f->le, NULL, PEMOVE_LEG_PLAIN,
					       U32_MAX, true, BLK_STS_OK,
					       &switched), 0U);
	KUNIT_EXPECT_TRUE(test, switched);	/* untouched without a move */
	KUNIT_EXPECT_EQ(test, f->le.inflight, 0U);
	percpu_ref_put(&f->src.io_ref);
}

static void pemove_test_locked_holds_all(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;
	struct bio_list held = BIO_EMPTY_LIST;
	struct pemove_routing r = {};
	bool switched;
	u32 inflight;

	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 0, REQ_OP_READ, 0, &r),
			PEMOVE_ROUTE_GO);
	KUNIT_EXPECT_EQ(test, pemove_le_claim(&f->le, PEMOVE_LE_LOCKED |
					      PEMOVE_LE_MOVING, NULL,
					      &inflight), 0);
	KUNIT_EXPECT_EQ(test, inflight, 1U);
	KUNIT_EXPECT_EQ(test, pemove_le_claim(&f->le, PEMOVE_LE_WRLOCKED, NULL,
					      &inflight), -EBUSY);
	KUNIT_EXPECT_FALSE(test, pemove_le_drained(&f->le));
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 1, REQ_OP_READ, 0, &r),
			PEMOVE_ROUTE_HELD);
	KUNIT_EXPECT_EQ(test, f->le.nr_held, 1U);
	/* The drain of a locked LE wakes the mover. */
	KUNIT_EXPECT_EQ(test, pemove_le_end_io(&f->le, NULL, PEMOVE_LEG_PLAIN,
					       U32_MAX, true, BLK_STS_OK,
					       &switched), PEMOVE_WAKE_LV);
	KUNIT_EXPECT_TRUE(test, pemove_le_drained(&f->le));
	KUNIT_EXPECT_EQ(test, pemove_le_release(&f->le, PEMOVE_LE_LOCKED |
						PEMOVE_LE_MOVING, &held), 1U);
	KUNIT_EXPECT_PTR_EQ(test, bio_list_peek(&held), &f->bios[1]);
	KUNIT_EXPECT_EQ(test, f->le.state, 0U);
	percpu_ref_put(&f->src.io_ref);
}

static void pemove_test_wrlock_holds_writes(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;
	struct bio_list held = BIO_EMPTY_LIST;
	struct pemove_routing r = {};
	u32 inflight;

	KUNIT_ASSERT_EQ(test, pemove_le_claim(&f->le, PEMOVE_LE_WRLOCKED, NULL,
					      &inflight), 0);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 0, REQ_OP_READ, 0, &r),
			PEMOVE_ROUTE_GO);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 1, REQ_OP_WRITE, 0, &r),
			PEMOVE_ROUTE_HELD);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 2, REQ_OP_DISCARD, 0, &r),
			PEMOVE_ROUTE_HELD);
	KUNIT_EXPECT_EQ(test, pemove_le_release(&f->le, PEMOVE_LE_WRLOCKED,
						&held), 2U);
	percpu_ref_put(&f->src.io_ref);
}

static void pemove_test_live_window(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;
	struct pemove_move *m = &f->m;
	struct bio_list bios = BIO_EMPTY_LIST;
	struct pemove_routing r = {};
	bool switched;
	u32 inflight;

	KUNIT_ASSERT_EQ(test, pemove_le_claim(&f->le, PEMOVE_LE_MOVING |
					      PEMOVE_LE_COPYING, m,
					      &inflight), 0);
	KUNIT_EXPECT_PTR_EQ(test, m->src, &f->src);
	KUNIT_EXPECT_EQ(test, m->src_start, (sector_t)1000);
	KUNIT_EXPECT_EQ(test, pemove_le_split_shift(&f->le), T_CHUNK_SHIFT);

	/* Reads go to the source and are never held. */
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 0, REQ_OP_READ, 8, &r),
			PEMOVE_ROUTE_SRC);
	KUNIT_EXPECT_EQ(test, m->src_inflight, 1U);

	/* A write ahead of the window goes to the source, counted at its chunk. */
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 1, REQ_OP_WRITE, 16, &r),
			PEMOVE_ROUTE_SRC);
	KUNIT_EXPECT_EQ(test, r.chunk, 2U);
	KUNIT_EXPECT_EQ(test, m->chunk_inflight[2], 1U);

	/* Chunk 0 in the window: a write to it waits; a read still goes. */
	pemove_window_open(m, 0);
	KUNIT_EXPECT_TRUE(test, pemove_chunk_drained(m, 0));
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 2, REQ_OP_WRITE, 0, &r),
			PEMOVE_ROUTE_WAIT);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 3, REQ_OP_READ, 0, &r),
			PEMOVE_ROUTE_SRC);

	/* Chunk 0 copied: its waiter goes on, and writes to it are mirrored. */
	pemove_window_close(m, 1, &bios);
	KUNIT_EXPECT_PTR_EQ(test, bio_list_peek(&bios), &f->bios[2]);
	KUNIT_EXPECT_EQ(test, pemove_le_route(&f->le, &f->bios[2], 0, &r),
			PEMOVE_ROUTE_MIRROR);
	KUNIT_EXPECT_PTR_EQ(test, r.dst, &f->dst);
	KUNIT_EXPECT_EQ(test, r.dst_start, (sector_t)5000);
	KUNIT_EXPECT_EQ(test, m->writes_mirrored, 1U);
	KUNIT_EXPECT_EQ(test, m->dst_inflight, 1U);

	/* Chunk 2 cannot be read until the write counted there completed. */
	pemove_window_open(m, 2);
	KUNIT_EXPECT_FALSE(test, pemove_chunk_drained(m, 2));
	KUNIT_EXPECT_EQ(test, pemove_le_end_io(&f->le, m, PEMOVE_LEG_SRC, 2,
					       true, BLK_STS_OK, &switched),
			PEMOVE_WAKE_MOVE);
	KUNIT_EXPECT_FALSE(test, switched);
	KUNIT_EXPECT_TRUE(test, pemove_chunk_drained(m, 2));

	/* The mirrored write: its destination leg fails, which fails the move. */
	KUNIT_EXPECT_EQ(test, pemove_le_end_io(&f->le, m, PEMOVE_LEG_DST,
					       U32_MAX, false, BLK_STS_IOERR,
					       &switched), PEMOVE_WAKE_MOVE);
	KUNIT_EXPECT_EQ(test, m->error, -EIO);
	KUNIT_EXPECT_TRUE(test, m->aborting);
	pemove_le_end_io(&f->le, m, PEMOVE_LEG_SRC, U32_MAX, true, BLK_STS_OK,
			 &switched);
	/* Aborting: writes go to the source only, uncounted by chunk. */
	KUNIT_EXPECT_EQ(test, pemove_le_split_shift(&f->le), 0U);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 4, REQ_OP_WRITE, 24, &r),
			PEMOVE_ROUTE_SRC);
	KUNIT_EXPECT_EQ(test, r.chunk, U32_MAX);
	KUNIT_EXPECT_FALSE(test, pemove_move_idle(m, true, false));
	KUNIT_EXPECT_TRUE(test, pemove_move_idle(m, false, true));

	/* Drop the reads and the last write, then let go of the move. */
	pemove_le_end_io(&f->le, m, PEMOVE_LEG_SRC, U32_MAX, true, BLK_STS_OK,
			 &switched);
	pemove_le_end_io(&f->le, m, PEMOVE_LEG_SRC, U32_MAX, true, BLK_STS_OK,
			 &switched);
	pemove_le_end_io(&f->le, m, PEMOVE_LEG_SRC, U32_MAX, true, BLK_STS_OK,
			 &switched);
	KUNIT_EXPECT_TRUE(test, pemove_move_idle(m, true, true));
	KUNIT_EXPECT_EQ(test, f->le.inflight, 0U);
	pemove_le_release(&f->le, PEMOVE_LE_MOVING | PEMOVE_LE_COPYING, &bios);
	KUNIT_EXPECT_NULL(test, f->le.move);
	/* Five routes pinned the source, one pinned the destination. */
	percpu_ref_put_many(&f->src.io_ref, 5);
	percpu_ref_put(&f->dst.io_ref);
}

static void pemove_test_synced_mirrors(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;
	struct bio_list held = BIO_EMPTY_LIST;
	struct pemove_routing r = {};
	u32 inflight;

	f->m.flags = 0;		/* a whole-extent move, then two-phase */
	KUNIT_ASSERT_EQ(test, pemove_le_claim(&f->le, PEMOVE_LE_MOVING |
					      PEMOVE_LE_LOCKED, &f->m,
					      &inflight), 0);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 0, REQ_OP_WRITE, 0, &r),
			PEMOVE_ROUTE_HELD);
	KUNIT_EXPECT_EQ(test, pemove_le_synced(&f->le, &f->m, &held), 1U);
	KUNIT_EXPECT_EQ(test, f->le.state, PEMOVE_LE_MOVING | PEMOVE_LE_SYNCED);
	/* In sync: every write, in any chunk, goes to both PEs. */
	KUNIT_EXPECT_EQ(test, pemove_le_route(&f->le, bio_list_pop(&held),
					      24, &r), PEMOVE_ROUTE_MIRROR);
	KUNIT_EXPECT_EQ(test, r.dst_start, (sector_t)5024);
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 1, REQ_OP_READ, 0, &r),
			PEMOVE_ROUTE_SRC);
	percpu_ref_put_many(&f->src.io_ref, 2);
	percpu_ref_put(&f->dst.io_ref);
}

/*
 * A write routed before a live move claimed the LE counts in no chunk: the
 * move must wait for it before it reads a chunk (the fio oracle found the
 * write landing on the old PE behind the copy otherwise).
 */
static void pemove_test_live_waits_for_preclaim_bios(struct kunit *test)
{
	struct pemove_track_fixture *f = test->priv;
	struct pemove_move *m = &f->m;
	struct pemove_routing r = {};
	bool switched;
	u32 inflight;

	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 0, REQ_OP_WRITE, 0, &r),
			PEMOVE_ROUTE_GO);
	KUNIT_EXPECT_PTR_EQ(test, r.move, NULL);
	KUNIT_ASSERT_EQ(test, pemove_le_claim(&f->le, PEMOVE_LE_MOVING |
					      PEMOVE_LE_COPYING, m,
					      &inflight), 0);
	KUNIT_EXPECT_EQ(test, inflight, 1U);
	KUNIT_EXPECT_FALSE(test, pemove_move_predrained(m));
	/* A write routed by the move does not count as one from before it. */
	KUNIT_EXPECT_EQ(test, pemove_test_route(f, 1, REQ_OP_WRITE, 8, &r),
			PEMOVE_ROUTE_SRC);
	KUNIT_EXPECT_EQ(test, pemove_le_end_io(&f->le, m, PEMOVE_LEG_SRC,
					       r.chunk, true, BLK_STS_OK,
					       &switched), 0U);
	KUNIT_EXPECT_FALSE(test, pemove_move_predrained(m));
	KUNIT_EXPECT_EQ(test, pemove_le_end_io(&f->le, NULL, PEMOVE_LEG_SRC,
					       U32_MAX, true, BLK_STS_OK,
					       &switched), PEMOVE_WAKE_MOVE);
	KUNIT_EXPECT_TRUE(test, pemove_move_predrained(m));
	KUNIT_EXPECT_EQ(test, f->le.inflight, 0U);
	percpu_ref_put_many(&f->src.io_ref, 2);
}

static struct kunit_case pemove_track_cases[] = {
	KUNIT_CASE(pemove_test_plain),
	KUNIT_CASE(pemove_test_locked_holds_all),
	KUNIT_CASE(pemove_test_wrlock_holds_writes),
	KUNIT_CASE(pemove_test_live_window),
	KUNIT_CASE(pemove_test_live_waits_for_preclaim_bios),
	KUNIT_CASE(pemove_test_synced_mirrors),
	{}
};

static struct kunit_suite pemove_track_suite = {
	.name = "pemove_track",
	.init = pemove_track_init,
	.exit = pemove_track_exit,
	.test_cases = pemove_track_cases,
};

kunit_test_suites(&pemove_extent_suite, &pemove_track_suite);

MODULE_DESCRIPTION("KUnit tests of pemove's extent arithmetic and LE state machine");
MODULE_LICENSE("GPL");
