import Foundation
import Stage1Isolators
import Stage1Kit
import Stage1Protocol

/// An app's isolators as this plugin applies them: the bounding set and seccomp filter for
/// rkt-pod-init, limits for the app's cgroups.
struct AppIsolationPlan {
    var isolation: AppIsolation
    /// The compiled filter (raw `struct sock_filter` records), nil when seccomp is off.
    var seccompBPF: [UInt8]?

    static func resolve(_ isolators: [Isolator], insecureOptions: [String], uid: UInt32, app: String) throws(Stage1Error) -> AppIsolationPlan {
        do throws(IsolationError) {
            let isolation = try AppIsolation.resolve(isolators: isolators, insecureOptions: insecureOptions, uid: uid)
            return AppIsolationPlan(isolation: isolation, seccompBPF: try isolation.seccomp?.compileBPF())
        } catch {
            throw Stage1Error(code: .invalidRequest, msg: "app \(app): \(error)")
        }
    }

    var capabilitiesText: String? { String(isolation.capabilities, radix: 16) }
    var seccomp: SeccompPolicy? { isolation.seccomp }
    var noNewPrivileges: Bool { isolation.noNewPrivileges }
    var oomScoreAdj: Int32? { isolation.oomScoreAdj }

    /// The v1 controllers the app's limits need.
    var v1Controllers: Set<String> { Set(CgroupLimits.files(for: isolation, version: .v1).map(\.controller)) }

    /// Writes the app's resource limits; a limit whose controller is missing is a warning (rkt).
    func applyLimits(cgroups: PodCgroups, app: String) throws(Stage1Error) {
        // Hybrid hosts keep the controllers in v1; the v2 tree only tracks processes there.
        let version: CgroupVersion = cgroups.limitsInV1 ? .v1 : .v2
        for setting in CgroupLimits.files(for: isolation, version: version) {
            if try !cgroups.write(app: app, controller: setting.controller, v2: version == .v2, file: setting.file, value: setting.value) {
                writeStderr("\(Nspawn.name): warning: app \(app): no \(setting.controller) cgroup controller; \(setting.file) not set\n")
            }
        }
    }
}
