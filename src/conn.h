/* A client connection: its place in the worker's loop and, while a request
 * is under way, its read buffer, parser and response. */
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

/* A request from its first byte to the end of its response: what a
 * connection holds only while it has one (an idle keep-alive connection
 * holds none), from the worker's pool. */
struct exchange {
	struct http_parser parser;
	struct proxy_view pv;      /* the request seen through trusted proxies */
	struct response resp;
	struct timespec start;     /* CLOCK_REALTIME when the request was complete */
	int64_t took_us;           /* its response's time, when an app thread saw it end; else -1 */
	struct trace trace;        /* its request ID, traceparent ids and queue time */
	enum slot_handler handler; /* who answered, for the access log and /metrics */
	bool continue_sent;
	struct exchange *next_spare; /* in the worker's pool */
};

struct conn {
	struct loop_io io; /* io.fd is the socket */
	struct loop_timer timer;
	enum conn_state state;
	bool unread;       /* the socket may hold input not read yet (under mu while an app thread has it) */
	bool hup;          /* the peer closed its side or the socket failed: read to the end */
	const struct listener *listener;
	struct exchange *ex; /* NULL while idle, with buf */
	char *buf;
	size_t len, cap;
	struct conn *qnext; /* in the app-thread queues */
	struct sockaddr_in6 peer; /* an AF_INET address fits; AF_UNIX keeps its family */
	char remote[INET6_ADDRSTRLEN]; /* peer address text, "" on unix sockets */
	char remote_port[8];
};

/* Waits until fd takes more bytes; -1 past SEND_TIMEOUT or on error. */
int conn_wait_writable(int fd);
