/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API differences between the kernels mockdev-vfio-pci builds
 * against, in one place: the driver files call these and hold no version
 * checks of their own. Supported: 6.12 (LTS) and 7.x, checked against
 * Debian's 6.12 and 7.3 sources. The kernels in between changed these
 * interfaces one release at a time and are refused rather than guessed at.
 *
 * To add a kernel: build against it (make lint), and for each compile or
 * runtime difference add a helper here, keyed on LINUX_VERSION_CODE, or on
 * a uAPI define where the feature has one.
 */
#ifndef MDV_COMPAT_H
#define MDV_COMPAT_H

#include <linux/err.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
#include <net/devlink.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 0, 0)
#define MDV_KERNEL_7	1
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#error "mockdev-vfio-pci supports Linux 6.12 and 7.x (see compat.h)"
#else
#define MDV_KERNEL_7	0
#endif

/**
 * mdv_bar_iomap - the kernel mapping of one BAR of an open device
 * @vdev: the vfio-pci core device, between vfio_pci_core_enable() and
 *	vfio_pci_core_disable()
 * @bar: BAR index
 *
 * 7.x maps every BAR at enable and hands it out with
 * vfio_pci_core_get_iomap(); 6.12 maps on request
 * (vfio_pci_core_setup_barmap(), gone in 7.x).
 *
 * Return: the mapping, or NULL if the BAR cannot be mapped.
 */
static inline void __iomem *mdv_bar_iomap(struct vfio_pci_core_device *vdev,
					  unsigned int bar)
{
#if MDV_KERNEL_7
	void __iomem *io = vfio_pci_core_get_iomap(vdev, bar);

	return IS_ERR(io) ? NULL : io;
#else
	return vfio_pci_core_setup_barmap(vdev, bar) ? NULL : vdev->barmap[bar];
#endif
}

/*
 * vfio_device_ops that 7.x calls unconditionally and 6.12 does not have:
 * the vfio core answers VFIO_DEVICE_GET_REGION_INFO through
 * .get_region_info_caps (the ioctl fails without it), and
 * vfio_pci_core_match() calls .match_token_uuid (a NULL call without it,
 * when the group's GET_DEVICE_FD looks the device up). The last line of an
 * ops table, without a comma after it.
 */
#if MDV_KERNEL_7
#define MDV_VFIO_PCI_OPS_7						\
	.get_region_info_caps = vfio_pci_ioctl_get_region_info,		\
	.match_token_uuid = vfio_pci_core_match_token_uuid,
#else
#define MDV_VFIO_PCI_OPS_7
#endif

/*
 * devlink params: the driver writes its callbacks with the 7.x prototypes
 * (.get takes an extack, .validate the value by reference);
 * DEFINE_MDV_DEVLINK_GET(fn) and DEFINE_MDV_DEVLINK_VALIDATE(fn) define
 * fn##_shim with the prototype of the kernel built against, for the param
 * tables.
 */
#if MDV_KERNEL_7
#define DEFINE_MDV_DEVLINK_GET(fn)					\
static int fn##_shim(struct devlink *devlink, u32 id,			\
		     struct devlink_param_gset_ctx *ctx,		\
		     struct netlink_ext_ack *extack)			\
{									\
	return fn(devlink, id, ctx, extack);				\
}

#define DEFINE_MDV_DEVLINK_VALIDATE(fn)					\
static int fn##_shim(struct devlink *devlink, u32 id,			\
		     union devlink_param_value *val,			\
		     struct netlink_ext_ack *extack)			\
{									\
	return fn(devlink, id, val, extack);				\
}
#else
#define DEFINE_MDV_DEVLINK_GET(fn)					\
static int fn##_shim(struct devlink *devlink, u32 id,			\
		     struct devlink_param_gset_ctx *ctx)		\
{									\
	return fn(devlink, id, ctx, NULL);				\
}

#define DEFINE_MDV_DEVLINK_VALIDATE(fn)					\
static int fn##_shim(struct devlink *devlink, u32 id,			\
		     union devlink_param_value val,			\
		     struct netlink_ext_ack *extack)			\
{									\
	return fn(devlink, id, &val, extack);				\
}
#endif

/*
 * PRECOPY_INFOv2 (7.x): the vfio core takes the user's opt-in
 * (VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, a SET) and keeps it in
 * vdev->precopy_info_v2 until the device is opened again; only then may
 * VFIO_MIG_GET_PRECOPY_INFO report VFIO_PRECOPY_INFO_REINIT. Keyed on the
 * uAPI flag. 6.12 has neither: no user can opt in, and the checks
 * vfio_check_precopy_ioctl() makes are spelled out.
 */
#ifdef VFIO_PRECOPY_INFO_REINIT
#define MDV_PRECOPY_INFO_REINIT	VFIO_PRECOPY_INFO_REINIT

static inline bool mdv_precopy_info_v2(struct vfio_device *vdev)
{
	return READ_ONCE(vdev->precopy_info_v2);
}

static inline int mdv_check_precopy_ioctl(struct vfio_device *vdev,
					  unsigned int cmd, unsigned long arg,
					  struct vfio_precopy_info *info)
{
	return vfio_check_precopy_ioctl(vdev, cmd, arg, info);
}
#else
#define MDV_PRECOPY_INFO_REINIT	0

static inline bool mdv_precopy_info_v2(struct vfio_device *vdev)
{
	return false;
}

static inline int mdv_check_precopy_ioctl(struct vfio_device *vdev,
					  unsigned int cmd, unsigned long arg,
					  struct vfio_precopy_info *info)
{
	unsigned long minsz = offsetofend(struct vfio_precopy_info, dirty_bytes);

	if (cmd != VFIO_MIG_GET_PRECOPY_INFO)
		return -ENOTTY;
	if (copy_from_user(info, (void __user *)arg, minsz))
		return -EFAULT;
	return info->argsz < minsz ? -EINVAL : 0;
}
#endif

#endif /* MDV_COMPAT_H */
