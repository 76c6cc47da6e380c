"""CLI and configuration: --version, --help, --print-config, --check, and every kind of
bad value stopping the start with exit 2 and one stderr line, before anything is bound."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import APPS, BINARY, PYTHON, ROOT, children, free_port, run_binary, stop_process, wait_port

# Every variable of DESIGN.md's configuration table, in its order.
VARIABLES = [
    "APP", "HOST", "PORT", "BIND", "WORKERS", "WEB_CONCURRENCY", "MAX_WORKERS", "THREADS",
    "TIMEOUT", "GRACEFUL_TIMEOUT", "KEEP_ALIVE", "MAX_REQUESTS", "MAX_REQUESTS_JITTER",
    "PRELOAD", "RUN_AS", "CHDIR", "ROOT_PATH", "LOG_LEVEL", "LOG_FORMAT", "ACCESS_LOG",
    "ACCESS_LOG_FORMAT", "FORWARDED_ALLOW_IPS", "LIMIT_REQUEST_LINE", "LIMIT_REQUEST_FIELDS",
    "LIMIT_REQUEST_FIELD_SIZE", "MAX_BODY_SIZE", "HEALTH_PATH", "ADMIN_BIND", "SHUTDOWN_DELAY",
    "SECCOMP", "RESPONSE_BUFFER", "STATIC_MAP", "STATIC_MAX_AGE", "MAX_RSS", "RELOAD", "REQUEST_ID",
]

GOOD_APP = {"APP": "flaskapp:app"}


# ---------------------------------------------------------------- helpers

def print_config(env):
    """Runs --print-config; returns {NAME: (value, comment)}."""
    r = run_binary(env, ["--print-config"])
    assert r.returncode == 0, "--print-config exited %s: %s" % (r.returncode, r.stderr)
    conf = {}
    for line in r.stdout.splitlines():
        if not line.strip() or line.startswith("# wsginit "):  # the version line
            continue
        m = re.match(r"^([A-Z_]+)=(.*)$", line)
        assert m, "not a NAME=value line: %r" % line
        # A derived or unset value carries a comment after two spaces and "#".
        value, _, comment = m.group(2).partition("  #")
        assert m.group(1) not in conf, "%s printed twice" % m.group(1)
        conf[m.group(1)] = (value.strip(), comment.strip())
    return conf


def as_bool(s):
    s = s.lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise AssertionError("not a boolean: %r" % s)


def as_size(s):
    m = re.fullmatch(r"(\d+)([kmgKMG]?)", s)
    assert m, "not a size: %r" % s
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def as_seconds(s):
    return float(s)


def parse_workers_comment(comment):
    m = re.search(r"cpus=(\d+)", comment)
    assert m, "WORKERS comment does not give cpus=N: %r" % comment
    return int(m.group(1))


@pytest.fixture
def appdir():
    """A directory for throwaway app modules, readable by an unprivileged RUN_AS user."""
    d = tempfile.mkdtemp(prefix="wsginit-cfg-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_app(d, name, text):
    path = os.path.join(d, name + ".py")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


# ---------------------------------------------------------------- --version / --help

def test_version_names_the_embedded_python():
    r = run_binary({}, ["--version"])
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"wsginit \d+\.\d+\.\d+ with Python (\S+) \((.+), (static|shared) libpython\)\n", r.stdout)
    assert m, r.stdout
    version, path, _ = m.groups()
    assert path == PYTHON
    embedded = run_binary({}, ["--python", "-c", "import sys, platform; print(sys.executable, platform.python_version())"])
    assert embedded.stdout.split() == [path, version], (embedded.stdout, embedded.stderr)
    assert version == subprocess.run([PYTHON, "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True, check=True).stdout.strip()
    first = run_binary(GOOD_APP, ["--print-config"]).stdout.splitlines()[0]
    assert first == "# " + r.stdout.strip()


def test_help_lists_every_variable():
    r = run_binary({}, ["--help"])
    assert r.returncode == 0, r.stderr
    text = r.stdout
    missing = [v for v in VARIABLES if not re.search(r"(?<![A-Z_])%s(?![A-Z_])" % v, text)]
    assert not missing, "--help does not list %s:\n%s" % (missing, text)
    for flag in ("--print-config", "--check", "--version"):
        assert flag in text, "--help does not mention %s" % flag


def test_unknown_option_is_an_error():
    r = run_binary(GOOD_APP, ["--no-such-option"])
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "--no-such-option" in r.stderr or "usage" in r.stderr.lower(), r.stderr


# ---------------------------------------------------------------- --print-config

def test_print_config_defaults():
    conf = print_config(GOOD_APP)
    assert set(VARIABLES) <= set(conf), "missing from --print-config: %s" % (set(VARIABLES) - set(conf))
    val = {k: v for k, (v, _) in conf.items()}
    assert val["APP"] == "flaskapp:app"
    assert val["HOST"] == "0.0.0.0"
    assert val["PORT"] == "8080"
    assert val["BIND"] == "0.0.0.0:8080"
    assert val["THREADS"] == "1"
    assert as_seconds(val["TIMEOUT"]) == 30
    assert as_seconds(val["GRACEFUL_TIMEOUT"]) == 30
    assert as_seconds(val["KEEP_ALIVE"]) == 5
    assert val["MAX_REQUESTS"] == "0"
    assert val["MAX_REQUESTS_JITTER"] == "0"
    assert as_bool(val["PRELOAD"]) is False
    assert val["CHDIR"] == APPS  # run_binary sets CHDIR
    assert val["ROOT_PATH"] == ""
    assert val["LOG_LEVEL"] == "info"
    assert val["LOG_FORMAT"] == "text"
    assert as_bool(val["ACCESS_LOG"]) is True
    assert val["ACCESS_LOG_FORMAT"] == '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    assert val["FORWARDED_ALLOW_IPS"].replace(" ", "") == "127.0.0.1,::1"
    assert val["LIMIT_REQUEST_LINE"] == "4094"
    assert val["LIMIT_REQUEST_FIELDS"] == "100"
    assert val["LIMIT_REQUEST_FIELD_SIZE"] == "8190"
    assert as_size(val["MAX_BODY_SIZE"]) == 100 * 1024 * 1024
    assert val["HEALTH_PATH"] == ""
    assert val["ADMIN_BIND"] == ""
    assert as_seconds(val["SHUTDOWN_DELAY"]) == 0
    assert val["SECCOMP"] == "default"
    assert val["WEB_CONCURRENCY"] == "" and val["MAX_WORKERS"] == ""
    if os.geteuid() == 0:
        assert val["RUN_AS"] == "65532:65532"
    else:
        assert val["RUN_AS"] == ""


def test_print_config_default_workers_is_2_cpus_plus_1():
    value, comment = print_config(GOOD_APP)["WORKERS"]
    cpus = parse_workers_comment(comment)
    assert int(value) == 2 * cpus + 1, (value, comment)
    assert "2*%d+1" % cpus in comment, comment
    # Without a cgroup quota the count is the affinity mask's, and the comment says so.
    if "affinity" in comment:
        assert cpus == len(os.sched_getaffinity(0)), comment
    else:
        assert "cgroup" in comment, comment


def test_print_config_echoes_given_values():
    env = dict(GOOD_APP, THREADS="4", TIMEOUT="2.5", KEEP_ALIVE="0", PRELOAD="Yes",
               LOG_LEVEL="debug", LOG_FORMAT="json", ACCESS_LOG="off", MAX_BODY_SIZE="10k",
               ROOT_PATH="/api", HEALTH_PATH="/healthz", ADMIN_BIND="127.0.0.1:9100",
               SECCOMP="off", RUN_AS="0:0", LIMIT_REQUEST_LINE="8190",
               FORWARDED_ALLOW_IPS="10.0.0.0/8,*", SHUTDOWN_DELAY="0.25",
               MAX_REQUESTS="1000", MAX_REQUESTS_JITTER="50", GRACEFUL_TIMEOUT="0")
    val = {k: v for k, (v, _) in print_config(env).items()}
    assert val["THREADS"] == "4"
    assert as_seconds(val["TIMEOUT"]) == 2.5
    assert as_seconds(val["KEEP_ALIVE"]) == 0
    assert as_bool(val["PRELOAD"]) is True
    assert val["LOG_LEVEL"] == "debug"
    assert val["LOG_FORMAT"] == "json"
    assert as_bool(val["ACCESS_LOG"]) is False
    assert as_size(val["MAX_BODY_SIZE"]) == 10240
    assert val["ROOT_PATH"] == "/api"
    assert val["HEALTH_PATH"] == "/healthz"
    assert val["ADMIN_BIND"] == "127.0.0.1:9100"
    assert val["SECCOMP"] == "off"
    assert val["RUN_AS"] == "0:0"
    assert val["LIMIT_REQUEST_LINE"] == "8190"
    assert val["FORWARDED_ALLOW_IPS"].replace(" ", "") == "10.0.0.0/8,*"
    assert as_seconds(val["SHUTDOWN_DELAY"]) == 0.25
    assert (val["MAX_REQUESTS"], val["MAX_REQUESTS_JITTER"]) == ("1000", "50")
    assert as_seconds(val["GRACEFUL_TIMEOUT"]) == 0


def test_host_and_port_make_the_bind():
    val = print_config(dict(GOOD_APP, HOST="127.0.0.1", PORT="9999"))
    assert val["BIND"][0] == "127.0.0.1:9999"
    val = print_config(dict(GOOD_APP, HOST="::1", PORT="81"))
    assert val["BIND"][0] == "[::1]:81"
    # BIND overrides HOST/PORT.
    val = print_config(dict(GOOD_APP, HOST="127.0.0.1", PORT="9999",
                            BIND="127.0.0.2:1234,[::1]:1235,unix:/tmp/wsginit-x.sock"))
    assert val["BIND"][0] == "127.0.0.2:1234,[::1]:1235,unix:/tmp/wsginit-x.sock"


def test_run_as_names_are_accepted():
    # Printed resolved to ids, or as given; either way the names exist and are accepted.
    val = print_config(dict(GOOD_APP, RUN_AS="nobody"))
    assert val["RUN_AS"][0] in ("65534:65534", "nobody"), val["RUN_AS"]
    val = print_config(dict(GOOD_APP, RUN_AS="nobody:root"))
    assert val["RUN_AS"][0] in ("65534:0", "nobody:root"), val["RUN_AS"]


@pytest.mark.parametrize("text,expect", [("1", True), ("0", False), ("TRUE", True), ("false", False),
                                         ("yes", True), ("No", False), ("on", True), ("OFF", False)])
def test_booleans(text, expect):
    assert as_bool(print_config(dict(GOOD_APP, PRELOAD=text))["PRELOAD"][0]) is expect


@pytest.mark.parametrize("text,expect", [("0", 0), ("123", 123), ("1k", 1024), ("2M", 2 << 20),
                                         ("1g", 1 << 30)])
def test_sizes(text, expect):
    assert as_size(print_config(dict(GOOD_APP, MAX_BODY_SIZE=text))["MAX_BODY_SIZE"][0]) == expect


# ---------------------------------------------------------------- WORKERS / WEB_CONCURRENCY / MAX_WORKERS

def test_workers_explicit():
    value, comment = print_config(dict(GOOD_APP, WORKERS="7"))["WORKERS"]
    assert value == "7"
    assert "WORKERS" in comment


def test_web_concurrency_is_an_alias():
    value, comment = print_config(dict(GOOD_APP, WEB_CONCURRENCY="6"))["WORKERS"]
    assert value == "6"
    assert "WEB_CONCURRENCY" in comment
    # WORKERS wins when both are given.
    value, comment = print_config(dict(GOOD_APP, WEB_CONCURRENCY="6", WORKERS="3"))["WORKERS"]
    assert value == "3"


def test_max_workers_caps_the_default():
    value, comment = print_config(GOOD_APP)["WORKERS"]
    default = int(value)
    assert default >= 3
    value, comment = print_config(dict(GOOD_APP, MAX_WORKERS="2"))["WORKERS"]
    assert value == "2"
    assert "MAX_WORKERS" in comment
    value, comment = print_config(dict(GOOD_APP, MAX_WORKERS="1000"))["WORKERS"]
    assert int(value) == default
    assert "MAX_WORKERS" not in comment


def test_max_workers_does_not_cap_an_explicit_count():
    assert print_config(dict(GOOD_APP, MAX_WORKERS="2", WORKERS="8"))["WORKERS"][0] == "8"
    assert print_config(dict(GOOD_APP, MAX_WORKERS="2", WEB_CONCURRENCY="9"))["WORKERS"][0] == "9"


def test_web_concurrency_forks_that_many_workers():
    """WEB_CONCURRENCY alone (no WORKERS) decides how many workers the master forks."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "APP": "flaskapp:app", "CHDIR": APPS,
           "BIND": "127.0.0.1:%d" % port, "WEB_CONCURRENCY": "3"}
    proc = subprocess.Popen([BINARY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_port(port, proc)
        deadline = time.monotonic() + 10
        kids = []
        while time.monotonic() < deadline:
            kids = children(proc.pid)
            if len(kids) == 3:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        kids = children(proc.pid)
        assert len(kids) == 3, "master has %d children, want 3 (WEB_CONCURRENCY=3)" % len(kids)
    finally:
        stop_process(proc)
    assert proc.returncode == 0


# ---------------------------------------------------------------- --check

def test_check_good_app():
    r = run_binary(GOOD_APP, ["--check"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr


def test_check_hello_example():
    r = run_binary({"APP": "hello:app", "CHDIR": os.path.join(ROOT, "examples")}, ["--check"])
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_check_module_form_uses_application(appdir):
    write_app(appdir, "plainmod", "def application(environ, start_response):\n"
                                  "    start_response('200 OK', [])\n    return [b'']\n")
    r = run_binary({"APP": "plainmod", "CHDIR": appdir}, ["--check"])
    assert r.returncode == 0, r.stderr


def test_check_factory_with_literal_args(appdir):
    write_app(appdir, "factorymod", "def make(greeting, n=1):\n"
                                    "    assert greeting == 'hi' and n == 2, (greeting, n)\n"
                                    "    def app(environ, start_response):\n"
                                    "        start_response('200 OK', [])\n        return [b'']\n"
                                    "    return app\n")
    r = run_binary({"APP": "factorymod:make('hi', n=2)", "CHDIR": appdir}, ["--check"])
    assert r.returncode == 0, r.stderr
    r = run_binary({"APP": "factorymod:make('nope', n=2)", "CHDIR": appdir}, ["--check"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "AssertionError" in r.stderr


def test_check_broken_app_prints_traceback(appdir):
    write_app(appdir, "brokenmod", "x = 1\n\ndef helper():\n    return 1 / 0\n\nhelper()\n")
    r = run_binary({"APP": "brokenmod:app", "CHDIR": appdir}, ["--check"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback (most recent call last)" in r.stderr
    assert "brokenmod.py" in r.stderr
    assert "ZeroDivisionError" in r.stderr


def test_check_missing_module_and_missing_attribute(appdir):
    r = run_binary({"APP": "no_such_module_xyz:app"}, ["--check"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "no_such_module_xyz" in r.stderr and "ModuleNotFoundError" in r.stderr
    write_app(appdir, "noattr", "other = 1\n")
    r = run_binary({"APP": "noattr:app", "CHDIR": appdir}, ["--check"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "noattr" in r.stderr and "app" in r.stderr, r.stderr


def test_check_app_that_is_not_callable(appdir):
    write_app(appdir, "notcallable", "app = 42\n")
    r = run_binary({"APP": "notcallable:app", "CHDIR": appdir}, ["--check"])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.strip(), "no explanation on stderr"


def test_check_honours_pythonpath(appdir):
    write_app(appdir, "onpythonpath", "def app(e, s):\n    s('200 OK', [])\n    return [b'']\n")
    r = run_binary({"APP": "onpythonpath:app", "PYTHONPATH": appdir}, ["--check"])
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- bad values: exit 2, one line, nothing bound

BAD_VALUES = [
    ("PORT", "99999", "65535"),
    ("PORT", "abc", None),
    ("PORT", "0", None),
    ("WORKERS", "0", None),
    ("WORKERS", "two", None),
    ("WEB_CONCURRENCY", "-3", None),
    ("MAX_WORKERS", "0", None),
    ("THREADS", "0", None),
    ("TIMEOUT", "-1", None),
    ("GRACEFUL_TIMEOUT", "soon", None),
    ("KEEP_ALIVE", "x", None),
    ("SHUTDOWN_DELAY", "1s", None),
    ("MAX_REQUESTS", "-5", None),
    ("MAX_RSS", "1.5g", None),
    ("RELOAD", "maybe", "true"),
    ("PRELOAD", "maybe", "true"),
    ("ACCESS_LOG", "2", "true"),
    ("LOG_LEVEL", "loud", "debug"),
    ("LOG_FORMAT", "xml", "json"),
    ("MAX_BODY_SIZE", "10q", None),
    ("MAX_BODY_SIZE", "-1", None),
    ("LIMIT_REQUEST_LINE", "lots", None),
    ("BIND", "nonsense", None),
    ("BIND", "127.0.0.1:70000", None),
    ("BIND", "unix:relative.sock", None),
    ("FORWARDED_ALLOW_IPS", "1.2.3.4/99", None),
    ("FORWARDED_ALLOW_IPS", "not-an-ip", None),
    ("SECCOMP", "weird", "strict"),
    ("RUN_AS", "nosuchuser", None),
    ("RUN_AS", "root:nosuchgroup", None),
    ("CHDIR", "/no/such/dir", None),
    ("APP", "mod:", None),
    ("ROOT_PATH", "noslash", None),
    ("HEALTH_PATH", "noslash", None),
    ("ADMIN_BIND", "bad", None),
]


def assert_config_error(r, name, value=None):
    assert r.returncode == 2, "exit %s (want 2) for %s=%r; stderr: %s" % (r.returncode, name, value, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, "want ONE stderr line for %s=%r, got:\n%s" % (name, value, r.stderr)
    line = lines[0]
    assert re.search(r"(?<![A-Z_])%s(?![A-Z_])" % name, line), "line does not name %s: %r" % (name, line)
    if value:
        assert value in line, "line does not show the value %r: %r" % (value, line)
    return line


def assert_nothing_bound(port, sock_path):
    assert not os.path.exists(sock_path), "a unix socket was bound at %s" % sock_path
    with socket.socket() as s:  # the TCP port is free: no listener left behind
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize("name,value,accepted", BAD_VALUES, ids=["%s=%s" % (n, v) for n, v, _ in BAD_VALUES])
def test_bad_value_exits_2_with_one_line_before_binding(name, value, accepted, tmp_path):
    port = free_port()
    sock_path = str(tmp_path / "s.sock")
    env = dict(GOOD_APP, BIND="127.0.0.1:%d,unix:%s" % (port, sock_path))
    env[name] = value
    r = run_binary(env, timeout=15)
    line = assert_config_error(r, name, value)
    if accepted:
        assert accepted in line, "line does not say what is accepted (%s): %r" % (accepted, line)
    assert r.stdout == ""
    assert_nothing_bound(port, sock_path)


@pytest.mark.parametrize("name", ["PORT", "WORKERS", "APP", "LOG_LEVEL", "BIND", "PRELOAD", "HEALTH_PATH",
                                  "ADMIN_BIND", "RUN_AS", "SECCOMP", "CHDIR", "MAX_BODY_SIZE"])
def test_set_but_empty_is_an_error(name, tmp_path):
    port = free_port()
    sock_path = str(tmp_path / "s.sock")
    env = dict(GOOD_APP, BIND="127.0.0.1:%d,unix:%s" % (port, sock_path))
    env[name] = ""
    r = run_binary(env, timeout=15)
    assert_config_error(r, name)
    assert_nothing_bound(port, sock_path)


def test_app_unset_is_an_error(tmp_path):
    port = free_port()
    sock_path = str(tmp_path / "s.sock")
    r = run_binary({"BIND": "127.0.0.1:%d,unix:%s" % (port, sock_path)}, timeout=15)
    assert_config_error(r, "APP")
    assert_nothing_bound(port, sock_path)


def test_bad_host_exits_2_before_binding():
    port = free_port()
    r = run_binary(dict(GOOD_APP, HOST="no such host!", PORT=str(port)), timeout=15)
    assert_config_error(r, "HOST", "no such host!")
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))


def test_bad_value_is_reported_by_check_and_print_config_too():
    for args in (["--check"], ["--print-config"]):
        r = run_binary(dict(GOOD_APP, PORT="99999"), args)
        assert_config_error(r, "PORT", "99999")


def test_bad_value_does_not_bind_a_port_held_open_meanwhile():
    """The config error comes first even when the address is taken: binding comes after validation."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        r = run_binary(dict(GOOD_APP, BIND="127.0.0.1:%d" % port, LOG_LEVEL="loud"), timeout=15)
        assert_config_error(r, "LOG_LEVEL", "loud")


def test_busy_port_is_a_runtime_failure_not_a_config_error():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        r = run_binary(dict(GOOD_APP, BIND="127.0.0.1:%d" % port, WORKERS="1"), timeout=15)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert str(port) in r.stderr
