"""`wsginit --probe` with no URL (issue 12): it probes the server its environment
describes, as Docker's HEALTHCHECK and a Kubernetes exec probe run it (with the
container's environment): ADMIN_BIND's /readyz when set, else HEALTH_PATH on the
first serving address (PORT, HOST or BIND, unix sockets included), else any HTTP
answer from that address. 0.0.0.0 and :: are probed on loopback. Exit 0 healthy,
1 not (the status on stdout, or the reason on stderr), 2 on a bad variable.
`--probe URL` is tested in test_operations.py."""
import os
import shutil
import socket
import threading
import time

import pytest

import wire
from conftest import free_port, readable_dir, run_binary, wait_for, wait_port

NOTFOUND = "notfound:application"  # every path 404, /hang never returns


@pytest.fixture
def server(live):
    """server(**env) -> wire.Live, not waited for (conftest's live)."""
    return lambda **env: live(wait=False, **env)


def probe(env, **extra):
    """`wsginit --probe` with a server's environment (plus extra; None unsets):
    (rc, stdout, stderr)."""
    env = {k: v for k, v in dict(env, **extra).items() if v is not None}
    r = run_binary(env, ["--probe"], timeout=20)
    return r.returncode, r.stdout.strip(), r.stderr


def answers(port, path):
    try:
        return wire.get(port, path, timeout=2).status
    except (OSError, ConnectionError, TimeoutError):
        return None


def test_admin_bind_readyz_503_before_ready_then_200(server):
    """ADMIN_BIND set: /readyz on it decides (503 while the app is importing), though
    HEALTH_PATH is set too: the app port is not even looked at."""
    gate_dir = readable_dir("wsginit-probe-")
    gate = os.path.join(gate_dir, "gate")
    open(gate, "w").close()
    try:
        aport = free_port()
        s = server(APP="ops:application", ADMIN_BIND="127.0.0.1:%d" % aport, HEALTH_PATH="/healthz",
                   OPS_IMPORT_GATE=gate)
        assert wait_for(lambda: answers(aport, "/readyz") == 503, 15)
        t = time.monotonic()
        assert probe(s.env)[:2] == (1, "503"), probe(s.env)
        assert time.monotonic() - t < 3, "answered by the master, not queued on the app port"
        os.unlink(gate)
        assert wait_for(lambda: answers(aport, "/readyz") == 200, 15)
        assert probe(s.env)[:2] == (0, "200")
        # the admin address in any form, wildcard included, is probed on loopback
        s2 = server(APP=NOTFOUND, ADMIN_BIND="0.0.0.0:%d" % free_port(), WORKERS="1")
        assert wait_for(lambda: answers(int(s2.env["ADMIN_BIND"].rsplit(":", 1)[1]), "/readyz") == 200, 15)
        assert probe(s2.env)[:2] == (0, "200")
    finally:
        shutil.rmtree(gate_dir, ignore_errors=True)


@pytest.mark.parametrize("host,family,loopback", [(None, socket.AF_INET, "127.0.0.1"),
                                                  ("127.0.0.1", socket.AF_INET, "127.0.0.1"),
                                                  ("::", socket.AF_INET6, "::1")],
                         ids=["HOST unset", "HOST=127.0.0.1", "HOST=::"])
def test_health_path_on_port_and_host(server, host, family, loopback):
    """No BIND: PORT and HOST (default 0.0.0.0) are the serving address; HEALTH_PATH is
    answered in C (the app's every path is 404, and nothing reaches its access log)."""
    port = free_port()
    s = server(APP=NOTFOUND, BIND=None, HOST=host, PORT=str(port), HEALTH_PATH="/healthz")
    wire.wait_connect(family, (loopback, port), s.proc)
    assert probe(s.env)[:2] == (0, "200")
    assert probe(s.env, HEALTH_PATH="/elsewhere")[:2] == (1, "404"), "the path is HEALTH_PATH's"
    rc, out, err = s.stop()
    assert out.count('"GET /elsewhere') == 1 and "/healthz" not in out, out


def test_unix_socket_bind(server):
    d = readable_dir("wsginit-probe-")
    path = os.path.join(d, "app.sock")
    try:
        s = server(APP=NOTFOUND, BIND="unix:%s,127.0.0.1:%d" % (path, free_port()), HEALTH_PATH="/healthz")
        wire.wait_connect(socket.AF_UNIX, path, s.proc)
        assert probe(s.env)[:2] == (0, "200")
        assert probe(s.env, BIND="unix:%s" % path, HEALTH_PATH=None)[:2] == (0, "404")
        s.stop()
        rc, out, err = probe(s.env)
        assert (rc, out) == (1, "") and "unix:%s" % path in err, err
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_no_health_path_any_answer_is_healthy(server):
    """No HEALTH_PATH: an app whose / is 404 (an API, a login page elsewhere) is healthy;
    the status is printed."""
    s = server(APP=NOTFOUND)
    wait_port(s.port, s.proc)
    assert probe(s.env)[:2] == (0, "404")
    assert "wsginit-probe" in s.wait_log(lambda t: "wsginit-probe" in t, stream="out")


def test_nothing_listening_is_unhealthy():
    env = {"APP": NOTFOUND, "BIND": "127.0.0.1:%d" % free_port(), "HEALTH_PATH": "/healthz"}
    rc, out, err = probe(env)
    assert (rc, out) == (1, "") and "Connection refused" in err, (rc, out, err)
    rc, out, err = probe(env, ADMIN_BIND="127.0.0.1:%d" % free_port())
    assert (rc, out) == (1, "") and "/readyz" in err and "Connection refused" in err, (rc, out, err)


def test_silent_server_fails_within_the_probe_timeout():
    """A listener that never answers (the connect succeeds through the backlog): one
    deadline of 5 s for connect, request and status line."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t = time.monotonic()
        rc, out, err = probe({"APP": NOTFOUND, "BIND": "127.0.0.1:%d" % port})
        took = time.monotonic() - t
    assert (rc, out) == (1, "") and "no answer within 5 s" in err, (rc, out, err)
    assert 4.5 <= took < 10, took   # the deadline, not a hang (probe() itself gives up at 20 s)


@pytest.mark.parametrize("line", [b"HTTP/1.1 2000 OK", b"HTTP/1.1 +20 OK", b"HTTP/1.1 20 OK",
                                  b"HTTP/1.1 600 X", b"HTTP/2 200 OK", b"ICY 200 OK"])
def test_malformed_status_line_is_unhealthy(line):
    """Only "HTTP/1.x NNN" with three digits (1xx-5xx) is an answer."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        answer = threading.Thread(target=lambda: (lambda c: (c.recv(4096), c.sendall(line + b"\r\n\r\n"),
                                                            c.close()))(srv.accept()[0]))
        answer.start()
        r = run_binary({}, ["--probe", "http://127.0.0.1:%d/" % srv.getsockname()[1]], timeout=20)
        answer.join(timeout=20)
    assert (r.returncode, r.stdout) == (1, "") and "not an HTTP answer" in r.stderr, r


@pytest.mark.parametrize("name,value", [("PORT", "abc"), ("HEALTH_PATH", "healthz"), ("ADMIN_BIND", "nowhere"),
                                        ("BIND", ""), ("TIMEOUT", "-1")])
def test_bad_variable_exits_2_with_its_line(name, value):
    rc, out, err = probe({"APP": NOTFOUND, name: value})
    assert rc == 2 and out == "", (rc, out, err)
    (line,) = err.splitlines()
    assert line.startswith("wsginit: %s=" % name) and repr(value)[1:-1] in line, line
