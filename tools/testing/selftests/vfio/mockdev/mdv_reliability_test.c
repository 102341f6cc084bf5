// SPDX-License-Identifier: GPL-2.0
/*
 * Reliability: every fault switch (and FAILSLAB scoped to the driver)
 * leaves a documented state, reset recovers, a new migration then works and
 * nothing leaks; mutated streams never bring wrong state to RUNNING;
 * concurrent users, a reader killed mid-read and unbinding with a session
 * open crash nothing (KASAN, lockdep and kmemleak in the full lane watch).
 *
 * Prints "faults: N injected, N unrecovered, N leaks" (leaks: kmemleak
 * reports with this module in the backtrace, from objects the test left;
 * "n/a leaks" on a kernel without kmemleak) and
 * "stream-fuzz: N streams, N accepted-bad".
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "mdv_lib.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define DBG "/sys/kernel/debug"

FIXTURE(rel) {
	char bdf[2][MDV_NAME_LEN];
	struct mdv_dev src, dst;
};

FIXTURE_SETUP(rel)
{
	char bdfs[MDV_MAX_DEVS][MDV_NAME_LEN];
	int i;

	self->src.fd = -1;
	self->dst.fd = -1;
	if (mdv_list(bdfs, MDV_MAX_DEVS) < 2)
		SKIP(return, "need two functions bound to mockdev-vfio-pci");
	for (i = 0; i < 2; i++) {
		snprintf(self->bdf[i], sizeof(self->bdf[i]), "%s", bdfs[i]);
		ASSERT_EQ(0, mdv_param(bdfs[i], "p2p", "true"));
		ASSERT_EQ(0, mdv_param(bdfs[i], "precopy", "true"));
		ASSERT_EQ(0, mdv_param_u32(bdfs[i], "state_size_mb", 2));
		ASSERT_EQ(0, mdv_param_u32(bdfs[i], "dirty_rate", 0));
		ASSERT_EQ(0, mdv_param_u32(bdfs[i], "dma_rate", 0));
		ASSERT_EQ(0, mdv_param_u32(bdfs[i], "save_rate_mb", 0));
	}
	ASSERT_EQ(0, mdv_open(&self->src, self->bdf[0], MDV_MODE_CONTAINER));
	ASSERT_EQ(0, mdv_open(&self->dst, self->bdf[1], MDV_MODE_CONTAINER));
}

FIXTURE_TEARDOWN(rel)
{
	if (self->src.fd >= 0)
		mdv_close(&self->src);
	if (self->dst.fd >= 0)
		mdv_close(&self->dst);
}

static int sysfs_get(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n < 0 ? -errno : 0;
}

static uint32_t state_of(struct mdv_dev *d)
{
	uint32_t st = ~0U;

	mdv_get_state(d, &st);
	return st;
}

/* After a fault: reset both, then a full migration must work */
static int recover(FIXTURE_DATA(rel) *self)
{
	if (mdv_reset(&self->src) || mdv_reset(&self->dst))
		return -1;
	if (state_of(&self->src) != S(RUNNING) ||
	    state_of(&self->dst) != S(RUNNING))
		return -1;
	if (mdv_migrate(&self->src, &self->dst, 1 << 20, 0))
		return -1;
	if (mdv_digest(self->bdf[0]) != mdv_digest(self->bdf[1]))
		return -1;
	return mdv_set_state(&self->src, S(RUNNING), NULL);
}

/*
 * kmemleak reports an object only when it was unreferenced over two scans
 * and is older than 5 s: forget what is reported before the test, and at
 * the end scan, wait past that age, scan again. Count only reports whose
 * backtrace is in this module: other subsystems' suspects are not ours
 * (the lane fails on any report anyway).
 */
static int kmemleak_begin(void)
{
	if (mdv_sysfs_write(DBG "/kmemleak", "scan"))
		return -1;
	return mdv_sysfs_write(DBG "/kmemleak", "clear") ? -1 : 0;
}

static int kmemleak_ours(void)
{
	static char buf[1 << 20];
	size_t len = 0;
	int fd, leaks = 0;
	ssize_t n;
	char *p, *next;

	if (mdv_sysfs_write(DBG "/kmemleak", "scan"))
		return -1;
	sleep(6);
	if (mdv_sysfs_write(DBG "/kmemleak", "scan"))
		return -1;
	fd = open(DBG "/kmemleak", O_RDONLY);
	if (fd < 0)
		return -1;
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	for (p = strstr(buf, "unreferenced object"); p; p = next) {
		next = strstr(p + 1, "unreferenced object");
		if (next)
			*next = 0;
		if (strstr(p, "[mockdev_vfio_pci]"))
			leaks++;
		if (next)
			*next = 'u';
	}
	return leaks;
}

/* The module's text, for FAILSLAB's stack filter */
static int module_range(unsigned long *start, unsigned long *end)
{
	char line[256], name[64];
	unsigned long size, base;
	FILE *f = fopen("/proc/modules", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lu %*s %*s %*s %lx", name, &size,
			   &base) == 3 && !strcmp(name, "mockdev_vfio_pci")) {
			fclose(f);
			*start = base;
			*end = base + size;
			return base ? 0 : -1;
		}
	}
	fclose(f);
	return -1;
}

TEST_F_TIMEOUT(rel, fault_injection, 900)
{
	struct mdv_range r = { 0x100000, 0x10000 };
	int injected = 0, unrecovered = 0, leaks, fd, i, ret, kmemleak;
	unsigned long ms, me;
	uint64_t ps, bm[1];
	char v[64];
	uint8_t b[64];

	kmemleak = kmemleak_begin();

	/* a given arc, the next time: ERROR, documented */
	snprintf(v, sizeof(v), "%u", S(RUNNING_P2P));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_arc_from", v));
	snprintf(v, sizeof(v), "%u", S(STOP));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_arc_to", v));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_arc", "1"));
	EXPECT_EQ(0, mdv_set_state(&self->src, S(RUNNING_P2P), NULL));
	EXPECT_EQ(-EIO, mdv_set_state(&self->src, S(STOP), NULL));
	EXPECT_EQ(S(ERROR), state_of(&self->src));
	injected++;
	mdv_dbg_write(self->bdf[0], "fail_arc_from", "4294967295");
	mdv_dbg_write(self->bdf[0], "fail_arc_to", "4294967295");
	unrecovered += !!recover(self);

	/* any arc, on a long path: ERROR wherever it hit */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_arc", "1"));
		ret = mdv_set_state(&self->src, S(STOP_COPY), NULL);
		EXPECT_EQ(-EIO, ret);
		EXPECT_EQ(S(ERROR), state_of(&self->src));
		injected++;
		unrecovered += !!recover(self);
	}

	/* allocation while saving and while loading: -ENOMEM, no ERROR */
	ASSERT_EQ(0, mdv_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_alloc", "1"));
	EXPECT_EQ(-ENOMEM, mdv_set_state(&self->src, S(STOP_COPY), NULL));
	EXPECT_EQ(S(STOP), state_of(&self->src));
	injected++;
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[1], "fail_alloc", "1"));
	EXPECT_EQ(-ENOMEM, mdv_set_state(&self->dst, S(RESUMING), NULL));
	EXPECT_EQ(S(STOP), state_of(&self->dst));
	injected++;
	unrecovered += !!recover(self);

	/* data reads and writes with a chosen errno: nothing lost */
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_errno", "11"));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_read", "2"));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[1], "fail_errno", "28"));
	ASSERT_EQ(0, mdv_dbg_write(self->bdf[1], "fail_write", "1"));
	ASSERT_EQ(0, mdv_set_state(&self->src, S(STOP_COPY), &fd));
	EXPECT_EQ(-1, read(fd, b, sizeof(b)));
	EXPECT_EQ(EAGAIN, errno);
	close(fd);
	ASSERT_EQ(0, mdv_set_state(&self->src, S(RUNNING), NULL));
	EXPECT_NE(0, mdv_migrate(&self->src, &self->dst, 1 << 20, 0));
	injected += 2;
	/* the next try meets the second write fault, consumes it, and fails */
	mdv_reset(&self->src);
	mdv_reset(&self->dst);
	EXPECT_NE(0, mdv_migrate(&self->src, &self->dst, 1 << 20, 0));
	injected++;
	mdv_dbg_write(self->bdf[0], "fail_errno", "5");
	mdv_dbg_write(self->bdf[1], "fail_errno", "5");
	unrecovered += !!recover(self);

	/* DMA logging start and report */
	ps = 4096;
	ret = mdv_log_start(&self->src, &r, 1, &ps);
	if (ret == -ENOTTY)
		EXPECT_STRNE("full", getenv("LANE") ?: "")
			TH_LOG("DMA logging -ENOTTY in the full lane");
	if (ret != -ENOTTY) {
		ASSERT_EQ(0, ret);
		ASSERT_EQ(0, mdv_log_stop(&self->src));
		ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_log_start", "1"));
		EXPECT_EQ(-EIO, mdv_log_start(&self->src, &r, 1, &ps));
		injected++;
		EXPECT_EQ(0, mdv_log_start(&self->src, &r, 1, &ps));
		ASSERT_EQ(0, mdv_dbg_write(self->bdf[0], "fail_log_report", "1"));
		EXPECT_EQ(-EIO, mdv_log_report(&self->src, r.iova, r.length,
					       4096, bm));
		injected++;
		EXPECT_EQ(0, mdv_log_report(&self->src, r.iova, r.length, 4096, bm));
		EXPECT_EQ(0, mdv_log_stop(&self->src));
		unrecovered += !!recover(self);
	}

	/* FAILSLAB, scoped to allocations made on the driver's behalf */
	if (!access(DBG "/failslab/times", F_OK) && !module_range(&ms, &me)) {
		char t[32];

		snprintf(t, sizeof(t), "%#lx", ms);
		mdv_sysfs_write(DBG "/failslab/require-start", t);
		snprintf(t, sizeof(t), "%#lx", me);
		mdv_sysfs_write(DBG "/failslab/require-end", t);
		mdv_sysfs_write(DBG "/failslab/ignore-gfp-wait", "N");
		mdv_sysfs_write(DBG "/failslab/verbose", "0");
		mdv_sysfs_write(DBG "/failslab/interval", "1");
		for (i = 0; i < 8; i++) {
			mdv_sysfs_write(DBG "/failslab/times", "1");
			mdv_sysfs_write(DBG "/failslab/probability", "100");
			switch (i % 4) {
			case 0:
				mdv_set_state(&self->src, S(STOP_COPY), NULL);
				break;
			case 1:
				mdv_set_state(&self->dst, S(RESUMING), NULL);
				break;
			case 2:
				ps = 4096;
				mdv_log_start(&self->src, &r, 1, &ps);
				mdv_log_stop(&self->src);
				break;
			case 3:
				mdv_set_state(&self->src, S(PRE_COPY), NULL);
				break;
			}
			mdv_sysfs_write(DBG "/failslab/probability", "0");
			if (!sysfs_get(DBG "/failslab/times", t, sizeof(t)) &&
			    atoi(t) == 0)
				injected++;
			unrecovered += !!recover(self);
		}
		mdv_sysfs_write(DBG "/failslab/require-start", "0");
		mdv_sysfs_write(DBG "/failslab/require-end", "0");
	} else {
		printf("# faults: no FAILSLAB debugfs on this kernel\n");
	}

	mdv_close(&self->src);
	mdv_close(&self->dst);
	leaks = kmemleak ? -1 : kmemleak_ours();
	if (leaks < 0)
		printf("faults: %d injected, %d unrecovered, n/a leaks (no kmemleak)\n",
		       injected, unrecovered);
	else
		printf("faults: %d injected, %d unrecovered, %d leaks\n",
		       injected, unrecovered, leaks);
	EXPECT_EQ(0, unrecovered);
	EXPECT_GE(0, leaks) TH_LOG("kmemleak: %d objects from this module", leaks);
	/* 9 switches everywhere; DMA logging and FAILSLAB add more */
	EXPECT_LE(9, injected);
}

/* ----- stream mutation ----- */

/*
 * The oracle. A stream is judged by the device state it carries, rebuilt
 * here from its records as the stream format defines them (IMAGE pages in
 * order, DIRTY pages over them), never by the driver's digest: a digest
 * that skipped a page would let a stream that lost that page through.
 */
#define PG 4096UL

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* Rebuild the @npages-page state @s carries into @img; -1: malformed */
static int stream_image(const uint8_t *s, int64_t len, uint8_t *img,
			uint64_t npages)
{
	uint64_t size, n, first, k, i, idx;
	const uint8_t *p;
	int64_t off = 0;

	while (off < len) {
		if (len - off < 16)
			return -1;
		size = le64_at(s + off);
		if (size > (uint64_t)(len - off - 16))
			return -1;
		p = s + off + 16;
		switch (le32_at(s + off + 12)) {
		case MDV_TAG_IMAGE:
			first = le64_at(p);
			n = le64_at(p + 8);
			if (size != 16 + n * PG || first + n > npages)
				return -1;
			memcpy(img + first * PG, p + 16, n * PG);
			break;
		case MDV_TAG_DIRTY:
			k = le32_at(p);
			if (size != 8 + k * (8 + PG))
				return -1;
			for (i = 0; i < k; i++) {
				idx = le64_at(p + 8 + i * 8);
				if (idx >= npages)
					return -1;
				memcpy(img + idx * PG, p + 8 + k * 8 + i * PG, PG);
			}
			break;
		}
		off += 16 + size;
	}
	return 0;
}

/* Header offsets of a well-formed stream, for mutations aimed at them */
static int stream_headers(const uint8_t *s, int64_t len, int64_t *hdr, int max)
{
	int64_t off = 0;
	int n = 0;

	while (off + 16 <= len && n < max) {
		hdr[n++] = off;
		off += 16 + le64_at(s + off);
	}
	return n;
}

/* splitmix64, as the mock device's content is defined (mock.c) */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Does @img hold the power-on content (generation 0) of seed @seed? */
static int pristine(const uint8_t *img, uint64_t npages, uint32_t seed)
{
	uint64_t i, j, w, base;

	for (i = 0; i < npages; i++) {
		base = mix(((uint64_t)seed << 32) ^ i);
		for (j = 0; j < PG / 8; j++) {
			w = le64_at(img + i * PG + j * 8);
			if (w != base + j * 0x9e3779b97f4a7c15ULL)
				return 0;
		}
	}
	return 1;
}

static uint32_t seed_of(const char *bdf)
{
	char buf[1024], *p;

	if (mdv_dbg_read(bdf, "params", buf, sizeof(buf)))
		return 0;
	p = strstr(buf, "\nseed ");
	return p ? strtoul(p + 6, NULL, 10) : 0;
}

/* Read @fd until 0 (or ENOMSG in PRE_COPY), appending to @buf */
static int64_t read_more(int fd, uint8_t **buf, int64_t len, size_t *cap)
{
	ssize_t n;

	for (;;) {
		if ((size_t)len == *cap) {
			*cap *= 2;
			*buf = realloc(*buf, *cap);
		}
		n = read(fd, *buf + len, *cap - len);
		if (n < 0)
			return errno == ENOMSG ? len : -errno;
		if (!n)
			return len;
		len += n;
	}
}

/* A stream with DIRTY records: PRE_COPY, pages rewritten twice, STOP_COPY */
static int64_t save_precopy_stream(struct mdv_dev *d, const char *bdf,
				   uint8_t **buf)
{
	size_t cap = 1 << 20;
	int64_t len = 0;
	int fd;

	*buf = malloc(cap);
	if (mdv_set_state(d, S(PRE_COPY), &fd))
		return -1;
	len = read_more(fd, buf, len, &cap);
	if (len > 0 && !mdv_dbg_write(bdf, "mock/dirty_now", "150"))
		len = read_more(fd, buf, len, &cap);
	if (len > 0 && !mdv_dbg_write(bdf, "mock/dirty_now", "70") &&
	    !mdv_set_state(d, S(STOP_COPY), NULL))
		len = read_more(fd, buf, len, &cap);
	close(fd);
	if (mdv_set_state(d, S(RUNNING), NULL))
		return -1;
	return len;
}

TEST_F_TIMEOUT(rel, stream_mutation, 900)
{
	const char *s_n = getenv("MDV_STREAM_FUZZ"), *s_seed = getenv("MDV_STREAM_SEED");
	int nstreams = s_n ? atoi(s_n) : 200, i, fd, accepted_bad = 0, nh[2];
	int rejected = 0, accepted_ok = 0, dirty_recs = 0;
	unsigned int seed = s_seed ? strtoul(s_seed, NULL, 0) :
				     (unsigned int)time(NULL) ^ getpid();
	uint8_t *base[2], *b2, *m, *img[2], *got;
	int64_t lb[2], lb2, lm, n, hdr[2][512], o;
	uint64_t npages = 2 * 256;	/* state_size_mb 2 */
	static const int64_t delta[] = { 1, -1, PG, -PG, 16, -16 };

	const unsigned int seed0 = seed;

	printf("# stream-fuzz: seed %u (MDV_STREAM_SEED replays it)\n", seed);
	/* a STOP_COPY stream of the power-on state, and a second session */
	lb[0] = mdv_save_stream(&self->src, &base[0]);
	lb2 = mdv_save_stream(&self->src, &b2);
	ASSERT_LT(0, lb[0]);
	ASSERT_EQ(lb[0], lb2);
	/* a PRE_COPY stream carrying DIRTY records */
	lb[1] = save_precopy_stream(&self->src, self->bdf[0], &base[1]);
	ASSERT_LT(lb[0], lb[1]);
	for (i = 0; i < 2; i++) {
		img[i] = malloc(npages * PG);
		ASSERT_NE(NULL, img[i]);
		ASSERT_EQ(0, stream_image(base[i], lb[i], img[i], npages));
		nh[i] = stream_headers(base[i], lb[i], hdr[i], 512);
	}
	for (o = 0; o < nh[1]; o++)
		dirty_recs += le32_at(base[1] + hdr[1][o] + 12) == MDV_TAG_DIRTY;
	ASSERT_LT(0, dirty_recs);
	/* the save side against the content's definition, not the driver */
	ASSERT_TRUE(pristine(img[0], npages, seed_of(self->bdf[0])));
	m = malloc(2 * lb[1] + 16);
	got = malloc(npages * PG);
	ASSERT_TRUE(m && got);

	for (i = 0; i < nstreams; i++) {
		int w = i % 2;
		const uint8_t *a = base[w];
		int64_t la = lb[w];
		size_t p = rand_r(&seed) % la, q = rand_r(&seed) % la;
		size_t len = 1 + rand_r(&seed) % 8192, k;
		int64_t h = hdr[w][rand_r(&seed) % nh[w]];
		uint64_t v;

		memcpy(m, a, la);
		lm = la;
		switch (rand_r(&seed) % 10) {
		case 0:		/* bit flips */
			for (k = 0; k <= (size_t)(i / 6) % 4; k++)
				m[rand_r(&seed) % la] ^= 1 << (rand_r(&seed) % 8);
			break;
		case 1:		/* truncation */
			lm = p;
			break;
		case 2:		/* duplicate a span */
			len = len < la - p ? len : la - p;
			memcpy(m + p + len, a + p, la - p);
			lm = la + len;
			break;
		case 3:		/* swap two spans */
			len = len < la - (p > q ? p : q) ? len : la - (p > q ? p : q);
			memcpy(m + p, a + q, len);
			memcpy(m + q, a + p, len);
			break;
		case 4:		/* splice two sessions of the same state */
			if (!w)
				memcpy(m + p, b2 + p, la - p);
			else
				m[p] ^= 0x80;
			break;
		case 5:		/* random bytes over a span */
			for (k = p; k < p + len && k < (size_t)la; k++)
				m[k] = rand_r(&seed);
			break;
		case 6:
		case 7:		/* a record's length: off by little or much */
			v = le64_at(a + h);
			k = rand_r(&seed) % (ARRAY_SIZE(delta) + 1);
			v = k < ARRAY_SIZE(delta) ? v + delta[k] : rand_r(&seed);
			v = htole64(v);
			memcpy(m + h, &v, 8);
			break;
		case 8:		/* a record's tag or flags */
			m[h + 12 + (rand_r(&seed) % 2 ? 0 : -4)] ^=
				1 << (rand_r(&seed) % 8);
			break;
		case 9:		/* a prefix: IMAGE first/npages, DIRTY count/index */
			for (k = 0; k < 4; k++)
				m[h + 16 + (rand_r(&seed) % 24)] ^= 1 << (rand_r(&seed) % 3);
			break;
		}
		ASSERT_EQ(0, mdv_set_state(&self->dst, S(RESUMING), &fd));
		n = mdv_write_all(fd, m, lm, 1 + rand_r(&seed) % 65536);
		close(fd);
		if (!mdv_set_state(&self->dst, S(RUNNING), NULL)) {
			uint8_t *r;
			int64_t lr = mdv_save_stream(&self->dst, &r);

			/* only what carries the source's state may run */
			ASSERT_LT(0, lr);
			memset(got, 0, npages * PG);
			if (stream_image(r, lr, got, npages) ||
			    memcmp(got, img[w], npages * PG)) {
				accepted_bad++;
				TH_LOG("stream %d (seed %u) accepted with other state", i, seed0);
			} else {
				accepted_ok++;
			}
			free(r);
		} else {
			EXPECT_EQ(S(ERROR), state_of(&self->dst));
			rejected++;
			(void)n;
		}
		ASSERT_EQ(0, mdv_reset(&self->dst));
	}
	printf("# stream-fuzz: %d rejected, %d accepted with the right state\n",
	       rejected, accepted_ok);
	printf("# stream-fuzz: the PRE_COPY base stream has %d DIRTY records\n",
	       dirty_recs);
	printf("stream-fuzz: %d streams, %d accepted-bad (seed %u)\n", nstreams,
	       accepted_bad, seed0);
	EXPECT_EQ(0, accepted_bad);
	EXPECT_LT(nstreams / 2, rejected);
	for (i = 0; i < 2; i++) {
		free(base[i]);
		free(img[i]);
	}
	free(b2);
	free(m);
	free(got);
}

/* ----- concurrency ----- */

/* fd and stop are shared between threads: __atomic accesses only */
struct conc {
	struct mdv_dev *d;
	int fd;
	int stop;
	long ops;
};

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

static void *t_read(void *arg)
{
	static __thread uint8_t buf[65536];
	struct conc *c = arg;

	while (!LOAD(c->stop)) {
		if (read(LOAD(c->fd), buf, 1 + rand() % sizeof(buf)) > 0)
			__atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *t_info(void *arg)
{
	struct conc *c = arg;
	uint64_t i, d, sz;

	while (!LOAD(c->stop)) {
		mdv_precopy_info(LOAD(c->fd), &i, &d);
		mdv_data_size(c->d, &sz);
		__atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *t_state(void *arg)
{
	static const uint32_t st[] = { S(PRE_COPY), S(PRE_COPY_P2P), S(RUNNING),
				       S(STOP_COPY), S(STOP), S(RUNNING_P2P) };
	struct conc *c = arg;
	int fd, old, k = 0;

	while (!LOAD(c->stop)) {
		fd = -1;
		mdv_set_state(c->d, st[k++ % 6], &fd);
		if (fd >= 0) {
			old = LOAD(c->fd);
			STORE(c->fd, fd);
			usleep(1000);
			close(old);
		}
		if (k % 17 == 0)
			mdv_reset(c->d);
		__atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *t_log(void *arg)
{
	struct mdv_range r = { 0x100000, 0x10000 };
	struct conc *c = arg;
	uint64_t ps, bm[1];

	while (!LOAD(c->stop)) {
		ps = 4096;
		mdv_log_start(c->d, &r, 1, &ps);
		mdv_log_report(c->d, r.iova, r.length, 4096, bm);
		mdv_log_stop(c->d);
		__atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST_F_TIMEOUT(rel, concurrent_users, 300)
{
	typedef void *(*thread_fn)(void *);
	static const thread_fn fn[] = { t_read, t_read, t_info, t_state, t_log };
	struct conc c = { .d = &self->src };
	pthread_t th[5];
	int i, fd;

	ASSERT_EQ(0, mdv_param_u32(self->bdf[0], "dirty_rate", 0));
	ASSERT_EQ(0, mdv_set_state(&self->src, S(PRE_COPY), &fd));
	c.fd = fd;
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, fn[i], &c));
	sleep(4);
	STORE(c.stop, 1);
	for (i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	close(c.fd);
	TH_LOG("%ld operations from 5 threads", c.ops);
	ASSERT_EQ(0, mdv_reset(&self->src));
	EXPECT_EQ(0, mdv_migrate(&self->src, &self->dst, 1 << 20, 3));
	EXPECT_EQ(mdv_digest(self->bdf[0]), mdv_digest(self->bdf[1]));
}

/*
 * A reader killed while it waits in the driver for data: the device
 * produces its stream slowly (save_rate_mb), the child tells the parent
 * once its first read returned, and must die of the SIGKILL, not finish.
 */
TEST_F_TIMEOUT(rel, reader_killed_mid_read, 120)
{
	int st, hs[2];
	char c = 0;
	pid_t pid;

	mdv_close(&self->src);
	ASSERT_EQ(0, mdv_param_u32(self->bdf[0], "state_size_mb", 64));
	ASSERT_EQ(0, mdv_param_u32(self->bdf[0], "save_rate_mb", 8));
	ASSERT_EQ(0, pipe(hs));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		static uint8_t buf[1 << 20];
		struct mdv_dev d;
		int fd;

		close(hs[0]);
		if (mdv_open(&d, self->bdf[0], MDV_MODE_CONTAINER) ||
		    mdv_set_state(&d, S(STOP_COPY), &fd) ||
		    read(fd, buf, sizeof(buf)) <= 0)
			_exit(1);
		if (write(hs[1], "r", 1) != 1)
			_exit(1);
		/* 64 MiB at 8 MiB/s: this waits in the driver for seconds */
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	close(hs[1]);
	ASSERT_EQ(1, read(hs[0], &c, 1)) TH_LOG("the reader never read");
	close(hs[0]);
	usleep(200000);
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		TH_LOG("the reader was not killed mid-stream (status %#x)", st);
	/* the device is free again and works */
	ASSERT_EQ(0, mdv_param_u32(self->bdf[0], "save_rate_mb", 0));
	ASSERT_EQ(0, mdv_param_u32(self->bdf[0], "state_size_mb", 2));
	ASSERT_EQ(0, mdv_open(&self->src, self->bdf[0], MDV_MODE_CONTAINER));
	EXPECT_EQ(0, mdv_migrate(&self->src, &self->dst, 1 << 20, 9));
	EXPECT_EQ(mdv_digest(self->bdf[0]), mdv_digest(self->bdf[1]));
}

struct unbind_arg {
	char path[128];
	char bdf[MDV_NAME_LEN];
	int ret;
	int tid;
	int done;
};

static void *t_unbind(void *arg)
{
	struct unbind_arg *u = arg;

	STORE(u->tid, gettid());
	u->ret = mdv_sysfs_write(u->path, u->bdf);
	STORE(u->done, 1);
	return NULL;
}

/* Is thread @tid inside a write() system call right now? */
static int in_write(int tid)
{
	char path[64], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return atoi(buf) == SYS_write;
}

TEST_F_TIMEOUT(rel, unbind_with_session_and_tracking, 120)
{
	struct mdv_range r = { 0x100000, 0x10000 };
	struct unbind_arg u;
	char path[128];
	uint64_t ps = 4096;
	pthread_t th;
	uint8_t b[16];
	int fd, i;

	ASSERT_EQ(0, mdv_set_state(&self->dst, S(PRE_COPY), &fd));
	mdv_log_start(&self->dst, &r, 1, &ps);
	snprintf(u.path, sizeof(u.path), "/sys/bus/pci/devices/%s/driver/unbind",
		 self->bdf[1]);
	snprintf(u.bdf, sizeof(u.bdf), "%s", self->bdf[1]);
	/* unbind waits for the device FD; it is closed while it waits */
	memset(&u.tid, 0, sizeof(u.tid) + sizeof(u.done));
	ASSERT_EQ(0, pthread_create(&th, NULL, t_unbind, &u));
	for (i = 0; i < 100 && !(LOAD(u.tid) && in_write(LOAD(u.tid))); i++)
		usleep(50000);
	usleep(100000);
	/* the race is reached only if unbind is still waiting for us */
	EXPECT_TRUE(LOAD(u.tid) && in_write(LOAD(u.tid)) && !LOAD(u.done))
		TH_LOG("unbind was not seen waiting for the device FD");
	mdv_close(&self->dst);
	pthread_join(th, NULL);
	EXPECT_EQ(0, u.ret);
	EXPECT_EQ(-1, read(fd, b, sizeof(b)));
	EXPECT_EQ(ENODEV, errno);
	/* driver_override games while unbound, then bind again */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 self->bdf[1]);
	EXPECT_EQ(0, mdv_sysfs_write(path, "\n"));
	EXPECT_EQ(0, mdv_sysfs_write(path, "mockdev-vfio-pci"));
	EXPECT_EQ(0, mdv_sysfs_write("/sys/bus/pci/drivers_probe", self->bdf[1]));
	close(fd);
	ASSERT_EQ(0, mdv_open(&self->dst, self->bdf[1], MDV_MODE_CONTAINER));
	EXPECT_EQ(0, mdv_param_u32(self->bdf[1], "state_size_mb", 2));
}

TEST_HARNESS_MAIN
