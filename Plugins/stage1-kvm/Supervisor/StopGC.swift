import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `stop`: signals the pod's process (its pid is in `pid`; it forwards to the supervisor).
/// SIGTERM: the supervisor asks the guest init over the agent channel to stop the apps (SIGTERM,
/// SIGKILL after 10 s); they end with their statuses recorded and the guest powers off.
/// `--force`: SIGUSR1, on which the supervisor destroys the VM and records the apps still
/// running as killed (137). Never SIGKILL: the supervisor would die before recording anything
/// (QEMU would still die with its PID namespace).
enum StopCommand {
    static func execute(_ request: Stage1Request, _ stop: StopPayload) throws(Stage1Error) {
        let pid = try PodLock.runningPID(request.pod)
        try PodLock.signal(pid, stop.force ? SIGUSR1 : SIGTERM)
    }
}

/// `gc`: kills a QEMU the pod left behind (its pid file in the embed root) and removes the embed
/// root, sockets and plan. Idempotent; runs only when the pod lock is free (stage0 checks).
enum GCCommand {
    static func execute(_ request: Stage1Request) throws(Stage1Error) {
        let state = KVM.stateDirectory(pod: request.pod.path)
        let root = KVM.embedRoot(uuid: request.pod.uuid)
        let pidFile = root + "/run/qemu/" + KVM.domainName(uuid: request.pod.uuid) + ".pid"
        if let data = readFile(pidFile),
           let pid = pid_t(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
           isQEMU(pid)
        {
            debug("killing the pod's leftover QEMU \(pid)")
            kill(pid, SIGKILL)
        }
        for directory in [root, state] where fileExists(directory) {
            do { try FileManager.default.removeItem(atPath: directory) } catch {
                throw Stage1Error(code: .ioFailure, msg: "cannot remove \(directory)", details: "\(error)")
            }
        }
    }

    /// Guards against a recycled pid: the process must be a QEMU.
    static func isQEMU(_ pid: pid_t) -> Bool {
        guard let data = readFile("/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data, as: UTF8.self).contains("qemu-system")
    }
}
