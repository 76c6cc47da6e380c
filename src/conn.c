/* Response writes. Sockets stay non-blocking for the event loop, so a full
 * send buffer is waited out with poll(), never spun on. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <sys/sendfile.h>

static int wait_writable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int r;
	do
		r = poll(&p, 1, SEND_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	return r == 1 && !(p.revents & (POLLERR | POLLNVAL)) ? 0 : -1;
}

int conn_writev(struct conn *c, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || wait_writable(c->fd) < 0)
				return -1;
			continue;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int conn_sendfile(struct conn *c, int fd, off_t off, size_t n)
{
	while (n > 0) {
		ssize_t w = sendfile(c->fd, fd, &off, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || wait_writable(c->fd) < 0)
				return -1;
			continue;
		}
		if (w == 0)
			return -1; /* the file shrank under us */
		n -= (size_t)w;
	}
	return 0;
}
