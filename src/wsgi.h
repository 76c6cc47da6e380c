/* The WSGI layer: the only module that makes Python objects. */
#pragma once
#include "config.h"
#include "conn.h"

#include <stdbool.h>

/* Starts CPython and imports APP. -1 after logging the traceback. The
 * calling thread keeps the GIL until wsgi_thread_begin(). */
int wsgi_init(const struct config *cfg);

/* The embedded Python's version, the interpreter it takes as its own and how
 * libpython is linked, e.g. "Python 3.11.2 (/usr/bin/python3, static
 * libpython)"; snprintf's result. Needs no started interpreter. */
int wsgi_describe(char *buf, size_t size);

/* `wsginit --python ARGS...`: runs ARGS (argv[1..]; argv[0] becomes the
 * interpreter's path) as `python3 ARGS...` would, on the server's interpreter
 * configuration and sys.path. Returns the command's exit status (Py_RunMain's);
 * a bad option exits at once, as python3 does. */
int wsgi_python(int argc, char **argv);

/* Readies the calling thread to run the app and releases the GIL; every
 * thread that calls wsgi_handle() calls this once first. */
void wsgi_thread_begin(void);
/* Undoes wsgi_thread_begin() for a thread that is about to end. */
void wsgi_thread_end(void);

/* Runs the app on c's complete request into c->resp (begun by the caller):
 * the response is produced and ended; what the socket took at once is out,
 * the rest is queued for the loop, or was written directly (streaming, or
 * past RESPONSE_BUFFER). The thread keeps the GIL after it, so requests
 * served back to back take it once: wsgi_release() before waiting. */
void wsgi_handle(struct conn *c);

/* Takes the GIL, unless the calling thread holds it already. */
void wsgi_hold(void);

/* Before the calling thread waits (the loop's sleep, an idle app thread):
 * drops the Python objects whose bytes were written and releases the GIL.
 * Takes the GIL only when it has objects to drop. */
void wsgi_release(void);

/* Around fork(): Python's own fork hooks, when Python runs in this process
 * (the master with PRELOAD); no-ops otherwise. */
void wsgi_before_fork(void);
void wsgi_after_fork_parent(void);
void wsgi_after_fork_child(void);

/* At worker exit: runs atexit handlers and flushes, from the main thread. */
void wsgi_exit(void);
