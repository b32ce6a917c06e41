# Sourced by images/build.sh after the busybox image (uses its $here, $work, $bb, $out, $arch and
# pack): builds probe.aci, the busybox rootfs plus /probe, a static C program that reports what an
# app sees from inside a pod (images/probe/README.md).
probe=$work/probe
mkdir -p "$probe"
cp -a "$bb/rootfs" "$probe/rootfs"
${CC:-cc} -static -O2 -Wall -o "$probe/rootfs/probe" "$here/probe/probe.c"
cat > "$probe/manifest" <<MANIFEST
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "rkt.dev/probe",
    "labels": [
        {"name": "version", "value": "1.0.0"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "$arch"}
    ],
    "app": {
        "exec": ["/probe"],
        "user": "0",
        "group": "0",
        "workingDirectory": "/",
        "environment": [{"name": "PATH", "value": "/usr/sbin:/usr/bin:/sbin:/bin"}]
    },
    "annotations": [{"name": "description", "value": "in-pod probe for rkt's tests, on busybox-static"}]
}
MANIFEST
pack "$probe" "$out/probe.aci"
if command -v actool >/dev/null 2>&1; then
    actool validate "$out/probe.aci" >/dev/null || { echo "images: actool rejects probe.aci" >&2; exit 1; }
fi
