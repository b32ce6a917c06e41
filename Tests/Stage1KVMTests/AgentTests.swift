// Root tests for stage1-kvm's agent channel (enter, graceful and forced stop), logs, isolators and
// faults. Each running pod serves several checks so that CI boots few VMs (TCG: 5-20 s each); the
// fault tests boot no VM, or only as far as the failure.
import Foundation
import RktTestSupport
import Glibc
import Testing

extension Stage1KVMTests {
    /// One pod: enter (output, stderr, stdin, exit status, the app's restrictions), logs, then a
    /// graceful stop (the guest SIGTERMs the app: `rkt run` exits 143, the status is recorded).
    @Test func aRunningPodServesEnterLogsAndAGracefulStop() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let pod = try setup.startPod(["--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/sh", "--", "-c",
                                      "echo to-the-log; echo to-stderr >&2; exec sleep 600"])
        defer { pod.kill() }
        let uuid = try pod.uuid(setup)

        // `enter` waits for the guest, runs in the app (its env, rkt's default bounding set and
        // seccomp filter) and returns the command's status.
        let entered = try setup.rkt(
            ["enter", uuid, "/bin/sh", "-c", "echo inside-$AC_APP_NAME; grep -E '^(CapBnd|Seccomp):' /proc/self/status; exit 5"],
            timeout: KVMSetup.bootTimeout)
        #expect(entered.status == 5, "stderr: \(entered.stderr)")
        #expect(entered.stdout.contains("inside-busybox"), "stdout: \(entered.stdout)")
        #expect(entered.stdout.contains("CapBnd:\t00000000a80425fb"), "stdout: \(entered.stdout)")
        #expect(entered.stdout.contains("Seccomp:\t2"), "stdout: \(entered.stdout)")
        let piped = try setup.rkt(["enter", uuid, "/bin/cat"], input: "through-stdin\n", timeout: 120)
        #expect(piped.status == 0 && piped.stdout == "through-stdin\n", "status \(piped.status), stdout \(piped.stdout), stderr \(piped.stderr)")
        let split = try setup.rkt(["enter", uuid, "/bin/sh", "-c", "echo out-only; echo err-only >&2"], timeout: 120)
        #expect(split.stdout == "out-only\n" && split.stderr.contains("err-only") && !split.stderr.contains("out-only"),
                "stdout \(split.stdout), stderr \(split.stderr)")
        let missing = try setup.rkt(["enter", uuid, "/no/such/command"], timeout: 120)
        #expect(missing.status == 127, "stderr: \(missing.stderr)")

        // The app's output is in logs/busybox.log (stdout and stderr), which `rkt logs` reads.
        let logs = try setup.rkt(["logs", uuid], timeout: 60)
        #expect(logs.status == 0 && logs.stdout.contains("to-the-log") && logs.stdout.contains("to-stderr"), "logs: \(logs.stdout) \(logs.stderr)")

        let stop = try setup.rkt(["stop", uuid], timeout: 60)
        #expect(stop.status == 0 && stop.stdout.contains(uuid), "stop: \(stop.stdout) \(stop.stderr)")
        let status = pod.wait(timeout: 60)
        #expect(status == 143, "rkt run exited \(String(describing: status)): \(pod.output())")
        #expect(pod.output().contains("to-the-log"))
        #expect(setup.podFiles(uuid: uuid, "stage1/rootfs/rkt/status/busybox") == "143\n")
        let state = try setup.rkt(["status", uuid], timeout: 60)
        #expect(state.stdout.contains("state=exited"), "status: \(state.stdout)")
        #expect(KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty)
    }

    /// One pod: a memory limit sizes the VM (limit + 128 MiB), oom-score-adj reaches the app's
    /// processes, the limits are the app's cgroup in the guest, then `stop --force` destroys it
    /// and records the app as killed.
    @Test func aMemoryLimitSizesTheVMAndStopForceDestroysIt() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        let pod = try setup.startPod(["--stage1-path=\(setup.stage1)", setup.busybox, "--memory=320M", "--oom-score-adj=500", "--cpu=500m",
                                      "--cpu-shares=512", "--exec", "/bin/sleep", "--", "600"])
        defer { pod.kill() }
        let uuid = try pod.uuid(setup)
        let meminfo = try setup.rkt(["enter", uuid, "/bin/grep", "MemTotal", "/proc/meminfo"], timeout: KVMSetup.bootTimeout)
        // The guest init applies the app's oom_score_adj (to enter sessions as to the app).
        let oom = try setup.rkt(["enter", uuid, "/bin/cat", "/proc/self/oom_score_adj"], timeout: 120)
        #expect(oom.stdout == "500\n", "oom_score_adj: \(oom.stdout) \(oom.stderr)")
        // The app's cgroup v2 in the guest carries its limits; enter sessions join it.
        let cgroup = try setup.rkt(["enter", uuid, "/bin/sh", "-c",
                                    "cut -d: -f3 /proc/self/cgroup; cd /sys/fs/cgroup/app-busybox && cat memory.max cpu.max cpu.weight"], timeout: 120)
        #expect(cgroup.stdout == "/app-busybox\n320000000\n50000 100000\n20\n", "cgroup: \(cgroup.stdout) \(cgroup.stderr)")
        let kib = Int(meminfo.stdout.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        // 448 MiB of RAM, less what the kernel keeps for itself (about 70 MiB), more than the limit.
        #expect(kib > 320 * 1024 && kib <= 448 * 1024, "guest \(meminfo.stdout) \(meminfo.stderr)")

        let stop = try setup.rkt(["stop", "--force", uuid], timeout: 60)
        #expect(stop.status == 0, "stop: \(stop.stderr)")
        let status = pod.wait(timeout: 30)
        #expect(status == 137, "rkt run exited \(String(describing: status)): \(pod.output())")
        #expect(setup.podFiles(uuid: uuid, "stage1/rootfs/rkt/status/busybox") == "137\n")
        #expect(KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty)
    }

    /// Missing QEMU (no boot), a boot that times out (QEMU starts, no app does) and a guest that
    /// panics (a junk initramfs): one clear line, 254, the pod exited, and gc removes everything.
    @Test func faultsAreClearErrorsAnd254AndGCCleansUp() throws {
        guard let setup = KVMSetup.make() else { return }
        defer { setup.cleanup() }
        // Not an initramfs: the kernel finds no init and no root device, and panics.
        let junk = setup.root + "/junk.cpio"
        _ = FileManager.default.createFile(atPath: junk, contents: Data("not a cpio archive\n".utf8))
        let cases: [(environment: [String: String], message: String)] = [
            (["RKT_KVM_QEMU": setup.root + "/no-such-qemu"], "QEMU \(setup.root)/no-such-qemu is not installed"),
            (["RKT_KVM_BOOT_TIMEOUT": "1"], "the pod's VM did not start its apps within 1 s"),
            (["RKT_KVM_INITRAMFS": junk], "the pod's VM ended without reporting the exit status of busybox"),
        ]
        for fault in cases {
            let uuidFile = setup.root + "/uuid"
            unlink(uuidFile)
            let result = try setup.rkt(
                ["run", "--net=none", "--uuid-file-save=\(uuidFile)", "--stage1-path=\(setup.stage1)", setup.busybox, "--exec", "/bin/true"],
                environment: fault.environment, timeout: KVMSetup.bootTimeout)
            #expect(result.status == 254, "\(fault.environment): \(result.stderr)")
            #expect(result.stderr.contains(fault.message), "\(fault.environment): \(result.stderr)")
            let uuid = (try? String(contentsOfFile: uuidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            try #require(!uuid.isEmpty)
            let state = try setup.rkt(["status", uuid], timeout: 60)
            #expect(state.stdout.contains("state=exited"), "\(fault.environment): \(state.stdout)")
            #expect(KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty)
            let gc = try setup.rkt(["gc", "--grace-period=0s"], timeout: 60)
            #expect(gc.status == 0, "gc: \(gc.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "/run/rkt-kvm/" + uuid), "gc left the embed root of \(uuid)")
            #expect(setup.podFiles(uuid: uuid, "pod") == nil, "gc left pod \(uuid)")
        }
    }
}

/// A `rkt run` in the background, its output in a file.
struct BackgroundPod {
    let process: Subprocess.Background
    let uuidFile: String
    let outputFile: String

    /// The pod's uuid, once `rkt status --wait-ready` says it runs with its pid known (as a user
    /// would wait before `rkt enter`; enter itself then waits for the guest).
    func uuid(_ setup: KVMSetup) throws -> String {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            let text = (try? String(contentsOfFile: uuidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if !text.isEmpty {
                let ready = try setup.rkt(["status", "--wait-ready=60s", text], timeout: 90)
                guard ready.status == 0 else { throw KVMTestError("pod \(text) never became ready: \(ready.stderr) \(output())") }
                return text
            }
            usleep(100_000)
        }
        throw KVMTestError("the pod wrote no uuid: \(output())")
    }

    /// The exit status, or nil if it did not end in time.
    func wait(timeout: Double) -> Int32? { process.wait(timeout: timeout) }

    func output() -> String { (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "" }

    /// SIGTERM (the supervisor destroys the VM), then SIGKILL to the whole process group.
    func kill() { process.stop(grace: 15) }
}

struct KVMTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension KVMSetup {
    /// `rkt run --net=none ARGS` in the background, stdout and stderr into one file.
    func startPod(_ args: [String]) throws -> BackgroundPod {
        let uuidFile = root + "/uuid-\(UUID().uuidString.prefix(8))"
        let outputFile = uuidFile + ".out"
        let process = try Subprocess.start(
            [binary, "--dir=\(root)/data", "--local-config=\(root)/etc", "--system-config=\(root)/usr-lib",
             "--insecure-options=image", "run", "--net=none", "--uuid-file-save=\(uuidFile)"] + args,
            outputFile: outputFile)
        return BackgroundPod(process: process, uuidFile: uuidFile, outputFile: outputFile)
    }
}
