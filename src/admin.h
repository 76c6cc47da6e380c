/* ADMIN_BIND: the master's own small HTTP listener for /livez, /readyz and
 * /metrics, so that probes never queue behind app requests. Non-blocking:
 * a slow or silent client never holds the master loop. */
#pragma once
#include "listen.h"
#include "slots.h"

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

#define ADMIN_CONNS 16

/* What the master knows, for one answer. */
struct admin_view {
	bool live, ready;
	const struct slots *board;
	const struct slot_shared *retired; /* counters of workers gone */
	const pid_t *pids;                 /* live workers, with their numbers */
	const int *numbers;
	int nworkers;
	const unsigned long *restarts;     /* by reason, see admin_restart_reasons */
	const struct listener *ls;
	int nls;
	double start_time;                 /* seconds since the epoch */
};

enum { RESTART_TIMEOUT, RESTART_CRASH, RESTART_MAX_REQUESTS, RESTART_RELOAD, RESTART_RSS, RESTART_REASONS };

struct admin;

/* Binds ADMIN_BIND (before privileges are dropped); NULL after logging. */
struct admin *admin_open(const struct config_addr *addr);

/* Adds the descriptors to watch to fds; returns how many. */
int admin_fds(const struct admin *a, struct pollfd *fds);

/* Accepts, reads and answers what is ready; drops clients past their time. */
void admin_serve(struct admin *a, const struct pollfd *fds, int n, double now,
		 const struct admin_view *view);
