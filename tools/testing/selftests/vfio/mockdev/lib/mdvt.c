// SPDX-License-Identifier: GPL-2.0
/*
 * mockdev-vfio-pci's control library (mdvt.h): the driver's functions,
 * debugfs files and devlink parameters.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "mdvt.h"

#define DBG_ROOT "/sys/kernel/debug/" MDVT_DRIVER

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int mdvt_list(char bdfs[][VMIG_NAME_LEN], int max)
{
	return vmig_list("MDV_BDFS", MDVT_DRIVER, bdfs, max);
}

int mdvt_list_bridge(char bdfs[][VMIG_NAME_LEN], int max)
{
	char all[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int n = mdvt_list(all, VMIG_MAX_DEVS), i, k = 0;

	for (i = 0; i < n && k < max; i++)
		if (vmig_behind_bridge(all[i]))
			snprintf(bdfs[k++], VMIG_NAME_LEN, "%.39s", all[i]);
	qsort(bdfs, k, VMIG_NAME_LEN, name_cmp);
	return k;
}

int mdvt_list_reset(char bdfs[][VMIG_NAME_LEN], int max,
		    enum vmig_iommu_mode mode)
{
	char br[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int n = mdvt_list_bridge(br, VMIG_MAX_DEVS), i, k = 0;
	struct vmig_dev d;

	/*
	 * Only vfio-pci knows: a function that shares its bus has a sysfs
	 * "reset" from probe time (it was alone then) but no method that
	 * works, and reset_works comes from a reset tried at open.
	 */
	for (i = 0; i < n && k < max; i++) {
		if (vmig_open(&d, br[i], mode))
			continue;
		if (vmig_has_reset(&d) == 1)
			snprintf(bdfs[k++], VMIG_NAME_LEN, "%.39s", br[i]);
		vmig_close(&d);
	}
	return k;
}

int mdvt_dbg_read(const char *bdf, const char *file, char *buf, size_t len)
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

int mdvt_dbg_write(const char *bdf, const char *file, const char *val)
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

uint64_t mdvt_digest(const char *bdf)
{
	char buf[64], *end;
	uint64_t d;
	int ret;

	/*
	 * No value stands for "could not read": two failed reads would
	 * compare equal, one would differ from anything. A test that asks
	 * for a digest it cannot have is broken: stop it here, loudly.
	 */
	ret = mdvt_dbg_read(bdf, "digest", buf, sizeof(buf));
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

	if (mdvt_dbg_read(bdf, "params", buf, sizeof(buf)))
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

int mdvt_param(const char *bdf, const char *name, const char *value)
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

int mdvt_param_u32(const char *bdf, const char *name, unsigned int value)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", value);
	return mdvt_param(bdf, name, v);
}
