#include "tmpdir.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tmpdir_check(void)
{
	/* TMPDIR is Python's variable, not one of wsginit's: read where it is
	 * checked. Python skips an empty one, as here. */
	const char *env = getenv("TMPDIR");
	const char *dir = env && *env ? env : "/tmp";
	if (access(dir, W_OK | X_OK) == 0)
		return;
	log_msg(LOG_WARNING,
		"%s%s is not writable by uid %u (%s): file uploads that frameworks spool to disk "
		"(Flask/Werkzeug, Django) and Python's tempfile will fail; mount a tmpfs there "
		"(docker run --tmpfs /tmp, a Kubernetes emptyDir at /tmp) or set TMPDIR to a writable directory",
		dir == env ? "TMPDIR=" : "", dir, (unsigned)getuid(), strerror(errno));
}
