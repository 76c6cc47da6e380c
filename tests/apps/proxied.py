"""App for tests/integration/test_nginx.py (wsginit behind nginx).

Every request gets what the app saw as a JSON object (method, path, query, SCRIPT_NAME,
REMOTE_ADDR, REMOTE_PORT: one per connection, wsgi.url_scheme, the body, the HTTP_*
variables), and the same object is appended as one line to the file $SEEN_LOG: the list
of every request that reached the app, so a test can tell that a smuggled one never did.
"""
import json
import os
from wsgiref.validate import validator


def _seen(environ):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(n) if n else b""
    return {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "script_name": environ["SCRIPT_NAME"],
        "remote_addr": environ["REMOTE_ADDR"],
        "remote_port": environ["REMOTE_PORT"],
        "scheme": environ["wsgi.url_scheme"],
        "body": body.decode("latin-1"),
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
    }


def _app(environ, start_response):
    line = json.dumps(_seen(environ))
    log = os.environ.get("SEEN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")
    out = line.encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


application = validator(_app)
