// SPDX-License-Identifier: GPL-2.0
/* mdv_migrate: the source: precopy rounds, the stop phase, the verification */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "engine.h"

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

/*
 * Handle what the destination sent while we were busy, or in @wait_ms. An
 * ack counts only for the device's current initial data (@gen): one for
 * initial data that a REINIT has replaced since is stale.
 */
static int src_poll(bool *acked, int *nacked, const uint32_t *gen, int wait_ms)
{
	struct pollfd p = { .fd = g.sock, .events = POLLIN };
	uint32_t ack_gen;
	struct msg m;
	int err;

	while (poll(&p, 1, wait_ms) > 0) {
		if (recv_msg(&m))
			return -ECONNRESET;
		if (m.type == MSG_ACK && m.dev < (uint32_t)g.ndev) {
			if (m.len != sizeof(ack_gen) ||
			    xfer(g.sock, &ack_gen, sizeof(ack_gen), false))
				return -EPROTO;
			if (ack_gen == gen[m.dev] && !acked[m.dev]) {
				acked[m.dev] = true;
				(*nacked)++;
				/* a VMM's log line; make demo waits for it */
				fprintf(stderr,
					"mdv_migrate: device %u: initial data acked (generation %u)\n",
					m.dev, ack_gen);
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

/* What the devices have left to send: MIG_DATA_SIZE, summed */
static int data_left(uint64_t *left)
{
	uint64_t len;
	int i, ret;

	*left = 0;
	for (i = 0; i < g.ndev; i++) {
		ret = vmig_data_size(&g.dev[i], &len);
		if (ret)
			return ret;
		*left += len;
	}
	return 0;
}

/*
 * What is known at the switchover, before the first stop arc: what the
 * devices have left (MIG_DATA_SIZE) and, in PRE_COPY, their precopy info.
 * A prediction of the downtime starts from these (demo.sh).
 */
static int switchover_info(struct src_stats *st)
{
	uint64_t init, dirty;
	int i, ret, unsent;

	if (ioctl(g.sock, SIOCOUTQ, &unsent) == 0)
		st->sw_unsent = unsent;
	ret = data_left(&st->sw_data_bytes);
	for (i = 0; !ret && g.precopy && i < g.ndev; i++) {
		ret = vmig_precopy_info(g.fd[i], &init, &dirty);
		st->sw_initial += init;
		st->sw_dirty += dirty;
	}
	return ret;
}

int run_src(struct src_stats *st, int max_rounds)
{
	bool acked[VMIG_MAX_DEVS] = {}, sent_init[VMIG_MAX_DEVS] = {};
	bool init_read[VMIG_MAX_DEVS] = {};
	uint32_t gen[VMIG_MAX_DEVS] = {}, flags;
	double t_init = 0;
	int unsent;
	bool acks_done, verify_err = false;
	uint8_t *buf = calloc(1, CHUNK);
	uint64_t init, dirty, digest, left;
	int nacked = 0, round, i, ret, wait_ms;
	struct hello hello = {};
	struct ram_result rr;
	double t, t_unused = 0;
	int64_t n, sent;
	struct msg m;

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

	st->converged = true;
	if (g.precopy || ram.synced) {
		t = now();
		/* RAM's first pass: everything, as it is now */
		if (ram.synced) {
			if (ram_send(0, ram.npages))
				return src_abort(-ECONNRESET);
			st->precopy_bytes += ram.len;
		}
		if (g.precopy) {
			/*
			 * With the ack, opt in to PRECOPY_INFOv2: a device
			 * that restarts its initial data then says so
			 * (REINIT) and the switchover waits for it again.
			 * Without the opt-in (--no-precopy-v2, or a kernel
			 * without it) the new initial data is counted as
			 * dirty bytes: a v1 VMM acks once and never sees it.
			 */
			for (i = 0; g.initial_data && !g.no_precopy_v2 &&
			     i < g.ndev; i++)
				if (!vmig_precopy_v2(&g.dev[i],
						     VFIO_DEVICE_FEATURE_SET))
					st->v2 = true;
			ret = set_all(S(PRE_COPY), NULL);
			if (ret)
				return src_abort(ret);
		}
		for (round = 0; round < max_rounds; round++) {
			sent = 0;
			for (i = 0; g.precopy && i < g.ndev; i++) {
				n = pump(i, buf, true, &t_unused);
				if (n < 0)
					return src_abort(n);
				st->precopy_bytes += n;
				sent += n;
				ret = vmig_precopy_info_flags(g.fd[i], &init,
							      &dirty, &flags);
				if (ret)
					return src_abort(ret);
				if (flags & VMIG_PRECOPY_INFO_REINIT) {
					/* new initial data: load and ack it again */
					st->reinits++;
					gen[i]++;
					if (acked[i])
						nacked--;
					acked[i] = false;
					sent_init[i] = false;
					init_read[i] = false;
				}
				if (!init && !init_read[i]) {
					init_read[i] = true;
					t_init = now();
					if (ioctl(g.sock, SIOCOUTQ, &unsent) == 0)
						st->init_unsent = unsent;
					st->init_seen = true;
				}
				if (g.initial_data && !init && !sent_init[i]) {
					sent_init[i] = true;
					send_msg(MSG_INIT_DONE, i, &gen[i],
						 sizeof(gen[i]));
				}
			}
			/*
			 * The convergence test: what is left, of the devices
			 * in PRE_COPY and of RAM (what one round dirties),
			 * crosses the link within the downtime limit.
			 */
			left = 0;
			if (g.precopy) {
				ret = data_left(&left);
				if (ret)
					return src_abort(ret);
			}
			if (ram.synced) {
				n = ram_sync();
				if (n < 0)
					return src_abort(n);
				st->ram_round_pages[st->ram_rounds++] = n;
				st->ram_dirty_pages += n;
				st->precopy_bytes += n * RAM_PAGE;
				sent += n * RAM_PAGE;
				left += n * RAM_PAGE;
			}
			st->converged = left <= st->bw * g.downtime_limit_s;
			ret = src_poll(acked, &nacked, gen, 0);
			if (ret)
				return src_abort(ret);
			/* switchover-ack: every device's initial data loaded */
			acks_done = !g.initial_data || nacked == g.ndev;
			if (acks_done && st->converged &&
			    now() - t >= g.min_precopy_s)
				break;
			/* not converged and data moving: the next round at once */
			wait_ms = 0;
			if (!acks_done && round)
				wait_ms = ram.synced ? RAM_ROUND_MS : 1000;
			else if (st->converged || !sent)
				wait_ms = RAM_ROUND_MS;
			if (wait_ms) {
				ret = src_poll(acked, &nacked, gen, wait_ms);
				if (ret)
					return src_abort(ret);
			}
		}
		if (g.initial_data && nacked < g.ndev)
			return src_abort(-ETIMEDOUT);
		st->precopy_s = now() - t;
	}

	ret = switchover_info(st);
	if (ret)
		return src_abort(ret);
	if (st->init_seen)
		st->init_ago_s = now() - t_init;
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
		/* a late ack, of initial data a REINIT replaced: drop it */
		if (m.type != MSG_ACK || m.len > CHUNK ||
		    (m.len && xfer(g.sock, buf, m.len, false)))
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
	/* the verification hook's digests; without one, VERIFY says so */
	for (i = 0; i < g.ndev; i++) {
		if (!g.verify) {
			send_msg(MSG_VERIFY, i, NULL, 0);
			continue;
		}
		/*
		 * the migration is done: a digest that cannot be read fails
		 * the verification, not the devices
		 */
		ret = g.verify->digest(&g.dev[i], &digest);
		if (ret) {
			fail("reading a digest", ret);
			verify_err = true;
			send_msg(MSG_VERIFY, i, NULL, 0);
			continue;
		}
		send_msg(MSG_VERIFY, i, &digest, sizeof(digest));
	}
	if (recv_msg(&m) || m.type != MSG_VERIFIED ||
	    xfer(g.sock, &st->digests_ok, sizeof(int), false))
		return 1;
	free(buf);
	if (!st->digests_ok)
		fprintf(stderr, "mdv_migrate: destination state differs\n");
	return st->digests_ok && !verify_err &&
	       (st->ram_ok || !ram.synced) ? 0 : 1;
}
