/* Privileges: each step checked, in a fixed order. The bounding set goes
 * first because dropping it needs CAP_SETPCAP, which setuid() takes away. */
#include "privs.h"

#include "log.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

static int fail(const char *what)
{
	log_msg(LOG_CRITICAL, "cannot drop privileges: %s: %s", what, strerror(errno));
	return -1;
}

static int clear_bounding_set(void)
{
	for (cap_value_t c = 0; c <= cap_max_bits(); c++)
		if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) < 0 && errno != EINVAL)
			return -1;
	return 0;
}

static int clear_caps(void)
{
	cap_t none = cap_init(); /* every flag of every capability clear */
	if (!none)
		return -1;
	int rc = cap_set_proc(none);
	cap_free(none);
	return rc;
}

static int switch_user(const struct config *cfg)
{
	if (setgroups(1, &cfg->gid) < 0)
		return fail("setgroups");
	if (setgid(cfg->gid) < 0)
		return fail("setgid");
	if (setuid(cfg->uid) < 0)
		return fail("setuid");
	if (setuid(0) == 0 || getuid() != cfg->uid || geteuid() != cfg->uid || getegid() != cfg->gid)
		return errno = EPERM, fail("root could be regained");
	return 0;
}

static void log_result(void)
{
	cap_t now = cap_get_proc();
	char *text = now ? cap_to_text(now, NULL) : NULL;
	log_msg(LOG_INFO, "Running as uid=%u gid=%u, capabilities \"%s\", no_new_privs=%d",
		(unsigned)getuid(), (unsigned)getgid(), text ? text : "?",
		prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
	cap_free(text);
	cap_free(now);
}

int privs_drop(const struct config *cfg)
{
	bool root = geteuid() == 0;
	if (!root && cfg->run_as_set && cfg->uid != geteuid())
		log_msg(LOG_WARNING, "RUN_AS ignored: only root can change users (running as uid %u)",
			(unsigned)geteuid());
	if (root && cfg->uid == 0) {
		log_msg(LOG_WARNING, "RUN_AS=%u:%u: the app runs as root with its capabilities",
			(unsigned)cfg->uid, (unsigned)cfg->gid);
	} else {
		if (root && clear_bounding_set() < 0)
			return fail("the capability bounding set");
		if (cap_reset_ambient() < 0 && errno != EINVAL)
			return fail("the ambient capabilities");
		if (root && switch_user(cfg) < 0)
			return -1;
		if (clear_caps() < 0)
			return fail("the capabilities");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("PR_SET_NO_NEW_PRIVS");
	log_result();
	return 0;
}
