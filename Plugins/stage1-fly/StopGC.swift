import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `stop`: SIGTERM (SIGKILL with `force`) to the app, whose pid is in the pod's `pid` file.
enum StopCommand {
    static func execute(_ request: Stage1Request, _ stop: StopPayload) throws(Stage1Error) {
        let notRunning = { (details: String) in Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: details) }
        let pid = try PodLock.runningPID(request.pod)
        // Guard against a recycled pid: the app is chrooted into one of the pod's app rootfses.
        if let podPath = try? canonicalPath(request.pod.path), let root = processRoot(pid) {
            let roots = GCCommand.appRootfses(podPath: podPath, stage1Rootfs: request.pod.stage1Rootfs).map(\.rootfs)
            if !roots.isEmpty && !roots.contains(root) {
                throw notRunning("process \(pid) has root \(root), which is not an app of this pod")
            }
        }
        try PodLock.signal(pid, stop.force ? SIGKILL : SIGTERM)
    }
}

/// `gc`: fly holds nothing outside the pod directory except the mounts `run` made below the app
/// rootfs; unmount them (lazily). No network, no cgroups. Idempotent.
enum GCCommand {
    static func execute(_ request: Stage1Request) throws(Stage1Error) {
        guard let podPath = try? canonicalPath(request.pod.path) else { return }
        var failures: [String] = []
        for app in appRootfses(podPath: podPath, stage1Rootfs: request.pod.stage1Rootfs) {
            failures += FlyMounts.unmountApp(rootfs: app.rootfs, including: app.selfBound)
        }
        if !failures.isEmpty {
            throw Stage1Error(code: .ioFailure, msg: "cannot unmount \(failures.count) mount(s) of the pod", details: failures.joined(separator: "; "))
        }
    }

    /// The pod's app rootfses (canonical, for the pod directory's current path) and whether `run`
    /// bound each onto itself: from the state `run` left, plus every `opt/stage2/<app>/rootfs`.
    static func appRootfses(podPath: String, stage1Rootfs: String) -> [(rootfs: String, selfBound: Bool)] {
        var out: [(rootfs: String, selfBound: Bool)] = []
        let stateDirectory = Fly.stateDirectory(pod: podPath)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? [] where name.hasSuffix(".json") {
            guard let state = readJSON(FlyAppState.self, from: stateDirectory + "/" + name) else { continue }
            out.append((state.rootfs(podPath: podPath), state.selfBound))
        }
        let stage2 = ((try? canonicalPath(stage1Rootfs)) ?? stage1Rootfs) + "/opt/stage2"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: stage2)) ?? [] {
            guard let rootfs = try? canonicalPath(stage2 + "/" + name + "/rootfs") else { continue }
            if !out.contains(where: { $0.rootfs == rootfs }) { out.append((rootfs, false)) }
        }
        return out
    }
}
