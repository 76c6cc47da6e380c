/* The one blocking wait of a response write: a direct write from the app
 * slot (X-Accel-Buffering: no, or past RESPONSE_BUFFER) waiting for the client. */
#include "conn.h"

#include <errno.h>
#include <poll.h>

int conn_wait_writable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int r;
	do
		r = poll(&p, 1, (int)(SEND_TIMEOUT * 1000));
	while (r < 0 && errno == EINTR);
	return r == 1 && !(p.revents & (POLLERR | POLLNVAL)) ? 0 : -1;
}
