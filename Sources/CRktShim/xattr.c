#include <sys/xattr.h>
#include "rkt_xattr.h"

ssize_t rkt_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }
ssize_t rkt_lgetxattr(const char *path, const char *name, void *value, size_t size) { return lgetxattr(path, name, value, size); }
int rkt_lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags) { return lsetxattr(path, name, value, size, flags); }
