#define _GNU_SOURCE
#include "CKVM.h"

#include <sys/prctl.h>
int kvm_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

struct kvm_namespace_exec { const char *path; char *const *argv; char *const *envp; };

static int kvm_namespace_child(void *argument) {
    const struct kvm_namespace_exec *e = (const struct kvm_namespace_exec *)argument;
    // Dies with the process that started it (the one holding the pod lock); as PID 1 of its PID
    // namespace, its death takes every process of the namespace with it, QEMU included.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    // A /proc of this namespace: libvirt looks QEMU up by the pid QEMU reports, which is this
    // namespace's.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(125);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) _exit(125);
    execve(e->path, e->argv, e->envp);
    _exit(127);
}

pid_t kvm_spawn_in_pid_namespace(const char *path, char *const argv[], char *const envp[]) {
    static char stack[64 * 1024] __attribute__((aligned(16)));
    struct kvm_namespace_exec e = { path, argv, envp };
    // No CLONE_VM: the child has its own copy of memory, so `e` and the stack stay valid in it.
    return clone(kvm_namespace_child, stack + sizeof stack, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, &e);
}
