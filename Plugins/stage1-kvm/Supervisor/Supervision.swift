import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// How a supervised pod ended.
enum PodOutcome {
    /// The apps ran; exit with this status (the first failing app's, else 0).
    case exited(Int32)
    /// The pod could not run (no boot, a guest error, a channel closed early): exit 254.
    case failed(Stage1Error)
}

/// The supervisor's loop: copies the guest's `rkt.output` channel to stdout, reads the
/// `rkt.status` channel (GuestInit/init.c's lines), watches the domain and the boot timeout, and
/// answers SIGTERM/SIGINT/SIGHUP/SIGQUIT by destroying the VM.
struct Supervision {
    let domain: Domain
    let statusListener: UnixListener
    let outputListener: UnixListener
    let files: PodFiles
    let apps: [String]
    let begin: Double

    private var statusFD: Int32 = -1
    private var outputFD: Int32 = -1
    private var statusBuffer: [UInt8] = []
    private var started = Set<String>()
    private var statuses: [String: Int32] = [:]
    private var firstFailure: Int32?
    private var guestError: String?
    private var done = false
    private var doneAt: Double?

    init(domain: Domain, statusListener: UnixListener, outputListener: UnixListener, files: PodFiles, apps: [String], begin: Double) {
        self.domain = domain
        self.statusListener = statusListener
        self.outputListener = outputListener
        self.files = files
        self.apps = apps
        self.begin = begin
    }

    mutating func run(signals: inout sigset_t) -> PodOutcome {
        let startedAt = monotonicSeconds()
        while true {
            pump(timeoutMilliseconds: 50)
            reapChildren()
            if let signal = pendingSignal(&signals) {
                debug("signal \(signal): destroying the VM")
                domain.destroy()
                for app in apps where statuses[app] == nil { record(app, 128 + signal) }
                return .exited(firstFailure ?? 128 + signal)
            }
            if !domain.isActive {
                // QEMU is gone: whatever it wrote is in the sockets; read it to the end.
                drain()
                break
            }
            if done {
                if doneAt == nil { doneAt = monotonicSeconds() }
                if monotonicSeconds() - doneAt! > RunCommand.shutdownGrace {
                    debug("the guest reported done but did not power off; destroying it")
                    domain.destroy()
                    break
                }
            } else if started.isEmpty && guestError == nil && monotonicSeconds() - startedAt > RunCommand.bootTimeout {
                domain.destroy()
                return .failed(Stage1Error(
                    code: .ioFailure, msg: "the pod's VM did not start its apps within \(Int(RunCommand.bootTimeout)) s",
                    details: "boot timeout (RKT_KVM_BOOT_TIMEOUT); the guest console is in \(KVM.consoleLog(pod: files.podPath))"))
            }
        }
        debug("VM ended after \(milliseconds(since: begin)) ms")
        if let guestError {
            return .failed(Stage1Error(code: .ioFailure, msg: "the pod's VM could not run the apps: \(guestError)"))
        }
        let missing = apps.filter { statuses[$0] == nil }
        if !missing.isEmpty {
            for app in missing { record(app, 254) }
            return .failed(Stage1Error(
                code: .ioFailure,
                msg: "the pod's VM ended without reporting the exit status of \(missing.joined(separator: ", "))",
                details: "the guest crashed, powered off or closed the status channel early; console: \(KVM.consoleLog(pod: files.podPath))"))
        }
        return .exited(firstFailure ?? 0)
    }

    /// One poll over the listeners (until QEMU connected) and the channels.
    private mutating func pump(timeoutMilliseconds: Int32) {
        var fds: [pollfd] = []
        fds.append(pollfd(fd: statusFD >= 0 ? statusFD : statusListener.fd, events: Int16(POLLIN), revents: 0))
        fds.append(pollfd(fd: outputFD >= 0 ? outputFD : outputListener.fd, events: Int16(POLLIN), revents: 0))
        let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        guard ready > 0 else { return }
        if fds[0].revents != 0 {
            if statusFD < 0 { statusFD = acceptClosingOnExec(statusListener.fd) } else { readStatus() }
        }
        if fds[1].revents != 0 {
            if outputFD < 0 { outputFD = acceptClosingOnExec(outputListener.fd) } else { copyOutput() }
        }
    }

    /// Reads both channels until they have nothing more (QEMU has exited: EOF follows the data).
    private mutating func drain() {
        for fd in [statusFD, outputFD] where fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if outputFD >= 0 { while copyOutput() {} }
        if statusFD >= 0 { while readStatus() {} }
    }

    /// Returns whether it read something.
    @discardableResult
    private mutating func copyOutput() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(outputFD, &buffer, buffer.count)
        if n <= 0 {
            if n == 0 || (errno != EINTR && errno != EAGAIN) { close(outputFD); outputFD = -2 }
            return false
        }
        var offset = 0
        while offset < n {
            let w = buffer.withUnsafeBytes { write(1, $0.baseAddress! + offset, n - offset) }
            if w < 0 { if errno == EINTR { continue }; break }
            offset += w
        }
        return true
    }

    @discardableResult
    private mutating func readStatus() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(statusFD, &buffer, buffer.count)
        if n <= 0 {
            if n == 0 || (errno != EINTR && errno != EAGAIN) { close(statusFD); statusFD = -2 }
            return false
        }
        statusBuffer += buffer[0..<n]
        while let newline = statusBuffer.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: statusBuffer[..<newline], as: UTF8.self)
            statusBuffer.removeSubrange(...newline)
            handle(line)
        }
        return true
    }

    private mutating func handle(_ line: String) {
        debug("guest: \(line) (\(milliseconds(since: begin)) ms)")
        let words = line.split(separator: " ", maxSplits: 2).map(String.init)
        guard let verb = words.first else { return }
        switch verb {
        case "started" where words.count >= 2:
            started.insert(words[1])
            try? Stage1Files.touch(files.startedPath(app: words[1]))
        case "exit" where words.count == 3:
            guard apps.contains(words[1]), let status = Int32(words[2]) else { return }
            record(words[1], status)
        case "error":
            guestError = String(line.dropFirst("error ".count))
        case "done":
            done = true
        default:
            debug("unknown line from the guest: \(line)")
        }
    }

    private mutating func record(_ app: String, _ status: Int32) {
        statuses[app] = status
        if status != 0 && firstFailure == nil { firstFailure = status }
        do { try Stage1Files.write(Data("\(status)\n".utf8), to: files.statusPath(app: app)) } catch {
            writeStderr("stage1-kvm: warning: \(error.msg)\n")
        }
    }

    /// QEMU is reparented to us (a child subreaper) once libvirt's launcher exits; reap it at
    /// once, or libvirt waits for a reaping that this machine's PID 1 does late.
    private func reapChildren() {
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
    }

    private func pendingSignal(_ signals: inout sigset_t) -> Int32? {
        var info = siginfo_t()
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        while true {
            let signal = sigtimedwait(&signals, &info, &zero)
            if signal < 0 { return nil }
            if signal == SIGCHLD { continue }
            return signal
        }
    }
}

/// accept(2), the connection marked close-on-exec (Glibc's module does not export accept4).
func acceptClosingOnExec(_ listener: Int32) -> Int32 {
    let fd = accept(listener, nil, nil)
    if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return fd
}
