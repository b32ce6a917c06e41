#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemPackage

/// An open file or directory held with flock(2). The lock lives as long as the descriptor:
/// closing it (or the process dying) releases it, which is how rkt tells running pods from exited ones.
public final class FileLock: @unchecked Sendable {
    // @unchecked: the descriptor is immutable after init; flock itself is thread-safe.
    public let fd: Int32
    public let path: String

    public enum Mode: Sendable { case shared, exclusive }

    /// Opens `path` (a directory or a regular file, created if `create`) close-on-exec.
    public init(path: String, create: Bool = false) throws(SystemError) {
        var flags = O_RDONLY | O_CLOEXEC
        if create { flags = O_RDWR | O_CREAT | O_CLOEXEC }
        let fd = try sysCall("open", path: path) { open(path, flags, 0o640) }
        self.fd = fd
        self.path = path
    }

    /// Takes the lock, waiting for it.
    public func lock(_ mode: Mode) throws(SystemError) {
        try sysCall("flock", path: path) { flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) }
    }

    /// Takes the lock if nobody holds a conflicting one; false when it is busy.
    public func tryLock(_ mode: Mode) throws(SystemError) -> Bool {
        while true {
            if flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 { return true }
            let err = Errno.last
            if err == .interrupted { continue }
            if err == .wouldBlock { return false }
            throw SystemError("flock", path: path, errno: err)
        }
    }

    public func unlock() throws(SystemError) {
        try sysCall("flock", path: path) { flock(fd, LOCK_UN) }
    }

    /// Lets the descriptor survive exec (stage1 inherits the pod lock as rkt's RKT_LOCK_FD).
    public func inheritOnExec() throws(SystemError) {
        let flags = try sysCall("fcntl", path: path) { fcntl(fd, F_GETFD) }
        try sysCall("fcntl", path: path) { fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) }
    }

    deinit { close(fd) }
}

extension FileLock {
    /// Opens, locks and returns, or throws; convenience for short critical sections.
    public static func acquire(path: String, _ mode: Mode, create: Bool = true) throws(SystemError) -> FileLock {
        let lock = try FileLock(path: path, create: create)
        try lock.lock(mode)
        return lock
    }
}
