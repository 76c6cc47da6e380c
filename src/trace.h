/* What ties a request to the rest of a system: its X-Request-ID
 * (REQUEST_ID), the ids of a W3C traceparent, and its queue time, with what
 * a trusted proxy's X-Request-Start says it waited before wsginit. Plain C
 * over the parsed request (values already trimmed of OWS by the parser), so
 * it is unit-tested and fuzzed on its own. */
#pragma once
#include "http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TRACE_ID_MAX 128                      /* longest X-Request-ID taken from a client */
#define TRACE_FRONT_MAX_US (3600 * 1000000LL) /* X-Request-Start further back is not believed */

/* Random bytes for request IDs, drawn from getrandom() a page at a time.
 * Zeroed, it is empty; one per process that makes IDs, never shared. */
struct trace_random {
	unsigned char buf[4096];
	size_t left; /* unused bytes at the end of buf */
};

struct trace {
	char request_id[TRACE_ID_MAX + 1]; /* "" when REQUEST_ID is off */
	size_t request_id_len;
	char trace_id[33], span_id[17]; /* "" unless the request had a valid traceparent */
	struct http_slice request_start; /* its X-Request-Start (the last line); len 0: none */
	int64_t front_us; /* waited before wsginit, by a trusted X-Request-Start; else 0 */
	int64_t queue_us; /* waited before the app was called, front_us included; -1: not called */
};

/* True when s[0..n) is an X-Request-ID to keep: 1 to 128 of [A-Za-z0-9._:-]. */
bool trace_request_id_valid(const char *s, size_t n);

/* Writes a new request ID to out: 128 random bits as 32 lowercase hex digits, and a NUL. */
void trace_request_id_new(struct trace_random *rnd, char out[33]);

/* True when s[0..n) is a valid traceparent (W3C Trace Context level 1);
 * then its trace-id and parent-id are copied, NUL-terminated. */
bool trace_parent_parse(const char *s, size_t n, char trace_id[33], char span_id[17]);

/* X-Request-Start ("t=" optional, then seconds, milliseconds or microseconds
 * since the epoch, told apart by magnitude) in microseconds; -1 when it is none. */
int64_t trace_request_start(const char *s, size_t n);

/* Fills t for the request in buf (front_us 0, queue_us -1); rnd non-NULL:
 * REQUEST_ID is on, and IDs are made from it. */
void trace_begin(struct trace *t, const char *buf, const struct http_request *req, struct trace_random *rnd);

/* The peer is a trusted proxy: its X-Request-Start sets t->front_us, the
 * wait before the request was complete here at `arrived` (CLOCK_REALTIME). */
void trace_front(struct trace *t, const char *buf, const struct timespec *arrived);

/* The app is being called now: sets t->queue_us. */
void trace_app_called(struct trace *t, const struct timespec *arrived);
