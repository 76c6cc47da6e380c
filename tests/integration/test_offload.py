"""Responses never wait on the client: once the app has produced its response (a list of
bytes, a wsgi.file_wrapper over a real file, an iterator up to RESPONSE_BUFFER of queued
chunks) its app slot is free, and the worker's loop writes it as the client drains.

Slow clients are raw sockets with a small SO_RCVBUF (set before connect) read at a paced
rate by one selectors loop (Readers). Bodies are offload.pattern(size) whatever their kind,
so every client checks a length and a sha256. Loopback only; no timing assertions except
the 2 s answer deadline of the short requests in the first test.
"""
import hashlib
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

import conftest
import wire
from conftest import (SANITIZED, fd_count, figures_on_release_build_only, readable_dir, rss_kib,
                      wait_children, wait_for)
from test_logs import ACCESS_LINE
from wire import Conn, build, get

sys.path.insert(0, conftest.APPS)
import offload  # noqa: E402  (pattern, FIRST/REST, write_pattern_file)

APP = {"APP": "offload:application"}
KINDS = ["bytes", "file", "gen"]
BIG = 8 << 20
MID = 4 << 20
KIB, MIB = 1024, 1 << 20
RCVBUF = 16 * KIB          # the kernel doubles it: 32 KiB of client-side buffer per reader
SLOW = 400 * KIB           # bytes/s per slow reader
RST = struct.pack("ii", 1, 0)   # SO_LINGER on, 0 s: close() sends a RST


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def files():
    """A directory the server's RUN_AS user can read, with the pattern files kind=file
    serves, and flags/ where the test and the app leave each other flag files."""
    d = readable_dir("wsginit-offload-")
    for size in (BIG, MID):
        offload.write_pattern_file(d, size)
    os.mkdir(os.path.join(d, "flags"))
    os.chmod(os.path.join(d, "flags"), 0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(live, files, **env):
    return live(**APP, OFFLOAD_DIR=files, **env)


def worker_pid(s):
    kids = wait_children(s.proc.pid, 1)
    assert len(kids) == 1, "expected one worker, have %r\n%s" % (kids, s.err()[-3000:])
    return kids[0]


def big(kind, size=BIG):
    return "/big?kind=%s&size=%d" % (kind, size)


def settle(measure, limit, timeout):
    """Poll measure() until it is <= limit (bounded); its last value."""
    value = measure()
    deadline = time.monotonic() + timeout
    while value > limit and time.monotonic() < deadline:
        time.sleep(0.05)
        value = measure()
    return value


# ---------------------------------------------------------------- paced raw-socket readers


class Reader:
    """One client: sends its request at once, then reads what the loop lets it. With keep
    it keeps every byte until the server closes (.raw); otherwise it reads one
    Content-Length response, hashing the body as it comes (.status, .headers, .got, .sha)."""

    def __init__(self, port, request, keep=False, rcvbuf=RCVBUF):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(request)
        self.sock.setblocking(False)
        self.keep, self.raw, self.head = keep, bytearray(), b""
        self.status = self.headers = self.length = None
        self.got, self.received, self.credit = 0, 0, 0.0
        self.hasher = hashlib.sha256()
        self.done, self.error, self.registered = False, None, False

    @property
    def sha(self):
        return self.hasher.hexdigest()

    def header(self, name):
        return dict((k.lower(), v) for k, v in self.headers or ()).get(name.lower())

    def feed(self, data):
        self.received += len(data)
        if self.keep:
            self.raw += data
            return
        if self.status is None:
            self.head += data
            try:
                _, self.status, _, self.headers, pos, _ = wire.parse_head(self.head)
            except wire.Incomplete:
                return
            self.length = int(self.header("Content-Length"))
            data, self.head = self.head[pos:], self.head[:pos]
        self.got += len(data)
        self.hasher.update(data)
        if self.got > self.length:
            self.error = "%d body bytes, more than Content-Length %d" % (self.got, self.length)
        if self.got >= self.length:
            self.done = True

    def eof(self, how):
        self.done = True
        if not self.keep:
            self.error = "connection %s after %d of %s body bytes" % (how, self.got, self.length)


class Readers:
    """Clients reading at `rate` bytes/s each (None: as fast as the server sends), all in
    one selectors loop on a thread. A context manager: the sockets are closed on exit."""

    TICK = 0.01

    def __init__(self, port, requests, rate, keep=False, rcvbuf=RCVBUF):
        self.rate = rate
        self.clients = []
        self._stop = False
        try:
            for target in requests:
                req = target if isinstance(target, bytes) else \
                    build("GET", target, [("Connection", "close")])
                self.clients.append(Reader(port, req, keep, rcvbuf))
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def set_rate(self, rate):
        self.rate = rate

    def heads(self):
        return sum(1 for c in self.clients if c.status is not None)

    def finished(self):
        return all(c.done for c in self.clients)

    def wait(self, predicate, timeout):
        return wait_for(lambda: predicate(self), timeout)

    def finish(self, timeout=60.0):
        """Read everything at full speed; True if every client is done within timeout."""
        self.set_rate(None)
        return self.wait(Readers.finished, timeout)

    def errors(self):
        return [(i, c.error) for i, c in enumerate(self.clients) if c.error]

    def _loop(self):
        sel = selectors.DefaultSelector()
        last = time.monotonic()
        while not self._stop:
            now = time.monotonic()
            rate, dt, last = self.rate, now - last, now
            active = [c for c in self.clients if not c.done]
            if not active:
                break
            for c in active:
                if rate is not None:
                    # at most 5 ticks' worth of credit, so the pace stays smooth
                    c.credit = min(c.credit + rate * dt, max(rate * 5 * self.TICK, 8 * KIB))
                want = rate is None or c.credit >= min(4 * KIB, rate * self.TICK)
                if want and not c.registered:
                    sel.register(c.sock, selectors.EVENT_READ, c)
                elif not want and c.registered:
                    sel.unregister(c.sock)
                c.registered = want
            for key, _ in sel.select(self.TICK):
                self._read(key.data)
                if key.data.done:
                    sel.unregister(key.data.sock)
                    key.data.registered = False
        sel.close()

    def _read(self, c):
        while not c.done:
            n = 262144 if self.rate is None else int(c.credit)
            if n < 1:
                return
            try:
                data = c.sock.recv(n)
            except BlockingIOError:
                return
            except OSError as e:
                c.eof("failed: %s" % e)
                return
            if not data:
                c.eof("closed")
                return
            c.credit -= len(data)
            c.feed(data)

    def close(self):
        self._stop = True
        if getattr(self, "_thread", None) is not None:
            self._thread.join(timeout=10)
        for c in self.clients:
            c.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_bodies(readers, size=BIG):
    want = sha(offload.pattern(size))
    bad = [(i, c.status, c.got, c.error) for i, c in enumerate(readers.clients)
           if c.status != 200 or c.got != size or c.sha != want or c.error]
    assert not bad, "%d of %d clients did not get the %d right bytes (index, status, got, error): %r" \
        % (len(bad), len(readers.clients), size, bad[:10])


# ---------------------------------------------------------------- 1. the app slot is free


def short_requests(port, n, timeout):
    """n concurrent GET /small, each on its own connection with a `timeout` s socket
    timeout -> list of (status or error text)."""
    results = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        try:
            barrier.wait(timeout=10)
            results[i] = get(port, "/small", timeout=timeout).status
        except Exception as e:   # noqa: BLE001 (reported in the assertion)
            results[i] = "%s: %s" % (type(e).__name__, e)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.parametrize("kind", KINDS)
def test_one_app_slot_answers_short_requests_while_50_slow_clients_read_8mib(live, files, kind):
    # RESPONSE_BUFFER=512m: 50 generated 8 MiB bodies (400 MiB) must all be queued for the
    # single app slot never to wait on a slow reader; past the default 32m it would write
    # the next generator directly (that budget is test_generated_data_..._response_buffer's).
    s = start(live, files, WORKERS="1", THREADS="1", RESPONSE_BUFFER="512m")
    with Readers(s.port, [big(kind)] * 50, rate=SLOW) as readers:
        heads = readers.wait(lambda r: r.heads() == 50, timeout=15)
        results = short_requests(s.port, 20, timeout=2.0)
        failed = [r for r in results if r != 200]
        assert not failed, \
            "%d of 20 short requests not answered within 2 s while 50 slow readers (%d with " \
            "their response head) were in flight; first: %r" % (len(failed), readers.heads(), failed[0])
        assert heads, "only %d of 50 slow readers got their response head" % readers.heads()
        assert readers.finish(timeout=60), "readers not done: %r" % readers.errors()[:5]
        assert_bodies(readers)


# ---------------------------------------------------------------- 2. RESPONSE_BUFFER bounds memory


def kernel_bytes_per_connection():
    """Most a loopback connection holds in kernel buffers: the server's send buffer
    (tcp_wmem max, autotuned) and the client's receive buffer (twice SO_RCVBUF)."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem_max = int(f.read().split()[2])
    return wmem_max + 2 * RCVBUF


@figures_on_release_build_only
def test_generated_data_held_for_slow_readers_stays_within_response_buffer(live, files):
    # 100 readers of a generated 8 MiB body (64 KiB chunks): 800 MiB, well past the 16 MiB
    # budget even if every connection's kernel buffers were full (tcp_wmem max is 4 MiB
    # here), so the budget is exceeded and the app slots write the rest directly. That
    # makes the responses go largely a few at a time, so: THREADS=8 slots, and readers at
    # 8 MiB/s (slow next to the loop, yet 8 slots x 8 MiB/s plus the kernel buffers drain
    # 800 MiB in well under a minute: ~8 s with direct writes only).
    n, size, rate, budget = 100, BIG, 8 * MIB, 16 * MIB
    assert n * size > budget + n * kernel_bytes_per_connection() + 64 * MIB, \
        "precondition: the bodies must exceed what RESPONSE_BUFFER and the kernel can hold"
    # Margin over idle + budget: the 64 KiB chunks in flight in 8 app threads and malloc's
    # free lists (2 MiB measured; 28 MiB when each app thread had its own malloc arena).
    margin = 8 * MIB
    s = start(live, files, WORKERS="1", THREADS="8", RESPONSE_BUFFER="16m")
    wpid = worker_pid(s)
    with Readers(s.port, [big("gen", size)], rate=None) as warm:   # pattern(size) cached
        assert warm.finish(timeout=30)
        assert_bodies(warm, size)
    idle = rss_kib(wpid) * KIB
    samples = []
    with Readers(s.port, [big("gen", size)] * n, rate=rate) as readers:
        deadline = time.monotonic() + 90
        while not readers.finished() and time.monotonic() < deadline:
            samples.append(rss_kib(wpid) * KIB)
            time.sleep(0.02)
        assert readers.finished(), "readers not done in 90 s: %d heads, errors %r" \
            % (readers.heads(), readers.errors()[:5])
        assert_bodies(readers, size)
    peak = max(samples)
    print("\n[offload] idle RSS %.1f MiB, peak %.1f MiB over %d samples"
          % (idle / MIB, peak / MIB, len(samples)))
    assert len(samples) > 10, "too few RSS samples while the readers were in flight"
    assert peak <= idle + budget + margin, \
        "worker RSS peaked at %.1f MiB, idle %.1f MiB + RESPONSE_BUFFER 16 MiB + margin 8 MiB" \
        % (peak / MIB, idle / MIB)


# ---------------------------------------------------------------- 3. X-Accel-Buffering: no


def stream_wait(files, name, nobuffer):
    flag = os.path.join(files, "flags", name + "-flag")
    started = os.path.join(files, "flags", name + "-started")
    target = "/stream-wait?flag=%s&started=%s%s" % (flag, started, "&nobuffer=1" if nobuffer else "")
    return target, flag, started


def test_x_accel_buffering_no_sends_first_chunk_before_app_finishes_and_is_not_forwarded(
        live, files):
    s = start(live, files)
    target, flag, _ = stream_wait(files, "nobuffer", nobuffer=True)
    try:
        with Conn(s.port, timeout=15) as c:
            c.send(build("GET", target))
            deadline = time.monotonic() + 10
            while offload.FIRST not in c.buf and not c.eof:
                c._recv(deadline)       # TimeoutError: the first chunk waited for the app
            # the app cannot finish before the flag exists: the first chunk came first
            assert offload.FIRST in c.buf, c.buf[:500]
            open(flag, "w").close()
            r = c.read_response(timeout=15)
    finally:
        open(flag, "a").close()        # never leave the app waiting its 20 s
    assert r.status == 200, r
    assert r.body == offload.FIRST + offload.REST, r.body[:200]
    assert r.header("X-Accel-Buffering") is None, \
        "X-Accel-Buffering reached the client: %r" % r.headers


def test_without_x_accel_buffering_a_generator_blocked_mid_body_arrives_whole(live, files):
    s = start(live, files)
    target, flag, started = stream_wait(files, "buffered", nobuffer=False)
    try:
        with Conn(s.port, timeout=15) as c:
            c.send(build("GET", target))
            # the app has yielded its first chunk and waits for the flag
            assert wait_for(lambda: os.path.exists(started), timeout=10), \
                "the app never asked for its second chunk"
            open(flag, "w").close()
            r = c.read_response(timeout=15)
    finally:
        open(flag, "a").close()
    assert r.status == 200 and r.complete, r
    assert r.body == offload.FIRST + offload.REST, r.body[:200]
    assert r.header("X-Accel-Buffering") is None


# ---------------------------------------------------------------- 4. pipelining


@pytest.mark.parametrize("kind", KINDS)
def test_pipelined_request_behind_offloaded_response_is_answered_after_it_in_order(
        live, files, kind):
    s = start(live, files, THREADS="1")
    both = build("GET", big(kind)) + build("GET", "/small", [("Connection", "close")])
    with Readers(s.port, [both], rate=SLOW, keep=True) as readers:
        c = readers.clients[0]
        assert readers.wait(lambda r: c.received >= MIB, timeout=20), \
            "only %d bytes read slowly" % c.received
        assert readers.finish(timeout=30), "connection not closed after /small: %d bytes" \
            % c.received
        data = bytes(c.raw)
    r1, used = wire.parse_one(data, eof=True)
    assert r1.status == 200 and r1.complete and len(r1.body) == BIG, r1
    assert sha(r1.body) == sha(offload.pattern(BIG)), "wrong bytes in the 8 MiB body"
    r2, used2 = wire.parse_one(data[used:], eof=True)
    assert r2.status == 200 and r2.body == b"ok", r2
    assert data[used + used2:] == b"", "bytes after the second response: %r" % data[used + used2:][:200]


# ---------------------------------------------------------------- 5. clients that leave mid-response


def leave_mid_response(port, n, threads=8):
    """n clients, each: GET an 8 MiB body (kinds in turn; more than the kernel buffers of a
    connection hold, so the server still has some to send), read a few KiB, close: with a
    RST (SO_LINGER 0) for every other one, a plain close for the rest (which Linux also
    turns into a RST, as unread data is left). -> list of failures."""
    failures = []
    lock = threading.Lock()
    next_i = [0]

    def client():
        while True:
            with lock:
                i = next_i[0]
                if i >= n:
                    return
                next_i[0] += 1
            try:
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
                if i % 2:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
                sock.settimeout(10)
                try:
                    sock.connect(("127.0.0.1", port))
                    sock.sendall(build("GET", big(KINDS[i % 3])))
                    got = b""
                    while len(got) < 4 * KIB:
                        data = sock.recv(65536)
                        if not data:
                            break
                        got += data
                    if not got.startswith(b"HTTP/1.1 200 ") or len(got) < 4 * KIB:
                        raise AssertionError("got %r" % got[:200])
                finally:
                    sock.close()
            except Exception as e:   # noqa: BLE001 (counted and reported)
                with lock:
                    failures.append("%d: %s: %s" % (i, type(e).__name__, e))

    ts = [threading.Thread(target=client) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    return failures


def test_10000_clients_leaving_mid_response_leave_no_descriptors_or_memory_behind(live, files):
    s = start(live, files, ACCESS_LOG="0")
    wpid = worker_pid(s)
    assert get(s.port, "/small").status == 200
    idle_fds = fd_count(wpid)
    failures = leave_mid_response(s.port, 500)
    assert not failures, failures[:5]
    # settled: the worker holds nothing for the warm-up clients any more
    warm_fds = settle(lambda: fd_count(wpid), idle_fds + 4, timeout=15)
    assert warm_fds <= idle_fds + 4, "warm-up clients still hold descriptors: %d, idle %d" \
        % (warm_fds, idle_fds)
    warm_rss = rss_kib(wpid) * KIB
    failures = leave_mid_response(s.port, 10000)
    assert not failures, "%d failures: %r" % (len(failures), failures[:5])
    fds = settle(lambda: fd_count(wpid), warm_fds + 4, timeout=20)
    rss = settle(lambda: rss_kib(wpid) * KIB, warm_rss + 8 * MIB, timeout=10)
    print("\n[offload] worker fds idle %d, after 500 %d, after 10,000 more %d; "
          "RSS after 500 %.1f MiB, after 10,000 more %.1f MiB"
          % (idle_fds, warm_fds, fds, warm_rss / MIB, rss / MIB))
    assert fds <= warm_fds + 4, "descriptors grew from %d to %d" % (warm_fds, fds)
    if not SANITIZED:  # ASan's quarantine keeps what was freed
        assert rss <= warm_rss + 8 * MIB, "RSS grew from %.1f to %.1f MiB" % (warm_rss / MIB, rss / MIB)
    assert worker_pid(s) == wpid, "the worker was replaced"
    assert get(s.port, "/small").status == 200
    with Readers(s.port, [big(k, MID) for k in KINDS], rate=None) as readers:
        assert readers.finish(timeout=30), readers.errors()
        assert_bodies(readers, MID)


# ---------------------------------------------------------------- 6. graceful stop


def test_term_waits_for_offloaded_writes_to_slow_readers_then_exits_0(live, files):
    s = start(live, files, THREADS="1")
    with Readers(s.port, [big(KINDS[i % 3]) for i in range(5)], rate=SLOW) as readers:
        assert readers.wait(lambda r: r.heads() == 5, timeout=15), \
            "only %d of 5 slow readers got their response head" % readers.heads()
        s.proc.send_signal(signal.SIGTERM)
        assert readers.finish(timeout=30), "readers not done: %r" % readers.errors()
        assert_bodies(readers)
    try:
        rc = s.proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        rc = None
    assert rc == 0, "exit status %r after TERM\n%s" % (rc, s.err()[-3000:])


# ---------------------------------------------------------------- 7. access log


def access_line(s, needle, timeout=10.0):
    text = s.wait_log(lambda t: needle in t, stream="out", timeout=timeout)
    found = [l for l in text.splitlines() if needle in l]
    return found[0] if found else None


@pytest.mark.parametrize("kind", KINDS)
def test_offloaded_response_is_access_logged_when_its_last_byte_is_sent_with_every_byte(
        live, files, kind):
    s = start(live, files, THREADS="1")
    target = big(kind)
    request_line = '"GET %s HTTP/1.1"' % target
    with Readers(s.port, [target], rate=MIB) as readers:
        c = readers.clients[0]
        assert readers.wait(lambda r: c.got >= MIB, timeout=20), "only %d body bytes" % c.got
        # > 3 MiB of the body are neither read nor in kernel buffers yet: not logged yet
        assert request_line not in s.out(), s.out()[-2000:]
        assert readers.finish(timeout=30), readers.errors()
        assert_bodies(readers)
    line = access_line(s, request_line)
    assert line, "no access line for %s: %r" % (target, s.out()[-2000:])
    m = ACCESS_LINE.match(line)
    assert m, "access line not in gunicorn's default format: %r" % line
    assert m.group(6) == "200" and m.group(7) == str(BIG), line


def test_parser_refusal_is_access_logged_with_status_400_and_client_address(live, files):
    s = start(live, files, LOG_LEVEL="info")
    out, closed = wire.raw_exchange(s.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out[:200]
    text = s.wait_log(lambda t: any(ACCESS_LINE.match(l) and ACCESS_LINE.match(l).group(6) == "400"
                                    for l in t.splitlines()), stream="out", timeout=10)
    lines = [l for l in text.splitlines() if ACCESS_LINE.match(l)]
    refused = [l for l in lines if ACCESS_LINE.match(l).group(6) == "400"]
    assert refused, "no access line for the 400 refusal; stdout: %r" % text[-2000:]
    assert ACCESS_LINE.match(refused[0]).group(1) == "127.0.0.1", refused[0]


# ---------------------------------------------------------------- 8. the loop's clocks


def test_keep_alive_after_a_response_the_loop_had_to_wait_for_is_keep_alive_not_the_write_timeout(
        live, files):
    """8 MiB cannot leave in one write, so the loop writes it as the client reads; after it,
    the idle connection gets KEEP_ALIVE (1 s here), not the 30 s write clock."""
    s = start(live, files, KEEP_ALIVE="1")
    with socket.create_connection(("127.0.0.1", s.port), timeout=20) as c:
        c.sendall(build("GET", big("bytes")))
        data = b""
        while True:
            try:
                r, used = wire.parse_one(data)
                break
            except wire.Incomplete:
                chunk = c.recv(1 << 20)
                assert chunk, "closed before the response was whole"
                data += chunk
        assert r.status == 200 and len(r.body) == BIG and r.header("Connection") is None, r
        t0 = time.monotonic()
        c.settimeout(15)
        assert c.recv(1) == b"", "the idle connection got data"
        idle = time.monotonic() - t0
    assert idle < 10, "closed after %.1f s idle, not after KEEP_ALIVE=1" % idle


def test_a_long_batch_of_pipelined_app_calls_does_not_look_like_a_hung_worker(live):
    """Twelve pipelined 0.4 s requests run in one turn of a THREADS=1 loop (4.8 s, each call
    well under TIMEOUT=2): the heartbeat after them carries the time it is, so the master
    does not take the worker for hung."""
    s = live(APP="probe:bare", TIMEOUT="2", THREADS="1")
    wpid = worker_pid(s)
    assert get(s.port, "/sleep?s=0").status == 200  # serving, and the master knows it
    n = 12
    with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
        c.sendall(b"".join(build("GET", "/sleep?s=0.4") for _ in range(n)))
        data, got = b"", []
        while len(got) < n:
            try:
                r, used = wire.parse_one(data)
                got.append(r)
                data = data[used:]
            except wire.Incomplete:
                chunk = c.recv(65536)
                assert chunk, "closed after %d of %d responses" % (len(got), n)
                data += chunk
        assert all(r.status == 200 for r in got), got
        # the master checks every second: give it three turns to (wrongly) act, with the
        # loop idle and the connection open (its close would make the loop turn and beat)
        s.wait_log(lambda t: "WORKER TIMEOUT" in t, timeout=3)
    assert "WORKER TIMEOUT" not in s.err(), s.err()[-2000:]
    assert worker_pid(s) == wpid
    assert get(s.port, "/sleep?s=0").status == 200
