import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// `stop`: SIGTERM to the pod's init (which stops the apps, then SIGKILLs them after a timeout),
/// or SIGKILL with `force` (the kernel then kills the whole PID namespace).
enum StopCommand {
    static func execute(_ request: Stage1Request, _ stop: StopPayload) throws(Stage1Error) {
        let notRunning = { (details: String) in Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: details) }
        // The pod runs while its lock is held; a shared lock we can take means nobody holds it.
        let fd = open(request.pod.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw notRunning("\(request.pod.path): \(errnoString(errno))") }
        let unlocked = flock(fd, LOCK_SH | LOCK_NB) == 0
        close(fd)
        if unlocked { throw notRunning("the pod lock is not held") }
        let files = PodFiles(pod: request.pod)
        guard let (pid, _) = files.readPID() else { throw notRunning("no pid file in \(request.pod.path)") }
        // Guard against a recycled pid: the pod's init is PID 1 of its own PID namespace.
        if let status = readFile("/proc/\(pid)/status"),
           let line = String(decoding: status, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }),
           line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last != "1"
        {
            throw notRunning("process \(pid) is not the pod's init")
        }
        let signal = stop.force ? SIGKILL : SIGTERM
        guard kill(pid, signal) == 0 else {
            let code = errno
            if code == ESRCH { throw notRunning("process \(pid) does not exist") }
            throw systemError("kill", "\(pid)", code)
        }
        debug("sent signal \(signal) to pid \(pid)")
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
