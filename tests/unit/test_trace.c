/* trace.c: X-Request-ID (REQUEST_ID), W3C traceparent, X-Request-Start and
 * queue time, on requests from the real parser. */
#include "trace.h"
#include "unit.h"

/* ---------- X-Request-ID ---------- */

#define ID_OK(s) CHECK(trace_request_id_valid(s, strlen(s)))
#define ID_BAD(s) CHECK(!trace_request_id_valid(s, strlen(s)))

TEST(request_id_charset_and_length)
{
	ID_OK("a");
	ID_OK("abc-123");
	ID_OK("ABCxyz0189._:-");
	ID_OK("f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
	ID_OK("req:2023.11.14_frontend-7");
	char s[200];
	memset(s, 'x', sizeof s);
	CHECK(trace_request_id_valid(s, 128));
	CHECK(!trace_request_id_valid(s, 129));
	CHECK(!trace_request_id_valid(s, 0));
	ID_BAD("");
	ID_BAD("a b");
	ID_BAD("a,b");
	ID_BAD("a, b");
	ID_BAD("a/b");
	ID_BAD("a+b");
	ID_BAD("a=");
	ID_BAD("\"quoted\"");
	ID_BAD("tab\there");
	ID_BAD("caf\xc3\xa9");
	ID_BAD("{id}");
	CHECK(!trace_request_id_valid("ab\0cd", 5));
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || !s[i])
			return false;
	return true;
}

/* 32 hex digits, different each time, also past a refill of the pool. */
TEST(request_id_new)
{
	static struct trace_random rnd;
	static char ids[600][33];
	for (int i = 0; i < 600; i++) { /* 4096 / 16 = 256 IDs a fill: crosses two refills */
		trace_request_id_new(&rnd, ids[i]);
		CHECK_EQ_INT(strlen(ids[i]), 32);
		CHECK(is_lower_hex(ids[i], 32));
		CHECK(trace_request_id_valid(ids[i], 32));
		for (int j = 0; j < i; j++)
			if (!strcmp(ids[i], ids[j]))
				unit_fail(__FILE__, __LINE__, "id %d repeats id %d: %s", i, j, ids[i]);
	}
	/* every hex digit shows up in every position over 600 random IDs */
	for (int pos = 0; pos < 32; pos++) {
		int seen = 0;
		for (int i = 0; i < 600; i++)
			seen |= 1 << (strchr("0123456789abcdef", ids[i][pos]) - "0123456789abcdef");
		CHECK_EQ_INT(seen, 0xffff);
	}
}

/* ---------- traceparent ---------- */

static char tid[33], sid[17];

static bool tp(const char *s)
{
	tid[0] = sid[0] = 0;
	return trace_parent_parse(s, strlen(s), tid, sid);
}

#define TP_OK(s, want_trace, want_span)         \
	do {                                    \
		CHECK(tp(s));                   \
		CHECK_EQ_STR(tid, want_trace);  \
		CHECK_EQ_STR(sid, want_span);   \
	} while (0)
#define TP_BAD(s) CHECK(!tp(s))

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN "00f067aa0ba902b7"

TEST(traceparent_valid)
{
	TP_OK("00-" TRACE "-" SPAN "-01", TRACE, SPAN);
	TP_OK("00-" TRACE "-" SPAN "-00", TRACE, SPAN);
	TP_OK("00-" TRACE "-" SPAN "-ff", TRACE, SPAN);   /* unknown flags are kept, not refused */
	TP_OK("00-00000000000000000000000000000001-0000000000000001-01",
	      "00000000000000000000000000000001", "0000000000000001");
}

TEST(traceparent_invalid)
{
	TP_BAD("");
	TP_BAD("00");
	TP_BAD("ff-" TRACE "-" SPAN "-01");                /* version ff is invalid */
	TP_BAD("0-" TRACE "-" SPAN "-01");
	TP_BAD("0g-" TRACE "-" SPAN "-01");
	TP_BAD("0A-" TRACE "-" SPAN "-01");
	TP_BAD("00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01"); /* uppercase */
	TP_BAD("00-4bf92f3577b34da6a3ce929d0e0e473A-" SPAN "-01");
	TP_BAD("00-" TRACE "-00F067AA0BA902B7-01");
	TP_BAD("00-" TRACE "-" SPAN "-0A");
	TP_BAD("00-00000000000000000000000000000000-" SPAN "-01"); /* all-zero trace-id */
	TP_BAD("00-" TRACE "-0000000000000000-01");                /* all-zero parent-id */
	TP_BAD("00-" TRACE "-" SPAN "-1");
	TP_BAD("00-" TRACE "-" SPAN "-011");
	TP_BAD("00-" TRACE "-" SPAN "-01-");
	TP_BAD("00-" TRACE "-" SPAN "-01-what-the-future-will-be-like"); /* 00 ends at the flags */
	TP_BAD("00-4bf92f3577b34da6a3ce929d0e0e473-" SPAN "-01");  /* 31 digits */
	TP_BAD("00-4bf92f3577b34da6a3ce929d0e0e47366-" SPAN "-01");
	TP_BAD("00-" TRACE "-00f067aa0ba902b-01");
	TP_BAD("00_" TRACE "-" SPAN "-01");
	TP_BAD("00-" TRACE "_" SPAN "-01");
	TP_BAD("00-" TRACE "-" SPAN "_01");
	TP_BAD(" 00-" TRACE "-" SPAN "-01");                /* the parser trims OWS; nothing more */
	TP_BAD("00-" TRACE "-" SPAN "-01 ");
	TP_BAD("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01");
	CHECK(!trace_parent_parse("00-" TRACE "-" SPAN "-01", 54, tid, sid)); /* one short */
	CHECK_EQ_STR(tid, "");
}

/* A version this level does not know is read as 00 when what follows the
 * flags starts with '-' (W3C Trace Context level 1, "Versioning"). */
TEST(traceparent_future_versions)
{
	TP_OK("01-" TRACE "-" SPAN "-01", TRACE, SPAN);
	TP_OK("cc-" TRACE "-" SPAN "-01-what-the-future-will-be-like", TRACE, SPAN);
	TP_OK("fe-" TRACE "-" SPAN "-09-", TRACE, SPAN);
	TP_BAD("cc-" TRACE "-" SPAN "-01.what-the-future-will-be-like");
	TP_BAD("cc-" TRACE "-" SPAN "-01what");
	TP_BAD("cc-" TRACE "-" SPAN "-0");
	TP_BAD("ff-" TRACE "-" SPAN "-01-x");
}

/* ---------- X-Request-Start ---------- */

#define START(s) trace_request_start(s, strlen(s))

TEST(request_start_units_by_magnitude)
{
	CHECK_EQ_INT(START("t=1700000000"), 1700000000000000LL);          /* seconds */
	CHECK_EQ_INT(START("t=1700000000.123"), 1700000000123000LL);      /* nginx's ${msec} */
	CHECK_EQ_INT(START("t=1700000000.123456"), 1700000000123456LL);
	CHECK_EQ_INT(START("1700000000123"), 1700000000123000LL);         /* Heroku: milliseconds */
	CHECK_EQ_INT(START("t=1700000000123"), 1700000000123000LL);
	CHECK_EQ_INT(START("t=1700000000123.5"), 1700000000123500LL);
	CHECK_EQ_INT(START("t=1700000000123456"), 1700000000123456LL);    /* Apache's %t: microseconds */
	CHECK_EQ_INT(START("1700000000123456"), 1700000000123456LL);
	CHECK_EQ_INT(START("t=0"), 0);
	CHECK_EQ_INT(START("t=99999999999"), 99999999999000000LL);        /* < 1e11: seconds */
	CHECK_EQ_INT(START("t=100000000000"), 100000000000000LL);         /* 1e11: milliseconds */
	CHECK_EQ_INT(START("t=99999999999999"), 99999999999999000LL);
	CHECK_EQ_INT(START("t=100000000000000"), 100000000000000LL);      /* 1e14: microseconds */
	CHECK_EQ_INT(START("t=1700000000.1234567891234"), 1700000000123456LL); /* digits past us ignored */
	CHECK_EQ_INT(START("t=1700000000123.4567"), 1700000000123456LL);
	CHECK_EQ_INT(START("t=1700000000123456.789"), 1700000000123456LL);
	CHECK_EQ_INT(START("t=1700000000.000001"), 1700000000000001LL);
}

TEST(request_start_unreadable)
{
	const char *bad[] = {"", "t=", "t", "x=1700000000", "t=-1700000000", "-1", "+1700000000",
			     "t=1700000000.", "t=.5", "t=1.7e9", "t=1700000000 ", " t=1700000000",
			     "t=1700000000,t=1", "t=1700000000s", "t=0x10", "T=1700000000",
			     "t=100000000000000000", /* 1e17: 18 digits */
			     "t=1700000000.12.3", "t=1700000000.1a", "D=1700000000", "abc"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (START(bad[i]) != -1)
			unit_fail(__FILE__, __LINE__, "\"%s\" gave %lld", bad[i], (long long)START(bad[i]));
}

/* ---------- trace_begin on parsed requests ---------- */

static const struct http_limits limits = {4094, 100, 8190, 1 << 20};
static struct http_parser parser;
static char buf[16384];
static struct trace_random rnd;
static const struct timespec arrived = {1700000000, 500000000}; /* 1700000000.5 s */

static struct trace *begin(const char *headers, bool request_id, bool trusted)
{
	static struct trace t;
	size_t len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", headers);
	http_free(&parser);
	http_init(&parser, &limits);
	if (http_parse(&parser, buf, &len) != HTTP_DONE)
		unit_fail(__FILE__, __LINE__, "did not parse: %s", headers);
	memset(&t, 0x55, sizeof t); /* nothing from before may show through */
	trace_begin(&t, buf, &parser.req, request_id ? &rnd : NULL);
	if (trusted)
		trace_front(&t, buf, &arrived);
	return &t;
}

TEST(begin_without_headers)
{
	struct trace *t = begin("", false, true);
	CHECK_EQ_STR(t->request_id, "");
	CHECK_EQ_INT(t->request_id_len, 0);
	CHECK_EQ_STR(t->trace_id, "");
	CHECK_EQ_STR(t->span_id, "");
	CHECK_EQ_INT(t->front_us, 0);
	CHECK_EQ_INT(t->queue_us, -1);
	CHECK_EQ_INT(t->request_start.len, 0);
}

TEST(begin_request_id)
{
	struct trace *t = begin("X-Request-ID: abc-123\r\n", true, false);
	CHECK_EQ_STR(t->request_id, "abc-123");
	CHECK_EQ_INT(t->request_id_len, 7);
	t = begin("x-request-id:   spaced.id  \r\n", true, false);   /* OWS is the parser's */
	CHECK_EQ_STR(t->request_id, "spaced.id");
	t = begin("X-Request-ID: abc-123\r\n", false, false);        /* REQUEST_ID off */
	CHECK_EQ_STR(t->request_id, "");
	CHECK_EQ_INT(t->request_id_len, 0);
	const char *replaced[] = {"X-Request-ID: bad id\r\n", "X-Request-ID: a/b\r\n",
				  "X-Request-ID: a\r\nX-Request-ID: b\r\n", /* two lines: "a, b" for the app */
				  "X-Request-Id: \r\n", "", "X-Request-IDs: abc\r\n"};
	for (size_t i = 0; i < sizeof replaced / sizeof *replaced; i++) {
		t = begin(replaced[i], true, false);
		if (t->request_id_len != 32 || strlen(t->request_id) != 32 || !is_lower_hex(t->request_id, 32))
			unit_fail(__FILE__, __LINE__, "%s: got \"%s\"", replaced[i], t->request_id);
	}
	char h[300];
	snprintf(h, sizeof h, "X-Request-ID: %0128d\r\n", 7);
	CHECK_EQ_INT(begin(h, true, false)->request_id_len, 128);
	snprintf(h, sizeof h, "X-Request-ID: %0129d\r\n", 7);
	CHECK_EQ_INT(begin(h, true, false)->request_id_len, 32);
}

TEST(begin_traceparent)
{
	struct trace *t = begin("traceparent: 00-" TRACE "-" SPAN "-01\r\n", false, false);
	CHECK_EQ_STR(t->trace_id, TRACE);
	CHECK_EQ_STR(t->span_id, SPAN);
	t = begin("TraceParent: 00-" TRACE "-" SPAN "-01\r\n", false, false);
	CHECK_EQ_STR(t->trace_id, TRACE);
	const char *ignored[] = {"traceparent: ff-" TRACE "-" SPAN "-01\r\n",
				 "traceparent: 00-" TRACE "-" SPAN "-01\r\ntraceparent: 00-" TRACE "-" SPAN "-01\r\n",
				 "traceparents: 00-" TRACE "-" SPAN "-01\r\n", "traceparent: \r\n",
				 "trace-parent: 00-" TRACE "-" SPAN "-01\r\n"};
	for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
		t = begin(ignored[i], false, false);
		if (t->trace_id[0] || t->span_id[0])
			unit_fail(__FILE__, __LINE__, "%s: got %s %s", ignored[i], t->trace_id, t->span_id);
	}
}

/* arrived is 1700000000.5 s. */
TEST(begin_request_start)
{
	CHECK_EQ_INT(begin("X-Request-Start: t=1700000000.25\r\n", false, true)->front_us, 250000);
	CHECK_EQ_INT(begin("X-Request-Start: 1700000000250\r\n", false, true)->front_us, 250000);
	CHECK_EQ_INT(begin("X-Request-Start: t=1700000000250000\r\n", false, true)->front_us, 250000);
	CHECK_EQ_INT(begin("x-request-start: t=1699999000.5\r\n", false, true)->front_us, 1000000000LL);
	/* the last line is the nearest proxy's */
	CHECK_EQ_INT(begin("X-Request-Start: t=1600000000\r\nX-Request-Start: t=1700000000\r\n", false, true)->front_us,
		     500000);
	/* kept aside: trace_front() is for a trusted peer's alone */
	struct trace *t = begin("X-Request-Start: t=1700000000.25\r\n", false, false);
	CHECK_EQ_INT(t->front_us, 0);
	CHECK_EQ_MEM(buf + t->request_start.off, t->request_start.len, "t=1700000000.25");
	/* clamped: after the arrival (a clock ahead of ours) and more than an hour back count as 0 */
	CHECK_EQ_INT(begin("X-Request-Start: t=1700000001\r\n", false, true)->front_us, 0);
	CHECK_EQ_INT(begin("X-Request-Start: t=1700000000.5\r\n", false, true)->front_us, 0);
	CHECK_EQ_INT(begin("X-Request-Start: t=1699996400.5\r\n", false, true)->front_us, 3600000000LL);
	CHECK_EQ_INT(begin("X-Request-Start: t=1699996400.4\r\n", false, true)->front_us, 0);
	CHECK_EQ_INT(begin("X-Request-Start: t=0\r\n", false, true)->front_us, 0);
	CHECK_EQ_INT(begin("X-Request-Start: t=junk\r\n", false, true)->front_us, 0);
	CHECK_EQ_INT(begin("X-Request-Start: t=1700000000.25\r\n", false, true)->queue_us, -1);
}

TEST(app_called_sets_queue_time)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct trace t = {.front_us = 0, .queue_us = -1};
	trace_app_called(&t, &now);
	CHECK(t.queue_us >= 0 && t.queue_us < 1000000);
	struct timespec earlier = now;
	earlier.tv_sec -= 2;
	t.front_us = 250000;
	trace_app_called(&t, &earlier);
	CHECK(t.queue_us >= 2250000 && t.queue_us < 3250000);
	struct timespec later = now;
	later.tv_sec += 10; /* the clock stepped back since the arrival: no negative wait */
	t.front_us = 7;
	trace_app_called(&t, &later);
	CHECK_EQ_INT(t.queue_us, 7);
}

UNIT_MAIN()
