#!/bin/sh
# Image import: `rkt fetch` of a ~256 MiB ACI against the limit for this work, `sha512sum` plus
# `tar -x` of the same file, in one run, as ratios; then rkt fetch's peak memory for a 64 MiB and a
# 256 MiB image (it must not grow with the image). Needs hyperfine and GNU time (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
rkt=${RKT_BINARY:-$PWD/.build/release/rkt}
[ -x "$rkt" ] || sh scripts/build.sh
out=${BENCH_DIR:-/var/tmp/rkt-bench}
rm -rf "$out"; mkdir -p "$out"

make_aci() { # size-in-MiB output
    layout=$out/layout-$1
    mkdir -p "$layout/rootfs/data"
    cat > "$layout/manifest" <<M
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench-$1","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]}
M
    # Half incompressible, half text: a rough stand-in for a real image.
    n=$(( $1 / 4 ))
    i=0
    while [ $i -lt $n ]; do
        if [ $((i % 2)) -eq 0 ]; then head -c 4194304 /dev/urandom > "$layout/rootfs/data/blob$i"
        else yes "line $i of a text file in a benchmark image" | head -c 4194304 > "$layout/rootfs/data/text$i"; fi
        i=$((i + 1))
    done
    tar -C "$layout" -cf "$2" manifest rootfs
    rm -rf "$layout"
}

make_aci 256 "$out/big.aci"
make_aci 64 "$out/small.aci"
gzip -1 -c "$out/big.aci" > "$out/big.aci.gz"

echo "== import of $(du -m "$out/big.aci" | cut -f1) MiB (plain tar)"
hyperfine -N --warmup 1 --runs 5 --export-json "$out/plain.json" \
    --prepare "rm -rf $out/x $out/store" \
    -n limit "sh -c 'sha512sum $out/big.aci >/dev/null && mkdir -p $out/x && tar -xf $out/big.aci -C $out/x'" \
    -n rkt-fetch "$rkt --dir $out/store fetch --insecure-options=image $out/big.aci"

echo "== import of the same image, gzip -1"
hyperfine -N --warmup 1 --runs 5 --export-json "$out/gzip.json" \
    --prepare "rm -rf $out/x $out/store" \
    -n limit "sh -c 'sha512sum $out/big.aci.gz >/dev/null && mkdir -p $out/x && tar -xzf $out/big.aci.gz -C $out/x'" \
    -n rkt-fetch "$rkt --dir $out/store fetch --insecure-options=image $out/big.aci.gz"

ratio() { python3 - "$1" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"  limit {r['limit']:.3f}s  rkt {r['rkt-fetch']:.3f}s  throughput ratio rkt/limit = {r['limit']/r['rkt-fetch']:.2f}x")
PY
}
echo "== ratios (1.0 = as fast as sha512sum + tar -x; target >= 0.8)"
echo "plain:"; ratio "$out/plain.json"
echo "gzip:"; ratio "$out/gzip.json"

echo "== peak memory of rkt fetch (max RSS)"
for size in small big; do
    rm -rf "$out/store"
    /usr/bin/time -f "%M" -o "$out/rss-$size" "$rkt" --dir "$out/store" fetch --insecure-options=image "$out/$size.aci" >/dev/null
    echo "  $size.aci ($(du -m "$out/$size.aci" | cut -f1) MiB): $(cat "$out/rss-$size") KiB"
done
rm -rf "$out"
