import Foundation
import Glibc
import Stage1Protocol

/// Paths inside an app's rootfs, resolved as the app will see them after `chroot`: symbolic links
/// are followed relative to the rootfs (an absolute link restarts at the rootfs, `..` stops at it),
/// so a hostile image cannot make us create or mount anything outside it.
public enum RootPath {
    public enum Create {
        /// Fail with ENOENT on a missing component.
        case none
        /// Create missing directories, the last one included.
        case directory
        /// Create missing directories, and the last component as an empty regular file.
        case file
    }

    /// The host path of `path` inside `root` (canonical, without trailing `/`).
    public static func resolve(root: String, path: String, create: Create = .none) throws(Stage1Error) -> String {
        var pending = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var resolved: [String] = []
        var links = 0
        func hostPath(_ components: [String]) -> String {
            components.isEmpty ? root : root + "/" + components.joined(separator: "/")
        }
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." { continue }
            if component == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = hostPath(resolved + [component])
            var st = stat()
            if lstat(candidate, &st) != 0 {
                let code = errno
                guard code == ENOENT, create != .none else {
                    throw systemError("lstat", candidate, code, msg: "\(path) in \(root): \(errnoString(code))")
                }
                if pending.isEmpty && create == .file {
                    let fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
                    guard fd >= 0 || errno == EEXIST else { throw systemError("create", candidate) }
                    if fd >= 0 { close(fd) }
                } else if mkdir(candidate, 0o755) != 0 && errno != EEXIST {
                    throw systemError("mkdir", candidate)
                }
                pending.insert(component, at: 0)  // look at it again: it must now be what we made
                continue
            }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                links += 1
                guard links <= 40 else { throw systemError("resolve", candidate, ELOOP, msg: "\(path) in \(root): too many symbolic links") }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(candidate, &buffer, buffer.count - 1)
                guard n >= 0 else { throw systemError("readlink", candidate) }
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") { resolved = [] }
                pending = target.split(separator: "/", omittingEmptySubsequences: true).map(String.init) + pending
                continue
            }
            if !pending.isEmpty && (st.st_mode & S_IFMT) != S_IFDIR {
                throw systemError("resolve", candidate, ENOTDIR, msg: "\(path) in \(root): \(candidate) is not a directory")
            }
            resolved.append(component)
        }
        return hostPath(resolved)
    }
}

/// One line of /proc/self/mountinfo.
public struct MountInfo {
    public var id: Int
    public var parent: Int
    public var mountPoint: String

    public static func read() -> [MountInfo] {
        guard let data = readFile("/proc/self/mountinfo") else { return [] }
        return parse(Array(data))
    }

    /// The lines of a mountinfo file. Split on bytes: the text is ASCII apart from escaped
    /// paths, and grapheme-aware String splitting cost milliseconds for a hundred mounts.
    public static func parse(_ bytes: [UInt8]) -> [MountInfo] {
        var out: [MountInfo] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: false)
            guard fields.count > 4, let id = Int(String(decoding: fields[0], as: UTF8.self)),
                  let parent = Int(String(decoding: fields[1], as: UTF8.self)) else { continue }
            out.append(MountInfo(id: id, parent: parent, mountPoint: unescape(Substring(String(decoding: fields[4], as: UTF8.self)))))
        }
        return out
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo`.
    public static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
               utf8[(i + 1)...(i + 3)].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }),
               let value = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func isMountPoint(_ path: String) -> Bool { read().contains { $0.mountPoint == path } }
}

