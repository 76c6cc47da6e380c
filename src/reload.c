/* RELOAD's watcher. It watches the whole tree rather than the files in the
 * workers' sys.modules: the master has no Python (PRELOAD is refused with
 * RELOAD), so the list would have to come from a worker over a channel that
 * does not exist, and a tree also shows the modules an edit adds. The price
 * is a rollover for a `*.py` file the app does not import, in development. */
#include "reload.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes that end, renames, creations, deletions, and touch or chmod. */
#define EVENTS (IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
		IN_ONLYDIR | IN_DONT_FOLLOW)

struct dir {
	int wd; /* -1: a free entry */
	char *path;
};

struct reload {
	int fd;
	dev_t dev; /* the tree's filesystem: mounts under it are not walked */
	struct dir *dirs;
	int ndirs;
	bool warned;
};

/* Editors' and tools' own files (.x.py.swp, .#x.py, .git) and Python's
 * bytecode cache, which workers write as they import. */
static bool skipped(const char *name)
{
	return name[0] == '.' || !strcmp(name, "__pycache__");
}

static bool is_py(const char *name)
{
	size_t n = strlen(name);
	return n > 3 && !strcmp(name + n - 3, ".py");
}

static struct dir *find(struct reload *r, int wd)
{
	for (int i = 0; i < r->ndirs; i++)
		if (r->dirs[i].wd == wd)
			return &r->dirs[i];
	return NULL;
}

/* Remembers wd's path (a directory moved within the tree keeps its wd). */
static void remember(struct reload *r, int wd, const char *path)
{
	struct dir *d = find(r, wd);
	if (!d && !(d = find(r, -1))) {
		if (!(r->dirs = realloc(r->dirs, (size_t)(r->ndirs + 1) * sizeof *r->dirs)))
			abort();
		d = &r->dirs[r->ndirs++];
	} else if (d->wd == wd) {
		free(d->path);
	}
	d->wd = wd;
	if (!(d->path = strdup(path)))
		abort();
}

static void watch_tree(struct reload *r, const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_dev != r->dev)
		return;
	int wd = inotify_add_watch(r->fd, path, EVENTS);
	if (wd < 0) {
		if (!r->warned)
			log_msg(LOG_WARNING, "RELOAD: cannot watch %s: %s%s", path, strerror(errno),
				errno == ENOSPC ? " (see sysctl fs.inotify.max_user_watches)" : "");
		r->warned = true;
		return;
	}
	remember(r, wd, path);
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char child[PATH_MAX];
		if (!skipped(e->d_name) && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN) &&
		    snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child)
			watch_tree(r, child);
	}
	if (d)
		closedir(d);
}

struct reload *reload_open(const char *dir)
{
	struct reload *r = calloc(1, sizeof *r);
	char root[PATH_MAX];
	struct stat st;
	if (!r)
		abort();
	if (!realpath(dir, root) || stat(root, &st) < 0 ||
	    (r->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		log_msg(LOG_CRITICAL, "RELOAD: cannot watch %s: %s", dir, strerror(errno));
		free(r);
		return NULL;
	}
	r->dev = st.st_dev;
	watch_tree(r, root);
	log_msg(LOG_INFO, "RELOAD: watching %d directories under %s for changes to *.py files", r->ndirs, root);
	return r;
}

int reload_fd(const struct reload *r)
{
	return r->fd;
}

/* 1 when ev is a change that matters; new directories are watched. */
static int event(struct reload *r, const struct inotify_event *ev, char *what, size_t len)
{
	if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: something changed */
		snprintf(what, len, "(inotify queue overflow)");
		return 1;
	}
	struct dir *d = find(r, ev->wd);
	if (d && ev->mask & IN_IGNORED) { /* the directory is gone */
		free(d->path);
		*d = (struct dir){-1, NULL};
		return 0;
	}
	bool dir = ev->mask & IN_ISDIR;
	if (!d || !ev->len || skipped(ev->name) || (!dir && !is_py(ev->name)))
		return 0;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", d->path, ev->name);
	if (dir && ev->mask & (IN_CREATE | IN_MOVED_TO))
		watch_tree(r, path);
	snprintf(what, len, "%s", path);
	return 1;
}

int reload_read(struct reload *r, char *what, size_t len)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changes = 0;
	ssize_t n;
	while ((n = read(r->fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			changes += event(r, ev, what, len);
			p += sizeof *ev + ev->len;
		}
	}
	return changes;
}
