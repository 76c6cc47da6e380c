/* epoll behind the loop.h interface. */
#include "loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define EVENTS 64

/* Not whole ms: a timer of a few ms armed at 5.999 s would fire at 6.000. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int loop_init(struct loop *l, void *owner)
{
	*l = (struct loop){.owner = owner, .now = now_s()};
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	return l->ep < 0 ? -1 : 0;
}

int loop_watch(struct loop *l, struct loop_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};
	int op = !events ? EPOLL_CTL_DEL : io->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (!events && !io->events)
		return 0;
	/* EPOLLEXCLUSIVE registrations cannot be modified: replace them. */
	if (op == EPOLL_CTL_MOD && (events & EPOLLEXCLUSIVE)) {
		epoll_ctl(l->ep, EPOLL_CTL_DEL, io->fd, NULL);
		op = EPOLL_CTL_ADD;
	}
	int rc = epoll_ctl(l->ep, op, io->fd, &ev);
	io->events = rc == 0 || op == EPOLL_CTL_DEL ? events : io->events;
	return rc;
}

void loop_add_list(struct loop *l, struct loop_list *list)
{
	if (l->nlists < LOOP_LISTS)
		l->lists[l->nlists++] = list;
}

void loop_timer_disarm(struct loop_timer *t)
{
	struct loop_list *list = t->list;
	if (!list)
		return;
	*(t->prev ? &t->prev->next : &list->head) = t->next;
	*(t->next ? &t->next->prev : &list->tail) = t->prev;
	t->prev = t->next = NULL;
	t->list = NULL;
}

void loop_timer_arm(struct loop *l, struct loop_timer *t, struct loop_list *list)
{
	loop_timer_disarm(t);
	t->deadline = l->now + list->timeout;
	t->prev = list->tail;
	*(list->tail ? &list->tail->next : &list->head) = t;
	list->tail = t;
	t->list = list;
}

static int wait_ms(const struct loop *l)
{
	double first = -1;
	for (int i = 0; i < l->nlists; i++)
		if (l->lists[i]->head && (first < 0 || l->lists[i]->head->deadline < first))
			first = l->lists[i]->head->deadline;
	double ms = first < 0 ? LOOP_MAX_WAIT_MS : (first - l->now) * 1000 + 1;
	return ms < 0 ? 0 : ms > LOOP_MAX_WAIT_MS ? LOOP_MAX_WAIT_MS : (int)ms;
}

static void expire(struct loop *l)
{
	for (int i = 0; i < l->nlists; i++) {
		struct loop_list *list = l->lists[i];
		struct loop_timer *t;
		while ((t = list->head) && t->deadline <= l->now) {
			loop_timer_disarm(t);
			list->expire(l, t);
		}
	}
}

void loop_update_time(struct loop *l)
{
	l->now = now_s();
}

void loop_run(struct loop *l)
{
	struct epoll_event evs[EVENTS];
	while (!l->stop) {
		l->now = now_s(); /* handlers may have run long: the hook beats with the time it is */
		if (l->before_sleep)
			l->before_sleep(l);
		if (l->stop)
			break;
		int n = epoll_wait(l->ep, evs, EVENTS, wait_ms(l));
		l->now = now_s();
		for (int i = 0; i < n; i++) {
			struct loop_io *io = evs[i].data.ptr;
			io->fn(l, io->data, evs[i].events);
		}
		expire(l);
	}
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
