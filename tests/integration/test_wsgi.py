"""PEP 3333 behaviour of wsginit: environ, wsgi.input, start_response/write/exc_info,
errors, close(), file_wrapper, framing, threads, APP forms."""
import hashlib
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import conftest
import wire
from wire import Conn, build, get

sys.path.insert(0, conftest.APPS)
import probe  # noqa: E402  (for probe.pattern)

PROBE = {"APP": "probe:application"}
BARE = {"APP": "probe:bare"}
MIS = {"APP": "misbehave:application"}


@pytest.fixture(scope="module")
def srv():
    s = wire.Live(dict(PROBE))
    yield s
    rc, out, err = s.stop()
    # the validator writes this if a server never called close() on an iterable
    assert "Iterator garbage collected without being closed" not in err


@pytest.fixture(scope="module")
def bare():
    s = wire.Live(dict(BARE))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mis():
    s = wire.Live(dict(MIS))
    yield s
    s.stop()


def echo(port, target="/echo", headers=(), method="GET", body=b"", version="HTTP/1.1"):
    with Conn(port) as c:
        r = c.request(method, target, list(headers), body, version=version)
        assert r.status == 200, r
        return r.json(), c.sock.getsockname()


# ---------------------------------------------------------------- environ


REQUIRED_STR = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
                "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme"]


def test_environ_required_keys_and_types(srv):
    j, (caddr, cport) = echo(srv.port, "/echo?a=1", [("Content-Type", "text/plain"), ("X-Custom", "v")],
                             method="POST", body=b"hello")
    env, types = j["str"], j["types"]
    for k in REQUIRED_STR:
        assert k in env, "%s missing from environ" % k
        assert types[k] == "str"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["HTTP_X_CUSTOM"] == "v"
    assert env["QUERY_STRING"] == "a=1"
    assert env["wsgi.url_scheme"] == "http"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(cport)
    assert j["wsgi.version"] == [1, 0] and types["wsgi.version"] == "tuple"
    assert j["wsgi.run_once"] is False
    assert j["wsgi.multithread"] is False          # THREADS=1
    assert j["wsgi.multiprocess"] is False         # WORKERS=1
    assert j["wsgi.input_terminated"] is True
    assert j["wsgi.errors_is_stderr"] is True
    assert j["input_methods"] == ["__iter__", "read", "readline", "readlines"]
    assert j["has_file_wrapper"]
    for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once", "wsgi.input_terminated"):
        assert types[k] == "bool"
    # every non-wsgi key is a str (PEP 3333: "native strings")
    for k, t in types.items():
        if "." not in k:
            assert t == "str", "%s is %s" % (k, t)


def test_environ_get_without_body(srv):
    j, _ = echo(srv.port, "/echo")
    env = j["str"]
    assert env["REQUEST_METHOD"] == "GET"
    assert env["QUERY_STRING"] == ""
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/echo"
    assert env.get("CONTENT_LENGTH", "") in ("", "0")


def test_multithread_and_multiprocess_flags(live):
    s = live(**PROBE, THREADS="4", WORKERS="2")
    j, _ = echo(s.port)
    assert j["wsgi.multithread"] is True
    assert j["wsgi.multiprocess"] is True


def test_server_name_and_port_from_host_header(srv):
    j, _ = echo(srv.port, headers=[("Host", "example.org:8081")])
    assert j["str"]["SERVER_NAME"] == "example.org"
    assert j["str"]["SERVER_PORT"] == "8081"
    assert j["str"]["HTTP_HOST"] == "example.org:8081"
    j, _ = echo(srv.port, headers=[("Host", "example.org")])
    assert j["str"]["SERVER_NAME"] == "example.org"
    assert j["str"]["SERVER_PORT"] == "80"


def test_server_name_and_port_without_host_header(srv):
    with Conn(srv.port) as c:
        c.send(b"GET /echo HTTP/1.0\r\n\r\n")
        r = c.read_response()
    env = r.json()["str"]
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_percent_decoding_and_raw_query(srv):
    r = get(srv.port, "/a%20b/%C3%A9/c%2Fd?x=%20&y=%C3%A9+z&q=a%26b")
    j = r.json()
    assert j["PATH_INFO"] == "/a b/\u00c3\u00a9/c/d"      # latin-1 str of the decoded bytes
    assert j["QUERY_STRING"] == "x=%20&y=%C3%A9+z&q=a%26b"
    assert j["SCRIPT_NAME"] == ""


@pytest.mark.parametrize("path,script,info", [
    ("/p/x/y", "/p", "/x/y"),
    ("/p", "/p", ""),
    ("/p/", "/p", "/"),
    ("/px", "/p", "/px"),
    ("/other", "/p", "/other"),
])
def test_root_path(live, path, script, info):
    s = live(**PROBE, ROOT_PATH="/p")
    r = get(s.port, path + "?k=v")
    assert r.status == 200
    j = r.json()
    assert j["SCRIPT_NAME"] == script
    assert j["PATH_INFO"] == info
    assert j["QUERY_STRING"] == "k=v"


def test_root_path_echo_route(live):
    s = live(**PROBE, ROOT_PATH="/mount")
    j, _ = echo(s.port, "/mount/echo")
    assert j["str"]["SCRIPT_NAME"] == "/mount"
    assert j["str"]["PATH_INFO"] == "/echo"


# ---------------------------------------------------------------- wsgi.input

BODY = b"line1\nline2\r\nlong line three\n\nno newline at end"


def lines_of(data):
    out, start = [], 0
    while start < len(data):
        i = data.find(b"\n", start)
        end = len(data) if i < 0 else i + 1
        out.append(data[start:end])
        start = end
    return out


def readline_n_pieces(data, n):
    out = []
    for line in lines_of(data):
        out += [line[i:i + n] for i in range(0, len(line), n)]
    return out


@pytest.mark.parametrize("mode,pieces", [
    ("read", [BODY]),
    ("read-1", [BODY]),
    ("read-cl", [BODY]),
    ("read-n", [BODY[i:i + 7] for i in range(0, len(BODY), 7)]),
    ("readline", lines_of(BODY)),
    ("readline-n", readline_n_pieces(BODY, 5)),
    ("readlines", lines_of(BODY)),
    ("readlines-hint", lines_of(BODY)),
    ("iter", lines_of(BODY)),
])
def test_wsgi_input_methods(srv, mode, pieces):
    for framing in ("content-length", "chunked"):
        if framing == "chunked" and mode == "read-cl":
            continue   # CONTENT_LENGTH is only defined for a Content-Length request
        if framing == "chunked":
            headers, body = [("Transfer-Encoding", "chunked")], wire.chunked(BODY[:10], BODY[10:])
        else:
            headers, body = [], BODY
        with Conn(srv.port) as c:
            r = c.request("POST", "/body?mode=" + mode, headers, body)
        assert r.status == 200, (mode, framing, r)
        assert r.body == BODY, (mode, framing)
        assert r.header("X-Pieces") == ",".join(str(len(p)) for p in pieces), (mode, framing)


@pytest.mark.parametrize("mode", ["read", "read-n", "readline", "readlines", "iter"])
def test_wsgi_input_empty_body(srv, mode):
    r = get(srv.port, "/body?mode=" + mode, method="POST", body=b"")
    assert r.status == 200 and r.body == b""


def test_wsgi_input_large_body_readline(srv):
    data = b"".join(b"%08d some text on the line\n" % i for i in range(60000))  # ~2 MiB, memfd
    r = get(srv.port, "/body?mode=readline", method="POST", body=data, timeout=30)
    assert r.status == 200
    assert r.header("X-Body-Sha256") == hashlib.sha256(data).hexdigest()
    assert r.body == data


def test_wsgi_errors_goes_to_stderr(srv):
    marker = "wsgi-errors-marker-%d" % time.monotonic_ns()
    assert get(srv.port, "/errors?msg=" + marker).status == 200
    err = srv.wait_log(lambda t: marker in t)
    assert marker in err


# ---------------------------------------------------------------- start_response / write / exc_info


def test_write_callable(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/write?n=3")
        assert r.status == 200
        assert r.body == b"w0;w1;w2;end"
        assert r.chunked or r.header("Content-Length") == str(len(r.body))
        assert c.request("GET", "/echo").status == 200


def test_exc_info_replaces_headers_before_they_are_sent(srv):
    r = get(srv.port, "/excinfo-replace")
    assert r.status == 503
    assert r.header("X-Second") == "yes"
    assert r.header("X-First") is None
    assert r.body == b"replaced by exc_info"


def test_exc_info_after_headers_sent_reraises_and_cuts(srv):
    with Conn(srv.port) as c:
        c.send(build("GET", "/excinfo-after"))
        data = c.read_until_eof(timeout=10)
    r, _ = wire.parse_one(data, eof=True)
    assert r.status == 200
    assert b"SERVER DID NOT RE-RAISE" not in data
    assert r.body.startswith(b"already sent\n")
    assert not r.complete, "a response cut by an error must not look complete: %r" % data
    err = srv.wait_log(lambda t: "probe late error" in t)
    assert "probe late error" in err


def test_exception_before_headers_gives_500_and_worker_keeps_serving(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/raise")
        assert r.status == 500
        assert b"probe boom" not in r.body, "traceback must not leak to the client"
    err = srv.wait_log(lambda t: "RuntimeError: probe boom before headers" in t)
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: probe boom before headers" in err
    assert get(srv.port, "/echo").status == 200
    pid_before = get(srv.port, "/pid").body
    get(srv.port, "/raise")
    assert get(srv.port, "/pid").body == pid_before, "the worker was replaced after an app exception"


@pytest.mark.parametrize("target", ["/raise-after", "/raise-after?cl=1000"])
def test_exception_mid_stream_cuts_connection(srv, target):
    with Conn(srv.port) as c:
        c.send(build("GET", target))
        data = c.read_until_eof(timeout=10)
    r, _ = wire.parse_one(data, eof=True)
    if r.status == 200:
        assert not r.complete, "an aborted body must not look complete: %r" % data
        assert r.body == b"first chunk\n"
    else:
        assert r.status == 500, data   # allowed if nothing had been sent yet
    assert "probe boom after headers" in srv.wait_log(lambda t: "probe boom after headers" in t)
    assert get(srv.port, "/echo").status == 200


def test_exception_mid_stream_http10(srv):
    out, closed = wire.raw_exchange(srv.port, b"GET /raise-after?cl=1000 HTTP/1.0\r\n\r\n")
    assert closed
    r, _ = wire.parse_one(out, eof=True)
    assert r.status == 500 or not r.complete


# ---------------------------------------------------------------- misbehaving apps


@pytest.mark.parametrize("path", [
    "/bad-status-text", "/bad-status-int", "/bad-status-short",
    "/header-crlf", "/header-lf-name", "/header-nul", "/header-nonstr", "/header-bytes",
    "/hop-connection", "/hop-transfer-encoding", "/hop-keep-alive", "/hop-upgrade",
    "/str-body", "/twice", "/no-start-response", "/returns-none",
])
def test_invalid_app_response_gives_500_and_log_line(mis, path):
    n_err = len(mis.err())
    with Conn(mis.port) as c:
        c.send(build("GET", path, [("Connection", "close")]))
        data = c.read_until_eof(timeout=10)
    r, used = wire.parse_one(data, eof=True)
    assert r.status == 500, data
    assert b"pwned" not in data and b"Injected" not in data
    assert (r.header("Upgrade") is None and r.header("Keep-Alive") is None)
    new = mis.wait_log(lambda t: len(t) > n_err and "\n" in t[n_err:])[n_err:]
    assert new.strip(), "no error logged for %s" % path
    assert "ERROR" in new or "Traceback" in new, new
    assert get(mis.port, "/").body == b"misbehave ok"


def test_status_without_reason_gets_its_space(mis):
    """start_response('200', ...): the status line keeps the SP that RFC 9112 requires
    before an empty reason phrase."""
    with Conn(mis.port) as c:
        c.send(build("GET", "/status-no-reason", [("Connection", "close")]))
        data = c.read_until_eof(timeout=10)
    assert data.startswith(b"HTTP/1.1 200 \r\n"), data
    assert wire.parse_one(data, eof=True)[0].body == b"no reason"


def test_non_bytes_item_after_headers_cuts(mis):
    with Conn(mis.port) as c:
        c.send(build("GET", "/str-body-later"))
        data = c.read_until_eof(timeout=10)
    r, _ = wire.parse_one(data, eof=True)
    assert r.status == 500 or (not r.complete and r.body == b"bytes first\n"), data
    assert get(mis.port, "/").status == 200


def test_close_raising_is_logged_and_worker_keeps_serving(mis):
    r = get(mis.port, "/close-raises")
    assert r.status == 200
    assert r.body == b"body before a failing close"
    err = mis.wait_log(lambda t: "probe close() failure" in t)
    assert "probe close() failure" in err
    assert get(mis.port, "/").body == b"misbehave ok"


# ---------------------------------------------------------------- close()


def test_close_called_after_normal_response(srv):
    r = get(srv.port, "/track?id=normal1&n=3&size=10")
    assert r.body == b"x" * 30
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        j = get(srv.port, "/closed?id=normal1").json()
        if j["closed"]:
            break
        time.sleep(0.05)
    assert j == {"started": True, "closed": True}


def test_close_called_on_client_disconnect(srv):
    ident = "gone%d" % time.monotonic_ns()
    with Conn(srv.port) as c:
        c.send(build("GET", "/track?id=%s&n=100000&size=65536" % ident))
        assert c.sock.recv(1024).startswith(b"HTTP/1.1 200")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    deadline = time.monotonic() + 10
    j = None
    while time.monotonic() < deadline:
        j = get(srv.port, "/closed?id=" + ident).json()
        if j["closed"]:
            break
        time.sleep(0.1)
    assert j == {"started": True, "closed": True}, "close() not called after the client went away"


def test_close_called_on_disconnect_during_slow_stream(srv):
    ident = "slow%d" % time.monotonic_ns()
    with Conn(srv.port) as c:
        c.send(build("GET", "/track?id=%s&n=200&size=100&delay=0.02" % ident))
        assert c.sock.recv(1024).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    j = None
    while time.monotonic() < deadline:
        j = get(srv.port, "/closed?id=" + ident).json()
        if j["closed"]:
            break
        time.sleep(0.1)
    assert j == {"started": True, "closed": True}


# ---------------------------------------------------------------- file_wrapper and framing


@pytest.mark.parametrize("size", [0, 1, 100000, 3 * 1024 * 1024 + 3])
def test_file_wrapper_real_file(bare, size):
    with Conn(bare.port, timeout=30) as c:
        r = c.request("GET", "/file?size=%d" % size, timeout=30)
        assert r.status == 200
        assert r.header("Content-Length") == str(size), r
        assert r.header("Transfer-Encoding") is None
        assert r.body == probe.pattern(size)
        assert c.request("GET", "/echo").status == 200


def test_file_wrapper_with_curl(bare, tmp_path):
    size = 1234567
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "-D", str(tmp_path / "h"),
                          bare.url("/file?size=%d" % size)], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == probe.pattern(size)
    head = (tmp_path / "h").read_text().lower()
    assert "content-length: %d" % size in head


def test_file_wrapper_head(bare):
    with Conn(bare.port) as c:
        r = c.request("HEAD", "/file?size=5000")
        assert r.status == 200 and r.header("Content-Length") == "5000"
        assert c.request("GET", "/echo").status == 200


def test_head_with_an_empty_body_announces_no_length(bare):
    """An app that answers HEAD with no body (as Werkzeug does) says nothing of GET's
    length: no Content-Length: 0 is made up, for a list and for an iterator."""
    with Conn(bare.port) as c:
        for path in ("/list?n=0", "/stream?n=0"):
            r = c.request("HEAD", path)
            assert r.status == 200 and r.header("Content-Length") is None, (path, r)
            assert r.header("Transfer-Encoding") is None, (path, r)
        r = c.request("GET", "/list?n=0")
        assert r.status == 200 and r.header("Content-Length") == "0", r
        r = c.request("HEAD", "/list?n=2&size=10")  # a body: its length is GET's
        assert r.header("Content-Length") == "20", r


def test_file_wrapper_http10(bare):
    out, closed = wire.raw_exchange(bare.port, b"GET /file?size=70000 HTTP/1.0\r\n\r\n", timeout=10)
    r, _ = wire.parse_one(out, eof=True)
    assert r.body == probe.pattern(70000)


def test_file_wrapper_filelike_without_fileno(bare):
    r = get(bare.port, "/filelike?size=20000")
    assert r.status == 200 and r.body == probe.pattern(20000)


def test_file_wrapper_under_validator(srv):
    # the validator hides the wrapper's type: the server must simply iterate it
    r = get(srv.port, "/file?size=50000&blk=1000")
    assert r.status == 200 and r.body == probe.pattern(50000)


def test_list_body_gets_content_length(bare):
    with Conn(bare.port) as c:
        r = c.request("GET", "/list?n=3&size=4")
        assert r.header("Content-Length") == "12" and r.header("Transfer-Encoding") is None
        assert r.body == b"000011112222"
        r = c.request("GET", "/list?n=2&size=3&tuple=1")
        assert r.header("Content-Length") == "6" and r.body == b"000111"


def test_app_content_length_is_used(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/echo")
        assert r.header("Content-Length") == str(len(r.body))
        assert r.header("Transfer-Encoding") is None


def test_generator_body_chunked_on_http11_close_delimited_on_http10(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/stream?n=3&size=2")
        assert r.chunked and r.header("Content-Length") is None and r.body == b"001122"
    out, closed = wire.raw_exchange(srv.port, b"GET /stream?n=3&size=2 HTTP/1.0\r\n\r\n")
    r, _ = wire.parse_one(out, eof=True)
    assert closed and not r.chunked and r.body == b"001122"


def test_empty_generator_body(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/stream?n=0")
        assert r.status == 200 and r.body == b""
        assert c.request("GET", "/echo").status == 200


# ---------------------------------------------------------------- threads


def test_threads_serve_concurrently_in_one_worker(live):
    s = live(**PROBE, THREADS="4", WORKERS="1")
    get(s.port, "/echo")  # warm
    results, errors = [], []

    def one():
        try:
            r = get(s.port, "/sleep?s=0.5", timeout=10)
            results.append(r.json())
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    elapsed = time.monotonic() - t0
    assert not errors, errors
    assert len(results) == 4
    assert len({r["pid"] for r in results}) == 1, "served by more than one process"
    assert len({r["thread"] for r in results}) == 4, "not 4 distinct app threads"
    assert elapsed < 1.5, "4 x 0.5 s sleeps took %.2fs with THREADS=4" % elapsed


def test_single_thread_serializes(live):
    s = live(**PROBE, THREADS="1", WORKERS="1")
    get(s.port, "/echo")
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(s.port, "/sleep?s=0.3", timeout=10)))
               for _ in range(3)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert len(results) == 3
    assert time.monotonic() - t0 >= 0.85


def test_a_long_call_wakes_one_more_thread_for_its_length(live):
    """While a long call keeps the GIL, one more thread serves the CPU-bound requests
    that wait, once none was taken for 20 ms, and sleeps again after it: then one thread
    serves them all. (The calls that share the GIL with a long one take long too:
    counting those woke every thread in turn; and a woken thread stayed, taking turns
    on the GIL with the others for as long as requests waited.)"""
    s = live(**PROBE, THREADS="8", WORKERS="1")
    served, stop, errors = [], threading.Event(), []

    def client():  # one request pipelined behind the one served: requests always wait
        try:
            with Conn(s.port, timeout=20) as c:
                c.send(build("GET", "/spin?s=0.005"))
                while not stop.is_set():
                    c.send(build("GET", "/spin?s=0.005"))
                    served.append(c.read_response().json())
                c.read_response()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    clients = [threading.Thread(target=client) for _ in range(16)]
    for t in clients:
        t.start()
    try:
        assert conftest.wait_for(lambda: len(served) >= 50, timeout=10), "the requests are not served"
        with Conn(s.port, timeout=20) as c:
            spun = c.request("GET", "/spin?s=0.5", timeout=20).json()
        after = len(served)
        one = conftest.wait_for(lambda: len(served) >= after + 50 and len({q["thread"] for q in served[-50:]}) == 1,
                                timeout=10)
        threads = {q["thread"] for q in served[-50:]}
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=20)
    assert not errors, errors[:3]
    beside = [q for q in served if spun["start"] < q["start"] and q["end"] < spun["end"]]
    assert beside, "no request was served while the long call ran"
    assert one, "%d threads still take turns 10 s after one long call" % len(threads)


def test_app_threads_serve_keep_alive_clients_in_turn(live):
    """Clients that each send their next request when answered are served in turn: between
    two requests of one client, each other client's one. The worker is pinned to one CPU,
    so its loop runs when the app thread is done with what waits, and takes back all the
    connections it finished at once (they were resumed last first: the client served first
    in one round was served last in the next, and waited two rounds)."""
    s = live(**PROBE, THREADS="4", WORKERS="1")
    worker = int(get(s.port, "/pid").body)
    cpu = min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/%d/task" % worker):
        os.sched_setaffinity(int(tid), {cpu})
    clients, rounds = 8, 50
    request = build("GET", "/spin?s=0.0002")
    served = []  # (start, client): one client thread, so no GIL turns of its own decide the order
    left = [rounds] * clients
    with selectors.DefaultSelector() as sel:
        conns = [Conn(s.port, timeout=20) for _ in range(clients)]
        for i, c in enumerate(conns):
            sel.register(c.sock, selectors.EVENT_READ, i)
            c.send(request)
        deadline = time.monotonic() + 30
        while any(left) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                i, c = key.data, conns[key.data]
                served.append((c.read_response().json()["start"], i))
                left[i] -= 1
                if left[i]:
                    c.send(request)
        for c in conns:
            c.close()
    assert len(served) == clients * rounds, "%d of %d served in 30 s" % (len(served), clients * rounds)
    order = [i for _, i in sorted(served)]
    gaps = []
    for i in range(clients):
        at = [n for n, who in enumerate(order) if who == i][2:]  # from the third: all have come
        gaps += [b - a for a, b in zip(at, at[1:])]
    out_of_turn = [g for g in gaps if abs(g - clients) > 2]
    assert len(out_of_turn) <= len(gaps) // 4, "%d of %d requests out of turn: %s" % (
        len(out_of_turn), len(gaps), sorted(gaps))


# ---------------------------------------------------------------- APP forms


def test_app_module_only_uses_application(live):
    s = live(APP="probe")
    r = get(s.port, "/echo")
    assert r.status == 200 and "str" in r.json()


def test_app_module_colon_name(live):
    s = live(APP="misbehave:application")
    assert get(s.port, "/").body == b"misbehave ok"


@pytest.mark.parametrize("app,body", [
    ('probe:make_app("hi", 2)', b"hihi"),
    ("probe:make_app('yo', 3)", b"yoyoyo"),
])
def test_app_factory_with_literal_args(live, app, body):
    s = live(APP=app)
    assert get(s.port, "/").body == body


def test_pythonpath_honoured(live):
    d = tempfile.mkdtemp(prefix="wsginit-pp-")
    os.chmod(d, 0o755)
    try:
        with open(os.path.join(d, "ppapp.py"), "w") as f:
            f.write("def application(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [b'from PYTHONPATH']\n")
        os.chmod(os.path.join(d, "ppapp.py"), 0o644)
        s = live(APP="ppapp", PYTHONPATH=d)
        assert get(s.port, "/").body == b"from PYTHONPATH"
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def test_chdir_is_first_on_sys_path(live):
    # CHDIR (tests/apps) is where probe is found; the cwd of the test run is elsewhere
    s = live(APP="probe:application")
    assert get(s.port, "/echo").status == 200


# ---------------------------------------------------------------- response headers and status


def test_reason_phrase_passed_through(srv):
    r = get(srv.port, "/status/418")
    assert r.status == 418 and r.reason == "I'm a teapot"


def test_repeated_response_headers_kept_separate(srv):
    r = get(srv.port, "/headers?Set-Cookie=a%3D1&Set-Cookie=b%3D2")
    assert r.all("Set-Cookie") == ["a=1", "b=2"]


def test_latin1_response_header_value(srv):
    with Conn(srv.port) as c:
        c.send(build("GET", "/headers?X-Latin=caf%C3%A9", [("Connection", "close")]))
        data = c.read_until_eof()
    assert b"\r\nX-Latin: caf\xe9\r\n" in data


def test_non_latin1_response_header_value_is_500(srv):
    r = get(srv.port, "/headers?X-Euro=%E2%82%AC")
    assert r.status == 500
    assert get(srv.port, "/echo").status == 200


def test_start_response_called_during_first_iteration(srv):
    for version in ("HTTP/1.1", "HTTP/1.0"):
        with Conn(srv.port) as c:
            c.send(build("GET", "/lazy", [("Connection", "close")], version=version))
            data = c.read_until_eof()
        r, _ = wire.parse_one(data, eof=True)
        assert r.status == 200 and r.header("X-Lazy") == "yes"
        assert r.body == b"lazy body" and r.complete
