"""wsginit's master: forks WORKERS workers, replaces a dead one, stops on TERM/INT,
and exits 3 when the app cannot be imported."""
import os
import shutil
import signal
import threading
import time

import pytest

import conftest
import wire
from conftest import children, wait_children
from wire import get

PROBE = {"APP": "probe:application"}


def test_workers_are_children_of_the_master(live):
    s = live(**PROBE, WORKERS="3")
    kids = wait_children(s.proc.pid, 3)
    assert len(kids) == 3, "expected 3 worker processes, got %r" % kids
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        seen.add(int(get(s.port, "/pid").body))
    assert seen <= set(kids), "requests served by processes %r that are not the master's children %r" % (seen, kids)
    assert s.proc.pid not in seen, "the master itself ran the app"


def test_killed_worker_is_replaced_and_serving_continues(live):
    s = live(**PROBE, WORKERS="3")
    kids = wait_children(s.proc.pid, 3)
    assert len(kids) == 3
    victim = kids[0]
    os.kill(victim, signal.SIGKILL)
    # serving never stops while the worker is replaced
    for i in range(20):
        assert get(s.port, "/echo?i=%d" % i, timeout=10).status == 200
    new = wait_children(s.proc.pid, 3, exclude=(victim,))
    assert len(new) == 3 and victim not in new, "worker %d not replaced: %r" % (victim, new)
    assert s.proc.poll() is None


def test_killed_single_worker_is_replaced(live):
    s = live(**PROBE, WORKERS="1")
    pid = int(get(s.port, "/pid").body)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    new = None
    while time.monotonic() < deadline:
        try:
            new = int(get(s.port, "/pid", timeout=2).body)
            if new != pid:
                break
        except (OSError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    assert new is not None and new != pid, "no replacement worker served within 10 s"
    assert new in children(s.proc.pid)


def test_sigterm_finishes_in_flight_request_then_exits_0(live):
    s = live(**PROBE, WORKERS="1")
    result = {}

    def slow():
        try:
            result["r"] = get(s.port, "/sleep?s=1.5", timeout=15)
        except Exception as e:  # noqa: BLE001
            result["e"] = e
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)   # the request is in the app now
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    t.join(timeout=15)
    assert "e" not in result, "in-flight request failed on SIGTERM: %r" % result.get("e")
    assert result["r"].status == 200
    assert result["r"].json()["end"] - result["r"].json()["start"] >= 1.4
    rc = s.proc.wait(timeout=15)
    assert rc == 0, "exit status %s after SIGTERM" % rc
    assert time.monotonic() - t0 < 10
    rc, out, err = s.stop()
    assert rc == 0


def test_sigterm_does_not_wait_for_idle_keep_alive_connections(live):
    s = live(**PROBE, KEEP_ALIVE="30")
    c = wire.Conn(s.port)
    try:
        assert c.request("GET", "/echo").status == 200   # the connection now sits idle
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        rc = s.proc.wait(timeout=20)
        assert rc == 0
        assert time.monotonic() - t0 < 5, "graceful stop waited on an idle keep-alive connection"
        assert c.closed_by_peer(timeout=2)
    finally:
        c.close()


def test_sigterm_idle_exits_0_and_stops_workers(live):
    s = live(**PROBE, WORKERS="2")
    kids = wait_children(s.proc.pid, 2)
    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(timeout=15)
    assert rc == 0
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    for k in kids:
        assert not os.path.exists("/proc/%d" % k) or open("/proc/%d/stat" % k).read().split(") ")[1][0] == "Z", \
            "worker %d survived the master" % k


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_fast_stop_exits_0_quickly(live, sig):
    s = live(**PROBE, WORKERS="2")
    # a request stuck in the app must not delay a fast stop
    th = threading.Thread(target=lambda: _quiet(get, s.port, "/sleep?s=8", timeout=12), daemon=True)
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    s.proc.send_signal(sig)
    rc = s.proc.wait(timeout=10)
    elapsed = time.monotonic() - t0
    assert rc == 0, "exit status %s after %s" % (rc, sig.name)
    assert elapsed < 3, "%s took %.2fs" % (sig.name, elapsed)


def _quiet(f, *a, **kw):
    try:
        f(*a, **kw)
    except Exception:  # noqa: BLE001
        pass


def test_no_new_connections_after_stop(live):
    s = live(**PROBE)
    port = s.port
    s.proc.send_signal(signal.SIGTERM)
    assert s.proc.wait(timeout=15) == 0
    with pytest.raises(OSError):
        get(port, "/echo", timeout=2)


def test_term_during_start_up_is_a_graceful_stop(serve):
    """A TERM sent once the port answers, while a PRELOAD import is still running, waits
    for the master (before, it killed the process; as PID 1 it would be dropped)."""
    gate_dir = conftest.readable_dir("wsginit-gate-")
    gate = os.path.join(gate_dir, "gate")
    open(gate, "w").close()
    try:
        s = serve(APP="ops:application", PRELOAD="true", OPS_IMPORT_GATE=gate)
        s.proc.send_signal(signal.SIGTERM)
        os.unlink(gate)
        err = s.proc.communicate(timeout=20)[1].decode()
        assert s.proc.returncode == 0, err[-2000:]
        assert "Shutting down: exit 0" in err, err[-2000:]
    finally:
        shutil.rmtree(gate_dir, ignore_errors=True)


@pytest.mark.parametrize("app,needle", [
    ("broken_import", "ImportError: probe: broken_import cannot be imported on purpose"),
    ("no_such_module_xyz", "ModuleNotFoundError"),
    ("probe:no_such_attribute", "no_such_attribute"),
])
def test_app_import_error_exits_3_with_traceback(app, needle):
    port = conftest.free_port()
    r = conftest.run_binary({"APP": app, "BIND": "127.0.0.1:%d" % port, "WORKERS": "2"}, timeout=30)
    assert r.returncode == 3, "exit %s, stderr:\n%s" % (r.returncode, r.stderr)
    assert needle in r.stderr
    if app != "probe:no_such_attribute":
        assert "Traceback (most recent call last)" in r.stderr


def test_app_import_error_with_preload_exits_3(live):
    port = conftest.free_port()
    r = conftest.run_binary({"APP": "broken_import", "BIND": "127.0.0.1:%d" % port, "PRELOAD": "true"},
                            timeout=30)
    assert r.returncode == 3, r.stderr
    assert "Traceback (most recent call last)" in r.stderr
    assert "broken_import cannot be imported on purpose" in r.stderr
