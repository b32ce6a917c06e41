#!/bin/sh
# Builds rkt as a static executable (1 ms to start; runs inside chroots and VMs).
# Output: .build/release/rkt. `swift build` alone gives a dynamic debug build for development.
set -eu
cd "$(dirname "$0")/.."
# SwiftPM passes only the dynamic `pkg-config --libs`; a static link needs the whole closure.
static_libs="archive nettle acl lzma zstd lz4 bz2 z xml2 icuuc icudata ssl crypto sqlite3 stdc++ m"
link=""
for l in $static_libs; do link="$link -Xlinker -l$l"; done
# shellcheck disable=SC2086
swift build -c release -Xswiftc -static-executable -Xlinker --start-group $link -Xlinker --end-group "$@"
strip .build/release/rkt 2>/dev/null || true
echo "build: $(ls -l .build/release/rkt | awk '{print $5}') bytes, $(file -b .build/release/rkt | cut -d, -f1-2)"
