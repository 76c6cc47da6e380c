/* ACCESS_LOG_FORMAT: accesslog_init() compiles gunicorn's atoms (or refuses
 * the format with the line main() prints), accesslog_write() renders a line.
 * Requests come from the real parser; the line is read back from fd 1. */
#include "accesslog.h"
#include "log.h"
#include "unit.h"

#include <sys/mman.h>

static const struct http_limits limits = {4094, 100, 8190, 100u << 20};

static struct config cfg;
static char err[512];

static int init(const char *format)
{
	cfg.access_log = true;
	cfg.log_json = false;
	cfg.access_log_format = format;
	memset(err, 0, sizeof err);
	return accesslog_init(&cfg, err, sizeof err);
}

/* ---------- a parsed request and its response ---------- */

static struct {
	struct http_parser p;
	char buf[65536];
	struct access a;
	char out[65536];
} t;

/* An access record for the raw request (status 200, 1234 body bytes sent,
 * 1.234567 s, 2023-11-14 22:13:20 UTC) with this response head. */
static struct access *request(const char *raw, const char *head)
{
	size_t len = strlen(raw);
	http_free(&t.p);
	http_init(&t.p, &limits);
	memcpy(t.buf, raw, len);
	if (http_parse(&t.p, t.buf, &len) != HTTP_DONE)
		unit_fail(__FILE__, __LINE__, "test request did not parse: %s", raw);
	t.a = (struct access){
		.remote = "1.2.3.4",
		.buf = t.buf,
		.req = &t.p.req,
		.status = 200,
		.bytes = 1234,
		.start = {1700000000, 999999999},
		.duration_us = 1234567,
		.head = head,
		.head_len = head ? strlen(head) : 0,
	};
	return &t.a;
}

static const char GET[] = "GET /p/a?q=1&r=2 HTTP/1.1\r\nHost: x\r\nReferer: http://r/\r\n"
			  "User-Agent: ua/1.0 (x)\r\nX-Req: in value\r\nX-Req-Long: other\r\n\r\n";
static const char HEAD[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Respy: no\r\n"
			   "X-Resp:   out value\r\nX-Empty:\r\nContent-Length: 1234\r\n\r\n";

/* What accesslog_write() writes to fd 1 for a, without the newline; "(none)"
 * when it writes nothing, "(no newline)" when the line lacks its end. */
static const char *render(const struct access *a)
{
	fflush(stdout);
	int saved = dup(1), fd = memfd_create("line", 0);
	if (saved < 0 || fd < 0 || dup2(fd, 1) < 0)
		abort();
	accesslog_write(a);
	dup2(saved, 1);
	close(saved);
	ssize_t n = pread(fd, t.out, sizeof t.out - 1, 0);
	close(fd);
	if (n <= 0)
		return "(none)";
	if (t.out[n - 1] != '\n' || memchr(t.out, '\n', (size_t)n - 1))
		return "(no newline)";
	t.out[n - 1] = 0;
	return t.out;
}

/* The line the format gives for a (the format must compile). */
static const char *line(const char *format, const struct access *a)
{
	if (init(format) < 0) {
		unit_fail(__FILE__, __LINE__, "ACCESS_LOG_FORMAT=%s refused: %s", format, err);
		return "(refused)";
	}
	return render(a);
}

#define LINE(format) line(format, request(GET, HEAD))

/* A format and the line it gives for GET and HEAD. */
struct want {
	const char *format, *line;
};

static void lines(const struct want *w, size_t n, int lineno)
{
	for (size_t i = 0; i < n; i++) {
		const char *got = LINE(w[i].format);
		if (strcmp(got, w[i].line))
			unit_fail(__FILE__, lineno, "%s gave \"%s\", want \"%s\"", w[i].format, got, w[i].line);
	}
}

/* Each {format, line} for GET and HEAD. */
#define LINES(...) lines((const struct want[]){__VA_ARGS__}, \
			 sizeof (const struct want[]){__VA_ARGS__} / sizeof (struct want), __LINE__)

/* ---------- the atoms ---------- */

static const char *only_app(const char *name)
{
	return strcmp(name, "APP") ? NULL : "app:application";
}

/* The default ACCESS_LOG_FORMAT (config.c's) gives gunicorn's default line. */
TEST(default_format_is_gunicorns)
{
	struct config dflt;
	CHECK_EQ_INT(config_load_from(&dflt, only_app, "/nonexistent", err, sizeof err), 0);
	CHECK_EQ_STR(LINE(dflt.access_log_format),
		     "1.2.3.4 - - [14/Nov/2023:22:13:20 +0000] \"GET /p/a?q=1&r=2 HTTP/1.1\" 200 1234 "
		     "\"http://r/\" \"ua/1.0 (x)\"");
}

TEST(each_atom)
{
	LINES({"%(h)s", "1.2.3.4"},
	      {"%(l)s", "-"},
	      {"%(u)s", "-"},
	      {"%(t)s", "[14/Nov/2023:22:13:20 +0000]"},
	      {"%(r)s", "GET /p/a?q=1&r=2 HTTP/1.1"},
	      {"%(m)s", "GET"},
	      {"%(U)s", "/p/a"},
	      {"%(q)s", "q=1&r=2"},
	      {"%(H)s", "HTTP/1.1"},
	      {"%(s)s", "200"},
	      {"%(B)s", "1234"},
	      {"%(b)s", "1234"},
	      {"%(f)s", "http://r/"},
	      {"%(a)s", "ua/1.0 (x)"},
	      {"%(T)s", "1"},
	      {"%(M)s", "1234"},
	      {"%(D)s", "1234567"},
	      {"%(L)s", "1.234567"});
	char pid[32];
	snprintf(pid, sizeof pid, "<%d>", (int)getpid());
	CHECK_EQ_STR(LINE("%(p)s"), pid);
}

TEST(atoms_side_by_side_and_literals)
{
	LINES({"%(s)s%(m)s", "200GET"},
	      {"[%(m)s] %(U)s ?%(q)s in %(D)sus.", "[GET] /p/a ?q=1&r=2 in 1234567us."},
	      {"no atoms at all", "no atoms at all"},
	      {"50% (of) %s %s)s", "50% (of) %s %s)s"}, /* not atoms */
	      {"%", "%"},
	      {"%(s)s%", "200%"},
	      {"%(s)s)s", "200)s"},
	      {"", ""});
}

/* Python's %-formatting, which gunicorn applies: "%%" is one '%'. */
TEST(double_percent_is_one)
{
	LINES({"100%% %(s)s", "100% 200"}, {"%%(s)s", "%(s)s"}, {"%%%(s)s%%", "%200%"}, {"%%%%", "%%"});
}

TEST(zero_bytes_and_other_status)
{
	struct access *a = request(GET, HEAD);
	a->bytes = 0;
	a->status = 304;
	a->duration_us = 999;
	CHECK_EQ_STR(line("%(s)s %(b)s %(B)s %(T)s %(M)s %(D)s %(L)s", a), "304 - 0 0 0 999 0.000999");
}

TEST(http10_and_a_bare_path)
{
	struct access *a = request("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", HEAD);
	CHECK_EQ_STR(line("%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(f)s|%(a)s", a), "POST / HTTP/1.0|POST|/||HTTP/1.0|-|-");
}

/* A request refused before it was parsed: its fields are "-". */
TEST(refused_request)
{
	struct access *a = request(GET, NULL);
	a->req = NULL;
	a->status = 400;
	a->bytes = 11;
	CHECK_EQ_STR(line("%(h)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(b)s|%(f)s|%(a)s|%(u)s|%({x-req}i)s|"
			  "%({content-type}o)s", a),
		     "1.2.3.4|-|-|-|-|-|400|11|-|-|-|-|-");
	CHECK_EQ_STR(line("%(t)s", a), "[14/Nov/2023:22:13:20 +0000]");
}

/* ---------- headers ---------- */

TEST(request_header_atoms)
{
	LINES({"%({x-req}i)s", "in value"},
	      {"%({X-REQ}i)s", "in value"}, /* names are case-insensitive */
	      {"%({x-req-long}i)s", "other"},
	      {"%({x-re}i)s", "-"},         /* a whole name, not a prefix */
	      {"%({x-missing}i)s", "-"},
	      {"%({host}i)s %({user-agent}i)s", "x ua/1.0 (x)"},
	      {"%({a}i)s", "-"});
}

TEST(response_header_atoms)
{
	LINES({"%({content-type}o)s", "text/plain"},
	      {"%({Content-Length}o)s", "1234"},
	      {"%({x-resp}o)s", "out value"}, /* leading blanks dropped */
	      {"%({x-res}o)s", "-"},
	      {"%({x-missing}o)s", "-"},
	      {"%({x-empty}o)s", ""},
	      {"%({HTTP/1.1 200 OK}o)s", "-"}); /* the status line is no header */
	CHECK_EQ_STR(line("%({content-type}o)s", request(GET, NULL)), "-");
	CHECK_EQ_STR(line("%({content-type}o)s", request(GET, "HTTP/1.1 200 OK\r\nContent-Type: x")), "-");
}

/* gunicorn's {name}e reads the WSGI environ, which is gone when the line is
 * written (after the last byte): like any atom wsginit lacks, it prints "-". */
TEST(environ_atoms_print_a_dash)
{
	CHECK_EQ_STR(LINE("%({remote_addr}e)s %({wsgi.url_scheme}e)s"), "- -");
}

TEST(basic_auth_user)
{
	/* "alice:secret", "bob:", ":nouser", "nocolon" */
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\n\r\n", HEAD)),
		     "alice");
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: basic Ym9iOg==\r\n\r\n", HEAD)), "bob");
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Om5vdXNlcg==\r\n\r\n", HEAD)),
		     "-"); /* gunicorn: an empty user is "-" */
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic bm9jb2xvbg==\r\n\r\n", HEAD)), "-");
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!!\r\n\r\n", HEAD)), "-");
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer YWxpY2U6c2VjcmV0\r\n\r\n", HEAD)),
		     "-");
	CHECK_EQ_STR(line("%(u)s", request("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic\r\n\r\n", HEAD)), "-");
	/* a user name past 256 decoded bytes: no colon found in what was kept */
	char raw[2048] = "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ";
	size_t n = strlen(raw);
	for (int i = 0; i < 400; i++) /* "YWFh" is "aaa" */
		memcpy(raw + n + 4 * (size_t)i, "YWFh", 4);
	strcpy(raw + n + 1600, "Ojo=\r\n\r\n"); /* "::" */
	CHECK_EQ_STR(line("%(u)s", request(raw, HEAD)), "-");
}

/* ---------- what is not an atom ---------- */

TEST(unknown_atoms_print_a_dash)
{
	CHECK_EQ_STR(LINE("%(x)s|%(hh)s|%()s|%({}i)s|%({x-req}z)s|%({x-req)s|%(x-req}i)s|%(S)s"), "-|-|-|-|-|-|-|-");
	CHECK_EQ_STR(LINE("%(h))s"), "-"); /* "h)" */
}

/* Malformed formats fail at start with the one line main() prints, naming
 * the variable and the value. */
static void expect_refused(const char *format, const char *file, int lineno)
{
	char named[600];
	snprintf(named, sizeof named, "ACCESS_LOG_FORMAT=\"%s\"", format);
	if (init(format) != -1)
		unit_fail(file, lineno, "ACCESS_LOG_FORMAT=%s was accepted", format);
	else if (strncmp(err, named, strlen(named)) || strchr(err, '\n') || !strstr(err, "invalid"))
		unit_fail(file, lineno, "ACCESS_LOG_FORMAT=%s: error \"%s\"", format, err);
}
#define EXPECT_REFUSED(format) expect_refused(format, __FILE__, __LINE__)

TEST(unterminated_atoms_are_refused)
{
	EXPECT_REFUSED("%(h");
	EXPECT_REFUSED("%(");
	EXPECT_REFUSED("%(h)s %(s");
	EXPECT_REFUSED("%({user-agent}i)");
	EXPECT_REFUSED("%(h)d");
	CHECK(strstr(err, "%(atom)s"));
}

TEST(parts_are_bounded)
{
	char format[2048] = "";
	for (int i = 0; i < 64; i++)
		strcat(format, "%(s)s");
	CHECK_EQ_INT(init(format), 0);
	CHECK_EQ_INT((int)strlen(render(request(GET, HEAD))), 64 * 3);
	strcat(format, "x"); /* the 65th part */
	EXPECT_REFUSED(format);
	CHECK(strstr(err, "64"));
	memset(format, 0, sizeof format);
	for (int i = 0; i < 33; i++) /* 33 atoms, 33 blanks */
		strcat(format, "%(s)s ");
	EXPECT_REFUSED(format);
}

/* A line never passes the line buffer, and still ends in one newline. */
TEST(long_lines_are_cut)
{
	char raw[12000], format[64];
	snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %08000d\r\n\r\n", 7);
	snprintf(format, sizeof format, "%s", "%({x-big}i)s%({x-big}i)s%({x-big}i)s|end");
	const char *l = line(format, request(raw, HEAD));
	CHECK_EQ_INT((int)strlen(l), (int)sizeof ((struct line *)0)->buf - 1);
	CHECK(l[0] == '0' && !strstr(l, "|end"));
}

/* ---------- on and off, text and JSON ---------- */

TEST(access_log_off_writes_nothing)
{
	CHECK_EQ_INT(init("%(h)s"), 0);
	CHECK(accesslog_enabled());
	cfg.access_log = false;
	CHECK_EQ_INT(accesslog_init(&cfg, err, sizeof err), 0);
	CHECK(!accesslog_enabled());
	CHECK_EQ_STR(render(request(GET, HEAD)), "(none)");
}

TEST(json_lines)
{
	cfg.access_log = true;
	cfg.log_json = true;
	cfg.access_log_format = "%(h)s ignored";
	CHECK_EQ_INT(accesslog_init(&cfg, err, sizeof err), 0);
	char want[1024];
	snprintf(want, sizeof want,
		 "{\"time\":\"2023-11-14T22:13:20Z\",\"remote_addr\":\"1.2.3.4\",\"method\":\"GET\","
		 "\"path\":\"/p\",\"query\":\"\",\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes\":1234,"
		 "\"duration_us\":1234567,\"referer\":\"\",\"user_agent\":\"a \\\"quoted\\\" \\\\ \\u0009 agent\","
		 "\"pid\":%d}", (int)getpid());
	CHECK_EQ_STR(render(request("GET /p HTTP/1.1\r\nHost: x\r\nUser-Agent: a \"quoted\" \\ \t agent\r\n\r\n", HEAD)), want);
}

/* ---------- request ID, trace context, queue time ---------- */

static const struct trace traced = {
	.request_id = "req-1.a:b_c", .request_id_len = 11,
	.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .span_id = "00f067aa0ba902b7",
	.front_us = 0, .queue_us = 1500,
};

TEST(trace_atoms)
{
	struct access *a = request(GET, HEAD);
	a->trace = &traced;
	CHECK_EQ_STR(line("%(request_id)s %(trace_id)s %(span_id)s %(queue_us)s", a),
		     "req-1.a:b_c 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 1500");
	/* none of them: REQUEST_ID off, no traceparent, the app not called */
	struct trace none = {.queue_us = -1};
	a->trace = &none;
	CHECK_EQ_STR(line("%(request_id)s|%(trace_id)s|%(span_id)s|%(queue_us)s", a), "-|-|-|-");
	none.queue_us = 0;
	CHECK_EQ_STR(line("%(queue_us)s", a), "0");
	a->trace = NULL; /* a refusal */
	CHECK_EQ_STR(line("%(request_id)s|%(trace_id)s|%(span_id)s|%(queue_us)s", a), "-|-|-|-");
	/* names are whole and case-sensitive, like gunicorn's */
	a->trace = &traced;
	CHECK_EQ_STR(line("%(request_ids)s|%(Request_id)s|%(trace)s|%(queue)s|%({request_id}i)s", a), "-|-|-|-|-");
}

TEST(trace_json_fields)
{
	cfg.access_log = true;
	cfg.log_json = true;
	cfg.access_log_format = "%(h)s";
	CHECK_EQ_INT(accesslog_init(&cfg, err, sizeof err), 0);
	struct access *a = request("GET /p HTTP/1.1\r\nHost: x\r\n\r\n", HEAD);
	a->trace = &traced;
	char want[1024];
	snprintf(want, sizeof want,
		 "{\"time\":\"2023-11-14T22:13:20Z\",\"remote_addr\":\"1.2.3.4\",\"method\":\"GET\","
		 "\"path\":\"/p\",\"query\":\"\",\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes\":1234,"
		 "\"duration_us\":1234567,\"referer\":\"\",\"user_agent\":\"\",\"queue_us\":1500,"
		 "\"request_id\":\"req-1.a:b_c\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\","
		 "\"span_id\":\"00f067aa0ba902b7\",\"pid\":%d}", (int)getpid());
	CHECK_EQ_STR(render(a), want);
	/* only what the request has */
	struct trace none = {.queue_us = -1};
	a->trace = &none;
	CHECK(!strstr(render(a), "queue_us") && !strstr(t.out, "request_id") && !strstr(t.out, "trace_id") &&
	      !strstr(t.out, "span_id"));
	a->trace = NULL;
	CHECK(!strstr(render(a), "queue_us") && !strstr(t.out, "_id"));
}

UNIT_MAIN()
