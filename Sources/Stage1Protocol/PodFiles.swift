import Foundation

/// How an app ended, as written to its status file.
public enum AppExitStatus: Sendable, Equatable {
    /// The app exited with this code (0–255).
    case exited(Int32)
    /// The app was killed by this signal; the status file says 128 + signal.
    case signaled(Int32)

    /// The decimal value of the status file.
    public var value: Int32 {
        switch self {
        case .exited(let code): code & 0xff
        case .signaled(let signal): 128 + signal
        }
    }

    /// From a raw `waitpid` status word.
    public init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        if signal == 0 {
            self = .exited((waitStatus >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }
}

/// The files a plugin writes in the pod directory and the stage1 rootfs, at the paths rkt uses.
/// Every write is atomic: a temporary file in the same directory, `fsync`, then `rename(2)`.
public struct PodFiles: Sendable, Equatable {
    /// The pod directory.
    public var podPath: String
    /// The stage1 rootfs (`<podPath>/stage1/rootfs` in the standard layout).
    public var stage1Rootfs: String

    public init(podPath: String, stage1Rootfs: String? = nil) {
        self.podPath = podPath
        self.stage1Rootfs = stage1Rootfs ?? podPath + "/stage1/rootfs"
    }

    public init(pod: PodInfo) { self.init(podPath: pod.path, stage1Rootfs: pod.stage1Rootfs) }

    public enum PIDKind: String, Sendable {
        /// `pid`: the pod's top process, the one `enter` joins.
        case pid
        /// `ppid`: a process with exactly one child, which is the one `enter` joins.
        case ppid
    }

    // MARK: Paths

    public var pidPath: String { podPath + "/pid" }
    public var ppidPath: String { podPath + "/ppid" }
    public var subcgroupPath: String { podPath + "/subcgroup" }
    public var statusDirectory: String { stage1Rootfs + "/rkt/status" }
    public var envDirectory: String { stage1Rootfs + "/rkt/env" }
    public var supervisorStatusPath: String { stage1Rootfs + "/rkt/supervisor-status" }
    /// `logs/<app>.log` in the pod directory: the app's stdout and stderr, appended as written
    /// (optional: plugins that keep logs write it, `rkt logs` reads it).
    public var logDirectory: String { podPath + "/logs" }
    public func logPath(app: String) -> String { logDirectory + "/" + app + ".log" }
    public func statusPath(app: String) -> String { statusDirectory + "/" + app }
    public func createdPath(app: String) -> String { statusDirectory + "/" + app + "-created" }
    public func startedPath(app: String) -> String { statusDirectory + "/" + app + "-started" }
    public func envPath(app: String) -> String { envDirectory + "/" + app }

    // MARK: Writing

    /// Writes `pid` (or `ppid`): the decimal pid and a newline. Its mtime is the pod's start time.
    public func writePID(_ pid: Int32, kind: PIDKind = .pid) throws(Stage1Error) {
        guard pid > 0 else { throw Stage1Error(code: .invalidRequest, msg: "pid \(pid) is not a process id") }
        try Self.atomicWrite(Data("\(pid)\n".utf8), to: kind == .pid ? pidPath : ppidPath)
    }

    /// Writes `subcgroup` (the pod's cgroup below the one stage0 ran in); write it before `pid`.
    public func writeSubcgroup(_ name: String) throws(Stage1Error) {
        guard !name.isEmpty, !name.contains("\n"), !name.contains("\0") else {
            throw Stage1Error(code: .invalidRequest, msg: "subcgroup \"\(name)\" is empty or contains a newline or NUL")
        }
        try Self.atomicWrite(Data((name + "\n").utf8), to: subcgroupPath)
    }

    /// Writes `rkt/status/<app>`: the decimal exit status (128 + signal for a killed app) and a newline.
    public func writeStatus(app: String, status: AppExitStatus) throws(Stage1Error) {
        try Self.checkAppName(app)
        try Self.makeDirectory(statusDirectory)
        try Self.atomicWrite(Data("\(status.value)\n".utf8), to: statusPath(app: app))
    }

    /// Writes `rkt/status/<app>` from a raw `waitpid` status word.
    public func writeStatus(app: String, waitStatus: Int32) throws(Stage1Error) {
        try writeStatus(app: app, status: AppExitStatus(waitStatus: waitStatus))
    }

    /// Creates `rkt/status/<app>-created` (empty; its mtime is when the app was set up).
    public func markCreated(app: String) throws(Stage1Error) {
        try Self.checkAppName(app)
        try Self.makeDirectory(statusDirectory)
        try Self.atomicWrite(Data(), to: createdPath(app: app))
    }

    /// Creates `rkt/status/<app>-started` (empty; its mtime is when the app's process started).
    public func markStarted(app: String) throws(Stage1Error) {
        try Self.checkAppName(app)
        try Self.makeDirectory(statusDirectory)
        try Self.atomicWrite(Data(), to: startedPath(app: app))
    }

    /// Writes `rkt/env/<app>`: one `NAME=VALUE` line per variable, in order, each ending in a newline.
    /// Names must be non-empty without `=`, NUL or newline; values without NUL or newline.
    public func writeEnvironment(app: String, _ environment: [NameValue]) throws(Stage1Error) {
        try Self.checkAppName(app)
        var text = ""
        for variable in environment {
            let badName = variable.name.isEmpty || variable.name.contains { $0 == "=" || $0 == "\n" || $0 == "\0" || $0 == "\r\n" }
            let badValue = variable.value.contains { $0 == "\n" || $0 == "\0" || $0 == "\r\n" }
            if badName || badValue {
                throw Stage1Error(
                    code: .invalidRequest,
                    msg: "environment variable \"\(variable.name)\" of app \(app) cannot be written to an env file",
                    details: badName ? "the name is empty or contains =, NUL or a newline" : "the value contains NUL or a newline")
            }
            text += variable.name + "=" + variable.value + "\n"
        }
        try Self.makeDirectory(envDirectory)
        try Self.atomicWrite(Data(text.utf8), to: envPath(app: app))
    }

    /// Points `rkt/supervisor-status` at `ready` (an atomically replaced symlink).
    public func markSupervisorReady() throws(Stage1Error) {
        let directory = stage1Rootfs + "/rkt"
        try Self.makeDirectory(directory)
        let temporary = Self.temporaryPath(for: supervisorStatusPath)
        guard symlink("ready", temporary) == 0 else { throw Self.systemError("symlink", temporary) }
        guard rename(temporary, supervisorStatusPath) == 0 else {
            let error = Self.systemError("rename", supervisorStatusPath)
            unlink(temporary)
            throw error
        }
    }

    // MARK: Reading (stage0 side and tests)

    /// The pid from `pid`, else from `ppid`, with which file it came from; nil if neither holds one.
    public func readPID() -> (pid: Int32, kind: PIDKind)? {
        for kind in [PIDKind.pid, .ppid] {
            if let value = Self.readInteger(kind == .pid ? pidPath : ppidPath), value > 0 { return (value, kind) }
        }
        return nil
    }

    /// The exit status in `rkt/status/<app>`, or nil if the app has not ended (or the file is bad).
    public func readStatus(app: String) -> Int32? { Self.readInteger(statusPath(app: app)) }

    private static func readInteger(_ path: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return Int32(String(decoding: data, as: UTF8.self).trimmingWhitespace())
    }

    // MARK: Atomic writes

    /// Writes `data` to `path` atomically: `.<name>.tmp-<pid>-<random>` beside it (mode `mode`),
    /// `fsync`, `rename(2)` over `path`. Readers see the old file or the whole new one.
    public static func atomicWrite(_ data: Data, to path: String, mode: mode_t = 0o644) throws(Stage1Error) {
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw systemError("open", temporary) }
        var failure: Stage1Error?
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = systemError("write", temporary)
                    return
                }
                offset += n
            }
        }
        if failure == nil, fchmod(fd, mode) != 0 { failure = systemError("fchmod", temporary) }
        if failure == nil, fsync(fd) != 0 { failure = systemError("fsync", temporary) }
        if close(fd) != 0, failure == nil { failure = systemError("close", temporary) }
        if failure == nil, rename(temporary, path) != 0 { failure = systemError("rename", path) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    static func makeDirectory(_ path: String) throws(Stage1Error) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw Stage1Error(code: .ioFailure, msg: "cannot create directory \(path)", details: error.localizedDescription)
        }
    }

    static func checkAppName(_ app: String) throws(Stage1Error) {
        guard !app.isEmpty, app != ".", app != "..", !app.contains("/"), !app.contains("\0") else {
            throw Stage1Error(code: .invalidRequest, msg: "\"\(app)\" is not a valid app name")
        }
    }

    static func systemError(_ call: String, _ path: String) -> Stage1Error {
        let code = errno
        return Stage1Error(code: .ioFailure, msg: "\(call) \(path): \(String(cString: strerror(code)))", details: "errno \(code)")
    }
}
