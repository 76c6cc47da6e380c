/* config_load_from() with a table for getenv and a cgroup fixture root, and
 * config_forwarded_allowed(). */
#include "config.h"
#include "unit.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/un.h>

/* The fake environment: "NAME=value" strings, NULL-terminated. */
static const char *const *env;

static const char *fake_getenv(const char *name)
{
	size_t n = strlen(name);
	for (const char *const *e = env; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static struct config cfg;
static char err[512];

static int load_root(const char *fixture, const char *const *vars)
{
	char root[PATH_MAX];
	if (snprintf(root, sizeof root, "%s/%s", unit_fixtures(), fixture) >= (int)sizeof root)
		unit_fail(__FILE__, __LINE__, "fixture path too long");
	env = vars;
	memset(err, 0, sizeof err);
	return config_load_from(&cfg, fake_getenv, root, err, sizeof err);
}

/* Loads with the v2-quota fixture (2 CPUs): the default WORKERS is 5. */
#define LOAD(...) load_root("v2-quota", (const char *const[]){__VA_ARGS__, NULL})
#define LOAD_ROOT(fixture, ...) load_root(fixture, (const char *const[]){__VA_ARGS__, NULL})

/* NAME=value must fail with an error line naming both. */
static void expect_fail(const char *name, const char *value, const char *file, int line)
{
	char var[1200];
	snprintf(var, sizeof var, "%s=%s", name, value);
	const char *vars[] = {"APP=app:application", var, NULL};
	if (!strcmp(name, "APP"))
		vars[0] = var, vars[1] = NULL;
	int r = load_root("v2-quota", vars);
	if (r != -1) {
		unit_fail(file, line, "%s=\"%s\": returned %d, want -1", name, value, r);
		return;
	}
	char quoted[1200];
	snprintf(quoted, sizeof quoted, "\"%s\"", value);
	if (!strstr(err, name) || !strstr(err, quoted))
		unit_fail(file, line, "%s=\"%s\": error line \"%s\" lacks the name or the value",
			  name, value, err);
	if (strchr(err, '\n'))
		unit_fail(file, line, "error is not one line: \"%s\"", err);
}
#define EXPECT_FAIL(name, value) expect_fail(name, value, __FILE__, __LINE__)

/* NAME=value must load. */
static void expect_ok(const char *name, const char *value, const char *file, int line)
{
	char var[1200];
	snprintf(var, sizeof var, "%s=%s", name, value);
	const char *vars[] = {"APP=app:application", var, NULL};
	if (!strcmp(name, "APP"))
		vars[0] = var, vars[1] = NULL;
	int r = load_root("v2-quota", vars);
	if (r != 0)
		unit_fail(file, line, "%s=\"%s\": returned %d (%s), want 0", name, value, r, err);
}
#define EXPECT_OK(name, value) expect_ok(name, value, __FILE__, __LINE__)

static const struct sockaddr_in *in4(const struct config_addr *a)
{
	return (const struct sockaddr_in *)&a->sa;
}

static const struct sockaddr_in6 *in6(const struct config_addr *a)
{
	return (const struct sockaddr_in6 *)&a->sa;
}

static bool is_v4(const struct config_addr *a, const char *ip, int port)
{
	struct in_addr want;
	inet_pton(AF_INET, ip, &want);
	return a->sa.ss_family == AF_INET && a->len == sizeof(struct sockaddr_in) &&
	       in4(a)->sin_addr.s_addr == want.s_addr && ntohs(in4(a)->sin_port) == port;
}

static bool is_v6(const struct config_addr *a, const char *ip, int port)
{
	struct in6_addr want;
	inet_pton(AF_INET6, ip, &want);
	return a->sa.ss_family == AF_INET6 && a->len == sizeof(struct sockaddr_in6) &&
	       !memcmp(&in6(a)->sin6_addr, &want, sizeof want) && ntohs(in6(a)->sin6_port) == port;
}

static bool is_unix(const struct config_addr *a, const char *path)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
	return un->sun_family == AF_UNIX && !strcmp(un->sun_path, path) &&
	       a->len >= offsetof(struct sockaddr_un, sun_path) + strlen(path);
}

/* ---------- defaults ---------- */

TEST(defaults)
{
	CHECK_EQ_INT(LOAD("APP=hello:app"), 0);
	CHECK_EQ_STR(cfg.app, "hello:app");
	CHECK_EQ_INT(cfg.nbinds, 1);
	CHECK(is_v4(&cfg.binds[0], "0.0.0.0", 8080));
	CHECK_EQ_STR(cfg.binds[0].text, "0.0.0.0:8080");
	CHECK_EQ_INT(cfg.workers, 5); /* 2 * 2 + 1 from the v2-quota fixture */
	CHECK(strstr(cfg.workers_source, "cpu.max") != NULL);
	CHECK(strstr(cfg.workers_source, "150000 100000") != NULL);
	CHECK_EQ_INT(cfg.max_workers, 0);
	CHECK_EQ_INT(cfg.threads, 1);
	CHECK(cfg.timeout == 30 && cfg.graceful_timeout == 30);
	CHECK(cfg.keep_alive == 5 && cfg.shutdown_delay == 0);
	CHECK_EQ_INT(cfg.max_requests, 0);
	CHECK_EQ_INT(cfg.max_requests_jitter, 0);
	CHECK(!cfg.preload);
	CHECK(cfg.chdir == NULL);
	CHECK_EQ_STR(cfg.root_path, "");
	CHECK_EQ_INT(cfg.log_level, LOG_INFO);
	CHECK(!cfg.log_json);
	CHECK(cfg.access_log);
	CHECK_EQ_STR(cfg.access_log_format,
		     "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"");
	CHECK_EQ_INT(cfg.nforwarded, 2);
	CHECK_EQ_INT(cfg.forwarded_allow[0].family, AF_INET);
	CHECK_EQ_INT(cfg.forwarded_allow[0].bits, 32);
	CHECK_EQ_INT(cfg.forwarded_allow[1].family, AF_INET6);
	CHECK_EQ_INT(cfg.forwarded_allow[1].bits, 128);
	CHECK_EQ_INT(cfg.limit_request_line, 4094);
	CHECK_EQ_INT(cfg.limit_request_fields, 100);
	CHECK_EQ_INT(cfg.limit_request_field_size, 8190);
	CHECK(cfg.max_body_size == 100ull << 20);
	CHECK(cfg.health_path == NULL);
	CHECK(!cfg.admin_set);
	CHECK_EQ_INT(cfg.seccomp, SECCOMP_DEFAULT);
	if (geteuid() == 0) {
		CHECK(cfg.run_as_set);
		CHECK_EQ_INT(cfg.uid, 65532);
		CHECK_EQ_INT(cfg.gid, 65532);
	} else {
		CHECK(!cfg.run_as_set);
	}
}

TEST(load_resets_previous_values)
{
	CHECK_EQ_INT(LOAD("APP=a", "THREADS=7", "PRELOAD=yes", "HEALTH_PATH=/h"), 0);
	CHECK_EQ_INT(cfg.threads, 7);
	CHECK_EQ_INT(LOAD("APP=a"), 0);
	CHECK_EQ_INT(cfg.threads, 1);
	CHECK(!cfg.preload);
	CHECK(cfg.health_path == NULL);
}

/* ---------- APP ---------- */

TEST(app_required)
{
	CHECK_EQ_INT(LOAD("THREADS=2"), -1);
	CHECK(strstr(err, "APP") != NULL);
	CHECK(strstr(err, "not set") != NULL);
}

TEST(app_forms)
{
	EXPECT_OK("APP", "hello");
	EXPECT_OK("APP", "pkg.mod:app");
	EXPECT_OK("APP", "_private1.m2:create_app('x', 1)");
	EXPECT_FAIL("APP", "1mod");
	EXPECT_FAIL("APP", "a..b");
	EXPECT_FAIL("APP", ".a");
	EXPECT_FAIL("APP", "a.");
	EXPECT_FAIL("APP", "a:");
	EXPECT_FAIL("APP", ":app");
	EXPECT_FAIL("APP", "my-mod:app");
	EXPECT_FAIL("APP", "a.1b:app");
}

/* ---------- integers ---------- */

TEST(ints_in_range)
{
	CHECK_EQ_INT(LOAD("APP=a", "THREADS=1024", "MAX_REQUESTS=1000000000",
			  "MAX_REQUESTS_JITTER=17", "LIMIT_REQUEST_LINE=16",
			  "LIMIT_REQUEST_FIELDS=32768", "LIMIT_REQUEST_FIELD_SIZE=1048576"),
		     0);
	CHECK_EQ_INT(cfg.threads, 1024);
	CHECK_EQ_INT(cfg.max_requests, 1000000000);
	CHECK_EQ_INT(cfg.max_requests_jitter, 17);
	CHECK_EQ_INT(cfg.limit_request_line, 16);
	CHECK_EQ_INT(cfg.limit_request_fields, 32768);
	CHECK_EQ_INT(cfg.limit_request_field_size, 1048576);
	CHECK_EQ_INT(LOAD("APP=a", "THREADS=1", "WORKERS=1024", "MAX_WORKERS=1"), 0);
	CHECK_EQ_INT(cfg.threads, 1);
	CHECK_EQ_INT(cfg.workers, 1024);
	CHECK_EQ_INT(cfg.max_workers, 1);
	CHECK_EQ_INT(LOAD("APP=a", "THREADS=007"), 0);
	CHECK_EQ_INT(cfg.threads, 7);
}

TEST(ints_out_of_range_or_malformed)
{
	EXPECT_FAIL("THREADS", "0");
	EXPECT_FAIL("THREADS", "1025");
	EXPECT_FAIL("THREADS", "-1");
	EXPECT_FAIL("THREADS", "+2");
	EXPECT_FAIL("THREADS", " 2");
	EXPECT_FAIL("THREADS", "2 ");
	EXPECT_FAIL("THREADS", "2x");
	EXPECT_FAIL("THREADS", "0x10");
	EXPECT_FAIL("THREADS", "1.5");
	EXPECT_FAIL("THREADS", "99999999999999999999999");
	EXPECT_FAIL("WORKERS", "0");
	EXPECT_FAIL("WORKERS", "1025");
	EXPECT_FAIL("WEB_CONCURRENCY", "0");
	EXPECT_FAIL("MAX_WORKERS", "0");
	EXPECT_FAIL("MAX_REQUESTS", "1000000001");
	EXPECT_FAIL("MAX_REQUESTS_JITTER", "-5");
	EXPECT_FAIL("LIMIT_REQUEST_LINE", "15");
	EXPECT_FAIL("LIMIT_REQUEST_LINE", "1048577");
	EXPECT_FAIL("LIMIT_REQUEST_FIELDS", "0");
	EXPECT_FAIL("LIMIT_REQUEST_FIELDS", "32769");
	EXPECT_FAIL("LIMIT_REQUEST_FIELD_SIZE", "15");
	EXPECT_FAIL("PORT", "0");
	EXPECT_FAIL("PORT", "65536");
	EXPECT_FAIL("PORT", "http");
}

TEST(int_error_names_the_range)
{
	CHECK_EQ_INT(LOAD("APP=a", "THREADS=0"), -1);
	CHECK(strstr(err, "THREADS=\"0\"") != NULL);
	CHECK(strstr(err, "1 to 1024") != NULL);
}

/* ---------- seconds ---------- */

TEST(seconds_with_fractions)
{
	CHECK_EQ_INT(LOAD("APP=a", "TIMEOUT=0.5", "GRACEFUL_TIMEOUT=2.25", "KEEP_ALIVE=0",
			  "SHUTDOWN_DELAY=10000000"),
		     0);
	CHECK(cfg.timeout == 0.5);
	CHECK(cfg.graceful_timeout == 2.25);
	CHECK(cfg.keep_alive == 0);
	CHECK(cfg.shutdown_delay == 1e7);
	CHECK_EQ_INT(LOAD("APP=a", "TIMEOUT=120", "KEEP_ALIVE=.25"), 0);
	CHECK(cfg.timeout == 120);
	CHECK(cfg.keep_alive == 0.25);
}

TEST(seconds_invalid)
{
	EXPECT_FAIL("TIMEOUT", "-1");
	EXPECT_FAIL("TIMEOUT", "-0.5");
	EXPECT_FAIL("TIMEOUT", "abc");
	EXPECT_FAIL("TIMEOUT", "5s");
	EXPECT_FAIL("TIMEOUT", "1.5.2");
	EXPECT_FAIL("TIMEOUT", "inf");
	EXPECT_FAIL("TIMEOUT", "nan");
	EXPECT_FAIL("TIMEOUT", "1e999");
	EXPECT_FAIL("GRACEFUL_TIMEOUT", "10000001");
	EXPECT_FAIL("KEEP_ALIVE", "five");
	EXPECT_FAIL("SHUTDOWN_DELAY", "1,5");
}

/* ---------- sizes ---------- */

TEST(sizes_with_suffixes)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
		{"0", 0},
		{"1024", 1024},
		{"1k", 1024},
		{"1K", 1024},
		{"2m", 2u << 20},
		{"2M", 2u << 20},
		{"1g", 1u << 30},
		{"3G", 3ull << 30},
		{"17179869183g", 17179869183ull << 30},
		{"18446744073709551615", UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char var[64];
		snprintf(var, sizeof var, "MAX_BODY_SIZE=%s", cases[i].text);
		CHECK_EQ_INT(LOAD("APP=a", var), 0);
		if (cfg.max_body_size != cases[i].bytes)
			unit_fail(__FILE__, __LINE__, "MAX_BODY_SIZE=%s gave %llu", cases[i].text,
				  (unsigned long long)cfg.max_body_size);
	}
}

TEST(sizes_invalid)
{
	EXPECT_FAIL("MAX_BODY_SIZE", "1t");
	EXPECT_FAIL("MAX_BODY_SIZE", "k");
	EXPECT_FAIL("MAX_BODY_SIZE", "-1");
	EXPECT_FAIL("MAX_BODY_SIZE", "+1");
	EXPECT_FAIL("MAX_BODY_SIZE", " 1");
	EXPECT_FAIL("MAX_BODY_SIZE", "1kb");
	EXPECT_FAIL("MAX_BODY_SIZE", "1.5m");
	EXPECT_FAIL("MAX_BODY_SIZE", "10 m");
	EXPECT_FAIL("MAX_BODY_SIZE", "17179869184g");
	EXPECT_FAIL("MAX_BODY_SIZE", "18446744073709551616");
}

/* ---------- booleans and enums ---------- */

TEST(booleans)
{
	static const char *const yes[] = {"1", "true", "yes", "on", "TRUE", "Yes", "ON"};
	static const char *const no[] = {"0", "false", "no", "off", "FALSE", "No", "Off"};
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		char p[64], a[64];
		snprintf(p, sizeof p, "PRELOAD=%s", yes[i]);
		snprintf(a, sizeof a, "ACCESS_LOG=%s", no[i]);
		CHECK_EQ_INT(LOAD("APP=a", p, a), 0);
		CHECK(cfg.preload);
		CHECK(!cfg.access_log);
		snprintf(p, sizeof p, "PRELOAD=%s", no[i]);
		snprintf(a, sizeof a, "ACCESS_LOG=%s", yes[i]);
		CHECK_EQ_INT(LOAD("APP=a", p, a), 0);
		CHECK(!cfg.preload);
		CHECK(cfg.access_log);
	}
	EXPECT_FAIL("PRELOAD", "2");
	EXPECT_FAIL("PRELOAD", "y");
	EXPECT_FAIL("PRELOAD", "enabled");
	EXPECT_FAIL("ACCESS_LOG", "truee");
	EXPECT_FAIL("ACCESS_LOG", " true");
}

TEST(max_rss_and_reload)
{
	CHECK_EQ_INT(LOAD("APP=a"), 0);
	CHECK(cfg.max_rss == 0 && !cfg.reload);
	CHECK_EQ_INT(LOAD("APP=a", "MAX_RSS=300m", "RELOAD=on"), 0);
	CHECK(cfg.max_rss == 300ull << 20 && cfg.reload);
	EXPECT_FAIL("MAX_RSS", "1.5g");
	EXPECT_FAIL("RELOAD", "sometimes");
}

TEST(reload_with_preload_is_refused)
{
	CHECK_EQ_INT(LOAD("APP=a", "RELOAD=true", "PRELOAD=yes"), -1);
	CHECK(strstr(err, "RELOAD=\"true\"") && strstr(err, "PRELOAD=\"yes\"") && !strchr(err, '\n'));
	CHECK_EQ_INT(LOAD("APP=a", "RELOAD=true", "PRELOAD=no"), 0);
}

TEST(log_level)
{
	static const struct {
		const char *text;
		enum log_level level;
	} cases[] = {{"debug", LOG_DEBUG},     {"info", LOG_INFO},   {"warning", LOG_WARNING},
		     {"error", LOG_ERROR},     {"critical", LOG_CRITICAL}, {"WARNING", LOG_WARNING},
		     {"Debug", LOG_DEBUG}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char var[64];
		snprintf(var, sizeof var, "LOG_LEVEL=%s", cases[i].text);
		CHECK_EQ_INT(LOAD("APP=a", var), 0);
		CHECK_EQ_INT(cfg.log_level, cases[i].level);
	}
	EXPECT_FAIL("LOG_LEVEL", "warn");
	EXPECT_FAIL("LOG_LEVEL", "verbose");
	EXPECT_FAIL("LOG_LEVEL", "3");
}

TEST(log_format)
{
	CHECK_EQ_INT(LOAD("APP=a", "LOG_FORMAT=json"), 0);
	CHECK(cfg.log_json);
	CHECK_EQ_INT(LOAD("APP=a", "LOG_FORMAT=JSON"), 0);
	CHECK(cfg.log_json);
	CHECK_EQ_INT(LOAD("APP=a", "LOG_FORMAT=text"), 0);
	CHECK(!cfg.log_json);
	EXPECT_FAIL("LOG_FORMAT", "xml");
	EXPECT_FAIL("LOG_FORMAT", "jsonl");
}

TEST(seccomp_modes)
{
	CHECK_EQ_INT(LOAD("APP=a", "SECCOMP=strict"), 0);
	CHECK_EQ_INT(cfg.seccomp, SECCOMP_STRICT);
	CHECK_EQ_INT(LOAD("APP=a", "SECCOMP=off"), 0);
	CHECK_EQ_INT(cfg.seccomp, SECCOMP_OFF);
	CHECK_EQ_INT(LOAD("APP=a", "SECCOMP=Default"), 0);
	CHECK_EQ_INT(cfg.seccomp, SECCOMP_DEFAULT);
	EXPECT_FAIL("SECCOMP", "on");
	EXPECT_FAIL("SECCOMP", "none");
}

/* ---------- strings, paths, directories ---------- */

TEST(paths_and_dirs)
{
	CHECK_EQ_INT(LOAD("APP=a", "ROOT_PATH=/api/v1", "HEALTH_PATH=/healthz", "CHDIR=/",
			  "ACCESS_LOG_FORMAT=%(h)s"),
		     0);
	CHECK_EQ_STR(cfg.root_path, "/api/v1");
	CHECK_EQ_STR(cfg.health_path, "/healthz");
	CHECK_EQ_STR(cfg.chdir, "/");
	CHECK_EQ_STR(cfg.access_log_format, "%(h)s");
	EXPECT_OK("ROOT_PATH", "/");
	EXPECT_FAIL("ROOT_PATH", "api");
	EXPECT_FAIL("ROOT_PATH", "/api/");
	EXPECT_FAIL("ROOT_PATH", "/a b");
	EXPECT_FAIL("HEALTH_PATH", "/h?x=1");
	EXPECT_FAIL("HEALTH_PATH", "/h#x");
	EXPECT_FAIL("CHDIR", "/nonexistent/wsginit-test");
	EXPECT_FAIL("CHDIR", "/etc/passwd");
}

TEST(admin_bind)
{
	CHECK_EQ_INT(LOAD("APP=a", "ADMIN_BIND=127.0.0.1:9100"), 0);
	CHECK(cfg.admin_set);
	CHECK(is_v4(&cfg.admin_bind, "127.0.0.1", 9100));
	CHECK_EQ_INT(LOAD("APP=a", "ADMIN_BIND=[::1]:9100"), 0);
	CHECK(is_v6(&cfg.admin_bind, "::1", 9100));
	EXPECT_FAIL("ADMIN_BIND", "9100");
	EXPECT_FAIL("ADMIN_BIND", "127.0.0.1:0");
}

/* ---------- BIND, HOST, PORT ---------- */

TEST(bind_list)
{
	CHECK_EQ_INT(LOAD("APP=a", "BIND=127.0.0.1:9000,[::1]:8080, unix:/run/app.sock"), 0);
	CHECK_EQ_INT(cfg.nbinds, 3);
	CHECK(is_v4(&cfg.binds[0], "127.0.0.1", 9000));
	CHECK_EQ_STR(cfg.binds[0].text, "127.0.0.1:9000");
	CHECK(is_v6(&cfg.binds[1], "::1", 8080));
	CHECK_EQ_STR(cfg.binds[1].text, "[::1]:8080");
	CHECK(is_unix(&cfg.binds[2], "/run/app.sock"));
	CHECK_EQ_STR(cfg.binds[2].text, "unix:/run/app.sock");
}

TEST(bind_overrides_host_port)
{
	CHECK_EQ_INT(LOAD("APP=a", "HOST=10.1.2.3", "PORT=1234", "BIND=[::]:80"), 0);
	CHECK_EQ_INT(cfg.nbinds, 1);
	CHECK(is_v6(&cfg.binds[0], "::", 80));
}

TEST(bind_sixteen_max)
{
	char bind[1024] = "BIND=";
	for (int i = 0; i < 16; i++)
		snprintf(bind + strlen(bind), sizeof bind - strlen(bind), "%s127.0.0.1:%d",
			 i ? "," : "", 8000 + i);
	CHECK_EQ_INT(LOAD("APP=a", bind), 0);
	CHECK_EQ_INT(cfg.nbinds, 16);
	CHECK(is_v4(&cfg.binds[15], "127.0.0.1", 8015));
	snprintf(bind + strlen(bind), sizeof bind - strlen(bind), ",127.0.0.1:9999");
	EXPECT_FAIL("BIND", bind + 5);
}

TEST(bind_invalid)
{
	EXPECT_FAIL("BIND", ",");
	EXPECT_FAIL("BIND", "127.0.0.1:80,");
	EXPECT_FAIL("BIND", ",127.0.0.1:80");
	EXPECT_FAIL("BIND", "127.0.0.1:80,,127.0.0.1:81");
	EXPECT_FAIL("BIND", "::1:8080");
	EXPECT_FAIL("BIND", "[::1]");
	EXPECT_FAIL("BIND", "[::1]8080");
	EXPECT_FAIL("BIND", "[]:8080");
	EXPECT_FAIL("BIND", "127.0.0.1");
	EXPECT_FAIL("BIND", "127.0.0.1:");
	EXPECT_FAIL("BIND", ":8080");
	EXPECT_FAIL("BIND", "127.0.0.1:0");
	EXPECT_FAIL("BIND", "127.0.0.1:65536");
	EXPECT_FAIL("BIND", "127.0.0.1:-1");
	EXPECT_FAIL("BIND", "127.0.0.1:80x");
	EXPECT_FAIL("BIND", "unix:relative.sock");
	EXPECT_FAIL("BIND", "unix:");
	char longpath[200] = "unix:/";
	memset(longpath + 6, 'p', 120);
	EXPECT_FAIL("BIND", longpath);
}

TEST(host_and_port)
{
	CHECK_EQ_INT(LOAD("APP=a", "HOST=127.0.0.1", "PORT=9000"), 0);
	CHECK_EQ_INT(cfg.nbinds, 1);
	CHECK(is_v4(&cfg.binds[0], "127.0.0.1", 9000));
	CHECK_EQ_STR(cfg.binds[0].text, "127.0.0.1:9000");
	CHECK_EQ_INT(LOAD("APP=a", "PORT=1"), 0);
	CHECK(is_v4(&cfg.binds[0], "0.0.0.0", 1));
	CHECK_EQ_INT(LOAD("APP=a", "HOST=10.0.0.1"), 0);
	CHECK(is_v4(&cfg.binds[0], "10.0.0.1", 8080));
}

TEST(ipv6_host)
{
	CHECK_EQ_INT(LOAD("APP=a", "HOST=::1", "PORT=65535"), 0);
	CHECK_EQ_INT(cfg.nbinds, 1);
	CHECK(is_v6(&cfg.binds[0], "::1", 65535));
	CHECK_EQ_STR(cfg.binds[0].text, "[::1]:65535");
	CHECK_EQ_INT(LOAD("APP=a", "HOST=::"), 0);
	CHECK(is_v6(&cfg.binds[0], "::", 8080));
}

TEST(bad_host_names_host)
{
	char host[200] = "HOST=";
	memset(host + 5, 'h', 150); /* longer than an address text can be */
	CHECK_EQ_INT(LOAD("APP=a", host), -1);
	CHECK(strstr(err, "HOST=\"hhhh") != NULL);
	EXPECT_FAIL("PORT", "99999");
}

/* ---------- FORWARDED_ALLOW_IPS ---------- */

TEST(forwarded_lists)
{
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=10.0.0.0/8, 192.168.1.1,2001:db8::/32,::1"), 0);
	CHECK_EQ_INT(cfg.nforwarded, 4);
	CHECK_EQ_INT(cfg.forwarded_allow[0].family, AF_INET);
	CHECK_EQ_INT(cfg.forwarded_allow[0].bits, 8);
	CHECK_EQ_INT(cfg.forwarded_allow[1].family, AF_INET);
	CHECK_EQ_INT(cfg.forwarded_allow[1].bits, 32);
	CHECK_EQ_INT(cfg.forwarded_allow[2].family, AF_INET6);
	CHECK_EQ_INT(cfg.forwarded_allow[2].bits, 32);
	CHECK_EQ_INT(cfg.forwarded_allow[3].bits, 128);
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=*"), 0);
	CHECK_EQ_INT(cfg.nforwarded, 1);
	CHECK_EQ_INT(cfg.forwarded_allow[0].bits, -1);
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=0.0.0.0/0,::/0"), 0);
	CHECK_EQ_INT(cfg.forwarded_allow[0].bits, 0);
	CHECK_EQ_INT(cfg.forwarded_allow[1].bits, 0);
}

TEST(forwarded_invalid)
{
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.0/33");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "::/129");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.0/");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.0/-1");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.0/8x");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "1.2.3");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "256.0.0.1");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "localhost");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.1,,10.0.0.2");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.1,");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "**");
}

/* A blank is not a separator: "a b" must not silently trust only "a". */
TEST(forwarded_blank_separated_is_invalid)
{
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.1 10.0.0.2");
	EXPECT_FAIL("FORWARDED_ALLOW_IPS", "10.0.0.0/8 junk");
}

static struct sockaddr_storage peer;

static const struct sockaddr *v4(const char *ip)
{
	struct sockaddr_in *s = (struct sockaddr_in *)&peer;
	memset(&peer, 0, sizeof peer);
	s->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &s->sin_addr) != 1)
		unit_fail(__FILE__, __LINE__, "bad test address %s", ip);
	return (const struct sockaddr *)&peer;
}

static const struct sockaddr *v6(const char *ip)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&peer;
	memset(&peer, 0, sizeof peer);
	s->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, ip, &s->sin6_addr) != 1)
		unit_fail(__FILE__, __LINE__, "bad test address %s", ip);
	return (const struct sockaddr *)&peer;
}

#define ALLOWED(sa) config_forwarded_allowed(&cfg, (sa))

TEST(forwarded_default_loopback)
{
	CHECK_EQ_INT(LOAD("APP=a"), 0);
	CHECK(ALLOWED(v4("127.0.0.1")));
	CHECK(!ALLOWED(v4("127.0.0.2")));
	CHECK(!ALLOWED(v4("10.0.0.1")));
	CHECK(ALLOWED(v6("::1")));
	CHECK(!ALLOWED(v6("::2")));
	CHECK(ALLOWED(v6("::ffff:127.0.0.1")));
	CHECK(!ALLOWED(v6("::ffff:127.0.0.2")));
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	CHECK(ALLOWED((const struct sockaddr *)&un));
}

TEST(forwarded_v4_cidr_edges)
{
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=10.0.0.0/8,192.168.1.2/31,172.16.0.128/25"), 0);
	CHECK(ALLOWED(v4("10.0.0.0")));
	CHECK(ALLOWED(v4("10.255.255.255")));
	CHECK(!ALLOWED(v4("9.255.255.255")));
	CHECK(!ALLOWED(v4("11.0.0.0")));
	CHECK(ALLOWED(v4("192.168.1.2")));
	CHECK(ALLOWED(v4("192.168.1.3")));
	CHECK(!ALLOWED(v4("192.168.1.1")));
	CHECK(!ALLOWED(v4("192.168.1.4")));
	CHECK(ALLOWED(v4("172.16.0.128")));
	CHECK(ALLOWED(v4("172.16.0.255")));
	CHECK(!ALLOWED(v4("172.16.0.127")));
	CHECK(!ALLOWED(v4("172.16.1.128")));
	CHECK(!ALLOWED(v6("::1")));
	CHECK(!ALLOWED(v6("a00::"))); /* same leading bytes, other family */
}

TEST(forwarded_v4_host_bits_in_network)
{
	/* 10.1.2.3/16 names the network 10.1.0.0/16 */
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=10.1.2.3/16"), 0);
	CHECK(ALLOWED(v4("10.1.255.1")));
	CHECK(!ALLOWED(v4("10.2.0.1")));
}

TEST(forwarded_v4_zero_and_exact)
{
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=0.0.0.0/0"), 0);
	CHECK(ALLOWED(v4("1.2.3.4")));
	CHECK(ALLOWED(v4("255.255.255.255")));
	CHECK(!ALLOWED(v6("2001:db8::1")));
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=203.0.113.7/32"), 0);
	CHECK(ALLOWED(v4("203.0.113.7")));
	CHECK(!ALLOWED(v4("203.0.113.6")));
	CHECK(!ALLOWED(v4("203.0.113.8")));
}

TEST(forwarded_v6_cidr_edges)
{
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=2001:db8::/32,fd00::/7,fe80::2/127,::/0"), 0);
	CHECK(ALLOWED(v6("2001:db8::1")));
	CHECK(ALLOWED(v6("::")));
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=2001:db8::/32,fc00::/7,fe80::2/127"), 0);
	CHECK(ALLOWED(v6("2001:db8::")));
	CHECK(ALLOWED(v6("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
	CHECK(!ALLOWED(v6("2001:db9::")));
	CHECK(!ALLOWED(v6("2001:db7:ffff::")));
	CHECK(ALLOWED(v6("fc00::1")));
	CHECK(ALLOWED(v6("fdff:ffff::1")));
	CHECK(!ALLOWED(v6("fe00::1")));
	CHECK(!ALLOWED(v6("fbff::1")));
	CHECK(ALLOWED(v6("fe80::2")));
	CHECK(ALLOWED(v6("fe80::3")));
	CHECK(!ALLOWED(v6("fe80::1")));
	CHECK(!ALLOWED(v6("fe80::4")));
	CHECK(!ALLOWED(v4("32.1.13.184"))); /* 0x20010db8 as v4 */
}

TEST(forwarded_v4_mapped_v6_peer)
{
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=10.0.0.0/8"), 0);
	CHECK(ALLOWED(v6("::ffff:10.1.2.3")));
	CHECK(ALLOWED(v6("::ffff:10.255.255.255")));
	CHECK(!ALLOWED(v6("::ffff:11.0.0.1")));
	CHECK(!ALLOWED(v6("::10.1.2.3"))); /* v4-compatible, not mapped */
}

TEST(forwarded_star_allows_all)
{
	CHECK_EQ_INT(LOAD("APP=a", "FORWARDED_ALLOW_IPS=*"), 0);
	CHECK(ALLOWED(v4("8.8.8.8")));
	CHECK(ALLOWED(v6("2001:db8::1")));
	CHECK(ALLOWED(v6("::ffff:1.2.3.4")));
}

/* ---------- RUN_AS ---------- */

TEST(run_as_numbers)
{
	CHECK_EQ_INT(LOAD("APP=a", "RUN_AS=12345:54321"), 0);
	CHECK(cfg.run_as_set);
	CHECK_EQ_INT(cfg.uid, 12345);
	CHECK_EQ_INT(cfg.gid, 54321);
	CHECK_EQ_INT(LOAD("APP=a", "RUN_AS=0:0"), 0);
	CHECK_EQ_INT(cfg.uid, 0);
	CHECK_EQ_INT(cfg.gid, 0);
}

TEST(run_as_number_without_group)
{
	/* A uid with no passwd entry: its group is the same number. */
	CHECK_EQ_INT(LOAD("APP=a", "RUN_AS=12345"), 0);
	CHECK(cfg.run_as_set);
	CHECK_EQ_INT(cfg.uid, 12345);
	CHECK_EQ_INT(cfg.gid, 12345);
	/* A uid with an entry: its primary group. */
	CHECK_EQ_INT(LOAD("APP=a", "RUN_AS=0"), 0);
	CHECK_EQ_INT(cfg.uid, 0);
	CHECK_EQ_INT(cfg.gid, 0);
}

TEST(run_as_names)
{
	CHECK_EQ_INT(LOAD("APP=a", "RUN_AS=root:root"), 0);
	CHECK_EQ_INT(cfg.uid, 0);
	CHECK_EQ_INT(cfg.gid, 0);
	CHECK_EQ_INT(LOAD("APP=a", "RUN_AS=root:12"), 0);
	CHECK_EQ_INT(cfg.gid, 12);
}

TEST(run_as_invalid)
{
	EXPECT_FAIL("RUN_AS", "no-such-user-wsginit");
	EXPECT_FAIL("RUN_AS", "12345:no-such-group-wsginit");
	EXPECT_FAIL("RUN_AS", ":100");
	EXPECT_FAIL("RUN_AS", "100:");
	EXPECT_FAIL("RUN_AS", "-1");
	EXPECT_FAIL("RUN_AS", "4294967296");
}

/* ---------- set but empty ---------- */

TEST(set_but_empty_is_an_error)
{
	static const char *const names[] = {
		"APP", "HOST", "PORT", "BIND", "WORKERS", "WEB_CONCURRENCY", "MAX_WORKERS",
		"THREADS", "TIMEOUT", "GRACEFUL_TIMEOUT", "KEEP_ALIVE", "MAX_REQUESTS",
		"MAX_REQUESTS_JITTER", "PRELOAD", "RUN_AS", "CHDIR", "ROOT_PATH", "LOG_LEVEL",
		"LOG_FORMAT", "ACCESS_LOG", "ACCESS_LOG_FORMAT", "FORWARDED_ALLOW_IPS",
		"LIMIT_REQUEST_LINE", "LIMIT_REQUEST_FIELDS", "LIMIT_REQUEST_FIELD_SIZE",
		"MAX_BODY_SIZE", "HEALTH_PATH", "ADMIN_BIND", "SHUTDOWN_DELAY", "SECCOMP",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		EXPECT_FAIL(names[i], "");
		if (!strstr(err, "empty"))
			unit_fail(__FILE__, __LINE__, "%s: error \"%s\" does not say empty", names[i], err);
	}
}

/* ---------- WORKERS ---------- */

TEST(workers_beats_web_concurrency)
{
	CHECK_EQ_INT(LOAD("APP=a", "WORKERS=3", "WEB_CONCURRENCY=7"), 0);
	CHECK_EQ_INT(cfg.workers, 3);
	CHECK(strstr(cfg.workers_source, "WORKERS") != NULL);
	CHECK(strstr(cfg.workers_source, "WEB_CONCURRENCY") == NULL);
	CHECK_EQ_INT(LOAD("APP=a", "WEB_CONCURRENCY=7", "WORKERS=3"), 0);
	CHECK_EQ_INT(cfg.workers, 3);
	CHECK_EQ_INT(LOAD("APP=a", "WEB_CONCURRENCY=7"), 0);
	CHECK_EQ_INT(cfg.workers, 7);
	CHECK(strstr(cfg.workers_source, "WEB_CONCURRENCY") != NULL);
}

TEST(workers_default_from_cgroup)
{
	CHECK_EQ_INT(LOAD_ROOT("v2-eight", "APP=a"), 0);
	CHECK_EQ_INT(cfg.workers, 17);
	CHECK(strstr(cfg.workers_source, "800000 100000") != NULL);
	CHECK(strstr(cfg.workers_source, "capped") == NULL);
}

TEST(max_workers_caps_the_default)
{
	CHECK_EQ_INT(LOAD_ROOT("v2-eight", "APP=a", "MAX_WORKERS=4"), 0);
	CHECK_EQ_INT(cfg.workers, 4);
	CHECK(strstr(cfg.workers_source, "MAX_WORKERS") != NULL);
	CHECK_EQ_INT(LOAD_ROOT("v2-eight", "APP=a", "MAX_WORKERS=17"), 0);
	CHECK_EQ_INT(cfg.workers, 17);
	CHECK_EQ_INT(LOAD_ROOT("v2-eight", "APP=a", "MAX_WORKERS=100"), 0);
	CHECK_EQ_INT(cfg.workers, 17);
}

TEST(max_workers_does_not_cap_explicit)
{
	CHECK_EQ_INT(LOAD_ROOT("v2-eight", "APP=a", "MAX_WORKERS=4", "WORKERS=10"), 0);
	CHECK_EQ_INT(cfg.workers, 10);
	CHECK_EQ_INT(LOAD_ROOT("v2-eight", "APP=a", "MAX_WORKERS=4", "WEB_CONCURRENCY=9"), 0);
	CHECK_EQ_INT(cfg.workers, 9);
}

UNIT_MAIN()
