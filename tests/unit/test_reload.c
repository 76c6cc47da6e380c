/* reload.c over a tree made under /tmp: which changes count, and that the
 * directories made after the start are watched. inotify queues an event
 * before the system call that caused it returns, so each check reads at once. */
#include "reload.h"
#include "unit.h"

#include <fcntl.h>
#include <sys/time.h>

static char root[64], what[PATH_MAX];

static void path(char *out, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", root, rel);
}

static void write_file(const char *rel)
{
	char p[PATH_MAX];
	path(p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "x = 1\n", 6) == 6);
	close(fd);
}

static void make_dir(const char *rel)
{
	char p[PATH_MAX];
	path(p, rel);
	CHECK(mkdir(p, 0755) == 0);
}

/* A tree with a package, a hidden directory and a bytecode cache. */
static struct reload *start(void)
{
	strcpy(root, "/tmp/wsginit-unit-reload-XXXXXX");
	if (!mkdtemp(root))
		unit_fail(__FILE__, __LINE__, "mkdtemp failed");
	make_dir("pkg");
	make_dir("pkg/sub");
	make_dir(".git");
	make_dir("__pycache__");
	write_file("app.py");
	struct reload *r = reload_open(root);
	CHECK(r != NULL);
	CHECK_EQ_INT(reload_read(r, what, sizeof what), 0);
	return r;
}

static void finish(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

static int changes(struct reload *r)
{
	what[0] = 0;
	return reload_read(r, what, sizeof what);
}

TEST(py_files_count_anywhere_in_the_tree)
{
	struct reload *r = start();
	char want[PATH_MAX];
	write_file("app.py");
	CHECK(changes(r) >= 1);
	path(want, "app.py");
	CHECK_EQ_STR(what, want);
	write_file("pkg/sub/deep.py");
	CHECK(changes(r) >= 1);
	path(want, "pkg/sub/deep.py");
	CHECK_EQ_STR(what, want);
	char from[PATH_MAX], to[PATH_MAX]; /* an editor's save: a temporary file renamed over */
	write_file("pkg/tmp1234");
	CHECK_EQ_INT(changes(r), 0);
	path(from, "pkg/tmp1234");
	path(to, "pkg/mod.py");
	CHECK(rename(from, to) == 0);
	CHECK_EQ_INT(changes(r), 1);
	CHECK_EQ_STR(what, to);
	CHECK(utimes(to, NULL) == 0); /* touch */
	CHECK_EQ_INT(changes(r), 1);
	CHECK(unlink(to) == 0);
	CHECK(changes(r) >= 1);
	finish();
}

TEST(other_files_hidden_files_and_bytecode_do_not_count)
{
	struct reload *r = start();
	write_file("notes.txt");
	write_file("app.pyc");
	write_file(".app.py.swp");
	write_file(".#app.py");
	write_file(".git/x.py");
	write_file("__pycache__/app.cpython-311.pyc");
	write_file("__pycache__/x.py");
	make_dir(".venv");
	make_dir("pkg/__pycache__");
	write_file("pkg/__pycache__/mod.cpython-311.pyc");
	CHECK_EQ_INT(changes(r), 0);
	finish();
}

TEST(directories_made_after_the_start_are_watched)
{
	struct reload *r = start();
	char want[PATH_MAX];
	make_dir("newpkg");
	CHECK_EQ_INT(changes(r), 1); /* a new package may be what an edit imports */
	make_dir("newpkg/inner");
	CHECK_EQ_INT(changes(r), 1);
	write_file("newpkg/inner/x.py");
	CHECK(changes(r) >= 1);
	path(want, "newpkg/inner/x.py");
	CHECK_EQ_STR(what, want);
	finish();
}

TEST(a_tree_moved_in_is_watched_whole)
{
	struct reload *r = start();
	char outside[64], cmd[256], want[PATH_MAX];
	strcpy(outside, "/tmp/wsginit-unit-reload-out-XXXXXX");
	CHECK(mkdtemp(outside) != NULL);
	snprintf(cmd, sizeof cmd, "mkdir -p %s/moved/a/b", outside);
	CHECK(system(cmd) == 0);
	char from[PATH_MAX], to[PATH_MAX];
	snprintf(from, sizeof from, "%s/moved", outside);
	path(to, "moved");
	CHECK(rename(from, to) == 0);
	CHECK_EQ_INT(changes(r), 1);
	write_file("moved/a/b/c.py");
	CHECK(changes(r) >= 1);
	path(want, "moved/a/b/c.py");
	CHECK_EQ_STR(what, want);
	rmdir(outside);
	finish();
}

TEST(a_missing_directory_is_an_error)
{
	CHECK(reload_open("/nonexistent/wsginit-reload") == NULL);
}

UNIT_MAIN()
