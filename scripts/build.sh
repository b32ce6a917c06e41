#!/bin/sh
# Builds rkt and its plugins as static executables (1 ms to start; they run inside chroots and VMs).
# Output: .build/release/{rkt,cni-bridge,stage1-fly,stage1-nspawn}. `swift build` alone gives a dynamic debug build for development.
set -eu
cd "$(dirname "$0")/.."
# SwiftPM passes only the dynamic `pkg-config --libs`; a static link needs the whole closure.
static_libs="archive nettle acl lzma zstd lz4 bz2 z xml2 icuuc icudata ssl crypto sqlite3 stdc++ m"
link=""
for l in $static_libs; do link="$link -Xlinker -l$l"; done
# The static executables: rkt and the plugins that run inside chroots, pods and VMs. (stage1-kvm
# links the host's libvirt, which Debian ships only as a shared library: images/stage1-kvm/build.sh.)
for product in rkt cni-bridge stage1-fly stage1-nspawn; do
    # shellcheck disable=SC2086
    swift build -c release --product "$product" -Xswiftc -static-executable -Xlinker --start-group $link -Xlinker --end-group "$@"
done
strip .build/release/rkt 2>/dev/null || true
echo "build: $(ls -l .build/release/rkt | awk '{print $5}') bytes, $(file -b .build/release/rkt | cut -d, -f1-2)"
