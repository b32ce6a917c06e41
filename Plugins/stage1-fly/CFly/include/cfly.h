// CFly: the few things stage1-fly cannot do from Swift: fork+exec with raw syscalls only in the
// child, prctl (variadic), mount_setattr (no libc wrapper), O_PATH and statx (need _GNU_SOURCE).
#ifndef CFLY_H
#define CFLY_H

#include <signal.h>
#include <sys/types.h>

/// What the child does, in order: restore `mask`, stdin from /dev/null (if `stdin_null`),
/// chroot(root), chdir(workdir), setgroups, setgid, setuid, PR_SET_PDEATHSIG(SIGKILL), then
/// execve each of `paths` in turn with `argv` and `envp` until one works.
struct cfly_spawn_args {
    const char *root;
    const char *workdir;
    char *const *argv;
    char *const *paths;   // NULL-terminated candidate paths of the executable (inside root)
    char *const *envp;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t ngroups;
    int stdin_null;
    const sigset_t *mask; // the signal mask to restore in the child (may be NULL)
};

/// The step that failed (`*step_out`).
enum cfly_step {
    CFLY_STEP_NONE = 0,
    CFLY_STEP_FORK = 2,
    CFLY_STEP_STDIN = 3,
    CFLY_STEP_CHROOT = 4,
    CFLY_STEP_CHDIR = 5,
    CFLY_STEP_SETGROUPS = 6,
    CFLY_STEP_SETGID = 7,
    CFLY_STEP_SETUID = 8,
    CFLY_STEP_PDEATHSIG = 9,
    CFLY_STEP_EXEC = 10,
};

/// Starts the app as posix_spawn does (a child that shares our memory until it execs, while we
/// wait). Returns 0 and the pid once the exec succeeded;
/// -1 with the failed step and errno otherwise (the failed child is reaped; `*pid_out` is its pid
/// or -1). On an exec failure `*path_index_out` is the index in `paths` the errno belongs to.
int cfly_spawn(const struct cfly_spawn_args *args, pid_t *pid_out, int *step_out, int *errno_out,
               int *path_index_out);

/// open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC [| O_DIRECTORY]).
int cfly_open_path(const char *path, int directory);

/// Whether `path` (not followed if a symlink) is the root of a mount: 1 or 0, from statx's
/// STATX_ATTR_MOUNT_ROOT (Linux 5.8+); -1 when the kernel cannot tell (then read mountinfo).
int cfly_is_mount_root(const char *path);

/// Makes the mount at `path` and every mount below it read-only (mount_setattr, Linux 5.12+).
/// Returns 0, or -1 with errno (ENOSYS on older kernels).
int cfly_make_readonly_recursive(const char *path);

#endif
