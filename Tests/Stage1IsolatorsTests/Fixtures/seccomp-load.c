/* Test helper for Stage1IsolatorsTests: loads a seccomp filter (raw struct sock_filter records, as
 * SeccompPolicy.compileBPF writes them) the way the pod init does, then makes one system call.
 *   seccomp-load FILTER SYSCALL
 *   seccomp-load FILTER --exec PROGRAM [ARG...]   (execs PROGRAM under the filter)
 * Exit status: 0 if the call succeeded or failed with an errno other than the filter's (see below),
 * else the errno; a filter that kills leaves the process dead by SIGSYS.
 * The call's own arguments are harmless: each is made to fail on its own (bad pointer, bad magic)
 * if the filter lets it through, with an errno the tests can tell from the filter's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3 || (argc > 3 && strcmp(argv[2], "--exec") != 0)) {
        fprintf(stderr, "usage: seccomp-load FILTER SYSCALL | seccomp-load FILTER --exec PROGRAM [ARG...]\n");
        return 100;
    }
    static struct sock_filter program[BPF_MAXINSNS];
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 101; }
    ssize_t size = read(fd, program, sizeof program);
    close(fd);
    if (size <= 0 || size % sizeof(struct sock_filter) != 0) { fprintf(stderr, "bad filter size %zd\n", size); return 102; }
    struct sock_fprog fprog = { .len = (unsigned short)(size / sizeof(struct sock_filter)), .filter = program };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 103; }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) { perror("PR_SET_SECCOMP"); return 104; }

    if (strcmp(argv[2], "--exec") == 0) {
        execv(argv[3], argv + 3);
        return 106;
    }
    const char *name = argv[2];
    long result;
    if (strcmp(name, "getpid") == 0) result = syscall(SYS_getpid);
    else if (strcmp(name, "swapon") == 0) result = syscall(SYS_swapon, (void *)1, 0);          /* EFAULT if allowed */
    else if (strcmp(name, "reboot") == 0) result = syscall(SYS_reboot, 0, 0, 0, (void *)0);   /* EINVAL: bad magic */
    else if (strcmp(name, "init_module") == 0) result = syscall(SYS_init_module, (void *)1, 0, (void *)1); /* EFAULT/ENOEXEC */
    else if (strcmp(name, "clone3") == 0) result = syscall(SYS_clone3, (void *)0, 0);          /* EINVAL if allowed */
    else if (strcmp(name, "mkdirat") == 0) result = syscall(SYS_mkdirat, AT_FDCWD, (void *)1, 0700); /* EFAULT */
    else { fprintf(stderr, "unknown syscall %s\n", name); return 105; }
    if (result >= 0) return 0;
    /* Errors the calls produce by themselves when let through count as "allowed". */
    if (errno == EFAULT || errno == EINVAL || errno == ENOEXEC) return 0;
    return errno;
}
