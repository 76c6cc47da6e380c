"""Probe app for wsginit's integration tests: one WSGI app dispatching on PATH_INFO.

`application` is wrapped in wsgiref.validate.validator, and validator warnings are
turned into errors, so any PEP 3333 violation by the server (environ keys/types,
wsgi.input methods, start_response/write semantics, close() never called) shows up
as a 500 or as a line on stderr.

`bare` is the same dispatcher WITHOUT the validator: the validator wraps the returned
iterable in its own IteratorWrapper, which hides the iterable's type from the server,
so the server's list/tuple -> Content-Length and wsgi.file_wrapper -> sendfile paths
can only be exercised by an unwrapped (but still PEP 3333-correct) app.

Endpoints (query string parameters in brackets):
  /echo                  environ as JSON (str values, types of every value, wsgi.* info)
  /body [mode]           read wsgi.input one way and echo the bytes back
  /stream [n,size,delay] yield n chunks of `size` bytes (no Content-Length)
  /list [n,size]         return a list of n chunks (bare: Content-Length expected)
  /file [size,blk]       wsgi.file_wrapper over a real temporary file
  /filelike [size]       wsgi.file_wrapper over a BytesIO (no fileno)
  /raise                 exception before start_response
  /raise-after           exception after the first body chunk was sent
  /excinfo-replace       start_response, exception, start_response(500, exc_info) before sending
  /excinfo-after         exc_info start_response after headers were sent (must re-raise)
  /status/NNN            that status (no body for 1xx/204/304)
  /headers [k=v ...]     each query pair becomes a response header
  /count                 number of app calls so far in this process (incl. this one)
  /sleep [s]             sleep s seconds, report pid/thread
  /write [n]             use the write() callable n times, then return one more chunk
  /track [id,n,size,delay] streaming body whose close() records `id`
  /closed [id]           whether the /track iterable `id` has been closed
  /errors [msg]          write msg to wsgi.errors
  /pid                   os.getpid()
  /lazy                  start_response called inside the generator, first item b""
"""
import hashlib
import io
import json
import os
import sys
import tempfile
import threading
import time
import warnings
from urllib.parse import parse_qsl
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

CALLS = [0]
CALLS_LOCK = threading.Lock()
CLOSED = set()
STARTED = set()


def _qs(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))


def _json(start_response, obj, status="200 OK", extra=()):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def _text(start_response, text, status="200 OK", extra=()):
    body = text.encode("utf-8") if isinstance(text, str) else text
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def pattern(size):
    """Deterministic, non-repeating-at-small-period bytes of length size."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d" % i).digest()
        i += 1
    return bytes(out[:size])


def echo(environ, start_response):
    info = {"types": {k: type(v).__name__ for k, v in environ["probe.orig"].items()},
            "str": {k: v for k, v in environ.items() if isinstance(v, str)},
            "wsgi.version": list(environ["wsgi.version"]),
            "wsgi.multithread": environ["wsgi.multithread"],
            "wsgi.multiprocess": environ["wsgi.multiprocess"],
            "wsgi.run_once": environ["wsgi.run_once"],
            "wsgi.input_terminated": environ.get("wsgi.input_terminated"),
            "wsgi.errors_is_stderr": environ["probe.orig"]["wsgi.errors"] is sys.stderr,
            "input_methods": sorted(m for m in ("read", "readline", "readlines", "__iter__")
                                    if hasattr(environ["probe.orig"]["wsgi.input"], m)),
            "has_file_wrapper": callable(environ.get("wsgi.file_wrapper")),
            "keys": sorted(environ["probe.orig"].keys())}
    return _json(start_response, info)


def body(environ, start_response):
    mode = _qs(environ).get("mode", "read-n")
    raw = environ["probe.raw_input"]   # unwrapped: the validator forbids read() / read(-1)
    inp = environ["wsgi.input"]        # validator-wrapped
    pieces = []
    if mode == "read":
        pieces.append(raw.read())
    elif mode == "read-1":
        pieces.append(raw.read(-1))
    elif mode == "read-none":
        pieces.append(raw.read(None))
    elif mode == "read-n":        # read(n) in 7-byte steps, then a read past EOF must be b""
        while True:
            b = inp.read(7)
            if not b:
                break
            pieces.append(b)
        assert inp.read(7) == b"", "read(n) after EOF must return b''"
    elif mode == "read-cl":       # read exactly CONTENT_LENGTH
        n = int(environ.get("CONTENT_LENGTH") or 0)
        pieces.append(inp.read(n))
    elif mode == "readline":
        while True:
            line = inp.readline()
            if not line:
                break
            pieces.append(line)
    elif mode == "readline-n":
        while True:
            line = inp.readline(5)
            if not line:
                break
            assert len(line) <= 5, "readline(5) returned %d bytes" % len(line)
            pieces.append(line)
    elif mode == "readlines":
        pieces.extend(inp.readlines())
    elif mode == "readlines-hint":
        first = inp.readlines(3)   # hint: at least one line, stops once >= 3 bytes read
        assert first, "readlines(hint) returned nothing"
        pieces.extend(first)
        pieces.extend(inp.readlines())
    elif mode == "iter":
        pieces.extend(inp)
    elif mode == "none":
        pass
    else:
        return _text(start_response, "bad mode", "400 Bad Request")
    data = b"".join(pieces)
    lens = ",".join(str(len(p)) for p in pieces[:200])
    return _text(start_response, data, extra=[("X-Pieces", lens or "none"),
                                               ("X-Body-Sha256", hashlib.sha256(data).hexdigest())])


def stream(environ, start_response):
    q = _qs(environ)
    n, size, delay = int(q.get("n", "3")), int(q.get("size", "5")), float(q.get("delay", "0"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def gen():
        for i in range(n):
            if delay:
                time.sleep(delay)
            yield (b"%d" % (i % 10)) * size
    return gen()


def list_body(environ, start_response):
    q = _qs(environ)
    n, size = int(q.get("n", "3")), int(q.get("size", "4"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    items = [(b"%d" % (i % 10)) * size for i in range(n)]
    return tuple(items) if q.get("tuple") else items


def file_body(environ, start_response):
    q = _qs(environ)
    size, blk = int(q.get("size", "100000")), int(q.get("blk", "8192"))
    f = tempfile.TemporaryFile()
    f.write(pattern(size))
    f.seek(0)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](f, blk)


def filelike_body(environ, start_response):
    size = int(_qs(environ).get("size", "20000"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return environ["wsgi.file_wrapper"](io.BytesIO(pattern(size)), 4096)


def do_raise(environ, start_response):
    raise RuntimeError("probe boom before headers")


def raise_after(environ, start_response):
    cl = _qs(environ).get("cl")   # with cl=N the response declares Content-Length: N
    start_response("200 OK", [("Content-Type", "text/plain")] + ([("Content-Length", cl)] if cl else []))

    def gen():
        yield b"first chunk\n"
        raise RuntimeError("probe boom after headers")
    return gen()


def excinfo_replace(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "yes")])
    try:
        raise ValueError("probe handled")
    except ValueError:
        body = b"replaced by exc_info"
        start_response("503 Service Unavailable",
                       [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                        ("X-Second", "yes")], sys.exc_info())
        return [body]


def excinfo_after(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"already sent\n")          # forces headers out
    try:
        raise ValueError("probe late error")
    except ValueError:
        # PEP 3333: headers already sent -> start_response must re-raise exc_info
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        # not reached if the server is correct
        return [b"SERVER DID NOT RE-RAISE\n"]


def status(environ, start_response):
    code = int(environ["PATH_INFO"].rsplit("/", 1)[1])
    reasons = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified",
               404: "Not Found", 418: "I'm a teapot", 500: "Internal Server Error"}
    st = "%d %s" % (code, reasons.get(code, "Whatever"))
    if code in (204, 304) or code < 200:
        start_response(st, [])
        return []
    return _text(start_response, "status %d\n" % code, st)


def headers(environ, start_response):
    extra = [(k, v) for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)]
    return _text(start_response, "headers\n", extra=extra)


def count(environ, start_response):
    return _text(start_response, str(CALLS[0]))


def sleep(environ, start_response):
    s = float(_qs(environ).get("s", "0.5"))
    t0 = time.monotonic()
    time.sleep(s)
    return _json(start_response, {"pid": os.getpid(), "thread": threading.get_ident(),
                                  "start": t0, "end": time.monotonic()})


def spin(environ, start_response):
    """CPU-bound: holds the GIL s seconds (but for the interpreter's switches)."""
    s = float(_qs(environ).get("s", "0.002"))
    t0 = time.monotonic()
    while time.monotonic() < t0 + s:
        pass
    return _json(start_response, {"thread": threading.get_ident(), "start": t0, "end": time.monotonic()})


def write_callable(environ, start_response):
    n = int(_qs(environ).get("n", "3"))
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(n):
        write(b"w%d;" % i)
    return [b"end"]


class Tracked:
    def __init__(self, ident, n, size, delay):
        self.ident, self.n, self.size, self.delay = ident, n, size, delay
        STARTED.add(ident)

    def __iter__(self):
        for i in range(self.n):
            if self.delay:
                time.sleep(self.delay)
            yield b"x" * self.size

    def close(self):
        CLOSED.add(self.ident)
        sys.stderr.write("probe: closed %s\n" % self.ident)
        sys.stderr.flush()


def track(environ, start_response):
    q = _qs(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Tracked(q["id"], int(q.get("n", "1000")), int(q.get("size", "65536")),
                   float(q.get("delay", "0")))


def closed(environ, start_response):
    ident = _qs(environ)["id"]
    return _json(start_response, {"started": ident in STARTED, "closed": ident in CLOSED})


def errors(environ, start_response):
    msg = _qs(environ).get("msg", "probe wsgi.errors line")
    environ["wsgi.errors"].write(msg + "\n")
    environ["wsgi.errors"].flush()
    return _text(start_response, "ok")


def lazy(environ, start_response):
    """start_response called only during the first iteration (allowed by PEP 3333)."""
    def gen():
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
        yield b""
        yield b"lazy "
        yield b""          # an empty item mid-stream must not end a chunked body
        yield b"body"
    return gen()


def pid(environ, start_response):
    return _text(start_response, str(os.getpid()))


ROUTES = {"/echo": echo, "/body": body, "/stream": stream, "/list": list_body,
          "/file": file_body, "/filelike": filelike_body, "/raise": do_raise,
          "/raise-after": raise_after, "/excinfo-replace": excinfo_replace,
          "/excinfo-after": excinfo_after, "/headers": headers, "/count": count,
          "/sleep": sleep, "/spin": spin, "/write": write_callable, "/track": track, "/closed": closed,
          "/errors": errors, "/pid": pid, "/lazy": lazy}


def dispatch(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/status/"):
        return status(environ, start_response)
    handler = ROUTES.get(path)
    if handler is None:
        # any other path: a small echo of where we were routed (ROOT_PATH, decoding tests)
        return _json(start_response, {"SCRIPT_NAME": environ.get("SCRIPT_NAME"),
                                      "PATH_INFO": path,
                                      "QUERY_STRING": environ.get("QUERY_STRING")})
    return handler(environ, start_response)


def _stash(app):
    def wrapper(environ, start_response):
        with CALLS_LOCK:
            CALLS[0] += 1
        environ["probe.orig"] = dict(environ)
        environ["probe.raw_input"] = environ["wsgi.input"]
        return app(environ, start_response)
    return wrapper


application = _stash(validator(dispatch))
bare = _stash(dispatch)


def make_app(greeting, times):
    """Factory for APP="probe:make_app('hi', 2)"."""
    body = (str(greeting) * int(times)).encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return validator(app)
