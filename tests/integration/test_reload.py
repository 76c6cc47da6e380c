"""RELOAD (issue 14): the master watches CHDIR's tree with inotify and, once a
`*.py` file has changed and the tree has been quiet for 0.2 s, rolls the workers
over as HUP does: under load without a failed request; a change that does not
import keeps the old workers and logs the traceback; a later fix reloads;
PRELOAD with RELOAD is refused at start. Which files count, and the directories
made after the start, are unit-tested (tests/unit/test_reload.c).

Every server runs through wire.Live; every wait is for a condition and bounded;
all traffic is on 127.0.0.1.
"""
import collections
import os
import re
import shutil
import socket

import pytest

import wire
from conftest import children, free_port, readable_dir, run_binary, wait_for
from test_lifecycle import Load, text_of, write_module


@pytest.fixture
def appdir():
    d = readable_dir("wsginit-reload-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def live():
    """live(**env) -> wire.Live serving the module `versioned` of CHDIR with RELOAD=true."""
    started = []

    def start(**env):
        s = wire.Live(dict({"APP": "versioned", "RELOAD": "true", "WORKERS": "2", "GRACEFUL_TIMEOUT": "5"},
                           **env))
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def answers(port, text, timeout=15):
    """True once the app answers with text (bounded)."""
    return wait_for(lambda: text_of(port)[0] == text, timeout)


APP_SOURCE = '''\
import os
import sys
import time
from urllib.parse import parse_qsl
TEXT = %r
print("imported %%s in %%d" %% (TEXT, os.getpid()), file=sys.stderr, flush=True)


def application(environ, start_response):
    time.sleep(float(dict(parse_qsl(environ.get("QUERY_STRING", ""))).get("s", "0")))
    body = ("%%s %%d" %% (TEXT, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def imported(s, text, n=2, timeout=15):
    """The n workers running, once each has imported the app with TEXT = text."""
    def pids():
        alive = set(children(s.proc.pid))
        got = {int(p) for p in re.findall(r"imported %s in (\d+)" % re.escape(text), s.err())}
        return alive if len(alive) == n and alive <= got else None
    return wait_for(pids, timeout)


def rollovers(s):
    return s.err().count(": starting new workers that import the app anew")


def test_an_edit_under_load_is_served_by_new_workers_without_a_failed_request(live, appdir):
    write_module(appdir, "versioned", APP_SOURCE % "v1")
    s = live(CHDIR=appdir)
    watching = "RELOAD: watching 1 directories under %s" % os.path.realpath(appdir)
    assert watching in s.wait_log(lambda t: watching in t), s.err()
    old = imported(s, "v1")
    assert old, s.err()
    load = Load(s.port, "/", threads=6, duration=30, limit=20000).start()
    try:
        assert wait_for(lambda: len(load.ok) > 50, 10), "no load"
        write_module(appdir, "versioned", APP_SOURCE % "v2")
        new_code = wait_for(lambda: any(r[2].startswith(b"v2 ") for r in list(load.ok)), 15)
        new = imported(s, "v2")
        assert new and not new & old, (new, old, s.err())
        n = len(load.ok)
        assert wait_for(lambda: len(load.ok) > n + 50, 10), "no load after the reload"
    finally:
        load.stop()
    texts = collections.Counter(r[2].split()[0].decode() for r in load.ok)
    print("\nRELOAD, an edit under load: %d ok (%r), %d failed, %d refused"
          % (len(load.ok), dict(texts), len(load.failed), len(load.refused)))
    assert new_code, "the new code never answered:\n" + s.err()
    assert not load.failed and not load.refused, "failed %r refused %r" % (load.failed[:5], load.refused[:5])
    assert all(text_of(s.port)[0] == "v2" for _ in range(5))
    assert "RELOAD: %s/versioned.py changed: starting new workers" % os.path.realpath(appdir) in s.err(), s.err()
    assert rollovers(s) == 1, "one edit (write, chmod, utime) made %d rollovers:\n%s" % (rollovers(s), s.err())


def test_an_edit_that_does_not_import_keeps_the_old_workers_and_a_fix_reloads(live, appdir):
    write_module(appdir, "versioned", APP_SOURCE % "v1")
    s = live(CHDIR=appdir)
    old = imported(s, "v1")
    assert old, s.err()
    load = Load(s.port, "/", threads=4, duration=60, limit=50000).start()
    try:
        write_module(appdir, "versioned", "def application(environ, start_response:\n    pass\n")
        err = s.wait_log(lambda t: "Reload failed" in t and "SyntaxError" in t, timeout=15)
        assert "Reload failed" in err and "SyntaxError" in err, err
        assert "Traceback (most recent call last)" in err, err
        # the new workers are gone, the old ones serve the old code
        assert wait_for(lambda: set(children(s.proc.pid)) == old, 10), (children(s.proc.pid), old)
        for _ in range(5):
            text, pid = text_of(s.port)
            assert text == "v1" and pid in old, (text, pid, old)
        write_module(appdir, "versioned", APP_SOURCE % "v3")
        new = imported(s, "v3")
        assert new and not new & old, (new, old, s.err())
        assert answers(s.port, "v3"), s.err()
    finally:
        load.stop()
    texts = collections.Counter(r[2].split()[0].decode() for r in load.ok)
    print("\nRELOAD, a syntax error then a fix, under load: %d ok (%r), %d failed, %d refused"
          % (len(load.ok), dict(texts), len(load.failed), len(load.refused)))
    assert not load.failed and not load.refused, "failed %r refused %r" % (load.failed[:5], load.refused[:5])
    assert set(texts) == {"v1", "v3"}, texts
    assert s.proc.poll() is None


PKG_APP = '''\
import os
from pkg.text import TEXT


def application(environ, start_response):
    body = ("%s %d" % (TEXT, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def test_a_package_made_after_the_start_is_watched(live, appdir):
    write_module(appdir, "versioned", APP_SOURCE % "v1")
    s = live(CHDIR=appdir)
    assert imported(s, "v1"), s.err()
    pkg = os.path.join(appdir, "pkg")
    os.mkdir(pkg)
    os.chmod(pkg, 0o755)
    write_module(pkg, "__init__", "")
    write_module(pkg, "text", "TEXT = 'p1'\n")
    write_module(appdir, "versioned", PKG_APP)
    assert answers(s.port, "p1"), s.err()
    write_module(pkg, "text", "TEXT = 'p2'\n")       # only the new package changes
    assert answers(s.port, "p2"), s.err()
    assert "RELOAD: %s/text.py changed" % os.path.realpath(pkg) in s.err(), s.err()


def test_reload_with_preload_is_refused_at_start():
    """Refused before anything is bound: the port is held by the test meanwhile, so a
    bind first would end in its own error line instead."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        r = run_binary({"APP": "lifecycle:application", "BIND": "127.0.0.1:%d" % held.getsockname()[1],
                        "PRELOAD": "true", "RELOAD": "on"}, timeout=15)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "RELOAD" in lines[0] and "PRELOAD" in lines[0], r.stderr
