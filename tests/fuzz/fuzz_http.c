/* libFuzzer driver for the request layer: bytes in any split -> a complete
 * request, a 4xx/5xx decision, or a wait for more; never a crash, a leak or
 * a slice outside the buffer. The first byte picks the read size. Each
 * complete request also goes through trace_begin() (X-Request-ID,
 * traceparent, X-Request-Start), whose results must keep their promises. */
#include "http.h"
#include "trace.h"

#include <stdlib.h>
#include <string.h>

static void check_slice(struct http_slice s, size_t len)
{
	if ((size_t)s.off + s.len > len)
		abort();
}

static void check_request(const struct http_parser *p, size_t len)
{
	const struct http_request *r = &p->req;
	check_slice(r->target, len);
	check_slice(r->path, len);
	check_slice(r->query, len);
	if (r->nheaders < 0 || r->nheaders > p->limits->fields)
		abort();
	for (int i = 0; i < r->nheaders; i++) {
		check_slice(r->headers[i].name, len);
		check_slice(r->headers[i].value, len);
		if (!r->headers[i].name.len)
			abort();
	}
	if (r->body.len > p->limits->body || (r->body.len && !r->body.data))
		abort();
	volatile char sink = 0;
	for (uint64_t i = 0; i < r->body.len; i++) /* the body must be readable whole */
		sink ^= r->body.data[i];
	(void)sink;
}

static bool lowhex(const char *s, size_t n)
{
	bool nonzero = false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		nonzero |= s[i] != '0';
	}
	return nonzero && !s[n];
}

/* What trace.h promises for any parsed request; odd requests ask for an ID. */
static void check_trace(const char *buf, size_t len, const struct http_request *r, unsigned seed)
{
	static struct trace_random rnd;
	struct trace t;
	const struct timespec arrived = {1700000000, 0};
	bool want_id = seed & 1, trusted = seed & 2;
	trace_begin(&t, buf, r, want_id ? &rnd : NULL);
	check_slice(t.request_start, len);
	if (trusted)
		trace_front(&t, buf, &arrived);
	if (t.request_id_len > TRACE_ID_MAX || strlen(t.request_id) != t.request_id_len ||
	    (want_id != (t.request_id_len > 0)) ||
	    (t.request_id_len && !trace_request_id_valid(t.request_id, t.request_id_len)))
		abort();
	if (t.trace_id[0] ? !lowhex(t.trace_id, 32) || !lowhex(t.span_id, 16) : t.span_id[0] != 0)
		abort();
	if (t.front_us < 0 || t.front_us > TRACE_FRONT_MAX_US || (!trusted && t.front_us) || t.queue_us != -1)
		abort();
	for (int i = 0; i < r->nheaders; i++) { /* every value, whatever its name */
		struct http_slice v = r->headers[i].value;
		char tid[33], sid[17];
		if (trace_request_start(buf + v.off, v.len) < -1 ||
		    (trace_parent_parse(buf + v.off, v.len, tid, sid) && (!lowhex(tid, 32) || !lowhex(sid, 16))))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits limits = {256, 16, 256, 4096};
	if (size < 1)
		return 0;
	size_t step = 1 + data[0] % 64;
	unsigned seed = data[0] >> 6; /* the bits step leaves: what trace_begin() is asked */
	data++, size--;
	struct http_parser p;
	http_init(&p, &limits);
	char *buf = malloc(size + 1);
	size_t len = 0, fed = 0;
	while (fed < size) {
		size_t n = size - fed < step ? size - fed : step;
		memcpy(buf + len, data + fed, n);
		len += n;
		fed += n;
		enum http_result r;
		while ((r = http_parse(&p, buf, &len)) == HTTP_DONE) {
			check_request(&p, len);
			check_trace(buf, len, &p.req, seed);
			if (!p.req.keep_alive)
				goto out;
			len = http_next(&p, buf, len);
		}
		if (r == HTTP_ERROR) {
			if (p.status < 400 || p.status > 505)
				abort();
			goto out;
		}
	}
out:
	free(buf);
	http_free(&p);
	return 0;
}
