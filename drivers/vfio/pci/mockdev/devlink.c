// SPDX-License-Identifier: GPL-2.0
/*
 * The device's devlink instance (pci/<BDF>) and the driver's own params,
 * the migration features (runtime cmode), e.g.
 *   devlink dev param set pci/0000:00:03.0 name precopy value false \
 *           cmode runtime
 * Setting one fails with -EBUSY while a migration session is open, the
 * device is not RUNNING or the VFIO device is open: a VMM reads the
 * features once. The backend registers its own knobs on the same instance
 * (backend.h's devlink_register).
 */
#include <net/devlink.h>

#include "compat.h"
#include "mockdev.h"

enum mdv_param_id {
	MDV_PARAM_BASE = DEVLINK_PARAM_GENERIC_ID_MAX,
	MDV_PARAM_P2P,
	MDV_PARAM_PRECOPY,
};

struct mdv_devlink_priv {
	struct mdv_device *mdv;
};

/**
 * mdv_from_devlink - the device of a devlink instance
 * @devlink: instance made by mdv_devlink_register()
 *
 * Return: the device.
 */
struct mdv_device *mdv_from_devlink(struct devlink *devlink)
{
	return ((struct mdv_devlink_priv *)devlink_priv(devlink))->mdv;
}

static bool *mdv_param_bool(struct mdv_features *f, u32 id)
{
	switch (id) {
	case MDV_PARAM_P2P:
		return &f->p2p;
	case MDV_PARAM_PRECOPY:
		return &f->precopy;
	}
	return NULL;
}

static int mdv_param_get(struct devlink *devlink, u32 id,
			 struct devlink_param_gset_ctx *ctx,
			 struct netlink_ext_ack *extack)
{
	struct mdv_device *mdv = mdv_from_devlink(devlink);
	bool *b = mdv_param_bool(&mdv->features, id);

	if (!b)
		return -EOPNOTSUPP;
	mdv_state_lock(mdv);
	ctx->val.vbool = *b;
	mdv_state_unlock(mdv);
	return 0;
}

static int mdv_param_set(struct devlink *devlink, u32 id,
			 struct devlink_param_gset_ctx *ctx,
			 struct netlink_ext_ack *extack)
{
	struct mdv_device *mdv = mdv_from_devlink(devlink);
	bool *b = mdv_param_bool(&mdv->features, id);
	int ret;

	if (!b)
		return -EOPNOTSUPP;
	ret = mdv_params_lock(mdv);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack,
				   "device is migrating (not RUNNING or a session is open)");
		return ret;
	}
	/*
	 * The feature knobs set migration_flags, which a VMM reads once when
	 * it opens the device: they must not change under it.
	 */
	if ((id == MDV_PARAM_P2P || id == MDV_PARAM_PRECOPY) && mdv->open) {
		NL_SET_ERR_MSG_MOD(extack, "device is open: migration features are fixed");
		mdv_state_unlock(mdv);
		return -EBUSY;
	}
	*b = ctx->val.vbool;
	mdv_update_features(mdv);
	mdv_state_unlock(mdv);
	return 0;
}

#define MDV_PARAM(_id, _name, _type, _validate)				\
	DEVLINK_PARAM_DRIVER(_id, _name, DEVLINK_PARAM_TYPE_##_type,	\
			     BIT(DEVLINK_PARAM_CMODE_RUNTIME),		\
			     mdv_param_get_shim, mdv_param_set, _validate)

DEFINE_MDV_DEVLINK_GET(mdv_param_get)

static const struct devlink_param mdv_devlink_params[] = {
	MDV_PARAM(MDV_PARAM_P2P, "p2p", BOOL, NULL),
	MDV_PARAM(MDV_PARAM_PRECOPY, "precopy", BOOL, NULL),
};

static const struct devlink_ops mdv_devlink_ops = {
};

/**
 * mdv_devlink_register - create the devlink instance carrying the knobs:
 *	the driver's and the backend's
 * @mdv: device; its pci_dev names the instance (pci/<BDF>)
 *
 * Return: 0 or -errno.
 */
int mdv_devlink_register(struct mdv_device *mdv)
{
	struct mdv_devlink_priv *priv;
	struct devlink *devlink;
	int ret;

	devlink = devlink_alloc(&mdv_devlink_ops, sizeof(*priv), mdv_dev(mdv));
	if (!devlink)
		return -ENOMEM;
	priv = devlink_priv(devlink);
	priv->mdv = mdv;

	devl_lock(devlink);
	ret = devl_params_register(devlink, mdv_devlink_params,
				   ARRAY_SIZE(mdv_devlink_params));
	if (ret)
		goto err_free;
	ret = mdv->ops->devlink_register(mdv, devlink);
	if (ret)
		goto err_params;
	devl_register(devlink);
	devl_unlock(devlink);
	mdv->devlink = devlink;
	return 0;

err_params:
	devl_params_unregister(devlink, mdv_devlink_params,
			       ARRAY_SIZE(mdv_devlink_params));
err_free:
	devl_unlock(devlink);
	devlink_free(devlink);
	return ret;
}

/**
 * mdv_devlink_unregister - remove the devlink instance
 * @mdv: device
 */
void mdv_devlink_unregister(struct mdv_device *mdv)
{
	struct devlink *devlink = mdv->devlink;

	devl_lock(devlink);
	devl_unregister(devlink);
	mdv->ops->devlink_unregister(mdv, devlink);
	devl_params_unregister(devlink, mdv_devlink_params,
			       ARRAY_SIZE(mdv_devlink_params));
	devl_unlock(devlink);
	devlink_free(devlink);
}
