import Foundation
import RktTestSupport
import Stage1Protocol
import Testing

/// Drives the example stage1 in `Documentation/examples/stage1-sh/` through the protocol, as stage0
/// would, except that `run` and `enter` are started as children instead of exec'd.
@Suite("Example shell stage1")
struct ShellStage1Tests {
    static let exampleRootfs = repositoryRoot.appendingPathComponent("Documentation/examples/stage1-sh/rootfs").path

    /// Why these tests cannot run here, or nil.
    static let skipReason: String? = {
        if getuid() != 0 { return "not running as root" }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") { return "/bin/busybox is missing" }
        for tool in ["jq", "unshare", "nsenter"] where findInPath(tool) == nil {
            return "\(tool) is not installed"
        }
        return nil
    }()

    static func findInPath(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func skipped(_ test: String) -> Bool {
        guard let reason = skipReason else { return false }
        print("skipping \(test): \(reason)")
        return true
    }

    /// A pod directory made by hand: the example as stage1 rootfs, and one busybox app.
    final class Pod {
        let directory: TemporaryDirectory
        let info: PodInfo
        let files: PodFiles
        let app: String

        init(app: String = "hello") throws {
            directory = try TemporaryDirectory()
            info = PodInfo(uuid: "0b6f9f0e-1c1a-4d7e-9d3a-5f2b7c8e9a01", path: directory.path + "/pod")
            files = PodFiles(pod: info)
            self.app = app
            let fm = FileManager.default
            try fm.createDirectory(atPath: info.path + "/stage1", withIntermediateDirectories: true)
            // cp(1), not this process: see TestExecutable (ETXTBSY).
            let copied = try Subprocess.run(["/bin/cp", "-R", ShellStage1Tests.exampleRootfs, info.stage1Rootfs], timeout: 60)
            try #require(copied.status == 0, "\(copied.stderr)")
            let rootfs = appRootfs
            try fm.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
            try TestExecutable.copy("/bin/busybox", to: rootfs + "/bin/busybox")
            for name in ["sh", "echo", "sleep", "cat", "true"] {
                try fm.createSymbolicLink(atPath: rootfs + "/bin/" + name, withDestinationPath: "busybox")
            }
            try data(#"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[]}"#).write(to: URL(fileURLWithPath: info.manifestPath))
        }

        var appRootfs: String { info.stage1Rootfs + "/opt/stage2/" + app + "/rootfs" }

        func runRequest(exec: [String], net: NetworkMode = .host, apps extra: Int = 0) -> Stage1Request {
            let manifest = ResolvedApp(exec: exec, environment: [NameValue(name: "PATH", value: "/bin"), NameValue(name: "GREETING", value: "it's \"quoted\"")])
            var apps = [RunApp(name: app, stage1Rootfs: info.stage1Rootfs, imageID: Fixtures.imageID, appManifest: manifest)]
            for index in 0..<extra { apps.append(RunApp(name: "extra\(index)", stage1Rootfs: info.stage1Rootfs, imageID: Fixtures.imageID, appManifest: manifest)) }
            return Stage1Request(pod: info, payload: .run(RunPayload(apps: apps, net: net)))
        }

        /// Starts an entrypoint of the example with `request`, as stage0 does (cwd, argv, env).
        func start(_ entrypoint: String, _ request: Stage1Request) throws -> Invocation {
            let name = "\(entrypoint)-\(UInt32.random(in: 0...UInt32.max))"
            let requestPath = directory.path + "/request-" + name + ".json"
            try request.encoded().write(to: URL(fileURLWithPath: requestPath))
            let invocation = Invocation(stdoutPath: directory.path + "/stdout-" + name, stderrPath: directory.path + "/stderr-" + name)
            _ = FileManager.default.createFile(atPath: invocation.stdoutPath, contents: nil)
            _ = FileManager.default.createFile(atPath: invocation.stderrPath, contents: nil)
            let process = Process()
            let path = info.stage1Rootfs + "/stage1-sh/" + entrypoint
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = Array(Stage1Protocol.arguments(entrypoint: path, version: request.protocolVersion).dropFirst())
            process.currentDirectoryURL = URL(fileURLWithPath: info.path)
            var environment = ProcessInfo.processInfo.environment
            environment.merge(Stage1Protocol.environment(requestPath: requestPath)) { _, new in new }
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle(forWritingAtPath: invocation.stdoutPath)
            process.standardError = FileHandle(forWritingAtPath: invocation.stderrPath)
            try process.run()
            invocation.process = process
            return invocation
        }

        func call(_ entrypoint: String, _ request: Stage1Request) throws -> Invocation {
            let invocation = try start(entrypoint, request)
            invocation.wait()
            return invocation
        }

        /// Detaches anything left mounted in the app's rootfs (the example mounts in a private
        /// namespace, so normally nothing is).
        func cleanUp() {
            for mount in ["proc", "dev"] { _ = umount2(appRootfs + "/" + mount, Int32(MNT_DETACH)) }
        }
    }

    final class Invocation: @unchecked Sendable {
        let stdoutPath: String
        let stderrPath: String
        var process: Process?

        init(stdoutPath: String, stderrPath: String) {
            self.stdoutPath = stdoutPath
            self.stderrPath = stderrPath
        }

        /// Waits up to two minutes, then kills the entrypoint (the test then fails on its status).
        func wait() {
            guard let process else { return }
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        var status: Int32 { process?.terminationStatus ?? -1 }
        var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

        /// The error object an exec'd entrypoint printed on stderr (its last line).
        func stderrError() throws -> Stage1Error {
            let line = try #require(stderr.split(separator: "\n").last)
            return try JSONDecoder().decode(Stage1Error.self, from: data(String(line)))
        }
    }

    @Test func describeAnswersFromEveryEntrypoint() throws {
        if Self.skipped("describe") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        let request = Stage1Request(pod: pod.info, payload: .describe)
        for entrypoint in ["describe", "run", "gc"] {
            let invocation = try pod.call(entrypoint, request)
            let response = try Stage1Response.decode(DescribeResponse.self, stdout: data(invocation.stdout), exitStatus: invocation.status)
            #expect(response == Fixtures.describeResponse, "via \(entrypoint)")
        }
        // What it lists is enough for the minimal run, and not for the full example.
        let describe = try Stage1Response.decode(DescribeResponse.self, stdout: data(try pod.call("describe", request).stdout), exitStatus: 0)
        try Stage1Protocol.negotiate(requested: pod.runRequest(exec: ["/bin/true"]), supported: describe)
        #expect(throws: Stage1Error.self) { try Stage1Protocol.negotiate(requested: Fixtures.runRequest, supported: describe) }
    }

    @Test func refusesAnotherProtocolVersion() throws {
        if Self.skipped("protocol version") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        var gc = Stage1Request(pod: pod.info, payload: .gc(GCPayload()))
        gc.protocolVersion = "2"
        let child = try pod.call("gc", gc)
        #expect(child.status != 0)
        let error = try #require(throws: Stage1Error.self) {
            try Stage1Response.decode(OKResponse.self, stdout: data(child.stdout), exitStatus: child.status)
        }
        #expect(error.code == .incompatibleVersion)

        var run = pod.runRequest(exec: ["/bin/true"])
        run.protocolVersion = "2"
        let execd = try pod.call("run", run)
        #expect(execd.status == 254 && execd.stdout.isEmpty)
        #expect(try execd.stderrError().code == .incompatibleVersion)
        #expect(pod.files.readPID() == nil)
    }

    @Test func runsAnApp() throws {
        if Self.skipped("run hello") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        let run = try pod.call("run", pod.runRequest(exec: ["/bin/echo", "hello"]))
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "hello\n")
        #expect(pod.files.readStatus(app: "hello") == 0)
        #expect(try String(contentsOfFile: pod.files.statusPath(app: "hello"), encoding: .utf8) == "0\n")
        let pid = try #require(pod.files.readPID())
        #expect(pid.pid > 1 && pid.kind == .pid)
        #expect(try String(contentsOfFile: pod.files.envPath(app: "hello"), encoding: .utf8) == "PATH=/bin\nGREETING=it's \"quoted\"\nAC_APP_NAME=hello\n")
        #expect(FileManager.default.fileExists(atPath: pod.files.createdPath(app: "hello")))
        #expect(FileManager.default.fileExists(atPath: pod.files.startedPath(app: "hello")))
    }

    @Test func theAppSeesItsEnvironmentAndRoot() throws {
        if Self.skipped("run environment") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        let script = #"echo "$GREETING|$AC_APP_NAME|$(cat /proc/self/comm)"; [ -e /dev/null ] && [ ! -e /stage1-sh ] && echo isolated"#
        let run = try pod.call("run", pod.runRequest(exec: ["/bin/sh", "-c", script], net: .none))
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout == "it's \"quoted\"|hello|cat\nisolated\n")
    }

    @Test func aFailingAppGivesItsStatus() throws {
        if Self.skipped("run exit 3") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        let run = try pod.call("run", pod.runRequest(exec: ["/bin/sh", "-c", "exit 3"]))
        #expect(run.status == 3, "stderr: \(run.stderr)")
        #expect(pod.files.readStatus(app: "hello") == 3)
        #expect(pod.files.readPID() != nil)
    }

    @Test func refusesWhatItDoesNotImplement() throws {
        if Self.skipped("run unsupported") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        let twoApps = try pod.call("run", pod.runRequest(exec: ["/bin/true"], apps: 1))
        #expect(twoApps.status == 254)
        #expect(try twoApps.stderrError() == Stage1Error(code: .unsupported, msg: "this stage1 runs exactly one app", details: "the request has 2 apps"))
        let network = try pod.call("run", pod.runRequest(exec: ["/bin/true"], net: .default))
        #expect(network.status == 254)
        #expect(try network.stderrError().code == .unsupported)
        #expect(pod.files.readPID() == nil && pod.files.readStatus(app: "hello") == nil)
    }

    @Test func enterAndStopARunningPod() throws {
        if Self.skipped("enter and stop") { return }
        let pod = try Pod()
        defer { pod.cleanUp() }
        let run = try pod.start("run", pod.runRequest(exec: ["/bin/sleep", "30"]))
        defer { if run.process?.isRunning == true { run.process?.terminate() } }
        var pid: Int32?
        for _ in 0..<200 where pid == nil {
            pid = pod.files.readPID()?.pid
            if pid == nil { usleep(50_000) }
        }
        let running = try #require(pid, "no pid file; stderr: \(run.stderr)")

        let enter = try pod.call("enter", Stage1Request(pod: pod.info, payload: .enter(EnterPayload(
            appName: "hello", command: ["/bin/sh", "-c", "echo entered $AC_APP_NAME; cat /proc/\(running)/comm"], pid: running))))
        #expect(enter.status == 0, "stderr: \(enter.stderr)")
        #expect(enter.stdout == "entered hello\nsleep\n")

        let stop = try pod.call("stop", Stage1Request(pod: pod.info, payload: .stop(StopPayload())))
        #expect(try Stage1Response.decode(OKResponse.self, stdout: data(stop.stdout), exitStatus: stop.status).ok)
        run.wait()
        #expect(run.status == 128 + 15)
        #expect(pod.files.readStatus(app: "hello") == 143)

        // Now nothing runs: stop and enter say so; gc succeeds, twice.
        let again = try pod.call("stop", Stage1Request(pod: pod.info, payload: .stop(StopPayload(force: true))))
        let error = try #require(throws: Stage1Error.self) {
            try Stage1Response.decode(OKResponse.self, stdout: data(again.stdout), exitStatus: again.status)
        }
        #expect(error.code == .podNotRunning)
        let lateEnter = try pod.call("enter", Stage1Request(pod: pod.info, payload: .enter(EnterPayload(appName: "hello", command: ["/bin/true"], pid: running))))
        #expect(lateEnter.status == 254)
        #expect(try lateEnter.stderrError().code == .podNotRunning)
        for _ in 0..<2 {
            let gc = try pod.call("gc", Stage1Request(pod: pod.info, payload: .gc(GCPayload())))
            #expect(try Stage1Response.decode(OKResponse.self, stdout: data(gc.stdout), exitStatus: gc.status) == OKResponse())
        }
    }

    @Test func buildsAValidACI() throws {
        if Self.skipped("build.sh") { return }
        let directory = try TemporaryDirectory()
        let output = directory.path + "/stage1-sh.aci"
        let build = try Subprocess.run([repositoryRoot.appendingPathComponent("Documentation/examples/stage1-sh/build.sh").path, output], timeout: 300)
        #expect(build.status == 0 && !build.timedOut, "\(build.stderr)")
        #expect(FileManager.default.fileExists(atPath: output))
        guard let actool = Self.findInPath("actool") else {
            print("not validating the ACI: actool (Debian package appc-spec) is not installed")
            return
        }
        let validate = try Subprocess.run([actool, "validate", output], timeout: 120)
        #expect(validate.status == 0 && !validate.timedOut, "\(validate.stdout)\(validate.stderr)")
    }
}
