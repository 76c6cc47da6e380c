/* Request IDs, traceparent and X-Request-Start: validated byte by byte,
 * nothing here trusts a client's value. */
#include "trace.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

static const char hex[] = "0123456789abcdef";

bool trace_request_id_valid(const char *s, size_t n)
{
	if (n < 1 || n > TRACE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/* getrandom() fails only on kernels before 3.17 or under a filter that
 * refuses it (SECCOMP allows it); IDs must still differ then: a splitmix64
 * stream seeded by the clock, the pid and where the pool lives. */
static void fill_weak(struct trace_random *r, size_t from)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)r;
	for (size_t i = from; i < sizeof r->buf; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		r->buf[i] = (unsigned char)(z ^ (z >> 31));
	}
}

/* One getrandom() per 256 IDs: the kernel's CSPRNG, at a fraction of a
 * system call each. Never waits for the pool at early boot (the loop
 * thread calls it): the weak fill keeps IDs distinct until it is ready. */
static void fill(struct trace_random *r)
{
	size_t got = 0;
	while (got < sizeof r->buf) {
		ssize_t n = getrandom(r->buf + got, sizeof r->buf - got, GRND_NONBLOCK);
		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	if (got < sizeof r->buf)
		fill_weak(r, got);
	r->left = sizeof r->buf;
}

void trace_request_id_new(struct trace_random *rnd, char out[33])
{
	if (rnd->left < 16)
		fill(rnd);
	const unsigned char *b = rnd->buf + sizeof rnd->buf - rnd->left;
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
	rnd->left -= 16;
}

/* n lowercase hex digits (HEXDIGLC), not all of them zero when nonzero is asked. */
static bool lowhex(const char *s, size_t n, bool nonzero)
{
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		any |= s[i] != '0';
	}
	return any || !nonzero;
}

/* version "-" trace-id "-" parent-id "-" trace-flags: 2, 32, 16 and 2
 * lowercase hex digits, 55 characters. Version ff is invalid; 00 has nothing
 * after the flags; a later version is read as 00 when what follows the
 * flags starts with "-" (the specification's rule for versions it does not
 * know yet). */
bool trace_parent_parse(const char *s, size_t n, char trace_id[33], char span_id[17])
{
	if (n < 55 || !lowhex(s, 2, false) || !memcmp(s, "ff", 2) || s[2] != '-' || s[35] != '-' ||
	    s[52] != '-' || !lowhex(s + 3, 32, true) || !lowhex(s + 36, 16, true) || !lowhex(s + 53, 2, false))
		return false;
	if (n > 55 && (!memcmp(s, "00", 2) || s[55] != '-'))
		return false;
	memcpy(trace_id, s + 3, 32);
	trace_id[32] = 0;
	memcpy(span_id, s + 36, 16);
	span_id[16] = 0;
	return true;
}

/* frac (digits of a fraction) in units of 10^-places, truncated. */
static int64_t scaled(int64_t frac, int digits, int places)
{
	for (; digits > places; digits--)
		frac /= 10;
	for (; digits < places; digits++)
		frac *= 10;
	return frac;
}

int64_t trace_request_start(const char *s, size_t n)
{
	if (n >= 2 && s[0] == 't' && s[1] == '=')
		s += 2, n -= 2;
	int64_t whole = 0, frac = 0;
	size_t i = 0;
	int digits = 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9' && i < 17; i++)
		whole = whole * 10 + (s[i] - '0');
	if (!i)
		return -1;
	if (i < n && s[i] == '.') {
		size_t from = ++i;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (digits < 6) /* past microseconds of a second, digits change nothing */
				frac = frac * 10 + (s[i] - '0'), digits++;
		if (i == from)
			return -1;
	}
	if (i != n)
		return -1;
	/* Now is 1.7e9 s, 1.7e12 ms, 1.7e15 us: each unit is good for millennia. */
	if (whole < 100000000000LL)
		return whole * 1000000 + scaled(frac, digits, 6);
	if (whole < 100000000000000LL)
		return whole * 1000 + scaled(frac, digits, 3);
	return whole; /* under 1e17: 17 digits at most */
}

static int64_t to_us(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000 + t->tv_nsec / 1000;
}

void trace_begin(struct trace *t, const char *buf, const struct http_request *req, struct trace_random *rnd)
{
	struct http_slice id = {0, 0}, parent = {0, 0}, start = {0, 0};
	int nid = 0, nparent = 0;
	for (int i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		const char *name = buf + h->name.off;
		if (h->name.len == 11 && !strncasecmp(name, "traceparent", 11))
			parent = h->value, nparent++;
		else if (h->name.len == 12 && !strncasecmp(name, "x-request-id", 12))
			id = h->value, nid++;
		else if (h->name.len == 15 && !strncasecmp(name, "x-request-start", 15))
			start = h->value; /* the last line: the nearest proxy's */
	}
	t->request_id[0] = t->trace_id[0] = t->span_id[0] = 0;
	t->request_id_len = 0;
	/* Two lines of either would reach the app joined ("a, b"): not one id. */
	if (rnd && nid == 1 && trace_request_id_valid(buf + id.off, id.len)) {
		memcpy(t->request_id, buf + id.off, id.len);
		t->request_id[id.len] = 0;
		t->request_id_len = id.len;
	} else if (rnd) {
		trace_request_id_new(rnd, t->request_id);
		t->request_id_len = 32;
	}
	if (nparent == 1) /* two are invalid, as in the W3C test suite */
		trace_parent_parse(buf + parent.off, parent.len, t->trace_id, t->span_id);
	t->request_start = start;
	t->front_us = 0;
	t->queue_us = -1;
}

/* From the proxy's stamp to the arrival here, between 0 and an hour. A
 * stamp after the arrival (the proxy's clock runs ahead) counts as 0, one
 * further back (a wrong unit, a broken clock) as 0 too. */
void trace_front(struct trace *t, const char *buf, const struct timespec *arrived)
{
	int64_t start = t->request_start.len ? trace_request_start(buf + t->request_start.off, t->request_start.len) : -1;
	int64_t d = start < 0 ? 0 : to_us(arrived) - start;
	t->front_us = d > 0 && d <= TRACE_FRONT_MAX_US ? d : 0;
}

void trace_app_called(struct trace *t, const struct timespec *arrived)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t here = to_us(&now) - to_us(arrived);
	t->queue_us = (here > 0 ? here : 0) + t->front_us;
}
