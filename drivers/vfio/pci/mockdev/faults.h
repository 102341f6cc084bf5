/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault injection for tests, netdevsim style: fail_* switches in the
 * device's debugfs directory make the next N operations of a kind fail.
 *
 * Every injection point goes through this header. Without
 * CONFIG_MOCKDEV_VFIO_PCI_FAULTS (a production build, or a vendor's copy)
 * the hooks are constant false, struct mdv_faults is empty and no switch
 * exists: the compiler removes the injection points. The out-of-tree Kbuild
 * enables it, because the kselftests use the switches.
 */
#ifndef MDV_FAULTS_H
#define MDV_FAULTS_H

#include <linux/atomic.h>
#include <linux/types.h>

struct dentry;

#if IS_ENABLED(CONFIG_MOCKDEV_VFIO_PCI_FAULTS)

/**
 * struct mdv_faults - the switches (debugfs files of the same names)
 * @fail_arc: fail the next N FSM arcs (the device goes to ERROR)
 * @fail_arc_from: ... only arcs from this state (~0: any)
 * @fail_arc_to: ... only arcs to this state (~0: any)
 * @fail_read: fail the next N saving-FD reads, consuming nothing
 * @fail_write: ... and resuming-FD writes
 * @fail_errno: errno for @fail_read and @fail_write (default EIO)
 * @fail_alloc: fail the next N data session allocations (-ENOMEM)
 * @fail_log_start: fail the next N DMA logging starts (-EIO)
 * @fail_log_report: ... and reports
 */
struct mdv_faults {
	atomic_t fail_arc;
	u32 fail_arc_from;
	u32 fail_arc_to;
	atomic_t fail_read;
	atomic_t fail_write;
	u32 fail_errno;
	atomic_t fail_alloc;
	atomic_t fail_log_start;
	atomic_t fail_log_report;
};

void mdv_faults_init(struct mdv_faults *f);
void mdv_faults_debugfs(struct mdv_faults *f, struct dentry *dir);
bool mdv_fault_arc(struct mdv_faults *f, u32 cur, u32 next);
bool mdv_fault_data(struct mdv_faults *f, bool read, int *err);

/* Take one from a fail_* counter: true if this operation is to fail. */
static inline bool mdv_fault(atomic_t *counter)
{
	return atomic_dec_if_positive(counter) >= 0;
}

static inline bool mdv_fault_alloc(struct mdv_faults *f)
{
	return mdv_fault(&f->fail_alloc);
}

static inline bool mdv_fault_log_start(struct mdv_faults *f)
{
	return mdv_fault(&f->fail_log_start);
}

static inline bool mdv_fault_log_report(struct mdv_faults *f)
{
	return mdv_fault(&f->fail_log_report);
}

#else

struct mdv_faults {
};

static inline void mdv_faults_init(struct mdv_faults *f)
{
}

static inline void mdv_faults_debugfs(struct mdv_faults *f,
				      struct dentry *dir)
{
}

static inline bool mdv_fault_arc(struct mdv_faults *f, u32 cur, u32 next)
{
	return false;
}

static inline bool mdv_fault_data(struct mdv_faults *f, bool read, int *err)
{
	return false;
}

static inline bool mdv_fault_alloc(struct mdv_faults *f)
{
	return false;
}

static inline bool mdv_fault_log_start(struct mdv_faults *f)
{
	return false;
}

static inline bool mdv_fault_log_report(struct mdv_faults *f)
{
	return false;
}

#endif /* CONFIG_MOCKDEV_VFIO_PCI_FAULTS */

#endif /* MDV_FAULTS_H */
