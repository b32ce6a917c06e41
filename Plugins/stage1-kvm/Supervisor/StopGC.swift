import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `stop`: signals the pod's supervisor (its pid is in `pid`), which destroys the VM, records the
/// apps as killed and exits. Both forms end the VM at once: there is no graceful guest stop yet.
enum StopCommand {
    static func execute(_ request: Stage1Request, _ stop: StopPayload) throws(Stage1Error) {
        let pid = try PodLock.runningPID(request.pod)
        // SIGTERM either way: a SIGKILLed supervisor would leave QEMU running.
        _ = stop
        try PodLock.signal(pid, SIGTERM)
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
