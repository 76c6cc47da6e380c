#include "tmpdir.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tmpdir_check(void)
{
	/* Python's tempfile takes the first writable of these (its
	 * _candidate_tempdir_list; empty variables are skipped). TMPDIR, TEMP and
	 * TMP are Python's variables, not wsginit's: read where they are checked. */
	static const char *const vars[] = {"TMPDIR", "TEMP", "TMP"};
	const char *name[7], *dir[7];
	int n = 0;
	for (int i = 0; i < 3; i++)
		if (getenv(vars[i]) && *getenv(vars[i]))
			name[n] = vars[i], dir[n++] = getenv(vars[i]);
	static const char *const fixed[] = {"/tmp", "/var/tmp", "/usr/tmp", "."};
	for (int i = 0; i < 4; i++)
		name[n] = NULL, dir[n++] = fixed[i];
	if (access(dir[0], W_OK | X_OK) == 0)
		return;
	int err = errno;
	const char *used = NULL;
	for (int i = 1; i < n && !used; i++)
		if (access(dir[i], W_OK | X_OK) == 0)
			used = strcmp(dir[i], ".") ? dir[i] : "the working directory";
	log_msg(LOG_WARNING,
		"%s%s%s is not writable by uid %u (%s): file uploads that frameworks spool to disk "
		"(Flask/Werkzeug, Django) and Python's tempfile %s%s; mount a tmpfs there "
		"(docker run --tmpfs /tmp, a Kubernetes emptyDir at /tmp) or set TMPDIR to a writable directory",
		name[0] ? name[0] : "", name[0] ? "=" : "", dir[0], (unsigned)getuid(), strerror(err),
		used ? "go to " : "will fail", used ? used : "");
}
