"""enter_rootfs.py ROOT root|nonroot [ARGS...]: what a container engine does
before it starts the entrypoint (`docker run image ARGS...`), without the
engine. Run as PID 1 of new pid and mount namespaces (unshare --pid --fork
--mount): mounts ROOT read-only with proc, a small /dev, /dev/shm and /tmp as
tmpfs, chroots into it and execs /wsginit ARGS..., which so stays PID 1.
'nonroot' is `docker run --user 65532:65532 --cap-drop ALL`: empty bounding
set, no groups, uid and gid 65532 before the exec."""
import ctypes
import os
import sys

MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
PR_CAPBSET_DROP = 24
libc = ctypes.CDLL(None, use_errno=True)


def c_str(s):
    return None if s is None else s.encode()


def mount(source, target, fstype=None, flags=0, data=None):
    if libc.mount(c_str(source), c_str(target), c_str(fstype), flags, c_str(data)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount %s: %s" % (target, os.strerror(err)))


def main(root, user, *args):
    mount(root, root, flags=MS_BIND)
    mount(None, root, flags=MS_REMOUNT | MS_BIND | MS_RDONLY)
    mount("proc", root + "/proc", "proc")
    mount("tmpfs", root + "/tmp", "tmpfs", data="mode=1777")
    mount("tmpfs", root + "/dev", "tmpfs", data="mode=755")
    for dev in ("null", "zero", "full", "random", "urandom"):
        open(root + "/dev/" + dev, "w").close()
        mount("/dev/" + dev, root + "/dev/" + dev, flags=MS_BIND)
    os.mkdir(root + "/dev/shm")
    mount("tmpfs", root + "/dev/shm", "tmpfs", data="mode=1777")
    os.chroot(root)
    os.chdir("/")
    if user == "nonroot":
        cap = 0
        while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
            cap += 1
        os.setgroups([])
        os.setgid(65532)
        os.setuid(65532)
    os.execv("/wsginit", ["/wsginit", *args])


if __name__ == "__main__":
    main(*sys.argv[1:])
