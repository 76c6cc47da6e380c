/* The WSGI layer: the only module that makes Python objects. */
#pragma once
#include "config.h"
#include "conn.h"

#include <stdbool.h>

/* Starts CPython and imports APP. -1 after logging the traceback. The
 * calling thread keeps the GIL until wsgi_thread_begin(). */
int wsgi_init(const struct config *cfg);

/* Readies the calling thread to run the app and releases the GIL; every
 * thread that calls wsgi_handle() calls this once first. */
void wsgi_thread_begin(void);
/* Undoes wsgi_thread_begin() for a thread that is about to end. */
void wsgi_thread_end(void);

/* What a request came to, for the metrics. */
struct wsgi_result {
	int status;
	uint64_t bytes; /* body bytes sent */
	int64_t duration_us;
};

/* Runs the app on c's complete request and writes the response. Returns
 * true when the connection may carry another request. closing: the worker
 * is stopping, so the response says Connection: close. */
bool wsgi_handle(struct conn *c, bool closing, struct wsgi_result *out);

/* Around fork(): Python's own fork hooks, when Python runs in this process
 * (the master with PRELOAD); no-ops otherwise. */
void wsgi_before_fork(void);
void wsgi_after_fork_parent(void);
void wsgi_after_fork_child(void);

/* At worker exit: runs atexit handlers and flushes, from the main thread. */
void wsgi_exit(void);
