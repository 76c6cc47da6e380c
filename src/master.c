/* The master loop, synchronous as tini's: signals arrive on a signalfd, every
 * child is reaped with waitpid(-1), workers live in a fixed slot table. */
#include "master.h"

#include "log.h"
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAST_STOP_TIMEOUT 1.0 /* INT/QUIT: then SIGKILL */
#define BACKOFF_MAX 10.0

enum { RUNNING, GRACEFUL, FAST };

struct slot {
	pid_t pid; /* 0: empty, to be respawned */
	double started;
};

struct master {
	const struct config *cfg;
	const struct listener *ls;
	int nls;
	struct slot *slots;
	int sigfd;
	int state;
	int exit_code;
	double now, kill_at, respawn_at, backoff;
	sigset_t handled;
};

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void spawn(struct master *m, int i)
{
	pid_t pid = fork();
	if (pid < 0) {
		log_msg(LOG_ERROR, "fork: %s", strerror(errno));
		m->respawn_at = m->now + 1;
		return;
	}
	if (pid == 0) {
		/* The child starts with a clean signal state, as tini's restore_signals. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(m->sigfd);
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* orphaned workers drain and go */
		_exit(worker_run(m->cfg, m->ls, m->nls));
	}
	m->slots[i] = (struct slot){pid, m->now};
}

static int alive(const struct master *m)
{
	int n = 0;
	for (int i = 0; i < m->cfg->workers; i++)
		n += m->slots[i].pid > 0;
	return n;
}

static void signal_all(const struct master *m, int sig)
{
	for (int i = 0; i < m->cfg->workers; i++)
		if (m->slots[i].pid > 0)
			kill(m->slots[i].pid, sig);
}

static void stop(struct master *m, int how)
{
	if (m->state >= how)
		return;
	m->state = how;
	double limit = how == GRACEFUL ? m->cfg->graceful_timeout : FAST_STOP_TIMEOUT;
	m->kill_at = m->now + limit;
	log_msg(LOG_INFO, "%s stop: %d workers, %.3g s before SIGKILL",
		how == GRACEFUL ? "Graceful" : "Fast", alive(m), limit);
	signal_all(m, how == GRACEFUL ? SIGTERM : SIGQUIT);
}

static void worker_exited(struct master *m, struct slot *s, int status)
{
	pid_t pid = s->pid;
	bool young = m->now - s->started < 1.0;
	s->pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_APP_LOAD) {
		log_msg(LOG_CRITICAL, "Worker (pid:%d) could not load the app: stopping", (int)pid);
		m->exit_code = EXIT_APP_LOAD;
		stop(m, FAST);
		return;
	}
	if (WIFSIGNALED(status))
		log_msg(m->state ? LOG_INFO : LOG_ERROR, "Worker (pid:%d) was sent %s!%s", (int)pid,
			strsignal(WTERMSIG(status)),
			WTERMSIG(status) == SIGKILL ? " Perhaps out of memory?" : "");
	else if (WEXITSTATUS(status) != EXIT_OK)
		log_msg(LOG_ERROR, "Worker (pid:%d) exited with code %d", (int)pid, WEXITSTATUS(status));
	else
		log_msg(LOG_INFO, "Worker exiting (pid: %d)", (int)pid);
	if (m->state == RUNNING) { /* respawn, backing off while workers die young */
		m->backoff = young ? (m->backoff ? m->backoff * 2 : 0.1) : 0;
		if (m->backoff > BACKOFF_MAX)
			m->backoff = BACKOFF_MAX;
		m->respawn_at = m->now + m->backoff;
	}
}

/* Reaps every child: workers, and orphans re-parented to us (PID 1, subreaper). */
static void reap(struct master *m)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct slot *s = NULL;
		for (int i = 0; i < m->cfg->workers && !s; i++)
			if (m->slots[i].pid == pid)
				s = &m->slots[i];
		if (s)
			worker_exited(m, s, status);
		else
			log_msg(LOG_DEBUG, "reaped process %d", (int)pid);
	}
}

static void on_signal(struct master *m, int sig)
{
	switch (sig) {
	case SIGCHLD: reap(m); break;
	case SIGTERM: stop(m, m->state == GRACEFUL ? FAST : GRACEFUL); break;
	case SIGINT:
	case SIGQUIT: stop(m, FAST); break;
	default: log_msg(LOG_INFO, "Ignoring %s", strsignal(sig)); break;
	}
}

static int setup_signals(struct master *m)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP,
				   SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH};
	sigemptyset(&m->handled);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaddset(&m->handled, sigs[i]);
	if (sigprocmask(SIG_BLOCK, &m->handled, NULL) < 0 ||
	    (m->sigfd = signalfd(-1, &m->handled, SFD_CLOEXEC)) < 0) {
		log_msg(LOG_CRITICAL, "signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int wait_ms(const struct master *m)
{
	double until = m->state ? m->kill_at : m->respawn_at;
	if (m->state == RUNNING && alive(m) == m->cfg->workers)
		return -1;
	double ms = (until - m->now) * 1000 + 1;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

int master_run(const struct config *cfg, const struct listener *ls, int nls)
{
	struct master m = {.cfg = cfg, .ls = ls, .nls = nls, .now = monotonic()};
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_msg(LOG_WARNING, "cannot become a child subreaper: %s", strerror(errno));
	if (setup_signals(&m) < 0)
		return EXIT_ERROR;
	m.slots = calloc((size_t)cfg->workers, sizeof *m.slots);
	if (!m.slots)
		abort();
	log_msg(LOG_INFO, "Starting %d workers (%d thread%s each)", cfg->workers, cfg->threads,
		cfg->threads > 1 ? "s" : "");
	while (m.state == RUNNING || alive(&m) > 0) {
		for (int i = 0; m.state == RUNNING && i < cfg->workers && m.now >= m.respawn_at; i++)
			if (!m.slots[i].pid)
				spawn(&m, i);
		struct pollfd p = {.fd = m.sigfd, .events = POLLIN};
		int r = poll(&p, 1, wait_ms(&m));
		m.now = monotonic();
		struct signalfd_siginfo si;
		if (r > 0 && read(m.sigfd, &si, sizeof si) == sizeof si)
			on_signal(&m, (int)si.ssi_signo);
		if (m.state && m.now >= m.kill_at && alive(&m)) {
			log_msg(LOG_WARNING, "Killing %d workers still running", alive(&m));
			signal_all(&m, SIGKILL);
			m.kill_at = m.now + 60;
		}
	}
	reap(&m);
	log_msg(LOG_INFO, "Shutting down: exit %d", m.exit_code);
	free(m.slots);
	return m.exit_code;
}
