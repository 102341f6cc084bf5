/* SPDX-License-Identifier: GPL-2.0 */
/* What mdv_migrate's files share (the protocol itself is proto.h) */
#ifndef MDV_MIGRATE_ENGINE_H
#define MDV_MIGRATE_ENGINE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vfio_mig.h"
#include "proto.h"
#include "verify.h"

#define S(x) VFIO_DEVICE_STATE_##x

/*
 * Guest RAM sits at 16 MiB in every source device's IOVA space and must end
 * below 256 MiB: QEMU's edu, the mock's DMA engine, has a 28-bit DMA mask.
 */
#define RAM_IOVA (16ULL << 20)
#define RAM_MAX_MB 240
#define RAM_PAGE 4096UL
#define RAM_SEED 0x6d6476ULL
/* A precopy round waiting only for time or acks: the next sync after this */
#define RAM_ROUND_MS 100
/*
 * The downtime limit of the convergence test (--downtime-limit-ms): the
 * source switches over once what is left to send, of the devices
 * (MIG_DATA_SIZE) and of RAM (the last round's dirty pages), crosses the
 * link in this time at the bandwidth it measured. QEMU's default.
 */
#define DOWNTIME_LIMIT_S 0.3

/*
 * A resuming write that takes this long is the device stalling (allocating
 * resources, say), not copying: 1 MiB copies take milliseconds.
 */
#define STALL_S 0.1

struct engine {
	int ndev;
	struct vmig_dev dev[VMIG_MAX_DEVS];
	int fd[VMIG_MAX_DEVS];
	bool parallel;
	bool precopy;		/* PRE_COPY, switch over on the convergence test */
	bool initial_data;	/* ... and wait for switchover-ack as well */
	bool no_precopy_v2;	/* ... without the PRECOPY_INFOv2 opt-in (v1) */
	double downtime_limit_s;
	int sock;
	bool verbose;
	double min_precopy_s;
	const struct mig_verifier *verify;	/* NULL: none */
};

extern struct engine g;

struct guest_ram {
	uint8_t *buf;
	size_t len;		/* 0: no --ram */
	size_t npages;
	uint64_t *bitmap;	/* one bit per RAM_PAGE, union of the devices */
	int nmapped;		/* source devices with the RAM mapped */
	int nlogging;		/* ... and DMA logging started */
	bool synced;		/* logging on every source device */
	int log_err;		/* why not: START's -errno */
	int setup_err;		/* the source aborts with it once connected */
};

extern struct guest_ram ram;

struct src_stats {
	double bw;		/* bytes/s, calibrated */
	uint64_t precopy_bytes, residual_bytes;
	/*
	 * At the switchover, just before the first stop arc: the devices'
	 * MIG_DATA_SIZE and precopy info (initial, dirty), summed, and
	 * whether the convergence test held (0: the rounds ran out)
	 */
	uint64_t sw_data_bytes, sw_initial, sw_dirty;
	/*
	 * ... and how many of the bytes written to the link the destination
	 * had not acknowledged then (SIOCOUTQ): what is still on its way
	 */
	uint64_t sw_unsent;
	/*
	 * When the last device's initial data was read and written to the
	 * link, how long before the switchover, and how many of the bytes
	 * written had not been acknowledged by the destination then
	 * (SIOCOUTQ): from the two, when the destination had them all
	 */
	double init_ago_s;
	uint64_t init_unsent;
	bool init_seen;
	bool v2;		/* PRECOPY_INFOv2 opted in on a device */
	int reinits;		/* REINITs seen, each acked again */
	bool converged;
	double precopy_s, downtime_s, stop_arcs_s, read_s;
	struct done_info done;
	int digests_ok;
	bool ram_ok;
	/* guest RAM: dirty syncs, the last one in the downtime */
	int ram_rounds;
	uint64_t ram_dirty_pages, ram_final_pages, ram_hash, ram_changed;
	uint32_t *ram_round_pages;	/* per round, before the stop */
};

static inline void fail(const char *what, int err)
{
	fprintf(stderr, "mdv_migrate: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
}

static inline double now(void)
{
	return vmig_now();
}

/* wire.c */
int xfer(int fd, void *buf, size_t len, bool out);
int send_msg(uint32_t type, uint32_t dev, const void *data, uint64_t len);
int recv_msg(struct msg *m);
int connect_to(const char *spec);
int listen_on(int port);

/* ram.c */
int ram_alloc(bool fill);
int ram_setup_src(void);
void ram_log_stop(void);
void ram_teardown(void);
int ram_send(size_t pg, size_t n);
int64_t ram_sync(void);
uint64_t ram_hash(void);
uint64_t ram_changed(void);

/* devset.c */
int devs_open(const char *devs);
void devs_close(void);
int set_all(uint32_t state, double *took);
void close_fds(void);

/* dst.c, src.c */
int run_dst(void);
int run_src(struct src_stats *st, int max_rounds);

#endif
