#!/bin/sh
# Networking costs, side by side in one run (issue 5):
#   1. `rkt run` of /bin/true with stage1-nspawn: --net=default (netns + cni-bridge ADD, DEL at gc)
#      against --net=none, as a ratio;
#   2. cni-bridge ADD+DEL against Debian's bridge + host-local for the same config
#      (images/cni-bridge/benchmark.sh), as a ratio. Target: cni-bridge at least as fast.
# Needs root, hyperfine and containernetworking-plugins.
set -eu
cd "$(dirname "$0")/.."
rkt=${RKT_BINARY:-$PWD/.build/release/rkt}
[ -x "$rkt" ] || sh scripts/build.sh
[ -x .build/release/cni-bridge ] || sh scripts/build.sh
[ -f images/out/busybox.aci ] || sh images/build.sh
[ -f images/out/stage1-nspawn.aci ] || sh images/stage1-nspawn/build.sh
out=${BENCH_DIR:-/var/tmp/rkt-bench-network}
rm -rf "$out"; mkdir -p "$out"
dir=$out/data
R() { "$rkt" --dir="$dir" --insecure-options=image "$@"; }
R fetch images/out/busybox.aci >/dev/null
R fetch images/out/stage1-nspawn.aci >/dev/null

# gc runs between runs, so the default network's DEL is paid in the preparation, not measured:
# what is measured is what a user waits for in `rkt run`.
hyperfine -N --warmup 3 --runs ${RUNS:-20} --export-json "$out/run.json" \
    --prepare "$rkt --dir=$dir gc --grace-period=0s" \
    -n net-none -n net-default \
    "$rkt --dir=$dir --insecure-options=image run --net=none example.com/busybox --exec /bin/true" \
    "$rkt --dir=$dir --insecure-options=image run --net=default example.com/busybox --exec /bin/true"
python3 - "$out/run.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"== rkt run /bin/true: --net=none {r['net-none']*1000:.1f} ms, --net=default {r['net-default']*1000:.1f} ms, "
      f"ratio {r['net-default']/r['net-none']:.2f}x")
PY
"$rkt" --dir="$dir" gc --grace-period=0s >/dev/null 2>&1 || true
rm -rf "$out"
echo "== cni-bridge against Debian's bridge + host-local"
sh images/cni-bridge/benchmark.sh "$PWD/.build/release/cni-bridge" ${ITERATIONS:-100}
