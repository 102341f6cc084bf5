// SPDX-License-Identifier: GPL-2.0
/*
 * mockdev-vfio-pci: PCI driver glue. Binds through driver_override only
 * (the one id entry, QEMU's edu device, is override-only, so the driver
 * never steals a device), and by default only to edu: the model can stop
 * edu's DMA and log it, it cannot stop another function's. Any other
 * function needs unsafe_any_function=1, which taints the kernel.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sizes.h>
#include <linux/vfio_pci_core.h>

#include "mockdev.h"

struct mdv_params mdv_default_params = {
	.state_size_mb = 64,
	.p2p = true,
	.precopy = true,
	.log_max_ranges = 4,
	.log_max_span_gb = 4096,
	.log_page_sizes = SZ_4K | SZ_2M | SZ_1G,
};

module_param_named(state_size_mb, mdv_default_params.state_size_mb, uint, 0444);
MODULE_PARM_DESC(state_size_mb, "Default device state size in MiB (64)");
module_param_named(dirty_rate, mdv_default_params.dirty_rate, uint, 0444);
MODULE_PARM_DESC(dirty_rate, "Default pages dirtied per second while running (0)");
module_param_named(alloc_latency_ms, mdv_default_params.alloc_latency_ms, uint, 0444);
MODULE_PARM_DESC(alloc_latency_ms, "Default destination allocation latency (0)");
module_param_named(quiesce_latency_ms, mdv_default_params.quiesce_latency_ms, uint, 0444);
MODULE_PARM_DESC(quiesce_latency_ms, "Default latency of arcs that quiesce the device (0)");
module_param_named(resume_latency_ms, mdv_default_params.resume_latency_ms, uint, 0444);
MODULE_PARM_DESC(resume_latency_ms, "Default latency of arcs that resume the device (0)");
module_param_named(seed, mdv_default_params.seed, uint, 0444);
MODULE_PARM_DESC(seed, "Content seed for new devices (0: derived from the PCI address)");
module_param_named(p2p, mdv_default_params.p2p, bool, 0444);
MODULE_PARM_DESC(p2p, "Offer VFIO_MIGRATION_P2P (Y)");
module_param_named(precopy, mdv_default_params.precopy, bool, 0444);
MODULE_PARM_DESC(precopy, "Offer VFIO_MIGRATION_PRE_COPY (Y)");
module_param_named(log_max_ranges, mdv_default_params.log_max_ranges, uint, 0444);
MODULE_PARM_DESC(log_max_ranges, "DMA logging: ranges the tracker holds (4)");
module_param_named(log_max_span_gb, mdv_default_params.log_max_span_gb, uint, 0444);
MODULE_PARM_DESC(log_max_span_gb, "DMA logging: largest tracked span in GiB (4096)");
module_param_named(log_page_sizes, mdv_default_params.log_page_sizes, uint, 0444);
MODULE_PARM_DESC(log_page_sizes, "DMA logging: supported page sizes, a mask of powers of two (4K|2M|1G)");
module_param_named(dma_rate, mdv_default_params.dma_rate, uint, 0444);
MODULE_PARM_DESC(dma_rate, "Device writes per second into tracked ranges while running (0)");
module_param_named(save_rate_mb, mdv_default_params.save_rate_mb, uint, 0444);
MODULE_PARM_DESC(save_rate_mb, "Default rate at which the device produces saving data, MiB/s; readers wait for it (0: at once)");

/* read when a device is bound: the vfio core takes log_ops at registration */
bool mdv_dma_logging = true;
module_param_named(dma_logging, mdv_dma_logging, bool, 0444);
MODULE_PARM_DESC(dma_logging, "Offer DMA logging (device dirty tracking) where the kernel can deliver reports (Y)");

static bool mdv_unsafe_any_function;
module_param_named(unsafe_any_function, mdv_unsafe_any_function, bool, 0444);
MODULE_PARM_DESC(unsafe_any_function,
		 "Bind to any PCI function, not only QEMU's edu: STOP does not stop its DMA or interrupts and its writes are never logged; taints the kernel (N)");

/**
 * mdv_params_check - are these knobs usable?
 * @p: knobs (module parameter defaults, or a device's)
 *
 * The same limits as the devlink validators, so a module parameter cannot
 * give a device a value devlink would refuse.
 *
 * Return: 0 or -EINVAL.
 */
int mdv_params_check(const struct mdv_params *p)
{
	if (!mdv_state_size_ok(p->state_size_mb) || !p->log_max_ranges ||
	    !p->log_max_span_gb || !mdv_page_sizes_ok(p->log_page_sizes))
		return -EINVAL;
	return 0;
}

static struct mdv_device *mdv_drvdata(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *core = dev_get_drvdata(&pdev->dev);

	return container_of(core, struct mdv_device, core);
}

static int mdv_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct mdv_device *mdv;
	int ret;

	if (pdev->vendor != MDV_EDU_VENDOR || pdev->device != MDV_EDU_DEVICE) {
		if (!mdv_unsafe_any_function) {
			pci_info(pdev, "not QEMU's edu: migration could not stop this function's DMA (unsafe_any_function=1 overrides)\n");
			return -ENODEV;
		}
		pci_warn(pdev, "binding a function the model cannot stop: its DMA and interrupts continue in STOP and are never logged\n");
		add_taint(TAINT_USER, LOCKDEP_STILL_OK);
	}

	mdv = vfio_alloc_device(mdv_device, core.vdev, &pdev->dev,
				&mdv_vfio_ops);
	if (IS_ERR(mdv))
		return PTR_ERR(mdv);

	dev_set_drvdata(&pdev->dev, &mdv->core);
	ret = vfio_pci_core_register_device(&mdv->core);
	if (ret)
		goto err_put;
	ret = mdv_devlink_register(mdv);
	if (ret)
		goto err_unregister;
	mdv_debugfs_add(mdv);
	return 0;

err_unregister:
	vfio_pci_core_unregister_device(&mdv->core);
err_put:
	vfio_put_device(&mdv->core.vdev);
	return ret;
}

static void mdv_remove(struct pci_dev *pdev)
{
	struct mdv_device *mdv = mdv_drvdata(pdev);

	mdv_debugfs_remove(mdv);
	mdv_devlink_unregister(mdv);
	vfio_pci_core_unregister_device(&mdv->core);
	mdv_remove_dev(mdv);
	vfio_put_device(&mdv->core.vdev);
}

static void mdv_pci_reset_done(struct pci_dev *pdev)
{
	mdv_reset_done(mdv_drvdata(pdev));
}

static const struct pci_error_handlers mdv_err_handlers = {
	.reset_done = mdv_pci_reset_done,
	.error_detected = vfio_pci_core_aer_err_detected,
};

static const struct pci_device_id mdv_pci_table[] = {
	/* QEMU's edu device: bind with driver_override only */
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(MDV_EDU_VENDOR, MDV_EDU_DEVICE) },
	{}
};
MODULE_DEVICE_TABLE(pci, mdv_pci_table);

static struct pci_driver mdv_pci_driver = {
	.name = MDV_DRV_NAME,
	.id_table = mdv_pci_table,
	.probe = mdv_probe,
	.remove = mdv_remove,
	.err_handler = &mdv_err_handlers,
	.driver_managed_dma = true,
};

static int __init mdv_init(void)
{
	int ret;

	if (mdv_params_check(&mdv_default_params)) {
		pr_err(MDV_DRV_NAME ": invalid module parameter (state_size_mb 1..%u; log_max_ranges, log_max_span_gb non-zero; log_page_sizes needs a size >= 4 KiB)\n",
		       MDV_MAX_STATE_MB);
		return -EINVAL;
	}
	mdv_debugfs_init();
	ret = pci_register_driver(&mdv_pci_driver);
	if (ret)
		mdv_debugfs_exit();
	return ret;
}

static void __exit mdv_exit(void)
{
	pci_unregister_driver(&mdv_pci_driver);
	mdv_debugfs_exit();
}

module_init(mdv_init);
module_exit(mdv_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VFIO PCI variant driver with a software migration device (mockdev)");
