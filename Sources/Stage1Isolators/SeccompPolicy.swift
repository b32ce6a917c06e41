#if canImport(Glibc)
import Glibc
#endif
import CSeccomp

/// A seccomp filter as the appc seccomp isolators describe it: a whitelist (`retain`) or a blacklist
/// (`remove`) of syscall names, and what a filtered call gets — an errno, or (as in rkt) the process
/// killed with SIGSYS.
public struct SeccompPolicy: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        /// Only the listed syscalls are allowed (`os/linux/seccomp-retain-set`).
        case retain
        /// The listed syscalls are filtered, everything else is allowed (`os/linux/seccomp-remove-set`).
        case remove
    }

    public var mode: Mode
    /// Plain syscall names, groups already expanded; sorted and without duplicates.
    public private(set) var syscalls: [String]
    /// The errno a filtered syscall returns; nil kills the process with SIGSYS.
    public var errno: Int32?

    public init(mode: Mode, syscalls: [String], errno: Int32? = nil) {
        self.mode = mode
        self.syscalls = Array(Set(syscalls)).sorted()
        self.errno = errno
    }

    /// What apps without a seccomp isolator get: `@rkt/default-whitelist`, killing on violation.
    public static var rktDefault: SeccompPolicy {
        SeccompPolicy(mode: .retain, syscalls: SeccompGroup.rktDefaultWhitelist)
    }

    /// Syscalls a whitelist always allows, because the app could not start or end without them.
    /// systemd (which applied rkt's filters) allowed execve, exit, exit_group, rt_sigreturn and
    /// sigreturn implicitly; capset and chdir are what rkt-pod-init itself calls between loading
    /// the filter and exec (capset can only lower capabilities within the bounding set).
    public static let alwaysAllowed = ["capset", "chdir", "execve", "exit", "exit_group", "rt_sigreturn", "sigreturn"]

    /// Syscalls newer than rkt's 2016 lists that today's C libraries try first and replace by an
    /// older call when the kernel answers ENOSYS (glibc: clone3 → clone in posix_spawn and threads,
    /// rseq at every start, statx → fstatat, faccessat2 → faccessat …). A whitelist that does not
    /// list them answers ENOSYS instead of killing, as Docker's current profile does for clone3;
    /// otherwise every modern binary would die under the default filter.
    public static let answeredWithENOSYS = [
        "clone3", "close_range", "epoll_pwait2", "faccessat2", "fchmodat2", "membarrier", "openat2",
        "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "preadv2", "pwritev2", "rseq", "statx",
    ]

    /// The filter as classic BPF for the native architecture: the raw `struct sock_filter` records
    /// (8 bytes each) that `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog)` takes. Names that
    /// do not exist on this architecture are skipped (as rkt). Calls from other ABIs (i386, x32) are
    /// killed.
    public func compileBPF() throws(IsolationError) -> [UInt8] {
        let filteredAction = errno.map(Self.errnoAction) ?? Self.killProcess
        let defaultAction = mode == .retain ? filteredAction : Self.allow
        guard let context = seccomp_init(defaultAction) else {
            throw IsolationError(isolator: "seccomp_init", "libseccomp could not create a filter")
        }
        defer { seccomp_release(context) }

        var rules: [(name: String, action: UInt32)] = []
        switch mode {
        case .retain:
            let allowed = Set(syscalls).union(Self.alwaysAllowed)
            rules = allowed.sorted().map { ($0, Self.allow) }
            let enosys = Self.errnoAction(ENOSYS)
            if enosys != defaultAction {
                rules += Self.answeredWithENOSYS.filter { !allowed.contains($0) }.map { ($0, enosys) }
            }
        case .remove:
            rules = syscalls.map { ($0, filteredAction) }
        }
        for rule in rules {
            let number = seccomp_syscall_resolve_name(rule.name)
            // Negative: unknown to libseccomp, or a pseudo-number for a call other ABIs have but
            // this one does not (chown32 on x86_64).
            guard number >= 0 else { continue }
            let result = seccomp_rule_add_array(context, rule.action, number, 0, nil)
            if result < 0 {
                throw IsolationError(isolator: "seccomp_rule_add", "cannot add a rule for \(rule.name)", errno: -result)
            }
        }
        return try Self.export(context)
    }

    /// BPF_MAXINSNS: the most instructions one seccomp filter may have.
    public static let maximumInstructions = 4096

    static let allow: UInt32 = 0x7fff_0000  // SCMP_ACT_ALLOW
    static let killProcess: UInt32 = 0x8000_0000  // SCMP_ACT_KILL_PROCESS: SIGSYS for the whole process
    static func errnoAction(_ errno: Int32) -> UInt32 {  // SCMP_ACT_ERRNO(errno), a macro Swift cannot see
        0x0005_0000 | (UInt32(truncatingIfNeeded: errno) & 0xffff)
    }

    /// libseccomp 2.5 exports only to a file descriptor. An unnamed temporary file holds any size
    /// (a pipe would block once full) and leaves nothing behind.
    private static func export(_ context: scmp_filter_ctx) throws(IsolationError) -> [UInt8] {
        let fd = try unnamedTemporaryFile()
        defer { close(fd) }
        let result = seccomp_export_bpf(context, fd)
        if result < 0 { throw IsolationError(isolator: "seccomp_export_bpf", "cannot export the filter", errno: -result) }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw IsolationError(isolator: "lseek", "cannot read the exported filter back", errno: lastErrno())
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if count < 0 && lastErrno() == EINTR { continue }
            guard count > 0 else {
                throw IsolationError(isolator: "read", "cannot read the exported filter back", errno: lastErrno())
            }
            done += count
        }
        guard bytes.count % 8 == 0, !bytes.isEmpty else {
            throw IsolationError(isolator: "seccomp_export_bpf", "exported \(bytes.count) bytes, not whole sock_filter records")
        }
        // Checked here rather than failing later in prctl inside the pod, where it is harder to report.
        guard bytes.count / 8 <= maximumInstructions else {
            throw IsolationError(
                isolator: "seccomp_export_bpf",
                "the filter has \(bytes.count / 8) instructions; the kernel loads at most \(maximumInstructions)")
        }
        return bytes
    }
}

/// An unlinked read-write file: O_TMPFILE where the filesystem supports it, else mkstemp + unlink.
private func unnamedTemporaryFile() throws(IsolationError) -> Int32 {
    // Swift does not import O_TMPFILE; __O_TMPFILE is 0o20000000 on every Linux architecture we build for.
    let tmpfile: Int32 = 0o2000_0000 | O_DIRECTORY
    let directories = ["/dev/shm", "/tmp"]
    for directory in directories {
        let fd = open(directory, tmpfile | O_RDWR | O_CLOEXEC, 0o600)
        if fd >= 0 { return fd }
    }
    var lastError: Int32 = 0
    for directory in directories {
        var template = Array("\(directory)/rkt-seccomp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        lastError = lastErrno()
        if fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            return fd
        }
    }
    throw IsolationError(isolator: "seccomp export", "cannot create a temporary file in /dev/shm or /tmp", errno: lastError)
}

/// errno, read through a function because `SeccompPolicy.errno` shadows the C global.
private func lastErrno() -> Int32 { errno }
