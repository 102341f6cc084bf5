// SPDX-License-Identifier: GPL-2.0
/*
 * The fail_* switches behind faults.h; built only with
 * CONFIG_MOCKDEV_VFIO_PCI_FAULTS. Read and write them as root; see
 * Documentation/mockdev-vfio-pci.rst.
 */
#include <linux/debugfs.h>
#include <linux/err.h>

#include "faults.h"

/**
 * mdv_faults_init - every switch off
 * @f: switches
 */
void mdv_faults_init(struct mdv_faults *f)
{
	memset(f, 0, sizeof(*f));
	f->fail_errno = EIO;
	f->fail_arc_from = U32_MAX;
	f->fail_arc_to = U32_MAX;
}

/**
 * mdv_fault_arc - the fail_arc switch, optionally limited to one arc
 * @f: switches
 * @cur: the arc's first state
 * @next: its second
 *
 * Return: true if this arc is to fail.
 */
bool mdv_fault_arc(struct mdv_faults *f, u32 cur, u32 next)
{
	u32 from = READ_ONCE(f->fail_arc_from);
	u32 to = READ_ONCE(f->fail_arc_to);

	if ((from != U32_MAX && from != cur) || (to != U32_MAX && to != next))
		return false;
	return mdv_fault(&f->fail_arc);
}

/**
 * mdv_fault_data - the fail_read / fail_write switches
 * @f: switches
 * @read: a saving-FD read, else a resuming-FD write
 * @err: where to store the (negative) errno to fail with
 *
 * Return: true if this data operation is to fail.
 */
bool mdv_fault_data(struct mdv_faults *f, bool read, int *err)
{
	if (!mdv_fault(read ? &f->fail_read : &f->fail_write))
		return false;
	*err = -(int)(READ_ONCE(f->fail_errno) ?: EIO);
	return true;
}

/* fail_errno: a positive errno, so a failure never reads as a byte count */
static int mdv_fail_errno_get(void *data, u64 *val)
{
	*val = READ_ONCE(*(u32 *)data);
	return 0;
}

static int mdv_fail_errno_set(void *data, u64 val)
{
	if (val < 1 || val > MAX_ERRNO)
		return -EINVAL;
	WRITE_ONCE(*(u32 *)data, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(mdv_fail_errno_fops, mdv_fail_errno_get,
			 mdv_fail_errno_set, "%llu\n");

/**
 * mdv_faults_debugfs - create the fail_* files
 * @f: switches
 * @dir: the device's debugfs directory
 */
void mdv_faults_debugfs(struct mdv_faults *f, struct dentry *dir)
{
	debugfs_create_atomic_t("fail_arc", 0600, dir, &f->fail_arc);
	debugfs_create_u32("fail_arc_from", 0600, dir, &f->fail_arc_from);
	debugfs_create_u32("fail_arc_to", 0600, dir, &f->fail_arc_to);
	debugfs_create_atomic_t("fail_alloc", 0600, dir, &f->fail_alloc);
	debugfs_create_atomic_t("fail_log_start", 0600, dir,
				&f->fail_log_start);
	debugfs_create_atomic_t("fail_log_report", 0600, dir,
				&f->fail_log_report);
	debugfs_create_atomic_t("fail_read", 0600, dir, &f->fail_read);
	debugfs_create_atomic_t("fail_write", 0600, dir, &f->fail_write);
	debugfs_create_file_unsafe("fail_errno", 0600, dir, &f->fail_errno,
				   &mdv_fail_errno_fops);
}
