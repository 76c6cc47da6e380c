/* The worker's event loop. One thread owns every connection's reading and
 * timers; a complete request is served inline (THREADS=1) or by an app
 * thread, which hands the connection back through an eventfd. Timers are
 * three FIFO lists: each has one fixed timeout, so appending keeps it sorted. */
#include "worker.h"

#include "conn.h"
#include "log.h"
#include "master.h"
#include "proctitle.h"
#include "seccomp.h"
#include "wsgi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF 16384
#define LINGER_TIMEOUT 2.0 /* to let a refused client read its 4xx */
#define ACCEPT_PAUSE 0.1   /* after EMFILE: accept again later, do not spin */
#define SPARE_BUFS 64

enum { NONE, READING, IDLE, LINGER, NLISTS };

struct tlist {
	struct conn *head, *tail;
	double timeout;
};

struct worker {
	const struct config *cfg;
	const struct worker_args *args;
	const struct listener *ls;
	int nls;
	int ep, sigfd, donefd;
	struct http_limits limits;
	size_t head_max;
	struct tlist lists[NLISTS];
	int nconns;
	atomic_bool stopping; /* read by app threads for Connection: close */
	bool stop_asked, drained, accepting;
	double now, accept_again, emfile_logged;
	long served, max_requests;
	char *spare; /* free read buffers, linked through their first bytes */
	int nspare;
	/* app threads (THREADS > 1) */
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct conn *queue, *queue_tail, *done;
	bool quit;
	atomic_llong *busy_since; /* per app thread, ms; 0 when idle */
	atomic_int next_thread;
};

static void note(const struct worker *w, enum slot_note what)
{
	struct slot_msg m = {(uint16_t)w->args->slot, (uint8_t)what};
	if (write(w->args->notes, &m, sizeof m) != sizeof m)
		log_msg(LOG_WARNING, "cannot tell the master: %s", strerror(errno));
}

/* Runs the app on c, with the table showing since when this thread is busy. */
static void serve(struct worker *w, struct conn *c, atomic_llong *busy)
{
	struct slot_shared *me = &w->args->slots->slot[w->args->slot];
	struct wsgi_result res;
	atomic_fetch_add(&me->in_flight, 1);
	atomic_store(busy, slots_now_ms());
	bool last = w->max_requests && w->served + 1 >= w->max_requests; /* says Connection: close */
	c->keep = wsgi_handle(c, w->stopping || last, &res);
	atomic_store(busy, 0);
	atomic_fetch_sub(&me->in_flight, 1);
	slots_count(me, c->parser.req.method, res.status, res.bytes, res.duration_us);
}

/* ---------- timer lists ---------- */

static void list_remove(struct worker *w, struct conn *c)
{
	if (c->list == NONE)
		return;
	struct tlist *l = &w->lists[c->list];
	*(c->prev ? &c->prev->next : &l->head) = c->next;
	*(c->next ? &c->next->prev : &l->tail) = c->prev;
	c->prev = c->next = NULL;
	c->list = NONE;
}

static void list_push(struct worker *w, struct conn *c, int which)
{
	list_remove(w, c);
	struct tlist *l = &w->lists[which];
	c->deadline = w->now + l->timeout;
	c->prev = l->tail;
	*(l->tail ? &l->tail->next : &l->head) = c;
	l->tail = c;
	c->list = which;
}

/* At most a second: the loop's turns are the worker's heartbeat. */
static int next_timeout_ms(const struct worker *w)
{
	double first = -1;
	for (int i = READING; i < NLISTS; i++)
		if (w->lists[i].head && (first < 0 || w->lists[i].head->deadline < first))
			first = w->lists[i].head->deadline;
	if (!w->accepting && !w->stopping && (first < 0 || w->accept_again < first))
		first = w->accept_again;
	double ms = first < 0 ? 1000 : (first - w->now) * 1000 + 1;
	return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

/* ---------- read buffers: a connection holds one only while a request arrives ---------- */

static char *buf_get(struct worker *w)
{
	char *b = w->spare;
	if (b) {
		memcpy(&w->spare, b, sizeof b);
		w->nspare--;
		return b;
	}
	if (!(b = malloc(READ_BUF)))
		abort();
	return b;
}

static void buf_put(struct worker *w, char *b)
{
	if (w->nspare >= SPARE_BUFS) {
		free(b);
		return;
	}
	memcpy(b, &w->spare, sizeof b);
	w->spare = b;
	w->nspare++;
}

/* ---------- connections ---------- */

static void conn_close(struct worker *w, struct conn *c)
{
	list_remove(w, c);
	/* A process the app forked may hold the socket too: then close() alone
	 * leaves it in the epoll set, with events for a freed conn. */
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	http_free(&c->parser);
	if (c->cap == READ_BUF)
		buf_put(w, c->buf);
	else
		free(c->buf);
	free(c);
	w->nconns--;
}

static void peer_text(struct conn *c)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, c->remote, sizeof c->remote);
		snprintf(c->remote_port, sizeof c->remote_port, "%u", ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], c->remote, sizeof c->remote);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, c->remote, sizeof c->remote);
		snprintf(c->remote_port, sizeof c->remote_port, "%u", ntohs(in6->sin6_port));
	}
}

static void conn_open(struct worker *w, const struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	c->fd = fd;
	c->listener = l;
	c->peer = *ss;
	peer_text(c);
	http_init(&c->parser, &w->limits);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
	w->nconns++;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_msg(LOG_ERROR, "epoll_ctl: %s", strerror(errno));
		conn_close(w, c);
		return;
	}
	list_push(w, c, READING);
}

/* Sends a short response without waiting: it fits any socket buffer. */
static void send_now(struct conn *c, const char *p, size_t n)
{
	if (send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_msg(LOG_DEBUG, "cannot answer %s: %s", c->remote, strerror(errno));
}

/* Answers a refused request and closes after the client has read it. */
static void reject(struct worker *w, struct conn *c, int status, const char *reason)
{
	char buf[512];
	log_msg(LOG_DEBUG, "%d for %s: %s", status, c->remote[0] ? c->remote : "unix", reason);
	send_now(c, buf, http_error_response(status, buf, sizeof buf));
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	list_push(w, c, LINGER);
}

static void hand_off(struct worker *w, struct conn *c);

static bool is_health(const struct worker *w, const struct conn *c)
{
	const char *hp = w->cfg->health_path;
	const struct http_request *r = &c->parser.req;
	return hp && (r->method == HTTP_GET || r->method == HTTP_HEAD) && r->path.len == strlen(hp) &&
	       !memcmp(c->buf + r->path.off, hp, r->path.len);
}

/* HEALTH_PATH, answered here without Python: it proves this loop turns. */
static void answer_health(struct worker *w, struct conn *c)
{
	const struct http_request *r = &c->parser.req;
	bool down = w->stopping || atomic_load(&w->args->slots->draining);
	const char *body = down ? "draining\n" : "ok\n";
	char head[256];
	c->keep = r->keep_alive && w->cfg->keep_alive > 0 && !w->stopping;
	int n = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nServer: wsginit\r\nDate: %s\r\n"
			 "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
			 down ? "503 Service Unavailable" : "200 OK", http_date(), strlen(body),
			 c->keep ? "" : "Connection: close\r\n");
	struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, r->method == HTTP_HEAD ? 0 : strlen(body)}};
	if (conn_writev(c, iov, 2) < 0)
		c->keep = false;
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "%s %s -> %s", c->remote[0] ? c->remote : "unix", w->cfg->health_path,
			down ? "503" : "200");
}

/* After a response: false when the connection was closed. */
static bool next_request(struct worker *w, struct conn *c)
{
	if (w->max_requests && ++w->served >= w->max_requests && !w->stopping) {
		/* The master forks the replacement now; until it is up, new
		 * connections wait in the backlog or go to the other workers. */
		log_msg(LOG_INFO, "Worker reached MAX_REQUESTS (%ld): restarting", w->max_requests);
		note(w, NOTE_RETIRE);
		w->stopping = true;
	}
	if (!c->keep || w->stopping) {
		conn_close(w, c);
		return false;
	}
	c->len = http_next(&c->parser, c->buf, c->len);
	c->continue_sent = false;
	return true;
}

/* Acts on what is buffered: serves complete requests (pipelined ones in
 * order), refuses a bad one, or arms the right timer to wait for more.
 * Returns true when the connection waits for more bytes. */
static bool advance(struct worker *w, struct conn *c)
{
	for (;;) {
		enum http_result r = http_parse(&c->parser, c->buf, &c->len);
		if (r == HTTP_ERROR) {
			reject(w, c, c->parser.status, c->parser.reason);
			return false;
		}
		if (r == HTTP_MORE)
			break;
		list_remove(w, c);
		if (is_health(w, c)) {
			answer_health(w, c);
			if (!next_request(w, c))
				return false;
			continue;
		}
		if (w->cfg->threads > 1) {
			hand_off(w, c);
			return false;
		}
		serve(w, c, &w->args->slots->slot[w->args->slot].busy_since_ms);
		if (!next_request(w, c))
			return false;
	}
	if (!http_started(&c->parser)) {
		if (c->list == NONE)
			list_push(w, c, IDLE);
		if (!c->len && c->cap == READ_BUF) { /* idle connections hold no buffer */
			buf_put(w, c->buf);
			c->buf = NULL;
			c->cap = 0;
		}
	} else if (c->list != READING || http_in_body(&c->parser)) {
		list_push(w, c, READING); /* the header clock starts once; body reads renew it */
	}
	if (c->parser.req.expect_continue && !c->continue_sent) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		send_now(c, cont, sizeof cont - 1);
		c->continue_sent = true;
	}
	return true;
}

static void drain(struct worker *w, struct conn *c)
{
	char scratch[4096];
	ssize_t n;
	while ((n = read(c->fd, scratch, sizeof scratch)) > 0)
		;
	if (n == 0 || errno != EAGAIN)
		conn_close(w, c);
}

static void on_readable(struct worker *w, struct conn *c)
{
	if (c->lingering)
		return drain(w, c);
	for (;;) {
		if (c->len == c->cap) {
			if (c->cap >= w->head_max)
				return reject(w, c, 431, "request head too large");
			if (!c->cap) {
				c->buf = buf_get(w);
				c->cap = READ_BUF;
			} else if (!(c->buf = realloc(c->buf, c->cap *= 2))) {
				abort();
			}
		}
		size_t room = c->cap - c->len;
		ssize_t n = read(c->fd, c->buf + c->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			return conn_close(w, c); /* the client left (mid-request or idle) */
		}
		c->len += (size_t)n;
		if (!advance(w, c) || (size_t)n < room)
			return;
	}
}

/* ---------- app threads ---------- */

static void *app_thread(void *arg)
{
	struct worker *w = arg;
	atomic_llong *busy = &w->busy_since[atomic_fetch_add(&w->next_thread, 1)];
	wsgi_thread_begin();
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->queue && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		struct conn *c = w->queue;
		if (!c)
			break;
		if (!(w->queue = c->qnext))
			w->queue_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		serve(w, c, busy);
		pthread_mutex_lock(&w->mu);
		c->qnext = w->done;
		w->done = c;
		uint64_t one = 1;
		if (write(w->donefd, &one, sizeof one) < 0)
			log_msg(LOG_ERROR, "eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&w->mu);
	wsgi_thread_end();
	return NULL;
}

/* The loop stops watching c while an app thread owns it. */
static void hand_off(struct worker *w, struct conn *c)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	pthread_mutex_lock(&w->mu);
	c->qnext = NULL;
	*(w->queue_tail ? &w->queue_tail->qnext : &w->queue) = c;
	w->queue_tail = c;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void on_done(struct worker *w)
{
	uint64_t n;
	if (read(w->donefd, &n, sizeof n) < 0)
		return;
	pthread_mutex_lock(&w->mu);
	struct conn *c = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	while (c) {
		struct conn *next = c->qnext;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		if (next_request(w, c)) {
			if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
				conn_close(w, c);
			else
				advance(w, c);
		}
		c = next;
	}
}

static int start_threads(struct worker *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->donefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->threads = calloc((size_t)w->cfg->threads, sizeof *w->threads);
	w->busy_since = calloc((size_t)w->cfg->threads, sizeof *w->busy_since);
	if (w->donefd < 0 || !w->threads || !w->busy_since)
		return -1;
	for (int i = 0; i < w->cfg->threads; i++)
		if (pthread_create(&w->threads[i], NULL, app_thread, w) != 0)
			return -1;
	return 0;
}

static void stop_threads(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->cfg->threads; i++)
		pthread_join(w->threads[i], NULL);
}

/* ---------- accepting and stopping ---------- */

static void watch_listeners(struct worker *w, bool on)
{
	for (int i = 0; i < w->nls; i++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = (void *)&w->ls[i]};
		epoll_ctl(w->ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, w->ls[i].fd, on ? &ev : NULL);
	}
	w->accepting = on;
}

/* Accepts up to a batch; false once the backlog is empty. */
static bool on_accept(struct worker *w, const struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss = {0};
		socklen_t len = sizeof ss;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_open(w, l, fd, &ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			if (w->now >= w->emfile_logged + 10) { /* once in a while, not every pause */
				log_msg(LOG_WARNING, "accept: %s; pausing accepts", strerror(errno));
				w->emfile_logged = w->now;
			}
			watch_listeners(w, false);
			w->accept_again = w->now + ACCEPT_PAUSE;
		}
		return false;
	}
	return true;
}

/* Graceful stop: on TERM, take what waits in the listen backlog (it would
 * be reset with the listener); then accept nothing more, close idle
 * connections, finish the rest. */
static void begin_stop(struct worker *w)
{
	if (w->accepting)
		watch_listeners(w, false);
	/* Each listener is drained and closed at once, so new connections are
	 * refused rather than queued in a backlog nobody takes (closing it
	 * resets them): only the last process to close has a window, of
	 * microseconds, between its last accept and its close. */
	for (int i = 0; i < w->nls; i++) {
		for (int n = 0; n < 64 && w->stop_asked && w->nconns < 4096 && on_accept(w, &w->ls[i]); n++)
			;
		close(w->ls[i].fd);
	}
	w->stopping = w->drained = true;
	/* On TERM, idle keep-alive connections go, unless their next request is
	 * already here (closing over unread bytes would reset the connection):
	 * that one is served, with Connection: close. A worker past MAX_REQUESTS
	 * lets them all bring one more request (or time out): no client of a
	 * healthy server sees its connection closed under a request. New
	 * connections get their REQUEST_TIMEOUT like any other. */
	for (struct conn *c = w->stop_asked ? w->lists[IDLE].head : NULL, *next; c; c = next) {
		char byte;
		next = c->next;
		if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
			conn_close(w, c);
	}
}

/* The worker's signals come through a pipe, not a signalfd: a signalfd needs
 * them blocked, and a blocked mask is inherited by every process the app
 * starts (its subprocesses could not be stopped with TERM). */
static int signal_pipe = -1;
static pid_t worker_pid;

static void on_signal_handler(int sig)
{
	if (getpid() != worker_pid) { /* a child the app forked: the default action */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(signal_pipe, &b, 1) < 0) { /* full: a signal is pending already */ }
	errno = saved;
}

static void on_signal(struct worker *w)
{
	unsigned char sig;
	while (read(w->sigfd, &sig, 1) == 1) {
		if (sig == SIGTERM) {
			w->stop_asked = true; /* acted on after the batch: it closes connections */
		} else {
			log_msg(LOG_INFO, "Worker exiting (pid: %d)", (int)getpid());
			_exit(EXIT_OK); /* INT/QUIT: a fast stop does not wait for anyone */
		}
	}
}

static void expire(struct worker *w)
{
	for (int i = READING; i < NLISTS; i++) {
		struct conn *c;
		while ((c = w->lists[i].head) && c->deadline <= w->now) {
			if (i == READING && http_started(&c->parser))
				reject(w, c, 408, "request not received in time");
			else
				conn_close(w, c);
		}
	}
	if (!w->accepting && !w->stopping && w->now >= w->accept_again)
		watch_listeners(w, true);
}

/* The heartbeat: this turn of the loop, and the oldest app call in progress. */
static void beat(struct worker *w)
{
	struct slot_shared *me = &w->args->slots->slot[w->args->slot];
	atomic_store(&me->beat_ms, (long long)(w->now * 1000));
	if (w->cfg->threads == 1)
		return; /* serve() keeps busy_since itself */
	long long oldest = 0;
	for (int i = 0; i < w->cfg->threads; i++) {
		long long t = atomic_load(&w->busy_since[i]);
		if (t && (!oldest || t < oldest))
			oldest = t;
	}
	atomic_store(&me->busy_since_ms, oldest);
}

static void dispatch(struct worker *w, struct epoll_event *ev)
{
	void *p = ev->data.ptr;
	if (p == &w->sigfd)
		on_signal(w);
	else if (p == &w->donefd)
		on_done(w);
	else if (p >= (void *)w->ls && p < (void *)(w->ls + w->nls))
		on_accept(w, p);
	else
		on_readable(w, p);
}

static int setup(struct worker *w)
{
	int p[2];
	struct sigaction sa = {.sa_handler = on_signal_handler, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0 || (w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_msg(LOG_CRITICAL, "worker setup: %s", strerror(errno));
		return -1;
	}
	w->sigfd = p[0];
	signal_pipe = p[1];
	worker_pid = getpid();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->sigfd};
	epoll_ctl(w->ep, EPOLL_CTL_ADD, w->sigfd, &ev);
	if (w->cfg->threads > 1) {
		if (start_threads(w) < 0) {
			log_msg(LOG_CRITICAL, "cannot start app threads: %s", strerror(errno));
			return -1;
		}
		ev.data.ptr = &w->donefd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->donefd, &ev);
	}
	watch_listeners(w, true);
	return 0;
}

int worker_run(const struct worker_args *a)
{
	static struct worker w; /* one per process */
	const struct config *cfg = a->cfg;
	w = (struct worker){.cfg = cfg, .args = a, .ls = a->ls, .nls = a->nls, .donefd = -1};
	w.limits = (struct http_limits){cfg->limit_request_line, cfg->limit_request_fields,
					cfg->limit_request_field_size, cfg->max_body_size};
	w.head_max = (size_t)cfg->limit_request_line +
		     (size_t)cfg->limit_request_fields * ((size_t)cfg->limit_request_field_size + 4) + READ_BUF;
	w.lists[READING].timeout = REQUEST_TIMEOUT;
	w.lists[IDLE].timeout = cfg->keep_alive;
	w.lists[LINGER].timeout = LINGER_TIMEOUT;
	unsigned long jitter = 0; /* each worker its own, so they do not restart together */
	if (cfg->max_requests_jitter && getrandom(&jitter, sizeof jitter, 0) != sizeof jitter)
		jitter = (unsigned long)getpid();
	w.max_requests = cfg->max_requests
		? cfg->max_requests + (long)(jitter % (unsigned long)(cfg->max_requests_jitter + 1)) : 0;
	proctitle_set("wsginit: worker %d [%s]", a->number, cfg->app);
	signal(SIGPIPE, SIG_IGN);
	log_msg(LOG_INFO, "Booting worker with pid: %d", (int)getpid());
	if (!a->preloaded && wsgi_init(cfg) < 0)
		return EXIT_APP_LOAD;
	if (seccomp_apply(cfg->seccomp) < 0)
		return EXIT_ERROR;
	wsgi_thread_begin();
	if (setup(&w) < 0)
		return EXIT_ERROR;
	w.now = slots_now_ms() / 1000.0;
	beat(&w); /* live before it says ready */
	note(&w, NOTE_READY);
	struct epoll_event evs[64];
	while (!w.stopping || w.nconns > 0) {
		int n = epoll_wait(w.ep, evs, 64, next_timeout_ms(&w));
		w.now = slots_now_ms() / 1000.0;
		beat(&w);
		for (int i = 0; i < n; i++)
			dispatch(&w, &evs[i]);
		if ((w.stop_asked || w.stopping) && !w.drained)
			begin_stop(&w);
		expire(&w);
	}
	if (cfg->threads > 1)
		stop_threads(&w);
	wsgi_exit();
	return EXIT_OK;
}
