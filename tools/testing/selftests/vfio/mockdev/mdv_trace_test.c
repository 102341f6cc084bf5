// SPDX-License-Identifier: GPL-2.0
/*
 * Tracepoints fire for arcs, data FD reads and writes and precopy info
 * answers, and the debugfs stats count them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define TRACEFS "/sys/kernel/tracing"
#define EVENTS TRACEFS "/events/mockdev_vfio_pci"

static uint64_t stat_of(const char *bdf, const char *name)
{
	char buf[512], *p;

	if (mdvt_dbg_read(bdf, "stats", buf, sizeof(buf)))
		return 0;
	p = strstr(buf, name);
	return p ? strtoull(p + strlen(name) + 1, NULL, 10) : 0;
}

FIXTURE(trace) {
	struct vmig_dev dev;
	char bdf[VMIG_NAME_LEN];
};

FIXTURE_SETUP(trace)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];

	self->dev.fd = -1;
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[0]);
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "state_size_mb", 1));
	ASSERT_EQ(0, vmig_open(&self->dev, self->bdf, VMIG_MODE_CONTAINER));
}

FIXTURE_TEARDOWN(trace)
{
	if (self->dev.fd >= 0)
		vmig_close(&self->dev);
	vmig_sysfs_write(EVENTS "/enable", "0");
}

TEST_F(trace, stats_count)
{
	uint64_t arcs = stat_of(self->bdf, "arcs");
	uint64_t saved = stat_of(self->bdf, "saved_bytes");
	uint8_t buf[4096];
	int fd;

	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP_COPY), &fd));
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));
	close(fd);
	EXPECT_LE(arcs + 3, stat_of(self->bdf, "arcs"));
	EXPECT_EQ(saved + sizeof(buf), stat_of(self->bdf, "saved_bytes"));
}

TEST_F(trace, events_fire)
{
	static char trace[1 << 16];
	uint64_t init, dirty;
	uint8_t buf[100];
	ssize_t n;
	int fd, tfd;

	if (access(TRACEFS "/trace", F_OK))
		mount("tracefs", TRACEFS, "tracefs", 0, NULL);
	if (access(EVENTS, F_OK)) {
		/* the full lane's kernel has event tracing: no excuse there */
		ASSERT_STRNE("full", getenv("LANE") ?: "")
			TH_LOG("no tracefs events in the full lane");
		SKIP(return, "no tracefs events (kernel without CONFIG_EVENT_TRACING)");
	}
	ASSERT_EQ(0, vmig_sysfs_write(TRACEFS "/trace", ""));
	ASSERT_EQ(0, vmig_sysfs_write(EVENTS "/enable", "1"));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(PRE_COPY), &fd));
	ASSERT_EQ(0, vmig_precopy_info(fd, &init, &dirty));
	ASSERT_EQ(sizeof(buf), read(fd, buf, sizeof(buf)));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(RUNNING), NULL));
	close(fd);
	ASSERT_EQ(0, vmig_sysfs_write(EVENTS "/enable", "0"));

	tfd = open(TRACEFS "/trace", O_RDONLY);
	ASSERT_LE(0, tfd);
	n = read(tfd, trace, sizeof(trace) - 1);
	close(tfd);
	ASSERT_LT(0, n);
	trace[n] = 0;
	EXPECT_NE(NULL, strstr(trace, "mdv_arc:"));
	EXPECT_NE(NULL, strstr(trace, "2->6"))	TH_LOG("RUNNING->PRE_COPY arc");
	EXPECT_NE(NULL, strstr(trace, "mdv_precopy_info:"));
	EXPECT_NE(NULL, strstr(trace, "read len=100 ret=100"));
}

TEST_HARNESS_MAIN
