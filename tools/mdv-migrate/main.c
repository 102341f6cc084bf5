// SPDX-License-Identifier: GPL-2.0
/* mdv_migrate: options, the run, the summary */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine.h"

static void usage(void)
{
	fprintf(stderr,
		"Usage: mdv_migrate src --connect IP:PORT --devs BDF[,BDF..] [--precopy | --initial-data [--no-precopy-v2]]\n"
		"                       [--parallel] [--rounds N] [--ram MiB] [--min-precopy-ms MS] [--downtime-limit-ms MS]\n"
		"                       [--verify HOOK]\n"
		"       mdv_migrate dst --listen PORT --devs BDF[,BDF..] [--parallel] [--ram MiB] [--verify HOOK]\n"
		"(without either the devices go straight to STOP_COPY; --precopy: PRE_COPY, and the\n"
		" switchover once what is left fits the downtime limit (%d ms) at the measured\n"
		" bandwidth; --initial-data: that, and only once the destination acked every\n"
		" device's initial data (switchover-ack), opting in to PRECOPY_INFOv2 where the\n"
		" kernel has it: a device's new initial data (REINIT) is acked again;\n"
		" --no-precopy-v2: no opt-in, as a v1 VMM (one ack; new initial data comes as\n"
		" dirty bytes);\n"
		" --precopy, --initial-data, --no-precopy-v2, --rounds, --min-precopy-ms and\n"
		" --downtime-limit-ms are accepted and ignored by dst;\n"
		" --ram must be the same on both sides, 1..%d;\n"
		" dst gives up when no source connects within %d s;\n"
		" --verify: how to compare the devices' state after the downtime, mockdev, none\n"
		" or auto (default: the hook of the driver the first device is bound to))\n",
		(int)(DOWNTIME_LIMIT_S * 1000), RAM_MAX_MB, ACCEPT_TIMEOUT_S);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "devs", required_argument, NULL, 'd' },
		{ "initial-data", no_argument, NULL, 'i' },
		{ "no-precopy-v2", no_argument, NULL, 'V' },
		{ "precopy", no_argument, NULL, 'P' },
		{ "downtime-limit-ms", required_argument, NULL, 'D' },
		{ "parallel", no_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "ram", required_argument, NULL, 'm' },
		{ "min-precopy-ms", required_argument, NULL, 't' },
		{ "verify", required_argument, NULL, 'v' },
		{}
	};
	const char *connect_spec = NULL, *devs = NULL;
	struct src_stats st = {};
	int port = 0, rounds = 1000, c, i, ret;
	const char *verify = "auto";
	char *end, names[128];
	unsigned long v;
	bool src;

	if (argc < 2 || (strcmp(argv[1], "src") && strcmp(argv[1], "dst")))
		usage();
	src = !strcmp(argv[1], "src");
	g.downtime_limit_s = DOWNTIME_LIMIT_S;
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
			g.precopy = true;
			break;
		case 'P':
			g.precopy = true;
			break;
		case 'V':
			g.no_precopy_v2 = true;
			break;
		case 'D':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || !v || v > 3600000) {
				fprintf(stderr,
					"mdv_migrate: --downtime-limit-ms %s: want 1..3600000\n",
					optarg);
				return 2;
			}
			g.downtime_limit_s = v / 1e3;
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
		case 'v':
			verify = optarg;
			break;
		default:
			usage();
		}
	}
	if (!devs || (src ? !connect_spec : !port) || rounds < 1)
		usage();
	if (src && g.no_precopy_v2 && !g.initial_data) {
		fprintf(stderr,
			"mdv_migrate: --no-precopy-v2 goes with --initial-data (only the ack opts in)\n");
		return 2;
	}
	/* guest RAM exists before the devices */
	if (src && ram.len)
		ram.setup_err = ram_alloc(true);
	ret = devs_open(devs);
	if (ret)
		return 1;
	g.verify = verifier_find(verify, &g.dev[0], &ret);
	if (ret) {
		verifier_names(names, sizeof(names));
		fprintf(stderr, "mdv_migrate: --verify %s: want one of %s\n",
			verify, names);
		return 2;
	}
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

		printf("result: devices=%d mode=%s initial_data=%d parallel=%d ",
		       g.ndev, g.initial_data ? "precopy+ack" :
		       g.precopy ? "precopy" : "stop-copy",
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
		printf("dst_session_stalls=%u dst_session_stall_ms=%.0f ",
		       st.done.session_stalls, st.done.session_stall_s * 1e3);
		printf("precopy_ms=%.0f converged=%d ", st.precopy_s * 1e3,
		       st.converged);
		printf("sw_data_bytes=%lu sw_initial=%lu sw_dirty=%lu sw_unsent=%lu ",
		       (unsigned long)st.sw_data_bytes,
		       (unsigned long)st.sw_initial, (unsigned long)st.sw_dirty,
		       (unsigned long)st.sw_unsent);
		if (g.initial_data)
			printf("precopy_v2=%d reinits=%d ", st.v2, st.reinits);
		if (st.init_seen)
			printf("init_ago_ms=%.0f init_unsent=%lu ",
			       st.init_ago_s * 1e3,
			       (unsigned long)st.init_unsent);
		printf("digests=%s", g.verify ? "ok" : "none");
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
	devs_close();
	close(g.sock);
	return ret;
}
