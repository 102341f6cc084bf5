// SPDX-License-Identifier: GPL-2.0
/*
 * Per-device knobs as devlink params (runtime cmode), e.g.
 *   devlink dev param set pci/0000:00:03.0 name dirty_rate value 1000 \
 *           cmode runtime
 * Setting any knob fails with -EBUSY while a migration session is open or
 * the device is not RUNNING: a knob must not change a stream midway; p2p
 * and precopy also while the VFIO device is open.
 */
#include <linux/sizes.h>
#include <net/devlink.h>

#include "mockdev.h"

enum mdv_param_id {
	MDV_PARAM_BASE = DEVLINK_PARAM_GENERIC_ID_MAX,
	MDV_PARAM_STATE_SIZE_MB,
	MDV_PARAM_DIRTY_RATE,
	MDV_PARAM_ALLOC_LATENCY,
	MDV_PARAM_QUIESCE_LATENCY,
	MDV_PARAM_RESUME_LATENCY,
	MDV_PARAM_SEED,
	MDV_PARAM_P2P,
	MDV_PARAM_PRECOPY,
	MDV_PARAM_LOG_MAX_RANGES,
	MDV_PARAM_LOG_MAX_SPAN_GB,
	MDV_PARAM_LOG_PAGE_SIZES,
	MDV_PARAM_DMA_RATE,
	MDV_PARAM_SAVE_RATE,
};

struct mdv_devlink_priv {
	struct mdv_device *mdv;
};

static struct mdv_device *mdv_from_devlink(struct devlink *devlink)
{
	return ((struct mdv_devlink_priv *)devlink_priv(devlink))->mdv;
}

static u32 *mdv_param_u32(struct mdv_params *p, u32 id)
{
	switch (id) {
	case MDV_PARAM_STATE_SIZE_MB:
		return &p->state_size_mb;
	case MDV_PARAM_DIRTY_RATE:
		return &p->dirty_rate;
	case MDV_PARAM_ALLOC_LATENCY:
		return &p->alloc_latency_ms;
	case MDV_PARAM_QUIESCE_LATENCY:
		return &p->quiesce_latency_ms;
	case MDV_PARAM_RESUME_LATENCY:
		return &p->resume_latency_ms;
	case MDV_PARAM_SEED:
		return &p->seed;
	case MDV_PARAM_LOG_MAX_RANGES:
		return &p->log_max_ranges;
	case MDV_PARAM_LOG_MAX_SPAN_GB:
		return &p->log_max_span_gb;
	case MDV_PARAM_LOG_PAGE_SIZES:
		return &p->log_page_sizes;
	case MDV_PARAM_DMA_RATE:
		return &p->dma_rate;
	case MDV_PARAM_SAVE_RATE:
		return &p->save_rate_mb;
	}
	return NULL;
}

static bool *mdv_param_bool(struct mdv_params *p, u32 id)
{
	switch (id) {
	case MDV_PARAM_P2P:
		return &p->p2p;
	case MDV_PARAM_PRECOPY:
		return &p->precopy;
	}
	return NULL;
}

static int mdv_param_get(struct devlink *devlink, u32 id,
			 struct devlink_param_gset_ctx *ctx)
{
	struct mdv_device *mdv = mdv_from_devlink(devlink);
	u32 *u = mdv_param_u32(&mdv->params, id);
	bool *b = mdv_param_bool(&mdv->params, id);

	mdv_state_lock(mdv);
	if (u)
		ctx->val.vu32 = *u;
	else if (b)
		ctx->val.vbool = *b;
	mdv_state_unlock(mdv);
	return u || b ? 0 : -EOPNOTSUPP;
}

static int mdv_param_set(struct devlink *devlink, u32 id,
			 struct devlink_param_gset_ctx *ctx,
			 struct netlink_ext_ack *extack)
{
	struct mdv_device *mdv = mdv_from_devlink(devlink);
	struct mdv_params old;
	u32 *u;
	bool *b;
	int ret;

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
	old = mdv->params;
	u = mdv_param_u32(&mdv->params, id);
	b = mdv_param_bool(&mdv->params, id);
	if (u)
		*u = ctx->val.vu32;
	else if (b)
		*b = ctx->val.vbool;
	ret = mdv->ops->configure(mdv);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "device could not apply the value");
		mdv->params = old;
		mdv->ops->configure(mdv);
	}
	mdv_update_features(mdv);
	mdv_state_unlock(mdv);
	return ret;
}

static int mdv_param_validate_size(struct devlink *devlink, u32 id,
				   union devlink_param_value val,
				   struct netlink_ext_ack *extack)
{
	if (!mdv_state_size_ok(val.vu32)) {
		NL_SET_ERR_MSG_MOD(extack, "state_size_mb must be 1..65536");
		return -ERANGE;
	}
	return 0;
}

static int mdv_param_validate_nonzero(struct devlink *devlink, u32 id,
				      union devlink_param_value val,
				      struct netlink_ext_ack *extack)
{
	if (!val.vu32) {
		NL_SET_ERR_MSG_MOD(extack, "must not be 0");
		return -ERANGE;
	}
	return 0;
}

static int mdv_param_validate_sizes(struct devlink *devlink, u32 id,
				    union devlink_param_value val,
				    struct netlink_ext_ack *extack)
{
	if (!mdv_page_sizes_ok(val.vu32)) {
		NL_SET_ERR_MSG_MOD(extack, "need a page size of 4 KiB or more");
		return -ERANGE;
	}
	return 0;
}

#define MDV_PARAM(_id, _name, _type, _validate)				\
	DEVLINK_PARAM_DRIVER(_id, _name, DEVLINK_PARAM_TYPE_##_type,	\
			     BIT(DEVLINK_PARAM_CMODE_RUNTIME),		\
			     mdv_param_get, mdv_param_set, _validate)

static const struct devlink_param mdv_devlink_params[] = {
	MDV_PARAM(MDV_PARAM_STATE_SIZE_MB, "state_size_mb", U32,
		  mdv_param_validate_size),
	MDV_PARAM(MDV_PARAM_DIRTY_RATE, "dirty_rate", U32, NULL),
	MDV_PARAM(MDV_PARAM_ALLOC_LATENCY, "alloc_latency_ms", U32, NULL),
	MDV_PARAM(MDV_PARAM_QUIESCE_LATENCY, "quiesce_latency_ms", U32, NULL),
	MDV_PARAM(MDV_PARAM_RESUME_LATENCY, "resume_latency_ms", U32, NULL),
	MDV_PARAM(MDV_PARAM_SEED, "seed", U32, NULL),
	MDV_PARAM(MDV_PARAM_P2P, "p2p", BOOL, NULL),
	MDV_PARAM(MDV_PARAM_PRECOPY, "precopy", BOOL, NULL),
	MDV_PARAM(MDV_PARAM_LOG_MAX_RANGES, "log_max_ranges", U32,
		  mdv_param_validate_nonzero),
	MDV_PARAM(MDV_PARAM_LOG_MAX_SPAN_GB, "log_max_span_gb", U32,
		  mdv_param_validate_nonzero),
	MDV_PARAM(MDV_PARAM_LOG_PAGE_SIZES, "log_page_sizes", U32,
		  mdv_param_validate_sizes),
	MDV_PARAM(MDV_PARAM_DMA_RATE, "dma_rate", U32, NULL),
	MDV_PARAM(MDV_PARAM_SAVE_RATE, "save_rate_mb", U32, NULL),
};

static const struct devlink_ops mdv_devlink_ops = {
};

/**
 * mdv_devlink_register - create the devlink instance carrying the knobs
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
	if (ret) {
		devl_unlock(devlink);
		devlink_free(devlink);
		return ret;
	}
	devl_register(devlink);
	devl_unlock(devlink);
	mdv->devlink = devlink;
	return 0;
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
	devl_params_unregister(devlink, mdv_devlink_params,
			       ARRAY_SIZE(mdv_devlink_params));
	devl_unlock(devlink);
	devlink_free(devlink);
}
