"""The image under a real engine: it starts, serves, stops cleanly and runs
locked down; README's recipe and compose.yaml work."""
import os
import re
import subprocess
import textwrap
import threading
import time
import urllib.request

from conftest import ROOT, SOCKET, docker, free_port, wait_200


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


def test_readme_stop_timeout_lets_a_long_request_finish(image, run):
    """Docker kills 10 s after TERM by default; the README's --stop-timeout lets a 12 s
    request finish within GRACEFUL_TIMEOUT, and the container exits 0."""
    with open(os.path.join(ROOT, "README.md")) as f:
        stop_timeout = re.search(r"`docker run --stop-timeout (\d+) ", f.read()).group(1)
    port, admin = free_port(), free_port()
    cid = run("--stop-timeout", stop_timeout, "-e", "APP=lifecycle:application",
              "-e", "BIND=127.0.0.1:%d" % port, "-e", "ADMIN_BIND=127.0.0.1:%d" % admin,
              "-v", os.path.join(ROOT, "tests", "apps") + ":/app:ro", image)
    wait_200(port)
    answer = {}

    def slow():
        with urllib.request.urlopen("http://127.0.0.1:%d/sleep?s=12" % port, timeout=60) as r:
            answer["status"] = r.status
    client = threading.Thread(target=slow)
    client.start()
    deadline = time.monotonic() + 10
    while "wsginit_requests_in_flight 1" not in metrics(admin):
        assert time.monotonic() < deadline, "the slow request never reached the app"
        time.sleep(0.05)
    docker("stop", cid)
    client.join(timeout=60)
    assert answer.get("status") == 200, "the in-flight request was cut by docker stop"
    assert docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "0"


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()
