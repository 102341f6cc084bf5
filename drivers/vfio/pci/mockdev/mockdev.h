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
#include <linux/xarray.h>
#include <linux/vfio_pci_core.h>
#include <mockdev/mdv_stream.h>

#include "backend.h"
#include "faults.h"

#define MDV_DRV_NAME	"mockdev-vfio-pci"

/* QEMU's edu device: the hardware the model drives */
#define MDV_EDU_VENDOR	0x1234
#define MDV_EDU_DEVICE	0x11e8

/* Per-device knobs (devlink params); module parameters give the defaults. */
struct mdv_params {
	u32 state_size_mb;
	u32 dirty_rate;		/* pages per second while running, 0 = idle */
	u32 alloc_latency_ms;	/* destination, when META arrives */
	u32 quiesce_latency_ms;	/* arcs leaving RUNNING / PRE_COPY */
	u32 resume_latency_ms;	/* arcs entering RUNNING / PRE_COPY */
	u32 seed;
	bool p2p;
	bool precopy;
	u32 log_max_ranges;	/* DMA logging: ranges the tracker holds */
	u32 log_max_span_gb;	/* ... total span it can track, GiB */
	u32 log_page_sizes;	/* ... supported granules, bit n = 2^n bytes */
	u32 dma_rate;		/* device writes per second while running */
	u32 save_rate_mb;	/* saving data produced at MiB/s, 0 = at once */
};

/* The largest state a device may have: 64 GiB */
#define MDV_MAX_STATE_MB	65536

/* Limits of the knobs, for devlink's validators and the module parameters */
static inline bool mdv_state_size_ok(u32 mb)
{
	return mb >= 1 && mb <= MDV_MAX_STATE_MB;
}

static inline bool mdv_page_sizes_ok(u32 mask)
{
	return mask & ~(SZ_4K - 1);	/* a tracker granule of 4 KiB or more */
}

extern struct mdv_params mdv_default_params;
extern bool mdv_dma_logging;
int mdv_params_check(const struct mdv_params *p);

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
 * struct mdv_dirty - DMA logging state (dirty.c)
 * @lock: protects everything below
 * @active: between START and STOP
 * @ranges: tracked IOVA ranges (interval tree, no overlaps)
 * @nranges: how many
 * @span: bytes they cover
 * @page_size: granule, as reported to the user
 * @page_shift: log2(@page_size)
 * @pages: dirty page numbers (iova >> @page_shift), value entries
 * @ndirty: entries in @pages
 * @owed: ranges to report all dirty once (tracking was lost across a
 *	function reset); interval tree, no overlaps
 * @overflow: an entry could not be stored: report everything dirty
 */
struct mdv_dirty {
	struct mutex lock;		/* see above */
	bool active;
	struct rb_root_cached ranges;
	u32 nranges;
	u64 span;
	u64 page_size;
	unsigned int page_shift;
	struct xarray pages;
	u64 ndirty;
	struct rb_root_cached owed;
	bool overflow;
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
 * @params: knobs
 * @faults: fault injection switches (empty without
 *	CONFIG_MOCKDEV_VFIO_PCI_FAULTS)
 * @dirty: DMA logging
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
	struct mdv_params params;
	struct mdv_faults faults;
	struct mdv_dirty dirty;
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

/* vfio_dev.c */
extern const struct vfio_device_ops mdv_vfio_ops;
void mdv_state_lock(struct mdv_device *mdv);
void mdv_state_unlock(struct mdv_device *mdv);
void mdv_reset_done(struct mdv_device *mdv);
void mdv_remove_dev(struct mdv_device *mdv);
int mdv_params_lock(struct mdv_device *mdv);
void mdv_update_features(struct mdv_device *mdv);

/* dirty.c */
void mdv_dirty_init(struct mdv_device *mdv);
void mdv_dirty_uninit(struct mdv_device *mdv);
void mdv_dirty_register(struct mdv_device *mdv);
void mdv_dirty_stop(struct mdv_device *mdv);
void mdv_dirty_reset(struct mdv_device *mdv);
void mdv_dirty_record(struct mdv_device *mdv, u64 iova, u64 len);
int mdv_dirty_pick(struct mdv_device *mdv, u64 rnd, u64 *iova);

/* devlink.c */
int mdv_devlink_register(struct mdv_device *mdv);
void mdv_devlink_unregister(struct mdv_device *mdv);

/* debugfs.c */
void mdv_debugfs_init(void);
void mdv_debugfs_exit(void);
void mdv_debugfs_add(struct mdv_device *mdv);
void mdv_debugfs_remove(struct mdv_device *mdv);

/* mock.c: debugfs views of the mock device */
u64 mdv_mock_digest(struct mdv_device *mdv);
void mdv_mock_debugfs(struct mdv_device *mdv, struct dentry *dir);

#endif /* MDV_MOCKDEV_H */
