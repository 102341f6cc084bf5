// SPDX-License-Identifier: GPL-2.0
/*
 * A device-agnostic conformance suite for the VFIO migration uAPI v2. It
 * uses only the uAPI (include/uapi/linux/vfio.h), never a driver's knobs,
 * so a vendor can point it at any variant driver:
 *
 *   VFIO_MIG_DEVS="0000:3b:00.2 0000:3b:00.3"      PCI functions, or
 *   VFIO_MIG_DEVS="<mdev uuid> <mdev uuid>"         mediated devices
 *
 * Two devices of the same kind: where a test needs a valid stream it takes
 * one from the other device (or the same one). Each test runs through the
 * VFIO container and, where the kernel has it, the iommufd path. Missing
 * capabilities SKIP with the reason. It links only the generic library
 * (lib/, vmig_*). tools/testing/vm/conformance.sh turns the TAP into
 * "conformance <driver>: N passed, N failed, N skipped".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"

#define S(x) VFIO_DEVICE_STATE_##x

static int devs(char names[][VMIG_NAME_LEN])
{
	return vmig_list("VFIO_MIG_DEVS", NULL, names, VMIG_MAX_DEVS);
}

FIXTURE(mig) {
	struct vmig_dev a, b;
	bool have_b;
	uint64_t flags;
};

FIXTURE_VARIANT(mig) {
	enum vmig_iommu_mode mode;
};

FIXTURE_VARIANT_ADD(mig, container) { .mode = VMIG_MODE_CONTAINER };
FIXTURE_VARIANT_ADD(mig, iommufd) { .mode = VMIG_MODE_IOMMUFD };

FIXTURE_SETUP(mig)
{
	char names[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int n = devs(names), ret;

	self->a.fd = -1;
	self->b.fd = -1;
	if (n < 1)
		SKIP(return, "no device: set VFIO_MIG_DEVS");
	ret = vmig_open(&self->a, names[0], variant->mode);
	if (ret == -ENODEV)
		SKIP(return, "no %s path on this kernel", vmig_mode_name(variant->mode));
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", names[0], strerror(-ret));
	if (vmig_mig_flags(&self->a, &self->flags))
		SKIP(return, "%s does not support migration", names[0]);
	self->have_b = n > 1 && !vmig_open(&self->b, names[1], variant->mode);
}

FIXTURE_TEARDOWN(mig)
{
	if (self->a.fd >= 0)
		vmig_close(&self->a);
	if (self->b.fd >= 0)
		vmig_close(&self->b);
}

static void fsm(struct __test_metadata *_metadata, FIXTURE_DATA(mig) *self,
		uint32_t from, uint32_t to)
{
	uint32_t st;
	int fd = -1, hold = -1, ret;
	bool ok, new_fd;

	if (from == S(ERROR))
		SKIP(return, "a generic test cannot drive a device into ERROR");
	if (!vmig_state_offered(self->flags, from))
		SKIP(return, "%s is not offered by the device", vmig_state_name(from));
	if (from == S(RESUMING)) {
		uint8_t *buf;
		int64_t n = vmig_save_stream(&self->a, &buf);

		ASSERT_LT(0, n);
		ASSERT_EQ(0, vmig_set_state(&self->a, S(RESUMING), &hold));
		ASSERT_EQ(n, vmig_write_all(hold, buf, n, 65536));
		free(buf);
	} else {
		ASSERT_EQ(0, vmig_set_state(&self->a, from, &hold));
	}
	ok = vmig_state_offered(self->flags, to) &&
	     !(from == S(STOP_COPY) && vmig_state_precopy(to));
	new_fd = ok && from != to &&
		 (to == S(RESUMING) || (to == S(STOP_COPY) && !vmig_state_saving(from)) ||
		  (vmig_state_precopy(to) && !vmig_state_precopy(from)));
	ret = vmig_set_state(&self->a, to, &fd);
	if (ok) {
		EXPECT_EQ(0, ret);
	} else {
		EXPECT_EQ(-EINVAL, ret);
	}
	EXPECT_EQ(new_fd, fd >= 0);
	ASSERT_EQ(0, vmig_get_state(&self->a, &st));
	EXPECT_EQ(ok ? to : from, st);
	if (fd >= 0)
		close(fd);
	if (hold >= 0)
		close(hold);
}

#define FSM_CASE(F, T)						\
	TEST_F(mig, fsm_##F##_to_##T)				\
	{							\
		fsm(_metadata, self, S(F), S(T));		\
	}
VMIG_STATE_PAIRS(FSM_CASE)

/* uAPI: a device is RUNNING when opened, whatever state it was closed in */
TEST_F(mig, open_starts_running)
{
	static const uint32_t st[] = { S(STOP_COPY), S(RESUMING), S(STOP) };
	char name[VMIG_NAME_LEN];
	unsigned int i;
	uint32_t cur;
	int fd;

	snprintf(name, sizeof(name), "%s", self->a.bdf);
	for (i = 0; i < ARRAY_SIZE(st); i++) {
		fd = -1;
		ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP), NULL));
		ASSERT_EQ(0, vmig_set_state(&self->a, st[i], &fd));
		if (fd >= 0)
			close(fd);
		vmig_close(&self->a);
		ASSERT_EQ(0, vmig_open(&self->a, name, variant->mode));
		ASSERT_EQ(0, vmig_get_state(&self->a, &cur));
		EXPECT_EQ(S(RUNNING), cur)
			TH_LOG("closed in %s, reopened in %s",
			       vmig_state_name(st[i]), vmig_state_name(cur));
		if (cur != S(RUNNING))
			break;	/* a stale state can crash the next SET */
	}
}

TEST_F(mig, invalid_states_leave_state_alone)
{
	static const uint32_t bad[] = { S(ERROR), 8, 1000 };
	unsigned int i;
	uint32_t st;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, vmig_set_state(&self->a, bad[i], NULL));
		ASSERT_EQ(0, vmig_get_state(&self->a, &st));
		EXPECT_EQ(S(RUNNING), st);
	}
}

TEST_F(mig, data_fd_semantics)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	uint8_t b[4096];
	ssize_t n;
	int fd, rfd;

	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP_COPY), &fd));
	EXPECT_EQ(-1, write(fd, b, 1));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, lseek(fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(EINVAL, errno) TH_LOG("precopy info outside PRE_COPY");
	while ((n = read(fd, b, sizeof(b))) > 0)
		;
	EXPECT_EQ(0, n) TH_LOG("STOP_COPY ends with 0");
	EXPECT_EQ(0, read(fd, b, sizeof(b))) TH_LOG("and stays at 0");
	close(fd);
	ASSERT_EQ(0, vmig_set_state(&self->a, S(RESUMING), &rfd));
	EXPECT_EQ(-1, read(rfd, b, 1));
	EXPECT_EQ(EBADF, errno);
	close(rfd);
}

TEST_F(mig, precopy_accounting)
{
	struct vfio_precopy_info info;
	uint64_t init, dirty, prev;
	uint8_t b[4096];
	int fd, rounds = 0;
	ssize_t n;

	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "device does not offer PRE_COPY");
	ASSERT_EQ(0, vmig_set_state(&self->a, S(PRE_COPY), &fd));
	memset(&info, 0xff, sizeof(info));
	info.argsz = sizeof(info);
	ASSERT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
	EXPECT_EQ(0, info.flags) TH_LOG("flags echoed user input");
	init = info.initial_bytes;
	dirty = info.dirty_bytes;
	EXPECT_LT(0, init) TH_LOG("initial_bytes should start non-zero");
	EXPECT_EQ(0, dirty) TH_LOG("dirty_bytes starts at zero");
	prev = init;
	/* initial_bytes only goes down while it is read */
	while (prev && rounds++ < 100000) {
		n = read(fd, b, sizeof(b));
		if (n <= 0)
			break;
		ASSERT_EQ(0, vmig_precopy_info(fd, &init, &dirty));
		EXPECT_LE(init, prev);
		prev = init;
	}
	EXPECT_EQ(0, prev) TH_LOG("initial_bytes drained");
	ASSERT_EQ(0, vmig_precopy_info(fd, &init, &dirty));
	if (!init && !dirty) {
		n = read(fd, b, sizeof(b));
		EXPECT_EQ(-1, n) TH_LOG("nothing pending: read must fail");
		EXPECT_EQ(ENOMSG, errno);
	}
	close(fd);
}

/*
 * PRECOPY_INFOv2: a SET-only opt-in; after it, flags holds nothing but
 * VMIG_PRECOPY_INFO_REINIT, a REINIT comes with new initial data and
 * dirty_bytes restarted, initial_bytes otherwise only falls, and the
 * stream still resumes. A generic test cannot make a device reconfigure:
 * it checks whatever REINIT the device reports by itself.
 */
TEST_F(mig, precopy_v2_reinit_semantics)
{
	struct vfio_precopy_info info;
	uint64_t prev = UINT64_MAX;
	int fd, rfd = -1, rounds = 0;
	uint8_t b[4096];
	ssize_t n;

	if (!(self->flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "device does not offer PRE_COPY");
	if (vmig_precopy_v2(&self->a, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET) ==
	    -ENOTTY)
		SKIP(return, VMIG_NO_PRECOPY_V2);
	EXPECT_EQ(-EINVAL, vmig_precopy_v2(&self->a, VFIO_DEVICE_FEATURE_GET));
	ASSERT_EQ(0, vmig_precopy_v2(&self->a, VFIO_DEVICE_FEATURE_SET));

	ASSERT_EQ(0, vmig_set_state(&self->a, S(PRE_COPY), &fd));
	while (rounds++ < 100000) {
		memset(&info, 0xff, sizeof(info));
		info.argsz = sizeof(info);
		ASSERT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
		EXPECT_EQ(0, info.flags & ~VMIG_PRECOPY_INFO_REINIT)
			TH_LOG("flags 0x%x: only REINIT is defined", info.flags);
		if (info.flags & VMIG_PRECOPY_INFO_REINIT) {
			EXPECT_LT(0, info.initial_bytes)
				TH_LOG("REINIT without new initial data");
			EXPECT_EQ(0, info.dirty_bytes)
				TH_LOG("REINIT restarts dirty_bytes");
		} else {
			EXPECT_LE(info.initial_bytes, prev)
				TH_LOG("initial_bytes grew without REINIT");
		}
		prev = info.initial_bytes;
		if (!prev)
			break;
		n = read(fd, b, sizeof(b));
		ASSERT_LT(0, n)
			TH_LOG("read with initial data pending: %s", strerror(errno));
		if (self->have_b && rounds == 1) {
			/* the stream goes to b: start resuming with this piece */
			ASSERT_EQ(0, vmig_set_state(&self->b, S(RESUMING), &rfd));
		}
		if (self->have_b)
			ASSERT_EQ(n, vmig_write_all(rfd, b, n, n));
	}
	EXPECT_EQ(0, prev) TH_LOG("initial_bytes drained");
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP_COPY), NULL));
	if (self->have_b) {
		ASSERT_LE(0, vmig_pipe(fd, rfd, 65536, 0, false));
		close(rfd);
		EXPECT_EQ(0, vmig_set_state(&self->b, S(STOP), NULL))
			TH_LOG("the stream did not resume");
	}
	close(fd);
}

TEST_F(mig, data_size_in_every_state)
{
	static const uint32_t st[] = { S(RUNNING), S(RUNNING_P2P), S(STOP),
				       S(PRE_COPY), S(PRE_COPY_P2P) };
	uint64_t len;
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(st); i++) {
		if (!vmig_state_offered(self->flags, st[i]))
			continue;
		fd = -1;
		ASSERT_EQ(0, vmig_set_state(&self->a, st[i], &fd));
		EXPECT_EQ(0, vmig_data_size(&self->a, &len))
			TH_LOG("MIG_DATA_SIZE in %s", vmig_state_name(st[i]));
		if (fd >= 0)
			close(fd);
		ASSERT_EQ(0, vmig_set_state(&self->a, S(RUNNING), NULL));
	}
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP), NULL));
	ASSERT_EQ(0, vmig_data_size(&self->a, &len));
	EXPECT_LT(0, len);
}

/* Load @buf (@len bytes) into b in @chunk-byte writes; 0 if b ran */
static int load(FIXTURE_DATA(mig) *self, const uint8_t *buf, int64_t len,
		size_t chunk, bool bytewise_head)
{
	int64_t off = 0;
	unsigned int seed = 5;
	int fd, ret = 0;
	ssize_t n;

	if (vmig_set_state(&self->b, S(RESUMING), &fd))
		return -EIO;
	if (bytewise_head)
		for (; off < len && off < 65536; off++)
			if (write(fd, buf + off, 1) != 1)
				ret = -errno;
	while (!ret && off < len) {
		size_t w = chunk ? chunk : 1 + rand_r(&seed) % 8192;

		n = write(fd, buf + off, (size_t)(len - off) < w ? len - off : w);
		if (n <= 0)
			ret = n ? -errno : -EIO;
		else
			off += n;
	}
	close(fd);
	if (!ret)
		ret = vmig_set_state(&self->b, S(RUNNING), NULL);
	if (ret)
		vmig_reset(&self->b);
	return ret;
}

TEST_F(mig, stream_any_segmentation)
{
	uint8_t *buf;
	int64_t n;

	if (!self->have_b)
		SKIP(return, "needs a second device of the same kind");
	n = vmig_save_stream(&self->a, &buf);
	ASSERT_LT(0, n);
	EXPECT_EQ(0, load(self, buf, n, 0, true));
	free(buf);
}

TEST_F(mig, truncated_stream_rejected)
{
	uint8_t *buf;
	int64_t n;

	if (!self->have_b)
		SKIP(return, "needs a second device of the same kind");
	n = vmig_save_stream(&self->a, &buf);
	ASSERT_LT(1, n);
	EXPECT_NE(0, load(self, buf, n - 1, 65536, false));
	EXPECT_NE(0, load(self, buf, n / 2, 65536, false));
	free(buf);
}

TEST_F(mig, corrupted_stream_rejected)
{
	uint8_t *buf;
	int64_t n, i;

	if (!self->have_b)
		SKIP(return, "needs a second device of the same kind");
	n = vmig_save_stream(&self->a, &buf);
	ASSERT_LT(16, n);
	/* a stream of the same length, every byte inverted */
	for (i = 0; i < n; i++)
		buf[i] = ~buf[i];
	EXPECT_NE(0, load(self, buf, n, 65536, false));
	free(buf);
}

/*
 * Saves of one unchanged state: the bytes that differ between them
 * (session ids, timestamps) are the stream's volatile part; everything
 * else is state. A random byte equals its counterpart of another save
 * once in 256, so with only two saves a 16-byte session id would leave a
 * volatile byte counted as state in 6% of runs: each further save divides
 * that by 256. -1 when the lengths differ (nothing to compare by).
 */
#define VOL_SAVES	4

static int64_t save_volatile(FIXTURE_DATA(mig) *self, uint8_t **s, uint8_t **vol)
{
	uint8_t *s2;
	int64_t n, n2, i;
	int k;

	n = vmig_save_stream(&self->a, s);
	if (n <= 0)
		return -1;
	*vol = calloc(1, n);
	for (k = 1; k < VOL_SAVES; k++) {
		n2 = vmig_save_stream(&self->a, &s2);
		if (n2 != n) {
			if (n2 > 0)
				free(s2);
			free(*vol);
			free(*s);
			return -1;
		}
		for (i = 0; i < n; i++)
			(*vol)[i] |= (*s)[i] != s2[i];
		free(s2);
	}
	return n;
}

/* Does device b now hold the state of @s (the volatile bytes aside)? */
static int holds(FIXTURE_DATA(mig) *self, const uint8_t *s,
		 const uint8_t *vol, int64_t n)
{
	uint8_t *r;
	int64_t rn, i, diff = 0;

	rn = vmig_save_stream(&self->b, &r);
	if (rn != n) {
		free(r);
		return 0;
	}
	for (i = 0; i < n; i++)
		diff += !vol[i] && r[i] != s[i];
	free(r);
	return !diff;
}

/* What b loaded is what a saved: b saves it back, byte for byte. */
TEST_F(mig, loaded_state_resaves_equal)
{
	uint8_t *s, *vol;
	int64_t n;

	if (!self->have_b)
		SKIP(return, "needs a second device of the same kind");
	n = save_volatile(self, &s, &vol);
	if (n < 0)
		SKIP(return, "the stream length changes from save to save");
	ASSERT_EQ(0, load(self, s, n, 65536, false));
	EXPECT_TRUE(holds(self, s, vol, n))
		TH_LOG("the loaded device saves a different state");
	free(s);
	free(vol);
}

/*
 * One byte changed in the middle of the stream, where the state is: the
 * device must refuse to run that state, or have loaded exactly it; it must
 * never run something else.
 */
TEST_F(mig, single_byte_corruption_rejected)
{
	uint8_t *s, *vol;
	int64_t n, mid;
	int ret;

	if (!self->have_b)
		SKIP(return, "needs a second device of the same kind");
	n = save_volatile(self, &s, &vol);
	if (n < 0)
		SKIP(return, "the stream length changes from save to save");
	for (mid = n / 2; mid < n && vol[mid]; mid++)
		;
	ASSERT_LT(mid, n);
	s[mid] ^= 0x01;
	ret = load(self, s, n, 65536, false);
	EXPECT_NE(0, ret) TH_LOG("a stream with byte %lld changed was loaded",
				 (long long)mid);
	free(s);
	free(vol);
}

/* MIG_DATA_SIZE in STOP is the length of the STOP_COPY stream that follows */
TEST_F(mig, data_size_equals_stream)
{
	uint64_t want;
	uint8_t *buf;
	int64_t n;
	int fd;

	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP), NULL));
	ASSERT_EQ(0, vmig_data_size(&self->a, &want));
	ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP_COPY), &fd));
	n = vmig_read_stream(fd, &buf);
	close(fd);
	ASSERT_LT(0, n);
	EXPECT_EQ((int64_t)want, n) TH_LOG("MIG_DATA_SIZE %llu, stream %lld",
					   (unsigned long long)want, (long long)n);
	free(buf);
}

TEST_F(mig, reset_ends_sessions)
{
	static const uint32_t st[] = { S(PRE_COPY), S(STOP_COPY), S(RESUMING) };
	unsigned int i;
	uint8_t b[64];
	uint32_t cur;
	ssize_t n;
	int fd;

	for (i = 0; i < ARRAY_SIZE(st); i++) {
		if (!vmig_state_offered(self->flags, st[i]))
			continue;
		ASSERT_EQ(0, vmig_set_state(&self->a, S(RUNNING), NULL));
		if (st[i] != S(PRE_COPY))
			ASSERT_EQ(0, vmig_set_state(&self->a, S(STOP), NULL));
		ASSERT_EQ(0, vmig_set_state(&self->a, st[i], &fd));
		ASSERT_EQ(0, vmig_reset(&self->a));
		ASSERT_EQ(0, vmig_get_state(&self->a, &cur));
		EXPECT_EQ(S(RUNNING), cur);
		/*
		 * The old FD fails: a 0 from read() is EOF, which a VMM takes
		 * for a complete stream, so it must not come from a reset.
		 */
		n = st[i] == S(RESUMING) ? write(fd, b, sizeof(b)) :
					   read(fd, b, sizeof(b));
		EXPECT_EQ(-1, n) TH_LOG("FD after reset in %s: %zd (0 is EOF)",
					vmig_state_name(st[i]), n);
		close(fd);
	}
}

TEST_F(mig, dma_logging)
{
	struct vmig_range r[2] = { { 0x100000, 0x10000 }, { 0x200000, 0x10000 } };
	uint64_t ps = 4096, bm[2] = {};
	int ret;

	ret = vmig_log_start(&self->a, r, 2, &ps);
	if (ret == -ENOTTY)
		SKIP(return, "device offers no DMA logging");
	ASSERT_EQ(0, ret);
	EXPECT_NE(0, vmig_log_start(&self->a, r, 2, &ps))
		TH_LOG("a second START while tracking");
	EXPECT_EQ(0, vmig_log_report(&self->a, r[0].iova, r[0].length, ps, bm));
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->a, 0x400000, 0x1000, 4096, bm))
		TH_LOG("report outside the tracked ranges");
	EXPECT_EQ(0, vmig_log_stop(&self->a));
	EXPECT_EQ(0, vmig_log_stop(&self->a)) TH_LOG("STOP is idempotent");
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->a, r, 0, &ps));
	r[1].iova = 0x100000 + 0x8000;
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->a, r, 2, &ps)) TH_LOG("overlap");
	r[1].iova = 0x200001;
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->a, r, 2, &ps)) TH_LOG("unaligned");
	r[1].iova = -0x1000UL;
	r[1].length = 0x2000;
	EXPECT_EQ(-EOVERFLOW, vmig_log_start(&self->a, r, 2, &ps));
	ps = 3 * 4096;
	r[1] = (struct vmig_range){ 0x300000, 0x3000 };
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->a, r, 1, &ps))
		TH_LOG("page size not a power of two");
}

TEST_HARNESS_MAIN
