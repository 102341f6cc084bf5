// SPDX-License-Identifier: GPL-2.0
/*
 * An asynchronous device: with the save_rate_mb knob the mock produces its
 * saving stream at a rate, as a device whose firmware fills a host buffer
 * does. Blocking readers must wait for the data (never see -EAGAIN or a
 * premature 0), O_NONBLOCK readers get -EAGAIN, poll() says readable only
 * when a read would not have to wait, and PRE_COPY still answers -ENOMSG
 * when nothing at all is pending. The stream that results must be the
 * same device state.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define STATE_MB 8

FIXTURE(async) {
	char bdf[2][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
};

FIXTURE_SETUP(async)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int i;

	self->src.fd = -1;
	self->dst.fd = -1;
	ASSERT_LE(2, mdvt_list(bdfs, VMIG_MAX_DEVS));
	for (i = 0; i < 2; i++) {
		snprintf(self->bdf[i], sizeof(self->bdf[i]), "%s", bdfs[i]);
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "state_size_mb", STATE_MB));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "dirty_rate", 0));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "dma_rate", 0));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "save_rate_mb", 0));
	}
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
}

FIXTURE_TEARDOWN(async)
{
	if (self->src.fd >= 0)
		vmig_close(&self->src);
	if (self->dst.fd >= 0)
		vmig_close(&self->dst);
	alarm(0);
	mdvt_param_u32(self->bdf[0], "save_rate_mb", 0);
}

static void rate(struct __test_metadata *_metadata, FIXTURE_DATA(async) *self,
		 unsigned int mb_per_s)
{
	/* knobs change only with the device closed to the VMM's view: RUNNING */
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "save_rate_mb", mb_per_s));
}

static void finish(struct __test_metadata *_metadata,
		   FIXTURE_DATA(async) *self, int rfd)
{
	close(rfd);
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

/* Blocking reads wait for the device: every read returns data until 0. */
TEST_F_TIMEOUT(async, blocking_reads_wait, 120)
{
	static uint8_t buf[1 << 20];
	uint64_t want, got = 0;
	int sfd, rfd, eagain = 0;
	double t0;
	ssize_t n;

	rate(_metadata, self, 16);	/* 8 MiB: about half a second */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_data_size(&self->src, &want));
	t0 = vmig_now();
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	alarm(60);
	for (;;) {
		n = read(sfd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN) {
			eagain++;
			continue;
		}
		ASSERT_LE(0, n) TH_LOG("read: %s", strerror(errno));
		if (!n)
			break;
		ASSERT_EQ(n, vmig_write_all(rfd, buf, n, n));
		got += n;
	}
	EXPECT_EQ(0, eagain) TH_LOG("a blocking reader saw -EAGAIN");
	EXPECT_EQ(want, got) TH_LOG("0 before the end of the stream");
	/* no faster than the device makes it (the session began after t0) */
	EXPECT_LE(0.9 * want / (16 << 20), vmig_now() - t0);
	close(sfd);
	finish(_metadata, self, rfd);
}

/*
 * O_NONBLOCK readers get -EAGAIN while the device produces; poll() readable
 * means a read now does not fail with -EAGAIN; the stream completes.
 */
TEST_F_TIMEOUT(async, nonblocking_eagain_and_poll, 120)
{
	static uint8_t buf[1 << 16];
	uint64_t want, got = 0;
	int sfd, rfd, eagain = 0, lies = 0, ready;
	struct pollfd p;
	double t0;
	ssize_t n;

	rate(_metadata, self, 2);	/* 8 MiB: about 4 s, 1 MiB records */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_data_size(&self->src, &want));
	t0 = vmig_now();
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_EQ(0, fcntl(sfd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	alarm(60);
	for (;;) {
		p = (struct pollfd){ .fd = sfd, .events = POLLIN };
		ready = poll(&p, 1, 0);
		ASSERT_LE(0, ready);
		n = read(sfd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN) {
			eagain++;
			/* readable can only become true meanwhile, not lie */
			if (ready && (p.revents & POLLIN))
				lies++;
			p = (struct pollfd){ .fd = sfd, .events = POLLIN };
			ASSERT_EQ(1, poll(&p, 1, 10000)) TH_LOG("no wake-up");
			continue;
		}
		ASSERT_LE(0, n) TH_LOG("read: %s", strerror(errno));
		if (!n)
			break;
		ASSERT_EQ(n, vmig_write_all(rfd, buf, n, n));
		got += n;
	}
	EXPECT_LT(0, eagain) TH_LOG("an O_NONBLOCK reader never waited");
	EXPECT_EQ(0, lies) TH_LOG("poll said readable, read said -EAGAIN");
	EXPECT_EQ(want, got);
	/* every record waits for its bytes, not only the first */
	EXPECT_LE(0.9 * want / (2 << 20), vmig_now() - t0);
	/* the permanent end of stream stays readable */
	p = (struct pollfd){ .fd = sfd, .events = POLLIN };
	EXPECT_EQ(1, poll(&p, 1, 0));
	close(sfd);
	finish(_metadata, self, rfd);
	TH_LOG("%d reads had to wait", eagain);
}

/*
 * A reader that has to wait is woken when the device has made the data:
 * at 1 MiB/s each 1 MiB IMAGE record takes a second, so a non-blocking
 * reader meets -EAGAIN at a record boundary and its poll() must return
 * readable when the data is made. poll() waits without a timeout: with a
 * timeout it would look again at its end and find the data, so a lost
 * wake-up would only make it late; without one, a lost wake-up hangs it
 * and the harness's timeout fails the test (no clock is judged). At faster
 * rates a slow guest never waits, and a lost wake-up goes unseen.
 */
TEST_F_TIMEOUT(async, poll_woken_when_made, 60)
{
	static uint8_t buf[1 << 16];
	struct pollfd p;
	int sfd, reads;
	ssize_t n = 0;
	double t;

	rate(_metadata, self, 1);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &sfd));
	ASSERT_EQ(0, fcntl(sfd, F_SETFL, O_NONBLOCK));
	/* read what is made until the device is behind the reader */
	for (reads = 0; reads < 10000; reads++) {
		n = read(sfd, buf, sizeof(buf));
		if (n < 0)
			break;
		ASSERT_LT(0, n) TH_LOG("end of stream before any wait");
	}
	ASSERT_EQ(-1, n);
	ASSERT_EQ(EAGAIN, errno);
	p = (struct pollfd){ .fd = sfd, .events = POLLIN };
	t = vmig_now();
	EXPECT_EQ(1, poll(&p, 1, -1));
	t = vmig_now() - t;
	EXPECT_TRUE(p.revents & POLLIN);
	TH_LOG("woken after %.2f s", t);
	close(sfd);
}

/*
 * In PRE_COPY a blocking read waits for initial data that is coming, and
 * still fails with -ENOMSG at once when nothing is pending at all.
 */
TEST_F_TIMEOUT(async, precopy_enomsg_not_a_wait, 120)
{
	static uint8_t buf[1 << 20];
	uint64_t initial, dirty, got = 0;
	int sfd, rfd;
	ssize_t n;

	rate(_metadata, self, 16);
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &sfd));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &rfd));
	ASSERT_EQ(0, vmig_precopy_info(sfd, &initial, &dirty));
	alarm(60);
	while (got < initial) {
		n = read(sfd, buf, sizeof(buf));
		ASSERT_LT(0, n) TH_LOG("read %zd: %s", n, strerror(errno));
		ASSERT_EQ(n, vmig_write_all(rfd, buf, n, n));
		got += n;
	}
	EXPECT_EQ(initial, got);
	ASSERT_EQ(0, vmig_precopy_info(sfd, &initial, &dirty));
	EXPECT_EQ(0, initial);
	EXPECT_EQ(0, dirty);
	EXPECT_EQ(-1, read(sfd, buf, sizeof(buf)));
	EXPECT_EQ(ENOMSG, errno);
	/* the rest comes once the device stops */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), NULL));
	while ((n = read(sfd, buf, sizeof(buf))) > 0) {
		ASSERT_EQ(n, vmig_write_all(rfd, buf, n, n));
	}
	EXPECT_EQ(0, n);
	close(sfd);
	finish(_metadata, self, rfd);
}

TEST_HARNESS_MAIN
