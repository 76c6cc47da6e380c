/* argv[0] and the environment strings that follow it are one block of memory:
 * once the environment is copied to the heap, the block can hold the title. */
#include "proctitle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static char *title;
static size_t room;

void proctitle_init(int argc, char **argv)
{
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	int n = 0;
	while (environ[n])
		n++;
	char **copy = malloc(((size_t)n + 1) * sizeof *copy);
	if (!copy)
		return;
	for (int i = 0; i < n; i++) {
		if (environ[i] == end)
			end = environ[i] + strlen(environ[i]) + 1;
		if (!(copy[i] = strdup(environ[i])))
			abort();
	}
	copy[n] = NULL;
	environ = copy;
	title = argv[0];
	room = (size_t)(end - argv[0]);
	for (int i = 1; i < argc; i++)
		argv[i] = NULL; /* their memory is the title's now */
}

void proctitle_set(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	prctl(PR_SET_NAME, buf); /* the 15-byte comm, for top and /proc/PID/stat */
	if (!title || room < 2)
		return;
	memset(title, 0, room);
	snprintf(title, room, "%s", buf);
}
