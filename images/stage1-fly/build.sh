#!/bin/sh
# Builds the fly stage1 image: the static `stage1-fly` plugin (Plugins/stage1-fly) in a stage1 ACI.
# Usage: images/stage1-fly/build.sh [OUTDIR]   (default: images/out) -> OUTDIR/stage1-fly.aci
# Env: RKT_PACKAGE_DIR  the Swift package to build in (default: this repository)
#      STAGE1_FLY_VERSION  the image's version label (default 0.1.0)
# The image is checked with `actool validate` when actool is installed.
set -eu
. "$(cd "$(dirname "$0")" && pwd)/../lib/stage1-aci.sh"
out=${1:-$repo/images/out}

binary=$(stage1_build stage1-fly)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/rootfs"
install -m 0755 "$binary" "$work/rootfs/fly"
strip "$work/rootfs/fly" 2>/dev/null || true
stage1_package rkt.dev/stage1-fly "${STAGE1_FLY_VERSION:-0.1.0}" /fly \
    "rkt fly: one app, chroot only, in the host's namespaces" "$work/rootfs" "$out/stage1-fly.aci"
