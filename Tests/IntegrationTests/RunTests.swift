import Foundation
import RktOS
import RktTestSupport
import Testing

/// Pods run end to end through the built `rkt` with the POSIX-shell stage1 from
/// Documentation/examples (written from the protocol document alone).
@Suite(.serialized) struct RunTests {
    static let shellStage1: String? = {
        guard isRoot, FileManager.default.isExecutableFile(atPath: "/usr/bin/jq") else { return nil }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("stage1-sh-\(getpid()).aci").path
        try? shell("sh '\(RktRunner.packageRoot)/Documentation/examples/stage1-sh/build.sh' '\(out)' >/dev/null")
        return FileManager.default.fileExists(atPath: out) ? out : nil
    }()

    func runner(_ test: String = #function) -> (RktRunner, String)? {
        guard isRoot else { print("skip \(test): running pods needs root"); return nil }
        guard let stage1 = Self.shellStage1 else { print("skip \(test): the shell stage1 needs jq (apt-get install jq)"); return nil }
        guard let rkt = RktRunner.make(test) else { return nil }
        return (rkt, stage1)
    }

    @Test func runEchoAndExitStatus() throws {
        guard let (rkt, stage1) = runner() else { return }
        defer { rkt.cleanup() }
        let image = RktRunner.image("busybox.aci")
        let uuidFile = rkt.root + "/uuid"
        let hello = try rkt.run(["--insecure-options=image", "run", "--uuid-file-save=\(uuidFile)", "--stage1-path=\(stage1)", image, "--exec", "/bin/echo", "--", "hello"])
        #expect(try rkt.ok(["status", "--uuid-file", uuidFile]).lines.contains("app-busybox=0"))
        #expect(hello.status == 0, "\(hello.stderr)")
        #expect(hello.stdout.contains("hello"))
        let failing = try rkt.run(["--insecure-options=image", "run", "--stage1-path=\(stage1)", image, "--exec", "/bin/sh", "--", "-c", "exit 3"])
        #expect(failing.status == 3, "rkt run exits with the app's status")
        let pods = try rkt.ok(["list", "--no-legend", "--full"]).lines
        #expect(pods.count == 2)
        #expect(pods.allSatisfy { $0.contains("exited") })
        let failedUUID = try #require(pods.map { String($0.prefix(36)) }.first { uuid in
            ((try? rkt.ok(["status", uuid]).lines) ?? []).contains("app-busybox=3")
        })
        #expect(try rkt.ok(["status", failedUUID]).lines.contains("exited=true"))
        let manifest = try rkt.ok(["cat-manifest", failedUUID]).stdout
        #expect(manifest.contains("\"exit 3\""))
    }

    /// The stage1's describe answer is cached per tree; image gc drops the entry with the tree.
    @Test func imageGCDropsTheDescribeCacheOfRemovedStage1s() throws {
        guard let (rkt, stage1) = runner() else { return }
        defer { rkt.cleanup() }
        try rkt.ok(["--insecure-options=image", "run", "--stage1-path=\(stage1)", RktRunner.image("busybox.aci"), "--exec", "/bin/true"])
        let cache = rkt.dataDir + "/cache/stage1-describe"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).count == 1, "run caches the describe answer")
        try rkt.ok(["gc", "--grace-period=0s"])
        let stage1ID = try rkt.ok(["image", "list", "--no-legend", "--full", "--fields=id,name"]).lines
            .first { !$0.contains("busybox") }.map { String($0.split(separator: " ", omittingEmptySubsequences: true)[0]) }
        try rkt.ok(["image", "rm", try #require(stage1ID)])
        try rkt.ok(["image", "gc", "--grace-period=0s"])
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).isEmpty, "image gc removes the entry of a removed tree")
    }

    @Test func prepareThenRunPreparedThenGC() throws {
        guard let (rkt, stage1) = runner() else { return }
        defer { rkt.cleanup() }
        let uuidFile = rkt.root + "/uuid"
        let prepared = try rkt.ok(["--insecure-options=image", "prepare", "--quiet", "--stage1-path=\(stage1)",
                                   RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c", "echo prepared-run; exit 0"])
        let uuid = prepared.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(uuid.count == 36)
        try uuid.write(toFile: uuidFile, atomically: true, encoding: .utf8)
        #expect(Mounts.mountPoints(under: rkt.dataDir + "/pods/prepared/" + uuid).count == 2, "prepare mounts stage1 and the app over the tree store")
        #expect(try rkt.ok(["status", "--uuid-file", uuidFile]).lines.first == "state=prepared")
        let ran = try rkt.run(["run-prepared", String(uuid.prefix(8))])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout.contains("prepared-run"))
        #expect(try rkt.run(["run-prepared", uuid]).status == 254, "a pod runs once")
        try rkt.ok(["gc", "--grace-period=0s"])
        #expect(Mounts.mountPoints(under: rkt.dataDir).isEmpty, "gc unmounts the pod")
        #expect(try rkt.ok(["list", "--no-legend"]).lines.isEmpty)
    }

    @Test func noOverlayCopiesTheImages() throws {
        guard let (rkt, stage1) = runner() else { return }
        defer { rkt.cleanup() }
        let result = try rkt.run(["--insecure-options=image", "run", "--no-overlay", "--stage1-path=\(stage1)", RktRunner.image("hello.aci"), "--exec", "/bin/cat", "--", "/etc/hello.txt"])
        // hello depends on busybox, which is not in the store: a clear error, no pod left behind.
        #expect(result.status == 254)
        #expect(result.stderr.contains("dependency"))
        #expect(try rkt.ok(["list", "--no-legend"]).lines.isEmpty)
        _ = try rkt.fetch("busybox.aci")
        let ok = try rkt.run(["--insecure-options=image", "run", "--no-overlay", "--stage1-path=\(stage1)", RktRunner.image("hello.aci"), "--exec", "/bin/cat", "--", "/etc/hello.txt"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("hello from a dependent image"))
        #expect(Mounts.mountPoints(under: rkt.dataDir).isEmpty, "--no-overlay mounts nothing")
    }

    @Test func stage1Errors() throws {
        guard let (rkt, stage1) = runner() else { return }
        defer { rkt.cleanup() }
        let image = RktRunner.image("busybox.aci")
        let both = try rkt.run(["--insecure-options=image", "run", "--stage1-path=\(stage1)", "--stage1-name=example.com/x", image])
        #expect(both.status == 254)
        #expect(both.stderr.contains("mutually exclusive"))
        let missing = try rkt.run(["--insecure-options=image", "run", "--stage1-path=/nonexistent/stage1.aci", image])
        #expect(missing.status == 254)
        #expect(missing.stderr.contains("/nonexistent/stage1.aci"))
        // busybox.aci as a stage1: no entrypoints.
        let notStage1 = try rkt.run(["--insecure-options=image", "run", "--stage1-path=\(image)", image])
        #expect(notStage1.status == 254)
        #expect(notStage1.stderr.contains("coreos.com/rkt/stage1/run"))
        #expect(notStage1.stderr.split(separator: "\n").count == 1)
        #expect(try rkt.ok(["list", "--no-legend"]).lines.isEmpty, "no pod is left in prepare")
        let noImage = try rkt.run(["run", "--stage1-path=\(stage1)", "example.com/not-there"])
        #expect(noImage.status == 254)
        #expect(noImage.stderr.contains("example.com/not-there"))
    }
}

/// The conformance kit (scripts/stage1-conformance.sh) against the stage1s we ship or document.
@Suite(.serialized) struct ConformanceTests {
    @Test func shellStage1PassesTheKit() throws {
        guard isRoot else { print("skip shellStage1PassesTheKit: needs root"); return }
        guard let stage1 = RunTests.shellStage1, let binary = RktRunner.locateBinary() else {
            print("skip shellStage1PassesTheKit: no shell stage1 (needs jq) or no rkt binary"); return
        }
        let (status, text) = try runConformanceKit(stage1: stage1, binary: binary)
        #expect(status == 0, "\(text)")
        #expect(text.contains(" 0 failed"))
        #expect(passed("run: exit status propagates", in: text))
        #expect(passed("stop: TERM ends the pod", in: text))
    }
}

/// stage1-fly through `rkt`, found in the stage1 images directory from paths.d.
@Suite(.serialized) struct FlyTests {
    static let aci: String? = {
        let path = ProcessInfo.processInfo.environment["RKT_STAGE1_FLY_ACI"] ?? RktRunner.packageRoot + "/images/out/stage1-fly.aci"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()

    /// A runner whose configuration points the stage1 images directory at one holding stage1-fly.aci.
    func runner(_ test: String = #function) throws -> RktRunner? {
        guard isRoot else { print("skip \(test): running pods needs root"); return nil }
        guard let aci = Self.aci else { print("skip \(test): no stage1-fly.aci (run images/stage1-fly/build.sh)"); return nil }
        guard let rkt = RktRunner.make(test) else { return nil }
        try rkt.installStage1Image(aci, as: "stage1-fly.aci")
        return rkt
    }

    @Test func flyRunsAPod() throws {
        guard let rkt = try runner() else { return }
        defer { rkt.cleanup() }
        // Global flags after the command name too, as users write them.
        let hello = try rkt.run(["run", "--insecure-options=image", "--debug", "--stage1-from-dir=stage1-fly.aci", RktRunner.image("busybox.aci"), "--exec", "/bin/echo", "--", "hello"])
        #expect(hello.status == 0, "\(hello.stderr)")
        #expect(hello.stdout == "hello\n")
        let stage1 = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).lines.map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(stage1.contains { $0.hasPrefix("rkt.dev/stage1-fly") }, "the stage1 was imported into the store: \(stage1)")
        // Named explicitly from the store on the next run; the host's network is shared (fly).
        let named = try rkt.run(["--insecure-options=image", "run", "--stage1-name=rkt.dev/stage1-fly", RktRunner.image("busybox.aci"),
                                 "--exec", "/bin/sh", "--", "-c", "cat /proc/net/dev | wc -l; exit 4"])
        #expect(named.status == 4)
        let hostLines = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").count
        #expect(named.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(hostLines)")
        let fromDir = try rkt.run(["--insecure-options=image", "run", "--stage1-from-dir=stage1-fly.aci", RktRunner.image("busybox.aci"), "--exec", "/bin/true"])
        #expect(fromDir.status == 0, "\(fromDir.stderr)")
        try rkt.ok(["gc", "--grace-period=0s"])
        #expect(Mounts.mountPoints(under: rkt.dataDir).isEmpty)
    }

    /// stage0 makes what it and stage1 write below the stage1 rootfs (opt/stage2/<app>, rkt/status,
    /// rkt/env) in the overlay's upper directory before mounting it, instead of through the overlay
    /// (copy-ups): those directories must still look as the stage1 image has them.
    @Test func stage1DirectoriesKeepTheImagesModeAndOwner() throws {
        guard let rkt = try runner() else { return }
        defer { rkt.cleanup() }
        let first = try rkt.run(["--insecure-options=image", "run", "--stage1-from-dir=stage1-fly.aci", RktRunner.image("busybox.aci"), "--exec", "/bin/true"])
        #expect(first.status == 0, "\(first.stderr)")
        // Give the rendered stage1 tree's rkt/ and rkt/status/ an unusual mode and owner.
        let trees = try FileManager.default.contentsOfDirectory(atPath: rkt.dataDir + "/cas/tree")
        let stage1Tree = try #require(trees.map { rkt.dataDir + "/cas/tree/" + $0 }.first { FileManager.default.fileExists(atPath: $0 + "/rootfs/fly") })
        for (path, mode) in [("rkt", mode_t(0o751)), ("rkt/status", mode_t(0o711))] {
            #expect(chmod(stage1Tree + "/rootfs/" + path, mode) == 0)
            #expect(chown(stage1Tree + "/rootfs/" + path, 123, 456) == 0)
        }
        let uuidFile = rkt.root + "/uuid"
        let ran = try rkt.run(["--insecure-options=image", "run", "--uuid-file-save=\(uuidFile)", "--stage1-from-dir=stage1-fly.aci", RktRunner.image("busybox.aci"),
                               "--exec", "/bin/sh", "--", "-c", "exit 5"])
        #expect(ran.status == 5, "\(ran.stderr)")
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8)
        #expect(try rkt.ok(["status", uuid]).lines.contains("app-busybox=5"), "stage1 wrote the status through the prepared directory")
        let pod = rkt.dataDir + "/pods/run/" + uuid
        let upper = pod + "/overlay/" + (stage1Tree as NSString).lastPathComponent + "/upper"
        for (path, mode) in [("rkt", mode_t(0o751)), ("rkt/status", mode_t(0o711))] {
            for root in [pod + "/stage1/rootfs/", upper + "/"] {
                var st = stat()
                #expect(lstat(root + path, &st) == 0)
                #expect(st.st_mode & 0o7777 == mode, "\(root + path): \(String(st.st_mode & 0o7777, radix: 8))")
                #expect(st.st_uid == 123 && st.st_gid == 456, "\(root + path): \(st.st_uid):\(st.st_gid)")
            }
        }
        #expect(FileManager.default.fileExists(atPath: upper + "/opt/stage2/busybox/manifest"), "the app's manifest is written before the mount")
        #expect(FileManager.default.fileExists(atPath: upper + "/rkt/status/busybox"))
        // A stage1 image whose opt/ is a symlink: the apps are laid out through the mounted overlay.
        try FileManager.default.removeItem(atPath: stage1Tree + "/rootfs/opt")
        try FileManager.default.createDirectory(atPath: stage1Tree + "/rootfs/elsewhere", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: stage1Tree + "/rootfs/opt", withDestinationPath: "elsewhere")
        let linked = try rkt.run(["--insecure-options=image", "run", "--uuid-file-save=\(uuidFile)-2", "--stage1-from-dir=stage1-fly.aci", RktRunner.image("busybox.aci"),
                                  "--exec", "/bin/echo", "--", "through the link"])
        #expect(linked.status == 0, "\(linked.stderr)")
        #expect(linked.stdout == "through the link\n")
        let linkedPod = rkt.dataDir + "/pods/run/" + (try String(contentsOfFile: uuidFile + "-2", encoding: .utf8))
        let linkedUpper = linkedPod + "/overlay/" + (stage1Tree as NSString).lastPathComponent + "/upper"
        #expect(FileManager.default.fileExists(atPath: linkedUpper + "/elsewhere/stage2/busybox/manifest"), "written through opt -> elsewhere")
        #expect(!FileManager.default.fileExists(atPath: linkedUpper + "/opt"), "nothing was prepared beside the symlink")
        try rkt.ok(["gc", "--grace-period=0s"])
        #expect(Mounts.mountPoints(under: rkt.dataDir).isEmpty)
    }

    /// A data directory on /dev/shm: fly would bind /dev (and so the pod itself, and every earlier
    /// pod's mounts) into the app's rootfs. It refuses clearly instead, and gc leaves no mount.
    @Test func aDataDirectoryBelowDevIsRefused() throws {
        guard let rkt = try runner() else { return }
        defer { rkt.cleanup() }
        let dataDir = "/dev/shm/rkt-it-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { Mounts.unmountAll(under: dataDir); try? FileSystem.removeTree(dataDir) }
        let globals = ["--dir=\(dataDir)", "--local-config=\(rkt.localConfig)", "--system-config=\(rkt.systemConfig)"]
        let ran = try rkt.run(globals + ["--insecure-options=image", "run", "--stage1-from-dir=stage1-fly.aci", RktRunner.image("busybox.aci"), "--exec", "/bin/true"],
                              globalFlags: false)
        #expect(ran.status == 254)
        #expect(ran.stderr.contains("is below /dev"), "\(ran.stderr)")
        #expect(Mounts.mountPoints(under: dataDir).count <= 2, "only stage0's two overlays: \(Mounts.mountPoints(under: dataDir))")
        let gc = try rkt.run(globals + ["gc", "--grace-period=0s"], globalFlags: false)
        #expect(gc.status == 0, "\(gc.stderr)")
        #expect(Mounts.mountPoints(under: dataDir).isEmpty)
    }

    @Test func exportKeepsTheAppsChanges() throws {
        guard let rkt = try runner() else { return }
        defer { rkt.cleanup() }
        let uuidFile = rkt.root + "/uuid"
        let ran = try rkt.run(["--insecure-options=image", "run", "--stage1-from-dir=stage1-fly.aci", "--uuid-file-save=\(uuidFile)", RktRunner.image("busybox.aci"),
                               "--exec", "/bin/sh", "--", "-c", "echo changed > /etc/motd; rm /bin/vi"])
        #expect(ran.status == 0, "\(ran.stderr)")
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8)
        let out = rkt.root + "/exported.aci"
        try rkt.ok(["export", uuid, out])
        #expect(try rkt.run(["export", uuid, out]).status == 254, "no overwrite without --overwrite")
        try rkt.ok(["fetch", "--insecure-options=image", out])
        let extracted = rkt.root + "/x"
        try rkt.ok(["image", "extract", "--rootfs-only", "sha512-" + (try sha512sum(out)).prefix(32), extracted])
        #expect(try String(contentsOfFile: extracted + "/etc/motd", encoding: .utf8) == "changed\n")
        #expect(!FileManager.default.fileExists(atPath: extracted + "/bin/vi"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: extracted + "/proc").isEmpty, "runtime mounts are not exported")
    }

    @Test func podManifestFromAFile() throws {
        guard let rkt = try runner() else { return }
        defer { rkt.cleanup() }
        let image = RktRunner.image("busybox.aci")
        try rkt.ok(["fetch", "--insecure-options=image", image])
        let id = "sha512-" + (try sha512sum(image))
        let manifest = #"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"hello","image":{"name":"example.com/busybox","id":"\#(id)"},"app":{"exec":["/bin/sh","-c","echo from-manifest $GREETING; exit 5"],"user":"0","group":"0","environment":[{"name":"GREETING","value":"hi"}]}}]}"#
        let file = rkt.root + "/pod.json"
        try manifest.write(toFile: file, atomically: true, encoding: .utf8)
        let ran = try rkt.run(["run", "--stage1-from-dir=stage1-fly.aci", "--pod-manifest=\(file)"])
        #expect(ran.status == 5, "\(ran.stderr)")
        #expect(ran.stdout == "from-manifest hi\n")
        let conflict = try rkt.run(["run", "--stage1-from-dir=stage1-fly.aci", "--pod-manifest=\(file)", "--set-env=A=b"])
        #expect(conflict.status == 254)
        #expect(conflict.stderr.contains("--set-env"))
        let withImage = try rkt.run(["run", "--stage1-from-dir=stage1-fly.aci", "--pod-manifest=\(file)", image])
        #expect(withImage.status == 254, "images and --pod-manifest conflict")
        try "{\"acKind\":\"PodManifest\"".write(toFile: file, atomically: true, encoding: .utf8)
        let broken = try rkt.run(["run", "--stage1-from-dir=stage1-fly.aci", "--pod-manifest=\(file)"])
        #expect(broken.status == 254)
        #expect(broken.stderr.split(separator: "\n").count == 1)
        #expect(try rkt.ok(["list", "--no-legend"]).lines.count == 1, "refused runs leave no pod")
    }

    @Test func flyPassesTheConformanceKit() throws {
        guard isRoot, let aci = Self.aci, let binary = RktRunner.locateBinary(), RktRunner.imagesDir != nil else {
            print("skip flyPassesTheConformanceKit: needs root, stage1-fly.aci and the rkt binary"); return
        }
        let (status, text) = try runConformanceKit(stage1: aci, binary: binary)
        #expect(status == 0, "\(text)")
        #expect(passed("volume: read-only is enforced", in: text))
        #expect(passed("user: name from /etc/passwd", in: text))
    }
}

/// Whether the conformance kit's table shows `scenario` as passed.
func passed(_ scenario: String, in table: String) -> Bool {
    table.split(separator: "\n").contains { $0.hasPrefix(scenario) && $0.dropFirst(scenario.count).trimmingCharacters(in: .whitespaces).hasPrefix("pass") }
}

/// Runs scripts/stage1-conformance.sh against a stage1 ACI; returns its exit status and its table.
func runConformanceKit(stage1: String, binary: String) throws -> (Int32, String) {
    // stdout and stderr in one stream, in order, as the kit's table reads.
    let result = try Subprocess.run(
        ["/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", "/bin/sh", RktRunner.packageRoot + "/scripts/stage1-conformance.sh", stage1, RktRunner.image("busybox.aci")],
        environment: ProcessInfo.processInfo.environment.merging(["RKT_BINARY": binary]) { $1 }, timeout: 1800)
    print(result.stdout + result.stderr)
    return (result.status, result.stdout + result.stderr)
}
