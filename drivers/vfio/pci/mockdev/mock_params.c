// SPDX-License-Identifier: GPL-2.0
/*
 * The mock's knobs: module parameters give every new device its defaults,
 * devlink params (runtime cmode) change one device's, e.g.
 *   devlink dev param set pci/0000:00:03.0 name dirty_rate value 1000 \
 *           cmode runtime
 * Setting a knob fails with -EBUSY while a migration session is open or
 * the device is not RUNNING (mdv_params_lock()): a knob must not change a
 * stream midway. The driver's own params (p2p, precopy) are devlink.c's.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/string_choices.h>
#include <net/devlink.h>

#include "compat.h"
#include "mock.h"

/* The largest state a device may have: 64 GiB */
#define MOCK_MAX_STATE_MB	65536

static struct mock_params mock_default_params = {
	.state_size_mb = 64,
	.log_max_ranges = 4,
	.log_max_span_gb = 4096,
	.log_page_sizes = SZ_4K | SZ_2M | SZ_1G,
};

module_param_named(state_size_mb, mock_default_params.state_size_mb, uint, 0444);
MODULE_PARM_DESC(state_size_mb, "Default device state size in MiB (64)");
module_param_named(dirty_rate, mock_default_params.dirty_rate, uint, 0444);
MODULE_PARM_DESC(dirty_rate, "Default pages dirtied per second while running (0)");
module_param_named(alloc_latency_ms, mock_default_params.alloc_latency_ms, uint, 0444);
MODULE_PARM_DESC(alloc_latency_ms, "Default destination allocation latency (0)");
module_param_named(quiesce_latency_ms, mock_default_params.quiesce_latency_ms, uint, 0444);
MODULE_PARM_DESC(quiesce_latency_ms, "Default latency of arcs that quiesce the device (0)");
module_param_named(resume_latency_ms, mock_default_params.resume_latency_ms, uint, 0444);
MODULE_PARM_DESC(resume_latency_ms, "Default latency of arcs that resume the device (0)");
module_param_named(seed, mock_default_params.seed, uint, 0444);
MODULE_PARM_DESC(seed, "Content seed for new devices (0: derived from the PCI address)");
module_param_named(log_max_ranges, mock_default_params.log_max_ranges, uint, 0444);
MODULE_PARM_DESC(log_max_ranges, "DMA logging: ranges the tracker holds (4)");
module_param_named(log_max_span_gb, mock_default_params.log_max_span_gb, uint, 0444);
MODULE_PARM_DESC(log_max_span_gb, "DMA logging: largest tracked span in GiB (4096)");
module_param_named(log_page_sizes, mock_default_params.log_page_sizes, uint, 0444);
MODULE_PARM_DESC(log_page_sizes, "DMA logging: supported page sizes, a mask of powers of two (4K|2M|1G)");
module_param_named(dma_rate, mock_default_params.dma_rate, uint, 0444);
MODULE_PARM_DESC(dma_rate, "Device writes per second into tracked ranges while running (0)");
module_param_named(save_rate_mb, mock_default_params.save_rate_mb, uint, 0444);
MODULE_PARM_DESC(save_rate_mb, "Default rate at which the device produces saving data, MiB/s; readers wait for it (0: at once)");

/* Limits of the knobs, for devlink's validators and the module parameters */
static bool mock_state_size_ok(u32 mb)
{
	return mb >= 1 && mb <= MOCK_MAX_STATE_MB;
}

static bool mock_page_sizes_ok(u32 mask)
{
	return mask & ~(SZ_4K - 1);	/* a tracker granule of 4 KiB or more */
}

/**
 * mock_params_check_defaults - are the module parameters usable?
 *
 * The same limits as the devlink validators, so a module parameter cannot
 * give a device a value devlink would refuse (backend op mod_init).
 *
 * Return: 0 or -EINVAL.
 */
int mock_params_check_defaults(void)
{
	const struct mock_params *p = &mock_default_params;

	if (!mock_state_size_ok(p->state_size_mb) || !p->log_max_ranges ||
	    !p->log_max_span_gb || !mock_page_sizes_ok(p->log_page_sizes)) {
		pr_err(MDV_DRV_NAME ": invalid module parameter (state_size_mb 1..%u; log_max_ranges, log_max_span_gb non-zero; log_page_sizes needs a size >= 4 KiB)\n",
		       MOCK_MAX_STATE_MB);
		return -EINVAL;
	}
	return 0;
}

/**
 * mock_params_init - a new device's knobs: the module parameters
 * @m: device; without a seed parameter its PCI address derives the seed
 */
void mock_params_init(struct mock_dev *m)
{
	m->params = mock_default_params;
	if (!m->params.seed)
		m->params.seed = pci_dev_id(m->mdv->core.pdev) + 1;
}

/**
 * mock_params_show - the knobs as devlink shows them, one "name value" a
 *	line, with the driver's p2p and precopy in their place
 * @m: device
 * @s: the debugfs "params" file
 */
void mock_params_show(struct mock_dev *m, struct seq_file *s)
{
	struct mdv_device *mdv = m->mdv;
	struct mdv_features f;
	struct mock_params p;

	mdv_state_lock(mdv);
	p = m->params;
	f = mdv->features;
	mdv_state_unlock(mdv);
	seq_printf(s, "state_size_mb %u\ndirty_rate %u\nalloc_latency_ms %u\n",
		   p.state_size_mb, p.dirty_rate, p.alloc_latency_ms);
	seq_printf(s, "quiesce_latency_ms %u\nresume_latency_ms %u\nseed %u\n",
		   p.quiesce_latency_ms, p.resume_latency_ms, p.seed);
	seq_printf(s, "p2p %s\nprecopy %s\n", str_true_false(f.p2p),
		   str_true_false(f.precopy));
	seq_printf(s, "log_max_ranges %u\nlog_max_span_gb %u\n",
		   p.log_max_ranges, p.log_max_span_gb);
	seq_printf(s, "log_page_sizes %u\ndma_rate %u\nsave_rate_mb %u\n",
		   p.log_page_sizes, p.dma_rate, p.save_rate_mb);
}

/* ----- devlink params ----- */

enum mock_param_id {
	MOCK_PARAM_STATE_SIZE_MB = MDV_BACKEND_PARAM_ID_BASE,
	MOCK_PARAM_DIRTY_RATE,
	MOCK_PARAM_ALLOC_LATENCY,
	MOCK_PARAM_QUIESCE_LATENCY,
	MOCK_PARAM_RESUME_LATENCY,
	MOCK_PARAM_SEED,
	MOCK_PARAM_LOG_MAX_RANGES,
	MOCK_PARAM_LOG_MAX_SPAN_GB,
	MOCK_PARAM_LOG_PAGE_SIZES,
	MOCK_PARAM_DMA_RATE,
	MOCK_PARAM_SAVE_RATE,
};

static u32 *mock_param_u32(struct mock_params *p, u32 id)
{
	switch (id) {
	case MOCK_PARAM_STATE_SIZE_MB:
		return &p->state_size_mb;
	case MOCK_PARAM_DIRTY_RATE:
		return &p->dirty_rate;
	case MOCK_PARAM_ALLOC_LATENCY:
		return &p->alloc_latency_ms;
	case MOCK_PARAM_QUIESCE_LATENCY:
		return &p->quiesce_latency_ms;
	case MOCK_PARAM_RESUME_LATENCY:
		return &p->resume_latency_ms;
	case MOCK_PARAM_SEED:
		return &p->seed;
	case MOCK_PARAM_LOG_MAX_RANGES:
		return &p->log_max_ranges;
	case MOCK_PARAM_LOG_MAX_SPAN_GB:
		return &p->log_max_span_gb;
	case MOCK_PARAM_LOG_PAGE_SIZES:
		return &p->log_page_sizes;
	case MOCK_PARAM_DMA_RATE:
		return &p->dma_rate;
	case MOCK_PARAM_SAVE_RATE:
		return &p->save_rate_mb;
	}
	return NULL;
}

static int mock_param_get(struct devlink *devlink, u32 id,
			  struct devlink_param_gset_ctx *ctx,
			  struct netlink_ext_ack *extack)
{
	struct mdv_device *mdv = mdv_from_devlink(devlink);
	u32 *u = mock_param_u32(&to_mock(mdv)->params, id);

	if (!u)
		return -EOPNOTSUPP;
	mdv_state_lock(mdv);
	ctx->val.vu32 = *u;
	mdv_state_unlock(mdv);
	return 0;
}

static int mock_param_set(struct devlink *devlink, u32 id,
			  struct devlink_param_gset_ctx *ctx,
			  struct netlink_ext_ack *extack)
{
	struct mdv_device *mdv = mdv_from_devlink(devlink);
	struct mock_dev *m = to_mock(mdv);
	struct mock_params old;
	u32 *u = mock_param_u32(&m->params, id);
	int ret;

	if (!u)
		return -EOPNOTSUPP;
	ret = mdv_params_lock(mdv);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack,
				   "device is migrating (not RUNNING or a session is open)");
		return ret;
	}
	old = m->params;
	WRITE_ONCE(*u, ctx->val.vu32);
	ret = mock_configure(m);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "device could not apply the value");
		m->params = old;
		mock_configure(m);
	}
	mdv_state_unlock(mdv);
	return ret;
}

static int mock_param_validate_size(struct devlink *devlink, u32 id,
				    union devlink_param_value *val,
				    struct netlink_ext_ack *extack)
{
	if (!mock_state_size_ok(val->vu32)) {
		NL_SET_ERR_MSG_MOD(extack, "state_size_mb must be 1..65536");
		return -ERANGE;
	}
	return 0;
}

static int mock_param_validate_nonzero(struct devlink *devlink, u32 id,
				       union devlink_param_value *val,
				       struct netlink_ext_ack *extack)
{
	if (!val->vu32) {
		NL_SET_ERR_MSG_MOD(extack, "must not be 0");
		return -ERANGE;
	}
	return 0;
}

static int mock_param_validate_sizes(struct devlink *devlink, u32 id,
				     union devlink_param_value *val,
				     struct netlink_ext_ack *extack)
{
	if (!mock_page_sizes_ok(val->vu32)) {
		NL_SET_ERR_MSG_MOD(extack, "need a page size of 4 KiB or more");
		return -ERANGE;
	}
	return 0;
}

#define MOCK_PARAM(_id, _name, _validate)				\
	DEVLINK_PARAM_DRIVER(_id, _name, DEVLINK_PARAM_TYPE_U32,	\
			     BIT(DEVLINK_PARAM_CMODE_RUNTIME),		\
			     mock_param_get_shim, mock_param_set, _validate)

DEFINE_MDV_DEVLINK_GET(mock_param_get)
DEFINE_MDV_DEVLINK_VALIDATE(mock_param_validate_size)
DEFINE_MDV_DEVLINK_VALIDATE(mock_param_validate_nonzero)
DEFINE_MDV_DEVLINK_VALIDATE(mock_param_validate_sizes)

static const struct devlink_param mock_devlink_params[] = {
	MOCK_PARAM(MOCK_PARAM_STATE_SIZE_MB, "state_size_mb",
		   mock_param_validate_size_shim),
	MOCK_PARAM(MOCK_PARAM_DIRTY_RATE, "dirty_rate", NULL),
	MOCK_PARAM(MOCK_PARAM_ALLOC_LATENCY, "alloc_latency_ms", NULL),
	MOCK_PARAM(MOCK_PARAM_QUIESCE_LATENCY, "quiesce_latency_ms", NULL),
	MOCK_PARAM(MOCK_PARAM_RESUME_LATENCY, "resume_latency_ms", NULL),
	MOCK_PARAM(MOCK_PARAM_SEED, "seed", NULL),
	MOCK_PARAM(MOCK_PARAM_LOG_MAX_RANGES, "log_max_ranges",
		   mock_param_validate_nonzero_shim),
	MOCK_PARAM(MOCK_PARAM_LOG_MAX_SPAN_GB, "log_max_span_gb",
		   mock_param_validate_nonzero_shim),
	MOCK_PARAM(MOCK_PARAM_LOG_PAGE_SIZES, "log_page_sizes",
		   mock_param_validate_sizes_shim),
	MOCK_PARAM(MOCK_PARAM_DMA_RATE, "dma_rate", NULL),
	MOCK_PARAM(MOCK_PARAM_SAVE_RATE, "save_rate_mb", NULL),
};

/**
 * mock_devlink_register - register the knobs (backend op)
 * @mdv: device
 * @devlink: the driver's instance, its lock held
 *
 * Return: 0 or -errno.
 */
int mock_devlink_register(struct mdv_device *mdv, struct devlink *devlink)
{
	return devl_params_register(devlink, mock_devlink_params,
				    ARRAY_SIZE(mock_devlink_params));
}

/**
 * mock_devlink_unregister - unregister the knobs (backend op)
 * @mdv: device
 * @devlink: the driver's instance, its lock held
 */
void mock_devlink_unregister(struct mdv_device *mdv, struct devlink *devlink)
{
	devl_params_unregister(devlink, mock_devlink_params,
			       ARRAY_SIZE(mock_devlink_params));
}
