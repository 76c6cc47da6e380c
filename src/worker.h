/* A worker process: the epoll loop that accepts, reads and parses requests
 * and hands complete ones to the app (inline, or to THREADS app threads). */
#pragma once
#include "config.h"
#include "listen.h"

/* Serves on the listeners until TERM (graceful) or INT/QUIT (at once);
 * returns the process exit status (see master.h). */
int worker_run(const struct config *cfg, const struct listener *ls, int nls);
