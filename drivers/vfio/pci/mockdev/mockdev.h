/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mockdev-vfio-pci: a vfio-pci variant driver that implements VFIO device
 * migration v2 over a software device model.
 */
#ifndef MDV_MOCKDEV_H
#define MDV_MOCKDEV_H

#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/vfio_pci_core.h>

#include "backend.h"
#include "faults.h"

#define MDV_DRV_NAME	"mockdev-vfio-pci"

/* QEMU's edu device: the hardware the model drives */
#define MDV_EDU_VENDOR	0x1234
#define MDV_EDU_DEVICE	0x11e8

/**
 * struct mdv_features - the migration features offered (devlink params
 *	p2p and precopy, module parameters of the same names)
 * @p2p: VFIO_MIGRATION_P2P
 * @precopy: VFIO_MIGRATION_PRE_COPY
 */
struct mdv_features {
	bool p2p;
	bool precopy;
};

extern struct mdv_features mdv_default_features;

struct mdv_migf;

/* Statistics (debugfs "stats"), bumped from several contexts */
struct mdv_stats {
	atomic64_t arcs;
	atomic64_t arc_failures;
	atomic64_t saved;	/* bytes read from saving FDs */
	atomic64_t loaded;	/* bytes written to resuming FDs */
	atomic64_t reports;	/* DMA logging report windows */
};

/**
 * struct mdv_device - one bound PCI function
 * @core: vfio-pci core device, must be first for container_of users
 * @ops: backend (device) operations
 * @be: backend private data
 * @state_mutex: serialises migration state changes and session setup; take
 *	it with mdv_state_lock(), release it with mdv_state_unlock()
 * @mig_state: current VFIO migration state
 * @reset_lock: protects @deferred_reset and the session pointers as seen
 *	by mdv_data_ready(); taken from reset_done, which runs with vfio-pci's
 *	memory_lock held, so nothing under it ever sleeps
 * @deferred_reset: the function was reset; the model has not been yet
 * @reset_seq: bumped by every function reset; a session opened before the
 *	current value is dead even before the model reset has run
 * @reset_work: runs the model reset when no state_mutex holder does
 * @open: the VFIO device is open (the device model runs)
 * @saving: open saving session, if any (holds a file reference)
 * @resuming: open resuming session, if any
 * @features: migration features offered (set migration_flags)
 * @faults: fault injection switches (empty without
 *	CONFIG_MOCKDEV_VFIO_PCI_FAULTS)
 * @stats: counters for debugfs
 * @devlink: devlink instance carrying the knobs
 * @dbg: debugfs directory
 */
struct mdv_device {
	struct vfio_pci_core_device core;
	const struct mdv_backend_ops *ops;
	void *be;
	struct mutex state_mutex;	/* migration state, sessions, knobs */
	enum vfio_device_mig_state mig_state;
	spinlock_t reset_lock;		/* see above; vfio_dev.c */
	bool deferred_reset;
	atomic_t reset_seq;
	struct work_struct reset_work;
	bool open;
	struct mdv_migf *saving;
	struct mdv_migf *resuming;
	struct mdv_features features;
	struct mdv_faults faults;
	struct mdv_stats stats;
	struct devlink *devlink;
	struct dentry *dbg;
};

static inline struct mdv_device *mdv_from_vdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct mdv_device, core.vdev);
}

static inline struct device *mdv_dev(struct mdv_device *mdv)
{
	return &mdv->core.pdev->dev;
}

static inline const char *mdv_name(struct mdv_device *mdv)
{
	return pci_name(mdv->core.pdev);
}

/* vfio_dev.c; mdv_state_lock(), mdv_params_lock() ... are in backend.h */
extern const struct vfio_device_ops mdv_vfio_ops;
void mdv_reset_done(struct mdv_device *mdv);
void mdv_remove_dev(struct mdv_device *mdv);
void mdv_update_features(struct mdv_device *mdv);

/* devlink.c */
int mdv_devlink_register(struct mdv_device *mdv);
void mdv_devlink_unregister(struct mdv_device *mdv);

/* debugfs.c */
void mdv_debugfs_init(void);
void mdv_debugfs_exit(void);
void mdv_debugfs_add(struct mdv_device *mdv);
void mdv_debugfs_remove(struct mdv_device *mdv);

#endif /* MDV_MOCKDEV_H */
