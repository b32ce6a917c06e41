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

/// The sockets the supervisor listens on: QEMU connects to the first three (one per
/// virtio-serial port), `enter` to the control socket.
struct GuestChannels {
    let status: UnixListener
    let output: UnixListener
    let agent: UnixListener
    let control: UnixListener
}

/// The supervisor's loop: reads the `rkt.status` channel (GuestInit/init.c's lines), copies the
/// apps' output from `rkt.output` to stdout/stderr and `logs/<app>.log`, relays `enter` sessions
/// between the control socket and `rkt.agent`, watches the domain and the boot timeout, and turns
/// signals into stops: SIGTERM (and SIGINT, SIGHUP, SIGQUIT) asks the guest to stop its apps,
/// SIGUSR1 (`stop --force`), a second signal or a signal before the guest is up destroys the VM.
struct Supervision {
    let domain: Domain
    let channels: GuestChannels
    let files: PodFiles
    let apps: [String]
    let begin: Double
    /// `rkt run --interactive`: our stdin goes to the app's terminal in the guest.
    let interactive: Bool
    /// Whether that stdin is a terminal (else piped input, whose end is passed on as ^D).
    let stdinIsTerminal: Bool
    /// The session number of the agent frames meant for the interactive app (GuestInit's APP_SESSION).
    static let appSession: UInt32 = 0xFFFF_FFFF

    /// After a graceful stop was asked, how long the guest may take (its own grace is 10 s).
    static let stopTimeout: Double = 30

    private var statusFD: Int32 = -1
    private var statusBuffer: [UInt8] = []
    private var output: FrameConnection?
    private var agent: FrameConnection?
    /// `enter` clients, by session number (0: connected, no session opened yet).
    private var clients: [(session: UInt32, connection: FrameConnection)] = []
    private var nextSession: UInt32 = 1
    private var logFDs: [Int32] = []
    private var guestReady = false
    private var stopAskedAt: Double?
    private var started = Set<String>()
    private var statuses: [String: Int32] = [:]
    private var firstFailure: Int32?
    private var guestError: String?
    private var done = false
    private var stdinOpen = true

    init(domain: Domain, channels: GuestChannels, files: PodFiles, apps: [String], begin: Double, interactive: Bool = false,
         stdinIsTerminal: Bool = false) {
        self.interactive = interactive
        self.stdinIsTerminal = stdinIsTerminal
        self.domain = domain
        self.channels = channels
        self.files = files
        self.apps = apps
        self.begin = begin
        // `logs/<app>.log`: what `rkt logs` reads (as stage1-nspawn keeps them).
        try? makeDirectories(files.logDirectory)
        logFDs = apps.map { app in
            let fd = open(files.logPath(app: app), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 { writeStderr("stage1-kvm: warning: cannot open \(files.logPath(app: app)): \(errnoString(errno))\n") }
            return fd
        }
    }

    mutating func run(signals: inout sigset_t) -> PodOutcome {
        let startedAt = monotonicSeconds()
        defer { finish() }
        while true {
            pump(timeoutMilliseconds: 50)
            reapChildren()
            if let signal = pendingSignal(&signals) {
                if signal != SIGUSR1 && guestReady && stopAskedAt == nil, let agent, !agent.closed {
                    debug("signal \(signal): asking the guest to stop its apps")
                    agent.send(AgentFrame(.stop))
                    stopAskedAt = monotonicSeconds()
                } else {
                    // `stop --force`, a second signal, or a guest that is not up yet (or whose
                    // agent channel is gone).
                    let status = signal == SIGUSR1 ? 128 + SIGKILL : 128 + signal
                    debug("signal \(signal): destroying the VM")
                    return destroy(recording: status)
                }
            }
            if let stopAskedAt, monotonicSeconds() - stopAskedAt > Self.stopTimeout {
                writeStderr("stage1-kvm: the guest did not stop within \(Int(Self.stopTimeout)) s; destroying it\n")
                return destroy(recording: 128 + SIGKILL)
            }
            if !domain.isActive {
                // QEMU is gone: whatever it wrote is in the sockets; read it to the end.
                drain()
                break
            }
            if done {
                // The guest synced before `done` (init.c), and its output is in our sockets (a
                // virtio-serial write returns once QEMU took the data): its power-off would only
                // add QEMU's slow exit (ACPI, libvirt's SIGTERM, reaping; ~0.35 s under TCG).
                debug("the guest is done; ending the VM")
                domain.endAtOnce()
                drain()
                break
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

    /// Pulls the plug; the apps still running are recorded with `status` (128 + the signal).
    private mutating func destroy(recording status: Int32) -> PodOutcome {
        domain.destroy()
        drain()
        for app in apps where statuses[app] == nil { record(app, status) }
        return .exited(firstFailure ?? status)
    }

    /// Sessions still open when the pod ends learn it (their `enter` exits 254); logs are closed.
    private mutating func finish() {
        for client in clients {
            if client.session != 0 && !client.connection.closeWhenFlushed {
                client.connection.send(AgentFrame(.failed, session: client.session, payload: Array("the pod ended before the command did".utf8)))
            }
            client.connection.close()
        }
        clients.removeAll()
        for fd in logFDs where fd >= 0 { close(fd) }
        logFDs = []
    }

    /// One poll over the listeners (until QEMU connected), the channels and the enter clients.
    private mutating func pump(timeoutMilliseconds: Int32) {
        enum Source { case status, output, agent, control, client(Int), stdin }
        var fds: [pollfd] = []
        var sources: [Source] = []
        func watch(_ fd: Int32, _ source: Source, write: Bool = false) {
            fds.append(pollfd(fd: fd, events: Int16(POLLIN) | (write ? Int16(POLLOUT) : 0), revents: 0))
            sources.append(source)
        }
        if statusFD != -2 { watch(statusFD >= 0 ? statusFD : channels.status.fd, .status) }
        if let output { if !output.closed { watch(output.fd, .output) } } else { watch(channels.output.fd, .output) }
        if let agent { if !agent.closed { watch(agent.fd, .agent, write: agent.wantsToWrite) } } else { watch(channels.agent.fd, .agent) }
        // Enter clients wait in the listen backlog until the guest can open sessions.
        if guestReady && stopAskedAt == nil { watch(channels.control.fd, .control) }
        for (index, client) in clients.enumerated() where !client.connection.closed {
            watch(client.connection.fd, .client(index), write: client.connection.wantsToWrite)
        }
        // Stdin is read only while the agent keeps up, so an app that does not read cannot make us
        // buffer without end.
        if interactive && guestReady && stdinOpen, let agent, !agent.closed, !agent.wantsToWrite { watch(0, .stdin) }
        let ready = poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        guard ready > 0 else { return }
        for (index, pfd) in fds.enumerated() where pfd.revents != 0 {
            switch sources[index] {
            case .status:
                if statusFD < 0 { statusFD = acceptClosingOnExec(channels.status.fd) } else { readStatus() }
            case .output:
                if let output { handleOutput(output.receive()) } else {
                    let fd = acceptClosingOnExec(channels.output.fd)
                    if fd >= 0 { output = FrameConnection(fd: fd) }
                }
            case .agent:
                if let agent {
                    if pfd.revents & Int16(POLLOUT) != 0 { agent.flush() }
                    if pfd.revents & ~Int16(POLLOUT) != 0 { handleAgent(agent.receive()) }
                } else {
                    let fd = acceptClosingOnExec(channels.agent.fd)
                    if fd >= 0 { agent = FrameConnection(fd: fd) }
                }
            case .control:
                let fd = acceptClosingOnExec(channels.control.fd)
                if fd >= 0 { clients.append((0, FrameConnection(fd: fd))) }
            case .client(let number):
                let connection = clients[number].connection
                if pfd.revents & Int16(POLLOUT) != 0 { connection.flush() }
                if pfd.revents & ~Int16(POLLOUT) != 0 { handleClient(number, connection.receive()) }
            case .stdin:
                var buffer = [UInt8](repeating: 0, count: 32768)
                let n = read(0, &buffer, buffer.count)
                if n > 0 {
                    agent?.send(AgentFrame(.input, session: Self.appSession, payload: Array(buffer[0..<n])))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    stdinOpen = false
                    // The end of piped input reaches the app as a terminal's end of input (^D
                    // at the start of a line); a terminal of ours has no end to pass on.
                    if !stdinIsTerminal { agent?.send(AgentFrame(.input, session: Self.appSession, payload: [4])) }
                }
            }
        }
        // Clients that are done or gone; a session whose client went away gets SIGHUP, as a
        // terminal hang-up would give it.
        clients.removeAll { client in
            guard client.connection.finished else { return false }
            if client.session != 0 && !client.connection.closeWhenFlushed {
                agent?.send(AgentFrame(.signal, session: client.session, payload: Array(String(SIGHUP).utf8)))
            }
            client.connection.close()
            return true
        }
    }

    /// Reads the channels until they have nothing more (QEMU has exited: EOF follows the data).
    private mutating func drain() {
        // Bounded: a QEMU that is gone has closed its sockets, but never spin on one that did not.
        let deadline = monotonicSeconds() + 2
        if let output { while !output.closed && monotonicSeconds() < deadline { handleOutput(output.receive()) } }
        if let agent { while !agent.closed && monotonicSeconds() < deadline { handleAgent(agent.receive()) } }
        if statusFD >= 0 {
            _ = fcntl(statusFD, F_SETFL, fcntl(statusFD, F_GETFL) | O_NONBLOCK)
            while readStatus() {}
        }
        for client in clients { client.connection.flush() }
    }

    /// The apps' output: `O`/`E` frames whose session is the app's index.
    private mutating func handleOutput(_ frames: [AgentFrame]) {
        for frame in frames {
            let fd: Int32 = frame.knownKind == .stderr ? 2 : 1
            writeAll(fd, frame.payload)
            let app = Int(frame.session)
            if app < logFDs.count, logFDs[app] >= 0 { writeAll(logFDs[app], frame.payload) }
        }
    }

    /// The guest's agent: `R`, then sessions' output and ends, passed to their clients.
    private mutating func handleAgent(_ frames: [AgentFrame]) {
        for frame in frames {
            switch frame.knownKind {
            case .ready:
                guestReady = true
                debug("guest agent ready after \(milliseconds(since: begin)) ms")
                // rkt's marker that the pod's supervisor is up (section 12 of the protocol).
                unlink(files.supervisorStatusPath)
                symlink("ready", files.supervisorStatusPath)
            case .stdout, .stderr, .exit, .failed:
                guard let index = clients.firstIndex(where: { $0.session == frame.session }) else { continue }
                let connection = clients[index].connection
                connection.send(frame)
                if frame.knownKind == .exit || frame.knownKind == .failed { connection.closeWhenFlushed = true }
            default:
                debug("unexpected frame \(frame.kind) from the guest agent")
            }
        }
    }

    /// An `enter` client: its first frame opens the session; stdin, window sizes and signals follow.
    private mutating func handleClient(_ number: Int, _ frames: [AgentFrame]) {
        for frame in frames {
            switch frame.knownKind {
            case .open where clients[number].session == 0:
                let session = nextSession
                nextSession += 1
                clients[number].session = session
                debug("enter session \(session) opened")
                agent?.send(AgentFrame(kind: frame.kind, session: session, payload: frame.payload))
            case .input, .windowSize, .signal:
                let session = clients[number].session
                guard session != 0 else { continue }
                agent?.send(AgentFrame(kind: frame.kind, session: session, payload: frame.payload))
            default:
                debug("unexpected frame \(frame.kind) from an enter client")
            }
        }
    }

    /// Returns whether it read something.
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
            if signal == SIGWINCH {
                let size = EnterCommand.windowSize()
                agent?.send(AgentFrame(.windowSize, session: Self.appSession, payload: Array("\(size.rows) \(size.columns)".utf8)))
                continue
            }
            return signal
        }
    }
}

/// Writes all of `bytes` to a blocking descriptor (stdout, stderr, a log file).
func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
        if w < 0 { if errno == EINTR { continue }; return }
        offset += w
    }
}

/// accept(2), the connection marked close-on-exec (Glibc's module does not export accept4).
func acceptClosingOnExec(_ listener: Int32) -> Int32 {
    let fd = accept(listener, nil, nil)
    if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return fd
}
