/* The one table of environment variables, and their parsers. */
#include "config.h"

#include "cpus.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <math.h>
#include <netdb.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum type {
	T_APP, T_HOST, T_PORT, T_BINDS, T_INT, T_SECONDS, T_SIZE, T_BOOL, T_STRING,
	T_DIR, T_PATH, T_LEVEL, T_LOGFMT, T_NETS, T_ADDR, T_SECCOMP, T_RUN_AS, T_STATIC,
};

struct var {
	const char *name;
	const char *def; /* NULL: unset unless given */
	enum type type;
	size_t off;
	long min, max;
	const char *meaning;
};

#define F(field) offsetof(struct config, field)
#define NONE ((size_t)-1)

static const struct var vars[] = {
	{"APP", NULL, T_APP, F(app), 0, 0,
	 "`module:callable`, `module` (-> `application`), or `module:factory(literal args)`"},
	{"HOST", "0.0.0.0", T_HOST, NONE, 0, 0, "listen address (IPv4, IPv6 or name)"},
	{"PORT", "8080", T_PORT, NONE, 1, 65535, "listen port; what Cloud Run/Heroku inject"},
	{"BIND", NULL, T_BINDS, NONE, 0, 0,
	 "comma list of `host:port`, `[v6]:port`, `unix:/path`; overrides HOST/PORT"},
	{"WORKERS", NULL, T_INT, F(workers), 1, 1024,
	 "worker processes; default 2*cpus+1 (cpus from the cgroup quota, else affinity)"},
	{"WEB_CONCURRENCY", NULL, T_INT, F(workers), 1, 1024, "alias of WORKERS (WORKERS wins)"},
	{"MAX_WORKERS", NULL, T_INT, F(max_workers), 1, 1024, "upper bound on the computed default"},
	{"THREADS", "1", T_INT, F(threads), 1, 1024, "app threads per worker (I/O-bound apps)"},
	{"TIMEOUT", "30", T_SECONDS, F(timeout), 0, 0,
	 "seconds a worker may stay silent before it is killed and replaced (0 = off)"},
	{"GRACEFUL_TIMEOUT", "30", T_SECONDS, F(graceful_timeout), 0, 0,
	 "seconds to finish in-flight requests on TERM/HUP"},
	{"KEEP_ALIVE", "5", T_SECONDS, F(keep_alive), 0, 0,
	 "idle keep-alive seconds (0 = no keep-alive)"},
	{"MAX_REQUESTS", "0", T_INT, F(max_requests), 0, 1000000000,
	 "recycle a worker after N requests (0 = never)"},
	{"MAX_REQUESTS_JITTER", "0", T_INT, F(max_requests_jitter), 0, 1000000000,
	 "random extra requests added to MAX_REQUESTS per worker"},
	{"MAX_RSS", NULL, T_SIZE, F(max_rss), 0, 0,
	 "recycle a worker whose resident memory passes this size, as MAX_REQUESTS does"},
	{"PRELOAD", "false", T_BOOL, F(preload), 0, 0,
	 "import the app in the master before forking (copy-on-write memory)"},
	{"RELOAD", "false", T_BOOL, F(reload), 0, 0,
	 "development: roll the workers over when a `*.py` file under the working directory (CHDIR) changes; not with PRELOAD"},
	{"RUN_AS", NULL, T_RUN_AS, NONE, 0, 0,
	 "user[:group], names or numbers; 65532:65532 when started as root"},
	{"CHDIR", NULL, T_DIR, F(chdir), 0, 0, "working directory, also first on sys.path"},
	{"ROOT_PATH", "", T_PATH, F(root_path), 0, 0, "SCRIPT_NAME prefix the app is mounted under"},
	{"LOG_LEVEL", "info", T_LEVEL, F(log_level), 0, 0, "debug, info, warning, error, critical"},
	{"LOG_FORMAT", "text", T_LOGFMT, F(log_json), 0, 0,
	 "text or json (one JSON object per line, both logs)"},
	{"ACCESS_LOG", "true", T_BOOL, F(access_log), 0, 0, "access log to stdout"},
	{"ACCESS_LOG_FORMAT", "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"",
	 T_STRING, F(access_log_format), 0, 0, "gunicorn's atoms"},
	{"REQUEST_ID", "false", T_BOOL, F(request_id), 0, 0,
	 "take the client's X-Request-ID (1-128 of `[A-Za-z0-9._:-]`) or make one; the app, the response "
	 "and the access log get it"},
	{"FORWARDED_ALLOW_IPS", "127.0.0.1,::1", T_NETS, NONE, 0, 0,
	 "trusted proxies: IPs, CIDRs, or *"},
	{"LIMIT_REQUEST_LINE", "4094", T_INT, F(limit_request_line), 16, 1048576,
	 "longest request line (else 414)"},
	{"LIMIT_REQUEST_FIELDS", "100", T_INT, F(limit_request_fields), 1, 32768,
	 "most header fields (else 431)"},
	{"LIMIT_REQUEST_FIELD_SIZE", "8190", T_INT, F(limit_request_field_size), 16, 1048576,
	 "longest header field, name and value (else 431)"},
	{"MAX_BODY_SIZE", "100m", T_SIZE, F(max_body_size), 0, 0,
	 "larger request bodies get 413 without reaching the app"},
	{"HEALTH_PATH", NULL, T_PATH, F(health_path), 0, 0,
	 "answered by the worker in C (200, or 503 while draining), never by the app"},
	{"ADMIN_BIND", NULL, T_ADDR, F(admin_bind), 0, 0,
	 "master's own port: /livez, /readyz, /metrics (Prometheus)"},
	{"SHUTDOWN_DELAY", "0", T_SECONDS, F(shutdown_delay), 0, 0,
	 "seconds to keep serving after TERM with readiness failing, before draining"},
	{"SECCOMP", "default", T_SECCOMP, F(seccomp), 0, 0, "default, strict or off"},
	{"RESPONSE_BUFFER", "32m", T_SIZE, F(response_buffer), 0, 0,
	 "response data a worker holds for slow clients; past it the app waits (0 = write directly)"},
	{"STATIC_MAP", NULL, T_STATIC, NONE, 0, 0,
	 "comma list of `/prefix=/dir`: files served by the worker in C, never by the app"},
	{"STATIC_MAX_AGE", "3600", T_INT, F(static_max_age), 0, 315360000,
	 "Cache-Control max-age of static files (hashed names: a year, immutable)"},
};

#define NVARS (sizeof vars / sizeof *vars)

/* What each type accepts, for the error line. */
static const char *accepts(const struct var *v, char *buf, size_t len)
{
	switch (v->type) {
	case T_APP: return "module, module:name or module:factory(args)";
	case T_HOST: return "an IPv4/IPv6 address or a host name";
	case T_PORT:
	case T_INT: snprintf(buf, len, "an integer from %ld to %ld", v->min, v->max); return buf;
	case T_BINDS: return "comma list of host:port, [v6]:port or unix:/path";
	case T_ADDR: return "host:port, [v6]:port or unix:/path";
	case T_SECONDS: return "seconds >= 0, fractions allowed";
	case T_SIZE: return "bytes, with an optional k, m or g suffix";
	case T_BOOL: return "1/0, true/false, yes/no, on/off";
	case T_STRING: return "a non-empty string";
	case T_DIR: return "an existing directory";
	case T_PATH: return "a path starting with / (not ending with / unless it is /)";
	case T_LEVEL: return "debug, info, warning, error or critical";
	case T_LOGFMT: return "text or json";
	case T_NETS: return "comma list of IPs, CIDRs, or *";
	case T_SECCOMP: return "default, strict or off";
	case T_RUN_AS: return "user[:group], names or numbers, that exist";
	case T_STATIC: return "comma list of /prefix=/directory, existing directories";
	}
	return "";
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s)) /* no sign, no blanks */
		return -1;
	long n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	if (!*s || strspn(s, "0123456789.") != strlen(s)) /* plain decimal seconds */
		return -1;
	double d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d < 0 || d > 1e7)
		return -1;
	*out = d;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	unsigned long long n = strtoull(s, &end, 10);
	int shift = 0;
	switch (tolower((unsigned char)*end)) {
	case 'k': shift = 10; end++; break;
	case 'm': shift = 20; end++; break;
	case 'g': shift = 30; end++; break;
	}
	if (errno || *end || n > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			return *out = true, 0;
		if (!strcasecmp(s, no[i]))
			return *out = false, 0;
	}
	return -1;
}

static int parse_choice(const char *s, const char *const *names, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (!strcasecmp(s, names[i]))
			return *out = i, 0;
	return -1;
}

/* module[.module...][:expression] with identifier modules. */
static int check_app(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	if (n == 0 || (colon && !colon[1]))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool start = i == 0 || s[i - 1] == '.';
		if (c == '.' ? start || i == n - 1 : !(isalpha(c) || c == '_' || (!start && isdigit(c))))
			return -1;
	}
	return 0;
}

static int resolve(const char *host, const char *port, struct config_addr *a)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	long p;
	if (parse_long(port, 1, 65535, &p) < 0 || getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int config_parse_addr(const char *text, struct config_addr *a)
{
	memset(a, 0, sizeof *a);
	size_t len = strlen(text);
	if (len >= sizeof a->text)
		return -1;
	memcpy(a->text, text, len + 1);
	if (!strncmp(text, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
		const char *path = text + 5;
		if (path[0] != '/' || strlen(path) >= sizeof un->sun_path)
			return -1;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, path);
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
		return 0;
	}
	char host[128];
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text)
		return -1;
	size_t hn = (size_t)(colon - text);
	if (text[0] == '[') {
		if (colon[-1] != ']' || hn < 3)
			return -1;
		text++;
		hn -= 2;
	} else if (memchr(text, ':', hn)) {
		return -1; /* a bare IPv6 address needs brackets */
	}
	snprintf(host, sizeof host, "%.*s", (int)hn, text);
	return resolve(host, colon + 1, a);
}

/* Calls add(cfg, item) for each item of a comma list, blanks around items
 * trimmed; an empty list or an empty item is an error. */
static int each_item(struct config *cfg, const char *s, int (*add)(struct config *, const char *))
{
	char buf[4096], *save;
	size_t n = strlen(s);
	if (!n || n >= sizeof buf || s[0] == ',' || s[n - 1] == ',' || strstr(s, ",,"))
		return -1;
	strcpy(buf, s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		for (char *e = t + strlen(t); e > t && e[-1] == ' ';)
			*--e = 0;
		if (add(cfg, t) < 0)
			return -1;
	}
	return 0;
}

static int add_bind(struct config *cfg, const char *item)
{
	if (cfg->nbinds == CONFIG_MAX_BINDS || config_parse_addr(item, &cfg->binds[cfg->nbinds]) < 0)
		return -1;
	cfg->nbinds++;
	return 0;
}

static int parse_binds(struct config *cfg, const char *s)
{
	cfg->nbinds = 0;
	return each_item(cfg, s, add_bind);
}

static int add_net(struct config *cfg, const char *item)
{
	char ip[64];
	if (cfg->nforwarded == CONFIG_MAX_NETS)
		return -1;
	struct config_net *n = &cfg->forwarded_allow[cfg->nforwarded++];
	if (!strcmp(item, "*")) {
		n->bits = -1;
		return 0;
	}
	const char *slash = strchr(item, '/');
	size_t len = slash ? (size_t)(slash - item) : strlen(item);
	if (len >= sizeof ip)
		return -1;
	snprintf(ip, sizeof ip, "%.*s", (int)len, item);
	n->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(n->family, ip, n->addr) != 1)
		return -1;
	long max = n->family == AF_INET ? 32 : 128, bits = max;
	if (slash && parse_long(slash + 1, 0, max, &bits) < 0)
		return -1;
	n->bits = (int)bits;
	return 0;
}

static int parse_nets(struct config *cfg, const char *s)
{
	cfg->nforwarded = 0;
	return each_item(cfg, s, add_net);
}

static bool net_contains(const struct config_net *n, int family, const unsigned char *addr)
{
	if (n->bits < 0)
		return true;
	if (n->family != family)
		return false;
	int full = n->bits / 8, rest = n->bits % 8;
	if (memcmp(n->addr, addr, (size_t)full))
		return false;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return !rest || (n->addr[full] & mask) == (addr[full] & mask);
}

bool config_forwarded_allowed(const struct config *cfg, const struct sockaddr *sa)
{
	const unsigned char *addr;
	int family = sa->sa_family;
	unsigned char v4[4];
	if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		addr = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(v4, addr + 12, 4);
			addr = v4;
			family = AF_INET;
		}
	} else if (family == AF_INET) {
		addr = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else {
		return family == AF_UNIX; /* a local proxy on a unix socket is trusted */
	}
	for (int i = 0; i < cfg->nforwarded; i++)
		if (net_contains(&cfg->forwarded_allow[i], family, addr))
			return true;
	return false;
}

static int add_static(struct config *cfg, const char *item)
{
	const char *eq = strchr(item, '=');
	struct config_static *m = &cfg->statics[cfg->nstatic];
	struct stat st;
	if (cfg->nstatic == CONFIG_MAX_STATIC || !eq)
		return -1;
	size_t plen = (size_t)(eq - item);
	const char *dir = eq + 1;
	if (plen < 2 || plen >= sizeof m->prefix || item[0] != '/' || item[plen - 1] == '/' ||
	    strcspn(item, "?#% ") < plen ||
	    dir[0] != '/' || strlen(dir) >= sizeof m->dir || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	memcpy(m->prefix, item, plen);
	m->prefix[plen] = 0;
	m->plen = plen;
	strcpy(m->dir, dir);
	cfg->nstatic++;
	return 0;
}

static int parse_id(const char *s, bool user, uid_t *id, gid_t *primary)
{
	long n;
	if (parse_long(s, 0, 0x7fffffff, &n) == 0) {
		struct passwd *pw = user ? getpwuid((uid_t)n) : NULL;
		*id = (uid_t)n;
		if (primary)
			*primary = pw ? pw->pw_gid : (gid_t)n;
		return 0;
	}
	if (user) {
		struct passwd *pw = getpwnam(s);
		if (!pw)
			return -1;
		*id = pw->pw_uid;
		*primary = pw->pw_gid;
		return 0;
	}
	struct group *gr = getgrnam(s);
	if (!gr)
		return -1;
	*id = gr->gr_gid;
	return 0;
}

static int parse_run_as(struct config *cfg, const char *s)
{
	char user[256];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	if (n == 0 || n >= sizeof user)
		return -1;
	snprintf(user, sizeof user, "%.*s", (int)n, s);
	gid_t primary;
	if (parse_id(user, true, &cfg->uid, &primary) < 0)
		return -1;
	cfg->gid = primary;
	if (colon && parse_id(colon + 1, false, &cfg->gid, NULL) < 0)
		return -1;
	cfg->run_as_set = true;
	return 0;
}

static const char *const levels[] = {"debug", "info", "warning", "error", "critical"};
static const char *const seccomps[] = {"default", "strict", "off"};

/* Parses one value into cfg; HOST/PORT are combined by the caller. */
static int parse(struct config *cfg, const struct var *v, const char *s)
{
	void *field = v->off == NONE ? NULL : (char *)cfg + v->off;
	struct stat st;
	long n;
	int choice;
	switch (v->type) {
	case T_APP:
		if (check_app(s) < 0)
			return -1;
		return *(const char **)field = s, 0;
	case T_HOST:
	case T_PORT:
		return v->type == T_PORT ? parse_long(s, v->min, v->max, &n) : 0;
	case T_BINDS: return parse_binds(cfg, s);
	case T_ADDR: return config_parse_addr(s, field);
	case T_INT:
		if (parse_long(s, v->min, v->max, &n) < 0)
			return -1;
		if (v->off == F(max_requests) || v->off == F(max_requests_jitter))
			*(long *)field = n;
		else
			*(int *)field = (int)n;
		return 0;
	case T_SECONDS: return parse_seconds(s, field);
	case T_SIZE: return parse_size(s, field);
	case T_BOOL: return parse_bool(s, field);
	case T_STRING: return *(const char **)field = s, 0;
	case T_DIR:
		if (stat(s, &st) < 0 || !S_ISDIR(st.st_mode))
			return -1;
		return *(const char **)field = s, 0;
	case T_PATH: {
		size_t len = strlen(s); /* "" only as ROOT_PATH's default: a set value is never empty */
		if ((len && s[0] != '/') || (len > 1 && s[len - 1] == '/') || strpbrk(s, "?# "))
			return -1;
		return *(const char **)field = s, 0;
	}
	case T_LEVEL:
		if (parse_choice(s, levels, 5, &choice) < 0)
			return -1;
		return *(enum log_level *)field = (enum log_level)choice, 0;
	case T_LOGFMT:
		if (parse_choice(s, (const char *const[]){"text", "json"}, 2, &choice) < 0)
			return -1;
		return *(bool *)field = choice == 1, 0;
	case T_NETS: return parse_nets(cfg, s);
	case T_SECCOMP:
		if (parse_choice(s, seccomps, 3, &choice) < 0)
			return -1;
		return *(enum seccomp_mode *)field = (enum seccomp_mode)choice, 0;
	case T_RUN_AS: return parse_run_as(cfg, s);
	case T_STATIC: return each_item(cfg, s, add_static);
	}
	return -1;
}

static int fail(char *err, size_t errlen, const struct var *v, const char *value, const char *why)
{
	char buf[64];
	if (value)
		snprintf(err, errlen, "%s=\"%s\" is invalid: expected %s", v->name, value,
			 why ? why : accepts(v, buf, sizeof buf));
	else
		snprintf(err, errlen, "%s is not set: expected %s", v->name, accepts(v, buf, sizeof buf));
	return -1;
}

static const struct var *find(const char *name)
{
	for (size_t i = 0; i < NVARS; i++)
		if (!strcmp(vars[i].name, name))
			return &vars[i];
	return NULL;
}

/* WORKERS: explicit, else WEB_CONCURRENCY, else 2*cpus+1 capped by MAX_WORKERS. */
static void derive_workers(struct config *cfg, const char *(*get)(const char *), const char *root)
{
	if (get("WORKERS") || get("WEB_CONCURRENCY")) {
		snprintf(cfg->workers_source, sizeof cfg->workers_source, "from %s",
			 get("WORKERS") ? "WORKERS" : "WEB_CONCURRENCY");
		return;
	}
	struct cpus c;
	cpus_detect(root, &c);
	cfg->workers = 2 * c.count + 1;
	int n = snprintf(cfg->workers_source, sizeof cfg->workers_source, "2*%d+1; cpus=%d from %s",
			 c.count, c.count, c.source);
	if (cfg->max_workers && cfg->workers > cfg->max_workers) {
		cfg->workers = cfg->max_workers;
		snprintf(cfg->workers_source + n, sizeof cfg->workers_source - (size_t)n,
			 "; capped by MAX_WORKERS");
	}
}

int config_load_from(struct config *cfg, const char *(*get)(const char *),
		     const char *cgroup_root, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		const char *s = get(v->name);
		if (s && !*s)
			return fail(err, errlen, v, s, "a value (it is set but empty)");
		/* WORKERS beats its alias: skip WEB_CONCURRENCY's value when both are set. */
		if (!strcmp(v->name, "WEB_CONCURRENCY") && get("WORKERS"))
			s = NULL;
		if (!s)
			s = v->def;
		if (!s) {
			if (v->type == T_APP)
				return fail(err, errlen, v, NULL, NULL);
			continue;
		}
		if (parse(cfg, v, s) < 0)
			return fail(err, errlen, v, s, NULL);
	}
	if (!get("BIND")) {
		char bind[200];
		const char *host = get("HOST") ? get("HOST") : "0.0.0.0";
		const char *port = get("PORT") ? get("PORT") : "8080";
		snprintf(bind, sizeof bind, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
		if (parse_binds(cfg, bind) < 0)
			return fail(err, errlen, find("HOST"), host, NULL);
	}
	if (cfg->reload && cfg->preload) { /* a reload imports the app anew, in new workers */
		snprintf(err, errlen, "RELOAD=\"%s\" cannot be used with PRELOAD=\"%s\": PRELOAD imports the app "
			 "once, in the master, and a reload must import it anew", get("RELOAD"), get("PRELOAD"));
		return -1;
	}
	cfg->admin_set = get("ADMIN_BIND") != NULL;
	if (!cfg->run_as_set && geteuid() == 0) {
		cfg->uid = cfg->gid = 65532;
		cfg->run_as_set = true;
	}
	derive_workers(cfg, get, cgroup_root);
	return 0;
}

static const char *real_getenv(const char *name)
{
	return getenv(name);
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
	return config_load_from(cfg, real_getenv, "", err, errlen);
}

static void print_addrs(FILE *out, const char *name, const struct config_addr *a, int n)
{
	fprintf(out, "%s=", name);
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s", i ? "," : "", a[i].text);
	fputc('\n', out);
}

void config_print(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		const char *s = getenv(v->name);
		if (!strcmp(v->name, "BIND"))
			print_addrs(out, "BIND", cfg->binds, cfg->nbinds);
		else if (!strcmp(v->name, "WORKERS"))
			fprintf(out, "WORKERS=%d  # %s\n", cfg->workers, cfg->workers_source);
		else if (!strcmp(v->name, "RUN_AS") && cfg->run_as_set)
			fprintf(out, "RUN_AS=%u:%u%s\n", (unsigned)cfg->uid, (unsigned)cfg->gid,
				s ? "" : "  # default when started as root");
		else if (s || v->def)
			fprintf(out, "%s=%s\n", v->name, s ? s : v->def);
		else
			fprintf(out, "%s=  # unset\n", v->name);
	}
}

void config_help(FILE *out)
{
	fprintf(out, "| variable | default | meaning |\n|---|---|---|\n");
	for (size_t i = 0; i < NVARS; i++) {
		const struct var *v = &vars[i];
		fprintf(out, "| %s | %s | %s |\n", v->name,
			v->def ? (*v->def ? v->def : "(empty)") : "unset", v->meaning);
	}
}
