// SPDX-License-Identifier: GPL-2.0
/*
 * The mock's debugfs files, in /sys/kernel/debug/mockdev-vfio-pci/<BDF>/:
 * digest and params, and mock/ (npages, dirtied, running, dirty_now,
 * reconfigure, dma_write, dma_mode, dma_writes, dma_simulate). The formats are
 * documented in Documentation/mockdev-vfio-pci.rst.
 */
#include <linux/debugfs.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>

#include "mock.h"

/* bounds of one debugfs request, so that it ends in reasonable time */
#define MOCK_DIRTY_NOW_MAX	BIT(24)
#define MOCK_DMA_WRITE_MAX	SZ_64M

/* digest: xxh64 of the whole device state, as the END record carries it */
static int mock_digest_show(struct seq_file *s, void *unused)
{
	struct mock_dev *m = s->private;
	u64 d;

	mutex_lock(&m->lock);
	d = mock_digest_locked(m);
	mutex_unlock(&m->lock);
	seq_printf(s, "%016llx\n", d);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mock_digest);

/* params: the knobs as devlink shows them, one "name value" a line */
static int mock_params_file_show(struct seq_file *s, void *unused)
{
	mock_params_show(s->private, s);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mock_params_file);

static int mock_dirty_now_set(void *data, u64 val)
{
	struct mock_dev *m = data;
	int ret = 0;
	u64 i;

	if (val > MOCK_DIRTY_NOW_MAX)
		return -EINVAL;
	mutex_lock(&m->lock);
	/* A stopped device's state never changes, not even on request. */
	if (!m->running)
		ret = -EBUSY;
	for (i = 0; !ret && i < val && m->npages; i++) {
		m->rng = mock_mix(m->rng);
		mock_dirty_page_locked(m, m->rng % m->npages);
		if (!(i & 1023))
			cond_resched();
	}
	mutex_unlock(&m->lock);
	mdv_data_ready(m->mdv);
	return ret;
}
DEFINE_DEBUGFS_ATTRIBUTE(mock_dirty_now_fops, NULL, mock_dirty_now_set,
			 "%llu\n");

/* writing 1 reconfigures the device: a PRE_COPY session restarts its initial data */
static int mock_reconfigure_set(void *data, u64 val)
{
	if (val != 1)
		return -EINVAL;
	return mock_save_reinit(data);
}
DEFINE_DEBUGFS_ATTRIBUTE(mock_reconfigure_fops, NULL, mock_reconfigure_set,
			 "%llu\n");

/* "IOVA LEN": the device writes LEN bytes at IOVA, in edu-sized pieces */
static ssize_t mock_dma_write_write(struct file *file, const char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	struct mock_dev *m = file->private_data;
	u64 iova, len, n;
	char buf[64];
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = 0;
	if (sscanf(buf, "%llx %llu", &iova, &len) != 2 || !len ||
	    len > MOCK_DMA_WRITE_MAX)
		return -EINVAL;
	while (len) {
		if (fatal_signal_pending(current))
			return -EINTR;
		n = min_t(u64, len, EDU_DMA_MAX);
		ret = mock_dma_issue(m, iova, n);
		if (ret)
			return ret;
		iova += n;
		len -= n;
	}
	return count;
}

static const struct file_operations mock_dma_write_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = mock_dma_write_write,
};

static int mock_dma_mode_show(struct seq_file *s, void *unused)
{
	struct mock_dev *m = s->private;

	mutex_lock(&m->dma.lock);
	seq_printf(s, "%s\n", !m->dma.open ? "closed" :
		   m->dma.edu ? "edu" : "simulated");
	mutex_unlock(&m->dma.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mock_dma_mode);

/**
 * mock_debugfs - the model's debugfs files (backend op)
 * @mdv: device
 * @dir: the device's directory: digest and params go there, the rest in
 *	mock/ below it
 */
void mock_debugfs(struct mdv_device *mdv, struct dentry *dir)
{
	struct mock_dev *m = to_mock(mdv);

	debugfs_create_file("digest", 0444, dir, m, &mock_digest_fops);
	debugfs_create_file("params", 0444, dir, m, &mock_params_file_fops);
	dir = debugfs_create_dir("mock", dir);
	debugfs_create_u64("npages", 0444, dir, &m->npages);
	debugfs_create_u64("dirtied", 0444, dir, &m->dirtied);
	debugfs_create_bool("running", 0444, dir, &m->running);
	debugfs_create_file_unsafe("dirty_now", 0200, dir, m,
				   &mock_dirty_now_fops);
	debugfs_create_file_unsafe("reconfigure", 0200, dir, m,
				   &mock_reconfigure_fops);
	debugfs_create_file("dma_write", 0200, dir, m, &mock_dma_write_fops);
	debugfs_create_file("dma_mode", 0444, dir, m, &mock_dma_mode_fops);
	debugfs_create_u64("dma_writes", 0444, dir, &m->dma.writes);
	debugfs_create_bool("dma_simulate", 0600, dir, &m->dma.simulate);
}
