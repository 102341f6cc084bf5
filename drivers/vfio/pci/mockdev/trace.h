/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of mockdev-vfio-pci (events/mockdev_vfio_pci/ in tracefs):
 *   mdv_arc          one FSM arc: from, to, how long, result
 *   mdv_data         a data FD read or write: bytes asked, result
 *   mdv_precopy_info a VFIO_MIG_GET_PRECOPY_INFO answer
 *   mdv_dma_report   a DMA logging report window and its dirty pages
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM mockdev_vfio_pci

#if !defined(_MDV_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MDV_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(mdv_arc,
	TP_PROTO(const char *dev, u32 from, u32 to, u64 ns, int ret),
	TP_ARGS(dev, from, to, ns, ret),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u32, from)
		__field(u32, to)
		__field(u64, ns)
		__field(int, ret)
	),
	TP_fast_assign(
		__assign_str(dev);
		__entry->from = from;
		__entry->to = to;
		__entry->ns = ns;
		__entry->ret = ret;
	),
	TP_printk("%s %u->%u %llu ns ret=%d", __get_str(dev), __entry->from,
		  __entry->to, __entry->ns, __entry->ret)
);

TRACE_EVENT(mdv_data,
	TP_PROTO(const char *dev, bool saving, size_t len, ssize_t ret),
	TP_ARGS(dev, saving, len, ret),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(bool, saving)
		__field(size_t, len)
		__field(ssize_t, ret)
	),
	TP_fast_assign(
		__assign_str(dev);
		__entry->saving = saving;
		__entry->len = len;
		__entry->ret = ret;
	),
	TP_printk("%s %s len=%zu ret=%zd", __get_str(dev),
		  __entry->saving ? "read" : "write", __entry->len, __entry->ret)
);

TRACE_EVENT(mdv_precopy_info,
	TP_PROTO(const char *dev, u64 initial, u64 dirty),
	TP_ARGS(dev, initial, dirty),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, initial)
		__field(u64, dirty)
	),
	TP_fast_assign(
		__assign_str(dev);
		__entry->initial = initial;
		__entry->dirty = dirty;
	),
	TP_printk("%s initial=%llu dirty=%llu", __get_str(dev),
		  __entry->initial, __entry->dirty)
);

TRACE_EVENT(mdv_dma_report,
	TP_PROTO(const char *dev, u64 iova, u64 length, u64 dirty, int ret),
	TP_ARGS(dev, iova, length, dirty, ret),
	TP_STRUCT__entry(
		__string(dev, dev)
		__field(u64, iova)
		__field(u64, length)
		__field(u64, dirty)
		__field(int, ret)
	),
	TP_fast_assign(
		__assign_str(dev);
		__entry->iova = iova;
		__entry->length = length;
		__entry->dirty = dirty;
		__entry->ret = ret;
	),
	TP_printk("%s iova=%#llx length=%#llx dirty_pages=%llu ret=%d",
		  __get_str(dev), __entry->iova, __entry->length,
		  __entry->dirty, __entry->ret)
);

#endif /* _MDV_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
