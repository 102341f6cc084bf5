/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lm.c: the migration data files and one FSM arc at a time. vfio_dev.c owns
 * state_mutex and the set-state loop; everything named *_locked here is
 * called with state_mutex held and never takes or drops it.
 */
#ifndef MDV_LM_H
#define MDV_LM_H

#include <linux/vfio.h>

struct mdv_device;

struct file *mdv_step_device_state_locked(struct mdv_device *mdv,
					  enum vfio_device_mig_state next);
void mdv_disable_files_locked(struct mdv_device *mdv);
u64 mdv_data_size_locked(struct mdv_device *mdv);
/* mdv_data_ready(), the backends' wake-up, is declared in backend.h */

#endif /* MDV_LM_H */
