// Why this exists: glibc declares renameat2 and the RENAME_* flags only under
// _GNU_SOURCE, and Swift's Glibc module does not export them.
#ifndef RKT_FS_H
#define RKT_FS_H

#include <sys/types.h>

/// renameat2(2); flags: RKT_RENAME_NOREPLACE or RKT_RENAME_EXCHANGE. Returns -1 and sets errno on failure.
int rkt_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

#define RKT_RENAME_NOREPLACE (1u << 0)
#define RKT_RENAME_EXCHANGE (1u << 1)

/// makedev(3) is a macro in glibc.
dev_t rkt_makedev(unsigned int major, unsigned int minor);
unsigned int rkt_major(dev_t dev);
unsigned int rkt_minor(dev_t dev);

/// copy_file_range(2): glibc declares it only under _GNU_SOURCE.
ssize_t rkt_copy_file_range(int fd_in, int fd_out, size_t len);

/// sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE): start writeback without waiting, so a
/// later fsync of a large file has little left to do.
int rkt_start_writeback(int fd, long long offset, long long length);

#endif
