// SPDX-License-Identifier: GPL-2.0
/* mdv_migrate: messages over one TCP connection (proto.h) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"

int xfer(int fd, void *buf, size_t len, bool out)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = out ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

int send_msg(uint32_t type, uint32_t dev, const void *data, uint64_t len)
{
	struct msg m = { type, dev, len };
	int ret = xfer(g.sock, &m, sizeof(m), true);

	if (!ret && len)
		ret = xfer(g.sock, (void *)data, len, true);
	return ret;
}

int recv_msg(struct msg *m)
{
	return xfer(g.sock, m, sizeof(*m), false);
}

int connect_to(const char *spec)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char host[64];
	int fd, one = 1, port, tries;

	if (sscanf(spec, "%63[^:]:%d", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &a.sin_addr) != 1)
		return -EINVAL;
	a.sin_port = htons(port);
	for (tries = 0; tries < 100; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		close(fd);
		usleep(100000);
	}
	return -errno;
}

int listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), c, one = 1;

	struct pollfd p = { .fd = fd, .events = POLLIN };

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		return -errno;
	/* a source that failed before connecting must not leave us waiting */
	c = poll(&p, 1, ACCEPT_TIMEOUT_S * 1000);
	if (c <= 0) {
		close(fd);
		return c ? -errno : -ETIMEDOUT;
	}
	c = accept(fd, NULL, NULL);
	close(fd);
	if (c >= 0)
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c < 0 ? -errno : c;
}
