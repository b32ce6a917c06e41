#!/bin/sh
# Packages the CNI plugin `cni-bridge` (Plugins/cni-bridge) as an ACI: the static, stripped
# executable at /cni-bridge in the rootfs, named by the `rkt.dev/cni-plugin` annotation.
# Usage: images/cni-bridge/build.sh [OUTFILE]   (default: images/out/cni-bridge.aci)
# Env: RKT_PACKAGE_DIR     the Swift package to build in (default: this repository)
#      SWIFT_SCRATCH_PATH  swift build --scratch-path (default: the package's .build)
#      CNI_BRIDGE_BINARY   a static cni-bridge already built: package it instead of building
#      CNI_BRIDGE_VERSION  the image's version label (default 0.1.0)
# The image is checked with `actool validate` when actool is installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
package=${RKT_PACKAGE_DIR:-$repo}
scratch=${SWIFT_SCRATCH_PATH:-$package/.build}
out=${1:-$repo/images/out/cni-bridge.aci}
version=${CNI_BRIDGE_VERSION:-0.1.0}
case "$(uname -m)" in
    x86_64) arch=amd64 ;; aarch64) arch=aarch64 ;; *) arch=$(uname -m) ;;
esac

# Static: runtimes exec plugins from anywhere, with no Swift runtime installed, about a
# millisecond to start.
binary=${CNI_BRIDGE_BINARY:-}
if [ -z "$binary" ]; then
    (cd "$package" && swift build -c release --scratch-path "$scratch" --product cni-bridge -Xswiftc -static-executable)
    binary=$scratch/release/cni-bridge
fi
file -b "$binary" | grep -q 'statically linked' || { echo "cni-bridge: $binary is not static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$(dirname "$out")" "$work/rootfs"
cp "$binary" "$work/rootfs/cni-bridge"
strip "$work/rootfs/cni-bridge" 2>/dev/null || true
chmod 0755 "$work/rootfs" "$work/rootfs/cni-bridge"

cat > "$work/manifest" <<MANIFEST
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "rkt.dev/cni-bridge",
    "labels": [
        {"name": "version", "value": "$version"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "annotations": [
        {"name": "rkt.dev/cni-plugin", "value": "/cni-bridge"},
        {"name": "description", "value": "CNI bridge plugin: bridge + veth, host-local compatible IPAM, ipMasq; CNI 0.1.0 to 1.1.0"}
    ]
}
MANIFEST
chmod 0644 "$work/manifest"

# Deterministic: sorted, numeric root ownership, fixed mtime, gzip without name or time.
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
    --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$work" -cf - manifest rootfs | gzip -6 -n > "$out.tmp"
mv -f "$out.tmp" "$out"
if command -v actool >/dev/null 2>&1; then
    actool validate "$out"
fi
echo "$out: $(wc -c < "$out") bytes"
