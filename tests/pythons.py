"""The tests against other CPythons than Debian's 3.11.

    tests/pythons.py stage PY   the interpreter `make test PY=...` builds against and tests
    tests/pythons.py run        `make test-pythons`: the table

A worker runs as 65532, which cannot read root's home, where pyenv keeps its builds
(the worker would exit 3), and a Python other than Debian's has no Flask or Django.
So the tests run any Python but Debian's from a copy of its install in
/opt/wsginit-tests/pythons/VERSION: readable by everyone, without its test package and its
site-packages (only the stdlib, as in the image), with Debian's Flask and Django
(pure Python) copied beside it, compiled by it, and put on its path by a .pth file.
Debian's Django 3.2 does not import on 3.13 (no cgi module): conftest skips those
tests there.

`run` tests Debian's python3 and every CPython 3.10-3.13 under $(pyenv root)/versions,
each built with `make build PY=...` in its own copy of the work tree
(build/test-pythons/LABEL, so the work tree's own build/ is left alone), on the
HTTP, WSGI, framework and container (rootfs as PID 1) tests, and prints a table.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Not under the tree, which may be under /tmp: the container tests mount a tmpfs there.
COPIES = "/opt/wsginit-tests/pythons"
TREES = os.path.join(ROOT, "build", "test-pythons")
DIST_PACKAGES = "/usr/lib/python3/dist-packages"
# Flask and Django as Debian packages them (python3-flask, python3-django), with what they import.
FRAMEWORKS = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click",
              "django", "asgiref", "sqlparse", "pytz")
MODULES = ["tests/integration/test_http.py", "tests/integration/test_wsgi.py",
           "tests/integration/test_frameworks.py", "tests/integration/test_container.py"]
SUPPORTED = ((3, 10), (3, 13))


def describe(py):
    """What the interpreter says of itself."""
    code = ("import json, platform, sys, sysconfig; print(json.dumps({'version': platform.python_version(), "
            "'minor': sys.version_info[:2], 'prefix': sys.base_prefix, 'executable': sys.executable, "
            "'stdlib': sysconfig.get_path('stdlib'), 'site': sysconfig.get_path('purelib')}))")
    return json.loads(subprocess.run([py, "-I", "-c", code], capture_output=True, text=True, check=True).stdout)


def is_debians(info):
    return info["prefix"] == "/usr"


def copy_install(info, dest):
    """The install under info's prefix, copied to dest without its test package and
    what its site-packages holds."""
    stdlib = os.path.relpath(info["stdlib"], info["prefix"])
    site = os.path.relpath(info["site"], info["prefix"])
    skipped = {os.path.join(stdlib, "test")}

    def ignore(directory, names):
        rel = os.path.relpath(directory, info["prefix"])
        if rel == site:
            return names
        return [n for n in names if os.path.join(rel, n) in skipped]
    shutil.copytree(info["prefix"], dest, symlinks=True, ignore=ignore)
    subprocess.run(["chmod", "-R", "a+rX", dest], check=True)


def own_runpath(executable, prefix):
    """A pyenv python finds libpython through a RUNPATH into its own prefix: the copy's
    points to the copy's lib/ ($ORIGIN/../lib), not back into root's home."""
    dynamic = subprocess.run(["readelf", "-d", executable], capture_output=True, text=True).stdout
    m = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r\w*path: \[(.*)\]", dynamic)
    if m and m.group(1).startswith(prefix):
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/../lib", executable], check=True)


def add_frameworks(py, copy):
    """Debian's Flask and Django beside the copy, compiled by it (3.12 warns of pytz's
    escapes once, when it compiles), on its sys.path through a .pth file."""
    target = os.path.join(copy, "frameworks")
    os.makedirs(target)
    for name in os.listdir(DIST_PACKAGES):  # the packages and their metadata (Flask-2.2.2.egg-info)
        if name.split("-")[0].lower() in FRAMEWORKS and os.path.isdir(os.path.join(DIST_PACKAGES, name)):
            shutil.copytree(os.path.join(DIST_PACKAGES, name), os.path.join(target, name),
                            ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([py, "-W", "ignore", "-m", "compileall", "-q", target], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(describe(py)["site"], "wsginit-tests.pth"), "w") as f:
        f.write(target + "\n")


def stage(py):
    """The interpreter the tests use for py: Debian's (or a copy) as it is, any other
    from its copy, made when missing or made from another install."""
    info = describe(py)
    if is_debians(info) or info["prefix"].startswith(COPIES + "/"):
        return info["executable"]
    copy = os.path.join(COPIES, info["version"])
    executable = os.path.join(copy, os.path.relpath(info["executable"], info["prefix"]))
    marker = os.path.join(copy, ".copied-from")
    os.makedirs(COPIES, exist_ok=True)
    with open(os.path.join(COPIES, ".lock"), "w") as lock:  # one copier at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker) and open(marker).read() == info["prefix"]:
            return executable
        start = time.monotonic()
        shutil.rmtree(copy, ignore_errors=True)
        copy_install(info, copy)
        own_runpath(os.path.realpath(executable), info["prefix"])
        add_frameworks(executable, copy)
        with open(marker, "w") as f:
            f.write(info["prefix"])
    print("%s copied to %s (%.0f s)" % (info["prefix"], copy, time.monotonic() - start), file=sys.stderr)
    return executable


# ---------------------------------------------------------------- make test-pythons

def pyenv_root():
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"]
    try:
        return subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.path.expanduser("~/.pyenv")


def pyenv_pythons():
    """[(interpreter, describe())] of each CPython 3.10-3.13 under $(pyenv root)/versions
    (its aliases, links, left out), oldest first."""
    versions = os.path.join(pyenv_root(), "versions")
    found = []
    for name in os.listdir(versions) if os.path.isdir(versions) else []:
        py = os.path.join(versions, name, "bin", "python3")
        if os.path.islink(os.path.join(versions, name)) or not os.access(py, os.X_OK):
            continue
        info = describe(py)
        if SUPPORTED[0] <= tuple(info["minor"]) <= SUPPORTED[1]:
            found.append((py, info))
    return sorted(found, key=lambda f: [int(n) for n in re.findall(r"\d+", f[1]["version"])[:3]])


def pythons():
    """[(label, interpreter, PYLINK)]: Debian's, then each CPython 3.10-3.13 pyenv has,
    with its static libpython, and the newest once more with its shared one (as the
    python:3.X-slim images have only that)."""
    pyenv = pyenv_pythons()
    if not pyenv:
        print("no CPython 3.10-3.13 under %s/versions: Debian's alone" % pyenv_root())
    found = [("%s Debian" % describe("/usr/bin/python3")["version"], "/usr/bin/python3", "")]
    found += [("%s pyenv" % info["version"], py, "") for py, info in pyenv]
    return found + [("%s pyenv" % info["version"], py, "shared") for py, info in pyenv[-1:]]


def sync_tree(tree):
    """The work tree (less build/ and .git) into tree, whose own build/ stays: make sees
    the sources' own times and rebuilds what changed."""
    for name in os.listdir(tree) if os.path.isdir(tree) else []:
        if name != "build":
            path = os.path.join(tree, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    os.makedirs(tree, exist_ok=True)
    files = subprocess.run(["tar", "-C", ROOT, "--exclude=./build", "--exclude=./.git", "--exclude=__pycache__",
                            "--exclude=.pytest_cache", "-cf", "-", "."], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-C", tree, "-xf", "-"], input=files, check=True)


def counts(junit):
    """(passed, failed, skipped, [each failed test and the first line of why])."""
    suite = ET.parse(junit).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    why = []
    for case in suite.iter("testcase"):
        for bad in case.findall("failure") + case.findall("error"):
            first = (bad.get("message") or "").strip().splitlines()[:1]
            why.append("%s::%s: %s" % (case.get("classname"), case.get("name"), first[0] if first else ""))
    return n["tests"] - n["failures"] - n["errors"] - n["skipped"], n["failures"] + n["errors"], n["skipped"], why


def test_one(name, py, pylink, log):
    """(link, passed, failed, skipped, why, build seconds, test seconds) of one Python."""
    tree = os.path.join(TREES, name)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    start = time.monotonic()
    staged = stage(py)
    sync_tree(tree)
    built = subprocess.run(["make", "-j2", "-C", tree, "build", "PY=" + staged, "PYLINK=" + pylink],
                           stdout=log, stderr=log, env=env)
    build_s = time.monotonic() - start
    if built.returncode != 0:
        return "-", 0, 1, 0, ["make build failed"], build_s, 0.0
    version = subprocess.run([os.path.join(tree, "build", "wsginit"), "--version"], capture_output=True,
                             text=True).stdout
    link = re.search(r"(\w+) libpython", version).group(1)
    junit = os.path.join(tree, "build", "junit.xml")
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--junitxml", junit,
                    *MODULES], cwd=tree, stdout=log, stderr=log, env=env)
    return (link,) + counts(junit) + (build_s, time.monotonic() - start)


def run():
    os.makedirs(TREES, exist_ok=True)
    rows, total = [], time.monotonic()
    for label, py, pylink in pythons():
        name = "-".join(label.lower().split() + ([pylink] if pylink else []))
        log_path = os.path.join(TREES, name + ".log")
        with open(log_path, "w") as log:
            row = test_one(name, py, pylink, log)
        rows.append((label,) + row)
        link, passed, failed, skipped, _, build_s, test_s = row
        print("%-16s %s libpython: %d passed, %d failed, %d skipped (build %.0f s, tests %.0f s; %s)"
              % (label, link, passed, failed, skipped, build_s, test_s, os.path.relpath(log_path, ROOT)),
              flush=True)
    print("\n| Python | libpython | passed | failed | skipped |\n|---|---|---|---|---|")
    for label, link, passed, failed, skipped, _, _, _ in rows:
        print("| %s | %s | %d | %d | %d |" % (label, link, passed, failed, skipped))
    print("\n%d builds in %.0f s" % (len(rows), time.monotonic() - total))
    print("%d passed, %d failed, %d skipped" % tuple(sum(r[i] for r in rows) for i in (2, 3, 4)))
    for label, link, *_, why, _, _ in rows:  # last, where a CI log's tail shows it
        for line in why:
            print("FAILED on %s %s: %s" % (label, link, line))
    return 1 if any(r[3] for r in rows) else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["stage"] and len(sys.argv) == 3:
        print(stage(sys.argv[2]))
    elif sys.argv[1:] == ["run"]:
        sys.exit(run())
    else:
        sys.exit(__doc__)
