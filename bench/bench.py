#!/usr/bin/python3
"""`make bench`: wsginit against gunicorn, uWSGI and nginx on this machine.

Every server runs one worker process pinned to CPU 0 (taskset -c 0), wrk runs
pinned to CPU 1, everything on 127.0.0.1, each run bounded by BENCH_SECONDS.
Each scenario names the app every WSGI server loads (module:callable, from
bench/): bench/apps.py for most, bench/flask_app.py and the Django project
bench/django_app/ for the framework scenarios. Each (server, scenario) pair gets
a fresh server: start -> first 200 (timed) -> warm-up -> measured wrk run, with
the server's CPU time (utime+stime of its whole process tree, from /proc) read
around the measured run, so the headline is requests per server-CPU-second.

The framework scenarios (flask-json, django-template, django-query) also call
their app in a plain loop with no server (bench/inproc.py, /usr/bin/python3 on
CPU 0, the environ a server would build for wrk's GET): a server's CPU µs per
request (1e6 / req per server CPU-second) less the app's CPU µs per call is the
server's own share. django-query reads one row of a SQLite file that this
script makes in its tmp dir (BENCH_SQLITE in the servers' environment).

Writes bench/results/results.md and bench/results/chart.png, and refreshes the
README block between the `bench:begin` / `bench:end` markers (BENCH_README=0
skips that). Environment:
  BENCH_SECONDS    seconds per measured run (default 5)
  BENCH_WARMUP     seconds of warm-up per run (default 1, 0 = none)
  BENCH_IDLE       idle keep-alive connections to hold (default 10000)
  BENCH_SLOW_READERS  slow readers in the slow scenario (default 100)
  BENCH_SCENARIOS  comma list to run a subset (then README is left alone): hello,
                   hello-close, big, file, static-4k, static-1m, stream, post,
                   sleep, slow, idle, flask-json, django-template, django-query
Needs (installed when missing, from Debian): gunicorn uwsgi-core
uwsgi-plugin-python3 nginx-light wrk python3-matplotlib python3-whitenoise
python3-flask python3-django.

The slow scenario has no wrk run: BENCH_SLOW_READERS raw sockets (16 KiB
SO_RCVBUF) each GET /slow8m and read it at 400 KiB/s; once each has a byte (1 s
at least, 5 s at most), 10 clients do GET /hello back to back (a new connection
each, 2 s timeout) for BENCH_SECONDS, from the same selectors loop. It reports
the short requests' latencies and failures, and how far the readers got.
"""

import collections
import errno
import json
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
RESULTS = os.path.join(BENCH, "results")
WSGINIT = os.path.join(ROOT, "build", "wsginit")
SECONDS = max(1, int(round(float(os.environ.get("BENCH_SECONDS", "5")))))
WARMUP = int(os.environ.get("BENCH_WARMUP", "1"))
IDLE_N = int(os.environ.get("BENCH_IDLE", "10000"))
ONLY = [s for s in os.environ.get("BENCH_SCENARIOS", "").split(",") if s]
SLOW_N = int(os.environ.get("BENCH_SLOW_READERS", "100"))
SLOW_BYTES = 8 << 20  # apps.SLOW8M
SLOW_RATE = 400 << 10  # bytes per second each slow reader takes
SLOW_RCVBUF = 16 << 10  # each slow reader's SO_RCVBUF, set before connect
SHORT_TIMEOUT = 2.0  # seconds a short request may take before it counts as failed
SLOW_SETTLE = 1.0, 5.0  # the short requests start when every reader has a byte, within these
SLOW_P99_MS = 50
SERVER_CPU, CLIENT_CPU = "0", "1"
HZ = os.sysconf("SC_CLK_TCK")

# package -> a file that shows it is there
PACKAGES = {
    "gunicorn": "/usr/bin/gunicorn",
    "uwsgi-core": "/usr/bin/uwsgi",
    "uwsgi-plugin-python3": "/usr/lib/uwsgi/plugins/python3_plugin.so",
    "nginx-light": "/usr/sbin/nginx",  # any Debian nginx flavour will do
    "wrk": "/usr/bin/wrk",
    "python3-matplotlib": "/usr/lib/python3/dist-packages/matplotlib/__init__.py",
    "python3-whitenoise": "/usr/lib/python3/dist-packages/whitenoise/__init__.py",
    "python3-flask": "/usr/lib/python3/dist-packages/flask/__init__.py",
    "python3-django": "/usr/lib/python3/dist-packages/django/__init__.py",
}

# ---------------------------------------------------------------- processes

PROCS = []  # every Popen this driver started, stopped by PID in cleanup()


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def ensure_packages():
    missing = [p for p, f in PACKAGES.items() if not os.path.exists(f)]
    if not missing:
        return
    log("installing", " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    if subprocess.run(cmd + missing, env=env).returncode != 0 and "nginx-light" in missing:
        missing[missing.index("nginx-light")] = "nginx"
        subprocess.run(cmd + missing, check=True, env=env)
    # a package's postinst may start the system nginx: not ours, left alone,
    # it listens on :80 and we use other ports


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pid):
    """utime+stime (+ reaped children's) of pid and all its descendants."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total


def rollup_kib(p):
    """(Pss, Rss) of process p in KiB, from smaps_rollup; zeros once it is gone."""
    got = {}
    try:
        with open(f"/proc/{p}/smaps_rollup") as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k in ("Pss", "Rss"):
                    got[k] = int(rest.split()[0])
    except OSError:
        pass
    return got.get("Pss", 0), got.get("Rss", 0)


def memory(pid):
    """(PSS of the whole tree, PSS of the largest worker, that worker's RSS) in KiB.
    The worker is the process itself when it has no children, else its largest
    descendant."""
    procs = tree(pid)
    each = {p: rollup_kib(p) for p in procs}
    pssw, rssw = max([each[p] for p in procs if p != pid] or [each[pid]])
    return sum(v[0] for v in each.values()), pssw, rssw


def stop(proc):
    if proc.poll() is not None:
        return
    pids = tree(proc.pid)
    try:
        os.kill(proc.pid, signal.SIGINT)  # every server here: stop at once
        proc.wait(5)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    for p in [proc.pid] + pids:  # whatever is left, by the PIDs we saw
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        pass


def cleanup(*_):
    for p in PROCS:
        stop(p)
    if _:
        sys.exit(1)


# ---------------------------------------------------------------- servers


class Ctx:
    def __init__(self, tmp):
        self.tmp = tmp
        self.file = os.path.join(tmp, "big.bin")
        self.static = os.path.join(tmp, "static")  # STATIC_FILES, under /static/
        self.sqlite = os.path.join(tmp, "world.sqlite")  # the Django app's database
        self.port = 18100

    def env(self, **extra):
        """The environment of a server or of an in-process run: where the apps'
        files are, no bytecode written under bench/."""
        return dict(os.environ, BENCH_FILE=self.file, BENCH_STATIC=self.static,
                    BENCH_SQLITE=self.sqlite, PYTHONDONTWRITEBYTECODE="1", **extra)


STATIC_FILES = {"4k.bin": 4 << 10, "1m.bin": 1 << 20}  # name -> size, random bytes
WORLD_ROWS = 100  # rows of the SQLite table django_app's /query reads one of

# Builders: builder(ctx, port, key, app) -> (argv, extra environment) of a server
# for scenario `key` that loads `app` (module:callable, from bench/).


def wsginit(threads=1):
    def argv(ctx, port, key, app):
        env = {"APP": app, "CHDIR": BENCH, "WORKERS": "1", "ACCESS_LOG": "false",
               "BIND": f"127.0.0.1:{port}", "THREADS": str(threads)}
        if key == "idle":
            env["KEEP_ALIVE"] = "60"  # hold the idle connections for the whole measure
        if key.startswith("static"):
            env["STATIC_MAP"] = f"/static={ctx.static}"
        return [WSGINIT], env
    return argv


def gunicorn(threads=0, own_app=None):
    """own_app: loaded instead of the scenario's (the WhiteNoise wrapper)."""
    def argv(ctx, port, key, app):
        a = ["gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "--chdir", BENCH,
             "--log-level", "warning"]
        if threads:
            a += ["--worker-class", "gthread", "--threads", str(threads)]
        if key == "idle":
            a += ["--keep-alive", "60"]
        return a + [own_app or app], {}
    return argv


def uwsgi(threads=0, http11=False):
    def argv(ctx, port, key, app):
        a = ["uwsgi", "--plugin", "python3", "--http11-socket" if http11 else "--http-socket",
             f"127.0.0.1:{port}", "--chdir", BENCH, "--module", app, "--need-app",
             "--disable-logging", "--processes", "1"]
        if threads:
            a += ["--threads", str(threads)]
        return a, {}
    return argv


def nginx_argv(ctx, port, locations):
    """Writes an nginx.conf (one worker, every path in its own dir under tmp) whose
    server block holds `locations`; returns the argv that runs it."""
    d = os.path.join(ctx.tmp, f"nginx-{port}")
    os.makedirs(d)
    temps = "".join(f"  {k}_temp_path {d}/{k};\n" for k in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16384; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 75s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
{temps}  server {{
    listen 127.0.0.1:{port};
{locations}  }}
}}
""")
    return ["nginx", "-e", "stderr", "-p", d, "-c", os.path.join(d, "nginx.conf")]


def nginx():
    def argv(ctx, port, key, app):
        return nginx_argv(ctx, port, f"""\
    location = /hello {{ default_type text/plain; return 200 "Hello, World!"; }}
    location = /file {{ alias {ctx.file}; }}
    location /static/ {{ alias {ctx.static}/; }}
"""), {}
    return argv


def nginx_proxy(backend):
    """nginx as a buffering reverse proxy in front of `backend` (a builder), the
    classic set-up: whole responses go to temp files in tmp, nginx feeds the
    client. One process tree: sh starts the backend, then execs nginx."""
    def argv(ctx, port, key, app):
        back, env = backend(ctx, port + 10000, key, app)
        front = nginx_argv(ctx, port, f"""    location / {{
      proxy_pass http://127.0.0.1:{port + 10000};
      proxy_buffering on;
      proxy_max_temp_file_size 1024m;
    }}
""")
        return ["sh", "-c", f"{shlex.join(back)} & exec {shlex.join(front)}"], env
    return argv


SERVERS = {  # name -> argv builder; the order is the tables' and the chart's
    "wsginit": wsginit(),
    "wsginit THREADS=8": wsginit(8),
    "gunicorn sync": gunicorn(),
    "gunicorn gthread 8": gunicorn(8),
    "uWSGI": uwsgi(),
    "uWSGI threads 8": uwsgi(8),
    "uWSGI http11": uwsgi(http11=True),
    "nginx": nginx(),
    "gunicorn WhiteNoise": gunicorn(own_app="static_app:app"),
    "nginx → gunicorn": nginx_proxy(gunicorn()),
}
SYNC = ["wsginit", "gunicorn sync", "uWSGI"]
THREADED = ["wsginit THREADS=8", "gunicorn gthread 8", "uWSGI threads 8"]
STATIC = ["wsginit", "nginx", "gunicorn WhiteNoise"]
SLOW = ["wsginit", "gunicorn sync", "gunicorn gthread 8", "uWSGI", "nginx → gunicorn"]

# A scenario: wrk on `path` with `conns` connections and `extra` args, against
# each of `servers` loading `app`; `key` names it in BENCH_SCENARIOS.
Scenario = collections.namedtuple("Scenario", "key title path conns extra servers app",
                                  defaults=["apps:app"])
APPS = {  # module:callable -> the path whose first 200 ends a start
    "apps:app": "/hello",
    "flask_app:app": "/json",
    "django_app.wsgi:application": "/template",
}
FRAMEWORKS = SYNC + THREADED
SCENARIOS = [Scenario(*s) for s in [
    ("hello", "hello, keep-alive, 50 conns", "/hello", 50, [],
     SYNC + THREADED + ["uWSGI http11", "nginx"]),
    ("hello-close", "hello, new connection per request", "/hello", 50,
     ["-H", "Connection: close"], SYNC + THREADED + ["uWSGI http11", "nginx"]),
    ("big", "1 MiB bytes", "/big", 50, [], SYNC),
    ("file", "1 MiB wsgi.file_wrapper (nginx: static)", "/file", 50, [], SYNC + ["nginx"]),
    ("static-4k", "static 4 KiB file, keep-alive", "/static/4k.bin", 50, [], STATIC),
    ("static-1m", "static 1 MiB file", "/static/1m.bin", 50, [], STATIC),
    ("stream", "1 MiB in 16 KiB chunks, no Content-Length", "/stream", 50, [], SYNC),
    ("post", "POST 64 KiB read from wsgi.input", "/post", 50, ["POST"], SYNC),
    ("sleep", "50 ms sleep, 100 conns", "/sleep", 100, ["--timeout", "10s"], SYNC + THREADED),
    ("slow", f"GET /hello, 10 conns, while {SLOW_N} slow readers fetch 8 MiB", "/hello", 10,
     [], SLOW),
    ("idle", f"{IDLE_N} idle keep-alive connections", "/hello", 0, [],
     SYNC + THREADED + ["nginx"]),
    ("flask-json", "Flask jsonify, keep-alive, 50 conns", "/json", 50, [], FRAMEWORKS,
     "flask_app:app"),
    ("django-template", "Django template, 20-row loop, keep-alive, 50 conns", "/template", 50,
     [], FRAMEWORKS, "django_app.wsgi:application"),
    ("django-query", "Django ORM, one SQLite row as JSON, keep-alive, 50 conns", "/query", 50,
     [], FRAMEWORKS, "django_app.wsgi:application"),
]]
INPROC = "in-process"  # res[key][INPROC]: a framework scenario's app called in a loop


def http_get(port, path="/hello", timeout=1.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:  # the status line is all we look at
            b = s.recv(65536)
            if not b:
                break
            data += b
    return data


def log_tail(ctx, port):
    """The end of the output of the server on `port`."""
    with open(os.path.join(ctx.tmp, f"server-{port}.log"), "rb") as f:
        return f.read()[-2000:].decode(errors="replace")


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def next_port(ctx):
    """The next port up whose +10000 twin (nginx → backend) is free too: another
    run of this script, or a test, may hold some."""
    while True:
        ctx.port += 1
        if port_free(ctx.port) and port_free(ctx.port + 10000):
            return ctx.port


def start(ctx, name, scen):
    """Starts a server for `scen`; returns (proc, port, seconds to the first 200 on
    its app's APPS path) or raises."""
    port = next_port(ctx)
    argv, extra = SERVERS[name](ctx, port, scen.key, scen.app)
    env = ctx.env(**extra)
    out = open(os.path.join(ctx.tmp, f"server-{port}.log"), "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, env=env, cwd=ctx.tmp,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            start_new_session=True)
    PROCS.append(proc)
    out.close()
    while True:
        try:
            if http_get(port, APPS[scen.app]).split(b"\r\n", 1)[0].split()[1] == b"200":
                return proc, port, time.monotonic() - t0
        except (OSError, IndexError):
            pass
        if proc.poll() is not None or time.monotonic() - t0 > 30:
            stop(proc)
            raise RuntimeError(f"{name} did not answer 200 on :{port}\n{log_tail(ctx, port)}")
        time.sleep(0.002)


# ---------------------------------------------------------------- clients

DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,' ..
    '"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""
POST_LUA = """wrk.method = "POST"
wrk.body = string.rep("a", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
"""


def wrk(ctx, port, path, conns, extra, seconds):
    script = os.path.join(ctx.tmp, "report.lua")
    if "POST" in extra:
        script = os.path.join(ctx.tmp, "post.lua")
        extra = [x for x in extra if x != "POST"]
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency",
            "-s", script] + extra + [f"http://127.0.0.1:{port}{path}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    PROCS.append(proc)
    try:
        out = proc.communicate(timeout=seconds + 30)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        stop(proc)
        raise RuntimeError("wrk did not finish")
    m = re.search(r"^BENCHJSON (.*)$", out, re.M)
    if not m:
        raise RuntimeError("wrk: " + out[-1000:])
    return json.loads(m.group(1))


def connect_nb(port, rcvbuf=0):
    """A non-blocking connect to 127.0.0.1:port under way, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setblocking(False)
    if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
        s.close()
        return None
    return s


def hold_idle(port, n, budget=40.0):
    """Opens n connections, one GET /hello on each, keeps them open. Returns
    (sockets still open after 1 s, seconds it took, connections answered)."""
    sel = selectors.DefaultSelector()
    req = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    pending, held = {}, []
    started = answered = 0
    t0 = time.monotonic()

    def drop(s):
        sel.unregister(s)
        del pending[s]
        s.close()

    while (started < n or pending) and time.monotonic() - t0 < budget:
        while started < n and len(pending) < 64:
            started += 1
            s = connect_nb(port)
            if s is None:
                continue
            pending[s] = None
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(0.2):
            s = key.fileobj
            if pending[s] is None:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    drop(s)
                    continue
                s.send(req)
                pending[s] = b""
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            pending[s] += data
            if b"Hello, World!" in pending[s]:
                answered += 1
                sel.unregister(s)
                del pending[s]
                held.append(s)
            elif not data:
                drop(s)
    took = time.monotonic() - t0
    for s in list(pending):
        drop(s)
    time.sleep(1.0)
    alive = []
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                s.close()
                continue
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        alive.append(s)
    return alive, took, answered


class Reader:
    """One slow reader: GET /slow8m, then at most SLOW_RATE bytes per second."""

    def __init__(self, port):
        self.sock = connect_nb(port, SLOW_RCVBUF)
        self.got = 0  # bytes received, head included
        self.last = 0.0  # when the last byte came
        self.tokens = 0.0  # bytes it may read now: SLOW_RATE per second, 64 KiB at most
        self.state = "connecting" if self.sock else "failed"

    def sent(self):
        if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.state = "failed"
            return
        try:
            self.sock.send(b"GET /slow8m HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        except OSError:
            self.state = "failed"
            return
        self.state = "reading"

    def read(self, dt, now):
        self.tokens = min(64 << 10, self.tokens + SLOW_RATE * dt)
        if self.tokens < 1024:
            return
        try:
            data = self.sock.recv(int(self.tokens))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.got += len(data)
            self.tokens -= len(data)
            self.last = now
        else:
            self.state = "finished" if self.got > SLOW_BYTES else "failed"


def short_requests(port, path, conns, seconds):
    """SLOW_N slow readers first; once they all have a byte (SLOW_SETTLE bounds the
    wait), `conns` clients GET `path` back to back for `seconds`, a new connection
    each (Connection: close, read to EOF), each failed past SHORT_TIMEOUT; then the
    last ones are waited for, so every request started counts once. One selectors
    loop, readers polled every 20 ms. Returns (latencies of the 200s in s, failures
    by kind, the readers' state at the end: progressing = a byte in the last second,
    and settle: seconds from the start to the first short request)."""
    sel = selectors.DefaultSelector()
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    readers = [Reader(port) for _ in range(SLOW_N)]
    for r in readers:
        if r.sock:
            sel.register(r.sock, selectors.EVENT_WRITE, r)
    shorts = {}  # socket -> [start time, response so far]
    lat, fails = [], {"timeout": 0, "error": 0, "status": 0}
    t0 = time.monotonic()
    end = None  # of the short requests' window
    now = tick = t0

    def finish(s, kind=None):
        sel.unregister(s)
        t, data = shorts.pop(s)
        s.close()
        if kind is None and data.split(b" ", 2)[1:2] != [b"200"]:
            kind = "status" if data else "error"
        if kind:
            fails[kind] += 1
        else:
            lat.append(now - t)

    while end is None or now < end or shorts:  # bounded: SLOW_SETTLE, seconds, SHORT_TIMEOUT
        for key, _ in sel.select(max(0.0, tick + 0.02 - now)):
            s, r = key.fileobj, key.data
            now = time.monotonic()
            if r is not None:  # a slow reader connected
                sel.unregister(s)
                r.sent()
            elif shorts[s][1] is None:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    finish(s, "error")
                    continue
                s.send(req)
                shorts[s][1] = b""
                sel.modify(s, selectors.EVENT_READ)
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    finish(s, "error")
                    continue
                if data:
                    shorts[s][1] += data
                else:
                    finish(s)
        now = time.monotonic()
        if now - tick >= 0.02:
            for r in readers:
                if r.state == "reading":
                    r.read(now - tick, now)
            tick = now
        for s in [s for s, (t, _) in shorts.items() if now - t > SHORT_TIMEOUT]:
            finish(s, "timeout")
        if end is None and now - t0 >= SLOW_SETTLE[0] and (
                now - t0 >= SLOW_SETTLE[1] or all(r.got or r.state == "failed" for r in readers)):
            settle, end = now - t0, now + seconds
        while end is not None and now < end and len(shorts) < conns:
            s = connect_nb(port)
            if s is None:
                fails["error"] += 1
                break
            shorts[s] = [now, None]
            sel.register(s, selectors.EVENT_WRITE)
    ends = {"finished": 0, "progressing": 0, "stalled": 0, "failed": 0}
    for r in readers:
        if r.state == "reading" and r.last < now - 1.0 or r.state == "connecting":
            r.state = "stalled"
        ends["progressing" if r.state == "reading" else r.state] += 1
        if r.sock:
            r.sock.close()
    sel.close()
    ends["mib"] = sum(r.got for r in readers) / 2**20
    ends["settle"] = settle
    return lat, fails, ends


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


# ---------------------------------------------------------------- runs


def quiet(pid, most=3.0):
    """Waits until the server has stopped using CPU (what wrk left queued is done)."""
    t0, last = time.monotonic(), cpu_ticks(pid)
    while time.monotonic() - t0 < most:
        time.sleep(0.1)
        now = cpu_ticks(pid)
        if now == last:
            return
        last = now


def in_process(ctx, scen):
    """The scenario's app called in a loop by bench/inproc.py on the servers' CPU:
    {"us": CPU µs per call, ...}, or raises."""
    argv = ["taskset", "-c", SERVER_CPU, "/usr/bin/python3", os.path.join(BENCH, "inproc.py"),
            scen.app, scen.path, str(SECONDS), str(WARMUP)]
    try:
        r = subprocess.run(argv, env=ctx.env(), cwd=ctx.tmp, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=SECONDS * 4 + WARMUP + 60)
    except subprocess.TimeoutExpired:
        raise RuntimeError("inproc.py did not finish")
    if r.returncode != 0:
        raise RuntimeError(f"inproc.py: {(r.stderr or r.stdout)[-2000:]}")
    return json.loads(r.stdout.splitlines()[-1])


def measure_slow(ctx, scen, proc, port):
    c0 = cpu_ticks(proc.pid)
    lat, fails, ends = short_requests(port, scen.path, scen.conns, SECONDS)
    ms = [x * 1e3 for x in lat]
    return dict(cpu=(cpu_ticks(proc.pid) - c0) / HZ, short=len(ms), fails=fails,
                failed=sum(fails.values()), readers=ends,
                p50=percentile(ms, 0.5), p99=percentile(ms, 0.99))


def measure_idle(ctx, scen, proc, port):
    socks, took, answered = hold_idle(port, IDLE_N)
    row = dict(zip(("pss", "pssw", "rssw"), memory(proc.pid)))
    row.update(held=len(socks), answered=answered, took=took)
    for s in socks:
        s.close()
    return row


def measure_wrk(ctx, scen, proc, port):
    path, conns, extra = scen.path, scen.conns, scen.extra
    # no warm-up for the sleep view: its queue would eat the measured run
    if WARMUP and scen.key != "sleep":
        wrk(ctx, port, path, conns, extra, WARMUP)
        quiet(proc.pid)
    c0 = cpu_ticks(proc.pid)
    r = wrk(ctx, port, path, conns, extra, SECONDS)
    cpu = (cpu_ticks(proc.pid) - c0) / HZ
    row = dict(zip(("pss", "pssw", "rssw"), memory(proc.pid)))
    dur = r["duration_us"] / 1e6
    ok = r["requests"] - r["status"]  # responses with a status under 400
    row.update(rps=ok / dur, p50=r["p50_us"] / 1e3, p99=r["p99_us"] / 1e3,
               errors=r["status"] + r["connect"] + r["read"] + r["write"] + r["timeout"],
               err_detail={k: r[k] for k in ("status", "connect", "read", "write", "timeout")},
               requests=r["requests"], cpu=cpu,
               rpc=ok / cpu if cpu > 0 else float("nan"),
               mbps=r["bytes"] / dur / 2**20)
    return row


def run_one(ctx, scen, name):
    """A fresh server `name` measured on `scen`: its row, or raises, also when the
    server or one of its processes died on the way."""
    proc, port, first = start(ctx, name, scen)
    try:
        pids = set(tree(proc.pid))
        row = {"first200": first}
        row["pss0"], row["pssw0"], row["rssw0"] = memory(proc.pid)
        measure = {"slow": measure_slow, "idle": measure_idle}.get(scen.key, measure_wrk)
        row.update(measure(ctx, scen, proc, port))
        quiet(proc.pid)  # a worker that dies as the last connections close counts too
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited during {scen.key}")
        if pids - set(tree(proc.pid)):
            raise RuntimeError(f"a worker of {name} died during {scen.key}\n"
                               f"{log_tail(ctx, port)}")
        return row
    finally:
        stop(proc)


# ---------------------------------------------------------------- reports


def f0(x):
    return "–" if x is None or x != x else f"{x:,.0f}"


def f1(x):
    return "–" if x is None or x != x else f"{x:,.1f}"


def f2(x):
    return "–" if x is None or x != x else f"{x:,.2f}"


def mib(kib):
    return f"{kib / 1024:,.1f}"


def get(res, scen, name, k):
    return res.get(scen, {}).get(name, {}).get(k)


def ratio(a, b):
    return a / b if a is not None and b and a == a and b == b else None


def pct(r):
    return "–" if r is None else f"{r * 100:.0f}%"


def slow_shown(row):
    """'p99 4.7 ms, 0 failed of 6,341' for a slow-readers row."""
    p99 = f"p99 {f1(row['p99'])} ms" if row["short"] else "none answered"
    return f"{p99}, {row['failed']:,} failed of {row['short'] + row['failed']:,}"


def errs(res, scen, name="wsginit"):
    """' (N errors)' when that run had any (a 404 is not served)."""
    n = get(res, scen, name, "errors")
    return f" ({n:,} errors)" if n else ""


def served_us(res, key, name):
    """Server CPU µs per request served: 1e6 / req per server CPU-second."""
    return ratio(1e6, get(res, key, name, "rpc"))


def share_us(res, key, name):
    """The server's own CPU per request: served µs minus the app's in-process µs."""
    a, b = served_us(res, key, name), get(res, key, INPROC, "us")
    return None if a is None or b is None else a - b


def idle_per_conn(row):
    """(KiB of tree PSS, KiB of worker RSS) per held idle connection, or Nones."""
    held = row.get("held")
    if not held:
        return None, None
    return (row["pss"] - row["pss0"]) / held, (row["rssw"] - row["rssw0"]) / held


def targets(res, first200, pssw):
    t = []

    def add(what, value, goal, shown, higher=True, ok=True):
        met = None if value is None else (value >= goal if higher else value <= goal) and ok
        margin = None if value is None else (value / goal - 1) * 100
        t.append((what, shown, met, margin))

    w = lambda s, n="wsginit": get(res, s, n, "rpc")
    r = ratio(w("hello"), w("hello", "uWSGI"))
    add("hello keep-alive ≥ 3× uWSGI (req/CPU-s)", r, 3, f"{f2(r)}×")
    r = ratio(w("hello"), w("hello", "gunicorn sync"))
    add("hello keep-alive ≥ 10× gunicorn sync (req/CPU-s)", r, 10, f"{f2(r)}×")
    r = ratio(w("hello"), w("hello", "nginx"))
    add("hello keep-alive ≥ 40% of nginx return 200 (req/CPU-s)", r, 0.4,
        "–" if r is None else f"{r * 100:.0f}%")
    r = ratio(w("hello"), w("hello", "wsginit THREADS=8"))
    add("hello keep-alive, THREADS=8 ≤ 1.3× the CPU per request of THREADS=1", r, 1.3,
        f"{f2(r)}×", higher=False)
    r = ratio(w("hello-close"), w("hello-close", "uWSGI"))
    add("new connection per request ≥ uWSGI (req/CPU-s)", r, 1, f"{f2(r)}×")
    r = ratio(w("flask-json"), w("flask-json", "gunicorn sync"))
    add("Flask JSON ≥ 4× gunicorn sync (req/CPU-s)", r, 4,
        f"{f2(r)}×" + errs(res, "flask-json"))
    r = ratio(w("flask-json", "wsginit THREADS=8"), w("flask-json", "gunicorn gthread 8"))
    add("Flask JSON, THREADS=8 ≥ 4× gunicorn gthread 8 (req/CPU-s)", r, 4,
        f"{f2(r)}×" + errs(res, "flask-json", "wsginit THREADS=8"))
    r = share_us(res, "flask-json", "wsginit")
    add("Flask JSON: wsginit's own CPU per request (served − in-process) ≤ 40 µs", r, 40,
        "–" if r is None else f"{f1(r)} µs ({f1(served_us(res, 'flask-json', 'wsginit'))} − "
        f"{f1(get(res, 'flask-json', INPROC, 'us'))})", higher=False)
    r = get(res, "sleep", "wsginit THREADS=8", "rps")
    add("50 ms sleep, THREADS=8 ≥ 95% of 160 req/s", r, 152, f"{f1(r)} req/s")
    r = ratio(w("file"), w("file", "nginx"))
    add("1 MiB file_wrapper within 20% of nginx static (req/CPU-s)", r, 0.8, pct(r))
    for key, what in (("big", "1 MiB bytes"), ("file", "1 MiB file_wrapper"), ("stream", "1 MiB in 16 KiB chunks")):
        r = ratio(w(key), w(key, "uWSGI"))
        add(f"{what} ≥ uWSGI (req/CPU-s)", r, 1, f"{f2(r)}×")
    r = ratio(w("static-4k"), w("static-4k", "nginx"))
    add("static 4 KiB file, keep-alive ≥ 90% of nginx (req/CPU-s)", r, 0.9,
        pct(r) + errs(res, "static-4k"))
    r = ratio(w("static-1m"), w("static-1m", "nginx"))
    add("static 1 MiB file ≥ nginx (req/CPU-s)", r, 1, f"{f2(r)}×" + errs(res, "static-1m"))
    r = ratio(w("static-4k"), w("static-4k", "gunicorn WhiteNoise"))
    add("static 4 KiB file ≥ 10× gunicorn + WhiteNoise (req/CPU-s)", r, 10,
        f"{f2(r)}×" + errs(res, "static-4k"))
    row = res.get("slow", {}).get("wsginit", {})
    p99 = row.get("p99")
    if row.get("short") == 0:
        p99 = SHORT_TIMEOUT * 1e3  # none answered: every one took the whole timeout
    add(f"slow readers: 0 failed short requests and p99 under {SLOW_P99_MS} ms with {SLOW_N} "
        "slow readers, WORKERS=1 THREADS=1", p99, SLOW_P99_MS,
        slow_shown(row) if "short" in row else "–", higher=False, ok=row.get("failed") == 0)
    a, b = pssw.get("wsginit"), pssw.get("uWSGI")
    add("PSS per worker ≤ uWSGI's (after hello)", a if b else None, b,
        "–" if not (a and b) else f"{mib(a)} vs {mib(b)} MiB", higher=False)
    row = res.get("idle", {}).get("wsginit", {})
    per, rss = idle_per_conn(row)
    add("an idle keep-alive connection ≤ 1 KiB (worker RSS per held connection)", rss, 1,
        "–" if per is None else f"{f2(rss)} KiB (PSS of the tree {f2(per)} KiB), {row['held']:,} of "
        f"{IDLE_N:,} held", higher=False, ok=row.get("held") == IDLE_N)
    a, b = first200.get("wsginit"), first200.get("uWSGI")
    add("start to first 200 ≤ 0.8× uWSGI's (median)", a if b else None, b and 0.8 * b,
        "–" if not (a and b) else f"{a * 1e3:.0f} vs {b * 1e3:.0f} ms", higher=False)
    return t


def write_md(res, meta, first200, pssw, tg):
    L = ["# wsginit benchmark", "",
         f"{meta['date']} · {meta['cpu']} · {meta['kernel']} · {SECONDS} s per run "
         f"(+{WARMUP} s warm-up), each server one worker process on CPU 0, wrk -t1 on CPU 1, "
         "loopback.", "", "Versions: " + ", ".join(meta["versions"]), "",
         "req/CPU-s = requests / server CPU seconds (utime+stime of the server's process tree "
         "during the run, from /proc). ×wsginit = wsginit's req/CPU-s divided by that row's "
         "(>1: wsginit does more per CPU-second). errors = non-2xx + socket errors; req/s and "
         "req/CPU-s count only the answers with a status under 400 (a 404 is not a file served). "
         "PSS = the whole server tree after the run. uWSGI with --http-socket closes the "
         "connection after each response without a `Connection: close` header, so wrk counts "
         "one read error per response: those requests did get their 200.", "",
         "## Targets", "", "| target | measured | met | margin |", "|---|---|---|---|"]
    for what, shown, met, margin in tg:
        L.append(f"| {what} | {shown} | {'–' if met is None else 'yes' if met else '**no**'} | "
                 f"{'–' if margin is None else f'{margin:+.0f}%'} |")
    L += ["", "Margin: measured / target − 1 (for the ≤ targets lower is better, so a "
          "negative margin meets them).", "",
          "## Throughput", "",
          "| scenario | server | req/s | p50 ms | p99 ms | errors | server CPU s | req/CPU-s | "
          "×wsginit | MiB/s | PSS MiB |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, title, *_ in SCENARIOS:
        if key in ("idle", "slow") or key not in res:
            continue
        base = "wsginit THREADS=8" if key == "sleep" else "wsginit"
        for name in SERVERS:
            row = res[key].get(name)
            if row is None:
                continue
            if "error" in row:
                L.append(f"| {title} | {name} | failed: {row['error']} |||||||||")
                continue
            rel = ratio(get(res, key, base, "rpc"), row["rpc"])
            L.append(f"| {title} | {name} | {f0(row['rps'])} | {f2(row['p50'])} | "
                     f"{f2(row['p99'])} | {row['errors']} | {f2(row['cpu'])} | {f0(row['rpc'])} | "
                     f"{f2(rel)} | {f0(row['mbps'])} | {mib(row['pss'])} |")
    L += share_md(res) + slow_md(res.get("slow", {})) + memory_md(res, first200, pssw)
    L += ["", "![chart](chart.png)", ""]
    with open(os.path.join(RESULTS, "results.md"), "w") as f:
        f.write("\n".join(L))


def share_md(res):
    scens = [s for s in SCENARIOS if INPROC in res.get(s.key, {})]
    if not scens:
        return []
    names = [n for n in SERVERS if any(n in res[s.key] for s in scens)]
    L = ["", "## Server's share", "",
         "in-process µs: the scenario's app called in a plain loop by bench/inproc.py "
         "(/usr/bin/python3 on CPU 0, no server; the environ a server builds for wrk's GET, a "
         "fresh copy per call; the body consumed and closed) for "
         f"{SECONDS} s of CPU after a warm-up: its CPU µs per call. Each server: served µs "
         "(1e6 / req/CPU-s) / the server's share (served − in-process), µs per request.", "",
         "| scenario | in-process µs | " + " | ".join(names) + " |",
         "|---" * (len(names) + 2) + "|"]
    for s in scens:
        cells = [f"{f1(served_us(res, s.key, n))} / {f1(share_us(res, s.key, n))}"
                 for n in names]
        L.append(f"| {s.title} | {f1(get(res, s.key, INPROC, 'us'))} | " +
                 " | ".join(cells) + " |")
    return L


def memory_md(res, first200, pssw):
    idle = res.get("idle", {})
    L = ["", "## Memory and start-up", "",
         f"Idle: {IDLE_N} connections opened (64 at a time), one GET /hello on each, then held; "
         "held = still open 1 s after the last answer (keep-alive raised to 60 s for wsginit "
         "and gunicorn; a server that closes after each response holds none). Per held "
         "connection: the growth of the tree's PSS, and of the worker's RSS, divided by the "
         "connections held. Start to first 200: median over the scenarios of bench/apps.py.", "",
         "| server | start to first 200 ms (median) | PSS worker MiB (after hello) | "
         "PSS total MiB (idle) | idle conns held | PSS total with them MiB | PSS KiB per held "
         "conn | worker RSS MiB before → with them | RSS KiB per held conn |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name in SERVERS:
        if name not in first200:
            continue
        row = idle.get(name, {})
        held = row.get("held")
        per, rss = idle_per_conn(row)
        hello = get(res, "hello", name, "pss0")
        L.append(f"| {name} | {first200[name] * 1e3:.0f} | "
                 f"{mib(pssw[name]) if name in pssw else '–'} | "
                 f"{mib(hello) if hello else '–'} | "
                 f"{'–' if held is None else held} | "
                 f"{mib(row['pss']) if 'pss' in row else '–'} | {f1(per)} | "
                 f"{mib(row['rssw0']) + ' → ' + mib(row['rssw']) if 'rssw' in row else '–'} | "
                 f"{f1(rss)} |")
    return L


def slow_md(slow):
    if not slow:
        return []
    L = ["", "## Slow readers", "",
         f"{SLOW_N} slow readers (raw sockets, SO_RCVBUF {SLOW_RCVBUF >> 10} KiB, each reading "
         f"{SLOW_RATE >> 10} KiB/s) GET /slow8m (8 MiB with Content-Length); once every reader "
         f"has a byte ({SLOW_SETTLE[0]:g} s at least, {SLOW_SETTLE[1]:g} s at most: settle), 10 "
         f"clients GET /hello back to back for {SECONDS} s, a new connection per request, one "
         f"that has no answer within {SHORT_TIMEOUT:g} s failed. Clients: one Python selectors "
         "loop on CPU 1. p50/p99 over the 200s; failed = timeouts / connection errors / "
         "non-200 answers; every request started in the window counts (the last ones are "
         f"waited for, {SHORT_TIMEOUT:g} s at most). Readers at the end: "
         "finished the 8 MiB, progressing (a byte in the last second), stalled, failed (an "
         "error, or closed short). nginx → gunicorn: nginx buffering the responses to temp "
         "files (proxy_buffering on) in front of gunicorn sync, both on CPU 0.", "",
         "| server | short requests | failed (timeout/error/status) | p50 ms | p99 ms | "
         "settle s | readers finished | progressing | stalled | failed | MiB to readers | "
         "server CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in SERVERS:
        row = slow.get(name)
        if row is None:
            continue
        if "error" in row:
            L.append(f"| {name} | failed: {row['error']} |||||||||||")
            continue
        fl, rd = row["fails"], row["readers"]
        L.append(f"| {name} | {row['short']:,} | {row['failed']:,} ({fl['timeout']}/{fl['error']}/"
                 f"{fl['status']}) | {f2(row['p50'])} | {f2(row['p99'])} | {f2(rd['settle'])} | "
                 f"{rd['finished']} | {rd['progressing']} | {rd['stalled']} | {rd['failed']} | "
                 f"{f0(rd['mib'])} | {f2(row['cpu'])} |")
    return L


CHART_SCEN = ["hello", "hello-close", "big", "file", "static-4k", "static-1m", "stream", "post",
              "flask-json", "django-template", "django-query"]
CHART_SERVERS = ["wsginit", "gunicorn sync", "gunicorn gthread 8", "uWSGI", "uWSGI threads 8",
                 "nginx", "gunicorn WhiteNoise"]
COLORS = {"wsginit": "#d62728", "wsginit THREADS=8": "#ff9896", "gunicorn sync": "#1f77b4",
          "gunicorn gthread 8": "#aec7e8", "uWSGI": "#2ca02c", "uWSGI threads 8": "#98df8a",
          "uWSGI http11": "#bcbd22", "nginx": "#7f7f7f", "gunicorn WhiteNoise": "#9467bd",
          "nginx → gunicorn": "#8c564b"}


def chart_rpc(ax, res, scen):
    names = [n for n in CHART_SERVERS if any(get(res, s, n, "rpc") is not None for s in scen)]
    width = 0.8 / len(names)
    failed = []  # runs with errors and no good response: no bar, a word
    for i, name in enumerate(names):
        ys = [get(res, s, name, "rpc") or 0 for s in scen]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(scen))]
        ax.bar(xs, ys, width, label=name, color=COLORS[name])
        failed += [(x, name) for x, y, s in zip(xs, ys, scen)
                   if not y and get(res, s, name, "errors")]
    ax.set_yscale("log")
    for x, name in failed:
        ax.text(x, ax.get_ylim()[0] * 1.2, "errors only", rotation=90, ha="center", va="bottom",
                fontsize=7, color=COLORS[name])
    ax.set_xticks(range(len(scen)))
    ax.set_xticklabels(scen, fontsize=8)
    ax.set_ylabel("requests per server CPU-second (log)")
    ax.set_title("one worker process, one core")
    ax.legend(fontsize=8, ncol=2)


def chart_sleep(ax, res, names):
    ax.bar(range(len(names)), [get(res, "sleep", n, "rps") for n in names],
           color=[COLORS[n] for n in names])
    ax.axhline(160, color="k", ls="--", lw=1)
    ax.text(-0.4, 163, "limit 160 (8 threads × 20/s)", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace(" ", "\n") for n in names], fontsize=6.5)
    ax.set_ylabel("requests/s")
    ax.set_title("50 ms sleep, 100 conns")


def chart_slow(ax, res, names):
    """p99 of the short requests (the timeout when none was answered), failures on top."""
    rows = [res["slow"][n] for n in names]
    ys = [r["p99"] if r["short"] else SHORT_TIMEOUT * 1e3 for r in rows]
    bars = ax.bar(range(len(names)), ys, color=[COLORS[n] for n in names])
    for b, r in zip(bars, rows):
        if not r["short"]:
            b.set_hatch("//")
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() * 1.1,
                f"{r['failed']:,} failed", ha="center", fontsize=6.5)
    ax.axhline(SLOW_P99_MS, color="k", ls="--", lw=1)
    ax.text(-0.4, SLOW_P99_MS * 1.1, f"target {SLOW_P99_MS} ms", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(top=SHORT_TIMEOUT * 1e3 * 3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace(" ", "\n") for n in names], fontsize=6.5)
    ax.set_ylabel("p99 of GET /hello, ms (log; hatched: none answered)")
    ax.set_title(f"while {SLOW_N} slow readers fetch 8 MiB", fontsize=10)


def chart(res):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no matplotlib: chart skipped")
        return
    panels = [(draw, width, on) for draw, width, on in (
        (chart_rpc, 4, [s for s in CHART_SCEN if s in res]),
        (chart_sleep, 1, [n for n in SYNC + THREADED if get(res, "sleep", n, "rps") is not None]),
        (chart_slow, 1.2, [n for n in SLOW if get(res, "slow", n, "short") is not None]),
    ) if on]
    if not panels:
        return
    widths = [w for _, w, _ in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * sum(widths), 4.5), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (draw, _, on) in zip(axes[0], panels):
        draw(ax, res, on)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, "chart.png"), dpi=100)


def readme_block(res, tg):
    servers = ["wsginit", "gunicorn sync", "gunicorn gthread 8", "uWSGI", "nginx"]
    L = ["| req per server CPU-second | " + " | ".join(servers) + " |",
         "|---" * (len(servers) + 1) + "|"]
    for key, title, *_ in SCENARIOS:
        if key in ("idle", "sleep", "slow") or key.startswith("static") or key not in res:
            continue
        L.append(f"| {title} | " + " | ".join(f0(get(res, key, n, "rpc")) for n in servers) + " |")
    s = [f"{key} (in-process {f0(get(res, key, INPROC, 'us'))}): " +
         ", ".join(f"{n} {f0(share_us(res, key, n))}" for n in servers if n in FRAMEWORKS)
         for key, *_ in SCENARIOS if INPROC in res.get(key, {})]
    if s:
        L += ["", "Server's own CPU per request (served − the app called in-process), µs: " +
              "; ".join(s) + "."]
    s = [f"{n}: {f0(get(res, 'sleep', n, 'rps'))}" for n in SYNC + THREADED
         if get(res, "sleep", n, "rps") is not None]
    L += ["", "50 ms sleep, 100 connections, req/s: " + ", ".join(s) + ".", ""]
    for key, title, *_ in SCENARIOS:
        if key.startswith("static") and key in res:
            s = [f"{n}: {f0(get(res, key, n, 'rpc'))}{errs(res, key, n)}" for n in STATIC]
            L += [f"{title}, req per server CPU-second: " + ", ".join(s) + ".", ""]
    s = [f"{n}: {slow_shown(r)}" for n, r in res.get("slow", {}).items() if "short" in r]
    if s:
        L += [f"GET /hello while {SLOW_N} slow readers fetch 8 MiB: " + "; ".join(s) + ".", ""]
    met = [w for w, _, m, _ in tg if m]
    missed = [f"{w}: {shown} ({margin:+.0f}%)" for w, shown, m, margin in tg if m is False]
    L.append(f"Targets met: {len(met)} of {len(tg)}." +
             (" Missed: " + "; ".join(missed) + "." if missed else ""))
    return "\n".join(L)


def update_readme(block):
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if begin not in text or end not in text:
        return
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n{block}\n{end}{tail}")


def meta():
    def out(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": f"{cpu}, {os.cpu_count()} cpus",
            "kernel": "Linux " + os.uname().release,
            "versions": [out([WSGINIT, "--version"]), out(["gunicorn", "--version"]),
                         "uWSGI " + out(["uwsgi", "--version"]),
                         out(["nginx", "-v"]).replace("nginx version: ", ""),
                         " ".join(out(["wrk", "-v"]).split()[:2]),
                         "WhiteNoise " + out(["/usr/bin/python3", "-c", "import importlib."
                                              "metadata as m; print(m.version('whitenoise'))"])]}


def random_file(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    os.chmod(path, 0o644)  # wsginit drops root to 65532: it must read the files


def attempt(key, name, fn, *args):
    """fn(*args): a result row, or {"error": its first line} when it raised; logged."""
    try:
        row = fn(*args)
    except RuntimeError as e:
        log(f"{key} {name}: {e}")
        row = {"error": str(e).splitlines()[0]}
    log_row(key, name, row)
    return row


def log_row(key, name, row):
    if "us" in row:
        log(f"{key:12} {name:20} {row['us']:10,.1f} CPU µs per call ({row['calls']:,} calls)")
    elif "rps" in row:
        log(f"{key:12} {name:20} {row['rps']:10,.0f} req/s {row['rpc']:10,.0f} "
            f"req/CPU-s  p99 {row['p99']:8.2f} ms  errors {row['errors']}  "
            f"PSS {mib(row['pss'])}/{mib(row['pssw'])} MiB")
    elif "short" in row:
        rd = row["readers"]
        log(f"{key:12} {name:20} {row['short']:8,} short  failed {row['failed']} "
            f"{row['fails']}  p50 {f2(row['p50'])} ms  p99 {f2(row['p99'])} ms  "
            f"readers {rd['finished']} finished {rd['progressing']} progressing "
            f"{rd['stalled']} stalled {rd['failed']} failed, {rd['mib']:.0f} MiB, "
            f"settle {rd['settle']:.2f} s")
    elif "held" in row:
        log(f"{key:12} {name:20} held {row['held']} of {IDLE_N} ({row['took']:.1f} s), "
            f"PSS {mib(row['pss0'])} -> {mib(row['pss'])} MiB, worker RSS "
            f"{mib(row['rssw0'])} -> {mib(row['rssw'])} MiB")


def world_db(path):
    """The SQLite file django_app reads: `world`, WORLD_ROWS rows of (id, randomnumber),
    the numbers fixed so every run answers the same bytes."""
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL)")
        db.executemany("INSERT INTO world VALUES (?, ?)",
                       [(i, i * 7919 % 10000 + 1) for i in range(1, WORLD_ROWS + 1)])
    db.close()
    os.chmod(path, 0o644)  # read by the servers as 65532 too


def main():
    if not os.access(WSGINIT, os.X_OK):
        sys.exit(f"{WSGINIT} missing: make build first")
    if os.cpu_count() < 2:
        sys.exit("needs 2 cpus (server on 0, wrk on 1)")
    ensure_packages()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # inherited by the servers too
    if want < IDLE_N + 100:
        log(f"RLIMIT_NOFILE {want} is below {IDLE_N} idle connections")
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, cleanup)
    os.makedirs(RESULTS, exist_ok=True)

    tmp = tempfile.mkdtemp(prefix="wsginit-bench-")
    os.chmod(tmp, 0o755)  # and reach them
    ctx = Ctx(tmp)
    random_file(ctx.file, 1 << 20)
    os.mkdir(ctx.static)
    os.chmod(ctx.static, 0o755)
    for fname, size in STATIC_FILES.items():
        random_file(os.path.join(ctx.static, fname), size)
    world_db(ctx.sqlite)
    with open(os.path.join(tmp, "report.lua"), "w") as f:
        f.write(DONE_LUA)
    with open(os.path.join(tmp, "post.lua"), "w") as f:
        f.write(POST_LUA + DONE_LUA)

    res, starts = {}, {}
    t0 = time.monotonic()
    try:
        for scen in SCENARIOS:
            if ONLY and scen.key not in ONLY:
                continue
            res[scen.key] = {}
            if scen.app != "apps:app":  # a framework scenario: its in-process baseline first
                res[scen.key][INPROC] = attempt(scen.key, INPROC, in_process, ctx, scen)
            for name in scen.servers:
                row = res[scen.key][name] = attempt(scen.key, name, run_one, ctx, scen, name)
                if "first200" in row and scen.app == "apps:app":  # one app: comparable starts
                    starts.setdefault(name, []).append(row["first200"])
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    first200 = {n: statistics.median(v) for n, v in starts.items()}
    pssw = {n: r["pssw"] for n, r in res.get("hello", {}).items() if "pssw" in r}
    tg = targets(res, first200, pssw)
    write_md(res, meta(), first200, pssw, tg)
    chart(res)
    if not ONLY and os.environ.get("BENCH_README", "1") != "0":
        update_readme(readme_block(res, tg))
    log(f"done in {time.monotonic() - t0:.0f} s: bench/results/results.md, bench/results/chart.png")
    for what, shown, met, margin in tg:
        log(f"  {'MET ' if met else 'MISS' if met is not None else '  ? '} {what}: {shown}")


if __name__ == "__main__":
    main()
