"""App for wsginit's response-offload tests (tests/integration/test_offload.py): responses
that are produced at once and then written by the worker's loop as slow clients drain.

Every body is pattern(size), the same bytes whatever its kind, so a client checks one hash.
`application` is wrapped in wsgiref.validate.validator, except /big with kind=bytes or
kind=file: the validator wraps the returned iterable in its own IteratorWrapper, which
would hide the list / wsgi.file_wrapper from the server and so the very path under test.

Endpoints (query string parameters in brackets):
  /small                         "ok"
  /big [kind,size,chunk]         pattern(size) (default 8 MiB) with Content-Length, as
                                   kind=bytes  a one-element list (the cached bytes object)
                                   kind=file   wsgi.file_wrapper over $OFFLOAD_DIR/pattern-<size>
                                               (the test writes it with write_pattern_file)
                                   kind=gen    a generator of fresh `chunk`-byte slices (64 KiB)
  /stream-wait [flag,started,nobuffer]
                                 no Content-Length (chunked): yields FIRST, creates the file
                                 `started` if given, waits until the file `flag` exists
                                 (bounded to FLAG_WAIT s), then yields REST; nobuffer=1 adds
                                 the response header X-Accel-Buffering: no
"""
import functools
import hashlib
import os
import time
import warnings
from urllib.parse import parse_qsl
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

BIG = 8 << 20
FIRST = b"first chunk, sent before the app finishes\n"
REST = b"the rest, after the flag file appeared\n" * 100
FLAG_TIMEOUT = b"flag file never appeared\n"
FLAG_WAIT = 20.0


@functools.lru_cache(maxsize=4)
def pattern(size):
    """Deterministic bytes without a short period (SHAKE-256 output of a fixed seed)."""
    return hashlib.shake_256(b"wsginit offload pattern").digest(size)


def pattern_path(directory, size):
    return os.path.join(directory, "pattern-%d" % size)


def write_pattern_file(directory, size):
    """Write pattern(size) where kind=file looks for it, readable by any RUN_AS user."""
    path = pattern_path(directory, size)
    with open(path, "wb") as f:
        f.write(pattern(size))
    os.chmod(path, 0o644)
    return path


def _qs(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))


def small(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def big(environ, start_response):
    q = _qs(environ)
    kind, size, chunk = q.get("kind", "gen"), int(q.get("size", BIG)), int(q.get("chunk", 65536))
    if kind == "file":
        f = open(pattern_path(os.environ["OFFLOAD_DIR"], size), "rb")
        size = os.fstat(f.fileno()).st_size
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    if kind == "bytes":
        return [pattern(size)]
    if kind == "file":
        return environ["wsgi.file_wrapper"](f, chunk)
    body = pattern(size)

    def gen():
        for i in range(0, size, chunk):
            yield body[i:i + chunk]         # a new bytes object each time: generated data
    return gen()


def stream_wait(environ, start_response):
    q = _qs(environ)
    headers = [("Content-Type", "text/plain")]
    if q.get("nobuffer") == "1":
        headers.append(("X-Accel-Buffering", "no"))
    start_response("200 OK", headers)

    def gen():
        yield FIRST
        if q.get("started"):
            open(q["started"], "w").close()
        deadline = time.monotonic() + FLAG_WAIT
        while not os.path.exists(q["flag"]):
            if time.monotonic() > deadline:
                yield FLAG_TIMEOUT
                return
            time.sleep(0.02)
        yield REST
    return gen()


ROUTES = {"/small": small, "/big": big, "/stream-wait": stream_wait}


def dispatch(environ, start_response):
    handler = ROUTES.get(environ.get("PATH_INFO", ""))
    if handler is None:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return []
    return handler(environ, start_response)


_validated = validator(dispatch)


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/big" and _qs(environ).get("kind") in ("bytes", "file"):
        return dispatch(environ, start_response)
    return _validated(environ, start_response)
