// SPDX-License-Identifier: GPL-2.0
/*
 * Copy buffers and chunk IO for PE_MOVE.
 *
 * A whole-extent move copies while IO to the LE is held, possibly while the
 * system is short of memory because of it, so the copy must not allocate.
 * Each tracked LV reserves, when it is created, two chunk buffers with their
 * pages, bio_vecs and bios; the copy is double-buffered (chunk i is written
 * from one buffer while chunk i + 1 is read into the other).  A second move
 * of the same LV running at the same time gets buffers of its own, allocated
 * before it holds or waits for anything, so that it never waits for the
 * first move's copy; if that allocation fails the move fails with ENOMEM and
 * nothing has changed.
 */
#include "pemove.h"

#include <linux/slab.h>

static void pemove_copy_buf_free(struct pemove_copy_buf *buf)
{
	unsigned int i;

	if (!buf)
		return;
	for (i = 0; i < PEMOVE_COPY_PAGES; i++)
		if (buf->pages[i])
			__free_page(buf->pages[i]);
	kfree(buf);
}

static struct pemove_copy_buf *pemove_copy_buf_alloc(void)
{
	struct pemove_copy_buf *buf;
	unsigned int i;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL);
	if (!buf)
		return NULL;
	init_completion(&buf->done);
	for (i = 0; i < PEMOVE_COPY_PAGES; i++) {
		buf->pages[i] = alloc_page(GFP_KERNEL);
		if (!buf->pages[i]) {
			pemove_copy_buf_free(buf);
			return NULL;
		}
	}
	return buf;
}

static void pemove_copy_bufs_free(struct pemove_copy_bufs *bufs)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bufs->buf); i++) {
		pemove_copy_buf_free(bufs->buf[i]);
		bufs->buf[i] = NULL;
	}
}

static int pemove_copy_bufs_alloc(struct pemove_copy_bufs *bufs)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bufs->buf); i++) {
		bufs->buf[i] = pemove_copy_buf_alloc();
		if (!bufs->buf[i]) {
			pemove_copy_bufs_free(bufs);
			return -ENOMEM;
		}
	}
	return 0;
}

/* The LV's own reserve, taken when it is created. */
int pemove_copy_reserve(struct pemove_lv *lv)
{
	int ret = pemove_copy_bufs_alloc(&lv->copy);

	if (!ret)
		lv->reserve_bytes += ARRAY_SIZE(lv->copy.buf) *
			(sizeof(struct pemove_copy_buf) +
			 PEMOVE_COPY_PAGES * PAGE_SIZE);
	return ret;
}

void pemove_copy_release(struct pemove_lv *lv)
{
	pemove_copy_bufs_free(&lv->copy);
}

/*
 * Buffers for one move: the LV's reserve if no other move uses it, else
 * fresh ones.  Called before the move holds any IO.
 */
int pemove_copy_get(struct pemove_lv *lv, struct pemove_copy_bufs *bufs)
{
	if (mutex_trylock(&lv->copy_mutex)) {
		*bufs = lv->copy;
		bufs->reserved = true;
		return 0;
	}
	bufs->reserved = false;
	return pemove_copy_bufs_alloc(bufs);
}

void pemove_copy_put(struct pemove_lv *lv, struct pemove_copy_bufs *bufs)
{
	if (bufs->reserved)
		mutex_unlock(&lv->copy_mutex);
	else
		pemove_copy_bufs_free(bufs);
}

static void pemove_copy_endio(struct bio *bio)
{
	struct pemove_copy_buf *buf = bio->bi_private;

	complete(&buf->done);
}

/* Start reading or writing @sectors (at most a buffer) at @sector. */
void pemove_copy_submit(struct pemove_copy_buf *buf, struct block_device *bdev,
			sector_t sector, unsigned int sectors, blk_opf_t opf)
{
	unsigned int bytes = sectors << SECTOR_SHIFT;
	unsigned int i, len;

	bio_init(&buf->bio, bdev, buf->bvec, PEMOVE_COPY_PAGES, opf);
	buf->bio.bi_iter.bi_sector = sector;
	buf->bio.bi_end_io = pemove_copy_endio;
	buf->bio.bi_private = buf;
	for (i = 0; bytes; i++) {
		len = min_t(unsigned int, bytes, PAGE_SIZE);
		__bio_add_page(&buf->bio, buf->pages[i], len, 0);
		bytes -= len;
	}
	reinit_completion(&buf->done);
	submit_bio(&buf->bio);
}

/* Wait for the IO pemove_copy_submit() started; its errno. */
int pemove_copy_wait(struct pemove_copy_buf *buf)
{
	int ret;

	wait_for_completion_io(&buf->done);
	ret = blk_status_to_errno(buf->bio.bi_status);
	bio_uninit(&buf->bio);
	return ret;
}
