#!/bin/sh
# Pod start to exit with stage1-kvm: `rkt run --stage1-name=rkt.dev/stage1-kvm --net=none` of
# /bin/true in the busybox image, against the limit, in one script run, interleaved (hyperfine -N,
# one boot of each per round): qemu-system-x86_64 run
# directly with the same kernel, machine (q35), accelerator, memory and command line, and an
# equivalent initramfs (the stage1's, with a busybox /init that loads the same modules, runs
# /bin/true and powers off; no 9p, no channels). Reported as a ratio (target, issue 6: <= 1.15x),
# plus the peak RSS (VmHWM) of the supervisor (stage1-kvm) and of QEMU in a pod, and of the bare
# QEMU for comparison.
# Env: RKT_BINARY, RKT_STAGE1_KVM_ACI (as scripts/test.sh names them), ROUNDS (default 8),
#      RKT_KVM_ACCEL (forwarded to the supervisor; the bare QEMU uses the same: tcg unless kvm).
# Needs root, hyperfine, busybox-static, qemu-system-x86, libvirt-daemon-driver-qemu.
set -eu
cd "$(dirname "$0")/.."
rkt=${RKT_BINARY:-$PWD/.build/release/rkt}
[ -x "$rkt" ] || sh scripts/build.sh
[ -f images/out/busybox.aci ] || sh images/build.sh
kvm_aci=${RKT_STAGE1_KVM_ACI:-images/out/stage1-kvm.aci}
[ -f "$kvm_aci" ] || sh images/stage1-kvm/build.sh
out=${BENCH_DIR:-/var/tmp/rkt-bench-kvm}
rm -rf "$out"; mkdir -p "$out"
dir=$out/data
R() { "$rkt" --dir="$dir" --insecure-options=image "$@"; }
R fetch images/out/busybox.aci >/dev/null
R fetch "$kvm_aci" >/dev/null
stage1_name=rkt.dev/stage1-kvm

# The guest kernel and initramfs as the image carries them, and the bare initramfs.
mkdir -p "$out/aci" "$out/bare"
tar -xzf "$kvm_aci" -C "$out/aci" rootfs/kvm
kernel=$out/aci/rootfs/kvm/vmlinuz
(cd "$out/bare" && cpio --quiet -id < "$out/aci/rootfs/kvm/initramfs.cpio")
rm -f "$out/bare/init"
mkdir -p "$out/bare/bin"
cp /bin/busybox "$out/bare/bin/busybox"
cat > "$out/bare/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
while read -r module; do /bin/busybox insmod "$module"; done < /modules.order
/bin/busybox true
case "$(/bin/busybox cat /proc/cmdline)" in *bench.sleep*) /bin/busybox sleep 3 ;; esac
/bin/busybox poweroff -f
EOF
chmod 0755 "$out/bare/init"
(cd "$out/bare" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --owner=0:0) > "$out/bare.cpio"

accel=$(echo "${RKT_KVM_ACCEL:-tcg}" | tr 'A-Z' 'a-z')
# The supervisor's own command line (Supervisor/Libvirt.swift): q35, 256 MiB, one vCPU.
cat > "$out/bare.sh" <<BARE
#!/bin/sh
exec qemu-system-x86_64 -nodefaults -no-user-config -display none -serial none -no-reboot -machine q35,accel=$accel \\
    -m 256 -smp 1 -kernel $kernel -initrd $out/bare.cpio -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init \$*"
BARE
chmod 0755 "$out/bare.sh"
run="$rkt --dir=$dir --insecure-options=image run --net=none --stage1-name=$stage1_name example.com/busybox --exec /bin/true"
# The first pod fills the shared capabilities cache (/run/rkt-kvm/capabilities); later pods use it.
$run >/dev/null
"$out/bare.sh" >/dev/null
# Interleaved: ROUNDS hyperfine runs of one boot each, so the two sides see the same load (a
# minutes-long block per command, hyperfine's order, lets a busy neighbour decide the ratio).
for round in $(seq "${ROUNDS:-8}"); do
    hyperfine -N --runs 1 --export-json "$out/round-$round.json" --style none \
        --prepare "$rkt --dir=$dir gc --grace-period=0s" \
        -n qemu-direct -n rkt-kvm "$out/bare.sh" "$run" >/dev/null
done

# Peak RSS: poll VmHWM of the pod's supervisors and QEMU until the pod ends (a 3 s app).
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
peak() {  # peak <file> <pids...>: keeps the max VmHWM seen per pid in <file>
    f=$1; shift
    for pid in "$@"; do
        v=$(hwm "$pid"); old=$(awk -v p="$pid" '$1==p {print $2}' "$f" 2>/dev/null || true)
        if [ -z "$old" ]; then echo "$pid ${v:-0}" >> "$f"; elif [ "${v:-0}" -gt "$old" ]; then sed -i "s/^$pid .*/$pid $v/" "$f"; fi
    done
}
: > "$out/outer"; : > "$out/sup"; : > "$out/qemu"
# rkt execs the plugin: the background pid becomes the outer stage1-kvm; the supervisor is its child
# (PID 1 of its namespace), QEMU runs below that; other pods on the host are not counted.
$rkt --dir="$dir" --insecure-options=image run --net=none --stage1-name="$stage1_name" --uuid-file-save="$out/uuid" \
    example.com/busybox --exec /bin/sleep -- 3 >/dev/null 2>&1 &
pod=$!
while kill -0 "$pod" 2>/dev/null; do
    if [ "$(cat /proc/$pod/comm 2>/dev/null)" = stage1-kvm ]; then
        peak "$out/outer" "$pod"
        peak "$out/sup" $(pgrep -P "$pod" || true)
    fi
    uuid=$(cat "$out/uuid" 2>/dev/null || true)
    [ -n "$uuid" ] && peak "$out/qemu" $(pgrep -f "qemu-system-x86_64 .*rkt-$uuid" || true)
    sleep 0.1
done
wait "$pod" || true
: > "$out/bareqemu"
"$out/bare.sh" bench.sleep >/dev/null 2>&1 &
bq=$!
sleep 0.5
while kill -0 "$bq" 2>/dev/null; do peak "$out/bareqemu" $(pgrep -f "qemu-system-x86_64 .*$out/bare.cpio" || true); sleep 0.1; done
wait "$bq" || true

python3 - "$out" "$out/outer" "$out/sup" "$out/qemu" "$out/bareqemu" <<'PY'
import json, sys
import glob, statistics
times = {"qemu-direct": [], "rkt-kvm": []}
ratios = []
for path in sorted(glob.glob(sys.argv[1] + "/round-*.json")):
    r = {x["command"]: x["times"][0] for x in json.load(open(path))["results"]}
    for name in times: times[name].append(r[name])
    ratios.append(r["rkt-kvm"] / r["qemu-direct"])
def peaks(path):
    return sorted(int(line.split()[1]) for line in open(path) if line.strip())
q, k = statistics.median(times["qemu-direct"]), statistics.median(times["rkt-kvm"])
print(f"== boot to exit, {len(ratios)} interleaved rounds (hyperfine -N)")
print(f"  qemu-direct median {q:.3f} s (min {min(times['qemu-direct']):.3f})   rkt-kvm median {k:.3f} s (min {min(times['rkt-kvm']):.3f})")
print(f"  ratio of medians {k/q:.3f}x, median of per-round ratios {statistics.median(ratios):.3f}x (target <= 1.15x)")
outer = peaks(sys.argv[2]); sup = peaks(sys.argv[3]); qemu = peaks(sys.argv[4]); bare = peaks(sys.argv[5])
print(f"== peak RSS (VmHWM), a pod running sleep 3")
mib = lambda values: ', '.join(f'{v/1024:.1f} MiB' for v in values) or 'not seen'
print(f"  supervisor (stage1-kvm, PID 1 of the pod's PID namespace): {mib(sup)}   outer stage1-kvm (holds the lock): {mib(outer)}")
print(f"  QEMU in the pod: {mib(qemu)}   bare QEMU (same guest size): {mib(bare)}")
PY
"$rkt" --dir="$dir" gc --grace-period=0s >/dev/null 2>&1 || true
rm -rf "$out"
