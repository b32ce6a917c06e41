#!/bin/sh
# Builds the test ACIs from Debian's busybox-static; nothing binary is committed.
# Usage: images/build.sh [OUTDIR]   (default: images/out)
# Every ACI written here is checked with `actool validate` when actool is installed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "images: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || echo "images: warning: $busybox is not static" >&2

case "$(uname -m)" in
    x86_64) arch=amd64 ;; aarch64) arch=aarch64 ;; *) arch=$(uname -m) ;;
esac
bbversion=$("$busybox" 2>&1 | head -n1 | sed -n 's/^BusyBox v\([0-9][0-9.]*\).*/\1/p')
[ -n "$bbversion" ] || bbversion=1.0.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# tar an image layout deterministically (sorted, numeric root ownership, fixed mtime).
pack() { # layout-dir output.aci
    tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@1700000000 \
        --format=pax --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -C "$1" -cf "$2" manifest rootfs
}

# 1. busybox: a static busybox with its applets as symlinks, /etc/passwd and /etc/group.
bb=$work/busybox
mkdir -p "$bb/rootfs/bin" "$bb/rootfs/etc" "$bb/rootfs/tmp" "$bb/rootfs/root" "$bb/rootfs/proc" "$bb/rootfs/sys" "$bb/rootfs/dev"
chmod 1777 "$bb/rootfs/tmp"
cp "$busybox" "$bb/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$bb/rootfs/bin/$applet"
done
cat > "$bb/rootfs/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/:/bin/false
nobody:x:65534:65534:nobody:/:/bin/false
user:x:1000:1000:user:/tmp:/bin/sh
PASSWD
cat > "$bb/rootfs/etc/group" <<GROUP
root:x:0:
daemon:x:1:
users:x:100:user
nogroup:x:65534:
user:x:1000:
GROUP
cat > "$bb/manifest" <<MANIFEST
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/busybox",
    "labels": [
        {"name": "version", "value": "$bbversion"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "app": {
        "exec": ["/bin/sh"],
        "user": "0",
        "group": "0",
        "workingDirectory": "/",
        "environment": [{"name": "PATH", "value": "/usr/sbin:/usr/bin:/sbin:/bin"}]
    },
    "annotations": [{"name": "description", "value": "busybox-static from Debian, for rkt's tests"}]
}
MANIFEST
pack "$bb" "$out/busybox.aci"

# 2. Compressed variants of the same tar: one image ID for all of them.
gzip -9 -n -c "$out/busybox.aci" > "$out/busybox.aci.gz"
bzip2 -9 -c "$out/busybox.aci" > "$out/busybox.aci.bz2"
xz -6 -c "$out/busybox.aci" > "$out/busybox.aci.xz"
zstd -q -19 -c "$out/busybox.aci" > "$out/busybox.aci.zst"

# 3. hello: depends on busybox by name and labels, adds a file, whites one out, and runs cat.
hello=$work/hello
mkdir -p "$hello/rootfs/etc"
echo "hello from a dependent image" > "$hello/rootfs/etc/hello.txt"
touch "$hello/rootfs/etc/.wh.group"
cat > "$hello/manifest" <<MANIFEST
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/hello",
    "labels": [
        {"name": "version", "value": "1.0.0"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "app": {
        "exec": ["/bin/cat", "/etc/hello.txt"],
        "user": "0",
        "group": "0"
    },
    "dependencies": [
        {"imageName": "example.com/busybox", "labels": [{"name": "version", "value": "$bbversion"}, {"name": "os", "value": "linux"}, {"name": "arch", "value": "$arch"}]}
    ]
}
MANIFEST
pack "$hello" "$out/hello.aci"
gzip -9 -n -c "$out/hello.aci" > "$out/hello.aci.gz"

# 3b. probe: busybox plus /probe, the in-pod probe of the pod tests (images/probe/).
. "$here/probe/image.sh"

# 4. An image built by actool itself, to prove we import what the reference tool writes.
if command -v actool >/dev/null 2>&1; then
    rm -f "$out/actool-built.aci"
    sed 's#example.com/busybox#example.com/busybox-actool#' "$bb/manifest" > "$work/actool-manifest"
    cp "$work/actool-manifest" "$bb/manifest"
    actool build --overwrite "$bb" "$out/actool-built.aci" >/dev/null
    for aci in busybox.aci busybox.aci.gz busybox.aci.bz2 busybox.aci.xz hello.aci hello.aci.gz actool-built.aci; do
        actool validate "$out/$aci" >/dev/null || { echo "images: actool rejects $aci" >&2; exit 1; }
    done
else
    echo "images: actool not installed; ACIs not validated" >&2
fi
echo "images: built in $out (busybox $bbversion)"
