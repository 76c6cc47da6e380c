"""HTTP/1.1 protocol behaviour of wsginit over raw sockets, http.client and curl."""
import hashlib
import http.client
import json
import os
import re
import select
import socket
import subprocess
import time

import pytest

import wire
from conftest import figures_on_release_build_only, rss_kib, wait_children, wait_for
from wire import Conn, build, chunked, get

PROBE = {"APP": "probe:application"}


@pytest.fixture(scope="module")
def srv():
    s = wire.Live(dict(PROBE, THREADS="1"))
    yield s
    s.stop()


def assert_rejected(port, data, statuses, timeout=4.0):
    """The server answers `data` with one of `statuses`, Connection: close, closes the
    connection, and never calls the app (probe's call counter)."""
    if isinstance(statuses, int):
        statuses = (statuses,)
    before = wire.count(port)
    out, closed = wire.raw_exchange(port, data, timeout=timeout)
    assert out, "no response at all to %r" % data[:200]
    r, used = wire.parse_one(out, eof=True)
    assert r.status in statuses, "expected %s for %r, got %r" % (statuses, data[:200], out[:300])
    assert (r.header("Connection") or "").lower() == "close", r
    assert r.header("Date") and (r.header("Server") or "").startswith("wsginit"), r
    assert closed, "connection left open after %s for %r" % (r.status, data[:200])
    assert out[used:] == b"", "more than one response: %r" % out
    after = wire.count(port)
    assert after == before + 1, "the app was called for a rejected request %r" % data[:200]
    return r


# ---------------------------------------------------------------- keep-alive


def test_keep_alive_serves_several_requests_on_one_connection(srv):
    with Conn(srv.port) as c:
        ports = set()
        for i in range(3):
            r = c.request("GET", "/echo?i=%d" % i)
            assert r.status == 200
            assert r.header("Server", "").startswith("wsginit")
            assert re.match(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$",
                            r.header("Date", "")), r.header("Date")
            env = r.json()["str"]
            assert env["QUERY_STRING"] == "i=%d" % i
            ports.add(env["REMOTE_PORT"])
            assert (r.header("Connection") or "").lower() != "close"
        assert len(ports) == 1, "requests came over different connections: %r" % ports
        assert not c.closed_by_peer(timeout=0.3)


def test_http_client_keep_alive(srv):
    hc = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        for i in range(3):
            hc.request("GET", "/echo?n=%d" % i)
            r = hc.getresponse()
            body = r.read()
            assert r.status == 200
            assert json.loads(body)["str"]["QUERY_STRING"] == "n=%d" % i
        # the socket is still the same one
        assert hc.sock is not None
    finally:
        hc.close()


def test_idle_keep_alive_connection_closed_after_keep_alive_seconds(live):
    s = live(**PROBE, KEEP_ALIVE="1")
    with Conn(s.port) as c:
        assert c.request("GET", "/echo").status == 200
        t0 = time.monotonic()
        assert c.closed_by_peer(timeout=5.0), "idle connection not closed with KEEP_ALIVE=1"
        elapsed = time.monotonic() - t0
        assert 0.5 <= elapsed <= 3.5, "closed after %.2fs, KEEP_ALIVE=1" % elapsed


def test_idle_default_keep_alive_lasts_a_few_seconds(srv):
    with Conn(srv.port) as c:
        assert c.request("GET", "/echo").status == 200
        assert not c.closed_by_peer(timeout=2.0), "default KEEP_ALIVE is 5 s"
        assert c.request("GET", "/echo").status == 200


def test_keep_alive_zero_disables_keep_alive(live):
    s = live(**PROBE, KEEP_ALIVE="0")
    with Conn(s.port) as c:
        r = c.request("GET", "/echo")
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.closed_by_peer(timeout=3.0)


def test_connection_close_request_is_honoured(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/echo", [("Connection", "close")])
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.closed_by_peer(timeout=3.0)


# ---------------------------------------------------------------- pipelining


def test_pipelined_requests_answered_in_order(srv):
    reqs = (build("GET", "/echo?p=1") + build("POST", "/body?mode=read-cl", body=b"second body")
            + build("GET", "/stream?n=2&size=3") + build("HEAD", "/echo?p=4")
            + build("GET", "/echo?p=5"))
    with Conn(srv.port) as c:
        c.send(reqs)
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
        r4 = c.read_response("HEAD")
        r5 = c.read_response()
        assert r1.json()["str"]["QUERY_STRING"] == "p=1"
        assert r2.body == b"second body"
        assert r3.body == b"000111"
        assert r4.status == 200 and r4.body == b""
        assert r5.json()["str"]["QUERY_STRING"] == "p=5"
        assert not c.closed_by_peer(timeout=0.3)


def test_pipelined_requests_split_at_odd_boundaries(srv):
    data = b"".join(build("GET", "/echo?q=%d" % i) for i in range(4))
    with Conn(srv.port) as c:
        for i in range(0, len(data), 37):
            c.send(data[i:i + 37])
            time.sleep(0.005)
        for i in range(4):
            assert c.read_response().json()["str"]["QUERY_STRING"] == "q=%d" % i


# ---------------------------------------------------------------- HTTP/1.0


def test_http10_without_keep_alive_is_close_delimited(srv):
    out, closed = wire.raw_exchange(srv.port, b"GET /stream?n=3&size=4 HTTP/1.0\r\n\r\n")
    assert closed
    r, used = wire.parse_one(out, eof=True)
    assert r.status == 200
    assert r.header("Transfer-Encoding") is None, "chunked must not be sent to an HTTP/1.0 client"
    assert r.body == b"000011112222"
    assert (r.header("Connection") or "close").lower() == "close"


def test_http10_with_keep_alive(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/echo?a=1", [("Connection", "keep-alive")], version="HTTP/1.0")
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "keep-alive"
        assert r.json()["str"]["SERVER_PROTOCOL"] == "HTTP/1.0"
        r = c.request("GET", "/echo?a=2", [("Connection", "keep-alive")], version="HTTP/1.0")
        assert r.json()["str"]["QUERY_STRING"] == "a=2"
        # a request without keep-alive ends the connection
        r = c.request("GET", "/echo?a=3", [], version="HTTP/1.0")
        assert r.status == 200
        assert c.closed_by_peer(timeout=3.0)


def test_http10_keep_alive_streaming_response_is_not_chunked(srv):
    with Conn(srv.port) as c:
        c.send(build("GET", "/stream?n=2&size=2", [("Connection", "keep-alive")], version="HTTP/1.0"))
        data = c.read_until_eof(timeout=5)
    r, _ = wire.parse_one(data, eof=True)
    assert r.header("Transfer-Encoding") is None
    assert r.body == b"0011"


# ---------------------------------------------------------------- request bodies


def test_chunked_request_body_with_trailers(srv):
    body = chunked(b"hello ", b"chunked\n", b"world", trailers=[b"X-Trailer: sneaky", b"Host: evil"])
    with Conn(srv.port) as c:
        r = c.request("POST", "/body?mode=read-n", [("Transfer-Encoding", "chunked")], body)
        assert r.status == 200
        assert r.body == b"hello chunked\nworld"
        r = c.request("POST", "/echo", [("Transfer-Encoding", "chunked")], body)
        env = r.json()["str"]
        assert "HTTP_X_TRAILER" not in env, "trailer reached environ"
        assert env.get("HTTP_HOST") == "localhost"
        assert "HTTP_TRANSFER_ENCODING" not in env or env["HTTP_TRANSFER_ENCODING"] == "chunked"
        # the connection is still usable: the body was consumed exactly
        assert c.request("GET", "/echo?after=1").json()["str"]["QUERY_STRING"] == "after=1"


def test_chunked_body_with_extensions(srv):
    body = b"5;ext=1\r\nhello\r\n0\r\n\r\n"
    with Conn(srv.port) as c:
        r = c.request("POST", "/body?mode=read", [("Transfer-Encoding", "chunked")], body)
        assert r.status == 200 and r.body == b"hello"


def test_large_body_read_back_intact(srv):
    data = os.urandom(3 * 1024 * 1024 + 17)
    with Conn(srv.port, timeout=30) as c:
        r = c.request("POST", "/body?mode=read-cl", [("Content-Type", "application/octet-stream")],
                      data, timeout=30)
        assert r.status == 200
        assert r.header("X-Body-Sha256") == hashlib.sha256(data).hexdigest()
        assert r.body == data


def test_large_chunked_body_read_back_intact(srv):
    data = os.urandom(2 * 1024 * 1024 + 5)
    pieces = [data[i:i + 100000] for i in range(0, len(data), 100000)]
    with Conn(srv.port, timeout=30) as c:
        r = c.request("POST", "/body?mode=read", [("Transfer-Encoding", "chunked")],
                      chunked(*pieces), timeout=30)
        assert r.status == 200
        assert r.body == data


def test_large_body_with_curl(srv, tmp_path):
    data = os.urandom(1536 * 1024)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "--max-time", "30", "--data-binary", "@%s" % f,
                          "-H", "Content-Type: application/octet-stream",
                          srv.url("/body?mode=iter")], capture_output=True, timeout=40)
    assert out.returncode == 0, out.stderr
    assert out.stdout == data


# ---------------------------------------------------------------- Expect: 100-continue


def test_expect_100_continue_arrives_before_body(srv):
    with Conn(srv.port) as c:
        c.send(build("POST", "/body?mode=read", [("Expect", "100-continue"), ("Content-Length", "11")]))
        r = c.read_response(timeout=3.0)
        assert r.status == 100, r
        assert r.head_raw.startswith(b"HTTP/1.1 100 Continue")
        c.send(b"hello world")
        r = c.read_response()
        assert r.status == 200 and r.body == b"hello world"


def test_expect_100_continue_with_curl(srv):
    out = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "-H", "Expect: 100-continue",
                          "--expect100-timeout", "5", "--data-binary", "curl body",
                          srv.url("/body?mode=read")], capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"curl body"
    assert b"HTTP/1.1 100 Continue" in out.stderr


def test_expect_100_continue_over_max_body_size_gets_413_at_once(live):
    s = live(**PROBE, MAX_BODY_SIZE="1k")
    before = wire.count(s.port)
    with Conn(s.port) as c:
        c.send(build("POST", "/body?mode=read", [("Expect", "100-continue"), ("Content-Length", "5000")]))
        r = c.read_response(timeout=3.0)
        assert r.status == 413, r
        assert (r.header("Connection") or "").lower() == "close"
        assert c.closed_by_peer(timeout=3.0)
    assert wire.count(s.port) == before + 1


def test_body_over_max_body_size_gets_413(live):
    s = live(**PROBE, MAX_BODY_SIZE="1k")
    # declared length over the limit: 413 without the body being sent
    assert_rejected(s.port, build("POST", "/body", [("Content-Length", "1025")]) + b"x" * 100, 413)
    # chunked body growing over the limit
    assert_rejected(s.port, build("POST", "/body", [("Transfer-Encoding", "chunked")])
                    + chunked(b"a" * 600, b"b" * 600), 413)
    # exactly at the limit is fine
    r = get(s.port, "/body?mode=read-cl", method="POST", body=b"z" * 1024)
    assert r.status == 200 and r.body == b"z" * 1024


def test_unknown_expectation_gets_417(srv):
    assert_rejected(srv.port, build("POST", "/body", [("Expect", "something-else"),
                                                      ("Content-Length", "2")]) + b"ab", 417)


# ---------------------------------------------------------------- responses


def test_head_has_no_body(srv):
    with Conn(srv.port) as c:
        for target in ("/echo", "/stream?n=3&size=10", "/status/404"):
            c.send(build("HEAD", target))
            r = c.read_response("HEAD")
            assert r.status in (200, 404)
            # any body byte sent for HEAD would break the parse of the next response
            r2 = c.request("GET", "/echo?after-head=1")
            assert r2.status == 200, "bytes after HEAD response for %s" % target
            assert r2.json()["str"]["QUERY_STRING"] == "after-head=1"


def test_head_with_curl(srv):
    out = subprocess.run(["curl", "-sS", "-I", "--max-time", "10", srv.url("/echo")],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses_have_no_framing(srv, code):
    with Conn(srv.port) as c:
        r = c.request("GET", "/status/%d" % code)
        assert r.status == code
        assert r.header("Transfer-Encoding") is None
        assert r.header("Content-Length") in (None,), r
        r2 = c.request("GET", "/echo?after=%d" % code)
        assert r2.json()["str"]["QUERY_STRING"] == "after=%d" % code


def test_streaming_response_is_chunked_on_http11(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/stream?n=4&size=3")
        assert r.chunked and r.header("Content-Length") is None
        assert r.body == b"000111222333"


def test_absolute_form_target(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "http://example.com/abs/p%41th?x=1&y=%20", [("Host", "example.com")])
        assert r.status == 200
        j = r.json()
        assert j["PATH_INFO"] == "/abs/pAth"
        assert j["QUERY_STRING"] == "x=1&y=%20"


def test_absolute_form_https_target(srv):
    r = get(srv.port, "https://example.com/sec/x?y=2")
    assert r.status == 200
    assert r.json()["PATH_INFO"] == "/sec/x" and r.json()["QUERY_STRING"] == "y=2"


def test_fragment_is_stripped(srv):
    r = get(srv.port, "/frag/x?q=1#section")
    j = r.json()
    assert j["PATH_INFO"] == "/frag/x"
    assert j["QUERY_STRING"] == "q=1"


def test_options_star(srv):
    r = get(srv.port, "*", method="OPTIONS")
    assert r.status != 400, r


def test_star_target_only_with_options(srv):
    assert_rejected(srv.port, b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400)


# ---------------------------------------------------------------- limits and refusals


def test_request_line_too_long_414(srv):
    assert get(srv.port, "/" + "a" * 3000).status == 200
    assert_rejected(srv.port, build("GET", "/" + "a" * 5000), 414)


def test_request_line_limit_configurable(live):
    s = live(**PROBE, LIMIT_REQUEST_LINE="100")
    assert get(s.port, "/" + "a" * 50).status == 200
    assert_rejected(s.port, build("GET", "/" + "a" * 150), 414)


def test_request_line_limit_boundary(live):
    s = live(**PROBE, LIMIT_REQUEST_LINE="100")
    pad = 100 - len("GET / HTTP/1.1")
    exact = "/" + "b" * pad            # "GET <target> HTTP/1.1" is exactly 100 bytes
    assert len("GET %s HTTP/1.1" % exact) == 100
    assert get(s.port, exact).status == 200
    assert_rejected(s.port, build("GET", exact + "b"), 414)


def test_header_count_limit_boundary(live):
    s = live(**PROBE, LIMIT_REQUEST_FIELDS="10")
    # Host + 9 = 10 fields: allowed; Host + 10 = 11: refused
    assert get(s.port, "/echo", [("X-H%d" % i, "v") for i in range(8)]).status == 200  # + Connection
    assert_rejected(s.port, build("GET", "/echo", [("X-H%d" % i, "v") for i in range(10)]), 431)


def test_too_many_headers_431(srv):
    ok = [("X-H%d" % i, "v") for i in range(50)]
    assert get(srv.port, "/echo", ok).status == 200
    many = [("X-H%d" % i, "v") for i in range(150)]
    assert_rejected(srv.port, build("GET", "/echo", many), 431)


def test_too_many_headers_configurable(live):
    s = live(**PROBE, LIMIT_REQUEST_FIELDS="10")
    assert get(s.port, "/echo", [("X-H%d" % i, "v") for i in range(5)]).status == 200
    assert_rejected(s.port, build("GET", "/echo", [("X-H%d" % i, "v") for i in range(20)]), 431)


def test_header_field_too_large_431(srv):
    assert get(srv.port, "/echo", [("X-Big", "v" * 6000)]).status == 200
    assert_rejected(srv.port, build("GET", "/echo", [("X-Big", "v" * 9000)]), 431)


def test_header_field_size_configurable(live):
    s = live(**PROBE, LIMIT_REQUEST_FIELD_SIZE="200")
    assert get(s.port, "/echo", [("X-Big", "v" * 100)]).status == 200
    assert_rejected(s.port, build("GET", "/echo", [("X-Big", "v" * 300)]), 431)


@pytest.mark.parametrize("data", [
    b"GET\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad(Name): v\r\n\r\n",
    b"GET noslash HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET ftp://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"GET example.com:80 HTTP/1.1\r\nHost: example.com\r\n\r\n",
], ids=["no-target", "extra-token", "no-colon", "empty-name",
        "space-in-name", "paren-in-name", "target-not-origin-form", "absolute-form-not-http",
        "authority-form-without-connect"])
def test_malformed_400(srv, data):
    assert_rejected(srv.port, data, 400)


@pytest.mark.parametrize("data", [b"GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n",
                                  b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
                                  b"GARBAGE\r\n\r\n"],
                         ids=["unknown-method", "lowercase-method", "garbage"])
def test_unknown_method_refused(srv, data):
    # a syntactically valid but unknown method: 501 (RFC 9110) or 400, the app never runs
    assert_rejected(srv.port, data, (400, 501))


def test_unsupported_transfer_coding_501(srv):
    # chunked is final, so the body is delimited, but gzip is not supported: 501
    assert_rejected(srv.port, b"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\n", 501)


@pytest.mark.parametrize("te", ["gzip", "chunked, gzip", "deflate", "identity"])
def test_transfer_coding_without_final_chunked_refused(srv, te):
    # contract: 501; RFC 9112 6.3 says a request whose final coding is not chunked MUST get 400.
    # Either refuses it; the app must not run and the connection must close.
    assert_rejected(srv.port, b"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n"
                    b"3\r\nabc\r\n0\r\n\r\n" % te.encode(), (400, 501))


def test_doubled_chunked_coding_refused(srv):
    # not a *single* final chunked: 501 per the contract (400 tolerated: both refuse it)
    assert_rejected(srv.port, b"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked"
                    b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n", (400, 501))


@pytest.mark.parametrize("data", [
    b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    b"GET / HTTP/0.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/3.0\r\nHost: x\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
], ids=["2.0", "1.2", "0.9", "3.0", "h2-preface"])
def test_unsupported_version_505(srv, data):
    assert_rejected(srv.port, data, 505)


@pytest.mark.parametrize("data", [b"GET /\r\n\r\n", b"GET /\r\nHost: x\r\n\r\n"],
                         ids=["bare", "with-host"])
def test_request_line_without_version_400(srv, data):
    """HTTP/0.9's form: llhttp parses it, the contract refuses it."""
    assert_rejected(srv.port, data, 400)


def test_connect_405(srv):
    assert_rejected(srv.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405)


SMUGGLING = {
    "cl-and-te": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"0\r\n\r\nGET /count HTTP/1.1\r\nHost: x\r\n\r\n",
    "te-and-cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
                 b"0\r\n\r\nGET /count HTTP/1.1\r\nHost: x\r\n\r\n",
    "duplicate-cl-equal": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "duplicate-cl-different": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 0\r\n\r\nabc",
    "cl-list": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na",
    "cl-non-digit": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n\r\na",
    "cl-plus": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na",
    "cl-negative": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\na",
    "cl-hex": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x1\r\n\r\na",
    "cl-overflow": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\na",
    "bad-chunk-size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "overflowing-chunk-size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"10000000000000001\r\na\r\n0\r\n\r\n",
    "negative-chunk-size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n",
    "chunk-missing-crlf": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
    "bare-lf-everywhere": b"GET /echo HTTP/1.1\nHost: x\n\n",
    "bare-lf-in-headers": b"GET /echo HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare-lf-request-line": b"GET /echo HTTP/1.1\nHost: x\r\n\r\n",
    "bare-cr-in-headers": b"GET /echo HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
    "bare-cr-end-of-headers": b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\r\n",
    "obs-fold": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "obs-fold-tab": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n",
    "space-before-colon": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "tab-before-colon": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n",
    "space-before-colon-te": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n"
                             b"0\r\n\r\n",
    "ctl-in-value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "nul-in-value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "del-in-value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
    "esc-in-value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n",
    "duplicate-host": b"GET /echo HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    "duplicate-content-type": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                              b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "te-in-http10": b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    "empty-te-with-cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\nContent-Length: 3\r\n\r\nabc",
    "empty-te": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_smuggling_vector_refused_with_400(srv, name):
    assert_rejected(srv.port, SMUGGLING[name], 400)


def test_rejected_request_after_good_one_on_same_connection(srv):
    """A keep-alive connection whose second request is bad: the first is answered,
    the second gets 400, and the connection is closed."""
    with Conn(srv.port) as c:
        c.send(build("GET", "/echo?first=1") + SMUGGLING["cl-and-te"])
        r1 = c.read_response()
        assert r1.json()["str"]["QUERY_STRING"] == "first=1"
        r2 = c.read_response()
        assert r2.status == 400
        assert c.closed_by_peer(timeout=3.0)


# ---------------------------------------------------------------- header mapping


def test_header_names_with_underscore_are_dropped(srv):
    r = get(srv.port, "/echo", [("X_Forwarded_For", "6.6.6.6"), ("X-Forwarded-For", "1.2.3.4"),
                                ("Only_Underscore", "gone"), ("X-Dash", "kept")])
    env = r.json()["str"]
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    assert "HTTP_ONLY_UNDERSCORE" not in env
    assert env["HTTP_X_DASH"] == "kept"
    assert "6.6.6.6" not in json.dumps(env)


def test_repeated_headers_are_joined(srv):
    r = get(srv.port, "/echo", [("X-Multi", "a"), ("Accept", "text/html"), ("X-Multi", "b"),
                                ("x-multi", "c")])
    env = r.json()["str"]
    assert env["HTTP_X_MULTI"] == "a, b, c"
    assert env["HTTP_ACCEPT"] == "text/html"


def test_header_value_whitespace_trimmed(srv):
    r = get(srv.port, "/echo", [("X-Pad", "  padded value \t")])
    assert r.json()["str"]["HTTP_X_PAD"] == "padded value"


# ---------------------------------------------------------------- binds


def test_ipv6_bind(live, tmp_path):
    import conftest
    port = conftest.free_port()
    s = wire.Live(dict(PROBE, BIND="[::1]:%d" % port), wait=False)
    try:
        wire.wait_connect(socket.AF_INET6, ("::1", port), s.proc)
        sock = socket.create_connection(("::1", port), timeout=10)
        with Conn(sock=sock) as c:
            r = c.request("GET", "/echo")
            env = r.json()["str"]
            assert r.status == 200
            assert env["REMOTE_ADDR"] == "::1"
        out = subprocess.run(["curl", "-sS", "-g", "--max-time", "10", "http://[::1]:%d/echo" % port],
                             capture_output=True, timeout=20)
        assert out.returncode == 0 and json.loads(out.stdout)["str"]["REMOTE_ADDR"] == "::1"
    finally:
        s.stop()


def test_unix_socket_bind(tmp_path):
    path = str(tmp_path / "wsginit.sock")
    s = wire.Live(dict(PROBE, BIND="unix:%s" % path), wait=False)
    try:
        wire.wait_connect(socket.AF_UNIX, path, s.proc)
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(path)
        with Conn(sock=sock) as c:
            r = c.request("GET", "/echo?unix=1")
            assert r.status == 200
            assert r.json()["str"]["QUERY_STRING"] == "unix=1"
            assert c.request("GET", "/echo?unix=2").json()["str"]["QUERY_STRING"] == "unix=2"
        out = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", path,
                              "http://localhost/echo?curl=1"], capture_output=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["str"]["QUERY_STRING"] == "curl=1"
    finally:
        s.stop()


def test_several_binds(tmp_path):
    import conftest
    port = conftest.free_port()
    path = str(tmp_path / "both.sock")
    s = wire.Live(dict(PROBE, BIND="127.0.0.1:%d,unix:%s" % (port, path)), wait=False)
    try:
        wire.wait_connect(socket.AF_INET, ("127.0.0.1", port), s.proc)
        wire.wait_connect(socket.AF_UNIX, path, s.proc)
        assert get(port, "/echo").status == 200
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(10)
        sock.connect(path)
        with Conn(sock=sock) as c:
            assert c.request("GET", "/echo").status == 200
    finally:
        s.stop()


# ---------------------------------------------------------------- robustness


def test_client_disconnect_mid_response_server_keeps_serving(srv):
    for i in range(3):
        with Conn(srv.port) as c:
            c.send(build("GET", "/stream?n=20000&size=65536"))
            r = c.sock.recv(4096)
            assert r.startswith(b"HTTP/1.1 200")
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        # hard reset (linger 0); the worker must notice and serve the next client
        r = get(srv.port, "/echo?alive=%d" % i, timeout=10)
        assert r.status == 200 and r.json()["str"]["QUERY_STRING"] == "alive=%d" % i


def test_client_disconnect_before_reading_response(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(build("GET", "/echo"))
    assert get(srv.port, "/echo").status == 200


def test_truncated_request_does_not_reach_app(srv):
    before = wire.count(srv.port)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 200"), data
    assert wire.count(srv.port) == before + 1


# ---------------------------------------------------------------- slow clients and concurrency


def test_slow_client_headers_do_not_block_others(live):
    s = live(**PROBE, THREADS="1", WORKERS="1")
    with Conn(s.port) as slow:
        slow.send(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Partial: ")   # never finished
        time.sleep(0.2)
        t0 = time.monotonic()
        assert get(s.port, "/echo?other=1", timeout=5).status == 200
        assert time.monotonic() - t0 < 1.0


def test_slow_client_body_does_not_hold_the_app_thread(live):
    s = live(**PROBE, THREADS="1", WORKERS="1")
    before = wire.count(s.port)
    with Conn(s.port) as slow:
        slow.send(build("POST", "/body?mode=read", [("Content-Length", "100")]) + b"only ten b")
        time.sleep(0.2)
        t0 = time.monotonic()
        assert get(s.port, "/echo?other=1", timeout=5).status == 200
        assert time.monotonic() - t0 < 1.0
        # the app has not been called for the incomplete request
        assert wire.count(s.port) == before + 2
        slow.send(b"x" * 90)
        r = slow.read_response()
        assert r.status == 200 and r.body == b"only ten b" + b"x" * 90


def test_incomplete_headers_time_out(live):
    """A request's headers must arrive within 10 s of its first byte."""
    s = live(**PROBE)
    with Conn(s.port, timeout=20) as c:
        c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        deadline = t0 + 16
        # keep trickling header bytes: the limit is from the first byte, not per read
        while time.monotonic() < deadline and not c.eof:
            try:
                c.send(b"X-A: b\r\n")
            except OSError:
                break
            try:
                c._recv(time.monotonic() + 1.0)
            except (TimeoutError, OSError):
                pass
        elapsed = time.monotonic() - t0
        assert c.eof or time.monotonic() < deadline, "connection still open after %.1fs" % elapsed
        assert 9.0 <= elapsed <= 14.0, "closed after %.1fs, expected ~10 s" % elapsed
        assert not c.buf.startswith(b"HTTP/1.1 200")


def test_many_concurrent_keep_alive_connections(live):
    s = live(**PROBE, THREADS="1", WORKERS="1")
    conns = [Conn(s.port) for _ in range(50)]
    try:
        for rnd in range(2):
            for i, c in enumerate(conns):
                c.send(build("GET", "/echo?c=%d&r=%d" % (i, rnd)))
            for i, c in enumerate(conns):
                r = c.read_response()
                assert r.json()["str"]["QUERY_STRING"] == "c=%d&r=%d" % (i, rnd)
    finally:
        for c in conns:
            c.close()


def test_large_streaming_response_to_slow_reader(srv):
    with Conn(srv.port, timeout=30) as c:
        c.send(build("GET", "/stream?n=160&size=65536"))
        time.sleep(0.5)   # let the socket buffers fill: the server must wait, not drop data
        r = c.read_response(timeout=30)
        assert r.status == 200 and r.complete
        assert len(r.body) == 160 * 65536
        assert r.body[:65536] == b"0" * 65536 and r.body[-65536:] == b"9" * 65536


def test_expect_100_continue_not_sent_when_body_already_arrived(srv):
    with Conn(srv.port) as c:
        c.send(build("POST", "/body?mode=read", [("Expect", "100-continue")], b"all at once"))
        r = c.read_response()
        assert r.status == 200, "got %s first; the body had already arrived" % r.status
        assert r.body == b"all at once"


def test_expect_100_continue_empty_body(srv):
    with Conn(srv.port) as c:
        r = c.request("POST", "/body?mode=read", [("Expect", "100-continue"), ("Content-Length", "0")])
        assert r.status in (100, 200)
        if r.status == 100:
            r = c.read_response()
        assert r.status == 200 and r.body == b""


def test_nothing_answered_after_connection_close(srv):
    before = wire.count(srv.port)
    with Conn(srv.port) as c:
        c.send(build("GET", "/echo?first=1", [("Connection", "close")]) + build("GET", "/echo?second=1"))
        data = c.read_until_eof(timeout=5)
    r, used = wire.parse_one(data, eof=False)
    assert r.json()["str"]["QUERY_STRING"] == "first=1"
    assert data[used:] == b"", "a request after Connection: close was answered"
    assert wire.count(srv.port) == before + 2


def test_obs_text_header_value_is_latin1(srv):
    with Conn(srv.port) as c:
        r = c.request("GET", "/echo", [("X-Latin", "caf\xe9")])
        assert r.json()["str"]["HTTP_X_LATIN"] == "caf\u00e9"


def test_expect_100_continue_with_chunked_body(srv):
    with Conn(srv.port) as c:
        c.send(build("POST", "/body?mode=read", [("Expect", "100-continue"), ("Transfer-Encoding", "chunked")]))
        r = c.read_response(timeout=3.0)
        assert r.status == 100, r
        c.send(chunked(b"chunked ", b"after 100"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"chunked after 100"


def test_request_sent_byte_by_byte(srv):
    data = build("POST", "/body?mode=read", [("Transfer-Encoding", "chunked"), ("X-Slow", "1")]) \
        + chunked(b"abc", b"defgh", trailers=[b"X-T: 1"])
    with Conn(srv.port) as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
            if i % 10 == 0:
                time.sleep(0.001)
        r = c.read_response()
        assert r.status == 200 and r.body == b"abcdefgh"
        assert c.request("GET", "/echo?next=1").json()["str"]["QUERY_STRING"] == "next=1"


def test_many_pipelined_requests_in_one_send(srv):
    n = 200
    with Conn(srv.port, timeout=30) as c:
        c.send(b"".join(build("GET", "/echo?i=%d" % i) for i in range(n)))
        for i in range(n):
            r = c.read_response(timeout=20)
            assert r.json()["str"]["QUERY_STRING"] == "i=%d" % i


def test_transfer_encoding_is_case_insensitive(srv):
    with Conn(srv.port) as c:
        r = c.request("POST", "/body?mode=read", [("Transfer-Encoding", "Chunked")], chunked(b"ok"))
        assert r.status == 200 and r.body == b"ok"


def test_pipelining_in_order_with_threads(live):
    s = live(**PROBE, THREADS="4")
    with Conn(s.port, timeout=15) as c:
        c.send(build("GET", "/sleep?s=0.3") + build("GET", "/echo?p=2") + build("GET", "/sleep?s=0.1")
               + build("GET", "/echo?p=4"))
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
        r4 = c.read_response()
        assert "pid" in r1.json() and "pid" in r3.json()
        assert r2.json()["str"]["QUERY_STRING"] == "p=2"
        assert r4.json()["str"]["QUERY_STRING"] == "p=4"


def test_request_sent_while_an_app_thread_has_the_connection(live):
    """Connections are edge-triggered: a request that arrives while an app thread owns
    the connection is read once the response before it is out."""
    s = live(**PROBE, THREADS="4", WORKERS="1")
    with Conn(s.port, timeout=15) as c:
        before = wire.count(s.port)
        c.send(build("GET", "/sleep?s=0.5"))
        assert wait_for(lambda: wire.count(s.port) >= before + 2, timeout=10), "/sleep never ran"
        c.send(build("GET", "/echo?second=1"))
        assert "pid" in c.read_response().json()
        assert c.read_response().json()["str"]["QUERY_STRING"] == "second=1"


def test_request_sent_while_the_loop_writes_a_response(live):
    """A request that arrives while the loop waits to write the response before it (a
    client that does not read) is answered after it."""
    s = live(**PROBE, THREADS="1", WORKERS="1")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect(("127.0.0.1", s.port))
    with Conn(sock=sock, timeout=20) as c:
        c.send(build("GET", "/list?n=8&size=1048576"))
        assert wait_for(lambda: select.select([sock], [], [], 0)[0], timeout=10), "no response"
        c.send(build("GET", "/echo?second=1"))
        r = c.read_response(timeout=20)
        assert r.status == 200 and len(r.body) == 8 << 20
        assert c.read_response().json()["str"]["QUERY_STRING"] == "second=1"


@pytest.mark.parametrize("threads", ["1", "4"])
def test_client_fin_with_its_last_request_closes_at_once(live, threads):
    """A request and the client's FIN in one go: the answer, then the close, not the
    keep-alive timeout (edge-triggered, the FIN is read after a short read)."""
    s = live(**PROBE, THREADS=threads, WORKERS="1", KEEP_ALIVE="30")
    with Conn(s.port) as c:
        c.send(build("GET", "/echo?fin=1"))
        c.sock.shutdown(socket.SHUT_WR)
        assert c.read_response().json()["str"]["QUERY_STRING"] == "fin=1"
        assert c.closed_by_peer(timeout=10), "the connection outlived the client's FIN"


def test_pipelined_request_behind_an_app_thread_is_not_held(live):
    """With THREADS>1, a request pipelined behind one an app thread answers is served
    right after it: 20 such pairs take well under a second each (a connection handed
    back without waking the loop waited for its next turn, 1 s, every time)."""
    s = live(**PROBE, THREADS="4", WORKERS="1")
    with Conn(s.port, timeout=30) as c:
        t0 = time.monotonic()
        for i in range(20):
            c.send(build("GET", "/sleep?s=0.01") + build("GET", "/echo?i=%d" % i))
            assert "pid" in c.read_response(timeout=20).json()
            assert c.read_response(timeout=20).json()["str"]["QUERY_STRING"] == "i=%d" % i
        took = time.monotonic() - t0
    assert took < 5, "20 pipelined pairs took %.1f s" % took


def test_a_trailer_closing_one_connection_does_not_reach_others(live):
    """A chunked request whose trailer says Connection: close leaves its parser closed;
    the parser goes back to the worker's pool made new, so the next connections' requests
    are read (they got a 408 after 10 s when it went back as it was)."""
    s = live(**PROBE, WORKERS="1")
    with Conn(s.port) as attacker:
        attacker.send(b"POST /body?mode=read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"1\r\nx\r\n0\r\nConnection: close\r\n\r\n")
        assert attacker.read_response().body == b"x"
        for i in range(80):  # more than the pool holds
            with Conn(s.port, timeout=5) as c:
                assert c.request("GET", "/echo?v=%d" % i, timeout=5).status == 200


@figures_on_release_build_only
def test_idle_keep_alive_connections_hold_no_request_memory(live):
    """An idle keep-alive connection keeps no read buffer, parser or response: 2,000 of
    them, each after a request, grow the worker's resident memory by under 1 KiB each
    (3.8 KiB each when each kept its own)."""
    import resource
    n = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 200:
        pytest.skip("RLIMIT_NOFILE hard limit %d is below %d connections" % (hard, n))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))  # both ends
    conns = []
    try:
        s = live(**PROBE, WORKERS="1", KEEP_ALIVE="60")
        [worker] = wait_children(s.proc.pid, 1)
        for c in (Conn(s.port), Conn(s.port)):  # buffers and pools in use once
            conns.append(c)
            assert c.request("GET", "/echo").status == 200
        before = rss_kib(worker)
        for _ in range(n):
            c = Conn(s.port)
            conns.append(c)
            assert c.request("GET", "/echo").status == 200
        grown = rss_kib(worker) - before
    finally:
        for c in conns:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert grown < n, "%d idle connections grew the worker by %d KiB" % (n, grown)


def test_concurrent_clients_with_workers_and_threads(live):
    import threading
    s = live(**PROBE, WORKERS="2", THREADS="2")
    errors, ok = [], []

    def client(k):
        try:
            with Conn(s.port, timeout=15) as c:
                for i in range(10):
                    body = b"%d-%d" % (k, i) * 100
                    r = c.request("POST", "/body?mode=read", [], body)
                    assert r.body == body
                    ok.append(1)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=client, args=(k,)) for k in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert len(ok) == 120
