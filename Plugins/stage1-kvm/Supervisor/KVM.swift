import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// The plugin's identity and the files it keeps.
enum KVM {
    static let name = "stage1-kvm"
    static let version = "0.1.0"
    /// What this slice implements: pods of one or more apps, on CNI networks (`networks`: a tap
    /// per interface, Network.swift) or `--net=none` (`--net=host` is refused), with `dns` and
    /// `hosts` files. Volumes are host and empty directories over 9p. `enter` and `stop` go over
    /// the agent channel (Agent.swift); `isolators` as Isolation.swift says; `interactive` puts the
    /// single app on a pty in the guest, fed from our stdin. Not `private-users`, `ipc-modes`,
    /// `metadata-service`; stage0 refuses those with a message naming the missing feature.
    static let features: [Stage1Feature] = [.run, .enter, .stop, .gc, .interactive, .multipleApps, .hostname, .volumes, .isolators, .networks, .dns, .hosts]

    /// `<pod>/stage1-kvm/`: the plan the guest reads (9p) and the console log (the spec lets a
    /// plugin write under names starting with `stage1-`).
    static func stateDirectory(pod: String) -> String { pod + "/stage1-kvm" }
    static func planDirectory(pod: String) -> String { stateDirectory(pod: pod) + "/plan" }
    static func consoleLog(pod: String) -> String { stateDirectory(pod: pod) + "/console.log" }

    /// Where libvirt's embed roots live: `$RKT_KVM_RUN_DIR`, else `/run/rkt-kvm`. Not in the pod
    /// directory: QEMU's monitor and our channel sockets are unix sockets below the root, and a
    /// unix socket path has at most 107 bytes, which a pod directory path can nearly fill alone.
    static var runDirectory: String { environment("RKT_KVM_RUN_DIR") ?? "/run/rkt-kvm" }
    /// The pod's embed root, `<run dir>/<uuid>`.
    static func embedRoot(uuid: String) -> String { runDirectory + "/" + uuid }
    static func socketPath(uuid: String, _ name: String) -> String { embedRoot(uuid: uuid) + "/" + name + ".sock" }
    /// QEMU's capabilities, probed once and shared by every pod's embed root: a fresh root
    /// otherwise spends seconds (much more on a busy host) probing QEMU before the first boot.
    static var capabilitiesCache: String { runDirectory + "/capabilities" }
    static func domainName(uuid: String) -> String { "rkt-" + uuid }

    /// The kernel and initramfs: `$RKT_KVM_KERNEL` / `$RKT_KVM_INITRAMFS`, else the ones the stage1
    /// image carries (`/kvm/vmlinuz`, `/kvm/initramfs.cpio` in its rootfs).
    static func kernelPath(stage1Rootfs: String) -> String {
        environment("RKT_KVM_KERNEL") ?? stage1Rootfs + "/kvm/vmlinuz"
    }
    static func initramfsPath(stage1Rootfs: String) -> String {
        environment("RKT_KVM_INITRAMFS") ?? stage1Rootfs + "/kvm/initramfs.cpio"
    }

    static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }
}

/// Which QEMU accelerator runs the guest.
enum Accelerator: String {
    case kvm, tcg

    /// `$RKT_KVM_ACCEL` (`kvm` or `tcg`) when set; else KVM when `/dev/kvm` opens and is not PVM
    /// (`kvm_pvm`: shadow paging without vmx/svm, on which stock Debian kernels die with an
    /// emulation failure); else TCG, QEMU's software emulation.
    static func choose() throws(Stage1Error) -> (Accelerator, reason: String) {
        if let forced = KVM.environment("RKT_KVM_ACCEL") {
            guard let accelerator = Accelerator(rawValue: forced.lowercased()) else {
                throw Stage1Error(code: .invalidRequest, msg: "RKT_KVM_ACCEL=\(forced) is not kvm or tcg")
            }
            return (accelerator, "RKT_KVM_ACCEL=\(forced)")
        }
        if fileExists("/sys/module/kvm_pvm") { return (.tcg, "/dev/kvm is PVM (kvm_pvm), which stock kernels cannot boot on") }
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return (.tcg, "/dev/kvm: \(errnoString(errno))") }
        close(fd)
        return (.kvm, "/dev/kvm is usable")
    }

    /// libvirt's domain type for this accelerator.
    var domainType: String { self == .kvm ? "kvm" : "qemu" }
}
