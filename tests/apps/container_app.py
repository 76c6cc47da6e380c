"""A Flask app run inside build/rootfs by test_container.py: it reports, from
inside the container, what the process may and may not do."""
import ctypes
import errno
import os
import socket
import subprocess
import time

from flask import Flask, jsonify

app = Flask(__name__)
libc = ctypes.CDLL(None, use_errno=True)


@app.route("/")
def index():
    return "hello from flask"


@app.route("/slow")
def slow():
    time.sleep(1)
    return "slow done"


@app.route("/pid1")
def pid1():
    with open("/proc/1/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").strip()


def outcome(call):
    """'ok', or the errno name an OSError carried."""
    try:
        call()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def libc_call(name, *args):
    def call():
        if getattr(libc, name)(*args) < 0:
            raise OSError(ctypes.get_errno(), name)
    return call


def open_socket(family, kind):
    return lambda: socket.socket(family, kind).close()


@app.route("/denied")
def denied():
    return jsonify(
        ptrace=outcome(libc_call("ptrace", 0, 0, 0, 0)),  # PTRACE_TRACEME
        mount=outcome(libc_call("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
        unshare=outcome(libc_call("unshare", 0x04000000)),  # CLONE_NEWUTS
        netlink=outcome(open_socket(socket.AF_NETLINK, socket.SOCK_RAW)),
        packet=outcome(open_socket(socket.AF_PACKET, socket.SOCK_RAW)),
        execve=outcome(lambda: subprocess.run(["/wsginit", "--version"], check=True)),
    )


def square(n):
    return n * n


@app.route("/stdlib")
def stdlib():
    """The modules a real app uses, under the worker's seccomp profile."""
    import multiprocessing
    import sqlite3
    import ssl
    import uuid
    import zoneinfo
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    db = sqlite3.connect(":memory:")
    db.execute("create table t (x)")
    db.execute("insert into t values (42)")
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile="/etc/ssl/certs/ca-certificates.crt")
    with ThreadPoolExecutor(4) as pool:
        threads = sorted(pool.map(square, range(4)))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        processes = pool.map(square, range(4))
    paris = datetime(2024, 7, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    return jsonify(
        sqlite=db.execute("select x from t").fetchone()[0],
        ca_certs=ctx.cert_store_stats()["x509_ca"],
        threads=threads,
        subprocess=subprocess.run(["/wsginit", "--version"], capture_output=True, text=True).stdout,
        processes=processes,
        uuid=[len(str(uuid.uuid1())), len(str(uuid.uuid4()))],
        paris=paris.utcoffset().total_seconds(),
    )


@app.route("/orphan")
def orphan():
    """Leaves a grandchild that outlives its parent by a second, then exits."""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        grandchild = os.fork()
        if grandchild == 0:
            time.sleep(1)
            os._exit(0)
        os.write(w, str(grandchild).encode())
        os._exit(0)
    os.close(w)
    grandchild = int(os.read(r, 32))
    os.close(r)
    os.waitpid(child, 0)
    return str(grandchild)


@app.route("/proc/<int:pid>")
def proc(pid):
    """The State and PPid lines of a process seen from inside, or 'gone'."""
    try:
        with open("/proc/%d/status" % pid) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return "gone"
    return "\n".join(line for line in lines if line.startswith(("State:", "PPid:")))
