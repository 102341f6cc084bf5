/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mock device's private header: shared by its files and by nothing
 * else. The uAPI side sees the mock only through struct mdv_backend_ops.
 *
 *   mock.c          page store, run/stop, control ops, the ops table
 *   mock_stream.c   saving and resuming records (what a vendor studies)
 *   mock_dma.c      the edu DMA engine: device writes into guest memory
 *   mock_dirty.c    the DMA logging tracker (xarray of dirty pages)
 *   mock_params.c   knobs: module parameters and devlink params
 *   mock_debugfs.c  debugfs views: digest, params, mock/
 */
#ifndef MDV_MOCK_H
#define MDV_MOCK_H

#include <linux/interval_tree.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <mockdev/mdv_stream.h>

#include "mockdev.h"

struct seq_file;

#define MOCK_TICK_MS		10
#define MOCK_MAX_PER_TICK	4096

/* payload prefixes; record sizes come from mdv_stream.h's MDV_*_BYTES */
#define IMAGE_PREFIX	sizeof(struct mdv_rec_image)
#define DIRTY_PREFIX	sizeof(struct mdv_rec_dirty)

/* QEMU's edu device: one transfer is at most this many bytes */
#define EDU_DMA_MAX		4095

/**
 * struct mock_params - the model's knobs (devlink params, module params)
 * @state_size_mb: device state size
 * @dirty_rate: pages the device rewrites per second while running
 * @alloc_latency_ms: destination, once the initial image is loaded
 * @quiesce_latency_ms: arcs leaving RUNNING / PRE_COPY
 * @resume_latency_ms: arcs entering RUNNING / PRE_COPY
 * @seed: content seed (0 in the defaults: derived from the PCI address)
 * @log_max_ranges: DMA logging: ranges the tracker holds
 * @log_max_span_gb: ... total span it can track, GiB
 * @log_page_sizes: ... supported granules, bit n = 2^n bytes
 * @dma_rate: device writes per second while running
 * @save_rate_mb: saving data produced at MiB/s, 0 = at once
 *
 * Changed only under state_mutex (mdv_params_lock()), read anywhere with
 * READ_ONCE().
 */
struct mock_params {
	u32 state_size_mb;
	u32 dirty_rate;
	u32 alloc_latency_ms;
	u32 quiesce_latency_ms;
	u32 resume_latency_ms;
	u32 seed;
	u32 log_max_ranges;
	u32 log_max_span_gb;
	u32 log_page_sizes;
	u32 dma_rate;
	u32 save_rate_mb;
};

/**
 * struct mock_tracker - the DMA logging tracker (mock_dirty.c)
 * @lock: protects everything below
 * @active: between START and STOP
 * @gen: bumped by every START: a report walking an older one stops
 * @ranges: tracked IOVA ranges (interval tree, no overlaps)
 * @nranges: how many
 * @span: bytes they cover
 * @page_size: granule, as reported to the user
 * @page_shift: log2(@page_size)
 * @pages: dirty page numbers (iova >> @page_shift), value entries
 * @ndirty: entries in @pages
 * @owed: ranges to report all dirty once (tracking was lost across a
 *	function reset); interval tree, no overlaps
 * @overflow: an entry could not be stored: report everything dirty
 */
struct mock_tracker {
	struct mutex lock;		/* see above */
	bool active;
	u64 gen;
	struct rb_root_cached ranges;
	u32 nranges;
	u64 span;
	u64 page_size;
	unsigned int page_shift;
	struct xarray pages;
	u64 ndirty;
	struct rb_root_cached owed;
	bool overflow;
};

enum mock_load_phase {
	LOAD_HEADER,
	LOAD_META,
	LOAD_IMAGE,
	LOAD_DIRTY,	/* image complete: DIRTY or END */
	LOAD_DONE,	/* END seen */
};

struct mock_dev {
	struct mdv_device *mdv;
	struct mock_params params;
	struct mock_tracker trk;
	struct mutex lock;		/* pages content, cursor, bitmap */
	struct page **pages;
	u64 *phash;			/* each page's term in @digest */
	u64 digest;			/* the state's, see mock.c */
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
		u32 reinit;		/* initial data restarts (reconfigure) */
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

static inline struct mock_dev *to_mock(struct mdv_device *mdv)
{
	return mdv->be;
}

/* splitmix64: cheap, well mixed, and reproducible from userspace */
static inline u64 mock_mix(u64 x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* mock.c */
void mock_fill_all(struct mock_dev *m);
u64 mock_digest_locked(struct mock_dev *m);
void mock_page_changed(struct mock_dev *m, u64 idx);
void mock_dirty_page_locked(struct mock_dev *m, u64 idx);
void mock_latency(u32 ms);
void mock_seal_locked(struct mock_dev *m);
int mock_configure(struct mock_dev *m);

/* mock_stream.c */
u64 mock_stream_size(struct mdv_device *mdv);
int mock_save_start(struct mdv_device *mdv, bool precopy);
int mock_save_next(struct mdv_device *mdv, struct mdv_rec *rec);
ssize_t mock_save_copy(struct mdv_device *mdv, struct mdv_rec *rec,
		       struct iov_iter *to);
void mock_save_pending(struct mdv_device *mdv, struct mdv_pending *p);
int mock_save_reinit(struct mock_dev *m);
void mock_save_stop(struct mdv_device *mdv);
int mock_load_start(struct mdv_device *mdv);
int mock_load_begin(struct mdv_device *mdv, struct mdv_rec *rec);
ssize_t mock_load_copy(struct mdv_device *mdv, struct mdv_rec *rec,
		       struct iov_iter *from);
int mock_load_end(struct mdv_device *mdv, struct mdv_rec *rec);
int mock_load_finish(struct mdv_device *mdv);
void mock_load_stop(struct mdv_device *mdv);

/* mock_dma.c */
void mock_dma_init(struct mock_dev *m);
void mock_dma_open(struct mock_dev *m, bool open);
void mock_dma_quiesce(struct mock_dev *m, bool quiesce);
int mock_dma_issue(struct mock_dev *m, u64 iova, u64 len);

/* mock_dirty.c */
void mock_track_init(struct mock_tracker *t);
void mock_track_uninit(struct mock_tracker *t);
void mock_track_write(struct mock_tracker *t, u64 iova, u64 len);
int mock_track_pick(struct mock_tracker *t, u64 rnd, u64 *iova);
void mock_log_caps(struct mdv_device *mdv, struct mdv_log_caps *caps);
int mock_log_start(struct mdv_device *mdv, struct rb_root_cached *ranges,
		   u32 nranges, u64 span, u64 page_size);
void mock_log_stop(struct mdv_device *mdv);
void mock_log_reset(struct mdv_device *mdv);
int mock_log_report(struct mdv_device *mdv, struct mdv_log_window *w,
		    struct mdv_log_extent *set, unsigned int max);

/* mock_params.c */
int mock_params_check_defaults(void);
void mock_params_init(struct mock_dev *m);
int mock_devlink_register(struct mdv_device *mdv, struct devlink *devlink);
void mock_devlink_unregister(struct mdv_device *mdv,
			     struct devlink *devlink);
void mock_params_show(struct mock_dev *m, struct seq_file *s);

/* mock_debugfs.c */
void mock_debugfs(struct mdv_device *mdv, struct dentry *dir);

#endif /* MDV_MOCK_H */
