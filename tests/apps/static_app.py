"""App for wsginit's static-file tests (tests/integration/test_static.py): it answers
whatever the worker does not, in a way a test can tell apart from a static answer.

`application` is wrapped in wsgiref.validate.validator.

Endpoints:
  /count      the number of calls to the app in this process, this one included
  anything    "app <METHOD> <PATH_INFO>" (200, text/plain)
"""
import threading
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

CALLS = [0]
CALLS_LOCK = threading.Lock()


def dispatch(environ, start_response):
    with CALLS_LOCK:
        CALLS[0] += 1
        calls = CALLS[0]
    if environ["PATH_INFO"] == "/count":
        body = b"%d" % calls
    else:
        body = ("app %s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = validator(dispatch)
