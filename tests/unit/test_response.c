/* The response writer, driven as the worker drives it: begin, a status, the
 * app's headers, the head's end, body sources, end; then response_write()
 * on a non-blocking socket with a small send buffer, reading the client's
 * side whenever it answers RESPONSE_BLOCKED, until it is done. The client's
 * bytes are compared whole. */
#include "http.h"
#include "response.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* ---------- driver ---------- */

/* The Date at the start of the test: a response made during it carries
 * this one, or the next second's. */
static char date0[32];
static struct response_budget budget;

static void open_response(struct response *r, int method, int minor, bool keep)
{
	snprintf(date0, sizeof date0, "%s", http_date());
	response_init(r, &budget);
	response_begin(r, method, minor, keep);
}

/* A body slice with its release count. */
struct slice {
	int released;
};

static void count_release(void *ctx)
{
	((struct slice *)ctx)->released++;
}

static void add_counted(struct response *r, const char *s, struct slice *sl)
{
	response_add_mem(r, s, strlen(s), count_release, sl);
}

struct out {
	char *p;
	size_t n, cap;
};

static void out_add(struct out *o, const char *p, size_t n)
{
	if (o->n + n + 1 > o->cap) {
		o->cap = (o->n + n + 1) * 2;
		if (!(o->p = realloc(o->p, o->cap)))
			abort();
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
	o->p[o->n] = 0;
}

/* The server's end w (non-blocking, a send buffer of a few KB) and the client's c. */
struct pair {
	int w, c;
};

static struct pair pair_open(void)
{
	int sv[2], small = 4096;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	return (struct pair){sv[0], sv[1]};
}

static void pair_close(struct pair *p)
{
	close(p->w);
	if (p->c >= 0)
		close(p->c);
}

/* Reads all the client's end has now. */
static void drain(struct pair *p, struct out *o)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(p->c, buf, sizeof buf)) > 0)
		out_add(o, buf, (size_t)n);
}

/* Writes until DONE, DRAINED or FAILED, reading the client's end each time
 * the socket is full; *blocked (when given) counts the RESPONSE_BLOCKED. */
static enum response_progress pump(struct response *r, struct pair *p, struct out *o, int *blocked)
{
	for (int i = 0; i < 1000000; i++) {
		enum response_progress pr = response_write(r, p->w);
		if (p->c >= 0)
			drain(p, o);
		if (pr != RESPONSE_BLOCKED)
			return pr;
		if (blocked)
			++*blocked;
	}
	return RESPONSE_BLOCKED;
}

/* Writes r whole through a fresh pair into o; returns the last progress. */
static enum response_progress send_all(struct response *r, struct out *o)
{
	struct pair p = pair_open();
	enum response_progress pr = pump(r, &p, o, NULL);
	pair_close(&p);
	return pr;
}

/* want with "<date>" replaced by date. */
static char *dated(const char *want, const char *date)
{
	char *s = malloc(strlen(want) + 64), *d = s;
	for (const char *w = want; *w;) {
		if (!strncmp(w, "<date>", 6)) {
			d += sprintf(d, "%s", date);
			w += 6;
		} else {
			*d++ = *w++;
		}
	}
	*d = 0;
	return s;
}

/* The client received exactly want ("<date>": the Date of the test). */
static void check_out(const struct out *o, const char *want, const char *file, int line)
{
	char *a = dated(want, date0), *b = dated(want, http_date());
	if ((o->n != strlen(a) || memcmp(o->p, a, o->n)) && (o->n != strlen(b) || memcmp(o->p, b, o->n)))
		unit_fail(file, line, "got %zu bytes:\n%.*s\n-- want:\n%s", o->n,
			  (int)(o->n > 2000 ? 2000 : o->n), o->p ? o->p : "", a);
	free(a);
	free(b);
}
#define CHECK_OUT(o, want) check_out(o, want, __FILE__, __LINE__)

/* Where the body starts: after the first CRLFCRLF (0 when there is none). */
static size_t body_at(const struct out *o)
{
	const char *e = o->p ? memmem(o->p, o->n, "\r\n\r\n", 4) : NULL;
	return e ? (size_t)(e - o->p) + 4 : 0;
}

/* The head has the header line exactly ("Name: value"). */
static bool has_line(const struct out *o, const char *line)
{
	size_t h = body_at(o), n = strlen(line);
	for (const char *p = o->p; p && (p = memmem(p, h - (size_t)(p - o->p), "\r\n", 2)); p += 2)
		if ((size_t)(p - o->p) + 2 + n + 2 <= h && !memcmp(p + 2, line, n) && !memcmp(p + 2 + n, "\r\n", 2))
			return true;
	return false;
}

/* The head names the header, whatever its value. */
static bool has_name(const struct out *o, const char *name)
{
	size_t h = body_at(o), n = strlen(name);
	for (const char *p = o->p; p && (p = memmem(p, h - (size_t)(p - o->p), "\r\n", 2)); p += 2)
		if ((size_t)(p - o->p) + 2 + n + 1 <= h && !strncasecmp(p + 2, name, n) && p[2 + n] == ':')
			return true;
	return false;
}

/* Decodes the chunked body at p[0..n) into data, the chunk sizes into
 * sizes[]; false unless it is exactly: chunks of non-zero size, each
 * "hex CRLF data CRLF", then "0 CRLF CRLF" and nothing after. */
static bool dechunk(const char *p, size_t n, struct out *data, size_t *sizes, int *nsizes)
{
	size_t i = 0;
	*nsizes = 0;
	for (;;) {
		size_t size = 0, start = i;
		while (i < n && strchr("0123456789abcdef", p[i]) && p[i])
			size = size * 16 + (size_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10), i++;
		if (i == start || i + 2 > n || memcmp(p + i, "\r\n", 2))
			return false;
		i += 2;
		if (!size)
			return i + 2 == n && !memcmp(p + i, "\r\n", 2);
		if (p[start] == '0' || i + size + 2 > n || memcmp(p + i + size, "\r\n", 2))
			return false;
		out_add(data, p + i, size);
		sizes[(*nsizes)++] = size;
		i += size + 2;
	}
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static int memfd_with(const char *data, size_t n)
{
	int fd = memfd_create("body", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, n) != (ssize_t)n)
		abort();
	return fd;
}

/* n bytes that tell their offset apart. */
static char *pattern(size_t n, unsigned seed)
{
	char *p = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + i / 26 + seed) % 26);
	p[n] = 0;
	return p;
}

static void out_free(struct out *o)
{
	free(o->p);
	*o = (struct out){0};
}

/* Writes r whole, checks the bytes (CHECK_OUT's <date>) and frees r. */
#define SENDS(r, want) sends(r, want, __FILE__, __LINE__)
static void sends(struct response *r, const char *want, const char *file, int line)
{
	struct out o = {0};
	enum response_progress p = send_all(r, &o);
	if (p != RESPONSE_DONE)
		unit_fail(file, line, "send_all: %d, not RESPONSE_DONE", (int)p);
	check_out(&o, want, file, line);
	response_free(r);
	out_free(&o);
}

/* ---------- the head ---------- */

TEST(head_of_a_simple_200)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, true);
	CHECK_EQ_INT(response_status(&r, "200 OK", 6), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "Content-Type", 12, "text/plain", 10), REFUSE_NONE);
	response_head_end(&r, true, 5);
	response_add_mem(&r, "hello", 5, NULL, NULL);
	response_end(&r);
	CHECK(!response_on_wire(&r));
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: wsginit\r\n"
		      "Date: <date>\r\nContent-Length: 5\r\n\r\nhello");
	CHECK(r.keep);
	CHECK(response_on_wire(&r));
	CHECK_EQ_INT(strlen(http_date()), 29);
	response_free(&r);
	out_free(&o);
}

TEST(status_from_a_code)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status_code(&r, 404);
	response_end(&r);
	CHECK_EQ_INT(r.status, 404);
	SENDS(&r, "HTTP/1.1 404 Not Found\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
}

TEST(app_date_and_server_are_kept)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_header(&r, "server", 6, "app/1", 5), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "DATE", 4, "yesterday", 9), REFUSE_NONE);
	response_head_end(&r, true, 0);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nserver: app/1\r\nDATE: yesterday\r\nContent-Length: 0\r\n\r\n");
}

/* REQUEST_ID: X-Request-ID after Server, unless the app set its own; an
 * error answer that replaces the app's head carries it too. */
TEST(request_id_header)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_request_id(&r, "abc-123", 7);
	response_status(&r, "200 OK", 6);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nX-Request-ID: abc-123\r\nDate: <date>\r\n"
		  "Content-Length: 0\r\n\r\n");
	open_response(&r, HTTP_GET, 1, true);
	response_request_id(&r, "abc-123", 7);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_header(&r, "x-request-id", 12, "apps-own", 8), REFUSE_NONE);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nx-request-id: apps-own\r\nServer: wsginit\r\nDate: <date>\r\n"
		  "Content-Length: 0\r\n\r\n");
	open_response(&r, HTTP_GET, 1, true);
	response_request_id(&r, "abc-123", 7);
	response_status(&r, "200 OK", 6);
	response_header(&r, "X-Request-ID", 12, "apps-own", 8);
	CHECK(response_error(&r, 500)); /* the app's header went with its head */
	SENDS(&r, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nServer: wsginit\r\n"
		  "X-Request-ID: abc-123\r\nDate: <date>\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"
		  "Internal Server Error\n");
	/* the next response begins without it */
	open_response(&r, HTTP_GET, 1, true);
	response_request_id(&r, "abc-123", 7);
	response_begin(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
}

TEST(app_content_length_passed_through)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_header(&r, "content-length", 14, "5", 1), REFUSE_NONE);
	response_head_end(&r, true, 99); /* the app's length wins, and is not said twice */
	response_add_mem(&r, "hello", 5, NULL, NULL);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nServer: wsginit\r\nDate: <date>\r\n\r\nhello");
	CHECK(r.keep);
	response_free(&r);
	out_free(&o);
}

TEST(app_content_length_cuts_the_body)
{
	struct response r;
	struct out o = {0};
	struct slice a = {0}, b = {0};
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_header(&r, "Content-Length", 14, "5", 1);
	add_counted(&r, "hello world", &a); /* past the length: cut */
	add_counted(&r, "more", &b);        /* nothing left: released at once */
	CHECK_EQ_INT(b.released, 1);
	CHECK_EQ_INT(r.queued, 5);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: wsginit\r\nDate: <date>\r\n\r\nhello");
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	CHECK(r.keep);
	response_free(&r);
	out_free(&o);
}

TEST(short_body_closes_and_adds_nothing)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_header(&r, "Content-Length", 14, "10", 2);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	response_end(&r);
	CHECK(!r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nServer: wsginit\r\nDate: <date>\r\n\r\nabc");
}

TEST(known_length_given_by_the_producer)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 3);
	response_add_mem(&r, "abcdef", 6, NULL, NULL);
	response_end(&r);
	CHECK(r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(end_without_a_body_says_length_0)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
	CHECK(r.keep);
	response_free(&r);
	out_free(&o);
}

/* ---------- framing ---------- */

TEST(chunked_when_the_length_is_unknown)
{
	struct response r;
	struct out o = {0}, data = {0};
	size_t sizes[8];
	int n;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, false, 0);
	response_add_mem(&r, "hello", 5, NULL, NULL);
	response_add_mem(&r, " wonderful world", 16, NULL, NULL);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "5\r\nhello\r\n10\r\n wonderful world\r\n0\r\n\r\n");
	CHECK(dechunk(o.p + body_at(&o), o.n - body_at(&o), &data, sizes, &n));
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(sizes[0], 5);
	CHECK_EQ_INT(sizes[1], 16);
	CHECK_EQ_MEM(data.p, data.n, "hello wonderful world");
	CHECK(r.keep);
	response_free(&r);
	out_free(&o);
	out_free(&data);
}

TEST(chunked_skips_empty_chunks)
{
	struct response r;
	struct out o = {0}, data = {0};
	struct slice e = {0};
	size_t sizes[8];
	int n;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_add_mem(&r, "", 0, count_release, &e); /* ends the head: chunked */
	CHECK_EQ_INT(e.released, 1);
	response_add_mem(&r, "ab", 2, NULL, NULL);
	response_add_mem(&r, "", 0, NULL, NULL);
	response_add_file(&r, memfd_with("x", 1), 0, 0);
	response_add_mem(&r, "c", 1, NULL, NULL);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK(has_line(&o, "Transfer-Encoding: chunked"));
	CHECK(dechunk(o.p + body_at(&o), o.n - body_at(&o), &data, sizes, &n));
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_MEM(data.p, data.n, "abc");
	CHECK_EQ_MEM(o.p + body_at(&o), o.n - body_at(&o), "2\r\nab\r\n1\r\nc\r\n0\r\n\r\n");
	response_free(&r);
	out_free(&o);
	out_free(&data);
}

TEST(chunked_with_no_chunk)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, false, 0);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "0\r\n\r\n");
	CHECK(r.keep);
	response_free(&r);
	out_free(&o);
}

TEST(http10_unknown_length_is_close_delimited)
{
	struct response r;
	open_response(&r, HTTP_GET, 0, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, false, 0);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	response_add_mem(&r, "def", 3, NULL, NULL);
	response_end(&r);
	CHECK(!r.keep);
	CHECK_EQ_INT(r.framing, FRAME_CLOSE);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nConnection: close\r\n\r\nabcdef");
}

TEST(http10_keep_alive_is_said)
{
	struct response r;
	open_response(&r, HTTP_GET, 0, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 3);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	response_end(&r);
	CHECK(r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 3\r\n"
		      "Connection: keep-alive\r\n\r\nabc");
}

TEST(http10_without_keep_alive_says_close)
{
	struct response r;
	open_response(&r, HTTP_GET, 0, false);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 0);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n"
		      "Connection: close\r\n\r\n");
}

TEST(keep_false_says_close)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, false);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, false, 0);
	response_add_mem(&r, "x", 1, NULL, NULL);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n"
		      "Connection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n");
	CHECK(!r.keep);
	response_free(&r);
	out_free(&o);
}

/* ---------- HEAD and the statuses without a body ---------- */

TEST(head_keeps_content_length_and_sends_no_body)
{
	struct response r;
	struct out o = {0};
	struct slice a = {0}, b = {0};
	char *big = pattern(100000, 1);
	open_response(&r, HTTP_HEAD, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 100005);
	add_counted(&r, "hello", &a);
	CHECK_EQ_INT(a.released, 1); /* never sent: released at once */
	response_add_mem(&r, big, 100000, count_release, &b);
	CHECK_EQ_INT(b.released, 1);
	int fd = memfd_with("0123456789", 10);
	response_add_file(&r, fd, 0, 10);
	CHECK(fd_closed(fd));
	response_end(&r);
	CHECK(r.keep);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 100005\r\n\r\n");
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	response_free(&r);
	out_free(&o);
	free(big);
}

TEST(head_with_the_app_content_length)
{
	struct response r;
	open_response(&r, HTTP_HEAD, 1, true);
	response_status(&r, "200 OK", 6);
	response_header(&r, "Content-Length", 14, "42", 2);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	response_end(&r); /* short, but a HEAD answer has no body to be short of */
	CHECK(r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nServer: wsginit\r\nDate: <date>\r\n\r\n");
}

TEST(head_of_unknown_length_has_no_framing)
{
	struct response r;
	open_response(&r, HTTP_HEAD, 1, true);
	response_status(&r, "200 OK", 6);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	response_end(&r);
	CHECK(r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\n\r\n");

	open_response(&r, HTTP_HEAD, 0, true); /* HTTP/1.0: not close-delimited either */
	response_status(&r, "200 OK", 6);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	response_end(&r);
	CHECK(r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nConnection: keep-alive\r\n\r\n");
}

TEST(head_ended_empty_announces_no_length)
{
	/* The producer decides what an empty HEAD body means: wsgi.c says "unknown"
	 * (Werkzeug answers HEAD with no body), and then no length is announced. */
	struct response r;
	open_response(&r, HTTP_HEAD, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, false, 0);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\n\r\n");
	/* a producer that knows the length (a static file) is taken at its word, 0 too */
	open_response(&r, HTTP_HEAD, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 0);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
}

TEST(content_length_once_and_never_on_204)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_header(&r, "Content-Length", 14, "2", 1), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "content-length", 14, "2", 1), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "Content-Length", 14, "3", 1), REFUSE_LENGTH);
	response_add_mem(&r, "ok", 2, NULL, NULL);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: wsginit\r\nDate: <date>\r\n\r\nok");

	open_response(&r, HTTP_GET, 1, true); /* RFC 9110 §8.6: a 204 carries none */
	response_status(&r, "204 No Content", 14);
	CHECK_EQ_INT(response_header(&r, "Content-Length", 14, "0", 1), REFUSE_NONE);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 204 No Content\r\nServer: wsginit\r\nDate: <date>\r\n\r\n");
}

TEST(bare_status_code_gets_its_space)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	CHECK_EQ_INT(response_status(&r, "200", 3), REFUSE_NONE);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 200 \r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
	open_response(&r, HTTP_GET, 1, true); /* and a bodiless one */
	CHECK_EQ_INT(response_status(&r, "204", 3), REFUSE_NONE);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 204 \r\nServer: wsginit\r\nDate: <date>\r\n\r\n");
}

TEST(bodiless_statuses)
{
	static const char *const lines[] = {"204 No Content", "304 Not Modified", "100 Continue", "103 Early Hints"};
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		for (int known = 0; known < 2; known++) {
			struct response r;
			struct out o = {0};
			struct slice a = {0};
			char want[256];
			open_response(&r, HTTP_GET, 1, true);
			CHECK_EQ_INT(response_status(&r, lines[i], strlen(lines[i])), REFUSE_NONE);
			response_head_end(&r, known, 5);
			add_counted(&r, "hello", &a);
			CHECK_EQ_INT(a.released, 1);
			int fd = memfd_with("0123456789", 10);
			response_add_file(&r, fd, 0, 10);
			CHECK(fd_closed(fd));
			response_end(&r);
			CHECK(r.keep);
			CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
			snprintf(want, sizeof want, "HTTP/1.1 %s\r\nServer: wsginit\r\nDate: <date>\r\n\r\n", lines[i]);
			CHECK_OUT(&o, want);
			response_free(&r);
			out_free(&o);
		}
	}
}

/* ---------- validation ---------- */

TEST(status_refusals)
{
	static const char *const bad[] = {"20 OK", "099 x", "600 x", "200OK", "2000", "abc OK", "", "20",
					  "0200 OK", "200 O\rK", "200 O\nK", "999 x", "-20 x", " 200 OK"};
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (response_status(&r, bad[i], strlen(bad[i])) != REFUSE_STATUS)
			unit_fail(__FILE__, __LINE__, "status \"%s\" accepted", bad[i]);
	CHECK_EQ_INT(response_status(&r, "200 O\0K", 7), REFUSE_STATUS);
	CHECK_EQ_INT(response_status(&r, "200 O\x7fK", 7), REFUSE_STATUS);
	CHECK_EQ_INT(r.head_len, 0); /* nothing written by a refusal */
	CHECK_EQ_INT(response_status(&r, "599 Last", 8), REFUSE_NONE);
	CHECK_EQ_INT(r.status, 599);
	CHECK_EQ_INT(response_status(&r, "100 Continue", 12), REFUSE_NONE);
	CHECK_EQ_INT(r.status, 100);
	CHECK_EQ_INT(response_status(&r, "201 Created\tnow \xe9", 17), REFUSE_NONE);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_INT(response_status(&r, "404 x", 5), REFUSE_NONE);
	CHECK_EQ_INT(response_status(&r, "600 x", 5), REFUSE_STATUS);
	CHECK_EQ_INT(r.status, 404); /* a refusal keeps the last status */
	CHECK_EQ_MEM(r.head, r.head_len, "HTTP/1.1 404 x\r\n");
	response_free(&r);
}

TEST(header_name_refusals)
{
	static const char *const bad[] = {"Bad Name", "Bad:Name", "", "X(y)", "X/y", "X\"y", "X[y]", "X{y}",
					  "X@y", "X=y", "X,y", "X;y", "X?y", "X\\y", "X<y>", " X", "X ",
					  "X\ty", "X\ry", "X\ny", "X\x7fy", "X\xe9"};
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	size_t head = r.head_len;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (response_header(&r, bad[i], strlen(bad[i]), "v", 1) != REFUSE_FIELD)
			unit_fail(__FILE__, __LINE__, "name \"%s\" accepted", bad[i]);
	CHECK_EQ_INT(response_header(&r, "X\0y", 3, "v", 1), REFUSE_FIELD);
	CHECK_EQ_INT(r.head_len, head);
	CHECK_EQ_INT(response_header(&r, "!#$%&'*+-.^_`|~09azAZ", 21, "v", 1), REFUSE_NONE);
	response_free(&r);
}

TEST(header_value_refusals)
{
	static const struct { const char *v; size_t n; } bad[] = {
		{"a\rb", 3}, {"a\nb", 3}, {"a\0b", 3}, {"a\x7f", 2}, {"\r\nX-Injected: 1", 15},
		{"a\x01", 2}, {"\x1f", 1}, {"a\r", 2}, {"\n", 1}};
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	size_t head = r.head_len;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (response_header(&r, "X-A", 3, bad[i].v, bad[i].n) != REFUSE_FIELD)
			unit_fail(__FILE__, __LINE__, "value %zu accepted", i);
	CHECK_EQ_INT(r.head_len, head);
	CHECK_EQ_INT(response_header(&r, "X-A", 3, "", 0), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "X-B", 3, "a\tb \xe9\xff", 6), REFUSE_NONE);
	response_free(&r);
}

TEST(hop_by_hop_refusals)
{
	static const char *const hop[] = {"Connection", "connection", "CONNECTION", "Keep-Alive", "keep-ALIVE",
					  "Transfer-Encoding", "transfer-encoding", "TRANSFER-encoding",
					  "Upgrade", "uPgRaDe", "TE", "te", "Trailer", "Trailers",
					  "Proxy-Authenticate", "proxy-authorization"};
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	size_t head = r.head_len;
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (response_header(&r, hop[i], strlen(hop[i]), "x", 1) != REFUSE_HOP_BY_HOP)
			unit_fail(__FILE__, __LINE__, "\"%s\" not refused as hop-by-hop", hop[i]);
	CHECK_EQ_INT(r.head_len, head);
	/* Names that only start like one are the app's. */
	CHECK_EQ_INT(response_header(&r, "Connections", 11, "x", 1), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "TEx", 3, "x", 1), REFUSE_NONE);
	CHECK_EQ_INT(response_header(&r, "T", 1, "x", 1), REFUSE_NONE);
	response_free(&r);
}

TEST(content_length_refusals)
{
	static const char *const bad[] = {"", "-1", "1x", "x1", "+1", " 1", "1 ", "1.0", "0x10",
					  "12345678901234567890", "99999999999999999999", "1,1"};
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	size_t head = r.head_len;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (response_header(&r, "Content-Length", 14, bad[i], strlen(bad[i])) != REFUSE_LENGTH)
			unit_fail(__FILE__, __LINE__, "Content-Length \"%s\" accepted", bad[i]);
	CHECK(!r.has_length);
	CHECK_EQ_INT(r.head_len, head);
	CHECK_EQ_INT(response_header(&r, "Content-Length", 14, "1234567890123456789", 19), REFUSE_NONE);
	CHECK(r.has_length);
	CHECK(r.length == 1234567890123456789ull);
	response_free(&r);
}

TEST(refused_headers_leave_no_trace)
{
	struct response r;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_header(&r, "X-A", 3, "1", 1);
	response_header(&r, "Connection", 10, "close", 5);
	response_header(&r, "X-B", 3, "a\r\nX-C: 1", 9);
	response_header(&r, "Content-Length", 14, "-1", 2);
	response_header(&r, "X-D", 3, "2", 1);
	response_head_end(&r, true, 0);
	response_end(&r);
	CHECK(r.keep);
	SENDS(&r, "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-D: 2\r\nServer: wsginit\r\nDate: <date>\r\n"
		      "Content-Length: 0\r\n\r\n");
}

TEST(x_accel_buffering_is_ours)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_header(&r, "X-Accel-Buffering", 17, "no", 2), REFUSE_NONE);
	CHECK(r.stream);
	response_head_end(&r, true, 0);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK(!has_name(&o, "X-Accel-Buffering"));
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
	response_free(&r);
	out_free(&o);

	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_header(&r, "x-accel-buffering", 17, "NO", 2), REFUSE_NONE);
	CHECK(r.stream);
	CHECK_EQ_INT(response_header(&r, "X-Accel-Buffering", 17, "yes", 3), REFUSE_NONE);
	CHECK(!r.stream);
	response_head_end(&r, true, 0);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK(!has_name(&o, "X-Accel-Buffering"));
	response_free(&r);
	out_free(&o);

	open_response(&r, HTTP_GET, 1, true); /* a new response does not inherit it */
	response_header(&r, "X-Accel-Buffering", 17, "no", 2);
	response_begin(&r, HTTP_GET, 1, true);
	CHECK(!r.stream);
	response_status(&r, "200 OK", 6);
	response_header(&r, "X-Accel-Buffering", 17, "no", 2);
	response_status(&r, "200 OK", 6); /* nor a status given again */
	CHECK(!r.stream);
	response_free(&r);
}

/* ---------- errors and cuts ---------- */

TEST(error_replaces_the_queued_body)
{
	struct response r;
	struct out o = {0};
	struct slice a = {0}, b = {0};
	budget.limit = 0;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_header(&r, "X-App", 5, "1", 1);
	response_header(&r, "X-Accel-Buffering", 17, "no", 2);
	response_head_end(&r, false, 0);
	add_counted(&r, "part one", &a);
	add_counted(&r, "part two", &b);
	CHECK(response_error(&r, 500));
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	CHECK(!r.keep);
	CHECK(!r.stream);
	CHECK_EQ_INT(r.status, 500);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nServer: wsginit\r\n"
		      "Date: <date>\r\nContent-Length: 22\r\nConnection: close\r\n\r\nInternal Server Error\n");
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	response_free(&r);
	out_free(&o);
}

TEST(error_after_the_end)
{
	struct response r;
	int fd = memfd_with("0123456789", 10);
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 10);
	response_add_file(&r, fd, 0, 10);
	response_end(&r);
	CHECK(response_error(&r, 503));
	CHECK(fd_closed(fd));
	SENDS(&r, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nServer: wsginit\r\n"
		      "Date: <date>\r\nContent-Length: 20\r\nConnection: close\r\n\r\nService Unavailable\n");
}

TEST(error_to_a_head_request)
{
	struct response r;
	open_response(&r, HTTP_HEAD, 1, true);
	CHECK(response_error(&r, 404));
	SENDS(&r, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nServer: wsginit\r\n"
		      "Date: <date>\r\nContent-Length: 10\r\nConnection: close\r\n\r\n");
}

TEST(error_refused_once_on_the_wire)
{
	struct response r;
	struct out o = {0};
	struct slice a = {0};
	char *big = pattern(200000, 2);
	struct pair p = pair_open();
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 200000);
	response_add_mem(&r, big, 200000, count_release, &a);
	response_end(&r);
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_BLOCKED);
	CHECK(response_on_wire(&r));
	CHECK(!response_error(&r, 500));
	CHECK_EQ_INT(a.released, 0); /* nothing changed */
	CHECK(r.keep);
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_DONE);
	CHECK_EQ_INT(a.released, 1);
	size_t at = body_at(&o);
	CHECK_EQ_INT(o.n - at, 200000);
	CHECK(!memcmp(o.p + at, big, 200000));
	CHECK(has_line(&o, "Content-Length: 200000"));
	response_free(&r);
	pair_close(&p);
	out_free(&o);
	free(big);
}

TEST(cut_drops_and_fails)
{
	struct response r;
	struct out o = {0};
	struct slice a = {0}, b = {0}, c = {0};
	char *big = pattern(100000, 3);
	struct pair p = pair_open();
	budget.limit = 0;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, false, 0);
	response_add_mem(&r, big, 100000, count_release, &a);
	add_counted(&r, "tail", &b);
	int fd = memfd_with("0123456789", 10);
	response_add_file(&r, fd, 0, 10);
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_BLOCKED);
	drain(&p, &o);
	response_cut(&r);
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	CHECK(fd_closed(fd));
	CHECK(!r.keep);
	add_counted(&r, "after", &c); /* nothing more goes out */
	CHECK_EQ_INT(c.released, 1);
	response_end(&r);
	size_t before = o.n;
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_FAILED);
	CHECK_EQ_INT(o.n, before);
	CHECK(o.n < 100000); /* the client saw a partial chunk, never the last one */
	CHECK(!memmem(o.p, o.n, "\r\n0\r\n\r\n", 7));
	response_free(&r);
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	CHECK_EQ_INT(c.released, 1);
	pair_close(&p);
	out_free(&o);
	free(big);
}

/* ---------- files ---------- */

TEST(file_from_an_offset_with_sendfile)
{
	struct response r;
	struct out o = {0};
	char *data = pattern(300000, 4);
	int fd = memfd_with(data, 300000), blocked = 0;
	struct pair p = pair_open();
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 250000);
	response_add_file(&r, fd, 1234, 250000);
	response_end(&r);
	CHECK(!fd_closed(fd));
	CHECK_EQ_INT(pump(&r, &p, &o, &blocked), RESPONSE_DONE);
	CHECK(blocked > 0);
	CHECK(fd_closed(fd));
	size_t at = body_at(&o);
	CHECK(has_line(&o, "Content-Length: 250000"));
	CHECK_EQ_INT(o.n - at, 250000);
	CHECK(!memcmp(o.p + at, data + 1234, 250000));
	CHECK_EQ_INT(r.sent, 250000);
	CHECK(r.keep);
	response_free(&r);
	pair_close(&p);
	out_free(&o);
	free(data);
}

TEST(file_sent_chunked)
{
	struct response r;
	struct out o = {0}, data = {0};
	char *content = pattern(70000, 5);
	size_t sizes[8];
	int n;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_add_file(&r, memfd_with(content, 70000), 5, 69995);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK(has_line(&o, "Transfer-Encoding: chunked"));
	CHECK(dechunk(o.p + body_at(&o), o.n - body_at(&o), &data, sizes, &n));
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(data.n, 69995);
	CHECK(!memcmp(data.p, content + 5, 69995));
	response_free(&r);
	out_free(&o);
	out_free(&data);
	free(content);
}

TEST(file_past_the_content_length_is_cut)
{
	struct response r;
	struct out o = {0};
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 4);
	response_add_file(&r, memfd_with("0123456789", 10), 2, 8);
	int fd = memfd_with("0123456789", 10);
	response_add_file(&r, fd, 0, 10); /* no room left: closed at once */
	CHECK(fd_closed(fd));
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_EQ_MEM(o.p + body_at(&o), o.n - body_at(&o), "2345");
	CHECK(r.keep);
	response_free(&r);
	out_free(&o);
}

static void mem_file_mem(int known)
{
	struct response r;
	struct out o = {0}, data = {0};
	struct slice a = {0}, b = {0};
	char *content = pattern(50000, 6), *first = pattern(30000, 7);
	size_t sizes[8];
	int n;
	struct pair p = pair_open();
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, known, 30000 + 40000 + 5);
	response_add_mem(&r, first, 30000, count_release, &a);
	response_add_file(&r, memfd_with(content, 50000), 10000, 40000);
	add_counted(&r, "-tail", &b);
	response_end(&r);
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_DONE);
	size_t at = body_at(&o);
	if (known) {
		out_add(&data, o.p + at, o.n - at);
	} else {
		CHECK(dechunk(o.p + at, o.n - at, &data, sizes, &n));
		CHECK_EQ_INT(n, 3);
	}
	CHECK_EQ_INT(data.n, 70005);
	if (data.n == 70005) {
		CHECK(!memcmp(data.p, first, 30000));
		CHECK(!memcmp(data.p + 30000, content + 10000, 40000));
		CHECK(!memcmp(data.p + 70000, "-tail", 5));
	}
	CHECK_EQ_INT(a.released, 1);
	CHECK_EQ_INT(b.released, 1);
	response_free(&r);
	pair_close(&p);
	out_free(&o);
	out_free(&data);
	free(content);
	free(first);
}

TEST(memory_file_memory_in_order)
{
	mem_file_mem(1);
	mem_file_mem(0);
}

TEST(short_file_fails)
{
	struct response r;
	struct out o = {0};
	int fd = memfd_with("0123456789", 10);
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 100);
	response_add_file(&r, fd, 0, 100);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_FAILED);
	CHECK_EQ_MEM(o.p + body_at(&o), o.n - body_at(&o), "0123456789");
	response_free(&r);
	CHECK(fd_closed(fd));
	out_free(&o);

	open_response(&r, HTTP_GET, 1, true); /* an offset past the end */
	response_status(&r, "200 OK", 6);
	response_add_file(&r, memfd_with("0123456789", 10), 20, 1);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_FAILED);
	response_free(&r);
	out_free(&o);
}

/* ---------- writing ---------- */

TEST(partial_writes_reassemble)
{
	enum { N = 300, SIZE = 997 };
	struct response r;
	struct out o = {0}, data = {0};
	struct slice sl[N] = {{0}};
	char *content = pattern(N * SIZE, 8);
	static size_t sizes[N + 1];
	int blocked = 0, n;
	for (int known = 0; known < 2; known++) {
		struct pair p = pair_open();
		memset(sl, 0, sizeof sl);
		open_response(&r, HTTP_GET, 1, true);
		response_status(&r, "200 OK", 6);
		response_head_end(&r, known, N * SIZE);
		for (int i = 0; i < N; i++) /* more slices than one sendmsg takes */
			response_add_mem(&r, content + i * SIZE, SIZE, count_release, &sl[i]);
		response_end(&r);
		CHECK_EQ_INT(pump(&r, &p, &o, &blocked), RESPONSE_DONE);
		size_t at = body_at(&o);
		if (known) {
			CHECK_EQ_INT(o.n - at, N * SIZE);
			CHECK(!memcmp(o.p + at, content, N * SIZE));
		} else {
			CHECK(dechunk(o.p + at, o.n - at, &data, sizes, &n));
			CHECK_EQ_INT(n, N);
			CHECK_EQ_INT(data.n, N * SIZE);
			CHECK(!memcmp(data.p, content, N * SIZE));
		}
		for (int i = 0; i < N; i++)
			CHECK_EQ_INT(sl[i].released, 1);
		response_free(&r);
		pair_close(&p);
		out_free(&o);
		out_free(&data);
	}
	CHECK(blocked > 10);
	free(content);
}

TEST(a_tiny_send_buffer)
{
	struct response r;
	struct out o = {0};
	char *content = pattern(5000, 9);
	int one = 1, blocked = 0;
	struct pair p = pair_open();
	setsockopt(p.w, SOL_SOCKET, SO_SNDBUF, &one, sizeof one); /* the kernel's minimum */
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	for (int i = 0; i < 5000; i++) /* one byte a chunk: the framing outweighs the data */
		response_add_mem(&r, content + i, 1, NULL, NULL);
	response_end(&r);
	CHECK_EQ_INT(pump(&r, &p, &o, &blocked), RESPONSE_DONE);
	CHECK(blocked > 0);
	size_t at = body_at(&o);
	CHECK_EQ_INT(o.n - at, 5000 * 6 + 5); /* "1\r\nx\r\n" each, then "0\r\n\r\n" */
	CHECK(!memcmp(o.p + at, "1\r\n", 3));
	CHECK(!memcmp(o.p + o.n - 5, "0\r\n\r\n", 5));
	response_free(&r);
	pair_close(&p);
	out_free(&o);
	free(content);
}

TEST(drained_until_the_end)
{
	struct response r;
	struct out o = {0};
	struct pair p = pair_open();
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_DRAINED); /* the head is not whole: nothing */
	CHECK(!response_on_wire(&r));
	drain(&p, &o);
	CHECK_EQ_INT(o.n, 0);
	response_add_mem(&r, "abc", 3, NULL, NULL);
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_DRAINED);
	CHECK(response_on_wire(&r));
	CHECK_EQ_MEM(o.p + body_at(&o), o.n - body_at(&o), "3\r\nabc");
	response_add_mem(&r, "de", 2, NULL, NULL);
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_DRAINED);
	response_end(&r);
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_DONE);
	CHECK_EQ_MEM(o.p + body_at(&o), o.n - body_at(&o), "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	CHECK_EQ_INT(pump(&r, &p, &o, NULL), RESPONSE_DONE); /* and stays done */
	response_free(&r);
	pair_close(&p);
	out_free(&o);
}

TEST(peer_gone_fails)
{
	struct response r;
	struct slice a = {0};
	struct pair p = pair_open();
	close(p.c);
	p.c = -1;
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_head_end(&r, true, 5);
	add_counted(&r, "hello", &a);
	response_end(&r);
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_FAILED); /* MSG_NOSIGNAL: no SIGPIPE */
	CHECK(!response_on_wire(&r));
	response_free(&r);
	CHECK_EQ_INT(a.released, 1);
	pair_close(&p);
}

TEST(peer_gone_during_a_file)
{
	/* sendfile has no MSG_NOSIGNAL: the writer relies on SIGPIPE being
	 * ignored, as the worker does. */
	signal(SIGPIPE, SIG_IGN);
	struct response r;
	struct out o = {0};
	char *content = pattern(100000, 10);
	struct pair p = pair_open();
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	response_add_file(&r, memfd_with(content, 100000), 0, 100000);
	response_end(&r);
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_BLOCKED);
	close(p.c);
	p.c = -1;
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_FAILED);
	response_free(&r);
	pair_close(&p);
	out_free(&o);
	free(content);
}

TEST(begin_starts_afresh)
{
	struct response r;
	struct out o = {0};
	struct slice a = {0};
	budget.limit = 0;
	open_response(&r, HTTP_GET, 1, false);
	response_status(&r, "500 Oops", 8);
	response_header(&r, "Content-Length", 14, "9", 1);
	add_counted(&r, "dropped", &a);
	response_begin(&r, HTTP_GET, 1, true);
	CHECK_EQ_INT(a.released, 1);
	response_status(&r, "200 OK", 6);
	response_add_mem(&r, "x", 1, NULL, NULL);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	CHECK_OUT(&o, "HTTP/1.1 200 OK\r\nServer: wsginit\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n"
		      "1\r\nx\r\n0\r\n\r\n");
	CHECK(r.keep);
	out_free(&o);
	response_begin(&r, HTTP_GET, 1, true); /* after a written response: its head is not resent */
	response_status(&r, "204 No Content", 14);
	response_end(&r);
	SENDS(&r, "HTTP/1.1 204 No Content\r\nServer: wsginit\r\nDate: <date>\r\n\r\n");
}

/* ---------- the budget and the release callbacks ---------- */

TEST(budget_is_the_owners_count)
{
	/* The owner of the memory counts it (wsgi.c, per distinct bytes object);
	 * the writer only compares it with the limit and never counts itself. */
	struct response r;
	struct slice a = {0};
	open_response(&r, HTTP_GET, 1, true);
	budget.limit = 0;
	CHECK(!response_over_budget(&r)); /* nothing held is never over */
	response_status(&r, "200 OK", 6);
	add_counted(&r, "hello", &a);
	CHECK_EQ_INT(atomic_load(&budget.held), 0);
	atomic_store(&budget.held, 1000);
	CHECK(response_over_budget(&r));
	budget.limit = 999;
	CHECK(response_over_budget(&r));
	budget.limit = 1000;
	CHECK(!response_over_budget(&r));
	atomic_store(&budget.held, 0);
	response_free(&r);
	CHECK_EQ_INT(a.released, 1);

	response_init(&r, NULL); /* no budget: never over */
	response_begin(&r, HTTP_GET, 1, true);
	CHECK(!response_over_budget(&r));
	response_free(&r);
}

/* Queues three counted slices (and a file) on a fresh GET response. */
static void queue_three(struct response *r, struct slice *s, bool keep)
{
	memset(s, 0, 3 * sizeof *s);
	open_response(r, HTTP_GET, 1, keep);
	response_status(r, "200 OK", 6);
	add_counted(r, "one", &s[0]);
	response_add_file(r, memfd_with("0123456789", 10), 0, 10);
	add_counted(r, "two", &s[1]);
	add_counted(r, "three", &s[2]);
}

static void check_released(const struct slice *s, const char *path, int line)
{
	for (int i = 0; i < 3; i++)
		if (s[i].released != 1)
			unit_fail(__FILE__, line, "%s: slice %d released %d times", path, i, s[i].released);
}

TEST(released_once_in_every_path)
{
	struct response r;
	struct slice s[3];
	struct out o = {0};

	queue_three(&r, s, true);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	check_released(s, "written", __LINE__);
	response_free(&r);
	check_released(s, "written, then freed", __LINE__);
	out_free(&o);

	queue_three(&r, s, true);
	response_begin(&r, HTTP_GET, 1, true);
	check_released(s, "dropped by response_begin", __LINE__);
	response_free(&r);
	check_released(s, "dropped by response_begin, then freed", __LINE__);

	queue_three(&r, s, true);
	response_free(&r);
	check_released(s, "dropped by response_free", __LINE__);

	queue_three(&r, s, true);
	CHECK(response_error(&r, 500));
	check_released(s, "dropped by response_error", __LINE__);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	response_free(&r);
	check_released(s, "dropped by response_error, then written", __LINE__);
	out_free(&o);

	queue_three(&r, s, true);
	response_cut(&r);
	check_released(s, "dropped by response_cut", __LINE__);
	response_free(&r);
	check_released(s, "dropped by response_cut, then freed", __LINE__);

	memset(s, 0, sizeof s);
	open_response(&r, HTTP_HEAD, 1, true);
	response_status(&r, "200 OK", 6);
	add_counted(&r, "one", &s[0]);
	add_counted(&r, "two", &s[1]);
	add_counted(&r, "three", &s[2]);
	check_released(s, "HEAD", __LINE__);
	response_end(&r);
	CHECK_EQ_INT(send_all(&r, &o), RESPONSE_DONE);
	response_free(&r);
	check_released(s, "HEAD, then written", __LINE__);
	out_free(&o);

	/* Half written when the client goes. */
	char *big = pattern(100000, 12);
	struct pair p = pair_open();
	memset(s, 0, sizeof s);
	open_response(&r, HTTP_GET, 1, true);
	response_status(&r, "200 OK", 6);
	add_counted(&r, "one", &s[0]);
	response_add_mem(&r, big, 100000, count_release, &s[1]);
	add_counted(&r, "three", &s[2]);
	response_end(&r);
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_BLOCKED);
	CHECK_EQ_INT(s[0].released, 1);
	CHECK_EQ_INT(s[1].released, 0);
	close(p.c);
	p.c = -1;
	CHECK_EQ_INT(response_write(&r, p.w), RESPONSE_FAILED);
	response_free(&r);
	check_released(s, "client gone", __LINE__);
	pair_close(&p);
	free(big);
}

UNIT_MAIN()
