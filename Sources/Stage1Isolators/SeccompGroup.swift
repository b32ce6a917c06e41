// The named syscall groups an app may use in its seccomp isolators. The lists are the ones rkt 1.30
// shipped (which it took from Docker's 2016 default profile), sorted; rkt's own default whitelist and
// blacklist are the Docker ones.

/// Named syscall sets for `os/linux/seccomp-retain-set` and `-remove-set` (`@scope/name`).
public enum SeccompGroup {
    /// `@appc.io/all` in a retain set disables filtering; `@appc.io/empty` in a remove set means the
    /// default whitelist (appc's reserved wildcards, handled by `AppIsolation.resolve`).
    public static let appcAll = "@appc.io/all"
    public static let appcEmpty = "@appc.io/empty"
    public static let rktDefaultWhitelistName = "@rkt/default-whitelist"
    public static let rktDefaultBlacklistName = "@rkt/default-blacklist"
    public static let dockerDefaultWhitelistName = "@docker/default-whitelist"
    public static let dockerDefaultBlacklistName = "@docker/default-blacklist"

    /// The syscalls of a named group, or nil if the name is not a group this stage1 knows.
    /// The two appc wildcards are not syscall lists and return nil too.
    public static func syscalls(of group: String) -> [String]? {
        switch group {
        case rktDefaultWhitelistName: rktDefaultWhitelist
        case rktDefaultBlacklistName: rktDefaultBlacklist
        case dockerDefaultWhitelistName: dockerDefaultWhitelist
        case dockerDefaultBlacklistName: dockerDefaultBlacklist
        default: nil
        }
    }

    /// Every group name `syscalls(of:)` answers, for error messages and documentation.
    public static let knownGroups = [
        appcAll, appcEmpty, dockerDefaultBlacklistName, dockerDefaultWhitelistName,
        rktDefaultBlacklistName, rktDefaultWhitelistName,
    ]

    /// rkt's default for apps without a seccomp isolator: Docker's whitelist, plus ARM's private
    /// syscalls on ARM (as rkt did).
    public static var rktDefaultWhitelist: [String] {
        #if arch(arm) || arch(arm64)
        return (dockerDefaultWhitelist + armAdditions).sorted()
        #else
        return dockerDefaultWhitelist
        #endif
    }

    public static var rktDefaultBlacklist: [String] { dockerDefaultBlacklist }

    /// Docker's 2016 default whitelist as rkt 1.30 carried it (309 names across all architectures;
    /// names that do not exist on the running architecture are skipped when compiling).
    public static let dockerDefaultWhitelist: [String] = [
        "_llseek", "_newselect", "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget",
        "capset", "chdir", "chmod", "chown", "chown32", "chroot", "clock_getres", "clock_gettime",
        "clock_nanosleep", "clone", "close", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_wait",
        "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
        "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
        "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
        "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync",
        "ftruncate", "ftruncate64", "futex", "futimesat", "get_robust_list", "get_thread_area", "getcpu",
        "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid",
        "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
        "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
        "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
        "io_cancel", "io_destroy", "io_getevents", "io_setup", "io_submit", "ioctl", "ioprio_get",
        "ioprio_set", "ipc", "kill", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
        "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
        "memfd_create", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall",
        "mmap", "mmap2", "modify_ldt", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
        "mq_timedsend", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
        "munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat", "pause", "personality", "pipe",
        "pipe2", "poll", "ppoll", "prctl", "pread64", "preadv", "prlimit64", "pselect6", "pwrite64", "pwritev",
        "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmsg",
        "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir",
        "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
        "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min",
        "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval",
        "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
        "select", "semctl", "semget", "semop", "semtimedop", "send", "sendfile", "sendfile64", "sendmmsg",
        "sendmsg", "sendto", "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32",
        "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
        "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
        "setreuid", "setreuid32", "setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr",
        "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigreturn",
        "socket", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "symlink",
        "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "syslog", "tee", "tgkill", "time",
        "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
        "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "truncate64", "ugetrlimit",
        "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4",
        "waitid", "waitpid", "write", "writev",
    ]

    /// Docker's 2016 default blacklist as rkt 1.30 carried it. (Docker also filtered `clone` and
    /// `personality` by argument; rkt left them out, and so do we.)
    public static let dockerDefaultBlacklist: [String] = [
        "_sysctl", "acct", "add_key", "adjtimex", "bpf", "clock_adjtime", "clock_settime", "create_module",
        "delete_module", "finit_module", "get_kernel_syms", "get_mempolicy", "init_module", "ioperm", "iopl",
        "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount", "move_pages",
        "name_to_handle_at", "nfsservctl", "open_by_handle_at", "perf_event_open", "pivot_root",
        "process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "reboot", "request_key",
        "set_mempolicy", "setns", "settimeofday", "stime", "swapoff", "swapon", "sysfs", "umount", "umount2",
        "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
    ]

    /// Syscalls rkt added to its default whitelist on ARM.
    static let armAdditions: [String] = [
        "arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush", "set_tls", "sync_file_range2",
    ]
}
