/* Framing and non-blocking writes. Head, memory slices and chunk framing go
 * out together in one sendmsg; a file range follows with sendfile. */
#include "response.h"

#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define IOV_BATCH 64
#define SENDFILE_MAX (1 << 30)
#define SMALL_FILE (64 << 10)

/* A header name with its length. */
#define NAME(s) s, sizeof s - 1

static void head_add(struct response *r, const char *s, size_t n)
{
	if (r->head_len + n > r->head_cap) {
		size_t cap = r->head_cap ? r->head_cap : 512;
		while (cap < r->head_len + n)
			cap *= 2;
		if (!(r->head = realloc(r->head, cap)))
			abort();
		r->head_cap = cap;
	}
	memcpy(r->head + r->head_len, s, n);
	r->head_len += n;
}

static void head_adds(struct response *r, const char *s)
{
	head_add(r, s, strlen(s));
}

/* ---------- the queue ---------- */

static struct response_src *push(struct response *r)
{
	if (r->qlen == r->qcap) {
		if (r->qhead) {
			memmove(r->q, r->q + r->qhead, (r->qlen - r->qhead) * sizeof *r->q);
			r->qlen -= r->qhead;
			r->qhead = 0;
		} else {
			r->qcap = r->qcap ? r->qcap * 2 : 8;
			if (!(r->q = realloc(r->q, r->qcap * sizeof *r->q)))
				abort();
		}
	}
	struct response_src *s = &r->q[r->qlen++];
	memset(s, 0, sizeof *s);
	s->fd = -1;
	return s;
}

static void release(struct response_src *s)
{
	if (s->release)
		s->release(s->ctx);
	if (s->fd >= 0)
		close(s->fd);
}

static void pop(struct response *r)
{
	release(&r->q[r->qhead++]);
	if (r->qhead == r->qlen)
		r->qhead = r->qlen = 0;
}

static void drop_all(struct response *r)
{
	while (r->qhead < r->qlen)
		pop(r);
}

/* Writes v in base 10 or 16 at p; returns the digits' count (at most 20).
 * printf is measurably slower per chunk and per response. */
static size_t put_uint(char *p, uint64_t v, unsigned base)
{
	char tmp[20];
	size_t n = 0;
	do
		tmp[n++] = "0123456789abcdef"[v % base];
	while ((v /= base));
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Chunk framing: the end of the previous chunk and the size of the next, as one piece. */
static void push_framing(struct response *r, uint64_t size, bool last)
{
	struct response_src *s = push(r);
	char *p = s->text;
	if (r->chunk_open)
		p = mempcpy(p, "\r\n", 2);
	p += put_uint(p, size, 16);
	p = mempcpy(p, last ? "\r\n\r\n" : "\r\n", last ? 4 : 2);
	s->kind = SRC_FRAMING;
	s->left = s->tlen = (uint8_t)(p - s->text);
	r->chunk_open = !last;
}

static const char *src_data(const struct response_src *s)
{
	return s->kind == SRC_FRAMING ? s->text + (s->tlen - s->left) : s->p;
}

/* ---------- the head ---------- */

static void reset_head(struct response *r)
{
	r->head_len = 0;
	r->has_length = r->has_date = r->has_server = r->has_request_id = r->stream = false;
	r->length = 0;
}

void response_init(struct response *r, struct response_budget *budget)
{
	memset(r, 0, sizeof *r);
	r->budget = budget;
}

void response_free(struct response *r)
{
	drop_all(r);
	free(r->q);
	free(r->head);
	response_init(r, r->budget);
}

void response_begin(struct response *r, int method, int minor, bool keep)
{
	drop_all(r);
	reset_head(r);
	r->status = 200;
	r->head_req = method == HTTP_HEAD;
	r->http10 = minor == 0;
	r->keep = keep;
	r->head_done = r->ended = r->chunk_open = r->cut = false;
	r->request_id = NULL;
	r->request_id_len = 0;
	r->framing = FRAME_NONE;
	r->queued = r->sent = 0;
	r->head_sent = 0;
}

static bool is_value(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool is_name(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

static bool is_hop_by_hop(const char *name, size_t n)
{
	static const struct { const char *name; size_t len; } hop[] = {
		{NAME("connection")}, {NAME("keep-alive")}, {NAME("proxy-authenticate")},
		{NAME("proxy-authorization")}, {NAME("te")}, {NAME("trailer")}, {NAME("trailers")},
		{NAME("transfer-encoding")}, {NAME("upgrade")}};
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (n == hop[i].len && !strncasecmp(name, hop[i].name, n))
			return true;
	return false;
}

static bool named(const char *name, size_t n, const char *want, size_t wn)
{
	return n == wn && !strncasecmp(name, want, n);
}

enum response_refusal response_status(struct response *r, const char *s, size_t n)
{
	if (n < 3 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (n > 3 && s[3] != ' ') || !is_value(s, n) || s[0] == '0' ||
	    s[0] > '5')
		return REFUSE_STATUS;
	reset_head(r);
	r->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	head_adds(r, "HTTP/1.1 ");
	head_add(r, s, n);
	head_add(r, n == 3 ? " \r\n" : "\r\n", n == 3 ? 3 : 2); /* the space is not optional */
	return REFUSE_NONE;
}

void response_request_id(struct response *r, const char *id, size_t n)
{
	r->request_id = id;
	r->request_id_len = n;
}

void response_status_code(struct response *r, int code)
{
	char line[96];
	int n = snprintf(line, sizeof line, "%d %s", code, http_reason(code));
	response_status(r, line, (size_t)n);
}

static bool parse_length(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	if (!n || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return true;
}

enum response_refusal response_header(struct response *r, const char *name, size_t nn,
				      const char *value, size_t vn)
{
	if (!is_name(name, nn) || !is_value(value, vn))
		return REFUSE_FIELD;
	if (is_hop_by_hop(name, nn))
		return REFUSE_HOP_BY_HOP;
	if (named(name, nn, NAME("x-accel-buffering"))) { /* nginx's convention, for us alone */
		r->stream = vn == 2 && !strncasecmp(value, "no", 2);
		return REFUSE_NONE;
	}
	if (named(name, nn, NAME("content-length"))) {
		uint64_t length;
		if (!parse_length(value, vn, &length) || (r->has_length && length != r->length))
			return REFUSE_LENGTH;
		if (r->has_length || r->status < 200 || r->status == 204)
			return REFUSE_NONE; /* a repeat, or a status that must not carry one (RFC 9110 §8.6) */
		r->length = length;
		r->has_length = true;
	}
	r->has_date |= named(name, nn, NAME("date"));
	r->has_server |= named(name, nn, NAME("server"));
	r->has_request_id |= named(name, nn, NAME("x-request-id"));
	head_add(r, name, nn);
	head_add(r, ": ", 2);
	head_add(r, value, vn);
	head_add(r, "\r\n", 2);
	return REFUSE_NONE;
}

static bool bodiless(const struct response *r)
{
	return r->head_req || r->status < 200 || r->status == 204 || r->status == 304;
}

void response_head_end(struct response *r, bool known, uint64_t length)
{
	char line[64];
	if (r->head_done)
		return;
	if (!r->has_server)
		head_adds(r, "Server: wsginit\r\n");
	if (r->request_id_len && !r->has_request_id) {
		head_adds(r, "X-Request-ID: ");
		head_add(r, r->request_id, r->request_id_len);
		head_add(r, "\r\n", 2);
	}
	if (!r->has_date) {
		head_adds(r, "Date: ");
		head_add(r, http_date(), 29);
		head_add(r, "\r\n", 2);
	}
	bool no_body = r->status < 200 || r->status == 204 || r->status == 304;
	if (no_body) {
		r->framing = FRAME_NONE;
	} else if (r->has_length) {
		r->framing = FRAME_LENGTH;
	} else if (known) {
		memcpy(line, "Content-Length: ", 16);
		size_t n = 16 + put_uint(line + 16, length, 10);
		head_add(r, line, n);
		head_add(r, "\r\n", 2);
		r->framing = FRAME_LENGTH;
		r->has_length = true;
		r->length = length;
	} else if (r->head_req) {
		r->framing = FRAME_NONE; /* a HEAD answer never has a body to frame */
	} else if (!r->http10) {
		head_adds(r, "Transfer-Encoding: chunked\r\n");
		r->framing = FRAME_CHUNKED;
	} else {
		r->framing = FRAME_CLOSE;
		r->keep = false;
	}
	if (!r->keep)
		head_adds(r, "Connection: close\r\n");
	else if (r->http10)
		head_adds(r, "Connection: keep-alive\r\n");
	head_add(r, "\r\n", 2);
	r->head_done = true;
}

/* ---------- the body ---------- */

/* How much of n bytes the body may still take. */
static uint64_t room(struct response *r, uint64_t n)
{
	if (r->ended)
		return 0;
	if (!r->head_done)
		response_head_end(r, false, 0);
	if (bodiless(r))
		return 0;
	if (r->framing == FRAME_LENGTH && n > r->length - r->queued)
		n = r->length - r->queued; /* never more than announced */
	if (n && r->framing == FRAME_CHUNKED)
		push_framing(r, n, false);
	r->queued += n;
	return n;
}

void response_add_mem(struct response *r, const void *p, size_t n, response_release_fn *release_fn, void *ctx)
{
	n = (size_t)room(r, n);
	if (!n) {
		if (release_fn)
			release_fn(ctx);
		return;
	}
	struct response_src *s = push(r);
	s->kind = SRC_MEM;
	s->p = p;
	s->left = n;
	s->release = release_fn;
	s->ctx = ctx;
}

void response_add_file(struct response *r, int fd, off_t off, uint64_t n)
{
	n = room(r, n);
	if (!n) {
		close(fd);
		return;
	}
	struct response_src *s = push(r);
	s->kind = SRC_FILE;
	s->fd = fd;
	s->off = off;
	s->left = n;
}

void response_end(struct response *r)
{
	if (r->ended)
		return;
	if (!r->head_done)
		response_head_end(r, true, 0);
	if (r->framing == FRAME_CHUNKED)
		push_framing(r, 0, true);
	if (r->framing == FRAME_LENGTH && r->queued < r->length && !bodiless(r))
		r->keep = false; /* a short body: closing is how the client learns */
	r->ended = true;
}

void response_reason_body(struct response *r)
{
	const char *reason = http_reason(r->status);
	response_head_end(r, true, strlen(reason) + 1);
	response_add_mem(r, reason, strlen(reason), NULL, NULL);
	response_add_mem(r, "\n", 1, NULL, NULL);
	response_end(r);
}

bool response_error(struct response *r, int status)
{
	if (response_on_wire(r))
		return false;
	drop_all(r);
	r->head_done = r->ended = r->chunk_open = false;
	r->queued = 0;
	r->keep = false;
	response_status_code(r, status);
	response_header(r, NAME("Content-Type"), NAME("text/plain"));
	response_reason_body(r);
	return true;
}

void response_cut(struct response *r)
{
	drop_all(r);
	r->cut = r->ended = true;
	r->keep = false;
}

/* ---------- writing ---------- */

/* Accounts for n bytes written from the head and the front of the queue. */
static void consume(struct response *r, size_t n)
{
	size_t h = r->head_len - r->head_sent;
	if (h) {
		h = n < h ? n : h;
		r->head_sent += h;
		n -= h;
	}
	while (n) {
		struct response_src *s = &r->q[r->qhead];
		size_t k = n < s->left ? n : (size_t)s->left;
		if (s->kind == SRC_MEM) {
			s->p += k;
			r->sent += k;
		}
		s->left -= k;
		n -= k;
		if (!s->left)
			pop(r);
	}
}

/* The head and the memory sources up to the next file, as one sendmsg. */
static enum response_progress write_mem(struct response *r, int fd)
{
	struct iovec iov[IOV_BATCH];
	size_t k = 0, total = 0, i = r->qhead;
	if (r->head_sent < r->head_len)
		iov[k++] = (struct iovec){r->head + r->head_sent, r->head_len - r->head_sent};
	for (; k < IOV_BATCH && i < r->qlen && r->q[i].kind != SRC_FILE; i++)
		iov[k++] = (struct iovec){(void *)src_data(&r->q[i]), (size_t)r->q[i].left};
	for (size_t j = 0; j < k; j++)
		total += iov[j].iov_len;
	/* A small file follows at once: the head waits to share its packet
	 * (measured: one transmission instead of two per small static file). */
	int more = i < r->qlen && r->q[i].kind == SRC_FILE && r->q[i].left <= SMALL_FILE ? MSG_MORE : 0;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = k};
	ssize_t n;
	while ((n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | more)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return errno == EAGAIN ? RESPONSE_BLOCKED : RESPONSE_FAILED;
	consume(r, (size_t)n);
	return (size_t)n < total ? RESPONSE_BLOCKED : RESPONSE_DRAINED;
}

static enum response_progress write_file(struct response *r, int fd)
{
	struct response_src *s = &r->q[r->qhead];
	size_t want = s->left < SENDFILE_MAX ? (size_t)s->left : SENDFILE_MAX;
	ssize_t n;
	while ((n = sendfile(fd, s->fd, &s->off, want)) < 0 && errno == EINTR)
		;
	if (n <= 0) /* 0: the file is shorter than announced */
		return n < 0 && errno == EAGAIN ? RESPONSE_BLOCKED : RESPONSE_FAILED;
	r->sent += (uint64_t)n;
	s->left -= (uint64_t)n;
	if (!s->left)
		pop(r);
	/* A short count is the socket full or the file shrunk: the next call
	 * tells which (EAGAIN or 0). The loop is edge-triggered: it waits for
	 * EPOLLOUT only after an EAGAIN. */
	return RESPONSE_DRAINED;
}

enum response_progress response_write(struct response *r, int fd)
{
	if (r->cut)
		return RESPONSE_FAILED;
	if (!r->head_done)
		return RESPONSE_DRAINED; /* nothing may go out before the head is whole */
	for (;;) {
		enum response_progress p;
		if (r->head_sent < r->head_len || (r->qhead < r->qlen && r->q[r->qhead].kind != SRC_FILE))
			p = write_mem(r, fd);
		else if (r->qhead < r->qlen)
			p = write_file(r, fd);
		else
			return r->ended ? RESPONSE_DONE : RESPONSE_DRAINED;
		if (p != RESPONSE_DRAINED)
			return p;
	}
}

bool response_on_wire(const struct response *r)
{
	return r->head_sent > 0;
}

bool response_over_budget(const struct response *r)
{
	return r->budget && atomic_load(&r->budget->held) > r->budget->limit;
}
