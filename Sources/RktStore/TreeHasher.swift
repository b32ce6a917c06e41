#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS

/// The hash of a rendered tree: one digest over every entry in sorted order, covering its path,
/// type, mode, owner, device number, symlink target, extended attributes and file contents.
/// Modification times are left out: they change when a tree is copied, the content does not.
/// SHA-256 rather than rkt's SHA-512: it only guards integrity, and with SHA-NI it is 2.5x faster,
/// which matters because every fetch hashes its whole rendered tree.
public enum TreeHasher {
    public static func hash(root: String) throws(SystemError) -> String {
        var hasher = StreamingDigest(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        try walk(root: root, relative: "", hasher: &hasher, buffer: &buffer)
        return "sha256-" + hasher.finalizeHex()
    }

    private static func walk(root: String, relative: String, hasher: inout StreamingDigest, buffer: inout [UInt8]) throws(SystemError) {
        let path = root + relative
        let st = try FileSystem.lstatInfo(path)
        let type = st.st_mode & S_IFMT
        var header = "\(relative.isEmpty ? "/" : relative)\0\(type)\0\(st.st_mode & 0o7777)\0\(st.st_uid)\0\(st.st_gid)\0"
        switch type {
        case S_IFREG: header += "\(st.st_size)\0"
        case S_IFLNK: header += (try readLink(path)) + "\0"
        case S_IFCHR, S_IFBLK: header += "\(st.st_rdev)\0"
        default: break
        }
        for (name, value) in FileSystem.extendedAttributes(path) { header += "x:\(name)=\(value.base64EncodedString())\0" }
        hasher.update(Data(header.utf8))

        if type == S_IFREG {
            let fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
            defer { close(fd) }
            while true {
                let n = try sysCall("read", path: path) { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
                if n == 0 { break }
                buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        } else if type == S_IFDIR {
            for name in try FileSystem.list(path).sorted() {
                try walk(root: root, relative: relative + "/" + name, hasher: &hasher, buffer: &buffer)
            }
        }
    }

    static func readLink(_ path: String) throws(SystemError) -> String {
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try sysCall("readlink", path: path) { readlink(path, &target, target.count - 1) }
        return String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
