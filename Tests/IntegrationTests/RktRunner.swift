import Foundation
import RktOS
import RktTestSupport
import Testing

/// Runs the built `rkt` binary against a private data dir and config dirs, the way a user would.
struct RktRunner {
    let binary: String
    let root: String
    var dataDir: String { root + "/data" }
    var localConfig: String { root + "/etc" }
    var systemConfig: String { root + "/usr-lib" }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The binary under test: $RKT_BINARY, else the release build, else the debug build.
    static func locateBinary() -> String? {
        if let env = ProcessInfo.processInfo.environment["RKT_BINARY"], FileManager.default.isExecutableFile(atPath: env) { return env }
        // The most recently built of the release and debug binaries.
        let candidates = [".build/release/rkt", ".build/debug/rkt"].map { packageRoot + "/" + $0 }
            .filter { FileManager.default.isExecutableFile(atPath: $0) }
        func modified(_ path: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
        }
        return candidates.max { modified($0) < modified($1) }
    }

    /// The test images built by images/build.sh ($RKT_TEST_IMAGES, else images/out, built on demand).
    static let imagesDir: String? = {
        let dir = ProcessInfo.processInfo.environment["RKT_TEST_IMAGES"] ?? packageRoot + "/images/out"
        if !FileManager.default.fileExists(atPath: dir + "/hello.aci.gz") {
            _ = try? Subprocess.run(["/bin/sh", packageRoot + "/images/build.sh", dir], timeout: 900)
        }
        return FileManager.default.fileExists(atPath: dir + "/busybox.aci") ? dir : nil
    }()

    /// A runner with a fresh temporary root, or nil (with the reason printed) when the binary or
    /// the images are missing.
    static func make(_ test: String = #function) -> RktRunner? {
        guard let binary = locateBinary() else {
            print("skip \(test): no rkt binary (set RKT_BINARY or run scripts/build.sh)")
            return nil
        }
        guard imagesDir != nil else {
            print("skip \(test): test images missing (run images/build.sh; needs busybox-static)")
            return nil
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-it-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return RktRunner(binary: binary, root: root)
    }

    static func image(_ name: String) -> String { (imagesDir ?? "") + "/" + name }

    /// Runs rkt; a run that outlives `timeout` seconds is killed (with its process group) and fails the test.
    @discardableResult
    func run(_ args: [String], globalFlags: Bool = true, environment: [String: String] = [:], input: Data? = nil,
             timeout: Double = 300, sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let globals = globalFlags ? ["--dir=\(dataDir)", "--local-config=\(localConfig)", "--system-config=\(systemConfig)"] : []
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let result = try Subprocess.run([binary] + globals + args, environment: env, input: input, timeout: timeout)
        #expect(!result.timedOut, "rkt \(args.joined(separator: " ")) did not finish within \(Int(timeout)) s", sourceLocation: sourceLocation)
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Runs and expects success; returns stdout.
    @discardableResult
    func ok(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let result = try run(args, sourceLocation: sourceLocation)
        #expect(result.status == 0, "rkt \(args.joined(separator: " ")) failed: \(result.stderr)", sourceLocation: sourceLocation)
        return result
    }

    func fetch(_ image: String, full: Bool = false) throws -> String {
        var args = ["fetch", "--insecure-options=image", RktRunner.image(image)]
        if full { args.append("--full") }
        return try ok(args).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every file under the store's blob, manifest, tree and tmp dirs (what a failed import must not leave).
    func storeFiles() -> [String] {
        var files: [String] = []
        for dir in ["cas/blob", "cas/imageManifest", "cas/tree", "cas/tmp"] {
            let base = dataDir + "/" + dir
            guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
            while let item = walker.nextObject() as? String {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: base + "/" + item, isDirectory: &isDir), !isDir.boolValue { files.append(dir + "/" + item) }
            }
        }
        return files
    }

    /// Puts `aci` in a stage1 images directory of this runner's own and points the local
    /// configuration's paths.d at it, so the stage1 is found by its file name or as the default.
    func installStage1Image(_ aci: String, as fileName: String) throws {
        let images = root + "/stage1-images"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: aci, toPath: images + "/" + fileName)
        try FileManager.default.createDirectory(atPath: localConfig + "/paths.d", withIntermediateDirectories: true)
        try #"{"rktKind":"paths","rktVersion":"v1","stage1-images":"\#(images)"}"#.write(toFile: localConfig + "/paths.d/stage1.json", atomically: true, encoding: .utf8)
    }

    /// Unmounts whatever pods left mounted (as `rkt gc` would) before deleting the test's root.
    func cleanup() {
        Mounts.unmountAll(under: root)
        try? FileManager.default.removeItem(atPath: root)
    }
}

func sha512sum(_ path: String) throws -> String {
    String(try Subprocess.run(["/usr/bin/sha512sum", path], timeout: 120).stdout.prefix(128))
}

var isRoot: Bool { geteuid() == 0 }
