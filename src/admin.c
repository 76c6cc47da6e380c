/* The admin listener: a fixed set of connections, each read without
 * blocking until its request line is in, then answered and closed. */
#include "admin.h"

#include "http.h"
#include "log.h"
#include "response.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADMIN_TIMEOUT 2.0

struct client {
	int fd; /* -1: free */
	double deadline;
	size_t len;
	char buf[1024];
};

struct admin {
	int fd;
	struct client c[ADMIN_CONNS];
};

struct admin *admin_open(const struct config_addr *addr)
{
	struct admin *a = calloc(1, sizeof *a);
	int one = 1;
	if (!a)
		abort();
	for (int i = 0; i < ADMIN_CONNS; i++)
		a->c[i].fd = -1;
	a->fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0 || setsockopt(a->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(a->fd, (const struct sockaddr *)&addr->sa, addr->len) < 0 || listen(a->fd, 64) < 0) {
		log_msg(LOG_CRITICAL, "cannot listen on ADMIN_BIND=%s: %s", addr->text, strerror(errno));
		free(a);
		return NULL;
	}
	log_msg(LOG_INFO, "Admin endpoints at: http://%s/livez /readyz /metrics", addr->text);
	return a;
}

int admin_fds(const struct admin *a, struct pollfd *fds)
{
	int n = 0;
	fds[n++] = (struct pollfd){.fd = a->fd, .events = POLLIN};
	for (int i = 0; i < ADMIN_CONNS; i++)
		if (a->c[i].fd >= 0)
			fds[n++] = (struct pollfd){.fd = a->c[i].fd, .events = POLLIN};
	return n;
}

/* A growing response body; past its size, output is cut, never overflows. */
struct text {
	size_t len;
	char buf[65536];
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len = t->len + (size_t)n < sizeof t->buf ? t->len + (size_t)n : sizeof t->buf - 1;
}

static void metric(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static long rss_bytes(pid_t pid)
{
	char path[64];
	long pages = 0, rss = 0;
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "re");
	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	if (f)
		fclose(f);
	return rss * sysconf(_SC_PAGESIZE);
}

/* buckets: one per observation (not cumulative), count of them all, sum in microseconds. */
static void histogram(struct text *t, const char *name, const char *help, const atomic_ulong *buckets,
		      unsigned long count, unsigned long long sum_us)
{
	unsigned long cumulative = 0;
	metric(t, name, "histogram", help);
	for (int b = 0; b < SLOT_BUCKETS; b++) {
		cumulative += buckets[b];
		put(t, "%s_bucket{le=\"%g\"} %lu\n", name, slot_bucket_le[b], cumulative);
	}
	put(t, "%s_bucket{le=\"+Inf\"} %lu\n", name, count);
	put(t, "%s_sum %.6f\n", name, sum_us / 1e6);
	put(t, "%s_count %lu\n", name, count);
}

static void requests(struct text *t, const struct slot_shared *sum)
{
	static const char *const classes[SLOT_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	metric(t, "wsginit_requests_total", "counter",
	       "Responses, by who answered (app, static, health, refused), method and status class.");
	unsigned long total = 0;
	for (int h = 0; h < SLOT_HANDLERS; h++)
		for (int m = 0; m < SLOT_METHODS; m++)
			for (int c = 0; c < SLOT_CLASSES; c++) {
				unsigned long n = sum->requests[h][m][c];
				total += n;
				if (n)
					put(t, "wsginit_requests_total{handler=\"%s\",method=\"%s\",status=\"%s\"} %lu\n",
					    slot_handler_names[h], slot_method_names[m], classes[c], n);
			}
	histogram(t, "wsginit_request_duration_seconds", "Time from a complete request to its last byte sent.",
		  sum->buckets, total, sum->duration_us);
	histogram(t, "wsginit_request_queue_seconds",
		  "Time app requests waited before the app was called: for an app thread, and before wsginit "
		  "by a trusted proxy's X-Request-Start.", sum->queue_buckets, sum->queued, sum->queue_us);
	metric(t, "wsginit_requests_in_flight", "gauge", "Requests the app is running now.");
	put(t, "wsginit_requests_in_flight %d\n", (int)sum->in_flight);
	metric(t, "wsginit_response_body_bytes_total", "counter", "Response body bytes sent.");
	put(t, "wsginit_response_body_bytes_total %llu\n", (unsigned long long)sum->bytes_sent);
}

static void workers(struct text *t, const struct admin_view *v)
{
	static const char *const reasons[RESTART_REASONS] = {"timeout", "crash", "max_requests", "reload", "rss"};
	metric(t, "wsginit_workers", "gauge", "Worker processes alive.");
	put(t, "wsginit_workers %d\n", v->nworkers);
	metric(t, "wsginit_worker_restarts_total", "counter", "Workers replaced, by reason.");
	for (int r = 0; r < RESTART_REASONS; r++)
		put(t, "wsginit_worker_restarts_total{reason=\"%s\"} %lu\n", reasons[r], v->restarts[r]);
	metric(t, "wsginit_worker_resident_memory_bytes", "gauge", "Resident memory of each worker.");
	for (int i = 0; i < v->nworkers; i++)
		put(t, "wsginit_worker_resident_memory_bytes{worker=\"%d\",pid=\"%d\"} %ld\n", v->numbers[i],
		    (int)v->pids[i], rss_bytes(v->pids[i]));
	metric(t, "wsginit_listen_backlog", "gauge", "Connections waiting in the listen backlog.");
	for (int i = 0; i < v->nls; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof ti;
		if (!v->ls[i].unix_socket && getsockopt(v->ls[i].fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			put(t, "wsginit_listen_backlog{listener=\"%s\"} %u\n", v->ls[i].text, ti.tcpi_unacked);
	}
	metric(t, "process_start_time_seconds", "gauge", "Start time of the master since the epoch.");
	put(t, "process_start_time_seconds %.3f\n", v->start_time);
}

static void render_metrics(struct text *t, const struct admin_view *v)
{
	struct slot_shared sum;
	memset(&sum, 0, sizeof sum);
	slots_add(&sum, v->retired);
	for (int i = 0; i < SLOTS_MAX; i++)
		slots_add(&sum, &v->board->slot[i]);
	requests(t, &sum);
	workers(t, v);
}

static void answer(struct client *c, const struct admin_view *v)
{
	static struct text body; /* the master is single-threaded */
	int status = 404;
	const char *type = "text/plain", *path = c->buf + strcspn(c->buf, " ") + 1;
	body.len = 0;
	bool get = !strncmp(c->buf, "GET ", 4), head = !strncmp(c->buf, "HEAD ", 5);
	size_t plen = strcspn(path, " ?\r\n");
	if (!get && !head) {
		status = 405;
		put(&body, "method not allowed\n");
	} else if (plen == 6 && !strncmp(path, "/livez", 6)) {
		status = v->live ? 200 : 503;
		put(&body, v->live ? "ok\n" : "no worker has beaten within TIMEOUT\n");
	} else if (plen == 7 && !strncmp(path, "/readyz", 7)) {
		status = v->ready ? 200 : 503;
		put(&body, v->ready ? "ok\n" : "not ready\n");
	} else if (plen == 8 && !strncmp(path, "/metrics", 8)) {
		status = 200;
		type = "text/plain; version=0.0.4; charset=utf-8";
		render_metrics(&body, v);
	} else {
		put(&body, "not found\n");
	}
	/* Best effort in one go: a client that does not read just loses the answer. */
	static struct response r;
	response_begin(&r, head ? HTTP_HEAD : HTTP_GET, 1, false);
	response_status_code(&r, status);
	response_header(&r, "Content-Type", 12, type, strlen(type));
	response_head_end(&r, true, body.len);
	response_add_mem(&r, body.buf, body.len, NULL, NULL);
	response_end(&r);
	if (response_write(&r, c->fd) != RESPONSE_DONE)
		log_msg(LOG_DEBUG, "admin: the answer did not fit at once");
}

static void drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
}

static void accept_all(struct admin *a, double now)
{
	int fd;
	while ((fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		/* A free place, else the oldest client's: silent clients cannot
		 * lock probes out. */
		struct client *c = &a->c[0];
		for (int i = 0; i < ADMIN_CONNS && c->fd >= 0; i++)
			if (a->c[i].fd < 0 || a->c[i].deadline < c->deadline)
				c = &a->c[i];
		if (c->fd >= 0)
			drop(c);
		c->fd = fd;
		c->len = 0;
		c->buf[0] = 0;
		c->deadline = now + ADMIN_TIMEOUT;
	}
}

void admin_serve(struct admin *a, const struct pollfd *fds, int n, double now,
		 const struct admin_view *view)
{
	if (n > 0 && fds[0].revents)
		accept_all(a, now);
	for (int i = 0; i < ADMIN_CONNS; i++) {
		struct client *c = &a->c[i];
		if (c->fd < 0)
			continue;
		ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
		if (r > 0) {
			c->len += (size_t)r;
			c->buf[c->len] = 0;
		}
		if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n") || c->len == sizeof c->buf - 1) {
			answer(c, view);
			drop(c);
		} else if (r == 0 || (r < 0 && errno != EAGAIN) || now >= c->deadline) {
			drop(c);
		}
	}
}
