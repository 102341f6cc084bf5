/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A generic VFIO migration test library: find devices, open them through a
 * VFIO container (type1) or iommufd, drive the migration uAPI v2 (device
 * states, data FDs, PRE_COPY info, DMA logging), move streams. It knows no
 * driver: a driver's own knobs live in a control library above it (for
 * mockdev-vfio-pci, vfio/mockdev/lib: mdvt_*). Names are vmig_*, never
 * the kernel's.
 *
 * Devices of one IOMMU group (functions behind a conventional PCI bridge)
 * can be open at the same time: the library shares the group fd and the
 * container, or the iommufd and the IOAS, between them (refcounted; the last
 * vmig_close() releases them). They share one IOVA space: mapping the same
 * range through each of them maps it once.
 */
#ifndef VFIO_MIG_H
#define VFIO_MIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>

#define VMIG_MAX_DEVS	16
#define VMIG_NAME_LEN	40	/* a PCI address or an mdev uuid */
#define VMIG_NUM_STATES	8

enum vmig_iommu_mode {
	VMIG_MODE_CONTAINER,	/* /dev/vfio/vfio + group, type1v2 */
	VMIG_MODE_IOMMUFD,	/* /dev/iommu + /dev/vfio/devices/vfioN */
};

struct vmig_group;

struct vmig_dev {
	char bdf[VMIG_NAME_LEN];
	enum vmig_iommu_mode mode;
	int container_fd;	/* these four belong to the group's entry */
	int group_fd;
	int iommufd;
	int fd;			/* VFIO device fd */
	uint32_t ioas_id;
	int group;		/* IOMMU group number */
	struct vmig_group *grp;
};

/*
 * Devices to test: the names in the environment variable @env (space or
 * comma separated PCI addresses or mdev uuids) if it is set and not empty,
 * else every PCI function bound to @driver (NULL: none) in sorted order
 * (root-bus functions, 0000:00:..., first; functions behind bridges last).
 * Returns how many.
 */
int vmig_list(const char *env, const char *driver,
	      char names[][VMIG_NAME_LEN], int max);
/* the name of the driver bound to a PCI function or mdev */
int vmig_driver_name(const char *name, char *buf, size_t len);
const char *vmig_mode_name(enum vmig_iommu_mode mode);
/* 0, or -errno; a mode the kernel lacks gives -ENODEV */
int vmig_open(struct vmig_dev *d, const char *bdf, enum vmig_iommu_mode mode);
void vmig_close(struct vmig_dev *d);

/* IOMMU group number of a PCI function or mdev, or -errno */
int vmig_group_of(const char *name);
/* VFIO_DEVICE_GET_INFO says VFIO_DEVICE_FLAGS_RESET: 1, 0, or -errno */
int vmig_has_reset(struct vmig_dev *d);
/*
 * VFIO_DEVICE_PCI_HOT_RESET of @d's slot or bus. Container mode passes the
 * group fd of every affected group (each must be open in this process);
 * iommufd mode uses the cdev form (no group fds), which needs every affected
 * device bound to the same iommufd. 0 or -errno.
 */
int vmig_hot_reset(struct vmig_dev *d);
/* A PCI function whose parent is a bridge, not a root bus */
bool vmig_behind_bridge(const char *name);

int vmig_set_state(struct vmig_dev *d, uint32_t state, int *data_fd);
int vmig_get_state(struct vmig_dev *d, uint32_t *state);
int vmig_mig_flags(struct vmig_dev *d, uint64_t *flags);
int vmig_data_size(struct vmig_dev *d, uint64_t *len);
int vmig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);
/*
 * PRECOPY_INFOv2 (Linux 7.0 uAPI, spelled out for older headers): the
 * feature VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 and the output flag
 * VFIO_PRECOPY_INFO_REINIT. vmig_precopy_v2() sends the feature with
 * @flags (VFIO_DEVICE_FEATURE_SET to opt in, or PROBE, GET ...): 0 or
 * -errno, -ENOTTY where the kernel does not know it.
 */
#define VMIG_FEATURE_PRECOPY_V2		12
#define VMIG_PRECOPY_INFO_REINIT	0x1
#define VMIG_NO_PRECOPY_V2						\
	"kernel has no PRECOPY_INFOv2 (VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, "	\
	"Linux 7.0)"
int vmig_precopy_v2(struct vmig_dev *d, uint32_t flags);
/* vmig_precopy_info() that also returns the output flags (REINIT) */
int vmig_precopy_info_flags(int data_fd, uint64_t *initial, uint64_t *dirty,
			    uint32_t *flags);
int vmig_reset(struct vmig_dev *d);
const char *vmig_state_name(uint32_t state);

/*
 * Copy a stream from @in to @out until @in returns 0 (or ENOMSG when
 * @stop_at_enomsg). Chunks are random in 1..@max_chunk when @seed != 0,
 * else exactly @max_chunk. Returns bytes copied or -errno.
 */
int64_t vmig_pipe(int in, int out, size_t max_chunk, unsigned int seed,
		  bool stop_at_enomsg);
/*
 * A complete stream of @d saved from STOP (STOP -> STOP_COPY, read to the
 * end); @d is back in RUNNING. Returns its length or -errno.
 */
int64_t vmig_save_stream(struct vmig_dev *d, uint8_t **buf);
/* Read a whole stream into a malloc'd buffer; returns its length or -errno */
int64_t vmig_read_stream(int in, uint8_t **buf);
int64_t vmig_write_all(int out, const uint8_t *buf, size_t len, size_t chunk);

/*
 * Stop-and-copy migration of @src to @dst (both RUNNING on entry, RUNNING
 * on success). Returns 0 or -errno.
 */
int vmig_migrate(struct vmig_dev *src, struct vmig_dev *dst, size_t chunk,
		 unsigned int seed);

double vmig_now(void);

/* uAPI state classes */
bool vmig_state_offered(uint64_t mig_flags, uint32_t state);
bool vmig_state_precopy(uint32_t state);
bool vmig_state_saving(uint32_t state);
/* write @val to a sysfs (or any) file, truncating it as the shell's > does: 0 or -errno */
int vmig_sysfs_write(const char *path, const char *val);

/* Map @len bytes at @buf to @iova in the device's IOMMU domain */
int vmig_map(struct vmig_dev *d, void *buf, size_t len, uint64_t iova);
int vmig_unmap(struct vmig_dev *d, size_t len, uint64_t iova);
/* Set PCI_COMMAND_MASTER through the VFIO config region, as a user would */
int vmig_bus_master(struct vmig_dev *d);

struct vmig_range {
	uint64_t iova;
	uint64_t length;
};

/* DMA logging; *page_size is updated with the device's choice */
int vmig_log_start(struct vmig_dev *d, const struct vmig_range *r, uint32_t n,
		   uint64_t *page_size);
int vmig_log_stop(struct vmig_dev *d);
int vmig_log_report(struct vmig_dev *d, uint64_t iova, uint64_t length,
		    uint64_t page_size, uint64_t *bitmap);

/*
 * Every (from, to) pair of the eight device states, ERROR included, as
 * CASE(FROM, TO): for suites that generate one test per arc.
 */
#define VMIG_STATES_FROM(CASE, F)					\
	CASE(F, STOP) CASE(F, RUNNING) CASE(F, STOP_COPY)		\
	CASE(F, RESUMING) CASE(F, RUNNING_P2P)				\
	CASE(F, PRE_COPY) CASE(F, PRE_COPY_P2P) CASE(F, ERROR)
#define VMIG_STATE_PAIRS(CASE)						\
	VMIG_STATES_FROM(CASE, STOP) VMIG_STATES_FROM(CASE, RUNNING)	\
	VMIG_STATES_FROM(CASE, STOP_COPY)				\
	VMIG_STATES_FROM(CASE, RESUMING)				\
	VMIG_STATES_FROM(CASE, RUNNING_P2P)				\
	VMIG_STATES_FROM(CASE, PRE_COPY)				\
	VMIG_STATES_FROM(CASE, PRE_COPY_P2P)				\
	VMIG_STATES_FROM(CASE, ERROR)

#endif
