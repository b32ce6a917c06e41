#!/bin/sh
# Builds the default stage1 image: `stage1-nspawn` (the planner, Swift) and `rkt-pod-init` (the
# pod's PID 1, C) from Plugins/stage1-nspawn, both static, in a stage1 ACI.
# Usage: images/stage1-nspawn/build.sh [OUTDIR]   (default: images/out) -> OUTDIR/stage1-nspawn.aci
# Env: RKT_PACKAGE_DIR  the Swift package to build in (default: this repository)
#      STAGE1_NSPAWN_VERSION  the image's version label (default 0.1.0)
#      STAGE1_NSPAWN_PLANNER  use this static stage1-nspawn instead of building it
#      CC  the C compiler for rkt-pod-init (default cc)
set -eu
. "$(cd "$(dirname "$0")" && pwd)/../lib/stage1-aci.sh"
out=${1:-$repo/images/out}

# STAGE1_NSPAWN_PLANNER: an already built static planner (skips the Swift build; for iterating on the C side).
binary=${STAGE1_NSPAWN_PLANNER:-$(stage1_build stage1-nspawn)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/rootfs"
install -m 0755 "$binary" "$work/rootfs/nspawn"
# The supervisor is plain C, linked statically without the Swift runtime: it stays resident for
# the pod's life, so its memory counts (under 1 MB of RSS this way).
${CC:-cc} -static -O2 -Wall -Wextra -o "$work/rootfs/rkt-pod-init" \
    "$package"/Plugins/stage1-nspawn/PodInit/*.c
strip "$work/rootfs/nspawn" "$work/rootfs/rkt-pod-init" 2>/dev/null || true
stage1_package rkt.dev/stage1-nspawn "${STAGE1_NSPAWN_VERSION:-0.1.0}" /nspawn \
    "rkt's default stage1: namespaces, cgroups, capabilities, seccomp; our own pod supervisor" \
    "$work/rootfs" "$out/stage1-nspawn.aci"
