// CKVM: what stage1-kvm needs from C besides libvirt: prctl (variadic) and clone with namespace
// flags, which Swift cannot reach or do safely.
#ifndef CKVM_H
#define CKVM_H

#include <sys/types.h>

/// Makes the caller a child subreaper: QEMU (daemonized by libvirt) is reparented to us, and we
/// reap it at once; this machine's PID 1 reaps orphans seconds late and libvirt waits for it.
int kvm_become_subreaper(void);

/// Starts `path` as PID 1 of a new PID and mount namespace (clone, then only syscalls and execve
/// in the child: safe in a threaded process). Returns its pid, or -1 with errno.
pid_t kvm_spawn_in_pid_namespace(const char *path, char *const argv[], char *const envp[]);

#endif
