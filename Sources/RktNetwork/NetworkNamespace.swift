#if canImport(Glibc)
import Glibc
#endif
import CRktShim
import RktOS
import SystemPackage

/// A pod's network namespace, kept alive by a bind mount at `/var/run/netns/rkt-<uuid>` (where
/// `ip netns` finds it too), so it outlives rkt's exec into stage1 and can be torn down by gc.
public enum NetworkNamespace {
    public static let directory = "/var/run/netns"

    public static func path(forPod uuid: String, directory: String = directory) -> String {
        directory + "/rkt-" + uuid
    }

    /// Creates the namespace with `lo` up and binds it at `path` (which must not exist yet).
    public static func create(at path: String) throws(NetworkError) {
        let step = "creating network namespace \(path)"
        let dir = FileSystem.parentDirectory(of: path)
        try prepareDirectory(dir)
        let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        if fd < 0 { throw .system(step, SystemError("create", path: path)) }
        close(fd)
        var failedStep: Int32 = 0
        if rkt_netns_create(path, &failedStep) != 0 {
            let err = Errno.last
            unlink(path)
            let what = switch Int(failedStep) {
            case Int(RKT_NETNS_UNSHARE.rawValue): "unshare(CLONE_NEWNET)"
            case Int(RKT_NETNS_MOUNT.rawValue): "bind mount"
            case Int(RKT_NETNS_SOCKET.rawValue): "socket"
            case Int(RKT_NETNS_LOOPBACK.rawValue): "bringing up lo"
            default: "thread"
            }
            throw .system(step, SystemError(what, path: path, errno: err))
        }
    }

    /// Unmounts and deletes the namespace file. Nothing there is fine (gc after a crash, or after
    /// someone removed it by hand).
    public static func remove(at path: String) throws(NetworkError) {
        let step = "removing network namespace \(path)"
        if umount2(path, Int32(MNT_DETACH)) != 0 {
            let err = Errno.last
            // EINVAL: not a mount point (already unmounted); ENOENT: already gone.
            if err != .invalidArgument && err != .noSuchFileOrDirectory { throw .system(step, SystemError("umount", path: path, errno: err)) }
        }
        if unlink(path) != 0 && Errno.last != .noSuchFileOrDirectory {
            throw .system(step, SystemError("unlink", path: path))
        }
    }

    /// Whether `path` is a live namespace bind mount, not a leftover empty file.
    public static func isMounted(_ path: String) -> Bool {
        // mountinfo shows the resolved path (/var/run is usually a link to /run).
        let resolved = realpath(path, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        } ?? path
        return Mounts.mountPoints(under: resolved).contains(resolved)
    }

    /// As iproute2 does: the directory becomes a shared mount point, so a namespace bound in it
    /// and later unmounted here is unmounted in mount namespaces that copied it (the pod's), and
    /// the namespace really goes away.
    static func prepareDirectory(_ dir: String) throws(NetworkError) {
        let step = "preparing \(dir)"
        do { try FileSystem.makeDirectories(dir, mode: 0o755) } catch { throw .system(step, error) }
        // Two rkt processes binding the directory onto itself at once would stack two mounts, and
        // a namespace bound under the lower one would vanish from view: one at a time.
        let lock: FileLock
        do { lock = try FileLock.acquire(path: FileSystem.parentDirectory(of: dir) + "/.rkt-netns.lock", .exclusive) } catch {
            throw .system(step, error)
        }
        defer { _ = lock }
        if mount("none", dir, nil, UInt(MS_SHARED) | UInt(MS_REC), nil) == 0 { return }
        guard Errno.last == .invalidArgument else { throw .system(step, SystemError("mount --make-rshared", path: dir)) }
        // Not a mount point yet: bind it onto itself first.
        if mount(dir, dir, "none", UInt(MS_BIND) | UInt(MS_REC), nil) != 0 { throw .system(step, SystemError("mount --bind", path: dir)) }
        if mount("none", dir, nil, UInt(MS_SHARED) | UInt(MS_REC), nil) != 0 { throw .system(step, SystemError("mount --make-rshared", path: dir)) }
    }
}
