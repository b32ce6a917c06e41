# Shared by the stage1 image recipes: builds static plugin executables and packages a stage1 ACI.
# Source it, then call `stage1_build PRODUCT` and `stage1_package ...`.
# Env: RKT_PACKAGE_DIR  the Swift package to build in (default: this repository)

lib_here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$lib_here/../.." && pwd)
package=${RKT_PACKAGE_DIR:-$repo}
case "$(uname -m)" in
    x86_64) arch=amd64 ;; aarch64) arch=aarch64 ;; *) arch=$(uname -m) ;;
esac

# Builds a static executable product and prints its path: it runs from the stage1 rootfs on any
# host, with no Swift runtime there, and starts in about a millisecond.
stage1_build() {
    (cd "$package" && swift build -c release --product "$1" -Xswiftc -static-executable >&2)
    binary=$package/.build/release/$1
    file -b "$binary" | grep -q 'statically linked' || { echo "$1: $binary is not static" >&2; exit 1; }
    echo "$binary"
}

# stage1_package NAME VERSION ENTRYPOINT DESCRIPTION ROOTFS OUTFILE
# ROOTFS holds the files; the rkt/ and opt/stage2 directories stage0 and the protocol use are added.
# One executable serves every entrypoint; it tells them apart by the request's `command`.
stage1_package() {
    name=$1 version=$2 entry=$3 description=$4 rootfs=$5 outfile=$6
    work=$(dirname "$rootfs")
    mkdir -p "$rootfs/rkt/status" "$rootfs/rkt/env" "$rootfs/opt/stage2" "$(dirname "$outfile")"
    chmod 0755 "$rootfs" "$rootfs/rkt" "$rootfs/rkt/status" "$rootfs/rkt/env" "$rootfs/opt" "$rootfs/opt/stage2"
    cat > "$work/manifest" <<MANIFEST
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "$name",
    "labels": [
        {"name": "version", "value": "$version"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "annotations": [
        {"name": "coreos.com/rkt/stage1/run", "value": "$entry"},
        {"name": "coreos.com/rkt/stage1/enter", "value": "$entry"},
        {"name": "coreos.com/rkt/stage1/stop", "value": "$entry"},
        {"name": "coreos.com/rkt/stage1/gc", "value": "$entry"},
        {"name": "rkt.dev/stage1/describe", "value": "$entry"},
        {"name": "rkt.dev/stage1/protocol", "value": "1"},
        {"name": "description", "value": "$description"}
    ]
}
MANIFEST
    chmod 0644 "$work/manifest"
    # Deterministic: sorted, numeric root ownership, fixed mtime, gzip without name or time.
    tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
        --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -C "$work" -cf - manifest rootfs | gzip -6 -n > "$outfile.tmp"
    mv -f "$outfile.tmp" "$outfile"
    if command -v actool >/dev/null 2>&1; then
        actool validate "$outfile"
    fi
    echo "$outfile: $(wc -c < "$outfile") bytes"
}
