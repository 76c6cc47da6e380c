"""What the image tests share (`make test-image`, not part of `make test`): a
private dockerd (own data root and socket under build/docker, no iptables, no
bridge), a debootstrapped bookworm minbase imported as debian:bookworm-slim
since no registry is reachable, the Dockerfile built as `wsginit`, and run()."""
import os
import socket
import subprocess
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATE = os.path.join(ROOT, "build", "docker")
SOCKET = "unix://" + os.path.join(STATE, "docker.sock")
BASE_TAR = os.path.join(STATE, "bookworm-minbase.tar")


def docker(*args, check=True, timeout=900):
    done = subprocess.run(["/usr/bin/docker", "-H", SOCKET, *args], timeout=timeout, capture_output=True,
                          text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    assert not check or done.returncode == 0, "docker %s:\n%s%s" % (args[0], done.stdout[-3000:], done.stderr)
    return done


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_200(port, timeout=30.0):
    """The body of the first 200 answer to GET /."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2) as r:
                if r.status == 200:
                    return r.read().decode()
        except OSError:
            time.sleep(0.02)
    raise AssertionError("no 200 on port %d within %ss" % (port, timeout))


def minbase_tar():
    """A fresh Debian 12 root as `debootstrap --variant=minbase` makes it, as a tar
    (made once, kept in build/docker)."""
    if not os.path.exists(BASE_TAR):
        target = os.path.join(STATE, "bookworm")
        os.makedirs(STATE, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", target],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["tar", "-C", target, "-cf", BASE_TAR, "."], check=True)
    return BASE_TAR


@pytest.fixture(scope="session")
def engine():
    """A private dockerd, stopped by its pid at the end."""
    os.makedirs(STATE, exist_ok=True)
    log = open(os.path.join(STATE, "dockerd.log"), "w")
    dockerd = subprocess.Popen(
        ["/usr/sbin/dockerd", "--iptables=false", "--bridge=none", "-H", SOCKET,
         "--data-root", os.path.join(STATE, "data"), "--exec-root", os.path.join(STATE, "exec"),
         "--pidfile", os.path.join(STATE, "dockerd.pid")], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while docker("version", check=False).returncode != 0:
        if dockerd.poll() is not None or time.monotonic() > deadline:
            dockerd.kill()
            pytest.fail("THE DOCKER ENGINE DID NOT START; see %s" % log.name)
        time.sleep(0.2)
    yield
    dockerd.terminate()
    dockerd.wait(timeout=60)
    log.close()
    with open("/proc/self/mountinfo") as f:  # dockerd leaves exec/netns/default mounted
        for target in [line.split()[4] for line in f][::-1]:
            if target.startswith(STATE + "/"):
                subprocess.run(["umount", target], check=True)


@pytest.fixture(scope="session")
def image(engine):
    """The wsginit image built from the Dockerfile, tagged wsginit."""
    if docker("image", "inspect", "debian:bookworm-slim", check=False).returncode != 0:
        docker("import", minbase_tar(), "debian:bookworm-slim")
    docker("build", "--network=host", "-t", "wsginit", ROOT)
    return "wsginit"


@pytest.fixture
def run(engine):
    """run(*docker_run_args, network="host") -> container id; every one is removed at the end."""
    started = []

    def start(*args, network="host"):
        cid = docker("run", "-d", "--network=" + network, *args).stdout.strip()
        started.append(cid)
        return cid
    yield start
    for cid in started:
        print(docker("logs", cid, check=False).stderr)
        docker("rm", "-f", cid, check=False)


