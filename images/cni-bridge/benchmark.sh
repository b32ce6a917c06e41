#!/bin/sh
# ADD+DEL timing of cni-bridge against Debian's bridge + host-local, same config, same machine.
# Usage (root): images/cni-bridge/benchmark.sh [CNI_BRIDGE_BINARY] [ITERATIONS]   (default: 100)
# Each plugin gets its own throwaway namespace, bridge and data dir; `ipMasq` runs too when
# BENCH_IPMASQ=1. Prints milliseconds per ADD+DEL pair and the ratio ours/Debian's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
ours=${1:-$here/../../.build/release/cni-bridge}
iterations=${2:-100}
debian=/usr/lib/cni
masq=false
[ "${BENCH_IPMASQ:-0}" = 1 ] && masq=true
suffix=$$
work=$(mktemp -d)
ip netns add rkttbench$suffix
cleanup() {
    ip netns del rkttbench$suffix 2>/dev/null || true
    ip link del rkttbo$suffix 2>/dev/null || true
    ip link del rkttbd$suffix 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

run() {  # plugin bridge octet -> prints ms per ADD+DEL
    plugin=$1 bridge=$2 octet=$3
    config="{\"cniVersion\":\"1.0.0\",\"name\":\"bench-$bridge\",\"type\":\"bridge\",\"bridge\":\"$bridge\",\"isGateway\":true,\"ipMasq\":$masq,\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.213.$octet.0/24\",\"dataDir\":\"$work\"}}"
    export CNI_CONTAINERID=bench CNI_NETNS=/var/run/netns/rkttbench$suffix CNI_IFNAME=eth0 CNI_PATH=$debian
    echo "$config" | CNI_COMMAND=ADD "$plugin" >/dev/null && echo "$config" | CNI_COMMAND=DEL "$plugin" >/dev/null  # warm-up, creates the bridge
    start=$(date +%s%N)
    i=0
    while [ $i -lt "$iterations" ]; do
        echo "$config" | CNI_COMMAND=ADD "$plugin" >/dev/null
        echo "$config" | CNI_COMMAND=DEL "$plugin" >/dev/null
        i=$((i + 1))
    done
    end=$(date +%s%N)
    echo $(( (end - start) / iterations / 1000 ))  # microseconds
}

ours_us=$(run "$ours" rkttbo$suffix 251)
debian_us=$(run "$debian/bridge" rkttbd$suffix 252)
echo "cni-bridge:               $ours_us us per ADD+DEL (ipMasq=$masq, $iterations iterations)"
echo "Debian bridge+host-local: $debian_us us per ADD+DEL"
awk -v a="$ours_us" -v b="$debian_us" 'BEGIN { printf "ratio (ours / Debian): %.2f\n", a / b }'
