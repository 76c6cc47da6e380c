/* A tiny header-only test harness.
 *
 *   TEST(name) { CHECK(x); CHECK_EQ_INT(a, b); CHECK_EQ_STR(s, "t"); }
 *   UNIT_MAIN()
 *
 * A failed check prints file:line and the test goes on. Each test runs in a
 * forked child, so a crash fails that test only (UNIT_NOFORK=1 runs them in
 * process, for a debugger). The last line is always "N passed, N failed",
 * counting test functions; the exit status is non-zero if any failed. */
#pragma once
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNIT_MAX_TESTS 512

struct unit_test {
	const char *name;
	void (*fn)(void);
};

struct unit_state {
	struct unit_test tests[UNIT_MAX_TESTS];
	int ntests;
	const char *current;
	int failures; /* failed checks in the current test */
};

static inline struct unit_state *unit_state(void)
{
	static struct unit_state s;
	return &s;
}

static inline void unit_register(const char *name, void (*fn)(void))
{
	struct unit_state *s = unit_state();
	if (s->ntests == UNIT_MAX_TESTS) {
		fprintf(stderr, "unit.h: more than %d tests\n", UNIT_MAX_TESTS);
		abort();
	}
	s->tests[s->ntests++] = (struct unit_test){name, fn};
}

__attribute__((format(printf, 3, 4)))
static inline void unit_fail(const char *file, int line, const char *fmt, ...)
{
	struct unit_state *s = unit_state();
	va_list ap;
	printf("%s:%d: %s: ", file, line, s->current ? s->current : "?");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	s->failures++;
}

/* Registers a test function; tests run in the order they are defined. */
#define TEST(name)                                                                \
	static void name(void);                                                   \
	__attribute__((constructor)) static void unit_register_##name(void)      \
	{                                                                         \
		unit_register(#name, name);                                       \
	}                                                                         \
	static void name(void)

#define CHECK(cond)                                                               \
	do {                                                                      \
		if (!(cond))                                                      \
			unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);        \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                        \
	do {                                                                      \
		long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);     \
		if (unit_a_ != unit_b_)                                           \
			unit_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, \
				  #b, unit_a_, unit_b_);                          \
	} while (0)

#define CHECK_EQ_STR(a, b)                                                        \
	do {                                                                      \
		const char *unit_a_ = (a), *unit_b_ = (b);                        \
		if (!unit_a_ || !unit_b_ ? unit_a_ != unit_b_ : strcmp(unit_a_, unit_b_)) \
			unit_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, \
				  #b, unit_a_ ? unit_a_ : "(null)",               \
				  unit_b_ ? unit_b_ : "(null)");                  \
	} while (0)

/* n bytes at p equal the C string s (for slices of a buffer). */
#define CHECK_EQ_MEM(p, n, s)                                                     \
	do {                                                                      \
		const char *unit_p_ = (p), *unit_s_ = (s);                        \
		size_t unit_n_ = (size_t)(n);                                     \
		if (unit_n_ != strlen(unit_s_) || memcmp(unit_p_, unit_s_, unit_n_)) \
			unit_fail(__FILE__, __LINE__, "%s == %s: \"%.*s\" != \"%s\"", \
				  #p, #s, (int)(unit_n_ > 200 ? 200 : unit_n_),   \
				  unit_p_, unit_s_);                              \
	} while (0)

/* The directory of the fixture trees: tests/unit/fixtures, found from the
 * source path when run from the project root, else next to build/. */
static inline const char *unit_fixtures(void)
{
	static char dir[PATH_MAX];
	struct stat st;
	if (dir[0])
		return dir;
	const char *file = __FILE__, *slash = strrchr(file, '/');
	int n = snprintf(dir, sizeof dir, "%.*s/fixtures", slash ? (int)(slash - file) : 1,
			 slash ? file : ".");
	if (n < (int)sizeof dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return dir;
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[len > 0 ? len : 0] = 0;
	char *e = strrchr(exe, '/');
	if (e)
		*e = 0;
	if (snprintf(dir, sizeof dir, "%s/../tests/unit/fixtures", exe) >= (int)sizeof dir)
		dir[0] = 0;
	return dir;
}

/* Runs one test; returns true when it passed. */
static inline int unit_run_one(const struct unit_test *t, int fork_each)
{
	struct unit_state *s = unit_state();
	s->current = t->name;
	s->failures = 0;
	if (!fork_each) {
		t->fn();
		return s->failures == 0;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		t->fn();
		fflush(stdout);
		_exit(s->failures ? 1 : 0);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		;
	if (WIFSIGNALED(status)) {
		printf("%s: crashed with signal %d\n", t->name, WTERMSIG(status));
		return 0;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Runs every registered test (or those named in argv) and prints the one
 * closing line; returns the process exit status. */
static inline int unit_main(int argc, char **argv)
{
	struct unit_state *s = unit_state();
	const char *nofork = getenv("UNIT_NOFORK");
	int fork_each = !(nofork && *nofork && strcmp(nofork, "0"));
	int passed = 0, failed = 0;
	for (int i = 0; i < s->ntests; i++) {
		int wanted = argc < 2;
		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], s->tests[i].name);
		if (!wanted)
			continue;
		if (unit_run_one(&s->tests[i], fork_each)) {
			passed++;
		} else {
			failed++;
			printf("FAIL %s\n", s->tests[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	fflush(stdout);
	return failed ? 1 : 0;
}

#define UNIT_MAIN()                                                               \
	int main(int argc, char **argv)                                           \
	{                                                                         \
		return unit_main(argc, argv);                                     \
	}
