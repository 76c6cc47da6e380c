"""examples/kubernetes.yaml under `podman kube play` (issue 16): the restricted
securityContext in the running processes, the workers the CPU limit gives through
the real cgroup, the memory limit, the admin endpoints and HEALTH_PATH, the probes,
a 2 MB upload through Flask on the read-only root with its emptyDir /tmp, hung
workers against TIMEOUT, and TERM with SHUTDOWN_DELAY within the grace period.

The manifest's probes stay httpGet, for the kubelet; podman 4.3 cannot run them
(nor exec probes) in an image without a shell, see test_podman_healthcheck. The
test runs them the way an exec probe would, with `/wsginit --probe URL` inside the
pod. Timings are printed (`make test-k8s` runs pytest with -s)."""
import http.client
import json
import socket
import time

import pytest

from conftest import Follow, Watch, down, get, play, podman, proc_status, quantity, wait_for

FLASK = "flaskapp:app"
HANG = "notfound:application"    # every path 404, except /hang, which never returns
TIMEOUTS = 'wsginit_worker_restarts_total{reason="timeout"}'


@pytest.fixture(scope="module")
def flask_pod(engine):
    pod = play(FLASK, label="flask")
    yield pod
    down(pod)


def expected_workers(cpu):
    """2*cpus+1, cpus being the limit rounded up, as the manifest's comment says."""
    return 2 * -int(-quantity(cpu) // 1) + 1


# ---------------------------------------------------------------- restricted securityContext

def test_security_context_holds_in_every_process(flask_pod):
    """uid/gid 65532, no capability in any set, no_new_privs, a seccomp filter (the
    runtime's; workers add wsginit's own), the root read-only and /tmp writable."""
    csc = flask_pod.ctr["securityContext"]
    uid, gid = str(csc["runAsUser"]), str(csc["runAsGroup"])
    master = flask_pod.pid()
    workers = flask_pod.workers()
    for pid in [master] + workers:
        st = proc_status(pid)
        assert st["Uid"].split() == [uid] * 4 and st["Gid"].split() == [gid] * 4, (pid, st["Uid"], st["Gid"])
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[cap], 16) == 0, (pid, cap, st[cap])
        assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", (pid, st["NoNewPrivs"], st["Seccomp"])
    print("k8s: uid/gid %s/%s, caps 0, NoNewPrivs 1, Seccomp 2 in the master and %d workers" % (uid, gid, len(workers)))
    if "Seccomp_filters" in proc_status(master):   # Linux 5.9+
        def filters(pid):
            return int(proc_status(pid)["Seccomp_filters"])
        runtime = filters(master)
        wait_for("wsginit's seccomp filter on the runtime's in every worker, once it has imported the app",
                 lambda: all(filters(w) == runtime + 1 for w in flask_pod.workers()), 30)
    with open("/proc/%d/mountinfo" % master) as f:
        mounts = {line.split()[4]: line.split()[5].split(",") for line in f}
    assert "ro" in mounts["/"], mounts["/"]
    assert "rw" in mounts["/tmp"], mounts["/tmp"]
    writable = "import os, tempfile; print(os.access('/', os.W_OK), os.access('/app', os.W_OK), tempfile.gettempdir())"
    assert flask_pod.exec("/wsginit", "--python", "-c", writable).stdout.split() == ["False", "False", "/tmp"]


# ---------------------------------------------------------------- resources

def check_workers(pod, cpu):
    line = [l for l in pod.exec("/wsginit", "--print-config").stdout.splitlines() if l.startswith("WORKERS=")][0]
    print("k8s: cpu limit %s: %s" % (cpu, line))
    want = expected_workers(cpu)
    assert line.startswith("WORKERS=%d " % want) and "cgroup" in line, line
    assert len(pod.workers()) == want, pod.workers()


def test_workers_come_from_the_cpu_limit(flask_pod):
    """The manifest's limit "2": 2*2+1 = 5, read from the container's real cgroup."""
    check_workers(flask_pod, flask_pod.ctr["resources"]["limits"]["cpu"])


def test_memory_limit_is_in_the_cgroup(flask_pod):
    read = ("import os\n"
            "for p in ('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'):\n"
            "    if os.path.exists(p): print(open(p).read().strip()); break\n")
    got = flask_pod.exec("/wsginit", "--python", "-c", read).stdout.strip()
    limit = flask_pod.ctr["resources"]["limits"]["memory"]
    print("k8s: memory limit %s: %s bytes in the container's cgroup" % (limit, got))
    assert int(got) == quantity(limit)


# ---------------------------------------------------------------- endpoints and probes

def test_admin_endpoints_and_health_path(flask_pod):
    assert get(flask_pod.admin, "/livez") == (200, b"ok\n")
    assert get(flask_pod.admin, "/readyz") == (200, b"ok\n")
    status, metrics = get(flask_pod.admin, "/metrics")
    workers = expected_workers(flask_pod.ctr["resources"]["limits"]["cpu"])
    assert status == 200 and ("\nwsginit_workers %d\n" % workers) in metrics.decode(), metrics[:2000]
    assert get(flask_pod.http, flask_pod.env["HEALTH_PATH"]) == (200, b"ok\n")
    assert get(flask_pod.http, "/") == (200, b"flask index")


def test_probes_answer_in_exec_form_inside_the_pod(flask_pod):
    """Each of the manifest's probes, as `/wsginit --probe URL` run in the container (what
    an exec probe runs; the kubelet GETs the same URL from outside), and the bare form,
    which asks ADMIN_BIND's /readyz."""
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        g = flask_pod.ctr[name]["httpGet"]
        url = "http://127.0.0.1:%d%s" % (flask_pod.container_port(g["port"]), g["path"])
        r = flask_pod.exec("/wsginit", "--probe", url, check=False)
        assert (r.returncode, r.stdout.strip()) == (0, "200"), (name, url, r.stdout, r.stderr)
    r = flask_pod.exec("/wsginit", "--probe", check=False)
    assert (r.returncode, r.stdout.strip()) == (0, "200"), (r.stdout, r.stderr)


def test_podman_healthcheck(flask_pod, engine):
    """`podman healthcheck run` (no systemd here to run it on a timer). podman 4.3 turns
    the livenessProbe into its healthcheck, and runs every kube probe through
    `/bin/sh -c "... || exit 1"` (httpGet as curl, on port 0 for a named port): in an
    image without a shell it is never healthy, whatever the manifest says."""
    hc = json.loads(podman("inspect", "--format", "{{json .Config.Healthcheck}}", flask_pod.container).stdout)
    r = podman("healthcheck", "run", flask_pod.container, check=False)
    print("k8s: podman healthcheck %s -> %r (exit %d)" % (hc["Test"], (r.stdout + r.stderr).strip(), r.returncode))
    no_shell = flask_pod.exec("/wsginit", "--python", "-c",
                              "import os; print(os.path.exists('/bin/sh'))").stdout.strip() == "False"
    if r.returncode != 0 and hc["Test"][0] == "CMD-SHELL" and no_shell:
        pytest.xfail("podman %s runs the livenessProbe as %s through /bin/sh -c; the image has no "
                     "shell" % (engine, " ".join(hc["Test"][1:])))
    assert (r.returncode, r.stdout.strip()) == (0, "healthy"), (r.stdout, r.stderr)


# ---------------------------------------------------------------- uploads on a read-only root

def test_two_megabyte_multipart_upload_through_flask(flask_pod):
    """Werkzeug spools a file part past 500 KB to tempfile's directory: /tmp, the emptyDir
    (wsginit said nothing at start of a /tmp it cannot write)."""
    assert "not writable" not in flask_pod.logs()
    data = bytes(range(256)) * (2 * 1024 * 1024 // 256)
    boundary = "wsginitk8sboundary"
    body = b"".join([
        b"--%s\r\n" % boundary.encode(),
        b'Content-Disposition: form-data; name="file"; filename="two.bin"\r\n',
        b"Content-Type: application/octet-stream\r\n\r\n", data,
        b"\r\n--%s--\r\n" % boundary.encode()])
    conn = http.client.HTTPConnection("127.0.0.1", flask_pod.http, timeout=30)
    t = time.monotonic()
    conn.request("POST", "/upload", body, {"Content-Type": "multipart/form-data; boundary=" + boundary})
    r = conn.getresponse()
    answer = r.read()
    conn.close()
    print("k8s: 2 MiB multipart upload through Flask: %d in %.2f s" % (r.status, time.monotonic() - t))
    assert r.status == 200, answer[:2000]
    assert json.loads(answer) == {"filename": "two.bin", "size": len(data), "head": data[:8].decode("latin-1")}


# ---------------------------------------------------------------- pods of their own (after the Flask pod's tests)

def test_a_cpu_limit_of_one_gives_three_workers(pods):
    check_workers(pods(HANG, cpu="1", label="cpu1"), "1")


def metric(pod, series):
    """The value of one series of /metrics (name and labels as written), 0 if absent."""
    status, body = get(pod.admin, "/metrics")
    for line in body.decode().splitlines() if status == 200 else []:
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0


def hang_every_worker(pod, n):
    """Requests /hang, one at a time, until the app runs n of them: one per worker.
    A worker takes every connection that is waiting when it wakes up (a batch), so
    requests sent together may all land in one worker, and stay queued behind its
    first. Returns the connections, to be held open."""
    held = []
    busy = 0
    while busy < n:
        assert len(held) < 10 * n, "%d hung requests, %d in the app" % (len(held), busy)
        s = socket.create_connection(("127.0.0.1", pod.http), timeout=5)
        s.sendall(b"GET /hang HTTP/1.1\r\nHost: k8s\r\n\r\n")
        held.append(s)
        deadline = time.monotonic() + 1
        while metric(pod, "wsginit_requests_in_flight") == busy and time.monotonic() < deadline:
            time.sleep(0.02)
        busy = metric(pod, "wsginit_requests_in_flight")
    return held


def longest_failure(changes, end):
    """The longest stretch of a Watch's changes with no 200, in seconds."""
    stretches, since = [0.0], None
    for t, status in changes + [(end, 200)]:
        if status != 200 and since is None:
            since = t
        elif status == 200 and since is not None:
            stretches.append(t - since)
            since = None
    return max(stretches)


def test_an_app_that_hangs_every_worker(pods):
    """Every worker stuck in the app: HEALTH_PATH on the app port gets no answer;
    /livez stays 200 until TIMEOUT (each worker beat within it), then the master
    replaces them all and the pod serves again by itself. /livez is 503 only while the
    replacements import the app, far shorter than the livenessProbe's
    failureThreshold x periodSeconds, so the kubelet would not restart the container:
    wsginit's TIMEOUT has done that job first."""
    pod = pods(HANG, label="hang")
    timeout = float(pod.env["TIMEOUT"])
    health = pod.env["HEALTH_PATH"]
    n = len(pod.workers())
    t0 = time.monotonic()
    held = hang_every_worker(pod, n)
    hung = time.monotonic() - t0
    try:
        with Watch(pod.admin, "/livez", t0) as livez, Watch(pod.http, health, t0, timeout=0.5) as hp:
            wait_for("every worker replaced after TIMEOUT", lambda: metric(pod, TIMEOUTS) >= n, timeout + 30, 0.2)
            replaced = time.monotonic() - t0
            wait_for("HEALTH_PATH 200 again", lambda: hp.changes[-1][1] == 200 and hp.changes[-1][0] > replaced - 1,
                     20)
            end = time.monotonic() - t0
    except AssertionError:
        print("k8s: %d workers, %d hung requests: HEALTH_PATH %s; /livez %s; metrics:\n%s\nlogs:\n%s" % (
            n, len(held), hp.changes, livez.changes, get(pod.admin, "/metrics")[1].decode()[-3000:],
            pod.logs()[-5000:]))
        raise
    finally:
        for s in held:
            s.close()
    print("k8s: %d workers hung from 0 s (all by %.2f s, %d requests; TIMEOUT=%g): HEALTH_PATH %s; "
          "/livez %s; all replaced by %.2f s" % (n, hung, len(held), timeout, hp.changes, livez.changes, replaced))
    assert hp.changes[0][1] != 200, hp.changes
    not_live = [t for t, status in livez.changes if status != 200]
    assert not not_live or not_live[0] >= timeout - 1, livez.changes
    assert timeout <= replaced < hung + timeout + 10, replaced
    assert "WORKER TIMEOUT" in pod.logs()
    liveness = pod.ctr["livenessProbe"]
    assert longest_failure(livez.changes, end) < liveness["periodSeconds"] * liveness["failureThreshold"], \
        livez.changes
    assert get(pod.admin, "/livez")[0] == 200 and get(pod.http, health)[0] == 200
    restarts = podman("inspect", "--format", "{{.RestartCount}}", pod.container).stdout.strip()
    assert restarts == "0", restarts


# ---------------------------------------------------------------- stopping

def test_term_keeps_serving_for_shutdown_delay_then_exits_0(pods):
    """What the kubelet does on a pod's deletion: TERM to the app container, SIGKILL after
    terminationGracePeriodSeconds (`podman stop --time`). /readyz and HEALTH_PATH fail at
    once, the app is served for SHUTDOWN_DELAY, then the container exits 0."""
    pod = pods(FLASK, label="stop")
    delay = float(pod.env["SHUTDOWN_DELAY"])
    grace = pod.spec["terminationGracePeriodSeconds"]
    t0 = time.monotonic()
    with Watch(pod.admin, "/readyz", t0) as ready, Watch(pod.http, pod.env["HEALTH_PATH"], t0) as hp, \
            Watch(pod.http, "/", t0) as app:
        podman("stop", "--time", str(grace), pod.container, timeout=grace + 30)
        stopped = time.monotonic() - t0
    code = podman("inspect", "--format", "{{.State.ExitCode}}", pod.container).stdout.strip()
    print("k8s: TERM at 0 s: /readyz %s; HEALTH_PATH %s; app %s; exited %s at %.2f s "
          "(SHUTDOWN_DELAY=%g, terminationGracePeriodSeconds=%d)"
          % (ready.changes, hp.changes, app.changes, code, stopped, delay, grace))
    not_ready = [t for t, status in ready.changes if status != 200]
    assert not_ready and not_ready[0] < 1 and ready.seen.get(503), ready.changes
    assert hp.seen.get(503), hp.changes
    assert app.seen[200][1] >= delay - 0.3, app.changes          # served through the delay
    assert stopped < grace and code == "0", (stopped, code)
    logs = pod.logs()
    assert "TERM: not ready; serving %g s more" % delay in logs and "Shutting down: exit 0" in logs, logs[-3000:]


def test_kube_down_sends_term(pods, engine):
    """`podman kube down` as the way to stop: TERM, SHUTDOWN_DELAY, exit 0."""
    pod = pods(FLASK, label="down")
    cid = podman("inspect", "--format", "{{.Id}}", pod.container).stdout.strip()
    follow = Follow(pod.container)
    t0 = time.monotonic()
    podman("kube", "down", pod.path, timeout=120)
    took = time.monotonic() - t0
    text = follow.text()
    died = podman("events", "--stream=false", "--since", "10m", "--filter", "container=" + cid,
                  "--filter", "event=died", "--format", "{{.ContainerExitCode}}").stdout.split()
    print("k8s: kube down took %.2f s; exit %s; TERM seen: %s" % (took, died, "TERM:" in text))
    if died == ["137"] and "TERM:" not in text:
        pytest.xfail("podman %s's kube down stopped the pod with SIGKILL after %.2f s, no TERM "
                     "(it stops with a timeout of 0); stop with `podman stop --time %d` first"
                     % (engine, took, pod.spec["terminationGracePeriodSeconds"]))
    assert died == ["0"] and "TERM: not ready" in text, (died, text[-3000:])

