"""What the Kubernetes tests share (`make test-k8s`, not part of `make test`):
examples/kubernetes.yaml played by Debian 12's podman 4.3 (`podman kube play`) on
the image `make image-rootfs` assembles, imported with the test apps and Debian's
Flask.

Everything the tests make has a name of its own and is removed by that name at the
end: the image (IMAGE), the network (NETWORK), the pod the Deployment becomes
(myapp-pod-0), podman's pause image and the emptyDir's volume when this run made
them, and build/k8s (containers.conf, the image's tar, the manifests played); IPv4
forwarding, which podman's bridge turns on for the host, is set back as it was.
Pods are reached on loopback only: through hostPorts bound to 127.0.0.1, or with
`podman exec POD-CONTAINER /wsginit ...` inside the pod."""
import http.client
import os
import shlex
import shutil
import socket
import subprocess
import tarfile
import threading
import time

import pytest
import yaml  # python3-yaml (Debian)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOTFS = os.path.join(ROOT, "build", "rootfs")
STATE = os.path.join(ROOT, "build", "k8s")
CONF = os.path.join(STATE, "containers.conf")
APPS = os.path.join(ROOT, "tests", "apps")
MANIFEST = os.path.join(ROOT, "examples", "kubernetes.yaml")
IMAGE = "localhost/wsginit-k8s:test"
NETWORK = "wsginit-k8s"
APP_FILES = ("flaskapp.py", "flaskapp_static", "notfound.py")
FORWARD = "/proc/sys/net/ipv4/ip_forward"

# podman reads this file instead of the system's containers.conf (/usr/share and
# /etc/containers; this VM has only the first, all defaults) while CONTAINERS_CONF
# names it.
CONTAINERS_CONF = """\
# Written by tests/k8s for its own podman calls. This VM's root lacks CAP_SYS_RESOURCE
# and has a hard limit of 20000 open files, below the limits podman asks runc for by
# default: without these, every container fails with "error setting rlimit".
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
"""


def podman(*args, check=True, timeout=120):
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, CONTAINERS_CONF=CONF))
    assert not check or done.returncode == 0, "podman %s:\n%s%s" % (
        " ".join(args[:3]), done.stdout[-3000:], done.stderr[-3000:])
    return done


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=2.0):
    """(status, body) of GET path on 127.0.0.1:port, or (the error's name, b"")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__, b""
    finally:
        conn.close()


class Watch:
    """GET path on 127.0.0.1:port from a thread every `every` seconds while in the
    `with` block; `seen` maps each answer (a status or an error's name) to the first
    and last times it came, in seconds since t0, `changes` lists [(time, answer)]."""

    def __init__(self, port, path, t0, every=0.05, timeout=1.0):
        self.args, self.t0, self.every, self.timeout = (port, path), t0, every, timeout
        self.seen, self.changes = {}, []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + 300
        while not self.done.is_set() and time.monotonic() < deadline:
            status = get(*self.args, timeout=self.timeout)[0]
            t = time.monotonic() - self.t0
            self.seen.setdefault(status, [t, t])[1] = t
            if not self.changes or self.changes[-1][1] != status:
                self.changes.append((round(t, 2), status))
            self.done.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=10)


class Follow:
    """`podman logs -f` of a container, read by a thread until the container is gone."""

    def __init__(self, container):
        self.proc = subprocess.Popen(["podman", "logs", "-f", container], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, CONTAINERS_CONF=CONF))
        self.lines = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.thread.start()

    def text(self, timeout=10):
        """What it read, once it has ended (or been ended after timeout)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        return "".join(self.lines)


def wait_for(what, check, timeout, every=0.05):
    """Polls check() until it returns something true, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "%s: not within %s s" % (what, timeout)
        time.sleep(every)


def quantity(text):
    """A Kubernetes quantity ("2", "500m", "512Mi") as a number."""
    text = str(text)
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("m", 1e-3)):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * factor
    return float(text)


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f)


def children(pid):
    kids = []
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            kids += [int(k) for k in f.read().split()]
    return kids


# ---------------------------------------------------------------- the image

def dockerfile_changes():
    """The Dockerfile's final stage (ENV, EXPOSE, STOPSIGNAL, ENTRYPOINT...) as
    `podman import --change` takes it: one pair per ENV. Its HEALTHCHECK cannot be
    imported, and `podman kube play` would not use it (it ignores an image's)."""
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        lines = [l.strip() for l in f.read().replace("\\\n", " ").splitlines()]
    final = max(i for i, l in enumerate(lines) if l.startswith("FROM "))
    changes = []
    for line in lines[final + 1:]:
        word, _, rest = line.partition(" ")
        if word == "ENV":
            changes += ["ENV " + pair for pair in shlex.split(rest)]
        elif word in ("EXPOSE", "STOPSIGNAL", "ENTRYPOINT", "CMD", "USER", "WORKDIR", "LABEL"):
            changes.append(line)
    assert any(c.startswith("ENTRYPOINT") for c in changes), changes
    return changes


def debian_packages(root):
    """root and the python3-* packages it depends on (not those python3 stands for)."""
    want, seen = [root], []
    while want:
        pkg = want.pop()
        if pkg in seen:
            continue
        seen.append(pkg)
        depends = subprocess.run(["dpkg-query", "-W", "-f=${Depends}", pkg], check=True,
                                 capture_output=True, text=True).stdout
        for group in filter(None, (g.strip() for g in depends.split(","))):
            names = [alt.split()[0].split(":")[0] for alt in group.split("|")]
            if "python3" not in names and names[0].startswith("python3-"):
                want.append(names[0])
    return seen


def flask_files():
    """Debian's Flask and what it imports, from /usr/lib/python3/dist-packages (the
    README's Flask recipe copies that directory from a builder stage)."""
    listed = subprocess.run(["dpkg", "-L", *debian_packages("python3-flask")], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    files = {"/usr/lib/python3"} | {p for p in listed if p.startswith("/usr/lib/python3/dist-packages")}
    return sorted(files)


def build_image():
    """build/rootfs + the test apps in /app + Flask, imported as IMAGE."""
    assert os.path.exists(os.path.join(ROOTFS, "wsginit")), "no build/rootfs: run `make image-rootfs`"
    tar_path = os.path.join(STATE, "image.tar")
    with tarfile.open(tar_path, "w") as tar:
        for entry in sorted(os.listdir(ROOTFS)):
            tar.add(os.path.join(ROOTFS, entry), arcname=entry)
        for path in flask_files():
            tar.add(path, arcname=path.lstrip("/"), recursive=False)
        for name in APP_FILES:
            tar.add(os.path.join(APPS, name), arcname="app/" + name,
                    filter=lambda m: None if "__pycache__" in m.name else m)
    changes = [arg for c in dockerfile_changes() for arg in ("--change", c)]
    podman("import", *changes, tar_path, IMAGE, timeout=300)
    os.unlink(tar_path)


# ---------------------------------------------------------------- the manifest on podman

def load_manifest():
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def deployment(docs):
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    return dep


class Pod:
    """A played manifest: the pod podman made from the Deployment, its app container,
    the host ports (127.0.0.1) of its ports by name, its env and the manifest's specs."""

    def __init__(self, docs, path, ports):
        dep = deployment(docs)
        self.spec = dep["spec"]["template"]["spec"]
        self.ctr = self.spec["containers"][0]
        self.env = {e["name"]: e["value"] for e in self.ctr["env"]}
        self.name = dep["metadata"]["name"] + "-pod-0"     # podman's name for replica 0
        self.container = self.name + "-" + self.ctr["name"]
        self.path, self.ports = path, ports
        self.http, self.admin = ports["http"], ports["admin"]

    def exec(self, *args, check=True, timeout=60):
        return podman("exec", self.container, *args, check=check, timeout=timeout)

    def pid(self):
        """The master's pid on the host."""
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.container).stdout)

    def workers(self):
        """The master's children that are workers (`wsginit: worker N [APP]`)."""
        def is_worker(pid):
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return f.read().startswith(b"wsginit: worker")
        return [k for k in children(self.pid()) if is_worker(k)]

    def logs(self):
        done = podman("logs", self.container, check=False)
        return done.stdout + done.stderr

    def container_port(self, port):
        return {p["name"]: p["containerPort"] for p in self.ctr["ports"]}.get(port, port)


def for_podman(app, cpu=None):
    """examples/kubernetes.yaml with the test's image and APP (and another CPU limit
    when asked), and two things podman 4.3 does unlike Kubernetes undone:
    - it publishes every containerPort on the host, on every address: each port gets
      hostIP 127.0.0.1 and a hostPort free here;
    - a second replica would then want the same host ports and fail: one replica."""
    docs = load_manifest()
    dep = deployment(docs)
    dep["spec"]["replicas"] = 1
    ctr = dep["spec"]["template"]["spec"]["containers"][0]
    ctr["image"] = IMAGE
    (app_env,) = [e for e in ctr["env"] if e["name"] == "APP"]
    app_env["value"] = app
    if cpu is not None:
        ctr["resources"]["limits"]["cpu"] = cpu
    ports = {}
    for p in ctr["ports"]:
        p["hostIP"], p["hostPort"] = "127.0.0.1", free_port()
        ports[p["name"]] = p["hostPort"]
    return docs, ports


PLAYED = []   # manifests played and not yet taken down


def play(app, cpu=None, label="pod"):
    """Plays the manifest; returns the Pod once /readyz is 200 (within the startup
    probe's budget), having printed how long that took. podman names the pod after
    the Deployment, so a pod this run played before is taken down first."""
    for pod in list(PLAYED):
        down(pod)
    docs, ports = for_podman(app, cpu)
    path = os.path.join(STATE, "%s.yaml" % label)
    with open(path, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    pod = Pod(docs, path, ports)
    assert podman("pod", "exists", pod.name, check=False).returncode != 0, \
        "a pod %s exists already; remove it (podman pod rm -f %s)" % (pod.name, pod.name)
    startup = pod.ctr["startupProbe"]
    PLAYED.append(pod)
    t0 = time.monotonic()
    podman("kube", "play", "--network", NETWORK, path, timeout=120)
    try:
        wait_for("/readyz 200", lambda: get(pod.admin, "/readyz", timeout=1)[0] == 200,
                 startup["periodSeconds"] * startup["failureThreshold"])
    except AssertionError:
        print(pod.logs()[-4000:])
        raise
    print("\nk8s: %s (APP=%s): kube play -> /readyz 200 in %.2f s" % (label, app, time.monotonic() - t0))
    return pod


def down(pod):
    podman("kube", "down", pod.path, check=False)
    podman("pod", "rm", "-f", "--ignore", pod.name, check=False)
    if pod in PLAYED:
        PLAYED.remove(pod)


def images(repository):
    out = podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository, check=False).stdout
    return set(out.split())


@pytest.fixture(scope="session")
def engine():
    """containers.conf, the image and the network; at the end, everything made,
    removed by name."""
    shutil.rmtree(STATE, ignore_errors=True)
    os.makedirs(STATE)
    with open(CONF, "w") as f:
        f.write(CONTAINERS_CONF)
    pause_before = images("localhost/podman-pause")
    # podman 4.3 makes each emptyDir a volume named after it (a pod would share one made before)
    volumes = [v["name"] for v in deployment(load_manifest())["spec"]["template"]["spec"]["volumes"]
               if "emptyDir" in v]
    for name in volumes:
        assert podman("volume", "exists", name, check=False).returncode != 0, \
            "a podman volume %r exists: podman 4.3 would mount it as the pod's emptyDir" % name
    with open(FORWARD) as f:
        forward = f.read()
    version = podman("version", "--format", "{{.Client.Version}}").stdout.strip()
    print("\nk8s: podman %s" % version)
    try:
        build_image()
        if podman("network", "exists", NETWORK, check=False).returncode != 0:
            podman("network", "create", NETWORK)
        yield version
    finally:
        for pod in list(PLAYED):
            down(pod)
        podman("rmi", "--ignore", IMAGE, check=False)
        podman("network", "rm", "--force", NETWORK, check=False)
        for image in images("localhost/podman-pause") - pause_before:
            podman("rmi", image, check=False)
        for name in volumes:
            podman("volume", "rm", "--force", name, check=False)
        shutil.rmtree(STATE, ignore_errors=True)
        with open(FORWARD) as f:   # podman's bridge turns it on, for the whole host
            turned = f.read() != forward
        if turned:
            with open(FORWARD, "w") as f:
                f.write(forward)


@pytest.fixture
def pods(engine):
    """play(app, cpu=None, label) -> Pod; each is taken down at the end of the test."""
    mine = []

    def start(*args, **kwargs):
        pod = play(*args, **kwargs)
        mine.append(pod)
        return pod
    yield start
    for pod in mine:
        down(pod)
