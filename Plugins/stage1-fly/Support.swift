import CFly
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// The plugin's identity, as `describe` reports it.
enum Fly {
    static let name = "stage1-fly"
    static let version = "0.1.0"
    /// What this stage1 implements. Not `multiple-apps`, `networks` (fly shares the host's network:
    /// only `net=host`), `private-users`, `isolators`, `ipc-modes`, `hostname`, `dns`, `hosts`,
    /// `metadata-service`.
    static let features: [Stage1Feature] = [.run, .enter, .stop, .gc, .volumes, .interactive]


    /// `<pod>/stage1-fly/`: what `run` leaves for `enter` and `gc` (the spec lets a plugin write
    /// under names starting with `stage1-`).
    static func stateDirectory(pod: String) -> String { pod + "/stage1-fly" }
    static func statePath(pod: String, app: String) -> String { stateDirectory(pod: pod) + "/" + app + ".json" }
}

/// What `run` records per app for `enter` and `gc`.
struct FlyAppState: Codable {
    /// The pod directory when `run` started (canonical); stage0 renames it later (`exited-garbage/`).
    var podPath: String
    /// The app's rootfs, canonical host path at `run` time.
    var rootfs: String
    /// Working directory inside the rootfs.
    var workingDirectory: String
    var uid: UInt32
    var gid: UInt32
    var supplementaryGIDs: [UInt32]
    /// Whether `run` bind-mounted the rootfs onto itself (then `gc` unmounts it too).
    var selfBound: Bool
}

extension FlyAppState {
    /// `rootfs` for the pod directory's current canonical path.
    func rootfs(podPath current: String) -> String {
        rootfs.hasPrefix(podPath + "/") ? current + rootfs.dropFirst(podPath.count) : rootfs
    }
}
