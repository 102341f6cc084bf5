// SPDX-License-Identifier: GPL-2.0
/*
 * mdv_migrate: the device set, opened together and moved through each arc
 * together (serial or one thread per device)
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine.h"

struct engine g = { .sock = -1 };

/* Open the devices of @devs (BDF[,BDF..]) in container mode */
int devs_open(const char *devs)
{
	char *copy, *tok, *save = NULL;
	int ret = 0;

	copy = strdup(devs);
	for (tok = strtok_r(copy, ",", &save); tok && g.ndev < VMIG_MAX_DEVS;
	     tok = strtok_r(NULL, ",", &save)) {
		ret = vmig_open(&g.dev[g.ndev], tok, VMIG_MODE_CONTAINER);
		if (ret) {
			fail(tok, ret);
			break;
		}
		g.fd[g.ndev++] = -1;
	}
	free(copy);
	return ret;
}

void devs_close(void)
{
	int i;

	for (i = 0; i < g.ndev; i++)
		vmig_close(&g.dev[i]);
}

struct arc_job {
	int i;
	uint32_t state;
	int ret;
	int fd;
};

static void *arc_thread(void *arg)
{
	struct arc_job *j = arg;

	j->ret = vmig_set_state(&g.dev[j->i], j->state, &j->fd);
	return NULL;
}

/* Move every device to @state; data FDs returned go to g.fd[]. */
int set_all(uint32_t state, double *took)
{
	struct arc_job job[VMIG_MAX_DEVS];
	pthread_t th[VMIG_MAX_DEVS];
	double t = now();
	int i, ret = 0;

	for (i = 0; i < g.ndev; i++) {
		job[i] = (struct arc_job){ .i = i, .state = state, .fd = -1 };
		if (g.parallel)
			pthread_create(&th[i], NULL, arc_thread, &job[i]);
		else
			arc_thread(&job[i]);
	}
	for (i = 0; i < g.ndev; i++) {
		if (g.parallel)
			pthread_join(th[i], NULL);
		if (job[i].ret && !ret)
			ret = job[i].ret;
		if (job[i].fd >= 0) {
			if (g.fd[i] >= 0)
				close(g.fd[i]);
			g.fd[i] = job[i].fd;
		}
	}
	if (took)
		*took = now() - t;
	return ret;
}

void close_fds(void)
{
	int i;

	for (i = 0; i < g.ndev; i++) {
		if (g.fd[i] >= 0)
			close(g.fd[i]);
		g.fd[i] = -1;
	}
}
