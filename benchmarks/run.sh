#!/bin/sh
# Pod start: `rkt run` with stage1-fly of the busybox image running /bin/true, against
# `chroot ROOTFS /bin/true` on the same tree (the limit) and `runc run` on an OCI bundle of the same
# rootfs, in one run, as ratios. Target: fly <= 3x bare chroot. Needs root, hyperfine and runc.
set -eu
cd "$(dirname "$0")/.."
rkt=${RKT_BINARY:-$PWD/.build/release/rkt}
[ -x "$rkt" ] || sh scripts/build.sh
[ -f images/out/busybox.aci ] || sh images/build.sh
# RKT_STAGE1_FLY_ACI: another build's stage1 image (as scripts/test.sh names it).
fly_aci=${RKT_STAGE1_FLY_ACI:-images/out/stage1-fly.aci}
[ -f "$fly_aci" ] || sh images/stage1-fly/build.sh
command -v runc >/dev/null || { apt-get install -y -qq runc >/dev/null; }
out=${BENCH_DIR:-/var/tmp/rkt-bench-run}
rm -rf "$out"; mkdir -p "$out"
dir=$out/data
R() { "$rkt" --dir="$dir" --insecure-options=image "$@"; }

# The same rootfs for everyone.
R fetch images/out/busybox.aci >/dev/null
R fetch "$fly_aci" >/dev/null
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

# Interleaved: ROUNDS short hyperfine runs of all three, so each sees the same state of the machine
# (page cache, ext4's inode allocator, the host's reclaim of cold pages); one long block per
# command lets whatever happens during a block decide the ratio.
for round in $(seq "${ROUNDS:-10}"); do
    hyperfine -N --warmup 1 --runs "${RUNS:-6}" --export-json "$out/round-$round.json" --style none \
        --prepare "true" --prepare "$rkt --dir=$dir gc --grace-period=0s" --prepare "sh -c 'runc delete -f rkt-bench 2>/dev/null; true'" \
        -n chroot -n rkt-run-fly -n runc \
        "chroot $out/bundle/rootfs /bin/true" \
        "$rkt --dir=$dir --insecure-options=image run --stage1-name=rkt.dev/stage1-fly example.com/busybox --exec /bin/true" \
        "runc run --bundle $out/bundle rkt-bench" >/dev/null 2>"$out/hyperfine.err" || { cat "$out/hyperfine.err" >&2; exit 1; }
done

python3 - "$out" <<'PY'
import glob, json, statistics, sys
times = {}
for path in glob.glob(sys.argv[1] + "/round-*.json"):
    for result in json.load(open(path))["results"]:
        times.setdefault(result["command"], []).extend(result["times"])
r = {name: statistics.median(t) for name, t in times.items()}
base = r["chroot"]
print(f"== medians of {len(times['chroot'])} interleaved runs each, and ratios against bare chroot (target for rkt-run-fly: <= 3.0x)")
for name in ["chroot", "rkt-run-fly", "runc"]:
    print(f"  {name:12} {r[name]*1000:7.2f} ms   {r[name]/base:5.2f}x")
print(f"  rkt-run-fly / runc = {r['rkt-run-fly']/r['runc']:.2f}x")
PY
"$rkt" --dir="$dir" gc --grace-period=0s >/dev/null 2>&1 || true
runc delete -f rkt-bench 2>/dev/null || true
rm -rf "$out"
