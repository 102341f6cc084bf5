/* SPDX-License-Identifier: GPL-2.0 */
/* dirty.c: DMA logging's uAPI half (vfio_log_ops) */
#ifndef MDV_DIRTY_H
#define MDV_DIRTY_H

struct mdv_device;

void mdv_dirty_register(struct mdv_device *mdv);
void mdv_dirty_stop(struct mdv_device *mdv);
void mdv_dirty_reset(struct mdv_device *mdv);

#endif /* MDV_DIRTY_H */
