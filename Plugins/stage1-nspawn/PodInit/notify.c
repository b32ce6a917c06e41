// sd_notify for stage1-nspawn pods; see notify.h for the two halves and
// Documentation/stage1-nspawn.md for the semantics.
#define _GNU_SOURCE
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void warn(const char *fmt, const char *a, const char *b) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "rkt-pod-init: warning: ");
    n += snprintf(buf + n, sizeof buf - (size_t)n, fmt, a, b);
    if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}

// MARK: PID 1

static int app_fd[MAX_APPS];
static char app_started[MAX_APPS], app_ready[MAX_APPS];
static int epoll_fd = -1, ready_sent;

int notify_bind_sockets(const struct plan *p, const char **what) {
    for (int i = 0; i < p->napps; i++) {
        const struct app *a = &p->apps[i];
        app_fd[i] = -1;
        if (!a->notify_socket) continue;
        *what = a->notify_socket;
        if (epoll_fd < 0 && (epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) return -1;
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return -1;
        // The path can be longer than sun_path: bind by name inside its directory, through
        // /proc/self/fd (short whatever the pod directory's depth).
        const char *slash = strrchr(a->notify_socket, '/');
        char dir[4096];
        size_t dirlen = slash ? (size_t)(slash - a->notify_socket) : 0;
        if (!slash || dirlen >= sizeof dir) { errno = ENAMETOOLONG; close(fd); return -1; }
        memcpy(dir, a->notify_socket, dirlen);
        dir[dirlen] = 0;
        int dirfd = open(dirlen ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) { close(fd); return -1; }
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        int len = snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd, slash + 1);
        if (len >= (int)sizeof addr.sun_path) { close(dirfd); close(fd); errno = ENAMETOOLONG; return -1; }
        unlinkat(dirfd, slash + 1, 0);  // left by an earlier start of the same pod
        int r = bind(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)len + 1));
        // Any app user may send (the socket is reachable from this app's view only).
        if (r == 0) r = fchmodat(dirfd, slash + 1, 0666, 0);
        int e = errno;
        close(dirfd);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (r != 0 || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            if (r == 0) e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        app_fd[i] = fd;
    }
    return 0;
}

int notify_poll_fd(void) { return epoll_fd; }

void notify_app_started(const struct plan *p, const struct app *a) {
    long i = a - p->apps;
    if (i >= 0 && i < MAX_APPS) app_started[i] = 1;
}

static void to_waiter(const struct plan *p, const char *message, size_t len) {
    if (p->notify_fd < 0) return;
    // Never block PID 1 on a slow or gone waiter.
    ssize_t n = send(p->notify_fd, message, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
}

void notify_check_ready(const struct plan *p) {
    if (ready_sent || p->notify_fd < 0) return;
    for (int i = 0; i < p->napps; i++) {
        const struct app *a = &p->apps[i];
        if (a->done) {
            if (a->status != 0) { ready_sent = 1; return; }  // the pod is failing: never ready
            continue;
        }
        if (!app_started[i]) return;
        if (a->notify_socket && !app_ready[i]) return;
    }
    ready_sent = 1;
    to_waiter(p, "READY=1", 7);
}

// One datagram of an app: READY=1 counts, STATUS=… is passed on with the app's name; everything
// else (MAINPID=, WATCHDOG=, FDSTORE=, descriptors) stays in the pod: an app must not steer the
// service manager beyond its own readiness.
static void app_message(const struct plan *p, int i, char *text, size_t len) {
    text[len] = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strcmp(line, "READY=1")) {
            app_ready[i] = 1;
        } else if (!strncmp(line, "STATUS=", 7)) {
            char out[1024];
            int n = snprintf(out, sizeof out, "STATUS=%s: %s", p->apps[i].name, line + 7);
            if (n > (int)sizeof out - 1) n = sizeof out - 1;
            to_waiter(p, out, (size_t)n);
        }
    }
}

void notify_dispatch(const struct plan *p) {
    if (epoll_fd < 0) return;
    struct epoll_event events[MAX_APPS];
    int n = epoll_wait(epoll_fd, events, MAX_APPS, 0);
    for (int k = 0; k < n; k++) {
        int i = (int)events[k].data.u32;
        // Bounded, so an app flooding its socket cannot starve the rest of the supervisor
        // (level-triggered: what is left is reported again).
        for (int budget = 32; budget > 0; budget--) {
            char buf[4097];
            // No control buffer: descriptors an app passes are closed by the kernel, never ours.
            ssize_t len = recv(app_fd[i], buf, sizeof buf - 1, MSG_DONTWAIT);
            if (len < 0) break;
            app_message(p, i, buf, (size_t)len);
        }
    }
    notify_check_ready(p);
}

// MARK: the waiter

static int waiter_ready = 0, channel = -1, signal_fd = -1, out_fd = -1;
static struct sockaddr_un manager;
static socklen_t manager_len;

static void waiter_init(const sigset_t *mask) {
    waiter_ready = 1;
    const char *fd_text = getenv("RKT_NOTIFY_FD"), *socket_path = getenv("NOTIFY_SOCKET");
    if (!fd_text || !*fd_text) return;
    int fd = atoi(fd_text);
    if (fd < 3) return;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    size_t len = socket_path ? strlen(socket_path) : 0;
    if (len < 2 || len >= sizeof manager.sun_path || (socket_path[0] != '/' && socket_path[0] != '@')) {
        warn("NOTIFY_SOCKET=\"%s\" is not a path or an abstract socket name%s; the pod's readiness is not reported",
             socket_path ? socket_path : "", "");
        close(fd);
        return;
    }
    manager.sun_family = AF_UNIX;
    memcpy(manager.sun_path, socket_path, len);
    if (socket_path[0] == '@') manager.sun_path[0] = 0;  // abstract: no terminating NUL counted
    manager_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (socket_path[0] == '@' ? 0 : 1));
    out_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    signal_fd = signalfd(-1, mask, SFD_CLOEXEC);
    if (out_fd < 0 || signal_fd < 0) {
        warn("cannot set up the relay to NOTIFY_SOCKET %s: %s", socket_path, strerror(errno));
        close(fd);
        return;
    }
    channel = fd;
}

static void relay(const char *message, size_t len, pid_t pod_pid) {
    char out[1200];
    int is_ready = 0;
    for (const char *s = message; s < message + len;) {
        const char *end = memchr(s, '\n', (size_t)(message + len - s));
        size_t n = end ? (size_t)(end - s) : (size_t)(message + len - s);
        if (n == 7 && !memcmp(s, "READY=1", 7)) is_ready = 1;
        s += n + 1;
    }
    int n = is_ready ? snprintf(out, sizeof out, "MAINPID=%d\n%.*s\nX_RKT_POD_PID=%d", (int)getpid(), (int)len, message, (int)pod_pid)
                     : snprintf(out, sizeof out, "%.*s", (int)len, message);
    if (n > (int)sizeof out - 1) n = sizeof out - 1;
    static int warned;
    if (sendto(out_fd, out, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&manager, manager_len) < 0 && !warned) {
        warned = 1;
        warn("cannot notify the service manager at NOTIFY_SOCKET: %s%s", strerror(errno), "");
    }
}

// Relays everything queued; closes the channel at its end (PID 1 is gone).
static void drain_channel(pid_t pod_pid) {
    while (channel >= 0) {
        char buf[1024];
        ssize_t n = recv(channel, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            relay(buf, (size_t)n, pod_pid);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            close(channel);
            channel = -1;
        }
        return;
    }
}

int notify_sigwaitinfo(const sigset_t *mask, siginfo_t *info, pid_t pod_pid) {
    if (!waiter_ready) waiter_init(mask);
    if (channel < 0 && signal_fd < 0) return sigwaitinfo(mask, info);
    for (;;) {
        struct pollfd fds[2] = {{.fd = signal_fd, .events = POLLIN}, {.fd = channel, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) drain_channel(pod_pid);
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(signal_fd, &si, sizeof si) != (ssize_t)sizeof si) continue;
            // PID 1's last messages are queued before its SIGCHLD: pass them on before the
            // caller may return.
            drain_channel(pod_pid);
            memset(info, 0, sizeof *info);
            info->si_signo = (int)si.ssi_signo;
            info->si_code = si.ssi_code;
            info->si_pid = (pid_t)si.ssi_pid;
            return (int)si.ssi_signo;
        }
    }
}
