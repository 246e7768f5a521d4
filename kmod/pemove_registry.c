// SPDX-License-Identifier: GPL-2.0
/*
 * Module-wide state: the LV list, the reservations of moves in progress, the
 * seqlock that orders map changes against overlap scans, the one holder of
 * every PV, and the name rules.  Nothing here calls into another file.
 */
#include "pemove.h"

#include <linux/string.h>

/* See the lock order in pemove.h. */
DEFINE_MUTEX(pemove_mutex);
DEFINE_SEQLOCK(pemove_map_lock);
LIST_HEAD(pemove_lvs);
LIST_HEAD(pemove_reserved);
struct workqueue_struct *pemove_wq;
int pemove_major;

/*
 * The one holder of every PV: exclusive opens with the same holder nest, so
 * LVs can share a PV while nobody else can claim it.
 */
static char pemove_holder_id;
void *pemove_holder = &pemove_holder_id;

/* Non-empty and NUL-terminated within its PEMOVE_NAME_LEN array. */
bool pemove_name_valid(const char *name)
{
	return name[0] && memchr(name, '\0', PEMOVE_NAME_LEN);
}

bool pemove_zero(const void *p, size_t size)
{
	return !memchr_inv(p, 0, size);
}

/* Called with pemove_mutex held. */
struct pemove_lv *pemove_lv_find(const char *name)
{
	struct pemove_lv *lv;

	lockdep_assert_held(&pemove_mutex);
	list_for_each_entry(lv, &pemove_lvs, node)
		if (!strncmp(lv->name, name, PEMOVE_NAME_LEN))
			return lv;
	return NULL;
}
