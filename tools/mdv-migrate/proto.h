/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mdv_migrate: a reference migration engine. It does with the VFIO
 * migration uAPI what a VMM does, for N source and N destination devices,
 * over one TCP connection:
 *
 *   source                                   destination
 *   HELLO n ---------------------------->    all devices STOP -> RESUMING
 *   CALIB bytes (link bandwidth) -------->   <- CALIB_ACK
 *   [precopy] RUNNING -> PRE_COPY;
 *   DATA rounds while running ----------->   write to resuming FDs
 *   [initial data: INIT_DONE d when
 *    initial_bytes is 0] ---------------->   <- ACK d (all of it loaded)
 *   ... until the convergence test holds (and, with initial data, every
 *   device is ACKed: switchover-ack), then
 *   stop: -> STOP_COPY (serial or parallel)
 *   DATA (the rest), END d digest ------->   RESUMING -> RUNNING (serial or
 *                                            parallel), check digests
 *                                       <-   DONE (device time, status)
 *
 * Three ways to the stop: stop-copy only (no option: no device data moves
 * before it), --precopy (PRE_COPY; the switchover comes when the
 * convergence test holds: what the devices (MIG_DATA_SIZE) and RAM have
 * left crosses the link within the downtime limit at the measured
 * bandwidth, as a VMM without switchover-ack decides) and --initial-data
 * (that, and every device's initial data loaded by the destination). A failure on
 * either side sends ABORT: the destination resets its devices, the source
 * returns its devices to RUNNING. Downtime is from the first stop arc to
 * DONE.
 *
 * With --ram, both sides also hold a "guest RAM" buffer that the source
 * maps into every source device's IOMMU at RAM_IOVA, as a VMM maps guest
 * memory, so the devices can DMA into it. The source starts DMA logging on
 * every source device for that range before anything moves, sends the whole
 * RAM once (RAM messages: first page index, contiguous pages), then in each
 * precopy round reads and clears the devices' dirty bitmaps
 * (DMA_LOGGING_REPORT) and sends the pages they wrote. Once the devices are
 * in STOP_COPY the last report goes out in the downtime and logging stops.
 * After the downtime the destination checks its RAM against the source's
 * hash. A kernel without DMA logging reports (no vfio_log_ops:
 * DMA_LOGGING_START fails with ENOTTY) cannot tell which pages the devices
 * wrote: RAM is then not synced at all and the summary says so.
 *
 * After the downtime the engine compares whole-state digests of each pair
 * (VERIFY), as a check of the whole path, through a verification hook
 * (verify.h: mockdev-vfio-pci's debugfs digest is one); a device without
 * one is not compared (VERIFY with no digest). The driver itself checks a
 * stream at RESUMING -> STOP. A destination device that changes its state
 * once running (mockdev's dirty_rate > 0) fails that extra check.
 *
 * This header is the protocol: messages and their payloads. engine.h holds
 * what the engine's files share; the files are wire.c (messages over the
 * socket), ram.c (guest RAM and its dirty sync), devset.c (the device set
 * and its arcs), src.c, dst.c, verify*.c and main.c (options, summary).
 */
#ifndef MDV_MIGRATE_PROTO_H
#define MDV_MIGRATE_PROTO_H

#include <stdint.h>

#define CHUNK (1024 * 1024)
#define ACCEPT_TIMEOUT_S 120
#define CALIB_BYTES (32UL << 20)

enum msg_type {
	MSG_HELLO = 1, MSG_CALIB, MSG_CALIB_ACK, MSG_DATA, MSG_INIT_DONE,
	MSG_ACK, MSG_END, MSG_DONE, MSG_ABORT, MSG_SWITCH,
	MSG_VERIFY,		/* dev; 8 bytes: its digest, 0: none to compare */
	MSG_VERIFIED,		/* int: 1 all equal, 0 one differs */
	MSG_RAM,		/* dev: first page index; len: whole pages */
	MSG_RAM_VERIFY,		/* the source's RAM hash after the last sync */
	MSG_RAM_VERIFIED,	/* struct ram_result */
};

struct msg {
	uint32_t type;
	uint32_t dev;
	uint64_t len;
};

struct done_info {
	double device_s;	/* destination device time in the stop phase */
	double arcs_s;		/* ... of which in RESUMING -> RUNNING */
	double stall_s;		/* ... of which in writes that stalled */
	/*
	 * Writes that stalled over the whole session, pre-copy included (a
	 * device allocating resources once it has loaded its initial data)
	 */
	double session_stall_s;
	uint32_t session_stalls;
	uint32_t pad;
};

/* HELLO's payload */
struct hello {
	uint64_t ram_bytes;	/* 0: no --ram */
	uint32_t ram_synced;	/* 0: the source cannot track device writes */
	uint32_t pad;
};

struct ram_result {
	uint64_t hash;
	uint64_t changed;	/* pages that differ from the initial pattern */
};

#endif
