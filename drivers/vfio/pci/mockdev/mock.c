// SPDX-License-Identifier: GPL-2.0
/*
 * The mock device: a software model behind struct mdv_backend_ops. This
 * file holds its page store, its running/stopped life and the control ops;
 * mock.h lists the other files.
 *
 * Device state is an array of order-0 pages (never one big buffer), so
 * multi-GiB states work. Page i of generation g holds 64-bit words derived
 * from (seed, i, g, j) by mock_fill_page(): content is deterministic and
 * any copy can be checked.
 *
 * The digest that identifies a state is the sum (mod 2^64) of every page's
 * xxh64 seeded with the page's index, so a page that moves changes it as
 * much as a page that changes. A sum can be kept current: whoever writes a
 * page calls mock_page_changed(), which swaps the page's term, and sealing
 * a state at the freeze or checking a loaded one costs O(1), not a pass
 * over GiBs inside the downtime. mock_digest_locked() recomputes it from
 * the pages for debugfs, independently of the bookkeeping.
 *
 * While running, a delayed work rewrites random pages at params.dirty_rate
 * pages per second, with a fresh generation; a saving session
 * (mock_stream.c) resends the ones it already sent.
 */
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/xxhash.h>

#include "mock.h"

static u64 mock_page_hash(struct mock_dev *m, u64 idx)
{
	return xxh64(page_address(m->pages[idx]), PAGE_SIZE, idx);
}

/**
 * mock_page_changed - account for new content in page @idx
 * @m: device; whoever may write the page excludes the others
 * @idx: page index
 *
 * Call it once the page holds its new content, whole.
 */
void mock_page_changed(struct mock_dev *m, u64 idx)
{
	u64 h = mock_page_hash(m, idx);

	m->digest += h - m->phash[idx];
	m->phash[idx] = h;
}

static void mock_fill_page(struct mock_dev *m, u64 idx, u64 gen)
{
	u64 *p = page_address(m->pages[idx]);
	u64 base = mock_mix(((u64)m->seed << 32) ^ idx ^
			   (gen << 40));
	unsigned int j;

	for (j = 0; j < PAGE_SIZE / sizeof(u64); j++)
		p[j] = base + j * 0x9e3779b97f4a7c15ULL;
	mock_page_changed(m, idx);
}

void mock_fill_all(struct mock_dev *m)
{
	u64 i;

	m->seed = m->params.seed;
	for (i = 0; i < m->npages; i++) {
		mock_fill_page(m, i, 0);
		cond_resched();
	}
	m->gen = 0;
	m->pristine = true;
}

u64 mock_digest_locked(struct mock_dev *m)
{
	u64 i, d = 0;

	for (i = 0; i < m->npages; i++) {
		d += mock_page_hash(m, i);
		if (!(i & 255))
			cond_resched();
	}
	return d;
}

static void mock_pages_free(struct page **pages, u64 *phash, u64 npages)
{
	u64 i;

	kvfree(phash);
	if (!pages)
		return;
	for (i = 0; i < npages; i++)
		if (pages[i])
			__free_page(pages[i]);
	kvfree(pages);
}

/*
 * A state of @npages pages and their hashes (all 0, as is the digest they
 * add up to: the caller fills the pages), or NULL. A size the machine
 * cannot hold fails here instead of waking the OOM killer: the user asked
 * for it.
 */
static struct page **mock_pages_alloc(u64 npages, u64 **phash)
{
	const gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN;
	struct page **pages;
	u64 i;

	*phash = kvcalloc(npages, sizeof(**phash), gfp);
	pages = kvcalloc(npages, sizeof(*pages), gfp);
	if (!pages || !*phash)
		goto fail;
	for (i = 0; i < npages; i++) {
		pages[i] = alloc_page(gfp);
		if (!pages[i])
			goto fail;
		cond_resched();
	}
	return pages;
fail:
	mock_pages_free(pages, *phash, npages);
	*phash = NULL;
	return NULL;
}

/* ----- running device: dirtying ----- */

void mock_dirty_page_locked(struct mock_dev *m, u64 idx)
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
	u32 rate = READ_ONCE(m->params.dirty_rate);
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
		m->rng = mock_mix(m->rng);
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

static void mock_save_wake(struct work_struct *work)
{
	struct mock_dev *m = container_of(to_delayed_work(work),
					  struct mock_dev, save_wake);

	mdv_data_ready(m->mdv);
}

static u64 mock_npages(struct mock_dev *m)
{
	return (u64)m->params.state_size_mb << (20 - PAGE_SHIFT);
}

static int mock_init(struct mdv_device *mdv)
{
	struct mock_dev *m;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->mdv = mdv;
	mock_params_init(m);
	m->npages = mock_npages(m);
	m->pages = mock_pages_alloc(m->npages, &m->phash);
	if (!m->pages) {
		kfree(m);
		return -ENOMEM;
	}
	mutex_init(&m->lock);
	INIT_DELAYED_WORK(&m->dirty_work, mock_dirty_work);
	INIT_DELAYED_WORK(&m->save_wake, mock_save_wake);
	mock_dma_init(m);
	mock_track_init(&m->trk);
	m->rng = m->params.seed;
	m->dma.rng = m->params.seed;
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

	mock_track_uninit(&m->trk);
	mock_pages_free(m->pages, m->phash, m->npages);
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
	m->rng = m->params.seed;
	m->dirty_carry = 0;
	m->dma.carry = 0;
	if (run) {
		mock_run(m, true);
		mock_dma_open(m, true);
	}
}

/**
 * mock_configure - apply the knobs (only while RUNNING, no session open)
 * @m: device, state_mutex held
 *
 * The new state is allocated before the old one is let go, so a size the
 * machine cannot hold leaves the device as it was.
 *
 * Return: 0 or -ENOMEM (the device is then as before the call).
 */
int mock_configure(struct mock_dev *m)
{
	u64 npages = mock_npages(m);
	struct page **pages = NULL, **old = NULL;
	u64 *phash = NULL, *old_phash = NULL;
	bool was_running = m->running;
	u64 old_n = 0;

	lockdep_assert_held(&m->mdv->state_mutex);
	if (npages != m->npages) {
		pages = mock_pages_alloc(npages, &phash);
		if (!pages)
			return -ENOMEM;
	}
	mock_run(m, false);
	mutex_lock(&m->lock);
	if (pages) {
		old = m->pages;
		old_phash = m->phash;
		old_n = m->npages;
		m->pages = pages;
		m->phash = phash;
		m->npages = npages;
		m->digest = 0;
		mock_fill_all(m);
	} else if (m->seed != m->params.seed) {
		mock_fill_all(m);
	}
	m->rng = m->params.seed;
	mutex_unlock(&m->lock);
	mock_pages_free(old, old_phash, old_n);
	if (was_running)
		mock_run(m, true);
	/* dma_rate may have become non-zero */
	mock_dma_quiesce(m, m->dma.quiesced);
	return 0;
}

/* a knob's latency: what a real device's firmware command would take */
void mock_latency(u32 ms)
{
	if (ms)
		msleep(ms);
}

static int mock_quiesce(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	m->quiesced = true;
	mock_dma_quiesce(m, true);
	mock_latency(READ_ONCE(m->params.quiesce_latency_ms));
	return 0;
}

static int mock_unquiesce(struct mdv_device *mdv)
{
	struct mock_dev *m = to_mock(mdv);

	m->quiesced = false;
	mock_dma_quiesce(m, false);
	mock_latency(READ_ONCE(m->params.resume_latency_ms));
	return 0;
}

/*
 * The final state is known once the device stops: its digest, kept
 * current page by page, is the END record's.
 */
void mock_seal_locked(struct mock_dev *m)
{
	if (m->save.active && !m->save.sealed) {
		m->save.digest = m->digest;
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

const struct mdv_backend_ops mdv_backend = {
	.mod_init = mock_params_check_defaults,
	.init = mock_init,
	.remove = mock_remove,
	.release = mock_release,
	.devlink_register = mock_devlink_register,
	.devlink_unregister = mock_devlink_unregister,
	.debugfs = mock_debugfs,
	.reset = mock_reset,
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
	.log_caps = mock_log_caps,
	.log_start = mock_log_start,
	.log_stop = mock_log_stop,
	.log_reset = mock_log_reset,
	.log_report = mock_log_report,
};
