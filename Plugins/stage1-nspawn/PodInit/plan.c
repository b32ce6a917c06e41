#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cursor {
    char *p, *end;
    struct plan *plan;
};

static const char *next(struct cursor *c) {
    if (c->p >= c->end) return NULL;
    char *s = c->p;
    char *nul = memchr(s, 0, (size_t)(c->end - s));
    if (!nul) return NULL;
    c->p = nul + 1;
    return s;
}

static int fail(struct cursor *c, const char *what, const char *record) {
    snprintf(c->plan->error, sizeof c->plan->error, "%s in record \"%s\"", what, record ? record : "?");
    return -1;
}

static int number(struct cursor *c, const char *record, int base, long long *out) {
    const char *s = next(c);
    if (!s || !*s) return fail(c, "missing number", record);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (*end || errno) return fail(c, "bad number", record);
    *out = v;
    return 0;
}

static int string(struct cursor *c, const char *record, const char **out) {
    const char *s = next(c);
    if (!s) return fail(c, "missing argument", record);
    *out = s;
    return 0;
}

static int list(struct cursor *c, const char *record, char ***out, int *count) {
    long long n;
    if (number(c, record, 10, &n) != 0) return -1;
    if (n < 0 || n > 1 << 20) return fail(c, "bad count", record);
    char **v = calloc((size_t)n + 1, sizeof *v);
    if (!v) return fail(c, "out of memory", record);
    for (long long i = 0; i < n; i++) {
        const char *s = next(c);
        if (!s) return fail(c, "list too short", record);
        v[i] = (char *)s;
    }
    *out = v;
    if (count) *count = (int)n;
    return 0;
}

static struct op *new_op(struct plan *p, int kind) {
    struct op *ops = realloc(p->ops, (size_t)(p->nops + 1) * sizeof *ops);
    if (!ops) return NULL;
    p->ops = ops;
    struct op *o = &ops[p->nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->a = o->b = o->c = o->d = "";
    return o;
}

const char *op_name(int kind) {
    switch (kind) {
    case OP_MKDIR: return "mkdir";
    case OP_FILE: return "create";
    case OP_SYMLINK: return "symlink";
    case OP_MKNOD: return "mknod";
    case OP_MOUNT: return "mount";
    case OP_READONLY: return "make read-only";
    case OP_MASK: return "mask";
    case OP_CONSOLE: return "set up the console";
    case OP_RESTRICT: return "restrict";
    }
    return "?";
}

int plan_load(const char *path, struct plan *p) {
    memset(p, 0, sizeof *p);
    p->stop_timeout_ms = 10000;
    p->notify_fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); return -1; }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) { close(fd); return -1; }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    struct cursor c = {buf, buf + got, p};
    struct app *a = NULL;
    const char *r;
    long long n;
    while ((r = next(&c)) != NULL) {
        struct op *o = NULL;
        if (!strcmp(r, "hostname")) { if (string(&c, r, &p->hostname)) return -1; }
        else if (!strcmp(r, "loopback")) p->loopback = 1;
        else if (!strcmp(r, "interactive")) p->interactive = 1;
        else if (!strcmp(r, "stop-timeout")) { if (number(&c, r, 10, &p->stop_timeout_ms)) return -1; }
        else if (!strcmp(r, "ready")) { if (string(&c, r, &p->ready_path)) return -1; }
        else if (!strcmp(r, "enter-pid")) { if (number(&c, r, 10, &n)) return -1; p->enter_pid = (pid_t)n; }
        else if (!strcmp(r, "notify-fd")) { if (number(&c, r, 10, &n)) return -1; p->notify_fd = (int)n; }
        else if (!strcmp(r, "mkdir")) {
            if (!(o = new_op(p, OP_MKDIR)) || string(&c, r, &o->a) || number(&c, r, 8, &o->n1)) return -1;
        } else if (!strcmp(r, "file")) {
            if (!(o = new_op(p, OP_FILE)) || string(&c, r, &o->a) || number(&c, r, 8, &o->n1)) return -1;
        } else if (!strcmp(r, "symlink")) {
            if (!(o = new_op(p, OP_SYMLINK)) || string(&c, r, &o->a) || string(&c, r, &o->b)) return -1;
        } else if (!strcmp(r, "mknod")) {
            if (!(o = new_op(p, OP_MKNOD)) || string(&c, r, &o->a) || number(&c, r, 8, &o->n1) ||
                number(&c, r, 10, &o->n2) || number(&c, r, 10, &o->n3)) return -1;
        } else if (!strcmp(r, "mount")) {
            if (!(o = new_op(p, OP_MOUNT)) || string(&c, r, &o->a) || string(&c, r, &o->b) || string(&c, r, &o->c) ||
                number(&c, r, 10, &o->n1) || string(&c, r, &o->d)) return -1;
        } else if (!strcmp(r, "ro")) {
            if (!(o = new_op(p, OP_READONLY)) || string(&c, r, &o->a) || number(&c, r, 10, &o->n1)) return -1;
        } else if (!strcmp(r, "restrict")) {
            if (!(o = new_op(p, OP_RESTRICT)) || string(&c, r, &o->a) || number(&c, r, 10, &o->n1)) return -1;
        } else if (!strcmp(r, "mask")) {
            if (!(o = new_op(p, OP_MASK)) || string(&c, r, &o->a)) return -1;
        } else if (!strcmp(r, "console")) {
            if (!(o = new_op(p, OP_CONSOLE)) || string(&c, r, &o->a)) return -1;
        } else if (!strcmp(r, "app")) {
            if (p->napps >= MAX_APPS) return fail(&c, "too many apps", r);
            a = &p->apps[p->napps++];
            memset(a, 0, sizeof *a);
            a->pid = -1;
            if (string(&c, r, &a->name)) return -1;
        } else if (!a) {
            return fail(&c, "unknown record", r);
        } else if (!strcmp(r, "rootfs")) { if (string(&c, r, &a->rootfs)) return -1; }
        else if (!strcmp(r, "argv")) { if (list(&c, r, &a->argv, NULL)) return -1; }
        else if (!strcmp(r, "paths")) { if (list(&c, r, &a->paths, NULL)) return -1; }
        else if (!strcmp(r, "env")) { if (list(&c, r, &a->env, NULL)) return -1; }
        else if (!strcmp(r, "cwd")) { if (string(&c, r, &a->cwd)) return -1; }
        else if (!strcmp(r, "uid")) { if (number(&c, r, 10, &n)) return -1; a->uid = (uid_t)n; }
        else if (!strcmp(r, "gid")) { if (number(&c, r, 10, &n)) return -1; a->gid = (gid_t)n; }
        else if (!strcmp(r, "groups")) {
            char **v;
            int count;
            if (list(&c, r, &v, &count)) return -1;
            a->groups = calloc((size_t)count + 1, sizeof *a->groups);
            if (!a->groups) return fail(&c, "out of memory", r);
            for (int i = 0; i < count; i++) a->groups[i] = (gid_t)strtoul(v[i], NULL, 10);
            a->ngroups = (size_t)count;
            free(v);
        }
        else if (!strcmp(r, "log")) { if (string(&c, r, &a->log_path)) return -1; }
        else if (!strcmp(r, "status")) { if (string(&c, r, &a->status_path)) return -1; }
        else if (!strcmp(r, "created")) { if (string(&c, r, &a->created_path)) return -1; }
        else if (!strcmp(r, "started")) { if (string(&c, r, &a->started_path)) return -1; }
        else if (!strcmp(r, "pidfile")) { if (string(&c, r, &a->pid_path)) return -1; }
        else if (!strcmp(r, "seccomp")) { if (string(&c, r, &a->seccomp)) return -1; }
        else if (!strcmp(r, "cgroup2")) { if (string(&c, r, &a->cgroup2)) return -1; }
        else if (!strcmp(r, "cgroup")) {
            const char *s;
            if (string(&c, r, &s)) return -1;
            char **v = realloc(a->cgroups, (size_t)(a->ncgroups + 1) * sizeof *v);
            if (!v) return fail(&c, "out of memory", r);
            a->cgroups = v;
            v[a->ncgroups++] = (char *)s;
        }
        else if (!strcmp(r, "oom")) { if (number(&c, r, 10, &n)) return -1; a->has_oom = 1; a->oom = (int)n; }
        else if (!strcmp(r, "caps")) { if (number(&c, r, 16, &n)) return -1; a->has_caps = 1; a->caps = (uint64_t)n; }
        else if (!strcmp(r, "nnp")) a->nnp = 1;
        else if (!strcmp(r, "notify")) { if (string(&c, r, &a->notify_socket)) return -1; }
        else return fail(&c, "unknown record", r);
    }
    for (int i = 0; i < p->napps; i++) {
        struct app *x = &p->apps[i];
        if (!x->rootfs || !x->argv || !x->argv[0] || !x->paths || !x->env) {
            snprintf(p->error, sizeof p->error, "app %s lacks rootfs, argv, paths or env", x->name);
            return -1;
        }
        if (x->seccomp) {
            int sfd = open(x->seccomp, O_RDONLY | O_CLOEXEC);
            struct stat sst;
            if (sfd < 0 || fstat(sfd, &sst) != 0 || sst.st_size <= 0 || sst.st_size % 8 != 0) {
                snprintf(p->error, sizeof p->error, "app %s: cannot read the seccomp filter %s", x->name, x->seccomp);
                if (sfd >= 0) close(sfd);
                return -1;
            }
            x->seccomp_filter = malloc((size_t)sst.st_size);
            size_t have = 0;
            while (x->seccomp_filter && have < (size_t)sst.st_size) {
                ssize_t n = read(sfd, (char *)x->seccomp_filter + have, (size_t)sst.st_size - have);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                have += (size_t)n;
            }
            close(sfd);
            if (!x->seccomp_filter || have != (size_t)sst.st_size) {
                snprintf(p->error, sizeof p->error, "app %s: cannot read the seccomp filter %s", x->name, x->seccomp);
                return -1;
            }
            x->seccomp_len = have;
        }
    }
    return 0;
}
