import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// The plugin's identity, as `describe` reports it.
enum Nspawn {
    static let name = "stage1-nspawn"
    static let version = "0.1.0"
    /// Everything but `private-users` and `metadata-service`.
    static let features: [Stage1Feature] = [
        .run, .enter, .stop, .gc, .interactive, .multipleApps, .networks, .isolators, .volumes, .ipcModes,
        .hostname, .dns, .hosts, .notify,
    ]

    /// How long `stop` (and a failing app) gives the apps between SIGTERM and SIGKILL.
    static let stopTimeoutMilliseconds = 10_000

    /// `<pod>/stage1-nspawn/`: the plan, the seccomp filters, and what `enter` and `gc` need.
    static func stateDirectory(pod: String) -> String { pod + "/stage1-nspawn" }
    static func statePath(pod: String, app: String) -> String { stateDirectory(pod: pod) + "/" + app + ".json" }

    /// rkt-pod-init, installed beside this executable in the stage1 image.
    static func initPath() throws(Stage1Error) -> String {
        let exe = try canonicalPath("/proc/self/exe")
        let path = String(exe[..<exe.lastIndex(of: "/")!]) + "/rkt-pod-init"
        guard access(path, X_OK) == 0 else {
            throw Stage1Error(code: .ioFailure, msg: "the pod supervisor \(path) is missing", details: errnoString(errno))
        }
        return path
    }
}

/// What `run` records per app for `enter` and `gc`.
struct NspawnAppState: Codable {
    var workingDirectory: String
    var uid: UInt32
    var gid: UInt32
    var supplementaryGIDs: [UInt32]
    /// The bounding set (hex mask), nil when capabilities are not restricted.
    var capabilities: String?
    var noNewPrivileges: Bool
    /// The compiled seccomp filter, nil when none.
    var seccompFile: String?
    /// The app's v1 `cgroup.procs` files (hierarchies with its limits).
    var cgroupProcs: [String]
    /// The app's cgroup v2 directory.
    var cgroup2: String?
    var oomScoreAdj: Int32?
}

/// What `run` records for the pod: the cgroup directories `gc` removes.
struct NspawnPodState: Codable {
    var cgroupDirectories: [String]
}
