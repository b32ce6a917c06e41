// Why this exists: glibc declares copy_file_range and sync_file_range only under _GNU_SOURCE,
// which Swift's Glibc module does not define, and makedev/major/minor are macros.
#ifndef RKT_FS_H
#define RKT_FS_H

#include <sys/types.h>

/// copy_file_range(2): glibc declares it only under _GNU_SOURCE.
ssize_t rkt_copy_file_range(int fd_in, int fd_out, size_t len);

/// sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE): start writeback without waiting, so a
/// later fsync of a large file has little left to do.
int rkt_start_writeback(int fd, long long offset, long long length);

/// makedev(3), major(3), minor(3) are macros in glibc.
dev_t rkt_makedev(unsigned int major, unsigned int minor);
unsigned int rkt_major(dev_t dev);
unsigned int rkt_minor(dev_t dev);

#endif
