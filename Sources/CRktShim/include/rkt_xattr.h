// Why this exists: Swift's Glibc module does not export <sys/xattr.h>.
#ifndef RKT_XATTR_H
#define RKT_XATTR_H
#include <sys/types.h>

ssize_t rkt_llistxattr(const char *path, char *list, size_t size);
ssize_t rkt_lgetxattr(const char *path, const char *name, void *value, size_t size);
int rkt_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags);

#endif
