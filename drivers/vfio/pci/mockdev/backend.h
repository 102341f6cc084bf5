/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device side of mockdev-vfio-pci.
 *
 * Everything under lm.c, vfio_dev.c and pci_drv.c is device independent: it
 * implements the VFIO migration uAPI (FSM, data FDs, byte accounting, stream
 * framing, reset). What a real device would do with firmware commands is
 * behind struct mdv_backend_ops. mock.c implements it in software; a vendor
 * replaces that one file.
 *
 * The stream framing (include/mockdev/mdv_stream.h) is owned by the
 * uAPI side: the backend produces and consumes record payloads and never
 * sees how userspace segments the byte stream.
 */
#ifndef MDV_BACKEND_H
#define MDV_BACKEND_H

#include <linux/types.h>
#include <linux/uio.h>

struct mdv_device;

/* Which PRE_COPY counter a record's bytes are accounted to */
enum mdv_rec_class {
	MDV_CLASS_INITIAL,	/* VFIO_MIG_GET_PRECOPY_INFO initial_bytes */
	MDV_CLASS_DIRTY,	/* ... dirty_bytes */
	MDV_CLASS_FINAL,	/* once the device is stopped; the last record */
};

/**
 * struct mdv_rec - one record in flight on a data FD
 * @tag: enum mdv_rec_tag, or any value on the resuming side
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
 *
 * Records already handed out by save_next() are not included: the uAPI side
 * adds the unread part of the current record itself.
 */
struct mdv_pending {
	u64 initial;
	u64 dirty;
	u64 final;
	bool ready;
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
 * Control ops (@reset .. @unfreeze, @stream_size, @save_start, @save_stop,
 * @load_start, @load_finish, @load_stop) are called with the device's
 * state mutex held. Data ops (@save_next, @save_copy, @save_pending,
 * @load_begin, @load_copy, @load_end) are called with only the data file's
 * lock held, because they copy to or from userspace and may fault: they
 * can race with control ops and with the device's own activity, and the
 * backend serialises that with a lock of its own. @save_stop and
 * @load_stop are never concurrent with data ops. A backend wakes readers
 * with mdv_data_ready() (any context that may take a spinlock).
 *
 * @init: allocate device state; called at probe, before registration
 * @remove: the PCI function is going away (pci_driver.remove, after the
 *	VFIO device is closed and unregistered): stop everything that runs
 *	on the device's behalf and let go of the hardware
 * @release: free what @init allocated; called when the last reference to
 *	the device is dropped, which may be after @remove
 * @reset: device reset: back to the power-on state, no session; @run says
 *	whether the device then runs (the VFIO device is open) or idles
 * @configure: knobs changed (only while RUNNING with no session open);
 *	on failure the device must be as before the call
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
 */
struct mdv_backend_ops {
	int (*init)(struct mdv_device *mdv);
	void (*remove)(struct mdv_device *mdv);
	void (*release)(struct mdv_device *mdv);
	void (*reset)(struct mdv_device *mdv, bool run);
	int (*configure)(struct mdv_device *mdv);
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
};

extern const struct mdv_backend_ops mdv_mock_ops;

/* Services of the uAPI side to a backend (lm.c) */
void mdv_data_ready(struct mdv_device *mdv);

#endif /* MDV_BACKEND_H */
