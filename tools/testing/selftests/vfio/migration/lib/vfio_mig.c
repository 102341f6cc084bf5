// SPDX-License-Identifier: GPL-2.0
/* The generic VFIO migration test library (vfio_mig.h) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/iommufd.h>

#include "vfio_mig.h"

/* sysfs directory of a PCI function (BDF) or an mdev (uuid) */
static void dev_dir(const char *name, char *path, size_t len)
{
	snprintf(path, len, "/sys/bus/pci/devices/%s", name);
	if (access(path, F_OK))
		snprintf(path, len, "/sys/bus/mdev/devices/%s", name);
}

int vmig_driver_name(const char *name, char *buf, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	dev_dir(name, path, sizeof(path));
	strncat(path, "/driver", sizeof(path) - strlen(path) - 1);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	snprintf(buf, len, "%s", strrchr(link, '/') + 1);
	return 0;
}

static int cmp_bdf(const void *a, const void *b)
{
	return strcmp(a, b);
}

int vmig_list(const char *env_name, const char *driver,
	      char names[][VMIG_NAME_LEN], int max)
{
	const char *env = getenv(env_name);
	char path[PATH_MAX];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	if (env && *env) {
		char *copy = strdup(env), *save = NULL, *tok;

		for (tok = strtok_r(copy, " ,", &save); tok && n < max;
		     tok = strtok_r(NULL, " ,", &save))
			snprintf(names[n++], VMIG_NAME_LEN, "%.39s", tok);
		free(copy);
		return n;
	}
	if (!driver)
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", driver);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max)
		if (strchr(e->d_name, ':'))
			snprintf(names[n++], VMIG_NAME_LEN, "%.39s", e->d_name);
	closedir(dir);
	qsort(names, n, VMIG_NAME_LEN, cmp_bdf);
	return n;
}

const char *vmig_mode_name(enum vmig_iommu_mode mode)
{
	return mode == VMIG_MODE_IOMMUFD ? "iommufd" : "container";
}

/*
 * Devices of one IOMMU group share everything above the device fd: the group
 * char device can be opened once, and with iommufd the members must be bound
 * to one iommufd context and attached to one IOAS. So the library keeps a
 * process-wide table, one refcounted entry per (group, mode): container mode
 * shares the group fd and the container, iommufd mode the iommufd and the
 * IOAS. It also counts mappings, so that each device of a group may map the
 * same range (one IOVA space per group) as if it were alone.
 */
#define VMIG_MAX_MAPS	16

struct vmig_map_ent {
	uint64_t iova, len;
	int refs;
};

struct vmig_group {
	int refs;		/* 0: free entry */
	int group;
	enum vmig_iommu_mode mode;
	int container_fd;
	int group_fd;
	int iommufd;
	uint32_t ioas_id;
	struct vmig_map_ent maps[VMIG_MAX_MAPS];
};

static struct vmig_group vmig_groups[VMIG_MAX_DEVS];
static pthread_mutex_t vmig_groups_lock = PTHREAD_MUTEX_INITIALIZER;

int vmig_group_of(const char *name)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	dev_dir(name, path, sizeof(path));
	strncat(path, "/iommu_group", sizeof(path) - strlen(path) - 1);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = 0;
	return atoi(strrchr(link, '/') + 1);
}

static void group_put_locked(struct vmig_group *g)
{
	if (--g->refs)
		return;
	if (g->group_fd >= 0)
		close(g->group_fd);
	if (g->container_fd >= 0)
		close(g->container_fd);
	if (g->iommufd >= 0)
		close(g->iommufd);
	memset(g, 0, sizeof(*g));
}

static int group_setup_container(struct vmig_group *g)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/dev/vfio/%d", g->group);
	g->container_fd = open("/dev/vfio/vfio", O_RDWR);
	if (g->container_fd < 0)
		return -errno;
	g->group_fd = open(path, O_RDWR);
	if (g->group_fd < 0)
		return -errno;
	if (ioctl(g->group_fd, VFIO_GROUP_GET_STATUS, &st))
		return -errno;
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EBUSY;
	if (ioctl(g->group_fd, VFIO_GROUP_SET_CONTAINER, &g->container_fd))
		return -errno;
	if (ioctl(g->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	return 0;
}

static int group_setup_iommufd(struct vmig_group *g)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	g->iommufd = open("/dev/iommu", O_RDWR);
	if (g->iommufd < 0)
		return -errno;
	if (ioctl(g->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return -errno;
	g->ioas_id = alloc.out_ioas_id;
	return 0;
}

/* The entry of @d's group, set up on first use; NULL with *err set */
static struct vmig_group *group_get(struct vmig_dev *d, int *err)
{
	struct vmig_group *g, *free_ent = NULL;
	int i;

	pthread_mutex_lock(&vmig_groups_lock);
	for (i = 0; i < VMIG_MAX_DEVS; i++) {
		g = &vmig_groups[i];
		if (g->refs && g->group == d->group && g->mode == d->mode) {
			g->refs++;
			goto out;
		}
		if (!g->refs && !free_ent)
			free_ent = g;
	}
	g = free_ent;
	if (!g) {
		*err = -ENOSPC;
		goto out;
	}
	memset(g, 0, sizeof(*g));
	g->refs = 1;
	g->group = d->group;
	g->mode = d->mode;
	g->container_fd = -1;
	g->group_fd = -1;
	g->iommufd = -1;
	*err = d->mode == VMIG_MODE_IOMMUFD ? group_setup_iommufd(g) :
					     group_setup_container(g);
	if (*err) {
		group_put_locked(g);
		g = NULL;
	}
out:
	pthread_mutex_unlock(&vmig_groups_lock);
	return g;
}

static int open_container(struct vmig_dev *d)
{
	d->fd = ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	return d->fd < 0 ? -errno : 0;
}

static int open_iommufd(struct vmig_dev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	dev_dir(d->bdf, path, sizeof(path));
	strncat(path, "/vfio-dev", sizeof(path) - strlen(path) - 1);
	dir = opendir(path);
	if (!dir)
		return -ENODEV;
	path[0] = 0;
	while ((e = readdir(dir)))
		if (!strncmp(e->d_name, "vfio", 4))
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s",
				 e->d_name);
	closedir(dir);
	if (!path[0])
		return -ENODEV;

	d->fd = open(path, O_RDWR);
	if (d->fd < 0)
		return -errno;
	bind.iommufd = d->iommufd;
	if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	attach.pt_id = d->ioas_id;
	if (ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		return -errno;
	return 0;
}

int vmig_open(struct vmig_dev *d, const char *bdf, enum vmig_iommu_mode mode)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->group_fd = -1;
	d->container_fd = -1;
	d->iommufd = -1;
	d->mode = mode;
	snprintf(d->bdf, sizeof(d->bdf), "%.39s", bdf);
	if (mode == VMIG_MODE_IOMMUFD && access("/dev/iommu", F_OK))
		return -ENODEV;
	d->group = vmig_group_of(bdf);
	if (d->group < 0)
		return d->group;
	d->grp = group_get(d, &ret);
	if (!d->grp)
		return ret;
	d->container_fd = d->grp->container_fd;
	d->group_fd = d->grp->group_fd;
	d->iommufd = d->grp->iommufd;
	d->ioas_id = d->grp->ioas_id;
	ret = mode == VMIG_MODE_IOMMUFD ? open_iommufd(d) : open_container(d);
	if (ret)
		vmig_close(d);
	return ret;
}

void vmig_close(struct vmig_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->grp) {
		pthread_mutex_lock(&vmig_groups_lock);
		group_put_locked(d->grp);
		pthread_mutex_unlock(&vmig_groups_lock);
	}
	d->grp = NULL;
	d->fd = -1;
	d->group_fd = -1;
	d->container_fd = -1;
	d->iommufd = -1;
}

int vmig_has_reset(struct vmig_dev *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info))
		return -errno;
	return !!(info.flags & VFIO_DEVICE_FLAGS_RESET);
}

int vmig_hot_reset(struct vmig_dev *d)
{
	struct vfio_pci_hot_reset_info *info;
	struct vfio_pci_hot_reset *rst;
	size_t isz = sizeof(*info) + VMIG_MAX_DEVS * sizeof(info->devices[0]);
	int ret = 0, n = 0, i, j;

	info = calloc(1, isz);
	rst = calloc(1, sizeof(*rst) + VMIG_MAX_DEVS * sizeof(int32_t));
	if (!info || !rst) {
		ret = -ENOMEM;
		goto out;
	}
	info->argsz = isz;
	if (ioctl(d->fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, info)) {
		ret = -errno;
		goto out;
	}
	rst->argsz = sizeof(*rst);
	if (d->mode == VMIG_MODE_CONTAINER) {
		/* one fd per affected group; the group must be ours */
		pthread_mutex_lock(&vmig_groups_lock);
		for (i = 0; i < info->count && !ret; i++) {
			uint32_t grp = info->devices[i].group_id;
			int fd = -1;

			for (j = 0; j < VMIG_MAX_DEVS; j++)
				if (vmig_groups[j].refs &&
				    vmig_groups[j].mode == VMIG_MODE_CONTAINER &&
				    vmig_groups[j].group == (int)grp)
					fd = vmig_groups[j].group_fd;
			if (fd < 0) {
				ret = -EPERM;
				break;
			}
			for (j = 0; j < n; j++)
				if (rst->group_fds[j] == fd)
					break;
			if (j == n)
				rst->group_fds[n++] = fd;
		}
		pthread_mutex_unlock(&vmig_groups_lock);
		if (ret)
			goto out;
		rst->count = n;
		rst->argsz += n * sizeof(int32_t);
	}
	/*
	 * iommufd: count 0, the cdev form; the kernel checks that every
	 * affected device is bound to this device's iommufd.
	 */
	if (ioctl(d->fd, VFIO_DEVICE_PCI_HOT_RESET, rst))
		ret = -errno;
out:
	free(info);
	free(rst);
	return ret;
}

bool vmig_behind_bridge(const char *name)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;
	unsigned int dom, bus, dev, fn;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", name);
	if (!realpath(path, real))
		return false;
	slash = strrchr(real, '/');
	if (!slash)
		return false;
	*slash = 0;
	slash = strrchr(real, '/');
	/* the parent of a function behind a bridge is the bridge, a PCI function */
	return slash && sscanf(slash + 1, "%x:%x:%x.%x", &dom, &bus, &dev,
			       &fn) == 4;
}

static int feature(struct vmig_dev *d, uint32_t flags, void *data, size_t len)
{
	uint8_t buf[sizeof(struct vfio_device_feature) + 256];
	struct vfio_device_feature *f = (void *)buf;
	int ret;

	memset(buf, 0, sizeof(buf));
	f->argsz = sizeof(*f) + len;
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	ret = ioctl(d->fd, VFIO_DEVICE_FEATURE, f);
	if (len)
		memcpy(data, f->data, len);
	return ret ? -errno : 0;
}

int vmig_set_state(struct vmig_dev *d, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state mig = {
		.device_state = state, .data_fd = -1 };
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig));
	if (data_fd)
		*data_fd = ret ? -1 : mig.data_fd;
	else if (!ret && mig.data_fd >= 0)
		close(mig.data_fd);
	return ret;
}

int vmig_get_state(struct vmig_dev *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state mig = {};
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig));
	*state = mig.device_state;
	return ret;
}

int vmig_mig_flags(struct vmig_dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration mig = {};
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	*flags = mig.flags;
	return ret;
}

int vmig_data_size(struct vmig_dev *d, uint64_t *len)
{
	struct vfio_device_feature_mig_data_size sz = {};
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &sz, sizeof(sz));
	*len = sz.stop_copy_length;
	return ret;
}

int vmig_precopy_v2(struct vmig_dev *d, uint32_t flags)
{
	struct vfio_device_feature f = {
		.argsz = sizeof(f),
		.flags = flags | VMIG_FEATURE_PRECOPY_V2,
	};

	return ioctl(d->fd, VFIO_DEVICE_FEATURE, &f) ? -errno : 0;
}

int vmig_precopy_info_flags(int data_fd, uint64_t *initial, uint64_t *dirty,
			    uint32_t *flags)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	*flags = info.flags;
	return 0;
}

int vmig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	uint32_t flags;

	return vmig_precopy_info_flags(data_fd, initial, dirty, &flags);
}

int vmig_reset(struct vmig_dev *d)
{
	return ioctl(d->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

const char *vmig_state_name(uint32_t s)
{
	static const char * const names[] = {
		[VFIO_DEVICE_STATE_ERROR] = "ERROR",
		[VFIO_DEVICE_STATE_STOP] = "STOP",
		[VFIO_DEVICE_STATE_RUNNING] = "RUNNING",
		[VFIO_DEVICE_STATE_STOP_COPY] = "STOP_COPY",
		[VFIO_DEVICE_STATE_RESUMING] = "RESUMING",
		[VFIO_DEVICE_STATE_RUNNING_P2P] = "RUNNING_P2P",
		[VFIO_DEVICE_STATE_PRE_COPY] = "PRE_COPY",
		[VFIO_DEVICE_STATE_PRE_COPY_P2P] = "PRE_COPY_P2P",
	};
	return s < VMIG_NUM_STATES ? names[s] : "?";
}

int64_t vmig_pipe(int in, int out, size_t max_chunk, unsigned int seed,
		  bool stop_at_enomsg)
{
	uint8_t *buf = malloc(max_chunk);
	int64_t total = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t want = seed ? 1 + rand_r(&seed) % max_chunk : max_chunk;
		ssize_t n = read(in, buf, want), off = 0;

		if (n < 0 && errno == ENOMSG && stop_at_enomsg)
			break;
		if (n < 0) {
			total = -errno;
			break;
		}
		if (!n)
			break;
		while (off < n) {
			size_t w = seed ? 1 + rand_r(&seed) % (n - off) : n - off;
			ssize_t r = write(out, buf + off, w);

			if (r <= 0) {
				free(buf);
				return r < 0 ? -errno : -EIO;
			}
			off += r;
		}
		total += n;
	}
	free(buf);
	return total;
}

int64_t vmig_read_stream(int in, uint8_t **out)
{
	size_t cap = 1 << 20, len = 0;
	uint8_t *buf = malloc(cap);

	for (;;) {
		ssize_t n;

		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		n = read(in, buf + len, cap - len);
		if (n < 0) {
			free(buf);
			return -errno;
		}
		if (!n)
			break;
		len += n;
	}
	*out = buf;
	return len;
}

int64_t vmig_write_all(int out, const uint8_t *buf, size_t len, size_t chunk)
{
	size_t off = 0;

	while (off < len) {
		size_t w = len - off < chunk ? len - off : chunk;
		ssize_t n = write(out, buf + off, w);

		if (n < 0)
			return -errno;
		if (!n)
			return -EIO;
		off += n;
	}
	return off;
}

int vmig_migrate(struct vmig_dev *src, struct vmig_dev *dst, size_t chunk,
		 unsigned int seed)
{
	int sfd = -1, dfd = -1, ret;
	int64_t n;

	ret = vmig_set_state(src, VFIO_DEVICE_STATE_STOP_COPY, &sfd);
	if (ret)
		return ret;
	ret = vmig_set_state(dst, VFIO_DEVICE_STATE_RESUMING, &dfd);
	if (ret)
		goto out;
	n = vmig_pipe(sfd, dfd, chunk, seed, false);
	if (n < 0) {
		ret = n;
		goto out;
	}
	ret = vmig_set_state(dst, VFIO_DEVICE_STATE_RUNNING, NULL);
	if (!ret)
		ret = vmig_set_state(src, VFIO_DEVICE_STATE_STOP, NULL);
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

double vmig_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int map_ioctl(struct vmig_dev *d, void *buf, size_t len, uint64_t iova)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf, .iova = iova, .size = len,
	};
	struct iommu_ioas_map imap = {
		.size = sizeof(imap),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = d->ioas_id, .user_va = (uintptr_t)buf,
		.length = len, .iova = iova,
	};

	if (d->mode == VMIG_MODE_IOMMUFD)
		return ioctl(d->iommufd, IOMMU_IOAS_MAP, &imap) ? -errno : 0;
	return ioctl(d->container_fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int unmap_ioctl(struct vmig_dev *d, size_t len, uint64_t iova)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = len };
	struct iommu_ioas_unmap iunmap = {
		.size = sizeof(iunmap), .ioas_id = d->ioas_id,
		.iova = iova, .length = len };

	if (d->mode == VMIG_MODE_IOMMUFD)
		return ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &iunmap) ? -errno : 0;
	return ioctl(d->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

/*
 * Devices of one group share one IOVA space: the same range mapped again
 * through a sibling (same iova and length) only takes a reference, and the
 * last unmap removes it. Anything else overlapping fails as the kernel
 * says (-EEXIST).
 */
int vmig_map(struct vmig_dev *d, void *buf, size_t len, uint64_t iova)
{
	struct vmig_map_ent *m, *free_ent = NULL;
	int i, ret;

	pthread_mutex_lock(&vmig_groups_lock);
	for (i = 0; i < VMIG_MAX_MAPS; i++) {
		m = &d->grp->maps[i];
		if (m->refs && m->iova == iova && m->len == len) {
			m->refs++;
			pthread_mutex_unlock(&vmig_groups_lock);
			return 0;
		}
		if (!m->refs && !free_ent)
			free_ent = m;
	}
	ret = map_ioctl(d, buf, len, iova);
	if (!ret && free_ent) {
		free_ent->iova = iova;
		free_ent->len = len;
		free_ent->refs = 1;
	}
	pthread_mutex_unlock(&vmig_groups_lock);
	return ret;
}

int vmig_unmap(struct vmig_dev *d, size_t len, uint64_t iova)
{
	struct vmig_map_ent *m;
	int i, ret;

	pthread_mutex_lock(&vmig_groups_lock);
	for (i = 0; i < VMIG_MAX_MAPS; i++) {
		m = &d->grp->maps[i];
		if (m->refs && m->iova == iova && m->len == len) {
			if (--m->refs) {
				pthread_mutex_unlock(&vmig_groups_lock);
				return 0;
			}
			break;
		}
	}
	ret = unmap_ioctl(d, len, iova);
	pthread_mutex_unlock(&vmig_groups_lock);
	return ret;
}

int vmig_bus_master(struct vmig_dev *d)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;

	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &reg))
		return -errno;
	if (pread(d->fd, &cmd, 2, reg.offset + 4) != 2)
		return -EIO;
	cmd |= 0x4;	/* PCI_COMMAND_MASTER */
	if (pwrite(d->fd, &cmd, 2, reg.offset + 4) != 2)
		return -EIO;
	return 0;
}

int vmig_log_start(struct vmig_dev *d, const struct vmig_range *r, uint32_t n,
		   uint64_t *page_size)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = *page_size, .num_ranges = n,
		.ranges = (uintptr_t)r,
	};
	int ret;

	/* struct vmig_range has the layout of the uAPI range */
	ret = feature(d, VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));
	if (!ret)
		*page_size = ctl.page_size;
	return ret;
}

int vmig_log_stop(struct vmig_dev *d)
{
	return feature(d, VFIO_DEVICE_FEATURE_SET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

int vmig_log_report(struct vmig_dev *d, uint64_t iova, uint64_t length,
		    uint64_t page_size, uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova, .length = length, .page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	return feature(d, VFIO_DEVICE_FEATURE_GET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep, sizeof(rep));
}

bool vmig_state_offered(uint64_t flags, uint32_t s)
{
	switch (s) {
	case VFIO_DEVICE_STATE_RUNNING_P2P:
		return flags & VFIO_MIGRATION_P2P;
	case VFIO_DEVICE_STATE_PRE_COPY:
		return flags & VFIO_MIGRATION_PRE_COPY;
	case VFIO_DEVICE_STATE_PRE_COPY_P2P:
		return (flags & VFIO_MIGRATION_P2P) &&
		       (flags & VFIO_MIGRATION_PRE_COPY);
	case VFIO_DEVICE_STATE_ERROR:
		return false;
	default:
		return s < VMIG_NUM_STATES;
	}
}

bool vmig_state_precopy(uint32_t s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

bool vmig_state_saving(uint32_t s)
{
	return vmig_state_precopy(s) || s == VFIO_DEVICE_STATE_STOP_COPY;
}

int vmig_sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int64_t vmig_save_stream(struct vmig_dev *d, uint8_t **buf)
{
	int64_t n;
	int fd, ret;

	ret = vmig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = vmig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	n = vmig_read_stream(fd, buf);
	close(fd);
	ret = vmig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	return ret ? ret : n;
}
