// The plan file the planner (`stage1-nspawn run`/`enter`) writes for rkt-pod-init: a sequence of
// NUL-terminated strings. Top-level records and their arguments:
//   hostname NAME | loopback | interactive | stop-timeout MILLISECONDS | ready PATH | enter-pid PID
//   mkdir PATH MODE | file PATH MODE | symlink TARGET PATH | mknod PATH MODE MAJOR MINOR
//   mount SOURCE TARGET FSTYPE FLAGS DATA | ro PATH MODE | restrict PATH FLAGS | mask PATH | console PATH
//   app NAME, then the app's records until the next `app`:
//     rootfs PATH | argv N ARG... | paths N PATH... | env N NAME=VALUE... | cwd PATH | uid N | gid N
//     groups N GID... | log PATH | status PATH | created PATH | started PATH | pidfile PATH
//     cgroup PROCS-FILE | cgroup2 DIRECTORY | oom N | caps HEX-MASK | nnp | seccomp BPF-FILE
//     notify SOCKET-PATH (the app supports sd_notify: bind its socket there; notify.h)
//   notify-fd FD: PID 1's end of the socketpair to the waiter, for sd_notify (notify.h)
// Numbers are decimal except MODE (octal) and the capability mask (hex). Operations run in order.
#ifndef RKT_POD_INIT_PLAN_H
#define RKT_POD_INIT_PLAN_H

#include <stdint.h>
#include <sys/types.h>

#define MAX_APPS 64

enum op_kind { OP_MKDIR = 1, OP_FILE, OP_SYMLINK, OP_MKNOD, OP_MOUNT, OP_READONLY, OP_MASK, OP_CONSOLE, OP_RESTRICT };

struct op {
    int kind;
    const char *a, *b, *c, *d;
    long long n1, n2, n3;
};

struct app {
    const char *name, *rootfs, *cwd;
    char **argv, **paths, **env;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    const char *log_path, *status_path, *created_path, *started_path, *pid_path, *seccomp;
    // The app's cgroup v2 directory: the app is created in it (clone3 CLONE_INTO_CGROUP), which
    // spares the RCU grace period a migration costs.
    const char *cgroup2;
    char **cgroups;
    int ncgroups;
    int has_oom, oom;
    int has_caps;
    uint64_t caps;
    int nnp;
    // The seccomp filter, read at load time (the file is out of reach once the app's root changes).
    void *seccomp_filter;
    size_t seccomp_len;
    // Where PID 1 binds the app's sd_notify socket (a plan mount places it in the app's view).
    const char *notify_socket;
    // Run-time state of PID 1.
    pid_t pid;
    int done, status, out_fd, err_fd, log_fd;
};

struct plan {
    const char *hostname, *ready_path;
    int loopback, interactive;
    long long stop_timeout_ms;
    pid_t enter_pid;
    // sd_notify: PID 1's end of the socketpair to the waiter, -1 without.
    int notify_fd;
    struct op *ops;
    int nops;
    struct app apps[MAX_APPS];
    int napps;
    char error[256];
};

/// Reads and parses the plan. Returns 0, or -1 with `p->error` (or errno) saying why.
int plan_load(const char *path, struct plan *p);

/// The record name of an operation, for messages.
const char *op_name(int kind);

#endif
