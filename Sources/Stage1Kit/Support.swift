import Foundation
import Glibc
import Stage1Protocol

/// Settings shared by the plugins built on this kit.
public enum Stage1Kit {
    /// Prefix of warnings and debug lines (`stage1-fly`, `stage1-nspawn`).
    public nonisolated(unsafe) static var pluginName = "stage1"
}

public nonisolated(unsafe) var debugEnabled = false

public func debug(_ message: @autoclosure () -> String) {
    guard debugEnabled else { return }
    writeStderr(Stage1Kit.pluginName + ": " + message() + "\n")
}

public func writeStderr(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += n
    }
}

public func errnoString(_ code: Int32) -> String { String(cString: strerror(code)) }

/// A `Stage1Error` for a failed system call.
public func systemError(_ call: String, _ path: String, _ code: Int32 = errno, msg: String? = nil) -> Stage1Error {
    Stage1Error(
        code: .ioFailure, msg: msg ?? "\(call) \(path): \(errnoString(code))",
        details: "\(call)(\(path)) failed with errno \(code) (\(errnoString(code)))")
}

/// The canonical path (symlinks resolved) of an existing path.
public func canonicalPath(_ path: String) throws(Stage1Error) -> String {
    // The kernel's name for an O_PATH descriptor: two system calls where realpath(3) makes one
    // readlink per component (about forty for a pod's paths). realpath is the fallback (no /proc).
    let oPath: Int32 = 0o10000000  // O_PATH, which Glibc's module map leaves out (_GNU_SOURCE)
    let fd = open(path, oPath | O_CLOEXEC)
    if fd >= 0 {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/fd/\(fd)", &buffer, Int(PATH_MAX))
        if count > 0 && buffer[0] == UInt8(ascii: "/") {
            let name = String(decoding: buffer[0..<count], as: UTF8.self)
            if !name.hasSuffix(" (deleted)") { return name }
        }
    }
    guard let resolved = realpath(path, nil) else { throw systemError("realpath", path) }
    defer { free(resolved) }
    return String(cString: resolved)
}

public func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(Stage1Error) {
    if isDirectory(path) { return }
    var current = ""
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, mode) != 0 && errno != EEXIST { throw systemError("mkdir", current) }
    }
    guard isDirectory(path) else { throw systemError("mkdir", path, ENOTDIR) }
}

/// The whole file, read until EOF (Foundation trusts st_size, which is 0 for /proc files).
public func readFile(_ path: String) -> Data? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return Stage1IO.readToEnd(fd: fd)
}

/// `mount(2)` with a `Stage1Error` naming the call.
public func mountOrThrow(_ source: String, _ target: String, _ type: String?, _ flags: Int, _ data: String? = nil, what: String)
    throws(Stage1Error)
{
    let r: Int32
    if let type {
        r = data == nil
            ? mount(source, target, type, UInt(flags), nil)
            : mount(source, target, type, UInt(flags), data!)
    } else {
        r = mount(source, target, nil, UInt(flags), nil)
    }
    if r != 0 {
        let code = errno
        throw Stage1Error(
            code: .ioFailure, msg: "cannot mount \(what): \(errnoString(code))",
            details: "mount(\(source), \(target), \(type ?? "-"), 0x\(String(flags, radix: 16))) failed with errno \(code)")
    }
}

/// The spec's files, in the formats of `PodFiles`, written without `fsync`: a running pod does
/// not survive a reboot, and each fsync costs about a millisecond per file on a pod start.
public enum Stage1Files {
    /// `data` at `path` (as `write`), or no file there when `data` is nil: for optional plan files
    /// that must not survive from an earlier run of the same pod.
    public static func write(_ data: Data?, orRemove path: String) throws(Stage1Error) {
        if let data { try write(data, to: path) } else { unlink(path) }
    }

    /// Atomic: a temporary file beside `path`, then `rename(2)` over it.
    public static func write(_ data: Data, to path: String) throws(Stage1Error) {
        let slash = path.lastIndex(of: "/")!
        let temporary = "\(path[..<slash])/.\(path[path.index(after: slash)...]).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw systemError("open", temporary) }
        var failure: Stage1Error?
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = systemError("write", temporary)
                    return
                }
                offset += n
            }
        }
        if close(fd) != 0, failure == nil { failure = systemError("close", temporary) }
        if failure == nil, rename(temporary, path) != 0 { failure = systemError("rename", path) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    /// Writes `text` into an existing file in one write(2), without replacing it: for kernel
    /// files (cgroup knobs, /proc settings), where a rename would be meaningless.
    public static func writeInPlace(_ text: String, to path: String) throws(Stage1Error) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
        guard n == bytes.count else { throw systemError("write", path, n < 0 ? errno : EIO, msg: "cannot write \"\(text)\" to \(path): \(errnoString(n < 0 ? errno : EIO))") }
    }

    /// An empty marker file whose mtime is now (creating an empty file is atomic already).
    public static func touch(_ path: String) throws(Stage1Error) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw systemError("open", path) }
        futimens(fd, nil)
        close(fd)
    }

    public static func writePID(_ pid: pid_t, _ files: PodFiles) throws(Stage1Error) {
        try write(Data("\(pid)\n".utf8), to: files.pidPath)
    }

    public static func writeStatus(_ status: AppExitStatus, app: String, _ files: PodFiles) throws(Stage1Error) {
        try write(Data("\(status.value)\n".utf8), to: files.statusPath(app: app))
    }

    /// `rkt/env/<app>`: `NAME=VALUE` lines; names without `=`, NUL or newline, values without NUL
    /// or newline.
    public static func writeEnvironment(_ environment: [NameValue], app: String, _ files: PodFiles) throws(Stage1Error) {
        var text = ""
        for variable in environment {
            let badName = variable.name.isEmpty || variable.name.unicodeScalars.contains { $0 == "=" || $0 == "\n" || $0 == "\0" }
            let badValue = variable.value.unicodeScalars.contains { $0 == "\n" || $0 == "\0" }
            if badName || badValue {
                throw Stage1Error(
                    code: .invalidRequest,
                    msg: "environment variable \"\(variable.name)\" of app \(app) cannot be passed",
                    details: badName ? "the name is empty or contains =, NUL or a newline" : "the value contains NUL or a newline")
            }
            text += variable.name + "=" + variable.value + "\n"
        }
        try write(Data(text.utf8), to: files.envPath(app: app))
    }
}

/// Atomically writes a Codable value as JSON.
public func writeJSON<T: Encodable>(_ value: T, to path: String) throws(Stage1Error) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data: Data
    do { data = try encoder.encode(value) } catch {
        throw Stage1Error(code: .ioFailure, msg: "cannot encode \(path)", details: "\(error)")
    }
    try Stage1Files.write(data + Data("\n".utf8), to: path)
}

public func readJSON<T: Decodable>(_ type: T.Type, from path: String) -> T? {
    guard let data = readFile(path) else { return nil }
    return try? JSONDecoder().decode(T.self, from: data)
}

/// C strings for the spawn helper, kept alive until `free()`.
public struct CStringArray {
    public var pointers: [UnsafeMutablePointer<CChar>?]
    public init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }
    public func free() { for p in pointers { Glibc.free(p) } }
}


/// The pod lock stage0 passed down.
public enum PodLock {
    /// The pod lock: kept open in this process for the pod's life, but close-on-exec so the app
    /// does not inherit it.
    public static func keep(_ run: RunPayload) throws(Stage1Error) -> Int32? {
        let text = getenv(Stage1Protocol.lockFDEnvironmentVariable).map { String(cString: $0) }
        let fd: Int32?
        if let text, !text.isEmpty {
            guard let value = Int32(text), value >= 0 else {
                throw Stage1Error(code: .invalidRequest, msg: "\(Stage1Protocol.lockFDEnvironmentVariable)=\(text) is not a file descriptor")
            }
            fd = value
        } else {
            fd = run.lockFD
        }
        guard let fd else {
            debug("no pod lock descriptor")
            return nil
        }
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0 else {
            throw Stage1Error(code: .invalidRequest, msg: "the pod lock descriptor \(fd) is not open", details: errnoString(errno))
        }
        guard fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0 else { throw systemError("fcntl", "lock fd \(fd)") }
        return fd
    }

}

/// `empty` volumes live in the pod directory, shared by the apps that mount them.
public enum EmptyVolume {
    /// `<pod>/sharedVolumes/<name>`, with the volume's mode (default 0755), uid and gid (default 0).
    public static func create(_ volume: Volume, podPath: String) throws(Stage1Error) -> String {
        let shared = podPath + "/sharedVolumes"
        try makeDirectories(shared)
        let path = shared + "/" + volume.name
        guard !volume.name.isEmpty, !volume.name.contains("/"), volume.name != ".", volume.name != ".." else {
            throw Stage1Error(code: .invalidRequest, msg: "\"\(volume.name)\" is not a valid volume name")
        }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw systemError("mkdir", path) }
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw systemError("mkdir", path, ENOTDIR) }
        let modeText = volume.mode ?? "0755"
        guard let mode = mode_t(modeText, radix: 8), mode <= 0o7777 else {
            throw Stage1Error(code: .invalidRequest, msg: "empty volume \(volume.name) has an invalid mode \"\(modeText)\"")
        }
        guard chown(path, uid_t(volume.uid ?? 0), gid_t(volume.gid ?? 0)) == 0 else { throw systemError("chown", path) }
        guard chmod(path, mode) == 0 else { throw systemError("chmod", path) }
        return path
    }

}
