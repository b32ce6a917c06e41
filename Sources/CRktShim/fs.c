#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <fcntl.h>
#include "rkt_fs.h"

int rkt_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}

dev_t rkt_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
unsigned int rkt_major(dev_t dev) { return major(dev); }
unsigned int rkt_minor(dev_t dev) { return minor(dev); }

ssize_t rkt_copy_file_range(int fd_in, int fd_out, size_t len) {
    return copy_file_range(fd_in, NULL, fd_out, NULL, len, 0);
}

int rkt_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}
