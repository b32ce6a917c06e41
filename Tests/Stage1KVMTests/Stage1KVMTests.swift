// Root tests for stage1-kvm: they drive the built `rkt` binary with the built stage1-kvm image, the
// way a user would, and boot real VMs (TCG here, ~5-20 s each): keep the number of boots small.
// Inputs: $RKT_BINARY (else the newest .build*/{release,debug}/rkt), $RKT_STAGE1_KVM_ACI (else
// images/out/stage1-kvm.aci, from images/stage1-kvm/build.sh), images/out/busybox.aci.
import Foundation
import RktTestSupport
import Testing

@Suite(.serialized) struct Stage1KVMTests {
    @Test func unameInThePodPrintsTheGuestKernelRelease() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let uuidFile = setup.root + "/uuid"
        let result = try setup.rkt(
            ["run", "--net=none", "--uuid-file-save=\(uuidFile)", "--stage1-path=\(setup.stage1)", setup.busybox,
             "--exec", "/bin/uname", "--", "-r"],
            timeout: KVMSetup.bootTimeout)
        #expect(result.status == 0, "rkt run failed: \(result.stderr)")
        let release = try KVMSetup.kernelRelease(of: setup.stage1)
        #expect(!release.isEmpty)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == release, "stderr: \(result.stderr)")
        // The VM is gone with the pod: no QEMU process names the pod's domain any more.
        let uuid = (try? String(contentsOfFile: uuidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        #expect(!uuid.isEmpty)
        #expect(KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty, "a QEMU outlived pod \(uuid)")
        // The app's status file says 0.
        let status = setup.podFiles(uuid: uuid, "stage1/rootfs/rkt/status/busybox")
        #expect(status == "0\n")
    }

    @Test func theAppsExitStatusIsRktsExitStatus() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let result = try setup.rkt(
            ["run", "--net=none", "--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/sh", "--", "-c",
             "echo to-stdout; exit 3"],
            timeout: KVMSetup.bootTimeout)
        #expect(result.status == 3, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("to-stdout"))
    }

    @Test func aHostVolumeIsReadableAndWritableFromTheGuest() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let host = setup.root + "/shared"
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        try "from-the-host\n".write(toFile: host + "/in", atomically: true, encoding: .utf8)
        let result = try setup.rkt(
            ["run", "--net=none", "--stage1-path=\(setup.stage1)", "--volume=data,kind=host,source=\(host)", setup.busybox,
             "--mount=volume=data,target=/data", "--exec", "/bin/sh", "--", "-c", "cat /data/in && echo from-the-guest > /data/out"],
            timeout: KVMSetup.bootTimeout)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("from-the-host"))
        #expect((try? String(contentsOfFile: host + "/out", encoding: .utf8)) == "from-the-guest\n")
    }

    @Test func aSIGKILLedRktLeavesNoQEMUBehind() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let uuidFile = setup.root + "/uuid"
        let process = try Subprocess.start(
            [setup.binary, "--dir=\(setup.root)/data", "--local-config=\(setup.root)/etc", "--system-config=\(setup.root)/usr-lib",
             "--insecure-options=image", "run", "--net=none", "--uuid-file-save=\(uuidFile)",
             "--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/sleep", "--", "600"],
            outputFile: "/dev/null")
        defer { process.stop(grace: 0) }
        // Wait for the pod's QEMU to exist.
        var uuid = ""
        var qemu: [String] = []
        let deadline = Date().addingTimeInterval(KVMSetup.bootTimeout)
        while Date() < deadline && qemu.isEmpty && process.isRunning {
            usleep(200_000)
            if uuid.isEmpty { uuid = (try? String(contentsOfFile: uuidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
            if !uuid.isEmpty { qemu = KVMSetup.qemuProcesses(naming: "rkt-" + uuid) }
        }
        try #require(!qemu.isEmpty, "the pod's QEMU never appeared")
        // rkt exec'd stage1-kvm: this pid is the process holding the pod lock.
        process.signal(SIGKILL)
        _ = process.wait(timeout: 30)
        let gone = Date().addingTimeInterval(10)
        while Date() < gone && !KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty { usleep(100_000) }
        #expect(KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty, "QEMU \(qemu) outlived its SIGKILLed supervisor")
    }

    /// `--interactive`: the app runs on a pty in the guest; what is typed reaches it, its output
    /// and exit status come back (a terminal from `script`, the line typed once the app reads).
    @Test func anInteractiveAppGetsATerminalInTheGuest() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { print("skip: no script(1)"); return }
        let command = ([setup.binary, "--dir=\(setup.root)/data", "--local-config=\(setup.root)/etc", "--system-config=\(setup.root)/usr-lib",
                        "--insecure-options=image", "run", "--interactive", "--net=none", "--stage1-path=\(setup.stage1)", setup.busybox,
                        "--exec", "/bin/sh", "--", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; read x; echo got=$x; exit 6"])
            .map { "'" + $0 + "'" }.joined(separator: " ")
        let result = try Subprocess.run(["/usr/bin/script", "-qec", command, "/dev/null"],
                                        interaction: [.init(waitFor: "stdin-is-tty", send: "typed-line\r")], timeout: KVMSetup.bootTimeout)
        #expect(!result.timedOut, "\(result.stdout) \(result.stderr)")
        #expect(result.status == 6, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("/dev/pts/"), "\(result.stdout)")
        #expect(result.stdout.contains("got=typed-line"), "\(result.stdout)")
        // Piped input: no echo, and its end reaches the app as the terminal's end of input.
        let piped = try setup.rkt(["run", "--interactive", "--net=none", "--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/cat"],
                                  input: "line one\nline two\n", timeout: KVMSetup.bootTimeout)
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdout.replacingOccurrences(of: "\r", with: "") == "line one\nline two\n", "\(piped.stdout.debugDescription)")
    }

    @Test func aMissingKernelIsAClearErrorAnd254() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let result = try setup.rkt(
            ["run", "--net=none", "--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/true"],
            environment: ["RKT_KVM_KERNEL": setup.root + "/no-such-vmlinuz"], timeout: 60)
        #expect(result.status == 254)
        #expect(result.stderr.contains("the guest kernel \(setup.root)/no-such-vmlinuz does not exist"), "stderr: \(result.stderr)")
    }

    @Test func aPodOnTheHostNetworkIsRefusedClearly() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        // A VM has its own network stack: --net=host is refused before any boot (CNI networks
        // work: NetworkTests.swift).
        let result = try setup.rkt(["run", "--net=host", "--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/true"], timeout: 60)
        #expect(result.status == 254)
        #expect(result.stderr.contains("--net=host") && result.stderr.contains("--net=none"), "stderr: \(result.stderr)")
    }
}

/// A private rkt data dir and the inputs, or nil with the reason printed.
struct KVMSetup {
    let binary: String
    let stage1: String
    let busybox: String
    let root: String

    /// Generous: a TCG boot takes 5 s on an idle 2-core machine and four times that under load.
    static let bootTimeout: Double = 180

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func make(_ test: String = #function) -> KVMSetup? {
        guard geteuid() == 0 else {
            print("skip \(test): needs root (QEMU through libvirt's embedded driver, 9p as root)")
            return nil
        }
        let environment = ProcessInfo.processInfo.environment
        guard let binary = environment["RKT_BINARY"] ?? newestRkt() else {
            print("skip \(test): no rkt binary (set RKT_BINARY or build the rkt product)")
            return nil
        }
        let stage1 = environment["RKT_STAGE1_KVM_ACI"] ?? packageRoot + "/images/out/stage1-kvm.aci"
        guard FileManager.default.fileExists(atPath: stage1) else {
            print("skip \(test): no \(stage1) (run images/stage1-kvm/build.sh or set RKT_STAGE1_KVM_ACI)")
            return nil
        }
        let busybox = (environment["RKT_TEST_IMAGES"] ?? packageRoot + "/images/out") + "/busybox.aci"
        guard FileManager.default.fileExists(atPath: busybox) else {
            print("skip \(test): no \(busybox) (run images/build.sh)")
            return nil
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") else {
            print("skip \(test): qemu-system-x86 is not installed (scripts/deps.sh)")
            return nil
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-kvm-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return KVMSetup(binary: binary, stage1: stage1, busybox: busybox, root: root)
    }

    static func newestRkt() -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packageRoot)) ?? []
        let candidates = names.filter { $0.hasPrefix(".build") }.flatMap { ["\($0)/release/rkt", "\($0)/debug/rkt"] }
            .map { packageRoot + "/" + $0 }.filter { FileManager.default.isExecutableFile(atPath: $0) }
        func modified(_ path: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
        }
        return candidates.max { modified($0) < modified($1) }
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// Runs rkt with the private dirs (and `input` on its stdin); kills it and its process group
    /// (the supervisor, hence the VM: see aSIGKILLedRktLeavesNoQEMUBehind) and fails the test after
    /// `timeout` seconds.
    func rkt(_ args: [String], environment: [String: String] = [:], input: String? = nil, timeout: Double) throws -> Result {
        let result = try Subprocess.run(
            [binary, "--dir=\(root)/data", "--local-config=\(root)/etc", "--system-config=\(root)/usr-lib", "--insecure-options=image"] + args,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, input: input.map { Data($0.utf8) }, timeout: timeout)
        #expect(!result.timedOut, "rkt \(args.joined(separator: " ")) timed out after \(timeout) s")
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    func podFiles(uuid: String, _ relative: String) -> String? {
        for state in ["run", "exited-garbage", "garbage"] {
            if let text = try? String(contentsOfFile: "\(root)/data/pods/\(state)/\(uuid)/\(relative)", encoding: .utf8) { return text }
        }
        return nil
    }

    /// `rkt gc` (stage1 gc: leftover QEMU, embed root), then whatever is still mounted below the
    /// test's root, then the root itself.
    func cleanup() {
        _ = try? rkt(["gc", "--grace-period=0s"], timeout: 60)
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        let targets = mounts.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { return nil }
            let target = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            return target.hasPrefix(root + "/") ? target : nil
        }
        for target in targets.sorted(by: >) { umount2(target, Int32(MNT_DETACH)) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The kernel release the stage1 image's kernel reports (`kvm/release` in its rootfs).
    static func kernelRelease(of aci: String) throws -> String {
        try Subprocess.run(["/bin/tar", "-xzOf", aci, "rootfs/kvm/release"], timeout: 120).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Pids of QEMU processes whose command line contains `text`.
    static func qemuProcesses(naming text: String) -> [String] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { Int($0) != nil }
        return pids.filter { pid in
            // Read to EOF: Foundation's whole-file readers trust st_size, which is 0 in /proc.
            guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/cmdline") else { return false }
            let data = handle.readDataToEndOfFile()
            try? handle.close()
            let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return cmdline.contains("qemu-system") && cmdline.contains(text)
        }
    }
}
