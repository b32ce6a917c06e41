#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>
#include "rkt_netns.h"

struct netns_job {
    const char *path;
    int step;
    int error;
};

static void *netns_thread(void *arg) {
    struct netns_job *job = arg;
    // The thread ends right after, so its namespace never needs restoring.
    if (unshare(CLONE_NEWNET) != 0) { job->step = RKT_NETNS_UNSHARE; job->error = errno; return NULL; }
    if (mount("/proc/thread-self/ns/net", job->path, NULL, MS_BIND, NULL) != 0) {
        job->step = RKT_NETNS_MOUNT; job->error = errno; return NULL;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { job->step = RKT_NETNS_SOCKET; job->error = errno; goto undo; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) { job->step = RKT_NETNS_LOOPBACK; job->error = errno; close(fd); goto undo; }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) { job->step = RKT_NETNS_LOOPBACK; job->error = errno; close(fd); goto undo; }
    close(fd);
    return NULL;
undo:
    umount2(job->path, MNT_DETACH);
    return NULL;
}

int rkt_netns_create(const char *path, int *failed_step) {
    struct netns_job job = { path, RKT_NETNS_OK, 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_thread, &job);
    if (rc != 0) { *failed_step = RKT_NETNS_THREAD; errno = rc; return -1; }
    pthread_join(thread, NULL);
    *failed_step = job.step;
    if (job.step != RKT_NETNS_OK) { errno = job.error; return -1; }
    return 0;
}
