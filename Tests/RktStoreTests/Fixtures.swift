import Foundation
import RktTestSupport

/// Small ACIs for store tests, written with the system tar so they are independent of our writer.
struct ACIFixture {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    var dataDir: String { root.appendingPathComponent("data").path }

    /// Writes an ACI with the given manifest JSON and files (path inside rootfs → contents).
    func aci(_ name: String, manifest: String, files: [String: String] = [:]) throws -> String {
        let layout = root.appendingPathComponent("layout-\(name)-\(UUID().uuidString.prefix(6))")
        let rootfs = layout.appendingPathComponent("rootfs")
        try FileManager.default.createDirectory(at: rootfs, withIntermediateDirectories: true)
        try manifest.write(to: layout.appendingPathComponent("manifest"), atomically: true, encoding: .utf8)
        for (path, contents) in files {
            let file = rootfs.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try contents.write(to: file, atomically: true, encoding: .utf8)
        }
        let output = root.appendingPathComponent("\(name).aci").path
        try run("/bin/tar", ["--sort=name", "--numeric-owner", "--owner=0", "--group=0", "--mtime=@1700000000", "-C", layout.path, "-cf", output, "manifest", "rootfs"])
        try FileManager.default.removeItem(at: layout)
        return output
    }

    /// A valid image manifest for `name`, with extra JSON members spliced in.
    static func manifest(_ name: String, extra: String = "") -> String {
        #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"\#(name)","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}]\#(extra.isEmpty ? "" : "," + extra)}"#
    }

    func cleanup() { try? FileManager.default.removeItem(at: root) }
}

/// Runs a tool with a time limit (a stuck child fails the test instead of hanging the run).
func run(_ tool: String, _ args: [String]) throws {
    let result = try Subprocess.run([tool] + args, timeout: 300)
    if result.status != 0 || result.timedOut {
        throw TestSupportError("\(tool) \(args.joined(separator: " ")) exited \(result.status)\(result.timedOut ? " (killed after 300 s)" : ""): \(result.stderr)")
    }
}

/// Regular files under a directory, relative paths.
func filesUnder(_ path: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: path) else { return [] }
    var files: [String] = []
    while let item = walker.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path + "/" + item, isDirectory: &isDir), !isDir.boolValue { files.append(item) }
    }
    return files
}
