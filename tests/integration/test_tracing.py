"""Request IDs (REQUEST_ID), W3C trace context in the access log, and queue time
(the wsginit_request_queue_seconds histogram, the %(queue_us)s atom, X-Request-Start
from trusted proxies). Issue 14, items 2 to 4.

The app is probe:application (wrapped in wsgiref.validate). Every server runs through
wire.Live; every wait is for a condition and bounded; all traffic is on 127.0.0.1.
"""
import json
import re
import threading
import time
import uuid

import pytest

from conftest import free_port, run_binary, wait_for
from wire import Conn, get

PROBE = "probe:application"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
# the tag (from the query string) first, then every atom of ours and the response's header
TEXT = "%(q)s|%(request_id)s|%(trace_id)s|%(span_id)s|%(queue_us)s|%({x-request-id}o)s"


def log_line(s, tag, timeout=5.0):
    """The access line (stdout) of the request whose query string is tag=<tag>."""
    needle = "tag=" + tag

    def find():
        return [l for l in s.out().splitlines() if needle in l]
    found = wait_for(find, timeout)
    assert len(found) == 1, "access lines for %s: %r\nstdout:\n%s" % (tag, found, s.out()[-3000:])
    return found[0]


def text_fields(s, tag):
    """TEXT's atoms for the request tagged tag, as a dict."""
    parts = log_line(s, tag).split("|")
    assert len(parts) == 6, parts
    return dict(zip(("q", "request_id", "trace_id", "span_id", "queue_us", "header"), parts))


def json_fields(s, tag):
    return json.loads(log_line(s, tag))


def echo(s, headers=(), tag=None):
    """(response, the app's environ strings) for GET /echo with these headers."""
    tag = tag or uuid.uuid4().hex
    r = get(s.port, "/echo?tag=" + tag, list(headers))
    assert r.status == 200, r
    return r, r.json()["str"], tag


def admin(s):
    """The ADMIN_BIND port of s, once /metrics answers."""
    def up():
        try:
            return get(s.admin, "/metrics", timeout=2).status == 200
        except OSError:
            return False
    assert wait_for(up, 15), "no /metrics on %d\nstderr:\n%s" % (s.admin, s.err())
    return s.admin


def queue_histogram(s):
    """{le: cumulative count}, sum and count of wsginit_request_queue_seconds."""
    text = get(s.admin, "/metrics").body.decode()
    assert "# TYPE wsginit_request_queue_seconds histogram\n" in text, text
    buckets = {m.group(1): int(m.group(2)) for m in
               re.finditer(r'^wsginit_request_queue_seconds_bucket\{le="([^"]+)"\} (\d+)$', text, re.M)}
    total = float(re.search(r"^wsginit_request_queue_seconds_sum (\S+)$", text, re.M).group(1))
    count = int(re.search(r"^wsginit_request_queue_seconds_count (\d+)$", text, re.M).group(1))
    assert buckets["+Inf"] == count and list(buckets.values()) == sorted(buckets.values()), text
    return buckets, total, count


def histogram_after(s, count, timeout=5.0):
    """The queue histogram once it has counted `count` requests (it counts at the last byte)."""
    wait_for(lambda: queue_histogram(s)[2] >= count, timeout)
    h = queue_histogram(s)
    assert h[2] == count, "queue histogram: %r, want count %d" % (h, count)
    return h


@pytest.fixture
def traced(live):
    """traced(**env): a probe server with the text atoms of ours, and an admin port."""
    def start(**env):
        aport = free_port()
        full = {"APP": PROBE, "ACCESS_LOG_FORMAT": TEXT, "ADMIN_BIND": "127.0.0.1:%d" % aport}
        full.update(env)
        s = live(**full)
        s.admin = aport
        return s
    return start


# ---------------------------------------------------------------- REQUEST_ID

def test_request_id_is_off_by_default(traced):
    conf = run_binary({"APP": PROBE}, ["--print-config"])
    assert "\nREQUEST_ID=false\n" in conf.stdout, conf.stdout
    s = traced()
    r, env, tag = echo(s)
    assert r.header("X-Request-ID") is None, r.headers
    assert "HTTP_X_REQUEST_ID" not in env
    # a client's own, even one REQUEST_ID would refuse, reaches the app untouched
    r, env, tag2 = echo(s, [("X-Request-ID", "not valid/id")])
    assert r.header("X-Request-ID") is None and env["HTTP_X_REQUEST_ID"] == "not valid/id", (r.headers, env)
    assert text_fields(s, tag)["request_id"] == "-"
    assert text_fields(s, tag2)["request_id"] == "-"


def test_request_id_value_is_checked_at_start():
    r = run_binary({"APP": PROBE, "REQUEST_ID": "maybe"}, ["--check"])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert 'REQUEST_ID="maybe" is invalid' in r.stderr, r.stderr


@pytest.mark.parametrize("client_id", ["abc-123", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
                                       "Req:2023.11.14_frontend-7", "x" * 128, "A"])
def test_request_id_from_the_client_is_kept(traced, client_id):
    s = traced(REQUEST_ID="true")
    r, env, tag = echo(s, [("X-Request-ID", client_id)])
    assert r.all("X-Request-ID") == [client_id], r.headers
    assert env["HTTP_X_REQUEST_ID"] == client_id
    f = text_fields(s, tag)
    assert (f["request_id"], f["header"]) == (client_id, client_id), f


def test_request_id_is_made_when_the_client_has_none(traced):
    s = traced(REQUEST_ID="1")
    seen = set()
    with Conn(s.port) as c:            # keep-alive: a new one for each request
        for _ in range(20):
            tag = uuid.uuid4().hex
            r = c.request("GET", "/echo?tag=" + tag)
            rid = r.header("X-Request-ID")
            assert rid and HEX32.match(rid), r.headers
            assert r.json()["str"]["HTTP_X_REQUEST_ID"] == rid
            assert text_fields(s, tag)["request_id"] == rid
            seen.add(rid)
    for _ in range(20):                # and on new connections
        r, env, tag = echo(s)
        seen.add(r.header("X-Request-ID"))
        assert env["HTTP_X_REQUEST_ID"] == r.header("X-Request-ID")
    assert len(seen) == 40, seen


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "a/b", "a,b", "a;b", "{id}", "caf\xe9", "a=b",
                                 '"quoted"'])
def test_request_id_invalid_from_the_client_is_replaced(traced, bad):
    s = traced(REQUEST_ID="yes")
    r, env, tag = echo(s, [("X-Request-ID", bad)])
    rid = r.header("X-Request-ID")
    assert rid and HEX32.match(rid), (bad, r.headers)
    assert env["HTTP_X_REQUEST_ID"] == rid       # the app never sees the client's
    assert text_fields(s, tag)["request_id"] == rid


def test_request_id_two_lines_are_replaced(traced):
    """Two X-Request-ID lines would reach the app as "a, b": not one ID."""
    s = traced(REQUEST_ID="true")
    r, env, tag = echo(s, [("X-Request-ID", "first"), ("X-Request-ID", "second")])
    assert HEX32.match(r.header("X-Request-ID")) and env["HTTP_X_REQUEST_ID"] == r.header("X-Request-ID"), \
        (r.headers, env)


def test_request_id_the_apps_own_header_wins(traced):
    s = traced(REQUEST_ID="true")
    tag = uuid.uuid4().hex
    r = get(s.port, "/headers?X-Request-ID=from-the-app&tag=" + tag, [("X-Request-ID", "from-the-client")])
    assert r.all("X-Request-ID") == ["from-the-app"], r.headers
    f = text_fields(s, tag)
    assert (f["request_id"], f["header"]) == ("from-the-client", "from-the-app"), f


def test_request_id_on_an_app_error_and_in_json(traced):
    s = traced(REQUEST_ID="true", LOG_FORMAT="json")
    r = get(s.port, "/raise?tag=err1", [("X-Request-ID", "err-1")])
    assert (r.status, r.header("X-Request-ID")) == (500, "err-1"), r
    assert json_fields(s, "err1")["request_id"] == "err-1"
    r, env, tag = echo(s)
    j = json_fields(s, tag)
    assert j["request_id"] == r.header("X-Request-ID") == env["HTTP_X_REQUEST_ID"], (j, r.headers)


# ---------------------------------------------------------------- traceparent

VALID_PARENTS = [
    ("00-%s-%s-01" % (TRACE, SPAN), TRACE, SPAN),
    ("00-%s-%s-00" % (TRACE, SPAN), TRACE, SPAN),
    ("cc-%s-%s-01-what-the-future-will-be-like" % (TRACE, SPAN), TRACE, SPAN),  # a later version
]
INVALID_PARENTS = [
    "ff-%s-%s-01" % (TRACE, SPAN),                        # version ff
    "00-%s-%s-01" % (TRACE.upper(), SPAN),                # uppercase
    "00-%s-%s-01" % (TRACE, SPAN.upper()),
    "00-%s-%s-01" % ("0" * 32, SPAN),                     # all-zero trace-id
    "00-%s-%s-01" % (TRACE, "0" * 16),                    # all-zero parent-id
    "00-%s-%s-01" % (TRACE[:-1], SPAN),                   # 31 digits
    "00-%s-%s-1" % (TRACE, SPAN),
    "00-%s-%s-01-extra" % (TRACE, SPAN),                  # version 00 ends at the flags
    "0x-%s-%s-01" % (TRACE, SPAN),
    "00_%s_%s_01" % (TRACE, SPAN),
    "garbage",
]


@pytest.mark.parametrize("header,trace_id,span_id", VALID_PARENTS)
def test_traceparent_valid_json(traced, header, trace_id, span_id):
    s = traced(LOG_FORMAT="json")
    r, env, tag = echo(s, [("traceparent", header)])
    assert env["HTTP_TRACEPARENT"] == header
    j = json_fields(s, tag)
    assert (j["trace_id"], j["span_id"]) == (trace_id, span_id), j


@pytest.mark.parametrize("header", INVALID_PARENTS)
def test_traceparent_invalid_is_ignored_json(traced, header):
    s = traced(LOG_FORMAT="json")
    r, env, tag = echo(s, [("traceparent", header)])
    assert env["HTTP_TRACEPARENT"] == header              # still the app's to see
    j = json_fields(s, tag)
    assert "trace_id" not in j and "span_id" not in j, j
    assert j["path"] == "/echo" and j["queue_us"] >= 0, j


def test_traceparent_text_atoms(traced):
    s = traced()
    _, env, tag = echo(s, [("traceparent", VALID_PARENTS[0][0])])
    f = text_fields(s, tag)
    assert (f["trace_id"], f["span_id"]) == (TRACE, SPAN), f
    for header in INVALID_PARENTS[:5]:
        _, env, tag = echo(s, [("traceparent", header)])
        assert env["HTTP_TRACEPARENT"] == header
        f = text_fields(s, tag)
        assert (f["trace_id"], f["span_id"]) == ("-", "-"), (header, f)
    _, env, tag = echo(s)                                  # none at all
    assert text_fields(s, tag)["trace_id"] == "-"
    # two lines: not one traceparent
    _, env, tag = echo(s, [("traceparent", VALID_PARENTS[0][0]), ("traceparent", VALID_PARENTS[0][0])])
    assert text_fields(s, tag)["trace_id"] == "-"


# ---------------------------------------------------------------- queue time

def sleep_request(port, seconds, tag, results, barrier=None):
    try:
        with Conn(port, timeout=30) as c:
            if barrier is not None:
                barrier.wait(timeout=10)
            r = c.request("GET", "/sleep?s=%s&tag=%s" % (seconds, tag), [("Connection", "close")], timeout=30)
            results.append(r.status)
    except Exception as e:     # reported by the assertion on results
        results.append(repr(e))


def test_queue_time_under_saturation_with_two_threads(traced):
    """Six clients at once, two app threads, 0.3 s per request: four requests wait for a
    thread (about 0.3 s or 0.6 s each). One client at a time waits for nothing."""
    s = traced(THREADS="2")
    admin(s)
    _, total0, count0 = queue_histogram(s)
    assert count0 == 0 and total0 == 0

    # one client, one request after the other: the queue stays empty
    tags = [uuid.uuid4().hex for _ in range(4)]
    for t in tags:
        r = get(s.port, "/sleep?s=0.05&tag=" + t)
        assert r.status == 200
    buckets, total1, count1 = histogram_after(s, 4)
    waits = [int(text_fields(s, t)["queue_us"]) for t in tags]
    assert total1 < 0.1, "one client waited %.6f s in all: %r" % (total1, waits)
    assert sum(waits) == round(total1 * 1e6), (waits, total1)   # the log and the histogram agree

    # six at once on two threads
    n, results = 6, []
    barrier = threading.Barrier(n)
    tags = [uuid.uuid4().hex for _ in range(n)]
    threads = [threading.Thread(target=sleep_request, args=(s.port, 0.3, t, results, barrier)) for t in tags]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [200] * n, results
    buckets2, total2, count2 = histogram_after(s, 4 + n)
    waits = sorted(int(text_fields(s, t)["queue_us"]) for t in tags)
    queued = total2 - total1
    print("\nqueue times of 6 clients on 2 threads (us): %r; histogram sum %.3f s" % (waits, queued))
    assert queued >= 0.5, "six clients on two threads waited only %.6f s in all: %r" % (queued, waits)
    assert sum(waits) == round(queued * 1e6), (waits, queued)
    # at least two requests waited more than one 0.3 s round (0.25 s bucket and above)
    above = (buckets2["+Inf"] - buckets2["0.25"]) - (buckets["+Inf"] - buckets["0.25"])
    assert above >= 2 and waits[-2] >= 250000, (above, waits, buckets2)


def test_queue_time_is_only_for_the_app(traced):
    """HEALTH_PATH and refused requests never wait for an app slot: not in the histogram,
    and "-" in the access log of a refusal."""
    s = traced(HEALTH_PATH="/healthz", ACCESS_LOG_FORMAT="%(U)s %(s)s %(queue_us)s")
    admin(s)
    assert get(s.port, "/healthz").status == 200
    assert get(s.port, "/echo").status == 200
    histogram_after(s, 1)
    with Conn(s.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        assert c.read_response().status == 400
    text = s.wait_log(lambda t: " 400 " in t, stream="out")
    assert re.search(r"^/echo 200 \d+$", text, re.M), text
    assert re.search(r"^- 400 -$", text, re.M), text
    assert queue_histogram(s)[2] == 1      # counted before it was logged: no wait needed


def request_start_wait(s, value, trusted=True):
    """queue_us of one request carrying X-Request-Start: value."""
    _, env, tag = echo(s, [("X-Request-Start", value)])
    assert env["HTTP_X_REQUEST_START"] == value
    return int(text_fields(s, tag)["queue_us"])


def test_x_request_start_from_a_trusted_proxy(traced):
    s = traced()                         # 127.0.0.1 is in the default FORWARDED_ALLOW_IPS
    admin(s)
    now = time.time()
    cases = [
        ("t=%.3f" % (now - 2.5), 2.5),                   # nginx: t=${msec}, seconds
        ("%d" % ((now - 1.5) * 1000), 1.5),              # Heroku: milliseconds, no t=
        ("t=%d" % ((now - 0.75) * 1e6), 0.75),           # Apache's %t: microseconds
    ]
    expected = 0
    for value, ago in cases:
        waited = request_start_wait(s, value) / 1e6
        assert ago - 0.01 <= waited < ago + 2, "X-Request-Start: %s gave %.6f s" % (value, waited)
        expected += ago
    _, total, count = histogram_after(s, 3)
    assert expected - 0.03 <= total < expected + 6, (expected, total)
    # not credible: ignored (0 before wsginit), as is what cannot be read
    for value in ("t=%.3f" % (time.time() + 60),          # the proxy's clock ahead of ours
                  "t=%.3f" % (time.time() - 7200),        # two hours: a wrong unit or clock
                  "t=abc", "t=", "t=1.7e9", "-5"):
        waited = request_start_wait(s, value) / 1e6
        assert waited < 0.5, "X-Request-Start: %s gave %.6f s" % (value, waited)


def test_x_request_start_from_an_untrusted_peer_is_ignored(traced):
    s = traced(FORWARDED_ALLOW_IPS="10.0.0.1")
    admin(s)
    waited = request_start_wait(s, "t=%.3f" % (time.time() - 2.5)) / 1e6
    assert waited < 0.5, waited
    _, total, count = histogram_after(s, 1)
    assert total < 0.5, total
