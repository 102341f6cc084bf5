// SPDX-License-Identifier: GPL-2.0
/*
 * Topology: the functions our lanes put behind conventional PCI bridges
 * (run-lane.sh, VM_BRIDGE_EDU and VM_RESET_EDU). Two functions behind one
 * bridge share an IOMMU group (DMA alias) and a dev_set (bus reset scope);
 * a function alone behind its bridge has a bus reset, so VFIO_DEVICE_RESET
 * goes through pci_try_reset_function(), vfio-pci's memory_lock and the
 * driver's reset_done. Root-bus functions reach none of that.
 *
 *   pair   two bridge functions of one IOMMU group (a dev_set of two)
 *   rst    a bridge function whose VFIO_DEVICE_GET_INFO says reset
 *
 * The pair has no reset_works: edu has neither FLR nor PM reset, and a
 * bus reset is a function's own reset only when it is alone on the bus
 * (sysfs may still list "bus" for the first of the pair: it was alone when
 * probed). So the reset tests use rst, the hot reset tests the pair.
 *
 * In our lanes both exist: missing ones fail. With MDV_BDFS set (someone
 * else's devices) a missing one skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define DRV_PATH "/sys/bus/pci/drivers/mockdev-vfio-pci"

FIXTURE(topo) {
	char pair[2][VMIG_NAME_LEN];
	char rst[VMIG_NAME_LEN];
	struct vmig_dev a, b;
};

FIXTURE_VARIANT(topo) {
	enum vmig_iommu_mode mode;
};

FIXTURE_VARIANT_ADD(topo, container) { .mode = VMIG_MODE_CONTAINER };
FIXTURE_VARIANT_ADD(topo, iommufd) { .mode = VMIG_MODE_IOMMUFD };

static bool foreign_devices(void)
{
	const char *env = getenv("MDV_BDFS");

	return env && *env;
}

/* same knobs on every function we use: streams of one kind, small */
static int knobs(const char *bdf)
{
	return mdvt_param(bdf, "p2p", "true") ||
	       mdvt_param(bdf, "precopy", "true") ||
	       mdvt_param_u32(bdf, "state_size_mb", 2) ||
	       mdvt_param_u32(bdf, "dirty_rate", 0) ||
	       mdvt_param_u32(bdf, "dma_rate", 0);
}

FIXTURE_SETUP(topo)
{
	char br[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	const char *lane = getenv("LANE");
	int n, i, j;

	self->a.fd = -1;
	self->b.fd = -1;
	if (variant->mode == VMIG_MODE_IOMMUFD && access("/dev/iommu", F_OK)) {
		/* the full lane has IOMMUFD; Debian's kernel has not */
		ASSERT_FALSE(lane && !strcmp(lane, "full"))
			TH_LOG("full lane without /dev/iommu");
		SKIP(return, "no /dev/iommu on this kernel (stock lane)");
	}
	n = mdvt_list_bridge(br, VMIG_MAX_DEVS);
	for (i = 0; i < n && !self->pair[0][0]; i++)
		for (j = i + 1; j < n; j++)
			if (vmig_group_of(br[i]) == vmig_group_of(br[j])) {
				snprintf(self->pair[0], VMIG_NAME_LEN, "%.39s", br[i]);
				snprintf(self->pair[1], VMIG_NAME_LEN, "%.39s", br[j]);
				break;
			}
	if (!self->pair[0][0] && foreign_devices())
		SKIP(return, "MDV_BDFS has no two bridge functions of one group");
	ASSERT_NE(0, self->pair[0][0])
		TH_LOG("no bridge pair of one group (VM_BRIDGE_EDU); %d behind bridges",
		       n);
	ASSERT_EQ(0, knobs(self->pair[0]));
	ASSERT_EQ(0, knobs(self->pair[1]));
}

/*
 * self->rst: found only by the tests that use it, as finding it opens every
 * bridge function (a function stuck in an earlier test must not fail the
 * pair's tests too). False if there is none.
 */
static bool find_rst(FIXTURE_DATA(topo) *self, enum vmig_iommu_mode mode)
{
	char rs[VMIG_MAX_DEVS][VMIG_NAME_LEN];

	if (!mdvt_list_reset(rs, VMIG_MAX_DEVS, mode))
		return false;
	snprintf(self->rst, VMIG_NAME_LEN, "%.39s", rs[0]);
	return true;
}

FIXTURE_TEARDOWN(topo)
{
	char drv[64];

	if (self->a.fd >= 0)
		vmig_close(&self->a);
	if (self->b.fd >= 0)
		vmig_close(&self->b);
	/* a failed unbind test must not leave the next tests without A */
	if (self->pair[0][0] && vmig_driver_name(self->pair[0], drv, sizeof(drv)))
		vmig_sysfs_write("/sys/bus/pci/drivers_probe", self->pair[0]);
}

static uint32_t state_of(struct vmig_dev *d)
{
	uint32_t st = ~0U;

	vmig_get_state(d, &st);
	return st;
}

/* read(2) result as 0/-errno for assertions */
static int read_err(int fd)
{
	uint8_t b[64];

	return read(fd, b, sizeof(b)) < 0 ? -errno : 0;
}

static int open_pair(struct __test_metadata *_metadata,
		     FIXTURE_DATA(topo) *self, enum vmig_iommu_mode mode)
{
	int ret;

	ret = vmig_open(&self->a, self->pair[0], mode);
	if (!ret)
		ret = vmig_open(&self->b, self->pair[1], mode);
	return ret;
}

TEST_F(topo, two_devices_one_group)
{
	size_t len = 1 << 16;
	uint64_t da, db;
	void *ram;

	ASSERT_EQ(vmig_group_of(self->pair[0]), vmig_group_of(self->pair[1]));
	ASSERT_EQ(0, open_pair(_metadata, self, variant->mode));
	/* one group, one set of fds: the library shares them */
	EXPECT_EQ(self->a.group_fd, self->b.group_fd);
	EXPECT_EQ(self->a.iommufd, self->b.iommufd);
	EXPECT_EQ(S(RUNNING), state_of(&self->a));
	EXPECT_EQ(S(RUNNING), state_of(&self->b));
	/* one IOVA space: the same range through both maps it once */
	ram = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ram);
	EXPECT_EQ(0, vmig_map(&self->a, ram, len, 0x100000));
	EXPECT_EQ(0, vmig_map(&self->b, ram, len, 0x100000));
	EXPECT_EQ(0, vmig_unmap(&self->b, len, 0x100000));
	EXPECT_EQ(0, vmig_unmap(&self->a, len, 0x100000));
	munmap(ram, len);
	ASSERT_EQ(0, vmig_migrate(&self->a, &self->b, 4095, 7));
	da = mdvt_digest(self->pair[0]);
	db = mdvt_digest(self->pair[1]);
	EXPECT_NE(0, da);
	EXPECT_EQ(da, db);
	EXPECT_EQ(S(RUNNING), state_of(&self->b));
}

TEST_F(topo, reset_works_on_bridge)
{
	int fd, ret;

	if (!find_rst(self, variant->mode) && foreign_devices())
		SKIP(return, "MDV_BDFS has no function with reset_works");
	ASSERT_NE(0, self->rst[0])
		TH_LOG("no bridge function with reset_works (VM_RESET_EDU)");
	ASSERT_EQ(0, knobs(self->rst));
	ASSERT_EQ(0, vmig_open(&self->a, self->rst, variant->mode));
	ASSERT_EQ(1, vmig_has_reset(&self->a));

	/* a saving session in PRE_COPY dies with the reset */
	ASSERT_EQ(0, vmig_set_state(&self->a, S(PRE_COPY), &fd));
	EXPECT_EQ(0, read_err(fd));
	ret = vmig_reset(&self->a);
	EXPECT_EQ(0, ret) TH_LOG("VFIO_DEVICE_RESET from PRE_COPY: %s",
				 strerror(-ret));
	EXPECT_EQ(S(RUNNING), state_of(&self->a));
	EXPECT_EQ(-ENODEV, read_err(fd));
	close(fd);

	/* reset is the only way out of ERROR */
	ASSERT_EQ(0, mdvt_dbg_write(self->rst, "fail_arc", "1"));
	EXPECT_NE(0, vmig_set_state(&self->a, S(STOP), NULL));
	EXPECT_EQ(S(ERROR), state_of(&self->a));
	ret = vmig_reset(&self->a);
	EXPECT_EQ(0, ret) TH_LOG("VFIO_DEVICE_RESET from ERROR: %s",
				 strerror(-ret));
	EXPECT_EQ(S(RUNNING), state_of(&self->a));
	mdvt_dbg_write(self->rst, "fail_arc", "0");
	/* and the device works again */
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP_COPY), &fd));
	EXPECT_EQ(0, read_err(fd));
	close(fd);
	EXPECT_EQ(0, vmig_set_state(&self->a, S(RUNNING), NULL));
}

TEST_F(topo, hot_reset_slot)
{
	int fd, ret;

	/* the whole dev_set must be open by us, or the kernel refuses */
	ASSERT_EQ(0, open_pair(_metadata, self, variant->mode));
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP_COPY), &fd));
	EXPECT_EQ(0, read_err(fd));
	ret = vmig_hot_reset(&self->b);
	ASSERT_EQ(0, ret) TH_LOG("VFIO_DEVICE_PCI_HOT_RESET: %s",
				 strerror(-ret));
	EXPECT_EQ(-ENODEV, read_err(fd));
	close(fd);
	EXPECT_EQ(S(RUNNING), state_of(&self->a));
	EXPECT_EQ(S(RUNNING), state_of(&self->b));
	ASSERT_EQ(0, vmig_migrate(&self->a, &self->b, 4095, 11));
	EXPECT_EQ(mdvt_digest(self->pair[0]), mdvt_digest(self->pair[1]));
}

/*
 * Issue 13, defect 3: a data FD keeps a removed function's vfio_device (and
 * so its place on the dev_set) alive. Once A is unbound, vfio no longer
 * owns it, and a hot reset through B would reset a function vfio does not
 * control: vfio-pci refuses that (vfio_pci_dev_set_resettable(): every
 * function the reset reaches must be on the dev_set), with -EINVAL. With
 * the defect the lingering data FD keeps A on B's dev_set and the reset is
 * let through; the answer must not depend on a stale FD.
 */
TEST_F_TIMEOUT(topo, unbind_with_data_fd_then_hot_reset_sibling, 300)
{
	char path[128], drv[64] = "";
	const char *a = self->pair[0];
	int fd, ret;

	ASSERT_EQ(0, open_pair(_metadata, self, variant->mode));
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP_COPY), &fd));
	EXPECT_EQ(0, read_err(fd));
	vmig_close(&self->a);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", a);
	ASSERT_EQ(0, vmig_sysfs_write(path, a));

	ret = vmig_hot_reset(&self->b);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("hot reset via %s, %s unbound, its FD open: %s",
				       self->pair[1], a,
				       ret ? strerror(-ret) : "done");
	EXPECT_EQ(S(RUNNING), state_of(&self->b));
	EXPECT_EQ(-ENODEV, read_err(fd));
	close(fd);
	/* the same answer without the FD (A is off the dev_set for sure) */
	ret = vmig_hot_reset(&self->b);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("hot reset via %s, %s unbound, no FD: %s",
				       self->pair[1], a,
				       ret ? strerror(-ret) : "done");

	/* driver_override still names us: probing binds it again */
	EXPECT_EQ(0, vmig_sysfs_write("/sys/bus/pci/drivers_probe", a));
	EXPECT_EQ(0, vmig_driver_name(a, drv, sizeof(drv)));
	EXPECT_STREQ("mockdev-vfio-pci", drv);
	/* a new vfio_device: default knobs */
	ASSERT_EQ(0, knobs(a));
	ASSERT_EQ(0, vmig_open(&self->a, a, variant->mode));
	/* both ours again: the slot can be reset, and both work after it */
	ret = vmig_hot_reset(&self->b);
	EXPECT_EQ(0, ret) TH_LOG("hot reset with %s bound again: %s", a,
				 strerror(-ret));
	ASSERT_EQ(0, vmig_migrate(&self->b, &self->a, 4095, 13));
	EXPECT_EQ(mdvt_digest(self->pair[0]), mdvt_digest(self->pair[1]));
}

/*
 * Issue 13, defect 2: a reader whose buffer is the device's own mmapped BAR
 * faults under migf->lock and waits for vfio-pci's memory_lock, which a
 * reset holds (write) while reset_done runs. Run in a child so that a hang
 * is reported instead of hanging the harness (a task stuck in D state
 * cannot be killed); the watchdog bounds only that, nothing is timed.
 */
#define BAR_MAP_LEN	0x10000
#define BAR_BUF_OFF	0x1000	/* edu ignores writes outside 0x00-0x98 */
#define BAR_BUF_LEN	4095
#define RESETS		20
#define WATCHDOG_S	300

struct race {
	struct vmig_dev *d;
	uint8_t *bar;
	bool done;		/* __atomic: the reader polls it */
	long reads, bad_reads, bad_resets, sessions;
	int bad_errno, bad_reset_errno;
};

static void *t_reader(void *arg)
{
	struct race *r = arg;
	int fd = -1;

	while (!__atomic_load_n(&r->done, __ATOMIC_RELAXED)) {
		ssize_t n;

		if (fd < 0) {
			/* racing resets may refuse; just try again */
			if (!vmig_set_state(r->d, S(STOP_COPY), &fd))
				r->sessions++;
			else
				fd = -1;
			continue;
		}
		n = read(fd, r->bar + BAR_BUF_OFF, BAR_BUF_LEN);
		if (n > 0) {
			r->reads++;
			continue;
		}
		if (n < 0 && errno != ENODEV && errno != EFAULT) {
			r->bad_reads++;
			r->bad_errno = errno;
		}
		/* end of stream or session killed: a new one */
		close(fd);
		fd = -1;
		vmig_set_state(r->d, S(RUNNING), NULL);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int bar_race(const char *bdf, enum vmig_iommu_mode mode)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct race r = {};
	struct vmig_dev d;
	pthread_t th;
	int i, ret;

	ret = vmig_open(&d, bdf, mode);
	if (ret) {
		printf("# open %s: %s\n", bdf, strerror(-ret));
		return 1;
	}
	if (ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &reg) ||
	    !(reg.flags & VFIO_REGION_INFO_FLAG_MMAP) || reg.size < BAR_MAP_LEN) {
		printf("# BAR0 of %s: no mmap of %d bytes\n", bdf, BAR_MAP_LEN);
		return 1;
	}
	r.bar = mmap(NULL, BAR_MAP_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		     d.fd, reg.offset);
	if (r.bar == MAP_FAILED) {
		printf("# mmap BAR0: %s\n", strerror(errno));
		return 1;
	}
	r.d = &d;
	if (pthread_create(&th, NULL, t_reader, &r))
		return 1;
	for (i = 0; i < RESETS; i++) {
		/* let the reader get into a read first */
		usleep(50000);
		ret = vmig_reset(&d);
		if (ret && ret != -EAGAIN) {
			r.bad_resets++;
			r.bad_reset_errno = -ret;
		}
	}
	__atomic_store_n(&r.done, true, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	printf("# %d resets, %ld sessions, %ld reads into the BAR\n", RESETS,
	       r.sessions, r.reads);
	if (r.bad_reads)
		printf("# %ld reads failed with %s (want >0, ENODEV or EFAULT)\n",
		       r.bad_reads, strerror(r.bad_errno));
	if (r.bad_resets)
		printf("# %ld resets failed with %s\n", r.bad_resets,
		       strerror(r.bad_reset_errno));
	munmap(r.bar, BAR_MAP_LEN);
	vmig_close(&d);
	return r.bad_reads || r.bad_resets ? 2 : 0;
}

/* copy what the child printed so far to our stdout */
static void relay(int fd)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, stdout);
	fflush(stdout);
}

TEST_F_TIMEOUT(topo, reset_vs_mmapped_bar_read, WATCHDOG_S + 60)
{
	int st = 0, waited, out[2];
	pid_t pid;

	if (!find_rst(self, variant->mode) && foreign_devices())
		SKIP(return, "MDV_BDFS has no function with reset_works");
	ASSERT_NE(0, self->rst[0])
		TH_LOG("no bridge function with reset_works (VM_RESET_EDU)");
	ASSERT_EQ(0, knobs(self->rst));
	/*
	 * The child writes into a pipe of its own, not our stdout: stuck, it
	 * would hold the console pipe open and the guest could not finish.
	 */
	ASSERT_EQ(0, pipe2(out, O_NONBLOCK));
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(out[0]);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		close(out[1]);
		fcntl(STDOUT_FILENO, F_SETFL, 0);
		setvbuf(stdout, NULL, _IOLBF, 0);
		st = bar_race(self->rst, variant->mode);
		fflush(stdout);
		_exit(st);
	}
	close(out[1]);
	for (waited = 0; waited < WATCHDOG_S; waited++) {
		relay(out[0]);
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		sleep(1);
	}
	relay(out[0]);
	close(out[0]);
	ASSERT_LT(waited, WATCHDOG_S)
		TH_LOG("%s: BAR reader or reset stuck for %d s (see hung task report)",
		       self->rst, WATCHDOG_S);
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST_HARNESS_MAIN
