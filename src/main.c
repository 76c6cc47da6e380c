/* wsginit: PID 1, pre-fork master and HTTP/1.1 WSGI server, configured from
 * the environment only. */
#include "accesslog.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "privs.h"
#include "probe.h"
#include "proctitle.h"
#include "seccomp.h"
#include "static.h"
#include "tmpdir.h"
#include "wsgi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(FILE *out, int code)
{
	fprintf(out,
		"usage: wsginit [--check | --print-config | --probe [URL] | --python ARGS... | --help | --version]\n"
		"Serves the WSGI app named by APP. Configuration comes from these environment variables:\n\n");
	config_help(out);
	return code;
}

/* --python runs a command, not an app: an unset APP stands for the command's
 * __main__; every other variable is checked as the server checks it. */
static const char *python_env(const char *name)
{
	const char *s = getenv(name);
	return !s && !strcmp(name, "APP") ? "__main__" : s;
}

int main(int argc, char **argv)
{
	char opt[16];
	snprintf(opt, sizeof opt, "%s", argc > 1 ? argv[1] : "");
	bool python = !strcmp(opt, "--python"); /* argv[2..] are python3's arguments */
	if (argc == 3 && !strcmp(opt, "--probe"))
		return probe_run(argv[2]);
	if (argc == 2 && !strcmp(opt, "--probe"))
		return probe_config();
	if (!python && (argc > 2 || (argc == 2 && strcmp(opt, "--check") && strcmp(opt, "--print-config") &&
				   strcmp(opt, "--help") && strcmp(opt, "--version"))))
		return usage(stderr, EXIT_CONFIG);
	if (!python) /* the title takes over the memory of argv[1..] */
		proctitle_init(argc, argv);
	if (!strcmp(opt, "--help"))
		return usage(stdout, EXIT_OK);
	char python_about[300];
	wsgi_describe(python_about, sizeof python_about);
	if (!strcmp(opt, "--version"))
		return printf("wsginit %s with %s\n", WSGINIT_VERSION, python_about) < 0;

	static struct config cfg;
	char err[512];
	int loaded = python ? config_load_from(&cfg, python_env, "", err, sizeof err)
			    : config_load(&cfg, err, sizeof err);
	if (loaded < 0 || accesslog_init(&cfg, err, sizeof err) < 0) {
		fprintf(stderr, "wsginit: %s\n", err);
		return EXIT_CONFIG;
	}
	if (python && cfg.log_level < LOG_WARNING)
		cfg.log_level = LOG_WARNING; /* the command's stderr is its own: no info lines */
	log_init(&cfg);
	if (!strcmp(opt, "--print-config")) {
		printf("# wsginit %s with %s\n", WSGINIT_VERSION, python_about);
		config_print(&cfg, stdout);
		return EXIT_OK;
	}
	if (cfg.chdir && chdir(cfg.chdir) < 0) {
		log_msg(LOG_CRITICAL, "cannot enter CHDIR=%s: %s", cfg.chdir, strerror(errno));
		return EXIT_ERROR;
	}
	if (!strcmp(opt, "--check"))
		return wsgi_init(&cfg) < 0 ? EXIT_ERROR : EXIT_OK;
	/* The server's privilege drop without its seccomp: the filter fences in
	 * code that serves hostile requests, and this is the operator's own
	 * command (migrate, shell, dbshell's exec of psql), with no network input. */
	if (python)
		return privs_drop(&cfg) < 0 ? EXIT_ERROR : wsgi_python(argc - 1, argv + 1);

	static struct listener ls[CONFIG_MAX_BINDS];
	log_msg(LOG_INFO, "Starting wsginit %s with %s", WSGINIT_VERSION, python_about);
	master_hold_signals();
	int nls = listen_open(&cfg, ls);
	struct admin *admin = NULL;
	if (nls < 0 || (cfg.admin_set && !(admin = admin_open(&cfg.admin_bind))) || privs_drop(&cfg) < 0)
		return EXIT_ERROR;
	/* Opened as the user the workers run as: what it cannot read is a bad STATIC_MAP. */
	struct static_files *statics = NULL;
	if (cfg.nstatic && !(statics = static_open(&cfg, err, sizeof err))) {
		log_msg(LOG_CRITICAL, "%s", err);
		return EXIT_CONFIG;
	}
	tmpdir_check(); /* as the user the workers run as, like STATIC_MAP */
	log_msg(LOG_INFO, "Workers' seccomp profile: %s", seccomp_describe(cfg.seccomp));
	if (cfg.preload && wsgi_init(&cfg) < 0) /* workers fork from it: shared pages */
		return EXIT_APP_LOAD;
	return master_run(&cfg, ls, nls, admin, statics);
}
