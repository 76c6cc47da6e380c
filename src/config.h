/* The configuration: every environment variable, read once and validated. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#define WSGINIT_VERSION "0.1.0"

#define CONFIG_MAX_BINDS 16
#define CONFIG_MAX_NETS 64
#define CONFIG_MAX_STATIC 16

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };
enum seccomp_mode { SECCOMP_DEFAULT, SECCOMP_STRICT, SECCOMP_OFF };

/* A listening address: TCP (v4/v6) or a unix socket path. */
struct config_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	char text[128]; /* as the user wrote it, for logs */
};

/* One STATIC_MAP entry: requests under prefix are files of dir. */
struct config_static {
	char prefix[128]; /* starts with '/', no trailing '/' */
	size_t plen;
	char dir[512];
};

/* An allowed proxy network; bits == -1 stands for "*". */
struct config_net {
	int family;
	unsigned char addr[16];
	int bits;
};

struct config {
	const char *app;
	struct config_addr binds[CONFIG_MAX_BINDS];
	int nbinds;
	int workers;
	char workers_source[160]; /* how WORKERS was chosen, for --print-config */
	int max_workers;          /* 0: no cap */
	int threads;
	double timeout, graceful_timeout, keep_alive, shutdown_delay;
	long max_requests, max_requests_jitter;
	uint64_t max_rss; /* 0: unset */
	bool preload;
	bool reload;
	bool run_as_set;
	uid_t uid;
	gid_t gid;
	const char *chdir;
	const char *root_path;
	enum log_level log_level;
	bool log_json;
	bool access_log;
	const char *access_log_format;
	bool request_id;
	struct config_net forwarded_allow[CONFIG_MAX_NETS];
	int nforwarded;
	int limit_request_line, limit_request_fields, limit_request_field_size;
	uint64_t max_body_size;
	const char *health_path;
	bool admin_set;
	struct config_addr admin_bind;
	enum seccomp_mode seccomp;
	uint64_t response_buffer;
	struct config_static statics[CONFIG_MAX_STATIC];
	int nstatic;
	int static_max_age;
};

/* Reads the environment into *cfg. On a bad value writes one line naming the
 * variable, the value and what is accepted into err and returns -1. */
int config_load(struct config *cfg, char *err, size_t errlen);

/* Same, from getenv-like lookup (for tests) and a cgroup root ("" = real). */
int config_load_from(struct config *cfg, const char *(*get)(const char *),
		     const char *cgroup_root, char *err, size_t errlen);

/* Writes NAME=value per variable, with derived values commented. */
void config_print(const struct config *cfg, FILE *out);

/* Writes the table of variables (name, default, meaning) for --help. */
void config_help(FILE *out);

/* Parses "host:port", "[v6]:port" or "unix:/path" into *a. */
int config_parse_addr(const char *text, struct config_addr *a);

/* True when the address sa (a peer) is inside one of the allowed networks. */
bool config_forwarded_allowed(const struct config *cfg, const struct sockaddr *sa);
