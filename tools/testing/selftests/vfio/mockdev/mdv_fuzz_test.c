// SPDX-License-Identifier: GPL-2.0
/*
 * Model-based random testing of the migration uAPI. Random sequences of
 * state sets (valid and invalid), reads and writes of random sizes (valid
 * stream bytes and garbage), streams drained to their end, streams resumed
 * to completion, precopy info, MIG_DATA_SIZE, pages dirtied on request, DMA
 * logging start/report/stop, resets (also out of ERROR), FD closes, device
 * reopens and knob changes run on two devices and are checked one by one
 * against a reference model of the uAPI text and of the stream format.
 *
 * The model predicts every byte count from first principles: the record
 * layout of include/mockdev/mdv_stream.h and the device's page count
 * (state_size_mb), never from the device's own stream. It also knows which
 * pages a dirty_now request rewrites (the device picks them with splitmix64
 * seeded by its content seed, restarted by every reset, as the driver
 * documents), so PRE_COPY dirty bytes and DIRTY records are exact too.
 * A stream read to its end is parsed against the model (record order,
 * sizes, page indices, the END digest against the source's debugfs digest)
 * and kept; resuming sessions write kept streams, mostly the other
 * device's, and a completed RESUMING -> STOP must leave the destination
 * with the source's digest.
 *
 * The op choice is biased by the device's state so that most ops do
 * something; the figures say how deep a run went and are asserted:
 *   fuzz: N ops, N divergences, N effective, N resumes, N eofs
 * effective: ops that changed a state or moved stream bytes; resumes:
 * completed RESUMING -> STOP with the digest checked; eofs: saving streams
 * read until read() returned 0.
 *
 * MDV_FUZZ_SEED (default: random) and MDV_FUZZ_OPS (default 100000) steer
 * it; the seed is printed. A divergence prints the op, the model's view and
 * the device's, then is shrunk to a short sequence that still shows it.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x

/*
 * The stream format, as Documentation/mockdev-vfio-pci.rst states it. On
 * purpose not mdv_stream.h's MDV_*_BYTES() helpers, which the driver uses:
 * the model is an independent oracle, its own arithmetic from the text; the
 * asserts below only check that both agree on the structures' sizes.
 */
#define PG		4096ULL
#define REC_HDR		16ULL
#define HEADER_BYTES	(REC_HDR + 32)
#define META_BYTES	(REC_HDR + 16)
#define IMAGE_PREFIX	16ULL
#define IMAGE_PAGES	256ULL
#define DIRTY_PREFIX	8ULL
#define DIRTY_PAGES	64ULL
#define END_BYTES	(REC_HDR + 16)

/* ... and the header agrees, or this test is out of date */
static_assert(sizeof(struct mdv_rec_hdr) == REC_HDR, "record header");
static_assert(sizeof(struct mdv_rec_header) == 32, "HEADER payload");
static_assert(sizeof(struct mdv_rec_meta) == 16, "META payload");
static_assert(sizeof(struct mdv_rec_image) == IMAGE_PREFIX, "IMAGE prefix");
static_assert(sizeof(struct mdv_rec_dirty) == DIRTY_PREFIX, "DIRTY prefix");
static_assert(sizeof(struct mdv_rec_end) == 16, "END payload");
static_assert(MDV_IMAGE_PAGES == IMAGE_PAGES, "IMAGE pages");
static_assert(MDV_DIRTY_PAGES == DIRTY_PAGES, "DIRTY pages");

#define MAXIO		65536
#define MAX_STALE	4
#define MAX_DEV		2
#define MAX_LIB		6
#define MAX_MB		2	/* the knob op toggles state_size_mb 1 <-> 2 */
#define MAX_NPAGES	(MAX_MB * 256)
#define SHRINK_BUDGET	20000	/* ops replayed while shrinking: minutes under KASAN */

enum op_kind {
	OP_SET, OP_GET, OP_READ, OP_DRAIN, OP_READ_STALE, OP_WRITE,
	OP_WRITE_REST, OP_WRITE_GARBAGE, OP_PRECOPY, OP_PRECOPY_RFD,
	OP_DATA_SIZE, OP_DIRTY_NOW, OP_RESET, OP_CLOSE_STALE, OP_LOG_START,
	OP_LOG_REPORT, OP_LOG_REPORT_OUT, OP_LOG_STOP, OP_KNOB, OP_REOPEN,
	OP_NUM,
};

static const char * const op_names[] = {
	"set", "get", "read", "drain", "read-stale", "write", "write-rest",
	"write-garbage", "precopy-info", "precopy-info-on-resuming-fd",
	"data-size", "dirty-now", "reset", "close-stale", "log-start",
	"log-report", "log-report-outside", "log-stop", "knob", "reopen",
};

struct op {
	uint8_t kind;
	uint8_t dev;
	uint32_t arg;		/* state, length, page count, ... */
	uint32_t seed;		/* chunk sizes, garbage content, stream choice */
};

/* A complete stream read to EOF, kept to be resumed */
struct stream {
	uint8_t *buf;
	uint64_t len;
	uint64_t npages;
	uint64_t digest;	/* the source's debugfs digest at EOF */
	int src;		/* the device it came from */
};

/* The PRE_COPY class of the record being read: initial, dirty or final */
enum rec_class { C_NONE, C_INITIAL, C_DIRTY, C_FINAL };

/*
 * A resuming session: only valid stream bytes so far; garbage accepted
 * (any later write may be refused and RESUMING -> STOP must fail); refused
 * (every write fails with EINVAL, sticky).
 */
enum rstate { R_VALID, R_POISONED, R_REJECTED };

/* The model of one saving session: what the device has yet to send */
struct save {
	bool precopy;		/* VFIO_MIG_GET_PRECOPY_INFO is allowed */
	bool tracking;		/* began in PRE_COPY: pages behind the cursor are resent */
	bool hdr, meta, end, eof;
	bool kept;		/* read to EOF, checked and kept */
	uint64_t cursor;	/* pages handed out in IMAGE records */
	uint64_t scan;		/* where the next DIRTY record's page search starts */
	uint64_t ndirty;
	uint8_t dirty[MAX_NPAGES];
	uint64_t left;		/* unread bytes of the record being read */
	enum rec_class cls;
	uint64_t start_size;
	unsigned int nrec[MDV_TAG_END + 1];
	uint64_t idx_hash;	/* of the DIRTY records' page indices, in order */
	uint8_t *buf;		/* every byte read, to be kept at EOF */
	uint64_t len, cap;
};

struct fdev {
	struct vmig_dev dev;
	char bdf[VMIG_NAME_LEN];
	uint32_t seed;		/* the device's content seed (params) */
	/* the model */
	uint32_t state;
	bool running;		/* content may change: dirty_now works */
	uint64_t rng;		/* the device's dirty_now generator */
	uint32_t size_mb;
	uint64_t npages;
	int sfd, rfd;
	struct save s;
	struct stream in;	/* the stream the resuming session writes */
	uint64_t r_written;
	enum rstate r;
	int stale[MAX_STALE];
	int nstale;
	bool log_active;
	bool log_owed;		/* a reset while logging: all dirty, once */
};

struct fuzz {
	struct __test_metadata *meta;
	int ndev;
	struct fdev d[MAX_DEV];
	bool logging;		/* kernel offers DMA logging */
	struct stream lib[MAX_LIB];
	int nlib;
	bool effective;		/* the current op changed a state or moved bytes */
	long effective_ops, resumes, eofs, replayed;
	long kind_ops[OP_NUM], kind_eff[OP_NUM];
	uint8_t buf[MAXIO];
	char why[512];
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

/* splitmix64, as the device's generator (the driver says: reproducible) */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/* Bytes of the IMAGE records for @n pages, of DIRTY records for @k pages */
static uint64_t image_bytes(uint64_t n)
{
	return div_up(n, IMAGE_PAGES) * (REC_HDR + IMAGE_PREFIX) + n * PG;
}

static uint64_t dirty_bytes(uint64_t k)
{
	return div_up(k, DIRTY_PAGES) * (REC_HDR + DIRTY_PREFIX) +
	       k * (8 + PG);
}

static uint64_t stream_size(struct fdev *d)
{
	return HEADER_BYTES + META_BYTES + image_bytes(d->npages) + END_BYTES;
}

/* Say what went wrong and what the model thought of the device */
static int diverge(struct fuzz *f, struct fdev *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	if (n > 0 && n < (int)sizeof(f->why))
		n += snprintf(f->why + n, sizeof(f->why) - n,
			      " [%s: model %s, %llu pages, running %d, logging %d/%d",
			      d->bdf, vmig_state_name(d->state),
			      (unsigned long long)d->npages, d->running,
			      d->log_active, d->log_owed);
	if (d->sfd >= 0 && n > 0 && n < (int)sizeof(f->why))
		n += snprintf(f->why + n, sizeof(f->why) - n,
			      "; saving: %llu read, record left %llu, cursor %llu, dirty %llu, eof %d",
			      (unsigned long long)d->s.len,
			      (unsigned long long)d->s.left,
			      (unsigned long long)d->s.cursor,
			      (unsigned long long)d->s.ndirty, d->s.eof);
	if (d->rfd >= 0 && n > 0 && n < (int)sizeof(f->why))
		n += snprintf(f->why + n, sizeof(f->why) - n,
			      "; resuming: %llu/%llu written, r%d",
			      (unsigned long long)d->r_written,
			      (unsigned long long)d->in.len, d->r);
	if (n > 0 && n < (int)sizeof(f->why))
		snprintf(f->why + n, sizeof(f->why) - n, "]");
	return 1;
}

static void stale_add(struct fdev *d, int fd)
{
	if (fd < 0)
		return;
	if (d->nstale == MAX_STALE) {
		close(d->stale[0]);
		memmove(d->stale, d->stale + 1, sizeof(int) * (MAX_STALE - 1));
		d->nstale--;
	}
	d->stale[d->nstale++] = fd;
}

static void end_saving(struct fdev *d)
{
	stale_add(d, d->sfd);
	d->sfd = -1;
	d->s.len = 0;
}

static void end_resuming(struct fdev *d)
{
	stale_add(d, d->rfd);
	d->rfd = -1;
	free(d->in.buf);
	memset(&d->in, 0, sizeof(d->in));
}

static void begin_saving(struct fdev *d, bool precopy)
{
	uint8_t *buf = d->s.buf;
	uint64_t cap = d->s.cap;

	memset(&d->s, 0, sizeof(d->s));
	d->s.buf = buf;
	d->s.cap = cap;
	d->s.precopy = precopy;
	d->s.tracking = precopy;
	d->s.start_size = stream_size(d);
}

/* The device as power-on left it: after a reset, an open or a close */
static void model_reset(struct fdev *d)
{
	d->state = S(RUNNING);
	d->running = true;
	d->rng = d->seed;
	end_saving(d);
	end_resuming(d);
}

/* Keep a stream read to EOF; the oldest goes */
static void lib_add(struct fuzz *f, const struct stream *st)
{
	if (f->nlib == MAX_LIB) {
		free(f->lib[0].buf);
		memmove(f->lib, f->lib + 1, sizeof(f->lib[0]) * (MAX_LIB - 1));
		f->nlib--;
	}
	f->lib[f->nlib++] = *st;
}

/*
 * The stream a new resuming session will write: mostly the newest one of
 * the other device with this page count (other content, so a page that is
 * not loaded shows in the digest), sometimes any, which may have the wrong
 * size and must then be rejected at its HEADER.
 */
static int lib_pick(struct fuzz *f, struct fdev *d, unsigned int r)
{
	int i, self = d - f->d;

	if (r % 8 < 7)
		for (i = f->nlib - 1; i >= 0; i--)
			if (f->lib[i].npages == d->npages &&
			    (r % 8 >= 5 || f->lib[i].src != self))
				return i;
	return f->nlib ? (int)(r / 8 % f->nlib) : -1;
}

/* debugfs digest; a read that fails is a failure, never a value */
static int read_digest(struct fdev *d, uint64_t *digest)
{
	char buf[64], *end;

	if (mdvt_dbg_read(d->bdf, "digest", buf, sizeof(buf)))
		return -1;
	errno = 0;
	*digest = strtoull(buf, &end, 16);
	return errno || end == buf ? -1 : 0;
}

static int do_set(struct fuzz *f, struct fdev *d, const struct op *op)
{
	uint32_t to = op->arg, cur = d->state, got;
	bool ok = true, new_s = false, new_r = false, resumed = false, has_fd;
	uint64_t digest = 0, now, in_len = 0;
	int ret, fd = -1, k, src = 0;

	ret = vmig_set_state(&d->dev, to, &fd);
	if (to > S(PRE_COPY_P2P) || to == S(ERROR) || cur == S(ERROR) ||
	    (cur == S(STOP_COPY) && vmig_state_precopy(to))) {
		if (ret != -EINVAL)
			return diverge(f, d, "set %u: want EINVAL, got %d", to, ret);
		return 0;
	}
	/* walk the path the core will take and predict each arc */
	while (cur != to) {
		uint32_t nx = next_state(cur, to);

		if (cur == S(RESUMING) && nx == S(STOP)) {
			ok = d->r == R_VALID && d->in.len &&
			     d->r_written == d->in.len &&
			     d->in.npages == d->npages;
			digest = d->in.digest;
			in_len = d->in.len;
			src = d->in.src;
			end_resuming(d);
			if (!ok) {
				/* incomplete, bad or foreign stream: ERROR */
				cur = S(ERROR);
				break;
			}
			resumed = true;
		}
		if (vmig_state_saving(cur) && !vmig_state_saving(nx))
			end_saving(d);
		if (vmig_state_precopy(cur) && nx == S(STOP_COPY))
			d->s.precopy = false;
		/* p2p is on: only these arcs freeze and unfreeze the content */
		if ((cur == S(RUNNING_P2P) && nx == S(STOP)) ||
		    (cur == S(PRE_COPY_P2P) && nx == S(STOP_COPY)))
			d->running = false;
		if (cur == S(STOP) && nx == S(RUNNING_P2P))
			d->running = true;
		if (nx == S(RESUMING)) {
			k = lib_pick(f, d, op->seed);
			d->r_written = 0;
			d->r = R_VALID;
			if (k >= 0) {
				d->in = f->lib[k];
				d->in.buf = malloc(d->in.len);
				memcpy(d->in.buf, f->lib[k].buf, d->in.len);
			}
			new_r = true;
		}
		if (vmig_state_precopy(nx) && !vmig_state_precopy(cur)) {
			begin_saving(d, true);
			new_s = true;
		}
		if (nx == S(STOP_COPY) && !vmig_state_saving(cur)) {
			begin_saving(d, false);
			new_s = true;
		}
		cur = nx;
	}
	if (d->state != cur)
		f->effective = true;
	d->state = cur;
	if (!ok && ret != -EINVAL)
		return diverge(f, d, "set %u: want EINVAL (bad stream), got %d",
			       to, ret);
	if (ok && ret && resumed)
		return diverge(f, d, "set %u: got %d, after a complete %llu-byte stream of %s",
			       to, ret, (unsigned long long)in_len, f->d[src].bdf);
	if (ok && ret)
		return diverge(f, d, "set %u: got %d", to, ret);
	if (vmig_get_state(&d->dev, &got) || got != d->state)
		return diverge(f, d, "after set %u: device in %s", to,
			       vmig_state_name(got));
	has_fd = fd >= 0;
	if (has_fd != (new_s || new_r)) {
		if (fd >= 0)
			close(fd);
		return diverge(f, d, "set %u: data FD %d, model disagrees", to, fd);
	}
	if (new_r)
		d->rfd = fd;
	if (new_s) {
		/* a read the model thinks complete must not hang if it is not */
		fcntl(fd, F_SETFL, O_NONBLOCK);
		d->sfd = fd;
	}
	if (resumed) {
		if (read_digest(d, &now))
			return diverge(f, d, "resumed: digest unreadable");
		if (now != digest)
			return diverge(f, d, "resumed: digest %016llx, the source's was %016llx",
				       (unsigned long long)now,
				       (unsigned long long)digest);
		f->resumes++;
	}
	return 0;
}

/*
 * The next record of the session, as the format and the model's state say:
 * false when there is none, with *err -ENOMSG (running, nothing pending) or
 * 0 (the stream is complete).
 */
static bool take_record(struct fdev *d, int *err)
{
	struct save *s = &d->s;
	uint64_t n, k, i;

	s->cls = C_INITIAL;
	if (!s->hdr) {
		s->hdr = true;
		s->left = HEADER_BYTES;
		s->nrec[MDV_TAG_HEADER]++;
	} else if (!s->meta) {
		s->meta = true;
		s->left = META_BYTES;
		s->nrec[MDV_TAG_META]++;
	} else if (s->cursor < d->npages) {
		n = d->npages - s->cursor;
		n = n < IMAGE_PAGES ? n : IMAGE_PAGES;
		s->cursor += n;
		s->left = REC_HDR + IMAGE_PREFIX + n * PG;
		s->nrec[MDV_TAG_IMAGE]++;
	} else if (s->ndirty) {
		/* pages in index order, from where the last record stopped */
		for (k = 0, i = s->scan; k < DIRTY_PAGES && s->ndirty; ) {
			while (i < d->npages && !s->dirty[i])
				i++;
			if (i >= d->npages) {
				i = 0;
				continue;
			}
			s->dirty[i] = 0;
			s->ndirty--;
			s->idx_hash = mix(s->idx_hash ^ i);
			k++;
			i++;
		}
		s->scan = i;
		s->cls = C_DIRTY;
		s->left = REC_HDR + DIRTY_PREFIX + k * (8 + PG);
		s->nrec[MDV_TAG_DIRTY]++;
	} else if (d->running) {
		*err = -ENOMSG;
		return false;
	} else if (!s->end) {
		s->end = true;
		s->cls = C_FINAL;
		s->left = END_BYTES;
		s->nrec[MDV_TAG_END]++;
	} else {
		*err = 0;
		return false;
	}
	return true;
}

/* What read(@len) returns: bytes, 0 at the end, or -ENOMSG */
static int64_t model_read(struct fdev *d, uint64_t len)
{
	struct save *s = &d->s;
	uint64_t done = 0, n;
	int err = 0;

	while (len) {
		if (!s->left) {
			if (s->eof)
				break;
			if (!take_record(d, &err)) {
				if (!err)
					s->eof = true;
				break;
			}
		}
		n = len < s->left ? len : s->left;
		s->left -= n;
		len -= n;
		done += n;
		if (!s->left && s->cls == C_FINAL)
			s->eof = true;
	}
	return done ? (int64_t)done : err;
}

/* The pending bytes of each class, as PRE_COPY info and MIG_DATA_SIZE see them */
static uint64_t pending_initial(struct fdev *d)
{
	struct save *s = &d->s;

	return (s->hdr ? 0 : HEADER_BYTES) + (s->meta ? 0 : META_BYTES) +
	       image_bytes(d->npages - s->cursor) +
	       (s->cls == C_INITIAL ? s->left : 0);
}

static uint64_t pending_dirty(struct fdev *d)
{
	return dirty_bytes(d->s.ndirty) + (d->s.cls == C_DIRTY ? d->s.left : 0);
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

/*
 * A stream read to EOF, parsed against the format and the model: record
 * order and sizes, the configuration it states, the pages its IMAGE and
 * DIRTY records name, and the END digest (returned in @digest).
 */
static int check_stream(struct fuzz *f, struct fdev *d, uint64_t *digest)
{
	const uint8_t *p = d->s.buf;
	uint64_t off = 0, len = d->s.len, next = 0, session = 0, hash = 0;
	uint64_t size, n, i;
	unsigned int nrec[MDV_TAG_END + 1] = {};
	uint32_t tag, last = 0;
	bool ok;

	while (off < len) {
		if (len - off < REC_HDR)
			return diverge(f, d, "stream: record header cut at %llu",
				       (unsigned long long)off);
		size = le64_at(p + off);
		tag = le32_at(p + off + 12);
		if (le32_at(p + off + 8) || size > len - off - REC_HDR)
			return diverge(f, d, "stream: record at %llu: flags %u, size %llu",
				       (unsigned long long)off,
				       le32_at(p + off + 8),
				       (unsigned long long)size);
		off += REC_HDR;
		switch (tag) {
		case MDV_TAG_HEADER:
			ok = off == REC_HDR && size == 32 &&
			     le32_at(p + off) == MDV_STREAM_MAGIC &&
			     (le32_at(p + off + 4) & 0xffff) == MDV_STREAM_VERSION &&
			     le32_at(p + off + 4) >> 16 == 12 &&
			     le64_at(p + off + 8) == d->npages * PG &&
			     !le32_at(p + off + 28);
			session = ok ? le64_at(p + off + 16) : 0;
			break;
		case MDV_TAG_META:
			ok = last == MDV_TAG_HEADER && size == 16 &&
			     le64_at(p + off) == d->npages &&
			     le64_at(p + off + 8) == d->s.start_size;
			break;
		case MDV_TAG_IMAGE:
			n = d->npages - next < IMAGE_PAGES ? d->npages - next : IMAGE_PAGES;
			ok = (last == MDV_TAG_META || last == MDV_TAG_IMAGE) &&
			     next < d->npages && size >= IMAGE_PREFIX &&
			     le64_at(p + off) == next && le64_at(p + off + 8) == n &&
			     size == IMAGE_PREFIX + n * PG;
			next += n;
			break;
		case MDV_TAG_DIRTY:
			n = size >= DIRTY_PREFIX ? le32_at(p + off) : 0;
			ok = (last == MDV_TAG_IMAGE || last == MDV_TAG_DIRTY) &&
			     next == d->npages && n && n <= DIRTY_PAGES &&
			     !le32_at(p + off + 4) &&
			     size == DIRTY_PREFIX + n * (8 + PG);
			for (i = 0; ok && i < n; i++) {
				ok = le64_at(p + off + DIRTY_PREFIX + i * 8) < d->npages;
				hash = mix(hash ^ le64_at(p + off + DIRTY_PREFIX + i * 8));
			}
			break;
		case MDV_TAG_END:
			ok = (last == MDV_TAG_IMAGE || last == MDV_TAG_DIRTY) &&
			     next == d->npages && size == 16 &&
			     off + size == len && le64_at(p + off + 8) == session;
			*digest = ok ? le64_at(p + off) : 0;
			break;
		default:
			ok = false;
		}
		if (!ok)
			return diverge(f, d, "stream: bad record %u, size %llu, at %llu after %u",
				       tag, (unsigned long long)size,
				       (unsigned long long)(off - REC_HDR), last);
		nrec[tag]++;
		last = tag;
		off += size;
	}
	if (last != MDV_TAG_END)
		return diverge(f, d, "stream: no END record");
	if (memcmp(nrec, d->s.nrec, sizeof(nrec)) || hash != d->s.idx_hash)
		return diverge(f, d, "stream: %u IMAGE, %u DIRTY records, model %u, %u (pages %s)",
			       nrec[MDV_TAG_IMAGE], nrec[MDV_TAG_DIRTY],
			       d->s.nrec[MDV_TAG_IMAGE], d->s.nrec[MDV_TAG_DIRTY],
			       hash == d->s.idx_hash ? "agree" : "differ");
	return 0;
}

/* read() returned 0: check the stream and keep it for resuming sessions */
static int at_eof(struct fuzz *f, struct fdev *d)
{
	struct stream st = {};
	uint64_t end_digest = 0;

	if (d->s.kept)
		return 0;	/* read to EOF before */
	if (check_stream(f, d, &end_digest))
		return 1;
	if (read_digest(d, &st.digest))
		return diverge(f, d, "EOF: digest unreadable");
	if (st.digest != end_digest)
		return diverge(f, d, "EOF: END digest %016llx, the device's %016llx",
			       (unsigned long long)end_digest,
			       (unsigned long long)st.digest);
	st.buf = d->s.buf;
	st.len = d->s.len;
	st.npages = d->npages;
	st.src = d - f->d;
	lib_add(f, &st);
	d->s.buf = NULL;
	d->s.cap = 0;
	d->s.kept = true;
	f->eofs++;
	return 0;
}

/* One read of the saving FD, checked; *got is what it returned */
static int do_read(struct fuzz *f, struct fdev *d, uint64_t len, int64_t *got)
{
	struct save *s = &d->s;
	int64_t want;
	ssize_t n;

	if (!s->kept && s->len + len > s->cap) {
		s->cap = s->cap * 2 > s->len + len ? s->cap * 2 : s->len + len;
		s->buf = realloc(s->buf, s->cap);
	}
	n = read(d->sfd, s->kept ? f->buf : s->buf + s->len, len);
	*got = n < 0 ? -errno : n;
	want = model_read(d, len);
	if (*got != want)
		return diverge(f, d, "read %llu: want %lld, got %lld",
			       (unsigned long long)len, (long long)want,
			       (long long)*got);
	if (n > 0) {
		if (!s->kept)
			s->len += n;
		f->effective = true;
	}
	return n ? 0 : at_eof(f, d);
}

/* One write to the resuming FD: the valid stream's next bytes, or garbage */
static int do_write(struct fuzz *f, struct fdev *d, uint64_t len,
		    bool garbage, unsigned int *seed, int64_t *got)
{
	bool reject = d->r == R_REJECTED;
	ssize_t n;
	uint64_t i;

	if (garbage) {
		for (i = 0; i < len; i++)
			f->buf[i] = rand_r(seed);
	} else {
		if (len > d->in.len - d->r_written)
			len = d->in.len - d->r_written;
		memcpy(f->buf, d->in.buf + d->r_written, len);
		/* another size of state: the HEADER, once complete, says so */
		if (d->r == R_VALID && d->in.npages != d->npages &&
		    d->r_written + len >= HEADER_BYTES)
			reject = true;
	}
	n = write(d->rfd, f->buf, len);
	*got = n < 0 ? -errno : n;
	if (reject || (*got == -EINVAL && (d->r == R_POISONED || garbage))) {
		if (*got != -EINVAL)
			return diverge(f, d, "write %llu (%s): want EINVAL, got %lld",
				       (unsigned long long)len,
				       garbage ? "garbage" : "stream",
				       (long long)*got);
		d->r = R_REJECTED;
		return 0;
	}
	if (*got != (int64_t)len)
		return diverge(f, d, "write %llu (%s): got %lld",
			       (unsigned long long)len,
			       garbage ? "garbage" : "stream", (long long)*got);
	if (garbage)
		d->r = R_POISONED;
	else
		d->r_written += len;
	f->effective = true;
	return 0;
}

/* Chunk sizes: some cut inside record headers, most are larger */
static uint64_t chunk(unsigned int *seed)
{
	unsigned int r = rand_r(seed);

	switch (r % 8) {
	case 0:
		return 1 + r / 8 % 64;
	case 1:
		return 1 + r / 8 % PG;
	default:
		return 1 + r / 8 % MAXIO;
	}
}

/* Rewrite @n pages as the device will, and which of them it must resend */
static void model_dirty_now(struct fdev *d, uint64_t n)
{
	uint64_t i, idx;

	for (i = 0; i < n; i++) {
		d->rng = mix(d->rng);
		idx = d->rng % d->npages;
		if (d->sfd >= 0 && d->s.tracking && idx < d->s.cursor &&
		    !d->s.dirty[idx]) {
			d->s.dirty[idx] = 1;
			d->s.ndirty++;
		}
	}
}

static int do_op(struct fuzz *f, const struct op *op)
{
	struct fdev *d = &f->d[op->dev % f->ndev];
	uint64_t init, dirty, len;
	unsigned int seed = op->seed;
	int64_t got;
	uint32_t st;
	char val[24];
	int ret;
	bool was;

	f->effective = false;
	switch (op->kind) {
	case OP_SET:
		return do_set(f, d, op);
	case OP_GET:
		if (vmig_get_state(&d->dev, &st) || st != d->state)
			return diverge(f, d, "get: device in %s", vmig_state_name(st));
		return 0;
	case OP_READ:
		if (d->sfd < 0)
			return 0;
		return do_read(f, d, op->arg % MAXIO + 1, &got);
	case OP_DRAIN:
		/* to the end, or to ENOMSG while the device runs */
		if (d->sfd < 0)
			return 0;
		do {
			if (do_read(f, d, chunk(&seed), &got))
				return 1;
		} while (got > 0);
		return 0;
	case OP_READ_STALE:
		if (!d->nstale)
			return 0;
		got = read(d->stale[op->arg % d->nstale], f->buf, 16);
		/* a resuming FD is write-only */
		if (got < 0 && (errno == ENODEV || errno == EBADF))
			return 0;
		return diverge(f, d, "stale FD read: %lld, errno %d",
			       (long long)got, errno);
	case OP_WRITE:
	case OP_WRITE_GARBAGE:
		if (d->rfd < 0 || !d->in.len ||
		    (op->kind == OP_WRITE && d->r_written == d->in.len))
			return 0;
		return do_write(f, d, op->arg % MAXIO + 1,
				op->kind == OP_WRITE_GARBAGE, &seed, &got);
	case OP_WRITE_REST:
		while (d->rfd >= 0 && d->r != R_REJECTED &&
		       d->r_written < d->in.len)
			if (do_write(f, d, chunk(&seed), false, &seed, &got))
				return 1;
		return 0;
	case OP_PRECOPY:
		if (d->sfd < 0)
			return 0;
		ret = vmig_precopy_info(d->sfd, &init, &dirty);
		if (!d->s.precopy)
			return ret == -EINVAL ? 0 :
			       diverge(f, d, "precopy info outside PRE_COPY: %d", ret);
		if (ret || init != pending_initial(d) || dirty != pending_dirty(d))
			return diverge(f, d, "precopy info %d: %llu, %llu bytes, want %llu, %llu",
				       ret, (unsigned long long)init,
				       (unsigned long long)dirty,
				       (unsigned long long)pending_initial(d),
				       (unsigned long long)pending_dirty(d));
		return 0;
	case OP_PRECOPY_RFD:
		if (d->rfd < 0)
			return 0;
		ret = vmig_precopy_info(d->rfd, &init, &dirty);
		return ret == -ENOTTY ? 0 :
		       diverge(f, d, "precopy info on resuming FD: %d", ret);
	case OP_DATA_SIZE: {
		/* in a session what is left of it, else a whole stream */
		uint64_t want = d->sfd < 0 ? stream_size(d) :
				pending_initial(d) + pending_dirty(d) +
				(d->s.end ? 0 : END_BYTES) +
				(d->s.cls == C_FINAL ? d->s.left : 0);

		ret = vmig_data_size(&d->dev, &len);
		if (ret || len != want)
			return diverge(f, d, "data size: %d, %llu, want %llu", ret,
				       (unsigned long long)len,
				       (unsigned long long)want);
		return 0;
	}
	case OP_DIRTY_NOW:
		len = op->arg % 8 ? 1 + op->arg / 8 % 32 : 1 + op->arg / 8 % 600;
		snprintf(val, sizeof(val), "%llu", (unsigned long long)len);
		ret = mdvt_dbg_write(d->bdf, "mock/dirty_now", val);
		/* a stopped device's state never changes */
		if (ret != (d->running ? 0 : -EBUSY))
			return diverge(f, d, "dirty_now %llu: %d",
				       (unsigned long long)len, ret);
		if (!ret) {
			model_dirty_now(d, len);
			f->effective = true;
		}
		return 0;
	case OP_RESET:
		was = d->state != S(RUNNING) || d->sfd >= 0 || d->rfd >= 0;
		if (vmig_reset(&d->dev))
			return diverge(f, d, "reset failed");
		model_reset(d);
		/* a function reset keeps DMA logging; all is dirty once */
		d->log_owed = d->log_active;
		f->effective = was;
		return 0;
	case OP_CLOSE_STALE:
		if (d->nstale)
			close(d->stale[--d->nstale]);
		return 0;
	case OP_LOG_START: {
		struct vmig_range r = { 0x100000, 0x40000 };
		uint64_t ps = 4096;

		if (!f->logging)
			return 0;
		ret = vmig_log_start(&d->dev, &r, 1, &ps);
		if (ret != (d->log_active ? -EINVAL : 0))
			return diverge(f, d, "log start: %d (active %d)", ret,
				       d->log_active);
		/* a refused start changes nothing, not even what a reset owes */
		if (!d->log_active) {
			f->effective = true;
			d->log_active = true;
			d->log_owed = false;
		}
		return 0;
	}
	case OP_LOG_REPORT:
	case OP_LOG_REPORT_OUT: {
		uint64_t bm[1] = {}, want;
		uint64_t iova = op->kind == OP_LOG_REPORT ? 0x100000 : 0x200000;
		bool in = d->log_active && op->kind == OP_LOG_REPORT;

		if (!f->logging)
			return 0;
		ret = vmig_log_report(&d->dev, iova, 0x10000, 4096, bm);
		if (ret != (in ? 0 : -EINVAL))
			return diverge(f, d, "log report: %d (active %d)", ret,
				       d->log_active);
		/* the device does no DMA here: dirty only what a reset owes */
		want = in && d->log_owed ? 0xffff : 0;
		if (bm[0] != want)
			return diverge(f, d, "log report: %#llx, want %#llx",
				       (unsigned long long)bm[0],
				       (unsigned long long)want);
		if (in)
			d->log_owed = false;
		return 0;
	}
	case OP_LOG_STOP:
		if (!f->logging)
			return 0;
		if (vmig_log_stop(&d->dev))
			return diverge(f, d, "log stop failed");
		f->effective = d->log_active;
		d->log_active = false;
		d->log_owed = false;
		return 0;
	case OP_KNOB:
		ret = mdvt_param_u32(d->bdf, "state_size_mb", 3 - d->size_mb);
		if (d->state != S(RUNNING))
			return ret ? 0 : diverge(f, d, "knob set in %s",
						  vmig_state_name(d->state));
		if (ret)
			return diverge(f, d, "knob set in RUNNING failed (%d)", ret);
		/* a new size: new content, the generator starts again */
		d->size_mb = 3 - d->size_mb;
		d->npages = (uint64_t)d->size_mb << 8;
		d->rng = d->seed;
		f->effective = true;
		return 0;
	case OP_REOPEN:
		was = d->state != S(RUNNING) || d->sfd >= 0 || d->rfd >= 0;
		vmig_close(&d->dev);
		if (vmig_open(&d->dev, d->bdf, VMIG_MODE_CONTAINER))
			return diverge(f, d, "reopen failed");
		model_reset(d);
		/* close ends DMA logging */
		d->log_active = false;
		d->log_owed = false;
		f->effective = was;
		return 0;
	}
	return 0;
}

/*
 * Op weights by the device's situation, so that most ops do something in
 * the state they meet: a run spends its ops on sessions, not on no-ops.
 */
enum situation { W_ERROR, W_RUNNING, W_STOP, W_PRECOPY, W_STOP_COPY, W_DRAINED,
		 W_RESUMING, W_WRITTEN, W_NUM };

static const uint8_t op_w[W_NUM][OP_NUM] = {
	/* only a reset leaves ERROR; a little of the rest is refused */
	[W_ERROR] = { [OP_RESET] = 60, [OP_SET] = 4, [OP_GET] = 2,
		[OP_READ_STALE] = 2, [OP_DATA_SIZE] = 2, [OP_DIRTY_NOW] = 2,
		[OP_LOG_REPORT] = 1 },
	[W_RUNNING] = { [OP_SET] = 40, [OP_DIRTY_NOW] = 20, [OP_GET] = 2,
		[OP_DATA_SIZE] = 3, [OP_RESET] = 1, [OP_READ_STALE] = 2,
		[OP_CLOSE_STALE] = 1, [OP_LOG_START] = 3, [OP_LOG_REPORT] = 3,
		[OP_LOG_REPORT_OUT] = 1, [OP_LOG_STOP] = 3 },
	[W_STOP] = { [OP_SET] = 50, [OP_DIRTY_NOW] = 2, [OP_GET] = 2,
		[OP_DATA_SIZE] = 2, [OP_RESET] = 1, [OP_READ_STALE] = 1,
		[OP_LOG_REPORT] = 1 },
	[W_PRECOPY] = { [OP_READ] = 30, [OP_DRAIN] = 3, [OP_PRECOPY] = 6,
		[OP_DATA_SIZE] = 3, [OP_DIRTY_NOW] = 15, [OP_SET] = 12,
		[OP_GET] = 1, [OP_RESET] = 1, [OP_LOG_REPORT] = 1 },
	[W_STOP_COPY] = { [OP_DRAIN] = 30, [OP_READ] = 15, [OP_DATA_SIZE] = 3,
		[OP_PRECOPY] = 2, [OP_SET] = 4, [OP_DIRTY_NOW] = 1,
		[OP_RESET] = 1 },
	[W_DRAINED] = { [OP_SET] = 40, [OP_READ] = 2, [OP_DRAIN] = 1,
		[OP_DATA_SIZE] = 2, [OP_PRECOPY] = 1, [OP_RESET] = 1 },
	[W_RESUMING] = { [OP_WRITE] = 20, [OP_WRITE_REST] = 15,
		[OP_WRITE_GARBAGE] = 1, [OP_PRECOPY_RFD] = 1, [OP_SET] = 3,
		[OP_DATA_SIZE] = 2, [OP_GET] = 1, [OP_RESET] = 1 },
	[W_WRITTEN] = { [OP_SET] = 40, [OP_WRITE] = 1, [OP_WRITE_GARBAGE] = 1,
		[OP_DATA_SIZE] = 1, [OP_RESET] = 1 },
};

/* Where a set goes, by the state it starts from; mostly somewhere useful */
static const uint8_t to_w[VMIG_NUM_STATES][VMIG_NUM_STATES] = {
	[S(ERROR)] = { [S(RUNNING)] = 1, [S(STOP)] = 1 },
	[S(RUNNING)] = { [S(PRE_COPY)] = 20, [S(STOP_COPY)] = 3,
		[S(RESUMING)] = 3, [S(STOP)] = 15, [S(RUNNING_P2P)] = 25,
		[S(PRE_COPY_P2P)] = 5, [S(RUNNING)] = 2, [S(ERROR)] = 2 },
	[S(RUNNING_P2P)] = { [S(PRE_COPY_P2P)] = 15, [S(STOP_COPY)] = 4,
		[S(RESUMING)] = 4, [S(PRE_COPY)] = 8, [S(STOP)] = 20,
		[S(RUNNING)] = 30, [S(ERROR)] = 2 },
	[S(STOP)] = { [S(RESUMING)] = 12, [S(STOP_COPY)] = 6,
		[S(RUNNING)] = 45, [S(PRE_COPY)] = 5, [S(RUNNING_P2P)] = 25,
		[S(STOP)] = 2, [S(ERROR)] = 2 },
	[S(PRE_COPY)] = { [S(STOP_COPY)] = 10, [S(PRE_COPY_P2P)] = 25,
		[S(RUNNING)] = 40, [S(STOP)] = 10, [S(RESUMING)] = 5,
		[S(RUNNING_P2P)] = 5, [S(ERROR)] = 2 },
	[S(PRE_COPY_P2P)] = { [S(STOP_COPY)] = 10, [S(PRE_COPY)] = 25,
		[S(RUNNING_P2P)] = 40, [S(STOP)] = 10, [S(RESUMING)] = 5,
		[S(RUNNING)] = 5, [S(ERROR)] = 2 },
	[S(STOP_COPY)] = { [S(STOP)] = 40, [S(RESUMING)] = 30,
		[S(RUNNING)] = 20, [S(PRE_COPY)] = 5, [S(ERROR)] = 2 },
	[S(RESUMING)] = { [S(STOP)] = 60, [S(RUNNING)] = 25,
		[S(RESUMING)] = 3, [S(STOP_COPY)] = 5, [S(PRE_COPY)] = 5,
		[S(ERROR)] = 2 },
};

static unsigned int pick(const uint8_t *w, unsigned int n, unsigned int r)
{
	unsigned int total = 0, k;

	for (k = 0; k < n; k++)
		total += w[k];
	for (r %= total, k = 0; k < n; k++) {
		if (r < w[k])
			return k;
		r -= w[k];
	}
	return 0;
}

static enum situation situation(const struct fdev *d)
{
	switch (d->state) {
	case S(ERROR):
		return W_ERROR;
	case S(STOP):
		return W_STOP;
	case S(PRE_COPY):
	case S(PRE_COPY_P2P):
		return W_PRECOPY;
	case S(STOP_COPY):
		return d->s.eof ? W_DRAINED : W_STOP_COPY;
	case S(RESUMING):
		return d->r == R_REJECTED || d->r_written == d->in.len ?
		       W_WRITTEN : W_RESUMING;
	}
	return W_RUNNING;
}

static struct op random_op(const struct fuzz *f, unsigned int *seed)
{
	struct op op = {};
	const struct fdev *d;
	unsigned int r;

	op.dev = rand_r(seed) % f->ndev;
	d = &f->d[op.dev];
	r = rand_r(seed);
	/* rare, slow ones: knob changes (devlink) and reopening the device */
	if (r % 1000 == 0)
		op.kind = OP_KNOB;
	else if (r % 1000 == 1)
		op.kind = OP_REOPEN;
	else if (r % 1000 < 50)	/* anything, anywhere: the refusals too */
		op.kind = rand_r(seed) % OP_KNOB;
	else
		op.kind = pick(op_w[situation(d)], OP_NUM, rand_r(seed));
	op.arg = rand_r(seed);
	if (op.kind == OP_SET)	/* mostly useful states, sometimes not */
		op.arg = op.arg % 16 ? pick(to_w[d->state], VMIG_NUM_STATES, op.arg / 16) :
				       op.arg / 16 % 64;
	if (op.kind == OP_READ || op.kind == OP_WRITE ||
	    op.kind == OP_WRITE_GARBAGE)
		op.arg = rand_r(seed) % 4 ? op.arg % 4096 : op.arg;
	op.seed = rand_r(seed);
	return op;
}

static void fuzz_close(struct fuzz *f)
{
	struct fdev *d;
	int i;

	for (i = 0; i < f->ndev; i++) {
		d = &f->d[i];
		model_reset(d);
		while (d->nstale)
			close(d->stale[--d->nstale]);
		free(d->s.buf);
		d->s.buf = NULL;
		d->s.cap = 0;
		vmig_close(&d->dev);
	}
	while (f->nlib)
		free(f->lib[--f->nlib].buf);
}

/* A knob's value, from debugfs */
static int param_get(const char *bdf, const char *name, uint32_t *val)
{
	char buf[1024], key[64], *p;

	if (mdvt_dbg_read(bdf, "params", buf + 1, sizeof(buf) - 1))
		return -1;
	buf[0] = '\n';
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(buf, key);
	if (!p)
		return -1;
	*val = strtoul(p + strlen(key), NULL, 0);
	return 0;
}

/*
 * Fresh devices and model, and one stream of each device to resume (a
 * STOP_COPY read to EOF, through the model like any other). 0 or -1.
 */
static int fuzz_open(struct fuzz *f)
{
	static const char * const zero[] = {
		"dirty_rate", "dma_rate", "save_rate_mb", "alloc_latency_ms",
		"quiesce_latency_ms", "resume_latency_ms",
	};
	static const char * const faults[] = {
		"fail_arc", "fail_alloc", "fail_read", "fail_write",
		"fail_log_start", "fail_log_report",
	};
	struct vmig_range r = { 0x100000, 0x40000 };
	const struct op setup[] = {
		{ .kind = OP_SET, .dev = 0, .arg = S(STOP_COPY) },
		{ .kind = OP_DRAIN, .dev = 0 },
		{ .kind = OP_SET, .dev = 0, .arg = S(RUNNING) },
		{ .kind = OP_SET, .dev = 1, .arg = S(STOP_COPY) },
		{ .kind = OP_DRAIN, .dev = 1 },
		{ .kind = OP_SET, .dev = 1, .arg = S(RUNNING) },
	};
	uint64_t ps = 4096;
	struct fdev *d;
	unsigned int i, k;

	for (i = 0; i < (unsigned int)f->ndev; i++) {
		d = &f->d[i];
		d->sfd = -1;
		d->rfd = -1;
		d->nstale = 0;
		d->size_mb = 1;
		d->npages = 256;
		d->log_active = false;
		d->log_owed = false;
		/* knobs and faults other tests may have left behind */
		snprintf(f->why, sizeof(f->why), "knobs or open of %s", d->bdf);
		for (k = 0; k < ARRAY_SIZE(zero); k++)
			if (mdvt_param_u32(d->bdf, zero[k], 0))
				return -1;
		for (k = 0; k < ARRAY_SIZE(faults); k++)
			mdvt_dbg_write(d->bdf, faults[k], "0");
		if (mdvt_param_u32(d->bdf, "state_size_mb", 1) ||
		    mdvt_param(d->bdf, "p2p", "true") ||
		    mdvt_param(d->bdf, "precopy", "true") ||
		    param_get(d->bdf, "seed", &d->seed) ||
		    vmig_open(&d->dev, d->bdf, VMIG_MODE_CONTAINER))
			return -1;
		model_reset(d);
	}
	f->logging = !vmig_log_start(&f->d[0].dev, &r, 1, &ps);
	vmig_log_stop(&f->d[0].dev);
	for (i = 0; i < ARRAY_SIZE(setup); i++)
		if (setup[i].dev < f->ndev && do_op(f, &setup[i]))
			return -1;
	f->effective_ops = 0;
	f->resumes = 0;
	f->eofs = 0;
	return 0;
}

/* Replay @ops; index of the first divergence, -1 for none, -2 setup failed */
static long replay(struct fuzz *f, const struct op *ops, long n)
{
	long i;

	if (fuzz_open(f)) {
		fuzz_close(f);
		return -2;
	}
	for (i = 0; i < n; i++, f->replayed++)
		if (do_op(f, &ops[i]))
			break;
	fuzz_close(f);
	return i < n ? i : -1;
}

/* ddmin-style: drop chunks while the divergence stays */
static long shrink(struct fuzz *f, struct op *ops, long n)
{
	struct op *tmp = malloc(sizeof(*ops) * n);
	long chunk = n / 2, i;

	f->replayed = 0;
	while (chunk >= 1 && f->replayed < SHRINK_BUDGET) {
		for (i = 0; i + chunk <= n && f->replayed < SHRINK_BUDGET; ) {
			long m = 0, k;

			for (k = 0; k < n; k++)
				if (k < i || k >= i + chunk)
					tmp[m++] = ops[k];
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

static void print_op(const char *pfx, long i, const struct op *op)
{
	printf("# %s%ld: dev %u %s arg %u seed %u\n", pfx, i, op->dev,
	       op_names[op->kind], op->arg, op->seed);
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
	long nops = s_ops ? strtol(s_ops, NULL, 0) : 100000, i, n, done;
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	struct fuzz *f = calloc(1, sizeof(*f));
	struct op *ops = malloc(sizeof(*ops) * nops);
	unsigned int seed, seed0;
	int divergences = 0, k;
	uint32_t size_mb[MAX_DEV];
	double t0 = vmig_now();

	/* a new seed every run, printed first so that any run can be replayed */
	if (s_seed)
		seed = strtoul(s_seed, NULL, 0);
	else if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = time(NULL) ^ getpid() ^ (unsigned int)(vmig_now() * 1e6);
	seed0 = seed;
	k = mdvt_list(bdfs, VMIG_MAX_DEVS);
	if (k < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	f->ndev = k < MAX_DEV ? k : MAX_DEV;
	for (k = 0; k < f->ndev; k++) {
		memcpy(f->d[k].bdf, bdfs[k], sizeof(f->d[k].bdf));
		/* the size is put back for the tests that follow */
		ASSERT_EQ(0, param_get(bdfs[k], "state_size_mb", &size_mb[k]));
	}
	f->meta = _metadata;
	printf("# fuzz: seed %u (MDV_FUZZ_SEED=%u reproduces), %ld ops on %s%s%s\n",
	       seed, seed, nops, f->d[0].bdf, f->ndev > 1 ? " and " : "",
	       f->ndev > 1 ? f->d[1].bdf : "");
	k = fuzz_open(f);
	if (k)
		printf("# fuzz: setup (knobs, one stream of each device read to EOF) failed: %s\n",
		       f->why);
	ASSERT_EQ(0, k);
	if (!f->logging)
		printf("# fuzz: no DMA logging on this kernel, those ops are no-ops\n");
	for (i = 0; i < nops; i++) {
		ops[i] = random_op(f, &seed);
		f->kind_ops[ops[i].kind]++;
		if (do_op(f, &ops[i])) {
			divergences++;
			break;
		}
		if (f->effective) {
			f->effective_ops++;
			f->kind_eff[ops[i].kind]++;
		}
	}
	done = divergences ? i + 1 : nops;
	printf("# fuzz: %.1f s\n", vmig_now() - t0);
	for (k = 0; k < OP_NUM; k++)
		if (f->kind_ops[k])
			printf("#   %-28s %7ld ops, %7ld effective\n", op_names[k],
			       f->kind_ops[k], f->kind_eff[k]);
	printf("fuzz: %ld ops, %d divergences, %ld effective, %ld resumes, %ld eofs\n",
	       done, divergences, f->effective_ops, f->resumes, f->eofs);
	fuzz_close(f);
	if (divergences) {
		printf("# divergence at op %ld (MDV_FUZZ_SEED=%u MDV_FUZZ_OPS=%ld replays it):\n",
		       i, seed0, i + 1);
		print_op("op ", i, &ops[i]);
		printf("# %s\n", f->why);
		n = shrink(f, ops, i + 1);
		printf("# minimal sequence (%ld ops, %ld replayed to find it):\n",
		       n, f->replayed);
		for (i = 0; i < n && i < 80; i++)
			print_op("  ", i, &ops[i]);
		if (replay(f, ops, n) >= 0)
			printf("# it diverges with: %s\n", f->why);
	}
	for (k = 0; k < f->ndev; k++)
		mdvt_param_u32(f->d[k].bdf, "state_size_mb", size_mb[k]);
	EXPECT_EQ(0, divergences);
	/* the depth, per 100000 ops: a run that did little fails */
	EXPECT_GE(done, nops);
	EXPECT_GE(f->effective_ops * 2, done);
	EXPECT_GE(f->resumes * 200, nops);
	EXPECT_GE(f->eofs * 200, nops);
	free(f);
	free(ops);
}

TEST_HARNESS_MAIN
