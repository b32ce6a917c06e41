import Foundation
import Glibc
import Stage1Isolators
import Stage1Kit
import Stage1Protocol

/// The apps' isolators in a VM, resolved by `Sources/Stage1Isolators` exactly as stage1-nspawn
/// resolves them (rkt 1.30's rules). What a VM makes of them:
/// - the capability bounding set, no_new_privs, the seccomp filter and `os/linux/oom-score-adj`
///   (the guest's OOM killer chooses between the pod's apps) are applied by the guest init to each
///   app and to every `enter` session (plan files `<app>.caps`, `.nnp`, `.seccomp`, `.oom`);
/// - `resource/memory` and `resource/cpu` size the VM (rkt's kvm flavour did the same) and are
///   enforced per app inside the guest too, in the app's cgroup v2 (`memory.max`, `cpu.max`),
///   where `os/linux/cpu-shares` becomes `cpu.weight` (it divides the VM's vCPUs between apps;
///   plan file `<app>.cgroup`, the lines of Stage1Isolators.CgroupLimits).
enum GuestIsolation {
    struct App {
        var name: String
        var isolation: AppIsolation
        var seccompBPF: [UInt8]?
    }

    /// The guest's memory when no app has a memory limit (`RKT_KVM_MEMORY_MIB` overrides it).
    static let defaultMemoryMiB = 256
    /// What the guest kernel and init need besides the apps' limits.
    static let overheadMiB = 128
    /// What an app without a memory limit counts for when another app has one (rkt's kvm value).
    static let unlimitedAppMiB = 128

    static func resolve(_ plans: [AppPlan], insecureOptions: [String]) throws(Stage1Error) -> [App] {
        var apps: [App] = []
        for plan in plans {
            do throws(IsolationError) {
                let isolation = try AppIsolation.resolve(isolators: plan.isolators, insecureOptions: insecureOptions, uid: plan.uid)
                apps.append(App(name: plan.name, isolation: isolation, seccompBPF: try isolation.seccomp?.compileBPF()))
            } catch {
                throw Stage1Error(code: .invalidRequest, msg: "app \(plan.name): \(error)")
            }
        }
        return apps
    }

    /// `<app>.caps` (hex bounding set), `<app>.nnp`, `<app>.seccomp` (raw filter), `<app>.oom`,
    /// `<app>.cgroup` in the plan.
    static func write(_ apps: [App], to planDirectory: String) throws(Stage1Error) {
        for app in apps {
            let base = planDirectory + "/" + app.name
            try Stage1Files.write(Data(String(app.isolation.capabilities, radix: 16).utf8 + [10]), to: base + ".caps")
            try Stage1Files.write(Data((app.isolation.noNewPrivileges ? "1\n" : "0\n").utf8), to: base + ".nnp")
            let limits = CgroupLimits.files(for: app.isolation, version: .v2)
            let cgroup = limits.isEmpty ? nil : Data(limits.map { "\($0.controller) \($0.file) \($0.value)\n" }.joined().utf8)
            try Stage1Files.write(cgroup, orRemove: base + ".cgroup")
            try Stage1Files.write(app.isolation.oomScoreAdj.map { Data("\($0)\n".utf8) }, orRemove: base + ".oom")
            try Stage1Files.write(app.seccompBPF.map { Data($0) }, orRemove: base + ".seccomp")
        }
    }

    /// The VM's memory: `RKT_KVM_MEMORY_MIB`; else, when an app has a memory limit, the sum of the
    /// limits (128 MiB for an app without) plus 128 MiB for the guest, at least 256 MiB; else 256.
    static func memoryMiB(_ apps: [App]) -> Int {
        if let forced = KVM.environment("RKT_KVM_MEMORY_MIB").flatMap(Int.init), forced > 0 { return forced }
        guard apps.contains(where: { $0.isolation.memoryLimitBytes != nil }) else { return defaultMemoryMiB }
        let mib = Int64(1 << 20)
        let sum = apps.reduce(Int64(0)) { total, app in
            total + (app.isolation.memoryLimitBytes.map { ($0 + mib - 1) / mib } ?? Int64(unlimitedAppMiB))
        }
        return max(defaultMemoryMiB, Int(min(sum, Int64(Int32.max))) + overheadMiB)
    }

    /// The VM's vCPUs: `RKT_KVM_CPUS`; else, when an app has a CPU limit, the sum of the limits
    /// rounded up (at most the host's CPUs); else 1 (a second vCPU slows a TCG boot down).
    static func cpus(_ apps: [App]) -> Int {
        if let forced = KVM.environment("RKT_KVM_CPUS").flatMap(Int.init), forced > 0 { return forced }
        let limits = apps.compactMap(\.isolation.cpuQuotaMillicores)
        guard !limits.isEmpty else { return 1 }
        let wanted = Int((limits.reduce(0, +) + 999) / 1000)
        let host = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        return min(max(1, wanted), host)
    }
}
