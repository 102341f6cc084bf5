// SPDX-License-Identifier: GPL-2.0
/*
 * The mock's DMA engine: the device writing guest memory, through QEMU's
 * edu device when bound to one (real DMA through the IOMMU), else
 * simulated. Every write is logged in the tracker (mock_dirty.c) before it
 * can land, so no DMA logging report can miss it.
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/pci.h>

#include "compat.h"
#include "mock.h"

/*
 * QEMU's edu device: a 4 KiB buffer at device address 0x40000 and a DMA
 * engine driven by four 64-bit registers. A transfer completes about 100 ms
 * later (virtual time) and goes through the IOMMU into the user's IOVA
 * space. QEMU 7.2 aborts on a transfer of exactly 4096 bytes, so keep them
 * below that. Its default DMA mask is 28 bits.
 */
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_CNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_DMA_RUN		BIT(0)
#define EDU_DMA_TO_RAM		BIT(1)
#define EDU_DMA_BUF		0x40000
#define EDU_DMA_MASK		(BIT_ULL(28) - 1)
#define MOCK_DMA_TICK_MS	20

static bool mock_is_edu(struct mdv_device *mdv)
{
	struct pci_dev *pdev = mdv->core.pdev;

	return pdev->vendor == MDV_EDU_VENDOR && pdev->device == MDV_EDU_DEVICE;
}

/*
 * vfio-pci's rule for touching a BAR (as its own read/write paths do): hold
 * memory_lock for reading, and only while the user has memory decode
 * enabled and the function is powered. Returns with the lock held, or false.
 */
static bool mock_bar_get(struct mock_dev *m)
{
	struct vfio_pci_core_device *core = &m->mdv->core;
	u16 cmd;

	down_read(&core->memory_lock);
	cmd = le16_to_cpu(*(__le16 *)&core->vconfig[PCI_COMMAND]);
	if (core->pdev->current_state != PCI_D3hot &&
	    core->pdev->current_state != PCI_D3cold &&
	    (core->pdev->no_command_memory || (cmd & PCI_COMMAND_MEMORY)))
		return true;
	up_read(&core->memory_lock);
	return false;
}

static void mock_bar_put(struct mock_dev *m)
{
	up_read(&m->mdv->core.memory_lock);
}

/* Is edu's DMA engine still running? A BAR we may not touch is idle. */
static bool mock_edu_busy(struct mock_dev *m)
{
	bool busy;

	if (!mock_bar_get(m))
		return false;
	busy = readq(m->dma.bar + EDU_DMA_CMD) & EDU_DMA_RUN;
	mock_bar_put(m);
	return busy;
}

/* Wait for the transfer in flight and account for it. */
static void mock_dma_complete_locked(struct mock_dev *m)
{
	unsigned int i;

	if (!m->dma.busy)
		return;
	if (m->dma.bar) {
		for (i = 0; i < 2000; i++) {
			if (!mock_edu_busy(m))
				break;
			usleep_range(1000, 2000);
		}
		if (i == 2000)
			dev_warn_ratelimited(mdv_dev(m->mdv),
					     "edu DMA did not complete\n");
	}
	/* the write has landed: it must be in the next report */
	mock_track_write(&m->trk, m->dma.iova, m->dma.len);
	m->dma.writes++;
	m->dma.busy = false;
}

/*
 * Start a write of @len bytes at @iova and return without waiting for it,
 * as a device would. -EBUSY once quiesced: a stopped device writes nothing;
 * -EIO while the user has memory decode off.
 */
int mock_dma_issue(struct mock_dev *m, u64 iova, u64 len)
{
	int ret = 0;

	if (!len || len > EDU_DMA_MAX)
		return -EINVAL;
	mutex_lock(&m->dma.lock);
	mock_dma_complete_locked(m);
	if (!m->dma.open || m->dma.quiesced) {
		ret = -EBUSY;
		goto out;
	}
	if (m->dma.edu && iova + len - 1 > EDU_DMA_MASK) {
		ret = -ERANGE;
		goto out;
	}
	if (m->dma.bar && !mock_bar_get(m)) {
		ret = -EIO;
		goto out;
	}
	/* logged before the write can land, so no report can miss it */
	mock_track_write(&m->trk, iova, len);
	m->dma.iova = iova;
	m->dma.len = len;
	m->dma.busy = true;
	if (m->dma.bar) {
		writeq(EDU_DMA_BUF, m->dma.bar + EDU_DMA_SRC);
		writeq(iova, m->dma.bar + EDU_DMA_DST);
		writeq(len, m->dma.bar + EDU_DMA_CNT);
		writeq(EDU_DMA_RUN | EDU_DMA_TO_RAM, m->dma.bar + EDU_DMA_CMD);
		mock_bar_put(m);
	} else {
		mock_dma_complete_locked(m);	/* simulated: done at once */
	}
out:
	mutex_unlock(&m->dma.lock);
	return ret;
}

static void mock_dma_work(struct work_struct *work)
{
	struct mock_dev *m = container_of(to_delayed_work(work),
					  struct mock_dev, dma.work);
	u32 rate = READ_ONCE(m->params.dma_rate);
	u64 iova, off;

	if (!rate)
		return;
	/* a rate the device cannot keep up with is capped, not owed */
	m->dma.carry = min_t(u64, m->dma.carry + (u64)rate * MOCK_DMA_TICK_MS,
			     (u64)MOCK_MAX_PER_TICK * MSEC_PER_SEC);
	while (m->dma.carry >= MSEC_PER_SEC) {
		m->dma.carry -= MSEC_PER_SEC;
		m->dma.rng = mock_mix(m->dma.rng);
		if (mock_track_pick(&m->trk, m->dma.rng, &iova)) {
			/* nothing tracked: nowhere to write, nothing to replay */
			m->dma.carry = 0;
			break;
		}
		off = (m->dma.rng >> 40) % (PAGE_SIZE - 64);
		/*
		 * A write the device cannot make (beyond its DMA mask, or it
		 * is stopping) is dropped, not queued: a VMM's tracked ranges
		 * span all of guest memory, a device reaches what it reaches.
		 */
		mock_dma_issue(m, iova + off, 1 + (m->dma.rng >> 8) % 64);
	}
	schedule_delayed_work(&m->dma.work,
			      msecs_to_jiffies(MOCK_DMA_TICK_MS));
}

/* Quiesce: no new writes; the one in flight lands and is logged. */
void mock_dma_quiesce(struct mock_dev *m, bool quiesce)
{
	if (quiesce)
		cancel_delayed_work_sync(&m->dma.work);
	mutex_lock(&m->dma.lock);
	mock_dma_complete_locked(m);
	m->dma.quiesced = quiesce;
	mutex_unlock(&m->dma.lock);
	if (!quiesce && m->dma.open)
		schedule_delayed_work(&m->dma.work, 0);
}

void mock_dma_open(struct mock_dev *m, bool open)
{
	struct mdv_device *mdv = m->mdv;

	mock_dma_quiesce(m, true);
	mutex_lock(&m->dma.lock);
	m->dma.open = open;
	m->dma.bar = NULL;
	m->dma.edu = false;
	if (open && mock_is_edu(mdv) && !READ_ONCE(m->dma.simulate)) {
		m->dma.bar = mdv_bar_iomap(&mdv->core, 0);
		m->dma.edu = m->dma.bar;
	}
	mutex_unlock(&m->dma.lock);
	if (open)
		mock_dma_quiesce(m, false);
}

/**
 * mock_dma_init - set up the engine (idle, closed)
 * @m: device
 */
void mock_dma_init(struct mock_dev *m)
{
	mutex_init(&m->dma.lock);
	INIT_DELAYED_WORK(&m->dma.work, mock_dma_work);
}
