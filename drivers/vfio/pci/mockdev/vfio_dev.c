// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_device_ops for mockdev-vfio-pci: vfio-pci core plus migration, and
 * the one owner of state_mutex. It is taken and released here only:
 * mdv_state_lock()/mdv_state_unlock() carry out function resets, which
 * reset_done() can only flag, and the set-state loop calls lm.c's
 * mdv_step_device_state_locked() for one arc at a time. lm.c never calls
 * back into this file.
 */
#include <linux/file.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"
#include "mockdev.h"
#include "dirty.h"
#include "lm.h"
#include "trace.h"

/*
 * Back to the power-on state with no session. A function reset keeps DMA
 * logging running (the VMM still tracks guest memory and owns the
 * tracker) but the device lost track of what it wrote, so everything is
 * reported dirty once; open and close end tracking.
 */
static void mdv_do_reset(struct mdv_device *mdv, bool function_reset)
{
	mdv_disable_files_locked(mdv);
	mdv->ops->reset(mdv, mdv->open);
	if (function_reset)
		mdv_dirty_reset(mdv);
	else
		mdv_dirty_stop(mdv);
	mdv->mig_state = VFIO_DEVICE_STATE_RUNNING;
}

static void mdv_run_deferred_reset(struct mdv_device *mdv)
{
	bool pending;

	lockdep_assert_held(&mdv->state_mutex);
	for (;;) {
		spin_lock(&mdv->reset_lock);
		pending = mdv->deferred_reset;
		mdv->deferred_reset = false;
		spin_unlock(&mdv->reset_lock);
		if (!pending)
			return;
		mdv_do_reset(mdv, true);
	}
}

/**
 * mdv_state_lock - take state_mutex, then carry out a pending reset
 * @mdv: device
 *
 * reset_done() runs with vfio-pci's memory_lock held for writing, and a
 * data FD reader holding its session lock may be faulting on the device's
 * own mmapped BAR, waiting for that memory_lock. So reset_done() only
 * flags the reset (mdv_reset_done()); the model reset, which ends sessions
 * and so takes their locks, runs here, where no vfio-pci lock is held.
 * Every holder of state_mutex thus sees the device after the reset.
 */
void mdv_state_lock(struct mdv_device *mdv)
{
	mutex_lock(&mdv->state_mutex);
	mdv_run_deferred_reset(mdv);
}

/**
 * mdv_state_unlock - carry out a reset flagged meanwhile, release state_mutex
 * @mdv: device
 *
 * A reset flagged after this check is carried out by the reset work.
 */
void mdv_state_unlock(struct mdv_device *mdv)
{
	mdv_run_deferred_reset(mdv);
	mutex_unlock(&mdv->state_mutex);
}

static void mdv_reset_work(struct work_struct *work)
{
	struct mdv_device *mdv = container_of(work, struct mdv_device,
					      reset_work);

	mdv_state_lock(mdv);
	mdv_state_unlock(mdv);
}

/**
 * mdv_reset_done - the function was reset (pci_error_handlers.reset_done)
 * @mdv: device
 *
 * Called with the device lock and, for VFIO_DEVICE_RESET and hot reset,
 * vfio-pci's memory_lock held: only flags the reset and kills the open
 * sessions' next data operation. The model reset runs in the next
 * mdv_state_lock() holder or in the reset work.
 */
void mdv_reset_done(struct mdv_device *mdv)
{
	spin_lock(&mdv->reset_lock);
	mdv->deferred_reset = true;
	atomic_inc(&mdv->reset_seq);
	spin_unlock(&mdv->reset_lock);
	queue_work(system_wq, &mdv->reset_work);
}

/**
 * mdv_remove_dev - the PCI function goes away (pci_driver.remove)
 * @mdv: device, unregistered: no VFIO user has it open any more
 *
 * Stops whatever still runs on the device's behalf; memory is freed at
 * release, which a reference holder may delay.
 */
void mdv_remove_dev(struct mdv_device *mdv)
{
	cancel_work_sync(&mdv->reset_work);
	mdv_state_lock(mdv);
	mdv_state_unlock(mdv);
	mdv->ops->remove(mdv);
}

/**
 * mdv_params_lock - take state_mutex to change knobs
 * @mdv: device
 *
 * Knobs change what a migration stream looks like, so they are frozen while
 * a session is open or the device is anywhere but RUNNING.
 *
 * Return: 0 with state_mutex held (release with mdv_state_unlock()), or
 * -EBUSY.
 */
int mdv_params_lock(struct mdv_device *mdv)
{
	mdv_state_lock(mdv);
	if (mdv->mig_state != VFIO_DEVICE_STATE_RUNNING || mdv->saving ||
	    mdv->resuming) {
		mdv_state_unlock(mdv);
		return -EBUSY;
	}
	return 0;
}

/**
 * mdv_update_features - derive migration_flags from the feature knobs
 * @mdv: device, state_mutex held (or not yet registered)
 */
void mdv_update_features(struct mdv_device *mdv)
{
	unsigned int flags = VFIO_MIGRATION_STOP_COPY;

	if (mdv->features.p2p)
		flags |= VFIO_MIGRATION_P2P;
	if (mdv->features.precopy)
		flags |= VFIO_MIGRATION_PRE_COPY;
	mdv->core.vdev.migration_flags = flags;
}

/**
 * mdv_set_state - migration_set_state: step the FSM to @new_state
 * @vdev: vfio device
 * @new_state: requested state
 *
 * Steps through vfio_mig_get_next_state() one arc at a time. A rejected
 * request leaves the state unchanged; a failed device step leaves ERROR.
 *
 * Return: the new data FD's file, NULL, or an ERR_PTR.
 */
static struct file *mdv_set_state(struct vfio_device *vdev,
				  enum vfio_device_mig_state new_state)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	enum vfio_device_mig_state cur, next;
	struct file *res = NULL;
	u64 t0;
	int ret;

	/* Only the device enters ERROR; the user cannot ask for it. */
	if (new_state == VFIO_DEVICE_STATE_ERROR)
		return ERR_PTR(-EINVAL);

	mdv_state_lock(mdv);
	while (mdv->mig_state != new_state) {
		/* vfio_mig_get_next_state() WARNs on ERROR: only reset leaves. */
		if (mdv->mig_state == VFIO_DEVICE_STATE_ERROR) {
			res = ERR_PTR(-EINVAL);
			break;
		}
		ret = vfio_mig_get_next_state(vdev, mdv->mig_state, new_state,
					      &next);
		if (ret) {
			res = ERR_PTR(ret);
			break;
		}
		t0 = ktime_get_ns();
		cur = mdv->mig_state;
		res = mdv_step_device_state_locked(mdv, next);
		trace_mdv_arc(mdv_name(mdv), cur, next, ktime_get_ns() - t0,
			      PTR_ERR_OR_ZERO(res));
		atomic64_inc(&mdv->stats.arcs);
		if (IS_ERR(res)) {
			atomic64_inc(&mdv->stats.arc_failures);
			break;
		}
		mdv->mig_state = next;
		if (WARN_ON(res && next != new_state)) {
			fput(res);
			res = ERR_PTR(-EINVAL);
			break;
		}
	}
	if (!IS_ERR_OR_NULL(res) || mdv->mig_state == new_state)
		mdv_data_ready(mdv);
	mdv_state_unlock(mdv);
	return res;
}

static int mdv_get_state(struct vfio_device *vdev,
			 enum vfio_device_mig_state *state)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);

	mdv_state_lock(mdv);
	*state = mdv->mig_state;
	mdv_state_unlock(mdv);
	return 0;
}

/* MIG_DATA_SIZE: bytes a STOP_COPY from now would produce, exactly */
static int mdv_get_data_size(struct vfio_device *vdev, unsigned long *len)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);

	mdv_state_lock(mdv);
	*len = mdv_data_size_locked(mdv);
	mdv_state_unlock(mdv);
	return 0;
}

static const struct vfio_migration_ops mdv_mig_ops = {
	.migration_set_state = mdv_set_state,
	.migration_get_state = mdv_get_state,
	.migration_get_data_size = mdv_get_data_size,
};

static int mdv_init_dev(struct vfio_device *vdev)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	int ret;

	mutex_init(&mdv->state_mutex);
	spin_lock_init(&mdv->reset_lock);
	INIT_WORK(&mdv->reset_work, mdv_reset_work);
	mdv->ops = &mdv_backend;
	mdv->features = mdv_default_features;
	mdv_faults_init(&mdv->faults);
	mdv->mig_state = VFIO_DEVICE_STATE_RUNNING;

	ret = vfio_pci_core_init_dev(vdev);
	if (ret)
		goto err_mutex;
	ret = mdv->ops->init(mdv);
	if (ret)
		goto err_core;
	vdev->mig_ops = &mdv_mig_ops;
	mdv_dirty_register(mdv);
	mdv_update_features(mdv);
	return 0;

err_core:
	vfio_pci_core_release_dev(vdev);
err_mutex:
	mutex_destroy(&mdv->state_mutex);
	return ret;
}

static void mdv_release_dev(struct vfio_device *vdev)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);

	mdv->ops->release(mdv);
	mutex_destroy(&mdv->state_mutex);
	vfio_pci_core_release_dev(vdev);
}

static int mdv_open_device(struct vfio_device *vdev)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	int ret;

	ret = vfio_pci_core_enable(&mdv->core);
	if (ret)
		return ret;

	mdv_state_lock(mdv);
	mdv->open = true;
	mdv_do_reset(mdv, false);
	mdv_state_unlock(mdv);

	vfio_pci_core_finish_enable(&mdv->core);
	return 0;
}

static void mdv_close_device(struct vfio_device *vdev)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);

	mdv_state_lock(mdv);
	mdv->open = false;
	mdv_do_reset(mdv, false);
	mdv_state_unlock(mdv);
	vfio_pci_core_close_device(vdev);
}

static long mdv_ioctl(struct vfio_device *vdev, unsigned int cmd,
		      unsigned long arg)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	long ret;

	/*
	 * A function without a PCI reset method (QEMU's edu on the root bus)
	 * still has a device model to reset; without this, ERROR could never
	 * be left. Functions that can reset go through reset_done().
	 */
	if (cmd == VFIO_DEVICE_RESET && !mdv->core.reset_works) {
		mdv_reset_done(mdv);
		ret = 0;
	} else {
		ret = vfio_pci_core_ioctl(vdev, cmd, arg);
	}
	/*
	 * reset_done() only flagged the model reset: carry it out before
	 * returning, so the user sees RUNNING and no session afterwards.
	 */
	if (!ret && (cmd == VFIO_DEVICE_RESET ||
		     cmd == VFIO_DEVICE_PCI_HOT_RESET)) {
		mdv_state_lock(mdv);
		mdv_state_unlock(mdv);
	}
	return ret;
}

const struct vfio_device_ops mdv_vfio_ops = {
	.name = "mockdev-vfio-pci",
	.init = mdv_init_dev,
	.release = mdv_release_dev,
	.open_device = mdv_open_device,
	.close_device = mdv_close_device,
	.ioctl = mdv_ioctl,
	.device_feature = vfio_pci_core_ioctl_feature,
	.read = vfio_pci_core_read,
	.write = vfio_pci_core_write,
	.mmap = vfio_pci_core_mmap,
	.request = vfio_pci_core_request,
	.match = vfio_pci_core_match,
	.bind_iommufd = vfio_iommufd_physical_bind,
	.unbind_iommufd = vfio_iommufd_physical_unbind,
	.attach_ioas = vfio_iommufd_physical_attach_ioas,
	.detach_ioas = vfio_iommufd_physical_detach_ioas,
	MDV_VFIO_PCI_OPS_7
};
