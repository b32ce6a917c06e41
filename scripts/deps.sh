#!/bin/sh
# Installs the Debian packages rkt needs to build, test and benchmark (idempotent).
set -eu
packages="libarchive-dev libssl-dev libsqlite3-dev libseccomp-dev libcap-dev libacl1-dev libzstd-dev liblz4-dev
libbz2-dev liblzma-dev zlib1g-dev libxml2-dev nettle-dev libicu-dev pkg-config busybox-static appc-spec
golang-github-appc-spec-dev jq zstd xz-utils bzip2 file hyperfine time iptables containernetworking-plugins
python3 gpg gpgv openssl curl docker-registry skopeo umoci gcc libc6-dev
libvirt-dev libvirt-daemon-driver-qemu qemu-system-x86 linux-image-amd64 cpio"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
# stage1-kvm: libvirt's QEMU driver resolves its built-in user and group even when qemu.conf says root.
getent passwd libvirt-qemu >/dev/null || { groupadd -f --system libvirt-qemu && useradd --system --no-create-home --shell /usr/sbin/nologin -g libvirt-qemu libvirt-qemu; }
