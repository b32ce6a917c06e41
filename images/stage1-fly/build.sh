#!/bin/sh
# Builds the fly stage1 image: the static `stage1-fly` plugin (Plugins/stage1-fly) in a stage1 ACI.
# Usage: images/stage1-fly/build.sh [OUTDIR]   (default: images/out) -> OUTDIR/stage1-fly.aci
# Env: RKT_PACKAGE_DIR  the Swift package to build in (default: this repository)
#      STAGE1_FLY_VERSION  the image's version label (default 0.1.0)
# The image is checked with `actool validate` when actool is installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
package=${RKT_PACKAGE_DIR:-$repo}
out=${1:-$repo/images/out}
version=${STAGE1_FLY_VERSION:-0.1.0}
case "$(uname -m)" in
    x86_64) arch=amd64 ;; aarch64) arch=aarch64 ;; *) arch=$(uname -m) ;;
esac

# A static executable: it runs from the stage1 rootfs on any host, with no Swift runtime there,
# and starts in about a millisecond.
(cd "$package" && swift build -c release --product stage1-fly -Xswiftc -static-executable)
binary=$package/.build/release/stage1-fly
file -b "$binary" | grep -q 'statically linked' || { echo "stage1-fly: $binary is not static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out" "$work/rootfs/rkt/status" "$work/rootfs/rkt/env" "$work/rootfs/opt/stage2"
cp "$binary" "$work/rootfs/fly"
strip "$work/rootfs/fly" 2>/dev/null || true
chmod 0755 "$work/rootfs" "$work/rootfs/fly" "$work/rootfs/rkt" "$work/rootfs/rkt/status" "$work/rootfs/rkt/env" \
    "$work/rootfs/opt" "$work/rootfs/opt/stage2"

# One executable serves every entrypoint; it tells them apart by the request's `command`.
cat > "$work/manifest" <<MANIFEST
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "rkt.dev/stage1-fly",
    "labels": [
        {"name": "version", "value": "$version"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "annotations": [
        {"name": "coreos.com/rkt/stage1/run", "value": "/fly"},
        {"name": "coreos.com/rkt/stage1/enter", "value": "/fly"},
        {"name": "coreos.com/rkt/stage1/stop", "value": "/fly"},
        {"name": "coreos.com/rkt/stage1/gc", "value": "/fly"},
        {"name": "rkt.dev/stage1/describe", "value": "/fly"},
        {"name": "rkt.dev/stage1/protocol", "value": "1"},
        {"name": "description", "value": "rkt fly: one app, chroot only, in the host's namespaces"}
    ]
}
MANIFEST
chmod 0644 "$work/manifest"

# Deterministic: sorted, numeric root ownership, fixed mtime, gzip without name or time.
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
    --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$work" -cf - manifest rootfs | gzip -6 -n > "$out/stage1-fly.aci.tmp"
mv -f "$out/stage1-fly.aci.tmp" "$out/stage1-fly.aci"
if command -v actool >/dev/null 2>&1; then
    actool validate "$out/stage1-fly.aci"
fi
echo "$out/stage1-fly.aci: $(wc -c < "$out/stage1-fly.aci") bytes"
