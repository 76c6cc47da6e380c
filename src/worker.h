/* A worker process: the epoll loop that accepts, reads and parses requests
 * and hands complete ones to the app (inline, or to THREADS app threads). */
#pragma once
#include "config.h"
#include "listen.h"
#include "slots.h"
#include "static.h"

#include <stdbool.h>

struct worker_args {
	const struct config *cfg;
	const struct listener *ls;
	int nls;
	int slot;                   /* its index in the table and in notes */
	int number;                 /* for ps: "wsginit: worker N [APP]" */
	struct slots *slots;        /* the table, shared with the master */
	int notes;                  /* write end of the master's notes pipe */
	bool preloaded;             /* the master imported the app already */
	const struct static_files *statics; /* STATIC_MAP, or NULL */
};

/* Serves until TERM (graceful: in-flight requests finish) or INT/QUIT (at
 * once); returns the process exit status (see master.h). */
int worker_run(const struct worker_args *a);
