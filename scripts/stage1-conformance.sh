#!/bin/sh
# Stage1 conformance kit: runs a battery of scenarios against any stage1 ACI through the built
# `rkt`, and against the plugin's entrypoints directly for malformed requests, then prints a
# pass/fail table. A scenario that needs a feature the stage1 does not declare (rkt refuses the
# pod with "missing feature") counts as "n/a", not as a failure.
#
#   sh scripts/stage1-conformance.sh STAGE1.aci [BUSYBOX.aci]
#
# Exit status: 0 when nothing failed. Needs root (pods mount), jq for the direct checks.
set -u
stage1=${1:?usage: stage1-conformance.sh STAGE1.aci [BUSYBOX.aci]}
here=$(cd "$(dirname "$0")/.." && pwd)
image=${2:-$here/images/out/busybox.aci}
rkt=${RKT_BINARY:-$here/.build/release/rkt}
[ -x "$rkt" ] || rkt=$here/.build/debug/rkt
work=$(mktemp -d /tmp/rkt-conformance.XXXXXX)
dir=$work/data
R() { "$rkt" --dir="$dir" --insecure-options=image "$@"; }
passed=0; failed=0; skipped=0; table=""
record() { # name result detail
    table="$table$(printf '%-34s %-5s %s' "$1" "$2" "$3")
"
    case $2 in pass) passed=$((passed + 1)) ;; fail) failed=$((failed + 1)) ;; *) skipped=$((skipped + 1)) ;; esac
}
# run NAME EXPECTED-STATUS EXPECTED-OUTPUT-SUBSTRING -- rkt-run-arguments...
scenario() {
    name=$1 want_status=$2 want_out=$3; shift 4
    out=$(R run --stage1-path="$stage1" "$@" 2>&1); status=$?
    if echo "$out" | grep -q 'missing feature\|does not support\|unsupported feature\|"code":2[,}]\|stage1 error 2 ' ; then record "$name" n/a "$(echo "$out" | tail -n1 | cut -c1-70)"; return; fi
    if [ "$status" = "$want_status" ] && echo "$out" | grep -q -- "$want_out"; then record "$name" pass ""
    else record "$name" fail "status $status, output: $(echo "$out" | tr '\n' ' ' | cut -c1-60)"; fi
}

mkdir -p "$work/vol" && echo from-the-host > "$work/vol/file"
scenario "run: exit 0 and output"        0 "hello-conformance" -- "$image" --exec /bin/echo -- hello-conformance
scenario "run: exit status propagates"   7 ""                  -- "$image" --exec /bin/sh -- -c "exit 7"
scenario "env: --set-env"                0 "value-42"          -- --set-env=CONF=value-42 "$image" --exec /bin/sh -- -c 'echo $CONF'
scenario "env: --environment per app"    0 "app-level"         -- "$image" --environment=CONF=app-level --exec /bin/sh -- -c 'echo $CONF'
scenario "user: --user=1000"             0 "uid=1000"          -- "$image" --user=1000 --group=1000 --exec /bin/id
scenario "user: name from /etc/passwd"   0 "uid=65534"         -- "$image" --user=nobody --group=nogroup --exec /bin/id
scenario "workdir: --working-dir"        0 "^/tmp"             -- "$image" --working-dir=/tmp --exec /bin/pwd
scenario "volume: host, read-only read"  0 "from-the-host"     -- --volume=data,kind=host,source="$work/vol",readOnly=true "$image" --mount=volume=data,target=/data --exec /bin/cat -- /data/file
scenario "volume: read-only is enforced" 1 ""                  -- --volume=data,kind=host,source="$work/vol",readOnly=true "$image" --mount=volume=data,target=/data --exec /bin/sh -- -c "echo x > /data/new"
scenario "volume: empty volume writable" 0 "written"           -- --volume=scratch,kind=empty "$image" --mount=volume=scratch,target=/scratch --exec /bin/sh -- -c "echo written > /scratch/f && cat /scratch/f"
scenario "apps: two apps, both run"      0 "second-app"        -- "$image" --name=first --exec /bin/echo -- first-app --- "$image" --name=second --exec /bin/echo -- second-app

# Stop, enter and gc on a long-running pod.
R run --stage1-path="$stage1" --uuid-file-save="$work/uuid" "$image" --exec /bin/sleep -- 100 >"$work/long.out" 2>&1 &
runner=$!
i=0; while [ ! -s "$work/uuid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
uuid=$(cat "$work/uuid" 2>/dev/null)
if [ -n "$uuid" ] && R status --wait-ready=10s "$uuid" >/dev/null 2>&1; then
    out=$(R enter "$uuid" /bin/echo inside-the-app 2>&1)
    if echo "$out" | grep -q inside-the-app; then record "enter: command in the app" pass ""; else record "enter: command in the app" fail "$(echo "$out" | tail -n1 | cut -c1-60)"; fi
    R stop "$uuid" >/dev/null 2>&1
    wait $runner; status=$?
    if [ "$status" = 143 ] && R status "$uuid" 2>/dev/null | grep -q "state=exited"; then record "stop: TERM ends the pod" pass ""
    else record "stop: TERM ends the pod" fail "rkt run exited $status"; fi
else
    record "enter: command in the app" fail "the pod never became ready"
    record "stop: TERM ends the pod" fail "the pod never became ready"
    kill $runner 2>/dev/null; wait $runner 2>/dev/null
fi
R gc --grace-period=0s >/dev/null 2>&1
if [ -z "$(R list --no-legend 2>/dev/null)" ] && ! grep -q "$dir" /proc/self/mountinfo; then record "gc: pods removed, nothing mounted" pass ""
else record "gc: pods removed, nothing mounted" fail "pods or mounts remain"; fi

# Malformed requests, straight to the run entrypoint: a JSON error and a non-zero exit.
mkdir -p "$work/s1" && tar -xf "$stage1" -C "$work/s1" 2>/dev/null
run_ep=$(jq -r '.annotations[] | select(.name=="coreos.com/rkt/stage1/run") | .value' "$work/s1/manifest" 2>/dev/null)
direct() { # name request-json
    printf '%s' "$2" > "$work/request.json"
    out=$(cd "$work" && RKT_STAGE1_REQUEST="$work/request.json" "$work/s1/rootfs$run_ep" --stage1-protocol=1 2>/dev/null </dev/null); status=$?
    if [ "$status" != 0 ] && echo "$out" | jq -e '.code and .msg' >/dev/null 2>&1; then record "$1" pass ""
    else record "$1" fail "status $status, stdout: $(echo "$out" | cut -c1-50)"; fi
}
if [ -n "$run_ep" ] && command -v jq >/dev/null; then
    direct "bad request: not JSON" '{"protocolVersion":'
    direct "bad request: unknown version" '{"protocolVersion":"99","command":"describe","pod":{"uuid":"x","path":"/nonexistent"}}'
    direct "bad request: unknown command" '{"protocolVersion":"1","command":"fly-me-to-the-moon","pod":{"uuid":"x","path":"/nonexistent"}}'
else
    record "bad requests" n/a "no run entrypoint found or no jq"
fi

printf '%-34s %-5s %s\n' SCENARIO RESULT DETAIL
printf '%s' "$table"
echo "$passed passed, $failed failed, $skipped skipped"
grep -o "$dir[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
rm -rf "$work"
[ "$failed" = 0 ]
