/* A client connection: its read buffer and parser, the response being
 * written, and its place in the worker's loop. */
#pragma once
#include "http.h"
#include "listen.h"
#include "loop.h"
#include "proxy.h"
#include "response.h"
#include "slots.h"
#include "trace.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#define REQUEST_TIMEOUT 10.0 /* headers from the first byte; body between reads */
#define SEND_TIMEOUT 30.0    /* a response write that makes no progress this long fails */

/* Where a connection is; each state has its own handler in the worker. */
enum conn_state {
	CONN_READING, /* waiting for (the rest of) a request: the loop reads */
	CONN_APP,     /* an app thread owns it */
	CONN_WRITING, /* the loop writes its response as the client drains */
	CONN_LINGER,  /* refused: reading what the client still sends, then closed */
};

struct conn {
	struct loop_io io; /* io.fd is the socket */
	struct loop_timer timer;
	enum conn_state state;
	enum slot_handler handler; /* who answered, for the access log and /metrics */
	const struct listener *listener;
	struct sockaddr_storage peer;
	char remote[INET6_ADDRSTRLEN]; /* peer address text, "" on unix sockets */
	char remote_port[8];
	char *buf;
	size_t len, cap;
	struct http_parser parser;
	struct proxy_view pv;     /* the request seen through trusted proxies */
	struct response resp;
	struct timespec start;    /* CLOCK_REALTIME when the request was complete */
	struct trace trace;       /* its request ID, traceparent ids and queue time */
	struct conn *qnext;       /* in the app-thread queues */
	bool continue_sent;
};

/* Waits until fd takes more bytes; -1 past SEND_TIMEOUT or on error. */
int conn_wait_writable(int fd);
