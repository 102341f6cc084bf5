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
#include <linux/vfio_pci_core.h>

#include "mockdev.h"

struct mdv_features mdv_default_features = {
	.p2p = true,
	.precopy = true,
};

module_param_named(p2p, mdv_default_features.p2p, bool, 0444);
MODULE_PARM_DESC(p2p, "Offer VFIO_MIGRATION_P2P (Y)");
module_param_named(precopy, mdv_default_features.precopy, bool, 0444);
MODULE_PARM_DESC(precopy, "Offer VFIO_MIGRATION_PRE_COPY (Y)");

static bool mdv_unsafe_any_function;
module_param_named(unsafe_any_function, mdv_unsafe_any_function, bool, 0444);
MODULE_PARM_DESC(unsafe_any_function,
		 "Bind to any PCI function, not only QEMU's edu: STOP does not stop its DMA or interrupts and its writes are never logged; taints the kernel (N)");

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

	if (mdv_backend.mod_init) {
		ret = mdv_backend.mod_init();
		if (ret)
			return ret;
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
