// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/mockdev-vfio-pci/<pci address>/
 *   state       current migration state (name)
 *   digest      xxh64 of the whole device state, hex
 *   params      the knobs, one "name value" a line
 *   stats       counters: arcs, failures, bytes saved/loaded, reports
 *   fail_arc    fail the next N FSM arcs; the device goes to ERROR
 *   fail_arc_from, fail_arc_to   ... only this arc (state numbers; ~0 any)
 *   fail_alloc  fail the next N data session allocations (-ENOMEM)
 *   fail_log_start, fail_log_report   fail DMA logging (-EIO)
 *   fail_read   fail the next N saving-FD reads with fail_errno
 *   fail_write  fail the next N resuming-FD writes with fail_errno
 *   fail_errno  errno (1..4095) for fail_read / fail_write (default 5, EIO)
 *   mock/       the device model: npages, dirtied, running, dirty_now
 * Read and write them as root; see Documentation/mockdev-vfio-pci.rst.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/string_choices.h>

#include "mockdev.h"

static struct dentry *mdv_dbg_root;

static const char * const mdv_state_names[] = {
	[VFIO_DEVICE_STATE_ERROR] = "ERROR",
	[VFIO_DEVICE_STATE_STOP] = "STOP",
	[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
	[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
	[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
	[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
	[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
	[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
};

static int mdv_state_show(struct seq_file *s, void *unused)
{
	struct mdv_device *mdv = s->private;
	enum vfio_device_mig_state st;

	mdv_state_lock(mdv);
	st = mdv->mig_state;
	mdv_state_unlock(mdv);
	seq_printf(s, "%s\n", st < ARRAY_SIZE(mdv_state_names) ?
		   mdv_state_names[st] : "?");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mdv_state);

static int mdv_digest_show(struct seq_file *s, void *unused)
{
	seq_printf(s, "%016llx\n", mdv_mock_digest(s->private));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mdv_digest);

/* The knobs as devlink shows them, one "name value" a line */
static int mdv_params_show(struct seq_file *s, void *unused)
{
	struct mdv_device *mdv = s->private;
	struct mdv_params p;

	mdv_state_lock(mdv);
	p = mdv->params;
	mdv_state_unlock(mdv);
	seq_printf(s, "state_size_mb %u\ndirty_rate %u\nalloc_latency_ms %u\n",
		   p.state_size_mb, p.dirty_rate, p.alloc_latency_ms);
	seq_printf(s, "quiesce_latency_ms %u\nresume_latency_ms %u\nseed %u\n",
		   p.quiesce_latency_ms, p.resume_latency_ms, p.seed);
	seq_printf(s, "p2p %s\nprecopy %s\n", str_true_false(p.p2p),
		   str_true_false(p.precopy));
	seq_printf(s, "log_max_ranges %u\nlog_max_span_gb %u\n",
		   p.log_max_ranges, p.log_max_span_gb);
	seq_printf(s, "log_page_sizes %u\ndma_rate %u\nsave_rate_mb %u\n",
		   p.log_page_sizes, p.dma_rate, p.save_rate_mb);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mdv_params);

static int mdv_stats_show(struct seq_file *s, void *unused)
{
	struct mdv_device *mdv = s->private;
	struct mdv_stats *st = &mdv->stats;

	seq_printf(s, "arcs %lld\narc_failures %lld\n",
		   atomic64_read(&st->arcs), atomic64_read(&st->arc_failures));
	seq_printf(s, "saved_bytes %lld\nloaded_bytes %lld\n",
		   atomic64_read(&st->saved), atomic64_read(&st->loaded));
	seq_printf(s, "dma_reports %lld\n", atomic64_read(&st->reports));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mdv_stats);

/**
 * mdv_debugfs_add - create the device's debugfs directory and files
 * @mdv: device, fully initialised
 */
void mdv_debugfs_add(struct mdv_device *mdv)
{
	struct dentry *dir;

	dir = debugfs_create_dir(pci_name(mdv->core.pdev), mdv_dbg_root);
	mdv->dbg = dir;
	debugfs_create_file("state", 0444, dir, mdv, &mdv_state_fops);
	debugfs_create_file("digest", 0444, dir, mdv, &mdv_digest_fops);
	debugfs_create_file("params", 0444, dir, mdv, &mdv_params_fops);
	debugfs_create_file("stats", 0444, dir, mdv, &mdv_stats_fops);
	mdv_faults_debugfs(&mdv->faults, dir);
	mdv_mock_debugfs(mdv, debugfs_create_dir("mock", dir));
}

/**
 * mdv_debugfs_remove - remove the device's debugfs directory
 * @mdv: device
 */
void mdv_debugfs_remove(struct mdv_device *mdv)
{
	debugfs_remove_recursive(mdv->dbg);
	mdv->dbg = NULL;
}

/**
 * mdv_debugfs_init - create the driver's debugfs root
 */
void mdv_debugfs_init(void)
{
	mdv_dbg_root = debugfs_create_dir(MDV_DRV_NAME, NULL);
}

/**
 * mdv_debugfs_exit - remove the driver's debugfs root and all below it
 */
void mdv_debugfs_exit(void)
{
	debugfs_remove_recursive(mdv_dbg_root);
}
