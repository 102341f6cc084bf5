// SPDX-License-Identifier: GPL-2.0
/*
 * Data path: streams saved on one device resume on another with the same
 * digest, whatever the segmentation; PRE_COPY counters are exact; dirtied
 * state travels in DIRTY records; MIG_DATA_SIZE predicts STOP_COPY exactly;
 * a stopped device never changes.
 */
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
/* record sizes: include/mockdev/mdv_stream.h; the mock's page is 4 KiB */
#define PG 4096
#define DIRTY_REC_OVERHEAD MDV_DIRTY_BYTES(0, PG)
#define DIRTY_PAGE_BYTES (MDV_DIRTY_BYTES(1, PG) - MDV_DIRTY_BYTES(0, PG))

FIXTURE(data) {
	char bdf[2][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
};

FIXTURE_SETUP(data)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];

	self->src.fd = -1;
	self->dst.fd = -1;
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		SKIP(return, "need two functions bound to mockdev-vfio-pci");
	snprintf(self->bdf[0], sizeof(self->bdf[0]), "%s", bdfs[0]);
	snprintf(self->bdf[1], sizeof(self->bdf[1]), "%s", bdfs[1]);
}

FIXTURE_TEARDOWN(data)
{
	if (self->src.fd >= 0)
		vmig_close(&self->src);
	if (self->dst.fd >= 0)
		vmig_close(&self->dst);
}

static void setup_pair(struct __test_metadata *_metadata,
		       FIXTURE_DATA(data) *self, unsigned int size_mb,
		       unsigned int src_rate)
{
	int i;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, mdvt_param(self->bdf[i], "p2p", "true"));
		ASSERT_EQ(0, mdvt_param(self->bdf[i], "precopy", "true"));
		ASSERT_EQ(0, mdvt_param_u32(self->bdf[i], "state_size_mb", size_mb));
		ASSERT_EQ(0, mdvt_param_u32(self->bdf[i], "dirty_rate",
					    i ? 0 : src_rate));
	}
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
}

static void check_migrate(struct __test_metadata *_metadata,
			  FIXTURE_DATA(data) *self, unsigned int size_mb,
			  size_t chunk, unsigned int seed)
{
	uint64_t predicted, before;
	int sfd, dfd;
	int64_t n;
	double t;

	setup_pair(_metadata, self, size_mb, 0);
	before = mdvt_digest(self->bdf[1]);
	EXPECT_NE(mdvt_digest(self->bdf[0]), before);

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_data_size(&self->src, &predicted));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	t = vmig_now();
	n = vmig_pipe(sfd, dfd, chunk, seed, false);
	t = vmig_now() - t;
	ASSERT_EQ((int64_t)predicted, n);
	close(sfd);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
	TH_LOG("%u MiB: %ld bytes in %.2f s (%.0f MiB/s), chunks %s%zu",
	       size_mb, (long)n, t, n / t / 1048576, seed ? "1.." : "", chunk);
}

TEST_F(data, migrate_1m_random_segments)
{
	check_migrate(_metadata, self, 1, 1 << 20, 42);
}

TEST_F(data, migrate_64m_random_segments)
{
	check_migrate(_metadata, self, 64, 1 << 20, 7);
}

TEST_F_TIMEOUT(data, migrate_1g, 1200)
{
	check_migrate(_metadata, self, 1024, 1 << 20, 0);
}

TEST_F(data, one_byte_writes)
{
	uint8_t *buf;
	int64_t len, off;
	int sfd, dfd;
	unsigned int seed = 1;

	setup_pair(_metadata, self, 1, 0);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	len = vmig_read_stream(sfd, &buf);
	close(sfd);
	ASSERT_LT(65536, len);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	/* every record boundary of the first 64 KiB cut byte by byte */
	for (off = 0; off < 65536; off++)
		ASSERT_EQ(1, write(dfd, buf + off, 1));
	while (off < len) {
		size_t w = 1 + rand_r(&seed) % 8192;

		if (w > (size_t)(len - off))
			w = len - off;
		ASSERT_EQ((ssize_t)w, write(dfd, buf + off, w));
		off += w;
	}
	free(buf);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

TEST_F(data, data_size_is_exact_in_every_state)
{
	static const uint32_t states[] = { S(RUNNING), S(RUNNING_P2P),
					   S(STOP), S(PRE_COPY) };
	uint64_t predicted, rest;
	unsigned int i;
	uint8_t *buf;
	int64_t n;
	int fd;

	setup_pair(_metadata, self, 2, 0);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		fd = -1;
		ASSERT_EQ(0, vmig_set_state(&self->src, states[i], &fd));
		ASSERT_EQ(0, vmig_data_size(&self->src, &predicted));
		if (fd >= 0)
			close(fd);
		ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
		ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &fd));
		n = vmig_read_stream(fd, &buf);
		free(buf);
		close(fd);
		EXPECT_EQ((int64_t)predicted, n)
			TH_LOG("in %s", vmig_state_name(states[i]));
		ASSERT_EQ(0, vmig_set_state(&self->src, S(RUNNING), NULL));
	}
	/* and mid-stream it is the remainder */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &fd));
	buf = malloc(12345);
	ASSERT_EQ(12345, read(fd, buf, 12345));
	ASSERT_EQ(0, vmig_data_size(&self->src, &rest));
	EXPECT_EQ(predicted - 12345, rest);
	free(buf);
	close(fd);
}

TEST_F(data, precopy_counters_exact_when_idle)
{
	uint64_t init, dirty, prev, size, total = 0;
	unsigned int seed = 3;
	uint8_t buf[65536];
	int sfd, dfd;
	ssize_t n;

	setup_pair(_metadata, self, 4, 0);
	ASSERT_EQ(0, vmig_data_size(&self->src, &size));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
	EXPECT_EQ(size - MDV_END_BYTES, init);
	EXPECT_EQ(0, dirty);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	prev = init;
	while (prev) {
		n = read(sfd, buf, 1 + rand_r(&seed) % sizeof(buf));
		ASSERT_LT(0, n);
		ASSERT_EQ(n, write(dfd, buf, n));
		total += n;
		ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
		ASSERT_EQ(prev - n, init);
		ASSERT_EQ(0, dirty);
		prev = init;
	}
	/* nothing left for now: ENOMSG, not 0 */
	EXPECT_EQ(-1, read(sfd, buf, sizeof(buf)));
	EXPECT_EQ(ENOMSG, errno);
	ASSERT_EQ(0, vmig_data_size(&self->src, &size));
	EXPECT_EQ(MDV_END_BYTES, size);

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	n = vmig_pipe(sfd, dfd, 4096, 0, false);
	EXPECT_EQ((int64_t)MDV_END_BYTES, n);
	/* the true end: 0, and it stays 0 */
	EXPECT_EQ(0, read(sfd, buf, sizeof(buf)));
	close(sfd);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

TEST_F(data, precopy_dirty_grows_drains_and_travels)
{
	uint64_t init, dirty, d2, k;
	uint8_t buf[65536];
	int sfd, dfd;
	int64_t n;

	setup_pair(_metadata, self, 1, 0);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	n = vmig_pipe(sfd, dfd, sizeof(buf), 0, true);
	ASSERT_LT(0, n);
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
	ASSERT_EQ(0, init);
	ASSERT_EQ(0, dirty);

	/* pages changed behind the cursor: exactly their DIRTY records */
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "10"));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
	EXPECT_EQ(0, init);
	k = (dirty - DIRTY_REC_OVERHEAD) / DIRTY_PAGE_BYTES;
	EXPECT_TRUE(k >= 1 && k <= 10);
	EXPECT_EQ(MDV_DIRTY_BYTES(k, PG), dirty);

	/* a running device keeps dirtying */
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "50"));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &d2));
	EXPECT_LT(dirty, d2);

	n = vmig_pipe(sfd, dfd, 1000, 0, true);
	EXPECT_EQ((int64_t)d2, n);
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
	EXPECT_EQ(0, dirty);

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	ASSERT_LT(0, vmig_pipe(sfd, dfd, sizeof(buf), 0, false));
	close(sfd);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

TEST_F_TIMEOUT(data, live_migration_while_dirtying, 300)
{
	uint64_t init, dirty;
	int sfd, dfd, round;
	int64_t n;

	setup_pair(_metadata, self, 16, 5000);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	for (round = 0; round < 3; round++) {
		n = vmig_pipe(sfd, dfd, 1 << 20, 0, true);
		ASSERT_LE(0, n);
		usleep(100000);
		ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
		EXPECT_EQ(0, init);
		TH_LOG("round %d: %ld bytes, now dirty %lu", round, (long)n,
		       (unsigned long)dirty);
	}
	EXPECT_LT(0, dirty);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	ASSERT_LT(0, vmig_pipe(sfd, dfd, 1 << 20, 0, false));
	close(sfd);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

/*
 * The END record's digest is the one the source keeps current as pages
 * change; debugfs's is recomputed from every page. After pages were
 * rewritten during PRE_COPY they must agree: a rewrite the bookkeeping
 * missed would send a digest of a state that no longer exists.
 */
TEST_F(data, end_digest_is_the_state_recomputed)
{
	struct mdv_rec_end end;
	uint8_t *rest;
	int sfd, null;
	int64_t n;

	setup_pair(_metadata, self, 16, 5000);
	null = open("/dev/null", O_WRONLY);
	ASSERT_LE(0, null);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_LT(0, vmig_pipe(sfd, null, 1 << 20, 0, true));
	usleep(200000);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	n = vmig_read_stream(sfd, &rest);
	close(sfd);
	close(null);
	/* DIRTY records came: pages were rewritten behind the cursor */
	ASSERT_LT((int64_t)MDV_DIRTY_BYTES(1, PG) + (int64_t)MDV_END_BYTES, n);
	memcpy(&end, rest + n - sizeof(end), sizeof(end));
	free(rest);
	EXPECT_EQ(mdvt_digest(self->bdf[0]), le64toh(end.digest));
}

TEST_F(data, stop_freezes_state)
{
	uint64_t a, b;

	setup_pair(_metadata, self, 1, 20000);
	a = mdvt_digest(self->bdf[0]);
	usleep(100000);
	b = mdvt_digest(self->bdf[0]);
	EXPECT_NE(a, b) TH_LOG("a running device with dirty_rate changes");

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	a = mdvt_digest(self->bdf[0]);
	usleep(100000);
	EXPECT_EQ(a, mdvt_digest(self->bdf[0]));
	EXPECT_EQ(-EBUSY, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "1"));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(RUNNING_P2P), NULL));
	usleep(100000);
	EXPECT_NE(a, mdvt_digest(self->bdf[0])) TH_LOG("P2P states still run");
}

TEST_F(data, precopy_restart_is_a_clean_session)
{
	uint64_t init1, init2, dirty;
	uint8_t buf[4096];
	int fd1, fd2;

	setup_pair(_metadata, self, 1, 0);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &fd1));
	ASSERT_EQ(0, vmig_precopy_info(fd1, &init1, &dirty));
	ASSERT_EQ(sizeof(buf), read(fd1, buf, sizeof(buf)));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(RUNNING), NULL));
	EXPECT_EQ(-1, read(fd1, buf, sizeof(buf)));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &fd2));
	ASSERT_EQ(0, vmig_precopy_info(fd2, &init2, &dirty));
	EXPECT_EQ(init1, init2);
	EXPECT_EQ(0, dirty);
	close(fd1);
	close(fd2);
}

/*
 * vfio.h: at the permanent end of a saving stream poll() always returns
 * readable, and read() returns 0. A reader that knows the length
 * (MIG_DATA_SIZE) stops right after END's last byte, never asking for
 * more; poll() must already say readable then, or an event loop waits for
 * ever.
 */
TEST_F(data, poll_readable_at_true_end)
{
	static const size_t chunks[] = { 4095, 65536, 1 << 20 };
	struct pollfd pfd = { .events = POLLIN };
	uint64_t predicted, total;
	unsigned int i;
	uint8_t *buf;
	ssize_t n;
	int fd;

	setup_pair(_metadata, self, 1, 0);
	buf = malloc(1 << 20);
	ASSERT_NE(NULL, buf);
	/* read sizes that end on END's last byte, however they fall */
	for (i = 0; i < ARRAY_SIZE(chunks); i++) {
		ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
		ASSERT_EQ(0, vmig_data_size(&self->src, &predicted));
		ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &fd));
		pfd.fd = fd;
		for (total = 0; total < predicted; total += n) {
			size_t want = chunks[i];

			if (want > predicted - total)
				want = predicted - total;
			n = read(fd, buf, want);
			ASSERT_LT(0, n) TH_LOG("at %lu of %lu",
					       (unsigned long)total,
					       (unsigned long)predicted);
		}
		ASSERT_EQ(predicted, total);
		pfd.revents = 0;
		EXPECT_EQ(1, poll(&pfd, 1, 0))
			TH_LOG("reads of %zu: poll right after END's last byte",
			       chunks[i]);
		EXPECT_TRUE(pfd.revents & POLLIN) TH_LOG("revents %#x",
							 pfd.revents);
		EXPECT_EQ(0, read(fd, buf, 1 << 20));
		/* and it stays so */
		pfd.revents = 0;
		EXPECT_EQ(1, poll(&pfd, 1, 0));
		EXPECT_TRUE(pfd.revents & POLLIN);
		close(fd);
		ASSERT_EQ(0, vmig_set_state(&self->src, S(RUNNING), NULL));
	}
	free(buf);
}

/*
 * PRE_COPY counters and MIG_DATA_SIZE are exact after every read, however
 * the reads fall: inside a record header, inside a small record, inside a
 * DIRTY record. The bytes go on to a destination, which must load them.
 */
static void read_step(struct __test_metadata *_metadata,
		      FIXTURE_DATA(data) *self, int sfd, int dfd, size_t want,
		      uint64_t *initial, uint64_t *dirty)
{
	uint64_t init, d, size;
	uint8_t buf[8192];
	ssize_t n;

	ASSERT_GE(sizeof(buf), want);
	n = read(sfd, buf, want);
	ASSERT_LT(0, n) TH_LOG("read %zu: %s", want, strerror(errno));
	ASSERT_EQ(n, write(dfd, buf, n)) TH_LOG("write: %s", strerror(errno));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &d));
	ASSERT_EQ(*initial + *dirty - n, init + d)
		TH_LOG("read %zd: initial %lu dirty %lu, were %lu %lu", n,
		       (unsigned long)init, (unsigned long)d,
		       (unsigned long)*initial, (unsigned long)*dirty);
	ASSERT_EQ(0, vmig_data_size(&self->src, &size));
	ASSERT_EQ(init + d + MDV_END_BYTES, size);
	*initial = init;
	*dirty = d;
}

TEST_F(data, counters_exact_mid_record)
{
	uint64_t init, dirty, was_dirty;
	unsigned int seed = 9, i;
	uint8_t b;
	int sfd, dfd;

	setup_pair(_metadata, self, 1, 0);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
	/* byte by byte through HEADER, META and the first IMAGE's header */
	for (i = 0; init; i++) {
		read_step(_metadata, self, sfd, dfd,
			  i < 120 ? 1 : 1 + rand_r(&seed) % 8192, &init, &dirty);
		ASSERT_EQ(0, dirty);
	}
	EXPECT_EQ(-1, read(sfd, &b, 1));
	EXPECT_EQ(ENOMSG, errno);

	/* pages rewritten behind the cursor: a DIRTY record, byte by byte */
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "3"));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &init, &dirty));
	ASSERT_EQ(0, init);
	ASSERT_LT(0, dirty);
	for (i = 0; dirty; i++) {
		was_dirty = dirty;
		read_step(_metadata, self, sfd, dfd,
			  i < 40 ? 1 : 1 + rand_r(&seed) % 8192, &init, &dirty);
		ASSERT_EQ(0, init);
		ASSERT_GT(was_dirty, dirty);
	}

	/* END in 3-byte reads */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	EXPECT_EQ((int64_t)MDV_END_BYTES, vmig_pipe(sfd, dfd, 3, 0, false));
	close(sfd);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

/* The seed knob makes the content: a new seed new content, the old one back */
TEST_F(data, seed_knob_changes_content)
{
	char params[1024], *p;
	unsigned int old;
	uint64_t a, b;

	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "state_size_mb", 1));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "dirty_rate", 0));
	ASSERT_EQ(0, mdvt_dbg_read(self->bdf[0], "params", params,
				   sizeof(params)));
	p = strstr(params, "\nseed ");
	ASSERT_NE(NULL, p);
	old = strtoul(p + strlen("\nseed "), NULL, 0);
	a = mdvt_digest(self->bdf[0]);
	ASSERT_NE(0, a);
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "seed", old + 1));
	b = mdvt_digest(self->bdf[0]);
	EXPECT_NE(a, b) TH_LOG("seed %u -> %u: same content", old, old + 1);
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "seed", old));
	EXPECT_EQ(a, mdvt_digest(self->bdf[0]));
}

TEST_HARNESS_MAIN
