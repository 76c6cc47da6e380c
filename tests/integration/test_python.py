"""`wsginit --python ARGS...` runs the embedded interpreter as `python3 ARGS...`
(uWSGI's --pyrun) for images without a python3 binary: python3's exit status,
stdio and REPL; the workers' sys.path and user; the environment checked as the
server checks it, APP aside. The same in the image's rootfs: test_container.py."""
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import time

import pytest

from conftest import APPS, BINARY, PYTHON, readable_dir, require_django, run_binary

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")


def python(*args, input=None, **env):
    """`wsginit --python ARGS...` (CHDIR=APPS unless env says otherwise, no APP)."""
    return run_binary(env, ["--python", *args], input=input, timeout=120)


def with_python3(args, input=None, **env):
    """[(status, stdout, stderr)] of `wsginit --python ARGS...` and of `python3 ARGS...`
    started in CHDIR with the same environment."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", **env}
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CHDIR": APPS, **env}
    theirs = subprocess.run([PYTHON, *args], cwd=full["CHDIR"], env=full, input=input,
                            capture_output=True, text=True, timeout=60)
    ours = python(*args, input=input, **env)
    return [(r.returncode, r.stdout, r.stderr) for r in (ours, theirs)]


@pytest.fixture
def tmpdirs():
    """tmpdirs() makes a 0755 directory RUN_AS can enter; all are removed at teardown."""
    made = []

    def make():
        made.append(readable_dir("wsginit-python-"))
        return made[-1]
    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


# ---------------------------------------------------------------- python3's behaviour

SAME_AS_PYTHON3 = {
    "exit code": (["-c", "import sys; print(sys.argv); print('e', file=sys.stderr); sys.exit(3)",
                   "a", "b c"], None),
    "exit message": (["-c", "import sys; sys.exit('bye')"], None),
    "uncaught exception": (["-c", "def f():\n    1/0\nf()"], None),
    "keyboard interrupt": (["-c", "import os, signal; os.kill(os.getpid(), signal.SIGINT)"], None),
    "options": (["-O", "-B", "-c", "import sys; print(sys.flags.optimize, sys.dont_write_bytecode)"], None),
    "signal handlers": (["-c", "import signal as s; print(s.getsignal(s.SIGINT), s.getsignal(s.SIGPIPE))"],
                        None),
    "module reading stdin": (["-m", "json.tool", "--sort-keys"], '{"b": [1, 2], "a": "x"}'),
    "program from stdin": (["-", "x"], "import sys; print(sys.argv)"),
    "no arguments, stdin not a tty": ([], "print(6 * 7)\nraise SystemExit(4)\n"),
    "bad option": (["-Z"], None),
    "version": (["--version"], None),
}


@pytest.mark.parametrize("args, stdin", SAME_AS_PYTHON3.values(), ids=SAME_AS_PYTHON3.keys())
def test_status_and_stdio_are_python3s(args, stdin):
    ours, theirs = with_python3(args, stdin)
    assert ours == theirs


def test_script_with_arguments_and_its_exit_code(tmpdirs):
    script = write(os.path.join(tmpdirs(), "cmd.py"),
                   "import sys\nprint(__name__, sys.argv)\nprint('to stderr', file=sys.stderr)\n"
                   "sys.exit(int(sys.argv[1]))\n")
    ours, theirs = with_python3([script, "7", "b c"])
    assert ours == theirs == (7, "__main__ %r\n" % ([script, "7", "b c"],), "to stderr\n")


def test_uncaught_exception_exits_1_with_the_traceback():
    r = python("-c", "import json\njson.loads('{')")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("Traceback (most recent call last):\n")
    assert r.stderr.endswith("json.decoder.JSONDecodeError: Expecting property name enclosed in double "
                             "quotes: line 1 column 2 (char 1)\n")


class Terminal:
    """`wsginit --python ARGS...` on a new pseudo-terminal, its controlling one
    (`docker run -it`): .expect(text), .send(text), .wait() -> exit status."""

    def __init__(self, *args, **env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes wsginit or exits, never returns to pytest
            try:
                os.execve(BINARY, [BINARY, "--python", *args], {"CHDIR": APPS, **env})
            finally:
                os._exit(127)
        self.seen = bytearray()
        self.status = None

    def expect(self, text, timeout=15.0):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            try:
                chunk = os.read(self.fd, 4096) if ready else b""
            except OSError:  # EIO: the other side of the terminal is closed
                chunk = b""
            assert chunk, "no %r on the terminal; it shows %r" % (text, bytes(self.seen))
            self.seen += chunk

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self):
        self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        os.close(self.fd)
        return self.status


@pytest.fixture
def terminal():
    """terminal(*args, **env) starts a Terminal; any still running is killed at teardown."""
    started = []

    def start(*args, **env):
        started.append(Terminal(*args, **env))
        return started[-1]
    yield start
    for t in started:
        if t.status is None:
            os.kill(t.pid, signal.SIGKILL)
            t.wait()


def test_repl_when_stdin_is_a_tty(terminal):
    t = terminal()
    t.expect(">>> ")
    t.send("import os; print(6 * 7, os.getcwd())\n")
    t.expect("42 %s" % APPS)
    t.send("raise SystemExit(5)\n")
    assert t.wait() == 5
    assert t.seen.startswith(b"Python 3.")


# ---------------------------------------------------------------- the server's sys.path and user

def test_sys_path_is_python3s_first_entry_then_chdir(tmpdirs):
    app, scripts = tmpdirs(), tmpdirs()
    write(os.path.join(app, "appmod.py"), "WHERE = 'CHDIR'\n")
    show = "import json, os, sys, appmod\nprint(json.dumps([sys.path[:2], os.getcwd(), appmod.WHERE]))\n"
    write(os.path.join(app, "showpath.py"), show)
    script = write(os.path.join(scripts, "showpath.py"), show)
    for args, first in (([script], scripts), (["-c", show], ""), (["-m", "showpath"], app)):
        r = python(*args, CHDIR=app)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == [[first, app], app, "CHDIR"]


STATUS = ("import json, os\n"
          "s = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines())\n"
          "print(json.dumps([os.getuid(), os.getgid(), os.getgroups()] +"
          " [s[k] for k in ('CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp')]))\n")
NO_CAPS = "0" * 16


@as_root
@pytest.mark.parametrize("run_as, uid, gid", [(None, 65532, 65532), ("nobody", 65534, 65534),
                                             ("1234:1235", 1234, 1235)])
def test_runs_as_the_run_as_user_without_capabilities(run_as, uid, gid):
    r = python("-c", STATUS, **({"RUN_AS": run_as} if run_as else {}))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # the server's privilege drop; no seccomp filter (a management command)
    assert json.loads(r.stdout) == [uid, gid, [gid], NO_CAPS, NO_CAPS, "1", "0"]


USERS = "from django.contrib.auth.models import User; print(list(User.objects.values_list('username')))"


@pytest.fixture
def django_env(tmpdirs):
    """The test project's settings, on a database file in a directory only the run-as
    user needs to write: as `docker run -v data:/data image --python manage.py migrate`."""
    require_django()
    data = tmpdirs()
    os.chmod(data, 0o777)
    return {"DJANGO_DB_PATH": os.path.join(data, "db.sqlite3"),
            "DJANGO_SETTINGS_MODULE": "djangoproject.settings"}


def test_django_manage_py_migrate_createsuperuser_check_and_shell(django_env):
    r = python("djangoproject/manage.py", "migrate", "--noinput", **django_env)
    assert r.returncode == 0, r.stderr
    assert "Applying auth.0001_initial... OK" in r.stdout and r.stderr == ""
    r = python("djangoproject/manage.py", "createsuperuser", "--noinput", "--username", "boss",
               "--email", "boss@example.com", DJANGO_SUPERUSER_PASSWORD="s3cret-pass-w0rd", **django_env)
    assert (r.returncode, r.stdout) == (0, "Superuser created successfully.\n"), r.stderr
    r = python("djangoproject/manage.py", "check", **django_env)
    assert (r.returncode, r.stdout) == (0, "System check identified no issues (0 silenced).\n"), r.stderr
    r = python("-m", "django", "shell", "-c", USERS, **django_env)
    assert (r.returncode, r.stdout) == (0, "[('boss',)]\n"), r.stderr
    r = python("djangoproject/manage.py", "migrate", "no_such_app", **django_env)
    assert r.returncode == 1 and "CommandError: No installed app with label 'no_such_app'." in r.stderr
    if os.geteuid() == 0:
        assert os.stat(django_env["DJANGO_DB_PATH"]).st_uid == 65532


def test_django_createsuperuser_at_a_terminal(django_env, terminal):
    assert python("djangoproject/manage.py", "migrate", "--noinput", "-v", "0", **django_env).returncode == 0
    t = terminal("djangoproject/manage.py", "createsuperuser", **django_env)
    for prompt, answer in (("Username", "chief"), ("Email address: ", "chief@example.com"),
                           ("Password: ", "s3cret-pass-w0rd"), ("Password (again): ", "s3cret-pass-w0rd")):
        t.expect(prompt)
        t.send(answer + "\n")
    t.expect("Superuser created successfully.")
    assert t.wait() == 0
    assert b"s3cret" not in t.seen  # getpass turned the echo off
    assert python("-m", "django", "shell", "-c", USERS, **django_env).stdout == "[('chief',)]\n"


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize("env, name", [
    ({"WORKERS": "0"}, "WORKERS"),
    ({"APP": "not a module"}, "APP"),
    ({"CHDIR": "/nonexistent"}, "CHDIR"),
    ({"RUN_AS": "no-such-user"}, "RUN_AS"),
    ({"LOG_LEVEL": ""}, "LOG_LEVEL"),
])
def test_a_bad_variable_stops_it_with_exit_2_and_one_line(env, name):
    r = python("-c", "print('ran')", **env)
    assert (r.returncode, r.stdout) == (2, "")
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("wsginit: " + name), r.stderr


def test_app_is_not_needed_and_not_invented():
    r = python("-c", "import os; print(os.environ.get('APP'))")
    assert (r.returncode, r.stdout, r.stderr) == (0, "None\n", "")
    assert run_binary({}, ["--check"]).returncode == 2  # the server still needs it


def test_help_lists_it():
    r = run_binary({}, ["--help"])
    assert r.returncode == 0 and "--python ARGS..." in r.stdout.splitlines()[0]
