// SPDX-License-Identifier: GPL-2.0
/*
 * mdv_migrate's verification hook for mockdev-vfio-pci: the digest of the
 * device's whole state in its debugfs (mdvt.h, the driver's control
 * library; the only file of the engine that knows the driver).
 */
#include "mdvt.h"
#include "verify.h"

static int mockdev_digest(const struct vmig_dev *d, uint64_t *digest)
{
	/* mdvt_digest() stops the process on a digest it cannot read */
	*digest = mdvt_digest(d->bdf);
	return 0;
}

const struct mig_verifier mockdev_verifier = {
	.name = "mockdev",
	.driver = MDVT_DRIVER,
	.digest = mockdev_digest,
};
