"""The master's lifecycle (issue 3): process titles, TIMEOUT with tracebacks, dead
workers, import failures, TERM/INT/HUP/TTIN/TTOU, MAX_REQUESTS recycling, orphan
reaping and PRELOAD (one import in the master, lower PSS).

Every server runs through wire.Live (logs drained while it runs); every loop is
bounded in time and count; all traffic is on 127.0.0.1. The figures the issue asks
for (failed requests during TERM/HUP/recycling, hang-to-new-worker time, PSS) are
printed: run with -s to see them.
"""
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import wire
from conftest import children, proc_table, wait_children, wait_for
from wire import get

APP = "lifecycle:application"


# ---------------------------------------------------------------- helpers



def zombies(pid):
    return sorted(p for p, (state, ppid) in proc_table().items() if ppid == pid and state == "Z")


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()


def pss_kb(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise AssertionError("no Pss line for %d" % pid)


def wait_exit(proc, timeout):
    """Seconds until proc exits (None if it is still running after timeout)."""
    t0 = time.monotonic()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - t0


class Load:
    """A bounded client load: `threads` threads, each opening a new connection per
    request (GET path, Connection: close), until stop(), `duration` seconds or `limit`
    requests in total. Outcomes per request:
      ok       connected and got a complete 200
      refused  the connection was never accepted (connect failed)
      failed   connected, then an error, a non-200 or an incomplete response
    """

    def __init__(self, port, path="/", threads=6, duration=10.0, limit=5000, timeout=10.0):
        self.port, self.path, self.timeout = port, path, timeout
        self.deadline = time.monotonic() + duration
        self.limit = limit
        self.lock = threading.Lock()
        self.n = 0
        # ok: (t_connected, t_end, body); refused: (t_start, error); failed: (t_connected, error)
        self.ok, self.refused, self.failed = [], [], []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _take(self):
        with self.lock:
            if self.n >= self.limit:
                return False
            self.n += 1
            return True

    def _run(self):
        while not self.stopping.is_set() and time.monotonic() < self.deadline and self._take():
            t0 = time.monotonic()
            try:
                c = wire.Conn(self.port, timeout=self.timeout)
            except OSError as e:
                with self.lock:
                    self.refused.append((t0, repr(e)))
                time.sleep(0.01)
                continue
            t0 = time.monotonic()    # the kernel has accepted this connection
            try:
                r = c.request("GET", self.path, [("Connection", "close")], timeout=self.timeout)
                if r.status == 200 and r.complete:
                    with self.lock:
                        self.ok.append((t0, time.monotonic(), r.body))
                else:
                    with self.lock:
                        self.failed.append((t0, "status %s complete=%s" % (r.status, r.complete)))
            except Exception as e:  # noqa: BLE001 - every error after connect is a failure
                with self.lock:
                    self.failed.append((t0, repr(e)))
            finally:
                c.close()

    def stop(self, timeout=20.0):
        self.stopping.set()
        return self.join(timeout)

    def join(self, timeout=20.0):
        """Wait for the load to end by itself (duration or limit)."""
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), "load threads did not finish"
        return self


@pytest.fixture
def live(live):
    """conftest's live, running the lifecycle app with GRACEFUL_TIMEOUT=5 unless told."""
    return lambda wait=True, **env: live(wait=wait, **{"APP": APP, "GRACEFUL_TIMEOUT": "5", **env})


@pytest.fixture
def appdir():
    """A fresh directory for an app module that a test rewrites (used as CHDIR).
    World-readable: as root, workers run as RUN_AS (65532) and must import from it."""
    d = tempfile.mkdtemp(prefix="wsginit-lifecycle-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


VERSIONED = '''\
import os
import time
from urllib.parse import parse_qsl
TEXT = %r


def application(environ, start_response):
    time.sleep(float(dict(parse_qsl(environ.get("QUERY_STRING", ""))).get("s", "0")))
    body = ("%%s %%d" %% (TEXT, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def write_module(d, name, source):
    """(Re)write d/name.py so that a new import surely sees the new source."""
    shutil.rmtree(os.path.join(d, "__pycache__"), ignore_errors=True)
    path = os.path.join(d, name + ".py")
    old = os.stat(path).st_mtime if os.path.exists(path) else time.time()
    with open(path, "w") as f:
        f.write(source)
    os.chmod(path, 0o644)
    later = max(time.time(), old + 2)
    os.utime(path, (later, later))


def text_of(port):
    """(TEXT, pid) from the VERSIONED app."""
    text, pid = get(port, "/", timeout=10).body.decode().split()
    return text, int(pid)


def one_per_worker(port, paths, stagger=0.15):
    """Send each path on its own connection, `stagger` s apart, then read every answer.
    Each path must keep a (single-threaded) worker in the app longer than the whole
    stagger, so a busy worker accepts nothing and the next request goes to another
    worker: with N idle workers, N paths reach N different workers. -> [Resp]"""
    conns = []
    try:
        for p in paths:
            c = wire.Conn(port, timeout=10)
            conns.append(c)
            c.send(wire.build("GET", p, [("Connection", "close")]))
            time.sleep(stagger)
        return [c.read_response(timeout=10) for c in conns]
    finally:
        for c in conns:
            c.close()


def versioned_workers(port, n):
    """{pid: TEXT} from n different workers of the VERSIONED app (a worker that
    answered has imported the app)."""
    hold = "/?s=%.2f" % (0.15 * n + 0.3)
    out = {}
    for r in one_per_worker(port, [hold] * n):
        text, pid = r.body.decode().split()
        out[int(pid)] = text
    return out


# ---------------------------------------------------------------- process titles

def test_process_titles_name_master_and_workers(live):
    s = live(WORKERS="2")
    workers = wait_children(s.proc.pid, 2)
    assert len(workers) == 2, workers
    assert cmdline(s.proc.pid) == "wsginit: master [%s]" % APP
    # a worker just forked still shows the master's title until its first instructions run
    deadline = time.monotonic() + 5
    while True:
        titles = sorted(cmdline(p) for p in workers)
        if all(t.startswith("wsginit: worker") for t in titles) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert all(re.fullmatch(r"wsginit: worker \d+ \[%s\]" % re.escape(APP), t) for t in titles), titles
    numbers = sorted(int(t.split()[2]) for t in titles)
    assert numbers == [1, 2], titles


# ---------------------------------------------------------------- TIMEOUT

def test_hung_app_call_is_aborted_with_traceback_and_replaced(live):
    s = live(WORKERS="1", TIMEOUT="2")
    old = int(get(s.port, "/pid").body)
    hung = wire.Conn(s.port, timeout=15)
    t0 = time.monotonic()
    hung.send(wire.build("GET", "/hang"))
    time.sleep(0.3)                       # /hang is in the app now; the next call queues
    answer = {}

    def next_call():
        try:
            answer["r"] = get(s.port, "/pid", timeout=15)
            answer["t"] = time.monotonic()
        except Exception as e:  # noqa: BLE001
            answer["e"] = e
    th = threading.Thread(target=next_call, daemon=True)
    th.start()
    try:
        with pytest.raises(ConnectionError):
            r = hung.read_response(timeout=12)
            print("the hung request got an answer:", r)
        closed = time.monotonic() - t0
    finally:
        hung.close()
    th.join(timeout=15)
    assert "e" not in answer, "the call queued behind the hung one failed: %r" % answer.get("e")
    assert "r" in answer, "no answer within 15 s after a worker hang"
    new = int(answer["r"].body)
    to_new = answer["t"] - t0
    print("\nTIMEOUT=2: hung connection closed after %.2f s; a new worker answered %.2f s "
          "after the hung call started" % (closed, to_new))
    assert new != old, "the call was answered by the hung worker %d" % old
    assert closed >= 1.9, "worker killed after %.2f s, before TIMEOUT=2" % closed
    assert to_new < 5.0, "a new worker answered only %.2f s after the hang started" % to_new
    err = s.wait_log(lambda t: "in app_hangs_here" in t and "WORKER TIMEOUT (pid:%d)" % old in t)
    assert "WORKER TIMEOUT (pid:%d)" % old in err, err
    assert "in app_hangs_here" in err, "no traceback naming the app function:\n" + err
    assert err.count("WORKER TIMEOUT") == 1, err


def test_idle_worker_never_times_out(live):
    s = live(WORKERS="1", TIMEOUT="1")
    pid = int(get(s.port, "/pid").body)
    time.sleep(3)
    assert int(get(s.port, "/pid").body) == pid, "the idle worker was replaced"
    assert "WORKER TIMEOUT" not in s.err(), s.err()
    assert children(s.proc.pid) == [pid]


def test_idle_keep_alive_connection_does_not_count_as_stuck(live):
    s = live(WORKERS="1", TIMEOUT="1", KEEP_ALIVE="10")
    with wire.Conn(s.port, timeout=10) as c:
        first = c.request("GET", "/pid")
        assert first.status == 200
        time.sleep(2.5)                 # open, idle, longer than TIMEOUT
        again = c.request("GET", "/pid")
        assert again.status == 200, again
        assert again.body == first.body, "a different worker answered on the same connection"
    assert "WORKER TIMEOUT" not in s.err(), s.err()
    assert children(s.proc.pid) == [int(first.body)]


# ---------------------------------------------------------------- dead workers, import errors

def test_kill_9_worker_is_logged_and_replaced(live):
    s = live(WORKERS="2")
    workers = wait_children(s.proc.pid, 2)
    assert len(workers) == 2
    victim = workers[0]
    os.kill(victim, signal.SIGKILL)
    for i in range(10):
        assert get(s.port, "/?i=%d" % i).status == 200
    now = wait_children(s.proc.pid, 2, exclude=(victim,))
    assert len(now) == 2 and victim not in now, now
    err = s.wait_log(lambda t: "Worker (pid:%d) was sent Killed!" % victim in t)
    assert "Worker (pid:%d) was sent Killed! Perhaps out of memory?" % victim in err, err
    assert s.proc.poll() is None


def test_app_that_cannot_import_stops_the_master_with_the_traceback(live):
    s = live(wait=False, APP="broken_import", WORKERS="2")
    took = wait_exit(s.proc, 10)
    assert took is not None, "master still running 10 s after the app failed to import"
    rc, out, err = s.stop()
    assert rc == 3, "exit %s\n%s" % (rc, err)
    assert took < 5, "took %.1f s to give up" % took
    assert "Traceback (most recent call last)" in err
    assert "broken_import cannot be imported on purpose" in err
    assert err.count("Booting worker") <= 4, "kept respawning workers:\n" + err


def test_hup_with_an_app_that_no_longer_imports_keeps_the_workers(live, appdir):
    write_module(appdir, "versioned", VERSIONED % "v1")
    s = live(APP="versioned", CHDIR=appdir, WORKERS="2")
    before = wait_children(s.proc.pid, 2)
    assert len(before) == 2
    assert text_of(s.port)[0] == "v1"
    assert set(versioned_workers(s.port, 2)) == set(before), "not both workers have imported the app"
    write_module(appdir, "versioned", 'raise ImportError("reload broke on purpose")\n')
    s.proc.send_signal(signal.SIGHUP)
    err = s.wait_log(lambda t: "Reload failed" in t, timeout=10)
    assert "Reload failed" in err, "no 'Reload failed' within 10 s:\n" + err
    assert "reload broke on purpose" in err, "the import error is not shown:\n" + err
    for _ in range(10):
        assert text_of(s.port)[0] == "v1"
    time.sleep(0.3)
    assert s.proc.poll() is None, "master exited after a failed reload:\n" + s.err()
    assert children(s.proc.pid) == before, "running workers changed after a failed reload"


# ---------------------------------------------------------------- TERM / INT

def test_term_under_load_serves_every_accepted_connection(live):
    s = live(WORKERS="2", GRACEFUL_TIMEOUT="5")
    load = Load(s.port, "/sleep?s=0.02", threads=8, duration=15, limit=20000).start()
    try:
        time.sleep(2.0)
        t_term = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        took = wait_exit(s.proc, 10)
    finally:
        load.stop()
    before = [r for r in load.ok if r[0] < t_term]
    straddling = [r for r in load.ok if r[0] < t_term < r[1]]
    failed_before = [f for f in load.failed if f[0] < t_term]
    print("\nTERM under load: %d ok (%d in flight at TERM), %d failed (%d connected before TERM, "
          "%d after), %d refused; exit after %s s"
          % (len(load.ok), len(straddling), len(load.failed), len(failed_before),
             len(load.failed) - len(failed_before), len(load.refused), took and "%.2f" % took))
    if load.failed:
        print("failed, seconds after TERM:", sorted(round(f[0] - t_term, 3) for f in load.failed))
    assert len(before) > 50, "too little load before TERM to mean anything: %d" % len(before)
    assert not load.failed, "%d accepted connections failed (%d connected before TERM), e.g. %r" % (
        len(load.failed), len(failed_before), load.failed[:3])
    assert not [r for r in load.refused if r[0] < t_term], "refused before TERM: %r" % load.refused[:5]
    assert took is not None and took < 5 + 1, "master did not exit within GRACEFUL_TIMEOUT (%s)" % took
    assert s.proc.returncode == 0


def test_term_serves_requests_waiting_in_the_listen_backlog(live):
    """TERM while the only worker is in the app and 3 more requests wait, fully sent, in
    the listen backlog: all 4 get a 200 (gunicorn issue #3397)."""
    s = live(WORKERS="1", GRACEFUL_TIMEOUT="5")
    busy = wire.Conn(s.port, timeout=10)
    waiting = []
    try:
        busy.send(wire.build("GET", "/sleep?s=1"))
        time.sleep(0.3)                           # in the app now, accepting nothing
        for i in range(3):
            c = wire.Conn(s.port, timeout=10)
            waiting.append(c)
            c.send(wire.build("GET", "/pid?i=%d" % i, [("Connection", "close")]))
        time.sleep(0.1)
        s.proc.send_signal(signal.SIGTERM)
        first = busy.read_response(timeout=8)
        assert first.status == 200, first
        answers = []
        for c in waiting:
            try:
                answers.append(c.read_response(timeout=8).status)
            except (ConnectionError, TimeoutError) as e:
                answers.append(repr(e)[:80])
        assert answers == [200, 200, 200], "requests queued in the backlog at TERM: %r" % answers
    finally:
        busy.close()
        for c in waiting:
            c.close()
    assert wait_exit(s.proc, 8) is not None and s.proc.returncode == 0


def test_term_cuts_a_request_slower_than_graceful_timeout(live):
    s = live(WORKERS="1", GRACEFUL_TIMEOUT="1")
    with wire.Conn(s.port, timeout=15) as c:
        c.send(wire.build("GET", "/sleep?s=5"))
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        took = wait_exit(s.proc, 10)
        print("\nTERM with GRACEFUL_TIMEOUT=1 and a 5 s request: exit after %s s" % (took and "%.2f" % took))
        assert took is not None and took < 2.5, "master took %s s to exit" % took
        assert s.proc.returncode == 0
        with pytest.raises(ConnectionError):
            c.read_response(timeout=3)


def test_sigint_is_a_fast_stop_even_with_a_request_in_flight(live):
    s = live(WORKERS="2")
    with wire.Conn(s.port, timeout=15) as c:
        c.send(wire.build("GET", "/sleep?s=5"))
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGINT)
        took = wait_exit(s.proc, 10)
        assert took is not None and took < 2.5, "SIGINT: master took %s s to exit" % took
        assert s.proc.returncode == 0
        with pytest.raises(ConnectionError):
            c.read_response(timeout=3)


# ---------------------------------------------------------------- HUP

def test_hup_under_load_replaces_every_worker_and_picks_up_the_new_code(live, appdir):
    write_module(appdir, "versioned", VERSIONED % "v1")
    s = live(APP="versioned", CHDIR=appdir, WORKERS="2")
    before = wait_children(s.proc.pid, 2)
    assert len(before) == 2
    assert text_of(s.port)[0] == "v1"
    assert set(versioned_workers(s.port, 2)) == set(before), "not both workers have imported the app"
    load = Load(s.port, "/", threads=6, duration=12, limit=20000).start()
    try:
        time.sleep(0.7)
        write_module(appdir, "versioned", VERSIONED % "v2")
        t_hup = time.monotonic()
        s.proc.send_signal(signal.SIGHUP)
        after = wait_children(s.proc.pid, 2, timeout=8, exclude=before)
        time.sleep(0.5)               # keep the load on the new workers a little
    finally:
        load.stop()
    texts = collections.Counter(r[2].split()[0].decode() for r in load.ok)
    print("\nHUP under load: %d ok (%r), %d failed, %d refused"
          % (len(load.ok), dict(texts), len(load.failed), len(load.refused)))
    assert len([r for r in load.ok if r[0] > t_hup]) > 20, "too little load after HUP"
    assert not load.failed and not load.refused, "failed %r refused %r" % (load.failed[:5], load.refused[:5])
    assert len(after) == 2 and not set(after) & set(before), "workers before %r, after %r" % (before, after)
    assert texts["v2"] > 0, "no response from the new code during the load"
    for _ in range(5):
        text, pid = text_of(s.port)
        assert text == "v2" and pid in after, (text, pid, after)


def test_hup_with_preload_keeps_the_preloaded_code(live, appdir):
    write_module(appdir, "versioned", VERSIONED % "v1")
    s = live(APP="versioned", CHDIR=appdir, WORKERS="2", PRELOAD="true")
    before = wait_children(s.proc.pid, 2)
    assert len(before) == 2
    assert set(versioned_workers(s.port, 2)) == set(before)
    write_module(appdir, "versioned", VERSIONED % "v2")
    s.proc.send_signal(signal.SIGHUP)
    after = wait_children(s.proc.pid, 2, timeout=8, exclude=before)
    assert len(after) == 2 and not set(after) & set(before), "workers before %r, after %r" % (before, after)
    for _ in range(5):
        text, pid = text_of(s.port)
        assert text == "v1", "PRELOAD: HUP re-imported the app (%s)" % text
        assert pid in after


# ---------------------------------------------------------------- TTIN / TTOU, MAX_REQUESTS

def test_ttin_and_ttou_change_the_number_of_workers(live):
    s = live(WORKERS="2")
    assert len(wait_children(s.proc.pid, 2)) == 2
    for sig, n in [(signal.SIGTTIN, 3), (signal.SIGTTIN, 4), (signal.SIGTTOU, 3), (signal.SIGTTOU, 2)]:
        s.proc.send_signal(sig)
        got = wait_children(s.proc.pid, n, timeout=8)
        assert len(got) == n, "after %s expected %d workers, have %r" % (sig.name, n, got)
        assert get(s.port, "/").status == 200
    time.sleep(0.5)
    assert len(children(s.proc.pid)) == 2, "count did not stay at 2"


def test_max_requests_recycles_workers_without_failing_requests(live):
    s = live(WORKERS="2", MAX_REQUESTS="20", MAX_REQUESTS_JITTER="5")
    first = set(wait_children(s.proc.pid, 2))
    # each call takes >= 5 ms so that replacements have time to boot during the load
    load = Load(s.port, "/sleep?s=0.005", threads=4, duration=20, limit=300).start()
    load.join(timeout=25)
    per_pid = collections.Counter(int(r[2]) for r in load.ok)
    print("\nMAX_REQUESTS=20 (+0..5): %d ok, %d failed, %d refused; %d workers served: %s"
          % (len(load.ok), len(load.failed), len(load.refused), len(per_pid), sorted(per_pid.values())))
    assert len(load.ok) + len(load.failed) + len(load.refused) == 300
    assert not load.failed and not load.refused, "failed %r refused %r" % (load.failed[:5], load.refused[:5])
    assert len(per_pid) >= 4, "workers were not recycled: %r" % per_pid
    assert set(per_pid) - first, "no new worker served"
    # past its limit a worker only finishes what it has accepted: at most one
    # connection per client thread beyond MAX_REQUESTS + MAX_REQUESTS_JITTER
    assert max(per_pid.values()) <= 20 + 5 + 4, "a worker served far past its limit: %r" % per_pid
    limits = set(re.findall(r"reached MAX_REQUESTS \((\d+)\)", s.err()))
    print("per-worker limits logged:", sorted(limits))
    assert len(limits) > 1, "MAX_REQUESTS_JITTER=5 but every worker got the same limit %r" % limits
    assert len(wait_children(s.proc.pid, 2)) == 2


# ---------------------------------------------------------------- reaping

def test_app_subprocess_can_be_stopped_with_term(live):
    """A worker must not hand its blocked signals on: the app's subprocesses take TERM/INT/QUIT."""
    s = live(WORKERS="1")
    status = dict(l.split(":\t") for l in get(s.port, "/child-signals").body.decode().split("\n") if l)
    term_int_quit = (1 << 14) | (1 << 1) | (1 << 2)  # bits of signals 15, 2, 3
    assert int(status["SigBlk"], 16) & term_int_quit == 0, status
    assert int(status["SigIgn"], 16) & term_int_quit == 0, status


def test_app_forking_does_not_crash_the_worker(live):
    s = live(WORKERS="1")
    pid = int(get(s.port, "/pid").body)
    assert get(s.port, "/orphan?s=0.2").status == 200
    time.sleep(0.8)
    for _ in range(3):
        assert int(get(s.port, "/pid").body) == pid, \
            "the worker died after the app forked:\n" + s.err()[-1500:]
    assert "was sent" not in s.err(), s.err()


def test_orphaned_grandchild_is_reparented_to_the_master_and_reaped(live):
    s = live(WORKERS="1")
    master = s.proc.pid
    # a longer-lived grandchild first, to see who adopts it
    g = int(get(s.port, "/orphan?s=1.5").body)
    st = proc_table().get(g)
    assert st is not None, "grandchild %d already gone" % g
    assert st[1] == master, "grandchild %d re-parented to %d, not the master %d" % (g, st[1], master)
    shorts = [int(get(s.port, "/orphan").body) for _ in range(3)]   # 0.2 s each
    gone = wait_for(lambda: not {g, *shorts} & set(proc_table()) and not zombies(master), 4.0)
    assert gone, "left over: %r, zombies of the master: %r" % (
        {p: proc_table().get(p) for p in (g, *shorts)}, zombies(master))
    assert s.proc.poll() is None


# ---------------------------------------------------------------- PRELOAD

@pytest.mark.parametrize("preload", [True, False], ids=["preload", "no-preload"])
def test_who_imports_the_app(live, preload):
    s = live(WORKERS="2", PRELOAD="true" if preload else "false")
    workers = wait_children(s.proc.pid, 2)
    seen = {}

    def both_answered():  # a worker still importing accepts nothing: ask again
        for r in one_per_worker(s.port, ["/importer?s=0.5"] * 2):
            info = json.loads(r.body)
            seen[info["pid"]] = info["imported_by"]
        return len(seen) == 2
    wait_for(both_answered, 30)
    assert len(seen) == 2 and set(seen) <= set(workers), (seen, workers)
    for pid, importer in seen.items():
        if preload:
            assert importer == s.proc.pid, "PRELOAD: worker %d reports importer %d" % (pid, importer)
        else:
            assert importer == pid, "worker %d runs a module imported by %d" % (pid, importer)


def _flask_pss(live, preload):
    s = live(APP="flaskapp:app", WORKERS="4", PRELOAD="true" if preload else "false")
    workers = wait_children(s.proc.pid, 4)
    assert len(workers) == 4
    s.wait_log(lambda t: t.count("Booting worker") >= 4, timeout=10)
    for _ in range(40):                     # the Flask app answers (spread over the workers)
        assert get(s.port, "/").body == b"flask index"
    time.sleep(0.3)
    total = pss_kb(s.proc.pid) + sum(pss_kb(p) for p in workers)
    assert children(s.proc.pid) == workers, "workers changed while measuring"
    s.stop(signal.SIGTERM, timeout=10)
    return total


def test_preload_lowers_total_pss(live):
    with_preload = _flask_pss(live, True)
    without = _flask_pss(live, False)
    print("\nPSS master + 4 Flask workers: PRELOAD %d kB, no PRELOAD %d kB (saving %d kB, %.0f%%)"
          % (with_preload, without, without - with_preload, 100.0 * (without - with_preload) / without))
    assert with_preload < without
