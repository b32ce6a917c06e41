#!/bin/sh
# Pod start to exit with stage1-nspawn (the default stage1): `rkt run --net=none` of /bin/true in the
# busybox image, against, on the same rootfs and in one run:
#   - unshare --pid --mount --uts --ipc --net --fork + chroot (the limit: namespaces, nothing else)
#   - runc run (OCI bundle)
#   - systemd-nspawn --register=no --keep-unit (this host's PID 1 is not systemd)
#   - podman run --network none --rootfs (ulimits set to 1024: podman's defaults exceed this host's hard limits)
# as ratios, plus the supervisor's (rkt-pod-init's) RSS in a running pod.
# Targets (issue 4): <= 1.0x runc, <= 0.15x podman, supervisor <= 2 MB RSS.
# Needs root, hyperfine, runc; installs systemd-container and podman when missing.
set -eu
cd "$(dirname "$0")/.."
rkt=${RKT_BINARY:-$PWD/.build/release/rkt}
[ -x "$rkt" ] || sh scripts/build.sh
[ -f images/out/busybox.aci ] || sh images/build.sh
# RKT_STAGE1_NSPAWN_ACI: another build's stage1 image (as scripts/test.sh names it).
nspawn_aci=${RKT_STAGE1_NSPAWN_ACI:-images/out/stage1-nspawn.aci}
[ -f "$nspawn_aci" ] || sh images/stage1-nspawn/build.sh
missing=""
command -v runc >/dev/null || missing="$missing runc"
command -v systemd-nspawn >/dev/null || missing="$missing systemd-container"
command -v podman >/dev/null || missing="$missing podman"
if [ -n "$missing" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
out=${BENCH_DIR:-/var/tmp/rkt-bench-nspawn}
rm -rf "$out"; mkdir -p "$out"
dir=$out/data
R() { "$rkt" --dir="$dir" --insecure-options=image "$@"; }

R fetch images/out/busybox.aci >/dev/null
R fetch "$nspawn_aci" >/dev/null
mkdir -p "$out/bundle"
R image render --rootfs-only example.com/busybox "$out/bundle/rootfs"
(cd "$out/bundle" && runc spec && python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open("config.json", "w"))
PY
)
rootfs=$out/bundle/rootfs
# systemd-nspawn wants an os-release in the tree.
mkdir -p "$rootfs/usr/lib"; [ -f "$rootfs/usr/lib/os-release" ] || echo 'ID=busybox' > "$rootfs/usr/lib/os-release"

hyperfine -N --warmup 3 --runs ${RUNS:-30} --export-json "$out/run.json" \
    --prepare "$rkt --dir=$dir gc --grace-period=0s" \
    -n unshare-chroot -n rkt-nspawn -n runc -n systemd-nspawn -n podman \
    "unshare --pid --mount --uts --ipc --net --fork chroot $rootfs /bin/true" \
    "$rkt --dir=$dir --insecure-options=image run --net=none example.com/busybox --exec /bin/true" \
    "runc run --bundle $out/bundle rkt-bench" \
    "systemd-nspawn --quiet --register=no --keep-unit --private-network -D $rootfs /bin/true" \
    "podman run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --rootfs $rootfs /bin/true"

# The supervisor's memory in a running pod.
R run --net=none example.com/busybox --exec /bin/sleep -- 5 >/dev/null 2>&1 &
sleep 2
pid=$(pgrep -f 'rkt-pod-init /' | head -1 || true)
rss=$( [ -n "$pid" ] && awk '/VmRSS/ {print $2}' /proc/$pid/status || echo 0)
wait || true

python3 - "$out/run.json" "$rss" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
base = r["unshare-chroot"]
print("== medians; ratios against unshare+chroot, and rkt against each peer")
for name in ["unshare-chroot", "rkt-nspawn", "runc", "systemd-nspawn", "podman"]:
    print(f"  {name:15} {r[name]*1000:8.2f} ms   {r[name]/base:6.2f}x   rkt/{name} = {r['rkt-nspawn']/r[name]:.2f}x")
print(f"  targets: rkt/runc <= 1.0 ({r['rkt-nspawn']/r['runc']:.2f}), rkt/podman <= 0.15 ({r['rkt-nspawn']/r['podman']:.2f})")
print(f"  supervisor (rkt-pod-init) RSS: {int(sys.argv[2])} kB (target <= 2048 kB)")
PY
"$rkt" --dir="$dir" gc --grace-period=0s >/dev/null 2>&1 || true
runc delete -f rkt-bench 2>/dev/null || true
rm -rf "$out"
