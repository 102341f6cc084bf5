// SPDX-License-Identifier: GPL-2.0
/*
 * PRECOPY_INFOv2 and REINIT (Linux 7.x): a device reconfigured during
 * PRE_COPY (debugfs mock/reconfigure) restarts its initial data: a new META
 * record and the whole image again. A user who opted in to
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 sees VMIG_PRECOPY_INFO_REINIT once,
 * with the exact new initial_bytes (what is left of the record being read,
 * then META and every IMAGE record) and dirty_bytes restarted from zero.
 * Without the opt-in (and on 6.12, which has no opt-in), flags stays zero
 * and initial_bytes never grows again: the new initial data is reported as
 * dirty_bytes. Either way the stream resumes exactly.
 *
 * The tests that need the opt-in skip on kernels without it; the v1 ones run
 * everywhere.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define PG 4096
#define NPAGES 512			/* state_size_mb=2: two IMAGE records */
#define IMAGE_REC MDV_IMAGE_BYTES(MDV_IMAGE_PAGES, PG)
/* initial data after a restart: META and the whole image */
#define REINIT_BYTES (MDV_META_BYTES + NPAGES / MDV_IMAGE_PAGES * IMAGE_REC)
/* where the first IMAGE record ends on the stream */
#define IMAGE0_END (MDV_HEADER_BYTES + MDV_META_BYTES + IMAGE_REC)

FIXTURE(reinit) {
	char bdf[2][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
	uint8_t *buf;
};

FIXTURE_SETUP(reinit)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int i;

	self->src.fd = -1;
	self->dst.fd = -1;
	self->buf = malloc(IMAGE0_END * 3);
	ASSERT_NE(NULL, self->buf);
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		SKIP(return, "need two functions bound to mockdev-vfio-pci");
	for (i = 0; i < 2; i++) {
		snprintf(self->bdf[i], sizeof(self->bdf[i]), "%s", bdfs[i]);
		ASSERT_EQ(0, mdvt_param(self->bdf[i], "p2p", "true"));
		ASSERT_EQ(0, mdvt_param(self->bdf[i], "precopy", "true"));
		ASSERT_EQ(0, mdvt_param_u32(self->bdf[i], "state_size_mb", 2));
		ASSERT_EQ(0, mdvt_param_u32(self->bdf[i], "dirty_rate", 0));
		ASSERT_EQ(0, mdvt_param_u32(self->bdf[i], "dma_rate", 0));
	}
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
}

FIXTURE_TEARDOWN(reinit)
{
	if (self->src.fd >= 0)
		vmig_close(&self->src);
	if (self->dst.fd >= 0)
		vmig_close(&self->dst);
	free(self->buf);
}

/* opt in; false if this kernel cannot (6.12: the core does not know it) */
static bool opt_in(struct __test_metadata *_metadata, struct vmig_dev *d)
{
	int ret = vmig_precopy_v2(d, VFIO_DEVICE_FEATURE_SET);

	if (ret == -ENOTTY)
		return false;
	EXPECT_EQ(0, ret);
	return true;
}

struct info {
	uint32_t flags;
	uint64_t initial, dirty;
};

static struct info precopy(struct __test_metadata *_metadata, int fd)
{
	struct vfio_precopy_info pi = { .argsz = sizeof(pi), .flags = ~0U };
	struct info i = {};

	EXPECT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &pi));
	i.flags = pi.flags;
	i.initial = pi.initial_bytes;
	i.dirty = pi.dirty_bytes;
	return i;
}

/* read exactly @len bytes of the saving stream and write them to @dfd */
static void move(struct __test_metadata *_metadata, FIXTURE_DATA(reinit) *self,
		 int sfd, int dfd, size_t len)
{
	size_t done = 0;
	ssize_t n;

	ASSERT_GE(IMAGE0_END * 3, len);
	while (done < len) {
		n = read(sfd, self->buf + done, len - done);
		ASSERT_LT(0, n) TH_LOG("read: %s", strerror(errno));
		done += n;
	}
	ASSERT_EQ((ssize_t)len, vmig_write_all(dfd, self->buf, len, 65536));
}

/* STOP_COPY, the rest of the stream, RUNNING: the destination equals */
static void finish(struct __test_metadata *_metadata, FIXTURE_DATA(reinit) *self,
		   int sfd, int dfd)
{
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	ASSERT_LT(0, vmig_pipe(sfd, dfd, 65536, 5, false));
	close(sfd);
	close(dfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

static void trigger_reinit(struct __test_metadata *_metadata, const char *bdf)
{
	ASSERT_EQ(0, mdvt_dbg_write(bdf, "mock/reconfigure", "1"));
}

TEST_F(reinit, reinit_opt_in_is_a_set_only_feature)
{
	const uint32_t probe = VFIO_DEVICE_FEATURE_PROBE;

	if (vmig_precopy_v2(&self->src, probe | VFIO_DEVICE_FEATURE_SET) == -ENOTTY)
		SKIP(return, VMIG_NO_PRECOPY_V2);
	EXPECT_EQ(0, vmig_precopy_v2(&self->src, probe | VFIO_DEVICE_FEATURE_SET));
	EXPECT_EQ(-EINVAL, vmig_precopy_v2(&self->src, probe | VFIO_DEVICE_FEATURE_GET));
	EXPECT_EQ(-EINVAL, vmig_precopy_v2(&self->src, VFIO_DEVICE_FEATURE_GET));
	EXPECT_EQ(0, vmig_precopy_v2(&self->src, VFIO_DEVICE_FEATURE_SET));

	/* a device without PRE_COPY has nothing to opt in to */
	vmig_close(&self->dst);
	self->dst.fd = -1;
	ASSERT_EQ(0, mdvt_param(self->bdf[1], "precopy", "false"));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
	EXPECT_EQ(-EINVAL, vmig_precopy_v2(&self->dst, VFIO_DEVICE_FEATURE_SET));
}

TEST_F(reinit, reinit_flags_stay_zero_without_a_reconfiguration)
{
	struct info i;
	int sfd, dfd;

	if (!opt_in(_metadata, &self->src))
		SKIP(return, VMIG_NO_PRECOPY_V2);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(IMAGE0_END + IMAGE_REC, i.initial);
	move(_metadata, self, sfd, dfd, 100000);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(IMAGE0_END + IMAGE_REC - 100000, i.initial);
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "10"));
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	finish(_metadata, self, sfd, dfd);
}

/*
 * Mid-IMAGE: the rest of the record being read comes first, then META, then
 * the whole image; REINIT once, initial_bytes falls again from there.
 */
TEST_F(reinit, reinit_reports_exact_new_initial_bytes_once)
{
	const size_t pos = 100000;	/* inside the first IMAGE record */
	struct mdv_rec_hdr h;
	struct info i;
	int sfd, dfd;

	if (!opt_in(_metadata, &self->src))
		SKIP(return, VMIG_NO_PRECOPY_V2);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	move(_metadata, self, sfd, dfd, pos);
	trigger_reinit(_metadata, self->bdf[0]);

	i = precopy(_metadata, sfd);
	EXPECT_EQ(VMIG_PRECOPY_INFO_REINIT, i.flags);
	EXPECT_EQ(IMAGE0_END - pos + REINIT_BYTES, i.initial);
	EXPECT_EQ(0, i.dirty);
	/* reported once; the bytes stay */
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(IMAGE0_END - pos + REINIT_BYTES, i.initial);

	/* the rest of the record, then the new META on the stream */
	move(_metadata, self, sfd, dfd, IMAGE0_END - pos + sizeof(h));
	memcpy(&h, self->buf + IMAGE0_END - pos, sizeof(h));
	EXPECT_EQ(MDV_TAG_META, h.tag);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(REINIT_BYTES - sizeof(h), i.initial);

	/* falling to zero again, then dirty_bytes counts from there */
	move(_metadata, self, sfd, dfd, REINIT_BYTES - sizeof(h));
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.initial);
	EXPECT_EQ(0, i.dirty);
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "10"));
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.initial);
	EXPECT_LT(0, i.dirty);
	finish(_metadata, self, sfd, dfd);
}

/* dirty pages pending at the reconfiguration are in the new image */
TEST_F(reinit, reinit_restarts_dirty_bytes_from_zero)
{
	struct info i;
	int sfd, dfd;

	if (!opt_in(_metadata, &self->src))
		SKIP(return, VMIG_NO_PRECOPY_V2);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	move(_metadata, self, sfd, dfd, IMAGE0_END + IMAGE_REC);
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/dirty_now", "20"));
	i = precopy(_metadata, sfd);
	ASSERT_LT(0, i.dirty);
	trigger_reinit(_metadata, self->bdf[0]);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(VMIG_PRECOPY_INFO_REINIT, i.flags);
	EXPECT_EQ(REINIT_BYTES, i.initial);
	EXPECT_EQ(0, i.dirty);
	/* twice before a query: one REINIT, the same bytes */
	trigger_reinit(_metadata, self->bdf[0]);
	trigger_reinit(_metadata, self->bdf[0]);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(VMIG_PRECOPY_INFO_REINIT, i.flags);
	EXPECT_EQ(REINIT_BYTES, i.initial);
	EXPECT_EQ(0, i.dirty);
	finish(_metadata, self, sfd, dfd);
}

/*
 * v1: no opt-in, no flags. initial_bytes never grows: from the restart on,
 * everything left is dirty_bytes. Runs on every kernel.
 */
TEST_F(reinit, reinit_without_opt_in_reports_new_data_as_dirty)
{
	const size_t pos = 100000;
	struct info i;
	int sfd, dfd;

	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	move(_metadata, self, sfd, dfd, pos);
	trigger_reinit(_metadata, self->bdf[0]);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(0, i.initial);
	EXPECT_EQ(IMAGE0_END - pos + REINIT_BYTES, i.dirty);
	move(_metadata, self, sfd, dfd, 5000);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(0, i.initial);
	EXPECT_EQ(IMAGE0_END - pos + REINIT_BYTES - 5000, i.dirty);
	finish(_metadata, self, sfd, dfd);
}

/* the opt-in lasts until the device is opened again */
TEST_F(reinit, reinit_opt_in_ends_with_the_open)
{
	struct info i;
	int sfd, dfd;

	if (!opt_in(_metadata, &self->src))
		SKIP(return, VMIG_NO_PRECOPY_V2);
	vmig_close(&self->src);
	self->src.fd = -1;
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &dfd));
	trigger_reinit(_metadata, self->bdf[0]);
	i = precopy(_metadata, sfd);
	EXPECT_EQ(0, i.flags);
	EXPECT_EQ(0, i.initial);
	EXPECT_EQ(MDV_HEADER_BYTES + REINIT_BYTES, i.dirty);
	finish(_metadata, self, sfd, dfd);
}

/* a stopped device cannot change; without a session nothing is resent */
TEST_F(reinit, reinit_refused_while_stopped)
{
	uint64_t before = mdvt_digest(self->bdf[0]);

	EXPECT_EQ(0, mdvt_dbg_write(self->bdf[0], "mock/reconfigure", "1"));
	EXPECT_EQ(before, mdvt_digest(self->bdf[0]));
	EXPECT_EQ(-EINVAL, mdvt_dbg_write(self->bdf[0], "mock/reconfigure", "2"));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	EXPECT_EQ(-EBUSY, mdvt_dbg_write(self->bdf[0], "mock/reconfigure", "1"));
}

TEST_HARNESS_MAIN
