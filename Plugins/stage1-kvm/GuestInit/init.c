/*
 * rkt-kvm-init: PID 1 inside a stage1-kvm virtual machine (static C, in the pod's initramfs).
 *
 * It loads the kernel modules listed in /modules.order (virtio, virtio-serial, 9p: Debian's
 * generic kernel has them as modules), finds the three virtio-serial ports the host supervisor
 * listens on (`rkt.status`, `rkt.output`, `rkt.agent`), mounts the pod's plan (9p tag `rkt.plan`)
 * and each app's rootfs (9p tag `rkt.app<i>`), runs the apps with their exec, environment, user,
 * groups, working directory, capability bounding set, no_new_privs and seccomp filter, and
 * reports on `rkt.status`, one line per event:
 *
 *   started <app>          the app's process was created
 *   exit <app> <status>    the app ended: its exit code, or 128 + signal
 *   error <text>           the guest could not run the pod (the host answers 254)
 *   done                   every app has ended; the guest powers off next
 *
 * `rkt.output` and `rkt.agent` carry frames (Documentation/stage1-kvm.md, "The agent protocol"):
 * a 9-byte header, kind (1 byte), session (u32, big endian), length (u32, big endian), then
 * `length` bytes. On `rkt.output` the guest sends `O`/`E` frames, an app's stdout/stderr, the
 * session being the app's index in the plan. On `rkt.agent`:
 *
 *   host -> guest  S           stop: SIGTERM to every app, SIGKILL after STOP_GRACE seconds
 *                  N <open>    start an `enter` session: app NUL tty NUL rows NUL cols NUL argv...
 *                  I <bytes>   the session's stdin (length 0: end of input)
 *                  W <r c>     the session's terminal size, "rows cols"
 *                  K <n>       send signal n to the session's process group
 *   guest -> host  R           the apps are started: sessions may be opened
 *                  O/E <bytes> the session's stdout/stderr (a terminal session has only O)
 *                  X <status>  the session's command ended (exit code, or 128 + signal)
 *                  F <text>    the session could not start (no such app, the pod is stopping)
 *
 * The first app that fails ends the pod (the others get SIGTERM, then SIGKILL), as does `S`.
 * Whatever happens, the guest powers off at the end: PID 1 must never exit (that is a panic).
 *
 * The plan directory holds `apps` (one app name per line, pod order) and, per app,
 * `<app>.exec` and `<app>.env` (NUL-terminated strings), `<app>.workdir`, `<app>.uid`,
 * `<app>.gid`, `<app>.groups` (numbers separated by spaces), `<app>.mounts`, `<app>.caps` (the
 * bounding set, hex), `<app>.nnp` (1: no_new_privs), `<app>.seccomp` (a compiled filter, raw
 * `struct sock_filter` records; absent: none), `<app>.oom` (oom_score_adj; absent: inherited),
 * `<app>.cgroup` (lines `controller file value`: the app's cgroup v2 limits, e.g.
 * `memory memory.max 335544320`; every app has a cgroup /sys/fs/cgroup/app-<name>),
 * `hostname`, and `interactive` when the pod's single app runs on a terminal ("rows cols", the
 * host terminal's size, or "pipe": the host's stdin is not a terminal, so nothing is echoed).
 *
 * An interactive app (`rkt run --interactive`) gets a pty as its stdin, stdout, stderr and
 * controlling terminal; its output goes out on `rkt.output` as app 0's stdout, and the host sends
 * its input and window sizes on `rkt.agent` as `I` and `W` frames for session APP_SESSION.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define MAX_APPS 32
#define MAX_SESSIONS 64
#define MAX_FRAME (1024 * 1024)
/* The session number of `I` and `W` frames meant for the interactive app's terminal. */
#define APP_SESSION 0xFFFFFFFFu
/* Seconds between SIGTERM and SIGKILL when the pod stops (as stage1-nspawn). */
#define STOP_GRACE 10

static int status_fd = -1;
static int output_fd = -1;
static int agent_fd = -1;

static void say(const char *format, ...) {
    char line[4096];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof line) n = sizeof line - 1;
    int fd = status_fd >= 0 ? status_fd : 2;
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, line + off, n - off);
        if (w < 0) { if (errno == EINTR) continue; return; }
        off += w;
    }
}

static void power_off(void) {
    sync();
    if (status_fd >= 0) { fsync(status_fd); }
    if (output_fd >= 0) { fsync(output_fd); }
    if (agent_fd >= 0) { fsync(agent_fd); }
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

static void fail(const char *format, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    for (char *p = text; *p; p++) if (*p == '\n') *p = ' ';
    dprintf(2, "rkt-kvm-init: %s\n", text);
    say("error %s\n", text);
    power_off();
}

/* Blocking write of everything (the host always reads its sockets). */
static void write_all(int fd, const void *data, size_t length) {
    const char *p = data;
    while (length > 0) {
        ssize_t w = write(fd, p, length);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) { struct pollfd pf = {fd, POLLOUT, 0}; poll(&pf, 1, 100); continue; }
            return;
        }
        p += w;
        length -= (size_t)w;
    }
}

static void send_frame(int fd, char kind, uint32_t session, const void *data, uint32_t length) {
    if (fd < 0) return;
    unsigned char header[9] = {(unsigned char)kind,
                               session >> 24, session >> 16, session >> 8, session,
                               length >> 24, length >> 16, length >> 8, length};
    write_all(fd, header, sizeof header);
    if (length) write_all(fd, data, length);
}

/* The whole file, NUL-terminated (its length in *length); NULL when it cannot be read. */
static char *slurp(const char *path, size_t *length) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) { cap *= 2; buf = realloc(buf, cap); }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) { if (errno == EINTR) continue; free(buf); close(fd); return NULL; }
        if (n == 0) break;
        len += n;
    }
    close(fd);
    buf[len] = 0;
    if (length) *length = len;
    return buf;
}

static void load_modules(void) {
    char *list = slurp("/modules.order", NULL);
    if (!list) return;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("cannot open module %s: %s", line, strerror(errno));
        if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
            fail("cannot load module %s: %s", line, strerror(errno));
        close(fd);
    }
    free(list);
}

/* The /dev node of the virtio-serial port called `name`, waiting up to ~20 s for it to appear. */
static int open_port(const char *name) {
    for (int attempt = 0; attempt < 2000; attempt++) {
        DIR *dir = opendir("/sys/class/virtio-ports");
        if (dir) {
            struct dirent *entry;
            while ((entry = readdir(dir))) {
                if (entry->d_name[0] == '.') continue;
                char path[512];
                snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", entry->d_name);
                char *value = slurp(path, NULL);
                if (!value) continue;
                value[strcspn(value, "\n")] = 0;
                int match = strcmp(value, name) == 0;
                free(value);
                if (!match) continue;
                snprintf(path, sizeof path, "/dev/%s", entry->d_name);
                int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (fd >= 0) { closedir(dir); return fd; }
            }
            closedir(dir);
        }
        struct timespec pause_time = {0, 10 * 1000 * 1000};
        nanosleep(&pause_time, NULL);
    }
    return -1;
}

static void mount_9p_flags(const char *tag, const char *target, unsigned long flags) {
    mkdir(target, 0755);
    char options[256];
    snprintf(options, sizeof options, "trans=virtio,version=9p2000.L,cache=loose,msize=262144");
    if (mount(tag, target, "9p", flags, options) != 0) fail("cannot mount 9p tag %s on %s: %s", tag, target, strerror(errno));
}

static void mount_9p(const char *tag, const char *target) { mount_9p_flags(tag, target, 0); }

/* mkdir -p (the guest sees only the pod's shares, so a symlink in the path cannot reach the host). */
static void make_directories(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(buf, 0755);
        *p = '/';
    }
    mkdir(buf, 0755);
}

struct app {
    char name[256];
    char root[6 + 256];
    char **argv, **envp;
    char *workdir;
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    int ngroups;
    uint64_t caps;
    int has_caps;
    int nnp;
    int has_oom, oom_score_adj;
    struct sock_filter *seccomp;
    size_t seccomp_count;
    pid_t pid;
    int done;
    int out[2], err[2]; /* the read ends of its stdout and stderr pipes, -1 once closed */
    int tty;            /* interactive: out[0] is the pty's master, err[0] unused */
    char slave[64];     /* the pty's slave, opened by the child */
    int slave_fd;       /* ours, kept until the app ends: a master without any open slave reads EIO */
    char *pending;      /* input for the terminal, not written yet */
    size_t pending_length;
};

static struct app apps[MAX_APPS];
static int app_count;

/* Splits a buffer of NUL-terminated strings into a NULL-terminated vector. */
static char **split_nul(char *buf, size_t len) {
    size_t count = 0;
    for (size_t i = 0; i < len; i++) if (buf[i] == 0) count++;
    char **out = calloc(count + 1, sizeof *out);
    size_t k = 0;
    for (size_t i = 0; i < len && k < count; k++) { out[k] = buf + i; i += strlen(buf + i) + 1; }
    out[k] = NULL;
    return out;
}

static char *plan_file(const char *app, const char *suffix, size_t *length) {
    char path[512];
    snprintf(path, sizeof path, "/plan/%.255s.%.16s", app, suffix);
    char *text = slurp(path, length);
    if (!text) fail("cannot read the plan file %s: %s", path, strerror(errno));
    return text;
}

static char *optional_plan_file(const char *app, const char *suffix, size_t *length) {
    char path[512];
    snprintf(path, sizeof path, "/plan/%.255s.%.16s", app, suffix);
    return slurp(path, length);
}

static void read_app(struct app *a) {
    size_t len;
    char *exec = plan_file(a->name, "exec", &len);
    a->argv = split_nul(exec, len);
    if (!a->argv[0]) fail("app %s has no exec", a->name);
    char *env = plan_file(a->name, "env", &len);
    a->envp = split_nul(env, len);
    a->workdir = plan_file(a->name, "workdir", NULL);
    a->workdir[strcspn(a->workdir, "\n")] = 0;
    char *text = plan_file(a->name, "uid", NULL);
    a->uid = (uid_t)strtoul(text, NULL, 10);
    text = plan_file(a->name, "gid", NULL);
    a->gid = (gid_t)strtoul(text, NULL, 10);
    text = plan_file(a->name, "groups", NULL);
    a->ngroups = 0;
    for (char *word = strtok(text, " \n"); word && a->ngroups < 64; word = strtok(NULL, " \n"))
        a->groups[a->ngroups++] = (gid_t)strtoul(word, NULL, 10);
    if ((text = optional_plan_file(a->name, "caps", NULL))) { a->caps = strtoull(text, NULL, 16); a->has_caps = 1; }
    if ((text = optional_plan_file(a->name, "nnp", NULL))) a->nnp = text[0] == '1';
    if ((text = optional_plan_file(a->name, "oom", NULL))) { a->oom_score_adj = (int)strtol(text, NULL, 10); a->has_oom = 1; }
    if ((text = optional_plan_file(a->name, "seccomp", &len))) {
        if (len == 0 || len % sizeof(struct sock_filter) != 0) fail("app %s: bad seccomp filter (%zu bytes)", a->name, len);
        a->seccomp = (struct sock_filter *)text;
        a->seccomp_count = len / sizeof(struct sock_filter);
    }
}

/* The app's volumes: `<app>.mounts` lines `<tag> <ro|rw> <path>`, parents first. */
static void mount_volumes(struct app *a) {
    char path[512];
    snprintf(path, sizeof path, "/plan/%.255s.mounts", a->name);
    char *text = slurp(path, NULL);
    if (!text) return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *mode = strchr(line, ' ');
        if (!mode) fail("bad mount line in %s", path);
        *mode++ = 0;
        char *where = strchr(mode, ' ');
        if (!where) fail("bad mount line in %s", path);
        *where++ = 0;
        char target[4096];
        snprintf(target, sizeof target, "%s%s", a->root, where);
        make_directories(target);
        mount_9p_flags(line, target, strcmp(mode, "ro") == 0 ? MS_RDONLY : 0);
    }
    free(text);
}

/*
 * The app's cgroup, /sys/fs/cgroup/app-<name>, with the limits of `<app>.cgroup` (their controllers
 * enabled in the root first). The app and its enter sessions join it before exec.
 */
static void make_cgroup(struct app *a) {
    char path[600];
    snprintf(path, sizeof path, "/sys/fs/cgroup/app-%.255s", a->name);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("cgroup for %s: %s", a->name, strerror(errno));
    char *text = optional_plan_file(a->name, "cgroup", NULL);
    if (!text) return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char controller[32], file[64];
        int used = 0;
        if (sscanf(line, "%31s %63s %n", controller, file, &used) < 2 || used == 0 || strchr(file, '/')) fail("app %s: bad cgroup line \"%s\"", a->name, line);
        char enable[40];
        int n = snprintf(enable, sizeof enable, "+%s", controller);
        int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, enable, (size_t)n) != n) fail("app %s: cannot enable the %s controller: %s", a->name, controller, strerror(errno));
        close(fd);
        char knob[700];
        snprintf(knob, sizeof knob, "%s/%s", path, file);
        const char *value = line + used;
        fd = open(knob, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) fail("app %s: %s = %s: %s", a->name, file, value, strerror(errno));
        close(fd);
    }
}

/* In a child: into the app's cgroup. */
static void join_cgroup(const struct app *a) {
    char path[600];
    snprintf(path, sizeof path, "/sys/fs/cgroup/app-%.255s/cgroup.procs", a->name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) { dprintf(2, "Error: cgroup of %s: %s\n", a->name, strerror(errno)); _exit(254); }
    close(fd);
}

/* /proc, /sys (with the cgroup tree read-only), /dev and a /tmp inside the app's rootfs (the guest
 * is the pod: no host to hide). */
static void prepare_root(struct app *a) {
    const char *dirs[] = {"proc", "sys", "dev", "tmp"};
    for (int i = 0; i < 4; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", a->root, dirs[i]);
        mkdir(path, 0755);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/proc", a->root);
    if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount proc for %s: %s", a->name, strerror(errno));
    snprintf(path, sizeof path, "%s/sys", a->root);
    if (mount("sysfs", path, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount sysfs for %s: %s", a->name, strerror(errno));
    snprintf(path, sizeof path, "%s/sys/fs/cgroup", a->root);
    if (mount("cgroup2", path, "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount cgroup2 for %s: %s", a->name, strerror(errno));
    snprintf(path, sizeof path, "%s/dev", a->root);
    if (mount("/dev", path, NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind /dev for %s: %s", a->name, strerror(errno));
    snprintf(path, sizeof path, "%s/tmp", a->root);
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) fail("mount /tmp for %s: %s", a->name, strerror(errno));
}

/*
 * In a child: the app's root, working directory, credentials and restrictions, then exec along
 * the app's PATH. The same for the app itself and for an `enter` session (rkt's CVEs 2019-10144
 * to -10147 were about an enter that skipped some of it). Never returns.
 */
static void become_app(const struct app *a, char **argv) {
    join_cgroup(a);
    /* Before the bounding set is cut: lowering the score needs CAP_SYS_RESOURCE. */
    if (a->has_oom) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || dprintf(fd, "%d\n", a->oom_score_adj) < 0) { dprintf(2, "Error: oom_score_adj: %s\n", strerror(errno)); _exit(254); }
        close(fd);
    }
    if (chroot(a->root) != 0 || chdir("/") != 0) { dprintf(2, "Error: chroot %s: %s\n", a->root, strerror(errno)); _exit(254); }
    if (chdir(a->workdir) != 0) { dprintf(2, "Error: cannot change to the working directory \"%s\": %s\n", a->workdir, strerror(errno)); _exit(254); }
    if (a->has_caps) {
        for (int c = 0; c <= 63; c++) {
            if (a->caps & (1ULL << c)) continue;
            if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) < 0) break; /* past the kernel's last capability */
            if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) { dprintf(2, "Error: cannot drop capability %d: %s\n", c, strerror(errno)); _exit(254); }
        }
    }
    if (setgroups(a->ngroups, a->groups) != 0 || setresgid(a->gid, a->gid, a->gid) != 0 || setresuid(a->uid, a->uid, a->uid) != 0) {
        dprintf(2, "Error: cannot set uid %u gid %u: %s\n", a->uid, a->gid, strerror(errno));
        _exit(254);
    }
    /* No capset: execve gives a root app its bounding set, other users nothing (as stage1-nspawn). */
    if (a->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { dprintf(2, "Error: no_new_privs: %s\n", strerror(errno)); _exit(254); }
    clearenv();
    for (char **e = a->envp; *e; e++) putenv(*e);
    if (a->seccomp) {
        /* Last: the filter only has to allow execve (root still holds CAP_SYS_ADMIN here; other
         * users with a filter have no_new_privs, forced by the planner as rkt did). */
        struct sock_fprog prog = {(unsigned short)a->seccomp_count, a->seccomp};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) { dprintf(2, "Error: seccomp: %s\n", strerror(errno)); _exit(254); }
    }
    execvp(argv[0], argv);
    int code = errno;
    dprintf(2, "Error: Unable to open \"%s\": %s\n", argv[0], strerror(code));
    _exit(code == ENOENT || code == ENOTDIR ? 127 : 126);
}

static void unblock_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The child: its own session, stdin /dev/null, stdout/stderr its pipes (interactive: the pty,
 * its controlling terminal, on all three). Never returns. */
static void exec_app(struct app *a) {
    unblock_signals();
    setsid();
    if (a->tty) {
        int slave = open(a->slave, O_RDWR);
        if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) != 0) { dprintf(2, "Error: terminal %s: %s\n", a->slave, strerror(errno)); _exit(254); }
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        if (slave > 2) close(slave);
        become_app(a, a->argv);
    }
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(a->out[1], 1);
    dup2(a->err[1], 2);
    become_app(a, a->argv);
}

/* `text` "rows cols" (from the plan or a `W` frame) as the size of the terminal whose master is `fd`. */
static void set_window_size(int fd, const char *text) {
    unsigned rows = 0, cols = 0;
    if (sscanf(text, "%u %u", &rows, &cols) != 2 || !rows || !cols) return;
    struct winsize size = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(fd, TIOCSWINSZ, &size);
}

/* Appends `length` bytes to a pending-input buffer. */
static void queue_input(char **pending, size_t *pending_length, const char *data, uint32_t length) {
    *pending = realloc(*pending, *pending_length + length);
    memcpy(*pending + *pending_length, data, length);
    *pending_length += length;
}

/* Writes what `fd` takes of a pending-input buffer; -1 when `fd` refuses input for good (the rest
 * is dropped), else 0. */
static int write_pending(int fd, char *pending, size_t *pending_length) {
    while (*pending_length > 0) {
        ssize_t w = write(fd, pending, *pending_length);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 0;
            *pending_length = 0;
            return -1;
        }
        memmove(pending, pending + w, *pending_length - (size_t)w);
        *pending_length -= (size_t)w;
    }
    return 0;
}

/* A pty for the interactive app, `size` "rows cols" (a 0 or "pipe": leave the default). */
static void open_terminal(struct app *a, const char *size) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || ptsname_r(master, a->slave, sizeof a->slave) != 0)
        fail("pty for app %s: %s", a->name, strerror(errno));
    if (size) set_window_size(master, size);
    struct termios mode;
    if (size && strncmp(size, "pipe", 4) == 0 && tcgetattr(master, &mode) == 0) {
        mode.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        tcsetattr(master, TCSANOW, &mode);
    }
    a->slave_fd = open(a->slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (a->slave_fd < 0) fail("pty %s for app %s: %s", a->slave, a->name, strerror(errno));
    a->tty = 1;
    a->out[0] = master;
    a->out[1] = a->err[0] = a->err[1] = -1;
}

/* Writes what it can of the interactive app's pending input to its terminal. */
static void flush_app_input(struct app *a) {
    if (a->tty && a->out[0] >= 0) write_pending(a->out[0], a->pending, &a->pending_length);
}

static int exit_status(int wait_status) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 254;
}

/* Reads what `fd` has (non-blocking) and frames it; returns 0 at end of file or on an error. */
static int forward(int fd, int port, char kind, uint32_t session) {
    char buffer[32768];
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof buffer);
        if (n > 0) { send_frame(port, kind, session, buffer, (uint32_t)n); continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 1;
        return 0; /* EOF, or EIO: a terminal whose other side is closed */
    }
}

/* ---- enter sessions ---- */

struct session {
    int used;
    uint32_t id;
    pid_t pid;
    int tty;
    int in_fd;          /* the command's stdin: a pipe's write end, or the terminal's master */
    int out_fd, err_fd; /* its stdout and stderr (a terminal: out_fd is the master, no err_fd) */
    char *pending;      /* stdin not written yet */
    size_t pending_length;
    int input_ended;
};

static struct session sessions[MAX_SESSIONS];

static struct session *find_session(uint32_t id) {
    for (int i = 0; i < MAX_SESSIONS; i++) if (sessions[i].used && sessions[i].id == id) return &sessions[i];
    return NULL;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void end_session(struct session *s, int status) {
    if (s->out_fd >= 0) forward(s->out_fd, agent_fd, 'O', s->id);
    if (s->err_fd >= 0) forward(s->err_fd, agent_fd, 'E', s->id);
    char text[16];
    int n = snprintf(text, sizeof text, "%d", status);
    send_frame(agent_fd, 'X', s->id, text, (uint32_t)n);
    if (s->in_fd == s->out_fd) s->in_fd = -1;
    close_fd(&s->in_fd);
    close_fd(&s->out_fd);
    close_fd(&s->err_fd);
    free(s->pending);
    memset(s, 0, sizeof *s);
}

static void refuse_session(uint32_t id, const char *format, ...) {
    char text[512];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof text) n = sizeof text - 1;
    send_frame(agent_fd, 'F', id, text, (uint32_t)n);
}

/* `N`: app NUL tty NUL rows NUL cols NUL argv... (every field NUL-terminated). */
static void open_session(uint32_t id, char *payload, uint32_t length, int stopping) {
    if (length == 0 || payload[length - 1] != 0) { refuse_session(id, "malformed enter request"); return; }
    char **fields = split_nul(payload, length);
    int count = 0;
    while (fields[count]) count++;
    if (count < 5) { free(fields); refuse_session(id, "malformed enter request"); return; }
    if (stopping) { free(fields); refuse_session(id, "the pod is stopping"); return; }
    struct app *a = NULL;
    for (int i = 0; i < app_count; i++) if (strcmp(apps[i].name, fields[0]) == 0) a = &apps[i];
    if (!a) { refuse_session(id, "the pod has no app %s", fields[0]); free(fields); return; }
    if (find_session(id)) { refuse_session(id, "session %u is open already", id); free(fields); return; }
    struct session *s = NULL;
    for (int i = 0; i < MAX_SESSIONS && !s; i++) if (!sessions[i].used) s = &sessions[i];
    if (!s) { refuse_session(id, "too many enter sessions"); free(fields); return; }
    int tty = strcmp(fields[1], "1") == 0;
    int child_in = -1, child_out = -1, child_err = -1;
    s->in_fd = s->out_fd = s->err_fd = -1;
    if (tty) {
        int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        int unlock = 0;
        char name[64];
        if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) != 0 || ptsname_r(master, name, sizeof name) != 0) {
            refuse_session(id, "cannot open a terminal: %s", strerror(errno));
            if (master >= 0) close(master);
            free(fields);
            return;
        }
        struct winsize size = {(unsigned short)atoi(fields[2]), (unsigned short)atoi(fields[3]), 0, 0};
        if (size.ws_row && size.ws_col) ioctl(master, TIOCSWINSZ, &size);
        child_in = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (child_in < 0) { refuse_session(id, "cannot open %s: %s", name, strerror(errno)); close(master); free(fields); return; }
        child_out = child_err = child_in;
        s->in_fd = s->out_fd = master;
    } else {
        int in[2], out[2], err[2];
        if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
            refuse_session(id, "pipe: %s", strerror(errno));
            free(fields);
            return;
        }
        child_in = in[0]; s->in_fd = in[1];
        child_out = out[1]; s->out_fd = out[0];
        child_err = err[1]; s->err_fd = err[0];
    }
    pid_t pid = fork();
    if (pid == 0) {
        unblock_signals();
        setsid();
        if (tty) ioctl(child_in, TIOCSCTTY, 0);
        dup2(child_in, 0);
        dup2(child_out, 1);
        dup2(child_err, 2);
        become_app(a, fields + 4);
    }
    close(child_in);
    if (!tty) { close(child_out); close(child_err); }
    if (pid < 0) {
        refuse_session(id, "fork: %s", strerror(errno));
        if (s->in_fd == s->out_fd) s->in_fd = -1;
        close_fd(&s->in_fd); close_fd(&s->out_fd); close_fd(&s->err_fd);
        free(fields);
        return;
    }
    free(fields);
    s->used = 1;
    s->id = id;
    s->pid = pid;
    s->tty = tty;
    fcntl(s->in_fd, F_SETFL, fcntl(s->in_fd, F_GETFL) | O_NONBLOCK);
    fcntl(s->out_fd, F_SETFL, fcntl(s->out_fd, F_GETFL) | O_NONBLOCK);
    if (s->err_fd >= 0) fcntl(s->err_fd, F_SETFL, fcntl(s->err_fd, F_GETFL) | O_NONBLOCK);
}

/* Writes what it can of the session's pending stdin; closes a pipe's write end at the end of input. */
static void flush_input(struct session *s) {
    /* A command that closed its stdin: the rest is dropped. */
    if (s->in_fd >= 0) write_pending(s->in_fd, s->pending, &s->pending_length);
    if (s->input_ended && s->pending_length == 0 && !s->tty) close_fd(&s->in_fd);
}

/* ---- the agent channel ---- */

static unsigned char *agent_buffer;
static size_t agent_length, agent_capacity;
static int stopping;
static time_t kill_at;

static void stop_pod(void) {
    if (stopping) return;
    stopping = 1;
    kill_at = time(NULL) + STOP_GRACE;
    for (int j = 0; j < app_count; j++) if (!apps[j].done) kill(-apps[j].pid, SIGTERM);
    for (int i = 0; i < MAX_SESSIONS; i++) if (sessions[i].used) kill(-sessions[i].pid, SIGTERM);
}

static void handle_frame(char kind, uint32_t id, char *payload, uint32_t length) {
    if (id == APP_SESSION && app_count > 0 && apps[0].tty) {
        struct app *a = &apps[0];
        if (kind == 'I' && length > 0) {
            queue_input(&a->pending, &a->pending_length, payload, length);
            flush_app_input(a);
        } else if (kind == 'W' && a->out[0] >= 0) {
            set_window_size(a->out[0], payload);
        }
        return;
    }
    struct session *s = kind == 'S' || kind == 'N' ? NULL : find_session(id);
    switch (kind) {
    case 'S':
        stop_pod();
        break;
    case 'N':
        open_session(id, payload, length, stopping);
        break;
    case 'I':
        if (!s) break;
        if (length == 0) { s->input_ended = 1; flush_input(s); break; }
        queue_input(&s->pending, &s->pending_length, payload, length);
        flush_input(s);
        break;
    case 'W':
        if (s && s->tty) set_window_size(s->out_fd, payload);
        break;
    case 'K':
        if (s) {
            char text[16];
            snprintf(text, sizeof text, "%.*s", (int)(length < 15 ? length : 15), payload);
            int signal = atoi(text);
            if (signal > 0 && signal < 65) kill(-s->pid, signal);
        }
        break;
    default:
        break;
    }
}

/* Reads the agent port and handles every complete frame; returns 0 when the port is gone. */
static int read_agent(void) {
    if (agent_capacity - agent_length < 65536) {
        agent_capacity = agent_capacity ? agent_capacity * 2 : 131072;
        agent_buffer = realloc(agent_buffer, agent_capacity);
    }
    ssize_t n = read(agent_fd, agent_buffer + agent_length, agent_capacity - agent_length);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (n <= 0) return 0;
    agent_length += (size_t)n;
    size_t offset = 0;
    while (agent_length - offset >= 9) {
        unsigned char *h = agent_buffer + offset;
        uint32_t id = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
        uint32_t length = (uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8];
        if (length > MAX_FRAME) { agent_length = 0; return 0; } /* out of step: stop listening */
        if (agent_length - offset - 9 < length) {
            if (agent_capacity < length + 9) { agent_capacity = length + 9; agent_buffer = realloc(agent_buffer, agent_capacity); h = agent_buffer + offset; }
            break;
        }
        /* The payload, NUL-terminated for the text frames (one spare byte: copy it). */
        char *payload = malloc(length + 1);
        memcpy(payload, h + 9, length);
        payload[length] = 0;
        handle_frame((char)h[0], id, payload, length);
        free(payload);
        offset += 9 + length;
    }
    memmove(agent_buffer, agent_buffer + offset, agent_length - offset);
    agent_length -= offset;
    return 1;
}

int main(void) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mkdir("/proc", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    mkdir("/sys", 0755);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    /* Terminals for `enter --tty` (before the apps' /dev binds, which include it). */
    mkdir("/dev/pts", 0755);
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620");
    int console = open("/dev/console", O_RDWR | O_NOCTTY);
    if (console >= 0) { dup2(console, 1); dup2(console, 2); if (console > 2) close(console); }

    load_modules();
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail("mount cgroup2: %s", strerror(errno));
    status_fd = open_port("rkt.status");
    if (status_fd < 0) fail("no virtio-serial port rkt.status");
    output_fd = open_port("rkt.output");
    if (output_fd < 0) fail("no virtio-serial port rkt.output");
    agent_fd = open_port("rkt.agent");
    if (agent_fd < 0) fail("no virtio-serial port rkt.agent");

    mount_9p("rkt.plan", "/plan");
    char *hostname = slurp("/plan/hostname", NULL);
    if (hostname) { hostname[strcspn(hostname, "\n")] = 0; sethostname(hostname, strlen(hostname)); }
    char net_error[512];
    if (net_configure("/plan/network", net_error, sizeof net_error) != 0) fail("%s", net_error);
    char *names = slurp("/plan/apps", NULL);
    if (!names) fail("cannot read /plan/apps: %s", strerror(errno));
    for (char *line = strtok(names, "\n"); line && app_count < MAX_APPS; line = strtok(NULL, "\n")) {
        snprintf(apps[app_count].name, sizeof apps[app_count].name, "%s", line);
        app_count++;
    }
    if (app_count == 0) fail("the plan has no apps");
    char *interactive = slurp("/plan/interactive", NULL);
    if (interactive && app_count != 1) fail("an interactive pod has exactly one app, not %d", app_count);
    mkdir("/apps", 0755);
    for (int i = 0; i < app_count; i++) {
        struct app *a = &apps[i];
        read_app(a);
        char tag[32];
        snprintf(tag, sizeof tag, "rkt.app%d", i);
        snprintf(a->root, sizeof a->root, "/apps/%.249s", a->name);
        mount_9p(tag, a->root);
        prepare_root(a);
        mount_volumes(a);
        make_cgroup(a);
    }
    for (int i = 0; i < app_count; i++) {
        struct app *a = &apps[i];
        if (interactive) open_terminal(a, interactive);
        else if (pipe2(a->out, O_CLOEXEC) != 0 || pipe2(a->err, O_CLOEXEC) != 0) fail("pipe for app %s: %s", a->name, strerror(errno));
        pid_t pid = fork();
        if (pid < 0) fail("fork for app %s: %s", a->name, strerror(errno));
        if (pid == 0) exec_app(a);
        close_fd(&a->out[1]);
        close_fd(&a->err[1]);
        fcntl(a->out[0], F_SETFL, O_NONBLOCK);
        if (a->err[0] >= 0) fcntl(a->err[0], F_SETFL, O_NONBLOCK);
        a->pid = pid;
        say("started %s\n", a->name);
    }
    send_frame(agent_fd, 'R', 0, NULL, 0);

    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    int child_fd = signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK);
    if (child_fd < 0) fail("signalfd: %s", strerror(errno));
    int running = app_count, agent_open = 1;
    while (running > 0) {
        /* What to wait for: children ending, the agent, the apps' and sessions' output, stdin
         * waiting to be written. Tags say what each descriptor is. */
        struct pollfd fds[2 + 2 * MAX_APPS + 3 * MAX_SESSIONS];
        int tags[2 + 2 * MAX_APPS + 3 * MAX_SESSIONS];
        int n = 0;
        fds[n] = (struct pollfd){child_fd, POLLIN, 0}; tags[n++] = -1;
        if (agent_open) { fds[n] = (struct pollfd){agent_fd, POLLIN, 0}; tags[n++] = -2; }
        for (int i = 0; i < app_count; i++) {
            if (apps[i].out[0] >= 0) {
                short events = POLLIN | (apps[i].tty && apps[i].pending_length ? POLLOUT : 0);
                fds[n] = (struct pollfd){apps[i].out[0], events, 0}; tags[n++] = 1000 + i;
            }
            if (apps[i].err[0] >= 0) { fds[n] = (struct pollfd){apps[i].err[0], POLLIN, 0}; tags[n++] = 2000 + i; }
        }
        for (int i = 0; i < MAX_SESSIONS; i++) {
            struct session *s = &sessions[i];
            if (!s->used) continue;
            if (s->out_fd >= 0) {
                short events = POLLIN | (s->tty && s->pending_length ? POLLOUT : 0);
                fds[n] = (struct pollfd){s->out_fd, events, 0}; tags[n++] = 3000 + i;
            }
            if (s->err_fd >= 0) { fds[n] = (struct pollfd){s->err_fd, POLLIN, 0}; tags[n++] = 4000 + i; }
            if (!s->tty && s->in_fd >= 0 && s->pending_length) { fds[n] = (struct pollfd){s->in_fd, POLLOUT, 0}; tags[n++] = 5000 + i; }
        }
        int timeout = -1;
        if (stopping) {
            time_t left = kill_at - time(NULL);
            timeout = left > 0 ? (int)left * 1000 : 200;
        }
        int ready = poll(fds, (nfds_t)n, timeout);
        if (ready < 0 && errno != EINTR) fail("poll: %s", strerror(errno));
        for (int k = 0; ready > 0 && k < n; k++) {
            if (!fds[k].revents) continue;
            int tag = tags[k];
            if (tag == -1) {
                struct signalfd_siginfo info;
                while (read(child_fd, &info, sizeof info) > 0) {}
            } else if (tag == -2) {
                if (!read_agent()) agent_open = 0;
            } else if (tag >= 5000) {
                flush_input(&sessions[tag - 5000]);
            } else if (tag >= 4000) {
                struct session *s = &sessions[tag - 4000];
                if (s->err_fd >= 0 && !forward(s->err_fd, agent_fd, 'E', s->id)) close_fd(&s->err_fd);
            } else if (tag >= 3000) {
                struct session *s = &sessions[tag - 3000];
                if (s->tty && (fds[k].revents & POLLOUT)) flush_input(s);
                if (s->out_fd >= 0 && (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) && !forward(s->out_fd, agent_fd, 'O', s->id)) {
                    /* A terminal reports EIO while nobody has the slave open: keep the master
                     * (the command may still run, or be just about to be reaped). */
                    if (!s->tty) close_fd(&s->out_fd);
                }
            } else if (tag >= 2000) {
                struct app *a = &apps[tag - 2000];
                if (!forward(a->err[0], output_fd, 'E', (uint32_t)(tag - 2000))) close_fd(&a->err[0]);
            } else if (tag >= 1000) {
                struct app *a = &apps[tag - 1000];
                if (a->tty && (fds[k].revents & POLLOUT)) flush_app_input(a);
                /* A terminal reports EIO once the app and its children closed it: done. */
                if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) && !forward(a->out[0], output_fd, 'O', (uint32_t)(tag - 1000)))
                    close_fd(&a->out[0]);
            }
        }
        /* Reap: apps, enter sessions, and orphans reparented to us. */
        for (;;) {
            int wait_status;
            pid_t pid = waitpid(-1, &wait_status, WNOHANG);
            if (pid <= 0) break;
            for (int i = 0; i < MAX_SESSIONS; i++)
                if (sessions[i].used && sessions[i].pid == pid) end_session(&sessions[i], exit_status(wait_status));
            for (int i = 0; i < app_count; i++) {
                struct app *a = &apps[i];
                if (a->done || a->pid != pid) continue;
                a->done = 1;
                running--;
                if (a->tty && a->slave_fd >= 0) close_fd(&a->slave_fd);
                /* What the app wrote before it ended goes before its exit line. */
                if (a->out[0] >= 0 && !forward(a->out[0], output_fd, 'O', (uint32_t)i)) close_fd(&a->out[0]);
                if (a->err[0] >= 0 && !forward(a->err[0], output_fd, 'E', (uint32_t)i)) close_fd(&a->err[0]);
                int status = exit_status(wait_status);
                say("exit %s %d\n", a->name, status);
                /* The first failing app ends the pod. */
                if (status != 0) stop_pod();
            }
        }
        if (stopping && time(NULL) >= kill_at) {
            for (int i = 0; i < app_count; i++) if (!apps[i].done) kill(-apps[i].pid, SIGKILL);
            for (int i = 0; i < MAX_SESSIONS; i++) if (sessions[i].used) kill(-sessions[i].pid, SIGKILL);
        }
    }
    /* The pod is over: sessions still open are killed and reported, the apps' pipes drained. */
    for (int i = 0; i < MAX_SESSIONS; i++) {
        struct session *s = &sessions[i];
        if (!s->used) continue;
        kill(-s->pid, SIGKILL);
        int wait_status = 0;
        waitpid(s->pid, &wait_status, 0);
        end_session(s, exit_status(wait_status));
    }
    for (int i = 0; i < app_count; i++) {
        if (apps[i].out[0] >= 0) forward(apps[i].out[0], output_fd, 'O', (uint32_t)i);
        if (apps[i].err[0] >= 0) forward(apps[i].err[0], output_fd, 'E', (uint32_t)i);
    }
    /* Synced before `done`: the supervisor destroys the VM on it (the ACPI power-off and QEMU's
     * exit would only add about 0.35 s under TCG). */
    for (int i = 0; i < app_count; i++) umount2(apps[i].root, MNT_DETACH);
    sync();
    say("done\n");
    power_off();
}
