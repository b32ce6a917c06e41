#!/bin/sh
# Docker image fetch: `rkt fetch docker://...` of a ~200 MiB five-layer image from Debian's
# docker-registry on 127.0.0.1 against `skopeo copy` of the same image to an OCI layout, in one
# run, as a ratio; then a second image sharing all but its top layer (rkt should fetch only that
# layer). rkt does more than skopeo: it converts each layer, stores it and extracts it into its
# layer tree (what pods mount as overlay lower layers); the second fetch should extract only the
# new layer. Needs hyperfine, docker-registry, skopeo and umoci (scripts/deps.sh).
set -eu
cd "$(dirname "$0")/.."
rkt=${RKT_BINARY:-$PWD/.build/release/rkt}
[ -x "$rkt" ] || sh scripts/build.sh
out=${BENCH_DIR:-/var/tmp/rkt-bench-docker}
rm -rf "$out"; mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Four 48 MiB layers (half incompressible, half text: a rough stand-in for real layers) and a
# small top layer, different in the two images.
umoci init --layout "$out/layout"
umoci new --image "$out/layout:base"
for n in 1 2 3 4; do
    mkdir -p "$out/l$n/data$n"
    i=0
    while [ $i -lt 12 ]; do
        if [ $((i % 2)) -eq 0 ]; then head -c 4194304 /dev/urandom > "$out/l$n/data$n/blob$i"
        else yes "line $i of layer $n of a benchmark image" | head -c 4194304 > "$out/l$n/data$n/text$i"; fi
        i=$((i + 1))
    done
    tar -C "$out/l$n" -cf "$out/l$n.tar" .
    umoci raw add-layer --image "$out/layout:base" "$out/l$n.tar"
    rm -rf "$out/l$n" "$out/l$n.tar"
done
for top in a b; do
    mkdir -p "$out/top-$top"; head -c 1048576 /dev/urandom > "$out/top-$top/top-$top"
    tar -C "$out/top-$top" -cf "$out/top-$top.tar" .
    umoci raw add-layer --image "$out/layout:base" --tag "$top" "$out/top-$top.tar"
done
umoci gc --layout "$out/layout"

cat > "$out/registry.yml" <<R
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $out/registry
http:
  addr: 127.0.0.1:$port
R
docker-registry serve "$out/registry.yml" >"$out/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null' EXIT
i=0; until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done
for tag in a b; do
    skopeo copy --quiet --dest-tls-verify=false "oci:$out/layout:$tag" "docker://127.0.0.1:$port/bench:$tag"
done
echo "== image: $(du -sm "$out/registry" | cut -f1) MiB in the registry (gzip), 5 layers, ~193 MiB uncompressed"

echo "== first fetch: rkt fetch (convert, store, render) vs skopeo copy to an OCI layout"
hyperfine -N --warmup 1 --runs 5 --export-json "$out/first.json" \
    --prepare "rm -rf $out/store $out/copy" \
    -n skopeo-copy "skopeo copy --quiet --src-tls-verify=false docker://127.0.0.1:$port/bench:a oci:$out/copy:a" \
    -n rkt-fetch "$rkt --dir $out/store fetch --insecure-options=http,image docker://127.0.0.1:$port/bench:a"

echo "== second image, sharing all but the top layer with the first"
hyperfine -N --warmup 1 --runs 5 --export-json "$out/second.json" \
    --prepare "sh -c 'rm -rf $out/store $out/copy && $rkt --dir $out/store fetch --insecure-options=http,image docker://127.0.0.1:$port/bench:a >/dev/null && skopeo copy --quiet --src-tls-verify=false docker://127.0.0.1:$port/bench:a oci:$out/copy:a'" \
    -n skopeo-copy "skopeo copy --quiet --src-tls-verify=false docker://127.0.0.1:$port/bench:b oci:$out/copy:b" \
    -n rkt-fetch "$rkt --dir $out/store fetch --insecure-options=http,image docker://127.0.0.1:$port/bench:b"

python3 - "$out" <<'P'
import json, sys
out = sys.argv[1]
means = {}
for name in ("first", "second"):
    r = {x["command"]: x["mean"] for x in json.load(open(f"{out}/{name}.json"))["results"]}
    means[name] = r
    print(f"{name}: rkt {r['rkt-fetch']:.3f} s, skopeo {r['skopeo-copy']:.3f} s, ratio rkt/skopeo {r['rkt-fetch'] / r['skopeo-copy']:.2f}")
print(f"second/first fetch for rkt: {means['second']['rkt-fetch'] / means['first']['rkt-fetch']:.3f}")
P
