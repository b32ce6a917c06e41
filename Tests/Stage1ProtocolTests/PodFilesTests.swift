import Foundation
import Stage1Protocol
import Testing

@Suite("Pod files")
struct PodFilesTests {
    func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Names in `directory` that look like leftover temporary files.
    func leftovers(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(".tmp-") }
    }

    @Test func documentedPaths() {
        let files = PodFiles(pod: Fixtures.pod)
        let pod = Fixtures.pod.path
        #expect(files.pidPath == pod + "/pid")
        #expect(files.ppidPath == pod + "/ppid")
        #expect(files.subcgroupPath == pod + "/subcgroup")
        #expect(files.statusPath(app: "web") == pod + "/stage1/rootfs/rkt/status/web")
        #expect(files.createdPath(app: "web") == pod + "/stage1/rootfs/rkt/status/web-created")
        #expect(files.startedPath(app: "web") == pod + "/stage1/rootfs/rkt/status/web-started")
        #expect(files.envPath(app: "web") == pod + "/stage1/rootfs/rkt/env/web")
        #expect(files.supervisorStatusPath == pod + "/stage1/rootfs/rkt/supervisor-status")
        #expect(PodFiles(podPath: "/p").stage1Rootfs == "/p/stage1/rootfs")
    }

    @Test func pidAndSubcgroup() throws {
        let directory = try TemporaryDirectory()
        let files = PodFiles(podPath: directory.path)
        #expect(files.readPID() == nil)
        try files.writeSubcgroup(#"machine-rkt\x2d6f1a.scope"#)
        try files.writePID(4242)
        #expect(contents(files.pidPath) == "4242\n")
        #expect(contents(files.subcgroupPath) == "machine-rkt\\x2d6f1a.scope\n")
        #expect(files.readPID()?.pid == 4242 && files.readPID()?.kind == .pid)
        try files.writePID(77, kind: .ppid)
        #expect(contents(files.ppidPath) == "77\n")
        try FileManager.default.removeItem(atPath: files.pidPath)
        #expect(files.readPID()?.pid == 77 && files.readPID()?.kind == .ppid)
        #expect(throws: Stage1Error.self) { try files.writePID(0) }
        #expect(throws: Stage1Error.self) { try files.writeSubcgroup("a\nb") }
        #expect(leftovers(directory.path).isEmpty)
        // The pid file's mode is 0644.
        let attributes = try FileManager.default.attributesOfItem(atPath: files.ppidPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
    }

    @Test func pidWritesAreAtomicReplacements() throws {
        let directory = try TemporaryDirectory()
        let files = PodFiles(podPath: directory.path)
        try files.writePID(1111)
        let before = try FileManager.default.attributesOfItem(atPath: files.pidPath)[.systemFileNumber] as? NSNumber
        try files.writePID(2222)
        let after = try FileManager.default.attributesOfItem(atPath: files.pidPath)[.systemFileNumber] as? NSNumber
        // A new inode renamed over the old one, never the old file rewritten in place.
        #expect(before != nil && before != after)
        #expect(contents(files.pidPath) == "2222\n")
        #expect(leftovers(directory.path).isEmpty)
    }

    @Test func atomicWriteFailsCleanly() throws {
        let directory = try TemporaryDirectory()
        // The target is a non-empty directory: rename fails, and the temporary file is removed.
        try FileManager.default.createDirectory(atPath: directory.path + "/target/inner", withIntermediateDirectories: true)
        let error = try #require(throws: Stage1Error.self) { try PodFiles.atomicWrite(data("x"), to: directory.path + "/target") }
        #expect(error.code == .ioFailure && error.msg.hasPrefix("rename \(directory.path)/target:"))
        #expect(leftovers(directory.path).isEmpty)
        let missing = try #require(throws: Stage1Error.self) { try PodFiles.atomicWrite(data("x"), to: directory.path + "/no/such/dir/file") }
        #expect(missing.code == .ioFailure && missing.msg.contains("No such file or directory"))
    }

    @Test func statusFiles() throws {
        let directory = try TemporaryDirectory()
        let files = PodFiles(podPath: directory.path)
        #expect(files.readStatus(app: "web") == nil)
        try files.writeStatus(app: "web", status: .exited(0))
        #expect(contents(files.statusPath(app: "web")) == "0\n")
        try files.writeStatus(app: "web", status: .exited(3))
        #expect(files.readStatus(app: "web") == 3)
        try files.writeStatus(app: "killed", status: .signaled(9))
        #expect(contents(files.statusPath(app: "killed")) == "137\n")
        try files.writeStatus(app: "termed", status: .signaled(15))
        #expect(files.readStatus(app: "termed") == 143)
        #expect(leftovers(files.statusDirectory).isEmpty)
        #expect(throws: Stage1Error.self) { try files.writeStatus(app: "../escape", status: .exited(0)) }
        #expect(throws: Stage1Error.self) { try files.writeStatus(app: "", status: .exited(0)) }
    }

    @Test func waitStatusDecoding() throws {
        #expect(AppExitStatus(waitStatus: 0) == .exited(0))
        #expect(AppExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(AppExitStatus(waitStatus: 255 << 8) == .exited(255))
        #expect(AppExitStatus(waitStatus: 9) == .signaled(9))
        #expect(AppExitStatus(waitStatus: 15 | 0x80) == .signaled(15))  // with a core dump
        #expect(AppExitStatus.signaled(2).value == 130)
        let directory = try TemporaryDirectory()
        let files = PodFiles(podPath: directory.path)
        try files.writeStatus(app: "a", waitStatus: 6)
        #expect(files.readStatus(app: "a") == 134)
    }

    @Test func timestampsEnvironmentAndSupervisor() throws {
        let directory = try TemporaryDirectory()
        let files = PodFiles(podPath: directory.path, stage1Rootfs: directory.path + "/s1")
        try files.markCreated(app: "web")
        try files.markStarted(app: "web")
        #expect(contents(files.createdPath(app: "web")) == "")
        #expect(contents(files.startedPath(app: "web")) == "")
        try files.writeEnvironment(app: "web", [NameValue(name: "PATH", value: "/bin"), NameValue(name: "X", value: "a=b c")])
        #expect(contents(directory.path + "/s1/rkt/env/web") == "PATH=/bin\nX=a=b c\n")
        #expect(throws: Stage1Error.self) { try files.writeEnvironment(app: "web", [NameValue(name: "A=B", value: "")]) }
        #expect(throws: Stage1Error.self) { try files.writeEnvironment(app: "web", [NameValue(name: "A", value: "x\ny")]) }
        try files.markSupervisorReady()
        try files.markSupervisorReady()  // idempotent
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: files.supervisorStatusPath) == "ready")
        #expect(leftovers(directory.path + "/s1/rkt").isEmpty)
    }
}
