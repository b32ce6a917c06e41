/*
 * rkt-kvm-init: PID 1 inside a stage1-kvm virtual machine (static C, in the pod's initramfs).
 *
 * It loads the kernel modules listed in /modules.order (virtio, virtio-serial, 9p: Debian's
 * generic kernel has them as modules), finds the two virtio-serial ports the host supervisor
 * listens on (`rkt.status`, `rkt.output`), mounts the pod's plan (9p tag `rkt.plan`) and each
 * app's rootfs (9p tag `rkt.app<i>`), runs the apps with their exec, environment, user, groups and
 * working directory, and reports on `rkt.status`, one line per event:
 *
 *   started <app>          the app's process was created
 *   exit <app> <status>    the app ended: its exit code, or 128 + signal
 *   error <text>           the guest could not run the pod (the host answers 254)
 *   done                   every app has ended; the guest powers off next
 *
 * The apps' stdout and stderr both go to `rkt.output`. The first app that fails ends the pod (the
 * others get SIGTERM, then SIGKILL). Whatever happens, the guest powers off at the end: PID 1
 * must never exit (that is a kernel panic).
 *
 * The plan directory holds `apps` (one app name per line, pod order) and, per app,
 * `<app>.exec` and `<app>.env` (NUL-terminated strings), `<app>.workdir`, `<app>.uid`,
 * `<app>.gid`, `<app>.groups` (numbers separated by spaces), `hostname`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_APPS 32

static int status_fd = -1;
static int output_fd = -1;

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
    pid_t pid;
    int done;
};

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
    snprintf(path, sizeof path, "/plan/%s.%s", app, suffix);
    char *text = slurp(path, length);
    if (!text) fail("cannot read the plan file %s: %s", path, strerror(errno));
    return text;
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
}

/* The app's volumes: `<app>.mounts` lines `<tag> <ro|rw> <path>`, parents first. */
static void mount_volumes(struct app *a) {
    char path[512];
    snprintf(path, sizeof path, "/plan/%s.mounts", a->name);
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

/* /proc, /sys, /dev and a /tmp inside the app's rootfs (the guest is the pod: no host to hide). */
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
    snprintf(path, sizeof path, "%s/dev", a->root);
    if (mount("/dev", path, NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind /dev for %s: %s", a->name, strerror(errno));
    snprintf(path, sizeof path, "%s/tmp", a->root);
    if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) fail("mount /tmp for %s: %s", a->name, strerror(errno));
}

/* The child: chroot, credentials, stdio, exec along the app's PATH. Never returns. */
static void exec_app(struct app *a) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(output_fd, 1);
    dup2(output_fd, 2);
    if (chroot(a->root) != 0 || chdir("/") != 0) { dprintf(2, "Error: chroot %s: %s\n", a->root, strerror(errno)); _exit(254); }
    if (chdir(a->workdir) != 0) { dprintf(2, "Error: cannot change to the working directory \"%s\": %s\n", a->workdir, strerror(errno)); _exit(254); }
    if (setgroups(a->ngroups, a->groups) != 0 || setgid(a->gid) != 0 || setuid(a->uid) != 0) {
        dprintf(2, "Error: cannot set uid %u gid %u: %s\n", a->uid, a->gid, strerror(errno));
        _exit(254);
    }
    clearenv();
    for (char **e = a->envp; *e; e++) putenv(*e);
    execvp(a->argv[0], a->argv);
    int code = errno;
    dprintf(2, "Error: Unable to open \"%s\": %s\n", a->argv[0], strerror(code));
    _exit(code == ENOENT || code == ENOTDIR ? 127 : 126);
}

static int exit_status(int wait_status) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return 254;
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
    int console = open("/dev/console", O_RDWR | O_NOCTTY);
    if (console >= 0) { dup2(console, 1); dup2(console, 2); if (console > 2) close(console); }

    load_modules();
    status_fd = open_port("rkt.status");
    if (status_fd < 0) fail("no virtio-serial port rkt.status");
    output_fd = open_port("rkt.output");
    if (output_fd < 0) fail("no virtio-serial port rkt.output");

    mount_9p("rkt.plan", "/plan");
    char *hostname = slurp("/plan/hostname", NULL);
    if (hostname) { hostname[strcspn(hostname, "\n")] = 0; sethostname(hostname, strlen(hostname)); }
    char *names = slurp("/plan/apps", NULL);
    if (!names) fail("cannot read /plan/apps: %s", strerror(errno));
    static struct app apps[MAX_APPS];
    int count = 0;
    for (char *line = strtok(names, "\n"); line && count < MAX_APPS; line = strtok(NULL, "\n")) {
        snprintf(apps[count].name, sizeof apps[count].name, "%s", line);
        count++;
    }
    if (count == 0) fail("the plan has no apps");
    mkdir("/apps", 0755);
    for (int i = 0; i < count; i++) {
        struct app *a = &apps[i];
        read_app(a);
        char tag[32];
        snprintf(tag, sizeof tag, "rkt.app%d", i);
        snprintf(a->root, sizeof a->root, "/apps/%.249s", a->name);
        mount_9p(tag, a->root);
        prepare_root(a);
        mount_volumes(a);
    }
    for (int i = 0; i < count; i++) {
        struct app *a = &apps[i];
        pid_t pid = fork();
        if (pid < 0) fail("fork for app %s: %s", a->name, strerror(errno));
        if (pid == 0) exec_app(a);
        a->pid = pid;
        say("started %s\n", a->name);
    }

    int running = count, stopping = 0;
    time_t kill_at = 0;
    while (running > 0) {
        int wait_status;
        pid_t pid = waitpid(-1, &wait_status, stopping ? WNOHANG : 0);
        if (pid == 0) {
            struct timespec pause_time = {0, 20 * 1000 * 1000};
            nanosleep(&pause_time, NULL);
            if (time(NULL) >= kill_at)
                for (int i = 0; i < count; i++) if (!apps[i].done) kill(-apps[i].pid, SIGKILL);
            continue;
        }
        if (pid < 0) { if (errno == EINTR) continue; break; }
        for (int i = 0; i < count; i++) {
            struct app *a = &apps[i];
            if (a->done || a->pid != pid) continue;
            a->done = 1;
            running--;
            int status = exit_status(wait_status);
            say("exit %s %d\n", a->name, status);
            if (status != 0 && !stopping) {
                /* The first failing app ends the pod. */
                stopping = 1;
                kill_at = time(NULL) + 5;
                for (int j = 0; j < count; j++) if (!apps[j].done) kill(-apps[j].pid, SIGTERM);
            }
        }
    }
    say("done\n");
    for (int i = 0; i < count; i++) umount2(apps[i].root, MNT_DETACH);
    power_off();
}
