// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/mockdev-vfio-pci/<pci address>/ holds the
 * uAPI side's files (state, stats), the fail_* switches of faults.c and
 * whatever the backend adds (its debugfs op). The files and their formats
 * are documented in Documentation/mockdev-vfio-pci.rst.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

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
	debugfs_create_file("stats", 0444, dir, mdv, &mdv_stats_fops);
	mdv_faults_debugfs(&mdv->faults, dir);
	mdv->ops->debugfs(mdv, dir);
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
