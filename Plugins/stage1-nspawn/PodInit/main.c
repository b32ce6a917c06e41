// rkt-pod-init: the pod supervisor of stage1-nspawn, PID 1 of the pod's PID namespace.
//
// Written in C on purpose: it stays resident for the pod's whole life, and a static Swift binary
// costs about 2.3 MB of RSS before doing anything, against the 2 MB budget (issue 4). All the
// decisions (users, environment, isolators, mounts, paths) are made by the Swift planner
// (`stage1-nspawn run`), which writes them to a plan file; this program only carries them out.
//
// Modes:
//   rkt-pod-init PLAN          PID 1 of the pod: mounts, starts the apps, relays their output,
//                              reaps, forwards signals, records exit statuses, exits with the pod's.
//   rkt-pod-init --wait PID    stays in the host's namespaces holding the pod lock: forwards
//                              termination signals to PID and exits with its status.
//   rkt-pod-init --enter PLAN  joins a running app's namespaces and cgroups, becomes the app's
//                              user with its capabilities and seccomp filter, and runs a command.
//
// The plan file is a sequence of NUL-terminated strings; see plan.h.
#define _GNU_SOURCE
#include "machined.h"
#include "notify.h"
#include "plan.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

static const char *prog = "rkt-pod-init";

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

// Atomic small-file write: a temporary file beside `path`, then rename(2).
static int write_file_atomic(const char *path, const char *content) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    int r = write_all(fd, content, strlen(content));
    if (close(fd) != 0) r = -1;
    if (r == 0) r = rename(tmp, path);
    if (r != 0) unlink(tmp);
    return r;
}

static void touch(const char *path) {
    if (!path) return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// MARK: pod-level operations

static int fd_path(const char *path, char *out, size_t size, int *fd_out) {
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    snprintf(out, size, "/proc/self/fd/%d", fd);
    *fd_out = fd;
    return 0;
}

// Adds `flags` (MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC) to the mount at `target`, keeping the
// ones it has (a bind remount replaces them all); recursively with mount_setattr when asked.
static int restrict_mount(const char *target, int recursive, unsigned long flags) {
    struct statvfs sv;
    unsigned long keep = 0;
    if (statvfs(target, &sv) == 0) keep = sv.f_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC);
    if (recursive) {
        uint64_t set = (flags & MS_RDONLY ? 0x1 : 0) | (flags & MS_NOSUID ? 0x2 : 0) | (flags & MS_NODEV ? 0x4 : 0) |
                       (flags & MS_NOEXEC ? 0x8 : 0);
        struct { uint64_t set, clr, propagation, userns; } attr = {set, 0, 0, 0};
        if (syscall(SYS_mount_setattr, AT_FDCWD, target, (unsigned)AT_RECURSIVE, &attr, sizeof attr) == 0) return 0;
    }
    return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | keep | (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)), NULL);
}

// Mounts through an O_PATH descriptor of the target, so a symlink swapped in cannot redirect it.
static int op_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data) {
    char p[64];
    int fd;
    if (fd_path(target, p, sizeof p, &fd) != 0) return -1;
    int r = mount(*src ? src : NULL, p, *fstype ? fstype : NULL, flags, *data ? data : NULL);
    int e = errno;
    close(fd);
    unsigned long restrictions = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
    if (r == 0 && (flags & MS_BIND) && restrictions) {
        // A bind ignores these flags: apply them with a remount. The descriptor still names what
        // was under the new mount, so look the path up again.
        if (fd_path(target, p, sizeof p, &fd) != 0) return -1;
        r = restrict_mount(p, (flags & MS_REC) != 0, restrictions);
        e = errno;
        close(fd);
    }
    errno = e;
    return r;
}

// Hides a path: /dev/null over a file, an empty read-only tmpfs over a directory. Missing is fine.
static int op_mask(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) return op_mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=000");
    return op_mount("/dev/null", path, "", MS_BIND, "");
}

// Makes a path read-only (a bind onto itself, remounted). Missing is fine.
// mode 0: bind onto itself, then read-only; 1: the same, recursively; 2: the mount already there.
static int op_readonly(const char *path, int mode) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (mode == 2) {
        char p[64];
        int fd;
        if (fd_path(path, p, sizeof p, &fd) != 0) return -1;
        int r = restrict_mount(p, 0, MS_RDONLY);
        int e = errno;
        close(fd);
        errno = e;
        return r;
    }
    return op_mount(path, path, "", MS_BIND | MS_RDONLY | (mode == 1 ? MS_REC : 0), "");
}

static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static int run_op(const struct op *o, const struct plan *plan) {
    switch (o->kind) {
    case OP_MKDIR:
        if (mkdir(o->a, (mode_t)o->n1) != 0 && errno != EEXIST) return -1;
        return 0;
    case OP_FILE: {
        int fd = open(o->a, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, (mode_t)(o->n1 ? o->n1 : 0644));
        if (fd < 0) return -1;
        close(fd);
        return 0;
    }
    case OP_SYMLINK:
        if (symlink(o->a, o->b) != 0 && errno != EEXIST) return -1;
        return 0;
    case OP_MKNOD:
        if (mknod(o->a, (mode_t)o->n1, makedev((unsigned)o->n2, (unsigned)o->n3)) != 0 && errno != EEXIST) return -1;
        return chmod(o->a, (mode_t)(o->n1 & 07777));
    case OP_MOUNT:
        return op_mount(o->a, o->b, o->c, (unsigned long)o->n1, o->d);
    case OP_READONLY:
        return op_readonly(o->a, (int)o->n1);
    case OP_RESTRICT: {
        char p[64];
        int fd;
        if (fd_path(o->a, p, sizeof p, &fd) != 0) return -1;
        int r = restrict_mount(p, 0, (unsigned long)o->n1);
        int e = errno;
        close(fd);
        errno = e;
        return r;
    }
    case OP_MASK:
        return op_mask(o->a);
    case OP_CONSOLE: {
        // The terminal of an interactive pod becomes its /dev/console.
        if (!plan->interactive || !isatty(0)) return 0;
        char *tty = ttyname(0);
        if (!tty) return 0;
        int fd = open(o->a, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return -1;
        close(fd);
        return op_mount(tty, o->a, "", MS_BIND, "");
    }
    }
    errno = EINVAL;
    return -1;
}

// MARK: becoming the app (child side: system calls only, then exec or report)

struct report {
    int step;
    int err;
    int index;
};

enum {
    STEP_NONE = 0, STEP_CGROUP, STEP_OOM, STEP_STDIO, STEP_MOUNTNS, STEP_PIVOT, STEP_BOUNDING,
    STEP_GROUPS, STEP_GID, STEP_UID, STEP_NNP, STEP_SECCOMP, STEP_CWD, STEP_EXEC,
};

static const char *step_names[] = {
    "", "join its cgroup", "set its OOM score adjustment", "set up its standard streams",
    "create its mount namespace", "change its root", "drop capabilities from its bounding set",
    "set its supplementary groups", "set its group", "set its user", "set no_new_privs", "load its seccomp filter", "change to its working directory", "exec",
};

static int apply_caps(uint64_t caps) {
    // Bounding set first, while we still hold CAP_SETPCAP.
    for (int c = 0; c <= 63; c++) {
        if (caps & (1ULL << c)) continue;
        if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) break;  // past the kernel's last capability
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) return -1;
    }
    return 0;
}

// Turns this process into the app and execs it; on failure writes a report to `report_fd` and
// exits. `enter` mode passes pivot = 0 (setns already put us in the app's mount namespace).
static void become_app(const struct app *a, int report_fd, int pivot, char *const *argv, char *const *paths,
                       char *const *env) {
    struct report r = {STEP_NONE, 0, -1};
    for (int i = 0; i < a->ncgroups; i++) {
        int fd = open(a->cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, "0\n", 2) != 0) { r.step = STEP_CGROUP; goto fail; }
        close(fd);
    }
    if (a->has_oom) {
        char text[32];
        snprintf(text, sizeof text, "%d\n", a->oom);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, text, strlen(text)) != 0) { r.step = STEP_OOM; goto fail; }
        close(fd);
    }
    if (pivot) {
        if (unshare(CLONE_NEWNS) != 0) { r.step = STEP_MOUNTNS; goto fail; }
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) { r.step = STEP_MOUNTNS; goto fail; }
        if (chdir(a->rootfs) != 0) { r.step = STEP_PIVOT; goto fail; }
        if (syscall(SYS_pivot_root, ".", ".") != 0) { r.step = STEP_PIVOT; goto fail; }
        if (umount2(".", MNT_DETACH) != 0) { r.step = STEP_PIVOT; goto fail; }
        if (chdir("/") != 0) { r.step = STEP_PIVOT; goto fail; }
    }
    if (a->has_caps && apply_caps(a->caps) != 0) { r.step = STEP_BOUNDING; goto fail; }
    if (setgroups(a->ngroups, a->ngroups ? a->groups : NULL) != 0) { r.step = STEP_GROUPS; goto fail; }
    if (setresgid(a->gid, a->gid, a->gid) != 0) { r.step = STEP_GID; goto fail; }
    // No capset: execve computes the app's capabilities from the bounding set. Root apps get the
    // set (rkt), other users get nothing (their permitted set is cleared by the uid change).
    if (setresuid(a->uid, a->uid, a->uid) != 0) { r.step = STEP_UID; goto fail; }
    if (chdir(a->cwd ? a->cwd : "/") != 0) { r.step = STEP_CWD; goto fail; }
    if (a->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { r.step = STEP_NNP; goto fail; }
    if (a->seccomp_filter) {
        // Last, so the filter only has to allow execve. Without no_new_privs the kernel wants
        // CAP_SYS_ADMIN here: root apps still hold it until exec, and the planner forces
        // no_new_privs on other users with a filter (as rkt).
        struct sock_fprog prog = {(unsigned short)(a->seccomp_len / sizeof(struct sock_filter)), (struct sock_filter *)a->seccomp_filter};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) { r.step = STEP_SECCOMP; goto fail; }
    }
    {
        int best_err = ENOENT, best_index = 0;
        for (int i = 0; paths[i] != NULL; i++) {
            execve(paths[i], argv, env);
            int e = errno;
            // As execvp: a file that exists but cannot run beats a later "not found".
            if (i == 0 || (e != ENOENT && e != ENOTDIR && (best_err == ENOENT || best_err == ENOTDIR))) {
                best_err = e;
                best_index = i;
            }
        }
        r.step = STEP_EXEC;
        r.index = best_index;
        errno = best_err;
    }
fail:
    r.err = errno;
    write_all(report_fd, &r, sizeof r);
    _exit(r.step == STEP_EXEC ? (r.err == ENOENT || r.err == ENOTDIR ? 127 : 126) : 254);
}

// Reads the child's report: 0 when the exec happened (EOF), else the report.
static int read_report(int fd, struct report *r) {
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fd, (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got == 0 ? 0 : -1;
}

static void describe_failure(const struct app *a, const struct report *r, char *const *argv, char *const *paths, char *out,
                             size_t size) {
    if (r->step == STEP_EXEC) {
        const char *name = argv[0];
        if (strchr(name, '/') && r->index >= 0) name = paths[r->index];
        snprintf(out, size, "Error: Unable to open \"%s\": %s", name, strerror(r->err));
    } else {
        snprintf(out, size, "%s: app %s: cannot %s: %s", prog, a->name,
                 r->step > 0 && r->step <= STEP_EXEC ? step_names[r->step] : "start", strerror(r->err));
    }
}

// MARK: PID 1

static struct plan plan;
static int signal_fd = -1;

static int status_of(int wstatus) {
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return 254;
}

static void record_status(struct app *a, int status) {
    a->done = 1;
    a->status = status;
    if (a->status_path) {
        char text[16];
        snprintf(text, sizeof text, "%d\n", status);
        if (write_file_atomic(a->status_path, text) != 0) say("%s: cannot write %s: %s", prog, a->status_path, strerror(errno));
    }
}

static void relay(struct app *a, int *fd, int out) {
    char buf[16384];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    if (a->log_fd >= 0) write_all(a->log_fd, buf, (size_t)n);
    write_all(out, buf, (size_t)n);
}

// fork(), with the child born in the cgroup v2 directory `dir` when given (clone3 with
// CLONE_INTO_CGROUP: no migration, so no RCU grace period). Falls back to fork and a write to
// cgroup.procs where clone3 cannot do it.
static pid_t spawn_into_cgroup(const char *dir) {
    if (!dir) return fork();
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        struct {
            uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
        } args;
        memset(&args, 0, sizeof args);
        args.flags = 0x200000000ULL;  // CLONE_INTO_CGROUP
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)fd;
        long pid = syscall(SYS_clone3, &args, sizeof args);
        int e = errno;
        if (pid == 0) return 0;
        close(fd);
        if (pid > 0) return (pid_t)pid;
        errno = e;
    }
    pid_t pid = fork();
    if (pid == 0) {
        char procs[4096];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
        int pfd = open(procs, O_WRONLY | O_CLOEXEC);
        if (pfd >= 0) {
            write_all(pfd, "0\n", 2);
            close(pfd);
        }
    }
    return pid;
}

static void start_app(struct app *a) {
    int report[2], out[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(report, O_CLOEXEC) != 0) goto cannot;
    if (!plan.interactive && (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)) goto cannot;
    if (a->created_path) touch(a->created_path);
    pid_t pid = spawn_into_cgroup(a->cgroup2);
    if (pid < 0) goto cannot;
    if (pid == 0) {
        // The app starts with no signal blocked and every disposition at its default, whatever
        // the processes before us (stage0, the planner) left in the mask we inherited.
        for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct report r = {STEP_STDIO, 0, -1};
        if (!plan.interactive) {
            // The app gets its own session; its output goes through us to the log and our output.
            setsid();
            int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
                r.err = errno;
                write_all(report[1], &r, sizeof r);
                _exit(254);
            }
        }
        become_app(a, report[1], 1, a->argv, a->paths, a->env);
    }
    close(report[1]);
    if (!plan.interactive) {
        close(out[1]);
        close(err[1]);
        a->out_fd = out[0];
        a->err_fd = err[0];
    }
    a->pid = pid;
    struct report r;
    if (read_report(report[0], &r) == 0) {
        close(report[0]);
        if (a->started_path) touch(a->started_path);
        notify_app_started(&plan, a);
        if (a->pid_path) {
            char text[16];
            snprintf(text, sizeof text, "%d\n", (int)pid);
            write_file_atomic(a->pid_path, text);
        }
        return;
    }
    close(report[0]);
    char message[1024];
    describe_failure(a, &r, a->argv, a->paths, message, sizeof message);
    say("%s", message);
    if (a->log_fd >= 0) {
        write_all(a->log_fd, message, strlen(message));
        write_all(a->log_fd, "\n", 1);
    }
    return;  // the child exits with 126/127/254; SIGCHLD records it
cannot:
    say("%s: app %s: cannot start: %s", prog, a->name, strerror(errno));
    record_status(a, 254);
}

static void signal_apps(int sig) {
    for (int i = 0; i < plan.napps; i++) {
        struct app *a = &plan.apps[i];
        if (a->pid > 0 && !a->done) {
            // The app leads its own process group unless interactive.
            if (plan.interactive || kill(-a->pid, sig) != 0) kill(a->pid, sig);
        }
    }
}

// The apps' open output pipes, for poll(2), after `first` slots the caller fills itself.
struct pipe_set {
    struct pollfd fds[2 + 2 * MAX_APPS];
    struct app *owners[2 + 2 * MAX_APPS];
    int streams[2 + 2 * MAX_APPS];  // 1 stdout, 2 stderr
    int n, first;
};

static void collect_pipes(struct pipe_set *set, int first) {
    set->n = set->first = first;
    for (int i = 0; i < plan.napps; i++) {
        struct app *a = &plan.apps[i];
        int fds[2] = {a->out_fd, a->err_fd};
        for (int k = 0; k < 2; k++) {
            if (fds[k] < 0) continue;
            set->fds[set->n] = (struct pollfd){.fd = fds[k], .events = POLLIN};
            set->owners[set->n] = a;
            set->streams[set->n] = k + 1;
            set->n++;
        }
    }
}

static void relay_ready(struct pipe_set *set) {
    for (int i = set->first; i < set->n; i++) {
        if (!(set->fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        struct app *a = set->owners[i];
        relay(a, set->streams[i] == 1 ? &a->out_fd : &a->err_fd, set->streams[i]);
    }
}

static int pod_init(const char *plan_path) {
    prog = "rkt-pod-init";
    if (plan_load(plan_path, &plan) != 0) {
        say("%s: cannot read the plan %s: %s", prog, plan_path, plan.error[0] ? plan.error : strerror(errno));
        return 254;
    }
    // Whatever descriptors the caller left open (a shell's, stage0's) must not reach the apps
    // (runc CVE-2024-21626 class): close-on-exec for everything above stderr.
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    // Keep the apps (root in the pod, but without CAP_SYS_PTRACE) out of /proc/1: no handle on
    // this binary or our descriptors through /proc/1/exe or /proc/1/fd (runc CVE-2019-5736 class).
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // Nothing the pod mounts may propagate back to the host.
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
        say("%s: cannot make the pod's mounts private: %s", prog, strerror(errno));
        return 254;
    }
    if (plan.hostname && sethostname(plan.hostname, strlen(plan.hostname)) != 0) {
        say("%s: cannot set the hostname %s: %s", prog, plan.hostname, strerror(errno));
        return 254;
    }
    if (plan.loopback && loopback_up() != 0) {
        say("%s: cannot bring up the loopback interface: %s", prog, strerror(errno));
        return 254;
    }
    // Before the operations: a plan mount places each socket in its app's view.
    const char *notify_socket = "";
    if (notify_bind_sockets(&plan, &notify_socket) != 0) {
        say("%s: cannot bind the sd_notify socket %s: %s", prog, notify_socket, strerror(errno));
        return 254;
    }
    for (int i = 0; i < plan.nops; i++) {
        const struct op *o = &plan.ops[i];
        if (run_op(o, &plan) != 0) {
            say("%s: cannot %s %s%s%s: %s", prog, op_name(o->kind), o->a, o->b[0] ? " on " : "", o->b, strerror(errno));
            return 254;
        }
    }
    for (int i = 0; i < plan.napps; i++) {
        struct app *a = &plan.apps[i];
        a->log_fd = -1;
        a->out_fd = a->err_fd = -1;
        if (a->log_path) {
            a->log_fd = open(a->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
            if (a->log_fd < 0) say("%s: warning: cannot open the log %s: %s", prog, a->log_path, strerror(errno));
        }
    }

    sigset_t mask;
    sigemptyset(&mask);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&mask, sigs[i]);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd < 0) {
        say("%s: signalfd: %s", prog, strerror(errno));
        return 254;
    }
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < plan.napps; i++) start_app(&plan.apps[i]);
    if (plan.ready_path) {
        // rkt/supervisor-status -> ready, replaced atomically.
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", plan.ready_path);
        unlink(tmp);
        if (symlink("ready", tmp) == 0) rename(tmp, plan.ready_path);
    }

    int failed_status = -1;
    long long kill_at = -1;
    for (;;) {
        int running = 0;
        for (int i = 0; i < plan.napps; i++)
            if (!plan.apps[i].done) running++;
        notify_check_ready(&plan);  // also when every app already ended successfully
        if (running == 0) break;

        struct pipe_set set;
        set.fds[0] = (struct pollfd){.fd = signal_fd, .events = POLLIN};
        set.fds[1] = (struct pollfd){.fd = notify_poll_fd(), .events = POLLIN};  // -1 (ignored) without sd_notify
        collect_pipes(&set, 2);
        int timeout = -1;
        if (kill_at >= 0) {
            long long left = kill_at - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        int ready = poll(set.fds, (nfds_t)set.n, timeout);
        if (ready < 0 && errno != EINTR) break;
        if (kill_at >= 0 && now_ms() >= kill_at) {
            signal_apps(SIGKILL);
            kill_at = -1;
        }
        relay_ready(&set);
        if (set.fds[1].revents & POLLIN) notify_dispatch(&plan);
        if (!(set.fds[0].revents & POLLIN)) continue;
        struct signalfd_siginfo si;
        while (read(signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGCHLD) continue;  // reaped below
            if (si.ssi_signo == SIGINT && plan.interactive) continue;  // the terminal sent it to the app too
            // stop: TERM the apps (USR1/USR2 pass through), KILL what is left after the timeout.
            int sig = si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2 ? (int)si.ssi_signo : SIGTERM;
            signal_apps(sig);
            if (kill_at < 0 && sig == SIGTERM) kill_at = now_ms() + plan.stop_timeout_ms;
        }
        for (;;) {
            int wstatus;
            pid_t pid = waitpid(-1, &wstatus, WNOHANG);
            if (pid <= 0) break;
            for (int i = 0; i < plan.napps; i++) {
                struct app *a = &plan.apps[i];
                if (a->pid != pid || a->done) continue;
                int status = status_of(wstatus);
                record_status(a, status);
                // rkt: the pod ends when one app fails; the others are stopped.
                if (status != 0 && failed_status < 0) {
                    failed_status = status;
                    signal_apps(SIGTERM);
                    if (kill_at < 0) kill_at = now_ms() + plan.stop_timeout_ms;
                }
            }
        }
    }
    // Drain what the apps wrote last (a daemonized grandchild may hold a pipe: bounded wait).
    long long drain_until = now_ms() + 200;
    for (;;) {
        struct pipe_set set;
        collect_pipes(&set, 0);
        long long left = drain_until - now_ms();
        if (set.n == 0 || left <= 0) break;
        if (poll(set.fds, (nfds_t)set.n, (int)left) <= 0) break;
        relay_ready(&set);
    }
    // Whatever the apps left behind dies with the pod.
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
    return failed_status >= 0 ? failed_status : 0;
}

// MARK: waiter (host side, holds the pod lock)

static int wait_mode(const char *pid_text) {
    prog = "rkt-pod-init --wait";
    char *end;
    long value = strtol(pid_text, &end, 10);
    if (*pid_text == 0 || *end != 0 || value <= 0) {
        say("%s: bad pid \"%s\"", prog, pid_text);
        return 254;
    }
    pid_t pid = (pid_t)value;
    sigset_t mask;
    sigemptyset(&mask);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&mask, sigs[i]);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    for (;;) {
        int wstatus;
        pid_t r = waitpid(pid, &wstatus, WNOHANG);
        if (r == pid) {
            machined_unregister();
            return status_of(wstatus);
        }
        if (r < 0 && errno != EINTR) return 254;
        siginfo_t info;
        int sig = notify_sigwaitinfo(&mask, &info, pid);  // relays the pod's sd_notify messages meanwhile
        if (sig < 0 || sig == SIGCHLD) continue;
        if (info.si_code == SI_KERNEL) continue;  // the terminal's signal reached the pod too
        kill(pid, SIGTERM);
    }
}

// MARK: enter

static int enter_mode(const char *plan_path) {
    prog = "rkt-pod-init --enter";
    if (plan_load(plan_path, &plan) != 0) {
        say("%s: cannot read the plan %s: %s", prog, plan_path, plan.error[0] ? plan.error : strerror(errno));
        return 254;
    }
    if (plan.napps != 1 || plan.enter_pid <= 0) {
        say("%s: the plan names no app process to enter", prog);
        return 254;
    }
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    struct app *a = &plan.apps[0];
    // Open every namespace first: after joining the mount namespace, the host's /proc is gone.
    const char *kinds[] = {"cgroup", "ipc", "uts", "net", "pid", "mnt"};
    int types[] = {CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS};
    int fds[6];
    for (int i = 0; i < 6; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)plan.enter_pid, kinds[i]);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            say("%s: cannot open %s: %s", prog, path, strerror(errno));
            return 254;
        }
    }
    // Join the app's cgroups while their host paths are visible.
    for (int i = 0; i < a->ncgroups; i++) {
        int fd = open(a->cgroups[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, "0\n", 2) != 0) {
            say("%s: cannot join the cgroup %s: %s", prog, a->cgroups[i], strerror(errno));
            return 254;
        }
        close(fd);
    }
    if (a->cgroup2) {
        char procs[4096];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", a->cgroup2);
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, "0\n", 2) != 0) {
            say("%s: cannot join the cgroup %s: %s", prog, a->cgroup2, strerror(errno));
            return 254;
        }
        close(fd);
    }
    a->ncgroups = 0;
    for (int i = 0; i < 6; i++) {
        if (setns(fds[i], types[i]) != 0) {
            say("%s: cannot join the app's %s namespace: %s", prog, kinds[i], strerror(errno));
            return 254;
        }
        close(fds[i]);
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return 254;
    // The PID namespace applies to children only.
    pid_t pid = fork();
    if (pid < 0) {
        say("%s: fork: %s", prog, strerror(errno));
        return 254;
    }
    if (pid == 0) become_app(a, report[1], 0, a->argv, a->paths, a->env);
    close(report[1]);
    struct report r;
    if (read_report(report[0], &r) != 0) {
        char message[1024];
        describe_failure(a, &r, a->argv, a->paths, message, sizeof message);
        say("%s", message);
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0) {
        if (errno != EINTR) return 254;
    }
    return status_of(wstatus);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--wait") == 0) return wait_mode(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--enter") == 0) return enter_mode(argv[2]);
    if (argc == 2 && argv[1][0] != '-') return pod_init(argv[1]);
    say("usage: rkt-pod-init PLAN | --wait PID | --enter PLAN");
    return 254;
}
