// SPDX-License-Identifier: GPL-2.0
/*
 * make bench: for idle device states of 64 MiB, 1 GiB and 4 GiB (or the
 * sizes given), save and resume throughput next to the same guest's limit
 * for a read()/write() stream (a tmpfs file of the same size through the
 * same buffer), the latency of the arcs whose work could grow with the
 * state (the freezes, STOP -> STOP_COPY, RESUMING -> STOP) and the memory
 * the transfer takes; then, at 1 MiB, the median latency of each non-data
 * arc and the cost of DMA logging reports. A benchmark, not a test: it
 * reports ratios measured in one run and asserts nothing about time.
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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mockdev/mdv_stream.h>

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
	/*
	 * Fault it in before timing, with a byte that is not 0: GCC turns
	 * malloc() + memset(0) into calloc(), which leaves fresh pages
	 * untouched, and read() would then pay for faulting and zeroing
	 * them (make bench once measured save at a third of resume so).
	 */
	memset(stream, 0x5a, cap);

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

/* /proc/meminfo's @key in KiB, or -1 */
static long meminfo_kib(const char *key)
{
	static const char path[] = "/proc/meminfo";
	char line[128];
	long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			v = atol(line + strlen(key) + 1);
			break;
		}
	fclose(f);
	return v;
}

/* One pass over @fd from its start: @bytes through @buf; bytes/s */
static double tmpfs_pass(int fd, uint64_t bytes, uint8_t *buf, bool out,
			 const char *what)
{
	uint64_t off;
	ssize_t r;
	double t;

	if (lseek(fd, 0, SEEK_SET))
		die("lseek", errno);
	t = vmig_now();
	for (off = 0; off < bytes; off += r) {
		r = out ? write(fd, buf, CHUNK) : read(fd, buf, CHUNK);
		if (r <= 0)
			die(what, r < 0 ? errno : EIO);
	}
	return bytes / (vmig_now() - t);
}

/*
 * The limit of a read()/write() stream in this kernel: a tmpfs file of
 * @bytes through one CHUNK buffer (the page-cache copies
 * copy_page_{from,to}_iter() do), written (pages allocated as it grows),
 * written again over the same pages, then read. Bytes/s into @wr, @ow
 * and @rd.
 */
static void tmpfs_rates(const char *dir, uint64_t bytes, uint8_t *buf,
			double *wr, double *ow, double *rd)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/mdv_bench.tmp", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die(path, errno);
	unlink(path);
	*wr = tmpfs_pass(fd, bytes, buf, true, "tmpfs write");
	*ow = tmpfs_pass(fd, bytes, buf, true, "tmpfs overwrite");
	*rd = tmpfs_pass(fd, bytes, buf, false, "tmpfs read");
	close(fd);
}

#define SIZE_RUNS 3
#define MAX_SIZES 8

/* What one state size measured: medians of SIZE_RUNS */
struct size_result {
	unsigned int mb;
	double save, resume, tmpfs_rd, tmpfs_wr, tmpfs_ow;	/* bytes/s */
	double arc[4];	/* s, in arc_names' order */
	long mem_kib, slab_kib;		/* peak extra while transferring */
};

static const char * const arc_names[4] = {
	"running_p2p_to_stop", "precopy_p2p_to_stop_copy",
	"stop_to_stop_copy", "resuming_to_stop",
};

/*
 * One state size: the devices get @r->mb MiB of idle state, every latency
 * knob at 0. Each run streams the source's STOP_COPY data into the
 * destination through one CHUNK buffer; only the read() and write() calls
 * are timed, each on its side, and MemAvailable and Slab are sampled as
 * the data moves.
 */
static void bench_size(char bdfs[][VMIG_NAME_LEN], struct size_result *r,
		       const char *tmpdir, uint8_t *buf)
{
	static const char * const zero[] = {
		"dirty_rate", "quiesce_latency_ms", "resume_latency_ms",
		"alloc_latency_ms", "dma_rate", "save_rate_mb",
	};
	double sv[SIZE_RUNS], rs[SIZE_RUNS], tr[SIZE_RUNS], tw[SIZE_RUNS];
	double to[SIZE_RUNS];
	double arc[4][SIZE_RUNS], t, t_rd, t_wr;
	uint64_t bytes = (uint64_t)r->mb << 20, n;
	long mem0, slab0, mem, slab;
	struct vmig_dev src, dst;
	int i, k, run, sfd, dfd;
	ssize_t got, put, off;

	/* the tmpfs file while the devices hold 1 MiB: one big thing at a time */
	for (i = 0; i < 2; i++)
		if (mdvt_param_u32(bdfs[i], "state_size_mb", 1))
			die("devlink param set state_size_mb", EIO);
	for (run = 0; run < SIZE_RUNS; run++)
		tmpfs_rates(tmpdir, bytes, buf, &tw[run], &to[run], &tr[run]);
	for (i = 0; i < 2; i++) {
		if (mdvt_param_u32(bdfs[i], "state_size_mb", r->mb))
			die("state_size_mb (two states of it must fit in the guest)", EIO);
		for (k = 0; k < (int)ARRAY_SIZE(zero); k++)
			if (mdvt_param_u32(bdfs[i], zero[k], 0))
				die("devlink param set", EIO);
	}
	if (vmig_open(&src, bdfs[0], VMIG_MODE_CONTAINER) ||
	    vmig_open(&dst, bdfs[1], VMIG_MODE_CONTAINER))
		die("open", errno);
	r->mem_kib = 0;
	r->slab_kib = 0;
	for (run = 0; run < SIZE_RUNS; run++) {
		/* the freeze arcs, with and without a saving session */
		set(&src, S(RUNNING_P2P), NULL, NULL);
		set(&src, S(STOP), NULL, &arc[0][run]);
		set(&src, S(RUNNING), NULL, NULL);
		set(&src, S(PRE_COPY), &sfd, NULL);
		set(&src, S(PRE_COPY_P2P), NULL, NULL);
		set(&src, S(STOP_COPY), NULL, &arc[1][run]);
		close(sfd);
		set(&src, S(STOP), NULL, NULL);

		/* STOP -> STOP_COPY, and the stream into the destination */
		set(&dst, S(RESUMING), &dfd, NULL);
		mem0 = meminfo_kib("MemAvailable");
		slab0 = meminfo_kib("Slab");
		set(&src, S(STOP_COPY), &sfd, &arc[2][run]);
		t_rd = 0;
		t_wr = 0;
		for (n = 0, k = 0;; k++) {
			t = vmig_now();
			got = read(sfd, buf, CHUNK);
			t_rd += vmig_now() - t;
			if (got < 0)
				die("read", errno);
			if (!got)
				break;
			t = vmig_now();
			for (off = 0; off < got; off += put) {
				put = write(dfd, buf + off, got - off);
				if (put <= 0)
					die("write", put < 0 ? errno : EIO);
			}
			t_wr += vmig_now() - t;
			n += got;
			if (!(k & 63)) {
				mem = meminfo_kib("MemAvailable");
				slab = meminfo_kib("Slab");
				if (mem0 - mem > r->mem_kib)
					r->mem_kib = mem0 - mem;
				if (slab - slab0 > r->slab_kib)
					r->slab_kib = slab - slab0;
			}
		}
		sv[run] = n / t_rd;
		rs[run] = n / t_wr;
		set(&dst, S(STOP), NULL, &arc[3][run]);
		close(sfd);
		close(dfd);
		set(&src, S(STOP), NULL, NULL);
		if (mdvt_digest(bdfs[0]) != mdvt_digest(bdfs[1]))
			die("digest mismatch", EIO);
		set(&src, S(RUNNING), NULL, NULL);
		set(&dst, S(RUNNING), NULL, NULL);
	}
	vmig_close(&src);
	vmig_close(&dst);
	r->save = median(sv, SIZE_RUNS);
	r->resume = median(rs, SIZE_RUNS);
	r->tmpfs_rd = median(tr, SIZE_RUNS);
	r->tmpfs_wr = median(tw, SIZE_RUNS);
	r->tmpfs_ow = median(to, SIZE_RUNS);
	for (k = 0; k < 4; k++)
		r->arc[k] = median(arc[k], SIZE_RUNS);
	printf("# state %u MiB: save %.0f MiB/s = %.2f x tmpfs read %.0f MiB/s\n",
	       r->mb, r->save / 1048576, r->save / r->tmpfs_rd,
	       r->tmpfs_rd / 1048576);
	printf("# state %u MiB: resume %.0f MiB/s = %.2f x tmpfs write %.0f MiB/s",
	       r->mb, r->resume / 1048576, r->resume / r->tmpfs_wr,
	       r->tmpfs_wr / 1048576);
	printf(" = %.2f x tmpfs overwrite %.0f MiB/s\n", r->resume / r->tmpfs_ow,
	       r->tmpfs_ow / 1048576);
	printf("# state %u MiB: arcs (ms)", r->mb);
	for (k = 0; k < 4; k++)
		printf(" %s=%.3f", arc_names[k], r->arc[k] * 1e3);
	printf("\n# state %u MiB: while %lu bytes moved: ", r->mb, (unsigned long)n);
	printf("MemAvailable -%ld KiB at most, Slab +%ld KiB at most\n",
	       r->mem_kib, r->slab_kib);
}

/* "64M", "1G": a size as the summary line names it */
static const char *size_name(unsigned int mb)
{
	static char names[MAX_SIZES][16];
	static int next;
	char *n = names[next++ % MAX_SIZES];

	if (mb % 1024)
		snprintf(n, sizeof(names[0]), "%uM", mb);
	else
		snprintf(n, sizeof(names[0]), "%uG", mb / 1024);
	return n;
}

/*
 * make bench: mdv_bench [MB ...] (default 64 1024 4096). Needs a tmpfs at
 * $MDV_BENCH_TMPFS (default /tmp) with room for the largest size.
 */
int main(int argc, char **argv)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	struct size_result res[MAX_SIZES] = {}, *lo, *hi;
	const char *tmpdir = getenv("MDV_BENCH_TMPFS");
	int nsizes = 0, i, k, ret;
	struct vmig_dev src;
	long peak;
	uint8_t *buf;
	double mc;

	if (argc > 2 && !strcmp(argv[1], "arcs")) {
		size_mb = atoi(argv[2]);
		return bench_arcs(argc > 3 ? atoi(argv[3]) : 3);
	}
	for (i = 1; i < argc && nsizes < MAX_SIZES; i++)
		res[nsizes++].mb = atoi(argv[i]);
	if (!nsizes) {
		res[nsizes++].mb = 64;
		res[nsizes++].mb = 1024;
		res[nsizes++].mb = 4096;
	}
	if (!tmpdir)
		tmpdir = "/tmp";
	printf("TAP version 13\n1..1\n");
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		die("need two devices bound to mockdev-vfio-pci", ENODEV);
	buf = malloc(CHUNK);
	if (!buf)
		die("malloc", ENOMEM);
	memset(buf, 0x5a, CHUNK);
	printf("# bench: idle state, every latency knob 0, reads/writes of %d KiB,",
	       CHUNK >> 10);
	printf(" medians of %d runs; only the read() and write() calls are timed\n",
	       SIZE_RUNS);
	for (i = 0; i < nsizes; i++)
		bench_size(bdfs, &res[i], tmpdir, buf);
	free(buf);
	for (i = 0; i < 2; i++)
		mdvt_param_u32(bdfs[i], "state_size_mb", 1);
	mc = memcpy_rate(1ULL << 30);
	printf("# memcpy through a 1 MiB buffer, 1 GiB: %.0f MiB/s (context)\n",
	       mc / 1048576);

	/* the summary: largest size against smallest, and each against tmpfs */
	lo = &res[0];
	hi = &res[nsizes - 1];
	printf("bench: arcs %u MiB / %u MiB:", hi->mb, lo->mb);
	for (k = 0; k < 4; k++)
		printf(" %s %.2fx", arc_names[k], hi->arc[k] / lo->arc[k]);
	printf(" (target <= 1.5)\n");
	printf("bench: of tmpfs:");
	for (i = 0; i < nsizes; i++)
		printf(" %u MiB save/read %.2f resume/write %.2f resume/overwrite %.2f%s",
		       res[i].mb, res[i].save / res[i].tmpfs_rd,
		       res[i].resume / res[i].tmpfs_wr, res[i].resume / res[i].tmpfs_ow,
		       i + 1 < nsizes ? "," : "");
	printf(" (target >= 0.8 at 1 and 4 GiB)\n");
	printf("bench: memory while moving the state:");
	for (i = 0; i < nsizes; i++)
		printf(" %u MiB %ld KiB%s", res[i].mb, res[i].mem_kib,
		       i + 1 < nsizes ? "," : "");
	printf(" (MemAvailable drop; one record is %d KiB)\n",
	       (int)(MDV_IMAGE_BYTES(MDV_IMAGE_PAGES, 4096) >> 10));

	/*
	 * The one line: at the middle size (1 GiB by default) and the
	 * largest, against tmpfs; the freeze with a session and the
	 * destination's finish at every size; the largest memory drop.
	 */
	lo = &res[nsizes > 1 ? nsizes - 2 : 0];
	printf("bench: save %.2fx tmpfs-read, resume %.2fx tmpfs-write at %s",
	       lo->save / lo->tmpfs_rd, lo->resume / lo->tmpfs_wr, size_name(lo->mb));
	printf(" (%.2f/%.2f at %s); freeze arc", hi->save / hi->tmpfs_rd,
	       hi->resume / hi->tmpfs_wr, size_name(hi->mb));
	for (i = 0; i < nsizes; i++)
		printf("%s%s", i ? "/" : " ", size_name(res[i].mb));
	for (i = 0; i < nsizes; i++)
		printf("%s%.0f", i ? "/" : " ", res[i].arc[1] * 1e6);
	printf(" us; resume-finish");
	for (i = 0; i < nsizes; i++)
		printf("%s%s", i ? "/" : " ", size_name(res[i].mb));
	for (i = 0; i < nsizes; i++)
		printf("%s%.0f", i ? "/" : " ", res[i].arc[3] * 1e6);
	for (i = 0, peak = 0; i < nsizes; i++)
		if (res[i].mem_kib > peak)
			peak = res[i].mem_kib;
	printf(" us; peak extra memory %ld KiB\n", peak);

	/* context at 1 MiB of state: every non-data arc, DMA logging reports */
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
	bench_report(bdfs[0]);
	printf("ok 1 mdv_bench\n");
	return 0;
}
