/* The response writer: the one place a response's head and framing are made
 * and its bytes written, for app responses, static files, refusals,
 * HEALTH_PATH and admin answers alike. No Python: a body is a queue of
 * sources (memory slices released through a callback, file ranges sent with
 * sendfile), written without blocking as the socket drains. */
#pragma once
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Called once a slice is written or dropped (any thread; the writer holds no lock). */
typedef void response_release_fn(void *ctx);

/* RESPONSE_BUFFER: the memory a worker's queued responses keep alive, and
 * its cap. The owner of that memory counts it (a slice does not know whether
 * other responses share its bytes). */
struct response_budget {
	atomic_size_t held;
	size_t limit;
};

/* One source of body bytes; the queue's own, not to be touched outside. */
struct response_src {
	enum { SRC_MEM, SRC_FRAMING, SRC_FILE } kind;
	const char *p;   /* SRC_MEM */
	char text[24];   /* SRC_FRAMING: "\r\n" ending a chunk, the next one's size */
	uint8_t tlen;
	int fd;          /* SRC_FILE: owned, closed once sent or dropped */
	off_t off;
	uint64_t left;   /* bytes still to write */
	response_release_fn *release;
	void *ctx;
};

enum response_framing { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

/* What response_write() came to. */
enum response_progress {
	RESPONSE_DONE,    /* every byte is out and the producer has ended */
	RESPONSE_BLOCKED, /* the socket is full: write again when it is writable */
	RESPONSE_DRAINED, /* all queued bytes are out; the producer has not ended */
	RESPONSE_FAILED,  /* the client is gone (or a file shrank): close */
};

/* Why response_status()/response_header() refused what they were given. */
enum response_refusal {
	REFUSE_NONE,
	REFUSE_STATUS,       /* not "NNN Reason" with NNN in 100..599 */
	REFUSE_FIELD,        /* a name that is not a token, or CR/LF/NUL/controls in a value */
	REFUSE_HOP_BY_HOP,   /* Connection, Transfer-Encoding, ...: the server's to set */
	REFUSE_LENGTH,       /* Content-Length that is not a plain number */
};

struct response {
	struct response_budget *budget;
	int status;
	bool head_req;        /* a HEAD request: the body is never sent */
	bool http10;
	bool keep;            /* the connection may carry another request */
	bool stream;          /* X-Accel-Buffering: no */
	bool head_done;       /* framing decided, head complete */
	bool ended;           /* the producer added its last byte */
	bool chunk_open;      /* a chunk's data went out without its closing CRLF */
	bool cut;             /* abandoned: nothing more goes out, the connection closes */
	bool has_length, has_date, has_server, has_request_id;
	const char *request_id; /* sent as X-Request-ID unless the producer set one */
	size_t request_id_len;
	enum response_framing framing;
	uint64_t length;      /* the Content-Length sent, under FRAME_LENGTH */
	uint64_t queued;      /* body bytes accepted */
	uint64_t sent;        /* body bytes written to the socket */
	char *head;           /* status line and header block */
	size_t head_len, head_cap, head_sent;
	struct response_src *q;
	size_t qhead, qlen, qcap;
};

void response_init(struct response *r, struct response_budget *budget);
/* Drops what is queued (releasing it) and frees the buffers. */
void response_free(struct response *r);

/* Starts the response to a request (method: llhttp's; minor: HTTP/1.minor).
 * keep: the request allows another after it. What the last one left queued
 * is dropped. A status comes next, then headers. */
void response_begin(struct response *r, int method, int minor, bool keep);

/* REQUEST_ID: the head gets X-Request-ID: id (kept by reference until the
 * head is complete), unless the producer sets its own. */
void response_request_id(struct response *r, const char *id, size_t n);

/* The status line from "NNN Reason" (the app's text), or from a code. */
enum response_refusal response_status(struct response *r, const char *line, size_t n);
void response_status_code(struct response *r, int code);

/* Adds a header after validating it; Content-Length is remembered and
 * X-Accel-Buffering taken (never sent). */
enum response_refusal response_header(struct response *r, const char *name, size_t nn,
				      const char *value, size_t vn);

/* Completes the head: Server, Date, the framing (Content-Length when the
 * length is known, else chunked on HTTP/1.1, else close-delimited) and
 * Connection. Adding body or ending does it when it was not done. */
void response_head_end(struct response *r, bool known, uint64_t length);

/* Queues n bytes at p; release(ctx) runs when they are written or dropped.
 * A body past the Content-Length given is cut; HEAD and 1xx/204/304 drop it. */
void response_add_mem(struct response *r, const void *p, size_t n, response_release_fn *release, void *ctx);
/* Queues n bytes of file fd from off, sent with sendfile; fd is the
 * response's now (closed once sent or dropped). */
void response_add_file(struct response *r, int fd, off_t off, uint64_t n);
/* The producer is done: a length never announced becomes Content-Length
 * when the head is still ours, else the last chunk is queued; a body short
 * of its Content-Length makes the connection close. */
void response_end(struct response *r);

/* Ends a short answer whose status and headers are set: the body is the
 * status's reason and a newline. */
void response_reason_body(struct response *r);

/* A complete text/plain error answer that closes the connection, replacing
 * whatever was queued; false (and nothing changed) once bytes are on the wire. */
bool response_error(struct response *r, int status);

/* Abandons the response mid-way (the client must not take a partial body
 * for whole): drops the queue; the connection closes. */
void response_cut(struct response *r);

/* Writes what it can without blocking. sendfile has no MSG_NOSIGNAL: the
 * caller ignores SIGPIPE. */
enum response_progress response_write(struct response *r, int fd);

/* True once some byte of this response has been written. */
bool response_on_wire(const struct response *r);
/* True when the worker holds more memory for clients than RESPONSE_BUFFER. */
bool response_over_budget(const struct response *r);
