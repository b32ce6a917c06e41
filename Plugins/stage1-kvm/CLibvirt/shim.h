// libvirt's public API, for stage1-kvm (Debian: libvirt-dev; the QEMU driver it loads at run time
// comes from libvirt-daemon-driver-qemu). No feature macros here: this module shares glibc's
// headers with Foundation's, and a different _GNU_SOURCE would make them disagree (fd_set).
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
