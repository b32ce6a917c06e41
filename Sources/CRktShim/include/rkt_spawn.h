// Why this exists: posix_spawn_file_actions_addchdir_np is a GNU extension Swift's Glibc module
// does not export, and Foundation's Process costs tens of milliseconds per child (run loop, fd
// sweeps). stage0 calls stage1 and CNI plugins as children on the pod start path.
#ifndef RKT_SPAWN_H
#define RKT_SPAWN_H
#include <sys/types.h>

/// posix_spawn `path` with `argv`/`envp` (NULL-terminated), in directory `cwd` (or NULL), stdin
/// from /dev/null, stdout to `stdout_fd` (or inherited if -1), stderr inherited. Returns the pid,
/// or -1 with errno set.
pid_t rkt_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int stdout_fd);

#endif
