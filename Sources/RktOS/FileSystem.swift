#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CRktShim
import SystemPackage
import Foundation

/// File-system helpers with errno-carrying errors. Paths are plain strings; nothing here follows
/// a symlink where following one could leave the directory being worked on.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    public static func lstatInfo(_ path: String) throws(SystemError) -> stat {
        var st = stat()
        try sysCall("lstat", path: path) { lstat(path, &st) }
        return st
    }

    public static func statInfo(_ path: String) throws(SystemError) -> stat {
        var st = stat()
        try sysCall("stat", path: path) { stat(path, &st) }
        return st
    }

    /// mkdir -p with `mode` for the directories it creates; existing ones are left as they are.
    /// mkdir comes first and the parent only on ENOENT: a pod start makes about twenty
    /// directories whose parents mostly exist, and every stat saved counts there.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemError) {
        var madeParent = false
        while mkdir(path, mode) != 0 {
            let err = Errno.last
            if err == .fileExists && isDirectory(path) { return }
            let parent = parentDirectory(of: path)
            guard err == .noSuchFileOrDirectory, !madeParent, !parent.isEmpty, parent != path else {
                throw SystemError("mkdir", path: path, errno: err)
            }
            try makeDirectories(parent, mode: mode)
            madeParent = true
        }
        // mkdir applies the umask and a set-group-ID parent passes its bit on; the store's and the
        // pods' modes are part of their format.
        try sysCall("chmod", path: path) { chmod(path, mode) }
    }

    /// The lexical parent: "/a/b" → "/a", "/a" → "/", "a" → "" (nothing to create).
    public static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Lists a directory's entries (no "." or ".."), unsorted.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Lists a directory that may not exist yet (then: empty).
    public static func listIfPresent(_ path: String) throws(SystemError) -> [String] {
        do { return try list(path) } catch where error.errno == .noSuchFileOrDirectory { return [] }
    }

    /// rm -rf that never follows symlinks, makes read-only directories writable to empty them,
    /// and treats a missing path as already removed.
    public static func removeTree(_ path: String) throws(SystemError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            if Errno.last == .noSuchFileOrDirectory { return }
            throw SystemError("lstat", path: path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if (st.st_mode & 0o700) != 0o700 { chmod(path, st.st_mode | 0o700) }
            for name in try list(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && Errno.last != .noSuchFileOrDirectory { throw SystemError("rmdir", path: path) }
        } else if unlink(path) != 0 && Errno.last != .noSuchFileOrDirectory {
            throw SystemError("unlink", path: path)
        }
    }

    public static func rename(_ from: String, to: String) throws(SystemError) {
        try sysCall("rename", path: from) { Glibc.rename(from, to) }
    }

    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    /// Reads a whole (small) file.
    public static func read(_ path: String) throws(SystemError) -> Data {
        let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try sysCall("read", path: path) { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }

    /// Writes `data` to a temporary file beside `path`, fsyncs it and renames it over `path`,
    /// so readers see the old content or the new, never a torn file.
    public static func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o644, sync: Bool = true) throws(SystemError) {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/.tmp-" + (path as NSString).lastPathComponent + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let fd = try sysCall("open", path: tmp) { open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        do throws(SystemError) {
            try writeAll(fd: fd, data, path: tmp)
            try sysCall("fchmod", path: tmp) { fchmod(fd, mode) }
            if sync { try sysCall("fsync", path: tmp) { fsync(fd) } }
            close(fd)
            try rename(tmp, to: path)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
    }

    /// Creates `path` (which must not exist) with `data`, without the temporary file and rename
    /// of `writeAtomically`: for files in a directory nobody reads yet, such as a pod still in
    /// `prepare/` (a pod left half-written there is garbage `rkt gc` removes).
    public static func writeNew(_ data: Data, to path: String, mode: mode_t = 0o644) throws(SystemError) {
        let fd = try sysCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        defer { close(fd) }
        try writeAll(fd: fd, data, path: path)
        try sysCall("fchmod", path: path) { fchmod(fd, mode) }
    }

    public static func writeAll(fd: Int32, _ data: Data, path: String? = nil) throws(SystemError) {
        let failure: SystemError? = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if n < 0 {
                    if Errno.last == .interrupted { continue }
                    return SystemError("write", path: path)
                }
                offset += n
            }
            return nil
        }
        if let failure { throw failure }
    }

    /// copy_file_range(2): the kernel copies (or reflinks) without a trip through user space.
    public static func copyFileRange(from input: Int32, to output: Int32, count: Int, path: String? = nil) throws(SystemError) -> Int {
        try sysCall("copy_file_range", path: path) { rkt_copy_file_range(input, output, count) }
    }

    /// Starts writing a range of a file to disk without waiting (best effort). Called while a
    /// large file is still being written, it lets the final fsync find most of it already on disk.
    public static func startWriteback(fd: Int32, offset: Int64, length: Int64) {
        _ = rkt_start_writeback(fd, offset, length)
    }

    /// A file's extended attributes (not following a symlink), sorted by name; empty when the
    /// file system has none or refuses to list them.
    public static func extendedAttributes(_ path: String) -> [(String, Data)] {
        let size = rkt_llistxattr(path, nil, 0)
        guard size > 0 else { return [] }
        var names = [CChar](repeating: 0, count: size)
        let got = rkt_llistxattr(path, &names, size)
        guard got > 0 else { return [] }
        var result: [(String, Data)] = []
        for raw in names[0..<got].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let valueSize = rkt_lgetxattr(path, name, nil, 0)
            guard valueSize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: max(valueSize, 1))
            let read = rkt_lgetxattr(path, name, &value, valueSize)
            guard read >= 0 else { continue }
            result.append((name, Data(value[0..<read])))
        }
        return result.sorted { $0.0 < $1.0 }
    }

    /// Bytes used on disk by a tree (st_blocks), not following symlinks; hard links counted once.
    public static func diskUsage(_ path: String) -> Int64 {
        var seen = Set<UInt64>()
        func walk(_ p: String) -> Int64 {
            var st = stat()
            guard lstat(p, &st) == 0 else { return 0 }
            if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
                if !seen.insert(UInt64(st.st_ino)).inserted { return 0 }
            }
            var total = Int64(st.st_blocks) * 512
            if (st.st_mode & S_IFMT) == S_IFDIR, let names = try? list(p) {
                for n in names { total += walk(p + "/" + n) }
            }
            return total
        }
        return walk(path)
    }
}
