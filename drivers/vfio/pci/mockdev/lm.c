// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO migration uAPI v2: FSM steps, saving and resuming data files,
 * PRE_COPY accounting and MIG_DATA_SIZE. Nothing here knows the device
 * model; device work goes through mdv->ops (backend.h).
 *
 * Locking: mdv->state_mutex -> migf->lock -> backend's own lock.
 * vfio_dev.c takes and releases state_mutex; the *_locked functions here
 * run under it and never take it themselves.
 * read()/write() take only migf->lock, so a user copy that faults (and takes
 * mmap_lock, and possibly vfio-pci's memory_lock) never holds state_mutex.
 * PCI reset_done takes neither (vfio_dev.c), which breaks the
 * migf->lock -> mmap_lock -> memory_lock -> reset_done -> migf->lock cycle.
 *
 * A data FD can outlive its device: unbind waits for device FDs only. Once
 * a session is disabled (state left, reset, close, which every remove goes
 * through) its file touches nothing of the device: it has its own wait
 * queue and a copy of the device's name, and holds no reference that would
 * keep the vfio_device on its dev_set.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <mockdev/mdv_stream.h>

#include "compat.h"
#include "mockdev.h"
#include "lm.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

#define MDV_HDR_SIZE	sizeof(struct mdv_rec_hdr)

/**
 * struct mdv_migf - one data FD
 * @filp: the anon inode file; the device holds one reference while the
 *	session is live
 * @mdv: owning device; not to be used once @disabled
 * @lock: serialises data ops on this file
 * @wq: readers and pollers wait here for data or the end of the session
 * @wake_seq: bumped with every wake-up of @wq
 * @name: the device's name, for tracepoints after the device is gone
 * @reset_seq: the device's reset_seq when the session began
 * @disabled: session over (state left, reset, close): -ENODEV from now on
 * @precopy: saving: the device is in PRE_COPY or PRE_COPY_P2P
 * @eof: saving: the final record has been read completely
 * @reinit: saving: the backend's mdv_pending.reinit last reported
 * @error: resuming: the stream was rejected; sticky
 * @in_rec: @rec is a record being read or written
 * @skip: resuming: @rec is an unknown optional record being skipped
 * @rec: current record
 * @hdr: its header, as sent or as reassembled from user writes
 * @hdr_off: header bytes already transferred
 */
struct mdv_migf {
	struct file *filp;
	struct mdv_device *mdv;
	struct mutex lock;		/* serialises data ops on this file */
	wait_queue_head_t wq;
	atomic_t wake_seq;
	char name[32];
	int reset_seq;
	bool disabled;
	bool precopy;
	bool eof;
	u32 reinit;
	int error;
	bool in_rec;
	bool skip;
	struct mdv_rec rec;
	struct mdv_rec_hdr hdr;
	u32 hdr_off;
};

static u64 mdv_rec_unread(struct mdv_migf *migf)
{
	if (!migf->in_rec)
		return 0;
	return MDV_REC_BYTES(migf->rec.size) - migf->hdr_off - migf->rec.off;
}

static int mdv_migf_release(struct inode *inode, struct file *filp)
{
	struct mdv_migf *migf = filp->private_data;

	/* The device dropped its reference first, so the session is over. */
	mutex_destroy(&migf->lock);
	kfree(migf);
	return 0;
}

/*
 * Is the session over? With migf->lock held: a disabled session's device
 * may be gone; a function reset kills the session at once, before the
 * model reset (which disables it) has run.
 */
static bool mdv_migf_dead(struct mdv_migf *migf)
{
	lockdep_assert_held(&migf->lock);
	return migf->disabled ||
	       atomic_read(&migf->mdv->reset_seq) != migf->reset_seq;
}

static void mdv_migf_wake(struct mdv_migf *migf)
{
	atomic_inc(&migf->wake_seq);
	wake_up_interruptible(&migf->wq);
}

/**
 * mdv_data_ready - the device produced saving data, or can produce more
 * @mdv: device; any context that may take a spinlock
 *
 * Wakes blocked readers and pollers of the saving FD, if one is open.
 */
void mdv_data_ready(struct mdv_device *mdv)
{
	spin_lock(&mdv->reset_lock);
	if (mdv->saving)
		mdv_migf_wake(mdv->saving);
	spin_unlock(&mdv->reset_lock);
}

/* ----- saving ----- */

static int mdv_save_next(struct mdv_migf *migf)
{
	struct mdv_device *mdv = migf->mdv;
	int ret;

	memset(&migf->rec, 0, sizeof(migf->rec));
	ret = mdv->ops->save_next(mdv, &migf->rec);
	if (ret)
		return ret;
	migf->hdr.size = cpu_to_le64(migf->rec.size);
	migf->hdr.flags = cpu_to_le32(migf->rec.flags);
	migf->hdr.tag = cpu_to_le32(migf->rec.tag);
	migf->hdr_off = 0;
	migf->in_rec = true;
	return 0;
}

/*
 * Read what the device has produced; -EAGAIN from the backend means more is
 * coming and mdv_data_ready() will say when.
 */
static ssize_t mdv_save_read_locked(struct mdv_migf *migf, struct iov_iter *to)
{
	struct mdv_device *mdv = migf->mdv;
	ssize_t done = 0;
	int ret = 0;

	while (iov_iter_count(to)) {
		size_t n;

		if (!migf->in_rec) {
			if (migf->eof)
				break;
			ret = mdv_save_next(migf);
			if (ret)
				break;
		}
		if (migf->hdr_off < MDV_HDR_SIZE) {
			n = copy_to_iter((u8 *)&migf->hdr + migf->hdr_off,
					 MDV_HDR_SIZE - migf->hdr_off, to);
			if (!n) {
				ret = -EFAULT;
				break;
			}
			migf->hdr_off += n;
			done += n;
		} else if (migf->rec.off < migf->rec.size) {
			ssize_t r = mdv->ops->save_copy(mdv, &migf->rec, to);

			if (r <= 0) {
				ret = r ? r : -EFAULT;
				break;
			}
			done += r;
		}
		if (migf->hdr_off == MDV_HDR_SIZE &&
		    migf->rec.off == migf->rec.size) {
			migf->in_rec = false;
			/* the final record is the last: poll sees EOF now */
			if (migf->rec.class == MDV_CLASS_FINAL)
				migf->eof = true;
		}
	}
	return done ? done : ret;
}

static ssize_t mdv_save_read(struct file *filp, char __user *buf, size_t len,
			     loff_t *pos)
{
	struct mdv_migf *migf = filp->private_data;
	struct iov_iter to;
	ssize_t ret;
	int seq, err;

	if (pos)
		return -ESPIPE;
	ret = import_ubuf(ITER_DEST, buf, len, &to);
	if (ret)
		return ret;

	mutex_lock(&migf->lock);
	/* An injected failure consumes nothing: the user can retry. */
	if (!mdv_migf_dead(migf) &&
	    mdv_fault_data(&migf->mdv->faults, true, &err)) {
		ret = err;
		goto out;
	}
	for (;;) {
		if (mdv_migf_dead(migf)) {
			ret = -ENODEV;
			break;
		}
		seq = atomic_read(&migf->wake_seq);
		ret = mdv_save_read_locked(migf, &to);
		if (ret == -ENODATA) {
			/* the backend knows no more records: end of stream */
			migf->eof = true;
			ret = 0;
		}
		if (ret != -EAGAIN || (filp->f_flags & O_NONBLOCK))
			break;
		mutex_unlock(&migf->lock);
		ret = wait_event_interruptible(migf->wq,
					       atomic_read(&migf->wake_seq) != seq);
		mutex_lock(&migf->lock);
		if (ret)
			break;
	}
	if (ret > 0)
		atomic64_add(ret, &migf->mdv->stats.saved);
out:
	mutex_unlock(&migf->lock);
	trace_mdv_data(migf->name, true, len, ret);
	return ret;
}

static __poll_t mdv_save_poll(struct file *filp, poll_table *wait)
{
	struct mdv_migf *migf = filp->private_data;
	struct mdv_pending p = {};
	__poll_t mask = 0;

	poll_wait(filp, &migf->wq, wait);

	mutex_lock(&migf->lock);
	if (mdv_migf_dead(migf)) {
		mask = EPOLLERR | EPOLLHUP;
	} else if (migf->eof || migf->in_rec) {
		/* EOF stays readable: read() returns 0 at once */
		mask = EPOLLIN | EPOLLRDNORM;
	} else {
		migf->mdv->ops->save_pending(migf->mdv, &p);
		if (p.ready)
			mask = EPOLLIN | EPOLLRDNORM;
	}
	mutex_unlock(&migf->lock);
	return mask;
}

/*
 * PRE_COPY accounting, exact. When the device restarted its initial data
 * (a reconfiguration, mdv_pending.reinit), a user who opted in to
 * PRECOPY_INFOv2 gets VFIO_PRECOPY_INFO_REINIT once, with initial_bytes
 * the new initial data plus what is left of the record being read (which
 * comes before it), and dirty_bytes restarted from zero. Without the
 * opt-in, flags stays zero and initial_bytes never grows again: from the
 * first restart on, everything left is reported as dirty_bytes (the bytes
 * and the stream are the same either way).
 */
static long mdv_precopy_info(struct mdv_migf *migf, unsigned int cmd,
			     unsigned long arg)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);
	struct vfio_precopy_info info = {};
	struct mdv_pending p = {};
	bool v2 = false, reinit = false;
	int ret;

	/*
	 * Only migf->lock: the FSM changes @precopy under it, and a session
	 * that is not disabled has a device behind it (the user copy may
	 * fault under migf->lock, as read() does).
	 */
	mutex_lock(&migf->lock);
	if (mdv_migf_dead(migf) || !migf->precopy) {
		ret = -EINVAL;	/* not in PRE_COPY or PRE_COPY_P2P */
		goto out;
	}
	ret = mdv_check_precopy_ioctl(&migf->mdv->core.vdev, cmd, arg, &info);
	if (ret)
		goto out;
	v2 = mdv_precopy_info_v2(&migf->mdv->core.vdev);
	migf->mdv->ops->save_pending(migf->mdv, &p);
	if (p.reinit != migf->reinit) {
		migf->reinit = p.reinit;
		reinit = true;
		/* the rest of this record comes before the new initial data */
		if (migf->in_rec && migf->rec.class == MDV_CLASS_DIRTY)
			migf->rec.class = MDV_CLASS_INITIAL;
	}
	if (migf->in_rec && migf->rec.class == MDV_CLASS_INITIAL)
		p.initial += mdv_rec_unread(migf);
	else if (migf->in_rec && migf->rec.class == MDV_CLASS_DIRTY)
		p.dirty += mdv_rec_unread(migf);
	if (p.reinit && !v2) {
		p.dirty += p.initial;
		p.initial = 0;
	}
out:
	mutex_unlock(&migf->lock);
	if (ret)
		return ret;

	trace_mdv_precopy_info(migf->name, p.initial, p.dirty);
	/* Never echo user input back: flags is output only. */
	info.flags = reinit && v2 ? MDV_PRECOPY_INFO_REINIT : 0;
	info.initial_bytes = p.initial;
	info.dirty_bytes = p.dirty;
	return copy_to_user((void __user *)arg, &info, minsz) ? -EFAULT : 0;
}

static long mdv_save_ioctl(struct file *filp, unsigned int cmd,
			   unsigned long arg)
{
	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	return mdv_precopy_info(filp->private_data, cmd, arg);
}

static const struct file_operations mdv_save_fops = {
	.owner = THIS_MODULE,
	.read = mdv_save_read,
	.poll = mdv_save_poll,
	.unlocked_ioctl = mdv_save_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = mdv_migf_release,
};

/* ----- resuming ----- */

static int mdv_load_hdr_done(struct mdv_migf *migf)
{
	struct mdv_device *mdv = migf->mdv;
	int ret;

	memset(&migf->rec, 0, sizeof(migf->rec));
	migf->rec.size = le64_to_cpu(migf->hdr.size);
	migf->rec.flags = le32_to_cpu(migf->hdr.flags);
	migf->rec.tag = le32_to_cpu(migf->hdr.tag);
	migf->skip = false;
	/* a flag this version does not know may change the record's meaning */
	if (migf->rec.flags & ~MDV_REC_F_OPTIONAL)
		return -EINVAL;
	ret = mdv->ops->load_begin(mdv, &migf->rec);
	if (ret == -ENOENT) {
		if (!(migf->rec.flags & MDV_REC_F_OPTIONAL)) {
			dev_dbg(mdv_dev(mdv), "unknown mandatory record %u\n",
				migf->rec.tag);
			return -EINVAL;
		}
		migf->skip = true;
		ret = 0;
	}
	return ret;
}

static int mdv_load_rec_done(struct mdv_migf *migf)
{
	struct mdv_device *mdv = migf->mdv;
	int ret = 0;

	if (!migf->skip)
		ret = mdv->ops->load_end(mdv, &migf->rec);
	migf->in_rec = false;
	migf->hdr_off = 0;
	return ret;
}

static ssize_t mdv_resume_write(struct file *filp, const char __user *buf,
				size_t len, loff_t *pos)
{
	struct mdv_migf *migf = filp->private_data;
	struct mdv_device *mdv;
	struct iov_iter from;
	ssize_t done = 0;
	int ret;

	if (pos)
		return -ESPIPE;
	ret = import_ubuf(ITER_SOURCE, (void __user *)buf, len, &from);
	if (ret)
		return ret;

	mutex_lock(&migf->lock);
	if (mdv_migf_dead(migf)) {
		ret = -ENODEV;
		goto out;
	}
	mdv = migf->mdv;
	if (migf->error) {
		ret = migf->error;
		goto out;
	}
	if (mdv_fault_data(&mdv->faults, false, &ret))
		goto out;

	while (iov_iter_count(&from)) {
		size_t n;

		if (migf->hdr_off < MDV_HDR_SIZE) {
			n = copy_from_iter((u8 *)&migf->hdr + migf->hdr_off,
					   MDV_HDR_SIZE - migf->hdr_off, &from);
			if (!n) {
				ret = -EFAULT;
				goto out;
			}
			migf->hdr_off += n;
			done += n;
			if (migf->hdr_off < MDV_HDR_SIZE)
				continue;
			migf->in_rec = true;
			ret = mdv_load_hdr_done(migf);
			if (ret)
				goto reject;
		} else if (migf->skip) {
			n = min_t(u64, iov_iter_count(&from),
				  migf->rec.size - migf->rec.off);
			iov_iter_advance(&from, n);
			migf->rec.off += n;
			done += n;
		} else {
			ssize_t r = mdv->ops->load_copy(mdv, &migf->rec, &from);

			/*
			 * A bad user pointer is the caller's to fix, not the
			 * stream's: what was consumed stays consumed.
			 */
			if (!r || r == -EFAULT) {
				ret = -EFAULT;
				goto out;
			}
			if (r < 0) {
				ret = r;
				goto reject;
			}
			done += r;
		}
		if (migf->rec.off == migf->rec.size) {
			ret = mdv_load_rec_done(migf);
			if (ret)
				goto reject;
		}
	}
	ret = 0;
	goto out;

reject:
	/*
	 * The stream is broken: remember it, so that RESUMING -> STOP fails
	 * too, and report the error now rather than after a short write.
	 */
	migf->error = ret;
	done = 0;
out:
	if (done)
		atomic64_add(done, &migf->mdv->stats.loaded);
	mutex_unlock(&migf->lock);
	trace_mdv_data(migf->name, false, len, done ? done : ret);
	return done ? done : ret;
}

static const struct file_operations mdv_resume_fops = {
	.owner = THIS_MODULE,
	.write = mdv_resume_write,
	.release = mdv_migf_release,
};

/* ----- sessions ----- */

static struct mdv_migf *mdv_migf_create(struct mdv_device *mdv, bool saving)
{
	struct mdv_migf *migf;
	struct file *filp;

	if (mdv_fault_alloc(&mdv->faults))
		return ERR_PTR(-ENOMEM);
	migf = kzalloc(sizeof(*migf), GFP_KERNEL_ACCOUNT);
	if (!migf)
		return ERR_PTR(-ENOMEM);
	migf->mdv = mdv;
	mutex_init(&migf->lock);
	init_waitqueue_head(&migf->wq);
	strscpy(migf->name, mdv_name(mdv));
	migf->reset_seq = atomic_read(&mdv->reset_seq);
	filp = anon_inode_getfile(saving ? "mdv_saving" : "mdv_resuming",
				  saving ? &mdv_save_fops : &mdv_resume_fops,
				  migf, saving ? O_RDONLY : O_WRONLY);
	if (IS_ERR(filp)) {
		mutex_destroy(&migf->lock);
		kfree(migf);
		return ERR_CAST(filp);
	}
	migf->filp = filp;
	stream_open(filp->f_inode, filp);
	return migf;
}

static void mdv_put_saving(struct mdv_device *mdv)
{
	struct mdv_migf *migf = mdv->saving;

	if (!migf)
		return;
	spin_lock(&mdv->reset_lock);
	mdv->saving = NULL;
	spin_unlock(&mdv->reset_lock);
	mutex_lock(&migf->lock);
	migf->disabled = true;
	mdv->ops->save_stop(mdv);
	mutex_unlock(&migf->lock);
	mdv_migf_wake(migf);
	fput(migf->filp);
}

static int mdv_put_resuming(struct mdv_device *mdv, bool finish)
{
	struct mdv_migf *migf = mdv->resuming;
	int ret = 0;

	if (!migf)
		return 0;
	mutex_lock(&migf->lock);
	if (finish) {
		ret = migf->error;
		if (!ret && (migf->in_rec || migf->hdr_off))
			ret = -EINVAL;	/* a record was cut short */
		if (!ret)
			ret = mdv->ops->load_finish(mdv);
	}
	migf->disabled = true;
	mdv->ops->load_stop(mdv);
	mutex_unlock(&migf->lock);
	mdv->resuming = NULL;
	fput(migf->filp);
	return ret;
}

/**
 * mdv_disable_files_locked - end every data session of @mdv
 * @mdv: device, state_mutex held
 *
 * Used on reset, close and ERROR: open FDs stay valid file objects but every
 * later read, write or ioctl on them fails with -ENODEV.
 */
void mdv_disable_files_locked(struct mdv_device *mdv)
{
	lockdep_assert_held(&mdv->state_mutex);
	mdv_put_saving(mdv);
	mdv_put_resuming(mdv, false);
}

static struct file *mdv_save_begin(struct mdv_device *mdv, bool precopy)
{
	struct mdv_migf *migf;
	int ret;

	migf = mdv_migf_create(mdv, true);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	ret = mdv->ops->save_start(mdv, precopy);
	if (ret) {
		fput(migf->filp);
		return ERR_PTR(ret);
	}
	migf->precopy = precopy;
	spin_lock(&mdv->reset_lock);
	mdv->saving = migf;
	spin_unlock(&mdv->reset_lock);
	get_file(migf->filp);	/* one for the device, one for the user */
	return migf->filp;
}

static struct file *mdv_resume_begin(struct mdv_device *mdv)
{
	struct mdv_migf *migf;
	int ret;

	migf = mdv_migf_create(mdv, false);
	if (IS_ERR(migf))
		return ERR_CAST(migf);
	ret = mdv->ops->load_start(mdv);
	if (ret) {
		fput(migf->filp);
		return ERR_PTR(ret);
	}
	mdv->resuming = migf;
	get_file(migf->filp);
	return migf->filp;
}

/* ----- the FSM ----- */

static bool mdv_arc(enum vfio_device_mig_state cur,
		    enum vfio_device_mig_state next,
		    enum vfio_device_mig_state from,
		    enum vfio_device_mig_state to)
{
	return cur == from && next == to;
}

/*
 * Put the device into ERROR: its state is unknown after a failed device
 * command. Only VFIO_DEVICE_RESET leaves ERROR.
 */
static struct file *mdv_fail(struct mdv_device *mdv, int err)
{
	mdv_disable_files_locked(mdv);
	mdv->mig_state = VFIO_DEVICE_STATE_ERROR;
	return ERR_PTR(err);
}

static struct file *mdv_cmd(struct mdv_device *mdv,
			    int (*first)(struct mdv_device *mdv),
			    int (*second)(struct mdv_device *mdv))
{
	int ret = first(mdv);

	if (!ret && second)
		ret = second(mdv);
	return ret ? mdv_fail(mdv, ret) : NULL;
}

/* PRE_COPY ended in STOP_COPY: precopy_info is over, the final data comes */
static struct file *mdv_stop_precopy(struct mdv_device *mdv, struct file *res)
{
	struct mdv_migf *migf = mdv->saving;

	if (!IS_ERR(res) && migf) {
		mutex_lock(&migf->lock);
		migf->precopy = false;
		mutex_unlock(&migf->lock);
	}
	return res;
}

/**
 * mdv_step_device_state_locked - carry out one arc of the FSM
 * @mdv: device, state_mutex held
 * @next: the state vfio_mig_get_next_state() chose after mdv->mig_state
 *
 * Arcs the core never produces for the device's feature set are not
 * listed. On failure of a device command the device is left in ERROR; the
 * caller sets mig_state to @next on success.
 *
 * Return: the new data FD's file, NULL, or an ERR_PTR.
 */
struct file *mdv_step_device_state_locked(struct mdv_device *mdv,
					  enum vfio_device_mig_state next)
{
	const struct mdv_backend_ops *ops = mdv->ops;
	enum vfio_device_mig_state cur = mdv->mig_state;
	int ret;

	lockdep_assert_held(&mdv->state_mutex);
	if (mdv_fault_arc(&mdv->faults, cur, next))
		return mdv_fail(mdv, -EIO);

	/* Device-only arcs: no data session starts or ends. */
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_RUNNING,
		    VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    mdv_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY,
		    VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return mdv_cmd(mdv, ops->quiesce, NULL);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P,
		    VFIO_DEVICE_STATE_RUNNING) ||
	    mdv_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P,
		    VFIO_DEVICE_STATE_PRE_COPY))
		return mdv_cmd(mdv, ops->unquiesce, NULL);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P,
		    VFIO_DEVICE_STATE_STOP))
		return mdv_cmd(mdv, ops->freeze, NULL);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P,
		    VFIO_DEVICE_STATE_STOP_COPY))
		return mdv_stop_precopy(mdv, mdv_cmd(mdv, ops->freeze, NULL));
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_STOP,
		    VFIO_DEVICE_STATE_RUNNING_P2P))
		return mdv_cmd(mdv, ops->unfreeze, NULL);
	/* Without P2P the core skips the P2P states: do both halves. */
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_RUNNING,
		    VFIO_DEVICE_STATE_STOP))
		return mdv_cmd(mdv, ops->quiesce, ops->freeze);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY,
		    VFIO_DEVICE_STATE_STOP_COPY))
		return mdv_stop_precopy(mdv,
					mdv_cmd(mdv, ops->quiesce, ops->freeze));
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_STOP,
		    VFIO_DEVICE_STATE_RUNNING))
		return mdv_cmd(mdv, ops->unfreeze, ops->unquiesce);

	/* Saving sessions */
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_RUNNING,
		    VFIO_DEVICE_STATE_PRE_COPY) ||
	    mdv_arc(cur, next, VFIO_DEVICE_STATE_RUNNING_P2P,
		    VFIO_DEVICE_STATE_PRE_COPY_P2P))
		return mdv_save_begin(mdv, true);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_STOP,
		    VFIO_DEVICE_STATE_STOP_COPY))
		return mdv_save_begin(mdv, false);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY,
		    VFIO_DEVICE_STATE_RUNNING) ||
	    mdv_arc(cur, next, VFIO_DEVICE_STATE_PRE_COPY_P2P,
		    VFIO_DEVICE_STATE_RUNNING_P2P) ||
	    mdv_arc(cur, next, VFIO_DEVICE_STATE_STOP_COPY,
		    VFIO_DEVICE_STATE_STOP)) {
		mdv_put_saving(mdv);
		return NULL;
	}

	/* Resuming sessions */
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_STOP,
		    VFIO_DEVICE_STATE_RESUMING))
		return mdv_resume_begin(mdv);
	if (mdv_arc(cur, next, VFIO_DEVICE_STATE_RESUMING,
		    VFIO_DEVICE_STATE_STOP)) {
		ret = mdv_put_resuming(mdv, true);
		/* Loaded state is not the source's: it must never run. */
		return ret ? mdv_fail(mdv, ret) : NULL;
	}

	WARN_ONCE(1, "mockdev: no arc %d -> %d\n", cur, next);
	return ERR_PTR(-EINVAL);
}

/**
 * mdv_data_size_locked - what MIG_DATA_SIZE reports
 * @mdv: device, state_mutex held
 *
 * Within a saving session that is what is left of it, exactly (including
 * the unread part of the current record); otherwise a whole new stream.
 *
 * Return: bytes a STOP_COPY from now would produce.
 */
u64 mdv_data_size_locked(struct mdv_device *mdv)
{
	struct mdv_migf *migf = mdv->saving;
	struct mdv_pending p = {};
	u64 len;

	lockdep_assert_held(&mdv->state_mutex);
	if (!migf)
		return mdv->ops->stream_size(mdv);
	mutex_lock(&migf->lock);
	mdv->ops->save_pending(mdv, &p);
	len = p.initial + p.dirty + p.final + mdv_rec_unread(migf);
	mutex_unlock(&migf->lock);
	return len;
}
