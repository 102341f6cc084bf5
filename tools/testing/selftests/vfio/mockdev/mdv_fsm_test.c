// SPDX-License-Identifier: GPL-2.0
/*
 * Every (from, to) pair of the 8 migration states, for each feature set a
 * device can advertise. The expected outcome comes from the uAPI text
 * (include/uapi/linux/vfio.h), not from the driver: which states a feature
 * set allows, that ERROR is left only by reset, that STOP_COPY cannot go
 * back to PRE_COPY, and which arcs open a new data FD. ERROR is reached
 * through the driver's fail_arc debugfs switch.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x

FIXTURE(fsm) {
	struct vmig_dev dev;
	char bdf[VMIG_NAME_LEN];
	int fd;			/* data FD held while in `from` */
};

FIXTURE_VARIANT(fsm) {
	bool p2p;
	bool precopy;
};

FIXTURE_VARIANT_ADD(fsm, stop_copy) { .p2p = false, .precopy = false };
FIXTURE_VARIANT_ADD(fsm, p2p) { .p2p = true, .precopy = false };
FIXTURE_VARIANT_ADD(fsm, precopy) { .p2p = false, .precopy = true };
FIXTURE_VARIANT_ADD(fsm, p2p_precopy) { .p2p = true, .precopy = true };

FIXTURE_SETUP(fsm)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	uint64_t flags = 0, want;

	self->fd = -1;
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[0]);
	ASSERT_EQ(0, mdvt_param(self->bdf, "p2p", variant->p2p ? "true" : "false"));
	ASSERT_EQ(0, mdvt_param(self->bdf, "precopy",
				variant->precopy ? "true" : "false"));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "state_size_mb", 1));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "dirty_rate", 0));
	ASSERT_EQ(0, vmig_open(&self->dev, self->bdf, VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_mig_flags(&self->dev, &flags));
	want = VFIO_MIGRATION_STOP_COPY |
	       (variant->p2p ? VFIO_MIGRATION_P2P : 0) |
	       (variant->precopy ? VFIO_MIGRATION_PRE_COPY : 0);
	ASSERT_EQ(want, flags);
}

FIXTURE_TEARDOWN(fsm)
{
	if (self->fd >= 0)
		close(self->fd);
	vmig_close(&self->dev);
}

static bool supported(uint32_t s, const FIXTURE_VARIANT(fsm) *v)
{
	switch (s) {
	case S(RUNNING_P2P):
		return v->p2p;
	case S(PRE_COPY):
		return v->precopy;
	case S(PRE_COPY_P2P):
		return v->p2p && v->precopy;
	default:
		return true;
	}
}

/* Put the device in @from, keeping any data FD in self->fd. */
static void reach(struct __test_metadata *_metadata, FIXTURE_DATA(fsm) *self,
		  uint32_t from)
{
	uint32_t st;

	if (from == S(ERROR)) {
		ASSERT_EQ(0, mdvt_dbg_write(self->bdf, "fail_arc", "1"));
		ASSERT_EQ(-EIO, vmig_set_state(&self->dev, S(STOP), NULL));
	} else if (from == S(RESUMING)) {
		/* A valid stream to load: the device's own, saved at STOP. */
		uint8_t *buf;
		int64_t len;
		int sfd;

		ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP_COPY), &sfd));
		len = vmig_read_stream(sfd, &buf);
		close(sfd);
		ASSERT_LT(0, len);
		ASSERT_EQ(0, vmig_set_state(&self->dev, S(RESUMING), &self->fd));
		ASSERT_EQ(len, vmig_write_all(self->fd, buf, len, 65536));
		free(buf);
	} else {
		ASSERT_EQ(0, vmig_set_state(&self->dev, from, &self->fd));
	}
	ASSERT_EQ(0, vmig_get_state(&self->dev, &st));
	ASSERT_EQ(from, st);
}

static void fsm_check(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fsm) *self,
		      const FIXTURE_VARIANT(fsm) *variant,
		      uint32_t from, uint32_t to)
{
	bool ok, new_fd;
	uint32_t st;
	int fd = -1, ret;
	char c;

	if (!supported(from, variant))
		SKIP(return, "%s is not offered by this feature set",
		     vmig_state_name(from));
	reach(_metadata, self, from);

	ok = supported(to, variant) && to != S(ERROR) && from != S(ERROR) &&
	     !(from == S(STOP_COPY) && vmig_state_precopy(to));
	new_fd = ok && from != to &&
		 (to == S(RESUMING) ||
		  (to == S(STOP_COPY) && !vmig_state_saving(from)) ||
		  (vmig_state_precopy(to) && !vmig_state_precopy(from)));

	ret = vmig_set_state(&self->dev, to, &fd);
	if (ok) {
		EXPECT_EQ(0, ret) TH_LOG("%s -> %s: %s", vmig_state_name(from),
					 vmig_state_name(to), strerror(-ret));
	} else {
		EXPECT_EQ(-EINVAL, ret);
	}
	EXPECT_EQ(new_fd, fd >= 0);
	ASSERT_EQ(0, vmig_get_state(&self->dev, &st));
	EXPECT_EQ(ok ? to : from, st) TH_LOG("state %s", vmig_state_name(st));

	/* Leaving a session invalidates its FD; staying keeps it usable. */
	if (self->fd >= 0 && vmig_state_saving(from)) {
		ret = read(self->fd, &c, 1);
		if (ok && !vmig_state_saving(to)) {
			EXPECT_TRUE(ret < 0 && errno == ENODEV);
		} else {
			EXPECT_EQ(1, ret);
		}
	}
	if (self->fd >= 0 && from == S(RESUMING) && ok && to != from) {
		EXPECT_EQ(-1, write(self->fd, &c, 1));
		EXPECT_EQ(ENODEV, errno);
	}
	if (fd >= 0)
		close(fd);

	if (st == S(ERROR)) {
		ASSERT_EQ(0, vmig_reset(&self->dev));
		ASSERT_EQ(0, vmig_get_state(&self->dev, &st));
		EXPECT_EQ(S(RUNNING), st);
	}
}

#define FSM_CASE(F, T)							\
	TEST_F(fsm, F##_to_##T)						\
	{								\
		fsm_check(_metadata, self, variant, S(F), S(T));	\
	}

VMIG_STATE_PAIRS(FSM_CASE)

TEST_HARNESS_MAIN
