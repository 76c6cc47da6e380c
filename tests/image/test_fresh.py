"""README's two commands on a fresh machine: a clean clone of the committed HEAD
in a fresh Debian 12 root (conftest's debootstrap minbase, under build/fresh),
entered as a container engine would: PID 1 of new pid and mount namespaces,
chrooted, with the host's network (apt reaches Debian's archive, the host
reaches port 8080). Each step's time is printed (pytest -s)."""
import contextlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT, minbase_tar

FRESH = os.path.join(ROOT, "build", "fresh")
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
# unshare runs this as PID 1 (which so reaps orphans, as an init would). The
# mounts live in the private mount namespace and go with it. The root is bound
# onto itself because the suite's own `unshare --propagation` needs / to be a
# mount point; /sys is recursive for the cgroup tests.
ENTER = """set -e
r=$1
mount --bind $r $r
mount -t proc proc $r/proc
mount --bind /dev $r/dev
mount --bind /dev/pts $r/dev/pts
mount -t tmpfs -o mode=1777 shm $r/dev/shm
mount --rbind /sys $r/sys
mount -t tmpfs -o mode=1777 tmp $r/tmp
chroot $r /bin/sh -ec "cd /src && $2"
"""
# What .ci/run does first: minbase has no make.
INSTALL_MAKE = "apt-get update -qq && apt-get install -y -qq make"
URL = "http://127.0.0.1:8080/"  # what `make run` serves

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and chroot need root")


def step(name, start):
    print("%-44s %7.1f s" % (name, time.monotonic() - start))


def remove(root):
    """rm -rf root, once nothing is mounted in it (last mounted, first unmounted)."""
    with open("/proc/self/mountinfo") as f:
        for target in [line.split()[4] for line in f][::-1]:
            if target == root or target.startswith(root + "/"):
                subprocess.run(["umount", target], check=True)
    subprocess.run(["rm", "-rf", "--one-file-system", root], check=True)


@pytest.fixture
def fresh_root(request):
    """build/fresh/<test name>: minbase extracted, /etc/resolv.conf copied in, `git clone`
    of HEAD in /src (uncommitted changes stay out); removed at the end."""
    root = os.path.join(FRESH, request.node.name)
    remove(root)
    os.makedirs(root)
    open(root + ".log", "w").close()
    print()
    try:
        start = time.monotonic()
        subprocess.run(["tar", "-C", root, "-xf", minbase_tar()], check=True)
        shutil.copy("/etc/resolv.conf", root + "/etc/resolv.conf")
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", ROOT, root + "/src"], check=True)
        step("minbase extracted, HEAD cloned", start)
        yield root
    finally:
        remove(root)


@contextlib.contextmanager
def entered(root, command):
    """`command` in /src of root; output in build/fresh/<root>.log. Killed with its
    process group if it is still running at the end (the kernel ends the rest of
    the pid namespace with its PID 1)."""
    with open(root + ".log", "a") as log:
        log.write("\n### %s\n" % command)
        log.flush()
        proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--",
                                 "/bin/sh", "-ec", ENTER, "enter", root, command],
                                stdout=log, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def tail(root):
    with open(root + ".log") as f:
        return f.read()[-6000:]


def run(root, command, timeout):
    """Runs command to its end and asserts it succeeded; prints its time."""
    start = time.monotonic()
    with entered(root, command) as proc:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("%s: still running after %d s\n%s" % (command, timeout, tail(root)))
    step(command, start)
    assert proc.returncode == 0, "%s: exit %d\n%s" % (command, proc.returncode, tail(root))


def hello(proc, timeout):
    """The body of the first answer on :8080, or None if proc ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(URL, timeout=2) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.5)
    return None


def master(pid, exe):
    """The first process under pid (breadth first) running exe."""
    todo = [pid]
    while todo:
        p = todo.pop(0)
        with contextlib.suppress(OSError):
            if os.readlink("/proc/%d/exe" % p) == exe:
                return p
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(c) for c in f.read().split()]
    return None


def test_make_build_first_try(fresh_root):
    run(fresh_root, INSTALL_MAKE, timeout=600)
    run(fresh_root, "make build", timeout=1200)
    assert os.access(fresh_root + "/src/build/wsginit", os.X_OK)


def test_make_run_then_make_test_first_try(fresh_root):
    run(fresh_root, INSTALL_MAKE, timeout=600)
    with pytest.raises(OSError):  # else the answer below could be another server's
        urllib.request.urlopen(URL, timeout=2)
    start = time.monotonic()
    with entered(fresh_root, "make run") as proc:
        body = hello(proc, timeout=1200)
        assert body == "Hello, World!", tail(fresh_root)
        step("make run -> Hello, World! on :8080", start)
        start = time.monotonic()
        pid = master(proc.pid, fresh_root + "/src/build/wsginit")
        assert pid, "no wsginit under make run"
        os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=60)
    step("SIGTERM -> make run exited", start)
    assert proc.returncode == 0, tail(fresh_root)
    assert "Shutting down: exit 0" in tail(fresh_root)
    run(fresh_root, "make test", timeout=3600)
