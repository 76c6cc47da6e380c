/* The request parser, driven as src/worker.c drives it: bytes are appended
 * to a growable buffer, http_parse(p, buf, &len) runs after each append; on
 * HTTP_DONE the request is "served", then len = http_next(p, buf, len) and
 * http_parse runs again, even with len 0. */
#include "http.h"
#include "unit.h"

#include <fcntl.h>
#include <time.h>

static const struct http_limits limits = {4094, 100, 8190, 100u << 20};

/* ---------- driver ---------- */

struct conn {
	struct http_parser p;
	char *buf;
	size_t len, cap;
};

static void conn_init(struct conn *c, const struct http_limits *l)
{
	memset(c, 0, sizeof *c);
	http_init(&c->p, l);
}

static void conn_free(struct conn *c)
{
	http_free(&c->p);
	free(c->buf);
}

static void conn_append(struct conn *c, const char *data, size_t n)
{
	if (c->len + n > c->cap) {
		c->cap = (c->len + n) * 2 + 16;
		c->buf = realloc(c->buf, c->cap);
		if (!c->buf)
			abort();
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
}

static enum http_result conn_parse(struct conn *c)
{
	return http_parse(&c->p, c->buf, &c->len);
}

/* Bytes of a slice of the read buffer. */
#define SLICE(c, s) (int)(s).len, ((c)->buf + (s).off)
#define CHECK_SLICE(c, s, want) CHECK_EQ_MEM((c)->buf + (s).off, (s).len, want)

static uint64_t fnv(const char *p, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

/* One line describing a complete request. */
static void describe(FILE *out, const struct conn *c)
{
	const struct http_request *r = &c->p.req;
	fprintf(out, "%s %.*s path=%.*s query=%.*s 1.%d ka=%d ec=%d ch=%d host=%d", llhttp_method_name(r->method),
		SLICE(c, r->target), SLICE(c, r->path), SLICE(c, r->query), r->minor, r->keep_alive,
		r->expect_continue, r->chunked, r->host);
	for (int i = 0; i < r->nheaders; i++)
		fprintf(out, " [%.*s: %.*s]", SLICE(c, r->headers[i].name), SLICE(c, r->headers[i].value));
	fprintf(out, " body=%llu", (unsigned long long)r->body.len);
	if (r->body.len <= 64)
		fprintf(out, ":%.*s", (int)r->body.len, r->body.data);
	else
		fprintf(out, "#%016llx", (unsigned long long)fnv(r->body.data, r->body.len));
	fputc('\n', out);
}

/* Feeds in[0..n) in pieces ending at ends[] (then the rest), serving each
 * request; returns a transcript: a line per request, "ERROR status",
 * "CLOSE" after a request without keep-alive, "PARTIAL" for an unfinished
 * request. The caller frees it. */
static char *run_pieces(const struct http_limits *l, const char *in, size_t n, const size_t *ends,
			int nends)
{
	struct conn c;
	char *text = NULL;
	size_t textlen = 0;
	FILE *out = open_memstream(&text, &textlen);
	conn_init(&c, l);
	size_t done = 0;
	for (int i = 0; i <= nends; i++) {
		size_t end = i < nends ? ends[i] : n;
		if (end <= done || end > n)
			continue; /* like worker.c: parse after bytes arrive, not without */
		conn_append(&c, in + done, end - done);
		done = end;
		for (;;) {
			enum http_result r = conn_parse(&c);
			if (r == HTTP_MORE)
				break;
			if (r == HTTP_ERROR) {
				fprintf(out, "ERROR %d\n", c.p.status);
				goto out;
			}
			describe(out, &c);
			if (!c.p.req.keep_alive) {
				fprintf(out, "CLOSE\n");
				goto out;
			}
			c.len = http_next(&c.p, c.buf, c.len);
		}
	}
	if (http_started(&c.p))
		fprintf(out, "PARTIAL\n");
out:
	fclose(out);
	conn_free(&c);
	return text;
}

static char *run_whole(const struct http_limits *l, const char *in, size_t n)
{
	return run_pieces(l, in, n, NULL, 0);
}

static char *run_split(const struct http_limits *l, const char *in, size_t n, size_t at)
{
	return run_pieces(l, in, n, &at, 1);
}

/* Feeds step bytes at a time. */
static char *run_steps(const struct http_limits *l, const char *in, size_t n, size_t step)
{
	size_t count = n / step + 1;
	size_t *ends = calloc(count, sizeof *ends);
	for (size_t i = 0; i < count; i++)
		ends[i] = (i + 1) * step < n ? (i + 1) * step : n;
	char *t = run_pieces(l, in, n, ends, (int)count);
	free(ends);
	return t;
}

/* The stream gives want whole, cut at every split point, and byte by byte. */
static void check_stream(const struct http_limits *l, const char *in, size_t n, const char *want,
			 const char *file, int line)
{
	char *t = run_whole(l, in, n);
	if (strcmp(t, want))
		unit_fail(file, line, "whole:\n%s-- want:\n%s", t, want);
	free(t);
	for (size_t at = 1; at < n; at++) {
		t = run_split(l, in, n, at);
		if (strcmp(t, want)) {
			unit_fail(file, line, "split at %zu (after \"%.*s\"):\n%s-- want:\n%s", at,
				  (int)(at < 40 ? at : 40), in + (at < 40 ? 0 : at - 40), t, want);
			free(t);
			return;
		}
		free(t);
	}
	t = run_steps(l, in, n, 1);
	if (strcmp(t, want))
		unit_fail(file, line, "byte by byte:\n%s-- want:\n%s", t, want);
	free(t);
}
#define CHECK_STREAM(in, want) check_stream(&limits, in, sizeof in - 1, want, __FILE__, __LINE__)

/* The outcome of one request fed whole and byte by byte: its status when
 * refused, 0 when it completes, 1 when more bytes are awaited. */
static int outcome_of(const struct http_limits *l, const char *in, size_t n, size_t step)
{
	struct conn c;
	conn_init(&c, l);
	int st = 1;
	for (size_t done = 0; done < n && st == 1;) {
		size_t k = step && step < n - done ? step : n - done;
		conn_append(&c, in + done, k);
		done += k;
		enum http_result r = conn_parse(&c);
		st = r == HTTP_ERROR ? c.p.status : r == HTTP_DONE ? 0 : 1;
		if (r == HTTP_ERROR && (st < 400 || st > 599))
			unit_fail(__FILE__, __LINE__, "HTTP_ERROR with status %d", st);
	}
	conn_free(&c);
	return st;
}

static void check_status(const struct http_limits *l, const char *in, size_t n, int want,
			 const char *file, int line)
{
	int whole = outcome_of(l, in, n, 0), bytes = outcome_of(l, in, n, 1);
	if (whole != want || bytes != want)
		unit_fail(file, line, "\"%.*s\": whole %d, byte by byte %d, want %d", (int)n, in, whole,
			  bytes, want);
}
#define CHECK_STATUS(in, want) check_status(&limits, in, sizeof in - 1, want, __FILE__, __LINE__)
#define CHECK_STATUS_L(l, in, want) check_status(l, in, sizeof in - 1, want, __FILE__, __LINE__)

/* Parses one request given whole into *c (left for inspection). */
static enum http_result parse_one(struct conn *c, const char *in, size_t n)
{
	conn_init(c, &limits);
	conn_append(c, in, n);
	return conn_parse(c);
}
#define PARSE(c, in) parse_one(c, in, sizeof in - 1)

/* ---------- request fields ---------- */

TEST(simple_get_fields)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n"
			       "User-Agent: t\r\nAccept: */*\r\n\r\n"),
		     HTTP_DONE);
	struct http_request *r = &c.p.req;
	CHECK_EQ_INT(r->method, HTTP_GET);
	CHECK_EQ_INT(r->minor, 1);
	CHECK(r->keep_alive);
	CHECK(!r->expect_continue);
	CHECK(!r->chunked);
	CHECK_SLICE(&c, r->target, "/a/b%20c?x=1&y=2");
	CHECK_SLICE(&c, r->path, "/a/b%20c");
	CHECK_SLICE(&c, r->query, "x=1&y=2");
	CHECK_EQ_INT(r->nheaders, 3);
	CHECK_EQ_INT(r->host, 0);
	CHECK_SLICE(&c, r->headers[0].name, "Host");
	CHECK_SLICE(&c, r->headers[0].value, "example.com");
	CHECK_SLICE(&c, r->headers[1].name, "User-Agent");
	CHECK_SLICE(&c, r->headers[1].value, "t");
	CHECK_SLICE(&c, r->headers[2].name, "Accept");
	CHECK_SLICE(&c, r->headers[2].value, "*/*");
	CHECK_EQ_INT(r->body.len, 0);
	CHECK_EQ_INT(r->body.fd, -1);
	CHECK(r->body.data != NULL);
	CHECK_EQ_INT(c.p.parsed, c.len);
	conn_free(&c);
}

TEST(no_query)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET /plain HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/plain");
	CHECK_EQ_INT(c.p.req.query.len, 0);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET /q? HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/q");
	CHECK_EQ_INT(c.p.req.query.len, 0);
	conn_free(&c);
}

TEST(keep_alive_rules)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), HTTP_DONE);
	CHECK(!c.p.req.keep_alive);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.0\r\n\r\n"), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.minor, 0);
	CHECK(!c.p.req.keep_alive);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), HTTP_DONE);
	CHECK(c.p.req.keep_alive);
	conn_free(&c);
}

TEST(methods)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.method, HTTP_POST);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "DELETE /p HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.method, HTTP_DELETE);
	conn_free(&c);
	CHECK_STATUS("get / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(started_and_in_body)
{
	struct conn c;
	conn_init(&c, &limits);
	CHECK(!http_started(&c.p));
	CHECK(!http_in_body(&c.p));
	conn_append(&c, "P", 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	CHECK(http_started(&c.p));
	CHECK(!http_in_body(&c.p));
	static const char head[] = "OST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
	conn_append(&c, head, sizeof head - 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	CHECK(http_in_body(&c.p));
	conn_append(&c, "ab", 2);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	CHECK(http_in_body(&c.p));
	conn_append(&c, "c", 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK(!http_in_body(&c.p));
	CHECK_EQ_MEM(c.p.req.body.data, c.p.req.body.len, "abc");
	c.len = http_next(&c.p, c.buf, c.len);
	CHECK_EQ_INT(c.len, 0);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	CHECK(!http_started(&c.p));
	conn_free(&c);
}

/* Parsing when no new byte arrived has nothing to refuse: it waits. */
TEST(parse_without_new_bytes_waits)
{
	struct conn c;
	conn_init(&c, &limits);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE); /* a fresh parser, empty buffer */
	CHECK(!http_started(&c.p));
	conn_append(&c, "GET / HT", 8);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE); /* again, nothing new */
	static const char rest[] = "TP/1.1\r\nHost: h\r\n\r\n";
	conn_append(&c, rest, sizeof rest - 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	c.len = http_next(&c.p, c.buf, c.len);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE); /* the zero-length parse after http_next */
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE); /* and one more */
	conn_free(&c);
}

/* ---------- split points and pipelining ---------- */

TEST(every_split_point_simple_get)
{
	CHECK_STREAM("GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Long-Header: some value here\r\n\r\n",
		     "GET /a?b=c path=/a query=b=c 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] "
		     "[X-Long-Header: some value here] body=0:\n");
}

TEST(every_split_point_content_length)
{
	CHECK_STREAM("POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
		     "POST /f path=/f query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] "
		     "[Content-Length: 11] body=11:hello world\n");
}

TEST(every_split_point_chunked_with_trailers)
{
	CHECK_STREAM("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\nHost: evil\r\n\r\n",
		     "POST /c path=/c query= 1.1 ka=1 ec=0 ch=1 host=0 [Host: x] "
		     "[Transfer-Encoding: chunked] body=11:hello world\n");
}

TEST(every_split_point_pipelined)
{
	CHECK_STREAM("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
		     "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
		     "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "2\r\nde\r\n0\r\nT: 1\r\n\r\n"
		     "GET /4?q HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n"
		     "GET /never HTTP/1.1\r\nHost: x\r\n\r\n",
		     "GET /1 path=/1 query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] body=0:\n"
		     "POST /2 path=/2 query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] [Content-Length: 3] "
		     "body=3:abc\n"
		     "POST /3 path=/3 query= 1.1 ka=1 ec=0 ch=1 host=0 [Host: x] "
		     "[Transfer-Encoding: chunked] body=2:de\n"
		     "GET /4?q path=/4 query=q 1.1 ka=0 ec=0 ch=0 host=0 [Host: y] "
		     "[Connection: close] body=0:\n"
		     "CLOSE\n");
}

TEST(every_split_point_partial)
{
	CHECK_STREAM("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHo",
		     "GET / path=/ query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] body=0:\nPARTIAL\n");
	CHECK_STREAM("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "PARTIAL\n");
}

TEST(every_split_point_error_after_good_request)
{
	CHECK_STREAM("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		     "GET / path=/ query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] body=0:\nERROR 400\n");
}

TEST(pipelined_in_one_buffer)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, in), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/1");
	CHECK_EQ_INT(c.p.parsed, (sizeof in - 1) / 2);
	c.len = http_next(&c.p, c.buf, c.len);
	CHECK_EQ_INT(c.len, (sizeof in - 1) / 2);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/2");
	c.len = http_next(&c.p, c.buf, c.len);
	CHECK_EQ_INT(c.len, 0);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	CHECK(!http_started(&c.p));
	/* and the connection still parses what comes next */
	static const char more[] = "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
	conn_append(&c, more, sizeof more - 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/3");
	conn_free(&c);
}

TEST(upgrade_is_not_switched_to)
{
	CHECK_STREAM("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
		     "GET /after HTTP/1.1\r\nHost: x\r\n\r\n",
		     "GET /ws path=/ws query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] "
		     "[Connection: Upgrade] [Upgrade: websocket] body=0:\n"
		     "GET /after path=/after query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] body=0:\n");
}

TEST(leading_empty_line_is_ignored)
{
	/* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line */
	CHECK_STREAM("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		     "GET /1 path=/1 query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] body=0:\n"
		     "GET /2 path=/2 query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: x] body=0:\n");
}

/* ---------- bodies ---------- */

TEST(content_length_body)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"), HTTP_DONE);
	CHECK(!c.p.req.chunked);
	CHECK_EQ_INT(c.p.req.body.len, 5);
	CHECK_EQ_MEM(c.p.req.body.data, c.p.req.body.len, "hello");
	CHECK_EQ_INT(c.p.req.body.fd, -1);
	conn_free(&c);
}

TEST(body_bytes_leave_the_buffer)
{
	static const char head[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n";
	struct conn c;
	conn_init(&c, &limits);
	conn_append(&c, head, sizeof head - 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
	char chunk[1000];
	memset(chunk, 'z', sizeof chunk);
	for (int i = 0; i < 99; i++) {
		conn_append(&c, chunk, sizeof chunk);
		CHECK_EQ_INT(conn_parse(&c), HTTP_MORE);
		if (c.len != sizeof head - 1) { /* only the head stays */
			unit_fail(__FILE__, __LINE__, "len %zu after body bytes", c.len);
			break;
		}
	}
	CHECK_SLICE(&c, c.p.req.headers[1].value, "100000");
	conn_append(&c, chunk, sizeof chunk);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.body.len, 100000);
	conn_free(&c);
}

static char *pattern(size_t n)
{
	char *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	return p;
}

TEST(large_body_spills_and_reads_back)
{
	const size_t n = 1536 * 1024;
	char *data = pattern(n);
	char head[128];
	int hn = snprintf(head, sizeof head, "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", n);
	struct conn c;
	conn_init(&c, &limits);
	conn_append(&c, head, (size_t)hn);
	enum http_result r = conn_parse(&c);
	for (size_t off = 0; off < n && r == HTTP_MORE; off += 65536) {
		conn_append(&c, data + off, n - off < 65536 ? n - off : 65536);
		r = conn_parse(&c);
	}
	CHECK_EQ_INT(r, HTTP_DONE);
	CHECK(c.p.req.body.fd >= 0);
	CHECK_EQ_INT(c.p.req.body.len, n);
	CHECK(c.p.req.body.data != NULL && !memcmp(c.p.req.body.data, data, n));
	int fd = c.p.req.body.fd;
	/* the next request starts with an empty body and the memfd is closed */
	c.len = http_next(&c.p, c.buf, c.len);
	CHECK_EQ_INT(c.p.req.body.len, 0);
	CHECK_EQ_INT(c.p.req.body.fd, -1);
	CHECK(fcntl(fd, F_GETFD) == -1);
	static const char next[] = "POST /small HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok";
	conn_append(&c, next, sizeof next - 1);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK_EQ_MEM(c.p.req.body.data, c.p.req.body.len, "ok");
	CHECK_EQ_INT(c.p.req.body.fd, -1);
	conn_free(&c);
	free(data);
}

TEST(large_chunked_body_spills)
{
	const size_t n = 1200 * 1024, piece = 100000;
	char *data = pattern(n);
	char *in = malloc(n + 4096);
	size_t len = (size_t)sprintf(in, "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0; off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;
		len += (size_t)sprintf(in + len, "%zx\r\n", k);
		memcpy(in + len, data + off, k);
		len += k;
		len += (size_t)sprintf(in + len, "\r\n");
	}
	len += (size_t)sprintf(in + len, "0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
	char want[512];
	snprintf(want, sizeof want,
		 "POST /up path=/up query= 1.1 ka=1 ec=0 ch=1 host=0 [Host: h] "
		 "[Transfer-Encoding: chunked] body=%zu#%016llx\n"
		 "GET /next path=/next query= 1.1 ka=1 ec=0 ch=0 host=0 [Host: h] body=0:\n",
		 n, (unsigned long long)fnv(data, n));
	char *t = run_whole(&limits, in, len);
	CHECK_EQ_STR(t, want);
	free(t);
	t = run_steps(&limits, in, len, 4093);
	CHECK_EQ_STR(t, want);
	free(t);
	struct conn c;
	conn_init(&c, &limits);
	conn_append(&c, in, len);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK(c.p.req.body.fd >= 0);
	conn_free(&c);
	free(in);
	free(data);
}

TEST(chunked_trailers_not_in_headers)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "3\r\nabc\r\n0\r\nX-Checksum: 1\r\nContent-Type: evil\r\n\r\n"),
		     HTTP_DONE);
	CHECK(c.p.req.chunked);
	CHECK_EQ_INT(c.p.req.nheaders, 2);
	CHECK_EQ_MEM(c.p.req.body.data, c.p.req.body.len, "abc");
	for (int i = 0; i < c.p.req.nheaders; i++) {
		CHECK(c.p.req.headers[i].name.len != 10);
		CHECK(c.p.req.headers[i].name.len != 12);
	}
	conn_free(&c);
}

TEST(expect_100_continue)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
			       "Content-Length: 5\r\n\r\n"),
		     HTTP_MORE);
	CHECK(c.p.req.expect_continue);
	CHECK(http_in_body(&c.p));
	conn_append(&c, "hello", 5);
	CHECK_EQ_INT(conn_parse(&c), HTTP_DONE);
	CHECK(c.p.req.expect_continue);
	CHECK_EQ_MEM(c.p.req.body.data, c.p.req.body.len, "hello");
	c.len = http_next(&c.p, c.buf, c.len);
	CHECK(!c.p.req.expect_continue);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n"),
		     HTTP_MORE);
	CHECK(c.p.req.expect_continue);
	conn_free(&c);
	/* nothing to wait for without a body */
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"), HTTP_DONE);
	CHECK(!c.p.req.expect_continue);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"), HTTP_MORE);
	CHECK(!c.p.req.expect_continue);
	conn_free(&c);
}

TEST(expect_other_is_417)
{
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\nContent-Length: 1\r\n\r\nx", 417);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nExpect: foo\r\n\r\n", 417);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n", 400);
}

/* ---------- limits ---------- */

TEST(limit_request_line_414)
{
	static const struct http_limits l = {32, 100, 8190, 1000};
	CHECK_STATUS_L(&l, "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 414);
	CHECK_STATUS_L(&l, "GET /aaaa HTTP/1.1\r\nHost: h\r\n\r\n", 0);
}

TEST(limit_request_line_exact_edge)
{
	/* "request line bytes": the line without its CRLF, 32 bytes passes, 33 does not */
	static const struct http_limits l = {32, 100, 8190, 1000};
	CHECK_STATUS_L(&l, "GET /aaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	CHECK_STATUS_L(&l, "GET /aaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n", 414);
}

TEST(limit_fields_431)
{
	static const struct http_limits l = {4094, 3, 8190, 1000};
	CHECK_STATUS_L(&l, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", 0);
	CHECK_STATUS_L(&l, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431);
}

TEST(limit_field_size_431)
{
	static const struct http_limits l = {4094, 100, 32, 1000};
	/* name + value: 4 + 28 = 32 passes, 33 does not */
	CHECK_STATUS_L(&l, "GET / HTTP/1.1\r\nHost: h\r\nX-Ab: 0123456789012345678901234567\r\n\r\n", 0);
	CHECK_STATUS_L(&l, "GET / HTTP/1.1\r\nHost: h\r\nX-Ab: 01234567890123456789012345678\r\n\r\n", 431);
	CHECK_STATUS_L(&l, "GET / HTTP/1.1\r\nHost: h\r\nX-Very-Long-Header-Name-Over-The-Limit: 1\r\n\r\n", 431);
}

TEST(limit_body_413)
{
	static const struct http_limits l = {4094, 100, 8190, 10};
	CHECK_STATUS_L(&l, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", 0);
	CHECK_STATUS_L(&l, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", 413);
	CHECK_STATUS_L(&l, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", 0);
	CHECK_STATUS_L(&l, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5\r\n01234\r\n6\r\n567890\r\n0\r\n\r\n", 413);
}

/* ---------- request smuggling and malformed heads ---------- */

TEST(smuggling_content_length)
{
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "0\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
		     "0\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nx", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x1\r\n\r\nx", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
}

TEST(smuggling_bare_lf)
{
	CHECK_STATUS("GET / HTTP/1.1\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\n\n", 400);
}

TEST(smuggling_bare_cr)
{
	CHECK_STATUS("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400);
}

TEST(smuggling_bare_lf_in_chunked_framing)
{
#define CHUNKED "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	CHECK_STATUS(CHUNKED "3\nabc\r\n0\r\n\r\n", 400);
	CHECK_STATUS(CHUNKED "3\r\nabc\n0\r\n\r\n", 400);
	CHECK_STATUS(CHUNKED "3\r\nabc\r\n0\n\r\n", 400);
	CHECK_STATUS(CHUNKED "3\r\nabc\r\n0\r\nT: 1\n\r\n", 400);
	CHECK_STATUS(CHUNKED "3\r\nabcX\r\n0\r\n\r\n", 400);
	CHECK_STATUS(CHUNKED "fffffffffffffffff\r\n", 400);
	CHECK_STATUS(CHUNKED "zz\r\n", 400);
	CHECK_STATUS(CHUNKED "3\r\nabc\r\n0\r\n\r\n", 0);
}

TEST(smuggling_obs_fold)
{
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n , identity\r\n\r\n"
		     "0\r\n\r\n", 400);
}

TEST(smuggling_obs_fold_after_empty_value)
{
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX:\r\n b\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: \r\n b\r\n\r\n", 400);
	/* a proxy that sees an empty Transfer-Encoding here frames the body otherwise */
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
		     "0\r\n\r\n", 400);
}

TEST(smuggling_whitespace_in_names)
{
	CHECK_STATUS("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX(y): z\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n"
		     "abc", 400);
}

TEST(smuggling_duplicate_host)
{
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n"
		     "Content-Length: 0\r\n\r\n", 400);
}

TEST(missing_host_in_http11_is_400)
{
	/* RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request without Host */
	CHECK_STATUS("GET / HTTP/1.1\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.0\r\n\r\n", 0);
}

TEST(smuggling_transfer_encoding)
{
	CHECK_STATUS("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\nabc", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 0);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked \r\n\r\n0\r\n\r\n", 0);
}

TEST(control_characters)
{
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX: a\0z\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\nX\x01: a\r\n\r\n", 400);
	CHECK_STATUS("GET /a\x01z HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET /a\x7fz HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET /a\0z HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET /a z HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
}

TEST(tab_in_target_is_400)
{
	CHECK_STATUS("GET /a\tz HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(obs_text_in_values_is_kept)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.headers[1].value, "caf\xc3\xa9");
	conn_free(&c);
}

/* ---------- codings, versions, methods ---------- */

TEST(unknown_codings_501)
{
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501);
	CHECK_STATUS("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 501);
}

TEST(versions_505)
{
	CHECK_STATUS("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	CHECK_STATUS("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
	CHECK_STATUS("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
	CHECK_STATUS("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505);
	CHECK_STATUS("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
	CHECK_STATUS("GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	CHECK_STATUS("GET / http/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(no_version_400)
{
	CHECK_STATUS("GET /\r\n\r\n", 400);
	CHECK_STATUS("GET /\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET /path?q=1\r\n\r\n", 400);
}

TEST(connect_405)
{
	CHECK_STATUS("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405);
}

/* ---------- headers ---------- */

TEST(underscore_names_dropped)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.1\r\nX_Forwarded_For: evil\r\nHost: h\r\n"
			       "X-Forwarded-For: good\r\nHost_: x\r\n\r\n"),
		     HTTP_DONE);
	CHECK_EQ_INT(c.p.req.nheaders, 2);
	CHECK_EQ_INT(c.p.req.host, 0);
	CHECK_SLICE(&c, c.p.req.headers[0].name, "Host");
	CHECK_SLICE(&c, c.p.req.headers[0].value, "h");
	CHECK_SLICE(&c, c.p.req.headers[1].name, "X-Forwarded-For");
	CHECK_SLICE(&c, c.p.req.headers[1].value, "good");
	conn_free(&c);
}

TEST(value_whitespace_stripped)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.1\r\nHost:h\r\nX:   a b \t \r\nY: \t\r\nZ:\r\n\r\n"),
		     HTTP_DONE);
	CHECK_EQ_INT(c.p.req.nheaders, 4);
	CHECK_SLICE(&c, c.p.req.headers[0].value, "h");
	CHECK_SLICE(&c, c.p.req.headers[1].value, "a b");
	CHECK_SLICE(&c, c.p.req.headers[2].value, "");
	CHECK_SLICE(&c, c.p.req.headers[3].name, "Z");
	CHECK_SLICE(&c, c.p.req.headers[3].value, "");
	conn_free(&c);
}

TEST(repeated_headers_kept_in_order)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n"), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.nheaders, 3);
	CHECK_SLICE(&c, c.p.req.headers[1].value, "a");
	CHECK_SLICE(&c, c.p.req.headers[2].value, "b");
	conn_free(&c);
}

/* ---------- request targets ---------- */

TEST(absolute_form_target)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		     HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.target, "http://example.com:8080/a/b?x=1");
	CHECK_SLICE(&c, c.p.req.path, "/a/b");
	CHECK_SLICE(&c, c.p.req.query, "x=1");
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET HTTPS://example.com/p HTTP/1.1\r\nHost: example.com\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/p");
	CHECK_EQ_INT(c.p.req.query.len, 0);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET http://example.com?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.path.len, 0);
	CHECK_SLICE(&c, c.p.req.query, "q=1");
	conn_free(&c);
	CHECK_STATUS("GET ftp://example.com/p HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 400);
}

TEST(asterisk_only_with_options)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_EQ_INT(c.p.req.method, HTTP_OPTIONS);
	CHECK_SLICE(&c, c.p.req.path, "*");
	CHECK_EQ_INT(c.p.req.query.len, 0);
	conn_free(&c);
	CHECK_STATUS("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
	CHECK_STATUS("POST * HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 400);
	CHECK_STATUS("OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", 0);
}

TEST(fragments_stripped)
{
	struct conn c;
	CHECK_EQ_INT(PARSE(&c, "GET /a?b=1#frag HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/a");
	CHECK_SLICE(&c, c.p.req.query, "b=1");
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET /a#x?y HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/a");
	CHECK_EQ_INT(c.p.req.query.len, 0);
	conn_free(&c);
	CHECK_EQ_INT(PARSE(&c, "GET http://h/p#f HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_DONE);
	CHECK_SLICE(&c, c.p.req.path, "/p");
	conn_free(&c);
}

/* ---------- helpers ---------- */

static void check_decode(const char *in, const char *want, size_t want_len, const char *file, int line)
{
	char out[256];
	memset(out, '#', sizeof out);
	size_t n = http_decode_path(in, strlen(in), out);
	if (n != want_len || memcmp(out, want, want_len))
		unit_fail(file, line, "decode \"%s\": \"%.*s\" (%zu), want \"%s\"", in, (int)n, out, n, want);
}
#define CHECK_DECODE(in, want) check_decode(in, want, sizeof want - 1, __FILE__, __LINE__)

TEST(decode_path)
{
	CHECK_DECODE("/plain", "/plain");
	CHECK_DECODE("/a%20b", "/a b");
	CHECK_DECODE("%41%2fB%2F", "A/B/");
	CHECK_DECODE("%e2%82%AC", "\xe2\x82\xac");
	CHECK_DECODE("/a+b", "/a+b");
	CHECK_DECODE("%00", "\0");
	CHECK_DECODE("%%41", "%A");
	CHECK_DECODE("%41", "A");
	CHECK_DECODE("", "");
}

TEST(decode_path_bad_escapes_literal)
{
	CHECK_DECODE("%zz", "%zz");
	CHECK_DECODE("/a%", "/a%");
	CHECK_DECODE("/a%4", "/a%4");
	CHECK_DECODE("%4g%41", "%4gA");
	CHECK_DECODE("%g4", "%g4");
	CHECK_DECODE("100%", "100%");
	CHECK_DECODE("%%", "%%");
}

TEST(decode_path_reads_only_n_bytes)
{
	char out[8];
	CHECK_EQ_INT(http_decode_path("/a%41", 3, out), 3); /* "%41" is past n */
	CHECK_EQ_MEM(out, 3, "/a%");
	CHECK_EQ_INT(http_decode_path("%41", 2, out), 2);
	CHECK_EQ_MEM(out, 2, "%4");
}

TEST(reasons)
{
	CHECK_EQ_STR(http_reason(400), "Bad Request");
	CHECK_EQ_STR(http_reason(405), "Method Not Allowed");
	CHECK_EQ_STR(http_reason(413), "Content Too Large");
	CHECK_EQ_STR(http_reason(414), "URI Too Long");
	CHECK_EQ_STR(http_reason(417), "Expectation Failed");
	CHECK_EQ_STR(http_reason(431), "Request Header Fields Too Large");
	CHECK_EQ_STR(http_reason(501), "Not Implemented");
	CHECK_EQ_STR(http_reason(505), "HTTP Version Not Supported");
	CHECK_EQ_STR(http_reason(299), "Unknown");
}

TEST(date_format)
{
	const char *d = http_date();
	CHECK_EQ_INT(strlen(d), 29);
	struct tm tm = {0};
	const char *end = strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	CHECK(end != NULL && *end == 0);
	time_t t = timegm(&tm), now = time(NULL);
	CHECK(t >= now - 2 && t <= now);
}

UNIT_MAIN()
