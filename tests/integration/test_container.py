"""build/rootfs run as a container without a daemon: new pid, mount, uts and ipc
namespaces, the rootfs read-only with tmpfs /tmp, wsginit as PID 1 serving a
Flask app (Debian's python3-flask copied into the copy of the rootfs). The
network is the host's, so the test reaches BIND=127.0.0.1:port directly. Also
`wsginit --python` there, where no python3 binary exists: the test Django
project's manage.py (python3-django copied in too)."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import APPS, PYLINK, PYTHON, ROOT, children, free_port, require_django, wait_port

ENTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "enter_rootfs.py")
FLASK = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click")
DJANGO = ("django", "asgiref", "sqlparse", "pytz")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and chroot need root")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory):
    """A copy of a fresh build/rootfs (of the embedded Python) with Flask and Django in
    its site-packages, the app and the Django project in /app."""
    subprocess.run(["make", "-s", "-C", ROOT, "image-rootfs", "PY=" + PYTHON, "PYLINK=" + PYLINK], check=True,
                   stdout=subprocess.DEVNULL)
    root = str(tmp_path_factory.mktemp("container") / "rootfs")
    shutil.copytree(os.path.join(ROOT, "build", "rootfs"), root, symlinks=True)
    # From where the interpreter finds them (Debian's dist-packages, or the path
    # tests/pythons.py adds), with their bytecode: a read-only root compiles none.
    found, site = subprocess.run(
        [PYTHON, "-c", "import flask, os, sysconfig; "
                       "print(os.path.dirname(os.path.dirname(flask.__file__)), sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.split()
    for pkg in FLASK + DJANGO:  # translation sources (.po) left out
        shutil.copytree(os.path.join(found, pkg), os.path.join(root + site, pkg),
                        ignore=shutil.ignore_patterns("*.po"))
    shutil.copy(os.path.join(APPS, "container_app.py"), root + "/app")
    shutil.copytree(os.path.join(APPS, "djangoproject"), root + "/app/djangoproject",
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.mkdir(root + "/proc")
    os.mkdir(root + "/dev")
    return root


def entrypoint(root, user, *args):
    """The command line that runs `/wsginit ARGS...` as PID 1 of a container of root."""
    return ["unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--",
            "/usr/bin/python3", "-I", "-S", ENTER, root, user, *args]


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.split(":\t", 1) for line in f.read().splitlines())


class Container:
    """wsginit as PID 1 of a container; .pid is its pid seen from the host."""

    def __init__(self, root, user="root", **env):
        self.port = free_port()
        self.env = {"APP": "container_app:app", "BIND": "127.0.0.1:%d" % self.port,
                    "WORKERS": "2", "CHDIR": "/app", "PYTHONUNBUFFERED": "1",
                    "PYTHONDONTWRITEBYTECODE": "1", **env}
        self.proc = subprocess.Popen(entrypoint(root, user), env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_port(self.port, self.proc)
        self.pid = children(self.proc.pid)[0]

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=20) as r:
            return r.status, r.read().decode()

    def json(self, path):
        status, body = self.get(path)
        assert status == 200
        return json.loads(body)

    def workers(self, n=2, timeout=10.0):
        """The workers' /proc status, once n of them have installed seccomp."""
        deadline = time.monotonic() + timeout
        while True:
            found = [status(p) for p in children(self.pid)]
            if len(found) == n and all(s["Seccomp"] != "0" for s in found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.err = err.decode("utf-8", "replace")
        return self.proc.returncode, out.decode("utf-8", "replace"), self.err


@pytest.fixture
def container(rootfs):
    started = []

    def start(user="root", **env):
        c = Container(rootfs, user, **env)
        started.append(c)
        return c
    yield start
    for c in started:
        print(c.stop(signal.SIGKILL)[2])  # shown when a test failed


def assert_locked_down(worker, uid="65532"):
    assert worker["Uid"].split() == [uid] * 4
    assert worker["CapEff"] == worker["CapPrm"] == worker["CapBnd"] == "0" * 16
    assert worker["NoNewPrivs"] == "1"
    assert worker["Seccomp"] == "2"


def test_pid1_serves_flask_with_workers_locked_down(container):
    c = container()
    assert status(c.pid)["NSpid"].split()[-1] == "1"
    assert c.get("/") == (200, "hello from flask")
    assert c.get("/pid1")[1].startswith("wsginit: master")
    workers = c.workers()
    assert len(workers) == 2
    for w in workers:
        assert_locked_down(w)
    rc, _, err = c.stop()
    assert rc == 0, err
    assert "Running as uid=65532 gid=65532" in err and "no_new_privs=1" in err


def test_default_seccomp_keeps_the_stdlib_working(container):
    c = container()
    got = c.json("/stdlib")
    assert got["sqlite"] == 42
    assert got["ca_certs"] > 100
    assert got["threads"] == got["processes"] == [0, 1, 4, 9]
    assert got["subprocess"].startswith("wsginit ")
    assert got["uuid"] == [36, 36]
    assert got["paris"] == 7200


def test_default_seccomp_denies_what_a_web_app_never_needs(container):
    denied = container().json("/denied")
    assert denied["ptrace"] == denied["mount"] == denied["unshare"] == "EPERM"
    assert denied["netlink"] == denied["execve"] == "ok"


def test_root_with_capabilities_is_still_held_by_seccomp(container):
    c = container(RUN_AS="0")
    worker = c.workers()[0]
    assert worker["Uid"].split()[0] == "0" and worker["CapEff"] != "0" * 16
    denied = c.json("/denied")
    assert denied["ptrace"] == denied["mount"] == denied["unshare"] == "EPERM"
    assert denied["packet"] == "ok"  # CAP_NET_RAW: the capabilities are really there
    rc, _, err = c.stop()
    assert rc == 0
    assert "WARNING" in err and "RUN_AS=0:0" in err


def test_strict_seccomp_denies_execve_and_other_socket_families(container):
    c = container(SECCOMP="strict")
    assert c.get("/") == (200, "hello from flask")
    denied = c.json("/denied")
    assert denied["execve"] == denied["netlink"] == denied["packet"] == "EPERM"


def test_started_as_nonroot_without_capabilities(container):
    c = container(user="nonroot")
    assert c.get("/") == (200, "hello from flask")
    for w in c.workers():
        assert_locked_down(w)
    rc, _, err = c.stop()
    assert rc == 0, err
    assert "Running as uid=65532 gid=65532" in err
    assert not [line for line in err.splitlines() if "WARNING" in line or "ERROR" in line]


def test_orphaned_grandchild_is_reaped_by_pid1(container):
    c = container()
    grandchild = c.get("/orphan")[1]
    assert "PPid:\t1" in c.get("/proc/" + grandchild)[1]
    deadline = time.monotonic() + 10
    while c.get("/proc/" + grandchild)[1] != "gone":
        assert time.monotonic() < deadline, "the orphan was not reaped"
        time.sleep(0.1)


def test_term_finishes_in_flight_requests_then_exits_0(container):
    c = container()
    c.workers()
    result = []
    slow = threading.Thread(target=lambda: result.append(c.get("/slow")))
    slow.start()
    time.sleep(0.3)
    rc, _, err = c.stop()
    slow.join()
    assert result == [(200, "slow done")]
    assert rc == 0, err


# ---------------------------------------------------------------- wsginit --python

def run_python(root, user, *args, input=None, **env):
    """`docker run --rm -i image --python ARGS...`: (status, stdout, stderr)."""
    r = subprocess.run(entrypoint(root, user, "--python", *args), input=input, capture_output=True,
                       text=True, timeout=120, env={"CHDIR": "/app", "PYTHONDONTWRITEBYTECODE": "1", **env})
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize("user", ["root", "nonroot"])
def test_python_runs_without_a_python3_binary(rootfs, user):
    assert not os.path.exists(rootfs + PYTHON)
    code = ("import json, os, sys\n"
            "print(json.dumps([os.getpid(), os.getuid(), sys.path[:2], sys.executable,"
            " os.path.exists(sys.executable)]))\n"
            "sys.exit(int(sys.argv[1]))\n")
    rc, out, err = run_python(rootfs, user, "-c", code, "5")
    assert (rc, err) == (5, "")
    assert json.loads(out) == [1, 65532, ["", "/app"], PYTHON, False]
    assert run_python(rootfs, user, "-m", "json.tool", input='{"a": [1]}') == \
        (0, '{\n    "a": [\n        1\n    ]\n}\n', "")
    rc, out, err = run_python(rootfs, user, "-c", "import sqlite3, ssl, zoneinfo; 1/0")
    assert rc == 1 and err.endswith("\nZeroDivisionError: division by zero\n")


@pytest.mark.parametrize("user", ["root", "nonroot"])
def test_python_runs_manage_py_migrate(rootfs, user):
    require_django()
    rc, out, err = run_python(rootfs, user, "djangoproject/manage.py", "migrate", "--noinput",
                              DJANGO_DB_PATH="/tmp/db.sqlite3")
    assert (rc, err) == (0, "")
    assert "Applying auth.0001_initial... OK" in out and "Applying sessions.0001_initial... OK" in out


def test_python_bad_variable_exits_2_with_one_line(rootfs):
    assert run_python(rootfs, "root", "-c", "print('ran')", THREADS="many") == \
        (2, "", 'wsginit: THREADS="many" is invalid: expected an integer from 1 to 1024\n')
