"""The image under a real engine (`make test-image`, not part of `make test`):
a private dockerd (own data root and socket under build/docker, no iptables,
no bridge), a debootstrapped bookworm minbase imported as debian:bookworm-slim
since no registry is reachable, then the Dockerfile built and run."""
import os
import socket
import subprocess
import textwrap
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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def image(engine):
    """The wsginit image built from the Dockerfile, tagged wsginit."""
    if not os.path.exists(BASE_TAR):
        target = os.path.join(STATE, "bookworm")
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", target],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["tar", "-C", target, "-cf", BASE_TAR, "."], check=True)
    if docker("image", "inspect", "debian:bookworm-slim", check=False).returncode != 0:
        docker("import", BASE_TAR, "debian:bookworm-slim")
    docker("build", "--network=host", "-t", "wsginit", ROOT)
    return "wsginit"


@pytest.fixture
def run(engine):
    """run(*docker_run_args) -> container id; every one is removed at the end."""
    started = []

    def start(*args):
        cid = docker("run", "-d", "--network=host", *args).stdout.strip()
        started.append(cid)
        return cid
    yield start
    for cid in started:
        print(docker("logs", cid, check=False).stderr)
        docker("rm", "-f", cid, check=False)


def app_args(port):
    return ["-e", "APP=hello:app", "-e", "BIND=127.0.0.1:%d" % port,
            "-v", os.path.join(ROOT, "examples") + ":/app:ro"]


def test_runs_as_root_and_stops_cleanly(image, run):
    port = 8080  # the HEALTHCHECK's
    start = time.monotonic()
    cid = run("--health-interval=1s", *app_args(port), image)
    assert wait_200(port) == "Hello, World!"
    print("docker run -> first 200: %.2f s" % (time.monotonic() - start))
    deadline = time.monotonic() + 20
    while docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() != "healthy":
        assert time.monotonic() < deadline, "the HEALTHCHECK (wsginit --probe) never passed"
        time.sleep(0.5)
    start = time.monotonic()
    docker("stop", cid)
    assert time.monotonic() - start < 5
    assert docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "0"
    assert "Running as uid=65532 gid=65532" in docker("logs", cid).stderr
    print(docker("image", "ls", image).stdout)
    slim = docker("image", "ls", "-q", "python:3.11-slim").stdout.strip()
    print("python:3.11-slim: %s" % ("present" if slim else "not available (no registry)"))


def test_runs_as_nonroot_read_only_without_capabilities(image, run):
    port = free_port()
    run("--user", "65532:65532", "--cap-drop", "ALL", "--read-only", "--tmpfs", "/tmp",
        *app_args(port), image)
    assert wait_200(port) == "Hello, World!"


def test_readme_recipe_builds_an_app_image(image, run, tmp_path):
    """The Dockerfile shown in README's "Container image" section, with a Flask app."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.index("## Container image")
    recipe = readme[readme.index("    FROM debian:bookworm-slim AS deps", section):]
    (tmp_path / "Dockerfile").write_text(textwrap.dedent(recipe[:recipe.index("\n\n", recipe.index("ENV APP"))]))
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n"
                                     "app.get('/')(lambda: 'hello from flask')\n")
    docker("build", "--network=host", "-t", "wsginit-flask-example", str(tmp_path))
    port = free_port()
    run("-e", "BIND=127.0.0.1:%d" % port, "wsginit-flask-example")
    assert wait_200(port) == "hello from flask"


def test_compose_up_is_healthy_and_down_stops_cleanly(image):
    compose = ["docker-compose", "-f", os.path.join(ROOT, "compose.yaml"), "-p", "wsginit-test"]
    env = {**os.environ, "DOCKER_HOST": SOCKET}
    try:
        subprocess.run([*compose, "up", "-d"], env=env, check=True, timeout=120)
        cid = subprocess.run([*compose, "ps", "-q"], env=env, check=True, capture_output=True,
                             text=True).stdout.strip()
        deadline = time.monotonic() + 60
        while docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip() != "healthy":
            assert time.monotonic() < deadline, "compose's healthcheck never passed"
            time.sleep(1)
        assert wait_200(8080) == "Hello, World!"
        subprocess.run([*compose, "stop"], env=env, check=True, timeout=60)
        assert docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "0"
    finally:
        subprocess.run([*compose, "down"], env=env, timeout=60)
