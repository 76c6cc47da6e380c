"""Default WORKERS = 2*cpus+1, cpus from the process's own cgroup quota, else its affinity.

Observed through `wsginit --print-config` (the WORKERS line and its comment):
- cgroup v2: a tmpfs over /sys/fs/cgroup in a private mount namespace holding a fake
  cpu.max at the path /proc/self/cgroup names. For a pure-v2 layout with a deep path,
  a fake /proc/<pid>/cgroup is bind-mounted over the real one (the wrapper shell then
  execs the binary, which keeps the pid, so the binary reads the fake file).
- cgroup v1: a REAL child cgroup under the cpu controller with a CFS quota.
- affinity: taskset.
These need root, mount namespaces and a v1 cpu controller; when one is missing the
test fails saying so (nothing is skipped).
"""
import os
import re
import shlex
import subprocess
import time
import uuid

import pytest

from conftest import APPS, BINARY, children, free_port, stop_process, wait_port

AFFINITY = len(os.sched_getaffinity(0))


def base_env():
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "APP": "flaskapp:app", "CHDIR": APPS,
            "WSGINIT_BIN": BINARY}


@pytest.fixture(autouse=True)
def need_root():
    if os.geteuid() != 0:
        pytest.fail("cgroup tests need root (mount namespaces, tmpfs, cgroup creation); "
                    "run them as root, e.g. in the CI container")


def workers_of(stdout, stderr=""):
    """(workers, comment) from --print-config output."""
    m = re.search(r"^WORKERS=(\d+)\s+#\s*(.*)$", stdout, re.M)
    assert m, "no WORKERS line with a comment in --print-config output:\n%s\nstderr:\n%s" % (stdout, stderr)
    return int(m.group(1)), m.group(2)


def run_sh(script, prefix=(), timeout=30):
    """Runs `sh -ec script` (after prefix, e.g. unshare) with the binary at $WSGINIT_BIN."""
    r = subprocess.run([*prefix, "sh", "-ec", script], env=base_env(), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "wrapper failed (exit %s):\nscript:\n%s\nstdout:\n%s\nstderr:\n%s" % (
        r.returncode, script, r.stdout, r.stderr)
    return workers_of(r.stdout, r.stderr)


UNSHARE = ("unshare", "--mount", "--propagation", "private", "--")


def fake_v2(files, proc_cgroup=None, exec_prefix="", tmp_path=None):
    """--print-config in a private mount namespace with a tmpfs at /sys/fs/cgroup.

    files: {path relative to the process's v2 cgroup dir (or "/"-absolute within the
    mount): cpu.max content}. With proc_cgroup, that text replaces /proc/self/cgroup
    (bind mount); otherwise the real file's "0::" path is used.
    """
    lines = ["mount -t tmpfs wsginit-fake-cgroup /sys/fs/cgroup"]
    if proc_cgroup is not None:
        fake = tmp_path / "fake-proc-self-cgroup"
        fake.write_text(proc_cgroup)
        lines.append("mount --bind %s /proc/$$/cgroup" % shlex.quote(str(fake)))
    lines.append("cg=$(sed -n 's/^0:://p' /proc/$$/cgroup)")
    lines.append('[ -n "$cg" ] || { echo "no cgroup v2 (0::) line in /proc/self/cgroup" >&2; exit 97; }')
    lines.append('[ "$cg" = / ] && cg=')
    for rel, content in files.items():
        d = "/sys/fs/cgroup" + (rel if rel.startswith("/") else "$cg/" + rel if rel else "$cg")
        lines.append('mkdir -p "%s"' % d.rstrip("/"))
        lines.append("printf '%%s\\n' %s > \"%s/cpu.max\"" % (shlex.quote(content), d.rstrip("/")))
    lines.append('exec %s "$WSGINIT_BIN" --print-config' % exec_prefix)
    return run_sh("\n".join(lines), prefix=UNSHARE)


# ---------------------------------------------------------------- cgroup v2 (faked cpu.max)

def test_v2_cpu_max_in_own_cgroup():
    workers, comment = fake_v2({"": "150000 100000"})
    assert workers == 5, comment
    assert "cpus=2" in comment and "2*2+1" in comment, comment
    assert 'cpu.max "150000 100000"' in comment, comment
    assert "v2" in comment, comment


@pytest.mark.parametrize("cpu_max,cpus", [("50000 100000", 1), ("100000 100000", 1),
                                          ("100001 100000", 2), ("250000 100000", 3),
                                          ("800000 200000", 4), ("1000 100000", 1)])
def test_v2_quota_is_rounded_up(cpu_max, cpus):
    workers, comment = fake_v2({"": cpu_max})
    assert (workers, "cpus=%d" % cpus in comment) == (2 * cpus + 1, True), comment
    assert cpu_max in comment, comment


def test_v2_max_falls_back_to_affinity():
    workers, comment = fake_v2({"": "max 100000"})
    assert workers == 2 * AFFINITY + 1, comment
    assert "affinity" in comment, comment
    assert "cpu.max" not in comment, comment


def test_v2_no_cpu_max_file_falls_back_to_affinity():
    workers, comment = fake_v2({})
    assert workers == 2 * AFFINITY + 1, comment
    assert "affinity" in comment, comment


def test_v2_deep_path_quota_on_a_parent(tmp_path):
    """Pure v2 host, container cgroup nested in a pod: the quota is set on the pod."""
    files = {"/kubepods/pod1/ctr": "max 100000",
             "/kubepods/pod1": "150000 100000",
             "/kubepods": "max 100000"}
    workers, comment = fake_v2(files, proc_cgroup="0::/kubepods/pod1/ctr\n", tmp_path=tmp_path)
    assert workers == 5, comment
    assert 'cpu.max "150000 100000"' in comment, comment


def test_v2_tightest_quota_on_the_way_up_wins(tmp_path):
    files = {"/kubepods/pod1/ctr": "300000 100000",
             "/kubepods/pod1": "50000 100000",
             "/kubepods": "800000 100000",
             "/": "max 100000"}
    workers, comment = fake_v2(files, proc_cgroup="0::/kubepods/pod1/ctr\n", tmp_path=tmp_path)
    assert workers == 3, comment
    assert 'cpu.max "50000 100000"' in comment, comment


def test_v2_quota_outside_own_path_is_ignored(tmp_path):
    """A sibling's cpu.max is not ours: only our path and its ancestors count."""
    files = {"/kubepods/other": "50000 100000", "/kubepods/mine": "max 100000"}
    workers, comment = fake_v2(files, proc_cgroup="0::/kubepods/mine\n", tmp_path=tmp_path)
    assert workers == 2 * AFFINITY + 1, comment
    assert "affinity" in comment, comment


def test_v2_quota_beats_affinity():
    """cpus comes from the quota when there is one; the affinity count is the fallback."""
    workers, comment = fake_v2({"": "300000 100000"}, exec_prefix="taskset -c 0")
    assert workers == 7, comment
    assert "cpus=3" in comment, comment


def test_max_workers_caps_a_quota_derived_default():
    r = subprocess.run([*UNSHARE, "sh", "-ec", "mount -t tmpfs x /sys/fs/cgroup\n"
                        "cg=$(sed -n 's/^0:://p' /proc/$$/cgroup); mkdir -p /sys/fs/cgroup$cg\n"
                        "echo '400000 100000' > /sys/fs/cgroup$cg/cpu.max\n"
                        'exec "$WSGINIT_BIN" --print-config'],
                       env=dict(base_env(), MAX_WORKERS="4"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    workers, comment = workers_of(r.stdout, r.stderr)
    assert workers == 4, comment
    assert "MAX_WORKERS" in comment and "cpus=4" in comment, comment


# ---------------------------------------------------------------- cgroup v1 (a real quota)

def v1_cpu_mount():
    """Mount point of the cgroup v1 hierarchy that has the cpu controller."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _, opts = right.split()[:3]
            if fstype == "cgroup" and "cpu" in opts.split(","):
                return left.split()[4]
    pytest.fail("no cgroup v1 cpu controller is mounted (see /proc/self/mountinfo); "
                "the v1 quota test needs one")


@pytest.fixture
def v1_cgroup():
    """make(rel, quota, period) creates <cpu mount>/wsginit-test-XXXX[/rel]; all removed after."""
    mount = v1_cpu_mount()
    top = os.path.join(mount, "wsginit-test-" + uuid.uuid4().hex[:8])
    made = []

    def make(rel="", quota=None, period=100000):
        path = os.path.join(top, rel) if rel else top
        try:
            os.mkdir(path)
        except OSError as e:
            pytest.fail("cannot create cgroup %s: %s" % (path, e))
        made.append(path)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
            f.write(str(period))
        if quota is not None:
            with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota))
        return path

    yield make
    for path in reversed(made):
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(path)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def run_in_v1(path, exec_prefix=""):
    script = 'echo $$ > %s/cgroup.procs\nexec %s "$WSGINIT_BIN" --print-config' % (
        shlex.quote(path), exec_prefix)
    return run_sh(script)


def test_v1_real_cfs_quota(v1_cgroup):
    path = v1_cgroup(quota=50000, period=100000)
    workers, comment = run_in_v1(path)
    assert workers == 3, comment
    assert "cpus=1" in comment, comment
    assert "v1" in comment and "50000" in comment, comment


def test_v1_real_cfs_quota_rounded_up(v1_cgroup):
    path = v1_cgroup(quota=150000, period=100000)
    workers, comment = run_in_v1(path)
    assert workers == 5, comment
    assert "cpus=2" in comment and "150000" in comment, comment


def test_v1_quota_on_the_parent_cgroup(v1_cgroup):
    v1_cgroup(quota=50000, period=100000)
    child = v1_cgroup("child")  # no quota of its own (-1)
    with open(os.path.join(child, "cpu.cfs_quota_us")) as f:
        assert f.read().strip() == "-1"
    workers, comment = run_in_v1(child)
    assert workers == 3, comment
    assert "50000" in comment, comment


def test_v1_without_quota_uses_affinity(v1_cgroup):
    path = v1_cgroup()  # quota stays -1
    workers, comment = run_in_v1(path, exec_prefix="taskset -c 0")
    assert workers == 3, comment
    assert "affinity" in comment, comment


def test_v1_quota_decides_how_many_workers_are_forked(v1_cgroup):
    """End to end: the server itself, started in the quota'd cgroup, forks 2*1+1 workers."""
    path = v1_cgroup(quota=50000, period=100000)
    port = free_port()
    env = dict(base_env(), BIND="127.0.0.1:%d" % port)
    script = 'echo $$ > %s/cgroup.procs\nexec "$WSGINIT_BIN"' % shlex.quote(path)
    proc = subprocess.Popen(["sh", "-ec", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_port(port, proc)
        deadline = time.monotonic() + 10
        while len(children(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and no more than 3 appear
        kids = children(proc.pid)
        assert len(kids) == 3, "master forked %d workers, want 3 (cpus=1 from the v1 quota)" % len(kids)
        for k in kids:
            with open("/proc/%d/cgroup" % k) as f:
                rel = path[len(v1_cpu_mount()):]
                assert any(l.split(":", 2)[2] == rel and "cpu" in l.split(":")[1].split(",")
                           for l in f.read().splitlines()), "worker %d is not in %s" % (k, path)
    finally:
        stop_process(proc)
    assert proc.returncode == 0


# ---------------------------------------------------------------- affinity

def test_taskset_one_cpu():
    workers, comment = run_sh('exec taskset -c 0 "$WSGINIT_BIN" --print-config')
    assert "affinity" in comment, ("this process's cgroup sets a CPU quota, so the affinity "
                                   "count is not what decides: %s" % comment)
    assert workers == 3, comment
    assert "cpus=1" in comment, comment


def test_taskset_one_cpu_without_any_cgroup_quota():
    """Same, hermetic: an empty fake cgroup fs, so no quota from the host can interfere."""
    workers, comment = fake_v2({}, exec_prefix="taskset -c 0")
    assert workers == 3, comment
    assert "affinity" in comment and "cpus=1" in comment, comment


def test_taskset_all_cpus():
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    workers, comment = fake_v2({}, exec_prefix="taskset -c %s" % cpus)
    assert workers == 2 * AFFINITY + 1, comment
