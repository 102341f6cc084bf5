/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small device library for the mockdev-vfio-pci kselftests: find the
 * functions bound to the driver, open them through a VFIO container (type1)
 * or iommufd, drive the migration uAPI, and reach the driver's debugfs and
 * devlink knobs.
 *
 * Devices: $MDV_BDFS (space separated PCI addresses or mdev uuids) if set,
 * else every function bound to mockdev-vfio-pci, in sorted order (root-bus
 * functions, 0000:00:..., first; functions behind bridges last).
 *
 * Devices of one IOMMU group (functions behind a conventional PCI bridge)
 * can be open at the same time: the library shares the group fd and the
 * container, or the iommufd and the IOAS, between them (refcounted; the last
 * mdv_close() releases them). They share one IOVA space: mapping the same
 * range through each of them maps it once.
 */
#ifndef MDV_LIB_H
#define MDV_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>
#include <mockdev/mdv_stream.h>

#define MDV_MAX_DEVS	16
#define MDV_NAME_LEN	40	/* a PCI address or an mdev uuid */
#define MDV_NUM_STATES	8

enum mdv_iommu_mode {
	MDV_MODE_CONTAINER,	/* /dev/vfio/vfio + group, type1v2 */
	MDV_MODE_IOMMUFD,	/* /dev/iommu + /dev/vfio/devices/vfioN */
};

struct mdv_group;

struct mdv_dev {
	char bdf[MDV_NAME_LEN];
	enum mdv_iommu_mode mode;
	int container_fd;	/* these four belong to the group's entry */
	int group_fd;
	int iommufd;
	int fd;			/* VFIO device fd */
	uint32_t ioas_id;
	int group;		/* IOMMU group number */
	struct mdv_group *grp;
};

int mdv_list(char bdfs[][MDV_NAME_LEN], int max);
/* the name of the driver bound to a PCI function or mdev */
int mdv_driver_name(const char *name, char *buf, size_t len);
const char *mdv_mode_name(enum mdv_iommu_mode mode);
/* 0, or -errno; a mode the kernel lacks gives -ENODEV */
int mdv_open(struct mdv_dev *d, const char *bdf, enum mdv_iommu_mode mode);
void mdv_close(struct mdv_dev *d);

/* IOMMU group number of a PCI function or mdev, or -errno */
int mdv_group_of(const char *name);
/* VFIO_DEVICE_GET_INFO says VFIO_DEVICE_FLAGS_RESET: 1, 0, or -errno */
int mdv_has_reset(struct mdv_dev *d);
/*
 * VFIO_DEVICE_PCI_HOT_RESET of @d's slot or bus. Container mode passes the
 * group fd of every affected group (each must be open in this process);
 * iommufd mode uses the cdev form (no group fds), which needs every affected
 * device bound to the same iommufd. 0 or -errno.
 */
int mdv_hot_reset(struct mdv_dev *d);
/* A PCI function whose parent is a bridge, not a root bus */
bool mdv_behind_bridge(const char *name);
/* The functions of mdv_list() that are behind a bridge, sorted */
int mdv_list_bridge(char bdfs[][MDV_NAME_LEN], int max);
/*
 * The bridge functions whose VFIO_DEVICE_GET_INFO says reset (opens each
 * one briefly in @mode); in our lanes those alone on their bus
 */
int mdv_list_reset(char bdfs[][MDV_NAME_LEN], int max,
		   enum mdv_iommu_mode mode);

int mdv_set_state(struct mdv_dev *d, uint32_t state, int *data_fd);
int mdv_get_state(struct mdv_dev *d, uint32_t *state);
int mdv_mig_flags(struct mdv_dev *d, uint64_t *flags);
int mdv_data_size(struct mdv_dev *d, uint64_t *len);
int mdv_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);
int mdv_reset(struct mdv_dev *d);
const char *mdv_state_name(uint32_t state);

int mdv_dbg_read(const char *bdf, const char *file, char *buf, size_t len);
int mdv_dbg_write(const char *bdf, const char *file, const char *val);
/* the device's debugfs digest; aborts the process if it cannot be read */
uint64_t mdv_digest(const char *bdf);
/* devlink dev param set ... cmode runtime; returns the command's status */
int mdv_param(const char *bdf, const char *name, const char *value);
int mdv_param_u32(const char *bdf, const char *name, unsigned int value);

/*
 * Copy a stream from @in to @out until @in returns 0 (or ENOMSG when
 * @stop_at_enomsg). Chunks are random in 1..@max_chunk when @seed != 0,
 * else exactly @max_chunk. Returns bytes copied or -errno.
 */
int64_t mdv_pipe(int in, int out, size_t max_chunk, unsigned int seed,
		 bool stop_at_enomsg);
/*
 * A complete stream of @d saved from STOP (STOP -> STOP_COPY, read to the
 * end); @d is back in RUNNING. Returns its length or -errno.
 */
int64_t mdv_save_stream(struct mdv_dev *d, uint8_t **buf);
/* Read a whole stream into a malloc'd buffer; returns its length or -errno */
int64_t mdv_read_stream(int in, uint8_t **buf);
int64_t mdv_write_all(int out, const uint8_t *buf, size_t len, size_t chunk);

/*
 * Stop-and-copy migration of @src to @dst (both RUNNING on entry, RUNNING
 * on success). Returns 0 or -errno.
 */
int mdv_migrate(struct mdv_dev *src, struct mdv_dev *dst, size_t chunk,
		unsigned int seed);

double mdv_now(void);

/* uAPI state classes */
bool mdv_state_offered(uint64_t mig_flags, uint32_t state);
bool mdv_state_precopy(uint32_t state);
bool mdv_state_saving(uint32_t state);
/* write @val to a sysfs (or any) file, truncating it as the shell's > does: 0 or -errno */
int mdv_sysfs_write(const char *path, const char *val);

/* Map @len bytes at @buf to @iova in the device's IOMMU domain */
int mdv_map(struct mdv_dev *d, void *buf, size_t len, uint64_t iova);
int mdv_unmap(struct mdv_dev *d, size_t len, uint64_t iova);
/* Set PCI_COMMAND_MASTER through the VFIO config region, as a user would */
int mdv_bus_master(struct mdv_dev *d);

struct mdv_range {
	uint64_t iova;
	uint64_t length;
};

/* DMA logging; *page_size is updated with the device's choice */
int mdv_log_start(struct mdv_dev *d, const struct mdv_range *r, uint32_t n,
		  uint64_t *page_size);
int mdv_log_stop(struct mdv_dev *d);
int mdv_log_report(struct mdv_dev *d, uint64_t iova, uint64_t length,
		   uint64_t page_size, uint64_t *bitmap);

#endif
