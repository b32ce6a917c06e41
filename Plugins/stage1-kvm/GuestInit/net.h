/* The guest's network: loopback, and the NICs the host supervisor describes in the plan's
 * `network` file (Supervisor/Network.swift). See net.c. */
#ifndef RKT_KVM_NET_H
#define RKT_KVM_NET_H

#include <stddef.h>

/* Brings up loopback, then each NIC listed in `plan` (a missing file: loopback only). Returns 0,
 * or -1 with a message in `error`. */
int net_configure(const char *plan, char *error, size_t error_size);

#endif
