// Why this exists: Swift's Glibc module does not export setns, unshare or getrandom (they sit
// behind _GNU_SOURCE / <sys/random.h>), and Netlink needs them to enter network namespaces and to
// name veth devices. Nothing else belongs here: netlink messages are encoded in Swift.
#ifndef CNETLINK_H
#define CNETLINK_H
#include <sys/types.h>

/// setns(2) for the calling thread. Returns 0, or -1 with errno set.
int cnl_setns(int fd, int nstype);
/// unshare(2) for the calling thread. Returns 0, or -1 with errno set.
int cnl_unshare(int flags);
/// getrandom(2), retried until `length` bytes are filled. Returns 0, or -1 with errno set.
int cnl_getrandom(void *buffer, size_t length);

#endif
