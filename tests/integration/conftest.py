"""Start the real wsginit binary with an environment, as a container would."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

# make test-asan: an ASan build keeps freed memory in quarantine and boots workers
# several times slower, so RSS growth and restart timing mean nothing there; `make test`
# measures them on the release build.
SANITIZED = os.environ.get("WSGINIT_SANITIZED") == "1"
figures_on_release_build_only = pytest.mark.skipif(SANITIZED, reason="measured on the release build by make test")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("WSGINIT", os.path.join(ROOT, "build", "wsginit"))
APPS = os.path.join(ROOT, "tests", "apps")


def embedded_python():
    """(interpreter path, (major, minor), "static" or "shared") of the Python the binary
    embeds, from its --version. `make test PY=...` chooses it; a Python other than
    Debian's runs from the copy tests/pythons.py makes, with Debian's Flask and Django
    on its path."""
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout
    version, path, link = re.search(r" with Python (\d+\.\d+)\S* \((.+), (\w+) libpython\)$", out.strip()).groups()
    return path, tuple(int(n) for n in version.split(".")), link


PYTHON, PYTHON_VERSION, PYLINK = embedded_python()


def require_django():
    """Skips the calling test where Debian's Django 3.2 cannot run."""
    if PYTHON_VERSION >= (3, 13):
        pytest.skip("Debian's Django 3.2 imports the cgi module, which Python 3.13 removed (PEP 594)")


def proc_table():
    """{pid: (state, ppid)} for every process visible in /proc (zombies included)."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        table[int(d)] = (fields[0], int(fields[1]))
    return table


def children(pid):
    """Live (non-zombie) children of pid, sorted."""
    return sorted(p for p, (state, ppid) in proc_table().items() if ppid == pid and state != "Z")


def wait_for(pred, timeout, step=0.02):
    """Poll pred() until it returns a true value or timeout passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def wait_children(pid, n, timeout=10.0, exclude=()):
    """Children of pid once there are exactly n and none is in exclude (bounded); the
    last list seen."""
    got = [children(pid)]

    def ok():
        got[0] = children(pid)
        return len(got[0]) == n and not set(got[0]) & set(exclude)
    wait_for(ok, timeout)
    return got[0]


def stop_process(proc, sig=signal.SIGTERM, timeout=20):
    """Signals a started wsginit, waits (SIGKILL to its group past timeout); (stdout, stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


def readable_dir(prefix):
    """A new 0755 directory under /tmp: RUN_AS (65532) can enter it, unlike tmp_path (0700 parents)."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def free_ports(n):
    """n distinct free ports (each one picked while the others are held)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def wait_port(port, proc, host="127.0.0.1", timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("wsginit exited with %s before listening" % proc.returncode)
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("wsginit did not listen on %s within %ss" % (port, timeout))


class Server:
    """One running wsginit: .port, .proc, .url(path), .stop() -> (rc, stdout, stderr).
    A None in env unsets that variable (BIND=None: HOST/PORT decide, .port is unused)."""

    def __init__(self, env, wait=True):
        self.port = free_port()
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "BIND": "127.0.0.1:%d" % self.port, "WORKERS": "1", "CHDIR": APPS}
        full.update(env)
        full = {k: v for k, v in full.items() if v is not None}
        self.env = full
        self.proc = subprocess.Popen([BINARY], env=full, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.out = self.err = None
        if wait:
            wait_port(self.port, self.proc)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        out, err = stop_process(self.proc, sig, timeout)
        self.out, self.err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        return self.proc.returncode, self.out, self.err


@pytest.fixture
def serve():
    """serve(APP=..., **env) starts a server; every one is stopped at teardown."""
    started = []

    def start(wait=True, **env):
        s = Server(env, wait=wait)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.stop()


@pytest.fixture
def live():
    """live(wait=True, ready=None, bind=None, **env) starts a wire.Live server (logs read
    as they come); all are stopped fast (INT) at teardown."""
    import wire
    started = []

    def start(wait=True, ready=None, bind=None, **env):
        s = wire.Live(env, wait=wait, ready=ready, bind=bind)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop(signal.SIGINT, timeout=10)


def run_binary(env, args=(), timeout=30, input=None):
    """Run wsginit to completion (for --check, --print-config, --python, config errors)."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CHDIR": APPS}
    full.update(env)
    return subprocess.run([BINARY, *args], env=full, capture_output=True, text=True, timeout=timeout,
                          input=input)


def rss_kib(pid):
    """Resident memory of a process in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def fd_count(pid):
    """Open descriptors of a process."""
    return len(os.listdir("/proc/%d/fd" % pid))
