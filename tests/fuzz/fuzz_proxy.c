/* libFuzzer driver for the forwarding-header walk (proxy_apply).
 *
 * Input: line 1 is FORWARDED_ALLOW_IPS (empty: the default; a fixed list when
 * config_load_from refuses it), line 2 the peer's address (anything else is a unix-socket
 * peer), every further "Name: value" line a request header; a name that is
 * one digit stands for one of the headers proxy.c reads. Values hold what
 * llhttp lets through (no control characters but HTAB).
 *
 * Besides ASan/UBSan, it checks what proxy.h promises: REMOTE_ADDR is the
 * peer, or an address read from X-Forwarded-For or Forwarded, NUL-terminated
 * in its array; an untrusted peer changes nothing; the prefix is a whole
 * X-Forwarded-Prefix or Script-Name value starting with '/'; and a client
 * cannot choose its address: once the walk stops at an untrusted hop, what
 * lies to its left (an earlier line) or a trusted hop added to its right
 * changes nothing. */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 32

static const char *const names[] = {"X-Forwarded-For", "Forwarded", "X-Forwarded-Proto",
				    "X-Forwarded-Protocol", "X-Forwarded-Ssl", "X-Forwarded-Prefix",
				    "Script-Name", "Host", "x-forwarded-for", "FORWARDED"};

struct req {
	char buf[16384];
	size_t len;
	struct http_header headers[MAX_HEADERS + 1];
	struct http_request r;
};

static const char *allow;
static const char *get(const char *name)
{
	if (!strcmp(name, "APP"))
		return "app:application";
	return strcmp(name, "FORWARDED_ALLOW_IPS") ? NULL : allow;
}

/* The configuration for a trust list, loaded again only when it changes. */
static const struct config *configure(const char *list)
{
	static struct config cfg;
	static char last[4096] = {1};
	char err[512];
	if (!strcmp(list, last))
		return &cfg;
	snprintf(last, sizeof last, "%s", list);
	allow = *list ? list : NULL; /* an empty line: the default list */
	if (config_load_from(&cfg, get, "/nonexistent", err, sizeof err) < 0) {
		allow = "10.0.0.0/8,2001:db8::/32,127.0.0.1";
		if (config_load_from(&cfg, get, "/nonexistent", err, sizeof err) < 0)
			abort();
	}
	return &cfg;
}

static void add_header(struct req *q, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (q->r.nheaders == MAX_HEADERS + 1 || q->len + nlen + vlen > sizeof q->buf)
		return;
	struct http_header *h = &q->headers[q->r.nheaders++];
	memcpy(q->buf + q->len, name, nlen);
	h->name = (struct http_slice){(uint32_t)q->len, (uint32_t)nlen};
	q->len += nlen;
	memcpy(q->buf + q->len, value, vlen);
	h->value = (struct http_slice){(uint32_t)q->len, (uint32_t)vlen};
	q->len += vlen;
}

static bool clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* Header lines of text into q (after `first` when given); false for input
 * llhttp would refuse. */
static bool parse_headers(struct req *q, const char *text, size_t n, const char *first, const char *first_value)
{
	memset(q, 0, sizeof *q);
	q->r.headers = q->headers;
	q->r.host = -1;
	if (first)
		add_header(q, first, strlen(first), first_value, strlen(first_value));
	for (const char *p = text, *end = text + n; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol ? eol : end, *colon = memchr(p, ':', (size_t)(stop - p));
		if (colon && colon > p) {
			const char *name = p, *v = colon + 1;
			size_t nlen = (size_t)(colon - p);
			if (nlen == 1 && *p >= '0' && *p <= '9')
				name = names[*p - '0'], nlen = strlen(name);
			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = stop;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (!clean(name, nlen) || !clean(v, (size_t)(ve - v)))
				return false;
			add_header(q, name, nlen, v, (size_t)(ve - v));
		}
		p = stop + 1;
	}
	return true;
}

static bool named(const struct req *q, int i, const char *name)
{
	const struct http_header *h = &q->headers[i];
	return h->name.len == strlen(name) && !strncasecmp(q->buf + h->name.off, name, h->name.len);
}

/* Whether the last line named name has a value. */
static bool last_has_value(const struct req *q, const char *name)
{
	for (int i = q->r.nheaders - 1; i >= 0; i--)
		if (named(q, i, name))
			return q->headers[i].value.len;
	return false;
}

/* The header whose hops were walked: X-Forwarded-For when any of the
 * X-Forwarded-* family has a value, else Forwarded when it has one. */
static const char *walked(const struct req *q)
{
	static const char *const family[] = {"x-forwarded-for", "x-forwarded-proto",
					     "x-forwarded-protocol", "x-forwarded-ssl"};
	for (size_t i = 0; i < sizeof family / sizeof *family; i++)
		if (last_has_value(q, family[i]))
			return "x-forwarded-for";
	return last_has_value(q, "forwarded") ? "forwarded" : "x-forwarded-for";
}

/* True when s appears inside a value of a header named name. */
static bool in_values(const struct req *q, const char *name, const char *s)
{
	for (int i = 0; i < q->r.nheaders; i++)
		if (named(q, i, name) &&
		    memmem(q->buf + q->headers[i].value.off, q->headers[i].value.len, s, strlen(s)))
			return true;
	return false;
}

static bool is_ip(const char *s, struct sockaddr_in6 *sa)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	memset(sa, 0, sizeof *sa);
	if (inet_pton(AF_INET, s, &v4->sin_addr) == 1)
		return v4->sin_family = AF_INET, true;
	if (inet_pton(AF_INET6, s, &sa->sin6_addr) == 1)
		return sa->sin6_family = AF_INET6, true;
	return false;
}

static void same_view(const struct req *a, const struct proxy_view *x, const struct req *b,
		      const struct proxy_view *y, bool with_scheme)
{
	if (strcmp(x->remote, y->remote) || (with_scheme && x->https != y->https) ||
	    x->prefix.len != y->prefix.len ||
	    memcmp(a->buf + x->prefix.off, b->buf + y->prefix.off, x->prefix.len)) {
		fprintf(stderr, "view changed: %s -> %s\n", x->remote, y->remote);
		abort();
	}
}

static void check_prefix(const struct req *q, const struct proxy_view *v)
{
	if (!v->prefix.len)
		return;
	for (int i = 0; i < q->r.nheaders; i++)
		if ((named(q, i, "x-forwarded-prefix") || named(q, i, "script-name")) &&
		    q->headers[i].value.off == v->prefix.off && q->headers[i].value.len == v->prefix.len &&
		    q->buf[v->prefix.off] == '/')
			return;
	abort(); /* not a whole prefix value */
}

/* What proxy.h promises for one request. */
static void check(const struct config *cfg, const struct sockaddr *peer, const char *peer_text,
		  const struct req *q, const struct proxy_view *v)
{
	if (!memchr(v->remote, 0, sizeof v->remote))
		abort();
	check_prefix(q, v);
	if (!config_forwarded_allowed(cfg, peer)) {
		if (strcmp(v->remote, peer_text) || v->https || v->prefix.len)
			abort(); /* an untrusted peer changed something */
		return;
	}
	if (!strcmp(v->remote, peer_text))
		return;
	struct sockaddr_in6 sa;
	if (!is_ip(v->remote, &sa))
		abort(); /* REMOTE_ADDR is no address */
	if (!in_values(q, walked(q), v->remote))
		abort(); /* not a hop of the header that was walked */
}

static const char *const candidates[] = {"127.0.0.1", "::1", "10.0.0.1", "2001:db8::1", "192.168.0.1"};

/* Once the walk stopped at an untrusted hop R: an earlier line (what the
 * client sent first) and a trusted hop after it leave R the client. */
static void check_spoofing(const struct config *cfg, const struct sockaddr *peer, const char *peer_text,
			   const char *text, size_t n, const struct req *q, const struct proxy_view *v)
{
	struct sockaddr_in6 sa;
	if (!strcmp(v->remote, peer_text) || !is_ip(v->remote, &sa) ||
	    config_forwarded_allowed(cfg, (struct sockaddr *)&sa))
		return;
	static struct req q2;
	struct proxy_view v2;
	bool fwd = !strcmp(walked(q), "forwarded");
	if (!parse_headers(&q2, text, n, fwd ? "Forwarded" : "X-Forwarded-For",
			   fwd ? "for=203.0.113.77;proto=https" : "203.0.113.77"))
		abort();
	if (q2.r.nheaders != q->r.nheaders + 1)
		return; /* the table was full */
	proxy_apply(cfg, peer, peer_text, q2.buf, &q2.r, &v2);
	same_view(q, v, &q2, &v2, true);
	if (fwd)
		return; /* a Forwarded element added after the others would bring its own proto */
	for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
		if (!is_ip(candidates[i], &sa) || !config_forwarded_allowed(cfg, (struct sockaddr *)&sa))
			continue;
		parse_headers(&q2, text, n, NULL, NULL);
		if (q2.r.nheaders > MAX_HEADERS)
			return;
		add_header(&q2, "X-Forwarded-For", 15, candidates[i], strlen(candidates[i]));
		proxy_apply(cfg, peer, peer_text, q2.buf, &q2.r, &v2);
		same_view(q, v, &q2, &v2, false);
		return;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = text + size;
	const char *nl1 = memchr(text, '\n', size);
	if (!nl1)
		return 0;
	const char *nl2 = memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1));
	if (!nl2)
		return 0;
	char list[4096], peer_text[64];
	if ((size_t)(nl1 - text) >= sizeof list || (size_t)(nl2 - nl1 - 1) >= sizeof peer_text)
		return 0;
	snprintf(list, sizeof list, "%.*s", (int)(nl1 - text), text);
	snprintf(peer_text, sizeof peer_text, "%.*s", (int)(nl2 - nl1 - 1), nl1 + 1);
	if (strlen(list) != (size_t)(nl1 - text) || strlen(peer_text) != (size_t)(nl2 - nl1 - 1))
		return 0; /* a NUL inside */
	const struct config *cfg = configure(list);
	struct sockaddr_in6 sa;
	if (!is_ip(peer_text, &sa)) {
		sa.sin6_family = AF_UNIX;
		peer_text[0] = 0; /* as worker.c has it for a unix socket */
	}
	static struct req q;
	const char *headers = nl2 + 1;
	size_t n = (size_t)(end - headers);
	if (!parse_headers(&q, headers, n, NULL, NULL) || q.r.nheaders > MAX_HEADERS)
		return 0;
	struct proxy_view v;
	memset(&v, 0xa5, sizeof v);
	proxy_apply(cfg, (struct sockaddr *)&sa, peer_text, q.buf, &q.r, &v);
	check(cfg, (struct sockaddr *)&sa, peer_text, &q, &v);
	check_spoofing(cfg, (struct sockaddr *)&sa, peer_text, headers, n, &q, &v);
	return 0;
}
