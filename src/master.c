/* The master loop, synchronous as tini's: signals arrive on a signalfd,
 * workers' notes on a pipe, every child is reaped with waitpid(-1), and
 * workers live in a fixed slot table (nginx's ngx_processes[]). */
#include "master.h"

#include "log.h"
#include "proctitle.h"
#include "reload.h"
#include "slots.h"
#include "worker.h"
#include "wsgi.h"

#include <errno.h>
#include <fcntl.h>
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
#define ABORT_GRACE 2.0       /* after SIGABRT for the tracebacks, SIGKILL */
#define BACKOFF_MAX 10.0
#define MAX_TARGET 1024
#define RELOAD_QUIET 0.2 /* RELOAD: an editor's save or a checkout is one change */

enum { RUNNING, DELAYING, GRACEFUL, FAST }; /* in this order: a stop only escalates */
/* A slot's life: booting (importing the app), ready, retiring (asked for a
 * replacement), stopping (TERM, QUIT or ABRT sent; SIGKILL at kill_at). */
enum { FREE, BOOTING, READY, RETIRING, STOPPING };

struct slot {
	pid_t pid;
	int state, generation, number;
	int reason;   /* why it was stopped, for the restart counter; -1: not a restart */
	bool aborted; /* SIGABRT sent for TIMEOUT */
	double started, kill_at;
};

struct master {
	const struct config *cfg;
	const struct listener *ls;
	int nls;
	struct slot slots[SLOTS_MAX];
	struct slots *board;
	struct slot_shared retired; /* counters of the workers gone */
	unsigned long restarts[RESTART_REASONS];
	struct admin *admin;
	const struct static_files *statics;
	double start_time;
	int sigfd, notes[2];
	int state, exit_code, target, numbers;
	int generation, generations; /* the one wanted; the number of the newest made */
	double now, respawn_at, backoff, delay_until;
	struct reload *reload; /* RELOAD's watcher, or NULL */
	double reload_at;      /* the rollover once the files are quiet; 0: none due */
	char changed[512];     /* the last file changed, for the log */
};

static double now_s(void)
{
	return slots_now_ms() / 1000.0;
}

static void spawn(struct master *m)
{
	int i = 0;
	while (i < SLOTS_MAX && m->slots[i].state != FREE)
		i++;
	if (i == SLOTS_MAX)
		return;
	memset(&m->board->slot[i], 0, sizeof m->board->slot[i]);
	struct worker_args a = {m->cfg, m->ls, m->nls, i, ++m->numbers, m->board, m->notes[1],
				m->cfg->preload, m->statics};
	wsgi_before_fork();
	pid_t pid = fork();
	if (pid == 0) {
		/* The child starts with a clean signal state, as tini's restore_signals. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(m->sigfd);
		close(m->notes[0]);
		if (m->reload)
			close(reload_fd(m->reload));
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* orphaned workers drain and go */
		wsgi_after_fork_child();
		_exit(worker_run(&a));
	}
	wsgi_after_fork_parent();
	if (pid < 0) {
		log_msg(LOG_ERROR, "fork: %s", strerror(errno));
		m->respawn_at = m->now + 1;
		return;
	}
	m->slots[i] = (struct slot){pid, BOOTING, m->generation, a.number, -1, false, m->now, 0};
}

static int count(const struct master *m, bool (*want)(const struct master *, const struct slot *))
{
	int n = 0;
	for (int i = 0; i < SLOTS_MAX; i++)
		n += m->slots[i].state != FREE && want(m, &m->slots[i]);
	return n;
}

static bool any(const struct master *m, const struct slot *s)
{
	(void)m, (void)s;
	return true;
}

/* Counts toward the target: current generation, not on its way out. */
static bool serving(const struct master *m, const struct slot *s)
{
	return s->generation == m->generation && (s->state == BOOTING || s->state == READY);
}

static bool ready(const struct master *m, const struct slot *s)
{
	return serving(m, s) && s->state == READY;
}

static void stop_slot(struct master *m, struct slot *s, int sig, double grace, int reason)
{
	if (s->state == STOPPING)
		return;
	s->reason = reason;
	kill(s->pid, sig);
	s->state = STOPPING;
	s->kill_at = m->now + grace;
}

/* Keeps `target` workers of the current generation; old or retiring workers
 * stop only once enough new ones are ready, so none of the capacity is lost. */
static void maintain(struct master *m)
{
	if (m->state > DELAYING)
		return;
	for (int n = count(m, serving); n < m->target && m->now >= m->respawn_at; n++)
		spawn(m);
	int extra = count(m, serving) - m->target;
	bool replaced = count(m, ready) >= m->target;
	for (int i = SLOTS_MAX - 1; i >= 0; i--) {
		struct slot *s = &m->slots[i];
		if (s->state == FREE || s->state == STOPPING)
			continue;
		if (s->state == RETIRING)
			continue; /* it stops by itself */
		if (serving(m, s) ? extra-- > 0 : replaced)
			stop_slot(m, s, SIGTERM, m->cfg->graceful_timeout,
				  serving(m, s) ? -1 : RESTART_RELOAD);
	}
}

static void stop(struct master *m, int how)
{
	if (m->state >= how)
		return;
	if (m->state < GRACEFUL) /* no more workers to fork: only theirs keep the listeners open */
		for (int i = 0; i < m->nls; i++)
			close(m->ls[i].fd);
	m->state = how;
	double limit = how == GRACEFUL ? m->cfg->graceful_timeout : FAST_STOP_TIMEOUT;
	log_msg(LOG_INFO, "%s stop: %d workers, %.3g s before SIGKILL",
		how == GRACEFUL ? "Graceful" : "Fast", count(m, any), limit);
	for (int i = 0; i < SLOTS_MAX; i++) {
		struct slot *s = &m->slots[i];
		if (s->state == STOPPING && how == FAST)
			s->state = READY; /* a fast stop overrides a graceful one */
		if (s->state != FREE)
			stop_slot(m, s, how == GRACEFUL ? SIGTERM : SIGQUIT, limit, -1);
	}
}

/* A new generation failed to import: keep the one that runs, if any. */
static bool abandon_reload(struct master *m, const struct slot *failed)
{
	for (int i = 0; i < SLOTS_MAX; i++) {
		const struct slot *s = &m->slots[i];
		if ((s->state == READY || s->state == BOOTING) && s->generation != failed->generation) {
			log_msg(LOG_ERROR, "Reload failed: the new app does not import; keeping the running workers");
			m->generation = s->generation;
			return true;
		}
	}
	return false;
}

static void worker_exited(struct master *m, struct slot *s, int status)
{
	bool young = m->now - s->started < 1.0;
	struct slot_shared *counters = &m->board->slot[s - m->slots];
	slots_add(&m->retired, counters); /* moved, so that a scrape counts them once */
	m->retired.in_flight = 0;
	memset(counters, 0, sizeof *counters);
	bool expected = s->state == STOPPING || s->state == RETIRING;
	if (s->aborted)
		m->restarts[RESTART_TIMEOUT]++;
	else if (!expected && m->state <= DELAYING)
		m->restarts[RESTART_CRASH]++;
	else if (s->reason >= 0)
		m->restarts[s->reason]++;
	if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_APP_LOAD && !abandon_reload(m, s)) {
		log_msg(LOG_CRITICAL, "Worker (pid:%d) could not load the app: stopping", (int)s->pid);
		m->exit_code = EXIT_APP_LOAD;
		stop(m, FAST);
	} else if (WIFSIGNALED(status)) {
		log_msg(expected ? LOG_INFO : LOG_ERROR, "Worker (pid:%d) was sent %s!%s",
			(int)s->pid, strsignal(WTERMSIG(status)),
			WTERMSIG(status) == SIGKILL ? " Perhaps out of memory?" : "");
	} else if (WEXITSTATUS(status) != EXIT_OK) {
		log_msg(LOG_ERROR, "Worker (pid:%d) exited with code %d", (int)s->pid, WEXITSTATUS(status));
	} else {
		log_msg(LOG_INFO, "Worker exiting (pid: %d)", (int)s->pid);
	}
	if (!expected && m->state <= DELAYING) { /* died: back off while workers die young */
		m->backoff = young ? (m->backoff ? m->backoff * 2 : 0.1) : 0;
		if (m->backoff > BACKOFF_MAX)
			m->backoff = BACKOFF_MAX;
		m->respawn_at = m->now + m->backoff;
	}
	s->state = FREE;
	s->pid = 0;
}

static void on_notes(struct master *m);

/* Reaps every child: workers, and orphans re-parented to us (PID 1, subreaper).
 * The notes first: a worker that retired (MAX_REQUESTS, MAX_RSS) wrote so before
 * it exited, and must not be counted as a crash. */
static void reap(struct master *m)
{
	int status;
	pid_t pid;
	on_notes(m);
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct slot *s = NULL;
		for (int i = 0; i < SLOTS_MAX && !s; i++)
			if (m->slots[i].state != FREE && m->slots[i].pid == pid)
				s = &m->slots[i];
		if (s)
			worker_exited(m, s, status);
		else
			log_msg(LOG_DEBUG, "reaped process %d", (int)pid);
	}
}

static void resize(struct master *m, int delta)
{
	int target = m->target + delta;
	if (target < 1 || target > MAX_TARGET)
		return;
	m->target = target;
	log_msg(LOG_INFO, "Number of workers: %d", target);
}

/* HUP or RELOAD: a new generation of workers; the old one stops once it is ready. */
static void roll_over(struct master *m, const char *why)
{
	if (m->state != RUNNING)
		return;
	m->generation = ++m->generations; /* never a failed one's number again */
	log_msg(LOG_INFO, "%s: starting new workers%s", why, m->cfg->preload
		? " (PRELOAD: the app imported at start is kept)" : " that import the app anew");
}

static void on_signal(struct master *m, int sig)
{
	switch (sig) {
	case SIGCHLD: reap(m); break;
	case SIGTERM:
		if (m->state == RUNNING && m->cfg->shutdown_delay > 0) {
			/* Readiness fails at once; serving goes on while load balancers catch up. */
			m->state = DELAYING;
			m->delay_until = m->now + m->cfg->shutdown_delay;
			atomic_store(&m->board->draining, true);
			log_msg(LOG_INFO, "TERM: not ready; serving %.3g s more before the graceful stop",
				m->cfg->shutdown_delay);
		} else {
			stop(m, m->state == GRACEFUL ? FAST : GRACEFUL);
		}
		break;
	case SIGINT:
	case SIGQUIT: stop(m, FAST); break;
	case SIGHUP: roll_over(m, "Hang up"); break;
	case SIGTTIN: resize(m, 1); break;
	case SIGTTOU: resize(m, -1); break;
	case SIGUSR1: log_msg(LOG_INFO, "USR1: logs go to stdout and stderr, nothing to reopen"); break;
	default: log_msg(LOG_DEBUG, "Ignoring %s", strsignal(sig)); break;
	}
}

static void on_notes(struct master *m)
{
	struct slot_msg msg;
	while (read(m->notes[0], &msg, sizeof msg) == sizeof msg) {
		if (msg.slot >= SLOTS_MAX)
			continue;
		struct slot *s = &m->slots[msg.slot];
		if (msg.note == NOTE_READY && s->state == BOOTING)
			s->state = READY;
		else if ((msg.note == NOTE_RETIRE || msg.note == NOTE_RETIRE_RSS) && s->state == READY) {
			s->state = RETIRING;
			s->reason = msg.note == NOTE_RETIRE_RSS ? RESTART_RSS : RESTART_MAX_REQUESTS;
		}
	}
}

/* RELOAD: reads what changed, and rolls over once the files are quiet. */
static void on_changes(struct master *m, bool readable)
{
	if (readable && reload_read(m->reload, m->changed, sizeof m->changed) > 0)
		m->reload_at = m->now + RELOAD_QUIET;
	if (m->reload_at && m->now >= m->reload_at) {
		char why[600];
		snprintf(why, sizeof why, "RELOAD: %s changed", m->changed);
		m->reload_at = 0;
		roll_over(m, why);
	}
}

/* The admin endpoints' view of the workers. */
static void serve_admin(struct master *m, const struct pollfd *fds, int n)
{
	static pid_t pids[SLOTS_MAX];
	static int numbers[SLOTS_MAX];
	int nw = 0;
	bool live = false;
	long long now = slots_now_ms(), limit = (long long)(m->cfg->timeout * 1000);
	for (int i = 0; i < SLOTS_MAX; i++) {
		const struct slot *s = &m->slots[i];
		if (s->state == FREE)
			continue;
		pids[nw] = s->pid;
		numbers[nw++] = s->number;
		long long beat = atomic_load(&m->board->slot[i].beat_ms);
		live |= s->state != BOOTING && beat && (!limit || now - beat <= limit);
	}
	struct admin_view v = {
		.live = live,
		.ready = m->state == RUNNING && count(m, ready) > 0,
		.board = m->board, .retired = &m->retired, .pids = pids, .numbers = numbers,
		.nworkers = nw, .restarts = m->restarts, .ls = m->ls,
		.nls = m->state < GRACEFUL ? m->nls : 0, /* closed once the stop began */
		.start_time = m->start_time,
	};
	admin_serve(m->admin, fds, n, m->now, &v);
}

/* TIMEOUT: an app call (or the loop itself) silent too long. SIGABRT makes
 * faulthandler print every thread's traceback; SIGKILL follows. */
static void check_timeouts(struct master *m)
{
	long long now = slots_now_ms(), limit = (long long)(m->cfg->timeout * 1000);
	for (int i = 0; i < SLOTS_MAX; i++) {
		struct slot *s = &m->slots[i];
		if (s->state == STOPPING && m->now >= s->kill_at) {
			kill(s->pid, SIGKILL);
			s->kill_at = m->now + 60;
		}
		if (!limit || s->state == FREE || s->state == BOOTING || s->aborted)
			continue;
		long long busy = atomic_load(&m->board->slot[i].busy_since_ms);
		long long beat = atomic_load(&m->board->slot[i].beat_ms);
		/* An idle loop turns every second: give it that second and one more. */
		if ((busy && now - busy > limit) || (!busy && beat && now - beat > limit + 2000)) {
			log_msg(LOG_CRITICAL, "WORKER TIMEOUT (pid:%d)", (int)s->pid);
			kill(s->pid, SIGABRT);
			s->aborted = true;
			if (s->state != STOPPING || s->kill_at > m->now + ABORT_GRACE)
				s->kill_at = m->now + ABORT_GRACE;
			s->state = STOPPING;
		}
	}
}

/* The signals the master reads from its signalfd. */
static sigset_t handled(void)
{
	static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP,
				   SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH};
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaddset(&set, sigs[i]);
	return set;
}

void master_hold_signals(void)
{
	sigset_t set = handled();
	sigprocmask(SIG_BLOCK, &set, NULL);
}

static int setup(struct master *m)
{
	sigset_t set = handled();
	if ((m->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    pipe2(m->notes, O_CLOEXEC) < 0 || fcntl(m->notes[0], F_SETFL, O_NONBLOCK) < 0 ||
	    !(m->board = slots_map())) {
		log_msg(LOG_CRITICAL, "master setup: %s", strerror(errno));
		return -1;
	}
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_msg(LOG_WARNING, "cannot become a child subreaper: %s", strerror(errno));
	return 0;
}

static int wait_ms(const struct master *m)
{
	double ms = 1000; /* timeouts are checked every second */
	if (m->state <= DELAYING && count(m, serving) < m->target)
		ms = (m->respawn_at - m->now) * 1000 + 1;
	if (m->state == DELAYING && (m->delay_until - m->now) * 1000 + 1 < ms)
		ms = (m->delay_until - m->now) * 1000 + 1;
	if (m->reload_at && (m->reload_at - m->now) * 1000 + 1 < ms)
		ms = (m->reload_at - m->now) * 1000 + 1;
	return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

int master_run(const struct config *cfg, const struct listener *ls, int nls, struct admin *admin,
	       const struct static_files *statics)
{
	static struct master m; /* one per process, and too big for the stack */
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	m = (struct master){.cfg = cfg, .ls = ls, .nls = nls, .admin = admin, .statics = statics,
			    .target = cfg->workers,
			    .now = now_s(), .start_time = wall.tv_sec + wall.tv_nsec / 1e9};
	if (setup(&m) < 0 || (cfg->reload && !(m.reload = reload_open("."))))
		return EXIT_ERROR;
	proctitle_set("wsginit: master [%s]", cfg->app);
	log_msg(LOG_INFO, "Starting %d workers (%d thread%s each)", cfg->workers, cfg->threads,
		cfg->threads > 1 ? "s" : "");
	while (m.state == RUNNING || count(&m, any) > 0) {
		maintain(&m);
		struct pollfd p[3 + 1 + ADMIN_CONNS] = {{.fd = m.sigfd, .events = POLLIN},
							 {.fd = m.notes[0], .events = POLLIN},
							 {.fd = m.reload ? reload_fd(m.reload) : -1, .events = POLLIN}};
		int np = 3 + (admin ? admin_fds(admin, p + 3) : 0);
		poll(p, (nfds_t)np, wait_ms(&m));
		m.now = now_s();
		struct signalfd_siginfo si;
		while (read(m.sigfd, &si, sizeof si) == sizeof si)
			on_signal(&m, (int)si.ssi_signo);
		on_notes(&m);
		if (m.reload)
			on_changes(&m, p[2].revents);
		check_timeouts(&m);
		if (admin)
			serve_admin(&m, p + 3, np - 3);
		if (m.state == DELAYING && m.now >= m.delay_until)
			stop(&m, GRACEFUL);
	}
	reap(&m);
	log_msg(LOG_INFO, "Shutting down: exit %d", m.exit_code);
	return m.exit_code;
}
