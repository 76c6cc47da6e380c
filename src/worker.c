/* The worker's event loop. One thread owns every connection's reading,
 * writing and timers; a complete request is answered inline (HEALTH_PATH,
 * refusals, THREADS=1 app calls) or by an app thread, which hands the
 * connection back on a list the loop takes each turn. Once produced, a
 * response is written by the loop as the client drains: no app slot waits
 * for a slow reader. Connections are edge-triggered and registered once:
 * no epoll_ctl per request. */
#include "worker.h"

#include "accesslog.h"
#include "conn.h"
#include "log.h"
#include "loop.h"
#include "master.h"
#include "proctitle.h"
#include "seccomp.h"
#include "wsgi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF 16384
#define LINGER_TIMEOUT 2.0 /* to let a refused client read its 4xx */
#define ACCEPT_PAUSE 0.1   /* after EMFILE: accept again later, do not spin */
#define SPARE_BUFS 64
#define RSS_INTERVAL 0.001 /* MAX_RSS: resident memory is read at most this often */
#define RAMP_WAIT 0.001    /* requests wait: how often the loop sees whether one more thread helps */
#define RAMP_BUSY 0.9      /* ... it does when app threads used less of a CPU than this meanwhile */
#define RAMP_LONG_MS 20    /* ... or when no waiting request was taken for this long */

#define CONN_OF(t) ((struct conn *)((char *)(t) - offsetof(struct conn, timer)))

/* The timer lists: each has one fixed timeout. */
enum { READING, IDLE, LINGER, WRITING, PAUSE, STOPPING, RAMP, NLISTS };

/* The thread contract: the loop thread owns every field. App threads
 * (THREADS > 1) read cfg and args; under mu they take conns from queue, give
 * them back on finished (writing done unless told), keep free, sleeping,
 * wakes, moved_ms and lent, and read quit; with atomics they pick their
 * busy_since and stat_fds slot (next_thread), write them, and count
 * me->in_flight. A conn belongs to one thread at a time: an app thread's
 * between hand_off() and resume_finished(), the loop's otherwise (the response
 * budget it points to is atomic). Only the loop writes a conn's unread and
 * hup; while an app thread has it, unread under mu, which the app thread
 * reads as it gives the conn back, with told. */
struct worker {
	const struct config *cfg;
	const struct worker_args *args;
	struct slot_shared *me;
	struct loop loop;
	struct loop_io *lio; /* one per listener */
	struct loop_io sig, done;
	struct loop_list lists[NLISTS];
	struct loop_timer pause, stop_deadline, ramp;
	struct http_limits limits;
	struct response_budget budget;
	size_t head_max;
	int nconns;
	bool stopping, stop_asked, drained, idle_closed, accepting;
	double emfile_logged;
	long served, max_requests;
	int statm;          /* MAX_RSS: /proc/self/statm, opened before seccomp; -1 when unset */
	double rss_next;    /* the loop's clock of the next MAX_RSS check */
	bool rss_due;       /* a response ended since the last check */
	uint64_t page_size;
	char *spare; /* free read buffers, linked through their first bytes */
	int nspare;
	struct exchange *spare_ex; /* free exchanges */
	int nspare_ex;
	struct trace_random ids; /* REQUEST_ID: the bytes of the IDs it makes */
	/* app threads (THREADS > 1) */
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* requests to serve; connections done, in the order they finished, so
	 * their next requests queue in that order (taken last first, as from a
	 * stack, the client served first in a burst waited through two) */
	struct conn *queue, *queue_tail, *finished, *finished_tail;
	bool told; /* done was written since finished was last taken */
	int free, sleeping, wakes; /* threads awake and not serving; waiting for a wake; wakes given */
	long long moved_ms;        /* when a request was last taken, or queued to an empty queue */
	int lent;                  /* long-call wakes no thread's sleep has offset yet: surplus() */
	double ramp_at, ramp_cpu;  /* the loop's clock and app_cpu() when the ramp timer was armed */
	clockid_t *cpu_clocks;     /* each app thread's CPU clock */
	atomic_int *stat_fds;      /* per app thread: its /proc stat, or -1 */
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

static void on_conn(struct loop *l, void *data, uint32_t events);

/* ---------- a connection holds a read buffer and an exchange only while a request is under way ---------- */

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

static struct exchange *ex_get(struct worker *w)
{
	struct exchange *x = w->spare_ex;
	if (x) {
		w->spare_ex = x->next_spare;
		w->nspare_ex--;
		return x;
	}
	if (!(x = calloc(1, sizeof *x)))
		abort();
	http_init(&x->parser, &w->limits);
	response_init(&x->resp, &w->budget);
	return x;
}

static void ex_free(struct exchange *x)
{
	response_free(&x->resp);
	http_free(&x->parser);
	free(x);
}

/* x is between requests of a keep-alive connection: with its parser made
 * new, it and its buffers serve the next request of any connection. */
static void ex_put(struct worker *w, struct exchange *x)
{
	if (w->nspare_ex >= SPARE_BUFS)
		return ex_free(x);
	http_reuse(&x->parser);
	x->next_spare = w->spare_ex;
	w->spare_ex = x;
	w->nspare_ex++;
}

/* ---------- connections ---------- */

static void conn_close(struct worker *w, struct conn *c)
{
	loop_timer_disarm(&c->timer);
	/* A process the app forked may hold the socket too: then close() alone
	 * leaves it in the epoll set, with events for a freed conn. */
	loop_watch(&w->loop, &c->io, 0);
	close(c->io.fd);
	if (c->ex)
		ex_free(c->ex);
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
	c->io = (struct loop_io){.fd = fd, .fn = on_conn, .data = c};
	c->listener = l;
	memcpy(&c->peer, ss, sizeof c->peer);
	peer_text(c);
	w->nconns++;
	if (loop_watch(&w->loop, &c->io, EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
		log_msg(LOG_ERROR, "epoll_ctl: %s", strerror(errno));
		conn_close(w, c);
		return;
	}
	loop_timer_arm(&w->loop, &c->timer, &w->lists[READING]);
}

static bool advance(struct worker *w, struct conn *c);

/* ---------- the end of a response: logged, counted, then the next request ---------- */

static int64_t since_us(const struct timespec *start)
{
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	return (end.tv_sec - start->tv_sec) * 1000000LL + (end.tv_nsec - start->tv_nsec) / 1000;
}

/* nginx's 499: the client left before the whole head of its answer was out. */
static int logged_status(const struct response *r, bool whole)
{
	return !whole && r->head_sent < r->head_len ? 499 : r->status;
}

static void account(struct worker *w, struct conn *c, bool whole)
{
	const struct response *r = &c->ex->resp;
	bool refusal = c->ex->handler == HANDLER_REFUSAL;
	int64_t us = c->ex->took_us >= 0 ? c->ex->took_us : since_us(&c->ex->start);
	int status = logged_status(r, whole);
	slots_count(w->me, c->ex->handler, refusal ? -1 : c->ex->parser.req.method, status, r->sent, us);
	if (c->ex->handler == HANDLER_APP && c->ex->trace.queue_us >= 0)
		slots_count_queue(w->me, c->ex->trace.queue_us);
	if (c->ex->handler == HANDLER_HEALTH) { /* probes every few seconds: not access-log material */
		if (log_enabled(LOG_DEBUG))
			log_msg(LOG_DEBUG, "%s %s -> %d", c->remote[0] ? c->remote : "unix", w->cfg->health_path,
				status);
		return;
	}
	if (!accesslog_enabled())
		return;
	const char *remote = refusal ? c->remote : c->ex->pv.remote;
	struct access a = {
		.remote = remote[0] ? remote : "-",
		.buf = c->buf,
		.req = refusal ? NULL : &c->ex->parser.req,
		.status = status,
		.bytes = r->sent,
		.start = c->ex->start,
		.duration_us = us,
		.head = r->head,
		.head_len = r->head_len,
		.trace = refusal ? NULL : &c->ex->trace,
	};
	accesslog_write(&a);
}

/* A refused client gets its answer, then the rest of what it sends is read
 * and dropped: closing over unread bytes would reset the answer away. */
static void drain(struct worker *w, struct conn *c);

static void linger(struct worker *w, struct conn *c)
{
	shutdown(c->io.fd, SHUT_WR);
	c->state = CONN_LINGER;
	loop_timer_arm(&w->loop, &c->timer, &w->lists[LINGER]);
	drain(w, c); /* what came before: no edge will tell of it */
}

/* After a response: false when the connection was closed. */
static bool next_request(struct worker *w, struct conn *c)
{
	w->rss_due = true;
	if (w->max_requests && ++w->served >= w->max_requests && !w->stopping) {
		/* The master forks the replacement now; until it is up, new
		 * connections wait in the backlog or go to the other workers. */
		log_msg(LOG_INFO, "Worker reached MAX_REQUESTS (%ld): restarting", w->max_requests);
		note(w, NOTE_RETIRE);
		w->stopping = true;
	}
	if (!c->ex->resp.keep || w->stopping) {
		conn_close(w, c);
		return false;
	}
	c->len = http_next(&c->ex->parser, c->buf, c->len);
	c->ex->continue_sent = false;
	return true;
}

/* Writes what the socket takes. True when the response is complete and the
 * connection reads its next request; otherwise it waits for EPOLLOUT, lingers
 * or is closed. */
static bool send_response(struct worker *w, struct conn *c)
{
	switch (response_write(&c->ex->resp, c->io.fd)) {
	case RESPONSE_BLOCKED: /* the socket said so: an EPOLLOUT edge follows */
		c->state = CONN_WRITING;
		if (!(c->io.events & EPOLLOUT) &&
		    loop_watch(&w->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
			account(w, c, false);
			conn_close(w, c);
			return false;
		}
		loop_timer_arm(&w->loop, &c->timer, &w->lists[WRITING]); /* progress renews the clock */
		return false;
	case RESPONSE_FAILED:
		log_msg(LOG_DEBUG, "response to %s cut short", c->remote[0] ? c->remote : "unix");
		account(w, c, false);
		conn_close(w, c);
		return false;
	case RESPONSE_DONE:
	case RESPONSE_DRAINED: /* not reached: every producer ends its response */
		break;
	}
	account(w, c, true);
	loop_timer_disarm(&c->timer); /* the write clock; the next request arms its own */
	if (c->ex->handler == HANDLER_REFUSAL) {
		linger(w, c);
		return false;
	}
	if (!next_request(w, c))
		return false;
	c->state = CONN_READING;
	return true;
}

static void on_readable(struct worker *w, struct conn *c);

/* After a response finished outside advance() (loop writes, app threads):
 * the next request, from the buffer, then from the socket if it had news
 * meanwhile. */
static void resume(struct worker *w, struct conn *c)
{
	if (send_response(w, c) && advance(w, c) && c->unread)
		on_readable(w, c);
}

/* ---------- answers made here ---------- */

static void refuse(struct worker *w, struct conn *c, int status, const char *reason)
{
	log_msg(LOG_DEBUG, "%d for %s: %s", status, c->remote[0] ? c->remote : "unix", reason);
	loop_timer_disarm(&c->timer);
	clock_gettime(CLOCK_REALTIME, &c->ex->start);
	c->ex->took_us = -1;
	c->ex->handler = HANDLER_REFUSAL;
	response_begin(&c->ex->resp, -1, 1, false);
	response_error(&c->ex->resp, status);
	send_response(w, c);
}

static bool is_health(const struct worker *w, const struct conn *c)
{
	const char *hp = w->cfg->health_path;
	const struct http_request *r = &c->ex->parser.req;
	return hp && (r->method == HTTP_GET || r->method == HTTP_HEAD) && r->path.len == strlen(hp) &&
	       !memcmp(c->buf + r->path.off, hp, r->path.len);
}

/* HEALTH_PATH, answered here without Python: it proves this loop turns. */
static void answer_health(struct worker *w, struct conn *c)
{
	bool down = w->stopping || atomic_load(&w->args->slots->draining);
	const char *body = down ? "draining\n" : "ok\n";
	struct response *r = &c->ex->resp;
	response_status_code(r, down ? 503 : 200);
	response_header(r, "Content-Type", 12, "text/plain", 10);
	response_head_end(r, true, strlen(body));
	response_add_mem(r, body, strlen(body), NULL, NULL);
	response_end(r);
}

/* Runs the app on c, with the table showing since when this thread is busy. */
static void serve(struct worker *w, struct conn *c, atomic_llong *busy, long long now_ms)
{
	trace_app_called(&c->ex->trace, &c->ex->start);
	atomic_fetch_add(&w->me->in_flight, 1);
	atomic_store(busy, now_ms);
	wsgi_handle(c);
	atomic_store(busy, 0);
	atomic_fetch_sub(&w->me->in_flight, 1);
}

static void hand_off(struct worker *w, struct conn *c);

/* Its request ID (sent back), traceparent, and a trusted proxy's X-Request-Start
 * (the trust checked only when there is one). */
static void begin_trace(struct worker *w, struct conn *c)
{
	trace_begin(&c->ex->trace, c->buf, &c->ex->parser.req, w->cfg->request_id ? &w->ids : NULL);
	if (c->ex->trace.request_start.len && config_forwarded_allowed(w->cfg, (const struct sockaddr *)&c->peer))
		trace_front(&c->ex->trace, c->buf, &c->ex->start);
	if (c->ex->trace.request_id_len)
		response_request_id(&c->ex->resp, c->ex->trace.request_id, c->ex->trace.request_id_len);
}

/* A complete request: its response is begun here, whoever produces it. */
static bool dispatch(struct worker *w, struct conn *c)
{
	const struct http_request *req = &c->ex->parser.req;
	/* A worker past MAX_REQUESTS answers its last one with Connection: close. */
	bool last = w->max_requests && w->served + 1 >= w->max_requests;
	loop_timer_disarm(&c->timer);
	clock_gettime(CLOCK_REALTIME, &c->ex->start);
	c->ex->took_us = -1;
	response_begin(&c->ex->resp, req->method, req->minor,
		       req->keep_alive && w->cfg->keep_alive > 0 && !w->stopping && !last);
	proxy_apply(w->cfg, (const struct sockaddr *)&c->peer, c->remote, c->buf, req, &c->ex->pv);
	begin_trace(w, c);
	if (is_health(w, c)) {
		c->ex->handler = HANDLER_HEALTH;
		answer_health(w, c);
	} else if (w->args->statics && static_match(w->args->statics, c->buf + req->path.off, req->path.len)) {
		c->ex->handler = HANDLER_STATIC;
		static_serve(w->args->statics, c->buf, req, &c->ex->resp);
	} else if (w->cfg->threads > 1) {
		c->ex->handler = HANDLER_APP;
		hand_off(w, c);
		return false;
	} else {
		c->ex->handler = HANDLER_APP;
		serve(w, c, &w->me->busy_since_ms, slots_now_ms());
		loop_update_time(&w->loop); /* the app may have taken long: timers armed next start now */
	}
	return send_response(w, c);
}

/* ---------- reading ---------- */

/* Between requests, with nothing buffered: an idle connection holds no
 * buffer and no exchange. */
static void idle_release(struct worker *w, struct conn *c)
{
	if (c->len || c->cap != READ_BUF || http_started(&c->ex->parser))
		return;
	buf_put(w, c->buf);
	ex_put(w, c->ex);
	c->buf = NULL;
	c->ex = NULL;
	c->cap = 0;
}

/* Acts on what is buffered: answers complete requests (pipelined ones in
 * order, each after the one before is written), refuses a bad one, or arms
 * the right timer to wait for more. True when the connection is still
 * there and reads. */
static bool advance(struct worker *w, struct conn *c)
{
	for (;;) {
		enum http_result r = http_parse(&c->ex->parser, c->buf, &c->len);
		if (r == HTTP_ERROR) {
			refuse(w, c, c->ex->parser.status, c->ex->parser.reason);
			return false;
		}
		if (r == HTTP_MORE)
			break;
		if (!dispatch(w, c))
			return false;
	}
	if (!http_started(&c->ex->parser)) {
		if (!c->timer.list)
			loop_timer_arm(&w->loop, &c->timer, &w->lists[IDLE]);
		idle_release(w, c);
		return true;
	}
	if (c->timer.list != &w->lists[READING] || http_in_body(&c->ex->parser)) /* the header clock */
		loop_timer_arm(&w->loop, &c->timer, &w->lists[READING]); /* starts once; body reads renew it */
	if (c->ex->parser.req.expect_continue && !c->ex->continue_sent) {
		/* An interim answer: tiny, so any socket buffer takes it whole. */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (send(c->io.fd, cont, sizeof cont - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_msg(LOG_DEBUG, "cannot answer %s: %s", c->remote, strerror(errno));
		c->ex->continue_sent = true;
	}
	return true;
}

static void drain(struct worker *w, struct conn *c)
{
	char scratch[4096];
	ssize_t n;
	while ((n = read(c->io.fd, scratch, sizeof scratch)) > 0)
		;
	if (n == 0 || errno != EAGAIN)
		conn_close(w, c);
}

static void on_readable(struct worker *w, struct conn *c)
{
	for (;;) {
		if (c->len == c->cap) {
			if (c->cap >= w->head_max)
				return refuse(w, c, 431, "request head too large");
			if (!c->cap) {
				c->buf = buf_get(w);
				c->ex = ex_get(w);
				c->cap = READ_BUF;
			} else if (!(c->buf = realloc(c->buf, c->cap *= 2))) {
				abort();
			}
		}
		size_t room = c->cap - c->len;
		ssize_t n = read(c->io.fd, c->buf + c->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN) {
				c->unread = false;
				return idle_release(w, c); /* an edge for what was read already */
			}
			return conn_close(w, c); /* the client left (mid-request or idle) */
		}
		c->len += (size_t)n;
		/* Edge-triggered: a short read emptied the socket; after a full
		 * one, more may wait, and no new edge will say so. */
		c->unread = (size_t)n == room || c->hup;
		if (!advance(w, c) || !c->unread)
			return;
	}
}

/* Edge-triggered: each event is news once. Input that comes while a
 * response is made or written is read after it. */
static void on_conn(struct loop *l, void *data, uint32_t events)
{
	struct worker *w = l->owner;
	struct conn *c = data;
	bool input = events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP);
	/* The peer's FIN can come in one edge with its last request: then a
	 * short read does not mean all was read. */
	c->hup |= (events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0;
	switch (c->state) {
	case CONN_READING:
		if (input)
			on_readable(w, c);
		return;
	case CONN_LINGER:
		if (input)
			drain(w, c);
		return;
	case CONN_WRITING:
		if (events & (EPOLLERR | EPOLLHUP)) {
			log_msg(LOG_DEBUG, "client %s went away mid-response", c->remote);
			account(w, c, false);
			return conn_close(w, c);
		}
		c->unread |= input;
		if (events & EPOLLOUT)
			resume(w, c);
		return;
	case CONN_APP: /* an app thread has it: it looks at unread as it gives it back */
		pthread_mutex_lock(&w->mu);
		c->unread |= input;
		pthread_mutex_unlock(&w->mu);
		return;
	}
}

/* ---------- app threads ---------- */

/* Under mu: wakes a sleeping thread when a request waits and no awake
 * thread is free to take it; whether it did. */
static bool wake_one(struct worker *w)
{
	if (!w->queue || w->free || !w->sleeping)
		return false;
	w->sleeping--;
	w->free++;
	w->wakes++;
	pthread_cond_signal(&w->cv);
	return true;
}

/* Under mu: wakes the loop, once until it next takes the finished
 * connections (resume_finished()). */
static void tell_loop(struct worker *w)
{
	uint64_t one = 1;
	if (w->told)
		return;
	w->told = true;
	if (write(w->done.fd, &one, sizeof one) < 0)
		log_msg(LOG_ERROR, "eventfd: %s", strerror(errno));
}

/* Under mu: whether an app thread serves a request (one that has not
 * started yet counts). */
static bool serving(const struct worker *w)
{
	return w->free + w->sleeping < w->cfg->threads;
}

/* When the oldest app call under way started (ms), 0 when none is. */
static long long oldest_call(const struct worker *w)
{
	long long oldest = 0;
	for (int i = 0; i < w->cfg->threads; i++) {
		long long t = atomic_load(&w->busy_since[i]);
		if (t && (!oldest || t < oldest))
			oldest = t;
	}
	return oldest;
}

/* Under mu, for an awake thread about to take a request: whether it should
 * sleep instead, while another thread serves. A thread that has just
 * started should, as hand_off() would not have woken it; so should the
 * next one done after on_ramp() woke one for a long call (lent), once no
 * call under way has run RAMP_LONG_MS. Awake, they would take turns on the
 * GIL with the others for as long as requests wait, each holding a request
 * until its next turn. */
static bool surplus(struct worker *w, bool started)
{
	if (!serving(w))
		return false;
	if (started)
		return true;
	if (!w->lent)
		return false;
	long long oldest = oldest_call(w);
	return !oldest || slots_now_ms() - oldest < RAMP_LONG_MS;
}

/* Serves the queue. A thread takes a request only once it holds the GIL
 * (none waits for it in a thread that cannot run), serves the requests
 * that come back to back under that one hold, and lets the GIL go before
 * it sleeps. */
static void *app_thread(void *arg)
{
	struct worker *w = arg;
	int slot = atomic_fetch_add(&w->next_thread, 1);
	atomic_llong *busy = &w->busy_since[slot];
	atomic_store(&w->stat_fds[slot], open("/proc/thread-self/stat", O_RDONLY | O_CLOEXEC));
	bool gil = false;
	wsgi_thread_begin();
	pthread_mutex_lock(&w->mu);
	w->free++;
	for (bool started = true;; started = false) {
		struct conn *c = w->queue;
		bool spare = c && !w->quit && surplus(w, started);
		if (!c || spare) {
			if (!c && w->quit)
				break;
			pthread_mutex_unlock(&w->mu);
			if (gil || !spare) /* the objects to free can wait for the thread that serves */
				wsgi_release();
			gil = false;
			pthread_mutex_lock(&w->mu);
			if (w->quit || (w->queue && !(spare && surplus(w, started))))
				continue;
			if (w->queue)
				tell_loop(w); /* requests wait and a thread sleeps: the loop arms the ramp */
			w->free--;
			w->sleeping++;
			if (!w->wakes)
				w->lent -= w->lent > 0;
			while (!w->wakes && !w->quit)
				pthread_cond_wait(&w->cv, &w->mu);
			if (w->wakes)
				w->wakes--;
			continue;
		}
		if (!gil) {
			pthread_mutex_unlock(&w->mu);
			wsgi_hold();
			gil = true;
			pthread_mutex_lock(&w->mu);
			continue;
		}
		if (!(w->queue = c->qnext))
			w->queue_tail = NULL;
		w->free--;
		long long now = w->moved_ms = slots_now_ms();
		pthread_mutex_unlock(&w->mu);
		serve(w, c, busy, now);
		/* A response all out on a connection that stays, with nothing of
		 * the client's waiting, needs no wake of the loop while requests
		 * wait: its next turn takes the connection back, and the last
		 * response of a burst wakes it (the access log and /metrics are
		 * not late at low load). Input that came meanwhile set unread
		 * (under mu): its edge is spent. */
		bool quiet = c->ex->resp.keep && c->len == c->ex->parser.parsed &&
			     response_write(&c->ex->resp, c->io.fd) == RESPONSE_DONE;
		if (quiet)
			c->ex->took_us = since_us(&c->ex->start);
		pthread_mutex_lock(&w->mu);
		quiet = quiet && !c->unread && w->queue;
		w->free++;
		c->qnext = NULL;
		*(w->finished_tail ? &w->finished_tail->qnext : &w->finished) = c;
		w->finished_tail = c;
		if (!quiet)
			tell_loop(w);
	}
	pthread_mutex_unlock(&w->mu);
	wsgi_release();
	wsgi_thread_end();
	return NULL;
}

/* CPU seconds of the app threads, each read where it runs now (the
 * process's clock lags a tick behind threads on other CPUs). */
static double app_cpu(const struct worker *w)
{
	double s = 0;
	for (int i = 0; i < w->cfg->threads; i++) {
		struct timespec t;
		if (clock_gettime(w->cpu_clocks[i], &t) == 0)
			s += (double)t.tv_sec + t.tv_nsec / 1e9;
	}
	return s;
}

/* Whether an app thread is running or waits for a CPU (state R in /proc),
 * in a call or between two: then they are not idle however little they ran.
 * With more busy workers than CPUs, or a CPU shared with the loop thread,
 * an app thread waits for a CPU ms at a time: counted as idle, such waits
 * woke threads to take turns on the GIL. */
static bool app_runnable(const struct worker *w)
{
	for (int i = 0; i < w->cfg->threads; i++) {
		char buf[512];
		int fd = atomic_load(&w->stat_fds[i]);
		if (fd < 0)
			continue;
		ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
		buf[n > 0 ? n : 0] = 0;
		char *comm_end = strrchr(buf, ')'); /* "tid (comm) S ..." */
		if (comm_end && comm_end[1] == ' ' && comm_end[2] == 'R')
			return true;
	}
	return false;
}

/* Unless it is armed: the window starts now, not at the start of the
 * loop's turn (the CPU the app threads used is read now). */
static void ramp_arm(struct worker *w)
{
	if (w->ramp.list)
		return;
	loop_update_time(&w->loop);
	w->ramp_at = w->loop.now;
	w->ramp_cpu = app_cpu(w);
	loop_timer_arm(&w->loop, &w->ramp, &w->lists[RAMP]);
}

/* The loop leaves c alone while an app thread owns it. With no app call
 * under way, a thread wakes at once. Otherwise the threads at work take it
 * when they are done, and while requests wait one more wakes every
 * RAMP_WAIT if the app threads left a tenth of the CPU idle and none runs
 * or waits for a CPU (they wait on I/O), or took no request for
 * RAMP_LONG_MS (calls that long hold them all: the requests behind get
 * their GIL turns; once none is that long, the thread sleeps again).
 * Not otherwise: a thread woken while the app keeps the GIL busy would only
 * wait for it, holding the request it took until its turn, and the
 * switches cost. */
static void hand_off(struct worker *w, struct conn *c)
{
	c->state = CONN_APP;
	pthread_mutex_lock(&w->mu);
	c->qnext = NULL;
	if (!w->queue)
		w->moved_ms = slots_now_ms();
	*(w->queue_tail ? &w->queue_tail->qnext : &w->queue) = c;
	w->queue_tail = c;
	if (!serving(w))
		wake_one(w);
	bool ramp = w->sleeping > 0;
	pthread_mutex_unlock(&w->mu);
	if (ramp)
		ramp_arm(w);
}

/* What counts is whether requests are taken, not how long the calls under
 * way have run: the calls that share the GIL with a long one take long
 * too, and counting them woke every thread in turn. */
static void on_ramp(struct loop *l, struct loop_timer *t)
{
	struct worker *w = l->owner;
	(void)t;
	loop_update_time(l);
	double wall = l->now - w->ramp_at; /* at least RAMP_WAIT */
	bool idle = app_cpu(w) - w->ramp_cpu < RAMP_BUSY * wall && !app_runnable(w);
	long long now_ms = (long long)(l->now * 1000); /* CLOCK_MONOTONIC, as slots_now_ms() */
	pthread_mutex_lock(&w->mu);
	if ((idle || now_ms - w->moved_ms >= RAMP_LONG_MS) && wake_one(w) && !idle)
		w->lent++;
	bool again = w->queue && w->sleeping;
	pthread_mutex_unlock(&w->mu);
	if (again)
		ramp_arm(w);
}

/* Wakes the loop: resume_finished() takes the connections. */
static void on_done(struct loop *l, void *data, uint32_t events)
{
	struct worker *w = l->owner;
	uint64_t n;
	(void)data, (void)events;
	if (read(w->done.fd, &n, sizeof n) < 0)
		log_msg(LOG_DEBUG, "eventfd: %s", strerror(errno));
}

/* Each turn, after its events: resuming a connection may close it, and an
 * event of the turn may be about it still. */
static void resume_finished(struct worker *w)
{
	if (w->cfg->threads == 1)
		return;
	pthread_mutex_lock(&w->mu);
	struct conn *c = w->finished;
	w->finished = w->finished_tail = NULL;
	w->told = false;
	bool ramp = w->queue && w->sleeping; /* a surplus thread went to sleep */
	pthread_mutex_unlock(&w->mu);
	if (ramp)
		ramp_arm(w);
	while (c) {
		struct conn *next = c->qnext;
		resume(w, c);
		c = next;
	}
}

/* glibc gives each thread that allocates its own arena, up to 8 per CPU. App
 * threads run Python one at a time under the GIL, so their arenas buy no
 * concurrency, and each keeps the freed response chunks it allocated: with
 * THREADS=8 serving slow readers, RSS rose to 28 MiB past RESPONSE_BUFFER;
 * with one arena, 2 MiB. One arena, unless the operator chose. */
static void share_arena(void)
{
	const char *t = getenv("GLIBC_TUNABLES");
	if (!getenv("MALLOC_ARENA_MAX") && !(t && strstr(t, "glibc.malloc.arena_max")))
		mallopt(M_ARENA_MAX, 1);
}

static int start_threads(struct worker *w)
{
	share_arena();
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = (struct loop_io){.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .fn = on_done};
	w->threads = calloc((size_t)w->cfg->threads, sizeof *w->threads);
	w->busy_since = calloc((size_t)w->cfg->threads, sizeof *w->busy_since);
	w->cpu_clocks = calloc((size_t)w->cfg->threads, sizeof *w->cpu_clocks);
	w->stat_fds = calloc((size_t)w->cfg->threads, sizeof *w->stat_fds);
	if (w->done.fd < 0 || !w->threads || !w->busy_since || !w->cpu_clocks || !w->stat_fds)
		return -1;
	for (int i = 0; i < w->cfg->threads; i++)
		atomic_init(&w->stat_fds[i], -1);
	for (int i = 0; i < w->cfg->threads; i++)
		if (pthread_create(&w->threads[i], NULL, app_thread, w) != 0 ||
		    pthread_getcpuclockid(w->threads[i], &w->cpu_clocks[i]) != 0)
			return -1;
	/* The loop thread (after the app threads, which would inherit it) does
	 * not preempt an app thread when a request comes: it reads the requests
	 * that came meanwhile in one turn, when the app thread is done or its
	 * time slice is, instead of a switch each. */
	struct sched_param batch = {0};
	if (sched_setscheduler(0, SCHED_BATCH, &batch) < 0)
		log_msg(LOG_DEBUG, "SCHED_BATCH: %s", strerror(errno));
	return loop_watch(&w->loop, &w->done, EPOLLIN);
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
	for (int i = 0; i < w->args->nls; i++)
		loop_watch(&w->loop, &w->lio[i], on ? EPOLLIN | EPOLLEXCLUSIVE : 0);
	w->accepting = on;
}

/* Accepts up to a batch; false once the backlog is empty. */
static bool accept_batch(struct worker *w, const struct listener *l)
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
			if (w->loop.now >= w->emfile_logged + 10) { /* once in a while, not every pause */
				log_msg(LOG_WARNING, "accept: %s; pausing accepts", strerror(errno));
				w->emfile_logged = w->loop.now;
			}
			watch_listeners(w, false);
			loop_timer_arm(&w->loop, &w->pause, &w->lists[PAUSE]);
		}
		return false;
	}
	return true;
}

static void on_accept(struct loop *l, void *data, uint32_t events)
{
	(void)events;
	accept_batch(l->owner, data);
}

/* Graceful stop: on TERM, take what waits in the listen backlog (it would
 * be reset with the listener); then accept nothing more and finish the rest
 * (close_idle() lets idle connections go): requests in the app, and
 * responses still being written, within GRACEFUL_TIMEOUT. */
static void begin_stop(struct worker *w)
{
	if (w->accepting)
		watch_listeners(w, false);
	loop_timer_disarm(&w->pause);
	/* Each listener is drained and closed at once, so new connections are
	 * refused rather than queued in a backlog nobody takes (closing it
	 * resets them): only the last process to close has a window, of
	 * microseconds, between its last accept and its close. */
	for (int i = 0; i < w->args->nls; i++) {
		const struct listener *l = &w->args->ls[i];
		for (int n = 0; n < 64 && w->stop_asked && w->nconns < 4096 && accept_batch(w, l); n++)
			;
		close(l->fd);
	}
	w->stopping = w->drained = true;
	loop_timer_arm(&w->loop, &w->stop_deadline, &w->lists[STOPPING]);
}

/* On TERM, idle keep-alive connections go, unless their next request is
 * already here (closing over unread bytes would reset the connection):
 * that one is served, with Connection: close. A worker past MAX_REQUESTS
 * lets them all bring one more request (or time out): no client of a
 * healthy server sees its connection closed under a request. New
 * connections get their REQUEST_TIMEOUT like any other. */
static void close_idle(struct worker *w)
{
	for (struct loop_timer *t = w->lists[IDLE].head, *next; t; t = next) {
		char byte;
		next = t->next;
		if (recv(CONN_OF(t)->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
			conn_close(w, CONN_OF(t));
	}
	w->idle_closed = true;
}

/* GRACEFUL_TIMEOUT passed: responses still being written are cut (the
 * master's SIGKILL would do it less cleanly). */
static void on_stop_deadline(struct loop *l, struct loop_timer *t)
{
	struct worker *w = l->owner;
	(void)t;
	while (w->lists[WRITING].head) {
		struct conn *c = CONN_OF(w->lists[WRITING].head);
		log_msg(LOG_WARNING, "GRACEFUL_TIMEOUT: closing %s mid-response", c->remote[0] ? c->remote : "unix");
		account(w, c, false);
		conn_close(w, c);
	}
}

static void on_pause_end(struct loop *l, struct loop_timer *t)
{
	struct worker *w = l->owner;
	(void)t;
	if (!w->stopping)
		watch_listeners(w, true);
}

static void on_expired(struct loop *l, struct loop_timer *t)
{
	struct worker *w = l->owner;
	struct conn *c = CONN_OF(t);
	if (c->state == CONN_WRITING) {
		log_msg(LOG_DEBUG, "client %s stopped reading its response", c->remote);
		account(w, c, false);
		conn_close(w, c);
	} else if (c->state == CONN_READING && c->ex && http_started(&c->ex->parser)) {
		refuse(w, c, 408, "request not received in time");
	} else {
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

static void on_signal(struct loop *l, void *data, uint32_t events)
{
	struct worker *w = l->owner;
	unsigned char sig;
	(void)data, (void)events;
	while (read(w->sig.fd, &sig, 1) == 1) {
		if (sig == SIGTERM) {
			w->stop_asked = true; /* acted on after the batch: it closes connections */
		} else {
			log_msg(LOG_INFO, "Worker exiting (pid: %d)", (int)getpid());
			_exit(EXIT_OK); /* INT/QUIT: a fast stop does not wait for anyone */
		}
	}
}

/* The heartbeat: this turn of the loop, and the oldest app call in progress. */
static void beat(struct worker *w)
{
	atomic_store(&w->me->beat_ms, (long long)(w->loop.now * 1000));
	if (w->cfg->threads > 1) /* else serve() keeps busy_since itself */
		atomic_store(&w->me->busy_since_ms, oldest_call(w));
}

/* MAX_RSS, after a turn of the loop that ended a response, at most every
 * RSS_INTERVAL (one pread): past it, the worker retires as at MAX_REQUESTS.
 * A worker serves once at least, even when it starts above the limit. */
static void check_rss(struct worker *w)
{
	char buf[128], *end;
	if (w->statm < 0 || !w->rss_due || w->stopping || w->loop.now < w->rss_next)
		return;
	w->rss_next = w->loop.now + RSS_INTERVAL;
	w->rss_due = false;
	ssize_t n = pread(w->statm, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return;
	buf[n] = 0;
	strtoull(buf, &end, 10); /* size, then resident, in pages */
	uint64_t rss = strtoull(end, NULL, 10) * w->page_size;
	if (rss <= w->cfg->max_rss)
		return;
	log_msg(LOG_INFO, "Worker's resident memory (%.1f MiB) passed MAX_RSS (%.1f MiB): restarting",
		rss / 1048576.0, w->cfg->max_rss / 1048576.0);
	note(w, NOTE_RETIRE_RSS);
	w->stopping = true;
}

static void before_sleep(struct loop *l)
{
	struct worker *w = l->owner;
	resume_finished(w);
	beat(w);
	/* App threads drop their objects themselves; the loop takes the GIL
	 * only when no app call is under way (it may still wait for a thread
	 * between two requests, a switch interval at most). */
	if (w->cfg->threads == 1 || !atomic_load(&w->me->in_flight))
		wsgi_release();
	check_rss(w);
	if ((w->stop_asked || w->stopping) && !w->drained)
		begin_stop(w);
	if (w->stop_asked && !w->idle_closed) /* also after a MAX_REQUESTS stop began */
		close_idle(w);
	if (w->stopping && w->nconns == 0)
		loop_stop(l);
}

static void lists_init(struct worker *w)
{
	static const double fixed[NLISTS] = {[READING] = REQUEST_TIMEOUT, [LINGER] = LINGER_TIMEOUT,
					     [WRITING] = SEND_TIMEOUT, [PAUSE] = ACCEPT_PAUSE, [RAMP] = RAMP_WAIT};
	for (int i = 0; i < NLISTS; i++) {
		w->lists[i] = (struct loop_list){.timeout = fixed[i], .expire = on_expired};
		loop_add_list(&w->loop, &w->lists[i]);
	}
	w->lists[IDLE].timeout = w->cfg->keep_alive;
	w->lists[PAUSE].expire = on_pause_end;
	w->lists[RAMP].expire = on_ramp;
	/* Ahead of the master's SIGKILL at GRACEFUL_TIMEOUT, so the cut is ours and clean. */
	w->lists[STOPPING] = (struct loop_list){.timeout = w->cfg->graceful_timeout * 0.9, .expire = on_stop_deadline};
}

static int setup(struct worker *w)
{
	int p[2];
	struct sigaction sa = {.sa_handler = on_signal_handler, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	w->lio = calloc((size_t)w->args->nls, sizeof *w->lio);
	if (!w->lio || pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0 || loop_init(&w->loop, w) < 0) {
		log_msg(LOG_CRITICAL, "worker setup: %s", strerror(errno));
		return -1;
	}
	w->loop.before_sleep = before_sleep;
	lists_init(w);
	signal_pipe = p[1];
	worker_pid = getpid();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	w->sig = (struct loop_io){.fd = p[0], .fn = on_signal};
	loop_watch(&w->loop, &w->sig, EPOLLIN);
	if (w->cfg->threads > 1 && start_threads(w) < 0) {
		log_msg(LOG_CRITICAL, "cannot start app threads: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < w->args->nls; i++)
		w->lio[i] = (struct loop_io){.fd = w->args->ls[i].fd, .fn = on_accept, .data = (void *)&w->args->ls[i]};
	watch_listeners(w, true);
	return 0;
}

int worker_run(const struct worker_args *a)
{
	static struct worker w; /* one per process */
	const struct config *cfg = a->cfg;
	w = (struct worker){.cfg = cfg, .args = a, .me = &a->slots->slot[a->slot]};
	w.limits = (struct http_limits){cfg->limit_request_line, cfg->limit_request_fields,
					cfg->limit_request_field_size, cfg->max_body_size};
	w.head_max = (size_t)cfg->limit_request_line +
		     (size_t)cfg->limit_request_fields * ((size_t)cfg->limit_request_field_size + 4) + READ_BUF;
	w.budget.limit = cfg->response_buffer;
	w.page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	w.statm = cfg->max_rss ? open("/proc/self/statm", O_RDONLY | O_CLOEXEC) : -1;
	if (cfg->max_rss && w.statm < 0)
		log_msg(LOG_WARNING, "MAX_RSS is not checked: /proc/self/statm: %s", strerror(errno));
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
	beat(&w); /* live before it says ready */
	note(&w, NOTE_READY);
	loop_run(&w.loop);
	if (cfg->threads > 1)
		stop_threads(&w);
	wsgi_exit();
	return EXIT_OK;
}
