#include "probe.h"

#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 5000

static int wait_for(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, PROBE_TIMEOUT_MS) == 1 ? 0 : -1;
}

int probe_run(const char *url)
{
	char hostport[160], req[512], resp[64] = {0};
	struct config_addr addr;
	if (strncmp(url, "http://", 7)) {
		fprintf(stderr, "wsginit --probe: expected http://host:port/path, got %s\n", url);
		return 1;
	}
	const char *host = url + 7, *path = strchr(host, '/');
	size_t hn = path ? (size_t)(path - host) : strlen(host);
	snprintf(hostport, sizeof hostport, "%.*s", (int)hn, host);
	if (config_parse_addr(hostport, &addr) < 0) {
		fprintf(stderr, "wsginit --probe: cannot resolve %s\n", hostport);
		return 1;
	}
	int fd = socket(addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
			 path ? path : "/", hostport);
	connect(fd, (struct sockaddr *)&addr.sa, addr.len);
	ssize_t got = -1;
	if (fd >= 0 && wait_for(fd, POLLOUT) == 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n &&
	    wait_for(fd, POLLIN) == 0)
		got = recv(fd, resp, sizeof resp - 1, 0);
	if (fd >= 0)
		close(fd);
	int status = 0;
	if (got <= 0 || sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "wsginit --probe: no answer from %s\n", url);
		return 1;
	}
	printf("%d\n", status);
	return status >= 200 && status < 300 ? 0 : 1;
}
