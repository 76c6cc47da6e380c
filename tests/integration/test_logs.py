"""wsginit's logs: error log on stderr, access log on stdout (gunicorn formats), JSON mode, levels."""
import json
import os
import re
import socket
import threading
import time

import pytest

from conftest import readable_dir, run_binary
from wire import Conn, build, get

PROBE = {"APP": "probe:application"}

ERROR_LINE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4})\] \[(\d+)\] "
                        r"\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (.+)$")
# gunicorn: %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
ACCESS_LINE = re.compile(r'^(\S+) (\S+) (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
                         r'"([^"]*)" (\d{3}) (\S+) "([^"]*)" "([^"]*)"$')


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


def access_lines(s, n, timeout=5.0):
    text = s.wait_log(lambda t: len(lines(t)) >= n, stream="out", timeout=timeout)
    return lines(text)


# ---------------------------------------------------------------- error log


def test_error_log_line_format(live):
    s = live(**PROBE)
    assert get(s.port, "/echo").status == 200
    rc, out, err = s.stop()
    assert rc == 0
    ls = lines(err)
    assert ls, "nothing on stderr at all (expected at least start-up INFO lines)"
    pids = set()
    for l in ls:
        m = ERROR_LINE.match(l)
        assert m, "error log line not in gunicorn's format: %r" % l
        pids.add(int(m.group(2)))
        time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")
    assert any(ERROR_LINE.match(l).group(3) == "INFO" for l in ls)
    assert s.proc.pid in pids, "no line from the master (pid %d): %r" % (s.proc.pid, pids)


def test_error_log_traceback_at_error_level(live):
    s = live(**PROBE)
    assert get(s.port, "/raise").status == 500
    worker = int(get(s.port, "/pid").body)
    err = s.wait_log(lambda t: "probe boom before headers" in t)
    ls = err.splitlines()
    idx = [i for i, l in enumerate(ls) if "Traceback" in l]
    assert idx, err
    # the traceback follows an [ERROR] line from the worker
    heads = [ERROR_LINE.match(l) for l in ls[:idx[0] + 1] if ERROR_LINE.match(l)]
    assert heads and heads[-1].group(3) == "ERROR", err
    assert int(heads[-1].group(2)) == worker


@pytest.mark.parametrize("threads", ["1", "4"])
def test_traceback_when_the_app_has_a_module_named_like_one_traceback_needs(live, threads):
    """traceback is imported at the first error, as it was at start, before CHDIR led
    sys.path: an app directory with its own token.py (tokenize needs the stdlib's) still
    gets its tracebacks logged, for an app that fails to load too."""
    d = readable_dir("wsginit-shadow-")
    for name, text in {"token.py": "WHAT = 'the app token module, not the stdlib one'\n",
                       "app.py": "def application(environ, start_response):\n"
                                 "    raise ValueError('shadow boom')\n",
                       "broken.py": "raise ValueError('shadow load boom')\n"}.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(d, name), 0o644)
    s = live(APP="app:application", CHDIR=d, THREADS=threads)
    assert get(s.port, "/").status == 500
    err = s.wait_log(lambda t: "shadow boom" in t)
    assert "ValueError: shadow boom" in err, err
    assert "Traceback (most recent call last)" in err and "could not be formatted" not in err, err
    r = run_binary({"APP": "broken:application", "CHDIR": d}, ["--check"])
    assert r.returncode != 0 and "Traceback (most recent call last)" in r.stderr, r.stderr
    assert "shadow load boom" in r.stderr and "could not be formatted" not in r.stderr, r.stderr


# ---------------------------------------------------------------- access log


def test_access_log_default_format(live):
    s = live(**PROBE)
    with Conn(s.port) as c:
        r = c.request("GET", "/echo?x=1&y=%20", [("User-Agent", "probe-agent/1.0"),
                                                  ("Referer", "http://ref.example/a?b=c")])
        n1 = len(r.body)
        r2 = c.request("GET", "/status/404")
        n2 = len(r2.body)
        c.request("GET", "/nothing", [("User-Agent", "")])
    ls = access_lines(s, 3)
    assert len(ls) == 3, ls
    m = ACCESS_LINE.match(ls[0])
    assert m, "access line not in gunicorn's default format: %r" % ls[0]
    h, l_, u, t, r_, st, b, f, a = m.groups()
    assert (h, l_, u) == ("127.0.0.1", "-", "-")
    assert r_ == "GET /echo?x=1&y=%20 HTTP/1.1"
    assert st == "200" and b == str(n1)
    assert f == "http://ref.example/a?b=c" and a == "probe-agent/1.0"
    t_parsed = time.strptime(t[:20], "%d/%b/%Y:%H:%M:%S")
    assert abs(time.mktime(t_parsed) - time.mktime(time.gmtime())) < 3600 * 24
    m = ACCESS_LINE.match(ls[1])
    assert m and m.group(5) == "GET /status/404 HTTP/1.1" and m.group(6) == "404" and m.group(7) == str(n2)
    assert m.group(8) == "-"
    m = ACCESS_LINE.match(ls[2])
    assert m and m.group(8) == "-" and m.group(9) in ("-", "")


def test_access_log_exact_example(live):
    s = live(**PROBE)
    out = __import__("subprocess").run(["curl", "-sS", "--max-time", "10", "-A", "curl/7.88.1",
                                        s.url("/x?y=1")], capture_output=True, timeout=20)
    n = len(out.stdout)
    ls = access_lines(s, 1)
    pat = (r'^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /x\?y=1 HTTP/1\.1" 200 %d '
           r'"-" "curl/7\.88\.1"$' % n)
    assert re.match(pat, ls[0]), ls[0]


ATOMS = "h l u t r m U q H s B b f a T M D L p".split()


def test_access_log_format_atoms(live):
    fmt = "|".join("%%(%s)s" % a for a in ATOMS) + "|%({x-req}i)s|%({X-Resp}o)s|%({x-missing}i)s"
    s = live(**PROBE, ACCESS_LOG_FORMAT=fmt)
    worker = int(get(s.port, "/pid").body)
    with Conn(s.port) as c:
        r = c.request("GET", "/headers?X-Resp=out-value", [("X-Req", "in-value"), ("Referer", "ref"),
                                                           ("User-Agent", "ua/1")])
        n = len(r.body)
    ls = access_lines(s, 2)
    fields = ls[1].split("|")
    assert len(fields) == len(ATOMS) + 3, ls[1]
    v = dict(zip(ATOMS, fields))
    assert v["h"] == "127.0.0.1" and v["l"] == "-" and v["u"] == "-"
    assert re.match(r"^\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]$", v["t"]), v["t"]
    assert v["r"] == "GET /headers?X-Resp=out-value HTTP/1.1"
    assert v["m"] == "GET" and v["U"] == "/headers" and v["q"] == "X-Resp=out-value"
    assert v["H"] == "HTTP/1.1" and v["s"] == "200"
    assert v["B"] == str(n) and v["b"] == str(n)
    assert v["f"] == "ref" and v["a"] == "ua/1"
    assert v["T"].isdigit() and int(v["T"]) <= 1
    assert v["M"].isdigit() and int(v["M"]) < 2000
    assert v["D"].isdigit() and 0 < int(v["D"]) < 2000000
    assert re.match(r"^\d+\.\d+$", v["L"]) and float(v["L"]) < 2
    assert int(v["D"]) // 1000 <= int(v["M"]) + 1
    assert v["p"] in ("<%d>" % worker, str(worker)), v["p"]   # gunicorn writes "<pid>"
    assert fields[-3] == "in-value"
    assert fields[-2] == "out-value"
    assert fields[-1] == "-"


def test_access_log_basic_auth_user(live):
    s = live(**PROBE, ACCESS_LOG_FORMAT="%(u)s %(s)s")
    # "user:pass"
    get(s.port, "/echo", [("Authorization", "Basic dXNlcjpwYXNz")])
    ls = access_lines(s, 1)
    assert ls[0] == "user 200", ls


def test_access_log_off(live):
    s = live(**PROBE, ACCESS_LOG="false")
    for i in range(3):
        assert get(s.port, "/echo?i=%d" % i).status == 200
    rc, out, err = s.stop()
    assert rc == 0
    assert "/echo" not in out and out.strip() == "", out


def test_access_lines_never_interleave(live):
    s = live(**PROBE, WORKERS="3")
    ua = "agent-" + "u" * 3000   # long lines make interleaving visible
    errors = []

    def many(k):
        try:
            for i in range(20):
                with Conn(s.port) as c:
                    c.request("GET", "/echo?k=%d&i=%d" % (k, i), [("User-Agent", ua), ("Connection", "close")])
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=many, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    ls = access_lines(s, 120, timeout=10)
    assert len(ls) == 120, len(ls)
    for l in ls:
        assert ACCESS_LINE.match(l), l[:300]


# ---------------------------------------------------------------- JSON


def test_json_logs(live):
    s = live(**PROBE, LOG_FORMAT="json")
    with Conn(s.port) as c:
        c.request("GET", "/echo?x=1", [("User-Agent", "ua-json"), ("Referer", "r-json")])
    assert get(s.port, "/raise").status == 500
    s.wait_log(lambda t: "probe boom before headers" in t)
    rc, out, err = s.stop()
    assert rc == 0
    acc = [json.loads(l) for l in lines(out)]
    keys = {"time", "remote_addr", "method", "path", "query", "protocol", "status", "bytes",
            "duration_us", "referer", "user_agent", "pid"}
    assert acc
    for a in acc:
        assert keys <= set(a), "missing access keys: %s" % (keys - set(a))
    a = acc[0]
    assert a["remote_addr"] == "127.0.0.1" and a["method"] == "GET" and a["path"] == "/echo"
    assert a["query"] == "x=1" and a["protocol"] == "HTTP/1.1" and str(a["status"]) == "200"
    assert a["referer"] == "r-json" and a["user_agent"] == "ua-json"
    assert int(a["bytes"]) > 0 and int(a["duration_us"]) > 0
    assert str(acc[-1]["status"]) == "500"
    errs = []
    for l in lines(err):
        try:
            errs.append(json.loads(l))
        except ValueError:
            pytest.fail("error log line is not JSON: %r" % l)
    for e in errs:
        assert {"time", "level", "pid", "message"} <= set(e), e
    tb = [e for e in errs if "probe boom before headers" in e["message"]]
    assert tb and "Traceback" in tb[0]["message"], "traceback must be inside one JSON object"
    assert str(tb[0]["level"]).lower() == "error"


# ---------------------------------------------------------------- levels


def levels_in(err):
    return {m.group(3) for m in map(ERROR_LINE.match, err.splitlines()) if m}


def test_log_level_default_info(live):
    s = live(**PROBE)
    get(s.port, "/echo")
    rc, out, err = s.stop()
    lv = levels_in(err)
    assert "INFO" in lv and "DEBUG" not in lv


def test_log_level_warning_hides_info(live):
    s = live(**PROBE, LOG_LEVEL="warning")
    get(s.port, "/echo")
    get(s.port, "/raise")
    s.wait_log(lambda t: "probe boom before headers" in t)
    rc, out, err = s.stop()
    lv = levels_in(err)
    assert "INFO" not in lv and "DEBUG" not in lv, err
    assert "ERROR" in lv and "probe boom before headers" in err


def test_log_level_error_keeps_errors(live):
    s = live(**PROBE, LOG_LEVEL="ERROR")
    get(s.port, "/raise")
    err = s.wait_log(lambda t: "probe boom before headers" in t)
    assert "probe boom before headers" in err
    assert "[INFO]" not in err and "[WARNING]" not in err


def test_log_level_debug_shows_client_disconnect(live):
    s = live(**PROBE, LOG_LEVEL="debug")
    with Conn(s.port) as c:
        c.send(build("GET", "/stream?n=20000&size=65536"))
        c.sock.recv(1024)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert get(s.port, "/echo").status == 200
    err = s.wait_log(lambda t: "[DEBUG]" in t)
    assert "[DEBUG]" in err
    assert "INFO" in levels_in(err)
