/* SECCOMP=default: everything allowed except what a web app never needs,
 * which fails with EPERM. SECCOMP=strict: only the listed system calls, no
 * execve, sockets of the unix, inet and inet6 families only. Calls of other
 * architectures (the 32-bit ABI on x86-64) kill the process in both. */
#include "seccomp.h"

#include "log.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>

/* Denied by the default profile. */
static const char *const denied[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
	"chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "unshare",
	"setns", "reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime",
	"clock_adjtime", "adjtimex", "userfaultfd", "open_by_handle_at", "iopl", "ioperm",
	"quotactl", "lookup_dcookie", "syslog", "uselib", "vhangup",
};

/* Allowed by the strict profile (socket() separately, by family). */
static const char *const allowed[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "open",
	"openat", "close", "close_range", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs",
	"fstatfs", "lseek", "mmap", "mprotect", "munmap", "mremap", "msync", "mincore", "madvise",
	"brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
	"ioctl", "access", "faccessat", "faccessat2", "pipe", "pipe2", "select", "pselect6", "poll",
	"ppoll", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "signalfd4",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "sched_yield", "sched_getaffinity",
	"dup", "dup2", "dup3", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
	"gettimeofday", "time", "getitimer", "setitimer", "alarm", "getpid", "getppid", "gettid",
	"getuid", "geteuid", "getgid", "getegid", "getgroups", "getpgrp", "getpgid", "getsid",
	"getrlimit", "prlimit64", "getrusage", "sysinfo", "times", "uname", "umask", "sendfile",
	"connect", "accept", "accept4", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
	"recvmmsg", "shutdown", "bind", "listen", "getsockname", "getpeername", "socketpair",
	"setsockopt", "getsockopt", "clone", "clone3", "exit", "exit_group", "wait4", "waitid",
	"kill", "tgkill", "tkill", "fcntl", "flock", "fsync", "fdatasync", "truncate", "ftruncate",
	"getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat", "renameat2", "mkdir",
	"mkdirat", "rmdir", "unlink", "unlinkat", "link", "linkat", "symlink", "symlinkat",
	"readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "utimensat", "futex",
	"set_robust_list", "get_robust_list", "set_tid_address", "restart_syscall", "prctl",
	"arch_prctl", "getrandom", "memfd_create", "rseq", "copy_file_range", "splice", "tee",
	"fadvise64", "fallocate", "getpriority", "sched_getparam", "sched_getscheduler",
	"sched_setscheduler", /* the loop thread's SCHED_BATCH; unprivileged, it can only lower */
	"mlock", "munlock", "membarrier", "getxattr", "fgetxattr", "lgetxattr", "inotify_init1",
	"inotify_add_watch", "inotify_rm_watch", "pidfd_open",
};

const char *seccomp_describe(enum seccomp_mode mode)
{
	switch (mode) {
	case SECCOMP_DEFAULT: return "default (allow, except mount/ptrace/bpf/kexec/modules/keys/namespaces/... -> EPERM)";
	case SECCOMP_STRICT: return "strict (allow-list; no execve; unix/inet/inet6 sockets only)";
	case SECCOMP_OFF: return "off";
	}
	return "?";
}

static int add_all(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx, action, nr, 0) < 0)
			return -1;
	}
	return 0;
}

static int build(scmp_filter_ctx ctx, enum seccomp_mode mode)
{
	/* TSYNC: threads the app started at import are filtered too. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0)
		return -1;
	if (mode == SECCOMP_DEFAULT) {
		/* personality() may be read (0xffffffff) but not changed. */
		return add_all(ctx, SCMP_ACT_ERRNO(EPERM), denied, sizeof denied / sizeof *denied) < 0 ||
		       seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
					SCMP_A0(SCMP_CMP_NE, 0xffffffff)) < 0 ? -1 : 0;
	}
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
	for (size_t i = 0; i < sizeof families / sizeof *families; i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i])) < 0)
			return -1;
	return add_all(ctx, SCMP_ACT_ALLOW, allowed, sizeof allowed / sizeof *allowed);
}

int seccomp_apply(enum seccomp_mode mode)
{
	if (mode == SECCOMP_OFF)
		return 0;
	scmp_filter_ctx ctx = seccomp_init(mode == SECCOMP_DEFAULT ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM));
	int rc = ctx && build(ctx, mode) == 0 ? seccomp_load(ctx) : -1;
	if (rc < 0)
		log_msg(LOG_CRITICAL, "cannot load the seccomp filter (%s): %s", seccomp_describe(mode),
			strerror(rc < -1 ? -rc : errno));
	seccomp_release(ctx);
	return rc < 0 ? -1 : 0;
}
