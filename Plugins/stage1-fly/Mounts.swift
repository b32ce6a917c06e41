import CFly
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

enum FlyMounts {
    /// Bind-mounts `source` on `target` (a host path inside the rootfs, already resolved and
    /// existing), through an `O_PATH` descriptor so a symlink swapped in cannot redirect it.
    static func bind(source: String, target: String, recursive: Bool, readOnly: Bool, what: String) throws(Stage1Error) {
        let fd = cfly_open_path(target, isDirectory(source) ? 1 : 0)
        guard fd >= 0 else { throw systemError("open", target, msg: "cannot mount \(what): \(target): \(errnoString(errno))") }
        defer { close(fd) }
        try mountOrThrow(source, "/proc/self/fd/\(fd)", nil, Int(MS_BIND) | (recursive ? Int(MS_REC) : 0), what: what)
        guard readOnly else { return }
        if recursive, cfly_make_readonly_recursive(target) == 0 { return }
        // Without mount_setattr (Linux < 5.12) only the top mount can be made read-only, as in rkt.
        try mountOrThrow(
            "none", target, nil, Int(MS_REMOUNT) | Int(MS_BIND) | Int(MS_RDONLY), what: "\(what) read-only")
    }

    /// Mounts a tmpfs on `target`.
    static func tmpfs(target: String, what: String) throws(Stage1Error) {
        let fd = cfly_open_path(target, 1)
        guard fd >= 0 else { throw systemError("open", target) }
        defer { close(fd) }
        try mountOrThrow("tmpfs", "/proc/self/fd/\(fd)", "tmpfs", Int(MS_NOSUID) | Int(MS_NODEV), "mode=1777", what: what)
    }

    /// Makes `path` and every mount below it a slave: host mounts still propagate in, nothing the
    /// pod mounts propagates back out to the host.
    static func makeRecursiveSlave(_ path: String) throws(Stage1Error) {
        try mountOrThrow("none", path, nil, Int(MS_REC) | Int(MS_SLAVE), what: "\(path) as rslave")
    }

    /// Lazily unmounts every mount strictly below the app rootfs `rootfs` (canonical), and the
    /// rootfs mount itself when `including` (`run` bind-mounted it onto itself). Mounts stage0 made
    /// (an overlay app rootfs, the stage1 rootfs) are left alone. Returns the failures.
    @discardableResult
    static func unmountApp(rootfs: String, including: Bool) -> [String] {
        let prefix = rootfs + "/"
        var failures: [String] = []
        for _ in 0..<3 {
            let targets = MountInfo.read().map(\.mountPoint).filter { $0.hasPrefix(prefix) || (including && $0 == rootfs) }
            if targets.isEmpty { return [] }
            failures = []
            // Deepest first; a path mounted several times appears as often and is unmounted as often.
            for target in targets.sorted(by: { $0.utf8.count > $1.utf8.count }) {
                if umount2(target, Int32(MNT_DETACH)) != 0 {
                    let code = errno
                    if code != EINVAL && code != ENOENT { failures.append("\(target): \(errnoString(code))") }
                } else {
                    debug("unmounted \(target)")
                }
            }
        }
        return failures
    }
}
