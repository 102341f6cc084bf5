/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mockdev-vfio-pci's control library for its kselftests and the reference
 * engine: which functions the driver has, its debugfs files, its devlink
 * parameters and the digest of a device's whole state. It sits on the
 * generic migration library (vfio/migration/lib: vfio_mig.h, vmig_*) and
 * is the only part of the tests that knows the driver. Names are mdvt_*
 * (mockdev test), never the kernel's mdv_*.
 *
 * Devices: $MDV_BDFS (space separated PCI addresses or mdev uuids) if set,
 * else every function bound to mockdev-vfio-pci, in sorted order (root-bus
 * functions, 0000:00:..., first; functions behind bridges last).
 */
#ifndef MDVT_H
#define MDVT_H

#include <stdint.h>
#include <mockdev/mdv_stream.h>

#include "vfio_mig.h"

#define MDVT_DRIVER	"mockdev-vfio-pci"

int mdvt_list(char bdfs[][VMIG_NAME_LEN], int max);
/* The functions of mdvt_list() that are behind a bridge, sorted */
int mdvt_list_bridge(char bdfs[][VMIG_NAME_LEN], int max);
/*
 * The bridge functions whose VFIO_DEVICE_GET_INFO says reset (opens each
 * one briefly in @mode); in our lanes those alone on their bus
 */
int mdvt_list_reset(char bdfs[][VMIG_NAME_LEN], int max,
		    enum vmig_iommu_mode mode);

int mdvt_dbg_read(const char *bdf, const char *file, char *buf, size_t len);
int mdvt_dbg_write(const char *bdf, const char *file, const char *val);
/* the device's debugfs digest; aborts the process if it cannot be read */
uint64_t mdvt_digest(const char *bdf);
/* devlink dev param set ... cmode runtime; returns the command's status */
int mdvt_param(const char *bdf, const char *name, const char *value);
int mdvt_param_u32(const char *bdf, const char *name, unsigned int value);

#endif
