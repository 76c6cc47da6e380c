"""Debian's nginx in front of wsginit, configured by README's "Behind a proxy" block.

nginx runs unprivileged (as nobody when the tests run as root), with its config, logs and
temp dirs in a temporary directory, on loopback only. Clients connect from 127.0.0.2, so
that the address nginx forwards is not the proxy's own (FORWARDED_ALLOW_IPS=127.0.0.1).
The app (tests/apps/proxied.py) answers what it saw and appends it to a file: the list of
every request that reached it.
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import uuid

import pytest

import wire
from conftest import ROOT, free_ports, readable_dir, stop_process, wait_port
from wire import Conn

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = "127.0.0.2"


def readme_config():
    """The indented nginx block of README's "Behind a proxy" section, as written there."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("\n## Behind a proxy\n", 1)[1].split("\n## ", 1)[0]
    lines, block = section.splitlines(), []
    start = next(i for i, line in enumerate(lines) if line.startswith("    upstream "))
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip() + "\n"


def substitute(conf, backend, port, tls_port, cert, key):
    """README's wsginit address and `listen 80;` replaced by this test's (each must be there once)."""
    assert conf.count("server 127.0.0.1:8080;") == 1 and conf.count("listen 80;") == 1, conf
    conf = conf.replace("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % backend)
    return conf.replace("listen 80;", "listen 127.0.0.1:%d;\n    listen 127.0.0.1:%d ssl;\n"
                        "    ssl_certificate %s;\n    ssl_certificate_key %s;" % (port, tls_port, cert, key))


class Nginx:
    """nginx with README's configuration in front of 127.0.0.1:backend: .port (plain), .tls_port."""

    def __init__(self, backend):
        self.dir = readable_dir("wsginit-nginx-")
        self.port, self.tls_port = free_ports(2)
        d = self.dir
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
                       check=True, capture_output=True, timeout=60)
        with open(os.path.join(d, "app.conf"), "w") as f:
            f.write(substitute(readme_config(), backend, self.port, self.tls_port, cert, key))
        temps = "".join("    %s_temp_path %s/%s;\n" % (k, d, k) for k in
                        ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                    "events { worker_connections 256; }\nhttp {\n    access_log %s/access.log;\n%s"
                    "    include %s/app.conf;\n}\n" % (d, d, d, temps, d))
        as_nobody = {}
        if os.geteuid() == 0:
            for name in os.listdir(d) + [""]:
                os.chown(os.path.join(d, name), 65534, 65534)
            as_nobody = dict(user=65534, group=65534, extra_groups=[])
        self.proc = subprocess.Popen([NGINX, "-e", "stderr", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                                     **as_nobody)
        try:
            wait_port(self.port, self.proc)
            wait_port(self.tls_port, self.proc)
        except RuntimeError:
            out, err = stop_process(self.proc)
            raise RuntimeError("nginx did not start: %s\n%s" % (err.decode(errors="replace"), self.error_log()))

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class Pair:
    """wsginit (one worker) with nginx in front."""

    def __init__(self):
        self.logdir = readable_dir("wsginit-seen-")
        self.seen_log = os.path.join(self.logdir, "seen")
        open(self.seen_log, "w").close()
        os.chmod(self.seen_log, 0o666)             # the worker may run as 65532
        self.wsginit = wire.Live(dict(APP="proxied:application", FORWARDED_ALLOW_IPS="127.0.0.1",
                                      SEEN_LOG=self.seen_log,
                                      ACCESS_LOG_FORMAT="%(h)s %(s)s %(m)s %(U)s %(q)s"))
        self.nginx = Nginx(self.wsginit.port)

    def seen(self):
        """Every request the app saw, oldest first."""
        with open(self.seen_log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        self.nginx.stop()
        self.wsginit.stop()
        shutil.rmtree(self.logdir, ignore_errors=True)


@pytest.fixture(scope="module")
def pair():
    p = Pair()
    yield p
    p.stop()


def connect(port, tls=False):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(CLIENT, 0))
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    return Conn(sock=sock)


def through(pair, path, headers=(), tls=False, method="GET", body=b""):
    """One request through nginx on a fresh connection from CLIENT -> what the app saw."""
    port = pair.nginx.tls_port if tls else pair.nginx.port
    with connect(port, tls) as c:
        r = c.request(method, path, list(headers) + [("Connection", "close")], body)
    assert r.status == 200, (r, r.body, pair.nginx.error_log()[-2000:])
    return r.json()


# ---------------------------------------------------------------- forwarded headers

def test_client_address_and_scheme_reach_the_app(pair):
    tag = uuid.uuid4().hex
    e = through(pair, "/who", [("X-Tag", tag), ("Host", "example.com:8443")])
    assert (e["remote_addr"], e["scheme"], e["script_name"]) == (CLIENT, "http", ""), e
    assert e["headers"]["HTTP_X_FORWARDED_FOR"] == CLIENT
    assert e["headers"]["HTTP_HOST"] == "example.com:8443"      # $http_host keeps the port
    e = through(pair, "/who", tls=True)
    assert (e["remote_addr"], e["scheme"]) == (CLIENT, "https"), e
    # the access log's %(h)s is the client too
    text = pair.wsginit.wait_log(lambda t: "/who" in t, stream="out", timeout=5)
    assert re.search(r"^%s 200 GET /who $" % re.escape(CLIENT), text, re.M), text


def test_what_a_client_writes_itself_is_not_believed(pair):
    e = through(pair, "/spoof", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"),
                                 ("Forwarded", "for=6.6.6.6;proto=https"), ("X-Forwarded-Ssl", "on"),
                                 ("X-Forwarded-Prefix", "/evil"), ("Script-Name", "/evil2")])
    assert (e["remote_addr"], e["scheme"], e["script_name"], e["path"]) == (CLIENT, "http", "", "/spoof"), e
    # nginx appended the client's address to what the client wrote; the walk stopped there
    assert e["headers"]["HTTP_X_FORWARDED_FOR"] == "6.6.6.6, " + CLIENT
    assert "HTTP_FORWARDED" not in e["headers"] and "HTTP_X_FORWARDED_PREFIX" not in e["headers"]


# ---------------------------------------------------------------- upstream keep-alive

def test_upstream_connections_are_reused(pair):
    """REMOTE_PORT is nginx's end of a connection to wsginit: one value per connection."""
    tag = uuid.uuid4().hex
    for i in range(30):                   # each on a fresh client connection: only nginx keeps alive
        through(pair, "/seq", [("X-Tag", tag)])
    seq = [e for e in pair.seen() if e["headers"].get("HTTP_X_TAG") == tag]
    assert len(seq) == 30
    ports = {e["remote_port"] for e in seq}
    assert len(ports) == 1, ports        # one after the other: one connection carries them all

    # 6 clients at once, 5 requests each: at most one connection per request in flight
    tag = uuid.uuid4().hex
    errors = []

    def client():
        try:
            for _ in range(5):
                through(pair, "/par", [("X-Tag", tag)])
        except Exception as exc:          # noqa: BLE001 (reported below)
            errors.append(exc)
    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads), errors
    par = [e for e in pair.seen() if e["headers"].get("HTTP_X_TAG") == tag]
    assert len(par) == 30
    assert len({e["remote_port"] for e in par}) <= 6, par


def test_remote_port_tells_connections_apart(pair):
    """The measure above is sound: requests straight to wsginit, a connection each, 5 ports."""
    tag = uuid.uuid4().hex
    for _ in range(5):
        assert wire.get(pair.wsginit.port, "/direct", [("X-Tag", tag)]).status == 200
    ports = {e["remote_port"] for e in pair.seen() if e["headers"].get("HTTP_X_TAG") == tag}
    assert len(ports) == 5, ports


# ---------------------------------------------------------------- smuggling

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def framed(head, body):
    return head.replace(b"\n", b"\r\n") + b"\r\n" + body


ATTACKS = {
    # nginx or wsginit reading the other header than its peer would leave /smuggled in the stream
    "cl-te": framed(b"POST /first HTTP/1.1\nHost: x\nContent-Length: %d\nTransfer-Encoding: chunked\n"
                    % len(b"0\r\n\r\n" + SMUGGLED), b"0\r\n\r\n" + SMUGGLED),
    "te-cl": framed(b"POST /first HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nContent-Length: 4\n",
                    b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)),
    "duplicate-cl": framed(b"POST /first HTTP/1.1\nHost: x\nContent-Length: 0\nContent-Length: %d\n"
                           % len(SMUGGLED), SMUGGLED),
    "cl-list": framed(b"POST /first HTTP/1.1\nHost: x\nContent-Length: 0, %d\n" % len(SMUGGLED), SMUGGLED),
    "obs-fold-te": framed(b"POST /first HTTP/1.1\nHost: x\nContent-Length: %d\nX-Pad: a\n Transfer-Encoding: chunked\n"
                          % len(b"0\r\n\r\n" + SMUGGLED), b"0\r\n\r\n" + SMUGGLED),
    "obs-fold-cl": framed(b"POST /first HTTP/1.1\nHost: x\nX-Pad: a\n Content-Length: %d\n" % len(SMUGGLED),
                          SMUGGLED),
    "te-obs-fold-value": framed(b"POST /first HTTP/1.1\nHost: x\nContent-Length: %d\nTransfer-Encoding:\n chunked\n"
                                % len(b"0\r\n\r\n" + SMUGGLED), b"0\r\n\r\n" + SMUGGLED),
    "space-before-colon": framed(b"POST /first HTTP/1.1\nHost: x\nTransfer-Encoding : chunked\nContent-Length: %d\n"
                                 % len(b"0\r\n\r\n" + SMUGGLED), b"0\r\n\r\n" + SMUGGLED),
    # what nginx passes on: a request inside a body stays a body, however it was framed
    "cl-body": framed(b"POST /first HTTP/1.1\nHost: x\nContent-Length: %d\n" % len(SMUGGLED), SMUGGLED),
    "chunked-body": framed(b"POST /first HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n",
                           b"%x;ext=1\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (len(SMUGGLED), SMUGGLED)),
    "bare-lf": b"POST /first HTTP/1.1\nHost: x\nContent-Length: %d\n\n" % len(SMUGGLED) + SMUGGLED,
}
PASSED_ON = {"cl-body", "chunked-body", "bare-lf"}    # whole and valid: nginx must forward these


def responses(conn, timeout=10.0):
    """Every response on conn until the server closes it (bounded)."""
    out = []
    while len(out) < 10:
        try:
            out.append(conn.read_response(timeout=timeout))
        except ConnectionError:
            break
    return out


@pytest.mark.parametrize("name", list(ATTACKS))
def test_smuggling_through_nginx_does_not_desync(pair, name):
    tag = uuid.uuid4().hex
    after = b"GET /after-same?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % tag.encode()
    attack = ATTACKS[name].replace(b"/first ", b"/first?%s " % tag.encode())
    with connect(pair.nginx.port) as c:
        c.send(attack + after)            # the attack, and a normal request behind it
        got = responses(c)
    assert got, "nginx answered nothing"
    # each answer on this connection is for a request the client sent, in order, never /smuggled;
    # the others are nginx's refusals (it closes the connection after one)
    paths = [r.json()["path"] for r in got if r.status == 200]
    assert paths in (["/first", "/after-same"], ["/after-same"], ["/first"], []), (paths, got)
    assert all(r.status == 200 or 400 <= r.status < 600 for r in got), got
    if name in PASSED_ON:
        assert paths == ["/first", "/after-same"], got
        first = [e for e in pair.seen() if e["query"] == tag and e["path"] == "/first"]
        assert [e["body"] for e in first] == [SMUGGLED.decode()], first

    # a fresh connection, sent over the upstream connection nginx kept alive
    e = through(pair, "/after-fresh?" + tag)
    assert e["path"] == "/after-fresh"

    # what reached the app: never /smuggled; the client's own requests, once each, in order
    assert not [e for e in pair.seen() if "smuggled" in e["path"]]
    seen = [(e["method"], e["path"]) for e in pair.seen() if e["query"] == tag]
    allowed = [("POST", "/first"), ("GET", "/after-same"), ("GET", "/after-fresh")]
    assert seen == [s for s in allowed if s in seen] and seen[-1] == ("GET", "/after-fresh"), seen
    # and wsginit's access log agrees, with no request it refused: nginx and wsginit read the same
    text = pair.wsginit.wait_log(lambda t: "/after-fresh " + tag in t, stream="out", timeout=5)
    lines = [ln.split()[1:4] for ln in text.splitlines() if ln.endswith(" " + tag)]
    assert lines == [["200", m, p] for m, p in seen], (lines, seen)
    assert all(ln.split()[1] == "200" for ln in text.splitlines()) and "smuggled" not in text, text
