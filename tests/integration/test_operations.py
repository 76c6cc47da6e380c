"""Operating wsginit (issue 5): HEALTH_PATH in the worker, the master's admin listener
(/livez, /readyz, /metrics), SHUTDOWN_DELAY during a rolling update, trusted proxy
headers, `wsginit --probe`, and examples/kubernetes.yaml checked against the server.

Every server runs through wire.Live (logs drained while it runs); every loop and wait
is bounded; all traffic is on loopback (127.0.0.1, and ::1 for the IPv6 proxy cases).
The figures the issue asks for (readiness flip latency, rolling-update ok/failed/refused,
a /metrics scrape under load) are printed: run with -s to see them.
"""
import math
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid

import pytest

import wire
from conftest import ROOT, children, free_port, run_binary, wait_for
from wire import Conn, get

PROBE = "probe:application"
LIFE = "lifecycle:application"
OPS = "ops:application"


# ---------------------------------------------------------------- helpers

@pytest.fixture
def server(live):
    """server(admin=True, wait=True, ready=None, bind=None, **env) -> wire.Live with .admin
    (the ADMIN_BIND port on 127.0.0.1, or None): conftest's `live` plus an admin port and
    wait=False (for tests that must not touch the app port)."""
    def start(admin=True, wait=True, ready=None, bind=None, **env):
        aport = free_port() if admin else None
        if admin:
            env["ADMIN_BIND"] = "127.0.0.1:%d" % aport
        s = live(wait=wait, ready=ready, bind=bind, **env)
        s.admin = aport
        return s
    return start


def admin_get(s, path, method="GET", timeout=5.0):
    return get(s.admin, path, method=method, timeout=timeout)


def admin_status(s, path, timeout=2.0):
    """Status of an admin endpoint, or None when the listener is not there (yet)."""
    try:
        return admin_get(s, path, timeout=timeout).status
    except (OSError, ConnectionError, TimeoutError):
        return None


def wait_ready(s, timeout=15.0):
    if not wait_for(lambda: admin_status(s, "/readyz") == 200, timeout):
        raise AssertionError("/readyz never answered 200 within %ss\nstderr:\n%s" % (timeout, s.err()))


def health(port, path="/healthz", method="GET", host="127.0.0.1", timeout=10.0):
    with Conn(port, host=host, timeout=timeout) as c:
        return c.request(method, path, [("Connection", "close")], timeout=timeout)


def world_readable_dir():
    """A temporary directory the workers (uid 65532 when the tests run as root) can read."""
    d = tempfile.mkdtemp(prefix="wsginit-ops-")
    os.chmod(d, 0o755)
    return d


# ---------------------------------------------------------------- Prometheus text 0.0.4

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$" % NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        assert m, "bad label syntax at %r" % text[pos:]
        assert m.group(1) not in labels, "label %s twice in {%s}" % (m.group(1), text)
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ",", "labels not separated by a comma: {%s}" % text
            pos += 1
    return labels


class Metrics:
    """A strictly parsed exposition: .types {family: type}, .samples {(name, labels): value}."""

    def __init__(self, text):
        self.text = text
        assert text.endswith("\n"), "exposition must end with a newline"
        self.types, helps, self.samples = {}, {}, {}
        seen, current = [], None
        for line in text[:-1].split("\n"):
            assert line, "empty line in the exposition"
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                name, _, rest = line[7:].partition(" ")
                assert re.fullmatch(NAME, name), "bad metric name %r" % line
                if line.startswith("# HELP "):
                    assert name not in helps, "second HELP for %s" % name
                    helps[name] = rest
                else:
                    assert rest in TYPES, "bad TYPE line %r" % line
                    assert name not in self.types, "second TYPE for %s" % name
                    assert name not in seen, "TYPE for %s after its samples" % name
                    self.types[name] = rest
                continue
            if line.startswith("#"):
                continue
            m = SAMPLE_RE.match(line)
            assert m, "bad sample line %r" % line
            name, labels, value = m.group(1), parse_labels(m.group(2) or ""), m.group(3)
            family = name
            if name not in self.types:
                for suffix in ("_bucket", "_sum", "_count"):
                    base = name[:-len(suffix)]
                    if name.endswith(suffix) and self.types.get(base) in ("histogram", "summary"):
                        family = base
            assert family in self.types, "sample %r has no # TYPE" % line
            if family != current:
                assert family not in seen, "samples of %s are not grouped together" % family
                seen.append(family)
                current = family
            assert value in ("+Inf", "-Inf", "NaN") or re.fullmatch(
                r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value), "bad value in %r" % line
            v = float(value)
            key = (name, tuple(sorted(labels.items())))
            assert key not in self.samples, "duplicate series %r" % line
            self.samples[key] = v
            if self.types[family] == "counter":
                assert v >= 0 and not math.isnan(v), "negative counter %r" % line
        for family, typ in self.types.items():
            if typ == "histogram":
                self.check_histogram(family)

    def check_histogram(self, family):
        buckets = sorted(((float(dict(lb)["le"]), v) for (n, lb), v in self.samples.items()
                          if n == family + "_bucket"), key=lambda b: b[0])
        assert buckets and buckets[-1][0] == math.inf, "%s has no +Inf bucket" % family
        values = [v for _, v in buckets]
        assert values == sorted(values), "%s buckets are not cumulative: %r" % (family, buckets)
        count = self.get(family + "_count")
        assert count == buckets[-1][1], "%s: +Inf bucket %s != _count %s" % (family, buckets[-1][1], count)
        assert self.get(family + "_sum") is not None, "%s has no _sum" % family

    def get(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def series(self, name):
        """{labels dict as a sorted tuple: value} of one sample name."""
        return {lb: v for (n, lb), v in self.samples.items() if n == name}

    def buckets(self, family):
        return {dict(lb)["le"]: v for (n, lb), v in self.samples.items() if n == family + "_bucket"}


def scrape(s):
    r = admin_get(s, "/metrics")
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", r.headers
    return Metrics(r.body.decode("utf-8"))


def requests_total(m, handler="app"):
    """{(method, status class): count} of the responses one handler made."""
    return {(dict(lb)["method"], dict(lb)["status"]): v
            for lb, v in m.series("wsginit_requests_total").items() if dict(lb)["handler"] == handler}


# ================================================================ HEALTH_PATH

def test_health_path_is_answered_in_c_and_never_reaches_the_app(server):
    s = server(admin=False, APP=PROBE, HEALTH_PATH="/healthz")
    before = wire.count(s.port)
    r = health(s.port)
    assert (r.status, r.body, r.header("Content-Type")) == (200, b"ok\n", "text/plain"), r
    r = health(s.port, "/healthz?probe=1&x=%20")            # the query string is ignored
    assert (r.status, r.body) == (200, b"ok\n"), r
    r = health(s.port, method="HEAD")
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"", "3"), r
    with Conn(s.port) as c:                                  # keep-alive: several on one connection
        for _ in range(5):
            r = c.request("GET", "/healthz")
            assert (r.status, r.body) == (200, b"ok\n"), r
        r = c.request("GET", "/healthz/")                    # not the health path: the app's
        assert r.status == 200 and r.json()["PATH_INFO"] == "/healthz/", r
    assert health(s.port, "/healthzz").json()["PATH_INFO"] == "/healthzz"
    assert health(s.port, "/health").json()["PATH_INFO"] == "/health"
    with Conn(s.port) as c:                                  # only GET and HEAD are health checks
        r = c.request("POST", "/healthz", [("Connection", "close")], b"x")
        assert r.status == 200 and r.json()["PATH_INFO"] == "/healthz", r
    # since the first /count, the app saw /healthz/, /healthzz, /health, POST /healthz and
    # this /count: none of the nine health checks
    assert wire.count(s.port) == before + 5
    rc, out, err = s.stop()
    assert rc == 0, err
    assert "GET /count" in out, out                           # the access log is on ...
    assert "GET /healthz " not in out and "HEAD /healthz" not in out and "/healthz?" not in out, out
    assert "/healthz" not in err, err                        # ... and health checks are not in it


def test_health_path_is_logged_at_debug(server):
    s = server(admin=False, APP=PROBE, HEALTH_PATH="/healthz", LOG_LEVEL="debug")
    assert health(s.port).status == 200
    text = s.wait_log(lambda t: "/healthz" in t, timeout=3)
    assert "/healthz" in text + s.out(), "LOG_LEVEL=debug: no line names /healthz\n" + text


@pytest.mark.parametrize("workers,threads", [("1", "2"), ("2", "1")])
def test_health_path_answers_while_the_app_is_busy(server, workers, threads):
    """A health check is not queued behind a slow app call when the worker has a free
    thread (THREADS=2) or another worker is idle (WORKERS=2)."""
    s = server(admin=False, APP=PROBE, HEALTH_PATH="/healthz", WORKERS=workers, THREADS=threads)
    busy = Conn(s.port, timeout=10)
    busy.send(wire.build("GET", "/sleep?s=2", [("Connection", "close")]))
    time.sleep(0.3)                                            # the app call is under way
    t = time.monotonic()
    r = health(s.port, timeout=5)
    took = time.monotonic() - t
    print("\nWORKERS=%s THREADS=%s: /healthz during a 2 s app call answered in %.1f ms"
          % (workers, threads, took * 1000))
    assert (r.status, r.body) == (200, b"ok\n"), r
    assert took < 0.5, "health check waited %.2f s behind the app" % took
    assert busy.read_response(timeout=5).status == 200
    busy.close()


def test_health_path_waits_behind_the_app_with_one_worker_and_one_thread(server):
    """WORKERS=1 THREADS=1: the only loop is inside the app call, so a health check waits
    for it to end; that is what it should report (the loop is not turning)."""
    s = server(admin=False, APP=PROBE, HEALTH_PATH="/healthz")
    busy = Conn(s.port, timeout=10)
    busy.send(wire.build("GET", "/sleep?s=1.5", [("Connection", "close")]))
    time.sleep(0.3)
    t = time.monotonic()
    r = health(s.port, timeout=5)
    took = time.monotonic() - t
    print("\nWORKERS=1 THREADS=1: /healthz during a 1.5 s app call answered in %.0f ms" % (took * 1000))
    assert (r.status, r.body) == (200, b"ok\n"), r
    assert took > 0.8, "answered in %.2f s while the only thread was in the app?" % took
    assert busy.read_response(timeout=5).status == 200
    busy.close()


def test_health_path_is_503_once_the_worker_got_term(server):
    """No SHUTDOWN_DELAY: TERM closes the listeners at once; a connection that was already
    sending its request head gets the health answer 503 "draining" and is closed."""
    s = server(admin=False, APP=PROBE, HEALTH_PATH="/healthz")
    c = Conn(s.port, timeout=10)
    c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")           # head not finished yet
    time.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: "Graceful stop" in s.err(), 5), s.err()
    time.sleep(0.2)                                           # the worker has the TERM too
    c.send(b"\r\n")
    r = c.read_response(timeout=5)
    assert (r.status, r.body) == (503, b"draining\n"), r
    assert r.header("Connection") == "close", r.headers
    assert c.closed_by_peer(timeout=3)
    c.close()
    assert s.proc.wait(timeout=10) == 0


# ================================================================ ADMIN_BIND

def test_admin_readyz_and_livez_before_workers_are_ready(server):
    """Workers that take 1.5 s to import the app: /readyz and /livez are 503 until one
    has booted, then 200; when /readyz first says 200, the app port serves at once."""
    s = server(APP=OPS, OPS_IMPORT_SLEEP="1.5", WORKERS="2", wait=False)
    first = wait_for(lambda: admin_status(s, "/readyz"), 10, step=0.01)
    assert first == 503, "first /readyz answer: %r\nstderr:\n%s" % (first, s.err())
    r = admin_get(s, "/readyz")
    assert (r.status, r.body) == (503, b"not ready\n"), r
    r = admin_get(s, "/livez")
    assert r.status == 503, "no worker has beaten yet, /livez: %r" % r
    assert wait_for(lambda: admin_status(s, "/readyz") == 200, 15, step=0.02), s.err()
    r = get(s.port, "/", timeout=2)
    assert (r.status, r.body) == (200, b"ok"), r
    r = admin_get(s, "/livez")
    assert (r.status, r.body) == (200, b"ok\n"), r
    assert admin_get(s, "/readyz").body == b"ok\n"


def test_admin_livez_is_200_as_soon_as_readyz_is(server):
    """A worker that is ready (it told the master so) is live: /livez must not lag behind
    /readyz. Nothing but the admin port is touched (not even the app port's connect
    check), so the worker's loop has no event to turn on for up to a second."""
    s = server(APP=PROBE, wait=False)
    assert wait_for(lambda: admin_status(s, "/readyz") == 200, 15, step=0.005), s.err()
    r = admin_get(s, "/livez")
    later = wait_for(lambda: admin_status(s, "/livez") == 200, 3, step=0.01)
    assert r.status == 200, "/readyz 200 but /livez %d %r (200 again later: %s)" % (r.status, r.body, bool(later))


def test_admin_other_paths_and_methods(server):
    s = server(APP=PROBE)
    wait_ready(s)
    # an app path on the admin port is not the app, and the app port has no /readyz
    assert get(s.port, "/readyz").json()["PATH_INFO"] == "/readyz"
    for path in ("/", "/metricsx", "/readyz/", "/live", "/healthz", "/favicon.ico"):
        r = admin_get(s, path)
        assert r.status == 404, (path, r)
    for method in ("POST", "PUT", "DELETE"):
        with Conn(s.admin) as c:
            r = c.request(method, "/readyz", [("Connection", "close")], b"x" if method != "DELETE" else b"")
        assert r.status == 405, (method, r)
    r = admin_get(s, "/livez", method="HEAD")
    assert (r.status, r.body) == (200, b""), r
    r = admin_get(s, "/metrics?name[]=wsginit_workers")     # a query string is ignored
    assert r.status == 200 and b"wsginit_workers 1\n" in r.body, r


def test_admin_silent_clients_do_not_stall_the_master(server):
    s = server(APP=PROBE, WORKERS="2")
    wait_ready(s)
    silent = [socket.create_connection(("127.0.0.1", s.admin), timeout=10) for _ in range(4)]
    partial = socket.create_connection(("127.0.0.1", s.admin), timeout=10)
    partial.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")  # never finished
    time.sleep(0.2)
    worst = 0.0
    for path in ("/readyz", "/livez", "/metrics", "/readyz"):
        t = time.monotonic()
        r = admin_get(s, path, timeout=2)
        worst = max(worst, time.monotonic() - t)
        assert r.status == 200, (path, r)
    print("\nadmin answers with 5 silent clients connected: slowest %.1f ms" % (worst * 1000))
    assert worst < 0.5
    assert get(s.port, "/x", timeout=2).status == 200
    # a silent client is dropped after a few seconds, without an answer
    t = time.monotonic()
    silent[0].settimeout(6)
    assert silent[0].recv(100) == b"", "silent admin client got bytes"
    print("silent admin client dropped after %.1f s" % (time.monotonic() - t + 0.2))
    assert time.monotonic() - t < 5
    for c in silent + [partial]:
        c.close()
    # TERM is handled promptly too
    t = time.monotonic()
    rc, _, err = s.stop()
    assert rc == 0 and time.monotonic() - t < 5, err


def test_admin_many_silent_clients_still_leave_the_master_working(server):
    """More silent clients than the admin listener keeps: the master loop still runs (the
    app port serves, TERM works); how soon /readyz answers again is printed."""
    s = server(APP=PROBE, WORKERS="1")
    wait_ready(s)
    silent = [socket.create_connection(("127.0.0.1", s.admin), timeout=10) for _ in range(40)]
    time.sleep(0.2)
    assert get(s.port, "/x", timeout=2).status == 200
    t = time.monotonic()
    answered = wait_for(lambda: admin_status(s, "/readyz", timeout=1) == 200, 6, step=0.05)
    print("\n/readyz with 40 silent admin clients: answered after %.2f s" % (time.monotonic() - t))
    assert answered
    for c in silent:
        c.close()
    rc, _, err = s.stop()
    assert rc == 0, err


def test_admin_livez_when_every_worker_hangs(server):
    """WORKERS=1, TIMEOUT=3, the app hangs. /livez stays 200 while the worker's last beat is
    younger than TIMEOUT, turns 503 once it is older (the master SIGABRTs the worker then),
    stays 503 while the replacement imports the app (made slow: 2 s), then is 200 again.
    The restart is counted as reason="timeout"."""
    d = world_readable_dir()
    flag = os.path.join(d, "slow-import")
    try:
        s = server(APP=OPS, TIMEOUT="3", OPS_SLOW_IMPORT_FILE=flag)
        wait_ready(s)
        with open(flag, "w") as f:
            f.write("2")
        os.chmod(flag, 0o644)
        hung = Conn(s.port, timeout=30)
        hung.send(wire.build("GET", "/hang", [("Connection", "close")]))
        t0 = time.monotonic()
        time.sleep(1.0)
        assert admin_status(s, "/livez") == 200, "the hang is younger than TIMEOUT"
        assert wait_for(lambda: admin_status(s, "/livez") == 503, 5, step=0.02), s.err()
        t503 = time.monotonic() - t0
        assert admin_status(s, "/readyz") == 503, "no worker serves while the replacement boots"
        assert wait_for(lambda: admin_status(s, "/livez") == 200, 10, step=0.02), s.err()
        t200 = time.monotonic() - t0
        print("\nall workers hung (TIMEOUT=3): /livez 503 at +%.2f s, 200 again at +%.2f s"
              % (t503, t200))
        assert 2.5 <= t503 <= 5.0, t503
        assert t200 - t503 >= 1.5, "the replacement took 2 s to import the app"
        assert admin_status(s, "/readyz") == 200
        assert "WORKER TIMEOUT" in s.err()
        m = scrape(s)
        assert m.get("wsginit_worker_restarts_total", reason="timeout") == 1
        assert m.get("wsginit_worker_restarts_total", reason="crash") == 0
        assert get(s.port, "/", timeout=5).status == 200
        hung.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_admin_livez_stays_200_while_one_worker_of_two_hangs(server):
    s = server(APP=LIFE, TIMEOUT="2", WORKERS="2")
    wait_ready(s)
    hung = Conn(s.port, timeout=30)
    hung.send(wire.build("GET", "/hang", [("Connection", "close")]))
    deadline = time.monotonic() + 4.0
    statuses = set()
    while time.monotonic() < deadline:                        # past TIMEOUT and the SIGABRT
        statuses.add(admin_status(s, "/livez"))
        time.sleep(0.05)
    assert statuses == {200}, statuses
    assert wait_for(lambda: "WORKER TIMEOUT" in s.err(), 3), s.err()
    assert wait_for(lambda: scrape(s).get("wsginit_worker_restarts_total", reason="timeout") == 1, 5)
    hung.close()


def test_admin_livez_stays_200_during_the_graceful_drain(server):
    """Issue 5: /livez is 200 "while the master loop runs and at least one worker has
    beaten within TIMEOUT". During a graceful stop the workers finishing their requests
    still beat; /readyz is 503, /livez should stay 200 (a failing liveness probe during
    terminationGracePeriodSeconds gets the container killed before it has drained)."""
    s = server(APP=LIFE, TIMEOUT="10")
    wait_ready(s)
    busy = Conn(s.port, timeout=10)
    busy.send(wire.build("GET", "/sleep?s=2", [("Connection", "close")]))
    time.sleep(0.3)
    s.proc.send_signal(signal.SIGTERM)
    assert wait_for(lambda: "Graceful stop" in s.err(), 2), s.err()
    time.sleep(0.2)
    assert admin_status(s, "/readyz") == 503
    r = admin_get(s, "/livez")
    assert busy.read_response(timeout=5).status == 200
    busy.close()
    assert s.proc.wait(timeout=10) == 0
    assert r.status == 200, "during the drain /livez said %d %r" % (r.status, r.body)


# ---------------------------------------------------------------- /metrics

def test_metrics_exposition_and_request_counters(server):
    t_start = time.time()
    # probe:bare: the validator (probe:application) refuses methods like PROPFIND itself
    s = server(APP="probe:bare", WORKERS="2", HEALTH_PATH="/healthz")
    wait_ready(s)
    t_ready = time.time()
    before = scrape(s)
    assert before.types["wsginit_requests_total"] == "counter"
    assert before.types["wsginit_request_duration_seconds"] == "histogram"
    for g in ("wsginit_requests_in_flight", "wsginit_workers", "wsginit_worker_resident_memory_bytes",
              "wsginit_listen_backlog", "process_start_time_seconds"):
        assert before.types[g] == "gauge", g
    for c in ("wsginit_response_body_bytes_total", "wsginit_worker_restarts_total"):
        assert before.types[c] == "counter", c

    # the requests, on fresh connections, and the bytes of the bodies they got back
    plan = ([("GET", "/m/a", b"", "2xx")] * 6 + [("GET", "/status/404", b"", "4xx")] * 3 +
            [("POST", "/body?mode=read-n", b"hello", "2xx")] * 2 + [("HEAD", "/m/h", b"", "2xx")] * 2 +
            [("GET", "/status/500", b"", "5xx"), ("PUT", "/m/p", b"x", "2xx"), ("DELETE", "/status/204", b"", "2xx"),
             ("PATCH", "/m/q", b"y", "2xx"), ("OPTIONS", "/m/o", b"", "2xx"),
             ("GET", "/status/304", b"", "3xx"), ("PROPFIND", "/m/dav", b"", "2xx"),
             ("GET", "/sleep?s=0.3", b"", "2xx")])
    expected, sent_bytes = {}, 0
    for method, path, body, cls in plan:
        r = get(s.port, path, method=method, body=body)
        assert "%dxx" % (r.status // 100) == cls, (method, path, r)
        label = method if method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS") else "other"
        expected[(label, cls)] = expected.get((label, cls), 0) + 1
        sent_bytes += len(r.body)
    # not app requests, counted under their own handler: health checks and a
    # request the parser refuses; admin scrapes are not counted
    for _ in range(3):
        r = health(s.port)
        assert r.status == 200
        sent_bytes += len(r.body)
    out, _ = wire.raw_exchange(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out
    sent_bytes += len(b"Bad Request\n")
    scrape(s)
    n = len(plan) + 3 + 1

    def settled():
        m = scrape(s)
        return m if m.get("wsginit_request_duration_seconds_count") == \
            before.get("wsginit_request_duration_seconds_count") + n else None
    after = wait_for(settled, 3, step=0.05)
    assert after, "request count did not rise by %d:\n%s" % (n, scrape(s).text)
    time.sleep(0.3)
    after = scrape(s)
    b0, b1 = requests_total(before), requests_total(after)
    delta = {k: b1.get(k, 0) - b0.get(k, 0) for k in set(b0) | set(b1)}
    delta = {k: v for k, v in delta.items() if v}
    assert delta == expected, "requests_total deltas %r, expected %r" % (delta, expected)
    for handler, want in (("health", {("GET", "2xx"): 3}), ("refused", {("other", "4xx"): 1})):
        got = requests_total(after, handler)
        got = {k: v - requests_total(before, handler).get(k, 0) for k, v in got.items()}
        assert got == want, (handler, after.text)
    # the histogram: n more observations, one of them (0.3 s sleep) above 0.25 s
    h0, h1 = before.buckets("wsginit_request_duration_seconds"), after.buckets("wsginit_request_duration_seconds")
    assert h1["+Inf"] - h0["+Inf"] == n
    assert (h1["+Inf"] - h0["+Inf"]) - (h1["0.25"] - h0["0.25"]) >= 1, (h0, h1)
    assert h1["0.005"] >= h0["0.005"]
    dsum = after.get("wsginit_request_duration_seconds_sum") - before.get("wsginit_request_duration_seconds_sum")
    assert 0.3 <= dsum < 10, dsum
    dbytes = after.get("wsginit_response_body_bytes_total") - before.get("wsginit_response_body_bytes_total")
    assert dbytes == sent_bytes, "body bytes counted %d, the client received %d" % (dbytes, sent_bytes)
    assert after.get("wsginit_requests_in_flight") == 0
    # workers: count, per-worker RSS with the real pids, start time
    assert after.get("wsginit_workers") == 2
    rss = after.series("wsginit_worker_resident_memory_bytes")
    pids = {int(dict(lb)["pid"]) for lb in rss}
    assert pids == set(children(s.proc.pid)), (rss, children(s.proc.pid))
    assert len({dict(lb)["worker"] for lb in rss}) == 2
    assert all(v > 1_000_000 for v in rss.values()), rss
    backlog = after.series("wsginit_listen_backlog")
    assert {dict(lb)["listener"] for lb in backlog} == {"127.0.0.1:%d" % s.port}, backlog
    start = after.get("process_start_time_seconds")
    assert t_start - 1 <= start <= t_ready + 1, (t_start, start, t_ready)
    assert all(v == 0 for v in after.series("wsginit_worker_restarts_total").values())
    assert {dict(lb)["reason"] for lb in after.series("wsginit_worker_restarts_total")} == \
        {"timeout", "crash", "max_requests", "reload", "rss"}


def test_metrics_count_an_app_error_and_its_body(server):
    """An app that raises gets the server's 500 page: a 5xx request, and its body bytes
    are sent bytes like any other."""
    s = server(APP=PROBE)
    wait_ready(s)
    before = scrape(s)
    r = get(s.port, "/raise")
    assert r.status == 500 and r.body, r
    m = wait_for(lambda: (lambda m: m if requests_total(m).get(("GET", "5xx")) == 1 else None)(scrape(s)), 3)
    assert m, scrape(s).text
    assert requests_total(m) == {("GET", "5xx"): 1}, m.text
    dbytes = m.get("wsginit_response_body_bytes_total") - before.get("wsginit_response_body_bytes_total")
    assert dbytes == len(r.body), "500 page: %d body bytes sent, %d counted" % (len(r.body), dbytes)


def test_metrics_requests_in_flight(server):
    s = server(APP=PROBE, THREADS="2")
    wait_ready(s)
    busy = Conn(s.port, timeout=10)
    busy.send(wire.build("GET", "/sleep?s=1.5", [("Connection", "close")]))
    assert wait_for(lambda: scrape(s).get("wsginit_requests_in_flight") == 1, 1.2, step=0.05), scrape(s).text
    assert busy.read_response(timeout=5).status == 200
    assert wait_for(lambda: scrape(s).get("wsginit_requests_in_flight") == 0, 2, step=0.05)
    busy.close()


def test_metrics_count_a_crashed_worker_and_keep_its_requests(server):
    s = server(APP=PROBE, WORKERS="2")
    wait_ready(s)
    for _ in range(10):
        assert get(s.port, "/x").status == 200
    m = wait_for(lambda: (lambda m: m if requests_total(m).get(("GET", "2xx")) == 10 else None)(scrape(s)), 3)
    assert m, scrape(s).text
    victim = int(dict(next(iter(m.series("wsginit_worker_resident_memory_bytes"))))["pid"])
    os.kill(victim, signal.SIGKILL)

    def replaced():
        m = scrape(s)
        pids = {int(dict(lb)["pid"]) for lb in m.series("wsginit_worker_resident_memory_bytes")}
        return m if m.get("wsginit_workers") == 2 and victim not in pids and len(pids) == 2 else None
    m = wait_for(replaced, 5, step=0.05)
    assert m, scrape(s).text
    assert m.get("wsginit_worker_restarts_total", reason="crash") == 1
    assert m.get("wsginit_worker_restarts_total", reason="timeout") == 0
    # a counter never goes down: the dead worker's requests are still counted
    assert requests_total(m).get(("GET", "2xx")) == 10, m.text
    assert m.get("wsginit_request_duration_seconds_count") == 10
    assert wait_for(lambda: admin_status(s, "/readyz") == 200, 5)


def test_metrics_count_max_requests_restarts(server):
    s = server(APP=PROBE, MAX_REQUESTS="3")
    wait_ready(s)
    for i in range(7):
        r = get(s.port, "/x", timeout=10)
        assert r.status == 200, (i, r)

    def settled():
        m = scrape(s)
        return m if m.get("wsginit_worker_restarts_total", reason="max_requests") == 2 else None
    m = wait_for(settled, 5, step=0.05)
    assert m, scrape(s).text
    time.sleep(0.3)
    m = scrape(s)
    assert m.get("wsginit_worker_restarts_total", reason="max_requests") == 2, m.text
    assert m.get("wsginit_worker_restarts_total", reason="crash") == 0, m.text
    assert requests_total(m) == {("GET", "2xx"): 7}, m.text
    assert m.get("wsginit_workers") == 1


def test_metrics_keep_exact_counts_after_a_worker_is_removed(server):
    """TTOU takes a worker away for good: the requests it served stay counted once (its
    counters move to the master's sum of workers gone), and no counter goes down."""
    s = server(APP=PROBE, WORKERS="2")
    wait_ready(s)
    pids, lock = [], threading.Lock()

    def client():                      # 4 x 10 concurrent requests: both workers serve some
        for _ in range(10):
            r = get(s.port, "/sleep?s=0.02")
            with lock:
                pids.append(r.json()["pid"] if r.status == 200 else None)
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert None not in pids and len(pids) == 40, pids
    assert len(set(pids)) == 2, "one worker served all 40 requests; the test needs both"
    assert wait_for(lambda: requests_total(scrape(s)).get(("GET", "2xx")) == 40, 3), scrape(s).text
    s.proc.send_signal(signal.SIGTTOU)
    m = wait_for(lambda: (lambda m: m if m.get("wsginit_workers") == 1 else None)(scrape(s)), 5, step=0.05)
    assert m, scrape(s).text
    time.sleep(0.3)
    m = scrape(s)
    assert requests_total(m) == {("GET", "2xx"): 40}, m.text
    assert m.get("wsginit_request_duration_seconds_count") == 40, m.text


# ================================================================ SHUTDOWN_DELAY

def test_rolling_update_with_shutdown_delay(server):
    """TERM with SHUTDOWN_DELAY=2 while 4 clients keep opening new connections: readiness
    and HEALTH_PATH fail at once, new connections are served for 2 s, then the graceful
    stop; no accepted connection fails, and the exit status is 0."""
    s = server(APP=LIFE, WORKERS="2", SHUTDOWN_DELAY="2", HEALTH_PATH="/healthz")
    wait_ready(s)
    results, lock = [], threading.Lock()          # (connect time, "ok"|"failed"|"refused", detail)
    t_begin = time.monotonic()
    stop_at = [t_begin + 4.5]

    def client():
        while time.monotonic() < stop_at[0]:
            t = time.monotonic()
            try:
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=3)
            except (ConnectionRefusedError, ConnectionResetError) as e:
                # never accepted: refused once the listeners are closed, or reset when the
                # handshake met the last close (the window README's "Stopping" describes)
                with lock:
                    results.append((t, "refused", repr(e)))
                time.sleep(0.005)
                continue
            except OSError as e:
                with lock:
                    results.append((t, "failed", "connect: %r" % e))
                continue
            try:
                with Conn(sock=sock, timeout=10) as c:
                    r = c.request("GET", "/", [("Connection", "close")], timeout=10)
                kind = "ok" if (r.status, r.body) == (200, b"ok") else "failed"
                detail = "" if kind == "ok" else repr(r)
            except Exception as e:                      # reset, timeout, bad response
                kind, detail = "failed", repr(e)
            with lock:
                results.append((t, kind, detail))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.6)
    loaded = scrape(s)
    print("\n/metrics scrape under load (4 clients, new connection per request):\n" + loaded.text)

    t0 = time.monotonic()
    s.proc.send_signal(signal.SIGTERM)
    readyz = None
    while time.monotonic() < t0 + 1.0:
        if admin_status(s, "/readyz", timeout=1) == 503:
            readyz = time.monotonic() - t0
            break
    t1 = time.monotonic()
    healthz = None
    while time.monotonic() < t0 + 1.5:
        try:
            if health(s.port, timeout=1).status == 503:
                healthz = time.monotonic() - t0
                break
        except (OSError, ConnectionError, TimeoutError):
            pass
    # the load goes on until the server has exited (bounded)
    try:
        rc = s.proc.wait(timeout=t0 + 3.8 - time.monotonic())
    except Exception:
        rc = None
    stop_at[0] = min(stop_at[0], time.monotonic() + 0.3)
    for t in threads:
        t.join(timeout=15)
    if rc is None:
        rc = s.proc.wait(timeout=10)

    ok = [r for r in results if r[1] == "ok"]
    failed = [r for r in results if r[1] == "failed"]
    refused = [r for r in results if r[1] == "refused"]
    during = [r for r in ok if t0 + 0.2 <= r[0] <= t0 + 1.8]
    first_refused = min((r[0] - t0 for r in refused), default=None)
    last_ok = max((r[0] - t0 for r in ok), default=None)
    print("rolling update: ok=%d failed=%d refused=%d; served during the delay: %d; "
          "/readyz 503 after %s ms, HEALTH_PATH 503 after %s ms (measured from %.1f ms); "
          "last ok connect at +%s s, first refusal at +%s s; exit %s"
          % (len(ok), len(failed), len(refused), len(during),
             None if readyz is None else "%.1f" % (readyz * 1000),
             None if healthz is None else "%.1f" % (healthz * 1000), (t1 - t0) * 1000,
             None if last_ok is None else "%.2f" % last_ok,
             None if first_refused is None else "%.2f" % first_refused, rc))
    assert readyz is not None and readyz <= 0.1, "/readyz flip: %r s" % readyz
    assert healthz is not None and healthz - (t1 - t0) <= 0.1, "HEALTH_PATH flip: %r s" % healthz
    assert not failed, "failed requests on accepted connections: %r" % failed[:10]
    assert len(during) >= 20, "only %d requests served during SHUTDOWN_DELAY" % len(during)
    assert first_refused is None or first_refused >= 1.9, "refused %.2f s after TERM (delay 2 s)" % first_refused
    assert last_ok is not None and last_ok >= 1.9, last_ok
    assert rc == 0, s.err()
    assert "TERM: not ready" in s.err() and "Graceful stop" in s.err(), s.err()


def test_health_path_503_during_shutdown_delay_while_the_app_serves(server):
    s = server(APP=PROBE, SHUTDOWN_DELAY="1.5", HEALTH_PATH="/healthz")
    wait_ready(s)
    with Conn(s.port) as keep:                           # keep-alive connections keep working
        assert keep.request("GET", "/healthz").status == 200
        s.proc.send_signal(signal.SIGTERM)
        assert wait_for(lambda: "TERM: not ready" in s.err(), 2), s.err()
        r = keep.request("GET", "/healthz")
        assert (r.status, r.body) == (503, b"draining\n"), r
        assert keep.request("GET", "/x").status == 200
    r = health(s.port)
    assert (r.status, r.body) == (503, b"draining\n"), r
    assert get(s.port, "/x").status == 200
    assert admin_get(s, "/readyz").status == 503
    assert admin_get(s, "/livez").status == 200, "still live while it drains"
    assert s.proc.wait(timeout=10) == 0


# ================================================================ proxy headers

@pytest.fixture(scope="module")
def proxy_server():
    """proxy_server(**env) -> a running wsginit serving probe:application, one per env."""
    cache = {}

    def get_server(bind6=False, **env):
        key = (bind6, tuple(sorted(env.items())))
        if key not in cache:
            env = dict(env, APP=PROBE)
            if bind6:
                port = free_port()
                s = wire.Live(env, bind="[::1]:%d" % port, ready=lambda l: wire.wait_connect(
                    socket.AF_INET6, ("::1", port), l.proc))
                s.port = port
            else:
                s = wire.Live(env)
            cache[key] = s
        return cache[key]

    yield get_server
    for s in cache.values():
        s.stop()


def environ(s, headers=(), path="/echo", host="127.0.0.1"):
    sock = socket.create_connection((host, s.port), timeout=10)
    with Conn(sock=sock) as c:
        r = c.request("GET", path, list(headers) + [("Connection", "close")])
    assert r.status == 200, r
    return r.json()["str"]


@pytest.mark.parametrize("headers,scheme", [
    ([("X-Forwarded-Proto", "https")], "https"),
    ([("X-Forwarded-Proto", "http")], "http"),
    ([("X-Forwarded-Proto", "HTTPS")], "https"),
    ([("X-Forwarded-Ssl", "on")], "https"),
    ([("X-Forwarded-Ssl", "off")], "http"),
    ([("X-Forwarded-Protocol", "https")], "https"),
    ([], "http"),
])
def test_trusted_proxy_sets_the_scheme(proxy_server, headers, scheme):
    e = environ(proxy_server(), headers)
    assert e["wsgi.url_scheme"] == scheme, e


@pytest.mark.parametrize("allow,xff,remote", [
    ("127.0.0.1,10.0.0.0/8", "1.2.3.4, 10.1.1.1", "1.2.3.4"),
    ("127.0.0.1,10.0.0.0/8", "1.2.3.4, 5.6.7.8", "5.6.7.8"),
    ("127.0.0.1,10.0.0.0/8", "1.2.3.4,10.1.1.1,10.2.2.2", "1.2.3.4"),
    ("127.0.0.1,10.0.0.0/8", "9.9.9.9, 1.2.3.4, 10.1.1.1", "1.2.3.4"),   # spoofed left part ignored
    ("127.0.0.1,::1", "1.2.3.4, 10.1.1.1", "10.1.1.1"),                  # the default list
    ("127.0.0.1,::1", "2001:db8::7", "2001:db8::7"),
    ("*", "1.2.3.4, 5.6.7.8", "1.2.3.4"),                                 # every hop trusted
])
def test_trusted_proxy_x_forwarded_for(proxy_server, allow, xff, remote):
    s = proxy_server(FORWARDED_ALLOW_IPS=allow)
    tag = uuid.uuid4().hex
    e = environ(s, [("X-Forwarded-For", xff)], path="/echo?tag=" + tag)
    assert e["REMOTE_ADDR"] == remote, e
    # the access log's %(h)s follows it
    text = s.wait_log(lambda t: tag in t, stream="out", timeout=3)
    line = [ln for ln in text.splitlines() if tag in ln]
    assert line and line[0].startswith(remote + " "), line


@pytest.mark.parametrize("fwd,extra,remote,scheme", [
    ("for=1.2.3.4;proto=https", [], "1.2.3.4", "https"),
    ('for="[2001:db8::1]:4711";proto=https', [], "2001:db8::1", "https"),
    ('For="1.2.3.4:8080"', [], "1.2.3.4", "http"),
    ("for=1.2.3.4, for=10.1.1.1;proto=https", [], "1.2.3.4", "https"),
    ("for=1.2.3.4, for=5.6.7.8", [], "5.6.7.8", "http"),
    ("for=unknown", [], "127.0.0.1", "http"),
    # any X-Forwarded-* header is used instead of Forwarded, not merged with it: a proxy
    # that sets X-Forwarded-For and passes a client's Forwarded on must win
    ("for=1.2.3.4;proto=https", [("X-Forwarded-For", "9.9.9.9")], "9.9.9.9", "http"),
    ("for=1.2.3.4;proto=http", [("X-Forwarded-Ssl", "on")], "127.0.0.1", "https"),
])
def test_trusted_proxy_forwarded_rfc7239(proxy_server, fwd, extra, remote, scheme):
    s = proxy_server(FORWARDED_ALLOW_IPS="127.0.0.1,10.0.0.0/8")
    e = environ(s, [("Forwarded", fwd)] + extra)
    assert (e["REMOTE_ADDR"], e["wsgi.url_scheme"]) == (remote, scheme), e


@pytest.mark.parametrize("header", ["X-Forwarded-Prefix", "Script-Name"])
def test_trusted_proxy_prefix_sets_script_name(proxy_server, header):
    s = proxy_server(ROOT_PATH="/root")
    e = environ(s, [(header, "/prefix")], path="/prefix/echo")
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == ("/prefix", "/echo"), e
    e = environ(s, path="/root/echo")                       # without the header: ROOT_PATH
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == ("/root", "/echo"), e


SPOOF = [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "on"),
         ("X-Forwarded-Protocol", "https"), ("X-Forwarded-Prefix", "/evil"), ("Script-Name", "/evil2")]


@pytest.mark.parametrize("headers", [SPOOF, [("Forwarded", "for=1.2.3.4;proto=https")] + SPOOF[4:]],
                         ids=["x-forwarded", "forwarded"])
def test_untrusted_peer_changes_nothing(proxy_server, headers):
    s = proxy_server(FORWARDED_ALLOW_IPS="10.0.0.1", ROOT_PATH="/root")
    tag = uuid.uuid4().hex
    e = environ(s, headers, path="/root/echo?tag=" + tag)
    assert (e["REMOTE_ADDR"], e["wsgi.url_scheme"], e["SCRIPT_NAME"], e["PATH_INFO"]) == \
        ("127.0.0.1", "http", "/root", "/echo"), e
    line = [ln for ln in s.wait_log(lambda t: tag in t, stream="out", timeout=3).splitlines() if tag in ln]
    assert line and line[0].startswith("127.0.0.1 "), line


def test_untrusted_ipv6_peer_changes_nothing(proxy_server):
    s = proxy_server(bind6=True, FORWARDED_ALLOW_IPS="127.0.0.1", ROOT_PATH="/root")
    e = environ(s, SPOOF, path="/root/echo", host="::1")
    assert (e["REMOTE_ADDR"], e["wsgi.url_scheme"], e["SCRIPT_NAME"], e["PATH_INFO"]) == \
        ("::1", "http", "/root", "/echo"), e


def test_trusted_ipv6_peer(proxy_server):
    s = proxy_server(bind6=True)                              # the default list has ::1
    e = environ(s, [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https")], host="::1")
    assert (e["REMOTE_ADDR"], e["wsgi.url_scheme"]) == ("1.2.3.4", "https"), e


# ================================================================ --probe

def test_probe_command(server):
    s = server(APP=PROBE, HEALTH_PATH="/healthz")
    wait_ready(s)
    for url, code, printed in [("http://127.0.0.1:%d/healthz" % s.port, 0, "200"),
                               ("http://127.0.0.1:%d/status/201" % s.port, 0, "201"),
                               ("http://127.0.0.1:%d/readyz" % s.admin, 0, "200"),
                               ("http://127.0.0.1:%d/status/404" % s.port, 1, "404"),
                               ("http://127.0.0.1:%d/raise" % s.port, 1, "500"),
                               ("http://127.0.0.1:%d/nope" % s.admin, 1, "404")]:
        r = run_binary({}, ["--probe", url], timeout=15)
        assert (r.returncode, r.stdout.strip()) == (code, printed), (url, r.returncode, r.stdout, r.stderr)
    nobody = free_port()
    t = time.monotonic()
    r = run_binary({}, ["--probe", "http://127.0.0.1:%d/healthz" % nobody], timeout=15)
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert time.monotonic() - t < 6
    r = run_binary({}, ["--probe", "https://127.0.0.1:%d/healthz" % s.port], timeout=15)
    assert r.returncode == 1, (r.stdout, r.stderr)


# ================================================================ examples/kubernetes.yaml

def load_manifest():
    import yaml  # python3-yaml (Debian)
    with open(os.path.join(ROOT, "examples", "kubernetes.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return {d["kind"]: d for d in docs}


def help_variables():
    out = run_binary({}, ["--help"]).stdout
    return set(re.findall(r"^\| ([A-Z_]+) \|", out, re.M))


def test_kubernetes_manifest_agrees_with_the_server():
    docs = load_manifest()
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= set(docs), set(docs)
    dep = docs["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (ctr,) = pod["containers"]
    env = {e["name"]: e["value"] for e in ctr["env"]}
    assert set(env) <= help_variables(), set(env) - help_variables()
    assert "APP" in env

    # restricted Pod Security Standard
    psc, csc = pod.get("securityContext", {}), ctr["securityContext"]
    both = dict(psc, **csc)
    assert both["runAsNonRoot"] is True
    assert both["runAsUser"] == 65532 and both["runAsGroup"] == 65532
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"] and not csc["capabilities"].get("add")
    assert csc["readOnlyRootFilesystem"] is True
    # ... with writable temp space: an emptyDir at /tmp (uploads, tempfile)
    (tmp,) = [m for m in ctr.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    (vol,) = [v for v in pod.get("volumes", []) if v["name"] == tmp["name"]]
    assert "emptyDir" in vol and not tmp.get("readOnly"), (tmp, vol)
    assert both["seccompProfile"]["type"] == "RuntimeDefault"

    # ports: the app port is PORT, the probes use ADMIN_BIND's port, /livez and /readyz
    ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    assert int(env["PORT"]) == 8080 and ports["http"] == 8080
    admin_host, admin_port = env["ADMIN_BIND"].rsplit(":", 1)
    assert admin_host == "0.0.0.0" and ports["admin"] == int(admin_port) == 9000
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        g = ctr[probe]["httpGet"]
        assert g["path"] == path, probe
        assert g["port"] in (9000, "admin"), (probe, g["port"])

    # the grace period covers SHUTDOWN_DELAY + GRACEFUL_TIMEOUT, with a margin
    assert (float(env["SHUTDOWN_DELAY"]), float(env["GRACEFUL_TIMEOUT"])) == (5, 30)
    assert pod["terminationGracePeriodSeconds"] == 5 + 30 + 5
    assert env["HEALTH_PATH"].startswith("/")

    # CPU limit "2" and the worker count it yields (said in a comment, no WORKERS set)
    assert str(ctr["resources"]["limits"]["cpu"]) == "2"
    assert "WORKERS" not in env and "WEB_CONCURRENCY" not in env
    with open(os.path.join(ROOT, "examples", "kubernetes.yaml")) as f:
        assert re.search(r"#.*WORKERS=5", f.read()), "the manifest does not say which WORKERS it gets"

    # Service, PodDisruptionBudget, HorizontalPodAutoscaler point at the Deployment
    labels = dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["template"]["metadata"]["labels"].items() >= labels.items()
    svc = docs["Service"]
    assert svc["spec"]["selector"] == labels
    assert any(p.get("targetPort") in (8080, "http") for p in svc["spec"]["ports"]), svc["spec"]["ports"]
    assert all(p.get("targetPort") not in (9000, "admin") for p in svc["spec"]["ports"]), \
        "the admin port is for the kubelet, not the Service"
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    ref = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", dep["metadata"]["name"])


def test_kubernetes_manifest_env_is_accepted_by_the_server():
    ctr = load_manifest()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in ctr["env"]}
    env["APP"] = "probe:application"                      # an app that exists here
    r = run_binary(env, ["--print-config"])
    assert r.returncode == 0, r.stderr
    cfg = dict(line.split("  #")[0].split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    for name, value in env.items():
        if name not in ("APP", "CHDIR"):
            assert cfg[name].strip() == value, (name, cfg[name], value)


def test_kubernetes_cpu_limit_gives_five_workers():
    """Kubernetes writes a CPU limit of "2" as cgroup v2 cpu.max "200000 100000"; with no
    WORKERS set that is 2*2+1 = 5 workers (checked with test_cgroup's fake cgroup)."""
    from test_cgroup import fake_v2
    if os.geteuid() != 0:
        pytest.fail("needs root for the fake cgroup (mount namespace)")
    workers, comment = fake_v2({"": "200000 100000"})
    assert workers == 5, comment


def test_kubernetes_manifest_serves_with_its_env(server):
    """The manifest's env (app swapped for a test app, ports moved to free ones) serves:
    HEALTH_PATH, /livez, /readyz answer as its probes expect."""
    ctr = load_manifest()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in ctr["env"]}
    env.update(APP=PROBE, WORKERS="1", SHUTDOWN_DELAY="0.2")
    env.pop("ADMIN_BIND")
    env.pop("PORT")
    s = server(**env)
    wait_ready(s)
    assert admin_status(s, ctr["livenessProbe"]["httpGet"]["path"]) == 200
    assert admin_status(s, ctr["readinessProbe"]["httpGet"]["path"]) == 200
    assert health(s.port, env["HEALTH_PATH"]).status == 200
