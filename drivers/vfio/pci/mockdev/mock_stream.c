// SPDX-License-Identifier: GPL-2.0
/*
 * The mock's saving and resuming records: the part of the model a vendor
 * studies, because its own device's data goes here. The record format is
 * include/mockdev/mdv_stream.h; the framing (record headers, how userspace
 * cuts the stream) is lm.c's.
 *
 * A saving session walks the pages with a cursor (IMAGE records); a page
 * rewritten behind the cursor is marked in the session's dirty bitmap and
 * resent in a DIRTY record. Byte counts are exact (MDV_*_BYTES), so
 * VFIO_MIG_GET_PRECOPY_INFO and MIG_DATA_SIZE are too:
 *
 *   HEADER  MDV_HEADER_BYTES                  once
 *   META    MDV_META_BYTES                    once
 *   IMAGE   MDV_IMAGE_BYTES(n, PAGE_SIZE)     n <= 256, pages in order
 *   DIRTY   MDV_DIRTY_BYTES(k, PAGE_SIZE)     k <= 64
 *   END     MDV_END_BYTES                     once stopped
 *
 * The resuming side writes straight into the live pages and checks order,
 * sizes, configuration and finally the digest; a stream that fails any
 * check leaves the device in ERROR, so wrong state never runs.
 */
#include <linux/bitmap.h>
#include <linux/highmem.h>
#include <linux/math64.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "mock.h"

/* ----- saving ----- */

/* IMAGE records for @npages pages: all full but the last */
static u64 mock_image_bytes(u64 npages)
{
	return DIV_ROUND_UP_ULL(npages, MDV_IMAGE_PAGES) * MDV_IMAGE_BYTES(0, 0) +
	       npages * PAGE_SIZE;
}

/* DIRTY records for @npages pages: all full but the last */
static u64 mock_dirty_bytes(u64 npages)
{
	return DIV_ROUND_UP_ULL(npages, MDV_DIRTY_PAGES) * MDV_DIRTY_BYTES(0, 0) +
	       npages * (sizeof(__le64) + PAGE_SIZE);
}

u64 mock_stream_size(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	return MDV_HEADER_BYTES + MDV_META_BYTES + mock_image_bytes(m->npages) +
	       MDV_END_BYTES;
}

int mock_save_start(struct mdv_device *mdv, bool precopy)
{
	struct mock_dev *m = to_mock(mdv);
	unsigned long *dirty = NULL;

	if (precopy) {
		/* one bit a page: 2 MiB for 64 GiB of state */
		dirty = kvcalloc(BITS_TO_LONGS(m->npages), sizeof(long),
				 GFP_KERNEL_ACCOUNT);
		if (!dirty)
			return -ENOMEM;
	}
	mutex_lock(&m->lock);
	memset(&m->save, 0, sizeof(m->save));
	m->save.dirty = dirty;
	m->save.session = get_random_u64();
	m->save.start_size = mock_stream_size(mdv);
	m->save.t0 = ktime_get_ns();
	m->save.active = true;
	if (!m->running)
		mock_seal_locked(m);
	mutex_unlock(&m->lock);
	return 0;
}

void mock_save_stop(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);
	unsigned long *dirty;

	mutex_lock(&m->lock);
	dirty = m->save.dirty;
	memset(&m->save, 0, sizeof(m->save));
	mutex_unlock(&m->lock);
	cancel_delayed_work_sync(&m->save_wake);
	kvfree(dirty);
}

/*
 * The save_rate_mb knob: the device produces its stream at that rate from
 * the session's start, as a device whose firmware fills a host buffer
 * would. Has it produced @size more bytes? If not, @wait_ns says when.
 */
static bool mock_produced_locked(struct mock_dev *m, u64 size, u64 *wait_ns)
{
	u64 rate = (u64)READ_ONCE(m->params.save_rate_mb) << 20;
	u64 made, want = m->save.taken + size;

	if (!rate)
		return true;
	made = mul_u64_u64_div_u64(ktime_get_ns() - m->save.t0, rate,
				   NSEC_PER_SEC);
	if (made >= want)
		return true;
	*wait_ns = mul_u64_u64_div_u64(want - made, NSEC_PER_SEC, rate) + 1;
	return false;
}

/*
 * The next record of the session, without taking it: its tag, class and
 * size. -ENOMSG: nothing to send while running; -ENODATA: stream complete.
 */
static int mock_peek_locked(struct mock_dev *m, struct mdv_rec *rec)
{
	rec->class = MDV_CLASS_INITIAL;
	if (!m->save.hdr_sent) {
		rec->tag = MDV_TAG_HEADER;
		rec->size = sizeof(struct mdv_rec_header);
	} else if (!m->save.meta_sent) {
		rec->tag = MDV_TAG_META;
		rec->size = sizeof(struct mdv_rec_meta);
	} else if (m->save.cursor < m->npages) {
		rec->tag = MDV_TAG_IMAGE;
		rec->size = MDV_IMAGE_BYTES(min_t(u64, MDV_IMAGE_PAGES,
						  m->npages - m->save.cursor),
					    PAGE_SIZE) - MDV_REC_BYTES(0);
	} else if (m->save.ndirty) {
		rec->tag = MDV_TAG_DIRTY;
		rec->class = MDV_CLASS_DIRTY;
		rec->size = MDV_DIRTY_BYTES(min_t(u64, MDV_DIRTY_PAGES,
						  m->save.ndirty),
					    PAGE_SIZE) - MDV_REC_BYTES(0);
	} else if (m->running) {
		return -ENOMSG;
	} else if (!m->save.end_sent) {
		rec->tag = MDV_TAG_END;
		rec->class = MDV_CLASS_FINAL;
		rec->size = sizeof(struct mdv_rec_end);
	} else {
		return -ENODATA;
	}
	return 0;
}

void mock_save_pending(struct mdv_device *mdv, struct mdv_pending *p)
{
	struct mock_dev *m = to_mock(mdv);
	struct mdv_rec rec = {};
	u64 wait_ns;

	mutex_lock(&m->lock);
	p->initial = (m->save.hdr_sent ? 0 : MDV_HEADER_BYTES) +
		     (m->save.meta_sent ? 0 : MDV_META_BYTES) +
		     mock_image_bytes(m->npages - m->save.cursor);
	p->dirty = mock_dirty_bytes(m->save.ndirty);
	p->final = m->save.end_sent ? 0 : MDV_END_BYTES;
	p->reinit = m->save.reinit;
	p->ready = !mock_peek_locked(m, &rec) &&
		   mock_produced_locked(m, MDV_REC_BYTES(rec.size), &wait_ns);
	mutex_unlock(&m->lock);
}

/**
 * mock_save_reinit - the device was reconfigured while running
 * @m: device
 *
 * The destination must load new metadata and the whole state again, so a
 * PRE_COPY session's initial data restarts: META, then IMAGE records from
 * page 0, which carry every page dirtied so far. The record being read
 * completes first. Without a PRE_COPY session there is nothing to resend.
 *
 * Return: 0, or -EBUSY if the device is stopped (it cannot change).
 */
int mock_save_reinit(struct mock_dev *m)
{
	int ret = 0;

	mutex_lock(&m->lock);
	if (!m->running) {
		ret = -EBUSY;
	} else if (m->save.active && m->save.dirty) {
		m->save.meta_sent = false;
		m->save.cursor = 0;
		bitmap_zero(m->save.dirty, m->npages);
		m->save.ndirty = 0;
		m->save.reinit++;
	}
	mutex_unlock(&m->lock);
	mdv_data_ready(m->mdv);
	return ret;
}

static void mock_next_dirty_locked(struct mock_dev *m, struct mdv_rec *rec)
{
	u32 k = 0;
	u64 i = m->save.scan;

	while (k < MDV_DIRTY_PAGES && m->save.ndirty) {
		i = find_next_bit(m->save.dirty, m->npages, i);
		if (i >= m->npages) {
			i = 0;
			continue;
		}
		__clear_bit(i, m->save.dirty);
		m->save.ndirty--;
		m->save.idx[k++] = i++;
	}
	m->save.scan = i;
	rec->cookie[0] = k;
}

int mock_save_next(struct mdv_device *mdv, struct mdv_rec *rec)
{
	struct mock_dev *m = to_mock(mdv);
	u64 wait_ns;
	int ret;

	mutex_lock(&m->lock);
	ret = mock_peek_locked(m, rec);
	if (ret)
		goto out;
	if (!mock_produced_locked(m, MDV_REC_BYTES(rec->size), &wait_ns)) {
		mod_delayed_work(system_wq, &m->save_wake,
				 nsecs_to_jiffies(wait_ns) + 1);
		ret = -EAGAIN;
		goto out;
	}
	m->save.taken += MDV_REC_BYTES(rec->size);
	switch (rec->tag) {
	case MDV_TAG_HEADER:
		m->save.hdr_sent = true;
		break;
	case MDV_TAG_META:
		m->save.meta_sent = true;
		break;
	case MDV_TAG_IMAGE:
		rec->cookie[0] = m->save.cursor;
		rec->cookie[1] = (rec->size - IMAGE_PREFIX) >> PAGE_SHIFT;
		m->save.cursor += rec->cookie[1];
		break;
	case MDV_TAG_DIRTY:
		mock_next_dirty_locked(m, rec);
		break;
	case MDV_TAG_END:
		m->save.end_sent = true;
		mock_seal_locked(m);
		break;
	}
out:
	mutex_unlock(&m->lock);
	return ret;
}

/* Copy the part of @src (the record's @len-byte region at @base) due now. */
static ssize_t mock_copy_out(struct mdv_rec *rec, u64 base, const void *src,
			     u64 len, struct iov_iter *to)
{
	size_t n;

	if (rec->off < base || rec->off >= base + len)
		return 0;
	n = copy_to_iter(src + (rec->off - base),
			 min_t(u64, base + len - rec->off, iov_iter_count(to)),
			 to);
	rec->off += n;
	return n;
}

static ssize_t mock_copy_pages_out(struct mock_dev *m, struct mdv_rec *rec,
				   u64 base, const u64 *idx, u64 first,
				   struct iov_iter *to)
{
	ssize_t done = 0;

	while (rec->off < rec->size && iov_iter_count(to)) {
		u64 rel = rec->off - base;
		u64 pg = rel >> PAGE_SHIFT;
		size_t poff = rel & ~PAGE_MASK;
		struct page *page = m->pages[idx ? idx[pg] : first + pg];
		size_t n;

		n = copy_page_to_iter(page, poff,
				      min_t(u64, PAGE_SIZE - poff,
					    iov_iter_count(to)), to);
		if (!n)
			return done ? done : -EFAULT;
		rec->off += n;
		done += n;
	}
	return done;
}

ssize_t mock_save_copy(struct mdv_device *mdv, struct mdv_rec *rec,
		       struct iov_iter *to)
{
	struct mock_dev *m = to_mock(mdv);
	union {
		struct mdv_rec_header h;
		struct mdv_rec_meta meta;
		struct mdv_rec_image img;
		struct mdv_rec_dirty d;
		struct mdv_rec_end end;
	} p;
	__le64 le_idx[MDV_DIRTY_PAGES];
	u64 k, i;
	ssize_t n;

	memset(&p, 0, sizeof(p));
	switch (rec->tag) {
	case MDV_TAG_HEADER:
		p.h.magic = cpu_to_le32(MDV_STREAM_MAGIC);
		p.h.version = cpu_to_le16(MDV_STREAM_VERSION);
		p.h.page_shift = cpu_to_le16(PAGE_SHIFT);
		p.h.state_size = cpu_to_le64(m->npages << PAGE_SHIFT);
		p.h.session = cpu_to_le64(m->save.session);
		p.h.features = cpu_to_le32(mdv->core.vdev.migration_flags);
		return mock_copy_out(rec, 0, &p.h, sizeof(p.h), to);
	case MDV_TAG_META:
		p.meta.npages = cpu_to_le64(m->npages);
		p.meta.stop_copy_size = cpu_to_le64(m->save.start_size);
		return mock_copy_out(rec, 0, &p.meta, sizeof(p.meta), to);
	case MDV_TAG_END:
		p.end.digest = cpu_to_le64(m->save.digest);
		p.end.session = cpu_to_le64(m->save.session);
		return mock_copy_out(rec, 0, &p.end, sizeof(p.end), to);
	case MDV_TAG_IMAGE:
		if (rec->off < IMAGE_PREFIX) {
			p.img.first_page = cpu_to_le64(rec->cookie[0]);
			p.img.npages = cpu_to_le64(rec->cookie[1]);
			return mock_copy_out(rec, 0, &p.img, IMAGE_PREFIX, to);
		}
		return mock_copy_pages_out(m, rec, IMAGE_PREFIX, NULL,
					   rec->cookie[0], to);
	case MDV_TAG_DIRTY:
		k = rec->cookie[0];
		if (rec->off < DIRTY_PREFIX) {
			p.d.npages = cpu_to_le32(k);
			return mock_copy_out(rec, 0, &p.d, DIRTY_PREFIX, to);
		}
		if (rec->off < DIRTY_PREFIX + k * sizeof(u64)) {
			for (i = 0; i < k; i++)
				le_idx[i] = cpu_to_le64(m->save.idx[i]);
			return mock_copy_out(rec, DIRTY_PREFIX, le_idx,
					     k * sizeof(u64), to);
		}
		n = mock_copy_pages_out(m, rec, DIRTY_PREFIX + k * sizeof(u64),
					m->save.idx, 0, to);
		return n;
	}
	return -EINVAL;
}

/* ----- resuming ----- */

int mock_load_start(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	memset(&m->load, 0, sizeof(m->load));
	m->load.active = true;
	/* Loading overwrites the state; until verified it is not trusted. */
	m->pristine = false;
	return 0;
}

void mock_load_stop(struct mdv_device *mdv)
{
	memset(&to_mock(mdv)->load, 0, sizeof(to_mock(mdv)->load));
}

int mock_load_begin(struct mdv_device *mdv, struct mdv_rec *rec)
{
	struct mock_dev *m = to_mock(mdv);
	enum mock_load_phase ph = m->load.phase;
	u64 want;

	switch (rec->tag) {
	case MDV_TAG_HEADER:
		if (ph != LOAD_HEADER)
			return -EINVAL;
		want = sizeof(struct mdv_rec_header);
		break;
	case MDV_TAG_META:
		/* again after IMAGE or DIRTY: the source was reconfigured */
		if (ph != LOAD_META && ph != LOAD_IMAGE && ph != LOAD_DIRTY)
			return -EINVAL;
		want = sizeof(struct mdv_rec_meta);
		break;
	case MDV_TAG_IMAGE:
		if (ph != LOAD_IMAGE || rec->size < IMAGE_PREFIX)
			return -EINVAL;
		/* the exact size is checked once the prefix is in */
		return 0;
	case MDV_TAG_DIRTY:
		if (ph != LOAD_DIRTY || rec->size < DIRTY_PREFIX)
			return -EINVAL;
		return 0;
	case MDV_TAG_END:
		if (ph != LOAD_DIRTY)
			return -EINVAL;
		want = sizeof(struct mdv_rec_end);
		break;
	default:
		/* Unknown records may only appear between known ones. */
		return ph == LOAD_DONE || ph == LOAD_HEADER ? -EINVAL : -ENOENT;
	}
	return rec->size == want ? 0 : -EINVAL;
}

/* Gather @len bytes of the record's region at @base into load.buf. */
static ssize_t mock_copy_in(struct mock_dev *m, struct mdv_rec *rec,
			    u64 base, void *dst, u64 len,
			    struct iov_iter *from)
{
	size_t n;

	n = copy_from_iter(dst + (rec->off - base),
			   min_t(u64, base + len - rec->off,
				 iov_iter_count(from)), from);
	rec->off += n;
	return n ? n : -EFAULT;
}

static int mock_check_small(struct mock_dev *m, struct mdv_rec *rec)
{
	struct mdv_device *mdv = m->mdv;

	switch (rec->tag) {
	case MDV_TAG_HEADER: {
		struct mdv_rec_header *h = (void *)m->load.buf;

		if (le32_to_cpu(h->magic) != MDV_STREAM_MAGIC ||
		    le16_to_cpu(h->version) != MDV_STREAM_VERSION ||
		    h->reserved ||
		    le16_to_cpu(h->page_shift) != PAGE_SHIFT ||
		    le64_to_cpu(h->state_size) != m->npages << PAGE_SHIFT) {
			dev_dbg(mdv_dev(mdv), "stream config mismatch\n");
			return -EINVAL;
		}
		m->load.session = le64_to_cpu(h->session);
		m->load.phase = LOAD_META;
		return 0;
	}
	case MDV_TAG_META: {
		struct mdv_rec_meta *meta = (void *)m->load.buf;

		if (le64_to_cpu(meta->npages) != m->npages)
			return -EINVAL;
		m->load.phase = LOAD_IMAGE;
		m->load.next_page = 0;
		return 0;
	}
	case MDV_TAG_END: {
		struct mdv_rec_end *end = (void *)m->load.buf;

		if (le64_to_cpu(end->session) != m->load.session)
			return -EINVAL;
		m->load.digest = le64_to_cpu(end->digest);
		m->load.phase = LOAD_DONE;
		return 0;
	}
	}
	return -EINVAL;
}

static ssize_t mock_pages_in(struct mock_dev *m, struct mdv_rec *rec, u64 base,
			     const u64 *idx, u64 first, struct iov_iter *from)
{
	ssize_t done = 0;

	while (rec->off < rec->size && iov_iter_count(from)) {
		u64 rel = rec->off - base;
		u64 pg = rel >> PAGE_SHIFT;
		size_t poff = rel & ~PAGE_MASK;
		u64 i = idx ? idx[pg] : first + pg;
		size_t n;

		n = copy_page_from_iter(m->pages[i], poff,
					min_t(u64, PAGE_SIZE - poff,
					      iov_iter_count(from)), from);
		if (!n)
			return done ? done : -EFAULT;
		rec->off += n;
		done += n;
		/* whole: its hash joins the digest the END record must match */
		if (poff + n == PAGE_SIZE)
			mock_page_changed(m, i);
	}
	return done;
}

static ssize_t mock_load_image(struct mock_dev *m, struct mdv_rec *rec,
			       struct iov_iter *from)
{
	struct mdv_rec_image *img = (void *)m->load.buf;
	ssize_t n;

	if (rec->off < IMAGE_PREFIX) {
		n = mock_copy_in(m, rec, 0, m->load.buf, IMAGE_PREFIX, from);
		if (n < 0 || rec->off < IMAGE_PREFIX)
			return n;
		m->load.first = le64_to_cpu(img->first_page);
		m->load.n = min_t(u64, le64_to_cpu(img->npages), U32_MAX);
		if (m->load.first != m->load.next_page ||
		    m->load.n != min_t(u64, MDV_IMAGE_PAGES,
				       m->npages - m->load.next_page) ||
		    MDV_REC_BYTES(rec->size) !=
		    MDV_IMAGE_BYTES((u64)m->load.n, PAGE_SIZE))
			return -EINVAL;
		return n;
	}
	return mock_pages_in(m, rec, IMAGE_PREFIX, NULL, m->load.first, from);
}

static ssize_t mock_load_dirty(struct mock_dev *m, struct mdv_rec *rec,
			       struct iov_iter *from)
{
	struct mdv_rec_dirty *d = (void *)m->load.buf;
	u64 idx_end;
	ssize_t n;
	u32 i;

	if (rec->off < DIRTY_PREFIX) {
		n = mock_copy_in(m, rec, 0, m->load.buf, DIRTY_PREFIX, from);
		if (n < 0 || rec->off < DIRTY_PREFIX)
			return n;
		m->load.n = le32_to_cpu(d->npages);
		if (!m->load.n || m->load.n > MDV_DIRTY_PAGES || d->reserved ||
		    MDV_REC_BYTES(rec->size) !=
		    MDV_DIRTY_BYTES((u64)m->load.n, PAGE_SIZE))
			return -EINVAL;
		return n;
	}
	idx_end = DIRTY_PREFIX + (u64)m->load.n * sizeof(u64);
	if (rec->off < idx_end) {
		n = mock_copy_in(m, rec, DIRTY_PREFIX, m->load.idx,
				 idx_end - DIRTY_PREFIX, from);
		if (n < 0 || rec->off < idx_end)
			return n;
		for (i = 0; i < m->load.n; i++) {
			le64_to_cpus(&m->load.idx[i]);
			if (m->load.idx[i] >= m->npages)
				return -EINVAL;
		}
		return n;
	}
	return mock_pages_in(m, rec, idx_end, m->load.idx, 0, from);
}

ssize_t mock_load_copy(struct mdv_device *mdv, struct mdv_rec *rec,
		       struct iov_iter *from)
{
	struct mock_dev *m = to_mock(mdv);

	switch (rec->tag) {
	case MDV_TAG_HEADER:
	case MDV_TAG_META:
	case MDV_TAG_END:
		return mock_copy_in(m, rec, 0, m->load.buf, rec->size, from);
	case MDV_TAG_IMAGE:
		return mock_load_image(m, rec, from);
	case MDV_TAG_DIRTY:
		return mock_load_dirty(m, rec, from);
	}
	return -EINVAL;
}

int mock_load_end(struct mdv_device *mdv, struct mdv_rec *rec)
{
	struct mock_dev *m = to_mock(mdv);

	switch (rec->tag) {
	case MDV_TAG_HEADER:
	case MDV_TAG_META:
	case MDV_TAG_END:
		return mock_check_small(m, rec);
	case MDV_TAG_IMAGE:
		m->load.next_page += m->load.n;
		if (m->load.next_page == m->npages) {
			/*
			 * Resource allocation for the whole initial image,
			 * known only now: what precopy initial data plus
			 * switchover-ack keeps out of the downtime.
			 */
			mock_latency(READ_ONCE(m->params.alloc_latency_ms));
			m->load.phase = LOAD_DIRTY;
		}
		return 0;
	case MDV_TAG_DIRTY:
		return 0;
	}
	return -EINVAL;
}

int mock_load_finish(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);
	u64 digest;

	if (m->load.phase != LOAD_DONE)
		return -EINVAL;	/* truncated stream */
	mutex_lock(&m->lock);
	digest = m->digest;
	mutex_unlock(&m->lock);
	if (digest != m->load.digest) {
		dev_dbg(mdv_dev(mdv), "digest mismatch %llx != %llx\n",
			digest, m->load.digest);
		return -EINVAL;
	}
	return 0;
}
