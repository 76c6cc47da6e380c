/* The access log: gunicorn's atoms, or one JSON object per request. */
#pragma once
#include "config.h"
#include "http.h"
#include "trace.h"

#include <stdint.h>
#include <time.h>

struct access {
	const char *remote;          /* peer address text */
	const char *buf;             /* the read buffer the request slices point into */
	const struct http_request *req; /* NULL: refused before it was parsed */
	int status;
	uint64_t bytes;              /* body bytes sent */
	struct timespec start;       /* CLOCK_REALTIME when the request was complete */
	int64_t duration_us;
	const char *head;            /* the response head as sent, for {name}o */
	size_t head_len;
	const struct trace *trace;   /* request ID, traceparent ids, queue time; NULL: none */
};

/* Compiles ACCESS_LOG_FORMAT; -1 with a message in err when it is malformed. */
int accesslog_init(const struct config *cfg, char *err, size_t errlen);

/* Writes one line to stdout (nothing when ACCESS_LOG is off). */
void accesslog_write(const struct access *a);

/* True when access lines are written. */
bool accesslog_enabled(void);
