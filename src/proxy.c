/* Walking the forwarding chain from the right: each hop is believed only
 * while the one that reported it is trusted, so a client can prepend
 * whatever it likes and still not choose its own address. */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The index of the last header line named name before line `before`, or -1.
 * Proxies that add a line of their own (HAProxy's `option forwardfor`) put it
 * after the client's: the last line is the nearest proxy's. */
static int line_before(const char *buf, const struct http_request *req, const char *name, int before)
{
	size_t n = strlen(name);
	for (int i = before - 1; i >= 0; i--) {
		const struct http_header *h = &req->headers[i];
		if (h->name.len == n && !strncasecmp(buf + h->name.off, name, n))
			return i;
	}
	return -1;
}

/* The value of the last line named name, or an empty slice. */
static struct http_slice header(const char *buf, const struct http_request *req, const char *name)
{
	int i = line_before(buf, req, name, req->nheaders);
	return i < 0 ? (struct http_slice){0, 0} : req->headers[i].value;
}

/* "1.2.3.4:80": one colon after a dotted quad ("::ffff:1.2.3.4" is v6). */
static bool v4_with_port(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	return colon && memchr(s, '.', n) && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1);
}

/* An address as a sockaddr, from "1.2.3.4", "1.2.3.4:80", "[v6]:80", "v6"
 * and RFC 7239's quoted forms; false for "unknown", "_hidden" and junk. */
static bool parse_addr(const char *s, size_t n, struct sockaddr_in6 *sa, char *text)
{
	char ip[INET6_ADDRSTRLEN + 8];
	while (n && (*s == ' ' || *s == '"'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '"'))
		n--;
	if (n && *s == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return false;
		n = (size_t)(close - s - 1);
		s++;
	} else if (v4_with_port(s, n)) {
		n = (size_t)((const char *)memchr(s, ':', n) - s);
	}
	if (!n || n >= sizeof ip)
		return false;
	memcpy(ip, s, n);
	ip[n] = 0;
	memset(sa, 0, sizeof *sa);
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &sa->sin6_addr) == 1)
		sa->sin6_family = AF_INET6;
	else
		return false;
	strcpy(text, ip);
	return true;
}

/* The value of key= in one Forwarded element, or an empty slice. */
static const char *param(const char *e, size_t n, const char *key, size_t *len)
{
	size_t k = strlen(key);
	for (const char *p = e, *end = e + n; p < end;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		while (p < stop && *p == ' ')
			p++;
		if ((size_t)(stop - p) > k && !strncasecmp(p, key, k) && p[k] == '=') {
			*len = (size_t)(stop - p - k - 1);
			return p + k + 1;
		}
		if (!semi)
			break;
		p = semi + 1;
	}
	*len = 0;
	return NULL;
}

/* Walks one line's comma list right to left, each element's address being
 * the element (X-Forwarded-For) or its for= (Forwarded). Returns false where
 * the walk ends: at the first hop that is not trusted, which is the client,
 * or at one that cannot be read; true when every hop was trusted. */
static bool walk(const struct config *cfg, const char *v, size_t n, bool forwarded, struct proxy_view *out)
{
	while (n) {
		const char *comma = memrchr(v, ',', n);
		const char *e = comma ? comma + 1 : v;
		size_t len = n - (size_t)(e - v), alen = len;
		const char *a = forwarded ? param(e, len, "for", &alen) : e;
		struct sockaddr_in6 sa;
		char text[INET6_ADDRSTRLEN];
		if (!a || !parse_addr(a, alen, &sa, text))
			return false; /* an unknown hop: the last known one stands */
		strcpy(out->remote, text);
		if (!config_forwarded_allowed(cfg, (struct sockaddr *)&sa))
			return false;
		n = comma ? (size_t)(comma - v) : 0;
	}
	return true;
}

/* The lines named name are one list (RFC 9110 5.3): walked from the last. */
static void walk_lines(const struct config *cfg, const char *buf, const struct http_request *req,
		       const char *name, bool forwarded, struct proxy_view *out)
{
	for (int i = req->nheaders; (i = line_before(buf, req, name, i)) >= 0;) {
		struct http_slice v = req->headers[i].value;
		if (!v.len || !walk(cfg, buf + v.off, v.len, forwarded, out))
			return; /* an empty line is an unknown hop too */
	}
}

static bool is(const char *s, size_t n, const char *want)
{
	while (n && *s == ' ')
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '"'))
		n--;
	if (n && *s == '"')
		s++, n--;
	return n == strlen(want) && !strncasecmp(s, want, n);
}

/* The nearest proxy's word: the last item of a list. */
static const char *last(const char *buf, struct http_slice h, size_t *n)
{
	const char *v = buf + h.off, *comma = memrchr(v, ',', h.len);
	const char *s = comma ? comma + 1 : v;
	*n = h.len - (size_t)(s - v);
	return s;
}

void proxy_apply(const struct config *cfg, const struct sockaddr *peer, const char *peer_text,
		 const char *buf, const struct http_request *req, struct proxy_view *out)
{
	snprintf(out->remote, sizeof out->remote, "%s", peer_text);
	out->https = false;
	out->prefix = (struct http_slice){0, 0};
	if (!config_forwarded_allowed(cfg, peer))
		return;
	/* The X-Forwarded-* family when any of it is there, else Forwarded: never
	 * merged. Proxies set X-Forwarded-For (nginx, ingress-nginx, cloud load
	 * balancers) and most pass a client's own Forwarded on untouched. */
	struct http_slice xff = header(buf, req, "x-forwarded-for"), fwd = header(buf, req, "forwarded");
	struct http_slice xfp = header(buf, req, "x-forwarded-proto");
	struct http_slice xfpl = header(buf, req, "x-forwarded-protocol");
	struct http_slice xfs = header(buf, req, "x-forwarded-ssl");
	size_t n;
	const char *s;
	struct http_slice h;
	if (xff.len || xfp.len || xfpl.len || xfs.len) {
		if (xff.len)
			walk_lines(cfg, buf, req, "x-forwarded-for", false, out);
		if ((h = xfp.len ? xfp : xfpl).len)
			out->https = (s = last(buf, h, &n), is(s, n, "https"));
		else if (xfs.len)
			out->https = is(buf + xfs.off, xfs.len, "on");
	} else if (fwd.len) {
		walk_lines(cfg, buf, req, "forwarded", true, out);
		s = last(buf, fwd, &n);
		size_t plen;
		const char *proto = param(s, n, "proto", &plen);
		out->https = proto && is(proto, plen, "https");
	}
	h = header(buf, req, "x-forwarded-prefix");
	if (!h.len)
		h = header(buf, req, "script-name");
	if (h.len && buf[h.off] == '/')
		out->prefix = h;
}
