/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mockdev-vfio-pci: the migration data stream of the mock device.
 *
 * This is NOT kernel ABI. VFIO tells userspace to treat a device's
 * migration stream as opaque, and a VMM must do so. This header is the mock
 * device's *test interface*: the driver's mock backend, the mockdev
 * kselftests and the reference engine's mockdev verification hook share it
 * so that tests can build, cut and corrupt streams on purpose. A vendor
 * copying the driver replaces it with its own device's format (or none).
 *
 * The saving FD yields, and the resuming FD accepts, a byte stream made of
 * records. Each record is a fixed header followed by @size payload bytes:
 *
 *   struct mdv_rec_hdr { le64 size; le32 flags; le32 tag; }  payload[size]
 *
 * The stream is a byte stream: readers and writers may cut it anywhere, the
 * receiver reassembles records itself. A record whose tag the receiver does
 * not know is skipped when MDV_REC_F_OPTIONAL is set and it comes after
 * HEADER and before END, and rejected otherwise, so later versions can add
 * records without breaking older destinations. A flag bit the receiver
 * does not know, or a reserved field that is not zero, rejects the stream:
 * it may change what the record means.
 *
 * A session's stream is, in order:
 *   HEADER      device configuration; the destination rejects a mismatch
 *   META        what the destination must allocate; the destination pays
 *               its resource-allocation latency when this record arrives
 *   IMAGE...    the full device state, in page order, 256 pages a record
 *   DIRTY...    pages that changed after their IMAGE record was produced
 *               (only with PRE_COPY), any number, in any order
 *   END         digest of the final state; only once the device is stopped
 *
 * HEADER, META and IMAGE are the PRE_COPY "initial bytes"; DIRTY records are
 * the "dirty bytes". A device reconfigured during PRE_COPY (debugfs
 * mock/reconfigure) restarts its initial data after the record in flight:
 * META again, then IMAGE records from page 0 (the destination starts its
 * image over), and DIRTY records relative to that. All integers are little
 * endian.
 */
#ifndef MOCKDEV_MDV_STREAM_H
#define MOCKDEV_MDV_STREAM_H

#include <linux/types.h>

#define MDV_STREAM_MAGIC	0x4d444d56	/* "VMDM" in memory */
#define MDV_STREAM_VERSION	1

#define MDV_REC_F_OPTIONAL	0x1U	/* bit 0 */

enum mdv_rec_tag {
	MDV_TAG_HEADER	= 1,
	MDV_TAG_META	= 2,
	MDV_TAG_IMAGE	= 3,
	MDV_TAG_DIRTY	= 4,
	MDV_TAG_END	= 5,
};

struct mdv_rec_hdr {
	__le64 size;
	__le32 flags;
	__le32 tag;
};

/* MDV_TAG_HEADER payload */
struct mdv_rec_header {
	__le32 magic;
	__le16 version;
	__le16 page_shift;
	__le64 state_size;	/* bytes of device state */
	__le64 session;		/* random per saving session */
	__le32 features;	/* VFIO_MIGRATION_* of the source */
	__le32 reserved;
};

/* MDV_TAG_META payload: what the destination pre-allocates */
struct mdv_rec_meta {
	__le64 npages;
	__le64 stop_copy_size;	/* full stream length at session start */
};

/* MDV_TAG_IMAGE payload prefix, followed by npages pages */
struct mdv_rec_image {
	__le64 first_page;
	__le64 npages;
};

/* MDV_TAG_DIRTY payload prefix, followed by le64 index[npages], then pages */
struct mdv_rec_dirty {
	__le32 npages;
	__le32 reserved;
};

/* MDV_TAG_END payload */
struct mdv_rec_end {
	__le64 digest;		/* sum of each page's xxh64 seeded with its index */
	__le64 session;		/* must equal the HEADER's */
};

#define MDV_IMAGE_PAGES		256	/* pages per IMAGE record */
#define MDV_DIRTY_PAGES		64	/* max pages per DIRTY record */
/* Bytes a record takes on the stream, header included. */
#define MDV_REC_BYTES(payload)	(sizeof(struct mdv_rec_hdr) + (payload))
#define MDV_HEADER_BYTES	MDV_REC_BYTES(sizeof(struct mdv_rec_header))
#define MDV_META_BYTES		MDV_REC_BYTES(sizeof(struct mdv_rec_meta))
#define MDV_END_BYTES		MDV_REC_BYTES(sizeof(struct mdv_rec_end))
/* an IMAGE or DIRTY record of @n pages of @pgsz bytes (1 << page_shift) */
#define MDV_IMAGE_BYTES(n, pgsz) \
	MDV_REC_BYTES(sizeof(struct mdv_rec_image) + (n) * (pgsz))
#define MDV_DIRTY_BYTES(n, pgsz) \
	MDV_REC_BYTES(sizeof(struct mdv_rec_dirty) + \
		      (n) * (sizeof(__le64) + (pgsz)))

#endif /* MOCKDEV_MDV_STREAM_H */
