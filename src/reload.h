/* RELOAD: the master watches the app's directory tree with inotify and says
 * when a `*.py` file in it changed, so that it rolls the workers over. */
#pragma once
#include <stddef.h>

struct reload;

/* Watches dir and every directory under it on the same filesystem, except
 * hidden ones and __pycache__; NULL after logging. */
struct reload *reload_open(const char *dir);

/* The inotify descriptor, to poll for reading. */
int reload_fd(const struct reload *r);

/* Reads the pending events without blocking, watches the directories that
 * appeared; returns how many changed a `*.py` file or a directory, and puts
 * the path of the last one in what. */
int reload_read(struct reload *r, char *what, size_t len);
