#!/bin/sh
# Runs every test: unit tests of pure logic, then tests that drive the built `rkt` binary
# (as root they use real mounts, locks and the real store; otherwise those skip with a reason).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
sh images/build.sh
sh images/stage1-fly/build.sh
sh images/stage1-nspawn/build.sh
sh images/stage1-kvm/build.sh
export RKT_BINARY="$PWD/.build/release/rkt"
export RKT_STAGE1_FLY_BINARY="$PWD/.build/release/stage1-fly"
export RKT_STAGE1_FLY_ACI="$PWD/images/out/stage1-fly.aci"
export RKT_STAGE1_NSPAWN_ACI="$PWD/images/out/stage1-nspawn.aci"
export RKT_STAGE1_KVM_ACI="$PWD/images/out/stage1-kvm.aci"
export RKT_TEST_IMAGES="$PWD/images/out"
swift test
