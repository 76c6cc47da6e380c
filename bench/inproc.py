"""The in-process baseline: one WSGI app called in a plain loop, no server.

    python3 bench/inproc.py MODULE:CALLABLE PATH SECONDS WARMUP

Loads the app as the servers do (module:callable, from bench/), makes one call
through wsgiref.validate (a warning is an error), warms up for WARMUP CPU
seconds (100 calls at least), then calls it for SECONDS of CPU time and prints
one JSON line: calls, cpu_s, us (CPU µs per call), and the last status and body
length. Each call gets a fresh copy of the environ a server builds for wrk's
request (GET PATH HTTP/1.1, Host: 127.0.0.1:PORT) and a fresh wsgi.input;
start_response keeps the status and headers; the body is consumed and closed.
"""

import importlib
import io
import json
import sys
import time
import warnings
import wsgiref.util
import wsgiref.validate

PORT = "18100"
BATCH = 50  # calls between two reads of the CPU clock


def load(spec):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "application")


def make_environ(path):
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": PORT,
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "HTTP_HOST": f"127.0.0.1:{PORT}",
        "SERVER_SOFTWARE": "inproc", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False, "wsgi.input_terminated": True,
        "wsgi.file_wrapper": wsgiref.util.FileWrapper,
    }


def call(app, base):
    """One request: (status, body length)."""
    environ = dict(base)
    environ["wsgi.input"] = io.BytesIO(b"")
    got = []

    def start_response(status, headers, exc_info=None):
        got[:] = [status, headers]
        return lambda data: None

    body = app(environ, start_response)
    try:
        n = sum(len(b) for b in body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return got[0], n


def run(app, base, seconds, least=0):
    """Calls app until `seconds` of CPU and `least` calls: (calls, CPU s, last answer)."""
    calls, t0 = 0, time.process_time()
    while True:
        for _ in range(BATCH):
            last = call(app, base)
        calls += BATCH
        cpu = time.process_time() - t0
        if cpu >= seconds and calls >= least:
            return calls, cpu, last


def main():
    spec, path, seconds, warmup = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    app, base = load(spec), make_environ(path)
    warnings.simplefilter("error", wsgiref.validate.WSGIWarning)
    status, _ = call(wsgiref.validate.validator(app), base)
    if not status.startswith("200"):
        sys.exit(f"{spec} {path}: {status}")
    run(app, base, warmup, 100)
    calls, cpu, (status, length) = run(app, base, seconds)
    print(json.dumps({"calls": calls, "cpu_s": cpu, "us": cpu / calls * 1e6, "status": status,
                      "bytes": length}))


if __name__ == "__main__":
    main()
