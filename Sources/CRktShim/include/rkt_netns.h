// Why this exists: Swift's Glibc module exports neither unshare(2) nor setns(2), and a static
// binary cannot dlsym them. Creating a persistent network namespace needs both, on one thread.
#ifndef RKT_NETNS_H
#define RKT_NETNS_H

/// Steps of rkt_netns_create, reported through `failed_step` with errno set.
enum rkt_netns_step {
    RKT_NETNS_OK = 0,
    RKT_NETNS_THREAD = 1,   // pthread_create
    RKT_NETNS_UNSHARE = 2,  // unshare(CLONE_NEWNET)
    RKT_NETNS_MOUNT = 3,    // bind mount of /proc/thread-self/ns/net onto `path`
    RKT_NETNS_SOCKET = 4,   // socket inside the new namespace
    RKT_NETNS_LOOPBACK = 5, // SIOCGIFFLAGS/SIOCSIFFLAGS on lo
};

/// Creates a network namespace on a short-lived thread of its own (so no thread of the caller
/// ever changes namespace), bind-mounts it onto `path` (an existing empty file) and brings `lo`
/// up inside it. Returns 0, or -1 with errno set and `*failed_step` saying which step failed
/// (the bind mount is undone when bringing up lo fails).
int rkt_netns_create(const char *path, int *failed_step);

#endif
