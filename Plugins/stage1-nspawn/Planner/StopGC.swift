import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// `stop`: SIGTERM to the pod's init (which stops the apps, then SIGKILLs them after a timeout),
/// or SIGKILL with `force` (the kernel then kills the whole PID namespace).
enum StopCommand {
    static func execute(_ request: Stage1Request, _ stop: StopPayload) throws(Stage1Error) {
        let notRunning = { (details: String) in Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: details) }
        let pid = try PodLock.runningPID(request.pod)
        // Guard against a recycled pid: the pod's init is PID 1 of its own PID namespace.
        if let status = readFile("/proc/\(pid)/status"),
           let line = String(decoding: status, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }),
           line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last != "1"
        {
            throw notRunning("process \(pid) is not the pod's init")
        }
        try PodLock.signal(pid, stop.force ? SIGKILL : SIGTERM)
    }
}

/// `gc`: the pod's mounts died with its mount namespace; what remains outside the pod directory
/// is its cgroups. Kill anything left in them and remove them. Idempotent.
enum GCCommand {
    static func execute(_ request: Stage1Request) throws(Stage1Error) {
        guard let podPath = try? canonicalPath(request.pod.path) else { return }
        let stateDirectory = Nspawn.stateDirectory(pod: podPath)
        guard let state = readJSON(NspawnPodState.self, from: stateDirectory + "/pod.json") else { return }
        let failures = PodCgroups.remove(directories: state.cgroupDirectories)
        if !failures.isEmpty {
            throw Stage1Error(code: .ioFailure, msg: "cannot remove \(failures.count) cgroup(s) of the pod", details: failures.joined(separator: "; "))
        }
    }
}
