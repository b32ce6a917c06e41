// CNspawn: starting the pod's PID 1 in new namespaces, which Swift cannot do safely (no fork in a
// Swift process; clone flags are macros).
#ifndef CNSPAWN_H
#define CNSPAWN_H

#include <sys/types.h>

/// Which namespaces the pod gets (bits for `rkt_nspawn_clone_init`).
enum {
    RKT_NS_MOUNT = 1,
    RKT_NS_PID = 2,
    RKT_NS_UTS = 4,
    RKT_NS_IPC = 8,
    RKT_NS_NET = 16,
};

/// The step that failed in the child.
enum rkt_nspawn_step {
    RKT_NSPAWN_STEP_NONE = 0,
    RKT_NSPAWN_STEP_PIPE = 1,
    RKT_NSPAWN_STEP_CLONE = 2,
    RKT_NSPAWN_STEP_SETNS = 3,
    RKT_NSPAWN_STEP_EXEC = 4,
};

/// clone(2)s a child in the namespaces `ns` (RKT_NS_* bits); the child joins the network namespace
/// `netns_fd` first when it is >= 0 (instead of RKT_NS_NET), then execs `path` with `argv`/`envp`.
/// Raw system calls only in the child. Returns 0 and the child's pid once exec succeeded (the
/// close-on-exec report pipe reached EOF), or -1 with the failed step and errno.
int rkt_nspawn_clone_init(int ns, int netns_fd, const char *path, char *const *argv, char *const *envp,
                          pid_t *pid_out, int *step_out, int *errno_out);

/// 1 when `path` is the root of a cgroup2 file system (statfs magic), else 0.
int rkt_nspawn_is_cgroup2(const char *path);

/// Clears or sets FD_CLOEXEC on `fd`. Returns 0 or -1.
int rkt_nspawn_set_cloexec(int fd, int on);

#endif
