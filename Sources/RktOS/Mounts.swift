#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SystemPackage

/// Reading and undoing mounts, for cleaning up pods.
public enum Mounts {
    /// Mount points at or below `path`, from /proc/self/mountinfo, deepest first.
    public static func mountPoints(under path: String) -> [String] {
        guard let data = try? FileSystem.read("/proc/self/mountinfo") else { return [] }
        let prefix = path.hasSuffix("/") ? path : path + "/"
        var points: [String] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count > 4 else { continue }
            let point = unescape(String(fields[4]))
            if point == path || point.hasPrefix(prefix) { points.append(point) }
        }
        // Deepest first, and later mounts on the same point before earlier ones.
        return points.enumerated().sorted { a, b in
            let da = a.element.split(separator: "/").count, db = b.element.split(separator: "/").count
            return da != db ? da > db : a.offset > b.offset
        }.map(\.element)
    }

    /// Lazily unmounts everything at or below `path`. Returns the mount points it could not unmount.
    @discardableResult
    public static func unmountAll(under path: String) -> [String] {
        var failed: [String] = []
        for point in mountPoints(under: path) where umount2(point, Int32(MNT_DETACH)) != 0 {
            let err = Errno.last
            if err != .invalidArgument && err != .noSuchFileOrDirectory { failed.append(point) }
        }
        return failed
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var out: [UInt8] = []
        let bytes = Array(field.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let value = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(value)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Mounts {
    /// Mounts an overlay of `lower` (read-only) with `upper`/`work` onto `target`. Paths are
    /// escaped for overlayfs's option parser, so `:` and `,` in them are fine.
    public static func mountOverlay(lower: String, upper: String, work: String, target: String) throws(SystemError) {
        func escape(_ path: String) -> String {
            path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ",", with: "\\,").replacingOccurrences(of: ":", with: "\\:")
        }
        let options = "lowerdir=\(escape(lower)),upperdir=\(escape(upper)),workdir=\(escape(work))"
        try sysCall("mount overlay", path: target) { mount("overlay", target, "overlay", 0, options) }
    }
}
