// SPDX-License-Identifier: GPL-2.0
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

#include "mdv_lib.h"

#define DBG_ROOT "/sys/kernel/debug/mockdev-vfio-pci"
#define DRV_DIR "/sys/bus/pci/drivers/mockdev-vfio-pci"

/* sysfs directory of a PCI function (BDF) or an mdev (uuid) */
static void dev_dir(const char *name, char *path, size_t len)
{
	snprintf(path, len, "/sys/bus/pci/devices/%s", name);
	if (access(path, F_OK))
		snprintf(path, len, "/sys/bus/mdev/devices/%s", name);
}

int mdv_driver_name(const char *name, char *buf, size_t len)
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

int mdv_list(char bdfs[][MDV_NAME_LEN], int max)
{
	const char *env = getenv("MDV_BDFS");
	struct dirent *e;
	int n = 0;
	DIR *dir;

	if (env && *env) {
		char *copy = strdup(env), *save = NULL, *tok;

		for (tok = strtok_r(copy, " ,", &save); tok && n < max;
		     tok = strtok_r(NULL, " ,", &save))
			snprintf(bdfs[n++], MDV_NAME_LEN, "%.39s", tok);
		free(copy);
		return n;
	}
	dir = opendir(DRV_DIR);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && n < max)
		if (strchr(e->d_name, ':'))
			snprintf(bdfs[n++], MDV_NAME_LEN, "%.39s", e->d_name);
	closedir(dir);
	qsort(bdfs, n, MDV_NAME_LEN, cmp_bdf);
	return n;
}

const char *mdv_mode_name(enum mdv_iommu_mode mode)
{
	return mode == MDV_MODE_IOMMUFD ? "iommufd" : "container";
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
#define MDV_MAX_MAPS	16

struct mdv_map_ent {
	uint64_t iova, len;
	int refs;
};

struct mdv_group {
	int refs;		/* 0: free entry */
	int group;
	enum mdv_iommu_mode mode;
	int container_fd;
	int group_fd;
	int iommufd;
	uint32_t ioas_id;
	struct mdv_map_ent maps[MDV_MAX_MAPS];
};

static struct mdv_group mdv_groups[MDV_MAX_DEVS];
static pthread_mutex_t mdv_groups_lock = PTHREAD_MUTEX_INITIALIZER;

int mdv_group_of(const char *name)
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

static void group_put_locked(struct mdv_group *g)
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

static int group_setup_container(struct mdv_group *g)
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

static int group_setup_iommufd(struct mdv_group *g)
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
static struct mdv_group *group_get(struct mdv_dev *d, int *err)
{
	struct mdv_group *g, *free_ent = NULL;
	int i;

	pthread_mutex_lock(&mdv_groups_lock);
	for (i = 0; i < MDV_MAX_DEVS; i++) {
		g = &mdv_groups[i];
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
	*err = d->mode == MDV_MODE_IOMMUFD ? group_setup_iommufd(g) :
					     group_setup_container(g);
	if (*err) {
		group_put_locked(g);
		g = NULL;
	}
out:
	pthread_mutex_unlock(&mdv_groups_lock);
	return g;
}

static int open_container(struct mdv_dev *d)
{
	d->fd = ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	return d->fd < 0 ? -errno : 0;
}

static int open_iommufd(struct mdv_dev *d)
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

int mdv_open(struct mdv_dev *d, const char *bdf, enum mdv_iommu_mode mode)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->group_fd = -1;
	d->container_fd = -1;
	d->iommufd = -1;
	d->mode = mode;
	snprintf(d->bdf, sizeof(d->bdf), "%.39s", bdf);
	if (mode == MDV_MODE_IOMMUFD && access("/dev/iommu", F_OK))
		return -ENODEV;
	d->group = mdv_group_of(bdf);
	if (d->group < 0)
		return d->group;
	d->grp = group_get(d, &ret);
	if (!d->grp)
		return ret;
	d->container_fd = d->grp->container_fd;
	d->group_fd = d->grp->group_fd;
	d->iommufd = d->grp->iommufd;
	d->ioas_id = d->grp->ioas_id;
	ret = mode == MDV_MODE_IOMMUFD ? open_iommufd(d) : open_container(d);
	if (ret)
		mdv_close(d);
	return ret;
}

void mdv_close(struct mdv_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	if (d->grp) {
		pthread_mutex_lock(&mdv_groups_lock);
		group_put_locked(d->grp);
		pthread_mutex_unlock(&mdv_groups_lock);
	}
	d->grp = NULL;
	d->fd = -1;
	d->group_fd = -1;
	d->container_fd = -1;
	d->iommufd = -1;
}

int mdv_has_reset(struct mdv_dev *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info))
		return -errno;
	return !!(info.flags & VFIO_DEVICE_FLAGS_RESET);
}

int mdv_hot_reset(struct mdv_dev *d)
{
	struct vfio_pci_hot_reset_info *info;
	struct vfio_pci_hot_reset *rst;
	size_t isz = sizeof(*info) + MDV_MAX_DEVS * sizeof(info->devices[0]);
	int ret = 0, n = 0, i, j;

	info = calloc(1, isz);
	rst = calloc(1, sizeof(*rst) + MDV_MAX_DEVS * sizeof(int32_t));
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
	if (d->mode == MDV_MODE_CONTAINER) {
		/* one fd per affected group; the group must be ours */
		pthread_mutex_lock(&mdv_groups_lock);
		for (i = 0; i < info->count && !ret; i++) {
			uint32_t grp = info->devices[i].group_id;
			int fd = -1;

			for (j = 0; j < MDV_MAX_DEVS; j++)
				if (mdv_groups[j].refs &&
				    mdv_groups[j].mode == MDV_MODE_CONTAINER &&
				    mdv_groups[j].group == (int)grp)
					fd = mdv_groups[j].group_fd;
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
		pthread_mutex_unlock(&mdv_groups_lock);
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

static int pci_name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

bool mdv_behind_bridge(const char *name)
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

int mdv_list_bridge(char bdfs[][MDV_NAME_LEN], int max)
{
	char all[MDV_MAX_DEVS][MDV_NAME_LEN];
	int n = mdv_list(all, MDV_MAX_DEVS), i, k = 0;

	for (i = 0; i < n && k < max; i++)
		if (mdv_behind_bridge(all[i]))
			snprintf(bdfs[k++], MDV_NAME_LEN, "%.39s", all[i]);
	qsort(bdfs, k, MDV_NAME_LEN, pci_name_cmp);
	return k;
}

int mdv_list_reset(char bdfs[][MDV_NAME_LEN], int max,
		   enum mdv_iommu_mode mode)
{
	char br[MDV_MAX_DEVS][MDV_NAME_LEN];
	int n = mdv_list_bridge(br, MDV_MAX_DEVS), i, k = 0;
	struct mdv_dev d;

	/*
	 * Only vfio-pci knows: a function that shares its bus has a sysfs
	 * "reset" from probe time (it was alone then) but no method that
	 * works, and reset_works comes from a reset tried at open.
	 */
	for (i = 0; i < n && k < max; i++) {
		if (mdv_open(&d, br[i], mode))
			continue;
		if (mdv_has_reset(&d) == 1)
			snprintf(bdfs[k++], MDV_NAME_LEN, "%.39s", br[i]);
		mdv_close(&d);
	}
	return k;
}

static int feature(struct mdv_dev *d, uint32_t flags, void *data, size_t len)
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

int mdv_set_state(struct mdv_dev *d, uint32_t state, int *data_fd)
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

int mdv_get_state(struct mdv_dev *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state mig = {};
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig));
	*state = mig.device_state;
	return ret;
}

int mdv_mig_flags(struct mdv_dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration mig = {};
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	*flags = mig.flags;
	return ret;
}

int mdv_data_size(struct mdv_dev *d, uint64_t *len)
{
	struct vfio_device_feature_mig_data_size sz = {};
	int ret;

	ret = feature(d, VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &sz, sizeof(sz));
	*len = sz.stop_copy_length;
	return ret;
}

int mdv_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info))
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

int mdv_reset(struct mdv_dev *d)
{
	return ioctl(d->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

const char *mdv_state_name(uint32_t s)
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
	return s < MDV_NUM_STATES ? names[s] : "?";
}

int mdv_dbg_read(const char *bdf, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), DBG_ROOT "/%s/%s", bdf, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

int mdv_dbg_write(const char *bdf, const char *file, const char *val)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), DBG_ROOT "/%s/%s", bdf, file);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

uint64_t mdv_digest(const char *bdf)
{
	char buf[64], *end;
	uint64_t d;
	int ret;

	/*
	 * No value stands for "could not read": two failed reads would
	 * compare equal, one would differ from anything. A test that asks
	 * for a digest it cannot have is broken: stop it here, loudly.
	 */
	ret = mdv_dbg_read(bdf, "digest", buf, sizeof(buf));
	d = ret ? 0 : strtoull(buf, &end, 16);
	if (ret || end == buf) {
		fprintf(stderr, "%s(%s): %s\n", __func__, bdf,
			ret ? strerror(-ret) : "not a number");
		abort();
	}
	return d;
}

/* The knob's current value, from debugfs; 0 if found */
static int param_get(const char *bdf, const char *name, char *val, size_t len)
{
	char buf[1024], *line, *save = NULL;
	size_t n = strlen(name);

	if (mdv_dbg_read(bdf, "params", buf, sizeof(buf)))
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, name, n) && line[n] == ' ') {
			snprintf(val, len, "%s", line + n + 1);
			return 0;
		}
	}
	return -1;
}

int mdv_param(const char *bdf, const char *name, const char *value)
{
	char cmd[256], cur[64];
	int ret;

	/* devlink costs a fork and exec: skip it when nothing changes */
	if (!param_get(bdf, name, cur, sizeof(cur)) && !strcmp(cur, value))
		return 0;

	snprintf(cmd, sizeof(cmd),
		 "devlink dev param set pci/%s name %s value %s cmode runtime 2>/dev/null",
		 bdf, name, value);
	ret = system(cmd);
	return WIFEXITED(ret) ? WEXITSTATUS(ret) : -1;
}

int mdv_param_u32(const char *bdf, const char *name, unsigned int value)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", value);
	return mdv_param(bdf, name, v);
}

int64_t mdv_pipe(int in, int out, size_t max_chunk, unsigned int seed,
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

int64_t mdv_read_stream(int in, uint8_t **out)
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

int64_t mdv_write_all(int out, const uint8_t *buf, size_t len, size_t chunk)
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

int mdv_migrate(struct mdv_dev *src, struct mdv_dev *dst, size_t chunk,
		unsigned int seed)
{
	int sfd = -1, dfd = -1, ret;
	int64_t n;

	ret = mdv_set_state(src, VFIO_DEVICE_STATE_STOP_COPY, &sfd);
	if (ret)
		return ret;
	ret = mdv_set_state(dst, VFIO_DEVICE_STATE_RESUMING, &dfd);
	if (ret)
		goto out;
	n = mdv_pipe(sfd, dfd, chunk, seed, false);
	if (n < 0) {
		ret = n;
		goto out;
	}
	ret = mdv_set_state(dst, VFIO_DEVICE_STATE_RUNNING, NULL);
	if (!ret)
		ret = mdv_set_state(src, VFIO_DEVICE_STATE_STOP, NULL);
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

double mdv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int map_ioctl(struct mdv_dev *d, void *buf, size_t len, uint64_t iova)
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

	if (d->mode == MDV_MODE_IOMMUFD)
		return ioctl(d->iommufd, IOMMU_IOAS_MAP, &imap) ? -errno : 0;
	return ioctl(d->container_fd, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

static int unmap_ioctl(struct mdv_dev *d, size_t len, uint64_t iova)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = len };
	struct iommu_ioas_unmap iunmap = {
		.size = sizeof(iunmap), .ioas_id = d->ioas_id,
		.iova = iova, .length = len };

	if (d->mode == MDV_MODE_IOMMUFD)
		return ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &iunmap) ? -errno : 0;
	return ioctl(d->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

/*
 * Devices of one group share one IOVA space: the same range mapped again
 * through a sibling (same iova and length) only takes a reference, and the
 * last unmap removes it. Anything else overlapping fails as the kernel
 * says (-EEXIST).
 */
int mdv_map(struct mdv_dev *d, void *buf, size_t len, uint64_t iova)
{
	struct mdv_map_ent *m, *free_ent = NULL;
	int i, ret;

	pthread_mutex_lock(&mdv_groups_lock);
	for (i = 0; i < MDV_MAX_MAPS; i++) {
		m = &d->grp->maps[i];
		if (m->refs && m->iova == iova && m->len == len) {
			m->refs++;
			pthread_mutex_unlock(&mdv_groups_lock);
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
	pthread_mutex_unlock(&mdv_groups_lock);
	return ret;
}

int mdv_unmap(struct mdv_dev *d, size_t len, uint64_t iova)
{
	struct mdv_map_ent *m;
	int i, ret;

	pthread_mutex_lock(&mdv_groups_lock);
	for (i = 0; i < MDV_MAX_MAPS; i++) {
		m = &d->grp->maps[i];
		if (m->refs && m->iova == iova && m->len == len) {
			if (--m->refs) {
				pthread_mutex_unlock(&mdv_groups_lock);
				return 0;
			}
			break;
		}
	}
	ret = unmap_ioctl(d, len, iova);
	pthread_mutex_unlock(&mdv_groups_lock);
	return ret;
}

int mdv_bus_master(struct mdv_dev *d)
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

int mdv_log_start(struct mdv_dev *d, const struct mdv_range *r, uint32_t n,
		  uint64_t *page_size)
{
	struct vfio_device_feature_dma_logging_control ctl = {
		.page_size = *page_size, .num_ranges = n,
		.ranges = (uintptr_t)r,
	};
	int ret;

	/* struct mdv_range has the layout of the uAPI range */
	ret = feature(d, VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &ctl, sizeof(ctl));
	if (!ret)
		*page_size = ctl.page_size;
	return ret;
}

int mdv_log_stop(struct mdv_dev *d)
{
	return feature(d, VFIO_DEVICE_FEATURE_SET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

int mdv_log_report(struct mdv_dev *d, uint64_t iova, uint64_t length,
		   uint64_t page_size, uint64_t *bitmap)
{
	struct vfio_device_feature_dma_logging_report rep = {
		.iova = iova, .length = length, .page_size = page_size,
		.bitmap = (uintptr_t)bitmap,
	};

	return feature(d, VFIO_DEVICE_FEATURE_GET |
		       VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep, sizeof(rep));
}

bool mdv_state_offered(uint64_t flags, uint32_t s)
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
		return s < MDV_NUM_STATES;
	}
}

bool mdv_state_precopy(uint32_t s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY ||
	       s == VFIO_DEVICE_STATE_PRE_COPY_P2P;
}

bool mdv_state_saving(uint32_t s)
{
	return mdv_state_precopy(s) || s == VFIO_DEVICE_STATE_STOP_COPY;
}

int mdv_sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int64_t mdv_save_stream(struct mdv_dev *d, uint8_t **buf)
{
	int64_t n;
	int fd, ret;

	ret = mdv_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = mdv_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret)
		return ret;
	n = mdv_read_stream(fd, buf);
	close(fd);
	ret = mdv_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	return ret ? ret : n;
}
