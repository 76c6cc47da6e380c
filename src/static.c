/* Static files for STATIC_MAP. The URL is percent-decoded once and checked
 * segment by segment before anything is opened, relative to a directory fd
 * held from the start, so no request names a file outside the directory;
 * symlinks inside it are followed, as collectstatic --link makes them.
 * Validators follow nginx's, conditional requests RFC 9110 §13.2.2. */
#include "static.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIME_TYPES "/etc/mime.types"
#define OCTET_STREAM "application/octet-stream"
#define YEAR_SECONDS 31536000
#define EXT_MAX 32
#define NAME(s) s, sizeof s - 1

struct mount {
	char prefix[sizeof ((struct config_static *)0)->prefix];
	size_t plen;
	int dirfd;
};

/* An extension and its Content-Type. */
struct mime {
	char ext[EXT_MAX]; /* lower case */
	uint32_t type;     /* index into types */
	uint32_t line;     /* the first line naming an extension wins */
};

struct static_files {
	struct mount mounts[CONFIG_MAX_STATIC]; /* longest prefix first */
	int nmounts;
	struct mime *mime; /* sorted by ext */
	size_t nmime, mime_cap;
	char **types; /* Content-Type values, charset included */
	size_t ntypes, types_cap;
	char cache[64], cache_hashed[64];
};

/* What is sent for one request: the file or its precompressed sibling. */
struct variant {
	int fd;
	uint64_t size;
	int64_t mtime;
	enum static_coding coding;
	bool vary; /* a sibling exists: the answer depends on Accept-Encoding */
	char etag[64];
	char modified[64];
};

enum answer { ANSWER_FULL, ANSWER_PART, ANSWER_NOT_MODIFIED, ANSWER_UNSATISFIABLE };

static const char *const suffix[] = {"", ".br", ".gz"};
static const char *const coding_name[] = {"identity", "br", "gzip"};

/* When /etc/mime.types is missing (a host without media-types): what
 * browsers insist on under nosniff (styles, scripts) and the usual rest. */
static const char builtin_types[] =
	"text/html html htm\ntext/css css\ntext/javascript js mjs\ntext/plain txt\n"
	"text/csv csv\ntext/markdown md\napplication/json json\n"
	"application/manifest+json webmanifest\napplication/wasm wasm\n"
	"application/xml xml\napplication/pdf pdf\napplication/gzip gz\napplication/zip zip\n"
	"image/svg+xml svg\nimage/png png\nimage/jpeg jpg jpeg\nimage/gif gif\n"
	"image/webp webp\nimage/avif avif\nimage/vnd.microsoft.icon ico\nfont/woff woff\n"
	"font/woff2 woff2\nfont/ttf ttf\nfont/otf otf\nvideo/mp4 mp4\nvideo/webm webm\n"
	"audio/mpeg mp3\naudio/ogg ogg\n";

/* ---------- small readers ---------- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **p, const char **end)
{
	while (*p < *end && ows(**p))
		(*p)++;
	while (*end > *p && ows((*end)[-1]))
		(*end)--;
}

static bool same(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(end - p) == n && !strncasecmp(p, word, n);
}

/* Digits at *p, saturating at UINT64_MAX; false when there are none. */
static bool read_number(const char **p, const char *end, uint64_t *out)
{
	const char *start = *p;
	uint64_t x = 0;
	for (; *p < end && isdigit((unsigned char)**p); (*p)++) {
		unsigned d = (unsigned)(**p - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
	}
	*out = x;
	return *p > start;
}

/* The next element of a comma list (trimmed, maybe empty); false at the end. */
static bool next_element(const char **p, const char *end, const char **e, const char **e_end)
{
	if (*p >= end)
		return false;
	const char *comma = memchr(*p, ',', (size_t)(end - *p));
	*e = *p;
	*e_end = comma ? comma : end;
	*p = comma ? comma + 1 : end;
	trim(e, e_end);
	return true;
}

/* ---------- the URL path ---------- */

/* Every '%' starts a %XX escape. */
static bool escapes_valid(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%')
			continue;
		if (i + 2 >= n || hexval((unsigned char)p[i + 1]) < 0 || hexval((unsigned char)p[i + 2]) < 0)
			return false;
		i += 2;
	}
	return true;
}

/* Decodes one segment onto out[*o]: 404 for what is not a plain file name. */
static int put_segment(const char *p, size_t n, char *out, size_t *o, size_t cap)
{
	size_t start = *o;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '%') {
			c = (char)(hexval((unsigned char)p[i + 1]) << 4 | hexval((unsigned char)p[i + 2]));
			i += 2;
		}
		if (c == '/' || c == '\0' || *o + 1 >= cap)
			return 404;
		out[(*o)++] = c;
	}
	if (*o == start || out[start] == '.' || *o - start > NAME_MAX)
		return 404;
	return 0;
}

int static_resolve(const char *path, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	if (!escapes_valid(path, n))
		return 400;
	if (!n || path[0] != '/' || !cap)
		return 404;
	for (size_t i = 1;;) {
		const char *slash = memchr(path + i, '/', n - i);
		size_t len = slash ? (size_t)(slash - path) - i : n - i;
		if (o && o + 1 >= cap)
			return 404;
		if (o)
			out[o++] = '/';
		int status = put_segment(path + i, len, out, &o, cap);
		if (status)
			return status;
		if (!slash)
			break;
		i += len + 1;
	}
	out[o] = 0;
	return 0;
}

/* ---------- Range ---------- */

/* One range-spec: first-last, first- or -suffix. */
static enum static_range one_range(const char *p, const char *end, uint64_t size, uint64_t *off,
				   uint64_t *len)
{
	uint64_t a, b = UINT64_MAX;
	if (*p == '-') {
		p++;
		if (!read_number(&p, end, &a) || p != end)
			return RANGE_WHOLE;
		if (!a || !size)
			return RANGE_UNSATISFIABLE;
		*len = a < size ? a : size;
		*off = size - *len;
		return RANGE_PART;
	}
	if (!read_number(&p, end, &a) || p == end || *p++ != '-')
		return RANGE_WHOLE;
	if (p < end && (!read_number(&p, end, &b) || p != end))
		return RANGE_WHOLE;
	if (b < a)
		return RANGE_WHOLE; /* invalid, so ignored (RFC 9110 §14.1.1) */
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*off = a;
	*len = (b < size - 1 ? b : size - 1) - a + 1;
	return RANGE_PART;
}

enum static_range static_parse_range(const char *v, size_t n, uint64_t size, uint64_t *off,
				     uint64_t *len)
{
	const char *p = v, *end = v + n, *e, *e_end, *spec = NULL, *spec_end = NULL;
	trim(&p, &end);
	if (end - p < 6 || strncasecmp(p, "bytes=", 6))
		return RANGE_WHOLE;
	for (p += 6; next_element(&p, end, &e, &e_end);) {
		if (e == e_end)
			continue;
		if (spec)
			return RANGE_WHOLE; /* several: the whole file, not multipart */
		spec = e;
		spec_end = e_end;
	}
	return spec ? one_range(spec, spec_end, size, off, len) : RANGE_WHOLE;
}

/* ---------- entity tags ---------- */

bool static_etag_match(const char *v, size_t n, const char *etag)
{
	const char *p = v, *end = v + n;
	if (!strncmp(etag, "W/", 2))
		etag += 2;
	size_t en = strlen(etag);
	for (;;) {
		while (p < end && (ows(*p) || *p == ','))
			p++;
		if (p == end)
			return false;
		if (*p == '*')
			return true;
		if (end - p >= 2 && !memcmp(p, "W/", 2))
			p += 2;
		/* the opaque tag may hold a comma: it ends at its closing quote */
		const char *q = p < end && *p == '"' ? memchr(p + 1, '"', (size_t)(end - p - 1)) : NULL;
		if (!q)
			return false;
		if ((size_t)(q + 1 - p) == en && !memcmp(p, etag, en))
			return true;
		p = q + 1;
	}
}

/* ---------- dates ---------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
static const char days[] = "SunMonTueWedThuFriSat";

/* The IMF-fixdate of t, "Sun, 06 Nov 1994 08:49:37 GMT". */
static void format_date(int64_t t, char *out, size_t cap)
{
	int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), y;
	int64_t s = t - day * 86400;
	unsigned m, d, wd = (unsigned)(((day % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
	civil_from_days(day, &y, &m, &d);
	snprintf(out, cap, "%.3s, %02u %.3s %04lld %02d:%02d:%02d GMT", days + 3 * wd, d,
		 months + 3 * (m - 1), (long long)y, (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}

struct date {
	int64_t year;
	int day, month, hour, min, sec;
};

/* A word of a date: a month, a day name or GMT. */
static bool date_word(struct date *dt, const char *t, size_t n)
{
	static const char *const long_days[] = {"Sunday", "Monday", "Tuesday", "Wednesday",
						"Thursday", "Friday", "Saturday"};
	for (int i = 0; n == 3 && i < 12; i++) {
		if (!strncasecmp(t, months + 3 * i, 3) && dt->month < 0) {
			dt->month = i + 1;
			return true;
		}
	}
	for (int i = 0; i < 7; i++)
		if ((n == 3 && !strncasecmp(t, days + 3 * i, 3)) ||
		    (n == strlen(long_days[i]) && !strncasecmp(t, long_days[i], n)))
			return true;
	return n == 3 && !strncasecmp(t, "GMT", 3);
}

/* Two digits at t, or -1. */
static int two_digits(const char *t)
{
	if (!isdigit((unsigned char)t[0]) || !isdigit((unsigned char)t[1]))
		return -1;
	return (t[0] - '0') * 10 + t[1] - '0';
}

/* A number of a date: hh:mm:ss, the day, or the year (two digits: RFC 850). */
static bool date_number(struct date *dt, const char *t, size_t n)
{
	uint64_t v;
	const char *p = t;
	if (n == 8 && t[2] == ':' && t[5] == ':') {
		dt->hour = two_digits(t);
		dt->min = two_digits(t + 3);
		dt->sec = two_digits(t + 6);
		return dt->hour >= 0 && dt->min >= 0 && dt->sec >= 0;
	}
	if (n > 4 || !read_number(&p, t + n, &v) || p != t + n)
		return false;
	if (dt->day < 0 && n <= 2) {
		dt->day = (int)v;
		return true;
	}
	if (dt->year >= 0 || (n != 2 && n != 4))
		return false;
	dt->year = n == 4 ? (int64_t)v : v < 70 ? 2000 + (int64_t)v : 1900 + (int64_t)v;
	return true;
}

bool static_parse_date(const char *v, size_t n, int64_t *t)
{
	struct date dt = {-1, -1, -1, -1, -1, -1};
	const char *p = v, *end = v + n;
	while (p < end) {
		if (*p == ' ' || *p == ',' || *p == '-' || *p == '\t') {
			p++;
			continue;
		}
		const char *s = p;
		while (p < end && *p != ' ' && *p != ',' && *p != '-' && *p != '\t')
			p++;
		bool ok = isalpha((unsigned char)*s) ? date_word(&dt, s, (size_t)(p - s))
						    : date_number(&dt, s, (size_t)(p - s));
		if (!ok)
			return false;
	}
	if (dt.day < 1 || dt.day > 31 || dt.month < 1 || dt.year < 1970 || dt.year > 9999 ||
	    dt.hour < 0 || dt.hour > 23 || dt.min > 59 || dt.sec > 60)
		return false;
	*t = days_from_civil(dt.year, (unsigned)dt.month, (unsigned)dt.day) * 86400 + dt.hour * 3600 +
	     dt.min * 60 + dt.sec;
	return true;
}

/* ---------- Accept-Encoding ---------- */

/* Weights in thousandths; -1 for a coding not named. */
struct accept {
	int br, gzip, star;
};

/* A qvalue ("0.5", "1.000") in thousandths, or -1. */
static int parse_q(const char *p, const char *end)
{
	int q = 0, scale = 100;
	if (p == end || (*p != '0' && *p != '1'))
		return -1;
	bool one = *p++ == '1';
	if (p < end && *p == '.')
		for (p++; p < end && scale && isdigit((unsigned char)*p); p++, scale /= 10)
			q += (*p - '0') * scale;
	if (p != end || (one && q))
		return -1;
	return one ? 1000 : q;
}

/* One element, "coding;q=w": its weight noted, or ignored when malformed. */
static void accept_element(struct accept *a, const char *p, const char *end)
{
	const char *semi = memchr(p, ';', (size_t)(end - p)), *c_end = semi ? semi : end;
	int q = 1000;
	trim(&p, &c_end);
	if (semi) {
		const char *w = semi + 1, *w_end = end;
		trim(&w, &w_end);
		if (w_end - w < 2 || (w[0] != 'q' && w[0] != 'Q') || w[1] != '=' ||
		    (q = parse_q(w + 2, w_end)) < 0)
			return;
	}
	if (same(p, c_end, "br"))
		a->br = q;
	else if (same(p, c_end, "gzip") || same(p, c_end, "x-gzip"))
		a->gzip = q;
	else if (same(p, c_end, "*"))
		a->star = q;
}

static void accept_list(struct accept *a, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *e, *e_end;
	while (next_element(&p, end, &e, &e_end))
		if (e < e_end)
			accept_element(a, e, e_end);
}

static enum static_coding choose(const struct accept *a, unsigned avail)
{
	int br = a->br >= 0 ? a->br : a->star, gz = a->gzip >= 0 ? a->gzip : a->star;
	if (!(avail & 1u << CODING_BR))
		br = 0;
	if (!(avail & 1u << CODING_GZIP))
		gz = 0;
	if (br > 0 && br >= gz)
		return CODING_BR;
	return gz > 0 ? CODING_GZIP : CODING_IDENTITY;
}

enum static_coding static_pick_coding(const char *v, size_t n, unsigned avail)
{
	struct accept a = {-1, -1, -1};
	accept_list(&a, v, n);
	return choose(&a, avail);
}

/* ---------- names and types ---------- */

/* The extension of the last path component (after its last dot), or NULL. */
static const char *extension(const char *name, size_t n, size_t *len)
{
	const char *base = memrchr(name, '/', n), *end = name + n;
	base = base ? base + 1 : name;
	const char *dot = memrchr(base, '.', (size_t)(end - base));
	if (!dot || dot + 1 == end)
		return NULL;
	*len = (size_t)(end - dot - 1);
	return dot + 1;
}

bool static_hashed(const char *name, size_t n)
{
	size_t elen;
	const char *ext = extension(name, n, &elen);
	if (!ext)
		return false;
	const char *base = memrchr(name, '/', n);
	base = base ? base + 1 : name;
	const char *dot = memrchr(base, '.', (size_t)(ext - 1 - base));
	size_t hlen = dot ? (size_t)(ext - 1 - dot - 1) : 0;
	if (!dot || dot == base || hlen < 8 || hlen > 32)
		return false; /* no stem before the hash, or no hash */
	for (const char *p = dot + 1; p < ext - 1; p++)
		if (!isxdigit((unsigned char)*p))
			return false;
	return true;
}

static int ext_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mime *)a)->ext, ((const struct mime *)b)->ext);
}

/* By extension, then by line: the first line naming an extension sorts first. */
static int mime_cmp(const void *a, const void *b)
{
	const struct mime *x = a, *y = b;
	int c = ext_cmp(a, b);
	return c ? c : (x->line > y->line) - (x->line < y->line);
}

const char *static_type(const struct static_files *s, const char *name, size_t n)
{
	size_t len;
	const char *ext = extension(name, n, &len);
	struct mime key = {.line = 0};
	if (!ext || len >= EXT_MAX)
		return OCTET_STREAM;
	for (size_t i = 0; i < len; i++)
		key.ext[i] = (char)tolower((unsigned char)ext[i]);
	const struct mime *m = bsearch(&key, s->mime, s->nmime, sizeof *s->mime, ext_cmp);
	return m ? s->types[m->type] : OCTET_STREAM;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 256;
	if (!(p = realloc(p, *cap * size)))
		abort();
	return p;
}

static bool wants_charset(const char *type)
{
	size_t n = strlen(type);
	return !strncasecmp(type, "text/", 5) || !strcasecmp(type, "application/javascript") ||
	       !strcasecmp(type, "application/json") || (n > 5 && !strcasecmp(type + n - 5, "+json"));
}

static uint32_t add_type(struct static_files *s, const char *type)
{
	size_t n = strlen(type) + sizeof "; charset=utf-8";
	char *v = malloc(n);
	if (!v)
		abort();
	snprintf(v, n, "%s%s", type, wants_charset(type) ? "; charset=utf-8" : "");
	s->types = grow(s->types, &s->types_cap, s->ntypes + 1, sizeof *s->types);
	s->types[s->ntypes] = v;
	return (uint32_t)s->ntypes++;
}

/* "type ext ext ...": a line of mime.types. */
static void add_line(struct static_files *s, char *line, uint32_t lineno)
{
	char *save, *type = strtok_r(line, " \t\r\n", &save), *ext;
	uint32_t idx = UINT32_MAX;
	if (!type || type[0] == '#')
		return;
	while ((ext = strtok_r(NULL, " \t\r\n", &save))) {
		if (strlen(ext) >= EXT_MAX)
			continue;
		if (idx == UINT32_MAX)
			idx = add_type(s, type);
		s->mime = grow(s->mime, &s->mime_cap, s->nmime + 1, sizeof *s->mime);
		struct mime *m = &s->mime[s->nmime++];
		memset(m->ext, 0, sizeof m->ext);
		for (size_t i = 0; ext[i]; i++)
			m->ext[i] = (char)tolower((unsigned char)ext[i]);
		m->type = idx;
		m->line = lineno;
	}
}

/* Sorted by extension, one entry each (the first line's). */
static void sort_types(struct static_files *s)
{
	size_t k = 0;
	qsort(s->mime, s->nmime, sizeof *s->mime, mime_cmp);
	for (size_t i = 0; i < s->nmime; i++)
		if (!k || strcmp(s->mime[k - 1].ext, s->mime[i].ext))
			s->mime[k++] = s->mime[i];
	s->nmime = k;
}

static void load_types(struct static_files *s)
{
	FILE *f = fopen(MIME_TYPES, "re");
	if (!f) {
		log_msg(LOG_WARNING, "STATIC_MAP: cannot read %s (%s), using a built-in table of common types",
			MIME_TYPES, strerror(errno));
		f = fmemopen((void *)builtin_types, sizeof builtin_types - 1, "r");
		if (!f)
			abort();
	}
	char *line = NULL;
	size_t cap = 0;
	for (uint32_t no = 0; getline(&line, &cap, f) > 0; no++)
		add_line(s, line, no);
	free(line);
	fclose(f);
	sort_types(s);
}

/* ---------- start-up ---------- */

/* Keeps the mounts longest prefix first, in STATIC_MAP order among equals. */
static void insert_mount(struct static_files *s, const struct mount *m)
{
	int i = s->nmounts++;
	for (; i > 0 && s->mounts[i - 1].plen < m->plen; i--)
		s->mounts[i] = s->mounts[i - 1];
	s->mounts[i] = *m;
}

struct static_files *static_open(const struct config *cfg, char *err, size_t errlen)
{
	struct static_files *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	for (int i = 0; i < cfg->nstatic; i++) {
		const struct config_static *c = &cfg->statics[i];
		struct mount m = {.plen = c->plen};
		/* O_RDONLY: fails now, not per request, when RUN_AS may not read it */
		if ((m.dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "STATIC_MAP: %s=%s: cannot open the directory as uid %u: %s",
				 c->prefix, c->dir, (unsigned)geteuid(), strerror(errno));
			static_close(s);
			return NULL;
		}
		memcpy(m.prefix, c->prefix, sizeof m.prefix);
		insert_mount(s, &m);
	}
	load_types(s);
	snprintf(s->cache, sizeof s->cache, "public, max-age=%d", cfg->static_max_age);
	snprintf(s->cache_hashed, sizeof s->cache_hashed, "public, max-age=%d, immutable", YEAR_SECONDS);
	return s;
}

void static_close(struct static_files *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nmounts; i++)
		close(s->mounts[i].dirfd);
	for (size_t i = 0; i < s->ntypes; i++)
		free(s->types[i]);
	free(s->types);
	free(s->mime);
	free(s);
}

static const struct mount *find_mount(const struct static_files *s, const char *path, size_t n)
{
	for (int i = 0; s && i < s->nmounts; i++) {
		const struct mount *m = &s->mounts[i];
		if (n >= m->plen && !memcmp(path, m->prefix, m->plen) && (n == m->plen || path[m->plen] == '/'))
			return m;
	}
	return NULL;
}

bool static_match(const struct static_files *s, const char *path, size_t n)
{
	return find_mount(s, path, n) != NULL;
}

/* ---------- opening ---------- */

/* O_NONBLOCK: a FIFO in the directory must not stall the worker in open(). */
static int open_regular(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) == 0 && S_ISREG(st->st_mode))
		return fd;
	close(fd);
	errno = ENOENT; /* directories and devices are not files here */
	return -1;
}

static bool sibling_exists(int dirfd, char *name, size_t len, enum static_coding c)
{
	struct stat st;
	strcpy(name + len, suffix[c]);
	bool ok = fstatat(dirfd, name, &st, 0) == 0 && S_ISREG(st.st_mode);
	name[len] = 0;
	return ok;
}

static bool header_is(const char *buf, const struct http_header *h, const char *name, size_t n)
{
	return h->name.len == n && !strncasecmp(buf + h->name.off, name, n);
}

/* The value of the first field called name, or NULL. */
static const char *header(const char *buf, const struct http_request *req, const char *name,
			  size_t nn, size_t *vn)
{
	for (int i = 0; i < req->nheaders; i++)
		if (header_is(buf, &req->headers[i], name, nn)) {
			*vn = req->headers[i].value.len;
			return buf + req->headers[i].value.off;
		}
	return NULL;
}

/* Accept-Encoding over every field of that name, as one list. */
static enum static_coding pick(const char *buf, const struct http_request *req, unsigned avail)
{
	struct accept a = {-1, -1, -1};
	for (int i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (header_is(buf, h, NAME("accept-encoding")))
			accept_list(&a, buf + h->value.off, h->value.len);
	}
	return choose(&a, avail);
}

/* Validators of the variant; its ETag differs from the other variants'. */
static void describe(struct variant *v, const struct stat *st)
{
	v->size = (uint64_t)st->st_size;
	v->mtime = (int64_t)st->st_mtime;
	snprintf(v->etag, sizeof v->etag, "\"%llx-%llx%s%s\"", (unsigned long long)v->mtime,
		 (unsigned long long)v->size, v->coding ? "-" : "", v->coding ? suffix[v->coding] + 1 : "");
	format_date(v->mtime, v->modified, sizeof v->modified);
}

static int open_failed(int err)
{
	if (err != EMFILE && err != ENFILE && err != ENOMEM)
		return 404;
	log_msg(LOG_ERROR, "static file: %s", strerror(err));
	return 503;
}

/* Opens rel, or its precompressed sibling when the client takes it: 0, or the status to answer. */
static int open_variant(int dirfd, char *rel, const char *buf, const struct http_request *req,
			struct variant *v)
{
	struct stat st, vst;
	size_t len = strlen(rel);
	unsigned avail = 0;
	if ((v->fd = open_regular(dirfd, rel, &st)) < 0)
		return open_failed(errno);
	for (enum static_coding c = CODING_BR; c <= CODING_GZIP; c++)
		avail |= sibling_exists(dirfd, rel, len, c) ? 1u << c : 0;
	v->vary = avail != 0;
	v->coding = avail ? pick(buf, req, avail) : CODING_IDENTITY;
	if (v->coding != CODING_IDENTITY) {
		strcpy(rel + len, suffix[v->coding]);
		int fd = open_regular(dirfd, rel, &vst);
		rel[len] = 0;
		if (fd >= 0) {
			close(v->fd);
			v->fd = fd;
			st = vst;
		} else {
			v->coding = CODING_IDENTITY; /* gone since the stat: the plain file */
		}
	}
	describe(v, &st);
	return 0;
}

/* ---------- the answer ---------- */

/* A strong ETag match, or the exact Last-Modified date (RFC 9110 §13.1.5). */
static bool if_range_holds(const char *buf, const struct http_request *req, const struct variant *v)
{
	size_t n;
	int64_t t;
	const char *p = header(buf, req, NAME("if-range"), &n), *end;
	if (!p)
		return true;
	end = p + n;
	trim(&p, &end);
	if (p < end && *p == '"')
		return (size_t)(end - p) == strlen(v->etag) && !memcmp(p, v->etag, (size_t)(end - p));
	if (end - p >= 2 && !memcmp(p, "W/", 2))
		return false;
	return static_parse_date(p, (size_t)(end - p), &t) && t == v->mtime;
}

/* RFC 9110 §13.2.2's order for GET/HEAD: If-None-Match, else If-Modified-Since; then Range. */
static enum answer evaluate(const char *buf, const struct http_request *req, const struct variant *v,
			    uint64_t *off, uint64_t *len)
{
	bool inm = false;
	size_t n;
	int64_t t;
	const char *p;
	for (int i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (!header_is(buf, h, NAME("if-none-match")))
			continue;
		inm = true;
		if (static_etag_match(buf + h->value.off, h->value.len, v->etag))
			return ANSWER_NOT_MODIFIED;
	}
	if (!inm && (p = header(buf, req, NAME("if-modified-since"), &n)) && static_parse_date(p, n, &t) &&
	    v->mtime <= t)
		return ANSWER_NOT_MODIFIED;
	*off = 0;
	*len = v->size;
	/* Range is defined for GET only (RFC 9110 §14.2) */
	if (req->method != HTTP_GET || !(p = header(buf, req, NAME("range"), &n)) ||
	    !if_range_holds(buf, req, v))
		return ANSWER_FULL;
	switch (static_parse_range(p, n, v->size, off, len)) {
	case RANGE_PART: return ANSWER_PART;
	case RANGE_UNSATISFIABLE: return ANSWER_UNSATISFIABLE;
	case RANGE_WHOLE: break;
	}
	*off = 0;
	*len = v->size;
	return ANSWER_FULL;
}

static void add(struct response *r, const char *name, const char *value)
{
	response_header(r, name, strlen(name), value, strlen(value));
}

/* A small text/plain answer; the connection stays usable. */
static void refuse(struct response *r, int status, const char *name, const char *value)
{
	response_status_code(r, status);
	add(r, "Content-Type", "text/plain; charset=utf-8");
	add(r, "X-Content-Type-Options", "nosniff");
	if (name)
		add(r, name, value);
	response_reason_body(r);
}

/* What a 304 must repeat of the 200 (RFC 9110 §15.4.5), and nosniff. */
static void add_validators(const struct static_files *s, struct response *r, const struct variant *v,
			   const char *rel)
{
	add(r, "ETag", v->etag);
	add(r, "Cache-Control", static_hashed(rel, strlen(rel)) ? s->cache_hashed : s->cache);
	if (v->vary)
		add(r, "Vary", "Accept-Encoding");
	add(r, "X-Content-Type-Options", "nosniff");
}

static void answer(const struct static_files *s, struct response *r, const char *rel,
		   enum answer a, struct variant *v, uint64_t off, uint64_t len)
{
	char range[96];
	response_status_code(r, a == ANSWER_NOT_MODIFIED ? 304 : a == ANSWER_PART ? 206 : 200);
	if (a == ANSWER_NOT_MODIFIED) {
		add_validators(s, r, v, rel);
		close(v->fd);
		response_end(r);
		return;
	}
	add(r, "Content-Type", static_type(s, rel, strlen(rel)));
	if (v->coding != CODING_IDENTITY)
		add(r, "Content-Encoding", coding_name[v->coding]);
	add(r, "Last-Modified", v->modified);
	add_validators(s, r, v, rel);
	add(r, "Accept-Ranges", "bytes");
	if (a == ANSWER_PART) {
		snprintf(range, sizeof range, "bytes %llu-%llu/%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1), (unsigned long long)v->size);
		add(r, "Content-Range", range);
	}
	response_head_end(r, true, len);
	response_add_file(r, v->fd, (off_t)off, len); /* HEAD: the writer closes it unsent */
	response_end(r);
}

void static_serve(const struct static_files *s, const char *buf, const struct http_request *req,
		  struct response *r)
{
	const char *path = buf + req->path.off;
	const struct mount *m = find_mount(s, path, req->path.len);
	char rel[PATH_MAX], range[64];
	struct variant v;
	uint64_t off = 0, len = 0;
	int status = 404;
	if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		refuse(r, 405, "Allow", "GET, HEAD");
		return;
	}
	/* room for the ".br"/".gz" of a sibling */
	if (m && !(status = static_resolve(path + m->plen, req->path.len - m->plen, rel, sizeof rel - 3)))
		status = open_variant(m->dirfd, rel, buf, req, &v);
	if (status) {
		refuse(r, status, NULL, NULL);
		return;
	}
	enum answer a = evaluate(buf, req, &v, &off, &len);
	if (a != ANSWER_UNSATISFIABLE) {
		answer(s, r, rel, a, &v, off, len);
		return;
	}
	close(v.fd);
	snprintf(range, sizeof range, "bytes */%llu", (unsigned long long)v.size);
	refuse(r, 416, "Content-Range", range);
}
