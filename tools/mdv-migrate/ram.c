// SPDX-License-Identifier: GPL-2.0
/* mdv_migrate: guest RAM: mapped for the source devices, kept in sync through DMA logging */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "engine.h"

struct guest_ram ram = { .buf = MAP_FAILED };

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/*
 * The initial content of page @pg: different in every page, so a page put
 * at the wrong index changes the hash, and no zero byte anywhere, so every
 * write of the mock (it DMAs zeros) shows.
 */
static void ram_pattern(uint64_t *w, size_t pg)
{
	size_t i;

	for (i = 0; i < RAM_PAGE / 8; i++)
		w[i] = mix64(RAM_SEED ^ (pg << 12) ^ i) | 0x0101010101010101ULL;
}

/* FNV-1a over 64-bit words */
uint64_t ram_hash(void)
{
	const uint64_t *w = (const uint64_t *)ram.buf;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < ram.len / 8; i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t ram_changed(void)
{
	uint64_t pat[RAM_PAGE / 8], n = 0;
	size_t pg;

	for (pg = 0; pg < ram.npages; pg++) {
		ram_pattern(pat, pg);
		n += !!memcmp(ram.buf + pg * RAM_PAGE, pat, RAM_PAGE);
	}
	return n;
}

int ram_alloc(bool fill)
{
	size_t pg;

	ram.npages = ram.len / RAM_PAGE;
	ram.buf = mmap(NULL, ram.len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram.buf == MAP_FAILED)
		return -errno;
	if (fill)
		for (pg = 0; pg < ram.npages; pg++)
			ram_pattern((uint64_t *)(ram.buf + pg * RAM_PAGE), pg);
	return 0;
}

void ram_log_stop(void)
{
	int i;

	for (i = 0; i < ram.nlogging; i++)
		vmig_log_stop(&g.dev[i]);
	ram.nlogging = 0;
}

/*
 * Source: map RAM for every source device, as a VMM maps guest memory, and
 * start DMA logging on it. Only ENOTTY (no logging on this kernel) is not
 * an error: then nothing is synced.
 *
 * Done right after the devices are opened, before anything is sent: the
 * first pass sends RAM as it is then, and only a log started before it
 * shows every page a device writes after it.
 */
int ram_setup_src(void)
{
	struct vmig_range r = { RAM_IOVA, ram.len };
	uint64_t ps;
	int i, ret;

	ram.bitmap = calloc((ram.npages + 63) / 64, 8);
	if (!ram.bitmap)
		return -ENOMEM;
	for (i = 0; i < g.ndev; i++) {
		ret = vmig_map(&g.dev[i], ram.buf, ram.len, RAM_IOVA);
		if (ret) {
			fail("mapping guest RAM", ret);
			return ret;
		}
		ram.nmapped++;
		ret = vmig_bus_master(&g.dev[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < g.ndev; i++) {
		/* the device may track coarser; reports are asked at 4 KiB */
		ps = RAM_PAGE;
		ret = vmig_log_start(&g.dev[i], &r, 1, &ps);
		if (ret == -ENOTTY) {
			ram.log_err = ret;
			ram_log_stop();
			return 0;
		}
		if (ret) {
			fail("DMA_LOGGING_START", ret);
			return ret;
		}
		ram.nlogging++;
	}
	ram.synced = true;
	return 0;
}

void ram_teardown(void)
{
	int i;

	ram_log_stop();
	for (i = 0; i < ram.nmapped; i++)
		vmig_unmap(&g.dev[i], ram.len, RAM_IOVA);
	ram.nmapped = 0;
	if (ram.buf != MAP_FAILED)
		munmap(ram.buf, ram.len);
	ram.buf = MAP_FAILED;
	free(ram.bitmap);
	ram.bitmap = NULL;
}

/* Send @n pages from @pg on, at most CHUNK a message */
int ram_send(size_t pg, size_t n)
{
	size_t k;

	while (n) {
		k = n < CHUNK / RAM_PAGE ? n : CHUNK / RAM_PAGE;
		if (send_msg(MSG_RAM, pg, ram.buf + pg * RAM_PAGE,
			     k * RAM_PAGE))
			return -ECONNRESET;
		pg += k;
		n -= k;
	}
	return 0;
}

static bool ram_dirty(size_t pg)
{
	return (ram.bitmap[pg / 64] >> (pg % 64)) & 1;
}

/*
 * One dirty sync: read and clear every source device's log for the RAM
 * (the union is what any of them wrote) and send those pages, runs of
 * contiguous pages a message. Returns the number of pages or -errno.
 */
int64_t ram_sync(void)
{
	size_t pg, run, n = 0;
	int i, ret;

	memset(ram.bitmap, 0, (ram.npages + 63) / 64 * 8);
	for (i = 0; i < g.ndev; i++) {
		ret = vmig_log_report(&g.dev[i], RAM_IOVA, ram.len, RAM_PAGE,
				      ram.bitmap);
		if (ret) {
			fail("DMA_LOGGING_REPORT", ret);
			return ret;
		}
	}
	for (pg = 0; pg < ram.npages; pg += run) {
		for (run = 0; pg + run < ram.npages && ram_dirty(pg + run); run++)
			;
		if (!run) {
			run = 1;
			continue;
		}
		if (ram_send(pg, run))
			return -ECONNRESET;
		n += run;
	}
	return n;
}
