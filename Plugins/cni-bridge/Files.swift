#if canImport(Glibc)
import Glibc
#endif

/// The few file operations the plugin needs, straight on Glibc (no Foundation file APIs: they
/// cost startup time and hide errno). Failures are PluginErrors with code 5 (I/O failure).
enum Files {
    static func ioError(_ step: String, _ path: String, errno code: Int32 = Glibc.errno) -> PluginError {
        PluginError(PluginError.ioFailure, "\(step) \(path): \(String(cString: strerror(code)))")
    }

    /// mkdir -p.
    static func createDirectories(_ path: String, mode: mode_t = 0o755) throws(PluginError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST { throw ioError("create directory", current) }
        }
    }

    /// The file's bytes, or nil if it does not exist.
    static func read(_ path: String) throws(PluginError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw ioError("open", path)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("read", path)
            }
            if n == 0 { return result }
            result += chunk[0..<n]
        }
    }

    /// Creates `path` with `contents`; false if it already exists (O_EXCL), which is how a
    /// reservation is claimed atomically.
    static func createExclusive(_ path: String, contents: String) throws(PluginError) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            if errno == EEXIST { return false }
            throw ioError("create", path)
        }
        defer { close(fd) }
        try writeAll(fd, contents, path)
        return true
    }

    static func write(_ path: String, contents: String) throws(PluginError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("create", path) }
        defer { close(fd) }
        try writeAll(fd, contents, path)
    }

    private static func writeAll(_ fd: Int32, _ contents: String, _ path: String) throws(PluginError) {
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", path)
            }
            offset += n
        }
    }

    /// Removes a file; a missing one is not an error.
    static func remove(_ path: String) throws(PluginError) {
        if unlink(path) != 0 && errno != ENOENT { throw ioError("remove", path) }
    }

    /// Names in a directory (no "." or ".."), or [] if it does not exist.
    static func list(_ path: String) throws(PluginError) -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT { return [] }
            throw ioError("list", path)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// An exclusive flock on `path` (created if needed), held until `release`.
    static func lock(_ path: String) throws(PluginError) -> Int32 {
        let fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("open lock", path) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            let code = errno
            close(fd)
            throw ioError("lock", path, errno: code)
        }
        return fd
    }
}
