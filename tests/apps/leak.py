"""App for MAX_RSS tests (tests/integration/test_max_rss.py): every call keeps
2 MiB more, written so that it is resident, and answers the worker's pid."""
import os

KEPT = []


def application(environ, start_response):
    KEPT.append(b"\x01" * (2 << 20))
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
