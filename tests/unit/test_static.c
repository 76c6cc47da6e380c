/* The static-file handler: the pure parsers (path, Range, If-None-Match,
 * dates, Accept-Encoding, hashed names, types) through static.h, then whole
 * answers: a request parsed by http.c, served from a tree made under /tmp
 * into a response, whose head and queued body are read back. */
#include "static.h"
#include "unit.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/time.h>

#define MTIME 1700000000 /* 0x6553f100 */
#define MTIME_DATE "Tue, 14 Nov 2023 22:13:20 GMT"

/* ---------- the path ---------- */

static int resolve(const char *path, char *out)
{
	return static_resolve(path, strlen(path), out, 256);
}

TEST(resolve_accepts_plain_paths)
{
	static const char *const cases[][2] = {
		{"/a.txt", "a.txt"},
		{"/css/app.css", "css/app.css"},
		{"/caf%C3%A9.txt", "caf\xc3\xa9.txt"},
		{"/with%20space.txt", "with space.txt"},
		{"/a..b", "a..b"},
		{"/trailing.", "trailing."},
		{"/x%2e", "x."},
		{"/%41%62c", "Abc"},
		{"/a/b/c/d.e", "a/b/c/d.e"},
		{"/%7Euser", "~user"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char out[256] = "";
		CHECK_EQ_INT(resolve(cases[i][0], out), 0);
		CHECK_EQ_STR(out, cases[i][1]);
	}
}

TEST(resolve_refuses_what_is_not_a_file_under_the_root)
{
	static const char *const not_found[] = {
		"", "/", "a.txt", "/..", "/../a", "/a/../b", "/a/..", "/%2e%2e/a", "/%2E%2e/%2e%2E/etc/passwd",
		"/.%2e/a", "/.env", "/%2eenv", "/a/.git/config", "/.", "/a/./b", "/a%2Fb", "/a%2fb",
		"/%2Fetc%2Fpasswd", "/a%00", "/a%00.png", "/%00", "/a/", "//a", "/a//b", "/a/b/",
	};
	for (size_t i = 0; i < sizeof not_found / sizeof *not_found; i++) {
		char out[256];
		if (resolve(not_found[i], out) != 404)
			unit_fail(__FILE__, __LINE__, "%s: not 404", not_found[i]);
	}
}

TEST(resolve_malformed_escapes_are_400)
{
	static const char *const bad[] = {"/%zz", "/a%4", "/a%", "/%g0", "/%0g", "/a%2", "/.env%zz",
					  "/ok/%%41", "/a%%"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char out[256];
		if (resolve(bad[i], out) != 400)
			unit_fail(__FILE__, __LINE__, "%s: not 400", bad[i]);
	}
}

TEST(resolve_limits)
{
	char name[300], path[310], out[400];
	memset(name, 'a', 255);
	name[255] = 0;
	snprintf(path, sizeof path, "/%s", name);
	CHECK_EQ_INT(static_resolve(path, strlen(path), out, sizeof out), 0); /* NAME_MAX */
	snprintf(path, sizeof path, "/%sa", name);
	CHECK_EQ_INT(static_resolve(path, strlen(path), out, sizeof out), 404);
	CHECK_EQ_INT(static_resolve("/abc", 4, out, 3), 404); /* no room for the NUL */
	CHECK_EQ_INT(static_resolve("/abc", 4, out, 4), 0);
	CHECK_EQ_INT(static_resolve("/a/b", 4, out, 3), 404);
	CHECK_EQ_INT(static_resolve("/abc/d", 3, out, 16), 0); /* n bounds the input */
	CHECK_EQ_STR(out, "ab");
}

/* ---------- Range ---------- */

struct range_case {
	const char *v;
	uint64_t size;
	enum static_range want;
	uint64_t off, len;
};

TEST(range_forms)
{
	static const struct range_case cases[] = {
		{"bytes=0-99", 1000, RANGE_PART, 0, 100},
		{"bytes=5-5", 1000, RANGE_PART, 5, 1},
		{"bytes=990-", 1000, RANGE_PART, 990, 10},
		{"bytes=-10", 1000, RANGE_PART, 990, 10},
		{"bytes=-5000", 1000, RANGE_PART, 0, 1000},
		{"bytes=0-999999", 1000, RANGE_PART, 0, 1000},
		{"bytes=999-", 1000, RANGE_PART, 999, 1},
		{"bytes=0-18446744073709551615", 1000, RANGE_PART, 0, 1000},
		{"bytes=0-99999999999999999999999", 1000, RANGE_PART, 0, 1000},
		{"BYTES=1-2", 1000, RANGE_PART, 1, 2},
		{" bytes=1-2 ", 1000, RANGE_PART, 1, 2},
		{"bytes= 1-2 ,", 1000, RANGE_PART, 1, 2},
		{"bytes=,1-2", 1000, RANGE_PART, 1, 2},
		{"bytes=1000-", 1000, RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=1000-2000", 1000, RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=99999999999999999999999-", 1000, RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=-0", 1000, RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=-1", 0, RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0},
		{"bytes=0-1,5-6", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=0-1, -5", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=5-1", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=-", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=a-b", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=1-2x", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=1 -2", 1000, RANGE_WHOLE, 0, 0},
		{"bytes=--1", 1000, RANGE_WHOLE, 0, 0},
		{"bytes 0-1", 1000, RANGE_WHOLE, 0, 0},
		{"items=0-1", 1000, RANGE_WHOLE, 0, 0},
		{"", 1000, RANGE_WHOLE, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct range_case *c = &cases[i];
		uint64_t off = 0, len = 0;
		enum static_range got = static_parse_range(c->v, strlen(c->v), c->size, &off, &len);
		if (got != c->want || (got == RANGE_PART && (off != c->off || len != c->len)))
			unit_fail(__FILE__, __LINE__, "\"%s\" size %llu: %d %llu+%llu", c->v,
				  (unsigned long long)c->size, got, (unsigned long long)off,
				  (unsigned long long)len);
	}
}

/* ---------- If-None-Match ---------- */

static bool inm(const char *list, const char *etag)
{
	return static_etag_match(list, strlen(list), etag);
}

TEST(etag_lists_and_weak_comparison)
{
	const char *tag = "\"6553f100-d\"";
	CHECK(inm("\"6553f100-d\"", tag));
	CHECK(inm("*", tag));
	CHECK(inm(" * ", tag));
	CHECK(inm("W/\"6553f100-d\"", tag));
	CHECK(inm("\"6553f100-d\"", "W/\"6553f100-d\""));
	CHECK(inm("\"a\", \"6553f100-d\"", tag));
	CHECK(inm("\"a\",W/\"6553f100-d\",\"b\"", tag));
	CHECK(inm(" , \"a\" ,, \"6553f100-d\" ", tag));
	CHECK(inm("\"x,y\", \"6553f100-d\"", tag)); /* a comma inside a tag */
	CHECK(!inm("\"6553f100-e\"", tag));
	CHECK(!inm("\"6553f100-d", tag));
	CHECK(!inm("6553f100-d", tag));
	CHECK(!inm("\"6553F100-D\"", tag)); /* opaque: case matters */
	CHECK(!inm("w/\"6553f100-d\"", tag));
	CHECK(!inm("\"a\", \"b\"", tag));
	CHECK(!inm("", tag));
	CHECK(!inm("\"6553f100-d-br\"", tag));
	CHECK(!inm("\"x,\"6553f100-d\"", tag));
}

/* ---------- dates ---------- */

static int64_t date(const char *v)
{
	int64_t t = -1;
	return static_parse_date(v, strlen(v), &t) ? t : -1;
}

TEST(dates_in_the_three_forms)
{
	CHECK_EQ_INT(date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
	CHECK_EQ_INT(date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
	CHECK_EQ_INT(date("Sun Nov  6 08:49:37 1994"), 784111777);
	CHECK_EQ_INT(date(MTIME_DATE), MTIME);
	CHECK_EQ_INT(date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
	CHECK_EQ_INT(date("Mon, 29 Feb 2016 23:59:59 GMT"), 1456790399);
	CHECK_EQ_INT(date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
	CHECK_EQ_INT(date("Wednesday, 01-Jan-25 00:00:00 GMT"), 1735689600);
}

TEST(bad_dates)
{
	static const char *const bad[] = {
		"", "yesterday", "Sun, 06 Nov 1994", "Sun, 06 Nov 1994 08:49 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
		"Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1969 08:49:37 GMT", "Sun, 06 Nov 19945 08:49:37 GMT", "Sun, 06 Nov Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT 1995", "Sun, 06 Nov 1994 08:4a:37 GMT", "1700000000",
		"Sun, 06 Nov 1994 08:49:37 UTC",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (date(bad[i]) != -1)
			unit_fail(__FILE__, __LINE__, "\"%s\" read as a date", bad[i]);
}

/* ---------- Accept-Encoding ---------- */

#define BR (1u << CODING_BR)
#define GZ (1u << CODING_GZIP)

static enum static_coding ae(const char *v, unsigned avail)
{
	return static_pick_coding(v, strlen(v), avail);
}

TEST(accept_encoding_q_values)
{
	CHECK_EQ_INT(ae("gzip, deflate, br", BR | GZ), CODING_BR);
	CHECK_EQ_INT(ae("gzip, deflate, br", GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("gzip, deflate, br", BR), CODING_BR);
	CHECK_EQ_INT(ae("gzip", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("GZIP", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("x-gzip", GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("br", GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("", BR | GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("identity", BR | GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("deflate", BR | GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("gzip, br", 0), CODING_IDENTITY);
	CHECK_EQ_INT(ae("br;q=0, gzip", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("br;q=0.000, gzip", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("br;q=0, gzip;q=0", BR | GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("gzip;q=0.5, br;q=0.4", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("gzip;q=0.5, br;q=0.5", BR | GZ), CODING_BR);
	CHECK_EQ_INT(ae("gzip;q=1.0, br;q=0.999", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("gzip ; q=0.001 , br;Q=0.002", BR | GZ), CODING_BR);
	CHECK_EQ_INT(ae("br;q=1.5, gzip", BR | GZ), CODING_GZIP);   /* a bad weight drops br */
	CHECK_EQ_INT(ae("br;q=0.1234, gzip;q=0.1", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("br;q=x", BR | GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("*", BR | GZ), CODING_BR);
	CHECK_EQ_INT(ae("*", GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("*, br;q=0", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("*;q=0", BR | GZ), CODING_IDENTITY);
	CHECK_EQ_INT(ae("*;q=0, gzip", BR | GZ), CODING_GZIP);
	CHECK_EQ_INT(ae("gzip;q=0.2, *;q=0.5", BR | GZ), CODING_BR);
	CHECK_EQ_INT(ae(",,br,,", BR | GZ), CODING_BR);
}

/* ---------- names ---------- */

static bool hashed(const char *name)
{
	return static_hashed(name, strlen(name));
}

TEST(hashed_names)
{
	CHECK(hashed("app.3f2a9c1b7d4e.css"));
	CHECK(hashed("css/app.3f2a9c1b7d4e.css"));
	CHECK(hashed("main.deadbeef.js"));
	CHECK(hashed("x.0123456789abcdef0123456789ABCDEF.woff2"));
	CHECK(hashed("vendor.min.0123abcd.js"));
	CHECK(!hashed("app.css"));
	CHECK(!hashed("app.min.css"));
	CHECK(!hashed("app.3f2a9c1.css"));   /* 7 digits */
	CHECK(!hashed("x.0123456789abcdef0123456789abcdef0.js")); /* 33 */
	CHECK(!hashed("app.3f2a9c1g7d4e.css"));
	CHECK(!hashed("3f2a9c1b7d4e.css"));  /* no name before the hash */
	CHECK(!hashed("app.3f2a9c1b7d4e"));  /* the hash is the extension */
	CHECK(!hashed("app.3f2a9c1b7d4e."));
	CHECK(!hashed("d.3f2a9c1b7d4e/app.css"));
	CHECK(hashed("app.css.3f2a9c1b7d4e.map")); /* Django's name for app.css.map */
	CHECK(!hashed("app.3f2a9c1b7d4e.css.map"));
}

static struct static_files *types_only(void)
{
	static struct config cfg;
	char err[256];
	cfg.static_max_age = 3600;
	return static_open(&cfg, err, sizeof err);
}

static const char *type(const struct static_files *s, const char *name)
{
	return static_type(s, name, strlen(name));
}

TEST(types_from_mime_types)
{
	struct static_files *s = types_only();
	CHECK(s != NULL);
	CHECK_EQ_STR(type(s, "app.css"), "text/css; charset=utf-8");
	CHECK_EQ_STR(type(s, "app.js"), "text/javascript; charset=utf-8");
	CHECK_EQ_STR(type(s, "mod.mjs"), "text/javascript; charset=utf-8");
	CHECK_EQ_STR(type(s, "data.json"), "application/json; charset=utf-8");
	CHECK_EQ_STR(type(s, "site.webmanifest"), "application/manifest+json; charset=utf-8");
	CHECK_EQ_STR(type(s, "index.html"), "text/html; charset=utf-8");
	CHECK_EQ_STR(type(s, "README.TXT"), "text/plain; charset=utf-8");
	CHECK_EQ_STR(type(s, "Logo.PnG"), "image/png");
	CHECK_EQ_STR(type(s, "logo.svg"), "image/svg+xml");
	CHECK_EQ_STR(type(s, "font.woff2"), "font/woff2");
	CHECK_EQ_STR(type(s, "a.tar.gz"), "application/gzip");
	CHECK_EQ_STR(type(s, "dir/app.3f2a9c1b7d4e.css"), "text/css; charset=utf-8");
	CHECK_EQ_STR(type(s, "noext"), "application/octet-stream");
	CHECK_EQ_STR(type(s, "dir.css/noext"), "application/octet-stream");
	CHECK_EQ_STR(type(s, "trailing."), "application/octet-stream");
	CHECK_EQ_STR(type(s, "x.nosuchextension"), "application/octet-stream");
	CHECK_EQ_STR(type(s, "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "application/octet-stream");
	static_close(s);
}

/* ---------- a tree and whole answers ---------- */

static char root[64], deep[80];

static void put(const char *rel, const char *content)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
		abort();
	struct timespec ts[2] = {{MTIME, 0}, {MTIME, 0}};
	futimens(fd, ts);
	close(fd);
}

static void mkdirs(const char *rel)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	if (mkdir(path, 0755) < 0)
		abort();
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void remove_tree(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* static/ with hello.txt, app.css (+ .br, .gz), only.js (+ .gz), a hashed
 * name, a dotfile, a directory, a FIFO, a symlink; deep/ mapped at /static/deep. */
static struct static_files *tree(void)
{
	static struct config cfg;
	char err[256], path[256];
	strcpy(root, "/tmp/wsginit-unit-static-XXXXXX");
	if (!mkdtemp(root))
		abort();
	put("hello.txt", "hello static\n");
	put("app.css", "body { color: red }\n");
	put("app.css.br", "BR-VARIANT");
	put("app.css.gz", "GZ-VARIANT!");
	put("only.js", "var x = 1;\n");
	put("only.js.gz", "GZ-ONLY");
	put("app.3f2a9c1b7d4e.css", "hashed\n");
	put(".env", "SECRET=1\n");
	mkdirs("sub");
	put("sub/nested.txt", "nested\n");
	snprintf(path, sizeof path, "%s/fifo", root);
	mkfifo(path, 0644);
	snprintf(path, sizeof path, "%s/link.txt", root);
	if (symlink("hello.txt", path) < 0)
		abort();
	mkdirs("deep-root");
	put("deep-root/x.txt", "from deep\n");
	snprintf(deep, sizeof deep, "%s/deep-root", root);
	cfg.nstatic = 2;
	cfg.statics[0] = (struct config_static){"/static", 7, ""};
	strcpy(cfg.statics[0].dir, root);
	cfg.statics[1] = (struct config_static){"/static/deep", 12, ""};
	strcpy(cfg.statics[1].dir, deep);
	cfg.static_max_age = 600;
	struct static_files *s = static_open(&cfg, err, sizeof err);
	if (!s)
		unit_fail(__FILE__, __LINE__, "static_open: %s", err);
	return s;
}

struct seen {
	int status;
	char head[4096];
	char body[256]; /* the queued body, read back (files with pread) */
	size_t body_len;
	bool file;
	uint64_t off;
};

static void read_queue(struct response *r, struct seen *w)
{
	for (size_t i = r->qhead; i < r->qlen; i++) {
		const struct response_src *src = &r->q[i];
		size_t room = sizeof w->body - w->body_len, n = src->left < room ? (size_t)src->left : room;
		if (src->kind == SRC_FILE) {
			w->file = true;
			w->off = (uint64_t)src->off;
			ssize_t got = pread(src->fd, w->body + w->body_len, n, src->off);
			n = got > 0 ? (size_t)got : 0;
		} else {
			memcpy(w->body + w->body_len, src->p, n);
		}
		w->body_len += n;
	}
}

/* Serves one raw request head. */
static struct seen serve(const struct static_files *s, const char *raw)
{
	static const struct http_limits limits = {4094, 100, 8190, 1u << 20};
	struct seen w = {0};
	struct http_parser p;
	struct response r;
	char buf[4096];
	size_t len = strlen(raw);
	memcpy(buf, raw, len);
	http_init(&p, &limits);
	if (http_parse(&p, buf, &len) != HTTP_DONE)
		unit_fail(__FILE__, __LINE__, "not a request: %s", raw);
	CHECK(static_match(s, buf + p.req.path.off, p.req.path.len));
	response_init(&r, NULL);
	response_begin(&r, p.req.method, p.req.minor, true);
	static_serve(s, buf, &p.req, &r);
	CHECK(r.ended && r.head_done);
	w.status = r.status;
	snprintf(w.head, sizeof w.head, "%.*s", (int)r.head_len, r.head);
	read_queue(&r, &w);
	response_free(&r);
	http_free(&p);
	return w;
}

static struct seen get(const struct static_files *s, const char *target, const char *headers)
{
	char raw[2048];
	snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, headers);
	return serve(s, raw);
}

/* The value of a response field, or NULL. */
static const char *field(const struct seen *w, const char *name)
{
	static char value[512];
	char want[128];
	snprintf(want, sizeof want, "\r\n%s: ", name);
	const char *p = strstr(w->head, want);
	if (!p)
		return NULL;
	p += strlen(want);
	snprintf(value, sizeof value, "%.*s", (int)strcspn(p, "\r"), p);
	return value;
}

#define CHECK_BODY(w, s) CHECK_EQ_MEM((w).body, (w).body_len, s)

TEST(serves_a_file_with_its_validators)
{
	struct static_files *s = tree();
	struct seen w = get(s, "/static/hello.txt", "");
	CHECK_EQ_INT(w.status, 200);
	CHECK(!strncmp(w.head, "HTTP/1.1 200 ", 13));
	CHECK_EQ_STR(field(&w, "Content-Length"), "13");
	CHECK_EQ_STR(field(&w, "Content-Type"), "text/plain; charset=utf-8");
	CHECK_EQ_STR(field(&w, "ETag"), "\"6553f100-d\"");
	CHECK_EQ_STR(field(&w, "Last-Modified"), MTIME_DATE);
	CHECK_EQ_STR(field(&w, "Cache-Control"), "public, max-age=600");
	CHECK_EQ_STR(field(&w, "Accept-Ranges"), "bytes");
	CHECK_EQ_STR(field(&w, "X-Content-Type-Options"), "nosniff");
	CHECK(!field(&w, "Vary") && !field(&w, "Content-Encoding"));
	CHECK(w.file);
	CHECK_BODY(w, "hello static\n");
	w = get(s, "/static/hello.txt?v=1&x=../../etc/passwd", "");
	CHECK_EQ_INT(w.status, 200);
	CHECK_BODY(w, "hello static\n");
	remove_tree();
	static_close(s);
}

TEST(head_has_the_headers_and_no_body)
{
	struct static_files *s = tree();
	struct seen w = serve(s, "HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ_INT(w.status, 200);
	CHECK_EQ_STR(field(&w, "Content-Length"), "13");
	CHECK_EQ_STR(field(&w, "ETag"), "\"6553f100-d\"");
	CHECK_EQ_INT(w.body_len, 0);
	remove_tree();
	static_close(s);
}

TEST(other_methods_get_405_with_allow)
{
	struct static_files *s = tree();
	static const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
		char raw[256];
		snprintf(raw, sizeof raw, "%s /static/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			 methods[i]);
		struct seen w = serve(s, raw);
		CHECK_EQ_INT(w.status, 405);
		CHECK_EQ_STR(field(&w, "Allow"), "GET, HEAD");
		CHECK_BODY(w, "Method Not Allowed\n");
	}
	remove_tree();
	static_close(s);
}

TEST(not_modified)
{
	struct static_files *s = tree();
	static const char *const hits[] = {
		"If-None-Match: \"6553f100-d\"\r\n",
		"If-None-Match: \"nope\", W/\"6553f100-d\"\r\n",
		"If-None-Match: *\r\n",
		"If-None-Match: \"nope\"\r\nIf-None-Match: \"6553f100-d\"\r\n",
		"If-Modified-Since: " MTIME_DATE "\r\n",
		"If-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n",
		"If-None-Match: \"6553f100-d\"\r\nIf-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n",
	};
	for (size_t i = 0; i < sizeof hits / sizeof *hits; i++) {
		struct seen w = get(s, "/static/hello.txt", hits[i]);
		if (w.status != 304)
			unit_fail(__FILE__, __LINE__, "%s: %d", hits[i], w.status);
		CHECK_EQ_STR(field(&w, "ETag"), "\"6553f100-d\"");
		CHECK_EQ_STR(field(&w, "Cache-Control"), "public, max-age=600");
		CHECK(!field(&w, "Content-Length") && !field(&w, "Content-Type") && !field(&w, "Last-Modified"));
		CHECK_EQ_INT(w.body_len, 0);
	}
	static const char *const misses[] = {
		"If-None-Match: \"nope\"\r\n",
		"If-None-Match: \"nope\"\r\nIf-Modified-Since: " MTIME_DATE "\r\n", /* INM first */
		"If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n",
		"If-Modified-Since: not a date\r\n",
	};
	for (size_t i = 0; i < sizeof misses / sizeof *misses; i++) {
		struct seen w = get(s, "/static/hello.txt", misses[i]);
		if (w.status != 200)
			unit_fail(__FILE__, __LINE__, "%s: %d", misses[i], w.status);
		CHECK_BODY(w, "hello static\n");
	}
	remove_tree();
	static_close(s);
}

TEST(ranges)
{
	struct static_files *s = tree();
	struct seen w = get(s, "/static/hello.txt", "Range: bytes=0-4\r\n");
	CHECK_EQ_INT(w.status, 206);
	CHECK_EQ_STR(field(&w, "Content-Range"), "bytes 0-4/13");
	CHECK_EQ_STR(field(&w, "Content-Length"), "5");
	CHECK_BODY(w, "hello");
	w = get(s, "/static/hello.txt", "Range: bytes=-7\r\n");
	CHECK_EQ_STR(field(&w, "Content-Range"), "bytes 6-12/13");
	CHECK_EQ_INT(w.off, 6);
	CHECK_BODY(w, "static\n");
	w = get(s, "/static/hello.txt", "Range: bytes=13-\r\n");
	CHECK_EQ_INT(w.status, 416);
	CHECK_EQ_STR(field(&w, "Content-Range"), "bytes */13");
	w = get(s, "/static/hello.txt", "Range: bytes=0-1,4-5\r\n");
	CHECK_EQ_INT(w.status, 200);
	CHECK_BODY(w, "hello static\n");
	w = serve(s, "HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\n\r\n");
	CHECK_EQ_INT(w.status, 200); /* Range is for GET */
	remove_tree();
	static_close(s);
}

TEST(if_range)
{
	struct static_files *s = tree();
	static const struct { const char *h; int status; } cases[] = {
		{"If-Range: \"6553f100-d\"\r\n", 206},
		{"If-Range: " MTIME_DATE "\r\n", 206},
		{"If-Range: \"6553f100-e\"\r\n", 200},
		{"If-Range: W/\"6553f100-d\"\r\n", 200},
		{"If-Range: Wed, 15 Nov 2023 00:00:00 GMT\r\n", 200},
		{"If-Range: garbage\r\n", 200},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char h[256];
		snprintf(h, sizeof h, "Range: bytes=0-4\r\n%s", cases[i].h);
		struct seen w = get(s, "/static/hello.txt", h);
		if (w.status != cases[i].status)
			unit_fail(__FILE__, __LINE__, "%s: %d", cases[i].h, w.status);
		CHECK_BODY(w, cases[i].status == 206 ? "hello" : "hello static\n");
	}
	remove_tree();
	static_close(s);
}

TEST(precompressed_siblings)
{
	struct static_files *s = tree();
	struct seen w = get(s, "/static/app.css", "Accept-Encoding: gzip, deflate, br\r\n");
	CHECK_EQ_INT(w.status, 200);
	CHECK_EQ_STR(field(&w, "Content-Encoding"), "br");
	CHECK_EQ_STR(field(&w, "Vary"), "Accept-Encoding");
	CHECK_EQ_STR(field(&w, "Content-Type"), "text/css; charset=utf-8");
	CHECK_EQ_STR(field(&w, "ETag"), "\"6553f100-a-br\"");
	CHECK_EQ_STR(field(&w, "Content-Length"), "10");
	CHECK_BODY(w, "BR-VARIANT");
	w = get(s, "/static/app.css", "Accept-Encoding: br;q=0, gzip\r\n");
	CHECK_EQ_STR(field(&w, "Content-Encoding"), "gzip");
	CHECK_EQ_STR(field(&w, "ETag"), "\"6553f100-b-gz\"");
	CHECK_BODY(w, "GZ-VARIANT!");
	w = get(s, "/static/app.css", "");
	CHECK(!field(&w, "Content-Encoding"));
	CHECK_EQ_STR(field(&w, "Vary"), "Accept-Encoding");
	CHECK_EQ_STR(field(&w, "ETag"), "\"6553f100-14\"");
	CHECK_BODY(w, "body { color: red }\n");
	w = get(s, "/static/app.css", "Accept-Encoding: gzip;q=0.5\r\nAccept-Encoding: br;q=0.4\r\n");
	CHECK_EQ_STR(field(&w, "Content-Encoding"), "gzip");
	w = get(s, "/static/only.js", "Accept-Encoding: br, gzip\r\n");
	CHECK_EQ_STR(field(&w, "Content-Encoding"), "gzip");
	CHECK_BODY(w, "GZ-ONLY");
	w = get(s, "/static/app.css", "Accept-Encoding: br\r\nRange: bytes=3-\r\n");
	CHECK_EQ_INT(w.status, 206);
	CHECK_EQ_STR(field(&w, "Content-Range"), "bytes 3-9/10");
	CHECK_BODY(w, "VARIANT");
	w = get(s, "/static/app.css", "Accept-Encoding: br\r\nIf-None-Match: \"6553f100-a-br\"\r\n");
	CHECK_EQ_INT(w.status, 304);
	CHECK_EQ_STR(field(&w, "Vary"), "Accept-Encoding");
	w = get(s, "/static/app.css", "Accept-Encoding: br\r\nIf-None-Match: \"6553f100-14\"\r\n");
	CHECK_EQ_INT(w.status, 200);
	remove_tree();
	static_close(s);
}

TEST(hashed_names_are_immutable)
{
	struct static_files *s = tree();
	struct seen w = get(s, "/static/app.3f2a9c1b7d4e.css", "");
	CHECK_EQ_STR(field(&w, "Cache-Control"), "public, max-age=31536000, immutable");
	w = get(s, "/static/app.3f2a9c1b7d4e.css", "If-None-Match: *\r\n");
	CHECK_EQ_INT(w.status, 304);
	CHECK_EQ_STR(field(&w, "Cache-Control"), "public, max-age=31536000, immutable");
	remove_tree();
	static_close(s);
}

TEST(refusals)
{
	struct static_files *s = tree();
	static const struct { const char *target; int status; } cases[] = {
		{"/static/.env", 404}, {"/static/%2eenv", 404}, {"/static/sub", 404}, {"/static/sub/", 404},
		{"/static", 404}, {"/static/", 404}, {"/static/hello.txt/", 404}, {"/static/fifo", 404},
		{"/static/missing", 404}, {"/static/../static/hello.txt", 404},
		{"/static/sub%2Fnested.txt", 404}, {"/static/hello.txt%00", 404}, {"/static/%zz", 400},
		{"/static/hello%2", 400}, {"/static//hello.txt", 404}, {"/static/deep/hello.txt", 404},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct seen w = get(s, cases[i].target, "");
		if (w.status != cases[i].status)
			unit_fail(__FILE__, __LINE__, "%s: %d", cases[i].target, w.status);
		CHECK_EQ_STR(field(&w, "Content-Type"), "text/plain; charset=utf-8");
		CHECK_EQ_STR(field(&w, "X-Content-Type-Options"), "nosniff");
		CHECK(w.body_len > 0 && !w.file);
	}
	remove_tree();
	static_close(s);
}

TEST(symlinks_nesting_and_prefix_boundaries)
{
	struct static_files *s = tree();
	struct seen w = get(s, "/static/link.txt", "");
	CHECK_EQ_INT(w.status, 200);
	CHECK_BODY(w, "hello static\n");
	w = get(s, "/static/sub/nested.txt", "");
	CHECK_BODY(w, "nested\n");
	w = get(s, "/static/deep/x.txt", "");
	CHECK_EQ_INT(w.status, 200);
	CHECK_BODY(w, "from deep\n");
	w = get(s, "/static/deep-root/x.txt", ""); /* under /static, not /static/deep */
	CHECK_BODY(w, "from deep\n");
	CHECK(static_match(s, "/static", 7));
	CHECK(static_match(s, "/static/x", 9));
	CHECK(!static_match(s, "/staticfoo", 10));
	CHECK(!static_match(s, "/stati", 6));
	CHECK(!static_match(s, "/", 1));
	CHECK(!static_match(s, "/media/x", 8));
	CHECK(!static_match(NULL, "/static/x", 9));
	remove_tree();
	static_close(s);
}

TEST(open_names_the_entry_that_fails)
{
	static struct config cfg;
	char err[256] = "";
	cfg.nstatic = 1;
	cfg.statics[0] = (struct config_static){"/static", 7, "/etc/passwd"};
	CHECK(static_open(&cfg, err, sizeof err) == NULL);
	CHECK(strstr(err, "STATIC_MAP") && strstr(err, "/static=/etc/passwd"));
	CHECK(!strchr(err, '\n'));
}

UNIT_MAIN()
