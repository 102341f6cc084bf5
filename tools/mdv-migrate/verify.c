// SPDX-License-Identifier: GPL-2.0
/* mdv_migrate: the verification hooks it knows (verify.h) */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfio_mig.h"
#include "verify.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const struct mig_verifier *const verifiers[] = {
	&mockdev_verifier,
};

const struct mig_verifier *verifier_find(const char *name,
					 const struct vmig_dev *d, int *err)
{
	char drv[64];
	size_t i;

	*err = 0;
	if (!strcmp(name, "none"))
		return NULL;
	if (!strcmp(name, "auto")) {
		if (vmig_driver_name(d->bdf, drv, sizeof(drv)))
			return NULL;
		for (i = 0; i < ARRAY_SIZE(verifiers); i++)
			if (!strcmp(verifiers[i]->driver, drv))
				return verifiers[i];
		return NULL;
	}
	for (i = 0; i < ARRAY_SIZE(verifiers); i++)
		if (!strcmp(verifiers[i]->name, name))
			return verifiers[i];
	*err = -EINVAL;
	return NULL;
}

void verifier_names(char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = 0;
	for (i = 0; i < ARRAY_SIZE(verifiers) && n < len; i++)
		n += snprintf(buf + n, len - n, "%s, ", verifiers[i]->name);
	if (n < len)
		snprintf(buf + n, len - n, "none, auto");
}
