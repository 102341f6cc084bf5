// SPDX-License-Identifier: GPL-2.0
/*
 * Reliability: every fault switch, fail_arc on every FSM arc and a fail-nth
 * sweep of every allocation of the uAPI entry points leave a documented
 * state, reset recovers, a new migration then works and nothing leaks;
 * mutated streams never bring wrong state to RUNNING; concurrent users, a
 * reader killed mid-read and unbinding with a session open crash nothing
 * (KASAN, lockdep and kmemleak in the full lane watch).
 *
 * Prints "faults: N injected, N sites, N unrecovered, N leaks" (injected:
 * faults that fired and gave the documented outcome; sites: allocations the
 * fail-nth sweep failed; leaks: kmemleak reports with this module in the
 * backtrace, from objects the test left; "n/a leaks" on a kernel without
 * kmemleak) and
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
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define DBG "/sys/kernel/debug"

FIXTURE(rel) {
	char bdf[2][VMIG_NAME_LEN];
	struct vmig_dev src, dst;
};

FIXTURE_SETUP(rel)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int i;

	self->src.fd = -1;
	self->dst.fd = -1;
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 2)
		SKIP(return, "need two functions bound to mockdev-vfio-pci");
	for (i = 0; i < 2; i++) {
		snprintf(self->bdf[i], sizeof(self->bdf[i]), "%s", bdfs[i]);
		ASSERT_EQ(0, mdvt_param(bdfs[i], "p2p", "true"));
		ASSERT_EQ(0, mdvt_param(bdfs[i], "precopy", "true"));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "state_size_mb", 2));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "dirty_rate", 0));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "dma_rate", 0));
		ASSERT_EQ(0, mdvt_param_u32(bdfs[i], "save_rate_mb", 0));
	}
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
}

FIXTURE_TEARDOWN(rel)
{
	if (self->src.fd >= 0)
		vmig_close(&self->src);
	if (self->dst.fd >= 0)
		vmig_close(&self->dst);
}

static uint32_t state_of(struct vmig_dev *d)
{
	uint32_t st = ~0U;

	vmig_get_state(d, &st);
	return st;
}

/* After a fault: reset both, then a full migration must work */
static int recover(FIXTURE_DATA(rel) *self)
{
	if (vmig_reset(&self->src) || vmig_reset(&self->dst))
		return -1;
	if (state_of(&self->src) != S(RUNNING) ||
	    state_of(&self->dst) != S(RUNNING))
		return -1;
	if (vmig_migrate(&self->src, &self->dst, 1 << 20, 0))
		return -1;
	if (mdvt_digest(self->bdf[0]) != mdvt_digest(self->bdf[1]))
		return -1;
	return vmig_set_state(&self->src, S(RUNNING), NULL);
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
	if (vmig_sysfs_write(DBG "/kmemleak", "scan"))
		return -1;
	return vmig_sysfs_write(DBG "/kmemleak", "clear") ? -1 : 0;
}

static int kmemleak_ours(void)
{
	static char buf[1 << 20];
	size_t len = 0;
	int fd, leaks = 0;
	ssize_t n;
	char *p, *next;

	if (vmig_sysfs_write(DBG "/kmemleak", "scan"))
		return -1;
	sleep(6);
	if (vmig_sysfs_write(DBG "/kmemleak", "scan"))
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

/* ----- fault injection ----- */

#define ANY_STATE "4294967295"	/* fail_arc_from/to: any state */

/* data FD I/O of the fault tests; touched before use (see nth_arm()) */
static uint8_t fbuf[1 << 16];

/* The errno a 16-byte read (or write) on @fd fails with; 0 if it worked */
static int io_errno(int fd, bool wr)
{
	ssize_t n = wr ? write(fd, fbuf, 16) : read(fd, fbuf, 16);

	return n < 0 ? errno : 0;
}

static int dbg_u32(const char *bdf, const char *file, unsigned int *v)
{
	char buf[32];

	if (mdvt_dbg_read(bdf, file, buf, sizeof(buf)))
		return -1;
	*v = strtoul(buf, NULL, 0);
	return 0;
}

/*
 * The arcs mdv_step() implements (Documentation/mockdev-vfio-pci.rst, "The
 * FSM, arc by arc"). @p2p is the feature set in which the core hands the arc
 * out: without P2P it skips the P2P states, so RUNNING -> STOP and its kin
 * exist only there. @whole: RESUMING with the complete stream written, where
 * the arc would succeed without the switch.
 */
static const struct fault_arc {
	uint32_t from, to;
	bool p2p;
	bool whole;
} fault_arcs[] = {
	{ S(RUNNING), S(RUNNING_P2P), true, false },
	{ S(PRE_COPY), S(PRE_COPY_P2P), true, false },
	{ S(RUNNING_P2P), S(RUNNING), true, false },
	{ S(PRE_COPY_P2P), S(PRE_COPY), true, false },
	{ S(RUNNING_P2P), S(STOP), true, false },
	{ S(PRE_COPY_P2P), S(STOP_COPY), true, false },
	{ S(STOP), S(RUNNING_P2P), true, false },
	{ S(RUNNING), S(PRE_COPY), true, false },
	{ S(RUNNING_P2P), S(PRE_COPY_P2P), true, false },
	{ S(STOP), S(STOP_COPY), true, false },
	{ S(PRE_COPY), S(RUNNING), true, false },
	{ S(PRE_COPY_P2P), S(RUNNING_P2P), true, false },
	{ S(STOP_COPY), S(STOP), true, false },
	{ S(STOP), S(RESUMING), true, false },
	{ S(RESUMING), S(STOP), true, false },
	{ S(RESUMING), S(STOP), true, true },
	{ S(RUNNING), S(STOP), false, false },
	{ S(PRE_COPY), S(STOP_COPY), false, false },
	{ S(STOP), S(RUNNING), false, false },
};

/*
 * Bring @d from RUNNING to @st as a user would, with the session of @st
 * live in *@fd: a saving FD partly read (cut inside a record), a resuming FD
 * with @stream written up to its middle, or whole.
 */
static int reach(struct vmig_dev *d, uint32_t st, const uint8_t *stream,
		 int64_t len, bool whole, int *fd)
{
	int64_t n = whole ? len : len / 2 + 5;

	*fd = -1;
	switch (st) {
	case S(RUNNING):
		return 0;
	case S(RUNNING_P2P):
	case S(STOP):
		return vmig_set_state(d, st, NULL);
	case S(PRE_COPY):
	case S(PRE_COPY_P2P):
		if (vmig_set_state(d, S(PRE_COPY), fd) || read(*fd, fbuf, 100) <= 0)
			return -1;
		return st == S(PRE_COPY) ? 0 : vmig_set_state(d, st, NULL);
	case S(STOP_COPY):
		if (vmig_set_state(d, S(STOP), NULL) ||
		    vmig_set_state(d, S(STOP_COPY), fd))
			return -1;
		return read(*fd, fbuf, 100) > 0 ? 0 : -1;
	case S(RESUMING):
		if (vmig_set_state(d, S(STOP), NULL) ||
		    vmig_set_state(d, S(RESUMING), fd))
			return -1;
		return vmig_write_all(*fd, stream, n, 4096) == n ? 0 : -1;
	}
	return -1;
}

/*
 * fail_arc limited to @a, on a device brought to its from state with its
 * session live. The switch counts only if it fired: -EIO, ERROR and the
 * switch consumed. Then what the docs promise: the session's FD is dead
 * (-ENODEV), ERROR refuses requests (-EINVAL), reset brings RUNNING and a
 * new migration works.
 */
static int arc_fault(struct __test_metadata *_metadata,
		     FIXTURE_DATA(rel) *self, const struct fault_arc *a,
		     const uint8_t *stream, int64_t len, int *unrecovered)
{
	const char *bdf = self->bdf[0];
	unsigned int left = ~0U;
	int fd, ret, hit;
	uint32_t st;
	char v[16];

	ASSERT_EQ(0, reach(&self->src, a->from, stream, len, a->whole, &fd))
		TH_LOG("cannot reach %s", vmig_state_name(a->from));
	snprintf(v, sizeof(v), "%u", a->from);
	ASSERT_EQ(0, mdvt_dbg_write(bdf, "fail_arc_from", v));
	snprintf(v, sizeof(v), "%u", a->to);
	ASSERT_EQ(0, mdvt_dbg_write(bdf, "fail_arc_to", v));
	ASSERT_EQ(0, mdvt_dbg_write(bdf, "fail_arc", "1"));
	ret = vmig_set_state(&self->src, a->to, NULL);
	st = state_of(&self->src);
	dbg_u32(bdf, "fail_arc", &left);
	mdvt_dbg_write(bdf, "fail_arc", "0");
	mdvt_dbg_write(bdf, "fail_arc_from", ANY_STATE);
	mdvt_dbg_write(bdf, "fail_arc_to", ANY_STATE);
	hit = ret == -EIO && st == S(ERROR) && left == 0;
	EXPECT_TRUE(hit)
		TH_LOG("fail_arc %s -> %s%s: %d (%s), state %s, %u left",
		       vmig_state_name(a->from), vmig_state_name(a->to),
		       a->whole ? " (whole stream)" : "", ret, strerror(-ret),
		       vmig_state_name(st), left);
	EXPECT_EQ(-EINVAL, vmig_set_state(&self->src, S(RUNNING), NULL));
	if (fd >= 0) {
		EXPECT_EQ(ENODEV, io_errno(fd, a->from == S(RESUMING)))
			TH_LOG("%s FD alive after ERROR", vmig_state_name(a->from));
		close(fd);
	}
	*unrecovered += !!recover(self);
	return hit;
}

/*
 * fail-nth, as tools/testing/selftests/iommu/iommufd_fail_nth.c: N written
 * to /proc/thread-self/fail-nth fails the Nth fault-injection site this
 * thread passes (here FAILSLAB's: slab allocations) and counts down on the
 * way; it reads back 0 once it fired and non-zero when the call made fewer
 * than N allocations, which ends the sweep of that entry point. Nothing but
 * the call may run between arming and reading back: every buffer it uses is
 * already touched (a first-touch fault could allocate) and no library call
 * sits in between.
 */
static int nth_fd = -1;

static int nth_arm(unsigned int n)
{
	char b[16];
	int l = snprintf(b, sizeof(b), "%u", n);

	return pwrite(nth_fd, b, l, 0) == l ? 0 : -1;
}

/* Did the armed failure fire? Disarms either way. */
static bool nth_fired(void)
{
	char b[16] = "";
	ssize_t n = pread(nth_fd, b, sizeof(b) - 1, 0);

	if (pwrite(nth_fd, "0", 1, 0) != 1)
		return false;
	return n > 0 && atoi(b) == 0;
}

/*
 * kmemleak allocates its own metadata (its object cache) inside every slab
 * allocation it tracks and falls back to a static pool when that fails: a
 * fail-nth that lands there fails nothing of the driver's. FAILSLAB's reject
 * range keeps them out: the function of mm/kmemleak.c that makes that
 * allocation, mem_pool_alloc() or, where it is inlined, __alloc_object()
 * (the file's functions are not laid out in source order, so no wider range
 * is safe), up to the next symbol.
 */
static int kmemleak_text(unsigned long *start, unsigned long *end)
{
	static const char * const fn[] = { "mem_pool_alloc", "__alloc_object" };
	unsigned long a, at[2] = { 0, 0 }, lo, next = ~0UL;
	char line[512], name[256], t;
	int pass, i;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return -1;
	for (pass = 0; pass < 2; pass++) {
		rewind(f);
		lo = at[0] ?: at[1];
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%lx %c %255s", &a, &t, name) != 3 ||
			    (t != 't' && t != 'T') || !a)
				continue;
			if (pass) {
				if (a > lo && a < next)
					next = a;
				continue;
			}
			/* .constprop.0, .isra.0: the same function */
			name[strcspn(name, ".")] = 0;
			for (i = 0; i < 2; i++)
				if (!strcmp(name, fn[i]))
					at[i] = a;
		}
	}
	fclose(f);
	if (!lo || next == ~0UL || next - lo > (64UL << 10))
		return -1;
	*start = lo;
	*end = next;
	return 0;
}

/* FAILSLAB for fail-nth; 0 when a sweep can run, else why not in @why */
static int failslab_begin(const char **why)
{
	unsigned long ks, ke;
	char t[32];

	*why = "no FAILSLAB (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS) on this kernel";
	if (access(DBG "/failslab/ignore-gfp-wait", F_OK))
		return -1;
	*why = "no /proc/thread-self/fail-nth";
	nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth_fd < 0)
		return -1;
	/* GFP_KERNEL may sleep: with the default (Y) it would never fail */
	if (vmig_sysfs_write(DBG "/failslab/ignore-gfp-wait", "N") ||
	    vmig_sysfs_write(DBG "/failslab/probability", "0") ||
	    vmig_sysfs_write(DBG "/failslab/verbose", "0") ||
	    vmig_sysfs_write(DBG "/failslab/require-start", "0") ||
	    vmig_sysfs_write(DBG "/failslab/require-end", "0xffffffffffffffff")) {
		*why = "cannot configure FAILSLAB";
		return -1;
	}
	if (access(DBG "/kmemleak", F_OK))
		return 0;
	*why = "kmemleak's allocating functions not found in /proc/kallsyms";
	if (kmemleak_text(&ks, &ke))
		return -1;
	snprintf(t, sizeof(t), "%#lx", ks);
	if (vmig_sysfs_write(DBG "/failslab/reject-start", t))
		return -1;
	snprintf(t, sizeof(t), "%#lx", ke);
	printf("# faults: kmemleak's allocations [%#lx, %s) excluded\n", ks, t);
	return vmig_sysfs_write(DBG "/failslab/reject-end", t) ? -1 : 0;
}

static void failslab_end(void)
{
	vmig_sysfs_write(DBG "/failslab/reject-start", "0");
	vmig_sysfs_write(DBG "/failslab/reject-end", "0");
	vmig_sysfs_write(DBG "/failslab/ignore-gfp-wait", "Y");
	close(nth_fd);
	nth_fd = -1;
}

/*
 * The uAPI entry points that can allocate, each with the state it is called
 * in, the state a failed allocation must leave (the docs: a session that
 * cannot be allocated leaves the device where the path had got to, nothing
 * else changes) and the allocations the call makes at least, which the
 * sweep must reach: a session is its migf and its anon file (a dentry and a
 * struct file), PRE_COPY adds the dirty bitmap; DMA logging START is the
 * core's node array and a node a range, REPORT the core's iova_bitmap and,
 * with a range owed after a reset, the split of that range.
 */
enum {
	EP_PRECOPY, EP_PRECOPY_P2P, EP_STOPCOPY, EP_STOPCOPY_LONG,
	EP_RESUMING, EP_READ_PRECOPY, EP_READ_STOPCOPY, EP_WRITE,
	EP_DATA_SIZE, EP_PRECOPY_INFO, EP_LOG_START, EP_LOG_REPORT,
	EP_LOG_REPORT_OWED, EP_NR
};

#define LOG_RANGES 3

static const struct fault_ep {
	const char *name;
	uint32_t in;		/* state the call is made in */
	uint32_t ok;		/* state after the call when it works */
	uint32_t failed;	/* documented state after a failed allocation */
	int min_sites;
	bool log;
} fault_eps[EP_NR] = {
	[EP_PRECOPY] = { "SET_STATE RUNNING->PRE_COPY", S(RUNNING), S(PRE_COPY),
			 S(RUNNING), 4, false },
	[EP_PRECOPY_P2P] = { "SET_STATE RUNNING->PRE_COPY_P2P", S(RUNNING),
			     S(PRE_COPY_P2P), S(RUNNING_P2P), 4, false },
	[EP_STOPCOPY] = { "SET_STATE STOP->STOP_COPY", S(STOP), S(STOP_COPY),
			  S(STOP), 3, false },
	[EP_STOPCOPY_LONG] = { "SET_STATE RUNNING->STOP_COPY", S(RUNNING),
			       S(STOP_COPY), S(STOP), 3, false },
	[EP_RESUMING] = { "SET_STATE STOP->RESUMING", S(STOP), S(RESUMING),
			  S(STOP), 3, false },
	[EP_READ_PRECOPY] = { "read PRE_COPY", S(PRE_COPY), S(PRE_COPY),
			      S(PRE_COPY), 0, false },
	[EP_READ_STOPCOPY] = { "read STOP_COPY", S(STOP_COPY), S(STOP_COPY),
			       S(STOP_COPY), 0, false },
	[EP_WRITE] = { "write RESUMING", S(RESUMING), S(RESUMING),
		       S(RESUMING), 0, false },
	[EP_DATA_SIZE] = { "MIG_DATA_SIZE", S(PRE_COPY), S(PRE_COPY),
			   S(PRE_COPY), 0, false },
	[EP_PRECOPY_INFO] = { "PRECOPY_INFO", S(PRE_COPY), S(PRE_COPY),
			      S(PRE_COPY), 0, false },
	[EP_LOG_START] = { "DMA_LOGGING_START", S(RUNNING), S(RUNNING),
			   S(RUNNING), 1 + LOG_RANGES, true },
	[EP_LOG_REPORT] = { "DMA_LOGGING_REPORT", S(RUNNING), S(RUNNING),
			    S(RUNNING), 1, true },
	[EP_LOG_REPORT_OWED] = { "DMA_LOGGING_REPORT owed", S(RUNNING),
				 S(RUNNING), S(RUNNING), 2, true },
};

static const struct vmig_range log_r[LOG_RANGES] = {
	{ 0x100000, 0x10000 }, { 0x200000, 0x10000 }, { 0x300000, 0x10000 },
};

/* Every bit of a report of @len bytes at 4 KiB set? */
static bool all_dirty(const uint64_t *bm, uint64_t len)
{
	uint64_t pages = len / 4096;

	return bm[0] == (pages >= 64 ? ~0ULL : (1ULL << pages) - 1);
}

/*
 * The precondition of @ep on src (RUNNING on entry): state, session FD in
 * *@fd, DMA logging.
 */
static int ep_setup(FIXTURE_DATA(rel) *self, int ep, const uint8_t *stream,
		    int64_t len, int *fd)
{
	uint64_t ps = 4096;
	int ret;

	*fd = -1;
	switch (ep) {
	case EP_READ_PRECOPY:
	case EP_DATA_SIZE:
	case EP_PRECOPY_INFO:
		ret = vmig_set_state(&self->src, S(PRE_COPY), fd);
		/* cut inside a record: the size and info count its rest */
		if (!ret && ep != EP_READ_PRECOPY && read(*fd, fbuf, 100) <= 0)
			ret = -1;
		return ret;
	case EP_READ_STOPCOPY:
	case EP_WRITE:
		if (vmig_set_state(&self->src, S(STOP), NULL))
			return -1;
		return vmig_set_state(&self->src, fault_eps[ep].in, fd);
	case EP_LOG_REPORT:
		return vmig_log_start(&self->src, log_r, LOG_RANGES, &ps);
	case EP_LOG_REPORT_OWED:
		/* a reset while tracking: every tracked range owed, whole */
		ret = vmig_log_start(&self->src, log_r, LOG_RANGES, &ps);
		return ret ? ret : vmig_reset(&self->src);
	default:
		return fault_eps[ep].in == S(RUNNING) ? 0 :
		       vmig_set_state(&self->src, fault_eps[ep].in, NULL);
	}
}

/* The entry point itself; nothing else may make a system call here */
static int ep_call(FIXTURE_DATA(rel) *self, int ep, const uint8_t *stream,
		   int fd, int *nfd, uint64_t *bm)
{
	uint64_t v, w, ps = 4096;
	ssize_t n;

	switch (ep) {
	case EP_PRECOPY:
	case EP_PRECOPY_P2P:
	case EP_STOPCOPY:
	case EP_STOPCOPY_LONG:
	case EP_RESUMING:
		return vmig_set_state(&self->src, fault_eps[ep].ok, nfd);
	case EP_READ_PRECOPY:
	case EP_READ_STOPCOPY:
		n = read(fd, fbuf, 8192);
		return n > 0 ? 0 : n < 0 ? -errno : -ENODATA;
	case EP_WRITE:
		n = write(fd, stream, 8192);
		return n > 0 ? 0 : n < 0 ? -errno : -ENODATA;
	case EP_DATA_SIZE:
		return vmig_data_size(&self->src, &v);
	case EP_PRECOPY_INFO:
		return vmig_precopy_info(fd, &v, &w);
	case EP_LOG_START:
		return vmig_log_start(&self->src, log_r, LOG_RANGES, &ps);
	case EP_LOG_REPORT:
		return vmig_log_report(&self->src, log_r[1].iova,
				      log_r[1].length, 4096, bm);
	case EP_LOG_REPORT_OWED:
		/* inside the range, so what stays owed must be split */
		return vmig_log_report(&self->src, log_r[0].iova + 0x4000,
				      0x4000, 4096, bm);
	}
	return -EINVAL;
}

/*
 * After an injected failure in @ep that returned @ret: the documented
 * outcome? -ENOMEM and the state the path had got to; what must work next
 * from there works. A REPORT whose owed range cannot be split keeps the
 * range owed and goes on (dirty.c, mdv_owed_take(); the user guide does not
 * say): then it succeeds, its window all dirty, and the rest of the range
 * is still reported.
 */
static bool ep_outcome(struct __test_metadata *_metadata,
		       FIXTURE_DATA(rel) *self, int ep, int ret, int fd,
		       uint64_t *bm)
{
	const struct fault_ep *e = &fault_eps[ep];
	uint32_t st = state_of(&self->src);
	uint64_t ps = 4096, v;
	bool ok;
	int nfd = -1;

	if (ep == EP_LOG_REPORT_OWED && !ret) {
		ok = all_dirty(bm, 0x4000) &&
		     !vmig_log_report(&self->src, log_r[0].iova, 0x4000, 4096, bm) &&
		     all_dirty(bm, 0x4000) &&
		     !vmig_log_report(&self->src, log_r[0].iova + 0x8000, 0x8000,
				     4096, bm) &&
		     all_dirty(bm, 0x8000);
		EXPECT_TRUE(ok) TH_LOG("%s: a failed split lost an owed page",
				       e->name);
		return ok && st == e->failed;
	}
	ok = ret == -ENOMEM && st == e->failed;
	EXPECT_TRUE(ok) TH_LOG("%s: %d (%s), state %s; documented: -ENOMEM, %s",
			       e->name, ret, strerror(-ret), vmig_state_name(st),
			       vmig_state_name(e->failed));
	if (!ok)
		return false;
	/* nothing half done: the same request works now */
	switch (ep) {
	case EP_PRECOPY:
	case EP_PRECOPY_P2P:
	case EP_STOPCOPY:
	case EP_STOPCOPY_LONG:
	case EP_RESUMING:
		ok = !vmig_set_state(&self->src, e->ok, &nfd) && nfd >= 0;
		break;
	case EP_READ_PRECOPY:
	case EP_READ_STOPCOPY:
		ok = read(fd, fbuf, 8192) > 0;
		break;
	case EP_DATA_SIZE:
		ok = !vmig_data_size(&self->src, &v);
		break;
	case EP_LOG_START:
		/* tracking did not start: a report is refused, a start works */
		ok = vmig_log_report(&self->src, log_r[0].iova, 4096, 4096, bm) ==
		     -EINVAL &&
		     !vmig_log_start(&self->src, log_r, LOG_RANGES, &ps);
		break;
	case EP_LOG_REPORT:
	case EP_LOG_REPORT_OWED:
		ok = !vmig_log_report(&self->src, log_r[1].iova, log_r[1].length,
				     4096, bm);
		break;
	}
	if (nfd >= 0)
		close(nfd);
	EXPECT_TRUE(ok) TH_LOG("%s: the request fails again after -ENOMEM",
			       e->name);
	return ok;
}

struct fault_counts {
	int injected;
	int sites;
	int unrecovered;
	int min_sites;
	int swept;	/* entry points swept to their end */
	int eps;	/* entry points swept */
};

/*
 * Sweep @ep: N = 1, 2, ... until the call makes fewer than N allocations.
 * Each N that fires is a site; it counts as injected when the outcome is
 * the documented one. Every one is followed by a reset and a migration.
 */
static void ep_sweep(struct __test_metadata *_metadata,
		     FIXTURE_DATA(rel) *self, int ep, const uint8_t *stream,
		     int64_t len, struct fault_counts *c)
{
	static uint64_t bm[4];
	const struct fault_ep *e = &fault_eps[ep];
	int n, ret, fd, nfd, sites = 0;
	bool fired, end = false;

	for (n = 1; n <= 64 && !end; n++) {
		ASSERT_EQ(0, ep_setup(self, ep, stream, len, &fd))
			TH_LOG("%s: cannot set up", e->name);
		memset(fbuf, 0, sizeof(fbuf));
		memset(bm, 0, sizeof(bm));
		nfd = -1;
		ASSERT_EQ(0, nth_arm(n));
		ret = ep_call(self, ep, stream, fd, &nfd, bm);
		fired = nth_fired();
		if (fired) {
			sites++;
			c->injected += ep_outcome(_metadata, self, ep, ret, fd, bm);
		} else {
			/* fewer than N allocations: the call ran unharmed */
			end = true;
			EXPECT_EQ(0, ret) TH_LOG("%s failed without an injection",
						 e->name);
			EXPECT_EQ(e->ok, state_of(&self->src));
		}
		if (fd >= 0)
			close(fd);
		if (nfd >= 0)
			close(nfd);
		if (e->log)
			vmig_log_stop(&self->src);
		if (fired)
			c->unrecovered += !!recover(self);
		else
			ASSERT_EQ(0, vmig_reset(&self->src));
	}
	printf("# faults: %-32s %d allocation sites%s\n", e->name, sites,
	       end ? "" : " (sweep cut at 64)");
	EXPECT_TRUE(end) TH_LOG("%s: not swept to its end", e->name);
	EXPECT_LE(e->min_sites, sites) TH_LOG("%s: the sweep missed allocations",
					      e->name);
	c->sites += sites;
	c->min_sites += e->min_sites;
	c->swept += end;
	c->eps++;
}

/*
 * Every fault switch, every FSM arc failed by fail_arc (with its session
 * live), and a fail-nth sweep of every allocation of every uAPI entry point
 * that can allocate. "injected" counts only faults that fired and gave the
 * documented outcome; the floor is what the sweep must reach.
 */
TEST_F_TIMEOUT(rel, fault_injection, 900)
{
	struct fault_counts c = {};
	const char *why, *lane = getenv("LANE") ?: "";
	int switches = 0, want_switches = 5, arcs = 0, leaks, fd, i, ret;
	int kmemleak, has_log, expect;
	uint8_t *stream, *buf;
	int64_t len, n;
	uint64_t ps, bm[1], sz;
	uint32_t st;

	kmemleak = kmemleak_begin();
	memset(fbuf, 0, sizeof(fbuf));
	/* a complete stream of dst's state, for resuming sessions on src */
	len = vmig_save_stream(&self->dst, &stream);
	ASSERT_LT(8192, len);

	/* fail_alloc: -ENOMEM, the device where the path had got to */
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "fail_alloc", "1"));
	ret = vmig_set_state(&self->src, S(STOP_COPY), NULL);
	st = state_of(&self->src);
	EXPECT_EQ(-ENOMEM, ret);
	EXPECT_EQ(S(STOP), st);
	switches += ret == -ENOMEM && st == S(STOP);
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[1], "fail_alloc", "1"));
	ret = vmig_set_state(&self->dst, S(RESUMING), NULL);
	st = state_of(&self->dst);
	EXPECT_EQ(-ENOMEM, ret);
	EXPECT_EQ(S(STOP), st);
	switches += ret == -ENOMEM && st == S(STOP);
	c.unrecovered += !!recover(self);

	/*
	 * fail_read twice and fail_write once, with chosen errnos: they consume
	 * nothing, so the stream read after them is whole (as long as
	 * MIG_DATA_SIZE said) and loads.
	 */
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "fail_errno", "11"));
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[1], "fail_errno", "28"));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP), NULL));
	ASSERT_EQ(0, vmig_data_size(&self->src, &sz));
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "fail_read", "2"));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(STOP_COPY), &fd));
	for (i = 0; i < 2; i++) {
		ret = io_errno(fd, false);
		EXPECT_EQ(EAGAIN, ret);
		switches += ret == EAGAIN;
	}
	n = vmig_read_stream(fd, &buf);
	close(fd);
	ASSERT_EQ((int64_t)sz, n) TH_LOG("fail_read consumed part of the stream");
	ASSERT_EQ(0, mdvt_dbg_write(self->bdf[1], "fail_write", "1"));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(STOP), NULL));
	ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &fd));
	ret = write(fd, buf, n) < 0 ? errno : 0;
	EXPECT_EQ(ENOSPC, ret);
	switches += ret == ENOSPC;
	EXPECT_EQ(n, vmig_write_all(fd, buf, n, 65536));
	close(fd);
	free(buf);
	EXPECT_EQ(0, vmig_set_state(&self->dst, S(RUNNING), NULL));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
	mdvt_dbg_write(self->bdf[0], "fail_errno", "5");
	mdvt_dbg_write(self->bdf[1], "fail_errno", "5");
	c.unrecovered += !!recover(self);

	/* DMA logging start and report: -EIO, a report clears nothing */
	ps = 4096;
	ret = vmig_log_start(&self->src, log_r, 1, &ps);
	has_log = ret != -ENOTTY;
	if (!has_log) {
		EXPECT_STRNE("full", lane) TH_LOG("DMA logging -ENOTTY in the full lane");
		printf("# faults: no DMA logging on this kernel: %s\n",
		       "its switches and its fail-nth sweep not run");
	} else {
		ASSERT_EQ(0, ret);
		ASSERT_EQ(0, vmig_log_stop(&self->src));
		want_switches += 2;
		ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "fail_log_start", "1"));
		ret = vmig_log_start(&self->src, log_r, 1, &ps);
		EXPECT_EQ(-EIO, ret);
		switches += ret == -EIO;
		ASSERT_EQ(0, vmig_log_start(&self->src, log_r, 1, &ps));
		ASSERT_EQ(0, vmig_reset(&self->src));	/* all owed */
		ASSERT_EQ(0, mdvt_dbg_write(self->bdf[0], "fail_log_report", "1"));
		ret = vmig_log_report(&self->src, log_r[0].iova, 0x4000, 4096, bm);
		EXPECT_EQ(-EIO, ret);
		switches += ret == -EIO;
		bm[0] = 0;
		EXPECT_EQ(0, vmig_log_report(&self->src, log_r[0].iova, 0x4000,
					     4096, bm));
		EXPECT_TRUE(all_dirty(bm, 0x4000))
			TH_LOG("a failed report cleared %#llx",
			       (unsigned long long)bm[0]);
		EXPECT_EQ(0, vmig_log_stop(&self->src));
		c.unrecovered += !!recover(self);
	}
	EXPECT_EQ(want_switches, switches);

	/* fail_arc on every arc, sessions live where the arc has one */
	for (i = 0; i < (int)ARRAY_SIZE(fault_arcs); i++) {
		const struct fault_arc *a = &fault_arcs[i];

		if (i == 0 || a->p2p != fault_arcs[i - 1].p2p) {
			/* feature knobs are frozen while the device is open */
			vmig_close(&self->src);
			ASSERT_EQ(0, mdvt_param(self->bdf[0], "p2p",
						a->p2p ? "true" : "false"));
			ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0],
					       VMIG_MODE_CONTAINER));
		}
		arcs += arc_fault(_metadata, self, a, stream, len,
				  &c.unrecovered);
	}
	vmig_close(&self->src);
	ASSERT_EQ(0, mdvt_param(self->bdf[0], "p2p", "true"));
	/* LOG_RANGES ranges tracked as given, not merged */
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "log_max_ranges", LOG_RANGES));
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	/* 18 arcs, RESUMING -> STOP twice (half and all of a stream) */
	printf("# faults: fail_arc fired on %d of %zu arcs\n", arcs,
	       ARRAY_SIZE(fault_arcs));
	EXPECT_EQ((int)ARRAY_SIZE(fault_arcs), arcs);

	/* fail-nth over every allocation of every entry point */
	if (failslab_begin(&why)) {
		printf("# faults: fail-nth sweep not run: %s\n", why);
		EXPECT_STRNE("full", lane) TH_LOG("full lane: %s", why);
	} else {
		for (i = 0; i < EP_NR; i++)
			if (!fault_eps[i].log || has_log)
				ep_sweep(_metadata, self, i, stream, len, &c);
		failslab_end();
		printf("# faults: fail-nth: %d of %d entry points swept, %d sites (known: %d)\n",
		       c.swept, c.eps, c.sites, c.min_sites);
		EXPECT_EQ(c.eps, c.swept);
		EXPECT_LE(c.min_sites, c.sites);
	}
	free(stream);

	vmig_close(&self->src);
	vmig_close(&self->dst);
	leaks = kmemleak ? -1 : kmemleak_ours();
	c.injected += switches + arcs;
	if (leaks < 0)
		printf("faults: %d injected, %d sites, %d unrecovered, n/a leaks (no kmemleak)\n",
		       c.injected, c.sites, c.unrecovered);
	else
		printf("faults: %d injected, %d sites, %d unrecovered, %d leaks\n",
		       c.injected, c.sites, c.unrecovered, leaks);
	EXPECT_EQ(0, c.unrecovered);
	EXPECT_GE(0, leaks) TH_LOG("kmemleak: %d objects from this module", leaks);
	/* every switch, every arc and every site, each with its documented outcome */
	expect = want_switches + (int)ARRAY_SIZE(fault_arcs) + c.sites;
	EXPECT_EQ(expect, c.injected);
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

	if (mdvt_dbg_read(bdf, "params", buf, sizeof(buf)))
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
static int64_t save_precopy_stream(struct vmig_dev *d, const char *bdf,
				   uint8_t **buf)
{
	size_t cap = 1 << 20;
	int64_t len = 0;
	int fd;

	*buf = malloc(cap);
	if (vmig_set_state(d, S(PRE_COPY), &fd))
		return -1;
	len = read_more(fd, buf, len, &cap);
	if (len > 0 && !mdvt_dbg_write(bdf, "mock/dirty_now", "150"))
		len = read_more(fd, buf, len, &cap);
	if (len > 0 && !mdvt_dbg_write(bdf, "mock/dirty_now", "70") &&
	    !vmig_set_state(d, S(STOP_COPY), NULL))
		len = read_more(fd, buf, len, &cap);
	close(fd);
	if (vmig_set_state(d, S(RUNNING), NULL))
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
	lb[0] = vmig_save_stream(&self->src, &base[0]);
	lb2 = vmig_save_stream(&self->src, &b2);
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
		ASSERT_EQ(0, vmig_set_state(&self->dst, S(RESUMING), &fd));
		n = vmig_write_all(fd, m, lm, 1 + rand_r(&seed) % 65536);
		close(fd);
		if (!vmig_set_state(&self->dst, S(RUNNING), NULL)) {
			uint8_t *r;
			int64_t lr = vmig_save_stream(&self->dst, &r);

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
		ASSERT_EQ(0, vmig_reset(&self->dst));
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
	struct vmig_dev *d;
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
		vmig_precopy_info(LOAD(c->fd), &i, &d);
		vmig_data_size(c->d, &sz);
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
		vmig_set_state(c->d, st[k++ % 6], &fd);
		if (fd >= 0) {
			old = LOAD(c->fd);
			STORE(c->fd, fd);
			usleep(1000);
			close(old);
		}
		if (k % 17 == 0)
			vmig_reset(c->d);
		__atomic_add_fetch(&c->ops, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *t_log(void *arg)
{
	struct vmig_range r = { 0x100000, 0x10000 };
	struct conc *c = arg;
	uint64_t ps, bm[1];

	while (!LOAD(c->stop)) {
		ps = 4096;
		vmig_log_start(c->d, &r, 1, &ps);
		vmig_log_report(c->d, r.iova, r.length, 4096, bm);
		vmig_log_stop(c->d);
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

	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "dirty_rate", 0));
	ASSERT_EQ(0, vmig_set_state(&self->src, S(PRE_COPY), &fd));
	c.fd = fd;
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, fn[i], &c));
	sleep(4);
	STORE(c.stop, 1);
	for (i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	close(c.fd);
	TH_LOG("%ld operations from 5 threads", c.ops);
	ASSERT_EQ(0, vmig_reset(&self->src));
	EXPECT_EQ(0, vmig_migrate(&self->src, &self->dst, 1 << 20, 3));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
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

	vmig_close(&self->src);
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "state_size_mb", 64));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "save_rate_mb", 8));
	ASSERT_EQ(0, pipe(hs));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		static uint8_t buf[1 << 20];
		struct vmig_dev d;
		int fd;

		close(hs[0]);
		if (vmig_open(&d, self->bdf[0], VMIG_MODE_CONTAINER) ||
		    vmig_set_state(&d, S(STOP_COPY), &fd) ||
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
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "save_rate_mb", 0));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf[0], "state_size_mb", 2));
	ASSERT_EQ(0, vmig_open(&self->src, self->bdf[0], VMIG_MODE_CONTAINER));
	EXPECT_EQ(0, vmig_migrate(&self->src, &self->dst, 1 << 20, 9));
	EXPECT_EQ(mdvt_digest(self->bdf[0]), mdvt_digest(self->bdf[1]));
}

struct unbind_arg {
	char path[128];
	char bdf[VMIG_NAME_LEN];
	int ret;
	int tid;
	int done;
};

static void *t_unbind(void *arg)
{
	struct unbind_arg *u = arg;

	STORE(u->tid, gettid());
	u->ret = vmig_sysfs_write(u->path, u->bdf);
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
	struct vmig_range r = { 0x100000, 0x10000 };
	struct unbind_arg u;
	char path[128];
	uint64_t ps = 4096;
	pthread_t th;
	uint8_t b[16];
	int fd, i;

	ASSERT_EQ(0, vmig_set_state(&self->dst, S(PRE_COPY), &fd));
	vmig_log_start(&self->dst, &r, 1, &ps);
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
	vmig_close(&self->dst);
	pthread_join(th, NULL);
	EXPECT_EQ(0, u.ret);
	EXPECT_EQ(-1, read(fd, b, sizeof(b)));
	EXPECT_EQ(ENODEV, errno);
	/* driver_override games while unbound, then bind again */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 self->bdf[1]);
	EXPECT_EQ(0, vmig_sysfs_write(path, "\n"));
	EXPECT_EQ(0, vmig_sysfs_write(path, "mockdev-vfio-pci"));
	EXPECT_EQ(0, vmig_sysfs_write("/sys/bus/pci/drivers_probe", self->bdf[1]));
	close(fd);
	ASSERT_EQ(0, vmig_open(&self->dst, self->bdf[1], VMIG_MODE_CONTAINER));
	EXPECT_EQ(0, mdvt_param_u32(self->bdf[1], "state_size_mb", 2));
}

TEST_HARNESS_MAIN
