/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Verification of the destination, a hook per variant driver. After the
 * downtime each side reads a digest of every device's whole state and the
 * destination compares them pair by pair: a check of the whole path, on
 * top of the driver's own check of the stream at RESUMING -> STOP. The
 * uAPI has no way to read a device's state, so only a driver that shows it
 * (mockdev-vfio-pci: debugfs "digest") has a hook; the engine migrates any
 * other device unverified and says so (digests=none).
 *
 * To add one: a struct mig_verifier in verify_<driver>.c, listed in
 * verify.c's table.
 */
#ifndef MDV_MIGRATE_VERIFY_H
#define MDV_MIGRATE_VERIFY_H

#include <stdint.h>

struct vmig_dev;

struct mig_verifier {
	const char *name;	/* --verify NAME */
	const char *driver;	/* chosen by --verify auto for its devices */
	/* the device's whole state, as a digest: 0 or -errno */
	int (*digest)(const struct vmig_dev *d, uint64_t *digest);
};

extern const struct mig_verifier mockdev_verifier;

/*
 * --verify @name: a hook by name, "none" (NULL), or "auto": the hook of the
 * driver @d is bound to, NULL if it has none. *err is -EINVAL for a name
 * that is none of these.
 */
const struct mig_verifier *verifier_find(const char *name,
					 const struct vmig_dev *d, int *err);
/* "mockdev, none, auto" */
void verifier_names(char *buf, size_t len);

#endif
