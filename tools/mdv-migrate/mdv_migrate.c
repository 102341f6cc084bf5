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
 * Without initial data nothing moves before the stop. A failure on either
 * side sends ABORT: the destination resets its devices, the source returns
 * its devices to RUNNING. Downtime is from the first stop arc to DONE.
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
#include <sys/socket.h>
#include <unistd.h>

#include "mdv_lib.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define CHUNK (1024 * 1024)
#define CALIB_BYTES (32UL << 20)

enum msg_type {
	MSG_HELLO = 1, MSG_CALIB, MSG_CALIB_ACK, MSG_DATA, MSG_INIT_DONE,
	MSG_ACK, MSG_END, MSG_DONE, MSG_ABORT, MSG_SWITCH, MSG_VERIFY,
	MSG_VERIFIED,
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

/*
 * A resuming write that takes this long is the device stalling (allocating
 * resources, say), not copying: 1 MiB copies take milliseconds.
 */
#define STALL_S 0.1

static struct {
	int ndev;
	struct mdv_dev dev[MDV_MAX_DEVS];
	int fd[MDV_MAX_DEVS];
	bool parallel;
	bool initial_data;
	int sock;
	bool verbose;
} g = { .sock = -1 };

static void fail(const char *what, int err)
{
	fprintf(stderr, "mdv_migrate: %s: %s\n", what,
		strerror(err < 0 ? -err : err));
}

static double now(void)
{
	return mdv_now();
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

	j->ret = mdv_set_state(&g.dev[j->i], j->state, &j->fd);
	return NULL;
}

/* Move every device to @state; data FDs returned go to g.fd[]. */
static int set_all(uint32_t state, double *took)
{
	struct arc_job job[MDV_MAX_DEVS];
	pthread_t th[MDV_MAX_DEVS];
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
		mdv_reset(&g.dev[i]);
	send_msg(MSG_ABORT, 0, &err, sizeof(err));
	return 1;
}

static int run_dst(void)
{
	struct done_info done = {};
	bool ended[MDV_MAX_DEVS] = {};
	double t_dev = 0, t;
	uint8_t *buf = malloc(CHUNK);
	int nended = 0, nverified = 0, ok = 1, i, ret;
	bool stopping = false;
	uint64_t digest;
	struct msg m;

	for (;;) {
		ret = recv_msg(&m);
		if (ret)
			return dst_abort(ret);
		switch (m.type) {
		case MSG_HELLO:
			if (m.dev != (uint32_t)g.ndev)
				return dst_abort(-EINVAL);
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
			if (mdv_digest(g.dev[m.dev].bdf) != digest)
				ok = 0;
			if (++nverified < g.ndev)
				break;
			send_msg(MSG_VERIFIED, 0, &ok, sizeof(ok));
			free(buf);
			return ok ? 0 : 1;
		case MSG_ABORT:
			fprintf(stderr, "mdv_migrate: source aborted\n");
			close_fds();
			for (i = 0; i < g.ndev; i++)
				mdv_reset(&g.dev[i]);
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

/* Handle what the destination sent while we were busy */
static int src_poll(bool *acked, int *nacked, bool wait)
{
	struct pollfd p = { .fd = g.sock, .events = POLLIN };
	struct msg m;
	int err;

	while (poll(&p, 1, wait ? 1000 : 0) > 0) {
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
		wait = false;
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
	bool acked[MDV_MAX_DEVS] = {}, sent_init[MDV_MAX_DEVS] = {};
	uint8_t *buf = calloc(1, CHUNK);
	uint64_t init, dirty, digest;
	int nacked = 0, round, i, ret;
	double t, t_unused = 0;
	struct msg m;
	int64_t n;

	send_msg(MSG_HELLO, g.ndev, NULL, 0);
	/* link bandwidth, measured the way the data will travel */
	t = now();
	send_msg(MSG_CALIB, 0, NULL, CALIB_BYTES);
	for (n = 0; n < (int64_t)CALIB_BYTES; n += CHUNK)
		if (xfer(g.sock, buf, CHUNK, true))
			return src_abort(-ECONNRESET);
	if (recv_msg(&m) || m.type != MSG_CALIB_ACK)
		return src_abort(-EPROTO);
	st->bw = CALIB_BYTES / (now() - t);

	if (g.initial_data) {
		t = now();
		ret = set_all(S(PRE_COPY), NULL);
		if (ret)
			return src_abort(ret);
		for (round = 0; round < max_rounds; round++) {
			for (i = 0; i < g.ndev; i++) {
				n = pump(i, buf, true, &t_unused);
				if (n < 0)
					return src_abort(n);
				st->precopy_bytes += n;
				ret = mdv_precopy_info(g.fd[i], &init, &dirty);
				if (ret)
					return src_abort(ret);
				if (!init && !sent_init[i]) {
					sent_init[i] = true;
					send_msg(MSG_INIT_DONE, i, NULL, 0);
				}
			}
			ret = src_poll(acked, &nacked, false);
			if (ret)
				return src_abort(ret);
			/* switchover-ack: every device's initial data loaded */
			if (nacked == g.ndev)
				break;
			if (round && nacked < g.ndev) {
				ret = src_poll(acked, &nacked, true);
				if (ret)
					return src_abort(ret);
			}
		}
		if (nacked < g.ndev)
			return src_abort(-ETIMEDOUT);
		st->precopy_s = now() - t;
	}

	/* the stop phase: downtime starts */
	send_msg(MSG_SWITCH, 0, NULL, 0);
	t = now();
	ret = set_all(S(STOP_COPY), &st->stop_arcs_s);
	if (ret)
		return src_abort(ret);
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
	for (i = 0; i < g.ndev; i++) {
		digest = mdv_digest(g.dev[i].bdf);
		send_msg(MSG_VERIFY, i, &digest, sizeof(digest));
	}
	if (recv_msg(&m) || m.type != MSG_VERIFIED ||
	    xfer(g.sock, &st->digests_ok, sizeof(int), false))
		return 1;
	free(buf);
	if (!st->digests_ok)
		fprintf(stderr, "mdv_migrate: destination state differs\n");
	return st->digests_ok ? 0 : 1;
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

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		return -errno;
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
		"       mdv_migrate dst --listen PORT --devs BDF[,BDF..] [--parallel]\n"
		"(--initial-data and --rounds are accepted and ignored by dst)\n");
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
		{}
	};
	const char *connect_spec = NULL, *devs = NULL;
	struct src_stats st = {};
	int port = 0, rounds = 1000, c, i, ret;
	char *copy, *tok, *save = NULL;
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
		default:
			usage();
		}
	}
	if (!devs || (src ? !connect_spec : !port))
		usage();
	copy = strdup(devs);
	for (tok = strtok_r(copy, ",", &save); tok && g.ndev < MDV_MAX_DEVS;
	     tok = strtok_r(NULL, ",", &save)) {
		ret = mdv_open(&g.dev[g.ndev], tok, MDV_MODE_CONTAINER);
		if (ret) {
			fail(tok, ret);
			return 1;
		}
		g.fd[g.ndev++] = -1;
	}
	free(copy);

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
		 * What the downtime cannot go below: the residual bytes at the
		 * measured link bandwidth, the arcs on both sides and the
		 * destination's stalls (resource allocation).
		 */
		double bound = st.residual_bytes / st.bw + st.stop_arcs_s +
			       st.done.arcs_s + st.done.stall_s;

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
		printf("precopy_ms=%.0f digests=ok\n", st.precopy_s * 1e3);
	} else if (src) {
		printf("result: failed\n");
	}
	for (i = 0; i < g.ndev; i++)
		mdv_close(&g.dev[i]);
	close(g.sock);
	return ret;
}
