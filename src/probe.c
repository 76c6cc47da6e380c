/* The probe: one request with one deadline for connect, send and the status
 * line, so a hung server fails the probe in PROBE_TIMEOUT_MS, not later. */
#include "probe.h"

#include "config.h"
#include "master.h"
#include "slots.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 5000

/* What to ask and what counts as healthy. */
struct target {
	struct config_addr addr;
	char host[160]; /* the Host header */
	const char *path;
	char shown[700]; /* for the reason line */
	bool any_status; /* any status line is healthy, not only 2xx */
};

/* 0 when fd is ready for events before the deadline, else -1 with errno. */
static int wait_for(int fd, short events, long long deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	long long left = deadline - slots_now_ms();
	int n = left > 0 ? poll(&p, 1, (int)left) : 0;
	if (n == 0)
		errno = ETIMEDOUT;
	return n == 1 ? 0 : -1;
}

static int connect_by(int fd, const struct config_addr *a, long long deadline)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS || wait_for(fd, POLLOUT, deadline) < 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return errno = err ? err : errno, -1;
	return 0;
}

/* Reads until the status line is in (or the buffer is full); its length, or -1. */
static ssize_t read_status_line(int fd, char *buf, size_t size, long long deadline)
{
	size_t got = 0;
	while (got < size - 1 && !memchr(buf, '\n', got)) {
		if (wait_for(fd, POLLIN, deadline) < 0)
			return -1;
		ssize_t r = recv(fd, buf + got, size - 1 - got, 0);
		if (r < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (r == 0)
			break;
		got += r > 0 ? (size_t)r : 0;
	}
	buf[got] = 0;
	return (ssize_t)got;
}

/* The code of "HTTP/1.x NNN " or "HTTP/1.x NNN\r", else -1. */
static int status_code(const char *line)
{
	const char *c = line + 9;
	if (strncmp(line, "HTTP/1.", 7) || !isdigit((unsigned char)line[7]) || line[8] != ' ' ||
	    c[0] < '1' || c[0] > '5' || !isdigit((unsigned char)c[1]) || !isdigit((unsigned char)c[2]) ||
	    (c[3] != ' ' && c[3] != '\r'))
		return -1;
	return (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
}

/* GETs the target; the status, or -1 with the reason on stderr. */
static int ask(const struct target *t)
{
	char req[1024], resp[128];
	long long deadline = slots_now_ms() + PROBE_TIMEOUT_MS;
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wsginit-probe\r\nConnection: close\r\n\r\n",
			 t->path, t->host);
	if (n < 0 || (size_t)n >= sizeof req) {
		fprintf(stderr, "wsginit --probe: %s: the path is too long\n", t->shown);
		return -1;
	}
	int fd = socket(t->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), status = 0;
	ssize_t got = -1;
	if (fd >= 0 && connect_by(fd, &t->addr, deadline) == 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n)
		got = read_status_line(fd, resp, sizeof resp, deadline);
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (got < 0) {
		if (err == ETIMEDOUT)
			fprintf(stderr, "wsginit --probe: %s: no answer within %d s\n", t->shown,
				PROBE_TIMEOUT_MS / 1000);
		else
			fprintf(stderr, "wsginit --probe: %s: %s\n", t->shown, strerror(err));
		return -1;
	}
	if ((status = status_code(resp)) < 0) {
		fprintf(stderr, "wsginit --probe: %s: %s\n", t->shown,
			got ? "not an HTTP answer" : "closed without an answer");
		return -1;
	}
	return status;
}

static int verdict(const struct target *t)
{
	int status = ask(t);
	if (status < 0)
		return 1;
	printf("%d\n", status);
	return t->any_status || (status >= 200 && status < 300) ? 0 : 1;
}

/* A wildcard bind address is probed on loopback; Host and shown text say
 * where the request actually went. */
static void aim(struct target *t, const struct config_addr *a, const char *path, const char *why)
{
	char ip[INET6_ADDRSTRLEN] = "";
	t->addr = *a;
	t->path = path;
	if (a->sa.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&t->addr.sa;
		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(t->host, sizeof t->host, "%s:%u", ip, ntohs(in->sin_port));
	} else if (a->sa.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr.sa;
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(t->host, sizeof t->host, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(t->host, sizeof t->host, "localhost");
	}
	snprintf(t->shown, sizeof t->shown, "GET %s on %s (%s)", path,
		 a->sa.ss_family == AF_UNIX ? a->text : t->host, why);
}

int probe_run(const char *url)
{
	static struct target t;
	char hostport[160];
	if (strncmp(url, "http://", 7)) {
		fprintf(stderr, "wsginit --probe: expected http://host:port/path, got %s\n", url);
		return 1;
	}
	const char *host = url + 7, *path = strchr(host, '/');
	size_t hn = path ? (size_t)(path - host) : strlen(host);
	snprintf(hostport, sizeof hostport, "%.*s", (int)hn, host);
	if (config_parse_addr(hostport, &t.addr) < 0) {
		fprintf(stderr, "wsginit --probe: cannot resolve %s\n", hostport);
		return 1;
	}
	t.path = path ? path : "/";
	snprintf(t.host, sizeof t.host, "%s", hostport);
	snprintf(t.shown, sizeof t.shown, "%s", url);
	return verdict(&t);
}

int probe_config(void)
{
	static struct config cfg;
	static struct target t;
	char err[512];
	if (config_load(&cfg, err, sizeof err) < 0) {
		fprintf(stderr, "wsginit: %s\n", err);
		return EXIT_CONFIG;
	}
	if (cfg.admin_set) {
		aim(&t, &cfg.admin_bind, "/readyz", "ADMIN_BIND");
	} else if (cfg.health_path) {
		aim(&t, &cfg.binds[0], cfg.health_path, "HEALTH_PATH");
	} else {
		aim(&t, &cfg.binds[0], "/", "any HTTP answer; no HEALTH_PATH");
		t.any_status = true;
	}
	return verdict(&t);
}
