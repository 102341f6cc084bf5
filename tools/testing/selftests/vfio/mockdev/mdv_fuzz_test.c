// SPDX-License-Identifier: GPL-2.0
/*
 * Model-based random testing of the migration uAPI. Random sequences of
 * state sets (valid and invalid), reads and writes of random sizes (valid
 * stream bytes and garbage), precopy info, MIG_DATA_SIZE, DMA logging
 * start/report/stop, resets, FD closes, device reopens and knob changes are
 * checked one by one against a reference model of the uAPI text. With an
 * idle device every byte count is predictable, so the model checks exact
 * values, not just errnos.
 *
 * MDV_FUZZ_SEED (default: time) and MDV_FUZZ_OPS (default 100000) steer it;
 * the seed is printed. A divergence is shrunk to a short sequence that still
 * shows it, and printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "mdv_lib.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define END_BYTES (sizeof(struct mdv_rec_hdr) + sizeof(struct mdv_rec_end))
#define MAXIO 65536
#define MAX_STALE 4

enum op_kind {
	OP_SET, OP_GET, OP_READ, OP_READ_STALE, OP_WRITE, OP_WRITE_GARBAGE,
	OP_PRECOPY, OP_PRECOPY_RFD, OP_DATA_SIZE, OP_RESET, OP_CLOSE_STALE,
	OP_LOG_START, OP_LOG_REPORT, OP_LOG_REPORT_OUT, OP_LOG_STOP,
	OP_KNOB, OP_REOPEN, OP_NUM,
};

static const char * const op_names[] = {
	"set", "get", "read", "read-stale", "write", "write-garbage",
	"precopy-info", "precopy-info-on-resuming-fd", "data-size", "reset",
	"close-stale", "log-start", "log-report", "log-report-outside",
	"log-stop", "knob", "reopen",
};

struct op {
	uint8_t kind;
	uint32_t arg;		/* state, length, ... */
	uint32_t seed;		/* garbage content */
};

enum rstate { R_VALID, R_POISONED, R_REJECTED };

struct fuzz {
	struct __test_metadata *meta;
	struct mdv_dev dev;
	char bdf[MDV_NAME_LEN];
	bool logging;		/* kernel offers DMA logging */
	/* the model */
	uint32_t state;
	uint64_t full;		/* stream size of a fresh session */
	int sfd, rfd;
	bool s_live, r_live;
	uint64_t s_read, r_written;
	enum rstate r;
	int stale[MAX_STALE];
	int nstale;
	bool log_active;
	bool log_owed;		/* a reset owes the report window all dirty */
	uint32_t size_mb;
	uint8_t *valid;		/* a complete stream of this device */
	uint64_t valid_len;
	uint8_t buf[MAXIO];
	/* the divergence */
	char why[256];
};

/* The uAPI's combination table: the next state on the way to @to */
static uint32_t next_state(uint32_t from, uint32_t to)
{
	static const uint8_t t[8][8] = {
		[S(STOP)] = { [S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING_P2P),
			[S(PRE_COPY)] = S(RUNNING_P2P), [S(PRE_COPY_P2P)] = S(RUNNING_P2P),
			[S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(RESUMING),
			[S(RUNNING_P2P)] = S(RUNNING_P2P) },
		[S(RUNNING)] = { [S(STOP)] = S(RUNNING_P2P), [S(RUNNING)] = S(RUNNING),
			[S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(RUNNING_P2P),
			[S(STOP_COPY)] = S(RUNNING_P2P), [S(RESUMING)] = S(RUNNING_P2P),
			[S(RUNNING_P2P)] = S(RUNNING_P2P) },
		[S(PRE_COPY)] = { [S(STOP)] = S(RUNNING), [S(RUNNING)] = S(RUNNING),
			[S(PRE_COPY)] = S(PRE_COPY), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
			[S(STOP_COPY)] = S(PRE_COPY_P2P), [S(RESUMING)] = S(RUNNING),
			[S(RUNNING_P2P)] = S(RUNNING) },
		[S(PRE_COPY_P2P)] = { [S(STOP)] = S(RUNNING_P2P),
			[S(RUNNING)] = S(RUNNING_P2P), [S(PRE_COPY)] = S(PRE_COPY),
			[S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
			[S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(RUNNING_P2P),
			[S(RUNNING_P2P)] = S(RUNNING_P2P) },
		[S(STOP_COPY)] = { [S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
			[S(STOP_COPY)] = S(STOP_COPY), [S(RESUMING)] = S(STOP),
			[S(RUNNING_P2P)] = S(STOP) },
		[S(RESUMING)] = { [S(STOP)] = S(STOP), [S(RUNNING)] = S(STOP),
			[S(PRE_COPY)] = S(STOP), [S(PRE_COPY_P2P)] = S(STOP),
			[S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(RESUMING),
			[S(RUNNING_P2P)] = S(STOP) },
		[S(RUNNING_P2P)] = { [S(STOP)] = S(STOP), [S(RUNNING)] = S(RUNNING),
			[S(PRE_COPY)] = S(RUNNING), [S(PRE_COPY_P2P)] = S(PRE_COPY_P2P),
			[S(STOP_COPY)] = S(STOP), [S(RESUMING)] = S(STOP),
			[S(RUNNING_P2P)] = S(RUNNING_P2P) },
	};

	return t[from][to];
}

static void stale_add(struct fuzz *f, int fd)
{
	if (fd < 0)
		return;
	if (f->nstale == MAX_STALE) {
		close(f->stale[0]);
		memmove(f->stale, f->stale + 1, sizeof(int) * (MAX_STALE - 1));
		f->nstale--;
	}
	f->stale[f->nstale++] = fd;
}

static void end_saving(struct fuzz *f)
{
	f->s_live = false;
	stale_add(f, f->sfd);
	f->sfd = -1;
}

static void end_resuming(struct fuzz *f)
{
	f->r_live = false;
	stale_add(f, f->rfd);
	f->rfd = -1;
}

static int diverge(struct fuzz *f, const char *fmt, long a, long b)
{
	snprintf(f->why, sizeof(f->why), fmt, a, b);
	return 1;
}

/* A complete stream of the device as it is now, taken from RUNNING */
static int capture(struct fuzz *f)
{
	int64_t n;
	int fd;

	free(f->valid);
	f->valid = NULL;
	if (mdv_set_state(&f->dev, S(STOP_COPY), &fd))
		return -1;
	n = mdv_read_stream(fd, &f->valid);
	close(fd);
	if (n <= 0 || mdv_set_state(&f->dev, S(RUNNING), NULL))
		return -1;
	f->valid_len = n;
	f->full = n;
	return 0;
}

/*
 * VFIO_DEVICE_RESET and a close/open both end the sessions; DMA logging
 * survives a function reset (everything is reported once) but not a close.
 */
static int model_reset(struct fuzz *f, bool close)
{
	f->state = S(RUNNING);
	end_saving(f);
	end_resuming(f);
	if (close)
		f->log_active = false;
	f->log_owed = f->log_active;
	return 0;
}

static int do_set(struct fuzz *f, uint32_t to)
{
	uint32_t cur = f->state, got;
	bool ok = true, new_s = false, new_r = false, has_fd;
	int ret, fd = -1;

	ret = mdv_set_state(&f->dev, to, &fd);
	if (to > S(PRE_COPY_P2P) || to == S(ERROR) || cur == S(ERROR) ||
	    (cur == S(STOP_COPY) && mdv_state_precopy(to))) {
		if (ret != -EINVAL)
			return diverge(f, "set %ld: want EINVAL, got %ld", to, ret);
		return 0;
	}
	/* walk the path the core will take and predict each arc */
	while (cur != to) {
		uint32_t nx = next_state(cur, to);

		if (cur == S(RESUMING) && nx == S(STOP)) {
			end_resuming(f);
			if (f->r != R_VALID || f->r_written != f->valid_len) {
				/* incomplete or bad stream: ERROR */
				cur = S(ERROR);
				ok = false;
				break;
			}
		}
		if (mdv_state_saving(cur) && !mdv_state_saving(nx))
			end_saving(f);
		if (nx == S(RESUMING)) {
			f->r_live = true;
			f->r_written = 0;
			f->r = R_VALID;
			new_r = true;
		}
		if ((mdv_state_precopy(nx) && !mdv_state_precopy(cur)) ||
		    (nx == S(STOP_COPY) && !mdv_state_saving(cur))) {
			f->s_live = true;
			f->s_read = 0;
			new_s = true;
		}
		cur = nx;
	}
	f->state = cur;
	if (!ok && ret != -EINVAL)
		return diverge(f, "set %ld: want EINVAL (bad stream), got %ld",
			       to, ret);
	if (ok && ret)
		return diverge(f, "set %ld: got %ld", to, ret);
	if (mdv_get_state(&f->dev, &got) || got != f->state)
		return diverge(f, "after set: model %ld, device %ld", f->state, got);
	has_fd = fd >= 0;
	if (has_fd != (new_s || new_r)) {
		if (fd >= 0)
			close(fd);
		return diverge(f, "set %ld: data FD %ld, model disagrees", to, fd);
	}
	if (new_r)
		f->rfd = fd;
	else if (new_s)
		f->sfd = fd;
	return 0;
}

static uint64_t avail(struct fuzz *f)
{
	uint64_t left = f->full - f->s_read;

	if (mdv_state_precopy(f->state))
		return left > END_BYTES ? left - END_BYTES : 0;
	return left;
}

static int do_op(struct fuzz *f, const struct op *op)
{
	uint64_t init, dirty, len;
	unsigned int seed = op->seed;
	ssize_t n;
	uint32_t st;
	int ret, i;

	switch (op->kind) {
	case OP_SET:
		return do_set(f, op->arg);
	case OP_GET:
		if (mdv_get_state(&f->dev, &st) || st != f->state)
			return diverge(f, "get: model %ld, device %ld", f->state, st);
		return 0;
	case OP_READ:
		if (f->sfd < 0)
			return 0;
		len = op->arg % MAXIO + 1;
		n = read(f->sfd, f->buf, len);
		if (!f->s_live)
			return n < 0 && errno == ENODEV ? 0 :
			       diverge(f, "read dead FD: %ld (errno %ld)", n, errno);
		if (mdv_state_precopy(f->state) && !avail(f)) {
			if (n < 0 && errno == ENOMSG)
				return 0;
			return diverge(f, "read with nothing pending: %ld, errno %ld",
				       n, errno);
		}
		if (n != (ssize_t)(avail(f) < len ? avail(f) : len))
			return diverge(f, "read %ld: got %ld", len, n);
		f->s_read += n;
		return 0;
	case OP_READ_STALE:
		if (!f->nstale)
			return 0;
		n = read(f->stale[op->arg % f->nstale], f->buf, 16);
		/* a resuming FD is write-only */
		if (n < 0 && (errno == ENODEV || errno == EBADF))
			return 0;
		return diverge(f, "stale FD read: %ld, errno %ld", n, errno);
	case OP_WRITE:
	case OP_WRITE_GARBAGE:
		if (f->rfd < 0)
			return 0;
		len = op->arg % MAXIO + 1;
		if (op->kind == OP_WRITE) {
			if (f->r_written >= f->valid_len)
				return 0;
			if (len > f->valid_len - f->r_written)
				len = f->valid_len - f->r_written;
			memcpy(f->buf, f->valid + f->r_written, len);
		} else {
			for (i = 0; i < (int)len; i++)
				f->buf[i] = rand_r(&seed);
		}
		n = write(f->rfd, f->buf, len);
		if (!f->r_live)
			return n < 0 && errno == ENODEV ? 0 :
			       diverge(f, "write dead FD: %ld, errno %ld", n, errno);
		if (f->r == R_REJECTED)
			return n < 0 && errno == EINVAL ? 0 :
			       diverge(f, "write after reject: %ld, errno %ld", n, errno);
		if (n < 0 && errno == EINVAL && (f->r == R_POISONED ||
						 op->kind == OP_WRITE_GARBAGE)) {
			f->r = R_REJECTED;
			return 0;
		}
		if (n != (ssize_t)len)
			return diverge(f, "write %ld: got %ld", len, n);
		if (op->kind == OP_WRITE_GARBAGE)
			f->r = R_POISONED;
		else
			f->r_written += len;
		return 0;
	case OP_PRECOPY:
		if (f->sfd < 0)
			return 0;
		ret = mdv_precopy_info(f->sfd, &init, &dirty);
		if (!mdv_state_precopy(f->state))
			return ret == -EINVAL ? 0 :
			       diverge(f, "precopy info in state %ld: %ld", f->state, ret);
		if (ret || init != avail(f) || dirty)
			return diverge(f, "precopy info: initial %ld, want %ld",
				       ret ? ret : (long)init, avail(f));
		return 0;
	case OP_PRECOPY_RFD:
		if (f->rfd < 0)
			return 0;
		ret = mdv_precopy_info(f->rfd, &init, &dirty);
		return ret == -ENOTTY ? 0 : diverge(f, "precopy on resuming FD: %ld%ld", ret, 0);
	case OP_DATA_SIZE:
		ret = mdv_data_size(&f->dev, &len);
		if (ret || len != (f->s_live ? f->full - f->s_read : f->full))
			return diverge(f, "data size %ld, want %ld", ret ? ret : (long)len,
				       f->s_live ? f->full - f->s_read : f->full);
		return 0;
	case OP_RESET:
		if (mdv_reset(&f->dev))
			return diverge(f, "reset failed%ld%ld", 0, 0);
		return model_reset(f, false);
	case OP_CLOSE_STALE:
		if (f->nstale)
			close(f->stale[--f->nstale]);
		return 0;
	case OP_LOG_START: {
		struct mdv_range r = { 0x100000, 0x40000 };
		uint64_t ps = 4096;

		if (!f->logging)
			return 0;
		ret = mdv_log_start(&f->dev, &r, 1, &ps);
		if (ret != (f->log_active ? -EINVAL : 0))
			return diverge(f, "log start: %ld (active %ld)", ret, f->log_active);
		f->log_owed &= f->log_active;
		f->log_active = true;
		return 0;
	}
	case OP_LOG_REPORT:
	case OP_LOG_REPORT_OUT: {
		uint64_t bm[1] = {};
		uint64_t iova = op->kind == OP_LOG_REPORT ? 0x100000 : 0x200000;

		if (!f->logging)
			return 0;
		ret = mdv_log_report(&f->dev, iova, 0x10000, 4096, bm);
		if (ret != (f->log_active && op->kind == OP_LOG_REPORT ? 0 : -EINVAL))
			return diverge(f, "log report: %ld (active %ld)", ret, f->log_active);
		if (ret)
			return 0;
		/* the window's 16 pages, once after a reset; else nothing */
		if (bm[0] != (f->log_owed ? 0xffffULL : 0))
			return diverge(f, "report %#lx, owed %ld", bm[0], f->log_owed);
		f->log_owed = false;
		return 0;
	}
	case OP_LOG_STOP:
		if (!f->logging)
			return 0;
		if (mdv_log_stop(&f->dev))
			return diverge(f, "log stop failed%ld%ld", 0, 0);
		f->log_active = false;
		f->log_owed = false;
		return 0;
	case OP_KNOB:
		f->size_mb = f->size_mb == 1 ? 2 : 1;
		ret = mdv_param_u32(f->bdf, "state_size_mb", f->size_mb);
		if (f->state != S(RUNNING)) {
			f->size_mb = f->size_mb == 1 ? 2 : 1;
			return ret ? 0 : diverge(f, "knob set in state %ld%ld", f->state, 0);
		}
		if (ret)
			return diverge(f, "knob set in RUNNING failed (%ld)%ld", ret, 0);
		/* a new size: the streams change */
		if (capture(f))
			return diverge(f, "capture after knob%ld%ld", 0, 0);
		return 0;
	case OP_REOPEN:
		mdv_close(&f->dev);
		if (mdv_open(&f->dev, f->bdf, MDV_MODE_CONTAINER))
			return diverge(f, "reopen failed%ld%ld", 0, 0);
		return model_reset(f, true);
	}
	return 0;
}

static struct op random_op(unsigned int *seed)
{
	/* weights: most of the traffic is data and state */
	static const uint8_t w[OP_NUM] = {
		[OP_SET] = 20, [OP_GET] = 5, [OP_READ] = 25, [OP_READ_STALE] = 3,
		[OP_WRITE] = 25, [OP_WRITE_GARBAGE] = 2, [OP_PRECOPY] = 8,
		[OP_PRECOPY_RFD] = 1, [OP_DATA_SIZE] = 5, [OP_RESET] = 1,
		[OP_CLOSE_STALE] = 2, [OP_LOG_START] = 2, [OP_LOG_REPORT] = 3,
		[OP_LOG_REPORT_OUT] = 1, [OP_LOG_STOP] = 2,
	};
	struct op op = {};
	unsigned int total = 0, r, k;

	for (k = 0; k < OP_NUM; k++)
		total += w[k];
	r = rand_r(seed);
	/* rare, slow ones: knob changes (devlink) and reopening the device */
	if (r % 1000 == 0)
		op.kind = OP_KNOB;
	else if (r % 1000 == 1)
		op.kind = OP_REOPEN;
	else
		for (r = rand_r(seed) % total, k = 0; k < OP_NUM; k++) {
			if (r < w[k]) {
				op.kind = k;
				break;
			}
			r -= w[k];
		}
	op.arg = rand_r(seed);
	if (op.kind == OP_SET)	/* mostly valid states, sometimes not */
		op.arg = op.arg % 16 < 14 ? op.arg % 8 : op.arg % 64;
	if (op.kind == OP_READ || op.kind == OP_WRITE || op.kind == OP_WRITE_GARBAGE)
		op.arg = rand_r(seed) % 4 ? op.arg % 4096 : op.arg;
	op.seed = rand_r(seed);
	return op;
}

static void fuzz_close(struct fuzz *f)
{
	model_reset(f, true);
	while (f->nstale)
		close(f->stale[--f->nstale]);
	mdv_close(&f->dev);
}

/* Fresh device and model; 0 or -1 */
static int fuzz_open(struct fuzz *f)
{
	struct mdv_range r = { 0x100000, 0x40000 };
	uint64_t ps = 4096;

	f->sfd = -1;
	f->rfd = -1;
	f->nstale = 0;
	f->size_mb = 1;
	if (mdv_param_u32(f->bdf, "state_size_mb", 1) ||
	    mdv_param_u32(f->bdf, "dirty_rate", 0) ||
	    mdv_param_u32(f->bdf, "dma_rate", 0) ||
	    mdv_param(f->bdf, "p2p", "true") ||
	    mdv_param(f->bdf, "precopy", "true") ||
	    mdv_open(&f->dev, f->bdf, MDV_MODE_CONTAINER))
		return -1;
	f->logging = !mdv_log_start(&f->dev, &r, 1, &ps);
	mdv_log_stop(&f->dev);
	model_reset(f, true);
	return capture(f);
}

/* Replay @ops; index of the first divergence or -1 */
static long replay(struct fuzz *f, const struct op *ops, long n)
{
	long i;

	if (fuzz_open(f))
		return -2;
	for (i = 0; i < n; i++)
		if (do_op(f, &ops[i]))
			break;
	fuzz_close(f);
	return i < n ? i : -1;
}

/* ddmin-style: drop chunks while the divergence stays */
static long shrink(struct fuzz *f, struct op *ops, long n)
{
	struct op *tmp = malloc(sizeof(*ops) * n);
	long chunk = n / 2, i, budget = 300;

	while (chunk >= 1 && budget > 0) {
		for (i = 0; i + chunk <= n && budget > 0; ) {
			long m = 0, k;

			for (k = 0; k < n; k++)
				if (k < i || k >= i + chunk)
					tmp[m++] = ops[k];
			budget--;
			k = replay(f, tmp, m);
			if (k >= 0) {
				memcpy(ops, tmp, sizeof(*ops) * (k + 1));
				n = k + 1;
			} else {
				i += chunk;
			}
		}
		chunk /= 2;
	}
	free(tmp);
	return n;
}

FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

TEST_F_TIMEOUT(fuzz, model, 1500)
{
	const char *s_seed = getenv("MDV_FUZZ_SEED");
	const char *s_ops = getenv("MDV_FUZZ_OPS");
	unsigned int seed = s_seed ? strtoul(s_seed, NULL, 0) : time(NULL);
	long nops = s_ops ? strtol(s_ops, NULL, 0) : 100000, i, n;
	char bdfs[MDV_MAX_DEVS][MDV_NAME_LEN];
	struct fuzz *f = calloc(1, sizeof(*f));
	struct op *ops = malloc(sizeof(*ops) * nops);
	int divergences = 0;
	double t0 = mdv_now();

	if (mdv_list(bdfs, MDV_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(f->bdf, sizeof(f->bdf), "%s", bdfs[0]);
	f->meta = _metadata;
	printf("# fuzz: seed %u (MDV_FUZZ_SEED=%u reproduces), %ld ops\n",
	       seed, seed, nops);
	ASSERT_EQ(0, fuzz_open(f));
	if (!f->logging)
		printf("# fuzz: no DMA logging on this kernel, those ops are no-ops\n");
	for (i = 0; i < nops; i++) {
		ops[i] = random_op(&seed);
		if (do_op(f, &ops[i])) {
			divergences++;
			break;
		}
	}
	fuzz_close(f);
	if (divergences) {
		printf("# divergence at op %ld: %s\n", i, f->why);
		n = shrink(f, ops, i + 1);
		printf("# minimal sequence (%ld ops):\n", n);
		for (i = 0; i < n && i < 60; i++)
			printf("#   %s %u\n", op_names[ops[i].kind], ops[i].arg);
		replay(f, ops, n);
		printf("# it diverges with: %s\n", f->why);
	}
	printf("# fuzz: %.1f s\n", mdv_now() - t0);
	printf("fuzz: %ld ops, %d divergences\n", divergences ? i : nops,
	       divergences);
	EXPECT_EQ(0, divergences);
	free(f->valid);
	free(f);
	free(ops);
}

TEST_HARNESS_MAIN
