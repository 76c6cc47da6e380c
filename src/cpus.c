/* CPU count from cgroup v2 cpu.max or v1 cfs quota, walking up from the
 * process's own cgroup (/proc/self/cgroup) to the mount root and taking the
 * tightest quota on the way; without a quota, sched_getaffinity. */
#include "cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *ok = fgets(buf, (int)len, f);
	fclose(f);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* Quota and period of one cgroup directory, or -1 when it sets no quota. */
static int v2_quota(const char *dir, long *quota, long *period, char *text, size_t len)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/cpu.max", dir);
	if (read_line(path, text, len) < 0)
		return -1;
	return sscanf(text, "%ld %ld", quota, period) == 2 && *quota > 0 && *period > 0 ? 0 : -1;
}

static int v1_quota(const char *dir, long *quota, long *period, char *text, size_t len)
{
	char path[PATH_MAX], q[32], p[32];
	snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
	if (read_line(path, q, sizeof q) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
	if (read_line(path, p, sizeof p) < 0)
		return -1;
	*quota = strtol(q, NULL, 10);
	*period = strtol(p, NULL, 10);
	snprintf(text, len, "%s/%s", q, p);
	return *quota > 0 && *period > 0 ? 0 : -1;
}

typedef int quota_fn(const char *, long *, long *, char *, size_t);

/* Walks mount/path up to mount; keeps the smallest quota/period found. */
static int walk(const char *mount, const char *path, quota_fn *fn, struct cpus *out,
		const char *label)
{
	char dir[PATH_MAX], text[64];
	long q, p;
	int best = 0;
	snprintf(dir, sizeof dir, "%s%s", mount, strcmp(path, "/") ? path : "");
	for (;;) {
		if (fn(dir, &q, &p, text, sizeof text) == 0) {
			int n = (int)((q + p - 1) / p);
			if (n < 1)
				n = 1;
			if (!best || n < best) {
				best = n;
				snprintf(out->source, sizeof out->source, "%s \"%s\"", label, text);
			}
		}
		char *slash = strrchr(dir, '/');
		if (strlen(dir) <= strlen(mount) || !slash)
			break;
		*slash = 0;
	}
	if (best)
		out->count = best;
	return best ? 0 : -1;
}

static int from_cgroup(const char *root, struct cpus *out)
{
	char path[PATH_MAX], line[PATH_MAX + 64], mount[PATH_MAX];
	snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int found = -1;
	while (found < 0 && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		char *ctrl = strchr(line, ':');
		char *cgpath = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (!cgpath)
			continue;
		*cgpath++ = 0;
		*ctrl++ = 0;
		if (!strcmp(line, "0") && !*ctrl) {
			snprintf(mount, sizeof mount, "%s/sys/fs/cgroup", root);
			found = walk(mount, cgpath, v2_quota, out, "cgroup v2 cpu.max");
			if (found < 0) { /* hybrid hosts mount v2 at unified/ */
				snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/unified", root);
				found = walk(mount, cgpath, v2_quota, out, "cgroup v2 cpu.max");
			}
			continue;
		}
		for (char *c = strtok(ctrl, ","); c; c = strtok(NULL, ","))
			if (!strcmp(c, "cpu")) {
				static const char *const dirs[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};
				for (size_t i = 0; found < 0 && i < sizeof dirs / sizeof *dirs; i++) {
					snprintf(mount, sizeof mount, "%s/sys/fs/cgroup/%s", root, dirs[i]);
					found = walk(mount, cgpath, v1_quota, out,
						     "cgroup v1 cpu.cfs_quota_us/cpu.cfs_period_us");
				}
				break;
			}
	}
	fclose(f);
	return found;
}

void cpus_detect(const char *root, struct cpus *out)
{
	if (from_cgroup(root, out) == 0)
		return;
	cpu_set_t set;
	out->count = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
	if (out->count < 1)
		out->count = 1;
	snprintf(out->source, sizeof out->source, "sched_getaffinity (no cgroup cpu quota)");
}
