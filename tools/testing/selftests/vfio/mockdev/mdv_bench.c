// SPDX-License-Identifier: GPL-2.0
/*
 * make bench: save and resume throughput of a 1 GiB device state next to a
 * memcpy of the same size in the same guest, and the median latency of each
 * non-data FSM arc. A benchmark, not a test: it reports ratios measured in
 * one run and asserts nothing about time.
 *
 * mdv_bench arcs MB [RUNS]: the costs a downtime prediction needs (make
 * demo), measured on the first two devices with a state of MB MiB and every
 * latency knob at 0, so that what the knobs add is not counted twice: the
 * arcs mdv_migrate takes in the downtime (source RUNNING -> STOP_COPY and
 * PRE_COPY -> STOP_COPY, destination RESUMING -> RUNNING after a whole
 * stream), the read and write rates of 1 MiB transfers, medians of RUNS
 * (default 3), in one line:
 *   arcs: state_mb=MB runs=RUNS stream_bytes=N running_to_stop_copy_ms=X
 *         precopy_to_stop_copy_ms=X resuming_to_running_ms=X read_mibs=X
 *         write_mibs=X
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define CHUNK (1024 * 1024)
#define ARC_RUNS 51

#define ARCS_MAX_RUNS 15
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static unsigned int size_mb = 1024;

static void die(const char *what, int err)
{
	fprintf(stderr, "mdv_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	printf("not ok 1 mdv_bench\n");
	exit(1);
}

static double memcpy_rate(size_t bytes)
{
	uint8_t *src = malloc(bytes), *dst = malloc(CHUNK);
	double t, best = 0;
	size_t off;
	int rep;

	if (!src || !dst)
		die("malloc", ENOMEM);
	memset(src, 0x5a, bytes);
	memset(dst, 0, CHUNK);
	/* like read(): the whole state through one 1 MiB buffer, best of 3 */
	for (rep = 0; rep < 3; rep++) {
		t = vmig_now();
		for (off = 0; off < bytes; off += CHUNK) {
			memcpy(dst, src + off, CHUNK);
			/* the copies are the work: keep the compiler from eliding them */
			__asm__ __volatile__("" : : "r"(dst) : "memory");
		}
		t = vmig_now() - t;
		if (bytes / t > best)
			best = bytes / t;
	}
	free(src);
	free(dst);
	return best;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void bench_arc(struct vmig_dev *d, uint32_t from, uint32_t to)
{
	double lat[ARC_RUNS], t;
	int i, fd, ret;

	for (i = 0; i < ARC_RUNS; i++) {
		ret = vmig_set_state(d, from, &fd);
		if (ret)
			die("set from-state", ret);
		t = vmig_now();
		ret = vmig_set_state(d, to, NULL);
		lat[i] = vmig_now() - t;
		if (ret)
			die("set state", ret);
		if (fd >= 0)
			close(fd);
		/* a RESUMING left without a stream ends in ERROR: reset */
		vmig_reset(d);
	}
	qsort(lat, ARC_RUNS, sizeof(lat[0]), cmp_double);
	printf("# transition %-12s -> %-12s median %8.1f us\n", vmig_state_name(from),
	       vmig_state_name(to), lat[ARC_RUNS / 2] * 1e6);
}

static double report_time(struct vmig_dev *d, uint64_t iova, uint64_t len,
			  uint64_t *bm)
{
	double t = vmig_now();

	if (vmig_log_report(d, iova, len, 4096, bm))
		return -1;
	return vmig_now() - t;
}

/*
 * DMA logging report cost: a 1 TiB tracked span with a few dirty pages
 * against a small span that is all dirty. Writes are simulated (logged
 * only), so thousands of them take no time.
 */
static void bench_report(const char *bdf)
{
	const uint64_t big = 1ULL << 40, small = 16ULL << 20;
	struct vmig_range r = { 0, big };
	uint64_t ps = 4096, *bm;
	double t_sparse, t_dense;
	struct vmig_dev d;
	char v[64];
	int i;

	mdvt_dbg_write(bdf, "mock/dma_simulate", "Y");
	if (vmig_open(&d, bdf, VMIG_MODE_CONTAINER))
		die("open", errno);
	if (vmig_log_start(&d, &r, 1, &ps)) {
		printf("# report cost: no DMA logging on this kernel (make bench LANES=full)\n");
		goto out;
	}
	bm = calloc(1, big / 4096 / 8);	/* 32 MiB, touched only where set */
	for (i = 0; i < 64; i++) {
		snprintf(v, sizeof(v), "%llx 64", (unsigned long long)i * (big / 64));
		mdvt_dbg_write(bdf, "mock/dma_write", v);
	}
	t_sparse = report_time(&d, 0, big, bm);
	vmig_log_stop(&d);
	r.length = small;
	ps = 4096;
	vmig_log_start(&d, &r, 1, &ps);
	snprintf(v, sizeof(v), "0 %llu", (unsigned long long)small);
	mdvt_dbg_write(bdf, "mock/dma_write", v);
	t_dense = report_time(&d, 0, small, bm);
	vmig_log_stop(&d);
	printf("# report: 1 TiB span, 64 dirty pages:     %8.3f ms (%.1f us/page)\n",
	       t_sparse * 1e3, t_sparse * 1e6 / 64);
	printf("# report: 16 MiB span, 4096 dirty pages:  %8.3f ms (%.1f us/page)\n",
	       t_dense * 1e3, t_dense * 1e6 / 4096);
	printf("# report: span x65536 with dirty pages /64 costs %.2fx the time\n",
	       t_sparse / t_dense);
	free(bm);
out:
	vmig_close(&d);
	mdvt_dbg_write(bdf, "mock/dma_simulate", "N");
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

/* Read @fd into @buf from @off until EOF, or ENOMSG in PRE_COPY */
static uint64_t read_until(int fd, uint8_t *buf, uint64_t off, uint64_t cap)
{
	ssize_t r;

	for (;;) {
		if (off == cap)
			die("stream larger than MIG_DATA_SIZE said", EOVERFLOW);
		r = read(fd, buf + off, cap - off < CHUNK ? cap - off : CHUNK);
		if (r < 0 && errno == ENOMSG)
			return off;
		if (r < 0)
			die("read", errno);
		if (!r)
			return off;
		off += r;
	}
}

static void set(struct vmig_dev *d, uint32_t state, int *fd, double *took)
{
	double t = vmig_now();
	int ret = vmig_set_state(d, state, fd);

	if (took)
		*took = vmig_now() - t;
	if (ret)
		die(vmig_state_name(state), ret);
}

static int bench_arcs(int runs)
{
	double stop[ARCS_MAX_RUNS], pstop[ARCS_MAX_RUNS], res[ARCS_MAX_RUNS];
	double rd[ARCS_MAX_RUNS], wr[ARCS_MAX_RUNS], t;
	static const char * const zero[] = {
		"dirty_rate", "quiesce_latency_ms", "resume_latency_ms",
		"alloc_latency_ms", "dma_rate", "save_rate_mb",
	};
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
	uint64_t cap, n = 0;
	uint8_t *stream;
	int i, k, sfd, dfd;

	if (runs < 1 || runs > ARCS_MAX_RUNS)
		die("runs: want 1..15", EINVAL);
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		die("need two devices bound to mockdev-vfio-pci", ENODEV);
	for (i = 0; i < 2; i++) {
		if (mdvt_param_u32(bdfs[i], "state_size_mb", size_mb))
			die("devlink param set state_size_mb", EIO);
		for (k = 0; k < (int)ARRAY_SIZE(zero); k++)
			if (mdvt_param_u32(bdfs[i], zero[k], 0))
				die("devlink param set", EIO);
	}
	if (vmig_open(&src, bdfs[0], VMIG_MODE_CONTAINER) ||
	    vmig_open(&dst, bdfs[1], VMIG_MODE_CONTAINER))
		die("open", errno);
	if (vmig_data_size(&src, &cap))
		die("MIG_DATA_SIZE", errno);
	/* PRE_COPY resends nothing here (no dirtying): the stream is as long */
	cap += CHUNK;
	stream = malloc(cap);
	if (!stream)
		die("malloc stream", ENOMEM);
	memset(stream, 0, cap);	/* fault it in before timing */

	for (i = 0; i < runs; i++) {
		/* stop-copy only: the arc, then the stream at read() speed */
		set(&src, S(STOP_COPY), &sfd, &stop[i]);
		t = vmig_now();
		n = read_until(sfd, stream, 0, cap);
		rd[i] = n / (vmig_now() - t) / 1048576;
		close(sfd);
		set(&src, S(STOP), NULL, NULL);
		set(&src, S(RUNNING), NULL, NULL);

		/* precopy: the initial data, then the stop arc with a session */
		set(&src, S(PRE_COPY), &sfd, NULL);
		n = read_until(sfd, stream, 0, cap);
		set(&src, S(STOP_COPY), NULL, &pstop[i]);
		n = read_until(sfd, stream, n, cap);
		close(sfd);
		set(&src, S(STOP), NULL, NULL);
		set(&src, S(RUNNING), NULL, NULL);

		/* the destination: the whole stream, then the resume arcs */
		set(&dst, S(RESUMING), &dfd, NULL);
		t = vmig_now();
		if (vmig_write_all(dfd, stream, n, CHUNK) != (int64_t)n)
			die("write stream", errno);
		wr[i] = n / (vmig_now() - t) / 1048576;
		set(&dst, S(RUNNING), NULL, &res[i]);
		close(dfd);
	}
	free(stream);
	vmig_close(&src);
	vmig_close(&dst);
	printf("arcs: state_mb=%u runs=%d stream_bytes=%lu ", size_mb, runs,
	       (unsigned long)n);
	printf("running_to_stop_copy_ms=%.1f precopy_to_stop_copy_ms=%.1f ",
	       median(stop, runs) * 1e3, median(pstop, runs) * 1e3);
	printf("resuming_to_running_ms=%.1f read_mibs=%.0f write_mibs=%.0f\n",
	       median(res, runs) * 1e3, median(rd, runs), median(wr, runs));
	return 0;
}

int main(int argc, char **argv)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
	double t_save, t_load, t_verify, mc;
	uint64_t size, n, off;
	uint8_t *stream;
	int sfd, dfd, ret, i;
	ssize_t r;

	if (argc > 2 && !strcmp(argv[1], "arcs")) {
		size_mb = atoi(argv[2]);
		return bench_arcs(argc > 3 ? atoi(argv[3]) : 3);
	}
	if (argc > 1)
		size_mb = atoi(argv[1]);
	printf("TAP version 13\n1..1\n");
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		die("need two devices bound to mockdev-vfio-pci", ENODEV);
	for (i = 0; i < 2; i++) {
		if (mdvt_param_u32(bdfs[i], "state_size_mb", size_mb) ||
		    mdvt_param_u32(bdfs[i], "dirty_rate", 0))
			die("devlink param set", EIO);
	}
	ret = vmig_open(&src, bdfs[0], VMIG_MODE_CONTAINER);
	if (!ret)
		ret = vmig_open(&dst, bdfs[1], VMIG_MODE_CONTAINER);
	if (ret)
		die("open", ret);

	ret = vmig_set_state(&src, S(STOP), NULL);
	if (!ret)
		ret = vmig_data_size(&src, &size);
	if (ret)
		die("data size", ret);
	stream = malloc(size);
	if (!stream)
		die("malloc stream", ENOMEM);
	memset(stream, 0, size);	/* fault it in before timing */

	ret = vmig_set_state(&src, S(STOP_COPY), &sfd);
	if (ret)
		die("STOP_COPY", ret);
	t_save = vmig_now();
	for (n = 0; (r = read(sfd, stream + n, size - n < CHUNK ? size - n : CHUNK)) > 0; n += r)
		;
	t_save = vmig_now() - t_save;
	if (r < 0 || n != size)
		die("read stream", r < 0 ? errno : EIO);
	close(sfd);

	ret = vmig_set_state(&dst, S(RESUMING), &dfd);
	if (ret)
		die("RESUMING", ret);
	t_load = vmig_now();
	for (off = 0; off < size; off += r) {
		r = write(dfd, stream + off, size - off < CHUNK ? size - off : CHUNK);
		if (r <= 0)
			die("write stream", errno);
	}
	t_load = vmig_now() - t_load;
	t_verify = vmig_now();
	ret = vmig_set_state(&dst, S(STOP), NULL);
	t_verify = vmig_now() - t_verify;
	if (ret)
		die("RESUMING -> STOP", ret);
	close(dfd);
	free(stream);
	if (mdvt_digest(bdfs[0]) != mdvt_digest(bdfs[1]))
		die("digest mismatch", EIO);

	mc = memcpy_rate((uint64_t)size_mb << 20);
	printf("# bench: state %u MiB, stream %lu bytes, reads/writes of 1 MiB\n",
	       size_mb, (unsigned long)size);
	printf("# memcpy          %8.0f MiB/s\n", mc / 1048576);
	printf("# save (read)     %8.0f MiB/s  ratio %.2f\n",
	       size / t_save / 1048576, size / t_save / mc);
	printf("# resume (write)  %8.0f MiB/s  ratio %.2f\n",
	       size / t_load / 1048576, size / t_load / mc);
	printf("# resume verify (RESUMING -> STOP, digest) %.3f s\n", t_verify);

	vmig_set_state(&src, S(RUNNING), NULL);
	vmig_set_state(&dst, S(RUNNING), NULL);
	vmig_close(&src);
	for (i = 0; i < 2; i++)
		mdvt_param_u32(bdfs[i], "state_size_mb", 1);
	ret = vmig_open(&src, bdfs[0], VMIG_MODE_CONTAINER);
	if (ret)
		die("reopen", ret);
	bench_arc(&src, S(RUNNING), S(RUNNING_P2P));
	bench_arc(&src, S(RUNNING_P2P), S(RUNNING));
	bench_arc(&src, S(RUNNING_P2P), S(STOP));
	bench_arc(&src, S(STOP), S(RUNNING_P2P));
	bench_arc(&src, S(RUNNING), S(PRE_COPY));
	bench_arc(&src, S(PRE_COPY), S(RUNNING));
	bench_arc(&src, S(PRE_COPY), S(PRE_COPY_P2P));
	bench_arc(&src, S(STOP), S(STOP_COPY));
	bench_arc(&src, S(STOP_COPY), S(STOP));
	bench_arc(&src, S(STOP), S(RESUMING));
	vmig_close(&src);
	vmig_close(&dst);
	bench_report(bdfs[0]);
	printf("ok 1 mdv_bench\n");
	return 0;
}
