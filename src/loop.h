/* The worker's event loop, after redis's ae: a handler and its data per
 * descriptor, timer lists, and a hook run before each sleep. A timer list has
 * one fixed timeout, so appending keeps it sorted: arming, renewing and
 * stopping a timer are O(1), and the loop looks only at list heads. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, ...). */
typedef void loop_fn(struct loop *l, void *data, uint32_t events);

/* A watched descriptor; its owner embeds it. */
struct loop_io {
	int fd;
	uint32_t events; /* what is watched now; 0: not in the set */
	loop_fn *fn;
	void *data;
};

struct loop_list;

/* A timer; its owner embeds it and finds itself with container_of. */
struct loop_timer {
	struct loop_timer *prev, *next;
	struct loop_list *list; /* NULL: not armed */
	double deadline;
};

struct loop_list {
	struct loop_timer *head, *tail;
	double timeout;
	void (*expire)(struct loop *l, struct loop_timer *t); /* t is already disarmed */
};

#define LOOP_LISTS 8
#define LOOP_MAX_WAIT_MS 1000 /* the loop turns at least this often: the worker's heartbeat */

struct loop {
	int ep;
	double now; /* CLOCK_MONOTONIC seconds, read after each wait */
	bool stop;
	struct loop_list *lists[LOOP_LISTS];
	int nlists;
	void (*before_sleep)(struct loop *l);
	void *owner;
};

/* Creates the epoll set; -1 with errno. */
int loop_init(struct loop *l, void *owner);

/* Watches io->fd for events (0: stop watching); -1 with errno. */
int loop_watch(struct loop *l, struct loop_io *io, uint32_t events);

/* Adds a timer list the loop expires (at most LOOP_LISTS). */
void loop_add_list(struct loop *l, struct loop_list *list);

/* Arms t on list at now + its timeout (re-arming moves it to the end). */
void loop_timer_arm(struct loop *l, struct loop_timer *t, struct loop_list *list);
void loop_timer_disarm(struct loop_timer *t);

/* Reads the clock into l->now again (after a handler that took long). */
void loop_update_time(struct loop *l);

/* Turns until loop_stop(): before_sleep, wait, handlers, expired timers. */
void loop_run(struct loop *l);
void loop_stop(struct loop *l);
