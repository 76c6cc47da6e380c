"""The image's HEALTHCHECK (`/wsginit --probe`, no URL: issue 12) under a real engine:
healthy for an app whose / is 404, for any PORT and with ADMIN_BIND, without a
request to the app; unhealthy while the app hangs, healthy again once TIMEOUT has
replaced the worker. And a read-only root without a tmpfs at /tmp is explained
at start.

The containers run with --network=none: the image's own defaults (0.0.0.0:8080)
touch no host port, and Docker runs the HEALTHCHECK inside the container's network
namespace. Requests the test sends go through `docker exec ... /wsginit --probe URL`
(the image has no other client)."""
import json
import os
import time

from conftest import ROOT, docker

APPS = os.path.join(ROOT, "tests", "apps")
NOTFOUND = ["-e", "APP=notfound:application", "-v", APPS + ":/app:ro"]  # every path 404, /hang hangs


def health(cid):
    return docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip()


def last_probes(cid):
    log = json.loads(docker("inspect", "-f", "{{json .State.Health.Log}}", cid).stdout)
    return [(p["ExitCode"], p["Output"].strip()) for p in log or []]


def wait_health(cid, want, timeout):
    """Polls the health status until it is `want`; the seconds it took."""
    start = time.monotonic()
    while health(cid) != want:
        assert time.monotonic() - start < timeout, "not %s within %s s; probes: %s; logs:\n%s" % (
            want, timeout, last_probes(cid), docker("logs", cid, check=False).stderr[-2000:])
        time.sleep(0.2)
    return time.monotonic() - start


def healthy(run, image, *args):
    cid = run("--health-interval=1s", *args, image, network="none")
    print("healthy after %.1f s" % wait_health(cid, "healthy", 30))
    return cid


def test_app_whose_root_is_404_is_healthy_and_never_called(image, run):
    """The image's defaults: HEALTH_PATH=/healthz on 0.0.0.0:8080, asked on 127.0.0.1."""
    cid = healthy(run, image, *NOTFOUND)
    assert last_probes(cid)[-1] == (0, "200")
    assert docker("logs", cid).stdout == "", "a health check reached the app (access log)"


def test_any_port_is_healthy(image, run):
    cid = healthy(run, image, "-e", "PORT=9000", *NOTFOUND)
    assert last_probes(cid)[-1] == (0, "200")
    assert "Listening at: http://0.0.0.0:9000" in docker("logs", cid).stderr


def test_admin_bind_is_healthy(image, run):
    """ADMIN_BIND set: the probe asks the master's /readyz, the app port is not involved."""
    cid = healthy(run, image, "-e", "ADMIN_BIND=0.0.0.0:9000", "-e", "PORT=9001", *NOTFOUND)
    assert last_probes(cid)[-1] == (0, "200")
    assert docker("logs", cid).stdout == ""


def test_hung_app_is_unhealthy_until_timeout_replaces_the_worker(image, run):
    """One worker, one thread, TIMEOUT=30: a request that never returns holds the only
    loop, so HEALTH_PATH gets no answer; three failed probes (5 s each) make the
    container unhealthy well before TIMEOUT; once the master has replaced the hung
    worker, it is healthy again."""
    cid = healthy(run, image, "-e", "WORKERS=1", "-e", "THREADS=1", "-e", "TIMEOUT=30", *NOTFOUND)
    hang = time.monotonic()
    r = docker("exec", cid, "/wsginit", "--probe", "http://127.0.0.1:8080/hang", check=False)
    assert r.returncode == 1 and "no answer within 5 s" in r.stderr, (r.returncode, r.stdout, r.stderr)
    wait_health(cid, "unhealthy", 30 - (time.monotonic() - hang))
    unhealthy_at = time.monotonic() - hang
    assert all(code != 0 for code, _ in last_probes(cid)[-3:]), last_probes(cid)
    wait_health(cid, "healthy", 30 + 20 - (time.monotonic() - hang))
    healthy_at = time.monotonic() - hang
    print("app hung at 0: unhealthy at %.1f s, healthy again at %.1f s (TIMEOUT=30)" % (unhealthy_at, healthy_at))
    assert healthy_at >= 30 and "WORKER TIMEOUT" in docker("logs", cid).stderr


def test_read_only_root_without_tmpfs_is_explained_at_start(image, run):
    """--read-only alone: one warning naming /tmp, what breaks and the fix; with
    --tmpfs /tmp (or a writable /tmp) nothing is said."""
    def start_log(*args):
        cid = run(*args, *NOTFOUND, image, network="none")
        deadline = time.monotonic() + 30
        while "Booting worker" not in docker("logs", cid).stderr:
            assert time.monotonic() < deadline, docker("logs", cid).stderr
            time.sleep(0.2)
        return docker("logs", cid).stderr

    err = start_log("--read-only")
    (line,) = [l for l in err.splitlines() if "not writable" in l]
    assert "/tmp is not writable by uid 65532 (Read-only file system)" in line, line
    assert "--tmpfs /tmp" in line and "emptyDir" in line and "upload" in line, line
    for args in (["--read-only", "--tmpfs", "/tmp"], ["--user", "65532:65532", "--read-only", "--tmpfs", "/tmp"], []):
        assert "not writable" not in start_log(*args), args
