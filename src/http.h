/* HTTP/1.1 request parsing on llhttp (strict), with the limits and checks
 * llhttp lacks. Knows nothing of Python: the request is slices of the read
 * buffer, so this module can be unit-tested and fuzzed on its own. */
#pragma once
#include "body.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_limits {
	int line;       /* request line bytes (414) */
	int fields;     /* header count (431) */
	int field_size; /* name + value bytes (431) */
	uint64_t body;  /* body bytes (413) */
};

/* Bytes [off, off+len) of the read buffer. */
struct http_slice {
	uint32_t off, len;
};

struct http_header {
	struct http_slice name, value;
};

struct http_request {
	int method; /* enum llhttp_method */
	int minor;  /* HTTP/1.minor */
	bool keep_alive;
	bool expect_continue; /* the client waits for "100 Continue" */
	bool chunked;
	struct http_slice target;     /* as sent */
	struct http_slice path;       /* still percent-encoded, no query or fragment */
	struct http_slice query;      /* raw, without '?' */
	struct http_header *headers;  /* names with '_' already dropped */
	int nheaders;
	int host;                     /* index of the Host header, or -1 */
	struct body body;
};

enum http_result { HTTP_MORE, HTTP_DONE, HTTP_ERROR };

struct http_parser {
	llhttp_t ll;
	const struct http_limits *limits;
	struct http_request req;
	const char *base;    /* the buffer during http_parse() */
	size_t parsed;       /* buffer bytes fed to llhttp */
	size_t head_end;     /* end of the header block, once in the body */
	int state;
	int status;          /* the 4xx/5xx for HTTP_ERROR */
	const char *reason;  /* why, for the debug log */
	int line_len, fields, te, ctype, expect;
	uint64_t chunk_left;  /* data bytes left in the current chunk */
	int crlf;             /* 1: '\r' then '\n' due after chunk data, 2: '\n' due */
	const char *exec_end; /* end of the bytes given to llhttp_execute() */
	bool field_open, value_open;
	bool resumed;
};

/* Prepares a parser; http_free() releases it. */
void http_init(struct http_parser *p, const struct http_limits *limits);
void http_free(struct http_parser *p);
/* Readies p, between two requests, for the first request of any connection:
 * as http_init() left it (llhttp's state too: a trailer can have closed its
 * connection), keeping its buffers. */
void http_reuse(struct http_parser *p);

/* Parses buf[p->parsed, *len). Body bytes are moved into req.body, and *len
 * may shrink as they are. HTTP_DONE: req is complete and buf[p->parsed, *len)
 * is the next pipelined request. HTTP_ERROR: send p->status and close. */
enum http_result http_parse(struct http_parser *p, char *buf, size_t *len);

/* After HTTP_DONE and the response: moves the pipelined bytes to the front
 * of buf, resets for the next request and returns the new length. */
size_t http_next(struct http_parser *p, char *buf, size_t len);

/* True once a request has begun (some of its bytes arrived). */
bool http_started(const struct http_parser *p);
/* True while the request's body is being read. */
bool http_in_body(const struct http_parser *p);

/* Percent-decodes in[0..n) into out (at least n bytes); returns its length. */
size_t http_decode_path(const char *in, size_t n, char *out);

/* The reason phrase of a status code ("Unknown" when not known). */
const char *http_reason(int status);

/* The current IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars), cached per second. */
const char *http_date(void);
