/* Request parsing: llhttp callbacks fill struct http_request with slices of
 * the read buffer; what llhttp 8.1 accepts but a server must refuse is
 * refused here (docs/llhttp-8.1.md: what llhttp does and what it leaves to us). */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum { IDLE, HEAD, BODY, DONE, FAILED };

#define P(ll) ((struct http_parser *)(ll)->data)
#define OFF(p, at) ((uint32_t)((at) - (p)->base))

/* Marks the request as refused with status; llhttp stops at HPE_USER. */
static int refuse(struct http_parser *p, int status, const char *reason)
{
	p->status = status;
	p->reason = reason;
	return HPE_USER;
}

static int on_message_begin(llhttp_t *ll)
{
	struct http_parser *p = P(ll);
	p->state = HEAD;
	p->line_len = 7; /* the two spaces and "HTTP/": spans give the rest */
	return 0;
}

static int on_method(llhttp_t *ll, const char *at, size_t n)
{
	(void)at;
	P(ll)->line_len += (int)n;
	return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *p = P(ll);
	if (!p->req.target.len)
		p->req.target.off = OFF(p, at);
	p->req.target.len += (uint32_t)n;
	p->line_len += (int)n;
	return p->line_len > p->limits->line ? refuse(p, 414, "request line too long") : 0;
}

static int on_version(llhttp_t *ll, const char *at, size_t n)
{
	(void)at;
	struct http_parser *p = P(ll);
	p->line_len += (int)n;
	return p->line_len > p->limits->line ? refuse(p, 414, "request line too long") : 0;
}

static int on_version_complete(llhttp_t *ll)
{
	if (ll->http_major != 1 || ll->http_minor > 1)
		return refuse(P(ll), 505, "HTTP version not supported");
	return 0;
}

static bool in_trailers(const struct http_parser *p)
{
	return p->state == BODY;
}

/* A data piece of a name or value: the first one starts the slice, the next
 * ones must follow it in the buffer (anything else is an obs-fold). */
static int extend(struct http_parser *p, struct http_slice *s, bool *open, const char *at, size_t n)
{
	if (!*open) {
		s->off = OFF(p, at);
		s->len = 0;
		*open = true;
	} else if (n && OFF(p, at) != s->off + s->len) {
		return refuse(p, 400, "folded header line");
	}
	s->len += (uint32_t)n;
	return 0;
}

static struct http_header *current(struct http_parser *p)
{
	return &p->req.headers[p->req.nheaders];
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *p = P(ll);
	struct http_header *h = current(p);
	if (!p->field_open && ++p->fields > p->limits->fields)
		return refuse(p, 431, "too many header fields");
	if (in_trailers(p)) /* only sized: trailer bytes leave the buffer between reads */
		at = p->base + h->name.off + h->name.len;
	if (extend(p, &h->name, &p->field_open, at, n))
		return HPE_USER;
	if ((int)h->name.len > p->limits->field_size)
		return refuse(p, 431, "header field too large");
	return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
	struct http_parser *p = P(ll);
	p->value_open = false;
	current(p)->value = (struct http_slice){0, 0};
	return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *p = P(ll);
	struct http_header *h = current(p);
	if (in_trailers(p) && p->value_open)
		at = p->base + h->value.off + h->value.len;
	if (extend(p, &h->value, &p->value_open, at, n))
		return HPE_USER;
	if ((int)(h->name.len + h->value.len) > p->limits->field_size)
		return refuse(p, 431, "header field too large");
	return 0;
}

static bool is_tchar(unsigned char c)
{
	/* RFC 9110 token: ALPHA / DIGIT / !#$%&'*+-.^_`|~ */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool name_is(const struct http_parser *p, const struct http_header *h, const char *name)
{
	size_t n = strlen(name);
	return h->name.len == n && !strncasecmp(p->base + h->name.off, name, n);
}

/* Remembers a header that must appear once, refusing a second one. */
static int once(struct http_parser *p, int *slot, const char *what)
{
	if (*slot >= 0)
		return refuse(p, 400, what);
	*slot = p->req.nheaders;
	return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
	struct http_parser *p = P(ll);
	struct http_header *h = current(p);
	const char *name = p->base + h->name.off;
	p->field_open = false;
	if (in_trailers(p))
		return 0; /* trailers are counted, never kept */
	if (!h->name.len)
		return refuse(p, 400, "empty header name");
	bool drop = false;
	for (uint32_t i = 0; i < h->name.len; i++) {
		if (!is_tchar((unsigned char)name[i]))
			return refuse(p, 400, "invalid header name");
		drop |= name[i] == '_';
	}
	while (h->value.len && (p->base[h->value.off + h->value.len - 1] == ' ' ||
				p->base[h->value.off + h->value.len - 1] == '\t'))
		h->value.len--;
	if (drop)
		return 0; /* names with '_' could pass for '-' in environ: never trust them */
	int r = 0;
	if (name_is(p, h, "host"))
		r = once(p, &p->req.host, "duplicate Host");
	else if (name_is(p, h, "content-type"))
		r = once(p, &p->ctype, "duplicate Content-Type");
	else if (name_is(p, h, "transfer-encoding"))
		r = once(p, &p->te, "repeated Transfer-Encoding");
	else if (name_is(p, h, "expect"))
		r = once(p, &p->expect, "duplicate Expect");
	if (r)
		return r;
	p->req.nheaders++;
	return 0;
}

static bool value_is(const struct http_parser *p, int idx, const char *want)
{
	const struct http_header *h = &p->req.headers[idx];
	return h->value.len == strlen(want) && !strncasecmp(p->base + h->value.off, want, h->value.len);
}

/* Splits the target into path and query; refuses forms a WSGI app cannot take. */
static int check_target(struct http_parser *p)
{
	struct http_request *r = &p->req;
	const char *t = p->base + r->target.off;
	uint32_t n = r->target.len, start = 0;
	for (uint32_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= ' ' || t[i] == 0x7f)
			return refuse(p, 400, "control character in the request target");
	if (n == 1 && t[0] == '*')
		return r->method == HTTP_OPTIONS ? (r->path = r->target, 0)
						  : refuse(p, 400, "'*' target without OPTIONS");
	if (t[0] != '/') {
		size_t scheme = !strncasecmp(t, "http://", 7) ? 7 : !strncasecmp(t, "https://", 8) ? 8 : 0;
		if (!scheme)
			return refuse(p, 400, "invalid request target");
		const char *slash = memchr(t + scheme, '/', n - scheme);
		const char *end = memchr(t + scheme, '?', n - scheme);
		if (!slash || (end && end < slash))
			start = (uint32_t)(end ? end - t : n);
		else
			start = (uint32_t)(slash - t);
		if (start == scheme)
			return refuse(p, 400, "absolute target without a host");
	}
	const char *hash = memchr(t, '#', n);
	if (hash)
		n = (uint32_t)(hash - t);
	const char *q = memchr(t + start, '?', n - start);
	uint32_t pend = q ? (uint32_t)(q - t) : n;
	r->path = (struct http_slice){r->target.off + start, pend - start};
	r->query = q ? (struct http_slice){r->target.off + pend + 1, n - pend - 1}
		     : (struct http_slice){0, 0};
	return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
	struct http_parser *p = P(ll);
	struct http_request *r = &p->req;
	r->method = ll->method;
	r->minor = ll->http_minor;
	/* on_version_complete() refused the other versions: this line had none,
	 * which llhttp takes as HTTP/0.9 (no headers, no status line back). */
	if (ll->http_major != 1)
		return refuse(p, 400, "request line without an HTTP version");
	if (r->method == HTTP_CONNECT)
		return refuse(p, 405, "CONNECT");
	if (r->minor == 1 && p->req.host < 0)
		return refuse(p, 400, "HTTP/1.1 request without Host");
	if (check_target(p))
		return HPE_USER;
	if (p->te >= 0) { /* llhttp ignores an empty one and decodes it in HTTP/1.0 */
		if (r->minor == 0)
			return refuse(p, 400, "Transfer-Encoding in HTTP/1.0");
		if (!p->req.headers[p->te].value.len)
			return refuse(p, 400, "empty Transfer-Encoding");
		if (!(ll->flags & F_CHUNKED) || !value_is(p, p->te, "chunked"))
			return refuse(p, 501, "transfer coding not implemented");
	}
	r->chunked = ll->flags & F_CHUNKED;
	if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->limits->body)
		return refuse(p, 413, "Content-Length over MAX_BODY_SIZE");
	if (p->expect >= 0) {
		if (!value_is(p, p->expect, "100-continue"))
			return refuse(p, 417, "unsupported Expect");
		r->expect_continue = r->chunked || ll->content_length > 0;
	}
	ll->upgrade = 0; /* Upgrade is announced to the app, never switched to */
	r->keep_alive = llhttp_should_keep_alive(ll);
	p->state = BODY;
	return HPE_PAUSED; /* lets http_parse() note where the head ends */
}

/* llhttp 8.1 (not built in strict mode) skips the two bytes after chunk
 * data without looking: they must be CRLF, or "3\r\nabcXY0\r\n\r\n" would be
 * a body. Checks what of them lies in [q, end); the rest on the next read. */
static bool crlf_ok(struct http_parser *p, const char *q, const char *end)
{
	for (; p->crlf && q < end; q++, p->crlf = p->crlf == 1 ? 2 : 0)
		if (*q != (p->crlf == 1 ? '\r' : '\n'))
			return false;
	return true;
}

static int on_chunk_header(llhttp_t *ll)
{
	P(ll)->chunk_left = ll->content_length;
	return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
	struct http_parser *p = P(ll);
	if (p->req.chunked && (p->chunk_left -= n) == 0) {
		p->crlf = 1;
		if (!crlf_ok(p, at + n, p->exec_end))
			return refuse(p, 400, "chunk data not followed by CRLF");
	}
	if (p->req.body.len + n > p->limits->body)
		return refuse(p, 413, "body over MAX_BODY_SIZE");
	if (body_append(&p->req.body, at, n) < 0)
		return refuse(p, 500, "cannot store the body");
	return 0;
}

static int on_message_complete(llhttp_t *ll)
{
	struct http_parser *p = P(ll);
	p->state = DONE;
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_method = on_method,
	.on_url = on_url,
	.on_version = on_version,
	.on_version_complete = on_version_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_chunk_header = on_chunk_header,
	.on_message_complete = on_message_complete,
};

static void reset(struct http_parser *p)
{
	struct http_header *headers = p->req.headers;
	struct body body = p->req.body;
	body_reset(&body);
	memset(&p->req, 0, sizeof p->req);
	p->req.headers = headers;
	p->req.body = body;
	p->req.host = p->te = p->ctype = p->expect = -1;
	p->parsed = p->head_end = 0;
	p->state = IDLE;
	p->status = 0;
	p->reason = NULL;
	p->line_len = p->fields = 0;
	p->chunk_left = 0;
	p->crlf = 0;
	p->field_open = p->value_open = p->resumed = false;
}

void http_reuse(struct http_parser *p)
{
	llhttp_init(&p->ll, HTTP_REQUEST, &settings);
	p->ll.data = p;
	reset(p);
}

void http_init(struct http_parser *p, const struct http_limits *limits)
{
	memset(p, 0, sizeof *p);
	p->limits = limits;
	/* One spare slot: the header being parsed lives there until it is kept. */
	p->req.headers = calloc((size_t)limits->fields + 1, sizeof *p->req.headers);
	if (!p->req.headers)
		abort();
	body_init(&p->req.body);
	http_reuse(p);
}

void http_free(struct http_parser *p)
{
	body_free(&p->req.body);
	free(p->req.headers);
	p->req.headers = NULL;
}

static int status_of(struct http_parser *p, llhttp_errno_t e)
{
	if (p->status) /* refused by a callback: llhttp reports its own code for some */
		return p->status;
	if (e == HPE_INVALID_TRANSFER_ENCODING) /* a coding after chunked, or chunked twice */
		return p->te >= 0 ? 400 : 501;
	/* A well-formed version llhttp does not know ("1.2", "3.0"), unlike
	 * "Expected CRLF after version", is a version we do not support. */
	if (e == HPE_INVALID_VERSION && !strncmp(llhttp_get_error_reason(&p->ll), "Invalid", 7))
		return 505;
	return e == HPE_PAUSED_H2_UPGRADE ? 505 : 400;
}

/* llhttp takes a bare LF after the request line, a bare CR before the final
 * CRLF, and obs-fold after an empty value: only CRLF may end a line of the
 * head, and no line may start with whitespace. */
static const char *head_error(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) ||
		    (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
			return "bare CR or LF in the request head";
		if (p[i] == '\n' && i + 1 < n && (p[i + 1] == ' ' || p[i + 1] == '\t'))
			return "folded header line";
	}
	return NULL;
}

enum http_result http_parse(struct http_parser *p, char *buf, size_t *len)
{
	p->base = buf;
	for (;;) {
		if (p->parsed == *len && !p->resumed)
			return HTTP_MORE;
		p->resumed = false;
		p->exec_end = buf + *len;
		if (!crlf_ok(p, buf + p->parsed, p->exec_end)) {
			p->status = 400;
			p->reason = "chunk data not followed by CRLF";
			break;
		}
		llhttp_errno_t e = llhttp_execute(&p->ll, buf + p->parsed, *len - p->parsed);
		if (e == HPE_OK) {
			/* Body bytes are in req.body now: only the head must stay. */
			*len = p->parsed = p->state == BODY ? p->head_end : *len;
			return HTTP_MORE;
		}
		if (e != HPE_PAUSED)
			break;
		p->parsed = (size_t)(llhttp_get_error_pos(&p->ll) - buf);
		if (p->state == DONE)
			return body_finish(&p->req.body) < 0 ? (p->status = 500, HTTP_ERROR) : HTTP_DONE;
		p->head_end = p->parsed; /* paused at the end of the head */
		if ((p->reason = head_error(buf, p->head_end))) {
			p->status = 400;
			break;
		}
		llhttp_resume(&p->ll);
		p->resumed = true; /* a body-less message completes on the next execute */
	}
	llhttp_errno_t e = llhttp_get_errno(&p->ll);
	p->status = status_of(p, e);
	if (!p->reason)
		p->reason = llhttp_get_error_reason(&p->ll);
	p->state = FAILED;
	return HTTP_ERROR;
}

size_t http_next(struct http_parser *p, char *buf, size_t len)
{
	size_t rest = len - p->parsed;
	memmove(buf, buf + p->parsed, rest);
	reset(p);
	llhttp_resume(&p->ll);
	p->resumed = true; /* see the notes: a message that ended the buffer */
	return rest;
}

bool http_started(const struct http_parser *p)
{
	return p->state != IDLE || p->parsed > 0;
}

bool http_in_body(const struct http_parser *p)
{
	return p->state == BODY;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t http_decode_path(const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (in[i] == '%' && i + 2 < n &&
		    (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

const char *http_date(void)
{
	static __thread char buf[32];
	static __thread time_t last;
	time_t now = time(NULL);
	if (now != last) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		last = now;
	}
	return buf;
}
