/* libFuzzer driver for the static-file handler's parsers. The first byte
 * picks one: the URL path (no accepted path may leave the root: checked
 * against an independent decoding), Range, If-None-Match, HTTP-dates,
 * Accept-Encoding, hashed names. Never a crash, an overread or a lie. */
#include "static.h"

#include <stdlib.h>
#include <string.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Plain percent-decoding without any check; -1 for a malformed escape. */
static long decode(const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] != '%') {
			out[o++] = in[i];
			continue;
		}
		if (i + 2 >= n || hexval((unsigned char)in[i + 1]) < 0 || hexval((unsigned char)in[i + 2]) < 0)
			return -1;
		out[o++] = (char)(hexval((unsigned char)in[i + 1]) << 4 | hexval((unsigned char)in[i + 2]));
		i += 2;
	}
	return (long)o;
}

/* An accepted path: relative, no empty, "." or ".." segment, no dotfile, no NUL. */
static void check_safe(const char *out, size_t len)
{
	if (len == 0 || out[0] == '/' || out[len - 1] == '/')
		abort();
	for (size_t i = 0; i < len; i++) {
		bool start = i == 0 || out[i - 1] == '/';
		if (out[i] == '\0' || (start && (out[i] == '/' || out[i] == '.')))
			abort();
	}
}

static void fuzz_path(const char *in, size_t n)
{
	char out[512], *plain = malloc(n + 1);
	memset(out, 0x55, sizeof out);
	int status = static_resolve(in, n, out, sizeof out);
	long want = decode(in, n, plain);
	if (status != 0 && status != 400 && status != 404)
		abort();
	if ((status == 400) != (want < 0))
		abort(); /* 400 exactly for malformed escapes */
	if (status == 0) {
		size_t len = strlen(out);
		/* the output is the input decoded, minus its leading '/': so no encoded
		 * '/' became a separator and no NUL was cut off */
		if (len >= sizeof out || (long)len != want - 1 || plain[0] != '/' ||
		    memcmp(out, plain + 1, len))
			abort();
		if (memmem(in, n, "%2f", 3) || memmem(in, n, "%2F", 3))
			abort();
		check_safe(out, len);
	}
	free(plain);
}

static void fuzz_range(const char *in, size_t n, uint64_t size)
{
	uint64_t off = 7, len = 7;
	switch (static_parse_range(in, n, size, &off, &len)) {
	case RANGE_PART:
		if (!len || off >= size || len > size - off)
			abort();
		break;
	case RANGE_UNSATISFIABLE:
	case RANGE_WHOLE:
		break;
	default:
		abort();
	}
}

static void fuzz_etag(const char *in, size_t n)
{
	const char *nl = memchr(in, '\n', n);
	if (!nl)
		return;
	/* the tag after the newline, as a C string */
	size_t tn = n - (size_t)(nl + 1 - in);
	char *tag = malloc(tn + 1);
	memcpy(tag, nl + 1, tn);
	tag[tn] = 0;
	bool hit = static_etag_match(in, (size_t)(nl - in), tag);
	if (tn >= 2 && tag[0] == '"' && tag[tn - 1] == '"' && !memchr(tag + 1, '"', tn - 2) &&
	    !memchr(tag, 0, tn) &&
	    !static_etag_match(tag, tn, tag))
		abort(); /* a well-formed tag matches itself */
	(void)hit;
	free(tag);
}

static void fuzz_date(const char *in, size_t n)
{
	int64_t t;
	if (static_parse_date(in, n, &t) && (t < 0 || t > 253402300800LL))
		abort(); /* years 1970..9999 */
}

static void fuzz_coding(const char *in, size_t n, unsigned avail)
{
	enum static_coding c = static_pick_coding(in, n, avail);
	if (c > CODING_GZIP || (c != CODING_IDENTITY && !(avail & 1u << c)))
		abort(); /* only a sibling that exists */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned pick = data[0];
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	switch (pick % 6) {
	case 0: fuzz_path(in, n); break;
	case 1: fuzz_range(in, n, pick / 6 * 97); break; /* 0 included */
	case 2: fuzz_etag(in, n); break;
	case 3: fuzz_date(in, n); break;
	case 4: fuzz_coding(in, n, pick / 6 % 8); break;
	case 5: (void)static_hashed(in, n); break;
	}
	return 0;
}
