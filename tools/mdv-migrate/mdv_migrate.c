// SPDX-License-Identifier: GPL-2.0
/*
 * mdv_migrate: a reference migration engine. It does with the VFIO
 * migration uAPI what a VMM does, for N source and N destination devices,
 * over one TCP connection:
 *
 *   source                                   destination
 *   HELLO n ---------------------------->    all devices STOP -> RESUMING
 *   CALIB bytes (link bandwidth) -------->   <- CALIB_ACK
 *   [initial data] RUNNING -> PRE_COPY;
 *   DATA rounds while running ----------->   write to resuming FDs
 *   INIT_DONE d when initial_bytes is 0 ->   <- ACK d (all of it loaded)
 *   ... until every device is ACKed (switchover-ack), then
 *   stop: -> STOP_COPY (serial or parallel)
 *   DATA (the rest), END d digest ------->   RESUMING -> RUNNING (serial or
 *                                            parallel), check digests
 *                                       <-   DONE (device time, status)
 *
 * Without initial data no device data moves before the stop. A failure on
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
 * After the downtime the engine compares whole-state digests (debugfs) of
 * each pair, as a check of the whole path; the driver already verified the
 * stream's own digest at RESUMING -> STOP. A destination device that
 * changes its state once running (dirty_rate > 0) fails that extra check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define CHUNK (1024 * 1024)
#define ACCEPT_TIMEOUT_S 120
#define CALIB_BYTES (32UL << 20)

enum msg_type {
	MSG_HELLO = 1, MSG_CALIB, MSG_CALIB_ACK, MSG_DATA, MSG_INIT_DONE,
	MSG_ACK, MSG_END, MSG_DONE, MSG_ABORT, MSG_SWITCH, MSG_VERIFY,
	MSG_VERIFIED,
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
/* RAM has converged when one round's dirty pages fit in this downtime */
#define RAM_DOWNTIME_S 0.3

/*
 * A resuming write that takes this long is the device stalling (allocating
 * resources, say), not copying: 1 MiB copies take milliseconds.
 */
#define STALL_S 0.1

static struct {
	int ndev;
	struct vmig_dev dev[VMIG_MAX_DEVS];
	int fd[VMIG_MAX_DEVS];
	bool parallel;
	bool initial_data;
	int sock;
	bool verbose;
	double min_precopy_s;
} g = { .sock = -1 };

static struct {
	uint8_t *buf;
	size_t len;		/* 0: no --ram */
	size_t npages;
	uint64_t *bitmap;	/* one bit per RAM_PAGE, union of the devices */
	int nmapped;		/* source devices with the RAM mapped */
	int nlogging;		/* ... and DMA logging started */
	bool synced;		/* logging on every source device */
	int log_err;		/* why not: START's -errno */
	int setup_err;		/* the source aborts with it once connected */
} ram = { .buf = MAP_FAILED };

static void fail(const char *what, int err)
{
	fprintf(stderr, "mdv_migrate: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
}

static double now(void)
{
	return vmig_now();
}

/* ----- wire ----- */

static int xfer(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

static int send_msg(uint32_t type, uint32_t dev, const void *data, uint64_t len)
{
	struct msg m = { type, dev, len };
	int ret = xfer(g.sock, &m, sizeof(m), true);

	if (!ret && len)
		ret = xfer(g.sock, (void *)data, len, true);
	return ret;
}

static int recv_msg(struct msg *m)
{
	return xfer(g.sock, m, sizeof(*m), false);
}

/* ----- guest RAM ----- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * The initial content of page @pg: different in every page, so a page put
 * at the wrong index changes the hash, and no zero byte anywhere, so every
 * write of the mock (it DMAs zeros) shows.
 */
static void ram_pattern(uint64_t *w, size_t pg)
{
	size_t i;

	for (i = 0; i < RAM_PAGE / 8; i++)
		w[i] = mix64(RAM_SEED ^ (pg << 12) ^ i) | 0x0101010101010101ULL;
}

/* FNV-1a over 64-bit words */
static uint64_t ram_hash(void)
{
	const uint64_t *w = (const uint64_t *)ram.buf;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < ram.len / 8; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t ram_changed(void)
{
	uint64_t pat[RAM_PAGE / 8], n = 0;
	size_t pg;

	for (pg = 0; pg < ram.npages; pg++) {
		ram_pattern(pat, pg);
		n += !!memcmp(ram.buf + pg * RAM_PAGE, pat, RAM_PAGE);
	}
	return n;
}

static int ram_alloc(bool fill)
{
	size_t pg;

	ram.npages = ram.len / RAM_PAGE;
	ram.buf = mmap(NULL, ram.len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram.buf == MAP_FAILED)
		return -errno;
	if (fill)
		for (pg = 0; pg < ram.npages; pg++)
			ram_pattern((uint64_t *)(ram.buf + pg * RAM_PAGE), pg);
	return 0;
}

static void ram_log_stop(void)
{
	int i;

	for (i = 0; i < ram.nlogging; i++)
		vmig_log_stop(&g.dev[i]);
	ram.nlogging = 0;
}

/*
 * Source: map RAM for every source device, as a VMM maps guest memory, and
 * start DMA logging on it. Only ENOTTY (no logging on this kernel) is not
 * an error: then nothing is synced.
 *
 * Done right after the devices are opened: the mock queues the writes it
 * cannot place while nothing is tracked and issues them all, one edu
 * transfer (~100 ms) after the other, once something is; a late start
 * means a quiesce that waits seconds for that backlog.
 */
static int ram_setup_src(void)
{
	struct vmig_range r = { RAM_IOVA, ram.len };
	uint64_t ps;
	int i, ret;

	ram.bitmap = calloc((ram.npages + 63) / 64, 8);
	if (!ram.bitmap)
		return -ENOMEM;
	for (i = 0; i < g.ndev; i++) {
		ret = vmig_map(&g.dev[i], ram.buf, ram.len, RAM_IOVA);
		if (ret) {
			fail("mapping guest RAM", ret);
			return ret;
		}
		ram.nmapped++;
		ret = vmig_bus_master(&g.dev[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < g.ndev; i++) {
		/* the device may track coarser; reports are asked at 4 KiB */
		ps = RAM_PAGE;
		ret = vmig_log_start(&g.dev[i], &r, 1, &ps);
		if (ret == -ENOTTY) {
			ram.log_err = ret;
			ram_log_stop();
			return 0;
		}
		if (ret) {
			fail("DMA_LOGGING_START", ret);
			return ret;
		}
		ram.nlogging++;
	}
	ram.synced = true;
	return 0;
}

static void ram_teardown(void)
{
	int i;

	ram_log_stop();
	for (i = 0; i < ram.nmapped; i++)
		vmig_unmap(&g.dev[i], ram.len, RAM_IOVA);
	ram.nmapped = 0;
	if (ram.buf != MAP_FAILED)
		munmap(ram.buf, ram.len);
	ram.buf = MAP_FAILED;
	free(ram.bitmap);
	ram.bitmap = NULL;
}

/* Send @n pages from @pg on, at most CHUNK a message */
static int ram_send(size_t pg, size_t n)
{
	size_t k;

	while (n) {
		k = n < CHUNK / RAM_PAGE ? n : CHUNK / RAM_PAGE;
		if (send_msg(MSG_RAM, pg, ram.buf + pg * RAM_PAGE,
			     k * RAM_PAGE))
			return -ECONNRESET;
		pg += k;
		n -= k;
	}
	return 0;
}

static bool ram_dirty(size_t pg)
{
	return (ram.bitmap[pg / 64] >> (pg % 64)) & 1;
}

/*
 * One dirty sync: read and clear every source device's log for the RAM
 * (the union is what any of them wrote) and send those pages, runs of
 * contiguous pages a message. Returns the number of pages or -errno.
 */
static int64_t ram_sync(void)
{
	size_t pg, run, n = 0;
	int i, ret;

	memset(ram.bitmap, 0, (ram.npages + 63) / 64 * 8);
	for (i = 0; i < g.ndev; i++) {
		ret = vmig_log_report(&g.dev[i], RAM_IOVA, ram.len, RAM_PAGE,
				      ram.bitmap);
		if (ret) {
			fail("DMA_LOGGING_REPORT", ret);
			return ret;
		}
	}
	for (pg = 0; pg < ram.npages; pg += run) {
		for (run = 0; pg + run < ram.npages && ram_dirty(pg + run); run++)
			;
		if (!run) {
			run = 1;
			continue;
		}
		if (ram_send(pg, run))
			return -ECONNRESET;
		n += run;
	}
	return n;
}

/* ----- state transitions, serial or one thread per device ----- */

struct arc_job {
	int i;
	uint32_t state;
	int ret;
	int fd;
};

static void *arc_thread(void *arg)
{
	struct arc_job *j = arg;

	j->ret = vmig_set_state(&g.dev[j->i], j->state, &j->fd);
	return NULL;
}

/* Move every device to @state; data FDs returned go to g.fd[]. */
static int set_all(uint32_t state, double *took)
{
	struct arc_job job[VMIG_MAX_DEVS];
	pthread_t th[VMIG_MAX_DEVS];
	double t = now();
	int i, ret = 0;

	for (i = 0; i < g.ndev; i++) {
		job[i] = (struct arc_job){ .i = i, .state = state, .fd = -1 };
		if (g.parallel)
			pthread_create(&th[i], NULL, arc_thread, &job[i]);
		else
			arc_thread(&job[i]);
	}
	for (i = 0; i < g.ndev; i++) {
		if (g.parallel)
			pthread_join(th[i], NULL);
		if (job[i].ret && !ret)
			ret = job[i].ret;
		if (job[i].fd >= 0) {
			if (g.fd[i] >= 0)
				close(g.fd[i]);
			g.fd[i] = job[i].fd;
		}
	}
	if (took)
		*took = now() - t;
	return ret;
}

static void close_fds(void)
{
	int i;

	for (i = 0; i < g.ndev; i++) {
		if (g.fd[i] >= 0)
			close(g.fd[i]);
		g.fd[i] = -1;
	}
}

/* ----- destination ----- */

static int dst_abort(int err)
{
	int i;

	fail("destination aborts", err);
	close_fds();
	/* "to abort a RESUMING session the device must be reset" */
	for (i = 0; i < g.ndev; i++)
		vmig_reset(&g.dev[i]);
	send_msg(MSG_ABORT, 0, &err, sizeof(err));
	return 1;
}

static int run_dst(void)
{
	struct done_info done = {};
	bool ended[VMIG_MAX_DEVS] = {};
	double t_dev = 0, t;
	uint8_t *buf = malloc(CHUNK);
	int nended = 0, nverified = 0, ok = 1, i, ret;
	bool stopping = false, ram_verified = false, ram_ok = true;
	struct hello hello = {};
	struct ram_result rr;
	uint64_t digest;
	struct msg m;

	if (ram.len) {
		ret = ram_alloc(false);
		if (ret)
			return dst_abort(ret);
	}

	for (;;) {
		ret = recv_msg(&m);
		if (ret)
			return dst_abort(ret);
		switch (m.type) {
		case MSG_HELLO:
			if (m.len != sizeof(hello) ||
			    xfer(g.sock, &hello, sizeof(hello), false))
				return dst_abort(-EPROTO);
			if (m.dev != (uint32_t)g.ndev) {
				fprintf(stderr,
					"mdv_migrate: %u source devices, %d destination devices\n",
					m.dev, g.ndev);
				return dst_abort(-EINVAL);
			}
			if (hello.ram_bytes != ram.len) {
				fprintf(stderr,
					"mdv_migrate: --ram differs: source %lu MiB, destination %lu MiB\n",
					(unsigned long)(hello.ram_bytes >> 20),
					(unsigned long)(ram.len >> 20));
				return dst_abort(-EINVAL);
			}
			ret = set_all(S(RESUMING), NULL);
			if (ret)
				return dst_abort(ret);
			break;
		case MSG_CALIB:
			while (m.len) {
				size_t n = m.len < CHUNK ? m.len : CHUNK;

				if (xfer(g.sock, buf, n, false))
					return dst_abort(-ECONNRESET);
				m.len -= n;
			}
			send_msg(MSG_CALIB_ACK, 0, NULL, 0);
			break;
		case MSG_SWITCH:
			stopping = true;
			break;
		case MSG_DATA:
			if (m.dev >= (uint32_t)g.ndev || m.len > CHUNK)
				return dst_abort(-EPROTO);
			ret = xfer(g.sock, buf, m.len, false);
			if (ret)
				return dst_abort(ret);
			t = now();
			ret = xfer(g.fd[m.dev], buf, m.len, true);
			t = now() - t;
			if (stopping) {
				t_dev += t;
				if (t > STALL_S)
					done.stall_s += t;
			}
			if (ret)
				return dst_abort(ret);
			break;
		case MSG_RAM:
			if (!m.len || m.len % RAM_PAGE || m.len > CHUNK ||
			    m.dev >= ram.npages ||
			    m.len / RAM_PAGE > ram.npages - m.dev)
				return dst_abort(-EPROTO);
			ret = xfer(g.sock, ram.buf + m.dev * RAM_PAGE, m.len,
				   false);
			if (ret)
				return dst_abort(ret);
			break;
		case MSG_RAM_VERIFY:
			if (!ram.len || m.len != 8 ||
			    xfer(g.sock, &digest, 8, false))
				return dst_abort(-EPROTO);
			rr.hash = ram_hash();
			rr.changed = ram_changed();
			if (rr.hash != digest) {
				fprintf(stderr,
					"mdv_migrate: guest RAM differs: source hash %016lx, destination %016lx\n",
					(unsigned long)digest,
					(unsigned long)rr.hash);
				ram_ok = false;
			}
			send_msg(MSG_RAM_VERIFIED, 0, &rr, sizeof(rr));
			ram_verified = true;
			break;
		case MSG_INIT_DONE:
			/* every byte before it went through write(): loaded */
			send_msg(MSG_ACK, m.dev, NULL, 0);
			break;
		case MSG_END:
			if (m.dev >= (uint32_t)g.ndev)
				return dst_abort(-EPROTO);
			if (!ended[m.dev]) {
				ended[m.dev] = true;
				nended++;
			}
			if (nended < g.ndev)
				break;
			/* RESUMING -> STOP verifies each stream in the driver */
			close_fds();
			ret = set_all(S(RUNNING), &t);
			if (ret)
				return dst_abort(ret);
			done.device_s = t_dev + t;
			done.arcs_s = t;
			send_msg(MSG_DONE, 0, &done, sizeof(done));
			break;
		case MSG_VERIFY:
			/* after the downtime: compare the whole state again */
			if (m.dev >= (uint32_t)g.ndev || m.len != 8 ||
			    xfer(g.sock, &digest, 8, false))
				return dst_abort(-EPROTO);
			if (mdvt_digest(g.dev[m.dev].bdf) != digest)
				ok = 0;
			if (++nverified < g.ndev)
				break;
			if (hello.ram_synced && !ram_verified) {
				fprintf(stderr,
					"mdv_migrate: the source synced guest RAM but never had it checked\n");
				ram_ok = false;
			}
			send_msg(MSG_VERIFIED, 0, &ok, sizeof(ok));
			free(buf);
			return ok && ram_ok ? 0 : 1;
		case MSG_ABORT:
			fprintf(stderr, "mdv_migrate: source aborted\n");
			close_fds();
			for (i = 0; i < g.ndev; i++)
				vmig_reset(&g.dev[i]);
			return 1;
		default:
			return dst_abort(-EPROTO);
		}
	}
}

/* ----- source ----- */

struct src_stats {
	double bw;		/* bytes/s, calibrated */
	uint64_t precopy_bytes, residual_bytes;
	double precopy_s, downtime_s, stop_arcs_s, read_s;
	struct done_info done;
	int digests_ok;
	bool ram_ok;
	/* guest RAM: dirty syncs, the last one in the downtime */
	int ram_rounds;
	uint64_t ram_dirty_pages, ram_final_pages, ram_hash, ram_changed;
	uint32_t *ram_round_pages;	/* per round, before the stop */
};

static int src_abort(int err)
{
	fail("source aborts", err);
	close_fds();
	send_msg(MSG_ABORT, 0, &err, sizeof(err));
	/* the VM keeps running here: back to RUNNING */
	if (set_all(S(RUNNING), NULL))
		fail("returning to RUNNING", errno);
	return 1;
}

/* Handle what the destination sent while we were busy, or in @wait_ms */
static int src_poll(bool *acked, int *nacked, int wait_ms)
{
	struct pollfd p = { .fd = g.sock, .events = POLLIN };
	struct msg m;
	int err;

	while (poll(&p, 1, wait_ms) > 0) {
		if (recv_msg(&m))
			return -ECONNRESET;
		if (m.type == MSG_ACK && m.dev < (uint32_t)g.ndev) {
			if (!acked[m.dev]) {
				acked[m.dev] = true;
				(*nacked)++;
			}
		} else if (m.type == MSG_ABORT) {
			if (m.len == sizeof(err))
				xfer(g.sock, &err, sizeof(err), false);
			fprintf(stderr, "mdv_migrate: destination aborted\n");
			return -ECANCELED;
		}
		wait_ms = 0;
	}
	return 0;
}

/* Send what @i has for now; returns bytes or -errno */
static int64_t pump(int i, uint8_t *buf, bool precopy, double *read_s)
{
	int64_t total = 0;
	ssize_t n;
	double t;

	for (;;) {
		t = now();
		n = read(g.fd[i], buf, CHUNK);
		*read_s += now() - t;
		if (n < 0 && precopy && errno == ENOMSG)
			return total;
		if (n < 0)
			return -errno;
		if (!n)
			return total;
		if (send_msg(MSG_DATA, i, buf, n))
			return -ECONNRESET;
		total += n;
	}
}

static int run_src(struct src_stats *st, int max_rounds)
{
	bool acked[VMIG_MAX_DEVS] = {}, sent_init[VMIG_MAX_DEVS] = {};
	bool acks_done, ram_done = true;
	uint8_t *buf = calloc(1, CHUNK);
	uint64_t init, dirty, digest;
	int nacked = 0, round, i, ret, wait_ms;
	struct hello hello = {};
	struct ram_result rr;
	double t, t_unused = 0;
	struct msg m;
	int64_t n;

	if (ram.len) {
		if (ram.setup_err)
			return src_abort(ram.setup_err);
		st->ram_round_pages = calloc(max_rounds, sizeof(uint32_t));
		if (!st->ram_round_pages)
			return src_abort(-ENOMEM);
	}
	hello.ram_bytes = ram.len;
	hello.ram_synced = ram.synced;
	send_msg(MSG_HELLO, g.ndev, &hello, sizeof(hello));
	/* link bandwidth, measured the way the data will travel */
	t = now();
	send_msg(MSG_CALIB, 0, NULL, CALIB_BYTES);
	for (n = 0; n < (int64_t)CALIB_BYTES; n += CHUNK)
		if (xfer(g.sock, buf, CHUNK, true))
			return src_abort(-ECONNRESET);
	if (recv_msg(&m) || m.type != MSG_CALIB_ACK)
		return src_abort(-EPROTO);
	st->bw = CALIB_BYTES / (now() - t);

	if (g.initial_data || ram.synced) {
		t = now();
		/* RAM's first pass: everything, as it is now */
		if (ram.synced) {
			if (ram_send(0, ram.npages))
				return src_abort(-ECONNRESET);
			st->precopy_bytes += ram.len;
		}
		if (g.initial_data) {
			ret = set_all(S(PRE_COPY), NULL);
			if (ret)
				return src_abort(ret);
		}
		for (round = 0; round < max_rounds; round++) {
			for (i = 0; g.initial_data && i < g.ndev; i++) {
				n = pump(i, buf, true, &t_unused);
				if (n < 0)
					return src_abort(n);
				st->precopy_bytes += n;
				ret = vmig_precopy_info(g.fd[i], &init, &dirty);
				if (ret)
					return src_abort(ret);
				if (!init && !sent_init[i]) {
					sent_init[i] = true;
					send_msg(MSG_INIT_DONE, i, NULL, 0);
				}
			}
			if (ram.synced) {
				n = ram_sync();
				if (n < 0)
					return src_abort(n);
				st->ram_round_pages[st->ram_rounds++] = n;
				st->ram_dirty_pages += n;
				st->precopy_bytes += n * RAM_PAGE;
				/* what one round dirties fits in the downtime */
				ram_done = n * RAM_PAGE <= st->bw * RAM_DOWNTIME_S;
			}
			ret = src_poll(acked, &nacked, 0);
			if (ret)
				return src_abort(ret);
			/* switchover-ack: every device's initial data loaded */
			acks_done = !g.initial_data || nacked == g.ndev;
			if (acks_done && ram_done &&
			    now() - t >= g.min_precopy_s)
				break;
			/* RAM not converged yet: the next round at once */
			wait_ms = 0;
			if (!acks_done && round)
				wait_ms = ram.synced ? RAM_ROUND_MS : 1000;
			else if (acks_done && ram_done)
				wait_ms = RAM_ROUND_MS;
			if (wait_ms) {
				ret = src_poll(acked, &nacked, wait_ms);
				if (ret)
					return src_abort(ret);
			}
		}
		if (g.initial_data && nacked < g.ndev)
			return src_abort(-ETIMEDOUT);
		st->precopy_s = now() - t;
	}

	/* the stop phase: downtime starts */
	send_msg(MSG_SWITCH, 0, NULL, 0);
	t = now();
	ret = set_all(S(STOP_COPY), &st->stop_arcs_s);
	if (ret)
		return src_abort(ret);
	/* stopped devices write no more: what they wrote is in this report */
	if (ram.synced) {
		n = ram_sync();
		if (n < 0)
			return src_abort(n);
		st->ram_rounds++;
		st->ram_final_pages = n;
		st->ram_dirty_pages += n;
		ram_log_stop();
	}
	for (i = 0; i < g.ndev; i++) {
		n = pump(i, buf, false, &st->read_s);
		if (n < 0)
			return src_abort(n);
		st->residual_bytes += n;
		send_msg(MSG_END, i, NULL, 0);
	}
	for (;;) {
		if (recv_msg(&m))
			return src_abort(-ECONNRESET);
		if (m.type == MSG_DONE && m.len == sizeof(st->done)) {
			xfer(g.sock, &st->done, sizeof(st->done), false);
			break;
		}
		if (m.type == MSG_ABORT)
			return src_abort(-ECANCELED);
		if (m.type != MSG_ACK)
			return src_abort(-EPROTO);
	}
	st->downtime_s = now() - t;
	close_fds();
	/* the source VM is gone: leave its devices stopped */
	set_all(S(STOP), NULL);
	if (ram.synced) {
		st->ram_hash = ram_hash();
		if (send_msg(MSG_RAM_VERIFY, 0, &st->ram_hash, 8) ||
		    recv_msg(&m) || m.type != MSG_RAM_VERIFIED ||
		    m.len != sizeof(rr) || xfer(g.sock, &rr, sizeof(rr), false))
			return 1;
		st->ram_changed = rr.changed;
		st->ram_ok = rr.hash == st->ram_hash;
		if (!st->ram_ok)
			fprintf(stderr,
				"mdv_migrate: guest RAM differs: source hash %016lx, destination %016lx\n",
				(unsigned long)st->ram_hash,
				(unsigned long)rr.hash);
	}
	for (i = 0; i < g.ndev; i++) {
		digest = mdvt_digest(g.dev[i].bdf);
		send_msg(MSG_VERIFY, i, &digest, sizeof(digest));
	}
	if (recv_msg(&m) || m.type != MSG_VERIFIED ||
	    xfer(g.sock, &st->digests_ok, sizeof(int), false))
		return 1;
	free(buf);
	if (!st->digests_ok)
		fprintf(stderr, "mdv_migrate: destination state differs\n");
	return st->digests_ok && (st->ram_ok || !ram.synced) ? 0 : 1;
}

static int connect_to(const char *spec)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char host[64];
	int fd, one = 1, port, tries;

	if (sscanf(spec, "%63[^:]:%d", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -EINVAL;
	a.sin_port = htons(port);
	for (tries = 0; tries < 100; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		close(fd);
		usleep(100000);
	}
	return -errno;
}

static int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), c, one = 1;

	struct pollfd p = { .fd = fd, .events = POLLIN };

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		return -errno;
	/* a source that failed before connecting must not leave us waiting */
	c = poll(&p, 1, ACCEPT_TIMEOUT_S * 1000);
	if (c <= 0) {
		close(fd);
		return c ? -errno : -ETIMEDOUT;
	}
	c = accept(fd, NULL, NULL);
	close(fd);
	if (c >= 0)
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c < 0 ? -errno : c;
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: mdv_migrate src --connect IP:PORT --devs BDF[,BDF..] [--initial-data] [--parallel] [--rounds N]\n"
		"                       [--ram MiB] [--min-precopy-ms MS]\n"
		"       mdv_migrate dst --listen PORT --devs BDF[,BDF..] [--parallel] [--ram MiB]\n"
		"(--initial-data, --rounds and --min-precopy-ms are accepted and ignored by dst;\n"
		" --ram must be the same on both sides, 1..%d;\n"
		" dst gives up when no source connects within %d s)\n",
		RAM_MAX_MB, ACCEPT_TIMEOUT_S);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "devs", required_argument, NULL, 'd' },
		{ "initial-data", no_argument, NULL, 'i' },
		{ "parallel", no_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ram", required_argument, NULL, 'm' },
		{ "min-precopy-ms", required_argument, NULL, 't' },
		{}
	};
	const char *connect_spec = NULL, *devs = NULL;
	struct src_stats st = {};
	int port = 0, rounds = 1000, c, i, ret;
	char *copy, *tok, *save = NULL, *end;
	unsigned long v;
	bool src;

	if (argc < 2 || (strcmp(argv[1], "src") && strcmp(argv[1], "dst")))
		usage();
	src = !strcmp(argv[1], "src");
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			connect_spec = optarg;
			break;
		case 'l':
			port = atoi(optarg);
			break;
		case 'd':
			devs = optarg;
			break;
		case 'i':
			g.initial_data = true;
			break;
		case 'p':
			g.parallel = true;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'm':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || !v ||
			    v > RAM_MAX_MB) {
				fprintf(stderr,
					"mdv_migrate: --ram %s: want MiB of guest RAM, 1..%d (it is mapped at IOVA %llu MiB and must stay below the devices' 256 MiB DMA limit)\n",
					optarg, RAM_MAX_MB, RAM_IOVA >> 20);
				return 2;
			}
			ram.len = v << 20;
			break;
		case 't':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > 3600000) {
				fprintf(stderr,
					"mdv_migrate: --min-precopy-ms %s: want 0..3600000\n",
					optarg);
				return 2;
			}
			g.min_precopy_s = v / 1e3;
			break;
		default:
			usage();
		}
	}
	if (!devs || (src ? !connect_spec : !port) || rounds < 1)
		usage();
	/* guest RAM exists before the devices */
	if (src && ram.len)
		ram.setup_err = ram_alloc(true);
	copy = strdup(devs);
	for (tok = strtok_r(copy, ",", &save); tok && g.ndev < VMIG_MAX_DEVS;
	     tok = strtok_r(NULL, ",", &save)) {
		ret = vmig_open(&g.dev[g.ndev], tok, VMIG_MODE_CONTAINER);
		if (ret) {
			fail(tok, ret);
			return 1;
		}
		g.fd[g.ndev++] = -1;
	}
	free(copy);
	if (src && ram.len && !ram.setup_err)
		ram.setup_err = ram_setup_src();

	g.sock = src ? connect_to(connect_spec) : listen_on(port);
	if (g.sock < 0) {
		fail(src ? "connect" : "listen", g.sock);
		return 1;
	}
	if (!src)
		ret = run_dst();
	else
		ret = run_src(&st, rounds);
	if (src && !ret) {
		/*
		 * What the downtime cannot go below: the residual bytes (and
		 * the last dirty RAM pages) at the measured link bandwidth, the
		 * arcs on both sides and the destination's stalls (resource
		 * allocation).
		 */
		double bound = (st.residual_bytes +
				st.ram_final_pages * RAM_PAGE) / st.bw +
			       st.stop_arcs_s + st.done.arcs_s + st.done.stall_s;

		if (ram.synced) {
			/* dirty pages per sync, the last one in the downtime */
			printf("ram: %lu pages, first pass then syncs:",
			       (unsigned long)ram.npages);
			for (i = 0; i < st.ram_rounds - 1; i++)
				printf(" %u", st.ram_round_pages[i]);
			printf(" | final %lu\n", (unsigned long)st.ram_final_pages);
		}

		printf("result: devices=%d initial_data=%d parallel=%d ", g.ndev,
		       g.initial_data, g.parallel);
		printf("downtime_ms=%.0f bound_ms=%.0f ratio=%.2f ",
		       st.downtime_s * 1e3, bound * 1e3, st.downtime_s / bound);
		printf("residual_bytes=%lu precopy_bytes=%lu bw_mibs=%.1f ",
		       (unsigned long)st.residual_bytes,
		       (unsigned long)st.precopy_bytes, st.bw / 1048576);
		printf("stop_arcs_ms=%.0f src_read_ms=%.0f dst_device_ms=%.0f ",
		       st.stop_arcs_s * 1e3, st.read_s * 1e3,
		       st.done.device_s * 1e3);
		printf("dst_arcs_ms=%.0f dst_stall_ms=%.0f ",
		       st.done.arcs_s * 1e3, st.done.stall_s * 1e3);
		printf("precopy_ms=%.0f digests=ok", st.precopy_s * 1e3);
		if (ram.synced) {
			printf(" ram=ok rounds=%d dirty_pages=%lu final_pages=%lu",
			       st.ram_rounds, (unsigned long)st.ram_dirty_pages,
			       (unsigned long)st.ram_final_pages);
			printf(" changed_pages=%lu ram_hash=%016lx",
			       (unsigned long)st.ram_changed,
			       (unsigned long)st.ram_hash);
		} else if (ram.len) {
			printf(" ram=skipped (no DMA logging on this kernel: %s)",
			       strerror(-ram.log_err));
		}
		printf("\n");
	} else if (src) {
		printf("result: failed\n");
	}
	ram_teardown();
	free(st.ram_round_pages);
	for (i = 0; i < g.ndev; i++)
		vmig_close(&g.dev[i]);
	close(g.sock);
	return ret;
}
