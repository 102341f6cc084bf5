// SPDX-License-Identifier: GPL-2.0
/*
 * The mock device: a software model behind struct mdv_backend_ops.
 *
 * Device state is an array of order-0 pages (never one big buffer), so
 * multi-GiB states work. Page i of generation g holds 64-bit words
 * mdv_word(seed, i, g, j): content is deterministic, any copy can be checked,
 * and the digest (xxh64 of all pages in order) identifies a state.
 *
 * While running, a delayed work rewrites random pages at params.dirty_rate
 * pages per second, with a fresh generation. A saving session walks the
 * pages with a cursor (IMAGE records); a page rewritten behind the cursor is
 * marked in the session's dirty bitmap and resent in a DIRTY record. Byte
 * counts are exact, so VFIO_MIG_GET_PRECOPY_INFO and MIG_DATA_SIZE are too:
 *
 *   HEADER  16 + 32                          once
 *   META    16 + 16                          once
 *   IMAGE   16 + 16 + n * PAGE_SIZE          n <= 256, pages in order
 *   DIRTY   16 + 8 + k * (8 + PAGE_SIZE)     k <= 64
 *   END     16 + 16                          once stopped
 *
 * The resuming side writes straight into the live pages and checks order,
 * sizes, configuration and finally the digest; a stream that fails any
 * check leaves the device in ERROR, so wrong state never runs.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <linux/xxhash.h>
#include <linux/debugfs.h>
#include <linux/io.h>
#include <linux/math64.h>
#include <linux/seq_file.h>

#include "mockdev.h"

#define MOCK_TICK_MS		10
#define MOCK_MAX_PER_TICK	4096
/* bounds of one debugfs request, so that it ends in reasonable time */
#define MOCK_DIRTY_NOW_MAX	BIT(24)
#define MOCK_DMA_WRITE_MAX	SZ_64M

/* payload prefixes; record sizes come from mdv_stream.h's MDV_*_BYTES */
#define IMAGE_PREFIX	sizeof(struct mdv_rec_image)
#define DIRTY_PREFIX	sizeof(struct mdv_rec_dirty)

enum mock_load_phase {
	LOAD_HEADER,
	LOAD_META,
	LOAD_IMAGE,
	LOAD_DIRTY,	/* image complete: DIRTY or END */
	LOAD_DONE,	/* END seen */
};

struct mock_dev {
	struct mdv_device *mdv;
	struct mutex lock;		/* pages content, cursor, bitmap */
	struct page **pages;
	u64 npages;
	u32 seed;			/* seed of the current content */
	u64 gen;			/* last generation written */
	bool pristine;			/* content is generation 0 */
	bool running;			/* not frozen: content may change */
	bool quiesced;
	struct delayed_work dirty_work;
	struct delayed_work save_wake;	/* a record is produced: wake readers */
	u64 dirty_carry;		/* fractional pages, in rate * ms units */
	u64 rng;
	u64 dirtied;			/* pages rewritten since probe */

	struct {
		struct mutex lock;	/* the engine: one transfer at a time */
		void __iomem *bar;	/* edu BAR0 while open, else NULL */
		bool edu;		/* real DMA through the IOMMU */
		bool open;
		bool quiesced;		/* no new writes */
		bool simulate;		/* log writes only, even on edu */
		bool busy;		/* a transfer is in flight */
		u64 iova, len;		/* ... this one */
		u64 writes;		/* completed writes since probe */
		u64 rng;
		u64 carry;
		struct delayed_work work;	/* background writes */
	} dma;

	struct {
		bool active;
		bool hdr_sent;
		bool meta_sent;
		bool end_sent;
		bool sealed;		/* @digest is the final state's */
		u64 session;
		u64 cursor;		/* next page for an IMAGE record */
		unsigned long *dirty;
		u64 ndirty;
		u64 scan;		/* where the next DIRTY scan starts */
		u64 start_size;		/* stream size at session start */
		u64 t0;			/* session start, ns (save_rate_mb) */
		u64 taken;		/* bytes handed out as records */
		u64 digest;
		u64 idx[MDV_DIRTY_PAGES];
	} save;

	struct {
		bool active;
		enum mock_load_phase phase;
		u64 session;
		u64 next_page;
		u64 digest;
		u8 buf[64];		/* small payloads and prefixes */
		u64 first;		/* IMAGE/DIRTY being loaded */
		u32 n;
		u64 idx[MDV_DIRTY_PAGES];
	} load;
};

static struct mock_dev *to_mock(struct mdv_device *mdv)
{
	return mdv->be;
}

/* splitmix64: cheap, well mixed, and reproducible from userspace */
static inline u64 mdv_mix(u64 x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void mock_fill_page(struct mock_dev *m, u64 idx, u64 gen)
{
	u64 *p = page_address(m->pages[idx]);
	u64 base = mdv_mix(((u64)m->seed << 32) ^ idx ^
			   (gen << 40));
	unsigned int j;

	for (j = 0; j < PAGE_SIZE / sizeof(u64); j++)
		p[j] = base + j * 0x9e3779b97f4a7c15ULL;
}

static void mock_fill_all(struct mock_dev *m)
{
	u64 i;

	m->seed = m->mdv->params.seed;
	for (i = 0; i < m->npages; i++) {
		mock_fill_page(m, i, 0);
		cond_resched();
	}
	m->gen = 0;
	m->pristine = true;
}

static u64 mock_digest_locked(struct mock_dev *m)
{
	struct xxh64_state st;
	u64 i;

	xxh64_reset(&st, 0);
	for (i = 0; i < m->npages; i++) {
		xxh64_update(&st, page_address(m->pages[i]), PAGE_SIZE);
		if (!(i & 255))
			cond_resched();
	}
	return xxh64_digest(&st);
}

static void mock_pages_free(struct page **pages, u64 npages)
{
	u64 i;

	if (!pages)
		return;
	for (i = 0; i < npages; i++)
		if (pages[i])
			__free_page(pages[i]);
	kvfree(pages);
}

/*
 * A state of @npages pages, or NULL. A size the machine cannot hold fails
 * here instead of waking the OOM killer: the user asked for it.
 */
static struct page **mock_pages_alloc(u64 npages)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN;
	struct page **pages;
	u64 i;

	pages = kvcalloc(npages, sizeof(*pages), gfp);
	if (!pages)
		return NULL;
	for (i = 0; i < npages; i++) {
		pages[i] = alloc_page(gfp);
		if (!pages[i]) {
			mock_pages_free(pages, npages);
			return NULL;
		}
		cond_resched();
	}
	return pages;
}

/* ----- running device: dirtying ----- */

static void mock_dirty_page_locked(struct mock_dev *m, u64 idx)
{
	mock_fill_page(m, idx, ++m->gen);
	m->pristine = false;
	m->dirtied++;
	if (m->save.active && m->save.dirty && idx < m->save.cursor &&
	    !__test_and_set_bit(idx, m->save.dirty))
		m->save.ndirty++;
}

static void mock_dirty_work(struct work_struct *work)
{
	struct mock_dev *m = container_of(to_delayed_work(work),
					  struct mock_dev, dirty_work);
	u32 rate = READ_ONCE(m->mdv->params.dirty_rate);
	u64 n, i;

	mutex_lock(&m->lock);
	if (!m->running || !rate || !m->npages) {
		mutex_unlock(&m->lock);
		return;
	}
	m->dirty_carry += (u64)rate * MOCK_TICK_MS;
	n = min_t(u64, m->dirty_carry / MSEC_PER_SEC, MOCK_MAX_PER_TICK);
	m->dirty_carry -= n * MSEC_PER_SEC;
	for (i = 0; i < n; i++) {
		m->rng = mdv_mix(m->rng);
		mock_dirty_page_locked(m, m->rng % m->npages);
	}
	mutex_unlock(&m->lock);
	if (n)
		mdv_data_ready(m->mdv);
	schedule_delayed_work(&m->dirty_work, msecs_to_jiffies(MOCK_TICK_MS));
}

static void mock_run(struct mock_dev *m, bool run)
{
	mutex_lock(&m->lock);
	m->running = run;
	mutex_unlock(&m->lock);
	if (run)
		schedule_delayed_work(&m->dirty_work, 0);
	else
		cancel_delayed_work_sync(&m->dirty_work);
}

/* ----- device writes to guest memory (DMA) ----- */

/*
 * QEMU's edu device: a 4 KiB buffer at device address 0x40000 and a DMA
 * engine driven by four 64-bit registers. A transfer completes about 100 ms
 * later (virtual time) and goes through the IOMMU into the user's IOVA
 * space. QEMU 7.2 aborts on a transfer of exactly 4096 bytes, so keep them
 * below that. Its default DMA mask is 28 bits.
 */
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_RUN		BIT(0)
#define EDU_DMA_TO_RAM		BIT(1)
#define EDU_DMA_BUF		0x40000
#define EDU_DMA_MAX		4095
#define EDU_DMA_MASK		(BIT_ULL(28) - 1)
#define MOCK_DMA_TICK_MS	20

static bool mock_is_edu(struct mdv_device *mdv)
{
	struct pci_dev *pdev = mdv->core.pdev;

	return pdev->vendor == MDV_EDU_VENDOR && pdev->device == MDV_EDU_DEVICE;
}

/*
 * vfio-pci's rule for touching a BAR (as its own read/write paths do): hold
 * memory_lock for reading, and only while the user has memory decode
 * enabled and the function is powered. Returns with the lock held, or false.
 */
static bool mock_bar_get(struct mock_dev *m)
{
	struct vfio_pci_core_device *core = &m->mdv->core;
	u16 cmd;

	down_read(&core->memory_lock);
	cmd = le16_to_cpu(*(__le16 *)&core->vconfig[PCI_COMMAND]);
	if (core->pdev->current_state != PCI_D3hot &&
	    core->pdev->current_state != PCI_D3cold &&
	    (core->pdev->no_command_memory || (cmd & PCI_COMMAND_MEMORY)))
		return true;
	up_read(&core->memory_lock);
	return false;
}

static void mock_bar_put(struct mock_dev *m)
{
	up_read(&m->mdv->core.memory_lock);
}

/* Is edu's DMA engine still running? A BAR we may not touch is idle. */
static bool mock_edu_busy(struct mock_dev *m)
{
	bool busy;

	if (!mock_bar_get(m))
		return false;
	busy = readq(m->dma.bar + EDU_DMA_CMD) & EDU_DMA_RUN;
	mock_bar_put(m);
	return busy;
}

/* Wait for the transfer in flight and account for it. */
static void mock_dma_complete_locked(struct mock_dev *m)
{
	unsigned int i;

	if (!m->dma.busy)
		return;
	if (m->dma.bar) {
		for (i = 0; i < 2000; i++) {
			if (!mock_edu_busy(m))
				break;
			usleep_range(1000, 2000);
		}
		if (i == 2000)
			dev_warn_ratelimited(mdv_dev(m->mdv),
					     "edu DMA did not complete\n");
	}
	/* the write has landed: it must be in the next report */
	mdv_dirty_record(m->mdv, m->dma.iova, m->dma.len);
	m->dma.writes++;
	m->dma.busy = false;
}

/*
 * Start a write of @len bytes at @iova and return without waiting for it,
 * as a device would. -EBUSY once quiesced: a stopped device writes nothing;
 * -EIO while the user has memory decode off.
 */
static int mock_dma_issue(struct mock_dev *m, u64 iova, u64 len)
{
	int ret = 0;

	if (!len || len > EDU_DMA_MAX)
		return -EINVAL;
	mutex_lock(&m->dma.lock);
	mock_dma_complete_locked(m);
	if (!m->dma.open || m->dma.quiesced) {
		ret = -EBUSY;
		goto out;
	}
	if (m->dma.edu && iova + len - 1 > EDU_DMA_MASK) {
		ret = -ERANGE;
		goto out;
	}
	if (m->dma.bar && !mock_bar_get(m)) {
		ret = -EIO;
		goto out;
	}
	/* logged before the write can land, so no report can miss it */
	mdv_dirty_record(m->mdv, iova, len);
	m->dma.iova = iova;
	m->dma.len = len;
	m->dma.busy = true;
	if (m->dma.bar) {
		writeq(EDU_DMA_BUF, m->dma.bar + EDU_DMA_SRC);
		writeq(iova, m->dma.bar + EDU_DMA_DST);
		writeq(len, m->dma.bar + EDU_DMA_CNT);
		writeq(EDU_DMA_RUN | EDU_DMA_TO_RAM, m->dma.bar + EDU_DMA_CMD);
		mock_bar_put(m);
	} else {
		mock_dma_complete_locked(m);	/* simulated: done at once */
	}
out:
	mutex_unlock(&m->dma.lock);
	return ret;
}

static void mock_dma_work(struct work_struct *work)
{
	struct mock_dev *m = container_of(to_delayed_work(work),
					  struct mock_dev, dma.work);
	u32 rate = READ_ONCE(m->mdv->params.dma_rate);
	u64 iova, off;

	if (!rate)
		return;
	/* a rate the device cannot keep up with is capped, not owed */
	m->dma.carry = min_t(u64, m->dma.carry + (u64)rate * MOCK_DMA_TICK_MS,
			     (u64)MOCK_MAX_PER_TICK * MSEC_PER_SEC);
	while (m->dma.carry >= MSEC_PER_SEC) {
		m->dma.carry -= MSEC_PER_SEC;
		m->dma.rng = mdv_mix(m->dma.rng);
		if (mdv_dirty_pick(m->mdv, m->dma.rng, &iova)) {
			/* nothing tracked: nowhere to write, nothing to replay */
			m->dma.carry = 0;
			break;
		}
		off = (m->dma.rng >> 40) % (PAGE_SIZE - 64);
		/*
		 * A write the device cannot make (beyond its DMA mask, or it
		 * is stopping) is dropped, not queued: a VMM's tracked ranges
		 * span all of guest memory, a device reaches what it reaches.
		 */
		mock_dma_issue(m, iova + off, 1 + (m->dma.rng >> 8) % 64);
	}
	schedule_delayed_work(&m->dma.work,
			      msecs_to_jiffies(MOCK_DMA_TICK_MS));
}

/* Quiesce: no new writes; the one in flight lands and is logged. */
static void mock_dma_quiesce(struct mock_dev *m, bool quiesce)
{
	if (quiesce)
		cancel_delayed_work_sync(&m->dma.work);
	mutex_lock(&m->dma.lock);
	mock_dma_complete_locked(m);
	m->dma.quiesced = quiesce;
	mutex_unlock(&m->dma.lock);
	if (!quiesce && m->dma.open)
		schedule_delayed_work(&m->dma.work, 0);
}

static void mock_dma_open(struct mock_dev *m, bool open)
{
	struct mdv_device *mdv = m->mdv;

	mock_dma_quiesce(m, true);
	mutex_lock(&m->dma.lock);
	m->dma.open = open;
	m->dma.bar = NULL;
	m->dma.edu = false;
	if (open && mock_is_edu(mdv) && !READ_ONCE(m->dma.simulate) &&
	    !vfio_pci_core_setup_barmap(&mdv->core, 0)) {
		m->dma.bar = mdv->core.barmap[0];
		m->dma.edu = true;
	}
	mutex_unlock(&m->dma.lock);
	if (open)
		mock_dma_quiesce(m, false);
}

/* ----- control ops ----- */

static void mock_save_wake(struct work_struct *work)
{
	struct mock_dev *m = container_of(to_delayed_work(work),
					  struct mock_dev, save_wake);

	mdv_data_ready(m->mdv);
}

static int mock_init(struct mdv_device *mdv)
{
	u64 npages = (u64)mdv->params.state_size_mb << (20 - PAGE_SHIFT);
	struct mock_dev *m;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->pages = mock_pages_alloc(npages);
	if (!m->pages) {
		kfree(m);
		return -ENOMEM;
	}
	m->npages = npages;
	m->mdv = mdv;
	mutex_init(&m->lock);
	INIT_DELAYED_WORK(&m->dirty_work, mock_dirty_work);
	INIT_DELAYED_WORK(&m->save_wake, mock_save_wake);
	mutex_init(&m->dma.lock);
	INIT_DELAYED_WORK(&m->dma.work, mock_dma_work);
	m->rng = mdv->params.seed;
	m->dma.rng = mdv->params.seed;
	mock_fill_all(m);
	mdv->be = m;
	return 0;
}

/* The function goes away: nothing may run on its behalf any more. */
static void mock_remove(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	mock_dma_open(m, false);
	mock_run(m, false);
	cancel_delayed_work_sync(&m->save_wake);
}

static void mock_release(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	mock_pages_free(m->pages, m->npages);
	mutex_destroy(&m->dma.lock);
	mutex_destroy(&m->lock);
	kfree(m);
	mdv->be = NULL;
}

static void mock_reset(struct mdv_device *mdv, bool run)
{
	struct mock_dev *m = to_mock(mdv);

	mock_dma_open(m, false);
	mock_run(m, false);
	if (!m->pristine)
		mock_fill_all(m);
	m->quiesced = false;
	m->rng = mdv->params.seed;
	m->dirty_carry = 0;
	m->dma.carry = 0;
	if (run) {
		mock_run(m, true);
		mock_dma_open(m, true);
	}
}

/*
 * The new state is allocated before the old one is let go, so a size the
 * machine cannot hold leaves the device as it was.
 */
static int mock_configure(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);
	u64 npages = (u64)mdv->params.state_size_mb << (20 - PAGE_SHIFT);
	struct page **pages = NULL, **old = NULL;
	bool was_running = m->running;
	u64 old_n = 0;

	if (npages != m->npages) {
		pages = mock_pages_alloc(npages);
		if (!pages)
			return -ENOMEM;
	}
	mock_run(m, false);
	mutex_lock(&m->lock);
	if (pages) {
		old = m->pages;
		old_n = m->npages;
		m->pages = pages;
		m->npages = npages;
		mock_fill_all(m);
	} else if (m->seed != mdv->params.seed) {
		mock_fill_all(m);
	}
	m->rng = mdv->params.seed;
	mutex_unlock(&m->lock);
	mock_pages_free(old, old_n);
	if (was_running)
		mock_run(m, true);
	/* dma_rate may have become non-zero */
	mock_dma_quiesce(m, m->dma.quiesced);
	return 0;
}

static void mock_latency(u32 ms)
{
	if (ms)
		msleep(ms);
}

static int mock_quiesce(struct mdv_device *mdv)
{
	to_mock(mdv)->quiesced = true;
	mock_dma_quiesce(to_mock(mdv), true);
	mock_latency(READ_ONCE(mdv->params.quiesce_latency_ms));
	return 0;
}

static int mock_unquiesce(struct mdv_device *mdv)
{
	to_mock(mdv)->quiesced = false;
	mock_dma_quiesce(to_mock(mdv), false);
	mock_latency(READ_ONCE(mdv->params.resume_latency_ms));
	return 0;
}

/*
 * The final state is known once the device stops: take its digest then, as
 * part of the stop, so the END record costs nothing when it is read.
 */
static void mock_seal_locked(struct mock_dev *m)
{
	if (m->save.active && !m->save.sealed) {
		m->save.digest = mock_digest_locked(m);
		m->save.sealed = true;
	}
}

static int mock_freeze(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	mock_run(m, false);
	mutex_lock(&m->lock);
	mock_seal_locked(m);
	mutex_unlock(&m->lock);
	return 0;
}

static int mock_unfreeze(struct mdv_device *mdv)
{
	mock_run(to_mock(mdv), true);
	return 0;
}

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

static u64 mock_stream_size(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	return MDV_HEADER_BYTES + MDV_META_BYTES + mock_image_bytes(m->npages) +
	       MDV_END_BYTES;
}

static int mock_save_start(struct mdv_device *mdv, bool precopy)
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

static void mock_save_stop(struct mdv_device *mdv)
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
	u64 rate = (u64)READ_ONCE(m->mdv->params.save_rate_mb) << 20;
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

static void mock_save_pending(struct mdv_device *mdv, struct mdv_pending *p)
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
	p->ready = !mock_peek_locked(m, &rec) &&
		   mock_produced_locked(m, MDV_REC_BYTES(rec.size), &wait_ns);
	mutex_unlock(&m->lock);
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

static int mock_save_next(struct mdv_device *mdv, struct mdv_rec *rec)
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

static ssize_t mock_save_copy(struct mdv_device *mdv, struct mdv_rec *rec,
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

static int mock_load_start(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	memset(&m->load, 0, sizeof(m->load));
	m->load.active = true;
	/* Loading overwrites the state; until verified it is not trusted. */
	m->pristine = false;
	return 0;
}

static void mock_load_stop(struct mdv_device *mdv)
{
	memset(&to_mock(mdv)->load, 0, sizeof(to_mock(mdv)->load));
}

static int mock_load_begin(struct mdv_device *mdv, struct mdv_rec *rec)
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
		if (ph != LOAD_META)
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
		/* Resource allocation: what precopy initial data hides. */
		mock_latency(READ_ONCE(mdv->params.alloc_latency_ms));
		m->load.phase = LOAD_IMAGE;
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
		struct page *page = m->pages[idx ? idx[pg] : first + pg];
		size_t n;

		n = copy_page_from_iter(page, poff,
					min_t(u64, PAGE_SIZE - poff,
					      iov_iter_count(from)), from);
		if (!n)
			return done ? done : -EFAULT;
		rec->off += n;
		done += n;
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

static ssize_t mock_load_copy(struct mdv_device *mdv, struct mdv_rec *rec,
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

static int mock_load_end(struct mdv_device *mdv, struct mdv_rec *rec)
{
	struct mock_dev *m = to_mock(mdv);

	switch (rec->tag) {
	case MDV_TAG_HEADER:
	case MDV_TAG_META:
	case MDV_TAG_END:
		return mock_check_small(m, rec);
	case MDV_TAG_IMAGE:
		m->load.next_page += m->load.n;
		if (m->load.next_page == m->npages)
			m->load.phase = LOAD_DIRTY;
		return 0;
	case MDV_TAG_DIRTY:
		return 0;
	}
	return -EINVAL;
}

static int mock_load_finish(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);
	u64 digest;

	if (m->load.phase != LOAD_DONE)
		return -EINVAL;	/* truncated stream */
	mutex_lock(&m->lock);
	digest = mock_digest_locked(m);
	mutex_unlock(&m->lock);
	if (digest != m->load.digest) {
		dev_dbg(mdv_dev(mdv), "digest mismatch %llx != %llx\n",
			digest, m->load.digest);
		return -EINVAL;
	}
	return 0;
}

const struct mdv_backend_ops mdv_mock_ops = {
	.init = mock_init,
	.remove = mock_remove,
	.release = mock_release,
	.reset = mock_reset,
	.configure = mock_configure,
	.quiesce = mock_quiesce,
	.unquiesce = mock_unquiesce,
	.freeze = mock_freeze,
	.unfreeze = mock_unfreeze,
	.stream_size = mock_stream_size,
	.save_start = mock_save_start,
	.save_next = mock_save_next,
	.save_copy = mock_save_copy,
	.save_pending = mock_save_pending,
	.save_stop = mock_save_stop,
	.load_start = mock_load_start,
	.load_begin = mock_load_begin,
	.load_copy = mock_load_copy,
	.load_end = mock_load_end,
	.load_finish = mock_load_finish,
	.load_stop = mock_load_stop,
};

/* ----- debugfs views ----- */

/**
 * mdv_mock_digest - xxh64 of the whole device state
 * @mdv: device
 *
 * Return: the digest, as the END record carries it.
 */
u64 mdv_mock_digest(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);
	u64 d;

	mutex_lock(&m->lock);
	d = mock_digest_locked(m);
	mutex_unlock(&m->lock);
	return d;
}

static int mock_dirty_now_set(void *data, u64 val)
{
	struct mock_dev *m = data;
	int ret = 0;
	u64 i;

	if (val > MOCK_DIRTY_NOW_MAX)
		return -EINVAL;
	mutex_lock(&m->lock);
	/* A stopped device's state never changes, not even on request. */
	if (!m->running)
		ret = -EBUSY;
	for (i = 0; !ret && i < val && m->npages; i++) {
		m->rng = mdv_mix(m->rng);
		mock_dirty_page_locked(m, m->rng % m->npages);
		if (!(i & 1023))
			cond_resched();
	}
	mutex_unlock(&m->lock);
	mdv_data_ready(m->mdv);
	return ret;
}
DEFINE_DEBUGFS_ATTRIBUTE(mock_dirty_now_fops, NULL, mock_dirty_now_set,
			 "%llu\n");

/* "IOVA LEN": the device writes LEN bytes at IOVA, in edu-sized pieces */
static ssize_t mock_dma_write_write(struct file *file, const char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	struct mock_dev *m = file->private_data;
	u64 iova, len, n;
	char buf[64];
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = 0;
	if (sscanf(buf, "%llx %llu", &iova, &len) != 2 || !len ||
	    len > MOCK_DMA_WRITE_MAX)
		return -EINVAL;
	while (len) {
		if (fatal_signal_pending(current))
			return -EINTR;
		n = min_t(u64, len, EDU_DMA_MAX);
		ret = mock_dma_issue(m, iova, n);
		if (ret)
			return ret;
		iova += n;
		len -= n;
	}
	return count;
}

static const struct file_operations mock_dma_write_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = mock_dma_write_write,
};

static int mock_dma_mode_show(struct seq_file *s, void *unused)
{
	struct mock_dev *m = s->private;

	mutex_lock(&m->dma.lock);
	seq_printf(s, "%s\n", !m->dma.open ? "closed" :
		   m->dma.edu ? "edu" : "simulated");
	mutex_unlock(&m->dma.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mock_dma_mode);

/**
 * mdv_mock_debugfs - the device model's debugfs files
 * @mdv: device
 * @dir: the directory to create them in
 */
void mdv_mock_debugfs(struct mdv_device *mdv, struct dentry *dir)
{
	struct mock_dev *m = to_mock(mdv);

	debugfs_create_u64("npages", 0444, dir, &m->npages);
	debugfs_create_u64("dirtied", 0444, dir, &m->dirtied);
	debugfs_create_bool("running", 0444, dir, &m->running);
	debugfs_create_file_unsafe("dirty_now", 0200, dir, m,
				   &mock_dirty_now_fops);
	debugfs_create_file("dma_write", 0200, dir, m, &mock_dma_write_fops);
	debugfs_create_file("dma_mode", 0444, dir, m, &mock_dma_mode_fops);
	debugfs_create_u64("dma_writes", 0444, dir, &m->dma.writes);
	debugfs_create_bool("dma_simulate", 0600, dir, &m->dma.simulate);
}
