/* libFuzzer driver for configuration: lines NAME=value become the
 * environment; config_load_from() must accept them or name a variable,
 * never crash. Address variables are left out: they may resolve names. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VARS 32

static char *names[MAX_VARS], *values[MAX_VARS];
static int nvars;

static const char *get(const char *name)
{
	for (int i = 0; i < nvars; i++)
		if (!strcmp(names[i], name))
			return values[i];
	return strcmp(name, "APP") ? NULL : "app:application";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size), *save = NULL;
	nvars = 0;
	for (char *line = strtok_r(text, "\n", &save); line && nvars < MAX_VARS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = 0;
		if (strstr(line, "BIND") || !strcmp(line, "HOST"))
			continue;
		names[nvars] = line;
		values[nvars++] = eq + 1;
	}
	static struct config cfg;
	char err[512];
	if (config_load_from(&cfg, get, "/nonexistent", err, sizeof err) < 0 && !strchr(err, '='))
		if (!strstr(err, "is not set"))
			abort(); /* every error names its variable */
	free(text);
	return 0;
}
