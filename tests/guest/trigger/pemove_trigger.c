// SPDX-License-Identifier: GPL-2.0
/*
 * pemove_trigger: makes the debug kernel's checkers report, on demand.
 *
 * TEST ONLY.  tests/guest/test_debug_judge.py loads it, writes the name of
 * one report to /sys/kernel/debug/pemove_trigger/fire and checks that the
 * harness's kernel-log judge classifies what the kernel printed.  Each
 * trigger does the smallest wrong thing that the checker reports, and then
 * recovers, so the kernel stays usable:
 *
 *   lockdep   AB-BA order of two mutexes, each taken once (no deadlock)
 *   sleep     might_sleep() under a spinlock
 *   ubsan     an index past a fixed-size array (inside its struct)
 *   shift     a shift by more than the width of the type
 *   kasan     a read of a freed kmalloc object
 *   odebug    kfree() of an armed timer (debugobjects deactivates it)
 *   list      list_add() of an entry already on the list (skipped)
 *   refcount  refcount_dec() to zero
 *   warn      WARN_ON(1)
 *   leak      kmalloc objects whose addresses are kept only inverted, so
 *             kmemleak sees no reference; rmmod frees them
 *
 * Never load it outside that test.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/uaccess.h>

#define LEAK_OBJECTS	8
#define LEAK_SIZE	600
#define LEAK_TEXT	"pemove-trigger-leak"

static struct dentry *trigger_dir;

static DEFINE_MUTEX(trigger_lock_a);
static DEFINE_MUTEX(trigger_lock_b);
static DEFINE_SPINLOCK(trigger_spin);

/* Indexes and shift counts come from here so the compiler cannot fold them. */
static int trigger_index = 4;
static int trigger_shift = 40;

static struct {
	int slot[4];
	int after;
} trigger_array;

/* Inverted addresses of the leaked objects: no pointer kmemleak can follow. */
static unsigned long trigger_leaked[LEAK_OBJECTS];
static DEFINE_MUTEX(trigger_leak_lock);

static void trigger_lockdep(void)
{
	mutex_lock(&trigger_lock_a);
	mutex_lock(&trigger_lock_b);
	mutex_unlock(&trigger_lock_b);
	mutex_unlock(&trigger_lock_a);

	mutex_lock(&trigger_lock_b);
	mutex_lock(&trigger_lock_a);
	mutex_unlock(&trigger_lock_a);
	mutex_unlock(&trigger_lock_b);
}

static void trigger_sleep(void)
{
	spin_lock(&trigger_spin);
	might_sleep();
	spin_unlock(&trigger_spin);
}

static void trigger_ubsan(void)
{
	int index = READ_ONCE(trigger_index);

	/*
	 * slot[4] is out of bounds for UBSAN, but inside the struct for KASAN.
	 * A plain subscript: UBSAN does not check &slot[index] (WRITE_ONCE).
	 */
	trigger_array.slot[index] = 1;
}

static void trigger_shift_oob(void)
{
	int shift = READ_ONCE(trigger_shift);
	u32 value = 1;

	value <<= shift;
	pr_info("shift result %u\n", value);
}

static void trigger_kasan(void)
{
	char *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return;
	kfree(p);
	OPTIMIZER_HIDE_VAR(p);
	pr_info("read after free: %d\n", READ_ONCE(p[8]));
}

static void trigger_timer_fn(struct timer_list *t)
{
	pr_info("timer fired\n");
}

static void trigger_odebug(void)
{
	struct timer_list *t = kmalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return;
	timer_setup(t, trigger_timer_fn, 0);
	mod_timer(t, jiffies + 3600 * HZ);
	/* debugobjects reports the active timer and deletes it before the free. */
	kfree(t);
}

static void trigger_list(void)
{
	LIST_HEAD(head);
	struct list_head entry;

	list_add(&entry, &head);
	/* DEBUG_LIST refuses the second add and reports it. */
	list_add(&entry, &head);
	list_del(&entry);
}

static void trigger_refcount(void)
{
	refcount_t ref = REFCOUNT_INIT(1);

	refcount_dec(&ref);
}

static void trigger_warn(void)
{
	WARN_ON(1);
}

static void trigger_leak(void)
{
	int i;

	mutex_lock(&trigger_leak_lock);
	for (i = 0; i < LEAK_OBJECTS; i++) {
		char *p;

		if (trigger_leaked[i])
			continue;
		p = kmalloc(LEAK_SIZE, GFP_KERNEL);
		if (!p)
			break;
		strscpy(p, LEAK_TEXT, LEAK_SIZE);
		trigger_leaked[i] = ~(unsigned long)p;
	}
	mutex_unlock(&trigger_leak_lock);
}

static void trigger_free_leaks(void)
{
	int i;

	mutex_lock(&trigger_leak_lock);
	for (i = 0; i < LEAK_OBJECTS; i++) {
		kfree((void *)~trigger_leaked[i]);
		trigger_leaked[i] = 0;
	}
	mutex_unlock(&trigger_leak_lock);
}

static const struct {
	const char *name;
	void (*fire)(void);
} triggers[] = {
	{ "lockdep", trigger_lockdep },
	{ "sleep", trigger_sleep },
	{ "ubsan", trigger_ubsan },
	{ "shift", trigger_shift_oob },
	{ "kasan", trigger_kasan },
	{ "odebug", trigger_odebug },
	{ "list", trigger_list },
	{ "refcount", trigger_refcount },
	{ "warn", trigger_warn },
	{ "leak", trigger_leak },
};

static ssize_t trigger_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	char name[16];
	size_t i;

	if (count == 0 || count >= sizeof(name))
		return -EINVAL;
	if (copy_from_user(name, buf, count))
		return -EFAULT;
	name[count] = '\0';
	strim(name);

	for (i = 0; i < ARRAY_SIZE(triggers); i++) {
		if (!strcmp(name, triggers[i].name)) {
			pr_info("firing %s\n", name);
			triggers[i].fire();
			pr_info("fired %s\n", name);
			return count;
		}
	}
	return -EINVAL;
}

static const struct file_operations trigger_fops = {
	.owner = THIS_MODULE,
	.write = trigger_write,
	.llseek = noop_llseek,
};

static int __init trigger_init(void)
{
	trigger_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("fire", 0200, trigger_dir, NULL, &trigger_fops);
	pr_info("test-only module loaded: it makes the kernel report bugs on demand\n");
	return 0;
}

static void __exit trigger_exit(void)
{
	debugfs_remove(trigger_dir);
	trigger_free_leaks();
}

module_init(trigger_init);
module_exit(trigger_exit);

MODULE_DESCRIPTION("pemove test-only trigger of debug-kernel reports");
MODULE_LICENSE("GPL");
