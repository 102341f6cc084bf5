// SPDX-License-Identifier: GPL-2.0
/* mdv_migrate: the destination: resumes the devices from the source's stream */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine.h"

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

int run_dst(void)
{
	struct done_info done = {};
	bool ended[VMIG_MAX_DEVS] = {};
	double t_dev = 0, t;
	uint8_t *buf = malloc(CHUNK);
	int nended = 0, nverified = 0, ok = 1, i, ret;
	bool stopping = false, ram_verified = false, ram_ok = true;
	struct hello hello = {};
	struct ram_result rr;
	uint64_t digest, mine;
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
			if (t > STALL_S) {
				done.session_stalls++;
				done.session_stall_s += t;
			}
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
		case MSG_INIT_DONE: {
			uint32_t gen;

			/* every byte before it went through write(): loaded */
			if (m.len != sizeof(gen) ||
			    xfer(g.sock, &gen, sizeof(gen), false))
				return dst_abort(-EPROTO);
			send_msg(MSG_ACK, m.dev, &gen, sizeof(gen));
			break;
		}
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
			/*
			 * after the downtime: compare the whole state again,
			 * through the verification hook (none: nothing sent)
			 */
			if (m.dev >= (uint32_t)g.ndev || (m.len && m.len != 8) ||
			    (m.len && xfer(g.sock, &digest, 8, false)))
				return dst_abort(-EPROTO);
			if (m.len && !g.verify) {
				fprintf(stderr,
					"mdv_migrate: the source sent a digest, the destination has no hook to compare it (--verify)\n");
				ok = 0;
			} else if (m.len) {
				ret = g.verify->digest(&g.dev[m.dev], &mine);
				if (ret || mine != digest)
					ok = 0;
			}
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
