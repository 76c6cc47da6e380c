/* cpus_detect() over fixture trees under tests/unit/fixtures/NAME, each a
 * fake root with proc/self/cgroup and sys/fs/cgroup/... */
#include "cpus.h"
#include "unit.h"

#include <sched.h>

static int affinity_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) < 0)
		return 1;
	return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

static struct cpus detect(const char *fixture)
{
	char root[PATH_MAX];
	struct cpus c;
	memset(&c, 0x5a, sizeof c); /* garbage: every field must be written */
	if (snprintf(root, sizeof root, "%s/%s", unit_fixtures(), fixture) >= (int)sizeof root)
		unit_fail(__FILE__, __LINE__, "fixture path too long");
	cpus_detect(root, &c);
	c.source[sizeof c.source - 1] = 0;
	return c;
}

#define CHECK_SOURCE_HAS(c, s)                                                    \
	do {                                                                      \
		if (!strstr((c).source, (s)))                                     \
			unit_fail(__FILE__, __LINE__, "source \"%s\" lacks \"%s\"", \
				  (c).source, (s));                               \
	} while (0)

static void check_affinity(const struct cpus *c, const char *file, int line)
{
	if (c->count != affinity_count())
		unit_fail(file, line, "count %d != sched_getaffinity %d", c->count, affinity_count());
	if (!strstr(c->source, "sched_getaffinity"))
		unit_fail(file, line, "source \"%s\" does not name sched_getaffinity", c->source);
}
#define CHECK_AFFINITY(c) check_affinity(&(c), __FILE__, __LINE__)

TEST(fixtures_are_found)
{
	struct stat st;
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/v2-quota/proc/self/cgroup", unit_fixtures()) >= (int)sizeof path)
		path[0] = 0;
	CHECK(stat(path, &st) == 0);
}

TEST(v2_quota_rounds_up)
{
	struct cpus c = detect("v2-quota"); /* 150000/100000 = 1.5 */
	CHECK_EQ_INT(c.count, 2);
	CHECK_SOURCE_HAS(c, "cpu.max");
	CHECK_SOURCE_HAS(c, "150000 100000");
}

TEST(v2_max_falls_back_to_affinity)
{
	struct cpus c = detect("v2-max");
	CHECK_AFFINITY(c);
}

TEST(v2_quota_on_parent_only)
{
	struct cpus c = detect("v2-parent"); /* ctr: max, pod1: 250000/100000 */
	CHECK_EQ_INT(c.count, 3);
	CHECK_SOURCE_HAS(c, "cpu.max");
	CHECK_SOURCE_HAS(c, "250000 100000");
}

TEST(v2_tightest_of_several_levels)
{
	/* a: 4 CPUs, a/b: 0.5 CPU, a/b/c: 3 CPUs */
	struct cpus c = detect("v2-tightest");
	CHECK_EQ_INT(c.count, 1);
	CHECK_SOURCE_HAS(c, "50000 100000");
	CHECK(!strstr(c.source, "300000"));
	CHECK(!strstr(c.source, "400000"));
}

TEST(v2_root_cgroup)
{
	struct cpus c = detect("v2-root"); /* "0::/" with cpu.max at the mount */
	CHECK_EQ_INT(c.count, 2);
	CHECK_SOURCE_HAS(c, "200000 100000");
}

TEST(v2_eight_cpus)
{
	struct cpus c = detect("v2-eight");
	CHECK_EQ_INT(c.count, 8);
	CHECK_SOURCE_HAS(c, "800000 100000");
}

TEST(v1_quota_and_period)
{
	struct cpus c = detect("v1-quota"); /* cpu,cpuacct 250000/100000 */
	CHECK_EQ_INT(c.count, 3);
	CHECK_SOURCE_HAS(c, "cpu.cfs_quota_us");
	CHECK_SOURCE_HAS(c, "250000");
	CHECK_SOURCE_HAS(c, "100000");
}

TEST(v1_quota_minus_one_falls_back)
{
	struct cpus c = detect("v1-unlimited");
	CHECK_AFFINITY(c);
}

TEST(v1_quota_on_parent_with_cpuacct_cpu_mount)
{
	struct cpus c = detect("v1-parent"); /* abc: -1, docker: 100000/50000 */
	CHECK_EQ_INT(c.count, 2);
	CHECK_SOURCE_HAS(c, "100000");
	CHECK_SOURCE_HAS(c, "50000");
}

TEST(v1_missing_quota_file_falls_back)
{
	struct cpus c = detect("v1-partial");
	CHECK_AFFINITY(c);
}

TEST(hybrid_uses_unified)
{
	/* v1 cpu,cpuacct has no quota; v2 at sys/fs/cgroup/unified has 3 CPUs */
	struct cpus c = detect("hybrid");
	CHECK_EQ_INT(c.count, 3);
	CHECK_SOURCE_HAS(c, "cpu.max");
	CHECK_SOURCE_HAS(c, "300000 100000");
}

TEST(no_controller_files_falls_back)
{
	struct cpus c = detect("no-files");
	CHECK_AFFINITY(c);
}

TEST(missing_root_falls_back)
{
	struct cpus c = detect("does-not-exist");
	CHECK_AFFINITY(c);
}

TEST(count_is_at_least_one)
{
	static const char *const all[] = {"v2-quota", "v2-max", "v2-parent", "v2-tightest",
					  "v2-root", "v1-quota", "v1-unlimited", "v1-parent",
					  "hybrid", "no-files", "does-not-exist"};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		struct cpus c = detect(all[i]);
		CHECK(c.count >= 1);
		CHECK(c.source[0] != 0);
	}
}

UNIT_MAIN()
