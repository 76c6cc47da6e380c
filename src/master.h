/* The master: forks WORKERS workers, replaces those that exit, reaps every
 * child (it may be PID 1), and stops them all on TERM (gracefully) or
 * INT/QUIT (at once). */
#pragma once
#include "admin.h"
#include "config.h"
#include "listen.h"

/* Process exit statuses, of the master and of workers. */
enum {
	EXIT_OK = 0,       /* stopped as asked */
	EXIT_ERROR = 1,    /* a runtime failure (cannot bind, fork, ...) */
	EXIT_CONFIG = 2,   /* a bad environment variable */
	EXIT_APP_LOAD = 3, /* the app cannot be imported: fatal, never respawned */
};

struct static_files;

/* Blocks the signals the master handles, before anything is bound: a TERM
 * sent as soon as the port answers (or during a PRELOAD import) waits for the
 * master instead of killing the process, or being dropped when it is PID 1. */
void master_hold_signals(void);

/* Runs until the workers are stopped; returns the exit status. admin is
 * the ADMIN_BIND listener or NULL; statics, STATIC_MAP's directories or NULL. */
int master_run(const struct config *cfg, const struct listener *ls, int nls, struct admin *admin,
	       const struct static_files *statics);
