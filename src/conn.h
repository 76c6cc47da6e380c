/* A client connection: its read buffer, its parser, and blocking-style
 * writes for the response (poll on EAGAIN, bounded by SEND_TIMEOUT). */
#pragma once
#include "http.h"
#include "listen.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define REQUEST_TIMEOUT 10.0 /* headers from the first byte; body between reads */
#define SEND_TIMEOUT_MS 30000

struct conn {
	int fd;
	const struct listener *listener;
	struct sockaddr_storage peer;
	char remote[INET6_ADDRSTRLEN]; /* peer address text, "" on unix sockets */
	char remote_port[8];
	char *buf;
	size_t len, cap;
	struct http_parser parser;
	/* Owned by the worker loop. */
	struct conn *prev, *next; /* in one timer list at most */
	struct conn *qnext;       /* in the app-thread queues */
	double deadline;
	int list;
	bool continue_sent, lingering, keep;
};

/* Writes all of iov; -1 when the client is gone or stops reading. */
int conn_writev(struct conn *c, struct iovec *iov, int n);

/* Sends n bytes of file fd from off; -1 as conn_writev. */
int conn_sendfile(struct conn *c, int fd, off_t off, size_t n);
