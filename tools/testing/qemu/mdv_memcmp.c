// SPDX-License-Identifier: GPL-2.0
/*
 * mdv_memcmp: compare two guest memory dumps (QMP pmemsave) page by page.
 *
 *   mdv_memcmp SRC DST START END [PAGE_ADDR...]
 *
 * Prints one line:
 *   memcmp: pages=N differ=D written=W listed=L/M
 * differ:  pages whose content differs between SRC and DST;
 * written: pages in [START, END) of DST that no longer hold the 0xa5
 *          pattern the inner guest painted there, i.e. pages the device
 *          wrote (its DMA writes zeros);
 * listed:  how many of the PAGE_ADDR pages (hex guest addresses the test
 *          had the device write during pre-copy) are written in DST.
 * Exit status 0 when the dumps are equal, 1 when they differ, 2 on error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG 4096UL

static const unsigned char *map(const char *path, size_t *len)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "mdv_memcmp: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "mdv_memcmp: mmap %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
	*len = st.st_size;
	return p;
}

static int painted(const unsigned char *p)
{
	size_t i;

	for (i = 0; i < PG; i++)
		if (p[i] != 0xa5)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	size_t slen, dlen, i, differ = 0, written = 0, listed = 0;
	const unsigned char *s, *d;
	unsigned long start, end;
	int a;

	if (argc < 5) {
		fprintf(stderr, "usage: %s SRC DST START END [PAGE_ADDR...]\n", argv[0]);
		return 2;
	}
	s = map(argv[1], &slen);
	d = map(argv[2], &dlen);
	start = strtoul(argv[3], NULL, 0);
	end = strtoul(argv[4], NULL, 0);
	if (slen != dlen || slen % PG || end > dlen || start > end) {
		fprintf(stderr, "mdv_memcmp: sizes %zu/%zu, range %#lx-%#lx\n",
			slen, dlen, start, end);
		return 2;
	}
	for (i = 0; i < slen; i += PG) {
		differ += memcmp(s + i, d + i, PG) != 0;
		if (i >= start && i < end)
			written += !painted(d + i);
	}
	for (a = 5; a < argc; a++) {
		unsigned long addr = strtoul(argv[a], NULL, 16) & ~(PG - 1);

		if (addr + PG > dlen) {
			fprintf(stderr, "mdv_memcmp: page %#lx outside the dump\n", addr);
			return 2;
		}
		listed += !painted(d + addr);
	}
	printf("memcmp: pages=%zu differ=%zu written=%zu listed=%zu/%d\n",
	       slen / PG, differ, written, listed, argc - 5);
	return differ ? 1 : 0;
}
