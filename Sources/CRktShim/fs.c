#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include "rkt_fs.h"

ssize_t rkt_copy_file_range(int fd_in, int fd_out, size_t len) {
    return copy_file_range(fd_in, NULL, fd_out, NULL, len, 0);
}

int rkt_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

dev_t rkt_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
unsigned int rkt_major(dev_t dev) { return major(dev); }
unsigned int rkt_minor(dev_t dev) { return minor(dev); }
