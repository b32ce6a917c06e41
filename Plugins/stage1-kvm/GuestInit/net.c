/*
 * The guest's network (stage1-kvm). The host supervisor connected a tap to each of the pod's CNI
 * interfaces and gave the guest's virtio NIC that interface's MAC (Supervisor/Network.swift); it
 * wrote what the CNI plugins configured in the pod's namespace to the plan's `network` file:
 *
 *   link <name> <mac> <mtu>          the NIC with this MAC becomes <name> (eth0, ...), MTU, up
 *   addr <name> <address>/<prefix>   an IPv4 or IPv6 address (IPv6 without DAD: it is the
 *                                    address CNI already validated)
 *   route <name> <dst>/<prefix> <gateway|->   a route of the main table (directly attached
 *                                    routes come before the ones through a gateway)
 *
 * Links are set with ioctls, addresses and routes with rtnetlink (both families alike). The
 * virtio_net module is loaded with the others from /modules.order before this runs.
 */
#define _GNU_SOURCE
#include "net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int net_fail(char *error, size_t size, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(error, size, format, ap);
    va_end(ap);
    return -1;
}

/* The interface whose MAC is `mac` (case-insensitive), waiting up to ~5 s for the driver. */
static int find_by_mac(const char *mac, char *name, size_t size) {
    for (int attempt = 0; attempt < 500; attempt++) {
        DIR *dir = opendir("/sys/class/net");
        struct dirent *entry;
        while (dir && (entry = readdir(dir))) {
            if (entry->d_name[0] == '.') continue;
            char path[300], value[64] = "";
            snprintf(path, sizeof path, "/sys/class/net/%s/address", entry->d_name);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            ssize_t n = read(fd, value, sizeof value - 1);
            close(fd);
            if (n <= 0) continue;
            value[strcspn(value, "\n")] = 0;
            if (strcasecmp(value, mac) == 0) {
                snprintf(name, size, "%.15s", entry->d_name);
                closedir(dir);
                return 0;
            }
        }
        if (dir) closedir(dir);
        struct timespec pause_time = {0, 10 * 1000 * 1000};
        nanosleep(&pause_time, NULL);
    }
    return -1;
}

static int link_up(int sock, const char *name) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%.15s", name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return -1;
    ifr.ifr_flags |= IFF_UP;
    return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

/* One rtnetlink request, answered by an ACK; EEXIST counts as done (the kernel already made a
 * prefix route for an address). Returns 0 or an errno. */
static int rtnl(int fd, struct nlmsghdr *message) {
    static unsigned sequence = 1;
    message->nlmsg_seq = ++sequence;
    message->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    if (send(fd, message, message->nlmsg_len, 0) < 0) return errno;
    char buffer[8192];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0) { if (errno == EINTR) continue; return errno; }
        int length = (int)n;
        for (struct nlmsghdr *reply = (struct nlmsghdr *)buffer; NLMSG_OK(reply, length); reply = NLMSG_NEXT(reply, length)) {
            if (reply->nlmsg_seq != message->nlmsg_seq || reply->nlmsg_type != NLMSG_ERROR) continue;
            int code = -((struct nlmsgerr *)NLMSG_DATA(reply))->error;
            return code == EEXIST ? 0 : code;
        }
    }
}

struct request {
    struct nlmsghdr header;
    union { struct ifaddrmsg address; struct rtmsg route; } body;
    char attributes[256];
};

static void attribute(struct request *r, unsigned short type, const void *data, size_t length) {
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->header.nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(length);
    memcpy(RTA_DATA(a), data, length);
    r->header.nlmsg_len = NLMSG_ALIGN(r->header.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* "10.1.2.3/24" or "fd00::3/64" into family, bytes, prefix length. */
static int parse_prefix(const char *text, int *family, unsigned char bytes[16], int *length) {
    char copy[64];
    snprintf(copy, sizeof copy, "%s", text);
    char *slash = strchr(copy, '/');
    if (!slash) return -1;
    *slash = 0;
    *length = atoi(slash + 1);
    if (inet_pton(AF_INET, copy, bytes) == 1) { *family = AF_INET; return *length <= 32 ? 0 : -1; }
    if (inet_pton(AF_INET6, copy, bytes) == 1) { *family = AF_INET6; return *length <= 128 ? 0 : -1; }
    return -1;
}

static int add_address(int fd, const char *name, const char *prefix) {
    int family, length;
    unsigned char bytes[16];
    if (parse_prefix(prefix, &family, bytes, &length) != 0) return EINVAL;
    struct request r;
    memset(&r, 0, sizeof r);
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    r.header.nlmsg_type = RTM_NEWADDR;
    r.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.body.address.ifa_family = family;
    r.body.address.ifa_prefixlen = length;
    r.body.address.ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
    r.body.address.ifa_index = if_nametoindex(name);
    if (r.body.address.ifa_index == 0) return errno;
    size_t size = family == AF_INET ? 4 : 16;
    attribute(&r, IFA_LOCAL, bytes, size);
    attribute(&r, IFA_ADDRESS, bytes, size);
    return rtnl(fd, &r.header);
}

static int add_route(int fd, const char *name, const char *destination, const char *gateway) {
    int family, length;
    unsigned char bytes[16], via[16];
    if (parse_prefix(destination, &family, bytes, &length) != 0) return EINVAL;
    int has_gateway = strcmp(gateway, "-") != 0;
    if (has_gateway && inet_pton(family, gateway, via) != 1) return EINVAL;
    struct request r;
    memset(&r, 0, sizeof r);
    r.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.header.nlmsg_type = RTM_NEWROUTE;
    r.header.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.body.route.rtm_family = family;
    r.body.route.rtm_dst_len = length;
    r.body.route.rtm_table = RT_TABLE_MAIN;
    r.body.route.rtm_protocol = RTPROT_BOOT;
    r.body.route.rtm_scope = has_gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    r.body.route.rtm_type = RTN_UNICAST;
    size_t size = family == AF_INET ? 4 : 16;
    if (length > 0) attribute(&r, RTA_DST, bytes, size);
    if (has_gateway) attribute(&r, RTA_GATEWAY, via, size);
    unsigned index = if_nametoindex(name);
    if (index == 0) return errno;
    attribute(&r, RTA_OIF, &index, sizeof index);
    return rtnl(fd, &r.header);
}

int net_configure(const char *plan, char *error, size_t error_size) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return net_fail(error, error_size, "network: socket: %s", strerror(errno));
    if (link_up(sock, "lo") != 0) { close(sock); return net_fail(error, error_size, "network: cannot bring up lo: %s", strerror(errno)); }
    FILE *file = fopen(plan, "re");
    if (!file) { close(sock); return 0; }
    int netlink = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (netlink < 0) { fclose(file); close(sock); return net_fail(error, error_size, "network: netlink socket: %s", strerror(errno)); }
    char line[512];
    int result = 0;
    while (result == 0 && fgets(line, sizeof line, file)) {
        char verb[16], name[IFNAMSIZ], first[80], second[80];
        int fields = sscanf(line, "%15s %15s %79s %79s", verb, name, first, second);
        if (fields < 3) continue;
        if (strcmp(verb, "link") == 0 && fields == 4) {
            char current[IFNAMSIZ];
            if (find_by_mac(first, current, sizeof current) != 0) {
                result = net_fail(error, error_size, "network: no NIC with MAC %s for %s (is virtio_net loaded?)", first, name);
                break;
            }
            struct ifreq ifr;
            memset(&ifr, 0, sizeof ifr);
            snprintf(ifr.ifr_name, IFNAMSIZ, "%.15s", current);
            if (strcmp(current, name) != 0) {
                snprintf(ifr.ifr_newname, IFNAMSIZ, "%.15s", name);
                if (ioctl(sock, SIOCSIFNAME, &ifr) != 0) {
                    result = net_fail(error, error_size, "network: cannot rename %s to %s: %s", current, name, strerror(errno));
                    break;
                }
                snprintf(ifr.ifr_name, IFNAMSIZ, "%.15s", name);
            }
            ifr.ifr_mtu = atoi(second);
            if (ifr.ifr_mtu > 0 && ioctl(sock, SIOCSIFMTU, &ifr) != 0) {
                result = net_fail(error, error_size, "network: cannot set the MTU of %s to %d: %s", name, ifr.ifr_mtu, strerror(errno));
                break;
            }
            if (link_up(sock, name) != 0) result = net_fail(error, error_size, "network: cannot bring up %s: %s", name, strerror(errno));
        } else if (strcmp(verb, "addr") == 0) {
            int code = add_address(netlink, name, first);
            if (code != 0) result = net_fail(error, error_size, "network: cannot add address %s to %s: %s", first, name, strerror(code));
        } else if (strcmp(verb, "route") == 0 && fields == 4) {
            int code = add_route(netlink, name, first, second);
            if (code != 0) result = net_fail(error, error_size, "network: cannot add route %s via %s dev %s: %s", first, second, name, strerror(code));
        }
    }
    fclose(file);
    close(netlink);
    close(sock);
    return result;
}
