#define _GNU_SOURCE
#include "cfly.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

struct cfly_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

struct cfly_report {
    int step;
    int err;
    int index;
};

struct cfly_child {
    const struct cfly_spawn_args *args;
    pid_t parent;
    struct cfly_report report;  // written by the child, which shares our memory until it execs
};

// Child side (CLONE_VM | CLONE_VFORK: our memory, our suspended parent): raw system calls only,
// nothing that takes a lock or changes process-wide state, then exec or _exit. The credentials
// are set with direct system calls: glibc's wrappers would signal the parent's threads.
static int child(void *opaque) {
    struct cfly_child *c = opaque;
    const struct cfly_spawn_args *a = c->args;
    struct cfly_report r = {0, 0, -1};
    if (a->stdin_null) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, 0) < 0) { r.step = CFLY_STEP_STDIN; goto fail; }
        if (fd != 0) close(fd);
    }
    if (chroot(a->root) != 0) { r.step = CFLY_STEP_CHROOT; goto fail; }
    if (chdir("/") != 0) { r.step = CFLY_STEP_CHROOT; goto fail; }
    if (chdir(a->workdir) != 0) { r.step = CFLY_STEP_CHDIR; goto fail; }
    if (syscall(SYS_setgroups, a->ngroups, a->ngroups ? a->groups : NULL) != 0) { r.step = CFLY_STEP_SETGROUPS; goto fail; }
    if (syscall(SYS_setgid, a->gid) != 0) { r.step = CFLY_STEP_SETGID; goto fail; }
    if (syscall(SYS_setuid, a->uid) != 0) { r.step = CFLY_STEP_SETUID; goto fail; }
    // fly has no supervisor: if the plugin (which holds the pod lock) dies, the app goes with it,
    // as it would in rkt's fly where the app *is* the rkt process. Set after the uid change,
    // which clears it.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) { r.step = CFLY_STEP_PDEATHSIG; goto fail; }
    if (getppid() != c->parent) _exit(137);
    // The parent's handlers must not run here, on its memory: handled signals go back to their
    // default (exec would do it anyway), then the caller's mask is restored.
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
            signal(sig, SIG_DFL);
        }
    }
    if (a->mask) sigprocmask(SIG_SETMASK, a->mask, NULL);
    {
        int best_err = ENOENT, best_index = 0;
        for (int i = 0; a->paths[i] != NULL; i++) {
            execve(a->paths[i], a->argv, a->envp);
            int e = errno;
            // As execvp: a file that exists but cannot be run beats a later "not found".
            if (i == 0 || (e != ENOENT && e != ENOTDIR && (best_err == ENOENT || best_err == ENOTDIR))) {
                best_err = e;
                best_index = i;
            }
        }
        r.step = CFLY_STEP_EXEC;
        r.index = best_index;
        errno = best_err;
    }
fail:
    r.err = errno;
    c->report = r;
    _exit(r.step == CFLY_STEP_EXEC ? (r.err == ENOENT || r.err == ENOTDIR ? 127 : 126) : 254);
}

int cfly_spawn(const struct cfly_spawn_args *a, pid_t *pid_out, int *step_out, int *errno_out,
               int *path_index_out) {
    *pid_out = -1;
    *step_out = CFLY_STEP_NONE;
    *errno_out = 0;
    *path_index_out = -1;
    // As posix_spawn: the child borrows our memory until it execs, so nothing (page tables of a
    // 70 MB executable included) is copied, and reports a failure in `c.report` before _exit.
    struct cfly_child c = {a, getpid(), {CFLY_STEP_NONE, 0, -1}};
    const size_t stack_size = 64 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        *step_out = CFLY_STEP_FORK;
        *errno_out = errno;
        return -1;
    }
    pid_t pid = clone(child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
    int clone_errno = errno;
    munmap(stack, stack_size);
    if (pid < 0) {
        *step_out = CFLY_STEP_FORK;
        *errno_out = clone_errno;
        return -1;
    }
    *pid_out = pid;
    if (c.report.step == CFLY_STEP_NONE) return 0;  // the exec succeeded
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    *step_out = c.report.step;
    *errno_out = c.report.err;
    *path_index_out = c.report.index;
    return -1;
}

int cfly_open_path(const char *path, int directory) {
    return open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
}

int cfly_is_mount_root(const char *path) {
#ifdef STATX_ATTR_MOUNT_ROOT
    struct statx sx;
    if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &sx) != 0) return -1;
    if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) return -1;
    return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ? 1 : 0;
#else
    (void)path;
    return -1;
#endif
}

int cfly_make_readonly_recursive(const char *path) {
    struct cfly_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    long r = syscall(SYS_mount_setattr, AT_FDCWD, path, (unsigned)AT_RECURSIVE, &attr, sizeof attr);
    return r == 0 ? 0 : -1;
}
