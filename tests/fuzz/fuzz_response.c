/* libFuzzer driver for the response writer. The input is a program of
 * producer calls on one response (begin, status, headers, the head's end,
 * memory slices, file ranges, end, error, cut, writes); a model beside it
 * keeps what the API accepted. Everything is written through a socketpair
 * with a small send buffer, the client's side read as it goes, and a strict
 * HTTP/1.1 response reader checks the bytes: exactly one response, a clean
 * head, one framing, the body the API accepted, Connection: close exactly
 * when the connection may not be reused. Also: each release callback runs
 * once (slices are freed in it, so a late read is ASan's), files are closed,
 * the budget is the owner's to count: the writer never changes it.
 *
 * FUZZ_RESPONSE_DUMP=1 prints the client's bytes (to replay a crash). */
#include "http.h"
#include "response.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAIL_IF(cond)                                                                  \
	do {                                                                           \
		if (cond) {                                                            \
			fprintf(stderr, "fuzz_response.c:%d: %s\n", __LINE__, #cond);  \
			__builtin_trap();                                              \
		}                                                                      \
	} while (0)

#define FILE_SIZE 20000
#define MAX_SLICES 256
#define MAX_HEADERS 64
#define MAX_BODY (1 << 20)

static uint8_t file_data[FILE_SIZE];
static int file_fd = -1;

/* ---------- the input ---------- */

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned u8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static unsigned u16(struct input *in)
{
	unsigned lo = u8(in);
	return lo | u8(in) << 8;
}

/* Up to want bytes of the input. */
static size_t take(struct input *in, size_t want, const uint8_t **p)
{
	size_t n = want < in->n ? want : in->n;
	*p = in->p;
	in->p += n;
	in->n -= n;
	return n;
}

/* ---------- buffers ---------- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		if (!(b->p = realloc(b->p, b->cap)))
			abort();
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* ---------- slices and files ---------- */

static struct slice {
	uint8_t *mem;
	bool counted;     /* given with a release callback */
	int released;
} slices[MAX_SLICES];
static int nslices;

static int fds[MAX_SLICES];
static int nfds;

static void on_release(void *ctx)
{
	struct slice *s = &slices[(intptr_t)ctx];
	FAIL_IF(!s->counted);
	FAIL_IF(++s->released > 1);
	free(s->mem);
	s->mem = NULL;
}

/* ---------- the model ---------- */

struct header {
	const uint8_t *name, *value;
	size_t nn, vn;
};

struct model {
	bool head_req, http10, keep_req;
	int status;
	bool status_set;
	struct header h[MAX_HEADERS]; /* the app's, as they must appear */
	int nh;
	bool app_length;              /* the app sent Content-Length */
	uint64_t length;              /* the body's limit under a Content-Length */
	bool limited;
	bool head_done, fin_known;    /* how the head was completed */
	uint64_t fin_length;
	bool ended, cut, errored;
	uint64_t queued;
	int chunks;                   /* non-empty sources accepted */
	bool short_file;              /* a file range past the file's end: writing fails there */
	struct buf body;              /* the body bytes accepted, up to a short file's end */
	size_t out_at_cut;
};

static bool bodiless_status(int st)
{
	return st < 200 || st == 204 || st == 304;
}

static bool bodiless(const struct model *m)
{
	return m->head_req || bodiless_status(m->status);
}

static bool same_name(const uint8_t *p, size_t n, const char *name)
{
	return n == strlen(name) && !strncasecmp((const char *)p, name, n);
}

static bool app_has(const struct model *m, const char *name)
{
	for (int i = 0; i < m->nh; i++)
		if (same_name(m->h[i].name, m->h[i].nn, name))
			return true;
	return false;
}

/* The head is completed (known: its length is known, and is length). */
static void model_head_end(struct model *m, bool known, uint64_t length)
{
	if (m->head_done)
		return;
	m->head_done = true;
	m->fin_known = known;
	m->fin_length = length;
	if (!bodiless_status(m->status) && !m->app_length && known) {
		m->limited = true;
		m->length = length;
	}
}

/* How much of n bytes the writer takes now. */
static uint64_t model_room(struct model *m, uint64_t n)
{
	if (m->ended)
		return 0;
	model_head_end(m, false, 0);
	if (bodiless(m))
		return 0;
	if (m->limited && n > m->length - m->queued)
		n = m->length - m->queued;
	m->queued += n;
	m->chunks += n > 0;
	return n;
}

/* ---------- validation, as RFC 9110 has it ---------- */

static bool tchar(unsigned c)
{
	return c > ' ' && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", (int)c);
}

static bool vchar(unsigned c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static bool all(bool (*ok)(unsigned), const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ok(p[i]))
			return false;
	return true;
}

static enum response_refusal expect_status(const uint8_t *s, size_t n)
{
	bool ok = n >= 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
		  s[2] <= '9' && (n == 3 || s[3] == ' ') && all(vchar, s, n);
	return ok ? REFUSE_NONE : REFUSE_STATUS;
}

static enum response_refusal expect_header(const uint8_t *name, size_t nn, const uint8_t *v, size_t vn)
{
	static const char *const hop[] = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
					  "te", "trailer", "trailers", "transfer-encoding", "upgrade"};
	if (!nn || !all(tchar, name, nn) || !all(vchar, v, vn))
		return REFUSE_FIELD;
	for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
		if (same_name(name, nn, hop[i]))
			return REFUSE_HOP_BY_HOP;
	if (same_name(name, nn, "content-length")) {
		if (!vn || vn > 19)
			return REFUSE_LENGTH;
		for (size_t i = 0; i < vn; i++)
			if (v[i] < '0' || v[i] > '9')
				return REFUSE_LENGTH;
	}
	return REFUSE_NONE;
}

static uint64_t number(const uint8_t *p, size_t n)
{
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = x * 10 + (p[i] - '0');
	return x;
}

/* ---------- the client's side ---------- */

struct wire {
	int w, c;
	struct buf out;
	struct response_budget budget;
};

static void drain(struct wire *w)
{
	uint8_t buf[65536];
	ssize_t n;
	while ((n = read(w->c, buf, sizeof buf)) > 0)
		buf_add(&w->out, buf, (size_t)n);
	FAIL_IF(n < 0 && errno != EAGAIN);
}

/* One response_write, the client reading what it sent; checks the outcome
 * is one the model allows. */
static enum response_progress write_once(struct response *r, struct wire *w, const struct model *m)
{
	size_t before = w->out.n;
	enum response_progress p = response_write(r, w->w);
	drain(w);
	FAIL_IF(m->cut && w->out.n != before);
	FAIL_IF(response_on_wire(r) != (w->out.n > 0));
	switch (p) {
	case RESPONSE_DONE:
		FAIL_IF(!m->ended || m->cut || m->short_file);
		break;
	case RESPONSE_DRAINED:
		FAIL_IF(m->ended && m->head_done);
		break;
	case RESPONSE_FAILED:
		FAIL_IF(!m->cut && !m->short_file);
		break;
	case RESPONSE_BLOCKED:
		break;
	}
	return p;
}

/* ---------- the strict response reader ---------- */

struct seen {
	int ncl, app_cl;
	uint64_t cl;
	bool te, close, keep_alive, server, date;
};

static bool is_line(const uint8_t *p, size_t n, const char *name, const char *value)
{
	size_t a = strlen(name), b = strlen(value);
	return n == a + 2 + b && !memcmp(p, name, a) && !memcmp(p + a, ": ", 2) && !memcmp(p + a + 2, value, b);
}

/* The header lines p[0..n), each "name: value" CRLF: the app's first, in
 * order, then the ones the writer adds, in its order. */
static void read_fields(const uint8_t *p, size_t n, const struct model *m, struct seen *s)
{
	size_t i = 0;
	int app = 0, stage = 0;
	while (i < n) {
		size_t start = i, nn, vn;
		while (i < n && tchar(p[i]))
			i++;
		nn = i - start;
		FAIL_IF(!nn || i + 2 > n || p[i] != ':' || p[i + 1] != ' ');
		i += 2;
		size_t vs = i;
		while (i < n && p[i] != '\r' && p[i] != '\n') {
			FAIL_IF(!vchar(p[i]));
			i++;
		}
		vn = i - vs;
		FAIL_IF(i + 2 > n || p[i] != '\r' || p[i + 1] != '\n'); /* no bare CR or LF */
		i += 2;
		const uint8_t *line = p + start;
		size_t len = nn + 2 + vn;
		if (app < m->nh) {
			const struct header *h = &m->h[app++];
			FAIL_IF(h->nn != nn || memcmp(h->name, line, nn) || h->vn != vn || memcmp(h->value, p + vs, vn));
			if (same_name(line, nn, "content-length")) {
				s->ncl++, s->app_cl++;
				s->cl = number(p + vs, vn);
			}
			continue;
		}
		if (is_line(line, len, "Server", "wsginit") && stage < 1) {
			stage = 1;
			s->server = true;
		} else if (nn == 4 && !memcmp(line, "Date", 4) && vn == 29 && stage < 2) {
			FAIL_IF(memcmp(p + vs + 25, " GMT", 4) || p[vs + 3] != ',');
			stage = 2;
			s->date = true;
		} else if (nn == 14 && !memcmp(line, "Content-Length", 14) && stage < 3) {
			FAIL_IF(!vn || vn > 20);
			for (size_t k = 0; k < vn; k++)
				FAIL_IF(p[vs + k] < '0' || p[vs + k] > '9');
			stage = 3;
			s->ncl++;
			s->cl = number(p + vs, vn);
		} else if (is_line(line, len, "Transfer-Encoding", "chunked") && stage < 3) {
			stage = 3;
			s->te = true;
		} else if (is_line(line, len, "Connection", "close") && stage < 4) {
			stage = 4;
			s->close = true;
		} else if (is_line(line, len, "Connection", "keep-alive") && stage < 4) {
			stage = 4;
			s->keep_alive = true;
		} else {
			FAIL_IF("a header neither the app's nor the writer's");
		}
	}
	FAIL_IF(app != m->nh);
}

/* Decodes a chunked body; true when it ended ("0" CRLF CRLF) exactly at n. */
static bool dechunk(const uint8_t *p, size_t n, struct buf *body, int *chunks)
{
	size_t i = 0;
	for (;;) {
		size_t start = i;
		uint64_t size = 0;
		while (i < n && ((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
			FAIL_IF(i - start >= 16);
			size = size * 16 + (p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
			i++;
		}
		if (i == n)
			return false;
		FAIL_IF(i == start || (p[start] == '0' && i - start > 1));
		FAIL_IF(p[i] != '\r' || (i + 1 < n && p[i + 1] != '\n'));
		if (i + 2 > n)
			return false;
		i += 2;
		if (!size) {
			for (size_t k = 0; k < 2 && i + k < n; k++)
				FAIL_IF(p[i + k] != "\r\n"[k]);
			FAIL_IF(i + 2 < n); /* a byte after the last chunk */
			return i + 2 == n;
		}
		++*chunks;
		size_t have = n - i < size ? n - i : (size_t)size;
		buf_add(body, p + i, have);
		i += have;
		if (have < size)
			return false;
		for (size_t k = 0; k < 2 && i + k < n; k++)
			FAIL_IF(p[i + k] != "\r\n"[k]);
		if (i + 2 > n)
			return false;
		i += 2;
	}
}

/* The client's bytes against the model; whole: the writer said DONE. */
static void check_output(const uint8_t *o, size_t n, const struct model *m, const struct response *r, bool whole)
{
	const uint8_t *e = n ? memmem(o, n, "\r\n\r\n", 4) : NULL;
	if (!e) {
		FAIL_IF(whole);
		FAIL_IF(n && memcmp(o, "HTTP/1.1 ", n < 9 ? n : 9));
		return;
	}
	size_t hlen = (size_t)(e - o) + 4, i = 12;
	/* "HTTP/1.1 NNN" [SP reason] CRLF */
	FAIL_IF(hlen < 16 || memcmp(o, "HTTP/1.1 ", 9));
	for (int k = 9; k < 12; k++)
		FAIL_IF(o[k] < '0' || o[k] > '9');
	int st = (o[9] - '0') * 100 + (o[10] - '0') * 10 + (o[11] - '0');
	FAIL_IF(st != m->status || st < 100 || st > 599);
	if (o[i] == ' ')
		for (i++; o[i] != '\r' && o[i] != '\n'; i++)
			FAIL_IF(!vchar(o[i]));
	FAIL_IF(o[i] != '\r' || o[i + 1] != '\n');
	i += 2;
	struct seen s = {0};
	read_fields(o + i, hlen - 2 - i, m, &s);

	FAIL_IF(s.server == app_has(m, "server"));
	FAIL_IF(s.date == app_has(m, "date"));
	FAIL_IF(s.te && s.ncl);
	FAIL_IF(s.te && m->http10);
	FAIL_IF(s.close && s.keep_alive);
	FAIL_IF(s.keep_alive && !m->http10);
	FAIL_IF(s.ncl > 1);
	FAIL_IF(s.ncl && (st < 200 || st == 204)); /* RFC 9110 §8.6: MUST NOT */
	/* The length announced: the app's, else the one known when the head ended. */
	if (!bodiless_status(st) && !m->errored)
		FAIL_IF(!s.ncl != !(m->app_length || m->fin_known));
	if (s.ncl && !s.app_cl)
		FAIL_IF(s.cl != m->fin_length);

	const uint8_t *b = o + hlen;
	size_t rest = n - hlen;
	struct buf body = {0};
	bool complete, close_delimited = false;
	int chunks = 0;
	if (m->head_req || bodiless_status(st)) {
		FAIL_IF(s.te);
		FAIL_IF(rest); /* never a body byte */
		complete = true;
	} else if (s.te) {
		complete = dechunk(b, rest, &body, &chunks);
		FAIL_IF(complete && chunks != m->chunks);
	} else if (s.ncl) {
		FAIL_IF(rest > s.cl); /* bytes past the response */
		buf_add(&body, b, rest);
		complete = rest == s.cl;
	} else {
		FAIL_IF(!m->http10 || !s.close); /* close-delimited: HTTP/1.0 only, and said */
		buf_add(&body, b, rest);
		close_delimited = complete = true;
	}
	FAIL_IF(body.n > m->body.n || (body.n && memcmp(body.p, m->body.p, body.n)));
	if (whole) {
		FAIL_IF(body.n != m->body.n);
		if (!complete) /* only a body short of the app's Content-Length */
			FAIL_IF(!s.ncl || !m->limited || m->queued >= m->length || r->keep);
	}
	/* Connection: close exactly when the head already knew it would close. */
	FAIL_IF(s.close != (!m->keep_req || m->errored || close_delimited));
	FAIL_IF(s.keep_alive != (m->http10 && !s.close));
	FAIL_IF(s.close && r->keep);
	if (whole)
		FAIL_IF(r->keep != (!s.close && complete));
	if (m->cut)
		FAIL_IF(r->keep);
	free(body.p);
}

/* ---------- the program ---------- */

static const char *const names[] = {"Content-Length", "content-length", "X-Accel-Buffering", "Date", "Server",
				    "Content-Type", "X-A", "Connection", "Transfer-Encoding", "TE",
				    "Keep-Alive", "Set-Cookie", "server", "date"};
static const char *const values[] = {"0", "1", "5", "100", "1000", "no", "yes", "chunked", "close", "text/plain",
				     "", "007", "18446744073709551615", "NO", "a\r\nX: 1"};
static const int codes[] = {200, 201, 204, 206, 304, 100, 103, 404, 500, 299, 599};
static const int errors[] = {400, 404, 408, 413, 431, 500, 503, 505, 200, 204, 304, 100};

/* A name or value: from the table, or raw input bytes. */
static size_t field(struct input *in, const char *const *table, size_t ntable, const uint8_t **p)
{
	unsigned b = u8(in);
	if (b & 0x80)
		return take(in, b & 31, p);
	*p = (const uint8_t *)table[b % ntable];
	return strlen(table[b % ntable]);
}

static void op_status(struct input *in, struct response *r, struct model *m)
{
	unsigned b = u8(in);
	if (m->head_done)
		return; /* out of the contract: the glue never does it */
	if (!(b & 0x80)) {
		int code = codes[b % (sizeof codes / sizeof *codes)];
		response_status_code(r, code);
		m->status = code;
	} else {
		const uint8_t *s;
		size_t n = take(in, b & 31, &s);
		enum response_refusal got = response_status(r, (const char *)s, n);
		FAIL_IF(got != expect_status(s, n));
		if (got != REFUSE_NONE)
			return;
		m->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	}
	FAIL_IF(r->status != m->status);
	m->status_set = true;
	m->nh = 0;
	m->app_length = m->limited = false;
	FAIL_IF(r->stream);
}

static void op_header(struct input *in, struct response *r, struct model *m)
{
	const uint8_t *name, *value;
	size_t nn = field(in, names, sizeof names / sizeof *names, &name);
	size_t vn = field(in, values, sizeof values / sizeof *values, &value);
	if (m->head_done || !m->status_set || m->nh == MAX_HEADERS)
		return;
	enum response_refusal got = response_header(r, (const char *)name, nn, (const char *)value, vn);
	enum response_refusal want = expect_header(name, nn, value, vn);
	bool length = want == REFUSE_NONE && same_name(name, nn, "content-length");
	if (length && m->app_length && number(value, vn) != m->length)
		want = REFUSE_LENGTH; /* two different lengths */
	FAIL_IF(got != want);
	if (got != REFUSE_NONE)
		return;
	if (same_name(name, nn, "x-accel-buffering")) {
		FAIL_IF(r->stream != (vn == 2 && !strncasecmp((const char *)value, "no", 2)));
		return;
	}
	if (length) {
		if (m->app_length || m->status < 200 || m->status == 204)
			return; /* a repeat is sent once; 1xx and 204 carry none */
		m->app_length = m->limited = true;
		m->length = number(value, vn);
	}
	m->h[m->nh++] = (struct header){name, value, nn, vn};
}

/* Before what completes the head: the glue always gives a status first. */
static void ensure_status(struct response *r, struct model *m)
{
	if (m->status_set || m->head_done)
		return;
	response_status_code(r, 200);
	m->status = 200;
	m->status_set = true;
}

static void op_mem(struct input *in, struct response *r, struct model *m, struct response_budget *budget)
{
	unsigned b = u8(in);
	size_t n = b & 0x80 ? u16(in) % 12000 : b & 0x3f;
	bool counted = b & 0x40;
	unsigned seed = u8(in);
	if (nslices == MAX_SLICES || m->body.n + n > MAX_BODY)
		return;
	ensure_status(r, m);
	struct slice *s = &slices[nslices];
	*s = (struct slice){.mem = malloc(n ? n : 1), .counted = counted};
	for (size_t i = 0; i < n; i++)
		s->mem[i] = (uint8_t)(seed + i * 13 + (i >> 7));
	uint64_t k = model_room(m, n);
	if (!m->short_file)
		buf_add(&m->body, s->mem, (size_t)k);
	size_t held = atomic_load(&budget->held);
	response_add_mem(r, s->mem, n, counted ? on_release : NULL, (void *)(intptr_t)nslices);
	nslices++;
	FAIL_IF(atomic_load(&budget->held) != held); /* the owner counts, never the writer */
	FAIL_IF(counted && !k && s->released != 1); /* nothing taken: released at once */
}

static void op_file(struct input *in, struct response *r, struct model *m)
{
	unsigned b = u8(in);
	uint64_t off = u16(in) % (FILE_SIZE + 1), n = u16(in);
	if (!(b & 1) && n > FILE_SIZE - off)
		n = FILE_SIZE - off; /* mostly within the file */
	if (nfds == MAX_SLICES || m->body.n + n > MAX_BODY)
		return;
	ensure_status(r, m);
	int fd = fcntl(file_fd, F_DUPFD_CLOEXEC, 0);
	FAIL_IF(fd < 0);
	fds[nfds++] = fd;
	uint64_t k = model_room(m, n);
	if (!m->short_file) {
		uint64_t have = off + k > FILE_SIZE ? FILE_SIZE - off : k;
		buf_add(&m->body, file_data + off, (size_t)have);
		m->short_file = have < k;
	}
	response_add_file(r, fd, (off_t)off, n);
	if (!k)
		FAIL_IF(fcntl(fd, F_GETFD) >= 0); /* nothing taken: closed at once */
}

static void op_error(struct input *in, struct response *r, struct model *m, struct wire *w)
{
	int code = errors[u8(in) % (sizeof errors / sizeof *errors)];
	bool ok = response_error(r, code);
	FAIL_IF(ok != (w->out.n == 0));
	if (!ok)
		return;
	const char *reason = http_reason(code);
	static const uint8_t ctype[] = "Content-Type", plain[] = "text/plain";
	m->status = code;
	m->status_set = true;
	m->nh = 1;
	m->h[0] = (struct header){ctype, plain, 12, 10};
	m->app_length = m->limited = false;
	m->head_done = false;
	m->ended = false;
	m->queued = 0;
	m->chunks = 0;
	m->short_file = false;
	m->body.n = 0;
	m->errored = true;
	model_head_end(m, true, strlen(reason) + 1);
	if (!bodiless(m)) {
		model_room(m, strlen(reason) + 1);
		buf_add(&m->body, reason, strlen(reason));
		buf_add(&m->body, "\n", 1);
	}
	m->ended = true;
	FAIL_IF(r->keep || r->stream || r->status != code);
}

static void op_end(struct response *r, struct model *m)
{
	ensure_status(r, m);
	if (!m->ended)
		model_head_end(m, true, 0);
	m->ended = true;
	response_end(r);
}

static void run(struct input *in, struct wire *w)
{
	struct response r;
	struct model m = {0};
	unsigned flags = u8(in);
	m.head_req = flags & 1;
	m.http10 = flags & 2;
	m.keep_req = flags & 4;
	m.status = 200;
	w->budget.limit = (flags >> 3) * 512;
	atomic_store(&w->budget.held, (flags >> 3 & 3) * 700); /* what the owner would have counted */
	response_init(&r, &w->budget);
	response_begin(&r, m.head_req ? HTTP_HEAD : HTTP_GET, m.http10 ? 0 : 1, m.keep_req);
	while (in->n) {
		switch (u8(in) % 12) {
		case 0: op_status(in, &r, &m); break;
		case 1: case 2: op_header(in, &r, &m); break;
		case 3: {
			unsigned b = u8(in);
			uint64_t len = b & 0x80 ? u16(in) : b & 0x3f;
			ensure_status(&r, &m);
			model_head_end(&m, b & 0x40, len);
			response_head_end(&r, b & 0x40, len);
			break;
		}
		case 4: case 5: op_mem(in, &r, &m, &w->budget); break;
		case 6: op_file(in, &r, &m); break;
		case 7: op_end(&r, &m); break;
		case 8: op_error(in, &r, &m, w); break;
		case 9:
			response_cut(&r);
			m.cut = m.ended = true;
			m.out_at_cut = w->out.n;
			FAIL_IF(r.keep);
			break;
		case 10: case 11: write_once(&r, w, &m); break;
		}
		FAIL_IF(r.head_done != m.head_done && !m.cut);
		FAIL_IF(response_over_budget(&r) != (atomic_load(&w->budget.held) > w->budget.limit));
	}
	if (!m.ended)
		op_end(&r, &m);
	enum response_progress p = RESPONSE_BLOCKED;
	for (int i = 0; i < 100000 && p == RESPONSE_BLOCKED; i++)
		p = write_once(&r, w, &m);
	FAIL_IF(p != (m.cut || m.short_file ? RESPONSE_FAILED : RESPONSE_DONE));
	if (getenv("FUZZ_RESPONSE_DUMP")) /* replaying a crash: what the client got */
		fprintf(stderr, "-- %zu bytes, %s:\n%.*s\n--\n", w->out.n, p == RESPONSE_DONE ? "done" : "failed",
			(int)w->out.n, w->out.p ? (const char *)w->out.p : "");
	if (m.cut)
		FAIL_IF(w->out.n != m.out_at_cut);
	check_output(w->out.p, w->out.n, &m, &r, p == RESPONSE_DONE);
	size_t held = atomic_load(&w->budget.held);
	response_free(&r);
	for (int i = 0; i < nslices; i++)
		FAIL_IF(slices[i].released != slices[i].counted);
	FAIL_IF(atomic_load(&w->budget.held) != held);
	for (int i = 0; i < nfds; i++)
		FAIL_IF(fcntl(fds[i], F_GETFD) >= 0); /* every file closed */
	free(m.body.p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < FILE_SIZE; i++)
		file_data[i] = (uint8_t)(i * 7 + (i >> 8) * 3 + 1);
	file_fd = memfd_create("fuzz_response", MFD_CLOEXEC);
	if (file_fd < 0 || write(file_fd, file_data, FILE_SIZE) != FILE_SIZE)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct wire w = {0};
	int sv[2], small = 4096;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	w.w = sv[0];
	w.c = sv[1];
	nslices = nfds = 0;
	run(&in, &w);
	for (int i = 0; i < nslices; i++)
		free(slices[i].mem);
	close(sv[0]);
	close(sv[1]);
	free(w.out.p);
	return 0;
}
