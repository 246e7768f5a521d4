// SPDX-License-Identifier: GPL-2.0
/*
 * The control node /dev/pemove-control: ioctl dispatch, the LV registry,
 * the read-only commands, and module init and exit.
 *
 * Dispatch follows dm-ioctl: the capability, then the exact command number,
 * then the copy-in, then the interface version (the kernel's is written back
 * whatever happens), then the command.  A command reads its input from one
 * copy of the user's struct and fills a second, zeroed one, so no byte of
 * kernel memory reaches userspace through padding or reserved fields.
 */
#include "pemove.h"

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static bool locked_copy = true;
module_param(locked_copy, bool, 0444);
MODULE_PARM_DESC(locked_copy,
		 "Offer PE_MOVE, the locked in-kernel copy (default: 1). With 0 it answers ENOTTY, like a kernel without the patch.");

/* See the lock order in pemove.h. */
DEFINE_MUTEX(pemove_mutex);		/* the two lists, and more */
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

static const u32 pemove_version[3] = {
	PEMOVE_VERSION_MAJOR, PEMOVE_VERSION_MINOR, PEMOVE_VERSION_PATCH,
};

/* -- helpers shared by the commands ---------------------------------------- */

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

	list_for_each_entry(lv, &pemove_lvs, node)
		if (!strncmp(lv->name, name, PEMOVE_NAME_LEN))
			return lv;
	return NULL;
}

/* -- commands ----------------------------------------------------------------- */

union pemove_param {
	struct pemove_hdr hdr;
	struct pemove_version version;
	struct pemove_lv_create lv_create;
	struct pemove_lv_remove lv_remove;
	struct pemove_lv_list lv_list;
	struct pemove_lv_status lv_status;
	struct pemove_pe_move pe_move;
	struct pemove_pe_lock pe_lock;
};

static int pemove_cmd_version(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	if (!pemove_zero(in->version.reserved, sizeof(in->version.reserved)))
		return -EINVAL;
	out->version.features = PEMOVE_FEAT_LEGACY_LOCK | PEMOVE_FEAT_NOTRACK;
	if (locked_copy)
		out->version.features |= PEMOVE_FEAT_PE_MOVE;
	out->version.max_extents = PEMOVE_MAX_EXTENTS;
	out->version.copy_chunk_sectors = PEMOVE_COPY_CHUNK_SECTORS;
	return 0;
}

static int pemove_cmd_lv_create(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	return pemove_lv_create(&in->lv_create, &out->lv_create);
}

static int pemove_cmd_lv_remove(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	memcpy(out->lv_remove.name, in->lv_remove.name, PEMOVE_NAME_LEN);
	return pemove_lv_remove(&in->lv_remove);
}

/* Called with pemove_mutex held. */
static u32 pemove_lv_count(void)
{
	struct pemove_lv *lv;
	u32 count = 0;

	list_for_each_entry(lv, &pemove_lvs, node)
		count++;
	return count;
}

/*
 * Entries are filled under pemove_mutex into a kernel buffer and copied out
 * after it is dropped: a fault on the user buffer must not happen under the
 * mutex, since it could need IO to an LV whose LE a move holds.  The buffer
 * is sized by the LVs that exist, not by the caller's capacity, which may be
 * anything up to U32_MAX; it is allocated with the mutex dropped, and again
 * if LVs were created meanwhile.
 */
static int pemove_cmd_lv_list(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	const struct pemove_lv_list *req = &in->lv_list;
	struct pemove_lv_info *infos = NULL;
	struct pemove_lv *lv;
	u32 count, want, room = 0, n = 0;
	int ret = 0;

	if (!pemove_zero(req->reserved, sizeof(req->reserved)))
		return -EINVAL;

	mutex_lock(&pemove_mutex);
	count = pemove_lv_count();
	want = min(req->capacity, count);
	while (want > room) {
		mutex_unlock(&pemove_mutex);
		kvfree(infos);
		infos = kvcalloc(want, sizeof(*infos), GFP_KERNEL);
		if (!infos)
			return -ENOMEM;
		room = want;
		mutex_lock(&pemove_mutex);
		count = pemove_lv_count();
		want = min(req->capacity, count);
	}
	list_for_each_entry(lv, &pemove_lvs, node) {
		if (n == want)
			break;
		pemove_lv_info(lv, &infos[n++]);
	}
	mutex_unlock(&pemove_mutex);

	if (n && copy_to_user(u64_to_user_ptr(req->lvs), infos,
			      array_size(n, sizeof(*infos))))
		ret = -EFAULT;
	kvfree(infos);
	out->lv_list.lvs = req->lvs;
	out->lv_list.capacity = req->capacity;
	out->lv_list.count = count;
	return ret;
}

static int pemove_cmd_lv_status(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	const struct pemove_lv_status *req = &in->lv_status;
	struct pemove_lv_status *res = &out->lv_status;
	struct pemove_le_status *les = NULL;
	struct pemove_lv *lv;
	u32 i, n = 0;
	int ret = 0;

	if (!pemove_name_valid(req->name) || req->padding ||
	    !pemove_zero(req->reserved, sizeof(req->reserved)))
		return -EINVAL;
	if (req->le_capacity) {
		les = kvcalloc(min_t(u32, req->le_capacity, PEMOVE_MAX_EXTENTS),
			       sizeof(*les), GFP_KERNEL);
		if (!les)
			return -ENOMEM;
	}

	mutex_lock(&pemove_mutex);
	lv = pemove_lv_find(req->name);
	if (!lv) {
		ret = -ENOENT;
	} else if (req->le_first > lv->extent_count) {
		ret = -EINVAL;
	} else {
		n = min(req->le_capacity, lv->extent_count - req->le_first);
		for (i = 0; i < n; i++)
			pemove_le_status(&lv->les[req->le_first + i], &les[i]);
		pemove_lv_info(lv, &res->info);
		pemove_lv_counters(lv, &res->counters);
	}
	mutex_unlock(&pemove_mutex);

	if (!ret && n && copy_to_user(u64_to_user_ptr(req->les), les,
				      array_size(n, sizeof(*les))))
		ret = -EFAULT;
	kvfree(les);
	memcpy(res->name, req->name, sizeof(res->name));
	res->les = req->les;
	res->le_first = req->le_first;
	res->le_capacity = req->le_capacity;
	res->le_count = n;
	return ret;
}

static int pemove_cmd_pe_move(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	return pemove_pe_move(&in->pe_move, &out->pe_move);
}

static int pemove_cmd_pe_lock(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	return pemove_pe_lock(pf, &in->pe_lock, &out->pe_lock);
}

static int pemove_cmd_pe_unlock(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	return pemove_pe_unlock(pf, &in->pe_lock, &out->pe_lock);
}

static int pemove_cmd_pe_remap(struct pemove_file *pf,
			       const union pemove_param *in,
			       union pemove_param *out)
{
	return pemove_pe_remap(pf, &in->pe_lock, &out->pe_lock);
}

typedef int (*pemove_cmd_fn)(struct pemove_file *pf,
			     const union pemove_param *in,
			     union pemove_param *out);

static const struct pemove_cmd {
	unsigned int cmd;
	pemove_cmd_fn fn;
} pemove_cmds[] = {
	{ PEMOVE_IOC_VERSION,	pemove_cmd_version },
	{ PEMOVE_IOC_LV_CREATE,	pemove_cmd_lv_create },
	{ PEMOVE_IOC_LV_REMOVE,	pemove_cmd_lv_remove },
	{ PEMOVE_IOC_LV_LIST,	pemove_cmd_lv_list },
	{ PEMOVE_IOC_LV_STATUS,	pemove_cmd_lv_status },
	{ PEMOVE_IOC_PE_MOVE,	pemove_cmd_pe_move },
	{ PEMOVE_IOC_PE_LOCK,	pemove_cmd_pe_lock },
	{ PEMOVE_IOC_PE_UNLOCK,	pemove_cmd_pe_unlock },
	{ PEMOVE_IOC_PE_REMAP,	pemove_cmd_pe_remap },
};

/* The handler of exactly @cmd (type, number, size and direction), or NULL. */
static pemove_cmd_fn pemove_lookup(unsigned int cmd)
{
	unsigned int i;

	if (_IOC_TYPE(cmd) != PEMOVE_IOC_MAGIC)
		return NULL;
	/* Without the locked copy the command does not exist, as in 2002. */
	if (cmd == PEMOVE_IOC_PE_MOVE && !locked_copy)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(pemove_cmds); i++)
		if (pemove_cmds[i].cmd == cmd)
			return pemove_cmds[i].fn;
	return NULL;
}

static bool pemove_version_ok(const struct pemove_hdr *hdr)
{
	return hdr->version[0] == PEMOVE_VERSION_MAJOR &&
	       hdr->version[1] <= PEMOVE_VERSION_MINOR;
}

static long pemove_ctl_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	union pemove_param in, out;
	size_t size = _IOC_SIZE(cmd);
	unsigned int noio;
	pemove_cmd_fn fn;
	int ret;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	fn = pemove_lookup(cmd);
	if (!fn)
		return -ENOTTY;
	if (copy_from_user(&in, uarg, size))
		return -EFAULT;

	memset(&out, 0, sizeof(out));
	if (!pemove_version_ok(&in.hdr) || in.hdr.flags) {
		ret = -EINVAL;
	} else {
		/*
		 * Commands allocate under pemove_mutex, which a move needs to
		 * finish.  Reclaim that wrote back through an LV could then wait
		 * on a bio the move holds, so no allocation here may start IO.
		 */
		noio = memalloc_noio_save();
		ret = fn(file->private_data, &in, &out);
		memalloc_noio_restore(noio);
	}

	memcpy(out.hdr.version, pemove_version, sizeof(out.hdr.version));
	if (ret) {
		/* On failure only the version is written back. */
		if (copy_to_user(uarg, out.hdr.version, sizeof(out.hdr.version)))
			return -EFAULT;
		return ret;
	}
	if (copy_to_user(uarg, &out, size))
		return -EFAULT;
	return 0;
}

static int pemove_ctl_open(struct inode *inode, struct file *file)
{
	struct pemove_file *pf;

	pf = kzalloc(sizeof(*pf), GFP_KERNEL);
	if (!pf)
		return -ENOMEM;
	INIT_LIST_HEAD(&pf->locks);
	file->private_data = pf;
	return 0;
}

/* A crashed legacy mover must not leave IO held forever. */
static int pemove_ctl_release(struct inode *inode, struct file *file)
{
	struct pemove_file *pf = file->private_data;

	pemove_file_unlock_all(pf);
	kfree(pf);
	return 0;
}

static const struct file_operations pemove_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= pemove_ctl_open,
	.release	= pemove_ctl_release,
	.unlocked_ioctl	= pemove_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice pemove_ctl_dev = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= "pemove-control",
	.fops		= &pemove_ctl_fops,
};

/* -- module init and exit ------------------------------------------------------ */

static int __init pemove_init(void)
{
	int ret;

	pemove_major = register_blkdev(0, "pemove");
	if (pemove_major < 0)
		return pemove_major;

	/* Flushes are part of writeback: they need a rescuer. */
	pemove_wq = alloc_workqueue("pemove", WQ_MEM_RECLAIM, 0);
	if (!pemove_wq) {
		ret = -ENOMEM;
		goto out_unregister_blkdev;
	}

	ret = misc_register(&pemove_ctl_dev);
	if (ret)
		goto out_destroy_wq;

	pr_info("version %u.%u.%u, locked_copy=%d\n", PEMOVE_VERSION_MAJOR,
		PEMOVE_VERSION_MINOR, PEMOVE_VERSION_PATCH, locked_copy);
	return 0;

out_destroy_wq:
	destroy_workqueue(pemove_wq);
out_unregister_blkdev:
	unregister_blkdev(pemove_major, "pemove");
	return ret;
}

/* Every LV holds a module reference, so none exists by now. */
static void __exit pemove_exit(void)
{
	misc_deregister(&pemove_ctl_dev);
	destroy_workqueue(pemove_wq);
	unregister_blkdev(pemove_major, "pemove");
}

module_init(pemove_init);
module_exit(pemove_exit);

MODULE_DESCRIPTION("Extent-mapped logical volumes with a locked physical-extent move");
MODULE_AUTHOR("The pemove authors");
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0.0");
