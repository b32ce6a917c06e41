#define _GNU_SOURCE
#include "CNspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

struct report {
    int step;
    int err;
};

static void report_and_exit(int fd, int step) {
    struct report r = {step, errno};
    ssize_t n;
    do { n = write(fd, &r, sizeof r); } while (n < 0 && errno == EINTR);
    _exit(254);
}

int rkt_nspawn_clone_init(int ns, int netns_fd, const char *path, char *const *argv, char *const *envp,
                          pid_t *pid_out, int *step_out, int *errno_out) {
    *pid_out = -1;
    *step_out = RKT_NSPAWN_STEP_NONE;
    *errno_out = 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        *step_out = RKT_NSPAWN_STEP_PIPE;
        *errno_out = errno;
        return -1;
    }
    unsigned long flags = SIGCHLD;
    if (ns & RKT_NS_MOUNT) flags |= CLONE_NEWNS;
    if (ns & RKT_NS_PID) flags |= CLONE_NEWPID;
    if (ns & RKT_NS_UTS) flags |= CLONE_NEWUTS;
    if (ns & RKT_NS_IPC) flags |= CLONE_NEWIPC;
    if ((ns & RKT_NS_NET) && netns_fd < 0) flags |= CLONE_NEWNET;
    // Like fork (no new stack), but with namespace flags; the child only makes system calls.
    long pid = syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0) {
        *step_out = RKT_NSPAWN_STEP_CLONE;
        *errno_out = errno;
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) report_and_exit(p[1], RKT_NSPAWN_STEP_SETNS);
        execve(path, argv, envp);
        report_and_exit(p[1], RKT_NSPAWN_STEP_EXEC);
    }
    close(p[1]);
    *pid_out = (pid_t)pid;
    struct report r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(p[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(p[0]);
    if (got == 0) return 0;
    int status;
    while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {}
    *step_out = got == sizeof r ? r.step : RKT_NSPAWN_STEP_EXEC;
    *errno_out = got == sizeof r ? r.err : EIO;
    return -1;
}

int rkt_nspawn_set_cloexec(int fd, int on) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

int rkt_nspawn_is_cgroup2(const char *path) {
    struct statfs fs;
    return statfs(path, &fs) == 0 && fs.f_type == 0x63677270 ? 1 : 0;
}
