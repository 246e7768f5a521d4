// SPDX-License-Identifier: GPL-2.0
/*
 * The copy engine of PE_MOVE.
 *
 * A move runs while IO to the LE is held, possibly while the system is short
 * of memory because of it, so the copy must not allocate.  Each tracked LV
 * reserves, when it is created, two chunk buffers with their pages, bio_vecs
 * and bios.  The copy is double-buffered: chunk i is written from one buffer
 * while chunk i + 1 is read into the other.
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

int pemove_copy_alloc(struct pemove_lv *lv)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lv->copy); i++) {
		lv->copy[i] = pemove_copy_buf_alloc();
		if (!lv->copy[i]) {
			pemove_copy_free(lv);
			return -ENOMEM;
		}
		lv->reserve_bytes += sizeof(*lv->copy[i]) +
				     PEMOVE_COPY_PAGES * PAGE_SIZE;
	}
	return 0;
}

void pemove_copy_free(struct pemove_lv *lv)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(lv->copy); i++) {
		pemove_copy_buf_free(lv->copy[i]);
		lv->copy[i] = NULL;
	}
}

static void pemove_copy_endio(struct bio *bio)
{
	struct pemove_copy_buf *buf = bio->bi_private;

	complete(&buf->done);
}

static void pemove_copy_submit(struct pemove_copy_buf *buf,
			       struct block_device *bdev, sector_t sector,
			       unsigned int sectors, blk_opf_t opf)
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

static int pemove_copy_wait(struct pemove_copy_buf *buf)
{
	int ret;

	wait_for_completion_io(&buf->done);
	ret = blk_status_to_errno(buf->bio.bi_status);
	bio_uninit(&buf->bio);
	return ret;
}

/*
 * Copy one extent of @lv from @src to @dst.  The caller holds the LE locked
 * and drained, so nothing else reads or writes either range.
 */
int pemove_copy(struct pemove_lv *lv, struct pemove_pv *src, sector_t src_start,
		struct pemove_pv *dst, sector_t dst_start)
{
	struct pemove_copy_buf *rd, *wr;
	sector_t off = 0, next, total = lv->extent_sectors;
	unsigned int len, next_len;
	int ret, rret;

	mutex_lock(&lv->copy_mutex);
	rd = lv->copy[0];
	wr = lv->copy[1];

	len = min_t(sector_t, total, PEMOVE_COPY_CHUNK_SECTORS);
	pemove_copy_submit(rd, src->h.bdev, src_start, len,
			   REQ_OP_READ | REQ_SYNC);
	ret = pemove_copy_wait(rd);

	while (!ret) {
		/* rd holds chunk [off, off + len): write it, read the next. */
		swap(rd, wr);
		pemove_copy_submit(wr, dst->h.bdev, dst_start + off, len,
				   REQ_OP_WRITE | REQ_SYNC);
		next = off + len;
		next_len = min_t(sector_t, total - next,
				 PEMOVE_COPY_CHUNK_SECTORS);
		if (next_len)
			pemove_copy_submit(rd, src->h.bdev, src_start + next,
					   next_len, REQ_OP_READ | REQ_SYNC);
		ret = pemove_copy_wait(wr);
		rret = next_len ? pemove_copy_wait(rd) : 0;
		if (!ret)
			ret = rret;
		if (!next_len)
			break;
		off = next;
		len = next_len;
	}
	mutex_unlock(&lv->copy_mutex);
	return ret;
}
