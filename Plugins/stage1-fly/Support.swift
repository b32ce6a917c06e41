import CFly
import Foundation
import Glibc
import Stage1Protocol

/// The plugin's identity, as `describe` reports it.
enum Fly {
    static let name = "stage1-fly"
    static let version = "0.1.0"
    /// What this stage1 implements. Not `multiple-apps`, `networks` (fly shares the host's network:
    /// only `net=host`), `private-users`, `isolators`, `ipc-modes`, `hostname`, `dns`, `hosts`,
    /// `metadata-service`.
    static let features: [Stage1Feature] = [.run, .enter, .stop, .gc, .volumes, .interactive]

    /// rkt's default environment, added when the app does not set these variables.
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// `<pod>/stage1-fly/`: what `run` leaves for `enter` and `gc` (the spec lets a plugin write
    /// under names starting with `stage1-`).
    static func stateDirectory(pod: String) -> String { pod + "/stage1-fly" }
    static func statePath(pod: String, app: String) -> String { stateDirectory(pod: pod) + "/" + app + ".json" }
}

/// What `run` records per app for `enter` and `gc`.
struct FlyAppState: Codable {
    /// The pod directory when `run` started (canonical); stage0 renames it later (`exited-garbage/`).
    var podPath: String
    /// The app's rootfs, canonical host path at `run` time.
    var rootfs: String
    /// Working directory inside the rootfs.
    var workingDirectory: String
    var uid: UInt32
    var gid: UInt32
    var supplementaryGIDs: [UInt32]
    /// Whether `run` bind-mounted the rootfs onto itself (then `gc` unmounts it too).
    var selfBound: Bool
}

nonisolated(unsafe) var debugEnabled = false

func debug(_ message: @autoclosure () -> String) {
    guard debugEnabled else { return }
    writeStderr("stage1-fly: " + message() + "\n")
}

func writeStderr(_ text: String) {
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

func errnoString(_ code: Int32) -> String { String(cString: strerror(code)) }

/// A `Stage1Error` for a failed system call.
func systemError(_ call: String, _ path: String, _ code: Int32 = errno, msg: String? = nil) -> Stage1Error {
    Stage1Error(
        code: .ioFailure, msg: msg ?? "\(call) \(path): \(errnoString(code))",
        details: "\(call)(\(path)) failed with errno \(code) (\(errnoString(code)))")
}

/// The canonical path (symlinks resolved) of an existing path.
func canonicalPath(_ path: String) throws(Stage1Error) -> String {
    guard let resolved = realpath(path, nil) else { throw systemError("realpath", path) }
    defer { free(resolved) }
    return String(cString: resolved)
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(Stage1Error) {
    if isDirectory(path) { return }
    var current = ""
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, mode) != 0 && errno != EEXIST { throw systemError("mkdir", current) }
    }
    guard isDirectory(path) else { throw systemError("mkdir", path, ENOTDIR) }
}

/// The whole file, read until EOF (Foundation trusts st_size, which is 0 for /proc files).
func readFile(_ path: String) -> Data? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    return Stage1IO.readToEnd(fd: fd)
}

/// `mount(2)` with a `Stage1Error` naming the call.
func mountOrThrow(_ source: String, _ target: String, _ type: String?, _ flags: Int, _ data: String? = nil, what: String)
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

/// The spec's files, in the formats of `PodFiles`, written without `fsync`: a fly pod does not
/// survive a reboot, and each fsync costs about a millisecond per file on a pod start.
enum FlyFiles {
    /// Atomic: a temporary file beside `path`, then `rename(2)` over it.
    static func write(_ data: Data, to path: String) throws(Stage1Error) {
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

    /// An empty marker file whose mtime is now (creating an empty file is atomic already).
    static func touch(_ path: String) throws(Stage1Error) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw systemError("open", path) }
        futimens(fd, nil)
        close(fd)
    }

    static func writePID(_ pid: pid_t, _ files: PodFiles) throws(Stage1Error) {
        try write(Data("\(pid)\n".utf8), to: files.pidPath)
    }

    static func writeStatus(_ status: AppExitStatus, app: String, _ files: PodFiles) throws(Stage1Error) {
        try write(Data("\(status.value)\n".utf8), to: files.statusPath(app: app))
    }

    /// `rkt/env/<app>`: `NAME=VALUE` lines; names without `=`, NUL or newline, values without NUL
    /// or newline.
    static func writeEnvironment(_ environment: [NameValue], app: String, _ files: PodFiles) throws(Stage1Error) {
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
func writeJSON<T: Encodable>(_ value: T, to path: String) throws(Stage1Error) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data: Data
    do { data = try encoder.encode(value) } catch {
        throw Stage1Error(code: .ioFailure, msg: "cannot encode \(path)", details: "\(error)")
    }
    try FlyFiles.write(data + Data("\n".utf8), to: path)
}

func readJSON<T: Decodable>(_ type: T.Type, from path: String) -> T? {
    guard let data = readFile(path) else { return nil }
    return try? JSONDecoder().decode(T.self, from: data)
}

/// C strings for the spawn helper, kept alive until `free()`.
struct CStringArray {
    var pointers: [UnsafeMutablePointer<CChar>?]
    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }
    func free() { for p in pointers { Glibc.free(p) } }
}

extension FlyAppState {
    /// `rootfs` for the pod directory's current canonical path.
    func rootfs(podPath current: String) -> String {
        rootfs.hasPrefix(podPath + "/") ? current + rootfs.dropFirst(podPath.count) : rootfs
    }
}
