// See machined.h. busctl rather than a D-Bus client of our own, for the reasons in
// Sources/Stage1Kit/Machined.swift (whose registerArguments this call mirrors).
#define _GNU_SOURCE
#include "machined.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void machined_unregister(void) {
    const char *name = getenv("RKT_MACHINE_NAME");
    if (!name || !*name) return;
    pid_t pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        char *argv[] = {"busctl", "--system", "--quiet", "--timeout=5", "call", "org.freedesktop.machine1",
                        "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager", "UnregisterMachine", "s",
                        (char *)name, NULL};
        execvp("busctl", argv);
        _exit(127);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}
