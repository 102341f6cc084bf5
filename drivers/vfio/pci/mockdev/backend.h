/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The boundary between the uAPI side of mockdev-vfio-pci and its device.
 *
 * pci_drv.c, vfio_dev.c, lm.c, dirty.c and debugfs.c implement the VFIO
 * migration uAPI (FSM, data FDs, byte accounting, stream framing, reset,
 * DMA logging's vfio_log_ops) and know no device. What a real device would
 * do with firmware commands is behind struct mdv_backend_ops: the mock*.c
 * files implement it in software, and a vendor replaces those files.
 *
 *   uAPI side                          backend (mock*.c or a vendor's)
 *   vfio_dev.c  state_mutex, FSM loop
 *   lm.c        data FDs, framing  --> save_*, load_*, quiesce ...
 *   dirty.c     vfio_log_ops       --> log_caps, log_start, log_report ...
 *   devlink.c   devlink instance   --> devlink_register
 *   debugfs.c   state, stats       --> debugfs
 *               mdv_data_ready() <-- (wake-up of readers)
 *
 * The stream framing (the 16-byte record header) is the uAPI side's: the
 * backend produces and consumes record payloads and never sees how
 * userspace segments the byte stream.
 */
#ifndef MDV_BACKEND_H
#define MDV_BACKEND_H

#include <linux/rbtree.h>
#include <linux/types.h>
#include <linux/uio.h>

struct devlink;
struct dentry;
struct mdv_device;

/* Which PRE_COPY counter a record's bytes are accounted to */
enum mdv_rec_class {
	MDV_CLASS_INITIAL,	/* VFIO_MIG_GET_PRECOPY_INFO initial_bytes */
	MDV_CLASS_DIRTY,	/* ... dirty_bytes */
	MDV_CLASS_FINAL,	/* once the device is stopped; the last record */
};

/**
 * struct mdv_rec - one record in flight on a data FD
 * @tag: the backend's record type, or any value on the resuming side
 * @flags: MDV_REC_F_*
 * @size: payload bytes (the 16-byte header excluded)
 * @off: payload bytes already copied
 * @class: accounting class, set by the backend when saving
 * @cookie: backend private (which pages the record covers)
 */
struct mdv_rec {
	u32 tag;
	u32 flags;
	u64 size;
	u64 off;
	enum mdv_rec_class class;
	u64 cookie[2];
};

/**
 * struct mdv_pending - bytes a saving session has yet to produce
 * @initial: initial-class bytes not yet produced as records
 * @dirty: dirty-class bytes the device would produce if read now
 * @final: bytes produced only after the device stops (END record)
 * @ready: save_next() would hand out a record now, without -EAGAIN or
 *	-ENOMSG (poll() reports the FD readable)
 * @reinit: times the session's initial data restarted (a reconfiguration
 *	during PRE_COPY: @initial counts the new initial data, @dirty
 *	restarted from zero); the uAPI side reports VFIO_PRECOPY_INFO_REINIT
 *	when it changed
 *
 * Records already handed out by save_next() are not included: the uAPI side
 * adds the unread part of the current record itself.
 */
struct mdv_pending {
	u64 initial;
	u64 dirty;
	u64 final;
	bool ready;
	u32 reinit;
};

/**
 * struct mdv_log_caps - what the device's DMA logging tracker can hold
 * @max_ranges: ranges; the uAPI side merges the closest ones beyond it
 * @max_span: bytes the ranges may cover together (-E2BIG beyond)
 * @page_sizes: supported granules, bit n = 2^n bytes, 4 KiB or more
 */
struct mdv_log_caps {
	u32 max_ranges;
	u64 max_span;
	u64 page_sizes;
};

/**
 * struct mdv_log_extent - IOVA bytes [@first, @last] are dirty
 * @first: first byte
 * @last: last byte
 */
struct mdv_log_extent {
	unsigned long first;
	unsigned long last;
};

/**
 * struct mdv_log_window - one DMA logging REPORT, walked in batches
 * @iova: first byte of the window
 * @last: last byte of the window
 * @reported: dirty granules reported so far (for the tracepoint)
 * @priv: the backend's progress; zero on the first call
 */
struct mdv_log_window {
	unsigned long iova;
	unsigned long last;
	u64 reported;
	u64 priv[3];
};

/**
 * struct mdv_backend_ops - what a device must provide
 *
 * Context. Every op runs in process context and may sleep. None runs from
 * a PCI reset callback: reset_done() only flags the reset, and @reset runs
 * later from a state_mutex holder or a work item, with no vfio-pci lock
 * (memory_lock, the device lock) held, so it may wait for the device,
 * take its own locks and touch the BARs (under memory_lock for reading,
 * as vfio-pci's own accessors do).
 *
 * ==================== ==================== ================ ==============
 * op                   context              locks held       may sleep on
 * ==================== ==================== ================ ==============
 * mod_init             module load          none             anything
 * init, release        probe, last put      none             memory
 * remove               PCI remove           none             its works
 * devlink_[un]register probe, remove        devlink instance memory
 * debugfs              probe                none             memory
 * reset                open, close, reset   state_mutex      the device
 * quiesce .. unfreeze  FSM arcs             state_mutex      the device
 * stream_size          MIG_DATA_SIZE        state_mutex      own lock
 * save_start,          FSM arcs             state_mutex      the device,
 * load_start                                                 memory
 * save_stop,           FSM arcs, reset      state_mutex and  the device,
 * load_finish,                              data file lock   its works
 * load_stop
 * save_next, save_copy read(), poll(),      data file lock   own lock,
 * save_pending,        PRECOPY_INFO,        only             user faults
 * load_begin,          write()
 * load_copy, load_end
 * log_caps, log_start  DMA_LOGGING_START    none             own lock,
 *                                                            memory
 * log_stop, log_reset  DMA_LOGGING_STOP,    none, or         own lock
 *                      open, close, reset   state_mutex
 * log_report           DMA_LOGGING_REPORT   none (between    own lock
 *                                           batches too)
 * ==================== ==================== ================ ==============
 *
 * Data ops run with only the data file's lock held because they copy to
 * or from userspace and may fault: they can race with control ops and with
 * the device's own activity, and the backend serialises that with a lock of
 * its own. @save_stop and @load_stop are never concurrent with data ops.
 * A backend wakes readers with mdv_data_ready() (any context that may take
 * a spinlock). DMA logging ops race with everything, including each other
 * (a STOP during a REPORT): the backend's own lock orders them.
 *
 * @mod_init: check the backend's module parameters (module load fails on
 *	error); NULL if none
 * @init: allocate device state; called at probe, before registration
 * @remove: the PCI function is going away (pci_driver.remove, after the
 *	VFIO device is closed and unregistered): stop everything that runs
 *	on the device's behalf and let go of the hardware
 * @release: free what @init allocated; called when the last reference to
 *	the device is dropped, which may be after @remove
 * @devlink_register: register the backend's devlink params (knobs) on the
 *	driver's instance; knob setters take state_mutex with
 *	mdv_params_lock(), so a knob never changes during a migration
 * @devlink_unregister: unregister them
 * @debugfs: create the backend's debugfs files in the device's directory
 * @reset: device reset: back to the power-on state, no session; @run says
 *	whether the device then runs (the VFIO device is open) or idles
 * @quiesce: RUNNING side -> P2P side: stop initiating DMA and P2P
 * @unquiesce: P2P side -> RUNNING side
 * @freeze: P2P side -> STOP side: device state no longer changes
 * @unfreeze: STOP side -> P2P side
 * @stream_size: bytes a STOP_COPY session started now would produce
 * @save_start: open a saving session (@precopy: device is still running)
 * @save_next: describe the next record in @rec; -ENOMSG: nothing to send
 *	right now (PRE_COPY), -EAGAIN: the device is still producing it and
 *	will call mdv_data_ready(), -ENODATA: the stream is complete. The
 *	record of class MDV_CLASS_FINAL is the last one.
 * @save_copy: copy payload bytes from @rec->off into @to
 * @save_pending: fill in what the session has yet to produce
 * @save_stop: close the saving session
 * @load_start: open a resuming session
 * @load_begin: a record header arrived; -ENOENT: unknown tag (the uAPI side
 *	skips it if optional, else rejects the stream)
 * @load_copy: consume payload bytes at @rec->off from @from; -EFAULT when
 *	nothing could be copied (the stream is not rejected for it)
 * @load_end: the record's payload is complete
 * @load_finish: the user asked RESUMING -> STOP: is the stream complete and
 *	the state exactly the source's? Non-zero leaves the device in ERROR.
 * @load_stop: close the resuming session
 * @log_caps: the tracker's limits (read at each START); NULL: the device
 *	has no DMA logging and the other log ops are never called
 * @log_start: start tracking @ranges (validated, merged to at most
 *	max_ranges, @span bytes in all) at @page_size, one of page_sizes;
 *	-EINVAL if already tracking
 * @log_stop: stop tracking; idempotent. Also called on open and close.
 * @log_reset: the function was reset while tracking: tracking goes on,
 *	but what the device wrote before is no longer known
 * @log_report: fill @set with up to @max IOVA extents that are dirty
 *	inside @w (clipped to it), clearing what it reports. Called again until it
 *	returns 0 (window done); the uAPI side sets the user's bitmap between
 *	calls without any backend lock held. A negative errno only on the
 *	first call: -EINVAL when @w is not wholly tracked.
 */
struct mdv_backend_ops {
	int (*mod_init)(void);
	int (*init)(struct mdv_device *mdv);
	void (*remove)(struct mdv_device *mdv);
	void (*release)(struct mdv_device *mdv);
	int (*devlink_register)(struct mdv_device *mdv,
				struct devlink *devlink);
	void (*devlink_unregister)(struct mdv_device *mdv,
				   struct devlink *devlink);
	void (*debugfs)(struct mdv_device *mdv, struct dentry *dir);
	void (*reset)(struct mdv_device *mdv, bool run);
	int (*quiesce)(struct mdv_device *mdv);
	int (*unquiesce)(struct mdv_device *mdv);
	int (*freeze)(struct mdv_device *mdv);
	int (*unfreeze)(struct mdv_device *mdv);
	u64 (*stream_size)(struct mdv_device *mdv);
	int (*save_start)(struct mdv_device *mdv, bool precopy);
	int (*save_next)(struct mdv_device *mdv, struct mdv_rec *rec);
	ssize_t (*save_copy)(struct mdv_device *mdv, struct mdv_rec *rec,
			     struct iov_iter *to);
	void (*save_pending)(struct mdv_device *mdv, struct mdv_pending *p);
	void (*save_stop)(struct mdv_device *mdv);
	int (*load_start)(struct mdv_device *mdv);
	int (*load_begin)(struct mdv_device *mdv, struct mdv_rec *rec);
	ssize_t (*load_copy)(struct mdv_device *mdv, struct mdv_rec *rec,
			     struct iov_iter *from);
	int (*load_end)(struct mdv_device *mdv, struct mdv_rec *rec);
	int (*load_finish)(struct mdv_device *mdv);
	void (*load_stop)(struct mdv_device *mdv);
	void (*log_caps)(struct mdv_device *mdv, struct mdv_log_caps *caps);
	int (*log_start)(struct mdv_device *mdv, struct rb_root_cached *ranges,
			 u32 nranges, u64 span, u64 page_size);
	void (*log_stop)(struct mdv_device *mdv);
	void (*log_reset)(struct mdv_device *mdv);
	int (*log_report)(struct mdv_device *mdv, struct mdv_log_window *w,
			  struct mdv_log_extent *set, unsigned int max);
};

/* The backend linked into the module (the mock's, or a vendor's) */
extern const struct mdv_backend_ops mdv_backend;

/* A backend's devlink param ids start here; below are the driver's */
#define MDV_BACKEND_PARAM_ID_BASE	(DEVLINK_PARAM_GENERIC_ID_MAX + 16)

/* Services of the uAPI side to a backend */
void mdv_data_ready(struct mdv_device *mdv);		/* lm.c */
struct mdv_device *mdv_from_devlink(struct devlink *devlink); /* devlink.c */
int mdv_params_lock(struct mdv_device *mdv);		/* vfio_dev.c */
void mdv_state_lock(struct mdv_device *mdv);		/* vfio_dev.c */
void mdv_state_unlock(struct mdv_device *mdv);		/* vfio_dev.c */

#endif /* MDV_BACKEND_H */
