"""Writable temp space is explained, not discovered (issue 12): when the user the
workers run as cannot write TMPDIR (or /tmp), the start logs one warning saying what
breaks and how to fix it, and the server serves as usual. The check runs after the
privilege drop: as root, a root-owned 0755 directory is not writable by 65532."""
import os
import shutil

import pytest

from conftest import readable_dir
from wire import get

WARNING = "is not writable by uid"


@pytest.fixture
def tmpdir_mode():
    """tmpdir_mode(mode) -> a new directory under /tmp with that mode, removed at the end."""
    made = []

    def make(mode):
        d = readable_dir("wsginit-tmpdir-")
        os.chmod(d, mode)
        made.append(d)
        return d
    yield make
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


def started(live, **env):
    """A server that answered a request, and its stderr up to the first worker's boot."""
    s = live(APP="probe:application", **env)
    assert get(s.port, "/status/200").status == 200
    return s, s.wait_log(lambda t: "Booting worker" in t)


def test_unwritable_tmpdir_is_one_warning_and_the_server_serves(live, tmpdir_mode):
    d = tmpdir_mode(0o555)  # root-owned when the tests run as root: 65532 cannot write it
    s, err = started(live, TMPDIR=d)
    (line,) = [l for l in err.splitlines() if WARNING in l]
    uid = 65532 if os.geteuid() == 0 else os.geteuid()
    assert "[WARNING]" in line and "TMPDIR=%s is not writable by uid %d" % (d, uid) in line, line
    for what in ("upload", "tempfile", "--tmpfs /tmp", "emptyDir", "TMPDIR"):
        assert what in line, (what, line)
    assert err.index("Running as uid") < err.index(WARNING), "checked after the privilege drop"


def test_missing_tmpdir_is_a_warning_and_writable_ones_are_not(live, tmpdir_mode):
    """One test for both sides, so that it fails where no check exists at all."""
    d = os.path.join(tmpdir_mode(0o755), "gone")
    s, err = started(live, TMPDIR=d)
    assert "TMPDIR=%s is not writable" % d in err and "No such file or directory" in err, err
    for env in ({"TMPDIR": tmpdir_mode(0o1777)}, {}, {"TMPDIR": ""}):  # "" or unset: /tmp
        s, err = started(live, **env)
        assert "Running as uid" in err and WARNING not in err, (env, err)
