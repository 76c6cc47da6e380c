/* proxy_apply(): which peer is trusted (FORWARDED_ALLOW_IPS), the
 * right-to-left walk of X-Forwarded-For and Forwarded, the scheme and the
 * prefix, and what malformed values leave in place. Requests are built as
 * llhttp leaves them: header slices of one buffer, values without OWS.
 * (The CIDR arithmetic itself is test_config.c's.) */
#include "proxy.h"
#include "unit.h"

#include <arpa/inet.h>
#include <sys/un.h>

/* ---------- a configuration, a peer and a request ---------- */

static const char *allow; /* FORWARDED_ALLOW_IPS; NULL: the default */

static const char *fake_getenv(const char *name)
{
	if (!strcmp(name, "APP"))
		return "app:application";
	return strcmp(name, "FORWARDED_ALLOW_IPS") ? NULL : allow;
}

static struct config cfg;

static void trust(const char *list)
{
	char err[512];
	allow = list;
	if (config_load_from(&cfg, fake_getenv, "/nonexistent", err, sizeof err) < 0)
		unit_fail(__FILE__, __LINE__, "FORWARDED_ALLOW_IPS=%s: %s", list ? list : "(default)", err);
}

static struct {
	char buf[16384];
	struct http_header headers[32];
	struct http_request req;
	struct sockaddr_storage peer;
	struct proxy_view view;
} t;

/* "Name: value" lines into the buffer and the header table. */
static void build(const char *const *lines)
{
	size_t len = 0;
	memset(&t.req, 0, sizeof t.req);
	t.req.headers = t.headers;
	t.req.host = -1;
	for (; *lines; lines++) {
		const char *colon = strchr(*lines, ':');
		size_t n = strlen(*lines);
		if (!colon || len + n > sizeof t.buf || t.req.nheaders == 32)
			abort(); /* a broken test */
		memcpy(t.buf + len, *lines, n);
		uint32_t name = (uint32_t)len, value = (uint32_t)(len + (size_t)(colon - *lines) + 1);
		while (value < len + n && t.buf[value] == ' ')
			value++;
		t.headers[t.req.nheaders++] = (struct http_header){
			{name, (uint32_t)(colon - *lines)}, {value, (uint32_t)(len + n - value)}};
		len += n;
	}
}

/* A peer from its text; anything that is not an IP is a unix-socket peer. */
static const struct sockaddr *peer(const char *text)
{
	memset(&t.peer, 0, sizeof t.peer);
	struct sockaddr_in *v4 = (struct sockaddr_in *)&t.peer;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&t.peer;
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	else
		t.peer.ss_family = AF_UNIX;
	return (const struct sockaddr *)&t.peer;
}

static void apply(const char *from, const char *const *lines)
{
	build(lines);
	memset(&t.view, 0x5a, sizeof t.view); /* nothing may be left unset */
	proxy_apply(&cfg, peer(from), from, t.buf, &t.req, &t.view);
}

/* proxy_apply() for a request from peer with these header lines. */
#define APPLY(from, ...) apply(from, (const char *const[]){__VA_ARGS__, NULL})
#define REMOTE() (t.view.remote)
#define HTTPS() (t.view.https)

static const char *prefix(void)
{
	static char s[256];
	snprintf(s, sizeof s, "%.*s", (int)t.view.prefix.len, t.buf + t.view.prefix.off);
	return s;
}

/* The address REMOTE_ADDR gets for one X-Forwarded-For value. */
static const char *xff(const char *value)
{
	char line[8192];
	snprintf(line, sizeof line, "X-Forwarded-For: %s", value);
	APPLY("127.0.0.1", line);
	return REMOTE();
}

/* A header value and what it must give: REMOTE_ADDR, or the scheme. */
struct walk {
	const char *value, *want;
};

static void walks(const char *name, bool scheme, const struct walk *w, size_t n, int lineno)
{
	for (size_t i = 0; i < n; i++) {
		char line[8192];
		snprintf(line, sizeof line, "%s: %s", name, w[i].value);
		APPLY("127.0.0.1", line);
		const char *got = scheme ? (HTTPS() ? "https" : "http") : REMOTE();
		if (strcmp(got, w[i].want))
			unit_fail(__FILE__, lineno, "%s: %s gave \"%s\", want \"%s\"", name, w[i].value, got,
				  w[i].want);
	}
}

#define WALK_TABLE(...) (const struct walk[]){__VA_ARGS__}, sizeof (const struct walk[]){__VA_ARGS__} / sizeof (struct walk)
/* From 127.0.0.1, each {value, remote} of a header. */
#define WALKS(name, ...) walks(name, false, WALK_TABLE(__VA_ARGS__), __LINE__)
/* From 127.0.0.1, each {value, "https" or "http"} of a header. */
#define SCHEMES(name, ...) walks(name, true, WALK_TABLE(__VA_ARGS__), __LINE__)

/* A peer, the X-Forwarded-For it sends and the REMOTE_ADDR they give. */
struct hop {
	const char *peer, *xff, *remote;
};

static void peers(const struct hop *h, size_t n, int lineno)
{
	for (size_t i = 0; i < n; i++) {
		char line[512];
		snprintf(line, sizeof line, "X-Forwarded-For: %s", h[i].xff);
		APPLY(h[i].peer, line);
		if (strcmp(REMOTE(), h[i].remote))
			unit_fail(__FILE__, lineno, "from %s, X-Forwarded-For: %s gave \"%s\", want \"%s\"", h[i].peer,
				  h[i].xff, REMOTE(), h[i].remote);
	}
}

#define PEERS(...) peers((const struct hop[]){__VA_ARGS__}, \
			 sizeof (const struct hop[]){__VA_ARGS__} / sizeof (struct hop), __LINE__)

/* ---------- who is trusted ---------- */

TEST(untrusted_peer_changes_nothing)
{
	trust("10.0.0.1");
	APPLY("127.0.0.1", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Proto: https", "X-Forwarded-Ssl: on",
	      "X-Forwarded-Protocol: https", "X-Forwarded-Prefix: /evil", "Script-Name: /evil2");
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
	CHECK(!HTTPS());
	CHECK_EQ_INT(t.view.prefix.len, 0);
	APPLY("::1", "Forwarded: for=1.2.3.4;proto=https");
	CHECK_EQ_STR(REMOTE(), "::1");
	CHECK(!HTTPS());
}

TEST(no_headers_from_a_trusted_peer)
{
	trust(NULL);
	APPLY("127.0.0.1", "Host: example.com", "User-Agent: x");
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
	CHECK(!HTTPS());
	CHECK_EQ_INT(t.view.prefix.len, 0);
}

TEST(default_list_is_loopback_v4_and_v6)
{
	trust(NULL);
	PEERS({"127.0.0.1", "1.2.3.4", "1.2.3.4"},
	      {"::1", "1.2.3.4", "1.2.3.4"},
	      {"::ffff:127.0.0.1", "1.2.3.4", "1.2.3.4"}, /* a v4 peer on a v6 socket */
	      {"127.0.0.2", "1.2.3.4", "127.0.0.2"},
	      {"::2", "1.2.3.4", "::2"});
}

TEST(cidr_lists_for_the_peer_and_each_hop)
{
	trust("10.0.0.0/8,172.16.0.0/12,2001:db8::/32");
	PEERS({"10.255.255.255", "1.2.3.4", "1.2.3.4"},
	      {"11.0.0.0", "1.2.3.4", "11.0.0.0"},
	      {"172.31.255.255", "1.2.3.4", "1.2.3.4"},
	      {"172.32.0.0", "1.2.3.4", "172.32.0.0"},
	      {"2001:db8:ffff::1", "1.2.3.4", "1.2.3.4"},
	      {"2001:db9::1", "1.2.3.4", "2001:db9::1"},
	      /* the hops are judged by the same list: trusted ones are passed over */
	      {"127.0.0.1", "1.2.3.4, 172.20.0.1, 2001:db8::5, 10.9.9.9", "127.0.0.1"}, /* peer not listed */
	      {"10.0.0.1", "1.2.3.4, 172.20.0.1, 2001:db8::5, 10.9.9.9", "1.2.3.4"},
	      {"10.0.0.1", "1.2.3.4, 172.32.0.1, 2001:db8::5", "172.32.0.1"},
	      {"10.0.0.1", "1.2.3.4, 2001:db9::5, 10.9.9.9", "2001:db9::5"});
}

TEST(star_trusts_every_peer_and_hop)
{
	trust("*");
	PEERS({"203.0.113.9", "1.2.3.4, 5.6.7.8", "1.2.3.4"},
	      {"2001:db8::9", "2001:db8::1, 5.6.7.8", "2001:db8::1"});
}

TEST(unix_socket_peer_is_trusted)
{
	trust("10.0.0.1");
	APPLY("", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-Proto: https");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
	CHECK(HTTPS());
}

/* ---------- X-Forwarded-For ---------- */

TEST(xff_client_is_the_nearest_untrusted_hop)
{
	trust("127.0.0.1,10.0.0.0/8");
	WALKS("X-Forwarded-For",
	      {"1.2.3.4", "1.2.3.4"},
	      {"1.2.3.4, 10.1.1.1", "1.2.3.4"},
	      {"1.2.3.4,10.1.1.1,10.2.2.2", "1.2.3.4"},
	      {"1.2.3.4, 5.6.7.8", "5.6.7.8"},
	      /* what the client prepended is never reached */
	      {"9.9.9.9, 1.2.3.4, 10.1.1.1", "1.2.3.4"},
	      {"10.3.3.3, 1.2.3.4, 10.1.1.1", "1.2.3.4"},
	      /* every hop trusted: the first one */
	      {"10.3.3.3, 10.1.1.1", "10.3.3.3"},
	      {"127.0.0.1", "127.0.0.1"});
}

TEST(xff_address_forms)
{
	trust(NULL);
	WALKS("X-Forwarded-For",
	      {"2001:db8::7", "2001:db8::7"},
	      {"[2001:db8::7]:443", "2001:db8::7"},
	      {"[2001:db8::7]", "2001:db8::7"},
	      {"1.2.3.4:5678", "1.2.3.4"},
	      {"  1.2.3.4  ", "1.2.3.4"},
	      {"\"1.2.3.4\"", "1.2.3.4"},
	      /* the longest text there is */
	      {"0000:0000:0000:0000:0000:ffff:255.255.255.255", "0000:0000:0000:0000:0000:ffff:255.255.255.255"},
	      /* a v4 client as a dual-stack proxy writes it (nginx on [::]) */
	      {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
	      {"[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4"});
	APPLY("127.0.0.1", "x-FORWARDED-for: 1.2.3.4"); /* names are case-insensitive */
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
}

TEST(xff_v4_mapped_hops_are_judged_as_v4)
{
	trust("127.0.0.1,10.0.0.0/8");
	WALKS("X-Forwarded-For", {"1.2.3.4, ::ffff:10.1.1.1", "1.2.3.4"},
	      {"1.2.3.4, ::ffff:11.1.1.1", "::ffff:11.1.1.1"});
}

TEST(xff_unknown_hop_stops_the_walk)
{
	trust("127.0.0.1,10.0.0.0/8");
	/* the last hop that could be read stands */
	WALKS("X-Forwarded-For",
	      {"1.2.3.4, unknown, 10.0.0.2", "10.0.0.2"},
	      {"1.2.3.4, _hidden", "127.0.0.1"},
	      {"unknown", "127.0.0.1"},
	      {"1.2.3.4, 10.0.0.2, ", "127.0.0.1"},
	      {"1.2.3.4,,10.0.0.2", "10.0.0.2"},
	      {"1.2.3.4.5", "127.0.0.1"},
	      {"1.2.3", "127.0.0.1"},
	      {"256.1.1.1", "127.0.0.1"},
	      {"2001:db8::1::2", "127.0.0.1"},
	      {"localhost", "127.0.0.1"},
	      {"fe80::1%eth0", "127.0.0.1"});
}

/* A proxy that adds its own line (HAProxy's `option forwardfor`) leaves the
 * client's line first: the lines are one list, read from the last. */
TEST(xff_several_lines_are_one_list)
{
	trust("127.0.0.1,10.0.0.0/8");
	APPLY("127.0.0.1", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 1.2.3.4");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
	APPLY("127.0.0.1", "X-Forwarded-For: 6.6.6.6", "Host: x", "X-Forwarded-For: 1.2.3.4, 10.1.1.1");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
	/* every hop of the last line trusted: the walk goes on into the one before */
	APPLY("127.0.0.1", "X-Forwarded-For: 1.2.3.4, 10.2.2.2", "X-Forwarded-For: 10.1.1.1");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
	APPLY("127.0.0.1", "X-Forwarded-For: 1.2.3.4", "X-Forwarded-For: junk, 10.1.1.1");
	CHECK_EQ_STR(REMOTE(), "10.1.1.1");
	APPLY("127.0.0.1", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For:"); /* an empty line: unknown */
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
}

TEST(xff_malformed_values)
{
	trust(NULL);
	const char *junk[] = {",", ",,,", " , ", "\"", "\"\"", "[", "]", "[]", "[::1", "::1]", ":", "::::::",
			      "1.2.3.4:", "[1.2.3.4]", "1.2.3.4:80:90", ".", ":.", "[:.]:", "1.2.3.4]"};
	for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
		const char *r = xff(junk[i]);
		if (strcmp(r, "127.0.0.1") && strcmp(r, "1.2.3.4") && strcmp(r, "::1"))
			unit_fail(__FILE__, __LINE__, "X-Forwarded-For: %s gave \"%s\"", junk[i], r);
	}
	char big[6000];
	memset(big, '1', sizeof big - 1);
	big[sizeof big - 1] = 0;
	CHECK_EQ_STR(xff(big), "127.0.0.1");
	memset(big, ':', sizeof big - 1);
	CHECK_EQ_STR(xff(big), "127.0.0.1");
	memset(big, ',', sizeof big - 1);
	CHECK_EQ_STR(xff(big), "127.0.0.1");
	APPLY("127.0.0.1", "X-Forwarded-For:");
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
}

/* ---------- the scheme ---------- */

static bool scheme(const char *line1, const char *line2)
{
	APPLY("127.0.0.1", line1, line2 ? line2 : "X-Other: 1");
	return HTTPS();
}

TEST(x_forwarded_proto_ssl_and_protocol)
{
	trust(NULL);
	SCHEMES("X-Forwarded-Proto", {"https", "https"}, {"HTTPS", "https"}, {"https ", "https"},
		{"http", "http"}, {"httpss", "http"}, {"http s", "http"}, {"wss", "http"}, {"", "http"},
		/* a list: the nearest proxy's word, the last */
		{"http, https", "https"}, {"https, http", "http"});
	CHECK(scheme("X-Forwarded-Proto: http", "X-Forwarded-Proto: https"));
	SCHEMES("X-Forwarded-Protocol", {"https", "https"}, {"http", "http"});
	SCHEMES("X-Forwarded-Ssl", {"on", "https"}, {"ON", "https"}, {"off", "http"}, {"1", "http"});
	/* X-Forwarded-Proto first, then -Protocol, then -Ssl */
	CHECK(!scheme("X-Forwarded-Proto: http", "X-Forwarded-Ssl: on"));
	CHECK(!scheme("X-Forwarded-Ssl: on", "X-Forwarded-Proto: http"));
	CHECK(!scheme("X-Forwarded-Protocol: http", "X-Forwarded-Ssl: on"));
	CHECK(scheme("X-Forwarded-Proto: https", "X-Forwarded-Ssl: off"));
}

/* ---------- RFC 7239 Forwarded ---------- */

TEST(forwarded_for_and_proto)
{
	trust("127.0.0.1,10.0.0.0/8");
	WALKS("Forwarded",
	      {"for=1.2.3.4;proto=https", "1.2.3.4"},
	      {"FOR=1.2.3.4;PROTO=HTTPS", "1.2.3.4"},
	      {"proto=\"https\";for=1.2.3.4", "1.2.3.4"},
	      {"by=10.0.0.9;for=1.2.3.4;host=example.com", "1.2.3.4"},
	      {"for=1.2.3.4; proto=https", "1.2.3.4"},
	      /* a key must be whole */
	      {"xfor=1.2.3.4", "127.0.0.1"},
	      {"fore=1.2.3.4", "127.0.0.1"},
	      {"for =1.2.3.4", "127.0.0.1"},
	      {"for:1.2.3.4", "127.0.0.1"},
	      {"proto=https", "127.0.0.1"});
	SCHEMES("Forwarded",
		{"for=1.2.3.4;proto=https", "https"},
		{"for=1.2.3.4;proto=http", "http"},
		{"for=1.2.3.4", "http"},
		{"FOR=1.2.3.4;PROTO=HTTPS", "https"},
		{"proto=\"https\";for=1.2.3.4", "https"},
		{"for=1.2.3.4; proto=https", "https"},
		{"for=1.2.3.4;xproto=https", "http"},
		{"for=1.2.3.4;proto:https", "http"},
		{"proto=https", "https"}); /* no for=: the peer, but the scheme holds */
}

TEST(forwarded_address_forms)
{
	trust(NULL);
	WALKS("Forwarded",
	      {"for=\"[2001:db8::1]:4711\"", "2001:db8::1"},
	      {"for=\"[2001:db8::1]\"", "2001:db8::1"},
	      {"For=\"1.2.3.4:8080\"", "1.2.3.4"},
	      {"for=\"1.2.3.4\"", "1.2.3.4"},
	      {"for=1.2.3.4:8080", "1.2.3.4"},
	      {"for=\"[2001:db8::1]:_port\"", "2001:db8::1"});
}

TEST(forwarded_obfuscated_and_unknown)
{
	trust("127.0.0.1,10.0.0.0/8");
	WALKS("Forwarded",
	      {"for=unknown", "127.0.0.1"},
	      {"for=_hidden", "127.0.0.1"},
	      {"for=\"_gazonk\"", "127.0.0.1"},
	      {"for=_hidden, for=10.1.1.1", "10.1.1.1"},
	      {"for=1.2.3.4, for=unknown, for=10.1.1.1", "10.1.1.1"},
	      {"for=", "127.0.0.1"},
	      {"for=\"\"", "127.0.0.1"},
	      {"for=\"[]\"", "127.0.0.1"},
	      {"for=\"[2001:db8::1\"", "127.0.0.1"});
}

TEST(forwarded_elements_are_walked_from_the_right)
{
	trust("127.0.0.1,10.0.0.0/8");
	WALKS("Forwarded",
	      {"for=1.2.3.4, for=10.1.1.1;proto=https", "1.2.3.4"},
	      {"for=1.2.3.4, for=5.6.7.8", "5.6.7.8"},
	      {"for=9.9.9.9, for=1.2.3.4, for=10.1.1.1", "1.2.3.4"},
	      {"for=10.3.3.3,for=10.1.1.1", "10.3.3.3"},
	      {"for=\"[2001:db8::1]:4711\";proto=https, for=10.1.1.1;proto=http", "2001:db8::1"});
	/* the scheme is the nearest proxy's, the last element's */
	SCHEMES("Forwarded",
		{"for=1.2.3.4, for=10.1.1.1;proto=https", "https"},
		{"for=1.2.3.4;proto=https, for=10.1.1.1", "http"},
		{"for=\"[2001:db8::1]:4711\";proto=https, for=10.1.1.1;proto=http", "http"});
	APPLY("127.0.0.1", "Forwarded: for=6.6.6.6;proto=http", "Forwarded: for=1.2.3.4;proto=https");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
	CHECK(HTTPS());
	APPLY("127.0.0.1", "Forwarded: for=1.2.3.4", "Forwarded: for=10.1.1.1");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4");
}

/* Any X-Forwarded-* header is read instead of Forwarded, never merged with
 * it: a proxy that sets X-Forwarded-For and passes a client's Forwarded on
 * would otherwise let the client choose. */
TEST(x_forwarded_wins_over_forwarded)
{
	trust(NULL);
	APPLY("127.0.0.1", "X-Forwarded-For: 9.9.9.9", "Forwarded: for=1.2.3.4;proto=https");
	CHECK_EQ_STR(REMOTE(), "9.9.9.9");
	CHECK(!HTTPS());
	APPLY("127.0.0.1", "Forwarded: for=1.2.3.4;proto=https", "X-Forwarded-Proto: http");
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
	CHECK(!HTTPS());
	APPLY("127.0.0.1", "Forwarded: for=1.2.3.4;proto=http", "X-Forwarded-Ssl: on");
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
	CHECK(HTTPS());
	APPLY("127.0.0.1", "Forwarded: for=1.2.3.4;proto=https", "X-Forwarded-For: unknown");
	CHECK_EQ_STR(REMOTE(), "127.0.0.1");
	CHECK(!HTTPS());
	APPLY("127.0.0.1", "Forwarded: for=1.2.3.4;proto=https", "X-Forwarded-Prefix: /p");
	CHECK_EQ_STR(REMOTE(), "1.2.3.4"); /* the prefix is not of the family */
	CHECK(HTTPS());
}

/* ---------- the prefix (SCRIPT_NAME) ---------- */

TEST(prefix_from_x_forwarded_prefix_or_script_name)
{
	trust(NULL);
	APPLY("127.0.0.1", "X-Forwarded-Prefix: /app");
	CHECK_EQ_STR(prefix(), "/app");
	APPLY("127.0.0.1", "Script-Name: /x/y");
	CHECK_EQ_STR(prefix(), "/x/y");
	APPLY("127.0.0.1", "Script-Name: /b", "X-Forwarded-Prefix: /a");
	CHECK_EQ_STR(prefix(), "/a");
	APPLY("127.0.0.1", "X-Forwarded-Prefix: /evil", "X-Forwarded-Prefix: /a"); /* the nearest proxy's */
	CHECK_EQ_STR(prefix(), "/a");
	APPLY("127.0.0.1", "X-Forwarded-Prefix: app");
	CHECK_EQ_INT(t.view.prefix.len, 0);
	APPLY("127.0.0.1", "X-Forwarded-Prefix:");
	CHECK_EQ_INT(t.view.prefix.len, 0);
	APPLY("127.0.0.1", "X-Forwarded-Prefix: app", "Script-Name: /b");
	CHECK_EQ_INT(t.view.prefix.len, 0);
	/* the slice points into the request's own buffer */
	APPLY("127.0.0.1", "Host: x", "X-Forwarded-Prefix: /app");
	CHECK_EQ_INT(t.view.prefix.off, (int)(strstr(t.buf, "/app") - t.buf));
	trust("10.0.0.1");
	APPLY("127.0.0.1", "X-Forwarded-Prefix: /app");
	CHECK_EQ_INT(t.view.prefix.len, 0);
}

UNIT_MAIN()
