#!/bin/sh
# One command for a fresh Debian 12 machine: install what rkt needs, build it, build the test
# images, then do the main job: fetch the busybox image into the store and list it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
sh images/build.sh
install -m 0755 .build/release/rkt /usr/local/bin/rkt
rkt fetch --insecure-options=image images/out/busybox.aci
rkt fetch --insecure-options=image images/out/hello.aci.gz
rkt image list
