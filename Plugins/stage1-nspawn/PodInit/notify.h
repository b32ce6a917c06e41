// sd_notify for a pod run as a systemd Type=notify service (Documentation/stage1-nspawn.md,
// "Readiness and systemd"). Two halves:
//   - PID 1 of the pod binds one datagram socket per app that supports sd_notify (plan record
//     `notify PATH`; a plan mount puts it at /run/systemd/notify in the app's view), reads READY=1
//     and STATUS=… from them, decides when the pod is ready, and sends the pod's messages over a
//     socketpair to the waiter (plan record `notify-fd N`).
//   - The waiter (`rkt-pod-init --wait`, the service's main process in the host's namespaces)
//     relays them to $NOTIFY_SOCKET, adding MAINPID=<its pid>: systemd accepts notifications from
//     the main process only (NotifyAccess=main), so they must come from it. The socketpair end is
//     in $RKT_NOTIFY_FD.
#ifndef RKT_POD_INIT_NOTIFY_H
#define RKT_POD_INIT_NOTIFY_H

#include <signal.h>
#include "plan.h"

/// PID 1, before the plan's operations: binds the apps' sockets. 0, or -1 with errno (and the
/// failing path in `*what`).
int notify_bind_sockets(const struct plan *p, const char **what);

/// PID 1: a descriptor that is readable when an app sent something (an epoll set), or -1.
int notify_poll_fd(void);

/// PID 1: the app's process started (exec succeeded).
void notify_app_started(const struct plan *p, const struct app *a);

/// PID 1: reads what the apps sent (call when notify_poll_fd() is readable).
void notify_dispatch(const struct plan *p);

/// PID 1: sends READY=1 once every app has started and every app that supports sd_notify has
/// said READY=1 (an app that ended successfully no longer holds it back; after a failure the
/// pod is never ready). Cheap; call it whenever something changed.
void notify_check_ready(const struct plan *p);

/// The waiter: sigwaitinfo(2) that meanwhile relays the pod's messages to the service manager
/// (a plain sigwaitinfo when $RKT_NOTIFY_FD or $NOTIFY_SOCKET is missing). `pod_pid` is the
/// pod's PID 1, sent as X_RKT_POD_PID with READY=1.
int notify_sigwaitinfo(const sigset_t *mask, siginfo_t *info, pid_t pod_pid);

#endif
