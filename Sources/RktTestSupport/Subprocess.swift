#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What a child process of a test did.
public struct SubprocessResult: Sendable {
    public let pid: pid_t
    /// The exit status; 128 + the signal when a signal ended it.
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// The child outlived its time limit and its process group was killed.
    public let timedOut: Bool
    public var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs the child processes of tests so that no test can hang the run: every child gets a time
/// limit, lives in its own process group (killed whole when the limit passes), and its output is
/// read until it exits plus a short grace, not until EOF, because a daemon it left behind (a VM, a
/// server, a pod) may hold the pipes open for ever.
///
/// Uses posix_spawn (glibc's is clone(CLONE_VM|CLONE_VFORK) + exec), which is safe in the threaded
/// test process, and pipes opened close-on-exec so that no other test's child inherits them.
public enum Subprocess {
    /// Send `send` on stdin once stdout contains `waitFor` (after what the previous step matched).
    public struct Step: Sendable {
        public let waitFor: String
        public let send: String
        public init(waitFor: String, send: String) {
            self.waitFor = waitFor
            self.send = send
        }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// How long output is still read after the child exited (for its last buffered writes).
    static let drainGrace = 2.0

    /// Runs `argv` (argv[0] an absolute path). `environment` nil inherits this process's.
    /// `input` is written to stdin, which is then closed, unless `interaction` has steps: stdin then
    /// stays open until the child exits. Without either, stdin is /dev/null.
    public static func run(
        _ argv: [String], environment: [String: String]? = nil, input: Data? = nil, interaction: [Step] = [],
        timeout: Double = 300
    ) throws -> SubprocessResult {
        let child = try spawn(argv, environment: environment, pipeInput: input != nil || !interaction.isEmpty)
        return child.finish(input: input ?? Data(), interaction: interaction, timeout: timeout, argv: argv)
    }

    /// A running child with stdout and stderr redirected to `outputFile` (appended), stdin
    /// /dev/null, in its own process group.
    public static func start(_ argv: [String], environment: [String: String]? = nil, outputFile: String) throws -> Background {
        let fd = open(outputFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpawnError(description: "open \(outputFile): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let pid = try posixSpawn(argv, environment: environment, stdin: nil, stdout: fd, stderr: fd)
        return Background(pid: pid)
    }

    /// A child started by `start`.
    public final class Background: @unchecked Sendable {
        public let pid: pid_t
        private let lock = NSLock()
        private var status: Int32?

        init(pid: pid_t) { self.pid = pid }

        /// The exit status if it has ended (reaping it), else nil.
        public func poll() -> Int32? {
            lock.lock()
            defer { lock.unlock() }
            if let status { return status }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { status = decode(raw) }
            return status
        }

        public var isRunning: Bool { poll() == nil }

        /// Waits up to `timeout` seconds; the exit status, or nil if it is still running.
        public func wait(timeout: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                if let status = poll() { return status }
                if Date() >= deadline { return nil }
                usleep(20_000)
            }
        }

        /// SIGTERM to the child, then SIGKILL to its whole group if it has not ended in `grace`.
        public func stop(grace: Double = 10) {
            if poll() != nil { return }
            kill(pid, SIGTERM)
            if wait(timeout: grace) == nil { killpg(pid, SIGKILL) }
            _ = wait(timeout: 30)
        }

        public func signal(_ signal: Int32) { kill(pid, signal) }
    }

    // MARK: - Pipes and the poll loop

    struct Child {
        let pid: pid_t
        let stdinWrite: Int32?
        let stdoutRead: Int32
        let stderrRead: Int32

        func finish(input: Data, interaction: [Step], timeout: Double, argv: [String]) -> SubprocessResult {
            var out = [UInt8](), err = [UInt8]()
            var pendingInput = [UInt8](input)
            var steps = interaction[...]
            var matchedUpTo = 0
            var inFD = stdinWrite
            var outOpen = true, errOpen = true
            var exitStatus: Int32?
            var exitedAt: Date?
            var timedOut = false
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 65536)

            func closeInput() {
                if let fd = inFD { close(fd) }
                inFD = nil
            }
            if pendingInput.isEmpty && interaction.isEmpty { closeInput() }

            while true {
                if exitStatus == nil {
                    var raw: Int32 = 0
                    if waitpid(pid, &raw, WNOHANG) == pid {
                        exitStatus = decode(raw)
                        exitedAt = Date()
                        closeInput()
                    }
                }
                if !outOpen && !errOpen && exitStatus != nil { break }
                if let exitedAt, Date().timeIntervalSince(exitedAt) > drainGrace { break }
                if exitStatus == nil && Date() >= deadline {
                    timedOut = true
                    killpg(pid, SIGKILL)
                    kill(pid, SIGKILL)
                    var raw: Int32 = 0
                    for _ in 0..<500 where waitpid(pid, &raw, WNOHANG) != pid { usleep(20_000) }
                    exitStatus = decode(raw)
                    exitedAt = Date()
                    closeInput()
                }

                var fds: [pollfd] = []
                if outOpen { fds.append(pollfd(fd: stdoutRead, events: Int16(POLLIN), revents: 0)) }
                if errOpen { fds.append(pollfd(fd: stderrRead, events: Int16(POLLIN), revents: 0)) }
                if let fd = inFD, !pendingInput.isEmpty { fds.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
                if fds.isEmpty {
                    usleep(20_000)
                    continue
                }
                _ = Glibc.poll(&fds, nfds_t(fds.count), 50)
                for entry in fds where entry.revents != 0 {
                    if entry.fd == stdoutRead || entry.fd == stderrRead {
                        let n = read(entry.fd, &buffer, buffer.count)
                        if n > 0 {
                            if entry.fd == stdoutRead { out += buffer[0..<n] } else { err += buffer[0..<n] }
                        } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                            if entry.fd == stdoutRead { outOpen = false } else { errOpen = false }
                        }
                    } else if let fd = inFD, entry.fd == fd {
                        let n = pendingInput.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                        if n > 0 {
                            pendingInput.removeFirst(n)
                        } else if n < 0 && errno != EAGAIN && errno != EINTR {
                            pendingInput.removeAll()
                            closeInput()
                        }
                        if pendingInput.isEmpty && interaction.isEmpty { closeInput() }
                    }
                }
                // Interaction: the next step's text appeared on stdout since the last match.
                if let step = steps.first, out.count > matchedUpTo {
                    let seen = String(decoding: out[matchedUpTo...], as: UTF8.self)
                    if let range = seen.range(of: step.waitFor) {
                        matchedUpTo += seen[..<range.upperBound].utf8.count
                        pendingInput += Array(step.send.utf8)
                        steps = steps.dropFirst()
                    }
                }
            }
            closeInput()
            close(stdoutRead)
            close(stderrRead)
            var errText = String(decoding: err, as: UTF8.self)
            if timedOut {
                errText += "\n[test harness: \(argv.joined(separator: " ")) was killed after \(Int(timeout)) s]\n"
            }
            return SubprocessResult(pid: pid, status: exitStatus ?? -1, stdout: String(decoding: out, as: UTF8.self), stderr: errText,
                                    timedOut: timedOut)
        }
    }

    static func spawn(_ argv: [String], environment: [String: String]?, pipeInput: Bool) throws -> Child {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1], inPipe: [Int32] = [-1, -1]
        guard pipe2(&outPipe, O_CLOEXEC) == 0, pipe2(&errPipe, O_CLOEXEC) == 0 else {
            throw SpawnError(description: "pipe2: \(String(cString: strerror(errno)))")
        }
        if pipeInput { guard pipe2(&inPipe, O_CLOEXEC) == 0 else { throw SpawnError(description: "pipe2: \(String(cString: strerror(errno)))") } }
        let pid: pid_t
        do {
            pid = try posixSpawn(argv, environment: environment, stdin: pipeInput ? inPipe[0] : nil, stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            for fd in outPipe + errPipe + inPipe where fd >= 0 { close(fd) }
            throw error
        }
        close(outPipe[1])
        close(errPipe[1])
        if pipeInput {
            close(inPipe[0])
            _ = fcntl(inPipe[1], F_SETFL, fcntl(inPipe[1], F_GETFL) | O_NONBLOCK)
        }
        return Child(pid: pid, stdinWrite: pipeInput ? inPipe[1] : nil, stdoutRead: outPipe[0], stderrRead: errPipe[0])
    }

    /// posix_spawn with the given descriptors as 0, 1 and 2 (stdin nil: /dev/null), in a new process
    /// group, with default signal dispositions and an empty signal mask.
    static func posixSpawn(_ argv: [String], environment: [String: String]?, stdin: Int32?, stdout: Int32, stderr: Int32) throws -> pid_t {
        guard let path = argv.first else { throw SpawnError(description: "empty argv") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, &cArgs, &cEnv)
        guard rc == 0 else { throw SpawnError(description: "spawn \(path): \(String(cString: strerror(rc)))") }
        return pid
    }
}

/// glibc's pipe2, declared only under _GNU_SOURCE, which Swift's Glibc module does not define.
@_silgen_name("pipe2")
private func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// A wait status as a shell shows it: the exit code, or 128 + the signal.
func decode(_ raw: Int32) -> Int32 {
    let signal = raw & 0x7f
    return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
}

/// Files that tests exec, written by a child process (`cp`), never through a descriptor of the
/// test process: a write descriptor open in this process while another test spawns a child is
/// inherited by that child until it execs, and executing the file then fails with ETXTBSY.
public enum TestExecutable {
    /// Copies `source` to `destination` (mode kept) with cp(1).
    public static func copy(_ source: String, to destination: String) throws {
        let result = try Subprocess.run(["/bin/cp", source, destination], timeout: 60)
        guard result.status == 0 else { throw Subprocess.SpawnError(description: "cp \(source) \(destination): \(result.stderr)") }
    }

    /// Writes `contents` to `path` with mode 0755 (a script, usually).
    public static func write(_ contents: String, to path: String) throws {
        let result = try Subprocess.run(["/bin/sh", "-c", "cat > \"$0\" && chmod 0755 \"$0\"", path], input: Data(contents.utf8), timeout: 60)
        guard result.status == 0 else { throw Subprocess.SpawnError(description: "write \(path): \(result.stderr)") }
    }
}
