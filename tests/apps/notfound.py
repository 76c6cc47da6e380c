"""An app whose every path is 404 (an API, a login-protected site), except /hang,
which never returns: for the tests of `wsginit --probe` and the image's HEALTHCHECK
(tests/integration/test_probe.py, tests/image/test_health.py). Stdlib only."""
import threading
from wsgiref.validate import validator

NEVER = threading.Event()


def _app(environ, start_response):
    if environ["PATH_INFO"] == "/hang":
        NEVER.wait()
    body = b"not found\n"
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = validator(_app)
