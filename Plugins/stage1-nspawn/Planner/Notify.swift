import CNspawn
import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// sd_notify when `rkt run` runs as a systemd Type=notify service (`run.notifySocket`; semantics
/// in Documentation/stage1-nspawn.md): a socketpair from the pod's PID 1, which decides when the
/// pod is ready, to the waiter, the service's main process, which tells the service manager.
struct NotifyChannel {
    /// PID 1's end: inherited across its exec, named in the plan (`notify-fd`).
    let podEnd: Int32
    /// The waiter's end: `RKT_NOTIFY_FD`.
    let waiterEnd: Int32
    /// The service manager's socket, for the waiter's `NOTIFY_SOCKET`.
    let managerSocket: String

    /// nil without a notification socket in the request.
    static func open(_ run: RunPayload) throws(Stage1Error) -> NotifyChannel? {
        guard let socket = run.notifySocket, !socket.isEmpty else { return nil }
        var fds: [Int32] = [-1, -1]
        // SEQPACKET: message boundaries, and an end-of-file for the waiter when PID 1 is gone.
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw systemError("socketpair", "AF_UNIX", msg: "cannot create the sd_notify channel: \(errnoString(errno))")
        }
        // Only PID 1 gets its end (the waiter's stays close-on-exec until becomeWaiter).
        _ = rkt_nspawn_set_cloexec(fds[0], 0)
        return NotifyChannel(podEnd: fds[0], waiterEnd: fds[1], managerSocket: socket)
    }

    /// After the clone: the planner (becoming the waiter) keeps only its own end.
    func podStarted() { close(podEnd) }

    /// What the waiter needs, with its end kept open across the exec.
    func waiterEnvironment() -> [String] {
        _ = rkt_nspawn_set_cloexec(waiterEnd, 0)
        return ["NOTIFY_SOCKET=" + managerSocket, "RKT_NOTIFY_FD=\(waiterEnd)"]
    }

    /// For an app whose image supports sd_notify: the socket PID 1 binds in the pod's state
    /// directory (record `notify`), mounted at /run/systemd/notify in the app's view. Returns
    /// whether the app supports it (then its environment gets NOTIFY_SOCKET).
    static func addApp(_ app: RunApp, rootfs: String, stateDirectory: String, operations: inout PlanWriter, apps: inout PlanWriter)
        throws(Stage1Error) -> Bool
    {
        guard SystemdNotify.supportsNotify(imageManifest: readFile(app.imageManifestPath) ?? Data()) else { return false }
        let socket = stateDirectory + "/notify-" + app.name
        let target = try RootPath.resolve(root: rootfs, path: SystemdNotify.appSocketPath, create: .file)
        operations.mount(socket, on: target, flags: PodFilesystem.bind)
        apps.record("notify", socket)
        debug("app \(app.name) supports sd_notify: its socket \(socket) is \(SystemdNotify.appSocketPath) in the app")
        return true
    }
}
