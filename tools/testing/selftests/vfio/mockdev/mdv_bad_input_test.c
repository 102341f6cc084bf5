// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input gets a clear errno and loses nothing: invalid states, ioctls on
 * the wrong FD or in the wrong state, short argsz, corrupted, truncated,
 * reordered, foreign, replayed and spliced streams, FDs used after reset or
 * close, unbind and rmmod with a session open, injected data faults.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define HDR sizeof(struct mdv_rec_hdr)
#define HEADER_REC (HDR + sizeof(struct mdv_rec_header))
#define META_REC (HDR + sizeof(struct mdv_rec_meta))
#define IMAGE_REC (HDR + sizeof(struct mdv_rec_image) + MDV_IMAGE_PAGES * 4096)

FIXTURE(bad) {
	char bdf[2][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
	uint8_t *stream;
	int64_t len;
	uint64_t src_digest, dst_pristine;
};

FIXTURE_SETUP(bad)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int i, fd;

	self->src.fd = -1;
	self->dst.fd = -1;
	self->stream = NULL;
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		SKIP(return, "need two functions bound to mockdev-vfio-pci");
	for (i = 0; i < 2; i++) {
		snprintf(self->bdf[i], sizeof(self->bdf[i]), "%s", bdfs[i]);
		ASSERT_EQ(0, mdvt_param(bdfs[i], "p2p", "true"));
		ASSERT_EQ(0, mdvt_param(bdfs[i], "precopy", "true"));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "state_size_mb", 2));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "dirty_rate", 0));
	}
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
	self->dst_pristine = mdvt_digest(self->bdf[1]);
	/* a valid 2 MiB stream: HEADER META IMAGE IMAGE END */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &fd));
	self->len = vmig_read_stream(fd, &self->stream);
	close(fd);
	ASSERT_EQ(HEADER_REC + META_REC + 2 * IMAGE_REC + HDR +
		  sizeof(struct mdv_rec_end), self->len);
	self->src_digest = mdvt_digest(self->bdf[0]);
}

FIXTURE_TEARDOWN(bad)
{
	free(self->stream);
	if (self->src.fd >= 0)
		vmig_close(&self->src);
	if (self->dst.fd >= 0)
		vmig_close(&self->dst);
}

/*
 * Feed @buf to the destination. Returns the errno of the first failed
 * write (0 if all went in) in *werr and whether RESUMING -> RUNNING then
 * worked. A rejected destination must be in ERROR, then reset to RUNNING
 * with its own pristine state.
 */
static int load(struct __test_metadata *_metadata, FIXTURE_DATA(bad) *self,
		const uint8_t *buf, size_t len, int *werr)
{
	uint32_t st;
	int fd, ret;
	int64_t n;

	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &fd));
	n = vmig_write_all(fd, buf, len, 100000);
	*werr = n < 0 ? (int)-n : 0;
	ret = vmig_set_state(&self->dst, S(RUNNING), NULL);
	ASSERT_EQ(0, vmig_get_state(&self->dst, &st));
	if (ret) {
		EXPECT_EQ(S(ERROR), st);
		EXPECT_EQ(-1, write(fd, buf, 1));
		EXPECT_EQ(ENODEV, errno);
		ASSERT_EQ(0, vmig_reset(&self->dst));
		ASSERT_EQ(0, vmig_get_state(&self->dst, &st));
		EXPECT_EQ(S(RUNNING), st);
		EXPECT_EQ(self->dst_pristine, mdvt_digest(self->bdf[1]));
	} else {
		EXPECT_EQ(S(RUNNING), st);
		EXPECT_EQ(self->src_digest, mdvt_digest(self->bdf[1]));
	}
	close(fd);
	return ret;
}

TEST_F(bad, valid_stream_loads)
{
	int werr;

	EXPECT_EQ(0, load(_metadata, self, self->stream, self->len, &werr));
	EXPECT_EQ(0, werr);
}

TEST_F(bad, invalid_states_rejected)
{
	static const uint32_t bogus[] = { S(ERROR), 8, 100, 0xffffffff };
	unsigned int i;
	uint32_t st;

	for (i = 0; i < ARRAY_SIZE(bogus); i++) {
		EXPECT_EQ(-EINVAL, vmig_set_state(&self->dst, bogus[i], NULL));
		ASSERT_EQ(0, vmig_get_state(&self->dst, &st));
		EXPECT_EQ(S(RUNNING), st);
	}
}

TEST_F(bad, precopy_info_misuse)
{
	struct vfio_precopy_info info;
	int fd, rfd;

	ASSERT_EQ(0, vmig_set_state(&self->dst, S(PRE_COPY), &fd));
	memset(&info, 0xff, sizeof(info));
	info.argsz = sizeof(info);
	ASSERT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(0, info.flags) TH_LOG("flags must not echo user input");
	info.argsz = 8;
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_EQ(ENOTTY, errno);
	/* outside PRE_COPY states */
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(STOP_COPY), NULL));
	info.argsz = sizeof(info);
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	close(fd);
	/* and on a resuming FD there is no such ioctl */
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	EXPECT_EQ(-1, ioctl(rfd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(ENOTTY, errno);
	close(rfd);
}

TEST_F(bad, wrong_direction_and_seek)
{
	uint8_t b[16];
	int sfd, rfd;

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_LE(0, sfd);
	EXPECT_EQ(-1, write(sfd, b, sizeof(b)));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, pread(sfd, b, sizeof(b), 0));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, lseek(sfd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	EXPECT_EQ(-1, read(rfd, b, sizeof(b)));
	EXPECT_EQ(EBADF, errno);
	close(sfd);
	close(rfd);
}

TEST_F(bad, short_argsz_on_feature)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_mig_state s;
	} arg = {};

	arg.f.argsz = sizeof(arg.f) + 4;
	arg.f.flags = VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	arg.s.device_state = S(STOP);
	EXPECT_EQ(-1, ioctl(self->dst.fd, VFIO_DEVICE_FEATURE, &arg));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(bad, corrupt_magic)
{
	uint8_t *b = malloc(self->len);
	int werr;

	memcpy(b, self->stream, self->len);
	b[HDR] ^= 1;
	EXPECT_NE(0, load(_metadata, self, b, self->len, &werr));
	EXPECT_EQ(EINVAL, werr);
	free(b);
}

TEST_F(bad, corrupt_page_caught_by_digest)
{
	uint8_t *b = malloc(self->len);
	int werr;

	memcpy(b, self->stream, self->len);
	b[HEADER_REC + META_REC + IMAGE_REC + 5000] ^= 0x80;
	EXPECT_EQ(-EINVAL, load(_metadata, self, b, self->len, &werr));
	EXPECT_EQ(0, werr);
	free(b);
}

/*
 * Two whole pages of one IMAGE record trade places: every byte is a byte the
 * source sent, only its position is wrong. The digest binds each page to
 * its index, so this must fail as a changed page does.
 */
TEST_F(bad, moved_pages_caught_by_digest)
{
	size_t p0 = HEADER_REC + META_REC + HDR + sizeof(struct mdv_rec_image);
	uint8_t *b = malloc(self->len);
	int werr;

	memcpy(b, self->stream, self->len);
	memcpy(b + p0, self->stream + p0 + 4096, 4096);
	memcpy(b + p0 + 4096, self->stream + p0, 4096);
	ASSERT_NE(0, memcmp(b, self->stream, self->len));
	EXPECT_EQ(-EINVAL, load(_metadata, self, b, self->len, &werr));
	EXPECT_EQ(0, werr);
	free(b);
}

TEST_F(bad, truncated)
{
	int werr;

	EXPECT_EQ(-EINVAL, load(_metadata, self, self->stream, self->len - 8,
				&werr));
	EXPECT_EQ(0, werr);
	EXPECT_EQ(-EINVAL, load(_metadata, self, self->stream,
				HEADER_REC + META_REC + IMAGE_REC, &werr));
}

TEST_F(bad, reordered_images)
{
	uint8_t *b = malloc(self->len);
	size_t i1 = HEADER_REC + META_REC;
	int werr;

	memcpy(b, self->stream, self->len);
	memcpy(b + i1, self->stream + i1 + IMAGE_REC, IMAGE_REC);
	memcpy(b + i1 + IMAGE_REC, self->stream + i1, IMAGE_REC);
	EXPECT_NE(0, load(_metadata, self, b, self->len, &werr));
	EXPECT_EQ(EINVAL, werr);
	free(b);
}

TEST_F(bad, replayed_stream)
{
	uint8_t *b = malloc(2 * self->len);
	int werr;

	memcpy(b, self->stream, self->len);
	memcpy(b + self->len, self->stream, self->len);
	EXPECT_NE(0, load(_metadata, self, b, 2 * self->len, &werr));
	EXPECT_EQ(EINVAL, werr);
	free(b);
}

TEST_F(bad, spliced_sessions)
{
	uint8_t *other, *b = malloc(self->len);
	int64_t olen;
	int fd, werr;

	/* a second session of the same device: same state, new session id */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &fd));
	olen = vmig_read_stream(fd, &other);
	close(fd);
	ASSERT_EQ(self->len, olen);
	memcpy(b, self->stream, self->len);
	memcpy(b + self->len - sizeof(struct mdv_rec_end),
	       other + olen - sizeof(struct mdv_rec_end),
	       sizeof(struct mdv_rec_end));
	EXPECT_NE(0, load(_metadata, self, b, self->len, &werr));
	EXPECT_EQ(EINVAL, werr);
	free(other);
	free(b);
}

TEST_F(bad, foreign_config)
{
	int64_t n;
	int fd;

	vmig_close(&self->dst);
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[1], "state_size_mb", 3));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
	self->dst_pristine = mdvt_digest(self->bdf[1]);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &fd));
	n = vmig_write_all(fd, self->stream, self->len, 4096);
	EXPECT_EQ(-EINVAL, n);
	/* sticky: the rest of the stream is refused too */
	EXPECT_EQ(-1, write(fd, self->stream, 16));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, vmig_set_state(&self->dst, S(STOP), NULL));
	close(fd);
	ASSERT_EQ(0, vmig_reset(&self->dst));
}

static void insert_record(struct __test_metadata *_metadata,
			  FIXTURE_DATA(bad) *self, uint32_t flags,
			  int expect_werr)
{
	size_t at = HEADER_REC + META_REC, extra = HDR + 100;
	uint8_t *b = calloc(1, self->len + extra);
	struct mdv_rec_hdr h = { .size = 100, .flags = flags, .tag = 99 };
	int werr, ret;

	memcpy(b, self->stream, at);
	memcpy(b + at, &h, sizeof(h));
	memcpy(b + at + extra, self->stream + at, self->len - at);
	ret = load(_metadata, self, b, self->len + extra, &werr);
	EXPECT_EQ(expect_werr, werr);
	EXPECT_EQ(expect_werr ? -EINVAL : 0, ret);
	free(b);
}

TEST_F(bad, unknown_optional_record_skipped)
{
	insert_record(_metadata, self, MDV_REC_F_OPTIONAL, 0);
}

TEST_F(bad, unknown_mandatory_record_rejected)
{
	insert_record(_metadata, self, 0, EINVAL);
}

TEST_F(bad, fds_dead_after_reset)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	uint8_t b[64];
	int sfd, rfd;

	ASSERT_EQ(0, vmig_set_state(&self->src, S(RUNNING), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	ASSERT_EQ(0, vmig_reset(&self->src));
	ASSERT_EQ(0, vmig_reset(&self->dst));
	EXPECT_EQ(-1, read(sfd, b, sizeof(b)));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, ioctl(sfd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(rfd, self->stream, 64));
	EXPECT_EQ(ENODEV, errno);
	close(sfd);
	close(rfd);
	/* and a new migration works */
	EXPECT_EQ(0, vmig_migrate(&self->src, &self->dst, 1 << 20, 5));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

TEST_F(bad, injected_data_faults_lose_nothing)
{
	uint8_t *buf;
	int sfd, rfd;
	int64_t n;

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "fail_read", "1"));
	EXPECT_EQ(-1, read(sfd, &n, sizeof(n)));
	EXPECT_EQ(EIO, errno);
	n = vmig_read_stream(sfd, &buf);
	EXPECT_EQ(self->len, n);
	/* same bytes but for the session id in HEADER and END */
	EXPECT_EQ(0, memcmp(buf + HEADER_REC, self->stream + HEADER_REC,
			    n - HEADER_REC - sizeof(struct mdv_rec_end)));
	close(sfd);

	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[1], "fail_errno", "28"));
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[1], "fail_write", "1"));
	EXPECT_EQ(-1, write(rfd, buf, 100));
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(n, vmig_write_all(rfd, buf, n, 65536));
	close(rfd);
	EXPECT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(self->src_digest, mdvt_digest(self->bdf[1]));
	mdvt_dbg_write(self->bdf[1], "fail_errno", "5");
	free(buf);
}

TEST_F(bad, close_device_mid_session)
{
	uint8_t b[64];
	int sfd, rfd;

	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	ASSERT_EQ(sizeof(b), read(sfd, b, sizeof(b)));
	vmig_close(&self->src);
	vmig_close(&self->dst);
	EXPECT_EQ(-1, read(sfd, b, sizeof(b)));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, write(rfd, b, sizeof(b)));
	EXPECT_EQ(ENODEV, errno);
	close(sfd);
	close(rfd);
}

TEST_F(bad, unbind_and_rmmod_with_session_open)
{
	char path[256];
	uint8_t b[64];
	int sfd;

	ASSERT_EQ(0, vmig_set_state(&self->dst, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(STOP_COPY), &sfd));
	vmig_close(&self->dst);
	/* the data FD alone does not hold the binding... */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind",
		 self->bdf[1]);
	ASSERT_EQ(0, vmig_sysfs_write(path, self->bdf[1]));
	EXPECT_EQ(-1, read(sfd, b, sizeof(b)));
	EXPECT_EQ(ENODEV, errno);
	/* ...but it holds the module */
	EXPECT_EQ(-1, syscall(SYS_delete_module, "mockdev_vfio_pci", O_NONBLOCK));
	EXPECT_TRUE(errno == EWOULDBLOCK || errno == EBUSY);
	close(sfd);
	ASSERT_EQ(0, vmig_sysfs_write("/sys/bus/pci/drivers_probe", self->bdf[1]));
	snprintf(path, sizeof(path),
		 "/sys/bus/pci/drivers/mockdev-vfio-pci/%s", self->bdf[1]);
	EXPECT_EQ(0, access(path, F_OK)) TH_LOG("rebound");
}

/* ----- the debugfs knobs validate what they are given ----- */

static uint64_t dbg_u64(const char *bdf, const char *file)
{
	char v[64];

	if (mdvt_dbg_read(bdf, file, v, sizeof(v)))
		return ~0ULL;
	return strtoull(v, NULL, 0);
}

/* An errno is 1..MAX_ERRNO: 0 would make a failed read look like EOF. */
TEST_F(bad, fail_errno_range)
{
	static const char * const bogus[] = { "0", "4096", "4294967295" };
	const char *b = self->bdf[1];
	uint64_t old = dbg_u64(b, "fail_errno");
	unsigned int i;
	char v[24];

	ASSERT_NE(~0ULL, old);
	for (i = 0; i < ARRAY_SIZE(bogus); i++) {
		EXPECT_EQ(-EINVAL, mdvt_dbg_write(b, "fail_errno", bogus[i]))
			TH_LOG("fail_errno %s", bogus[i]);
		EXPECT_EQ(old, dbg_u64(b, "fail_errno"))
			TH_LOG("after writing %s", bogus[i]);
	}
	EXPECT_EQ(0, mdvt_dbg_write(b, "fail_errno", "4095"));
	EXPECT_EQ(4095, dbg_u64(b, "fail_errno"));
	snprintf(v, sizeof(v), "%lu", (unsigned long)old);
	ASSERT_EQ(0, mdvt_dbg_write(b, "fail_errno", v));
}

/*
 * dirty_now rewrites that many pages under the model's lock: a count past
 * the bound is refused before anything runs. The stopped source is asked
 * first: input is checked before the device's state, and this is what
 * keeps an unbounded driver from spinning on the running device below.
 */
TEST_F(bad, dirty_now_bounded)
{
	uint64_t d;

	ASSERT_EQ(-EINVAL, mdvt_dbg_write(self->bdf[0], "mock/dirty_now",
					  "1099511627776"))
		TH_LOG("a stopped device, a count of 2^40");
	EXPECT_EQ(-EINVAL, mdvt_dbg_write(self->bdf[0], "mock/dirty_now",
					  "16777217"));
	d = mdvt_digest(self->bdf[1]);
	EXPECT_EQ(-EINVAL, mdvt_dbg_write(self->bdf[1], "mock/dirty_now",
					  "1099511627776"))
		TH_LOG("a running device, a count of 2^40");
	EXPECT_EQ(d, mdvt_digest(self->bdf[1])) TH_LOG("nothing was rewritten");
	EXPECT_EQ(0, mdvt_dbg_write(self->bdf[1], "mock/dirty_now", "1"));
	EXPECT_NE(d, mdvt_digest(self->bdf[1]));
}

/*
 * dma_write issues the device writes one edu transfer at a time: a length
 * past 64 MiB is refused whole, on a running device (at an IOVA past edu's
 * DMA mask, where nothing could be written anyway) and on a stopped one.
 */
TEST_F(bad, dma_write_bounded)
{
	EXPECT_EQ(-EINVAL, mdvt_dbg_write(self->bdf[1], "mock/dma_write",
					  "fffff000 67112960"))
		TH_LOG("running, 64 MiB + 4 KiB");
	EXPECT_EQ(-EINVAL, mdvt_dbg_write(self->bdf[0], "mock/dma_write",
					  "0 1099511627776"))
		TH_LOG("stopped, 1 TiB");
}

/* ----- record headers: no unknown flag, no non-zero reserved field ----- */

static void corrupt_and_load(struct __test_metadata *_metadata,
			     FIXTURE_DATA(bad) *self, const uint8_t *stream,
			     size_t len, size_t off, uint32_t xor)
{
	uint8_t *b = malloc(len);
	uint32_t v;
	int werr;

	ASSERT_NE(NULL, b);
	memcpy(b, stream, len);
	memcpy(&v, b + off, sizeof(v));
	v ^= xor;
	memcpy(b + off, &v, sizeof(v));
	EXPECT_EQ(-EINVAL, load(_metadata, self, b, len, &werr))
		TH_LOG("stream offset %zu ^ %#x", off, xor);
	EXPECT_EQ(EINVAL, werr) TH_LOG("stream offset %zu ^ %#x", off, xor);
	free(b);
}

#define HDR_FLAGS offsetof(struct mdv_rec_hdr, flags)

TEST_F(bad, unknown_record_flag_rejected)
{
	/* flag bit 1 on HEADER, META and the first IMAGE record */
	corrupt_and_load(_metadata, self, self->stream, self->len,
			 HDR_FLAGS, 1U << 1);
	corrupt_and_load(_metadata, self, self->stream, self->len,
			 HEADER_REC + HDR_FLAGS, 1U << 1);
	corrupt_and_load(_metadata, self, self->stream, self->len,
			 HEADER_REC + META_REC + HDR_FLAGS, 1U << 31);
}

TEST_F(bad, unknown_optional_record_with_unknown_flag_rejected)
{
	insert_record(_metadata, self, MDV_REC_F_OPTIONAL | (1U << 1), EINVAL);
}

TEST_F(bad, header_reserved_rejected)
{
	corrupt_and_load(_metadata, self, self->stream, self->len,
			 HDR + offsetof(struct mdv_rec_header, reserved), 1);
}

/*
 * A stream with DIRTY records: PRE_COPY, all initial data, then pages
 * rewritten behind the cursor, then STOP_COPY to the end. Collected in a
 * memfd; the source ends stopped and self->src_digest is its final state.
 */
static int64_t dirty_stream(struct __test_metadata *_metadata,
			    FIXTURE_DATA(bad) *self, uint8_t **out)
{
	int sfd, mfd;
	int64_t len;
	uint8_t *b;

	mfd = memfd_create("mdv-stream", 0);
	if (mfd < 0)
		return -errno;
	if (vmig_set_state(&self->src, S(RUNNING), NULL) ||
	    vmig_set_state(&self->src, S(PRE_COPY), &sfd))
		return -EIO;
	if (vmig_pipe(sfd, mfd, 1 << 20, 0, true) <= 0 ||
	    mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "8") ||
	    vmig_pipe(sfd, mfd, 1 << 20, 0, true) <= 0 ||
	    vmig_set_state(&self->src, S(STOP_COPY), NULL) ||
	    vmig_pipe(sfd, mfd, 1 << 20, 0, false) <= 0)
		return -EIO;
	close(sfd);
	self->src_digest = mdvt_digest(self->bdf[0]);
	len = lseek(mfd, 0, SEEK_END);
	b = malloc(len);
	if (!b || pread(mfd, b, len, 0) != len)
		return -EIO;
	close(mfd);
	*out = b;
	return len;
}

/* Offset of the first record with @tag in @b, or 0 */
static size_t find_record(const uint8_t *b, size_t len, uint32_t tag)
{
	struct mdv_rec_hdr h;
	size_t off = 0;

	while (off + HDR <= len) {
		memcpy(&h, b + off, HDR);
		if (h.tag == tag)
			return off;
		off += HDR + h.size;
	}
	return 0;
}

TEST_F(bad, dirty_reserved_rejected)
{
	uint8_t *b;
	int64_t len;
	size_t at;
	int werr;

	len = dirty_stream(_metadata, self, &b);
	ASSERT_LT(0, len);
	at = find_record(b, len, MDV_TAG_DIRTY);
	ASSERT_NE(0, at) TH_LOG("no DIRTY record in a %ld byte stream",
				(long)len);
	/* as saved, it loads */
	EXPECT_EQ(0, load(_metadata, self, b, len, &werr));
	EXPECT_EQ(0, werr);
	corrupt_and_load(_metadata, self, b, len,
			 at + HDR + offsetof(struct mdv_rec_dirty, reserved), 1);
	free(b);
}

/*
 * A user buffer that ends in an unmapped page: write() takes what it could
 * copy and returns that count, as a pipe would; the user writes the rest
 * and nothing is lost. The fault falls right after a record header, where
 * the next bytes the device needs are an IMAGE record's prefix.
 */
TEST_F(bad, fault_after_record_header_is_partial)
{
	const size_t cut = HEADER_REC + META_REC + HDR;
	long pg = sysconf(_SC_PAGESIZE);
	uint32_t st;
	uint8_t *m;
	ssize_t n;
	int fd, ret;

	m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, munmap(m + pg, pg));
	memcpy(m + pg - cut, self->stream, cut);

	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &fd));
	n = write(fd, m + pg - cut, cut + 4096);
	EXPECT_EQ((ssize_t)cut, n) TH_LOG("write: %zd (%s)", n,
					  n < 0 ? strerror(errno) : "partial");
	if (n > 0)
		EXPECT_EQ(self->len - n, vmig_write_all(fd, self->stream + n,
							self->len - n, 100000));
	ret = vmig_set_state(&self->dst, S(RUNNING), NULL);
	EXPECT_EQ(0, ret);
	close(fd);
	ASSERT_EQ(0, vmig_get_state(&self->dst, &st));
	if (ret) {
		EXPECT_EQ(S(ERROR), st);
		ASSERT_EQ(0, vmig_reset(&self->dst));
	} else {
		EXPECT_EQ(S(RUNNING), st);
		EXPECT_EQ(self->src_digest, mdvt_digest(self->bdf[1]));
	}
	munmap(m, pg);
}

/*
 * The device's migration_flags are what a VMM read when it opened the
 * device and planned its migration: they must not change under it.
 */
TEST_F(bad, migration_flags_frozen_while_open)
{
	static const char * const knobs[] = { "p2p", "precopy" };
	uint64_t before, after;
	unsigned int i;

	ASSERT_EQ(0, vmig_mig_flags(&self->dst, &before));
	ASSERT_TRUE(before & VFIO_MIGRATION_P2P);
	ASSERT_TRUE(before & VFIO_MIGRATION_PRE_COPY);
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		EXPECT_NE(0, mdvt_param(self->bdf[1], knobs[i], "false"))
			TH_LOG("%s changed with the device open", knobs[i]);
		ASSERT_EQ(0, vmig_mig_flags(&self->dst, &after));
		EXPECT_EQ(before, after) TH_LOG("after setting %s", knobs[i]);
	}
	/* closed, the knobs are free again */
	vmig_close(&self->dst);
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		mdvt_param(self->bdf[1], knobs[i], "true");
		EXPECT_EQ(0, mdvt_param(self->bdf[1], knobs[i], "false"));
		EXPECT_EQ(0, mdvt_param(self->bdf[1], knobs[i], "true"));
	}
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_mig_flags(&self->dst, &after));
	EXPECT_EQ(before, after);
}

/* A stream that stops inside the header of a record after END is cut short */
TEST_F(bad, trailing_partial_header_rejected)
{
	uint8_t *b = malloc(self->len + 8);
	int werr;

	ASSERT_NE(NULL, b);
	memcpy(b, self->stream, self->len);
	memcpy(b + self->len, self->stream, 8);
	EXPECT_EQ(-EINVAL, load(_metadata, self, b, self->len + 8, &werr));
	EXPECT_EQ(0, werr) TH_LOG("the writes themselves are fine");
	free(b);
}

/* META must name the device's page count (512): here it says none */
TEST_F(bad, corrupt_meta_rejected)
{
	corrupt_and_load(_metadata, self, self->stream, self->len,
			 HEADER_REC + HDR + offsetof(struct mdv_rec_meta, npages),
			 512);
}

/* A DIRTY record naming the page one past the last is refused */
TEST_F(bad, dirty_index_past_end_rejected)
{
	uint64_t idx = 512;	/* 2 MiB of 4 KiB pages: 0..511 */
	uint8_t *b;
	int64_t len;
	size_t at;
	int werr;

	len = dirty_stream(_metadata, self, &b);
	ASSERT_LT(0, len);
	at = find_record(b, len, MDV_TAG_DIRTY);
	ASSERT_NE(0, at);
	memcpy(b + at + HDR + sizeof(struct mdv_rec_dirty), &idx, sizeof(idx));
	EXPECT_EQ(-EINVAL, load(_metadata, self, b, len, &werr));
	EXPECT_EQ(EINVAL, werr);
	free(b);
}

/* state_size_mb as devlink params shows it, from debugfs; 0 if unknown */
static unsigned int param_state_mb(const char *bdf)
{
	char buf[1024], *p;

	if (mdvt_dbg_read(bdf, "params", buf, sizeof(buf)))
		return 0;
	p = strstr(buf, "state_size_mb ");
	return p ? strtoul(p + strlen("state_size_mb "), NULL, 0) : 0;
}

/*
 * A state the guest cannot hold (64 GiB in a 4 GiB guest) is refused and
 * the device keeps the state it has, content included: allocate the new
 * state before freeing the old, and fail the allocation cleanly rather
 * than invoking the OOM killer. Last in this file: a driver without this
 * can take the guest down with it.
 */
TEST_F_TIMEOUT(bad, impossible_state_size_keeps_state, 600)
{
	uint64_t before;
	int werr;

	/* content of its own, not the generation-0 fill a refill recreates */
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[1], "mock/dirty_now", "16"));
	before = mdvt_digest(self->bdf[1]);
	ASSERT_NE(self->dst_pristine, before);
	EXPECT_NE(0, mdvt_param_u32(self->bdf[1], "state_size_mb", 65536));
	EXPECT_EQ(2, param_state_mb(self->bdf[1]));
	EXPECT_EQ(before, mdvt_digest(self->bdf[1])) TH_LOG("state kept");

	/* the same with the device closed, where nothing else holds it */
	vmig_close(&self->dst);
	EXPECT_NE(0, mdvt_param_u32(self->bdf[1], "state_size_mb", 65536));
	EXPECT_EQ(2, param_state_mb(self->bdf[1]));
	EXPECT_EQ(512, dbg_u64(self->bdf[1], "mock/npages"));

	/* and the device still works: it takes a migration */
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
	EXPECT_EQ(0, load(_metadata, self, self->stream, self->len, &werr));
	EXPECT_EQ(0, werr);
}

TEST_HARNESS_MAIN
