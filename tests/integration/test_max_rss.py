"""MAX_RSS (issue 14): a worker whose resident memory passes it is recycled as at
MAX_REQUESTS, without a failed request, logged with the figure and counted in
/metrics as wsginit_worker_restarts_total{reason="rss"}.

The app (tests/apps/leak.py) keeps 2 MiB more at every call. Every wait is for a
condition and bounded; all traffic is on 127.0.0.1.
"""
import collections
import re

import wire
from conftest import free_port, wait_for
from test_lifecycle import Load
from wire import get

LEAK = "leak:application"
PASSED = re.compile(r"Worker's resident memory \((\d+\.\d) MiB\) passed MAX_RSS \((\d+\.\d) MiB\): restarting")


def restarts(admin_port):
    """{reason: count} from /metrics."""
    text = get(admin_port, "/metrics").body.decode()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r'^wsginit_worker_restarts_total\{reason="(\w+)"\} (\d+)$', text, re.M)}


def start(**env):
    admin = free_port()
    s = wire.Live(dict({"APP": LEAK, "ADMIN_BIND": "127.0.0.1:%d" % admin}, **env))
    s.admin = admin
    return s


def test_a_leaking_worker_is_recycled_under_load_without_a_failed_request():
    s = start(WORKERS="2", MAX_RSS="100m")
    try:
        load = Load(s.port, "/", threads=4, duration=60, limit=400).start()
        load.join(timeout=90)
        per_pid = collections.Counter(int(r[2]) for r in load.ok)
        counted = wait_for(lambda: (lambda r: r if r.get("rss", 0) >= 4 else None)(restarts(s.admin)), 10)
        print("\nMAX_RSS=100m, 2 MiB kept per call: %d ok, %d failed, %d refused; %d workers served %s; "
              "restarts %r" % (len(load.ok), len(load.failed), len(load.refused), len(per_pid),
                               sorted(per_pid.values()), restarts(s.admin)))
        assert len(load.ok) + len(load.failed) + len(load.refused) == 400
        assert not load.failed and not load.refused, "failed %r refused %r" % (load.failed[:5], load.refused[:5])
        # 800 MiB kept in all: each worker holds 100 MiB at most, less what it started with
        assert counted, "fewer than 4 restarts for rss: %r\n%s" % (restarts(s.admin), s.err()[-3000:])
        assert counted["crash"] == counted["max_requests"] == 0, counted
        # A worker serves no more calls than 100 MiB holds, plus those it accepted (one per
        # client thread) and those of the millisecond between two checks: 4 more at most.
        assert max(per_pid.values()) <= 50 + 4 + 4, per_pid
        figures = [(float(a), float(b)) for a, b in PASSED.findall(s.err())]
        assert len(figures) >= counted["rss"], s.err()[-3000:]
        # the log's one decimal shows 100.04 MiB as 100.0
        assert all(b == 100.0 and 100.0 <= a <= 100.0 + 2 * (4 + 4) for a, b in figures), figures
        assert wait_for(lambda: re.search(r"^wsginit_workers 2$", get(s.admin, "/metrics").body.decode(), re.M), 10)
    finally:
        s.stop()


def test_a_keep_alive_client_gets_connection_close_and_loses_no_request():
    """One keep-alive connection: the call after the limit was passed is answered with
    Connection: close, and the connection closes only after it; a new connection
    reaches the new worker."""
    s = start(WORKERS="1", MAX_RSS="60m", SECCOMP="strict")
    try:
        with wire.Conn(s.port, timeout=10) as c:
            for i in range(100):
                r = c.request("GET", "/")
                assert r.status == 200, (i, r)
                if r.header("Connection") == "close":
                    break
            assert r.header("Connection") == "close", "no Connection: close after 100 calls of 2 MiB"
            assert c.closed_by_peer(timeout=5)
        old = int(r.body)
        # 60 MiB hold 30 calls of 2 MiB; one more when two checks fall in the same millisecond
        assert 1 <= i <= 31, "Connection: close after %d calls of 2 MiB with MAX_RSS=60m" % (i + 1)
        new = int(get(s.port, "/").body)
        assert new != old
        assert wait_for(lambda: restarts(s.admin).get("rss") == 1, 5), restarts(s.admin)
        assert PASSED.search(s.err()), s.err()
        assert "[%d] [INFO] Worker's resident memory" % old in s.err(), s.err()
    finally:
        s.stop()
