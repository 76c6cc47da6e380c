"""Deliberately broken WSGI app for wsginit's error-path tests.

NOT wrapped in wsgiref.validate.validator: every endpoint here violates PEP 3333 on
purpose (bad status, non-str or CR/LF header values, hop-by-hop headers, str body
items, start_response twice without exc_info, a close() that raises, no
start_response, None returned), and the validator would turn each violation into
its own AssertionError before the server ever saw it.

Every call is counted (/count), so tests can tell whether the app was reached.
"""

CALLS = [0]
CLOSED = []


def _ok(start_response, body=b"ok"):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def bad_status_text(environ, start_response):
    start_response("abc", [("Content-Type", "text/plain")])
    return [b"bad status"]


def bad_status_int(environ, start_response):
    start_response(200, [("Content-Type", "text/plain")])
    return [b"int status"]


def bad_status_short(environ, start_response):
    start_response("99 Too Low", [("Content-Type", "text/plain")])
    return [b"short"]


def status_no_reason(environ, start_response):
    start_response("200", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"no reason"]


def header_crlf(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Evil", "a\r\nSet-Cookie: pwned=1")])
    return [b"crlf"]


def header_lf_name(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Evil\nInjected", "1")])
    return [b"lf name"]


def header_nul(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Nul", "a\x00b")])
    return [b"nul"]


def header_nonstr(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Num", 42)])
    return [b"nonstr"]


def header_bytes(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), (b"X-Bytes", b"v")])
    return [b"bytes"]


def make_hop(name, value):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), (name, value)])
        return [b"hop"]
    return app


def str_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes"]


def str_body_later(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"bytes first\n"
        yield "then a str"
    return gen()


def twice(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"twice"]


class RaisingClose:
    def __iter__(self):
        yield b"body before a failing close"

    def close(self):
        CLOSED.append(1)
        raise RuntimeError("probe close() failure")


def close_raises(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return RaisingClose()


def no_start_response(environ, start_response):
    return [b"never started"]


def returns_none(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return None


def count(environ, start_response):
    return _ok(start_response, str(CALLS[0]).encode())


ROUTES = {
    "/bad-status-text": bad_status_text, "/bad-status-int": bad_status_int,
    "/bad-status-short": bad_status_short, "/status-no-reason": status_no_reason,
    "/header-crlf": header_crlf, "/header-lf-name": header_lf_name, "/header-nul": header_nul,
    "/header-nonstr": header_nonstr, "/header-bytes": header_bytes,
    "/hop-connection": make_hop("Connection", "close"),
    "/hop-transfer-encoding": make_hop("Transfer-Encoding", "chunked"),
    "/hop-keep-alive": make_hop("Keep-Alive", "timeout=5"),
    "/hop-upgrade": make_hop("Upgrade", "websocket"),
    "/str-body": str_body, "/str-body-later": str_body_later, "/twice": twice,
    "/close-raises": close_raises, "/no-start-response": no_start_response,
    "/returns-none": returns_none, "/count": count,
}


def application(environ, start_response):
    CALLS[0] += 1
    handler = ROUTES.get(environ.get("PATH_INFO", ""))
    if handler is None:
        return _ok(start_response, b"misbehave ok")
    return handler(environ, start_response)
