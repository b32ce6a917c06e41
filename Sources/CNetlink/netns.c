#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/random.h>
#include "CNetlink.h"

int cnl_setns(int fd, int nstype) { return setns(fd, nstype); }

int cnl_unshare(int flags) { return unshare(flags); }

int cnl_getrandom(void *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t n = getrandom((char *)buffer + done, length - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}
