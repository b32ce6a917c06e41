import Foundation
import Glibc
import Stage1Protocol
import Testing

/// Drives the built stage1-fly binary as stage0 would, against pods made by hand. Needs root
/// (mounts, chroot) and Debian's busybox-static; skips with the reason printed otherwise.
@Suite(.enabled(if: FlyHarness.ready, "needs root, /bin/busybox (busybox-static) and a built stage1-fly"))
struct Stage1FlyTests {
    func app(_ exec: [String], user: String = "0", group: String = "0", env: [String: String] = [:],
             workingDirectory: String? = nil, mountPoints: [MountPoint]? = nil, supplementaryGIDs: [Int]? = nil) -> ResolvedApp
    {
        ResolvedApp(
            exec: exec, user: user, group: group, supplementaryGIDs: supplementaryGIDs,
            workingDirectory: workingDirectory,
            environment: [NameValue(name: "PATH", value: "/bin")] + env.sorted(by: { $0.key < $1.key }).map { NameValue(name: $0.key, value: $0.value) },
            mountPoints: mountPoints)
    }

    @Test func describeAnswersVersionsAndFeatures() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(.describe)
        #expect(result.status == 0)
        let response = try JSONDecoder().decode(DescribeResponse.self, from: Data(result.stdout.utf8))
        #expect(response.protocolVersions == ["1"])
        #expect(response.name == "stage1-fly")
        for feature: Stage1Feature in [.run, .enter, .stop, .gc, .volumes] { #expect(response.supports(feature)) }
        for feature: Stage1Feature in [.multipleApps, .networks, .privateUsers, .isolators, .hostname] {
            #expect(!response.supports(feature))
        }
    }

    @Test func echoHelloWritesTheFilesOfTheSpec() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["/bin/echo", "hello"])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "hello\n")
        #expect(pod.files.readStatus(app: "app") == 0)
        #expect(pod.files.readPID() != nil)
        #expect(FileManager.default.fileExists(atPath: pod.files.startedPath(app: "app")))
        #expect(FileManager.default.fileExists(atPath: pod.files.createdPath(app: "app")))
        let env = readAll(pod.files.envPath(app: "app"))
        #expect(env.contains("AC_APP_NAME=app\n"))
        #expect(env.hasPrefix("PATH=/bin\n"))
        #expect(!pod.locked, "the lock is released once the pod exits")
    }

    @Test func exitStatusIsTheApps() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["/bin/sh", "-c", "exit 7"])))
        #expect(result.status == 7)
        #expect(pod.files.readStatus(app: "app") == 7)
    }

    @Test func environmentIsTheApps() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["/bin/sh", "-c", "echo $FOO; echo $AC_APP_NAME; echo $HOME $USER"], env: ["FOO": "foo bar"])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "foo bar\napp\n/root root\n")
    }

    @Test func userGroupAndSupplementaryGroups() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(
            ["/bin/sh", "-c", "id -u; id -g; id -G; echo $HOME $USER"], user: "1000", group: "users", supplementaryGIDs: [1000, 20])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "1000\n100\n100 20 1000\n/home/user user\n" || result.stdout == "1000\n100\n100 1000 20\n/home/user user\n",
                "\(result.stdout)")
        let byName = try pod.call(pod.runRequest(app(["/bin/id", "-u"], user: "user", group: "root")))
        #expect(byName.stdout == "1000\n")
        let unknown = try pod.call(pod.runRequest(app(["/bin/id", "-u"], user: "nosuchuser")))
        #expect(unknown.status == 254)
        #expect(unknown.stderr.contains("nosuchuser"))
    }

    @Test func workingDirectoryAndPathLookup() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["pwd"], workingDirectory: "/etc")))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "/etc\n")
    }

    @Test func appSeesHostDevProcSysAndAPrivateTmp() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let marker = "stage1-fly-\(UUID().uuidString)"
        let result = try pod.call(pod.runRequest(app(
            ["/bin/sh", "-c", "test -c /dev/null && test -r /proc/self/status && test -d /sys/kernel && touch /tmp/\(marker) && ls /proc/self/fd"])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/\(marker)"), "/tmp is the pod's own tmpfs")
        // The lock stays with the plugin: the app has only its stdio (and ls's directory fd).
        let fds = result.stdout.split(separator: "\n").map(String.init)
        #expect(!fds.contains(String(Spawn.lockFD)), "the app inherited the pod lock: \(fds)")
    }

    @Test func volumesHostReadOnlyAndEmptyWritable() throws {
        let hostDir = NSTemporaryDirectory() + "stage1-fly-vol-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hostDir) }
        try "from the host\n".write(toFile: hostDir + "/file", atomically: true, encoding: .utf8)
        let pod = try TestPod(
            volumes: [
                ["name": "hostvol", "kind": "host", "source": hostDir, "readOnly": true],
                ["name": "scratch", "kind": "empty", "mode": "0770", "uid": 1000, "gid": 100],
            ],
            mounts: [["volume": "hostvol", "path": "/mnt/host"]])
        defer { pod.destroy() }
        let script = """
            cat /mnt/host/file
            if touch /mnt/host/new 2>/dev/null; then echo host-writable; else echo host-ro; fi
            echo data > /var/scratch/f && echo scratch-ok
            """
        let result = try pod.call(pod.runRequest(app(
            ["/bin/sh", "-c", script], mountPoints: [MountPoint(name: "scratch", path: "/var/scratch")])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "from the host\nhost-ro\nscratch-ok\n")
        #expect(!FileManager.default.fileExists(atPath: hostDir + "/new"))
        let shared = pod.path + "/sharedVolumes/scratch"
        #expect(readAll(shared + "/f") == "data\n")
        var st = stat()
        #expect(stat(shared, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o770)
        #expect(st.st_uid == 1000 && st.st_gid == 100)
    }

    @Test func mountTargetsDoNotFollowSymlinksOutOfTheRootfs() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let outside = pod.base + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        // /mnt -> an absolute path that, taken on the host, is outside the rootfs.
        try FileManager.default.createSymbolicLink(atPath: pod.rootfs + "/mnt", withDestinationPath: "../../../../../../../.." + outside)
        let result = try pod.call(pod.runRequest(app(
            ["/bin/sh", "-c", "echo x > /mnt/vol/f && echo ok"], mountPoints: [MountPoint(name: "vol", path: "/mnt/vol")])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "ok\n")
        #expect(!FileManager.default.fileExists(atPath: outside + "/vol"), "a mount target was created outside the rootfs")
        #expect(FileManager.default.fileExists(atPath: pod.rootfs + outside + "/vol"))
    }

    @Test func missingExecIsAClearError() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["/nonexistent", "arg"])))
        #expect(result.status == 127)
        #expect(result.stderr == "Error: Unable to open \"/nonexistent\": No such file or directory\n")
        #expect(pod.files.readStatus(app: "app") == 127)
    }

    @Test func stopTerminatesTheApp() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let running = try pod.start(pod.runRequest(app(["/bin/sleep", "100"])))
        #expect(pod.waitFor({ pod.files.readPID() != nil }), "no pid file")
        #expect(pod.locked, "the plugin holds the pod lock while the app runs")
        let stop = try pod.call(.stop(StopPayload()))
        #expect(stop.status == 0)
        #expect(try JSONDecoder().decode(OKResponse.self, from: Data(stop.stdout.utf8)).ok)
        let result = running.wait(timeout: 10)
        #expect(result.status == 143)
        #expect(pod.files.readStatus(app: "app") == 143)
        // Not running any more: error code 4 on stdout, non-zero status.
        let again = try pod.call(.stop(StopPayload(force: true)))
        #expect(again.status != 0)
        let error = try JSONDecoder().decode(Stage1Error.self, from: Data(again.stdout.utf8))
        #expect(error.code == .podNotRunning)
    }

    @Test func enterRunsInTheAppsEnvironment() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let running = try pod.start(pod.runRequest(app(["/bin/sleep", "100"], env: ["FOO": "entered"], workingDirectory: "/etc")))
        defer { kill(running.pid, SIGKILL); _ = running.wait(timeout: 5) }
        guard pod.waitFor({ pod.files.readPID() != nil }), let (pid, _) = pod.files.readPID() else {
            Issue.record("no pid file")
            return
        }
        let result = try pod.call(.enter(EnterPayload(
            appName: "app", command: ["/bin/sh", "-c", "echo $FOO $AC_APP_NAME; pwd; id -u; test -e /bin/busybox && echo chrooted"], pid: pid)))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "entered app\n/etc\n0\nchrooted\n")
        let status = try pod.call(.enter(EnterPayload(appName: "app", command: ["sh", "-c", "exit 5"], pid: pid)))
        #expect(status.status == 5)
        let unknown = try pod.call(.enter(EnterPayload(appName: "other", command: ["/bin/true"], pid: pid)))
        #expect(unknown.status == 254)
        #expect(try JSONDecoder().decode(Stage1Error.self, from: Data(unknown.stderr.utf8)).code == .podNotRunning)
        _ = try pod.call(.stop(StopPayload(force: true)))
        #expect(running.wait(timeout: 10).status == 137)
    }

    @Test func twoAppsAreRefused() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["/bin/true"]), apps: 2))
        // run is exec'd: the error object goes to stderr, status 254 (spec 4.2).
        #expect(result.status == 254)
        let error = try JSONDecoder().decode(Stage1Error.self, from: Data(result.stderr.utf8))
        #expect(error.code == .unsupported)
        #expect(error.msg == "unsupported feature multiple-apps")
        #expect(pod.mounts.isEmpty)
        let net = try pod.call(pod.runRequest(app(["/bin/true"]), net: .default))
        #expect(net.status == 254)
        #expect(try JSONDecoder().decode(Stage1Error.self, from: Data(net.stderr.utf8)).code == .unsupported)
    }

    @Test func badRequestsAreProtocolErrors() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let wrongVersion = try pod.call(Stage1Request(protocolVersion: "2", pod: pod.info, payload: .describe))
        #expect(wrongVersion.status != 0)
        #expect(try JSONDecoder().decode(Stage1Error.self, from: Data(wrongVersion.stdout.utf8)).code == .incompatibleVersion)
    }

    @Test func gcUnmountsEverythingAndIsIdempotent() throws {
        let pod = try TestPod(volumes: [["name": "v", "kind": "empty"]], mounts: [["volume": "v", "path": "/v"]])
        defer { pod.destroy() }
        let result = try pod.call(pod.runRequest(app(["/bin/true"])))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(pod.mounts.count >= 6, "run leaves its mounts for gc: \(pod.mounts)")
        for _ in 0..<2 {
            let gc = try pod.call(.gc(GCPayload()))
            #expect(gc.status == 0, "\(gc.stdout)")
            #expect(try JSONDecoder().decode(OKResponse.self, from: Data(gc.stdout.utf8)).ok)
            #expect(pod.mounts.isEmpty, "\(pod.mounts)")
        }
    }

    @Test func interactiveGivesTheAppStdinOtherwiseDevNull() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let input = pod.base + "/stdin"
        try "typed\n".write(toFile: input, atomically: true, encoding: .utf8)
        for interactive in [true, false] {
            let requestPath = pod.base + "/interactive-\(interactive).json"
            var request = pod.runRequest(app(["/bin/cat"]), interactive: interactive)
            if case .run(var payload) = request.payload {
                payload.lockFD = nil  // started directly, without a lock: stdin must be the file
                request.payload = .run(payload)
            }
            try request.encoded().write(to: URL(fileURLWithPath: requestPath))
            let result = Spawn(
                argv: [FlyHarness.binary!, "--stage1-protocol=1"],
                environment: ["RKT_STAGE1_REQUEST=" + requestPath], stdinPath: input
            ).wait()
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == (interactive ? "typed\n" : ""))
        }
    }

    @Test func withoutAppManifestTheImageManifestIsRead() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let manifest = #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/busybox","app":{"exec":["/bin/sh","-c","echo $GREETING from $(pwd)"],"user":"0","group":"0","workingDirectory":"/bin","environment":[{"name":"GREETING","value":"hi"}]}}"#
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: pod.info.stage1Rootfs + "/opt/stage2/app/manifest"))
        var request = pod.runRequest(app(["/bin/false"]))
        if case .run(var payload) = request.payload {
            payload.apps[0].appManifest = nil
            request.payload = .run(payload)
        }
        let result = try pod.call(request)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "hi from /bin\n")
    }

    @Test func sigtermToThePluginIsForwardedToTheApp() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let running = try pod.start(pod.runRequest(app(["/bin/sleep", "100"])))
        #expect(pod.waitFor({ pod.files.readPID() != nil }), "no pid file")
        kill(running.pid, SIGTERM)
        #expect(running.wait(timeout: 10).status == 143)
        #expect(pod.files.readStatus(app: "app") == 143)
    }

    @Test func theAppDiesWithThePlugin() throws {
        let pod = try TestPod()
        defer { pod.destroy() }
        let running = try pod.start(pod.runRequest(app(["/bin/sleep", "100"])))
        guard pod.waitFor({ pod.files.readPID() != nil }), let (app, _) = pod.files.readPID() else {
            Issue.record("no pid file")
            kill(running.pid, SIGKILL)
            _ = running.wait(timeout: 5)
            return
        }
        #expect(app != running.pid, "fly's pid file names the app, the plugin's child")
        kill(running.pid, SIGKILL)
        _ = running.wait(timeout: 10)
        // PR_SET_PDEATHSIG: without the plugin nobody holds the pod lock, so the app must go too.
        #expect(pod.waitFor({ kill(app, 0) != 0 || readAll("/proc/\(app)/stat").contains(") Z ") }), "the app outlived the plugin")
        #expect(!pod.locked)
    }
}
