/* libFuzzer driver for the request layer: bytes in any split -> a complete
 * request, a 4xx/5xx decision, or a wait for more; never a crash, a leak or
 * a slice outside the buffer. The first byte picks the read size. */
#include "http.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits limits = {256, 16, 256, 4096};
	if (size < 1)
		return 0;
	size_t step = 1 + data[0] % 64;
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
