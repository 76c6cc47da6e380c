/* How many CPUs this process may use: the cgroup quota, else its affinity. */
#pragma once

struct cpus {
	int count;
	char source[128]; /* e.g. cgroup v2 cpu.max "150000 100000" */
};

/* Fills *out. root prefixes every path read ("" for the real filesystem). */
void cpus_detect(const char *root, struct cpus *out);
