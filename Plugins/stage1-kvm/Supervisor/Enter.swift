import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `enter` (exec'd by `rkt enter`): runs a command inside an app of the pod's VM. Only the pod's
/// supervisor may talk to libvirt and the guest, so this connects to the supervisor's control
/// socket (`<embed root>/control.sock`), which relays frames to the guest init over `rkt.agent`
/// (Documentation/stage1-kvm.md, "The agent protocol"). The guest starts the command in the app's
/// rootfs with its environment, user, groups, working directory, bounding set, no_new_privs and
/// seccomp filter, on a terminal (a pty in the guest) when our stdin is one, else on pipes.
/// Our stdin, stdout and stderr are relayed; we exit with the command's status.
enum EnterCommand {
    /// How long to wait for the control socket to appear (the pod may still be booting).
    static var connectTimeout: Double { RunCommand.bootTimeout + 30 }

    static func execute(_ request: Stage1Request, _ enter: EnterPayload) throws(Stage1Error) -> Never {
        let manifest = try AppConfig.readPodManifest(request.pod.manifestPath)
        guard (manifest.apps ?? []).contains(where: { $0.name == enter.appName }) else {
            throw Stage1Error(code: .podNotRunning, msg: "the pod has no app \(enter.appName)")
        }
        let socket = try connect(request)
        let connection = FrameConnection(fd: socket)
        let tty = enter.tty && isatty(0) == 1
        let size = tty ? windowSize() : (rows: 0, columns: 0)
        connection.send(AgentFrame(.open, payload: AgentFrame.openPayload(
            app: enter.appName, tty: tty, rows: size.rows, columns: size.columns, command: enter.command)))
        let terminal = tty ? RawTerminal() : nil
        let result = relay(connection, interactive: enter.interactive, tty: tty)
        terminal?.restore()
        connection.close()
        switch result {
        case .success(let status): exit(status)
        case .failure(let error): throw error
        }
    }

    /// Connects to the supervisor's control socket, waiting while the pod runs and has no socket yet.
    static func connect(_ request: Stage1Request) throws(Stage1Error) -> Int32 {
        let path = KVM.socketPath(uuid: request.pod.uuid, "control")
        let deadline = monotonicSeconds() + connectTimeout
        while true {
            let pid = try PodLock.runningPID(request.pod)
            guard kill(pid, 0) == 0 || errno != ESRCH else {
                throw Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: "process \(pid) does not exist")
            }
            var address = try UnixListener.address(path)
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw systemError("socket", path) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if connected == 0 { return fd }
            let code = errno
            Glibc.close(fd)
            guard code == ENOENT || code == ECONNREFUSED, monotonicSeconds() < deadline else {
                throw systemError("connect", path, code, msg: "cannot reach the pod's supervisor at \(path)")
            }
            usleep(100_000)
        }
    }

    /// Relays until the guest reports the command's end; returns its status.
    static func relay(_ connection: FrameConnection, interactive: Bool, tty: Bool) -> Result<Int32, Stage1Error> {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&signals, signal) }
        sigprocmask(SIG_BLOCK, &signals, nil)
        var stdinOpen = interactive
        if !stdinOpen { connection.send(AgentFrame(.input)) }
        var buffer = [UInt8](repeating: 0, count: 32768)
        while true {
            var fds = [pollfd(fd: connection.fd, events: Int16(POLLIN) | (connection.wantsToWrite ? Int16(POLLOUT) : 0), revents: 0)]
            // Stdin is read only while the socket keeps up, so a command that does not read its
            // input cannot make the supervisor buffer without end.
            if stdinOpen && !connection.wantsToWrite { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 200)
            if fds[0].revents & Int16(POLLOUT) != 0 { connection.flush() }
            if fds.count > 1 && fds[1].revents != 0 {
                let n = read(0, &buffer, buffer.count)
                if n > 0 {
                    connection.send(AgentFrame(.input, payload: Array(buffer[0..<n])))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    stdinOpen = false
                    connection.send(AgentFrame(.input))
                }
            }
            if fds[0].revents & ~Int16(POLLOUT) != 0 {
                for frame in connection.receive() {
                    switch frame.knownKind {
                    case .stdout: writeAll(1, frame.payload)
                    case .stderr: writeAll(2, frame.payload)
                    case .exit:
                        return .success(Int32(frame.text.trimmingCharacters(in: .whitespaces)) ?? 254)
                    case .failed:
                        let stopping = frame.text.contains("stopping") || frame.text.contains("ended")
                        return .failure(Stage1Error(code: stopping ? .podNotRunning : .ioFailure, msg: "cannot enter the pod: \(frame.text)"))
                    default:
                        continue
                    }
                }
                if connection.closed {
                    return .failure(Stage1Error(
                        code: .ioFailure, msg: "the pod's supervisor closed the agent channel before the command ended",
                        details: "the pod stopped, or its VM could not be reached"))
                }
            }
            var info = siginfo_t()
            var zero = timespec(tv_sec: 0, tv_nsec: 0)
            while case let signal = sigtimedwait(&signals, &info, &zero), signal > 0 {
                if signal == SIGWINCH {
                    if tty {
                        let size = windowSize()
                        connection.send(AgentFrame(.windowSize, payload: Array("\(size.rows) \(size.columns)".utf8)))
                    }
                } else {
                    connection.send(AgentFrame(.signal, payload: Array(String(signal).utf8)))
                }
            }
        }
    }

    static func windowSize() -> (rows: Int, columns: Int) {
        var size = winsize()
        // TIOCGWINSZ (0x5413 on Linux); the macro does not reach Swift.
        guard ioctl(0, UInt(0x5413), &size) == 0 else { return (0, 0) }
        return (Int(size.ws_row), Int(size.ws_col))
    }
}

/// The user's terminal in raw mode while the command runs in the guest's pty (which does the line
/// editing and turns ^C into SIGINT there); restored afterwards.
final class RawTerminal {
    private var saved = termios()
    private var active = false

    init() {
        guard tcgetattr(0, &saved) == 0 else { return }
        var raw = saved
        cfmakeraw(&raw)
        active = tcsetattr(0, TCSANOW, &raw) == 0
    }

    func restore() {
        if active { tcsetattr(0, TCSANOW, &saved) }
        active = false
    }
}
