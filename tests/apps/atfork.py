"""App for README's "From gunicorn" hooks line: where it was imported, and where the
os.register_at_fork(after_in_child=...) hook ran (gunicorn's post_fork, under PRELOAD)."""
import os
from wsgiref.validate import validator

where = {"imported": os.getpid(), "after_fork": None}


def _after_fork():
    where["after_fork"] = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


def _app(environ, start_response):
    body = ("%d %s %d" % (where["imported"], where["after_fork"], os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = validator(_app)
