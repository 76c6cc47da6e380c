"""App for wsginit's hostile-input and fault tests (tests/integration/test_faults.py).

NOT wrapped in wsgiref.validate.validator: several endpoints break PEP 3333 or crash
on purpose. Endpoints (query string parameters in brackets):
  /                       "ok"
  /pid                    os.getpid()
  /count                  "<pid> <app calls in this process so far, this one included>"
  /sleep [s]              sleeps s seconds (default 0.5), answers the pid
  /body                   reads wsgi.input whole, answers "<pid> <length>"
  /leak [kb]              appends kb KiB (default 64) to a module-level list, for ever;
                          answers "<pid> <items held>"
  /big [size,chunk]       streams size bytes (default 8 MiB) in chunks (64 KiB), no
                          Content-Length (chunked on HTTP/1.1)
  /raise-mid [size]       200, yields `size` bytes (default 65536), then raises
  /raise-mid-close        a body that raises mid-stream and whose close() raises too
  /raise-in-iter          the returned iterable's __iter__ raises before any item
  /int-item-later         a bytes item, then an int
  /non-iterable           returns 42
  /sysexit                raise SystemExit(3) before start_response
  /sysexit-mid            SystemExit(4) after the first body chunk
  /keyboard-interrupt     raise KeyboardInterrupt before start_response
  /memoryerror            raise MemoryError before start_response
  /recursion              unbounded recursion (RecursionError) before start_response
  /segv                   the worker dies of SIGSEGV (ctypes reads address 0)
  /exit                   the worker calls os._exit(7)
"""
import ctypes
import os
import threading
import time
from urllib.parse import parse_qsl

LEAK = []
CALLS = [0]
CALLS_LOCK = threading.Lock()


def _qs(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", "")))


def _text(start_response, text, status="200 OK"):
    body = text.encode() if isinstance(text, str) else text
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _big(environ, start_response):
    q = _qs(environ)
    size, chunk = int(q.get("size", str(8 << 20))), int(q.get("chunk", "65536"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def gen():
        left = size
        block = b"b" * chunk
        while left > 0:
            n = min(left, chunk)
            left -= n
            yield block[:n]
    return gen()


def _raise_mid(environ, start_response):
    size = int(_qs(environ).get("size", "65536"))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def gen():
        yield b"m" * size
        raise RuntimeError("faults: boom mid-stream")
    return gen()


class _RaiseMidClose:
    def __iter__(self):
        yield b"c" * 65536
        raise RuntimeError("faults: boom mid-stream before a failing close")

    def close(self):
        raise RuntimeError("faults: close() failed too")


class _RaiseInIter:
    def __iter__(self):
        raise RuntimeError("faults: __iter__ failed")


def _recurse(n):
    return _recurse(n + 1) + 1


def _sysexit_mid(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"s" * 65536
        raise SystemExit(4)
    return gen()


def _int_item_later(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"i" * 65536
        yield 5
    return gen()


def application(environ, start_response):
    with CALLS_LOCK:
        CALLS[0] += 1
    path = environ.get("PATH_INFO", "/")
    if path == "/pid":
        return _text(start_response, str(os.getpid()))
    if path == "/count":
        return _text(start_response, "%d %d" % (os.getpid(), CALLS[0]))
    if path == "/sleep":
        time.sleep(float(_qs(environ).get("s", "0.5")))
        return _text(start_response, str(os.getpid()))
    if path == "/body":
        data = environ["wsgi.input"].read()
        return _text(start_response, "%d %d" % (os.getpid(), len(data)))
    if path == "/leak":
        LEAK.append(bytearray(int(_qs(environ).get("kb", "64")) * 1024))
        return _text(start_response, "%d %d" % (os.getpid(), len(LEAK)))
    if path == "/big":
        return _big(environ, start_response)
    if path == "/raise-mid":
        return _raise_mid(environ, start_response)
    if path == "/raise-mid-close":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _RaiseMidClose()
    if path == "/raise-in-iter":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _RaiseInIter()
    if path == "/int-item-later":
        return _int_item_later(environ, start_response)
    if path == "/non-iterable":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return 42
    if path == "/sysexit":
        raise SystemExit(3)
    if path == "/sysexit-mid":
        return _sysexit_mid(environ, start_response)
    if path == "/keyboard-interrupt":
        raise KeyboardInterrupt()
    if path == "/memoryerror":
        raise MemoryError()
    if path == "/recursion":
        return _recurse(0)
    if path == "/segv":
        ctypes.string_at(0)
    if path == "/exit":
        os._exit(7)
    return _text(start_response, "ok")
