#!/bin/sh
# Builds the kvm stage1 image: `stage1-kvm` (the supervisor, Swift, from Plugins/stage1-kvm) and
# the guest's kernel and initramfs (our own PID 1, Plugins/stage1-kvm/GuestInit, static C, plus the
# virtio, virtio-serial and 9p modules of the kernel) in a stage1 ACI named rkt.dev/stage1-kvm.
# Usage: images/stage1-kvm/build.sh [OUTDIR]   (default: images/out) -> OUTDIR/stage1-kvm.aci
# Env: RKT_PACKAGE_DIR  the Swift package to build in (default: this repository)
#      STAGE1_KVM_VERSION  the image's version label (default 0.1.0)
#      STAGE1_KVM_KERNEL   the kernel image (default: the newest /boot/vmlinuz-*-amd64 of Debian's
#                          linux-image-amd64); its modules come from /lib/modules/<its release>
#      STAGE1_KVM_BINARY   use this stage1-kvm instead of building it
#      STAGE1_KVM_SCRATCH  the Swift build's scratch path (default .build)
#      CC  the C compiler for the guest init (default cc)
# Needs: linux-image-amd64, libvirt-dev, cpio (scripts/deps.sh installs them).
set -eu
. "$(cd "$(dirname "$0")" && pwd)/../lib/stage1-aci.sh"
out=${1:-$repo/images/out}

kernel=${STAGE1_KVM_KERNEL:-$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)}
[ -n "$kernel" ] && [ -f "$kernel" ] || { echo "stage1-kvm: no kernel (install linux-image-amd64 or set STAGE1_KVM_KERNEL)" >&2; exit 1; }
release=${kernel##*/vmlinuz-}
modules=/lib/modules/$release
[ -f "$modules/modules.dep" ] || { echo "stage1-kvm: no $modules/modules.dep for $kernel" >&2; exit 1; }

# The supervisor links libvirt, which Debian ships only as a shared library: the Swift runtime is
# linked statically, glibc and libvirt come from the host (the plugin runs on the host).
if [ -n "${STAGE1_KVM_BINARY:-}" ]; then
    binary=$STAGE1_KVM_BINARY
else
    scratch=${STAGE1_KVM_SCRATCH:-.build}
    (cd "$package" && swift build -c release --scratch-path "$scratch" --product stage1-kvm -Xswiftc -static-stdlib >&2)
    binary=$(cd "$package" && cd "$scratch" && pwd)/release/stage1-kvm
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/rootfs/kvm" "$work/initramfs"
install -m 0755 "$binary" "$work/rootfs/stage1-kvm"
strip "$work/rootfs/stage1-kvm" 2>/dev/null || true

# The initramfs: /init and the modules the guest needs, in dependency order (modules.dep lists a
# module's dependencies, deepest last; load those first). Uncompressed: unpacking gzip under TCG
# costs more than reading the larger file.
initramfs=$work/initramfs
${CC:-cc} -static -O2 -Wall -Wextra -o "$initramfs/init" "$package/Plugins/stage1-kvm/GuestInit/init.c" "$package/Plugins/stage1-kvm/GuestInit/net.c"
strip "$initramfs/init"
order=""
add_module() {
    case " $order " in *" $1 "*) return ;; esac
    deps=$(grep "^$1:" "$modules/modules.dep" | cut -d: -f2)
    for dep in $deps; do add_module "$dep"; done
    order="$order $1"
}
# virtio_net: the pod's NICs on CNI networks (GuestInit/net.c).
for name in virtio_pci virtio_console 9pnet_virtio 9p virtio_net; do
    path=$(grep -o "^[^:]*/$name\.ko[^:]*" "$modules/modules.dep" | head -n 1)
    if [ -z "$path" ]; then
        grep -q "/$name\.ko" "$modules/modules.builtin" || { echo "stage1-kvm: module $name missing from $release" >&2; exit 1; }
        continue
    fi
    add_module "$path"
done
: > "$initramfs/modules.order"
for path in $order; do
    mkdir -p "$initramfs/lib/modules/$(dirname "$path")"
    case "$path" in
        *.ko.xz) xz -dc "$modules/$path" > "$initramfs/lib/modules/${path%.xz}"; path=${path%.xz} ;;
        *.ko.zst) zstd -qdc "$modules/$path" > "$initramfs/lib/modules/${path%.zst}"; path=${path%.zst} ;;
        *) cp "$modules/$path" "$initramfs/lib/modules/$path" ;;
    esac
    echo "/lib/modules/$path" >> "$initramfs/modules.order"
done
mkdir -p "$initramfs/dev" "$initramfs/proc" "$initramfs/sys"
(cd "$initramfs" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0 --reproducible) > "$work/rootfs/kvm/initramfs.cpio"
install -m 0644 "$kernel" "$work/rootfs/kvm/vmlinuz"
echo "$release" > "$work/rootfs/kvm/release"
chmod 0644 "$work/rootfs/kvm/initramfs.cpio" "$work/rootfs/kvm/release"
stage1_package rkt.dev/stage1-kvm "${STAGE1_KVM_VERSION:-0.1.0}" /stage1-kvm \
    "rkt's kvm stage1: one virtual machine per pod, through libvirt's embedded QEMU driver" \
    "$work/rootfs" "$out/stage1-kvm.aci"
