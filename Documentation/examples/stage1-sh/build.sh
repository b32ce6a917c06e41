#!/bin/sh
# build.sh [OUTPUT]: pack this example as a stage1 ACI (a gzip'd tar of `manifest` and `rootfs/`).
# Default output: ./stage1-sh.aci. Needs tar and gzip; `actool validate OUTPUT` checks the result.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$PWD/stage1-sh.aci}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cp "$here/manifest" "$work/manifest"
cp -R "$here/rootfs" "$work/rootfs"
chmod 0755 "$work/rootfs" "$work/rootfs/stage1-sh"
for f in "$work"/rootfs/stage1-sh/*; do chmod 0755 "$f"; done
chmod 0644 "$work/rootfs/stage1-sh/lib.sh" "$work/manifest"
# Files owned by root whoever builds it (GNU tar); other tars keep the builder's ids.
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    owner="--owner=0 --group=0 --numeric-owner"
else
    owner=
fi
# shellcheck disable=SC2086
(cd "$work" && tar $owner -cf - manifest rootfs) | gzip -9n >"$out.tmp"
mv -f "$out.tmp" "$out"
echo "$out"
