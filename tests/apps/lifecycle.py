"""App for wsginit's master-lifecycle tests (tests/integration/test_lifecycle.py).

Endpoints (query string parameters in brackets):
  /                       "ok"
  /pid                    os.getpid() of the worker that serves the call
  /importer [s]           pid of the process that imported this module, the worker's pid
                          and its parent's (after sleeping s seconds, default 0)
  /sleep [s]              sleep s seconds, then report the pid
  /hang                   stuck in app_hangs_here() (bounded: 60 s), for TIMEOUT tests
  /child-signals          the blocked and ignored signals of a subprocess the app starts
  /orphan [s]             double fork: the middle child exits at once, the grandchild
                          (re-parented to the nearest subreaper) sleeps s seconds (default
                          0.2) then os._exit(0); answers the grandchild's pid
"""
import json
import os
import time
from urllib.parse import parse_qsl

IMPORTED_BY = os.getpid()


def _qs(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", "")))


def _text(start_response, text, status="200 OK"):
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app_hangs_here(limit=60.0):
    """The app function a TIMEOUT traceback must name."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(0.05)


def double_fork(linger):
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(r)
            grandchild = os.fork()
            if grandchild == 0:
                os.close(w)
                time.sleep(linger)
                os._exit(0)
            os.write(w, b"%d" % grandchild)
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    try:
        os.waitpid(middle, 0)      # the middle child is the worker's own child
    except ChildProcessError:
        pass
    return int(data)


def child_signals():
    """SigBlk and SigCgt of a subprocess the app starts: what it inherits from the worker."""
    import subprocess
    child = subprocess.Popen(["sleep", "30"])
    try:
        with open("/proc/%d/status" % child.pid) as f:
            return "".join(l for l in f if l.startswith(("SigBlk", "SigIgn")))
    finally:
        child.kill()
        child.wait()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    q = _qs(environ)
    if path == "/pid":
        return _text(start_response, str(os.getpid()))
    if path == "/importer":
        time.sleep(float(q.get("s", "0")))
        body = json.dumps({"imported_by": IMPORTED_BY, "pid": os.getpid(), "ppid": os.getppid()})
        return _text(start_response, body)
    if path == "/sleep":
        time.sleep(float(q.get("s", "1")))
        return _text(start_response, str(os.getpid()))
    if path == "/hang":
        app_hangs_here()
        return _text(start_response, "not hung after all")
    if path == "/orphan":
        return _text(start_response, str(double_fork(float(q.get("s", "0.2")))))
    if path == "/child-signals":
        return _text(start_response, child_signals())
    return _text(start_response, "ok")
