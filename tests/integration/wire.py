"""Raw-socket HTTP/1.x client helpers for wsginit's protocol tests.

A strict response parser (Content-Length, chunked, close-delimited, HEAD, 1xx/204/304),
so the tests see exactly the bytes the server wrote. Every read is bounded in time.
"""
import json
import socket
import time


class Resp:
    def __init__(self, version, status, reason, headers, body, head_raw, complete=True,
                 chunked=False, trailers=None):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body, self.head_raw = headers, body, head_raw
        self.complete, self.chunked, self.trailers = complete, chunked, trailers or []

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Resp %s %s %r body=%d bytes%s>" % (self.version, self.status, self.headers,
                                                    len(self.body), "" if self.complete else " INCOMPLETE")


class Incomplete(Exception):
    pass


def parse_head(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        raise Incomplete()
    head = buf[:end]
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError("bad status line %r" % lines[0])
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if b"\n" in line or b"\r" in line:
            raise ValueError("bare CR/LF in response head: %r" % head)
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ValueError("bad header line %r" % line)
        headers.append((name, value.strip()))
    return version, status, reason, headers, end + 4, head


def parse_one(buf, method="GET", eof=False):
    """Parse one response at the start of buf -> (Resp, consumed). Raises Incomplete."""
    version, status, reason, headers, pos, head = parse_head(buf)
    r = Resp(version, status, reason, headers, b"", head)
    if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
        return r, pos
    te = r.header("Transfer-Encoding")
    if te is not None:
        if te.lower() != "chunked":
            raise ValueError("unexpected response Transfer-Encoding %r" % te)
        r.chunked = True
        body = bytearray()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if eof:
                    r.body, r.complete = bytes(body), False
                    return r, len(buf)
                raise Incomplete()
            size = int(buf[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                # trailers until an empty line
                while True:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        if eof:
                            r.body, r.complete = bytes(body), False
                            return r, len(buf)
                        raise Incomplete()
                    line = buf[pos:eol]
                    pos = eol + 2
                    if not line:
                        r.body = bytes(body)
                        return r, pos
                    r.trailers.append(line)
            if len(buf) < pos + size + 2:
                if eof:
                    body += buf[pos:pos + size]
                    r.body, r.complete = bytes(body), False
                    return r, len(buf)
                raise Incomplete()
            body += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            pos += size + 2
    cl = r.header("Content-Length")
    if cl is not None:
        n = int(cl)
        if len(buf) < pos + n:
            if eof:
                r.body, r.complete = bytes(buf[pos:]), False
                return r, len(buf)
            raise Incomplete()
        r.body = bytes(buf[pos:pos + n])
        return r, pos + n
    # close-delimited
    if not eof:
        raise Incomplete()
    r.body = bytes(buf[pos:])
    return r, len(buf)


class Conn:
    """One client connection. read_response() returns the next response (1xx included)."""

    def __init__(self, port=None, host="127.0.0.1", sock=None, timeout=10.0):
        if sock is None:
            sock = socket.create_connection((host, port), timeout=timeout)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete response before the deadline; have %r" % self.buf[:500])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(262144)
        except socket.timeout:
            raise TimeoutError("no complete response before the deadline; have %r" % self.buf[:500])
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk

    def read_response(self, method="GET", timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                r, used = parse_one(self.buf, method, eof=self.eof)
                self.buf = self.buf[used:]
                return r
            except Incomplete:
                if self.eof:
                    raise ConnectionError("connection closed before a complete response; have %r"
                                          % self.buf[:500])
                self._recv(deadline)

    def request(self, method, target, headers=(), body=b"", version="HTTP/1.1", timeout=10.0):
        self.send(build(method, target, headers, body, version))
        return self.read_response(method, timeout)

    def closed_by_peer(self, timeout=3.0):
        """True if the server closes the connection within timeout (extra bytes -> AssertionError)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                self._recv(deadline)
            except TimeoutError:
                return False
        assert not self.buf.strip(), "unexpected extra bytes after the response: %r" % self.buf[:300]
        return True

    def read_until_eof(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._recv(deadline)
        data, self.buf = self.buf, b""
        return data

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def build(method, target, headers=(), body=b"", version="HTTP/1.1", host="localhost"):
    lines = ["%s %s %s" % (method, target, version)]
    names = [h[0].lower() for h in headers]
    if "host" not in names and host is not None:
        lines.append("Host: %s" % host)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(port, target, headers=(), timeout=10.0, method="GET", body=b""):
    """One request on a fresh connection (Connection: close)."""
    with Conn(port, timeout=timeout) as c:
        return c.request(method, target, list(headers) + [("Connection", "close")], body,
                         timeout=timeout)


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1"):
    """Send raw bytes, read until the server closes (bounded). -> (bytes, closed: bool)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        out = b""
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
        return out, False


def chunked(*pieces, trailers=()):
    out = b""
    for p in pieces:
        out += b"%x\r\n%s\r\n" % (len(p), p)
    out += b"0\r\n"
    for t in trailers:
        out += t + b"\r\n"
    return out + b"\r\n"


def count(port):
    """Value of the app's call counter (the /count call itself included)."""
    return int(get(port, "/count").body)


class Live:
    """A wsginit whose stdout/stderr are drained continuously (so long runs never block
    on a full pipe, and logs can be read while it runs). Built on conftest.Server."""

    def __init__(self, env, wait=True, bind=None, ready=None):
        import threading
        import conftest
        if bind is not None:
            env = dict(env, BIND=bind)
        self.server = conftest.Server(env, wait=False)
        self.proc, self.env = self.server.proc, self.server.env
        self.port = self.server.port
        self._out, self._err = bytearray(), bytearray()
        self._threads = [threading.Thread(target=self._drain, args=(self.proc.stdout, self._out), daemon=True),
                         threading.Thread(target=self._drain, args=(self.proc.stderr, self._err), daemon=True)]
        for t in self._threads:
            t.start()
        if wait:
            if ready is not None:
                ready(self)
            else:
                try:
                    conftest.wait_port(self.port, self.proc)
                except RuntimeError as e:
                    raise RuntimeError("%s\nstderr:\n%s" % (e, self.err()))

    @staticmethod
    def _drain(f, buf):
        while True:
            b = f.read1(65536) if hasattr(f, "read1") else f.read(65536)
            if not b:
                return
            buf += b

    def out(self):
        return bytes(self._out).decode("utf-8", "replace")

    def err(self):
        return bytes(self._err).decode("utf-8", "replace")

    def wait_log(self, predicate, stream="err", timeout=5.0):
        """Poll until predicate(text) is true (bounded); returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.out() if stream == "out" else self.err()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self, sig=None, timeout=20):
        import os
        import signal
        import subprocess
        if sig is None:
            sig = signal.SIGTERM
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        for t in self._threads:
            t.join(timeout=5)
        return self.proc.returncode, self.out(), self.err()


def wait_connect(family, addr, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("wsginit exited with %s before listening" % proc.returncode)
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect(addr)
            s.close()
            return
        except OSError:
            s.close()
            time.sleep(0.02)
    raise RuntimeError("wsginit did not listen on %r within %ss" % (addr, timeout))
