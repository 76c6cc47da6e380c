/* Binding: SO_REUSEADDR, TCP_NODELAY set once on the listener (accepted
 * sockets inherit it), unix sockets replacing a stale socket file. */
#include "listen.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define BACKLOG 2048

static void describe(struct listener *l, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, l->host, sizeof l->host);
		snprintf(l->port, sizeof l->port, "%u", ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, l->host, sizeof l->host);
		snprintf(l->port, sizeof l->port, "%u", ntohs(in6->sin6_port));
	} else {
		snprintf(l->host, sizeof l->host, "localhost");
		l->port[0] = 0;
		l->unix_socket = true;
	}
}

static int open_one(const struct config_addr *a, struct listener *l)
{
	int family = a->sa.ss_family, one = 1;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (family == AF_UNIX) {
		const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
		struct stat st;
		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 || listen(fd, BACKLOG) < 0)
		goto fail;
	l->fd = fd;
	l->text = a->text;
	describe(l, fd);
	return 0;
fail:
	log_msg(LOG_CRITICAL, "cannot listen on %s: %s", a->text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int listen_open(const struct config *cfg, struct listener *out)
{
	for (int i = 0; i < cfg->nbinds; i++) {
		if (open_one(&cfg->binds[i], &out[i]) < 0) {
			while (i--)
				close(out[i].fd);
			return -1;
		}
		log_msg(LOG_INFO, "Listening at: %s%s", out[i].unix_socket ? "" : "http://",
			cfg->binds[i].text);
	}
	return cfg->nbinds;
}
