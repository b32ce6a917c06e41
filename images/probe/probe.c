/* probe: looks at the process it runs as from inside a pod, for rkt's tests (modelled on rkt's
 * tests/inspect). Each flag prints one line "key=value" on stdout, in argument order; a failed
 * look-up or attempt prints "key=errno=ENAME". Build: cc -static -O2 -o probe probe.c
 *
 * Note: under a seccomp filter that kills (rkt's default), a --try-* of a filtered call ends the
 * probe with SIGSYS; the lines printed before it are still there (stdout is flushed per line). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/keyctl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

static int failures; /* a flag whose look-up failed: the exit status says so (1) */

static void emit(const char *key, const char *format, ...) {
    va_list args;
    printf("%s=", key);
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

static const char *errno_name(int err) {
    const char *name = strerrorname_np(err);
    return name ? name : "EUNKNOWN";
}

static void emit_errno(const char *key, int err) {
    failures++;
    emit(key, "errno=%s", errno_name(err));
}

/* The outcome of an attempt: "ok" or "errno=NAME". Not a failure of the probe. */
static void emit_attempt(const char *key, long result, int err) {
    if (result >= 0) emit(key, "ok");
    else emit(key, "errno=%s", errno_name(err));
}

/* Reads a whole small file into buf (NUL-terminated); -1 with errno on failure. */
static ssize_t read_small(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done + 1 < size) {
        ssize_t n = read(fd, buf + done, size - 1 - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { int e = errno; close(fd); errno = e; return -1; }
        if (n == 0) break;
        done += (size_t)n;
    }
    buf[done] = 0;
    close(fd);
    return (ssize_t)done;
}

/* The value of "Field:\t..." in /proc/self/status, trimmed; NULL if absent. */
static const char *status_field(const char *field, char *out, size_t size) {
    static char status[16384];
    if (read_small("/proc/self/status", status, sizeof status) < 0) return NULL;
    size_t length = strlen(field);
    for (char *line = status; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, field, length) == 0 && line[length] == ':') {
            char *value = line + length + 1;
            while (*value == ' ' || *value == '\t') value++;
            size_t n = strcspn(value, "\n");
            if (n >= size) n = size - 1;
            memcpy(out, value, n);
            out[n] = 0;
            return out;
        }
    }
    return NULL;
}

/* Prints a file's content on one line: backslash, newline and other control bytes escaped. */
static void emit_escaped(const char *key, const char *data, size_t length) {
    printf("%s=", key);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '\\') fputs("\\\\", stdout);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\n');
    fflush(stdout);
}

/* ---- cgroups: find the app's own cgroup directory for a controller, v1 or v2 ---- */

/* The directory of this process's cgroup for `controller` (v1), or of the unified hierarchy when
 * controller is NULL, as seen through this mount namespace: /proc/self/cgroup gives the path in the
 * hierarchy; /proc/self/mountinfo gives where (and which part of) the hierarchy is mounted. */
static int cgroup_dir(const char *controller, char *out, size_t size) {
    static char cgroups[8192], mountinfo[1 << 20]; /* hosts with many mounts have long mountinfo files */
    if (read_small("/proc/self/cgroup", cgroups, sizeof cgroups) < 0) return -1;
    char path[PATH_MAX] = "";
    int found = 0;
    for (char *line = strtok(cgroups, "\n"); line; line = strtok(NULL, "\n")) {
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second) continue;
        *second = 0;
        const char *list = first + 1;
        int match = 0;
        if (controller == NULL) {
            match = strncmp(line, "0:", 2) == 0 && *list == 0;
        } else {
            char copy[256];
            snprintf(copy, sizeof copy, "%s", list);
            for (char *save, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
                if (strcmp(item, controller) == 0) match = 1;
        }
        if (match) { snprintf(path, sizeof path, "%s", second + 1); found = 1; break; }
    }
    if (!found) { errno = ENOENT; return -1; }

    if (read_small("/proc/self/mountinfo", mountinfo, sizeof mountinfo) < 0) return -1;
    for (char *line = strtok(mountinfo, "\n"); line; line = strtok(NULL, "\n")) {
        /* id parent major:minor root mountpoint options [optional...] - fstype source superoptions */
        char root[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2) continue;
        char *dash = strstr(line, " - ");
        if (!dash) continue;
        char fstype[64], source[256], super[1024] = "";
        if (sscanf(dash + 3, "%63s %255s %1023s", fstype, source, super) < 2) continue;
        if (controller == NULL ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0) continue;
        if (controller) {
            int has = 0;
            for (char *save, *item = strtok_r(super, ",", &save); item; item = strtok_r(NULL, ",", &save))
                if (strcmp(item, controller) == 0) has = 1;
            if (!has) continue;
        }
        /* The mount shows the hierarchy from `root`; our path must be at or below it. */
        size_t rootLength = strcmp(root, "/") == 0 ? 0 : strlen(root);
        if (rootLength && (strncmp(path, root, rootLength) != 0 || (path[rootLength] != 0 && path[rootLength] != '/'))) continue;
        snprintf(out, size, "%s%s", point, path + rootLength);
        if (access(out, F_OK) == 0) return 0;
    }
    errno = ENOENT;
    return -1;
}

/* Reads one value from the app's cgroup: v1 controller file first, then the v2 file. */
static int cgroup_value(const char *controller, const char *v1file, const char *v2file, char *out, size_t size, int *isV2) {
    char dir[PATH_MAX], file[PATH_MAX + 64];
    int err = ENOENT;
    if (v1file && cgroup_dir(controller, dir, sizeof dir) == 0) {
        snprintf(file, sizeof file, "%s/%s", dir, v1file);
        if (read_small(file, out, size) >= 0) { out[strcspn(out, "\n")] = 0; *isV2 = 0; return 0; }
        err = errno;
    }
    if (v2file && cgroup_dir(NULL, dir, sizeof dir) == 0) {
        snprintf(file, sizeof file, "%s/%s", dir, v2file);
        if (read_small(file, out, size) >= 0) { out[strcspn(out, "\n")] = 0; *isV2 = 1; return 0; }
        err = errno;
    }
    errno = err;
    return -1;
}

static void print_memory_limit(void) {
    char value[128];
    int isV2;
    if (cgroup_value("memory", "memory.limit_in_bytes", "memory.max", value, sizeof value, &isV2) < 0)
        return emit_errno("memory_limit", errno);
    emit("memory_limit", "%s", value);
}

/* Millicores (quota / period * 1000), or "max". */
static void print_cpu_quota(void) {
    char value[128];
    int isV2;
    if (cgroup_value("cpu", "cpu.cfs_quota_us", "cpu.max", value, sizeof value, &isV2) < 0)
        return emit_errno("cpu_quota", errno);
    long long quota, period = 100000;
    if (isV2) {
        char max[16];
        if (sscanf(value, "%15s %lld", max, &period) >= 1 && strcmp(max, "max") == 0) return emit("cpu_quota", "max");
        quota = atoll(value);
    } else {
        quota = atoll(value);
        if (quota < 0) return emit("cpu_quota", "max");
        char periodText[64];
        if (cgroup_value("cpu", "cpu.cfs_period_us", NULL, periodText, sizeof periodText, &isV2) == 0) period = atoll(periodText);
    }
    if (period <= 0) return emit_errno("cpu_quota", EINVAL);
    emit("cpu_quota", "%lld", quota * 1000 / period);
}

static void print_cpu_shares(void) {
    char value[128];
    int isV2;
    if (cgroup_value("cpu", "cpu.shares", "cpu.weight", value, sizeof value, &isV2) < 0)
        return emit_errno("cpu_shares", errno);
    emit(isV2 ? "cpu_weight" : "cpu_shares", "%s", value);
}

/* ---- attempts ---- */

static void try_mount(void) {
    char dir[] = "/tmp/probe-mount-XXXXXX";
    const char *target = mkdtemp(dir) ? dir : "/mnt";
    long result = mount("probe", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k");
    int err = errno;
    if (result == 0) umount2(target, MNT_DETACH);
    if (target == dir) rmdir(dir);
    emit_attempt("mount", result, err);
}

/* --try-mknod[=c:MAJOR:MINOR|b:MAJOR:MINOR], default c:1:3 (/dev/null); removed again. */
static void try_mknod(const char *spec) {
    char type = 'c';
    unsigned major = 1, minor = 3;
    if (spec && sscanf(spec, "%c:%u:%u", &type, &major, &minor) != 3) return emit_errno("mknod", EINVAL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/probe-mknod-%d", (int)getpid());
    long result = mknod(path, (type == 'b' ? S_IFBLK : S_IFCHR) | 0600, makedev(major, minor));
    int err = errno;
    if (result == 0) unlink(path);
    emit_attempt("mknod", result, err);
}

static void try_keyctl(void) {
    long result = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    emit_attempt("keyctl", result, errno);
}

static void try_ptrace(const char *pidText) {
    pid_t pid = (pid_t)atoi(pidText);
    long result = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    int err = errno;
    if (result == 0) {
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
    emit_attempt("ptrace", result, err);
}

/* A few dangerous calls, each with arguments that make it fail by itself if it gets through the
 * filters and capability checks: then "ok" is printed if the kernel got as far as looking at the
 * arguments (EFAULT/EINVAL/ENOENT…), "errno=EPERM" (or the filter's errno) if it was refused. */
static void try_syscall(const char *name) {
    char key[128];
    snprintf(key, sizeof key, "syscall.%s", name);
    long result;
    if (strcmp(name, "swapon") == 0) result = syscall(SYS_swapon, "/nonexistent-probe-swap", 0);
    else if (strcmp(name, "swapoff") == 0) result = syscall(SYS_swapoff, "/nonexistent-probe-swap");
    else if (strcmp(name, "reboot") == 0) result = syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL */
    else if (strcmp(name, "init_module") == 0) result = syscall(SYS_init_module, NULL, 0, ""); /* EFAULT */
    else if (strcmp(name, "finit_module") == 0) result = syscall(SYS_finit_module, -1, "", 0); /* EBADF */
    else if (strcmp(name, "unshare") == 0) result = syscall(SYS_unshare, CLONE_NEWUTS);
    else if (strcmp(name, "setns") == 0) result = syscall(SYS_setns, -1, 0); /* EBADF */
    else if (strcmp(name, "settimeofday") == 0) result = syscall(SYS_settimeofday, NULL, NULL);
    else if (strcmp(name, "acct") == 0) result = syscall(SYS_acct, NULL);
    else if (strcmp(name, "chroot") == 0) result = syscall(SYS_chroot, "/");
    else if (strcmp(name, "getpid") == 0) result = syscall(SYS_getpid);
    else if (strcmp(name, "clone3") == 0) result = syscall(SYS_clone3, NULL, 0); /* EINVAL */
    else return emit_errno(key, ENOSYS);
    int err = errno;
    /* The call's own complaints about the harmless arguments mean it was let through. */
    if (result < 0 && (err == EFAULT || err == EINVAL || err == EBADF || err == ENOENT)) result = 0;
    emit_attempt(key, result, err);
}

/* ---- files ---- */

static void read_file(const char *path) {
    static char buf[65536];
    ssize_t n = read_small(path, buf, sizeof buf);
    if (n < 0) return emit_errno("read_file", errno);
    emit_escaped("read_file", buf, (size_t)n);
}

static void write_file(const char *path, const char *content) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return emit_errno("write_file", errno);
    size_t length = strlen(content), done = 0;
    while (done < length) {
        ssize_t n = write(fd, content + done, length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { int e = errno; close(fd); return emit_errno("write_file", e); }
        done += (size_t)n;
    }
    if (close(fd) != 0) return emit_errno("write_file", errno);
    emit("write_file", "ok");
}

static void stat_file(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return emit_errno("stat_file", errno);
    const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink"
        : S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block" : S_ISFIFO(st.st_mode) ? "fifo" : "socket";
    emit("stat_file", "type:%s,mode:%04o,uid:%u,gid:%u,size:%lld", type, (unsigned)(st.st_mode & 07777),
         (unsigned)st.st_uid, (unsigned)st.st_gid, (long long)st.st_size);
}

static void print_readlink(const char *key, const char *path) {
    char target[PATH_MAX];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) return emit_errno(key, errno);
    target[n] = 0;
    emit(key, "%s", target);
}

/* Open descriptors besides 0, 1, 2 as "N:target", comma separated (empty when none). */
static void list_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return emit_errno("fds", errno);
    int own = dirfd(dir);
    static char line[16384];
    size_t used = 0;
    line[0] = 0;
    int numbers[1024], count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) && count < 1024;) {
        if (entry->d_name[0] == '.') continue;
        int fd = atoi(entry->d_name);
        if (fd > 2 && fd != own) numbers[count++] = fd;
    }
    closedir(dir);
    for (int i = 1; i < count; i++) /* insertion sort: few entries */
        for (int j = i; j > 0 && numbers[j - 1] > numbers[j]; j--) { int t = numbers[j]; numbers[j] = numbers[j - 1]; numbers[j - 1] = t; }
    for (int i = 0; i < count; i++) {
        char path[64], target[PATH_MAX] = "?";
        snprintf(path, sizeof path, "/proc/self/fd/%d", numbers[i]);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n >= 0) target[n] = 0; else snprintf(target, sizeof target, "?");
        used += (size_t)snprintf(line + used, used < sizeof line ? sizeof line - used : 0, "%s%d:%s", i ? "," : "", numbers[i], target);
    }
    emit("fds", "%s", line);
}

static void list_pids(void) {
    DIR *dir = opendir("/proc");
    if (!dir) return emit_errno("pids", errno);
    static int pids[65536];
    int count = 0;
    for (struct dirent *entry; (entry = readdir(dir)) && count < 65536;) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end == 0 && pid > 0) pids[count++] = (int)pid;
    }
    closedir(dir);
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && pids[j - 1] > pids[j]; j--) { int t = pids[j]; pids[j] = pids[j - 1]; pids[j - 1] = t; }
    printf("pids=");
    for (int i = 0; i < count; i++) printf("%s%d", i ? "," : "", pids[i]);
    putchar('\n');
    fflush(stdout);
}

/* ---- identity ---- */

static void print_caps(void) {
    char inh[32], prm[32], eff[32], bnd[32], amb[32];
    if (!status_field("CapBnd", bnd, sizeof bnd) || !status_field("CapEff", eff, sizeof eff)
        || !status_field("CapPrm", prm, sizeof prm) || !status_field("CapInh", inh, sizeof inh))
        return emit_errno("caps", errno ? errno : ENOENT);
    if (!status_field("CapAmb", amb, sizeof amb)) snprintf(amb, sizeof amb, "0000000000000000");
    emit("caps", "bnd:%s,eff:%s,prm:%s,inh:%s,amb:%s", bnd, eff, prm, inh, amb);
}

static void print_status_field(const char *key, const char *field) {
    char value[64];
    if (!status_field(field, value, sizeof value)) return emit_errno(key, errno ? errno : ENOENT);
    emit(key, "%s", value);
}

static void print_groups(void) {
    gid_t groups[256];
    int count = getgroups(256, groups);
    if (count < 0) return emit_errno("groups", errno);
    printf("groups=");
    for (int i = 0; i < count; i++) printf("%s%u", i ? "," : "", (unsigned)groups[i]);
    putchar('\n');
    fflush(stdout);
}

static void exit_quietly(int signal) { (void)signal; _exit(0); }

/* sd_notify by hand: one datagram to $NOTIFY_SOCKET (a path, or @name for an abstract socket). */
static void notify(const char *message) {
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof addr.sun_path) return emit_errno("notify", n ? ENAMETOOLONG : ENOENT);
    memcpy(addr.sun_path, path, n);
    if (path[0] == '@') addr.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return emit_errno("notify", errno);
    socklen_t length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
    if (sendto(fd, message, strlen(message), 0, (struct sockaddr *)&addr, length) < 0) { int e = errno; close(fd); return emit_errno("notify", e); }
    close(fd);
    emit("notify", "%s", "ok");
}

static const char *value_of(const char *arg, const char *flag) {
    size_t n = strlen(flag);
    if (strncmp(arg, flag, n) == 0 && arg[n] == '=') return arg + n + 1;
    return NULL;
}

static int usage(const char *arg) {
    fprintf(stderr, "probe: unknown flag %s (see images/probe/README.md)\n", arg);
    return 2;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *content = "";
    for (int i = 1; i < argc; i++) { /* --content applies to every --write-file, wherever it stands */
        const char *v = value_of(argv[i], "--content");
        if (v) content = v;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        errno = 0;
        if (strcmp(arg, "--print-caps") == 0) print_caps();
        else if (strcmp(arg, "--print-no-new-privs") == 0) print_status_field("no_new_privs", "NoNewPrivs");
        else if (strcmp(arg, "--print-seccomp") == 0) print_status_field("seccomp", "Seccomp");
        else if (strcmp(arg, "--print-user") == 0)
            emit("user", "uid:%u,euid:%u,gid:%u,egid:%u", (unsigned)getuid(), (unsigned)geteuid(), (unsigned)getgid(), (unsigned)getegid());
        else if (strcmp(arg, "--print-groups") == 0) print_groups();
        else if (strcmp(arg, "--print-hostname") == 0) {
            char name[256];
            if (gethostname(name, sizeof name) != 0) emit_errno("hostname", errno); else emit("hostname", "%s", name);
        } else if (strcmp(arg, "--print-cwd") == 0) {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof cwd)) emit_errno("cwd", errno); else emit("cwd", "%s", cwd);
        } else if ((v = value_of(arg, "--print-env"))) {
            char key[256];
            snprintf(key, sizeof key, "env.%s", v);
            const char *value = getenv(v);
            emit(key, "%s", value ? value : "(unset)");
        } else if ((v = value_of(arg, "--print-msg"))) emit("msg", "%s", v);
        else if (strcmp(arg, "--print-netns") == 0) print_readlink("netns", "/proc/self/ns/net");
        else if (strcmp(arg, "--print-ipcns") == 0) print_readlink("ipcns", "/proc/self/ns/ipc");
        else if (strcmp(arg, "--print-pidns") == 0) print_readlink("pidns", "/proc/self/ns/pid");
        else if (strcmp(arg, "--print-mountns") == 0) print_readlink("mountns", "/proc/self/ns/mnt");
        else if (strcmp(arg, "--print-utsns") == 0) print_readlink("utsns", "/proc/self/ns/uts");
        else if (strcmp(arg, "--print-cgroupns") == 0) print_readlink("cgroupns", "/proc/self/ns/cgroup");
        else if (strcmp(arg, "--print-pid") == 0) emit("pid", "%d", (int)getpid());
        else if (strcmp(arg, "--print-ppid") == 0) emit("ppid", "%d", (int)getppid());
        else if (strcmp(arg, "--print-memory-limit") == 0) print_memory_limit();
        else if (strcmp(arg, "--print-cpu-quota") == 0) print_cpu_quota();
        else if (strcmp(arg, "--print-cpu-shares") == 0) print_cpu_shares();
        else if (strcmp(arg, "--print-oom-score-adj") == 0) {
            char value[32];
            if (read_small("/proc/self/oom_score_adj", value, sizeof value) < 0) emit_errno("oom_score_adj", errno);
            else { value[strcspn(value, "\n")] = 0; emit("oom_score_adj", "%s", value); }
        } else if (strcmp(arg, "--check-tty") == 0) emit("tty", "%d", isatty(0) && isatty(1) ? 1 : 0);
        else if (strcmp(arg, "--read-stdin") == 0) {
            static char line[4096];
            if (!fgets(line, sizeof line, stdin)) emit("stdin", "%s", "");
            else { line[strcspn(line, "\n")] = 0; emit("stdin", "%s", line); }
        } else if (strcmp(arg, "--list-pids") == 0) list_pids();
        else if (strcmp(arg, "--list-fds") == 0) list_fds();
        else if (strcmp(arg, "--try-mount") == 0) try_mount();
        else if (strcmp(arg, "--try-mknod") == 0) try_mknod(NULL);
        else if ((v = value_of(arg, "--try-mknod"))) try_mknod(v);
        else if (strcmp(arg, "--try-keyctl") == 0) try_keyctl();
        else if ((v = value_of(arg, "--try-ptrace"))) try_ptrace(v);
        else if ((v = value_of(arg, "--try-syscall"))) try_syscall(v);
        else if ((v = value_of(arg, "--read-file"))) read_file(v);
        else if ((v = value_of(arg, "--write-file"))) write_file(v, content);
        else if (value_of(arg, "--content")) continue;
        else if ((v = value_of(arg, "--stat-file"))) stat_file(v);
        else if ((v = value_of(arg, "--readlink"))) print_readlink("readlink", v);
        else if ((v = value_of(arg, "--sleep"))) {
            unsigned seconds = (unsigned)atoi(v);
            while (seconds > 0) seconds = sleep(seconds);
            emit("sleep", "%s", v);
        } else if ((v = value_of(arg, "--exit-code"))) {
            emit("exit_code", "%s", v);
            return atoi(v);
        } else if ((v = value_of(arg, "--notify"))) notify(v);
        else if (strcmp(arg, "--silent-sigterm") == 0) {
            struct sigaction action = { .sa_handler = exit_quietly };
            sigemptyset(&action.sa_mask);
            if (sigaction(SIGTERM, &action, NULL) != 0) emit_errno("silent_sigterm", errno); else emit("silent_sigterm", "ok");
        } else return usage(arg);
    }
    return failures ? 1 : 0;
}
