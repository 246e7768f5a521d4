// SPDX-License-Identifier: GPL-2.0
/*
 * Extent and chunk arithmetic, and overlap tests on sorted ranges.  Pure
 * functions of their arguments, so pemove_kunit.c can test them alone.
 */
#include "pemove.h"

#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/sort.h>

/* The dev_t of @ext, or 0 (which names no device) if it cannot be one. */
dev_t pemove_devt(const struct pemove_extent *ext)
{
	if (ext->major >= (1U << (32 - MINORBITS)) || ext->minor > MINORMASK)
		return 0;
	return MKDEV(ext->major, ext->minor);
}

/* Do [a, a + alen) and [b, b + blen) share a sector? */
bool pemove_overlap(sector_t a, sector_t alen, sector_t b, sector_t blen)
{
	return a < b + blen && b < a + alen;
}

static int pemove_key_cmp(const void *pa, const void *pb)
{
	const struct pemove_key *a = pa, *b = pb;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return 0;
}

/* Sort by (dev, start), so overlaps are found in O(n log n). */
void pemove_keys_sort(struct pemove_key *keys, u32 n)
{
	sort(keys, n, sizeof(*keys), pemove_key_cmp, NULL);
}

/* Do the @n sorted keys, each @key_len long, leave each other alone? */
bool pemove_keys_disjoint(const struct pemove_key *keys, u32 n, u32 key_len)
{
	u32 i;

	for (i = 1; i < n; i++)
		if (keys[i].dev == keys[i - 1].dev &&
		    keys[i - 1].start + key_len > keys[i].start)
			return false;
	return true;
}

/*
 * Does [start, start + len) on @dev overlap one of the @n sorted, disjoint
 * keys, each @key_len long?  Only the last key that starts before the end
 * of the range can reach into it.
 */
bool pemove_keys_overlap(const struct pemove_key *keys, u32 n, u32 key_len,
			 dev_t dev, sector_t start, sector_t len)
{
	const struct pemove_key *k;
	u32 lo = 0, hi = n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		k = &keys[mid];
		if (k->dev < dev || (k->dev == dev && k->start < start + len))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	k = &keys[lo - 1];
	return k->dev == dev && k->start + key_len > start;
}

/* The LE that LV sector @sector falls in, and its offset there. */
u32 pemove_le_of(sector_t sector, u32 extent_sectors, u32 *offset)
{
	u64 le = div_u64_rem(sector, extent_sectors, offset);

	return le > U32_MAX ? U32_MAX : le;
}

/*
 * How much of a bio of @len sectors at @offset in its LE may go on as one
 * piece: up to the end of the extent and, if @chunk_shift is not 0 (a write
 * to an LE being copied live), up to the end of its chunk.
 */
u32 pemove_max_sectors(u32 offset, u32 len, u32 extent_sectors,
		       unsigned int chunk_shift)
{
	u32 max = extent_sectors - offset;

	if (chunk_shift) {
		u32 chunk_end = ((offset >> chunk_shift) + 1) << chunk_shift;

		max = min(max, chunk_end - offset);
	}
	return min(max, len);
}

bool pemove_chunk_size_valid(u32 chunk_sectors)
{
	return is_power_of_2(chunk_sectors) &&
	       chunk_sectors >= PEMOVE_CHUNK_MIN_SECTORS &&
	       chunk_sectors <= PEMOVE_CHUNK_MAX_SECTORS;
}
