// SPDX-License-Identifier: GPL-2.0
/*
 * The control node /dev/pemove-control: every uapi struct is read,
 * validated and filled here, and the core is called with kernel types, as
 * dm-ioctl does.  Also module init and exit.
 *
 * Dispatch: the capability, then the exact command number, then the
 * copy-in, then a write-back of the caller's struct (so a buffer that
 * cannot be written fails with EFAULT before anything changes), then the
 * interface version (the kernel's is written back whatever happens), then
 * the command.  A command reads its input from one copy of the user's
 * struct and fills a second, zeroed one, so no byte of kernel memory
 * reaches userspace through padding or reserved fields.
 */
#include "pemove.h"

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static bool locked_copy = true;
module_param(locked_copy, bool, 0444);
MODULE_PARM_DESC(locked_copy,
		 "Offer PE_MOVE, the locked in-kernel copy (default: 1). With 0 it answers ENOTTY, like a kernel without the patch.");

static const u32 pemove_version[3] = {
	PEMOVE_VERSION_MAJOR, PEMOVE_VERSION_MINOR, PEMOVE_VERSION_PATCH,
};

union pemove_param {
	struct pemove_hdr hdr;
	struct pemove_version version;
	struct pemove_lv_create lv_create;
	struct pemove_lv_remove lv_remove;
	struct pemove_lv_list lv_list;
	struct pemove_lv_status lv_status;
	struct pemove_pe_move pe_move;
	struct pemove_pe_move_end pe_move_end;
	struct pemove_move_status move_status;
	struct pemove_pe_lock pe_lock;
};

/* -- commands ------------------------------------------------------------- */

static int pemove_cmd_version(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	struct pemove_version *v = &out->version;

	if (in->version.padding ||
	    !pemove_zero(in->version.reserved, sizeof(in->version.reserved)))
		return -EINVAL;
	v->features = PEMOVE_FEAT_LEGACY_LOCK | PEMOVE_FEAT_NOTRACK |
		      PEMOVE_FEAT_DISCARD | PEMOVE_FEAT_PV_RESERVE;
	if (locked_copy)
		v->features |= PEMOVE_FEAT_PE_MOVE | PEMOVE_FEAT_LIVE_MOVE |
			       PEMOVE_FEAT_TWO_PHASE;
	v->max_extents = PEMOVE_MAX_EXTENTS;
	v->copy_chunk_sectors = PEMOVE_COPY_CHUNK_SECTORS;
	v->chunk_min_sectors = PEMOVE_CHUNK_MIN_SECTORS;
	v->chunk_max_sectors = PEMOVE_CHUNK_MAX_SECTORS;
	v->chunk_default_sectors = PEMOVE_CHUNK_DEFAULT_SECTORS;
	return 0;
}

static int pemove_cmd_lv_create(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	const struct pemove_lv_create *req = &in->lv_create;
	struct pemove_lv_create *res = &out->lv_create;
	struct pemove_lv_args args = {};
	struct pemove_extent *ext;
	struct pemove_lv *lv;
	u64 capacity;
	int ret;

	if (!pemove_name_valid(req->name) ||
	    !pemove_zero(req->reserved, sizeof(req->reserved)) ||
	    (req->lv_flags & ~PEMOVE_LV_NOTRACK) ||
	    !req->extent_sectors ||
	    !IS_ALIGNED(req->extent_sectors, PEMOVE_EXTENT_ALIGN_SECTORS) ||
	    req->extent_sectors > (1ULL << 31) ||
	    !req->extent_count || req->extent_count > PEMOVE_MAX_EXTENTS ||
	    !IS_ALIGNED(req->pv_reserved_sectors, PEMOVE_EXTENT_ALIGN_SECTORS) ||
	    check_mul_overflow(req->extent_sectors, (u64)req->extent_count,
			       &capacity))
		return -EINVAL;

	ext = kvmalloc_array(req->extent_count, sizeof(*ext), GFP_KERNEL);
	if (!ext)
		return -ENOMEM;
	if (copy_from_user(ext, u64_to_user_ptr(req->extents),
			   array_size(req->extent_count, sizeof(*ext)))) {
		ret = -EFAULT;
		goto out_free;
	}
	args.name = req->name;
	args.flags = req->lv_flags;
	args.extent_sectors = req->extent_sectors;
	args.extent_count = req->extent_count;
	args.pv_reserved = req->pv_reserved_sectors;
	args.ext = ext;
	lv = pemove_lv_create(&args);
	if (IS_ERR(lv)) {
		ret = PTR_ERR(lv);
		goto out_free;
	}
	memcpy(res->name, req->name, sizeof(res->name));
	res->extent_sectors = req->extent_sectors;
	res->extents = req->extents;
	res->extent_count = req->extent_count;
	res->lv_flags = req->lv_flags;
	res->pv_reserved_sectors = req->pv_reserved_sectors;
	strscpy(res->disk_name, lv->disk->disk_name, sizeof(res->disk_name));
	res->disk_major = pemove_major;
	res->disk_minor = lv->minor;
	ret = 0;
out_free:
	kvfree(ext);
	return ret;
}

static int pemove_cmd_lv_remove(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	const struct pemove_lv_remove *req = &in->lv_remove;

	if (!pemove_name_valid(req->name) ||
	    !pemove_zero(req->reserved, sizeof(req->reserved)))
		return -EINVAL;
	memcpy(out->lv_remove.name, req->name, PEMOVE_NAME_LEN);
	return pemove_lv_remove(req->name);
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
 * mutex, since it could need IO to an LV.  The buffer is sized by the LVs
 * that exist, not by the caller's capacity, which may be anything up to
 * U32_MAX; it is allocated with the mutex dropped, and again if LVs were
 * created meanwhile.
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

/*
 * The LV is looked up and the request checked first; the entry buffer is
 * sized by what the LV has, never by the caller's capacity alone.
 */
static int pemove_cmd_lv_status(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	const struct pemove_lv_status *req = &in->lv_status;
	struct pemove_lv_status *res = &out->lv_status;
	struct pemove_le_status *les = NULL;
	struct pemove_lv *lv;
	u32 i, first, n = 0;
	int ret = 0;

	if (!pemove_name_valid(req->name) || req->padding ||
	    !pemove_zero(req->reserved, sizeof(req->reserved)))
		return -EINVAL;

	mutex_lock(&pemove_mutex);
	lv = pemove_lv_find(req->name);
	if (!lv) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (req->le_first > lv->extent_count) {
		ret = -EINVAL;
		goto out_unlock;
	}
	first = array_index_nospec(req->le_first, lv->extent_count + 1);
	n = min(req->le_capacity, lv->extent_count - first);
	if (n) {
		les = kvcalloc(n, sizeof(*les), GFP_KERNEL);
		if (!les) {
			ret = -ENOMEM;
			n = 0;
			goto out_unlock;
		}
	}
	for (i = 0; i < n; i++)
		pemove_le_status(&lv->les[first + i], &les[i]);
	pemove_lv_info(lv, &res->info);
	pemove_lv_counters(lv, &res->counters);
out_unlock:
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

static void pemove_move_out(const struct pemove_move_result *r,
			    struct pemove_pe_move *res)
{
	res->bytes_copied = r->bytes_copied;
	res->hold_ns = r->hold_ns;
	res->copy_ns = r->copy_ns;
	res->bios_drained = r->drained;
	res->bios_held = r->held;
	res->chunk_sectors = r->chunk_sectors;
	res->max_wait_ns = r->max_wait_ns;
	res->switch_ns = r->switch_ns;
	res->writes_mirrored = r->writes_mirrored;
	res->writes_waited = r->writes_waited;
}

static int pemove_cmd_pe_move(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	const struct pemove_pe_move *req = &in->pe_move;
	struct pemove_pe_move *res = &out->pe_move;
	struct pemove_move_result r = {};
	struct pemove_move_args args = {};
	struct pemove_lv *lv;
	u32 index;
	int ret;

	/* Inputs are checked; outputs, as everywhere, are ignored going in. */
	if (!pemove_name_valid(req->name))
		return -EINVAL;
	args.flags = req->move_flags;
	args.chunk_sectors = req->chunk_sectors;
	args.dev = pemove_devt(&req->dest);
	args.start = req->dest.sector;

	lv = pemove_lv_get(req->name, true, req->le, &index);
	if (IS_ERR(lv))
		return PTR_ERR(lv);
	ret = pemove_pe_move(pf, lv, index, &args, &r);
	pemove_lv_put(lv);	/* @lv may be removed from here on */

	memcpy(res->name, req->name, sizeof(res->name));
	res->le = req->le;
	res->dest = req->dest;
	res->move_flags = req->move_flags;
	pemove_move_out(&r, res);
	return ret;
}

static int pemove_cmd_pe_move_end(struct pemove_file *pf,
				  const union pemove_param *in,
				  union pemove_param *out)
{
	const struct pemove_pe_move_end *req = &in->pe_move_end;
	struct pemove_pe_move_end *res = &out->pe_move_end;
	struct pemove_move_result r = {};
	struct pemove_lv *lv;
	u32 index;
	int ret;

	if (!pemove_name_valid(req->name) || req->padding ||
	    !pemove_zero(req->reserved, sizeof(req->reserved)))
		return -EINVAL;
	lv = pemove_lv_get(req->name, true, req->le, &index);
	if (IS_ERR(lv))
		return PTR_ERR(lv);
	ret = pemove_pe_move_end(pf, lv, index, req->op, &r);
	pemove_lv_put(lv);

	memcpy(res->name, req->name, sizeof(res->name));
	res->le = req->le;
	res->op = req->op;
	res->dest = r.dest;
	res->switch_ns = r.switch_ns;
	res->writes_mirrored = r.writes_mirrored;
	res->max_wait_ns = r.max_wait_ns;
	return ret;
}

static int pemove_cmd_move_status(struct pemove_file *pf,
				  const union pemove_param *in,
				  union pemove_param *out)
{
	const struct pemove_move_status *req = &in->move_status;
	struct pemove_move_status *res = &out->move_status;
	struct pemove_lv *lv;
	int ret = 0;

	if (!pemove_name_valid(req->name) || req->padding ||
	    !pemove_zero(req->reserved, sizeof(req->reserved)))
		return -EINVAL;
	mutex_lock(&pemove_mutex);
	lv = pemove_lv_find(req->name);
	if (!lv)
		ret = -ENOENT;
	else if (req->le >= lv->extent_count)
		ret = -EINVAL;
	else
		pemove_move_status(lv, array_index_nospec((u32)req->le,
							  lv->extent_count),
				   res);
	mutex_unlock(&pemove_mutex);
	memcpy(res->name, req->name, sizeof(res->name));
	res->le = req->le;
	return ret;
}

static bool pemove_lock_args_valid(const struct pemove_pe_lock *in,
				   bool uses_dest)
{
	static const struct pemove_extent no_dest;

	if (!pemove_name_valid(in->name) ||
	    !pemove_zero(in->reserved, sizeof(in->reserved)))
		return false;
	return uses_dest || !memcmp(&in->dest, &no_dest, sizeof(no_dest));
}

enum pemove_lock_op { PEMOVE_LOCK, PEMOVE_UNLOCK, PEMOVE_REMAP };

static int pemove_lock_cmd(struct pemove_file *pf, const union pemove_param *in,
			   union pemove_param *out, enum pemove_lock_op op)
{
	const struct pemove_pe_lock *req = &in->pe_lock;
	struct pemove_pe_lock *res = &out->pe_lock;
	struct pemove_lv *lv;
	u32 index, inflight = 0;
	int ret;

	if (!pemove_lock_args_valid(req, op == PEMOVE_REMAP))
		return -EINVAL;
	/* PE_UNLOCK works on any LV, so a lock can always be dropped. */
	lv = pemove_lv_get(req->name, op != PEMOVE_UNLOCK, req->le, &index);
	if (IS_ERR(lv))
		return PTR_ERR(lv);
	switch (op) {
	case PEMOVE_LOCK:
		ret = pemove_pe_lock(pf, lv, index, &inflight);
		break;
	case PEMOVE_UNLOCK:
		ret = pemove_pe_unlock(pf, lv, index);
		break;
	default:
		ret = pemove_pe_remap(pf, lv, index, pemove_devt(&req->dest),
				      req->dest.sector);
		break;
	}
	pemove_lv_put(lv);

	memcpy(res->name, req->name, sizeof(res->name));
	res->le = req->le;
	if (op == PEMOVE_REMAP)
		res->dest = req->dest;
	res->bios_inflight = inflight;
	return ret;
}

static int pemove_cmd_pe_lock(struct pemove_file *pf,
			      const union pemove_param *in,
			      union pemove_param *out)
{
	return pemove_lock_cmd(pf, in, out, PEMOVE_LOCK);
}

static int pemove_cmd_pe_unlock(struct pemove_file *pf,
				const union pemove_param *in,
				union pemove_param *out)
{
	return pemove_lock_cmd(pf, in, out, PEMOVE_UNLOCK);
}

static int pemove_cmd_pe_remap(struct pemove_file *pf,
			       const union pemove_param *in,
			       union pemove_param *out)
{
	return pemove_lock_cmd(pf, in, out, PEMOVE_REMAP);
}

typedef int (*pemove_cmd_fn)(struct pemove_file *pf,
			     const union pemove_param *in,
			     union pemove_param *out);

/* Commands gated by locked_copy=0 answer ENOTTY, as an unpatched kernel. */
#define PEMOVE_CMD_LOCKED_COPY	0x1

static const struct pemove_cmd {
	unsigned int cmd;
	unsigned int flags;
	pemove_cmd_fn fn;
} pemove_cmds[] = {
	{ PEMOVE_IOC_VERSION,	  0, pemove_cmd_version },
	{ PEMOVE_IOC_LV_CREATE,	  0, pemove_cmd_lv_create },
	{ PEMOVE_IOC_LV_REMOVE,	  0, pemove_cmd_lv_remove },
	{ PEMOVE_IOC_LV_LIST,	  0, pemove_cmd_lv_list },
	{ PEMOVE_IOC_LV_STATUS,	  0, pemove_cmd_lv_status },
	{ PEMOVE_IOC_PE_MOVE,	  PEMOVE_CMD_LOCKED_COPY, pemove_cmd_pe_move },
	{ PEMOVE_IOC_PE_LOCK,	  0, pemove_cmd_pe_lock },
	{ PEMOVE_IOC_PE_UNLOCK,	  0, pemove_cmd_pe_unlock },
	{ PEMOVE_IOC_PE_REMAP,	  0, pemove_cmd_pe_remap },
	{ PEMOVE_IOC_PE_MOVE_END, PEMOVE_CMD_LOCKED_COPY, pemove_cmd_pe_move_end },
	{ PEMOVE_IOC_MOVE_STATUS, 0, pemove_cmd_move_status },
};

/* The handler of exactly @cmd (type, number, size and direction), or NULL. */
static pemove_cmd_fn pemove_lookup(unsigned int cmd)
{
	unsigned int i;

	if (_IOC_TYPE(cmd) != PEMOVE_IOC_MAGIC)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(pemove_cmds); i++) {
		if (pemove_cmds[i].cmd != cmd)
			continue;
		/* Without the locked copy the command does not exist, as in 2002. */
		if ((pemove_cmds[i].flags & PEMOVE_CMD_LOCKED_COPY) && !locked_copy)
			return NULL;
		return pemove_cmds[i].fn;
	}
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

	/*
	 * Write the struct back before acting, with only the version changed
	 * (the caller always gets it): if the buffer is not writable, the
	 * call fails here and changes nothing.
	 */
	memcpy(&out, &in, size);
	memcpy(out.hdr.version, pemove_version, sizeof(out.hdr.version));
	if (copy_to_user(uarg, &out, size))
		return -EFAULT;

	memset(&out, 0, sizeof(out));
	if (!pemove_version_ok(&in.hdr) || in.hdr.flags) {
		ret = -EINVAL;
	} else {
		/*
		 * Reclaim that wrote back through an LV could wait on a bio a
		 * move holds, so no allocation here may start IO.
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
	mutex_init(&pf->lock);
	INIT_LIST_HEAD(&pf->locks);
	INIT_LIST_HEAD(&pf->moves);
	file->private_data = pf;
	return 0;
}

/* A crashed mover must not leave IO held, or a move mirrored, forever. */
static int pemove_ctl_release(struct inode *inode, struct file *file)
{
	struct pemove_file *pf = file->private_data;

	pemove_file_unlock_all(pf);
	pemove_file_end_moves(pf);
	mutex_destroy(&pf->lock);
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

/* -- module init and exit ------------------------------------------------- */

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

	pr_info("version %s, interface %u.%u.%u, locked_copy=%d\n",
		PEMOVE_RELEASE, PEMOVE_VERSION_MAJOR, PEMOVE_VERSION_MINOR,
		PEMOVE_VERSION_PATCH, locked_copy);
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
MODULE_VERSION(PEMOVE_RELEASE);
