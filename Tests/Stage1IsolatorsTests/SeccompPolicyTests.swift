import Foundation
import Stage1Isolators
import Testing

/// Compiles Fixtures/seccomp-load.c and runs it under compiled filters: the filter is loaded with
/// prctl(PR_SET_SECCOMP) exactly as the pod init does, then one syscall is made. No root needed.
private final class FilterLab {
    let directory: URL
    let loader: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("iso-seccomp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        loader = directory.appendingPathComponent("seccomp-load").path
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/seccomp-load.c").path
        let compile = try run("/usr/bin/cc", ["-O2", "-o", loader, source])
        guard compile == 0 else {
            cleanUp()
            throw LabError(message: "cc failed with status \(compile)")
        }
    }

    func cleanUp() { try? FileManager.default.removeItem(at: directory) }

    /// The loader's shell-style status: 0 allowed, an errno, or 128+31 for death by SIGSYS.
    func status(of syscall: String, under policy: SeccompPolicy) throws -> Int32 {
        let filter = directory.appendingPathComponent("filter-\(UUID().uuidString).bpf")
        try Data(try policy.compileBPF()).write(to: filter)
        defer { try? FileManager.default.removeItem(at: filter) }
        return try run(loader, [filter.path, syscall])
    }

    /// Runs `program` under the policy (the loader execs it after loading the filter).
    func status(ofProgram program: [String], under policy: SeccompPolicy) throws -> Int32 {
        let filter = directory.appendingPathComponent("filter-\(UUID().uuidString).bpf")
        try Data(try policy.compileBPF()).write(to: filter)
        defer { try? FileManager.default.removeItem(at: filter) }
        return try run(loader, [filter.path, "--exec"] + program)
    }

    /// posix_spawn and wait; the shell-style status (128 + signal when killed).
    private func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, nil, nil, argv, envp)
        guard spawned == 0 else { throw LabError(message: "posix_spawn \(executable): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw LabError(message: "waitpid: errno \(errno)") }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    struct LabError: Error { var message: String }
}

private let killedBySIGSYS: Int32 = 128 + SIGSYS

@Suite struct SeccompPolicyTests {
    @Test func compilesToWholeSockFilterRecords() throws {
        for policy in [SeccompPolicy.rktDefault,
                       SeccompPolicy(mode: .remove, syscalls: SeccompGroup.rktDefaultBlacklist, errno: 1),
                       SeccompPolicy(mode: .retain, syscalls: [])] {
            let bpf = try policy.compileBPF()
            #expect(bpf.count % 8 == 0)
            #expect(bpf.count / 8 <= 4096, "the kernel takes at most BPF_MAXINSNS instructions")
            #expect(bpf.count / 8 > 3)
        }
    }

    @Test func namesUnknownOnThisArchitectureAreSkipped() throws {
        let withUnknown = try SeccompPolicy(mode: .remove, syscalls: ["reboot", "chown32", "no_such_call"]).compileBPF()
        let plain = try SeccompPolicy(mode: .remove, syscalls: ["reboot"]).compileBPF()
        #expect(withUnknown == plain)
    }

    @Test func syscallsAreSortedAndDeduplicated() {
        #expect(SeccompPolicy(mode: .retain, syscalls: ["write", "read", "write"]).syscalls == ["read", "write"])
    }

    @Test func defaultWhitelistKillsWithSIGSYS() throws {
        let lab = try FilterLab()
        defer { lab.cleanUp() }
        #expect(try lab.status(of: "getpid", under: .rktDefault) == 0)
        #expect(try lab.status(of: "mkdirat", under: .rktDefault) == 0)
        #expect(try lab.status(of: "swapon", under: .rktDefault) == killedBySIGSYS)
        #expect(try lab.status(of: "init_module", under: .rktDefault) == killedBySIGSYS)
        // Newer than rkt's list, but C libraries fall back on ENOSYS: answered, not killed.
        #expect(try lab.status(of: "clone3", under: .rktDefault) == ENOSYS)
    }

    /// Today's glibc calls rseq at every start and clone3 for threads and posix_spawn: under rkt's
    /// 2016 whitelist alone it would die of SIGSYS before main. busybox-static is such a binary.
    @Test func aCurrentStaticBinaryRunsUnderTheDefaultFilter() throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else {
            print("skipped: /bin/busybox (busybox-static) is not installed")
            return
        }
        let lab = try FilterLab()
        defer { lab.cleanUp() }
        #expect(try lab.status(ofProgram: ["/bin/busybox", "sh", "-c", "/bin/busybox true && exit 3"], under: .rktDefault) == 3)
        #expect(try lab.status(ofProgram: ["/bin/busybox", "swapon", "/dev/null"], under: .rktDefault) == killedBySIGSYS)
    }

    @Test func blacklistWithErrno() throws {
        let lab = try FilterLab()
        defer { lab.cleanUp() }
        let policy = SeccompPolicy(mode: .remove, syscalls: SeccompGroup.rktDefaultBlacklist, errno: EPERM)
        #expect(try lab.status(of: "swapon", under: policy) == EPERM)
        #expect(try lab.status(of: "reboot", under: policy) == EPERM)
        #expect(try lab.status(of: "getpid", under: policy) == 0)
        #expect(try lab.status(of: "clone3", under: policy) == 0)
        let killing = SeccompPolicy(mode: .remove, syscalls: ["reboot"])
        #expect(try lab.status(of: "reboot", under: killing) == killedBySIGSYS)
        #expect(try lab.status(of: "swapon", under: killing) == 0)
    }

    @Test func tinyWhitelist() throws {
        let lab = try FilterLab()
        defer { lab.cleanUp() }
        let policy = SeccompPolicy(mode: .retain, syscalls: ["getpid"])
        #expect(try lab.status(of: "getpid", under: policy) == 0)
        #expect(try lab.status(of: "mkdirat", under: policy) == killedBySIGSYS)
        let withErrno = SeccompPolicy(mode: .retain, syscalls: ["getpid"], errno: EACCES)
        #expect(try lab.status(of: "mkdirat", under: withErrno) == EACCES)
        #expect(try lab.status(of: "clone3", under: withErrno) == ENOSYS)
    }
}
