/* Access log lines, each written with one write(). */
#include "accesslog.h"

#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_PARTS 64

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Atoms of ours, named as the JSON fields are: %(request_id)s ... */
enum { A_REQUEST_ID = 256, A_TRACE_ID, A_SPAN_ID, A_QUEUE_US };

static const struct {
	const char *name;
	int atom;
} named[] = {
	{"request_id", A_REQUEST_ID}, {"trace_id", A_TRACE_ID}, {"span_id", A_SPAN_ID}, {"queue_us", A_QUEUE_US},
};

/* A literal run of the format, or an atom such as h or {user-agent}i. */
struct part {
	int atom;         /* 0 for a literal; gunicorn's letter, or one of ours */
	const char *text; /* the literal, or the header name of {name}i/o */
	size_t len;
};

static struct part parts[MAX_PARTS];
static int nparts;
static bool enabled, json;
static const char *format; /* ACCESS_LOG_FORMAT, for error lines */

static int add(const char *text, size_t len, int atom, char *err, size_t errlen)
{
	if (nparts == MAX_PARTS) {
		snprintf(err, errlen, "ACCESS_LOG_FORMAT=\"%s\" is invalid: more than %d atoms and literal runs",
			 format, MAX_PARTS);
		return -1;
	}
	parts[nparts++] = (struct part){atom, text, len};
	return 0;
}

static int named_atom(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof named / sizeof *named; i++)
		if (strlen(named[i].name) == n && !memcmp(named[i].name, name, n))
			return named[i].atom;
	return 0;
}

int accesslog_init(const struct config *cfg, char *err, size_t errlen)
{
	enabled = cfg->access_log;
	json = cfg->log_json;
	nparts = 0;
	const char *s = format = cfg->access_log_format, *lit = s;
	while (*s) {
		if (s[0] == '%' && s[1] == '%') { /* Python's %-formatting, as gunicorn's: one '%' */
			if (add(lit, (size_t)(s + 1 - lit), 0, err, errlen) < 0)
				return -1;
			s = lit = s + 2;
			continue;
		}
		if (s[0] != '%' || s[1] != '(') {
			s++;
			continue;
		}
		const char *close = strstr(s, ")s");
		if (!close) {
			snprintf(err, errlen, "ACCESS_LOG_FORMAT=\"%s\" is invalid: expected %%(atom)s",
				 cfg->access_log_format);
			return -1;
		}
		if (s > lit && add(lit, (size_t)(s - lit), 0, err, errlen) < 0)
			return -1;
		const char *name = s + 2;
		size_t n = (size_t)(close - name);
		int r, atom;
		if (n > 3 && name[0] == '{' && name[n - 2] == '}' && strchr("io", name[n - 1]))
			r = add(name + 1, n - 3, name[n - 1], err, errlen);
		else if (n == 1 && strchr("hlutrmUqHsBbfaTMDLp", name[0]))
			r = add(NULL, 0, name[0], err, errlen);
		else if ((atom = named_atom(name, n)))
			r = add(NULL, 0, atom, err, errlen);
		else
			r = add("-", 1, 0, err, errlen); /* unknown atoms print "-", as in gunicorn */
		if (r < 0)
			return -1;
		s = lit = close + 2;
	}
	return s > lit ? add(lit, (size_t)(s - lit), 0, err, errlen) : 0;
}

bool accesslog_enabled(void)
{
	return enabled;
}

static struct http_slice req_header(const struct access *a, const char *name, size_t n)
{
	for (int i = 0; a->req && i < a->req->nheaders; i++) {
		const struct http_header *h = &a->req->headers[i];
		if (h->name.len == n && !strncasecmp(a->buf + h->name.off, name, n))
			return h->value;
	}
	return (struct http_slice){0, 0};
}

/* Appends a request header's value, or "-" when absent. */
static void add_req_header(struct line *l, const struct access *a, const char *name, size_t n)
{
	struct http_slice v = req_header(a, name, n);
	if (v.len)
		line_add(l, a->buf + v.off, v.len);
	else
		line_add(l, "-", 1);
}

static void add_resp_header(struct line *l, const struct access *a, const char *name, size_t n)
{
	const char *p = a->head, *end = a->head + a->head_len;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > n && p[n] == ':' && !strncasecmp(p, name, n)) {
			const char *v = p + n + 1;
			while (v < eol && *v == ' ')
				v++;
			line_add(l, v, (size_t)(eol - v));
			return;
		}
		p = eol + 2;
	}
	line_add(l, "-", 1);
}

/* The user name of Basic authentication, as gunicorn's %(u)s, or "-". */
static void add_user(struct line *l, const struct access *a)
{
	struct http_slice v = req_header(a, "authorization", 13);
	const char *s = a->buf + v.off;
	char user[256];
	size_t n = 0;
	unsigned bits = 0, acc = 0;
	if (v.len > 6 && !strncasecmp(s, "basic ", 6)) {
		for (uint32_t i = 6; i < v.len && s[i] != '=' && n < sizeof user; i++) {
			const char *d = strchr(b64, s[i]);
			if (!d || !s[i])
				return line_add(l, "-", 1);
			acc = acc << 6 | (unsigned)(d - b64);
			if ((bits += 6) >= 8) {
				bits -= 8;
				user[n++] = (char)(acc >> bits & 0xff);
			}
		}
	}
	const char *colon = memchr(user, ':', n);
	if (!colon || colon == user) /* gunicorn: no user, or an empty one, is "-" */
		return line_add(l, "-", 1);
	line_add(l, user, (size_t)(colon - user));
}

static const char *method_name(const struct access *a)
{
	return a->req ? llhttp_method_name((llhttp_method_t)a->req->method) : "-";
}

static void add_slice(struct line *l, const struct access *a, struct http_slice s)
{
	if (a->req)
		line_add(l, a->buf + s.off, s.len);
	else
		line_add(l, "-", 1);
}

/* "HTTP/1.x", or "-" for a request refused before it was parsed. */
static void add_protocol(struct line *l, const struct access *a)
{
	if (a->req)
		line_addf(l, "HTTP/1.%d", a->req->minor);
	else
		line_add(l, "-", 1);
}

/* s, or "-" when it is empty. */
static void add_text(struct line *l, const char *s)
{
	if (*s)
		line_add(l, s, strlen(s));
	else
		line_add(l, "-", 1);
}

static void add_atom(struct line *l, const struct access *a, const struct part *p)
{
	const struct http_request *r = a->req ? a->req : &(const struct http_request){0};
	char when[40];
	struct tm tm;
	switch (p->atom) {
	case 'h': line_add(l, a->remote, strlen(a->remote)); break;
	case 'l': line_add(l, "-", 1); break;
	case 'u': add_user(l, a); break;
	case 't':
		gmtime_r(&a->start.tv_sec, &tm);
		strftime(when, sizeof when, "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
		line_add(l, when, strlen(when));
		break;
	case 'r':
		if (!a->req)
			return line_add(l, "-", 1);
		line_addf(l, "%s ", method_name(a));
		add_slice(l, a, r->target);
		line_addf(l, " HTTP/1.%d", r->minor);
		break;
	case 'm': line_addf(l, "%s", method_name(a)); break;
	case 'U': add_slice(l, a, r->path); break;
	case 'q': add_slice(l, a, r->query); break;
	case 'H': add_protocol(l, a); break;
	case 's': line_addf(l, "%d", a->status); break;
	case 'B': line_addf(l, "%llu", (unsigned long long)a->bytes); break;
	case 'b':
		if (a->bytes)
			line_addf(l, "%llu", (unsigned long long)a->bytes);
		else
			line_add(l, "-", 1);
		break;
	case 'f': add_req_header(l, a, "referer", 7); break;
	case 'a': add_req_header(l, a, "user-agent", 10); break;
	case 'T': line_addf(l, "%lld", (long long)(a->duration_us / 1000000)); break;
	case 'M': line_addf(l, "%lld", (long long)(a->duration_us / 1000)); break;
	case 'D': line_addf(l, "%lld", (long long)a->duration_us); break;
	case 'L': line_addf(l, "%.6f", a->duration_us / 1e6); break;
	case 'p': line_addf(l, "<%d>", (int)getpid()); break;
	case 'i': add_req_header(l, a, p->text, p->len); break;
	case 'o': add_resp_header(l, a, p->text, p->len); break;
	case A_REQUEST_ID: add_text(l, a->trace ? a->trace->request_id : ""); break;
	case A_TRACE_ID: add_text(l, a->trace ? a->trace->trace_id : ""); break;
	case A_SPAN_ID: add_text(l, a->trace ? a->trace->span_id : ""); break;
	case A_QUEUE_US:
		if (a->trace && a->trace->queue_us >= 0)
			line_addf(l, "%lld", (long long)a->trace->queue_us);
		else
			line_add(l, "-", 1);
		break;
	}
}

static void add_json_field(struct line *l, const char *key, const char *s, size_t n)
{
	line_addf(l, ",\"%s\":\"", key);
	line_add_json(l, s, n);
	line_add(l, "\"", 1);
}

/* Only what the request has: no empty request_id, trace_id or span_id. */
static void add_json_trace(struct line *l, const struct trace *t)
{
	if (t->queue_us >= 0)
		line_addf(l, ",\"queue_us\":%lld", (long long)t->queue_us);
	if (t->request_id_len)
		add_json_field(l, "request_id", t->request_id, t->request_id_len);
	if (t->trace_id[0]) {
		add_json_field(l, "trace_id", t->trace_id, 32);
		add_json_field(l, "span_id", t->span_id, 16);
	}
}

static void write_json(const struct access *a)
{
	struct line l = {0};
	const char *b = a->req ? a->buf : "";
	const struct http_request *r = a->req ? a->req : &(const struct http_request){0};
	char when[40], protocol[16] = "-";
	struct tm tm;
	gmtime_r(&a->start.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	line_addf(&l, "{\"time\":\"%s\"", when);
	add_json_field(&l, "remote_addr", a->remote, strlen(a->remote));
	add_json_field(&l, "method", method_name(a), strlen(method_name(a)));
	add_json_field(&l, "path", b + r->path.off, r->path.len);
	add_json_field(&l, "query", b + r->query.off, r->query.len);
	if (a->req)
		snprintf(protocol, sizeof protocol, "HTTP/1.%d", r->minor);
	line_addf(&l, ",\"protocol\":\"%s\",\"status\":%d,\"bytes\":%llu,\"duration_us\":%lld",
		  protocol, a->status, (unsigned long long)a->bytes, (long long)a->duration_us);
	struct http_slice ref = req_header(a, "referer", 7), ua = req_header(a, "user-agent", 10);
	add_json_field(&l, "referer", b + ref.off, ref.len);
	add_json_field(&l, "user_agent", b + ua.off, ua.len);
	if (a->trace)
		add_json_trace(&l, a->trace);
	line_addf(&l, ",\"pid\":%d}", (int)getpid());
	line_write(&l, 1);
}

void accesslog_write(const struct access *a)
{
	if (!enabled)
		return;
	if (json)
		return write_json(a);
	struct line l = {0};
	for (int i = 0; i < nparts; i++) {
		if (parts[i].atom)
			add_atom(&l, a, &parts[i]);
		else
			line_add(&l, parts[i].text, parts[i].len);
	}
	line_write(&l, 1);
}
