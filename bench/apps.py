"""The one WSGI app every server in the benchmark runs (APP=apps:app).

/hello   13-byte body
/big     1 MiB as one bytes object
Both set Content-Length, as a framework's response does (uWSGI adds none itself,
and keeps an HTTP/1.1 connection alive only with it).
/file    1 MiB file through wsgi.file_wrapper (path in $BENCH_FILE, made by bench.py)
/stream  1 MiB in 16 KiB chunks from a generator, no Content-Length
/post    reads the 64 KiB request body from wsgi.input
/sleep   an I/O-bound view: sleeps 50 ms
/slow8m  8 MiB as one bytes object, for the slow-readers scenario
"""

import os
import time

HELLO = b"Hello, World!"
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]
BIG = b"x" * (1 << 20)
CHUNK = b"y" * (16 << 10)
FILE = os.environ.get("BENCH_FILE", "")
TEXT = [("Content-Type", "text/plain")]
OCTETS = "application/octet-stream"
# zeros from calloc: pages untouched until sent, so a server that never serves
# /slow8m carries no extra resident memory (the PSS figures stay comparable)
SLOW8M = bytes(8 << 20)
SLOW8M_HEADERS = [("Content-Type", OCTETS), ("Content-Length", str(len(SLOW8M)))]


def _stream():
    for _ in range((1 << 20) // len(CHUNK)):
        yield CHUNK


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/hello":
        start_response("200 OK", HELLO_HEADERS)
        return [HELLO]
    if path == "/big":
        start_response("200 OK", [("Content-Type", OCTETS), ("Content-Length", str(len(BIG)))])
        return [BIG]
    if path == "/slow8m":
        start_response("200 OK", SLOW8M_HEADERS)
        return [SLOW8M]
    if path == "/file":
        f = open(FILE, "rb")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Type", OCTETS), ("Content-Length", str(size))])
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(f, 1 << 16)
        return iter(lambda: f.read(1 << 16), b"")
    if path == "/stream":
        start_response("200 OK", [("Content-Type", OCTETS)])
        return _stream()
    if path == "/post":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length)
        body = str(len(data)).encode()
        start_response("200 OK", TEXT + [("Content-Length", str(len(body)))])
        return [body]
    if path == "/sleep":
        time.sleep(0.05)
        start_response("200 OK", TEXT + [("Content-Length", "5")])
        return [b"slept"]
    start_response("404 Not Found", TEXT)
    return [b"not found"]
